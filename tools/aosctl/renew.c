/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl renew [--node ID] TYPE... --ca-cert FILE --ca-key FILE | --sign-command CMD: a new
 * key and certificate for each type on a provisioned node (CreateKey, sign, ApplyCert); the
 * daemon keeps the previous certificate up to MaxItems. */

#include "aosctl.h"
#include "issue.h"
#include "macro.h"
#include "password-input.h"
#include "signer.h"

int verb_renew(AosctlContext *ctx, int argc, char *argv[]) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                SIGNER_OPTIONS,
                { "node", required_argument, NULL, ARG_NODE },
                { "password-file", required_argument, NULL, ARG_PASSWORD_FILE },
                { "subject", required_argument, NULL, ARG_SUBJECT },
                {}
        };
        _cleanup_(signer_done) Signer signer = {};
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_password_ char *password = NULL;
        _cleanup_free_ char *node_id = NULL;
        _cleanup_free_ CertView *certs = NULL;
        const char *node = NULL, *password_file = NULL, *subject = NULL;
        Progress p = { .ctx = ctx };
        size_t n_types, n_certs = 0;
        int c, r, ret = AOSCTL_EXIT_SUCCESS;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = signer_option(ctx, &signer, c, optarg);
                if (r < 0)
                        return -r;
                if (r > 0)
                        continue;
                switch (c) {
                case ARG_NODE:
                        if (isempty(optarg))
                                return aosctl_usage_error(ctx, "--node needs a node id");
                        node = optarg;
                        break;
                case ARG_PASSWORD_FILE:
                        password_file = optarg;
                        break;
                case ARG_SUBJECT:
                        if (isempty(optarg))
                                return aosctl_usage_error(ctx, "--subject needs a name");
                        subject = optarg;
                        break;
                default:
                        if (aosctl_common_option(ctx, c, &r))
                                return r;
                }
        }
        n_types = (size_t) (argc - optind);
        if (n_types == 0)
                return aosctl_usage_error(ctx, "names no certificate type to renew");
        for (int i = optind; i < argc; i++)
                if (isempty(argv[i]))
                        return aosctl_usage_error(ctx, "a certificate type is empty");
        r = signer_setup(ctx, &signer);
        if (r != 0)
                return r;

        r = aosctl_resolve_node_id(ctx, node, &node_id, &error);
        if (r < 0)
                return aosctl_bus_error("renew: reading NodeId", &error, r);
        r = password_input_read(ctx->verb, password_file, false, &password);
        if (r != 0)
                return r;

        certs = calloc(n_types, sizeof(CertView));
        if (!certs)
                return aosctl_fail(ctx, "out of memory");
        p.out = ctx->json ? stderr : stdout;
        p.total = 3 * (unsigned) n_types;
        for (int i = optind; i < argc; i++) {
                ret = issue_certificate(&p, &signer, strempty(node), node_id, argv[i], subject ?: node_id, password,
                                        &certs[n_certs]);
                if (ret != 0)
                        break;
                n_certs++;
        }
        if (ret == 0 && ctx->json)
                issue_print_json(node_id, certs, n_certs);
        for (size_t i = 0; i < n_certs; i++)
                cert_view_done(&certs[i]);
        return ret;
}
