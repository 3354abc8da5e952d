/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* certd-baseline: the in-process baselines of bench/certd-bench.sh, the same cryptographic work
 * aos-certd does for a call, without the bus, the worker thread and the database. One latency
 * per line, in microseconds, warm-up excluded. Not part of the build: the bench script compiles
 * it into its scratch directory.
 *
 *   certd-baseline keygen PROVIDER TOKEN PIN ecdsa|rsa N WARMUP
 *       gnutls_pkcs11_privkey_generate3() of a P-384 or RSA 2048 key pair on the token labelled
 *       TOKEN (PROVIDER: the PKCS#11 library, e.g. SoftHSM2). Each pair is destroyed again
 *       after it was timed, so that the token's object count stays as it was.
 *   certd-baseline createkey-work PROVIDER TOKEN PIN ecdsa|rsa N WARMUP PASSWORD ITERATIONS
 *       What CreateKey computes, in one process: PBKDF2-SHA256 of PASSWORD (the owner
 *       verifier check), the key pair on the token, the key opened by its URL, and a CSR
 *       (CN, serverAuth + clientAuth, two DNS SANs) signed with it and exported as PEM.
 *   certd-baseline pbkdf2 ITERATIONS N
 *       gnutls_pbkdf2(SHA-256) with a 16-byte salt, 32-byte output.
 *   certd-baseline verify CA_PEM N WARMUP CHAIN_PEM...
 *       PEM chain parsed (gnutls_x509_crt_list_import2) and verified against CA_PEM
 *       (gnutls_x509_crt_list_verify, time checks off like aos-certd's), the chain files used
 *       in turn.
 */

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs11.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VERIFY_FLAGS (GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS)

static const char *the_pin;

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int fail(const char *what, int gr) {
        fprintf(stderr, "certd-baseline: %s: %s\n", what, gnutls_strerror(gr));
        return 1;
}

static int pin_cb(void *userdata, int attempt, const char *token_url, const char *token_label, unsigned flags,
                  char *pin, size_t pin_max) {
        (void) userdata;
        (void) token_url;
        (void) token_label;
        if (attempt > 0 || (flags & GNUTLS_PIN_SO) || strlen(the_pin) >= pin_max)
                return -1;
        strcpy(pin, the_pin);
        return 0;
}

static int p11_setup(const char *provider, const char *pin) {
        int gr;
        the_pin = pin;
        gr = gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_MANUAL, NULL);
        if (gr < 0)
                return fail("gnutls_pkcs11_init", gr);
        gr = gnutls_pkcs11_add_provider(provider, NULL);
        if (gr < 0)
                return fail(provider, gr);
        gnutls_pkcs11_set_pin_function(pin_cb, NULL);
        return 0;
}

static int parse_alg(const char *s, gnutls_pk_algorithm_t *pk, unsigned *bits) {
        if (strcmp(s, "ecdsa") == 0) {
                *pk = GNUTLS_PK_ECDSA;
                *bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1);
                return 0;
        }
        if (strcmp(s, "rsa") == 0) {
                *pk = GNUTLS_PK_RSA;
                *bits = 2048;
                return 0;
        }
        fprintf(stderr, "certd-baseline: unknown algorithm %s\n", s);
        return -1;
}

/* A key pair with a random CKA_ID and the given label, like aos-certd's. */
static int generate(const char *token, gnutls_pk_algorithm_t pk, unsigned bits, const char *label,
                    unsigned char id[16]) {
        char url[512];
        gnutls_datum_t cid = { id, 16 };
        int gr = gnutls_rnd(GNUTLS_RND_NONCE, id, 16);
        if (gr < 0)
                return fail("gnutls_rnd", gr);
        snprintf(url, sizeof url, "pkcs11:token=%s", token);
        gr = gnutls_pkcs11_privkey_generate3(url, pk, bits, label, &cid, GNUTLS_X509_FMT_DER, NULL, 0,
                                             GNUTLS_PKCS11_OBJ_FLAG_LOGIN | GNUTLS_PKCS11_OBJ_FLAG_MARK_SENSITIVE |
                                                     GNUTLS_PKCS11_OBJ_FLAG_MARK_PRIVATE);
        if (gr < 0)
                return fail("gnutls_pkcs11_privkey_generate3", gr);
        return 0;
}

