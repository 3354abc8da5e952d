/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"
#include "keyurl.h"
#include "macro.h"
#include "test-util.h"
#include "x509.h"

static char *dir;

static void setup(void) {
        dir = test_tmpdir();
}

static void teardown(void) {
        test_rm_rf(dir);
        free(dir);
        dir = NULL;
}

static char *path_in_dir(const char *name) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

static void write_text(const char *path, const char *text) {
        ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0600), 0);
}

static int run(const char *cmd) {
        int r = system(cmd);
        return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* ---- certificates made in the test -------------------------------------------------------- */

static gnutls_privkey_t make_soft_key(gnutls_pk_algorithm_t pk, unsigned bits) {
        gnutls_privkey_t k;
        ck_assert_int_ge(gnutls_privkey_init(&k), 0);
        ck_assert_int_ge(gnutls_privkey_generate(k, pk, bits, 0), 0);
        return k;
}

static gnutls_pubkey_t pubkey_of(gnutls_privkey_t k) {
        gnutls_pubkey_t p;
        ck_assert_int_ge(gnutls_pubkey_init(&p), 0);
        ck_assert_int_ge(gnutls_pubkey_import_privkey(p, k, 0, 0), 0);
        return p;
}

/* A certificate for pub named cn, signed by issuer/issuer_key (self-signed when issuer is
 * NULL: then issuer_key must be pub's key). */
static gnutls_x509_crt_t make_cert(gnutls_pubkey_t pub, const char *cn, gnutls_x509_crt_t issuer,
                                   gnutls_privkey_t issuer_key, bool ca) {
        gnutls_x509_crt_t c;
        uint8_t serial[16];
        time_t now = time(NULL);

        ck_assert_int_ge(gnutls_x509_crt_init(&c), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_version(c, 3), 0);
        ck_assert_int_ge(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial), 0);
        serial[0] = (serial[0] & 0x7f) | 0x10;
        ck_assert_int_ge(gnutls_x509_crt_set_serial(c, serial, sizeof serial), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_activation_time(c, now - 60), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(c, now + 3600), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_pubkey(c, pub), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_basic_constraints(c, ca, -1), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_key_usage(c, ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
                                                          : GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
        uint8_t kid[64];
        size_t kid_size = sizeof kid;
        ck_assert_int_ge(gnutls_pubkey_get_key_id(pub, 0, kid, &kid_size), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_subject_key_id(c, kid, kid_size), 0);
        ck_assert_int_ge(gnutls_x509_crt_privkey_sign(c, issuer ?: c, issuer_key, GNUTLS_DIG_SHA384, 0), 0);
        return c;
}

static void write_crt_pem(const char *path, gnutls_x509_crt_t *crts, size_t n) {
        X509Chain c = { .certs = crts, .n = n };
        _cleanup_free_ char *pem = NULL;
        ck_assert_int_eq(x509_chain_to_pem(&c, &pem), 0);
        ck_assert_int_eq(write_file_atomic(path, pem, strlen(pem), 0644), 0);
}

static void sign_and_verify(gnutls_privkey_t key) {
        static const char msg[] = "aos-iam keyurl test";
        gnutls_datum_t data = { (unsigned char *) msg, sizeof msg - 1 }, sig = {};
        gnutls_pubkey_t pub = pubkey_of(key);
        int pk = gnutls_pubkey_get_pk_algorithm(pub, NULL);
        gnutls_sign_algorithm_t algo = gnutls_pk_to_sign(pk, pk == GNUTLS_PK_RSA ? GNUTLS_DIG_SHA256 : GNUTLS_DIG_SHA384);

        ck_assert_int_ge(gnutls_privkey_sign_data2(key, algo, 0, &data, &sig), 0);
        ck_assert_int_ge(gnutls_pubkey_verify_data2(pub, algo, 0, &data, &sig), 0);
        /* And a flipped bit fails. */
        sig.data[sig.size / 2] ^= 1;
        ck_assert_int_lt(gnutls_pubkey_verify_data2(pub, algo, 0, &data, &sig), 0);
        gnutls_free(sig.data);
        gnutls_pubkey_deinit(pub);
}

/* ---- URL parsing -------------------------------------------------------------------------- */

START_TEST(test_scheme) {
        KeyUrlScheme s;

        ck_assert_int_eq(keyurl_scheme("file:/a/b.key", &s), 0);
        ck_assert_int_eq(s, KEY_URL_FILE);
        ck_assert_int_eq(keyurl_scheme("pkcs11:token=a", &s), 0);
        ck_assert_int_eq(s, KEY_URL_PKCS11);
        ck_assert_int_eq(keyurl_scheme("PKCS11:token=a", &s), 0);
        ck_assert_int_eq(s, KEY_URL_PKCS11);
        ck_assert_int_eq(keyurl_scheme("tpm2:handle=0x81000100", &s), 0);
        ck_assert_int_eq(s, KEY_URL_TPM2);
        ck_assert_int_eq(keyurl_scheme("https://example.com/", &s), -EPROTONOSUPPORT);
        ck_assert_int_eq(keyurl_scheme("foo:bar", &s), -EPROTONOSUPPORT);
        ck_assert_int_eq(keyurl_scheme("no-colon", &s), -EINVAL);
        ck_assert_int_eq(keyurl_scheme(":empty", &s), -EINVAL);
        ck_assert_int_eq(keyurl_scheme("1abc:x", &s), -EINVAL);
        ck_assert_int_eq(keyurl_scheme("a b:x", &s), -EINVAL);
        ck_assert_int_eq(keyurl_scheme("", &s), -EINVAL);
}
END_TEST

START_TEST(test_file_url_path) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        ck_assert_int_eq(file_url_path("file:/var/lib/aos/certs/iam/x.key", &a), 0);
        ck_assert_str_eq(a, "/var/lib/aos/certs/iam/x.key");
        ck_assert_int_eq(file_url_path("file:///var/x.pem", &b), 0);
        ck_assert_str_eq(b, "/var/x.pem");
        ck_assert_int_eq(file_url_path("file://localhost/var/y.pem", &c), 0);
        ck_assert_str_eq(c, "/var/y.pem");

        char *x = NULL;
        ck_assert_int_eq(file_url_path("file:relative/path", &x), -EINVAL);
        ck_assert_int_eq(file_url_path("file://otherhost/var/y.pem", &x), -EINVAL);
        ck_assert_int_eq(file_url_path("file:", &x), -EINVAL);
        ck_assert_int_eq(file_url_path("file:/", &x), -EINVAL);
        ck_assert_int_eq(file_url_path("pkcs11:token=a", &x), -EINVAL);
        ck_assert_int_eq(file_url_path("foo:/x", &x), -EINVAL);
        ck_assert_ptr_null(x);
}
END_TEST

START_TEST(test_pkcs11_parse_all) {
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {};
        static const uint8_t id[] = { 0x00, 0x01, 0xab, 0xff, 0x25, 0x3b };

        ck_assert_int_eq(pkcs11_url_parse("pkcs11:token=aos%20core;object=iam;id=%00%01%AB%ff%25%3B;type=private"
                                          "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/var/lib/aos/a.pin",
                                          &u), 0);
        ck_assert_str_eq(u.token, "aos core");
        ck_assert_str_eq(u.object, "iam");
        ck_assert_uint_eq(u.id_size, sizeof id);
        ck_assert_mem_eq(u.id, id, sizeof id);
        ck_assert_str_eq(u.type, "private");
        ck_assert_str_eq(u.module_path, "/usr/lib/softhsm/libsofthsm2.so");
        ck_assert_str_eq(u.pin_source, "/var/lib/aos/a.pin");
}
END_TEST

START_TEST(test_pkcs11_parse_minimal) {
        _cleanup_(pkcs11_url_done) Pkcs11Url u = {}, v = {}, w = {};

        ck_assert_int_eq(pkcs11_url_parse("pkcs11:object=iam;id=%01", &u), 0);
        ck_assert_ptr_null(u.token);
        ck_assert_ptr_null(u.type);
        ck_assert_ptr_null(u.module_path);
        ck_assert_ptr_null(u.pin_source);
        ck_assert_uint_eq(u.id_size, 1);

        /* The empty URL matches everything; older aos URLs end with an empty query. */
        ck_assert_int_eq(pkcs11_url_parse("pkcs11:", &v), 0);
        ck_assert_ptr_null(v.object);
        ck_assert_int_eq(pkcs11_url_parse("pkcs11:object=iam;id=%01?", &w), 0);
        ck_assert_str_eq(w.object, "iam");
}
END_TEST

START_TEST(test_pkcs11_parse_refused) {
        static const char *const bad[] = {
                "pkcs11:object=iam;id=%01?pin-value=1234",
                "pkcs11:object=iam;id=%01?pin-source=/a&pin-value=1234",
                "pkcs11:object=iam;pin-value=1234",
                "file:/x",
                "pkcs11object=iam",
                "pkcs11:object",                     /* no '=' */
                "pkcs11:object=",                    /* empty value */
                "pkcs11:id=%0",                      /* short escape */
                "pkcs11:id=%zz",                     /* bad escape */
                "pkcs11:object=i am",                /* raw space */
                "pkcs11:object=\x01x",               /* control character */
                "pkcs11:object=\xc3\xa9",            /* raw non-ASCII */
                "pkcs11:object=a%00b",               /* NUL in a text value */
                "pkcs11:object=a;object=b",          /* twice */
                "pkcs11:object=a;",                  /* trailing ';' */
                "pkcs11:object=a;;id=%01",           /* empty attribute */
                "pkcs11:object=a?pin-source=/x&",    /* trailing '&' */
                "pkcs11:type=banana",
                "pkcs11:serial=1234",                /* not represented: refused, not dropped */
                "pkcs11:x-vendor=1",
                "pkcs11:object=a?module-name=softhsm2",
                "pkcs11:module-path=/x",             /* a query attribute in the path */
                "pkcs11:object=a?token=b",           /* a path attribute in the query */
                "pkcs11:object=a?pin-source=/x&pin-source=/y",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Pkcs11Url u = {};
                ck_assert_msg(pkcs11_url_parse(bad[i], &u) == -EINVAL, "accepted: %s", bad[i]);
                ck_assert_ptr_null(u.object);
                ck_assert_ptr_null(u.id);
        }
}
END_TEST

START_TEST(test_pkcs11_format_roundtrip) {
        uint8_t id[16];
        for (size_t i = 0; i < sizeof id; i++)
                id[i] = (uint8_t) (i * 17 + 3);
        id[3] = 0;
        id[4] = '%';
        id[5] = ';';
        Pkcs11Url u = {
                .token = (char *) "aoscore",
                .object = (char *) "iam;x y/z",
                .id = id,
                .id_size = sizeof id,
                .type = (char *) "private",
                .module_path = (char *) "/usr/lib/softhsm/libsofthsm2.so",
                .pin_source = (char *) "/var/lib/aos/a&b=c.pin",
        };
        _cleanup_free_ char *s = NULL, *s2 = NULL;
        _cleanup_(pkcs11_url_done) Pkcs11Url v = {};

        ck_assert_int_eq(pkcs11_url_format(&u, &s), 0);
        /* id: every byte %XX, uppercase. Text: unreserved stays; '/' stays in the query. */
        ck_assert_ptr_nonnull(strstr(s, ";id=%03%14%25%00%25%3B%69"));
        ck_assert_ptr_nonnull(strstr(s, "object=iam%3Bx%20y%2Fz;"));
        ck_assert_ptr_nonnull(startswith(s, "pkcs11:token=aoscore;object="));
        ck_assert_ptr_nonnull(strstr(s, ";type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source="
                                        "/var/lib/aos/a%26b%3Dc.pin"));

        ck_assert_int_eq(pkcs11_url_parse(s, &v), 0);
        ck_assert_str_eq(v.token, u.token);
        ck_assert_str_eq(v.object, u.object);
        ck_assert_uint_eq(v.id_size, sizeof id);
        ck_assert_mem_eq(v.id, id, sizeof id);
        ck_assert_str_eq(v.type, u.type);
        ck_assert_str_eq(v.module_path, u.module_path);
        ck_assert_str_eq(v.pin_source, u.pin_source);

        ck_assert_int_eq(pkcs11_url_format(&v, &s2), 0);
        ck_assert_str_eq(s, s2);
}
END_TEST

START_TEST(test_pkcs11_format_partial) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        uint8_t id[] = { 0xde, 0xad };

        Pkcs11Url u = { .token = (char *) "t" };
        ck_assert_int_eq(pkcs11_url_format(&u, &a), 0);
        ck_assert_str_eq(a, "pkcs11:token=t");

        Pkcs11Url v = { .id = id, .id_size = sizeof id, .pin_source = (char *) "/p" };
        ck_assert_int_eq(pkcs11_url_format(&v, &b), 0);
        ck_assert_str_eq(b, "pkcs11:id=%DE%AD?pin-source=/p");

        Pkcs11Url w = {};
        ck_assert_int_eq(pkcs11_url_format(&w, &c), 0);
        ck_assert_str_eq(c, "pkcs11:");

        char *x = NULL;
        Pkcs11Url bad = { .type = (char *) "banana" };
        ck_assert_int_eq(pkcs11_url_format(&bad, &x), -EINVAL);
        ck_assert_ptr_null(x);
}
END_TEST

