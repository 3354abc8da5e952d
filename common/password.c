/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <limits.h>

#include "fs.h"
#include "macro.h"
#include "password.h"

#define PBKDF2_PREFIX "pbkdf2-sha256$"
#define PBKDF2_SALT_SIZE 16
#define PBKDF2_HASH_SIZE 32
#define PBKDF2_ITERATIONS_DEFAULT 100000U
#define PBKDF2_ITERATIONS_MIN 1000U
#define PBKDF2_ITERATIONS_MAX 10000000U

#define THROTTLE_FIRST_USEC (250 * USEC_PER_MSEC)
#define THROTTLE_MAX_USEC (8 * USEC_PER_SEC)

/* $AOS_PBKDF2_ITERATIONS exists for the test suites only, so that they do not spend seconds in
 * PBKDF2: it is read at every hash, clamped to PBKDF2_ITERATIONS_MIN..MAX, and ignored when it
 * is not a number. The count is stored in the verifier, so verification never reads it. */
static unsigned pbkdf2_iterations(void) {
        const char *e = secure_getenv("AOS_PBKDF2_ITERATIONS");
        if (isempty(e))
                return PBKDF2_ITERATIONS_DEFAULT;

        char *end;
        errno = 0;
        unsigned long v = strtoul(e, &end, 10);
        if (errno != 0 || *end != 0 || e[0] < '0' || e[0] > '9')
                return PBKDF2_ITERATIONS_DEFAULT;
        return (unsigned) MIN(MAX(v, (unsigned long) PBKDF2_ITERATIONS_MIN),
                              (unsigned long) PBKDF2_ITERATIONS_MAX);
}

static int pbkdf2_sha256(const char *password, size_t password_len,
                         const uint8_t salt[static PBKDF2_SALT_SIZE], unsigned iterations,
                         uint8_t ret_hash[static PBKDF2_HASH_SIZE]) {
        const gnutls_datum_t key = { .data = (unsigned char *) password, .size = (unsigned) password_len };
        const gnutls_datum_t s = { .data = (unsigned char *) salt, .size = PBKDF2_SALT_SIZE };

        if (gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &s, iterations, ret_hash, PBKDF2_HASH_SIZE) < 0)
                return -EIO;
        return 0;
}

/* 0 if password may be hashed: not empty and at most PASSWORD_MAX_LEN bytes. */
static int password_check_length(const char *password, size_t *ret_len) {
        if (!password)
                return -EINVAL;
        size_t l = strnlen(password, PASSWORD_MAX_LEN + 1);
        if (l == 0)
                return -EINVAL;
        if (l > PASSWORD_MAX_LEN)
                return -E2BIG;
        *ret_len = l;
        return 0;
}

int password_hash(const char *password, char **ret_verifier) {
        if (!ret_verifier)
                return -EINVAL;

        size_t len;
        int r = password_check_length(password, &len);
        if (r < 0)
                return r;

        unsigned iterations = pbkdf2_iterations();
        uint8_t salt[PBKDF2_SALT_SIZE], hash[PBKDF2_HASH_SIZE];
        r = random_bytes(salt, sizeof salt);
        if (r < 0)
                return r;

        r = pbkdf2_sha256(password, len, salt, iterations, hash);
        if (r < 0) {
                explicit_bzero(hash, sizeof hash);
                return r;
        }

        _cleanup_free_ char *salt_hex = hexmem(salt, sizeof salt);
        _cleanup_erase_free_ char *hash_hex = hexmem(hash, sizeof hash);
        explicit_bzero(hash, sizeof hash);
        if (!salt_hex || !hash_hex)
                return -ENOMEM;

        char *v;
        if (asprintf(&v, PBKDF2_PREFIX "%u$%s$%s", iterations, salt_hex, hash_hex) < 0)
                return -ENOMEM;
        *ret_verifier = v;
        return 0;
}

static int unhex_lower(const char *s, size_t len, uint8_t *ret) {
        for (size_t i = 0; i < len; i++) {
                uint8_t b = 0;
                for (size_t j = 0; j < 2; j++) {
                        char c = s[i * 2 + j];
                        if (c >= '0' && c <= '9')
                                b = (uint8_t) (b << 4 | (c - '0'));
                        else if (c >= 'a' && c <= 'f')
                                b = (uint8_t) (b << 4 | (c - 'a' + 10));
                        else
                                return -EINVAL;
                }
                ret[i] = b;
        }
        return 0;
}

