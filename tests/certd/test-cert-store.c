/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cert-store.h"
#include "db.h"
#include "macro.h"
#include "test-util.h"

static char *dir;
static char *path;

static void setup(void) {
        dir = test_tmpdir();
        ck_assert_int_ge(asprintf(&path, "%s/certd.db", dir), 0);
}

static void teardown(void) {
        test_rm_rf(dir);
        free(dir);
        free(path);
        dir = path = NULL;
}

static const uint8_t issuer_a[] = { 0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, 'C', 'A' };
static const uint8_t issuer_b[] = { 0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, 'C', 'B' };

static char *xstrdup(const char *s) {
        char *c;

        if (!s)
                return NULL;
        c = strdup(s);
        ck_assert_ptr_nonnull(c);
        return c;
}

/* A record as ApplyCert would make it; every field derived from (type, serial). */
static CertRecord make_record(const char *type, const uint8_t *issuer_der, size_t issuer_der_size,
                              const char *serial, uint64_t not_after, const char *common_name) {
        CertRecord r = {};
        char buf[256];

        r.type = xstrdup(type);
        snprintf(buf, sizeof buf, "pkcs11:token=aos;object=%s;id=%%%s?pin-source=/p", type, serial);
        r.cert_url = xstrdup(buf);
        snprintf(buf, sizeof buf, "pkcs11:token=aos;object=%s-key;id=%%%s?pin-source=/p", type, serial);
        r.key_url = xstrdup(buf);
        r.info.issuer_der = malloc(issuer_der_size);
        ck_assert_ptr_nonnull(r.info.issuer_der);
        memcpy(r.info.issuer_der, issuer_der, issuer_der_size);
        r.info.issuer_der_size = issuer_der_size;
        r.info.serial = xstrdup(serial);
        snprintf(buf, sizeof buf, "CN=%s,O=Aos", common_name ?: "none");
        r.info.subject = xstrdup(buf);
        r.info.issuer = xstrdup(issuer_der[issuer_der_size - 1] == 'A' ? "CN=CA" : "CN=CB");
        r.info.not_before = not_after - 365 * 24 * 3600 * USEC_PER_SEC;
        r.info.not_after = not_after;
        snprintf(buf, sizeof buf, "f1%s", serial);
        r.info.fingerprint = xstrdup(buf);
        snprintf(buf, sizeof buf, "k1%s", serial);
        r.info.key_id = xstrdup(buf);
        r.info.common_name = xstrdup(common_name);
        return r;
}

#define T0 ((uint64_t) 1700000000 * USEC_PER_SEC)

static void assert_record_eq(const CertRecord *a, const CertRecord *b) {
        ck_assert_str_eq(a->type, b->type);
        ck_assert_str_eq(a->cert_url, b->cert_url);
        ck_assert_str_eq(a->key_url, b->key_url);
        ck_assert_uint_eq(a->info.issuer_der_size, b->info.issuer_der_size);
        ck_assert_mem_eq(a->info.issuer_der, b->info.issuer_der, a->info.issuer_der_size);
        ck_assert_str_eq(a->info.serial, b->info.serial);
        ck_assert_str_eq(a->info.subject, b->info.subject);
        ck_assert_str_eq(a->info.issuer, b->info.issuer);
        ck_assert_uint_eq(a->info.not_before, b->info.not_before);
        ck_assert_uint_eq(a->info.not_after, b->info.not_after);
        ck_assert_str_eq(a->info.fingerprint, b->info.fingerprint);
        ck_assert_str_eq(a->info.key_id, b->info.key_id);
        ck_assert(streq_ptr(a->info.common_name, b->info.common_name));
}

static size_t count_certs(sqlite3 *db, const char *type) {
        CertRecord *l = NULL;
        size_t n = 0;

        ck_assert_int_eq(cert_store_list(db, type, &l, &n), 0);
        cert_records_free(l, n);
        return n;
}

static size_t count_pending(sqlite3 *db, const char *type) {
        PendingKey *l = NULL;
        size_t n = 0;

        ck_assert_int_eq(pending_key_list(db, type, &l, &n), 0);
        pending_keys_free(l, n);
        return n;
}

static void add_pending(sqlite3 *db, const char *type, const char *key_url, uint64_t created) {
        PendingKey k = {
                .type = (char *) type,
                .key_url = (char *) key_url,
                .key_id = (char *) "kid",
                .created_usec = created,
        };
        ck_assert_int_eq(pending_key_add(db, &k), 0);
}

