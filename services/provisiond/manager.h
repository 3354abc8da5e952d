/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* aos-provisiond's bus side: org.aosedge.Provisioning1.Manager at /org/aosedge/Provisioning1,
 * the node's provisioning state machine.
 *
 * Every mutating call is parsed and validated, routed by node id, polkit-checked, checked
 * against the state, and then run as a plan of steps (hooks, aos-certd calls, file writes),
 * each asynchronous on the one event loop: the bus loop never waits for aos-certd or a hook.
 * Only one of StartProvisioning, FinishProvisioning, Deprovision runs at a time. */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "password.h"
#include "polkit.h"
#include "state-file.h"

#define PROV_BUS_NAME "org.aosedge.Provisioning1"
#define PROV_OBJECT_PATH "/org/aosedge/Provisioning1"
#define PROV_MANAGER_INTERFACE "org.aosedge.Provisioning1.Manager"
#define PROV_POLKIT_ACTION_PROVISION "org.aosedge.provisioning.provision"
#define PROV_POLKIT_ACTION_PAUSE "org.aosedge.provisioning.pause"

/* aos-certd, as this daemon calls it. */
#define CERTS_BUS_NAME "org.aosedge.Certs1"
#define CERTS_OBJECT_PATH "/org/aosedge/Certs1"
#define CERTS_MANAGER_INTERFACE "org.aosedge.Certs1.Manager"
/* Generous: SetOwner re-initializes a token, CreateKey may make an RSA key in slow hardware. */
#define CERTD_CALL_TIMEOUT_USEC (120 * USEC_PER_SEC)

typedef struct Call Call;

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        AosConfig *config;          /* owned */
        bool provisioning_mode;     /* --provisioning */

        NodeState state;
        char *state_detail;         /* why, when state is NODE_STATE_ERROR */
        char *password_path;        /* "<StateFile>.password" */

        PolkitRegistry *polkit_registry;

        Call *exclusive;            /* the running StartProvisioning/FinishProvisioning/Deprovision */
        Call *calls;                /* every call in progress */
        unsigned n_shared;          /* running CreateKey/ApplyCert */

        /* Password checks run one after the other, each after the delay that earlier wrong
         * passwords earned (PasswordThrottle), so that parallel guesses gain nothing. */
        PasswordThrottle throttle;
        Call *password_queue;
        sd_event_source *password_timer;
} Manager;

/* Takes ownership of config. Reads the state file. */
int manager_new(sd_event *event, AosConfig *config, bool provisioning_mode, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}

/* Answers every call in progress with an error saying it can be repeated, and drops it
 * (killing its hook). For a stop: before the event loop exits, while the bus is still there. */
void manager_abort_calls(Manager *m);

/* Connects (sd_bus_open_system: $DBUS_SYSTEM_BUS_ADDRESS is honoured), registers the object
 * and takes the bus name. */
int manager_connect(Manager *m);
