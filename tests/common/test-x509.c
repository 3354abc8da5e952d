/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/x509.c against the test PKI of tests/pki/make-pki.sh, plus a few certificates made
 * here for shapes the PKI does not have (a non-CA issuer, an expired root, no CN). */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/pkcs11.h>

#include "macro.h"
#include "test-util.h"
#include "x509.h"

#define DAY_USEC (24 * 3600 * USEC_PER_SEC)

static char *const EKU_BOTH[] = { (char *) "serverAuth", (char *) "clientAuth", NULL };
static char *const EKU_SERVER[] = { (char *) "serverAuth", NULL };
static char *const EKU_CLIENT[] = { (char *) "clientAuth", NULL };

static uint64_t now_usec(void) {
        struct timespec ts;
        ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void assert_reason(const char *reason, const char *needle) {
        ck_assert_msg(reason, "no reason given, expected one containing \"%s\"", needle);
        ck_assert_msg(strstr(reason, needle), "reason \"%s\" does not contain \"%s\"", reason, needle);
}

static char *read_pki(const char *name, size_t *ret_size) {
        _cleanup_free_ char *path = test_pki_path(name);
        return test_read_file(path, ret_size);
}

static void load_chain(const char *name, X509Chain *ret) {
        _cleanup_free_ char *path = test_pki_path(name), *reason = NULL;
        int r = x509_chain_load_file(path, ret, &reason);
        ck_assert_msg(r == 0, "loading %s: %s (%s)", name, strerror(-r), strna(reason));
}

/* Parses the concatenation of PKI files, e.g. ("leaf-both-chain.pem", "ca.pem", NULL). */
_sentinel_ static void load_concat(X509Chain *ret, ...) {
        _cleanup_free_ char *all = NULL, *reason = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&all, &size);
        va_list ap;

        ck_assert_ptr_nonnull(f);
        va_start(ap, ret);
        for (const char *n; (n = va_arg(ap, const char *));) {
                _cleanup_free_ char *data = read_pki(n, NULL);
                fputs(data, f);
        }
        va_end(ap);
        ck_assert_int_eq(fclose(f), 0);

        int r = x509_chain_from_pem(all, size, ret, &reason);
        ck_assert_msg(r == 0, "%s (%s)", strerror(-r), strna(reason));
}

static gnutls_privkey_t load_key(const char *name) {
        size_t size;
        _cleanup_free_ char *data = read_pki(name, &size);
        gnutls_datum_t d = { .data = (unsigned char *) data, .size = (unsigned) size };
        gnutls_privkey_t k;

        ck_assert_int_eq(gnutls_privkey_init(&k), 0);
        ck_assert_int_eq(gnutls_privkey_import_x509_raw(k, &d, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
        return k;
}

static gnutls_privkey_t generate_key(gnutls_pk_algorithm_t pk) {
        unsigned bits = pk == GNUTLS_PK_ECDSA ? GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1) : 2048;
        gnutls_privkey_t k;

        ck_assert_int_eq(gnutls_privkey_init(&k), 0);
        ck_assert_int_eq(gnutls_privkey_generate2(k, pk, bits, 0, NULL, 0), 0);
        return k;
}

/* A certificate the PKI does not have. issuer NULL: self-signed. */
static gnutls_x509_crt_t make_cert(const char *dn, gnutls_privkey_t key, gnutls_x509_crt_t issuer,
                                   gnutls_privkey_t issuer_key, bool ca, time_t not_before, time_t not_after) {
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        gnutls_x509_crt_t crt;
        unsigned char serial[8];

        ck_assert_int_eq(gnutls_x509_crt_init(&crt), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_dn(crt, dn, NULL), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_version(crt, 3), 0);
        ck_assert_int_eq(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial), 0);
        serial[0] = 0x42;
        ck_assert_int_eq(gnutls_x509_crt_set_serial(crt, serial, sizeof serial), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_activation_time(crt, not_before), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_expiration_time(crt, not_after), 0);
        ck_assert_int_eq(gnutls_pubkey_init(&pub), 0);
        ck_assert_int_eq(gnutls_pubkey_import_privkey(pub, key, 0, 0), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_pubkey(crt, pub), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_basic_constraints(crt, ca, -1), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_key_usage(crt, ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
                                                                : GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
        ck_assert_int_eq(gnutls_x509_crt_privkey_sign(crt, issuer ?: crt, issuer_key ?: key, GNUTLS_DIG_SHA384, 0), 0);

        /* as if read from a file: gnutls fills its raw DN caches on import only */
        gnutls_datum_t der = {};
        gnutls_x509_crt_t imported;
        ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
        ck_assert_int_eq(gnutls_x509_crt_init(&imported), 0);
        ck_assert_int_eq(gnutls_x509_crt_import(imported, &der, GNUTLS_X509_FMT_DER), 0);
        gnutls_free(der.data);
        gnutls_x509_crt_deinit(crt);
        return imported;
}

static char *sha256_hex(const void *p, size_t l) {
        unsigned char d[32];
        ck_assert_int_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, p, l, d), 0);
        return hexmem(d, sizeof d);
}

static bool is_lower_hex(const char *s) {
        if (isempty(s))
                return false;
        for (; *s; s++)
                if (!strchr("0123456789abcdef", *s))
                        return false;
        return true;
}

/* ---- parsing ---------------------------------------------------------------------------- */

START_TEST(test_parse_one) {
        _cleanup_(x509_chain_done) X509Chain c = {};
        _cleanup_free_ char *pem = NULL, *reason = NULL;
        size_t size;

        pem = read_pki("leaf-both.pem", &size);
        ck_assert_int_eq(x509_chain_from_pem(pem, size, &c, &reason), 0);
        ck_assert_ptr_null(reason);
        ck_assert_uint_eq(c.n, 1);
}
END_TEST

START_TEST(test_parse_two) {
        _cleanup_(x509_chain_done) X509Chain c = {};
        _cleanup_(x509_cert_info_done) X509CertInfo leaf = {}, inter = {};

        load_chain("leaf-both-chain.pem", &c);
        ck_assert_uint_eq(c.n, 2);
        ck_assert_int_eq(x509_cert_info(c.certs[0], &leaf), 0);
        ck_assert_int_eq(x509_cert_info(c.certs[1], &inter), 0);
        ck_assert_str_eq(leaf.subject, "CN=node1");
        ck_assert_str_eq(inter.subject, "CN=Aos Test Intermediate");
}
END_TEST

START_TEST(test_parse_text_between_blocks) {
        _cleanup_(x509_chain_done) X509Chain c = {};
        _cleanup_free_ char *leaf = read_pki("leaf-both.pem", NULL), *inter = read_pki("intermediate.pem", NULL);
        _cleanup_free_ char *all = NULL, *reason = NULL;

        ck_assert_int_ge(asprintf(&all, "subject=CN=node1\r\n%s\nBag Attributes\n%sthe end", leaf, inter), 0);
        ck_assert_int_eq(x509_chain_from_pem(all, strlen(all), &c, &reason), 0);
        ck_assert_uint_eq(c.n, 2);
}
END_TEST

