/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl's in-process CA: see local-ca.h. */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "keyurl.h"
#include "local-ca.h"
#include "macro.h"

#define OID_EXT_KEY_USAGE "2.5.29.37"
#define OID_SUBJECT_ALT_NAME "2.5.29.17"
#define SERIAL_SIZE 16

static inline void datum_freep(gnutls_datum_t *d) {
        if (d->data)
                gnutls_free(d->data);
        d->data = NULL;
        d->size = 0;
}
#define _cleanup_datum_ _cleanup_(datum_freep)

_printf_(3, 4) static int fail(char **ret_reason, int r, const char *fmt, ...) {
        if (ret_reason) {
                va_list ap;
                char *s;

                va_start(ap, fmt);
                if (vasprintf(&s, fmt, ap) < 0)
                        s = NULL;
                va_end(ap);
                *ret_reason = s;
        }
        return r;
}

static int gnutls_fail(char **ret_reason, int gr, const char *what) {
        if (gr == GNUTLS_E_MEMORY_ERROR)
                return -ENOMEM;
        return fail(ret_reason, -EBADMSG, "%s: %s", what, gnutls_strerror(gr));
}

void local_ca_done(LocalCa *ca) {
        if (!ca)
                return;
        x509_chain_done(&ca->chain);
        if (ca->key)
                gnutls_privkey_deinit(ca->key);
        ca->key = NULL;
}

/* A path becomes a file: URL; a key URL stays as it is. */
static int key_url_from_arg(const char *key, char **ret_url) {
        KeyUrlScheme scheme;

        if (strchr(key, ':') && keyurl_scheme(key, &scheme) >= 0) {
                *ret_url = strdup(key);
                return *ret_url ? 0 : -ENOMEM;
        }

        _cleanup_free_ char *abs = realpath(key, NULL);
        if (!abs)
                return -errno;
        if (asprintf(ret_url, "file:%s", abs) < 0)
                return -ENOMEM;
        return 0;
}

int local_ca_load(const char *cert_path, const char *key, LocalCa *ret, char **ret_reason) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        _cleanup_free_ char *url = NULL, *key_id = NULL, *reason = NULL;
        unsigned critical;
        int r, gr;

        if (ret_reason)
                *ret_reason = NULL;
        if (!cert_path || !key || !ret)
                return -EINVAL;

        r = x509_chain_load_file(cert_path, &ca.chain, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (reason && startswith(reason, "cannot"))
                        return fail(ret_reason, r, "%s", reason);
                return fail(ret_reason, r, "CA certificate file %s: %s", cert_path, reason ?: strerror(-r));
        }

        gr = gnutls_x509_crt_get_basic_constraints(ca.chain.certs[0], &critical, NULL, NULL);
        if (gr <= 0)
                return fail(ret_reason, -EKEYREJECTED,
                            "the first certificate of %s is not a CA certificate (no basicConstraints CA:TRUE)",
                            cert_path);

        r = key_url_from_arg(key, &url);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(ret_reason, r, "CA key %s: %s", key, strerror(-r));

        r = keyurl_open_privkey(url, &ca.key);
        if (r == -ENOMEM)
                return r;
        if (r == -ENOKEY)
                return fail(ret_reason, -ENOENT, "CA key %s: no such key", key);
        if (r == -EBADMSG)
                return fail(ret_reason, r, "CA key %s: not a PEM private key", key);
        if (r < 0)
                return fail(ret_reason, r, "CA key %s: cannot open: %s", key, strerror(-r));

        r = x509_cert_info(ca.chain.certs[0], &info);
        if (r < 0)
                return r;
        r = x509_privkey_key_id(ca.key, &key_id);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(ret_reason, r, "CA key %s: cannot read its public key: %s", key, strerror(-r));
        if (!streq_ptr(key_id, info.key_id))
                return fail(ret_reason, -EKEYREJECTED, "CA key %s does not belong to the certificate \"%s\" in %s",
                            key, strempty(info.subject), cert_path);

        *ret = ca;
        ca = (LocalCa) {};
        return 0;
}

static gnutls_digest_algorithm_t digest_for(gnutls_privkey_t key) {
        unsigned bits = 0;
        int pk = gnutls_privkey_get_pk_algorithm(key, &bits);

        if (pk == GNUTLS_PK_ECDSA)
                return bits > 384 ? GNUTLS_DIG_SHA512 : bits > 256 ? GNUTLS_DIG_SHA384 : GNUTLS_DIG_SHA256;
        return GNUTLS_DIG_SHA256;
}

/* Copies one extension from the request, if it has it. */
static int copy_extension(gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, const char *oid, const char *name,
                          char **ret_reason) {
        int gr = gnutls_x509_crt_set_crq_extension_by_oid(crt, crq, oid, 0);
        if (gr == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                return 0;
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, name);
        return 0;
}

