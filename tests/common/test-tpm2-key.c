/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tpm2: key URLs and their opener against swtpm (one fresh swtpm per test, not owned): signing
 * with every scheme gnutls asks for, CSRs and certificates with the public key given, and TLS
 * handshakes with the server key in the TPM. */

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keyurl.h"
#include "macro.h"
#include "test-util.h"
#include "tpm-util.h"
#include "tpm2-key.h"
#include "x509.h"

#define EC_HANDLE 0x81410a00u
#define RSA_HANDLE 0x81410a01u

static char *dir;
static TestSwtpm tpm;

static void setup(void) {
        dir = test_tmpdir();
        test_swtpm_start(&tpm, dir);
}

static void teardown(void) {
        test_swtpm_done(&tpm);
        test_rm_rf(dir);
        free(dir);
        dir = NULL;
}

static char *url_of(uint32_t handle) {
        char *u = NULL;
        ck_assert_int_eq(tpm2_url_format(handle, tpm.tcti, &u), 0);
        return u;
}

static gnutls_privkey_t open_key(uint32_t handle) {
        _cleanup_free_ char *u = url_of(handle);
        gnutls_privkey_t k = NULL;
        ck_assert_int_eq(keyurl_open_privkey(u, &k), 0);
        return k;
}

static gnutls_pubkey_t open_pub(uint32_t handle) {
        _cleanup_free_ char *u = url_of(handle);
        gnutls_pubkey_t p = NULL;
        ck_assert_int_eq(keyurl_open_pubkey(u, &p), 0);
        return p;
}

/* ---- URLs --------------------------------------------------------------------------------- */

