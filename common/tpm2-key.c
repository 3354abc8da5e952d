/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tpm2: key URLs, their gnutls opener (gnutls_privkey_import_ext4 with an ESYS signing
 * callback), and the ESYS connection helpers. Library code: no logging, negative errno. */

#include <ctype.h>
#include <inttypes.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <strings.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "keyurl.h"
#include "macro.h"
#include "tpm2-key.h"

/* The persistent handle range. Not TPM2_PERSISTENT_FIRST/LAST: tss2's macros shift a UINT8
 * (promoted to int) by 24, which overflows int (undefined behaviour). */
#define PERSISTENT_FIRST 0x81000000u
#define PERSISTENT_LAST 0x81ffffffu


/* ---- URLs --------------------------------------------------------------------------------- */

void tpm2_url_done(Tpm2Url *u) {
        if (!u)
                return;
        free(u->tcti);
        *u = (Tpm2Url) {};
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Printable ASCII except the characters that delimit or escape in a URL. */
static bool tcti_char_plain(unsigned char c) {
        return c > 0x20 && c < 0x7f && !strchr("%&#?\"<>\\^`{|}", c);
}

static int tcti_decode(const char *s, char **ret) {
        size_t l = strlen(s), n = 0;

        if (l == 0)
                return -EINVAL;
        _cleanup_free_ char *d = malloc(l + 1);
        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < l; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '%') {
                        if (i + 2 >= l)
                                return -EINVAL;
                        int a = unhex(s[i + 1]), b = unhex(s[i + 2]);
                        if (a < 0 || b < 0 || (a == 0 && b == 0))
                                return -EINVAL;
                        c = (unsigned char) (a << 4 | b);
                        i += 2;
                } else if (!tcti_char_plain(c))
                        return -EINVAL;
                d[n++] = (char) c;
        }
        d[n] = 0;
        *ret = TAKE_PTR(d);
        return 0;
}

int tpm2_url_parse(const char *url, Tpm2Url *ret) {
        _cleanup_(tpm2_url_done) Tpm2Url u = {};
        const char *p, *q;
        char *end;
        int r;

        if (!url || !ret)
                return -EINVAL;
        if (strncasecmp(url, "tpm2:", strlen("tpm2:")) != 0)
                return -EINVAL;
        p = url + strlen("tpm2:");
        if (strncmp(p, "handle=", strlen("handle=")) != 0)
                return -EINVAL;
        p += strlen("handle=");

        /* Exactly "0x" and 8 hex digits: one spelling per key, so that URLs compare equal. */
        if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
                return -EINVAL;
        for (size_t i = 2; i < 10; i++)
                if (!isxdigit((unsigned char) p[i]))
                        return -EINVAL;
        if (p[10] != 0 && p[10] != '?')
                return -EINVAL;
        errno = 0;
        unsigned long h = strtoul(p + 2, &end, 16);
        if (errno != 0 || end != p + 10 || h < PERSISTENT_FIRST || h > PERSISTENT_LAST)
                return -EINVAL;
        u.handle = (uint32_t) h;

        q = p[10] == '?' ? p + 11 : NULL;
        if (q) {
                if (strncmp(q, "tcti=", strlen("tcti=")) != 0 || strchr(q, '&'))
                        return -EINVAL; /* tcti= is the only attribute, once */
                r = tcti_decode(q + strlen("tcti="), &u.tcti);
                if (r < 0)
                        return r;
        } else {
                u.tcti = strdup(TPM2_DEFAULT_TCTI);
                if (!u.tcti)
                        return -ENOMEM;
        }

        *ret = u;
        u = (Tpm2Url) {};
        return 0;
}

int tpm2_url_format(uint32_t handle, const char *tcti, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        if (!ret || handle < PERSISTENT_FIRST || handle > PERSISTENT_LAST)
                return -EINVAL;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "tpm2:handle=0x%08" PRIx32, handle);
        if (!isempty(tcti)) {
                fputs("?tcti=", f);
                for (const unsigned char *c = (const unsigned char *) tcti; *c; c++) {
                        if (tcti_char_plain(*c))
                                fputc(*c, f);
                        else
                                fprintf(f, "%%%02X", *c);
                }
        }
        if (ferror(f)) {
                fclose(f);
                return -ENOMEM;
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        *ret = TAKE_PTR(buf);
        return 0;
}

/* ---- connections and errors ---------------------------------------------------------------- */

