/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nodelink-test-peer: a node link client for the integration tests, built on aos-nodelinkd's
 * own link code, that can misbehave on purpose.
 *
 *   nodelink-test-peer --connect HOST:PORT [--channel protected|bootstrap] [--cert PEM --key PEM]
 *                      [--ca PEM] --id ID [--state STATE]
 *       TLS, version handshake, Register. Prints "registered" (exit 0), "Error NAME: MSG"
 *       (exit 1) or "closed: REASON" (exit 3). --hold SEC keeps a registered link open.
 *   nodelink-test-peer --connect HOST:PORT --garbage
 *       sends bytes that are not TLS; exit 0 when the server closes within 5 s.
 *   nodelink-test-peer --connect HOST:PORT --idle N --hold SEC
 *       opens N TCP connections, sends nothing, keeps them SEC seconds. */

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

static const char *arg_connect, *arg_cert, *arg_key, *arg_ca, *arg_id, *arg_state = "unprovisioned";
static LinkChannel arg_channel = LINK_CHANNEL_PROTECTED;
static bool arg_garbage;
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
        if (arg_hold > 0)
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

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "connect", required_argument, NULL, 'C' }, { "channel", required_argument, NULL, 'h' },
                { "cert", required_argument, NULL, 'c' },    { "key", required_argument, NULL, 'k' },
                { "ca", required_argument, NULL, 'a' },      { "id", required_argument, NULL, 'i' },
                { "state", required_argument, NULL, 's' },   { "garbage", no_argument, NULL, 'g' },
                { "idle", required_argument, NULL, 'I' },    { "hold", required_argument, NULL, 'H' },
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
                default: return 2;
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
