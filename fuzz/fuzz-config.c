/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config_load() on arbitrary files, through the real file route: the input is written to
 * <tmp>/iam.conf and, after its first NUL byte, to the drop-in <tmp>/iam.conf.d/50-fuzz.conf
 * (a second NUL then lands in the drop-in, to reach the "file contains a NUL byte" check).
 * A configuration that loads must keep every promise config.h makes; one that does not must
 * say why, naming a file.
 *
 * The directory is made once (in $TMPDIR) and removed at exit. Node Id= left unset falls back
 * to a machine-id file there, via $AOS_MACHINE_ID_FILE, so the host's /etc/machine-id does not
 * matter. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char *dir, *main_path, *dropin_dir, *dropin_path;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path) < 0 ? -1 : 0;
}

static void cleanup(void) {
        if (dir)
                (void) nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(dir);
        free(main_path);
        free(dropin_dir);
        free(dropin_path);
}

static void write_file(const char *path, const void *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        fuzz_assert(fd >= 0);
        for (size_t done = 0; done < size;) {
                ssize_t k = write(fd, (const char *) data + done, size - done);
                fuzz_assert(k > 0);
                done += (size_t) k;
        }
        fuzz_assert(close(fd) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *tmp = getenv("TMPDIR");
        char *machine_id;

        (void) argc;
        (void) argv;

        fuzz_assert(asprintf(&dir, "%s/aos-fuzz-config.XXXXXX", tmp && *tmp ? tmp : "/tmp") > 0);
        fuzz_assert(mkdtemp(dir));
        atexit(cleanup);

        fuzz_assert(asprintf(&main_path, "%s/iam.conf", dir) > 0);
        fuzz_assert(asprintf(&dropin_dir, "%s/iam.conf.d", dir) > 0);
        fuzz_assert(asprintf(&dropin_path, "%s/50-fuzz.conf", dropin_dir) > 0);
        fuzz_assert(mkdir(dropin_dir, 0700) == 0);

        fuzz_assert(asprintf(&machine_id, "%s/machine-id", dir) > 0);
        write_file(machine_id, "0123456789abcdef0123456789abcdef\n", 33);
        fuzz_assert(setenv("AOS_MACHINE_ID_FILE", machine_id, 1) == 0);
        free(machine_id);
        return 0;
}

static bool is_absolute(const char *s) {
        return s && s[0] == '/';
}

static void check_module(const ModuleConfig *m) {
        fuzz_assert(m->type && strlen(m->type) >= 1 && strlen(m->type) <= 32);
        fuzz_assert(strspn(m->type, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(m->type));
        fuzz_assert((unsigned) m->plugin < _MODULE_PLUGIN_MAX);
        fuzz_assert((unsigned) m->algorithm < _KEY_ALGORITHM_MAX);
        fuzz_assert(m->max_items >= 1 && m->max_items <= CONFIG_MAX_ITEMS_MAX);
        fuzz_assert(m->max_items >= 2 || m->self_signed);

        fuzz_assert(m->extended_key_usage && m->alternative_names);
        for (size_t i = 0; m->extended_key_usage[i]; i++) {
                const char *u = m->extended_key_usage[i];
                fuzz_assert(strcmp(u, "serverAuth") == 0 || strcmp(u, "clientAuth") == 0);
                for (size_t j = 0; j < i; j++)
                        fuzz_assert(strcmp(m->extended_key_usage[j], u) != 0);
        }
        for (size_t i = 0; m->alternative_names[i]; i++) {
                const char *n = m->alternative_names[i];
                fuzz_assert(*n && strlen(n) <= 253 && fuzz_text_is_clean(n) && !strchr(n, ' '));
                for (size_t j = 0; j < i; j++)
                        fuzz_assert(strcmp(m->alternative_names[j], n) != 0);
        }

        fuzz_assert(!m->pkcs11_library || is_absolute(m->pkcs11_library));
        fuzz_assert(m->token_label && strlen(m->token_label) <= 32);
        fuzz_assert(is_absolute(m->user_pin_file));
        fuzz_assert(m->tcti && *m->tcti);
}

static void check_config(const AosConfig *c) {
        fuzz_assert(is_absolute(c->certd.ca_cert));
        fuzz_assert(is_absolute(c->certd.database));
        fuzz_assert(is_absolute(c->certd.storage_dir));
        fuzz_assert(c->certd.n_modules <= CONFIG_MODULES_MAX);
        fuzz_assert((c->certd.n_modules == 0) == !c->certd.modules);
        for (size_t i = 0; i < c->certd.n_modules; i++) {
                check_module(&c->certd.modules[i]);
                /* Types are unique, so lookups by type find this very module. */
                fuzz_assert(config_find_module(&c->certd, c->certd.modules[i].type) == &c->certd.modules[i]);
        }

        fuzz_assert(c->node.id && strlen(c->node.id) >= 1 && strlen(c->node.id) <= 64);
        fuzz_assert(c->node.title && c->node.type);
        fuzz_assert(is_absolute(c->node.state_file));

        fuzz_assert(c->provisioning.hook_timeout_usec >= 1000000);
        char **const commands[] = {
                c->provisioning.start_command, c->provisioning.disk_encryption_command,
                c->provisioning.finish_command, c->provisioning.deprovision_command,
        };
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                for (char **a = commands[i]; a && *a; a++)
                        fuzz_assert(**a);

        fuzz_assert(c->nodelink.listen_protected && c->nodelink.listen_bootstrap);
        fuzz_assert(c->nodelink.main_protected && c->nodelink.main_bootstrap);
        fuzz_assert(c->nodelink.cert_type && *c->nodelink.cert_type);
        fuzz_assert(c->nodelink.keepalive_usec >= 1000000);
        fuzz_assert(c->nodelink.reconnect_max_usec >= 1000000);
        fuzz_assert(c->nodelink.call_timeout_usec >= 1000000);
        fuzz_assert(c->nodelink.provisioning_timeout_usec >= 1000000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, 0, size);
        AosConfig *c = NULL;
        char *error = NULL;
        int r;

        write_file(main_path, data, nul ? (size_t) (nul - data) : size);
        if (nul)
                write_file(dropin_path, nul + 1, size - (size_t) (nul + 1 - data));
        else if (unlink(dropin_path) < 0)
                fuzz_assert(errno == ENOENT);

        r = config_load(main_path, false, &c, &error);
        fuzz_log("config_load: %d %s\n", r, error ?: "");
        if (r < 0) {
                fuzz_assert(!c);
                fuzz_assert(error || r == -ENOMEM);
                /* "<file>:<line>: ...": the message starts with the file it is about. */
                if (error)
                        fuzz_assert(strncmp(error, dir, strlen(dir)) == 0);
                free(error);
                return 0;
        }

        fuzz_assert(r == 0 && c && !error);
        check_config(c);
        config_free(c);
        return 0;
}
