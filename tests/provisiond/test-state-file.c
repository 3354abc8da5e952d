/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <sys/stat.h>

#include "fs.h"
#include "macro.h"
#include "state-file.h"
#include "test-util.h"

static char *dir;

static void setup(void) {
        dir = test_tmpdir();
}

static void teardown(void) {
        test_rm_rf(dir);
        free(dir);
        dir = NULL;
}

static char *path_in(const char *name) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

static void write_raw(const char *path, const void *data, size_t size) {
        FILE *f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, size, f), size);
        fclose(f);
}

/* Loads path; returns the state, *ret_detail set (or NULL). */
static NodeState load(const char *path, char **ret_detail) {
        NodeState s = _NODE_STATE_MAX;
        char *detail = (char *) 1;
        ck_assert_int_eq(state_file_load(path, &s, &detail), 0);
        ck_assert_int_lt(s, _NODE_STATE_MAX);
        ck_assert(s == NODE_STATE_ERROR ? detail != NULL : detail == NULL);
        if (ret_detail)
                *ret_detail = detail;
        else
                free(detail);
        return s;
}

static unsigned count_entries(const char *d) {
        DIR *h = opendir(d);
        ck_assert_ptr_nonnull(h);
        unsigned n = 0;
        struct dirent *de;
        while ((de = readdir(h)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(h);
        return n;
}

START_TEST(test_state_names) {
        ck_assert_str_eq(node_state_to_string(NODE_STATE_UNPROVISIONED), "unprovisioned");
        ck_assert_str_eq(node_state_to_string(NODE_STATE_PROVISIONED), "provisioned");
        ck_assert_str_eq(node_state_to_string(NODE_STATE_PAUSED), "paused");
        ck_assert_str_eq(node_state_to_string(NODE_STATE_ERROR), "error");
        ck_assert_ptr_null(node_state_to_string(_NODE_STATE_MAX));

        ck_assert_int_eq(node_state_from_string("unprovisioned"), NODE_STATE_UNPROVISIONED);
        ck_assert_int_eq(node_state_from_string("provisioned"), NODE_STATE_PROVISIONED);
        ck_assert_int_eq(node_state_from_string("paused"), NODE_STATE_PAUSED);
        /* "error" is never stored: it is what an unreadable file means. */
        ck_assert_int_eq(node_state_from_string("error"), -EINVAL);
        ck_assert_int_eq(node_state_from_string("Provisioned"), -EINVAL);
        ck_assert_int_eq(node_state_from_string(""), -EINVAL);
        ck_assert_int_eq(node_state_from_string(NULL), -EINVAL);
}
END_TEST

START_TEST(test_missing_is_unprovisioned) {
        _cleanup_free_ char *p = path_in("provisioning.state");
        ck_assert_int_eq(load(p, NULL), NODE_STATE_UNPROVISIONED);

        _cleanup_free_ char *q = path_in("no/such/dir/provisioning.state");
        ck_assert_int_eq(load(q, NULL), NODE_STATE_UNPROVISIONED);
}
END_TEST

START_TEST(test_each_state) {
        _cleanup_free_ char *p = path_in("provisioning.state");

        write_raw(p, "provisioned\n", 12);
        ck_assert_int_eq(load(p, NULL), NODE_STATE_PROVISIONED);
        write_raw(p, "paused\n", 7);
        ck_assert_int_eq(load(p, NULL), NODE_STATE_PAUSED);
        write_raw(p, "unprovisioned\n", 14);
        ck_assert_int_eq(load(p, NULL), NODE_STATE_UNPROVISIONED);
        /* The final newline may be missing (written by hand). */
        write_raw(p, "paused", 6);
        ck_assert_int_eq(load(p, NULL), NODE_STATE_PAUSED);
}
END_TEST

START_TEST(test_garbage_is_error) {
        _cleanup_free_ char *p = path_in("provisioning.state");
        static const struct {
                const char *content;
                size_t size;
                const char *in_detail;
        } cases[] = {
                { "hello\n", 6, "holds \"hello\\x0a\", not one of unprovisioned, provisioned, paused" },
                { "", 0, "is empty" },
                { "\n", 1, "holds \"\\x0a\"" },
                { "error\n", 6, "holds \"error\\x0a\"" },
                { "PROVISIONED\n", 12, "\"PROVISIONED\\x0a\"" },
                { " provisioned\n", 13, "\" provisioned\\x0a\"" },
                { "provisioned\n\n", 13, "\"provisioned\\x0a\\x0a\"" },
                { "provisioned\r\n", 13, "\"provisioned\\x0d\\x0a\"" },
                { "provisioned\npaused\n", 19, "holds \"provisioned\\x0apaused\\x0a\"" },
                { "provisioned\0\n", 13, "\"provisioned\\x00\\x0a\"" },
                { "\xff\xfe\x80garbage", 10, "\"\\xff\\xfe\\x80garbage\"" },
                { "a much longer line than a state word would ever be\n", 51,
                  "\"a much longer line than a state ...\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *detail = NULL;
                write_raw(p, cases[i].content, cases[i].size);
                ck_assert_int_eq(load(p, &detail), NODE_STATE_ERROR);
                ck_assert_msg(strstr(detail, p), "case %zu: the detail does not name the file: %s", i, detail);
                ck_assert_msg(strstr(detail, cases[i].in_detail), "case %zu: unexpected detail: %s", i, detail);
                /* Printable ASCII only: it goes into a D-Bus string and the journal. */
                for (const char *c = detail; *c; c++)
                        ck_assert_msg((unsigned char) *c >= 0x20 && (unsigned char) *c < 0x7f,
                                      "case %zu: unprintable detail", i);
                free(detail);
        }
}
END_TEST

START_TEST(test_too_large_is_error) {
        _cleanup_free_ char *p = path_in("provisioning.state");
        size_t size = STATE_FILE_MAX + 1;
        char *big = malloc(size);
        ck_assert_ptr_nonnull(big);
        memset(big, 'p', size);
        write_raw(p, big, size);
        free(big);

        char *detail = NULL;
        ck_assert_int_eq(load(p, &detail), NODE_STATE_ERROR);
        ck_assert_ptr_nonnull(strstr(detail, "larger than 4096 bytes"));
        free(detail);
}
END_TEST

START_TEST(test_unreadable_is_error) {
        _cleanup_free_ char *p = path_in("provisioning.state");
        char *detail = NULL;

        /* A directory where the file should be. */
        ck_assert_int_eq(mkdir(p, 0755), 0);
        ck_assert_int_eq(load(p, &detail), NODE_STATE_ERROR);
        ck_assert_ptr_nonnull(strstr(detail, "cannot be read: Is a directory"));
        ck_assert_ptr_nonnull(strstr(detail, p));
        free(detail);
        ck_assert_int_eq(rmdir(p), 0);

        /* A path through a file. */
        _cleanup_free_ char *file = path_in("file");
        write_raw(file, "x", 1);
        _cleanup_free_ char *through = path_in("file/provisioning.state");
        ck_assert_int_eq(load(through, &detail), NODE_STATE_ERROR);
        ck_assert_ptr_nonnull(strstr(detail, "cannot be read: Not a directory"));
        free(detail);

        /* No permission (only as a user root is not: root reads anything). */
        if (geteuid() != 0) {
                write_raw(p, "provisioned\n", 12);
                ck_assert_int_eq(chmod(p, 0), 0);
                ck_assert_int_eq(load(p, &detail), NODE_STATE_ERROR);
                ck_assert_ptr_nonnull(strstr(detail, "Permission denied"));
                free(detail);
        }
}
END_TEST

START_TEST(test_save_and_load) {
        _cleanup_free_ char *p = path_in("provisioning.state");
        struct stat st;

        ck_assert_int_eq(state_file_save(p, NODE_STATE_PROVISIONED), 0);
        _cleanup_free_ char *c1 = test_read_file(p, NULL);
        ck_assert_str_eq(c1, "provisioned\n");
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0644);
        ck_assert_int_eq(load(p, NULL), NODE_STATE_PROVISIONED);

        ck_assert_int_eq(state_file_save(p, NODE_STATE_PAUSED), 0);
        _cleanup_free_ char *c2 = test_read_file(p, NULL);
        ck_assert_str_eq(c2, "paused\n");
        ck_assert_int_eq(load(p, NULL), NODE_STATE_PAUSED);

        /* Unprovisioned is no file; saving it twice is fine. */
        ck_assert_int_eq(state_file_save(p, NODE_STATE_UNPROVISIONED), 0);
        ck_assert_int_eq(stat(p, &st), -1);
        ck_assert_int_eq(errno, ENOENT);
        ck_assert_int_eq(state_file_save(p, NODE_STATE_UNPROVISIONED), 0);
        ck_assert_int_eq(load(p, NULL), NODE_STATE_UNPROVISIONED);

        /* The error state cannot be stored. */
        ck_assert_int_eq(state_file_save(p, NODE_STATE_ERROR), -EINVAL);
        ck_assert_int_eq(state_file_save(p, _NODE_STATE_MAX), -EINVAL);
        ck_assert_int_eq(state_file_save(NULL, NODE_STATE_PAUSED), -EINVAL);

        /* Garbage is replaced by a good state (after Deprovision, or by a repair). */
        write_raw(p, "garbage", 7);
        ck_assert_int_eq(state_file_save(p, NODE_STATE_PROVISIONED), 0);
        ck_assert_int_eq(load(p, NULL), NODE_STATE_PROVISIONED);
        ck_assert_int_eq(state_file_save(p, NODE_STATE_UNPROVISIONED), 0);
        ck_assert_int_eq(count_entries(dir), 0);
}
END_TEST

START_TEST(test_save_atomic) {
        _cleanup_free_ char *p = path_in("provisioning.state");

        /* No temp file is left beside it, whatever was there before. */
        for (int i = 0; i < 50; i++) {
                ck_assert_int_eq(state_file_save(p, i % 2 ? NODE_STATE_PAUSED : NODE_STATE_PROVISIONED), 0);
                ck_assert_uint_eq(count_entries(dir), 1);
        }
        ck_assert_int_eq(load(p, NULL), NODE_STATE_PAUSED);
        ck_assert_int_eq(state_file_save(p, NODE_STATE_PROVISIONED), 0);

        /* The old file is replaced by rename, not rewritten in place: a reader holding the old
         * one still sees it whole. */
        FILE *old = fopen(p, "re");
        ck_assert_ptr_nonnull(old);
        struct stat before, after;
        ck_assert_int_eq(fstat(fileno(old), &before), 0);
        ck_assert_int_eq(state_file_save(p, NODE_STATE_PAUSED), 0);
        ck_assert_int_eq(stat(p, &after), 0);
        ck_assert(before.st_ino != after.st_ino);
        char buf[32] = "";
        ck_assert_ptr_nonnull(fgets(buf, sizeof buf, old));
        ck_assert_str_eq(buf, "provisioned\n");
        fclose(old);
        ck_assert_int_eq(load(p, NULL), NODE_STATE_PAUSED);

        /* A missing directory is made; a write that cannot happen leaves the old state. */
        _cleanup_free_ char *deep = path_in("var/lib/aos/provisioning.state");
        ck_assert_int_eq(state_file_save(deep, NODE_STATE_PAUSED), 0);
        ck_assert_int_eq(load(deep, NULL), NODE_STATE_PAUSED);

        _cleanup_free_ char *file = path_in("file");
        write_raw(file, "x", 1);
        _cleanup_free_ char *bad = path_in("file/provisioning.state");
        ck_assert_int_lt(state_file_save(bad, NODE_STATE_PAUSED), 0);
}
END_TEST

static Suite *state_file_suite(void) {
        Suite *s = suite_create("state-file");
        TCase *tc = tcase_create("state");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_state_names);
        tcase_add_test(tc, test_missing_is_unprovisioned);
        tcase_add_test(tc, test_each_state);
        tcase_add_test(tc, test_garbage_is_error);
        tcase_add_test(tc, test_too_large_is_error);
        tcase_add_test(tc, test_unreadable_is_error);
        tcase_add_test(tc, test_save_and_load);
        tcase_add_test(tc, test_save_atomic);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(state_file_suite());
}
