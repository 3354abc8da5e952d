/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl apply-cert [--node ID] TYPE FILE: applies a PEM chain (leaf first) to the key
 * CreateKey made for TYPE (Provisioning1 ApplyCert); prints the certificate info. */

#include "aosctl.h"
#include "fs.h"
#include "macro.h"
#include "x509.h"

int verb_apply_cert(AosctlContext *ctx, int argc, char *argv[]) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                { "node", required_argument, NULL, ARG_NODE },
                {}
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(cert_view_done) CertView info = {};
        _cleanup_free_ char *chain = NULL;
        const char *node = NULL, *type, *file;
        size_t size;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_NODE:
                        if (isempty(optarg))
                                return aosctl_usage_error(ctx, "--node needs a node id");
                        node = optarg;
                        break;
                default:
                        if (aosctl_common_option(ctx, c, &r))
                                return r;
                }
        if (argc - optind != 2)
                return aosctl_usage_error(ctx, "takes a certificate type and a chain file");
        type = argv[optind];
        file = argv[optind + 1];
        if (isempty(type))
                return aosctl_usage_error(ctx, "the certificate type is empty");

        r = read_file_full(streq(file, "-") ? "/dev/stdin" : file, X509_PEM_MAX, &chain, &size);
        if (r == -EFBIG)
                return aosctl_usage_error(ctx, "%s is larger than %d bytes", file, X509_PEM_MAX);
        if (r < 0)
                return aosctl_usage_error(ctx, "cannot read %s: %s", file, strerror(-r));
        if (memchr(chain, 0, size))
                return aosctl_usage_error(ctx, "%s is not a PEM file (it contains NUL bytes)", file);

        r = aosctl_call(ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "ApplyCert", AOSCTL_TIMEOUT_USEC, false, &error, &reply,
                        "sss", strempty(node), type, chain);
        if (r < 0)
                return aosctl_bus_error("apply-cert: ApplyCert", &error, r);
        r = cert_view_read(reply, &info);
        if (r < 0)
                return aosctl_bus_error("apply-cert: ApplyCert", NULL, r);

        if (ctx->json) {
                cert_view_print_json(stdout, &info);
                putchar('\n');
        } else
                cert_view_print_text(stdout, &info, 0);
        return AOSCTL_EXIT_SUCCESS;
}
