/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The main node's objects for connected nodes on the local bus,
 * /org/aosedge/NodeLink1/node/<escaped id>: org.aosedge.NodeLink1.Node, and the forwarded
 * org.aosedge.Provisioning1.Manager and org.aosedge.Certs1.Manager (read members), whose
 * calls run on the node's own daemons over the peer connection. */

#include <errno.h>
#include <stdlib.h>

#include "bus-error.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

struct ForwardedCall {
        Node *node;
        sd_bus_message *call;   /* the caller's message on the local bus */
        sd_bus_slot *slot;      /* the forwarded call on the peer bus */
        sd_event_source *timer; /* our own limit, so that a timeout has our error name */
        char *member;
        ForwardedCall *prev, *next;
};

static ForwardedCall *forwarded_call_free(ForwardedCall *c) {
        if (!c)
                return NULL;
        if (c->node) {
                if (c->prev)
                        c->prev->next = c->next;
                else
                        c->node->calls = c->next;
                if (c->next)
                        c->next->prev = c->prev;
        }
        sd_bus_slot_unref(c->slot);
        sd_event_source_disable_unref(c->timer);
        sd_bus_message_unref(c->call);
        free(c->member);
        free(c);
        return NULL;
}

void node_fail_calls(Node *n) {
        while (n->calls) {
                ForwardedCall *c = n->calls;
                (void) sd_bus_reply_method_errorf(c->call, AOS_PROV_ERROR_NODE_UNREACHABLE,
                                                  "The link to node %s went down before %s answered.", strna(n->id),
                                                  c->member);
                forwarded_call_free(c);
        }
}

static int on_forward_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        ForwardedCall *c = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *answer = NULL;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                /* sd-bus's own answer when the peer connection ends under a pending call. */
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED) &&
                    (!c->node->link || c->node->link->phase != LINK_PHASE_UP))
                        r = sd_bus_reply_method_errorf(c->call, AOS_PROV_ERROR_NODE_UNREACHABLE,
                                                       "The link to node %s went down before %s answered.",
                                                       c->node->id, c->member);
                else
                        r = sd_bus_reply_method_error(c->call, e);
        } else {
                r = sd_bus_message_new_method_return(c->call, &answer);
                if (r >= 0)
                        r = sd_bus_message_rewind(reply, true);
                if (r >= 0)
                        r = sd_bus_message_copy(answer, reply, true);
                if (r >= 0)
                        r = sd_bus_send(NULL, answer, NULL);
                else
                        (void) sd_bus_reply_method_errorf(c->call, SD_BUS_ERROR_FAILED,
                                                          "Cannot pass on the reply of %s: %s", c->member,
                                                          strerror(-r));
        }
        if (r < 0)
                log_debug_errno(r, "Cannot answer a forwarded %s, ignoring: %m", c->member);
        forwarded_call_free(c);
        return 1;
}

static int on_forward_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ForwardedCall *c = userdata;

        log_event(LOG_WARNING, STRV(strjoina("NODE_ID=", c->node->id)),
                  "Node %s did not answer %s in time.", c->node->id, c->member);
        (void) sd_bus_reply_method_errorf(c->call, AOS_PROV_ERROR_TIMEOUT, "Node %s did not answer %s in time.",
                                          c->node->id, c->member);
        forwarded_call_free(c);
        return 0;
}

