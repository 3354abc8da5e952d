/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tpm key storage backend: keys in a TPM 2.0 through tpm2-tss ESYS (swtpm in the tests),
 * certificates in files. docs/tpm.md is the operator's version of this comment.
 *
 * Connections. Every operation connects to the module's TCTI, does its work, flushes every
 * transient object and session it loaded, and disconnects: swtpm serves one client at a time
 * and has three transient object slots; the kernel's resource manager (/dev/tpmrm0) does not
 * mind. Keys opened through keyurl (tpm2: URLs, common/tpm2-key.c) connect per signature.
 *
 * Ownership, like the pkcs11 backend's SO PIN and user PIN. set_owner makes the password the
 * owner hierarchy's authorization (TPM2_HierarchyChangeAuth: from empty when the TPM is not
 * owned yet; to the same value, which proves the password, when it is), and then prepares
 * what the other operations need, since they are not given the password:
 *   - the storage key (SRK): a primary key of the owner hierarchy from the fixed template
 *     below (ECC P-256, restricted, decrypt, AES-128-CFB), persisted at SRK_HANDLE, with a
 *     random 32-character secret as its authorization value; the secret is kept 0600 in
 *     StorageDir/tpm-<16 hex digits of SHA-256(TCTI)>.auth, one file per TPM, shared by every
 *     tpm module on it;
 *   - the owner hierarchy's policy (TPM2_SetPrimaryPolicy): PolicySecret(SRK) and
 *     PolicyCommandCode(TPM2_CC_EvictControl). Making a key persistent and evicting it need
 *     the owner's authorization; this policy gives it, for EvictControl only, to whoever knows
 *     the SRK's secret. The owner password stays the only way to anything else.
 * A TPM already owned with another password is -EACCES. Hierarchy authorizations are not
 * subject to the TPM's dictionary-attack lockout, so a wrong password costs nothing. The
 * password goes to the TPM in a password session (plain, on the local bus) and is wiped from
 * our memory after use.
 *
 * Keys: children of the SRK, ECDSA P-384 or RSA 2048 (module->algorithm), fixedTPM,
 * fixedParent, sensitiveDataOrigin, sign only (no decrypt), signing scheme left open
 * (TPM2_ALG_NULL: ECDSA with any hash, RSASSA and RSA-PSS, which TLS 1.3 needs), an empty
 * authorization value (like any key behind /dev/tpmrm0: whoever may open the TPM device may
 * sign with it), made persistent with EvictControl. They never leave the TPM.
 *
 * Handles. aos-iam owns the block AOS_HANDLE_FIRST..AOS_HANDLE_LAST (0x8141xxxx) of the owner's
 * persistent handles, outside the TCG-reserved SRK and EK ranges (0x81000000..0x8101ffff):
 *   0x81410000          the SRK
 *   0x8141BB00..BBff    the keys of one certificate type: BB = 1 + (the first two bytes of
 *                       the type's marker, big-endian) mod 255, so each type has its own block
 *                       of 256 handles, derived from its name alone.
 * Two types may hash to one block, and other software may use a handle in it: a key belongs to
 * a module by its marker, never by its handle. The marker is the key's authPolicy:
 * SHA-256("org.aosedge.iam/tpm-key/" + type). It is a digest no policy session can reach
 * (that would take a preimage of SHA-256), so it authorizes nothing; the key is used with its
 * (empty) authorization value. create_key takes the first free handle of the block after the
 * last one it took (or the highest in use), wrapping, so a handle just freed is not taken
 * again at once; list and clear look at the whole aos-iam block and go by the marker.
 *
 * Certificates: StorageDir/<type>/0x<handle>.pem, the chain (leaf first), 0600 in a 0700
 * directory, written atomically. URLs: "file:<path>"; keys "tpm2:handle=0x8141BBSS?tcti=...".
 * Only the handle of a tpm2: URL matters here: the backend always talks to its own TCTI. */

#include <assert.h>
#include <inttypes.h>
#include <dirent.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <sys/stat.h>
#include <time.h>
#include <tss2/tss2_rc.h>

#include "backend.h"
#include "fs.h"
#include "keyurl.h"
#include "log.h"
#include "macro.h"
#include "tpm2-key.h"
#include "x509.h"

#define AOS_HANDLE_FIRST 0x81410000u
#define AOS_HANDLE_LAST 0x8141ffffu
#define SRK_HANDLE 0x81410000u
#define KEY_HANDLE_FIRST 0x81410100u
#define BLOCK_SLOTS 256u
#define N_BLOCKS 255u
#define SECRET_BYTES 16 /* 32 hex characters: the SRK's authValue, at most its nameAlg's size */
#define SECRET_FILE_MAX 256U
#define MARKER_PREFIX "org.aosedge.iam/tpm-key/"
#define MAX_LOADED 4

extern const CertBackendVTable backend_tpm_vtable;

typedef struct TpmBackend {
        CertBackend base;
        char *tcti;
        char *dir;       /* StorageDir/<type> */
        char *storage;   /* StorageDir */
        char *auth_file; /* StorageDir/tpm-<hash>.auth */
        uint8_t marker[32];
        uint32_t block;       /* first handle of this type's block */
        uint32_t last_handle; /* the handle the last key went to (0: none yet in this process) */
} TpmBackend;

static TpmBackend *TPM(CertBackend *b) {
        return (TpmBackend *) b;
}

static const char *backend_type(const TpmBackend *t) {
        return t->base.module->type;
}

static void esys_freep(void *p) {
        Esys_Free(*(void **) p);
}
#define _cleanup_esys_ _cleanup_(esys_freep)

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* ---- one connection ------------------------------------------------------------------------ */

typedef struct Tpm {
        Tpm2Connection c;
        ESYS_TR loaded[MAX_LOADED]; /* transient objects and sessions: flushed before closing */
        size_t n_loaded;
        bool owner_auth_set; /* we gave ESYS the owner's auth value: wipe it before closing */
        ESYS_TR srk;         /* ESYS_TR_NONE, or the SRK with its secret set */
} Tpm;

static void tpm_close(Tpm *tpm) {
        static const TPM2B_AUTH empty = {};

        if (!tpm->c.esys)
                return;
        for (size_t i = tpm->n_loaded; i > 0; i--)
                (void) Esys_FlushContext(tpm->c.esys, tpm->loaded[i - 1]);
        tpm->n_loaded = 0;
        /* ESYS frees its objects without wiping them: overwrite the secrets first. */
        if (tpm->owner_auth_set)
                (void) Esys_TR_SetAuth(tpm->c.esys, ESYS_TR_RH_OWNER, &empty);
        if (tpm->srk != ESYS_TR_NONE)
                (void) Esys_TR_SetAuth(tpm->c.esys, tpm->srk, &empty);
        tpm2_disconnect(&tpm->c);
}

static int tpm_open(TpmBackend *t, Tpm *ret) {
        int r;

        *ret = (Tpm) { .srk = ESYS_TR_NONE };
        r = tpm2_connect(t->tcti, &ret->c);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(ENODEV, "Module %s: cannot reach the TPM at TCTI '%s'", backend_type(t),
                                       t->tcti);
        return 0;
}

static void tpm_track(Tpm *tpm, ESYS_TR h) {
        /* Every operation loads at most MAX_LOADED things at once; more is a bug here. */
        assert(tpm->n_loaded < MAX_LOADED);
        tpm->loaded[tpm->n_loaded++] = h;
}

static void tpm_flush(Tpm *tpm, ESYS_TR h) {
        for (size_t i = 0; i < tpm->n_loaded; i++)
                if (tpm->loaded[i] == h) {
                        (void) Esys_FlushContext(tpm->c.esys, h);
                        tpm->loaded[i] = tpm->loaded[--tpm->n_loaded];
                        return;
                }
}

/* Logs a failed ESYS call and returns its errno. */
static int tpm_failed(const TpmBackend *t, TSS2_RC rc, const char *what) {
        return log_error_errno(tpm2_rc_to_errno(rc), "Module %s: %s on the TPM at TCTI '%s' failed: %s",
                               backend_type(t), what, t->tcti, Tss2_RC_Decode(rc));
}

/* Persistent handles in [first, last], ascending. */
static int list_persistent(const TpmBackend *t, Tpm *tpm, uint32_t first, uint32_t last, uint32_t **ret,
                           size_t *ret_n) {
        _cleanup_free_ uint32_t *handles = NULL;
        size_t n = 0;
        uint32_t next = first;

        for (;;) {
                _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
                TPMI_YES_NO more = TPM2_NO;
                TSS2_RC rc;

                rc = Esys_GetCapability(tpm->c.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, next,
                                        TPM2_MAX_CAP_HANDLES, &more, &cap);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_failed(t, rc, "Listing the persistent handles");

                const TPML_HANDLE *l = &cap->data.handles;
                bool past = false;
                for (UINT32 i = 0; i < l->count && !past; i++) {
                        if (l->handle[i] > last) {
                                past = true;
                                break;
                        }
                        if (l->handle[i] < first)
                                continue;
                        uint32_t *nh = realloc(handles, (n + 1) * sizeof(uint32_t));
                        if (!nh)
                                return log_oom();
                        handles = nh;
                        handles[n++] = l->handle[i];
                }
                if (past || !more || l->count == 0 || l->handle[l->count - 1] >= last)
                        break;
                next = l->handle[l->count - 1] + 1;
        }

        *ret = TAKE_PTR(handles);
        *ret_n = n;
        return 0;
}

/* The public area of the persistent object at handle, and an ESYS_TR for it. -ENOENT if none. */
static int read_object(const TpmBackend *t, Tpm *tpm, uint32_t handle, ESYS_TR *ret_tr, TPM2B_PUBLIC **ret_public) {
        ESYS_TR tr = ESYS_TR_NONE;
        TSS2_RC rc;
        int r;

        r = tpm2_persistent_exists(&tpm->c, handle);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot look at handle 0x%08" PRIx32 " of the TPM at TCTI '%s': %m",
                                       backend_type(t), handle, t->tcti);
        if (r == 0)
                return -ENOENT;
        rc = Esys_TR_FromTPMPublic(tpm->c.esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
        if (rc == TSS2_RC_SUCCESS && ret_public)
                rc = Esys_ReadPublic(tpm->c.esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ret_public, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Reading a persistent object");
        if (ret_tr)
                *ret_tr = tr;
        return 0;
}

/* ---- ownership: the SRK, its secret, the owner policy ----------------------------------------- */

static const TPM2B_PUBLIC srk_template = {
        .publicArea = {
                .type = TPM2_ALG_ECC,
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
                .parameters.eccDetail = {
                        .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                        .scheme = { .scheme = TPM2_ALG_NULL },
                        .curveID = TPM2_ECC_NIST_P256,
                        .kdf = { .scheme = TPM2_ALG_NULL },
                },
        },
};

static bool is_our_srk(const TPMT_PUBLIC *p) {
        const TPMT_PUBLIC *w = &srk_template.publicArea;
        const TPMS_ECC_PARMS *a = &p->parameters.eccDetail, *b = &w->parameters.eccDetail;
        return p->type == w->type && p->nameAlg == w->nameAlg && p->objectAttributes == w->objectAttributes &&
               p->authPolicy.size == 0 && a->symmetric.algorithm == b->symmetric.algorithm &&
               a->symmetric.keyBits.aes == b->symmetric.keyBits.aes && a->curveID == b->curveID;
}

/* The SRK's secret from the auth file. -ENOENT if the file is missing, -EINVAL if it is
 * empty. The caller wipes it. */
static int read_secret(const TpmBackend *t, TPM2B_AUTH *ret) {
        _cleanup_erase_free_ char *buf = NULL;
        size_t size, l;
        int r;

        r = read_file_full(t->auth_file, SECRET_FILE_MAX, &buf, &size);
        if (r < 0)
                return r;
        l = strcspn(buf, "\r\n");
        explicit_bzero(buf + l, size - l);
        if (l == 0 || l != strlen(buf) || l > sizeof ret->buffer)
                return -EINVAL;
        ret->size = (UINT16) l;
        memcpy(ret->buffer, buf, l);
        return 0;
}

/* The SRK with its secret set, for Create, Load and the owner policy. */
static int open_srk(TpmBackend *t, Tpm *tpm) {
        TPM2B_AUTH secret = {};
        ESYS_TR tr;
        TSS2_RC rc;
        int r;

        if (tpm->srk != ESYS_TR_NONE)
                return 0;

        r = read_object(t, tpm, SRK_HANDLE, &tr, NULL);
        if (r == -ENOENT)
                return log_error_errno(ENODEV, "Module %s: the TPM at TCTI '%s' has no aos-iam storage key at 0x%08x "
                                       "(SetOwner first)", backend_type(t), t->tcti, SRK_HANDLE);
        if (r < 0)
                return r;

        r = read_secret(t, &secret);
        if (r == -ENOENT || r == -EINVAL)
                return log_error_errno(EACCES, "Module %s: the TPM secret file %s is missing or empty (SetOwner first)",
                                       backend_type(t), t->auth_file);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot read the TPM secret file %s: %m", backend_type(t),
                                       t->auth_file);
        rc = Esys_TR_SetAuth(tpm->c.esys, tr, &secret);
        explicit_bzero(&secret, sizeof secret);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Setting the storage key's authorization");
        tpm->srk = tr;
        return 0;
}

static int start_policy_session(const TpmBackend *t, Tpm *tpm, TPM2_SE type, ESYS_TR *ret) {
        static const TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
        ESYS_TR s;
        TSS2_RC rc;

        rc = Esys_StartAuthSession(tpm->c.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   NULL, type, &none, TPM2_ALG_SHA256, &s);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Starting a policy session");
        tpm_track(tpm, s);
        /* Kept after use, so that flushing it is always ours to do. */
        rc = Esys_TRSess_SetAttributes(tpm->c.esys, s, TPMA_SESSION_CONTINUESESSION, 0xff);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Setting up a policy session");
        *ret = s;
        return 0;
}

/* Runs the owner policy's assertions in session s: PolicySecret(SRK), PolicyCommandCode. */
static int run_owner_policy(TpmBackend *t, Tpm *tpm, ESYS_TR s) {
        TSS2_RC rc;
        int r;

        r = open_srk(t, tpm);
        if (r < 0)
                return r;
        rc = Esys_PolicySecret(tpm->c.esys, tpm->srk, s, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL,
                               0, NULL, NULL);
        if (tpm2_rc_to_errno(rc) == -EACCES)
                return log_error_errno(EACCES, "Module %s: the secret in %s does not open the TPM's storage key "
                                       "(stale; SetOwner repairs it)", backend_type(t), t->auth_file);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Authorizing with the storage key");
        rc = Esys_PolicyCommandCode(tpm->c.esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CC_EvictControl);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Building the owner policy");
        return 0;
}

/* EvictControl authorized by the owner policy: persists the transient object obj at handle,
 * or (obj persistent, handle its own) evicts it. Returns a negative errno (logged) if the
 * authorization could not be prepared, else 0 and the command's response code. */
static int evict_control(TpmBackend *t, Tpm *tpm, ESYS_TR obj, uint32_t handle, TSS2_RC *ret_rc) {
        ESYS_TR s, out = ESYS_TR_NONE;
        TSS2_RC rc;
        int r;

        r = start_policy_session(t, tpm, TPM2_SE_POLICY, &s);
        if (r < 0)
                return r;
        r = run_owner_policy(t, tpm, s);
        if (r < 0)
                return r;
        rc = Esys_EvictControl(tpm->c.esys, ESYS_TR_RH_OWNER, obj, s, ESYS_TR_NONE, ESYS_TR_NONE, handle, &out);
        tpm_flush(tpm, s);
        if (rc == TSS2_RC_SUCCESS && out != ESYS_TR_NONE)
                (void) Esys_TR_Close(tpm->c.esys, &out);
        *ret_rc = rc;
        return 0;
}

static int policy_refused(const TpmBackend *t, const char *what) {
        return log_error_errno(EACCES, "Module %s: the TPM's owner policy does not let aos-iam %s (changed by "
                               "someone else? SetOwner sets it again)", backend_type(t), what);
}

static int evict_key(TpmBackend *t, Tpm *tpm, ESYS_TR obj, uint32_t handle) {
        TSS2_RC rc;
        int r;

        r = evict_control(t, tpm, obj, handle, &rc);
        if (r < 0)
                return r;
        if (tpm2_rc_base(rc) == TPM2_RC_POLICY_FAIL)
                return policy_refused(t, "evict keys");
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Evicting a key");
        return 0;
}

static int owner_policy_digest(TpmBackend *t, Tpm *tpm, TPM2B_DIGEST *ret) {
        _cleanup_esys_ TPM2B_DIGEST *d = NULL;
        ESYS_TR s;
        TSS2_RC rc;
        int r;

        r = start_policy_session(t, tpm, TPM2_SE_TRIAL, &s);
        if (r < 0)
                return r;
        r = run_owner_policy(t, tpm, s);
        if (r < 0)
                return r;
        rc = Esys_PolicyGetDigest(tpm->c.esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &d);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Computing the owner policy");
        tpm_flush(tpm, s);
        *ret = *d;
        return 0;
}

/* Whether the secret file opens the SRK (a PolicySecret with it succeeds). */
static int secret_works(TpmBackend *t, Tpm *tpm) {
        TPM2B_AUTH secret = {};
        ESYS_TR tr, s;
        TSS2_RC rc;
        int r;

        r = read_secret(t, &secret);
        explicit_bzero(&secret, sizeof secret);
        if (r == -ENOENT || r == -EINVAL)
                return false;
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot read the TPM secret file %s: %m", backend_type(t),
                                       t->auth_file);

        r = open_srk(t, tpm);
        if (r < 0)
                return r;
        tr = tpm->srk;
        r = start_policy_session(t, tpm, TPM2_SE_TRIAL, &s);
        if (r < 0)
                return r;
        rc = Esys_PolicySecret(tpm->c.esys, tr, s, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0,
                               NULL, NULL);
        tpm_flush(tpm, s);
        if (tpm2_rc_to_errno(rc) == -EACCES)
                return false;
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Checking the storage key's secret");
        return true;
}

