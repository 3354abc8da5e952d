/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The module logic (services/certd/module.c) against the real backends: every test runs once
 * with the sw backend and once with SoftHSM2 (pkcs11). */

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <time.h>

#include "cert-store.h"
#include "db.h"
#include "macro.h"
#include "module.h"
#include "password.h"
#include "test-util.h"

#define PW "factory-secret"

typedef struct Fixture {
        char *dir;
        CertdConfig certd;
        ModuleConfig mc[2]; /* "iam" and "sm", same storage */
        X509Chain roots;
        sqlite3 *db;
        CertModule *mod[2];
} Fixture;

static Fixture fx;

static uint64_t now_usec(void) {
        return (uint64_t) time(NULL) * USEC_PER_SEC;
}

static void fixture_setup(int plugin, unsigned max_items) {
        char path[512];
        _cleanup_free_ char *why = NULL;

        memset(&fx, 0, sizeof fx);
        setenv("AOS_PBKDF2_ITERATIONS", "1000", 1);
        fx.dir = test_tmpdir();
        const char *lib = test_softhsm_setup(fx.dir);

        snprintf(path, sizeof path, "%s/certs", fx.dir);
        fx.certd.storage_dir = strdup(path);
        fx.certd.ca_cert = test_pki_path("ca.pem");
        snprintf(path, sizeof path, "%s/certd.db", fx.dir);
        fx.certd.database = strdup(path);

        static const char *types[2] = { "iam", "sm" };
        for (int i = 0; i < 2; i++) {
                ModuleConfig *c = &fx.mc[i];
                c->type = strdup(types[i]);
                c->plugin = plugin;
                c->algorithm = KEY_ALGORITHM_ECDSA;
                c->max_items = max_items;
                ck_assert_int_eq(strv_split_whitespace("clientAuth", &c->extended_key_usage), 0);
                ck_assert_int_eq(strv_split_whitespace("node.local", &c->alternative_names), 0);
                c->pkcs11_library = strdup(lib);
                c->token_label = strdup("aostest");
                snprintf(path, sizeof path, "%s/aostest.pin", fx.dir);
                c->user_pin_file = strdup(path);
        }
        fx.certd.modules = fx.mc;
        fx.certd.n_modules = 2;

        ck_assert_int_eq(x509_chain_load_file(fx.certd.ca_cert, &fx.roots, &why), 0);
        ck_assert_int_eq(cert_store_open(fx.certd.database, &fx.db), 0);
        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(cert_module_new(&fx.mc[i], &fx.certd, &fx.roots, fx.db, &fx.mod[i]), 0);
                ck_assert_ptr_nonnull(fx.mod[i]->backend);
        }
}

static void fixture_teardown(void) {
        for (int i = 0; i < 2; i++) {
                cert_module_free(fx.mod[i]);
                ModuleConfig *c = &fx.mc[i];
                free(c->type);
                strv_free(c->extended_key_usage);
                strv_free(c->alternative_names);
                free(c->pkcs11_library);
                free(c->token_label);
                free(c->user_pin_file);
        }
        db_close(fx.db);
        x509_chain_done(&fx.roots);
        free(fx.certd.storage_dir);
        free(fx.certd.ca_cert);
        free(fx.certd.database);
        test_rm_rf(fx.dir);
        free(fx.dir);
}

