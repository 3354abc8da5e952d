/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <time.h>

#include "bus-error.h"
#include "fault.h"
#include "hook.h"
#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "remote.h"
#include "password-file.h"

#define NODE_ID_MAX 64

typedef enum CallKind {
        CALL_START_PROVISIONING,
        CALL_FINISH_PROVISIONING,
        CALL_DEPROVISION,
        CALL_CREATE_KEY,
        CALL_APPLY_CERT,
        _CALL_KIND_MAX,
} CallKind;

static const char *const call_kind_table[_CALL_KIND_MAX] = {
        [CALL_START_PROVISIONING] = "StartProvisioning",
        [CALL_FINISH_PROVISIONING] = "FinishProvisioning",
        [CALL_DEPROVISION] = "Deprovision",
        [CALL_CREATE_KEY] = "CreateKey",
        [CALL_APPLY_CERT] = "ApplyCert",
};

static bool call_kind_is_exclusive(CallKind k) {
        return k == CALL_START_PROVISIONING || k == CALL_FINISH_PROVISIONING || k == CALL_DEPROVISION;
}

/* The steps a call is made of. Each either completes at once or starts something (a hook, an
 * aos-certd call, the password delay) whose completion continues the plan. */
typedef enum Step {
        STEP_CHECK_PASSWORD,
        STEP_REMOVE_PASSWORD_FILE,
        STEP_START_HOOK,
        STEP_CLEAR_MODULES,
        STEP_SET_OWNERS,
        STEP_SELF_SIGNED,
        STEP_DISK_ENCRYPTION_HOOK,
        STEP_SAVE_PASSWORD_FILE,
        STEP_FINISH_HOOK,
        STEP_SAVE_PROVISIONED,
        STEP_DEPROVISION_HOOK,
        STEP_SAVE_UNPROVISIONED,
        STEP_CREATE_KEY,
        STEP_APPLY_CERT,
        _STEP_MAX, /* the end of a plan */
} Step;

typedef struct PlanStep {
        Step step;
        /* The crash point after the step (-Dfault_injection=true builds, $AOS_FAULT). After a
         * kill at any of them the same call can simply be repeated. */
        const char *fault;
} PlanStep;

/* The password record goes first and comes back last: it exists exactly when a
 * StartProvisioning has completed, which is what FinishProvisioning asks for. */
static const PlanStep start_plan[] = {
        { STEP_REMOVE_PASSWORD_FILE, NULL },
        { STEP_START_HOOK, "start-after-hook" },
        { STEP_CLEAR_MODULES, "start-after-clear" },
        { STEP_SET_OWNERS, "start-after-setowner" },
        { STEP_SELF_SIGNED, "start-after-selfsigned" },
        { STEP_DISK_ENCRYPTION_HOOK, "start-after-disk-hook" },
        { STEP_SAVE_PASSWORD_FILE, NULL },
        { _STEP_MAX, NULL },
};

static const PlanStep finish_plan[] = {
        { STEP_CHECK_PASSWORD, NULL },
        { STEP_FINISH_HOOK, "finish-after-hook" },
        { STEP_SAVE_PROVISIONED, NULL },
        { _STEP_MAX, NULL },
};

/* The state file goes last, so an interrupted Deprovision leaves the node provisioned (or
 * paused) and Deprovision can be repeated; the password record goes before it, and a
 * Deprovision without one is allowed (see step_check_password()). */
static const PlanStep deprovision_plan[] = {
        { STEP_CHECK_PASSWORD, NULL },
        { STEP_DEPROVISION_HOOK, "deprovision-after-hook" },
        { STEP_CLEAR_MODULES, "deprovision-after-clear" },
        { STEP_REMOVE_PASSWORD_FILE, "deprovision-after-password" },
        { STEP_SAVE_UNPROVISIONED, NULL },
        { _STEP_MAX, NULL },
};

static const PlanStep create_key_plan[] = {
        { STEP_CHECK_PASSWORD, NULL },
        { STEP_CREATE_KEY, NULL },
        { _STEP_MAX, NULL },
};

static const PlanStep apply_cert_plan[] = {
        { STEP_APPLY_CERT, NULL },
        { _STEP_MAX, NULL },
};

static const PlanStep *const plans[_CALL_KIND_MAX] = {
        [CALL_START_PROVISIONING] = start_plan,
        [CALL_FINISH_PROVISIONING] = finish_plan,
        [CALL_DEPROVISION] = deprovision_plan,
        [CALL_CREATE_KEY] = create_key_plan,
        [CALL_APPLY_CERT] = apply_cert_plan,
};

/* One method call in progress. */
struct Call {
        Manager *manager;
        CallKind kind;
        sd_bus_message *message;
        const PlanStep *plan;
        size_t step;            /* index into plan */
        size_t module;          /* per-module steps: the next module to look at */
        char *password;         /* wiped when freed */
        char *type;
        char *subject;
        char *chain;
        sd_bus_slot *slot;      /* the aos-certd call in flight */
        Hook *hook;             /* the hook running */
        sd_bus_message *reply;  /* CreateKey, ApplyCert: the answer, once aos-certd gave it */
        bool queued;            /* waiting in Manager.password_queue */
        Call *next_password;
        Call *prev, *next;      /* Manager.calls */
};

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static const char *call_name(const Call *c) {
        return call_kind_table[c->kind];
}