/* Creates the SRK with a new secret, persists it at SRK_HANDLE (owner auth must be set), then
 * writes the secret file. A crash in between leaves a secret file that does not open the SRK:
 * the next set_owner notices and does this again. */
static int make_srk(TpmBackend *t, Tpm *tpm) {
        _cleanup_erase_free_ char *hex = NULL;
        TPM2B_SENSITIVE_CREATE sensitive = {};
        uint8_t raw[SECRET_BYTES];
        ESYS_TR primary = ESYS_TR_NONE, persistent = ESYS_TR_NONE;
        TSS2_RC rc;
        int r;

        r = random_bytes(raw, sizeof raw);
        if (r < 0)
                return log_error_errno(r, "Cannot get random bytes: %m");
        hex = hexmem(raw, sizeof raw);
        explicit_bzero(raw, sizeof raw);
        if (!hex)
                return log_oom();
        sensitive.sensitive.userAuth.size = (UINT16) strlen(hex);
        memcpy(sensitive.sensitive.userAuth.buffer, hex, strlen(hex));

        rc = Esys_CreatePrimary(tpm->c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                                &srk_template, NULL, &(TPML_PCR_SELECTION) {}, &primary, NULL, NULL, NULL, NULL);
        explicit_bzero(&sensitive, sizeof sensitive);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Creating the storage key");
        tpm_track(tpm, primary);

        rc = Esys_EvictControl(tpm->c.esys, ESYS_TR_RH_OWNER, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                               SRK_HANDLE, &persistent);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Persisting the storage key");
        tpm_flush(tpm, primary);
        if (persistent != ESYS_TR_NONE)
                (void) Esys_TR_Close(tpm->c.esys, &persistent);

        r = mkdir_p(t->storage, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", t->storage);
        r = write_file_atomic(t->auth_file, hex, strlen(hex), 0600);
        if (r < 0)
                return log_error_errno(r, "Cannot write the TPM secret file %s: %m", t->auth_file);

        log_info("Module %s: made the aos-iam storage key at 0x%08x on the TPM at TCTI '%s' (its secret is in %s)",
                 backend_type(t), SRK_HANDLE, t->tcti, t->auth_file);
        return 0;
}

/* The SRK is there, ours, and the secret file opens it; otherwise made so. Owner auth set. */
static int ensure_srk(TpmBackend *t, Tpm *tpm) {
        _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
        ESYS_TR tr;
        int r;

        r = read_object(t, tpm, SRK_HANDLE, &tr, &pub);
        if (r == -ENOENT)
                return make_srk(t, tpm);
        if (r < 0)
                return r;
        if (!is_our_srk(&pub->publicArea))
                return log_error_errno(EEXIST, "Module %s: handle 0x%08x of the TPM at TCTI '%s' holds an object that "
                                       "is not aos-iam's storage key; evict it (tpm2_evictcontrol) or clear the TPM",
                                       backend_type(t), SRK_HANDLE, t->tcti);

        r = secret_works(t, tpm);
        if (r < 0)
                return r;
        if (r > 0)
                return 0;

        /* Same template, same owner seed: the new SRK is the same key with a new secret. Keys
         * persisted under the old one are not affected (a persistent key needs no parent). */
        log_notice("Module %s: the secret in %s does not open the TPM's storage key; making it anew",
                   backend_type(t), t->auth_file);
        if (tpm->srk != ESYS_TR_NONE) {
                static const TPM2B_AUTH empty = {};
                (void) Esys_TR_SetAuth(tpm->c.esys, tpm->srk, &empty);
                tpm->srk = ESYS_TR_NONE;
        }
        ESYS_TR out = ESYS_TR_NONE;
        TSS2_RC rc = Esys_EvictControl(tpm->c.esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                       SRK_HANDLE, &out);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Evicting the old storage key");
        return make_srk(t, tpm);
}

static int read_owner_auth_set(TpmBackend *t, Tpm *tpm, bool *ret) {
        _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more;
        TSS2_RC rc;

        rc = Esys_GetCapability(tpm->c.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                TPM2_PT_PERMANENT, 1, &more, &cap);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Reading the TPM's state");
        if (cap->data.tpmProperties.count < 1 || cap->data.tpmProperties.tpmProperty[0].property != TPM2_PT_PERMANENT)
                return log_error_errno(EIO, "Module %s: the TPM at TCTI '%s' did not report TPM2_PT_PERMANENT",
                                       backend_type(t), t->tcti);
        *ret = cap->data.tpmProperties.tpmProperty[0].value & TPMA_PERMANENT_OWNERAUTHSET;
        return 0;
}

/* StorageDir (0755, shared) and StorageDir/<type> (0700, ours). */
static int ensure_dir(TpmBackend *t) {
        int r;

        r = mkdir_p(t->storage, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", t->storage);
        if (mkdir(t->dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", t->dir);
        if (chmod(t->dir, 0700) < 0)
                return log_error_errno(errno, "Cannot set the mode of %s: %m", t->dir);
        return 0;
}

static int tpm_set_owner(CertBackend *b, const char *password) {
        TpmBackend *t = TPM(b);
        _cleanup_(tpm_close) Tpm tpm = {};
        TPM2B_DIGEST policy = {};
        TPM2B_AUTH auth = {};
        bool owned = false;
        TSS2_RC rc;
        int r;

        if (isempty(password))
                return log_error_errno(EINVAL, "Module %s: an empty password cannot own a TPM", backend_type(t));
        if (strlen(password) > sizeof auth.buffer)
                return log_error_errno(EINVAL, "Module %s: the password is longer than a TPM takes (%zu bytes)",
                                       backend_type(t), sizeof auth.buffer);

        r = tpm_open(t, &tpm);
        if (r < 0)
                return r;
        r = read_owner_auth_set(t, &tpm, &owned);
        if (r < 0)
                return r;

        auth.size = (UINT16) strlen(password);
        memcpy(auth.buffer, password, auth.size);
        /* Owned: the current auth must be the password; changing it to itself proves that. */
        if (owned) {
                rc = Esys_TR_SetAuth(tpm.c.esys, ESYS_TR_RH_OWNER, &auth);
                tpm.owner_auth_set = true;
                if (rc != TSS2_RC_SUCCESS) {
                        explicit_bzero(&auth, sizeof auth);
                        return tpm_failed(t, rc, "Setting the owner authorization");
                }
        }
        rc = Esys_HierarchyChangeAuth(tpm.c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth);
        if (rc == TSS2_RC_SUCCESS && !owned) {
                /* ESYS already uses the new value for the owner's further commands, but say so. */
                rc = Esys_TR_SetAuth(tpm.c.esys, ESYS_TR_RH_OWNER, &auth);
                tpm.owner_auth_set = true;
        }
        explicit_bzero(&auth, sizeof auth);
        if (owned && tpm2_rc_to_errno(rc) == -EACCES)
                return log_error_errno(EACCES, "Module %s: the TPM at TCTI '%s' is owned with a different password",
                                       backend_type(t), t->tcti);
        if (tpm2_rc_base(rc) == TPM2_RC_SIZE)
                return log_error_errno(EINVAL, "Module %s: the password is longer than the TPM at TCTI '%s' takes",
                                       backend_type(t), t->tcti);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, owned ? "Checking the owner password" : "Taking ownership");
        if (!owned)
                log_info("Module %s: took ownership of the TPM at TCTI '%s'", backend_type(t), t->tcti);
        else
                log_debug("Module %s: the TPM at TCTI '%s' is owned with this password already", backend_type(t), t->tcti);

        r = ensure_srk(t, &tpm);
        if (r < 0)
                return r;

        /* Always set again: cheap, and it repairs a policy someone else replaced. */
        r = owner_policy_digest(t, &tpm, &policy);
        if (r < 0)
                return r;
        rc = Esys_SetPrimaryPolicy(tpm.c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &policy,
                                   TPM2_ALG_SHA256);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Setting the owner policy");

        return ensure_dir(t);
}

/* ---- keys ------------------------------------------------------------------------------------ */

static bool is_our_key(const TpmBackend *t, const TPMT_PUBLIC *p) {
        return p->authPolicy.size == sizeof t->marker && memcmp(p->authPolicy.buffer, t->marker, sizeof t->marker) == 0 &&
               (p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT);
}

static int key_template(const TpmBackend *t, TPM2B_PUBLIC *ret) {
        *ret = (TPM2B_PUBLIC) {
                .publicArea = {
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                            TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                            TPMA_OBJECT_NODA | TPMA_OBJECT_SIGN_ENCRYPT,
                        .authPolicy.size = sizeof t->marker,
                },
        };
        memcpy(ret->publicArea.authPolicy.buffer, t->marker, sizeof t->marker);

        switch (t->base.module->algorithm) {
        case KEY_ALGORITHM_ECDSA:
                ret->publicArea.type = TPM2_ALG_ECC;
                ret->publicArea.parameters.eccDetail = (TPMS_ECC_PARMS) {
                        .symmetric = { .algorithm = TPM2_ALG_NULL },
                        .scheme = { .scheme = TPM2_ALG_NULL },
                        .curveID = TPM2_ECC_NIST_P384,
                        .kdf = { .scheme = TPM2_ALG_NULL },
                };
                return 0;
        case KEY_ALGORITHM_RSA:
                ret->publicArea.type = TPM2_ALG_RSA;
                ret->publicArea.parameters.rsaDetail = (TPMS_RSA_PARMS) {
                        .symmetric = { .algorithm = TPM2_ALG_NULL },
                        .scheme = { .scheme = TPM2_ALG_NULL },
                        .keyBits = 2048,
                        .exponent = 0,
                };
                return 0;
        case _KEY_ALGORITHM_MAX:
                break;
        }
        return log_error_errno(EINVAL, "Module %s: unknown key algorithm", backend_type(t));
}

static int key_id_of_public(const TPMT_PUBLIC *p, char **ret) {
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        int r;

        r = tpm2_public_to_pubkey(p, &pub);
        if (r < 0)
                return r;
        return x509_pubkey_key_id(pub, ret);
}

/* The handle for a new key: the first free one in the type's block after the last one taken
 * (by this process, or the highest in use), wrapping around. */
static int pick_handle(const TpmBackend *t, Tpm *tpm, uint32_t after, uint32_t *ret) {
        _cleanup_free_ uint32_t *used = NULL;
        size_t n_used;
        int r;

        r = list_persistent(t, tpm, t->block, t->block + BLOCK_SLOTS - 1, &used, &n_used);
        if (r < 0)
                return r;

        if (after == 0)
                after = MAX(t->last_handle, n_used > 0 ? used[n_used - 1] : 0);
        uint32_t start = after >= t->block && after < t->block + BLOCK_SLOTS ? after + 1 : t->block;
        for (uint32_t i = 0; i < BLOCK_SLOTS; i++) {
                uint32_t h = t->block + (start - t->block + i) % BLOCK_SLOTS;
                bool taken = false;
                for (size_t j = 0; j < n_used && !taken; j++)
                        taken = used[j] == h;
                if (!taken) {
                        *ret = h;
                        return 0;
                }
        }
        return log_error_errno(ENOSPC, "Module %s: all %u handles of its block 0x%08" PRIx32 " of the TPM are taken",
                               backend_type(t), BLOCK_SLOTS, t->block);
}

static int tpm_create_key(CertBackend *b, char **ret_key_url, char **ret_key_id) {
        TpmBackend *t = TPM(b);
        _cleanup_(tpm_close) Tpm tpm = {};
        _cleanup_esys_ TPM2B_PRIVATE *priv = NULL;
        _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
        _cleanup_free_ char *url = NULL, *key_id = NULL;
        TPM2B_PUBLIC template;
        ESYS_TR key;
        uint32_t handle = 0;
        uint64_t start;
        TSS2_RC rc;
        int r;

        r = key_template(t, &template);
        if (r < 0)
                return r;
        r = ensure_dir(t);
        if (r < 0)
                return r;
        r = tpm_open(t, &tpm);
        if (r < 0)
                return r;
        r = open_srk(t, &tpm);
        if (r < 0)
                return r;

        start = now_usec();
        rc = Esys_Create(tpm.c.esys, tpm.srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         &(TPM2B_SENSITIVE_CREATE) {}, &template, NULL, &(TPML_PCR_SELECTION) {}, &priv, &pub, NULL,
                         NULL, NULL);
        if (tpm2_rc_to_errno(rc) == -EACCES)
                return log_error_errno(EACCES, "Module %s: the secret in %s does not open the TPM's storage key "
                                       "(stale; SetOwner repairs it)", backend_type(t), t->auth_file);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Generating a key");
        uint64_t generated = now_usec() - start;

        /* Before the key is persisted, so that a failure here leaves nothing behind. */
        r = key_id_of_public(&pub->publicArea, &key_id);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot read the public half of the new key: %m",
                                       backend_type(t));

        rc = Esys_Load(tpm.c.esys, tpm.srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &key);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_failed(t, rc, "Loading the new key");
        tpm_track(&tpm, key);

        /* Another client may take the handle between the look and the EvictControl: then the
         * next one. */
        for (unsigned attempt = 0;; attempt++) {
                r = pick_handle(t, &tpm, handle, &handle);
                if (r < 0)
                        return r;
                r = evict_control(t, &tpm, key, handle, &rc);
                if (r < 0)
                        return r;
                if (rc == TSS2_RC_SUCCESS)
                        break;
                if (tpm2_rc_base(rc) == TPM2_RC_POLICY_FAIL)
                        return policy_refused(t, "persist keys");
                if (tpm2_rc_base(rc) == TPM2_RC_NV_SPACE)
                        return log_error_errno(ENOSPC, "Module %s: the TPM at TCTI '%s' has no room for another "
                                               "persistent key", backend_type(t), t->tcti);
                if (tpm2_rc_base(rc) != TPM2_RC_NV_DEFINED || attempt >= BLOCK_SLOTS)
                        return tpm_failed(t, rc, "Persisting the new key");
        }
        tpm_flush(&tpm, key);
        t->last_handle = handle;

        r = tpm2_url_format(handle, t->tcti, &url);
        if (r < 0)
                return log_oom();

        log_debug("Module %s: made a %s key at 0x%08" PRIx32 " on the TPM at TCTI '%s' (generated in %" PRIu64 ".%03" PRIu64 " ms)",
                  backend_type(t), key_algorithm_to_string(b->module->algorithm), handle, t->tcti,
                  generated / USEC_PER_MSEC, generated % USEC_PER_MSEC);
        *ret_key_url = TAKE_PTR(url);
        *ret_key_id = TAKE_PTR(key_id);
        return 0;
}

/* Parses a key URL given to remove_key()/store_cert(): a tpm2: URL with a handle in the keys'
 * part of the aos-iam block. Whether the key there is this module's is the caller's look. */
static int parse_key_url(const TpmBackend *t, const char *url, uint32_t *ret) {
        _cleanup_(tpm2_url_done) Tpm2Url u = {};
        int r;

        r = tpm2_url_parse(url, &u);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(EINVAL, "Module %s: not a tpm2: key URL", backend_type(t));
        if (u.handle < KEY_HANDLE_FIRST || u.handle > AOS_HANDLE_LAST)
                return log_error_errno(EINVAL, "Module %s: handle 0x%08" PRIx32 " is not an aos-iam key handle",
                                       backend_type(t), u.handle);
        *ret = u.handle;
        return 0;
}

/* Looks up this module's key at handle: 0 and its ESYS_TR (and public area) if it is there and
 * ours, -ENOENT if the handle is empty, -EINVAL if it holds someone else's object. */
static int find_key(TpmBackend *t, Tpm *tpm, uint32_t handle, ESYS_TR *ret_tr, TPM2B_PUBLIC **ret_public) {
        _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
        int r;

        r = read_object(t, tpm, handle, ret_tr, &pub);
        if (r < 0)
                return r;
        if (!is_our_key(t, &pub->publicArea))
                return log_error_errno(EINVAL, "Module %s: handle 0x%08" PRIx32 " does not hold a key of this module",
                                       backend_type(t), handle);
        if (ret_public)
                *ret_public = TAKE_PTR(pub);
        return 0;
}

static int tpm_remove_key(CertBackend *b, const char *key_url) {
        TpmBackend *t = TPM(b);
        _cleanup_(tpm_close) Tpm tpm = {};
        uint32_t handle;
        ESYS_TR tr;
        int r;

        r = parse_key_url(t, key_url, &handle);
        if (r < 0)
                return r;
        r = tpm_open(t, &tpm);
        if (r < 0)
                return r;
        r = find_key(t, &tpm, handle, &tr, NULL);
        if (r == -ENOENT) {
                log_debug("Module %s: the key at 0x%08" PRIx32 " to remove was gone already", backend_type(t), handle);
                return 0;
        }
        if (r < 0)
                return r;
        r = evict_key(t, &tpm, tr, handle);
        if (r < 0)
                return r;
        log_debug("Module %s: evicted the key at 0x%08" PRIx32, backend_type(t), handle);
        return 0;
}

/* ---- certificates ----------------------------------------------------------------------------- */

static int file_url(const char *path, char **ret) {
        return asprintf(ret, "file:%s", path) < 0 ? -ENOMEM : 0;
}

/* "0x" + 8 lowercase hex digits + ".pem": a certificate file of ours, named for its key's handle. */
static bool cert_file_name(const char *name) {
        if (strlen(name) != 2 + 8 + 4 || !startswith(name, "0x") || !streq(name + 10, ".pem"))
                return false;
        for (size_t i = 2; i < 10; i++)
                if (!strchr("0123456789abcdef", name[i]))
                        return false;
        return true;
}

/* The path of one of our certificate files named by url: StorageDir/<type>/0x<handle>.pem. */
static int module_cert_file(const TpmBackend *t, const char *url, char **ret_path) {
        _cleanup_free_ char *path = NULL;
        const char *name;
        int r;

        r = file_url_path(url, &path);
        if (r < 0)
                return log_error_errno(EINVAL, "Module %s: not a file: URL", backend_type(t));
        name = startswith(path, t->dir);
        if (!name || name[0] != '/' || !cert_file_name(name + 1))
                return log_error_errno(EINVAL, "Module %s: %s is not a certificate file of this module",
                                       backend_type(t), path);
        *ret_path = TAKE_PTR(path);
        return 0;
}

static int tpm_store_cert(CertBackend *b, const char *key_url, const X509Chain *chain, char **ret_cert_url) {
        TpmBackend *t = TPM(b);
        _cleanup_free_ char *path = NULL, *url = NULL, *pem = NULL;
        uint32_t handle;
        int r;

        if (!chain || chain->n == 0)
                return -EINVAL;
        r = parse_key_url(t, key_url, &handle);
        if (r < 0)
                return r;

        {
                _cleanup_(tpm_close) Tpm tpm = {};
                r = tpm_open(t, &tpm);
                if (r < 0)
                        return r;
                r = find_key(t, &tpm, handle, NULL, NULL);
                if (r == -ENOENT)
                        return log_error_errno(ENOENT, "Module %s: the key 0x%08" PRIx32 " for this certificate is not "
                                               "in the TPM", backend_type(t), handle);
                if (r < 0)
                        return r;
        }

        r = ensure_dir(t);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/0x%08" PRIx32 ".pem", t->dir, handle) < 0 || file_url(path, &url) < 0)
                return log_oom();
        r = x509_chain_to_pem(chain, &pem);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot encode the certificate chain: %m", backend_type(t));
        r = write_file_atomic(path, pem, strlen(pem), 0600);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot write %s: %m", backend_type(t), path);

        log_debug("Module %s: stored a certificate chain of %zu in %s", backend_type(t), chain->n, path);
        *ret_cert_url = TAKE_PTR(url);
        return 0;
}

static int tpm_remove_cert(CertBackend *b, const char *cert_url) {
        TpmBackend *t = TPM(b);
        _cleanup_free_ char *path = NULL;
        int r;

        r = module_cert_file(t, cert_url, &path);
        if (r < 0)
                return r;
        r = unlink_durable(path);
        if (r < 0)
                return log_error_errno(r, "Module %s: cannot remove %s: %m", backend_type(t), path);
        return 0;
}

static int objects_append(BackendObject **objs, size_t *n, BackendObject o) {
        BackendObject *no = realloc(*objs, (*n + 1) * sizeof(BackendObject));
        if (!no)
                return -ENOMEM;
        *objs = no;
        (*objs)[(*n)++] = o;
        return 0;
}

static int list_certs(TpmBackend *t, BackendObject **objs, size_t *n) {
        _cleanup_(closedirp) DIR *d = NULL;

        d = opendir(t->dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "Cannot open %s: %m", t->dir);
        }

        for (;;) {
                _cleanup_(x509_cert_info_done) X509CertInfo info = {};
                _cleanup_free_ char *path = NULL, *url = NULL, *reason = NULL;
                X509Chain chain = {};
                struct dirent *de;
                int r;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return log_error_errno(errno, "Cannot read %s: %m", t->dir);
                        return 0;
                }
                if (!dirent_is_regular(d, de) || !cert_file_name(de->d_name))
                        continue; /* e.g. the temp file of an interrupted write; clear removes it */

                if (asprintf(&path, "%s/%s", t->dir, de->d_name) < 0 || file_url(path, &url) < 0)
                        return log_oom();
                r = x509_chain_load_file(path, &chain, &reason);
                if (r == -ENOENT)
                        continue;
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0) {
                        log_warning_errno(r, "Module %s: ignoring %s: %s", backend_type(t), path, strna(reason));
                        continue;
                }
                r = x509_cert_info(chain.certs[0], &info);
                if (r >= 0)
                        r = objects_append(objs, n, (BackendObject) {
                                .kind = BACKEND_OBJECT_CERT,
                                .url = url,
                                .key_id = info.key_id,
                                .chain = chain,
                        });
                if (r < 0) {
                        x509_chain_done(&chain);
                        return log_error_errno(r, "Module %s: cannot read %s: %m", backend_type(t), path);
                }
                url = NULL;
                info.key_id = NULL;
        }
}

