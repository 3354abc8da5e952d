/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <stdint.h>

#include "test-util.h"
#include "token-bucket.h"

#define SEC UINT64_C(1000000)

START_TEST(test_burst_then_rate) {
        TokenBucket b = TOKEN_BUCKET_INIT(128, 2);
        uint64_t t = 1000 * SEC;

        for (unsigned i = 0; i < 128; i++)
                ck_assert(token_bucket_take(&b, t));
        ck_assert(!token_bucket_take(&b, t));
        ck_assert(!token_bucket_take(&b, t + SEC / 4)); /* half a token */
        ck_assert(token_bucket_take(&b, t + SEC / 2));  /* one */
        ck_assert(!token_bucket_take(&b, t + SEC / 2));
        /* A long pause refills up to the burst, not beyond. */
        t += 3600 * SEC;
        for (unsigned i = 0; i < 128; i++)
                ck_assert(token_bucket_take(&b, t));
        ck_assert(!token_bucket_take(&b, t));
        /* A clock that goes back gives nothing. */
        ck_assert(!token_bucket_take(&b, t - SEC));
}
END_TEST

int main(void) {
        Suite *s = suite_create("nodelinkd token-bucket");
        TCase *tc = tcase_create("token-bucket");
        tcase_add_test(tc, test_burst_then_rate);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
