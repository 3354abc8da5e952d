#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-provisiond, the whole provisioning of a node with the real aos-certd and SoftHSM:
# properties; GetCertTypes without the SelfSigned and disabled types; StartProvisioning (hooks
# in order with a clean environment, the password on the disk-encryption hook's stdin only,
# every module cleared and owned, the self-signed certificate made, a 0600 verifier and no
# password on disk); CreateKey with the node id as default CN, ApplyCert; FinishProvisioning
# (state file, State property, PropertiesChanged and NodeStateChanged seen by a subscriber);
# restart; PauseNode/ResumeNode; renewal; Deprovision (hook, modules cleared, files gone); no
# password in any log.
. "$(dirname "$0")/lib.sh"

prov_harness_init
require_provisiond
start_bus || harness_finish
start_polkitd || harness_finish
setup_softhsm

PW='cycle-Prov-Pw-7d1e2c'
HOOKS=$D/hooks
mkdir -p "$HOOKS"
# Records its step, environment (as exec'd: /proc/self/environ) and stdin.
cat >"$HOOKS/hook.sh" <<EOF
#!/bin/sh
name=\$1
printf '%s\n' "\$name" >>"$HOOKS/order"
tr '\\0' '\\n' </proc/\$\$/environ | sort >"$HOOKS/\$name.env"
cat >"$HOOKS/\$name.stdin"
printf '%s\n' "\$*" >"$HOOKS/\$name.argv"
exit 0
EOF
chmod 0755 "$HOOKS/hook.sh"

write_config
module iam pkcs11 ecdsa "serverAuth clientAuth" "iam.local" 2
module sm pkcs11 ecdsa "clientAuth" "" 2 TokenLabel=iam
module online pkcs11 ecdsa "" "" 1 SelfSigned=yes
module old pkcs11 ecdsa "" "" 2 Disabled=yes
node_section "Title=Integration node"
provisioning_section "StartCommand=$HOOKS/hook.sh start with-arg" \
        "DiskEncryptionCommand=$HOOKS/hook.sh disk-encryption" \
        "FinishCommand=$HOOKS/hook.sh finish" \
        "DeprovisionCommand=$HOOKS/hook.sh deprovision" \
        "HookTimeoutSec=30"
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish

section "properties"
assert_eq "$PROV_NODE_ID" "$(prov_prop NodeId)" "NodeId"
assert_eq unprovisioned "$(prov_prop State)" "State"
assert_eq "" "$(prov_prop StateDetail)" "StateDetail"
assert_eq true "$(prov_prop ProvisioningMode)" "ProvisioningMode"
assert_eq true "$(prov_prop MainNode)" "MainNode"
assert_true "no state file yet" test ! -e "$PROV_STATE_FILE"

section "GetCertTypes: CA-signed types only"
assert_ok prov_call GetCertTypes s ""
assert_eq "iam sm" "$(json_strings "$OUT" | xargs)" "GetCertTypes(\"\")"
assert_ok prov_call GetCertTypes s "$PROV_NODE_ID"
assert_eq "iam sm" "$(json_strings "$OUT" | xargs)" "GetCertTypes(own id)"
# A main node forwards other ids over the node link; none runs here.
assert_error "$E_NODE_UNREACHABLE" prov_try GetCertTypes s other-node
assert_ok certs_call GetCertTypes
assert_eq "iam sm online" "$(json_strings "$OUT" | xargs)" "aos-certd has the self-signed type too"

start_monitor sig "type='signal',sender='$PROV_DEST',path='$PROV_PATH'"
# The monitor's output; truncating the file leaves dbus-monitor writing at its offset (NULs).
mon_text() { tr -d '\0' <"$(monitor_file sig)"; }

