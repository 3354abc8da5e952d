#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A unit on loopback: the main node and two secondaries (node-a, node-b), each with its own bus,
# SoftHSM token, aos-certd, aos-provisiond and aos-nodelinkd. The main node is provisioned
# locally with aosctl; the secondaries only ever through the main node (aosctl --node on the
# main node's bus, forwarded by its aos-provisiond over the node link): bootstrap fingerprints,
# --expect-fingerprint (a wrong one sends nothing), bootstrap -> protected, forwarded reads,
# pause/resume, renewal of the link certificate (the next connection presents it), deprovision
# and provisioning again, a node that is not connected, and no password in any log.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tools/aosctl-it.sh
. "$AOS_TEST_SRCDIR/tests/tools/aosctl-it.sh"

unit_harness_init
require_aosctl
require_nodelinkd
command -v python3 >/dev/null || harness_skip "missing tool: python3"
T0=$SECONDS

PW_MAIN='Main-Prov-Pw-5c1e90aa'
PW_A='NodeA-Prov-Pw-8b22f1cd'
PW_B='NodeB-Prov-Pw-3d7a04ef'

unit_ports || harness_finish

unit_node_setup main main yes "127.0.0.1:$PP" "127.0.0.1:$BP" "main localhost" || harness_finish
unit_node_setup sec1 node-a no "127.0.0.1:$PP" "127.0.0.1:$BP" "" || harness_finish
# node-b names the main node "localhost": its address is resolved off the loop (resolve.c).
unit_node_setup sec2 node-b no "localhost:$PP" "localhost:$BP" "" || harness_finish
on_node main start_polkitd

# The CA aosctl signs with, and the password files (0600).
unit_ca || harness_finish
write_password_file "$D/pw-main" "$PW_MAIN"
write_password_file "$D/pw-a" "$PW_A"
write_password_file "$D/pw-b" "$PW_B"

MAIN_BUS=${NODE_BUS[main]}
# aosctl on the main node's bus / on a secondary's own bus.
main_aosctl() { DBUS_SYSTEM_BUS_ADDRESS=$MAIN_BUS aosctl "$@"; }
node_aosctl() { local n=$1; shift; DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$n]} aosctl "$@"; }
node_state() { on_node "$1" prov_state; }
# main_prov_try METHOD SIG ARGS...: the main node's aos-provisiond, error names printed.
main_prov_try() { on_node main prov_try "$@"; }
has_node() { nl_has_node main "$@"; }
lacks_node() { ! nl_has_node main "$1"; }
field() { unit_nl_field main "$1" "$2"; }
field_is() { [[ $(unit_nl_field main "$1" "$2" 2>/dev/null) == "$3" ]]; }
WATCH=$D/main/watch-main.out
watch_has() { grep -q "\"signal\":\"NodeStateChanged\",\"nodeId\":\"$1\",\"state\":\"$2\"" "$WATCH"; }
watch_count() { grep -c "\"signal\":\"NodeStateChanged\",\"nodeId\":\"$1\"" "$WATCH"; }
PROVMON=$D/main/provcalls.monitor
# dbus-monitor prints "method call ... path=P; interface=I; member=M": calls on the node objects.
fwd_calls() { grep -E "path=$(nl_node_path "$1"); interface=org\.aosedge\.Provisioning1\.Manager; member=$2\$" "$PROVMON" | grep -c .; }

section "2. the main node is provisioned locally (aosctl provision on its bus)"
# (First: the main node's aos-nodelinkd serves the link with the main node's iam certificate,
# which the main node gets by being provisioned.)
assert_ok main_aosctl provision "${CA[@]}" --password-file "$D/pw-main"
log "$OUT" | sed 's/^/    /'
assert_match 'Node main is provisioned\.' "$OUT" "aosctl provision: final line"
assert_eq provisioned "$(node_state main)" "main: State"
assert_ok unit_export_chain main iam "$D/main-iam-chain.pem"
assert_true "main iam: certtool --verify-chain (leaf, CA)" certtool --verify-chain --infile "$D/main-iam-chain.pem"
assert_match 'DNSname: localhost' "$(cert_info "$D/main-iam-chain.pem")" "main iam: SAN localhost"

# Everything that happens on the main node's bus from here on: signals (aosctl watch) and the
# Provisioning1 calls (to aos-provisiond and to the node objects of aos-nodelinkd).
on_node main start_watch main --json
on_node main start_monitor provcalls "type='method_call',interface='org.aosedge.Provisioning1.Manager'"

