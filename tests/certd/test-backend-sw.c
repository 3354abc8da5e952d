/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "backend-fixture.h"
#include "backend.h"
#include "fs.h"
#include "keyurl.h"
#include "macro.h"
#include "test-util.h"
#include "x509.h"

static char *dir, *storage;
static CertdConfig certd;
static ModuleConfig iam, sm;

static void setup(void) {
        dir = test_tmpdir();
        ck_assert_int_ge(asprintf(&storage, "%s/certs", dir), 0);
        certd = (CertdConfig) { .storage_dir = storage };
        iam = (ModuleConfig) {
                .type = (char *) "iam",
                .plugin = MODULE_PLUGIN_SW,
                .algorithm = KEY_ALGORITHM_ECDSA,
                .max_items = 2,
        };
        sm = iam;
        sm.type = (char *) "sm";
}

static void teardown(void) {
        test_rm_rf(dir);
        free(dir);
        free(storage);
        dir = storage = NULL;
}

static char *module_dir(const char *type) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/%s", storage, type), 0);
        return p;
}

/* ---- the fixture (backend-fixture.h) with this file's choices ------------------------------- */

static CertBackend *backend(const ModuleConfig *m) {
        return test_backend_new(m, &certd, "sw");
}

static size_t count_files(const char *type) {
        return test_count_files(storage, type);
}

static TestCA make_ca(void) {
        return test_ca_make("Test");
}

/* leaf, intermediate */
static X509Chain issue_chain(const TestCA *ca, const char *key_url) {
        return test_ca_issue(ca, key_url, "node-1", false);
}

static Item make_item(CertBackend *b, const TestCA *ca, bool with_cert) {
        return test_make_item(b, ca, with_cert, false);
}

