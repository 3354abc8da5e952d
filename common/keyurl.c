/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Key and certificate URLs (file:, RFC 7512 pkcs11:, tpm2:) and the one opener that turns a key
 * URL into a gnutls_privkey_t. Library code: no logging, negative errno. */

#include <ctype.h>
#include <gnutls/pkcs11.h>
#include <gnutls/x509.h>
#include <p11-kit/p11-kit.h>
#include <pthread.h>
#include <stdint.h>
#include <strings.h>

#include "fs.h"
#include "keyurl.h"
#include "macro.h"

#define PIN_FILE_MAX 256U
#define KEY_FILE_MAX (64U * 1024U)

static const char *const scheme_names[_KEY_URL_SCHEME_MAX] = {
        [KEY_URL_FILE] = "file",
        [KEY_URL_PKCS11] = "pkcs11",
        [KEY_URL_TPM2] = "tpm2",
};

/* Everything below is process-wide and shared by every caller, so it sits behind one lock. */
static pthread_mutex_t keyurl_lock = PTHREAD_MUTEX_INITIALIZER;
static KeyUrlOpener registered_openers[_KEY_URL_SCHEME_MAX];
static KeyUrlPubkeyOpener registered_pubkey_openers[_KEY_URL_SCHEME_MAX];
static CertUrlLoader registered_loaders[_KEY_URL_SCHEME_MAX];
static bool gnutls_pkcs11_ready;
static bool gnutls_pkcs11_registered_added;
static char **gnutls_pkcs11_providers;
/* Copies of every pin-source path handed to gnutls as PIN callback data. gnutls keeps that
 * pointer for as long as the key lives (and calls back with it to log in again after a fork),
 * so these are never freed; there is one per distinct PIN file, a handful per process. They are
 * paths, not PINs: the PIN itself is read on every callback and wiped right after. */
static char **pin_source_paths;

static void unlockp(pthread_mutex_t **m) {
        if (*m)
                (void) pthread_mutex_unlock(*m);
}
#define LOCK_GUARD(m) \
        _cleanup_(unlockp) _unused_ pthread_mutex_t *_guard_ = (pthread_mutex_lock(m), (m))

static void gnutls_datum_freep(gnutls_datum_t *d) {
        gnutls_free(d->data);
        d->data = NULL;
        d->size = 0;
}

/* ---- schemes ------------------------------------------------------------------------------ */

int keyurl_scheme(const char *url, KeyUrlScheme *ret) {
        if (!url || !ret)
                return -EINVAL;

        /* RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'. */
        const char *colon = strchr(url, ':');
        if (!colon || colon == url || !isalpha((unsigned char) url[0]))
                return -EINVAL;
        for (const char *p = url; p < colon; p++)
                if (!isalnum((unsigned char) *p) && !strchr("+-.", *p))
                        return -EINVAL;

        size_t l = (size_t) (colon - url);
        for (KeyUrlScheme s = 0; s < _KEY_URL_SCHEME_MAX; s++)
                if (strlen(scheme_names[s]) == l && strncasecmp(url, scheme_names[s], l) == 0) {
                        *ret = s;
                        return 0;
                }

        return -EPROTONOSUPPORT;
}

int file_url_path(const char *url, char **ret_path) {
        KeyUrlScheme s;
        int r;

        if (!ret_path)
                return -EINVAL;
        r = keyurl_scheme(url, &s);
        if (r < 0)
                return r == -EPROTONOSUPPORT ? -EINVAL : r;
        if (s != KEY_URL_FILE)
                return -EINVAL;

        /* "file:/p", "file:///p" and "file://localhost/p" (RFC 8089). The path is taken as it
         * stands, without percent-decoding: the backends write the path verbatim. */
        const char *p = url + strlen("file:");
        if (p[0] == '/' && p[1] == '/') {
                const char *host = p + 2, *slash = strchr(host, '/');
                if (!slash)
                        return -EINVAL;
                size_t hl = (size_t) (slash - host);
                if (hl != 0 && !(hl == strlen("localhost") && strncasecmp(host, "localhost", hl) == 0))
                        return -EINVAL;
                p = slash;
        }
        if (p[0] != '/' || p[1] == 0)
                return -EINVAL;

        char *path = strdup(p);
        if (!path)
                return -ENOMEM;
        *ret_path = path;
        return 0;
}

