/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nodelink-test-peer: a node link client for the integration tests, built on aos-nodelinkd's
 * own link code, that can misbehave on purpose.
 *
 *   nodelink-test-peer --connect HOST:PORT [--channel protected|bootstrap] [--cert PEM --key PEM]
 *                      [--ca PEM] --id ID [--state STATE]
 *       TLS, version handshake, Register. Prints "registered" (exit 0), "Error NAME: MSG"
 *       (exit 1) or "closed: REASON" (exit 3). --hold SEC keeps a registered link open.
 *       --probe: then calls on the main node what a node may not call (main_probes[]), a line
 *       each: "MAIN CALL IFACE.MEMBER PATH -> OK" or "... -> Error NAME: MESSAGE".
 *   nodelink-test-peer --connect HOST:PORT --garbage
 *       sends bytes that are not TLS; exit 0 when the server closes within 5 s.
 *   nodelink-test-peer --connect HOST:PORT --idle N --hold SEC
 *       opens N TCP connections, sends nothing, keeps them SEC seconds.
 *
 * A main node (server) for the tests of a secondary, built on the same link code:
 *
 *   nodelink-test-peer --listen HOST:PORT --cert PEM --key PEM [--ca PEM]
 *                      [--channel protected|bootstrap] [--probe]
 *       listens, prints "listening", accepts one connection (20 s at most) and runs it through
 *       link_new_server() as aos-nodelinkd does (the client chain is verified against --ca on
 *       protected only). Answers the secondary's Register like the real main node (an empty
 *       return, whatever the identity) and prints "registered ID STATE CHANNEL FINGERPRINT".
 *       With --probe it first sends one call before it answers Register (the secondary must not
 *       relay anything before its registration is accepted) and prints
 *           EARLY CALL IFACE.MEMBER PATH -> OK ... | Error NAME: MESSAGE
 *       then answers Register and sends, one after the other, calls the secondary must relay or
 *       refuse (probes[] below) and prints one line for each:
 *           CALL IFACE.MEMBER PATH -> OK SIGNATURE[: STRINGS]
 *           CALL IFACE.MEMBER PATH -> Error NAME: MESSAGE
 *       (IFACE "-": a call without an interface). Closes the link and exits 0 when done, 3
 *       when the link closed first ("closed: REASON"), 2 on bad arguments or setup. */

#include <errno.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "credentials.h"
#include "link.h"
#include "macro.h"
#include "x509.h"

static const char *arg_connect, *arg_listen, *arg_cert, *arg_key, *arg_ca, *arg_id, *arg_state = "unprovisioned";
static LinkChannel arg_channel = LINK_CHANNEL_PROTECTED;
static bool arg_garbage, arg_probe;
static unsigned arg_idle, arg_hold;
static int exit_code = 2;

static int tcp_connect(const char *address) {
        char *host, *port;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
        int fd = -1;

        if (link_parse_address(address, &host, &port) < 0)
                return -1;
        if (getaddrinfo(host, port, &hints, &ai) == 0) {
                fd = socket(ai->ai_family, SOCK_STREAM, 0);
                if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                        close(fd);
                        fd = -1;
                }
                freeaddrinfo(ai);
        }
        free(host);
        free(port);
        return fd;
}

static int on_hold_done(sd_event_source *s, uint64_t usec, void *userdata) {
        sd_event_exit(sd_event_source_get_event(s), 0);
        return 0;
}

/* --connect --probe: after the registration, what the main node must refuse a node. */
static const struct {
        const char *path, *interface, *member;
} main_probes[] = {
        { "/", "org.freedesktop.DBus.Peer", "GetMachineId" },
        { "/org/aosedge/NodeLink1", "org.freedesktop.DBus.Introspectable", "Introspect" },
        { "/org/aosedge/NodeLink1", "org.aosedge.NodeLink1.Peer", "Forward" },
        { "/", "org.freedesktop.DBus.Peer", "Ping" },
};
static size_t main_probe_next;

static int main_probe_send(Link *l);

static int on_main_probe_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Link *l = userdata;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                printf("Error %s: %s\n", e->name, strna(e->message));
        } else
                printf("OK\n");
        fflush(stdout);
        main_probe_next++;
        (void) main_probe_send(l);
        return 1;
}