static const char *call_sender(const Call *c) {
        return strna(sd_bus_message_get_sender(c->message));
}

static Call *call_free(Call *c) {
        if (!c)
                return NULL;
        Manager *m = c->manager;

        if (c->queued)
                for (Call **p = &m->password_queue; *p; p = &(*p)->next_password)
                        if (*p == c) {
                                *p = c->next_password;
                                break;
                        }
        if (c->prev)
                c->prev->next = c->next;
        else if (m->calls == c)
                m->calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (m->exclusive == c)
                m->exclusive = NULL;
        else if (!call_kind_is_exclusive(c->kind) && m->n_shared > 0)
                m->n_shared--;

        hook_free(c->hook);
        sd_bus_slot_unref(c->slot);
        sd_bus_message_unref(c->reply);
        sd_bus_message_unref(c->message);
        erase_and_free(c->password);
        free(c->type);
        free(c->subject);
        free(c->chain);
        free(c);
        return NULL;
}

static void call_fail(Call *c, const sd_bus_error *error) {
        log_event(LOG_WARNING,
                  STRV(strjoina("NODE_ID=", c->manager->config->node.id), strjoina("METHOD=", call_name(c)),
                       "EVENT=call-failed"),
                  "%s (from %s) failed: %s: %s", call_name(c), call_sender(c), strna(error->name),
                  strna(error->message));
        int r = sd_bus_reply_method_error(c->message, error);
        if (r < 0) {
                /* E.g. a message that is no valid UTF-8 (a hook path from the configuration):
                 * the caller must get an answer all the same. */
                log_debug_errno(r, "Cannot send the error reply to %s, sending a plain one: %m", call_name(c));
                r = sd_bus_reply_method_errorf(c->message, SD_BUS_ERROR_FAILED,
                                               "%s failed; the journal of aos-provisiond says why.", call_name(c));
                if (r < 0)
                        log_debug_errno(r, "Cannot send the error reply to %s, ignoring: %m", call_name(c));
        }
        call_free(c);
}

_printf_(3, 4)
static void call_failf(Call *c, const char *name, const char *format, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *message = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);
        (void) sd_bus_error_set(&error, name, message ?: "out of memory");
        call_fail(c, &error);
}

static void call_succeed(Call *c) {
        int r;

        log_event(LOG_INFO,
                  STRV(strjoina("NODE_ID=", c->manager->config->node.id), strjoina("METHOD=", call_name(c)),
                       "EVENT=call-completed"),
                  "%s (from %s) completed.", call_name(c), call_sender(c));
        if (c->reply)
                r = sd_bus_send(NULL, c->reply, NULL);
        else
                r = sd_bus_reply_method_return(c->message, NULL);
        if (r < 0)
                log_debug_errno(r, "Cannot send the reply to %s, ignoring: %m", call_name(c));
        call_free(c);
}

/* ---- the node's state ---- */

static int manager_set_state(Manager *m, NodeState state, sd_bus_error *error) {
        const char *id = m->config->node.id;
        int r;

        r = state_file_save(m->config->node.state_file, state);
        if (r < 0) {
                errno = -r;
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Cannot write the state file %s: %m",
                                         m->config->node.state_file);
        }

        NodeState old = m->state;
        m->state = state;
        free(m->state_detail);
        m->state_detail = NULL;
        log_event(LOG_NOTICE,
                  STRV(strjoina("NODE_ID=", id), strjoina("NODE_STATE=", node_state_to_string(state)),
                       "EVENT=state-changed"),
                  "Node %s: %s -> %s", id, node_state_to_string(old), node_state_to_string(state));

        r = sd_bus_emit_properties_changed(m->bus, PROV_OBJECT_PATH, PROV_MANAGER_INTERFACE, "State", "StateDetail",
                                           NULL);
        if (r < 0)
                log_warning_errno(r, "Cannot announce the new state, ignoring: %m");
        r = sd_bus_emit_signal(m->bus, PROV_OBJECT_PATH, PROV_MANAGER_INTERFACE, "NodeStateChanged", "ss", id,
                               node_state_to_string(state));
        if (r < 0)
                log_warning_errno(r, "Cannot send NodeStateChanged, ignoring: %m");
        return 0;
}

/* ---- aos-certd ---- */

