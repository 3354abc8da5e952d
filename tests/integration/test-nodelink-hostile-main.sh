#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A hostile main node: a real secondary (aos-certd, aos-nodelinkd, unprovisioned, so on the
# bootstrap channel) registers with a fake main node (nodelink-test-peer --listen, the daemon's
# own link code, a CA-issued serverAuth certificate the secondary trusts), which then sends
# over the link calls outside the allowlist: Certs1 writes, the bus driver, allowlisted members
# on other object paths, a made-up interface, a call without an interface, Properties.Set and
# Introspect. Each is refused with NotAllowed and logged, none reaches aos-certd (the module is
# still not owned), the allowlisted reads still pass, and the secondary keeps serving its local
# bus and registers again with the next main node.
. "$(dirname "$0")/lib.sh"
harness_init
require_certd
require_nodelinkd
[[ -x $NL_PEER_BIN ]] || harness_skip "no nodelink-test-peer at $NL_PEER_BIN"

K=$AOS_TEST_PKI
PP=$(free_port); BP=$(free_port)
node_setup sec1 node-a no "127.0.0.1:$PP" "127.0.0.1:$BP"
NOT_ALLOWED_TAIL="may not pass the node link."

# fake_main OUT [--probe]: the fake main node on the bootstrap endpoint 127.0.0.1:$BP, in the
# background (FAKE_PID); returns 0 once it listens, 1 when it ended first (its output says why).
fake_main() {
        local out=$1
        shift
        timeout 60 "$NL_PEER_BIN" --listen "127.0.0.1:$BP" --channel bootstrap --cert "$K/leaf-both-chain.pem" \
                --key "$K/leaf-both.key" --ca "$K/ca.pem" "$@" >"$out" 2>&1 &
        FAKE_PID=$!
        _track "$FAKE_PID" fake-main
        wait_until 10 _fake_ready "$out"
        grep -q '^listening' "$out" && return 0
        log "# the fake main node on port $BP: $(cat "$out")"
        _stop_pid "$FAKE_PID" TERM 2
        return 1
}
_fake_ready() { grep -q '^listening' "$1" || ! _running "$FAKE_PID"; }
# fake_main_wait OUT: waits for it to end (30 s); FAKE_RC, and its output in PROBE.
fake_main_wait() {
        local i
        for ((i = 0; i < 600; i++)); do
                _running "$FAKE_PID" || break
                sleep 0.05
        done
        _stop_pid "$FAKE_PID" TERM 5
        FAKE_RC=$_STOP_STATUS
        PROBE=$(cat "$1")
}
# probe_line CALL PATH [N]: the Nth (default first; "$" last) result line of IFACE.MEMBER on PATH.
probe_line() {
        grep -- "^CALL " <<<"$PROBE" | grep -F -- "CALL $1 $2 -> " | sed -n "${3:-1}p"
}
# refused IFACE MEMBER PATH: the exact NotAllowed answer of the secondary ("-": no interface).
refused() {
        local shown=$1
        [[ $shown == - ]] && shown=n/a
        assert_eq "CALL $1.$2 $3 -> Error $E_NL_NOT_ALLOWED: $shown.$2 on $3 $NOT_ALLOWED_TAIL" \
                "$(probe_line "$1.$2" "$3")" "$1.$2 on $3 refused"
}
owned() {
        node_use sec1
        certs_prop "$(module_path iam)" "$MODULE_IFACE" Owned
        node_use
}
sec_log() { cat "$D/sec1/nodelinkd.log"; }

section "the secondary registers with a fake main node"
assert_eq '{"type":"b","data":false}' "$(owned)" "the secondary's iam module is not owned"
certs_tree() { find "$D/sec1/certs" -printf '%p %y %s %T@\n' | sort; }
certs_tree >"$D/certs-before.txt"
# free_port sees listening sockets only: a port may still be the local end of a connection
# (bind: EADDRINUSE). The fake main node takes its port first, then the secondary is pointed at it.
for ((try = 0; try < 5; try++)); do
        fake_main "$D/fake1.out" --probe && break
        BP=$(free_port)
