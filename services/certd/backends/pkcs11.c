/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pkcs11 key storage backend: raw PKCS#11 through p11-kit (SoftHSM2 in the tests).
 *
 * Several modules may share one token (one TokenLabel): every object this backend makes carries
 * CKA_LABEL = the module's type, and every search, list and deletion is restricted to that
 * label, so a module never sees or touches another module's objects. Ownership of the token
 * (set_owner) is the only token-wide operation, and it never destroys an object.
 *
 * Objects, all CKA_TOKEN:
 *   private key  CKA_ID = 16 random bytes, CKA_LABEL = type, sensitive, not extractable
 *   public key   the same CKA_ID and CKA_LABEL, a public object
 *   leaf cert    CKA_ID = its key's CKA_ID, CKA_LABEL = type, a public object
 *   intermediate CKA_ID = the first 16 bytes of SHA-256 of its DER, CKA_LABEL = type; stored
 *                once per module. That id is how an intermediate is told from a leaf: a leaf
 *                whose random id equals the hash of its own DER has probability 2^-128.
 *
 * Login state in PKCS#11 belongs to the token and the whole process, not to a session. An
 * operation that logs in logs out again before it returns. If the token is already logged in
 * as the user (a gnutls key opened by keyurl_open_privkey() is alive in this process and holds
 * a session), the operation uses that login and leaves it alone: logging out would break the
 * live key. set_owner is the exception: it starts from a clean state (logout first). */

#include <gnutls/crypto.h>
#include <libgen.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>

#include "backend.h"
#include "fs.h"
#include "keyurl.h"
#include "log.h"
#include "macro.h"
#include "x509.h"

#define TOKEN_LABEL_SIZE 32
#define KEY_ID_SIZE 16
#define USER_PIN_HEX_CHARS 32
#define PIN_FILE_MAX 256U
#define FIND_BATCH 64

/* ---- one loaded library per path, process-wide ------------------------------------------- */

typedef struct Pkcs11Library {
        char *path;                 /* NULL: every module p11-kit is configured with */
        CK_FUNCTION_LIST **modules; /* NULL-terminated, initialized */
        unsigned n_ref;
} Pkcs11Library;

static pthread_mutex_t libraries_lock = PTHREAD_MUTEX_INITIALIZER;
static Pkcs11Library **libraries;
static size_t n_libraries;

static void library_free(Pkcs11Library *lib) {
        if (!lib)
                return;
        if (lib->modules) {
                if (lib->path) {
                        (void) p11_kit_module_finalize(lib->modules[0]);
                        p11_kit_module_release(lib->modules[0]);
                        free(lib->modules);
                } else
                        p11_kit_modules_finalize_and_release(lib->modules);
        }
        free(lib->path);
        free(lib);
}

static int library_load(const char *path, Pkcs11Library **ret) {
        Pkcs11Library *lib = calloc(1, sizeof(Pkcs11Library));
        if (!lib)
                return log_oom();

        if (!path) {
                lib->modules = p11_kit_modules_load_and_initialize(0);
                if (!lib->modules) {
                        library_free(lib);
                        return log_error_errno(ENODEV, "Cannot load the PKCS#11 modules p11-kit is configured with: %s",
                                               strna(p11_kit_message()));
                }
                *ret = lib;
                return 0;
        }

        CK_FUNCTION_LIST **modules = calloc(2, sizeof(CK_FUNCTION_LIST *));
        lib->path = strdup(path);
        if (!modules || !lib->path) {
                free(modules);
                library_free(lib);
                return log_oom();
        }
        modules[0] = p11_kit_module_load(path, 0);
        if (!modules[0]) {
                free(modules);
                library_free(lib);
                return log_error_errno(ENODEV, "Cannot load the PKCS#11 library %s: %s", path, strna(p11_kit_message()));
        }
        CK_RV rv = p11_kit_module_initialize(modules[0]);
        if (rv != CKR_OK) {
                p11_kit_module_release(modules[0]);
                free(modules);
                library_free(lib);
                return log_error_errno(ENODEV, "Cannot initialize the PKCS#11 library %s: %s", path, p11_kit_strerror(rv));
        }
        lib->modules = modules;
        *ret = lib;
        return 0;
}

/* The library for path (NULL: p11-kit's configured modules), loaded once per process and
 * shared by every module that names it. */
static int library_acquire(const char *path, Pkcs11Library **ret) {
        Pkcs11Library *lib = NULL;
        int r;

        (void) pthread_mutex_lock(&libraries_lock);

        for (size_t i = 0; i < n_libraries && !lib; i++)
                if (streq_ptr(libraries[i]->path, path))
                        lib = libraries[i];
        if (lib) {
                lib->n_ref++;
                r = 0;
                goto finish;
        }

        Pkcs11Library **nl = realloc(libraries, (n_libraries + 1) * sizeof(Pkcs11Library *));
        if (!nl) {
                r = log_oom();
                goto finish;
        }
        libraries = nl;

        r = library_load(path, &lib);
        if (r < 0)
                goto finish;
        lib->n_ref = 1;
        libraries[n_libraries++] = lib;

finish:
        (void) pthread_mutex_unlock(&libraries_lock);
        if (r >= 0)
                *ret = lib;
        return r;
}

static void library_release(Pkcs11Library *lib) {
        if (!lib)
                return;

        (void) pthread_mutex_lock(&libraries_lock);
        if (--lib->n_ref == 0) {
                for (size_t i = 0; i < n_libraries; i++)
                        if (libraries[i] == lib) {
                                libraries[i] = libraries[--n_libraries];
                                break;
                        }
                if (n_libraries == 0) {
                        free(libraries);
                        libraries = NULL;
                }
                library_free(lib);
        }
        (void) pthread_mutex_unlock(&libraries_lock);
}

/* ---- the backend -------------------------------------------------------------------------- */

typedef struct Pkcs11Backend {
        CertBackend base;
        Pkcs11Library *library; /* loaded on first use if it was not there at start-up */
        char *token_label;
        char *pin_file;
} Pkcs11Backend;

static Pkcs11Backend *PKCS11(CertBackend *b) {
        return (Pkcs11Backend *) b;
}

static const char *backend_type(Pkcs11Backend *p) {
        return p->base.module->type;
}

