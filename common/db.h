/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* SQLite helpers: WAL, a busy timeout, schema versions in PRAGMA user_version with migrations in
 * code, errors as negative errno (SQLITE_FULL is -ENOSPC, a corrupt file -EUCLEAN, ...). */

#include <sqlite3.h>

/* migrations[i] takes the schema from version i to i+1; all pending ones run in one
 * transaction. A database newer than the code knows is -EPROTONOSUPPORT. */
int db_open(const char *path, const char *const *migrations, unsigned n_migrations, sqlite3 **ret);
void db_close(sqlite3 *db);
static inline void db_closep(sqlite3 **db) {
        if (*db)
                db_close(*db);
}

int db_errno(int sqlite_rc);
int db_exec(sqlite3 *db, const char *sql);
int db_begin(sqlite3 *db);   /* BEGIN IMMEDIATE */
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);
int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret);

static inline void sqlite3_finalizep(sqlite3_stmt **s) {
        if (*s)
                sqlite3_finalize(*s);
}
#define _cleanup_stmt_ __attribute__((cleanup(sqlite3_finalizep)))
