/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aosctl: the dispatch table (which also renders --help), the options every command shares and
 * the bus helpers. Each command lives in its own file. */

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aos-build-config.h"
#include "aosctl.h"
#include "bus-error.h"
#include "macro.h"

typedef struct Verb {
        const char *name;
        const char *args;
        const char *help;
        const char *options; /* the command's own options, as lines of --help */
        AosctlVerb run;
} Verb;

#define OPT_NODE "     --node ID                 The node (default: this node); others are reached over the node link\n"
#define OPT_NODE_READ "     --node ID                 A secondary node of this (main) node, read over the node link\n"
#define OPT_PASSWORD "     --password-file FILE      Read the provisioning password from FILE (not readable by others)\n"
#define OPT_SIGNER                                                                                             \
        "     --ca-cert FILE            The signing CA's certificate (then its issuers), appended to each chain\n" \
        "     --ca-key FILE|URL         The signing CA's key: a PEM file or a file:/pkcs11: key URL\n"           \
        "     --days N                  Validity of the certificates with --ca-key (default 365)\n"              \
        "     --sign-command CMD        Sign with CMD instead: /bin/sh -c CMD, CSR on stdin, chain on stdout,\n"   \
        "                               $AOS_CERT_TYPE and $AOS_NODE_ID set\n"

static const Verb verbs[] = {
        { "status", "", "Show the node's state and its current certificates", OPT_NODE_READ, verb_status },
        { "certs", "[TYPE]", "List the stored certificates (of one type)", OPT_NODE_READ, verb_certs },
        { "nodes", "", "List the nodes connected to this node's link (aos-nodelinkd)", "", verb_nodes },
        { "provision", "--ca-cert FILE --ca-key FILE | --sign-command CMD",
          "Provision the node: start, a key and certificate for every type, finish",
          OPT_NODE OPT_PASSWORD OPT_SIGNER
          "     --subject CN              Subject CN of the certificates (default: the node id)\n"
          "     --expect-fingerprint F    Refuse unless the node's link certificate has SHA-256 F\n",
          verb_provision },
        { "deprovision", "", "Remove the node's identity (keys, certificates, state)", OPT_NODE OPT_PASSWORD,
          verb_deprovision },
        { "pause", "", "Take a provisioned node out of service", OPT_NODE, verb_pause },
        { "resume", "", "Put a paused node back into service", OPT_NODE, verb_resume },
        { "create-key", "TYPE", "Make a new key of TYPE and print its CSR",
          OPT_NODE OPT_PASSWORD
          "     --subject CN              Subject CN of the request (default: the node id)\n"
          "  -o --output FILE             Write the CSR to FILE instead of stdout\n",
          verb_create_key },
        { "apply-cert", "TYPE FILE", "Apply a certificate chain (PEM, leaf first; - for stdin) to TYPE", OPT_NODE,
          verb_apply_cert },
        { "renew", "TYPE...", "Make a new key and certificate for each TYPE on a provisioned node",
          OPT_NODE OPT_PASSWORD OPT_SIGNER
          "     --subject CN              Subject CN of the certificates (default: the node id)\n",
          verb_renew },
        { "watch", "", "Print certificate and node state changes as they happen",
          "     --count N                 Exit after N signals\n", verb_watch },
};

static const char common_options[] =
        "  -h --help                    Show this help\n"
        "     --json                    Print data as JSON\n"
        "     --no-ask-password         Never let polkit ask for authentication\n";

static const char exit_status[] =
        "\nExit status: 0 success, 1 the operation failed (a daemon refused, signing failed),\n"
        "2 bad usage or an unusable input file, 3 a daemon or the bus is not reachable.\n";

static void help(void) {
        printf("aosctl [OPTIONS...] COMMAND ...\n\n"
               "Control the node's identity: keys, certificates and provisioning.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char left[64];
                snprintf(left, sizeof left, "%s %s", verbs[i].name, verbs[i].args);
                if (strlen(left) > 28)
                        printf("  %s\n  %-28s %s\n", left, "", verbs[i].help);
                else
                        printf("  %-28s %s\n", left, verbs[i].help);
        }
        printf("\nOptions:\n%s", common_options);
        printf("     --version                 Show the version\n");
        printf("\nSee 'aosctl COMMAND --help' for a command's options, and aosctl(1).\n%s", exit_status);
}

