/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's context and org.aosedge.NodeLink1.Manager on the local bus. */

#include <errno.h>
#include <stdlib.h>

#include "bus-error.h"
#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

static int method_list_nodes(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (Node *n = m->nodes; n; n = n->next) {
                if (!n->registered)
                        continue;
                r = node_append_info(reply, n);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_disconnect(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *id;
        Node *n;
        int r;

        r = sd_bus_message_read(message, "s", &id);
        if (r < 0)
                return r;
        if (!node_id_is_valid(id))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not a node id.", id);

        r = bus_verify_polkit_async(message, "org.aosedge.nodelink.manage", &m->polkit_registry, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1;

        n = server_find_node(m, id);
        if (!n)
                return sd_bus_error_setf(error, AOS_NODELINK_ERROR_NODE_NOT_FOUND, "No node '%s' is connected.", id);
        log_event(LOG_INFO, STRV(strjoina("NODE_ID=", id)), "Disconnecting node %s on request.", id);
        server_drop_node(n, "disconnected on request");
        return sd_bus_reply_method_return(message, NULL);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListNodes", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", nodes), method_list_nodes,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Disconnect", SD_BUS_ARGS("s", node_id), SD_BUS_NO_RESULT, method_disconnect,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("NodeConnected", SD_BUS_ARGS("s", node_id, "a{sv}", info), 0),
        SD_BUS_SIGNAL_WITH_ARGS("NodeDisconnected", SD_BUS_ARGS("s", node_id, "s", reason), 0),
        SD_BUS_VTABLE_END
};

static int on_cert_changed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *type;

        if (sd_bus_message_read(message, "s", &type) < 0 || !streq(type, m->config->nodelink.cert_type))
                return 0;
        log_info("The '%s' certificate changed: new connections get the new one.", type);
        server_reload_credentials(m);
        return 0;
}

int manager_new(sd_event *e, AosConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *why = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return log_oom();
        m->event = sd_event_ref(e);
        m->config = config;
        for (int c = 0; c < _LINK_CHANNEL_MAX; c++)
                m->listen_fd[c] = -1;

        r = x509_chain_load_file(config->certd.ca_cert, &m->roots, &why);
        if (r < 0)
                return log_error_errno(r, "Cannot load the CA certificate %s: %s", config->certd.ca_cert,
                                       why ?: strerror(-r));
        *ret = TAKE_PTR(m);
        return 0;
}

int manager_start(Manager *m) {
        int r;

        r = daemon_bus_open(m->event, "aos-nodelinkd", &m->bus);
        if (r < 0)
                return r;

        r = sd_bus_add_object_vtable(m->bus, NULL, NODELINK_PATH, NODELINK_MANAGER_IFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Cannot register the manager object: %m");

        if (m->config->node.main_node) {
                r = node_objects_register(m);
                if (r < 0)
                        return log_error_errno(r, "Cannot register the node objects: %m");
                r = sd_bus_match_signal_async(m->bus, NULL, "org.aosedge.Certs1", "/org/aosedge/Certs1",
                                              "org.aosedge.Certs1.Manager", "CertChanged", on_cert_changed, NULL, m);
                if (r < 0)
                        return log_error_errno(r, "Cannot watch CertChanged: %m");
                r = server_start(m);
        } else
                r = client_start(m);
        if (r < 0)
                return r;

        r = sd_bus_request_name_async(m->bus, NULL, NODELINK_BUS_NAME, 0, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot request the name " NODELINK_BUS_NAME ": %m");
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        if (m->config) {
                if (m->config->node.main_node)
                        server_stop(m);
                else
                        client_stop(m);
        }
        polkit_registry_free(m->polkit_registry);
        if (m->bus) {
                sd_bus_flush_close_unref(m->bus);
        }
        x509_chain_done(&m->roots);
        config_free(m->config);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}