START_TEST(test_parse_empty) {
        _cleanup_free_ char *reason = NULL;
        X509Chain c = { .n = 42 };

        ck_assert_int_eq(x509_chain_from_pem("", 0, &c, &reason), -EBADMSG);
        assert_reason(reason, "empty");
        ck_assert_uint_eq(c.n, 42); /* untouched on failure */
        ck_assert_int_eq(x509_chain_from_pem(NULL, 0, &c, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_parse_no_cert) {
        _cleanup_free_ char *reason = NULL;
        X509Chain c = {};
        const char *s = "hello, this is not PEM\n";

        ck_assert_int_eq(x509_chain_from_pem(s, strlen(s), &c, &reason), -EBADMSG);
        ck_assert_str_eq(reason, "no certificate in the PEM input");
}
END_TEST

START_TEST(test_parse_garbage_block) {
        _cleanup_free_ char *garbage = NULL, *leaf = NULL, *both = NULL, *reason = NULL;
        X509Chain c = {};
        size_t size;

        garbage = read_pki("garbage.pem", &size);
        ck_assert_int_eq(x509_chain_from_pem(garbage, size, &c, &reason), -EBADMSG);
        assert_reason(reason, "PEM block 1 is not a valid certificate: ");
        free(reason);
        reason = NULL;

        leaf = read_pki("leaf-both.pem", NULL);
        ck_assert_int_ge(asprintf(&both, "%s%s", leaf, garbage), 0);
        ck_assert_int_eq(x509_chain_from_pem(both, strlen(both), &c, &reason), -EBADMSG);
        assert_reason(reason, "PEM block 2 is not a valid certificate: ");
}
END_TEST

START_TEST(test_parse_bad_base64) {
        _cleanup_free_ char *reason = NULL;
        X509Chain c = {};
        const char *s = "-----BEGIN CERTIFICATE-----\n!!!! not base64 ****\n-----END CERTIFICATE-----\n";

        ck_assert_int_eq(x509_chain_from_pem(s, strlen(s), &c, &reason), -EBADMSG);
        assert_reason(reason, "PEM block 1 ");
}
END_TEST

START_TEST(test_parse_private_key_block) {
        _cleanup_free_ char *leaf = read_pki("leaf-both.pem", NULL), *key = read_pki("leaf-both.key", NULL);
        _cleanup_free_ char *both = NULL, *reason = NULL;
        X509Chain c = {};

        ck_assert_int_ge(asprintf(&both, "%s%s", leaf, key), 0);
        ck_assert_int_eq(x509_chain_from_pem(both, strlen(both), &c, &reason), -EBADMSG);
        assert_reason(reason, "PEM block 2 is a '");
        assert_reason(reason, "PRIVATE KEY', not a certificate");
}
END_TEST

START_TEST(test_parse_malformed_blocks) {
        _cleanup_free_ char *leaf = read_pki("leaf-both.pem", NULL), *truncated = NULL, *reason = NULL;
        X509Chain c = {};
        const char *no_dashes = "-----BEGIN CERTIFICATE\nAAAA\n-----END CERTIFICATE-----\n";

        /* The END line of block 1 is missing; block 2 begins. */
        truncated = strndup(leaf, strstr(leaf, "-----END") - leaf);
        ck_assert_ptr_nonnull(truncated);
        _cleanup_free_ char *two = NULL;
        ck_assert_int_ge(asprintf(&two, "%s%s", truncated, leaf), 0);
        ck_assert_int_eq(x509_chain_from_pem(two, strlen(two), &c, &reason), -EBADMSG);
        assert_reason(reason, "PEM block 1 (CERTIFICATE) has no END line");
        free(reason);
        reason = NULL;

        ck_assert_int_eq(x509_chain_from_pem(truncated, strlen(truncated), &c, &reason), -EBADMSG);
        assert_reason(reason, "has no END line");
        free(reason);
        reason = NULL;

        ck_assert_int_eq(x509_chain_from_pem(no_dashes, strlen(no_dashes), &c, &reason), -EBADMSG);
        assert_reason(reason, "PEM block 1 has a malformed BEGIN line");
}
END_TEST

START_TEST(test_parse_too_big) {
        _cleanup_free_ char *big = NULL, *reason = NULL, *dir = NULL, *path = NULL;
        X509Chain c = {};
        FILE *f;

        big = malloc(X509_PEM_MAX + 1);
        ck_assert_ptr_nonnull(big);
        memset(big, '\n', X509_PEM_MAX + 1);
        ck_assert_int_eq(x509_chain_from_pem(big, X509_PEM_MAX + 1, &c, &reason), -E2BIG);
        assert_reason(reason, "more than the limit");
        free(reason);
        reason = NULL;

        /* Exactly at the limit it is parsed (and has no certificate). */
        ck_assert_int_eq(x509_chain_from_pem(big, X509_PEM_MAX, &c, &reason), -EBADMSG);
        free(reason);
        reason = NULL;

        dir = test_tmpdir();
        ck_assert_int_ge(asprintf(&path, "%s/big.pem", dir), 0);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(big, 1, X509_PEM_MAX + 1, f), X509_PEM_MAX + 1);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(x509_chain_load_file(path, &c, &reason), -E2BIG);
        assert_reason(reason, path);
        test_rm_rf(dir);
}
END_TEST

START_TEST(test_parse_too_many) {
        _cleanup_(x509_chain_done) X509Chain c = {};
        _cleanup_free_ char *leaf = read_pki("leaf-both.pem", NULL), *reason = NULL;
        _cleanup_free_ char *all = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&all, &size);

        ck_assert_ptr_nonnull(f);
        for (int i = 0; i < X509_CHAIN_MAX; i++)
                fputs(leaf, f);
        fflush(f);
        ck_assert_int_eq(x509_chain_from_pem(all, size, &c, &reason), 0);
        ck_assert_uint_eq(c.n, X509_CHAIN_MAX);
        x509_chain_done(&c);

        fputs(leaf, f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(x509_chain_from_pem(all, size, &c, &reason), -EBADMSG);
        assert_reason(reason, "PEM block 17 is certificate 17, more than the limit of 16");
        ck_assert_uint_eq(c.n, 0);
}
END_TEST

START_TEST(test_load_file_missing) {
        _cleanup_free_ char *path = test_pki_path("does-not-exist.pem"), *reason = NULL;
        X509Chain c = {};

        ck_assert_int_eq(x509_chain_load_file(path, &c, &reason), -ENOENT);
        assert_reason(reason, path);
}
END_TEST

START_TEST(test_load_file_bad) {
        _cleanup_free_ char *path = test_pki_path("garbage.pem"), *reason = NULL;
        X509Chain c = {};

        ck_assert_int_eq(x509_chain_load_file(path, &c, &reason), -EBADMSG);
        assert_reason(reason, path);
        assert_reason(reason, "PEM block 1 is not a valid certificate");
        ck_assert_int_eq(x509_chain_load_file(path, &c, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_to_pem_round_trip) {
        _cleanup_(x509_chain_done) X509Chain c = {}, again = {};
        _cleanup_free_ char *pem = NULL, *reason = NULL;

        load_chain("leaf-both-chain.pem", &c);
        ck_assert_int_eq(x509_chain_to_pem(&c, &pem), 0);
        ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN CERTIFICATE-----"));
        ck_assert_int_eq(x509_chain_from_pem(pem, strlen(pem), &again, &reason), 0);
        ck_assert_uint_eq(again.n, 2);
        ck_assert(gnutls_x509_crt_equals(c.certs[0], again.certs[0]));
        ck_assert(gnutls_x509_crt_equals(c.certs[1], again.certs[1]));

        X509Chain empty = {};
        char *none = NULL;
        ck_assert_int_eq(x509_chain_to_pem(&empty, &none), -EINVAL);
        ck_assert_ptr_null(none);

        /* done is idempotent and takes an empty chain */
        x509_chain_done(&empty);
        x509_chain_done(&c);
        x509_chain_done(&c);
        x509_chain_done(NULL);
}
END_TEST

/* ---- verification ----------------------------------------------------------------------- */

/* Verifies a PKI chain file against a PKI root file; returns the result, fills reason. */
static int verify_files(const char *chain_name, const char *root_name, uint64_t now, char *const *eku,
                        char **reason) {
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};

        load_chain(chain_name, &chain);
        load_chain(root_name, &roots);
        return x509_chain_verify(&chain, &roots, now, eku, reason);
}

START_TEST(test_verify_ok_intermediate) {
        _cleanup_free_ char *reason = NULL;
        int r;

        r = verify_files("leaf-both-chain.pem", "ca.pem", now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));
        ck_assert_ptr_null(reason);
        ck_assert_int_eq(verify_files("leaf-rsa-chain.pem", "ca.pem", now_usec(), EKU_BOTH, NULL), 0);
        ck_assert_int_eq(verify_files("leaf-client-chain.pem", "ca.pem", now_usec(), EKU_CLIENT, NULL), 0);
        ck_assert_int_eq(verify_files("intermediate.pem", "ca.pem", now_usec(), NULL, NULL), 0);
}
END_TEST

START_TEST(test_verify_ok_direct) {
        _cleanup_free_ char *reason = NULL;
        int r;

        r = verify_files("leaf-direct.pem", "ca.pem", now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));
        r = verify_files("leaf-direct-chain.pem", "ca.pem", now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));
        /* the root alone is trusted as itself */
        r = verify_files("ca.pem", "ca.pem", now_usec(), NULL, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));
}
END_TEST

