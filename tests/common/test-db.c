/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "db.h"
#include "macro.h"
#include "test-util.h"

static char *dir;
static char *path;

static void setup(void) {
        dir = test_tmpdir();
        ck_assert_int_ge(asprintf(&path, "%s/test.db", dir), 0);
}

static void teardown(void) {
        test_rm_rf(dir);
        free(dir);
        free(path);
        dir = path = NULL;
}

static const char *const migrations[] = {
        "CREATE TABLE a (x INTEGER NOT NULL UNIQUE);",
        /* Fails when run twice. */
        "INSERT INTO a (x) VALUES (1);",
};

static int64_t query_int(sqlite3 *db, const char *sql) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;

        ck_assert_int_eq(db_prepare(db, sql, &s), 0);
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        return sqlite3_column_int64(s, 0);
}

static bool table_exists(sqlite3 *db, const char *name) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;

        ck_assert_int_eq(db_prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", &s), 0);
        ck_assert_int_eq(sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC), SQLITE_OK);
        return sqlite3_step(s) == SQLITE_ROW;
}

static void write_file(const char *p, const void *data, size_t size) {
        FILE *f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, size, f), size);
        ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_open_creates_0600) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        struct stat st;
        mode_t old;

        /* The mode does not depend on the umask. */
        old = umask(0);
        ck_assert_int_eq(db_open(path, migrations, ELEMENTSOF(migrations), &db), 0);
        umask(old);
        ck_assert_ptr_nonnull(db);

        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), (int64_t) ELEMENTSOF(migrations));
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 1);

        /* SQLite gives the WAL the database's mode. */
        ck_assert_int_eq(db_exec(db, "INSERT INTO a (x) VALUES (2)"), 0);
        _cleanup_free_ char *wal = NULL;
        ck_assert_int_ge(asprintf(&wal, "%s-wal", path), 0);
        ck_assert_int_eq(stat(wal, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(test_pragmas) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_stmt_ sqlite3_stmt *s = NULL;

        ck_assert_int_eq(db_open(path, migrations, ELEMENTSOF(migrations), &db), 0);

        ck_assert_int_eq(db_prepare(db, "PRAGMA journal_mode", &s), 0);
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        ck_assert_str_eq((const char *) sqlite3_column_text(s, 0), "wal");

        ck_assert_int_eq(query_int(db, "PRAGMA synchronous"), 2); /* FULL */
        ck_assert_int_eq(query_int(db, "PRAGMA foreign_keys"), 1);
        ck_assert_int_eq(query_int(db, "PRAGMA busy_timeout"), 5000);
}
END_TEST

START_TEST(test_reopen_runs_nothing_twice) {
        for (int i = 0; i < 3; i++) {
                _cleanup_(db_closep) sqlite3 *db = NULL;

                ck_assert_int_eq(db_open(path, migrations, ELEMENTSOF(migrations), &db), 0);
                ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 2);
                ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 1);
        }
}
END_TEST

START_TEST(test_later_migration_runs_once) {
        _cleanup_(db_closep) sqlite3 *db = NULL;

        ck_assert_int_eq(db_open(path, migrations, 1, &db), 0);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 1);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 0);
        db_close(TAKE_PTR(db));

        ck_assert_int_eq(db_open(path, migrations, 1, &db), 0);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 1);
        db_close(TAKE_PTR(db));

        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 2);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 1);
        db_close(TAKE_PTR(db));

        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 2);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 1);
}
END_TEST

START_TEST(test_newer_database) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        sqlite3 *other = (sqlite3 *) 0x1;

        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);
        db_close(TAKE_PTR(db));

        ck_assert_int_eq(db_open(path, migrations, 1, &other), -EPROTONOSUPPORT);
        ck_assert_ptr_eq(other, (sqlite3 *) 0x1); /* untouched on failure */
        ck_assert_int_eq(db_open(path, NULL, 0, &other), -EPROTONOSUPPORT);

        /* Nothing was changed by the refused opens. */
        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 1);
}
END_TEST

START_TEST(test_garbage_file) {
        sqlite3 *db = NULL;
        char garbage[4096];

        write_file(path, "this is not a database, just text\n", 34);
        ck_assert_int_eq(db_open(path, migrations, 2, &db), -EUCLEAN);
        ck_assert_ptr_null(db);

        for (size_t i = 0; i < sizeof garbage; i++)
                garbage[i] = (char) (i * 7 + 3);
        write_file(path, garbage, sizeof garbage);
        ck_assert_int_eq(db_open(path, migrations, 2, &db), -EUCLEAN);

        /* A valid header over a damaged body. */
        memcpy(garbage, "SQLite format 3", 16);
        write_file(path, garbage, sizeof garbage);
        ck_assert_int_eq(db_open(path, migrations, 2, &db), -EUCLEAN);
        ck_assert_ptr_null(db);
}
END_TEST