/* This module's keys: handle, ESYS_TR and public area of each. */
typedef struct KeyEntry {
        uint32_t handle;
        ESYS_TR tr;
        TPM2B_PUBLIC *pub;
} KeyEntry;

static void key_entries_free(KeyEntry *k, size_t n) {
        for (size_t i = 0; i < n; i++)
                Esys_Free(k[i].pub);
        free(k);
}

static int find_module_keys(TpmBackend *t, Tpm *tpm, KeyEntry **ret, size_t *ret_n) {
        _cleanup_free_ uint32_t *handles = NULL;
        KeyEntry *keys = NULL;
        size_t n_handles, n = 0;
        int r;

        r = list_persistent(t, tpm, KEY_HANDLE_FIRST, AOS_HANDLE_LAST, &handles, &n_handles);
        if (r < 0)
                return r;
        keys = calloc(MAX(n_handles, 1U), sizeof(KeyEntry));
        if (!keys)
                return log_oom();

        for (size_t i = 0; i < n_handles; i++) {
                TPM2B_PUBLIC *pub = NULL;
                ESYS_TR tr;

                r = read_object(t, tpm, handles[i], &tr, &pub);
                if (r == -ENOENT)
                        continue; /* evicted meanwhile */
                if (r < 0) {
                        key_entries_free(keys, n);
                        return r;
                }
                if (!is_our_key(t, &pub->publicArea)) {
                        Esys_Free(pub);
                        continue;
                }
                keys[n++] = (KeyEntry) { .handle = handles[i], .tr = tr, .pub = pub };
        }

        *ret = keys;
        *ret_n = n;
        return 0;
}

