/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* password_verify() with arbitrary verifier strings, as they come back from the database.
 * Input: the verifier, then optionally a NUL and a password.
 *   1. verify against the empty password: the verifier is parsed completely, and no PBKDF2 is
 *      run (an empty password never matches), so every verifier is cheap to try;
 *   2. a verifier that parsed, with at most ITERATIONS_CHEAP iterations, is also checked
 *      against the password: 0 or 1, nothing else;
 *   3. with an empty verifier, the password is hashed (with $AOS_PBKDF2_ITERATIONS at the
 *      minimum) and must verify, and a different password must not. */

#include <errno.h>

#include "fuzz.h"
#include "password.h"

#define ITERATIONS_CHEAP 2000UL
#define PREFIX "pbkdf2-sha256$"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        /* Read at every password_hash(); the minimum keeps step 3 fast. */
        fuzz_assert(setenv("AOS_PBKDF2_ITERATIONS", "1000", 1) == 0);
        return 0;
}

/* The iteration count as the verifier spells it, for deciding whether step 2 is affordable;
 * ULONG_MAX when it is not plain digits. */
static unsigned long spelled_iterations(const char *v) {
        unsigned long n = 0;
        const char *p;

        if (strncmp(v, PREFIX, strlen(PREFIX)) != 0)
                return (unsigned long) -1;
        p = v + strlen(PREFIX);
        if (*p < '0' || *p > '9')
                return (unsigned long) -1;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (n > 100000000UL)
                        return (unsigned long) -1;
                n = n * 10 + (unsigned long) (*p - '0');
        }
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf, *fields[2] = {};
        size_t n;
        int r;

        n = fuzz_split(data, size, &buf, fields, 2);
        const char *verifier = fields[0], *password = n > 1 ? fields[1] : "";

        r = password_verify(verifier, "");
        fuzz_log("password_verify(verifier, \"\"): %d\n", r);
        fuzz_assert(r == 0 || r == -EINVAL);

        if (r == 0) {
                /* password.h: this exact form, and password_hash() writes nothing else. */
                fuzz_assert(strncmp(verifier, PREFIX, strlen(PREFIX)) == 0);
                fuzz_assert(strlen(verifier) <= strlen(PREFIX) + 8 + 1 + 32 + 1 + 64);
                if (spelled_iterations(verifier) <= ITERATIONS_CHEAP) {
                        r = password_verify(verifier, password);
                        fuzz_log("password_verify(verifier, password): %d\n", r);
                        fuzz_assert(r == 0 || r == 1);
                }
        }

        if (!*verifier && *password) {
                char *v = NULL;

                r = password_hash(password, &v);
                if (strlen(password) > PASSWORD_MAX_LEN)
                        fuzz_assert(r == -E2BIG && !v);
                else {
                        fuzz_assert(r == 0 && v);
                        fuzz_assert(password_verify(v, password) == 1);
                        /* One byte changed: the first one, flipped to another non-NUL value. */
                        char *other = strdup(password);
                        fuzz_assert(other);
                        other[0] = other[0] == 'x' ? 'y' : 'x';
                        fuzz_assert(password_verify(v, other) == 0);
                        free(other);
                        free(v);
                }
        }

        free(buf);
        return 0;
}
