/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* aosctl: the command line of aos-iam. One subcommand per file, dispatched from the table in
 * aosctl.c, which also renders --help.
 * Exit codes: 0 success, 1 the daemon refused or failed (its error name and text are printed),
 * 2 bad usage, 3 the daemon is not reachable. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#define AOSCTL_EXIT_FAILURE 1
#define AOSCTL_EXIT_USAGE 2
#define AOSCTL_EXIT_UNREACHABLE 3

typedef struct AosctlContext {
        bool json;
        sd_bus *bus;
} AosctlContext;

typedef int (*AosctlVerb)(AosctlContext *ctx, int argc, char *argv[]);

/* The system bus ($DBUS_SYSTEM_BUS_ADDRESS honoured), connected on first use. */
int aosctl_bus(AosctlContext *ctx, sd_bus **ret);

/* Prints "aosctl: <what>: <error name>: <message>" and returns the exit code for it. */
int aosctl_bus_error(const char *what, const sd_bus_error *error, int r);

/* A certificate as the daemons report it (the a{sv} info of org.aosedge.Certs1). */
typedef struct CertView {
        char *type, *cert_url, *key_url, *subject, *issuer, *serial, *fingerprint;
        uint64_t not_before, not_after;
} CertView;

void cert_view_done(CertView *v);
/* Reads one a{sv} certificate info from m. */
int cert_view_read(sd_bus_message *m, CertView *ret);
/* Days from now until not_after (negative when expired). */
long cert_view_days_left(const CertView *v);
void json_print_string(const char *s);
void cert_view_print_json(const CertView *v);

int verb_certs(AosctlContext *ctx, int argc, char *argv[]);
