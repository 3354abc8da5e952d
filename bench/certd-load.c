/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* certd-load: the sd-bus client side of bench/certd-bench.sh. Sequential calls to aos-certd (and
 * to the baselines on the same bus), one latency per line, in microseconds. Not part of the
 * build: the bench script compiles it into its scratch directory.
 *
 *   certd-load echo-server NAME
 *       Owns NAME and serves org.aosedge.Bench.Echo(s) -> s at /org/aosedge/Bench, one sd-event
 *       loop, until SIGTERM: a server with the shape of aos-certd (client -> bus -> server ->
 *       bus -> client) that does no work, the floor for a two-hop method call.
 *   certd-load read OUTDIR ROUNDS WARMUP N TYPE [ECHO_NAME]
 *       ROUNDS rounds; in each, for every probe (getid, echo if ECHO_NAME, getcerttypes,
 *       getcert, listcerts) WARMUP calls not recorded, then N recorded calls appended to
 *       OUTDIR/PROBE.us. Interleaving the probes round by round keeps the baseline and the
 *       daemon under the same conditions (other load on the machine, CPU frequency).
 *   certd-load repeat PROBE N TYPE [ECHO_NAME]
 *       N calls of one probe (getid, echo, getcerttypes, getcert, listcerts), latency per line
 *       on stdout: for looking at one call by hand (perf, strace) with the fixtures running.
 *   certd-load createkey TYPE SUBJECT PASSWORD N OUTPREFIX
 *       N sequential CreateKey calls; latency per line on stdout; CSR i in OUTPREFIX<i>.csr.
 *   certd-load apply TYPE FILE...
 *       ApplyCert with each file's contents, sequentially; latency per line on stdout.
 *   certd-load flood TYPE SUBJECT PASSWORD NQUEUED INTERVAL_US NIDLE OUT_IDLE OUT_BUSY
 *       The bus loop while the worker generates keys. NQUEUED CreateKey calls sent at once on
 *       one connection and, on a second connection, GetCertTypes probes, one every INTERVAL_US,
 *       for as long as any CreateKey is unanswered (OUT_BUSY); NIDLE probes at the same pace
 *       with the daemon idle, half before and half after (OUT_IDLE). Prints "MS FAILED": the
 *       time until the last CreateKey was answered and how many failed.
 *
 * Latencies are CLOCK_MONOTONIC around sd_bus_call() (message built, sent, reply received and
 * parsed by sd-bus); the reply's contents are not read. Exit status 1 on any D-Bus error (the
 * error is printed), 2 on a usage error. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#define CERTS_DEST "org.aosedge.Certs1"
#define CERTS_PATH "/org/aosedge/Certs1"
#define CERTS_IFACE "org.aosedge.Certs1.Manager"
#define ECHO_PATH "/org/aosedge/Bench"
#define ECHO_IFACE "org.aosedge.Bench"
#define LONG_TIMEOUT_USEC (300ULL * 1000000ULL)

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int die_bus(const char *what, int r, const sd_bus_error *e) {
        if (e && sd_bus_error_is_set(e))
                fprintf(stderr, "certd-load: %s: Error %s: %s\n", what, e->name, e->message);
        else
                fprintf(stderr, "certd-load: %s: %s\n", what, strerror(-r));
        return 1;
}