static int tpm_list(CertBackend *b, BackendObject **ret, size_t *ret_n) {
        TpmBackend *t = TPM(b);
        _cleanup_(tpm_close) Tpm tpm = {};
        BackendObject *objs = NULL;
        KeyEntry *keys = NULL;
        size_t n = 0, n_keys = 0;
        int r;

        /* A list without the keys would make the caller drop certificates whose keys are
         * there: an unreachable TPM fails the list. */
        r = tpm_open(t, &tpm);
        if (r < 0)
                return r;
        r = find_module_keys(t, &tpm, &keys, &n_keys);
        if (r < 0)
                return r;
        tpm_close(&tpm);

        for (size_t i = 0; i < n_keys; i++) {
                _cleanup_free_ char *url = NULL, *key_id = NULL;

                r = tpm2_url_format(keys[i].handle, t->tcti, &url);
                if (r >= 0)
                        r = key_id_of_public(&keys[i].pub->publicArea, &key_id);
                if (r >= 0)
                        r = objects_append(&objs, &n, (BackendObject) {
                                .kind = BACKEND_OBJECT_KEY,
                                .url = url,
                                .key_id = key_id,
                        });
                if (r < 0) {
                        log_error_errno(r, "Module %s: cannot read the public half of the key at 0x%08" PRIx32 ": %m",
                                        backend_type(t), keys[i].handle);
                        goto fail;
                }
                url = key_id = NULL;
        }

        r = list_certs(t, &objs, &n);
        if (r < 0)
                goto fail;

        key_entries_free(keys, n_keys);
        *ret = objs;
        *ret_n = n;
        return 0;

fail:
        key_entries_free(keys, n_keys);
        backend_objects_free(objs, n);
        return r;
}