static int rv_to_errno(CK_RV rv) {
        switch (rv) {
        case CKR_OK:
                return 0;
        case CKR_PIN_INCORRECT:
        case CKR_PIN_INVALID:
        case CKR_PIN_LEN_RANGE:
        case CKR_PIN_LOCKED:
        case CKR_PIN_EXPIRED:
        case CKR_USER_PIN_NOT_INITIALIZED:
        case CKR_USER_NOT_LOGGED_IN:
                return -EACCES;
        case CKR_HOST_MEMORY:
                return -ENOMEM;
        case CKR_DEVICE_MEMORY:
                return -ENOSPC;
        case CKR_DEVICE_ERROR:
        case CKR_DEVICE_REMOVED:
        case CKR_TOKEN_NOT_PRESENT:
        case CKR_TOKEN_NOT_RECOGNIZED:
        case CKR_SLOT_ID_INVALID:
        case CKR_CRYPTOKI_NOT_INITIALIZED:
                return -ENODEV;
        case CKR_OBJECT_HANDLE_INVALID:
                return -ENOENT;
        case CKR_SESSION_EXISTS:
                return -EBUSY;
        case CKR_MECHANISM_INVALID:
        case CKR_FUNCTION_NOT_SUPPORTED:
                return -EOPNOTSUPP;
        case CKR_TOKEN_WRITE_PROTECTED:
                return -EROFS;
        default:
                return -EIO;
        }
}

typedef struct Token {
        CK_FUNCTION_LIST *f;
        CK_SLOT_ID slot;
        CK_TOKEN_INFO info;
} Token;

static bool token_label_is(const CK_TOKEN_INFO *info, const char *want) {
        size_t l = TOKEN_LABEL_SIZE;
        while (l > 0 && (info->label[l - 1] == ' ' || info->label[l - 1] == 0))
                l--;
        return strlen(want) == l && memcmp(info->label, want, l) == 0;
}

static int backend_library(Pkcs11Backend *p, Pkcs11Library **ret) {
        if (!p->library) {
                int r = library_acquire(p->base.module->pkcs11_library, &p->library);
                if (r < 0)
                        return r;
        }
        *ret = p->library;
        return 0;
}

/* Finds the token labelled TokenLabel in any slot of the library; failing that, when
 * allow_free, the first token that is not initialized (the one set_owner would take).
 * -ENOENT when there is none, -ENODEV when the library is not usable. */
static int find_token(Pkcs11Backend *p, bool allow_free, Token *ret) {
        Pkcs11Library *lib;
        Token free_token = {};
        bool have_free = false;
        int r;

        r = backend_library(p, &lib);
        if (r < 0)
                return r;

        for (CK_FUNCTION_LIST **m = lib->modules; *m; m++) {
                _cleanup_free_ CK_SLOT_ID *slots = NULL;
                CK_ULONG n = 0;
                CK_RV rv;

                rv = (*m)->C_GetSlotList(CK_TRUE, NULL, &n);
                if (rv != CKR_OK || n == 0)
                        continue;
                slots = calloc(n, sizeof(CK_SLOT_ID));
                if (!slots)
                        return log_oom();
                rv = (*m)->C_GetSlotList(CK_TRUE, slots, &n);
                if (rv != CKR_OK)
                        continue;

                for (CK_ULONG i = 0; i < n; i++) {
                        CK_TOKEN_INFO info;
                        if ((*m)->C_GetTokenInfo(slots[i], &info) != CKR_OK)
                                continue;
                        if ((info.flags & CKF_TOKEN_INITIALIZED) && token_label_is(&info, p->token_label)) {
                                *ret = (Token) { .f = *m, .slot = slots[i], .info = info };
                                return 0;
                        }
                        if (allow_free && !have_free && !(info.flags & CKF_TOKEN_INITIALIZED) &&
                            !(info.flags & CKF_WRITE_PROTECTED)) {
                                free_token = (Token) { .f = *m, .slot = slots[i], .info = info };
                                have_free = true;
                        }
                }
        }

        if (!have_free)
                return -ENOENT;
        *ret = free_token;
        return 0;
}

/* find_token() for every operation but set_owner: the token must exist and be owned. */
static int find_owned_token(Pkcs11Backend *p, Token *ret) {
        int r = find_token(p, /* allow_free= */ false, ret);
        if (r == -ENOENT)
                return log_error_errno(ENODEV, "Module %s: no initialized token labelled '%s' (SetOwner first)",
                                       backend_type(p), p->token_label);
        return r;
}

typedef struct Session {
        CK_FUNCTION_LIST *f;
        CK_SESSION_HANDLE handle;
        bool open;
        bool logged_in; /* by us: log out before closing */
} Session;

static void session_done(Session *s) {
        if (s->logged_in)
                (void) s->f->C_Logout(s->handle);
        if (s->open)
                (void) s->f->C_CloseSession(s->handle);
        s->logged_in = s->open = false;
}

static int session_open(const Token *t, Session *ret) {
        CK_SESSION_HANDLE h;
        CK_RV rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
        if (rv != CKR_OK)
                return log_error_errno(rv_to_errno(rv), "Cannot open a session on the token: %s", p11_kit_strerror(rv));
        *ret = (Session) { .f = t->f, .handle = h, .open = true };
        return 0;
}

/* Logs in. With fresh, any login this process holds on the token is dropped first, so that the
 * PIN given is really checked. Returns the CK_RV (the caller decides what a wrong PIN means). */
static CK_RV session_login(Session *s, CK_USER_TYPE who, const char *pin, bool fresh) {
        CK_RV rv;

        if (fresh)
                (void) s->f->C_Logout(s->handle);

        rv = s->f->C_Login(s->handle, who, (CK_UTF8CHAR_PTR) pin, pin ? strlen(pin) : 0);
        if (rv == CKR_USER_ANOTHER_ALREADY_LOGGED_IN ||
            (rv == CKR_USER_ALREADY_LOGGED_IN && who == CKU_SO)) {
                /* Someone in this process is logged in as the other user type (or we cannot
                 * tell whether the SO login is ours): start over. */
                (void) s->f->C_Logout(s->handle);
                rv = s->f->C_Login(s->handle, who, (CK_UTF8CHAR_PTR) pin, pin ? strlen(pin) : 0);
        }
        if (rv == CKR_OK)
                s->logged_in = true;
        else if (rv == CKR_USER_ALREADY_LOGGED_IN)
                rv = CKR_OK; /* a live gnutls key holds the user login: use it, leave it */
        return rv;
}

static void session_logout(Session *s) {
        if (s->logged_in)
                (void) s->f->C_Logout(s->handle);
        s->logged_in = false;
}

/* The token says no to this PIN (rather than failing for another reason). */
static bool pin_rejected(CK_RV rv) {
        return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE ||
               rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED || rv == CKR_USER_PIN_NOT_INITIALIZED;
}

