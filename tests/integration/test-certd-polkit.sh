#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2046 # $(ay_args ...) is split into busctl's "ay" arguments on purpose
# aos-certd, authorization: every mutating method (SetOwner, Clear, CreateKey, ApplyCert,
# CreateSelfSignedCert) is refused for uid 65534 (the policy's auth_admin_keep, no agent) with
# AccessDenied or InteractiveAuthorizationRequired, with and without the interactive flag, before
# anything is touched; allowed for root and for the test user that the test rule grants
# org.aosedge.certs.manage; the reads (GetCertTypes, ListCerts, GetCert, properties) are open
# to uid 65534. On a PKCS#11 token or, with AOS_IT_PLUGIN=tpm, in a TPM.
. "$(dirname "$0")/lib.sh"

harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish

PW='polkit-Owner-Pw-3e77b9'
DENIED="$E_ACCESS_DENIED|$E_INTERACTIVE"

write_config
module iam "$KS" ecdsa "clientAuth" "" 3
module online "$KS" ecdsa "clientAuth" "" 1 SelfSigned=yes
assert_ok start_certd || harness_finish

run polkit_check org.aosedge.certs.manage "$NOBODY_UID"
log "# polkit for uid $NOBODY_UID on org.aosedge.certs.manage: $OUT"
# systemd's semantics (DESIGN §3: "the way systemd's daemons do it"): a challenge polkit would
# issue is InteractiveAuthorizationRequired, a plain "no" is AccessDenied.
if [[ $OUT == "(bba{ss}) false true"* ]]; then
        POLKIT_DENIAL=$E_INTERACTIVE
else
        POLKIT_DENIAL=$E_ACCESS_DENIED
fi

nobody() { as_user "$NOBODY_UID" "$@"; }
tester() { as_user "$TEST_UID" "$@"; }

section "uid $NOBODY_UID: every mutating method refused, before any state is looked at"
# Not owned yet: a refusal must come before NotOwned.
assert_error "$DENIED" nobody certs_try CreateKey sss iam node-1 "$PW"
assert_error "$DENIED" nobody certs_try SetOwner ss iam "$PW"
assert_error "$E_NOT_OWNED" certs_try CreateKey sss iam node-1 "$PW"
assert_error "$POLKIT_DENIAL" nobody certs_try SetOwner ss iam "$PW"
assert_error "$DENIED" nobody certs_try SetOwner ss online "$PW"
assert_error "$DENIED" nobody certs_try CreateSelfSignedCert ss online "$PW"
assert_error "$DENIED" nobody certs_try Clear s iam
# Denials do not depend on the interactive flag (no agent can answer here).
assert_error "$DENIED" nobody aos_call --interactive SetOwner s:iam "s:$PW"
assert_error "$DENIED" nobody aos_call SetOwner s:iam "s:$PW"
assert_error "$E_NOT_OWNED" certs_try CreateKey sss iam node-1 "$PW"

section "root"
assert_ok certs_call SetOwner ss iam "$PW"
assert_ok create_key iam node-1 "$PW" "$D/r1.csr"
assert_ok sign_csr "$D/r1.csr" "$D/r1.pem" ca days=100
assert_ok apply iam "$D/r1.pem"
r1=$(cert_serial "$D/r1.pem")

section "uid $NOBODY_UID with an owned module holding a certificate"
assert_ok create_key iam node-1 "$PW" "$D/r2.csr"
assert_ok sign_csr "$D/r2.csr" "$D/r2.pem" ca days=200
assert_error "$DENIED" nobody certs_try ApplyCert ss iam "$(cat "$D/r2.pem")"
assert_error "$DENIED" nobody aos_call --interactive ApplyCert s:iam "f:$D/r2.pem"
# The right password must not help, a wrong one must not be checked (no password oracle).
assert_error "$DENIED" nobody certs_try CreateKey sss iam node-1 "$PW"
assert_error "$DENIED" nobody certs_try CreateKey sss iam node-1 "not-the-password"
assert_error "$DENIED" nobody certs_try SetOwner ss iam "not-the-password"
assert_error "$DENIED" nobody certs_try Clear s iam
assert_error "$DENIED" nobody aos_call --interactive Clear s:iam
assert_eq "$r1" "$(list_serials iam)" "nothing changed by the refused calls"
assert_eq 2 "$(ks_key_count iam)" "no key made or removed by the refused calls"
# The pending key is still there for root.
assert_ok apply iam "$D/r2.pem"
r2=$(cert_serial "$D/r2.pem")

