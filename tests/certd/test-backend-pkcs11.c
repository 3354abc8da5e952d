/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pkcs11 backend against SoftHSM2 on tmpfs: one fresh token directory per test (Check runs
 * every test in its own process, so SoftHSM starts from nothing each time). */

#include <errno.h>
#include <gnutls/crypto.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
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

#define TOKEN "aoscore"
#define PASSWORD "provisioning-password-1"

static char *dir;
static char *pin_file;
static const char *softhsm_lib;
static CertdConfig certd;
static ModuleConfig iam, sm;

static void setup(void) {
        dir = test_tmpdir();
        softhsm_lib = test_softhsm_setup(dir);
        ck_assert_int_ge(asprintf(&pin_file, "%s/pins/" TOKEN ".pin", dir), 0);

        certd = (CertdConfig) { .storage_dir = dir };
        iam = (ModuleConfig) {
                .type = (char *) "iam",
                .plugin = MODULE_PLUGIN_PKCS11,
                .algorithm = KEY_ALGORITHM_ECDSA,
                .max_items = 2,
                .pkcs11_library = (char *) softhsm_lib,
                .token_label = (char *) TOKEN,
                .user_pin_file = pin_file,
        };
        sm = iam;
        sm.type = (char *) "sm";
}

static void teardown(void) {
        test_rm_rf(dir);
        free(dir);
        free(pin_file);
        dir = pin_file = NULL;
}

static int run(const char *cmd) {
        int r = system(cmd);
        return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* ---- the fixture (backend-fixture.h) with this file's choices ------------------------------- */

static CertBackend *backend(const ModuleConfig *m) {
        return test_backend_new(m, &certd, "pkcs11");
}

static TestCA make_ca(const char *name) {
        return test_ca_make(name);
}

/* leaf (for the key at key_url), intermediate, root. */
static X509Chain issue_chain(const TestCA *ca, const char *key_url, const char *cn) {
        return test_ca_issue(ca, key_url, cn, true);
}

static Listing list(CertBackend *b) {
        return test_list(b, false);
}

static Item make_item(CertBackend *b, const TestCA *ca, bool with_cert) {
        return test_make_item(b, ca, with_cert, true);
}

/* The module's listing holds exactly this item (key, and its certificate if it has one). */
static void assert_has(CertBackend *b, const Item *it) {
        test_assert_has(b, it, false);
}

static char *cert_key_id(gnutls_x509_crt_t c) {
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        ck_assert_int_eq(x509_cert_info(c, &info), 0);
        return TAKE_PTR(info.key_id);
}

/* ---- looking at the token directly -------------------------------------------------------- */

typedef struct Raw {
        CK_FUNCTION_LIST *f;
        CK_SESSION_HANDLE s;
} Raw;

/* A raw session on the token labelled TOKEN, logged in as the user with the PIN file. */
static Raw raw_open(void) {
        Raw r = { .f = p11_kit_module_load(softhsm_lib, 0) };
        CK_SLOT_ID slots[16];
        CK_ULONG n = ELEMENTSOF(slots);
        bool found = false;

        ck_assert_ptr_nonnull(r.f);
        ck_assert_int_eq(p11_kit_module_initialize(r.f), CKR_OK);
        ck_assert_int_eq(r.f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
        for (CK_ULONG i = 0; i < n && !found; i++) {
                CK_TOKEN_INFO ti;
                ck_assert_int_eq(r.f->C_GetTokenInfo(slots[i], &ti), CKR_OK);
                if (memcmp(ti.label, TOKEN " ", strlen(TOKEN) + 1) == 0) {
                        ck_assert_int_eq(r.f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &r.s), CKR_OK);
                        found = true;
                }
        }
        ck_assert(found);

        _cleanup_free_ char *pin = test_read_file(pin_file, NULL);
        CK_RV rv = r.f->C_Login(r.s, CKU_USER, (CK_UTF8CHAR_PTR) pin, strlen(pin));
        ck_assert(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
        return r;
}

static void raw_close(Raw *r) {
        (void) r->f->C_Logout(r->s);
        ck_assert_int_eq(r->f->C_CloseSession(r->s), CKR_OK);
        ck_assert_int_eq(p11_kit_module_finalize(r->f), CKR_OK);
        p11_kit_module_release(r->f);
}

/* Objects with this label (NULL: any) and class (-1: any). */
static size_t raw_count(Raw *r, const char *label, long cls) {
        CK_OBJECT_CLASS c = (CK_OBJECT_CLASS) cls;
        CK_ATTRIBUTE tmpl[2];
        CK_ULONG n = 0, k;
        CK_OBJECT_HANDLE objs[256];

        if (label)
                tmpl[n++] = (CK_ATTRIBUTE) { CKA_LABEL, (void *) label, strlen(label) };
        if (cls >= 0)
                tmpl[n++] = (CK_ATTRIBUTE) { CKA_CLASS, &c, sizeof c };
        ck_assert_int_eq(r->f->C_FindObjectsInit(r->s, tmpl, n), CKR_OK);
        ck_assert_int_eq(r->f->C_FindObjects(r->s, objs, ELEMENTSOF(objs), &k), CKR_OK);
        ck_assert_int_eq(r->f->C_FindObjectsFinal(r->s), CKR_OK);
        return k;
}

static size_t count(const char *label, long cls) {
        Raw r = raw_open();
        size_t n = raw_count(&r, label, cls);
        raw_close(&r);
        return n;
}

/* A foreign object on the token that no module may touch. */
static void add_foreign_object(void) {
        Raw r = raw_open();
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_BBOOL yes = CK_TRUE;
        CK_OBJECT_HANDLE h;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },
                { CKA_TOKEN, &yes, sizeof yes },
                { CKA_LABEL, (void *) "foreign", 7 },
                { CKA_VALUE, (void *) "data", 4 },
        };
        ck_assert_int_eq(r.f->C_CreateObject(r.s, tmpl, ELEMENTSOF(tmpl), &h), CKR_OK);
        raw_close(&r);
}

