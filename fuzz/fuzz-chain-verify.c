/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* x509_chain_verify() on whatever chain and CA certificates arbitrary PEM yields: link by link,
 * anchor, dates and EKU, with the reasons shown to users.
 *
 * Input: one control byte, then PEM (parsed with x509_chain_from_pem()):
 *   bits 0-3  how many of the certificates are the chain; the rest are the configured CA
 *             certificates (0, or not fewer than all: the last certificate is the CA; a single
 *             certificate is its own CA)
 *   bits 4-5  required EKU: none, serverAuth, clientAuth, both
 *   bits 6-7  the time of the check: 2019-06-01, 2031-06-01, 2095-06-01, the epoch */

#include <errno.h>

#include "fuzz.h"
#include "x509.h"

static const uint64_t times_usec[4] = {
        UINT64_C(1559347200) * 1000000, /* 2019-06-01 */
        UINT64_C(1938038400) * 1000000, /* 2031-06-01 */
        UINT64_C(3957120000) * 1000000, /* 2095-06-01 */
        0,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char *const eku_server[] = { (char *) "serverAuth", NULL };
        static char *const eku_client[] = { (char *) "clientAuth", NULL };
        static char *const eku_both[] = { (char *) "serverAuth", (char *) "clientAuth", NULL };
        static char *const *const ekus[4] = { NULL, eku_server, eku_client, eku_both };
        X509Chain all = {};
        char *reason = NULL;
        uint8_t ctl;
        size_t k;
        int r;

        if (size < 1)
                return 0;
        ctl = data[0];

        if (x509_chain_from_pem(data + 1, size - 1, &all, NULL) < 0)
                return 0;

        /* Views into all: nothing is copied, only all is freed. */
        k = ctl & 0x0f;
        if (k == 0 || k >= all.n)
                k = all.n > 1 ? all.n - 1 : 1;
        X509Chain chain = { .certs = all.certs, .n = k };
        X509Chain roots = all.n > k ? (X509Chain) { .certs = all.certs + k, .n = all.n - k }
                                    : (X509Chain) { .certs = all.certs, .n = all.n };

        r = x509_chain_verify(&chain, &roots, times_usec[(ctl >> 6) & 3], ekus[(ctl >> 4) & 3], &reason);
        fuzz_log("chain %zu, CA %zu: %d %s\n", chain.n, roots.n, r, reason ?: "");
        /* x509.h: 0, or -EKEYREJECTED, -EKEYEXPIRED, -ENOMEM; a reason for every refusal. */
        fuzz_assert(r == 0 || r == -EKEYREJECTED || r == -EKEYEXPIRED || r == -ENOMEM);
        if (r == 0)
                fuzz_assert(!reason);
        else if (r != -ENOMEM)
                fuzz_assert(reason && fuzz_text_is_clean(reason));
        free(reason);

        x509_chain_done(&all);
        return 0;
}
