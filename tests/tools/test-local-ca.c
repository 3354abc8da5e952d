/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tools/aosctl/local-ca.c against the test PKI of tests/pki/make-pki.sh: loading a CA (and
 * refusing a wrong one), and what a signed certificate carries and does not carry. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "local-ca.h"
#include "macro.h"
#include "test-util.h"
#include "x509.h"

static char *const EKU_BOTH[] = { (char *) "serverAuth", (char *) "clientAuth", NULL };
static char *const SANS[] = { (char *) "node1.local", (char *) "localhost", NULL };

static char *tmpdir;

static void setup(void) {
        tmpdir = test_tmpdir();
}

static void teardown(void) {
        test_rm_rf(tmpdir);
        free(tmpdir);
        tmpdir = NULL;
}

static uint64_t now_usec(void) {
        return (uint64_t) time(NULL) * USEC_PER_SEC;
}

static void assert_reason(const char *reason, const char *needle) {
        ck_assert_msg(reason, "no reason given, expected one containing \"%s\"", needle);
        ck_assert_msg(strstr(reason, needle), "reason \"%s\" does not contain \"%s\"", reason, needle);
}

static void load_ca(const char *cert, const char *key, LocalCa *ret) {
        _cleanup_free_ char *c = test_pki_path(cert), *k = test_pki_path(key), *reason = NULL;
        int r = local_ca_load(c, k, ret, &reason);
        ck_assert_msg(r == 0, "loading %s/%s: %s (%s)", cert, key, strerror(-r), strna(reason));
}

/* <tmpdir>/name with the concatenation of PKI files. */
_sentinel_ static char *concat_pki(const char *name, ...) {
        char *path;
        va_list ap;

        ck_assert_int_ge(asprintf(&path, "%s/%s", tmpdir, name), 0);
        FILE *f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        va_start(ap, name);
        for (const char *n; (n = va_arg(ap, const char *));) {
                _cleanup_free_ char *p = test_pki_path(n);
                _cleanup_free_ char *data = test_read_file(p, NULL);
                fputs(data, f);
        }
        va_end(ap);
        fclose(f);
        return path;
}

static gnutls_privkey_t new_key(gnutls_pk_algorithm_t alg) {
        gnutls_privkey_t key;
        ck_assert_int_ge(gnutls_privkey_init(&key), 0);
        ck_assert_int_ge(gnutls_privkey_generate2(key, alg,
                                                  alg == GNUTLS_PK_RSA ? 2048 : GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1),
                                                  0, NULL, 0),
                         0);
        return key;
}

static char *csr_for(gnutls_privkey_t key, const char *cn, char *const *eku, char *const *sans) {
        char *pem = NULL;
        int r = x509_make_csr(key, cn, eku, sans, &pem);
        ck_assert_msg(r == 0, "x509_make_csr: %s", strerror(-r));
        return pem;
}

static void sign_ok(const LocalCa *ca, const char *csr, unsigned days, X509Chain *ret) {
        _cleanup_free_ char *pem = NULL, *reason = NULL, *reason2 = NULL;
        int r = local_ca_sign(ca, csr, days, &pem, &reason);
        ck_assert_msg(r == 0, "local_ca_sign: %s (%s)", strerror(-r), strna(reason));
        r = x509_chain_from_pem(pem, strlen(pem), ret, &reason2);
        ck_assert_msg(r == 0, "signed chain does not parse: %s", strna(reason2));
}

static void load_roots(X509Chain *ret) {
        _cleanup_free_ char *p = test_pki_path("ca.pem"), *reason = NULL;
        ck_assert_int_eq(x509_chain_load_file(p, ret, &reason), 0);
}

static char *leaf_key_id(gnutls_x509_crt_t crt) {
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        ck_assert_int_eq(x509_cert_info(crt, &info), 0);
        return TAKE_PTR(info.key_id);
}

START_TEST(test_load_root_and_intermediate) {
        _cleanup_(local_ca_done) LocalCa root = {}, inter = {};
        _cleanup_free_ char *chain_file = concat_pki("inter-chain.pem", "intermediate.pem", "ca.pem", NULL);
        _cleanup_free_ char *key = test_pki_path("intermediate.key"), *reason = NULL;

        load_ca("ca.pem", "ca.key", &root);
        ck_assert_uint_eq(root.chain.n, 1);
        ck_assert_ptr_nonnull(root.key);

        ck_assert_int_eq(local_ca_load(chain_file, key, &inter, &reason), 0);
        ck_assert_uint_eq(inter.chain.n, 2);
}
END_TEST