/* ---- pkcs11: URLs (RFC 7512) --------------------------------------------------------------- */

void pkcs11_url_done(Pkcs11Url *u) {
        if (!u)
                return;
        free(u->token);
        free(u->object);
        free(u->id);
        free(u->type);
        free(u->module_path);
        free(u->pin_source);
        *u = (Pkcs11Url) {};
}

static int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

/* Decodes [s, s+l). Raw bytes must be printable ASCII other than the delimiters; anything else
 * has to be percent-encoded. Text values (binary=false) must not decode to a NUL. */
static int percent_decode(const char *s, size_t l, bool binary, char **ret, size_t *ret_size) {
        if (l == 0)
                return -EINVAL;

        _cleanup_free_ char *d = malloc(l + 1);
        if (!d)
                return -ENOMEM;

        size_t n = 0;
        for (size_t i = 0; i < l; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '%') {
                        if (i + 2 >= l)
                                return -EINVAL;
                        int a = unhexchar(s[i + 1]), b = unhexchar(s[i + 2]);
                        if (a < 0 || b < 0)
                                return -EINVAL;
                        c = (unsigned char) (a << 4 | b);
                        if (c == 0 && !binary)
                                return -EINVAL;
                        i += 2;
                } else if (c <= 0x20 || c >= 0x7f || strchr(";?&#\"<>\\^`{|}", c))
                        return -EINVAL;
                d[n++] = (char) c;
        }
        d[n] = 0;

        *ret = TAKE_PTR(d);
        if (ret_size)
                *ret_size = n;
        return 0;
}

static bool pkcs11_type_valid(const char *t) {
        return streq(t, "private") || streq(t, "public") || streq(t, "cert") ||
               streq(t, "secret-key") || streq(t, "data");
}

/* Parses one "name=value" attribute of the path (query=false) or the query. Attributes this
 * suite does not represent in Pkcs11Url (serial=, slot-id=, module-name=, x-...) are refused
 * rather than dropped: dropping one would make the URL match more than its author meant. */
static int pkcs11_url_parse_attribute(const char *a, size_t l, bool query, Pkcs11Url *u) {
        const char *eq = memchr(a, '=', l);
        if (!eq)
                return -EINVAL;
        size_t nl = (size_t) (eq - a);
        const char *v = eq + 1;
        size_t vl = l - nl - 1;

#define NAME_IS(s) (nl == strlen(s) && strncmp(a, s, nl) == 0)
        char **target;
        if (!query && NAME_IS("id")) {
                if (u->id)
                        return -EINVAL;
                char *id;
                size_t size;
                int r = percent_decode(v, vl, /* binary= */ true, &id, &size);
                if (r < 0)
                        return r;
                u->id = id;
                u->id_size = size;
                return 0;
        }

        if (!query && NAME_IS("token"))
                target = &u->token;
        else if (!query && NAME_IS("object"))
                target = &u->object;
        else if (!query && NAME_IS("type"))
                target = &u->type;
        else if (query && NAME_IS("module-path"))
                target = &u->module_path;
        else if (query && NAME_IS("pin-source"))
                target = &u->pin_source;
        else /* including pin-value: a PIN must never sit in a URL */
                return -EINVAL;
#undef NAME_IS

        if (*target)
                return -EINVAL; /* an attribute may appear only once */

        int r = percent_decode(v, vl, /* binary= */ false, target, NULL);
        if (r < 0)
                return r;
        if (target == &u->type && !pkcs11_type_valid(u->type))
                return -EINVAL;
        return 0;
}