static const char *step_certd_method(Step s) {
        switch (s) {
        case STEP_CLEAR_MODULES:
                return "Clear";
        case STEP_SET_OWNERS:
                return "SetOwner";
        case STEP_SELF_SIGNED:
                return "CreateSelfSignedCert";
        case STEP_CREATE_KEY:
                return "CreateKey";
        case STEP_APPLY_CERT:
                return "ApplyCert";
        case STEP_CHECK_PASSWORD:
        case STEP_REMOVE_PASSWORD_FILE:
        case STEP_START_HOOK:
        case STEP_DISK_ENCRYPTION_HOOK:
        case STEP_SAVE_PASSWORD_FILE:
        case STEP_FINISH_HOOK:
        case STEP_SAVE_PROVISIONED:
        case STEP_DEPROVISION_HOOK:
        case STEP_SAVE_UNPROVISIONED:
        case _STEP_MAX:
                break;
        }
        return NULL;
}

static void call_continue(Call *c);

/* A step that was waiting for something completed: on to the next one. */
static void call_step_completed(Call *c) {
        const PlanStep *p = c->plan + c->step;
        if (p->fault)
                FAULT_POINT(p->fault);
        c->step++;
        c->module = 0;
        call_continue(c);
}

static int on_certd_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Call *c = userdata;
        Step step = c->plan[c->step].step;
        const char *method = step_certd_method(step);
        int r = -EINVAL;

        c->slot = sd_bus_slot_unref(c->slot);

        const sd_bus_error *e = sd_bus_message_get_error(reply);
        if (e) {
                bool forward = step == STEP_CREATE_KEY || step == STEP_APPLY_CERT;
                const char *type = forward ? c->type : c->manager->config->certd.modules[c->module].type;

                if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY)) {
                        call_failf(c, AOS_PROV_ERROR_TIMEOUT, "%s of module %s failed: aos-certd did not answer within %u s.",
                                   method, type, (unsigned) (CERTD_CALL_TIMEOUT_USEC / USEC_PER_SEC));
                        return 0;
                }
                if (forward) {
                        /* The caller gets aos-certd's answer as it is. */
                        call_fail(c, e);
                        return 0;
                }
                call_failf(c, e->name, "%s of module %s failed: %s: %s", method, type, e->name, strna(e->message));
                return 0;
        }

        switch (step) {
        case STEP_CREATE_KEY: {
                const char *csr;
                r = sd_bus_message_read(reply, "s", &csr);
                if (r >= 0)
                        r = sd_bus_message_new_method_return(c->message, &c->reply);
                if (r >= 0)
                        r = sd_bus_message_append(c->reply, "s", csr);
                break;
        }
        case STEP_APPLY_CERT:
                r = sd_bus_message_new_method_return(c->message, &c->reply);
                if (r >= 0)
                        r = sd_bus_message_copy(c->reply, reply, true);
                break;
        case STEP_CLEAR_MODULES:
        case STEP_SET_OWNERS:
        case STEP_SELF_SIGNED:
                /* The next module, or the end of the step. */
                c->module++;
                call_continue(c);
                return 0;
        case STEP_CHECK_PASSWORD:
        case STEP_REMOVE_PASSWORD_FILE:
        case STEP_START_HOOK:
        case STEP_DISK_ENCRYPTION_HOOK:
        case STEP_SAVE_PASSWORD_FILE:
        case STEP_FINISH_HOOK:
        case STEP_SAVE_PROVISIONED:
        case STEP_DEPROVISION_HOOK:
        case STEP_SAVE_UNPROVISIONED:
        case _STEP_MAX:
                r = -EINVAL;
                break;
        }
        if (r < 0) {
                c->reply = sd_bus_message_unref(c->reply);
                errno = -r;
                call_failf(c, SD_BUS_ERROR_FAILED, "Cannot pass on the answer of aos-certd to %s: %m", method);
                return 0;
        }
        call_step_completed(c);
        return 0;
}

/* Calls aos-certd's method with the call's arguments: "s" type, or "ss" type and password,
 * or "sss" type, subject and password. */
static int certd_call(Call *c, const char *method, const char *type, bool with_password, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        Manager *m = c->manager;
        int r;

        r = sd_bus_message_new_method_call(m->bus, &msg, CERTS_BUS_NAME, CERTS_OBJECT_PATH, CERTS_MANAGER_INTERFACE,
                                           method);
        if (r < 0)
                return r;
        if (with_password) {
                /* Wiped when the message is freed. */
                r = sd_bus_message_sensitive(msg);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_append(msg, "s", type);
        if (r >= 0 && c->kind == CALL_CREATE_KEY)
                r = sd_bus_message_append(msg, "s", c->subject);
        if (r >= 0 && c->kind == CALL_APPLY_CERT)
                r = sd_bus_message_append(msg, "s", c->chain);
        if (r >= 0 && with_password)
                r = sd_bus_message_append(msg, "s", c->password);
        if (r < 0)
                return r;

        log_debug("%s: calling %s(%s) of aos-certd.", call_name(c), method, type);
        r = sd_bus_call_async(m->bus, &c->slot, msg, on_certd_reply, c, CERTD_CALL_TIMEOUT_USEC);
        if (r < 0) {
                errno = -r;
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s of module %s failed: cannot call aos-certd: %m",
                                         method, type);
        }
        return 1;
}

