/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "config.h"
#include "fs.h"
#include "macro.h"
#include "test-util.h"

#define MACHINE_ID "0123456789abcdef0123456789abcdef"

static char *dir;
static char *conf; /* <dir>/iam.conf */

static void setup(void) {
        dir = test_tmpdir();
        ck_assert_int_ge(asprintf(&conf, "%s/iam.conf", dir), 0);

        char *id;
        ck_assert_int_ge(asprintf(&id, "%s/machine-id", dir), 0);
        ck_assert_int_eq(write_file_atomic(id, MACHINE_ID "\n", 33, 0644), 0);
        setenv("AOS_MACHINE_ID_FILE", id, 1);
        free(id);
}

static void teardown(void) {
        test_rm_rf(dir);
        free(dir);
        free(conf);
        dir = conf = NULL;
}

/* Writes <dir>/<name> (creating iam.conf.d/ when needed); returns the path (caller frees). */
static char *write_conf(const char *name, const char *text) {
        char *p, *d;
        ck_assert_int_ge(asprintf(&d, "%s/iam.conf.d", dir), 0);
        ck_assert_int_eq(mkdir_p(d, 0755), 0);
        free(d);
        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644), 0);
        return p;
}

static void write_main(const char *text) {
        free(write_conf("iam.conf", text));
}

static AosConfig *load_ok(void) {
        AosConfig *c = NULL;
        _cleanup_free_ char *err = NULL;
        int r = config_load(conf, false, &c, &err);
        ck_assert_msg(r == 0, "config_load failed: %d %s", r, strna(err));
        ck_assert_ptr_nonnull(c);
        return c;
}

/* Loads and checks that it fails with -EINVAL and a message containing "<file>:<suffix>",
 * file being "iam.conf" or a drop-in name relative to dir. */
static void expect_error_in(const char *file, const char *suffix) {
        AosConfig *c = NULL;
        _cleanup_free_ char *err = NULL, *expected = NULL;
        int r = config_load(conf, false, &c, &err);
        ck_assert_msg(r == -EINVAL, "expected -EINVAL, got %d (%s)", r, strna(err));
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(err);
        ck_assert_int_ge(asprintf(&expected, "%s/%s:%s", dir, file, suffix), 0);
        ck_assert_msg(strstr(err, expected), "message '%s' does not contain '%s'", err, expected);
}

static void expect_error(const char *text, const char *suffix) {
        write_main(text);
        expect_error_in("iam.conf", suffix);
}

