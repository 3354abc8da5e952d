/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/polkit.c against a fake org.freedesktop.PolicyKit1 on a private dbus-daemon: a
 * service guards a method with bus_verify_polkit_async, a client forked as uid 65534 calls it. */

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "polkit.h"
#include "test-util.h"

static char *dir;
static char address[600];
static pid_t bus_pid;

/* What the fake authority answers, and what it saw. */
static int answer_authorized, answer_challenge, authority_present;
static unsigned queries;
static unsigned last_flags;
static char last_subject_kind[64], last_action[128];

static PolkitRegistry *registry;

static void start_bus(void) {
        char conf[512], sock[512];
        dir = test_tmpdir();
        ck_assert_int_eq(chmod(dir, 0755), 0);
        snprintf(sock, sizeof sock, "%s/bus", dir);
        snprintf(conf, sizeof conf, "%s/bus.conf", dir);
        FILE *f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "<busconfig><type>system</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth>"
                   "<policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/>"
                   "<allow send_type=\"method_call\"/><allow send_destination=\"*\"/>"
                   "<allow receive_sender=\"*\"/></policy></busconfig>\n", sock);
        fclose(f);
        snprintf(address, sizeof address, "unix:path=%s", sock);

        bus_pid = fork();
        ck_assert_int_ge(bus_pid, 0);
        if (bus_pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                char arg[600];
                snprintf(arg, sizeof arg, "--config-file=%s", conf);
                execlp("dbus-daemon", "dbus-daemon", arg, "--nofork", "--nosyslog", (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 500 && access(sock, F_OK) < 0; i++)
                usleep(10000);
        ck_assert_int_eq(access(sock, F_OK), 0);
}

static void stop_bus(void) {
        kill(bus_pid, SIGTERM);
        waitpid(bus_pid, NULL, 0);
        test_rm_rf(dir);
        free(dir);
}

static sd_bus *connect_bus(void) {
        /* The socket file appears at bind(), a moment before dbus-daemon listens: retry. */
        for (int i = 0;; i++) {
                sd_bus *b;
                ck_assert_int_ge(sd_bus_new(&b), 0);
                ck_assert_int_ge(sd_bus_set_address(b, address), 0);
                ck_assert_int_ge(sd_bus_set_bus_client(b, 1), 0);
                int r = sd_bus_start(b);
                if (r >= 0)
                        return b;
                sd_bus_unref(b);
                ck_assert_msg(i < 500 && (r == -ECONNREFUSED || r == -ENOENT), "cannot connect to the test bus: %s",
                              strerror(-r));
                usleep(10000);
        }
}

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *kind;
        unsigned flags;
        int r;

        queries++;
        r = sd_bus_message_enter_container(m, 'r', "sa{sv}");
        ck_assert_int_ge(r, 0);
        ck_assert_int_ge(sd_bus_message_read(m, "s", &kind), 0);
        snprintf(last_subject_kind, sizeof last_subject_kind, "%s", kind);
        ck_assert_int_ge(sd_bus_message_skip(m, "a{sv}"), 0);
        ck_assert_int_ge(sd_bus_message_exit_container(m), 0);
        const char *action;
        ck_assert_int_ge(sd_bus_message_read(m, "s", &action), 0);
        snprintf(last_action, sizeof last_action, "%s", action);
        ck_assert_int_ge(sd_bus_message_skip(m, "a{ss}"), 0);
        ck_assert_int_ge(sd_bus_message_read(m, "u", &flags), 0);
        last_flags = flags;
        return sd_bus_reply_method_return(m, "(bba{ss})", answer_authorized, answer_challenge, 0);
}

static const sd_bus_vtable authority_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("CheckAuthorization", "(sa{sv})sa{ss}us", "(bba{ss})", method_check, 0),
        SD_BUS_VTABLE_END,
};