static bool token_initialized(void) {
        CK_FUNCTION_LIST *f = p11_kit_module_load(softhsm_lib, 0);
        CK_SLOT_ID slots[16];
        CK_ULONG n = ELEMENTSOF(slots);
        bool found = false;

        ck_assert_int_eq(p11_kit_module_initialize(f), CKR_OK);
        ck_assert_int_eq(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
        for (CK_ULONG i = 0; i < n; i++) {
                CK_TOKEN_INFO ti;
                ck_assert_int_eq(f->C_GetTokenInfo(slots[i], &ti), CKR_OK);
                if ((ti.flags & CKF_TOKEN_INITIALIZED) && memcmp(ti.label, TOKEN " ", strlen(TOKEN) + 1) == 0)
                        found = true;
        }
        ck_assert_int_eq(p11_kit_module_finalize(f), CKR_OK);
        p11_kit_module_release(f);
        return found;
}

/* ---- set_owner ---------------------------------------------------------------------------- */

START_TEST(test_set_owner_fresh) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        struct stat st;

        ck_assert(!token_initialized());
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert(token_initialized());

        ck_assert_int_eq(stat(pin_file, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        _cleanup_free_ char *pin = test_read_file(pin_file, NULL);
        ck_assert_uint_eq(strlen(pin), 32);
        ck_assert_uint_eq(strspn(pin, "0123456789abcdef"), 32);

        /* The SO PIN is the password. */
        _cleanup_free_ char *cmd = NULL;
        ck_assert_int_ge(asprintf(&cmd, "softhsm2-util --init-token --token " TOKEN " --label " TOKEN
                                  " --so-pin wrong-password --pin 1234 >/dev/null 2>&1"), 0);
        ck_assert_int_ne(run(cmd), 0);

        Listing l = list(b);
        ck_assert_uint_eq(l.n, 0);
        listing_done(&l);
}
END_TEST

START_TEST(test_set_owner_again_keeps_everything) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_free_ char *pin1 = test_read_file(pin_file, NULL);
        _cleanup_(item_done) Item it = make_item(b, &ca, true);

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_free_ char *pin2 = test_read_file(pin_file, NULL);
        ck_assert_str_eq(pin1, pin2);
        assert_has(b, &it);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_set_owner_wrong_password) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item it = make_item(b, &ca, true);
        _cleanup_free_ char *pin1 = test_read_file(pin_file, NULL);

        ck_assert_int_eq(b->vtable->set_owner(b, "another-password"), -EACCES);
        _cleanup_free_ char *pin2 = test_read_file(pin_file, NULL);
        ck_assert_str_eq(pin1, pin2);
        assert_has(b, &it);
        ck_assert_uint_eq(count("iam", -1), 5); /* private, public, leaf, intermediate, root */
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_set_owner_wrong_password_empty_token) {
        /* PKCS#11 re-initializes an initialized token only with its current SO PIN, so a token
         * owned under another password stays refused even when it is empty. */
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, "another-password"), -EACCES);
        ck_assert_int_eq(unlink(pin_file), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, "another-password"), -EACCES);
        ck_assert_int_eq(access(pin_file, F_OK), -1);
        /* The right password still works, and repairs the PIN file. */
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(access(pin_file, F_OK), 0);
}
END_TEST

