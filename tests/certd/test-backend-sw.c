/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

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

DEFINE_TRIVIAL_CLEANUP_FUNC(CertBackend *, cert_backend_free);

static CertBackend *backend(const ModuleConfig *m) {
        CertBackend *b = NULL;
        ck_assert_int_eq(cert_backend_new(m, &certd, &b), 0);
        ck_assert_str_eq(b->vtable->name, "sw");
        return b;
}

static char *module_dir(const char *type) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/%s", storage, type), 0);
        return p;
}

static size_t count_files(const char *type) {
        _cleanup_free_ char *d = module_dir(type);
        DIR *dd = opendir(d);
        size_t n = 0;
        struct dirent *de;

        if (!dd)
                return 0;
        while ((de = readdir(dd)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(dd);
        return n;
}

static mode_t file_mode(const char *path) {
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        return st.st_mode & 07777;
}

/* ---- a test CA ---------------------------------------------------------------------------- */

static gnutls_privkey_t make_soft_key(void) {
        gnutls_privkey_t k;
        ck_assert_int_ge(gnutls_privkey_init(&k), 0);
        ck_assert_int_ge(gnutls_privkey_generate(k, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0), 0);
        return k;
}

static gnutls_x509_crt_t make_cert(gnutls_privkey_t subject_key, const char *cn, gnutls_x509_crt_t issuer,
                                   gnutls_privkey_t issuer_key, bool ca) {
        gnutls_x509_crt_t c;
        gnutls_pubkey_t pub;
        uint8_t serial[16];
        time_t now = time(NULL);

        ck_assert_int_ge(gnutls_pubkey_init(&pub), 0);
        ck_assert_int_ge(gnutls_pubkey_import_privkey(pub, subject_key, 0, 0), 0);
        ck_assert_int_ge(gnutls_x509_crt_init(&c), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_version(c, 3), 0);
        ck_assert_int_ge(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial), 0);
        serial[0] = (serial[0] & 0x7f) | 0x10;
        ck_assert_int_ge(gnutls_x509_crt_set_serial(c, serial, sizeof serial), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_activation_time(c, now - 60), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(c, now + 3600), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_pubkey(c, pub), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_basic_constraints(c, ca, -1), 0);
        ck_assert_int_ge(gnutls_x509_crt_privkey_sign(c, issuer ?: c, issuer_key, GNUTLS_DIG_SHA384, 0), 0);
        gnutls_pubkey_deinit(pub);
        return c;
}

typedef struct TestCA {
        gnutls_privkey_t root_key, int_key;
        gnutls_x509_crt_t root, inter;
} TestCA;

static TestCA make_ca(void) {
        TestCA ca = { .root_key = make_soft_key(), .int_key = make_soft_key() };
        ca.root = make_cert(ca.root_key, "Test Root", NULL, ca.root_key, true);
        ca.inter = make_cert(ca.int_key, "Test Intermediate", ca.root, ca.root_key, true);
        return ca;
}

static void test_ca_done(TestCA *ca) {
        gnutls_privkey_deinit(ca->root_key);
        gnutls_privkey_deinit(ca->int_key);
        gnutls_x509_crt_deinit(ca->root);
        gnutls_x509_crt_deinit(ca->inter);
}

static X509Chain issue_chain(const TestCA *ca, const char *key_url) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        X509Chain c = { .certs = calloc(2, sizeof(gnutls_x509_crt_t)), .n = 2 };
        gnutls_datum_t d;

        ck_assert_int_eq(keyurl_open_privkey(key_url, &key), 0);
        c.certs[0] = make_cert(key, "node-1", ca->inter, ca->int_key, false);
        ck_assert_int_ge(gnutls_x509_crt_export2(ca->inter, GNUTLS_X509_FMT_DER, &d), 0);
        ck_assert_int_ge(gnutls_x509_crt_init(&c.certs[1]), 0);
        ck_assert_int_ge(gnutls_x509_crt_import(c.certs[1], &d, GNUTLS_X509_FMT_DER), 0);
        gnutls_free(d.data);
        return c;
}

typedef struct Item {
        char *key_url, *key_id, *cert_url;
} Item;

static void item_done(Item *i) {
        free(i->key_url);
        free(i->key_id);
        free(i->cert_url);
        *i = (Item) {};
}

static Item make_item(CertBackend *b, const TestCA *ca, bool with_cert) {
        Item it = {};
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        if (with_cert) {
                _cleanup_(x509_chain_done) X509Chain c = issue_chain(ca, it.key_url);
                ck_assert_int_eq(b->vtable->store_cert(b, it.key_url, &c, &it.cert_url), 0);
        }
        return it;
}

static const BackendObject *find(BackendObject *o, size_t n, BackendObjectKind kind, const char *key_id) {
        for (size_t i = 0; i < n; i++)
                if (o[i].kind == kind && streq_ptr(o[i].key_id, key_id))
                        return &o[i];
        return NULL;
}

static void assert_has(CertBackend *b, const Item *it) {
        BackendObject *o = NULL;
        size_t n = 0;
        ck_assert_int_eq(b->vtable->list(b, &o, &n), 0);
        const BackendObject *k = find(o, n, BACKEND_OBJECT_KEY, it->key_id);
        ck_assert_ptr_nonnull(k);
        ck_assert_str_eq(k->url, it->key_url);
        if (it->cert_url) {
                const BackendObject *c = find(o, n, BACKEND_OBJECT_CERT, it->key_id);
                ck_assert_ptr_nonnull(c);
                ck_assert_str_eq(c->url, it->cert_url);
        }
        backend_objects_free(o, n);
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(test_set_owner_creates_dir) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_free_ char *d = module_dir("iam");

        ck_assert_int_eq(b->vtable->set_owner(b, "anything"), 0);
        ck_assert_int_eq(file_mode(d), 0700);
        /* An existing directory with a lax mode is tightened. */
        ck_assert_int_eq(chmod(d, 0755), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, "anything"), 0);
        ck_assert_int_eq(file_mode(d), 0700);

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
        ck_assert_int_eq(file_mode(path), 0600);
        ck_assert_int_eq(file_mode(d), 0700);

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
        ck_assert_int_eq(file_mode(kp), 0600);
        ck_assert_int_eq(file_mode(cp), 0600);
        ck_assert_int_eq(strncmp(kp, cp, strlen(kp) - 4), 0);
        _cleanup_(x509_chain_done) X509Chain loaded = {};
        ck_assert_int_eq(certurl_load_chain(a.cert_url, &loaded), 0);
        ck_assert_uint_eq(loaded.n, 2);
        ck_assert(gnutls_x509_crt_equals(loaded.certs[1], ca.inter));

        BackendObject *o = NULL;
        size_t n = 0;
        ck_assert_int_eq(b->vtable->list(b, &o, &n), 0);
        ck_assert_uint_eq(n, 5);
        const BackendObject *ac = find(o, n, BACKEND_OBJECT_CERT, a.key_id);
        ck_assert_ptr_nonnull(ac);
        ck_assert_uint_eq(ac->chain.n, 2);
        ck_assert_ptr_null(find(o, n, BACKEND_OBJECT_CERT, p.key_id));
        ck_assert_ptr_nonnull(find(o, n, BACKEND_OBJECT_KEY, p.key_id));
        backend_objects_free(o, n);

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
