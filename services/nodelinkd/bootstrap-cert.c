/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "bootstrap-cert.h"
#include "fs.h"
#include "macro.h"
#include "x509.h"

#define BOOTSTRAP_LIFETIME_USEC (20ULL * 365 * 24 * 3600 * 1000000ULL)

static int bootstrap_cert_make(const char *key_path, const char *cert_path, const char *node_id) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t key = NULL;
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        gnutls_x509_privkey_t xkey = NULL;
        gnutls_datum_t key_pem = {}, crt_pem = {};
        char *eku[] = { (char *) "clientAuth", NULL };
        int r;

        if (gnutls_privkey_init(&key) < 0)
                return -ENOMEM;
        if (gnutls_privkey_generate2(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0, NULL, 0) < 0)
                return -EIO;
        r = x509_make_self_signed(key, node_id, eku, NULL, BOOTSTRAP_LIFETIME_USEC, &crt);
        if (r < 0)
                return r;
        if (gnutls_privkey_export_x509(key, &xkey) < 0)
                return -EIO;
        r = gnutls_x509_privkey_export2_pkcs8(xkey, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &key_pem);
        gnutls_x509_privkey_deinit(xkey);
        if (r < 0)
                return -EIO;
        if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem) < 0) {
                gnutls_memset(key_pem.data, 0, key_pem.size);
                gnutls_free(key_pem.data);
                return -EIO;
        }
        /* Key first: a crash in between leaves a key without certificate, which is made again. */
        r = write_file_atomic(key_path, key_pem.data, key_pem.size, 0600);
        if (r >= 0)
                r = write_file_atomic(cert_path, crt_pem.data, crt_pem.size, 0600);
        gnutls_memset(key_pem.data, 0, key_pem.size);
        gnutls_free(key_pem.data);
        gnutls_free(crt_pem.data);
        return r;
}

int bootstrap_cert_load(const char *dir, const char *node_id, Credentials **ret) {
        _cleanup_free_ char *key_path = NULL, *cert_path = NULL, *key_url = NULL, *cert_url = NULL;
        struct stat st;
        int r;

        if (asprintf(&key_path, "%s/bootstrap.key", dir) < 0 || asprintf(&cert_path, "%s/bootstrap.pem", dir) < 0 ||
            asprintf(&key_url, "file:%s", key_path) < 0 || asprintf(&cert_url, "file:%s", cert_path) < 0)
                return -ENOMEM;

        if (stat(key_path, &st) < 0 || stat(cert_path, &st) < 0) {
                r = mkdir_p(dir, 0700);
                if (r < 0)
                        return r;
                r = bootstrap_cert_make(key_path, cert_path, node_id);
                if (r < 0)
                        return r;
        }
        return credentials_new_from_urls(cert_url, key_url, ret);
}

int bootstrap_cert_remove(const char *dir) {
        _cleanup_free_ char *key_path = NULL, *cert_path = NULL;
        int r;

        if (asprintf(&key_path, "%s/bootstrap.key", dir) < 0 || asprintf(&cert_path, "%s/bootstrap.pem", dir) < 0)
                return -ENOMEM;
        r = unlink_durable(cert_path);
        if (r < 0)
                return r;
        return unlink_durable(key_path);
}