START_TEST(test_set_owner_repairs_pin_file) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item it = make_item(b, &ca, true);
        _cleanup_free_ char *pin1 = test_read_file(pin_file, NULL);

        /* Stale: the token no longer takes it. Operations fail with -EACCES until set_owner. */
        ck_assert_int_eq(write_file_atomic(pin_file, "ffffffffffffffffffffffffffffffff", 32, 0600), 0);
        BackendObject *o = NULL;
        size_t n = 0;
        ck_assert_int_eq(b->vtable->list(b, &o, &n), -EACCES);
        char *u = NULL, *k = NULL;
        ck_assert_int_eq(b->vtable->create_key(b, &u, &k), -EACCES);

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_free_ char *pin2 = test_read_file(pin_file, NULL);
        ck_assert_str_ne(pin1, pin2);
        ck_assert_uint_eq(strlen(pin2), 32);
        assert_has(b, &it);

        /* Missing. */
        ck_assert_int_eq(unlink(pin_file), 0);
        ck_assert_int_eq(b->vtable->list(b, &o, &n), -EACCES);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        struct stat st;
        ck_assert_int_eq(stat(pin_file, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        assert_has(b, &it);

        /* Empty. */
        ck_assert_int_eq(write_file_atomic(pin_file, "", 0, 0600), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        assert_has(b, &it);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_set_owner_bad_input) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);

        ck_assert_int_eq(b->vtable->set_owner(b, ""), -EINVAL);
        ck_assert_int_eq(b->vtable->set_owner(b, "123"), -EINVAL); /* shorter than SoftHSM's minimum */
        ck_assert(!token_initialized());

        /* Not owned yet: every operation says so, nothing crashes. */
        char *u = NULL, *k = NULL;
        ck_assert_int_eq(b->vtable->create_key(b, &u, &k), -ENODEV);
        BackendObject *o = NULL;
        size_t n = 1;
        ck_assert_int_eq(b->vtable->list(b, &o, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(b->vtable->clear(b), 0);
}
END_TEST

START_TEST(test_missing_library) {
        ModuleConfig m = iam;
        _cleanup_free_ char *lib = NULL;
        ck_assert_int_ge(asprintf(&lib, "%s/no-such-module.so", dir), 0);
        m.pkcs11_library = lib;

        /* init does not fail because the storage is absent; the operations do. */
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&m);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), -ENODEV);
        ck_assert_int_eq(b->vtable->clear(b), -ENODEV);
}
END_TEST

/* ---- keys ------------------------------------------------------------------------------- */

static void check_key_attributes(const Item *it) {
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        ck_assert_int_eq(pkcs11_url_parse(it->key_url, &u), 0);
        ck_assert_str_eq(u.token, TOKEN);
        ck_assert_str_eq(u.object, "iam");
        ck_assert_str_eq(u.type, "private");
        ck_assert_str_eq(u.module_path, softhsm_lib);
        ck_assert_str_eq(u.pin_source, pin_file);
        ck_assert_uint_eq(u.id_size, 16);
        ck_assert_ptr_null(strstr(it->key_url, "pin-value"));

        Raw r = raw_open();
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },
                { CKA_ID, u.id, u.id_size },
                { CKA_LABEL, (void *) "iam", 3 },
        };
        CK_OBJECT_HANDLE h[4];
        CK_ULONG n;
        ck_assert_int_eq(r.f->C_FindObjectsInit(r.s, tmpl, ELEMENTSOF(tmpl)), CKR_OK);
        ck_assert_int_eq(r.f->C_FindObjects(r.s, h, 4, &n), CKR_OK);
        ck_assert_int_eq(r.f->C_FindObjectsFinal(r.s), CKR_OK);
        ck_assert_uint_eq(n, 1);

        CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, never = CK_FALSE, token = CK_FALSE, priv = CK_FALSE;
        CK_BBOOL sign = CK_FALSE, decrypt = CK_TRUE, unwrap = CK_TRUE, derive = CK_TRUE;
        CK_ATTRIBUTE a[] = {
                { CKA_SIGN, &sign, sizeof sign },
                { CKA_DECRYPT, &decrypt, sizeof decrypt },
                { CKA_UNWRAP, &unwrap, sizeof unwrap },
                { CKA_DERIVE, &derive, sizeof derive },
                { CKA_SENSITIVE, &sensitive, sizeof sensitive },
                { CKA_EXTRACTABLE, &extractable, sizeof extractable },
                { CKA_NEVER_EXTRACTABLE, &never, sizeof never },
                { CKA_TOKEN, &token, sizeof token },
                { CKA_PRIVATE, &priv, sizeof priv },
        };
        ck_assert_int_eq(r.f->C_GetAttributeValue(r.s, h[0], a, ELEMENTSOF(a)), CKR_OK);
        /* Sign-only: never a decryption or unwrapping oracle. */
        ck_assert(sign);
        ck_assert(!decrypt);
        ck_assert(!unwrap);
        ck_assert(!derive);
        ck_assert(sensitive);
        ck_assert(!extractable);
        ck_assert(never);
        ck_assert(token);
        ck_assert(priv);

        /* The key material cannot be read. */
        uint8_t buf[1024];
        CK_ATTRIBUTE value = { CKA_VALUE, buf, sizeof buf };
        ck_assert_int_ne(r.f->C_GetAttributeValue(r.s, h[0], &value, 1), CKR_OK);
        raw_close(&r);
}