/* Reads the user PIN file. -ENOENT if missing, -EINVAL if empty. The caller wipes the PIN. */
static int read_user_pin(Pkcs11Backend *p, char **ret) {
        _cleanup_erase_free_ char *buf = NULL;
        size_t size;
        int r;

        r = read_file_full(p->pin_file, PIN_FILE_MAX, &buf, &size);
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

/* Logs in as the user with the stored PIN. */
static int session_login_user(Pkcs11Backend *p, Session *s) {
        _cleanup_erase_free_ char *pin = NULL;
        int r;

        r = read_user_pin(p, &pin);
        if (r == -ENOENT || r == -EINVAL)
                return log_error_errno(EACCES, "Module %s: the user PIN file %s is missing or empty (SetOwner first)",
                                       backend_type(p), p->pin_file);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot read the user PIN file %s: %m", backend_type(p), p->pin_file);

        CK_RV rv = session_login(s, CKU_USER, pin, /* fresh= */ false);
        if (rv != CKR_OK)
                return log_error_errno(rv_to_errno(rv), "Module %s: cannot log in to token '%s' with the PIN from %s: %s",
                                       backend_type(p), p->token_label, p->pin_file, p11_kit_strerror(rv));
        return 0;
}

/* Opens a session on the owned token and logs in as the user. */
static int open_user_session(Pkcs11Backend *p, Session *ret) {
        Token t;
        int r;

        r = find_owned_token(p, &t);
        if (r < 0)
                return r;
        r = session_open(&t, ret);
        if (r < 0)
                return r;
        r = session_login_user(p, ret);
        if (r < 0) {
                session_done(ret);
                return r;
        }
        return 0;
}

static int find_objects(Session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n_tmpl, CK_OBJECT_HANDLE **ret, size_t *ret_n) {
        _cleanup_free_ CK_OBJECT_HANDLE *objs = NULL;
        size_t n = 0;
        CK_RV rv;

        rv = s->f->C_FindObjectsInit(s->handle, tmpl, n_tmpl);
        if (rv != CKR_OK)
                return log_error_errno(rv_to_errno(rv), "Cannot search the token: %s", p11_kit_strerror(rv));

        for (;;) {
                CK_OBJECT_HANDLE *no = realloc(objs, (n + FIND_BATCH) * sizeof(CK_OBJECT_HANDLE));
                if (!no) {
                        (void) s->f->C_FindObjectsFinal(s->handle);
                        return log_oom();
                }
                objs = no;
                CK_ULONG k = 0;
                rv = s->f->C_FindObjects(s->handle, objs + n, FIND_BATCH, &k);
                if (rv != CKR_OK) {
                        (void) s->f->C_FindObjectsFinal(s->handle);
                        return log_error_errno(rv_to_errno(rv), "Cannot search the token: %s", p11_kit_strerror(rv));
                }
                n += k;
                if (k < FIND_BATCH)
                        break;
        }
        (void) s->f->C_FindObjectsFinal(s->handle);

        *ret = TAKE_PTR(objs);
        *ret_n = n;
        return 0;
}

static int get_attribute(Session *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, void **ret, size_t *ret_size) {
        CK_ATTRIBUTE a = { .type = type };
        CK_RV rv;

        rv = s->f->C_GetAttributeValue(s->handle, o, &a, 1);
        if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
                return rv == CKR_OK ? -ENODATA : rv_to_errno(rv);

        _cleanup_free_ void *v = malloc(a.ulValueLen + 1);
        if (!v)
                return -ENOMEM;
        a.pValue = v;
        rv = s->f->C_GetAttributeValue(s->handle, o, &a, 1);
        if (rv != CKR_OK)
                return rv_to_errno(rv);
        ((char *) v)[a.ulValueLen] = 0;

        *ret = TAKE_PTR(v);
        *ret_size = a.ulValueLen;
        return 0;
}

static int destroy_objects(Session *s, const CK_OBJECT_HANDLE *objs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                CK_RV rv = s->f->C_DestroyObject(s->handle, objs[i]);
                if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID)
                        return log_error_errno(rv_to_errno(rv), "Cannot destroy a token object: %s", p11_kit_strerror(rv));
        }
        return 0;
}

/* Objects of this module (CKA_LABEL == type) of one class (or every class with class_ == -1),
 * with the given CKA_ID if id is set. */
static int find_module_objects(Pkcs11Backend *p, Session *s, long class_, const void *id, size_t id_size,
                               CK_OBJECT_HANDLE **ret, size_t *ret_n) {
        CK_BBOOL yes = CK_TRUE;
        CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS) class_;
        const char *type = backend_type(p);
        CK_ATTRIBUTE tmpl[4] = {
                { CKA_TOKEN, &yes, sizeof yes },
                { CKA_LABEL, (void *) type, strlen(type) },
        };
        CK_ULONG n = 2;

        if (class_ >= 0)
                tmpl[n++] = (CK_ATTRIBUTE) { CKA_CLASS, &cls, sizeof cls };
        if (id)
                tmpl[n++] = (CK_ATTRIBUTE) { CKA_ID, (void *) id, id_size };
        return find_objects(s, tmpl, n, ret, ret_n);
}

/* ---- URLs ---------------------------------------------------------------------------------- */

static int format_url(Pkcs11Backend *p, const void *id, size_t id_size, const char *type, char **ret) {
        Pkcs11Url u = {
                .token = p->token_label,
                .object = (char *) backend_type(p),
                .id = (void *) id,
                .id_size = id_size,
                .type = (char *) type,
                .module_path = p->base.module->pkcs11_library,
                .pin_source = p->pin_file,
        };
        return pkcs11_url_format(&u, ret);
}

/* Parses a URL given to remove_*()/store_cert(): it must name an object of this module on this
 * token by its id. */
static int parse_module_url(Pkcs11Backend *p, const char *url, Pkcs11Url *ret) {
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        int r;

        r = pkcs11_url_parse(url, &u);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot parse the PKCS#11 URL: %m", backend_type(p));
        if (!u.id || !streq_ptr(u.object, backend_type(p)) || (u.token && !streq(u.token, p->token_label)))
                return log_error_errno(EINVAL, "Module %s: the URL does not name an object of this module",
                                       backend_type(p));
        *ret = u;
        u = (Pkcs11Url) {};
        return 0;
}

/* ---- certificates -------------------------------------------------------------------------- */

static int crt_der(gnutls_x509_crt_t crt, gnutls_datum_t *ret) {
        int gr = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, ret);
        return gr < 0 ? (gr == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL) : 0;
}

static void datum_freep(gnutls_datum_t *d) {
        gnutls_free(d->data);
        *d = (gnutls_datum_t) {};
}

static int intermediate_id(const void *der, size_t size, uint8_t ret[static KEY_ID_SIZE]) {
        uint8_t digest[32];
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der, size, digest) < 0)
                return -EIO;
        memcpy(ret, digest, KEY_ID_SIZE);
        return 0;
}

