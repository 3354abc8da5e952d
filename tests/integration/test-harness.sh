#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Self-test of the integration harness (lib.sh): private bus, polkitd in its namespace,
# SoftHSM, configuration, test PKI and CSR signing, the JSON helpers, the call helper and the
# signal monitor. Needs no daemon of the project; when aos-certd is built, it also checks that
# the daemon starts on the private bus.
. "$(dirname "$0")/lib.sh"

harness_init

section "private bus"
assert_ok start_bus
assert_match '^unix:path=/dev/shm/' "$DBUS_SYSTEM_BUS_ADDRESS" "DBUS_SYSTEM_BUS_ADDRESS"
assert_eq 755 "$(stat -c %a "$D")" "scratch dir mode"
assert_eq 755 "$(stat -c %a "$D/dbus")" "bus socket dir mode"
assert_ok busctl --system list
assert_true "nobody can use the private bus" as_user "$NOBODY_UID" busctl --system call \
        org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId
# dbus-daemon refuses uids it cannot resolve: the test user exists in the bus's namespace.
assert_true "the test user ($TEST_UID) can use the private bus" as_user "$TEST_UID" busctl --system call \
        org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId
# No activation: a name nobody owns is an error at once, not a started service.
assert_error org.freedesktop.DBus.Error.ServiceUnknown \
        dbus-send --system --print-reply --dest=org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
        org.freedesktop.DBus.Peer.Ping

section "polkitd in a private mount namespace"
assert_ok start_polkitd
assert_true "no polkit bind mount is visible outside the namespace" \
        bash -c '! grep -q " /usr/share/polkit-1/actions \| /etc/polkit-1/rules.d \| /etc/passwd " /proc/self/mountinfo'
run pkaction
assert_eq "org.aosedge.certs.manage org.aosedge.nodelink.manage org.aosedge.provisioning.pause org.aosedge.provisioning.provision" \
        "$(printf '%s\n' "$OUT" | sort | xargs)" "pkaction sees only the project's actions"
run polkit_check org.aosedge.certs.manage 0
assert_match '^\(bba\{ss\}\) true false' "$OUT" "root is authorized"
run polkit_check org.aosedge.certs.manage "$TEST_UID"
assert_match '^\(bba\{ss\}\) true false' "$OUT" "the test user ($TEST_USER) is authorized by the test rule"
run polkit_check org.aosedge.provisioning.provision "$TEST_UID"
assert_match '^\(bba\{ss\}\) true false' "$OUT" "the rule covers every org.aosedge action"
run polkit_check org.aosedge.certs.manage "$NOBODY_UID"
assert_match '^\(bba\{ss\}\) false true' "$OUT" "nobody gets auth_admin_keep: a challenge, not authorized"
run polkit_check org.aosedge.certs.manage "$NOBODY_UID" 1
assert_match '^\(bba\{ss\}\) false' "$OUT" "nobody with interaction allowed is still not authorized (no agent)"
log "# polkit answer for nobody with AllowUserInteraction: $OUT"
run polkit_check org.example.unknown "$NOBODY_UID"
assert_match 'not registered|NotRegistered|Error' "$OUT$ERR" "an unknown action is an error"

section "SoftHSM"
assert_ok setup_softhsm
assert_match "^$D/" "$SOFTHSM2_CONF" "SOFTHSM2_CONF on the scratch dir"
assert_ok init_token harness-token
assert_eq 600 "$(stat -c %a "$(pin_file harness-token)")" "PIN file mode"
run softhsm2-util --show-slots
assert_match 'Label:[[:space:]]+harness-token' "$OUT" "token listed"
assert_match 'Initialized:[[:space:]]+no' "$OUT" "SoftHSM still offers an uninitialized slot"
assert_ok make_orphan_key harness-token iam ecdsa
assert_ok make_orphan_key harness-token cm rsa
assert_eq 2 "$(token_count harness-token privkeys)" "private keys on the token"
assert_eq 1 "$(token_count harness-token privkeys iam)" "private keys labelled iam"
url=$(token_objects harness-token privkeys iam)
assert_true "token_has_object finds a key by URL (query ignored)" token_has_object harness-token "$url?pin-source=/nonexistent"
assert_true "token_has_object does not find a missing id" bash -c '! token_has_object "$@"' _ harness-token "pkcs11:token=harness-token;id=%de%ad;type=private"
# token_has_object is a function: check the negative case directly.
if token_has_object harness-token "pkcs11:token=harness-token;id=%de%ad%be%ef;type=private"; then
        fail "token_has_object finds an id that is not there"
else
        pass "token_has_object does not find an id that is not there"
fi
run p11 harness-token --list-all-privkeys "pkcs11:token=harness-token;object=cm"
assert_match 'Type: Private key \(RSA' "$OUT" "p11tool shows the RSA key"

