/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* x509_make_csr() and x509_make_self_signed() with arbitrary subject (CN) and DNS SAN strings,
 * as CreateKey's subject and a module's AlternativeNames= reach them, on a software P-256 key
 * made once at start. A request that is made must verify and carry the names it was given; a
 * certificate that is made must describe itself (x509_cert_info()) with its CN intact when that
 * CN was clean text.
 *
 * Input: one control byte, then NUL-separated fields: CN, then up to 8 DNS names.
 *   bits 0-1  EKU: none, serverAuth, clientAuth, both
 *   bit  2    the first DNS field is passed as an extra EKU name instead (must be refused
 *             unless it is serverAuth or clientAuth)
 *   bit  3    also make a self-signed certificate */

#include <errno.h>
#include <gnutls/abstract.h>

#include "fuzz.h"
#include "x509.h"

#define DNS_MAX 8

static gnutls_privkey_t key;

static void free_key(void) {
        gnutls_privkey_deinit(key);
        key = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;

        fuzz_assert(gnutls_privkey_init(&key) >= 0);
        fuzz_assert(gnutls_privkey_generate2(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                             0, NULL, 0) >= 0);
        atexit(free_key);
        return 0;
}

static bool is_printable_ascii(const char *s) {
        for (; *s; s++)
                if (*s < 0x21 || *s > 0x7e)
                        return false;
        return true;
}

/* The contents of one DER string TLV (tag, definite length), or false. */
static bool der_string_value(const char *der, size_t size, const void **ret, size_t *ret_size) {
        const unsigned char *p = (const unsigned char *) der;
        size_t len, off = 2;

        if (size < 2)
                return false;
        len = p[1];
        if (len & 0x80) {
                size_t n = len & 0x7f;
                if (n == 0 || n > 2 || size < 2 + n)
                        return false;
                len = 0;
                for (size_t i = 0; i < n; i++)
                        len = len << 8 | p[2 + i];
                off = 2 + n;
        }
        if (off + len != size)
                return false;
        *ret = p + off;
        *ret_size = len;
        return true;
}

static void check_csr(const char *pem, const char *cn, char *const *dns, size_t n_dns) {
        gnutls_x509_crq_t crq = NULL;
        gnutls_datum_t d = { .data = (unsigned char *) pem, .size = (unsigned) strlen(pem) };
        char buf[1024];
        size_t bs;

        fuzz_assert(gnutls_x509_crq_init(&crq) >= 0);
        fuzz_assert(gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM) >= 0);
        fuzz_assert(gnutls_x509_crq_verify(crq, 0) >= 0);

        /* The CN as encoded (raw: a DER string, not gnutls' RFC 4514-escaped text) holds the
         * very bytes asked for. */
        bs = sizeof buf;
        if (gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 1, buf, &bs) >= 0) {
                const void *value;
                size_t value_size;

                fuzz_assert(der_string_value(buf, bs, &value, &value_size));
                fuzz_assert(value_size == strlen(cn) && memcmp(value, cn, value_size) == 0);
        } else
                fuzz_assert(strlen(cn) >= sizeof buf);

        /* gnutls maps non-ASCII DNS names to IDNA; ASCII ones must come back as given. */
        for (size_t i = 0; i < n_dns; i++) {
                unsigned type = 0;

                bs = sizeof buf;
                int gr = gnutls_x509_crq_get_subject_alt_name(crq, (unsigned) i, buf, &bs, &type, NULL);
                fuzz_assert(gr >= 0 || gr == GNUTLS_E_SHORT_MEMORY_BUFFER);
                fuzz_assert(gr < 0 || type == GNUTLS_SAN_DNSNAME);
                if (gr >= 0 && is_printable_ascii(dns[i]))
                        fuzz_assert(bs == strlen(dns[i]) && memcmp(buf, dns[i], bs) == 0);
        }
        bs = sizeof buf;
        fuzz_assert(gnutls_x509_crq_get_subject_alt_name(crq, (unsigned) n_dns, buf, &bs, NULL, NULL) ==
                    GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);

        gnutls_x509_crq_deinit(crq);
}

/* An attribute value escaped as RFC 4514 section 2.4 asks. */
static char *rfc4514_escape(const char *s) {
        size_t l = strlen(s);
        char *out = malloc(2 * l + 1), *o = out;

        fuzz_assert(out);
        for (size_t i = 0; i < l; i++) {
                if (strchr(",+\"\\<>;", s[i]) || (i == 0 && (s[i] == '#' || s[i] == ' ')) ||
                    (i == l - 1 && s[i] == ' '))
                        *o++ = '\\';
                *o++ = s[i];
        }
        *o = 0;
        return out;
}

static void check_self_signed(const char *cn, char *const *eku, char *const *dns) {
        gnutls_x509_crt_t crt = NULL;
        X509CertInfo info = {};
        int r;

        r = x509_make_self_signed(key, cn, eku, dns, 3600 * UINT64_C(1000000), &crt);
        fuzz_log("x509_make_self_signed: %d\n", r);
        if (r < 0)
                return;

        r = x509_cert_info(crt, &info);
        fuzz_log("x509_cert_info: %d subject '%s' CN '%s'\n", r, info.subject ?: "", info.common_name ?: "");
        fuzz_assert(r == 0);
        fuzz_assert(fuzz_text_is_clean(info.subject) && fuzz_text_is_clean(info.issuer));
        fuzz_assert(!info.common_name || fuzz_text_is_clean(info.common_name));
        /* gnutls hands out the CN RFC 4514-escaped ("a,b" as "a\\,b"); either form is the CN asked
         * for, anything else is not. */
        if (fuzz_text_is_clean(cn)) {
                char *escaped = rfc4514_escape(cn);
                fuzz_assert(info.common_name);
                fuzz_assert(strcmp(info.common_name, cn) == 0 || strcmp(info.common_name, escaped) == 0);
                free(escaped);
        }

        x509_cert_info_done(&info);
        gnutls_x509_crt_deinit(crt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf, *fields[1 + DNS_MAX + 1] = {}, *eku[4] = {}, *dns[DNS_MAX + 1] = {}, *pem = NULL;
        size_t n, n_eku = 0, n_dns = 0, first = 1;
        uint8_t ctl;
        bool bad_eku = false;
        int r;

        if (size < 1)
                return 0;
        ctl = data[0];
        n = fuzz_split(data + 1, size - 1, &buf, fields, 1 + DNS_MAX + 1);

        if (ctl & 1)
                eku[n_eku++] = (char *) "serverAuth";
        if (ctl & 2)
                eku[n_eku++] = (char *) "clientAuth";
        if ((ctl & 4) && n > 1) {
                eku[n_eku++] = fields[1];
                bad_eku = !x509_eku_oid(fields[1]);
                first = 2;
        }
        for (size_t i = first; i < n && n_dns < DNS_MAX; i++)
                dns[n_dns++] = fields[i];

        r = x509_make_csr(key, fields[0], eku, dns, &pem);
        fuzz_log("x509_make_csr: %d\n%s", r, pem ?: "");
        if (bad_eku || !*fields[0])
                fuzz_assert(r == -EINVAL);
        for (size_t i = 0; i < n_dns; i++)
                if (!*dns[i])
                        fuzz_assert(r == -EINVAL);
        if (r == 0) {
                fuzz_assert(pem);
                check_csr(pem, fields[0], dns, n_dns);
        } else
                fuzz_assert(!pem);

        if (ctl & 8)
                check_self_signed(fields[0], eku, dns);

        free(pem);
        free(buf);
        return 0;
}
