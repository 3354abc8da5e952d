/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>

#include "identity.h"
#include "test-util.h"

#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

START_TEST(test_cert_names) {
        char *sans[] = { "node-2.local", "node-2", NULL };
        ck_assert(identity_cert_names_node("node-1", NULL, "node-1"));
        ck_assert(!identity_cert_names_node("node-1", NULL, "Node-1")); /* case sensitive */
        ck_assert(!identity_cert_names_node("node-1x", NULL, "node-1"));
        ck_assert(identity_cert_names_node("other", sans, "node-2"));
        ck_assert(!identity_cert_names_node("other", sans, "node-3"));
        ck_assert(!identity_cert_names_node(NULL, NULL, "node-1"));
        ck_assert(!identity_cert_names_node("", NULL, ""));
}
END_TEST

START_TEST(test_protected) {
        const char *why;
        PeerIdentity p = { LINK_CHANNEL_PROTECTED, "node-1", NULL, FP_A };
        PeerIdentity old_b = { LINK_CHANNEL_BOOTSTRAP, NULL, NULL, FP_B };

        ck_assert_int_eq(identity_check_registration(&p, "node-1", "provisioned", NULL, NULL, &why), 0);
        /* a valid certificate for the id replaces any earlier link of that id */
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "provisioned", &old_b, FP_B, &why), 0);
        /* CN that is not the claimed id */
        ck_assert_int_eq(identity_check_registration(&p, "node-2", "provisioned", NULL, NULL, &why), -EPERM);
        ck_assert_ptr_nonnull(why);
        /* malformed id and state */
        ck_assert_int_eq(identity_check_registration(&p, "node 1", "provisioned", NULL, NULL, &why), -EINVAL);
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "bogus", NULL, NULL, &why), -EINVAL);
        ck_assert_int_eq(identity_check_registration(&p, NULL, "provisioned", NULL, NULL, &why), -EINVAL);
}
END_TEST

START_TEST(test_bootstrap) {
        const char *why;
        PeerIdentity p = { LINK_CHANNEL_BOOTSTRAP, "node-1", NULL, FP_A };
        PeerIdentity old_same = { LINK_CHANNEL_BOOTSTRAP, NULL, NULL, FP_A };
        PeerIdentity old_other = { LINK_CHANNEL_BOOTSTRAP, NULL, NULL, FP_B };
        PeerIdentity old_prot = { LINK_CHANNEL_PROTECTED, "node-1", NULL, FP_B };

        /* first contact: any id, only unprovisioned */
        ck_assert_int_eq(identity_check_registration(&p, "node-7", "unprovisioned", NULL, NULL, &why), 0);
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "provisioned", NULL, NULL, &why), -EPERM);
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "paused", NULL, NULL, &why), -EPERM);
        /* the pinned fingerprint must match */
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "unprovisioned", NULL, FP_A, &why), 0);
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "unprovisioned", NULL, FP_B, &why), -EPERM);
        /* replacing a live link: only with the same fingerprint, never a protected one */
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "unprovisioned", &old_same, FP_A, &why), 0);
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "unprovisioned", &old_other, NULL, &why), -EPERM);
        ck_assert_int_eq(identity_check_registration(&p, "node-1", "unprovisioned", &old_prot, NULL, &why), -EPERM);
        /* no certificate at all */
        PeerIdentity none = { LINK_CHANNEL_BOOTSTRAP, NULL, NULL, NULL };
        ck_assert_int_eq(identity_check_registration(&none, "node-1", "unprovisioned", NULL, NULL, &why), -EPERM);
}
END_TEST

START_TEST(test_allowlist) {
        ck_assert(identity_call_allowed("org.aosedge.Provisioning1.Manager", "StartProvisioning"));
        ck_assert(identity_call_allowed("org.aosedge.Provisioning1.Manager", "PauseNode"));
        ck_assert(!identity_call_allowed("org.aosedge.Provisioning1.Manager", "Frobnicate"));
        ck_assert(identity_call_allowed("org.aosedge.Certs1.Manager", "GetCertTypes"));
        ck_assert(identity_call_allowed("org.aosedge.Certs1.Manager", "ListCerts"));
        ck_assert(identity_call_allowed("org.aosedge.Certs1.Manager", "GetCert"));
        ck_assert(!identity_call_allowed("org.aosedge.Certs1.Manager", "SetOwner"));
        ck_assert(!identity_call_allowed("org.aosedge.Certs1.Manager", "Clear"));
        ck_assert(!identity_call_allowed("org.aosedge.Certs1.Manager", "ApplyCert"));
        ck_assert(!identity_call_allowed("org.freedesktop.DBus.Properties", "Set"));
        ck_assert(!identity_call_allowed("org.freedesktop.systemd1.Manager", "StartUnit"));
        ck_assert(!identity_call_allowed(NULL, "GetCert"));
        ck_assert_str_eq(identity_call_destination("org.aosedge.Certs1.Manager"), "org.aosedge.Certs1");
        ck_assert_str_eq(identity_call_path("org.aosedge.Provisioning1.Manager"), "/org/aosedge/Provisioning1");
        ck_assert(identity_call_is_long("org.aosedge.Provisioning1.Manager", "Deprovision"));
        ck_assert(!identity_call_is_long("org.aosedge.Provisioning1.Manager", "CreateKey"));
        ck_assert_str_eq(identity_call_polkit_action("org.aosedge.Provisioning1.Manager", "ResumeNode"),
                         "org.aosedge.provisioning.pause");
        ck_assert_str_eq(identity_call_polkit_action("org.aosedge.Provisioning1.Manager", "ApplyCert"),
                         "org.aosedge.provisioning.provision");
        ck_assert_ptr_null(identity_call_polkit_action("org.aosedge.Provisioning1.Manager", "GetCertTypes"));
        ck_assert_ptr_null(identity_call_polkit_action("org.aosedge.Certs1.Manager", "ListCerts"));
}
END_TEST

START_TEST(test_ids_and_channels) {
        ck_assert(node_id_is_valid("node-1.a_b"));
        ck_assert(!node_id_is_valid(""));
        ck_assert(!node_id_is_valid("a/b"));
        ck_assert(!node_id_is_valid("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")); /* 65 */
        ck_assert_int_eq(link_channel_from_string("bootstrap"), LINK_CHANNEL_BOOTSTRAP);
        ck_assert_int_eq(link_channel_from_string("protected"), LINK_CHANNEL_PROTECTED);
        ck_assert_int_eq(link_channel_from_string("other"), _LINK_CHANNEL_INVALID);
        ck_assert_str_eq(link_channel_to_string(LINK_CHANNEL_BOOTSTRAP), "bootstrap");
}
END_TEST

int main(void) {
        Suite *s = suite_create("nodelinkd identity");
        TCase *tc = tcase_create("rules");
        tcase_add_test(tc, test_cert_names);
        tcase_add_test(tc, test_protected);
        tcase_add_test(tc, test_bootstrap);
        tcase_add_test(tc, test_allowlist);
        tcase_add_test(tc, test_ids_and_channels);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
