/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl certs [TYPE]: every stored certificate, as a table or JSON. */

#include <stdio.h>
#include <time.h>

#include "aosctl.h"
#include "macro.h"

#define CERTS_DEST "org.aosedge.Certs1"
#define CERTS_PATH "/org/aosedge/Certs1"
#define CERTS_IFACE "org.aosedge.Certs1.Manager"

static void format_date(uint64_t usec, char buf[32]) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, 32, "%Y-%m-%d %H:%M", &tm);
}

int verb_certs(AosctlContext *ctx, int argc, char *argv[]) {
        _cleanup_strv_free_ char **types = NULL;
        sd_bus *bus;
        bool first = true;
        int r;

        if (argc > 2) {
                fprintf(stderr, "aosctl certs: takes at most one certificate type\n");
                return AOSCTL_EXIT_USAGE;
        }
        r = aosctl_bus(ctx, &bus);
        if (r < 0)
                return -r;

        if (argc == 2) {
                if (strv_extend(&types, argv[1]) < 0)
                        return AOSCTL_EXIT_FAILURE;
        } else {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                r = sd_bus_call_method(bus, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "GetCertTypes", &error, &reply, "");
                if (r < 0)
                        return aosctl_bus_error("GetCertTypes", &error, r);
                r = sd_bus_message_read_strv(reply, &types);
                if (r < 0)
                        return aosctl_bus_error("GetCertTypes", NULL, r);
        }

        if (ctx->json)
                putchar('[');
        else
                printf("%-10s %-40s %-28s %-16s %6s\n", "TYPE", "SERIAL", "SUBJECT", "NOT AFTER (UTC)", "DAYS");

        for (char **t = types; t && *t; t++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                r = sd_bus_call_method(bus, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "ListCerts", &error, &reply, "s", *t);
                if (r < 0) {
                        if (ctx->json)
                                puts("]");
                        return aosctl_bus_error("ListCerts", &error, r);
                }
                r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
                if (r < 0)
                        return aosctl_bus_error("ListCerts", NULL, r);
                for (;;) {
                        CertView v = {};
                        r = sd_bus_message_at_end(reply, false);
                        if (r != 0)
                                break;
                        r = cert_view_read(reply, &v);
                        if (r < 0)
                                return aosctl_bus_error("ListCerts", NULL, r);
                        if (ctx->json) {
                                if (!first)
                                        putchar(',');
                                cert_view_print_json(&v);
                        } else {
                                char date[32];
                                format_date(v.not_after, date);
                                printf("%-10s %-40.40s %-28.28s %-16s %6ld\n", strempty(v.type), strempty(v.serial),
                                       strempty(v.subject), date, cert_view_days_left(&v));
                        }
                        first = false;
                        cert_view_done(&v);
                }
        }
        if (ctx->json)
                puts("]");
        else if (first)
                printf("(no certificates)\n");
        return 0;
}
