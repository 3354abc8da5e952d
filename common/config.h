/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The suite's one configuration file: /etc/aos/iam.conf, then iam.conf.d/ *.conf beside it in
 * lexical order (later keys win; a [Module TYPE] section in a drop-in adds to or overrides the
 * same module). Parsed with inih. Every daemon loads the whole file and uses its sections.
 *
 * Booleans are yes/no (also true/false, 1/0, on/off); lists are space-separated; durations
 * are a number with an optional "s", "sec" or "min" suffix (seconds without one).
 * Errors name file, line, section, key and why: "/etc/aos/iam.conf:12: [Module iam] MaxItems:
 * '9' is out of range 1..5". Unknown keys in a known section are errors (typos must not pass
 * silently); unknown sections are ignored so that newer files work with older daemons.
 * Every daemon validates the whole file, so a mistake in any section stops all of them: a
 * half-valid configuration is not run. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/aos/iam.conf"
#define CONFIG_MODULES_MAX 8
#define CONFIG_MAX_ITEMS_MAX 5

typedef enum ModulePlugin {
        MODULE_PLUGIN_PKCS11,
        MODULE_PLUGIN_TPM,
        MODULE_PLUGIN_SW,
        _MODULE_PLUGIN_MAX,
} ModulePlugin;

typedef enum KeyAlgorithm {
        KEY_ALGORITHM_ECDSA, /* P-384 */
        KEY_ALGORITHM_RSA,   /* 2048 */
        _KEY_ALGORITHM_MAX,
} KeyAlgorithm;

const char *module_plugin_to_string(ModulePlugin p);
int module_plugin_from_string(const char *s); /* -EINVAL if unknown */
const char *key_algorithm_to_string(KeyAlgorithm a);
int key_algorithm_from_string(const char *s);

typedef struct ModuleConfig {
        char *type;             /* the section's TYPE: [a-z0-9_-]{1,32} */
        ModulePlugin plugin;    /* default pkcs11 */
        KeyAlgorithm algorithm; /* default ecdsa */
        unsigned max_items;     /* default 2; 1..5, >= 2 unless self_signed */
        char **extended_key_usage; /* "serverAuth"/"clientAuth", config order, no duplicates; never NULL */
        char **alternative_names;  /* DNS names; never NULL (empty list by default) */
        bool skip_validation;
        bool self_signed;
        bool disabled;
        char *pkcs11_library;   /* NULL: p11-kit's configured modules */
        char *token_label;      /* default "aoscore" */
        char *user_pin_file;    /* default "/var/lib/aos/<token_label>.pin" */
        char *tcti;             /* default "device:/dev/tpmrm0" */
} ModuleConfig;

typedef struct CertdConfig {
        char *ca_cert;     /* default /etc/aos/ca.pem */
        char *database;    /* default /var/lib/aos/certd.db */
        char *storage_dir; /* default /var/lib/aos/certs */
        ModuleConfig *modules; /* in config order; disabled modules are kept with disabled=true */
        size_t n_modules;
} CertdConfig;

typedef struct NodeConfig {
        char *id;          /* default: contents of /etc/machine-id */
        char *title;       /* default: "" */
        char *type;        /* default: "" */
        bool main_node;    /* default yes */
        char *state_file;  /* default /var/lib/aos/provisioning.state */
} NodeConfig;

typedef struct ProvisioningConfig {
        char **start_command;           /* argv, split on white space; NULL if unset */
        char **disk_encryption_command;
        char **finish_command;
        char **deprovision_command;
        uint64_t hook_timeout_usec;     /* default 60 s */
} ProvisioningConfig;

typedef struct NodeLinkConfig {
        char *listen_protected; /* default "[::]:8089" */
        char *listen_bootstrap; /* default "[::]:8090" */
        char *main_protected;   /* default "main.local:8089" */
        char *main_bootstrap;   /* default "main.local:8090" */
        char *cert_type;        /* default "iam" */
        uint64_t keepalive_usec;     /* default 5 s */
        uint64_t reconnect_max_usec; /* default 30 s */
        uint64_t call_timeout_usec;          /* CallTimeoutSec=, default 60 s */
        uint64_t provisioning_timeout_usec;  /* ProvisioningTimeoutSec=, default 300 s */
        char *state_dir;        /* StateDir=, default /var/lib/aos/nodelink: the bootstrap key and certificate */
} NodeLinkConfig;

typedef struct AosConfig {
        CertdConfig certd;
        NodeConfig node;
        ProvisioningConfig provisioning;
        NodeLinkConfig nodelink;
} AosConfig;

/* Loads path and its drop-in directory "<path>.d/". On failure returns negative errno and,
 * when ret_error is given, a message naming file:line, section, key and why (caller frees).
 * A missing main file is -ENOENT (with a message) unless allow_missing is set, in which case
 * the defaults and the drop-ins are used. Validates everything, including the module rules
 * (at most CONFIG_MODULES_MAX modules, MaxItems, unique types). */
int config_load(const char *path, bool allow_missing, AosConfig **ret, char **ret_error);
AosConfig *config_free(AosConfig *c);
static inline void config_freep(AosConfig **c) {
        if (*c)
                config_free(*c);
}

const ModuleConfig *config_find_module(const CertdConfig *c, const char *type);

/* Parses "30", "30s", "2min" into µs. */
int parse_duration(const char *s, uint64_t *ret_usec);
/* "yes"/"no", "true"/"false", "1"/"0", "on"/"off"; -EINVAL otherwise. */
int parse_boolean(const char *s);
