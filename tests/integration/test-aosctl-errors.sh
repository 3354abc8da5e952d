#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aosctl's exit codes and error messages: bad usage (2), a daemon refusing or failing, with its
# error name and the step that failed (1), a daemon or the bus not reachable (3); the
# --expect-fingerprint check refusing before any password is sent; a failing sign command;
# polkit refusing an unprivileged caller; status without aos-provisiond.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tools/aosctl-it.sh
. "$AOS_TEST_SRCDIR/tests/tools/aosctl-it.sh"

prov_harness_init
require_aosctl
start_bus || harness_finish
start_polkitd || harness_finish
setup_softhsm

PW='err-Secret-Pw-3c95e0'
NODE=node-e

write_config
module iam pkcs11 ecdsa "serverAuth clientAuth" "iam.local" 2
PROV_NODE_ID=$NODE
node_section MainNode=yes
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish
write_password_file "$D/pw" "$PW"
ca_files "$D/ca"
CA=(--ca-cert "$D/ca/chain.pem" --ca-key "$D/ca/key.pem")

# assert_exit CODE WHAT CMD...: runs CMD, checks its exit status.
assert_exit() {
        local want=$1 what=$2
        shift 2
        run "$@"
        if [[ $RC == "$want" ]]; then
                pass "$what: exit $RC"
        else
                fail "$what: exit $RC, expected $want"
                _show_output
                return 1
        fi
}

section "help and version"
assert_exit 0 "--help" aosctl --help
assert_match '^  provision --ca-cert FILE' "$OUT" "--help lists provision"
assert_match '^  watch ' "$OUT" "--help lists watch"
assert_match 'Exit status: 0 success, 1 ' "$OUT" "--help documents the exit codes"
assert_exit 0 "provision --help" aosctl provision --help
assert_match 'sign-command CMD' "$OUT" "provision --help: --sign-command"
assert_match 'expect-fingerprint F' "$OUT" "provision --help: --expect-fingerprint"
assert_exit 0 "--version" aosctl --version
assert_match '^aosctl [0-9]' "$OUT" "--version"

section "bad usage: exit 2"
assert_exit 2 "no command" aosctl
assert_exit 2 "unknown command" aosctl frobnicate
assert_match "unknown command 'frobnicate'" "$ERR" "names the command"
assert_exit 2 "unknown option" aosctl status --frobnicate
assert_exit 2 "status with an argument" aosctl status extra
assert_exit 2 "certs with two types" aosctl certs iam sm
assert_exit 2 "provision without a CA" aosctl provision --password-file "$D/pw"
assert_match 'needs --ca-cert FILE and --ca-key FILE, or --sign-command CMD' "$ERR" "says what is missing"
assert_exit 2 "provision with --ca-key and --sign-command" aosctl provision "${CA[@]}" --sign-command true
assert_exit 2 "provision with a missing CA file" aosctl provision --ca-cert "$D/nope.pem" --ca-key "$D/ca/key.pem"
assert_match "nope\\.pem" "$ERR" "names the file"
assert_exit 2 "provision with the key of another CA" aosctl provision --ca-cert "$D/ca/chain.pem" --ca-key "$AOS_TEST_PKI/ca.key"
assert_match 'does not belong to the certificate' "$ERR" "key mismatch explained"
assert_exit 2 "provision with a leaf as CA" aosctl provision --ca-cert "$AOS_TEST_PKI/leaf-both.pem" --ca-key "$AOS_TEST_PKI/leaf-both.key"
assert_match 'not a CA certificate' "$ERR" "not a CA explained"
assert_exit 2 "--days 0" aosctl provision "${CA[@]}" --days 0
assert_exit 2 "--days with --sign-command" aosctl provision --sign-command true --days 5
assert_exit 2 "--expect-fingerprint without --node" aosctl provision "${CA[@]}" --expect-fingerprint "$(printf 'ab%.0s' {1..32})"
assert_exit 2 "--expect-fingerprint malformed" aosctl provision "${CA[@]}" --node n2 --expect-fingerprint xyz
assert_exit 2 "renew without a type" aosctl renew "${CA[@]}" --password-file "$D/pw"
assert_exit 2 "apply-cert without a file" aosctl apply-cert iam
assert_exit 2 "apply-cert with a missing file" aosctl apply-cert iam "$D/nope.pem"
assert_exit 2 "create-key without a type" aosctl create-key --password-file "$D/pw"
assert_exit 2 "watch --count 0" aosctl watch --count 0
assert_exit 2 "pause --node ''" aosctl pause --node ''

