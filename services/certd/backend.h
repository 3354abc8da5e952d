/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The key storage backend interface of aos-certd. One instance per certificate module; modules
 * may share the same physical storage (two pkcs11 modules on one token), and a backend must
 * then touch only the objects of its own module (CKA_LABEL == type, files under
 * StorageDir/<type>/, ...).
 *
 * Threading: aos-certd calls every backend operation from its single worker thread, one at a
 * time, never from the bus loop. Backends need no locking against each other, and may block.
 *
 * Errors are negative errno; a backend logs the detail (never a PIN or password) and the
 * caller turns the errno into a bus error. Conventions:
 *   -EACCES  wrong password / PIN       -ENOENT  object not there (remove_* treat it as done)
 *   -ENODEV  token or TPM not reachable -ENOSPC  storage full          -EIO  anything else */

#include <stddef.h>

#include "config.h"
#include "x509.h"

typedef struct CertBackend CertBackend;
typedef struct CertBackendVTable CertBackendVTable;

typedef enum BackendObjectKind {
        BACKEND_OBJECT_KEY,
        BACKEND_OBJECT_CERT,
} BackendObjectKind;

typedef struct BackendObject {
        BackendObjectKind kind;
        char *url;    /* key URL or certificate URL, as returned by create_key/store_cert */
        char *key_id; /* SHA-256 of the SubjectPublicKeyInfo (x509_privkey_key_id / X509CertInfo.key_id):
                       * a key and a certificate with the same key_id belong together */
        X509Chain chain; /* BACKEND_OBJECT_CERT: the stored chain, leaf first */
} BackendObject;

void backend_objects_free(BackendObject *o, size_t n);

struct CertBackend {
        const CertBackendVTable *vtable;
        const ModuleConfig *module; /* borrowed; lives as long as the daemon's config */
        const CertdConfig *certd;
};

struct CertBackendVTable {
        const char *name;
        size_t object_size; /* sizeof the backend's struct, which starts with CertBackend */

        /* Called once at start-up; must not fail because the storage is absent or not yet
         * owned (that is reported by the operations). */
        int (*init)(CertBackend *b);
        void (*done)(CertBackend *b);

        /* Takes ownership of the storage with password. pkcs11: initializes the token with the
         * password as SO PIN and a CSPRNG user PIN written 0600 to UserPINFile; a token that is
         * initialized already must accept password as its SO PIN (-EACCES otherwise, tried
         * once: a real token locks its SO PIN after a few wrong attempts, and PKCS#11 cannot
         * re-initialize a token without its current SO PIN), and then gets a new user PIN only
         * if the PIN file is missing or stale. Never destroys objects of other modules.
         * sw: creates StorageDir/<type> (0700). */
        int (*set_owner)(CertBackend *b, const char *password);

        /* Generates a key of module->algorithm inside the storage (non-extractable where the
         * storage can do that), with a random id. Returns its URL and key_id. */
        int (*create_key)(CertBackend *b, char **ret_key_url, char **ret_key_id);
        int (*remove_key)(CertBackend *b, const char *key_url);

        /* Stores chain (leaf first) beside the key at key_url; returns the certificate URL.
         * pkcs11: the leaf as a certificate object with the key's CKA_ID and label = type,
         * intermediates once each (label = type); sw: one PEM file with the chain. */
        int (*store_cert)(CertBackend *b, const char *key_url, const X509Chain *chain,
                          char **ret_cert_url);
        /* Removes the certificate (and intermediates no other certificate of this module still
         * needs). */
        int (*remove_cert)(CertBackend *b, const char *cert_url);

        /* Every key and leaf certificate object of this module (intermediates are not listed). */
        int (*list)(CertBackend *b, BackendObject **ret, size_t *ret_n);

        /* Removes every object of this module, nothing else. */
        int (*clear)(CertBackend *b);
};

extern const CertBackendVTable backend_pkcs11_vtable;
extern const CertBackendVTable backend_sw_vtable;
/* Set by the TPM backend when built (NULL otherwise). */
extern const CertBackendVTable *const backend_tpm_vtable_ptr;

/* Allocates and initializes the backend for module->plugin. -EOPNOTSUPP if that plugin is
 * not built in. */
int cert_backend_new(const ModuleConfig *module, const CertdConfig *certd, CertBackend **ret);
void cert_backend_free(CertBackend *b);
