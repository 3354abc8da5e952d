/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl certs [TYPE]: every stored certificate, as a table or JSON. */

#include <stdio.h>

#include "aosctl.h"
#include "macro.h"

int verb_certs(AosctlContext *ctx, int argc, char *argv[]) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                {}
        };
        _cleanup_strv_free_ char **types = NULL;
        bool first = true;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                if (aosctl_common_option(ctx, c, &r))
                        return r;
        if (argc - optind > 1)
                return aosctl_usage_error(ctx, "takes at most one certificate type");

        if (argc - optind == 1) {
                if (strv_extend(&types, argv[optind]) < 0)
                        return aosctl_fail(ctx, "out of memory");
        } else {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                r = aosctl_call(ctx, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "GetCertTypes", AOSCTL_TIMEOUT_USEC, false,
                                &error, &reply, NULL);
                if (r < 0)
                        return aosctl_bus_error("GetCertTypes", &error, r);
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
                r = aosctl_call(ctx, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "ListCerts", AOSCTL_TIMEOUT_USEC, false,
                                &error, &reply, "s", *t);
                if (r < 0)
                        return aosctl_bus_error("ListCerts", &error, r);
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