START_TEST(test_empty_file) {
        _cleanup_(db_closep) sqlite3 *db = NULL;

        /* An empty file is an empty database (what a crash right after creating it leaves). */
        write_file(path, "", 0);
        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 2);
}
END_TEST

START_TEST(test_failing_migration_rolls_back) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        sqlite3 *other = NULL;
        const char *const bad[] = {
                migrations[0],
                "CREATE TABLE b (y); INSERT INTO a (x) VALUES (7); INSERT INTO nonexistent VALUES (1);",
        };

        /* On a fresh file: not even the first migration stays. */
        ck_assert_int_lt(db_open(path, bad, 2, &other), 0);
        ck_assert_ptr_null(other);
        ck_assert_int_eq(db_open(path, NULL, 0, &db), 0);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 0);
        ck_assert(!table_exists(db, "a"));
        ck_assert(!table_exists(db, "b"));
        db_close(TAKE_PTR(db));

        /* On a migrated file: the version and the schema stay as they were. */
        ck_assert_int_eq(db_open(path, migrations, 1, &db), 0);
        db_close(TAKE_PTR(db));
        ck_assert_int_lt(db_open(path, bad, 2, &other), 0);
        ck_assert_ptr_null(other);

        ck_assert_int_eq(db_open(path, migrations, 1, &db), 0);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 1);
        ck_assert(table_exists(db, "a"));
        ck_assert(!table_exists(db, "b"));
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 0);
        db_close(TAKE_PTR(db));

        /* And the right migration still applies afterwards. */
        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 1);
}
END_TEST

START_TEST(test_open_errors) {
        sqlite3 *db = NULL;
        const char *const with_null[] = { migrations[0], NULL };

        ck_assert_int_eq(db_open("/dev/shm/aos-test-does-not-exist/x/test.db", migrations, 2, &db), -ENOENT);
        ck_assert_int_eq(db_open(NULL, migrations, 2, &db), -EINVAL);
        ck_assert_int_eq(db_open("", migrations, 2, &db), -EINVAL);
        ck_assert_int_eq(db_open(path, NULL, 2, &db), -EINVAL);
        ck_assert_int_eq(db_open(path, with_null, 2, &db), -EINVAL);
        ck_assert_int_eq(db_open(path, migrations, 2, NULL), -EINVAL);
        ck_assert_ptr_null(db);
}
END_TEST

START_TEST(test_errno_mapping) {
        ck_assert_int_eq(db_errno(SQLITE_OK), 0);
        ck_assert_int_eq(db_errno(SQLITE_DONE), 0);
        ck_assert_int_eq(db_errno(SQLITE_FULL), -ENOSPC);
        ck_assert_int_eq(db_errno(SQLITE_CONSTRAINT), -EEXIST);
        ck_assert_int_eq(db_errno(SQLITE_CONSTRAINT_UNIQUE), -EEXIST);
        ck_assert_int_eq(db_errno(SQLITE_CONSTRAINT_PRIMARYKEY), -EEXIST);
        ck_assert_int_eq(db_errno(SQLITE_CONSTRAINT_NOTNULL), -EINVAL);
        ck_assert_int_eq(db_errno(SQLITE_CONSTRAINT_CHECK), -EINVAL);
        ck_assert_int_eq(db_errno(SQLITE_NOTFOUND), -ENOENT);
        ck_assert_int_eq(db_errno(SQLITE_CANTOPEN), -ENOENT);
        ck_assert_int_eq(db_errno(SQLITE_BUSY), -EBUSY);
        ck_assert_int_eq(db_errno(SQLITE_BUSY_SNAPSHOT), -EBUSY);
        ck_assert_int_eq(db_errno(SQLITE_LOCKED), -EBUSY);
        ck_assert_int_eq(db_errno(SQLITE_READONLY), -EROFS);
        ck_assert_int_eq(db_errno(SQLITE_READONLY_DBMOVED), -EROFS);
        ck_assert_int_eq(db_errno(SQLITE_CORRUPT), -EUCLEAN);
        ck_assert_int_eq(db_errno(SQLITE_NOTADB), -EUCLEAN);
        ck_assert_int_eq(db_errno(SQLITE_NOMEM), -ENOMEM);
        ck_assert_int_eq(db_errno(SQLITE_IOERR), -EIO);
        ck_assert_int_eq(db_errno(SQLITE_IOERR_FSYNC), -EIO);
        ck_assert_int_eq(db_errno(SQLITE_IOERR_SHORT_READ), -EIO);
        ck_assert_int_eq(db_errno(SQLITE_PERM), -EACCES);
        ck_assert_int_eq(db_errno(SQLITE_TOOBIG), -E2BIG);
        ck_assert_int_eq(db_errno(SQLITE_MISUSE), -EINVAL);
        ck_assert_int_eq(db_errno(SQLITE_ERROR), -EIO);
        ck_assert_int_eq(db_errno(SQLITE_PROTOCOL), -EIO);
}
END_TEST

