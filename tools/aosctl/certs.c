/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl certs [--node ID] [TYPE]: every stored certificate, as a table or JSON; of this node, or
 * of a node connected to this node's link (read through its node object). */

#include <stdio.h>

#include "aosctl.h"
#include "macro.h"

int verb_certs(AosctlContext *ctx, int argc, char *argv[]) {
        _cleanup_(certs_target_done) CertsTarget target = {};
        _cleanup_strv_free_ char **types = NULL;
        const char *node;
        bool first = true;
        int r;

        r = aosctl_parse_node_option_args(ctx, argc, argv, &node);
        if (r != AOSCTL_PARSE_GO_ON)
                return r;
        if (argc - optind > 1)
                return aosctl_usage_error(ctx, "takes at most one certificate type");
        r = certs_target_open(ctx, node, &target);
        if (r != AOSCTL_PARSE_GO_ON)
                return r;

        if (argc - optind == 1) {
                if (strv_extend(&types, argv[optind]) < 0)
                        return aosctl_fail(ctx, "out of memory");
        } else {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                r = certs_target_call(ctx, &target, "GetCertTypes", &error, &reply, NULL);
                if (r < 0)
                        return certs_target_error(&target, "GetCertTypes", &error, r);
                r = sd_bus_message_read_strv(reply, &types);
                if (r < 0)
                        return aosctl_bus_error("GetCertTypes", NULL, r);
        }

        /* Everything is fetched before anything is printed, so that a failure leaves no half table
         * or half JSON document on stdout. */
        _cleanup_free_ char *out = NULL;
        size_t out_size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&out, &out_size);
        if (!f)
                return aosctl_fail(ctx, "out of memory");

        for (char **t = types; t && *t; t++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                r = certs_target_call(ctx, &target, "ListCerts", &error, &reply, "s", *t);
                if (r < 0)
                        return certs_target_error(&target, "ListCerts", &error, r);
                r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
                if (r < 0)
                        return aosctl_bus_error("ListCerts", NULL, r);
                while ((r = sd_bus_message_at_end(reply, false)) == 0) {
                        _cleanup_(cert_view_done) CertView v = {};
                        r = cert_view_read(reply, &v);
                        if (r < 0)
                                return aosctl_bus_error("ListCerts", NULL, r);
                        if (ctx->json) {
                                fputc(first ? '[' : ',', f);
                                cert_view_print_json(f, &v);
                        } else {
                                char date[32];
                                if (first)
                                        fprintf(f, "%-10s %-34s %-28s %-16s %6s\n", "TYPE", "SERIAL", "SUBJECT",
                                                "NOT AFTER (UTC)", "DAYS");
                                cert_view_format_date(v.not_after, date);
                                fprintf(f, "%-10s %-34.34s %-28.28s %-16s %6ld\n", strempty(v.type), strempty(v.serial),
                                        strempty(v.subject), date, cert_view_days_left(&v));
                        }
                        first = false;
                }
                if (r < 0)
                        return aosctl_bus_error("ListCerts", NULL, r);
        }
        if (ctx->json)
                fputs(first ? "[]\n" : "]\n", f);
        else if (first)
                fputs("(no certificates)\n", f);
        if (fflush(f) != 0)
                return aosctl_fail(ctx, "out of memory");
        fwrite(out, 1, out_size, stdout);
        return AOSCTL_EXIT_SUCCESS;
}
