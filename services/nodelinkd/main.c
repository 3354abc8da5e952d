/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aos-nodelinkd: the TLS link between the nodes of a unit (org.aosedge.NodeLink1). */

#include <gnutls/gnutls.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>

#include "aos-build-config.h"
#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#if HAVE_TPM2
#include "tpm2-key.h"
#endif

static const DaemonInfo info = {
        .name = "aos-nodelinkd",
        .summary = "Links the nodes of a unit over TLS: listens on the main node, dials the main node\n"
                   "on a secondary one, and serves org.aosedge.NodeLink1 on the system bus.",
};

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(config_freep) AosConfig *config = NULL;
        const char *config_path;
        sd_event *event = NULL;
        int r;

        /* Forwarded calls carry the provisioning password: no core file may keep it. */
        (void) prctl(PR_SET_DUMPABLE, 0);
        r = daemon_parse_argv(&info, argc, argv, &config_path);
        if (r <= 0)
                return r;
        r = daemon_setup(config_path, 0, &config, &event);
        if (r < 0)
                return r;
        (void) daemon_add_stop_signals(event, NULL, NULL);
        if (gnutls_global_init() < 0) {
                sd_event_unref(event);
                return log_error_errno(EIO, "Cannot initialize gnutls.");
        }
#if HAVE_TPM2
        /* The link's key may live in the TPM (a tpm2: key URL from aos-certd). */
        tpm2_key_register();
#endif

        r = manager_new(event, TAKE_PTR(config), &m);
        if (r >= 0)
                r = manager_start(m);
        if (r < 0) {
                manager_free(TAKE_PTR(m));
                sd_event_unref(event);
                gnutls_global_deinit();
                return r;
        }

        log_info("Serving the node link as %s node %s.", m->config->node.main_node ? "main" : "secondary",
                 m->config->node.id);
        (void) sd_notify(false, "READY=1\nSTATUS=Serving the node link.");

        r = daemon_run(event);
        manager_free(TAKE_PTR(m));
        sd_event_unref(event);
        gnutls_global_deinit();
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
