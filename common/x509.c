/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* X.509 with gnutls: PEM chains, chain verification with reasons a user can act on, the
 * certificate information the D-Bus API reports, CSRs and self-signed certificates.
 * Only gnutls_privkey_* is used for keys, so a key in a PKCS#11 token works like a file key. */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "macro.h"
#include "x509.h"

#define OID_SERVER_AUTH "1.3.6.1.5.5.7.3.1"
#define OID_CLIENT_AUTH "1.3.6.1.5.5.7.3.2"

#define SERIAL_SIZE 16
#define SHA256_SIZE 32

/* The gnutls_*_deinitp cleanup helpers come from x509.h. */
static inline void datum_freep(gnutls_datum_t *d) {
        if (d->data)
                gnutls_free(d->data);
        d->size = 0;
}
#define _cleanup_datum_ _cleanup_(datum_freep)

/* gnutls error → negative errno, for the cases a caller can tell apart. */
static int errno_from_gnutls(int gr) {
        switch (gr) {
        case GNUTLS_E_MEMORY_ERROR:
                return -ENOMEM;
        case GNUTLS_E_INVALID_REQUEST:
                return -EINVAL;
        case GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE:
                return -ENODATA;
        case GNUTLS_E_BASE64_DECODING_ERROR:
        case GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR:
        case GNUTLS_E_ASN1_DER_ERROR:
        case GNUTLS_E_ASN1_ELEMENT_NOT_FOUND:
        case GNUTLS_E_ASN1_TAG_ERROR:
        case GNUTLS_E_ASN1_DER_OVERFLOW:
        case GNUTLS_E_ASN1_GENERIC_ERROR:
        case GNUTLS_E_CERTIFICATE_ERROR:
                return -EBADMSG;
        case GNUTLS_E_PKCS11_PIN_ERROR:
        case GNUTLS_E_PKCS11_PIN_EXPIRED:
        case GNUTLS_E_PKCS11_PIN_LOCKED:
        case GNUTLS_E_PKCS11_USER_ERROR:
                return -EACCES;
        case GNUTLS_E_UNKNOWN_PK_ALGORITHM:
        case GNUTLS_E_UNIMPLEMENTED_FEATURE:
                return -EOPNOTSUPP;
        default:
                return -EIO;
        }
}

/* Stores a formatted reason (if the caller wants one) and returns r. A reason that cannot be
 * allocated is left NULL: the error code still says what happened. */
_printf_(3, 4) static int fail(char **ret_reason, int r, const char *fmt, ...) {
        if (ret_reason) {
                va_list ap;
                char *s;

                va_start(ap, fmt);
                if (vasprintf(&s, fmt, ap) < 0)
                        s = NULL;
                va_end(ap);
                *ret_reason = s;
        }
        return r;
}

static char *datum_to_string(const gnutls_datum_t *d) {
        return strndup((const char *) d->data, d->size);
}