TSS2_RC tpm2_rc_base(TSS2_RC rc) {
        if ((rc & TSS2_RC_LAYER_MASK) != 0)
                return rc; /* not the TPM's */
        if (rc & TPM2_RC_FMT1)
                return rc & (TPM2_RC_FMT1 | 0x3f);
        return rc;
}

int tpm2_rc_to_errno(TSS2_RC rc) {
        if (rc == TSS2_RC_SUCCESS)
                return 0;

        if ((rc & TSS2_RC_LAYER_MASK) != 0) {
                /* A software layer: the TCTI's failures mean the TPM is not reachable. */
                switch (rc & 0xffff) {
                case TSS2_BASE_RC_MEMORY:
                        return -ENOMEM;
                case TSS2_BASE_RC_IO_ERROR:
                case TSS2_BASE_RC_NO_CONNECTION:
                        return -ENODEV;
                default:
                        return (rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER ? -ENODEV : -EIO;
                }
        }

        switch (tpm2_rc_base(rc)) {
        case TPM2_RC_BAD_AUTH:
        case TPM2_RC_AUTH_FAIL:
        case TPM2_RC_POLICY_FAIL:
        case TPM2_RC_LOCKOUT:
                return -EACCES;
        case TPM2_RC_HANDLE:
                return -ENOKEY;
        case TPM2_RC_NV_SPACE:
        case TPM2_RC_OBJECT_MEMORY:
        case TPM2_RC_SESSION_MEMORY:
                return -ENOSPC;
        case TPM2_RC_NV_DEFINED:
                return -EEXIST;
        case TPM2_RC_SIZE:
        case TPM2_RC_VALUE:
        case TPM2_RC_SCHEME:
        case TPM2_RC_HASH:
        case TPM2_RC_KEY:
        case TPM2_RC_CURVE:
                return -EINVAL;
        default:
                return -EIO;
        }
}

void tpm2_disconnect(Tpm2Connection *c) {
        if (!c)
                return;
        if (c->esys)
                Esys_Finalize(&c->esys);
        if (c->tcti)
                Tss2_TctiLdr_Finalize(&c->tcti);
        *c = (Tpm2Connection) {};
}

int tpm2_connect(const char *tcti, Tpm2Connection *ret) {
        Tpm2Connection c = {};
        TSS2_RC rc;

        if (!ret)
                return -EINVAL;

        rc = Tss2_TctiLdr_Initialize(isempty(tcti) ? TPM2_DEFAULT_TCTI : tcti, &c.tcti);
        if (rc != TSS2_RC_SUCCESS)
                return (rc & 0xffff) == TSS2_BASE_RC_MEMORY ? -ENOMEM : -ENODEV;
        rc = Esys_Initialize(&c.esys, c.tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                tpm2_disconnect(&c);
                return (rc & 0xffff) == TSS2_BASE_RC_MEMORY ? -ENOMEM : -ENODEV;
        }

        *ret = c;
        return 0;
}

int tpm2_persistent_exists(Tpm2Connection *c, uint32_t handle) {
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = TPM2_NO;
        TSS2_RC rc;
        bool found;

        rc = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, handle, 1,
                                &more, &cap);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_rc_to_errno(rc);
        found = cap->data.handles.count > 0 && cap->data.handles.handle[0] == handle;
        Esys_Free(cap);
        return found;
}

/* ---- public keys ---------------------------------------------------------------------------- */

static int errno_from_gnutls(int gr) {
        return gr == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
}

static gnutls_ecc_curve_t curve_from_tpm(TPMI_ECC_CURVE c) {
        switch (c) {
        case TPM2_ECC_NIST_P256:
                return GNUTLS_ECC_CURVE_SECP256R1;
        case TPM2_ECC_NIST_P384:
                return GNUTLS_ECC_CURVE_SECP384R1;
        case TPM2_ECC_NIST_P521:
                return GNUTLS_ECC_CURVE_SECP521R1;
        default:
                return GNUTLS_ECC_CURVE_INVALID;
        }
}

