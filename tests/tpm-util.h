/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A swtpm for the TPM unit tests, and the raw TPM operations tests need to set the scene
 * (someone else owning the TPM, evicting a key, parking a foreign object on a handle). Built
 * only with TPM support. */

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tpm2-key.h"

typedef struct TestSwtpm {
        pid_t pid;
        char *dir;   /* holds tpm/ (the state) and tpm.sock */
        char *tcti;  /* "swtpm:path=<dir>/tpm.sock" */
} TestSwtpm;

/* Whether swtpm is installed; a test program exits 77 (skipped) without it. */
bool test_swtpm_available(void);
/* Starts swtpm on a unix socket under dir, state in dir/tpm (kept across stop and start), and
 * waits until it answers. It dies with the test process (PR_SET_PDEATHSIG). */
void test_swtpm_start(TestSwtpm *s, const char *dir);
/* Stops it (SIGTERM, waits); the state stays. */
void test_swtpm_stop(TestSwtpm *s);
void test_swtpm_done(TestSwtpm *s);

/* Raw operations, authorized with the owner password owner_password ("" when not owned). */
void test_tpm_connect(const TestSwtpm *s, Tpm2Connection *ret);
/* HierarchyChangeAuth of the owner from old to new. */
void test_tpm_change_owner_auth(const TestSwtpm *s, const char *old_password, const char *new_password);
/* Evicts the persistent object at handle. */
void test_tpm_evict(const TestSwtpm *s, const char *owner_password, uint32_t handle);
/* Persists a fresh ECC P-256 signing primary (not aos-iam's) at handle. */
void test_tpm_persist_foreign(const TestSwtpm *s, const char *owner_password, uint32_t handle);
/* Persists a fresh key like the tpm backend's (ECDSA P-384 or RSA 2048, scheme NULL, sign only)
 * at handle, without any marker. */
void test_tpm_persist_key(const TestSwtpm *s, const char *owner_password, bool rsa, uint32_t handle);
bool test_tpm_handle_exists(const TestSwtpm *s, uint32_t handle);
/* Times one bare Esys_Create of a key like the backend's under the persistent parent (with
 * its auth value), in µs; the key is not loaded. */
uint64_t test_tpm_time_create(const TestSwtpm *s, uint32_t parent, const char *parent_auth, bool rsa);
