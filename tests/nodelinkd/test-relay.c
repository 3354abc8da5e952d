/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The relay between a TLS session and a socketpair: both directions, a message much larger
 * than the buffers, a reader that stalls (backpressure), EOF both ways. The TLS peer is a
 * forked gnutls echo server over a socketpair. */
#include <check.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "relay.h"
#include "test-util.h"

#define TOTAL (6U * 1024U * 1024U)

static _Noreturn void echo_server(int fd, const char *cert, const char *key) {
        gnutls_certificate_credentials_t cred;
        gnutls_session_t s;
        char buf[16384];
        ssize_t n;

        gnutls_certificate_allocate_credentials(&cred);
        if (gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM) < 0)
                _exit(2);
        gnutls_init(&s, GNUTLS_SERVER);
        gnutls_priority_set_direct(s, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL);
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
        gnutls_transport_set_int(s, fd);
        if (gnutls_handshake(s) < 0)
                _exit(3);
        while ((n = gnutls_record_recv(s, buf, sizeof buf)) > 0)
                if (gnutls_record_send(s, buf, (size_t) n) != n)
                        _exit(4);
        if (n < 0)
                _exit(5);
        gnutls_bye(s, GNUTLS_SHUT_WR);
        /* Leave nothing behind: the test runs under valgrind too, and its leak check covers
         * this forked child as well. */
        gnutls_deinit(s);
        gnutls_certificate_free_credentials(cred);
        _exit(0);
}

typedef struct Test {
        int app_fd; /* the test's end of the socketpair the relay serves */
        unsigned char *out, *in;
        size_t written, read;
        bool eof, relay_done, reading;
        int relay_error;
        sd_event_source *app_source;
} Test;

static unsigned char pattern(size_t i) {
        return (unsigned char) ((i * 7919U) >> 3);
}

static void update(Test *t) {
        uint32_t ev = 0;
        if (t->written < TOTAL)
                ev |= EPOLLOUT;
        if (t->reading && !t->eof)
                ev |= EPOLLIN;
        sd_event_source_set_io_events(t->app_source, ev);
}

static int on_app(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Test *t = userdata;
        ssize_t n;

        if ((revents & EPOLLOUT) && t->written < TOTAL) {
                n = send(fd, t->out + t->written, TOTAL - t->written, MSG_DONTWAIT);
                if (n > 0)
                        t->written += (size_t) n;
                if (t->written == TOTAL)
                        shutdown(fd, SHUT_WR); /* EOF towards the TLS peer */
        }
        if ((revents & (EPOLLIN | EPOLLHUP)) && t->reading) {
                n = recv(fd, t->in + t->read, TOTAL + 1 - t->read, MSG_DONTWAIT);
                if (n == 0)
                        t->eof = true;
                else if (n > 0)
                        t->read += (size_t) n;
        }
        update(t);
        if (t->eof && t->relay_done)
                sd_event_exit(sd_event_source_get_event(s), 0);
        return 0;
}

static int on_start_reading(sd_event_source *s, uint64_t usec, void *userdata) {
        Test *t = userdata;
        t->reading = true;
        update(t);
        return 0;
}

static void on_done(Relay *r, int error, void *userdata) {
        Test *t = userdata;
        t->relay_done = true;
        t->relay_error = error;
        if (t->eof)
                sd_event_exit(sd_event_source_get_event(t->app_source), 0);
}

