/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tls-baseline: the plain gnutls side of bench/nodelink-bench.sh. Both ends of a TLS 1.3 link
 * with the node link's settings, and nothing else: no event loop, no D-Bus, no relay. The
 * client half is also what the benchmark points at aos-nodelinkd, so that a ratio compares two
 * servers measured with the same client. Not part of the build: the bench script compiles it
 * into its scratch directory.
 *
 *   tls-baseline server ADDR:PORT CERT KEY CA
 *       Listens on ADDR:PORT (a loopback address; port 0 picks one) and prints "PORT\n" once it
 *       listens. One connection at a time, blocking, until SIGTERM: TLS 1.3 handshake
 *       ("NORMAL:-VERS-ALL:+VERS-TLS1.3", a client certificate required, no CA names sent, no
 *       session tickets: like aos-nodelinkd), the client's chain verified against CA with the
 *       clientAuth purpose, the version exchange ("AOSNL 1\n" from the client, the same 8 bytes
 *       back), then every record echoed until the client closes. CERT is the chain (leaf
 *       first), KEY its private key (PEM), both as aos-nodelinkd on the main node uses them.
 *   tls-baseline handshake ADDR:PORT CERT KEY CA N WARMUP
 *       N + WARMUP sequential new connections: TCP connect, TLS 1.3 handshake with CERT/KEY as
 *       the client certificate, the server's chain verified against CA (serverAuth, no host
 *       name: like a secondary node), "AOSNL 1\n" sent and the 8-byte answer read, close_notify,
 *       close. One latency (µs, connect() to the answer read) per line for the last N; failed
 *       attempts are retried, not counted, and their number goes to stderr as "failed: K".
 *   tls-baseline parallel ADDR:PORT CERT KEY CA THREADS SECONDS
 *       THREADS threads doing what "handshake" does for SECONDS; prints "COUNT RATE_PER_S
 *       FAILED" (handshakes completed, per second of wall time, failed).
 *   tls-baseline rtt ADDR:PORT CERT KEY CA N WARMUP SIZE
 *       One connection (as above), then N + WARMUP round trips of a SIZE-byte record through
 *       the echo server; one latency (µs, send to the whole echo read) per line for the last N.
 *
 * Exit status 1 on an error (printed), 2 on a usage error. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define VERSION_MAGIC "AOSNL 1\n"
#define VERSION_SIZE 8

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int fail(const char *what, int gr) {
        fprintf(stderr, "tls-baseline: %s: %s\n", what, gr < 0 ? gnutls_strerror(gr) : strerror(errno));
        return 1;
}

static int parse_addr(const char *s, struct sockaddr_in *sa) {
        char host[64];
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t) (colon - s) >= sizeof host)
                return -1;
        memcpy(host, s, (size_t) (colon - s));
        host[colon - s] = 0;
        memset(sa, 0, sizeof *sa);
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t) atoi(colon + 1));
        return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static gnutls_certificate_credentials_t load_creds(const char *cert, const char *key, const char *ca) {
        gnutls_certificate_credentials_t c;
        int gr;
        if ((gr = gnutls_certificate_allocate_credentials(&c)) < 0) {
                fail("allocate credentials", gr);
                return NULL;
        }
        if ((gr = gnutls_certificate_set_x509_key_file(c, cert, key, GNUTLS_X509_FMT_PEM)) < 0) {
                fail(cert, gr);
                return NULL;
        }
        if ((gr = gnutls_certificate_set_x509_trust_file(c, ca, GNUTLS_X509_FMT_PEM)) < 0) {
                fail(ca, gr);
                return NULL;
        }
        return c;
}

static void set_sockopts(int fd) {
        int one = 1;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* The peer's chain against the trust list, for PURPOSE (a key purpose OID). */
static int verify_peer(gnutls_session_t s, const char *purpose) {
        gnutls_typed_vdata_st data = { .type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *) purpose };
        unsigned status = 0;
        int gr = gnutls_certificate_verify_peers(s, &data, 1, &status);
        if (gr < 0)
                return gr;
        return status == 0 ? 0 : GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
}

static int recv_all(gnutls_session_t s, char *buf, size_t n) {
        size_t done = 0;
        while (done < n) {
                ssize_t k = gnutls_record_recv(s, buf + done, n - done);
                if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
                        continue;
                if (k <= 0)
                        return k == 0 ? GNUTLS_E_PREMATURE_TERMINATION : (int) k;
                done += (size_t) k;
        }
        return 0;
}

/* ---- server ---- */

static volatile sig_atomic_t stop;
static void on_term(int sig) {
        (void) sig;
        stop = 1;
}