START_TEST(test_statement_errors) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;

        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);

        ck_assert_int_eq(db_exec(db, "INSERT INTO a (x) VALUES (1)"), -EEXIST);
        ck_assert_int_eq(db_exec(db, "INSERT INTO a (x) VALUES (NULL)"), -EINVAL);
        ck_assert_int_eq(db_exec(db, "THIS IS NOT SQL"), -EIO);
        ck_assert_int_eq(db_prepare(db, "SELECT * FROM nonexistent", &s), -EIO);
        ck_assert_int_eq(db_prepare(db, "   ", &s), -EINVAL);
        ck_assert_ptr_null(s);
        ck_assert_int_eq(db_exec(NULL, "SELECT 1"), -EINVAL);
        ck_assert_int_eq(db_exec(db, NULL), -EINVAL);
}
END_TEST

START_TEST(test_transactions) {
        _cleanup_(db_closep) sqlite3 *db = NULL;

        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);

        ck_assert_int_eq(db_begin(db), 0);
        ck_assert_int_eq(db_exec(db, "INSERT INTO a (x) VALUES (2)"), 0);
        db_rollback(db);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 1);

        ck_assert_int_eq(db_begin(db), 0);
        ck_assert_int_eq(db_exec(db, "INSERT INTO a (x) VALUES (2)"), 0);
        ck_assert_int_eq(db_commit(db), 0);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 2);

        /* Harmless without a transaction; a COMMIT without one is an error. */
        db_rollback(db);
        db_rollback(NULL);
        ck_assert_int_lt(db_commit(db), 0);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 2);

        /* Committed data is there for the next opener. */
        db_close(TAKE_PTR(db));
        ck_assert_int_eq(db_open(path, migrations, 2, &db), 0);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 2);
}
END_TEST

START_TEST(test_busy) {
        _cleanup_(db_closep) sqlite3 *a = NULL, *b = NULL;

        ck_assert_int_eq(db_open(path, migrations, 2, &a), 0);
        ck_assert_int_eq(db_open(path, migrations, 2, &b), 0);

        ck_assert_int_eq(db_begin(a), 0);
        /* Do not wait the 5 s for the writer. */
        ck_assert_int_eq(sqlite3_busy_timeout(b, 0), SQLITE_OK);
        ck_assert_int_eq(db_begin(b), -EBUSY);
        /* Readers go on in WAL mode. */
        ck_assert_int_eq(query_int(b, "SELECT count(*) FROM a"), 1);
        ck_assert_int_eq(db_commit(a), 0);
        ck_assert_int_eq(db_begin(b), 0);
        ck_assert_int_eq(db_commit(b), 0);
}
END_TEST

START_TEST(test_memory) {
        _cleanup_(db_closep) sqlite3 *db = NULL;

        ck_assert_int_eq(db_open(":memory:", migrations, 2, &db), 0);
        ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 2);
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM a"), 1);
}
END_TEST

static Suite *db_suite(void) {
        Suite *s = suite_create("db");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_open_creates_0600);
        tcase_add_test(tc, test_pragmas);
        tcase_add_test(tc, test_reopen_runs_nothing_twice);
        tcase_add_test(tc, test_later_migration_runs_once);
        tcase_add_test(tc, test_newer_database);
        tcase_add_test(tc, test_garbage_file);
        tcase_add_test(tc, test_empty_file);
        tcase_add_test(tc, test_failing_migration_rolls_back);
        tcase_add_test(tc, test_open_errors);
        tcase_add_test(tc, test_errno_mapping);
        tcase_add_test(tc, test_statement_errors);
        tcase_add_test(tc, test_transactions);
        tcase_add_test(tc, test_busy);
        tcase_add_test(tc, test_memory);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(db_suite());
}
