/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <time.h>

#include "fault.h"
#include "keyurl.h"
#include "log.h"
#include "macro.h"
#include "module.h"
#include "password.h"

static int reasonf(char **ret_reason, int error, const char *fmt, ...) _printf_(3, 4);
static int reasonf(char **ret_reason, int error, const char *fmt, ...) {
        if (ret_reason) {
                va_list ap;
                va_start(ap, fmt);
                char *s = NULL;
                if (vasprintf(&s, fmt, ap) < 0)
                        s = NULL;
                va_end(ap);
                free(*ret_reason);
                *ret_reason = s;
        }
        return error;
}

static uint64_t now_realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

int cert_module_new(const ModuleConfig *config, const CertdConfig *certd, const X509Chain *roots,
                    sqlite3 *db, CertModule **ret) {
        _cleanup_free_ CertModule *m = calloc(1, sizeof(CertModule));
        if (!m)
                return -ENOMEM;
        m->config = config;
        m->roots = roots;
        m->db = db;

        int r = cert_backend_new(config, certd, &m->backend);
        if (r < 0) {
                /* The module stays, and answers every call with this error: one broken token
                 * must not take the other modules down. */
                log_error_errno(r, "Module %s: cannot set up the %s backend, its calls will fail: %m",
                                config->type, module_plugin_to_string(config->plugin));
                m->backend = NULL;
                m->backend_error = r;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

CertModule *cert_module_free(CertModule *m) {
        if (!m)
                return NULL;
        cert_backend_free(m->backend);
        free(m);
        return NULL;
}

static int check_backend(CertModule *m, char **ret_reason) {
        if (m->backend)
                return 0;
        return reasonf(ret_reason, m->backend_error ?: -ENODEV,
                       "the %s storage of module %s is not available: %s",
                       module_plugin_to_string(m->config->plugin), m->config->type,
                       strerror(-(m->backend_error ?: -ENODEV)));
}

/* Names the storage the way an operator finds it: the token label, the TPM's TCTI, the directory. */
static const char *storage_name(const CertModule *m) {
        switch (m->config->plugin) {
        case MODULE_PLUGIN_PKCS11:
                return strempty(m->config->token_label);
        case MODULE_PLUGIN_TPM:
                return strempty(m->config->tcti);
        case MODULE_PLUGIN_SW:
        case _MODULE_PLUGIN_MAX:
                break;
        }
        return "files";
}

static int backend_failed(CertModule *m, int r, const char *what, char **ret_reason) {
        if (r == -EACCES)
                return reasonf(ret_reason, r, "%s: the %s storage '%s' of module %s refused the password", what,
                               module_plugin_to_string(m->config->plugin), storage_name(m), m->config->type);
        return reasonf(ret_reason, r == -ENOENT ? -EIO : r, "%s in the %s storage '%s' of module %s failed: %s",
                       what, module_plugin_to_string(m->config->plugin), storage_name(m), m->config->type,
                       strerror(-r));
}

int cert_module_has_objects(CertModule *m) {
        CertRecord *records = NULL;
        PendingKey *pending = NULL;
        size_t n_records = 0, n_pending = 0;
        int r;

        r = cert_store_list(m->db, m->config->type, &records, &n_records);
        if (r < 0)
                return r;
        cert_records_free(records, n_records);
        r = pending_key_list(m->db, m->config->type, &pending, &n_pending);
        if (r < 0)
                return r;
        pending_keys_free(pending, n_pending);
        return n_records + n_pending > 0;
}

static int check_password(CertModule *m, const char *password, char **ret_reason) {
        _cleanup_erase_free_ char *verifier = NULL;
        int r;

        r = owner_get(m->db, m->config->type, &verifier);
        if (r == -ENOENT)
                return reasonf(ret_reason, -EPERM, "module %s has no owner yet: call SetOwner first",
                               m->config->type);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot read the owner of module %s: %s", m->config->type,
                               strerror(-r));
        r = password_verify(verifier, password);
        if (r < 0)
                return reasonf(ret_reason, r, "the stored owner verifier of module %s is malformed",
                               m->config->type);
        if (r == 0)
                return reasonf(ret_reason, -EACCES, "wrong password for module %s", m->config->type);
        return 0;
}

int cert_module_set_owner(CertModule *m, const char *password, char **ret_reason) {
        _cleanup_erase_free_ char *old = NULL, *verifier = NULL;
        int r;

        r = check_backend(m, ret_reason);
        if (r < 0)
                return r;

        r = owner_get(m->db, m->config->type, &old);
        if (r < 0 && r != -ENOENT)
                return reasonf(ret_reason, r, "cannot read the owner of module %s: %s", m->config->type,
                               strerror(-r));
        if (r >= 0 && password_verify(old, password) <= 0) {
                /* Owned with another password: taking it over is fine once the module holds
                 * nothing, but must never silently orphan stored certificates. */
                r = cert_module_has_objects(m);
                if (r < 0)
                        return reasonf(ret_reason, r, "cannot read the metadata of module %s: %s",
                                       m->config->type, strerror(-r));
                if (r > 0)
                        return reasonf(ret_reason, -EACCES,
                                       "module %s is owned with another password and holds keys or "
                                       "certificates; Clear it first", m->config->type);
        }

        r = m->backend->vtable->set_owner(m->backend, password);
        if (r < 0)
                return backend_failed(m, r, "Taking ownership", ret_reason);

        r = password_hash(password, &verifier);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot hash the password: %s", strerror(-r));
        r = owner_set(m->db, m->config->type, verifier);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot record the owner of module %s: %s", m->config->type,
                               strerror(-r));
        return 0;
}

