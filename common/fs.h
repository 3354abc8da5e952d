/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with data so that a crash or power cut leaves either the old or the new file:
 * write to a temp file in the same directory (created with mode), fsync, rename over path,
 * fsync the directory. The file never exists with the wrong mode. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* Reads a whole file, at most max_size bytes (-EFBIG beyond), NUL-terminated. */
int read_file_full(const char *path, size_t max_size, char **ret, size_t *ret_size);

/* mkdir -p with mode for every directory it creates. */
int mkdir_p(const char *path, mode_t mode);

/* Removes path, -ENOENT is success; fsyncs the parent directory. */
int unlink_durable(const char *path);

/* Fills p with bytes from the kernel CSPRNG (getrandom). */
int random_bytes(void *p, size_t n);