void aosctl_verb_help(const char *verb) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (!streq(verbs[i].name, verb))
                        continue;
                printf("aosctl %s [OPTIONS...] %s\n\n%s.\n\nOptions:\n%s%s", verbs[i].name, verbs[i].args,
                       verbs[i].help, verbs[i].options, common_options);
                printf("%s", exit_status);
                return;
        }
}

int aosctl_usage_error(AosctlContext *ctx, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "aosctl %s: ", ctx->verb ?: "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return AOSCTL_EXIT_USAGE;
}

int aosctl_fail(AosctlContext *ctx, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "aosctl %s: ", ctx->verb ?: "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return AOSCTL_EXIT_FAILURE;
}

bool aosctl_common_option(AosctlContext *ctx, int c, int *ret_exit) {
        switch (c) {
        case 'h':
                aosctl_verb_help(ctx->verb);
                *ret_exit = AOSCTL_EXIT_SUCCESS;
                return true;
        case ARG_JSON:
                ctx->json = true;
                return false;
        case ARG_NO_ASK_PASSWORD:
                ctx->no_ask_password = true;
                return false;
        default:
                /* getopt printed what was wrong. */
                fprintf(stderr, "See 'aosctl %s --help'.\n", ctx->verb);
                *ret_exit = AOSCTL_EXIT_USAGE;
                return true;
        }
}

int aosctl_parse_node_option(AosctlContext *ctx, int argc, char *argv[], const char **ret_node) {
        int r = aosctl_parse_node_option_args(ctx, argc, argv, ret_node);
        if (r != AOSCTL_PARSE_GO_ON)
                return r;
        if (optind < argc)
                return aosctl_usage_error(ctx, "takes no arguments");
        return AOSCTL_PARSE_GO_ON;
}

int aosctl_parse_node_option_args(AosctlContext *ctx, int argc, char *argv[], const char **ret_node) {
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                { "node", required_argument, NULL, ARG_NODE },
                {}
        };
        int c, r;

        *ret_node = NULL;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_NODE:
                        if (isempty(optarg))
                                return aosctl_usage_error(ctx, "--node needs a node id");
                        *ret_node = optarg;
                        break;
                default:
                        if (aosctl_common_option(ctx, c, &r))
                                return r;
                }
        return AOSCTL_PARSE_GO_ON;
}

/* Connects on first use; a failure is reported in error as NoServer, which counts as unreachable. */
static int bus_connect(AosctlContext *ctx, sd_bus **ret, sd_bus_error *error) {
        if (!ctx->bus) {
                int r = sd_bus_open_system_with_description(&ctx->bus, "aosctl");
                if (r < 0) {
                        const char *address = getenv("DBUS_SYSTEM_BUS_ADDRESS");
                        ctx->bus = NULL;
                        return sd_bus_error_setf(error, SD_BUS_ERROR_NO_SERVER, "cannot connect to the system bus%s%s: %s",
                                                 address ? " at " : "", strempty(address), strerror(-r));
                }
        }
        *ret = ctx->bus;
        return 0;
}

int aosctl_bus(AosctlContext *ctx, sd_bus **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = bus_connect(ctx, ret, &error);
        if (r < 0) {
                fprintf(stderr, "aosctl: %s\n", strempty(error.message));
                return -AOSCTL_EXIT_UNREACHABLE;
        }
        return 0;
}

int aosctl_call(AosctlContext *ctx, const char *dest, const char *path, const char *iface, const char *member,
                uint64_t timeout_usec, bool sensitive, sd_bus_error *error, sd_bus_message **ret_reply,
                const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = aosctl_callv(ctx, dest, path, iface, member, timeout_usec, sensitive, error, ret_reply, types, ap);
        va_end(ap);
        return r;
}

