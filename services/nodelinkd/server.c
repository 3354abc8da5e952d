/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The main node's listeners, the connections they accept and the registration of nodes on
 * the peer connection. */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "bus-error.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

Node *server_find_node(Manager *m, const char *id) {
        for (Node *n = m->nodes; n; n = n->next)
                if (n->registered && streq_ptr(n->id, id))
                        return n;
        return NULL;
}

static bool pin_in_use(const char *node_id, void *userdata) {
        return server_find_node(userdata, node_id);
}

static bool pin_rate_take(Manager *m) {
        return token_bucket_take(&m->new_pins, now_usec(CLOCK_MONOTONIC));
}

void node_free(Node *n) {
        if (!n)
                return;
        Manager *m = n->manager;
        node_fail_calls(n);
        if (n->prev)
                n->prev->next = n->next;
        else if (m->nodes == n)
                m->nodes = n->next;
        if (n->next)
                n->next->prev = n->prev;
        if (n->pending && m->n_pending > 0)
                m->n_pending--;
        sd_event_source_disable_unref(n->keepalive_source);
        link_free(n->link);
        free(n->id);
        free(n->title);
        free(n->type);
        free(n->state);
        free(n);
}

void server_drop_node(Node *n, const char *reason) {
        if (!n->registered)
                return link_close(n->link, reason);
        /* The object and the id go now (so that a reconnect can take them at once); the
         * connection closes in the background. */
        log_event(LOG_INFO, STRV(strjoina("NODE_ID=", n->id)), "Node %s disconnected: %s", n->id, reason);
        node_fail_calls(n);
        node_emit_disconnected(n, reason);
        n->registered = false;
        link_close(n->link, reason);
}

static void on_node_closed(Link *l, const char *reason, void *userdata) {
        Node *n = userdata;

        if (n->registered) {
                log_event(LOG_INFO, STRV(strjoina("NODE_ID=", n->id)), "Node %s disconnected: %s", n->id, reason);
                node_emit_disconnected(n, reason);
        } else
                log_debug("Connection from %s closed before registering: %s", strna(l->peer_address), reason);
        node_free(n);
}

/* A node is dead when nothing came from it for two keepalive intervals (two missed pings)
 * plus a quarter interval for the sender's timer slack. The timer is armed for exactly that
 * moment after the last message, not polled, so a dead peer is noticed 1.25 to 2.25 intervals
 * after the link died. */
static uint64_t keepalive_deadline(const Node *n) {
        uint64_t k = n->manager->config->nodelink.keepalive_usec;
        return n->last_seen + 2 * k + k / 4;
}

