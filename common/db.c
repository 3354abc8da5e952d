/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "db.h"
#include "macro.h"

#define DB_BUSY_TIMEOUT_MSEC 5000

static bool constraint_is_invalid_value(int sqlite_rc) {
        switch (sqlite_rc) {
        case SQLITE_CONSTRAINT_NOTNULL:
        case SQLITE_CONSTRAINT_CHECK:
#ifdef SQLITE_CONSTRAINT_DATATYPE
        case SQLITE_CONSTRAINT_DATATYPE:
#endif
                return true;
        default:
                return false;
        }
}

int db_errno(int sqlite_rc) {
        switch (sqlite_rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CONSTRAINT:
                /* A missing value or a failed CHECK is a bad argument, not a duplicate. */
                if (constraint_is_invalid_value(sqlite_rc))
                        return -EINVAL;
                return -EEXIST;
        case SQLITE_NOTFOUND:
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EUCLEAN;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_MISUSE:
        case SQLITE_RANGE:
        case SQLITE_MISMATCH:
                return -EINVAL;
        case SQLITE_IOERR:
        default:
                return -EIO;
        }
}

int db_exec(sqlite3 *db, const char *sql) {
        if (!db || !sql)
                return -EINVAL;

        return db_errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

int db_begin(sqlite3 *db) {
        return db_exec(db, "BEGIN IMMEDIATE");
}

int db_commit(sqlite3 *db) {
        return db_exec(db, "COMMIT");
}

void db_rollback(sqlite3 *db) {
        /* Some errors (SQLITE_FULL, SQLITE_IOERR, ...) already rolled the transaction back. */
        if (db && !sqlite3_get_autocommit(db))
                (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        sqlite3_stmt *s = NULL;
        int rc;

        if (!db || !sql || !ret)
                return -EINVAL;

        rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
        if (rc != SQLITE_OK)
                return db_errno(rc);
        if (!s) /* only white space or comments */
                return -EINVAL;

        *ret = s;
        return 0;
}

void db_close(sqlite3 *db) {
        /* _v2: a statement still alive keeps the connection until it is finalized. */
        if (db)
                (void) sqlite3_close_v2(db);
}

static int db_query_int64(sqlite3 *db, const char *sql, int64_t *ret) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_prepare(db, sql, &s);
        if (r < 0)
                return r;

        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? -ENODATA : db_errno(rc);

        *ret = sqlite3_column_int64(s, 0);
        return 0;
}

static int db_query_text(sqlite3 *db, const char *sql, char **ret) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        const unsigned char *t;
        char *c;
        int r, rc;

        r = db_prepare(db, sql, &s);
        if (r < 0)
                return r;

        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? -ENODATA : db_errno(rc);

        t = sqlite3_column_text(s, 0);
        if (!t)
                return -ENODATA;
        c = strdup((const char *) t);
        if (!c)
                return -ENOMEM;

        *ret = c;
        return 0;
}

static int db_get_user_version(sqlite3 *db, unsigned *ret) {
        int64_t v;
        int r;

        r = db_query_int64(db, "PRAGMA user_version", &v);
        if (r < 0)
                return r;
        if (v < 0) /* we never write one */
                return -EUCLEAN;

        *ret = (unsigned) v;
        return 0;
}

/* Runs inside the write transaction. */
static int db_migrate_locked(sqlite3 *db, const char *const *migrations, unsigned n_migrations) {
        char sql[64];
        unsigned version;
        int r;

        /* Read again under the write lock: another process may have migrated meanwhile. */
        r = db_get_user_version(db, &version);
        if (r < 0)
                return r;
        if (version > n_migrations)
                return -EPROTONOSUPPORT;

        for (unsigned i = version; i < n_migrations; i++) {
                r = db_exec(db, migrations[i]);
                if (r < 0)
                        return r;
        }

        (void) snprintf(sql, sizeof sql, "PRAGMA user_version = %u", n_migrations);
        return db_exec(db, sql);
}

static int db_migrate(sqlite3 *db, const char *const *migrations, unsigned n_migrations) {
        unsigned version;
        int r;

        r = db_get_user_version(db, &version);
        if (r < 0)
                return r;
        if (version > n_migrations)
                return -EPROTONOSUPPORT;
        if (version == n_migrations)
                return 0;

        r = db_begin(db);
        if (r < 0)
                return r;

        r = db_migrate_locked(db, migrations, n_migrations);
        if (r >= 0)
                r = db_commit(db);
        if (r < 0) {
                db_rollback(db);
                return r;
        }

        return 0;
}

/* Creates the file with mode 0600 whatever the umask, so that SQLite (which gives the -wal and
 * -shm files the mode of the database) never makes anything wider. */
static int db_create_file(const char *path) {
        _cleanup_close_ int fd = -1;

        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return errno == EEXIST ? 0 : -errno;
        if (fchmod(fd, 0600) < 0)
                return -errno;

        return 1;
}

int db_open(const char *path, const char *const *migrations, unsigned n_migrations, sqlite3 **ret) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_free_ char *mode = NULL;
        bool memory;
        int r, rc;

        if (isempty(path) || (n_migrations > 0 && !migrations) || n_migrations > INT_MAX || !ret)
                return -EINVAL;
        for (unsigned i = 0; i < n_migrations; i++)
                if (!migrations[i])
                        return -EINVAL;

        memory = streq(path, ":memory:");
        if (!memory) {
                r = db_create_file(path);
                if (r < 0)
                        return r;
        }

        /* One thread uses a connection; the file exists, so SQLite need not create it. */
        rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (memory ? SQLITE_OPEN_CREATE : 0),
                             NULL);
        if (rc != SQLITE_OK)
                return db_errno(rc);

        (void) sqlite3_extended_result_codes(db, 1);
        (void) sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

        rc = sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MSEC);
        if (rc != SQLITE_OK)
                return db_errno(rc);

        /* The first statement reads the header: a corrupt file or not a database fails here. */
        r = db_query_text(db, "PRAGMA journal_mode = WAL", &mode);
        if (r < 0)
                return r;
        if (!memory && strcasecmp(mode, "wal") != 0)
                return -EOPNOTSUPP;

        /* FULL: a commit (an applied certificate) survives a power cut, even in WAL mode. */
        r = db_exec(db, "PRAGMA synchronous = FULL");
        if (r < 0)
                return r;

        r = db_exec(db, "PRAGMA foreign_keys = ON");
        if (r < 0)
                return r;

        r = db_migrate(db, migrations, n_migrations);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(db);
        return 0;
}
