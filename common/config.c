/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"
#include "fs.h"
#include "macro.h"

/* How a file is read: inih splits "Key=value" lines and trims them; everything around that is
 * done here, the same way whatever options the installed inih was built with. Our reader hands
 * inih one physical line at a time, so we always know the line number (inih 55 does not pass
 * it to the handler). Before handing a line over it removes leading white space (so inih never
 * takes an indented line for a continuation of the previous value), the UTF-8 BOM and comments
 * (a line starting with '#' or ';', and from a '#' or ';' preceded by white space to the end of
 * the line), and it parses section headers itself. Values are only collected while reading,
 * with the file and line that set them; they are converted and checked once every file has
 * been read, so that a drop-in can correct a value of the main file. */

#define CONFIG_FILE_MAX (1024U * 1024U)
#define MACHINE_ID_PATH "/etc/machine-id"
#define MODULE_TYPE_MAX 32
#define NODE_ID_MAX 64
#define TOKEN_LABEL_MAX 32 /* CK_TOKEN_INFO.label */
#define DNS_NAME_MAX 253

typedef enum CertdKey {
        CERTD_KEY_CA_CERT,
        CERTD_KEY_DATABASE,
        CERTD_KEY_STORAGE_DIR,
        _CERTD_KEY_MAX,
} CertdKey;

static const char *const certd_keys[_CERTD_KEY_MAX] = {
        [CERTD_KEY_CA_CERT] = "CACert",
        [CERTD_KEY_DATABASE] = "Database",
        [CERTD_KEY_STORAGE_DIR] = "StorageDir",
};

typedef enum ModuleKey {
        MODULE_KEY_PLUGIN,
        MODULE_KEY_ALGORITHM,
        MODULE_KEY_MAX_ITEMS,
        MODULE_KEY_EXTENDED_KEY_USAGE,
        MODULE_KEY_ALTERNATIVE_NAMES,
        MODULE_KEY_SKIP_VALIDATION,
        MODULE_KEY_SELF_SIGNED,
        MODULE_KEY_DISABLED,
        MODULE_KEY_PKCS11_LIBRARY,
        MODULE_KEY_TOKEN_LABEL,
        MODULE_KEY_USER_PIN_FILE,
        MODULE_KEY_TCTI,
        _MODULE_KEY_MAX,
} ModuleKey;

static const char *const module_keys[_MODULE_KEY_MAX] = {
        [MODULE_KEY_PLUGIN] = "Plugin",
        [MODULE_KEY_ALGORITHM] = "Algorithm",
        [MODULE_KEY_MAX_ITEMS] = "MaxItems",
        [MODULE_KEY_EXTENDED_KEY_USAGE] = "ExtendedKeyUsage",
        [MODULE_KEY_ALTERNATIVE_NAMES] = "AlternativeNames",
        [MODULE_KEY_SKIP_VALIDATION] = "SkipValidation",
        [MODULE_KEY_SELF_SIGNED] = "SelfSigned",
        [MODULE_KEY_DISABLED] = "Disabled",
        [MODULE_KEY_PKCS11_LIBRARY] = "PKCS11Library",
        [MODULE_KEY_TOKEN_LABEL] = "TokenLabel",
        [MODULE_KEY_USER_PIN_FILE] = "UserPINFile",
        [MODULE_KEY_TCTI] = "TCTI",
};

typedef enum NodeKey {
        NODE_KEY_ID,
        NODE_KEY_TITLE,
        NODE_KEY_TYPE,
        NODE_KEY_MAIN_NODE,
        NODE_KEY_STATE_FILE,
        _NODE_KEY_MAX,
} NodeKey;

static const char *const node_keys[_NODE_KEY_MAX] = {
        [NODE_KEY_ID] = "Id",
        [NODE_KEY_TITLE] = "Title",
        [NODE_KEY_TYPE] = "Type",
        [NODE_KEY_MAIN_NODE] = "MainNode",
        [NODE_KEY_STATE_FILE] = "StateFile",
};

typedef enum ProvisioningKey {
        PROVISIONING_KEY_START_COMMAND,
        PROVISIONING_KEY_DISK_ENCRYPTION_COMMAND,
        PROVISIONING_KEY_FINISH_COMMAND,
        PROVISIONING_KEY_DEPROVISION_COMMAND,
        PROVISIONING_KEY_HOOK_TIMEOUT_SEC,
        _PROVISIONING_KEY_MAX,
} ProvisioningKey;

static const char *const provisioning_keys[_PROVISIONING_KEY_MAX] = {
        [PROVISIONING_KEY_START_COMMAND] = "StartCommand",
        [PROVISIONING_KEY_DISK_ENCRYPTION_COMMAND] = "DiskEncryptionCommand",
        [PROVISIONING_KEY_FINISH_COMMAND] = "FinishCommand",
        [PROVISIONING_KEY_DEPROVISION_COMMAND] = "DeprovisionCommand",
        [PROVISIONING_KEY_HOOK_TIMEOUT_SEC] = "HookTimeoutSec",
};

typedef enum NodeLinkKey {
        NODELINK_KEY_LISTEN_PROTECTED,
        NODELINK_KEY_LISTEN_BOOTSTRAP,
        NODELINK_KEY_MAIN_PROTECTED,
        NODELINK_KEY_MAIN_BOOTSTRAP,
        NODELINK_KEY_CERT_TYPE,
        NODELINK_KEY_KEEPALIVE_SEC,
        NODELINK_KEY_RECONNECT_MAX_SEC,
        NODELINK_KEY_CALL_TIMEOUT_SEC,
        NODELINK_KEY_PROVISIONING_TIMEOUT_SEC,
        NODELINK_KEY_STATE_DIR,
        _NODELINK_KEY_MAX,
} NodeLinkKey;