/* ---- file: keys and chains ---------------------------------------------------------------- */

static char *write_soft_key(gnutls_privkey_t key, const char *name, bool pkcs8) {
        gnutls_x509_privkey_t x;
        gnutls_datum_t pem = {};
        char *path = path_in_dir(name);

        ck_assert_int_ge(gnutls_privkey_export_x509(key, &x), 0);
        if (pkcs8)
                ck_assert_int_ge(gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem), 0);
        else
                ck_assert_int_ge(gnutls_x509_privkey_export2(x, GNUTLS_X509_FMT_PEM, &pem), 0);
        ck_assert_int_eq(write_file_atomic(path, pem.data, pem.size, 0600), 0);
        gnutls_free(pem.data);
        gnutls_x509_privkey_deinit(x);
        return path;
}

static void check_file_key(gnutls_pk_algorithm_t pk, unsigned bits, bool pkcs8) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t orig = make_soft_key(pk, bits), opened = NULL;
        _cleanup_free_ char *path = write_soft_key(orig, "k.key", pkcs8), *url = NULL, *id1 = NULL, *id2 = NULL;

        ck_assert_int_ge(asprintf(&url, "file:%s", path), 0);
        ck_assert_int_eq(keyurl_open_privkey(url, &opened), 0);
        ck_assert_int_eq(gnutls_privkey_get_pk_algorithm(opened, NULL), (int) pk);
        sign_and_verify(opened);
        ck_assert_int_eq(x509_privkey_key_id(orig, &id1), 0);
        ck_assert_int_eq(x509_privkey_key_id(opened, &id2), 0);
        ck_assert_str_eq(id1, id2);
}