int pkcs11_url_parse(const char *url, Pkcs11Url *ret) {
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        int r;

        if (!url || !ret)
                return -EINVAL;
        if (strncasecmp(url, "pkcs11:", strlen("pkcs11:")) != 0)
                return -EINVAL;

        const char *p = url + strlen("pkcs11:");
        const char *q = strchr(p, '?');
        const char *path_end = q ?: p + strlen(p);

        /* Path: attributes separated by ';' (may be empty: "pkcs11:" matches everything). */
        for (const char *s = p; s < path_end;) {
                const char *e = memchr(s, ';', (size_t) (path_end - s)) ?: path_end;
                r = pkcs11_url_parse_attribute(s, (size_t) (e - s), /* query= */ false, &u);
                if (r < 0)
                        return r;
                s = e < path_end ? e + 1 : e;
                if (e < path_end && s == path_end)
                        return -EINVAL; /* trailing ';' */
        }

        /* Query: attributes separated by '&'. An empty query ("...?") is tolerated: older
         * aos URLs ended that way. */
        if (q) {
                const char *end = q + strlen(q);
                for (const char *s = q + 1; s < end;) {
                        const char *e = strchr(s, '&') ?: end;
                        r = pkcs11_url_parse_attribute(s, (size_t) (e - s), /* query= */ true, &u);
                        if (r < 0)
                                return r;
                        s = e < end ? e + 1 : e;
                        if (e < end && s == end)
                                return -EINVAL;
                }
        }

        *ret = u;
        u = (Pkcs11Url) {};
        return 0;
}

/* Percent-encodes v into f: unreserved characters stay, and so does '/' in query values (so
 * module-path= and pin-source= stay readable); everything else becomes %XX. */
static void percent_encode(FILE *f, const void *v, size_t l, bool all, bool query) {
        const unsigned char *b = v;
        for (size_t i = 0; i < l; i++) {
                if (!all && (isalnum(b[i]) || strchr("-._~", b[i]) || (query && b[i] == '/')) && b[i] != 0)
                        fputc(b[i], f);
                else
                        fprintf(f, "%%%02X", b[i]);
        }
}