static void check_create_key(KeyAlgorithm algo, int want_pk) {
        iam.algorithm = algo;
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_(item_done) Item it = {};

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        ck_assert_uint_eq(strlen(it.key_id), 64);
        check_key_attributes(&it);

        /* The key opens by its URL, signs, and has the key_id reported. */
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;
        _cleanup_free_ char *kid = NULL;
        ck_assert_int_eq(keyurl_open_privkey(it.key_url, &k), 0);
        ck_assert_int_eq(gnutls_privkey_get_pk_algorithm(k, NULL), want_pk);
        ck_assert_int_eq(x509_privkey_key_id(k, &kid), 0);
        ck_assert_str_eq(kid, it.key_id);

        _cleanup_free_ char *csr = NULL;
        ck_assert_int_eq(x509_make_csr(k, "node-1", NULL, NULL, &csr), 0);
        ck_assert_ptr_nonnull(strstr(csr, "CERTIFICATE REQUEST"));

        Listing l = list(b);
        ck_assert_uint_eq(l.n_keys, 1);
        ck_assert_uint_eq(l.n_certs, 0);
        ck_assert_str_eq(l.o[0].url, it.key_url);
        ck_assert_str_eq(l.o[0].key_id, it.key_id);
        listing_done(&l);
}

START_TEST(test_create_key_ecdsa) {
        check_create_key(KEY_ALGORITHM_ECDSA, GNUTLS_PK_ECDSA);
}
END_TEST

START_TEST(test_create_key_rsa) {
        check_create_key(KEY_ALGORITHM_RSA, GNUTLS_PK_RSA);
}
END_TEST

START_TEST(test_key_ids_unique) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        Item it[3] = {};

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        for (size_t i = 0; i < ELEMENTSOF(it); i++)
                ck_assert_int_eq(b->vtable->create_key(b, &it[i].key_url, &it[i].key_id), 0);
        for (size_t i = 0; i < ELEMENTSOF(it); i++)
                for (size_t j = i + 1; j < ELEMENTSOF(it); j++) {
                        ck_assert_str_ne(it[i].key_url, it[j].key_url);
                        ck_assert_str_ne(it[i].key_id, it[j].key_id);
                }
        Listing l = list(b);
        ck_assert_uint_eq(l.n_keys, 3);
        listing_done(&l);
        for (size_t i = 0; i < ELEMENTSOF(it); i++)
                item_done(&it[i]);
}
END_TEST

START_TEST(test_live_key_survives_backend_calls) {
        /* A key opened through keyurl holds the token's user login; backend operations in the
         * same process must not log it out from under it. */
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_(item_done) Item it = {}, it2 = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;
        TestCA ca = make_ca("A");
        gnutls_datum_t data = { (unsigned char *) "x", 1 }, sig = {};

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        ck_assert_int_eq(keyurl_open_privkey(it.key_url, &k), 0);

        it2 = make_item(b, &ca, true);
        Listing l = list(b);
        listing_done(&l);
        ck_assert_int_eq(b->vtable->remove_cert(b, it2.cert_url), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, it2.key_url), 0);

        ck_assert_int_ge(gnutls_privkey_sign_data(k, GNUTLS_DIG_SHA384, 0, &data, &sig), 0);
        gnutls_free(sig.data);
        test_ca_done(&ca);
}
END_TEST

/* ---- certificates ------------------------------------------------------------------------- */