section "1. before provisioning: the secondaries on the bootstrap channel"
assert_ok on_node main start_nodelinkd main
assert_ok on_node sec1 start_nodelinkd sec1
assert_ok on_node sec2 start_nodelinkd sec2
assert_true "node-a on bootstrap" wait_secs 15 has_node node-a bootstrap
assert_true "node-b on bootstrap" wait_secs 15 has_node node-b bootstrap
run nl_nodes main
log "$OUT" | sed 's/^/    /'
FP_A=$(unit_bootstrap_fingerprint sec1)
FP_B=$(unit_bootstrap_fingerprint sec2)
assert_match '^[0-9a-f]{64}$' "$FP_A" "node-a bootstrap.pem fingerprint (certtool)"
assert_ne "$FP_A" "$FP_B" "the two bootstrap certificates"
for n in node-a node-b; do
        assert_eq bootstrap "$(field $n Channel)" "$n Channel"
        assert_eq unprovisioned "$(field $n State)" "$n State"
        assert_eq true "$(field $n Connected)" "$n Connected"
done
assert_eq "$FP_A" "$(field node-a PeerFingerprint)" "node-a PeerFingerprint = SHA-256 of its bootstrap.pem"
assert_eq "$FP_B" "$(field node-b PeerFingerprint)" "node-b PeerFingerprint = SHA-256 of its bootstrap.pem"
assert_eq unprovisioned "$(node_state sec1)" "node-a: State on its own bus"

section "3. node-a provisioned through the main node"
assert_ok main_aosctl provision --node node-a "${CA[@]}" --password-file "$D/pw-a" --expect-fingerprint "$FP_A"
prov_a=$OUT$ERR
log "$OUT" | sed 's/^/    /'
[[ -n $ERR ]] && log "$ERR" | sed 's/^/    stderr: /'
assert_match '^\[1/9\] GetCertTypes node-a \.\.\. ok \(iam sm; 9 steps\)$' "$OUT" "GetCertTypes of node-a (offline left out)"
assert_match '^\[2/9\] StartProvisioning node-a \.\.\. ok$' "$OUT" "StartProvisioning node-a"
assert_match '^\[9/9\] FinishProvisioning node-a \.\.\. ok$' "$OUT" "FinishProvisioning node-a"
assert_match 'Node node-a is provisioned\.' "$OUT" "final line"
assert_no_secret "$PW_A" "$prov_a" "aosctl's output"
assert_eq provisioned "$(node_state sec1)" "node-a: State on its own bus"
assert_ok node_aosctl sec1 status
log "$OUT" | sed 's/^/    /'
assert_match 'State: +provisioned' "$OUT" "node-a: aosctl status: provisioned"
assert_match 'iam +CN=node-a +[0-9a-f]+ ' "$OUT" "node-a: aosctl status: iam certificate CN=node-a"
assert_match 'sm +CN=node-a +[0-9a-f]+ ' "$OUT" "node-a: aosctl status: sm certificate CN=node-a"
for t in iam sm; do
        assert_ok unit_export_chain sec1 "$t" "$D/a-$t-chain.pem"
        assert_true "node-a $t: certtool --verify-chain (leaf, CA)" certtool --verify-chain --infile "$D/a-$t-chain.pem"
        assert_eq "CN=Aos Test Root" "$(cert_issuer "$D/a-$t-chain.pem")" "node-a $t: issuer"
        assert_eq "CN=node-a" "$(cert_subject "$D/a-$t-chain.pem")" "node-a $t: subject"
done
assert_true "main: NodeStateChanged(node-a, provisioned)" wait_secs 5 watch_has node-a provisioned
assert_true "main: ListNodes State of node-a becomes provisioned" wait_secs 15 field_is node-a State provisioned
# The calls went through the node object with the same member (and were not served locally).
assert_cmp "$(fwd_calls node-a StartProvisioning)" -eq 1 "StartProvisioning forwarded to node-a's object"
assert_cmp "$(fwd_calls node-a FinishProvisioning)" -eq 1 "FinishProvisioning forwarded to node-a's object"
assert_cmp "$(fwd_calls node-a CreateKey)" -eq 2 "CreateKey forwarded (iam, sm)"
assert_cmp "$(fwd_calls node-a ApplyCert)" -eq 2 "ApplyCert forwarded (iam, sm)"
assert_match 'StartProvisioning \(from [^)]*\) completed' "$(cat "$D/sec1/provisiond.log")" \
        "node-a's own aos-provisiond ran StartProvisioning"