int pkcs11_url_format(const Pkcs11Url *u, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;

        if (!u || !ret)
                return -EINVAL;
        if (u->type && !pkcs11_type_valid(u->type))
                return -EINVAL;
        if (u->id && u->id_size == 0)
                return -EINVAL;

        const struct {
                const char *name;
                const char *value;
        } path[] = {
                { "token", u->token },
                { "object", u->object },
                { "id", NULL },
                { "type", u->type },
        }, query[] = {
                { "module-path", u->module_path },
                { "pin-source", u->pin_source },
        };

        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fputs("pkcs11:", f);
        bool first = true;
        for (size_t i = 0; i < ELEMENTSOF(path); i++) {
                bool is_id = streq(path[i].name, "id");
                if (is_id ? !u->id : isempty(path[i].value))
                        continue;
                fprintf(f, "%s%s=", first ? "" : ";", path[i].name);
                if (is_id)
                        percent_encode(f, u->id, u->id_size, /* all= */ true, /* query= */ false);
                else
                        percent_encode(f, path[i].value, strlen(path[i].value), false, false);
                first = false;
        }
        first = true;
        for (size_t i = 0; i < ELEMENTSOF(query); i++) {
                if (isempty(query[i].value))
                        continue;
                fprintf(f, "%s%s=", first ? "?" : "&", query[i].name);
                percent_encode(f, query[i].value, strlen(query[i].value), false, true);
                first = false;
        }

        if (ferror(f)) {
                fclose(f);
                return -ENOMEM;
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        *ret = TAKE_PTR(buf);
        return 0;
}

/* ---- gnutls PKCS#11 ------------------------------------------------------------------------ */

static int errno_from_gnutls(int gr) {
        switch (gr) {
        case GNUTLS_E_SUCCESS:
                return 0;
        case GNUTLS_E_MEMORY_ERROR:
                return -ENOMEM;
        case GNUTLS_E_PKCS11_PIN_ERROR:
        case GNUTLS_E_PKCS11_PIN_EXPIRED:
        case GNUTLS_E_PKCS11_PIN_LOCKED:
        case GNUTLS_E_PKCS11_USER_ERROR:
                return -EACCES;
        case GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE:
        case GNUTLS_E_PKCS11_REQUESTED_OBJECT_NOT_AVAILBLE: /* sic; e.g. no such token */
                return -ENOKEY;
        case GNUTLS_E_PKCS11_LOAD_ERROR:
        case GNUTLS_E_PKCS11_SLOT_ERROR:
        case GNUTLS_E_PKCS11_TOKEN_ERROR:
        case GNUTLS_E_PKCS11_DEVICE_ERROR:
        case GNUTLS_E_PKCS11_ERROR:
                return -ENODEV;
        case GNUTLS_E_PARSING_ERROR:
        case GNUTLS_E_INVALID_REQUEST:
                return -EINVAL;
        case GNUTLS_E_BASE64_DECODING_ERROR:
        case GNUTLS_E_ASN1_DER_ERROR:
        case GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR:
                return -EBADMSG;
        default:
                return -EIO;
        }
}

/* Reads a PIN file (pin-source): the first line, without the line end. Wipes every copy. */
static int read_pin_file(const char *pin_source, char **ret) {
        _cleanup_erase_free_ char *buf = NULL;
        size_t size;
        int r;

        /* RFC 7512 lets pin-source be a URI; a file: one is the only kind that makes sense. */
        const char *path = startswith(pin_source, "file://") ?: startswith(pin_source, "file:") ?: pin_source;

        r = read_file_full(path, PIN_FILE_MAX, &buf, &size);
        if (r < 0)
                return r;
        if (strlen(buf) != size) { /* a NUL inside */
                explicit_bzero(buf, size);
                return -EINVAL;
        }
        /* Only the first line counts; wipe the rest now, as erase_and_free() stops at the
         * first NUL. */
        size_t l = strcspn(buf, "\r\n");
        explicit_bzero(buf + l, size - l);
        if (l == 0)
                return -EINVAL;

        *ret = TAKE_PTR(buf);
        return 0;
}

/* gnutls_pin_callback_t. userdata is an interned pin-source path (see pin_source_paths). One
 * attempt only: after a wrong PIN the same file would give the same wrong PIN again, and
 * every retry brings a real token closer to locking the user PIN. */
static int pin_callback(void *userdata, int attempt, const char *token_url, const char *token_label,
                        unsigned flags, char *pin, size_t pin_max) {
        _cleanup_erase_free_ char *p = NULL;

        if (!userdata || attempt > 0 || (flags & (GNUTLS_PIN_WRONG | GNUTLS_PIN_SO)))
                return -1;
        if (read_pin_file(userdata, &p) < 0)
                return -1;
        size_t l = strlen(p);
        if (l >= pin_max)
                return -1;
        memcpy(pin, p, l + 1);
        return 0;
}

static int intern_pin_source_locked(const char *pin_source, const char **ret) {
        for (char **i = pin_source_paths; i && *i; i++)
                if (streq(*i, pin_source)) {
                        *ret = *i;
                        return 0;
                }
        int r = strv_extend(&pin_source_paths, pin_source);
        if (r < 0)
                return r;
        *ret = pin_source_paths[strv_length(pin_source_paths) - 1];
        return 0;
}

static int intern_pin_source(const char *pin_source, const char **ret) {
        LOCK_GUARD(&keyurl_lock);
        return intern_pin_source_locked(pin_source, ret);
}

static int add_provider_locked(const char *path) {
        if (strv_contains(gnutls_pkcs11_providers, path))
                return 0;
        int gr = gnutls_pkcs11_add_provider(path, NULL);
        if (gr < 0)
                return errno_from_gnutls(gr) == -ENOMEM ? -ENOMEM : -ENODEV;
        return strv_extend(&gnutls_pkcs11_providers, path);
}

/* gnutls PKCS#11 in manual mode (so that nothing but the modules our URLs name is loaded),
 * once per process; then the URL's module, or without module-path every module p11-kit is
 * configured with (what gnutls would load in automatic mode). */
static int ensure_pkcs11_provider(const char *module_path) {
        LOCK_GUARD(&keyurl_lock);
        int r;

        if (!gnutls_pkcs11_ready) {
                int gr = gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_MANUAL, NULL);
                if (gr < 0)
                        return errno_from_gnutls(gr) == -ENOMEM ? -ENOMEM : -ENODEV;
                gnutls_pkcs11_ready = true;
        }

        if (module_path)
                return add_provider_locked(module_path);

        if (gnutls_pkcs11_registered_added)
                return 0;

        CK_FUNCTION_LIST **modules = p11_kit_modules_load(NULL, 0);
        if (!modules)
                return -ENODEV;
        r = 0;
        for (CK_FUNCTION_LIST **m = modules; *m; m++) {
                _cleanup_free_ char *filename = p11_kit_module_get_filename(*m);
                if (!filename)
                        continue;
                int k = add_provider_locked(filename);
                if (k == -ENOMEM) {
                        r = k;
                        break;
                }
                /* A module that does not load simply contributes no token. */
        }
        p11_kit_modules_release(modules);
        if (r < 0)
                return r;

        gnutls_pkcs11_registered_added = true;
        return 0;
}

