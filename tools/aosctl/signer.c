/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --ca-cert/--ca-key/--sign-command/--days for `provision` and `renew`: see signer.h. */

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "sign-command.h"
#include "signer.h"

void signer_done(Signer *s) {
        local_ca_done(&s->ca);
}

int signer_option(AosctlContext *ctx, Signer *s, int c, const char *arg) {
        switch (c) {
        case ARG_CA_CERT:
                s->ca_cert = arg;
                return 1;
        case ARG_CA_KEY:
                s->ca_key = arg;
                return 1;
        case ARG_SIGN_COMMAND:
                if (isempty(arg))
                        return -aosctl_usage_error(ctx, "--sign-command needs a command");
                s->command = arg;
                return 1;
        case ARG_DAYS: {
                char *end;
                unsigned long d;

                errno = 0;
                d = strtoul(arg, &end, 10);
                if (errno != 0 || end == arg || *end || arg[0] == '-' || d == 0 || d > LOCAL_CA_DAYS_MAX)
                        return -aosctl_usage_error(ctx, "--days takes a number of days from 1 to %u, not '%s'",
                                                   LOCAL_CA_DAYS_MAX, arg);
                s->days = (unsigned) d;
                s->days_set = true;
                return 1;
        }
        default:
                return 0;
        }
}

int signer_setup(AosctlContext *ctx, Signer *s) {
        _cleanup_free_ char *reason = NULL;
        struct stat st;
        int r;

        if (s->command && (s->ca_key || s->ca_cert))
                return aosctl_usage_error(ctx, "--sign-command and --ca-cert/--ca-key exclude each other");
        if (s->command) {
                if (s->days_set)
                        return aosctl_usage_error(ctx, "--days applies to --ca-key only; the sign command decides the validity");
                return 0;
        }
        if (!s->ca_key || !s->ca_cert)
                return aosctl_usage_error(ctx, "needs --ca-cert FILE and --ca-key FILE, or --sign-command CMD");
        if (!s->days_set)
                s->days = LOCAL_CA_DAYS_DEFAULT;

        /* Key hygiene: say so when the CA's key could be read by others. */
        if (stat(s->ca_key, &st) >= 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)))
                fprintf(stderr, "aosctl %s: warning: CA key %s is readable by %s (mode %04o)\n", ctx->verb, s->ca_key,
                        (st.st_mode & S_IROTH) ? "everyone" : "its group", (unsigned) (st.st_mode & 07777));

        r = local_ca_load(s->ca_cert, s->ca_key, &s->ca, &reason);
        if (r == -ENOMEM)
                return aosctl_fail(ctx, "out of memory");
        if (r < 0)
                return aosctl_usage_error(ctx, "%s", reason ?: strerror(-r));
        return 0;
}

const char *signer_describe(const Signer *s) {
        return s->command ? "sign command" : "local CA";
}

int signer_sign(AosctlContext *ctx, Signer *s, const char *type, const char *node_id, const char *csr_pem,
                char **ret_chain_pem) {
        _cleanup_free_ char *reason = NULL;
        int r;

        if (s->command)
                r = sign_command_run(s->command, type, node_id, csr_pem, ret_chain_pem, &reason);
        else
                r = local_ca_sign(&s->ca, csr_pem, s->days, ret_chain_pem, &reason);
        if (r == -ENOMEM)
                return aosctl_fail(ctx, "out of memory");
        if (r < 0) {
                if (s->command)
                        return aosctl_fail(ctx, "%s", reason ?: strerror(-r));
                return aosctl_fail(ctx, "signing the CSR for type %s: %s", type, reason ?: strerror(-r));
        }
        return 0;
}
