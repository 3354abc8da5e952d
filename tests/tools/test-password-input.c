/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tools/aosctl/password-input.c: files (modes, newlines, limits), pipes, and the no-echo prompt
 * on a pseudo-terminal. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "macro.h"
#include "password-input.h"
#include "test-util.h"

static char *tmpdir;

static void setup(void) {
        tmpdir = test_tmpdir();
}

static void teardown(void) {
        test_rm_rf(tmpdir);
        free(tmpdir);
        tmpdir = NULL;
}

/* <tmpdir>/pw with size bytes of data and the mode. */
static char *write_pw(const void *data, size_t size, mode_t mode) {
        char *path;
        ck_assert_int_ge(asprintf(&path, "%s/pw", tmpdir), 0);
        (void) unlink(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, size), (ssize_t) size);
        ck_assert_int_eq(fchmod(fd, mode), 0);
        close(fd);
        return path;
}

static void expect_file(const char *content, mode_t mode, const char *expected) {
        _cleanup_free_ char *path = write_pw(content, strlen(content), mode), *reason = NULL;
        _cleanup_password_ char *pw = NULL;
        bool group = true;
        int r = password_input_from_file(path, &pw, &group, &reason);
        ck_assert_msg(r == 0, "reading \"%s\": %s (%s)", content, strerror(-r), strna(reason));
        ck_assert_str_eq(pw, expected);
        ck_assert(!group);
}

static void expect_file_error(const void *content, size_t size, mode_t mode, int error, const char *needle) {
        _cleanup_free_ char *path = write_pw(content, size, mode), *reason = NULL;
        _cleanup_password_ char *pw = NULL;
        int r = password_input_from_file(path, &pw, NULL, &reason);
        ck_assert_int_eq(r, error);
        ck_assert_ptr_null(pw);
        ck_assert_msg(reason && strstr(reason, needle), "reason \"%s\" lacks \"%s\"", strna(reason), needle);
}

START_TEST(test_file_newlines) {
        expect_file("secret\n", 0600, "secret");
        expect_file("secret", 0600, "secret");
        expect_file("secret\r\n", 0600, "secret");
        expect_file("with spaces and ümlauts \t!\n", 0400, "with spaces and ümlauts \t!");
        /* Only one newline is stripped: a second one makes it two lines. */
        expect_file_error("secret\n\n", 8, 0600, -EINVAL, "more than one line");
        expect_file_error("one\ntwo\n", 8, 0600, -EINVAL, "more than one line");
        expect_file_error("", 0, 0600, -EINVAL, "empty");
        expect_file_error("\n", 1, 0600, -EINVAL, "empty");
        expect_file_error("\r\n", 2, 0600, -EINVAL, "empty");
        expect_file_error("ab\0cd\n", 6, 0600, -EINVAL, "NUL");
}
END_TEST

START_TEST(test_file_length) {
        char buf[PASSWORD_MAX_LEN + 64];

        memset(buf, 'x', sizeof buf);
        buf[PASSWORD_MAX_LEN] = 0;
        expect_file(buf, 0600, buf);

        buf[PASSWORD_MAX_LEN] = '\r';
        buf[PASSWORD_MAX_LEN + 1] = '\n';
        buf[PASSWORD_MAX_LEN + 2] = 0;
        {
                _cleanup_free_ char *path = write_pw(buf, PASSWORD_MAX_LEN + 2, 0600), *reason = NULL;
                _cleanup_password_ char *pw = NULL;
                ck_assert_int_eq(password_input_from_file(path, &pw, NULL, &reason), 0);
                ck_assert_uint_eq(strlen(pw), PASSWORD_MAX_LEN);
        }

        memset(buf, 'x', sizeof buf);
        expect_file_error(buf, PASSWORD_MAX_LEN + 1, 0600, -E2BIG, "longer than");
        expect_file_error(buf, sizeof buf, 0600, -E2BIG, "longer than");
}
END_TEST

START_TEST(test_file_modes) {
        _cleanup_free_ char *reason = NULL, *missing = NULL;
        _cleanup_password_ char *pw = NULL;
        bool group = false;

        expect_file_error("secret\n", 7, 0644, -EPERM, "readable by others");
        expect_file_error("secret\n", 7, 0604, -EPERM, "chmod o-rwx");

        /* Group-readable: accepted, and the caller learns it (to warn). */
        _cleanup_free_ char *path = write_pw("secret\n", 7, 0640);
        ck_assert_int_eq(password_input_from_file(path, &pw, &group, &reason), 0);
        ck_assert_str_eq(pw, "secret");
        ck_assert(group);

        ck_assert_int_ge(asprintf(&missing, "%s/missing", tmpdir), 0);
        free(reason);
        reason = NULL;
        ck_assert_int_eq(password_input_from_file(missing, &pw, NULL, &reason), -ENOENT);
        ck_assert_ptr_nonnull(strstr(reason, "missing"));
        free(reason);
        reason = NULL;
        ck_assert_int_eq(password_input_from_file(tmpdir, &pw, NULL, &reason), -EISDIR);
}
END_TEST

