/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert-store.h"
#include "db.h"
#include "macro.h"

/* migrations[i] takes the schema from version i to i + 1. Never edit a released one: append. */
static const char *const cert_store_migrations[] = {
        /* 1 */
        "CREATE TABLE certs ("
        "        type TEXT NOT NULL,"
        "        cert_url TEXT NOT NULL UNIQUE,"
        "        key_url TEXT NOT NULL,"
        "        issuer_der BLOB NOT NULL,"
        "        serial TEXT NOT NULL,"
        "        subject TEXT NOT NULL,"
        "        issuer TEXT NOT NULL,"
        "        not_before INTEGER NOT NULL,"
        "        not_after INTEGER NOT NULL,"
        "        fingerprint TEXT NOT NULL,"
        "        key_id TEXT NOT NULL,"
        "        common_name TEXT,"
        "        PRIMARY KEY (issuer_der, serial));"
        "CREATE INDEX certs_type_not_after ON certs (type, not_after);"
        "CREATE TABLE pending_keys ("
        "        key_url TEXT PRIMARY KEY,"
        "        type TEXT NOT NULL,"
        "        key_id TEXT NOT NULL,"
        "        created INTEGER NOT NULL);"
        "CREATE TABLE owners ("
        "        type TEXT PRIMARY KEY,"
        "        verifier TEXT NOT NULL);",
};

#define CERT_COLUMNS                                                                    \
        "type, cert_url, key_url, issuer_der, serial, subject, issuer, not_before, "   \
        "not_after, fingerprint, key_id, common_name"

void cert_record_done(CertRecord *r) {
        if (!r)
                return;

        free(r->type);
        free(r->cert_url);
        free(r->key_url);
        x509_cert_info_done(&r->info);
        *r = (CertRecord) {};
}

void cert_records_free(CertRecord *r, size_t n) {
        if (!r)
                return;

        for (size_t i = 0; i < n; i++)
                cert_record_done(r + i);
        free(r);
}

void pending_key_done(PendingKey *k) {
        if (!k)
                return;

        free(k->type);
        free(k->key_url);
        free(k->key_id);
        *k = (PendingKey) {};
}

void pending_keys_free(PendingKey *k, size_t n) {
        if (!k)
                return;

        for (size_t i = 0; i < n; i++)
                pending_key_done(k + i);
        free(k);
}

int cert_store_open(const char *path, sqlite3 **ret) {
        return db_open(path, cert_store_migrations, ELEMENTSOF(cert_store_migrations), ret);
}

/* Statement helpers. Every bind copies nothing (SQLITE_STATIC): the statement is stepped and
 * finalized while the caller's data is alive. */

static int step_done(sqlite3_stmt *s) {
        int rc = sqlite3_step(s);
        return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

static int bind_text(sqlite3_stmt *s, int i, const char *t) {
        return db_errno(sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC));
}

static int bind_blob(sqlite3_stmt *s, int i, const void *p, size_t size) {
        if (size > INT32_MAX)
                return -E2BIG;
        return db_errno(sqlite3_bind_blob(s, i, p, (int) size, SQLITE_STATIC));
}

static int bind_usec(sqlite3_stmt *s, int i, uint64_t usec) {
        if (usec > INT64_MAX) /* beyond year 292277, not a real time */
                return -ERANGE;
        return db_errno(sqlite3_bind_int64(s, i, (sqlite3_int64) usec));
}

static int column_usec(sqlite3_stmt *s, int i, uint64_t *ret) {
        sqlite3_int64 v = sqlite3_column_int64(s, i);
        if (v < 0) /* we never store one */
                return -EUCLEAN;
        *ret = (uint64_t) v;
        return 0;
}

/* A copy of a TEXT column; a NULL value is NULL when nullable, else the file is damaged. */
static int column_strdup(sqlite3_stmt *s, int i, bool nullable, char **ret) {
        const unsigned char *t;
        char *c;

        if (sqlite3_column_type(s, i) == SQLITE_NULL) {
                if (!nullable)
                        return -EUCLEAN;
                *ret = NULL;
                return 0;
        }

        t = sqlite3_column_text(s, i);
        if (!t)
                return -ENOMEM;
        c = strdup((const char *) t);
        if (!c)
                return -ENOMEM;

        *ret = c;
        return 0;
}

