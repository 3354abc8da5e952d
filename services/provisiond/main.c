/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aos-provisiond: the node's provisioning state machine on the system bus
 * (org.aosedge.Provisioning1). */

#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

static bool arg_provisioning = false;

static int parse_extra(int c, const char *arg) {
        if (c != 'p')
                return -EINVAL;
        arg_provisioning = true;
        return 0;
}

static const struct option extra_options[] = {
        { "provisioning", no_argument, NULL, 'p' },
        {}
};

static const DaemonInfo info = {
        .name = "aos-provisiond",
        .summary = "Takes the node from unprovisioned to provisioned and back, and serves that on the\n"
                   "system bus as org.aosedge.Provisioning1.",
        .extra_help = "  -p --provisioning      Provisioning mode: accept StartProvisioning and Deprovision\n",
        .extra_short = "p",
        .extra_options = extra_options,
        .parse_extra = parse_extra,
};

/* SIGTERM, SIGINT: the calls in progress are answered while the bus is still connected (the
 * loop's exit closes it), then the loop ends. */
static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        log_info("Received SIG%s, stopping.", strna(sigabbrev_np((int) si->ssi_signo)));
        manager_abort_calls(m);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(config_freep) AosConfig *config = NULL;
        const char *config_path;
        sd_event *event = NULL;
        int r;

        r = daemon_parse_argv(&info, argc, argv, &config_path);
        if (r <= 0)
                return r;
        /* SIGCHLD too: the hooks' exits are events (sd_event_add_child needs it blocked). A hook
         * that closes its stdin early must not kill us either (SIGPIPE is ignored). */
        r = daemon_setup(config_path, SIGCHLD, &config, &event);
        if (r < 0)
                return r;

        r = manager_new(event, TAKE_PTR(config), arg_provisioning, &m);
        if (r < 0) {
                sd_event_unref(event);
                return r;
        }
        (void) daemon_add_stop_signals(event, on_stop_signal, m);
        r = manager_connect(m);
        if (r < 0) {
                sd_event_unref(event);
                return r;
        }

        log_info("Serving node %s (%s) on the bus as " PROV_BUS_NAME ".", m->config->node.id,
                 node_state_to_string(m->state));
        (void) sd_notifyf(false, "READY=1\nSTATUS=Node %s is %s.", m->config->node.id, node_state_to_string(m->state));

        r = daemon_run(event);
        manager_free(TAKE_PTR(m));
        sd_event_unref(event);
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