/* Parses "pbkdf2-sha256$<iterations>$<32 hex>$<64 hex>" exactly as password_hash() writes it:
 * decimal without sign or leading zero, lowercase hex, nothing before or after. */
static int verifier_parse(const char *verifier, unsigned *ret_iterations,
                          uint8_t ret_salt[static PBKDF2_SALT_SIZE],
                          uint8_t ret_hash[static PBKDF2_HASH_SIZE]) {
        const char *p = startswith(verifier, PBKDF2_PREFIX);
        if (!p)
                return -EINVAL;

        unsigned long iterations = 0;
        const char *digits = p;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (p - digits >= 8) /* more than PBKDF2_ITERATIONS_MAX has digits */
                        return -EINVAL;
                iterations = iterations * 10 + (unsigned long) (*p - '0');
        }
        if (p == digits || digits[0] == '0' || *p != '$')
                return -EINVAL;
        if (iterations < PBKDF2_ITERATIONS_MIN || iterations > PBKDF2_ITERATIONS_MAX)
                return -EINVAL;
        p++;

        const char *sep = strchr(p, '$');
        if (!sep || (size_t) (sep - p) != PBKDF2_SALT_SIZE * 2)
                return -EINVAL;
        uint8_t salt[PBKDF2_SALT_SIZE];
        if (unhex_lower(p, PBKDF2_SALT_SIZE, salt) < 0)
                return -EINVAL;
        p = sep + 1;

        if (strlen(p) != PBKDF2_HASH_SIZE * 2)
                return -EINVAL;
        uint8_t hash[PBKDF2_HASH_SIZE];
        if (unhex_lower(p, PBKDF2_HASH_SIZE, hash) < 0) {
                explicit_bzero(hash, sizeof hash);
                return -EINVAL;
        }

        *ret_iterations = (unsigned) iterations;
        memcpy(ret_salt, salt, sizeof salt);
        memcpy(ret_hash, hash, sizeof hash);
        explicit_bzero(hash, sizeof hash);
        return 0;
}

int password_verify(const char *verifier, const char *password) {
        if (!verifier || !password)
                return -EINVAL;

        unsigned iterations;
        uint8_t salt[PBKDF2_SALT_SIZE], expected[PBKDF2_HASH_SIZE], actual[PBKDF2_HASH_SIZE];
        int r = verifier_parse(verifier, &iterations, salt, expected);
        if (r < 0)
                return r;

        /* password_hash() refuses these, so no verifier can match them: a plain mismatch, which
         * the caller counts (and throttles) like any other wrong password. */
        size_t len;
        if (password_check_length(password, &len) < 0) {
                explicit_bzero(expected, sizeof expected);
                return 0;
        }

        r = pbkdf2_sha256(password, len, salt, iterations, actual);
        if (r >= 0)
                r = gnutls_memcmp(actual, expected, PBKDF2_HASH_SIZE) == 0;

        explicit_bzero(actual, sizeof actual);
        explicit_bzero(expected, sizeof expected);
        return r;
}

uint64_t password_throttle_wait(const PasswordThrottle *t, uint64_t now_usec) {
        if (!t || t->not_before_usec <= now_usec)
                return 0;
        return t->not_before_usec - now_usec;
}

void password_throttle_record(PasswordThrottle *t, int ok, uint64_t now_usec) {
        if (!t)
                return;

        if (ok > 0) {
                *t = (PasswordThrottle) {};
                return;
        }

        if (t->failures < UINT_MAX)
                t->failures++;

        /* 250 ms, 500 ms, 1 s, ... doubling per failure, at most 8 s. */
        uint64_t delay = THROTTLE_MAX_USEC;
        if (t->failures - 1 < 6)
                delay = MIN(THROTTLE_FIRST_USEC << (t->failures - 1), THROTTLE_MAX_USEC);

        t->not_before_usec = now_usec > UINT64_MAX - delay ? UINT64_MAX : now_usec + delay;
}