section "password input refusals: exit 2, nothing sent"
write_password_file "$D/pw-world" "$PW" 0644
assert_exit 2 "a world-readable password file" aosctl deprovision --password-file "$D/pw-world"
assert_match 'readable by others' "$ERR" "says why"
write_password_file "$D/pw-group" "$PW" 0640
write_password_file "$D/pw-empty" "" 0600
assert_exit 2 "an empty password" aosctl deprovision --password-file "$D/pw-empty"
assert_match 'empty' "$ERR" "says why"
assert_exit 2 "an empty password on stdin" aosctl create-key iam </dev/null
assert_exit 2 "a missing password file" aosctl deprovision --password-file "$D/nope"

section "daemon errors: exit 1 with the error name and the failed step"
# A CA the node does not trust: ApplyCert fails, the step is named.
mkdir -p "$D/other"
cp "$AOS_TEST_PKI/other-ca.pem" "$D/other/ca.pem"
(umask 077 && cp "$AOS_TEST_PKI/other-ca.key" "$D/other/ca.key")
assert_exit 1 "provision signed by an untrusted CA" aosctl provision --ca-cert "$D/other/ca.pem" --ca-key "$D/other/ca.key" --password-file "$D/pw"
assert_match '^\[5/6\] ApplyCert iam \.\.\. failed$' "$OUT" "the failed step on stdout"
assert_no_match 'FinishProvisioning' "$OUT" "stopped at the failure"
assert_match '^aosctl: provision: step 5/6 \(ApplyCert iam\) failed: org\.aosedge\.Certs1\.Error\.InvalidChain: ' "$ERR" \
        "the step, the daemon's error name and text on stderr"
assert_no_secret "$PW" "$OUT$ERR" "the failed provision's output"
assert_eq unprovisioned "$(prov_prop State)" "still unprovisioned"

# A group-readable password file is used, with a warning; StartProvisioning can be repeated.
assert_exit 0 "provision again (Start repeated), group-readable password file" \
        aosctl provision "${CA[@]}" --password-file "$D/pw-group"
assert_match 'warning: password file .* is readable by its group' "$ERR" "the warning"
assert_eq provisioned "$(prov_prop State)" "provisioned"

assert_exit 1 "provision a provisioned node" aosctl provision "${CA[@]}" --password-file "$D/pw"
assert_match '^\[2/6\] StartProvisioning node-e \.\.\. failed$' "$OUT" "step 2 failed"
assert_match 'org\.aosedge\.Provisioning1\.Error\.WrongState' "$ERR" "WrongState"

write_password_file "$D/pw-wrong" "not-the-password"
assert_exit 1 "renew with a wrong password" aosctl renew iam "${CA[@]}" --password-file "$D/pw-wrong"
assert_match '^aosctl: renew: step 1/3 \(CreateKey iam\) failed: org\.aosedge\.Provisioning1\.Error\.WrongPassword' "$ERR" "WrongPassword"
assert_no_secret "not-the-password" "$OUT$ERR" "the wrong password's output"

assert_exit 1 "a sign command that fails" aosctl renew iam --sign-command 'echo "CA says no" >&2; exit 5' --password-file "$D/pw"
assert_match '^\[2/3\] Sign iam \(sign command\) \.\.\. failed$' "$OUT" "the sign step failed"
assert_match 'sign command for type iam exited with status 5' "$ERR" "exit status and type named"
assert_match 'CA says no' "$ERR" "the command's stderr is passed on"
assert_exit 1 "a sign command that prints nothing" aosctl renew iam --sign-command 'cat >/dev/null' --password-file "$D/pw"
assert_match 'sign command for type iam printed no certificate' "$ERR" "empty output named"

assert_exit 1 "create-key for an unknown type" aosctl create-key nosuchtype --password-file "$D/pw"
assert_match 'org\.aosedge\.Certs1\.Error\.NotFound' "$ERR" "NotFound"
assert_exit 1 "apply-cert with garbage" aosctl apply-cert iam "$AOS_TEST_PKI/garbage.pem"
assert_match 'org\.aosedge\.Certs1\.Error\.InvalidChain' "$ERR" "InvalidChain"

assert_exit 0 "pause" aosctl pause
assert_exit 1 "pause twice" aosctl pause
assert_match 'org\.aosedge\.Provisioning1\.Error\.WrongState' "$ERR" "WrongState"
assert_exit 0 "resume" aosctl resume
assert_exit 1 "resume twice" aosctl resume

