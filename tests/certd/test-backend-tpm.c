/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tpm backend against swtpm: a fresh swtpm per test (Check runs each test in its own
 * process), on a unix socket in the test's directory on tmpfs. */

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
#include "tpm-util.h"
#include "tpm2-key.h"
#include "x509.h"

#define PASSWORD "provisioning-password-1"
#define SRK_HANDLE 0x81410000u
#define KEY_HANDLE_FIRST 0x81410100u
#define AOS_HANDLE_LAST 0x8141ffffu

static char *dir, *storage;
static TestSwtpm tpm;
static CertdConfig certd;
static ModuleConfig iam, sm;

static void setup(void) {
        dir = test_tmpdir();
        ck_assert_int_ge(asprintf(&storage, "%s/certs", dir), 0);
        test_swtpm_start(&tpm, dir);
        certd = (CertdConfig) { .storage_dir = storage };
        iam = (ModuleConfig) {
                .type = (char *) "iam",
                .plugin = MODULE_PLUGIN_TPM,
                .algorithm = KEY_ALGORITHM_ECDSA,
                .max_items = 2,
                .tcti = tpm.tcti,
        };
        sm = iam;
        sm.type = (char *) "sm";
}

static void teardown(void) {
        test_swtpm_done(&tpm);
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

/* StorageDir/tpm-<16 hex>.auth: the one file there that is not a module directory. */
static char *auth_file(void) {
        DIR *d = opendir(storage);
        struct dirent *de;
        char *p = NULL;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (startswith(de->d_name, "tpm-") && strlen(de->d_name) == 4 + 16 + 5) {
                        ck_assert_ptr_null(p);
                        ck_assert_int_ge(asprintf(&p, "%s/%s", storage, de->d_name), 0);
                }
        closedir(d);
        ck_assert_ptr_nonnull(p);
        return p;
}

static uint32_t url_handle(const char *url) {
        _cleanup_(tpm2_url_done) Tpm2Url u = {};
        ck_assert_int_eq(tpm2_url_parse(url, &u), 0);
        ck_assert_str_eq(u.tcti, tpm.tcti);
        return u.handle;
}

static TPM2B_PUBLIC *read_public(uint32_t handle) {
        Tpm2Connection c = {};
        TPM2B_PUBLIC *pub = NULL;
        ESYS_TR tr;

        test_tpm_connect(&tpm, &c);
        ck_assert_int_eq(Esys_TR_FromTPMPublic(c.esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr), 0);
        ck_assert_int_eq(Esys_ReadPublic(c.esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL), 0);
        tpm2_disconnect(&c);
        return pub;
}

static bool owner_auth_is(const char *password) {
        Tpm2Connection c = {};
        TPM2B_AUTH a = { .size = (UINT16) strlen(password) };
        memcpy(a.buffer, password, a.size);

        test_tpm_connect(&tpm, &c);
        ck_assert_int_eq(Esys_TR_SetAuth(c.esys, ESYS_TR_RH_OWNER, &a), 0);
        TSS2_RC rc = Esys_HierarchyChangeAuth(c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &a);
        tpm2_disconnect(&c);
        return rc == TSS2_RC_SUCCESS;
}

/* ---- the fixture (backend-fixture.h) with this file's choices ------------------------------- */

static CertBackend *backend(const ModuleConfig *m) {
        return test_backend_new(m, &certd, "tpm");
}

static size_t count_files(const char *type) {
        return test_count_files(storage, type);
}

static TestCA make_ca(void) {
        return test_ca_make("Test");
}

/* leaf (for the key at key_url; its public key read from the TPM), intermediate. */
static X509Chain issue_chain(const TestCA *ca, const char *key_url) {
        return test_ca_issue(ca, key_url, "node-1", false);
}

static Item make_item(CertBackend *b, const TestCA *ca, bool with_cert) {
        return test_make_item(b, ca, with_cert, false);
}

/* Every object has a key id. */
static Listing list(CertBackend *b) {
        return test_list(b, true);
}

static void assert_has(CertBackend *b, const Item *it) {
        test_assert_has(b, it, true);
}

/* ---- ownership ---------------------------------------------------------------------------- */

START_TEST(test_set_owner_fresh) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_free_ char *d = module_dir("iam"), *af = NULL;

        ck_assert(owner_auth_is(""));
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert(owner_auth_is(PASSWORD));
        ck_assert(!owner_auth_is(""));
        ck_assert_int_eq(test_file_mode(d), 0700);

        /* The storage key, and its secret beside the module directories. */
        ck_assert(test_tpm_handle_exists(&tpm, SRK_HANDLE));
        TPM2B_PUBLIC *srk = read_public(SRK_HANDLE);
        ck_assert_int_eq(srk->publicArea.type, TPM2_ALG_ECC);
        ck_assert(srk->publicArea.objectAttributes & TPMA_OBJECT_RESTRICTED);
        ck_assert(srk->publicArea.objectAttributes & TPMA_OBJECT_DECRYPT);
        ck_assert(srk->publicArea.objectAttributes & TPMA_OBJECT_FIXEDTPM);
        Esys_Free(srk);
        af = auth_file();
        ck_assert_int_eq(test_file_mode(af), 0600);
        _cleanup_free_ char *secret = test_read_file(af, NULL);
        ck_assert_uint_eq(strlen(secret), 32);
        ck_assert_ptr_null(strstr(secret, PASSWORD));

        /* Again: the same password is fine, and nothing changes. */
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_free_ char *secret2 = test_read_file(af, NULL);
        ck_assert_str_eq(secret, secret2);

        /* Another password cannot take it, an empty one is no password. */
        ck_assert_int_eq(b->vtable->set_owner(b, "another-password"), -EACCES);
        ck_assert_int_eq(b->vtable->set_owner(b, ""), -EINVAL);
        char big[80];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        ck_assert_int_eq(b->vtable->set_owner(b, big), -EINVAL);
        ck_assert(owner_auth_is(PASSWORD));

        Listing l = list(b);
        ck_assert_uint_eq(l.n, 0);
        listing_done(&l);
}
END_TEST