START_TEST(test_store_and_list) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item it = make_item(b, &ca, true);

        _cleanup_(pkcs11_url_done) Pkcs11Url ku = {}, cu = {};
        ck_assert_int_eq(pkcs11_url_parse(it.key_url, &ku), 0);
        ck_assert_int_eq(pkcs11_url_parse(it.cert_url, &cu), 0);
        ck_assert_str_eq(cu.type, "cert");
        ck_assert_str_eq(cu.object, "iam");
        ck_assert_str_eq(cu.token, TOKEN);
        ck_assert_uint_eq(cu.id_size, ku.id_size);
        ck_assert_mem_eq(cu.id, ku.id, ku.id_size);
        ck_assert_str_eq(cu.pin_source, pin_file);

        Listing l = list(b);
        ck_assert_uint_eq(l.n_keys, 1);
        ck_assert_uint_eq(l.n_certs, 1); /* intermediates are not listed */
        const BackendObject *k = find(&l, BACKEND_OBJECT_KEY, it.key_id), *c = find(&l, BACKEND_OBJECT_CERT, it.key_id);
        ck_assert_ptr_nonnull(k);
        ck_assert_ptr_nonnull(c);
        ck_assert_str_eq(c->url, it.cert_url);
        ck_assert_uint_eq(c->chain.n, 3);
        ck_assert(gnutls_x509_crt_equals(c->chain.certs[1], ca.inter));
        ck_assert(gnutls_x509_crt_equals(c->chain.certs[2], ca.root));
        _cleanup_free_ char *ckid = cert_key_id(c->chain.certs[0]);
        ck_assert_str_eq(ckid, it.key_id);
        listing_done(&l);

        /* keyurl loads the same chain. */
        _cleanup_(x509_chain_done) X509Chain loaded = {};
        ck_assert_int_eq(certurl_load_chain(it.cert_url, &loaded), 0);
        ck_assert_uint_eq(loaded.n, 3);

        /* Stored as the backend header says. */
        Raw r = raw_open();
        ck_assert_uint_eq(raw_count(&r, "iam", CKO_CERTIFICATE), 3);
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },
                { CKA_ID, ku.id, ku.id_size },
        };
        CK_OBJECT_HANDLE h[4];
        CK_ULONG n;
        ck_assert_int_eq(r.f->C_FindObjectsInit(r.s, tmpl, ELEMENTSOF(tmpl)), CKR_OK);
        ck_assert_int_eq(r.f->C_FindObjects(r.s, h, 4, &n), CKR_OK);
        ck_assert_int_eq(r.f->C_FindObjectsFinal(r.s), CKR_OK);
        ck_assert_uint_eq(n, 1);
        uint8_t serial[64], subject[512];
        CK_CERTIFICATE_TYPE ct = 99;
        CK_ATTRIBUTE a[] = {
                { CKA_SERIAL_NUMBER, serial, sizeof serial },
                { CKA_SUBJECT, subject, sizeof subject },
                { CKA_CERTIFICATE_TYPE, &ct, sizeof ct },
        };
        ck_assert_int_eq(r.f->C_GetAttributeValue(r.s, h[0], a, ELEMENTSOF(a)), CKR_OK);
        ck_assert_int_eq(ct, CKC_X_509);
        ck_assert_int_eq(serial[0], 0x02);
        ck_assert_uint_eq(a[0].ulValueLen, 18);
        raw_close(&r);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_store_errors_and_repeat) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_(cert_backend_freep) CertBackend *s = backend(&sm);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item it = {};
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        _cleanup_(x509_chain_done) X509Chain c = issue_chain(&ca, it.key_url, "node-1");

        /* The same call twice (as after a crash): one leaf, one of each intermediate. */
        _cleanup_free_ char *u1 = NULL, *u2 = NULL;
        ck_assert_int_eq(b->vtable->store_cert(b, it.key_url, &c, &u1), 0);
        ck_assert_int_eq(b->vtable->store_cert(b, it.key_url, &c, &u2), 0);
        ck_assert_str_eq(u1, u2);
        ck_assert_uint_eq(count("iam", CKO_CERTIFICATE), 3);

        /* Another module cannot store beside (or even name) iam's key. */
        char *x = NULL;
        ck_assert_int_eq(s->vtable->store_cert(s, it.key_url, &c, &x), -EINVAL);
        ck_assert_int_eq(s->vtable->remove_key(s, it.key_url), -EINVAL);
        ck_assert_int_eq(s->vtable->remove_cert(s, u1), -EINVAL);

        /* No key with that id. */
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        _cleanup_free_ char *ghost = NULL;
        ck_assert_int_eq(pkcs11_url_parse(it.key_url, &u), 0);
        ((uint8_t *) u.id)[0] ^= 0xff;
        ck_assert_int_eq(pkcs11_url_format(&u, &ghost), 0);
        ck_assert_int_eq(b->vtable->store_cert(b, ghost, &c, &x), -ENOENT);
        ck_assert_int_eq(b->vtable->store_cert(b, "file:/tmp/x.key", &c, &x), -EINVAL);
        ck_assert_ptr_null(x);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_remove) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true), c = make_item(b, &ca, true);
        ck_assert_uint_eq(count("iam", CKO_CERTIFICATE), 4); /* 2 leaves, intermediate, root: once each */

        ck_assert_int_eq(b->vtable->remove_cert(b, a.cert_url), 0);
        ck_assert_uint_eq(count("iam", CKO_CERTIFICATE), 3); /* c still needs them */
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);
        ck_assert_uint_eq(count("iam", CKO_PRIVATE_KEY), 1);
        ck_assert_uint_eq(count("iam", CKO_PUBLIC_KEY), 1);

        /* Gone already: done. */
        ck_assert_int_eq(b->vtable->remove_cert(b, a.cert_url), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);

        Listing l = list(b);
        ck_assert_uint_eq(l.n, 2);
        ck_assert_ptr_nonnull(find(&l, BACKEND_OBJECT_CERT, c.key_id));
        ck_assert_ptr_null(find(&l, BACKEND_OBJECT_KEY, a.key_id));
        listing_done(&l);

        /* The last leaf goes: so do the intermediates. */
        ck_assert_int_eq(b->vtable->remove_cert(b, c.cert_url), 0);
        ck_assert_uint_eq(count("iam", CKO_CERTIFICATE), 0);
        assert_has(b, &(Item) { .key_url = c.key_url, .key_id = c.key_id });
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_intermediates_per_module_and_ca) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca1 = make_ca("A"), ca2 = make_ca("B");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca1, true), c = make_item(b, &ca2, true);
        ck_assert_uint_eq(count("iam", CKO_CERTIFICATE), 6);

        Listing l = list(b);
        const BackendObject *ca_ = find(&l, BACKEND_OBJECT_CERT, a.key_id), *cc = find(&l, BACKEND_OBJECT_CERT, c.key_id);
        ck_assert(gnutls_x509_crt_equals(ca_->chain.certs[1], ca1.inter));
        ck_assert(gnutls_x509_crt_equals(cc->chain.certs[1], ca2.inter));
        listing_done(&l);

        /* Removing a's certificate drops CA A's certificates only. */
        ck_assert_int_eq(b->vtable->remove_cert(b, a.cert_url), 0);
        ck_assert_uint_eq(count("iam", CKO_CERTIFICATE), 3);
        l = list(b);
        cc = find(&l, BACKEND_OBJECT_CERT, c.key_id);
        ck_assert_uint_eq(cc->chain.n, 3);
        listing_done(&l);
        test_ca_done(&ca1);
        test_ca_done(&ca2);
}
END_TEST

