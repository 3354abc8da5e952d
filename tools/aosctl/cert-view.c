/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <time.h>

#include "aosctl.h"
#include "macro.h"

void cert_view_done(CertView *v) {
        free(v->type);
        free(v->cert_url);
        free(v->key_url);
        free(v->subject);
        free(v->issuer);
        free(v->serial);
        free(v->fingerprint);
        *v = (CertView) {};
}

static int read_string_variant(sd_bus_message *m, char **field) {
        const char *s;
        int r = sd_bus_message_read(m, "v", "s", &s);
        if (r < 0)
                return r;
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        free(*field);
        *field = c;
        return 0;
}

int cert_view_read(sd_bus_message *m, CertView *ret) {
        CertView v = {};
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        goto fail;
                if (streq(key, "Type"))
                        r = read_string_variant(m, &v.type);
                else if (streq(key, "CertURL"))
                        r = read_string_variant(m, &v.cert_url);
                else if (streq(key, "KeyURL"))
                        r = read_string_variant(m, &v.key_url);
                else if (streq(key, "Subject"))
                        r = read_string_variant(m, &v.subject);
                else if (streq(key, "Issuer"))
                        r = read_string_variant(m, &v.issuer);
                else if (streq(key, "Serial"))
                        r = read_string_variant(m, &v.serial);
                else if (streq(key, "Fingerprint"))
                        r = read_string_variant(m, &v.fingerprint);
                else if (streq(key, "NotBefore"))
                        r = sd_bus_message_read(m, "v", "t", &v.not_before);
                else if (streq(key, "NotAfter"))
                        r = sd_bus_message_read(m, "v", "t", &v.not_after);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        goto fail;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        goto fail;
        }
        if (r < 0)
                goto fail;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                goto fail;
        *ret = v;
        return 0;
fail:
        cert_view_done(&v);
        return r;
}

long cert_view_days_left(const CertView *v) {
        int64_t now = (int64_t) time(NULL);
        int64_t end = (int64_t) (v->not_after / USEC_PER_SEC);
        int64_t d = end - now;
        return (long) (d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

void json_print_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) strempty(s); *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '\t')
                        fputs("\\t", f);
                else if (*p == '\r')
                        fputs("\\r", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}

void cert_view_print_json(FILE *f, const CertView *v) {
        fputs("{\"type\":", f);
        json_print_string(f, v->type);
        fputs(",\"subject\":", f);
        json_print_string(f, v->subject);
        fputs(",\"issuer\":", f);
        json_print_string(f, v->issuer);
        fputs(",\"serial\":", f);
        json_print_string(f, v->serial);
        fprintf(f, ",\"notBefore\":%llu,\"notAfter\":%llu,\"daysLeft\":%ld,\"fingerprint\":",
                (unsigned long long) v->not_before, (unsigned long long) v->not_after, cert_view_days_left(v));
        json_print_string(f, v->fingerprint);
        fputs(",\"certURL\":", f);
        json_print_string(f, v->cert_url);
        fputs(",\"keyURL\":", f);
        json_print_string(f, v->key_url);
        fputc('}', f);
}

void cert_view_format_date(uint64_t usec, char buf[static 32]) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M", &tm) == 0)
                snprintf(buf, 32, "@%llu", (unsigned long long) (usec / USEC_PER_SEC));
}

void cert_view_print_text(FILE *f, const CertView *v, unsigned indent) {
        char nb[32], na[32];
        int i = (int) indent;

        cert_view_format_date(v->not_before, nb);
        cert_view_format_date(v->not_after, na);
        fprintf(f, "%*sType: %s\n", i, "", strempty(v->type));
        fprintf(f, "%*sSubject: %s\n", i, "", strempty(v->subject));
        fprintf(f, "%*sIssuer: %s\n", i, "", strempty(v->issuer));
        fprintf(f, "%*sSerial: %s\n", i, "", strempty(v->serial));
        fprintf(f, "%*sValid: %s .. %s UTC (%ld days left)\n", i, "", nb, na, cert_view_days_left(v));
        fprintf(f, "%*sFingerprint: %s\n", i, "", strempty(v->fingerprint));
        fprintf(f, "%*sCertURL: %s\n", i, "", strempty(v->cert_url));
        fprintf(f, "%*sKeyURL: %s\n", i, "", strempty(v->key_url));
}
