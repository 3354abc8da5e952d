/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the backend tests (test-backend-{sw,pkcs11,tpm}.c) share: a test CA that issues chains
 * for a backend's keys, the backend under test, its listing, and items (a key, maybe with its
 * certificate) made through the backend. */

#include <stdbool.h>
#include <sys/types.h>

#include "backend.h"
#include "macro.h"
#include "x509.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(CertBackend *, cert_backend_free);

/* Root and intermediate, software ECDSA P-384 keys. */
typedef struct TestCA {
        gnutls_privkey_t root_key, int_key;
        gnutls_x509_crt_t root, inter;
} TestCA;

/* "<name> Root", "<name> Intermediate". */
TestCA test_ca_make(const char *name);
void test_ca_done(TestCA *ca);
/* A leaf with CN cn for the key at key_url (its public key read through the key URL, so any
 * backend's key works), the intermediate, and with_root the root too. */
X509Chain test_ca_issue(const TestCA *ca, const char *key_url, const char *cn, bool with_root);

/* The module's backend; it must be plugin name. */
CertBackend *test_backend_new(const ModuleConfig *m, const CertdConfig *certd, const char *name);

typedef struct Listing {
        BackendObject *o;
        size_t n, n_keys, n_certs;
} Listing;

/* The backend's listing; every object has a URL, and with key_ids a key id too. */
Listing test_list(CertBackend *b, bool key_ids);
void listing_done(Listing *l);
const BackendObject *find(const Listing *l, BackendObjectKind kind, const char *key_id);

typedef struct Item {
        char *key_url, *key_id, *cert_url;
} Item;

void item_done(Item *i);
/* A key, and with_cert a certificate for it (CN node-1; with_root the chain ends in the root). */
Item test_make_item(CertBackend *b, const TestCA *ca, bool with_cert, bool with_root);
/* The backend's listing has this item (key, and its certificate if it has one). */
void test_assert_has(CertBackend *b, const Item *it, bool key_ids);

/* Entries of storage/type that do not start with a dot (0 if it does not exist). */
size_t test_count_files(const char *storage, const char *type);
mode_t test_file_mode(const char *path);
