#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-provisiond, crash safety: killed (SIGKILL, AOS_FAULT) after every step of
# StartProvisioning, FinishProvisioning and Deprovision, restarted: the state is one the same
# call can simply be repeated from, and the repeat succeeds; the node ends where it should, with
# its certificates in order. And state files a crash or a person could leave: garbage, empty,
# half a word, a directory; the daemon starts in state "error" with the reason, never crashes,
# and Deprovision recovers.
. "$(dirname "$0")/lib.sh"

prov_harness_init
require_provisiond
provisiond_has_faults || harness_skip "aos-provisiond was built without -Dfault_injection=true"
start_bus || harness_finish
start_polkitd || harness_finish
setup_softhsm

PW='crash-Prov-Pw-4e19d7'
H=$D/hooks
mkdir -p "$H"
cat >"$H/hook.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$AOS_PROVISIONING_STEP" >>"$H/ran"
EOF
chmod 0755 "$H/hook.sh"

write_config
module iam pkcs11 ecdsa "clientAuth" "" 2
module online pkcs11 ecdsa "" "" 1 SelfSigned=yes
node_section
provisioning_section "StartCommand=$H/hook.sh" "DiskEncryptionCommand=$H/hook.sh" "FinishCommand=$H/hook.sh" \
        "DeprovisionCommand=$H/hook.sh"
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish

# crash POINT METHOD: the daemon restarted with AOS_FAULT=POINT, METHOD called: the call gets
# no answer and the daemon dies by SIGKILL at the point; then restarted without it.
crash() {
        local point=$1 method=$2
        stop_provisiond
        assert_ok start_provisiond --env "AOS_FAULT=$point" --provisioning || return 1
        assert_fail prov_try "$method" ss "" "$PW"
        if wait_provisiond_exit 10; then
                assert_eq 137 "$PROVISIOND_EXIT" "$point: killed by SIGKILL"
        else
                fail "$point: the daemon did not stop at the crash point"
                kill_provisiond
        fi
        assert_match "fault injection: killing at $point" "$(tail -n 5 "$D/provisiond.log")" "$point: the point was reached"
        assert_ok start_provisiond --provisioning
}

# provisioned_ok WHAT: the node is provisioned with its certificates.
provisioned_ok() {
        assert_eq provisioned "$(prov_state)" "$1: State"
        assert_eq 1 "$(list_count online)" "$1: one self-signed certificate"
        assert_eq 1 "$(list_count iam)" "$1: the iam certificate"
}

# issue_iam: CreateKey and ApplyCert for iam.
issue_iam() {
        assert_ok prov_call CreateKey ssss "" iam "" "$PW"
        reply_string "$OUT" >"$D/iam.csr"
        assert_ok sign_csr "$D/iam.csr" "$D/iam.pem" ca days=100
        assert_ok prov_call ApplyCert sss "" iam "$(cat "$D/iam.pem")"
}
# provision_rest: the rest of a provisioning after a StartProvisioning.
provision_rest() {
        issue_iam
        assert_ok prov_call FinishProvisioning ss "" "$PW"
}

for point in start-after-hook start-after-clear start-after-setowner start-after-selfsigned start-after-disk-hook; do
        section "StartProvisioning killed at $point"
        crash "$point" StartProvisioning
        assert_eq unprovisioned "$(prov_state)" "$point: State after the restart"
        assert_true "$point: no verifier (StartProvisioning did not complete)" test ! -e "$PROV_STATE_FILE.password"
        assert_error "$E_WRONG_STATE" prov_try FinishProvisioning ss "" "$PW"
        assert_ok prov_call StartProvisioning ss "" "$PW"
        assert_eq 1 "$(list_count online)" "$point: the repeated call made the self-signed certificate once"
        provision_rest
        provisioned_ok "$point"
        assert_ok prov_call Deprovision ss "" "$PW"
        assert_eq unprovisioned "$(prov_state)" "$point: deprovisioned for the next round"
done

section "FinishProvisioning killed after its hook"
assert_ok prov_call StartProvisioning ss "" "$PW"
issue_iam
crash finish-after-hook FinishProvisioning
assert_eq unprovisioned "$(prov_state)" "State after the restart"
assert_ok prov_call FinishProvisioning ss "" "$PW"
provisioned_ok "the repeated FinishProvisioning"

for point in deprovision-after-hook deprovision-after-clear deprovision-after-password; do
        section "Deprovision killed at $point"
        if [[ $(prov_state) != provisioned ]]; then
                assert_ok prov_call StartProvisioning ss "" "$PW"
                provision_rest
        fi
        provisioned_ok "$point: before"
        crash "$point" Deprovision
        assert_eq provisioned "$(prov_state)" "$point: still provisioned after the restart"
        assert_ok prov_call Deprovision ss "" "$PW"
        assert_eq unprovisioned "$(prov_state)" "$point: the repeated Deprovision"
        assert_eq 0 "$(list_count iam)" "$point: iam cleared"
        assert_eq 0 "$(list_count online)" "$point: online cleared"
        assert_true "$point: no state file" test ! -e "$PROV_STATE_FILE"
        assert_true "$point: no verifier" test ! -e "$PROV_STATE_FILE.password"
done

section "state files a crash or a person could leave"
# content | what the detail says
while IFS='|' read -r content want; do
        stop_provisiond
        printf '%b' "$content" >"$PROV_STATE_FILE"
        assert_ok start_provisiond --provisioning
        assert_eq error "$(prov_state)" "'$content': State"
        assert_match "$want" "$(prov_prop StateDetail)" "'$content': StateDetail"
        assert_error "$E_WRONG_STATE" prov_try StartProvisioning ss "" "$PW"
        assert_match "state error" "$ERR" "'$content': StartProvisioning names the error state"
        assert_error "$E_WRONG_STATE" prov_try PauseNode s ""
        assert_ok prov_call Deprovision ss "" "$PW"
        assert_eq unprovisioned "$(prov_state)" "'$content': Deprovision recovers"
done <<'EOF'
garbage\n|holds .*garbage
|is empty
provi|holds .*provi
\x00\x01\x02|holds .*x00
provisioned\nprovisioned\n|holds .*provisioned
EOF

stop_provisiond
mkdir -p "$PROV_STATE_FILE"
assert_ok start_provisiond --provisioning
assert_eq error "$(prov_state)" "a directory: State"
assert_match "cannot be read: Is a directory" "$(prov_prop StateDetail)" "a directory: StateDetail"
assert_error "$E_WRONG_STATE" prov_try FinishProvisioning ss "" "$PW"
# The daemon cannot remove a directory for the operator: it says so.
assert_fail prov_try Deprovision ss "" "$PW"
assert_match "Cannot write the state file .*: Is a directory" "$ERR" "Deprovision says why it cannot"
assert_true "the daemon still runs" provisiond_alive
rmdir "$PROV_STATE_FILE"
assert_ok restart_provisiond --provisioning
assert_eq unprovisioned "$(prov_state)" "repaired by hand"

assert_no_secret_in_provisiond_log "$PW"
stop_provisiond
stop_certd
harness_finish
