/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-error.h"
#include "log.h"
#include "macro.h"
#include "remote.h"

typedef struct Forward {
        Manager *manager;
        sd_bus_message *call;
        char *node_id;
} Forward;

static void forward_free(void *p) {
        Forward *f = p;
        if (!f)
                return;
        sd_bus_message_unref(f->call);
        free(f->node_id);
        free(f);
}

/* The state a successful member leaves the remote node in, or NULL if it changes none. */
static const char *state_after(const char *member) {
        if (streq(member, "FinishProvisioning") || streq(member, "ResumeNode"))
                return "provisioned";
        if (streq(member, "Deprovision"))
                return "unprovisioned";
        if (streq(member, "PauseNode"))
                return "paused";
        return NULL;
}

static bool is_provisioning_member(const char *member) {
        return streq(member, "StartProvisioning") || streq(member, "FinishProvisioning") ||
               streq(member, "Deprovision");
}

static int on_forward_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *answer = NULL;
        Forward *f = userdata;
        const char *member = strna(sd_bus_message_get_member(f->call));
        int r;

        const sd_bus_error *e = sd_bus_message_get_error(reply);
        if (e) {
                log_event(LOG_WARNING, STRV(strjoina("NODE_ID=", f->node_id), strjoina("METHOD=", member),
                                            "EVENT=forward-failed"),
                          "%s for node %s failed: %s", member, f->node_id, e->name);
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                           SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_UNKNOWN_INTERFACE,
                                           AOS_NODELINK_ERROR_NODE_NOT_FOUND))
                        r = sd_bus_reply_method_errorf(f->call, AOS_PROV_ERROR_NODE_UNREACHABLE,
                                                       "Node %s is not connected to this node's link (%s).",
                                                       f->node_id, e->message ?: e->name);
                else if (sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
                        r = sd_bus_reply_method_errorf(f->call, AOS_PROV_ERROR_TIMEOUT,
                                                       "Node %s did not answer %s in time.", f->node_id, member);
                else
                        r = sd_bus_reply_method_error(f->call, e);
                if (r < 0)
                        log_debug_errno(r, "Cannot send the error of %s, ignoring: %m", member);
                return 0;
        }

        r = sd_bus_message_new_method_return(f->call, &answer);
        if (r >= 0)
                r = sd_bus_message_copy(answer, reply, true);
        if (r >= 0)
                r = sd_bus_send(NULL, answer, NULL);
        if (r < 0) {
                log_error_errno(r, "Cannot relay the reply of %s for node %s: %m", member, f->node_id);
                (void) sd_bus_reply_method_errno(f->call, r, NULL);
                return 0;
        }

        log_event(LOG_INFO, STRV(strjoina("NODE_ID=", f->node_id), strjoina("METHOD=", member), "EVENT=forward-completed"),
                  "%s for node %s completed.", member, f->node_id);
        const char *state = state_after(member);
        if (state) {
                r = sd_bus_emit_signal(f->manager->bus, PROV_OBJECT_PATH, PROV_MANAGER_INTERFACE, "NodeStateChanged",
                                       "ss", f->node_id, state);
                if (r < 0)
                        log_warning_errno(r, "Cannot send NodeStateChanged for node %s, ignoring: %m", f->node_id);
        }
        return 0;
}

int remote_forward(Manager *m, sd_bus_message *call, const char *node_id, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *fwd = NULL;
        _cleanup_free_ char *path = NULL;
        sd_bus_slot *slot = NULL;
        const char *member = sd_bus_message_get_member(call);
        int r;

        if (!member)
                return -EINVAL;

        r = sd_bus_path_encode(NODELINK_NODE_PATH_PREFIX, node_id, &path);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(m->bus, &fwd, NODELINK_BUS_NAME, path, PROV_MANAGER_INTERFACE, member);
        if (r < 0)
                return r;
        /* The same arguments: the body is copied from the start, whatever was read already. */
        r = sd_bus_message_rewind(call, true);
        if (r < 0)
                return r;
        r = sd_bus_message_copy(fwd, call, true);
        if (r < 0)
                return r;
        /* The password may be in there. */
        (void) sd_bus_message_sensitive(fwd);

        Forward *f = calloc(1, sizeof(Forward));
        if (!f)
                return -ENOMEM;
        f->manager = m;
        f->call = sd_bus_message_ref(call);
        f->node_id = strdup(node_id);
        if (!f->node_id) {
                forward_free(f);
                return -ENOMEM;
        }

        /* aos-nodelinkd enforces the node link's time limits and answers Timeout itself; this
         * one only guards against the link daemon hanging. */
        uint64_t limit = is_provisioning_member(member) ? m->config->nodelink.provisioning_timeout_usec
                                                        : m->config->nodelink.call_timeout_usec;
        r = sd_bus_call_async(m->bus, &slot, fwd, on_forward_reply, f, limit + 10 * USEC_PER_SEC);
        if (r < 0) {
                forward_free(f);
                return sd_bus_error_set_errnof(error, r, "Cannot reach the node link for node %s: %m", node_id);
        }
        /* The slot owns f from here on and lives until the reply (or the bus) is gone. */
        (void) sd_bus_slot_set_destroy_callback(slot, forward_free);
        (void) sd_bus_slot_set_floating(slot, true);
        sd_bus_slot_unref(slot);

        log_event(LOG_INFO, STRV(strjoina("NODE_ID=", node_id), strjoina("METHOD=", member), "EVENT=forward-started"),
                  "%s for node %s (from %s) handed to the node link.", member, node_id,
                  strna(sd_bus_message_get_sender(call)));
        return 1;
}