/* Length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no surrogates) at p, or 0. */
static size_t utf8_sequence_length(const unsigned char *p, size_t left) {
        uint32_t cp;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if ((p[0] & 0xe0) == 0xc0) {
                n = 2;
                cp = p[0] & 0x1f;
        } else if ((p[0] & 0xf0) == 0xe0) {
                n = 3;
                cp = p[0] & 0x0f;
        } else if ((p[0] & 0xf8) == 0xf0) {
                n = 4;
                cp = p[0] & 0x07;
        } else
                return 0;
        if (n > left)
                return 0;
        for (size_t k = 1; k < n; k++) {
                if ((p[k] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[k] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* Names from a certificate end up in D-Bus strings and in reasons shown to users, which must be
 * valid UTF-8 and should not carry terminal control codes. Valid UTF-8 is kept; control
 * characters and invalid bytes are written as \xNN. */
static char *text_from_cert(const void *data, size_t len) {
        const unsigned char *s = data;
        char *out, *o;

        if (len > (SIZE_MAX - 1) / 4)
                return NULL;
        out = o = malloc(len * 4 + 1);
        if (!out)
                return NULL;

        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence_length(s + i, len - i);

                if (n > 1 || (n == 1 && s[i] >= 0x20 && s[i] != 0x7f)) {
                        memcpy(o, s + i, n);
                        o += n;
                        i += n;
                } else {
                        o += sprintf(o, "\\x%02x", s[i]);
                        i++;
                }
        }
        *o = 0;
        return out;
}

/* RFC 4514 subject of a certificate; never NULL unless out of memory. */
static char *crt_subject(gnutls_x509_crt_t crt) {
        _cleanup_datum_ gnutls_datum_t d = {};
        int gr;

        gr = gnutls_x509_crt_get_dn3(crt, &d, 0);
        if (gr == GNUTLS_E_MEMORY_ERROR)
                return NULL;
        if (gr < 0)
                return strdup("");
        return text_from_cert(d.data, d.size);
}

static char *crt_issuer(gnutls_x509_crt_t crt) {
        _cleanup_datum_ gnutls_datum_t d = {};
        int gr;

        gr = gnutls_x509_crt_get_issuer_dn3(crt, &d, 0);
        if (gr == GNUTLS_E_MEMORY_ERROR)
                return NULL;
        if (gr < 0)
                return strdup("");
        return text_from_cert(d.data, d.size);
}

static void format_time(time_t t, char buf[static 32]) {
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(buf, 32, "@%lld", (long long) t);
}

static uint64_t time_to_usec(time_t t) {
        if (t <= 0)
                return 0;
        if ((uint64_t) t > UINT64_MAX / USEC_PER_SEC)
                return UINT64_MAX;
        return (uint64_t) t * USEC_PER_SEC;
}

void x509_chain_done(X509Chain *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++)
                gnutls_x509_crt_deinit(c->certs[i]);
        free(c->certs);
        c->certs = NULL;
        c->n = 0;
}

void x509_cert_info_done(X509CertInfo *i) {
        if (!i)
                return;
        free(i->subject);
        free(i->issuer);
        free(i->issuer_der);
        free(i->serial);
        free(i->fingerprint);
        free(i->key_id);
        free(i->common_name);
        *i = (X509CertInfo) {};
}

const char *x509_eku_oid(const char *name) {
        if (!name)
                return NULL;
        if (streq(name, "serverAuth"))
                return OID_SERVER_AUTH;
        if (streq(name, "clientAuth"))
                return OID_CLIENT_AUTH;
        return NULL;
}

/* ---- PEM ---------------------------------------------------------------------------------- */

#define PEM_BEGIN "-----BEGIN "
#define PEM_DASHES "-----"
#define PEM_LABEL_MAX 64

static bool pem_label_ok(const char *label, size_t len) {
        if (len == 0 || len > PEM_LABEL_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (label[i] < 0x20 || label[i] > 0x7e)
                        return false;
        return true;
}

static int import_cert_block(const char *begin, size_t len, size_t block, gnutls_x509_crt_t *ret,
                             char **ret_reason) {
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        _cleanup_datum_ gnutls_datum_t der = {};
        gnutls_datum_t in = { .data = (unsigned char *) begin, .size = (unsigned) len };
        int gr;

        gr = gnutls_pem_base64_decode2("CERTIFICATE", &in, &der);
        if (gr == GNUTLS_E_MEMORY_ERROR)
                return -ENOMEM;
        if (gr < 0)
                return fail(ret_reason, -EBADMSG, "PEM block %zu is not valid base64: %s", block,
                            gnutls_strerror(gr));

        gr = gnutls_x509_crt_init(&crt);
        if (gr < 0)
                return errno_from_gnutls(gr);

        gr = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER);
        if (gr == GNUTLS_E_MEMORY_ERROR)
                return -ENOMEM;
        if (gr < 0)
                return fail(ret_reason, -EBADMSG, "PEM block %zu is not a valid certificate: %s", block,
                            gnutls_strerror(gr));

        *ret = TAKE_PTR(crt);
        return 0;
}

int x509_chain_from_pem(const void *pem, size_t size, X509Chain *ret, char **ret_reason) {
        _cleanup_(x509_chain_done) X509Chain c = {};
        const char *p, *end;
        size_t block = 0;
        int r;

        /* Always defined after the call: NULL, or why it failed. */
        if (ret_reason)
                *ret_reason = NULL;

        if (!pem && size > 0)
                return -EINVAL;
        if (!ret)
                return -EINVAL;

        if (size > X509_PEM_MAX)
                return fail(ret_reason, -E2BIG, "the PEM input is %zu bytes, more than the limit of %d",
                            size, X509_PEM_MAX);
        if (size == 0)
                return fail(ret_reason, -EBADMSG, "the PEM input is empty");

        c.certs = calloc(X509_CHAIN_MAX, sizeof(gnutls_x509_crt_t));
        if (!c.certs)
                return -ENOMEM;

        p = pem;
        end = p + size;
        for (;;) {
                const char *begin, *label, *eol, *dashes, *e, *next;
                char end_marker[sizeof("-----END " PEM_DASHES) + PEM_LABEL_MAX];
                size_t label_len, end_len;

                /* Text between blocks is ignored, as openssl does. */
                begin = memmem(p, end - p, PEM_BEGIN, strlen(PEM_BEGIN));
                if (!begin)
                        break;
                block++;

                label = begin + strlen(PEM_BEGIN);
                eol = memchr(label, '\n', end - label) ?: end;
                dashes = memmem(label, eol - label, PEM_DASHES, strlen(PEM_DASHES));
                label_len = dashes ? (size_t) (dashes - label) : 0;
                if (!dashes || !pem_label_ok(label, label_len))
                        return fail(ret_reason, -EBADMSG, "PEM block %zu has a malformed BEGIN line", block);

                end_len = (size_t) snprintf(end_marker, sizeof end_marker, "-----END %.*s-----",
                                            (int) label_len, label);
                e = memmem(eol, end - eol, end_marker, end_len);
                next = memmem(eol, end - eol, PEM_BEGIN, strlen(PEM_BEGIN));
                if (!e || (next && next < e))
                        return fail(ret_reason, -EBADMSG, "PEM block %zu (%.*s) has no END line", block,
                                    (int) label_len, label);

                if (label_len != strlen("CERTIFICATE") || memcmp(label, "CERTIFICATE", label_len) != 0)
                        return fail(ret_reason, -EBADMSG, "PEM block %zu is a '%.*s', not a certificate", block,
                                    (int) label_len, label);

                if (c.n >= X509_CHAIN_MAX)
                        return fail(ret_reason, -EBADMSG,
                                    "PEM block %zu is certificate %zu, more than the limit of %d in a chain",
                                    block, c.n + 1, X509_CHAIN_MAX);

                r = import_cert_block(begin, (size_t) (e + end_len - begin), block, &c.certs[c.n], ret_reason);
                if (r < 0)
                        return r;
                c.n++;

                p = e + end_len;
        }

        if (c.n == 0)
                return fail(ret_reason, -EBADMSG, "no certificate in the PEM input");

        *ret = c;
        c = (X509Chain) {};
        return 0;
}

int x509_chain_to_pem(const X509Chain *c, char **ret_pem) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (!c || c->n == 0 || !ret_pem)
                return -EINVAL;

        for (size_t i = 0; i < c->n; i++) {
                _cleanup_datum_ gnutls_datum_t d = {};
                char *nbuf;
                int gr;

                gr = gnutls_x509_crt_export2(c->certs[i], GNUTLS_X509_FMT_PEM, &d);
                if (gr < 0)
                        return errno_from_gnutls(gr);

                nbuf = realloc(buf, len + d.size + 1);
                if (!nbuf)
                        return -ENOMEM;
                buf = nbuf;
                memcpy(buf + len, d.data, d.size);
                len += d.size;
                buf[len] = 0;
        }

        *ret_pem = TAKE_PTR(buf);
        return 0;
}

int x509_chain_load_file(const char *path, X509Chain *ret, char **ret_reason) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ char *reason = NULL;
        size_t len = 0;
        int r;

        /* Always defined after the call: NULL, or why it failed. */
        if (ret_reason)
                *ret_reason = NULL;

        if (!path || !ret)
                return -EINVAL;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                return fail(ret_reason, r, "cannot open %s: %s", path, strerror(-r));
        }

        /* One byte more than the limit tells a file at the limit from a longer one. */
        buf = malloc(X509_PEM_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (len < X509_PEM_MAX + 1) {
                ssize_t k = read(fd, buf + len, X509_PEM_MAX + 1 - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        return fail(ret_reason, r, "cannot read %s: %s", path, strerror(-r));
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len > X509_PEM_MAX)
                return fail(ret_reason, -E2BIG, "%s is larger than the limit of %d bytes", path, X509_PEM_MAX);

        r = x509_chain_from_pem(buf, len, ret, ret_reason ? &reason : NULL);
        if (r < 0 && reason)
                return fail(ret_reason, r, "%s: %s", path, reason);
        return r;
}

/* ---- verification ------------------------------------------------------------------------- */

#define VERIFY_FLAGS (GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS)

/* What a failed gnutls verification status means, in words. */
static char *status_to_string(unsigned status) {
        static const struct {
                unsigned bit;
                const char *text;
        } table[] = {
                { GNUTLS_CERT_SIGNATURE_FAILURE, "the signature does not verify" },
                { GNUTLS_CERT_SIGNER_NOT_CA, "the issuer is not a CA" },
                { GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE,
                  "the issuer's constraints (key usage, path length or name constraints) forbid it" },
                { GNUTLS_CERT_INSECURE_ALGORITHM, "it is signed with an insecure algorithm" },
                { GNUTLS_CERT_SIGNER_NOT_FOUND, "its issuer was not found" },
                { GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "it has an unknown critical extension" },
        };
        char *s = NULL;
        size_t len = 0;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char *n;

                if (!(status & table[i].bit))
                        continue;
                if (asprintf(&n, "%s%s%s", strempty(s), s ? ", " : "", table[i].text) < 0) {
                        free(s);
                        return NULL;
                }
                free(s);
                s = n;
                len++;
        }
        if (len > 0)
                return s;

        gnutls_datum_t out = {};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) < 0)
                return strdup("it is not trusted");
        s = datum_to_string(&out);
        gnutls_free(out.data);
        return s;
}

