/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The main node's bootstrap pins: kept across a restart (the file), a second pin for an id
 * changes nothing, forget removes it from the file too, lines that do not parse are skipped,
 * and a write that fails leaves the store as it was. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pins.h"
#include "test-util.h"

#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *pins_path(const char *dir) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/state/%s", dir, PIN_STORE_FILE), 0);
        return p;
}

static char *state_dir(const char *dir) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/state", dir), 0);
        return p;
}

START_TEST(test_persist) {
        char *dir = test_tmpdir(), *sd = state_dir(dir), *path = pins_path(dir);
        PinStore s;
        struct stat st;

        ck_assert_int_eq(pin_store_load(&s, sd), 0);
        ck_assert_ptr_null(pin_store_lookup(&s, "node-a"));
        ck_assert_int_eq(stat(sd, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);

        ck_assert_int_eq(pin_store_set(&s, "node-a", FP_A, NULL, NULL), 0);
        ck_assert_int_eq(pin_store_set(&s, "node-b", FP_B, NULL, NULL), 0);
        /* The first pin stays. */
        ck_assert_int_eq(pin_store_set(&s, "node-a", FP_B, NULL, NULL), 0);
        ck_assert_str_eq(pin_store_lookup(&s, "node-a"), FP_A);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        pin_store_done(&s);

        /* A restart. */
        ck_assert_int_eq(pin_store_load(&s, sd), 0);
        ck_assert_str_eq(pin_store_lookup(&s, "node-a"), FP_A);
        ck_assert_str_eq(pin_store_lookup(&s, "node-b"), FP_B);
        ck_assert_uint_eq(s.n_pins, 2);
        ck_assert_int_eq(pin_store_forget(&s, "node-a"), 0);
        ck_assert_int_eq(pin_store_forget(&s, "node-zz"), 0);
        ck_assert_ptr_null(pin_store_lookup(&s, "node-a"));
        pin_store_done(&s);

        ck_assert_int_eq(pin_store_load(&s, sd), 0);
        ck_assert_ptr_null(pin_store_lookup(&s, "node-a"));
        ck_assert_str_eq(pin_store_lookup(&s, "node-b"), FP_B);
        ck_assert_uint_eq(s.n_pins, 1);
        pin_store_done(&s);

        test_rm_rf(dir);
        free(dir);
        free(sd);
        free(path);
}
END_TEST

START_TEST(test_bad_lines) {
        char *dir = test_tmpdir(), *sd = state_dir(dir), *path = pins_path(dir);
        PinStore s;
        FILE *f;

        ck_assert_int_eq(mkdir(sd, 0700), 0);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "# comment\n\nnode-a " FP_A "\n"
                   "node-b\n"                            /* no fingerprint */
                   "node-c " FP_A "00\n"                 /* too long */
                   "node-d AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" /* upper case */
                   "bad/id " FP_A "\n"                   /* not a node id */
                   "node-a " FP_B "\n"                   /* a second pin: the first wins */
                   "node-e " FP_B "\n");
        fclose(f);
        ck_assert_int_eq(pin_store_load(&s, sd), 0);
        ck_assert_str_eq(pin_store_lookup(&s, "node-a"), FP_A);
        ck_assert_ptr_null(pin_store_lookup(&s, "node-b"));
        ck_assert_ptr_null(pin_store_lookup(&s, "node-c"));
        ck_assert_ptr_null(pin_store_lookup(&s, "node-d"));
        ck_assert_str_eq(pin_store_lookup(&s, "node-e"), FP_B);
        ck_assert_uint_eq(s.n_pins, 2);
        /* Not set: a bad id or fingerprint. */
        ck_assert_int_eq(pin_store_set(&s, "bad/id", FP_A, NULL, NULL), -EINVAL);
        ck_assert_int_eq(pin_store_set(&s, "node-f", "abc", NULL, NULL), -EINVAL);
        pin_store_done(&s);

        test_rm_rf(dir);
        free(dir);
        free(sd);
        free(path);
}
END_TEST

START_TEST(test_write_fails) {
        char *dir = test_tmpdir(), *sd = state_dir(dir), *path = pins_path(dir), *blocker;
        PinStore s;

        ck_assert_int_eq(pin_store_load(&s, sd), 0);
        ck_assert_int_eq(pin_store_set(&s, "node-a", FP_A, NULL, NULL), 0);
        /* The temp file of an atomic write cannot be made: a directory where the file is. */
        free(s.path);
        ck_assert_int_ge(asprintf(&blocker, "%s/nonexistent/dir", sd), 0);
        s.path = blocker;
        ck_assert_int_lt(pin_store_set(&s, "node-b", FP_B, NULL, NULL), 0);
        ck_assert_ptr_null(pin_store_lookup(&s, "node-b"));
        ck_assert_int_lt(pin_store_forget(&s, "node-a"), 0);
        ck_assert_str_eq(pin_store_lookup(&s, "node-a"), FP_A);
        pin_store_done(&s);

        /* What was stored before is still there. */
        ck_assert_int_eq(pin_store_load(&s, sd), 0);
        ck_assert_str_eq(pin_store_lookup(&s, "node-a"), FP_A);
        ck_assert_ptr_null(pin_store_lookup(&s, "node-b"));
        pin_store_done(&s);

        test_rm_rf(dir);
        free(dir);
        free(sd);
        free(path);
}
END_TEST