static bool is_intermediate(const void *id, size_t id_size, const void *der, size_t der_size) {
        uint8_t want[KEY_ID_SIZE];
        return id_size == KEY_ID_SIZE && intermediate_id(der, der_size, want) >= 0 &&
               memcmp(id, want, KEY_ID_SIZE) == 0;
}

static int create_cert_object(Pkcs11Backend *p, Session *s, gnutls_x509_crt_t crt, const gnutls_datum_t *der,
                              const void *id, size_t id_size) {
        _cleanup_(datum_freep) gnutls_datum_t subject = {}, issuer = {};
        uint8_t serial[64], serial_der[2 + sizeof serial];
        size_t serial_size = sizeof serial;
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_CERTIFICATE_TYPE ctype = CKC_X_509;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        const char *type = backend_type(p);
        CK_OBJECT_HANDLE h;
        CK_RV rv;

        if (gnutls_x509_crt_get_raw_dn(crt, &subject) < 0 || gnutls_x509_crt_get_raw_issuer_dn(crt, &issuer) < 0 ||
            gnutls_x509_crt_get_serial(crt, serial, &serial_size) < 0 || serial_size > 127)
                return log_error_errno(EINVAL, "Module %s: cannot read the certificate's names or serial",
                                       type);
        /* CKA_SERIAL_NUMBER is the DER encoding of the INTEGER, tag and length included. */
        serial_der[0] = 0x02;
        serial_der[1] = (uint8_t) serial_size;
        memcpy(serial_der + 2, serial, serial_size);

        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },
                { CKA_CERTIFICATE_TYPE, &ctype, sizeof ctype },
                { CKA_TOKEN, &yes, sizeof yes },
                { CKA_PRIVATE, &no, sizeof no }, /* certificates are public: readable without a PIN */
                { CKA_LABEL, (void *) type, strlen(type) },
                { CKA_ID, (void *) id, id_size },
                { CKA_SUBJECT, subject.data, subject.size },
                { CKA_ISSUER, issuer.data, issuer.size },
                { CKA_SERIAL_NUMBER, serial_der, serial_size + 2 },
                { CKA_VALUE, der->data, der->size },
        };
        rv = s->f->C_CreateObject(s->handle, tmpl, ELEMENTSOF(tmpl), &h);
        if (rv != CKR_OK)
                return log_error_errno(rv_to_errno(rv), "Module %s: cannot store a certificate on the token: %s",
                                       type, p11_kit_strerror(rv));
        return 0;
}

typedef struct ModuleCert {
        CK_OBJECT_HANDLE handle;
        void *id;
        size_t id_size;
        gnutls_x509_crt_t crt;
        bool intermediate;
        bool used;
} ModuleCert;

static void module_certs_free(ModuleCert *c, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(c[i].id);
                if (c[i].crt)
                        gnutls_x509_crt_deinit(c[i].crt);
        }
        free(c);
}

/* Every certificate object of this module, parsed. Objects that do not parse are skipped (and
 * logged): they are no one's certificate. */
static int load_module_certs(Pkcs11Backend *p, Session *s, ModuleCert **ret, size_t *ret_n) {
        _cleanup_free_ CK_OBJECT_HANDLE *objs = NULL;
        ModuleCert *certs = NULL;
        size_t n_objs = 0, n = 0;
        int r;

        r = find_module_objects(p, s, CKO_CERTIFICATE, NULL, 0, &objs, &n_objs);
        if (r < 0)
                return r;

        certs = calloc(MAX(n_objs, 1U), sizeof(ModuleCert));
        if (!certs)
                return log_oom();

        for (size_t i = 0; i < n_objs; i++) {
                _cleanup_free_ void *id = NULL, *der = NULL;
                size_t id_size, der_size;
                gnutls_x509_crt_t crt = NULL;

                r = get_attribute(s, objs[i], CKA_ID, &id, &id_size);
                if (r >= 0)
                        r = get_attribute(s, objs[i], CKA_VALUE, &der, &der_size);
                if (r == -ENOMEM) {
                        module_certs_free(certs, n);
                        return log_oom();
                }
                if (r < 0) {
                        log_warning_errno(r, "Module %s: cannot read a certificate object, ignoring: %m", backend_type(p));
                        continue;
                }
                if (gnutls_x509_crt_init(&crt) < 0) {
                        module_certs_free(certs, n);
                        return log_oom();
                }
                if (gnutls_x509_crt_import(crt, &(gnutls_datum_t) { der, (unsigned) der_size }, GNUTLS_X509_FMT_DER) < 0) {
                        gnutls_x509_crt_deinit(crt);
                        log_warning("Module %s: a certificate object does not parse, ignoring", backend_type(p));
                        continue;
                }
                certs[n++] = (ModuleCert) {
                        .handle = objs[i],
                        .id_size = id_size,
                        .crt = crt,
                        .intermediate = is_intermediate(id, id_size, der, der_size),
                };
                certs[n - 1].id = TAKE_PTR(id);
        }

        *ret = certs;
        *ret_n = n;
        return 0;
}

/* The chain of a leaf among the module's intermediates, by issuer name; marks them used. */
static int module_chain(ModuleCert *certs, size_t n, size_t leaf, X509Chain *ret) {
        size_t idx[X509_CHAIN_MAX];
        size_t len = 0;

        idx[len++] = leaf;
        while (len < X509_CHAIN_MAX) {
                gnutls_x509_crt_t cur = certs[idx[len - 1]].crt;
                if (gnutls_x509_crt_check_issuer(cur, cur))
                        break; /* self-signed */
                size_t next = SIZE_MAX;
                for (size_t i = 0; i < n && next == SIZE_MAX; i++) {
                        if (!certs[i].intermediate || !gnutls_x509_crt_check_issuer(cur, certs[i].crt))
                                continue;
                        bool seen = false;
                        for (size_t j = 0; j < len; j++)
                                seen = seen || idx[j] == i;
                        if (!seen)
                                next = i;
                }
                if (next == SIZE_MAX)
                        break;
                idx[len++] = next;
        }

        for (size_t i = 1; i < len; i++)
                certs[idx[i]].used = true;
        if (!ret)
                return 0;

        X509Chain c = { .certs = calloc(len, sizeof(gnutls_x509_crt_t)) };
        if (!c.certs)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                gnutls_datum_t der = {};
                int gr = gnutls_x509_crt_export2(certs[idx[i]].crt, GNUTLS_X509_FMT_DER, &der);
                if (gr >= 0)
                        gr = gnutls_x509_crt_init(&c.certs[c.n]);
                if (gr >= 0) {
                        c.n++;
                        gr = gnutls_x509_crt_import(c.certs[c.n - 1], &der, GNUTLS_X509_FMT_DER);
                }
                gnutls_free(der.data);
                if (gr < 0) {
                        x509_chain_done(&c);
                        return -ENOMEM;
                }
        }
        *ret = c;
        return 0;
}