START_TEST(test_set_owner_owned_elsewhere) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);

        /* Owned with our password by someone else (tpm2_changeauth -c o): taken as it is. */
        test_tpm_change_owner_auth(&tpm, "", PASSWORD);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        /* A second module on the same TPM shares the storage key and its secret. */
        _cleanup_free_ char *af = auth_file(), *secret = test_read_file(af, NULL);
        ck_assert_int_eq(s->vtable->set_owner(s, PASSWORD), 0);
        _cleanup_free_ char *secret2 = test_read_file(af, NULL);
        ck_assert_str_eq(secret, secret2);

        /* Owned with another password: -EACCES (WrongPassword on the bus). */
        test_tpm_change_owner_auth(&tpm, PASSWORD, "someone-else");
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), -EACCES);
}
END_TEST

START_TEST(test_before_set_owner) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        char *url = NULL, *id = NULL;

        Listing l = list(b);
        ck_assert_uint_eq(l.n, 0);
        listing_done(&l);
        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_int_eq(b->vtable->create_key(b, &url, &id), -ENODEV);
        ck_assert_ptr_null(url);
        ck_assert_ptr_null(id);
}
END_TEST

START_TEST(test_srk_handle_taken) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);

        test_tpm_persist_foreign(&tpm, "", SRK_HANDLE);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), -EEXIST);
        /* It was not touched. */
        ck_assert(test_tpm_handle_exists(&tpm, SRK_HANDLE));
        TPM2B_PUBLIC *p = read_public(SRK_HANDLE);
        ck_assert(!(p->publicArea.objectAttributes & TPMA_OBJECT_RESTRICTED));
        Esys_Free(p);
}
END_TEST

/* ---- keys ------------------------------------------------------------------------------------ */

