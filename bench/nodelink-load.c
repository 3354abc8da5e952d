/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nodelink-load: the sd-bus client side of bench/nodelink-bench.sh. Sequential calls on one or
 * two buses given by address (a main node's and a secondary's), one latency per line in µs, and
 * a watcher that times nodes arriving at the main node's aos-nodelinkd. Not part of the build:
 * the bench script compiles it into its scratch directory.
 *
 *   nodelink-load calls OUTDIR WARMUP N MAIN_ADDR SEC_ADDR NODE_PATH [PROBE,...]
 *       One round of the probes (all three, or those listed), each WARMUP calls not recorded,
 *       then N recorded calls appended to OUTDIR/PROBE.us:
 *         getid  org.freedesktop.DBus.GetId on the main bus (the bus floor, one hop)
 *         fwd    org.aosedge.Certs1.Manager.GetCertTypes on the main bus at NODE_PATH of
 *                org.aosedge.NodeLink1: forwarded over the node link to the secondary's certd
 *         local  the same call on the secondary's own bus, to org.aosedge.Certs1 itself
 *   nodelink-load repeat ADDR DEST PATH IFACE MEMBER N WARMUP
 *       N calls (after WARMUP) of a method without arguments, latency per line on stdout: for
 *       one probe by hand (perf, strace) with the fixtures running, e.g. ListNodes.
 *   nodelink-load wait-nodes ADDR N CHANNEL TIMEOUT_SEC
 *       Subscribes to NodeConnected of org.aosedge.NodeLink1 on ADDR, prints "ready" (flushed)
 *       once the match is in place, then waits until N distinct node ids connected on CHANNEL
 *       ("protected", "bootstrap" or "any") and ListNodes confirms N such nodes. Prints
 *       "REALTIME_NS NODE_ID" per node at the moment its NodeConnected arrived (CLOCK_REALTIME,
 *       so that the script can compare with `date +%s%N`), in arrival order. Exit status 1 on
 *       timeout (the count reached is printed to stderr).
 *
 * Latencies are CLOCK_MONOTONIC around sd_bus_call() (message built, sent, reply received).
 * Exit status 1 on a D-Bus error (printed), 2 on a usage error. */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#define NL_DEST "org.aosedge.NodeLink1"
#define NL_PATH "/org/aosedge/NodeLink1"
#define NL_IFACE "org.aosedge.NodeLink1.Manager"
#define CERTS_DEST "org.aosedge.Certs1"
#define CERTS_PATH "/org/aosedge/Certs1"
#define CERTS_IFACE "org.aosedge.Certs1.Manager"
#define MAX_NODES 1024

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static long long realtime_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int die_bus(const char *what, int r, const sd_bus_error *e) {
        if (e && sd_bus_error_is_set(e))
                fprintf(stderr, "nodelink-load: %s: Error %s: %s\n", what, e->name, e->message);
        else
                fprintf(stderr, "nodelink-load: %s: %s\n", what, strerror(-r));
        return 1;
}

static int open_bus(const char *address, sd_bus **ret) {
        sd_bus *b = NULL;
        int r = sd_bus_new(&b);
        if (r >= 0)
                r = sd_bus_set_address(b, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(b, 1);
        if (r >= 0)
                r = sd_bus_start(b);
        if (r < 0) {
                sd_bus_unref(b);
                fprintf(stderr, "nodelink-load: cannot connect to %s: %s\n", address, strerror(-r));
                return r;
        }
        *ret = b;
        return 0;
}

/* One call of a method without arguments; the reply is dropped. */
static int call0(sd_bus *bus, const char *dest, const char *path, const char *iface, const char *member,
                 double *ret_us) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        double t0 = now_us();
        int r = sd_bus_message_new_method_call(bus, &m, dest, path, iface, member);
        if (r >= 0)
                r = sd_bus_call(bus, m, 60 * 1000000ULL, &e, &reply);
        double t1 = now_us();
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        if (r < 0) {
                char what[512];
                snprintf(what, sizeof what, "%s.%s on %s", iface, member, path);
                die_bus(what, r, &e);
                sd_bus_error_free(&e);
                return r;
        }
        *ret_us = t1 - t0;
        return 0;
}