section "configuration"
assert_ok write_config
module iam pkcs11 ecdsa "serverAuth clientAuth" "iam.local localhost" 2
module sm pkcs11 rsa "" "" 3 TokenLabel=shared
module online sw ecdsa "clientAuth" "" 1 SelfSigned=yes
cfg=$(cat "$CONFIG")
assert_match "^CACert=$AOS_TEST_PKI/ca.pem$" "$cfg" "CACert"
assert_match "^Database=$D/certd.db$" "$cfg" "Database"
assert_match "^StorageDir=$D/certs$" "$cfg" "StorageDir"
assert_match '^\[Module iam\]$' "$cfg" "iam section"
assert_match '^ExtendedKeyUsage=serverAuth clientAuth$' "$cfg" "EKU list"
assert_match '^AlternativeNames=iam.local localhost$' "$cfg" "SAN list"
assert_match "^UserPINFile=$D/pins/iam.pin$" "$cfg" "PIN file on the scratch dir"
assert_match '^TokenLabel=shared$' "$cfg" "explicit token label"
assert_match "^UserPINFile=$D/pins/shared.pin$" "$cfg" "PIN file follows the token label"
assert_eq 1 "$(grep -c '^TokenLabel=shared$' "$CONFIG")" "TokenLabel written once"
assert_match '^SelfSigned=yes$' "$cfg" "extra keys"
assert_eq 2 "$(grep -c '^ExtendedKeyUsage=' "$CONFIG")" "an empty EKU list leaves the key out"
assert_eq "$CERTS_PATH/module/iam" "$(module_path iam)" "module path"
assert_eq "$CERTS_PATH/module/my_2dtype" "$(module_path my-type)" "module path escaping"
assert_eq "$CERTS_PATH/module/_31x" "$(module_path 1x)" "module path escaping of a leading digit"

section "test PKI and CSR signing"
assert_ok ensure_pki
for f in ca.pem intermediate.pem other-ca.pem; do
        assert_true "$f readable" test -r "$AOS_TEST_PKI/$f"
done
assert_ok make_csr "$D/k1.key" "$D/k1.csr" node-1
run certtool --crq-info --infile "$D/k1.csr"
assert_match 'Subject: CN=node-1' "$OUT" "CSR subject"
assert_ok sign_csr "$D/k1.csr" "$D/k1-ca.pem" ca
assert_ok certtool --verify --load-ca-certificate "$AOS_TEST_PKI/ca.pem" --infile "$D/k1-ca.pem"
run cert_info "$D/k1-ca.pem"
assert_match 'TLS WWW Server' "$OUT" "honor_crq_extensions copies the EKUs"
assert_match 'DNSname: iam.local' "$OUT" "honor_crq_extensions copies the SANs"
assert_eq "CN=node-1" "$(cert_subject "$D/k1-ca.pem")" "leaf subject"
assert_match '^[0-9a-f]+$' "$(cert_serial "$D/k1-ca.pem")" "serial is lowercase hex"
assert_match '^[0-9a-f]{64}$' "$(cert_fingerprint "$D/k1-ca.pem")" "SHA-256 fingerprint"

assert_ok sign_csr "$D/k1.csr" "$D/k1-int.pem" intermediate days=10
assert_eq 2 "$(grep -c 'BEGIN CERTIFICATE' "$D/k1-int.pem")" "intermediate chain has leaf + intermediate"
assert_ok certtool --verify --load-ca-certificate "$AOS_TEST_PKI/ca.pem" --infile "$D/k1-int.pem"
na=$(cert_not_after_us "$D/k1-int.pem")
now_us=$(($(date +%s) * 1000000))
assert_cmp "$na" -gt $((now_us + 9 * 86400 * 1000000)) "days=10 NotAfter"
assert_cmp "$na" -lt $((now_us + 11 * 86400 * 1000000)) "days=10 NotAfter"

assert_ok sign_csr "$D/k1.csr" "$D/k1-other.pem" other
assert_fail certtool --verify --load-ca-certificate "$AOS_TEST_PKI/ca.pem" --infile "$D/k1-other.pem"

assert_ok sign_csr "$D/k1.csr" "$D/k1-expired.pem" ca expired
assert_cmp "$(cert_not_after_us "$D/k1-expired.pem")" -lt "$now_us" "expired NotAfter"
assert_ok sign_csr "$D/k1.csr" "$D/k1-noeku.pem" ca noeku
run cert_info "$D/k1-noeku.pem"
assert_no_match 'Key Purpose' "$OUT" "noeku leaf"
assert_ok sign_csr "$D/k1.csr" "$D/k1-client.pem" ca clientAuth
run cert_info "$D/k1-client.pem"
assert_match 'TLS WWW Client' "$OUT" "clientAuth leaf"
assert_no_match 'TLS WWW Server' "$OUT" "clientAuth-only leaf"

assert_ok corrupt_signature "$D/k1-int.pem" "$D/k1-broken.pem"
assert_ok certtool -i --infile "$D/k1-broken.pem"
assert_fail certtool --verify --load-ca-certificate "$AOS_TEST_PKI/ca.pem" --infile "$D/k1-broken.pem"
assert_eq 2 "$(grep -c 'BEGIN CERTIFICATE' "$D/k1-broken.pem")" "broken chain keeps the intermediate"