static void check_create_key(KeyAlgorithm algo, int want_pk) {
        iam.algorithm = algo;
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_(item_done) Item it = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t p = NULL;
        _cleanup_free_ char *kid = NULL, *csr = NULL;

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        ck_assert_uint_eq(strlen(it.key_id), 64);

        /* tpm2:handle=0x8141BBSS?tcti=<ours>, in the type's block. */
        uint32_t h = url_handle(it.key_url);
        ck_assert_uint_ge(h, KEY_HANDLE_FIRST);
        ck_assert_uint_le(h, AOS_HANDLE_LAST);
        ck_assert(startswith(it.key_url, "tpm2:handle=0x8141"));

        /* Persistent, non-duplicable, made inside, sign only, marked with the module's type. */
        TPM2B_PUBLIC *pub = read_public(h);
        TPMA_OBJECT a = pub->publicArea.objectAttributes;
        ck_assert(a & TPMA_OBJECT_FIXEDTPM);
        ck_assert(a & TPMA_OBJECT_FIXEDPARENT);
        ck_assert(a & TPMA_OBJECT_SENSITIVEDATAORIGIN);
        ck_assert(a & TPMA_OBJECT_SIGN_ENCRYPT);
        ck_assert(!(a & TPMA_OBJECT_DECRYPT));
        ck_assert(!(a & TPMA_OBJECT_RESTRICTED));
        ck_assert_uint_eq(pub->publicArea.authPolicy.size, 32);
        if (algo == KEY_ALGORITHM_ECDSA) {
                ck_assert_int_eq(pub->publicArea.type, TPM2_ALG_ECC);
                ck_assert_int_eq(pub->publicArea.parameters.eccDetail.curveID, TPM2_ECC_NIST_P384);
        } else {
                ck_assert_int_eq(pub->publicArea.type, TPM2_ALG_RSA);
                ck_assert_int_eq(pub->publicArea.parameters.rsaDetail.keyBits, 2048);
        }
        Esys_Free(pub);

        /* The key opens by its URL, signs, and its key_id is the one reported. */
        ck_assert_int_eq(keyurl_open_privkey(it.key_url, &k), 0);
        ck_assert_int_eq(gnutls_privkey_get_pk_algorithm(k, NULL), want_pk);
        ck_assert_int_eq(keyurl_open_pubkey(it.key_url, &p), 0);
        ck_assert_int_eq(x509_pubkey_key_id(p, &kid), 0);
        ck_assert_str_eq(kid, it.key_id);
        ck_assert_int_eq(x509_make_csr_with_pubkey(k, p, "node-1", NULL, NULL, &csr), 0);
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

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Not an assertion on time (no test does that): the figures for the report. create_key is the
 * whole operation (connect, Create, Load, the owner policy, EvictControl, disconnect). */
START_TEST(test_key_generation_time) {
        static const KeyAlgorithm algos[] = { KEY_ALGORITHM_ECDSA, KEY_ALGORITHM_RSA };
        enum { RUNS = 9 };

        for (size_t a = 0; a < ELEMENTSOF(algos); a++) {
                ModuleConfig m = iam;
                m.algorithm = algos[a];
                m.type = (char *) (a == 0 ? "timing-ec" : "timing-rsa");
                _cleanup_(cert_backend_freep) CertBackend *b = backend(&m);
                uint64_t t[RUNS];

                ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
                for (size_t i = 0; i < RUNS; i++) {
                        _cleanup_(item_done) Item it = {};
                        uint64_t start = now_usec();
                        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
                        t[i] = now_usec() - start;
                        ck_assert_int_eq(b->vtable->remove_key(b, it.key_url), 0);
                }
                qsort(t, RUNS, sizeof t[0], cmp_u64);
                printf("tpm create_key %s against swtpm, %d runs: median %.1f ms, min %.1f ms, max %.1f ms\n",
                       key_algorithm_to_string(algos[a]), RUNS, t[RUNS / 2] / 1000.0, t[0] / 1000.0,
                       t[RUNS - 1] / 1000.0);

                /* The bare Esys_Create under the SRK, for comparison. */
                _cleanup_free_ char *af = auth_file(), *secret = test_read_file(af, NULL);
                for (size_t i = 0; i < RUNS; i++)
                        t[i] = test_tpm_time_create(&tpm, SRK_HANDLE, secret, algos[a] == KEY_ALGORITHM_RSA);
                qsort(t, RUNS, sizeof t[0], cmp_u64);
                printf("bare Esys_Create %s against swtpm, %d runs: median %.1f ms, min %.1f ms, max %.1f ms\n",
                       key_algorithm_to_string(algos[a]), RUNS, t[RUNS / 2] / 1000.0, t[0] / 1000.0,
                       t[RUNS - 1] / 1000.0);
                fflush(stdout);
        }
}
END_TEST

START_TEST(test_key_handles_unique) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        Item it[3] = {};

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        for (size_t i = 0; i < ELEMENTSOF(it); i++)
                ck_assert_int_eq(b->vtable->create_key(b, &it[i].key_url, &it[i].key_id), 0);
        for (size_t i = 0; i < ELEMENTSOF(it); i++)
                for (size_t j = i + 1; j < ELEMENTSOF(it); j++) {
                        ck_assert_str_ne(it[i].key_url, it[j].key_url);
                        ck_assert_str_ne(it[i].key_id, it[j].key_id);
                        /* One block per type. */
                        ck_assert_uint_eq(url_handle(it[i].key_url) & ~0xffu, url_handle(it[j].key_url) & ~0xffu);
                }

        /* A handle just freed is not taken again at once. */
        uint32_t freed = url_handle(it[2].key_url);
        ck_assert_int_eq(b->vtable->remove_key(b, it[2].key_url), 0);
        item_done(&it[2]);
        ck_assert_int_eq(b->vtable->create_key(b, &it[2].key_url, &it[2].key_id), 0);
        ck_assert_uint_ne(url_handle(it[2].key_url), freed);

        Listing l = list(b);
        ck_assert_uint_eq(l.n_keys, 3);
        listing_done(&l);
        for (size_t i = 0; i < ELEMENTSOF(it); i++)
                item_done(&it[i]);
}
END_TEST