static int verify_link(const X509Chain *chain, size_t i, char **ret_reason) {
        gnutls_x509_crt_t cert = chain->certs[i], issuer = chain->certs[i + 1];
        unsigned status = 0;
        int gr;

        /* A certificate that appeared before: a loop (A by B by A) or a duplicate. */
        for (size_t j = 0; j <= i; j++)
                if (gnutls_x509_crt_equals(chain->certs[j], issuer))
                        return fail(ret_reason, -EKEYREJECTED, "certificate %zu of %zu repeats certificate %zu",
                                    i + 2, chain->n, j + 1);

        if (!gnutls_x509_crt_check_issuer(cert, issuer)) {
                _cleanup_free_ char *names = crt_issuer(cert), *next = crt_subject(issuer);
                return fail(ret_reason, -EKEYREJECTED,
                            "certificate %zu of %zu is not signed by its issuer (certificate %zu): "
                            "it names '%s' as issuer, but certificate %zu is '%s'",
                            i + 1, chain->n, i + 2, strna(names), i + 2, strna(next));
        }

        gr = gnutls_x509_crt_verify(cert, &issuer, 1, VERIFY_FLAGS, &status);
        if (gr == GNUTLS_E_MEMORY_ERROR)
                return -ENOMEM;
        if (gr < 0)
                return fail(ret_reason, -EKEYREJECTED,
                            "certificate %zu of %zu is not signed by its issuer (certificate %zu): %s",
                            i + 1, chain->n, i + 2, gnutls_strerror(gr));
        if (status != 0) {
                _cleanup_free_ char *why = status_to_string(status);
                return fail(ret_reason, -EKEYREJECTED,
                            "certificate %zu of %zu is not signed by its issuer (certificate %zu): %s",
                            i + 1, chain->n, i + 2, strna(why));
        }

        return 0;
}

