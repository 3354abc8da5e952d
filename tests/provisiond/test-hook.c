/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "hook.h"
#include "macro.h"
#include "test-util.h"

#define MB (1024 * 1024)

static char *dir;

static void setup(void) {
        dir = test_tmpdir();
        /* As in the daemon: SIGCHLD blocked for sd_event_add_child(), SIGTERM blocked (the
         * hook must not inherit that), SIGPIPE ignored. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        ck_assert_int_eq(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
        signal(SIGPIPE, SIG_IGN);
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

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* What the handler saw, copied out of the hook. */
typedef struct Outcome {
        bool done;
        unsigned calls;
        int error, exit_status, signal;
        char *reason;
        char *stdout_tail, *stderr_tail, *stderr_lines;
        size_t stdout_size, stderr_size;
        uint64_t stdout_total, stderr_total;
        uint64_t elapsed_usec;
} Outcome;

static void outcome_done(Outcome *o) {
        free(o->reason);
        free(o->stdout_tail);
        free(o->stderr_tail);
        free(o->stderr_lines);
}

static char *memdup_str(const char *p, size_t n) {
        char *s = malloc(n + 1);
        ck_assert_ptr_nonnull(s);
        memcpy(s, p, n);
        s[n] = 0;
        return s;
}

static void on_done(Hook *h, const HookResult *r, void *userdata) {
        Outcome *o = userdata;
        o->calls++;
        o->done = true;
        o->error = r->error;
        o->exit_status = r->exit_status;
        o->signal = r->signal;
        o->reason = r->reason ? strdup(r->reason) : NULL;
        o->stdout_tail = memdup_str(r->stdout_tail, r->stdout_size);
        o->stderr_tail = memdup_str(r->stderr_tail, r->stderr_size);
        o->stderr_lines = strdup(r->stderr_lines);
        o->stdout_size = r->stdout_size;
        o->stderr_size = r->stderr_size;
        o->stdout_total = r->stdout_total;
        o->stderr_total = r->stderr_total;
        /* The reason must go into a D-Bus string. */
        ck_assert(!r->reason || strlen(r->reason) < HOOK_OUTPUT_TAIL + 512);
}

static HookParams params(HookStep step, char *const *argv) {
        return (HookParams) {
                .step = step,
                .argv = argv,
                .node_id = "node-7",
                .node_state = "unprovisioned",
                .timeout_usec = 30 * USEC_PER_SEC,
        };
}

/* Runs the hook to its end on a fresh event loop. */
static void run_hook(const HookParams *p, Outcome *o) {
        sd_event *e = NULL;
        Hook *h = NULL;

        *o = (Outcome) {};
        ck_assert_int_eq(sd_event_new(&e), 0);
        uint64_t start = now_usec();
        ck_assert_int_eq(hook_start(e, p, on_done, o, &h), 0);
        ck_assert_ptr_nonnull(h);
        while (!o->done) {
                ck_assert_int_ge(sd_event_run(e, USEC_PER_SEC), 0);
                ck_assert_msg(now_usec() - start < 60 * USEC_PER_SEC, "the hook did not finish");
        }
        o->elapsed_usec = now_usec() - start;
        /* Nothing more comes after the one report. */
        for (int i = 0; i < 3; i++)
                ck_assert_int_ge(sd_event_run(e, 10 * USEC_PER_MSEC), 0);
        ck_assert_uint_eq(o->calls, 1);
        hook_free(h);
        sd_event_unref(e);
}

/* The process is gone or a zombie (its parent, init here, may reap late). */
static bool process_dead(pid_t pid) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return true;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *s = strrchr(buf, ')');
        return !s || s[2] == 'Z' || s[2] == 'X';
}

static bool wait_dead(pid_t pid) {
        for (int i = 0; i < 100; i++) {
                if (process_dead(pid))
                        return true;
                usleep(20 * 1000);
        }
        return process_dead(pid);
}