assert_ok make_cyclic_chain "$D/k1.csr" "$D/cyclic.pem"
assert_eq 16 "$(grep -c 'BEGIN CERTIFICATE' "$D/cyclic.pem")" "cyclic chain length"

section "JSON helpers"
j='{"type":"a{sv}","data":[{"Type":{"type":"s","data":"iam"},"Subject":{"type":"s","data":"CN=a b"},"NotAfter":{"type":"t","data":1790000000000000},"IssuerDER":{"type":"ay","data":[48,3,1]},"SelfSigned":{"type":"b","data":false},"EKU":{"type":"as","data":["serverAuth","clientAuth"]}}]}'
assert_eq iam "$(json_get "$j" Type)" "json_get s"
assert_eq "CN=a b" "$(json_get "$j" Subject)" "json_get s with a space"
assert_eq 1790000000000000 "$(json_get "$j" NotAfter)" "json_get t"
assert_eq "[48,3,1]" "$(json_get "$j" IssuerDER)" "json_get ay"
assert_eq false "$(json_get "$j" SelfSigned)" "json_get b"
assert_eq "3 48 3 1" "$(ay_args "$(json_get "$j" IssuerDER)")" "ay_args"
assert_eq "300301" "$(ay_hex "[48,3,1]")" "ay_hex"
assert_eq "0" "$(ay_args "[]")" "ay_args of an empty array"
assert_eq "serverAuth clientAuth" "$(json_strings "$(json_get "$j" EKU)" | xargs)" "json_strings"
l='{"type":"aa{sv}","data":[[{"Serial":{"type":"s","data":"01"}},{"Serial":{"type":"s","data":"02"}}]]}'
assert_eq "01 02" "$(json_all "$l" Serial | xargs)" "json_all"
assert_eq 2 "$(json_count "$l" Serial)" "json_count"
assert_eq 0 "$(json_count '{"type":"aa{sv}","data":[[]]}' Serial)" "json_count of an empty list"
assert_eq "iam cm" "$(json_strings '{"type":"as","data":[["iam","cm"]]}' | xargs)" "json_strings of a call reply"
assert_eq 5 "$(json_data '{"type":"u","data":5}')" "json_data"
assert_eq x "$(json_data '{"type":"s","data":"x"}')" "json_data string"
assert_eq "" "$(json_strings '{"type":"as","data":[[]]}' | xargs)" "json_strings of an empty list"

section "call helper, busctl/dbus-send translation, signal monitor"
run _call_helper
assert_true "aos-test-call is available ($OUT)" test -x "$OUT"
assert_error org.freedesktop.DBus.Error.ServiceUnknown aos_call GetCertTypes
assert_error org.freedesktop.DBus.Error.ServiceUnknown aos_call --interactive ApplyCert s:iam n:10485760
assert_error org.freedesktop.DBus.Error.ServiceUnknown certs_try GetCert says iam 3 48 3 1 ""
assert_true "busctl-style arguments become dbus-send's" _to_dbus_send says iam 3 48 3 1 "abc"
assert_eq "string:iam array:byte:48,3,1 string:abc" "${_DS_ARGS[*]}" "translated arguments"
_to_dbus_send says iam 0 ""
assert_eq "string:iam array:byte: string:" "${_DS_ARGS[*]}" "empty byte array"

start_monitor certchanged "type='signal',interface='$CERTS_IFACE',member='CertChanged'"
assert_ok busctl --system emit "$CERTS_PATH" "$CERTS_IFACE" CertChanged 'sa{sv}' iam 1 Serial s 0badc0de
assert_true "monitor saw the signal" wait_until 5 grep -q 0badc0de "$(monitor_file certchanged)"
stop_monitor certchanged

section "process handling"
sleep 300 &
p=$!
_track "$p" "sleep"
sleep 0.2 # let it exec sleep: a forked bash would run the harness's traps
assert_true "_stop_pid stops a child" _stop_pid "$p" TERM 2
assert_true "and reaps it" bash -c "! kill -0 $p 2>/dev/null"
bash -c 'trap "" TERM; exec sleep 300' &
p=$!
_track "$p" "stubborn"
sleep 0.2
if _stop_pid "$p" TERM 1; then
        fail "_stop_pid did not need SIGKILL for a process ignoring SIGTERM"
else
        pass "_stop_pid falls back to SIGKILL (status $_STOP_STATUS)"
fi

section "aos-certd on the private bus"
if certd_is_real; then
        write_config
        module iam pkcs11 ecdsa "serverAuth clientAuth" "iam.local localhost" 2
        if assert_ok start_certd; then
                assert_ok certs_call GetCertTypes
                assert_eq iam "$(json_strings "$OUT" | xargs)" "GetCertTypes"
                stop_certd
                assert_true "aos-certd left the bus" bash -c '! busctl --system status org.aosedge.Certs1 >/dev/null 2>&1'
        fi
else
        skip "aos-certd at $CERTD_BIN is not built yet (placeholder)"
fi

harness_finish