int cert_module_clear(CertModule *m, char **ret_reason) {
        int r;

        r = check_backend(m, ret_reason);
        if (r < 0)
                return r;
        r = m->backend->vtable->clear(m->backend);
        if (r < 0)
                return backend_failed(m, r, "Clearing", ret_reason);
        FAULT_POINT("clear-after-backend");
        r = cert_store_clear_type(m->db, m->config->type);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot clear the metadata of module %s: %s", m->config->type,
                               strerror(-r));
        FAULT_POINT("clear-after-db");
        return 0;
}

/* Destroys the oldest pending keys beyond CERT_MODULE_PENDING_MAX. Failures only leave an
 * extra key that the next start removes. */
static void trim_pending(CertModule *m) {
        PendingKey *pending = NULL;
        size_t n = 0;

        if (pending_key_list(m->db, m->config->type, &pending, &n) < 0)
                return;
        for (size_t i = 0; n > CERT_MODULE_PENDING_MAX && i < n - CERT_MODULE_PENDING_MAX; i++) {
                /* Forget the row first: a key without a row is an orphan the next start removes,
                 * a row without a key would be matched by a certificate in vain. */
                if (pending_key_remove(m->db, pending[i].key_url) < 0)
                        break;
                int r = m->backend->vtable->remove_key(m->backend, pending[i].key_url);
                if (r < 0)
                        log_warning_errno(r, "Module %s: cannot destroy the oldest pending key, ignoring: %m",
                                          m->config->type);
                else
                        log_event(LOG_INFO, STRV(strjoina("CERT_TYPE=", m->config->type), "EVENT=pending-key-dropped"),
                                  "Module %s: destroyed the oldest pending key (more than %d pending)",
                                  m->config->type, CERT_MODULE_PENDING_MAX);
        }
        pending_keys_free(pending, n);
}