START_TEST(test_file_ecdsa) {
        check_file_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), true);
        check_file_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), false);
}
END_TEST

START_TEST(test_file_rsa) {
        check_file_key(GNUTLS_PK_RSA, 2048, true);
        check_file_key(GNUTLS_PK_RSA, 2048, false);
}
END_TEST

START_TEST(test_file_errors) {
        _cleanup_free_ char *missing = NULL, *garbage = path_in_dir("garbage.key"), *garbage_url = NULL;
        gnutls_privkey_t k = NULL;

        ck_assert_int_ge(asprintf(&missing, "file:%s/missing.key", dir), 0);
        ck_assert_int_eq(keyurl_open_privkey(missing, &k), -ENOKEY);
        write_text(garbage, "-----BEGIN PRIVATE KEY-----\nnot base64 !!\n-----END PRIVATE KEY-----\n");
        ck_assert_int_ge(asprintf(&garbage_url, "file:%s", garbage), 0);
        ck_assert_int_eq(keyurl_open_privkey(garbage_url, &k), -EBADMSG);
        ck_assert_int_eq(keyurl_open_privkey("file:relative", &k), -EINVAL);
        ck_assert_int_eq(keyurl_open_privkey("foo:bar", &k), -EPROTONOSUPPORT);
        ck_assert_int_eq(keyurl_open_privkey("tpm2:handle=0x81000100", &k), -EPROTONOSUPPORT);
        ck_assert_int_eq(keyurl_open_privkey("nonsense", &k), -EINVAL);
        ck_assert_int_eq(keyurl_open_privkey("pkcs11:object=a?pin-value=1234", &k), -EINVAL);
        ck_assert_ptr_null(k);

        X509Chain c = {};
        ck_assert_int_eq(certurl_load_chain("foo:bar", &c), -EPROTONOSUPPORT);
        ck_assert_int_eq(certurl_load_chain("tpm2:handle=0x81000100", &c), -EPROTONOSUPPORT);
        ck_assert_int_eq(certurl_load_chain(missing, &c), -ENOENT);
        ck_assert_uint_eq(c.n, 0);
}
END_TEST

