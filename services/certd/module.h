/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A certificate module: one certificate type, its backend and its metadata. The operations are
 * synchronous and run on aos-certd's worker thread (or directly in unit tests).
 *
 * Errors are negative errno with a reason for the caller (never containing a secret):
 *   -ENOENT      not found                      -EBADMSG/-E2BIG  the PEM input is unusable
 *   -EKEYREJECTED/-EKEYEXPIRED  the chain fails verification
 *   -ENOKEY      the certificate is for no pending key of this module
 *   -EACCES      wrong password                 -EPERM   the module has no owner yet
 *   -EOPNOTSUPP  the module cannot do this      anything else: the backend failed
 *
 * Crash safety: every operation orders its steps so that an interruption at any point is
 * repaired by cert_module_reconcile() at the next start and the same call can be repeated:
 *   CreateKey:  generate in backend -> record pending key -> CSR (an unrecorded key is an orphan)
 *   ApplyCert:  store in backend -> one transaction (insert, drop pending row, drop trimmed rows)
 *               -> remove trimmed objects (left-overs are found again and trimmed)
 *   Clear:      backend objects -> metadata (rows without objects are dropped) */

#include <sqlite3.h>
#include <stdint.h>

#include "backend.h"
#include "cert-store.h"
#include "config.h"
#include "x509.h"

#define CERT_MODULE_PENDING_MAX 5
#define CERT_MODULE_SUBJECT_MAX 64
#define CERT_MODULE_SELF_SIGNED_LIFETIME_USEC (UINT64_C(100) * 365 * 24 * 3600 * 1000000)

typedef struct CertModule {
        const ModuleConfig *config;   /* borrowed */
        const X509Chain *roots;       /* borrowed: the CA every chain must end at */
        sqlite3 *db;                  /* borrowed: the worker's connection */
        CertBackend *backend;         /* NULL when the backend could not be set up */
        int backend_error;            /* why backend is NULL */
} CertModule;

typedef struct ReconcileStats {
        unsigned rows_added;     /* certificates found in the backend, missing in the database */
        unsigned rows_removed;   /* rows whose certificate or key is gone */
        unsigned objects_removed; /* orphaned keys and certificates */
        unsigned pending_removed; /* pending rows whose key is gone or already certified */
        unsigned trimmed;        /* beyond MaxItems */
} ReconcileStats;

int cert_module_new(const ModuleConfig *config, const CertdConfig *certd, const X509Chain *roots,
                    sqlite3 *db, CertModule **ret);
CertModule *cert_module_free(CertModule *m);

int cert_module_set_owner(CertModule *m, const char *password, char **ret_reason);
int cert_module_clear(CertModule *m, char **ret_reason);
int cert_module_create_key(CertModule *m, const char *subject, const char *password, char **ret_csr,
                           char **ret_reason);
/* Applying a certificate that is already stored for this module returns its record again, so
 * that an interrupted ApplyCert can be repeated. Returns 1 if it was applied now, 0 if it was
 * there already. */
int cert_module_apply_cert(CertModule *m, const char *pem, size_t size, uint64_t now_usec,
                           CertRecord *ret, char **ret_reason);
int cert_module_create_self_signed(CertModule *m, const char *cn, const char *password,
                                   CertRecord *ret, char **ret_reason);

/* Makes backend and database agree (see module.c); skipped for SkipValidation modules. */
int cert_module_reconcile(CertModule *m, ReconcileStats *ret);

/* Reads for the bus loop use their own connection. */
int cert_module_has_objects(CertModule *m);