/* Asserts that the type's list has exactly these cert_urls in this order. */
static void assert_list(sqlite3 *db, const char *type, char *const *urls) {
        CertRecord *l = NULL;
        size_t n = 0;

        ck_assert_int_eq(cert_store_list(db, type, &l, &n), 0);
        ck_assert_uint_eq(n, strv_length(urls));
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(l[i].cert_url, urls[i]);
        cert_records_free(l, n);
}

START_TEST(test_open) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        struct stat st;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);

        ck_assert_int_eq(db_prepare(db, "PRAGMA user_version", &s), 0);
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        ck_assert_int_eq(sqlite3_column_int(s, 0), 1);
}
END_TEST

START_TEST(test_add_list_order) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "0a", T0 + 3, "node0");
        _cleanup_(cert_record_done) CertRecord b = make_record("iam", issuer_a, sizeof issuer_a, "0b", T0 + 1, NULL);
        _cleanup_(cert_record_done) CertRecord c = make_record("iam", issuer_b, sizeof issuer_b, "0c", T0 + 2, "node0");
        _cleanup_(cert_record_done) CertRecord d = make_record("sm", issuer_a, sizeof issuer_a, "0d", T0, "node0");
        CertRecord *l = NULL;
        size_t n = 0;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &a), 0);
        ck_assert_int_eq(cert_store_add(db, &b), 0);
        ck_assert_int_eq(cert_store_add(db, &c), 0);
        ck_assert_int_eq(cert_store_add(db, &d), 0);

        ck_assert_int_eq(cert_store_list(db, "iam", &l, &n), 0);
        ck_assert_uint_eq(n, 3);
        assert_record_eq(&l[0], &b);
        assert_record_eq(&l[1], &c);
        assert_record_eq(&l[2], &a);
        ck_assert_ptr_null(l[0].info.common_name);
        cert_records_free(l, n);

        ck_assert_int_eq(cert_store_list(db, "sm", &l, &n), 0);
        ck_assert_uint_eq(n, 1);
        assert_record_eq(&l[0], &d);
        cert_records_free(l, n);
}
END_TEST

START_TEST(test_list_ties_by_cert_url) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "02", T0, "n");
        _cleanup_(cert_record_done) CertRecord b = make_record("iam", issuer_a, sizeof issuer_a, "01", T0, "n");
        CertRecord latest = {};

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &a), 0);
        ck_assert_int_eq(cert_store_add(db, &b), 0);
        assert_list(db, "iam", (char *[]) { b.cert_url, a.cert_url, NULL });

        /* The latest is the list's last entry. */
        ck_assert_int_eq(cert_store_latest(db, "iam", &latest), 0);
        assert_record_eq(&latest, &a);
        cert_record_done(&latest);
}
END_TEST

START_TEST(test_unknown_type) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "0a", T0, "n");
        CertRecord *l = (CertRecord *) 0x1;
        PendingKey *p = (PendingKey *) 0x1;
        CertRecord r = {};
        size_t n = 42;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &a), 0);

        ck_assert_int_eq(cert_store_list(db, "nope", &l, &n), 0);
        ck_assert_uint_eq(n, 0);
        cert_records_free(l, n);
        n = 42;
        ck_assert_int_eq(pending_key_list(db, "nope", &p, &n), 0);
        ck_assert_uint_eq(n, 0);
        pending_keys_free(p, n);

        ck_assert_int_eq(cert_store_latest(db, "nope", &r), -ENOENT);
        ck_assert_ptr_null(r.type); /* untouched */
        ck_assert_int_eq(cert_store_clear_type(db, "nope"), 0);
        ck_assert_uint_eq(count_certs(db, "iam"), 1);
}
END_TEST