static int open_bus(sd_bus **ret) {
        int r = sd_bus_open_system(ret);
        if (r < 0) {
                fprintf(stderr, "certd-load: cannot connect to the system bus ($DBUS_SYSTEM_BUS_ADDRESS): %s\n",
                        strerror(-r));
                return r;
        }
        return 0;
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t cap = 8192, n = 0;
        char *buf = malloc(cap);
        while (buf) {
                size_t k = fread(buf + n, 1, cap - n - 1, f);
                n += k;
                if (k == 0)
                        break;
                if (n + 1 == cap) {
                        char *nb = realloc(buf, cap * 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = nb;
                        cap *= 2;
                }
        }
        fclose(f);
        if (buf)
                buf[n] = 0;
        return buf;
}

/* ---- one call of each kind ---- */

typedef enum Probe { P_GETID, P_ECHO, P_GETCERTTYPES, P_GETCERT, P_LISTCERTS, _P_MAX } Probe;
static const char *const probe_name[_P_MAX] = { "getid", "echo", "getcerttypes", "getcert", "listcerts" };

typedef struct Ctx {
        sd_bus *bus;
        const char *type;
        const char *echo_name;
} Ctx;

static int call_probe(Ctx *c, Probe p, sd_bus_error *e) {
        sd_bus_message *m = NULL, *reply = NULL;
        int r;

        switch (p) {
        case P_GETID:
                r = sd_bus_message_new_method_call(c->bus, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                   "org.freedesktop.DBus", "GetId");
                break;
        case P_ECHO:
                r = sd_bus_message_new_method_call(c->bus, &m, c->echo_name, ECHO_PATH, ECHO_IFACE, "Echo");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "ping");
                break;
        case P_GETCERTTYPES:
                r = sd_bus_message_new_method_call(c->bus, &m, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "GetCertTypes");
                break;
        case P_GETCERT:
                r = sd_bus_message_new_method_call(c->bus, &m, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "GetCert");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", c->type);
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', NULL, 0);
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "");
                break;
        case P_LISTCERTS:
                r = sd_bus_message_new_method_call(c->bus, &m, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "ListCerts");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", c->type);
                break;
        default:
                r = -EINVAL;
        }
        if (r >= 0)
                r = sd_bus_call(c->bus, m, 0, e, &reply);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return r;
}

/* ---- modes ---- */

static int on_echo(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        const char *s;
        int r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", s);
}

static const sd_bus_vtable echo_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Echo", "s", "s", on_echo, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int mode_echo_server(int argc, char **argv) {
        sd_event *ev = NULL;
        sd_bus *bus = NULL;
        sigset_t mask;
        int r;

        if (argc != 1)
                return 2;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        if ((r = sd_event_default(&ev)) < 0 || (r = open_bus(&bus)) < 0)
                return 1;
        if ((r = sd_event_add_signal(ev, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(ev, NULL, SIGINT, NULL, NULL)) < 0 ||
            (r = sd_bus_attach_event(bus, ev, SD_EVENT_PRIORITY_NORMAL)) < 0 ||
            (r = sd_bus_add_object_vtable(bus, NULL, ECHO_PATH, ECHO_IFACE, echo_vtable, NULL)) < 0 ||
            (r = sd_bus_request_name(bus, argv[0], 0)) < 0)
                return die_bus("echo server setup", r, NULL);
        r = sd_event_loop(ev);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(ev);
        return r < 0 ? 1 : 0;
}

static int mode_read(int argc, char **argv) {
        if (argc < 5 || argc > 6)
                return 2;
        const char *outdir = argv[0];
        int rounds = atoi(argv[1]), warmup = atoi(argv[2]), n = atoi(argv[3]);
        Ctx c = { .type = argv[4], .echo_name = argc == 6 ? argv[5] : NULL };
        FILE *out[_P_MAX] = {};
        int r;

        if (rounds <= 0 || warmup < 0 || n <= 0)
                return 2;
        if (open_bus(&c.bus) < 0)
                return 1;
        for (int p = 0; p < _P_MAX; p++) {
                char path[4096];
                if (p == P_ECHO && !c.echo_name)
                        continue;
                snprintf(path, sizeof path, "%s/%s.us", outdir, probe_name[p]);
                out[p] = fopen(path, "ae");
                if (!out[p]) {
                        perror(path);
                        return 1;
                }
        }
        for (int k = 0; k < rounds; k++)
                for (int p = 0; p < _P_MAX; p++) {
                        if (!out[p])
                                continue;
                        for (int i = 0; i < warmup + n; i++) {
                                sd_bus_error e = SD_BUS_ERROR_NULL;
                                double t0 = now_us();
                                r = call_probe(&c, (Probe) p, &e);
                                double t1 = now_us();
                                if (r < 0) {
                                        die_bus(probe_name[p], r, &e);
                                        sd_bus_error_free(&e);
                                        return 1;
                                }
                                if (i >= warmup)
                                        fprintf(out[p], "%.2f\n", t1 - t0);
                        }
                }
        for (int p = 0; p < _P_MAX; p++)
                if (out[p])
                        fclose(out[p]);
        sd_bus_flush_close_unref(c.bus);
        return 0;
}

