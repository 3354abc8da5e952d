/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "test-util.h"

char *test_tmpdir(void) {
        char t[] = "/dev/shm/aos-test-XXXXXX";
        char *d = mkdtemp(t);
        ck_assert_ptr_nonnull(d);
        return strdup(d);
}

void test_rm_rf(const char *path) {
        if (!path || !startswith(path, "/dev/shm/aos-test-"))
                return;
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
        (void) system(cmd);
}

const char *test_softhsm_setup(const char *dir) {
        char conf[512], tokens[512];
        snprintf(tokens, sizeof tokens, "%s/tokens", dir);
        snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tokens);
        ck_assert_int_eq(system(cmd), 0);
        FILE *f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens);
        fclose(f);
        setenv("SOFTHSM2_CONF", conf, 1);
        const char *lib = getenv("AOS_TEST_SOFTHSM_LIB");
        return lib ?: "/usr/lib/softhsm/libsofthsm2.so";
}

const char *test_pki_dir(void) {
        const char *d = getenv("AOS_TEST_PKI");
        ck_assert_msg(d, "AOS_TEST_PKI is not set (run through meson test)");
        return d;
}

char *test_pki_path(const char *name) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/%s", test_pki_dir(), name), 0);
        return p;
}

char *test_read_file(const char *path, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        ck_assert_msg(f, "cannot open %s", path);
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);
        char chunk[4096];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
                fwrite(chunk, 1, k, m);
        fclose(f);
        fclose(m);
        if (ret_size)
                *ret_size = size;
        return buf;
}

int test_run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