static int destroy(const char *token, const char *label) {
        char url[512];
        snprintf(url, sizeof url, "pkcs11:token=%s;object=%s", token, label);
        int gr = gnutls_pkcs11_delete_url(url, GNUTLS_PKCS11_OBJ_FLAG_LOGIN);
        if (gr < 0)
                return fail("gnutls_pkcs11_delete_url", gr);
        return 0;
}

static int make_csr(gnutls_privkey_t key, gnutls_pk_algorithm_t pk, gnutls_datum_t *out) {
        gnutls_x509_crq_t crq;
        gnutls_pubkey_t pub;
        int gr;
        const char *cn = "bench-node";

        if ((gr = gnutls_pubkey_init(&pub)) < 0 || (gr = gnutls_pubkey_import_privkey(pub, key, 0, 0)) < 0)
                return fail("pubkey", gr);
        if ((gr = gnutls_x509_crq_init(&crq)) < 0 || (gr = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
            (gr = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn))) < 0 ||
            (gr = gnutls_x509_crq_set_key_purpose_oid(crq, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
            (gr = gnutls_x509_crq_set_key_purpose_oid(crq, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0 ||
            (gr = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, "iam.local", 9, GNUTLS_FSAN_APPEND)) < 0 ||
            (gr = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_APPEND)) < 0 ||
            (gr = gnutls_x509_crq_set_pubkey(crq, pub)) < 0 ||
            (gr = gnutls_x509_crq_privkey_sign(crq, key, pk == GNUTLS_PK_RSA ? GNUTLS_DIG_SHA256 : GNUTLS_DIG_SHA384, 0)) < 0 ||
            (gr = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, out)) < 0)
                return fail("CSR", gr);
        gnutls_x509_crq_deinit(crq);
        gnutls_pubkey_deinit(pub);
        return 0;
}