static int on_keepalive(sd_event_source *s, uint64_t usec, void *userdata) {
        Node *n = userdata;
        uint64_t deadline = keepalive_deadline(n);

        if (usec >= deadline) {
                server_drop_node(n, "keepalive: the peer stopped answering");
                return 0;
        }
        (void) sd_event_source_set_time(s, deadline);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int on_peer_message(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Node *n = userdata;
        const char *iface, *member;

        /* Any message counts as a sign of life (the secondary pings every KeepaliveSec). */
        n->last_seen = now_usec(CLOCK_MONOTONIC);

        /* A peer may call Register, SetState and Ping, nothing else: sd-bus would answer
         * GetMachineId, Introspect and Properties on its own, to a peer not yet authenticated. */
        if (!sd_bus_message_is_method_call(message, NULL, NULL))
                return 0;
        iface = sd_bus_message_get_interface(message);
        member = sd_bus_message_get_member(message);
        if (streq_ptr(iface, "org.freedesktop.DBus.Peer") && streq_ptr(member, "Ping"))
                return 0;
        if (streq_ptr(iface, NODELINK_PEER_IFACE) && streq_ptr(sd_bus_message_get_path(message), NODELINK_PATH) &&
            (streq_ptr(member, "Register") || streq_ptr(member, "SetState")))
                return 0;
        log_debug("Refused %s.%s from %s: not a call a node may make.", strna(iface), strna(member),
                  strna(n->link->peer_address));
        (void) sd_bus_reply_method_errorf(message, AOS_NODELINK_ERROR_NOT_ALLOWED,
                                          "A node may call only Register, SetState and Ping.");
        return 1;
}

static int read_string_variant(sd_bus_message *m, char **dst) {
        const char *v;
        int r = sd_bus_message_read(m, "v", "s", &v);
        if (r < 0)
                return r;
        free(*dst);
        *dst = strdup(v);
        return *dst ? 0 : -ENOMEM;
}

static int method_register(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Node *n = userdata;
        Manager *m = n->manager;
        _cleanup_free_ char *id = NULL, *title = NULL, *type = NULL, *state = NULL;
        const char *reason = NULL;
        int r;

        if (n->registered)
                return sd_bus_error_set(error, AOS_NODELINK_ERROR_NOT_ALLOWED, "This connection is registered already.");

        r = sd_bus_message_enter_container(message, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(message, 'e', "sv")) > 0) {
                const char *key;
                r = sd_bus_message_read(message, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "Id"))
                        r = read_string_variant(message, &id);
                else if (streq(key, "Title"))
                        r = read_string_variant(message, &title);
                else if (streq(key, "Type"))
                        r = read_string_variant(message, &type);
                else if (streq(key, "State"))
                        r = read_string_variant(message, &state);
                else
                        r = sd_bus_message_skip(message, "v"); /* newer peers may send more */
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        Node *existing = id ? server_find_node(m, id) : NULL;
        PeerIdentity peer = {
                .channel = n->link->channel,
                .common_name = n->link->peer_common_name,
                .dns_names = n->link->peer_dns_names,
                .fingerprint = n->link->peer_fingerprint,
        }, old;
        if (existing)
                old = (PeerIdentity) {
                        .channel = existing->link->channel,
                        .fingerprint = existing->link->peer_fingerprint,
                };
        r = identity_check_registration(&peer, id, state, existing ? &old : NULL,
                                        id && n->link->channel == LINK_CHANNEL_BOOTSTRAP ? pin_store_lookup(&m->pins, id) : NULL,
                                        &reason);
        if (r < 0) {
                log_event(LOG_WARNING, STRV(strjoina("NODE_ID=", strna(id))),
                          "Refused registration of node '%s' from %s on the %s channel: %s", strna(id),
                          strna(n->link->peer_address), link_channel_to_string(n->link->channel), reason);
                r = sd_bus_reply_method_errorf(message, r == -EINVAL ? SD_BUS_ERROR_INVALID_ARGS : AOS_NODELINK_ERROR_NOT_ALLOWED,
                                               "Registration refused: %s.", reason);
                link_close(n->link, reason);
                return r;
        }

        if (n->link->channel == LINK_CHANNEL_BOOTSTRAP && !pin_store_lookup(&m->pins, id) && !pin_rate_take(m)) {
                /* Anyone can register on bootstrap: new ids are rationed, so that a flood of
                 * them can neither fill the pins nor keep the loop busy writing them. */
                log_event(LOG_WARNING, STRV(strjoina("NODE_ID=", id)),
                          "Refused registration of new bootstrap node '%s' from %s: too many new nodes at once.", id,
                          strna(n->link->peer_address));
                r = sd_bus_reply_method_errorf(message, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                               "Registration refused: too many new bootstrap nodes at once, try again later.");
                link_close(n->link, "too many new bootstrap nodes");
                return r;
        }
        if (n->link->channel == LINK_CHANNEL_BOOTSTRAP) {
                /* No registration on bootstrap without its pin on disk. */
                r = pin_store_set(&m->pins, id, n->link->peer_fingerprint, pin_in_use, m);
                if (r < 0) {
                        log_event(LOG_ERR, STRV(strjoina("NODE_ID=", id)),
                                  "Refused registration of node '%s': cannot record its bootstrap certificate: %s", id,
                                  strerror(-r));
                        r = sd_bus_reply_method_errorf(message, SD_BUS_ERROR_FAILED,
                                                       "Registration refused: the main node cannot record the bootstrap certificate (%s).",
                                                       r == -ENOBUFS ? "every pinned node is connected" : strerror(-r));
                        link_close(n->link, "cannot record the bootstrap pin");
                        return r;
                }
        } else {
                /* Provisioned: the bootstrap identity is spent. A pin that stays (disk error)
                 * only holds a later bootstrap registration to the old certificate. */
                r = pin_store_forget(&m->pins, id);
                if (r < 0)
                        log_warning_errno(r, "Cannot forget the bootstrap pin of node '%s', ignoring: %m", id);
        }

        if (existing) {
                log_info("Node %s connected again from %s: the new connection replaces the old one.", id,
                         strna(n->link->peer_address));
                server_drop_node(existing, "replaced by a new connection of the same node");
        }

        n->id = TAKE_PTR(id);
        n->title = title ? TAKE_PTR(title) : strdup("");
        n->type = type ? TAKE_PTR(type) : strdup("");
        n->state = TAKE_PTR(state);
        if (!n->title || !n->type)
                return -ENOMEM;
        n->since = now_usec(CLOCK_REALTIME);
        n->registered = true;
        n->pending = false;
        m->n_pending--;
        link_set_authenticated(n->link);

        r = sd_event_add_time(m->event, &n->keepalive_source, CLOCK_MONOTONIC, keepalive_deadline(n),
                              KEEPALIVE_ACCURACY_USEC, on_keepalive, n);
        if (r < 0)
                return r;

        log_event(LOG_INFO, STRV(strjoina("NODE_ID=", n->id)),
                  "Node %s registered from %s on the %s channel (%s, certificate %s).", n->id,
                  strna(n->link->peer_address), link_channel_to_string(n->link->channel), n->state,
                  n->link->peer_fingerprint);
        r = sd_bus_reply_method_return(message, NULL);
        node_emit_connected(n);
        return r;
}