static int column_memdup(sqlite3_stmt *s, int i, void **ret, size_t *ret_size) {
        const void *p;
        void *c;
        int size;

        p = sqlite3_column_blob(s, i);
        size = sqlite3_column_bytes(s, i);
        if (size <= 0) /* we never store an empty one */
                return -EUCLEAN;
        if (!p)
                return -ENOMEM;
        c = malloc(size);
        if (!c)
                return -ENOMEM;
        memcpy(c, p, size);

        *ret = c;
        *ret_size = (size_t) size;
        return 0;
}

static bool cert_record_is_valid(const CertRecord *rec) {
        return rec &&
                !isempty(rec->type) && !isempty(rec->cert_url) && !isempty(rec->key_url) &&
                rec->info.issuer_der && rec->info.issuer_der_size > 0 &&
                !isempty(rec->info.serial) && rec->info.subject && rec->info.issuer &&
                rec->info.fingerprint && rec->info.key_id;
}

/* Reads the current row, selected with CERT_COLUMNS. */
static int cert_record_from_row(sqlite3_stmt *s, CertRecord *ret) {
        _cleanup_(cert_record_done) CertRecord rec = {};
        int r;

        r = column_strdup(s, 0, false, &rec.type);
        if (r < 0)
                return r;
        r = column_strdup(s, 1, false, &rec.cert_url);
        if (r < 0)
                return r;
        r = column_strdup(s, 2, false, &rec.key_url);
        if (r < 0)
                return r;
        r = column_memdup(s, 3, &rec.info.issuer_der, &rec.info.issuer_der_size);
        if (r < 0)
                return r;
        r = column_strdup(s, 4, false, &rec.info.serial);
        if (r < 0)
                return r;
        r = column_strdup(s, 5, false, &rec.info.subject);
        if (r < 0)
                return r;
        r = column_strdup(s, 6, false, &rec.info.issuer);
        if (r < 0)
                return r;
        r = column_usec(s, 7, &rec.info.not_before);
        if (r < 0)
                return r;
        r = column_usec(s, 8, &rec.info.not_after);
        if (r < 0)
                return r;
        r = column_strdup(s, 9, false, &rec.info.fingerprint);
        if (r < 0)
                return r;
        r = column_strdup(s, 10, false, &rec.info.key_id);
        if (r < 0)
                return r;
        r = column_strdup(s, 11, true, &rec.info.common_name);
        if (r < 0)
                return r;

        *ret = rec;
        rec = (CertRecord) {};
        return 0;
}

static int cert_store_insert(sqlite3 *db, const CertRecord *rec) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int r;

        r = db_prepare(db,
                       "INSERT INTO certs (" CERT_COLUMNS ") "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                       &s);
        if (r < 0)
                return r;

        if ((r = bind_text(s, 1, rec->type)) < 0 ||
            (r = bind_text(s, 2, rec->cert_url)) < 0 ||
            (r = bind_text(s, 3, rec->key_url)) < 0 ||
            (r = bind_blob(s, 4, rec->info.issuer_der, rec->info.issuer_der_size)) < 0 ||
            (r = bind_text(s, 5, rec->info.serial)) < 0 ||
            (r = bind_text(s, 6, rec->info.subject)) < 0 ||
            (r = bind_text(s, 7, rec->info.issuer)) < 0 ||
            (r = bind_usec(s, 8, rec->info.not_before)) < 0 ||
            (r = bind_usec(s, 9, rec->info.not_after)) < 0 ||
            (r = bind_text(s, 10, rec->info.fingerprint)) < 0 ||
            (r = bind_text(s, 11, rec->info.key_id)) < 0 ||
            (r = bind_text(s, 12, rec->info.common_name)) < 0) /* NULL binds NULL */
                return r;

        return step_done(s);
}

/* Deletes with a statement taking (?1, ?2) = (a, b); returns 1 if a row went, else 0. */
static int delete_rows(sqlite3 *db, const char *sql, const char *a, const char *b) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int r;

        r = db_prepare(db, sql, &s);
        if (r < 0)
                return r;

        r = bind_text(s, 1, a);
        if (r < 0)
                return r;
        if (b) {
                r = bind_text(s, 2, b);
                if (r < 0)
                        return r;
        }

        r = step_done(s);
        if (r < 0)
                return r;

        return sqlite3_changes(db) > 0;
}

