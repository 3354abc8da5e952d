/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The provisioning password, read from a file, from a pipe on stdin, or from a no-echo prompt
 * on the terminal; never from the command line (argv is readable by everyone in /proc).
 * A password lives in a buffer of PASSWORD_INPUT_BUF bytes, wiped whole by password_free().
 * One trailing newline ("\n" or "\r\n") is stripped; an empty password, one longer than
 * PASSWORD_MAX_LEN, or one with a NUL or another line break is refused. No function here
 * prints: reasons come back as strings for the caller to show. */

#include <stdbool.h>

#include "password.h"

#define PASSWORD_INPUT_BUF (PASSWORD_MAX_LEN + 3) /* + "\r\n" + NUL */

void password_free(char *p);
static inline void password_freep(char **p) {
        password_free(*p);
        *p = NULL;
}
#define _cleanup_password_ _cleanup_(password_freep)

/* Reads the password from a file. A regular file that others may read is refused (-EPERM);
 * one the group may read is accepted with *ret_group_readable set, so the caller can warn. */
int password_input_from_file(const char *path, char **ret, bool *ret_group_readable, char **ret_reason);
/* Reads the password from fd (a pipe, a file) until EOF. */
int password_input_from_fd(int fd, char **ret, char **ret_reason);
/* Writes prompt to fd_out, turns echo off on the terminal fd_in and reads one line. The
 * terminal is restored on every path, also when SIGINT/SIGTERM/SIGHUP arrive (the signal is
 * then raised again after the restore). */
int password_input_prompt(int fd_in, int fd_out, const char *prompt, char **ret, char **ret_reason);

/* The one entry point for commands: --password-file when given, else stdin when it is not a
 * terminal, else the prompt (twice when confirm is set, and the two must match). Prints its
 * warnings and errors as "aosctl VERB: ..."; returns 0 or an exit code (2: unusable input). */
int password_input_read(const char *verb, const char *path, bool confirm, char **ret);
