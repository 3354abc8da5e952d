/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <dirent.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend-fixture.h"
#include "keyurl.h"

static gnutls_privkey_t make_soft_key(void) {
        gnutls_privkey_t k;
        ck_assert_int_ge(gnutls_privkey_init(&k), 0);
        ck_assert_int_ge(gnutls_privkey_generate(k, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0), 0);
        return k;
}

static gnutls_x509_crt_t make_cert(gnutls_pubkey_t pub, const char *cn, gnutls_x509_crt_t issuer,
                                   gnutls_privkey_t issuer_key, bool ca) {
        gnutls_x509_crt_t c;
        uint8_t serial[16];
        time_t now = time(NULL);

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
        ck_assert_int_ge(gnutls_x509_crt_set_key_usage(c, ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
                                                          : GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
        ck_assert_int_ge(gnutls_x509_crt_privkey_sign(c, issuer ?: c, issuer_key, GNUTLS_DIG_SHA384, 0), 0);
        return c;
}

static gnutls_x509_crt_t make_soft_cert(gnutls_privkey_t key, const char *cn, gnutls_x509_crt_t issuer,
                                        gnutls_privkey_t issuer_key, bool ca) {
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        ck_assert_int_ge(gnutls_pubkey_init(&pub), 0);
        ck_assert_int_ge(gnutls_pubkey_import_privkey(pub, key, 0, 0), 0);
        return make_cert(pub, cn, issuer, issuer_key, ca);
}

static gnutls_x509_crt_t crt_copy(gnutls_x509_crt_t c) {
        gnutls_datum_t d;
        gnutls_x509_crt_t n;
        ck_assert_int_ge(gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_DER, &d), 0);
        ck_assert_int_ge(gnutls_x509_crt_init(&n), 0);
        ck_assert_int_ge(gnutls_x509_crt_import(n, &d, GNUTLS_X509_FMT_DER), 0);
        gnutls_free(d.data);
        return n;
}

TestCA test_ca_make(const char *name) {
        TestCA ca = { .root_key = make_soft_key(), .int_key = make_soft_key() };
        _cleanup_free_ char *root_cn = NULL, *int_cn = NULL;
        ck_assert_int_ge(asprintf(&root_cn, "%s Root", name), 0);
        ck_assert_int_ge(asprintf(&int_cn, "%s Intermediate", name), 0);
        ca.root = make_soft_cert(ca.root_key, root_cn, NULL, ca.root_key, true);
        ca.inter = make_soft_cert(ca.int_key, int_cn, ca.root, ca.root_key, true);
        return ca;
}

void test_ca_done(TestCA *ca) {
        gnutls_privkey_deinit(ca->root_key);
        gnutls_privkey_deinit(ca->int_key);
        gnutls_x509_crt_deinit(ca->root);
        gnutls_x509_crt_deinit(ca->inter);
}

X509Chain test_ca_issue(const TestCA *ca, const char *key_url, const char *cn, bool with_root) {
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        size_t n = with_root ? 3 : 2;
        X509Chain c = { .certs = calloc(n, sizeof(gnutls_x509_crt_t)), .n = n };

        ck_assert_ptr_nonnull(c.certs);
        ck_assert_int_eq(keyurl_open_pubkey(key_url, &pub), 0);
        c.certs[0] = make_cert(pub, cn, ca->inter, ca->int_key, false);
        c.certs[1] = crt_copy(ca->inter);
        if (with_root)
                c.certs[2] = crt_copy(ca->root);
        return c;
}

CertBackend *test_backend_new(const ModuleConfig *m, const CertdConfig *certd, const char *name) {
        CertBackend *b = NULL;
        ck_assert_int_eq(cert_backend_new(m, certd, &b), 0);
        ck_assert_ptr_nonnull(b);
        ck_assert_str_eq(b->vtable->name, name);
        return b;
}

Listing test_list(CertBackend *b, bool key_ids) {
        Listing l = {};
        ck_assert_int_eq(b->vtable->list(b, &l.o, &l.n), 0);
        for (size_t i = 0; i < l.n; i++) {
                ck_assert_ptr_nonnull(l.o[i].url);
                if (key_ids)
                        ck_assert_ptr_nonnull(l.o[i].key_id);
                if (l.o[i].kind == BACKEND_OBJECT_KEY)
                        l.n_keys++;
                else
                        l.n_certs++;
        }
        return l;
}

void listing_done(Listing *l) {
        backend_objects_free(l->o, l->n);
        *l = (Listing) {};
}

const BackendObject *find(const Listing *l, BackendObjectKind kind, const char *key_id) {
        for (size_t i = 0; i < l->n; i++)
                if (l->o[i].kind == kind && streq_ptr(l->o[i].key_id, key_id))
                        return &l->o[i];
        return NULL;
}

void item_done(Item *i) {
        free(i->key_url);
        free(i->key_id);
        free(i->cert_url);
        *i = (Item) {};
}

Item test_make_item(CertBackend *b, const TestCA *ca, bool with_cert, bool with_root) {
        Item it = {};
        ck_assert_int_eq(b->vtable->create_key(b, &it.key_url, &it.key_id), 0);
        if (with_cert) {
                _cleanup_(x509_chain_done) X509Chain c = test_ca_issue(ca, it.key_url, "node-1", with_root);
                ck_assert_int_eq(b->vtable->store_cert(b, it.key_url, &c, &it.cert_url), 0);
        }
        return it;
}

void test_assert_has(CertBackend *b, const Item *it, bool key_ids) {
        Listing l = test_list(b, key_ids);
        const BackendObject *k = find(&l, BACKEND_OBJECT_KEY, it->key_id);
        ck_assert_ptr_nonnull(k);
        ck_assert_str_eq(k->url, it->key_url);
        if (it->cert_url) {
                const BackendObject *c = find(&l, BACKEND_OBJECT_CERT, it->key_id);
                ck_assert_ptr_nonnull(c);
                ck_assert_str_eq(c->url, it->cert_url);
        }
        listing_done(&l);
}

size_t test_count_files(const char *storage, const char *type) {
        _cleanup_free_ char *d = NULL;
        struct dirent *de;
        size_t n = 0;
        DIR *dd;

        ck_assert_int_ge(asprintf(&d, "%s/%s", storage, type), 0);
        dd = opendir(d);
        if (!dd)
                return 0;
        while ((de = readdir(dd)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(dd);
        return n;
}

mode_t test_file_mode(const char *path) {
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        return st.st_mode & 07777;
}