static int cert_store_apply_locked(sqlite3 *db, const CertRecord *rec, char *const *trimmed_cert_urls) {
        int r;

        r = cert_store_insert(db, rec);
        if (r < 0)
                return r;

        r = delete_rows(db, "DELETE FROM pending_keys WHERE type = ?1 AND key_url = ?2",
                        rec->type, rec->key_url);
        if (r < 0)
                return r;

        for (char *const *u = trimmed_cert_urls; u && *u; u++) {
                /* Already gone is fine: a repeated call after a power cut finds it so. */
                r = delete_rows(db, "DELETE FROM certs WHERE type = ?1 AND cert_url = ?2",
                                rec->type, *u);
                if (r < 0)
                        return r;
        }

        return 0;
}

int cert_store_commit_apply(sqlite3 *db, const CertRecord *rec, char *const *trimmed_cert_urls) {
        int r;

        if (!db || !cert_record_is_valid(rec))
                return -EINVAL;
        /* Never trim the certificate just applied. */
        if (strv_contains(trimmed_cert_urls, rec->cert_url))
                return -EINVAL;
        for (char *const *u = trimmed_cert_urls; u && *u; u++)
                if (isempty(*u))
                        return -EINVAL;

        r = db_begin(db);
        if (r < 0)
                return r;

        r = cert_store_apply_locked(db, rec, trimmed_cert_urls);
        if (r >= 0)
                r = db_commit(db);
        if (r < 0) {
                db_rollback(db);
                return r;
        }

        return 0;
}

int cert_store_add(sqlite3 *db, const CertRecord *rec) {
        if (!db || !cert_record_is_valid(rec))
                return -EINVAL;

        return cert_store_insert(db, rec);
}

int cert_store_remove(sqlite3 *db, const char *type, const char *cert_url) {
        if (!db || isempty(type) || isempty(cert_url))
                return -EINVAL;

        return delete_rows(db, "DELETE FROM certs WHERE type = ?1 AND cert_url = ?2", type, cert_url);
}

static int cert_store_clear_type_locked(sqlite3 *db, const char *type) {
        int r;

        r = delete_rows(db, "DELETE FROM certs WHERE type = ?1", type, NULL);
        if (r < 0)
                return r;

        r = delete_rows(db, "DELETE FROM pending_keys WHERE type = ?1", type, NULL);
        if (r < 0)
                return r;

        return 0;
}

int cert_store_clear_type(sqlite3 *db, const char *type) {
        int r;

        if (!db || isempty(type))
                return -EINVAL;

        r = db_begin(db);
        if (r < 0)
                return r;

        r = cert_store_clear_type_locked(db, type);
        if (r >= 0)
                r = db_commit(db);
        if (r < 0) {
                db_rollback(db);
                return r;
        }

        return 0;
}

int cert_store_list(sqlite3 *db, const char *type, CertRecord **ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        CertRecord *list = NULL;
        size_t n = 0, allocated = 0;
        int r, rc;

        if (!db || isempty(type) || !ret || !ret_n)
                return -EINVAL;

        r = db_prepare(db,
                       "SELECT " CERT_COLUMNS " FROM certs WHERE type = ?1 "
                       "ORDER BY not_after ASC, cert_url ASC",
                       &s);
        if (r < 0)
                return r;

        r = bind_text(s, 1, type);
        if (r < 0)
                return r;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                if (n == allocated) {
                        size_t k = MAX(allocated * 2, (size_t) 4);
                        CertRecord *l = reallocarray(list, k, sizeof(CertRecord));
                        if (!l) {
                                r = -ENOMEM;
                                break;
                        }
                        list = l;
                        allocated = k;
                }

                r = cert_record_from_row(s, list + n);
                if (r < 0)
                        break;
                n++;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = db_errno(rc);
        if (r < 0) {
                cert_records_free(list, n);
                return r;
        }

        *ret = list;
        *ret_n = n;
        return 0;
}

static int cert_store_get_one(sqlite3_stmt *s, CertRecord *ret) {
        int rc;

        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return db_errno(rc);

        return cert_record_from_row(s, ret);
}

int cert_store_latest(sqlite3 *db, const char *type, CertRecord *ret) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int r;

        if (!db || isempty(type) || !ret)
                return -EINVAL;

        /* The last entry of cert_store_list(). */
        r = db_prepare(db,
                       "SELECT " CERT_COLUMNS " FROM certs WHERE type = ?1 "
                       "ORDER BY not_after DESC, cert_url DESC LIMIT 1",
                       &s);
        if (r < 0)
                return r;

        r = bind_text(s, 1, type);
        if (r < 0)
                return r;

        return cert_store_get_one(s, ret);
}

