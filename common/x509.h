/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* X.509 work with gnutls: CSRs, self-signed certificates, chain parsing and verification,
 * and the certificate information the D-Bus API reports. No logging; failures that a caller
 * shows to a user come with a reason string ("certificate 2 of 3 is not signed by its
 * issuer"). */

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(gnutls_privkey_t, gnutls_privkey_deinit);
DEFINE_TRIVIAL_CLEANUP_FUNC(gnutls_pubkey_t, gnutls_pubkey_deinit);
DEFINE_TRIVIAL_CLEANUP_FUNC(gnutls_x509_crt_t, gnutls_x509_crt_deinit);
DEFINE_TRIVIAL_CLEANUP_FUNC(gnutls_x509_crq_t, gnutls_x509_crq_deinit);

#define X509_CHAIN_MAX 16              /* certificates in one chain */
#define X509_PEM_MAX (1024 * 1024)     /* bytes of PEM accepted for one chain */

typedef struct X509Chain {
        gnutls_x509_crt_t *certs; /* leaf first */
        size_t n;
} X509Chain;

void x509_chain_done(X509Chain *c);

typedef struct X509CertInfo {
        char *subject;    /* RFC 4514 */
        char *issuer;     /* RFC 4514 */
        void *issuer_der; /* raw DER of the issuer Name */
        size_t issuer_der_size;
        char *serial;     /* lowercase hex, no leading 00 padding removed/added: as encoded */
        uint64_t not_before; /* µs since the epoch */
        uint64_t not_after;
        char *fingerprint; /* SHA-256 of the DER certificate, lowercase hex */
        char *key_id;      /* SHA-256 of the SubjectPublicKeyInfo, lowercase hex: pairs keys and certs */
        char *common_name; /* first CN of the subject, or NULL */
} X509CertInfo;

void x509_cert_info_done(X509CertInfo *i);

/* Parses one or more PEM "CERTIFICATE" blocks, leaf first. Empty input, no certificate, a
 * malformed block, more than X509_CHAIN_MAX certificates or more than X509_PEM_MAX bytes give
 * -EBADMSG (or -E2BIG for size) and a reason naming the block. */
int x509_chain_from_pem(const void *pem, size_t size, X509Chain *ret, char **ret_reason);
int x509_chain_to_pem(const X509Chain *c, char **ret_pem);
int x509_chain_load_file(const char *path, X509Chain *ret, char **ret_reason);

/* Verifies, in this order, and stops at the first failure with a reason:
 *  1. each certificate is signed by the next one (and names it as issuer);
 *  2. the last certificate is, or is signed by, one of roots (the configured CACert);
 *  3. every certificate is valid at now_usec (not before NotBefore, not after NotAfter);
 *  4. the leaf carries every EKU in required_eku ("serverAuth", "clientAuth"; NULL: none).
 * A cyclic or repeated chain fails at step 1 or 2, never loops.
 * Returns 0, or -EKEYREJECTED (1, 2, 4), -EKEYEXPIRED (3), -ENOMEM. */
int x509_chain_verify(const X509Chain *chain, const X509Chain *roots, uint64_t now_usec,
                      char *const *required_eku, char **ret_reason);

int x509_cert_info(gnutls_x509_crt_t crt, X509CertInfo *ret);

/* SHA-256 of the SubjectPublicKeyInfo of a private key's public half, lowercase hex.
 * -EOPNOTSUPP for a key gnutls cannot derive the public half of (gnutls_privkey_import_ext*():
 * TPM keys); use x509_pubkey_key_id() with the key's public key instead. */
int x509_privkey_key_id(gnutls_privkey_t key, char **ret_key_id);
/* The same for a public key: SHA-256 of its DER SubjectPublicKeyInfo, lowercase hex. */
int x509_pubkey_key_id(gnutls_pubkey_t pub, char **ret_key_id);

/* A PKCS#10 request signed with key: subject "CN=<cn>", the EKU extension with the given
 * names in order (if any), DNS SANs (if any). SHA-384 for P-384 keys, SHA-256 for RSA.
 * The public key in the request is key's own; -EOPNOTSUPP if gnutls cannot derive it. */
int x509_make_csr(gnutls_privkey_t key, const char *cn, char *const *eku, char *const *dns_names,
                  char **ret_pem);
/* The same with the public key given (NULL: derived from key as above), for keys gnutls
 * cannot derive it from (keyurl_open_pubkey() gives it for every key URL). The request is
 * verified with pub once signed: -EKEYREJECTED if key and pub are not a pair. */
int x509_make_csr_with_pubkey(gnutls_privkey_t key, gnutls_pubkey_t pub, const char *cn, char *const *eku,
                              char *const *dns_names, char **ret_pem);

/* A self-signed certificate for key: subject = issuer = "CN=<cn>", random 16-byte positive
 * serial, NotBefore = now - 1 min, NotAfter = now + lifetime, EKU and DNS SANs as above,
 * not a CA. */
int x509_make_self_signed(gnutls_privkey_t key, const char *cn, char *const *eku,
                          char *const *dns_names, uint64_t lifetime_usec, gnutls_x509_crt_t *ret);
/* The same with the public key given (NULL: derived from key), as x509_make_csr_with_pubkey().
 * The certificate's signature is verified with pub: -EKEYREJECTED if they are not a pair. */
int x509_make_self_signed_with_pubkey(gnutls_privkey_t key, gnutls_pubkey_t pub, const char *cn,
                                      char *const *eku, char *const *dns_names, uint64_t lifetime_usec,
                                      gnutls_x509_crt_t *ret);

/* The OID for "serverAuth"/"clientAuth", NULL if unknown. */
const char *x509_eku_oid(const char *name);
