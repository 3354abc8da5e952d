#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-provisiond, authorization: every mutating method (StartProvisioning, CreateKey,
# ApplyCert, FinishProvisioning, Deprovision: org.aosedge.provisioning.provision; PauseNode,
# ResumeNode: org.aosedge.provisioning.pause) is refused for uid 65534 with AccessDenied or
# InteractiveAuthorizationRequired, with and without the interactive flag, before the state or
# the password is looked at, and changes nothing; allowed for root and for the test user the
# test rule grants org.aosedge.*; a user granted only the pause action may pause and resume but
# not provision; the reads (GetCertTypes, properties, introspection) are open to uid 65534.
. "$(dirname "$0")/lib.sh"

prov_harness_init
require_provisiond
start_bus || harness_finish
start_polkitd || harness_finish

PW='polkit-Prov-Pw-51b0e8'
DENIED="$E_ACCESS_DENIED|$E_INTERACTIVE"
PAUSE_UID=4343
PAUSE_USER=aospause
H=$D/hooks
mkdir -p "$H"
printf '#!/bin/sh\nprintf "%%s\\n" "$AOS_PROVISIONING_STEP" >>%s/ran\n' "$H" >"$H/hook.sh"
chmod 0755 "$H/hook.sh"
: >"$H/ran"

write_config
module iam sw ecdsa "clientAuth" "" 2
module online sw ecdsa "" "" 1 SelfSigned=yes
node_section
provisioning_section "StartCommand=$H/hook.sh" "FinishCommand=$H/hook.sh" "DeprovisionCommand=$H/hook.sh"
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish

# A user that polkit grants only the pause action (appended in place: the bind mounts of the
# bus's and polkitd's namespaces see it).
getent passwd "$PAUSE_UID" >/dev/null ||
        echo "$PAUSE_USER:x:$PAUSE_UID:$PAUSE_UID:pause only:/nonexistent:/usr/sbin/nologin" >>"$D/etc/passwd"
PAUSE_USER=$(awk -F: -v u="$PAUSE_UID" '$3 == u {print $1; exit}' "$D/etc/passwd")
cat >"$D/polkit/rules.d/60-aos-pause-only.rules" <<EOF
polkit.addRule(function(action, subject) {
        if (action.id == "org.aosedge.provisioning.pause" && subject.user == "$PAUSE_USER") {
                return polkit.Result.YES;
        }
        return polkit.Result.NOT_HANDLED;
});
EOF
chmod 0644 "$D/polkit/rules.d/60-aos-pause-only.rules"

nobody() { as_user "$NOBODY_UID" "$@"; }
tester() { as_user "$TEST_UID" "$@"; }
pauser() { as_user "$PAUSE_UID" "$@"; }
hooks_ran() { wc -l <"$H/ran"; }

# refused WHO STATE_WANTED METHOD SIG ARGS...: refused by polkit, state and hooks unchanged.
refused() {
        local who=$1 state=$2 before
        shift 2
        before=$(hooks_ran)
        assert_error "$DENIED" "$who" prov_try "$@"
        assert_eq "$state" "$(prov_state)" "$who $1: State unchanged"
        assert_eq "$before" "$(hooks_ran)" "$who $1: no hook ran"
}

section "uid $NOBODY_UID: every mutating method refused before anything else is looked at"
# Unprovisioned, never started: without polkit these would be WrongState or NotOwned; a wrong
# password must not even be checked (no oracle).
for pw in "$PW" "not-the-password"; do
        refused nobody unprovisioned StartProvisioning ss "" "$pw"
        refused nobody unprovisioned FinishProvisioning ss "" "$pw"
        refused nobody unprovisioned Deprovision ss "" "$pw"
        refused nobody unprovisioned CreateKey ssss "" iam "" "$pw"
done
refused nobody unprovisioned ApplyCert sss "" iam "not a chain"
refused nobody unprovisioned PauseNode s ""
refused nobody unprovisioned ResumeNode s ""
# with the interactive flag (no agent can answer here)
for m in "StartProvisioning '' '$PW'" "FinishProvisioning '' '$PW'" "Deprovision '' '$PW'" \
        "CreateKey '' 'iam' '' '$PW'" "ApplyCert '' 'iam' 'x'" "PauseNode ''" "ResumeNode ''"; do
        # shellcheck disable=SC2086 # GVariant words
        eval "set -- $m"
        assert_error "$DENIED" nobody prov_try_interactive "$@"
