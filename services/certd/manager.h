/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* aos-certd's bus side: org.aosedge.Certs1.Manager at /org/aosedge/Certs1 and one
 * org.aosedge.Certs1.Module object per module. Every mutating call is validated, then
 * polkit-checked, then run on the worker thread; its completion emits the signals and replies.
 * Reads are answered from the database on the bus loop. */

#include <sqlite3.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "module.h"
#include "password.h"
#include "polkit.h"
#include "worker.h"
#include "x509.h"

#define CERTS_BUS_NAME "org.aosedge.Certs1"
#define CERTS_OBJECT_PATH "/org/aosedge/Certs1"
#define CERTS_MANAGER_INTERFACE "org.aosedge.Certs1.Manager"
#define CERTS_MODULE_INTERFACE "org.aosedge.Certs1.Module"
#define CERTS_MODULE_PATH_PREFIX "/org/aosedge/Certs1/module"
#define CERTS_POLKIT_ACTION "org.aosedge.certs.manage"

typedef struct Manager Manager;

typedef struct ModuleSlot {
        Manager *manager;
        CertModule *module;       /* used by the worker only, after start-up */
        const ModuleConfig *config;
        char *object_path;
        PasswordThrottle throttle;
} ModuleSlot;

struct Manager {
        sd_event *event;
        sd_bus *bus;
        AosConfig *config;        /* owned */
        X509Chain roots;
        sqlite3 *db_read;         /* bus loop */
        sqlite3 *db_write;        /* worker thread (and start-up) */
        Worker *worker;
        ModuleSlot *slots;
        size_t n_slots;
        PolkitRegistry *polkit_registry;
        char **cert_types;
};

/* Takes ownership of config. Opens the database, loads the CA, sets up the modules and
 * reconciles them. */
int manager_new(sd_event *event, AosConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}

/* Connects (sd_bus_open_system: $DBUS_SYSTEM_BUS_ADDRESS is honoured), registers the objects
 * and takes the bus name. */
int manager_connect(Manager *m);
