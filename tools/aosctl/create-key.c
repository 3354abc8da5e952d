/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl create-key [--node ID] TYPE [--subject CN] [-o FILE]: a new key of TYPE made in the
 * node's key storage (Provisioning1 CreateKey, password checked), its CSR printed. */

#include <fcntl.h>

#include "aosctl.h"
#include "macro.h"
#include "password-input.h"

static int write_csr(AosctlContext *ctx, const char *path, const char *csr) {
        _cleanup_close_ int fd = -EBADF;
        size_t left = strlen(csr);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return aosctl_fail(ctx, "cannot open %s: %m", path);
        while (left > 0) {
                ssize_t k = write(fd, csr, left);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return aosctl_fail(ctx, "cannot write %s: %m", path);
                }
                csr += k;
                left -= (size_t) k;
        }
        if (close(TAKE_FD(fd)) < 0)
                return aosctl_fail(ctx, "cannot write %s: %m", path);
        return AOSCTL_EXIT_SUCCESS;
}

int verb_create_key(AosctlContext *ctx, int argc, char *argv[]) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                { "node", required_argument, NULL, ARG_NODE },
                { "password-file", required_argument, NULL, ARG_PASSWORD_FILE },
                { "subject", required_argument, NULL, ARG_SUBJECT },
                { "output", required_argument, NULL, 'o' },
                {}
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_password_ char *password = NULL;
        _cleanup_free_ char *node_id = NULL;
        const char *node = NULL, *password_file = NULL, *subject = NULL, *output = NULL, *type, *csr;
        int c, r;

        while ((c = getopt_long(argc, argv, "ho:", options, NULL)) >= 0)
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
                case 'o':
                        if (isempty(optarg))
                                return aosctl_usage_error(ctx, "--output needs a file name");
                        output = optarg;
                        break;
                default:
                        if (aosctl_common_option(ctx, c, &r))
                                return r;
                }
        if (argc - optind != 1)
                return aosctl_usage_error(ctx, "takes one certificate type");
        type = argv[optind];
        if (isempty(type))
                return aosctl_usage_error(ctx, "the certificate type is empty");

        if (!subject) {
                r = aosctl_resolve_node_id(ctx, node, &node_id, &error);
                if (r < 0)
                        return aosctl_bus_error("create-key: reading NodeId", &error, r);
                subject = node_id;
        }

        r = password_input_read(ctx->verb, password_file, false, &password);
        if (r != 0)
                return r;
        r = aosctl_call(ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "CreateKey", AOSCTL_TIMEOUT_USEC, true, &error, &reply,
                        "ssss", strempty(node), type, subject, password);
        if (r < 0)
                return aosctl_bus_error("create-key: CreateKey", &error, r);
        r = sd_bus_message_read(reply, "s", &csr);
        if (r < 0)
                return aosctl_bus_error("create-key: CreateKey", NULL, r);

        if (output && !streq(output, "-")) {
                r = write_csr(ctx, output, csr);
                if (r != 0)
                        return r;
                if (!ctx->json)
                        fprintf(stderr, "CSR for %s written to %s.\n", type, output);
        }
        if (ctx->json) {
                printf("{\"type\":");
                json_print_string(stdout, type);
                printf(",\"subject\":");
                json_print_string(stdout, subject);
                printf(",\"csr\":");
                json_print_string(stdout, csr);
                printf("}\n");
        } else if (!output || streq(output, "-"))
                fputs(csr, stdout);
        return AOSCTL_EXIT_SUCCESS;
}