static pid_t read_pid_file(const char *path) {
        for (int i = 0; i < 500; i++) {
                FILE *f = fopen(path, "re");
                if (f) {
                        int pid = 0;
                        int k = fscanf(f, "%d", &pid);
                        fclose(f);
                        if (k == 1 && pid > 0)
                                return pid;
                }
                usleep(10 * 1000);
        }
        ck_abort_msg("no pid in %s", path);
        return 0;
}

START_TEST(test_step_names) {
        ck_assert_str_eq(hook_step_to_string(HOOK_STEP_START), "start");
        ck_assert_str_eq(hook_step_to_string(HOOK_STEP_DISK_ENCRYPTION), "disk-encryption");
        ck_assert_str_eq(hook_step_to_string(HOOK_STEP_FINISH), "finish");
        ck_assert_str_eq(hook_step_to_string(HOOK_STEP_DEPROVISION), "deprovision");
        ck_assert_ptr_null(hook_step_to_string(_HOOK_STEP_MAX));
}
END_TEST

START_TEST(test_success) {
        char *argv[] = { "/bin/true", NULL };
        HookParams p = params(HOOK_STEP_START, argv);
        Outcome o;

        run_hook(&p, &o);
        ck_assert_int_eq(o.error, 0);
        ck_assert_int_eq(o.exit_status, 0);
        ck_assert_int_eq(o.signal, 0);
        ck_assert_ptr_null(o.reason);
        ck_assert_str_eq(o.stderr_lines, "");
        outcome_done(&o);

        /* A plain name is looked up in HOOK_PATH; arguments are passed as they are. */
        char *argv2[] = { "printf", "%s|%s", "a b", "$HOME", NULL };
        p = params(HOOK_STEP_FINISH, argv2);
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, 0);
        ck_assert_str_eq(o.stdout_tail, "a b|$HOME");
        outcome_done(&o);
}
END_TEST

START_TEST(test_invalid_params) {
        sd_event *e = NULL;
        Hook *h = NULL;
        Outcome o = {};
        char *empty[] = { NULL };
        char *argv[] = { "/bin/true", NULL };

        ck_assert_int_eq(sd_event_new(&e), 0);
        HookParams p = params(HOOK_STEP_START, empty);
        ck_assert_int_eq(hook_start(e, &p, on_done, &o, &h), -EINVAL);
        p = params(HOOK_STEP_START, argv);
        p.timeout_usec = 0;
        ck_assert_int_eq(hook_start(e, &p, on_done, &o, &h), -EINVAL);
        p = params(_HOOK_STEP_MAX, argv);
        ck_assert_int_eq(hook_start(e, &p, on_done, &o, &h), -EINVAL);
        ck_assert_ptr_null(h);
        ck_assert_ptr_null(hook_free(NULL));
        sd_event_unref(e);
}
END_TEST

START_TEST(test_cannot_execute) {
        Outcome o;

        char *missing[] = { "/nonexistent/hook", NULL };
        HookParams p = params(HOOK_STEP_START, missing);
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -ENOENT);
        ck_assert_ptr_nonnull(strstr(o.reason, "start hook /nonexistent/hook cannot be executed: No such file"));
        outcome_done(&o);

        char *unknown[] = { "aos-no-such-hook-anywhere", NULL };
        p = params(HOOK_STEP_FINISH, unknown);
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -ENOENT);
        ck_assert_ptr_nonnull(strstr(o.reason, "finish hook aos-no-such-hook-anywhere cannot be executed"));
        outcome_done(&o);

        char *relative[] = { "./hook.sh", NULL };
        p = params(HOOK_STEP_START, relative);
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -EINVAL);
        ck_assert_ptr_nonnull(strstr(o.reason, "not an absolute path"));
        outcome_done(&o);

        char *directory[] = { dir, NULL };
        p = params(HOOK_STEP_START, directory);
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -EISDIR);
        outcome_done(&o);

        /* Not executable (no x bit: refused even for root). */
        _cleanup_free_ char *plain = path_in("plain.sh");
        FILE *f = fopen(plain, "we");
        ck_assert_ptr_nonnull(f);
        fputs("#!/bin/sh\nexit 0\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(plain, 0644), 0);
        char *noexec[] = { plain, NULL };
        p = params(HOOK_STEP_START, noexec);
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -EACCES);
        ck_assert_ptr_nonnull(strstr(o.reason, "Permission denied"));
        outcome_done(&o);

        /* Executable, but not a program: execve() fails in the child, and that is reported. */
        _cleanup_free_ char *junk = path_in("junk");
        f = fopen(junk, "we");
        ck_assert_ptr_nonnull(f);
        fputs("\x01\x02\x03 not a program\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(junk, 0755), 0);
        char *badexec[] = { junk, NULL };
        p = params(HOOK_STEP_DISK_ENCRYPTION, badexec);
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -ENOEXEC);
        ck_assert_ptr_nonnull(strstr(o.reason, "disk-encryption hook"));
        ck_assert_ptr_nonnull(strstr(o.reason, "cannot be executed: Exec format error"));
        outcome_done(&o);
}
END_TEST

