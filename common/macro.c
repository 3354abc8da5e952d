/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdint.h>

#include "macro.h"

void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

char **strv_copy(char *const *l) {
        size_t n = strv_length(l);
        char **r = calloc(n + 1, sizeof(char *));
        if (!r)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                r[i] = strdup(l[i]);
                if (!r[i]) {
                        strv_free(r);
                        return NULL;
                }
        }
        return r;
}

bool strv_contains(char *const *l, const char *s) {
        if (!l)
                return false;
        for (char *const *i = l; *i; i++)
                if (streq(*i, s))
                        return true;
        return false;
}

int strv_extend(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        char **r = realloc(*l, (n + 2) * sizeof(char *));
        if (!r) {
                free(c);
                return -ENOMEM;
        }
        r[n] = c;
        r[n + 1] = NULL;
        *l = r;
        return 0;
}

int strv_split_whitespace(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        const char *p = s;
        for (;;) {
                while (*p && isspace((unsigned char) *p))
                        p++;
                if (!*p)
                        break;
                const char *e = p;
                while (*e && !isspace((unsigned char) *e))
                        e++;
                _cleanup_free_ char *w = strndup(p, e - p);
                if (!w)
                        return -ENOMEM;
                int r = strv_extend(&l, w);
                if (r < 0)
                        return r;
                p = e;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

void erase_and_free(void *p) {
        if (!p)
                return;
        size_t l = strlen(p);
        explicit_bzero(p, l);
        free(p);
}

char *hexmem(const void *p, size_t l) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = p;
        char *r = malloc(l * 2 + 1);
        if (!r)
                return NULL;
        for (size_t i = 0; i < l; i++) {
                r[i * 2] = digits[b[i] >> 4];
                r[i * 2 + 1] = digits[b[i] & 15];
        }
        r[l * 2] = 0;
        return r;
}

static int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int unhexmem(const char *s, void **ret, size_t *ret_len) {
        size_t l = strlen(s);
        if (l % 2)
                return -EINVAL;
        _cleanup_free_ uint8_t *r = malloc(l / 2 + 1);
        if (!r)
                return -ENOMEM;
        for (size_t i = 0; i < l / 2; i++) {
                int a = unhexchar(s[i * 2]), b = unhexchar(s[i * 2 + 1]);
                if (a < 0 || b < 0)
                        return -EINVAL;
                r[i] = (uint8_t) (a << 4 | b);
        }
        *ret_len = l / 2;
        *ret = TAKE_PTR(r);
        return 0;
}
