/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include "identity.h"
#include "macro.h"

#define PROV_IFACE "org.aosedge.Provisioning1.Manager"
#define CERTS_IFACE "org.aosedge.Certs1.Manager"

static const char *const channel_names[_LINK_CHANNEL_MAX] = {
        [LINK_CHANNEL_PROTECTED] = "protected",
        [LINK_CHANNEL_BOOTSTRAP] = "bootstrap",
};

const char *link_channel_to_string(LinkChannel c) {
        return c >= 0 && c < _LINK_CHANNEL_MAX ? channel_names[c] : NULL;
}

LinkChannel link_channel_from_string(const char *s) {
        for (int i = 0; s && i < _LINK_CHANNEL_MAX; i++)
                if (streq(channel_names[i], s))
                        return (LinkChannel) i;
        return _LINK_CHANNEL_INVALID;
}

bool node_id_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < 1 || n > NODE_ID_LENGTH_MAX)
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

bool node_state_is_valid(const char *s) {
        static const char *const states[] = { "unprovisioned", "provisioned", "paused", "error", NULL };
        return s && strv_contains((char **) states, s);
}

bool identity_cert_names_node(const char *common_name, char *const *dns_names, const char *node_id) {
        if (isempty(node_id))
                return false;
        if (streq_ptr(common_name, node_id))
                return true;
        for (char *const *n = dns_names; n && *n; n++)
                if (streq(*n, node_id))
                        return true;
        return false;
}

int identity_check_registration(const PeerIdentity *peer, const char *node_id, const char *state,
                                const PeerIdentity *existing, const char *pinned_fingerprint,
                                const char **ret_reason) {
        const char *reason = NULL;
        int r = -EPERM;

        if (!peer || !ret_reason)
                return -EINVAL;
        if (!node_id_is_valid(node_id)) {
                reason = "the node id is malformed";
                r = -EINVAL;
        } else if (!node_state_is_valid(state)) {
                reason = "the node state is unknown";
                r = -EINVAL;
        } else if (isempty(peer->fingerprint))
                reason = "the peer presented no certificate";
        else
                switch (peer->channel) {
                case LINK_CHANNEL_PROTECTED:
                        if (!identity_cert_names_node(peer->common_name, peer->dns_names, node_id))
                                reason = "the client certificate names neither in its CN nor in a DNS SAN the node id it registers with";
                        /* A valid certificate for the id proves the identity: it replaces any
                         * earlier link of that id, bootstrap or protected. */
                        break;
                case LINK_CHANNEL_BOOTSTRAP:
                        if (!streq(state, "unprovisioned"))
                                reason = "a node on the bootstrap channel may only register as unprovisioned";
                        else if (pinned_fingerprint && !streq(pinned_fingerprint, peer->fingerprint))
                                reason = "the node id was seen with another bootstrap certificate (fingerprint differs)";
                        else if (existing && existing->channel == LINK_CHANNEL_PROTECTED)
                                reason = "the node id is connected on the protected channel";
                        else if (existing && !streq_ptr(existing->fingerprint, peer->fingerprint))
                                reason = "the node id is connected with another bootstrap certificate";
                        break;
                case _LINK_CHANNEL_MAX:
                case _LINK_CHANNEL_INVALID:
                        reason = "unknown channel";
                        break;
                }

        *ret_reason = reason;
        return reason ? r : 0;
}

bool identity_call_allowed(const char *interface, const char *member) {
        if (!interface || !member)
                return false;
        if (streq(interface, PROV_IFACE))
                return strv_contains((char *[]) { "GetCertTypes", "StartProvisioning", "CreateKey", "ApplyCert",
                                                  "FinishProvisioning", "Deprovision", "PauseNode", "ResumeNode",
                                                  NULL },
                                     member);
        if (streq(interface, CERTS_IFACE))
                return strv_contains((char *[]) { "GetCertTypes", "GetCert", "ListCerts", NULL }, member);
        return false;
}

const char *identity_call_destination(const char *interface) {
        if (streq_ptr(interface, PROV_IFACE))
                return "org.aosedge.Provisioning1";
        if (streq_ptr(interface, CERTS_IFACE))
                return "org.aosedge.Certs1";
        return NULL;
}

const char *identity_call_path(const char *interface) {
        if (streq_ptr(interface, PROV_IFACE))
                return "/org/aosedge/Provisioning1";
        if (streq_ptr(interface, CERTS_IFACE))
                return "/org/aosedge/Certs1";
        return NULL;
}

bool identity_call_is_long(const char *interface, const char *member) {
        return streq_ptr(interface, PROV_IFACE) &&
               strv_contains((char *[]) { "StartProvisioning", "FinishProvisioning", "Deprovision", NULL }, strempty(member));
}

const char *identity_call_polkit_action(const char *interface, const char *member) {
        if (!streq_ptr(interface, PROV_IFACE) || streq_ptr(member, "GetCertTypes"))
                return NULL;
        if (streq_ptr(member, "PauseNode") || streq_ptr(member, "ResumeNode"))
                return "org.aosedge.provisioning.pause";
        return "org.aosedge.provisioning.provision";
}
