/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl status: the node (Provisioning1 properties) and the current certificate of every
 * module (Certs1). Without aos-provisiond the certificates are still shown. With --node, a node
 * connected to this node's link: its part from ListNodes of aos-nodelinkd, its certificates
 * through its node object (the node's own Provisioning1 properties are not reachable). */

#include <stdio.h>

#include "aosctl.h"
#include "bus-error.h"
#include "macro.h"

typedef struct NodeStatus {
        bool reachable;
        char *error_name, *error_message; /* when not reachable or failed */
        char *node_id, *state, *state_detail;
        bool provisioning_mode, main_node;
        const NodeInfo *link; /* with --node: the node in ListNodes (then the rest is unset) */
} NodeStatus;

typedef struct ModuleStatus {
        char *type;
        bool has_cert;
        CertView cert;
        char *error_name, *error_message; /* GetCert failed (other than NotFound) */
} ModuleStatus;

static void node_status_done(NodeStatus *n) {
        free(n->error_name);
        free(n->error_message);
        free(n->node_id);
        free(n->state);
        free(n->state_detail);
        *n = (NodeStatus) {};
}

static void module_status_done(ModuleStatus *m) {
        free(m->type);
        cert_view_done(&m->cert);
        free(m->error_name);
        free(m->error_message);
}

typedef struct ModuleList {
        ModuleStatus *items;
        size_t n;
} ModuleList;

static void module_list_done(ModuleList *l) {
        for (size_t i = 0; i < l->n; i++)
                module_status_done(&l->items[i]);
        free(l->items);
        *l = (ModuleList) {};
}

static int dup_error(const sd_bus_error *error, int r, char **ret_name, char **ret_message) {
        *ret_name = strdup(error->name ?: "");
        *ret_message = strdup(error->message ?: strerror(r < 0 ? -r : r));
        return *ret_name && *ret_message ? 0 : -ENOMEM;
}

static int node_status_entry(sd_bus_message *m, const char *key, void *userdata) {
        static const AosctlStringField strings[] = {
                AOSCTL_STRING_FIELD(NodeStatus, node_id, "NodeId", "nodeId"),
                AOSCTL_STRING_FIELD(NodeStatus, state, "State", "state"),
                AOSCTL_STRING_FIELD(NodeStatus, state_detail, "StateDetail", "stateDetail"),
        };
        NodeStatus *n = userdata;
        int b = 0, r;

        r = aosctl_read_string_field(m, key, strings, ELEMENTSOF(strings), n);
        if (r != 0)
                return r;
        if (streq(key, "ProvisioningMode")) {
                r = sd_bus_message_read(m, "v", "b", &b);
                n->provisioning_mode = b;
        } else if (streq(key, "MainNode")) {
                r = sd_bus_message_read(m, "v", "b", &b);
                n->main_node = b;
        } else
                return 0;
        return r < 0 ? r : 1;
}

static int get_node_status(AosctlContext *ctx, NodeStatus *n) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = aosctl_call(ctx, PROV_DEST, PROV_PATH, "org.freedesktop.DBus.Properties", "GetAll", AOSCTL_TIMEOUT_USEC,
                        false, &error, &reply, "s", PROV_IFACE);
        if (r < 0)
                return dup_error(&error, r, &n->error_name, &n->error_message);
        r = aosctl_read_dict(reply, node_status_entry, n);
        if (r < 0)
                return r;
        n->reachable = true;
        return 0;
}

static int get_module_status(AosctlContext *ctx, const CertsTarget *target, ModuleStatus *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = certs_target_call(ctx, target, "GetCert", &error, &reply, "says", m->type, 0U, "");
        if (r < 0) {
                if (sd_bus_error_has_name(&error, AOS_CERTS_ERROR_NOT_FOUND))
                        return 0; /* no certificate yet */
                return dup_error(&error, r, &m->error_name, &m->error_message);
        }
        r = cert_view_read(reply, &m->cert);
        if (r < 0)
                return r;
        m->has_cert = true;
        return 0;
}

static void print_json_string_or_null(const char *s) {
        if (s)
                json_print_string(stdout, s);
        else
                printf("null");
}

static void print_json(const NodeStatus *n, const ModuleStatus *mods, size_t n_mods) {
        printf("{\"nodeId\":");
        print_json_string_or_null(n->link ? n->link->id : n->node_id);
        printf(",\"state\":");
        print_json_string_or_null(n->link ? n->link->state : n->state);
        printf(",\"stateDetail\":");
        print_json_string_or_null(n->state_detail);
        if (n->link) {
                /* A node in ListNodes is a secondary node of this one. */
                printf(",\"provisioningMode\":null,\"mainNode\":false,\"link\":{\"connected\":%s,\"channel\":",
                       n->link->connected ? "true" : "false");
                print_json_string_or_null(n->link->channel);
                putchar('}');
        } else if (n->reachable)
                printf(",\"provisioningMode\":%s,\"mainNode\":%s", n->provisioning_mode ? "true" : "false",
                       n->main_node ? "true" : "false");
        else
                printf(",\"provisioningMode\":null,\"mainNode\":null");
        if (!n->link) {
                printf(",\"provisiond\":{\"reachable\":%s", n->reachable ? "true" : "false");
                if (n->error_name) {
                        printf(",\"error\":");
                        json_print_string(stdout, n->error_name);
                        printf(",\"message\":");
                        json_print_string(stdout, n->error_message);
                }
                putchar('}');
        }
        printf(",\"modules\":[");
        for (size_t i = 0; i < n_mods; i++) {
                if (i > 0)
                        putchar(',');
                printf("{\"type\":");
                json_print_string(stdout, mods[i].type);
                printf(",\"certificate\":");
                if (mods[i].has_cert)
                        cert_view_print_json(stdout, &mods[i].cert);
                else
                        printf("null");
                if (mods[i].error_name) {
                        printf(",\"error\":");
                        json_print_string(stdout, mods[i].error_name);
                        printf(",\"message\":");
                        json_print_string(stdout, mods[i].error_message);
                }
                putchar('}');
        }
        printf("]}\n");
}