/* Deletes the module's intermediates that no remaining leaf of the module chains to. */
static int prune_intermediates(Pkcs11Backend *p, Session *s) {
        ModuleCert *certs = NULL;
        size_t n = 0;
        int r;

        r = load_module_certs(p, s, &certs, &n);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++)
                if (!certs[i].intermediate)
                        (void) module_chain(certs, n, i, NULL);

        r = 0;
        for (size_t i = 0; i < n && r >= 0; i++)
                if (certs[i].intermediate && !certs[i].used) {
                        log_debug("Module %s: removing an intermediate certificate no leaf needs any more",
                                  backend_type(p));
                        r = destroy_objects(s, &certs[i].handle, 1);
                }
        module_certs_free(certs, n);
        return r;
}

/* ---- operations ---------------------------------------------------------------------------- */

static int pkcs11_init(CertBackend *b) {
        Pkcs11Backend *p = PKCS11(b);
        const ModuleConfig *m = b->module;

        p->token_label = strdup(isempty(m->token_label) ? "aoscore" : m->token_label);
        if (!p->token_label)
                return log_oom();
        if (strlen(p->token_label) > TOKEN_LABEL_SIZE)
                return log_error_errno(EINVAL, "Module %s: TokenLabel '%s' is longer than %d bytes",
                                       m->type, p->token_label, TOKEN_LABEL_SIZE);
        if (!isempty(m->user_pin_file))
                p->pin_file = strdup(m->user_pin_file);
        else if (asprintf(&p->pin_file, "/var/lib/aos/%s.pin", p->token_label) < 0)
                p->pin_file = NULL;
        if (!p->pin_file)
                return log_oom();

        /* The library may appear later (a module that is not there at boot): then every
         * operation tries again. */
        int r = library_acquire(m->pkcs11_library, &p->library);
        if (r < 0)
                log_warning_errno(r, "Module %s: PKCS#11 library not usable yet, will retry: %m", m->type);
        return 0;
}

static void pkcs11_done(CertBackend *b) {
        Pkcs11Backend *p = PKCS11(b);

        library_release(p->library);
        p->library = NULL;
        free(p->token_label);
        free(p->pin_file);
}

