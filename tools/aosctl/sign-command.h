/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* --sign-command: the hook for a CA aosctl has no key for (a cloud or an enterprise CA).
 * The command runs as `/bin/sh -c COMMAND` with the CSR (PEM) on its stdin and the environment
 * variables AOS_CERT_TYPE and AOS_NODE_ID set, and writes the chain (PEM, leaf first) on its
 * stdout; its stderr goes to aosctl's. It gets no password. */

/* Runs the command and returns what it printed, which must parse as a certificate chain. A
 * non-zero exit, a signal, no output or output that is not a chain is an error whose reason
 * names the type. */
int sign_command_run(const char *command, const char *type, const char *node_id, const char *csr_pem,
                     char **ret_chain_pem, char **ret_reason);
