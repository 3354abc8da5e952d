/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "relay.h"

/* A direction's buffer exists only while it holds data: an idle link (the usual state of a
 * node's link) keeps no buffer memory at all. */
typedef struct Buffer {
        char *data;        /* NULL while empty */
        size_t start, end; /* pending bytes are data[start..end) */
} Buffer;

struct Relay {
        sd_event *event;
        gnutls_session_t session;
        int tls_fd, unix_fd;
        sd_event_source *tls_source, *unix_source, *kick_source;
        Buffer to_unix; /* read from TLS, to be written to the socket end */
        Buffer to_tls;  /* read from the socket end, to be sent over TLS */
        size_t sending; /* > 0: gnutls_record_send() returned EAGAIN for this many bytes */
        bool tls_eof, unix_eof, bye_sent, unix_shut, done;
        bool tls_readable, unix_readable; /* worth a read: epoll said so, and no EAGAIN since */
        size_t n_to_unix, n_to_tls;
        RelayDoneFn on_done;
        void *userdata;
};

static size_t buffer_free_space(const Buffer *b) {
        return RELAY_BUFFER_SIZE - b->end;
}

static int buffer_reserve(Buffer *b) {
        if (!b->data) {
                b->data = malloc(RELAY_BUFFER_SIZE);
                if (!b->data)
                        return -ENOMEM;
        }
        return 0;
}

static void buffer_release_if_empty(Buffer *b) {
        if (b->start == b->end) {
                b->data = mfree(b->data);
                b->start = b->end = 0;
        }
}

static size_t buffer_pending(const Buffer *b) {
        return b->end - b->start;
}

static void buffer_consumed(Buffer *b, size_t n) {
        b->start += n;
        buffer_release_if_empty(b);
}

static void buffer_compact(Buffer *b) {
        if (!b->data || b->start == 0)
                return;
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
}

static void relay_finish(Relay *r, int error) {
        if (r->done)
                return;
        r->done = true;
        /* The local side learns of a failure as EOF. */
        if (error < 0)
                (void) shutdown(r->unix_fd, SHUT_RDWR);
        (void) sd_event_source_set_enabled(r->tls_source, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(r->unix_source, SD_EVENT_OFF);
        if (r->on_done)
                r->on_done(r, error, r->userdata);
}

/* TLS → socket. Reads only when the TLS socket said it is readable (or gnutls holds data
 * already), then forwards at once, so a record costs its reads and one send and no read that
 * ends in EAGAIN. Returns > 0 if anything moved, 0 if nothing could, < 0 on error. */
static int relay_tls_to_unix(Relay *r) {
        bool progress = false;
        ssize_t n;

        while (r->tls_readable && !r->tls_eof && buffer_free_space(&r->to_unix) > 0) {
                if (buffer_reserve(&r->to_unix) < 0)
                        return -ENOMEM;
                n = gnutls_record_recv(r->session, r->to_unix.data + r->to_unix.end, buffer_free_space(&r->to_unix));
                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
                        r->tls_readable = false;
                        break;
                }
                if (n == GNUTLS_E_REHANDSHAKE || n == GNUTLS_E_WARNING_ALERT_RECEIVED)
                        continue;
                if (n == GNUTLS_E_PREMATURE_TERMINATION)
                        return -ECONNRESET;
                if (n < 0)
                        return -EPROTO;
                progress = true;
                if (n == 0) {
                        r->tls_eof = true;
                        break;
                }
                r->to_unix.end += (size_t) n;
                /* One record per read: more is waiting only if gnutls has it buffered already;
                 * anything still in the socket makes epoll report it again. */
                if (gnutls_record_check_pending(r->session) == 0)
                        r->tls_readable = false;
        }

        while (buffer_pending(&r->to_unix) > 0) {
                n = send(r->unix_fd, r->to_unix.data + r->to_unix.start, buffer_pending(&r->to_unix),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                buffer_consumed(&r->to_unix, (size_t) n);
                r->n_to_unix += (size_t) n;
                progress = true;
        }
        buffer_compact(&r->to_unix);
        buffer_release_if_empty(&r->to_unix);
        if (r->tls_eof && buffer_pending(&r->to_unix) == 0 && !r->unix_shut) {
                (void) shutdown(r->unix_fd, SHUT_WR);
                r->unix_shut = true;
                progress = true;
        }
        return progress;
}

/* socket → TLS, the same way round. */
static int relay_unix_to_tls(Relay *r) {
        bool progress = false;
        ssize_t n;

        while (r->unix_readable && !r->unix_eof && buffer_free_space(&r->to_tls) > 0) {
                size_t space;

                if (buffer_reserve(&r->to_tls) < 0)
                        return -ENOMEM;
                space = buffer_free_space(&r->to_tls);
                n = recv(r->unix_fd, r->to_tls.data + r->to_tls.end, space, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR) {
                                r->unix_readable = false;
                                break;
                        }
                        if (errno == ECONNRESET) {
                                r->unix_eof = true;
                                break;
                        }
                        return -errno;
                }
                progress = true;
                if (n == 0) {
                        r->unix_eof = true;
                        break;
                }
                r->to_tls.end += (size_t) n;
                /* A short read emptied the socket (for now). */
                if ((size_t) n < space)
                        r->unix_readable = false;
        }

        while (buffer_pending(&r->to_tls) > 0) {
                size_t len = r->sending > 0 ? r->sending : MIN(buffer_pending(&r->to_tls), (size_t) 16384);
                n = gnutls_record_send(r->session, r->sending > 0 ? NULL : r->to_tls.data + r->to_tls.start,
                                       r->sending > 0 ? 0 : len);
                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
                        r->sending = len;
                        break;
                }
                if (n < 0)
                        return n == GNUTLS_E_PUSH_ERROR ? -EPIPE : -EPROTO;
                r->sending = 0;
                buffer_consumed(&r->to_tls, (size_t) n);
                r->n_to_tls += (size_t) n;
                progress = true;
        }
        buffer_compact(&r->to_tls);
        buffer_release_if_empty(&r->to_tls);
        if (r->unix_eof && buffer_pending(&r->to_tls) == 0 && !r->bye_sent) {
                int k = gnutls_bye(r->session, GNUTLS_SHUT_WR);
                if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
                        return progress;
                /* A peer that is gone already is as good as one that got our close_notify. */
                r->bye_sent = true;
                (void) shutdown(r->tls_fd, SHUT_WR);
                progress = true;
        }
        return progress;
}

