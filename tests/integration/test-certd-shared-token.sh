#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-certd, two modules on one token (TokenLabel) or, with AOS_IT_PLUGIN=tpm, on one TPM:
# SetOwner, Clear, CreateKey and ApplyCert of one module, interleaved with the other's, never
# destroy the other module's objects; a restart (reconciliation) keeps both.
. "$(dirname "$0")/lib.sh"

harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish

PW='shared-Owner-Pw-9d20aa'
WRONG='shared-Wrong-Pw-17b3c4'
TOKEN=shared
TPM_OWNER_PW=$PW

write_config
module alpha "$KS" ecdsa "clientAuth" "" 3 TokenLabel=$TOKEN
module beta "$KS" rsa "serverAuth" "beta.local" 3 TokenLabel=$TOKEN
assert_ok start_certd || harness_finish

# state TYPE CERTS KEYS WHAT: ListCerts count and the type's objects in the shared storage.
state() {
        assert_eq "$2" "$(list_count "$1")" "$4: $1 ListCerts"
        assert_eq "$2" "$(ks_cert_count "$1")" "$4: $1 certificates in the $KS storage"
        assert_eq "$3" "$(ks_key_count "$1")" "$4: $1 keys in the $KS storage"
}
# secret_file: the token's PIN file, or the TPM's secret file.
secret_file() {
        if [[ $KS == pkcs11 ]]; then pin_file $TOKEN; else tpm_auth_file || printf '%s/certs/tpm-none.auth' "$D"; fi
}

section "both modules take the same storage"
assert_ok certs_call SetOwner ss alpha "$PW"
secret_before=$(cat "$(secret_file)")
assert_ok certs_call SetOwner ss beta "$PW"
if [[ $KS == pkcs11 ]]; then
        run softhsm2-util --show-slots
        assert_eq 1 "$(printf '%s\n' "$OUT" | grep -cE "Label:[[:space:]]+${TOKEN}[[:space:]]*\$")" "one token labelled $TOKEN"
        assert_true "one PIN file for the token" test -s "$(pin_file $TOKEN)"
else
        assert_eq 1 "$(find "$D/certs" -maxdepth 1 -name 'tpm-*.auth' | grep -c .)" "one secret file for the TPM"
        assert_eq "$secret_before" "$(cat "$(secret_file)")" "the second module's SetOwner keeps the TPM's secret"
        assert_true "one storage key" tpm_has_handle "$TPM_SRK"
fi

section "keys and certificates of both"
assert_ok issue alpha node-a "$PW" "$D/a1.pem" ca
assert_ok issue beta node-b "$PW" "$D/b1.pem" ca
assert_ok apply alpha "$D/a1.pem"
assert_ok apply beta "$D/b1.pem"
b1=$(cert_serial "$D/b1.pem")
state alpha 1 1 "after both applied"
state beta 1 1 "after both applied"
if [[ $KS == pkcs11 ]]; then
        run p11 $TOKEN --list-all-privkeys "pkcs11:token=$TOKEN;object=beta"
        assert_match 'RSA' "$OUT" "beta's key is RSA"
else
        run tpm2t readpublic -c "$(tpm_type_handles beta)"
        assert_match 'type: +value: rsa ' "$(printf '%s' "$OUT" | tr '\n' ' ')" "beta's key is RSA"
        assert_ne "$(tpm_block alpha)" "$(tpm_block beta)" "alpha and beta have their own handle blocks"
fi

section "SetOwner of one module again, with objects of the other on the token"
assert_ok certs_call SetOwner ss alpha "$PW"
state alpha 1 1 "after alpha re-owned"
state beta 1 1 "after alpha re-owned"
assert_error "$E_WRONG_PASSWORD" certs_try SetOwner ss beta "$WRONG"
state alpha 1 1 "after beta's wrong password"
state beta 1 1 "after beta's wrong password"
assert_ok create_key beta node-b "$PW" "$D/b-after-wrong.csr"
state beta 1 2 "CreateKey still works after a wrong SetOwner"