START_TEST(test_exit_code_and_stderr) {
        char *argv[] = { "/bin/sh", "-c",
                         "echo to-stdout; i=1; while [ $i -le 20 ]; do echo \"line $i\" >&2; i=$((i+1)); done; exit 3",
                         NULL };
        HookParams p = params(HOOK_STEP_FINISH, argv);
        Outcome o;

        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -EPROTO);
        ck_assert_int_eq(o.exit_status, 3);
        ck_assert_int_eq(o.signal, 0);
        /* The last ten lines, nothing before them. */
        ck_assert_str_eq(o.stderr_lines,
                         "line 11\nline 12\nline 13\nline 14\nline 15\nline 16\nline 17\nline 18\nline 19\nline 20");
        ck_assert_ptr_nonnull(strstr(o.reason, "finish hook /bin/sh exited with status 3"));
        ck_assert_ptr_nonnull(strstr(o.reason, "line 11\n"));
        ck_assert_ptr_nonnull(strstr(o.reason, "line 20"));
        ck_assert_ptr_null(strstr(o.reason, "line 10\n"));
        ck_assert_ptr_null(strstr(o.reason, "to-stdout"));
        ck_assert_str_eq(o.stdout_tail, "to-stdout\n");
        outcome_done(&o);

        char *quiet[] = { "/bin/sh", "-c", "exit 4", NULL };
        p = params(HOOK_STEP_START, quiet);
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -EPROTO);
        ck_assert_int_eq(o.exit_status, 4);
        ck_assert_ptr_nonnull(strstr(o.reason, "exited with status 4 and wrote nothing to stderr"));
        outcome_done(&o);
}
END_TEST

START_TEST(test_killed_by_signal) {
        /* The daemon blocks SIGTERM; the hook must get a clean signal mask. */
        char *argv[] = { "/bin/sh", "-c", "echo dying >&2; kill -TERM $$; sleep 5; exit 0", NULL };
        HookParams p = params(HOOK_STEP_DEPROVISION, argv);
        Outcome o;

        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -EPROTO);
        ck_assert_int_eq(o.signal, SIGTERM);
        ck_assert_int_eq(o.exit_status, -1);
        ck_assert_ptr_nonnull(strstr(o.reason, "deprovision hook /bin/sh was killed by signal 15 (SIGTERM)"));
        ck_assert_ptr_nonnull(strstr(o.reason, "dying"));
        ck_assert_uint_lt(o.elapsed_usec, 4 * USEC_PER_SEC);
        outcome_done(&o);
}
END_TEST

