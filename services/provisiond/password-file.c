/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libgen.h>
#include <sys/stat.h>

#include "fs.h"
#include "macro.h"
#include "password-file.h"
#include "password.h"

#define PASSWORD_FILE_MAX 1024

char *password_file_path(const char *state_file) {
        char *p;
        if (!state_file)
                return NULL;
        return asprintf(&p, "%s" PASSWORD_FILE_SUFFIX, state_file) < 0 ? NULL : p;
}

int password_file_save(const char *path, const char *password) {
        _cleanup_erase_free_ char *verifier = NULL, *line = NULL;
        int r;

        if (!path || !password)
                return -EINVAL;

        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        r = mkdir_p(dirname(dir), 0755);
        if (r < 0)
                return r;

        r = password_hash(password, &verifier);
        if (r < 0)
                return r;
        if (asprintf(&line, "%s\n", verifier) < 0)
                return -ENOMEM;
        return write_file_atomic(path, line, strlen(line), 0600);
}

int password_file_check(const char *path, const char *password) {
        _cleanup_erase_free_ char *verifier = NULL;
        size_t size = 0;
        int r;

        if (!path || !password)
                return -EINVAL;

        r = read_file_full(path, PASSWORD_FILE_MAX, &verifier, &size);
        if (r == -EFBIG)
                return -EBADMSG;
        if (r < 0)
                return r;
        if (size > 0 && verifier[size - 1] == '\n')
                verifier[size - 1] = 0;

        r = password_verify(verifier, password);
        if (r == -EINVAL)
                return -EBADMSG;
        return r;
}

int password_file_exists(const char *path) {
        struct stat st;
        if (!path)
                return -EINVAL;
        if (stat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}

int password_file_remove(const char *path) {
        return unlink_durable(path);
}