done
assert_true "the fake main node listens" grep -q '^listening' "$D/fake1.out"
sed -i -e "s/^MainBootstrap=.*/MainBootstrap=127.0.0.1:$BP/" -e "s/^ListenBootstrap=.*/ListenBootstrap=127.0.0.1:$BP/" \
        "$D/sec1/iam.conf"
assert_ok start_nodelinkd sec1
fake_main_wait "$D/fake1.out"
printf '%s\n' "$PROBE" | sed 's/^/    /'
assert_eq 0 "$FAKE_RC" "the fake main node sent every call and closed the link itself"
fp=$(cert_fingerprint "$D/sec1/nodelink/bootstrap.pem" | tr -d ':' | tr 'A-F' 'a-f')
assert_eq "registered node-a unprovisioned bootstrap $fp" "$(grep '^registered' <<<"$PROBE")" \
        "registration on the bootstrap channel with the node's bootstrap certificate"
assert_match 'Registered with the main node on the bootstrap channel as node-a' "$(sec_log)" \
        "the secondary took the registration as accepted"

section "allowlisted calls pass"
C=org.aosedge.Certs1.Manager P=org.aosedge.Provisioning1.Manager
assert_eq "CALL $C.GetCertTypes /org/aosedge/Certs1 -> OK as: iam" "$(probe_line "$C.GetCertTypes" /org/aosedge/Certs1 1)" \
        "control: GetCertTypes relayed to the local aos-certd"
assert_eq "CALL $C.ListCerts /org/aosedge/Certs1 -> OK aa{sv}" "$(probe_line "$C.ListCerts" /org/aosedge/Certs1)" \
        "control: ListCerts relayed"
assert_match "^CALL $P.GetCertTypes /org/aosedge/Provisioning1 -> Error org.freedesktop.DBus.Error.(ServiceUnknown|NameHasNoOwner): " \
        "$(probe_line "$P.GetCertTypes" /org/aosedge/Provisioning1)" \
        "Provisioning1 relayed: the local bus answers (no aos-provisiond on this node)"
assert_eq "CALL org.freedesktop.DBus.Peer.Ping / -> OK -" "$(probe_line org.freedesktop.DBus.Peer.Ping /)" \
        "Peer.Ping answered by the link"

section "calls outside the allowlist are refused"
refused $C SetOwner /org/aosedge/Certs1
refused $C CreateKey /org/aosedge/Certs1
refused $C Clear /org/aosedge/Certs1
refused org.aosedge.Certs1.Module Clear /org/aosedge/Certs1/module/iam
refused org.freedesktop.DBus ListNames /org/freedesktop/DBus
refused org.freedesktop.DBus RequestName /org/freedesktop/DBus
refused $C GetCertTypes /org/aosedge/Provisioning1
refused $C GetCertTypes /org/aosedge/Certs1/module/iam
refused $C ListCerts /
refused $P GetCertTypes /org/aosedge/Certs1
refused org.example.Hostile1 Run /org/aosedge/Certs1
refused - GetCertTypes /org/aosedge/Certs1
refused org.freedesktop.DBus.Properties Set /org/aosedge/Certs1/module/iam
refused org.freedesktop.DBus.Properties GetAll /org/aosedge/Certs1
refused org.freedesktop.DBus.Introspectable Introspect /
refused org.freedesktop.DBus.Introspectable Introspect /org/aosedge/Certs1
refused org.freedesktop.DBus.Peer GetMachineId /
assert_eq 22 "$(grep -c '^CALL ' <<<"$PROBE")" "22 calls answered"
assert_eq 17 "$(grep -c -- "^CALL .*-> Error $E_NL_NOT_ALLOWED: " <<<"$PROBE")" "17 of them NotAllowed"
assert_no_match "$(cat /etc/machine-id 2>/dev/null || echo no-machine-id)" "$PROBE" "the machine id did not cross the link"
assert_match "^EARLY CALL $C.GetCertTypes /org/aosedge/Certs1 -> Error $E_NL_NOT_ALLOWED: Nothing passes the node link before the registration" \
        "$(grep '^EARLY CALL' <<<"$PROBE")" "a call before Register was answered: refused, even an allowlisted read"