static int main_probe_send(Link *l) {
        int r;

        if (main_probe_next >= ELEMENTSOF(main_probes)) {
                sd_event_exit(l->event, 0);
                return 0;
        }
        printf("MAIN CALL %s.%s %s -> ", main_probes[main_probe_next].interface, main_probes[main_probe_next].member,
               main_probes[main_probe_next].path);
        r = sd_bus_call_method_async(l->bus, NULL, NULL, main_probes[main_probe_next].path,
                                     main_probes[main_probe_next].interface, main_probes[main_probe_next].member,
                                     on_main_probe_reply, l, NULL);
        if (r < 0) {
                printf("cannot send: %s\n", strerror(-r));
                exit_code = 1;
                sd_event_exit(l->event, 0);
        }
        return r;
}

static int on_register_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Link *l = userdata;
        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                printf("Error %s: %s\n", e->name, strna(e->message));
                exit_code = 1;
                sd_event_exit(l->event, 0);
                return 1;
        }
        printf("registered\n");
        fflush(stdout);
        exit_code = 0;
        link_set_authenticated(l);
        if (arg_probe)
                (void) main_probe_send(l);
        else if (arg_hold > 0)
                (void) sd_event_add_time_relative(l->event, NULL, CLOCK_MONOTONIC, arg_hold * 1000000ULL, 0,
                                                  on_hold_done, NULL);
        else
                sd_event_exit(l->event, 0);
        return 1;
}

static void on_up(Link *l, void *userdata) {
        sd_bus_call_method_async(l->bus, NULL, NULL, "/org/aosedge/NodeLink1", "org.aosedge.NodeLink1.Peer", "Register",
                                 on_register_reply, l, "a{sv}", 2, "Id", "s", arg_id, "State", "s", arg_state);
}

static void on_closed(Link *l, const char *reason, void *userdata) {
        if (exit_code == 2) {
                printf("closed: %s\n", reason);
                exit_code = 3;
        }
        sd_event_exit(l->event, 0);
}

/* --- server mode: a main node that sends the secondary what it must not relay ---------------- */

#define CERTS_PATH "/org/aosedge/Certs1"
#define CERTS_IFACE "org.aosedge.Certs1.Manager"
#define PROV_PATH "/org/aosedge/Provisioning1"
#define PROV_IFACE "org.aosedge.Provisioning1.Manager"

typedef struct Probe {
        const char *destination; /* NULL: none (a peer connection has no bus names) */
        const char *path;
        const char *interface; /* NULL: a call without an interface */
        const char *member;
        const char *signature; /* of args: 's' takes the next string, 'u' 0, 'b' and 'v' true */
        const char *args[3];
} Probe;

/* The order matters: the control read first and last (the link still relays after the
 * refusals), the forbidden write before the reads that would show it. */
