#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-provisiond, the hooks: a failing hook (exit status and the last lines of its stderr in the
# HookFailed message) stops its call before anything else happens and leaves a state from which
# the call can be repeated, for each of the four hooks; a hook that runs too long is killed with
# everything it started ("timed out after N s"); a hook that prints 10 MB neither fills the
# daemon's memory nor the error message; a hook that cannot be executed; a plain name found in
# PATH; arguments passed without a shell; the daemon answers other calls while a hook runs.
. "$(dirname "$0")/lib.sh"

prov_harness_init
require_provisiond
start_bus || harness_finish
start_polkitd || harness_finish

PW='hooks-Prov-Pw-c05e61'
H=$D/hooks
mkdir -p "$H"

# hook NAME BODY: an executable sh script $H/NAME.
hook() {
        printf '#!/bin/sh\n%s\n' "$2" >"$H/$1"
        chmod 0755 "$H/$1"
}
# shellcheck disable=SC2016 # the hooks expand their own variables
hook ok 'printf "%s\n" "$AOS_PROVISIONING_STEP" >>'"$H/ran"'; exit 0'
hook fail 'printf "%s\n" "$AOS_PROVISIONING_STEP" >>'"$H/ran"'
i=1; while [ $i -le 15 ]; do echo "diagnostic $i of $AOS_PROVISIONING_STEP" >&2; i=$((i+1)); done
echo "stdout is not in the message"
exit 7'
hook hang 'sleep 1000 & echo $! >'"$H/hang.child"'; echo $$ >'"$H/hang.pid"'; echo "hanging now" >&2; sleep 1000'
hook loud 'head -c 10485760 /dev/zero | tr "\0" "o"; yes "a loud error line" | head -c 10485760 >&2; exit ${1:-0}'
hook slow 'sleep 3; exit 0'
hook args 'i=0; for a in "$@"; do i=$((i+1)); printf "%s=[%s]\n" $i "$a"; done >'"$H/args.out"
printf 'not a program\n' >"$H/noexec"
chmod 0644 "$H/noexec"

