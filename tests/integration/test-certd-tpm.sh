#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2046 # $(ay_args ...) is split into busctl's "ay" arguments on purpose
# aos-certd with the tpm backend, what only a TPM has (the other test-certd-*.sh scripts run
# against a TPM too with AOS_IT_PLUGIN=tpm): a TCTI that cannot be reached (the error names it,
# the daemon stays up, the other modules keep working), a TPM owned with another password, a
# persistent key evicted behind the daemon's back (the next start reconciles), restarts of
# aos-certd and of swtpm with its state kept (keys and certificates still work, and a key still
# signs for its certificate), swtpm gone while the daemon runs.
. "$(dirname "$0")/lib.sh"

KS=tpm
harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish
command -v openssl >/dev/null || harness_skip "missing tool: openssl"

PW='tpm-Owner-Pw-8c1f3a'
WRONG='tpm-Wrong-Pw-50d2e9'
TPM_OWNER_PW=$PW
NOWHERE="swtpm:path=$D/nowhere/tpm.sock"

write_config
module iam tpm ecdsa "serverAuth clientAuth" "iam.local" 2
module sm tpm rsa "clientAuth" "" 2
module dead tpm ecdsa "clientAuth" "" 2 "TCTI=$NOWHERE"
module cm sw ecdsa "clientAuth" "" 2
assert_ok start_certd || harness_finish

# signs_for_cert TYPE KEY_URL CERT_FILE: the TPM key at KEY_URL signs (tpm2_sign), and the
# certificate's public key verifies the signature (openssl).
signs_for_cert() {
        local h msg=$D/.msg sig=$D/.sig pub=$D/.cert.pub
        h=$(tpm_url_handle "$2")
        printf 'aos-iam %s\n' "$RANDOM" >"$msg"
        tpm2t sign -c "$h" -g sha384 -s ecdsa -f plain -o "$sig" "$msg" >/dev/null 2>&1 || return 1
        openssl x509 -in "$3" -pubkey -noout >"$pub" 2>/dev/null || return 1
        openssl dgst -sha384 -verify "$pub" -signature "$sig" "$msg" >/dev/null 2>&1
}

section "a TCTI that cannot be reached"
assert_true "the log names the unreachable TCTI" grep -qF "TCTI '$NOWHERE'" "$D/certd.log"
assert_error "$E_BACKEND" certs_try SetOwner ss dead "$PW"
msg=$(sed -n 's/^Error [^:]*: //p' <<<"$ERR" | head -n1)
log "# SetOwner dead: $msg"
assert_match 'dead' "$msg" "the error names the module"
assert_match "$NOWHERE" "$msg" "the error names the unreachable TCTI"
assert_match 'tpm' "$msg" "the error names the tpm storage"
assert_true "the log says which TCTI could not be reached" \
        grep -qF "Module dead: cannot reach the TPM at TCTI '$NOWHERE'" "$D/certd.log"
assert_serving "after SetOwner on the unreachable TPM"
assert_error "$E_NOT_OWNED|$E_BACKEND" certs_try CreateKey sss dead node-1 "$PW"
assert_ok certs_call ListCerts s dead
assert_eq 0 "$(json_count "$OUT" Serial)" "ListCerts of the unreachable module: empty"
assert_serving "after CreateKey on the unreachable TPM"

section "the other modules keep working"
assert_ok certs_call SetOwner ss iam "$PW"
assert_ok issue iam node-1 "$PW" "$D/i1.pem" intermediate days=100
assert_ok apply iam "$D/i1.pem"
i1=$(json_get "$OUT" Serial)
i1_key=$(json_get "$OUT" KeyURL)
assert_true "iam's key signs for its certificate" signs_for_cert iam "$i1_key" "$D/i1.pem"
assert_ok certs_call SetOwner ss cm "$PW"
assert_ok issue cm node-1 "$PW" "$D/c1.pem" ca
assert_ok apply cm "$D/c1.pem"
assert_error "$E_BACKEND" certs_try Clear s dead
assert_eq "$i1" "$(list_serials iam)" "iam untouched by the failed Clear of dead"