/* ---- modules sharing the token ----------------------------------------------------------- */

START_TEST(test_clear_only_own_label) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(s->vtable->set_owner(s, PASSWORD), 0);
        add_foreign_object();
        _cleanup_(item_done) Item a = make_item(b, &ca, true), c = make_item(s, &ca, true), p = make_item(b, &ca, false);
        ck_assert_uint_eq(count("iam", -1), 7);
        ck_assert_uint_eq(count("sm", -1), 5);

        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_uint_eq(count("iam", -1), 0);
        ck_assert_uint_eq(count("sm", -1), 5);
        ck_assert_uint_eq(count("foreign", -1), 1);
        assert_has(s, &c);
        Listing l = list(b);
        ck_assert_uint_eq(l.n, 0);
        listing_done(&l);

        /* Twice is fine. */
        ck_assert_int_eq(b->vtable->clear(b), 0);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_interleaving_owner_between) {
        /* iam owns and fills the token, then sm takes ownership (same password): iam keeps all. */
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(s->vtable->clear(s), 0); /* token not initialized yet */
        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true);
        ck_assert_int_eq(s->vtable->clear(s), 0);
        assert_has(b, &a);
        ck_assert_int_eq(s->vtable->set_owner(s, PASSWORD), 0);
        assert_has(b, &a);
        _cleanup_(item_done) Item c = make_item(s, &ca, true);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        assert_has(b, &a);
        assert_has(s, &c);
        ck_assert_int_eq(s->vtable->clear(s), 0);
        assert_has(b, &a);
        ck_assert_uint_eq(count("sm", -1), 0);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_interleaving_provisioning_order) {
        /* StartProvisioning's order: clear every module, then set_owner every module, then
         * keys. Then a re-provisioning round with the same password: clear iam only (a self
         * signed module is re-made) while sm keeps its certificate. */
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_int_eq(s->vtable->clear(s), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(s->vtable->set_owner(s, PASSWORD), 0);
        _cleanup_(item_done) Item c = make_item(s, &ca, true);
        _cleanup_(item_done) Item a = make_item(b, &ca, false);
        _cleanup_(x509_chain_done) X509Chain chain = issue_chain(&ca, a.key_url, "node-1");
        ck_assert_int_eq(b->vtable->store_cert(b, a.key_url, &chain, &a.cert_url), 0);

        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        assert_has(s, &c);
        _cleanup_(item_done) Item a2 = make_item(b, &ca, true);
        assert_has(s, &c);
        assert_has(b, &a2);

        /* sm removes its certificate: iam's copy of the same intermediate stays. */
        ck_assert_int_eq(s->vtable->remove_cert(s, c.cert_url), 0);
        ck_assert_uint_eq(count("sm", CKO_CERTIFICATE), 0);
        ck_assert_uint_eq(count("iam", CKO_CERTIFICATE), 3);
        Listing l = list(b);
        ck_assert_uint_eq(find(&l, BACKEND_OBJECT_CERT, a2.key_id)->chain.n, 3);
        listing_done(&l);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_interleaving_wrong_password_second_module) {
        /* sm configured with a wrong password must not hurt iam. */
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true);
        ck_assert_int_eq(s->vtable->set_owner(s, "wrong-password"), -EACCES);
        ck_assert_int_eq(s->vtable->clear(s), 0);
        assert_has(b, &a);
        ck_assert_uint_eq(count("iam", -1), 5);
        test_ca_done(&ca);
}
END_TEST

