#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-certd, two modules on one token (TokenLabel): SetOwner, Clear, CreateKey and ApplyCert
# of one module, interleaved with the other's, never destroy the other module's objects; a
# restart (reconciliation) keeps both.
. "$(dirname "$0")/lib.sh"

harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_softhsm

PW='shared-Owner-Pw-9d20aa'
WRONG='shared-Wrong-Pw-17b3c4'
TOKEN=shared

write_config
module alpha pkcs11 ecdsa "clientAuth" "" 3 TokenLabel=$TOKEN
module beta pkcs11 rsa "serverAuth" "beta.local" 3 TokenLabel=$TOKEN
assert_ok start_certd || harness_finish

keys() { token_count $TOKEN privkeys "$1"; }
certs() { token_count $TOKEN certs "$1"; }
# state TYPE CERTS KEYS WHAT: ListCerts count and the type's objects on the shared token.
state() {
        assert_eq "$2" "$(list_count "$1")" "$4: $1 ListCerts"
        assert_eq "$2" "$(certs "$1")" "$4: $1 certificates on the token"
        assert_eq "$3" "$(keys "$1")" "$4: $1 keys on the token"
}

section "both modules take the same token"
assert_ok certs_call SetOwner ss alpha "$PW"
assert_ok certs_call SetOwner ss beta "$PW"
run softhsm2-util --show-slots
assert_eq 1 "$(printf '%s\n' "$OUT" | grep -cE "Label:[[:space:]]+${TOKEN}[[:space:]]*\$")" "one token labelled $TOKEN"
assert_true "one PIN file for the token" test -s "$(pin_file $TOKEN)"

section "keys and certificates of both"
assert_ok issue alpha node-a "$PW" "$D/a1.pem" ca
assert_ok issue beta node-b "$PW" "$D/b1.pem" ca
assert_ok apply alpha "$D/a1.pem"
assert_ok apply beta "$D/b1.pem"

b1=$(cert_serial "$D/b1.pem")
state alpha 1 1 "after both applied"
state beta 1 1 "after both applied"
run p11 $TOKEN --list-all-privkeys "pkcs11:token=$TOKEN;object=beta"
assert_match 'RSA' "$OUT" "beta's key is RSA"

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

section "a lost PIN file is set again by SetOwner"
rm -f "$(pin_file $TOKEN)"
assert_ok certs_call SetOwner ss alpha "$PW"
assert_true "PIN file written again" test -s "$(pin_file $TOKEN)"
assert_eq 600 "$(stat -c %a "$(pin_file $TOKEN)" 2>/dev/null)" "PIN file mode"
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
assert_eq 0 "$(token_count $TOKEN all)" "the token is empty after both Clears"

assert_serving
assert_no_secret_in_logs "$PW" "$WRONG" "$(cat "$(pin_file $TOKEN)")"
stop_certd
harness_finish