START_TEST(test_foreign_objects_in_block) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_(item_done) Item first = {}, it = {};

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(b->vtable->create_key(b, &first.key_url, &first.key_id), 0);
        uint32_t base = url_handle(first.key_url) & ~0xffu;
        ck_assert_int_eq(b->vtable->remove_key(b, first.key_url), 0);

        /* Other software took handles in iam's block: the key goes around them. */
        for (uint32_t i = 0; i < 4; i++)
                test_tpm_persist_foreign(&tpm, PASSWORD, base + i);
        /* and a key exactly like ours but without the marker */
        test_tpm_persist_key(&tpm, PASSWORD, false, base + 4);
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        uint32_t h = url_handle(it.key_url);
        ck_assert_uint_eq(h & ~0xffu, base);
        ck_assert_uint_gt(h & 0xff, 4);

        Listing l = list(b);
        ck_assert_uint_eq(l.n, 1);
        ck_assert_str_eq(l.o[0].url, it.key_url);
        listing_done(&l);

        /* Not ours: not removed, not cleared. */
        _cleanup_free_ char *foreign = NULL;
        ck_assert_int_eq(tpm2_url_format(base, tpm.tcti, &foreign), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, foreign), -EINVAL);
        ck_assert_int_eq(b->vtable->clear(b), 0);
        for (uint32_t i = 0; i <= 4; i++)
                ck_assert(test_tpm_handle_exists(&tpm, base + i));
        ck_assert(!test_tpm_handle_exists(&tpm, h));
}
END_TEST

/* ---- certificates ------------------------------------------------------------------------- */