START_TEST(test_latest) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "0a", T0 + 5, "n");
        _cleanup_(cert_record_done) CertRecord b = make_record("iam", issuer_a, sizeof issuer_a, "0b", T0 + 9, "n");
        _cleanup_(cert_record_done) CertRecord c = make_record("iam", issuer_a, sizeof issuer_a, "0c", T0 + 7, "n");
        _cleanup_(cert_record_done) CertRecord other = make_record("cm", issuer_a, sizeof issuer_a, "0d", T0 + 100, "n");
        CertRecord r = {};

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_latest(db, "iam", &r), -ENOENT);

        ck_assert_int_eq(cert_store_add(db, &a), 0);
        ck_assert_int_eq(cert_store_add(db, &b), 0);
        ck_assert_int_eq(cert_store_add(db, &c), 0);
        ck_assert_int_eq(cert_store_add(db, &other), 0);

        ck_assert_int_eq(cert_store_latest(db, "iam", &r), 0);
        assert_record_eq(&r, &b);
        cert_record_done(&r);

        ck_assert_int_eq(cert_store_remove(db, "iam", b.cert_url), 1);
        ck_assert_int_eq(cert_store_latest(db, "iam", &r), 0);
        assert_record_eq(&r, &c);
        cert_record_done(&r);
}
END_TEST

START_TEST(test_get) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "00ff", T0, "n");
        _cleanup_(cert_record_done) CertRecord b = make_record("iam", issuer_b, sizeof issuer_b, "00fe", T0, NULL);
        CertRecord r = {};

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &a), 0);
        ck_assert_int_eq(cert_store_add(db, &b), 0);

        ck_assert_int_eq(cert_store_get(db, "iam", issuer_a, sizeof issuer_a, "00ff", &r), 0);
        assert_record_eq(&r, &a);
        cert_record_done(&r);

        ck_assert_int_eq(cert_store_get(db, "iam", issuer_b, sizeof issuer_b, "00fe", &r), 0);
        assert_record_eq(&r, &b);
        cert_record_done(&r);

        /* Wrong type, serial, issuer or a prefix of the issuer. */
        ck_assert_int_eq(cert_store_get(db, "cm", issuer_a, sizeof issuer_a, "00ff", &r), -ENOENT);
        ck_assert_int_eq(cert_store_get(db, "iam", issuer_a, sizeof issuer_a, "00fe", &r), -ENOENT);
        ck_assert_int_eq(cert_store_get(db, "iam", issuer_a, sizeof issuer_a, "ff", &r), -ENOENT);
        ck_assert_int_eq(cert_store_get(db, "iam", issuer_b, sizeof issuer_b, "00ff", &r), -ENOENT);
        ck_assert_int_eq(cert_store_get(db, "iam", issuer_a, sizeof issuer_a - 1, "00ff", &r), -ENOENT);
        ck_assert_ptr_null(r.type);

        ck_assert_int_eq(cert_store_get(db, "iam", NULL, 0, "00ff", &r), -EINVAL);
        ck_assert_int_eq(cert_store_get(db, "iam", issuer_a, sizeof issuer_a, "", &r), -EINVAL);
}
END_TEST

START_TEST(test_duplicate) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "0a", T0, "n");
        _cleanup_(cert_record_done) CertRecord same = make_record("cm", issuer_a, sizeof issuer_a, "0a", T0 + 1, "m");
        _cleanup_(cert_record_done) CertRecord same_url = make_record("iam", issuer_b, sizeof issuer_b, "0b", T0 + 1, "m");
        CertRecord r = {};

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &a), 0);

        /* Same issuer and serial, even under another type. */
        ck_assert_int_eq(cert_store_add(db, &a), -EEXIST);
        ck_assert_int_eq(cert_store_add(db, &same), -EEXIST);
        /* Same certificate URL. */
        free(same_url.cert_url);
        same_url.cert_url = xstrdup(a.cert_url);
        ck_assert_int_eq(cert_store_add(db, &same_url), -EEXIST);

        ck_assert_uint_eq(count_certs(db, "iam"), 1);
        ck_assert_uint_eq(count_certs(db, "cm"), 0);
        ck_assert_int_eq(cert_store_get(db, "iam", issuer_a, sizeof issuer_a, "0a", &r), 0);
        assert_record_eq(&r, &a);
        cert_record_done(&r);
}
END_TEST

START_TEST(test_invalid_record) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "0a", T0, "n");
        char *subject;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, NULL), -EINVAL);

        subject = TAKE_PTR(a.info.subject);
        ck_assert_int_eq(cert_store_add(db, &a), -EINVAL);
        a.info.subject = subject;

        a.info.not_after = UINT64_MAX;
        ck_assert_int_eq(cert_store_add(db, &a), -ERANGE);
        ck_assert_uint_eq(count_certs(db, "iam"), 0);
}
END_TEST