int cert_store_get(sqlite3 *db, const char *type, const void *issuer_der, size_t issuer_der_size,
                   const char *serial, CertRecord *ret) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int r;

        if (!db || isempty(type) || !issuer_der || issuer_der_size == 0 || isempty(serial) || !ret)
                return -EINVAL;

        r = db_prepare(db,
                       "SELECT " CERT_COLUMNS " FROM certs "
                       "WHERE issuer_der = ?1 AND serial = ?2 AND type = ?3",
                       &s);
        if (r < 0)
                return r;

        if ((r = bind_blob(s, 1, issuer_der, issuer_der_size)) < 0 ||
            (r = bind_text(s, 2, serial)) < 0 ||
            (r = bind_text(s, 3, type)) < 0)
                return r;

        return cert_store_get_one(s, ret);
}

int pending_key_add(sqlite3 *db, const PendingKey *k) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int r;

        if (!db || !k || isempty(k->type) || isempty(k->key_url) || !k->key_id)
                return -EINVAL;

        r = db_prepare(db,
                       "INSERT INTO pending_keys (key_url, type, key_id, created) "
                       "VALUES (?1, ?2, ?3, ?4)",
                       &s);
        if (r < 0)
                return r;

        if ((r = bind_text(s, 1, k->key_url)) < 0 ||
            (r = bind_text(s, 2, k->type)) < 0 ||
            (r = bind_text(s, 3, k->key_id)) < 0 ||
            (r = bind_usec(s, 4, k->created_usec)) < 0)
                return r;

        return step_done(s);
}

static int pending_key_from_row(sqlite3_stmt *s, PendingKey *ret) {
        _cleanup_(pending_key_done) PendingKey k = {};
        int r;

        r = column_strdup(s, 0, false, &k.key_url);
        if (r < 0)
                return r;
        r = column_strdup(s, 1, false, &k.type);
        if (r < 0)
                return r;
        r = column_strdup(s, 2, false, &k.key_id);
        if (r < 0)
                return r;
        r = column_usec(s, 3, &k.created_usec);
        if (r < 0)
                return r;

        *ret = k;
        k = (PendingKey) {};
        return 0;
}

int pending_key_list(sqlite3 *db, const char *type, PendingKey **ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        PendingKey *list = NULL;
        size_t n = 0, allocated = 0;
        int r, rc;

        if (!db || isempty(type) || !ret || !ret_n)
                return -EINVAL;

        r = db_prepare(db,
                       "SELECT key_url, type, key_id, created FROM pending_keys WHERE type = ?1 "
                       "ORDER BY created ASC, key_url ASC",
                       &s);
        if (r < 0)
                return r;

        r = bind_text(s, 1, type);
        if (r < 0)
                return r;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                if (n == allocated) {
                        size_t k = MAX(allocated * 2, (size_t) 4);
                        PendingKey *l = reallocarray(list, k, sizeof(PendingKey));
                        if (!l) {
                                r = -ENOMEM;
                                break;
                        }
                        list = l;
                        allocated = k;
                }

                r = pending_key_from_row(s, list + n);
                if (r < 0)
                        break;
                n++;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = db_errno(rc);
        if (r < 0) {
                pending_keys_free(list, n);
                return r;
        }

        *ret = list;
        *ret_n = n;
        return 0;
}

int pending_key_remove(sqlite3 *db, const char *key_url) {
        if (!db || isempty(key_url))
                return -EINVAL;

        return delete_rows(db, "DELETE FROM pending_keys WHERE key_url = ?1", key_url, NULL);
}

int owner_get(sqlite3 *db, const char *type, char **ret_verifier) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int r, rc;

        if (!db || isempty(type) || !ret_verifier)
                return -EINVAL;

        r = db_prepare(db, "SELECT verifier FROM owners WHERE type = ?1", &s);
        if (r < 0)
                return r;

        r = bind_text(s, 1, type);
        if (r < 0)
                return r;

        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return db_errno(rc);

        return column_strdup(s, 0, false, ret_verifier);
}

int owner_set(sqlite3 *db, const char *type, const char *verifier) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int r;

        if (!db || isempty(type) || isempty(verifier))
                return -EINVAL;

        r = db_prepare(db,
                       "INSERT INTO owners (type, verifier) VALUES (?1, ?2) "
                       "ON CONFLICT (type) DO UPDATE SET verifier = excluded.verifier",
                       &s);
        if (r < 0)
                return r;

        if ((r = bind_text(s, 1, type)) < 0 ||
            (r = bind_text(s, 2, verifier)) < 0)
                return r;

        return step_done(s);
}
