/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sw key storage backend, for development: keys generated in software and kept in files.
 *   StorageDir/<type>/            0700, this module's only storage
 *   StorageDir/<type>/<id>.key    the private key, PEM PKCS#8 unencrypted, 0600
 *   StorageDir/<type>/<id>.pem    the certificate chain, leaf first, 0600 as well (DESIGN §4;
 *                                 readers get certificates over the bus)
 * <id> is 32 random hex characters; a certificate takes the id of its key. URLs are
 * "file:<path>". Nothing here protects a key from root: use pkcs11 or tpm for that. */

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "backend.h"
#include "fs.h"
#include "keyurl.h"
#include "log.h"
#include "macro.h"
#include "x509.h"

#define SW_ID_BYTES 16

typedef struct SwBackend {
        CertBackend base;
        char *dir; /* StorageDir/<type> */
} SwBackend;

static SwBackend *SW(CertBackend *b) {
        return (SwBackend *) b;
}

static int sw_init(CertBackend *b) {
        SwBackend *s = SW(b);
        const char *storage = isempty(b->certd->storage_dir) ? "/var/lib/aos/certs" : b->certd->storage_dir;

        if (asprintf(&s->dir, "%s/%s", storage, b->module->type) < 0) {
                s->dir = NULL;
                return log_oom();
        }
        return 0;
}

static void sw_done(CertBackend *b) {
        free(SW(b)->dir);
}

/* StorageDir (0755, shared by the modules) and StorageDir/<type> (0700, ours). */
static int ensure_dir(SwBackend *s) {
        _cleanup_free_ char *parent = strndup(s->dir, strrchr(s->dir, '/') - s->dir);
        int r;

        if (!parent)
                return log_oom();
        if (!isempty(parent)) {
                r = mkdir_p(parent, 0755);
                if (r < 0)
                        return log_error_errno(r, "Cannot create %s: %m", parent);
        }
        if (mkdir(s->dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", s->dir);
        /* An existing directory may have been made with another mode. */
        if (chmod(s->dir, 0700) < 0)
                return log_error_errno(errno, "Cannot set the mode of %s: %m", s->dir);
        return 0;
}

static int sw_set_owner(CertBackend *b, const char *password) {
        /* Files have no owner to take: the password protects nothing here. */
        return ensure_dir(SW(b));
}

/* The path of one of our files named by url: StorageDir/<type>/<stem><suffix>, nothing else
 * (a URL that points anywhere else is refused, so a module can only remove its own files). */
static int module_file(SwBackend *s, const char *url, const char *suffix, char **ret_path) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = file_url_path(url, &path);
        if (r < 0)
                return log_error_errno(r, "Module %s: not a file: URL: %m", s->base.module->type);

        const char *name = startswith(path, s->dir);
        size_t l = name ? strlen(name) : 0;
        if (!name || name[0] != '/' || strchr(name + 1, '/') || l <= 1 + strlen(suffix) ||
            !streq(name + l - strlen(suffix), suffix) || name[1] == '.')
                return log_error_errno(EINVAL, "Module %s: %s is not a file of this module", s->base.module->type, path);

        *ret_path = TAKE_PTR(path);
        return 0;
}

static int file_url(const char *path, char **ret) {
        char *u;
        if (asprintf(&u, "file:%s", path) < 0)
                return -ENOMEM;
        *ret = u;
        return 0;
}

static int privkey_generate(KeyAlgorithm algorithm, gnutls_privkey_t *ret) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        gnutls_pk_algorithm_t pk = GNUTLS_PK_UNKNOWN;
        unsigned bits = 0;
        int gr;

        switch (algorithm) {
        case KEY_ALGORITHM_ECDSA:
                pk = GNUTLS_PK_ECDSA;
                bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1);
                break;
        case KEY_ALGORITHM_RSA:
                pk = GNUTLS_PK_RSA;
                bits = 2048;
                break;
        case _KEY_ALGORITHM_MAX:
                return -EINVAL;
        }

        gr = gnutls_privkey_init(&key);
        if (gr >= 0)
                gr = gnutls_privkey_generate2(key, pk, bits, 0, NULL, 0);
        if (gr < 0)
                return gr == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EIO;

        *ret = TAKE_PTR(key);
        return 0;
}

