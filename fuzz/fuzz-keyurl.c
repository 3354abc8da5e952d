/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Key and certificate URLs as they come from the database, the bus and the command line.
 *   1. The input (up to its first NUL) as a URL: keyurl_scheme(), file_url_path() and
 *      pkcs11_url_parse(); a pkcs11: URL that parses must format and parse back to the same
 *      parts, and formatting must be stable.
 *   2. The input split at NUL bytes into the parts of a Pkcs11Url (token, object, id, type,
 *      module-path, pin-source): pkcs11_url_format() of any parts it accepts must parse back
 *      to the same parts. */

#include <errno.h>
#include <strings.h>

#include "fuzz.h"
#include "keyurl.h"

static bool str_eq(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool pkcs11_url_eq(const Pkcs11Url *a, const Pkcs11Url *b) {
        return str_eq(a->token, b->token) && str_eq(a->object, b->object) && str_eq(a->type, b->type) &&
               str_eq(a->module_path, b->module_path) && str_eq(a->pin_source, b->pin_source) &&
               a->id_size == b->id_size && (!a->id) == (!b->id) &&
               (a->id_size == 0 || memcmp(a->id, b->id, a->id_size) == 0);
}

static void check_url(const char *url) {
        Pkcs11Url u = {}, again = {};
        KeyUrlScheme scheme;
        char *path = NULL, *formatted = NULL, *reformatted = NULL;
        int r, rs;

        rs = keyurl_scheme(url, &scheme);
        fuzz_assert(rs == 0 || rs == -EINVAL || rs == -EPROTONOSUPPORT);
        if (rs == 0)
                fuzz_assert((unsigned) scheme < _KEY_URL_SCHEME_MAX);

        r = file_url_path(url, &path);
        fuzz_assert(r == 0 || r == -EINVAL);
        if (r == 0) {
                fuzz_assert(rs == 0 && scheme == KEY_URL_FILE);
                /* The path is the URL's tail, taken verbatim, and absolute. */
                fuzz_assert(path[0] == '/' && path[1] != 0);
                fuzz_assert(strlen(path) < strlen(url));
                fuzz_assert(strcmp(url + strlen(url) - strlen(path), path) == 0);
                free(path);
        }

        r = pkcs11_url_parse(url, &u);
        fuzz_log("keyurl_scheme: %d, pkcs11_url_parse: %d\n", rs, r);
        fuzz_assert(r == 0 || r == -EINVAL);
        if (r < 0)
                return;
        fuzz_assert(rs == 0 && scheme == KEY_URL_PKCS11);
        fuzz_assert(!u.id || u.id_size > 0);

        r = pkcs11_url_format(&u, &formatted);
        fuzz_assert(r == 0);
        fuzz_assert(strncmp(formatted, "pkcs11:", 7) == 0);
        r = pkcs11_url_parse(formatted, &again);
        fuzz_assert(r == 0);
        fuzz_assert(pkcs11_url_eq(&u, &again));
        r = pkcs11_url_format(&again, &reformatted);
        fuzz_assert(r == 0 && strcmp(formatted, reformatted) == 0);

        free(formatted);
        free(reformatted);
        pkcs11_url_done(&again);
        pkcs11_url_done(&u);
}

static void check_parts(const uint8_t *data, size_t size) {
        Pkcs11Url u = {}, again = {};
        char *buf, *fields[6] = {}, *url = NULL;
        size_t n;
        int r;

        n = fuzz_split(data, size, &buf, fields, 6);
        if (n < 6) {
                free(buf);
                return;
        }

        /* Views into buf: u is not freed with pkcs11_url_done(). */
        u = (Pkcs11Url) {
                .token = fields[0],
                .object = fields[1],
                .id = *fields[2] ? fields[2] : NULL,
                .id_size = strlen(fields[2]),
                .type = *fields[3] ? fields[3] : NULL,
                .module_path = fields[4],
                .pin_source = fields[5],
        };

        r = pkcs11_url_format(&u, &url);
        fuzz_log("pkcs11_url_format: %d %s\n", r, url ?: "");
        fuzz_assert(r == 0 || r == -EINVAL);
        if (r == 0) {
                r = pkcs11_url_parse(url, &again);
                fuzz_assert(r == 0);
                /* Empty parts are left out, so they come back unset. */
                fuzz_assert(str_eq(again.token, *u.token ? u.token : NULL));
                fuzz_assert(str_eq(again.object, *u.object ? u.object : NULL));
                fuzz_assert(str_eq(again.type, u.type));
                fuzz_assert(str_eq(again.module_path, *u.module_path ? u.module_path : NULL));
                fuzz_assert(str_eq(again.pin_source, *u.pin_source ? u.pin_source : NULL));
                fuzz_assert(again.id_size == u.id_size && (!again.id) == (!u.id));
                fuzz_assert(u.id_size == 0 || memcmp(again.id, u.id, u.id_size) == 0);
                pkcs11_url_done(&again);
        } else
                fuzz_assert(u.type); /* the only part format refuses: an unknown type */

        free(url);
        free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *url = fuzz_strndup(data, size);

        check_url(url);
        free(url);
        check_parts(data, size);
        return 0;
}
