/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The secondary node: dials the main node (bootstrap while unprovisioned, protected after),
 * registers, keeps the link alive, pushes state changes, and relays the allowlisted calls the
 * main node sends to the local bus. */

#include <errno.h>
#include <stdlib.h>

#include "bootstrap-cert.h"
#include "bus-error.h"
#include "fs.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "resolve.h"

#define PROV_DEST "org.aosedge.Provisioning1"
#define PROV_PATH "/org/aosedge/Provisioning1"
#define PROV_IFACE "org.aosedge.Provisioning1.Manager"

static void client_schedule_connect(Manager *m, bool now);

static LinkChannel wanted_channel(Manager *m) {
        return streq_ptr(m->local_state, "unprovisioned") ? LINK_CHANNEL_BOOTSTRAP : LINK_CHANNEL_PROTECTED;
}

/* --- relaying the main node's calls to the local bus -------------------------------------- */

typedef struct RelayedCall {
        Manager *manager;
        sd_bus_message *call; /* from the main node */
} RelayedCall;

static int on_local_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        RelayedCall *rc = userdata;
        Manager *m = rc->manager;
        sd_bus_message *call = rc->call;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *answer = NULL;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL))
                r = sd_bus_reply_method_error(call, sd_bus_message_get_error(reply));
        else {
                r = sd_bus_message_new_method_return(call, &answer);
                if (r >= 0)
                        r = sd_bus_message_rewind(reply, true);
                if (r >= 0)
                        r = sd_bus_message_copy(answer, reply, true);
                if (r >= 0)
                        r = sd_bus_send(NULL, answer, NULL);
        }
        if (r < 0)
                log_debug_errno(r, "Cannot pass a local answer to %s back to the main node, ignoring: %m",
                                strna(sd_bus_message_get_member(call)));
        else if (m->link && sd_bus_message_get_bus(call) == m->link->bus)
                link_kick(m->link);
        return 1;
}

/* With the slot: after the answer, or when the local bus goes first. */
static void relayed_call_free(void *userdata) {
        RelayedCall *rc = userdata;
        sd_bus_message_unref(rc->call);
        free(rc);
}

static int on_peer_call(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *local = NULL;
        const char *iface, *member, *path;
        int r;

        if (!sd_bus_message_is_method_call(message, NULL, NULL))
                return 0;
        iface = sd_bus_message_get_interface(message);
        member = sd_bus_message_get_member(message);
        path = sd_bus_message_get_path(message);
        if (streq_ptr(iface, "org.freedesktop.DBus.Peer") && streq_ptr(member, "Ping"))
                return 0; /* answered by sd-bus; GetMachineId is not (the machine id stays here) */

        if (!m->link_registered) {
                log_notice("Refused %s.%s from the main node: it has not accepted the registration yet.",
                           strna(iface), strna(member));
                (void) sd_bus_reply_method_errorf(message, AOS_NODELINK_ERROR_NOT_ALLOWED,
                                                  "Nothing passes the node link before the registration.");
                return 1;
        }
        if (!identity_call_allowed(iface, member) || !streq_ptr(path, identity_call_path(iface))) {
                log_notice("Refused to relay %s.%s on %s from the main node: not on the allowlist.", strna(iface),
                           strna(member), strna(path));
                (void) sd_bus_reply_method_errorf(message, AOS_NODELINK_ERROR_NOT_ALLOWED,
                                                  "%s.%s on %s may not pass the node link.", strna(iface),
                                                  strna(member), strna(path));
                return 1;
        }

        /* Member names only: the arguments may carry the provisioning password. */
        log_debug("Relaying %s.%s from the main node to the local bus.", iface, member);
        r = sd_bus_message_new_method_call(m->bus, &local, identity_call_destination(iface), path, iface, member);
        if (r >= 0)
                r = sd_bus_message_rewind(message, true);
        if (r >= 0)
                r = sd_bus_message_copy(local, message, true);
        if (r >= 0) {
                RelayedCall *rc = calloc(1, sizeof(RelayedCall));
                if (!rc)
                        r = -ENOMEM;
                else {
                        sd_bus_slot *slot = NULL;
                        rc->manager = m;
                        rc->call = sd_bus_message_ref(message);
                        r = sd_bus_call_async(m->bus, &slot, local, on_local_reply, rc,
                                              m->config->nodelink.provisioning_timeout_usec + 30 * USEC_PER_SEC);
                        if (r < 0)
                                relayed_call_free(rc);
                        else {
                                (void) sd_bus_slot_set_destroy_callback(slot, relayed_call_free);
                                (void) sd_bus_slot_set_floating(slot, 1);
                                sd_bus_slot_unref(slot);
                        }
                }
        }
        if (r < 0)
                (void) sd_bus_reply_method_errorf(message, SD_BUS_ERROR_FAILED, "Cannot relay %s.%s: %s", iface,
                                                  member, strerror(-r));
        return 1;
}