int cert_module_create_key(CertModule *m, const char *subject, const char *password, char **ret_csr,
                           char **ret_reason) {
        _cleanup_free_ char *key_url = NULL, *key_id = NULL, *csr = NULL;
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        int r;

        r = check_backend(m, ret_reason);
        if (r < 0)
                return r;
        r = check_password(m, password, ret_reason);
        if (r < 0)
                return r;

        r = m->backend->vtable->create_key(m->backend, &key_url, &key_id);
        if (r < 0)
                return backend_failed(m, r, "Key generation", ret_reason);
        FAULT_POINT("createkey-after-generate");

        PendingKey pk = {
                .type = (char *) m->config->type,
                .key_url = key_url,
                .key_id = key_id,
                .created_usec = now_realtime_usec(),
        };
        r = pending_key_add(m->db, &pk);
        if (r < 0) {
                (void) m->backend->vtable->remove_key(m->backend, key_url);
                return reasonf(ret_reason, r, "cannot record the new key of module %s: %s", m->config->type,
                               strerror(-r));
        }
        FAULT_POINT("createkey-after-record");

        /* The public half comes by itself: gnutls cannot derive it from every kind of key (a
         * TPM key is signing callbacks only). */
        r = keyurl_open_privkey(key_url, &key);
        if (r >= 0)
                r = keyurl_open_pubkey(key_url, &pub);
        if (r < 0)
                return backend_failed(m, r, "Opening the new key", ret_reason);
        r = x509_make_csr_with_pubkey(key, pub, subject, m->config->extended_key_usage,
                                      m->config->alternative_names, &csr);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot make the certificate request of module %s: %s",
                               m->config->type, strerror(-r));

        trim_pending(m);

        *ret_csr = TAKE_PTR(csr);
        return 0;
}

static void remove_objects(CertModule *m, const CertRecord *records, size_t n) {
        for (size_t i = 0; i < n; i++) {
                int r = m->backend->vtable->remove_cert(m->backend, records[i].cert_url);
                if (r < 0)
                        log_warning_errno(r, "Module %s: cannot remove certificate %s, the next start "
                                          "removes it: %m", m->config->type, records[i].info.serial);
                r = m->backend->vtable->remove_key(m->backend, records[i].key_url);
                if (r < 0)
                        log_warning_errno(r, "Module %s: cannot remove the key of certificate %s, the next "
                                          "start removes it: %m", m->config->type, records[i].info.serial);
        }
}

/* Stores chain (verified) for key_url and records it, trimming beyond MaxItems. */
static int store_and_record(CertModule *m, const X509Chain *chain, const char *key_url,
                            X509CertInfo *info, CertRecord *ret, char **ret_reason) {
        _cleanup_free_ char *cert_url = NULL;
        CertRecord *existing = NULL;
        size_t n_existing = 0;
        _cleanup_strv_free_ char **trimmed_urls = NULL;
        int r;

        r = m->backend->vtable->store_cert(m->backend, key_url, chain, &cert_url);
        if (r < 0)
                return backend_failed(m, r, "Storing the certificate", ret_reason);
        FAULT_POINT("apply-after-store");

        r = cert_store_list(m->db, m->config->type, &existing, &n_existing);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot read the metadata of module %s: %s", m->config->type,
                               strerror(-r));

        /* The earliest NotAfter goes first; the new certificate is not in the list, so it is
         * never the one dropped. */
        size_t n_trim = n_existing + 1 > m->config->max_items ? n_existing + 1 - m->config->max_items : 0;
        for (size_t i = 0; i < n_trim; i++)
                if (strv_extend(&trimmed_urls, existing[i].cert_url) < 0) {
                        cert_records_free(existing, n_existing);
                        return reasonf(ret_reason, -ENOMEM, "out of memory");
                }

        CertRecord rec = {
                .type = (char *) m->config->type,
                .cert_url = cert_url,
                .key_url = (char *) key_url,
                .info = *info,
        };
        r = cert_store_commit_apply(m->db, &rec, trimmed_urls);
        if (r < 0) {
                cert_records_free(existing, n_existing);
                /* The stored object is found again (and recorded) at the next start; leaving it is
                 * safer than removing something the database may yet know. */
                return reasonf(ret_reason, r, "cannot record the certificate of module %s: %s",
                               m->config->type, strerror(-r));
        }
        FAULT_POINT("apply-after-commit");

        remove_objects(m, existing, n_trim);
        FAULT_POINT("apply-after-trim");
        for (size_t i = 0; i < n_trim; i++)
                log_event(LOG_INFO, STRV(strjoina("CERT_TYPE=", m->config->type), "EVENT=cert-trimmed"), "Module %s: dropped certificate %s (MaxItems=%u)",
                          m->config->type, existing[i].info.serial, m->config->max_items);
        cert_records_free(existing, n_existing);

        *ret = (CertRecord) {
                .type = strdup(m->config->type),
                .cert_url = TAKE_PTR(cert_url),
                .key_url = strdup(key_url),
                .info = *info,
        };
        *info = (X509CertInfo) {};
        if (!ret->type || !ret->key_url) {
                cert_record_done(ret);
                return reasonf(ret_reason, -ENOMEM, "out of memory");
        }
        return 0;
}