START_TEST(test_memory_only) {
        PinStore s;
        ck_assert_int_eq(pin_store_load(&s, NULL), 0);
        ck_assert_int_eq(pin_store_set(&s, "node-a", FP_A, NULL, NULL), 0);
        ck_assert_str_eq(pin_store_lookup(&s, "node-a"), FP_A);
        ck_assert_int_eq(pin_store_forget(&s, "node-a"), 0);
        ck_assert_ptr_null(pin_store_lookup(&s, "node-a"));
        pin_store_done(&s);
}
END_TEST

static bool in_use_even(const char *node_id, void *userdata) {
        unsigned *calls = userdata;
        (*calls)++;
        /* "n-<i>": the even ones are connected. */
        return atoi(node_id + 2) % 2 == 0;
}

static bool in_use_all(const char *node_id, void *userdata) {
        return true;
}

START_TEST(test_full) {
        PinStore s;
        char id[32];
        unsigned calls = 0;

        ck_assert_int_eq(pin_store_load(&s, NULL), 0);
        for (unsigned i = 0; i < PIN_STORE_MAX; i++) {
                snprintf(id, sizeof id, "n-%u", i);
                ck_assert_int_eq(pin_store_set(&s, id, FP_A, NULL, NULL), 0);
        }
        ck_assert_uint_eq(s.n_pins, PIN_STORE_MAX);
        /* Every pinned node connected: no room. */
        ck_assert_int_eq(pin_store_set(&s, "new-0", FP_B, in_use_all, NULL), -ENOBUFS);
        ck_assert_ptr_null(pin_store_lookup(&s, "new-0"));
        /* Otherwise the oldest that is not connected goes: n-1 (n-0 is connected). */
        ck_assert_int_eq(pin_store_set(&s, "new-1", FP_B, in_use_even, &calls), 0);
        ck_assert_uint_gt(calls, 0);
        ck_assert_str_eq(pin_store_lookup(&s, "new-1"), FP_B);
        ck_assert_ptr_null(pin_store_lookup(&s, "n-1"));
        ck_assert_ptr_nonnull(pin_store_lookup(&s, "n-0"));
        ck_assert_ptr_nonnull(pin_store_lookup(&s, "n-3"));
        ck_assert_uint_eq(s.n_pins, PIN_STORE_MAX);
        ck_assert_int_eq(pin_store_set(&s, "new-2", FP_B, in_use_even, &calls), 0);
        ck_assert_ptr_null(pin_store_lookup(&s, "n-3"));
        pin_store_done(&s);
}
END_TEST

/* The file keeps the order (newest first), so the oldest is still known after a restart. */
START_TEST(test_order_kept) {
        char *dir = test_tmpdir(), *sd = state_dir(dir), *path = pins_path(dir), *text;
        PinStore s;

        ck_assert_int_eq(pin_store_load(&s, sd), 0);
        ck_assert_int_eq(pin_store_set(&s, "first", FP_A, NULL, NULL), 0);
        ck_assert_int_eq(pin_store_set(&s, "second", FP_B, NULL, NULL), 0);
        pin_store_done(&s);
        ck_assert_int_eq(pin_store_load(&s, sd), 0);
        ck_assert_str_eq(s.pins->node_id, "second");
        ck_assert_str_eq(s.pins->next->node_id, "first");
        ck_assert_int_eq(pin_store_set(&s, "third", FP_A, NULL, NULL), 0);
        pin_store_done(&s);
        text = test_read_file(path, NULL);
        ck_assert_ptr_nonnull(strstr(text, "third " FP_A "\nsecond " FP_B "\nfirst " FP_A "\n"));
        free(text);

        test_rm_rf(dir);
        free(dir);
        free(sd);
        free(path);
}
END_TEST

int main(void) {
        Suite *s = suite_create("nodelinkd pins");
        TCase *tc = tcase_create("pins");
        tcase_add_test(tc, test_persist);
        tcase_add_test(tc, test_bad_lines);
        tcase_add_test(tc, test_write_fails);
        tcase_add_test(tc, test_memory_only);
        tcase_add_test(tc, test_full);
        tcase_add_test(tc, test_order_kept);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
