/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* aosctl: the command line of aos-iam. One subcommand per file, dispatched from the table in
 * aosctl.c, which also renders --help.
 * Exit codes (documented in docs/aosctl.1):
 *   0 success,
 *   1 the operation failed: a daemon refused or failed (its error name and text are printed),
 *     or signing, a fingerprint check or a sign command failed,
 *   2 bad usage: unknown command or option, a missing or malformed argument, an input file
 *     (CA, chain, password) that cannot be used,
 *   3 a daemon (or the bus) is not reachable. */

#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "macro.h"

#define AOSCTL_EXIT_SUCCESS 0
#define AOSCTL_EXIT_FAILURE 1
#define AOSCTL_EXIT_USAGE 2
#define AOSCTL_EXIT_UNREACHABLE 3

#define CERTS_DEST "org.aosedge.Certs1"
#define CERTS_PATH "/org/aosedge/Certs1"
#define CERTS_IFACE "org.aosedge.Certs1.Manager"
#define PROV_DEST "org.aosedge.Provisioning1"
#define PROV_PATH "/org/aosedge/Provisioning1"
#define PROV_IFACE "org.aosedge.Provisioning1.Manager"
#define NODELINK_DEST "org.aosedge.NodeLink1"
#define NODELINK_PATH "/org/aosedge/NodeLink1"
#define NODELINK_IFACE "org.aosedge.NodeLink1.Manager"

/* Method call timeouts: StartProvisioning, FinishProvisioning and Deprovision may take the node
 * link's 5 minutes (plus hooks) before the daemon answers; the rest 2 minutes at most. */
#define AOSCTL_TIMEOUT_LONG_USEC (330 * USEC_PER_SEC)
#define AOSCTL_TIMEOUT_USEC (120 * USEC_PER_SEC)

typedef struct AosctlContext {
        bool json;
        bool no_ask_password;
        const char *verb; /* the command running, for messages */
        sd_bus *bus;
} AosctlContext;

typedef int (*AosctlVerb)(AosctlContext *ctx, int argc, char *argv[]);

/* Long options without a short form; every command accepts AOSCTL_COMMON_OPTIONS (after the
 * command name, too). */
enum {
        ARG_JSON = 0x100,
        ARG_NO_ASK_PASSWORD,
        /* the commands' own options */
        ARG_NODE,
        ARG_PASSWORD_FILE,
        ARG_SUBJECT,
        ARG_CA_CERT,
        ARG_CA_KEY,
        ARG_SIGN_COMMAND,
        ARG_DAYS,
        ARG_EXPECT_FINGERPRINT,
        ARG_COUNT,
};
#define AOSCTL_COMMON_OPTIONS                                                   \
        { "help", no_argument, NULL, 'h' },                                     \
        { "json", no_argument, NULL, ARG_JSON },                                \
        { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD }

/* Handles an option of AOSCTL_COMMON_OPTIONS (and getopt's '?') in a command's getopt loop.
 * Returns true when the command must stop and return *ret_exit (0 after --help, 2 after a bad
 * option). */
bool aosctl_common_option(AosctlContext *ctx, int c, int *ret_exit);
/* Prints a command's synopsis and options, from the table in aosctl.c. */
void aosctl_verb_help(const char *verb);
/* "aosctl VERB: message" on stderr, returns AOSCTL_EXIT_USAGE. */
_printf_(2, 3) int aosctl_usage_error(AosctlContext *ctx, const char *fmt, ...);
/* "aosctl VERB: message" on stderr, returns AOSCTL_EXIT_FAILURE. */
_printf_(2, 3) int aosctl_fail(AosctlContext *ctx, const char *fmt, ...);

/* For commands whose only option is --node: parses argv (no arguments allowed). Returns
 * AOSCTL_PARSE_GO_ON, or the exit code the command returns (after --help or bad usage). */
#define AOSCTL_PARSE_GO_ON (-1)
int aosctl_parse_node_option(AosctlContext *ctx, int argc, char *argv[], const char **ret_node);
/* The same for commands that take arguments: they are left at argv[optind]... */
int aosctl_parse_node_option_args(AosctlContext *ctx, int argc, char *argv[], const char **ret_node);

/* The system bus ($DBUS_SYSTEM_BUS_ADDRESS honoured), connected on first use; on failure the
 * message is printed and -AOSCTL_EXIT_UNREACHABLE returned. (aosctl_call() connects by itself
 * and reports a failure to connect as org.freedesktop.DBus.Error.NoServer.) */
int aosctl_bus(AosctlContext *ctx, sd_bus **ret);

/* Calls a method with the given timeout. The allow-interactive-authorization flag is set when
 * stdin is a terminal and --no-ask-password was not given, so that polkit can ask. A message
 * that carries a password is marked sensitive (sd-bus erases it when freed). */
int aosctl_call(AosctlContext *ctx, const char *dest, const char *path, const char *iface, const char *member,
                uint64_t timeout_usec, bool sensitive, sd_bus_error *error, sd_bus_message **ret_reply,
                const char *types, ...);
int aosctl_callv(AosctlContext *ctx, const char *dest, const char *path, const char *iface, const char *member,
                 uint64_t timeout_usec, bool sensitive, sd_bus_error *error, sd_bus_message **ret_reply,
                 const char *types, va_list ap);

/* The error is one that says the daemon (or the bus) is not there, rather than a refusal. */
bool aosctl_error_is_unreachable(const sd_bus_error *error);
/* Prints "aosctl: <what>: <error name>: <message>" and returns the exit code for it
 * (AOSCTL_EXIT_UNREACHABLE or AOSCTL_EXIT_FAILURE). */