assert_eq "CALL $C.GetCertTypes /org/aosedge/Certs1 -> OK as: iam" "$(probe_line "$C.GetCertTypes" /org/aosedge/Certs1 '$')" \
        "control again after the refusals: the same link still relays"

section "the refusals are logged, nothing reached the local bus"
log_text=$(sec_log)
assert_eq 17 "$(grep -c 'from the main node: not on the allowlist\.' <<<"$log_text")" "17 refusals in the secondary's log"
assert_match "Refused $C\.GetCertTypes from the main node: it has not accepted the registration yet\." "$log_text" \
        "the early call is logged"
assert_match "Refused to relay $C\.SetOwner on /org/aosedge/Certs1 from the main node: not on the allowlist\." \
        "$log_text" "the log names the refused call"
assert_match "Refused to relay n/a\.GetCertTypes on /org/aosedge/Certs1 from the main node" "$log_text" \
        "the call without an interface is named too"
relayed=$(sed -n 's/.*Relaying \([^ ]*\) from the main node to the local bus\..*/\1/p' <<<"$log_text" | sort | uniq -c | xargs)
assert_eq "2 $C.GetCertTypes 1 $C.ListCerts 1 $P.GetCertTypes" "$relayed" "only the allowlisted calls were relayed"
assert_no_match 'hostile-password' "$log_text$(cat "$D/sec1/certd.log")" "no argument of a refused call in the logs"
assert_eq '{"type":"b","data":false}' "$(owned)" "the iam module is still not owned (SetOwner never reached aos-certd)"
certs_tree >"$D/certs-after.txt"
assert_true "the module storage is untouched" cmp -s "$D/certs-before.txt" "$D/certs-after.txt"

section "the secondary keeps serving"
assert_true "aos-nodelinkd of the secondary still runs" _running "${NODE_NLD[sec1]}"
assert_true "the link closed by the main node is noticed" wait_until 5 grep -q 'Link to the main node (bootstrap channel) closed' "$D/sec1/nodelinkd.log"
assert_ok nl_call sec1 ListNodes
assert_eq '{"type":"aa{sv}","data":[[]]}' "$OUT" "its bus API answers (no nodes on a secondary)"
assert_true "the next fake main node listens" fake_main "$D/fake2.out" --probe
fake_main_wait "$D/fake2.out"
assert_eq 0 "$FAKE_RC" "the secondary dialed again and answered every call"
assert_eq "registered node-a unprovisioned bootstrap $fp" "$(grep '^registered' <<<"$PROBE")" "registered again, same certificate"
assert_eq "CALL $C.GetCertTypes /org/aosedge/Certs1 -> OK as: iam" "$(probe_line "$C.GetCertTypes" /org/aosedge/Certs1 '$')" \
        "GetCertTypes still relayed"
refused $C SetOwner /org/aosedge/Certs1
assert_eq '{"type":"b","data":false}' "$(owned)" "still not owned"
# The check above can fail: a local root caller's SetOwner does change the state.
node_use sec1
assert_ok certs_call SetOwner ss iam pw-local
node_use
assert_eq '{"type":"b","data":true}' "$(owned)" "control: SetOwner on the local bus owns the module"

stop_nodelinkd sec1
node_use sec1
stop_certd
node_use
assert_no_match 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
        "$(cat "$D/sec1/nodelinkd.log" "$D/sec1/certd.log" "$D/fake1.out" "$D/fake2.out")" \
        "no sanitizer report (secondary's aos-nodelinkd and aos-certd, fake main node)"
harness_finish