static void assert_has(CertBackend *b, const Item *it) {
        test_assert_has(b, it, false);
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(test_set_owner_creates_dir) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_free_ char *d = module_dir("iam");

        ck_assert_int_eq(b->vtable->set_owner(b, "anything"), 0);
        ck_assert_int_eq(test_file_mode(d), 0700);
        /* An existing directory with a lax mode is tightened. */
        ck_assert_int_eq(chmod(d, 0755), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, "anything"), 0);
        ck_assert_int_eq(test_file_mode(d), 0700);

        BackendObject *o = NULL;
        size_t n = 1;
        ck_assert_int_eq(b->vtable->list(b, &o, &n), 0);
        ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_before_set_owner) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        BackendObject *o = NULL;
        size_t n = 1;

        ck_assert_int_eq(b->vtable->list(b, &o, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(b->vtable->clear(b), 0);
}
END_TEST

static void check_create_key(KeyAlgorithm algo, int pk) {
        iam.algorithm = algo;
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_(item_done) Item it = {};
        _cleanup_free_ char *path = NULL, *d = module_dir("iam"), *kid = NULL;
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;

        ck_assert_int_eq(b->vtable->set_owner(b, "x"), 0);
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        ck_assert_ptr_nonnull(startswith(it.key_url, "file:"));
        ck_assert_int_eq(file_url_path(it.key_url, &path), 0);
        ck_assert_int_eq(test_file_mode(path), 0600);
        ck_assert_int_eq(test_file_mode(d), 0700);

        /* <dir>/<32 hex>.key */
        const char *name = startswith(path, d);
        ck_assert_ptr_nonnull(name);
        ck_assert_uint_eq(strlen(name), 1 + 32 + 4);
        ck_assert_uint_eq(strspn(name + 1, "0123456789abcdef"), 32);
        ck_assert_str_eq(name + 33, ".key");

        _cleanup_free_ char *pem = test_read_file(path, NULL);
        ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN PRIVATE KEY-----"));

        ck_assert_int_eq(keyurl_open_privkey(it.key_url, &k), 0);
        ck_assert_int_eq(gnutls_privkey_get_pk_algorithm(k, NULL), pk);
        ck_assert_int_eq(x509_privkey_key_id(k, &kid), 0);
        ck_assert_str_eq(kid, it.key_id);
        assert_has(b, &it);
}

START_TEST(test_create_key_ecdsa) {
        check_create_key(KEY_ALGORITHM_ECDSA, GNUTLS_PK_ECDSA);
}
END_TEST

START_TEST(test_create_key_rsa) {
        check_create_key(KEY_ALGORITHM_RSA, GNUTLS_PK_RSA);
}
END_TEST

START_TEST(test_store_list_remove) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, "x"), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true), c = make_item(b, &ca, true), p = make_item(b, &ca, false);

        /* <id>.pem beside <id>.key, the chain inside. */
        _cleanup_free_ char *kp = NULL, *cp = NULL;
        ck_assert_int_eq(file_url_path(a.key_url, &kp), 0);
        ck_assert_int_eq(file_url_path(a.cert_url, &cp), 0);
        ck_assert_str_eq(cp + strlen(cp) - 4, ".pem");
        ck_assert_int_eq(test_file_mode(kp), 0600);
        ck_assert_int_eq(test_file_mode(cp), 0600);
        ck_assert_int_eq(strncmp(kp, cp, strlen(kp) - 4), 0);
        _cleanup_(x509_chain_done) X509Chain loaded = {};
        ck_assert_int_eq(certurl_load_chain(a.cert_url, &loaded), 0);
        ck_assert_uint_eq(loaded.n, 2);
        ck_assert(gnutls_x509_crt_equals(loaded.certs[1], ca.inter));

        Listing l = test_list(b, false);
        ck_assert_uint_eq(l.n, 5);
        const BackendObject *ac = find(&l, BACKEND_OBJECT_CERT, a.key_id);
        ck_assert_ptr_nonnull(ac);
        ck_assert_uint_eq(ac->chain.n, 2);
        ck_assert_ptr_null(find(&l, BACKEND_OBJECT_CERT, p.key_id));
        ck_assert_ptr_nonnull(find(&l, BACKEND_OBJECT_KEY, p.key_id));
        listing_done(&l);

        ck_assert_int_eq(b->vtable->remove_cert(b, a.cert_url), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);
        ck_assert_int_eq(access(kp, F_OK), -1);
        ck_assert_int_eq(access(cp, F_OK), -1);
        /* Gone already: done. */
        ck_assert_int_eq(b->vtable->remove_cert(b, a.cert_url), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);
        ck_assert_uint_eq(count_files("iam"), 3);
        assert_has(b, &c);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_refuses_foreign_paths) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, "x"), 0);
        ck_assert_int_eq(s->vtable->set_owner(s, "x"), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true);
        _cleanup_free_ char *evil = NULL, *evil2 = NULL, *victim = NULL;

        ck_assert_int_eq(s->vtable->remove_key(s, a.key_url), -EINVAL);
        ck_assert_int_eq(s->vtable->remove_cert(s, a.cert_url), -EINVAL);
        ck_assert_int_eq(b->vtable->remove_key(b, a.cert_url), -EINVAL); /* a .pem is not a key */
        ck_assert_int_eq(b->vtable->remove_key(b, "file:/etc/passwd"), -EINVAL);
        ck_assert_int_eq(b->vtable->remove_key(b, "pkcs11:object=iam;id=%01"), -EINVAL);
        ck_assert_int_ge(asprintf(&evil, "file:%s/iam/../sm/x.key", storage), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, evil), -EINVAL);
        ck_assert_int_ge(asprintf(&evil2, "file:%s/iam/.key", storage), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, evil2), -EINVAL);

        X509Chain c = issue_chain(&ca, a.key_url);
        char *x = NULL;
        ck_assert_int_eq(s->vtable->store_cert(s, a.key_url, &c, &x), -EINVAL);
        ck_assert_int_ge(asprintf(&victim, "file:%s/iam/0123.key", storage), 0);
        ck_assert_int_eq(b->vtable->store_cert(b, victim, &c, &x), -ENOENT);
        ck_assert_ptr_null(x);
        x509_chain_done(&c);
        assert_has(b, &a);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_clear_only_own_dir) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, "x"), 0);
        ck_assert_int_eq(s->vtable->set_owner(s, "x"), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true), c = make_item(s, &ca, true);
        _cleanup_free_ char *other = NULL, *tmp = NULL;
        ck_assert_int_ge(asprintf(&other, "%s/unrelated.txt", storage), 0);
        ck_assert_int_eq(write_file_atomic(other, "keep", 4, 0644), 0);
        /* The leftover of an interrupted atomic write is cleared too. */
        ck_assert_int_ge(asprintf(&tmp, "%s/iam/abcd.key.XyZ123", storage), 0);
        ck_assert_int_eq(write_file_atomic(tmp, "junk", 4, 0600), 0);

        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_uint_eq(count_files("iam"), 0);
        ck_assert_uint_eq(count_files("sm"), 2);
        ck_assert_int_eq(access(other, F_OK), 0);
        assert_has(s, &c);

        BackendObject *o = NULL;
        size_t n = 1;
        ck_assert_int_eq(b->vtable->list(b, &o, &n), 0);
        ck_assert_uint_eq(n, 0);
        backend_objects_free(o, n);
        ck_assert_int_eq(b->vtable->clear(b), 0);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_list_skips_junk) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, "x"), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true);
        _cleanup_free_ char *junk_key = NULL, *junk_pem = NULL, *tmp = NULL;
        ck_assert_int_ge(asprintf(&junk_key, "%s/iam/00.key", storage), 0);
        ck_assert_int_ge(asprintf(&junk_pem, "%s/iam/00.pem", storage), 0);
        ck_assert_int_ge(asprintf(&tmp, "%s/iam/11.pem.AbC123", storage), 0);
        ck_assert_int_eq(write_file_atomic(junk_key, "garbage", 7, 0600), 0);
        ck_assert_int_eq(write_file_atomic(junk_pem, "garbage", 7, 0644), 0);
        ck_assert_int_eq(write_file_atomic(tmp, "garbage", 7, 0644), 0);

        BackendObject *o = NULL;
        size_t n = 0;
        ck_assert_int_eq(b->vtable->list(b, &o, &n), 0);
        /* a's key and certificate; the corrupt files and the temp file are not objects. */
        ck_assert_uint_eq(n, 2);
        for (size_t i = 0; i < n; i++)
                ck_assert_ptr_nonnull(o[i].key_id);
        backend_objects_free(o, n);
        /* clear removes them all the same. */
        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_uint_eq(count_files("iam"), 0);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_unknown_plugin) {
        ModuleConfig m = iam;
        m.plugin = MODULE_PLUGIN_TPM;
        CertBackend *b = NULL;
        if (!backend_tpm_vtable_ptr) {
                ck_assert_int_eq(cert_backend_new(&m, &certd, &b), -EOPNOTSUPP);
                ck_assert_ptr_null(b);
        }
        backend_objects_free(NULL, 0);
        cert_backend_free(NULL);
}
END_TEST

static Suite *sw_suite(void) {
        Suite *s = suite_create("backend sw");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_set_owner_creates_dir);
        tcase_add_test(tc, test_before_set_owner);
        tcase_add_test(tc, test_create_key_ecdsa);
        tcase_add_test(tc, test_create_key_rsa);
        tcase_add_test(tc, test_store_list_remove);
        tcase_add_test(tc, test_refuses_foreign_paths);
        tcase_add_test(tc, test_clear_only_own_dir);
        tcase_add_test(tc, test_list_skips_junk);
        tcase_add_test(tc, test_unknown_plugin);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(sw_suite());
}