/* Step 2: returns the root the chain ends at (NULL when the last certificate is a root itself). */
static int verify_anchor(const X509Chain *chain, const X509Chain *roots, gnutls_x509_crt_t *ret_root,
                         char **ret_reason) {
        gnutls_x509_crt_t last = chain->certs[chain->n - 1];
        _cleanup_free_ char *last_name = NULL, *why = NULL;

        for (size_t k = 0; k < roots->n; k++)
                if (gnutls_x509_crt_equals(last, roots->certs[k])) {
                        *ret_root = NULL;
                        return 0;
                }

        last_name = crt_subject(last);

        for (size_t k = 0; k < roots->n; k++) {
                _cleanup_free_ char *root_name = NULL, *s = NULL;
                gnutls_x509_crt_t root = roots->certs[k];
                unsigned status = 0;
                int gr;

                if (!gnutls_x509_crt_check_issuer(last, root))
                        continue;

                root_name = crt_subject(root);
                free(why);
                why = NULL;

                if (gnutls_x509_crt_get_ca_status(root, NULL) <= 0) {
                        if (asprintf(&why, "the configured CA certificate '%s' is not a CA", strna(root_name)) < 0)
                                why = NULL;
                        continue;
                }

                gr = gnutls_x509_crt_verify(last, &root, 1, VERIFY_FLAGS, &status);
                if (gr == GNUTLS_E_MEMORY_ERROR)
                        return -ENOMEM;
                if (gr >= 0 && status == 0) {
                        *ret_root = root;
                        return 0;
                }

                s = gr < 0 ? strdup(gnutls_strerror(gr)) : status_to_string(status);
                if (asprintf(&why, "the last certificate '%s' names the CA '%s' as issuer, but %s",
                             strna(last_name), strna(root_name), strna(s)) < 0)
                        why = NULL;
        }

        if (why)
                return fail(ret_reason, -EKEYREJECTED, "the chain does not end at the configured CA: %s", why);

        _cleanup_free_ char *issuer_name = crt_issuer(last);
        return fail(ret_reason, -EKEYREJECTED,
                    "the chain does not end at the configured CA: the last certificate '%s' is neither the CA "
                    "nor signed by it (its issuer is '%s')",
                    strna(last_name), strna(issuer_name));
}

/* The links and the anchor were checked one by one above, for precise reasons. This runs
 * gnutls' own path validation over the whole chain as well, for what only shows across
 * several links: path length and name constraints. */
static int verify_whole_chain(const X509Chain *chain, const X509Chain *roots, char **ret_reason) {
        unsigned status = 0;
        int gr;

        gr = gnutls_x509_crt_list_verify(chain->certs, chain->n, roots->certs, roots->n, NULL, 0,
                                         VERIFY_FLAGS, &status);
        if (gr == GNUTLS_E_MEMORY_ERROR)
                return -ENOMEM;
        if (gr < 0)
                return fail(ret_reason, -EKEYREJECTED, "the chain is not trusted by the configured CA: %s",
                            gnutls_strerror(gr));
        if (status != 0) {
                _cleanup_free_ char *why = status_to_string(status);
                return fail(ret_reason, -EKEYREJECTED, "the chain is not trusted by the configured CA: %s",
                            strna(why));
        }
        return 0;
}

