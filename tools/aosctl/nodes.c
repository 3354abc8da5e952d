/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl nodes: the nodes connected to this node's link (org.aosedge.NodeLink1 ListNodes), as a
 * table or JSON. Also what the other commands need of the link: the node list, and the target
 * of certificate reads with --node (a node's object of aos-nodelinkd, which forwards the read
 * members of org.aosedge.Certs1.Manager to that node's aos-certd). */

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aosctl.h"
#include "macro.h"

/* How many characters of a fingerprint the table shows (--json has all of it). */
#define FINGERPRINT_SHORT 16

void node_list_done(NodeList *l) {
        for (size_t i = 0; i < l->n; i++)
                node_info_done(&l->items[i]);
        free(l->items);
        *l = (NodeList) {};
}

/* The string keys of a node info dict, and their JSON names. */
static const AosctlStringField node_info_strings[] = {
        AOSCTL_STRING_FIELD(NodeInfo, id, "Id", "id"),
        AOSCTL_STRING_FIELD(NodeInfo, title, "Title", "title"),
        AOSCTL_STRING_FIELD(NodeInfo, type, "Type", "type"),
        AOSCTL_STRING_FIELD(NodeInfo, state, "State", "state"),
        AOSCTL_STRING_FIELD(NodeInfo, channel, "Channel", "channel"),
        AOSCTL_STRING_FIELD(NodeInfo, peer_address, "PeerAddress", "peerAddress"),
        AOSCTL_STRING_FIELD(NodeInfo, peer_subject, "PeerSubject", "peerSubject"),
        AOSCTL_STRING_FIELD(NodeInfo, peer_fingerprint, "PeerFingerprint", "peerFingerprint"),
};

void node_info_done(NodeInfo *n) {
        aosctl_free_string_fields(node_info_strings, ELEMENTSOF(node_info_strings), n);
        *n = (NodeInfo) {};
}

/* One entry of a node info dict (a{sv}), see aosctl_read_dict(). */
static int node_info_entry(sd_bus_message *m, const char *key, void *userdata) {
        NodeInfo *n = userdata;
        int b = 0, r;

        r = aosctl_read_string_field(m, key, node_info_strings, ELEMENTSOF(node_info_strings), n);
        if (r != 0)
                return r;
        if (streq(key, "Connected")) {
                r = sd_bus_message_read(m, "v", "b", &b);
                n->connected = b;
        } else if (streq(key, "Since"))
                r = sd_bus_message_read(m, "v", "t", &n->since);
        else
                return 0;
        return r < 0 ? r : 1;
}

static int node_info_compare(const void *a, const void *b) {
        const NodeInfo *x = a, *y = b;
        return strcmp(strempty(x->id), strempty(y->id));
}

int node_list_get(AosctlContext *ctx, NodeList *ret, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(node_list_done) NodeList l = {};
        size_t allocated = 0;
        int r;

        r = aosctl_call(ctx, NODELINK_DEST, NODELINK_PATH, NODELINK_IFACE, "ListNodes", AOSCTL_TIMEOUT_USEC, false,
                        error, &reply, NULL);
        if (r < 0)
                return r;

        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_at_end(reply, false)) == 0) {
                if (l.n == allocated) {
                        size_t a = MAX(allocated * 2, (size_t) 4);
                        NodeInfo *items = reallocarray(l.items, a, sizeof(NodeInfo));
                        if (!items)
                                return -ENOMEM;
                        l.items = items;
                        allocated = a;
                }
                l.items[l.n] = (NodeInfo) {};
                r = aosctl_read_dict(reply, node_info_entry, &l.items[l.n]);
                l.n++; /* even when half read: node_list_done frees what it has */
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (l.n > 0)
                qsort(l.items, l.n, sizeof(NodeInfo), node_info_compare);
        *ret = l;
        l = (NodeList) {};
        return 0;
}

NodeInfo *node_list_find(const NodeList *l, const char *id) {
        for (size_t i = 0; i < l->n; i++)
                if (streq_ptr(l->items[i].id, id))
                        return &l->items[i];
        return NULL;
}

/* --- certificate reads on a node --------------------------------------------------------------- */

int certs_target_open(AosctlContext *ctx, const char *node, CertsTarget *t) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(node_list_done) NodeList nodes = {};
        NodeInfo *found;
        int r;

        *t = (CertsTarget) {};
        if (!node) {
                t->dest = CERTS_DEST;
                t->path = strdup(CERTS_PATH);
                return t->path ? AOSCTL_PARSE_GO_ON : aosctl_fail(ctx, "out of memory");
        }

        r = node_list_get(ctx, &nodes, &error);
        if (r < 0)
                return aosctl_bus_error("ListNodes of " NODELINK_DEST, &error, r);
        found = node_list_find(&nodes, node);
        if (!found)
                return aosctl_fail(ctx, "node %s is not connected to this node's link ('aosctl nodes' lists the nodes that are)",
                                   node);
        t->node = node;
        t->dest = NODELINK_DEST;
        r = sd_bus_path_encode(NODELINK_PATH "/node", node, &t->path);
        if (r < 0)
                return aosctl_fail(ctx, "out of memory");
        t->info = *found;
        *found = (NodeInfo) {};
        return AOSCTL_PARSE_GO_ON;
}

