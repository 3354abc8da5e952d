/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "aos-build-config.h"
#include "bus-error.h"
#include "daemon.h"
#include "log.h"
#include "macro.h"

#define DAEMON_OPTIONS_MAX 16

static void daemon_help(const DaemonInfo *d) {
        printf("%s [OPTIONS...]\n\n%s\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "  -c --config=PATH       Configuration file (default: %s, plus PATH.d/*.conf)\n"
               "%s"
               "     --log-level=LEVEL   debug, info, notice, warning, err\n",
               program_invocation_short_name, d->summary, AOS_DEFAULT_CONFIG, strempty(d->extra_help));
}

int daemon_parse_argv(const DaemonInfo *d, int argc, char *argv[], const char **ret_config) {
        enum { ARG_VERSION = 0x100, ARG_LOG_LEVEL };
        static const struct option common[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config", required_argument, NULL, 'c' },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
        };
        struct option options[DAEMON_OPTIONS_MAX + 1] = {};
        char shortopts[32];
        size_t n = 0;
        int c, r;

        log_set_identifier(d->name);
        for (size_t i = 0; i < ELEMENTSOF(common); i++)
                options[n++] = common[i];
        for (const struct option *o = d->extra_options; o && o->name; o++) {
                if (n >= DAEMON_OPTIONS_MAX)
                        return -E2BIG;
                options[n++] = *o;
        }
        snprintf(shortopts, sizeof shortopts, "hc:%s", strempty(d->extra_short));

        *ret_config = AOS_DEFAULT_CONFIG;
        while ((c = getopt_long(argc, argv, shortopts, options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        daemon_help(d);
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", d->name, AOS_VERSION);
                        return 0;
                case 'c':
                        *ret_config = optarg;
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
                        if (!d->parse_extra)
                                return -EINVAL;
                        r = d->parse_extra(c, optarg);
                        if (r < 0)
                                return r;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "%s takes no positional arguments.", program_invocation_short_name);
        return 1;
}

int daemon_setup(const char *config_path, int extra_signal, AosConfig **ret_config, sd_event **ret_event) {
        _cleanup_free_ char *why = NULL;
        sigset_t mask;
        int r;

        r = aos_bus_error_init();
        if (r < 0)
                return log_error_errno(r, "Cannot register the error names: %m");
        r = config_load(config_path, false, ret_config, &why);
        if (r < 0)
                return log_error_errno(r, "%s", why ?: "Cannot load the configuration.");

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (extra_signal > 0)
                sigaddset(&mask, extra_signal);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(ret_event);
        if (r < 0) {
                *ret_config = config_free(*ret_config);
                return log_error_errno(r, "Cannot allocate the event loop: %m");
        }
        return 0;
}

int daemon_bus_open(sd_event *e, const char *description, sd_bus **ret) {
        int r;

        r = sd_bus_open_system_with_description(ret, description);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the system bus: %m");
        r = sd_bus_attach_event(*ret, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Cannot attach the bus to the event loop: %m");
        return 0;
}

int daemon_add_stop_signals(sd_event *e, sd_event_signal_handler_t handler, void *userdata) {
        int r = sd_event_add_signal(e, NULL, SIGTERM, handler, userdata);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGINT, handler, userdata);
        if (r < 0)
                return log_error_errno(r, "Cannot watch SIGTERM and SIGINT: %m");
        return 0;
}

int daemon_run(sd_event *e) {
        int r = sd_event_loop(e);
        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
