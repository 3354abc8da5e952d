#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aosctl against the real aos-certd and aos-provisiond: the whole workflow with `aosctl
# provision` and a local CA (--ca-key), then (after deprovision) with --sign-command (certtool);
# the issued chains verify against the CA (certtool --verify-chain), the keys are
# non-extractable objects on the token, `status --json`, `watch --count` and `watch` until
# SIGINT, `renew`, `create-key` + `apply-cert`, pause/resume, and the password never in the
# output, the logs, the sign command's environment or any argv (ps).
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tools/aosctl-it.sh
. "$AOS_TEST_SRCDIR/tests/tools/aosctl-it.sh"

prov_harness_init
require_aosctl
start_bus || harness_finish
start_polkitd || harness_finish
setup_softhsm

PW='prov-Secret-Pw-7d41a9'
NODE=node-1

write_config
module iam pkcs11 ecdsa "serverAuth clientAuth" "iam.local localhost" 2
module sm pkcs11 rsa "" "" 2
module online pkcs11 ecdsa "clientAuth" "" 1 SelfSigned=yes
PROV_NODE_ID=$NODE
node_section MainNode=yes
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish
write_password_file "$D/pw" "$PW"
ca_files "$D/ca" # $D/ca/chain.pem (intermediate + root), $D/ca/key.pem

section "status before provisioning"
assert_ok aosctl status --json
st=$OUT
assert_true "status --json is valid JSON" json_valid "$st"
assert_eq "$NODE" "$(ajson_get "$st" nodeId)" "status: nodeId"
assert_eq unprovisioned "$(ajson_get "$st" state)" "status: state"
assert_match '"provisioningMode":true' "$st" "status: provisioning mode"
assert_match '"mainNode":true' "$st" "status: main node"
assert_match '"provisiond":\{"reachable":true\}' "$st" "status: provisiond reachable"
assert_match '\{"type":"iam","certificate":null\}' "$st" "status: iam has no certificate yet"
assert_ok aosctl status
assert_match 'State: +unprovisioned' "$OUT" "status text: state"
assert_match 'iam +\(no certificate\)' "$OUT" "status text: no iam certificate"

section "provision with the local CA (--ca-key)"
start_watch all --json
ps_sampler_start
assert_ok aosctl provision --ca-cert "$D/ca/chain.pem" --ca-key "$D/ca/key.pem" --password-file "$D/pw" --days 30
prov_out=$OUT
prov_err=$ERR
ps_sampler_stop
log "$prov_out" | sed 's/^/    /'
assert_match '^\[1/9\] GetCertTypes node-1 \.\.\. ok \(iam sm; 9 steps\)$' "$prov_out" "step 1: GetCertTypes (self-signed online left out)"
assert_match '^\[2/9\] StartProvisioning node-1 \.\.\. ok$' "$prov_out" "step 2: StartProvisioning"
assert_match '^\[3/9\] CreateKey iam \.\.\. ok$' "$prov_out" "step 3: CreateKey iam"
assert_match '^\[4/9\] Sign iam \(local CA\) \.\.\. ok$' "$prov_out" "step 4: sign iam"
assert_match '^\[5/9\] ApplyCert iam \.\.\. ok \(serial [0-9a-f]{32}, (29|30) days\)$' "$prov_out" "step 5: ApplyCert iam"
assert_match '^\[8/9\] ApplyCert sm \.\.\. ok' "$prov_out" "step 8: ApplyCert sm"
assert_match '^\[9/9\] FinishProvisioning node-1 \.\.\. ok$' "$prov_out" "step 9: FinishProvisioning"
assert_match 'Node node-1 is provisioned\.' "$prov_out" "final line"
assert_eq provisioned "$(prov_prop State)" "State property"
assert_no_secret "$PW" "$prov_out$prov_err" "provision output"
assert_no_secret_in_ps "$PW"

section "the issued certificates verify against the CA"
for t in iam sm; do
        export_chain "$t" "$D/$t-chain.pem" || fail "cannot export the $t certificate from the token"
        assert_true "$t: certtool --verify-chain (leaf, intermediate, root)" certtool --verify-chain --infile "$D/$t-chain.pem"
        pem_first "$D/$t-chain.pem" >"$D/$t-leaf.pem"
        cat "$D/$t-leaf.pem" "$AOS_TEST_PKI/intermediate.pem" >"$D/$t-to-verify.pem"
        assert_true "$t: certtool --verify against ca.pem" \
                certtool --verify --load-ca-certificate "$AOS_TEST_PKI/ca.pem" --infile "$D/$t-to-verify.pem"
        assert_eq "CN=$NODE" "$(cert_subject "$D/$t-leaf.pem")" "$t: subject CN is the node id"
        assert_eq "CN=Aos Test Intermediate" "$(cert_issuer "$D/$t-leaf.pem")" "$t: issued by the intermediate"