/* One pass over both directions; > 0 while another pass could move more. A pass after a full
 * buffer drained can read again; otherwise epoll (level-triggered) says when there is more. */
static int relay_step(Relay *r) {
        int a, b;

        a = relay_tls_to_unix(r);
        if (a < 0)
                return a;
        b = relay_unix_to_tls(r);
        if (b < 0)
                return b;
        if (a == 0 && b == 0)
                return 0;
        return (r->tls_readable && !r->tls_eof && buffer_free_space(&r->to_unix) > 0) ||
               (r->unix_readable && !r->unix_eof && buffer_free_space(&r->to_tls) > 0);
}

static void relay_update_events(Relay *r) {
        uint32_t tls_ev = 0, unix_ev = 0;

        if (!r->tls_eof && buffer_free_space(&r->to_unix) > 0)
                tls_ev |= EPOLLIN;
        if (r->sending > 0 || (r->unix_eof && !r->bye_sent && buffer_pending(&r->to_tls) == 0)) {
                /* A blocked send (or bye) may wait for either direction (TLS 1.3 key updates). */
                if (gnutls_record_get_direction(r->session) == 1)
                        tls_ev |= EPOLLOUT;
                else
                        tls_ev |= EPOLLIN;
        }
        if (!r->unix_eof && buffer_free_space(&r->to_tls) > 0)
                unix_ev |= EPOLLIN;
        if (buffer_pending(&r->to_unix) > 0)
                unix_ev |= EPOLLOUT;

        (void) sd_event_source_set_io_events(r->tls_source, tls_ev);
        (void) sd_event_source_set_enabled(r->tls_source, tls_ev ? SD_EVENT_ON : SD_EVENT_OFF);
        (void) sd_event_source_set_io_events(r->unix_source, unix_ev);
        (void) sd_event_source_set_enabled(r->unix_source, unix_ev ? SD_EVENT_ON : SD_EVENT_OFF);
}

static void relay_run(Relay *r) {
        int k;

        if (r->done)
                return;
        do
                k = relay_step(r);
        while (k > 0);
        if (k < 0)
                return relay_finish(r, k);
        if (r->tls_eof && r->unix_shut && r->unix_eof && r->bye_sent)
                return relay_finish(r, 0);
        relay_update_events(r);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Relay *r = userdata;

        /* HUP and ERR are read too: the read reports the EOF or the error. A blocked TLS send
         * may wait for EPOLLIN (gnutls_record_get_direction); the pass retries it anyway. */
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (fd == r->tls_fd)
                        r->tls_readable = true;
                else
                        r->unix_readable = true;
        }
        relay_run(r);
        return 0;
}

static int on_kick(sd_event_source *s, void *userdata) {
        Relay *r = userdata;
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        r->tls_readable = r->unix_readable = true;
        relay_run(r);
        return 0;
}

void relay_kick(Relay *r) {
        if (!r || r->done)
                return;
        r->unix_readable = true;
        relay_run(r);
}

int relay_new(sd_event *e, gnutls_session_t session, int tls_fd, int unix_fd, RelayDoneFn on_done,
              void *userdata, Relay **ret) {
        _cleanup_(relay_freep) Relay *r = NULL;
        int k;

        if (!e || !session || tls_fd < 0 || unix_fd < 0 || !ret)
                return -EINVAL;
        r = calloc(1, sizeof(Relay));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(e);
        r->session = session;
        r->tls_fd = tls_fd;
        r->unix_fd = unix_fd;
        r->on_done = on_done;
        r->userdata = userdata;

        k = sd_event_add_io(e, &r->tls_source, tls_fd, EPOLLIN, on_io, r);
        if (k < 0)
                return k;
        k = sd_event_add_io(e, &r->unix_source, unix_fd, EPOLLIN, on_io, r);
        if (k < 0)
                return k;
        (void) sd_event_source_set_description(r->tls_source, "relay-tls");
        (void) sd_event_source_set_description(r->unix_source, "relay-unix");

        /* gnutls may hold decrypted data from the handshake's last flight already, which no
         * epoll event would announce: run once as soon as the loop is idle. */
        k = sd_event_add_defer(e, &r->kick_source, on_kick, r);
        if (k < 0)
                return k;
        relay_update_events(r);
        *ret = TAKE_PTR(r);
        return 0;
}

Relay *relay_free(Relay *r) {
        if (!r)
                return NULL;
        sd_event_source_disable_unref(r->tls_source);
        sd_event_source_disable_unref(r->unix_source);
        sd_event_source_disable_unref(r->kick_source);
        sd_event_unref(r->event);
        free(r->to_unix.data);
        free(r->to_tls.data);
        free(r);
        return NULL;
}

void relay_get_stats(const Relay *r, size_t *ret_tls_to_unix, size_t *ret_unix_to_tls) {
        if (ret_tls_to_unix)
                *ret_tls_to_unix = r->n_to_unix;
        if (ret_unix_to_tls)
                *ret_unix_to_tls = r->n_to_tls;
}