section "StartProvisioning"
assert_ok prov_call StartProvisioning ss "" "$PW"
assert_eq "start disk-encryption" "$(xargs <"$HOOKS/order")" "hooks ran in order"
assert_eq "start with-arg" "$(cat "$HOOKS/start.argv")" "argv of the start hook"
want_env() {
        printf 'AOS_NODE_ID=%s\nAOS_NODE_STATE=%s\nAOS_PROVISIONING_STEP=%s\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n' \
                "$PROV_NODE_ID" "$1" "$2"
}
assert_eq "$(want_env unprovisioned start)" "$(cat "$HOOKS/start.env")" "start hook environment"
assert_eq "$(want_env unprovisioned disk-encryption)" "$(cat "$HOOKS/disk-encryption.env")" \
        "disk-encryption hook environment"
assert_eq 0 "$(stat -c %s "$HOOKS/start.stdin")" "the start hook's stdin is empty"
printf '%s\n' "$PW" >"$D/pw.expected"
assert_true "the disk-encryption hook got the password and a newline on stdin, then EOF" \
        cmp -s "$D/pw.expected" "$HOOKS/disk-encryption.stdin"
assert_no_match "$PW" "$(cat "$HOOKS"/*.env "$HOOKS"/*.argv)" "no password in any hook's argv or environment"
assert_eq unprovisioned "$(prov_state)" "State after StartProvisioning"
for t in iam sm online; do
        assert_ok certs_prop "$(module_path "$t")" "$MODULE_IFACE" Owned
        assert_eq true "$(json_data "$OUT")" "module $t owned"
done
assert_eq 1 "$(list_count online)" "the self-signed module has its certificate"
assert_eq 0 "$(list_count iam)" "iam has no certificate yet"
assert_true "the password verifier exists" test -f "$PROV_STATE_FILE.password"
assert_eq 600 "$(stat -c %a "$PROV_STATE_FILE.password")" "verifier mode"
assert_no_match "$PW" "$(cat "$PROV_STATE_FILE.password")" "the verifier is not the password"
assert_match '^pbkdf2-sha256\$' "$(cat "$PROV_STATE_FILE.password")" "the verifier is PBKDF2"

section "CreateKey and ApplyCert for every type"
for t in iam sm; do
        assert_ok prov_call CreateKey ssss "" "$t" "" "$PW"
        reply_string "$OUT" >"$D/$t.csr"
        assert_match 'BEGIN .*CERTIFICATE REQUEST' "$(cat "$D/$t.csr")" "$t: CSR"
        assert_match "CN=$PROV_NODE_ID" "$(certtool --crq-info --infile "$D/$t.csr" 2>/dev/null | grep -m1 'Subject:')" \
                "$t: an empty subject means the node id"
        assert_ok sign_csr "$D/$t.csr" "$D/$t.pem" ca days=100
        assert_ok prov_call ApplyCert sss "" "$t" "$(cat "$D/$t.pem")"
        assert_eq "$(cert_serial "$D/$t.pem")" "$(json_get "$OUT" Serial)" "$t: ApplyCert returns the info"
        assert_eq "$t" "$(json_get "$OUT" Type)" "$t: info Type"
done
assert_ok prov_call CreateKey ssss "$PROV_NODE_ID" iam "custom-cn" "$PW"
reply_string "$OUT" >"$D/custom.csr"
assert_match "CN=custom-cn" "$(certtool --crq-info --infile "$D/custom.csr" 2>/dev/null | grep -m1 'Subject:')" \
        "a named subject is used"

section "FinishProvisioning"
assert_ok prov_call FinishProvisioning ss "" "$PW"
assert_eq provisioned "$(prov_state)" "State"
assert_eq "provisioned" "$(cat "$PROV_STATE_FILE")" "state file"
assert_eq 644 "$(stat -c %a "$PROV_STATE_FILE")" "state file mode"
assert_eq "$(want_env unprovisioned finish)" "$(cat "$HOOKS/finish.env")" "finish hook environment"
assert_eq 0 "$(stat -c %s "$HOOKS/finish.stdin")" "the finish hook's stdin is empty"
wait_until 5 grep -q 'string "provisioned"' "$(monitor_file sig)"
mon=$(mon_text)
assert_match "member=NodeStateChanged" "$mon" "NodeStateChanged sent"
assert_match "string \"$PROV_NODE_ID\"" "$mon" "NodeStateChanged names the node"
assert_match 'member=PropertiesChanged' "$mon" "PropertiesChanged sent"
assert_match 'string "State"' "$mon" "PropertiesChanged carries State"
assert_no_match "$PW" "$mon" "no password in any signal"

