/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aos-nodelinkd: the TLS link between the nodes of a unit (org.aosedge.NodeLink1). */

#include <getopt.h>
#include <gnutls/gnutls.h>
#include <signal.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>

#include "aos-build-config.h"
#include "bus-error.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#if HAVE_TPM2
#include "tpm2-key.h"
#endif

static const char *arg_config = AOS_DEFAULT_CONFIG;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Links the nodes of a unit over TLS: listens on the main node, dials the main node\n"
               "on a secondary one, and serves org.aosedge.NodeLink1 on the system bus.\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "  -c --config=PATH       Configuration file (default: %s, plus PATH.d/*.conf)\n"
               "     --log-level=LEVEL   debug, info, notice, warning, err\n",
               program_invocation_short_name, AOS_DEFAULT_CONFIG);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, 'c' },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("aos-nodelinkd " AOS_VERSION);
                        return 0;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_LOG_LEVEL: {
                        int l = log_level_from_string(optarg);
                        if (l < 0)
                                return log_error_errno(EINVAL, "Unknown log level '%s'.", optarg);
                        log_set_max_level(l);
                        break;
                }
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "%s takes no positional arguments.", program_invocation_short_name);
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(config_freep) AosConfig *config = NULL;
        _cleanup_free_ char *why = NULL;
        sd_event *event = NULL;
        int r;

        log_set_identifier("aos-nodelinkd");
        /* Forwarded calls carry the provisioning password: no core file may keep it. */
        (void) prctl(PR_SET_DUMPABLE, 0);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = aos_bus_error_init();
        if (r < 0)
                return log_error_errno(r, "Cannot register the error names: %m");
        r = config_load(arg_config, false, &config, &why);
        if (r < 0)
                return log_error_errno(r, "%s", why ?: "Cannot load the configuration.");
        if (gnutls_global_init() < 0)
                return log_error_errno(EIO, "Cannot initialize gnutls.");
#if HAVE_TPM2
        /* The link's key may live in the TPM (a tpm2: key URL from aos-certd). */
        tpm2_key_register();
#endif

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Cannot allocate the event loop: %m");
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);

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

        r = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1");
        manager_free(TAKE_PTR(m));
        sd_event_unref(event);
        gnutls_global_deinit();
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
