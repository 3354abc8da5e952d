/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>

#include "macro.h"
#include "password-file.h"
#include "test-util.h"

static char *dir;

static void setup(void) {
        /* Fast hashing for the tests (see common/password.c). */
        setenv("AOS_PBKDF2_ITERATIONS", "1000", 1);
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

static void write_raw(const char *path, const char *s) {
        FILE *f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(s, f);
        fclose(f);
}

START_TEST(test_path) {
        _cleanup_free_ char *p = password_file_path("/var/lib/aos/provisioning.state");
        ck_assert_str_eq(p, "/var/lib/aos/provisioning.state.password");
        ck_assert_ptr_null(password_file_path(NULL));
}
END_TEST

START_TEST(test_save_check_remove) {
        _cleanup_free_ char *p = path_in("provisioning.state.password");
        struct stat st;

        ck_assert_int_eq(password_file_exists(p), 0);
        ck_assert_int_eq(password_file_check(p, "pw"), -ENOENT);

        ck_assert_int_eq(password_file_save(p, "Correct-Horse-1"), 0);
        ck_assert_int_eq(password_file_exists(p), 1);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);

        /* Only a salted verifier is stored, never the password. */
        _cleanup_free_ char *c = test_read_file(p, NULL);
        ck_assert_ptr_null(strstr(c, "Correct-Horse-1"));
        ck_assert_ptr_nonnull(strstr(c, "pbkdf2-sha256$"));
        ck_assert_int_eq(c[strlen(c) - 1], '\n');

        ck_assert_int_eq(password_file_check(p, "Correct-Horse-1"), 1);
        ck_assert_int_eq(password_file_check(p, "correct-horse-1"), 0);
        ck_assert_int_eq(password_file_check(p, ""), 0);
        ck_assert_int_eq(password_file_check(p, "Correct-Horse-1 "), 0);

        /* A new password replaces the old one; the salt differs each time. */
        ck_assert_int_eq(password_file_save(p, "Correct-Horse-1"), 0);
        _cleanup_free_ char *c2 = test_read_file(p, NULL);
        ck_assert_str_ne(c, c2);
        ck_assert_int_eq(password_file_save(p, "Other-Pw"), 0);
        ck_assert_int_eq(password_file_check(p, "Correct-Horse-1"), 0);
        ck_assert_int_eq(password_file_check(p, "Other-Pw"), 1);

        ck_assert_int_eq(password_file_remove(p), 0);
        ck_assert_int_eq(password_file_exists(p), 0);
        ck_assert_int_eq(password_file_remove(p), 0);
}
END_TEST

START_TEST(test_damaged) {
        _cleanup_free_ char *p = path_in("provisioning.state.password");

        write_raw(p, "");
        ck_assert_int_eq(password_file_check(p, "pw"), -EBADMSG);
        write_raw(p, "garbage\n");
        ck_assert_int_eq(password_file_check(p, "pw"), -EBADMSG);
        write_raw(p, "pbkdf2-sha256$1000$00$00\n");
        ck_assert_int_eq(password_file_check(p, "pw"), -EBADMSG);

        char big[2048];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = 0;
        write_raw(p, big);
        ck_assert_int_eq(password_file_check(p, "pw"), -EBADMSG);

        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(mkdir(p, 0700), 0);
        ck_assert_int_eq(password_file_check(p, "pw"), -EISDIR);
        ck_assert_int_eq(password_file_exists(p), 1);
}
END_TEST

static Suite *password_file_suite(void) {
        Suite *s = suite_create("password-file");
        TCase *tc = tcase_create("verifier");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_path);
        tcase_add_test(tc, test_save_check_remove);
        tcase_add_test(tc, test_damaged);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(password_file_suite());
}