/* Signs csr_pem with the test intermediate; NotAfter = now + days. Returns leaf + intermediate. */
static char *sign_csr(const char *csr_pem, int days, const char *eku_oid) {
        gnutls_x509_crq_t crq;
        gnutls_x509_crt_t crt, ca;
        gnutls_x509_privkey_t ca_key;
        _cleanup_free_ char *ca_path = test_pki_path("intermediate.pem"), *key_path = test_pki_path("intermediate.key");
        size_t ca_size, key_size;
        _cleanup_free_ char *ca_pem = test_read_file(ca_path, &ca_size), *key_pem = test_read_file(key_path, &key_size);
        gnutls_datum_t d;

        ck_assert_int_eq(gnutls_x509_crq_init(&crq), 0);
        d = (gnutls_datum_t) { (unsigned char *) csr_pem, (unsigned) strlen(csr_pem) };
        ck_assert_int_eq(gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM), 0);
        ck_assert_int_eq(gnutls_x509_crt_init(&ca), 0);
        d = (gnutls_datum_t) { (unsigned char *) ca_pem, (unsigned) ca_size };
        ck_assert_int_eq(gnutls_x509_crt_import(ca, &d, GNUTLS_X509_FMT_PEM), 0);
        ck_assert_int_eq(gnutls_x509_privkey_init(&ca_key), 0);
        d = (gnutls_datum_t) { (unsigned char *) key_pem, (unsigned) key_size };
        ck_assert_int_eq(gnutls_x509_privkey_import(ca_key, &d, GNUTLS_X509_FMT_PEM), 0);

        ck_assert_int_eq(gnutls_x509_crt_init(&crt), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_crq(crt, crq), 0);
        if (eku_oid)
                ck_assert_int_eq(gnutls_x509_crt_set_key_purpose_oid(crt, eku_oid, 0), 0);
        else
                ck_assert_int_eq(gnutls_x509_crt_set_crq_extensions(crt, crq), 0);
        unsigned char serial[16];
        ck_assert_int_eq(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial), 0);
        serial[0] = (serial[0] & 0x7f) | 0x01;
        ck_assert_int_eq(gnutls_x509_crt_set_serial(crt, serial, sizeof serial), 0);
        time_t now = time(NULL);
        ck_assert_int_eq(gnutls_x509_crt_set_activation_time(crt, now - 60), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_expiration_time(crt, now + (time_t) days * 86400), 0);
        ck_assert_int_eq(gnutls_x509_crt_set_version(crt, 3), 0);
        ck_assert_int_eq(gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA384, 0), 0);

        gnutls_datum_t out;
        ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out), 0);
        char *chain;
        ck_assert_int_ge(asprintf(&chain, "%.*s%s", (int) out.size, out.data, ca_pem), 0);
        gnutls_free(out.data);
        gnutls_x509_crt_deinit(crt);
        gnutls_x509_crt_deinit(ca);
        gnutls_x509_privkey_deinit(ca_key);
        gnutls_x509_crq_deinit(crq);
        return chain;
}

static char *new_csr(int idx) {
        char *csr = NULL, *why = NULL;
        int r = cert_module_create_key(fx.mod[idx], "node1", PW, &csr, &why);
        ck_assert_msg(r == 0, "create_key: %d %s", r, strna(why));
        free(why);
        return csr;
}

static int apply(int idx, const char *chain, CertRecord *ret) {
        char *why = NULL;
        CertRecord rec = {};
        int r = cert_module_apply_cert(fx.mod[idx], chain, strlen(chain), now_usec(), &rec, &why);
        free(why);
        if (r >= 0 && ret)
                *ret = rec;
        else
                cert_record_done(&rec);
        return r;
}

static size_t count_certs(const char *type) {
        CertRecord *r = NULL;
        size_t n = 0;
        ck_assert_int_eq(cert_store_list(fx.db, type, &r, &n), 0);
        cert_records_free(r, n);
        return n;
}