START_TEST(test_verify_ok_with_root_in_chain) {
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};
        _cleanup_free_ char *reason = NULL;
        int r;

        load_concat(&chain, "leaf-both-chain.pem", "ca.pem", NULL);
        ck_assert_uint_eq(chain.n, 3);
        load_chain("ca.pem", &roots);
        r = x509_chain_verify(&chain, &roots, now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));
}
END_TEST

START_TEST(test_verify_several_roots) {
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};
        _cleanup_free_ char *reason = NULL;
        int r;

        load_concat(&roots, "other-ca.pem", "ca.pem", NULL);
        load_chain("leaf-both-chain.pem", &chain);
        r = x509_chain_verify(&chain, &roots, now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));
        x509_chain_done(&chain);
        load_chain("leaf-other-chain.pem", &chain);
        r = x509_chain_verify(&chain, &roots, now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));
}
END_TEST

START_TEST(test_verify_broken_signature) {
        _cleanup_free_ char *reason = NULL;

        ck_assert_int_eq(verify_files("broken-sig-chain.pem", "ca.pem", now_usec(), EKU_BOTH, &reason),
                         -EKEYREJECTED);
        assert_reason(reason, "certificate 1 of 2 is not signed by its issuer (certificate 2)");
        assert_reason(reason, "signature");
}
END_TEST

START_TEST(test_verify_wrong_order) {
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};
        _cleanup_free_ char *reason = NULL;

        load_concat(&chain, "intermediate.pem", "leaf-both.pem", NULL);
        load_chain("ca.pem", &roots);
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "certificate 1 of 2 is not signed by its issuer (certificate 2)");
        assert_reason(reason, "names 'CN=Aos Test Root' as issuer, but certificate 2 is 'CN=node1'");
}
END_TEST

START_TEST(test_verify_leaf_without_intermediate) {
        _cleanup_free_ char *reason = NULL;

        ck_assert_int_eq(verify_files("leaf-both.pem", "ca.pem", now_usec(), EKU_BOTH, &reason), -EKEYREJECTED);
        assert_reason(reason, "the chain does not end at the configured CA: the last certificate 'CN=node1' "
                              "is neither the CA nor signed by it");
}
END_TEST

START_TEST(test_verify_other_root) {
        _cleanup_free_ char *reason = NULL;

        ck_assert_int_eq(verify_files("leaf-other-chain.pem", "ca.pem", now_usec(), EKU_BOTH, &reason),
                         -EKEYREJECTED);
        assert_reason(reason, "the chain does not end at the configured CA: the last certificate 'CN=Other Root' "
                              "is neither the CA nor signed by it");
        free(reason);
        reason = NULL;

        ck_assert_int_eq(verify_files("leaf-other.pem", "ca.pem", now_usec(), EKU_BOTH, &reason), -EKEYREJECTED);
        assert_reason(reason, "the chain does not end at the configured CA");
        free(reason);
        reason = NULL;

        ck_assert_int_eq(verify_files("leaf-other-chain.pem", "other-ca.pem", now_usec(), EKU_BOTH, &reason), 0);
        ck_assert_int_eq(verify_files("leaf-both-chain.pem", "other-ca.pem", now_usec(), EKU_BOTH, &reason),
                         -EKEYREJECTED);
}
END_TEST

START_TEST(test_verify_cyclic) {
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};
        _cleanup_free_ char *reason = NULL;

        load_chain("cyclic-chain.pem", &chain);
        load_chain("ca.pem", &roots);
        ck_assert_uint_eq(chain.n, 3);

        /* A' B' A': the repetition is seen at step 1 */
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "certificate 3 of 3 repeats certificate 1");
        free(reason);
        reason = NULL;

        /* A' B': each is signed by the next, but the end is no root: step 2 */
        X509Chain two = { .certs = chain.certs, .n = 2 };
        ck_assert_int_eq(x509_chain_verify(&two, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "the chain does not end at the configured CA: the last certificate 'CN=Cycle B'");
        free(reason);
        reason = NULL;

        /* B' as the root: A' B' ends at it; both are CAs signed by each other, still no loop */
        X509Chain root_b = { .certs = chain.certs + 1, .n = 1 };
        ck_assert_int_eq(x509_chain_verify(&two, &root_b, now_usec(), NULL, &reason), 0);
        X509Chain one = { .certs = chain.certs, .n = 1 };
        ck_assert_int_eq(x509_chain_verify(&one, &root_b, now_usec(), NULL, &reason), 0);
}
END_TEST

START_TEST(test_verify_repeated) {
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};
        _cleanup_free_ char *reason = NULL;

        load_concat(&chain, "leaf-both-chain.pem", "intermediate.pem", NULL);
        load_chain("ca.pem", &roots);
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "certificate 3 of 3 repeats certificate 2");
        x509_chain_done(&chain);
        free(reason);
        reason = NULL;

        /* the root twice */
        load_concat(&chain, "ca.pem", "ca.pem", NULL);
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "certificate 2 of 2 repeats certificate 1");
}
END_TEST

