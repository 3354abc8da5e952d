/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "resolve.h"

/* Shared by the loop and the thread; the last of the two frees it. */
struct Resolve {
        atomic_uint n_ref;
        int efd;
        char *host, *port;
        int gai;  /* set by the thread before it signals */
        int gai_errno;
        struct addrinfo *ai;
        sd_event_source *source; /* loop side only */
        ResolveFn cb;
        void *userdata;
};

static const struct addrinfo resolve_hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };

static void resolve_unref(Resolve *q) {
        if (atomic_fetch_sub(&q->n_ref, 1) != 1)
                return;
        if (q->ai)
                freeaddrinfo(q->ai);
        if (q->efd >= 0)
                close(q->efd);
        free(q->host);
        free(q->port);
        free(q);
}

static int map_gai(int gai, int saved_errno) {
        if (gai == 0)
                return 0;
        if (gai == EAI_SYSTEM)
                return saved_errno > 0 ? -saved_errno : -EIO;
        if (gai == EAI_MEMORY)
                return -ENOMEM;
        if (gai == EAI_AGAIN)
                return -EAGAIN;
        return -EHOSTUNREACH;
}

int resolve_numeric(const char *host, const char *port, struct addrinfo **ret) {
        struct addrinfo hints = resolve_hints;
        int gai;

        hints.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
        gai = getaddrinfo(host, port, &hints, ret);
        if (gai == EAI_NONAME)
                return -EAGAIN;
        return map_gai(gai, errno);
}

static void *resolve_thread(void *p) {
        Resolve *q = p;
        uint64_t one = 1;

        q->gai = getaddrinfo(q->host, q->port, &resolve_hints, &q->ai);
        q->gai_errno = errno;
        /* The eventfd write publishes the result to the loop (a syscall orders the stores). */
        (void) !write(q->efd, &one, sizeof one);
        resolve_unref(q);
        return NULL;
}

static int on_resolved(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Resolve *q = userdata;
        uint64_t v;
        struct addrinfo *ai;
        int error;

        if (read(fd, &v, sizeof v) != sizeof v)
                return 0;
        q->source = sd_event_source_disable_unref(q->source);
        error = map_gai(q->gai, q->gai_errno);
        ai = TAKE_PTR(q->ai);
        q->cb(q, error, ai, q->userdata);
        resolve_unref(q);
        return 0;
}

int resolve_start(sd_event *e, const char *host, const char *port, ResolveFn cb, void *userdata, Resolve **ret) {
        pthread_attr_t attr;
        pthread_t t;
        Resolve *q;
        int r;

        if (!e || !host || !port || !cb || !ret)
                return -EINVAL;
        q = calloc(1, sizeof(Resolve));
        if (!q)
                return -ENOMEM;
        atomic_init(&q->n_ref, 1);
        q->cb = cb;
        q->userdata = userdata;
        q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->efd < 0) {
                r = -errno;
                resolve_unref(q);
                return r;
        }
        q->host = strdup(host);
        q->port = strdup(port);
        if (!q->host || !q->port) {
                resolve_unref(q);
                return -ENOMEM;
        }
        r = sd_event_add_io(e, &q->source, q->efd, EPOLLIN, on_resolved, q);
        if (r < 0) {
                resolve_unref(q);
                return r;
        }
        (void) sd_event_source_set_description(q->source, "resolve");

        atomic_fetch_add(&q->n_ref, 1); /* the thread's */
        r = -pthread_attr_init(&attr);
        if (r == 0) {
                (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                (void) pthread_attr_setstacksize(&attr, 256 * 1024);
                r = -pthread_create(&t, &attr, resolve_thread, q);
                pthread_attr_destroy(&attr);
        }
        if (r < 0) {
                atomic_fetch_sub(&q->n_ref, 1);
                q->source = sd_event_source_disable_unref(q->source);
                resolve_unref(q);
                return r;
        }
        *ret = q;
        return 0;
}

Resolve *resolve_cancel(Resolve *q) {
        if (!q)
                return NULL;
        q->source = sd_event_source_disable_unref(q->source);
        resolve_unref(q);
        return NULL;
}