static int pbkdf2_once(const char *password, unsigned iterations) {
        unsigned char salt[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, out[32];
        gnutls_datum_t k = { (unsigned char *) password, (unsigned) strlen(password) }, s = { salt, sizeof salt };
        int gr = gnutls_pbkdf2(GNUTLS_MAC_SHA256, &k, &s, iterations, out, sizeof out);
        if (gr < 0)
                return fail("gnutls_pbkdf2", gr);
        return 0;
}

static int mode_keygen(int argc, char **argv, int full) {
        if (argc != (full ? 8 : 6))
                return 2;
        const char *provider = argv[0], *token = argv[1], *pin = argv[2];
        int n = atoi(argv[4]), warmup = atoi(argv[5]);
        const char *password = full ? argv[6] : NULL;
        unsigned iterations = full ? (unsigned) atoi(argv[7]) : 0;
        gnutls_pk_algorithm_t pk;
        unsigned bits;

        if (parse_alg(argv[3], &pk, &bits) < 0 || n <= 0 || warmup < 0)
                return 2;
        if (p11_setup(provider, pin))
                return 1;
        for (int i = 0; i < warmup + n; i++) {
                char label[64];
                unsigned char id[16];
                snprintf(label, sizeof label, "bench-baseline-%d", i);

                double t0 = now_us();
                if (full && pbkdf2_once(password, iterations))
                        return 1;
                if (generate(token, pk, bits, label, id))
                        return 1;
                if (full) {
                        char url[512];
                        gnutls_privkey_t key;
                        gnutls_datum_t csr = {};
                        int gr;
                        snprintf(url, sizeof url, "pkcs11:token=%s;object=%s;type=private", token, label);
                        if ((gr = gnutls_privkey_init(&key)) < 0 || (gr = gnutls_privkey_import_url(key, url, 0)) < 0)
                                return fail("gnutls_privkey_import_url", gr);
                        if (make_csr(key, pk, &csr))
                                return 1;
                        gnutls_free(csr.data);
                        gnutls_privkey_deinit(key);
                }
                double t1 = now_us();

                if (destroy(token, label))
                        return 1;
                if (i >= warmup)
                        printf("%.2f\n", t1 - t0);
        }
        gnutls_pkcs11_deinit();
        return 0;
}

static int mode_pbkdf2(int argc, char **argv) {
        if (argc != 2)
                return 2;
        unsigned iterations = (unsigned) atoi(argv[0]);
        int n = atoi(argv[1]);
        if (n <= 0)
                return 2;
        for (int i = 0; i < n + 1; i++) {
                double t0 = now_us();
                if (pbkdf2_once("bench-password", iterations))
                        return 1;
                double t1 = now_us();
                if (i > 0)
                        printf("%.2f\n", t1 - t0);
        }
        return 0;
}

static int load_file(const char *path, gnutls_datum_t *ret) {
        int gr = gnutls_load_file(path, ret);
        if (gr < 0)
                return fail(path, gr);
        return 0;
}

static int mode_verify(int argc, char **argv) {
        if (argc < 4)
                return 2;
        int n = atoi(argv[1]), warmup = atoi(argv[2]), nfiles = argc - 3;
        gnutls_datum_t ca_pem, *pems = calloc((size_t) nfiles, sizeof(gnutls_datum_t));
        gnutls_x509_crt_t ca;
        int gr;

        if (!pems || n <= 0 || warmup < 0)
                return 2;
        if (load_file(argv[0], &ca_pem))
                return 1;
        if ((gr = gnutls_x509_crt_init(&ca)) < 0 || (gr = gnutls_x509_crt_import(ca, &ca_pem, GNUTLS_X509_FMT_PEM)) < 0)
                return fail(argv[0], gr);
        for (int f = 0; f < nfiles; f++)
                if (load_file(argv[3 + f], &pems[f]))
                        return 1;

        for (int i = 0; i < warmup + n; i++) {
                const gnutls_datum_t *pem = &pems[i % nfiles];
                gnutls_x509_crt_t *chain = NULL;
                unsigned n_chain = 0, status = 0;

                double t0 = now_us();
                gr = gnutls_x509_crt_list_import2(&chain, &n_chain, pem, GNUTLS_X509_FMT_PEM, 0);
                if (gr < 0)
                        return fail("gnutls_x509_crt_list_import2", gr);
                gr = gnutls_x509_crt_list_verify(chain, n_chain, &ca, 1, NULL, 0, VERIFY_FLAGS, &status);
                double t1 = now_us();
                if (gr < 0)
                        return fail("gnutls_x509_crt_list_verify", gr);
                if (status != 0) {
                        fprintf(stderr, "certd-baseline: %s does not verify (status 0x%x)\n", argv[3 + i % nfiles],
                                status);
                        return 1;
                }
                for (unsigned k = 0; k < n_chain; k++)
                        gnutls_x509_crt_deinit(chain[k]);
                gnutls_free(chain);
                if (i >= warmup)
                        printf("%.2f\n", t1 - t0);
        }
        return 0;
}

int main(int argc, char **argv) {
        int r = 2;

        if (gnutls_global_init() < 0)
                return 1;
        if (argc >= 2) {
                if (strcmp(argv[1], "keygen") == 0)
                        r = mode_keygen(argc - 2, argv + 2, 0);
                else if (strcmp(argv[1], "createkey-work") == 0)
                        r = mode_keygen(argc - 2, argv + 2, 1);
                else if (strcmp(argv[1], "pbkdf2") == 0)
                        r = mode_pbkdf2(argc - 2, argv + 2);
                else if (strcmp(argv[1], "verify") == 0)
                        r = mode_verify(argc - 2, argv + 2);
        }
        if (r == 2)
                fprintf(stderr, "usage: certd-baseline keygen PROVIDER TOKEN PIN ecdsa|rsa N WARMUP |\n"
                                "       createkey-work PROVIDER TOKEN PIN ecdsa|rsa N WARMUP PASSWORD ITERATIONS |\n"
                                "       pbkdf2 ITERATIONS N | verify CA_PEM N WARMUP CHAIN_PEM...\n");
        return r;
}
