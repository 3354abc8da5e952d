/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"
#include "password.h"
#include "test-util.h"

#define SALT_HEX "00112233445566778899aabbccddeeff"
#define HASH_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void setup_fast(void) {
        /* The minimum: the tests check behaviour, not strength. */
        setenv("AOS_PBKDF2_ITERATIONS", "1000", 1);
}

START_TEST(test_roundtrip) {
        _cleanup_free_ char *v = NULL;
        ck_assert_int_eq(password_hash("correct horse battery staple", &v), 0);
        ck_assert_ptr_nonnull(startswith(v, "pbkdf2-sha256$1000$"));
        ck_assert_uint_eq(strlen(v), strlen("pbkdf2-sha256$1000$") + 32 + 1 + 64);

        ck_assert_int_eq(password_verify(v, "correct horse battery staple"), 1);
        ck_assert_int_eq(password_verify(v, "correct horse battery stapl"), 0);
        ck_assert_int_eq(password_verify(v, "correct horse battery staple "), 0);
        ck_assert_int_eq(password_verify(v, "Correct horse battery staple"), 0);
}
END_TEST

START_TEST(test_salted) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        ck_assert_int_eq(password_hash("secret", &a), 0);
        ck_assert_int_eq(password_hash("secret", &b), 0);
        ck_assert_str_ne(a, b);
        ck_assert_int_eq(password_verify(a, "secret"), 1);
        ck_assert_int_eq(password_verify(b, "secret"), 1);
}
END_TEST

START_TEST(test_lengths) {
        char *v = NULL;
        ck_assert_int_eq(password_hash("", &v), -EINVAL);
        ck_assert_int_eq(password_hash(NULL, &v), -EINVAL);
        ck_assert_ptr_null(v);

        char max[PASSWORD_MAX_LEN + 2];
        memset(max, 'p', sizeof max);
        max[PASSWORD_MAX_LEN] = 0;
        ck_assert_int_eq(password_hash(max, &v), 0);
        ck_assert_int_eq(password_verify(v, max), 1);

        /* One byte more: refused, and it can never match. */
        max[PASSWORD_MAX_LEN] = 'p';
        max[PASSWORD_MAX_LEN + 1] = 0;
        char *w = NULL;
        ck_assert_int_eq(password_hash(max, &w), -E2BIG);
        ck_assert_ptr_null(w);
        ck_assert_int_eq(password_verify(v, max), 0);
        ck_assert_int_eq(password_verify(v, ""), 0);
        ck_assert_int_eq(password_verify(v, NULL), -EINVAL);
        free(v);
}
END_TEST

START_TEST(test_malformed) {
        static const char *const bad[] = {
                "",
                "pbkdf2-sha256",
                "pbkdf2-sha256$",
                "pbkdf2-sha1$1000$" SALT_HEX "$" HASH_HEX,
                "PBKDF2-SHA256$1000$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$999$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$10000001$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$99999999999999999999$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$01000$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$+1000$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$-1000$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$1000x$" SALT_HEX "$" HASH_HEX,
                "pbkdf2-sha256$1000$" SALT_HEX,
                "pbkdf2-sha256$1000$" SALT_HEX "$",
                "pbkdf2-sha256$1000$$" HASH_HEX,
                "pbkdf2-sha256$1000$" SALT_HEX "00$" HASH_HEX,
                "pbkdf2-sha256$1000$" "00112233445566778899aabbccddeef" "$" HASH_HEX,
                "pbkdf2-sha256$1000$" "00112233445566778899AABBCCDDEEFF" "$" HASH_HEX,
                "pbkdf2-sha256$1000$" "0011223344556677889gaabbccddeeff" "$" HASH_HEX,
                "pbkdf2-sha256$1000$" SALT_HEX "$" HASH_HEX "00",
                "pbkdf2-sha256$1000$" SALT_HEX "$" HASH_HEX "\n",
                "pbkdf2-sha256$1000$" SALT_HEX "$" HASH_HEX "$",
                "pbkdf2-sha256$1000$" SALT_HEX "$" "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefZ",
                " pbkdf2-sha256$1000$" SALT_HEX "$" HASH_HEX,
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(password_verify(bad[i], "secret") == -EINVAL, "accepted verifier %zu: '%s'", i, bad[i]);
        ck_assert_int_eq(password_verify(NULL, "secret"), -EINVAL);

        /* The limits themselves are well-formed (and simply do not match). */
        ck_assert_int_eq(password_verify("pbkdf2-sha256$1000$" SALT_HEX "$" HASH_HEX, "secret"), 0);
        ck_assert_int_eq(password_verify("pbkdf2-sha256$10000000$" SALT_HEX "$" HASH_HEX, ""), 0);
}
END_TEST

START_TEST(test_iterations_env) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        setenv("AOS_PBKDF2_ITERATIONS", "5", 1); /* below the minimum: raised to it */
        ck_assert_int_eq(password_hash("secret", &a), 0);
        ck_assert_ptr_nonnull(startswith(a, "pbkdf2-sha256$1000$"));

        setenv("AOS_PBKDF2_ITERATIONS", "2000", 1);
        ck_assert_int_eq(password_hash("secret", &b), 0);
        ck_assert_ptr_nonnull(startswith(b, "pbkdf2-sha256$2000$"));

        /* The verifier carries its own count. */
        setenv("AOS_PBKDF2_ITERATIONS", "1000", 1);
        ck_assert_int_eq(password_verify(b, "secret"), 1);

        setenv("AOS_PBKDF2_ITERATIONS", "garbage", 1);
        ck_assert_int_eq(password_hash("secret", &c), 0);
        ck_assert_ptr_nonnull(startswith(c, "pbkdf2-sha256$100000$"));
}
END_TEST