done
run cert_info "$D/iam-leaf.pem"
assert_match 'DNSname: iam.local' "$OUT" "iam: SAN iam.local copied from the CSR"
assert_match 'TLS WWW Server' "$OUT" "iam: EKU serverAuth copied"
assert_match 'TLS WWW Client' "$OUT" "iam: EKU clientAuth copied"
assert_match 'Certificate Authority \(CA\): FALSE' "$OUT" "iam: not a CA"
run cert_info "$D/sm-leaf.pem"
assert_no_match 'TLS WWW' "$OUT" "sm: no EKU (its CSR has none)"
assert_match 'Key encipherment' "$OUT" "sm (RSA): keyEncipherment"

section "the keys are non-extractable objects on the token"
for t in iam sm; do
        run p11 "$t" --list-all-privkeys "pkcs11:token=$t"
        assert_match "Label: $t" "$OUT" "$t: private key on the token"
        assert_match 'CKA_NEVER_EXTRACTABLE' "$OUT" "$t: CKA_NEVER_EXTRACTABLE"
        assert_match 'CKA_SENSITIVE' "$OUT" "$t: CKA_SENSITIVE"
        assert_no_match 'CKA_EXTRACTABLE' "$OUT" "$t: not CKA_EXTRACTABLE"
done

section "status after provisioning"
assert_ok aosctl status --json
st=$OUT
assert_true "status --json is valid JSON" json_valid "$st"
assert_eq provisioned "$(ajson_get "$st" state)" "status --json: provisioned"
iam_serial=$(latest_field iam Serial)
assert_match "\"type\":\"iam\",\"certificate\":\\{\"type\":\"iam\",\"subject\":\"CN=$NODE\",\"issuer\":\"CN=Aos Test Intermediate\",\"serial\":\"$iam_serial\"" \
        "$st" "status --json: iam certificate"
assert_match '"type":"online","certificate":\{"type":"online","subject":"CN=' "$st" "status --json: the self-signed online certificate"
assert_match '"daysLeft":(29|30),' "$st" "status --json: days left"
assert_ok aosctl status
log "$OUT" | sed 's/^/    /'
assert_match "iam +CN=$NODE +$iam_serial +[0-9-]+ [0-9:]+ +(29|30)$" "$OUT" "status text: iam row"
assert_ok aosctl certs iam --json
assert_match "^\\[\\{\"type\":\"iam\".*\"serial\":\"$iam_serial\"" "$OUT" "certs iam --json"
assert_true "certs --json is valid JSON" json_valid "$OUT"

section "watch saw the provisioning"
stop_watch all INT
assert_eq 0 "$WATCH_EXIT" "watch exits 0 on SIGINT"
w=$(cat "$(watch_file all)")
assert_match "^\\{\"time\":[0-9]+,\"signal\":\"CertChanged\",\"type\":\"iam\",\"certificate\":\\{\"type\":\"iam\",\"subject\":\"CN=$NODE\"" \
        "$w" "watch --json: CertChanged iam with the new certificate"
assert_match '"signal":"CertChanged","type":"iam","certificate":null' "$w" "watch --json: CertChanged iam cleared (StartProvisioning)"
assert_match "^\\{\"time\":[0-9]+,\"signal\":\"NodeStateChanged\",\"nodeId\":\"$NODE\",\"state\":\"provisioned\"\\}$" \
        "$w" "watch --json: NodeStateChanged provisioned"
assert_true "watch --json: every line is valid JSON" json_valid "$w"
assert_no_secret "$PW" "$w" "watch output"

section "renew iam with the local CA; watch --count 1 sees it"
start_watch one --count 1
assert_ok aosctl renew iam --ca-cert "$D/ca/chain.pem" --ca-key "$D/ca/key.pem" --password-file "$D/pw"
renew_out=$OUT
assert_match '^\[1/3\] CreateKey iam \.\.\. ok$' "$renew_out" "renew: CreateKey"
assert_match '^\[3/3\] ApplyCert iam \.\.\. ok \(serial [0-9a-f]{32}, (364|365) days\)$' "$renew_out" "renew: ApplyCert, 365 days by default"
new_serial=$(latest_field iam Serial)
assert_ne "$iam_serial" "$new_serial" "renew: a new current iam certificate"
assert_eq 2 "$(list_count iam)" "renew: the old certificate kept (MaxItems 2)"
wait_watch one 10
assert_eq 0 "$WATCH_EXIT" "watch --count 1 exits 0 by itself"
w=$(cat "$(watch_file one)")
assert_match "CertChanged type=iam serial=$new_serial subject=CN=$NODE not-after=\"[0-9: -]+\" days=(364|365)$" "$w" \
        "watch text: the renewed certificate"
assert_eq 1 "$(grep -c . <<<"$w")" "watch --count 1: exactly one line"

section "renew two types with --json"
assert_ok aosctl renew iam sm --json --ca-cert "$D/ca/chain.pem" --ca-key "$D/ca/key.pem" --password-file "$D/pw"
assert_match "^\\{\"nodeId\":\"$NODE\",\"certificates\":\\[\\{\"type\":\"iam\".*\\},\\{\"type\":\"sm\".*\\}\\]\\}$" "$OUT" \
        "renew --json: both certificates on stdout"
renew_json=$OUT
assert_match '\[6/6\] ApplyCert sm \.\.\. ok' "$ERR" "renew --json: progress on stderr"
assert_true "renew --json is valid JSON" json_valid "$renew_json"