static const Probe probes[] = {
        /* allowlisted: relayed to the local aos-certd */
        { NULL, CERTS_PATH, CERTS_IFACE, "GetCertTypes", "", {} },
        { NULL, CERTS_PATH, CERTS_IFACE, "ListCerts", "s", { "iam" } },
        /* Certs1 writes: not on the allowlist */
        { NULL, CERTS_PATH, CERTS_IFACE, "SetOwner", "ss", { "iam", "hostile-password" } },
        { NULL, CERTS_PATH, CERTS_IFACE, "CreateKey", "sss", { "iam", "CN=hostile", "hostile-password" } },
        { NULL, CERTS_PATH, CERTS_IFACE, "Clear", "s", { "iam" } },
        { NULL, CERTS_PATH "/module/iam", "org.aosedge.Certs1.Module", "Clear", "", {} },
        /* the bus driver */
        { "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames", "", {} },
        { "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName", "su",
          { "org.aosedge.Certs1" } },
        /* allowlisted members on another object path */
        { NULL, PROV_PATH, CERTS_IFACE, "GetCertTypes", "", {} },
        { NULL, CERTS_PATH "/module/iam", CERTS_IFACE, "GetCertTypes", "", {} },
        { NULL, "/", CERTS_IFACE, "ListCerts", "s", { "iam" } },
        { NULL, CERTS_PATH, PROV_IFACE, "GetCertTypes", "s", { "node" } },
        /* a made-up interface, and no interface at all */
        { NULL, CERTS_PATH, "org.example.Hostile1", "Run", "s", { "rm -rf /" } },
        { NULL, CERTS_PATH, NULL, "GetCertTypes", "", {} },
        /* the standard interfaces of the local objects */
        { NULL, CERTS_PATH "/module/iam", "org.freedesktop.DBus.Properties", "Set", "ssv",
          { "org.aosedge.Certs1.Module", "Owned" } },
        { NULL, CERTS_PATH, "org.freedesktop.DBus.Properties", "GetAll", "s", { CERTS_IFACE } },
        { NULL, "/", "org.freedesktop.DBus.Introspectable", "Introspect", "", {} },
        { NULL, CERTS_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", "", {} },
        /* allowlisted, and there is no aos-provisiond: the local bus answers */
        { NULL, PROV_PATH, PROV_IFACE, "GetCertTypes", "s", { "node" } },
        /* answered by the secondary's own sd-bus, never relayed; its machine id stays there */
        { NULL, "/", "org.freedesktop.DBus.Peer", "Ping", "", {} },
        { NULL, "/", "org.freedesktop.DBus.Peer", "GetMachineId", "", {} },
        /* the control again: the link still serves */
        { NULL, CERTS_PATH, CERTS_IFACE, "GetCertTypes", "", {} },
};

static size_t probe_next;

static int probe_append_args(sd_bus_message *m, const Probe *p) {
        size_t a = 0;
        int r = 0;

        for (const char *c = p->signature; *c && r >= 0; c++)
                switch (*c) {
                case 's':
                        r = a < ELEMENTSOF(p->args) && p->args[a] ? sd_bus_message_append(m, "s", p->args[a++]) : -EINVAL;
                        break;
                case 'u':
                        r = sd_bus_message_append(m, "u", (uint32_t) 0);
                        break;
                case 'b':
                        r = sd_bus_message_append(m, "b", 1);
                        break;
                case 'v':
                        r = sd_bus_message_append(m, "v", "b", 1);
                        break;
                default:
                        r = -EINVAL;
                }
        return r;
}

/* "OK as: iam sm" for the string replies, "OK SIGNATURE" otherwise. */
static void print_reply(sd_bus_message *reply) {
        const char *sig = sd_bus_message_get_signature(reply, true), *v;

        printf("OK %s", isempty(sig) ? "-" : sig);
        if (streq_ptr(sig, "s") && sd_bus_message_read(reply, "s", &v) > 0)
                printf(": %s", v);
        else if (streq_ptr(sig, "as") && sd_bus_message_enter_container(reply, 'a', "s") > 0) {
                printf(":");
                while (sd_bus_message_read(reply, "s", &v) > 0)
                        printf(" %s", v);
                (void) sd_bus_message_exit_container(reply);
        }
        printf("\n");
}

static int probe_send(Link *l);

static int on_probe_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Link *l = userdata;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                printf("Error %s: %s\n", e->name, strna(e->message));
        } else
                print_reply(reply);
        fflush(stdout);
        probe_next++;
        (void) probe_send(l);
        return 1;
}

static int probe_send(Link *l) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        const Probe *p;
        int r;

        if (probe_next >= ELEMENTSOF(probes)) {
                exit_code = 0;
                link_close(l, "probe done");
                return 0;
        }
        p = &probes[probe_next];
        printf("CALL %s.%s %s -> ", p->interface ?: "-", p->member, p->path);
        r = sd_bus_message_new_method_call(l->bus, &call, p->destination, p->path, p->interface, p->member);
        if (r >= 0)
                r = probe_append_args(call, p);
        if (r >= 0)
                r = sd_bus_call_async(l->bus, NULL, call, on_probe_reply, l, 10 * USEC_PER_SEC);
        if (r < 0) {
                printf("cannot send: %s\n", strerror(-r));
                fflush(stdout);
                exit_code = 1;
                link_close(l, "cannot send a probe");
                return r;
        }
        return 0;
}

static int read_string_variant(sd_bus_message *m, char **dst) {
        const char *v;
        int r = sd_bus_message_read(m, "v", "s", &v);
        if (r < 0)
                return r;
        free(*dst);
        *dst = strdup(v);
        return *dst ? 0 : -ENOMEM;
}

/* As server.c's method_register answers a registration it accepts: an empty return. */
static Link *server_link; /* --listen: the one connection */

static int accept_registration(sd_bus_message *message) {
        Link *l = server_link;
        int r;

        r = sd_bus_reply_method_return(message, NULL);
        if (r < 0)
                return r;
        link_set_authenticated(l);
        if (!arg_probe) {
                exit_code = 0;
                link_close(l, "registered");
                return 0;
        }
        return probe_send(l);
}

static int on_early_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *register_call = userdata;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                printf("Error %s: %s\n", e->name, strna(e->message));
        } else
                print_reply(reply);
        fflush(stdout);
        (void) accept_registration(register_call);
        return 1;
}