/* Sets a new CSPRNG user PIN (as SO) and stores it 0600 in the PIN file. */
static int set_user_pin(Pkcs11Backend *p, const Token *t, const char *password) {
        _cleanup_(session_done) Session s = {};
        _cleanup_erase_free_ char *pin = NULL;
        uint8_t raw[USER_PIN_HEX_CHARS / 2];
        int r;

        if (t->info.ulMaxPinLen < USER_PIN_HEX_CHARS || t->info.ulMinPinLen > USER_PIN_HEX_CHARS)
                return log_error_errno(EOPNOTSUPP, "Module %s: token '%s' does not take a %d character PIN",
                                       backend_type(p), p->token_label, USER_PIN_HEX_CHARS);

        r = random_bytes(raw, sizeof raw);
        if (r < 0)
                return log_error_errno(r, "Cannot get random bytes: %m");
        pin = hexmem(raw, sizeof raw);
        explicit_bzero(raw, sizeof raw);
        if (!pin)
                return log_oom();

        r = session_open(t, &s);
        if (r < 0)
                return r;
        CK_RV rv = session_login(&s, CKU_SO, password, /* fresh= */ true);
        if (rv != CKR_OK)
                return log_error_errno(rv_to_errno(rv), "Module %s: cannot log in to token '%s' as SO: %s",
                                       backend_type(p), p->token_label, p11_kit_strerror(rv));
        rv = s.f->C_InitPIN(s.handle, (CK_UTF8CHAR_PTR) pin, strlen(pin));
        if (rv != CKR_OK)
                return log_error_errno(rv_to_errno(rv), "Module %s: cannot set the user PIN of token '%s': %s",
                                       backend_type(p), p->token_label, p11_kit_strerror(rv));
        session_done(&s);

        /* A crash between C_InitPIN and here leaves a stale PIN file: the next set_owner (with
         * the right password) notices and sets a new PIN. */
        _cleanup_free_ char *dir = strdup(p->pin_file);
        if (!dir)
                return log_oom();
        r = mkdir_p(dirname(dir), 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create the directory of %s: %m", p->pin_file);
        r = write_file_atomic(p->pin_file, pin, strlen(pin), 0600);
        if (r < 0)
                return log_error_errno(r, "Cannot write the user PIN file %s: %m", p->pin_file);

        log_info("Module %s: set a new user PIN on token '%s' (stored in %s)", backend_type(p), p->token_label,
                 p->pin_file);
        return 0;
}

static int init_free_token(Pkcs11Backend *p, const Token *free_token, const char *password) {
        CK_UTF8CHAR label[TOKEN_LABEL_SIZE];
        Token t;
        CK_RV rv;
        int r;

        memset(label, ' ', sizeof label);
        memcpy(label, p->token_label, strlen(p->token_label));

        /* A fresh token has no SO PIN to be wrong about: a PIN error is about the password's
         * length or characters. */
        size_t l = strlen(password);
        if (l < free_token->info.ulMinPinLen || l > free_token->info.ulMaxPinLen)
                rv = CKR_PIN_LEN_RANGE;
        else
                rv = free_token->f->C_InitToken(free_token->slot, (CK_UTF8CHAR_PTR) password, l, label);
        if (rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID || rv == CKR_PIN_INCORRECT)
                return log_error_errno(EINVAL, "Module %s: the password does not fit the token's SO PIN rules "
                                       "(%lu..%lu characters)", backend_type(p), (unsigned long) free_token->info.ulMinPinLen,
                                       (unsigned long) free_token->info.ulMaxPinLen);
        if (rv != CKR_OK)
                return log_error_errno(rv_to_errno(rv), "Module %s: cannot initialize a token as '%s': %s",
                                       backend_type(p), p->token_label, p11_kit_strerror(rv));
        log_info("Module %s: initialized token '%s'", backend_type(p), p->token_label);

        /* Some modules renumber the slot of a token they initialized: look it up again. */
        r = find_token(p, /* allow_free= */ false, &t);
        if (r == -ENOENT) {
                t = *free_token;
                rv = t.f->C_GetTokenInfo(t.slot, &t.info);
                if (rv != CKR_OK)
                        return log_error_errno(rv_to_errno(rv), "Module %s: the token initialized is gone: %s",
                                               backend_type(p), p11_kit_strerror(rv));
        } else if (r < 0)
                return r;

        return set_user_pin(p, &t, password);
}

/* set_owner on a token that is initialized already.
 *
 * The password must be the token's SO PIN. Then nothing on the token changes, except that the
 * user PIN is set anew (C_InitPIN as SO) if the PIN file is missing, empty, or no longer
 * opens the token (stale): the token is ours, so the PIN file is made to work again. No object
 * is ever destroyed, so other modules on the token keep theirs.
 *
 * A different password is -EACCES, whether or not the token holds objects. The header asks to
 * re-initialize a token that holds no objects at all, but PKCS#11 cannot do that: C_InitToken
 * on an initialized token authenticates with the *current* SO PIN (SoftHSM answers
 * CKR_PIN_INCORRECT), so a token whose SO PIN we do not know cannot be re-initialized by any
 * means, empty or not. Nor do we spend a second SO PIN attempt trying: a real token locks its
 * SO PIN after a few wrong ones, for good. Re-owning a token under a new password takes the
 * vendor's tool (or softhsm2-util --delete-token). */
static int take_initialized_token(Pkcs11Backend *p, const Token *t, const char *password) {
        _cleanup_(session_done) Session s = {};
        _cleanup_erase_free_ char *pin = NULL;
        CK_RV rv;
        int r;

        r = session_open(t, &s);
        if (r < 0)
                return r;

        rv = session_login(&s, CKU_SO, password, /* fresh= */ true);
        switch (rv) {
        case CKR_OK:
                break;
        case CKR_PIN_INCORRECT:
        case CKR_PIN_INVALID:
        case CKR_PIN_LEN_RANGE:
                return log_error_errno(EACCES, "Module %s: token '%s' is owned with a different password",
                                       backend_type(p), p->token_label);
        case CKR_PIN_LOCKED:
                return log_error_errno(EACCES, "Module %s: the SO PIN of token '%s' is locked",
                                       backend_type(p), p->token_label);
        default:
                return log_error_errno(rv_to_errno(rv), "Module %s: cannot log in to token '%s' as SO: %s",
                                       backend_type(p), p->token_label, p11_kit_strerror(rv));
        }
        session_logout(&s);

        /* The password is right. Is the PIN file good? */
        r = read_user_pin(p, &pin);
        if (r >= 0) {
                rv = session_login(&s, CKU_USER, pin, /* fresh= */ true);
                session_logout(&s);
                if (rv == CKR_OK) {
                        log_debug("Module %s: token '%s' is owned with this password already", backend_type(p),
                                  p->token_label);
                        return 0;
                }
                if (!pin_rejected(rv))
                        return log_error_errno(rv_to_errno(rv), "Module %s: cannot log in to token '%s': %s",
                                               backend_type(p), p->token_label, p11_kit_strerror(rv));
                log_notice("Module %s: the user PIN in %s does not open token '%s'; setting a new one",
                           backend_type(p), p->pin_file, p->token_label);
        } else if (r == -ENOENT || r == -EINVAL)
                log_notice("Module %s: no user PIN in %s; setting a new one on token '%s'", backend_type(p),
                           p->pin_file, p->token_label);
        else
                return log_error_errno(r, "Module %s: cannot read the user PIN file %s: %m", backend_type(p), p->pin_file);

        session_done(&s);
        return set_user_pin(p, t, password);
}

static int pkcs11_set_owner(CertBackend *b, const char *password) {
        Pkcs11Backend *p = PKCS11(b);
        Token t;
        int r;

        if (isempty(password))
                return log_error_errno(EINVAL, "Module %s: an empty password cannot own a token", b->module->type);

        r = find_token(p, /* allow_free= */ true, &t);
        if (r == -ENOENT)
                return log_error_errno(ENODEV, "Module %s: no token labelled '%s' and no uninitialized token",
                                       b->module->type, p->token_label);
        if (r < 0)
                return r;

        if (!(t.info.flags & CKF_TOKEN_INITIALIZED))
                return init_free_token(p, &t, password);
        return take_initialized_token(p, &t, password);
}

static int destroy_key_pair(Pkcs11Backend *p, Session *s, const void *id, size_t id_size, bool *ret_found) {
        /* The private key first: a crash in between leaves a public key, which a repeated
         * remove_key or clear finds; never a private key gnutls could not open. */
        static const long classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };
        bool found = false;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(classes); i++) {
                _cleanup_free_ CK_OBJECT_HANDLE *objs = NULL;
                size_t n;
                r = find_module_objects(p, s, classes[i], id, id_size, &objs, &n);
                if (r < 0)
                        return r;
                r = destroy_objects(s, objs, n);
                if (r < 0)
                        return r;
                found = found || n > 0;
        }
        if (ret_found)
                *ret_found = found;
        return 0;
}

static int key_id_of_url(const char *url, char **ret) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        int r;

        r = keyurl_open_privkey(url, &key);
        if (r < 0)
                return r;
        return x509_privkey_key_id(key, ret);
}