START_TEST(test_load_key_url) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_free_ char *cert = test_pki_path("ca.pem"), *key = test_pki_path("ca.key"), *url = NULL, *reason = NULL;

        ck_assert_int_ge(asprintf(&url, "file:%s", key), 0);
        ck_assert_int_eq(local_ca_load(cert, url, &ca, &reason), 0);
}
END_TEST

START_TEST(test_load_refusals) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_free_ char *reason = NULL, *ca_pem = test_pki_path("ca.pem"), *ca_key = test_pki_path("ca.key");
        _cleanup_free_ char *inter_key = test_pki_path("intermediate.key"), *leaf = test_pki_path("leaf-both.pem");
        _cleanup_free_ char *leaf_key = test_pki_path("leaf-both.key"), *garbage = test_pki_path("garbage.pem");
        _cleanup_free_ char *missing = NULL;
        int r;

        ck_assert_int_ge(asprintf(&missing, "%s/nope.pem", tmpdir), 0);

        /* The key of another certificate. */
        r = local_ca_load(ca_pem, inter_key, &ca, &reason);
        ck_assert_int_eq(r, -EKEYREJECTED);
        assert_reason(reason, "does not belong");
        free(reason);
        reason = NULL;

        /* Not a CA. */
        r = local_ca_load(leaf, leaf_key, &ca, &reason);
        ck_assert_int_eq(r, -EKEYREJECTED);
        assert_reason(reason, "not a CA");
        free(reason);
        reason = NULL;

        /* Missing files, a certificate file that is not one, a key file that is a certificate. */
        r = local_ca_load(missing, ca_key, &ca, &reason);
        ck_assert_int_eq(r, -ENOENT);
        assert_reason(reason, "nope.pem");
        free(reason);
        reason = NULL;
        r = local_ca_load(ca_pem, missing, &ca, &reason);
        ck_assert_int_eq(r, -ENOENT);
        assert_reason(reason, "nope.pem");
        free(reason);
        reason = NULL;
        r = local_ca_load(garbage, ca_key, &ca, &reason);
        ck_assert_int_eq(r, -EBADMSG);
        ck_assert_ptr_nonnull(reason);
        free(reason);
        reason = NULL;
        r = local_ca_load(ca_pem, ca_pem, &ca, &reason);
        ck_assert_int_eq(r, -EBADMSG);
        assert_reason(reason, "not a PEM private key");
        ck_assert_ptr_null(ca.key);
}
END_TEST

START_TEST(test_sign_verifies) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = new_key(GNUTLS_PK_ECDSA);
        _cleanup_free_ char *csr = csr_for(key, "node1", EKU_BOTH, SANS);
        _cleanup_free_ char *chain_file = concat_pki("inter-chain.pem", "intermediate.pem", "ca.pem", NULL);
        _cleanup_free_ char *ca_key = test_pki_path("intermediate.key"), *reason = NULL, *kid = NULL, *lkid = NULL;
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};

        ck_assert_int_eq(local_ca_load(chain_file, ca_key, &ca, &reason), 0);
        sign_ok(&ca, csr, 30, &chain);

        /* leaf + intermediate + root, as the CA file had them */
        ck_assert_uint_eq(chain.n, 3);
        load_roots(&roots);
        int r = x509_chain_verify(&chain, &roots, now_usec(), EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "chain does not verify: %s", strna(reason));

        /* The leaf is for the CSR's key and subject. */
        ck_assert_int_eq(x509_privkey_key_id(key, &kid), 0);
        lkid = leaf_key_id(chain.certs[0]);
        ck_assert_str_eq(kid, lkid);
        ck_assert_int_eq(x509_cert_info(chain.certs[0], &info), 0);
        ck_assert_str_eq(info.common_name, "node1");
        ck_assert_str_eq(info.issuer, "CN=Aos Test Intermediate");

        /* Dates: NotBefore a minute back, NotAfter 30 days on. */
        uint64_t now = now_usec();
        ck_assert_uint_le(info.not_before, now - 59 * USEC_PER_SEC);
        ck_assert_uint_ge(info.not_before, now - 120 * USEC_PER_SEC);
        ck_assert_uint_ge(info.not_after, now + 30ULL * 86400 * USEC_PER_SEC - 120 * USEC_PER_SEC);
        ck_assert_uint_le(info.not_after, now + 30ULL * 86400 * USEC_PER_SEC + 120 * USEC_PER_SEC);

        /* Serial: 16 bytes, positive. */
        unsigned char serial[40];
        size_t serial_size = sizeof serial;
        ck_assert_int_ge(gnutls_x509_crt_get_serial(chain.certs[0], serial, &serial_size), 0);
        ck_assert_uint_eq(serial_size, 16);
        ck_assert_uint_eq(serial[0] & 0x80, 0);
        ck_assert_uint_ne(serial[0], 0);
}
END_TEST