static int method_register(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Link *l = userdata;
        _cleanup_free_ char *id = NULL, *state = NULL;
        int r;

        r = sd_bus_message_enter_container(message, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(message, 'e', "sv")) > 0) {
                const char *key;
                r = sd_bus_message_read(message, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "Id"))
                        r = read_string_variant(message, &id);
                else if (streq(key, "State"))
                        r = read_string_variant(message, &state);
                else
                        r = sd_bus_message_skip(message, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        printf("registered %s %s %s %s\n", strna(id), strna(state), link_channel_to_string(l->channel),
               strna(l->peer_fingerprint));
        fflush(stdout);
        if (arg_probe) {
                /* A call before the registration is accepted: the secondary must not relay it.
                 * The answer to Register waits for it. */
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
                r = sd_bus_message_new_method_call(l->bus, &call, NULL, CERTS_PATH, CERTS_IFACE, "GetCertTypes");
                if (r >= 0)
                        r = sd_bus_call_async(l->bus, NULL, call, on_early_reply, sd_bus_message_ref(message),
                                              10 * USEC_PER_SEC);
                if (r < 0)
                        return r;
                printf("EARLY CALL %s.GetCertTypes %s -> ", CERTS_IFACE, CERTS_PATH);
                return 1;
        }
        r = accept_registration(message);
        return r < 0 ? r : 1;
}

static int method_set_state(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        const char *state;
        int r;

        r = sd_bus_message_read(message, "s", &state);
        if (r < 0)
                return r;
        printf("state %s\n", state);
        fflush(stdout);
        return sd_bus_reply_method_return(message, NULL);
}

static const sd_bus_vtable peer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Register", SD_BUS_ARGS("a{sv}", info), SD_BUS_NO_RESULT, method_register, 0),
        SD_BUS_METHOD_WITH_ARGS("SetState", SD_BUS_ARGS("s", state), SD_BUS_NO_RESULT, method_set_state, 0),
        SD_BUS_VTABLE_END
};

static void on_server_up(Link *l, void *userdata) {
        int r = sd_bus_add_object_vtable(l->bus, NULL, "/org/aosedge/NodeLink1", "org.aosedge.NodeLink1.Peer",
                                         peer_vtable, l);
        if (r < 0) {
                fprintf(stderr, "cannot export the peer object: %s\n", strerror(-r));
                link_close(l, "internal error");
        }
}

/* Binds and listens on address, waits up to 20 s for one connection; returns it. */
static int tcp_accept_one(const char *address) {
        _cleanup_free_ char *host = NULL, *port = NULL;
        _cleanup_close_ int fd = -1;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST }, *ai = NULL;
        int one = 1, r, c;

        r = link_parse_address(address, &host, &port);
        if (r < 0)
                return r;
        if (getaddrinfo(host, port, &hints, &ai) != 0)
                return -EADDRNOTAVAIL;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                freeaddrinfo(ai);
                return -errno;
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        r = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 8) < 0 ? -errno : 0;
        freeaddrinfo(ai);
        if (r < 0)
                return r;
        printf("listening %s\n", address);
        fflush(stdout);

        struct pollfd p = { .fd = fd, .events = POLLIN };
        r = poll(&p, 1, 20000);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        return c < 0 ? -errno : c;
}