done
assert_eq unprovisioned "$(prov_state)" "State"
assert_true "no verifier was made" test ! -e "$PROV_STATE_FILE.password"

section "uid $NOBODY_UID: the reads are open"
assert_ok nobody prov_call GetCertTypes s ""
assert_eq iam "$(json_strings "$OUT" | xargs)" "GetCertTypes"
for p in NodeId State StateDetail ProvisioningMode MainNode; do
        assert_ok nobody prov_prop "$p"
done
assert_ok nobody busctl --system --json=short call "$PROV_DEST" "$PROV_PATH" org.freedesktop.DBus.Properties \
        GetAll s "$PROV_IFACE"
assert_ok nobody busctl --system introspect "$PROV_DEST" "$PROV_PATH"

section "uid $TEST_UID ($TEST_USER): allowed"
run polkit_check org.aosedge.provisioning.provision "$TEST_UID"
assert_match '^\(bba\{ss\}\) true' "$OUT" "polkit grants uid $TEST_UID"
assert_ok tester prov_call StartProvisioning ss "" "$PW"
assert_ok tester prov_call CreateKey ssss "" iam "" "$PW"
reply_string "$OUT" >"$D/t.csr"
assert_ok sign_csr "$D/t.csr" "$D/t.pem" ca days=100
assert_ok tester prov_call ApplyCert sss "" iam "$(cat "$D/t.pem")"
assert_ok tester prov_call FinishProvisioning ss "" "$PW"
assert_eq provisioned "$(prov_state)" "State"

section "uid $NOBODY_UID on a provisioned node"
refused nobody provisioned PauseNode s ""
refused nobody provisioned Deprovision ss "" "$PW"
refused nobody provisioned CreateKey ssss "" iam "" "$PW"
refused nobody provisioned ApplyCert sss "" iam "$(cat "$D/t.pem")"

section "uid $PAUSE_UID ($PAUSE_USER): the pause action only"
for _ in $(seq 1 20); do
        run polkit_check org.aosedge.provisioning.pause "$PAUSE_UID"
        [[ $OUT == "(bba{ss}) true"* ]] && break
        sleep 0.25
done
assert_match '^\(bba\{ss\}\) true' "$OUT" "polkit grants uid $PAUSE_UID the pause action"
assert_ok pauser prov_call PauseNode s ""
assert_eq paused "$(prov_state)" "PauseNode by uid $PAUSE_UID"
refused pauser paused Deprovision ss "" "$PW"
refused pauser paused CreateKey ssss "" iam "" "$PW"
refused pauser paused StartProvisioning ss "" "$PW"
assert_ok pauser prov_call ResumeNode s ""
assert_eq provisioned "$(prov_state)" "ResumeNode by uid $PAUSE_UID"

section "uid $TEST_UID: the rest"
assert_ok tester prov_call PauseNode s ""
assert_ok tester prov_call ResumeNode s ""
assert_ok tester prov_call Deprovision ss "" "$PW"
assert_eq unprovisioned "$(prov_state)" "State"

section "root"
assert_ok prov_call StartProvisioning ss "" "$PW"
assert_ok prov_call CreateKey ssss "" iam "" "$PW"
reply_string "$OUT" >"$D/r.csr"
assert_ok sign_csr "$D/r.csr" "$D/r.pem" ca days=100
assert_ok prov_call ApplyCert sss "" iam "$(cat "$D/r.pem")"
assert_ok prov_call FinishProvisioning ss "" "$PW"
assert_ok prov_call PauseNode s ""
assert_ok prov_call ResumeNode s ""
assert_ok prov_call Deprovision ss "" "$PW"
assert_eq unprovisioned "$(prov_state)" "State"

section "the rule decides at call time"
rm -f "$D/polkit/rules.d/50-aos-integration.rules"
for _ in $(seq 1 20); do
        run polkit_check org.aosedge.provisioning.provision "$TEST_UID"
        [[ $OUT == "(bba{ss}) true"* ]] || break
        sleep 0.25
done
if [[ $OUT == "(bba{ss}) true"* ]]; then
        skip "polkitd did not reload its rules in time"
else
        refused tester unprovisioned StartProvisioning ss "" "$PW"
fi

assert_no_secret_in_provisiond_log "$PW"
stop_provisiond
stop_certd
harness_finish
