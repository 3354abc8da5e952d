/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Relays bytes between an established TLS session and one end of a socketpair, both
 * non-blocking, on an sd-event loop, in both directions. Each direction has a bounded buffer;
 * a full buffer stops reading from its source (backpressure), so a slow side never makes the
 * daemon buffer without limit. EOF travels: EOF on the socket end becomes a TLS close_notify
 * (gnutls_bye SHUT_WR), a TLS EOF becomes shutdown(SHUT_WR) on the socket end. When both
 * directions are closed and drained, or on an error, on_done is called once (error 0 or
 * negative errno); the relay does not free itself. */

#include <gnutls/gnutls.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#define RELAY_BUFFER_SIZE (64U * 1024U)

typedef struct Relay Relay;
typedef void (*RelayDoneFn)(Relay *r, int error, void *userdata);

/* session: handshake done, transport = tls_fd. Neither fd nor the session is owned. */
int relay_new(sd_event *e, gnutls_session_t session, int tls_fd, int unix_fd, RelayDoneFn on_done,
              void *userdata, Relay **ret);
Relay *relay_free(Relay *r);
static inline void relay_freep(Relay **r) {
        if (*r)
                relay_free(*r);
}
/* The other end of the socketpair has just been written to (sd-bus sent a message): relay it
 * now rather than in the next loop iteration. Only saves an epoll round; never required. */
void relay_kick(Relay *r);
/* Bytes relayed so far from TLS to the socket and from the socket to TLS. */
void relay_get_stats(const Relay *r, size_t *ret_tls_to_unix, size_t *ret_unix_to_tls);