int cert_module_apply_cert(CertModule *m, const char *pem, size_t size, uint64_t now_usec,
                           CertRecord *ret, char **ret_reason) {
        _cleanup_(x509_chain_done) X509Chain chain = {};
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        _cleanup_free_ char *why = NULL;
        PendingKey *pending = NULL;
        size_t n_pending = 0;
        int r;

        r = check_backend(m, ret_reason);
        if (r < 0)
                return r;

        r = x509_chain_from_pem(pem, size, &chain, &why);
        if (r < 0)
                return reasonf(ret_reason, r, "%s", why ?: "the certificate chain cannot be parsed");
        r = x509_chain_verify(&chain, m->roots, now_usec, m->config->extended_key_usage, &why);
        if (r < 0)
                return reasonf(ret_reason, r, "%s", why ?: "the certificate chain does not verify");
        r = x509_cert_info(chain.certs[0], &info);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot read the leaf certificate: %s", strerror(-r));

        /* Already applied (a repeated call after an interruption)? */
        r = cert_store_get(m->db, m->config->type, info.issuer_der, info.issuer_der_size, info.serial, ret);
        if (r >= 0)
                return 0;
        if (r != -ENOENT)
                return reasonf(ret_reason, r, "cannot read the metadata of module %s: %s", m->config->type,
                               strerror(-r));

        r = pending_key_list(m->db, m->config->type, &pending, &n_pending);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot read the pending keys of module %s: %s",
                               m->config->type, strerror(-r));
        const PendingKey *match = NULL;
        for (size_t i = 0; i < n_pending; i++)
                if (streq(pending[i].key_id, info.key_id))
                        match = &pending[i];
        if (!match) {
                pending_keys_free(pending, n_pending);
                return reasonf(ret_reason, -ENOKEY,
                               "the certificate (serial %s) is for a key that module %s is not waiting for: "
                               "its public key matches none of the %zu pending keys",
                               info.serial, m->config->type, n_pending);
        }

        _cleanup_free_ char *key_url = strdup(match->key_url);
        pending_keys_free(pending, n_pending);
        if (!key_url)
                return reasonf(ret_reason, -ENOMEM, "out of memory");

        r = store_and_record(m, &chain, key_url, &info, ret, ret_reason);
        if (r < 0)
                return r;
        return 1;
}

int cert_module_create_self_signed(CertModule *m, const char *cn, const char *password,
                                   CertRecord *ret, char **ret_reason) {
        _cleanup_free_ char *key_url = NULL, *key_id = NULL;
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        _cleanup_(x509_chain_done) X509Chain chain = {};
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        gnutls_x509_crt_t crt = NULL;
        int r;

        if (!m->config->self_signed)
                return reasonf(ret_reason, -EOPNOTSUPP, "module %s is not SelfSigned: use CreateKey and ApplyCert",
                               m->config->type);
        r = check_backend(m, ret_reason);
        if (r < 0)
                return r;
        r = check_password(m, password, ret_reason);
        if (r < 0)
                return r;

        r = m->backend->vtable->create_key(m->backend, &key_url, &key_id);
        if (r < 0)
                return backend_failed(m, r, "Key generation", ret_reason);
        /* Recorded as pending so that an interruption before the certificate is stored leaves
         * a key the next start recognizes, not a stranger. */
        PendingKey pk = {
                .type = (char *) m->config->type,
                .key_url = key_url,
                .key_id = key_id,
                .created_usec = now_realtime_usec(),
        };
        r = pending_key_add(m->db, &pk);
        if (r < 0) {
                (void) m->backend->vtable->remove_key(m->backend, key_url);
                return reasonf(ret_reason, r, "cannot record the new key of module %s: %s", m->config->type,
                               strerror(-r));
        }

        r = keyurl_open_privkey(key_url, &key);
        if (r >= 0)
                r = keyurl_open_pubkey(key_url, &pub);
        if (r < 0)
                return backend_failed(m, r, "Opening the new key", ret_reason);
        r = x509_make_self_signed_with_pubkey(key, pub, cn, m->config->extended_key_usage,
                                              m->config->alternative_names, CERT_MODULE_SELF_SIGNED_LIFETIME_USEC,
                                              &crt);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot make the self-signed certificate of module %s: %s",
                               m->config->type, strerror(-r));
        chain.certs = calloc(1, sizeof(gnutls_x509_crt_t));
        if (!chain.certs) {
                gnutls_x509_crt_deinit(crt);
                return reasonf(ret_reason, -ENOMEM, "out of memory");
        }
        chain.certs[0] = crt;
        chain.n = 1;
        r = x509_cert_info(crt, &info);
        if (r < 0)
                return reasonf(ret_reason, r, "cannot read the new certificate: %s", strerror(-r));

        return store_and_record(m, &chain, key_url, &info, ret, ret_reason);
}

