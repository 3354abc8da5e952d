/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Salted PBKDF2-HMAC-SHA256 password verifiers, the one way the suite remembers a password.
 * Format: "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>". */

#include <stdint.h>

#define PASSWORD_MAX_LEN 256

int password_hash(const char *password, char **ret_verifier);
/* Returns 1 on match, 0 on mismatch (compared in constant time), -EINVAL on a malformed verifier. */
int password_verify(const char *verifier, const char *password);

/* Growing delay after wrong passwords: 0 after success, then 250 ms doubling per failure,
 * capped at 8 s. */
typedef struct PasswordThrottle {
        unsigned failures;
        uint64_t not_before_usec; /* CLOCK_MONOTONIC */
} PasswordThrottle;

/* µs the caller must still wait before the next attempt is even checked. */
uint64_t password_throttle_wait(const PasswordThrottle *t, uint64_t now_usec);
void password_throttle_record(PasswordThrottle *t, int ok, uint64_t now_usec);