int aosctl_callv(AosctlContext *ctx, const char *dest, const char *path, const char *iface, const char *member,
                 uint64_t timeout_usec, bool sensitive, sd_bus_error *error, sd_bus_message **ret_reply,
                 const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus *bus;
        int r;

        r = bus_connect(ctx, &bus, error);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_call(bus, &m, dest, path, iface, member);
        if (r < 0)
                return r;
        if (sensitive) {
                r = sd_bus_message_sensitive(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_set_allow_interactive_authorization(m, !ctx->no_ask_password && isatty(STDIN_FILENO));
        if (r < 0)
                return r;
        if (!isempty(types)) {
                r = sd_bus_message_appendv(m, types, ap);
                if (r < 0)
                        return r;
        }
        return sd_bus_call(bus, m, timeout_usec, error, ret_reply);
}

bool aosctl_error_is_unreachable(const sd_bus_error *error) {
        if (!error || !error->name)
                return false;
        return streq(error->name, SD_BUS_ERROR_SERVICE_UNKNOWN) || streq(error->name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) ||
               streq(error->name, SD_BUS_ERROR_NO_REPLY) || streq(error->name, SD_BUS_ERROR_TIMEOUT) ||
               streq(error->name, SD_BUS_ERROR_NO_SERVER) || streq(error->name, SD_BUS_ERROR_DISCONNECTED) ||
               streq(error->name, SD_BUS_ERROR_UNKNOWN_OBJECT);
}

/* What a call fails with when there is no connection or no answer at all. */
static bool errno_is_unreachable(int r) {
        r = r < 0 ? -r : r;
        return r == ECONNREFUSED || r == ECONNRESET || r == ENOTCONN || r == ETIMEDOUT || r == EPIPE ||
               r == ENOENT || r == EHOSTDOWN;
}

int aosctl_bus_error(const char *what, const sd_bus_error *error, int r) {
        if (error && error->name) {
                fprintf(stderr, "aosctl: %s: %s: %s\n", what, error->name, strempty(error->message));
                return aosctl_error_is_unreachable(error) ? AOSCTL_EXIT_UNREACHABLE : AOSCTL_EXIT_FAILURE;
        }
        fprintf(stderr, "aosctl: %s: %s\n", what, strerror(r < 0 ? -r : r));
        if (errno_is_unreachable(r))
                return AOSCTL_EXIT_UNREACHABLE;
        return AOSCTL_EXIT_FAILURE;
}

int aosctl_resolve_node_id(AosctlContext *ctx, const char *node, char **ret_id, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *id;
        sd_bus *bus;
        int r;

        if (!isempty(node)) {
                *ret_id = strdup(node);
                return *ret_id ? 0 : -ENOMEM;
        }
        r = bus_connect(ctx, &bus, error);
        if (r < 0)
                return r;
        r = sd_bus_get_property(bus, PROV_DEST, PROV_PATH, PROV_IFACE, "NodeId", error, &reply, "s");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &id);
        if (r < 0)
                return r;
        if (isempty(id))
                return sd_bus_error_set_const(error, SD_BUS_ERROR_INVALID_ARGS, "the daemon reports an empty NodeId");
        *ret_id = strdup(id);
        return *ret_id ? 0 : -ENOMEM;
}

int main(int argc, char *argv[]) {
        AosctlContext ctx = {};
        enum { ARG_VERSION = 0x1000 };
        static const struct option options[] = {
                AOSCTL_COMMON_OPTIONS,
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c, r;

        (void) aos_bus_error_init();
        /* Options before the command; the command parses its own (and these again). */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return AOSCTL_EXIT_SUCCESS;
                case ARG_VERSION:
                        puts("aosctl " AOS_VERSION);
                        return AOSCTL_EXIT_SUCCESS;
                case ARG_JSON:
                        ctx.json = true;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        ctx.no_ask_password = true;
                        break;
                default:
                        fprintf(stderr, "See 'aosctl --help'.\n");
                        return AOSCTL_EXIT_USAGE;
                }
        if (optind >= argc) {
                help();
                return AOSCTL_EXIT_USAGE;
        }
        const char *name = argv[optind];
        if (streq(name, "help")) {
                help();
                return AOSCTL_EXIT_SUCCESS;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name)) {
                        ctx.verb = verbs[i].name;
                        int verb_argc = argc - optind;
                        char **verb_argv = argv + optind;
                        optind = 0; /* the command's getopt starts afresh */
                        r = verbs[i].run(&ctx, verb_argc, verb_argv);
                        (void) fflush(stdout);
                        sd_bus_flush_close_unref(ctx.bus);
                        if (ferror(stdout) && r == 0) {
                                fprintf(stderr, "aosctl %s: cannot write the output\n", name);
                                r = AOSCTL_EXIT_FAILURE;
                        }
                        return r < 0 ? -r : r;
                }
        fprintf(stderr, "aosctl: unknown command '%s'; see aosctl --help\n", name);
        return AOSCTL_EXIT_USAGE;
}