/* The URL gnutls gets: the path attributes only, type forced. The query (module-path,
 * pin-source) is ours: we load the module and supply the PIN ourselves. */
static int pkcs11_url_for_gnutls(const Pkcs11Url *u, const char *type, char **ret) {
        Pkcs11Url g = {
                .token = u->token,
                .object = u->object,
                .id = u->id,
                .id_size = u->id_size,
                .type = (char *) type,
        };
        return pkcs11_url_format(&g, ret);
}

static int open_pkcs11_privkey(const char *url, gnutls_privkey_t *ret) {
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_free_ char *gurl = NULL;
        const char *pin_source = NULL;
        int r, gr;

        r = pkcs11_url_parse(url, &u);
        if (r < 0)
                return r;
        if (u.type && !streq(u.type, "private"))
                return -EINVAL;
        if (!u.id && !u.object)
                return -EINVAL; /* would pick whatever key comes first */

        r = ensure_pkcs11_provider(u.module_path);
        if (r < 0)
                return r;

        r = pkcs11_url_for_gnutls(&u, "private", &gurl);
        if (r < 0)
                return r;

        gr = gnutls_privkey_init(&key);
        if (gr < 0)
                return errno_from_gnutls(gr);

        if (u.pin_source) {
                r = intern_pin_source(u.pin_source, &pin_source);
                if (r < 0)
                        return r;
                /* gnutls logs in during the import and keeps the session (and with it the
                 * login) for as long as the key lives; the callback is only asked again to
                 * log in after a fork. */
                gnutls_privkey_set_pin_function(key, pin_callback, (void *) pin_source);
        }

        gr = gnutls_privkey_import_url(key, gurl, 0);
        if (gr < 0)
                return errno_from_gnutls(gr);

        *ret = TAKE_PTR(key);
        return 0;
}

static int open_file_privkey(const char *url, gnutls_privkey_t *ret) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_free_ char *path = NULL;
        char *buf = NULL;
        size_t size;
        int r, gr;

        r = file_url_path(url, &path);
        if (r < 0)
                return r;

        r = read_file_full(path, KEY_FILE_MAX, &buf, &size);
        if (r == -ENOENT)
                return -ENOKEY;
        if (r < 0)
                return r;

        gr = gnutls_privkey_init(&key);
        if (gr >= 0)
                gr = gnutls_privkey_import_x509_raw(key, &(gnutls_datum_t) { (unsigned char *) buf, (unsigned) size },
                                                    GNUTLS_X509_FMT_PEM, NULL, 0);
        explicit_bzero(buf, size);
        free(buf);
        if (gr < 0)
                return gr == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EBADMSG;

        *ret = TAKE_PTR(key);
        return 0;
}

int keyurl_open_privkey(const char *url, gnutls_privkey_t *ret) {
        KeyUrlScheme s;
        KeyUrlOpener opener;
        int r;

        if (!url || !ret)
                return -EINVAL;
        r = keyurl_scheme(url, &s);
        if (r < 0)
                return r;

        {
                LOCK_GUARD(&keyurl_lock);
                opener = registered_openers[s];
        }
        if (opener)
                return opener(url, ret);

        switch (s) {
        case KEY_URL_FILE:
                return open_file_privkey(url, ret);
        case KEY_URL_PKCS11:
                return open_pkcs11_privkey(url, ret);
        case KEY_URL_TPM2:
                return -EPROTONOSUPPORT;
        case _KEY_URL_SCHEME_MAX:
                break;
        }
        return -EINVAL;
}