/* Many interleavings at once: a fixed pseudo-random sequence of operations by both modules,
 * checked after every step against a model of what each module must see. */
typedef struct Model {
        Item items[64];
        size_t n;
} Model;

static void model_check(CertBackend *b, const Model *m) {
        Listing l = list(b);
        size_t certs = 0;
        for (size_t i = 0; i < m->n; i++) {
                const BackendObject *k = find(&l, BACKEND_OBJECT_KEY, m->items[i].key_id);
                ck_assert_msg(k, "module %s lost a key", b->module->type);
                ck_assert_str_eq(k->url, m->items[i].key_url);
                if (m->items[i].cert_url) {
                        const BackendObject *c = find(&l, BACKEND_OBJECT_CERT, m->items[i].key_id);
                        ck_assert_msg(c, "module %s lost a certificate", b->module->type);
                        ck_assert_str_eq(c->url, m->items[i].cert_url);
                        ck_assert_uint_eq(c->chain.n, 3);
                        certs++;
                }
        }
        ck_assert_uint_eq(l.n_keys, m->n);
        ck_assert_uint_eq(l.n_certs, certs);
        listing_done(&l);
}

static void model_remove(Model *m, size_t i) {
        item_done(&m->items[i]);
        m->items[i] = m->items[--m->n];
}

