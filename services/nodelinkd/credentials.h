/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The certificate and key one side of the link presents, as a reference-counted gnutls
 * credentials object: a TLS session holds a reference for its lifetime, so replacing the
 * credentials (a renewed certificate, CertChanged) never pulls them from under a running
 * handshake. Also the query to aos-certd for the current certificate of a module. */

#include <gnutls/gnutls.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

typedef struct Credentials {
        unsigned n_ref;
        gnutls_certificate_credentials_t cred;
        char *fingerprint; /* of the leaf presented, lowercase hex */
} Credentials;

/* Chain from a certificate URL (certurl_load_chain), key from a key URL
 * (keyurl_open_privkey): any backend. */
int credentials_new_from_urls(const char *cert_url, const char *key_url, Credentials **ret);
Credentials *credentials_ref(Credentials *c);
Credentials *credentials_unref(Credentials *c);
static inline void credentials_unrefp(Credentials **c) {
        if (*c)
                credentials_unref(*c);
}

/* org.aosedge.Certs1.Manager GetCert(type, [], "") on bus, asynchronously: cb gets the current
 * certificate's CertURL and KeyURL, or a negative errno (and certd's error, when it answered
 * one). Dropping *ret_slot before the answer cancels the call; cb is then never called. */
#define CERTD_GET_CERT_TIMEOUT_USEC (10 * UINT64_C(1000000))
typedef void (*CertdCertFn)(int error, const char *cert_url, const char *key_url, const sd_bus_error *bus_error,
                            void *userdata);
int certd_get_current_cert_async(sd_bus *bus, const char *type, CertdCertFn cb, void *userdata,
                                 sd_bus_slot **ret_slot);
