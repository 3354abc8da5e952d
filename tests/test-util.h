/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared fixtures for the Check unit tests. */

#include <check.h>

/* A fresh directory on tmpfs (/dev/shm) for tokens and files; removed by test_rm_rf. */
char *test_tmpdir(void);
void test_rm_rf(const char *path);

/* Writes <dir>/softhsm2.conf with tokens in <dir>/tokens and exports SOFTHSM2_CONF. Returns
 * the library path of SoftHSM2 (AOS_TEST_SOFTHSM_LIB or the Debian default). */
const char *test_softhsm_setup(const char *dir);

/* Directory with the test PKI made by tests/pki/make-pki.sh at build time ($AOS_TEST_PKI). */
const char *test_pki_dir(void);
/* <pki dir>/<name>, caller frees. */
char *test_pki_path(const char *name);

/* Reads a whole file into a NUL-terminated buffer (ck_abort on failure). */
char *test_read_file(const char *path, size_t *ret_size);

/* Runs the suite (CK_NORMAL), returns the process exit code. */
int test_run_suite(Suite *s);
