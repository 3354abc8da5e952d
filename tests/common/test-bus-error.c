/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/bus-error.c: every name converts to its errno (what clients such as aosctl and
 * aos-provisiond see), registration is idempotent. The daemons always set names explicitly:
 * sd-bus does not use registered maps for errno -> name. */

#include "bus-error.h"
#include "macro.h"
#include "test-util.h"

START_TEST(test_names_to_errno) {
        ck_assert_int_eq(aos_bus_error_init(), 0);
        ck_assert_int_eq(aos_bus_error_init(), 0);

        size_t n = 0;
        for (const sd_bus_error_map *e = aos_bus_error_map; e->name; e++, n++) {
                sd_bus_error err = SD_BUS_ERROR_NULL;
                ck_assert_int_lt(sd_bus_error_set(&err, e->name, "x"), 0);
                ck_assert_msg(sd_bus_error_get_errno(&err) == e->code, "%s: errno %d, expected %d", e->name,
                              sd_bus_error_get_errno(&err), e->code);
                ck_assert_msg(startswith(e->name, "org.aosedge."), "%s is not one of ours", e->name);
                sd_bus_error_free(&err);
        }
        ck_assert_uint_ge(n, 16);
}
END_TEST

int main(void) {
        Suite *s = suite_create("common bus-error");
        TCase *tc = tcase_create("bus-error");
        tcase_add_test(tc, test_names_to_errno);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