static void serve_one(int fd, gnutls_certificate_credentials_t creds) {
        gnutls_session_t s;
        char buf[16384];
        int gr;

        if (gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL) < 0)
                return;
        gnutls_priority_set_direct(s, PRIORITY, NULL);
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds);
        gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
        gnutls_certificate_send_x509_rdn_sequence(s, 1);
        gnutls_transport_set_int(s, fd);
        do
                gr = gnutls_handshake(s);
        while (gr < 0 && !gnutls_error_is_fatal(gr));
        if (gr < 0)
                goto out;
        if (verify_peer(s, GNUTLS_KP_TLS_WWW_CLIENT) < 0) {
                (void) gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
                goto out;
        }
        if (recv_all(s, buf, VERSION_SIZE) < 0 || memcmp(buf, VERSION_MAGIC, VERSION_SIZE) != 0)
                goto out;
        if (gnutls_record_send(s, VERSION_MAGIC, VERSION_SIZE) != VERSION_SIZE)
                goto out;
        /* Echo until the client closes. */
        for (;;) {
                ssize_t k = gnutls_record_recv(s, buf, sizeof buf);
                if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
                        continue;
                if (k <= 0)
                        break;
                if (gnutls_record_send(s, buf, (size_t) k) != k)
                        break;
        }
        (void) gnutls_bye(s, GNUTLS_SHUT_WR);
out:
        gnutls_deinit(s);
}

static int mode_server(int argc, char **argv) {
        struct sockaddr_in sa;
        socklen_t len = sizeof sa;
        int one = 1, lfd;

        if (argc != 4 || parse_addr(argv[0], &sa) < 0)
                return 2;
        gnutls_certificate_credentials_t creds = load_creds(argv[1], argv[2], argv[3]);
        if (!creds)
                return 1;
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            bind(lfd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(lfd, 128) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &len) < 0)
                return fail("listen", 0);
        struct sigaction act = { .sa_handler = on_term };
        sigaction(SIGTERM, &act, NULL); /* no SA_RESTART: accept() returns EINTR */
        sigaction(SIGINT, &act, NULL);
        signal(SIGPIPE, SIG_IGN);
        printf("%u\n", ntohs(sa.sin_port));
        fflush(stdout);
        while (!stop) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return fail("accept", 0);
                }
                set_sockopts(fd);
                serve_one(fd, creds);
                close(fd);
        }
        close(lfd);
        gnutls_certificate_free_credentials(creds);
        return 0;
}

/* ---- client ---- */

typedef struct Client {
        struct sockaddr_in sa;
        gnutls_certificate_credentials_t creds;
} Client;

/* A new connection up to the version answer; leaves the session open in *ret (NULL: closed). */
static int client_connect(const Client *c, gnutls_session_t *ret_s, int *ret_fd) {
        gnutls_session_t s;
        char buf[VERSION_SIZE];
        int fd, gr;

        /* Socket errors are reported as GNUTLS_E_PUSH_ERROR (one error space for the caller). */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return GNUTLS_E_PUSH_ERROR;
        set_sockopts(fd);
        if (connect(fd, (const struct sockaddr *) &c->sa, sizeof c->sa) < 0) {
                close(fd);
                return GNUTLS_E_PUSH_ERROR;
        }
        if ((gr = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL)) < 0) {
                close(fd);
                return gr;
        }
        gnutls_priority_set_direct(s, PRIORITY, NULL);
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->creds);
        gnutls_transport_set_int(s, fd);
        do
                gr = gnutls_handshake(s);
        while (gr < 0 && !gnutls_error_is_fatal(gr));
        if (gr >= 0)
                gr = verify_peer(s, GNUTLS_KP_TLS_WWW_SERVER);
        if (gr >= 0 && gnutls_record_send(s, VERSION_MAGIC, VERSION_SIZE) != VERSION_SIZE)
                gr = GNUTLS_E_PUSH_ERROR;
        if (gr >= 0)
                gr = recv_all(s, buf, VERSION_SIZE);
        if (gr >= 0 && memcmp(buf, VERSION_MAGIC, VERSION_SIZE) != 0)
                gr = GNUTLS_E_UNEXPECTED_PACKET;
        if (gr < 0) {
                gnutls_deinit(s);
                close(fd);
                return gr;
        }
        *ret_s = s;
        *ret_fd = fd;
        return 0;
}

static void client_close(gnutls_session_t s, int fd) {
        (void) gnutls_bye(s, GNUTLS_SHUT_WR);
        gnutls_deinit(s);
        close(fd);
}

static int client_setup(Client *c, char **argv) {
        if (parse_addr(argv[0], &c->sa) < 0)
                return 2;
        c->creds = load_creds(argv[1], argv[2], argv[3]);
        return c->creds ? 0 : 1;
}