START_TEST(test_file_chain) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t ca_key = make_soft_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1)),
                                                           leaf_key = make_soft_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1));
        gnutls_pubkey_t ca_pub = pubkey_of(ca_key), leaf_pub = pubkey_of(leaf_key);
        gnutls_x509_crt_t crts[2];
        _cleanup_free_ char *path = path_in_dir("chain.pem"), *url = NULL;
        _cleanup_(x509_chain_done) X509Chain c = {};

        crts[1] = make_cert(ca_pub, "Test CA", NULL, ca_key, true);
        crts[0] = make_cert(leaf_pub, "node-1", crts[1], ca_key, false);
        write_crt_pem(path, crts, 2);

        ck_assert_int_ge(asprintf(&url, "file://%s", path), 0);
        ck_assert_int_eq(certurl_load_chain(url, &c), 0);
        ck_assert_uint_eq(c.n, 2);
        ck_assert(gnutls_x509_crt_equals(c.certs[0], crts[0]));
        ck_assert(gnutls_x509_crt_equals(c.certs[1], crts[1]));

        gnutls_x509_crt_deinit(crts[0]);
        gnutls_x509_crt_deinit(crts[1]);
        gnutls_pubkey_deinit(ca_pub);
        gnutls_pubkey_deinit(leaf_pub);
}
END_TEST