START_TEST(test_commit_apply) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord old1 = make_record("iam", issuer_a, sizeof issuer_a, "01", T0 + 1, "n");
        _cleanup_(cert_record_done) CertRecord old2 = make_record("iam", issuer_a, sizeof issuer_a, "02", T0 + 2, "n");
        _cleanup_(cert_record_done) CertRecord other = make_record("cm", issuer_a, sizeof issuer_a, "09", T0, "n");
        _cleanup_(cert_record_done) CertRecord rec = make_record("iam", issuer_a, sizeof issuer_a, "03", T0 + 3, "n");
        PendingKey *p = NULL;
        size_t n = 0;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &old1), 0);
        ck_assert_int_eq(cert_store_add(db, &old2), 0);
        ck_assert_int_eq(cert_store_add(db, &other), 0);
        add_pending(db, "iam", rec.key_url, T0);
        add_pending(db, "iam", "pkcs11:other", T0 + 1);

        /* Trimming another type's certificate URL does not reach it. */
        ck_assert_int_eq(cert_store_commit_apply(db, &rec, (char *[]) { old1.cert_url, other.cert_url, NULL }), 0);

        assert_list(db, "iam", (char *[]) { old2.cert_url, rec.cert_url, NULL });
        assert_list(db, "cm", (char *[]) { other.cert_url, NULL });
        ck_assert_int_eq(pending_key_list(db, "iam", &p, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(p[0].key_url, "pkcs11:other");
        pending_keys_free(p, n);

        /* No pending row and nothing to trim is fine. */
        _cleanup_(cert_record_done) CertRecord rec2 = make_record("iam", issuer_a, sizeof issuer_a, "04", T0 + 4, "n");
        ck_assert_int_eq(cert_store_commit_apply(db, &rec2, NULL), 0);
        assert_list(db, "iam", (char *[]) { old2.cert_url, rec.cert_url, rec2.cert_url, NULL });

        /* The certificate just applied is never trimmed. */
        _cleanup_(cert_record_done) CertRecord rec3 = make_record("iam", issuer_a, sizeof issuer_a, "05", T0 + 5, "n");
        ck_assert_int_eq(cert_store_commit_apply(db, &rec3, (char *[]) { rec3.cert_url, NULL }), -EINVAL);
        ck_assert_uint_eq(count_certs(db, "iam"), 3);
}
END_TEST

START_TEST(test_commit_apply_duplicate_changes_nothing) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord old = make_record("iam", issuer_a, sizeof issuer_a, "01", T0 + 1, "n");
        _cleanup_(cert_record_done) CertRecord rec = make_record("iam", issuer_a, sizeof issuer_a, "02", T0 + 2, "n");

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &old), 0);
        add_pending(db, "iam", rec.key_url, T0);
        ck_assert_int_eq(cert_store_commit_apply(db, &rec, (char *[]) { old.cert_url, NULL }), 0);

        /* The same again (a repeated ApplyCert) is refused and takes nothing away. */
        add_pending(db, "iam", rec.key_url, T0);
        ck_assert_int_eq(cert_store_commit_apply(db, &rec, (char *[]) { old.cert_url, NULL }), -EEXIST);
        ck_assert_int_eq(cert_store_add(db, &old), 0);
        ck_assert_int_eq(cert_store_commit_apply(db, &rec, (char *[]) { old.cert_url, NULL }), -EEXIST);

        assert_list(db, "iam", (char *[]) { old.cert_url, rec.cert_url, NULL });
        ck_assert_uint_eq(count_pending(db, "iam"), 1);
        /* And the connection is usable: no transaction was left open. */
        ck_assert(sqlite3_get_autocommit(db));
}
END_TEST