START_TEST(test_verify_too_long) {
        _cleanup_(x509_chain_done) X509Chain leaf = {}, roots = {};
        _cleanup_free_ char *reason = NULL;
        gnutls_x509_crt_t certs[X509_CHAIN_MAX + 1];

        load_chain("leaf-both.pem", &leaf);
        load_chain("ca.pem", &roots);
        for (size_t i = 0; i < ELEMENTSOF(certs); i++)
                certs[i] = leaf.certs[0];
        X509Chain chain = { .certs = certs, .n = ELEMENTSOF(certs) };
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "more than the limit");
}
END_TEST

START_TEST(test_verify_invalid_arguments) {
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};
        _cleanup_free_ char *reason = NULL;
        X509Chain empty = {};
        char *const unknown[] = { (char *) "codeSigning", NULL };

        load_chain("leaf-both-chain.pem", &chain);
        load_chain("ca.pem", &roots);
        ck_assert_int_eq(x509_chain_verify(&empty, &roots, now_usec(), NULL, &reason), -EINVAL);
        assert_reason(reason, "empty");
        free(reason);
        reason = NULL;
        ck_assert_int_eq(x509_chain_verify(&chain, &empty, now_usec(), NULL, &reason), -EINVAL);
        assert_reason(reason, "no CA certificate");
        free(reason);
        reason = NULL;
        ck_assert_int_eq(x509_chain_verify(&chain, NULL, now_usec(), NULL, NULL), -EINVAL);
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), unknown, &reason), -EINVAL);
        assert_reason(reason, "codeSigning");
}
END_TEST

START_TEST(test_verify_expired) {
        _cleanup_free_ char *reason = NULL;

        ck_assert_int_eq(verify_files("leaf-expired-chain.pem", "ca.pem", now_usec(), EKU_BOTH, &reason),
                         -EKEYEXPIRED);
        ck_assert_str_eq(reason, "certificate 1 (CN=node1) expired on 2021-01-01 00:00:00 UTC");
        free(reason);
        reason = NULL;

        /* Every certificate counts: in 2020-07 the leaf is valid, but the intermediate (made at
         * build time) is not yet. */
        ck_assert_int_eq(verify_files("leaf-expired-chain.pem", "ca.pem", 1593561600 * USEC_PER_SEC, EKU_BOTH,
                                      &reason),
                         -EKEYEXPIRED);
        assert_reason(reason, "certificate 2 (CN=Aos Test Intermediate) is not valid before ");
        free(reason);
        reason = NULL;

        /* far in the future all have expired: the leaf is named first */
        ck_assert_int_eq(verify_files("leaf-both-chain.pem", "ca.pem", now_usec() + 100 * 365 * DAY_USEC, NULL,
                                      &reason),
                         -EKEYEXPIRED);
        assert_reason(reason, "certificate 1 (CN=node1) expired on ");
}
END_TEST

START_TEST(test_verify_not_yet_valid) {
        _cleanup_free_ char *reason = NULL;

        ck_assert_int_eq(verify_files("leaf-future-chain.pem", "ca.pem", now_usec(), EKU_BOTH, &reason),
                         -EKEYEXPIRED);
        ck_assert_str_eq(reason, "certificate 1 (CN=node1) is not valid before 2090-01-01 00:00:00 UTC");
}
END_TEST

START_TEST(test_verify_step_order) {
        _cleanup_free_ char *reason = NULL;

        /* expired and not anchored: step 2 wins */
        ck_assert_int_eq(verify_files("leaf-expired.pem", "ca.pem", now_usec(), EKU_BOTH, &reason), -EKEYREJECTED);
        assert_reason(reason, "the chain does not end at the configured CA");
        free(reason);
        reason = NULL;

        /* broken and expired: step 1 wins */
        ck_assert_int_eq(verify_files("broken-sig-chain.pem", "ca.pem", now_usec() + 100 * 365 * DAY_USEC,
                                      EKU_BOTH, &reason),
                         -EKEYREJECTED);
        assert_reason(reason, "certificate 1 of 2 is not signed");
}
END_TEST

START_TEST(test_verify_eku) {
        _cleanup_free_ char *reason = NULL;

        ck_assert_int_eq(verify_files("leaf-client-chain.pem", "ca.pem", now_usec(), EKU_BOTH, &reason),
                         -EKEYREJECTED);
        ck_assert_str_eq(reason, "certificate 1 (CN=node1) lacks the extended key usage serverAuth");
        free(reason);
        reason = NULL;

        ck_assert_int_eq(verify_files("leaf-noeku-chain.pem", "ca.pem", now_usec(), EKU_CLIENT, &reason),
                         -EKEYREJECTED);
        ck_assert_str_eq(reason, "certificate 1 (CN=node1) lacks the extended key usage clientAuth");
        free(reason);
        reason = NULL;

        ck_assert_int_eq(verify_files("leaf-noeku-chain.pem", "ca.pem", now_usec(), NULL, &reason), 0);
        char *const none[] = { NULL };
        ck_assert_int_eq(verify_files("leaf-noeku-chain.pem", "ca.pem", now_usec(), none, &reason), 0);
        ck_assert_int_eq(verify_files("leaf-both-chain.pem", "ca.pem", now_usec(), EKU_SERVER, &reason), 0);
        ck_assert_int_eq(verify_files("leaf-client-chain.pem", "ca.pem", now_usec(), EKU_CLIENT, &reason), 0);
}
END_TEST

START_TEST(test_verify_issuer_not_ca) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t leaf_key = load_key("leaf-both.key");
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = generate_key(GNUTLS_PK_ECDSA);
        _cleanup_(x509_chain_done) X509Chain leaf = {}, roots = {};
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t sub = NULL;
        _cleanup_free_ char *reason = NULL;
        time_t now = time(NULL);

        /* A certificate issued by the leaf, which is not a CA. */
        load_chain("leaf-both-chain.pem", &leaf);
        load_chain("ca.pem", &roots);
        sub = make_cert("CN=sub", key, leaf.certs[0], leaf_key, false, now - 60, now + 3600);

        gnutls_x509_crt_t certs[] = { sub, leaf.certs[0], leaf.certs[1] };
        X509Chain chain = { .certs = certs, .n = 3 };
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "certificate 1 of 3 is not signed by its issuer (certificate 2): the issuer is not a CA");
        free(reason);
        reason = NULL;

        /* The leaf configured as the root: a root must be a CA to issue. */
        X509Chain only_sub = { .certs = &sub, .n = 1 };
        X509Chain leaf_as_root = { .certs = leaf.certs, .n = 1 };
        ck_assert_int_eq(x509_chain_verify(&only_sub, &leaf_as_root, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "the chain does not end at the configured CA: the configured CA certificate "
                              "'CN=node1' is not a CA");
}
END_TEST