START_TEST(test_defaults) {
        AosConfig *c = NULL;
        char *err = NULL;
        ck_assert_int_eq(config_load(conf, true, &c, &err), 0);
        ck_assert_ptr_null(err);

        ck_assert_str_eq(c->certd.ca_cert, "/etc/aos/ca.pem");
        ck_assert_str_eq(c->certd.database, "/var/lib/aos/certd.db");
        ck_assert_str_eq(c->certd.storage_dir, "/var/lib/aos/certs");
        ck_assert_uint_eq(c->certd.n_modules, 0);
        ck_assert_ptr_null(config_find_module(&c->certd, "iam"));

        ck_assert_str_eq(c->node.id, MACHINE_ID);
        ck_assert_str_eq(c->node.title, "");
        ck_assert_str_eq(c->node.type, "");
        ck_assert(c->node.main_node);
        ck_assert_str_eq(c->node.state_file, "/var/lib/aos/provisioning.state");

        ck_assert_ptr_null(c->provisioning.start_command);
        ck_assert_ptr_null(c->provisioning.disk_encryption_command);
        ck_assert_ptr_null(c->provisioning.finish_command);
        ck_assert_ptr_null(c->provisioning.deprovision_command);
        ck_assert_uint_eq(c->provisioning.hook_timeout_usec, 60 * USEC_PER_SEC);

        ck_assert_str_eq(c->nodelink.listen_protected, "[::]:8089");
        ck_assert_str_eq(c->nodelink.listen_bootstrap, "[::]:8090");
        ck_assert_str_eq(c->nodelink.main_protected, "main.local:8089");
        ck_assert_str_eq(c->nodelink.main_bootstrap, "main.local:8090");
        ck_assert_str_eq(c->nodelink.cert_type, "iam");
        ck_assert_uint_eq(c->nodelink.keepalive_usec, 5 * USEC_PER_SEC);
        ck_assert_uint_eq(c->nodelink.reconnect_max_usec, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(c->nodelink.call_timeout_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(c->nodelink.provisioning_timeout_usec, 300 * USEC_PER_SEC);
        config_free(c);

        /* An empty file and a file of only empty values give the same defaults. */
        write_main("");
        c = load_ok();
        ck_assert_str_eq(c->certd.ca_cert, "/etc/aos/ca.pem");
        config_free(c);

        write_main("[Certd]\nCACert=\n[Node]\nId=\nMainNode=\n[NodeLink]\nKeepaliveSec=\n[Module iam]\n");
        c = load_ok();
        ck_assert_str_eq(c->certd.ca_cert, "/etc/aos/ca.pem");
        ck_assert_str_eq(c->node.id, MACHINE_ID);
        ck_assert(c->node.main_node);
        ck_assert_uint_eq(c->nodelink.keepalive_usec, 5 * USEC_PER_SEC);

        /* A module section without keys is a module with every default. */
        ck_assert_uint_eq(c->certd.n_modules, 1);
        const ModuleConfig *m = &c->certd.modules[0];
        ck_assert_str_eq(m->type, "iam");
        ck_assert_int_eq(m->plugin, MODULE_PLUGIN_PKCS11);
        ck_assert_int_eq(m->algorithm, KEY_ALGORITHM_ECDSA);
        ck_assert_uint_eq(m->max_items, 2);
        ck_assert_uint_eq(strv_length(m->extended_key_usage), 0);
        ck_assert_uint_eq(strv_length(m->alternative_names), 0);
        ck_assert(!m->skip_validation);
        ck_assert(!m->self_signed);
        ck_assert(!m->disabled);
        ck_assert_ptr_null(m->pkcs11_library);
        ck_assert_str_eq(m->token_label, "aoscore");
        ck_assert_str_eq(m->user_pin_file, "/var/lib/aos/aoscore.pin");
        ck_assert_str_eq(m->tcti, "device:/dev/tpmrm0");
        config_free(c);
}
END_TEST

START_TEST(test_missing_file) {
        AosConfig *c = NULL;
        _cleanup_free_ char *err = NULL;
        ck_assert_int_eq(config_load(conf, false, &c, &err), -ENOENT);
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(err);
        ck_assert_ptr_nonnull(strstr(err, conf));

        /* allow_missing still reads the drop-ins. */
        free(write_conf("iam.conf.d/node.conf", "[Node]\nId=from-dropin\n"));
        ck_assert_int_eq(config_load(conf, true, &c, NULL), 0);
        ck_assert_str_eq(c->node.id, "from-dropin");
        config_free(c);
}
END_TEST

static const char full_config[] =
        "# The whole suite.\n"
        "[Certd]\n"
        "CACert=/etc/test/ca.pem\n"
        "Database=/srv/certd.db\n"
        "StorageDir=/srv/certs\n"
        "\n"
        "[Module iam]\n"
        "Plugin=tpm\n"
        "Algorithm=rsa\n"
        "MaxItems=5\n"
        "ExtendedKeyUsage=clientAuth serverAuth\n"
        "AlternativeNames=iam.local  localhost\t*.example.org\n"
        "SkipValidation=yes\n"
        "SelfSigned=no\n"
        "Disabled=true\n"
        "PKCS11Library=/usr/lib/softhsm/libsofthsm2.so\n"
        "TokenLabel=token one\n"
        "UserPINFile=/srv/pins/one.pin\n"
        "TCTI=swtpm:port=2321\n"
        "\n"
        "[Module online]\n"
        "Plugin=sw\n"
        "SelfSigned=on\n"
        "MaxItems=1\n"
        "\n"
        "[Node]\n"
        "Id=node-1.example_A\n"
        "Title=Main node\n"
        "Type=aos-main\n"
        "MainNode=no\n"
        "StateFile=/srv/provisioning.state\n"
        "\n"
        "[Provisioning]\n"
        "StartCommand=/usr/libexec/aos/start --verbose\n"
        "DiskEncryptionCommand=/usr/libexec/aos/encrypt   /dev/sda3\n"
        "FinishCommand=/bin/true\n"
        "DeprovisionCommand=/usr/libexec/aos/wipe -f -x\n"
        "HookTimeoutSec=2min\n"
        "\n"
        "[NodeLink]\n"
        "ListenProtected=127.0.0.1:9089\n"
        "ListenBootstrap=[::1]:9090\n"
        "MainProtected=10.0.0.1:1\n"
        "MainBootstrap=main.example.org:65535\n"
        "CertType=online\n"
        "KeepaliveSec=1\n"
        "ReconnectMaxSec=45s\n"
        "CallTimeoutSec=90sec\n"
        "ProvisioningTimeoutSec=10min\n";

START_TEST(test_every_key) {
        write_main(full_config);
        AosConfig *c = load_ok();

        ck_assert_str_eq(c->certd.ca_cert, "/etc/test/ca.pem");
        ck_assert_str_eq(c->certd.database, "/srv/certd.db");
        ck_assert_str_eq(c->certd.storage_dir, "/srv/certs");

        ck_assert_uint_eq(c->certd.n_modules, 2);
        const ModuleConfig *m = config_find_module(&c->certd, "iam");
        ck_assert_ptr_eq(m, &c->certd.modules[0]);
        ck_assert_int_eq(m->plugin, MODULE_PLUGIN_TPM);
        ck_assert_int_eq(m->algorithm, KEY_ALGORITHM_RSA);
        ck_assert_uint_eq(m->max_items, 5);
        ck_assert_uint_eq(strv_length(m->extended_key_usage), 2);
        ck_assert_str_eq(m->extended_key_usage[0], "clientAuth");
        ck_assert_str_eq(m->extended_key_usage[1], "serverAuth");
        ck_assert_uint_eq(strv_length(m->alternative_names), 3);
        ck_assert_str_eq(m->alternative_names[0], "iam.local");
        ck_assert_str_eq(m->alternative_names[1], "localhost");
        ck_assert_str_eq(m->alternative_names[2], "*.example.org");
        ck_assert(m->skip_validation);
        ck_assert(!m->self_signed);
        ck_assert(m->disabled);
        ck_assert_str_eq(m->pkcs11_library, "/usr/lib/softhsm/libsofthsm2.so");
        ck_assert_str_eq(m->token_label, "token one");
        ck_assert_str_eq(m->user_pin_file, "/srv/pins/one.pin");
        ck_assert_str_eq(m->tcti, "swtpm:port=2321");

        m = config_find_module(&c->certd, "online");
        ck_assert_ptr_eq(m, &c->certd.modules[1]);
        ck_assert_int_eq(m->plugin, MODULE_PLUGIN_SW);
        ck_assert(m->self_signed);
        ck_assert_uint_eq(m->max_items, 1);
        ck_assert_ptr_null(config_find_module(&c->certd, "cm"));
        ck_assert_ptr_null(config_find_module(&c->certd, NULL));

        ck_assert_str_eq(c->node.id, "node-1.example_A");
        ck_assert_str_eq(c->node.title, "Main node");
        ck_assert_str_eq(c->node.type, "aos-main");
        ck_assert(!c->node.main_node);
        ck_assert_str_eq(c->node.state_file, "/srv/provisioning.state");

        char **a = c->provisioning.start_command;
        ck_assert_uint_eq(strv_length(a), 2);
        ck_assert_str_eq(a[0], "/usr/libexec/aos/start");
        ck_assert_str_eq(a[1], "--verbose");
        a = c->provisioning.disk_encryption_command;
        ck_assert_uint_eq(strv_length(a), 2);
        ck_assert_str_eq(a[1], "/dev/sda3");
        ck_assert_uint_eq(strv_length(c->provisioning.finish_command), 1);
        ck_assert_uint_eq(strv_length(c->provisioning.deprovision_command), 3);
        ck_assert_uint_eq(c->provisioning.hook_timeout_usec, 120 * USEC_PER_SEC);

        ck_assert_str_eq(c->nodelink.listen_protected, "127.0.0.1:9089");
        ck_assert_str_eq(c->nodelink.listen_bootstrap, "[::1]:9090");
        ck_assert_str_eq(c->nodelink.main_protected, "10.0.0.1:1");
        ck_assert_str_eq(c->nodelink.main_bootstrap, "main.example.org:65535");
        ck_assert_str_eq(c->nodelink.cert_type, "online");
        ck_assert_uint_eq(c->nodelink.keepalive_usec, 1 * USEC_PER_SEC);
        ck_assert_uint_eq(c->nodelink.reconnect_max_usec, 45 * USEC_PER_SEC);
        ck_assert_uint_eq(c->nodelink.call_timeout_usec, 90 * USEC_PER_SEC);
        ck_assert_uint_eq(c->nodelink.provisioning_timeout_usec, 600 * USEC_PER_SEC);
        config_free(c);
}
END_TEST

START_TEST(test_syntax) {
        /* Comments ('#', ';', also after white space at the end of a line), indented keys,
         * white space around '=', a UTF-8 BOM, CRLF line ends. */
        write_main("\xEF\xBB\xBF# comment\r\n"
                   "; comment\r\n"
                   "[Module iam]   # the iam module\r\n"
                   "    Plugin = sw   # pkcs11 | tpm | sw\r\n"
                   "\tAlgorithm=rsa ; the other one\r\n"
                   "  TCTI=device:/dev/tpm#0;x\r\n"
                   "[ Node ]\r\n"
                   "Title=Rack #3\r\n");
        AosConfig *c = load_ok();
        ck_assert_uint_eq(c->certd.n_modules, 1);
        ck_assert_int_eq(c->certd.modules[0].plugin, MODULE_PLUGIN_SW);
        ck_assert_int_eq(c->certd.modules[0].algorithm, KEY_ALGORITHM_RSA);
        ck_assert_str_eq(c->certd.modules[0].tcti, "device:/dev/tpm#0;x");
        ck_assert_str_eq(c->node.title, "Rack");
        config_free(c);

        /* The example of DESIGN §6, annotations included, loads as it is. */
        write_main("[Certd]                               # aos-certd\n"
                   "CACert=/etc/aos/ca.pem                # the root every applied chain must end at\n"
                   "[Module iam]                          # one section per certificate type, in this order\n"
                   "Plugin=pkcs11                         # pkcs11 | tpm | sw\n"
                   "MaxItems=2                            # 1..5; at least 2 unless SelfSigned\n"
                   "[Node]                                # aos-provisiond and aos-nodelinkd\n"
                   "Id=                                   # default: /etc/machine-id\n"
                   "[NodeLink]\n"
                   "ListenProtected=[::]:8089             # main node; ignored when sockets are passed by systemd\n");
        c = load_ok();
        ck_assert_str_eq(c->node.id, MACHINE_ID);
        ck_assert_uint_eq(c->certd.modules[0].max_items, 2);
        config_free(c);
}
END_TEST

START_TEST(test_dropins) {
        write_main("[Certd]\n"
                   "CACert=/main/ca.pem\n"
                   "Database=/main/certd.db\n"
                   "[Module iam]\n"
                   "AlternativeNames=a.local b.local\n"
                   "ExtendedKeyUsage=serverAuth\n"
                   "TokenLabel=first\n"
                   "[Provisioning]\n"
                   "StartCommand=/bin/start\n");
        /* strcmp order: "10-..." before "9-...", so 9-late wins. Created in an order that
         * differs from it (and from its reverse) so that readdir() order cannot pass for it. */
        free(write_conf("iam.conf.d/5-first.conf", "[Certd]\nCACert=/first/ca.pem\n"));
        free(write_conf("iam.conf.d/10-early.conf",
                        "[Certd]\nCACert=/early/ca.pem\nStorageDir=/early/certs\n"
                        "[Module iam]\nAlternativeNames=c.local\nExtendedKeyUsage=clientAuth serverAuth\n"
                        "TokenLabel=second\n"
                        "[Provisioning]\nStartCommand=\n"));
        free(write_conf("iam.conf.d/9-late.conf",
                        "[Certd]\nCACert=/late/ca.pem\n"
                        "[Module iam]\nAlternativeNames=\n"));
        /* Not drop-ins: other suffixes, hidden files, directories. */
        free(write_conf("iam.conf.d/99-ignored.conf~", "[Certd]\nCACert=/ignored\n"));
        free(write_conf("iam.conf.d/99-ignored.disabled", "[Certd]\nCACert=/ignored\n"));
        free(write_conf("iam.conf.d/.99-hidden.conf", "[Certd]\nCACert=/ignored\n"));
        _cleanup_free_ char *subdir = NULL;
        ck_assert_int_ge(asprintf(&subdir, "%s/iam.conf.d/99-dir.conf", dir), 0);
        ck_assert_int_eq(mkdir(subdir, 0755), 0);

        AosConfig *c = load_ok();
        ck_assert_str_eq(c->certd.ca_cert, "/late/ca.pem");
        ck_assert_str_eq(c->certd.database, "/main/certd.db");
        ck_assert_str_eq(c->certd.storage_dir, "/early/certs");

        const ModuleConfig *m = config_find_module(&c->certd, "iam");
        ck_assert_ptr_nonnull(m);
        /* A later list replaces the earlier one; an empty value resets it. */
        ck_assert_uint_eq(strv_length(m->alternative_names), 0);
        ck_assert_uint_eq(strv_length(m->extended_key_usage), 2);
        ck_assert_str_eq(m->extended_key_usage[0], "clientAuth");
        /* The default PIN file follows the final TokenLabel. */
        ck_assert_str_eq(m->token_label, "second");
        ck_assert_str_eq(m->user_pin_file, "/var/lib/aos/second.pin");
        /* A command reset to empty is no command. */
        ck_assert_ptr_null(c->provisioning.start_command);
        config_free(c);
}
END_TEST

START_TEST(test_module_order_and_merge) {
        write_main("[Module iam]\nPlugin=sw\n"
                   "[Module cm]\nPlugin=tpm\n"
                   "[Node]\nTitle=x\n"
                   "[Module iam]\nAlgorithm=rsa\n");
        free(write_conf("iam.conf.d/50-more.conf",
                        "[Module online]\nSelfSigned=yes\nMaxItems=1\n"
                        "[Module cm]\nDisabled=yes\n"
                        "[Module iam]\nMaxItems=3\n"));
        free(write_conf("iam.conf.d/60-offline.conf", "[Module offline]\n"));

        AosConfig *c = load_ok();
        ck_assert_uint_eq(c->certd.n_modules, 4);
        ck_assert_str_eq(c->certd.modules[0].type, "iam");
        ck_assert_str_eq(c->certd.modules[1].type, "cm");
        ck_assert_str_eq(c->certd.modules[2].type, "online");
        ck_assert_str_eq(c->certd.modules[3].type, "offline");

        /* The same module in several sections and files is merged. */
        const ModuleConfig *m = &c->certd.modules[0];
        ck_assert_int_eq(m->plugin, MODULE_PLUGIN_SW);
        ck_assert_int_eq(m->algorithm, KEY_ALGORITHM_RSA);
        ck_assert_uint_eq(m->max_items, 3);

        /* Disabled modules are kept and found. */
        m = config_find_module(&c->certd, "cm");
        ck_assert_ptr_nonnull(m);
        ck_assert(m->disabled);
        ck_assert_int_eq(m->plugin, MODULE_PLUGIN_TPM);
        config_free(c);
}
END_TEST

START_TEST(test_too_many_modules) {
        static const char eight[] =
                "[Module m1]\n[Module m2]\n[Module m3]\n[Module m4]\nDisabled=yes\n"
                "[Module m5]\n[Module m6]\n[Module m7]\n[Module m8]\n";
        write_main(eight);
        AosConfig *c = load_ok();
        ck_assert_uint_eq(c->certd.n_modules, CONFIG_MODULES_MAX);
        config_free(c);

        /* A repeated section is not a new module. */
        free(write_conf("iam.conf.d/a.conf", "[Module m1]\n[Module m8]\nMaxItems=4\n"));
        c = load_ok();
        ck_assert_uint_eq(c->certd.n_modules, CONFIG_MODULES_MAX);
        config_free(c);

        /* The ninth one is named where its section begins. */
        free(write_conf("iam.conf.d/b.conf", "# more\n\n[Module m9]\nPlugin=sw\n"));
        expect_error_in("iam.conf.d/b.conf", "3: [Module m9]: too many modules");

        write_main("[Module m1]\n[Module m2]\n[Module m3]\n[Module m4]\n"
                   "[Module m5]\n[Module m6]\n[Module m7]\n[Module m8]\n[Module m9]\n");
        expect_error_in("iam.conf", "9: [Module m9]: too many modules: at most 8");
}
END_TEST

START_TEST(test_validation_errors) {
        expect_error("[Module iam]\nMaxItems=9\n", "2: [Module iam] MaxItems: '9' is out of range 1..5");
        expect_error("[Module iam]\n\nMaxItems=0\n", "3: [Module iam] MaxItems: '0' is out of range 1..5");
        expect_error("[Module iam]\nMaxItems=two\n", "2: [Module iam] MaxItems: 'two' is not a number");
        expect_error("[Module iam]\nMaxItems=-1\n", "2: [Module iam] MaxItems: '-1' is not a number");
        expect_error("[Module iam]\nMaxItems=1\n",
                     "2: [Module iam] MaxItems: '1' must be at least 2 unless SelfSigned=yes");
        expect_error("[Module iam]\nSelfSigned=yes\nMaxItems=1\nSelfSigned=no\n",
                     "3: [Module iam] MaxItems: '1' must be at least 2");
        expect_error("[Module iam]\nPlugin=hsm\n", "2: [Module iam] Plugin: 'hsm' is not one of pkcs11, tpm, sw");
        expect_error("[Module iam]\nPlugin=PKCS11\n", "2: [Module iam] Plugin: 'PKCS11' is not one of");
        expect_error("[Module iam]\nAlgorithm=dsa\n", "2: [Module iam] Algorithm: 'dsa' is not one of ecdsa, rsa");
        expect_error("[Module iam]\nExtendedKeyUsage=serverAuth codeSigning\n",
                     "2: [Module iam] ExtendedKeyUsage: 'codeSigning' is not one of serverAuth, clientAuth");
        expect_error("[Module iam]\nExtendedKeyUsage=serverAuth clientAuth serverAuth\n",
                     "2: [Module iam] ExtendedKeyUsage: 'serverAuth' is listed twice");
        expect_error("[Module iam]\nAlternativeNames=a.local b/c\n",
                     "2: [Module iam] AlternativeNames: 'b/c' is not a DNS name");
        expect_error("[Module iam]\nSkipValidation=maybe\n",
                     "2: [Module iam] SkipValidation: 'maybe' is not a boolean");
        expect_error("[Module iam]\nDisabled=2\n", "2: [Module iam] Disabled: '2' is not a boolean");
        expect_error("[Module iam]\nTokenLabel=0123456789abcdef0123456789abcdefX\n",
                     "2: [Module iam] TokenLabel: '0123456789abcdef0123456789abcdefX' is longer than 32 bytes");
        expect_error("[Module iam]\nTokenLabel=a/b\n",
                     "2: [Module iam] TokenLabel: 'a/b' cannot name the default PIN file");
        expect_error("[Module IAM]\nPlugin=sw\n", "1: [Module IAM]: invalid module type 'IAM'");
        expect_error("\n[Module 0123456789abcdef0123456789abcdefX]\n", "2: [Module 0123456789abcdef0123456789abcdefX]: invalid module type");
        expect_error("[Module]\n", "1: [Module]: module section without a type");

        /* Paths must be absolute. */
        expect_error("[Certd]\nCACert=ca.pem\n", "2: [Certd] CACert: 'ca.pem' is not an absolute path");
        expect_error("[Certd]\nDatabase=./certd.db\n", "2: [Certd] Database: './certd.db' is not an absolute path");
        expect_error("[Certd]\nStorageDir=certs\n", "2: [Certd] StorageDir: 'certs' is not an absolute path");
        expect_error("[Node]\nStateFile=state\n", "2: [Node] StateFile: 'state' is not an absolute path");
        expect_error("[Module iam]\nUserPINFile=pin\n", "2: [Module iam] UserPINFile: 'pin' is not an absolute path");
        expect_error("[Module iam]\nPKCS11Library=libsofthsm2.so\n",
                     "2: [Module iam] PKCS11Library: 'libsofthsm2.so' is not an absolute path");

        /* Node */
        expect_error("[Node]\nId=node/1\n", "2: [Node] Id: 'node/1' is not a node id");
        expect_error("[Node]\nId=node 1\n", "2: [Node] Id: 'node 1' is not a node id");
        expect_error("[Node]\nId=n\xc3\xa4\n", "2: [Node] Id:");
        expect_error("[Node]\nId=0123456789012345678901234567890123456789012345678901234567890123X\n",
                     "2: [Node] Id: '0123456789012345678901234567890123456789012345678901234567890123X' is not a node id");
        expect_error("[Node]\nMainNode=maybe\n", "2: [Node] MainNode: 'maybe' is not a boolean");

        /* Durations */
        expect_error("[Provisioning]\nHookTimeoutSec=0\n", "2: [Provisioning] HookTimeoutSec: '0' is too short: at least 1s");
        expect_error("[Provisioning]\nHookTimeoutSec=5ms\n", "2: [Provisioning] HookTimeoutSec: '5ms' is not a duration");
        expect_error("[NodeLink]\nKeepaliveSec=0s\n", "2: [NodeLink] KeepaliveSec: '0s' is too short");
        expect_error("[NodeLink]\nReconnectMaxSec=-5\n", "2: [NodeLink] ReconnectMaxSec: '-5' is not a duration");
        expect_error("[NodeLink]\nCallTimeoutSec=1h\n", "2: [NodeLink] CallTimeoutSec: '1h' is not a duration");
        expect_error("[NodeLink]\nProvisioningTimeoutSec=0min\n", "2: [NodeLink] ProvisioningTimeoutSec: '0min' is too short");

        /* Addresses */
        expect_error("[NodeLink]\nListenProtected=8089\n", "2: [NodeLink] ListenProtected: '8089' is not HOST:PORT");
        expect_error("[NodeLink]\nListenBootstrap=:::8090\n", "2: [NodeLink] ListenBootstrap: ':::8090' is not HOST:PORT");
        expect_error("[NodeLink]\nMainProtected=main.local:0\n", "2: [NodeLink] MainProtected: 'main.local:0' is not HOST:PORT");
        expect_error("[NodeLink]\nMainBootstrap=main.local:65536\n", "2: [NodeLink] MainBootstrap: 'main.local:65536' is not HOST:PORT");
        expect_error("[NodeLink]\nMainBootstrap=[::1:8090\n", "2: [NodeLink] MainBootstrap: '[::1:8090' is not HOST:PORT");
        expect_error("[NodeLink]\nCertType=Iam\n", "2: [NodeLink] CertType: 'Iam' is not a module type");
}
END_TEST

START_TEST(test_error_location) {
        /* The line where the key was last set: here in a drop-in. */
        write_main("[Module iam]\nMaxItems=3\n");
        free(write_conf("iam.conf.d/20-bad.conf", "\n\n[Module iam]\n# c\nMaxItems=7\n"));
        expect_error_in("iam.conf.d/20-bad.conf", "5: [Module iam] MaxItems: '7' is out of range 1..5");

        /* A bad value of the main file corrected by a later drop-in is fine. */
        write_main("[Module iam]\nMaxItems=7\n[Certd]\nCACert=relative\n");
        free(write_conf("iam.conf.d/20-bad.conf", "[Module iam]\nMaxItems=4\n[Certd]\nCACert=/abs/ca.pem\n"));
        AosConfig *c = load_ok();
        ck_assert_uint_eq(c->certd.modules[0].max_items, 4);
        config_free(c);

        /* The first error wins. */
        write_main("[Certd]\nBogus=1\nOther=2\n");
        expect_error_in("iam.conf", "2: [Certd] Bogus: unknown key");
}
END_TEST

START_TEST(test_unknown) {
        expect_error("[Certd]\nCACert=/ca.pem\nCaCert=/ca.pem\n",
                     "3: [Certd] CaCert: unknown key (key names are case-sensitive: did you mean 'CACert'?)");
        expect_error("[Module iam]\nPlugin=sw\nPlugins=sw\n", "3: [Module iam] Plugins: unknown key");
        expect_error("[NodeLink]\nListen=[::]:1\n", "2: [NodeLink] Listen: unknown key");
        expect_error("Plugin=sw\n", "1: Plugin: key outside of any section");

        /* Lines inih cannot parse, and broken section headers. */
        expect_error("[Certd]\nCACert=/ca.pem\nthis is not a key\n",
                     "3: cannot parse 'this is not a key': expected Key=value");
        expect_error("[Certd]\n=value\n", "2: [Certd]: expected Key=value");
        expect_error("[Certd\nCACert=/ca.pem\n", "1: section header without closing ']'");
        expect_error("[Certd] x\n", "1: unexpected text after ']'");
        /* An indented line is not a continuation: it is a line of its own. */
        expect_error("[Module iam]\nAlternativeNames=a.local\n    b.local\n", "3: cannot parse '    b.local'");

        /* Syntax error before a semantic one: the syntax error is reported. */
        expect_error("[Certd]\nbroken\nUnknownKey=1\n", "2: cannot parse 'broken'");

        /* A line too long for inih. */
        char line[1024];
        int n = snprintf(line, sizeof line, "[Node]\n\nTitle=");
        memset(line + n, 'x', 600);
        line[n + 600] = '\n';
        line[n + 601] = 0;
        expect_error(line, "3: line is longer than");

        /* Unknown sections are skipped, keys and all. */
        write_main("[Future]\nWhatever=1\n[Certd]\nCACert=/x/ca.pem\n[certd]\nCACert=ignored\n");
        AosConfig *c = load_ok();
        ck_assert_str_eq(c->certd.ca_cert, "/x/ca.pem");
        config_free(c);

        /* NUL bytes are refused. */
        _cleanup_free_ char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/iam.conf", dir), 0);
        ck_assert_int_eq(write_file_atomic(p, "[Certd]\n\0x\n", 11, 0644), 0);
        expect_error_in("iam.conf", " file contains a NUL byte");
}
END_TEST

START_TEST(test_machine_id) {
        write_main("[Node]\nTitle=t\n");
        AosConfig *c = load_ok();
        ck_assert_str_eq(c->node.id, MACHINE_ID);
        config_free(c);

        /* Missing machine-id. */
        _cleanup_free_ char *missing = NULL, *err = NULL, *expected = NULL;
        ck_assert_int_ge(asprintf(&missing, "%s/no-machine-id", dir), 0);
        setenv("AOS_MACHINE_ID_FILE", missing, 1);
        ck_assert_int_eq(config_load(conf, false, &c, &err), -EINVAL);
        ck_assert_int_ge(asprintf(&expected, "[Node] Id: Node Id is not set and %s cannot be read: No such file or directory",
                                  missing), 0);
        ck_assert_msg(strstr(err, expected), "%s", err);
        ck_assert_ptr_nonnull(startswith(err, conf));

        /* A machine-id that is not one (first boot writes "uninitialized"). */
        _cleanup_free_ char *bad = NULL;
        ck_assert_int_ge(asprintf(&bad, "%s/bad-machine-id", dir), 0);
        ck_assert_int_eq(write_file_atomic(bad, "uninitialized\n", 14, 0644), 0);
        setenv("AOS_MACHINE_ID_FILE", bad, 1);
        free(err);
        err = NULL;
        ck_assert_int_eq(config_load(conf, false, &c, &err), -EINVAL);
        ck_assert_msg(strstr(err, "Node Id is not set and"), "%s", err);

        /* An explicit Id needs no machine-id; an empty one falls back to it, named at its line. */
        write_main("[Node]\nId=node-2\n");
        c = load_ok();
        ck_assert_str_eq(c->node.id, "node-2");
        config_free(c);
        expect_error("[Node]\nTitle=t\nId=\n", "3: [Node] Id: Node Id is not set and");
}
END_TEST

START_TEST(test_commands) {
        write_main("[Provisioning]\nStartCommand=  /bin/echo  a\tb  \nFinishCommand=/bin/true\n");
        free(write_conf("iam.conf.d/a.conf", "[Provisioning]\nFinishCommand=\nDeprovisionCommand=/bin/wipe \"quoted arg\"\n"));
        AosConfig *c = load_ok();
        char **a = c->provisioning.start_command;
        ck_assert_uint_eq(strv_length(a), 3);
        ck_assert_str_eq(a[0], "/bin/echo");
        ck_assert_str_eq(a[1], "a");
        ck_assert_str_eq(a[2], "b");
        ck_assert_ptr_null(c->provisioning.finish_command);
        ck_assert_ptr_null(c->provisioning.disk_encryption_command);
        /* No shell and no quoting: white space splits, always. */
        a = c->provisioning.deprovision_command;
        ck_assert_uint_eq(strv_length(a), 3);
        ck_assert_str_eq(a[1], "\"quoted");
        config_free(c);
}
END_TEST

START_TEST(test_durations) {
        static const struct {
                const char *s;
                int r;
                uint64_t usec;
        } cases[] = {
                { "0", 0, 0 },
                { "30", 0, 30 * USEC_PER_SEC },
                { "30s", 0, 30 * USEC_PER_SEC },
                { "30sec", 0, 30 * USEC_PER_SEC },
                { "2min", 0, 120 * USEC_PER_SEC },
                { "007", 0, 7 * USEC_PER_SEC },
                { "18446744073709", 0, 18446744073709 * USEC_PER_SEC },
                { "18446744073710", -ERANGE, 0 },
                { "307445734561826min", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "1 s", -EINVAL, 0 },
                { "1.5s", -EINVAL, 0 },
                { "1m", -EINVAL, 0 },
                { "1ms", -EINVAL, 0 },
                { "1h", -EINVAL, 0 },
                { "1S", -EINVAL, 0 },
                { "1mins", -EINVAL, 0 },
                { "1min1s", -EINVAL, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t u = 4242;
                int r = parse_duration(cases[i].s, &u);
                ck_assert_msg(r == cases[i].r, "'%s': %d", cases[i].s, r);
                ck_assert_msg(u == (r == 0 ? cases[i].usec : 4242), "'%s': %" PRIu64, cases[i].s, u);
        }
        uint64_t u;
        ck_assert_int_eq(parse_duration(NULL, &u), -EINVAL);
}
END_TEST

START_TEST(test_booleans) {
        static const char *const yes[] = { "yes", "true", "on", "1", "YES", "True" };
        static const char *const no[] = { "no", "false", "off", "0", "No", "FALSE" };
        static const char *const bad[] = { "", "y", "n", "2", "yess", " yes", "enabled", "-1" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                ck_assert_int_eq(parse_boolean(yes[i]), 1);
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                ck_assert_int_eq(parse_boolean(no[i]), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_int_eq(parse_boolean(bad[i]), -EINVAL);
        ck_assert_int_eq(parse_boolean(NULL), -EINVAL);
}
END_TEST

START_TEST(test_enum_strings) {
        for (int i = 0; i < _MODULE_PLUGIN_MAX; i++)
                ck_assert_int_eq(module_plugin_from_string(module_plugin_to_string(i)), i);
        for (int i = 0; i < _KEY_ALGORITHM_MAX; i++)
                ck_assert_int_eq(key_algorithm_from_string(key_algorithm_to_string(i)), i);
        ck_assert_str_eq(module_plugin_to_string(MODULE_PLUGIN_SW), "sw");
        ck_assert_str_eq(key_algorithm_to_string(KEY_ALGORITHM_ECDSA), "ecdsa");
        ck_assert_ptr_null(module_plugin_to_string(_MODULE_PLUGIN_MAX));
        ck_assert_ptr_null(key_algorithm_to_string(_KEY_ALGORITHM_MAX));
        ck_assert_int_eq(module_plugin_from_string("hsm"), -EINVAL);
        ck_assert_int_eq(module_plugin_from_string(NULL), -EINVAL);
        ck_assert_int_eq(key_algorithm_from_string("RSA"), -EINVAL);
        ck_assert_ptr_null(config_free(NULL));
}
END_TEST

START_TEST(test_unreadable) {
        /* A drop-in path that is not a directory is an error, not silently skipped. */
        write_main("[Certd]\n");
        _cleanup_free_ char *d = NULL;
        ck_assert_int_ge(asprintf(&d, "%s/other.conf", dir), 0);
        ck_assert_int_eq(write_file_atomic(d, "", 0, 0644), 0);
        _cleanup_free_ char *dd = NULL;
        ck_assert_int_ge(asprintf(&dd, "%s.d", d), 0);
        ck_assert_int_eq(write_file_atomic(dd, "", 0, 0644), 0);

        AosConfig *c = NULL;
        _cleanup_free_ char *err = NULL;
        ck_assert_int_eq(config_load(d, false, &c, &err), -ENOTDIR);
        ck_assert_ptr_nonnull(strstr(err, dd));

        /* The main path being a directory. */
        free(err);
        err = NULL;
        ck_assert_int_eq(config_load(dir, false, &c, &err), -EISDIR);
        ck_assert_ptr_nonnull(strstr(err, dir));
        ck_assert_int_eq(config_load(conf, false, NULL, NULL), -EINVAL);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("config");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_missing_file);
        tcase_add_test(tc, test_every_key);
        tcase_add_test(tc, test_syntax);
        tcase_add_test(tc, test_dropins);
        tcase_add_test(tc, test_module_order_and_merge);
        tcase_add_test(tc, test_too_many_modules);
        tcase_add_test(tc, test_validation_errors);
        tcase_add_test(tc, test_error_location);
        tcase_add_test(tc, test_unknown);
        tcase_add_test(tc, test_machine_id);
        tcase_add_test(tc, test_commands);
        tcase_add_test(tc, test_durations);
        tcase_add_test(tc, test_booleans);
        tcase_add_test(tc, test_enum_strings);
        tcase_add_test(tc, test_unreadable);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(config_suite());
}