int tpm2_public_to_pubkey(const TPMT_PUBLIC *pub, gnutls_pubkey_t *ret) {
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t key = NULL;
        int gr;

        if (!pub || !ret)
                return -EINVAL;

        gr = gnutls_pubkey_init(&key);
        if (gr < 0)
                return errno_from_gnutls(gr);

        switch (pub->type) {
        case TPM2_ALG_ECC: {
                gnutls_ecc_curve_t curve = curve_from_tpm(pub->parameters.eccDetail.curveID);
                const TPMS_ECC_POINT *p = &pub->unique.ecc;
                if (curve == GNUTLS_ECC_CURVE_INVALID || p->x.size == 0 || p->y.size == 0)
                        return -EOPNOTSUPP;
                gr = gnutls_pubkey_import_ecc_raw(key, curve,
                                                  &(gnutls_datum_t) { (unsigned char *) p->x.buffer, p->x.size },
                                                  &(gnutls_datum_t) { (unsigned char *) p->y.buffer, p->y.size });
                break;
        }
        case TPM2_ALG_RSA: {
                /* exponent 0 means the default, 2^16 + 1; big-endian without leading zeros. */
                uint32_t e = pub->parameters.rsaDetail.exponent ?: 65537;
                unsigned char eb[4];
                unsigned n = 0;
                for (int shift = 24; shift >= 0; shift -= 8)
                        if (n > 0 || (e >> shift) & 0xff)
                                eb[n++] = (unsigned char) (e >> shift);
                if (pub->unique.rsa.size == 0)
                        return -EOPNOTSUPP;
                gr = gnutls_pubkey_import_rsa_raw(key,
                                                  &(gnutls_datum_t) { (unsigned char *) pub->unique.rsa.buffer,
                                                                      pub->unique.rsa.size },
                                                  &(gnutls_datum_t) { eb, n });
                break;
        }
        default:
                return -EOPNOTSUPP;
        }
        if (gr < 0)
                return errno_from_gnutls(gr);

        *ret = TAKE_PTR(key);
        return 0;
}

/* ---- the gnutls key ------------------------------------------------------------------------- */

typedef struct Tpm2Key {
        uint32_t handle;
        char *tcti;
        TPM2B_NAME name;          /* of the key when it was opened: a signature checks it */
        gnutls_pk_algorithm_t pk; /* GNUTLS_PK_ECDSA or GNUTLS_PK_RSA */
        unsigned bits;            /* curve bits or modulus bits */
} Tpm2Key;

static void tpm2_key_free(Tpm2Key *k) {
        if (!k)
                return;
        free(k->tcti);
        free(k);
}

static TPM2_ALG_ID tpm_hash(gnutls_digest_algorithm_t d) {
        /* SHA-1 and the rest: not for new signatures. */
        return d == GNUTLS_DIG_SHA256 ? TPM2_ALG_SHA256 :
               d == GNUTLS_DIG_SHA384 ? TPM2_ALG_SHA384 :
               d == GNUTLS_DIG_SHA512 ? TPM2_ALG_SHA512 : TPM2_ALG_NULL;
}

static gnutls_digest_algorithm_t digest_by_size(size_t size) {
        switch (size) {
        case 32:
                return GNUTLS_DIG_SHA256;
        case 48:
                return GNUTLS_DIG_SHA384;
        case 64:
                return GNUTLS_DIG_SHA512;
        default:
                return GNUTLS_DIG_UNKNOWN;
        }
}

static bool sign_algo_supported(const Tpm2Key *k, gnutls_sign_algorithm_t s) {
        gnutls_pk_algorithm_t pk = gnutls_sign_get_pk_algorithm(s);

        if (tpm_hash(gnutls_sign_get_hash_algorithm(s)) == TPM2_ALG_NULL)
                return false;
        if (k->pk == GNUTLS_PK_ECDSA) {
                /* TLS 1.3 ties these to one curve each. */
                if (s == GNUTLS_SIGN_ECDSA_SECP256R1_SHA256)
                        return k->bits == 256;
                if (s == GNUTLS_SIGN_ECDSA_SECP384R1_SHA384)
                        return k->bits == 384;
                if (s == GNUTLS_SIGN_ECDSA_SECP521R1_SHA512)
                        return k->bits == 521;
                return pk == GNUTLS_PK_ECDSA;
        }
        return pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS;
}

static int tpm2_key_info(gnutls_privkey_t key, unsigned flags, void *userdata) {
        const Tpm2Key *k = userdata;

        if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
                return k->pk;
        if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
                return (int) k->bits;
        if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO)
                return sign_algo_supported(k, GNUTLS_FLAGS_TO_SIGN_ALGO(flags));
        if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO)
                return k->pk == GNUTLS_PK_ECDSA ? GNUTLS_SIGN_ECDSA_SHA384 : GNUTLS_SIGN_RSA_SHA256;
        return -1;
}

static void tpm2_key_deinit(gnutls_privkey_t key, void *userdata) {
        tpm2_key_free(userdata);
}