static int method_guarded(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        int r = bus_verify_polkit_async(m, "org.aosedge.certs.manage", &registry, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1;
        return sd_bus_reply_method_return(m, "s", "done");
}

static const sd_bus_vtable service_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Guarded", "", "s", method_guarded, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* Calls Guarded as uid (in a child) and returns the error name or "ok". */
static int on_child_result(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char *buf = userdata;
        ssize_t k = read(fd, buf, 255);
        buf[k > 0 ? k : 0] = 0;
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static void call_as(uid_t uid, bool interactive, char result[256]) {
        sd_event *e;
        sd_bus *service = connect_bus(), *authority = NULL;
        int p[2];

        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_ge(sd_bus_add_object_vtable(service, NULL, "/test", "test.Service", service_vtable, NULL), 0);
        ck_assert_int_ge(sd_bus_request_name(service, "test.Service", 0), 0);
        ck_assert_int_ge(sd_bus_attach_event(service, e, 0), 0);
        if (authority_present) {
                authority = connect_bus();
                ck_assert_int_ge(sd_bus_add_object_vtable(authority, NULL, "/org/freedesktop/PolicyKit1/Authority",
                                                          "org.freedesktop.PolicyKit1.Authority",
                                                          authority_vtable, NULL), 0);
                ck_assert_int_ge(sd_bus_request_name(authority, "org.freedesktop.PolicyKit1", 0), 0);
                ck_assert_int_ge(sd_bus_attach_event(authority, e, 0), 0);
        }
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(p[0]);
                if (uid != 0 && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0))
                        _exit(2);
                sd_bus *c = NULL;
                sd_bus_message *req = NULL, *reply = NULL;
                sd_bus_error err = SD_BUS_ERROR_NULL;
                if (sd_bus_new(&c) < 0 || sd_bus_set_address(c, address) < 0 || sd_bus_set_bus_client(c, 1) < 0 ||
                    sd_bus_start(c) < 0)
                        _exit(3);
                (void) sd_bus_message_new_method_call(c, &req, "test.Service", "/test", "test.Service", "Guarded");
                (void) sd_bus_message_set_allow_interactive_authorization(req, interactive);
                int r = sd_bus_call(c, req, 5000000, &err, &reply);
                const char *res = r >= 0 ? "ok" : err.name ? err.name : "error";
                (void) !write(p[1], res, strlen(res));
                _exit(0);
        }
        close(p[1]);
        ck_assert_int_ge(sd_event_add_io(e, NULL, p[0], EPOLLIN, on_child_result, result), 0);
        ck_assert_int_ge(sd_event_loop(e), 0);
        waitpid(pid, NULL, 0);
        close(p[0]);
        sd_bus_flush_close_unref(service);
        sd_bus_flush_close_unref(authority);
        sd_event_unref(e);
}

static void reset(int authorized, int challenge, int present) {
        answer_authorized = authorized;
        answer_challenge = challenge;
        authority_present = present;
        queries = 0;
        last_flags = 99;
        last_subject_kind[0] = last_action[0] = 0;
}

START_TEST(test_root_passes_without_asking) {
        char result[256];
        start_bus();
        reset(0, 0, 1);
        call_as(0, false, result);
        ck_assert_str_eq(result, "ok");
        ck_assert_uint_eq(queries, 0);
        stop_bus();
}
END_TEST

START_TEST(test_authorized) {
        char result[256];
        start_bus();
        reset(1, 0, 1);
        call_as(65534, false, result);
        ck_assert_str_eq(result, "ok");
        ck_assert_uint_eq(queries, 1);
        ck_assert_str_eq(last_subject_kind, "system-bus-name");
        ck_assert_str_eq(last_action, "org.aosedge.certs.manage");
        ck_assert_uint_eq(last_flags, 0);
        stop_bus();
}
END_TEST

START_TEST(test_denied) {
        char result[256];
        start_bus();
        reset(0, 0, 1);
        call_as(65534, false, result);
        ck_assert_str_eq(result, "org.freedesktop.DBus.Error.AccessDenied");
        stop_bus();
}
END_TEST

START_TEST(test_challenge_and_interactive_flag) {
        char result[256];
        start_bus();
        reset(0, 1, 1);
        call_as(65534, true, result);
        ck_assert_str_eq(result, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
        ck_assert_uint_eq(last_flags, 1);
        stop_bus();
}
END_TEST

START_TEST(test_no_authority) {
        char result[256];
        start_bus();
        reset(1, 0, 0);
        call_as(65534, false, result);
        ck_assert_str_eq(result, "org.freedesktop.DBus.Error.AccessDenied");
        stop_bus();
}
END_TEST

int main(void) {
        Suite *s = suite_create("common polkit");
        TCase *tc = tcase_create("polkit");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_root_passes_without_asking);
        tcase_add_test(tc, test_authorized);
        tcase_add_test(tc, test_denied);
        tcase_add_test(tc, test_challenge_and_interactive_flag);
        tcase_add_test(tc, test_no_authority);
        suite_add_tcase(s, tc);
        int r = test_run_suite(s);
        polkit_registry_free(registry);
        return r;
}
