/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every aos daemon does around its manager: the command line (--help, --version,
 * --config, --log-level and the daemon's own options), the log identifier, the error names,
 * the configuration, the signals, the event loop, and STOPPING around the loop's end. */

#include <getopt.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"

typedef struct DaemonInfo {
        const char *name;                   /* "aos-certd": log identifier and --version */
        const char *summary;                /* the paragraph of --help */
        const char *extra_help;             /* --help lines of the daemon's own options, or NULL */
        const char *extra_short;            /* their getopt letters ("p"), or NULL */
        const struct option *extra_options; /* ending with {}, or NULL */
        int (*parse_extra)(int c, const char *arg); /* < 0: bad usage (logged) */
} DaemonInfo;

/* Also sets the log identifier. Returns 1 (go on; *ret_config is the configuration path), 0
 * (--help or --version printed) or < 0 (bad usage, logged). */
int daemon_parse_argv(const DaemonInfo *d, int argc, char *argv[], const char **ret_config);

/* The error names, the configuration (with drop-ins), SIGTERM, SIGINT and extra_signal (when
 * > 0) blocked for the loop's signal sources, SIGPIPE ignored (a client that goes must not kill
 * the daemon), and the default event loop. Errors are logged. */
int daemon_setup(const char *config_path, int extra_signal, AosConfig **ret_config, sd_event **ret_event);

/* The daemon's connection to the system bus, attached to e; description names it in logs. */
int daemon_bus_open(sd_event *e, const char *description, sd_bus **ret);

/* SIGTERM and SIGINT on e: handler, or (NULL) the end of the loop. */
int daemon_add_stop_signals(sd_event *e, sd_event_signal_handler_t handler, void *userdata);

/* Runs the loop (the caller has said READY=1), then says STOPPING=1. */
int daemon_run(sd_event *e);
