/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What `provision` and `renew` share: numbered progress lines ("[3/8] CreateKey iam ... ok")
 * and the CreateKey → sign → ApplyCert sequence for one certificate type. */

#include <stdio.h>

#include "aosctl.h"
#include "signer.h"

typedef struct Progress {
        AosctlContext *ctx;
        FILE *out;        /* stdout, or stderr when stdout carries --json output */
        unsigned step, total; /* total 0: not known yet ("[1/?]") */
        char what[128];   /* the running step, for the failure message */
} Progress;

_printf_(2, 3) void progress_begin(Progress *p, const char *fmt, ...);
/* "ok", or "ok (detail)" */
void progress_ok(Progress *p);
_printf_(2, 3) void progress_ok_detail(Progress *p, const char *fmt, ...);
/* Ends the line with "failed" and prints the bus error for the step; returns the exit code. */
int progress_bus_failed(Progress *p, const sd_bus_error *error, int r);
/* Ends the line with "failed" (the reason was printed already); returns exit_code. */
int progress_failed(Progress *p, int exit_code);

/* CreateKey(node, type, subject, password), the signer, ApplyCert(node, type, chain): three
 * steps. On success ret_info holds the applied certificate. Returns an exit code. */
int issue_certificate(Progress *p, Signer *signer, const char *node, const char *node_id, const char *type,
                      const char *subject, const char *password, CertView *ret_info);

/* {"nodeId":"...","certificates":[info...]} for --json. */
void issue_print_json(const char *node_id, const CertView *certs, size_t n);