static int verify_dates(gnutls_x509_crt_t crt, const char *what, uint64_t now_usec, char **ret_reason) {
        time_t not_before, not_after;
        int64_t now = (int64_t) (now_usec / USEC_PER_SEC);
        char buf[32];

        not_before = gnutls_x509_crt_get_activation_time(crt);
        not_after = gnutls_x509_crt_get_expiration_time(crt);
        /* (time_t) -1: gnutls could not read the date. */
        if (not_before == (time_t) -1 || not_after == (time_t) -1)
                return fail(ret_reason, -EKEYEXPIRED, "%s has no readable validity period", what);

        if (now < (int64_t) not_before) {
                format_time(not_before, buf);
                return fail(ret_reason, -EKEYEXPIRED, "%s is not valid before %s", what, buf);
        }
        if (now > (int64_t) not_after) {
                format_time(not_after, buf);
                return fail(ret_reason, -EKEYEXPIRED, "%s expired on %s", what, buf);
        }
        return 0;
}

static int crt_has_key_purpose(gnutls_x509_crt_t crt, const char *oid, bool *ret) {
        for (unsigned idx = 0;; idx++) {
                char buf[128];
                size_t size = sizeof buf;
                int gr;

                gr = gnutls_x509_crt_get_key_purpose_oid(crt, idx, buf, &size, NULL);
                if (gr == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                if (gr == GNUTLS_E_SHORT_MEMORY_BUFFER)
                        continue; /* longer than any OID we look for */
                if (gr < 0)
                        return errno_from_gnutls(gr);
                if (streq(buf, oid)) {
                        *ret = true;
                        return 0;
                }
        }
        *ret = false;
        return 0;
}

/* The root a verified chain ends at, found by name (gnutls checked its signature already): NULL
 * when the last certificate is a root itself. */
static gnutls_x509_crt_t anchor_root(const X509Chain *chain, const X509Chain *roots) {
        gnutls_x509_crt_t last = chain->certs[chain->n - 1];

        for (size_t k = 0; k < roots->n; k++)
                if (gnutls_x509_crt_equals(last, roots->certs[k]))
                        return NULL;
        for (size_t k = 0; k < roots->n; k++)
                if (gnutls_x509_crt_check_issuer(last, roots->certs[k]) &&
                    gnutls_x509_crt_get_ca_status(roots->certs[k], NULL) > 0)
                        return roots->certs[k];
        return NULL;
}

int x509_chain_verify(const X509Chain *chain, const X509Chain *roots, uint64_t now_usec,
                      char *const *required_eku, char **ret_reason) {
        gnutls_x509_crt_t root = NULL;
        int r;

        /* Always defined after the call: NULL, or why it failed. */
        if (ret_reason)
                *ret_reason = NULL;

        if (!chain || chain->n == 0 || !chain->certs)
                return fail(ret_reason, -EINVAL, "the chain is empty");
        if (!roots || roots->n == 0 || !roots->certs)
                return fail(ret_reason, -EINVAL, "no CA certificate is configured");
        for (char *const *e = required_eku; e && *e; e++)
                if (!x509_eku_oid(*e))
                        return fail(ret_reason, -EINVAL, "unknown extended key usage '%s'", *e);
        if (chain->n > X509_CHAIN_MAX)
                return fail(ret_reason, -EKEYREJECTED, "the chain has %zu certificates, more than the limit of %d",
                            chain->n, X509_CHAIN_MAX);

        /* 1. and 2. gnutls checks every signature once, along the whole path to the CA (with
         * path length and name constraints). Only when that fails are the links and the anchor
         * checked one by one, which repeats the signature checks, to say precisely what is
         * wrong. A repeated certificate is refused on either path. */
        for (size_t i = 0; i + 1 < chain->n; i++)
                for (size_t j = 0; j <= i; j++)
                        if (gnutls_x509_crt_equals(chain->certs[j], chain->certs[i + 1]))
                                return fail(ret_reason, -EKEYREJECTED, "certificate %zu of %zu repeats certificate %zu",
                                            i + 2, chain->n, j + 1);

        _cleanup_free_ char *whole_reason = NULL;
        r = verify_whole_chain(chain, roots, &whole_reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                for (size_t i = 0; i + 1 < chain->n; i++) {
                        r = verify_link(chain, i, ret_reason);
                        if (r < 0)
                                return r;
                }
                r = verify_anchor(chain, roots, &root, ret_reason);
                if (r < 0)
                        return r;
                /* Every link and the anchor are fine: a rule across the path failed. */
                return fail(ret_reason, -EKEYREJECTED, "%s", strna(whole_reason));
        }
        root = anchor_root(chain, roots);

        /* 3. Dates, of every certificate and of the CA that signed the last one. */
        for (size_t i = 0; i < chain->n; i++) {
                _cleanup_free_ char *name = crt_subject(chain->certs[i]), *what = NULL;

                if (asprintf(&what, "certificate %zu (%s)", i + 1, strna(name)) < 0)
                        return -ENOMEM;
                r = verify_dates(chain->certs[i], what, now_usec, ret_reason);
                if (r < 0)
                        return r;
        }
        if (root) {
                _cleanup_free_ char *name = crt_subject(root), *what = NULL;

                if (asprintf(&what, "the CA certificate (%s)", strna(name)) < 0)
                        return -ENOMEM;
                r = verify_dates(root, what, now_usec, ret_reason);
                if (r < 0)
                        return r;
        }

        /* 4. Extended key usage of the leaf. */
        for (char *const *e = required_eku; e && *e; e++) {
                bool found;

                r = crt_has_key_purpose(chain->certs[0], x509_eku_oid(*e), &found);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || !found) {
                        _cleanup_free_ char *name = crt_subject(chain->certs[0]);
                        return fail(ret_reason, -EKEYREJECTED,
                                    "certificate 1 (%s) lacks the extended key usage %s", strna(name), *e);
                }
        }

        return 0;
}

