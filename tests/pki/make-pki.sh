#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make-pki.sh OUTDIR: the test PKI every unit and integration test uses. Run at build time by
# meson (tests/meson.build, custom_target 'test-pki'); OUTDIR is <build>/tests/pki. Writes
# nothing outside OUTDIR, regenerates everything on each run (idempotent, well under 3 s).
# Needs only certtool (gnutls-bin), base64, od and dd.
#
# Keys are ECDSA P-384 unless said otherwise, mode 0600, PEM. "<name>-chain.pem" is the leaf
# followed by its issuer. Validity is 10 years from the time of the run unless said otherwise.
#
#   ca.key, ca.pem                       root CA "CN=Aos Test Root"
#   intermediate.key, intermediate.pem   "CN=Aos Test Intermediate", CA, issued by the root
#   other-ca.key, other-ca.pem           an unrelated root "CN=Other Root"
#
#   Leaves, all with subject "CN=node1" (<name>.key, <name>.pem, <name>-chain.pem):
#   leaf-both      EKU serverAuth+clientAuth, DNS SANs node1.local and localhost, by intermediate
#   leaf-client    EKU clientAuth only, by intermediate
#   leaf-noeku     no EKU extension, by intermediate
#   leaf-rsa       RSA 2048, EKU serverAuth+clientAuth, by intermediate
#   leaf-expired   EKU serverAuth+clientAuth, valid 2020-01-01 .. 2021-01-01, by intermediate
#   leaf-future    EKU serverAuth+clientAuth, valid 2090-01-01 .. 2091-01-01, by intermediate
#   leaf-other     EKU serverAuth+clientAuth, by other-ca (chain = leaf + other-ca.pem)
#   leaf-direct    EKU serverAuth+clientAuth, directly by the root (chain = leaf + ca.pem)
#
#   broken-sig-chain.pem   leaf-both with the last byte of its signature flipped, + intermediate
#   cyclic-chain.pem       "CN=Cycle A" issued by "CN=Cycle B", "CN=Cycle B" issued by
#                          "CN=Cycle A" (both CAs), then the first one again: A', B', A'
#   garbage.pem            one BEGIN CERTIFICATE block whose base64 decodes to junk

set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
        echo "usage: $0 OUTDIR" >&2
        exit 2
fi

OUT=$1
umask 077
mkdir -p "$OUT"
W="$OUT/.work"
rm -rf "$W"
mkdir "$W"
trap 'rm -rf "$W"' EXIT

certtool_q() {
        certtool "$@" >/dev/null 2>"$W/certtool.err" || {
                cat "$W/certtool.err" >&2
                echo "make-pki.sh: certtool $* failed" >&2
                exit 1
        }
}

# genkey NAME [rsa]
genkey() {
        if [ "${2:-}" = rsa ]; then
                certtool_q --generate-privkey --key-type rsa --bits 2048 --no-text --outfile "$OUT/$1.key"
        else
                certtool_q --generate-privkey --key-type ecdsa --curve secp384r1 --no-text --outfile "$OUT/$1.key"
        fi
        chmod 0600 "$OUT/$1.key"
}

# template NAME: reads the template body from stdin
template() {
        cat >"$W/$1.tmpl"
}

# selfsign NAME TEMPLATE
selfsign() {
        certtool_q --generate-self-signed --load-privkey "$OUT/$1.key" \
                --template "$W/$2.tmpl" --no-text --outfile "$OUT/$1.pem"
}

# issue NAME TEMPLATE ISSUER_CERT ISSUER_KEY OUTFILE
issue() {
        certtool_q --generate-certificate --load-privkey "$OUT/$1.key" \
                --load-ca-certificate "$3" --load-ca-privkey "$4" \
                --template "$W/$2.tmpl" --no-text --outfile "$5"
}

template ca <<'EOF'
cn = "Aos Test Root"
ca
cert_signing_key
crl_signing_key
expiration_days = 3650
EOF

template intermediate <<'EOF'
cn = "Aos Test Intermediate"
ca
cert_signing_key
crl_signing_key
expiration_days = 3650
EOF

template other-ca <<'EOF'
cn = "Other Root"
ca
cert_signing_key
crl_signing_key
expiration_days = 3650
EOF

template leaf-both <<'EOF'
cn = "node1"
dns_name = "node1.local"
dns_name = "localhost"
tls_www_server
tls_www_client
signing_key
expiration_days = 3650
EOF

template leaf-client <<'EOF'
cn = "node1"
tls_www_client
signing_key
expiration_days = 3650
EOF

template leaf-noeku <<'EOF'
cn = "node1"
signing_key
expiration_days = 3650
EOF

template leaf-rsa <<'EOF'
cn = "node1"
tls_www_server
tls_www_client
signing_key
encryption_key
expiration_days = 3650
EOF

template leaf-expired <<'EOF'
cn = "node1"
tls_www_server
tls_www_client
signing_key
activation_date = "2020-01-01 00:00:00"
expiration_date = "2021-01-01 00:00:00"
EOF

