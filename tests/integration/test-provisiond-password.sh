#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-provisiond, the provisioning password: FinishProvisioning, CreateKey and Deprovision with a
# wrong password are refused with WrongPassword and change nothing; each further wrong attempt
# is answered later than the one before (measured), parallel guesses are checked one after the
# other, the right password resets the delay; the log records the failure but no password; empty
# and overlong passwords are InvalidArgs; a damaged verifier; without a verifier CreateKey is
# checked by aos-certd (its WrongPassword passes through).
. "$(dirname "$0")/lib.sh"

prov_harness_init
require_provisiond
start_bus || harness_finish
start_polkitd || harness_finish
setup_softhsm

PW='password-Prov-Pw-0b5f13'
WRONG='wrong-Guess-77a0c2'

write_config
module iam pkcs11 ecdsa "clientAuth" "" 2
node_section
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish

# timed_error ERRNAME CMD...: assert_error, and how long the call took in $MS (ms).
timed_error() {
        local t0 t1
        t0=$(date +%s%N)
        assert_error "$@"
        t1=$(date +%s%N)
        MS=$(((t1 - t0) / 1000000))
}
pending_keys() { json_data "$(certs_prop "$(module_path iam)" "$MODULE_IFACE" PendingKeys)"; }

assert_ok prov_call StartProvisioning ss "" "$PW"

section "arguments"
assert_error "$E_INVALID_ARGS" prov_try FinishProvisioning ss "" ""
assert_error "$E_INVALID_ARGS" prov_try StartProvisioning ss "" ""
long=$(printf 'p%.0s' {1..257})
assert_error "$E_INVALID_ARGS" prov_try CreateKey ssss "" iam "" "$long"
assert_match "257 bytes long; at most 256" "$ERR" "names the length"
assert_error "$E_INVALID_ARGS" prov_try Deprovision ss "" "$long"

section "a wrong password changes nothing, and every further one waits longer"
sleep 1
timed_error "$E_PROV_WRONG_PASSWORD" prov_try FinishProvisioning ss "" "$WRONG"
t1=$MS
assert_no_match "$WRONG" "$ERR" "the error does not echo the password"
timed_error "$E_PROV_WRONG_PASSWORD" prov_try FinishProvisioning ss "" "$WRONG"
t2=$MS
timed_error "$E_PROV_WRONG_PASSWORD" prov_try CreateKey ssss "" iam "" "$WRONG"
t3=$MS
log "# answer times of three wrong passwords in a row: $t1 ms, $t2 ms, $t3 ms"
assert_cmp "$t2" -gt "$t1" "the 2nd wrong attempt takes longer than the 1st (ms)"
assert_cmp "$t3" -gt "$t2" "the 3rd wrong attempt takes longer than the 2nd (ms)"
assert_cmp "$t2" -ge 200 "the 2nd waits about 250 ms (ms)"
assert_eq unprovisioned "$(prov_state)" "State unchanged"
assert_eq 0 "$(pending_keys)" "no key was made for the refused CreateKey"
assert_match "Wrong provisioning password in FinishProvisioning" "$(cat "$D/provisiond.log")" "the failure is logged"
assert_match "Wrong provisioning password in CreateKey" "$(cat "$D/provisiond.log")" "with the method"

section "the right password after a wait works and resets the delay"
sleep 1.2
assert_ok prov_call CreateKey ssss "" iam "" "$PW"
assert_eq 1 "$(pending_keys)" "the key was made"
timed_error "$E_PROV_WRONG_PASSWORD" prov_try FinishProvisioning ss "" "$WRONG"
assert_cmp "$MS" -lt "$t3" "the delay started over (ms)"
sleep 0.5

section "guesses in parallel are checked one after the other"
sleep 1
t0=$(date +%s%N)
pids=()
for i in 1 2 3; do
        prov_try CreateKey ssss "" iam "" "$WRONG-$i" >"$D/par.$i" 2>&1 &
        pids+=($!)
done
wait "${pids[@]}"
t1=$(date +%s%N)
for i in 1 2 3; do
        assert_match "$E_PROV_WRONG_PASSWORD" "$(cat "$D/par.$i")" "parallel guess $i refused"
done
assert_cmp $(((t1 - t0) / 1000000)) -ge 700 "three parallel guesses take at least 250 + 500 ms (ms)"
assert_eq 1 "$(pending_keys)" "no key made for them"

section "FinishProvisioning and Deprovision with the right password"
sleep 2.2
assert_ok prov_call FinishProvisioning ss "" "$PW"
assert_eq provisioned "$(prov_state)" "State"
assert_error "$E_PROV_WRONG_PASSWORD" prov_try Deprovision ss "" "$WRONG"
assert_eq provisioned "$(prov_state)" "Deprovision with a wrong password changes nothing"
assert_true "the verifier is still there" test -e "$PROV_STATE_FILE.password"
sleep 0.6
assert_ok prov_call Deprovision ss "" "$PW"
assert_eq unprovisioned "$(prov_state)" "State"

section "a damaged verifier"
assert_ok prov_call StartProvisioning ss "" "$PW"
printf 'pbkdf2-sha256$garbage\n' >"$PROV_STATE_FILE.password"
assert_error "$E_WRONG_STATE" prov_try FinishProvisioning ss "" "$PW"
assert_match "password record .* is damaged; repeat StartProvisioning" "$ERR" "says what to do"
# CreateKey falls back to aos-certd's check.
assert_ok prov_call CreateKey ssss "" iam "" "$PW"
assert_error "$E_WRONG_PASSWORD" prov_try CreateKey ssss "" iam "" "$WRONG"
assert_match "wrong password for module iam" "$ERR" "aos-certd's answer passes through"
assert_ok prov_call StartProvisioning ss "" "$PW"
assert_ok prov_call FinishProvisioning ss "" "$PW"

section "a node provisioned without a verifier: CreateKey is checked by aos-certd"
rm -f "$PROV_STATE_FILE.password"
assert_ok restart_provisiond --provisioning
sleep 1
assert_error "$E_WRONG_PASSWORD" prov_try CreateKey ssss "" iam "" "$WRONG"
assert_ok prov_call CreateKey ssss "" iam "" "$PW"
assert_ok prov_call Deprovision ss "" "$WRONG"
assert_eq unprovisioned "$(prov_state)" "Deprovision without a verifier is not blocked (logged)"

assert_no_secret_in_provisiond_log "$PW" "$WRONG"
stop_provisiond
stop_certd
harness_finish
