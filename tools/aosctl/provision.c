/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl provision: the whole workflow against one node, with a local CA or a sign command:
 * GetCertTypes → StartProvisioning → for every type CreateKey, sign, ApplyCert →
 * FinishProvisioning. Each step is printed as it goes; the first failure stops it. */

#include <ctype.h>

#include "aosctl.h"
#include "issue.h"
#include "macro.h"
#include "password-input.h"
#include "signer.h"

#define SHA256_HEX_LEN 64

/* "AB:CD:...", "sha256:abcd...", "ab cd ..." → 64 lowercase hex digits, or -EINVAL. */
static int fingerprint_normalize(const char *in, char **ret) {
        _cleanup_free_ char *out = malloc(SHA256_HEX_LEN + 1);
        size_t n = 0;

        if (!out)
                return -ENOMEM;
        if (strncasecmp(in, "sha256:", 7) == 0)
                in += 7;
        for (const char *p = in; *p; p++) {
                if (*p == ':' || *p == ' ')
                        continue;
                if (!isxdigit((unsigned char) *p) || n >= SHA256_HEX_LEN)
                        return -EINVAL;
                out[n++] = (char) tolower((unsigned char) *p);
        }
        if (n != SHA256_HEX_LEN)
                return -EINVAL;
        out[n] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

/* DESIGN §7: before the password goes to a secondary over the bootstrap channel, the node's
 * link certificate must be the one the operator knows. Anything short of a match (the link
 * daemon is not there, the node is not connected, no fingerprint) refuses. */
static int check_fingerprint(AosctlContext *ctx, const char *node, const char *expected) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(node_list_done) NodeList nodes = {};
        const NodeInfo *n;
        int r;

        r = node_list_get(ctx, &nodes, &error);
        if (r < 0) {
                if (error.name)
                        return aosctl_fail(ctx, "cannot verify the fingerprint of node %s: ListNodes: %s: %s; "
                                           "not sending the password", node, error.name, strempty(error.message));
                return aosctl_fail(ctx, "cannot verify the fingerprint of node %s: ListNodes: %s; not sending the password",
                                   node, strerror(-r));
        }
        n = node_list_find(&nodes, node);
        if (!n)
                return aosctl_fail(ctx, "cannot verify the fingerprint of node %s: it is not connected to the node link; "
                                   "not sending the password", node);

        _cleanup_free_ char *normalized = NULL;
        if (isempty(n->peer_fingerprint) || fingerprint_normalize(n->peer_fingerprint, &normalized) < 0)
                return aosctl_fail(ctx, "cannot verify the fingerprint of node %s: the link reports none; "
                                   "not sending the password", node);
        if (!streq(normalized, expected))
                return aosctl_fail(ctx, "node %s presents certificate fingerprint %s, not the expected %s; "
                                   "not sending the password", node, normalized, expected);
        return AOSCTL_EXIT_SUCCESS;
}

typedef struct CertList {
        CertView *items;
        size_t n;
} CertList;

static void cert_list_done(CertList *l) {
        for (size_t i = 0; i < l->n; i++)
                cert_view_done(&l->items[i]);
        free(l->items);
}

