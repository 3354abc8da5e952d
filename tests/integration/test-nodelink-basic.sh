#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-nodelinkd on loopback: a main node and two unprovisioned secondaries (bootstrap channel),
# each with its own bus, aos-certd and config. ListNodes, fingerprints, forwarded Certs1 reads,
# NodeConnected/NodeDisconnected, Disconnect with its polkit matrix, reconnect, the main
# node's restart and socket activation.
. "$(dirname "$0")/lib.sh"
harness_init
require_certd
require_nodelinkd

PP=$(free_port); BP=$(free_port)
node_setup main main yes "127.0.0.1:$PP" "127.0.0.1:$BP"
node_setup sec1 node-a no "127.0.0.1:$PP" "127.0.0.1:$BP"
node_setup sec2 node-b no "127.0.0.1:$PP" "127.0.0.1:$BP"
# node-b names the main node by a host name: resolved off the daemon's loop (resolve.c).
sed -i -e "s/^MainProtected=.*/MainProtected=localhost:$PP/" -e "s/^MainBootstrap=.*/MainBootstrap=localhost:$BP/" "$D/sec2/iam.conf"
node_use main
start_polkitd
node_use

section "main node with its link certificate"
assert_ok node_issue_iam main main
assert_ok start_nodelinkd main
node_use main
start_monitor nl "type='signal',sender='$NL_DEST'" 2>/dev/null || true
node_use

section "two secondaries dial the bootstrap channel"
assert_ok start_nodelinkd sec1
assert_ok start_nodelinkd sec2
assert_true "node-a connected" wait_until 10 nl_has_node main node-a bootstrap
assert_true "node-b connected" wait_until 10 nl_has_node main node-b bootstrap
run nl_nodes main
log "$OUT"
assert_match '^node-a bootstrap unprovisioned [0-9a-f]{64}$' "$(grep '^node-a' <<<"$OUT")" "node-a row"
assert_match '^node-b bootstrap unprovisioned [0-9a-f]{64}$' "$(grep '^node-b' <<<"$OUT")" "node-b row"
fp_a=$(awk '$1 == "node-a" {print $4}' <<<"$OUT")
# The fingerprint is the one of the bootstrap certificate the secondary keeps.
want_a=$(cert_fingerprint "$D/sec1/nodelink/bootstrap.pem" | tr -d ':')
assert_eq "$want_a" "$fp_a" "node-a PeerFingerprint = its bootstrap.pem"
assert_eq "600" "$(stat -c %a "$D/sec1/nodelink/bootstrap.key")" "bootstrap key mode"

section "node object properties and forwarded reads"
assert_ok nl_node_call main node-a org.freedesktop.DBus.Properties Get ss "$NL_NODE_IFACE" Channel
assert_match '"bootstrap"' "$OUT" "Channel property"
assert_ok nl_node_call main node-a org.aosedge.Certs1.Manager GetCertTypes
assert_match '"iam"' "$OUT" "GetCertTypes of node-a, through the link"
assert_ok as_user "$NOBODY_UID" nl_node_call main node-b org.aosedge.Certs1.Manager GetCertTypes
assert_error org.aosedge.Certs1.Error.NotFound nl_try main "$(nl_node_path node-a)" org.aosedge.Certs1.Manager ListCerts string:nosuchtype
assert_ok nl_node_call main node-a org.aosedge.Certs1.Manager ListCerts s iam
assert_error "org.freedesktop.DBus.Error.UnknownMethod" \
        nl_try main "$(nl_node_path node-a)" org.aosedge.Certs1.Manager SetOwner string:iam string:x
# No provisiond on the secondaries: the error of the node's own bus comes back unchanged.
assert_error "org.freedesktop.DBus.Error.ServiceUnknown|org.freedesktop.DBus.Error.NameHasNoOwner" \
        nl_try main "$(nl_node_path node-a)" org.aosedge.Provisioning1.Manager GetCertTypes string:node-a

section "Disconnect: polkit and reconnect"
assert_error "$E_ACCESS_DENIED|$E_INTERACTIVE" as_user "$NOBODY_UID" nl_try main "" "$NL_IFACE" Disconnect string:node-a
assert_error "$E_NL_NOT_FOUND" nl_try main "" "$NL_IFACE" Disconnect string:nosuchnode
assert_ok nl_call main Disconnect s node-a
assert_false_now() { ! nl_has_node main node-a; }
assert_true "node-a is gone at once" assert_false_now
assert_true "node-a comes back" wait_until 10 nl_has_node main node-a bootstrap
run nl_nodes main
assert_eq "$fp_a" "$(awk '$1 == "node-a" {print $4}' <<<"$OUT")" "same fingerprint after reconnect"
sleep 0.3
stop_monitor nl 2>/dev/null || true
mon=$(cat "$D/main/nl.monitor" 2>/dev/null)
assert_match 'NodeConnected' "$mon" "NodeConnected seen"
assert_match 'NodeDisconnected' "$mon" "NodeDisconnected seen"
assert_match 'disconnected on request' "$mon" "the reason is in the signal"

section "the main node restarts: secondaries come back by themselves"
stop_nodelinkd main
assert_ok start_nodelinkd main
assert_true "node-a back" wait_until 15 nl_has_node main node-a bootstrap
assert_true "node-b back" wait_until 15 nl_has_node main node-b bootstrap

section "socket activation"
stop_nodelinkd main
if command -v systemd-socket-activate >/dev/null; then
        node_use main
        systemd-socket-activate -l "127.0.0.1:$PP" --fdname=protected -l "127.0.0.1:$BP" --fdname=bootstrap \
                -E DBUS_SYSTEM_BUS_ADDRESS -- "$NODELINKD_BIN" --config "$D/iam.conf" --log-level debug \
                </dev/null >>"$D/nodelinkd-sa.log" 2>&1 &
        sa=$!
        _track "$sa" systemd-socket-activate
        node_use
        # the daemon starts at the first connection, which a secondary makes
        assert_true "node-a through the passed socket" wait_until 20 nl_has_node main node-a bootstrap
        assert_match 'socket passed by systemd' "$(cat "$D/main/nodelinkd-sa.log")" "took the passed sockets"
        _stop_pid "$sa" TERM 10
else
        skip "systemd-socket-activate missing"
fi

for n in sec1 sec2; do
        stop_nodelinkd "$n"
done
for n in main sec1 sec2; do
        assert_no_match 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$(cat "$D/$n/nodelinkd.log" "$D/$n/nodelinkd-sa.log" 2>/dev/null)" "no sanitizer report ($n)"
done
harness_finish