static int mode_repeat(int argc, char **argv) {
        if (argc < 3 || argc > 4)
                return 2;
        int n = atoi(argv[1]), p;
        Ctx c = { .type = argv[2], .echo_name = argc == 4 ? argv[3] : NULL };

        for (p = 0; p < _P_MAX; p++)
                if (strcmp(argv[0], probe_name[p]) == 0)
                        break;
        if (p == _P_MAX || n <= 0 || (p == P_ECHO && !c.echo_name))
                return 2;
        if (open_bus(&c.bus) < 0)
                return 1;
        for (int i = 0; i < n; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                double t0 = now_us();
                int r = call_probe(&c, (Probe) p, &e);
                double t1 = now_us();
                if (r < 0)
                        return die_bus(probe_name[p], r, &e);
                printf("%.2f\n", t1 - t0);
        }
        sd_bus_flush_close_unref(c.bus);
        return 0;
}

static int mode_createkey(int argc, char **argv) {
        if (argc != 5)
                return 2;
        const char *type = argv[0], *subject = argv[1], *password = argv[2], *prefix = argv[4];
        int n = atoi(argv[3]);
        sd_bus *bus = NULL;

        if (n <= 0)
                return 2;
        if (open_bus(&bus) < 0)
                return 1;
        for (int i = 1; i <= n; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *m = NULL, *reply = NULL;
                const char *csr;
                int r = sd_bus_message_new_method_call(bus, &m, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "CreateKey");
                if (r >= 0)
                        r = sd_bus_message_append(m, "sss", type, subject, password);
                if (r < 0)
                        return die_bus("CreateKey message", r, NULL);
                double t0 = now_us();
                r = sd_bus_call(bus, m, LONG_TIMEOUT_USEC, &e, &reply);
                double t1 = now_us();
                sd_bus_message_unref(m);
                if (r < 0)
                        return die_bus("CreateKey", r, &e);
                r = sd_bus_message_read(reply, "s", &csr);
                if (r < 0)
                        return die_bus("CreateKey reply", r, NULL);
                char path[4096];
                snprintf(path, sizeof path, "%s%d.csr", prefix, i);
                FILE *f = fopen(path, "we");
                if (!f || fputs(csr, f) < 0 || fclose(f) != 0) {
                        perror(path);
                        return 1;
                }
                sd_bus_message_unref(reply);
                printf("%.2f\n", t1 - t0);
        }
        sd_bus_flush_close_unref(bus);
        return 0;
}

static int mode_apply(int argc, char **argv) {
        if (argc < 2)
                return 2;
        const char *type = argv[0];
        sd_bus *bus = NULL;

        if (open_bus(&bus) < 0)
                return 1;
        for (int i = 1; i < argc; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *m = NULL, *reply = NULL;
                char *pem = read_file(argv[i]);
                if (!pem) {
                        perror(argv[i]);
                        return 1;
                }
                int r = sd_bus_message_new_method_call(bus, &m, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "ApplyCert");
                if (r >= 0)
                        r = sd_bus_message_append(m, "ss", type, pem);
                free(pem);
                if (r < 0)
                        return die_bus("ApplyCert message", r, NULL);
                double t0 = now_us();
                r = sd_bus_call(bus, m, LONG_TIMEOUT_USEC, &e, &reply);
                double t1 = now_us();
                sd_bus_message_unref(m);
                sd_bus_message_unref(reply);
                if (r < 0) {
                        fprintf(stderr, "certd-load: %s:\n", argv[i]);
                        return die_bus("ApplyCert", r, &e);
                }
                printf("%.2f\n", t1 - t0);
        }
        sd_bus_flush_close_unref(bus);
        return 0;
}

typedef struct Flood {
        int outstanding;
        int failed;
        double t_start, t_last;
} Flood;

static int on_createkey_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Flood *f = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        if (e) {
                fprintf(stderr, "certd-load: queued CreateKey: Error %s: %s\n", e->name, e->message);
                f->failed++;
        }
        f->outstanding--;
        f->t_last = now_us();
        return 1;
}

static int probe_series(Ctx *probe, sd_bus *flood_bus, Flood *f, int n, long interval_us, FILE *out) {
        /* n > 0: n probes; n == 0: until f->outstanding is 0. */
        int count = 0;
        for (;;) {
                if (flood_bus) {
                        int r;
                        while ((r = sd_bus_process(flood_bus, NULL)) > 0)
                                ;
                        if (r < 0)
                                return die_bus("processing the queued CreateKey replies", r, NULL);
                }
                if (n > 0 ? count >= n : f->outstanding <= 0)
                        break;
                sd_bus_error e = SD_BUS_ERROR_NULL;
                double t0 = now_us();
                int r = call_probe(probe, P_GETCERTTYPES, &e);
                double t1 = now_us();
                if (r < 0)
                        return die_bus("GetCertTypes", r, &e);
                fprintf(out, "%.2f\n", t1 - t0);
                count++;
                if (interval_us > 0)
                        usleep((useconds_t) interval_us);
        }
        return 0;
}