section "4. a wrong --expect-fingerprint for node-b: nothing is sent"
calls_before=$(grep -c 'member=' "$PROVMON")
wrong=$(printf '%s' "$FP_B" | tr '0-9a-f' '1-9a-f0')
assert_fail main_aosctl provision --node node-b "${CA[@]}" --password-file "$D/pw-b" --expect-fingerprint "$wrong"
assert_eq 1 "$RC" "exit status"
assert_match "node node-b presents certificate fingerprint $FP_B, not the expected $wrong; not sending the password" \
        "$ERR" "the refusal names both fingerprints"
sleep 0.3
assert_eq "$calls_before" "$(grep -c 'member=' "$PROVMON")" \
        "no Provisioning1 call at all on the main bus (neither to aos-provisiond nor to aos-nodelinkd)"
assert_cmp "$(fwd_calls node-b StartProvisioning)" -eq 0 "no StartProvisioning to node-b's object"
assert_no_match 'StartProvisioning' "$(cat "$D/sec2/provisiond.log")" "node-b's provisiond.log: no StartProvisioning"
assert_no_match 'Relaying org\.aosedge\.Provisioning1' "$(cat "$D/sec2/nodelinkd.log")" "node-b's nodelinkd relayed nothing"
assert_eq unprovisioned "$(node_state sec2)" "node-b: still unprovisioned"

section "5. node-b provisioned through the main node"
assert_ok main_aosctl provision --node node-b "${CA[@]}" --password-file "$D/pw-b" \
        --expect-fingerprint "sha256:$(printf '%s' "$FP_B" | tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//')"
log "$OUT" | sed 's/^/    /'
[[ -n $ERR ]] && log "$ERR" | sed 's/^/    stderr: /'
assert_match 'Node node-b is provisioned\.' "$OUT" "final line"
assert_eq provisioned "$(node_state sec2)" "node-b: State on its own bus"
assert_ok unit_export_chain sec2 iam "$D/b-iam-chain.pem"
assert_true "node-b iam: certtool --verify-chain" certtool --verify-chain --infile "$D/b-iam-chain.pem"
assert_true "main: NodeStateChanged(node-b, provisioned)" wait_secs 5 watch_has node-b provisioned

section "6. the secondaries move to the protected channel"
t6=$SECONDS
assert_true "node-a on protected" wait_secs 15 has_node node-a protected
assert_true "node-b on protected" wait_secs 15 has_node node-b protected
log "    (both on protected $((SECONDS - t6)) s after node-b's provisioning)"
run nl_nodes main
log "$OUT" | sed 's/^/    /'
assert_match '(^|,)CN=node-a(,|$)' "$(field node-a PeerSubject)" "node-a PeerSubject"
assert_match '(^|,)CN=node-b(,|$)' "$(field node-b PeerSubject)" "node-b PeerSubject"
assert_eq provisioned "$(field node-a State)" "node-a State in ListNodes"
assert_eq provisioned "$(field node-b State)" "node-b State in ListNodes"
A_IAM_FP=$(on_node sec1 latest_field iam Fingerprint)
assert_eq "$A_IAM_FP" "$(field node-a PeerFingerprint)" "node-a presents its iam certificate"
assert_true "node-a's spent bootstrap certificate is removed" test ! -e "$D/sec1/nodelink/bootstrap.pem"