section "create-key and apply-cert by hand"
assert_ok aosctl create-key iam --subject manual-cn -o "$D/manual.csr" --password-file "$D/pw"
assert_match 'BEGIN (NEW )?CERTIFICATE REQUEST' "$(cat "$D/manual.csr")" "create-key -o: a CSR in the file"
assert_eq "CN=manual-cn" "$(certtool --crq-info --infile "$D/manual.csr" | sed -n 's/^[[:space:]]*Subject: //p' | head -n1)" \
        "create-key --subject"
assert_ok sign_csr "$D/manual.csr" "$D/manual.pem" intermediate days=20
assert_ok aosctl apply-cert iam "$D/manual.pem"
assert_match "^Type: iam$" "$OUT" "apply-cert: info printed"
assert_match "^Serial: $(cert_serial "$D/manual.pem")$" "$OUT" "apply-cert: the serial of the applied certificate"
# create-key with the password on stdin (a pipe), the CSR on stdout; apply-cert from stdin, JSON
run aosctl create-key sm <"$D/pw"
assert_eq 0 "$RC" "create-key with the password on stdin"
printf '%s\n' "$OUT" >"$D/sm-manual.csr"
assert_match '^-----BEGIN' "$OUT" "create-key: the CSR on stdout"
assert_ok sign_csr "$D/sm-manual.csr" "$D/sm-manual.pem" ca days=15
run aosctl apply-cert sm - --json <"$D/sm-manual.pem"
assert_eq 0 "$RC" "apply-cert - (stdin) --json"
assert_match "^\\{\"type\":\"sm\",\"subject\":\"CN=$NODE\",\"issuer\":\"CN=Aos Test Root\",\"serial\":\"$(cert_serial "$D/sm-manual.pem")\"" \
        "$OUT" "apply-cert --json: the info"
assert_ok aosctl create-key iam --json --password-file "$D/pw"
assert_match '^\{"type":"iam","subject":"node-1","csr":"-----BEGIN [A-Z ]+-----\\n' "$OUT" "create-key --json"

section "pause and resume"
assert_ok aosctl pause
assert_eq paused "$(prov_prop State)" "pause: state paused"
assert_ok aosctl status --json
assert_eq paused "$(ajson_get "$OUT" state)" "status: paused"
assert_ok aosctl resume
assert_eq provisioned "$(prov_prop State)" "resume: provisioned again"

section "deprovision, then provision with --sign-command (certtool)"
assert_ok aosctl deprovision --password-file "$D/pw"
assert_eq unprovisioned "$(prov_prop State)" "deprovision: unprovisioned"
assert_ok aosctl status --json
assert_match '\{"type":"iam","certificate":null\}' "$OUT" "deprovision: no iam certificate left"
write_sign_script "$D/sign.sh" "$D/signed"
ps_sampler_start
# The password on stdin this time (a pipe, not a terminal).
run aosctl provision --sign-command "$D/sign.sh" <"$D/pw"
ps_sampler_stop
assert_eq 0 "$RC" "provision --sign-command"
log "$OUT" | sed 's/^/    /'
[[ $RC == 0 ]] || _show_output
assert_match '^\[4/9\] Sign iam \(sign command\) \.\.\. ok$' "$OUT" "step 4: sign iam with the command"
assert_match '^\[9/9\] FinishProvisioning node-1 \.\.\. ok$' "$OUT" "step 9: FinishProvisioning"
assert_eq provisioned "$(prov_prop State)" "provisioned with the sign command"
assert_eq "iam $NODE" "$(cat "$D/signed/iam.env" 2>/dev/null)" "the command got AOS_CERT_TYPE and AOS_NODE_ID"
assert_no_match "$PW" "$(cat "$D"/signed/*.environ 2>/dev/null)" "the password is not in the command's environment"
assert_true "the command got the CSR on stdin" grep -q 'BEGIN .*CERTIFICATE REQUEST' "$D/signed/iam.csr"
for t in iam sm; do
        cat "$D/signed/$t.pem" "$AOS_TEST_PKI/ca.pem" >"$D/$t-sc-full.pem"
        assert_true "$t: the command's chain verifies (certtool --verify-chain)" certtool --verify-chain --infile "$D/$t-sc-full.pem"
        assert_eq "$(cert_serial "$D/signed/$t.pem")" "$(latest_field "$t" Serial)" "$t: the command's certificate is current"
done
assert_no_secret "$PW" "$OUT$ERR" "provision --sign-command output"
assert_no_secret_in_ps "$PW"

section "renew with --sign-command"
# A longer validity than the current certificate's, so that it is the latest NotAfter for sure.
assert_ok env SIGN_DAYS=120 "$AOSCTL_BIN" renew sm --sign-command "$D/sign.sh" --password-file "$D/pw"
assert_eq "$(cert_serial "$D/signed/sm.pem")" "$(latest_field sm Serial)" "renew --sign-command: the new sm certificate"

section "secrets"
assert_no_secret_in_provisiond_log "$PW"

harness_finish
