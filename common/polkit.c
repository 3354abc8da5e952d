/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "polkit.h"

/* One outstanding or answered CheckAuthorization per (call, action). The method handler runs
 * twice for a call that needs polkit: the first run starts the query and returns; when the
 * answer arrives the call is put back into the read queue, and the second run finds the answer
 * here. */
typedef struct PolkitQuery {
        struct PolkitQuery *next;
        PolkitRegistry *registry;
        sd_bus_message *call;
        char *action;
        sd_bus_slot *slot;
        bool done;
        bool authorized;
        bool challenge;
        sd_bus_error error; /* set when polkit itself could not be asked */
} PolkitQuery;

struct PolkitRegistry {
        PolkitQuery *queries;
};

static void polkit_query_free(PolkitQuery *q) {
        if (!q)
                return;
        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->call);
        sd_bus_error_free(&q->error);
        free(q->action);
        free(q);
}

static void registry_remove(PolkitRegistry *r, PolkitQuery *q) {
        for (PolkitQuery **p = &r->queries; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        return;
                }
}

PolkitRegistry *polkit_registry_free(PolkitRegistry *r) {
        if (!r)
                return NULL;
        while (r->queries) {
                PolkitQuery *q = r->queries;
                r->queries = q->next;
                polkit_query_free(q);
        }
        free(r);
        return NULL;
}

static int check_authorization_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        int r;

        q->slot = sd_bus_slot_unref(q->slot);
        q->done = true;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                (void) sd_bus_error_setf(&q->error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Authorization could not be checked: %s",
                                         sd_bus_message_get_error(reply)->message ?: "polkit error");
        } else {
                int authorized = 0, challenge = 0;
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0)
                        (void) sd_bus_error_set(&q->error, SD_BUS_ERROR_ACCESS_DENIED,
                                                "Authorization could not be checked: malformed polkit reply");
                q->authorized = authorized;
                q->challenge = challenge;
        }

        /* Dispatch the original call once more; the handler now finds the answer. */
        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->call), q->call);
        if (r < 0) {
                /* Nothing will come back for this call: answer it here so the caller is not left hanging. */
                (void) sd_bus_reply_method_errorf(q->call, SD_BUS_ERROR_FAILED,
                                                  "Failed to re-dispatch the call after authorization: %s",
                                                  strerror(-r));
                registry_remove(q->registry, q);
                polkit_query_free(q);
        }
        return 0;
}

static int sender_is_root(sd_bus_message *call) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(call, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        return uid == 0;
}

int bus_verify_polkit_async(sd_bus_message *call, const char *action, PolkitRegistry **registry,
                            sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pk = NULL;
        int r;

        if (!call || !action || !registry)
                return -EINVAL;

        /* An answer for this very call? */
        if (*registry)
                for (PolkitQuery *q = (*registry)->queries; q; q = q->next) {
                        if (q->call != call || !streq(q->action, action))
                                continue;
                        if (!q->done)
                                return 0; /* still waiting (the call was dispatched again early) */

                        registry_remove(*registry, q);
                        if (sd_bus_error_is_set(&q->error)) {
                                r = sd_bus_error_copy(error, &q->error);
                                polkit_query_free(q);
                                return r;
                        }
                        bool authorized = q->authorized, challenge = q->challenge;
                        polkit_query_free(q);
                        if (authorized)
                                return 1;
                        if (challenge)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                                         "Interactive authentication is required for %s.", action);
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 "Not authorized for %s.", action);
                }

        r = sender_is_root(call);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot determine the caller's identity: %s", strerror(-r));
        if (r > 0)
                return 1;

        const char *sender = sd_bus_message_get_sender(call);
        if (!sender)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Caller has no bus name.");

        if (!*registry) {
                *registry = calloc(1, sizeof(PolkitRegistry));
                if (!*registry)
                        return -ENOMEM;
        }

        sd_bus *bus = sd_bus_message_get_bus(call);
        r = sd_bus_message_new_method_call(bus, &pk, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r < 0)
                return r;
        unsigned flags = sd_bus_message_get_allow_interactive_authorization(call) ? 1 : 0;
        r = sd_bus_message_append(pk, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s", sender,
                                  action, 0, flags, "");
        if (r < 0)
                return r;

        PolkitQuery *q = calloc(1, sizeof(PolkitQuery));
        if (!q)
                return -ENOMEM;
        q->registry = *registry;
        q->call = sd_bus_message_ref(call);
        q->action = strdup(action);
        if (!q->action) {
                polkit_query_free(q);
                return -ENOMEM;
        }
        /* Interactive authentication may take as long as a person needs. */
        r = sd_bus_call_async(bus, &q->slot, pk, check_authorization_reply, q,
                              flags ? UINT64_C(300) * 1000000 : 0);
        if (r < 0) {
                polkit_query_free(q);
                return r;
        }
        q->next = (*registry)->queries;
        (*registry)->queries = q;
        return 0;
}
