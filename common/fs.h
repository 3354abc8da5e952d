/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

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

/* de names a regular file (not followed if a symlink); asks fstatat() when the file system's
 * d_type does not say. */
bool dirent_is_regular(DIR *d, const struct dirent *de);

/* Removes every regular file in dir (nothing else), then fsyncs dir. A missing dir is empty.
 * *ret_n: how many were removed. Errors are logged, naming the file. */
int dir_remove_regular_files(const char *dir, size_t *ret_n);
