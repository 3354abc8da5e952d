/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "hook.h"
#include "log.h"
#include "macro.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define HOOK_READ_CHUNK (64 * 1024)
#define REDACTED "***"

static const char *const hook_step_table[_HOOK_STEP_MAX] = {
        [HOOK_STEP_START] = "start",
        [HOOK_STEP_DISK_ENCRYPTION] = "disk-encryption",
        [HOOK_STEP_FINISH] = "finish",
        [HOOK_STEP_DEPROVISION] = "deprovision",
};

const char *hook_step_to_string(HookStep s) {
        return (unsigned) s < _HOOK_STEP_MAX ? hook_step_table[s] : NULL;
}

/* The last HOOK_OUTPUT_TAIL bytes of one output stream. */
typedef struct OutputTail {
        char buf[HOOK_OUTPUT_TAIL];
        size_t size;
        uint64_t total;
} OutputTail;

struct Hook {
        sd_event *event;
        HookStep step;
        char *name;             /* argv[0] as configured, for messages */
        char *secret;           /* the input, to redact it from the output */
        uint64_t timeout_usec;

        pid_t pid;
        int stdout_fd, stderr_fd;
        int exec_fd;            /* the child reports a failed execve() here */
        sd_event_source *stdout_source, *stderr_source, *child_source, *timer_source, *defer_source;
        OutputTail out, err;
        bool timed_out;
        bool exited;
        int start_error;        /* argv[0] could not be resolved: reported from the defer source */