/* ---- registration ------------------------------------------------------------------------- */

static int fake_calls;

static int fake_opener(const char *url, gnutls_privkey_t *ret) {
        fake_calls++;
        *ret = make_soft_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1));
        return 0;
}

static int fake_loader(const char *url, X509Chain *ret) {
        fake_calls++;
        return -ENOENT;
}

START_TEST(test_register) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;
        X509Chain c = {};

        keyurl_register(KEY_URL_TPM2, fake_opener, fake_loader);
        ck_assert_int_eq(keyurl_open_privkey("tpm2:handle=0x81000100", &k), 0);
        ck_assert_ptr_nonnull(k);
        ck_assert_int_eq(certurl_load_chain("tpm2:handle=0x81000100", &c), -ENOENT);
        ck_assert_int_eq(fake_calls, 2);
        /* Unknown schemes stay unknown. */
        ck_assert_int_eq(keyurl_open_privkey("foo:bar", &k), -EPROTONOSUPPORT);

        keyurl_register(KEY_URL_TPM2, NULL, NULL);
        gnutls_privkey_t k2 = NULL;
        ck_assert_int_eq(keyurl_open_privkey("tpm2:handle=0x81000100", &k2), -EPROTONOSUPPORT);
}
END_TEST

/* ---- pkcs11: with SoftHSM ----------------------------------------------------------------- */

static const char *softhsm_lib;
static char *pin_path;

#define TOKEN "keyurltest"
#define USER_PIN "4a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define KEY_ID "%01%02%A0%FF"            /* as an argument */
#define KEY_ID_F "%%01%%02%%A0%%FF"     /* inside a format string */
#define KEY_ID_HEX "0102a0ff"