START_TEST(test_pipe) {
        _cleanup_password_ char *pw = NULL;
        _cleanup_free_ char *reason = NULL;
        int p[2];

        ck_assert_int_eq(pipe(p), 0);
        ck_assert_int_eq(write(p[1], "piped-pw\n", 9), 9);
        close(p[1]);
        ck_assert_int_eq(password_input_from_fd(p[0], &pw, &reason), 0);
        ck_assert_str_eq(pw, "piped-pw");
        close(p[0]);

        /* A pipe that never ends is cut off at the limit, not read forever. */
        char big[4096];
        memset(big, 'y', sizeof big);
        ck_assert_int_eq(pipe(p), 0);
        ck_assert_int_eq(write(p[1], big, sizeof big), (ssize_t) sizeof big);
        password_free(pw);
        pw = NULL;
        ck_assert_int_eq(password_input_from_fd(p[0], &pw, &reason), -E2BIG);
        close(p[0]);
        close(p[1]);
}
END_TEST

typedef struct Typist {
        int master;
        char seen[512];
        size_t seen_len;
        const char *input;
} Typist;

/* Reads what the prompt writes to the terminal; types the input once the prompt is there (the
 * prompt flushes earlier input, as getpass does); then reads the rest until the prompt is done. */
static void *typist(void *userdata) {
        Typist *t = userdata;
        bool typed = false;

        for (;;) {
                struct pollfd p = { .fd = t->master, .events = POLLIN };
                if (poll(&p, 1, typed ? 300 : 2000) <= 0)
                        break;
                ssize_t k = read(t->master, t->seen + t->seen_len, sizeof t->seen - 1 - t->seen_len);
                if (k <= 0)
                        break;
                t->seen_len += (size_t) k;
                t->seen[t->seen_len] = 0;
                if (!typed && strstr(t->seen, "Password: ")) {
                        usleep(50 * 1000); /* let the prompt turn echo off first */
                        ck_assert_int_eq(write(t->master, t->input, strlen(t->input)), (ssize_t) strlen(t->input));
                        typed = true;
                }
        }
        return NULL;
}

START_TEST(test_prompt_no_echo) {
        _cleanup_password_ char *pw = NULL;
        _cleanup_free_ char *reason = NULL;
        struct termios before, after;
        int master, slave;
        pthread_t thread;
        Typist t = { .input = "typed-secret\n" };

        ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
        ck_assert_int_eq(tcgetattr(slave, &before), 0);
        ck_assert(before.c_lflag & ECHO);
        t.master = master;
        ck_assert_int_eq(pthread_create(&thread, NULL, typist, &t), 0);

        int r = password_input_prompt(slave, slave, "Password: ", &pw, &reason);
        ck_assert_msg(r == 0, "prompt: %s (%s)", strerror(-r), strna(reason));
        ck_assert_str_eq(pw, "typed-secret");

        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        /* The prompt was shown, the password was not echoed, and echo is back on. */
        ck_assert_msg(strstr(t.seen, "Password: "), "terminal showed: %s", t.seen);
        ck_assert_msg(!strstr(t.seen, "typed-secret"), "password echoed: %s", t.seen);
        ck_assert_int_eq(tcgetattr(slave, &after), 0);
        ck_assert(after.c_lflag & ECHO);
        close(master);
        close(slave);
}
END_TEST

START_TEST(test_prompt_not_a_tty) {
        _cleanup_password_ char *pw = NULL;
        _cleanup_free_ char *reason = NULL;
        int p[2];

        ck_assert_int_eq(pipe(p), 0);
        ck_assert_int_lt(password_input_prompt(p[0], -1, "Password: ", &pw, &reason), 0);
        ck_assert_ptr_null(pw);
        ck_assert_ptr_nonnull(strstr(reason, "not a terminal"));
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_prompt_empty) {
        _cleanup_password_ char *pw = NULL;
        _cleanup_free_ char *reason = NULL;
        int master, slave;
        pthread_t thread;
        Typist t = { .input = "\n" };

        ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
        t.master = master;
        ck_assert_int_eq(pthread_create(&thread, NULL, typist, &t), 0);
        ck_assert_int_eq(password_input_prompt(slave, slave, "Password: ", &pw, &reason), -EINVAL);
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        ck_assert_ptr_nonnull(strstr(reason, "empty"));
        close(master);
        close(slave);
}
END_TEST

static Suite *password_input_suite(void) {
        Suite *s = suite_create("password-input");
        TCase *tc = tcase_create("password-input");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_file_newlines);
        tcase_add_test(tc, test_file_length);
        tcase_add_test(tc, test_file_modes);
        tcase_add_test(tc, test_pipe);
        tcase_add_test(tc, test_prompt_no_echo);
        tcase_add_test(tc, test_prompt_not_a_tty);
        tcase_add_test(tc, test_prompt_empty);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(password_input_suite());
}