/* Start-up reconciliation:
 *  - a row whose certificate object is gone, or whose key is gone, is removed (with what is left);
 *  - a certificate object the database lacks is recorded if its key is there, else removed;
 *  - a key with neither a certificate nor a pending row is removed (an interrupted CreateKey);
 *  - a pending row whose key is gone, or which has a certificate now, is removed;
 *  - then the module is trimmed to MaxItems (an ApplyCert interrupted before its trim). */
int cert_module_reconcile(CertModule *m, ReconcileStats *ret) {
        BackendObject *objs = NULL;
        size_t n_objs = 0;
        CertRecord *rows = NULL;
        size_t n_rows = 0;
        PendingKey *pending = NULL;
        size_t n_pending = 0;
        ReconcileStats st = {};
        int r;

        if (!m->backend)
                return m->backend_error ?: -ENODEV;
        if (m->config->skip_validation) {
                if (ret)
                        *ret = st;
                return 0;
        }

        r = m->backend->vtable->list(m->backend, &objs, &n_objs);
        if (r < 0)
                return r;
        r = cert_store_list(m->db, m->config->type, &rows, &n_rows);
        if (r < 0)
                goto finish;
        r = pending_key_list(m->db, m->config->type, &pending, &n_pending);
        if (r < 0)
                goto finish;

#define FIND_OBJ(kind_, field_, value_)                                                    \
        ({                                                                                 \
                BackendObject *_o = NULL;                                                  \
                for (size_t _i = 0; _i < n_objs; _i++)                                     \
                        if (objs[_i].kind == (kind_) && objs[_i].field_ &&                 \
                            streq(objs[_i].field_, (value_))) {                            \
                                _o = &objs[_i];                                            \
                                break;                                                     \
                        }                                                                  \
                _o;                                                                        \
        })

        /* Rows first. */
        for (size_t i = 0; i < n_rows; i++) {
                BackendObject *c = FIND_OBJ(BACKEND_OBJECT_CERT, url, rows[i].cert_url);
                BackendObject *k = FIND_OBJ(BACKEND_OBJECT_KEY, key_id, rows[i].info.key_id);
                if (c && k)
                        continue;
                log_event(LOG_WARNING, STRV(strjoina("CERT_TYPE=", m->config->type), "EVENT=reconcile-row-removed"),
                          "Module %s: certificate %s is recorded but its %s is gone from the storage; "
                          "removing the record", m->config->type, rows[i].info.serial,
                          c ? "key" : "certificate");
                r = cert_store_remove(m->db, m->config->type, rows[i].cert_url);
                if (r < 0)
                        goto finish;
                st.rows_removed++;
                if (c) {
                        (void) m->backend->vtable->remove_cert(m->backend, c->url);
                        st.objects_removed++;
                        c->kind = -1; /* handled */
                }
        }

        /* Certificates the database lacks. */
        for (size_t i = 0; i < n_objs; i++) {
                if (objs[i].kind != BACKEND_OBJECT_CERT)
                        continue;
                bool known = false;
                for (size_t j = 0; j < n_rows; j++)
                        if (streq(rows[j].cert_url, objs[i].url))
                                known = true;
                if (known)
                        continue;
                BackendObject *k = FIND_OBJ(BACKEND_OBJECT_KEY, key_id, objs[i].key_id);
                if (!k || objs[i].chain.n == 0) {
                        log_event(LOG_WARNING, STRV(strjoina("CERT_TYPE=", m->config->type), "EVENT=reconcile-orphan-removed"),
                                  "Module %s: removing a certificate object without its key", m->config->type);
                        (void) m->backend->vtable->remove_cert(m->backend, objs[i].url);
                        st.objects_removed++;
                        continue;
                }
                _cleanup_(x509_cert_info_done) X509CertInfo info = {};
                r = x509_cert_info(objs[i].chain.certs[0], &info);
                if (r < 0)
                        goto finish;
                CertRecord rec = {
                        .type = (char *) m->config->type,
                        .cert_url = objs[i].url,
                        .key_url = k->url,
                        .info = info,
                };
                r = cert_store_add(m->db, &rec);
                if (r == -EEXIST) {
                        /* The same certificate twice in the storage: keep the recorded one. */
                        (void) m->backend->vtable->remove_cert(m->backend, objs[i].url);
                        st.objects_removed++;
                        continue;
                }
                if (r < 0)
                        goto finish;
                log_event(LOG_NOTICE, STRV(strjoina("CERT_TYPE=", m->config->type), "EVENT=reconcile-row-added"),
                          "Module %s: recorded certificate %s found in the storage", m->config->type, info.serial);
                st.rows_added++;
        }

        /* Pending rows: drop those whose key is gone or that are certified now. */
        for (size_t i = 0; i < n_pending; i++) {
                BackendObject *k = FIND_OBJ(BACKEND_OBJECT_KEY, url, pending[i].key_url);
                BackendObject *c = FIND_OBJ(BACKEND_OBJECT_CERT, key_id, pending[i].key_id);
                if (k && !c)
                        continue;
                r = pending_key_remove(m->db, pending[i].key_url);
                if (r < 0)
                        goto finish;
                st.pending_removed++;
        }

        /* Keys with neither certificate nor pending row. */
        for (size_t i = 0; i < n_objs; i++) {
                if (objs[i].kind != BACKEND_OBJECT_KEY)
                        continue;
                if (FIND_OBJ(BACKEND_OBJECT_CERT, key_id, objs[i].key_id))
                        continue;
                bool is_pending = false;
                for (size_t j = 0; j < n_pending; j++)
                        if (streq(pending[j].key_url, objs[i].url))
                                is_pending = true;
                if (is_pending)
                        continue;
                log_event(LOG_WARNING, STRV(strjoina("CERT_TYPE=", m->config->type), "EVENT=reconcile-orphan-removed"),
                          "Module %s: removing a key that has no certificate and was never handed out",
                          m->config->type);
                (void) m->backend->vtable->remove_key(m->backend, objs[i].url);
                st.objects_removed++;
        }
#undef FIND_OBJ

        /* Trim to MaxItems. */
        cert_records_free(rows, n_rows);
        rows = NULL;
        n_rows = 0;
        r = cert_store_list(m->db, m->config->type, &rows, &n_rows);
        if (r < 0)
                goto finish;
        if (n_rows > m->config->max_items) {
                size_t n_trim = n_rows - m->config->max_items;
                for (size_t i = 0; i < n_trim; i++) {
                        r = cert_store_remove(m->db, m->config->type, rows[i].cert_url);
                        if (r < 0)
                                goto finish;
                }
                remove_objects(m, rows, n_trim);
                st.trimmed += n_trim;
        }
        r = 0;
        if (ret)
                *ret = st;

finish:
        backend_objects_free(objs, n_objs);
        cert_records_free(rows, n_rows);
        pending_keys_free(pending, n_pending);
        return r;
}