START_TEST(test_default_iterations) {
        unsetenv("AOS_PBKDF2_ITERATIONS");
        _cleanup_free_ char *v = NULL;
        ck_assert_int_eq(password_hash("pa55word", &v), 0);
        ck_assert_ptr_nonnull(startswith(v, "pbkdf2-sha256$100000$"));
        ck_assert_int_eq(password_verify(v, "pa55word"), 1);
        ck_assert_int_eq(password_verify(v, "pa55wore"), 0);
}
END_TEST

START_TEST(test_known_vector) {
        /* PBKDF2-HMAC-SHA256("password", salt "salt" + 12 zero bytes, 1000, 32), as computed by
         * Python's hashlib.pbkdf2_hmac: the verifier is the standard construction. */
        static const char v[] =
                "pbkdf2-sha256$1000$73616c74000000000000000000000000$"
                "5d225e9f97b58eb6167ae433225cbe571eee2e56c99f7d45557955b8ba33f714";
        ck_assert_int_eq(password_verify(v, "password"), 1);
        ck_assert_int_eq(password_verify(v, "Password"), 0);
}
END_TEST

START_TEST(test_throttle) {
        static const uint64_t ms = USEC_PER_MSEC;
        PasswordThrottle t = {};
        uint64_t now = 1000 * USEC_PER_SEC;

        ck_assert_uint_eq(password_throttle_wait(&t, now), 0);

        static const uint64_t expected[] = { 250, 500, 1000, 2000, 4000, 8000, 8000, 8000 };
        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                password_throttle_record(&t, 0, now);
                ck_assert_uint_eq(t.failures, i + 1);
                ck_assert_uint_eq(password_throttle_wait(&t, now), expected[i] * ms);
                ck_assert_uint_eq(password_throttle_wait(&t, now + 100 * ms),
                                  expected[i] * ms - 100 * ms);
                ck_assert_uint_eq(password_throttle_wait(&t, now + expected[i] * ms), 0);
                now += expected[i] * ms;
        }

        /* Many more failures stay at the cap. */
        for (unsigned i = 0; i < 100; i++)
                password_throttle_record(&t, 0, now);
        ck_assert_uint_eq(password_throttle_wait(&t, now), 8000 * ms);

        /* A negative result (an error) counts as a failure too. */
        password_throttle_record(&t, -EINVAL, now);
        ck_assert_uint_eq(password_throttle_wait(&t, now), 8000 * ms);

        /* Success resets. */
        now += 8000 * ms;
        password_throttle_record(&t, 1, now);
        ck_assert_uint_eq(t.failures, 0);
        ck_assert_uint_eq(password_throttle_wait(&t, now), 0);
        password_throttle_record(&t, 0, now);
        ck_assert_uint_eq(password_throttle_wait(&t, now), 250 * ms);

        /* Near the end of the clock it saturates rather than wrap. */
        PasswordThrottle u = { .failures = 10 };
        password_throttle_record(&u, 0, UINT64_MAX - 1);
        ck_assert_uint_eq(password_throttle_wait(&u, UINT64_MAX - 1), 1);
        ck_assert_uint_eq(password_throttle_wait(NULL, 0), 0);
}
END_TEST

static Suite *password_suite(void) {
        Suite *s = suite_create("password");
        TCase *tc = tcase_create("password");
        tcase_add_checked_fixture(tc, setup_fast, NULL);
        tcase_add_test(tc, test_roundtrip);
        tcase_add_test(tc, test_salted);
        tcase_add_test(tc, test_lengths);
        tcase_add_test(tc, test_malformed);
        tcase_add_test(tc, test_iterations_env);
        tcase_add_test(tc, test_default_iterations);
        tcase_add_test(tc, test_known_vector);
        tcase_add_test(tc, test_throttle);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(password_suite());
}