START_TEST(test_interleaving_random) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        CertBackend *mods[2] = { b, s };
        Model model[2] = {};
        TestCA ca = make_ca("A");
        uint32_t rnd = 0x5eed1234u;
        bool owned = false;

        for (unsigned step = 0; step < 60; step++) {
                rnd = rnd * 1664525u + 1013904223u;
                unsigned which = (rnd >> 8) & 1, op = (rnd >> 12) % 7;
                CertBackend *x = mods[which];
                Model *m = &model[which];

                if (!owned && op != 1)
                        op = 0; /* the first thing that touches the token must own it */

                switch (op) {
                case 0:
                        ck_assert_int_eq(x->vtable->set_owner(x, PASSWORD), 0);
                        if (!owned)
                                add_foreign_object();
                        owned = true;
                        break;
                case 1:
                        ck_assert_int_eq(x->vtable->clear(x), 0);
                        while (m->n > 0)
                                model_remove(m, 0);
                        break;
                case 2:
                case 3:
                        if (m->n < ELEMENTSOF(m->items))
                                m->items[m->n++] = make_item(x, &ca, op == 3);
                        break;
                case 4: /* certify a pending key */
                        for (size_t i = 0; i < m->n; i++)
                                if (!m->items[i].cert_url) {
                                        _cleanup_(x509_chain_done) X509Chain c = issue_chain(&ca, m->items[i].key_url, "n");
                                        ck_assert_int_eq(x->vtable->store_cert(x, m->items[i].key_url, &c,
                                                                               &m->items[i].cert_url), 0);
                                        break;
                                }
                        break;
                case 5: /* renewal: drop the oldest certificate and its key */
                        for (size_t i = 0; i < m->n; i++)
                                if (m->items[i].cert_url) {
                                        ck_assert_int_eq(x->vtable->remove_cert(x, m->items[i].cert_url), 0);
                                        ck_assert_int_eq(x->vtable->remove_key(x, m->items[i].key_url), 0);
                                        model_remove(m, i);
                                        break;
                                }
                        break;
                case 6: /* an abandoned pending key */
                        for (size_t i = 0; i < m->n; i++)
                                if (!m->items[i].cert_url) {
                                        ck_assert_int_eq(x->vtable->remove_key(x, m->items[i].key_url), 0);
                                        model_remove(m, i);
                                        break;
                                }
                        break;
                }

                if (owned) {
                        model_check(b, &model[0]);
                        model_check(s, &model[1]);
                        ck_assert_uint_eq(count("foreign", -1), 1);
                }
        }

        for (size_t k = 0; k < 2; k++)
                while (model[k].n > 0)
                        model_remove(&model[k], 0);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_clear_without_pin) {
        /* Without a working PIN, clear removes what it can see (the public objects) and
         * succeeds, so that provisioning can go on to set_owner, which repairs the PIN. */
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true), c = make_item(s, &ca, true);
        ck_assert_int_eq(unlink(pin_file), 0);
        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_uint_eq(count("iam", CKO_CERTIFICATE), 0);
        ck_assert_uint_eq(count("iam", CKO_PUBLIC_KEY), 0);
        ck_assert_uint_eq(count("iam", CKO_PRIVATE_KEY), 1); /* invisible to it: left */
        ck_assert_uint_eq(count("sm", -1), 5);

        /* The private key left has no public half: not listed (it pairs with nothing, and
         * gnutls cannot use it); a clear that can log in removes it. */
        Listing l = list(b);
        ck_assert_uint_eq(l.n, 0);
        listing_done(&l);
        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_uint_eq(count("iam", -1), 0);
        assert_has(s, &c);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_registered_modules) {
        /* PKCS11Library unset: every module p11-kit is configured with (SoftHSM registers
         * itself); the URLs then carry no module-path. */
        iam.pkcs11_library = NULL;
        sm.pkcs11_library = NULL;
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca("A");

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(s->vtable->set_owner(s, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true), c = make_item(s, &ca, true);
        ck_assert_ptr_null(strstr(a.key_url, "module-path"));
        assert_has(b, &a);
        ck_assert_int_eq(b->vtable->clear(b), 0);
        assert_has(s, &c);
        test_ca_done(&ca);
}
END_TEST

static Suite *pkcs11_suite(void) {
        Suite *s = suite_create("backend pkcs11");

        TCase *tc = tcase_create("owner");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_set_owner_fresh);
        tcase_add_test(tc, test_set_owner_again_keeps_everything);
        tcase_add_test(tc, test_set_owner_wrong_password);
        tcase_add_test(tc, test_set_owner_wrong_password_empty_token);
        tcase_add_test(tc, test_set_owner_repairs_pin_file);
        tcase_add_test(tc, test_set_owner_bad_input);
        tcase_add_test(tc, test_missing_library);
        suite_add_tcase(s, tc);

        tc = tcase_create("objects");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_create_key_ecdsa);
        tcase_add_test(tc, test_create_key_rsa);
        tcase_add_test(tc, test_key_ids_unique);
        tcase_add_test(tc, test_live_key_survives_backend_calls);
        tcase_add_test(tc, test_store_and_list);
        tcase_add_test(tc, test_store_errors_and_repeat);
        tcase_add_test(tc, test_remove);
        tcase_add_test(tc, test_intermediates_per_module_and_ca);
        suite_add_tcase(s, tc);

        tc = tcase_create("shared token");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_clear_only_own_label);
        tcase_add_test(tc, test_interleaving_owner_between);
        tcase_add_test(tc, test_interleaving_provisioning_order);
        tcase_add_test(tc, test_interleaving_wrong_password_second_module);
        tcase_add_test(tc, test_interleaving_random);
        tcase_add_test(tc, test_clear_without_pin);
        tcase_add_test(tc, test_registered_modules);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return test_run_suite(pkcs11_suite());
}