section "7. forwarded reads on protected; pause and resume of node-a through the main node"
assert_ok nl_node_call main node-a org.aosedge.Certs1.Manager GetCertTypes
assert_eq "iam sm offline" "$(json_strings "$OUT" | xargs)" "Certs1 GetCertTypes of node-a"
assert_ok nl_node_call main node-a org.aosedge.Certs1.Manager GetCert says iam 0 ""
assert_eq "$(on_node sec1 latest_field iam Serial)" "$(json_get "$OUT" Serial)" "Certs1 GetCert iam of node-a: its current serial"
assert_ok nl_node_call main node-a org.aosedge.Provisioning1.Manager GetCertTypes s node-a
assert_match '^\{"type":"as","data":\[\["iam","sm"\]\]\}$' "$OUT" "Provisioning1 GetCertTypes on node-a's object"
assert_ok on_node main prov_call GetCertTypes s node-a
assert_match '"iam","sm"' "$OUT" "Provisioning1 GetCertTypes(node-a) on the main node"
assert_ok main_aosctl pause --node node-a
assert_eq paused "$(node_state sec1)" "node-a: paused on its own bus"
assert_true "main: NodeStateChanged(node-a, paused)" wait_secs 5 watch_has node-a paused
assert_true "ListNodes: node-a paused (still protected)" wait_secs 5 has_node node-a "protected paused"
# A remote refusal comes back unchanged, and changes nothing on the main node.
n_a=$(watch_count node-a)
assert_error "$E_WRONG_STATE" main_prov_try PauseNode s node-a
assert_match 'The node is paused; PauseNode needs provisioned' "$ERR" "node-a's own WrongState message"
write_password_file "$D/pw-wrong" "not-the-password"
assert_fail main_aosctl deprovision --node node-a --password-file "$D/pw-wrong"
assert_match 'org\.aosedge\.Provisioning1\.Error\.WrongPassword' "$ERR" "remote Deprovision with a wrong password: WrongPassword"
assert_eq paused "$(node_state sec1)" "node-a: still paused"
sleep 0.3
assert_eq "$n_a" "$(watch_count node-a)" "main: no NodeStateChanged for node-a after the refused calls"
assert_ok main_aosctl resume --node node-a
assert_eq provisioned "$(node_state sec1)" "node-a: provisioned again on its own bus"
provisioned_twice() { (($(grep -c '"nodeId":"node-a","state":"provisioned"' "$WATCH") >= 2)); }
assert_true "main: NodeStateChanged(node-a, provisioned) after resume" wait_secs 5 provisioned_twice
assert_true "ListNodes: node-a provisioned" wait_secs 5 has_node node-a "protected provisioned"

section "8. renewal of node-a's iam certificate through the main node"
serial_before=$(on_node sec1 latest_field iam Serial)
fp_before=$(field node-a PeerFingerprint)
since_before=$(field node-a Since)
assert_eq "$A_IAM_FP" "$fp_before" "before: main sees node-a's current iam certificate"
assert_ok main_aosctl renew --node node-a iam "${CA[@]}" --password-file "$D/pw-a"
log "$OUT" | sed 's/^/    /'
serial_after=$(on_node sec1 latest_field iam Serial)
fp_new=$(on_node sec1 latest_field iam Fingerprint)
assert_ne "$serial_before" "$serial_after" "node-a's current iam serial"
assert_eq 2 "$(on_node sec1 list_count iam)" "node-a keeps the previous iam certificate (MaxItems 2)"
assert_ok nl_call main Disconnect s node-a
assert_true "node-a back on protected" wait_secs 15 has_node node-a "protected provisioned"
since_changed() { [[ $(field node-a Since) != "$since_before" ]]; }
assert_true "a new connection (Since changed)" wait_secs 5 since_changed
fp_after=$(field node-a PeerFingerprint)
assert_ne "$fp_before" "$fp_after" "PeerFingerprint after renewal and reconnect"
assert_eq "$fp_new" "$fp_after" "the new connection presents the renewed certificate (serial $serial_after)"

section "8b. renewal of the main node's iam certificate: new handshakes get it, no restart"
# The certificate the main node presents on protected, as a client sees it in the handshake
# (the server's certificate comes before the client's, so no client certificate is needed).
served_fp() {
        openssl s_client -connect "127.0.0.1:$PP" -tls1_3 </dev/null 2>/dev/null |
                openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//' | tr -d ':' | tr 'A-F' 'a-f'
}
main_iam_fp() { on_node main latest_field iam Fingerprint; }
nld_main_pid=${NODE_NLD[main]}
starts() { grep -c -- '^--- start' "$D/main/nodelinkd.log"; }
starts_before=$(starts)
fp_main_before=$(main_iam_fp)
assert_eq "$fp_main_before" "$(served_fp)" "before: the main node serves its current iam certificate"
a_since=$(field node-a Since)
assert_ok main_aosctl renew iam "${CA[@]}" --password-file "$D/pw-main"
fp_main_after=$(main_iam_fp)
assert_ne "$fp_main_before" "$fp_main_after" "the main node's iam certificate was renewed"
serves_new() { [[ $(served_fp) == "$fp_main_after" ]]; }
assert_true "new handshakes get the renewed certificate (CertChanged, no restart)" wait_secs 5 serves_new
assert_true "the same aos-nodelinkd process still runs" kill -0 "$nld_main_pid"
assert_eq "$starts_before" "$(starts)" "aos-nodelinkd was not started again"
assert_match "The link presents the 'iam' certificate $fp_main_after" "$(cat "$D/main/nodelinkd.log")" "its log names the new certificate"
assert_eq "$a_since" "$(field node-a Since)" "node-a's existing link was left alone"
assert_ok nl_call main Disconnect s node-b
assert_true "node-b reconnects and verifies the renewed certificate" wait_secs 15 has_node node-b "protected provisioned"

