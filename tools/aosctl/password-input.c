/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the provisioning password: see password-input.h. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "macro.h"
#include "aosctl.h"
#include "password-input.h"

_printf_(3, 4) static int fail(char **ret_reason, int r, const char *fmt, ...) {
        if (ret_reason) {
                va_list ap;
                char *s;

                va_start(ap, fmt);
                if (vasprintf(&s, fmt, ap) < 0)
                        s = NULL;
                va_end(ap);
                *ret_reason = s;
        }
        return r;
}

void password_free(char *p) {
        if (!p)
                return;
        explicit_bzero(p, PASSWORD_INPUT_BUF);
        free(p);
}

static char *password_buffer(void) {
        return calloc(1, PASSWORD_INPUT_BUF);
}

/* buf holds len bytes as read: strips one trailing line break and checks what is left. */
static int password_finish(char *buf, size_t len, const char *what, char **ret_reason) {
        if (len > 0 && buf[len - 1] == '\n') {
                buf[--len] = 0;
                if (len > 0 && buf[len - 1] == '\r')
                        buf[--len] = 0;
        }
        if (len == 0)
                return fail(ret_reason, -EINVAL, "%s: the password is empty", what);
        if (len > PASSWORD_MAX_LEN)
                return fail(ret_reason, -E2BIG, "%s: the password is longer than %d bytes", what,
                            PASSWORD_MAX_LEN);
        if (memchr(buf, 0, len))
                return fail(ret_reason, -EINVAL, "%s: the password contains a NUL byte", what);
        if (memchr(buf, '\n', len) || memchr(buf, '\r', len))
                return fail(ret_reason, -EINVAL, "%s: the password is more than one line", what);
        return 0;
}

/* Reads until EOF; more than PASSWORD_MAX_LEN + "\r\n" is refused without reading on. */
static int read_all(int fd, const char *what, char **ret, char **ret_reason) {
        _cleanup_password_ char *buf = password_buffer();
        size_t len = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                bool full = len >= PASSWORD_INPUT_BUF - 1;
                char probe = 0;
                ssize_t k;

                /* Once the buffer is full, one more byte tells EOF from a password too long. */
                if (full)
                        k = read(fd, &probe, 1);
                else
                        k = read(fd, buf + len, PASSWORD_INPUT_BUF - 1 - len);
                explicit_bzero(&probe, sizeof probe);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        return fail(ret_reason, r, "%s: cannot read: %s", what, strerror(-r));
                }
                if (k == 0)
                        break;
                if (full)
                        return fail(ret_reason, -E2BIG, "%s: the password is longer than %d bytes", what,
                                    PASSWORD_MAX_LEN);
                len += (size_t) k;
        }

        r = password_finish(buf, len, what, ret_reason);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

int password_input_from_file(const char *path, char **ret, bool *ret_group_readable, char **ret_reason) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        if (!path || !ret)
                return -EINVAL;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                return fail(ret_reason, r, "cannot open password file %s: %s", path, strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                return fail(ret_reason, r, "cannot stat password file %s: %s", path, strerror(-r));
        }
        if (S_ISDIR(st.st_mode))
                return fail(ret_reason, -EISDIR, "password file %s is a directory", path);
        /* Pipes (--password-file <(...)) and devices have no meaningful mode to check. */
        if (S_ISREG(st.st_mode) && (st.st_mode & S_IROTH))
                return fail(ret_reason, -EPERM,
                            "password file %s is readable by others (mode %04o); refusing it: chmod o-rwx %s",
                            path, (unsigned) (st.st_mode & 07777), path);

        r = read_all(fd, path, ret, ret_reason);
        if (r < 0)
                return r;
        if (ret_group_readable)
                *ret_group_readable = S_ISREG(st.st_mode) && (st.st_mode & S_IRGRP);
        return 0;
}

int password_input_from_fd(int fd, char **ret, char **ret_reason) {
        if (ret_reason)
                *ret_reason = NULL;
        if (fd < 0 || !ret)
                return -EINVAL;
        return read_all(fd, "standard input", ret, ret_reason);
}

/* ---- the terminal prompt ---------------------------------------------------------------- */

static volatile sig_atomic_t prompt_signal;

static void prompt_signal_handler(int sig) {
        prompt_signal = sig;
}

static void write_all(int fd, const char *s) {
        size_t l = strlen(s);
        while (l > 0) {
                ssize_t k = write(fd, s, l);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                s += k;
                l -= (size_t) k;
        }
}

