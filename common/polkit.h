/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Asynchronous polkit checks over sd-bus (org.freedesktop.PolicyKit1.Authority
 * CheckAuthorization with the caller's bus name as subject), the way systemd's daemons do it,
 * without libpolkit. Root callers pass without asking. The allow-interactive flag comes from
 * the call's message header.
 *
 * Use in a method handler, before touching any state:
 *     r = bus_verify_polkit_async(m, "org.aosedge.certs.manage", &c->polkit_registry, error);
 *     if (r < 0) return r;
 *     if (r == 0) return 1;   // query running; the call is dispatched again with the answer
 * The second dispatch of the same message finds the cached answer and returns 1 or an
 * AccessDenied / InteractiveAuthorizationRequired error. */

#include <systemd/sd-bus.h>

typedef struct PolkitRegistry PolkitRegistry;

int bus_verify_polkit_async(sd_bus_message *call, const char *action, PolkitRegistry **registry,
                            sd_bus_error *error);
PolkitRegistry *polkit_registry_free(PolkitRegistry *r);