section "Clear of one module"
assert_ok issue alpha node-a "$PW" "$D/a2.pem" ca days=100
# beta has a pending key (b-after-wrong) and one certificate; alpha one certificate, one pending key.
assert_ok certs_call Clear s alpha
state alpha 0 0 "after Clear alpha"
state beta 1 2 "after Clear alpha (beta's pending key kept)"
assert_eq "$b1" "$(latest_field beta Serial)" "beta's certificate still served"
assert_ok sign_csr "$D/b-after-wrong.csr" "$D/b2.pem" ca days=500
assert_ok apply beta "$D/b2.pem"
state beta 2 2 "beta's pending key survived alpha's Clear"

section "interleaved CreateKey / ApplyCert"
assert_ok create_key alpha node-a "$PW" "$D/a3.csr"
assert_ok create_key beta node-b "$PW" "$D/b3.csr"
assert_ok create_key alpha node-a "$PW" "$D/a4.csr"
# Both EKUs, so that either module's EKU check passes and only the key can tell them apart.
assert_ok sign_csr "$D/a3.csr" "$D/a3.pem" ca days=30 serverAuth clientAuth
assert_ok sign_csr "$D/b3.csr" "$D/b3.pem" ca days=30 serverAuth clientAuth
assert_ok sign_csr "$D/a4.csr" "$D/a4.pem" ca days=40
# A certificate of one module's key is not the other module's.
assert_error "$E_KEY_MISMATCH" apply_try beta "$D/a3.pem"
assert_error "$E_KEY_MISMATCH" apply_try alpha "$D/b3.pem"
assert_ok apply alpha "$D/a4.pem"
assert_ok apply beta "$D/b3.pem"
assert_ok apply alpha "$D/a3.pem"
state alpha 2 2 "after interleaved applies"
state beta 3 3 "after interleaved applies"

section "restart keeps both"
before_a=$(list_serials alpha)
before_b=$(list_serials beta)
assert_ok restart_certd
assert_eq "$before_a" "$(list_serials alpha)" "alpha after restart"
assert_eq "$before_b" "$(list_serials beta)" "beta after restart"
state alpha 2 2 "after restart"
state beta 3 3 "after restart"

section "a lost PIN (or TPM secret) file is set again by SetOwner"
lost=$(secret_file)
rm -f "$lost"
assert_error "$E_BACKEND|$E_WRONG_PASSWORD" certs_try CreateKey sss beta node-b "$PW"
assert_ok certs_call SetOwner ss alpha "$PW"
assert_true "secret file written again" test -s "$(secret_file)"
assert_eq 600 "$(stat -c %a "$(secret_file)" 2>/dev/null)" "secret file mode"
state alpha 2 2 "after the PIN was reset"
state beta 3 3 "after the PIN was reset"
assert_ok create_key beta node-b "$PW" "$D/b-newpin.csr"
state beta 3 4 "CreateKey with the new PIN"

section "Clear of the other module, then SetOwner while the token holds the first's objects"
assert_ok certs_call Clear s beta
state beta 0 0 "after Clear beta"
state alpha 2 2 "after Clear beta"
assert_ok certs_call SetOwner ss beta "$PW"
state alpha 2 2 "after beta re-owned"
assert_error "$E_WRONG_PASSWORD" certs_try SetOwner ss beta "$WRONG"
state alpha 2 2 "after beta's wrong password (token holds alpha's objects)"
assert_ok issue beta node-b "$PW" "$D/b4.pem" ca
assert_ok apply beta "$D/b4.pem"
state beta 1 1 "beta after a new cycle"
assert_ok certs_call Clear s alpha
assert_ok certs_call Clear s beta
if [[ $KS == pkcs11 ]]; then
        assert_eq 0 "$(token_count $TOKEN all)" "the token is empty after both Clears"
else
        assert_eq "$TPM_SRK" "$(tpm_persistent | xargs)" "only the storage key is left in the TPM after both Clears"
fi

assert_serving
assert_no_secret_in_logs "$PW" "$WRONG" "$(cat "$(secret_file)")"
stop_certd
harness_finish
