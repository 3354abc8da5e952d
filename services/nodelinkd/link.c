/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs.h"
#include "link.h"
#include "log.h"
#include "macro.h"

/* TLS 1.3 only. */
#define LINK_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"

static void link_set_io(Link *l, uint32_t events) {
        (void) sd_event_source_set_io_events(l->io_source, events);
        (void) sd_event_source_set_enabled(l->io_source, SD_EVENT_ON);
}

static void link_closed_now(Link *l) {
        if (l->phase == LINK_PHASE_CLOSED)
                return;
        l->phase = LINK_PHASE_CLOSED;
        l->io_source = sd_event_source_disable_unref(l->io_source);
        l->deadline_source = sd_event_source_disable_unref(l->deadline_source);
        l->flush_source = sd_event_source_disable_unref(l->flush_source);
        (void) sd_event_source_set_enabled(l->close_source, SD_EVENT_OFF);
        if (l->on_closed)
                l->on_closed(l, strna(l->reason), l->userdata);
}

static int on_close_defer(sd_event_source *s, uint64_t usec, void *userdata) {
        Link *l = userdata;
        /* Either the relay drained and said goodbye, or the close took too long. */
        link_closed_now(l);
        return 0;
}

static void link_set_reason(Link *l, const char *reason) {
        if (l->reason || !reason)
                return;
        l->reason = strdup(reason);
}

/* The end: schedule on_closed for a later loop iteration (never from inside a callback of an
 * object the owner may free there). The timer exists from link_alloc() on, so this needs no
 * memory and cannot fail. */
static void link_schedule_closed(Link *l, uint64_t delay_usec) {
        uint64_t now;

        if (l->phase == LINK_PHASE_CLOSED)
                return;
        l->io_source = sd_event_source_disable_unref(l->io_source);
        (void) sd_event_now(l->event, CLOCK_MONOTONIC, &now);
        (void) sd_event_source_set_time(l->close_source, now + delay_usec);
        (void) sd_event_source_set_enabled(l->close_source, SD_EVENT_ONESHOT);
}

/* Closes the peer bus once sd-bus has handed everything queued (an error reply) to the
 * socketpair; the relay then sends it on, EOF becomes close_notify. Polled, never waited for:
 * sd_bus_flush() would block the whole loop (the relay that drains the socketpair runs on it),
 * for as long as a peer that does not read wants. */
#define LINK_FLUSH_POLL_USEC (10 * UINT64_C(1000))

static bool link_bus_flushed(Link *l) {
        uint64_t n = 0;
        return sd_bus_is_ready(l->bus) <= 0 || sd_bus_get_n_queued_write(l->bus, &n) < 0 || n == 0;
}

static int on_flush_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Link *l = userdata;

        if (!link_bus_flushed(l)) {
                (void) sd_event_source_set_time(s, usec + LINK_FLUSH_POLL_USEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0; /* the close timer ends it if it never drains */
        }
        l->flush_source = sd_event_source_disable_unref(l->flush_source);
        sd_bus_close(l->bus);
        return 0;
}

static void link_close_bus(Link *l) {
        if (!link_bus_flushed(l) &&
            sd_event_add_time_relative(l->event, &l->flush_source, CLOCK_MONOTONIC, LINK_FLUSH_POLL_USEC, 0,
                                       on_flush_poll, l) >= 0)
                return;
        sd_bus_close(l->bus);
}

static void on_relay_done(Relay *r, int error, void *userdata) {
        Link *l = userdata;

        if (error < 0) {
                char buf[128];
                snprintf(buf, sizeof buf, "connection lost: %s", strerror(-error));
                link_set_reason(l, buf);
        } else
                link_set_reason(l, "the peer closed the connection");
        l->phase = LINK_PHASE_CLOSING;
        link_schedule_closed(l, 0);
}

