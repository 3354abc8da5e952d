/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>

#include "log.h"
#include "macro.h"
#include "worker.h"

typedef struct Job {
        struct Job *next;
        WorkerFunc func;
        WorkerDone done;
        void *userdata;
        int result;
} Job;

struct Worker {
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Job *queue, *queue_tail; /* waiting to run */
        Job *finished, *finished_tail; /* ran, waiting for done on the loop */
        bool stop;
        unsigned pending;
        int efd;
        sd_event_source *source;
};

static void job_list_append(Job **head, Job **tail, Job *j) {
        j->next = NULL;
        if (*tail)
                (*tail)->next = j;
        else
                *head = j;
        *tail = j;
}

static void *worker_thread(void *p) {
        Worker *w = p;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->queue && !w->stop)
                        pthread_cond_wait(&w->cond, &w->lock);
                if (w->stop)
                        break;
                Job *j = w->queue;
                w->queue = j->next;
                if (!w->queue)
                        w->queue_tail = NULL;
                pthread_mutex_unlock(&w->lock);

                j->result = j->func(j->userdata);

                pthread_mutex_lock(&w->lock);
                job_list_append(&w->finished, &w->finished_tail, j);
                uint64_t one = 1;
                (void) !write(w->efd, &one, sizeof one);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        uint64_t n;

        (void) !read(w->efd, &n, sizeof n);

        pthread_mutex_lock(&w->lock);
        Job *list = w->finished;
        w->finished = w->finished_tail = NULL;
        pthread_mutex_unlock(&w->lock);

        while (list) {
                Job *j = list;
                list = j->next;
                w->pending--;
                if (j->done)
                        j->done(j->result, j->userdata);
                free(j);
        }
        return 0;
}

int worker_new(sd_event *event, Worker **ret) {
        Worker *w = calloc(1, sizeof(Worker));
        int r;

        if (!w)
                return -ENOMEM;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                r = -errno;
                worker_free(w);
                return r;
        }
        r = sd_event_add_io(event, &w->source, w->efd, EPOLLIN, on_finished, w);
        if (r < 0) {
                worker_free(w);
                return r;
        }
        (void) sd_event_source_set_description(w->source, "worker-finished");
        r = -pthread_create(&w->thread, NULL, worker_thread, w);
        if (r < 0) {
                worker_free(w);
                return r;
        }
        w->thread_started = true;
        *ret = w;
        return 0;
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        if (w->thread_started) {
                pthread_mutex_lock(&w->lock);
                w->stop = true;
                pthread_cond_signal(&w->cond);
                pthread_mutex_unlock(&w->lock);
                pthread_join(w->thread, NULL);
        }
        /* Jobs that never ran, then jobs whose completion never reached the loop. */
        while (w->queue) {
                Job *j = w->queue;
                w->queue = j->next;
                if (j->done)
                        j->done(-ECANCELED, j->userdata);
                free(j);
        }
        while (w->finished) {
                Job *j = w->finished;
                w->finished = j->next;
                if (j->done)
                        j->done(j->result, j->userdata);
                free(j);
        }
        sd_event_source_disable_unref(w->source);
        closep(&w->efd);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}

int worker_submit(Worker *w, WorkerFunc func, WorkerDone done, void *userdata) {
        Job *j = calloc(1, sizeof(Job));
        if (!j)
                return -ENOMEM;
        j->func = func;
        j->done = done;
        j->userdata = userdata;

        pthread_mutex_lock(&w->lock);
        job_list_append(&w->queue, &w->queue_tail, j);
        w->pending++;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return 0;
}

unsigned worker_pending(const Worker *w) {
        return w->pending;
}
