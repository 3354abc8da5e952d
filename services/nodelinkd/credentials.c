/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>

#include "credentials.h"
#include "keyurl.h"
#include "macro.h"
#include "x509.h"

int credentials_new_from_urls(const char *cert_url, const char *key_url, Credentials **ret) {
        _cleanup_(x509_chain_done) X509Chain chain = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        gnutls_pcert_st *pcerts = NULL;
        Credentials *c;
        int r;

        if (!cert_url || !key_url || !ret)
                return -EINVAL;
        r = certurl_load_chain(cert_url, &chain);
        if (r < 0)
                return r;
        if (chain.n == 0)
                return -ENOENT;
        r = x509_cert_info(chain.certs[0], &info);
        if (r < 0)
                return r;
        r = keyurl_open_privkey(key_url, &key);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(Credentials));
        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        c->fingerprint = TAKE_PTR(info.fingerprint);
        if (gnutls_certificate_allocate_credentials(&c->cred) < 0) {
                credentials_unref(c);
                return -ENOMEM;
        }

        pcerts = calloc(chain.n, sizeof(gnutls_pcert_st));
        if (!pcerts) {
                credentials_unref(c);
                return -ENOMEM;
        }
        unsigned n = chain.n;
        if (gnutls_pcert_import_x509_list(pcerts, chain.certs, &n, 0) < 0) {
                free(pcerts);
                credentials_unref(c);
                return -EBADMSG;
        }
        /* On success gnutls owns the pcerts' contents and the key (it copies the array). */
        if (gnutls_certificate_set_key(c->cred, NULL, 0, pcerts, (int) n, key) < 0) {
                for (unsigned i = 0; i < n; i++)
                        gnutls_pcert_deinit(&pcerts[i]);
                free(pcerts);
                credentials_unref(c);
                return -EKEYREJECTED;
        }
        free(pcerts);
        key = NULL;

        *ret = c;
        return 0;
}

Credentials *credentials_ref(Credentials *c) {
        if (c)
                c->n_ref++;
        return c;
}

Credentials *credentials_unref(Credentials *c) {
        if (!c || --c->n_ref > 0)
                return NULL;
        if (c->cred)
                gnutls_certificate_free_credentials(c->cred);
        free(c->fingerprint);
        free(c);
        return NULL;
}

static int parse_get_cert_reply(sd_bus_message *reply, char **ret_cert_url, char **ret_key_url) {
        _cleanup_free_ char *cert_url = NULL, *key_url = NULL;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key, *value;
                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "CertURL") || streq(key, "KeyURL")) {
                        r = sd_bus_message_read(reply, "v", "s", &value);
                        if (r < 0)
                                return r;
                        char **dst = streq(key, "CertURL") ? &cert_url : &key_url;
                        free(*dst);
                        *dst = strdup(value);
                        if (!*dst)
                                return -ENOMEM;
                } else {
                        r = sd_bus_message_skip(reply, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!cert_url || !key_url)
                return -ENOENT;
        *ret_cert_url = TAKE_PTR(cert_url);
        *ret_key_url = TAKE_PTR(key_url);
        return 0;
}

typedef struct GetCertCall {
        CertdCertFn cb;
        void *userdata;
} GetCertCall;

static int on_get_cert_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        GetCertCall *c = userdata;
        _cleanup_free_ char *cert_url = NULL, *key_url = NULL;
        const sd_bus_error *e = NULL;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                e = sd_bus_message_get_error(reply);
                r = sd_bus_message_get_errno(reply);
                r = r > 0 ? -r : -EIO;
        } else
                r = parse_get_cert_reply(reply, &cert_url, &key_url);
        c->cb(r, cert_url, key_url, e, c->userdata);
        return 1;
}

int certd_get_current_cert_async(sd_bus *bus, const char *type, CertdCertFn cb, void *userdata,
                                 sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        GetCertCall *c;
        int r;

        if (!bus || !type || !cb || !ret_slot)
                return -EINVAL;
        r = sd_bus_message_new_method_call(bus, &m, "org.aosedge.Certs1", "/org/aosedge/Certs1",
                                           "org.aosedge.Certs1.Manager", "GetCert");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", type);
        if (r < 0)
                return r;
        r = sd_bus_message_append_array(m, 'y', NULL, 0);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", "");
        if (r < 0)
                return r;
        c = calloc(1, sizeof(GetCertCall));
        if (!c)
                return -ENOMEM;
        c->cb = cb;
        c->userdata = userdata;
        r = sd_bus_call_async(bus, &slot, m, on_get_cert_reply, c, CERTD_GET_CERT_TIMEOUT_USEC);
        if (r < 0) {
                free(c);
                return r;
        }
        /* The context goes with the slot: after the reply, or when the caller drops the slot. */
        r = sd_bus_slot_set_destroy_callback(slot, free);
        if (r < 0) {
                free(c);
                return r;
        }
        *ret_slot = TAKE_PTR(slot);
        return 0;
}