START_TEST(test_timeout_kills_process_group) {
        _cleanup_free_ char *pidfile = path_in("grandchild.pid");
        _cleanup_free_ char *script = NULL;
        /* The hook starts a child of its own, which must die with it; then both hang. */
        ck_assert_int_ge(asprintf(&script, "sleep 1000 & echo $! > '%s'; echo waiting >&2; sleep 1000", pidfile), 0);
        char *argv[] = { "/bin/sh", "-c", script, NULL };
        HookParams p = params(HOOK_STEP_START, argv);
        p.timeout_usec = 300 * USEC_PER_MSEC;
        Outcome o;

        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -ETIME);
        ck_assert_int_eq(o.signal, SIGKILL);
        ck_assert_ptr_nonnull(strstr(o.reason, "start hook /bin/sh timed out after 0.3 s and was killed"));
        ck_assert_ptr_nonnull(strstr(o.reason, "waiting"));
        ck_assert_uint_ge(o.elapsed_usec, 300 * USEC_PER_MSEC);
        ck_assert_uint_lt(o.elapsed_usec, 5 * USEC_PER_SEC);

        pid_t grandchild = read_pid_file(pidfile);
        ck_assert_msg(wait_dead(grandchild), "the hook's own child %d survived the timeout", (int) grandchild);
        outcome_done(&o);

        /* Whole seconds are shown as such. */
        char *argv2[] = { "/bin/sleep", "1000", NULL };
        p = params(HOOK_STEP_FINISH, argv2);
        p.timeout_usec = USEC_PER_SEC;
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -ETIME);
        ck_assert_ptr_nonnull(strstr(o.reason, "finish hook /bin/sleep timed out after 1 s and was killed"));
        outcome_done(&o);
}
END_TEST

START_TEST(test_ten_megabytes) {
        struct rusage before, after;
        ck_assert_int_eq(getrusage(RUSAGE_SELF, &before), 0);

        /* 10 MB on each stream, without a newline on stdout, lines on stderr. */
        char *argv[] = { "/bin/sh", "-c",
                         "head -c 10485760 /dev/zero | tr '\\0' x; yes 'an error line' | head -c 10485760 >&2; exit 1",
                         NULL };
        HookParams p = params(HOOK_STEP_START, argv);
        Outcome o;

        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -EPROTO);
        ck_assert_int_eq(o.exit_status, 1);
        ck_assert_uint_eq(o.stdout_total, 10 * MB);
        ck_assert_uint_eq(o.stderr_total, 10 * MB);
        ck_assert_uint_eq(o.stdout_size, HOOK_OUTPUT_TAIL);
        ck_assert_uint_eq(o.stderr_size, HOOK_OUTPUT_TAIL);
        ck_assert_uint_eq(strspn(o.stdout_tail, "x"), HOOK_OUTPUT_TAIL);

        /* The last ten lines (the first may be cut: 10 MB is not a multiple of the line). */
        unsigned lines = 1;
        for (const char *s = o.stderr_lines; *s; s++)
                lines += *s == '\n';
        ck_assert_uint_eq(lines, HOOK_STDERR_LINES);
        ck_assert_ptr_nonnull(strstr(o.stderr_lines, "an error line\nan error line"));
        ck_assert_uint_lt(strlen(o.reason), 512);
        outcome_done(&o);

        /* Kept bounded: nothing near 10 MB was ever held. */
        ck_assert_int_eq(getrusage(RUSAGE_SELF, &after), 0);
        ck_assert_int_lt(after.ru_maxrss - before.ru_maxrss, 4 * 1024);
}
END_TEST

START_TEST(test_output_survives_exit) {
        /* Output written just before the exit is not lost, whatever order the events come in. */
        for (int i = 0; i < 20; i++) {
                char *argv[] = { "/bin/sh", "-c", "head -c 50000 /dev/zero | tr '\\0' y; echo last-words >&2; exit 9",
                                 NULL };
                HookParams p = params(HOOK_STEP_START, argv);
                Outcome o;
                run_hook(&p, &o);
                ck_assert_int_eq(o.exit_status, 9);
                ck_assert_uint_eq(o.stdout_total, 50000);
                ck_assert_str_eq(o.stderr_lines, "last-words");
                outcome_done(&o);
        }
}
END_TEST

