/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One TLS connection between two nodes, either side: non-blocking connect (client), TLS 1.3
 * handshake, peer certificate check, the version handshake, then a D-Bus peer-to-peer
 * connection (sd-bus over a socketpair whose other end a Relay carries over the TLS session).
 * The main node is the sd-bus server, the secondary the client. See docs/nodelink.md.
 *
 * A link has a deadline until its owner calls link_set_authenticated() (the main node when a
 * registration succeeded, the secondary when its registration was accepted): a peer that
 * stalls anywhere before that is dropped. Closing is asynchronous: link_close() flushes the
 * peer bus, lets the relay send close_notify, and calls on_closed from a fresh loop iteration,
 * where the owner may free the link. */

#include <gnutls/gnutls.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "credentials.h"
#include "identity.h"
#include "relay.h"
#include "x509.h"

#define LINK_VERSION_MAGIC "AOSNL 1\n" /* 8 bytes each way, see docs/nodelink.md */
#define LINK_VERSION_SIZE 8
#define LINK_HANDSHAKE_TIMEOUT_USEC (10 * UINT64_C(1000000))
#define LINK_CLOSE_TIMEOUT_USEC (3 * UINT64_C(1000000))

typedef enum LinkRole {
        LINK_ROLE_SERVER, /* main node: accepted the connection, sd-bus server */
        LINK_ROLE_CLIENT, /* secondary: dialed, sd-bus client */
} LinkRole;

typedef enum LinkPhase {
        LINK_PHASE_CONNECTING,
        LINK_PHASE_TLS,
        LINK_PHASE_VERSION,
        LINK_PHASE_UP,
        LINK_PHASE_CLOSING,
        LINK_PHASE_CLOSED,
} LinkPhase;

typedef struct Link Link;
typedef void (*LinkUpFn)(Link *l, void *userdata);
typedef void (*LinkClosedFn)(Link *l, const char *reason, void *userdata);

struct Link {
        sd_event *event;
        LinkRole role;
        LinkChannel channel;
        LinkPhase phase;
        int fd;
        int pair_fd; /* our end of the socketpair; sd-bus has the other one */
        gnutls_session_t session;
        Credentials *creds;
        const X509Chain *roots; /* not owned; NULL: peer chain not verified (bootstrap server) */
        sd_event_source *io_source, *deadline_source, *close_source, *flush_source;
        char version_buf[LINK_VERSION_SIZE];
        size_t version_done;
        bool version_sent;
        Relay *relay;
        sd_bus *bus;
        char *reason; /* why it closed */

        /* Known once the TLS handshake is done. */
        char *peer_address; /* "192.0.2.7:40112", "[fd00::2]:51334" */
        char *peer_subject;
        char *peer_fingerprint;
        char *peer_common_name;
        char **peer_dns_names;

        LinkUpFn on_up;
        LinkClosedFn on_closed;
        void *userdata;
};

/* Takes fd (an accepted, connected socket). */
int link_new_server(sd_event *e, int fd, LinkChannel channel, Credentials *creds, const X509Chain *roots,
                    LinkUpFn on_up, LinkClosedFn on_closed, void *userdata, Link **ret);
/* Dials the first address of ai. creds: the client certificate. */
int link_new_client_ai(sd_event *e, const struct addrinfo *ai, LinkChannel channel, Credentials *creds,
                       const X509Chain *roots, LinkUpFn on_up, LinkClosedFn on_closed, void *userdata, Link **ret);
/* Dials address ("host:port", "[v6]:port"), resolving it synchronously: for tools and tests;
 * the daemon resolves off the loop (resolve.h) and calls link_new_client_ai(). */
int link_new_client(sd_event *e, const char *address, LinkChannel channel, Credentials *creds,
                    const X509Chain *roots, LinkUpFn on_up, LinkClosedFn on_closed, void *userdata,
                    Link **ret);
Link *link_free(Link *l);
static inline void link_freep(Link **l) {
        if (*l)
                link_free(*l);
}

void link_set_authenticated(Link *l);
/* Call after sending on l->bus: the relay carries the message on at once (see relay_kick). */
void link_kick(Link *l);
/* Starts the close; on_closed follows (once). reason: for people and logs. */
void link_close(Link *l, const char *reason);
/* Splits "host:port" / "[v6]:port". */
int link_parse_address(const char *address, char **ret_host, char **ret_port);
