/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small language helpers shared by every part of aos-iam, in the spirit of systemd's macro.h. */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))
#define _sentinel_ __attribute__((sentinel))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hand a pointer over to someone else: return its value and leave NULL behind. */
#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _ptr_ = (p);   \
                (p) = NULL;                  \
                _ptr_;                       \
        })

#define TAKE_FD(fd)                          \
        ({                                   \
                int _fd_ = (fd);             \
                (fd) = -1;                   \
                _fd_;                        \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type *p) {                   \
                if (*p)                                         \
                        func(*p);                               \
        }

/* free() that returns NULL, for "p = mfree(p);". */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* NULL-terminated string vectors ("strv"), as used for lists in the configuration. */
void strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
char **strv_copy(char *const *l);
bool strv_contains(char *const *l, const char *s);
/* Appends a copy of s; returns 0 or -ENOMEM. */
int strv_extend(char ***l, const char *s);
/* Splits on ASCII white space; empty result is an empty vector, never NULL on success. */
int strv_split_whitespace(const char *s, char ***ret);

/* Wipe secrets before freeing them. */
void erase_and_free(void *p);
static inline void erase_and_freep(void *p) {
        erase_and_free(*(void **) p);
}
#define _cleanup_erase_free_ _cleanup_(erase_and_freep)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline bool isempty(const char *s) {
        return !s || !*s;
}
static inline const char *strempty(const char *s) {
        return s ?: "";
}
static inline const char *strna(const char *s) {
        return s ?: "n/a";
}
/* Returns a pointer behind the prefix when s starts with it, else NULL. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

/* Lowercase hex of a byte buffer; returns NULL on OOM. */
char *hexmem(const void *p, size_t l);
/* Parses hex (either case, even length); returns 0, -EINVAL or -ENOMEM. */
int unhexmem(const char *s, void **ret, size_t *ret_len);

/* Concatenates two strings on the stack (for short strings such as journal fields only). */
#define strjoina(a, b)                                                  \
        ({                                                              \
                const char *_sa = (a), *_sb = (b);                      \
                size_t _la = strlen(_sa), _lb = strlen(_sb);            \
                char *_sr = __builtin_alloca(_la + _lb + 1);            \
                memcpy(_sr, _sa, _la);                                  \
                memcpy(_sr + _la, _sb, _lb + 1);                        \
                _sr;                                                    \
        })

#define USEC_PER_SEC ((uint64_t) 1000000ULL)
#define USEC_PER_MSEC ((uint64_t) 1000ULL)