START_TEST(test_relay_echo) {
        char *cert = test_pki_path("leaf-both.pem"), *key = test_pki_path("leaf-both.key");
        int tls_pair[2], app_pair[2], status;
        gnutls_certificate_credentials_t cred;
        gnutls_session_t s;
        Relay *relay = NULL;
        sd_event *e = NULL;
        Test t = {};
        pid_t pid;

        signal(SIGPIPE, SIG_IGN);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, tls_pair), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char c[PATH_MAX], k[PATH_MAX];
                snprintf(c, sizeof c, "%s", cert);
                snprintf(k, sizeof k, "%s", key);
                free(cert);
                free(key);
                close(tls_pair[0]);
                echo_server(tls_pair[1], c, k);
        }
        close(tls_pair[1]);

        gnutls_certificate_allocate_credentials(&cred);
        gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
        gnutls_priority_set_direct(s, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL);
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
        gnutls_transport_set_int(s, tls_pair[0]);
        int k;
        do
                k = gnutls_handshake(s); /* blocking socket: returns when done */
        while (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED);
        ck_assert_int_eq(k, 0);
        fcntl(tls_pair[0], F_SETFL, O_NONBLOCK);

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, app_pair), 0);
        t.app_fd = app_pair[1];
        t.out = malloc(TOTAL);
        t.in = malloc(TOTAL + 1);
        for (size_t i = 0; i < TOTAL; i++)
                t.out[i] = pattern(i);

        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_ge(relay_new(e, s, tls_pair[0], app_pair[0], on_done, &t, &relay), 0);
        ck_assert_int_ge(sd_event_add_io(e, &t.app_source, t.app_fd, EPOLLOUT, on_app, &t), 0);
        /* Nobody reads for a while: everything stalls on full buffers and must resume. */
        ck_assert_int_ge(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 300000, 0, on_start_reading, &t), 0);
        ck_assert_int_ge(sd_event_loop(e), 0);

        ck_assert_int_eq(t.relay_error, 0);
        ck_assert(t.eof);
        ck_assert_uint_eq(t.written, TOTAL);
        ck_assert_uint_eq(t.read, TOTAL);
        ck_assert(memcmp(t.in, t.out, TOTAL) == 0);
        size_t a, b;
        relay_get_stats(relay, &a, &b);
        ck_assert_uint_eq(a, TOTAL);
        ck_assert_uint_eq(b, TOTAL);

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        relay_free(relay);
        sd_event_source_disable_unref(t.app_source);
        sd_event_unref(e);
        gnutls_deinit(s);
        gnutls_certificate_free_credentials(cred);
        close(tls_pair[0]);
        close(app_pair[0]);
        close(app_pair[1]);
        free(t.out);
        free(t.in);
        free(cert);
        free(key);
}
END_TEST

START_TEST(test_relay_peer_vanishes) {
        /* The TLS peer dies without close_notify: the relay reports an error, once. */
        char *cert = test_pki_path("leaf-both.pem"), *key = test_pki_path("leaf-both.key");
        int tls_pair[2], app_pair[2];
        gnutls_certificate_credentials_t cred;
        gnutls_session_t s;
        Relay *relay = NULL;
        sd_event *e = NULL;
        Test t = { .reading = true };
        pid_t pid;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, tls_pair), 0);
        pid = fork();
        if (pid == 0) {
                close(tls_pair[0]);
                /* handshake, then exit without bye (echo_server would echo: kill it) */
                echo_server(tls_pair[1], cert, key);
        }
        close(tls_pair[1]);
        gnutls_certificate_allocate_credentials(&cred);
        gnutls_init(&s, GNUTLS_CLIENT);
        gnutls_priority_set_direct(s, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL);
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
        gnutls_transport_set_int(s, tls_pair[0]);
        ck_assert_int_eq(gnutls_handshake(s), 0);
        fcntl(tls_pair[0], F_SETFL, O_NONBLOCK);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, app_pair), 0);
        t.app_fd = app_pair[1];
        t.written = TOTAL; /* nothing to write */
        t.in = malloc(TOTAL + 1);
        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_ge(relay_new(e, s, tls_pair[0], app_pair[0], on_done, &t, &relay), 0);
        ck_assert_int_ge(sd_event_add_io(e, &t.app_source, t.app_fd, EPOLLIN, on_app, &t), 0);
        ck_assert_int_ge(sd_event_loop(e), 0);
        ck_assert(t.relay_done);
        ck_assert_int_lt(t.relay_error, 0);
        ck_assert(t.eof);

        relay_free(relay);
        sd_event_source_disable_unref(t.app_source);
        sd_event_unref(e);
        gnutls_deinit(s);
        gnutls_certificate_free_credentials(cred);
        close(tls_pair[0]);
        close(app_pair[0]);
        close(app_pair[1]);
        free(t.in);
        free(cert);
        free(key);
}
END_TEST

int main(void) {
        Suite *s = suite_create("nodelinkd relay");
        TCase *tc = tcase_create("relay");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_relay_echo);
        tcase_add_test(tc, test_relay_peer_vanishes);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