static int pkcs11_create_key(CertBackend *b, char **ret_key_url, char **ret_key_id) {
        Pkcs11Backend *p = PKCS11(b);
        _cleanup_(session_done) Session s = {};
        _cleanup_free_ char *url = NULL, *key_id = NULL;
        static const CK_BYTE secp384r1[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
        static const CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_ULONG bits = 2048;
        const char *type = b->module->type;
        uint8_t id[KEY_ID_SIZE];
        CK_OBJECT_HANDLE pub, priv;
        CK_MECHANISM mech = {};
        CK_RV rv;
        int r;

        r = random_bytes(id, sizeof id);
        if (r < 0)
                return log_error_errno(r, "Cannot get random bytes: %m");

        /* Identity keys only sign: a key that could also decrypt or unwrap would be an oracle
         * for anyone who may use it. */
        CK_ATTRIBUTE pub_tmpl[9] = {
                { CKA_TOKEN, &yes, sizeof yes },
                { CKA_PRIVATE, &no, sizeof no },
                { CKA_VERIFY, &yes, sizeof yes },
                { CKA_ENCRYPT, &no, sizeof no },
                { CKA_WRAP, &no, sizeof no },
                { CKA_ID, id, sizeof id },
                { CKA_LABEL, (void *) type, strlen(type) },
        };
        CK_ULONG n_pub = 7;
        CK_ATTRIBUTE priv_tmpl[] = {
                { CKA_TOKEN, &yes, sizeof yes },
                { CKA_PRIVATE, &yes, sizeof yes },
                { CKA_SENSITIVE, &yes, sizeof yes },
                { CKA_EXTRACTABLE, &no, sizeof no },
                { CKA_SIGN, &yes, sizeof yes },
                { CKA_DECRYPT, &no, sizeof no },
                { CKA_UNWRAP, &no, sizeof no },
                { CKA_DERIVE, &no, sizeof no },
                { CKA_ID, id, sizeof id },
                { CKA_LABEL, (void *) type, strlen(type) },
        };

        switch (b->module->algorithm) {
        case KEY_ALGORITHM_ECDSA:
                mech.mechanism = CKM_EC_KEY_PAIR_GEN;
                pub_tmpl[n_pub++] = (CK_ATTRIBUTE) { CKA_EC_PARAMS, (void *) secp384r1, sizeof secp384r1 };
                break;
        case KEY_ALGORITHM_RSA:
                mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
                pub_tmpl[n_pub++] = (CK_ATTRIBUTE) { CKA_MODULUS_BITS, &bits, sizeof bits };
                pub_tmpl[n_pub++] = (CK_ATTRIBUTE) { CKA_PUBLIC_EXPONENT, (void *) exponent, sizeof exponent };
                break;
        case _KEY_ALGORITHM_MAX:
                return log_error_errno(EINVAL, "Module %s: unknown key algorithm", type);
        }

        r = open_user_session(p, &s);
        if (r < 0)
                return r;

        rv = s.f->C_GenerateKeyPair(s.handle, &mech, pub_tmpl, n_pub, priv_tmpl, ELEMENTSOF(priv_tmpl), &pub, &priv);
        if (rv != CKR_OK)
                return log_error_errno(rv_to_errno(rv), "Module %s: cannot generate a %s key on token '%s': %s", type,
                                       key_algorithm_to_string(b->module->algorithm), p->token_label,
                                       p11_kit_strerror(rv));
        session_done(&s);

        r = format_url(p, id, sizeof id, "private", &url);
        if (r < 0)
                return log_oom();

        /* The key id comes from the key as gnutls sees it, exactly as for any other key. This
         * opens the key after our session is gone, so that our logout cannot break it. */
        r = key_id_of_url(url, &key_id);
        if (r < 0) {
                log_error_errno(r, "Module %s: cannot open the key just made: %m", type);
                (void) b->vtable->remove_key(b, url);
                return r;
        }

        log_debug("Module %s: made a %s key on token '%s'", type, key_algorithm_to_string(b->module->algorithm),
                  p->token_label);
        *ret_key_url = TAKE_PTR(url);
        *ret_key_id = TAKE_PTR(key_id);
        return 0;
}

static int pkcs11_remove_key(CertBackend *b, const char *key_url) {
        Pkcs11Backend *p = PKCS11(b);
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        _cleanup_(session_done) Session s = {};
        Token t;
        bool found;
        int r;

        r = parse_module_url(p, key_url, &u);
        if (r < 0)
                return r;

        r = find_token(p, /* allow_free= */ false, &t);
        if (r == -ENOENT)
                return 0; /* no token, no key */
        if (r < 0)
                return r;
        r = session_open(&t, &s);
        if (r < 0)
                return r;
        r = session_login_user(p, &s);
        if (r < 0)
                return r;

        r = destroy_key_pair(p, &s, u.id, u.id_size, &found);
        if (r < 0)
                return r;
        log_debug("Module %s: %s", b->module->type, found ? "removed a key" : "key to remove was gone already");
        return 0;
}

static int pkcs11_store_cert(CertBackend *b, const char *key_url, const X509Chain *chain, char **ret_cert_url) {
        Pkcs11Backend *p = PKCS11(b);
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        _cleanup_(session_done) Session s = {};
        _cleanup_free_ CK_OBJECT_HANDLE *keys = NULL, *old = NULL;
        _cleanup_free_ char *url = NULL;
        size_t n_keys, n_old;
        bool have = false;
        int r;

        if (!chain || chain->n == 0)
                return -EINVAL;
        r = parse_module_url(p, key_url, &u);
        if (r < 0)
                return r;

        r = open_user_session(p, &s);
        if (r < 0)
                return r;

        r = find_module_objects(p, &s, CKO_PRIVATE_KEY, u.id, u.id_size, &keys, &n_keys);
        if (r < 0)
                return r;
        if (n_keys == 0)
                return log_error_errno(ENOENT, "Module %s: the key for this certificate is not on the token",
                                       b->module->type);

        /* The leaf. A repeated call (after a crash) finds it there already; another certificate
         * under the same id is replaced. */
        {
                _cleanup_(datum_freep) gnutls_datum_t der = {};
                r = crt_der(chain->certs[0], &der);
                if (r < 0)
                        return log_error_errno(r, "Module %s: cannot encode the certificate: %m", b->module->type);

                r = find_module_objects(p, &s, CKO_CERTIFICATE, u.id, u.id_size, &old, &n_old);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n_old; i++) {
                        _cleanup_free_ void *v = NULL;
                        size_t vs;
                        if (!have && get_attribute(&s, old[i], CKA_VALUE, &v, &vs) >= 0 && vs == der.size &&
                            memcmp(v, der.data, vs) == 0) {
                                have = true;
                                continue;
                        }
                        r = destroy_objects(&s, &old[i], 1);
                        if (r < 0)
                                return r;
                }
                if (!have) {
                        r = create_cert_object(p, &s, chain->certs[0], &der, u.id, u.id_size);
                        if (r < 0)
                                return r;
                }
        }

        /* The intermediates, once each per module. */
        for (size_t i = 1; i < chain->n; i++) {
                _cleanup_(datum_freep) gnutls_datum_t der = {};
                _cleanup_free_ CK_OBJECT_HANDLE *same = NULL;
                uint8_t id[KEY_ID_SIZE];
                size_t n_same;

                r = crt_der(chain->certs[i], &der);
                if (r < 0)
                        return log_error_errno(r, "Module %s: cannot encode certificate %zu of the chain: %m",
                                               b->module->type, i + 1);
                r = intermediate_id(der.data, der.size, id);
                if (r < 0)
                        return log_error_errno(r, "Cannot hash a certificate: %m");

                r = find_module_objects(p, &s, CKO_CERTIFICATE, id, sizeof id, &same, &n_same);
                if (r < 0)
                        return r;
                if (n_same > 0)
                        continue;
                r = create_cert_object(p, &s, chain->certs[i], &der, id, sizeof id);
                if (r < 0)
                        return r;
        }

        r = format_url(p, u.id, u.id_size, "cert", &url);
        if (r < 0)
                return log_oom();

        log_debug("Module %s: stored a certificate chain of %zu on token '%s'", b->module->type, chain->n,
                  p->token_label);
        *ret_cert_url = TAKE_PTR(url);
        return 0;
}

