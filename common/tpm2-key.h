/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* TPM 2.0 keys through tpm2-tss ESYS: the tpm2: key URL, the opener that turns one into a
 * gnutls_privkey_t / gnutls_pubkey_t (registered with keyurl by tpm2_key_register()), and the
 * connection and conversion helpers the tpm backend of aos-certd shares.
 *
 *   tpm2:handle=0x81410203?tcti=swtpm:path=/run/aos/tpm.sock
 *
 * handle= is a persistent handle (0x81000000..0x81ffffff, hexadecimal); tcti= is the tpm2-tss
 * TCTI configuration ("device:/dev/tpmrm0", "swtpm:path=...", "tabrmd:"), percent-encoded where
 * it holds '%', '&', '#', '?' or anything outside printable ASCII; without it
 * TPM2_DEFAULT_TCTI. The key itself never leaves the TPM.
 *
 * A TCTI connection is held for one operation only (connect, do, flush what was loaded,
 * disconnect): swtpm serves one client at a time and has three transient object slots, and
 * the kernel resource manager (/dev/tpmrm0) is happiest that way too. A gnutls key from
 * tpm2_key_open_privkey() therefore connects once per signature, and holds no connection
 * between signatures. Do not open a key URL while holding a Tpm2Connection to the same swtpm:
 * the second connection would wait for the first forever.
 *
 * Library code: no logging, negative errno:
 *   -ENODEV  the TCTI cannot be loaded or the TPM cannot be reached
 *   -ENOKEY  no object at the handle            -EACCES  the TPM refused an authorization
 *   -ENOSPC  TPM memory (NV or slots) is full    -EINVAL  a malformed URL, -EIO anything else */

#include <gnutls/abstract.h>
#include <stdbool.h>
#include <stdint.h>
#include <tss2/tss2_esys.h>

#define TPM2_DEFAULT_TCTI "device:/dev/tpmrm0"

typedef struct Tpm2Url {
        uint32_t handle;
        char *tcti; /* decoded; never NULL after a successful parse */
} Tpm2Url;

void tpm2_url_done(Tpm2Url *u);
/* -EINVAL for anything but "tpm2:handle=0x81xxxxxx[?tcti=...]". */
int tpm2_url_parse(const char *url, Tpm2Url *ret);
/* tcti NULL or empty: the URL names no TCTI (TPM2_DEFAULT_TCTI applies). */
int tpm2_url_format(uint32_t handle, const char *tcti, char **ret);

typedef struct Tpm2Connection {
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
} Tpm2Connection;

/* Loads the TCTI and initializes ESYS on it. -ENODEV if either fails. */
int tpm2_connect(const char *tcti, Tpm2Connection *ret);
/* Finalizes ESYS (forgetting every ESYS_TR and the auth values set on them) and closes the
 * TCTI. Does not flush anything: the caller flushes what it loaded. Idempotent. */
void tpm2_disconnect(Tpm2Connection *c);

/* A TSS2_RC as negative errno (see above). */
int tpm2_rc_to_errno(TSS2_RC rc);
/* The TPM response code without its handle/session/parameter number, so that it can be
 * compared with TPM2_RC_HANDLE, TPM2_RC_BAD_AUTH, ... (other layers' codes are returned as they
 * are). */
TSS2_RC tpm2_rc_base(TSS2_RC rc);

/* The public key in a TPM public area (ECC P-256/P-384/P-521 or RSA) as a gnutls key. */
int tpm2_public_to_pubkey(const TPMT_PUBLIC *pub, gnutls_pubkey_t *ret);

/* Whether a persistent handle holds an object, without a TPM error on the way (Esys would log
 * one for a missing handle). */
int tpm2_persistent_exists(Tpm2Connection *c, uint32_t handle);

/* The opener and its public-half counterpart for tpm2: URLs. open_privkey reads the key's public
 * area once (to know its algorithm and name) and returns a key whose every signature connects
 * to the TPM: ECDSA (P-256/384/521) with SHA-256/384/512, RSA PKCS#1 v1.5 and RSA-PSS with
 * SHA-256/384/512 (PSS needs a key created with scheme TPM2_ALG_NULL, as the tpm backend does).
 * A signature fails if the handle holds a different key by then. */
int tpm2_key_open_privkey(const char *url, gnutls_privkey_t *ret);
int tpm2_key_open_pubkey(const char *url, gnutls_pubkey_t *ret);

/* Registers the two openers with keyurl for KEY_URL_TPM2 (idempotent). Called by the tpm
 * backend at start-up; a program that opens tpm2: URLs without one calls it itself. */
void tpm2_key_register(void);
