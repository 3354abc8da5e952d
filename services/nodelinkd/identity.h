/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The node link's identity and authorization rules, as pure functions (no I/O), so that each
 * rule has a unit test:
 *  - who may register under which node id on which channel,
 *  - which forwarded calls may pass a link (the allowlist), and where they go on the
 *    secondary's local bus. */

#include <stdbool.h>

typedef enum LinkChannel {
        LINK_CHANNEL_PROTECTED, /* mutual TLS, client certificate from the CA */
        LINK_CHANNEL_BOOTSTRAP, /* server-auth TLS, self-signed client certificate, pinned */
        _LINK_CHANNEL_MAX,
        _LINK_CHANNEL_INVALID = -1,
} LinkChannel;

const char *link_channel_to_string(LinkChannel c);
LinkChannel link_channel_from_string(const char *s);

#define NODE_ID_LENGTH_MAX 64

/* 1..64 characters of A-Z a-z 0-9 . _ - (as [Node] Id= in common/config.c). */
bool node_id_is_valid(const char *s);
/* unprovisioned, provisioned, paused, error */
bool node_state_is_valid(const char *s);

/* What the main node learned about a peer from its TLS handshake. */
typedef struct PeerIdentity {
        LinkChannel channel;
        const char *common_name;   /* the certificate's first CN, or NULL */
        char *const *dns_names;    /* its DNS SANs, NULL-terminated, or NULL */
        const char *fingerprint;   /* SHA-256 of the DER certificate, lowercase hex */
} PeerIdentity;

/* The certificate names node_id: its CN or one of its DNS SANs equals it (exactly, case
 * sensitive: node ids are case sensitive). */
bool identity_cert_names_node(const char *common_name, char *const *dns_names, const char *node_id);

/* May peer register as node_id in state?
 *   existing: the identity of the link currently registered under node_id (NULL: none);
 *             a successful registration replaces it.
 *   pinned_fingerprint: the bootstrap fingerprint remembered for node_id (NULL: none).
 * Rules: the id and state must be valid; on protected the certificate must name the id; on
 * bootstrap the state must be "unprovisioned", the fingerprint must equal a pinned one, and a
 * node connected on protected cannot be replaced by a bootstrap peer.
 * Returns 0, or -EINVAL (malformed id/state) / -EPERM with a static reason. */
int identity_check_registration(const PeerIdentity *peer, const char *node_id, const char *state,
                                const PeerIdentity *existing, const char *pinned_fingerprint,
                                const char **ret_reason);

/* May a call to interface.member pass a link (either channel)? The allowlist: every method of
 * org.aosedge.Provisioning1.Manager and the read-only members GetCertTypes, GetCert, ListCerts
 * of org.aosedge.Certs1.Manager. */
bool identity_call_allowed(const char *interface, const char *member);
/* For an allowed interface: the bus name and object path on the target node's bus; NULL
 * otherwise. */
const char *identity_call_destination(const char *interface);
const char *identity_call_path(const char *interface);
/* Forwarded calls that get ProvisioningTimeoutSec= rather than CallTimeoutSec=. */
bool identity_call_is_long(const char *interface, const char *member);
/* The polkit action the main node checks before it forwards the call (NULL: open to all). */
const char *identity_call_polkit_action(const char *interface, const char *member);