static size_t count_objects(int idx, BackendObjectKind kind) {
        BackendObject *o = NULL;
        size_t n = 0, k = 0;
        CertBackend *b = fx.mod[idx]->backend;
        ck_assert_int_eq(b->vtable->list(b, &o, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (o[i].kind == kind)
                        k++;
        backend_objects_free(o, n);
        return k;
}

static int plugin_of(int loop) {
        return loop == 0 ? MODULE_PLUGIN_SW : MODULE_PLUGIN_PKCS11;
}

START_TEST(test_owner_and_password) {
        char *csr = NULL, *why = NULL;
        fixture_setup(plugin_of(_i), 2);

        ck_assert_int_eq(cert_module_create_key(fx.mod[0], "node1", PW, &csr, &why), -EPERM);
        ck_assert_ptr_nonnull(strstr(why, "SetOwner"));
        free(why), why = NULL;

        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);
        ck_assert_int_eq(cert_module_set_owner(fx.mod[1], PW, &why), 0);
        ck_assert_int_eq(cert_module_create_key(fx.mod[0], "node1", "wrong", &csr, &why), -EACCES);
        ck_assert_ptr_null(strstr(why, PW));
        free(why), why = NULL;

        csr = new_csr(0);
        ck_assert_ptr_nonnull(strstr(csr, "BEGIN NEW CERTIFICATE REQUEST"));
        _cleanup_free_ char *chain = sign_csr(csr, 30, NULL);
        ck_assert_int_eq(apply(0, chain, NULL), 1);

        /* Owned with another password and holding a certificate: refused, nothing lost. */
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], "another", &why), -EACCES);
        free(why), why = NULL;
        ck_assert_uint_eq(count_certs("iam"), 1);
        /* The same password again is fine and keeps everything. */
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);
        ck_assert_uint_eq(count_certs("iam"), 1);
        free(csr);
        fixture_teardown();
}
END_TEST

START_TEST(test_apply_and_repeat) {
        char *why = NULL;
        fixture_setup(plugin_of(_i), 2);
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);

        _cleanup_free_ char *csr = new_csr(0);
        _cleanup_free_ char *chain = sign_csr(csr, 30, NULL);
        CertRecord rec = {};
        ck_assert_int_eq(apply(0, chain, &rec), 1);
        ck_assert_str_eq(rec.type, "iam");
        ck_assert_ptr_nonnull(strstr(rec.info.subject, "node1"));
        ck_assert_uint_eq(strlen(rec.info.fingerprint), 64);
        /* A repeated call answers with the same certificate and stores nothing twice. */
        CertRecord again = {};
        ck_assert_int_eq(apply(0, chain, &again), 0);
        ck_assert_str_eq(again.info.serial, rec.info.serial);
        ck_assert_uint_eq(count_certs("iam"), 1);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_CERT), 1);
        cert_record_done(&rec);
        cert_record_done(&again);
        fixture_teardown();
}
END_TEST

START_TEST(test_trim_keeps_newest) {
        char *why = NULL;
        fixture_setup(plugin_of(_i), 2);
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);

        int days[] = { 30, 60, 90, 10 };
        char *serials[4] = {};
        for (int i = 0; i < 4; i++) {
                _cleanup_free_ char *csr = new_csr(0);
                _cleanup_free_ char *chain = sign_csr(csr, days[i], NULL);
                CertRecord rec = {};
                ck_assert_int_eq(apply(0, chain, &rec), 1);
                serials[i] = strdup(rec.info.serial);
                cert_record_done(&rec);
        }
        /* After 30, 60, 90: 60 and 90 left. Then 10 is applied: it stays (never the one just
         * applied), and the earliest of the others (60) goes. */
        CertRecord *recs = NULL;
        size_t n = 0;
        ck_assert_int_eq(cert_store_list(fx.db, "iam", &recs, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(recs[0].info.serial, serials[3]);
        ck_assert_str_eq(recs[1].info.serial, serials[2]);
        cert_records_free(recs, n);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_CERT), 2);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_KEY), 2);
        for (int i = 0; i < 4; i++)
                free(serials[i]);
        fixture_teardown();
}
END_TEST

