/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A CA whose key aosctl holds (the factory's local CA): signs the nodes' CSRs in-process with
 * gnutls. Only the CSR's subject, public key, extended key usages and subject alternative names
 * are taken over; everything else (not a CA, key usage, validity, serial) is set here, so that
 * a CSR cannot ask for more than a node certificate. No function here prints; failures come
 * with a reason. */

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "x509.h"

#define LOCAL_CA_DAYS_DEFAULT 365U
#define LOCAL_CA_DAYS_MAX 36500U

typedef struct LocalCa {
        X509Chain chain;        /* the --ca-cert file: the issuing CA first, then its issuers */
        gnutls_privkey_t key;   /* the issuing CA's key */
} LocalCa;

void local_ca_done(LocalCa *ca);

/* Loads the CA: cert_path is a PEM file whose first certificate is the issuing CA (followed by
 * any intermediates up to the root, which are appended to every chain); key is a file path or a
 * key URL (file:, pkcs11:). The key must belong to the first certificate, which must be a CA.
 * Returns -ENOENT/-EACCES (file), -EBADMSG (contents), -EKEYREJECTED (not a CA, key mismatch). */
int local_ca_load(const char *cert_path, const char *key, LocalCa *ret, char **ret_reason);

/* Signs a PEM CSR: subject and public key from the CSR (whose self-signature must verify), EKU
 * and SAN extensions copied from it, not a CA, key usage digitalSignature (+ keyEncipherment
 * for RSA), a random positive 16-byte serial, NotBefore now - 1 min, NotAfter now + days.
 * Returns the chain as PEM: the new certificate, then the certificates of the CA file. */
int local_ca_sign(const LocalCa *ca, const char *csr_pem, unsigned days, char **ret_chain_pem,
                  char **ret_reason);
