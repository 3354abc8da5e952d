/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* aos-nodelinkd's context: the local bus, the configuration, the CA roots, and either the
 * main node's listeners and connected nodes (server.c, node.c) or the secondary's dialer
 * (client.c). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "backoff.h"
#include "config.h"
#include "credentials.h"
#include "link.h"
#include "pins.h"
#include "token-bucket.h"
#include "polkit.h"
#include "x509.h"

#define NODELINK_BUS_NAME "org.aosedge.NodeLink1"
#define NODELINK_PATH "/org/aosedge/NodeLink1"
#define NODELINK_NODE_PREFIX "/org/aosedge/NodeLink1/node"
#define NODELINK_MANAGER_IFACE "org.aosedge.NodeLink1.Manager"
#define NODELINK_NODE_IFACE "org.aosedge.NodeLink1.Node"
#define NODELINK_PEER_IFACE "org.aosedge.NodeLink1.Peer" /* on the peer connection only */
#define NODELINK_PENDING_MAX 64U /* connections not yet registered */
/* Slack of the keepalive timers on both sides (sd-event's default would be 250 ms). */
#define KEEPALIVE_ACCURACY_USEC (50 * UINT64_C(1000))
/* Anyone can register on bootstrap: new node ids are rationed, a unit's worth at once, so that
 * a flood of them neither evicts the pins of real nodes nor keeps the loop writing pins. */
#define PIN_RATE_BURST 128
#define PIN_RATE_PER_SEC 2

typedef struct Manager Manager;
typedef struct ForwardedCall ForwardedCall;

/* A connection on the main node: pending until it registers, then a node. */
typedef struct Node {
        Manager *manager;
        Link *link;
        bool registered;
        bool pending; /* counted in Manager.n_pending */
        char *id, *title, *type, *state;
        uint64_t since;     /* CLOCK_REALTIME µs */
        uint64_t last_seen; /* CLOCK_MONOTONIC µs of the last message from the peer */
        sd_event_source *keepalive_source;
        ForwardedCall *calls;
        struct Node *prev, *next;
} Node;

struct Manager {
        sd_event *event;
        sd_bus *bus;
        AosConfig *config;
        X509Chain roots;
        PolkitRegistry *polkit_registry;

        /* main node */
        int listen_fd[_LINK_CHANNEL_MAX];
        sd_event_source *listen_source[_LINK_CHANNEL_MAX];
        Credentials *server_creds;
        uint64_t server_creds_tried; /* CLOCK_MONOTONIC µs of the last failed load */
        sd_bus_slot *server_creds_slot; /* GetCert under way */
        bool server_creds_again;        /* CertChanged came while it was */
        Node *nodes;      /* pending and registered */
        unsigned n_pending;
        PinStore pins;    /* bootstrap fingerprints by node id */
        TokenBucket new_pins; /* new bootstrap node ids: PIN_RATE_BURST at once, then PIN_RATE_PER_SEC */

        /* secondary node */
        Link *link;
        bool link_registered;
        LinkChannel link_channel;
        char *local_state; /* "unprovisioned" until provisiond says otherwise */
        char *registered_state; /* the state the last Register carried */
        Backoff backoff;
        sd_event_source *reconnect_source, *ping_source;
        unsigned pings_outstanding;
        bool state_known;             /* the first answer about the local state came */
        /* a connection attempt before its link exists (client.c) */
        sd_bus_slot *connect_slot;    /* GetCert to aos-certd */
        struct Resolve *connect_resolve;
        Credentials *connect_creds;
        LinkChannel connect_channel;
};

int manager_new(sd_event *e, AosConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}
int manager_start(Manager *m);

/* main node: server.c */
int server_start(Manager *m);
void server_stop(Manager *m);
/* Asks aos-certd for the current CertType certificate (asynchronously); new handshakes use it
 * once it is loaded. */
void server_reload_credentials(Manager *m);
Node *server_find_node(Manager *m, const char *id);
/* Unregisters now (NodeDisconnected, object gone) and closes the connection. */
void server_drop_node(Node *n, const char *reason);
void node_free(Node *n);

/* main node: node.c, the objects on the local bus */
int node_objects_register(Manager *m);
int node_append_info(sd_bus_message *reply, Node *n);
void node_emit_connected(Node *n);
void node_emit_disconnected(Node *n, const char *reason);
void node_emit_state_changed(Node *n);
void node_fail_calls(Node *n);

/* secondary node: client.c */
int client_start(Manager *m);
void client_stop(Manager *m);