START_TEST(test_url_roundtrip) {
        _cleanup_(tpm2_url_done) Tpm2Url u = {};
        _cleanup_free_ char *s = NULL, *s2 = NULL, *s3 = NULL;

        ck_assert_int_eq(tpm2_url_format(0x81410203, "swtpm:path=/run/a b/x&y%z#?", &s), 0);
        ck_assert_str_eq(s, "tpm2:handle=0x81410203?tcti=swtpm:path=/run/a%20b/x%26y%25z%23%3F");
        ck_assert_int_eq(tpm2_url_parse(s, &u), 0);
        ck_assert_uint_eq(u.handle, 0x81410203);
        ck_assert_str_eq(u.tcti, "swtpm:path=/run/a b/x&y%z#?");
        tpm2_url_done(&u);

        /* No tcti: the kernel's resource manager. */
        ck_assert_int_eq(tpm2_url_format(0x81000001, NULL, &s2), 0);
        ck_assert_str_eq(s2, "tpm2:handle=0x81000001");
        ck_assert_int_eq(tpm2_url_parse(s2, &u), 0);
        ck_assert_str_eq(u.tcti, TPM2_DEFAULT_TCTI);
        tpm2_url_done(&u);
        ck_assert_int_eq(tpm2_url_parse("TPM2:handle=0X8141ABCD?tcti=device:/dev/tpmrm0", &u), 0);
        ck_assert_uint_eq(u.handle, 0x8141abcd);
        tpm2_url_done(&u);

        ck_assert_int_eq(tpm2_url_format(0x80000001, NULL, &s3), -EINVAL); /* transient */

        static const char *const bad[] = {
                "tpm2:", "tpm2:handle=", "tpm2:handle=81410203", "tpm2:handle=0x8141020", "tpm2:handle=0x814102030",
                "tpm2:handle=0x80000001", "tpm2:handle=0x01000001", "tpm2:handle=0x8141020g", "tpm2:handle=0x81410203?",
                "tpm2:handle=0x81410203?tcti=", "tpm2:handle=0x81410203?tcti=a&b=c", "tpm2:handle=0x81410203?foo=bar",
                "tpm2:handle=0x81410203?tcti=a%2", "tpm2:handle=0x81410203?tcti=a%00", "tpm2:handle=0x81410203?tcti=a b",
                "tpm2:handle=0x81410203;x", "pkcs11:handle=0x81410203", "tpm2:object=x",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(tpm2_url_parse(bad[i], &u) == -EINVAL, "%s", bad[i]);
}
END_TEST

/* ---- opening ------------------------------------------------------------------------------- */

START_TEST(test_register) {
        gnutls_privkey_t k = NULL;
        gnutls_pubkey_t p = NULL;
        _cleanup_free_ char *u = url_of(EC_HANDLE);

        test_tpm_persist_key(&tpm, "", false, EC_HANDLE);
        keyurl_register(KEY_URL_TPM2, NULL, NULL);
        keyurl_register_pubkey(KEY_URL_TPM2, NULL);
        ck_assert_int_eq(keyurl_open_privkey(u, &k), -EPROTONOSUPPORT);
        ck_assert_int_eq(keyurl_open_pubkey(u, &p), -EPROTONOSUPPORT);

        tpm2_key_register();
        tpm2_key_register();
        ck_assert_int_eq(keyurl_open_privkey(u, &k), 0);
        ck_assert_int_eq(keyurl_open_pubkey(u, &p), 0);
        gnutls_privkey_deinit(k);
        gnutls_pubkey_deinit(p);
}
END_TEST

START_TEST(test_open_errors) {
        _cleanup_free_ char *missing = url_of(EC_HANDLE), *unreachable = NULL, *srk = url_of(0x81000001);
        gnutls_privkey_t k = NULL;
        gnutls_pubkey_t p = NULL;

        tpm2_key_register();
        ck_assert_int_eq(keyurl_open_privkey(missing, &k), -ENOKEY);
        ck_assert_int_eq(keyurl_open_pubkey(missing, &p), -ENOKEY);

        ck_assert_int_eq(tpm2_url_format(EC_HANDLE, "swtpm:path=/nonexistent/tpm.sock", &unreachable), 0);
        ck_assert_int_eq(keyurl_open_privkey(unreachable, &k), -ENODEV);
        ck_assert_int_eq(keyurl_open_pubkey(unreachable, &p), -ENODEV);
        ck_assert_int_eq(tpm2_key_open_privkey("tpm2:handle=0x8141000?", &k), -EINVAL);

        /* A storage key is no signing key. */
        TPM2B_PUBLIC t = {
                .publicArea = {
                        .type = TPM2_ALG_ECC,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                            TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                            TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
                        .parameters.eccDetail = {
                                .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                                .scheme = { .scheme = TPM2_ALG_NULL },
                                .curveID = TPM2_ECC_NIST_P256,
                                .kdf = { .scheme = TPM2_ALG_NULL },
                        },
                },
        };
        Tpm2Connection c = {};
        ESYS_TR primary, out;
        test_tpm_connect(&tpm, &c);
        ck_assert_int_eq(Esys_CreatePrimary(c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                            &(TPM2B_SENSITIVE_CREATE) {}, &t, NULL, &(TPML_PCR_SELECTION) {}, &primary,
                                            NULL, NULL, NULL, NULL), TSS2_RC_SUCCESS);
        ck_assert_int_eq(Esys_EvictControl(c.esys, ESYS_TR_RH_OWNER, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                           ESYS_TR_NONE, 0x81000001, &out), TSS2_RC_SUCCESS);
        ck_assert_int_eq(Esys_FlushContext(c.esys, primary), TSS2_RC_SUCCESS);
        tpm2_disconnect(&c);
        ck_assert_int_eq(keyurl_open_privkey(srk, &k), -EOPNOTSUPP);
        ck_assert_int_eq(keyurl_open_pubkey(srk, &p), -EOPNOTSUPP);
}
END_TEST

static void check_sign(gnutls_privkey_t k, gnutls_pubkey_t p, gnutls_sign_algorithm_t algo) {
        gnutls_datum_t data = { (unsigned char *) "to be signed", 12 }, sig = {};

        ck_assert_msg(gnutls_privkey_sign_data2(k, algo, 0, &data, &sig) >= 0, "%s", gnutls_sign_get_name(algo));
        ck_assert_msg(gnutls_pubkey_verify_data2(p, algo, 0, &data, &sig) >= 0, "%s", gnutls_sign_get_name(algo));
        /* Not a signature of anything else. */
        data.size--;
        ck_assert_int_lt(gnutls_pubkey_verify_data2(p, algo, 0, &data, &sig), 0);
        gnutls_free(sig.data);
}

START_TEST(test_sign_ecdsa) {
        tpm2_key_register();
        test_tpm_persist_key(&tpm, "", false, EC_HANDLE);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = open_key(EC_HANDLE);
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t p = open_pub(EC_HANDLE);
        unsigned bits = 0;

        ck_assert_int_eq(gnutls_privkey_get_pk_algorithm(k, &bits), GNUTLS_PK_ECDSA);
        ck_assert_uint_eq(bits, 384);
        ck_assert_int_eq(gnutls_pubkey_get_pk_algorithm(p, &bits), GNUTLS_PK_ECDSA);
        check_sign(k, p, GNUTLS_SIGN_ECDSA_SHA384);
        check_sign(k, p, GNUTLS_SIGN_ECDSA_SHA256);
        check_sign(k, p, GNUTLS_SIGN_ECDSA_SHA512);
        check_sign(k, p, GNUTLS_SIGN_ECDSA_SECP384R1_SHA384);

        /* RSA schemes, SHA-1 and TLS 1.3's schemes for other curves are refused, not attempted. */
        gnutls_datum_t data = { (unsigned char *) "x", 1 }, sig = {};
        ck_assert_int_lt(gnutls_privkey_sign_data2(k, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig), 0);
        ck_assert_int_lt(gnutls_privkey_sign_data2(k, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, &data, &sig), 0);
        ck_assert_int_lt(gnutls_privkey_sign_data2(k, GNUTLS_SIGN_ECDSA_SHA1, 0, &data, &sig), 0);
}
END_TEST

START_TEST(test_sign_rsa) {
        tpm2_key_register();
        test_tpm_persist_key(&tpm, "", true, RSA_HANDLE);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = open_key(RSA_HANDLE);
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t p = open_pub(RSA_HANDLE);
        unsigned bits = 0;

        ck_assert_int_eq(gnutls_privkey_get_pk_algorithm(k, &bits), GNUTLS_PK_RSA);
        ck_assert_uint_eq(bits, 2048);
        check_sign(k, p, GNUTLS_SIGN_RSA_SHA256);
        check_sign(k, p, GNUTLS_SIGN_RSA_SHA384);
        check_sign(k, p, GNUTLS_SIGN_RSA_SHA512);
        check_sign(k, p, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256);
        check_sign(k, p, GNUTLS_SIGN_RSA_PSS_RSAE_SHA384);

        gnutls_datum_t data = { (unsigned char *) "x", 1 }, sig = {};
        ck_assert_int_lt(gnutls_privkey_sign_data2(k, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig), 0);
        ck_assert_int_lt(gnutls_privkey_sign_data2(k, GNUTLS_SIGN_RSA_SHA1, 0, &data, &sig), 0);
}
END_TEST

START_TEST(test_sign_checks_the_key) {
        tpm2_key_register();
        test_tpm_persist_key(&tpm, "", false, EC_HANDLE);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = open_key(EC_HANDLE);
        gnutls_datum_t data = { (unsigned char *) "x", 1 }, sig = {};

        /* Another key at the same handle by the time of the signature: no signature. */
        test_tpm_evict(&tpm, "", EC_HANDLE);
        ck_assert_int_lt(gnutls_privkey_sign_data2(k, GNUTLS_SIGN_ECDSA_SHA384, 0, &data, &sig), 0);
        test_tpm_persist_key(&tpm, "", false, EC_HANDLE);
        ck_assert_int_lt(gnutls_privkey_sign_data2(k, GNUTLS_SIGN_ECDSA_SHA384, 0, &data, &sig), 0);
        ck_assert_ptr_null(sig.data);

        /* The TPM gone: no signature either, and no hang. */
        test_swtpm_stop(&tpm);
        ck_assert_int_lt(gnutls_privkey_sign_data2(k, GNUTLS_SIGN_ECDSA_SHA384, 0, &data, &sig), 0);
}
END_TEST

/* ---- x509 with the public key given -------------------------------------------------------- */

static void check_x509(bool rsa) {
        uint32_t h = rsa ? RSA_HANDLE : EC_HANDLE;
        tpm2_key_register();
        test_tpm_persist_key(&tpm, "", rsa, h);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = open_key(h);
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t p = open_pub(h);
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        _cleanup_(gnutls_x509_crq_deinitp) gnutls_x509_crq_t crq = NULL;
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        _cleanup_free_ char *csr = NULL, *key_id = NULL, *none = NULL;
        char *eku[] = { (char *) "serverAuth", (char *) "clientAuth", NULL };
        char *dns[] = { (char *) "node.local", NULL };

        /* gnutls alone cannot do it: the key is callbacks only. */
        ck_assert_int_eq(x509_privkey_key_id(k, &none), -EOPNOTSUPP);
        ck_assert_int_eq(x509_make_csr(k, "node-1", eku, dns, &none), -EOPNOTSUPP);

        ck_assert_int_eq(x509_pubkey_key_id(p, &key_id), 0);
        ck_assert_int_eq(x509_make_csr_with_pubkey(k, p, "node-1", eku, dns, &csr), 0);
        ck_assert_int_ge(gnutls_x509_crq_init(&crq), 0);
        ck_assert_int_ge(gnutls_x509_crq_import(crq, &(gnutls_datum_t) { (unsigned char *) csr, strlen(csr) },
                                                GNUTLS_X509_FMT_PEM), 0);
        ck_assert_int_ge(gnutls_x509_crq_verify(crq, 0), 0);

        ck_assert_int_eq(x509_make_self_signed_with_pubkey(k, p, "node-1", eku, dns, 3600 * USEC_PER_SEC, &crt), 0);
        ck_assert_int_eq(x509_cert_info(crt, &info), 0);
        ck_assert_str_eq(info.key_id, key_id);
        ck_assert_str_eq(info.common_name, "node-1");
}

START_TEST(test_x509_ecdsa) {
        check_x509(false);
}
END_TEST

START_TEST(test_x509_rsa) {
        check_x509(true);
}
END_TEST

START_TEST(test_x509_mismatch) {
        tpm2_key_register();
        test_tpm_persist_key(&tpm, "", false, EC_HANDLE);
        test_tpm_persist_key(&tpm, "", false, EC_HANDLE + 1);
        test_tpm_persist_key(&tpm, "", true, RSA_HANDLE + 1);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = open_key(EC_HANDLE);
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t other = open_pub(EC_HANDLE + 1), rsa = open_pub(RSA_HANDLE + 1);
        gnutls_x509_crt_t crt = NULL;
        char *csr = NULL;

        /* A public key that is not the key's own is caught, whatever its algorithm. */
        ck_assert_int_eq(x509_make_csr_with_pubkey(k, other, "node-1", NULL, NULL, &csr), -EKEYREJECTED);
        ck_assert_int_eq(x509_make_csr_with_pubkey(k, rsa, "node-1", NULL, NULL, &csr), -EKEYREJECTED);
        ck_assert_int_eq(x509_make_self_signed_with_pubkey(k, other, "node-1", NULL, NULL, USEC_PER_SEC * 60, &crt),
                         -EKEYREJECTED);
        ck_assert_ptr_null(csr);
        ck_assert_ptr_null(crt);
}
END_TEST

/* ---- TLS ------------------------------------------------------------------------------------ */

/* A handshake between a gnutls client and a gnutls server whose key is in the TPM, both in this
 * thread over a non-blocking socketpair. Returns the signature algorithm the server used. */
static gnutls_sign_algorithm_t handshake(gnutls_privkey_t key, gnutls_x509_crt_t crt, const char *priority) {
        gnutls_certificate_credentials_t scred, ccred;
        gnutls_session_t server, client;
        int sv[2], rs = GNUTLS_E_AGAIN, rc = GNUTLS_E_AGAIN;
        unsigned status = 0;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);

        ck_assert_int_ge(gnutls_certificate_allocate_credentials(&scred), 0);
        {
                gnutls_pcert_st *pcert = gnutls_calloc(1, sizeof(gnutls_pcert_st));
                ck_assert_int_ge(gnutls_pcert_import_x509(pcert, crt, 0), 0);
                /* The credentials take the key and the certificate's contents; the array is
                 * copied. */
                ck_assert_int_ge(gnutls_certificate_set_key(scred, NULL, 0, pcert, 1, key), 0);
                gnutls_free(pcert);
        }
        ck_assert_int_ge(gnutls_certificate_allocate_credentials(&ccred), 0);
        ck_assert_int_ge(gnutls_certificate_set_x509_trust(ccred, &crt, 1), 1);

        ck_assert_int_ge(gnutls_init(&server, GNUTLS_SERVER | GNUTLS_NONBLOCK), 0);
        ck_assert_int_ge(gnutls_init(&client, GNUTLS_CLIENT | GNUTLS_NONBLOCK), 0);
        ck_assert_int_ge(gnutls_priority_set_direct(server, priority, NULL), 0);
        ck_assert_int_ge(gnutls_priority_set_direct(client, priority, NULL), 0);
        ck_assert_int_ge(gnutls_credentials_set(server, GNUTLS_CRD_CERTIFICATE, scred), 0);
        ck_assert_int_ge(gnutls_credentials_set(client, GNUTLS_CRD_CERTIFICATE, ccred), 0);
        ck_assert_int_ge(gnutls_server_name_set(client, GNUTLS_NAME_DNS, "node.local", strlen("node.local")), 0);
        gnutls_session_set_verify_cert(client, "node.local", 0);
        gnutls_transport_set_int(server, sv[0]);
        gnutls_transport_set_int(client, sv[1]);

        for (unsigned i = 0; i < 10000 && (rs != 0 || rc != 0); i++) {
                if (rc != 0) {
                        rc = gnutls_handshake(client);
                        ck_assert_msg(rc == 0 || gnutls_error_is_fatal(rc) == 0, "client: %s", gnutls_strerror(rc));
                }
                if (rs != 0) {
                        rs = gnutls_handshake(server);
                        ck_assert_msg(rs == 0 || gnutls_error_is_fatal(rs) == 0, "server: %s", gnutls_strerror(rs));
                }
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(rs, 0);
        status = gnutls_session_get_verify_cert_status(client);
        ck_assert_uint_eq(status, 0);

        gnutls_sign_algorithm_t used = gnutls_sign_algorithm_get(client);
        gnutls_deinit(server);
        gnutls_deinit(client);
        gnutls_certificate_free_credentials(scred);
        gnutls_certificate_free_credentials(ccred);
        close(sv[0]);
        close(sv[1]);
        return used;
}

static void check_tls(bool rsa, const char *priority, gnutls_sign_algorithm_t want) {
        uint32_t h = rsa ? RSA_HANDLE : EC_HANDLE;
        char *eku[] = { (char *) "serverAuth", NULL };
        char *dns[] = { (char *) "node.local", NULL };
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;

        tpm2_key_register();
        test_tpm_persist_key(&tpm, "", rsa, h);
        gnutls_privkey_t k = open_key(h); /* the credentials take it */
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t p = open_pub(h);
        ck_assert_int_eq(x509_make_self_signed_with_pubkey(k, p, "node-1", eku, dns, 3600 * USEC_PER_SEC, &crt), 0);

        gnutls_sign_algorithm_t used = handshake(k, crt, priority);
        ck_assert_msg(used == want, "%s: %s", priority, gnutls_sign_get_name(used));
}

START_TEST(test_tls13_ecdsa) {
        check_tls(false, "NORMAL:-VERS-ALL:+VERS-TLS1.3", GNUTLS_SIGN_ECDSA_SECP384R1_SHA384);
}
END_TEST

START_TEST(test_tls13_rsa_pss) {
        check_tls(true, "NORMAL:-VERS-ALL:+VERS-TLS1.3", GNUTLS_SIGN_RSA_PSS_RSAE_SHA256);
}
END_TEST

START_TEST(test_tls12_rsa) {
        check_tls(true, "NORMAL:-VERS-ALL:+VERS-TLS1.2:-SIGN-ALL:+SIGN-RSA-SHA256", GNUTLS_SIGN_RSA_SHA256);
}
END_TEST

START_TEST(test_tls12_ecdsa) {
        check_tls(false, "NORMAL:-VERS-ALL:+VERS-TLS1.2:-SIGN-ALL:+SIGN-ECDSA-SHA384", GNUTLS_SIGN_ECDSA_SHA384);
}
END_TEST

static Suite *tpm2_key_suite(void) {
        Suite *s = suite_create("tpm2 key");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_url_roundtrip);
        tcase_add_test(tc, test_register);
        tcase_add_test(tc, test_open_errors);
        tcase_add_test(tc, test_sign_ecdsa);
        tcase_add_test(tc, test_sign_rsa);
        tcase_add_test(tc, test_sign_checks_the_key);
        tcase_add_test(tc, test_x509_ecdsa);
        tcase_add_test(tc, test_x509_rsa);
        tcase_add_test(tc, test_x509_mismatch);
        tcase_add_test(tc, test_tls13_ecdsa);
        tcase_add_test(tc, test_tls13_rsa_pss);
        tcase_add_test(tc, test_tls12_rsa);
        tcase_add_test(tc, test_tls12_ecdsa);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        if (!test_swtpm_available()) {
                fprintf(stderr, "swtpm is not installed: skipping\n");
                return 77;
        }
        /* ESYS reports the TPM errors these tests provoke on purpose. */
        setenv("TSS2_LOG", "all+none", 0);
        return test_run_suite(tpm2_key_suite());
}
