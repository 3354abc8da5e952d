#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A node whose modules are all in a TPM (swtpm), provisioned end to end by `aosctl provision`
# against a local CA and renewed with `aosctl renew`: the certificates verify against the CA,
# and every current key is a persistent TPM object whose public key is the certificate's
# (tpm2_readpublic). Then aos-certd and swtpm are restarted (TPM state kept) and the keys are
# still there and still the certificates'.
AOS_IT_PLUGIN=tpm
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tools/aosctl-it.sh
. "$AOS_TEST_SRCDIR/tests/tools/aosctl-it.sh"

prov_harness_init
require_aosctl
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish

PW='tpm-Owner-Pw-3c90e2'
TPM_OWNER_PW=$PW
NODE=node-t

write_config
module iam tpm ecdsa "serverAuth clientAuth" "iam.local localhost" 2
module sm tpm rsa "clientAuth" "" 2
module offline tpm ecdsa "clientAuth" "" 1 SelfSigned=yes
PROV_NODE_ID=$NODE
node_section MainNode=yes
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish
write_password_file "$D/pw" "$PW"
ca_files "$D/ca"

# key_matches_cert TYPE: the current certificate's public key is the TPM object's at its key URL.
key_matches_cert() {
        local type=$1 url handle cert_pub tpm_pub
        url=$(latest_field "$type" KeyURL) || return 1
        handle=$(sed -n 's/^tpm2:handle=\(0x[0-9a-fA-F]*\).*/\1/p' <<<"$url")
        [[ -n $handle ]] || { echo "key URL of $type is not tpm2: $url"; return 1; }
        tpm_has_handle "$handle" || { echo "handle $handle of $type is not persistent"; return 1; }
        tpm2t readpublic -c "$handle" -f pem -o "$D/$type.tpm.pub" >/dev/null 2>&1 || return 1
        certs_call GetCert says "$type" 0 "" >/dev/null || return 1
        # The certificate file is the CertURL (file:) of the tpm backend.
        local cert_file
        cert_file=$(latest_field "$type" CertURL | sed 's/^file://')
        cert_pub=$(certtool --pubkey-info --infile "$cert_file" 2>/dev/null | sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p')
        tpm_pub=$(certtool --pubkey-info --load-pubkey "$D/$type.tpm.pub" 2>/dev/null | sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p')
        [[ -n $cert_pub ]] || { echo "$type: no public key in the certificate $cert_file"; return 1; }
        [[ -n $tpm_pub ]] || { echo "$type: no public key read from the TPM"; return 1; }
        [[ $cert_pub == "$tpm_pub" ]] || { echo "$type: certificate and TPM key differ"; return 1; }
}

section "provision a TPM-only node with aosctl"
assert_ok aosctl provision --ca-cert "$D/ca/chain.pem" --ca-key "$D/ca/key.pem" --password-file "$D/pw"
log "$OUT" | sed 's/^/    /'
assert_eq provisioned "$(prov_state)" "State after aosctl provision"
for type in iam sm offline; do
        assert_true "$type: the TPM holds the key of the current certificate" key_matches_cert "$type"
done
for type in iam sm; do
        latest_field "$type" CertURL | sed 's/^file://' | xargs cat >"$D/$type.chain.pem"
        cat "$D/ca/chain.pem" >>"$D/$type.chain.pem"
        assert_ok certtool --verify-chain --infile "$D/$type.chain.pem"
done
assert_eq 1 "$(ks_key_count offline)" "offline: one self-signed key in the TPM"

section "renew iam: a new TPM key, the old one kept (MaxItems=2)"
old=$(latest_field iam Serial)
assert_ok aosctl renew iam --ca-cert "$D/ca/chain.pem" --ca-key "$D/ca/key.pem" --password-file "$D/pw"
assert_ne "$old" "$(latest_field iam Serial)" "iam has a new current certificate"
assert_eq 2 "$(ks_key_count iam)" "iam: two keys in the TPM"
assert_true "iam: the renewed certificate's key is in the TPM" key_matches_cert iam

section "restart aos-certd and swtpm (TPM state kept)"
stop_provisiond
stop_certd
restart_swtpm || harness_finish
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish
for type in iam sm offline; do
        assert_true "$type: key and certificate still agree after the restart" key_matches_cert "$type"
done
assert_eq 2 "$(list_field iam Serial | grep -c .)" "iam: both certificates still stored"
# The keys still sign: one more renewal makes a CSR signed by a new TPM key and drops the oldest.
assert_ok aosctl renew sm --ca-cert "$D/ca/chain.pem" --ca-key "$D/ca/key.pem" --password-file "$D/pw"
assert_true "sm: renewed after the restart" key_matches_cert sm

assert_no_secret_in_provisiond_log "$PW"
harness_finish