/* ---- information -------------------------------------------------------------------------- */

static int pubkey_key_id(gnutls_pubkey_t pub, char **ret_key_id) {
        _cleanup_datum_ gnutls_datum_t spki = {};
        unsigned char digest[SHA256_SIZE];
        char *hex;
        int gr;

        gr = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki);
        if (gr < 0)
                return errno_from_gnutls(gr);

        gr = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, digest);
        if (gr < 0)
                return errno_from_gnutls(gr);

        hex = hexmem(digest, sizeof digest);
        if (!hex)
                return -ENOMEM;
        *ret_key_id = hex;
        return 0;
}

static int pubkey_from_privkey(gnutls_privkey_t key, gnutls_pubkey_t *ret) {
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        int gr;

        gr = gnutls_pubkey_init(&pub);
        if (gr < 0)
                return errno_from_gnutls(gr);

        /* Works for file and PKCS#11 keys; a key made with gnutls_privkey_import_ext*() has no
         * public half gnutls could hand out. */
        gr = gnutls_pubkey_import_privkey(pub, key, 0, 0);
        if (gr == GNUTLS_E_INVALID_REQUEST)
                return -EOPNOTSUPP;
        if (gr < 0)
                return errno_from_gnutls(gr);

        *ret = TAKE_PTR(pub);
        return 0;
}

int x509_pubkey_key_id(gnutls_pubkey_t pub, char **ret_key_id) {
        if (!pub || !ret_key_id)
                return -EINVAL;
        return pubkey_key_id(pub, ret_key_id);
}

int x509_privkey_key_id(gnutls_privkey_t key, char **ret_key_id) {
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        int r;

        if (!key || !ret_key_id)
                return -EINVAL;

        r = pubkey_from_privkey(key, &pub);
        if (r < 0)
                return r;

        return pubkey_key_id(pub, ret_key_id);
}

static int crt_common_name(gnutls_x509_crt_t crt, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        char *cn;
        int gr;

        gr = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, NULL, &size);
        if (gr == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
                *ret = NULL;
                return 0;
        }
        if (gr != GNUTLS_E_SHORT_MEMORY_BUFFER && gr < 0)
                return errno_from_gnutls(gr);

        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        gr = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size);
        if (gr < 0)
                return errno_from_gnutls(gr);

        cn = text_from_cert(buf, size);
        if (!cn)
                return -ENOMEM;
        *ret = cn;
        return 0;
}

int x509_cert_info(gnutls_x509_crt_t crt, X509CertInfo *ret) {
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t issuer_der = {};
        unsigned char serial[64], fingerprint[SHA256_SIZE];
        size_t serial_size = sizeof serial, fingerprint_size = sizeof fingerprint;
        int gr, r;

        if (!crt || !ret)
                return -EINVAL;

        info.subject = crt_subject(crt);
        info.issuer = crt_issuer(crt);
        if (!info.subject || !info.issuer)
                return -ENOMEM;

        gr = gnutls_x509_crt_get_raw_issuer_dn(crt, &issuer_der);
        if (gr < 0)
                return errno_from_gnutls(gr);
        info.issuer_der = malloc(MAX(issuer_der.size, 1u));
        if (!info.issuer_der)
                return -ENOMEM;
        memcpy(info.issuer_der, issuer_der.data, issuer_der.size);
        info.issuer_der_size = issuer_der.size;

        gr = gnutls_x509_crt_get_serial(crt, serial, &serial_size);
        if (gr < 0)
                return errno_from_gnutls(gr);
        info.serial = hexmem(serial, serial_size);
        if (!info.serial)
                return -ENOMEM;

        /* An unreadable date ((time_t) -1) becomes 0, as does any date before 1970. */
        info.not_before = time_to_usec(gnutls_x509_crt_get_activation_time(crt));
        info.not_after = time_to_usec(gnutls_x509_crt_get_expiration_time(crt));

        gr = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fingerprint, &fingerprint_size);
        if (gr < 0)
                return errno_from_gnutls(gr);
        info.fingerprint = hexmem(fingerprint, fingerprint_size);
        if (!info.fingerprint)
                return -ENOMEM;

        gr = gnutls_pubkey_init(&pub);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_pubkey_import_x509(pub, crt, 0);
        if (gr < 0)
                return errno_from_gnutls(gr);
        r = pubkey_key_id(pub, &info.key_id);
        if (r < 0)
                return r;

        r = crt_common_name(crt, &info.common_name);
        if (r < 0)
                return r;

        *ret = info;
        info = (X509CertInfo) {};
        return 0;
}

