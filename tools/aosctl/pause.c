/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl pause [--node ID]: takes a provisioned node out of service (PauseNode). */

#include "aosctl.h"
#include "macro.h"

int verb_pause(AosctlContext *ctx, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *node = NULL;
        int r;

        r = aosctl_parse_node_option(ctx, argc, argv, &node);
        if (r != AOSCTL_PARSE_GO_ON)
                return r;
        r = aosctl_call(ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "PauseNode", AOSCTL_TIMEOUT_USEC, false, &error, NULL, "s",
                        strempty(node));
        if (r < 0)
                return aosctl_bus_error("pause: PauseNode", &error, r);
        printf("Node %s is paused.\n", node ?: "(this node)");
        return AOSCTL_EXIT_SUCCESS;
}
