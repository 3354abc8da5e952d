/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* aos-certd's metadata in SQLite (common/db.h): applied certificates, pending keys (made by
 * CreateKey, waiting for ApplyCert; kept across restarts so that a factory restart between
 * CreateKey and ApplyCert loses nothing) and each module's owner verifier (password.h).
 * Every change is one transaction. */

#include <sqlite3.h>
#include <stdint.h>

#include "x509.h"

typedef struct CertRecord {
        char *type;
        char *cert_url;
        char *key_url;
        X509CertInfo info; /* every field stored */
} CertRecord;

void cert_record_done(CertRecord *r);
void cert_records_free(CertRecord *r, size_t n);

typedef struct PendingKey {
        char *type;
        char *key_url;
        char *key_id;
        uint64_t created_usec; /* CLOCK_REALTIME */
} PendingKey;

void pending_key_done(PendingKey *k);
void pending_keys_free(PendingKey *k, size_t n);

int cert_store_open(const char *path, sqlite3 **ret);

/* Ordered by not_after ascending, then cert_url. An unknown type is an empty list. */
int cert_store_list(sqlite3 *db, const char *type, CertRecord **ret, size_t *ret_n);
/* The record with the latest not_after of type: -ENOENT if none. */
int cert_store_latest(sqlite3 *db, const char *type, CertRecord *ret);
/* By issuer DER and serial (lowercase hex) within type: -ENOENT if none. */
int cert_store_get(sqlite3 *db, const char *type, const void *issuer_der, size_t issuer_der_size,
                   const char *serial, CertRecord *ret);

/* One transaction: insert rec (-EEXIST if the same issuer+serial is stored), delete the
 * pending key row rec->key_url (if present), delete the rows of trimmed_cert_urls (NULL-terminated,
 * may be NULL). */
int cert_store_commit_apply(sqlite3 *db, const CertRecord *rec, char *const *trimmed_cert_urls);
int cert_store_add(sqlite3 *db, const CertRecord *rec);
/* Return 1 if a row was removed, 0 if there was none (repeating a removal is not an error). */
int cert_store_remove(sqlite3 *db, const char *type, const char *cert_url);
/* Removes the type's certificates and pending keys (not its owner verifier). */
int cert_store_clear_type(sqlite3 *db, const char *type);

int pending_key_add(sqlite3 *db, const PendingKey *k);
/* Ordered by created ascending (oldest first). */
int pending_key_list(sqlite3 *db, const char *type, PendingKey **ret, size_t *ret_n);
int pending_key_remove(sqlite3 *db, const char *key_url);

/* -ENOENT if the type has no owner yet. */
int owner_get(sqlite3 *db, const char *type, char **ret_verifier);
int owner_set(sqlite3 *db, const char *type, const char *verifier);
