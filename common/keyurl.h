/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Key and certificate URLs, and the one opener that turns a key URL into a gnutls_privkey_t
 * for every backend, so that CSR signing and TLS take the same path.
 *   file:/var/lib/aos/certs/iam/<id>.key         (PEM, PKCS#8 or traditional)
 *   pkcs11:token=aoscore;object=iam;id=%01%02;type=private?module-path=/usr/lib/...so&pin-source=/var/lib/aos/aoscore.pin
 *   tpm2:handle=0x81410203?tcti=swtpm:path=/run/tpm.sock     (common/tpm2-key.h, registered)
 * pkcs11 URLs follow RFC 7512; the PIN is read from pin-source (pin-value is refused so that a
 * PIN never ends up in the database or on the bus). */

#include <gnutls/abstract.h>
#include <stddef.h>

#include "x509.h"

typedef enum KeyUrlScheme {
        KEY_URL_FILE,
        KEY_URL_PKCS11,
        KEY_URL_TPM2,
        _KEY_URL_SCHEME_MAX,
} KeyUrlScheme;

/* -EPROTONOSUPPORT for an unknown scheme, -EINVAL for a malformed URL. */
int keyurl_scheme(const char *url, KeyUrlScheme *ret);

typedef struct Pkcs11Url {
        char *token;       /* token= */
        char *object;      /* object= (CKA_LABEL) */
        void *id;          /* id= (CKA_ID), decoded */
        size_t id_size;
        char *type;        /* "private", "cert", "public", ... */
        char *module_path; /* ?module-path= */
        char *pin_source;  /* ?pin-source= (a file path) */
} Pkcs11Url;

void pkcs11_url_done(Pkcs11Url *u);
/* Refuses pin-value (-EINVAL). */
int pkcs11_url_parse(const char *url, Pkcs11Url *ret);
/* Builds a URL from the parts that are set (percent-encoding as RFC 7512 requires). */
int pkcs11_url_format(const Pkcs11Url *u, char **ret);

/* Path of a file: URL (-EINVAL if not file:). */
int file_url_path(const char *url, char **ret_path);

/* Opens a private key by URL. For pkcs11 it loads module-path into gnutls (once) and logs in
 * with the PIN from pin-source. Returns -ENOKEY if the key is not there, -EACCES for a bad
 * PIN, -EPROTONOSUPPORT for a scheme no opener is registered for. */
int keyurl_open_privkey(const char *url, gnutls_privkey_t *ret);

/* Opens the public half of the key at a URL. For file: and pkcs11: it comes from the private key;
 * a scheme whose opener makes keys gnutls cannot derive the public key of (tpm2:, whose keys are
 * gnutls_privkey_import_ext4() callbacks) registers its own pubkey opener. -EOPNOTSUPP when
 * there is neither. Errors as keyurl_open_privkey(). */
int keyurl_open_pubkey(const char *url, gnutls_pubkey_t *ret);

/* Loads the certificate chain stored at a certificate URL (file: a PEM chain; pkcs11: the
 * certificate object and its issuers found on the same token). */
int certurl_load_chain(const char *url, X509Chain *ret);

/* Lets another backend (TPM) serve its scheme without keyurl depending on it: tpm2: URLs are
 * served once tpm2_key_register() (common/tpm2-key.h, built with TPM support) has run. NULL
 * unregisters. */
typedef int (*KeyUrlOpener)(const char *url, gnutls_privkey_t *ret);
typedef int (*KeyUrlPubkeyOpener)(const char *url, gnutls_pubkey_t *ret);
typedef int (*CertUrlLoader)(const char *url, X509Chain *ret);
void keyurl_register(KeyUrlScheme scheme, KeyUrlOpener opener, CertUrlLoader loader);
void keyurl_register_pubkey(KeyUrlScheme scheme, KeyUrlPubkeyOpener opener);