START_TEST(test_store_list_remove) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_free_ char *d = module_dir("iam");
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true), c = make_item(b, &ca, true), p = make_item(b, &ca, false);

        /* StorageDir/iam/0x<handle>.pem, 0600, the chain inside. */
        _cleanup_free_ char *cp = NULL, *want = NULL;
        ck_assert_int_eq(file_url_path(a.cert_url, &cp), 0);
        ck_assert_int_ge(asprintf(&want, "%s/0x%08x.pem", d, url_handle(a.key_url)), 0);
        ck_assert_str_eq(cp, want);
        ck_assert_int_eq(test_file_mode(cp), 0600);
        _cleanup_(x509_chain_done) X509Chain loaded = {};
        ck_assert_int_eq(certurl_load_chain(a.cert_url, &loaded), 0);
        ck_assert_uint_eq(loaded.n, 2);
        ck_assert(gnutls_x509_crt_equals(loaded.certs[1], ca.inter));

        /* The same call again (after a crash): the same file. */
        _cleanup_free_ char *again = NULL;
        _cleanup_(x509_chain_done) X509Chain chain = issue_chain(&ca, a.key_url);
        ck_assert_int_eq(b->vtable->store_cert(b, a.key_url, &chain, &again), 0);
        ck_assert_str_eq(again, a.cert_url);

        Listing l = list(b);
        ck_assert_uint_eq(l.n_keys, 3);
        ck_assert_uint_eq(l.n_certs, 2);
        const BackendObject *ac = find(&l, BACKEND_OBJECT_CERT, a.key_id);
        ck_assert_ptr_nonnull(ac);
        ck_assert_str_eq(ac->url, a.cert_url);
        ck_assert_uint_eq(ac->chain.n, 2);
        ck_assert_ptr_null(find(&l, BACKEND_OBJECT_CERT, p.key_id));
        ck_assert_ptr_nonnull(find(&l, BACKEND_OBJECT_KEY, p.key_id));
        listing_done(&l);

        ck_assert_int_eq(b->vtable->remove_cert(b, a.cert_url), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);
        ck_assert_int_eq(access(cp, F_OK), -1);
        ck_assert(!test_tpm_handle_exists(&tpm, url_handle(a.key_url)));
        /* Gone already: done. */
        ck_assert_int_eq(b->vtable->remove_cert(b, a.cert_url), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);
        ck_assert_uint_eq(count_files("iam"), 1);
        assert_has(b, &c);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_refuses_foreign) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(s->vtable->set_owner(s, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true);
        _cleanup_free_ char *evil = NULL, *ghost = NULL, *srk = NULL;

        /* sm cannot touch iam's key or certificate. */
        ck_assert_int_eq(s->vtable->remove_key(s, a.key_url), -EINVAL);
        ck_assert_int_eq(s->vtable->remove_cert(s, a.cert_url), -EINVAL);
        X509Chain c = issue_chain(&ca, a.key_url);
        char *x = NULL;
        ck_assert_int_eq(s->vtable->store_cert(s, a.key_url, &c, &x), -EINVAL);
        ck_assert_ptr_null(x);

        /* Nor URLs that are no key of aos-iam. */
        ck_assert_int_eq(b->vtable->remove_key(b, "pkcs11:object=iam;id=%01"), -EINVAL);
        ck_assert_int_eq(b->vtable->remove_key(b, "tpm2:handle=0x81000001"), -EINVAL);
        ck_assert_int_eq(tpm2_url_format(SRK_HANDLE, tpm.tcti, &srk), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, srk), -EINVAL);
        ck_assert_int_eq(b->vtable->remove_key(b, a.cert_url), -EINVAL);
        ck_assert_int_eq(b->vtable->remove_cert(b, a.key_url), -EINVAL);
        ck_assert_int_eq(b->vtable->remove_cert(b, "file:/etc/passwd"), -EINVAL);
        ck_assert_int_ge(asprintf(&evil, "file:%s/iam/../sm/0x81410100.pem", storage), 0);
        ck_assert_int_eq(b->vtable->remove_cert(b, evil), -EINVAL);

        /* A handle of ours with nothing there. */
        ck_assert_int_eq(tpm2_url_format(AOS_HANDLE_LAST, tpm.tcti, &ghost), 0);
        ck_assert_int_eq(b->vtable->store_cert(b, ghost, &c, &x), -ENOENT);
        ck_assert_int_eq(b->vtable->remove_key(b, ghost), 0);
        x509_chain_done(&c);

        assert_has(b, &a);
        Listing l = list(s);
        ck_assert_uint_eq(l.n, 0);
        listing_done(&l);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_clear_only_own) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam), *s = backend(&sm);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(s->vtable->set_owner(s, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true), a2 = make_item(b, &ca, false), c = make_item(s, &ca, true);
        _cleanup_free_ char *tmp = NULL, *af = auth_file();
        /* The leftover of an interrupted atomic write is cleared too. */
        ck_assert_int_ge(asprintf(&tmp, "%s/iam/0x81410100.pem.XyZ123", storage), 0);
        ck_assert_int_eq(write_file_atomic(tmp, "junk", 4, 0600), 0);

        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_uint_eq(count_files("iam"), 0);
        ck_assert_uint_eq(count_files("sm"), 1);
        ck_assert(!test_tpm_handle_exists(&tpm, url_handle(a.key_url)));
        ck_assert(!test_tpm_handle_exists(&tpm, url_handle(a2.key_url)));
        ck_assert(test_tpm_handle_exists(&tpm, SRK_HANDLE));
        ck_assert_int_eq(access(af, F_OK), 0);
        assert_has(s, &c);

        Listing l = list(b);
        ck_assert_uint_eq(l.n, 0);
        listing_done(&l);
        ck_assert_int_eq(b->vtable->clear(b), 0);
        /* Still owned: new keys come as before. */
        _cleanup_(item_done) Item n = make_item(b, &ca, true);
        assert_has(b, &n);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_list_skips_junk) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true);
        _cleanup_free_ char *junk = NULL, *other = NULL;
        ck_assert_int_ge(asprintf(&junk, "%s/iam/0x81410101.pem", storage), 0);
        ck_assert_int_ge(asprintf(&other, "%s/iam/notes.txt", storage), 0);
        ck_assert_int_eq(write_file_atomic(junk, "garbage", 7, 0600), 0);
        ck_assert_int_eq(write_file_atomic(other, "garbage", 7, 0600), 0);

        Listing l = list(b);
        ck_assert_uint_eq(l.n, 2);
        listing_done(&l);
        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_uint_eq(count_files("iam"), 0);
        test_ca_done(&ca);
}
END_TEST