static int method_set_state(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Node *n = userdata;
        const char *state;
        int r;

        r = sd_bus_message_read(message, "s", &state);
        if (r < 0)
                return r;
        if (!n->registered)
                return sd_bus_error_set(error, AOS_NODELINK_ERROR_NOT_ALLOWED, "Register first.");
        if (!node_state_is_valid(state))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown node state '%s'.", state);
        if (!streq(n->state, state)) {
                char *s = strdup(state);
                if (!s)
                        return -ENOMEM;
                free(n->state);
                n->state = s;
                log_event(LOG_INFO, STRV(strjoina("NODE_ID=", n->id)), "Node %s is now %s.", n->id, state);
                node_emit_state_changed(n);
        }
        return sd_bus_reply_method_return(message, NULL);
}

static const sd_bus_vtable peer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Register", SD_BUS_ARGS("a{sv}", info), SD_BUS_NO_RESULT, method_register, 0),
        SD_BUS_METHOD_WITH_ARGS("SetState", SD_BUS_ARGS("s", state), SD_BUS_NO_RESULT, method_set_state, 0),
        SD_BUS_VTABLE_END
};

static void on_node_up(Link *l, void *userdata) {
        Node *n = userdata;
        int r;

        n->last_seen = now_usec(CLOCK_MONOTONIC);
        r = sd_bus_add_filter(l->bus, NULL, on_peer_message, n);
        if (r >= 0)
                r = sd_bus_add_object_vtable(l->bus, NULL, NODELINK_PATH, NODELINK_PEER_IFACE, peer_vtable, n);
        if (r < 0) {
                log_error_errno(r, "Cannot set up the peer connection from %s: %m", strna(l->peer_address));
                link_close(l, "internal error");
        }
}

static void on_server_cert(int error, const char *cert_url, const char *key_url, const sd_bus_error *bus_error,
                           void *userdata) {
        Manager *m = userdata;
        const char *type = m->config->nodelink.cert_type;
        Credentials *c = NULL;
        int r;

        m->server_creds_slot = sd_bus_slot_unref(m->server_creds_slot);
        if (m->server_creds_again) {
                /* The certificate changed while we asked: the answer may be the old one. */
                m->server_creds_again = false;
                server_reload_credentials(m);
                return;
        }
        if (error < 0) {
                m->server_creds_tried = now_usec(CLOCK_MONOTONIC);
                log_warning_errno(error, "Cannot get the current '%s' certificate from aos-certd: %s", type,
                                  bus_error && bus_error->message ? bus_error->message : strerror(-error));
                return;
        }
        r = credentials_new_from_urls(cert_url, key_url, &c);
        if (r < 0) {
                m->server_creds_tried = now_usec(CLOCK_MONOTONIC);
                log_warning_errno(r, "Cannot load the '%s' certificate and key: %m", type);
                return;
        }
        credentials_unref(m->server_creds);
        m->server_creds = c;
        log_info("The link presents the '%s' certificate %s.", type, c->fingerprint);
}

void server_reload_credentials(Manager *m) {
        int r;

        if (m->server_creds_slot) {
                m->server_creds_again = true;
                return;
        }
        r = certd_get_current_cert_async(m->bus, m->config->nodelink.cert_type, on_server_cert, m,
                                         &m->server_creds_slot);
        if (r < 0) {
                m->server_creds_tried = now_usec(CLOCK_MONOTONIC);
                log_warning_errno(r, "Cannot ask aos-certd for the '%s' certificate: %m", m->config->nodelink.cert_type);
        }
}