START_TEST(test_commit_apply_fails_midway) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord old = make_record("iam", issuer_a, sizeof issuer_a, "01", T0 + 1, "n");
        _cleanup_(cert_record_done) CertRecord rec = make_record("iam", issuer_a, sizeof issuer_a, "02", T0 + 2, "n");

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &old), 0);
        add_pending(db, "iam", rec.key_url, T0);

        /* The last step (trimming) fails after the insert and the pending delete ran. */
        ck_assert_int_eq(db_exec(db, "CREATE TEMP TRIGGER no_delete BEFORE DELETE ON certs "
                                     "BEGIN SELECT RAISE(ABORT, 'no'); END"), 0);
        ck_assert_int_lt(cert_store_commit_apply(db, &rec, (char *[]) { old.cert_url, NULL }), 0);
        ck_assert(sqlite3_get_autocommit(db));
        assert_list(db, "iam", (char *[]) { old.cert_url, NULL });
        ck_assert_uint_eq(count_pending(db, "iam"), 1);

        ck_assert_int_eq(db_exec(db, "DROP TRIGGER no_delete"), 0);
        ck_assert_int_eq(cert_store_commit_apply(db, &rec, (char *[]) { old.cert_url, NULL }), 0);
        assert_list(db, "iam", (char *[]) { rec.cert_url, NULL });
        ck_assert_uint_eq(count_pending(db, "iam"), 0);
}
END_TEST

START_TEST(test_remove) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "01", T0 + 1, "n");
        _cleanup_(cert_record_done) CertRecord b = make_record("iam", issuer_a, sizeof issuer_a, "02", T0 + 2, "n");

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &a), 0);
        ck_assert_int_eq(cert_store_add(db, &b), 0);

        /* Only within its type. */
        ck_assert_int_eq(cert_store_remove(db, "cm", a.cert_url), 0);
        ck_assert_int_eq(cert_store_remove(db, "iam", a.cert_url), 1);
        ck_assert_int_eq(cert_store_remove(db, "iam", a.cert_url), 0);
        assert_list(db, "iam", (char *[]) { b.cert_url, NULL });

        /* Its issuer and serial are free again. */
        ck_assert_int_eq(cert_store_add(db, &a), 0);
        assert_list(db, "iam", (char *[]) { a.cert_url, b.cert_url, NULL });
}
END_TEST

START_TEST(test_clear_type) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "01", T0 + 1, "n");
        _cleanup_(cert_record_done) CertRecord b = make_record("iam", issuer_a, sizeof issuer_a, "02", T0 + 2, "n");
        _cleanup_(cert_record_done) CertRecord c = make_record("cm", issuer_a, sizeof issuer_a, "03", T0 + 3, "n");
        _cleanup_free_ char *v = NULL;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &a), 0);
        ck_assert_int_eq(cert_store_add(db, &b), 0);
        ck_assert_int_eq(cert_store_add(db, &c), 0);
        add_pending(db, "iam", "pkcs11:iam-1", T0);
        add_pending(db, "cm", "pkcs11:cm-1", T0);
        ck_assert_int_eq(owner_set(db, "iam", "verifier-iam"), 0);
        ck_assert_int_eq(owner_set(db, "cm", "verifier-cm"), 0);

        ck_assert_int_eq(cert_store_clear_type(db, "iam"), 0);

        ck_assert_uint_eq(count_certs(db, "iam"), 0);
        ck_assert_uint_eq(count_pending(db, "iam"), 0);
        ck_assert_int_eq(owner_get(db, "iam", &v), 0);
        ck_assert_str_eq(v, "verifier-iam");
        free(TAKE_PTR(v));

        assert_list(db, "cm", (char *[]) { c.cert_url, NULL });
        ck_assert_uint_eq(count_pending(db, "cm"), 1);
        ck_assert_int_eq(owner_get(db, "cm", &v), 0);
        ck_assert_str_eq(v, "verifier-cm");

        /* Clearing twice is fine (a repeated Clear after a power cut). */
        ck_assert_int_eq(cert_store_clear_type(db, "iam"), 0);
}
END_TEST

