/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl deprovision [--node ID] [--password-file FILE]: removes the node's identity
 * (Deprovision: hook, every module cleared, state unprovisioned). */

#include "aosctl.h"
#include "macro.h"
#include "password-input.h"

int verb_deprovision(AosctlContext *ctx, int argc, char *argv[]) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                { "node", required_argument, NULL, ARG_NODE },
                { "password-file", required_argument, NULL, ARG_PASSWORD_FILE },
                {}
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_password_ char *password = NULL;
        const char *node = NULL, *password_file = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_NODE:
                        if (isempty(optarg))
                                return aosctl_usage_error(ctx, "--node needs a node id");
                        node = optarg;
                        break;
                case ARG_PASSWORD_FILE:
                        password_file = optarg;
                        break;
                default:
                        if (aosctl_common_option(ctx, c, &r))
                                return r;
                }
        if (optind < argc)
                return aosctl_usage_error(ctx, "takes no arguments");

        r = password_input_read(ctx->verb, password_file, false, &password);
        if (r != 0)
                return r;
        r = aosctl_call(ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "Deprovision", AOSCTL_TIMEOUT_LONG_USEC, true, &error, NULL,
                        "ss", strempty(node), password);
        if (r < 0)
                return aosctl_bus_error("deprovision: Deprovision", &error, r);
        printf("Node %s is deprovisioned.\n", node ?: "(this node)");
        return AOSCTL_EXIT_SUCCESS;
}