int aosctl_bus_error(const char *what, const sd_bus_error *error, int r);

/* The id of the node a command works on, for subjects and messages: --node when given, else
 * the local node's id (Provisioning1 NodeId). */
int aosctl_resolve_node_id(AosctlContext *ctx, const char *node, char **ret_id, sd_bus_error *error);

/* Reads a string variant ("v" holding "s") into *field (replacing what was there). */
int aosctl_read_string_variant(sd_bus_message *m, char **field);
/* A string member (char *) of a struct that a dict (a{sv}) fills: the dict key, the JSON name
 * (where one is printed) and the member's offset. */
typedef struct AosctlStringField {
        const char *key, *json;
        size_t offset;
} AosctlStringField;
#define AOSCTL_STRING_FIELD(type, member, key, json) { key, json, offsetof(type, member) }
static inline char **aosctl_string_field(const AosctlStringField *f, const void *obj) {
        return (char **) ((uintptr_t) obj + f->offset);
}
/* Reads the string variant of dict entry key into the member of obj that fields has for key
 * and returns 1; 0 when fields has no such key. */
int aosctl_read_string_field(sd_bus_message *m, const char *key, const AosctlStringField *fields, size_t n_fields,
                             void *obj);
/* Frees (and unsets) every member of obj that fields name. */
void aosctl_free_string_fields(const AosctlStringField *fields, size_t n_fields, void *obj);

/* Reads a dict (a{sv}) from m: for each entry, entry() is called with m at the entry's value
 * (the variant), which it reads and returns 1, or returns 0 to have it skipped, or a negative
 * errno to stop. */
typedef int (*AosctlDictEntry)(sd_bus_message *m, const char *key, void *userdata);
int aosctl_read_dict(sd_bus_message *m, AosctlDictEntry entry, void *userdata);

/* A node as org.aosedge.NodeLink1 lists it (ListNodes, node info a{sv}). */
typedef struct NodeInfo {
        char *id, *title, *type, *state, *channel, *peer_address, *peer_subject, *peer_fingerprint;
        bool connected;
        uint64_t since; /* µs since the epoch */
} NodeInfo;

typedef struct NodeList {
        NodeInfo *items;
        size_t n;
} NodeList;

void node_info_done(NodeInfo *n);
void node_list_done(NodeList *l);
/* Calls ListNodes on this node's aos-nodelinkd; the nodes sorted by id. A failed call leaves
 * its error in error; a malformed reply returns a negative errno with error unset. */
int node_list_get(AosctlContext *ctx, NodeList *ret, sd_bus_error *error);
NodeInfo *node_list_find(const NodeList *l, const char *id);

/* Where the certificates of a node are read (org.aosedge.Certs1.Manager): this node's
 * aos-certd, or with --node the node's object of aos-nodelinkd on this (main) node, which
 * forwards GetCertTypes, GetCert and ListCerts to the node's own aos-certd. */
typedef struct CertsTarget {
        const char *node; /* NULL: this node */
        const char *dest;
        char *path;
        NodeInfo info; /* with node: its entry in ListNodes */
} CertsTarget;

/* Sets up t for node (NULL: this node). With a node it must be in ListNodes: otherwise the
 * reason is printed and the exit code returned (1 when it is not connected, 3 when
 * aos-nodelinkd is not there). Returns AOSCTL_PARSE_GO_ON when t is ready. */
int certs_target_open(AosctlContext *ctx, const char *node, CertsTarget *t);
void certs_target_done(CertsTarget *t);
/* A method of org.aosedge.Certs1.Manager on the target. */
int certs_target_call(AosctlContext *ctx, const CertsTarget *t, const char *member, sd_bus_error *error,
                      sd_bus_message **ret_reply, const char *types, ...);
/* The exit code a failed call on the target means: like aosctl_bus_error(), except that a
 * node object that is gone (the node disconnected meanwhile) is a failure, not unreachable. */
int certs_target_exit_code(const CertsTarget *t, const sd_bus_error *error);
/* Prints the failure of a call on the target ("aosctl: what: name: message", or that the node
 * is no longer connected) and returns its exit code. */
int certs_target_error(const CertsTarget *t, const char *what, const sd_bus_error *error, int r);

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
/* A JSON string (quotes, escapes). */
void json_print_string(FILE *f, const char *s);
/* The info as one JSON object: type, subject, issuer, serial, notBefore, notAfter (µs),
 * daysLeft, fingerprint, certURL, keyURL. */
void cert_view_print_json(FILE *f, const CertView *v);
/* "2030-01-01 12:00" (UTC) */
void cert_view_format_date(uint64_t usec, char buf[static 32]);
/* The info as "Key: value" lines, indented by indent spaces. */
void cert_view_print_text(FILE *f, const CertView *v, unsigned indent);

int verb_status(AosctlContext *ctx, int argc, char *argv[]);
int verb_certs(AosctlContext *ctx, int argc, char *argv[]);
int verb_provision(AosctlContext *ctx, int argc, char *argv[]);
int verb_deprovision(AosctlContext *ctx, int argc, char *argv[]);
int verb_pause(AosctlContext *ctx, int argc, char *argv[]);
int verb_resume(AosctlContext *ctx, int argc, char *argv[]);
int verb_create_key(AosctlContext *ctx, int argc, char *argv[]);
int verb_apply_cert(AosctlContext *ctx, int argc, char *argv[]);
int verb_renew(AosctlContext *ctx, int argc, char *argv[]);
int verb_watch(AosctlContext *ctx, int argc, char *argv[]);
int verb_nodes(AosctlContext *ctx, int argc, char *argv[]);