/* Per-module steps: the next module from c->module on that the step is for, or -1. */
static ssize_t next_module(Call *c, Step step) {
        const CertdConfig *cc = &c->manager->config->certd;
        for (size_t i = c->module; i < cc->n_modules; i++) {
                const ModuleConfig *mc = &cc->modules[i];
                if (mc->disabled)
                        continue;
                if (step == STEP_SELF_SIGNED && !mc->self_signed)
                        continue;
                return (ssize_t) i;
        }
        return -1;
}

static int step_module(Call *c, Step step, sd_bus_error *error) {
        ssize_t i = next_module(c, step);
        if (i < 0)
                return 0;
        c->module = (size_t) i;
        return certd_call(c, step_certd_method(step), c->manager->config->certd.modules[i].type,
                          step != STEP_CLEAR_MODULES, error);
}

/* ---- hooks ---- */

static void on_hook_done(Hook *h, const HookResult *result, void *userdata) {
        Call *c = userdata;

        if (result->error < 0) {
                _cleanup_free_ char *reason = strdup(result->reason);
                c->hook = hook_free(c->hook);
                call_failf(c, AOS_PROV_ERROR_HOOK_FAILED, "%s", reason ?: "the hook failed");
                return;
        }
        c->hook = hook_free(c->hook);
        call_step_completed(c);
}

static int step_hook(Call *c, HookStep step, char **argv, sd_bus_error *error) {
        Manager *m = c->manager;
        int r;

        if (strv_length(argv) == 0) {
                log_debug("%s: no %s hook configured.", call_name(c), hook_step_to_string(step));
                return 0;
        }

        HookParams p = {
                .step = step,
                .argv = argv,
                .node_id = m->config->node.id,
                .node_state = node_state_to_string(m->state),
                /* The disk-encryption hook, and nothing else, gets the password: on stdin. */
                .input = step == HOOK_STEP_DISK_ENCRYPTION ? c->password : NULL,
                .timeout_usec = m->config->provisioning.hook_timeout_usec,
        };
        r = hook_start(m->event, &p, on_hook_done, c, &c->hook);
        if (r < 0) {
                errno = -r;
                return sd_bus_error_setf(error, AOS_PROV_ERROR_HOOK_FAILED, "%s hook %s cannot be started: %m",
                                         hook_step_to_string(step), argv[0]);
        }
        return 1;
}

/* ---- the password ---- */

static void password_queue_kick(Manager *m);

/* The password record is missing (-ENOENT) or unusable (-EBADMSG): what a call does without
 * it. */
static int password_unchecked(Manager *m, CallKind kind, int reason, sd_bus_error *error) {
        const char *path = m->password_path;

        switch (kind) {
        case CALL_FINISH_PROVISIONING:
                if (reason == -ENOENT)
                        return sd_bus_error_set(error, AOS_PROV_ERROR_WRONG_STATE,
                                                "StartProvisioning has not completed on this node; "
                                                "FinishProvisioning needs it first.");
                return sd_bus_error_setf(error, AOS_PROV_ERROR_WRONG_STATE,
                                         "The provisioning password record %s is damaged; repeat StartProvisioning.",
                                         path);
        case CALL_DEPROVISION:
                /* A node provisioned before the record was kept, or one whose Deprovision was
                 * cut short after removing it: refusing would leave it stuck. polkit and the
                 * provisioning mode still guard the call. */
                log_warning("No usable provisioning password record (%s: %s): Deprovision proceeds without "
                            "checking the password.", path, strerror(-reason));
                return 0;
        case CALL_CREATE_KEY:
                /* aos-certd checks the password against its own owner record. */
                log_debug("No usable provisioning password record (%s: %s): aos-certd checks the password.", path,
                          strerror(-reason));
                return 0;
        case CALL_START_PROVISIONING:
        case CALL_APPLY_CERT:
        case _CALL_KIND_MAX:
                break;
        }
        return 0;
}

static void password_check_now(Call *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Manager *m = c->manager;
        int r;

        r = password_file_check(m->password_path, c->password);
        if (r == -ENOENT || r == -EBADMSG) {
                r = password_unchecked(m, c->kind, r, &error);
                if (r < 0)
                        call_fail(c, &error);
                else
                        call_step_completed(c);
                return;
        }
        if (r < 0) {
                errno = -r;
                call_failf(c, SD_BUS_ERROR_FAILED, "Cannot read the provisioning password record %s: %m",
                           m->password_path);
                return;
        }

        password_throttle_record(&m->throttle, r, now_usec(CLOCK_MONOTONIC));
        if (r == 0) {
                log_event(LOG_WARNING,
                          STRV(strjoina("NODE_ID=", m->config->node.id), strjoina("METHOD=", call_name(c)),
                               "EVENT=wrong-password"),
                          "Wrong provisioning password in %s from %s (%u in a row); the next check is delayed.",
                          call_name(c), call_sender(c), m->throttle.failures);
                call_failf(c, AOS_PROV_ERROR_WRONG_PASSWORD, "The password is not the one given to StartProvisioning.");
                return;
        }
        call_step_completed(c);
}