/* PEM PKCS#8, unencrypted: the file's mode is its protection. The caller wipes it. */
static int privkey_to_pem(gnutls_privkey_t key, gnutls_datum_t *ret) {
        gnutls_x509_privkey_t x = NULL;
        int gr;

        gr = gnutls_privkey_export_x509(key, &x);
        if (gr >= 0)
                gr = gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, ret);
        if (x)
                gnutls_x509_privkey_deinit(x);
        return gr < 0 ? (gr == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EIO) : 0;
}

static int sw_create_key(CertBackend *b, char **ret_key_url, char **ret_key_id) {
        SwBackend *s = SW(b);
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_free_ char *id = NULL, *path = NULL, *url = NULL, *key_id = NULL;
        gnutls_datum_t pem = {};
        uint8_t raw[SW_ID_BYTES];
        int r;

        r = ensure_dir(s);
        if (r < 0)
                return r;

        r = privkey_generate(b->module->algorithm, &key);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot generate a %s key: %m", b->module->type,
                                       strna(key_algorithm_to_string(b->module->algorithm)));
        r = x509_privkey_key_id(key, &key_id);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot compute the key id: %m", b->module->type);

        r = random_bytes(raw, sizeof raw);
        if (r < 0)
                return log_error_errno(r, "Cannot get random bytes: %m");
        id = hexmem(raw, sizeof raw);
        if (!id || asprintf(&path, "%s/%s.key", s->dir, id) < 0 || file_url(path, &url) < 0)
                return log_oom();

        r = privkey_to_pem(key, &pem);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot encode the key: %m", b->module->type);
        r = write_file_atomic(path, pem.data, pem.size, 0600);
        gnutls_memset(pem.data, 0, pem.size);
        gnutls_free(pem.data);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot write %s: %m", b->module->type, path);

        log_debug("Module %s: made a %s key in %s", b->module->type,
                  strna(key_algorithm_to_string(b->module->algorithm)), path);
        *ret_key_url = TAKE_PTR(url);
        *ret_key_id = TAKE_PTR(key_id);
        return 0;
}

static int sw_remove_file(SwBackend *s, const char *url, const char *suffix) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = module_file(s, url, suffix, &path);
        if (r < 0)
                return r;
        r = unlink_durable(path);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot remove %s: %m", s->base.module->type, path);
        return 0;
}

static int sw_remove_key(CertBackend *b, const char *key_url) {
        return sw_remove_file(SW(b), key_url, ".key");
}

static int sw_remove_cert(CertBackend *b, const char *cert_url) {
        /* The intermediates live in the same file: nothing else to remove. */
        return sw_remove_file(SW(b), cert_url, ".pem");
}

static int sw_store_cert(CertBackend *b, const char *key_url, const X509Chain *chain, char **ret_cert_url) {
        SwBackend *s = SW(b);
        _cleanup_free_ char *key_path = NULL, *path = NULL, *url = NULL, *pem = NULL;
        int r;

        if (!chain || chain->n == 0)
                return -EINVAL;
        r = module_file(s, key_url, ".key", &key_path);
        if (r < 0)
                return r;
        if (access(key_path, F_OK) < 0)
                return log_error_errno(errno, "Module %s: the key %s for this certificate: %m", b->module->type,
                                       key_path);

        /* The certificate takes its key's name: <id>.key → <id>.pem. */
        size_t l = strlen(key_path) - strlen(".key");
        if (asprintf(&path, "%.*s.pem", (int) l, key_path) < 0 || file_url(path, &url) < 0)
                return log_oom();

        r = x509_chain_to_pem(chain, &pem);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot encode the certificate chain: %m", b->module->type);
        r = write_file_atomic(path, pem, strlen(pem), 0600);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot write %s: %m", b->module->type, path);

        log_debug("Module %s: stored a certificate chain of %zu in %s", b->module->type, chain->n, path);
        *ret_cert_url = TAKE_PTR(url);
        return 0;
}

