/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl watch [--count N]: CertChanged (Certs1) and NodeStateChanged (Provisioning1), one line
 * (or one JSON object) per signal, until SIGINT/SIGTERM or N signals. The matches name the
 * daemons' bus names, so a daemon that restarts is followed, and one that is not running yet
 * is seen once it starts. */

#include <signal.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "aosctl.h"
#include "macro.h"

typedef struct Watch {
        AosctlContext *ctx;
        sd_event *event;
        uint64_t count, seen;
} Watch;

static void print_time(void) {
        struct timespec ts;
        struct tm tm;
        char buf[32];

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        if (gmtime_r(&ts.tv_sec, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) > 0)
                printf("%s.%03ldZ ", buf, ts.tv_nsec / 1000000);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void seen_one(Watch *w) {
        fflush(stdout);
        w->seen++;
        if (w->count > 0 && w->seen >= w->count)
                (void) sd_event_exit(w->event, AOSCTL_EXIT_SUCCESS);
}

static int on_cert_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(cert_view_done) CertView v = {};
        Watch *w = userdata;
        const char *type;
        int r;

        r = sd_bus_message_read(m, "s", &type);
        if (r >= 0)
                r = cert_view_read(m, &v);
        if (r < 0) {
                fprintf(stderr, "aosctl watch: ignoring a malformed CertChanged signal: %s\n", strerror(-r));
                return 0;
        }
        bool cleared = isempty(v.serial);

        if (w->ctx->json) {
                printf("{\"time\":%llu,\"signal\":\"CertChanged\",\"type\":", (unsigned long long) now_usec());
                json_print_string(stdout, type);
                printf(",\"certificate\":");
                if (cleared)
                        printf("null");
                else
                        cert_view_print_json(stdout, &v);
                printf("}\n");
        } else {
                char date[32];

                print_time();
                if (cleared)
                        printf("CertChanged type=%s (cleared)\n", type);
                else {
                        cert_view_format_date(v.not_after, date);
                        printf("CertChanged type=%s serial=%s subject=%s not-after=\"%s\" days=%ld\n", type, v.serial,
                               strempty(v.subject), date, cert_view_days_left(&v));
                }
        }
        seen_one(w);
        return 0;
}

static int on_node_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        const char *node, *state;
        int r;

        r = sd_bus_message_read(m, "ss", &node, &state);
        if (r < 0) {
                fprintf(stderr, "aosctl watch: ignoring a malformed NodeStateChanged signal: %s\n", strerror(-r));
                return 0;
        }
        if (w->ctx->json) {
                printf("{\"time\":%llu,\"signal\":\"NodeStateChanged\",\"nodeId\":", (unsigned long long) now_usec());
                json_print_string(stdout, node);
                printf(",\"state\":");
                json_print_string(stdout, state);
                printf("}\n");
        } else {
                print_time();
                printf("NodeStateChanged node=%s state=%s\n", node, state);
        }
        seen_one(w);
        return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Watch *w = userdata;
        return sd_event_exit(w->event, AOSCTL_EXIT_SUCCESS);
}

static inline void event_unrefp(sd_event **e) {
        if (*e)
                sd_event_unref(*e);
}

int verb_watch(AosctlContext *ctx, int argc, char *argv[]) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                { "count", required_argument, NULL, ARG_COUNT },
                {}
        };
        _cleanup_(event_unrefp) sd_event *event = NULL;
        Watch w = { .ctx = ctx };
        sigset_t mask;
        sd_bus *bus;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_COUNT: {
                        char *end;
                        errno = 0;
                        unsigned long long n = strtoull(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || optarg[0] == '-' || n == 0)
                                return aosctl_usage_error(ctx, "--count takes a positive number, not '%s'", optarg);
                        w.count = n;
                        break;
                }
                default:
                        if (aosctl_common_option(ctx, c, &r))
                                return r;
                }
        if (optind < argc)
                return aosctl_usage_error(ctx, "takes no arguments");

        r = aosctl_bus(ctx, &bus);
        if (r < 0)
                return -r;

        r = sd_event_default(&event);
        if (r < 0)
                return aosctl_fail(ctx, "cannot make an event loop: %s", strerror(-r));
        w.event = event;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return aosctl_fail(ctx, "cannot block signals: %m");
        r = sd_event_add_signal(event, NULL, SIGINT, on_exit_signal, &w);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, on_exit_signal, &w);
        if (r < 0)
                return aosctl_fail(ctx, "cannot watch SIGINT/SIGTERM: %s", strerror(-r));

        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return aosctl_fail(ctx, "cannot attach the bus to the event loop: %s", strerror(-r));
        /* The matches are in place (AddMatch answered) before we say we are listening. */
        r = sd_bus_match_signal(bus, NULL, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "CertChanged", on_cert_changed, &w);
        if (r < 0)
                return aosctl_bus_error("watch: adding a match for CertChanged", NULL, r);
        r = sd_bus_match_signal(bus, NULL, PROV_DEST, PROV_PATH, PROV_IFACE, "NodeStateChanged", on_node_state_changed,
                                &w);
        if (r < 0)
                return aosctl_bus_error("watch: adding a match for NodeStateChanged", NULL, r);
        /* A lost bus ends the loop with EXIT_FAILURE (our own exits use 0). */
        (void) sd_bus_set_exit_on_disconnect(bus, true);

        fprintf(stderr, "aosctl watch: listening for CertChanged and NodeStateChanged; Ctrl-C to stop\n");
        fflush(stderr);

        /* (Leaving the loop also flushes and closes the bus: sd-bus's exit handler.) */
        r = sd_event_loop(event);
        (void) sd_bus_detach_event(bus);
        if (r < 0)
                return aosctl_fail(ctx, "event loop failed: %s", strerror(-r));
        if (r != AOSCTL_EXIT_SUCCESS) {
                fprintf(stderr, "aosctl watch: lost the connection to the bus\n");
                return AOSCTL_EXIT_UNREACHABLE;
        }
        return AOSCTL_EXIT_SUCCESS;
}