void link_close(Link *l, const char *reason) {
        if (!l || l->phase >= LINK_PHASE_CLOSING)
                return;
        link_set_reason(l, reason);
        l->deadline_source = sd_event_source_disable_unref(l->deadline_source);
        if (l->phase == LINK_PHASE_UP && l->bus) {
                /* Let what is queued (an error reply) go out, then EOF: the relay sends it on
                 * and says close_notify; on_relay_done ends it, or the timeout does. */
                l->phase = LINK_PHASE_CLOSING;
                link_schedule_closed(l, LINK_CLOSE_TIMEOUT_USEC);
                link_close_bus(l);
                return;
        }
        l->phase = LINK_PHASE_CLOSING;
        link_schedule_closed(l, 0);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Link *l = userdata;
        link_close(l, l->phase < LINK_PHASE_UP ? "handshake timed out" : "registration timed out");
        return 0;
}

void link_kick(Link *l) {
        if (l && l->phase == LINK_PHASE_UP)
                relay_kick(l->relay);
}

void link_set_authenticated(Link *l) {
        l->deadline_source = sd_event_source_disable_unref(l->deadline_source);
}

static int format_peer_address(int fd, char **ret) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        char host[INET6_ADDRSTRLEN], *s;
        int r;

        if (getpeername(fd, (struct sockaddr *) &ss, &len) < 0)
                return -errno;
        if (ss.ss_family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *) &ss;
                inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
                r = asprintf(&s, "%s:%u", host, ntohs(in->sin_port));
        } else if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
                if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
                        inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof host);
                        r = asprintf(&s, "%s:%u", host, ntohs(in6->sin6_port));
                } else {
                        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
                        r = asprintf(&s, "[%s]:%u", host, ntohs(in6->sin6_port));
                }
        } else
                r = asprintf(&s, "unix");
        if (r < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* The peer's certificate: present, and (when roots are set) chaining to them with the EKU
 * the peer's role needs. Records subject, fingerprint, CN and DNS SANs. */
static int link_check_peer(Link *l, const char **ret_reason) {
        static char reason_buf[256];
        const gnutls_datum_t *certs;
        unsigned n = 0;
        _cleanup_(x509_chain_done) X509Chain chain = {};
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        int r;

        certs = gnutls_certificate_get_peers(l->session, &n);
        if (!certs || n == 0) {
                *ret_reason = "the peer presented no certificate";
                return -EKEYREJECTED;
        }
        n = MIN(n, (unsigned) X509_CHAIN_MAX);
        chain.certs = calloc(n, sizeof(gnutls_x509_crt_t));
        if (!chain.certs)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                if (gnutls_x509_crt_init(&chain.certs[i]) < 0)
                        return -ENOMEM;
                chain.n++;
                if (gnutls_x509_crt_import(chain.certs[i], &certs[i], GNUTLS_X509_FMT_DER) < 0) {
                        *ret_reason = "the peer's certificate does not parse";
                        return -EKEYREJECTED;
                }
        }

        if (l->roots) {
                _cleanup_free_ char *why = NULL;
                char *eku[] = { (char *) (l->role == LINK_ROLE_SERVER ? "clientAuth" : "serverAuth"), NULL };
                uint64_t now = (uint64_t) time(NULL) * 1000000ULL;
                r = x509_chain_verify(&chain, l->roots, now, eku, &why);
                if (r < 0) {
                        snprintf(reason_buf, sizeof reason_buf, "the peer's certificate is refused: %s",
                                 strna(why));
                        *ret_reason = reason_buf;
                        return r == -ENOMEM ? r : -EKEYREJECTED;
                }
        }

        r = x509_cert_info(chain.certs[0], &info);
        if (r < 0)
                return r;
        l->peer_subject = TAKE_PTR(info.subject);
        l->peer_fingerprint = TAKE_PTR(info.fingerprint);
        l->peer_common_name = TAKE_PTR(info.common_name);

        for (unsigned i = 0;; i++) {
                char name[256];
                size_t size = sizeof name - 1;
                unsigned critical;
                int t = gnutls_x509_crt_get_subject_alt_name(chain.certs[0], i, name, &size, &critical);
                if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || t == GNUTLS_E_SHORT_MEMORY_BUFFER)
                        break;
                if (t < 0)
                        break;
                if (t == GNUTLS_SAN_DNSNAME) {
                        name[size] = 0;
                        if (strv_extend(&l->peer_dns_names, name) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static int link_start_bus(Link *l) {
        int pair[2];
        int r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        l->pair_fd = pair[0];

        r = sd_bus_new(&l->bus);
        if (r < 0) {
                close(pair[1]);
                return r;
        }
        (void) sd_bus_set_description(l->bus, l->role == LINK_ROLE_SERVER ? "nodelink-peer-server" : "nodelink-peer-client");
        r = sd_bus_set_fd(l->bus, pair[1], pair[1]);
        if (r < 0) {
                close(pair[1]);
                return r;
        }
        if (l->role == LINK_ROLE_SERVER) {
                sd_id128_t id;
                r = sd_id128_randomize(&id);
                if (r < 0)
                        return r;
                r = sd_bus_set_server(l->bus, true, id);
                if (r < 0)
                        return r;
        }
        /* The peer is authenticated by TLS; the uid of a process on another machine means
         * nothing here, and no file descriptor can cross the link. */
        r = sd_bus_set_anonymous(l->bus, true);
        if (r < 0)
                return r;
        r = sd_bus_negotiate_fds(l->bus, false);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(l->bus, l->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        r = sd_bus_start(l->bus);
        if (r < 0)
                return r;

        r = relay_new(l->event, l->session, l->fd, l->pair_fd, on_relay_done, l, &l->relay);
        if (r < 0)
                return r;
        return 0;
}

static void link_fail(Link *l, int error, const char *what) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s: %s", what, error < 0 ? strerror(-error) : "failed");
        link_set_reason(l, buf);
        l->phase = LINK_PHASE_CLOSING;
        link_schedule_closed(l, 0);
}

static void link_advance(Link *l);

static void link_version_step(Link *l) {
        ssize_t n;

        /* Client speaks first; the server answers with the same line when it speaks that
         * version, or closes. */
        bool send_now = l->role == LINK_ROLE_CLIENT ? !l->version_sent : l->version_done == LINK_VERSION_SIZE;
        if (send_now && !l->version_sent) {
                n = gnutls_record_send(l->session, LINK_VERSION_MAGIC, LINK_VERSION_SIZE);
                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                        return link_set_io(l, gnutls_record_get_direction(l->session) ? EPOLLOUT : EPOLLIN);
                if (n != LINK_VERSION_SIZE)
                        return link_fail(l, -EPROTO, "version handshake");
                l->version_sent = true;
        }
        while (l->version_done < LINK_VERSION_SIZE) {
                n = gnutls_record_recv(l->session, l->version_buf + l->version_done,
                                       LINK_VERSION_SIZE - l->version_done);
                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                        return link_set_io(l, EPOLLIN);
                if (n <= 0)
                        return link_fail(l, n == 0 ? -ECONNRESET : -EPROTO, "version handshake");
                l->version_done += (size_t) n;
        }
        if (memcmp(l->version_buf, LINK_VERSION_MAGIC, LINK_VERSION_SIZE) != 0)
                return link_fail(l, -EPROTONOSUPPORT, "version handshake (unsupported protocol version)");
        if (!l->version_sent)
                return link_version_step(l);

        /* The relay watches the socket from now on. */
        l->io_source = sd_event_source_disable_unref(l->io_source);
        int r = link_start_bus(l);
        if (r < 0)
                return link_fail(l, r, "peer bus");
        l->phase = LINK_PHASE_UP;
        if (l->on_up)
                l->on_up(l, l->userdata);
}

static void link_tls_step(Link *l) {
        int k = gnutls_handshake(l->session);
        if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
                return link_set_io(l, gnutls_record_get_direction(l->session) ? EPOLLOUT : EPOLLIN);
        if (k < 0) {
                char buf[256];
                snprintf(buf, sizeof buf, "TLS handshake failed: %s", gnutls_strerror(k));
                link_set_reason(l, buf);
                l->phase = LINK_PHASE_CLOSING;
                return link_schedule_closed(l, 0);
        }

        const char *why = NULL;
        int r = link_check_peer(l, &why);
        if (r < 0) {
                link_set_reason(l, why ?: "cannot check the peer's certificate");
                /* Tell the peer, then drop it. */
                (void) gnutls_alert_send(l->session, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
                l->phase = LINK_PHASE_CLOSING;
                return link_schedule_closed(l, 0);
        }
        l->phase = LINK_PHASE_VERSION;
        link_version_step(l);
}

static void link_advance(Link *l) {
        switch (l->phase) {
        case LINK_PHASE_CONNECTING: {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err != 0)
                        return link_fail(l, -err, "connect");
                (void) format_peer_address(l->fd, &l->peer_address);
                l->phase = LINK_PHASE_TLS;
                return link_tls_step(l);
        }
        case LINK_PHASE_TLS:
                return link_tls_step(l);
        case LINK_PHASE_VERSION:
                return link_version_step(l);
        case LINK_PHASE_UP:
        case LINK_PHASE_CLOSING:
        case LINK_PHASE_CLOSED:
                return;
        }
}

static int on_link_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        link_advance(userdata);
        return 0;
}

static void set_socket_options(int fd) {
        int one = 1, idle = 10, intvl = 5, cnt = 3;
        /* TCP keepalive as a second line behind the Ping: a half-dead TCP connection is torn
         * down by the kernel even if nobody writes. */
        (void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int link_alloc(sd_event *e, LinkRole role, LinkChannel channel, Credentials *creds, const X509Chain *roots,
                      LinkUpFn on_up, LinkClosedFn on_closed, void *userdata, Link **ret) {
        Link *l = calloc(1, sizeof(Link));
        uint64_t now;
        int r;

        if (!l)
                return -ENOMEM;
        l->event = sd_event_ref(e);
        l->role = role;
        l->channel = channel;
        l->fd = l->pair_fd = -1;
        l->creds = credentials_ref(creds);
        l->roots = roots;
        l->on_up = on_up;
        l->on_closed = on_closed;
        l->userdata = userdata;

        r = gnutls_init(&l->session, (role == LINK_ROLE_SERVER ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK |
                        GNUTLS_NO_SIGNAL);
        if (r < 0) {
                link_free(l);
                return -ENOMEM;
        }
        r = gnutls_priority_set_direct(l->session, LINK_TLS_PRIORITY, NULL);
        if (r >= 0 && creds)
                r = gnutls_credentials_set(l->session, GNUTLS_CRD_CERTIFICATE, creds->cred);
        if (r < 0) {
                link_free(l);
                return -EINVAL;
        }
        if (role == LINK_ROLE_SERVER) {
                /* Both channels need the client's certificate: the CA-issued one on protected,
                 * the self-signed bootstrap one (fingerprinted) on bootstrap. No CA names are
                 * sent, so the client never withholds a self-signed certificate. */
                gnutls_certificate_server_set_request(l->session, GNUTLS_CERT_REQUIRE);
                gnutls_certificate_send_x509_rdn_sequence(l->session, 1);
        }
        gnutls_handshake_set_timeout(l->session, 0);

        (void) sd_event_now(e, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(e, &l->deadline_source, CLOCK_MONOTONIC, now + LINK_HANDSHAKE_TIMEOUT_USEC, 0,
                              on_deadline, l);
        if (r >= 0)
                r = sd_event_add_time(e, &l->close_source, CLOCK_MONOTONIC, 0, 0, on_close_defer, l);
        if (r >= 0)
                r = sd_event_source_set_enabled(l->close_source, SD_EVENT_OFF);
        if (r < 0) {
                link_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

int link_new_server(sd_event *e, int fd, LinkChannel channel, Credentials *creds, const X509Chain *roots,
                    LinkUpFn on_up, LinkClosedFn on_closed, void *userdata, Link **ret) {
        Link *l;
        int r;

        r = link_alloc(e, LINK_ROLE_SERVER, channel, creds, roots, on_up, on_closed, userdata, &l);
        if (r < 0) {
                close(fd);
                return r;
        }
        l->fd = fd;
        set_socket_options(fd);
        (void) format_peer_address(fd, &l->peer_address);
        gnutls_transport_set_int(l->session, fd);
        l->phase = LINK_PHASE_TLS;
        r = sd_event_add_io(e, &l->io_source, fd, EPOLLIN, on_link_io, l);
        if (r < 0) {
                link_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

int link_parse_address(const char *address, char **ret_host, char **ret_port) {
        const char *colon, *h, *he;

        if (!address)
                return -EINVAL;
        colon = strrchr(address, ':');
        if (!colon || colon[1] == 0)
                return -EINVAL;
        h = address;
        he = colon;
        if (h[0] == '[') {
                if (colon == address || colon[-1] != ']')
                        return -EINVAL;
                h++;
                he--;
        }
        if (he <= h)
                return -EINVAL;
        char *host = strndup(h, (size_t) (he - h)), *port = strdup(colon + 1);
        if (!host || !port) {
                free(host);
                free(port);
                return -ENOMEM;
        }
        *ret_host = host;
        *ret_port = port;
        return 0;
}

int link_new_client_ai(sd_event *e, const struct addrinfo *ai, LinkChannel channel, Credentials *creds,
                       const X509Chain *roots, LinkUpFn on_up, LinkClosedFn on_closed, void *userdata, Link **ret) {
        Link *l;
        int r, fd;

        if (!ai)
                return -EINVAL;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        set_socket_options(fd);
        r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r < 0 && errno != EINPROGRESS) {
                r = -errno;
                close(fd);
                return r;
        }

        r = link_alloc(e, LINK_ROLE_CLIENT, channel, creds, roots, on_up, on_closed, userdata, &l);
        if (r < 0) {
                close(fd);
                return r;
        }
        l->fd = fd;
        gnutls_transport_set_int(l->session, fd);
        l->phase = LINK_PHASE_CONNECTING;
        r = sd_event_add_io(e, &l->io_source, fd, EPOLLOUT, on_link_io, l);
        if (r < 0) {
                link_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

int link_new_client(sd_event *e, const char *address, LinkChannel channel, Credentials *creds,
                    const X509Chain *roots, LinkUpFn on_up, LinkClosedFn on_closed, void *userdata,
                    Link **ret) {
        _cleanup_free_ char *host = NULL, *port = NULL;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG }, *ai = NULL;
        int r;

        r = link_parse_address(address, &host, &port);
        if (r < 0)
                return r;
        r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0)
                return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
        r = link_new_client_ai(e, ai, channel, creds, roots, on_up, on_closed, userdata, ret);
        freeaddrinfo(ai);
        return r;
}

Link *link_free(Link *l) {
        if (!l)
                return NULL;
        sd_event_source_disable_unref(l->io_source);
        sd_event_source_disable_unref(l->deadline_source);
        sd_event_source_disable_unref(l->close_source);
        sd_event_source_disable_unref(l->flush_source);
        relay_free(l->relay);
        if (l->bus) {
                sd_bus_close(l->bus);
                sd_bus_unref(l->bus);
        }
        if (l->session)
                gnutls_deinit(l->session);
        credentials_unref(l->creds);
        if (l->pair_fd >= 0)
                close(l->pair_fd);
        if (l->fd >= 0)
                close(l->fd);
        sd_event_unref(l->event);
        free(l->reason);
        free(l->peer_address);
        free(l->peer_subject);
        free(l->peer_fingerprint);
        free(l->peer_common_name);
        strv_free(l->peer_dns_names);
        free(l);
        return NULL;
}
