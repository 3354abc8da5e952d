/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging for the daemons and tools. Library code in common/ does not log; it returns negative
 * errno and, where a caller needs to say more, a message.
 *
 * Under journald (stderr is the journal stream, see $JOURNAL_STREAM) records are sent with
 * structured fields (PRIORITY, CODE_*, ERRNO, SYSLOG_IDENTIFIER and the caller's own such as
 * CERT_TYPE=, NODE_ID=, MESSAGE_ID=). Otherwise they go to stderr as one line each.
 * Never pass a secret to any of these. */

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* Parses "debug", "info", "notice", "warning", "err"/"error", "crit" or a number 0..7. */
int log_level_from_string(const char *s);
void log_set_identifier(const char *ident);

/* Returns -abs(error) (or 0 when error is 0), so that "return log_error_errno(r, ...)" works. */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *const *fields, const char *format, ...) _printf_(7, 8);

#define log_full_errno(level, error, ...) \
        log_internal(level, error, __FILE__, __LINE__, __func__, NULL, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

/* An event with structured fields: fields is a NULL-terminated array of "KEY=value" strings.
 *   log_event(LOG_INFO, STRV("CERT_TYPE=iam", serial_field), "Applied certificate %s", s); */
#define STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define log_event(level, fields, ...) \
        (void) log_internal(level, 0, __FILE__, __LINE__, __func__, fields, __VA_ARGS__)