        hook_handler_t handler;
        void *userdata;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void tail_append(OutputTail *t, const char *p, size_t n) {
        t->total += n;
        if (n >= sizeof t->buf) {
                memcpy(t->buf, p + n - sizeof t->buf, sizeof t->buf);
                t->size = sizeof t->buf;
                return;
        }
        if (t->size + n > sizeof t->buf) {
                size_t drop = t->size + n - sizeof t->buf;
                memmove(t->buf, t->buf + drop, t->size - drop);
                t->size -= drop;
        }
        memcpy(t->buf + t->size, p, n);
        t->size += n;
}

/* Replaces every occurrence of secret in buf[0..*size) by REDACTED; buf has room for
 * HOOK_OUTPUT_TAIL bytes, which is enough since REDACTED is not longer than a password that
 * could matter (shorter secrets are not redacted: too likely to be false positives). */
static void tail_redact(OutputTail *t, const char *secret) {
        size_t sl = secret ? strlen(secret) : 0;
        if (sl < strlen(REDACTED))
                return;
        for (size_t i = 0; i + sl <= t->size;) {
                if (memcmp(t->buf + i, secret, sl) != 0) {
                        i++;
                        continue;
                }
                size_t rl = strlen(REDACTED);
                memcpy(t->buf + i, REDACTED, rl);
                memmove(t->buf + i + rl, t->buf + i + sl, t->size - i - sl);
                t->size -= sl - rl;
                i += rl;
        }
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if there is none. */
static size_t utf8_sequence_length(const unsigned char *s, size_t n) {
        size_t len;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if ((s[0] & 0xf8) == 0xf0) {
                len = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* No overlong forms, no surrogates, nothing beyond U+10FFFF. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;
        return len;
}

/* The last `lines` lines of the output, as valid UTF-8 without control characters (tabs
 * become spaces, other bytes '?'), joined with "\n". NULL on OOM. */
static char *tail_last_lines(const OutputTail *t, unsigned lines) {
        const char *b = t->buf;
        size_t end = t->size;

        /* Trailing newlines do not make empty lines. */
        while (end > 0 && (b[end - 1] == '\n' || b[end - 1] == '\r'))
                end--;
        size_t start = end;
        unsigned n = 0;
        while (start > 0) {
                if (b[start - 1] == '\n' && ++n == lines)
                        break;
                start--;
        }

        char *s = malloc(end - start + 1), *p = s;
        if (!s)
                return NULL;
        for (size_t i = start; i < end;) {
                unsigned char c = (unsigned char) b[i];
                if (c == '\n' || c == '\t') {
                        *p++ = c == '\t' ? ' ' : '\n';
                        i++;
                } else if (c < 0x20 || c == 0x7f) {
                        *p++ = '?';
                        i++;
                } else {
                        size_t l = utf8_sequence_length((const unsigned char *) b + i, end - i);
                        if (l == 0) {
                                *p++ = '?';
                                i++;
                        } else {
                                memcpy(p, b + i, l);
                                p += l;
                                i += l;
                        }
                }
        }
        *p = 0;
        return s;
}

static void hook_close_output(Hook *h) {
        h->stdout_source = sd_event_source_disable_unref(h->stdout_source);
        h->stderr_source = sd_event_source_disable_unref(h->stderr_source);
        if (h->stdout_fd >= 0)
                h->stdout_fd = (close(h->stdout_fd), -1);
        if (h->stderr_fd >= 0)
                h->stderr_fd = (close(h->stderr_fd), -1);
}

Hook *hook_free(Hook *h) {
        if (!h)
                return NULL;

        /* Still running: take the whole group down (the child source, which owns the process,
         * then reaps the hook itself). */
        if (h->pid > 0 && !h->exited)
                (void) kill(-h->pid, SIGKILL);

        hook_close_output(h);
        sd_event_source_disable_unref(h->child_source);
        sd_event_source_disable_unref(h->timer_source);
        sd_event_source_disable_unref(h->defer_source);
        if (h->exec_fd >= 0)
                close(h->exec_fd);
        sd_event_unref(h->event);
        free(h->name);
        erase_and_free(h->secret);
        free(h);
        return NULL;
}

pid_t hook_get_pid(const Hook *h) {
        return h ? h->pid : 0;
}

/* Reads one chunk of what is available (the io source is level-triggered, so a hook that
 * writes without pause cannot starve the loop). Returns 2 if it read something, 1 if nothing
 * is there yet, 0 at EOF or on an error. */
static int drain_once(int fd, OutputTail *t) {
        static char chunk[HOOK_READ_CHUNK];
        for (;;) {
                ssize_t k = read(fd, chunk, sizeof chunk);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == EAGAIN ? 1 : 0;
                if (k == 0)
                        return 0;
                tail_append(t, chunk, (size_t) k);
                return 2;
        }
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Hook *h = userdata;
        bool is_stdout = s == h->stdout_source;

        if (drain_once(fd, is_stdout ? &h->out : &h->err) > 0)
                return 0;
        /* EOF: the hook (and everything it started) closed this stream. */
        if (is_stdout) {
                h->stdout_source = sd_event_source_disable_unref(h->stdout_source);
                h->stdout_fd = (close(h->stdout_fd), -1);
        } else {
                h->stderr_source = sd_event_source_disable_unref(h->stderr_source);
                h->stderr_fd = (close(h->stderr_fd), -1);
        }
        return 0;
}

/* After the hook exited: whatever is still in the pipes, without waiting for more (a
 * background process may hold them open forever). */
static void drain_rest(Hook *h) {
        int fds[2] = { h->stdout_fd, h->stderr_fd };
        OutputTail *tails[2] = { &h->out, &h->err };
        for (size_t i = 0; i < 2; i++) {
                if (fds[i] < 0)
                        continue;
                /* At most what a pipe can hold and then some: never spin on a writer that
                 * survived the hook. */
                for (unsigned n = 0; n < 64 && drain_once(fds[i], tails[i]) == 2; n++)
                        ;
        }
        hook_close_output(h);
}

static char *format_timeout(uint64_t usec) {
        char *s;
        int r;
        if (usec % USEC_PER_SEC == 0)
                r = asprintf(&s, "%" PRIu64 " s", usec / USEC_PER_SEC);
        else
                r = asprintf(&s, "%.3g s", (double) usec / USEC_PER_SEC);
        return r < 0 ? NULL : s;
}

static void hook_report(Hook *h, int error, int exit_status, int sig) {
        _cleanup_free_ char *reason = NULL, *lines = NULL, *timeout = NULL;
        const char *step = hook_step_to_string(h->step);
        int r = 0;

        tail_redact(&h->out, h->secret);
        tail_redact(&h->err, h->secret);
        lines = tail_last_lines(&h->err, HOOK_STDERR_LINES);
        if (!lines)
                (void) log_oom();

        switch (error) {
        case 0:
                break;
        case -ETIME:
                timeout = format_timeout(h->timeout_usec);
                r = asprintf(&reason, "%s hook %s timed out after %s and was killed%s%s", step, h->name,
                             strna(timeout), isempty(lines) ? "" : "; its stderr ended with:\n",
                             strempty(lines));
                break;
        case -EPROTO:
                if (sig > 0)
                        r = asprintf(&reason, "%s hook %s was killed by signal %d (SIG%s)%s%s", step, h->name, sig,
                                     strna(sigabbrev_np(sig)), isempty(lines) ? "" : "; its stderr ended with:\n",
                                     strempty(lines));
                else
                        r = asprintf(&reason, "%s hook %s exited with status %d%s%s", step, h->name, exit_status,
                                     isempty(lines) ? " and wrote nothing to stderr" : "; its stderr ended with:\n",
                                     strempty(lines));
                break;
        case -EINVAL:
                r = asprintf(&reason, "%s hook %s cannot be executed: not an absolute path or a plain name", step,
                             h->name);
                break;
        default:
                errno = -error;
                r = asprintf(&reason, "%s hook %s cannot be executed: %m", step, h->name);
                break;
        }
        if (r < 0) {
                reason = NULL;
                (void) log_oom();
        }

        if (error == 0)
                log_info("The %s hook %s (pid %d) succeeded.", step, h->name, (int) h->pid);
        else
                log_warning("The %s hook failed: %s", step, strna(reason));
        if (h->out.total > 0)
                log_debug("The %s hook wrote %" PRIu64 " bytes to stdout, ending with: %.*s", step, h->out.total,
                          (int) h->out.size, h->out.buf);

        HookResult res = {
                .error = error,
                .exit_status = exit_status,
                .signal = sig,
                .reason = error == 0 ? NULL : reason ?: "hook failed (out of memory for the details)",
                .stdout_tail = h->out.buf,
                .stdout_size = h->out.size,
                .stdout_total = h->out.total,
                .stderr_tail = h->err.buf,
                .stderr_size = h->err.size,
                .stderr_total = h->err.total,
                .stderr_lines = strempty(lines),
        };
        /* The handler may free h: nothing of h is touched after this call. */
        h->handler(h, &res, h->userdata);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Hook *h = userdata;
        int error = 0, exit_status = -1, sig = 0;

        h->exited = true;
        h->timer_source = sd_event_source_disable_unref(h->timer_source);
        drain_rest(h);

        /* A failed execve() left its errno in the report pipe; a successful one closed it. */
        int exec_errno = 0;
        if (h->exec_fd >= 0) {
                ssize_t k = read(h->exec_fd, &exec_errno, sizeof exec_errno);
                if (k != (ssize_t) sizeof exec_errno)
                        exec_errno = 0;
                h->exec_fd = (close(h->exec_fd), -1);
        }

        if (exec_errno > 0)
                error = -exec_errno;
        else if (h->timed_out)
                error = -ETIME;
        else if (si->si_code == CLD_EXITED) {
                exit_status = si->si_status;
                error = exit_status == 0 ? 0 : -EPROTO;
        } else {
                sig = si->si_status;
                error = -EPROTO;
        }
        if (error == -ETIME && si->si_code != CLD_EXITED)
                sig = si->si_status;

        hook_report(h, error, exit_status, sig);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Hook *h = userdata;
        h->timer_source = sd_event_source_disable_unref(h->timer_source);
        h->timed_out = true;
        log_warning("The %s hook %s (pid %d) did not finish in time: killing its process group.",
                    hook_step_to_string(h->step), h->name, (int) h->pid);
        if (kill(-h->pid, SIGKILL) < 0 && errno != ESRCH)
                log_warning_errno(errno, "Cannot kill the process group %d, ignoring: %m", (int) h->pid);
        return 0;
}

static int on_start_error(sd_event_source *s, void *userdata) {
        Hook *h = userdata;
        h->defer_source = sd_event_source_disable_unref(h->defer_source);
        hook_report(h, h->start_error, -1, 0);
        return 0;
}

static int check_executable(const char *path) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EACCES;
        if (access(path, X_OK) < 0)
                return -errno;
        return 0;
}

/* argv[0]: an absolute path as it is, a plain name looked up in HOOK_PATH; a relative path
 * would depend on the daemon's working directory and is refused. */
static int find_executable(const char *name, char **ret) {
        int r;

        if (strchr(name, '/')) {
                if (name[0] != '/')
                        return -EINVAL;
                r = check_executable(name);
                if (r < 0)
                        return r;
                *ret = strdup(name);
                return *ret ? 0 : -ENOMEM;
        }

        int first = -ENOENT;
        const char *dirs = HOOK_PATH;
        while (*dirs) {
                size_t l = strcspn(dirs, ":");
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%.*s/%s", (int) l, dirs, name) < 0)
                        return -ENOMEM;
                r = check_executable(p);
                if (r == 0) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
                if (r != -ENOENT && first == -ENOENT)
                        first = r;
                dirs += l;
                if (*dirs == ':')
                        dirs++;
        }
        return first;
}

/* In the child, between fork() and execve(): async-signal-safe calls only. */
_noreturn_ static void child_exec(const char *path, char *const *argv, char *const *envp, int fds[3], int exec_fd,
                                  pid_t parent) {
        int e;

        (void) setpgid(0, 0);

        sigset_t none;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        for (int sig = 1; sig < NSIG; sig++)
                (void) sigaction(sig, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP */

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) {
                /* The daemon died before we got here: do not run unsupervised. */
                e = ESRCH;
                goto fail;
        }

        /* Move the pipe ends above 2 first, so that no dup2() below overwrites another one. */
        for (int i = 0; i < 3; i++)
                if (fds[i] < 3) {
                        fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                        if (fds[i] < 0) {
                                e = errno;
                                goto fail;
                        }
                }
        for (int i = 0; i < 3; i++)
                if (dup2(fds[i], i) < 0) {
                        e = errno;
                        goto fail;
                }

        /* Nothing of the daemon but 0, 1, 2 survives the execve() (the report pipe is
         * O_CLOEXEC already). */
        if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
                long max = sysconf(_SC_OPEN_MAX);
                if (max < 0 || max > 65536)
                        max = 65536;
                for (int fd = 3; fd < max; fd++)
                        if (fd != exec_fd)
                                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
        }

        execve(path, argv, envp);
        e = errno;
fail:
        (void) !write(exec_fd, &e, sizeof e);
        _exit(127);
}

static int make_pipe(int p[2]) {
        return pipe2(p, O_CLOEXEC) < 0 ? -errno : 0;
}

static void close_pair(int p[2]) {
        for (int i = 0; i < 2; i++)
                if (p[i] >= 0)
                        p[i] = (close(p[i]), -1);
}

int hook_start(sd_event *event, const HookParams *params, hook_handler_t handler, void *userdata, Hook **ret) {
        _cleanup_(hook_freep) Hook *h = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_strv_free_ char **envp = NULL;
        int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 }, rep[2] = { -1, -1 };
        int r;