section "a TPM owned with another password"
# iam took the TPM with $PW: sm (holding nothing) cannot take it with another one.
assert_error "$E_WRONG_PASSWORD" certs_try SetOwner ss sm "$WRONG"
assert_true "the log says the TPM is owned with another password" \
        grep -qF "Module sm: the TPM at TCTI '$TPM_TCTI' is owned with a different password" "$D/certd.log"
assert_error "$E_NOT_OWNED" certs_try CreateKey sss sm node-1 "$WRONG"
assert_ok certs_call SetOwner ss sm "$PW"
# Someone changes the owner password behind the daemon's back (tpm2_changeauth).
assert_ok tpm2t changeauth -c o -p "$PW" "$WRONG"
assert_error "$E_WRONG_PASSWORD" certs_try SetOwner ss sm "$PW"
# Keys are made without the owner password (the storage key's secret and the owner policy),
# so CreateKey still works for the owned modules.
assert_ok create_key sm node-1 "$PW" "$D/s-owned-elsewhere.csr"
assert_ok tpm2t changeauth -c o -p "$WRONG" "$PW"
assert_ok certs_call SetOwner ss sm "$PW"
assert_ok issue sm node-1 "$PW" "$D/s1.pem" ca
assert_ok apply sm "$D/s1.pem"
s1=$(json_get "$OUT" Serial)

section "a persistent key evicted behind the daemon's back"
assert_ok issue iam node-1 "$PW" "$D/i2.pem" intermediate days=200
assert_ok apply iam "$D/i2.pem"
i2=$(json_get "$OUT" Serial)
i2_cert=$(url_file_path "$(json_get "$OUT" CertURL)")
i2_key=$(json_get "$OUT" KeyURL)
stop_certd
assert_ok tpm2t evictcontrol -C o -P "$PW" -c "$(tpm_url_handle "$i2_key")"
assert_ok start_certd
assert_eq "$i1" "$(list_serials iam)" "the certificate of the evicted key is dropped at start"
assert_true "its certificate file is removed" test ! -e "$i2_cert"
assert_eq 1 "$(ks_key_count iam)" "iam: one key left in the TPM"
assert_ok issue iam node-1 "$PW" "$D/i3.pem" intermediate days=300
assert_ok apply iam "$D/i3.pem"
i3=$(json_get "$OUT" Serial)
assert_eq "$(printf '%s\n' "$i1" "$i3" | sort | xargs)" "$(list_serials iam)" "a new cycle after the eviction"

section "restart of aos-certd and of swtpm, state kept"
before_iam=$(list_serials iam)
before_sm=$(list_serials sm)
stop_certd
assert_ok restart_swtpm
assert_ok start_certd
assert_eq "$before_iam" "$(list_serials iam)" "iam's certificates after both restarts"
assert_eq "$before_sm" "$(list_serials sm)" "sm's certificates after both restarts"
assert_true "iam's key still signs for its certificate" signs_for_cert iam "$i1_key" "$D/i1.pem"
run tpm2t getcap properties-variable
assert_match 'ownerAuthSet:[[:space:]]+1' "$OUT" "the TPM is still owned"
assert_ok issue iam node-1 "$PW" "$D/i4.pem" intermediate days=400
assert_ok apply iam "$D/i4.pem"
assert_eq 2 "$(list_count iam)" "MaxItems after the restarts"
assert_eq 2 "$(ks_key_count iam)" "iam: keys in the TPM = certificates"

section "swtpm gone while aos-certd runs"
stop_swtpm
assert_error "$E_BACKEND" certs_try CreateKey sss iam node-1 "$PW"
assert_serving "with swtpm gone"
assert_ok certs_call GetCert says iam 0 ""
assert_eq "$(cert_serial "$D/i4.pem")" "$(json_get "$OUT" Serial)" "certificates are still served from the database"
assert_ok start_swtpm
assert_ok create_key iam node-1 "$PW" "$D/i5.csr"
assert_ok certs_call Clear s iam
assert_eq 0 "$(ks_object_count iam)" "iam: nothing left in the TPM or StorageDir after Clear"
assert_eq "$s1" "$(list_serials sm)" "sm kept through iam's Clear"
assert_eq 2 "$(ks_key_count sm)" "sm's keys kept through iam's Clear (certified and pending)"

assert_serving
assert_no_secret_in_logs "$PW" "$WRONG" "$(ks_secret iam)"
stop_certd
harness_finish