static int tpm_clear(CertBackend *b) {
        TpmBackend *t = TPM(b);
        _cleanup_(tpm_close) Tpm tpm = {};
        KeyEntry *keys = NULL;
        size_t n_keys = 0, n_files = 0, n_evicted = 0;
        int r;

        r = tpm_open(t, &tpm);
        if (r < 0)
                return r;
        r = find_module_keys(t, &tpm, &keys, &n_keys);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_keys; i++) {
                r = evict_key(t, &tpm, keys[i].tr, keys[i].handle);
                if (r == -EACCES || r == -ENODEV) {
                        /* Without the storage key's secret the keys cannot be evicted. Go on:
                         * Clear comes before SetOwner in provisioning, and SetOwner is what
                         * repairs the secret; the keys left behind show up in list() and are
                         * removed by reconciliation as keys nobody asked for. */
                        log_warning_errno(r, "Module %s: leaving %zu keys in the TPM, removing the certificate files "
                                          "only: %m", backend_type(t), n_keys - n_evicted);
                        break;
                }
                if (r < 0) {
                        key_entries_free(keys, n_keys);
                        return r;
                }
                n_evicted++;
        }
        key_entries_free(keys, n_keys);
        tpm_close(&tpm);

        r = dir_remove_regular_files(t->dir, &n_files);
        if (r < 0)
                return r;
        log_debug("Module %s: evicted %zu keys from the TPM at TCTI '%s' and removed %zu files from %s",
                  backend_type(t), n_evicted, t->tcti, n_files, t->dir);
        return 0;
}

