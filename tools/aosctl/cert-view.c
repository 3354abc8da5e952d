/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <time.h>

#include "aosctl.h"
#include "macro.h"

static const AosctlStringField cert_view_strings[] = {
        AOSCTL_STRING_FIELD(CertView, type, "Type", "type"),
        AOSCTL_STRING_FIELD(CertView, cert_url, "CertURL", "certURL"),
        AOSCTL_STRING_FIELD(CertView, key_url, "KeyURL", "keyURL"),
        AOSCTL_STRING_FIELD(CertView, subject, "Subject", "subject"),
        AOSCTL_STRING_FIELD(CertView, issuer, "Issuer", "issuer"),
        AOSCTL_STRING_FIELD(CertView, serial, "Serial", "serial"),
        AOSCTL_STRING_FIELD(CertView, fingerprint, "Fingerprint", "fingerprint"),
};

void cert_view_done(CertView *v) {
        aosctl_free_string_fields(cert_view_strings, ELEMENTSOF(cert_view_strings), v);
        *v = (CertView) {};
}

int aosctl_read_string_variant(sd_bus_message *m, char **field) {
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

int aosctl_read_string_field(sd_bus_message *m, const char *key, const AosctlStringField *fields, size_t n_fields,
                             void *obj) {
        for (size_t i = 0; i < n_fields; i++)
                if (streq(fields[i].key, key)) {
                        int r = aosctl_read_string_variant(m, aosctl_string_field(&fields[i], obj));
                        return r < 0 ? r : 1;
                }
        return 0;
}

void aosctl_free_string_fields(const AosctlStringField *fields, size_t n_fields, void *obj) {
        for (size_t i = 0; i < n_fields; i++) {
                char **p = aosctl_string_field(&fields[i], obj);
                *p = mfree(*p);
        }
}

int aosctl_read_dict(sd_bus_message *m, AosctlDictEntry entry, void *userdata) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = entry(m, key, userdata);
                if (r == 0)
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int cert_view_entry(sd_bus_message *m, const char *key, void *userdata) {
        CertView *v = userdata;
        int r;

        r = aosctl_read_string_field(m, key, cert_view_strings, ELEMENTSOF(cert_view_strings), v);
        if (r != 0)
                return r;
        if (streq(key, "NotBefore"))
                r = sd_bus_message_read(m, "v", "t", &v->not_before);
        else if (streq(key, "NotAfter"))
                r = sd_bus_message_read(m, "v", "t", &v->not_after);
        else
                return 0;
        return r < 0 ? r : 1;
}

int cert_view_read(sd_bus_message *m, CertView *ret) {
        CertView v = {};
        int r;

        r = aosctl_read_dict(m, cert_view_entry, &v);
        if (r < 0) {
                cert_view_done(&v);
                return r;
        }
        *ret = v;
        return 0;
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