int local_ca_sign(const LocalCa *ca, const char *csr_pem, unsigned days, char **ret_chain_pem,
                  char **ret_reason) {
        _cleanup_(gnutls_x509_crq_deinitp) gnutls_x509_crq_t crq = NULL;
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        _cleanup_datum_ gnutls_datum_t dn = {};
        _cleanup_free_ gnutls_x509_crt_t *certs = NULL;
        unsigned char serial[SERIAL_SIZE], id[64];
        size_t id_size;
        unsigned usage;
        time_t now;
        int gr, r;

        if (ret_reason)
                *ret_reason = NULL;
        if (!ca || !ca->key || ca->chain.n == 0 || !csr_pem || !ret_chain_pem)
                return -EINVAL;
        if (days == 0 || days > LOCAL_CA_DAYS_MAX)
                return fail(ret_reason, -ERANGE, "validity of %u days is out of range (1..%u)", days,
                            LOCAL_CA_DAYS_MAX);
        if (strlen(csr_pem) > X509_PEM_MAX)
                return fail(ret_reason, -E2BIG, "the CSR is larger than %d bytes", X509_PEM_MAX);

        gr = gnutls_x509_crq_init(&crq);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "gnutls_x509_crq_init");
        gr = gnutls_x509_crq_import(crq, &(gnutls_datum_t) { (unsigned char *) csr_pem, (unsigned) strlen(csr_pem) },
                                    GNUTLS_X509_FMT_PEM);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "the CSR is not a PEM certificate request");
        gr = gnutls_x509_crq_verify(crq, 0);
        if (gr < 0)
                return fail(ret_reason, -EBADMSG, "the CSR's signature does not verify: %s", gnutls_strerror(gr));
        gr = gnutls_x509_crq_get_dn3(crq, &dn, 0);
        if (gr < 0 || dn.size == 0)
                return fail(ret_reason, -EBADMSG, "the CSR has no subject");

        gr = gnutls_x509_crt_init(&crt);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "gnutls_x509_crt_init");
        gr = gnutls_x509_crt_set_version(crt, 3);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "setting the version");
        /* Subject and public key (the request's signature is checked again here). */
        gr = gnutls_x509_crt_set_crq(crt, crq);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "taking subject and key from the CSR");
        r = copy_extension(crt, crq, OID_EXT_KEY_USAGE, "copying the extended key usage", ret_reason);
        if (r < 0)
                return r;
        r = copy_extension(crt, crq, OID_SUBJECT_ALT_NAME, "copying the subject alternative names", ret_reason);
        if (r < 0)
                return r;

        gr = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "random serial");
        serial[0] &= 0x7f; /* positive */
        if (serial[0] == 0)
                serial[0] = 0x01; /* and all 16 bytes significant */
        gr = gnutls_x509_crt_set_serial(crt, serial, sizeof serial);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "setting the serial");

        now = time(NULL);
        gr = gnutls_x509_crt_set_activation_time(crt, now - 60);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "setting NotBefore");
        gr = gnutls_x509_crt_set_expiration_time(crt, now + (time_t) days * 24 * 3600);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "setting NotAfter");

        gr = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "setting basicConstraints");
        usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
        if (gnutls_x509_crt_get_pk_algorithm(crt, NULL) == GNUTLS_PK_RSA)
                usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;
        gr = gnutls_x509_crt_set_key_usage(crt, usage);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "setting the key usage");

        id_size = sizeof id;
        gr = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, id, &id_size);
        if (gr >= 0)
                gr = gnutls_x509_crt_set_subject_key_id(crt, id, id_size);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "setting the subject key identifier");
        id_size = sizeof id;
        gr = gnutls_x509_crt_get_subject_key_id(ca->chain.certs[0], id, &id_size, NULL);
        if (gr < 0) {
                id_size = sizeof id;
                gr = gnutls_x509_crt_get_key_id(ca->chain.certs[0], GNUTLS_KEYID_USE_SHA1, id, &id_size);
        }
        if (gr >= 0)
                gr = gnutls_x509_crt_set_authority_key_id(crt, id, id_size);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "setting the authority key identifier");

        gr = gnutls_x509_crt_privkey_sign(crt, ca->chain.certs[0], ca->key, digest_for(ca->key), 0);
        if (gr < 0)
                return gnutls_fail(ret_reason, gr, "signing the certificate");

        /* The chain: the new certificate, then the CA file's certificates (not owned here). */
        certs = calloc(ca->chain.n + 1, sizeof(gnutls_x509_crt_t));
        if (!certs)
                return -ENOMEM;
        certs[0] = crt;
        memcpy(certs + 1, ca->chain.certs, ca->chain.n * sizeof(gnutls_x509_crt_t));
        r = x509_chain_to_pem(&(X509Chain) { .certs = certs, .n = ca->chain.n + 1 }, ret_chain_pem);
        if (r < 0)
                return fail(ret_reason, r, "exporting the chain: %s", strerror(-r));
        return 0;
}
