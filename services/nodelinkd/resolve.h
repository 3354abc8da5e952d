/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Name resolution off the event loop. getaddrinfo() may wait seconds for a DNS server; a
 * lookup runs in a short-lived thread of its own and its result comes back to the loop through
 * an eventfd. A numeric address ("192.0.2.7", "fd00::2") is answered synchronously by
 * resolve_numeric() and needs no thread. Cancelling is immediate: the callback is not called
 * afterwards and the thread cleans up after itself when getaddrinfo() returns. */

#include <netdb.h>
#include <systemd/sd-event.h>

typedef struct Resolve Resolve;
/* error: 0 (ai set, the callee owns it: freeaddrinfo) or a negative errno (-EHOSTUNREACH when
 * the name does not resolve). */
typedef void (*ResolveFn)(Resolve *q, int error, struct addrinfo *ai, void *userdata);

/* 0 and *ret set: host was a numeric address. -EAGAIN: it is a name (use resolve_start). */
int resolve_numeric(const char *host, const char *port, struct addrinfo **ret);
int resolve_start(sd_event *e, const char *host, const char *port, ResolveFn cb, void *userdata, Resolve **ret);
Resolve *resolve_cancel(Resolve *q);