static const char *const nodelink_keys[_NODELINK_KEY_MAX] = {
        [NODELINK_KEY_LISTEN_PROTECTED] = "ListenProtected",
        [NODELINK_KEY_LISTEN_BOOTSTRAP] = "ListenBootstrap",
        [NODELINK_KEY_MAIN_PROTECTED] = "MainProtected",
        [NODELINK_KEY_MAIN_BOOTSTRAP] = "MainBootstrap",
        [NODELINK_KEY_CERT_TYPE] = "CertType",
        [NODELINK_KEY_KEEPALIVE_SEC] = "KeepaliveSec",
        [NODELINK_KEY_RECONNECT_MAX_SEC] = "ReconnectMaxSec",
        [NODELINK_KEY_CALL_TIMEOUT_SEC] = "CallTimeoutSec",
        [NODELINK_KEY_PROVISIONING_TIMEOUT_SEC] = "ProvisioningTimeoutSec",
        [NODELINK_KEY_STATE_DIR] = "StateDir",
};

typedef enum SectionKind {
        SECTION_NONE,    /* before the first section header */
        SECTION_IGNORED, /* a section this version does not know */
        SECTION_CERTD,
        SECTION_MODULE,
        SECTION_NODE,
        SECTION_PROVISIONING,
        SECTION_NODELINK,
} SectionKind;

static const char *const section_names[] = {
        [SECTION_CERTD] = "Certd",
        [SECTION_NODE] = "Node",
        [SECTION_PROVISIONING] = "Provisioning",
        [SECTION_NODELINK] = "NodeLink",
};

/* "Module iam": how a module's section is named in messages. NULL on OOM. */
static char *strjoin_label(const char *kind, const char *type) {
        char *s;
        return asprintf(&s, "%s %s", kind, type) < 0 ? NULL : s;
}

/* One key's raw value and where it was last set. value NULL: never set. */
typedef struct Setting {
        char *value;
        const char *file; /* points into Parser.files */
        unsigned line;
} Setting;

typedef struct RawModule {
        char *type;
        const char *file; /* where its section first appeared */
        unsigned line;
        Setting settings[_MODULE_KEY_MAX];
} RawModule;

typedef struct Parser {
        const char *main_path;
        char **files; /* every file read, owning the names Setting.file points to */

        Setting certd[_CERTD_KEY_MAX];
        Setting node[_NODE_KEY_MAX];
        Setting provisioning[_PROVISIONING_KEY_MAX];
        Setting nodelink[_NODELINK_KEY_MAX];
        RawModule modules[CONFIG_MODULES_MAX];
        size_t n_modules;

        /* The file being read. */
        const char *file;
        const char *next, *end;
        unsigned line;
        SectionKind section;
        size_t module; /* SECTION_MODULE: index into modules */

        /* The first error. */
        int error;
        char *message;
        unsigned error_line; /* in file, 0 if not from reading */
} Parser;

static void setting_done(Setting *s) {
        free(s->value);
        *s = (Setting) {};
}

static void parser_done(Parser *p) {
        for (size_t i = 0; i < _CERTD_KEY_MAX; i++)
                setting_done(&p->certd[i]);
        for (size_t i = 0; i < _NODE_KEY_MAX; i++)
                setting_done(&p->node[i]);
        for (size_t i = 0; i < _PROVISIONING_KEY_MAX; i++)
                setting_done(&p->provisioning[i]);
        for (size_t i = 0; i < _NODELINK_KEY_MAX; i++)
                setting_done(&p->nodelink[i]);
        for (size_t i = 0; i < p->n_modules; i++) {
                free(p->modules[i].type);
                for (size_t k = 0; k < _MODULE_KEY_MAX; k++)
                        setting_done(&p->modules[i].settings[k]);
        }
        strv_free(p->files);
        free(p->message);
}

/* Records the first error as "<file>:<line>: [<section>] <key>: <why>", leaving out what is
 * not known (line 0, no section, no key). Returns error. */
_printf_(7, 8)
static int parser_error(Parser *p, int error, const char *file, unsigned line,
                        const char *section, const char *key, const char *format, ...) {
        if (p->error != 0)
                return p->error;
        p->error = error;
        p->error_line = file == p->file ? line : 0;

        va_list ap;
        va_start(ap, format);
        _cleanup_free_ char *why = NULL;
        int k = vasprintf(&why, format, ap);
        va_end(ap);
        if (k < 0)
                return error; /* no message on OOM; the error stands */

        char lbuf[16] = "";
        if (line > 0)
                (void) snprintf(lbuf, sizeof lbuf, ":%u", line);

        if (asprintf(&p->message, "%s%s: %s%s%s%s%s%s%s",
                     file, lbuf,
                     section ? "[" : "", strempty(section), section ? "]" : "",
                     section && key ? " " : "",
                     strempty(key),
                     section || key ? ": " : "",
                     why) < 0)
                p->message = NULL;
        return error;
}

