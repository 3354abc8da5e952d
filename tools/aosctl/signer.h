/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* How `provision` and `renew` get a CSR signed: by the local CA (--ca-cert and --ca-key) or by
 * a command (--sign-command). The options and their checks live here, once for both commands. */

#include <stdbool.h>

#include "aosctl.h"
#include "local-ca.h"

typedef struct Signer {
        const char *ca_cert;
        const char *ca_key;
        const char *command;
        unsigned days;
        bool days_set;
        LocalCa ca;
} Signer;

#define SIGNER_OPTIONS                                                          \
        { "ca-cert", required_argument, NULL, ARG_CA_CERT },                    \
        { "ca-key", required_argument, NULL, ARG_CA_KEY },                      \
        { "sign-command", required_argument, NULL, ARG_SIGN_COMMAND },          \
        { "days", required_argument, NULL, ARG_DAYS }

void signer_done(Signer *s);
/* Takes a SIGNER_OPTIONS option: returns 1 if it was one, 0 if not, or an exit code (< 0:
 * -AOSCTL_EXIT_USAGE) for a malformed value. */
int signer_option(AosctlContext *ctx, Signer *s, int c, const char *arg);
/* Checks the combination and loads the CA; prints what is wrong and returns an exit code, or 0. */
int signer_setup(AosctlContext *ctx, Signer *s);
/* "local CA CN=..." or "sign command", for the progress lines. */
const char *signer_describe(const Signer *s);
/* Signs csr for type on node_id; prints what went wrong (naming the type) and returns an exit
 * code, or 0. */
int signer_sign(AosctlContext *ctx, Signer *s, const char *type, const char *node_id, const char *csr_pem,
                char **ret_chain_pem);
