/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aos-build-config.h"
#include "aosctl.h"
#include "bus-error.h"
#include "macro.h"

typedef struct Verb {
        const char *name;
        const char *args;
        const char *help;
        AosctlVerb run;
} Verb;

static const Verb verbs[] = {
        { "certs", "[TYPE]", "List the stored certificates (of one type)", verb_certs },
};

static void help(void) {
        printf("aosctl [OPTIONS...] COMMAND ...\n\n"
               "Control the node's identity: keys, certificates and provisioning.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char left[64];
                snprintf(left, sizeof left, "%s %s", verbs[i].name, verbs[i].args);
                printf("  %-28s %s\n", left, verbs[i].help);
        }
        printf("\nOptions:\n"
               "  -h --help                    Show this help\n"
               "     --version                 Show the version\n"
               "     --json                    Print data as JSON\n"
               "\nExit status: 0 success, 1 the daemon refused or failed, 2 bad usage,\n"
               "3 the daemon is not reachable.\n");
}

int aosctl_bus(AosctlContext *ctx, sd_bus **ret) {
        if (!ctx->bus) {
                int r = sd_bus_open_system_with_description(&ctx->bus, "aosctl");
                if (r < 0) {
                        fprintf(stderr, "aosctl: cannot connect to the system bus: %s\n", strerror(-r));
                        return -AOSCTL_EXIT_UNREACHABLE;
                }
        }
        *ret = ctx->bus;
        return 0;
}

int aosctl_bus_error(const char *what, const sd_bus_error *error, int r) {
        if (error && error->name) {
                fprintf(stderr, "aosctl: %s: %s: %s\n", what, error->name, strempty(error->message));
                if (streq(error->name, SD_BUS_ERROR_SERVICE_UNKNOWN) || streq(error->name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) ||
                    streq(error->name, SD_BUS_ERROR_NO_REPLY) || streq(error->name, SD_BUS_ERROR_TIMEOUT))
                        return AOSCTL_EXIT_UNREACHABLE;
                return AOSCTL_EXIT_FAILURE;
        }
        fprintf(stderr, "aosctl: %s: %s\n", what, strerror(r < 0 ? -r : r));
        return AOSCTL_EXIT_FAILURE;
}

int main(int argc, char *argv[]) {
        AosctlContext ctx = {};
        enum { ARG_VERSION = 0x100, ARG_JSON };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", no_argument, NULL, ARG_JSON },
                {}
        };
        int c;

        (void) aos_bus_error_init();
        /* Options before the command only; the command parses its own. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("aosctl " AOS_VERSION);
                        return 0;
                case ARG_JSON:
                        ctx.json = true;
                        break;
                default:
                        return AOSCTL_EXIT_USAGE;
                }
        if (optind >= argc) {
                help();
                return AOSCTL_EXIT_USAGE;
        }
        const char *name = argv[optind];
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name)) {
                        optind++;
                        int r = verbs[i].run(&ctx, argc - optind + 1, argv + optind - 1);
                        sd_bus_flush_close_unref(ctx.bus);
                        return r < 0 ? -r : r;
                }
        fprintf(stderr, "aosctl: unknown command '%s'; see aosctl --help\n", name);
        return AOSCTL_EXIT_USAGE;
}
