/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tools/aosctl/sign-command.c: the command's input, environment, output and every way it can
 * fail, plus a real signing with certtool. */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "sign-command.h"
#include "test-util.h"
#include "x509.h"

static char *const EKU_BOTH[] = { (char *) "serverAuth", (char *) "clientAuth", NULL };
static const char CSR_STUB[] = "-----BEGIN CERTIFICATE REQUEST-----\nstub\n-----END CERTIFICATE REQUEST-----\n";

static char *tmpdir;

static void setup(void) {
        tmpdir = test_tmpdir();
}

static void teardown(void) {
        test_rm_rf(tmpdir);
        free(tmpdir);
        tmpdir = NULL;
}

_printf_(1, 2) static char *cmd(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
        va_end(ap);
        return s;
}

static void expect_error(const char *command, const char *input, int error, const char *needle) {
        _cleanup_free_ char *out = NULL, *reason = NULL;
        int r = sign_command_run(command, "iam", "node-1", input, &out, &reason);
        ck_assert_msg(r == error, "%s: expected %s, got %s (%s)", command, strerror(-error), strerror(-r), strna(reason));
        ck_assert_ptr_null(out);
        ck_assert_msg(reason && strstr(reason, needle), "reason \"%s\" lacks \"%s\"", strna(reason), needle);
        ck_assert_msg(strstr(reason, "type iam"), "reason \"%s\" does not name the type", reason);
}

START_TEST(test_output_and_environment) {
        _cleanup_free_ char *chain = test_pki_path("leaf-both-chain.pem");
        _cleanup_free_ char *expected = test_read_file(chain, NULL);
        _cleanup_free_ char *got_csr = cmd("%s/got.csr", tmpdir);
        _cleanup_free_ char *env = cmd("%s/env", tmpdir);
        _cleanup_free_ char *c = cmd("cat > '%s'; echo \"$AOS_CERT_TYPE $AOS_NODE_ID\" > '%s'; cat '%s'", got_csr, env, chain);
        _cleanup_free_ char *out = NULL, *reason = NULL;

        int r = sign_command_run(c, "online", "node-7", CSR_STUB, &out, &reason);
        ck_assert_msg(r == 0, "sign command: %s (%s)", strerror(-r), strna(reason));
        ck_assert_str_eq(out, expected);

        _cleanup_free_ char *csr = test_read_file(got_csr, NULL);
        ck_assert_str_eq(csr, CSR_STUB);
        _cleanup_free_ char *e = test_read_file(env, NULL);
        ck_assert_str_eq(e, "online node-7\n");
}
END_TEST

START_TEST(test_failures) {
        _cleanup_free_ char *chain = test_pki_path("leaf-both-chain.pem");
        _cleanup_free_ char *garbage = test_pki_path("garbage.pem");
        _cleanup_free_ char *fail_late = cmd("cat '%s'; exit 3", chain);
        _cleanup_free_ char *cat_garbage = cmd("cat '%s'", garbage);

        expect_error("exit 3", CSR_STUB, -EPROTO, "exited with status 3");
        expect_error(fail_late, CSR_STUB, -EPROTO, "exited with status 3");
        expect_error("true", CSR_STUB, -ENODATA, "printed no certificate");
        expect_error("printf '\\n  \\n'", CSR_STUB, -ENODATA, "printed no certificate");
        expect_error("echo hello", CSR_STUB, -EBADMSG, "no valid certificate chain");
        expect_error(cat_garbage, CSR_STUB, -EBADMSG, "no valid certificate chain");
        expect_error("printf 'a\\0b'", CSR_STUB, -EBADMSG, "binary");
        expect_error("kill -TERM $$", CSR_STUB, -EPROTO, "killed by signal 15");
        expect_error("/nonexistent/signer", CSR_STUB, -EPROTO, "status 127");
        expect_error("head -c 2000000 /dev/zero | tr '\\0' x", CSR_STUB, -E2BIG, "more than");
}
END_TEST

/* A command that exits without reading a large input must neither hang nor kill us (SIGPIPE). */
START_TEST(test_command_ignores_input) {
        _cleanup_free_ char *chain = test_pki_path("leaf-both-chain.pem");
        _cleanup_free_ char *c = cmd("exec cat '%s' <&-", chain);
        _cleanup_free_ char *big = malloc(1024 * 1024 + 1), *out = NULL, *reason = NULL;

        ck_assert_ptr_nonnull(big);
        memset(big, 'c', 1024 * 1024);
        big[1024 * 1024] = 0;
        int r = sign_command_run(c, "iam", "n", big, &out, &reason);
        ck_assert_msg(r == 0, "%s (%s)", strerror(-r), strna(reason));
        ck_assert_ptr_nonnull(strstr(out, "BEGIN CERTIFICATE"));
        /* And SIGPIPE is back to what it was. */
        struct sigaction sa;
        ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
        ck_assert_ptr_eq(sa.sa_handler, SIG_DFL);
}
END_TEST

/* The hook as the integration tests and a factory use it: certtool signing with the
 * intermediate CA; the chain verifies against the root. */
START_TEST(test_certtool_signs) {
        _cleanup_free_ char *inter = test_pki_path("intermediate.pem"), *inter_key = test_pki_path("intermediate.key");
        _cleanup_free_ char *tmpl = cmd("%s/sign.tmpl", tmpdir), *roots_path = test_pki_path("ca.pem");
        _cleanup_free_ char *csr = NULL, *out = NULL, *reason = NULL;
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_(x509_chain_done) X509Chain chain = {}, roots = {};

        FILE *f = fopen(tmpl, "we");
        ck_assert_ptr_nonnull(f);
        fputs("honor_crq_extensions\nexpiration_days = 10\nsigning_key\n", f);
        fclose(f);
        _cleanup_free_ char *c = cmd("certtool --generate-certificate --load-request /dev/stdin --load-ca-certificate '%s' "
                                     "--load-ca-privkey '%s' --template '%s' --no-text 2>/dev/null && cat '%s'",
                                     inter, inter_key, tmpl, inter);

        ck_assert_int_ge(gnutls_privkey_init(&key), 0);
        ck_assert_int_ge(gnutls_privkey_generate2(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0,
                                                  NULL, 0),
                         0);
        ck_assert_int_eq(x509_make_csr(key, "node-9", EKU_BOTH, NULL, &csr), 0);

        int r = sign_command_run(c, "iam", "node-9", csr, &out, &reason);
        ck_assert_msg(r == 0, "certtool: %s (%s)", strerror(-r), strna(reason));
        free(reason);
        reason = NULL;
        ck_assert_int_eq(x509_chain_from_pem(out, strlen(out), &chain, &reason), 0);
        ck_assert_uint_eq(chain.n, 2);
        ck_assert_int_eq(x509_chain_load_file(roots_path, &roots, &reason), 0);
        r = x509_chain_verify(&chain, &roots, (uint64_t) time(NULL) * USEC_PER_SEC, EKU_BOTH, &reason);
        ck_assert_msg(r == 0, "chain: %s", strna(reason));
}
END_TEST

static Suite *sign_command_suite(void) {
        Suite *s = suite_create("sign-command");
        TCase *tc = tcase_create("sign-command");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_output_and_environment);
        tcase_add_test(tc, test_failures);
        tcase_add_test(tc, test_command_ignores_input);
        tcase_add_test(tc, test_certtool_signs);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(sign_command_suite());
}