START_TEST(test_pending_keys) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        PendingKey *l = NULL;
        size_t n = 0;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        add_pending(db, "iam", "pkcs11:b", T0 + 20);
        add_pending(db, "iam", "pkcs11:a", T0 + 30);
        add_pending(db, "iam", "pkcs11:c", T0 + 10);
        add_pending(db, "cm", "pkcs11:d", T0);

        ck_assert_int_eq(pending_key_list(db, "iam", &l, &n), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert_str_eq(l[0].key_url, "pkcs11:c");
        ck_assert_str_eq(l[1].key_url, "pkcs11:b");
        ck_assert_str_eq(l[2].key_url, "pkcs11:a");
        for (size_t i = 0; i < n; i++) {
                ck_assert_str_eq(l[i].type, "iam");
                ck_assert_str_eq(l[i].key_id, "kid");
        }
        ck_assert_uint_eq(l[0].created_usec, T0 + 10);
        ck_assert_uint_eq(l[1].created_usec, T0 + 20);
        ck_assert_uint_eq(l[2].created_usec, T0 + 30);
        pending_keys_free(l, n);

        /* A key URL is pending once. */
        PendingKey dup = { .type = (char *) "iam", .key_url = (char *) "pkcs11:a", .key_id = (char *) "x", .created_usec = T0 };
        ck_assert_int_eq(pending_key_add(db, &dup), -EEXIST);

        ck_assert_int_eq(pending_key_remove(db, "pkcs11:b"), 1);
        ck_assert_int_eq(pending_key_remove(db, "pkcs11:b"), 0);
        ck_assert_int_eq(pending_key_list(db, "iam", &l, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(l[0].key_url, "pkcs11:c");
        ck_assert_str_eq(l[1].key_url, "pkcs11:a");
        pending_keys_free(l, n);
        ck_assert_uint_eq(count_pending(db, "cm"), 1);
}
END_TEST

START_TEST(test_owner) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        char *v = (char *) 0x1;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(owner_get(db, "iam", &v), -ENOENT);
        ck_assert_ptr_eq(v, (char *) 0x1);

        ck_assert_int_eq(owner_set(db, "iam", "$pbkdf2$1"), 0);
        ck_assert_int_eq(owner_get(db, "iam", &v), 0);
        ck_assert_str_eq(v, "$pbkdf2$1");
        free(v);

        ck_assert_int_eq(owner_set(db, "iam", "$pbkdf2$2"), 0);
        ck_assert_int_eq(owner_get(db, "iam", &v), 0);
        ck_assert_str_eq(v, "$pbkdf2$2");
        free(v);

        ck_assert_int_eq(owner_get(db, "cm", &v), -ENOENT);
        ck_assert_int_eq(owner_set(db, "iam", ""), -EINVAL);
}
END_TEST

START_TEST(test_reopen) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_(cert_record_done) CertRecord a = make_record("iam", issuer_a, sizeof issuer_a, "01", T0 + 1, "n");
        _cleanup_(cert_record_done) CertRecord b = make_record("iam", issuer_b, sizeof issuer_b, "02", T0 + 2, NULL);
        _cleanup_free_ char *v = NULL;
        CertRecord *l = NULL;
        PendingKey *p = NULL;
        size_t n = 0;

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_add(db, &a), 0);
        add_pending(db, "iam", b.key_url, T0);
        add_pending(db, "iam", "pkcs11:next", T0 + 5);
        ck_assert_int_eq(cert_store_commit_apply(db, &b, NULL), 0);
        ck_assert_int_eq(owner_set(db, "iam", "verifier"), 0);
        db_close(TAKE_PTR(db));

        ck_assert_int_eq(cert_store_open(path, &db), 0);
        ck_assert_int_eq(cert_store_list(db, "iam", &l, &n), 0);
        ck_assert_uint_eq(n, 2);
        assert_record_eq(&l[0], &a);
        assert_record_eq(&l[1], &b);
        cert_records_free(l, n);

        ck_assert_int_eq(pending_key_list(db, "iam", &p, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(p[0].key_url, "pkcs11:next");
        ck_assert_uint_eq(p[0].created_usec, T0 + 5);
        pending_keys_free(p, n);

        ck_assert_int_eq(owner_get(db, "iam", &v), 0);
        ck_assert_str_eq(v, "verifier");
}
END_TEST

static Suite *cert_store_suite(void) {
        Suite *s = suite_create("cert-store");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_open);
        tcase_add_test(tc, test_add_list_order);
        tcase_add_test(tc, test_list_ties_by_cert_url);
        tcase_add_test(tc, test_unknown_type);
        tcase_add_test(tc, test_latest);
        tcase_add_test(tc, test_get);
        tcase_add_test(tc, test_duplicate);
        tcase_add_test(tc, test_invalid_record);
        tcase_add_test(tc, test_commit_apply);
        tcase_add_test(tc, test_commit_apply_duplicate_changes_nothing);
        tcase_add_test(tc, test_commit_apply_fails_midway);
        tcase_add_test(tc, test_remove);
        tcase_add_test(tc, test_clear_type);
        tcase_add_test(tc, test_pending_keys);
        tcase_add_test(tc, test_owner);
        tcase_add_test(tc, test_reopen);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(cert_store_suite());
}