int keyurl_open_pubkey(const char *url, gnutls_pubkey_t *ret) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        KeyUrlPubkeyOpener opener;
        KeyUrlScheme s;
        int r, gr;

        if (!url || !ret)
                return -EINVAL;
        r = keyurl_scheme(url, &s);
        if (r < 0)
                return r;

        {
                LOCK_GUARD(&keyurl_lock);
                opener = registered_pubkey_openers[s];
        }
        if (opener)
                return opener(url, ret);

        /* The private key knows its public half (file: holds both, pkcs11: finds the public
         * object or the key's attributes). */
        r = keyurl_open_privkey(url, &key);
        if (r < 0)
                return r;
        gr = gnutls_pubkey_init(&pub);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_pubkey_import_privkey(pub, key, 0, 0);
        if (gr == GNUTLS_E_INVALID_REQUEST)
                return -EOPNOTSUPP;
        if (gr < 0)
                return errno_from_gnutls(gr);

        *ret = TAKE_PTR(pub);
        return 0;
}

/* ---- certificate chains ------------------------------------------------------------------- */

static int chain_append(X509Chain *c, gnutls_x509_crt_t crt) {
        if (c->n >= X509_CHAIN_MAX)
                return -E2BIG;
        gnutls_x509_crt_t *n = realloc(c->certs, (c->n + 1) * sizeof(gnutls_x509_crt_t));
        if (!n)
                return -ENOMEM;
        c->certs = n;
        c->certs[c->n++] = crt;
        return 0;
}

static bool crt_equal(gnutls_x509_crt_t a, gnutls_x509_crt_t b) {
        return gnutls_x509_crt_equals(a, b) != 0;
}

static void pkcs11_obj_list_free(gnutls_pkcs11_obj_t *objs, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                gnutls_pkcs11_obj_deinit(objs[i]);
        gnutls_free(objs);
}

/* Every certificate object on the token(s) the URL names: the candidates for issuers. */
static int load_token_certs(const Pkcs11Url *u, X509Chain *ret) {
        _cleanup_(x509_chain_done) X509Chain all = {};
        _cleanup_free_ char *turl = NULL;
        gnutls_pkcs11_obj_t *objs = NULL;
        unsigned n = 0;
        int r, gr;

        Pkcs11Url t = { .token = u->token, .type = (char *) "cert" };
        r = pkcs11_url_format(&t, &turl);
        if (r < 0)
                return r;

        gr = gnutls_pkcs11_obj_list_import_url4(&objs, &n, turl, GNUTLS_PKCS11_OBJ_FLAG_CRT);
        if (errno_from_gnutls(gr) == -ENOKEY)
                n = 0;
        else if (gr < 0)
                return errno_from_gnutls(gr);

        r = 0;
        for (unsigned i = 0; i < n && all.n < 256; i++) {
                gnutls_x509_crt_t crt = NULL;

                if (gnutls_pkcs11_obj_get_type(objs[i]) != GNUTLS_PKCS11_OBJ_X509_CRT)
                        continue;
                gr = gnutls_x509_crt_init(&crt);
                if (gr < 0) {
                        r = errno_from_gnutls(gr);
                        break;
                }
                if (gnutls_x509_crt_import_pkcs11(crt, objs[i]) < 0) {
                        gnutls_x509_crt_deinit(crt); /* not a parseable certificate: no issuer */
                        continue;
                }
                gnutls_x509_crt_t *nc = realloc(all.certs, (all.n + 1) * sizeof(gnutls_x509_crt_t));
                if (!nc) {
                        gnutls_x509_crt_deinit(crt);
                        r = -ENOMEM;
                        break;
                }
                all.certs = nc;
                all.certs[all.n++] = crt;
        }
        pkcs11_obj_list_free(objs, n);
        if (r < 0)
                return r;

        *ret = all;
        all = (X509Chain) {};
        return 0;
}