/* Reads the public area (and name) of the object at handle. -ENOKEY if there is none. */
static int read_public(Tpm2Connection *c, uint32_t handle, ESYS_TR *ret_tr, TPM2B_PUBLIC **ret_public,
                       TPM2B_NAME **ret_name) {
        ESYS_TR tr = ESYS_TR_NONE;
        TSS2_RC rc;
        int r;

        r = tpm2_persistent_exists(c, handle);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOKEY;
        rc = Esys_TR_FromTPMPublic(c->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
        if (rc == TSS2_RC_SUCCESS)
                rc = Esys_ReadPublic(c->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ret_public, ret_name,
                                     NULL);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_rc_to_errno(rc);
        if (ret_tr)
                *ret_tr = tr;
        return 0;
}

/* A TPM signature as gnutls wants it: ECDSA DER-encoded (r, s), RSA the raw block. */
static int signature_to_datum(const TPMT_SIGNATURE *sig, gnutls_datum_t *ret) {
        switch (sig->sigAlg) {
        case TPM2_ALG_ECDSA: {
                const TPMS_SIGNATURE_ECDSA *e = &sig->signature.ecdsa;
                return gnutls_encode_rs_value(ret,
                                              &(gnutls_datum_t) { (unsigned char *) e->signatureR.buffer, e->signatureR.size },
                                              &(gnutls_datum_t) { (unsigned char *) e->signatureS.buffer, e->signatureS.size });
        }
        case TPM2_ALG_RSASSA:
        case TPM2_ALG_RSAPSS: {
                const TPM2B_PUBLIC_KEY_RSA *s = &sig->signature.rsassa.sig;
                ret->data = gnutls_malloc(s->size);
                if (!ret->data)
                        return GNUTLS_E_MEMORY_ERROR;
                memcpy(ret->data, s->buffer, s->size);
                ret->size = s->size;
                return 0;
        }
        default:
                return GNUTLS_E_PK_SIGN_FAILED;
        }
}

static int tpm2_key_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata, unsigned flags,
                              const gnutls_datum_t *hash, gnutls_datum_t *signature) {
        const Tpm2Key *k = userdata;
        _cleanup_(tpm2_disconnect) Tpm2Connection c = {};
        TPMT_SIG_SCHEME scheme = {};
        TPM2B_DIGEST digest = {};
        TPMT_TK_HASHCHECK validation = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
        TPMT_SIGNATURE *sig = NULL;
        TPM2B_PUBLIC *pub = NULL;
        TPM2B_NAME *name = NULL;
        gnutls_digest_algorithm_t dig;
        ESYS_TR tr;
        TSS2_RC rc;
        int r, gr;

        if (flags & GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA)
                return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM; /* MD5+SHA-1 of TLS 1.0/1.1 */

        if (k->pk == GNUTLS_PK_RSA && algo == GNUTLS_SIGN_RSA_RAW) {
                /* PKCS#1 v1.5: gnutls hands over the DigestInfo; the TPM wants the bare digest
                 * and adds the DigestInfo itself. */
                unsigned size = sizeof digest.buffer;
                if (gnutls_decode_ber_digest_info(hash, &dig, digest.buffer, &size) < 0)
                        return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
                digest.size = (UINT16) size;
                scheme.scheme = TPM2_ALG_RSASSA;
        } else {
                gnutls_pk_algorithm_t pk = gnutls_sign_get_pk_algorithm(algo);
                if (!sign_algo_supported(k, algo))
                        return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
                if (k->pk == GNUTLS_PK_ECDSA && pk == GNUTLS_PK_ECDSA)
                        scheme.scheme = TPM2_ALG_ECDSA;
                else if (k->pk == GNUTLS_PK_RSA && pk == GNUTLS_PK_RSA_PSS)
                        scheme.scheme = TPM2_ALG_RSAPSS;
                else
                        return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
                dig = gnutls_sign_get_hash_algorithm(algo);
                if (dig == GNUTLS_DIG_UNKNOWN)
                        dig = digest_by_size(hash->size);
                if (hash->size > sizeof digest.buffer)
                        return GNUTLS_E_INVALID_REQUEST;
                memcpy(digest.buffer, hash->data, hash->size);
                digest.size = (UINT16) hash->size;
        }
        scheme.details.any.hashAlg = tpm_hash(dig);
        if (scheme.details.any.hashAlg == TPM2_ALG_NULL || digest.size != gnutls_hash_get_len(dig))
                return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;

        /* One connection per signature: nothing is held between them. */
        r = tpm2_connect(k->tcti, &c);
        if (r < 0)
                return GNUTLS_E_PK_SIGN_FAILED;
        r = read_public(&c, k->handle, &tr, &pub, &name);
        if (r < 0)
                return GNUTLS_E_PK_SIGN_FAILED;
        /* The handle must still hold the key that was opened, not one persisted there since. */
        bool same = name->size == k->name.size && memcmp(name->name, k->name.name, name->size) == 0;
        Esys_Free(pub);
        Esys_Free(name);
        if (!same)
                return GNUTLS_E_PK_SIGN_FAILED;

        rc = Esys_Sign(c.esys, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &scheme, &validation, &sig);
        if (rc != TSS2_RC_SUCCESS)
                return GNUTLS_E_PK_SIGN_FAILED;

        gr = signature_to_datum(sig, signature);
        Esys_Free(sig);
        return gr;
}

