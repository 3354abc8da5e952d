#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-provisiond, the state rules: every state-changing method from every state
# (unprovisioned before and after StartProvisioning, provisioned, paused, error) in provisioning
# mode and without it: WrongState naming the state (and the reason for "error"),
# NotInProvisioningMode, or the expected new state, persisted; a refused call runs no hook; an
# unknown node id is NodeNotFound; while a provisioning call runs, every other mutating call is
# refused as busy.
. "$(dirname "$0")/lib.sh"

prov_harness_init
require_provisiond
start_bus || harness_finish
start_polkitd || harness_finish

PW='states-Prov-Pw-35aa0e'
HOOKS=$D/hooks
mkdir -p "$HOOKS"
cat >"$HOOKS/hook.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$1" >>"$HOOKS/ran"
if [ "\$1" = start ] && [ -e "$HOOKS/hold" ]; then
        : >"$HOOKS/holding"
        while [ -e "$HOOKS/hold" ]; do sleep 0.05; done
fi
exit 0
EOF
chmod 0755 "$HOOKS/hook.sh"
: >"$HOOKS/ran"

write_config
module iam sw ecdsa "clientAuth" "" 2
module online sw ecdsa "" "" 1 SelfSigned=yes
node_section
provisioning_section "StartCommand=$HOOKS/hook.sh start" "DiskEncryptionCommand=$HOOKS/hook.sh disk" \
        "FinishCommand=$HOOKS/hook.sh finish" "DeprovisionCommand=$HOOKS/hook.sh deprovision"
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish

# A verifier of $PW, to make "StartProvisioning has completed" at will.
assert_ok prov_call StartProvisioning ss "" "$PW"
cp "$PROV_STATE_FILE.password" "$D/verifier.saved"

# set_state STATE started|fresh MODE: the daemon restarted in STATE (error: a garbage state
# file), with or without the verifier, in provisioning mode (MODE "prov") or not.
set_state() {
        local state=$1 started=$2 mode=$3
        stop_provisiond
        mkdir -p "$(dirname "$PROV_STATE_FILE")"
        case $state in
        unprovisioned) rm -f "$PROV_STATE_FILE" ;;
        error) printf 'provisoned\n' >"$PROV_STATE_FILE" ;;
        *) printf '%s\n' "$state" >"$PROV_STATE_FILE" ;;
        esac
        if [[ $started == started ]]; then
                install -m 0600 "$D/verifier.saved" "$PROV_STATE_FILE.password"
        else
                rm -f "$PROV_STATE_FILE.password"
        fi
        if [[ $mode == prov ]]; then
                start_provisiond --provisioning
        else
                start_provisiond
        fi
}

hooks_ran() { wc -l <"$HOOKS/ran"; }

call_method() {
        case $1 in
        StartProvisioning | FinishProvisioning | Deprovision) prov_try "$1" ss "" "$PW" ;;
        PauseNode | ResumeNode) prov_try "$1" s "" ;;
        esac
}

# expect STATE STARTED MODE METHOD RESULT: RESULT is "ok:NEWSTATE", "WrongState" or
# "NotInProvisioningMode".
expect() {
        local state=$1 started=$2 mode=$3 method=$4 result=$5 what
        what="$method from $state ($started, ${mode/prov/provisioning mode})"
        what=${what/(fresh, normal)/(fresh, normal mode)}
        what=${what/(started, normal)/(started, normal mode)}
        set_state "$state" "$started" "$mode" || { fail "$what: cannot set the state"; return 1; }
        local before
        before=$(hooks_ran)
        case $result in
        ok:*)
                if run call_method "$method"; then
                        pass "$what succeeds"
                else
                        fail "$what: $ERR"
                        return 1
                fi
                assert_eq "${result#ok:}" "$(prov_state)" "$what: State"
                # persisted: a restart reads it back
                restart_provisiond
                assert_eq "${result#ok:}" "$(prov_state)" "$what: State after a restart"
                ;;
        WrongState)
                assert_error "$E_WRONG_STATE" call_method "$method"
                if [[ $state == error ]]; then
                        assert_match "state error \(state file .* holds \"provisoned" "$ERR" "$what: names the reason"
                elif [[ $method == FinishProvisioning && $state == unprovisioned ]]; then
                        assert_match "StartProvisioning has not completed" "$ERR" "$what: says why"
                else
                        assert_match "The node is $state;" "$ERR" "$what: names the state"
                fi
                assert_eq "$state" "$(prov_state)" "$what: State unchanged"
                assert_eq "$before" "$(hooks_ran)" "$what: no hook ran"
                ;;
        NotInProvisioningMode)
                assert_error "$E_NOT_IN_PROV_MODE" call_method "$method"
                assert_eq "$state" "$(prov_state)" "$what: State unchanged"
                assert_eq "$before" "$(hooks_ran)" "$what: no hook ran"
                ;;
        esac
}