static void pkcs11_setup(void) {
        setup();
        softhsm_lib = test_softhsm_setup(dir);
        pin_path = path_in_dir("user.pin");
        write_text(pin_path, USER_PIN "\n");

        _cleanup_free_ char *cmd = NULL;
        ck_assert_int_ge(asprintf(&cmd,
                                  "softhsm2-util --init-token --free --label " TOKEN " --so-pin 87654321 --pin " USER_PIN
                                  " >/dev/null && "
                                  "GNUTLS_PIN=" USER_PIN " p11tool --provider '%s' --login --generate-privkey=ecdsa "
                                  "--curve=secp384r1 --label k1 --id " KEY_ID_HEX " 'pkcs11:token=" TOKEN "' >/dev/null 2>&1",
                                  softhsm_lib), 0);
        ck_assert_int_eq(run(cmd), 0);
}

static void pkcs11_teardown(void) {
        free(pin_path);
        pin_path = NULL;
        teardown();
}

static char *key_url(const char *object, const char *id, const char *pin_source) {
        char *u;
        ck_assert_int_ge(asprintf(&u, "pkcs11:token=" TOKEN ";object=%s;id=%s;type=private?module-path=%s&pin-source=%s",
                                  object, id, softhsm_lib, pin_source), 0);
        return u;
}

START_TEST(test_pkcs11_open_and_sign_after_return) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;
        _cleanup_free_ char *url = key_url("k1", KEY_ID, pin_path), *kid = NULL;

        ck_assert_int_eq(keyurl_open_privkey(url, &k), 0);
        ck_assert_int_eq(gnutls_privkey_get_pk_algorithm(k, NULL), GNUTLS_PK_ECDSA);
        /* The PIN file may go: the key logged in already and stays usable. */
        ck_assert_int_eq(unlink(pin_path), 0);
        sign_and_verify(k);
        sign_and_verify(k);
        ck_assert_int_eq(x509_privkey_key_id(k, &kid), 0);
        ck_assert_uint_eq(strlen(kid), 64);
}
END_TEST

START_TEST(test_pkcs11_open_by_id_or_label_only) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t a = NULL, b = NULL;
        _cleanup_free_ char *by_id = NULL, *by_label = NULL;

        ck_assert_int_ge(asprintf(&by_id, "pkcs11:id=" KEY_ID_F "?module-path=%s&pin-source=%s", softhsm_lib, pin_path), 0);
        ck_assert_int_ge(asprintf(&by_label, "pkcs11:object=k1?module-path=%s&pin-source=%s", softhsm_lib, pin_path), 0);
        ck_assert_int_eq(keyurl_open_privkey(by_id, &a), 0);
        ck_assert_int_eq(keyurl_open_privkey(by_label, &b), 0);
        sign_and_verify(a);
        sign_and_verify(b);

        /* Neither id nor label: refused rather than taking the first key found. */
        _cleanup_free_ char *neither = NULL;
        gnutls_privkey_t c = NULL;
        ck_assert_int_ge(asprintf(&neither, "pkcs11:token=" TOKEN "?module-path=%s&pin-source=%s", softhsm_lib, pin_path), 0);
        ck_assert_int_eq(keyurl_open_privkey(neither, &c), -EINVAL);
        /* Not a private key URL. */
        _cleanup_free_ char *cert = NULL;
        ck_assert_int_ge(asprintf(&cert, "pkcs11:object=k1;type=cert?module-path=%s&pin-source=%s", softhsm_lib, pin_path), 0);
        ck_assert_int_eq(keyurl_open_privkey(cert, &c), -EINVAL);
}
END_TEST

START_TEST(test_pkcs11_wrong_pin) {
        _cleanup_free_ char *bad = path_in_dir("bad.pin"), *url = key_url("k1", KEY_ID, bad);
        gnutls_privkey_t k = NULL;

        write_text(bad, "00000000000000000000000000000000");
        ck_assert_int_eq(keyurl_open_privkey(url, &k), -EACCES);
        ck_assert_ptr_null(k);

        /* A missing PIN file cannot log in either. */
        _cleanup_free_ char *none = path_in_dir("none.pin"), *url2 = key_url("k1", KEY_ID, none);
        ck_assert_int_eq(keyurl_open_privkey(url2, &k), -EACCES);

        /* And the right one still works afterwards (no lockout from our attempts). */
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t good = NULL;
        _cleanup_free_ char *url3 = key_url("k1", KEY_ID, pin_path);
        ck_assert_int_eq(keyurl_open_privkey(url3, &good), 0);
        sign_and_verify(good);
}
END_TEST

