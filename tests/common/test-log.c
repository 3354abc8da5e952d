/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/log.c: return values, level filtering, %m, structured fields on stderr, errno kept. */

#include <fcntl.h>

#include "log.h"
#include "test-util.h"

/* Runs f with stderr redirected to a temp file and returns what it printed. */
static char *capture(void (*f)(void)) {
        char path[] = "/dev/shm/aos-test-log-XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
        f();
        fflush(stderr);
        ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
        close(saved);
        close(fd);
        char *out = test_read_file(path, NULL);
        unlink(path);
        return out;
}

START_TEST(test_return_values) {
        log_set_max_level(LOG_DEBUG);
        ck_assert_int_eq(log_error_errno(EIO, "x"), -EIO);
        ck_assert_int_eq(log_error_errno(-ENOENT, "x"), -ENOENT);
        ck_assert_int_eq(log_full_errno(LOG_INFO, 0, "x"), 0);
        /* Filtered out, still the error. */
        log_set_max_level(LOG_ERR);
        ck_assert_int_eq(log_debug_errno(EACCES, "x"), -EACCES);
}
END_TEST

static void emit_levels(void) {
        log_set_identifier(NULL);
        log_set_max_level(LOG_WARNING);
        log_debug("hidden-debug");
        log_info("hidden-info");
        log_warning("shown-warning");
        log_error("shown-error");
}

START_TEST(test_level_filter) {
        unsetenv("JOURNAL_STREAM");
        _cleanup_free_ char *out = capture(emit_levels);
        ck_assert_ptr_null(strstr(out, "hidden"));
        ck_assert_ptr_nonnull(strstr(out, "shown-warning\n"));
        ck_assert_ptr_nonnull(strstr(out, "shown-error\n"));
}
END_TEST

static void emit_errno_and_fields(void) {
        log_set_identifier("aos-test");
        log_set_max_level(LOG_INFO);
        errno = 42;
        (void) log_error_errno(ENOENT, "open failed: %m");
        ck_assert_int_eq(errno, 42);
        log_event(LOG_INFO, STRV("CERT_TYPE=iam", "EVENT=cert-applied"), "applied %s", "0a1b");
}

START_TEST(test_errno_and_fields) {
        unsetenv("JOURNAL_STREAM");
        _cleanup_free_ char *out = capture(emit_errno_and_fields);
        ck_assert_ptr_nonnull(strstr(out, "aos-test: open failed: No such file or directory\n"));
        ck_assert_ptr_nonnull(strstr(out, "aos-test: applied 0a1b [CERT_TYPE=iam EVENT=cert-applied]\n"));
}
END_TEST

START_TEST(test_level_names) {
        ck_assert_int_eq(log_level_from_string("debug"), LOG_DEBUG);
        ck_assert_int_eq(log_level_from_string("err"), LOG_ERR);
        ck_assert_int_eq(log_level_from_string("error"), LOG_ERR);
        ck_assert_int_eq(log_level_from_string("warning"), LOG_WARNING);
        ck_assert_int_eq(log_level_from_string("5"), LOG_NOTICE);
        ck_assert_int_eq(log_level_from_string("8"), -EINVAL);
        ck_assert_int_eq(log_level_from_string("loud"), -EINVAL);
        ck_assert_int_eq(log_level_from_string(NULL), -EINVAL);
}
END_TEST

START_TEST(test_strjoina) {
        const char *f = strjoina("CERT_TYPE=", "online");
        ck_assert_str_eq(f, "CERT_TYPE=online");
}
END_TEST

int main(void) {
        Suite *s = suite_create("common log");
        TCase *tc = tcase_create("log");
        tcase_add_test(tc, test_return_values);
        tcase_add_test(tc, test_level_filter);
        tcase_add_test(tc, test_errno_and_fields);
        tcase_add_test(tc, test_level_names);
        tcase_add_test(tc, test_strjoina);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