START_TEST(test_stdin_input) {
        _cleanup_free_ char *out = path_in("stdin.out");
        _cleanup_free_ char *script = NULL;
        /* The password and a newline, then end of file ("cat" returns at once). */
        ck_assert_int_ge(asprintf(&script,
                                  "read -r pw || exit 1; rest=$(cat); [ -z \"$rest\" ] || exit 2; printf '%%s' \"$pw\" > '%s'",
                                  out), 0);
        char *argv[] = { "/bin/sh", "-c", script, NULL };
        HookParams p = params(HOOK_STEP_DISK_ENCRYPTION, argv);
        p.input = "pw with spaces & $ymbols";
        Outcome o;

        run_hook(&p, &o);
        ck_assert_int_eq(o.error, 0);
        _cleanup_free_ char *got = test_read_file(out, NULL);
        ck_assert_str_eq(got, "pw with spaces & $ymbols");
        outcome_done(&o);

        /* A hook that never reads its stdin is fine too. */
        char *argv2[] = { "/bin/true", NULL };
        p = params(HOOK_STEP_DISK_ENCRYPTION, argv2);
        p.input = "unread";
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, 0);
        outcome_done(&o);
}
END_TEST

START_TEST(test_stdin_null_without_input) {
        char *argv[] = { "/bin/sh", "-c",
                         "[ \"$(readlink /proc/$$/fd/0)\" = /dev/null ] || exit 1; if read -r x; then exit 2; fi; exit 0",
                         NULL };
        HookParams p = params(HOOK_STEP_START, argv);
        Outcome o;

        run_hook(&p, &o);
        ck_assert_msg(o.error == 0, "stdin is not /dev/null: %s", strna(o.reason));
        outcome_done(&o);
}
END_TEST

START_TEST(test_environment_is_clean) {
        ck_assert_int_eq(setenv("AOS_TEST_LEAK", "must-not-be-seen", 1), 0);
        ck_assert_int_eq(setenv("LD_PRELOAD", "", 1), 0);

        static const struct {
                HookStep step;
                const char *name;
        } steps[] = {
                { HOOK_STEP_START, "start" },
                { HOOK_STEP_DISK_ENCRYPTION, "disk-encryption" },
                { HOOK_STEP_FINISH, "finish" },
                { HOOK_STEP_DEPROVISION, "deprovision" },
        };
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                char *argv[] = { "/usr/bin/env", NULL };
                HookParams p = params(steps[i].step, argv);
                p.node_state = "paused";
                p.input = steps[i].step == HOOK_STEP_DISK_ENCRYPTION ? "the-disk-password" : NULL;
                Outcome o;

                run_hook(&p, &o);
                ck_assert_int_eq(o.error, 0);
                _cleanup_free_ char *want = NULL;
                ck_assert_int_ge(asprintf(&want,
                                          "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nAOS_NODE_ID=node-7\n"
                                          "AOS_NODE_STATE=paused\nAOS_PROVISIONING_STEP=%s\n",
                                          steps[i].name), 0);
                ck_assert_str_eq(o.stdout_tail, want);
                outcome_done(&o);
        }

        /* The password is in neither the environment nor the command line (and therefore
         * nothing had to be redacted from this output). */
        char *argv[] = { "/bin/sh", "-c", "tr '\\0' '\\n' < /proc/$$/environ; tr '\\0' '\\n' < /proc/$$/cmdline", NULL };
        HookParams p = params(HOOK_STEP_DISK_ENCRYPTION, argv);
        p.input = "the-disk-password";
        Outcome o;
        run_hook(&p, &o);
        ck_assert_int_eq(o.error, 0);
        ck_assert_ptr_null(strstr(o.stdout_tail, "the-disk-password"));
        ck_assert_ptr_null(strstr(o.stdout_tail, "***"));
        ck_assert_ptr_nonnull(strstr(o.stdout_tail, "AOS_PROVISIONING_STEP=disk-encryption"));
        outcome_done(&o);
}
END_TEST

