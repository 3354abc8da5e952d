/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fs.h"
#include "log.h"
#include "macro.h"

/* Removes the temp file of an unfinished atomic write; the path is set to NULL once renamed. */
static void unlink_and_freep(char **p) {
        if (!*p)
                return;
        int saved = errno;
        (void) unlink(*p);
        free(*p);
        errno = saved;
}

/* Zeroes a buffer whose content may be a secret (PIN file, key file) before freeing it. */
static void wipe_and_free(void *p, size_t size) {
        if (!p)
                return;
        explicit_bzero(p, size);
        free(p);
}

static int loop_write(int fd, const void *data, size_t size) {
        const uint8_t *b = data;
        while (size > 0) {
                ssize_t k = write(fd, b, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                b += k;
                size -= (size_t) k;
        }
        return 0;
}

static int fsync_parent_directory(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        /* dirname() of "name" is ".", of "/name" is "/". */
        _cleanup_close_ int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode) {
        if (isempty(path) || (!data && size > 0) || (mode & ~(mode_t) 07777))
                return -EINVAL;

        _cleanup_(unlink_and_freep) char *tmp = NULL;
        _cleanup_free_ char *pattern = NULL;
        if (asprintf(&pattern, "%s.XXXXXX", path) < 0)
                return -ENOMEM;

        /* mkostemp() creates the file 0600; set the final mode before any byte is in it. */
        _cleanup_close_ int fd = mkostemp(pattern, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        tmp = TAKE_PTR(pattern);

        if (fchmod(fd, mode) < 0)
                return -errno;

        int r = loop_write(fd, data, size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        if (close(TAKE_FD(fd)) < 0)
                return -errno;

        if (rename(tmp, path) < 0)
                return -errno;
        /* Renamed: nothing is left to unlink. */
        free(tmp);
        tmp = NULL;

        return fsync_parent_directory(path);
}

int read_file_full(const char *path, size_t max_size, char **ret, size_t *ret_size) {
        if (isempty(path) || !ret)
                return -EINVAL;
        /* Keep room for reading one byte beyond the limit plus the NUL without overflow. */
        max_size = MIN(max_size, SIZE_MAX / 2);

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        size_t cap = 4096;
        if (S_ISREG(st.st_mode)) {
                if ((uintmax_t) st.st_size > max_size)
                        return -EFBIG;
                /* Size it so that a regular file is read without growing (and copying) the
                 * buffer; a byte more to see EOF. */
                cap = (size_t) st.st_size + 2;
        }
        cap = MIN(cap, max_size + 2);

        char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;

        size_t n = 0;
        for (;;) {
                if (n + 1 >= cap) {
                        /* Grow by copying so that no stale copy of the content is left in the
                         * freed block. */
                        size_t ncap = MIN(cap * 2, max_size + 2);
                        char *nbuf = malloc(ncap);
                        if (!nbuf) {
                                wipe_and_free(buf, cap);
                                return -ENOMEM;
                        }
                        memcpy(nbuf, buf, n);
                        wipe_and_free(buf, cap);
                        buf = nbuf;
                        cap = ncap;
                }

                ssize_t k = read(fd, buf + n, cap - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = errno;
                        wipe_and_free(buf, cap);
                        return -e;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max_size) {
                        wipe_and_free(buf, cap);
                        return -EFBIG;
                }
        }

        buf[n] = 0;
        *ret = buf;
        if (ret_size)
                *ret_size = n;
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        if (isempty(path))
                return -EINVAL;

        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;

        /* Create every prefix ending before a '/', then the whole path. */
        for (char *s = p + 1;; s++) {
                bool last = *s == 0;
                if (!last && *s != '/')
                        continue;
                if (s[-1] != '/') { /* skip "//" and a trailing '/' */
                        char saved = *s;
                        *s = 0;
                        if (mkdir(p, mode) < 0) {
                                if (errno != EEXIST)
                                        return -errno;
                                struct stat st;
                                if (stat(p, &st) < 0)
                                        return -errno;
                                if (!S_ISDIR(st.st_mode))
                                        return -ENOTDIR;
                        }
                        *s = saved;
                }
                if (last)
                        break;
        }
        return 0;
}

int unlink_durable(const char *path) {
        if (isempty(path))
                return -EINVAL;

        bool missing = false;
        if (unlink(path) < 0) {
                if (errno != ENOENT)
                        return -errno;
                /* Gone already, maybe by an earlier call that did not get to the fsync below:
                 * still make its removal durable. */
                missing = true;
        }

        int r = fsync_parent_directory(path);
        if (r == -ENOENT && missing)
                return 0;
        return r;
}

int random_bytes(void *p, size_t n) {
        if (!p && n > 0)
                return -EINVAL;

        uint8_t *b = p;
        while (n > 0) {
                ssize_t k = getrandom(b, n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

bool dirent_is_regular(DIR *d, const struct dirent *de) {
        struct stat st;

        if (de->d_type == DT_REG)
                return true;
        if (de->d_type != DT_UNKNOWN)
                return false;
        return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode);
}

int dir_remove_regular_files(const char *dir, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = NULL;
        size_t n = 0;

        *ret_n = 0;
        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "Cannot open %s: %m", dir);
        }
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return log_error_errno(errno, "Cannot read %s: %m", dir);
                        break;
                }
                if (!dirent_is_regular(d, de))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return log_error_errno(errno, "Cannot remove %s/%s: %m", dir, de->d_name);
                n++;
        }
        if (fsync(dirfd(d)) < 0)
                return log_error_errno(errno, "Cannot sync %s: %m", dir);
        *ret_n = n;
        return 0;
}