/* --- the link ----------------------------------------------------------------------------- */

static int on_ping_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        if (!sd_bus_message_is_method_error(reply, NULL) && m->pings_outstanding > 0)
                m->pings_outstanding--;
        return 1;
}

static int on_ping_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t k = m->config->nodelink.keepalive_usec;

        if (!m->link || m->link->phase != LINK_PHASE_UP)
                return 0;
        if (m->pings_outstanding >= 2) {
                log_warning("The main node missed %u keepalives: the link is dead.", m->pings_outstanding);
                link_close(m->link, "keepalive: the main node stopped answering");
                return 0;
        }
        m->pings_outstanding++;
        (void) sd_bus_call_method_async(m->link->bus, NULL, NULL, "/", "org.freedesktop.DBus.Peer", "Ping",
                                        on_ping_reply, m, NULL);
        (void) sd_event_source_set_time(s, usec + k);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int on_register_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;

        if (!m->link)
                return 1;
        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED))
                        log_warning("The link closed before the main node answered the registration: %s",
                                    strna(e->message));
                else
                        log_error("The main node refused the registration: %s (%s)", strna(e->message),
                                  strna(e->name));
                link_close(m->link, "registration refused");
                return 1;
        }
        m->link_registered = true;
        link_set_authenticated(m->link);
        backoff_reset(&m->backoff);
        m->pings_outstanding = 0;
        (void) sd_event_add_time_relative(m->event, &m->ping_source, CLOCK_MONOTONIC,
                                          m->config->nodelink.keepalive_usec, KEEPALIVE_ACCURACY_USEC,
                                          on_ping_timer, m);
        log_event(LOG_INFO, STRV(strjoina("NODE_ID=", m->config->node.id)),
                  "Registered with the main node on the %s channel as %s (%s).",
                  link_channel_to_string(m->link->channel), m->config->node.id, m->local_state);
        if (m->link->channel == LINK_CHANNEL_PROTECTED) {
                int r = bootstrap_cert_remove(m->config->nodelink.state_dir);
                if (r < 0)
                        log_warning_errno(r, "Cannot remove the spent bootstrap certificate, ignoring: %m");
        }
        /* The state may have changed while we registered: another channel, or news for this one. */
        if (wanted_channel(m) != m->link->channel)
                link_close(m->link, "moving to the other channel");
        else if (!streq_ptr(m->registered_state, m->local_state))
                (void) sd_bus_call_method_async(m->link->bus, NULL, NULL, NODELINK_PATH, NODELINK_PEER_IFACE,
                                                "SetState", NULL, NULL, "s", m->local_state);
        return 1;
}

static int send_register(Manager *m) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        const NodeConfig *nc = &m->config->node;
        int r;

        r = sd_bus_message_new_method_call(m->link->bus, &call, NULL, NODELINK_PATH, NODELINK_PEER_IFACE, "Register");
        if (r < 0)
                return r;
        r = sd_bus_message_append(call, "a{sv}", 4, "Id", "s", nc->id, "Title", "s", nc->title, "Type", "s", nc->type,
                                  "State", "s", m->local_state);
        if (r < 0)
                return r;
        char *sent = strdup(m->local_state);
        if (!sent)
                return -ENOMEM;
        free(m->registered_state);
        m->registered_state = sent;
        return sd_bus_call_async(m->link->bus, NULL, call, on_register_reply, m, LINK_HANDSHAKE_TIMEOUT_USEC);
}

static void on_client_up(Link *l, void *userdata) {
        Manager *m = userdata;
        int r;

        r = sd_bus_add_filter(l->bus, NULL, on_peer_call, m);
        if (r >= 0)
                r = send_register(m);
        if (r < 0) {
                log_error_errno(r, "Cannot register with the main node: %m");
                link_close(l, "internal error");
        }
}

static void on_client_closed(Link *l, const char *reason, void *userdata) {
        Manager *m = userdata;

        log_event(m->link_registered ? LOG_WARNING : LOG_INFO, STRV(strjoina("NODE_ID=", m->config->node.id)),
                  "Link to the main node (%s channel) closed: %s", link_channel_to_string(l->channel), reason);
        m->ping_source = sd_event_source_disable_unref(m->ping_source);
        m->link = link_free(m->link);
        m->link_registered = false;
        client_schedule_connect(m, false);
}

/* A connection attempt runs in up to three steps, none of them blocking the loop: the
 * current certificate from aos-certd (protected only), the main node's address resolved (only
 * when it is a name), then the link. */
