/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* x509_chain_from_pem() on arbitrary bytes: what ApplyCert hands certd and what aosctl reads
 * from files. A chain that parses is also described (x509_cert_info(), as the D-Bus API does)
 * and written back out (x509_chain_to_pem()), which must parse again to the same certificates. */

#include <errno.h>

#include "fuzz.h"
#include "x509.h"

static void check_reason(int r, const char *reason) {
        if (r >= 0) {
                fuzz_assert(!reason);
                return;
        }
        /* x509.h: -EBADMSG, -E2BIG for size; -ENOMEM may come without a reason. */
        fuzz_assert(r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
        fuzz_assert(reason || r == -ENOMEM);
        if (reason)
                fuzz_assert(fuzz_text_is_clean(reason));
}

static void check_cert_info(gnutls_x509_crt_t crt) {
        X509CertInfo info = {};
        int r;

        r = x509_cert_info(crt, &info);
        if (r < 0) {
                /* A certificate gnutls imported but cannot fully describe (an unknown key
                 * algorithm): an error, never a crash, and nothing to free. */
                fuzz_assert(!info.subject && !info.fingerprint);
                return;
        }

        fuzz_assert(info.subject && fuzz_text_is_clean(info.subject));
        fuzz_assert(info.issuer && fuzz_text_is_clean(info.issuer));
        fuzz_assert(!info.common_name || fuzz_text_is_clean(info.common_name));
        fuzz_assert(info.serial && info.fingerprint && info.key_id);
        fuzz_assert(strlen(info.fingerprint) == 64 && strlen(info.key_id) == 64);
        fuzz_assert(info.not_before == 0 || info.not_before % 1000000 == 0);

        x509_cert_info_done(&info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        X509Chain chain = {}, again = {};
        char *reason = NULL, *pem = NULL;
        int r;

        r = x509_chain_from_pem(data, size, &chain, &reason);
        fuzz_log("x509_chain_from_pem: %d (%zu certificates) %s\n", r, chain.n, reason ?: "");
        check_reason(r, reason);
        free(reason);
        reason = NULL;
        if (r < 0) {
                fuzz_assert(chain.n == 0 && !chain.certs);
                return 0;
        }
        fuzz_assert(chain.n >= 1 && chain.n <= X509_CHAIN_MAX);

        /* Without a reason pointer the result must be the same. */
        r = x509_chain_from_pem(data, size, &again, NULL);
        fuzz_assert(r == 0 && again.n == chain.n);
        x509_chain_done(&again);

        for (size_t i = 0; i < chain.n; i++)
                check_cert_info(chain.certs[i]);

        r = x509_chain_to_pem(&chain, &pem);
        if (r != -ENOMEM) {
                fuzz_assert(r == 0 && pem);
                r = x509_chain_from_pem(pem, strlen(pem), &again, &reason);
                check_reason(r, reason);
                fuzz_assert(r == 0 && again.n == chain.n);
                for (size_t i = 0; i < chain.n; i++)
                        fuzz_assert(gnutls_x509_crt_equals(chain.certs[i], again.certs[i]));
        }

        free(reason);
        free(pem);
        x509_chain_done(&again);
        x509_chain_done(&chain);
        return 0;
}