        if (!event || !params || !params->argv || !params->argv[0] || params->timeout_usec == 0 || !handler ||
            !ret || (unsigned) params->step >= _HOOK_STEP_MAX)
                return -EINVAL;

        h = calloc(1, sizeof(Hook));
        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->step = params->step;
        h->timeout_usec = params->timeout_usec;
        h->handler = handler;
        h->userdata = userdata;
        h->stdout_fd = h->stderr_fd = h->exec_fd = -1;
        h->name = strdup(params->argv[0]);
        if (!h->name)
                return -ENOMEM;
        if (params->input) {
                h->secret = strdup(params->input);
                if (!h->secret)
                        return -ENOMEM;
        }

        r = find_executable(params->argv[0], &path);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                h->start_error = r;
                r = sd_event_add_defer(event, &h->defer_source, on_start_error, h);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(h);
                return 0;
        }

        /* Everything the child needs is prepared here: after fork() it may not allocate. */
        const char *vars[][2] = {
                { "PATH", HOOK_PATH },
                { "AOS_NODE_ID", strempty(params->node_id) },
                { "AOS_NODE_STATE", strempty(params->node_state) },
                { "AOS_PROVISIONING_STEP", hook_step_to_string(params->step) },
        };
        envp = calloc(ELEMENTSOF(vars) + 1, sizeof(char *));
        if (!envp)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                if (asprintf(&envp[i], "%s=%s", vars[i][0], vars[i][1]) < 0) {
                        envp[i] = NULL;
                        return -ENOMEM;
                }

        _cleanup_close_ int null_fd = -1;
        if ((r = make_pipe(out)) < 0 || (r = make_pipe(err)) < 0 || (r = make_pipe(rep)) < 0)
                goto fail;
        if (params->input) {
                r = make_pipe(in);
                if (r < 0)
                        goto fail;
        } else {
                null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (null_fd < 0) {
                        r = -errno;
                        goto fail;
                }
        }

        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                goto fail;
        }
        if (pid == 0) {
                int fds[3] = { params->input ? in[0] : null_fd, out[1], err[1] };
                child_exec(path, params->argv, envp, fds, rep[1], parent);
        }

        h->pid = pid;
        /* Also here, so that the group exists before anyone can signal it. */
        (void) setpgid(pid, pid);
        log_info("Running the %s hook %s (pid %d).", hook_step_to_string(h->step), h->name, (int) pid);

        if (params->input) {
                /* The input and its newline fit the pipe (PIPE_BUF at least, passwords are much
                 * shorter): written at once, then end of file. A hook that exits without reading
                 * gives EPIPE, which is not our problem. */
                size_t l = strlen(params->input);
                struct iovec iov[2] = { { (void *) params->input, l }, { (void *) "\n", 1 } };
                ssize_t k = l + 1 <= PIPE_BUF ? writev(in[1], iov, 2) : -1;
                if (k != (ssize_t) (l + 1))
                        log_warning("Cannot hand the input to the %s hook in one piece, closing its stdin.",
                                    hook_step_to_string(h->step));
        }
        close_pair(in);
        h->stdout_fd = TAKE_FD(out[0]);
        h->stderr_fd = TAKE_FD(err[0]);
        h->exec_fd = TAKE_FD(rep[0]);
        close_pair(out);
        close_pair(err);
        close_pair(rep);

        if (fcntl(h->stdout_fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(h->stderr_fd, F_SETFL, O_NONBLOCK) < 0 ||
            fcntl(h->exec_fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno; /* hook_free() kills it */

        r = sd_event_add_io(event, &h->stdout_source, h->stdout_fd, EPOLLIN, on_output, h);
        if (r < 0)
                return r;
        r = sd_event_add_io(event, &h->stderr_source, h->stderr_fd, EPOLLIN, on_output, h);
        if (r < 0)
                return r;
        r = sd_event_add_child(event, &h->child_source, pid, WEXITED, on_child, h);
        if (r < 0)
                return r;
        /* Freed while the hook runs (the daemon stops): sd-event kills and reaps it. */
        (void) sd_event_source_set_child_process_own(h->child_source, true);
        /* The output first: the exit is handled after what is already in the pipes. */
        (void) sd_event_source_set_priority(h->child_source, SD_EVENT_PRIORITY_NORMAL + 1);
        r = sd_event_add_time(event, &h->timer_source, CLOCK_MONOTONIC, now_usec() + h->timeout_usec, 0, on_timeout, h);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(h);
        return 0;

fail:
        close_pair(out);
        close_pair(err);
        close_pair(in);
        close_pair(rep);
        return r;
}