START_TEST(test_sign_copies_extensions) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_(x509_chain_done) X509Chain chain = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = new_key(GNUTLS_PK_ECDSA);
        _cleanup_free_ char *csr = csr_for(key, "node-7", EKU_BOTH, SANS);
        char buf[256], oid[128];
        size_t size;
        unsigned ca_flag = 0, critical, usage = 0;

        load_ca("ca.pem", "ca.key", &ca);
        sign_ok(&ca, csr, LOCAL_CA_DAYS_DEFAULT, &chain);
        ck_assert_uint_eq(chain.n, 2);

        /* Both SANs, in order. */
        for (unsigned i = 0; i < 2; i++) {
                size = sizeof buf;
                ck_assert_int_eq(gnutls_x509_crt_get_subject_alt_name(chain.certs[0], i, buf, &size, NULL),
                                 GNUTLS_SAN_DNSNAME);
                ck_assert_str_eq(buf, SANS[i]);
        }
        size = sizeof buf;
        ck_assert_int_lt(gnutls_x509_crt_get_subject_alt_name(chain.certs[0], 2, buf, &size, NULL), 0);

        /* Both EKUs. */
        size = sizeof oid;
        ck_assert_int_ge(gnutls_x509_crt_get_key_purpose_oid(chain.certs[0], 0, oid, &size, NULL), 0);
        ck_assert_str_eq(oid, GNUTLS_KP_TLS_WWW_SERVER);
        size = sizeof oid;
        ck_assert_int_ge(gnutls_x509_crt_get_key_purpose_oid(chain.certs[0], 1, oid, &size, NULL), 0);
        ck_assert_str_eq(oid, GNUTLS_KP_TLS_WWW_CLIENT);

        /* Not a CA, digitalSignature only for an EC key. */
        ck_assert_int_eq(gnutls_x509_crt_get_basic_constraints(chain.certs[0], &critical, &ca_flag, NULL), 0);
        ck_assert_uint_eq(ca_flag, 0);
        ck_assert_int_ge(gnutls_x509_crt_get_key_usage(chain.certs[0], &usage, &critical), 0);
        ck_assert_uint_eq(usage, GNUTLS_KEY_DIGITAL_SIGNATURE);

        /* Subject and authority key identifiers. */
        size = sizeof buf;
        ck_assert_int_ge(gnutls_x509_crt_get_subject_key_id(chain.certs[0], buf, &size, NULL), 0);
        size = sizeof buf;
        ck_assert_int_ge(gnutls_x509_crt_get_authority_key_id(chain.certs[0], buf, &size, NULL), 0);
}
END_TEST

START_TEST(test_sign_no_eku_no_san) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_(x509_chain_done) X509Chain chain = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = new_key(GNUTLS_PK_ECDSA);
        _cleanup_free_ char *csr = csr_for(key, "bare", NULL, NULL);
        char buf[256];
        size_t size = sizeof buf;

        load_ca("ca.pem", "ca.key", &ca);
        sign_ok(&ca, csr, 1, &chain);
        ck_assert_int_eq(gnutls_x509_crt_get_key_purpose_oid(chain.certs[0], 0, buf, &size, NULL),
                         GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
        size = sizeof buf;
        ck_assert_int_eq(gnutls_x509_crt_get_subject_alt_name(chain.certs[0], 0, buf, &size, NULL),
                         GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
}
END_TEST

START_TEST(test_sign_rsa_key_usage) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_(x509_chain_done) X509Chain chain = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = new_key(GNUTLS_PK_RSA);
        _cleanup_free_ char *csr = csr_for(key, "rsa-node", EKU_BOTH, NULL);
        unsigned usage = 0, critical;

        load_ca("ca.pem", "ca.key", &ca);
        sign_ok(&ca, csr, 10, &chain);
        ck_assert_int_ge(gnutls_x509_crt_get_key_usage(chain.certs[0], &usage, &critical), 0);
        ck_assert_uint_eq(usage, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT);
}
END_TEST