/* ---- what goes wrong ------------------------------------------------------------------------- */

START_TEST(test_unreachable) {
        ModuleConfig m = iam;
        m.tcti = (char *) "swtpm:path=/nonexistent/tpm.sock";
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&m); /* init does not connect */
        BackendObject *o = NULL;
        size_t n = 0;
        char *url = NULL, *id = NULL;

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), -ENODEV);
        ck_assert_int_eq(b->vtable->create_key(b, &url, &id), -ENODEV);
        ck_assert_int_eq(b->vtable->list(b, &o, &n), -ENODEV);
        ck_assert_int_eq(b->vtable->clear(b), -ENODEV);
        ck_assert_int_eq(b->vtable->remove_key(b, "tpm2:handle=0x81410100"), -ENODEV);

        /* The module next to it is not bothered. */
        _cleanup_(cert_backend_freep) CertBackend *s = backend(&sm);
        ck_assert_int_eq(s->vtable->set_owner(s, PASSWORD), 0);
        _cleanup_(item_done) Item it = {};
        ck_assert_int_eq(s->vtable->create_key(s, &it.key_url, &it.key_id), 0);

        /* A TPM that comes later is used then. */
        test_swtpm_stop(&tpm);
        ck_assert_int_eq(s->vtable->list(s, &o, &n), -ENODEV);
        test_swtpm_start(&tpm, dir);
        assert_has(s, &it);
}
END_TEST

START_TEST(test_evicted_by_someone_else) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true), k = make_item(b, &ca, false);
        _cleanup_(x509_chain_done) X509Chain c = issue_chain(&ca, k.key_url);

        test_tpm_evict(&tpm, PASSWORD, url_handle(a.key_url));
        test_tpm_evict(&tpm, PASSWORD, url_handle(k.key_url));

        /* The certificate is listed without its key (reconciliation then drops the pair), a
         * certificate cannot be stored for the key, and removing it is done. */
        Listing l = list(b);
        ck_assert_uint_eq(l.n_keys, 0);
        ck_assert_uint_eq(l.n_certs, 1);
        listing_done(&l);
        char *x = NULL;
        ck_assert_int_eq(b->vtable->store_cert(b, k.key_url, &c, &x), -ENOENT);
        ck_assert_ptr_null(x);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);
        ck_assert_int_eq(b->vtable->remove_cert(b, a.cert_url), 0);

        /* An opened key does not sign with whatever comes to its handle later. */
        _cleanup_(item_done) Item n = make_item(b, &ca, false);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        ck_assert_int_eq(keyurl_open_privkey(n.key_url, &key), 0);
        test_tpm_evict(&tpm, PASSWORD, url_handle(n.key_url));
        test_tpm_persist_key(&tpm, PASSWORD, false, url_handle(n.key_url));
        gnutls_datum_t data = { (unsigned char *) "x", 1 }, sig = {};
        ck_assert_int_lt(gnutls_privkey_sign_data2(key, GNUTLS_SIGN_ECDSA_SHA384, 0, &data, &sig), 0);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_secret_lost_or_stale) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        _cleanup_free_ char *af = NULL;
        TestCA ca = make_ca();
        char *url = NULL, *id = NULL;

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true);
        af = auth_file();

        /* Lost: no new keys, no evictions; listing and signing need no secret. */
        ck_assert_int_eq(unlink(af), 0);
        ck_assert_int_eq(b->vtable->create_key(b, &url, &id), -EACCES);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), -EACCES);
        assert_has(b, &a);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_free_ char *csr = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        ck_assert_int_eq(keyurl_open_privkey(a.key_url, &key), 0);
        ck_assert_int_eq(keyurl_open_pubkey(a.key_url, &pub), 0);
        ck_assert_int_eq(x509_make_csr_with_pubkey(key, pub, "node-1", NULL, NULL, &csr), 0);
        /* Clear takes the files and leaves the keys (reconciliation removes them later). */
        ck_assert_int_eq(b->vtable->clear(b), 0);
        ck_assert_uint_eq(count_files("iam"), 0);
        ck_assert(test_tpm_handle_exists(&tpm, url_handle(a.key_url)));

        /* SetOwner repairs it; the old key is still there and can go now. */
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        ck_assert_int_eq(access(af, F_OK), 0);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);
        _cleanup_(item_done) Item n = make_item(b, &ca, true);

        /* Stale (the content of another secret): the same. */
        ck_assert_int_eq(write_file_atomic(af, "0123456789abcdef0123456789abcdef", 32, 0600), 0);
        ck_assert_int_eq(b->vtable->create_key(b, &url, &id), -EACCES);
        ck_assert_int_eq(b->vtable->set_owner(b, "wrong"), -EACCES);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item n2 = make_item(b, &ca, true);
        assert_has(b, &n);
        assert_has(b, &n2);
        test_ca_done(&ca);
}
END_TEST