START_TEST(test_pkcs11_missing) {
        _cleanup_free_ char *wrong_id = key_url("k1", "%09%09", pin_path), *wrong_label = key_url("nope", KEY_ID, pin_path),
                            *wrong_token = NULL, *bad_module = NULL;
        gnutls_privkey_t k = NULL;

        ck_assert_int_eq(keyurl_open_privkey(wrong_id, &k), -ENOKEY);
        ck_assert_int_eq(keyurl_open_privkey(wrong_label, &k), -ENOKEY);
        ck_assert_int_ge(asprintf(&wrong_token, "pkcs11:token=other;object=k1;id=" KEY_ID_F "?module-path=%s&pin-source=%s",
                                  softhsm_lib, pin_path), 0);
        ck_assert_int_eq(keyurl_open_privkey(wrong_token, &k), -ENOKEY);
        ck_assert_int_ge(asprintf(&bad_module, "pkcs11:object=k1;id=" KEY_ID_F "?module-path=%s/nonexistent.so&pin-source=%s",
                                  dir, pin_path), 0);
        ck_assert_int_eq(keyurl_open_privkey(bad_module, &k), -ENODEV);
        ck_assert_ptr_null(k);
}
END_TEST

START_TEST(test_pkcs11_registered_modules) {
        /* Without module-path: the modules p11-kit is configured with (SoftHSM registers
         * itself and follows SOFTHSM2_CONF). */
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t k = NULL;
        _cleanup_free_ char *url = NULL;

        ck_assert_int_ge(asprintf(&url, "pkcs11:token=" TOKEN ";object=k1;id=" KEY_ID_F ";type=private?pin-source=%s", pin_path), 0);
        ck_assert_int_eq(keyurl_open_privkey(url, &k), 0);
        sign_and_verify(k);
}
END_TEST