START_TEST(test_verify_root_dates) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t root_key = generate_key(GNUTLS_PK_ECDSA);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = generate_key(GNUTLS_PK_ECDSA);
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t root = NULL, leaf = NULL, other = NULL;
        _cleanup_free_ char *reason = NULL;
        time_t now = time(NULL);

        root = make_cert("CN=Old Root", root_key, NULL, NULL, true, 1577836800, 1609459200);
        leaf = make_cert("CN=young", key, root, root_key, false, now - 60, now + 3600);
        X509Chain chain = { .certs = &leaf, .n = 1 }, roots = { .certs = &root, .n = 1 };
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYEXPIRED);
        ck_assert_str_eq(reason, "the CA certificate (CN=Old Root) expired on 2021-01-01 00:00:00 UTC");
        free(reason);
        reason = NULL;

        /* a certificate without CN: subject without CN, common_name NULL */
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        other = make_cert("O=Aos,OU=Test", key, NULL, NULL, false, now - 60, now + 3600);
        ck_assert_int_eq(x509_cert_info(other, &info), 0);
        ck_assert_ptr_null(info.common_name);
        ck_assert_str_eq(info.subject, "O=Aos,OU=Test");
}
END_TEST

/* ---- information ------------------------------------------------------------------------ */

static char *certtool_serial(const char *name) {
        _cleanup_free_ char *path = test_pki_path(name), *cmd = NULL;
        char line[512], *serial = NULL;
        FILE *p;

        ck_assert_int_ge(asprintf(&cmd, "certtool -i --infile '%s' 2>/dev/null", path), 0);
        p = popen(cmd, "re");
        if (!p)
                return NULL;
        while (fgets(line, sizeof line, p)) {
                const char *v = strstr(line, "Serial Number (hex): ");
                if (v && !serial) {
                        serial = strdup(v + strlen("Serial Number (hex): "));
                        serial[strcspn(serial, "\r\n")] = 0;
                }
        }
        pclose(p);
        return serial;
}

START_TEST(test_cert_info) {
        _cleanup_(x509_chain_done) X509Chain c = {};
        _cleanup_(x509_cert_info_done) X509CertInfo info = {}, inter = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = load_key("leaf-both.key");
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t other_key = load_key("leaf-client.key");
        _cleanup_free_ char *key_id = NULL, *other_key_id = NULL, *serial = NULL, *fpr = NULL;
        gnutls_datum_t der = {}, raw_dn = {};
        uint64_t now = now_usec();

        load_chain("leaf-both-chain.pem", &c);
        ck_assert_int_eq(x509_cert_info(c.certs[0], &info), 0);
        ck_assert_int_eq(x509_cert_info(c.certs[1], &inter), 0);

        ck_assert_str_eq(info.subject, "CN=node1");
        ck_assert_str_eq(info.issuer, "CN=Aos Test Intermediate");
        ck_assert_str_eq(info.common_name, "node1");
        ck_assert_str_eq(inter.common_name, "Aos Test Intermediate");
        ck_assert_str_eq(inter.issuer, "CN=Aos Test Root");

        /* IssuerDER is the intermediate's subject Name, byte for byte */
        ck_assert_int_eq(gnutls_x509_crt_get_raw_dn(c.certs[1], &raw_dn), 0);
        ck_assert_uint_eq(info.issuer_der_size, raw_dn.size);
        ck_assert_int_eq(memcmp(info.issuer_der, raw_dn.data, raw_dn.size), 0);
        gnutls_free(raw_dn.data);

        ck_assert(is_lower_hex(info.serial));
        ck_assert_uint_eq(strlen(info.serial) % 2, 0);
        serial = certtool_serial("leaf-both.pem");
        if (serial)
                ck_assert_str_eq(info.serial, serial);
        ck_assert_str_ne(info.serial, inter.serial);

        ck_assert_uint_lt(info.not_before, now);
        ck_assert_uint_gt(info.not_after, now);
        ck_assert_uint_eq(info.not_before % USEC_PER_SEC, 0);

        ck_assert_uint_eq(strlen(info.fingerprint), 64);
        ck_assert(is_lower_hex(info.fingerprint));
        ck_assert_int_eq(gnutls_x509_crt_export2(c.certs[0], GNUTLS_X509_FMT_DER, &der), 0);
        fpr = sha256_hex(der.data, der.size);
        gnutls_free(der.data);
        ck_assert_str_eq(info.fingerprint, fpr);

        ck_assert_uint_eq(strlen(info.key_id), 64);
        ck_assert(is_lower_hex(info.key_id));
        ck_assert_int_eq(x509_privkey_key_id(key, &key_id), 0);
        ck_assert_str_eq(info.key_id, key_id);
        ck_assert_int_eq(x509_privkey_key_id(other_key, &other_key_id), 0);
        ck_assert_str_ne(info.key_id, other_key_id);
        ck_assert_str_ne(info.key_id, inter.key_id);

        x509_cert_info_done(&info);
        ck_assert_ptr_null(info.subject);
        x509_cert_info_done(&info);
        x509_cert_info_done(NULL);
}
END_TEST

START_TEST(test_cert_info_unprintable_names) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = generate_key(GNUTLS_PK_ECDSA);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t other = generate_key(GNUTLS_PK_ECDSA);
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL, imported = NULL, root = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        _cleanup_free_ char *reason = NULL;
        static const char cn[] = "n\x01" "de\xc3\xa9\x1b[31m\xff";
        gnutls_datum_t der = {};
        time_t now = time(NULL);

        /* A CN with a control character, an escape sequence, UTF-8 and an invalid byte. */
        ck_assert_int_eq(gnutls_x509_crt_init(&crt), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_version(crt, 3), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_serial(crt, "\x01", 1), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_activation_time(crt, now - 60), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_expiration_time(crt, now + 3600), 0);
        ck_assert_int_eq(gnutls_pubkey_init(&pub), 0);
        ck_assert_int_eq(gnutls_pubkey_import_privkey(pub, key, 0, 0), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_pubkey(crt, pub), 0);
        ck_assert_int_eq(gnutls_x509_crt_privkey_sign(crt, crt, key, GNUTLS_DIG_SHA384, 0), 0);
        ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
        ck_assert_int_eq(gnutls_x509_crt_init(&imported), 0);
        ck_assert_int_eq(gnutls_x509_crt_import(imported, &der, GNUTLS_X509_FMT_DER), 0);
        gnutls_free(der.data);

        ck_assert_int_eq(x509_cert_info(imported, &info), 0);
        ck_assert_str_eq(info.common_name, "n\\x01de\xc3\xa9\\x1b[31m\\xff");
        ck_assert_ptr_null(strchr(info.subject, 0x1b));
        ck_assert_ptr_null(strchr(info.issuer, 0x01));

        /* and the names in reasons are escaped the same way */
        root = make_cert("CN=Unrelated", other, NULL, NULL, true, now - 60, now + 3600);
        X509Chain chain = { .certs = &imported, .n = 1 }, roots = { .certs = &root, .n = 1 };
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        ck_assert_ptr_null(strchr(reason, 0x1b));
        assert_reason(reason, "\\x1b[31m");
}
END_TEST