# setup KEY=VALUE...: a fresh config with these [Provisioning] keys, the daemon restarted in
# provisioning mode, in state unprovisioned (STATE=provisioned: provisioned by the ok hooks).
setup() {
        stop_provisiond
        rm -f "$PROV_STATE_FILE" "$PROV_STATE_FILE.password" "$H/ran"
        write_config
        module iam sw ecdsa "clientAuth" "" 2
        module online sw ecdsa "" "" 1 SelfSigned=yes
        node_section
        provisioning_section "HookTimeoutSec=1" "$@"
        start_provisiond --provisioning
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PROVISIOND_PID/status"; }
cleared_count() { grep -ac 'EVENT=cleared' "$D/certd.log"; }

write_config
module iam sw ecdsa "clientAuth" "" 2
module online sw ecdsa "" "" 1 SelfSigned=yes
assert_ok start_certd || harness_finish

section "the start hook fails: nothing else runs"
setup "StartCommand=$H/fail" "DiskEncryptionCommand=$H/ok"
c0=$(cleared_count)
assert_error "$E_HOOK_FAILED" prov_try StartProvisioning ss "" "$PW"
assert_match "start hook $H/fail exited with status 7" "$ERR" "names the hook and its exit status"
assert_match "diagnostic 15 of start" "$ERR" "has the last line of its stderr"
assert_match "diagnostic 6 of start" "$ERR" "has the last ten lines"
assert_no_match "diagnostic 5 of start" "$ERR" "not more than ten lines"
assert_no_match "stdout is not in the message" "$ERR" "not its stdout"
assert_eq "start" "$(xargs <"$H/ran")" "the disk-encryption hook did not run"
assert_eq "$c0" "$(cleared_count)" "no module was cleared"
assert_eq unprovisioned "$(prov_state)" "State"
assert_true "no verifier" test ! -e "$PROV_STATE_FILE.password"
assert_error "$E_WRONG_STATE" prov_try FinishProvisioning ss "" "$PW"
assert_match "failed: $E_HOOK_FAILED: start hook $H/fail exited with status 7" "$(cat "$D/provisiond.log")" \
        "the failure is logged"

section "the disk-encryption hook fails: StartProvisioning is not complete"
setup "StartCommand=$H/ok" "DiskEncryptionCommand=$H/fail"
assert_error "$E_HOOK_FAILED" prov_try StartProvisioning ss "" "$PW"
assert_match "disk-encryption hook $H/fail exited with status 7" "$ERR" "names the hook"
assert_match "diagnostic 15 of disk-encryption" "$ERR" "has its stderr"
assert_true "no verifier" test ! -e "$PROV_STATE_FILE.password"
assert_error "$E_WRONG_STATE" prov_try FinishProvisioning ss "" "$PW"
# fixed: the same call again
setup "StartCommand=$H/ok" "DiskEncryptionCommand=$H/ok"
assert_ok prov_call StartProvisioning ss "" "$PW"

section "the finish hook fails: still unprovisioned, FinishProvisioning can be repeated"
setup "FinishCommand=$H/fail"
assert_ok prov_call StartProvisioning ss "" "$PW"
assert_error "$E_HOOK_FAILED" prov_try FinishProvisioning ss "" "$PW"
assert_match "finish hook $H/fail exited with status 7" "$ERR" "names the hook"
assert_eq unprovisioned "$(prov_state)" "State"
assert_true "no state file" test ! -e "$PROV_STATE_FILE"
cp "$H/ok" "$H/fail.saved"
cp "$H/fail" "$H/fail.orig"
cp "$H/ok" "$H/fail"
assert_ok prov_call FinishProvisioning ss "" "$PW"
assert_eq provisioned "$(prov_state)" "State after the repeated FinishProvisioning"
cp "$H/fail.orig" "$H/fail"

section "the deprovision hook fails: still provisioned, nothing cleared"
setup "DeprovisionCommand=$H/fail"
assert_ok prov_call StartProvisioning ss "" "$PW"
assert_ok prov_call FinishProvisioning ss "" "$PW"
assert_eq 1 "$(list_count online)" "the self-signed certificate"
c0=$(cleared_count)
assert_error "$E_HOOK_FAILED" prov_try Deprovision ss "" "$PW"
assert_match "deprovision hook $H/fail exited with status 7" "$ERR" "names the hook"
assert_eq provisioned "$(prov_state)" "State"
assert_eq "$c0" "$(cleared_count)" "no module was cleared"
assert_eq 1 "$(list_count online)" "the certificate is still there"
assert_true "the verifier is still there" test -e "$PROV_STATE_FILE.password"

section "a hook that runs too long is killed, with its children"
setup "StartCommand=$H/hang"
t0=$(date +%s%N)
assert_error "$E_HOOK_FAILED" prov_try StartProvisioning ss "" "$PW"
t1=$(date +%s%N)
assert_match "start hook $H/hang timed out after 1 s and was killed" "$ERR" "timed out after 1 s"
assert_match "hanging now" "$ERR" "with its stderr"
assert_cmp $(((t1 - t0) / 1000000)) -lt 4000 "answered soon after the timeout (ms)"
for f in hang.pid hang.child; do
        p=$(cat "$H/$f")
        assert_true "process $p ($f) is gone" wait_until 5 bash -c \
                "! [ -e /proc/$p ] || grep -q '^State:.*Z' /proc/$p/status"
done
assert_eq unprovisioned "$(prov_state)" "State"
assert_true "the daemon still runs" provisiond_alive

section "a hook that prints 10 MB"
setup "StartCommand=$H/loud" "DiskEncryptionCommand=$H/loud 5"
rss0=$(rss_kb)
assert_error "$E_HOOK_FAILED" prov_try StartProvisioning ss "" "$PW"
rss1=$(rss_kb)
assert_match "disk-encryption hook $H/loud exited with status 5" "$ERR" "the second hook failed"
assert_match "a loud error line" "$ERR" "its last lines are in the message"
assert_cmp "${#ERR}" -lt 2000 "the message stays short (bytes)"
assert_cmp $((rss1 - rss0)) -lt 4096 "the daemon's memory grew by less than 4 MB (kB)"
assert_true "the daemon still runs" provisiond_alive

section "hooks that cannot be executed"
for cmd in "$H/missing" "$H/noexec" "$H" "relative/hook" "aos-no-such-command"; do
        setup "StartCommand=$cmd"
        assert_error "$E_HOOK_FAILED" prov_try StartProvisioning ss "" "$PW"
        assert_match "start hook $cmd cannot be executed" "$ERR" "$cmd"
done
assert_true "the daemon still runs" provisiond_alive

section "argv without a shell; a plain name is found in PATH"
# (" ;" and " #" start a comment in the configuration file.)
setup "StartCommand=true" "DiskEncryptionCommand=$H/args \$HOME &&rm *.x |x 'q' \$(id) >out"
assert_ok prov_call StartProvisioning ss "" "$PW"
assert_eq "1=[\$HOME] 2=[&&rm] 3=[*.x] 4=[|x] 5=['q'] 6=[\$(id)] 7=[>out]" "$(tr '\n' ' ' <"$H/args.out" | sed 's/ $//')" \
        "arguments reach the hook as written"

section "the daemon answers while a hook runs"
setup "StartCommand=$H/slow" "HookTimeoutSec=10"
prov_call StartProvisioning ss "" "$PW" >"$D/bg.out" 2>&1 &
bg=$!
sleep 0.5
t0=$(date +%s%N)
assert_ok prov_call GetCertTypes s ""
assert_eq unprovisioned "$(prov_state)" "State"
t1=$(date +%s%N)
assert_cmp $(((t1 - t0) / 1000000)) -lt 1500 "reads answered while the 3 s hook runs (ms)"
assert_error "$E_WRONG_STATE" prov_try StartProvisioning ss "" "$PW"
wait "$bg"
assert_eq 0 "$?" "the StartProvisioning with the slow hook completes"

assert_no_secret_in_provisiond_log "$PW"
stop_provisiond
stop_certd
harness_finish