static void print_text(const NodeStatus *n, const ModuleStatus *mods, size_t n_mods) {
        if (n->link) {
                printf("Node:              %s (secondary node, read over the node link)\n", strempty(n->link->id));
                printf("State:             %s\n", strna(n->link->state));
                printf("Link:              %s, %s channel\n", n->link->connected ? "connected" : "not connected",
                       strna(n->link->channel));
        } else if (n->reachable) {
                printf("Node:              %s%s\n", strempty(n->node_id), n->main_node ? " (main node)" : " (secondary node)");
                printf("State:             %s", strna(n->state));
                if (!isempty(n->state_detail))
                        printf(" (%s)", n->state_detail);
                printf("\nProvisioning mode: %s\n", n->provisioning_mode ? "yes" : "no");
        } else
                printf("Node:              unknown: aos-provisiond is unreachable (%s: %s)\n", strempty(n->error_name),
                       strempty(n->error_message));

        printf("\n%-10s %-28s %-34s %-16s %6s\n", "TYPE", "SUBJECT", "SERIAL", "NOT AFTER (UTC)", "DAYS");
        for (size_t i = 0; i < n_mods; i++) {
                const ModuleStatus *m = &mods[i];
                if (m->has_cert) {
                        char date[32];
                        cert_view_format_date(m->cert.not_after, date);
                        printf("%-10s %-28.28s %-34.34s %-16s %6ld\n", m->type, strempty(m->cert.subject),
                               strempty(m->cert.serial), date, cert_view_days_left(&m->cert));
                } else if (m->error_name)
                        printf("%-10s (error: %s: %s)\n", m->type, m->error_name, strempty(m->error_message));
                else
                        printf("%-10s (no certificate)\n", m->type);
        }
        if (n_mods == 0)
                printf("(no certificate modules)\n");
}

int verb_status(AosctlContext *ctx, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(certs_target_done) CertsTarget target = {};
        _cleanup_(node_status_done) NodeStatus node = {};
        _cleanup_(module_list_done) ModuleList mods = {};
        _cleanup_strv_free_ char **types = NULL;
        const char *node_id;
        int r, ret = AOSCTL_EXIT_SUCCESS;

        r = aosctl_parse_node_option(ctx, argc, argv, &node_id);
        if (r != AOSCTL_PARSE_GO_ON)
                return r;

        if (!node_id) {
                r = get_node_status(ctx, &node);
                if (r < 0)
                        return aosctl_bus_error("reading the properties of " PROV_DEST, NULL, r);
                if (!node.reachable && streq_ptr(node.error_name, SD_BUS_ERROR_NO_SERVER))
                        /* No bus at all: nothing else will answer either. */
                        return aosctl_bus_error("status",
                                                &(sd_bus_error) { .name = node.error_name, .message = node.error_message }, 0);
        }
        r = certs_target_open(ctx, node_id, &target);
        if (r != AOSCTL_PARSE_GO_ON)
                return r;
        if (node_id)
                node.link = &target.info;

        r = certs_target_call(ctx, &target, "GetCertTypes", &error, &reply, NULL);
        if (r < 0)
                return certs_target_error(&target, "GetCertTypes", &error, r);
        r = sd_bus_message_read_strv(reply, &types);
        if (r < 0)
                return aosctl_bus_error("GetCertTypes", NULL, r);

        mods.items = calloc(strv_length(types) + 1, sizeof(ModuleStatus));
        if (!mods.items)
                return aosctl_fail(ctx, "out of memory");
        for (char **t = types; t && *t; t++) {
                ModuleStatus *m = &mods.items[mods.n++];

                m->type = strdup(*t);
                if (!m->type)
                        return aosctl_fail(ctx, "out of memory");
                r = get_module_status(ctx, &target, m);
                if (r < 0)
                        return aosctl_bus_error("GetCert", NULL, r);
                if (m->error_name) {
                        sd_bus_error e = { .name = m->error_name, .message = m->error_message };
                        ret = MAX(ret, certs_target_exit_code(&target, &e));
                }
        }

        if (ctx->json)
                print_json(&node, mods.items, mods.n);
        else
                print_text(&node, mods.items, mods.n);
        return ret;
}