START_TEST(test_secret_redacted) {
        char *argv[] = { "/bin/sh", "-c", "read -r pw; echo \"got $pw\"; echo \"bad: $pw!\" >&2; exit 1", NULL };
        HookParams p = params(HOOK_STEP_DISK_ENCRYPTION, argv);
        p.input = "Hunter2-secret";
        Outcome o;

        run_hook(&p, &o);
        ck_assert_int_eq(o.error, -EPROTO);
        ck_assert_ptr_null(strstr(o.reason, "Hunter2"));
        ck_assert_ptr_nonnull(strstr(o.reason, "bad: ***!"));
        ck_assert_str_eq(o.stdout_tail, "got ***\n");
        ck_assert_str_eq(o.stderr_lines, "bad: ***!");
        outcome_done(&o);
}
END_TEST

START_TEST(test_fds_not_inherited) {
        _cleanup_free_ char *file = path_in("leak");
        int fd = open(file, O_WRONLY | O_CREAT, 0600); /* deliberately without O_CLOEXEC */
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(dup2(fd, 42), 42);
        close(fd);

        char *argv[] = { "/bin/sh", "-c", "[ ! -e /proc/$$/fd/42 ]", NULL };
        HookParams p = params(HOOK_STEP_START, argv);
        Outcome o;
        run_hook(&p, &o);
        ck_assert_msg(o.error == 0, "fd 42 leaked into the hook");
        outcome_done(&o);
        close(42);
}
END_TEST

START_TEST(test_output_sanitized) {
        char *argv[] = { "/bin/sh", "-c", "printf '\\377\\376 bad\\tutf8 \\303\\244 ok\\033[31m\\r\\n' >&2; exit 2", NULL };
        HookParams p = params(HOOK_STEP_START, argv);
        Outcome o;

        run_hook(&p, &o);
        ck_assert_int_eq(o.exit_status, 2);
        ck_assert_str_eq(o.stderr_lines, "?? bad utf8 \xc3\xa4 ok?[31m");
        outcome_done(&o);
}
END_TEST

static void on_never(Hook *h, const HookResult *r, void *userdata) {
        ck_abort_msg("no report after hook_free()");
}

START_TEST(test_free_while_running) {
        _cleanup_free_ char *pidfile = path_in("child.pid");
        _cleanup_free_ char *script = NULL;
        ck_assert_int_ge(asprintf(&script, "sleep 1000 & echo $! > '%s'; sleep 1000", pidfile), 0);
        char *argv[] = { "/bin/sh", "-c", script, NULL };
        HookParams p = params(HOOK_STEP_START, argv);
        sd_event *e = NULL;
        Hook *h = NULL;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(hook_start(e, &p, on_never, NULL, &h), 0);
        pid_t pid = hook_get_pid(h);
        ck_assert_int_gt(pid, 0);
        pid_t grandchild = read_pid_file(pidfile);

        hook_free(h);
        for (int i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(e, 10 * USEC_PER_MSEC), 0);
        ck_assert(wait_dead(pid));
        ck_assert(wait_dead(grandchild));
        sd_event_unref(e);
}
END_TEST

static Suite *hook_suite(void) {
        Suite *s = suite_create("hook");
        TCase *tc = tcase_create("run");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_step_names);
        tcase_add_test(tc, test_success);
        tcase_add_test(tc, test_invalid_params);
        tcase_add_test(tc, test_cannot_execute);
        tcase_add_test(tc, test_exit_code_and_stderr);
        tcase_add_test(tc, test_killed_by_signal);
        tcase_add_test(tc, test_timeout_kills_process_group);
        tcase_add_test(tc, test_ten_megabytes);
        tcase_add_test(tc, test_output_survives_exit);
        tcase_add_test(tc, test_stdin_input);
        tcase_add_test(tc, test_stdin_null_without_input);
        tcase_add_test(tc, test_environment_is_clean);
        tcase_add_test(tc, test_secret_redacted);
        tcase_add_test(tc, test_fds_not_inherited);
        tcase_add_test(tc, test_output_sanitized);
        tcase_add_test(tc, test_free_while_running);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(hook_suite());
}