/* A CSR that asks to be a CA (and for a critical key usage of its own) gets a node certificate. */
START_TEST(test_sign_ignores_ca_request) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_(x509_chain_done) X509Chain chain = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = new_key(GNUTLS_PK_ECDSA);
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        gnutls_x509_crq_t crq;
        gnutls_datum_t out = {};
        unsigned ca_flag = 1, critical, usage = 0;

        ck_assert_int_ge(gnutls_pubkey_init(&pub), 0);
        ck_assert_int_ge(gnutls_pubkey_import_privkey(pub, key, 0, 0), 0);
        ck_assert_int_ge(gnutls_x509_crq_init(&crq), 0);
        ck_assert_int_ge(gnutls_x509_crq_set_version(crq, 1), 0);
        ck_assert_int_ge(gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, "evil", 4), 0);
        ck_assert_int_ge(gnutls_x509_crq_set_basic_constraints(crq, 1, -1), 0);
        ck_assert_int_ge(gnutls_x509_crq_set_key_usage(crq, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN), 0);
        ck_assert_int_ge(gnutls_x509_crq_set_pubkey(crq, pub), 0);
        ck_assert_int_ge(gnutls_x509_crq_privkey_sign(crq, key, GNUTLS_DIG_SHA384, 0), 0);
        ck_assert_int_ge(gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &out), 0);
        gnutls_x509_crq_deinit(crq);
        _cleanup_free_ char *csr = strndup((char *) out.data, out.size);
        gnutls_free(out.data);

        load_ca("ca.pem", "ca.key", &ca);
        sign_ok(&ca, csr, 10, &chain);
        ck_assert_int_eq(gnutls_x509_crt_get_basic_constraints(chain.certs[0], &critical, &ca_flag, NULL), 0);
        ck_assert_uint_eq(ca_flag, 0);
        ck_assert_int_ge(gnutls_x509_crt_get_key_usage(chain.certs[0], &usage, &critical), 0);
        ck_assert_uint_eq(usage, GNUTLS_KEY_DIGITAL_SIGNATURE);
}
END_TEST

START_TEST(test_sign_serials_differ) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_(x509_chain_done) X509Chain a = {}, b = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = new_key(GNUTLS_PK_ECDSA);
        _cleanup_free_ char *csr = csr_for(key, "node1", EKU_BOTH, NULL);
        _cleanup_(x509_cert_info_done) X509CertInfo ia = {}, ib = {};

        load_ca("ca.pem", "ca.key", &ca);
        sign_ok(&ca, csr, 10, &a);
        sign_ok(&ca, csr, 10, &b);
        ck_assert_int_eq(x509_cert_info(a.certs[0], &ia), 0);
        ck_assert_int_eq(x509_cert_info(b.certs[0], &ib), 0);
        ck_assert_str_ne(ia.serial, ib.serial);
        ck_assert_uint_eq(strlen(ia.serial), 32);
}
END_TEST

START_TEST(test_sign_refusals) {
        _cleanup_(local_ca_done) LocalCa ca = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = new_key(GNUTLS_PK_ECDSA);
        _cleanup_free_ char *csr = csr_for(key, "node1", EKU_BOTH, NULL);
        _cleanup_free_ char *leaf = test_pki_path("leaf-both.pem");
        _cleanup_free_ char *cert_pem = test_read_file(leaf, NULL);
        char *pem = NULL, *reason = NULL;
        int r;

        load_ca("ca.pem", "ca.key", &ca);

        r = local_ca_sign(&ca, csr, 0, &pem, &reason);
        ck_assert_int_eq(r, -ERANGE);
        assert_reason(reason, "out of range");
        free(reason);
        r = local_ca_sign(&ca, csr, LOCAL_CA_DAYS_MAX + 1, &pem, &reason);
        ck_assert_int_eq(r, -ERANGE);
        free(reason);

        r = local_ca_sign(&ca, "not a csr", 10, &pem, &reason);
        ck_assert_int_eq(r, -EBADMSG);
        assert_reason(reason, "CSR");
        free(reason);

        /* A certificate is not a request. */
        r = local_ca_sign(&ca, cert_pem, 10, &pem, &reason);
        ck_assert_int_eq(r, -EBADMSG);
        free(reason);

        /* A request whose signature is broken: flip a character of the base64 near its end. */
        _cleanup_free_ char *bad = strdup(csr);
        char *end = strstr(bad, "-----END");
        ck_assert_ptr_nonnull(end);
        char *c = end - 8;
        *c = *c == 'A' ? 'B' : 'A';
        r = local_ca_sign(&ca, bad, 10, &pem, &reason);
        ck_assert_int_eq(r, -EBADMSG);
        free(reason);
        ck_assert_ptr_null(pem);
}
END_TEST

static Suite *local_ca_suite(void) {
        Suite *s = suite_create("local-ca");
        TCase *tc = tcase_create("local-ca");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_load_root_and_intermediate);
        tcase_add_test(tc, test_load_key_url);
        tcase_add_test(tc, test_load_refusals);
        tcase_add_test(tc, test_sign_verifies);
        tcase_add_test(tc, test_sign_copies_extensions);
        tcase_add_test(tc, test_sign_no_eku_no_san);
        tcase_add_test(tc, test_sign_rsa_key_usage);
        tcase_add_test(tc, test_sign_ignores_ca_request);
        tcase_add_test(tc, test_sign_serials_differ);
        tcase_add_test(tc, test_sign_refusals);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(local_ca_suite());
}