static int on_password_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->password_timer = sd_event_source_disable_unref(m->password_timer);
        password_queue_kick(m);
        return 0;
}

/* Checks the queued passwords in order, each once the throttle allows it. */
static void password_queue_kick(Manager *m) {
        int r;

        while (m->password_queue && !m->password_timer) {
                uint64_t wait = password_throttle_wait(&m->throttle, now_usec(CLOCK_MONOTONIC));
                if (wait > 0) {
                        r = sd_event_add_time_relative(m->event, &m->password_timer, CLOCK_MONOTONIC, wait, 0,
                                                       on_password_timer, m);
                        if (r >= 0)
                                return;
                        log_warning_errno(r, "Cannot wait before the next password check, checking now: %m");
                }
                Call *c = m->password_queue;
                m->password_queue = c->next_password;
                c->next_password = NULL;
                c->queued = false;
                password_check_now(c); /* may free c */
        }
}

static int step_check_password(Call *c, sd_bus_error *error) {
        Manager *m = c->manager;

        int r = password_file_exists(m->password_path);
        if (r < 0) {
                errno = -r;
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Cannot look for the password record %s: %m",
                                         m->password_path);
        }
        if (r == 0)
                return password_unchecked(m, c->kind, -ENOENT, error);

        Call **p = &m->password_queue;
        while (*p)
                p = &(*p)->next_password;
        *p = c;
        c->queued = true;
        password_queue_kick(m);
        /* Checked already, maybe even completed and freed: either way, not ours any more. */
        return 1;
}

/* ---- running a plan ---- */

static int step_run(Call *c, Step step, sd_bus_error *error) {
        Manager *m = c->manager;
        const ProvisioningConfig *pc = &m->config->provisioning;
        int r;

        switch (step) {
        case STEP_CHECK_PASSWORD:
                return step_check_password(c, error);

        case STEP_REMOVE_PASSWORD_FILE:
                r = password_file_remove(m->password_path);
                if (r < 0) {
                        errno = -r;
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED,
                                                 "Cannot remove the password record %s: %m", m->password_path);
                }
                return 0;

        case STEP_START_HOOK:
                return step_hook(c, HOOK_STEP_START, pc->start_command, error);

        case STEP_CLEAR_MODULES:
        case STEP_SET_OWNERS:
        case STEP_SELF_SIGNED:
                return step_module(c, step, error);

        case STEP_DISK_ENCRYPTION_HOOK:
                return step_hook(c, HOOK_STEP_DISK_ENCRYPTION, pc->disk_encryption_command, error);

        case STEP_SAVE_PASSWORD_FILE:
                r = password_file_save(m->password_path, c->password);
                if (r < 0) {
                        errno = -r;
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED,
                                                 "Cannot write the password record %s: %m", m->password_path);
                }
                return 0;

        case STEP_FINISH_HOOK:
                return step_hook(c, HOOK_STEP_FINISH, pc->finish_command, error);

        case STEP_SAVE_PROVISIONED:
                return manager_set_state(m, NODE_STATE_PROVISIONED, error);

        case STEP_DEPROVISION_HOOK:
                return step_hook(c, HOOK_STEP_DEPROVISION, pc->deprovision_command, error);

        case STEP_SAVE_UNPROVISIONED:
                return manager_set_state(m, NODE_STATE_UNPROVISIONED, error);

        case STEP_CREATE_KEY:
                return certd_call(c, "CreateKey", c->type, true, error);

        case STEP_APPLY_CERT:
                return certd_call(c, "ApplyCert", c->type, false, error);

        case _STEP_MAX:
                break;
        }
        return 0;
}

/* Runs the plan's steps until one waits for something, the plan is done (the call is answered
 * and freed) or a step failed (likewise). */
static void call_continue(Call *c) {
        for (;;) {
                const PlanStep *p = c->plan + c->step;
                if (p->step == _STEP_MAX) {
                        call_succeed(c);
                        return;
                }

                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = step_run(c, p->step, &error);
                if (r < 0) {
                        if (!sd_bus_error_is_set(&error)) {
                                errno = -r;
                                (void) sd_bus_error_setf(&error, SD_BUS_ERROR_FAILED, "%s failed: %m", call_name(c));
                        }
                        call_fail(c, &error);
                        return;
                }
                if (r > 0)
                        return;

                if (p->fault)
                        FAULT_POINT(p->fault);
                c->step++;
                c->module = 0;
        }
}