static int run_server(void) {
        _cleanup_(credentials_unrefp) Credentials *creds = NULL;
        _cleanup_(x509_chain_done) X509Chain roots = {};
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(link_freep) Link *l = NULL;
        _cleanup_free_ char *why = NULL, *cert_url = NULL, *key_url = NULL;
        int r, fd;

        if (!arg_cert || !arg_key || arg_channel == _LINK_CHANNEL_INVALID)
                return 2;
        if (asprintf(&cert_url, "file:%s", arg_cert) < 0 || asprintf(&key_url, "file:%s", arg_key) < 0)
                return 2;
        r = credentials_new_from_urls(cert_url, key_url, &creds);
        if (r < 0) {
                fprintf(stderr, "cannot load %s / %s: %s\n", arg_cert, arg_key, strerror(-r));
                return 2;
        }
        if (arg_ca && x509_chain_load_file(arg_ca, &roots, &why) < 0) {
                fprintf(stderr, "cannot load %s: %s\n", arg_ca, strna(why));
                return 2;
        }
        if (arg_channel == LINK_CHANNEL_PROTECTED && !arg_ca) {
                fprintf(stderr, "the protected channel needs --ca\n");
                return 2;
        }
        r = sd_event_new(&e);
        if (r < 0)
                return 2;

        fd = tcp_accept_one(arg_listen);
        if (fd < 0) {
                printf("closed: no connection: %s\n", strerror(-fd));
                return 3;
        }
        /* As server.c: the bootstrap client's certificate is self-signed, never verified. */
        r = link_new_server(e, fd, arg_channel, creds, arg_channel == LINK_CHANNEL_PROTECTED ? &roots : NULL,
                            on_server_up, on_closed, NULL, &l);
        if (r < 0) {
                fprintf(stderr, "cannot set up the link: %s\n", strerror(-r));
                return 2;
        }
        server_link = l;
        r = sd_event_loop(e);
        if (r < 0)
                return 2;
        return exit_code;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "connect", required_argument, NULL, 'C' }, { "channel", required_argument, NULL, 'h' },
                { "cert", required_argument, NULL, 'c' },    { "key", required_argument, NULL, 'k' },
                { "ca", required_argument, NULL, 'a' },      { "id", required_argument, NULL, 'i' },
                { "state", required_argument, NULL, 's' },   { "garbage", no_argument, NULL, 'g' },
                { "idle", required_argument, NULL, 'I' },    { "hold", required_argument, NULL, 'H' },
                { "listen", required_argument, NULL, 'L' },  { "probe", no_argument, NULL, 'P' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'C': arg_connect = optarg; break;
                case 'h': arg_channel = link_channel_from_string(optarg); break;
                case 'c': arg_cert = optarg; break;
                case 'k': arg_key = optarg; break;
                case 'a': arg_ca = optarg; break;
                case 'i': arg_id = optarg; break;
                case 's': arg_state = optarg; break;
                case 'g': arg_garbage = true; break;
                case 'I': arg_idle = (unsigned) atoi(optarg); break;
                case 'H': arg_hold = (unsigned) atoi(optarg); break;
                case 'L': arg_listen = optarg; break;
                case 'P': arg_probe = true; break;
                default: return 2;
                }
        if (arg_listen) {
                int r;
                gnutls_global_init();
                r = run_server();
                gnutls_global_deinit();
                return r;
        }
        if (!arg_connect)
                return 2;

        if (arg_garbage) {
                int fd = tcp_connect(arg_connect);
                char junk[4096], buf[256];
                if (fd < 0)
                        return 2;
                memset(junk, 'G', sizeof junk);
                (void) write(fd, "GET / HTTP/1.0\r\n\r\n", 18);
                (void) write(fd, junk, sizeof junk);
                struct pollfd p = { .fd = fd, .events = POLLIN };
                for (;;) {
                        if (poll(&p, 1, 5000) <= 0) {
                                printf("still open after 5 s\n");
                                return 1;
                        }
                        ssize_t n = read(fd, buf, sizeof buf);
                        if (n <= 0) {
                                printf("closed\n");
                                return 0;
                        }
                }
        }
        if (arg_idle > 0) {
                unsigned ok = 0;
                for (unsigned i = 0; i < arg_idle; i++)
                        if (tcp_connect(arg_connect) >= 0) /* kept open until we exit */
                                ok++;
                printf("opened %u\n", ok);
                fflush(stdout);
                sleep(arg_hold);
                return 0;
        }

        Credentials *creds = NULL;
        X509Chain roots = {};
        sd_event *e = NULL;
        Link *l = NULL;
        char *why = NULL;

        gnutls_global_init();
        if (arg_cert && arg_key) {
                char cert_url[4096], key_url[4096];
                snprintf(cert_url, sizeof cert_url, "file:%s", arg_cert);
                snprintf(key_url, sizeof key_url, "file:%s", arg_key);
                if (credentials_new_from_urls(cert_url, key_url, &creds) < 0) {
                        fprintf(stderr, "cannot load %s / %s\n", arg_cert, arg_key);
                        return 2;
                }
        } else {
                creds = calloc(1, sizeof(Credentials));
                creds->n_ref = 1;
                gnutls_certificate_allocate_credentials(&creds->cred);
        }
        if (arg_ca && x509_chain_load_file(arg_ca, &roots, &why) < 0) {
                fprintf(stderr, "cannot load %s: %s\n", arg_ca, strna(why));
                return 2;
        }
        sd_event_default(&e);
        if (link_new_client(e, arg_connect, arg_channel, creds, arg_ca ? &roots : NULL, on_up, on_closed, NULL, &l) < 0)
                return 2;
        sd_event_loop(e);
        link_free(l);
        credentials_unref(creds);
        x509_chain_done(&roots);
        sd_event_unref(e);
        free(why);
        return exit_code;
}