int verb_provision(AosctlContext *ctx, int argc, char *argv[]) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                SIGNER_OPTIONS,
                { "node", required_argument, NULL, ARG_NODE },
                { "password-file", required_argument, NULL, ARG_PASSWORD_FILE },
                { "subject", required_argument, NULL, ARG_SUBJECT },
                { "expect-fingerprint", required_argument, NULL, ARG_EXPECT_FINGERPRINT },
                {}
        };
        _cleanup_(signer_done) Signer signer = {};
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *node_id = NULL, *fingerprint = NULL;
        _cleanup_password_ char *password = NULL;
        _cleanup_strv_free_ char **types = NULL;
        _cleanup_(cert_list_done) CertList certs = {};
        const char *node = NULL, *password_file = NULL, *subject = NULL, *expect = NULL;
        Progress p = { .ctx = ctx };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = signer_option(ctx, &signer, c, optarg);
                if (r < 0)
                        return -r;
                if (r > 0)
                        continue;
                switch (c) {
                case ARG_NODE:
                        node = optarg;
                        break;
                case ARG_PASSWORD_FILE:
                        password_file = optarg;
                        break;
                case ARG_SUBJECT:
                        subject = optarg;
                        break;
                case ARG_EXPECT_FINGERPRINT:
                        expect = optarg;
                        break;
                default:
                        if (aosctl_common_option(ctx, c, &r))
                                return r;
                }
        }
        if (optind < argc)
                return aosctl_usage_error(ctx, "takes no arguments, only options (see --help)");
        if (node && isempty(node))
                return aosctl_usage_error(ctx, "--node needs a node id");
        if (subject && isempty(subject))
                return aosctl_usage_error(ctx, "--subject needs a name");
        if (expect) {
                if (!node)
                        return aosctl_usage_error(ctx, "--expect-fingerprint needs --node: it checks a node reached over the link");
                r = fingerprint_normalize(expect, &fingerprint);
                if (r == -ENOMEM)
                        return aosctl_fail(ctx, "out of memory");
                if (r < 0)
                        return aosctl_usage_error(ctx, "--expect-fingerprint takes a SHA-256 fingerprint (64 hex digits), not '%s'",
                                                  expect);
        }
        r = signer_setup(ctx, &signer);
        if (r != 0)
                return r;

        /* Before any password is read or sent. */
        if (fingerprint) {
                r = check_fingerprint(ctx, node, fingerprint);
                if (r != 0)
                        return r;
        }

        r = aosctl_resolve_node_id(ctx, node, &node_id, &error);
        if (r < 0)
                return aosctl_bus_error("provision: reading NodeId", &error, r);

        r = password_input_read(ctx->verb, password_file, true, &password);
        if (r != 0)
                return r;

        /* The number of steps is known once the types are: types, start, 3 per type, finish. So
         * the first line is printed when its call is done. */
        p.out = ctx->json ? stderr : stdout;
        r = aosctl_call(ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "GetCertTypes", AOSCTL_TIMEOUT_USEC, false, &error, &reply,
                        "s", strempty(node));
        if (r >= 0)
                r = sd_bus_message_read_strv(reply, &types);
        if (r >= 0)
                p.total = 3 + 3 * (unsigned) strv_length(types);
        progress_begin(&p, "GetCertTypes %s", node_id);
        if (r < 0)
                return progress_bus_failed(&p, &error, r);
        reply = sd_bus_message_unref(reply);
        {
                _cleanup_free_ char *list = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&list, &size);
                if (!f)
                        return progress_failed(&p, aosctl_fail(ctx, "out of memory"));
                for (char **t = types; t && *t; t++)
                        fprintf(f, "%s%s", t == types ? "" : " ", *t);
                fclose(f);
                progress_ok_detail(&p, "%s; %u steps", isempty(list) ? "no types" : list, p.total);
        }

        progress_begin(&p, "StartProvisioning %s", node_id);
        r = aosctl_call(ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "StartProvisioning", AOSCTL_TIMEOUT_LONG_USEC, true,
                        &error, NULL, "ss", strempty(node), password);
        if (r < 0)
                return progress_bus_failed(&p, &error, r);
        progress_ok(&p);

        certs.items = calloc(strv_length(types) + 1, sizeof(CertView));
        if (!certs.items)
                return aosctl_fail(ctx, "out of memory");
        for (char **t = types; t && *t; t++) {
                r = issue_certificate(&p, &signer, strempty(node), node_id, *t, subject ?: node_id, password,
                                      &certs.items[certs.n]);
                if (r != 0)
                        return r;
                certs.n++;
        }

        progress_begin(&p, "FinishProvisioning %s", node_id);
        r = aosctl_call(ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "FinishProvisioning", AOSCTL_TIMEOUT_LONG_USEC, true,
                        &error, NULL, "ss", strempty(node), password);
        if (r < 0)
                return progress_bus_failed(&p, &error, r);
        progress_ok(&p);

        if (ctx->json)
                issue_print_json(node_id, certs.items, certs.n);
        else
                printf("Node %s is provisioned.\n", node_id);
        return AOSCTL_EXIT_SUCCESS;
}