/* Takes the call on: from here on it is answered by its plan. */
static int call_start(Manager *m, CallKind kind, sd_bus_message *message, const char *password, const char *type,
                      const char *subject, const char *chain) {
        Call *c = calloc(1, sizeof(Call));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->kind = kind;
        c->message = sd_bus_message_ref(message);
        c->plan = plans[kind];
        c->next = m->calls;
        if (m->calls)
                m->calls->prev = c;
        m->calls = c;
        if (call_kind_is_exclusive(kind))
                m->exclusive = c;
        else
                m->n_shared++;

        if ((password && !(c->password = strdup(password))) || (type && !(c->type = strdup(type))) ||
            (subject && !(c->subject = strdup(subject))) || (chain && !(c->chain = strdup(chain)))) {
                call_free(c);
                return -ENOMEM;
        }

        log_event(LOG_INFO,
                  STRV(strjoina("NODE_ID=", m->config->node.id), strjoina("METHOD=", call_name(c)), "EVENT=call-started"),
                  "%s%s%s from %s.", call_name(c), type ? " of module " : "", strempty(type), call_sender(c));
        call_continue(c);
        return 1;
}

/* ---- checks before a call is taken on ---- */

/* Where a call for node_id runs: 0 for this node, 1 for another node of the unit (the main
 * node forwards it over the node link, see remote.c). A secondary node knows no other node. */
static int manager_route(Manager *m, const char *node_id, sd_bus_error *error) {
        if (isempty(node_id) || streq(node_id, m->config->node.id))
                return 0;
        if (m->config->node.main_node)
                return 1;
        return sd_bus_error_setf(error, AOS_PROV_ERROR_NODE_NOT_FOUND,
                                 "No node '%s' is known here: this node ('%s') is not the main node, only the "
                                 "main node reaches other nodes.", node_id, m->config->node.id);
}

