#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-certd, bad input: every case answered with its named error, and the daemon still serving
# afterwards. Unknown type (NotFound); malformed PEM, empty chain, broken signature, a chain to
# another root, expired / not yet valid leaf, leaf without a required EKU, a cyclic chain
# (InvalidChain); a certificate for a key this module never made (KeyMismatch); wrong passwords
# (WrongPassword); 10 MB arguments (InvalidArgs, or the bus refuses). None of it consumes the
# pending key. On a PKCS#11 token or, with AOS_IT_PLUGIN=tpm, in a TPM (test-certd-tpm.sh has
# the TPM's own bad cases).
. "$(dirname "$0")/lib.sh"

harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish

PW='bad-input-Owner-Pw-6a0f55'
WRONG='bad-input-Wrong-Pw-e38b7d'
OTHER_PW='bad-input-Other-Pw-2c9e40'

write_config
module iam "$KS" ecdsa "serverAuth clientAuth" "iam.local localhost" 2
# A module owned with another password: its own token; on a TPM every module shares the one
# owner password, so there it is file-backed.
if [[ $KS == tpm ]]; then
        module cm sw ecdsa "serverAuth clientAuth" "" 2
else
        module cm "$KS" ecdsa "serverAuth clientAuth" "" 2
fi
assert_ok start_certd || harness_finish

