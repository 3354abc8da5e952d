/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Progress lines and one certificate's CreateKey → sign → ApplyCert: see issue.h. */

#include <stdarg.h>

#include "issue.h"
#include "macro.h"

void progress_begin(Progress *p, const char *fmt, ...) {
        va_list ap;

        p->step++;
        va_start(ap, fmt);
        (void) vsnprintf(p->what, sizeof p->what, fmt, ap);
        va_end(ap);
        if (p->total > 0)
                fprintf(p->out, "[%u/%u] %s ... ", p->step, p->total, p->what);
        else
                fprintf(p->out, "[%u/?] %s ... ", p->step, p->what);
        fflush(p->out);
}

void progress_ok(Progress *p) {
        fputs("ok\n", p->out);
        fflush(p->out);
}

void progress_ok_detail(Progress *p, const char *fmt, ...) {
        va_list ap;

        fputs("ok (", p->out);
        va_start(ap, fmt);
        vfprintf(p->out, fmt, ap);
        va_end(ap);
        fputs(")\n", p->out);
        fflush(p->out);
}

int progress_failed(Progress *p, int exit_code) {
        fputs("failed\n", p->out);
        fflush(p->out);
        return exit_code;
}

int progress_bus_failed(Progress *p, const sd_bus_error *error, int r) {
        char what[256];

        fputs("failed\n", p->out);
        fflush(p->out);
        if (p->total > 0)
                snprintf(what, sizeof what, "%s: step %u/%u (%s) failed", p->ctx->verb, p->step, p->total, p->what);
        else
                snprintf(what, sizeof what, "%s: step %u (%s) failed", p->ctx->verb, p->step, p->what);
        return aosctl_bus_error(what, error, r);
}

int issue_certificate(Progress *p, Signer *signer, const char *node, const char *node_id, const char *type,
                      const char *subject, const char *password, CertView *ret_info) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *csr = NULL, *chain = NULL;
        const char *s;
        int r;

        progress_begin(p, "CreateKey %s", type);
        r = aosctl_call(p->ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "CreateKey", AOSCTL_TIMEOUT_USEC, true, &error,
                        &reply, "ssss", node, type, subject, password);
        if (r < 0)
                return progress_bus_failed(p, &error, r);
        r = sd_bus_message_read(reply, "s", &s);
        if (r < 0)
                return progress_bus_failed(p, NULL, r);
        csr = strdup(s);
        if (!csr)
                return progress_failed(p, aosctl_fail(p->ctx, "out of memory"));
        reply = sd_bus_message_unref(reply);
        progress_ok(p);

        progress_begin(p, "Sign %s (%s)", type, signer_describe(signer));
        r = signer_sign(p->ctx, signer, type, node_id, csr, &chain);
        if (r != 0) {
                /* signer_sign() printed the reason already; keep the step on the record too. */
                fputs("failed\n", p->out);
                fflush(p->out);
                fprintf(stderr, "aosctl: %s: step %u/%u (%s) failed\n", p->ctx->verb, p->step, p->total, p->what);
                return r;
        }
        progress_ok(p);

        progress_begin(p, "ApplyCert %s", type);
        r = aosctl_call(p->ctx, PROV_DEST, PROV_PATH, PROV_IFACE, "ApplyCert", AOSCTL_TIMEOUT_USEC, false, &error,
                        &reply, "sss", node, type, chain);
        if (r < 0)
                return progress_bus_failed(p, &error, r);
        r = cert_view_read(reply, ret_info);
        if (r < 0)
                return progress_bus_failed(p, NULL, r);
        progress_ok_detail(p, "serial %s, %ld days", strempty(ret_info->serial), cert_view_days_left(ret_info));
        return AOSCTL_EXIT_SUCCESS;
}

void issue_print_json(const char *node_id, const CertView *certs, size_t n) {
        printf("{\"nodeId\":");
        json_print_string(stdout, node_id);
        printf(",\"certificates\":[");
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        putchar(',');
                cert_view_print_json(stdout, &certs[i]);
        }
        printf("]}\n");
}