void certs_target_done(CertsTarget *t) {
        free(t->path);
        node_info_done(&t->info);
        *t = (CertsTarget) {};
}

int certs_target_call(AosctlContext *ctx, const CertsTarget *t, const char *member, sd_bus_error *error,
                      sd_bus_message **ret_reply, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = aosctl_callv(ctx, t->dest, t->path, CERTS_IFACE, member, AOSCTL_TIMEOUT_USEC, false, error, ret_reply,
                         types, ap);
        va_end(ap);
        return r;
}

/* aos-nodelinkd has no object for a node that is not connected. */
static bool node_object_gone(const CertsTarget *t, const sd_bus_error *error) {
        return t->node && error &&
               sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE,
                                      SD_BUS_ERROR_UNKNOWN_METHOD);
}

int certs_target_exit_code(const CertsTarget *t, const sd_bus_error *error) {
        if (node_object_gone(t, error))
                return AOSCTL_EXIT_FAILURE;
        return aosctl_error_is_unreachable(error) ? AOSCTL_EXIT_UNREACHABLE : AOSCTL_EXIT_FAILURE;
}

int certs_target_error(const CertsTarget *t, const char *what, const sd_bus_error *error, int r) {
        if (node_object_gone(t, error)) {
                fprintf(stderr, "aosctl: %s: node %s is no longer connected to this node's link (%s: %s)\n", what,
                        t->node, error->name, strempty(error->message));
                return AOSCTL_EXIT_FAILURE;
        }
        return aosctl_bus_error(what, error, r);
}

/* --- aosctl nodes --------------------------------------------------------------------------------- */

/* "2024-05-01 14:00:03 CEST" in local time, "-" when unknown. */
static void format_local_time(uint64_t usec, char buf[static 64]) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (usec == 0)
                snprintf(buf, 64, "-");
        else if (!localtime_r(&t, &tm) || strftime(buf, 64, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                snprintf(buf, 64, "@%llu", (unsigned long long) (usec / USEC_PER_SEC));
}

static void print_json(const NodeList *l) {
        putchar('[');
        for (size_t i = 0; i < l->n; i++) {
                const NodeInfo *n = &l->items[i];

                if (i > 0)
                        putchar(',');
                for (size_t k = 0; k < ELEMENTSOF(node_info_strings); k++) {
                        printf("%s\"%s\":", k == 0 ? "{" : ",", node_info_strings[k].json);
                        json_print_string(stdout, *aosctl_string_field(&node_info_strings[k], n));
                }
                printf(",\"connected\":%s,\"since\":%llu}", n->connected ? "true" : "false",
                       (unsigned long long) n->since);
        }
        printf("]\n");
}

static void print_table(const NodeList *l) {
        int w_id = 2, w_state = 5, w_channel = 7, w_address = 7, w_since = 5;
        char since[64];

        if (l->n == 0) {
                printf("(no nodes connected)\n");
                return;
        }
        for (size_t i = 0; i < l->n; i++) {
                const NodeInfo *n = &l->items[i];
                w_id = MAX(w_id, (int) strlen(strempty(n->id)));
                w_state = MAX(w_state, (int) strlen(strempty(n->state)));
                w_channel = MAX(w_channel, (int) strlen(strempty(n->channel)));
                w_address = MAX(w_address, (int) strlen(strempty(n->peer_address)));
                format_local_time(n->since, since);
                w_since = MAX(w_since, (int) strlen(since));
        }

        printf("%-*s %-*s %-*s %-9s %-*s %-*s %s\n", w_id, "ID", w_state, "STATE", w_channel, "CHANNEL", "CONNECTED",
               w_address, "ADDRESS", w_since, "SINCE", "FINGERPRINT");
        for (size_t i = 0; i < l->n; i++) {
                const NodeInfo *n = &l->items[i];
                const char *fp = strempty(n->peer_fingerprint);

                format_local_time(n->since, since);
                printf("%-*s %-*s %-*s %-9s %-*s %-*s %.*s%s\n", w_id, strempty(n->id), w_state, strempty(n->state),
                       w_channel, strempty(n->channel), n->connected ? "yes" : "no", w_address,
                       strempty(n->peer_address), w_since, since, FINGERPRINT_SHORT, fp,
                       strlen(fp) > FINGERPRINT_SHORT ? "..." : "");
        }
}

int verb_nodes(AosctlContext *ctx, int argc, char *argv[]) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                {}
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(node_list_done) NodeList nodes = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                if (aosctl_common_option(ctx, c, &r))
                        return r;
        if (optind < argc)
                return aosctl_usage_error(ctx, "takes no arguments");

        r = node_list_get(ctx, &nodes, &error);
        if (r < 0)
                return aosctl_bus_error("ListNodes of " NODELINK_DEST, &error, r);

        if (ctx->json)
                print_json(&nodes);
        else
                print_table(&nodes);
        return AOSCTL_EXIT_SUCCESS;
}