/* ---- making requests and certificates ----------------------------------------------------- */

/* The key's public half: a copy of pub if given, else derived from key. */
static int pubkey_of(gnutls_privkey_t key, gnutls_pubkey_t pub, gnutls_pubkey_t *ret) {
        _cleanup_datum_ gnutls_datum_t der = {};
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t copy = NULL;
        int gr;

        if (!pub)
                return pubkey_from_privkey(key, ret);

        gr = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
        if (gr >= 0)
                gr = gnutls_pubkey_init(&copy);
        if (gr >= 0)
                gr = gnutls_pubkey_import(copy, &der, GNUTLS_X509_FMT_DER);
        if (gr < 0)
                return errno_from_gnutls(gr);
        /* Both halves must at least be of one algorithm (the signature check comes later). */
        if (gnutls_pubkey_get_pk_algorithm(copy, NULL) != gnutls_privkey_get_pk_algorithm(key, NULL))
                return -EKEYREJECTED;

        *ret = TAKE_PTR(copy);
        return 0;
}

static int pick_digest(gnutls_privkey_t key, gnutls_digest_algorithm_t *ret_digest, bool *ret_rsa) {
        int pk = gnutls_privkey_get_pk_algorithm(key, NULL);

        if (pk == GNUTLS_PK_ECDSA) {
                *ret_digest = GNUTLS_DIG_SHA384;
                *ret_rsa = false;
                return 0;
        }
        if (pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS) {
                *ret_digest = GNUTLS_DIG_SHA256;
                *ret_rsa = true;
                return 0;
        }
        return pk == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EOPNOTSUPP;
}

static int check_names(const char *cn, char *const *eku, char *const *dns_names) {
        if (isempty(cn))
                return -EINVAL;
        for (char *const *e = eku; e && *e; e++)
                if (!x509_eku_oid(*e))
                        return -EINVAL;
        for (char *const *d = dns_names; d && *d; d++)
                if (isempty(*d))
                        return -EINVAL;
        return 0;
}

int x509_make_csr(gnutls_privkey_t key, const char *cn, char *const *eku, char *const *dns_names,
                  char **ret_pem) {
        return x509_make_csr_with_pubkey(key, NULL, cn, eku, dns_names, ret_pem);
}

int x509_make_csr_with_pubkey(gnutls_privkey_t key, gnutls_pubkey_t given_pub, const char *cn, char *const *eku,
                              char *const *dns_names, char **ret_pem) {
        _cleanup_(gnutls_x509_crq_deinitp) gnutls_x509_crq_t crq = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t out = {};
        gnutls_digest_algorithm_t digest;
        bool rsa;
        char *pem;
        int gr, r;

        if (!key || !ret_pem)
                return -EINVAL;
        r = check_names(cn, eku, dns_names);
        if (r < 0)
                return r;
        r = pick_digest(key, &digest, &rsa);
        if (r < 0)
                return r;
        r = pubkey_of(key, given_pub, &pub);
        if (r < 0)
                return r;

        gr = gnutls_x509_crq_init(&crq);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crq_set_version(crq, 1);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
        if (gr < 0)
                return errno_from_gnutls(gr);

        for (char *const *e = eku; e && *e; e++) {
                gr = gnutls_x509_crq_set_key_purpose_oid(crq, x509_eku_oid(*e), 0);
                if (gr < 0)
                        return errno_from_gnutls(gr);
        }
        for (char *const *d = dns_names; d && *d; d++) {
                gr = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, *d, strlen(*d),
                                                          GNUTLS_FSAN_APPEND);
                if (gr < 0)
                        return errno_from_gnutls(gr);
        }

        gr = gnutls_x509_crq_set_pubkey(crq, pub);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crq_privkey_sign(crq, key, digest, 0);
        if (gr < 0)
                return errno_from_gnutls(gr);
        /* With the public key given separately, nothing else says the two belong together. */
        if (given_pub && gnutls_x509_crq_verify(crq, 0) < 0)
                return -EKEYREJECTED;

        gr = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &out);
        if (gr < 0)
                return errno_from_gnutls(gr);
        pem = datum_to_string(&out);
        if (!pem)
                return -ENOMEM;

        *ret_pem = pem;
        return 0;
}