section "restart"
assert_ok restart_provisiond
assert_eq provisioned "$(prov_state)" "State after a restart"
assert_eq false "$(prov_prop ProvisioningMode)" "ProvisioningMode without --provisioning"
assert_ok restart_provisiond --provisioning

section "PauseNode, ResumeNode"
: >"$(monitor_file sig)"
assert_ok prov_call PauseNode s ""
assert_eq paused "$(prov_state)" "State after PauseNode"
assert_eq paused "$(cat "$PROV_STATE_FILE")" "state file after PauseNode"
wait_until 5 grep -q 'string "paused"' "$(monitor_file sig)"
assert_match 'string "paused"' "$(mon_text)" "NodeStateChanged paused"
assert_ok prov_call ResumeNode s "$PROV_NODE_ID"
assert_eq provisioned "$(prov_state)" "State after ResumeNode"
wait_until 5 grep -q 'string "provisioned"' "$(monitor_file sig)"
assert_match 'string "provisioned"' "$(mon_text)" "NodeStateChanged provisioned"

section "renewal on a provisioned node"
assert_ok prov_call CreateKey ssss "" iam "" "$PW"
reply_string "$OUT" >"$D/iam2.csr"
assert_ok sign_csr "$D/iam2.csr" "$D/iam2.pem" ca days=200
assert_ok prov_call ApplyCert sss "" iam "$(cat "$D/iam2.pem")"
assert_eq 2 "$(list_count iam)" "two iam certificates after renewal"

section "Deprovision"
: >"$(monitor_file sig)"
assert_ok prov_call Deprovision ss "" "$PW"
assert_eq unprovisioned "$(prov_state)" "State after Deprovision"
assert_true "the state file is removed" test ! -e "$PROV_STATE_FILE"
assert_true "the password verifier is removed" test ! -e "$PROV_STATE_FILE.password"
assert_eq "$(want_env provisioned deprovision)" "$(cat "$HOOKS/deprovision.env")" "deprovision hook environment"
for t in iam sm online; do
        assert_eq 0 "$(list_count "$t")" "module $t cleared"
done
wait_until 5 grep -q 'string "unprovisioned"' "$(monitor_file sig)"
assert_match 'string "unprovisioned"' "$(mon_text)" "NodeStateChanged unprovisioned"
assert_eq "start disk-encryption finish deprovision" "$(xargs <"$HOOKS/order")" "every hook ran once"

section "provisioned again"
# A token keeps its SO PIN (the provisioning password) after Deprovision: another password is
# refused by aos-certd, and the refusal passes through naming the step.
assert_error "$E_WRONG_PASSWORD" prov_try StartProvisioning ss "" "another-Pw-91ac"
assert_match "SetOwner of module iam failed: $E_WRONG_PASSWORD" "$ERR" "the failed step is named"
assert_true "no verifier after a failed StartProvisioning" test ! -e "$PROV_STATE_FILE.password"
assert_error "$E_WRONG_STATE" prov_try FinishProvisioning ss "" "another-Pw-91ac"
assert_ok prov_call StartProvisioning ss "" "$PW"
assert_ok prov_call FinishProvisioning ss "" "$PW"
assert_eq provisioned "$(prov_state)" "State"
assert_ok restart_provisiond --provisioning
assert_ok prov_call Deprovision ss "" "$PW"
assert_eq unprovisioned "$(prov_state)" "State"

assert_no_secret_in_provisiond_log "$PW" "another-Pw-91ac"
stop_monitor sig
stop_provisiond
stop_certd
harness_finish