static int load_pkcs11_chain(const char *url, X509Chain *ret) {
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        _cleanup_(x509_chain_done) X509Chain chain = {}, pool = {};
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t leaf = NULL;
        _cleanup_free_ char *gurl = NULL;
        int r, gr;

        r = pkcs11_url_parse(url, &u);
        if (r < 0)
                return r;
        if (u.type && !streq(u.type, "cert"))
                return -EINVAL;
        if (!u.id && !u.object)
                return -EINVAL;

        r = ensure_pkcs11_provider(u.module_path);
        if (r < 0)
                return r;

        r = pkcs11_url_for_gnutls(&u, "cert", &gurl);
        if (r < 0)
                return r;

        /* Certificates are public objects: no login. */
        gr = gnutls_x509_crt_init(&leaf);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_import_url(leaf, gurl, 0);
        if (errno_from_gnutls(gr) == -ENOKEY)
                return -ENOENT;
        if (gr < 0)
                return errno_from_gnutls(gr);

        r = chain_append(&chain, TAKE_PTR(leaf));
        if (r < 0)
                return r;

        r = load_token_certs(&u, &pool);
        if (r < 0)
                return r;

        /* Walk up by issuer name; stop at a self-signed certificate, at a certificate whose
         * issuer is not on the token, or at one already in the chain (a cycle). */
        while (chain.n < X509_CHAIN_MAX) {
                gnutls_x509_crt_t cur = chain.certs[chain.n - 1], next = NULL;

                if (gnutls_x509_crt_check_issuer(cur, cur))
                        break;
                for (size_t i = 0; i < pool.n && !next; i++) {
                        if (!gnutls_x509_crt_check_issuer(cur, pool.certs[i]))
                                continue;
                        bool seen = false;
                        for (size_t j = 0; j < chain.n; j++)
                                seen = seen || crt_equal(chain.certs[j], pool.certs[i]);
                        if (!seen)
                                next = pool.certs[i];
                }
                if (!next)
                        break;

                _cleanup_(gnutls_datum_freep) gnutls_datum_t der = {};
                _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t copy = NULL;
                gr = gnutls_x509_crt_export2(next, GNUTLS_X509_FMT_DER, &der);
                if (gr >= 0)
                        gr = gnutls_x509_crt_init(&copy);
                if (gr >= 0)
                        gr = gnutls_x509_crt_import(copy, &der, GNUTLS_X509_FMT_DER);
                if (gr < 0)
                        return errno_from_gnutls(gr);
                r = chain_append(&chain, TAKE_PTR(copy));
                if (r < 0)
                        return r;
        }

        *ret = chain;
        chain = (X509Chain) {};
        return 0;
}

static int load_file_chain(const char *url, X509Chain *ret) {
        _cleanup_free_ char *path = NULL, *reason = NULL;
        int r;

        r = file_url_path(url, &path);
        if (r < 0)
                return r;
        return x509_chain_load_file(path, ret, &reason);
}

int certurl_load_chain(const char *url, X509Chain *ret) {
        KeyUrlScheme s;
        CertUrlLoader loader;
        int r;

        if (!url || !ret)
                return -EINVAL;
        r = keyurl_scheme(url, &s);
        if (r < 0)
                return r;

        {
                LOCK_GUARD(&keyurl_lock);
                loader = registered_loaders[s];
        }
        if (loader)
                return loader(url, ret);

        switch (s) {
        case KEY_URL_FILE:
                return load_file_chain(url, ret);
        case KEY_URL_PKCS11:
                return load_pkcs11_chain(url, ret);
        case KEY_URL_TPM2:
                return -EPROTONOSUPPORT;
        case _KEY_URL_SCHEME_MAX:
                break;
        }
        return -EINVAL;
}

void keyurl_register(KeyUrlScheme scheme, KeyUrlOpener opener, CertUrlLoader loader) {
        if ((int) scheme < 0 || (int) scheme >= (int) _KEY_URL_SCHEME_MAX)
                return;
        LOCK_GUARD(&keyurl_lock);
        registered_openers[scheme] = opener;
        registered_loaders[scheme] = loader;
}

void keyurl_register_pubkey(KeyUrlScheme scheme, KeyUrlPubkeyOpener opener) {
        if ((int) scheme < 0 || (int) scheme >= (int) _KEY_URL_SCHEME_MAX)
                return;
        LOCK_GUARD(&keyurl_lock);
        registered_pubkey_openers[scheme] = opener;
}