typedef struct Probe {
        const char *name;
        sd_bus *bus;
        const char *dest, *path, *iface, *member;
} Probe;

static int mode_calls(int argc, char **argv) {
        sd_bus *main_bus = NULL, *sec_bus = NULL;

        if (argc != 6 && argc != 7)
                return 2;
        const char *outdir = argv[0], *only = argc == 7 ? argv[6] : NULL;
        int warmup = atoi(argv[1]), n = atoi(argv[2]);
        if (n <= 0 || warmup < 0)
                return 2;
        if (open_bus(argv[3], &main_bus) < 0 || open_bus(argv[4], &sec_bus) < 0)
                return 1;
        Probe probes[] = {
                { "getid", main_bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId" },
                { "fwd", main_bus, NL_DEST, argv[5], CERTS_IFACE, "GetCertTypes" },
                { "local", sec_bus, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "GetCertTypes" },
        };
        double *lat = calloc((size_t) n, sizeof(double));
        if (!lat)
                return 1;
        for (size_t p = 0; p < sizeof probes / sizeof probes[0]; p++) {
                Probe *pr = &probes[p];
                char file[4096];
                if (only) {
                        /* a comma-separated list: match whole names */
                        size_t l = strlen(pr->name);
                        const char *q = only;
                        bool found = false;
                        while ((q = strstr(q, pr->name))) {
                                if ((q == only || q[-1] == ',') && (q[l] == 0 || q[l] == ','))
                                        found = true;
                                q += l;
                        }
                        if (!found)
                                continue;
                }
                for (int i = 0; i < warmup + n; i++) {
                        double us;
                        if (call0(pr->bus, pr->dest, pr->path, pr->iface, pr->member, &us) < 0)
                                return 1;
                        if (i >= warmup)
                                lat[i - warmup] = us;
                }
                snprintf(file, sizeof file, "%s/%s.us", outdir, pr->name);
                FILE *f = fopen(file, "ae");
                if (!f) {
                        fprintf(stderr, "nodelink-load: cannot open %s: %s\n", file, strerror(errno));
                        return 1;
                }
                for (int i = 0; i < n; i++)
                        fprintf(f, "%.1f\n", lat[i]);
                fclose(f);
        }
        sd_bus_flush_close_unref(main_bus);
        sd_bus_flush_close_unref(sec_bus);
        return 0;
}

static int mode_repeat(int argc, char **argv) {
        sd_bus *bus = NULL;

        if (argc != 7)
                return 2;
        int n = atoi(argv[5]), warmup = atoi(argv[6]);
        if (n <= 0 || warmup < 0)
                return 2;
        if (open_bus(argv[0], &bus) < 0)
                return 1;
        for (int i = 0; i < warmup + n; i++) {
                double us;
                if (call0(bus, argv[1], argv[2], argv[3], argv[4], &us) < 0)
                        return 1;
                if (i >= warmup)
                        printf("%.1f\n", us);
        }
        sd_bus_flush_close_unref(bus);
        return 0;
}

/* ---- wait-nodes ---- */

typedef struct Watch {
        const char *channel;
        char *ids[MAX_NODES];
        long long at[MAX_NODES];
        int n;
} Watch;

/* info (a{sv}) of a NodeConnected or a ListNodes entry: the Channel value, or "" */
static int read_info_channel(sd_bus_message *m, char *buf, size_t size) {
        int r = sd_bus_message_enter_container(m, 'a', "{sv}");
        buf[0] = 0;
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *v;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (!strcmp(key, "Channel")) {
                        r = sd_bus_message_read(m, "v", "s", &v);
                        if (r < 0)
                                return r;
                        snprintf(buf, size, "%s", v);
                } else if ((r = sd_bus_message_skip(m, "v")) < 0)
                        return r;
                if ((r = sd_bus_message_exit_container(m)) < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int on_connected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        (void) ret_error;
        Watch *w = userdata;
        long long at = realtime_ns();
        const char *id;
        char channel[32];

        if (sd_bus_message_read(m, "s", &id) < 0 || read_info_channel(m, channel, sizeof channel) < 0)
                return 0;
        if (strcmp(w->channel, "any") && strcmp(w->channel, channel))
                return 0;
        for (int i = 0; i < w->n; i++)
                if (!strcmp(w->ids[i], id))
                        return 0;
        if (w->n >= MAX_NODES)
                return 0;
        w->ids[w->n] = strdup(id);
        w->at[w->n] = at;
        w->n++;
        return 0;
}

/* How many nodes ListNodes lists on the channel. */
static int count_listed(sd_bus *bus, const char *want) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char channel[32];
        int r, count = 0;

        r = sd_bus_call_method(bus, NL_DEST, NL_PATH, NL_IFACE, "ListNodes", &e, &reply, NULL);
        if (r < 0) {
                sd_bus_error_free(&e);
                return r;
        }
        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        while (r >= 0 && !sd_bus_message_at_end(reply, false)) {
                r = read_info_channel(reply, channel, sizeof channel);
                if (r >= 0 && (!strcmp(want, "any") || !strcmp(want, channel)))
                        count++;
        }
        sd_bus_message_unref(reply);
        return r < 0 ? r : count;
}

static int mode_wait_nodes(int argc, char **argv) {
        static Watch w;
        sd_bus *bus = NULL;
        int r;

        if (argc != 4)
                return 2;
        int want = atoi(argv[1]);
        double timeout = atof(argv[3]);
        if (want <= 0 || want > MAX_NODES || timeout <= 0)
                return 2;
        w.channel = argv[2];
        if (open_bus(argv[0], &bus) < 0)
                return 1;
        r = sd_bus_match_signal(bus, NULL, NL_DEST, NL_PATH, NL_IFACE, "NodeConnected", on_connected, &w);
        if (r < 0)
                return die_bus("AddMatch", r, NULL);
        printf("ready\n");
        fflush(stdout);

        double until = now_us() + timeout * 1e6;
        for (;;) {
                while ((r = sd_bus_process(bus, NULL)) > 0)
                        ;
                if (r < 0)
                        return die_bus("process", r, NULL);
                if (w.n >= want) {
                        int listed = count_listed(bus, w.channel);
                        if (listed >= want)
                                break;
                        /* A node connected and went again: wait for it to come back. */
                }
                double left = until - now_us();
                if (left <= 0) {
                        fprintf(stderr, "nodelink-load: wait-nodes: %d of %d nodes after %.0f s (ListNodes: %d)\n", w.n,
                                want, timeout, count_listed(bus, w.channel));
                        for (int i = 0; i < w.n; i++)
                                printf("%lld %s\n", w.at[i], w.ids[i]);
                        return 1;
                }
                r = sd_bus_wait(bus, (uint64_t) (left < 50000 ? left : 50000));
                if (r < 0 && r != -EINTR)
                        return die_bus("wait", r, NULL);
        }
        for (int i = 0; i < w.n; i++)
                printf("%lld %s\n", w.at[i], w.ids[i]);
        sd_bus_flush_close_unref(bus);
        return 0;
}

int main(int argc, char **argv) {
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: see the comment at the top of nodelink-load.c\n");
                return 2;
        }
        if (!strcmp(argv[1], "calls"))
                r = mode_calls(argc - 2, argv + 2);
        else if (!strcmp(argv[1], "repeat"))
                r = mode_repeat(argc - 2, argv + 2);
        else if (!strcmp(argv[1], "wait-nodes"))
                r = mode_wait_nodes(argc - 2, argv + 2);
        else
                r = 2;
        if (r == 2)
                fprintf(stderr, "nodelink-load: bad usage of '%s', see the comment at the top of nodelink-load.c\n",
                        argv[1]);
        return r;
}
