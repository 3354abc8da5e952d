/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <time.h>

#include "bus-error.h"
#include "db.h"
#include "fs.h"
#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

#define PEM_ARG_MAX X509_PEM_MAX

typedef enum OperationKind {
        OP_SET_OWNER,
        OP_CLEAR,
        OP_CREATE_KEY,
        OP_APPLY_CERT,
        OP_SELF_SIGNED,
} OperationKind;

typedef struct Operation {
        ModuleSlot *slot;
        OperationKind kind;
        sd_bus_message *call;
        sd_event_source *delay; /* while a wrong-password delay runs */
        char *password;
        char *subject;
        char *pem;
        size_t pem_size;
        /* results */
        char *csr;
        CertRecord record;
        char *reason;
} Operation;

static Operation *operation_free(Operation *op) {
        if (!op)
                return NULL;
        sd_bus_message_unref(op->call);
        sd_event_source_disable_unref(op->delay);
        erase_and_free(op->password);
        free(op->subject);
        free(op->pem);
        free(op->csr);
        cert_record_done(&op->record);
        free(op->reason);
        free(op);
        return NULL;
}

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static const char *error_name_for(int r) {
        switch (r) {
        case -ENOENT:
                return AOS_CERTS_ERROR_NOT_FOUND;
        case -EBADMSG:
        case -E2BIG:
        case -EKEYREJECTED:
        case -EKEYEXPIRED:
                return AOS_CERTS_ERROR_INVALID_CHAIN;
        case -ENOKEY:
                return AOS_CERTS_ERROR_KEY_MISMATCH;
        case -EACCES:
                return AOS_CERTS_ERROR_WRONG_PASSWORD;
        case -EPERM:
                return AOS_CERTS_ERROR_NOT_OWNED;
        case -EOPNOTSUPP:
                return AOS_CERTS_ERROR_NOT_SUPPORTED;
        case -EINVAL:
                return SD_BUS_ERROR_INVALID_ARGS;
        case -ECANCELED:
                return SD_BUS_ERROR_FAILED;
        default:
                return AOS_CERTS_ERROR_BACKEND;
        }
}

/* ---- certificate info ---- */