START_TEST(test_pending_limit_and_mismatch) {
        char *why = NULL;
        fixture_setup(plugin_of(_i), 2);
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);
        ck_assert_int_eq(cert_module_set_owner(fx.mod[1], PW, &why), 0);

        char *csrs[CERT_MODULE_PENDING_MAX + 1];
        for (int i = 0; i <= CERT_MODULE_PENDING_MAX; i++)
                csrs[i] = new_csr(0);
        PendingKey *p = NULL;
        size_t n = 0;
        ck_assert_int_eq(pending_key_list(fx.db, "iam", &p, &n), 0);
        ck_assert_uint_eq(n, CERT_MODULE_PENDING_MAX);
        pending_keys_free(p, n);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_KEY), CERT_MODULE_PENDING_MAX);

        /* The oldest key is gone: its certificate matches nothing. */
        _cleanup_free_ char *old = sign_csr(csrs[0], 30, NULL);
        ck_assert_int_eq(apply(0, old, NULL), -ENOKEY);
        /* A certificate for another module's key is refused too. */
        _cleanup_free_ char *csr_sm = new_csr(1);
        _cleanup_free_ char *chain_sm = sign_csr(csr_sm, 30, NULL);
        ck_assert_int_eq(apply(0, chain_sm, NULL), -ENOKEY);
        ck_assert_int_eq(apply(1, chain_sm, NULL), 1);
        /* The newest works. */
        _cleanup_free_ char *newest = sign_csr(csrs[CERT_MODULE_PENDING_MAX], 30, NULL);
        ck_assert_int_eq(apply(0, newest, NULL), 1);
        for (int i = 0; i <= CERT_MODULE_PENDING_MAX; i++)
                free(csrs[i]);
        fixture_teardown();
}
END_TEST

START_TEST(test_bad_chains) {
        char *why = NULL;
        fixture_setup(plugin_of(_i), 2);
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);
        _cleanup_free_ char *csr = new_csr(0);

        /* Required EKU missing (the module asks for clientAuth, the CA gives serverAuth only). */
        _cleanup_free_ char *wrong_eku = sign_csr(csr, 30, "1.3.6.1.5.5.7.3.1");
        ck_assert_int_eq(apply(0, wrong_eku, NULL), -EKEYREJECTED);
        ck_assert_int_eq(apply(0, "garbage", NULL), -EBADMSG);

        static const char *bad[] = { "leaf-other-chain.pem", "broken-sig-chain.pem", "cyclic-chain.pem" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *path = test_pki_path(bad[i]);
                _cleanup_free_ char *pem = test_read_file(path, NULL);
                ck_assert_int_eq(apply(0, pem, NULL), -EKEYREJECTED);
        }
        _cleanup_free_ char *path = test_pki_path("leaf-expired-chain.pem");
        _cleanup_free_ char *pem = test_read_file(path, NULL);
        ck_assert_int_eq(apply(0, pem, NULL), -EKEYEXPIRED);
        /* Nothing was stored along the way. */
        ck_assert_uint_eq(count_certs("iam"), 0);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_CERT), 0);
        fixture_teardown();
}
END_TEST

START_TEST(test_clear_only_own_type) {
        char *why = NULL;
        fixture_setup(plugin_of(_i), 2);
        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(cert_module_set_owner(fx.mod[i], PW, &why), 0);
                _cleanup_free_ char *csr = new_csr(i);
                _cleanup_free_ char *chain = sign_csr(csr, 30, NULL);
                ck_assert_int_eq(apply(i, chain, NULL), 1);
        }
        _cleanup_free_ char *pending = new_csr(1);
        ck_assert_int_eq(cert_module_clear(fx.mod[0], &why), 0);
        ck_assert_uint_eq(count_certs("iam"), 0);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_CERT) + count_objects(0, BACKEND_OBJECT_KEY), 0);
        ck_assert_uint_eq(count_certs("sm"), 1);
        ck_assert_uint_eq(count_objects(1, BACKEND_OBJECT_CERT), 1);
        ck_assert_uint_eq(count_objects(1, BACKEND_OBJECT_KEY), 2);
        /* Ownership again on the shared storage (same password) keeps the other module's objects. */
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);
        ck_assert_uint_eq(count_objects(1, BACKEND_OBJECT_KEY), 2);
        fixture_teardown();
}
END_TEST