static void client_cancel_connect(Manager *m) {
        m->connect_slot = sd_bus_slot_unref(m->connect_slot);
        m->connect_resolve = resolve_cancel(m->connect_resolve);
        m->connect_creds = credentials_unref(m->connect_creds);
}

static bool client_connecting(Manager *m) {
        return m->link || m->connect_slot || m->connect_resolve;
}

static const char *channel_address(Manager *m, LinkChannel channel) {
        return channel == LINK_CHANNEL_BOOTSTRAP ? m->config->nodelink.main_bootstrap : m->config->nodelink.main_protected;
}

static int client_dial_ai(Manager *m, const struct addrinfo *ai) {
        const char *address = channel_address(m, m->connect_channel);
        unsigned n = 0, k;
        int r;

        /* A name may stand for several addresses (localhost: ::1 and 127.0.0.1); each failed
         * attempt moves on to the next one. */
        for (const struct addrinfo *a = ai; a; a = a->ai_next)
                n++;
        k = n > 0 ? m->backoff.attempt % n : 0;
        while (k-- > 0)
                ai = ai->ai_next;

        r = link_new_client_ai(m->event, ai, m->connect_channel, m->connect_creds, &m->roots, on_client_up,
                               on_client_closed, m, &m->link);
        m->connect_creds = credentials_unref(m->connect_creds);
        if (r < 0)
                return log_warning_errno(r, "Cannot dial %s: %m", address);
        log_debug("Dialing the main node at %s (%s channel).", address, link_channel_to_string(m->connect_channel));
        return 0;
}

static void on_main_resolved(Resolve *q, int error, struct addrinfo *ai, void *userdata) {
        Manager *m = userdata;
        int r;

        m->connect_resolve = NULL; /* gone after this callback */
        if (error < 0) {
                log_warning_errno(error, "Cannot resolve the main node's address %s: %m",
                                  channel_address(m, m->connect_channel));
                m->connect_creds = credentials_unref(m->connect_creds);
                return client_schedule_connect(m, false);
        }
        r = client_dial_ai(m, ai);
        freeaddrinfo(ai);
        if (r < 0)
                client_schedule_connect(m, false);
}

/* Takes creds. */
static int client_dial(Manager *m, LinkChannel channel, Credentials *creds) {
        _cleanup_free_ char *host = NULL, *port = NULL;
        const char *address = channel_address(m, channel);
        struct addrinfo *ai = NULL;
        int r;

        m->connect_channel = channel;
        m->connect_creds = creds;
        r = link_parse_address(address, &host, &port);
        if (r < 0) {
                m->connect_creds = credentials_unref(m->connect_creds);
                return log_error_errno(r, "The main node's address '%s' is not HOST:PORT.", address);
        }
        r = resolve_numeric(host, port, &ai);
        if (r == -EAGAIN) {
                r = resolve_start(m->event, host, port, on_main_resolved, m, &m->connect_resolve);
                if (r < 0) {
                        m->connect_creds = credentials_unref(m->connect_creds);
                        return log_warning_errno(r, "Cannot start resolving %s: %m", address);
                }
                return 0;
        }
        if (r < 0) {
                m->connect_creds = credentials_unref(m->connect_creds);
                return log_warning_errno(r, "Cannot use the main node's address %s: %m", address);
        }
        r = client_dial_ai(m, ai);
        freeaddrinfo(ai);
        return r;
}

static void on_client_cert(int error, const char *cert_url, const char *key_url, const sd_bus_error *bus_error,
                           void *userdata) {
        Manager *m = userdata;
        Credentials *creds = NULL;
        int r;

        m->connect_slot = sd_bus_slot_unref(m->connect_slot);
        if (error < 0) {
                log_warning_errno(error, "Cannot get the '%s' certificate from aos-certd: %s",
                                  m->config->nodelink.cert_type,
                                  bus_error && bus_error->message ? bus_error->message : strerror(-error));
                return client_schedule_connect(m, false);
        }
        r = credentials_new_from_urls(cert_url, key_url, &creds);
        if (r < 0) {
                log_warning_errno(r, "Cannot load the '%s' certificate and key: %m", m->config->nodelink.cert_type);
                return client_schedule_connect(m, false);
        }
        if (client_dial(m, LINK_CHANNEL_PROTECTED, creds) < 0)
                client_schedule_connect(m, false);
}