/* Connects, reads the public area at the URL's handle. */
static int open_public(const char *url, Tpm2Url *ret_url, TPM2B_PUBLIC **ret_public, TPM2B_NAME **ret_name) {
        _cleanup_(tpm2_url_done) Tpm2Url u = {};
        _cleanup_(tpm2_disconnect) Tpm2Connection c = {};
        int r;

        r = tpm2_url_parse(url, &u);
        if (r < 0)
                return r;
        r = tpm2_connect(u.tcti, &c);
        if (r < 0)
                return r;
        r = read_public(&c, u.handle, NULL, ret_public, ret_name);
        if (r < 0)
                return r;

        if (ret_url) {
                *ret_url = u;
                u = (Tpm2Url) {};
        }
        return 0;
}

static bool is_signing_key(const TPMT_PUBLIC *p) {
        return (p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) && !(p->objectAttributes & TPMA_OBJECT_RESTRICTED) &&
               (p->type == TPM2_ALG_ECC || p->type == TPM2_ALG_RSA);
}

int tpm2_key_open_privkey(const char *url, gnutls_privkey_t *ret) {
        _cleanup_(tpm2_url_done) Tpm2Url u = {};
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        TPM2B_PUBLIC *pub = NULL;
        TPM2B_NAME *name = NULL;
        Tpm2Key *k;
        int r, gr;

        if (!url || !ret)
                return -EINVAL;

        r = open_public(url, &u, &pub, &name);
        if (r < 0)
                return r;

        k = calloc(1, sizeof(Tpm2Key));
        if (!k) {
                Esys_Free(pub);
                Esys_Free(name);
                return -ENOMEM;
        }
        *k = (Tpm2Key) {
                .handle = u.handle,
                .tcti = TAKE_PTR(u.tcti),
                .name = *name,
        };
        const TPMT_PUBLIC *p = &pub->publicArea;
        if (!is_signing_key(p))
                r = -EOPNOTSUPP;
        else if (p->type == TPM2_ALG_ECC) {
                k->pk = GNUTLS_PK_ECDSA;
                k->bits = gnutls_ecc_curve_get_size(curve_from_tpm(p->parameters.eccDetail.curveID)) * 8;
                r = k->bits > 0 ? 0 : -EOPNOTSUPP;
        } else {
                k->pk = GNUTLS_PK_RSA;
                k->bits = p->parameters.rsaDetail.keyBits;
        }
        Esys_Free(pub);
        Esys_Free(name);
        if (r < 0) {
                tpm2_key_free(k);
                return r;
        }

        gr = gnutls_privkey_init(&key);
        if (gr < 0) {
                tpm2_key_free(k);
                return errno_from_gnutls(gr);
        }
        gr = gnutls_privkey_import_ext4(key, k, NULL, tpm2_key_sign_hash, NULL, tpm2_key_deinit, tpm2_key_info,
                                        GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
        if (gr < 0) {
                tpm2_key_free(k);
                return errno_from_gnutls(gr);
        }

        *ret = TAKE_PTR(key);
        return 0;
}

int tpm2_key_open_pubkey(const char *url, gnutls_pubkey_t *ret) {
        TPM2B_PUBLIC *pub = NULL;
        int r;

        if (!url || !ret)
                return -EINVAL;

        r = open_public(url, NULL, &pub, NULL);
        if (r < 0)
                return r;
        r = is_signing_key(&pub->publicArea) ? tpm2_public_to_pubkey(&pub->publicArea, ret) : -EOPNOTSUPP;
        Esys_Free(pub);
        return r;
}

void tpm2_key_register(void) {
        keyurl_register(KEY_URL_TPM2, tpm2_key_open_privkey, NULL);
        keyurl_register_pubkey(KEY_URL_TPM2, tpm2_key_open_pubkey);
}