START_TEST(test_cert_info_dates) {
        _cleanup_(x509_chain_done) X509Chain c = {};
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};

        load_chain("leaf-expired.pem", &c);
        ck_assert_int_eq(x509_cert_info(c.certs[0], &info), 0);
        ck_assert_uint_eq(info.not_before, 1577836800 * USEC_PER_SEC); /* 2020-01-01 */
        ck_assert_uint_eq(info.not_after, 1609459200 * USEC_PER_SEC);  /* 2021-01-01 */
}
END_TEST

START_TEST(test_key_id_pairs_key_and_cert) {
        static const char *const names[] = { "leaf-both", "leaf-rsa", "leaf-client", "ca", "intermediate" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *pem = NULL, *key = NULL, *key_id = NULL;
                _cleanup_(x509_chain_done) X509Chain c = {};
                _cleanup_(x509_cert_info_done) X509CertInfo info = {};
                _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;

                ck_assert_int_ge(asprintf(&pem, "%s.pem", names[i]), 0);
                ck_assert_int_ge(asprintf(&key, "%s.key", names[i]), 0);
                load_chain(pem, &c);
                k = load_key(key);
                ck_assert_int_eq(x509_cert_info(c.certs[0], &info), 0);
                ck_assert_int_eq(x509_privkey_key_id(k, &key_id), 0);
                ck_assert_msg(streq(info.key_id, key_id), "%s: %s != %s", names[i], info.key_id, key_id);
        }
}
END_TEST

static int ext_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata, unsigned flags,
                         const gnutls_datum_t *hash, gnutls_datum_t *signature) {
        return GNUTLS_E_UNIMPLEMENTED_FEATURE;
}

static int ext_info(gnutls_privkey_t key, unsigned flags, void *userdata) {
        if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
                return GNUTLS_PK_ECDSA;
        return -1;
}

START_TEST(test_key_id_ext_key) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;
        char *key_id = NULL, *csr = NULL;

        /* A key behind bare sign callbacks has no public half gnutls can give out. */
        ck_assert_int_eq(gnutls_privkey_init(&k), 0);
        ck_assert_int_eq(gnutls_privkey_import_ext4(k, NULL, NULL, ext_sign_hash, NULL, NULL, ext_info, 0), 0);
        ck_assert_int_eq(x509_privkey_key_id(k, &key_id), -EOPNOTSUPP);
        ck_assert_ptr_null(key_id);
        ck_assert_int_eq(x509_make_csr(k, "node1", NULL, NULL, &csr), -EOPNOTSUPP);
        ck_assert_ptr_null(csr);
        ck_assert_int_eq(x509_privkey_key_id(NULL, &key_id), -EINVAL);
}
END_TEST

START_TEST(test_eku_oid) {
        ck_assert_str_eq(x509_eku_oid("serverAuth"), "1.3.6.1.5.5.7.3.1");
        ck_assert_str_eq(x509_eku_oid("clientAuth"), "1.3.6.1.5.5.7.3.2");
        ck_assert_ptr_null(x509_eku_oid("serverauth"));
        ck_assert_ptr_null(x509_eku_oid(""));
        ck_assert_ptr_null(x509_eku_oid(NULL));
}
END_TEST

/* ---- CSR -------------------------------------------------------------------------------- */

static char *pubkey_hex_id(gnutls_pubkey_t pub) {
        gnutls_datum_t der = {};
        ck_assert_int_eq(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der), 0);
        char *hex = sha256_hex(der.data, der.size);
        gnutls_free(der.data);
        return hex;
}

/* Parses a CSR, checks its signature, subject, EKUs and SANs, and that it is for key. */
static void check_csr(const char *pem, gnutls_privkey_t key, const char *cn, char *const *eku,
                      char *const *dns, gnutls_sign_algorithm_t sign_algo) {
        _cleanup_(gnutls_x509_crq_deinitp) gnutls_x509_crq_t crq = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        _cleanup_free_ char *expected_dn = NULL, *id = NULL, *key_id = NULL;
        gnutls_datum_t d = { .data = (unsigned char *) pem, .size = (unsigned) strlen(pem) }, dn = {};
        size_t n;

        ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN NEW CERTIFICATE REQUEST-----"));
        ck_assert_int_eq(gnutls_x509_crq_init(&crq), 0);
        ck_assert_int_eq(gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM), 0);
        ck_assert_int_eq(gnutls_x509_crq_verify(crq, 0), 0);
        ck_assert_int_eq(gnutls_x509_crq_get_version(crq), 1);
        ck_assert_int_eq(gnutls_x509_crq_get_signature_algorithm(crq), sign_algo);

        ck_assert_int_eq(gnutls_x509_crq_get_dn3(crq, &dn, 0), 0);
        ck_assert_int_ge(asprintf(&expected_dn, "CN=%s", cn), 0);
        ck_assert_str_eq((const char *) dn.data, expected_dn);
        gnutls_free(dn.data);

        n = 0;
        for (unsigned idx = 0;; idx++) {
                char oid[128];
                size_t size = sizeof oid;
                unsigned critical = 1;
                int gr = gnutls_x509_crq_get_key_purpose_oid(crq, idx, oid, &size, &critical);
                if (gr == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                ck_assert_int_eq(gr, 0);
                ck_assert_uint_lt(n, strv_length(eku));
                ck_assert_str_eq(oid, x509_eku_oid(eku[n]));
                ck_assert_uint_eq(critical, 0);
                n++;
        }
        ck_assert_uint_eq(n, strv_length(eku));

        n = 0;
        for (unsigned idx = 0;; idx++) {
                char name[256];
                size_t size = sizeof name;
                unsigned type = 0, critical = 1;
                int gr = gnutls_x509_crq_get_subject_alt_name(crq, idx, name, &size, &type, &critical);
                if (gr == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                ck_assert_int_eq(gr, GNUTLS_SAN_DNSNAME);
                ck_assert_uint_lt(n, strv_length(dns));
                ck_assert_str_eq(name, dns[n]);
                n++;
        }
        ck_assert_uint_eq(n, strv_length(dns));

        /* the request carries this key */
        ck_assert_int_eq(gnutls_pubkey_init(&pub), 0);
        ck_assert_int_eq(gnutls_pubkey_import_x509_crq(pub, crq, 0), 0);
        id = pubkey_hex_id(pub);
        ck_assert_int_eq(x509_privkey_key_id(key, &key_id), 0);
        ck_assert_str_eq(id, key_id);
}

START_TEST(test_csr_ecdsa) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = generate_key(GNUTLS_PK_ECDSA);
        _cleanup_free_ char *pem = NULL;
        char *const eku[] = { (char *) "clientAuth", (char *) "serverAuth", NULL };
        char *const dns[] = { (char *) "node1.local", (char *) "localhost", NULL };

        ck_assert_int_eq(x509_make_csr(key, "node1", eku, dns, &pem), 0);
        check_csr(pem, key, "node1", eku, dns, GNUTLS_SIGN_ECDSA_SHA384);
}
END_TEST