static int client_connect(Manager *m) {
        Credentials *creds = NULL;
        int r;

        if (wanted_channel(m) == LINK_CHANNEL_BOOTSTRAP) {
                r = bootstrap_cert_load(m->config->nodelink.state_dir, m->config->node.id, &creds);
                if (r < 0)
                        return log_error_errno(r, "Cannot load or make the bootstrap certificate in %s: %m",
                                               m->config->nodelink.state_dir);
                return client_dial(m, LINK_CHANNEL_BOOTSTRAP, creds);
        }
        m->connect_channel = LINK_CHANNEL_PROTECTED;
        r = certd_get_current_cert_async(m->bus, m->config->nodelink.cert_type, on_client_cert, m, &m->connect_slot);
        if (r < 0)
                return log_warning_errno(r, "Cannot ask aos-certd for the '%s' certificate: %m",
                                         m->config->nodelink.cert_type);
        return 0;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (client_connecting(m))
                return 0;
        if (client_connect(m) < 0)
                client_schedule_connect(m, false);
        return 0;
}

static void client_schedule_connect(Manager *m, bool now) {
        uint64_t delay = 0, rnd = 0;

        if (!now) {
                (void) random_bytes(&rnd, sizeof rnd);
                delay = backoff_next_usec(&m->backoff, rnd);
        }
        m->reconnect_source = sd_event_source_disable_unref(m->reconnect_source);
        if (sd_event_add_time_relative(m->event, &m->reconnect_source, CLOCK_MONOTONIC, delay, 0, on_reconnect, m) < 0)
                log_error("Cannot schedule a reconnect.");
        else
                log_debug("Next attempt to reach the main node in %llu ms.", (unsigned long long) (delay / 1000));
}

/* --- the local provisioning state --------------------------------------------------------- */

static void client_set_state(Manager *m, const char *state) {
        if (!node_state_is_valid(state))
                state = "unprovisioned";
        if (streq_ptr(m->local_state, state))
                return;
        char *s = strdup(state);
        if (!s)
                return (void) log_oom();
        free(m->local_state);
        m->local_state = s;
        log_info("Local provisioning state: %s.", state);

        if (!m->link) {
                /* An attempt under way for the other channel starts over. */
                if ((m->connect_slot || m->connect_resolve) && m->connect_channel != wanted_channel(m)) {
                        client_cancel_connect(m);
                        backoff_reset(&m->backoff);
                        client_schedule_connect(m, true);
                }
                return;
        }
        if (m->link->channel != wanted_channel(m)) {
                link_close(m->link, "moving to the other channel");
                backoff_reset(&m->backoff);
                return;
        }
        if (m->link_registered)
                (void) sd_bus_call_method_async(m->link->bus, NULL, NULL, NODELINK_PATH, NODELINK_PEER_IFACE,
                                                "SetState", NULL, NULL, "s", state);
}

static int on_state_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *state = "unprovisioned";

        /* No aos-provisiond (yet): the node is taken as unprovisioned. */
        if (sd_bus_message_is_method_error(reply, NULL)) {
                if (!m->state_known)
                        log_info("No provisioning state on the bus (%s): taking the node as unprovisioned.",
                                 strna(sd_bus_message_get_error(reply)->message));
        } else if (sd_bus_message_read(reply, "v", "s", &state) < 0)
                state = "unprovisioned";
        client_set_state(m, state);
        if (!m->state_known) {
                /* The first answer decides the channel of the first connection. */
                m->state_known = true;
                client_schedule_connect(m, true);
        }
        return 1;
}

static void client_query_state(Manager *m) {
        (void) sd_bus_call_method_async(m->bus, NULL, PROV_DEST, PROV_PATH, "org.freedesktop.DBus.Properties", "Get",
                                        on_state_reply, m, "ss", PROV_IFACE, "State");
}

static int on_state_signal(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        client_query_state(userdata);
        return 0;
}

int client_start(Manager *m) {
        int r;

        m->backoff.max_usec = m->config->nodelink.reconnect_max_usec;
        m->local_state = strdup("unprovisioned");
        if (!m->local_state)
                return log_oom();

        r = sd_bus_match_signal_async(m->bus, NULL, PROV_DEST, PROV_PATH, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_state_signal, NULL, m);
        if (r >= 0)
                r = sd_bus_match_signal_async(m->bus, NULL, PROV_DEST, PROV_PATH, PROV_IFACE, "NodeStateChanged",
                                              on_state_signal, NULL, m);
        if (r >= 0)
                r = sd_bus_add_match_async(m->bus, NULL,
                                           "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                           "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                           "arg0='" PROV_DEST "'",
                                           on_state_signal, NULL, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the local provisioning state: %m");

        client_query_state(m);
        return 0;
}

void client_stop(Manager *m) {
        client_cancel_connect(m);
        m->reconnect_source = sd_event_source_disable_unref(m->reconnect_source);
        m->ping_source = sd_event_source_disable_unref(m->ping_source);
        m->link = link_free(m->link);
        free(m->local_state);
        m->local_state = NULL;
        m->registered_state = mfree(m->registered_state);
}