static int mode_handshake(int argc, char **argv) {
        Client c;
        int r, failed = 0, last_err = 0;

        if (argc != 6)
                return 2;
        int n = atoi(argv[4]), warmup = atoi(argv[5]);
        if (n <= 0 || warmup < 0)
                return 2;
        if ((r = client_setup(&c, argv)))
                return r;
        double *lat = calloc((size_t) n, sizeof(double));
        if (!lat)
                return 1;
        for (int i = 0; i < n + warmup;) {
                gnutls_session_t s;
                int fd;
                double t0 = now_us();
                r = client_connect(&c, &s, &fd);
                double t1 = now_us();
                if (r < 0) {
                        last_err = r;
                        if (++failed > 50 + (n + warmup) / 10) {
                                fprintf(stderr, "tls-baseline: too many failed handshakes (%d), last: %s\n", failed,
                                        gnutls_strerror(r));
                                return 1;
                        }
                        usleep(10000);
                        continue;
                }
                client_close(s, fd);
                if (i >= warmup)
                        lat[i - warmup] = t1 - t0;
                i++;
        }
        for (int i = 0; i < n; i++)
                printf("%.1f\n", lat[i]);
        fprintf(stderr, "failed: %d%s%s\n", failed, failed ? ", last: " : "", failed ? gnutls_strerror(last_err) : "");
        return 0;
}

typedef struct Worker {
        const Client *c;
        double until;
        long count, failed;
} Worker;

static void *worker_run(void *p) {
        Worker *w = p;
        while (now_us() < w->until) {
                gnutls_session_t s;
                int fd;
                if (client_connect(w->c, &s, &fd) < 0) {
                        w->failed++;
                        usleep(10000);
                        continue;
                }
                client_close(s, fd);
                w->count++;
        }
        return NULL;
}

static int mode_parallel(int argc, char **argv) {
        Client c;
        int r;

        if (argc != 6)
                return 2;
        int threads = atoi(argv[4]);
        double seconds = atof(argv[5]);
        if (threads <= 0 || threads > 64 || seconds <= 0)
                return 2;
        if ((r = client_setup(&c, argv)))
                return r;
        Worker w[64];
        pthread_t t[64];
        double t0 = now_us();
        for (int i = 0; i < threads; i++) {
                w[i] = (Worker) { .c = &c, .until = t0 + seconds * 1e6 };
                if (pthread_create(&t[i], NULL, worker_run, &w[i]) != 0)
                        return fail("pthread_create", 0);
        }
        long count = 0, failed = 0;
        for (int i = 0; i < threads; i++) {
                pthread_join(t[i], NULL);
                count += w[i].count;
                failed += w[i].failed;
        }
        double t1 = now_us();
        printf("%ld %.1f %ld\n", count, (double) count / ((t1 - t0) / 1e6), failed);
        return 0;
}

static int mode_rtt(int argc, char **argv) {
        Client c;
        gnutls_session_t s;
        int fd, r;

        if (argc != 7)
                return 2;
        int n = atoi(argv[4]), warmup = atoi(argv[5]), size = atoi(argv[6]);
        if (n <= 0 || warmup < 0 || size <= 0 || size > 16384)
                return 2;
        if ((r = client_setup(&c, argv)))
                return r;
        if ((r = client_connect(&c, &s, &fd)) < 0)
                return fail("connect", r);
        char *out = malloc((size_t) size), *in = malloc((size_t) size);
        double *lat = calloc((size_t) n, sizeof(double));
        if (!out || !in || !lat)
                return 1;
        memset(out, 'x', (size_t) size);
        for (int i = 0; i < n + warmup; i++) {
                double t0 = now_us();
                if (gnutls_record_send(s, out, (size_t) size) != size)
                        return fail("send", GNUTLS_E_PUSH_ERROR);
                if ((r = recv_all(s, in, (size_t) size)) < 0)
                        return fail("recv", r);
                double t1 = now_us();
                if (i >= warmup)
                        lat[i - warmup] = t1 - t0;
        }
        client_close(s, fd);
        for (int i = 0; i < n; i++)
                printf("%.1f\n", lat[i]);
        return 0;
}

int main(int argc, char **argv) {
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: see the comment at the top of tls-baseline.c\n");
                return 2;
        }
        if (gnutls_global_init() < 0)
                return 1;
        if (!strcmp(argv[1], "server"))
                r = mode_server(argc - 2, argv + 2);
        else if (!strcmp(argv[1], "handshake"))
                r = mode_handshake(argc - 2, argv + 2);
        else if (!strcmp(argv[1], "parallel"))
                r = mode_parallel(argc - 2, argv + 2);
        else if (!strcmp(argv[1], "rtt"))
                r = mode_rtt(argc - 2, argv + 2);
        else
                r = 2;
        if (r == 2)
                fprintf(stderr, "tls-baseline: bad usage of '%s', see the comment at the top of tls-baseline.c\n", argv[1]);
        gnutls_global_deinit();
        return r;
}
