/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One worker thread that runs aos-certd's key-storage operations one at a time, in the order
 * they were submitted, so that the bus loop never blocks on a token or a TPM (an RSA key
 * takes hundreds of milliseconds) and backends never run concurrently. A job's completion
 * runs on the sd-event loop. */

#include <systemd/sd-event.h>

typedef struct Worker Worker;

/* Runs in the worker thread. Returns a negative errno or >= 0. */
typedef int (*WorkerFunc)(void *userdata);
/* Runs on the event loop with WorkerFunc's result. Owns userdata from then on. */
typedef void (*WorkerDone)(int result, void *userdata);

int worker_new(sd_event *event, Worker **ret);
/* Waits for the running job, drops queued ones (their done is called with -ECANCELED), joins. */
Worker *worker_free(Worker *w);
static inline void worker_freep(Worker **w) {
        if (*w)
                worker_free(*w);
}

int worker_submit(Worker *w, WorkerFunc func, WorkerDone done, void *userdata);
/* Jobs queued or running. */
unsigned worker_pending(const Worker *w);
