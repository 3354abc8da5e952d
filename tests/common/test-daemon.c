/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command line every daemon shares: the common options, a daemon's own, bad usage. */
#include <check.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>

#include "aos-build-config.h"
#include "daemon.h"
#include "log.h"
#include "test-util.h"

static bool extra_seen;

static int parse_extra(int c, const char *arg) {
        if (c != 'p')
                return -EINVAL;
        extra_seen = true;
        return 0;
}

static const struct option extra_options[] = {
        { "provisioning", no_argument, NULL, 'p' },
        {}
};

static const DaemonInfo info = {
        .name = "aos-test",
        .summary = "A test.",
        .extra_short = "p",
        .extra_options = extra_options,
        .parse_extra = parse_extra,
};

static int parse(int argc, char **argv, const char **config) {
        optind = 0; /* getopt starts over */
        extra_seen = false;
        return daemon_parse_argv(&info, argc, argv, config);
}

START_TEST(test_common_options) {
        const char *config = NULL;
        char *a1[] = { "aos-test", NULL };
        char *a2[] = { "aos-test", "--config", "/tmp/x.conf", "--log-level", "debug", NULL };
        char *a3[] = { "aos-test", "-c", "/tmp/y.conf", "-p", NULL };
        char *a4[] = { "aos-test", "--provisioning", NULL };

        ck_assert_int_eq(parse(1, a1, &config), 1);
        ck_assert_str_eq(config, AOS_DEFAULT_CONFIG);
        ck_assert(!extra_seen);
        ck_assert_int_eq(parse(5, a2, &config), 1);
        ck_assert_str_eq(config, "/tmp/x.conf");
        ck_assert_int_eq(parse(4, a3, &config), 1);
        ck_assert_str_eq(config, "/tmp/y.conf");
        ck_assert(extra_seen);
        ck_assert_int_eq(parse(2, a4, &config), 1);
        ck_assert(extra_seen);
        log_set_max_level(LOG_INFO);
}
END_TEST

START_TEST(test_bad_usage) {
        const char *config = NULL;
        char *a1[] = { "aos-test", "--log-level", "loud", NULL };
        char *a2[] = { "aos-test", "positional", NULL };
        char *a3[] = { "aos-test", "--no-such-option", NULL };
        char *a4[] = { "aos-test", "-x", NULL };

        ck_assert_int_eq(parse(3, a1, &config), -EINVAL);
        ck_assert_int_eq(parse(2, a2, &config), -EINVAL);
        ck_assert_int_eq(parse(2, a3, &config), -EINVAL);
        ck_assert_int_eq(parse(2, a4, &config), -EINVAL);
}
END_TEST

START_TEST(test_help_version) {
        const char *config = NULL;
        char *a1[] = { "aos-test", "--help", NULL };
        char *a2[] = { "aos-test", "--version", NULL };

        ck_assert_int_eq(parse(2, a1, &config), 0);
        ck_assert_int_eq(parse(2, a2, &config), 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("common daemon");
        TCase *tc = tcase_create("daemon");
        tcase_add_test(tc, test_common_options);
        tcase_add_test(tc, test_bad_usage);
        tcase_add_test(tc, test_help_version);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