int x509_make_self_signed(gnutls_privkey_t key, const char *cn, char *const *eku,
                          char *const *dns_names, uint64_t lifetime_usec, gnutls_x509_crt_t *ret) {
        return x509_make_self_signed_with_pubkey(key, NULL, cn, eku, dns_names, lifetime_usec, ret);
}

/* Whether crt's signature verifies with its own public key. Only the signature is looked at: a
 * self-signed end-entity certificate is no CA, and the trust list holds nothing else. */
static int self_signature_ok(gnutls_x509_crt_t crt) {
        unsigned status = 0;
        int gr;

        gr = gnutls_x509_crt_verify(crt, &crt, 1,
                                    GNUTLS_VERIFY_DO_NOT_ALLOW_SAME | GNUTLS_VERIFY_DISABLE_CA_SIGN |
                                    GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS |
                                    GNUTLS_VERIFY_ALLOW_SIGN_WITH_SHA1,
                                    &status);
        if (gr < 0)
                return errno_from_gnutls(gr);
        return (status & GNUTLS_CERT_SIGNATURE_FAILURE) ? -EKEYREJECTED : 0;
}

int x509_make_self_signed_with_pubkey(gnutls_privkey_t key, gnutls_pubkey_t given_pub, const char *cn,
                                      char *const *eku, char *const *dns_names, uint64_t lifetime_usec,
                                      gnutls_x509_crt_t *ret) {
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL, imported = NULL;
        _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t der = {};
        gnutls_digest_algorithm_t digest;
        unsigned char serial[SERIAL_SIZE], key_id[64];
        size_t key_id_size = sizeof key_id;
        uint64_t lifetime_sec;
        time_t now;
        bool rsa;
        int gr, r;

        if (!key || !ret || lifetime_usec == 0)
                return -EINVAL;
        r = check_names(cn, eku, dns_names);
        if (r < 0)
                return r;
        r = pick_digest(key, &digest, &rsa);
        if (r < 0)
                return r;
        r = pubkey_of(key, given_pub, &pub);
        if (r < 0)
                return r;

        now = time(NULL);
        /* Keep NotAfter representable; GeneralizedTime goes to 9999 anyway. */
        lifetime_sec = MIN(lifetime_usec / USEC_PER_SEC, (uint64_t) 300 * 365 * 24 * 3600);

        gr = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial);
        if (gr < 0)
                return errno_from_gnutls(gr);
        /* Positive, and 16 bytes long once DER-encoded. */
        serial[0] &= 0x7f;
        if (serial[0] == 0)
                serial[0] = 0x01;

        gr = gnutls_x509_crt_init(&crt);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_set_version(crt, 3);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_set_serial(crt, serial, sizeof serial);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_set_activation_time(crt, now - 60);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_set_expiration_time(crt, now + (time_t) lifetime_sec);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_set_pubkey(crt, pub);
        if (gr < 0)
                return errno_from_gnutls(gr);

        gr = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                (rsa ? GNUTLS_KEY_KEY_ENCIPHERMENT : 0));
        if (gr < 0)
                return errno_from_gnutls(gr);
        for (char *const *e = eku; e && *e; e++) {
                gr = gnutls_x509_crt_set_key_purpose_oid(crt, x509_eku_oid(*e), 0);
                if (gr < 0)
                        return errno_from_gnutls(gr);
        }
        for (char *const *d = dns_names; d && *d; d++) {
                gr = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, *d, strlen(*d),
                                                          GNUTLS_FSAN_APPEND);
                if (gr < 0)
                        return errno_from_gnutls(gr);
        }

        gr = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_size);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_set_subject_key_id(crt, key_id, key_id_size);
        if (gr < 0)
                return errno_from_gnutls(gr);

        gr = gnutls_x509_crt_privkey_sign(crt, crt, key, digest, 0);
        if (gr < 0)
                return errno_from_gnutls(gr);

        /* gnutls fills some of its caches (the raw issuer and subject DNs that
         * gnutls_x509_crt_check_issuer() and get_raw_issuer_dn() use) only on import, so hand out
         * the certificate as if it had been read from its encoding. */
        gr = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_init(&imported);
        if (gr < 0)
                return errno_from_gnutls(gr);
        gr = gnutls_x509_crt_import(imported, &der, GNUTLS_X509_FMT_DER);
        if (gr < 0)
                return errno_from_gnutls(gr);
        if (given_pub) {
                r = self_signature_ok(imported);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(imported);
        return 0;
}