START_TEST(test_csr_rsa) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = load_key("leaf-rsa.key");
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t gen = generate_key(GNUTLS_PK_RSA);
        _cleanup_free_ char *pem = NULL, *pem2 = NULL;
        char *const dns[] = { (char *) "iam.local", NULL };

        ck_assert_int_eq(x509_make_csr(key, "main node", EKU_SERVER, dns, &pem), 0);
        check_csr(pem, key, "main node", EKU_SERVER, dns, GNUTLS_SIGN_RSA_SHA256);
        ck_assert_int_eq(x509_make_csr(gen, "node2", EKU_BOTH, NULL, &pem2), 0);
        check_csr(pem2, gen, "node2", EKU_BOTH, NULL, GNUTLS_SIGN_RSA_SHA256);
}
END_TEST

START_TEST(test_csr_minimal) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = load_key("leaf-both.key");
        _cleanup_free_ char *pem = NULL;
        char *const none[] = { NULL };

        ck_assert_int_eq(x509_make_csr(key, "node1", NULL, none, &pem), 0);
        check_csr(pem, key, "node1", NULL, NULL, GNUTLS_SIGN_ECDSA_SHA384);
}
END_TEST

START_TEST(test_csr_invalid) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = load_key("leaf-both.key");
        char *pem = NULL;
        char *const bad_eku[] = { (char *) "emailProtection", NULL };
        char *const bad_dns[] = { (char *) "", NULL };

        ck_assert_int_eq(x509_make_csr(key, NULL, NULL, NULL, &pem), -EINVAL);
        ck_assert_int_eq(x509_make_csr(key, "", NULL, NULL, &pem), -EINVAL);
        ck_assert_int_eq(x509_make_csr(key, "node1", bad_eku, NULL, &pem), -EINVAL);
        ck_assert_int_eq(x509_make_csr(key, "node1", NULL, bad_dns, &pem), -EINVAL);
        ck_assert_int_eq(x509_make_csr(NULL, "node1", NULL, NULL, &pem), -EINVAL);
        ck_assert_ptr_null(pem);
}
END_TEST

static int pin_callback(void *userdata, int attempt, const char *token_url, const char *token_label,
                        unsigned flags, char *pin, size_t pin_max) {
        if (attempt > 0)
                return -1;
        snprintf(pin, pin_max, "1234");
        return 0;
}

START_TEST(test_csr_pkcs11) {
        _cleanup_free_ char *dir = NULL, *cmd = NULL, *pem = NULL, *key_id = NULL;
        gnutls_privkey_t key = NULL;
        const char *lib;
        int gr;

        if (system("command -v softhsm2-util >/dev/null 2>&1") != 0) {
                fprintf(stderr, "softhsm2-util is missing, skipping the PKCS#11 CSR test\n");
                return;
        }
        dir = test_tmpdir();
        lib = test_softhsm_setup(dir);
        if (access(lib, R_OK) < 0) {
                fprintf(stderr, "%s is missing, skipping the PKCS#11 CSR test\n", lib);
                test_rm_rf(dir);
                return;
        }
        ck_assert_int_ge(asprintf(&cmd, "softhsm2-util --init-token --free --label x509test --so-pin 12345678 "
                                        "--pin 1234 >/dev/null"), 0);
        ck_assert_int_eq(system(cmd), 0);

        ck_assert_int_eq(gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_MANUAL, NULL), 0);
        ck_assert_int_eq(gnutls_pkcs11_add_provider(lib, NULL), 0);
        gnutls_pkcs11_set_pin_function(pin_callback, NULL);
        gr = gnutls_pkcs11_privkey_generate3("pkcs11:token=x509test", GNUTLS_PK_ECDSA,
                                             GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), "csr-key", NULL,
                                             GNUTLS_X509_FMT_DER, NULL, 0,
                                             GNUTLS_PKCS11_OBJ_FLAG_LOGIN | GNUTLS_PKCS11_OBJ_FLAG_MARK_SENSITIVE |
                                             GNUTLS_PKCS11_OBJ_FLAG_MARK_PRIVATE);
        ck_assert_msg(gr == 0, "%s", gnutls_strerror(gr));

        ck_assert_int_eq(gnutls_privkey_init(&key), 0);
        gnutls_privkey_set_pin_function(key, pin_callback, NULL);
        gr = gnutls_privkey_import_url(key, "pkcs11:token=x509test;object=csr-key;type=private", 0);
        ck_assert_msg(gr == 0, "%s", gnutls_strerror(gr));

        ck_assert_int_eq(x509_make_csr(key, "node1", EKU_BOTH, NULL, &pem), 0);
        check_csr(pem, key, "node1", EKU_BOTH, NULL, GNUTLS_SIGN_ECDSA_SHA384);

        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        ck_assert_int_eq(x509_make_self_signed(key, "node1", EKU_BOTH, NULL, DAY_USEC, &crt), 0);
        ck_assert_int_eq(x509_cert_info(crt, &info), 0);
        ck_assert_int_eq(x509_privkey_key_id(key, &key_id), 0);
        ck_assert_str_eq(info.key_id, key_id);

        gnutls_privkey_deinit(key);
        gnutls_pkcs11_deinit();
        test_rm_rf(dir);
}
END_TEST

/* ---- self-signed ------------------------------------------------------------------------ */

static void check_self_signed(gnutls_pk_algorithm_t pk) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = generate_key(pk);
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        _cleanup_(x509_chain_done) X509Chain again = {};
        _cleanup_free_ char *key_id = NULL, *reason = NULL, *pem = NULL;
        char *const dns[] = { (char *) "node1.local", (char *) "localhost", NULL };
        uint64_t before = now_usec(), lifetime = 365 * DAY_USEC;
        unsigned usage = 0, critical = 0;
        int r;

        ck_assert_int_eq(x509_make_self_signed(key, "node1", EKU_BOTH, dns, lifetime, &crt), 0);
        ck_assert_int_eq(x509_cert_info(crt, &info), 0);
        ck_assert_str_eq(info.subject, "CN=node1");
        ck_assert_str_eq(info.issuer, "CN=node1");
        ck_assert_str_eq(info.common_name, "node1");
        ck_assert_uint_gt(info.issuer_der_size, 0);
        ck_assert(gnutls_x509_crt_check_issuer(crt, crt));

        /* 16 bytes, positive, no leading zero byte */
        ck_assert_uint_eq(strlen(info.serial), 32);
        ck_assert(is_lower_hex(info.serial));
        ck_assert(strchr("01234567", info.serial[0]));
        ck_assert(!(info.serial[0] == '0' && info.serial[1] == '0'));

        /* NotBefore = now - 1 min, NotAfter = now + lifetime (whole seconds) */
        ck_assert_uint_le(info.not_before, before - 59 * USEC_PER_SEC);
        ck_assert_uint_ge(info.not_before, before - 62 * USEC_PER_SEC);
        ck_assert_uint_ge(info.not_after, before + lifetime - 2 * USEC_PER_SEC);
        ck_assert_uint_le(info.not_after, now_usec() + lifetime);

        ck_assert_int_eq(gnutls_x509_crt_get_version(crt), 3);
        ck_assert_int_eq(gnutls_x509_crt_get_ca_status(crt, &critical), 0);
        ck_assert_int_ge(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
        ck_assert(usage & GNUTLS_KEY_DIGITAL_SIGNATURE);
        ck_assert_uint_eq(!!(usage & GNUTLS_KEY_KEY_ENCIPHERMENT), pk == GNUTLS_PK_RSA);
        ck_assert(!(usage & GNUTLS_KEY_KEY_CERT_SIGN));

        unsigned char skid[64];
        size_t skid_size = sizeof skid;
        ck_assert_int_eq(gnutls_x509_crt_get_subject_key_id(crt, skid, &skid_size, &critical), 0);

        char san[256];
        size_t san_size = sizeof san;
        ck_assert_int_eq(gnutls_x509_crt_get_subject_alt_name(crt, 1, san, &san_size, NULL), GNUTLS_SAN_DNSNAME);
        ck_assert_str_eq(san, "localhost");

        ck_assert_int_eq(x509_privkey_key_id(key, &key_id), 0);
        ck_assert_str_eq(info.key_id, key_id);

        /* verified against itself as the root, EKUs included */
        X509Chain chain = { .certs = &crt, .n = 1 };
        r = x509_chain_verify(&chain, &chain, now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));

        /* round trip through PEM */
        ck_assert_int_eq(x509_chain_to_pem(&chain, &pem), 0);
        ck_assert_int_eq(x509_chain_from_pem(pem, strlen(pem), &again, &reason), 0);
        ck_assert(gnutls_x509_crt_equals(crt, again.certs[0]));
        r = x509_chain_verify(&again, &chain, now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "%s", strna(reason));
}

