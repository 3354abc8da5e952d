/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aos-provisiond: the node's provisioning state machine on the system bus
 * (org.aosedge.Provisioning1). */

#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include "aos-build-config.h"
#include "bus-error.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

static const char *arg_config = AOS_DEFAULT_CONFIG;
static bool arg_provisioning = false;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Takes the node from unprovisioned to provisioned and back, and serves that on the\n"
               "system bus as org.aosedge.Provisioning1.\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "  -c --config=PATH       Configuration file (default: %s, plus PATH.d/*.conf)\n"
               "  -p --provisioning      Provisioning mode: accept StartProvisioning and Deprovision\n"
               "     --log-level=LEVEL   debug, info, notice, warning, err\n",
               program_invocation_short_name, AOS_DEFAULT_CONFIG);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, 'c' },
                { "provisioning", no_argument, NULL, 'p' },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "hc:p", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("aos-provisiond " AOS_VERSION);
                        return 0;
                case 'c':
                        arg_config = optarg;
                        break;
                case 'p':
                        arg_provisioning = true;
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
        _cleanup_free_ char *why = NULL;
        sd_event *event = NULL;
        int r;

        log_set_identifier("aos-provisiond");
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = aos_bus_error_init();
        if (r < 0)
                return log_error_errno(r, "Cannot register the error names: %m");

        r = config_load(arg_config, false, &config, &why);
        if (r < 0)
                return log_error_errno(r, "%s", why ?: "Cannot load the configuration.");

        /* SIGCHLD too: the hooks' exits are events (sd_event_add_child needs it blocked). */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* A client that vanishes, or a hook that closes its stdin early, must not kill us. */
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Cannot allocate the event loop: %m");

        r = manager_new(event, TAKE_PTR(config), arg_provisioning, &m);
        if (r < 0) {
                sd_event_unref(event);
                return r;
        }
        (void) sd_event_add_signal(event, NULL, SIGTERM, on_stop_signal, m);
        (void) sd_event_add_signal(event, NULL, SIGINT, on_stop_signal, m);
        r = manager_connect(m);
        if (r < 0) {
                sd_event_unref(event);
                return r;
        }

        log_info("Serving node %s (%s) on the bus as " PROV_BUS_NAME ".", m->config->node.id,
                 node_state_to_string(m->state));
        (void) sd_notifyf(false, "READY=1\nSTATUS=Node %s is %s.", m->config->node.id, node_state_to_string(m->state));

        r = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1");
        manager_free(TAKE_PTR(m));
        sd_event_unref(event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