START_TEST(test_owner_policy_replaced) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        char *url = NULL, *id = NULL;

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        /* Someone sets another owner policy: key creation fails cleanly, SetOwner repairs it. */
        Tpm2Connection c = {};
        TPM2B_AUTH a = { .size = strlen(PASSWORD) };
        memcpy(a.buffer, PASSWORD, a.size);
        TPM2B_DIGEST other = { .size = 32 };
        memset(other.buffer, 0x5a, 32);
        test_tpm_connect(&tpm, &c);
        ck_assert_int_eq(Esys_TR_SetAuth(c.esys, ESYS_TR_RH_OWNER, &a), 0);
        ck_assert_int_eq(Esys_SetPrimaryPolicy(c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                               &other, TPM2_ALG_SHA256), 0);
        tpm2_disconnect(&c);

        ck_assert_int_eq(b->vtable->create_key(b, &url, &id), -EACCES);
        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item it = {};
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        /* The failed attempt left nothing loaded: swtpm has three slots, and more keys come. */
        for (int i = 0; i < 4; i++) {
                _cleanup_(item_done) Item more = {};
                ck_assert_int_eq(b->vtable->create_key(b, &more.key_url, &more.key_id), 0);
        }
}
END_TEST

START_TEST(test_tpm_restart) {
        _cleanup_(cert_backend_freep) CertBackend *b = backend(&iam);
        TestCA ca = make_ca();

        ck_assert_int_eq(b->vtable->set_owner(b, PASSWORD), 0);
        _cleanup_(item_done) Item a = make_item(b, &ca, true);

        /* swtpm restarted with its state: keys, ownership and the policy stay. */
        test_swtpm_stop(&tpm);
        test_swtpm_start(&tpm, dir);
        assert_has(b, &a);
        ck_assert(owner_auth_is(PASSWORD));
        _cleanup_(item_done) Item n = make_item(b, &ca, true);
        ck_assert_int_eq(b->vtable->remove_key(b, a.key_url), 0);

        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        _cleanup_free_ char *csr = NULL;
        ck_assert_int_eq(keyurl_open_privkey(n.key_url, &key), 0);
        ck_assert_int_eq(keyurl_open_pubkey(n.key_url, &pub), 0);
        ck_assert_int_eq(x509_make_csr_with_pubkey(key, pub, "node-1", NULL, NULL, &csr), 0);
        test_ca_done(&ca);
}
END_TEST

static Suite *tpm_suite(void) {
        Suite *s = suite_create("backend tpm");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_set_owner_fresh);
        tcase_add_test(tc, test_set_owner_owned_elsewhere);
        tcase_add_test(tc, test_before_set_owner);
        tcase_add_test(tc, test_srk_handle_taken);
        tcase_add_test(tc, test_create_key_ecdsa);
        tcase_add_test(tc, test_create_key_rsa);
        tcase_add_test(tc, test_key_generation_time);
        tcase_add_test(tc, test_key_handles_unique);
        tcase_add_test(tc, test_foreign_objects_in_block);
        tcase_add_test(tc, test_store_list_remove);
        tcase_add_test(tc, test_refuses_foreign);
        tcase_add_test(tc, test_clear_only_own);
        tcase_add_test(tc, test_list_skips_junk);
        tcase_add_test(tc, test_unreachable);
        tcase_add_test(tc, test_evicted_by_someone_else);
        tcase_add_test(tc, test_secret_lost_or_stale);
        tcase_add_test(tc, test_owner_policy_replaced);
        tcase_add_test(tc, test_tpm_restart);
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
        return test_run_suite(tpm_suite());
}