START_TEST(test_pkcs11_chain) {
        _cleanup_(gnutls_privkey_deinitp) gnutls_privkey_t token_key = NULL,
                ca_key = make_soft_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1)),
                int_key = make_soft_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1)),
                other_key = make_soft_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1));
        _cleanup_free_ char *url = key_url("k1", KEY_ID, pin_path);
        gnutls_x509_crt_t ca, inter, leaf, other;

        ck_assert_int_eq(keyurl_open_privkey(url, &token_key), 0);
        gnutls_pubkey_t ca_pub = pubkey_of(ca_key), int_pub = pubkey_of(int_key), leaf_pub = pubkey_of(token_key),
                        other_pub = pubkey_of(other_key);
        ca = make_cert(ca_pub, "Test CA", NULL, ca_key, true);
        inter = make_cert(int_pub, "Test Intermediate", ca, ca_key, true);
        leaf = make_cert(leaf_pub, "node-1", inter, int_key, false);
        other = make_cert(other_pub, "Unrelated CA", NULL, other_key, true);

        static const struct {
                const char *file, *label, *id;
        } objs[] = {
                { "leaf.pem", "k1", KEY_ID_HEX },
                { "int.pem", "some-intermediate", "aa01" },
                { "ca.pem", "some-root", "aa02" },
                { "other.pem", "unrelated", "aa03" },
        };
        gnutls_x509_crt_t crts[] = { leaf, inter, ca, other };
        for (size_t i = 0; i < ELEMENTSOF(objs); i++) {
                _cleanup_free_ char *p = path_in_dir(objs[i].file), *cmd = NULL;
                write_crt_pem(p, &crts[i], 1);
                ck_assert_int_ge(asprintf(&cmd, "GNUTLS_PIN=" USER_PIN " p11tool --provider '%s' --login --write "
                                          "--no-mark-private --load-certificate '%s' --label %s --id %s "
                                          "'pkcs11:token=" TOKEN "' >/dev/null 2>&1",
                                          softhsm_lib, p, objs[i].label, objs[i].id), 0);
                ck_assert_int_eq(run(cmd), 0);
        }

        _cleanup_free_ char *cert_url = NULL;
        _cleanup_(x509_chain_done) X509Chain c = {};
        ck_assert_int_ge(asprintf(&cert_url, "pkcs11:token=" TOKEN ";object=k1;id=" KEY_ID_F ";type=cert?module-path=%s&pin-source=%s",
                                  softhsm_lib, pin_path), 0);
        ck_assert_int_eq(certurl_load_chain(cert_url, &c), 0);
        ck_assert_uint_eq(c.n, 3);
        ck_assert(gnutls_x509_crt_equals(c.certs[0], leaf));
        ck_assert(gnutls_x509_crt_equals(c.certs[1], inter));
        ck_assert(gnutls_x509_crt_equals(c.certs[2], ca));

        /* The chain loads without a PIN: certificates are public. */
        _cleanup_free_ char *no_pin = NULL;
        _cleanup_(x509_chain_done) X509Chain c2 = {};
        ck_assert_int_ge(asprintf(&no_pin, "pkcs11:token=" TOKEN ";object=k1;id=" KEY_ID_F ";type=cert?module-path=%s", softhsm_lib), 0);
        ck_assert_int_eq(certurl_load_chain(no_pin, &c2), 0);
        ck_assert_uint_eq(c2.n, 3);

        /* The key URL's key and the chain's leaf are one pair. */
        _cleanup_free_ char *kid = NULL;
        _cleanup_(x509_cert_info_done) X509CertInfo info = {};
        ck_assert_int_eq(x509_privkey_key_id(token_key, &kid), 0);
        ck_assert_int_eq(x509_cert_info(c.certs[0], &info), 0);
        ck_assert_str_eq(kid, info.key_id);

        /* A certificate that is not there. */
        _cleanup_free_ char *missing = NULL;
        X509Chain none = {};
        ck_assert_int_ge(asprintf(&missing, "pkcs11:token=" TOKEN ";object=k1;id=%%77;type=cert?module-path=%s", softhsm_lib), 0);
        ck_assert_int_eq(certurl_load_chain(missing, &none), -ENOENT);
        ck_assert_uint_eq(none.n, 0);

        gnutls_x509_crt_t all[] = { ca, inter, leaf, other };
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                gnutls_x509_crt_deinit(all[i]);
        gnutls_pubkey_t pubs[] = { ca_pub, int_pub, leaf_pub, other_pub };
        for (size_t i = 0; i < ELEMENTSOF(pubs); i++)
                gnutls_pubkey_deinit(pubs[i]);
}
END_TEST

static Suite *keyurl_suite(void) {
        Suite *s = suite_create("keyurl");

        TCase *tc = tcase_create("urls");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_scheme);
        tcase_add_test(tc, test_file_url_path);
        tcase_add_test(tc, test_pkcs11_parse_all);
        tcase_add_test(tc, test_pkcs11_parse_minimal);
        tcase_add_test(tc, test_pkcs11_parse_refused);
        tcase_add_test(tc, test_pkcs11_format_roundtrip);
        tcase_add_test(tc, test_pkcs11_format_partial);
        tcase_add_test(tc, test_file_ecdsa);
        tcase_add_test(tc, test_file_rsa);
        tcase_add_test(tc, test_file_errors);
        tcase_add_test(tc, test_file_chain);
        tcase_add_test(tc, test_register);
        suite_add_tcase(s, tc);

        TCase *p11 = tcase_create("pkcs11");
        tcase_add_checked_fixture(p11, pkcs11_setup, pkcs11_teardown);
        tcase_add_test(p11, test_pkcs11_open_and_sign_after_return);
        tcase_add_test(p11, test_pkcs11_open_by_id_or_label_only);
        tcase_add_test(p11, test_pkcs11_wrong_pin);
        tcase_add_test(p11, test_pkcs11_missing);
        tcase_add_test(p11, test_pkcs11_registered_modules);
        tcase_add_test(p11, test_pkcs11_chain);
        suite_add_tcase(s, p11);

        return s;
}

int main(void) {
        return test_run_suite(keyurl_suite());
}
