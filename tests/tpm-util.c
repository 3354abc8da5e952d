/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "macro.h"
#include "tpm-util.h"

bool test_swtpm_available(void) {
        return system("command -v swtpm >/dev/null 2>&1") == 0;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

void test_swtpm_start(TestSwtpm *s, const char *dir) {
        _cleanup_free_ char *state = NULL, *sock = NULL, *ctrl = NULL, *server = NULL, *ctrl_arg = NULL,
                            *state_arg = NULL, *log = NULL;

        if (!s->dir) {
                s->dir = strdup(dir);
                ck_assert_ptr_nonnull(s->dir);
        }
        ck_assert_int_ge(asprintf(&state, "%s/tpm", s->dir), 0);
        ck_assert_int_ge(asprintf(&sock, "%s/tpm.sock", s->dir), 0);
        ck_assert_int_ge(asprintf(&ctrl, "%s/tpm.sock.ctrl", s->dir), 0);
        ck_assert_int_ge(asprintf(&server, "type=unixio,path=%s", sock), 0);
        ck_assert_int_ge(asprintf(&ctrl_arg, "type=unixio,path=%s", ctrl), 0);
        ck_assert_int_ge(asprintf(&state_arg, "dir=%s", state), 0);
        ck_assert_int_ge(asprintf(&log, "%s/swtpm.log", s->dir), 0);
        if (!s->tcti)
                ck_assert_int_ge(asprintf(&s->tcti, "swtpm:path=%s", sock), 0);
        ck_assert(mkdir(state, 0700) == 0 || errno == EEXIST);
        (void) unlink(sock);

        pid_t parent = getpid();
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(1);
                /* swtpm says "Data client disconnected" after every connection. */
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        (void) dup2(fd, STDOUT_FILENO);
                        (void) dup2(fd, STDERR_FILENO);
                }
                execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl_arg, "--tpmstate",
                       state_arg, "--flags", "not-need-init,startup-clear", (char *) NULL);
                _exit(127);
        }
        s->pid = pid;

        /* The socket appears within milliseconds; then one command proves it answers. */
        for (unsigned i = 0; i < 500 && access(sock, F_OK) < 0; i++)
                sleep_ms(10);
        ck_assert_msg(access(sock, F_OK) == 0, "swtpm did not start");
        Tpm2Connection c = {};
        test_tpm_connect(s, &c);
        tpm2_disconnect(&c);
}

void test_swtpm_stop(TestSwtpm *s) {
        if (s->pid <= 0)
                return;
        (void) kill(s->pid, SIGTERM);
        (void) waitpid(s->pid, NULL, 0);
        s->pid = 0;
}

void test_swtpm_done(TestSwtpm *s) {
        test_swtpm_stop(s);
        free(s->dir);
        free(s->tcti);
        *s = (TestSwtpm) {};
}

void test_tpm_connect(const TestSwtpm *s, Tpm2Connection *ret) {
        ck_assert_int_eq(tpm2_connect(s->tcti, ret), 0);
}

static TPM2B_AUTH auth_of(const char *password) {
        TPM2B_AUTH a = { .size = (UINT16) strlen(password) };
        memcpy(a.buffer, password, a.size);
        return a;
}

void test_tpm_change_owner_auth(const TestSwtpm *s, const char *old_password, const char *new_password) {
        Tpm2Connection c = {};
        TPM2B_AUTH old_auth = auth_of(old_password), new_auth = auth_of(new_password);

        test_tpm_connect(s, &c);
        ck_assert_int_eq(Esys_TR_SetAuth(c.esys, ESYS_TR_RH_OWNER, &old_auth), TSS2_RC_SUCCESS);
        ck_assert_int_eq(Esys_HierarchyChangeAuth(c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                                  ESYS_TR_NONE, &new_auth), TSS2_RC_SUCCESS);
        tpm2_disconnect(&c);
}

void test_tpm_evict(const TestSwtpm *s, const char *owner_password, uint32_t handle) {
        Tpm2Connection c = {};
        TPM2B_AUTH auth = auth_of(owner_password);
        ESYS_TR tr, out = ESYS_TR_NONE;

        test_tpm_connect(s, &c);
        ck_assert_int_eq(Esys_TR_SetAuth(c.esys, ESYS_TR_RH_OWNER, &auth), TSS2_RC_SUCCESS);
        ck_assert_int_eq(Esys_TR_FromTPMPublic(c.esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr),
                         TSS2_RC_SUCCESS);
        ck_assert_int_eq(Esys_EvictControl(c.esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                           handle, &out), TSS2_RC_SUCCESS);
        tpm2_disconnect(&c);
}