static int mode_flood(int argc, char **argv) {
        if (argc != 8)
                return 2;
        const char *type = argv[0], *subject = argv[1], *password = argv[2];
        int nqueued = atoi(argv[3]), nidle = atoi(argv[5]);
        long interval = atol(argv[4]);
        Ctx probe = { .type = type };
        sd_bus *flood_bus = NULL;
        Flood f = {};
        FILE *idle, *busy;
        int r;

        if (nqueued <= 0 || nidle <= 0 || interval < 0)
                return 2;
        if (open_bus(&probe.bus) < 0 || open_bus(&flood_bus) < 0)
                return 1;
        idle = fopen(argv[6], "we");
        busy = fopen(argv[7], "we");
        if (!idle || !busy) {
                perror("flood output");
                return 1;
        }

        r = probe_series(&probe, NULL, &f, nidle / 2, interval, idle);
        if (r)
                return r;

        f.t_start = now_us();
        for (int i = 0; i < nqueued; i++) {
                sd_bus_message *m = NULL;
                r = sd_bus_message_new_method_call(flood_bus, &m, CERTS_DEST, CERTS_PATH, CERTS_IFACE, "CreateKey");
                if (r >= 0)
                        r = sd_bus_message_append(m, "sss", type, subject, password);
                if (r >= 0)
                        r = sd_bus_call_async(flood_bus, NULL, m, on_createkey_reply, &f, LONG_TIMEOUT_USEC);
                sd_bus_message_unref(m);
                if (r < 0)
                        return die_bus("queueing CreateKey", r, NULL);
                f.outstanding++;
        }
        r = sd_bus_flush(flood_bus);
        if (r < 0)
                return die_bus("sending the queued CreateKey calls", r, NULL);

        r = probe_series(&probe, flood_bus, &f, 0, interval, busy);
        if (r)
                return r;
        r = probe_series(&probe, NULL, &f, nidle - nidle / 2, interval, idle);
        if (r)
                return r;
        fclose(idle);
        fclose(busy);
        fprintf(stderr, "flood: %d CreateKey answered in %.1f ms (%.1f ms each), %d failed\n", nqueued,
                (f.t_last - f.t_start) / 1e3, (f.t_last - f.t_start) / 1e3 / nqueued, f.failed);
        printf("%.1f %d\n", (f.t_last - f.t_start) / 1e3, f.failed);
        sd_bus_flush_close_unref(flood_bus);
        sd_bus_flush_close_unref(probe.bus);
        return f.failed ? 1 : 0;
}

int main(int argc, char **argv) {
        int r = 2;

        if (argc >= 2) {
                if (strcmp(argv[1], "echo-server") == 0)
                        r = mode_echo_server(argc - 2, argv + 2);
                else if (strcmp(argv[1], "read") == 0)
                        r = mode_read(argc - 2, argv + 2);
                else if (strcmp(argv[1], "repeat") == 0)
                        r = mode_repeat(argc - 2, argv + 2);
                else if (strcmp(argv[1], "createkey") == 0)
                        r = mode_createkey(argc - 2, argv + 2);
                else if (strcmp(argv[1], "apply") == 0)
                        r = mode_apply(argc - 2, argv + 2);
                else if (strcmp(argv[1], "flood") == 0)
                        r = mode_flood(argc - 2, argv + 2);
        }
        if (r == 2)
                fprintf(stderr, "usage: certd-load echo-server NAME | read OUTDIR ROUNDS WARMUP N TYPE [ECHO_NAME] |\n"
                                "       repeat getid|echo|getcerttypes|getcert|listcerts N TYPE [ECHO_NAME] |\n"
                                "       createkey TYPE SUBJECT PASSWORD N OUTPREFIX | apply TYPE FILE... |\n"
                                "       flood TYPE SUBJECT PASSWORD NQUEUED INTERVAL_US NIDLE OUT_IDLE OUT_BUSY\n");
        return r;
}
