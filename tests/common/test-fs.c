/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fs.h"
#include "macro.h"
#include "test-util.h"

static char *dir;

static void setup(void) {
        dir = test_tmpdir();
}

static void teardown(void) {
        test_rm_rf(dir);
        free(dir);
        dir = NULL;
}

static char *path_in(const char *name) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

/* Number of entries in dir besides "." and "..". */
static unsigned count_entries(const char *d) {
        DIR *h = opendir(d);
        ck_assert_ptr_nonnull(h);
        unsigned n = 0;
        struct dirent *de;
        while ((de = readdir(h)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(h);
        return n;
}

START_TEST(test_write_atomic_creates_with_mode) {
        _cleanup_free_ char *p = path_in("state");
        mode_t old = umask(0);

        ck_assert_int_eq(write_file_atomic(p, "hello\n", 6, 0600), 0);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        ck_assert_int_eq(st.st_size, 6);

        /* The mode is exact, whatever the umask. */
        umask(077);
        _cleanup_free_ char *q = path_in("public");
        ck_assert_int_eq(write_file_atomic(q, "x", 1, 0644), 0);
        ck_assert_int_eq(stat(q, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0644);

        umask(old);
        _cleanup_free_ char *c = test_read_file(p, NULL);
        ck_assert_str_eq(c, "hello\n");
        ck_assert_uint_eq(count_entries(dir), 2);
}
END_TEST

START_TEST(test_write_atomic_replaces) {
        _cleanup_free_ char *p = path_in("state");

        ck_assert_int_eq(write_file_atomic(p, "old content", 11, 0644), 0);
        ck_assert_int_eq(write_file_atomic(p, "new", 3, 0600), 0);

        size_t size;
        _cleanup_free_ char *c = test_read_file(p, &size);
        ck_assert_uint_eq(size, 3);
        ck_assert_str_eq(c, "new");
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);

        /* An empty file is a valid content too. */
        ck_assert_int_eq(write_file_atomic(p, NULL, 0, 0600), 0);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_size, 0);

        /* No temp file is left behind. */
        ck_assert_uint_eq(count_entries(dir), 1);
}
END_TEST

START_TEST(test_write_atomic_missing_dir) {
        _cleanup_free_ char *p = path_in("no/such/dir/state");
        ck_assert_int_eq(write_file_atomic(p, "x", 1, 0600), -ENOENT);
        ck_assert_uint_eq(count_entries(dir), 0);

        ck_assert_int_eq(write_file_atomic("", "x", 1, 0600), -EINVAL);
        ck_assert_int_eq(write_file_atomic(p, NULL, 1, 0600), -EINVAL);
}
END_TEST

START_TEST(test_write_atomic_fails_cleanly) {
        /* The target is a directory: rename() fails, and the temp file must go. */
        _cleanup_free_ char *p = path_in("target");
        ck_assert_int_eq(mkdir(p, 0755), 0);
        _cleanup_free_ char *inner = path_in("target/file");
        ck_assert_int_eq(write_file_atomic(inner, "x", 1, 0600), 0);

        int r = write_file_atomic(p, "x", 1, 0600);
        ck_assert_int_lt(r, 0);
        ck_assert_uint_eq(count_entries(dir), 1);
        ck_assert_uint_eq(count_entries(p), 1);
}
END_TEST

START_TEST(test_read_file_full_limits) {
        _cleanup_free_ char *p = path_in("data");
        ck_assert_int_eq(write_file_atomic(p, "0123456789", 10, 0600), 0);

        char *c = NULL;
        size_t size = 0;
        ck_assert_int_eq(read_file_full(p, 10, &c, &size), 0);
        ck_assert_uint_eq(size, 10);
        ck_assert_str_eq(c, "0123456789");
        free(c);

        c = NULL;
        ck_assert_int_eq(read_file_full(p, 9, &c, &size), -EFBIG);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(read_file_full(p, 0, &c, NULL), -EFBIG);

        /* Bigger than the first guess of the buffer, read through a pipe-like file with no
         * size: /proc/self/status grows the buffer. */
        ck_assert_int_eq(read_file_full("/proc/self/status", 1024 * 1024, &c, &size), 0);
        ck_assert_uint_eq(strlen(c), size);
        ck_assert_ptr_nonnull(strstr(c, "Name:"));
        free(c);
        c = NULL;
        ck_assert_int_eq(read_file_full("/proc/self/status", 16, &c, &size), -EFBIG);
        ck_assert_ptr_null(c);

        /* Binary content with NUL bytes keeps its size. */
        ck_assert_int_eq(write_file_atomic(p, "a\0b", 3, 0600), 0);
        ck_assert_int_eq(read_file_full(p, 100, &c, &size), 0);
        ck_assert_uint_eq(size, 3);
        ck_assert_int_eq(memcmp(c, "a\0b", 4), 0);
        free(c);

        _cleanup_free_ char *missing = path_in("missing");
        ck_assert_int_eq(read_file_full(missing, 100, &c, &size), -ENOENT);
        ck_assert_int_eq(read_file_full(dir, 100, &c, &size), -EISDIR);
}
END_TEST

START_TEST(test_mkdir_p) {
        _cleanup_free_ char *p = path_in("a/b//c/");
        ck_assert_int_eq(mkdir_p(p, 0700), 0);
        _cleanup_free_ char *c = path_in("a/b/c");
        struct stat st;
        ck_assert_int_eq(stat(c, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(st.st_mode & 0777, 0700);

        /* Existing directories are fine. */
        ck_assert_int_eq(mkdir_p(p, 0700), 0);
        ck_assert_int_eq(mkdir_p(dir, 0700), 0);
        ck_assert_int_eq(mkdir_p("/", 0700), 0);

        /* A file in the way is not. */
        _cleanup_free_ char *f = path_in("a/file");
        ck_assert_int_eq(write_file_atomic(f, "x", 1, 0600), 0);
        _cleanup_free_ char *under = path_in("a/file/d");
        ck_assert_int_eq(mkdir_p(under, 0700), -ENOTDIR);
        ck_assert_int_eq(mkdir_p(f, 0700), -ENOTDIR);
        ck_assert_int_eq(mkdir_p("", 0700), -EINVAL);
}
END_TEST

START_TEST(test_unlink_durable) {
        _cleanup_free_ char *p = path_in("file");
        ck_assert_int_eq(write_file_atomic(p, "x", 1, 0600), 0);
        ck_assert_int_eq(unlink_durable(p), 0);
        ck_assert_int_eq(access(p, F_OK), -1);

        /* Missing file: success, also when its directory is missing. */
        ck_assert_int_eq(unlink_durable(p), 0);
        _cleanup_free_ char *q = path_in("no/such/file");
        ck_assert_int_eq(unlink_durable(q), 0);

        /* A directory cannot be unlinked. */
        _cleanup_free_ char *d = path_in("sub");
        ck_assert_int_eq(mkdir(d, 0700), 0);
        ck_assert_int_lt(unlink_durable(d), 0);
}
END_TEST

START_TEST(test_dir_remove_regular_files) {
        _cleanup_free_ char *d = path_in("store"), *sub = NULL, *link = NULL, *f = NULL;
        struct stat st;
        size_t n = 99;

        ck_assert_int_eq(dir_remove_regular_files(d, &n), 0); /* missing: empty */
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(mkdir(d, 0700), 0);
        for (unsigned i = 0; i < 3; i++) {
                free(f);
                ck_assert_int_ge(asprintf(&f, "%s/file%u", d, i), 0);
                ck_assert_int_eq(write_file_atomic(f, "x", 1, 0600), 0);
        }
        ck_assert_int_ge(asprintf(&sub, "%s/subdir", d), 0);
        ck_assert_int_eq(mkdir(sub, 0700), 0);
        ck_assert_int_ge(asprintf(&link, "%s/link", d), 0);
        ck_assert_int_eq(symlink(f, link), 0);

        ck_assert_int_eq(dir_remove_regular_files(d, &n), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert_int_ne(stat(f, &st), 0);
        ck_assert_int_eq(stat(sub, &st), 0);      /* a directory stays */
        ck_assert_int_eq(lstat(link, &st), 0);    /* so does a symlink */
}
END_TEST

START_TEST(test_random_bytes) {
        uint8_t a[64] = {}, b[64] = {}, zero[64] = {};
        ck_assert_int_eq(random_bytes(a, sizeof a), 0);
        ck_assert_int_eq(random_bytes(b, sizeof b), 0);
        ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
        ck_assert_int_ne(memcmp(a, zero, sizeof a), 0);
        ck_assert_int_eq(random_bytes(NULL, 0), 0);

        /* More than one getrandom() call returns at once. */
        size_t n = 40 * 1024 * 1024;
        uint8_t *big = calloc(1, n);
        ck_assert_ptr_nonnull(big);
        ck_assert_int_eq(random_bytes(big, n), 0);
        ck_assert_int_ne(memcmp(big + n - sizeof zero, zero, sizeof zero), 0);
        free(big);
}
END_TEST

static Suite *fs_suite(void) {
        Suite *s = suite_create("fs");
        TCase *tc = tcase_create("fs");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_write_atomic_creates_with_mode);
        tcase_add_test(tc, test_write_atomic_replaces);
        tcase_add_test(tc, test_write_atomic_missing_dir);
        tcase_add_test(tc, test_write_atomic_fails_cleanly);
        tcase_add_test(tc, test_read_file_full_limits);
        tcase_add_test(tc, test_mkdir_p);
        tcase_add_test(tc, test_unlink_durable);
        tcase_add_test(tc, test_dir_remove_regular_files);
        tcase_add_test(tc, test_random_bytes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(fs_suite());
}