int password_input_prompt(int fd_in, int fd_out, const char *prompt, char **ret, char **ret_reason) {
        static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
        _cleanup_password_ char *buf = NULL;
        struct sigaction old_sa[ELEMENTSOF(signals)];
        struct sigaction sa = { .sa_handler = prompt_signal_handler }; /* no SA_RESTART: read() returns */
        struct termios old_tio, tio;
        size_t len = 0;
        bool too_long = false;
        int r = 0;

        if (ret_reason)
                *ret_reason = NULL;
        if (fd_in < 0 || !ret)
                return -EINVAL;
        if (tcgetattr(fd_in, &old_tio) < 0) {
                r = -errno;
                return fail(ret_reason, r, "standard input is not a terminal: %s", strerror(-r));
        }
        buf = password_buffer();
        if (!buf)
                return -ENOMEM;

        prompt_signal = 0;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                (void) sigaction(signals[i], &sa, &old_sa[i]);

        if (fd_out >= 0 && prompt)
                write_all(fd_out, prompt);
        tio = old_tio;
        tio.c_lflag &= ~(tcflag_t) ECHO;
        tio.c_lflag |= ICANON;
        if (tcsetattr(fd_in, TCSAFLUSH, &tio) < 0) {
                r = -errno;
                (void) fail(ret_reason, r, "cannot turn off echo on the terminal: %s", strerror(-r));
                goto restore;
        }

        for (;;) {
                char ch;
                ssize_t k = read(fd_in, &ch, 1);

                if (k < 0) {
                        if (errno == EINTR && !prompt_signal)
                                continue;
                        r = prompt_signal ? -EINTR : -errno;
                        (void) fail(ret_reason, r, "reading the password: %s", strerror(-r));
                        break;
                }
                if (k == 0 || ch == '\n')
                        break;
                if (len < PASSWORD_INPUT_BUF - 1)
                        buf[len++] = ch;
                else
                        too_long = true;
                ch = 0;
        }

        (void) tcsetattr(fd_in, TCSAFLUSH, &old_tio);
        if (fd_out >= 0)
                write_all(fd_out, "\n");

restore:
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                (void) sigaction(signals[i], &old_sa[i], NULL);
        if (prompt_signal) {
                /* The terminal is back to normal: now let the signal do what it would have done. */
                int sig = prompt_signal;
                prompt_signal = 0;
                (void) raise(sig);
                return fail(ret_reason, -EINTR, "interrupted");
        }
        if (r < 0)
                return r;
        if (too_long)
                return fail(ret_reason, -E2BIG, "the password is longer than %d bytes", PASSWORD_MAX_LEN);
        r = password_finish(buf, len, "terminal", ret_reason);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* ---- for the commands ------------------------------------------------------------------- */

int password_input_read(const char *verb, const char *path, bool confirm, char **ret) {
        _cleanup_password_ char *pw = NULL;
        _cleanup_free_ char *reason = NULL;
        int r;

        /* No core dump and no ptrace by others of the same uid while a password is in memory. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        if (path) {
                bool group_readable = false;

                r = password_input_from_file(path, &pw, &group_readable, &reason);
                if (r >= 0 && group_readable)
                        fprintf(stderr, "aosctl %s: warning: password file %s is readable by its group\n", verb, path);
        } else if (!isatty(STDIN_FILENO)) {
                r = password_input_from_fd(STDIN_FILENO, &pw, &reason);
        } else {
                _cleanup_close_ int tty = open("/dev/tty", O_WRONLY | O_CLOEXEC | O_NOCTTY);
                int out = tty >= 0 ? tty : STDERR_FILENO;

                r = password_input_prompt(STDIN_FILENO, out, "Provisioning password: ", &pw, &reason);
                if (r >= 0 && confirm) {
                        _cleanup_password_ char *again = NULL;

                        free(reason);
                        reason = NULL;
                        r = password_input_prompt(STDIN_FILENO, out, "Repeat the password: ", &again, &reason);
                        if (r >= 0 && !streq(pw, again)) {
                                free(reason);
                                reason = strdup("the passwords do not match");
                                r = -EINVAL;
                        }
                }
        }
        if (r < 0) {
                if (r == -ENOMEM)
                        fprintf(stderr, "aosctl %s: out of memory\n", verb);
                else
                        fprintf(stderr, "aosctl %s: %s\n", verb, reason ?: strerror(-r));
                return AOSCTL_EXIT_USAGE;
        }
        *ret = TAKE_PTR(pw);
        return 0;
}