section "uid $NOBODY_UID: reads are open"
assert_ok nobody certs_call GetCertTypes
assert_eq "iam online" "$(json_strings "$OUT" | xargs)" "GetCertTypes as uid $NOBODY_UID"
assert_ok nobody certs_call ListCerts s iam
assert_eq 2 "$(json_count "$OUT" Serial)" "ListCerts as uid $NOBODY_UID"
issuer=$(json_get "$OUT" IssuerDER)
assert_ok nobody certs_call GetCert says iam 0 ""
assert_eq "$r2" "$(json_get "$OUT" Serial)" "GetCert latest as uid $NOBODY_UID"
assert_ok nobody certs_call GetCert says iam $(ay_args "$issuer") "$r1"
assert_eq "$r1" "$(json_get "$OUT" Serial)" "GetCert by serial as uid $NOBODY_UID"
assert_ok nobody certs_prop "$CERTS_PATH" "$CERTS_IFACE" CertTypes
assert_ok nobody certs_prop "$(module_path iam)" "$MODULE_IFACE" Certificates
assert_eq 2 "$(json_count "$OUT" Serial)" "Module.Certificates as uid $NOBODY_UID"
assert_ok nobody busctl --system --json=short call "$CERTS_DEST" "$(module_path iam)" \
        org.freedesktop.DBus.Properties GetAll s "$MODULE_IFACE"
assert_no_match "$PW" "$OUT" "no password in the module's properties"
assert_ok nobody busctl --system introspect "$CERTS_DEST" "$CERTS_PATH"

section "uid $TEST_UID ($TEST_USER), granted by the test rule"
run polkit_check org.aosedge.certs.manage "$TEST_UID"
assert_match '^\(bba\{ss\}\) true' "$OUT" "polkit grants uid $TEST_UID"
assert_ok tester certs_call SetOwner ss iam "$PW"
assert_ok tester certs_call CreateKey sss iam node-1 "$PW"
reply_string "$OUT" >"$D/t1.csr"
assert_ok sign_csr "$D/t1.csr" "$D/t1.pem" ca days=300
assert_ok tester apply iam "$D/t1.pem"
assert_eq "$(cert_serial "$D/t1.pem")" "$(latest_field iam Serial)" "ApplyCert by uid $TEST_UID"
assert_ok tester certs_call SetOwner ss online "$PW"
assert_ok tester certs_call CreateSelfSignedCert ss online "$PW"
assert_eq 1 "$(list_count online)" "CreateSelfSignedCert by uid $TEST_UID"
assert_ok tester aos_call --interactive Clear s:online
assert_eq 0 "$(list_count online)" "Clear (interactive flag) by uid $TEST_UID"
assert_ok tester certs_call Clear s iam
assert_eq 0 "$(list_count iam)" "Clear by uid $TEST_UID"

section "root again, after the test user"
assert_ok certs_call SetOwner ss iam "$PW"
assert_ok issue iam node-1 "$PW" "$D/r3.pem" ca
assert_ok apply iam "$D/r3.pem"
assert_ok certs_call CreateSelfSignedCert ss online "$PW"
assert_ok certs_call Clear s online

section "the rule decides at call time"
rm -f "$D/polkit/rules.d/50-aos-integration.rules"
# polkitd reloads its rules within about a second.
for _ in 1 2 3 4 5 6 7 8 9 10; do
        run polkit_check org.aosedge.certs.manage "$TEST_UID"
        [[ $OUT == "(bba{ss}) true"* ]] || break
        sleep 0.5
done
if [[ $OUT == "(bba{ss}) true"* ]]; then
        skip "polkitd did not reload its rules in time"
else
        assert_error "$DENIED" tester certs_try Clear s iam
        assert_eq 1 "$(list_count iam)" "the refused Clear changed nothing"
fi

assert_serving
assert_no_secret_in_logs "$PW" "$(ks_secret iam)" "$(ks_secret online)"
stop_certd
harness_finish
