/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Name resolution off the loop: numeric addresses need no thread, a name comes back through the
 * loop, a cancelled lookup never calls back. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "resolve.h"
#include "test-util.h"

START_TEST(test_numeric) {
        struct addrinfo *ai = NULL;

        ck_assert_int_eq(resolve_numeric("127.0.0.1", "8089", &ai), 0);
        ck_assert_int_eq(ai->ai_family, AF_INET);
        ck_assert_uint_eq(ntohs(((struct sockaddr_in *) ai->ai_addr)->sin_port), 8089);
        freeaddrinfo(ai);
        ck_assert_int_eq(resolve_numeric("::1", "8089", &ai), 0);
        ck_assert_int_eq(ai->ai_family, AF_INET6);
        freeaddrinfo(ai);
        ai = NULL;
        ck_assert_int_eq(resolve_numeric("localhost", "8089", &ai), -EAGAIN);
        ck_assert_ptr_null(ai);
        /* A service name needs the full lookup too. */
        ck_assert_int_eq(resolve_numeric("127.0.0.1", "https", &ai), -EAGAIN);
}
END_TEST

typedef struct Result {
        int calls, error;
        bool v4;
} Result;

static void on_done(Resolve *q, int error, struct addrinfo *ai, void *userdata) {
        Result *res = userdata;
        res->calls++;
        res->error = error;
        for (struct addrinfo *a = ai; a; a = a->ai_next)
                if (a->ai_family == AF_INET &&
                    ((struct sockaddr_in *) a->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
                        res->v4 = true;
        if (ai)
                freeaddrinfo(ai);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static void run_loop(sd_event *e, Result *res, uint64_t max_usec) {
        sd_event_source *t = NULL;
        ck_assert_int_ge(sd_event_add_time_relative(e, &t, CLOCK_MONOTONIC, max_usec, 0, on_timeout, NULL), 0);
        while (res->calls == 0 && sd_event_get_state(e) != SD_EVENT_FINISHED)
                ck_assert_int_ge(sd_event_run(e, UINT64_MAX), 0);
        sd_event_source_disable_unref(t);
}

START_TEST(test_name) {
        sd_event *e = NULL;
        Resolve *q = NULL;
        Result res = {};

        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(resolve_start(e, "localhost", "8089", on_done, &res, &q), 0);
        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(res.calls, 0); /* never from within resolve_start */
        run_loop(e, &res, 10 * 1000000ULL);
        ck_assert_int_eq(res.calls, 1);
        ck_assert_int_eq(res.error, 0);
        ck_assert(res.v4);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_cancel) {
        sd_event *e = NULL;
        Resolve *q = NULL;
        Result res = {};

        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(resolve_start(e, "localhost", "8089", on_done, &res, &q), 0);
        ck_assert_ptr_null(resolve_cancel(q));
        /* The thread finishes on its own; the loop never hears of it. */
        run_loop(e, &res, 300 * 1000ULL);
        ck_assert_int_eq(res.calls, 0);
        sd_event_unref(e);
        usleep(200 * 1000); /* let the thread free what it holds before the leak check */
}
END_TEST

int main(void) {
        Suite *s = suite_create("nodelinkd resolve");
        TCase *tc = tcase_create("resolve");
        tcase_add_test(tc, test_numeric);
        tcase_add_test(tc, test_name);
        tcase_add_test(tc, test_cancel);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
