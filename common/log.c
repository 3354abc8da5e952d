/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static const char *identifier;
static int journal_mode = -1; /* -1 unknown, 0 stderr, 1 journal */

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_identifier(const char *ident) {
        identifier = ident;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
        };
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

static bool stderr_is_journal(void) {
        if (journal_mode >= 0)
                return journal_mode;
        journal_mode = 0;
        const char *e = getenv("JOURNAL_STREAM");
        if (e) {
                unsigned long long dev, ino;
                struct stat st;
                if (sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0 &&
                    (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino)
                        journal_mode = 1;
        }
        return journal_mode;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *const *fields, const char *format, ...) {
        int saved_errno = errno;
        if (error < 0)
                error = -error;

        if ((level & LOG_PRIMASK) > max_level) {
                errno = saved_errno;
                return -error;
        }

        char buf[2048];
        va_list ap;
        va_start(ap, format);
        /* Make %m show the error passed in, like systemd does. */
        errno = error;
        vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        if (stderr_is_journal()) {
                struct iovec iov[48];
                char prio[32], cfile[512], cline[32], cfunc[256], err[32], msg[2100], ident[128];
                size_t n = 0;
                snprintf(msg, sizeof msg, "MESSAGE=%s", buf);
                snprintf(prio, sizeof prio, "PRIORITY=%i", level & LOG_PRIMASK);
                snprintf(cfile, sizeof cfile, "CODE_FILE=%s", file);
                snprintf(cline, sizeof cline, "CODE_LINE=%i", line);
                snprintf(cfunc, sizeof cfunc, "CODE_FUNC=%s", func);
                iov[n++] = (struct iovec){ msg, strlen(msg) };
                iov[n++] = (struct iovec){ prio, strlen(prio) };
                iov[n++] = (struct iovec){ cfile, strlen(cfile) };
                iov[n++] = (struct iovec){ cline, strlen(cline) };
                iov[n++] = (struct iovec){ cfunc, strlen(cfunc) };
                if (error > 0) {
                        snprintf(err, sizeof err, "ERRNO=%i", error);
                        iov[n++] = (struct iovec){ err, strlen(err) };
                }
                if (identifier) {
                        snprintf(ident, sizeof ident, "SYSLOG_IDENTIFIER=%s", identifier);
                        iov[n++] = (struct iovec){ ident, strlen(ident) };
                }
                for (const char *const *f = fields; f && *f && n < ELEMENTSOF(iov); f++)
                        iov[n++] = (struct iovec){ (void *) *f, strlen(*f) };
                (void) sd_journal_sendv(iov, (int) n);
        } else {
                /* One line per record; structured fields follow the message in brackets so that
                 * test logs show them too. */
                fprintf(stderr, "%s%s%s", identifier ?: "", identifier ? ": " : "", buf);
                if (fields && *fields) {
                        fputs(" [", stderr);
                        for (const char *const *f = fields; *f; f++)
                                fprintf(stderr, "%s%s", f == fields ? "" : " ", *f);
                        fputc(']', stderr);
                }
                fputc('\n', stderr);
        }

        errno = saved_errno;
        return -error;
}