for mode in prov normal; do
        section "every method from every state, ${mode/prov/provisioning} mode"
        if [[ $mode == prov ]]; then
                START=ok:unprovisioned
                DEPROV=ok:unprovisioned
        else
                START=NotInProvisioningMode
                DEPROV=NotInProvisioningMode
        fi
        # Deprovision without provisioning mode is refused before the state is looked at.
        [[ $mode == prov ]] && DEPROV_BAD=WrongState || DEPROV_BAD=NotInProvisioningMode
        [[ $mode == prov ]] && START_BAD=WrongState || START_BAD=NotInProvisioningMode

        expect unprovisioned fresh "$mode" StartProvisioning "$START"
        expect unprovisioned fresh "$mode" FinishProvisioning WrongState
        expect unprovisioned fresh "$mode" Deprovision "$DEPROV_BAD"
        expect unprovisioned fresh "$mode" PauseNode WrongState
        expect unprovisioned fresh "$mode" ResumeNode WrongState

        expect unprovisioned started "$mode" StartProvisioning "$START"
        expect unprovisioned started "$mode" FinishProvisioning ok:provisioned
        expect unprovisioned started "$mode" Deprovision "$DEPROV_BAD"
        expect unprovisioned started "$mode" PauseNode WrongState
        expect unprovisioned started "$mode" ResumeNode WrongState

        expect provisioned started "$mode" StartProvisioning "$START_BAD"
        expect provisioned started "$mode" FinishProvisioning WrongState
        expect provisioned started "$mode" Deprovision "$DEPROV"
        expect provisioned started "$mode" PauseNode ok:paused
        expect provisioned started "$mode" ResumeNode WrongState

        expect paused started "$mode" StartProvisioning "$START_BAD"
        expect paused started "$mode" FinishProvisioning WrongState
        expect paused started "$mode" Deprovision "$DEPROV"
        expect paused started "$mode" PauseNode WrongState
        expect paused started "$mode" ResumeNode ok:provisioned

        # "error": only Deprovision, the operator's way out (and only in provisioning mode).
        expect error started "$mode" StartProvisioning "$START_BAD"
        expect error started "$mode" FinishProvisioning WrongState
        expect error started "$mode" Deprovision "$DEPROV"
        expect error started "$mode" PauseNode WrongState
        expect error started "$mode" ResumeNode WrongState
done

section "the verifier decides FinishProvisioning, and Deprovision works without one"
expect provisioned fresh prov Deprovision ok:unprovisioned
expect paused fresh prov Deprovision ok:unprovisioned
assert_match "Deprovision proceeds without checking the password" "$(cat "$D/provisiond.log")" \
        "a Deprovision without a verifier is logged"

section "the error state"
set_state error started prov
assert_eq error "$(prov_state)" "State"
assert_match "^state file $PROV_STATE_FILE holds .*provisoned.*x0a" "$(prov_prop StateDetail)" \
        "StateDetail names the file and what it holds"
