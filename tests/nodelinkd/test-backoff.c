/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <stdint.h>

#include "backoff.h"
#include "test-util.h"

#define SEC UINT64_C(1000000)

START_TEST(test_nominal) {
        ck_assert_uint_eq(backoff_nominal_usec(30 * SEC, 0), BACKOFF_MIN_USEC);
        ck_assert_uint_eq(backoff_nominal_usec(30 * SEC, 1), 2 * BACKOFF_MIN_USEC);
        ck_assert_uint_eq(backoff_nominal_usec(30 * SEC, 3), 8 * BACKOFF_MIN_USEC);
        ck_assert_uint_eq(backoff_nominal_usec(30 * SEC, 20), 30 * SEC);
        ck_assert_uint_eq(backoff_nominal_usec(30 * SEC, 1000), 30 * SEC);
        ck_assert_uint_eq(backoff_nominal_usec(100, 5), 100);
}
END_TEST

START_TEST(test_jitter_bounds) {
        Backoff b = { .max_usec = 30 * SEC };
        uint64_t rnd = 0x9e3779b97f4a7c15ULL;

        for (unsigned i = 0; i < 200; i++) {
                uint64_t nominal = backoff_nominal_usec(b.max_usec, b.attempt);
                rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
                uint64_t d = backoff_next_usec(&b, rnd);
                ck_assert_uint_ge(d, nominal / 2);
                ck_assert_uint_le(d, nominal);
                ck_assert_uint_le(d, 30 * SEC);
        }
        /* the extremes of the random value hit the ends of the interval */
        Backoff c = { .max_usec = 30 * SEC, .attempt = 40 };
        ck_assert_uint_eq(backoff_next_usec(&c, 0), 15 * SEC);
        c.attempt = 40;
        ck_assert_uint_eq(backoff_next_usec(&c, 15 * SEC), 30 * SEC);
}
END_TEST

START_TEST(test_reset) {
        Backoff b = { .max_usec = 30 * SEC };
        for (unsigned i = 0; i < 10; i++)
                (void) backoff_next_usec(&b, 0);
        ck_assert_uint_eq(b.attempt, 10);
        backoff_reset(&b);
        ck_assert_uint_le(backoff_next_usec(&b, UINT64_MAX), BACKOFF_MIN_USEC);
}
END_TEST

int main(void) {
        Suite *s = suite_create("nodelinkd backoff");
        TCase *tc = tcase_create("backoff");
        tcase_add_test(tc, test_nominal);
        tcase_add_test(tc, test_jitter_bounds);
        tcase_add_test(tc, test_reset);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