assert_exit 1 "pause an unknown node" aosctl pause --node ghost-node
assert_match 'org\.aosedge\.Provisioning1\.Error\.(NodeNotFound|NodeUnreachable)' "$ERR" "NodeNotFound"

section "polkit: an unprivileged caller is refused (exit 1), reads stay open"
assert_exit 1 "pause as nobody" as_user "$NOBODY_UID" aosctl --no-ask-password pause
assert_match 'org\.freedesktop\.DBus\.Error\.(AccessDenied|InteractiveAuthorizationRequired)' "$ERR" "refused by polkit"
assert_eq provisioned "$(prov_prop State)" "state unchanged"
assert_exit 0 "status as nobody" as_user "$NOBODY_UID" aosctl status
assert_exit 0 "certs as nobody" as_user "$NOBODY_UID" aosctl certs

section "--expect-fingerprint: no NodeLink1, so it cannot verify; no password is sent"
start_monitor prov "type='method_call',interface='$PROV_IFACE'"
write_password_file "$D/pw-n2" "fp-Secret-Pw-for-node-2"
assert_exit 1 "provision --node with --expect-fingerprint" \
        aosctl provision --node node-2 --expect-fingerprint "sha256:$(printf 'AB:%.0s' {1..31})AB" "${CA[@]}" --password-file "$D/pw-n2"
assert_match '^aosctl provision: cannot verify the fingerprint of node node-2: ListNodes: org\.freedesktop\.DBus\.Error\.(ServiceUnknown|NameHasNoOwner): .*not sending the password$' \
        "$ERR" "the clear 'cannot verify' error"
assert_eq "" "$OUT" "no step was run"
sleep 0.2
stop_monitor prov
assert_no_match 'member=StartProvisioning' "$(cat "$(monitor_file prov)")" "no StartProvisioning call on the bus"
assert_no_match 'fp-Secret-Pw-for-node-2' "$(cat "$(monitor_file prov)")" "the password never went over the bus"

section "aos-provisiond not running: status still shows the certificates; the rest exits 3"
stop_provisiond
assert_exit 0 "status without aos-provisiond" aosctl status
assert_match 'aos-provisiond is unreachable \(org\.freedesktop\.DBus\.Error\.(ServiceUnknown|NameHasNoOwner)' "$OUT" "says provisiond is unreachable"
assert_match "^iam +CN=$NODE " "$OUT" "still shows the iam certificate"
assert_exit 0 "status --json without aos-provisiond" aosctl status --json
assert_match '"nodeId":null,"state":null' "$OUT" "status --json: no node data"
assert_match '"provisiond":\{"reachable":false,"error":"org\.freedesktop\.DBus\.Error\.' "$OUT" "status --json: unreachable, with the error"
assert_match '"modules":\[\{"type":"iam","certificate":\{"type":"iam"' "$OUT" "status --json: the certificates"
assert_true "status --json is valid JSON" json_valid "$OUT"
assert_exit 3 "pause without aos-provisiond" aosctl pause
assert_match 'org\.freedesktop\.DBus\.Error\.(ServiceUnknown|NameHasNoOwner)' "$ERR" "the bus error name"
assert_exit 3 "provision without aos-provisiond" aosctl provision "${CA[@]}" --password-file "$D/pw"
assert_exit 3 "renew without aos-provisiond" aosctl renew iam --node "$NODE" "${CA[@]}" --password-file "$D/pw"
assert_match '^\[1/3\] CreateKey iam \.\.\. failed$' "$OUT" "the failed step"

section "aos-certd not running either: exit 3"
stop_certd
assert_exit 3 "certs without aos-certd" aosctl certs
assert_exit 3 "status without any daemon" aosctl status

section "no bus at all: exit 3"
assert_exit 3 "status, no bus" env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$D/no-such-socket" "$AOSCTL_BIN" status
assert_match 'cannot connect to the system bus' "$ERR" "says so"
assert_exit 3 "certs, no bus" env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$D/no-such-socket" "$AOSCTL_BIN" certs
assert_exit 3 "watch, no bus" env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$D/no-such-socket" "$AOSCTL_BIN" watch
assert_exit 3 "pause, no bus" env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$D/no-such-socket" "$AOSCTL_BIN" pause

assert_no_secret_in_provisiond_log "$PW"
harness_finish
