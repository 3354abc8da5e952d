/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every fuzz target shares: the libFuzzer entry points, and the checks for what the
 * parsers promise about the text they hand back (it ends up in D-Bus strings, journal fields
 * and messages shown to users). A broken promise aborts, so libFuzzer keeps the input. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with a message naming the broken promise; libFuzzer then saves the input. */
#define fuzz_assert(expr)                                                                   \
        do {                                                                                \
                if (!(expr)) {                                                              \
                        fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", __FILE__, __LINE__, \
                                #expr);                                                     \
                        abort();                                                            \
                }                                                                           \
        } while (0)

/* $AOS_FUZZ_DEBUG set: the targets print what the code under test returned, for reading a
 * reproducer (./fuzz-config crash-...). Off while fuzzing. */
static inline bool fuzz_debug(void) {
        static int on = -1;

        if (on < 0)
                on = getenv("AOS_FUZZ_DEBUG") != NULL;
        return on;
}

#define fuzz_log(...)                                   \
        do {                                            \
                if (fuzz_debug())                       \
                        fprintf(stderr, __VA_ARGS__);   \
        } while (0)

/* Valid UTF-8 (RFC 3629: no overlong forms, no surrogates) without C0 controls or DEL: what
 * the x509 and config code promise for every name and reason they return. */
static inline bool fuzz_text_is_clean(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                uint32_t cp;
                size_t n;

                if (*p < 0x80) {
                        if (*p < 0x20 || *p == 0x7f)
                                return false;
                        p++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0)
                        n = 2, cp = *p & 0x1f;
                else if ((*p & 0xf0) == 0xe0)
                        n = 3, cp = *p & 0x0f;
                else if ((*p & 0xf8) == 0xf0)
                        n = 4, cp = *p & 0x07;
                else
                        return false;
                for (size_t k = 1; k < n; k++) {
                        if ((p[k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[k] & 0x3f);
                }
                if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
                    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += n;
        }
        return true;
}

/* A NUL-terminated copy of data[0..size), for parsers that take C strings. An embedded NUL
 * ends the string there, as it would for any caller. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

/* Splits data at NUL bytes into at most max fields, each a NUL-terminated string that points
 * into buf (a copy of data the caller frees). Returns the number of fields (>= 1). */
static inline size_t fuzz_split(const uint8_t *data, size_t size, char **ret_buf, char **fields, size_t max) {
        char *buf = fuzz_strndup(data, size);
        size_t n = 0;

        fields[n++] = buf;
        for (size_t i = 0; i < size && n < max; i++)
                if (buf[i] == 0)
                        fields[n++] = buf + i + 1;
        *ret_buf = buf;
        return n;
}