static int validate_node_id(const char *node_id, sd_bus_error *error) {
        size_t l = strlen(node_id);
        if (l > NODE_ID_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The node id is %zu bytes long; a node id has at most %d.", l, NODE_ID_MAX);
        for (const char *p = node_id; *p; p++)
                if (!(isascii((unsigned char) *p) && (isalnum((unsigned char) *p) || strchr("._-", *p))))
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                                "The node id may only hold A-Z, a-z, 0-9, '.', '_' and '-'.");
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

static int check_not_busy(Manager *m, bool exclusive, sd_bus_error *error) {
        if (m->exclusive)
                return sd_bus_error_setf(error, AOS_PROV_ERROR_WRONG_STATE,
                                         "The node is busy: %s is running; try again when it has finished.",
                                         call_name(m->exclusive));
        if (exclusive && m->n_shared > 0)
                return sd_bus_error_setf(error, AOS_PROV_ERROR_WRONG_STATE,
                                         "The node is busy: %u CreateKey/ApplyCert calls are running; try again when "
                                         "they have finished.", m->n_shared);
        return 0;
}

#define STATE_BIT(s) (1U << (s))

static int check_state(Manager *m, const char *method, unsigned allowed, sd_bus_error *error) {
        if (allowed & STATE_BIT(m->state))
                return 0;

        const char *needs;
        if (allowed == STATE_BIT(NODE_STATE_UNPROVISIONED))
                needs = "unprovisioned";
        else if (allowed == STATE_BIT(NODE_STATE_PROVISIONED))
                needs = "provisioned";
        else if (allowed == STATE_BIT(NODE_STATE_PAUSED))
                needs = "paused";
        else
                needs = "provisioned or paused";

        if (m->state == NODE_STATE_ERROR)
                return sd_bus_error_setf(error, AOS_PROV_ERROR_WRONG_STATE,
                                         "The node is in state error (%s); %s needs %s. Deprovision resets the node.",
                                         strna(m->state_detail), method, needs);
        return sd_bus_error_setf(error, AOS_PROV_ERROR_WRONG_STATE, "The node is %s; %s needs %s.",
                                 node_state_to_string(m->state), method, needs);
}

static int check_provisioning_mode(Manager *m, const char *method, sd_bus_error *error) {
        if (m->provisioning_mode)
                return 0;
        return sd_bus_error_setf(error, AOS_PROV_ERROR_NOT_IN_PROV_MODE,
                                 "%s needs provisioning mode: aos-provisiond runs without --provisioning.", method);
}

/* The front every node-addressed method shares, in the order validate, route, authorize:
 * the node id (and the password, when there is one) checked, the node found, polkit asked for
 * action (NULL: a read, open to all), and a remote node's call forwarded as it is. Returns 1
 * when the call is for this node and goes on here, 0 when it has been dealt with (forwarded,
 * or waiting for polkit), < 0 on error. */
static int method_prologue(Manager *m, sd_bus_message *msg, const char *node_id, const char *password,
                           const char *action, sd_bus_error *error) {
        bool remote;
        int r;

        r = validate_node_id(node_id, error);
        if (r < 0)
                return r;
        if (password) {
                r = validate_password(password, error);
                if (r < 0)
                        return r;
        }
        r = manager_route(m, node_id, error);
        if (r < 0)
                return r;
        remote = r > 0;
        if (action) {
                r = bus_verify_polkit_async(msg, action, &m->polkit_registry, error);
                if (r <= 0)
                        return r;
        }
        if (remote) {
                r = remote_forward(m, msg, node_id, error);
                return r < 0 ? r : 0;
        }
        return 1;
}

/* ---- methods ---- */

static int method_get_cert_types(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        const CertdConfig *cc = &m->config->certd;
        const char *node_id;
        int r;

        r = sd_bus_message_read(msg, "s", &node_id);
        if (r < 0)
                return r;
        r = method_prologue(m, msg, node_id, NULL, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "s");
        if (r < 0)
                return r;
        /* The types a CA signs for: self-signed ones get their certificate at StartProvisioning. */
        for (size_t i = 0; i < cc->n_modules; i++)
                if (!cc->modules[i].disabled && !cc->modules[i].self_signed) {
                        r = sd_bus_message_append(reply, "s", cc->modules[i].type);
                        if (r < 0)
                                return r;
                }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* StartProvisioning, FinishProvisioning, Deprovision: (s node_id, s password). */
static int method_provisioning(sd_bus_message *msg, Manager *m, CallKind kind, sd_bus_error *error) {
        const char *node_id, *password, *method = call_kind_table[kind];
        int r;

        r = sd_bus_message_read(msg, "ss", &node_id, &password);
        if (r < 0)
                return r;
        r = method_prologue(m, msg, node_id, password, PROV_POLKIT_ACTION_PROVISION, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        switch (kind) {
        case CALL_START_PROVISIONING:
                r = check_provisioning_mode(m, method, error);
                if (r >= 0)
                        r = check_not_busy(m, true, error);
                if (r >= 0)
                        r = check_state(m, method, STATE_BIT(NODE_STATE_UNPROVISIONED), error);
                break;
        case CALL_FINISH_PROVISIONING:
                r = check_not_busy(m, true, error);
                if (r >= 0)
                        r = check_state(m, method, STATE_BIT(NODE_STATE_UNPROVISIONED), error);
                if (r >= 0) {
                        r = password_file_exists(m->password_path);
                        if (r == 0)
                                r = password_unchecked(m, kind, -ENOENT, error);
                        else if (r < 0)
                                r = sd_bus_error_set_errnof(error, r, "Cannot look for the password record %s: %m",
                                                            m->password_path);
                }
                break;
        case CALL_DEPROVISION:
                r = check_provisioning_mode(m, method, error);
                if (r >= 0)
                        r = check_not_busy(m, true, error);
                /* Also from "error": the way out for an operator. */
                if (r >= 0)
                        r = check_state(m, method,
                                        STATE_BIT(NODE_STATE_PROVISIONED) | STATE_BIT(NODE_STATE_PAUSED) |
                                        STATE_BIT(NODE_STATE_ERROR), error);
                break;
        case CALL_CREATE_KEY:
        case CALL_APPLY_CERT:
        case _CALL_KIND_MAX:
                return -EINVAL;
        }
        if (r < 0)
                return r;

        return call_start(m, kind, msg, password, NULL, NULL, NULL);
}

static int method_start_provisioning(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_provisioning(msg, userdata, CALL_START_PROVISIONING, error);
}

static int method_finish_provisioning(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_provisioning(msg, userdata, CALL_FINISH_PROVISIONING, error);
}

static int method_deprovision(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_provisioning(msg, userdata, CALL_DEPROVISION, error);
}

static int method_create_key(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *node_id, *type, *subject, *password;
        int r;

        r = sd_bus_message_read(msg, "ssss", &node_id, &type, &subject, &password);
        if (r < 0)
                return r;
        r = method_prologue(m, msg, node_id, password, PROV_POLKIT_ACTION_PROVISION, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = check_not_busy(m, false, error);
        if (r < 0)
                return r;

        /* The node link knows a node by the CN of its certificate: the node id by default. */
        return call_start(m, CALL_CREATE_KEY, msg, password, type, isempty(subject) ? m->config->node.id : subject,
                          NULL);
}

static int method_apply_cert(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *node_id, *type, *chain;
        int r;

        r = sd_bus_message_read(msg, "sss", &node_id, &type, &chain);
        if (r < 0)
                return r;
        r = method_prologue(m, msg, node_id, NULL, PROV_POLKIT_ACTION_PROVISION, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = check_not_busy(m, false, error);
        if (r < 0)
                return r;

        return call_start(m, CALL_APPLY_CERT, msg, NULL, type, NULL, chain);
}

/* PauseNode, ResumeNode: (s node_id); immediate. */
static int method_pause_resume(sd_bus_message *msg, Manager *m, bool pause, sd_bus_error *error) {
        const char *node_id, *method = pause ? "PauseNode" : "ResumeNode";
        int r;

        r = sd_bus_message_read(msg, "s", &node_id);
        if (r < 0)
                return r;
        r = method_prologue(m, msg, node_id, NULL, PROV_POLKIT_ACTION_PAUSE, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = check_not_busy(m, false, error);
        if (r < 0)
                return r;
        r = check_state(m, method, STATE_BIT(pause ? NODE_STATE_PROVISIONED : NODE_STATE_PAUSED), error);
        if (r < 0)
                return r;

        r = manager_set_state(m, pause ? NODE_STATE_PAUSED : NODE_STATE_PROVISIONED, error);
        if (r < 0)
                return r;
        log_event(LOG_INFO,
                  STRV(strjoina("NODE_ID=", m->config->node.id), strjoina("METHOD=", method), "EVENT=call-completed"),
                  "%s (from %s) completed.", method, strna(sd_bus_message_get_sender(msg)));
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_pause_node(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_pause_resume(msg, userdata, true, error);
}

static int method_resume_node(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_pause_resume(msg, userdata, false, error);
}

/* ---- properties ---- */

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        if (streq(property, "NodeId"))
                return sd_bus_message_append(reply, "s", m->config->node.id);
        if (streq(property, "State"))
                return sd_bus_message_append(reply, "s", node_state_to_string(m->state));
        if (streq(property, "StateDetail"))
                return sd_bus_message_append(reply, "s", strempty(m->state_detail));
        if (streq(property, "ProvisioningMode"))
                return sd_bus_message_append(reply, "b", m->provisioning_mode);
        if (streq(property, "MainNode"))
                return sd_bus_message_append(reply, "b", m->config->node.main_node);
        return -ENOENT;
}

/* In the order of dbus-interfaces/org.aosedge.Provisioning1.xml. */
static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("GetCertTypes", SD_BUS_ARGS("s", node_id), SD_BUS_RESULT("as", types),
                                method_get_cert_types, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartProvisioning", SD_BUS_ARGS("s", node_id, "s", password), SD_BUS_NO_RESULT,
                                method_start_provisioning, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("CreateKey", SD_BUS_ARGS("s", node_id, "s", type, "s", subject, "s", password),
                                SD_BUS_RESULT("s", csr), method_create_key,
                                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("ApplyCert", SD_BUS_ARGS("s", node_id, "s", type, "s", chain),
                                SD_BUS_RESULT("a{sv}", info), method_apply_cert, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("FinishProvisioning", SD_BUS_ARGS("s", node_id, "s", password), SD_BUS_NO_RESULT,
                                method_finish_provisioning, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("Deprovision", SD_BUS_ARGS("s", node_id, "s", password), SD_BUS_NO_RESULT,
                                method_deprovision, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("PauseNode", SD_BUS_ARGS("s", node_id), SD_BUS_NO_RESULT, method_pause_node,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ResumeNode", SD_BUS_ARGS("s", node_id), SD_BUS_NO_RESULT, method_resume_node,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("NodeStateChanged", SD_BUS_ARGS("s", node_id, "s", state), 0),
        SD_BUS_PROPERTY("NodeId", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StateDetail", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ProvisioningMode", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MainNode", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

/* ---- life cycle ---- */

int manager_new(sd_event *event, AosConfig *config, bool provisioning_mode, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m) {
                config_free(config);
                return log_oom();
        }
        m->event = sd_event_ref(event);
        m->config = config;
        m->provisioning_mode = provisioning_mode;

        m->password_path = password_file_path(config->node.state_file);
        if (!m->password_path)
                return log_oom();

        r = state_file_load(config->node.state_file, &m->state, &m->state_detail);
        if (r < 0)
                return log_error_errno(r, "Cannot read the state file %s: %m", config->node.state_file);
        if (m->state == NODE_STATE_ERROR)
                log_event(LOG_ERR, STRV(strjoina("NODE_ID=", config->node.id), "NODE_STATE=error", "EVENT=state-error"),
                          "Node %s is in state error: %s. Only Deprovision is accepted until the file is repaired.",
                          config->node.id, m->state_detail);
        else
                log_info("Node %s is %s%s.", config->node.id, node_state_to_string(m->state),
                         provisioning_mode ? ", provisioning mode" : "");

        *ret = TAKE_PTR(m);
        return 0;
}

void manager_abort_calls(Manager *m) {
        /* Calls cut short by a stop get an answer, and can be repeated: every step can. */
        while (m->calls) {
                Call *c = m->calls;
                log_notice("Stopping: %s from %s is interrupted.", call_name(c), call_sender(c));
                (void) sd_bus_reply_method_errorf(c->message, SD_BUS_ERROR_FAILED,
                                                  "aos-provisiond is stopping; %s was interrupted and can be repeated.",
                                                  call_name(c));
                call_free(c);
        }
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        manager_abort_calls(m);
        sd_event_source_disable_unref(m->password_timer);
        polkit_registry_free(m->polkit_registry);
        sd_bus_flush_close_unref(m->bus);
        free(m->state_detail);
        free(m->password_path);
        config_free(m->config);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

int manager_connect(Manager *m) {
        int r;

        r = daemon_bus_open(m->event, "aos-provisiond", &m->bus);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(m->bus, NULL, PROV_OBJECT_PATH, PROV_MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Cannot register the manager object: %m");
        r = sd_bus_request_name(m->bus, PROV_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Cannot take the bus name %s: %m", PROV_BUS_NAME);
        return 0;
}