static void accept_one(Manager *m, LinkChannel channel, int fd) {
        Node *n;
        int r;

        if (m->n_pending >= NODELINK_PENDING_MAX) {
                /* Someone opens connections and does not finish them: new ones wait for room. */
                log_debug("Too many connections still authenticating (%u), closing a new one.", m->n_pending);
                close(fd);
                return;
        }
        if (!m->server_creds) {
                /* Ask again (once a second at most); this connection cannot wait for the answer. */
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (!m->server_creds_slot && (m->server_creds_tried == 0 || now - m->server_creds_tried >= USEC_PER_SEC))
                        server_reload_credentials(m);
                if (!m->server_creds) {
                        log_debug("No certificate to present yet, closing a connection.");
                        close(fd);
                        return;
                }
        }

        n = calloc(1, sizeof(Node));
        if (!n) {
                close(fd);
                return;
        }
        n->manager = m;
        n->pending = true;
        r = link_new_server(m->event, fd, channel, m->server_creds,
                            channel == LINK_CHANNEL_PROTECTED ? &m->roots : NULL, on_node_up, on_node_closed, n,
                            &n->link);
        if (r < 0) {
                free(n);
                log_warning_errno(r, "Cannot set up a new connection, ignoring: %m");
                return;
        }
        n->next = m->nodes;
        if (m->nodes)
                m->nodes->prev = n;
        m->nodes = n;
        m->n_pending++;
        log_debug("New connection from %s on the %s channel.", strna(n->link->peer_address),
                  link_channel_to_string(channel));
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        LinkChannel channel = fd == m->listen_fd[LINK_CHANNEL_PROTECTED] ? LINK_CHANNEL_PROTECTED : LINK_CHANNEL_BOOTSTRAP;

        for (unsigned i = 0; i < 64; i++) {
                int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning_errno(errno, "accept() failed, ignoring: %m");
                        break;
                }
                accept_one(m, channel, c);
        }
        return 0;
}

static int listen_address(const char *address, int *ret_fd) {
        _cleanup_free_ char *host = NULL, *port = NULL;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST }, *ai = NULL;
        int fd, r, one = 1, zero = 0;

        r = link_parse_address(address, &host, &port);
        if (r < 0)
                return r;
        r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0)
                return -EADDRNOTAVAIL;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                freeaddrinfo(ai);
                return r;
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                close(fd);
                freeaddrinfo(ai);
                return r;
        }
        freeaddrinfo(ai);
        *ret_fd = fd;
        return 0;
}

int server_start(Manager *m) {
        char **names = NULL;
        int n, r;

        m->new_pins = TOKEN_BUCKET_INIT(PIN_RATE_BURST, PIN_RATE_PER_SEC);
        r = pin_store_load(&m->pins, m->config->nodelink.state_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot load the bootstrap pins; not starting, so that none is lost: %m");

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return log_error_errno(n, "Cannot take the sockets passed by systemd: %m");
        for (int i = 0; i < n; i++) {
                LinkChannel c = link_channel_from_string(names[i]);
                int fd = SD_LISTEN_FDS_START + i;
                if (c < 0) {
                        log_warning("Ignoring passed socket named '%s' (expected 'protected' or 'bootstrap').", names[i]);
                        close(fd);
                        continue;
                }
                if (m->listen_fd[c] >= 0)
                        close(m->listen_fd[c]);
                (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                m->listen_fd[c] = fd;
                log_info("Listening on the %s socket passed by systemd.", names[i]);
        }
        strv_free(names);

        if (n <= 0) {
                const char *addr[_LINK_CHANNEL_MAX] = {
                        [LINK_CHANNEL_PROTECTED] = m->config->nodelink.listen_protected,
                        [LINK_CHANNEL_BOOTSTRAP] = m->config->nodelink.listen_bootstrap,
                };
                for (int c = 0; c < _LINK_CHANNEL_MAX; c++) {
                        r = listen_address(addr[c], &m->listen_fd[c]);
                        if (r < 0)
                                return log_error_errno(r, "Cannot listen on %s (%s channel): %m", addr[c],
                                                       link_channel_to_string(c));
                        log_info("Listening on %s (%s channel).", addr[c], link_channel_to_string(c));
                }
        }

        for (int c = 0; c < _LINK_CHANNEL_MAX; c++) {
                if (m->listen_fd[c] < 0)
                        continue;
                r = sd_event_add_io(m->event, &m->listen_source[c], m->listen_fd[c], EPOLLIN, on_listen, m);
                if (r < 0)
                        return log_error_errno(r, "Cannot watch the listening socket: %m");
        }

        server_reload_credentials(m);
        return 0;
}

void server_stop(Manager *m) {
        while (m->nodes)
                node_free(m->nodes);
        for (int c = 0; c < _LINK_CHANNEL_MAX; c++) {
                m->listen_source[c] = sd_event_source_disable_unref(m->listen_source[c]);
                if (m->listen_fd[c] >= 0)
                        close(m->listen_fd[c]);
                m->listen_fd[c] = -1;
        }
        pin_store_done(&m->pins);
        m->server_creds_slot = sd_bus_slot_unref(m->server_creds_slot);
        m->server_creds = credentials_unref(m->server_creds);
}
