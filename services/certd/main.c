/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aos-certd: the node's keys and certificates on the system bus (org.aosedge.Certs1). */

#include <sys/prctl.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

static const DaemonInfo info = {
        .name = "aos-certd",
        .summary = "Keeps the node's keys and certificates and serves them on the system bus as\n"
                   "org.aosedge.Certs1.",
};

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(config_freep) AosConfig *config = NULL;
        const char *config_path;
        sd_event *event = NULL;
        int r;

        /* Passwords and PINs pass through this process: no core file may keep them. */
        (void) prctl(PR_SET_DUMPABLE, 0);
        r = daemon_parse_argv(&info, argc, argv, &config_path);
        if (r <= 0)
                return r;
        r = daemon_setup(config_path, 0, &config, &event);
        if (r < 0)
                return r;
        (void) daemon_add_stop_signals(event, NULL, NULL);

        r = manager_new(event, TAKE_PTR(config), &m);
        if (r >= 0)
                r = manager_connect(m);
        if (r < 0) {
                sd_event_unref(event);
                return r;
        }

        log_info("Serving %zu certificate modules on the bus as " CERTS_BUS_NAME ".", m->n_slots);
        (void) sd_notify(false, "READY=1\nSTATUS=Serving certificates.");

        r = daemon_run(event);
        manager_free(TAKE_PTR(m));
        sd_event_unref(event);
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