static void persist_primary(const TestSwtpm *s, const char *owner_password, const TPM2B_PUBLIC *template,
                            uint32_t handle) {
        Tpm2Connection c = {};
        TPM2B_AUTH auth = auth_of(owner_password);
        TPM2B_SENSITIVE_CREATE sensitive = {};
        TPML_PCR_SELECTION pcrs = {};
        ESYS_TR primary, out = ESYS_TR_NONE;

        test_tpm_connect(s, &c);
        ck_assert_int_eq(Esys_TR_SetAuth(c.esys, ESYS_TR_RH_OWNER, &auth), TSS2_RC_SUCCESS);
        ck_assert_int_eq(Esys_CreatePrimary(c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                            &sensitive, template, NULL, &pcrs, &primary, NULL, NULL, NULL, NULL),
                         TSS2_RC_SUCCESS);
        TSS2_RC rc = Esys_EvictControl(c.esys, ESYS_TR_RH_OWNER, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                       ESYS_TR_NONE, handle, &out);
        (void) Esys_FlushContext(c.esys, primary);
        ck_assert_int_eq(rc, TSS2_RC_SUCCESS);
        tpm2_disconnect(&c);
}

void test_tpm_persist_foreign(const TestSwtpm *s, const char *owner_password, uint32_t handle) {
        TPM2B_PUBLIC t = {
                .publicArea = {
                        .type = TPM2_ALG_ECC,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                            TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                            TPMA_OBJECT_SIGN_ENCRYPT,
                        .parameters.eccDetail = {
                                .symmetric = { .algorithm = TPM2_ALG_NULL },
                                .scheme = { .scheme = TPM2_ALG_ECDSA, .details.ecdsa.hashAlg = TPM2_ALG_SHA256 },
                                .curveID = TPM2_ECC_NIST_P256,
                                .kdf = { .scheme = TPM2_ALG_NULL },
                        },
                },
        };
        /* A different unique each time, so that two foreign objects are two keys. */
        t.publicArea.unique.ecc.x.size = 8;
        ck_assert_int_eq(random_bytes(t.publicArea.unique.ecc.x.buffer, 8), 0);
        persist_primary(s, owner_password, &t, handle);
}

static TPM2B_PUBLIC key_template(bool rsa) {
        TPM2B_PUBLIC t = {
                .publicArea = {
                        .type = rsa ? TPM2_ALG_RSA : TPM2_ALG_ECC,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                            TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                            TPMA_OBJECT_NODA | TPMA_OBJECT_SIGN_ENCRYPT,
                },
        };
        if (rsa)
                t.publicArea.parameters.rsaDetail = (TPMS_RSA_PARMS) {
                        .symmetric = { .algorithm = TPM2_ALG_NULL },
                        .scheme = { .scheme = TPM2_ALG_NULL },
                        .keyBits = 2048,
                };
        else
                t.publicArea.parameters.eccDetail = (TPMS_ECC_PARMS) {
                        .symmetric = { .algorithm = TPM2_ALG_NULL },
                        .scheme = { .scheme = TPM2_ALG_NULL },
                        .curveID = TPM2_ECC_NIST_P384,
                        .kdf = { .scheme = TPM2_ALG_NULL },
                };
        return t;
}

void test_tpm_persist_key(const TestSwtpm *s, const char *owner_password, bool rsa, uint32_t handle) {
        TPM2B_PUBLIC t = key_template(rsa);

        /* A primary is derived from its template: random bytes in unique make each a new key. */
        if (rsa) {
                t.publicArea.unique.rsa.size = 8;
                ck_assert_int_eq(random_bytes(t.publicArea.unique.rsa.buffer, 8), 0);
        } else {
                t.publicArea.unique.ecc.x.size = 8;
                ck_assert_int_eq(random_bytes(t.publicArea.unique.ecc.x.buffer, 8), 0);
        }
        persist_primary(s, owner_password, &t, handle);
}

bool test_tpm_handle_exists(const TestSwtpm *s, uint32_t handle) {
        Tpm2Connection c = {};
        test_tpm_connect(s, &c);
        int r = tpm2_persistent_exists(&c, handle);
        tpm2_disconnect(&c);
        ck_assert_int_ge(r, 0);
        return r > 0;
}

uint64_t test_tpm_time_create(const TestSwtpm *s, uint32_t parent, const char *parent_auth, bool rsa) {
        Tpm2Connection c = {};
        TPM2B_PUBLIC t = key_template(rsa);
        TPM2B_AUTH auth = auth_of(parent_auth);
        TPM2B_PRIVATE *priv = NULL;
        TPM2B_PUBLIC *pub = NULL;
        struct timespec a, b;
        ESYS_TR tr;

        test_tpm_connect(s, &c);
        ck_assert_int_eq(Esys_TR_FromTPMPublic(c.esys, parent, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr), 0);
        ck_assert_int_eq(Esys_TR_SetAuth(c.esys, tr, &auth), 0);
        clock_gettime(CLOCK_MONOTONIC, &a);
        ck_assert_int_eq(Esys_Create(c.esys, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                     &(TPM2B_SENSITIVE_CREATE) {}, &t, NULL, &(TPML_PCR_SELECTION) {}, &priv, &pub,
                                     NULL, NULL, NULL), TSS2_RC_SUCCESS);
        clock_gettime(CLOCK_MONOTONIC, &b);
        Esys_Free(priv);
        Esys_Free(pub);
        tpm2_disconnect(&c);
        return (uint64_t) ((int64_t) (b.tv_sec - a.tv_sec) * 1000000 + ((int64_t) b.tv_nsec - a.tv_nsec) / 1000);
}