static bool module_type_is_valid(const char *s) {
        size_t n = strlen(s);
        if (n < 1 || n > MODULE_TYPE_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
                        return false;
        return true;
}

static bool node_id_is_valid(const char *s) {
        size_t n = strlen(s);
        if (n < 1 || n > NODE_ID_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if (!(isascii((unsigned char) *c) && (isalnum((unsigned char) *c) || strchr("._-", *c))))
                        return false;
        return true;
}

/* ---- reading ------------------------------------------------------------------------------ */

static int parser_add_module(Parser *p, const char *type, const char *label) {
        if (!module_type_is_valid(type))
                return parser_error(p, -EINVAL, p->file, p->line, label, NULL,
                                    "invalid module type '%s': expected 1..%d characters of a-z, 0-9, '_' and '-'",
                                    type, MODULE_TYPE_MAX);

        /* The same module in another section or drop-in: its keys add to or override it. */
        for (size_t i = 0; i < p->n_modules; i++)
                if (streq(p->modules[i].type, type)) {
                        p->module = i;
                        return 0;
                }

        if (p->n_modules >= CONFIG_MODULES_MAX)
                return parser_error(p, -EINVAL, p->file, p->line, label, NULL,
                                    "too many modules: at most %d are supported", CONFIG_MODULES_MAX);

        RawModule *m = &p->modules[p->n_modules];
        m->type = strdup(type);
        if (!m->type)
                return parser_error(p, -ENOMEM, p->file, p->line, label, NULL, "out of memory");
        m->file = p->file;
        m->line = p->line;
        p->module = p->n_modules++;
        return 0;
}

/* Called with a line (stripped of white space and comments) that starts with '['. */
static int parser_begin_section(Parser *p, const char *s, size_t len) {
        const char *close = memchr(s, ']', len);
        if (!close)
                return parser_error(p, -EINVAL, p->file, p->line, NULL, NULL,
                                    "section header without closing ']'");
        if (close != s + len - 1)
                return parser_error(p, -EINVAL, p->file, p->line, NULL, NULL,
                                    "unexpected text after ']' of a section header");

        const char *b = s + 1, *e = close;
        while (b < e && isspace((unsigned char) *b))
                b++;
        while (e > b && isspace((unsigned char) e[-1]))
                e--;
        _cleanup_free_ char *name = strndup(b, (size_t) (e - b));
        if (!name)
                return parser_error(p, -ENOMEM, p->file, p->line, NULL, NULL, "out of memory");

        static const SectionKind known[] = { SECTION_CERTD, SECTION_NODE, SECTION_PROVISIONING, SECTION_NODELINK };
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (streq(name, section_names[known[i]])) {
                        p->section = known[i];
                        return 0;
                }

        const char *rest = startswith(name, "Module");
        if (rest && *rest == 0)
                return parser_error(p, -EINVAL, p->file, p->line, name, NULL,
                                    "module section without a type, expected [Module TYPE]");
        if (rest && isspace((unsigned char) *rest)) {
                while (isspace((unsigned char) *rest))
                        rest++;
                int r = parser_add_module(p, rest, name);
                if (r < 0)
                        return r;
                p->section = SECTION_MODULE;
                return 0;
        }

        /* Unknown sections are skipped, so that a newer file works with an older daemon. */
        p->section = SECTION_IGNORED;
        return 0;
}

/* inih's reader: hands out the next physical line, prepared as described at the top. */
static char *config_reader(char *str, int num, void *stream) {
        Parser *p = stream;

        if (p->error != 0 || p->next >= p->end)
                return NULL;

        const char *s = p->next;
        const char *eol = memchr(s, '\n', (size_t) (p->end - s));
        size_t len = eol ? (size_t) (eol - s) : (size_t) (p->end - s);
        p->next = eol ? eol + 1 : p->end;
        p->line++;

        if (p->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
                s += 3;
                len -= 3;
        }
        while (len > 0 && isspace((unsigned char) *s)) {
                s++;
                len--;
        }
        if (len > 0 && (*s == '#' || *s == ';'))
                len = 0;
        for (size_t i = 1; i < len; i++)
                if ((s[i] == '#' || s[i] == ';') && isspace((unsigned char) s[i - 1])) {
                        len = i;
                        break;
                }
        while (len > 0 && isspace((unsigned char) s[len - 1]))
                len--;

        /* Room for the line, '\n' and NUL, as fgets() would need. */
        if (num < 3 || len > (size_t) num - 2) {
                (void) parser_error(p, -EINVAL, p->file, p->line, NULL, NULL,
                                    "line is longer than %d characters", num < 3 ? 0 : num - 2);
                return NULL;
        }

        if (len > 0 && *s == '[' && parser_begin_section(p, s, len) < 0)
                return NULL;

        memcpy(str, s, len);
        str[len] = '\n';
        str[len + 1] = 0;
        return str;
}

static int setting_set(Parser *p, Setting *s, const char *value) {
        char *v = strdup(value);
        if (!v)
                return -ENOMEM;
        free(s->value);
        *s = (Setting) { .value = v, .file = p->file, .line = p->line };
        return 0;
}

/* The keys of a known section and where their values go. */
static int parser_section_keys(Parser *p, Setting **ret_settings, const char *const **ret_keys, size_t *ret_n) {
        switch (p->section) {
        case SECTION_NONE:
        case SECTION_IGNORED:
                return -ENOENT;
        case SECTION_CERTD:
                *ret_settings = p->certd;
                *ret_keys = certd_keys;
                *ret_n = _CERTD_KEY_MAX;
                return 0;
        case SECTION_MODULE:
                *ret_settings = p->modules[p->module].settings;
                *ret_keys = module_keys;
                *ret_n = _MODULE_KEY_MAX;
                return 0;
        case SECTION_NODE:
                *ret_settings = p->node;
                *ret_keys = node_keys;
                *ret_n = _NODE_KEY_MAX;
                return 0;
        case SECTION_PROVISIONING:
                *ret_settings = p->provisioning;
                *ret_keys = provisioning_keys;
                *ret_n = _PROVISIONING_KEY_MAX;
                return 0;
        case SECTION_NODELINK:
                *ret_settings = p->nodelink;
                *ret_keys = nodelink_keys;
                *ret_n = _NODELINK_KEY_MAX;
                return 0;
        }
        return -ENOENT;
}

/* inih's handler. The section is the one our reader saw (inih's copy is the same text). */
static int config_handler(void *user, const char *section_ignored, const char *name, const char *value) {
        Parser *p = user;

        if (p->section == SECTION_NONE) {
                (void) parser_error(p, -EINVAL, p->file, p->line, NULL, name, "key outside of any section");
                return 0;
        }

        Setting *settings;
        const char *const *keys;
        size_t n_keys;
        if (parser_section_keys(p, &settings, &keys, &n_keys) < 0)
                return 1; /* a section this version does not know: skipped */

        _cleanup_free_ char *section = NULL;
        if (p->section == SECTION_MODULE)
                section = strjoin_label("Module", p->modules[p->module].type);
        else
                section = strdup(section_names[p->section]);
        if (!section) {
                (void) parser_error(p, -ENOMEM, p->file, p->line, NULL, NULL, "out of memory");
                return 0;
        }

        if (isempty(name) || !value) { /* no value: only with an inih built with INI_ALLOW_NO_VALUE */
                (void) parser_error(p, -EINVAL, p->file, p->line, section, NULL, "expected Key=value");
                return 0;
        }

        for (size_t i = 0; i < n_keys; i++)
                if (streq(keys[i], name)) {
                        if (setting_set(p, &settings[i], value) < 0) {
                                (void) parser_error(p, -ENOMEM, p->file, p->line, section, name, "out of memory");
                                return 0;
                        }
                        return 1;
                }

        for (size_t i = 0; i < n_keys; i++)
                if (strcasecmp(keys[i], name) == 0) {
                        (void) parser_error(p, -EINVAL, p->file, p->line, section, name,
                                            "unknown key (key names are case-sensitive: did you mean '%s'?)",
                                            keys[i]);
                        return 0;
                }
        (void) parser_error(p, -EINVAL, p->file, p->line, section, name, "unknown key");
        return 0;
}

/* Returns a pointer to line number n (1-based) of text, and its length. */
static const char *text_line(const char *text, unsigned n, size_t *ret_len) {
        const char *s = text;
        for (unsigned i = 1; i < n && s; i++) {
                s = strchr(s, '\n');
                if (s)
                        s++;
        }
        if (!s) {
                *ret_len = 0;
                return "";
        }
        *ret_len = strcspn(s, "\r\n");
        return s;
}

static int parser_read_file(Parser *p, const char *path, bool allow_missing) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r = read_file_full(path, CONFIG_FILE_MAX, &text, &size);
        if (r == -ENOENT && allow_missing)
                return 0;
        if (r == -EFBIG)
                return parser_error(p, r, path, 0, NULL, NULL, "file is larger than %u bytes", CONFIG_FILE_MAX);
        if (r < 0) {
                errno = -r;
                return parser_error(p, r, path, 0, NULL, NULL, "cannot read file: %m");
        }
        if (strlen(text) != size)
                return parser_error(p, -EINVAL, path, 0, NULL, NULL, "file contains a NUL byte");

        r = strv_extend(&p->files, path);
        if (r < 0)
                return parser_error(p, r, path, 0, NULL, NULL, "out of memory");

        p->file = p->files[strv_length(p->files) - 1];
        p->next = text;
        p->end = text + size;
        p->line = 0;
        p->section = SECTION_NONE;

        r = ini_parse_stream(config_reader, p, config_handler, p);

        /* inih returns the first line it failed on, which is also where our handler or reader
         * stopped it if that came first; anything before is a line inih could not parse. */
        if (r > 0 && (p->error == 0 || (unsigned) r < p->error_line)) {
                free(p->message);
                p->message = NULL;
                p->error = 0;
                size_t len;
                const char *l = text_line(text, (unsigned) r, &len);
                return parser_error(p, -EINVAL, p->file, (unsigned) r, NULL, NULL,
                                    "cannot parse '%.*s': expected Key=value, [Section] or a comment",
                                    (int) MIN(len, (size_t) 80), l);
        }
        if (p->error != 0)
                return p->error;
        if (r == -2)
                return parser_error(p, -ENOMEM, p->file, 0, NULL, NULL, "out of memory");
        if (r != 0)
                return parser_error(p, -EIO, p->file, 0, NULL, NULL, "cannot parse file");
        return 0;
}

static bool dropin_name_is_valid(const char *name) {
        size_t n = strlen(name);
        return name[0] != '.' && n > strlen(".conf") && streq(name + n - strlen(".conf"), ".conf");
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "<path>.d/ *.conf": regular files (or links to them), not hidden, in strcmp() order. */
static int parser_read_dropins(Parser *p, const char *path) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s.d", path) < 0)
                return parser_error(p, -ENOMEM, path, 0, NULL, NULL, "out of memory");

        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                int r = -errno;
                return parser_error(p, r, dir, 0, NULL, NULL, "cannot open drop-in directory: %m");
        }

        _cleanup_strv_free_ char **files = NULL;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                int r = -errno;
                                return parser_error(p, r, dir, 0, NULL, NULL, "cannot read drop-in directory: %m");
                        }
                        break;
                }
                if (!dropin_name_is_valid(de->d_name))
                        continue;

                _cleanup_free_ char *f = NULL;
                if (asprintf(&f, "%s/%s", dir, de->d_name) < 0)
                        return parser_error(p, -ENOMEM, dir, 0, NULL, NULL, "out of memory");
                struct stat st;
                if (stat(f, &st) < 0 || !S_ISREG(st.st_mode))
                        continue; /* dangling link, directory, ...: not a drop-in */
                if (strv_extend(&files, f) < 0)
                        return parser_error(p, -ENOMEM, dir, 0, NULL, NULL, "out of memory");
        }

        size_t n = strv_length(files);
        if (n > 1)
                qsort(files, n, sizeof(char *), strcmp_ptr);

        for (size_t i = 0; i < n; i++) {
                int r = parser_read_file(p, files[i], false);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- converting and checking -------------------------------------------------------------- */

/* A key's raw value with everything needed to report on it. */
typedef struct Field {
        Parser *parser;
        const Setting *setting;
        const char *section;
        const char *key;
} Field;

_printf_(2, 3)
static int field_error(const Field *f, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        _cleanup_free_ char *why = NULL;
        int k = vasprintf(&why, format, ap);
        va_end(ap);
        if (k < 0)
                why = NULL;

        /* A default has no line: name the main file. */
        const char *file = f->setting->file ?: f->parser->main_path;
        return parser_error(f->parser, -EINVAL, file, f->setting->line, f->section, f->key, "%s",
                            why ?: "invalid value");
}

/* The value, or NULL when never set or set empty (which means: the default). */
static const char *field_value(const Field *f) {
        return isempty(f->setting->value) ? NULL : f->setting->value;
}

static int field_string(const Field *f, const char *def, char **ret) {
        const char *v = field_value(f) ?: def;
        char *s = NULL;
        if (v) {
                s = strdup(v);
                if (!s)
                        return -ENOMEM;
        }
        *ret = s;
        return 0;
}

static int field_path(const Field *f, const char *def, char **ret) {
        const char *v = field_value(f);
        if (v && v[0] != '/')
                return field_error(f, "'%s' is not an absolute path", v);
        return field_string(f, def, ret);
}

static int field_boolean(const Field *f, bool def, bool *ret) {
        const char *v = field_value(f);
        if (!v) {
                *ret = def;
                return 0;
        }
        int b = parse_boolean(v);
        if (b < 0)
                return field_error(f, "'%s' is not a boolean (yes or no)", v);
        *ret = b;
        return 0;
}

static int field_duration(const Field *f, uint64_t def, uint64_t min, uint64_t *ret) {
        const char *v = field_value(f);
        if (!v) {
                *ret = def;
                return 0;
        }
        uint64_t u;
        if (parse_duration(v, &u) < 0)
                return field_error(f, "'%s' is not a duration (such as 30, 30s or 2min)", v);
        if (u < min)
                return field_error(f, "'%s' is too short: at least %" PRIu64 "s", v, min / USEC_PER_SEC);
        *ret = u;
        return 0;
}

/* argv split on white space, without a shell; NULL when not set. */
static int field_command(const Field *f, char ***ret) {
        const char *v = field_value(f);
        if (!v) {
                *ret = NULL;
                return 0;
        }
        return strv_split_whitespace(v, ret);
}

static int field_list(const Field *f, char ***ret) {
        return strv_split_whitespace(strempty(field_value(f)), ret);
}

/* HOST:PORT with IPv6 addresses in brackets, as in "[::]:8089" or "main.local:8090". */
static bool address_is_valid(const char *s) {
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s)
                return false;

        const char *port = colon + 1;
        if (*port == 0 || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
                return false;
        unsigned long n = strtoul(port, NULL, 10);
        if (n < 1 || n > 65535)
                return false;

        size_t hlen = (size_t) (colon - s);
        if (s[0] == '[')
                return hlen > 2 && s[hlen - 1] == ']' && !memchr(s + 1, ']', hlen - 2);
        for (size_t i = 0; i < hlen; i++)
                if (s[i] == ':' || s[i] == '[' || s[i] == ']' || isspace((unsigned char) s[i]))
                        return false;
        return true;
}

static int field_address(const Field *f, const char *def, char **ret) {
        const char *v = field_value(f);
        if (v && !address_is_valid(v))
                return field_error(f, "'%s' is not HOST:PORT (an IPv6 address in brackets: [::1]:8089)", v);
        return field_string(f, def, ret);
}

static bool dns_name_is_valid(const char *s) {
        size_t n = strlen(s);
        if (n < 1 || n > DNS_NAME_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if (!(isascii((unsigned char) *c) && (isalnum((unsigned char) *c) || strchr(".-_*", *c))))
                        return false;
        return true;
}

static void module_config_done(ModuleConfig *m) {
        free(m->type);
        strv_free(m->extended_key_usage);
        strv_free(m->alternative_names);
        free(m->pkcs11_library);
        free(m->token_label);
        free(m->user_pin_file);
        free(m->tcti);
        *m = (ModuleConfig) {};
}

static int module_from_raw(Parser *p, const RawModule *rm, ModuleConfig *m) {
        _cleanup_free_ char *label = strjoin_label("Module", rm->type);
        if (!label)
                return -ENOMEM;

        Field f[_MODULE_KEY_MAX];
        for (size_t i = 0; i < _MODULE_KEY_MAX; i++)
                f[i] = (Field) { p, &rm->settings[i], label, module_keys[i] };
        const char *v;
        int r;

        m->type = strdup(rm->type);
        if (!m->type)
                return -ENOMEM;

        m->plugin = MODULE_PLUGIN_PKCS11;
        if ((v = field_value(&f[MODULE_KEY_PLUGIN]))) {
                r = module_plugin_from_string(v);
                if (r < 0)
                        return field_error(&f[MODULE_KEY_PLUGIN], "'%s' is not one of pkcs11, tpm, sw", v);
                m->plugin = r;
        }

        m->algorithm = KEY_ALGORITHM_ECDSA;
        if ((v = field_value(&f[MODULE_KEY_ALGORITHM]))) {
                r = key_algorithm_from_string(v);
                if (r < 0)
                        return field_error(&f[MODULE_KEY_ALGORITHM], "'%s' is not one of ecdsa, rsa", v);
                m->algorithm = r;
        }

        r = field_boolean(&f[MODULE_KEY_SKIP_VALIDATION], false, &m->skip_validation);
        if (r < 0)
                return r;
        r = field_boolean(&f[MODULE_KEY_SELF_SIGNED], false, &m->self_signed);
        if (r < 0)
                return r;
        r = field_boolean(&f[MODULE_KEY_DISABLED], false, &m->disabled);
        if (r < 0)
                return r;

        m->max_items = 2;
        if ((v = field_value(&f[MODULE_KEY_MAX_ITEMS]))) {
                if (strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
                        return field_error(&f[MODULE_KEY_MAX_ITEMS], "'%s' is not a number", v);
                unsigned long n = strtoul(v, NULL, 10);
                if (n < 1 || n > CONFIG_MAX_ITEMS_MAX)
                        return field_error(&f[MODULE_KEY_MAX_ITEMS], "'%s' is out of range 1..%d",
                                           v, CONFIG_MAX_ITEMS_MAX);
                if (n < 2 && !m->self_signed)
                        /* Renewal keeps the current certificate while the new one is applied. */
                        return field_error(&f[MODULE_KEY_MAX_ITEMS], "'%s' must be at least 2 unless SelfSigned=yes", v);
                m->max_items = (unsigned) n;
        }

        r = field_list(&f[MODULE_KEY_EXTENDED_KEY_USAGE], &m->extended_key_usage);
        if (r < 0)
                return r;
        for (size_t i = 0; m->extended_key_usage[i]; i++) {
                const char *u = m->extended_key_usage[i];
                if (!streq(u, "serverAuth") && !streq(u, "clientAuth"))
                        return field_error(&f[MODULE_KEY_EXTENDED_KEY_USAGE],
                                           "'%s' is not one of serverAuth, clientAuth", u);
                for (size_t j = 0; j < i; j++)
                        if (streq(m->extended_key_usage[j], u))
                                return field_error(&f[MODULE_KEY_EXTENDED_KEY_USAGE], "'%s' is listed twice", u);
        }

        r = field_list(&f[MODULE_KEY_ALTERNATIVE_NAMES], &m->alternative_names);
        if (r < 0)
                return r;
        for (size_t i = 0; m->alternative_names[i]; i++) {
                const char *n = m->alternative_names[i];
                if (!dns_name_is_valid(n))
                        return field_error(&f[MODULE_KEY_ALTERNATIVE_NAMES], "'%s' is not a DNS name", n);
                for (size_t j = 0; j < i; j++)
                        if (streq(m->alternative_names[j], n))
                                return field_error(&f[MODULE_KEY_ALTERNATIVE_NAMES], "'%s' is listed twice", n);
        }

        r = field_path(&f[MODULE_KEY_PKCS11_LIBRARY], NULL, &m->pkcs11_library);
        if (r < 0)
                return r;

        r = field_string(&f[MODULE_KEY_TOKEN_LABEL], "aoscore", &m->token_label);
        if (r < 0)
                return r;
        if (strlen(m->token_label) > TOKEN_LABEL_MAX)
                return field_error(&f[MODULE_KEY_TOKEN_LABEL], "'%s' is longer than %d bytes",
                                   m->token_label, TOKEN_LABEL_MAX);

        r = field_path(&f[MODULE_KEY_USER_PIN_FILE], NULL, &m->user_pin_file);
        if (r < 0)
                return r;
        if (!m->user_pin_file) {
                const char *l = m->token_label;
                if (strchr(l, '/') || streq(l, ".") || streq(l, ".."))
                        return field_error(&f[MODULE_KEY_TOKEN_LABEL],
                                           "'%s' cannot name the default PIN file: set UserPINFile=", l);
                if (asprintf(&m->user_pin_file, "/var/lib/aos/%s.pin", l) < 0) {
                        m->user_pin_file = NULL;
                        return -ENOMEM;
                }
        }

        r = field_string(&f[MODULE_KEY_TCTI], "device:/dev/tpmrm0", &m->tcti);
        if (r < 0)
                return r;

        return 0;
}

static int certd_from_parser(Parser *p, CertdConfig *c) {
        Field f[_CERTD_KEY_MAX];
        for (size_t i = 0; i < _CERTD_KEY_MAX; i++)
                f[i] = (Field) { p, &p->certd[i], "Certd", certd_keys[i] };
        int r;

        r = field_path(&f[CERTD_KEY_CA_CERT], "/etc/aos/ca.pem", &c->ca_cert);
        if (r < 0)
                return r;
        r = field_path(&f[CERTD_KEY_DATABASE], "/var/lib/aos/certd.db", &c->database);
        if (r < 0)
                return r;
        r = field_path(&f[CERTD_KEY_STORAGE_DIR], "/var/lib/aos/certs", &c->storage_dir);
        if (r < 0)
                return r;

        if (p->n_modules > 0) {
                c->modules = calloc(p->n_modules, sizeof(ModuleConfig));
                if (!c->modules)
                        return -ENOMEM;
                c->n_modules = p->n_modules;
        }
        for (size_t i = 0; i < p->n_modules; i++) {
                r = module_from_raw(p, &p->modules[i], &c->modules[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_machine_id(char **ret) {
        const char *path = secure_getenv("AOS_MACHINE_ID_FILE") ?: MACHINE_ID_PATH;
        _cleanup_free_ char *s = NULL;
        int r = read_file_full(path, 4096, &s, NULL);
        if (r < 0)
                return r;
        s[strcspn(s, " \t\r\n")] = 0;
        /* 32 lowercase hex digits; also refuses "uninitialized" of a first boot. */
        if (strlen(s) != 32 || strspn(s, "0123456789abcdef") != 32)
                return -EBADMSG;
        *ret = TAKE_PTR(s);
        return 0;
}

static int node_from_parser(Parser *p, NodeConfig *c) {
        Field f[_NODE_KEY_MAX];
        for (size_t i = 0; i < _NODE_KEY_MAX; i++)
                f[i] = (Field) { p, &p->node[i], "Node", node_keys[i] };
        int r;

        const char *id = field_value(&f[NODE_KEY_ID]);
        if (id) {
                if (!node_id_is_valid(id))
                        return field_error(&f[NODE_KEY_ID],
                                           "'%s' is not a node id: 1..%d characters of A-Z, a-z, 0-9, '.', '_' and '-'",
                                           id, NODE_ID_MAX);
                c->id = strdup(id);
                if (!c->id)
                        return -ENOMEM;
        } else {
                r = read_machine_id(&c->id);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        const char *path = secure_getenv("AOS_MACHINE_ID_FILE") ?: MACHINE_ID_PATH;
                        if (r == -EBADMSG)
                                return field_error(&f[NODE_KEY_ID],
                                                   "Node Id is not set and %s cannot be read: not a machine ID", path);
                        errno = -r;
                        return field_error(&f[NODE_KEY_ID], "Node Id is not set and %s cannot be read: %m", path);
                }
        }

        r = field_string(&f[NODE_KEY_TITLE], "", &c->title);
        if (r < 0)
                return r;
        r = field_string(&f[NODE_KEY_TYPE], "", &c->type);
        if (r < 0)
                return r;
        r = field_boolean(&f[NODE_KEY_MAIN_NODE], true, &c->main_node);
        if (r < 0)
                return r;
        return field_path(&f[NODE_KEY_STATE_FILE], "/var/lib/aos/provisioning.state", &c->state_file);
}

static int provisioning_from_parser(Parser *p, ProvisioningConfig *c) {
        Field f[_PROVISIONING_KEY_MAX];
        for (size_t i = 0; i < _PROVISIONING_KEY_MAX; i++)
                f[i] = (Field) { p, &p->provisioning[i], "Provisioning", provisioning_keys[i] };
        int r;

        r = field_command(&f[PROVISIONING_KEY_START_COMMAND], &c->start_command);
        if (r < 0)
                return r;
        r = field_command(&f[PROVISIONING_KEY_DISK_ENCRYPTION_COMMAND], &c->disk_encryption_command);
        if (r < 0)
                return r;
        r = field_command(&f[PROVISIONING_KEY_FINISH_COMMAND], &c->finish_command);
        if (r < 0)
                return r;
        r = field_command(&f[PROVISIONING_KEY_DEPROVISION_COMMAND], &c->deprovision_command);
        if (r < 0)
                return r;
        return field_duration(&f[PROVISIONING_KEY_HOOK_TIMEOUT_SEC], 60 * USEC_PER_SEC, USEC_PER_SEC,
                              &c->hook_timeout_usec);
}

static int nodelink_from_parser(Parser *p, NodeLinkConfig *c) {
        Field f[_NODELINK_KEY_MAX];
        for (size_t i = 0; i < _NODELINK_KEY_MAX; i++)
                f[i] = (Field) { p, &p->nodelink[i], "NodeLink", nodelink_keys[i] };
        int r;

        r = field_address(&f[NODELINK_KEY_LISTEN_PROTECTED], "[::]:8089", &c->listen_protected);
        if (r < 0)
                return r;
        r = field_address(&f[NODELINK_KEY_LISTEN_BOOTSTRAP], "[::]:8090", &c->listen_bootstrap);
        if (r < 0)
                return r;
        r = field_address(&f[NODELINK_KEY_MAIN_PROTECTED], "main.local:8089", &c->main_protected);
        if (r < 0)
                return r;
        r = field_address(&f[NODELINK_KEY_MAIN_BOOTSTRAP], "main.local:8090", &c->main_bootstrap);
        if (r < 0)
                return r;

        const char *t = field_value(&f[NODELINK_KEY_CERT_TYPE]);
        if (t && !module_type_is_valid(t))
                return field_error(&f[NODELINK_KEY_CERT_TYPE], "'%s' is not a module type", t);
        r = field_string(&f[NODELINK_KEY_CERT_TYPE], "iam", &c->cert_type);
        if (r < 0)
                return r;

        r = field_duration(&f[NODELINK_KEY_KEEPALIVE_SEC], 5 * USEC_PER_SEC, USEC_PER_SEC, &c->keepalive_usec);
        if (r < 0)
                return r;
        r = field_duration(&f[NODELINK_KEY_RECONNECT_MAX_SEC], 30 * USEC_PER_SEC, USEC_PER_SEC,
                           &c->reconnect_max_usec);
        if (r < 0)
                return r;
        r = field_duration(&f[NODELINK_KEY_CALL_TIMEOUT_SEC], 60 * USEC_PER_SEC, USEC_PER_SEC,
                           &c->call_timeout_usec);
        if (r < 0)
                return r;
        r = field_duration(&f[NODELINK_KEY_PROVISIONING_TIMEOUT_SEC], 300 * USEC_PER_SEC, USEC_PER_SEC,
                           &c->provisioning_timeout_usec);
        if (r < 0)
                return r;
        return field_path(&f[NODELINK_KEY_STATE_DIR], "/var/lib/aos/nodelink", &c->state_dir);
}

int config_load(const char *path, bool allow_missing, AosConfig **ret, char **ret_error) {
        if (!ret)
                return -EINVAL;
        if (!path)
                path = CONFIG_DEFAULT_PATH;

        _cleanup_(parser_done) Parser p = { .main_path = path };
        _cleanup_(config_freep) AosConfig *c = NULL;

        int r = parser_read_file(&p, path, allow_missing);
        if (r >= 0)
                r = parser_read_dropins(&p, path);
        if (r >= 0) {
                c = calloc(1, sizeof(AosConfig));
                r = c ? 0 : -ENOMEM;
        }
        if (r >= 0)
                r = certd_from_parser(&p, &c->certd);
        if (r >= 0)
                r = node_from_parser(&p, &c->node);
        if (r >= 0)
                r = provisioning_from_parser(&p, &c->provisioning);
        if (r >= 0)
                r = nodelink_from_parser(&p, &c->nodelink);
        if (r < 0) {
                if (r == -ENOMEM && !p.message)
                        (void) parser_error(&p, r, path, 0, NULL, NULL, "out of memory");
                if (ret_error)
                        *ret_error = TAKE_PTR(p.message);
                return r;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

AosConfig *config_free(AosConfig *c) {
        if (!c)
                return NULL;

        free(c->certd.ca_cert);
        free(c->certd.database);
        free(c->certd.storage_dir);
        for (size_t i = 0; i < c->certd.n_modules; i++)
                module_config_done(&c->certd.modules[i]);
        free(c->certd.modules);

        free(c->node.id);
        free(c->node.title);
        free(c->node.type);
        free(c->node.state_file);

        strv_free(c->provisioning.start_command);
        strv_free(c->provisioning.disk_encryption_command);
        strv_free(c->provisioning.finish_command);
        strv_free(c->provisioning.deprovision_command);

        free(c->nodelink.listen_protected);
        free(c->nodelink.listen_bootstrap);
        free(c->nodelink.main_protected);
        free(c->nodelink.main_bootstrap);
        free(c->nodelink.cert_type);
        free(c->nodelink.state_dir);

        free(c);
        return NULL;
}

const ModuleConfig *config_find_module(const CertdConfig *c, const char *type) {
        if (!c || !type)
                return NULL;
        for (size_t i = 0; i < c->n_modules; i++)
                if (streq(c->modules[i].type, type))
                        return &c->modules[i];
        return NULL;
}

static const char *const module_plugin_table[_MODULE_PLUGIN_MAX] = {
        [MODULE_PLUGIN_PKCS11] = "pkcs11",
        [MODULE_PLUGIN_TPM] = "tpm",
        [MODULE_PLUGIN_SW] = "sw",
};

static const char *const key_algorithm_table[_KEY_ALGORITHM_MAX] = {
        [KEY_ALGORITHM_ECDSA] = "ecdsa",
        [KEY_ALGORITHM_RSA] = "rsa",
};

const char *module_plugin_to_string(ModulePlugin p) {
        return (unsigned) p < _MODULE_PLUGIN_MAX ? module_plugin_table[p] : NULL;
}

int module_plugin_from_string(const char *s) {
        for (size_t i = 0; s && i < _MODULE_PLUGIN_MAX; i++)
                if (streq(module_plugin_table[i], s))
                        return (int) i;
        return -EINVAL;
}

const char *key_algorithm_to_string(KeyAlgorithm a) {
        return (unsigned) a < _KEY_ALGORITHM_MAX ? key_algorithm_table[a] : NULL;
}

int key_algorithm_from_string(const char *s) {
        for (size_t i = 0; s && i < _KEY_ALGORITHM_MAX; i++)
                if (streq(key_algorithm_table[i], s))
                        return (int) i;
        return -EINVAL;
}

int parse_duration(const char *s, uint64_t *ret_usec) {
        if (!s || !ret_usec)
                return -EINVAL;

        size_t digits = strspn(s, "0123456789");
        if (digits == 0)
                return -EINVAL;

        const char *unit = s + digits;
        uint64_t mult;
        if (streq(unit, "") || streq(unit, "s") || streq(unit, "sec"))
                mult = USEC_PER_SEC;
        else if (streq(unit, "min"))
                mult = 60 * USEC_PER_SEC;
        else
                return -EINVAL;

        uint64_t v = 0;
        for (size_t i = 0; i < digits; i++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        if (v > UINT64_MAX / mult)
                return -ERANGE;

        *ret_usec = v * mult;
        return 0;
}

int parse_boolean(const char *s) {
        if (!s)
                return -EINVAL;

        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}