static int method_forward(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Node *n = userdata;
        Manager *m = n->manager;
        const char *iface = sd_bus_message_get_interface(message);
        const char *member = sd_bus_message_get_member(message);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *fwd = NULL;
        ForwardedCall *c;
        const char *action;
        uint64_t limit;
        int r;

        action = identity_call_polkit_action(iface, member);
        if (action) {
                r = bus_verify_polkit_async(message, action, &m->polkit_registry, error);
                if (r < 0)
                        return r;
                if (r == 0)
                        return 1;
        }
        if (!identity_call_allowed(iface, member))
                return sd_bus_error_setf(error, AOS_NODELINK_ERROR_NOT_ALLOWED, "%s.%s may not pass the node link.",
                                         iface, member);
        if (!n->link || n->link->phase != LINK_PHASE_UP || !n->registered)
                return sd_bus_error_setf(error, AOS_PROV_ERROR_NODE_UNREACHABLE, "Node %s is not connected.", n->id);

        r = sd_bus_message_new_method_call(n->link->bus, &fwd, NULL, identity_call_path(iface), iface, member);
        if (r < 0)
                return r;
        r = sd_bus_message_rewind(message, true);
        if (r < 0)
                return r;
        r = sd_bus_message_copy(fwd, message, true);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(ForwardedCall));
        if (!c)
                return -ENOMEM;
        c->member = strdup(member);
        if (!c->member) {
                free(c);
                return -ENOMEM;
        }
        c->node = n;
        c->call = sd_bus_message_ref(message);
        c->next = n->calls;
        if (n->calls)
                n->calls->prev = c;
        n->calls = c;

        limit = identity_call_is_long(iface, member) ? m->config->nodelink.provisioning_timeout_usec
                                                     : m->config->nodelink.call_timeout_usec;
        /* sd-bus's own limit only as a backstop behind ours. */
        r = sd_bus_call_async(n->link->bus, &c->slot, fwd, on_forward_reply, c, limit + 30 * USEC_PER_SEC);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &c->timer, CLOCK_MONOTONIC, limit, 0, on_forward_timeout, c);
        if (r < 0) {
                forwarded_call_free(c);
                return r;
        }
        link_kick(n->link);
        /* Member names only: arguments may carry the provisioning password. */
        log_event(LOG_DEBUG, STRV(strjoina("NODE_ID=", n->id)), "Forwarding %s.%s to node %s.", iface, member, n->id);
        return 1;
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Node *n = userdata;
        const char *v = NULL;

        if (streq(property, "Id"))
                v = n->id;
        else if (streq(property, "Title"))
                v = n->title;
        else if (streq(property, "Type"))
                v = n->type;
        else if (streq(property, "State"))
                v = n->state;
        else if (streq(property, "Channel"))
                v = link_channel_to_string(n->link->channel);
        else if (streq(property, "PeerAddress"))
                v = n->link->peer_address;
        else if (streq(property, "PeerSubject"))
                v = n->link->peer_subject;
        else if (streq(property, "PeerFingerprint"))
                v = n->link->peer_fingerprint;
        return sd_bus_message_append(reply, "s", strempty(v));
}

static int property_get_connected(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Node *n = userdata;
        return sd_bus_message_append(reply, "b", n->link && n->link->phase == LINK_PHASE_UP);
}

static const sd_bus_vtable node_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Title", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Type", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Connected", "b", property_get_connected, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Channel", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PeerAddress", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PeerSubject", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PeerFingerprint", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Since", "t", NULL, offsetof(Node, since), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END
};