section "9. node-b deprovisioned through the main node, then provisioned again"
assert_ok main_aosctl deprovision --node node-b --password-file "$D/pw-b"
assert_eq unprovisioned "$(node_state sec2)" "node-b: unprovisioned on its own bus"
assert_true "main: NodeStateChanged(node-b, unprovisioned)" wait_secs 5 watch_has node-b unprovisioned
assert_true "node-b back on bootstrap, unprovisioned" wait_secs 15 has_node node-b "bootstrap unprovisioned"
fp_b2=$(unit_bootstrap_fingerprint sec2)
assert_eq "$fp_b2" "$(field node-b PeerFingerprint)" "node-b PeerFingerprint = SHA-256 of its current bootstrap.pem"
if [[ $fp_b2 == "$FP_B" ]]; then
        log "    (node-b presents the same bootstrap certificate as before its first provisioning)"
else
        log "    (node-b presents a new bootstrap certificate: the first one was removed once it registered on protected)"
fi
if [[ $fp_b2 != "$FP_B" ]]; then
        assert_fail main_aosctl provision --node node-b "${CA[@]}" --password-file "$D/pw-b" --expect-fingerprint "$FP_B"
        assert_match 'not the expected' "$ERR" "the old bootstrap fingerprint is refused now"
fi
assert_ok main_aosctl provision --node node-b "${CA[@]}" --password-file "$D/pw-b" --expect-fingerprint "$fp_b2"
assert_match 'Node node-b is provisioned\.' "$OUT" "re-provisioned"
assert_eq provisioned "$(node_state sec2)" "node-b: provisioned on its own bus"
assert_true "node-b on protected again" wait_secs 15 has_node node-b "protected provisioned"

section "10. a node that is not connected: NodeUnreachable; a node that does not answer: Timeout"
stop_nodelinkd sec2
assert_true "node-b gone from ListNodes" wait_secs 10 lacks_node node-b
n_b=$(watch_count node-b)
assert_fail main_aosctl pause --node node-b
assert_eq 1 "$RC" "aosctl pause --node node-b: exit status"
assert_match 'org\.aosedge\.Provisioning1\.Error\.NodeUnreachable' "$OUT$ERR" "aosctl pause --node node-b: NodeUnreachable"
assert_error "$E_UNREACHABLE" main_prov_try PauseNode s node-b
assert_eq provisioned "$(node_state sec2)" "node-b: still provisioned on its own bus"
sleep 0.3
assert_eq "$n_b" "$(watch_count node-b)" "main: no NodeStateChanged for node-b"
assert_ok on_node sec2 start_nodelinkd sec2
assert_true "node-b back, provisioned" wait_secs 15 has_node node-b "protected provisioned"
# node-a's aos-provisiond stopped (SIGSTOP): the forwarded call gets no answer.
kill -STOP "${NODE_PROV[sec1]}"
t10=$SECONDS
assert_error "$E_TIMEOUT" main_prov_try GetCertTypes s node-a
log "    (Timeout after $((SECONDS - t10)) s; CallTimeoutSec=6)"
kill -CONT "${NODE_PROV[sec1]}"
assert_ok on_node main prov_call GetCertTypes s node-a

section "11. no password in any log, no sanitizer report"
stop_watch main INT
stop_monitor provcalls
unit_stop_daemons
unit_assert_no_secret_in_logs "$PW_MAIN" "$PW_A" "$PW_B"
for pw in "$PW_MAIN" "$PW_A" "$PW_B"; do
        assert_no_secret "$pw" "$(cat "$WATCH")" "the signals on the main bus (aosctl watch)"
done
unit_assert_no_sanitizer_reports
log "# took $((SECONDS - T0)) s"
unit_node_use
CERTD_PID=
harness_finish