START_TEST(test_self_signed_ecdsa) {
        check_self_signed(GNUTLS_PK_ECDSA);
}
END_TEST

START_TEST(test_self_signed_rsa) {
        check_self_signed(GNUTLS_PK_RSA);
}
END_TEST

START_TEST(test_self_signed_is_no_ca) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t a = generate_key(GNUTLS_PK_ECDSA);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t b = generate_key(GNUTLS_PK_ECDSA);
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t ca = NULL, other = NULL;
        _cleanup_free_ char *reason = NULL;

        /* Another key under the same name does not pass as trusted: the pinned certificate is
         * not a CA, and anyway did not sign it. */
        ck_assert_int_eq(x509_make_self_signed(a, "node1", NULL, NULL, DAY_USEC, &ca), 0);
        ck_assert_int_eq(x509_make_self_signed(b, "node1", NULL, NULL, DAY_USEC, &other), 0);
        X509Chain roots = { .certs = &ca, .n = 1 }, chain = { .certs = &other, .n = 1 };
        ck_assert_int_eq(x509_chain_verify(&chain, &roots, now_usec(), NULL, &reason), -EKEYREJECTED);
        assert_reason(reason, "the chain does not end at the configured CA");

        /* Without EKU it still verifies as itself, but not with one required */
        free(reason);
        reason = NULL;
        ck_assert_int_eq(x509_chain_verify(&roots, &roots, now_usec(), NULL, &reason), 0);
        ck_assert_int_eq(x509_chain_verify(&roots, &roots, now_usec(), EKU_CLIENT, &reason), -EKEYREJECTED);
        assert_reason(reason, "lacks the extended key usage clientAuth");
}
END_TEST

START_TEST(test_self_signed_invalid) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = load_key("leaf-both.key");
        gnutls_x509_crt_t crt = NULL;
        char *const bad_eku[] = { (char *) "anyExtendedKeyUsage", NULL };

        ck_assert_int_eq(x509_make_self_signed(key, "node1", NULL, NULL, 0, &crt), -EINVAL);
        ck_assert_int_eq(x509_make_self_signed(key, "", NULL, NULL, DAY_USEC, &crt), -EINVAL);
        ck_assert_int_eq(x509_make_self_signed(key, "node1", bad_eku, NULL, DAY_USEC, &crt), -EINVAL);
        ck_assert_int_eq(x509_make_self_signed(NULL, "node1", NULL, NULL, DAY_USEC, &crt), -EINVAL);
        ck_assert_ptr_null(crt);
}
END_TEST

int main(void) {
        Suite *s = suite_create("x509");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_test(tc, test_parse_one);
        tcase_add_test(tc, test_parse_two);
        tcase_add_test(tc, test_parse_text_between_blocks);
        tcase_add_test(tc, test_parse_empty);
        tcase_add_test(tc, test_parse_no_cert);
        tcase_add_test(tc, test_parse_garbage_block);
        tcase_add_test(tc, test_parse_bad_base64);
        tcase_add_test(tc, test_parse_private_key_block);
        tcase_add_test(tc, test_parse_malformed_blocks);
        tcase_add_test(tc, test_parse_too_big);
        tcase_add_test(tc, test_parse_too_many);
        tcase_add_test(tc, test_load_file_missing);
        tcase_add_test(tc, test_load_file_bad);
        tcase_add_test(tc, test_to_pem_round_trip);
        suite_add_tcase(s, tc);

        tc = tcase_create("verify");
        tcase_add_test(tc, test_verify_ok_intermediate);
        tcase_add_test(tc, test_verify_ok_direct);
        tcase_add_test(tc, test_verify_ok_with_root_in_chain);
        tcase_add_test(tc, test_verify_several_roots);
        tcase_add_test(tc, test_verify_broken_signature);
        tcase_add_test(tc, test_verify_wrong_order);
        tcase_add_test(tc, test_verify_leaf_without_intermediate);
        tcase_add_test(tc, test_verify_other_root);
        tcase_add_test(tc, test_verify_cyclic);
        tcase_add_test(tc, test_verify_repeated);
        tcase_add_test(tc, test_verify_too_long);
        tcase_add_test(tc, test_verify_invalid_arguments);
        tcase_add_test(tc, test_verify_expired);
        tcase_add_test(tc, test_verify_not_yet_valid);
        tcase_add_test(tc, test_verify_step_order);
        tcase_add_test(tc, test_verify_eku);
        tcase_add_test(tc, test_verify_issuer_not_ca);
        tcase_add_test(tc, test_verify_root_dates);
        suite_add_tcase(s, tc);

        tc = tcase_create("info");
        tcase_add_test(tc, test_cert_info);
        tcase_add_test(tc, test_cert_info_unprintable_names);
        tcase_add_test(tc, test_cert_info_dates);
        tcase_add_test(tc, test_key_id_pairs_key_and_cert);
        tcase_add_test(tc, test_key_id_ext_key);
        tcase_add_test(tc, test_eku_oid);
        suite_add_tcase(s, tc);

        tc = tcase_create("make");
        tcase_add_test(tc, test_csr_ecdsa);
        tcase_add_test(tc, test_csr_rsa);
        tcase_add_test(tc, test_csr_minimal);
        tcase_add_test(tc, test_csr_invalid);
        tcase_add_test(tc, test_csr_pkcs11);
        tcase_add_test(tc, test_self_signed_ecdsa);
        tcase_add_test(tc, test_self_signed_rsa);
        tcase_add_test(tc, test_self_signed_is_no_ca);
        tcase_add_test(tc, test_self_signed_invalid);
        suite_add_tcase(s, tc);

        return test_run_suite(s);
}