template leaf-future <<'EOF'
cn = "node1"
tls_www_server
tls_www_client
signing_key
activation_date = "2090-01-01 00:00:00"
expiration_date = "2091-01-01 00:00:00"
EOF

template leaf-std <<'EOF'
cn = "node1"
tls_www_server
tls_www_client
signing_key
expiration_days = 3650
EOF

template cycle-a <<'EOF'
cn = "Cycle A"
ca
cert_signing_key
expiration_days = 3650
EOF

template cycle-b <<'EOF'
cn = "Cycle B"
ca
cert_signing_key
expiration_days = 3650
EOF

# The CAs.
genkey ca
selfsign ca ca
genkey intermediate
issue intermediate intermediate "$OUT/ca.pem" "$OUT/ca.key" "$OUT/intermediate.pem"
genkey other-ca
selfsign other-ca other-ca

# leaf NAME TEMPLATE ISSUER [rsa]: <name>.key, <name>.pem, <name>-chain.pem
leaf() {
        genkey "$1" "${4:-}"
        issue "$1" "$2" "$OUT/$3.pem" "$OUT/$3.key" "$OUT/$1.pem"
        cat "$OUT/$1.pem" "$OUT/$3.pem" >"$OUT/$1-chain.pem"
}

leaf leaf-both leaf-both intermediate
leaf leaf-client leaf-client intermediate
leaf leaf-noeku leaf-noeku intermediate
leaf leaf-rsa leaf-rsa intermediate rsa
leaf leaf-expired leaf-expired intermediate
leaf leaf-future leaf-future intermediate
leaf leaf-other leaf-std other-ca
leaf leaf-direct leaf-std ca

# broken-sig-chain.pem: the signature is the last field of the DER certificate, so flipping
# the lowest bit of the last byte keeps the encoding valid and breaks only the signature.
sed '/^-----/d' "$OUT/leaf-both.pem" | base64 -d >"$W/leaf.der"
size=$(wc -c <"$W/leaf.der")
size=$((size + 0))
last=$(od -An -tu1 -j $((size - 1)) -N 1 "$W/leaf.der" | tr -d ' \n')
dd if="$W/leaf.der" of="$W/broken.der" bs=1 count=$((size - 1)) 2>/dev/null
# shellcheck disable=SC2059 # the format is the escaped byte on purpose
printf "\\$(printf '%03o' $((last ^ 1)))" >>"$W/broken.der"
{
        echo "-----BEGIN CERTIFICATE-----"
        base64 <"$W/broken.der" | tr -d '\n' | fold -w 64
        echo
        echo "-----END CERTIFICATE-----"
        cat "$OUT/intermediate.pem"
} >"$W/broken-sig-chain.pem"

# cyclic-chain.pem: self-signed stand-ins give certtool an issuer with the right name and key.
genkey_work() {
        certtool_q --generate-privkey --key-type ecdsa --curve secp384r1 --no-text --outfile "$W/$1.key"
}
genkey_work cycle-a
genkey_work cycle-b
certtool_q --generate-self-signed --load-privkey "$W/cycle-a.key" --template "$W/cycle-a.tmpl" \
        --no-text --outfile "$W/cycle-a-self.pem"
certtool_q --generate-self-signed --load-privkey "$W/cycle-b.key" --template "$W/cycle-b.tmpl" \
        --no-text --outfile "$W/cycle-b-self.pem"
certtool_q --generate-certificate --load-privkey "$W/cycle-a.key" --template "$W/cycle-a.tmpl" \
        --load-ca-certificate "$W/cycle-b-self.pem" --load-ca-privkey "$W/cycle-b.key" \
        --no-text --outfile "$W/cycle-a-by-b.pem"
certtool_q --generate-certificate --load-privkey "$W/cycle-b.key" --template "$W/cycle-b.tmpl" \
        --load-ca-certificate "$W/cycle-a-self.pem" --load-ca-privkey "$W/cycle-a.key" \
        --no-text --outfile "$W/cycle-b-by-a.pem"
cat "$W/cycle-a-by-b.pem" "$W/cycle-b-by-a.pem" "$W/cycle-a-by-b.pem" >"$W/cyclic-chain.pem"

# garbage.pem: valid base64, but not DER.
cat >"$W/garbage.pem" <<'EOF'
-----BEGIN CERTIFICATE-----
VGhpcyBpcyBub3QgYSBjZXJ0aWZpY2F0ZSwganVzdCBzb21lIGp1bmsgYnl0ZXMg
dGhhdCBsb29rIGxpa2UgYmFzZTY0LiBkZWFkYmVlZiBjYWZlYmFiZSAwMTIzNDU2
-----END CERTIFICATE-----
EOF

for f in broken-sig-chain.pem cyclic-chain.pem garbage.pem; do
        mv -f "$W/$f" "$OUT/$f"
done
chmod 0644 "$OUT"/*.pem
chmod 0755 "$OUT"
# The directory is the build target: make ninja see it as fresh even when only contents changed.
touch "$OUT"