assert_match "state error" "$(grep -a 'is in state error' "$D/provisiond.log" | tail -n1)" "logged at start"
assert_ok prov_call GetCertTypes s ""
assert_eq iam "$(json_strings "$OUT" | xargs)" "reads work in state error"
assert_ok prov_call Deprovision ss "" "$PW"
assert_eq unprovisioned "$(prov_state)" "State after Deprovision from error"
assert_eq "" "$(prov_prop StateDetail)" "StateDetail is empty again"
assert_true "the garbage state file is gone" test ! -e "$PROV_STATE_FILE"
assert_true "the daemon still runs" provisiond_alive

section "other nodes: a main node forwards them over the node link (not running here)"
set_state provisioned started prov
for m in "StartProvisioning ss other-node $PW" "FinishProvisioning ss other-node $PW" \
        "Deprovision ss other-node $PW" "PauseNode s other-node" "ResumeNode s other-node" \
        "GetCertTypes s other-node" "CreateKey ssss other-node iam x $PW" "ApplyCert sss other-node iam x"; do
        # shellcheck disable=SC2086 # split on purpose
        assert_error "$E_NODE_UNREACHABLE" prov_try $m
done
assert_error "$E_INVALID_ARGS" prov_try PauseNode s "bad/id"
assert_error "$E_INVALID_ARGS" prov_try GetCertTypes s "$(printf 'x%.0s' {1..65})"
assert_eq provisioned "$(prov_state)" "State unchanged"

section "one provisioning call at a time"
set_state unprovisioned fresh prov
: >"$HOOKS/hold"
prov_call StartProvisioning ss "" "$PW" >"$D/bg.out" 2>&1 &
bg=$!
assert_true "StartProvisioning is running its start hook" wait_until 10 test -e "$HOOKS/holding"
assert_error "$E_WRONG_STATE" prov_try StartProvisioning ss "" "$PW"
assert_match "busy: StartProvisioning is running" "$ERR" "a second StartProvisioning is refused as busy"
assert_error "$E_WRONG_STATE" prov_try FinishProvisioning ss "" "$PW"
assert_error "$E_WRONG_STATE" prov_try Deprovision ss "" "$PW"
assert_error "$E_WRONG_STATE" prov_try PauseNode s ""
assert_error "$E_WRONG_STATE" prov_try ResumeNode s ""
assert_error "$E_WRONG_STATE" prov_try CreateKey ssss "" iam "" "$PW"
assert_error "$E_WRONG_STATE" prov_try ApplyCert sss "" iam "x"
assert_ok prov_call GetCertTypes s ""
assert_eq unprovisioned "$(prov_state)" "reads answer while it runs"
rm -f "$HOOKS/hold"
wait "$bg"
assert_eq 0 "$?" "the first StartProvisioning completes"
assert_ok prov_call FinishProvisioning ss "" "$PW"
assert_eq provisioned "$(prov_state)" "State"

section "a stop while a call runs answers it"
set_state unprovisioned fresh prov
: >"$HOOKS/hold"
rm -f "$HOOKS/holding"
prov_try StartProvisioning ss "" "$PW" >"$D/bg.out" 2>&1 &
bg=$!
assert_true "StartProvisioning is running its start hook" wait_until 10 test -e "$HOOKS/holding"
stop_provisiond
wait "$bg"
assert_match "aos-provisiond is stopping; StartProvisioning was interrupted and can be repeated" \
        "$(cat "$D/bg.out")" "the caller is told"
rm -f "$HOOKS/hold"
assert_ok start_provisiond --provisioning
assert_ok prov_call StartProvisioning ss "" "$PW"

section "a secondary node knows no other node"
stop_provisiond
mkdir -p "$CONFIG.d"
printf '[Node]\nMainNode=no\n' >"$CONFIG.d/50-secondary.conf"
assert_ok start_provisiond --provisioning
assert_eq false "$(prov_prop MainNode)" "MainNode after the drop-in"
assert_error "$E_NODE_NOT_FOUND" prov_try GetCertTypes s other-node
assert_error "$E_NODE_NOT_FOUND" prov_try PauseNode s other-node
rm -f "$CONFIG.d/50-secondary.conf"

assert_no_secret_in_provisiond_log "$PW"
stop_provisiond
stop_certd
harness_finish