static int list_one(SwBackend *s, const char *name, BackendObject *o, bool *ret_listed) {
        _cleanup_free_ char *path = NULL, *url = NULL;
        const char *t = s->base.module->type;
        size_t l = strlen(name);
        int r;

        *ret_listed = false;
        if (name[0] == '.')
                return 0;
        bool key = l > 4 && streq(name + l - 4, ".key");
        bool cert = l > 4 && streq(name + l - 4, ".pem");
        if (!key && !cert)
                return 0; /* e.g. the temp file of an interrupted write */

        if (asprintf(&path, "%s/%s", s->dir, name) < 0 || file_url(path, &url) < 0)
                return log_oom();

        if (key) {
                _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;
                char *key_id = NULL;

                r = keyurl_open_privkey(url, &k);
                if (r == -ENOKEY)
                        return 0; /* removed meanwhile */
                if (r == -EBADMSG) {
                        /* Not a key (a corrupt file): it pairs with nothing; clear removes it. */
                        log_warning_errno(r, "Module %s: %s is not a usable key, ignoring: %m", t, path);
                        return 0;
                }
                if (r >= 0)
                        r = x509_privkey_key_id(k, &key_id);
                /* Anything else fails the list: a key left out could be taken for gone. */
                if (r < 0)
                        return log_error_errno(r, "Module %s: cannot read %s: %m", t, path);
                *o = (BackendObject) { .kind = BACKEND_OBJECT_KEY, .url = TAKE_PTR(url), .key_id = key_id };
        } else {
                _cleanup_(x509_cert_info_done) X509CertInfo info = {};
                _cleanup_free_ char *reason = NULL;
                X509Chain chain = {};

                r = x509_chain_load_file(path, &chain, &reason);
                if (r == -ENOENT)
                        return 0;
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0) {
                        log_warning_errno(r, "Module %s: ignoring %s: %s", t, path, strna(reason));
                        return 0;
                }
                r = x509_cert_info(chain.certs[0], &info);
                if (r < 0) {
                        x509_chain_done(&chain);
                        return log_error_errno(r, "Module %s: cannot read %s: %m", t, path);
                }
                *o = (BackendObject) {
                        .kind = BACKEND_OBJECT_CERT,
                        .url = TAKE_PTR(url),
                        .key_id = TAKE_PTR(info.key_id),
                        .chain = chain,
                };
        }

        *ret_listed = true;
        return 0;
}

static int sw_list(CertBackend *b, BackendObject **ret, size_t *ret_n) {
        SwBackend *s = SW(b);
        _cleanup_(closedirp) DIR *d = NULL;
        BackendObject *objs = NULL;
        size_t n = 0;
        int r = 0;

        d = opendir(s->dir);
        if (!d) {
                if (errno == ENOENT) {
                        *ret = NULL;
                        *ret_n = 0;
                        return 0;
                }
                return log_error_errno(errno, "Cannot open %s: %m", s->dir);
        }

        for (;;) {
                struct dirent *de;
                bool listed;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = log_error_errno(errno, "Cannot read %s: %m", s->dir);
                        break;
                }
                if (!dirent_is_regular(d, de))
                        continue;

                BackendObject *no = realloc(objs, (n + 1) * sizeof(BackendObject));
                if (!no) {
                        r = log_oom();
                        break;
                }
                objs = no;
                objs[n] = (BackendObject) {};
                r = list_one(s, de->d_name, &objs[n], &listed);
                if (r < 0)
                        break;
                if (listed)
                        n++;
        }
        if (r < 0) {
                backend_objects_free(objs, n);
                return r;
        }

        *ret = objs;
        *ret_n = n;
        return 0;
}

static int sw_clear(CertBackend *b) {
        SwBackend *s = SW(b);
        size_t n = 0;
        int r;

        /* Every file: keys, certificates and temp files of interrupted writes. */
        r = dir_remove_regular_files(s->dir, &n);
        if (r < 0)
                return r;
        log_debug("Module %s: removed %zu files from %s", b->module->type, n, s->dir);
        return 0;
}

const CertBackendVTable backend_sw_vtable = {
        .name = "sw",
        .object_size = sizeof(SwBackend),
        .init = sw_init,
        .done = sw_done,
        .set_owner = sw_set_owner,
        .create_key = sw_create_key,
        .remove_key = sw_remove_key,
        .store_cert = sw_store_cert,
        .remove_cert = sw_remove_cert,
        .list = sw_list,
        .clear = sw_clear,
};