static const sd_bus_vtable provisioning_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("GetCertTypes", SD_BUS_ARGS("s", node_id), SD_BUS_RESULT("as", types),
                                method_forward, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartProvisioning", SD_BUS_ARGS("s", node_id, "s", password), SD_BUS_NO_RESULT,
                                method_forward, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("CreateKey", SD_BUS_ARGS("s", node_id, "s", type, "s", subject, "s", password),
                                SD_BUS_RESULT("s", csr), method_forward,
                                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("ApplyCert", SD_BUS_ARGS("s", node_id, "s", type, "s", chain),
                                SD_BUS_RESULT("a{sv}", info), method_forward, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("FinishProvisioning", SD_BUS_ARGS("s", node_id, "s", password), SD_BUS_NO_RESULT,
                                method_forward, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("Deprovision", SD_BUS_ARGS("s", node_id, "s", password), SD_BUS_NO_RESULT,
                                method_forward, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("PauseNode", SD_BUS_ARGS("s", node_id), SD_BUS_NO_RESULT, method_forward,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ResumeNode", SD_BUS_ARGS("s", node_id), SD_BUS_NO_RESULT, method_forward,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static const sd_bus_vtable certs_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("GetCertTypes", SD_BUS_NO_ARGS, SD_BUS_RESULT("as", types), method_forward,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetCert", SD_BUS_ARGS("s", type, "ay", issuer, "s", serial),
                                SD_BUS_RESULT("a{sv}", info), method_forward, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListCerts", SD_BUS_ARGS("s", type), SD_BUS_RESULT("aa{sv}", certs), method_forward,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static int node_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found,
                     sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *id = NULL;
        Node *n;
        int r;

        r = sd_bus_path_decode(path, NODELINK_NODE_PREFIX, &id);
        if (r <= 0)
                return r;
        n = server_find_node(m, id);
        if (!n)
                return 0;
        *ret_found = n;
        return 1;
}

static int node_enumerate(sd_bus *bus, const char *path, void *userdata, char ***ret_nodes, sd_bus_error *error) {
        Manager *m = userdata;
        char **l = NULL;
        int r;

        for (Node *n = m->nodes; n; n = n->next) {
                char *p;
                if (!n->registered)
                        continue;
                r = sd_bus_path_encode(NODELINK_NODE_PREFIX, n->id, &p);
                if (r < 0) {
                        strv_free(l);
                        return r;
                }
                r = strv_extend(&l, p);
                free(p);
                if (r < 0) {
                        strv_free(l);
                        return r;
                }
        }
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        *ret_nodes = l;
        return 0;
}

int node_objects_register(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, NULL, NODELINK_NODE_PREFIX, NODELINK_NODE_IFACE, node_vtable, node_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, NODELINK_NODE_PREFIX, "org.aosedge.Provisioning1.Manager",
                                       provisioning_vtable, node_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, NODELINK_NODE_PREFIX, "org.aosedge.Certs1.Manager", certs_vtable,
                                       node_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, NODELINK_NODE_PREFIX, node_enumerate, m);
}

static int append_sv(sd_bus_message *reply, const char *key, const char *type, ...) {
        va_list ap;
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "s", key);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'v', type);
        if (r < 0)
                return r;
        va_start(ap, type);
        r = sd_bus_message_appendv(reply, type, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

int node_append_info(sd_bus_message *reply, Node *n) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = append_sv(reply, "Id", "s", n->id)) < 0 ||
            (r = append_sv(reply, "Title", "s", strempty(n->title))) < 0 ||
            (r = append_sv(reply, "Type", "s", strempty(n->type))) < 0 ||
            (r = append_sv(reply, "State", "s", strempty(n->state))) < 0 ||
            (r = append_sv(reply, "Connected", "b", n->link && n->link->phase == LINK_PHASE_UP)) < 0 ||
            (r = append_sv(reply, "Channel", "s", link_channel_to_string(n->link->channel))) < 0 ||
            (r = append_sv(reply, "PeerAddress", "s", strempty(n->link->peer_address))) < 0 ||
            (r = append_sv(reply, "PeerSubject", "s", strempty(n->link->peer_subject))) < 0 ||
            (r = append_sv(reply, "PeerFingerprint", "s", strempty(n->link->peer_fingerprint))) < 0 ||
            (r = append_sv(reply, "Since", "t", n->since)) < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

void node_emit_connected(Node *n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *s = NULL;
        int r;

        r = sd_bus_message_new_signal(n->manager->bus, &s, NODELINK_PATH, NODELINK_MANAGER_IFACE, "NodeConnected");
        if (r >= 0)
                r = sd_bus_message_append(s, "s", n->id);
        if (r >= 0)
                r = node_append_info(s, n);
        if (r >= 0)
                r = sd_bus_send(NULL, s, NULL);
        if (r < 0)
                log_warning_errno(r, "Cannot send NodeConnected, ignoring: %m");
}

void node_emit_disconnected(Node *n, const char *reason) {
        int r = sd_bus_emit_signal(n->manager->bus, NODELINK_PATH, NODELINK_MANAGER_IFACE, "NodeDisconnected", "ss",
                                   n->id, strempty(reason));
        if (r < 0)
                log_warning_errno(r, "Cannot send NodeDisconnected, ignoring: %m");
}

void node_emit_state_changed(Node *n) {
        _cleanup_free_ char *path = NULL;
        if (sd_bus_path_encode(NODELINK_NODE_PREFIX, n->id, &path) < 0)
                return;
        (void) sd_bus_emit_properties_changed(n->manager->bus, path, NODELINK_NODE_IFACE, "State", NULL);
}
