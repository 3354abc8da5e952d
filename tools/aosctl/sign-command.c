/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running --sign-command: see sign-command.h. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "sign-command.h"
#include "x509.h"

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

_noreturn_ static void run_child(int in_fd, int out_fd, const char *command, const char *type,
                                 const char *node_id) {
        if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
                _exit(127);
        /* An ignored SIGPIPE would be inherited across exec. */
        (void) signal(SIGPIPE, SIG_DFL);
        if (setenv("AOS_CERT_TYPE", type, 1) < 0 || setenv("AOS_NODE_ID", node_id, 1) < 0)
                _exit(127);
        execl("/bin/sh", "sh", "-c", command, (char *) NULL);
        _exit(127);
}

static void set_nonblock(int fd) {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
                (void) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Feeds input to in_fd and collects out_fd until EOF, both at once so that neither side can
 * block the other. */
static int pump(int in_fd, int out_fd, const char *input, char **ret_out, size_t *ret_size) {
        _cleanup_free_ char *out = NULL;
        size_t in_left = strlen(input), size = 0, alloc = 0;
        int r = 0;

        set_nonblock(in_fd);
        set_nonblock(out_fd);
        while (out_fd >= 0) {
                struct pollfd p[2] = {
                        { .fd = out_fd, .events = POLLIN },
                        { .fd = in_fd, .events = POLLOUT },
                };
                nfds_t n = in_fd >= 0 ? 2 : 1;

                if (poll(p, n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (n == 2 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t k = write(in_fd, input, in_left);
                        if (k < 0 && errno != EAGAIN && errno != EINTR) {
                                /* The command does not read its input (EPIPE): fine. */
                                in_left = 0;
                        } else if (k > 0) {
                                input += k;
                                in_left -= (size_t) k;
                        }
                        if (in_left == 0) {
                                (void) close(in_fd);
                                in_fd = -1;
                        }
                }
                if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) {
                        if (alloc - size < 4096) {
                                if (alloc > X509_PEM_MAX) {
                                        r = -E2BIG;
                                        break;
                                }
                                char *nout = realloc(out, alloc + 16384);
                                if (!nout) {
                                        r = -ENOMEM;
                                        break;
                                }
                                out = nout;
                                alloc += 16384;
                        }
                        ssize_t k = read(out_fd, out + size, alloc - size - 1);
                        if (k < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        continue;
                                r = -errno;
                                break;
                        }
                        if (k == 0)
                                break;
                        size += (size_t) k;
                        out[size] = 0;
                }
        }
        if (in_fd >= 0)
                (void) close(in_fd);
        if (r < 0)
                return r;
        *ret_out = out ? TAKE_PTR(out) : strdup("");
        *ret_size = size;
        return *ret_out ? 0 : -ENOMEM;
}

int sign_command_run(const char *command, const char *type, const char *node_id, const char *csr_pem,
                     char **ret_chain_pem, char **ret_reason) {
        _cleanup_free_ char *out = NULL, *reason = NULL;
        _cleanup_(x509_chain_done) X509Chain chain = {};
        int in_pipe[2], out_pipe[2], status, r;
        struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
        size_t size = 0;
        pid_t pid;

        if (ret_reason)
                *ret_reason = NULL;
        if (!command || !type || !node_id || !csr_pem || !ret_chain_pem)
                return -EINVAL;

        if (pipe2(in_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                return fail(ret_reason, r, "sign command for type %s: pipe: %s", type, strerror(-r));
        }
        if (pipe2(out_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                (void) close(in_pipe[0]);
                (void) close(in_pipe[1]);
                return fail(ret_reason, r, "sign command for type %s: pipe: %s", type, strerror(-r));
        }

        /* Writing to a command that exits without reading must give EPIPE, not kill aosctl. */
        sigemptyset(&ign.sa_mask);
        (void) sigaction(SIGPIPE, &ign, &old_pipe);

        (void) fflush(stdout);
        (void) fflush(stderr);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                (void) close(in_pipe[0]);
                (void) close(in_pipe[1]);
                (void) close(out_pipe[0]);
                (void) close(out_pipe[1]);
                (void) sigaction(SIGPIPE, &old_pipe, NULL);
                return fail(ret_reason, r, "sign command for type %s: fork: %s", type, strerror(-r));
        }
        if (pid == 0)
                run_child(in_pipe[0], out_pipe[1], command, type, node_id);

        (void) close(in_pipe[0]);
        (void) close(out_pipe[1]);
        r = pump(in_pipe[1], out_pipe[0], csr_pem, &out, &size);
        (void) close(out_pipe[0]);

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        status = -1;
                        break;
                }
        (void) sigaction(SIGPIPE, &old_pipe, NULL);

        if (r == -E2BIG)
                return fail(ret_reason, r, "sign command for type %s printed more than %d bytes", type, X509_PEM_MAX);
        if (r < 0)
                return fail(ret_reason, r, "sign command for type %s: reading its output: %s", type, strerror(-r));
        if (status == -1)
                return fail(ret_reason, -ECHILD, "sign command for type %s: lost the process", type);
        if (WIFSIGNALED(status))
                return fail(ret_reason, -EPROTO, "sign command for type %s was killed by signal %d (%s)", type,
                            WTERMSIG(status), strsignal(WTERMSIG(status)));
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                return fail(ret_reason, -EPROTO, "sign command for type %s exited with status %d%s", type,
                            WEXITSTATUS(status), WEXITSTATUS(status) == 127 ? " (command not found?)" : "");

        bool blank = true;
        for (size_t i = 0; i < size; i++)
                if (!strchr(" \t\r\n", out[i])) {
                        blank = false;
                        break;
                }
        if (blank)
                return fail(ret_reason, -ENODATA, "sign command for type %s printed no certificate", type);
        if (memchr(out, 0, size))
                return fail(ret_reason, -EBADMSG, "sign command for type %s printed binary data, not PEM", type);

        r = x509_chain_from_pem(out, size, &chain, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(ret_reason, r, "sign command for type %s printed no valid certificate chain: %s", type,
                            reason ?: strerror(-r));

        *ret_chain_pem = TAKE_PTR(out);
        return 0;
}