START_TEST(test_reconcile) {
        char *why = NULL;
        ReconcileStats st;
        fixture_setup(plugin_of(_i), 5);
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);
        CertRecord a = {}, b = {};
        for (int i = 0; i < 2; i++) {
                _cleanup_free_ char *csr = new_csr(0);
                _cleanup_free_ char *chain = sign_csr(csr, 30 + i, NULL);
                ck_assert_int_eq(apply(0, chain, i == 0 ? &a : &b), 1);
        }
        _cleanup_free_ char *pending_csr = new_csr(0);

        /* Nothing to do on a consistent module. */
        ck_assert_int_eq(cert_module_reconcile(fx.mod[0], &st), 0);
        ck_assert_uint_eq(st.rows_added + st.rows_removed + st.objects_removed + st.pending_removed, 0);

        /* A lost row comes back, a bogus row goes. */
        ck_assert_int_eq(cert_store_remove(fx.db, "iam", a.cert_url), 1);
        CertRecord bogus = b;
        bogus.cert_url = (char *) "file:/nonexistent";
        bogus.info.serial = (char *) "0badc0de";
        ck_assert_int_eq(cert_store_add(fx.db, &bogus), 0);
        ck_assert_int_eq(cert_module_reconcile(fx.mod[0], &st), 0);
        ck_assert_uint_eq(st.rows_added, 1);
        ck_assert_uint_eq(st.rows_removed, 1);
        ck_assert_uint_eq(count_certs("iam"), 2);

        /* An orphan key (made behind the module's back) goes; the pending key stays. */
        _cleanup_free_ char *url = NULL, *id = NULL;
        CertBackend *be = fx.mod[0]->backend;
        ck_assert_int_eq(be->vtable->create_key(be, &url, &id), 0);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_KEY), 4);
        ck_assert_int_eq(cert_module_reconcile(fx.mod[0], &st), 0);
        ck_assert_uint_eq(st.objects_removed, 1);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_KEY), 3);
        PendingKey *p = NULL;
        size_t n = 0;
        ck_assert_int_eq(pending_key_list(fx.db, "iam", &p, &n), 0);
        ck_assert_uint_eq(n, 1);
        pending_keys_free(p, n);

        /* A certificate whose key vanished is dropped with its record. */
        ck_assert_int_eq(be->vtable->remove_key(be, b.key_url), 0);
        ck_assert_int_eq(cert_module_reconcile(fx.mod[0], &st), 0);
        ck_assert_uint_eq(st.rows_removed, 1);
        ck_assert_uint_eq(count_certs("iam"), 1);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_CERT), 1);

        cert_record_done(&a);
        cert_record_done(&b);
        fixture_teardown();
}
END_TEST

START_TEST(test_self_signed) {
        char *why = NULL;
        CertRecord rec = {};
        fixture_setup(plugin_of(_i), 1);
        ck_assert_int_eq(cert_module_create_self_signed(fx.mod[0], "node1", PW, &rec, &why), -EOPNOTSUPP);
        free(why), why = NULL;
        fx.mc[0].self_signed = true;
        ck_assert_int_eq(cert_module_set_owner(fx.mod[0], PW, &why), 0);
        ck_assert_int_eq(cert_module_create_self_signed(fx.mod[0], "node1", PW, &rec, &why), 0);
        ck_assert_str_eq(rec.info.subject, rec.info.issuer);
        cert_record_done(&rec);
        /* MaxItems=1: a second one replaces the first. */
        ck_assert_int_eq(cert_module_create_self_signed(fx.mod[0], "node1", PW, &rec, &why), 0);
        cert_record_done(&rec);
        ck_assert_uint_eq(count_certs("iam"), 1);
        ck_assert_uint_eq(count_objects(0, BACKEND_OBJECT_KEY), 1);
        fixture_teardown();
}
END_TEST

static Suite *module_suite(void) {
        Suite *s = suite_create("certd module");
        TCase *tc = tcase_create("module");
        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, test_owner_and_password, 0, 2);
        tcase_add_loop_test(tc, test_apply_and_repeat, 0, 2);
        tcase_add_loop_test(tc, test_trim_keeps_newest, 0, 2);
        tcase_add_loop_test(tc, test_pending_limit_and_mismatch, 0, 2);
        tcase_add_loop_test(tc, test_bad_chains, 0, 2);
        tcase_add_loop_test(tc, test_clear_only_own_type, 0, 2);
        tcase_add_loop_test(tc, test_reconcile, 0, 2);
        tcase_add_loop_test(tc, test_self_signed, 0, 2);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(module_suite());
}