# bad ERRNAME CMD...: the error with a message that says what was wrong, then the daemon
# still answers.
bad() {
        if assert_error "$@"; then
                local msg
                msg=$(printf '%s\n' "$ERR" | sed -n 's/^Error [^:]*: //p' | head -n1)
                if [[ ${#msg} -lt 12 || $msg =~ ^[[:space:]]*([Ff]ailed|[Ee]rror|[Ii]nvalid)[.!]?[[:space:]]*$ ]]; then
                        fail "error message too bare: '$msg'"
                fi
        fi
        assert_serving
}

section "unknown type"
printf '%s\n' '-----BEGIN CERTIFICATE-----' 'AAAA' '-----END CERTIFICATE-----' >"$D/tiny.pem"
bad "$E_NOT_FOUND" certs_try SetOwner ss nope "$PW"
bad "$E_NOT_FOUND" certs_try Clear s nope
bad "$E_NOT_FOUND" certs_try CreateKey sss nope node-1 "$PW"
bad "$E_NOT_FOUND" certs_try ApplyCert ss nope "$(cat "$D/tiny.pem")"
bad "$E_NOT_FOUND" certs_try CreateSelfSignedCert ss nope "$PW"
bad "$E_NOT_FOUND" certs_try GetCert says nope 0 ""
bad "$E_NOT_FOUND" certs_try ListCerts s nope
bad "$E_NOT_FOUND|$E_INVALID_ARGS" certs_try ListCerts s "../../etc/passwd"
bad "$E_NOT_FOUND|$E_INVALID_ARGS" certs_try ListCerts s ""

section "owner and passwords"
assert_ok certs_call SetOwner ss iam "$PW"
assert_ok certs_call SetOwner ss cm "$OTHER_PW"
assert_ok create_key iam node-1 "$PW" "$D/good.csr"
bad "$E_WRONG_PASSWORD" certs_try CreateKey sss iam node-1 "$WRONG"
bad "$E_WRONG_PASSWORD" certs_try CreateKey sss iam node-1 "$OTHER_PW"
# The token now holds objects (the pending key): another password must not take it over.
bad "$E_WRONG_PASSWORD" certs_try SetOwner ss iam "$WRONG"
assert_ok certs_call SetOwner ss iam "$PW"
bad "$E_INVALID_ARGS" certs_try SetOwner ss iam ""
bad "$E_INVALID_ARGS|$E_WRONG_PASSWORD" certs_try CreateKey sss iam node-1 ""
bad "$E_INVALID_ARGS" certs_try CreateKey sss iam "" "$PW"

section "a subject with DN syntax is one CN, not a DN"
if run certs_try CreateKey sss iam 'node-1,O=Evil+OU=x' "$PW"; then
        assert_ok create_key iam 'node-2,O=Evil' "$PW" "$D/dn.csr"
        run certtool --crq-info --infile "$D/dn.csr"
        assert_match 'Subject: CN=node-2\\,O\\?=Evil[[:space:]]*$' "$OUT" "the CSR subject is one CN, comma escaped"
        assert_no_match 'Subject:.*[^\\],O=' "$OUT" "no O= attribute smuggled in"
else
        assert_error "$E_INVALID_ARGS" certs_try CreateKey sss iam 'node-1,O=Evil+OU=x' "$PW"
fi
assert_serving

section "chains for the pending key that must be refused"
csr=$D/good.csr
sign_csr "$csr" "$D/good.pem" intermediate || fail "sign good"
# malformed, empty, garbage
printf '%s\n' '-----BEGIN CERTIFICATE-----' 'this is not base64 !!!' '-----END CERTIFICATE-----' >"$D/malformed.pem"
bad "$E_INVALID_CHAIN" apply_try iam "$D/malformed.pem"
{ pem_first "$D/good.pem" | head -n 5; } >"$D/truncated.pem"
bad "$E_INVALID_CHAIN" apply_try iam "$D/truncated.pem"
bad "$E_INVALID_CHAIN" certs_try ApplyCert ss iam ""
bad "$E_INVALID_CHAIN" certs_try ApplyCert ss iam "just some text, no PEM at all"
printf '%s\n' '-----BEGIN CERTIFICATE-----' '-----END CERTIFICATE-----' >"$D/emptyblock.pem"
bad "$E_INVALID_CHAIN" apply_try iam "$D/emptyblock.pem"
# a CSR is not a certificate
bad "$E_INVALID_CHAIN" apply_try iam "$csr"
# broken signature (leaf), and a leaf whose intermediate is missing
corrupt_signature "$D/good.pem" "$D/broken-sig.pem" || fail "corrupt"
bad "$E_INVALID_CHAIN" apply_try iam "$D/broken-sig.pem"
pem_first "$D/good.pem" >"$D/no-intermediate.pem"
bad "$E_INVALID_CHAIN" apply_try iam "$D/no-intermediate.pem"
# wrong order: intermediate first
{ awk 'n >= 1 {print} /-----END CERTIFICATE-----/ {n++}' "$D/good.pem"; pem_first "$D/good.pem"; } >"$D/reversed.pem"
bad "$E_INVALID_CHAIN" apply_try iam "$D/reversed.pem"
# another root
sign_csr "$csr" "$D/other-root.pem" other || fail "sign other"
bad "$E_INVALID_CHAIN" apply_try iam "$D/other-root.pem"
cat "$D/other-root.pem" "$AOS_TEST_PKI/other-ca.pem" >"$D/other-root-full.pem"
bad "$E_INVALID_CHAIN" apply_try iam "$D/other-root-full.pem"
# dates
sign_csr "$csr" "$D/expired.pem" ca expired || fail "sign expired"
bad "$E_INVALID_CHAIN" apply_try iam "$D/expired.pem"
sign_csr "$csr" "$D/future.pem" ca future || fail "sign future"
bad "$E_INVALID_CHAIN" apply_try iam "$D/future.pem"
# EKUs: the module asks for serverAuth and clientAuth
sign_csr "$csr" "$D/noeku.pem" ca noeku || fail "sign noeku"
bad "$E_INVALID_CHAIN" apply_try iam "$D/noeku.pem"
sign_csr "$csr" "$D/client-only.pem" ca clientAuth || fail "sign client-only"
bad "$E_INVALID_CHAIN" apply_try iam "$D/client-only.pem"
sign_csr "$csr" "$D/server-only.pem" ca serverAuth || fail "sign server-only"
bad "$E_INVALID_CHAIN" apply_try iam "$D/server-only.pem"
# cyclic: must be refused, and quickly
make_cyclic_chain "$csr" "$D/cyclic.pem" || fail "make cyclic chain"
t0=$(date +%s%N)
bad "$E_INVALID_CHAIN" apply_try iam "$D/cyclic.pem"
ms=$((($(date +%s%N) - t0) / 1000000))
assert_cmp "$ms" -lt 5000 "cyclic chain answered within 5 s (ms)"
# the same chain again (already refused) and a chain repeating the leaf
{ pem_first "$D/good.pem"; cat "$D/good.pem"; } >"$D/leaf-twice.pem"
bad "$E_INVALID_CHAIN|$E_KEY_MISMATCH" apply_try iam "$D/leaf-twice.pem"

section "keys this module never made"
make_csr "$D/foreign.key" "$D/foreign.csr" node-1 || fail "foreign csr"
sign_csr "$D/foreign.csr" "$D/foreign.pem" intermediate || fail "sign foreign"
bad "$E_KEY_MISMATCH" apply_try iam "$D/foreign.pem"
make_csr "$D/foreign-rsa.key" "$D/foreign-rsa.csr" node-1 rsa || fail "foreign rsa csr"
sign_csr "$D/foreign-rsa.csr" "$D/foreign-rsa.pem" ca || fail "sign foreign rsa"
bad "$E_KEY_MISMATCH" apply_try iam "$D/foreign-rsa.pem"
# another module's pending key
assert_ok create_key cm node-1 "$OTHER_PW" "$D/cm.csr"
sign_csr "$D/cm.csr" "$D/cm.pem" ca || fail "sign cm"
bad "$E_KEY_MISMATCH" apply_try iam "$D/cm.pem"

section "pre-made bad cases of the test PKI ($AOS_TEST_PKI)"
premade=0
# tests/pki/make-pki.sh: every leaf is "CN=node1" for a key of its own; the module asks for
# serverAuth+clientAuth. <name>-chain.pem is the leaf and its issuer.
for f in garbage:"$E_INVALID_CHAIN" broken-sig-chain:"$E_INVALID_CHAIN" cyclic-chain:"$E_INVALID_CHAIN" \
         leaf-expired-chain:"$E_INVALID_CHAIN" leaf-future-chain:"$E_INVALID_CHAIN" \
         leaf-other-chain:"$E_INVALID_CHAIN" leaf-other:"$E_INVALID_CHAIN" \
         leaf-noeku-chain:"$E_INVALID_CHAIN" leaf-client-chain:"$E_INVALID_CHAIN" \
         leaf-both:"$E_INVALID_CHAIN" \
         leaf-both-chain:"$E_KEY_MISMATCH" leaf-direct-chain:"$E_KEY_MISMATCH" leaf-direct:"$E_KEY_MISMATCH" \
         leaf-rsa-chain:"$E_KEY_MISMATCH"; do
        name=${f%%:*}
        want=${f#*:}
        if [[ -r $AOS_TEST_PKI/$name.pem ]]; then
                premade=$((premade + 1))
                bad "$want" apply_try iam "$AOS_TEST_PKI/$name.pem"
        fi
done
((premade)) || skip "no pre-made bad cases in $AOS_TEST_PKI"

section "oversized arguments"
bad "$E_INVALID_ARGS|$E_INVALID_CHAIN|org.freedesktop.DBus.Error.LimitsExceeded" aos_call ApplyCert s:iam n:10485760
bad "$E_INVALID_ARGS|org.freedesktop.DBus.Error.LimitsExceeded" aos_call CreateKey s:iam n:10485760 "s:$PW"
bad "$E_INVALID_ARGS|org.freedesktop.DBus.Error.LimitsExceeded" aos_call SetOwner s:iam n:10485760
bad "$E_INVALID_ARGS|$E_NOT_FOUND|org.freedesktop.DBus.Error.LimitsExceeded" aos_call ListCerts n:10485760
# Just over the PEM limit of one chain (1 MiB)
bad "$E_INVALID_ARGS|$E_INVALID_CHAIN" aos_call ApplyCert s:iam n:1048577

section "the pending key survived all of it"
assert_ok apply iam "$D/good.pem"
assert_eq "$(cert_serial "$D/good.pem")" "$(latest_field iam Serial)" "the good chain applied after the bad ones"
assert_eq 1 "$(list_count iam)" "one certificate"
# The same chain again: either idempotent (the same certificate) or refused, never a second copy.
if run apply_try iam "$D/good.pem"; then
        pass "applying the same chain again is idempotent"
else
        assert_error "$E_KEY_MISMATCH|$E_INVALID_CHAIN" apply_try iam "$D/good.pem"
fi
assert_serving
assert_eq 1 "$(list_count iam)" "still one certificate"

section "a bad configuration stops the daemon with file, line, key and why"
# run_bad_config NAME LINE_KEY...: aos-certd with a config whose [Module iam] has the lines.
run_bad_config() {
        local name=$1
        shift
        local f=$D/bad-$name.conf
        {
                printf '[Certd]\nCACert=%s\nDatabase=%s\nStorageDir=%s\n\n[Module iam]\nPlugin=sw\n' \
                        "$AOS_TEST_PKI/ca.pem" "$D/bad-$name.db" "$D/bad-certs"
                printf '%s\n' "$@"
        } >"$f"
        timeout 10 "$CERTD_BIN" --config "$f" >"$D/bad-$name.log" 2>&1
        BAD_RC=$?
        BAD_OUT=$(cat "$D/bad-$name.log")
}
run_bad_config maxitems MaxItems=9
assert_cmp "$BAD_RC" -ne 0 "MaxItems=9: exit status"
assert_cmp "$BAD_RC" -ne 124 "MaxItems=9: does not hang"
assert_match "bad-maxitems.conf:8" "$BAD_OUT" "MaxItems=9: names file and line"
assert_match "MaxItems" "$BAD_OUT" "MaxItems=9: names the key"
run_bad_config typo MaxItem=2
assert_cmp "$BAD_RC" -ne 0 "unknown key: exit status"
assert_match "bad-typo.conf:8" "$BAD_OUT" "unknown key: names file and line"
assert_match "MaxItem" "$BAD_OUT" "unknown key: names the key"
run_bad_config plugin Plugin=floppy
assert_cmp "$BAD_RC" -ne 0 "unknown plugin: exit status"
assert_match "floppy" "$BAD_OUT" "unknown plugin: names the value"
assert_serving "the running daemon is not affected"

assert_no_secret_in_logs "$PW" "$WRONG" "$OTHER_PW" "$(ks_secret iam)" "$(ks_secret cm)"
stop_certd
harness_finish