static int append_cert_info(sd_bus_message *reply, const CertRecord *rec) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if (rec) {
                const X509CertInfo *i = &rec->info;
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}",
                                          "Type", "s", rec->type,
                                          "CertURL", "s", rec->cert_url,
                                          "KeyURL", "s", rec->key_url,
                                          "Subject", "s", strempty(i->subject),
                                          "Issuer", "s", strempty(i->issuer));
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(reply, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "s", "IssuerDER");
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'v', "ay");
                if (r >= 0)
                        r = sd_bus_message_append_array(reply, 'y', i->issuer_der, i->issuer_der_size);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}",
                                          "Serial", "s", strempty(i->serial),
                                          "NotBefore", "t", i->not_before,
                                          "NotAfter", "t", i->not_after,
                                          "Fingerprint", "s", strempty(i->fingerprint));
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int append_cert_list(sd_bus_message *reply, const CertRecord *recs, size_t n) {
        int r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = append_cert_info(reply, &recs[i]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* ---- lookups and validation ---- */

static ModuleSlot *find_slot(Manager *m, const char *type) {
        for (size_t i = 0; i < m->n_slots; i++)
                if (streq(m->slots[i].config->type, type))
                        return &m->slots[i];
        return NULL;
}

static int validate_type(Manager *m, const char *type, ModuleSlot **ret, sd_bus_error *error) {
        ModuleSlot *s = find_slot(m, type);
        if (!s)
                return sd_bus_error_setf(error, AOS_CERTS_ERROR_NOT_FOUND,
                                         "Unknown certificate type '%.64s'.", type);
        *ret = s;
        return 0;
}

static int validate_password(const char *password, sd_bus_error *error) {
        size_t l = strlen(password);
        if (l == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The password is empty.");
        if (l > PASSWORD_MAX_LEN)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The password is %zu bytes long; at most %d are accepted.", l,
                                         PASSWORD_MAX_LEN);
        return 0;
}

static int validate_subject(const char *subject, sd_bus_error *error) {
        size_t l = strlen(subject);
        if (l == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The subject is empty.");
        if (l > CERT_MODULE_SUBJECT_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The subject is %zu bytes long; a common name has at most %d.", l,
                                         CERT_MODULE_SUBJECT_MAX);
        for (const char *p = subject; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                                "The subject contains control characters.");
        return 0;
}

/* ---- signals ---- */

static int emit_module_changed(ModuleSlot *s) {
        return sd_bus_emit_properties_changed(s->manager->bus, s->object_path, CERTS_MODULE_INTERFACE,
                                              "Certificates", "Current", "PendingKeys", "Owned", NULL);
}

static int emit_cert_changed(ModuleSlot *s, const CertRecord *rec) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        int r;

        r = sd_bus_message_new_signal(s->manager->bus, &sig, CERTS_OBJECT_PATH, CERTS_MANAGER_INTERFACE,
                                      "CertChanged");
        if (r < 0)
                return r;
        r = sd_bus_message_append(sig, "s", s->config->type);
        if (r < 0)
                return r;
        r = append_cert_info(sig, rec);
        if (r < 0)
                return r;
        return sd_bus_send(s->manager->bus, sig, NULL);
}

/* ---- operations on the worker ---- */

static int operation_run(void *userdata) {
        Operation *op = userdata;
        CertModule *mod = op->slot->module;

        switch (op->kind) {
        case OP_SET_OWNER:
                return cert_module_set_owner(mod, op->password, &op->reason);
        case OP_CLEAR:
                return cert_module_clear(mod, &op->reason);
        case OP_CREATE_KEY:
                return cert_module_create_key(mod, op->subject, op->password, &op->csr, &op->reason);
        case OP_APPLY_CERT:
                return cert_module_apply_cert(mod, op->pem, op->pem_size, now_usec(CLOCK_REALTIME),
                                              &op->record, &op->reason);
        case OP_SELF_SIGNED:
                return cert_module_create_self_signed(mod, op->subject, op->password, &op->record,
                                                      &op->reason);
        }
        return -EINVAL;
}

static const char *operation_name(OperationKind k) {
        switch (k) {
        case OP_SET_OWNER:
                return "SetOwner";
        case OP_CLEAR:
                return "Clear";
        case OP_CREATE_KEY:
                return "CreateKey";
        case OP_APPLY_CERT:
                return "ApplyCert";
        case OP_SELF_SIGNED:
                return "CreateSelfSignedCert";
        }
        return "?";
}

static void operation_done(int result, void *userdata) {
        Operation *op = userdata;
        ModuleSlot *s = op->slot;
        const char *type = s->config->type;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (op->password && result != -ECANCELED)
                password_throttle_record(&s->throttle, result != -EACCES, now_usec(CLOCK_MONOTONIC));

        if (result < 0) {
                log_event(LOG_WARNING, STRV(strjoina("CERT_TYPE=", type), "EVENT=call-failed"),
                          "%s on module %s failed: %s", operation_name(op->kind), type,
                          op->reason ?: strerror(-result));
                r = sd_bus_reply_method_errorf(op->call, error_name_for(result), "%s",
                                               op->reason ?: strerror(-result));
                goto finish;
        }

        r = sd_bus_message_new_method_return(op->call, &reply);
        if (r < 0)
                goto fail;

        switch (op->kind) {
        case OP_SET_OWNER:
                log_event(LOG_INFO, STRV(strjoina("CERT_TYPE=", type), "EVENT=owner-set"),
                          "Module %s: ownership taken", type);
                break;
        case OP_CLEAR:
                log_event(LOG_INFO, STRV(strjoina("CERT_TYPE=", type), "EVENT=cleared"),
                          "Module %s: cleared", type);
                (void) emit_cert_changed(s, NULL);
                break;
        case OP_CREATE_KEY:
                log_event(LOG_INFO, STRV(strjoina("CERT_TYPE=", type), "EVENT=key-created"),
                          "Module %s: new key, request for CN=%s", type, op->subject);
                r = sd_bus_message_append(reply, "s", op->csr);
                if (r < 0)
                        goto fail;
                break;
        case OP_APPLY_CERT:
        case OP_SELF_SIGNED:
                if (result > 0 || op->kind == OP_SELF_SIGNED) {
                        log_event(LOG_INFO,
                                  STRV(strjoina("CERT_TYPE=", type), strjoina("CERT_SERIAL=", op->record.info.serial),
                                       "EVENT=cert-applied"),
                                  "Module %s: applied certificate %s (%s)", type, op->record.info.serial,
                                  strempty(op->record.info.subject));
                        (void) emit_cert_changed(s, &op->record);
                }
                r = append_cert_info(reply, &op->record);
                if (r < 0)
                        goto fail;
                break;
        }
        (void) emit_module_changed(s);
        r = sd_bus_send(NULL, reply, NULL);
        goto finish;

fail:
        log_error_errno(r, "Failed to build the reply to %s: %m", operation_name(op->kind));
        r = sd_bus_reply_method_errno(op->call, r, NULL);
finish:
        if (r < 0)
                log_debug_errno(r, "Failed to send the reply, ignoring: %m");
        operation_free(op);
}

static int operation_submit(Operation *op) {
        int r = worker_submit(op->slot->manager->worker, operation_run, operation_done, op);
        if (r < 0)
                return r;
        return 0;
}

static int on_delay_elapsed(sd_event_source *src, uint64_t usec, void *userdata) {
        Operation *op = userdata;
        op->delay = sd_event_source_disable_unref(op->delay);
        int r = operation_submit(op);
        if (r < 0) {
                (void) sd_bus_reply_method_errno(op->call, r, NULL);
                operation_free(op);
        }
        return 0;
}

/* Starts op now, or after the delay that earlier wrong passwords earned. */
static int operation_start(Operation *op, sd_bus_error *error) {
        Manager *m = op->slot->manager;
        int r;

        uint64_t wait = op->password ? password_throttle_wait(&op->slot->throttle, now_usec(CLOCK_MONOTONIC)) : 0;
        if (wait > 0) {
                r = sd_event_add_time_relative(m->event, &op->delay, CLOCK_MONOTONIC, wait, 0, on_delay_elapsed, op);
                if (r < 0)
                        return r;
                return 1;
        }
        r = operation_submit(op);
        if (r < 0)
                return r;
        return 1;
}

/* Queues kind for s on behalf of call, with copies of the arguments it needs (NULL: none). */
static int operation_launch(ModuleSlot *s, OperationKind kind, sd_bus_message *call, const char *password,
                            const char *subject, const char *pem, sd_bus_error *error) {
        Operation *op = calloc(1, sizeof(Operation));
        int r;

        if (!op)
                return -ENOMEM;
        op->slot = s;
        op->kind = kind;
        op->call = sd_bus_message_ref(call);
        if ((password && !(op->password = strdup(password))) || (subject && !(op->subject = strdup(subject))) ||
            (pem && !(op->pem = strdup(pem)))) {
                operation_free(op);
                return -ENOMEM;
        }
        op->pem_size = pem ? strlen(pem) : 0;

        r = operation_start(op, error);
        if (r < 0)
                operation_free(op);
        return r;
}

/* The common head of every mutating method: the module exists, and polkit agrees.
 * Returns 1 to go on, 0 when the call is parked for polkit, <0 with error set. */
static int authorize_for_module(Manager *m, sd_bus_message *call, const char *type, ModuleSlot **ret,
                                sd_bus_error *error) {
        int r = validate_type(m, type, ret, error);
        if (r < 0)
                return r;
        return bus_verify_polkit_async(call, CERTS_POLKIT_ACTION, &m->polkit_registry, error);
}

/* ---- methods ---- */

static int method_get_cert_types(sd_bus_message *call, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(reply, m->cert_types);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_set_owner(sd_bus_message *call, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *type, *password;
        ModuleSlot *s;
        int r;

        r = sd_bus_message_read(call, "ss", &type, &password);
        if (r < 0)
                return r;
        r = validate_password(password, error);
        if (r < 0)
                return r;
        r = authorize_for_module(m, call, type, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return operation_launch(s, OP_SET_OWNER, call, password, NULL, NULL, error);
}

static int method_clear(sd_bus_message *call, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *type;
        ModuleSlot *s;
        int r;

        r = sd_bus_message_read(call, "s", &type);
        if (r < 0)
                return r;
        r = authorize_for_module(m, call, type, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return operation_launch(s, OP_CLEAR, call, NULL, NULL, NULL, error);
}

static int method_create_key(sd_bus_message *call, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *type, *subject, *password;
        ModuleSlot *s;
        int r;

        r = sd_bus_message_read(call, "sss", &type, &subject, &password);
        if (r < 0)
                return r;
        r = validate_subject(subject, error);
        if (r < 0)
                return r;
        r = validate_password(password, error);
        if (r < 0)
                return r;
        r = authorize_for_module(m, call, type, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return operation_launch(s, OP_CREATE_KEY, call, password, subject, NULL, error);
}

static int method_apply_cert(sd_bus_message *call, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *type, *pem;
        ModuleSlot *s;
        int r;

        r = sd_bus_message_read(call, "ss", &type, &pem);
        if (r < 0)
                return r;
        size_t l = strlen(pem);
        if (l == 0)
                return sd_bus_error_set(error, AOS_CERTS_ERROR_INVALID_CHAIN, "The certificate chain is empty.");
        if (l > PEM_ARG_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The certificate chain is %zu bytes long; at most %d are accepted.",
                                         l, PEM_ARG_MAX);
        r = authorize_for_module(m, call, type, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return operation_launch(s, OP_APPLY_CERT, call, NULL, NULL, pem, error);
}

static int method_create_self_signed(sd_bus_message *call, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *type, *password;
        ModuleSlot *s;
        int r;

        r = sd_bus_message_read(call, "ss", &type, &password);
        if (r < 0)
                return r;
        r = validate_type(m, type, &s, error);
        if (r < 0)
                return r;
        if (!s->config->self_signed)
                return sd_bus_error_setf(error, AOS_CERTS_ERROR_NOT_SUPPORTED,
                                         "Module %s is not SelfSigned: use CreateKey and ApplyCert.", type);
        r = validate_password(password, error);
        if (r < 0)
                return r;
        r = authorize_for_module(m, call, type, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return operation_launch(s, OP_SELF_SIGNED, call, password, m->config->node.id ?: "Aos Core", NULL, error);
}

static int method_get_cert(sd_bus_message *call, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(cert_record_done) CertRecord rec = {};
        const char *type, *serial;
        const void *issuer;
        size_t issuer_size;
        ModuleSlot *s;
        int r;

        r = sd_bus_message_read(call, "s", &type);
        if (r < 0)
                return r;
        r = sd_bus_message_read_array(call, 'y', &issuer, &issuer_size);
        if (r < 0)
                return r;
        r = sd_bus_message_read(call, "s", &serial);
        if (r < 0)
                return r;
        r = validate_type(m, type, &s, error);
        if (r < 0)
                return r;

        if (isempty(serial)) {
                r = cert_store_latest(m->db_read, type, &rec);
                if (r == -ENOENT)
                        return sd_bus_error_setf(error, AOS_CERTS_ERROR_NOT_FOUND,
                                                 "Module %s has no certificate.", type);
        } else {
                _cleanup_free_ char *lower = strdup(serial);
                if (!lower)
                        return -ENOMEM;
                for (char *p = lower; *p; p++)
                        *p = (char) tolower((unsigned char) *p);
                r = cert_store_get(m->db_read, type, issuer, issuer_size, lower, &rec);
                if (r == -ENOENT)
                        return sd_bus_error_setf(error, AOS_CERTS_ERROR_NOT_FOUND,
                                                 "Module %s has no certificate with serial %.80s from that issuer.",
                                                 type, serial);
        }
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the certificate metadata: %m");

        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        r = append_cert_info(reply, &rec);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_certs(sd_bus_message *call, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        CertRecord *recs = NULL;
        size_t n = 0;
        const char *type;
        ModuleSlot *s;
        int r;

        r = sd_bus_message_read(call, "s", &type);
        if (r < 0)
                return r;
        r = validate_type(m, type, &s, error);
        if (r < 0)
                return r;
        r = cert_store_list(m->db_read, type, &recs, &n);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the certificate metadata: %m");
        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = append_cert_list(reply, recs, n);
        cert_records_free(recs, n);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int property_get_cert_types(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append_strv(reply, m->cert_types);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("CertTypes", "as", property_get_cert_types, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("GetCertTypes", SD_BUS_NO_ARGS, SD_BUS_RESULT("as", types),
                                method_get_cert_types, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetOwner", SD_BUS_ARGS("s", type, "s", password), SD_BUS_NO_RESULT,
                                method_set_owner, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("Clear", SD_BUS_ARGS("s", type), SD_BUS_NO_RESULT,
                                method_clear, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateKey", SD_BUS_ARGS("s", type, "s", subject, "s", password),
                                SD_BUS_RESULT("s", csr), method_create_key,
                                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("ApplyCert", SD_BUS_ARGS("s", type, "s", chain), SD_BUS_RESULT("a{sv}", info),
                                method_apply_cert, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateSelfSignedCert", SD_BUS_ARGS("s", type, "s", password),
                                SD_BUS_RESULT("a{sv}", info), method_create_self_signed,
                                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("GetCert", SD_BUS_ARGS("s", type, "ay", issuer, "s", serial),
                                SD_BUS_RESULT("a{sv}", info), method_get_cert, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListCerts", SD_BUS_ARGS("s", type), SD_BUS_RESULT("aa{sv}", certs),
                                method_list_certs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("CertChanged", SD_BUS_ARGS("s", type, "a{sv}", info), 0),
        SD_BUS_VTABLE_END,
};

/* ---- module objects ---- */

static int module_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        Manager *m = userdata;
        for (size_t i = 0; i < m->n_slots; i++)
                if (streq(m->slots[i].object_path, path)) {
                        *found = &m->slots[i];
                        return 1;
                }
        return 0;
}

static int module_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_slots; i++)
                if (strv_extend(&l, m->slots[i].object_path) < 0)
                        return -ENOMEM;
        *nodes = TAKE_PTR(l);
        return 1;
}

static int module_property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        ModuleSlot *s = userdata;
        const ModuleConfig *c = s->config;
        Manager *m = s->manager;
        int r;

        if (streq(property, "Type"))
                return sd_bus_message_append(reply, "s", c->type);
        if (streq(property, "Plugin"))
                return sd_bus_message_append(reply, "s", module_plugin_to_string(c->plugin));
        if (streq(property, "Algorithm"))
                return sd_bus_message_append(reply, "s", key_algorithm_to_string(c->algorithm));
        if (streq(property, "MaxItems"))
                return sd_bus_message_append(reply, "u", c->max_items);
        if (streq(property, "ExtendedKeyUsage"))
                return sd_bus_message_append_strv(reply, c->extended_key_usage);
        if (streq(property, "AlternativeNames"))
                return sd_bus_message_append_strv(reply, c->alternative_names);
        if (streq(property, "SelfSigned"))
                return sd_bus_message_append(reply, "b", c->self_signed);
        if (streq(property, "SkipValidation"))
                return sd_bus_message_append(reply, "b", c->skip_validation);
        if (streq(property, "Disabled"))
                return sd_bus_message_append(reply, "b", c->disabled);
        if (streq(property, "Owned")) {
                _cleanup_erase_free_ char *v = NULL;
                r = owner_get(m->db_read, c->type, &v);
                if (r < 0 && r != -ENOENT)
                        return r;
                return sd_bus_message_append(reply, "b", r >= 0);
        }
        if (streq(property, "PendingKeys")) {
                PendingKey *p = NULL;
                size_t n = 0;
                r = pending_key_list(m->db_read, c->type, &p, &n);
                if (r < 0)
                        return r;
                pending_keys_free(p, n);
                return sd_bus_message_append(reply, "u", (uint32_t) n);
        }
        if (streq(property, "Certificates")) {
                CertRecord *recs = NULL;
                size_t n = 0;
                r = cert_store_list(m->db_read, c->type, &recs, &n);
                if (r < 0)
                        return r;
                r = append_cert_list(reply, recs, n);
                cert_records_free(recs, n);
                return r;
        }
        if (streq(property, "Current")) {
                _cleanup_(cert_record_done) CertRecord rec = {};
                r = cert_store_latest(m->db_read, c->type, &rec);
                if (r < 0 && r != -ENOENT)
                        return r;
                return append_cert_info(reply, r >= 0 ? &rec : NULL);
        }
        return -ENOENT;
}

static const sd_bus_vtable module_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Type", "s", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Plugin", "s", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Algorithm", "s", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxItems", "u", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ExtendedKeyUsage", "as", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("AlternativeNames", "as", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("SelfSigned", "b", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("SkipValidation", "b", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Disabled", "b", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owned", "b", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PendingKeys", "u", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Certificates", "aa{sv}", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Current", "a{sv}", module_property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

/* ---- life cycle ---- */

static int open_databases(Manager *m) {
        const char *path = m->config->certd.database;
        _cleanup_free_ char *dir = strdup(path);
        int r;

        if (!dir)
                return log_oom();
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                r = mkdir_p(dir, 0700);
                if (r < 0)
                        return log_error_errno(r, "Cannot create the database directory %s: %m", dir);
        }
        r = cert_store_open(path, &m->db_write);
        if (r < 0)
                return log_error_errno(r, "Cannot open the database %s: %m", path);
        r = cert_store_open(path, &m->db_read);
        if (r < 0)
                return log_error_errno(r, "Cannot open the database %s for reading: %m", path);
        return 0;
}

int manager_new(sd_event *event, AosConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *why = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m) {
                config_free(config);
                return log_oom();
        }
        m->event = sd_event_ref(event);
        m->config = config;

        r = x509_chain_load_file(config->certd.ca_cert, &m->roots, &why);
        if (r < 0)
                return log_error_errno(r, "Cannot load the CA certificate %s (CACert=): %s", config->certd.ca_cert,
                                       why ?: strerror(-r));

        r = open_databases(m);
        if (r < 0)
                return r;

        m->cert_types = calloc(1, sizeof(char *));
        m->slots = calloc(config->certd.n_modules ?: 1, sizeof(ModuleSlot));
        if (!m->cert_types || !m->slots)
                return log_oom();

        for (size_t i = 0; i < config->certd.n_modules; i++) {
                const ModuleConfig *c = &config->certd.modules[i];
                if (c->disabled) {
                        log_info("Module %s is disabled.", c->type);
                        continue;
                }
                ModuleSlot *s = &m->slots[m->n_slots];
                s->manager = m;
                s->config = c;
                r = sd_bus_path_encode(CERTS_MODULE_PATH_PREFIX, c->type, &s->object_path);
                if (r < 0)
                        return log_oom();
                r = cert_module_new(c, &config->certd, &m->roots, m->db_write, &s->module);
                if (r < 0)
                        return log_error_errno(r, "Cannot set up module %s: %m", c->type);
                m->n_slots++;
                if (strv_extend(&m->cert_types, c->type) < 0)
                        return log_oom();

                ReconcileStats st = {};
                r = cert_module_reconcile(s->module, &st);
                if (r < 0)
                        log_warning_errno(r, "Module %s: cannot reconcile storage and database, continuing: %m",
                                          c->type);
                else if (st.rows_added + st.rows_removed + st.objects_removed + st.pending_removed + st.trimmed > 0)
                        log_notice("Module %s reconciled: %u records added, %u removed, %u orphaned objects "
                                   "removed, %u pending keys dropped, %u trimmed.", c->type, st.rows_added,
                                   st.rows_removed, st.objects_removed, st.pending_removed, st.trimmed);
        }

        r = worker_new(event, &m->worker);
        if (r < 0)
                return log_error_errno(r, "Cannot start the worker thread: %m");

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* The worker first: queued calls get their error replies while the bus is still there. */
        worker_free(m->worker);
        for (size_t i = 0; i < m->n_slots; i++) {
                cert_module_free(m->slots[i].module);
                free(m->slots[i].object_path);
        }
        free(m->slots);
        polkit_registry_free(m->polkit_registry);
        sd_bus_flush_close_unref(m->bus);
        if (m->db_read)
                db_close(m->db_read);
        if (m->db_write)
                db_close(m->db_write);
        x509_chain_done(&m->roots);
        strv_free(m->cert_types);
        config_free(m->config);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

int manager_connect(Manager *m) {
        int r;

        r = daemon_bus_open(m->event, "aos-certd", &m->bus);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(m->bus, NULL, CERTS_OBJECT_PATH, CERTS_MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Cannot register the manager object: %m");
        r = sd_bus_add_fallback_vtable(m->bus, NULL, CERTS_MODULE_PATH_PREFIX, CERTS_MODULE_INTERFACE,
                                       module_vtable, module_find, m);
        if (r < 0)
                return log_error_errno(r, "Cannot register the module objects: %m");
        r = sd_bus_add_node_enumerator(m->bus, NULL, CERTS_MODULE_PATH_PREFIX, module_enumerate, m);
        if (r < 0)
                return log_error_errno(r, "Cannot register the module enumerator: %m");
        r = sd_bus_add_object_manager(m->bus, NULL, CERTS_OBJECT_PATH);
        if (r < 0)
                return log_error_errno(r, "Cannot register the object manager: %m");
        r = sd_bus_request_name(m->bus, CERTS_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Cannot take the bus name %s: %m", CERTS_BUS_NAME);
        return 0;
}