/* ---- set-up -------------------------------------------------------------------------------- */

static int tpm_init(CertBackend *b) {
        TpmBackend *t = TPM(b);
        const char *storage = isempty(b->certd->storage_dir) ? "/var/lib/aos/certs" : b->certd->storage_dir;
        _cleanup_free_ char *marker_input = NULL;
        uint8_t tcti_hash[32];

        t->tcti = strdup(isempty(b->module->tcti) ? TPM2_DEFAULT_TCTI : b->module->tcti);
        t->storage = strdup(storage);
        if (!t->tcti || !t->storage)
                return log_oom();
        if (asprintf(&t->dir, "%s/%s", storage, b->module->type) < 0) {
                t->dir = NULL;
                return log_oom();
        }

        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, t->tcti, strlen(t->tcti), tcti_hash) < 0)
                return log_error_errno(EIO, "Cannot hash the TCTI");
        _cleanup_free_ char *hex = hexmem(tcti_hash, 8);
        if (!hex || asprintf(&t->auth_file, "%s/tpm-%s.auth", storage, hex) < 0) {
                t->auth_file = NULL;
                return log_oom();
        }

        if (asprintf(&marker_input, MARKER_PREFIX "%s", b->module->type) < 0)
                return log_oom();
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, marker_input, strlen(marker_input), t->marker) < 0)
                return log_error_errno(EIO, "Cannot hash the module's marker");
        t->block = KEY_HANDLE_FIRST + (((uint32_t) t->marker[0] << 8 | t->marker[1]) % N_BLOCKS) * BLOCK_SLOTS;

        /* CSR signing (module.c) and TLS open keys by URL. */
        tpm2_key_register();

        /* The TPM may be absent now and appear later: every operation connects anew. */
        log_debug("Module %s: TPM at TCTI '%s', key handles 0x%08" PRIx32 "..0x%08" PRIx32, b->module->type, t->tcti,
                  t->block, t->block + BLOCK_SLOTS - 1);
        return 0;
}

static void tpm_done(CertBackend *b) {
        TpmBackend *t = TPM(b);

        free(t->tcti);
        free(t->dir);
        free(t->storage);
        free(t->auth_file);
}

const CertBackendVTable backend_tpm_vtable = {
        .name = "tpm",
        .object_size = sizeof(TpmBackend),
        .init = tpm_init,
        .done = tpm_done,
        .set_owner = tpm_set_owner,
        .create_key = tpm_create_key,
        .remove_key = tpm_remove_key,
        .store_cert = tpm_store_cert,
        .remove_cert = tpm_remove_cert,
        .list = tpm_list,
        .clear = tpm_clear,
};