static int pkcs11_remove_cert(CertBackend *b, const char *cert_url) {
        Pkcs11Backend *p = PKCS11(b);
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        _cleanup_(session_done) Session s = {};
        _cleanup_free_ CK_OBJECT_HANDLE *objs = NULL;
        size_t n;
        Token t;
        int r;

        r = parse_module_url(p, cert_url, &u);
        if (r < 0)
                return r;

        r = find_token(p, /* allow_free= */ false, &t);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = session_open(&t, &s);
        if (r < 0)
                return r;
        /* Certificates are public objects; log in anyway, so that this looks like every other
         * change to the token. */
        r = session_login_user(p, &s);
        if (r < 0)
                return r;

        r = find_module_objects(p, &s, CKO_CERTIFICATE, u.id, u.id_size, &objs, &n);
        if (r < 0)
                return r;
        r = destroy_objects(&s, objs, n);
        if (r < 0)
                return r;

        return prune_intermediates(p, &s);
}

static int pkcs11_list(CertBackend *b, BackendObject **ret, size_t *ret_n) {
        Pkcs11Backend *p = PKCS11(b);
        _cleanup_(session_done) Session s = {};
        _cleanup_free_ CK_OBJECT_HANDLE *keys = NULL;
        BackendObject *objs = NULL;
        ModuleCert *certs = NULL;
        size_t n_keys = 0, n_certs = 0, n = 0;
        Token t;
        int r;

        r = find_token(p, /* allow_free= */ false, &t);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        r = session_open(&t, &s);
        if (r < 0)
                return r;
        /* Without the user login the private keys are invisible, and a list without them would
         * make the caller drop certificates whose keys are there: fail instead. */
        r = session_login_user(p, &s);
        if (r < 0)
                return r;

        r = find_module_objects(p, &s, CKO_PRIVATE_KEY, NULL, 0, &keys, &n_keys);
        if (r < 0)
                return r;
        r = load_module_certs(p, &s, &certs, &n_certs);
        if (r < 0)
                return r;

        objs = calloc(n_keys + n_certs + 1, sizeof(BackendObject));
        if (!objs) {
                r = log_oom();
                goto fail;
        }

        for (size_t i = 0; i < n_keys; i++) {
                _cleanup_free_ CK_OBJECT_HANDLE *pubs = NULL;
                _cleanup_free_ void *id = NULL;
                size_t id_size, n_pubs;
                BackendObject *o = &objs[n];

                r = get_attribute(&s, keys[i], CKA_ID, &id, &id_size);
                if (r == -ENOMEM)
                        goto fail;
                if (r < 0 || id_size == 0) {
                        log_warning("Module %s: a private key without CKA_ID, ignoring", b->module->type);
                        continue;
                }
                /* A private key without its public key is the leftover of a clear that could
                 * not log in; gnutls cannot use it (no public half), and it pairs with
                 * nothing. Not listed; clear() removes it once the PIN works again. */
                r = find_module_objects(p, &s, CKO_PUBLIC_KEY, id, id_size, &pubs, &n_pubs);
                if (r < 0)
                        goto fail;
                if (n_pubs == 0) {
                        log_warning("Module %s: a private key without its public key on token '%s', ignoring",
                                    b->module->type, p->token_label);
                        continue;
                }

                *o = (BackendObject) { .kind = BACKEND_OBJECT_KEY };
                n++;
                r = format_url(p, id, id_size, "private", &o->url);
                if (r < 0)
                        goto fail;
                /* We are logged in, so gnutls finds the login in place and neither logs in nor
                 * out itself. Any failure fails the whole list: a key left out of it could be
                 * taken for gone by the caller. */
                r = key_id_of_url(o->url, &o->key_id);
                if (r < 0) {
                        log_error_errno(r, "Module %s: cannot read the public half of a key: %m", b->module->type);
                        goto fail;
                }
        }

        for (size_t i = 0; i < n_certs; i++) {
                _cleanup_(x509_cert_info_done) X509CertInfo info = {};
                BackendObject *o = &objs[n];

                if (certs[i].intermediate)
                        continue;
                *o = (BackendObject) { .kind = BACKEND_OBJECT_CERT };
                n++;
                r = format_url(p, certs[i].id, certs[i].id_size, "cert", &o->url);
                if (r < 0)
                        goto fail;
                r = module_chain(certs, n_certs, i, &o->chain);
                if (r < 0)
                        goto fail;
                r = x509_cert_info(certs[i].crt, &info);
                if (r < 0)
                        goto fail;
                o->key_id = TAKE_PTR(info.key_id);
        }

        module_certs_free(certs, n_certs);
        *ret = objs;
        *ret_n = n;
        return 0;

fail:
        module_certs_free(certs, n_certs);
        backend_objects_free(objs, n);
        return r < 0 ? r : -ENOMEM;
}

static int pkcs11_clear(CertBackend *b) {
        Pkcs11Backend *p = PKCS11(b);
        _cleanup_(session_done) Session s = {};
        _cleanup_free_ CK_OBJECT_HANDLE *objs = NULL;
        size_t n;
        Token t;
        int r;

        r = find_token(p, /* allow_free= */ false, &t);
        if (r == -ENOENT)
                return 0; /* not initialized: nothing of ours there */
        if (r < 0)
                return r;
        r = session_open(&t, &s);
        if (r < 0)
                return r;
        /* Without a working user PIN only the public objects can be seen and removed. Do that
         * and go on: Clear comes before SetOwner in provisioning, and SetOwner is what repairs
         * the PIN; the private keys left behind show up in list() afterwards and are removed by
         * reconciliation as keys nobody asked for. */
        r = session_login_user(p, &s);
        if (r < 0)
                log_warning_errno(r, "Module %s: clearing the public objects only: %m", b->module->type);

        r = find_module_objects(p, &s, -1, NULL, 0, &objs, &n);
        if (r < 0)
                return r;
        r = destroy_objects(&s, objs, n);
        if (r < 0)
                return r;

        log_debug("Module %s: cleared %zu objects from token '%s'", b->module->type, n, p->token_label);
        return 0;
}

const CertBackendVTable backend_pkcs11_vtable = {
        .name = "pkcs11",
        .object_size = sizeof(Pkcs11Backend),
        .init = pkcs11_init,
        .done = pkcs11_done,
        .set_owner = pkcs11_set_owner,
        .create_key = pkcs11_create_key,
        .remove_key = pkcs11_remove_key,
        .store_cert = pkcs11_store_cert,
        .remove_cert = pkcs11_remove_cert,
        .list = pkcs11_list,
        .clear = pkcs11_clear,
};
