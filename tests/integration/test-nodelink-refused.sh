#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-nodelinkd refuses peers that do not prove the identity they claim, and keeps serving:
# no client certificate, another CA, expired, no clientAuth, a CN that is not the node id, a
# bootstrap node claiming "provisioned", a bootstrap node reusing another node's id with another
# certificate, garbage instead of TLS, 200 connections that send nothing.
. "$(dirname "$0")/lib.sh"
harness_init
require_certd
require_nodelinkd
[[ -x $NL_PEER_BIN ]] || harness_skip "no nodelink-test-peer at $NL_PEER_BIN"

PP=$(free_port); BP=$(free_port)
node_setup main main yes "127.0.0.1:$PP" "127.0.0.1:$BP"
node_setup sec1 node-a no "127.0.0.1:$PP" "127.0.0.1:$BP"
assert_ok node_issue_iam main main
assert_ok start_nodelinkd main
assert_ok start_nodelinkd sec1
assert_true "node-a connected" wait_until 10 nl_has_node main node-a bootstrap
K=$AOS_TEST_PKI
CA=(--ca "$K/ca.pem")
serving() { nl_has_node main node-a bootstrap; }

section "protected channel"
assert_eq 3 "$(nl_peer --connect 127.0.0.1:$PP "${CA[@]}" --id node1 --state provisioned >/dev/null; echo $?)" "no client certificate: closed"
assert_true "still serving" serving
assert_eq 3 "$(nl_peer --connect 127.0.0.1:$PP "${CA[@]}" --cert "$K/leaf-other-chain.pem" --key "$K/leaf-other.key" --id node1 --state provisioned >/dev/null; echo $?)" "certificate of another CA: closed"
assert_eq 3 "$(nl_peer --connect 127.0.0.1:$PP "${CA[@]}" --cert "$K/leaf-expired-chain.pem" --key "$K/leaf-expired.key" --id node1 --state provisioned >/dev/null; echo $?)" "expired certificate: closed"
assert_eq 3 "$(nl_peer --connect 127.0.0.1:$PP "${CA[@]}" --cert "$K/leaf-noeku-chain.pem" --key "$K/leaf-noeku.key" --id node1 --state provisioned >/dev/null; echo $?)" "certificate without clientAuth: closed"
assert_match 'refused' "$(cat "$D/main/nodelinkd.log")" "the log says why"
run nl_peer --connect 127.0.0.1:$PP "${CA[@]}" --cert "$K/leaf-client-chain.pem" --key "$K/leaf-client.key" --id node2 --state provisioned
assert_eq 1 "$RC" "CN node1 registering as node2: refused"
assert_match "$E_NL_NOT_ALLOWED" "$OUT" "with NotAllowed"
assert_true "still serving" serving
run nl_peer --connect 127.0.0.1:$PP "${CA[@]}" --cert "$K/leaf-client-chain.pem" --key "$K/leaf-client.key" --id node1 --state provisioned
assert_eq "registered" "$OUT" "control: the right CN registers"

section "bootstrap channel"
certtool --generate-privkey --key-type ecdsa --curve secp384r1 --outfile "$D/boot.key" >/dev/null 2>&1
printf 'cn = "node-x"\ntls_www_client\nexpiration_days = 30\n' >"$D/boot.tmpl"
certtool --generate-self-signed --load-privkey "$D/boot.key" --template "$D/boot.tmpl" --outfile "$D/boot.pem" >/dev/null 2>&1
run nl_peer --connect 127.0.0.1:$BP --channel bootstrap "${CA[@]}" --cert "$D/boot.pem" --key "$D/boot.key" --id node-x --state provisioned
assert_eq 1 "$RC" "bootstrap node claiming provisioned: refused"
assert_match "$E_NL_NOT_ALLOWED" "$OUT" "with NotAllowed"
run nl_peer --connect 127.0.0.1:$BP --channel bootstrap "${CA[@]}" --cert "$D/boot.pem" --key "$D/boot.key" --id node-a --state unprovisioned
assert_eq 1 "$RC" "bootstrap node reusing node-a's id with another certificate: refused"
assert_match 'fingerprint|another bootstrap certificate' "$OUT" "the reason names the certificate"
assert_true "node-a keeps its link" serving
# The pin outlives the main node's restart: with node-a away and the main node restarted, its id
# still needs its own bootstrap certificate.
fp_a=$(cert_fingerprint "$D/sec1/nodelink/bootstrap.pem" | tr -d ':' | tr 'A-F' 'a-f')
assert_match "^node-a $fp_a\$" "$(cat "$D/main/nodelink/bootstrap-pins")" "the pin is on disk"
assert_eq 600 "$(stat -c %a "$D/main/nodelink/bootstrap-pins")" "the pin file is 0600"
stop_nodelinkd sec1
stop_nodelinkd main
assert_ok start_nodelinkd main
run nl_peer --connect 127.0.0.1:$BP --channel bootstrap "${CA[@]}" --cert "$D/boot.pem" --key "$D/boot.key" --id node-a --state unprovisioned
assert_eq 1 "$RC" "after the main node's restart, node-a's id with another certificate: still refused"
assert_match 'fingerprint|another bootstrap certificate' "$OUT" "the reason names the certificate"
assert_ok start_nodelinkd sec1
assert_true "node-a itself registers again" wait_until 10 serving
run nl_peer --connect 127.0.0.1:$BP --channel bootstrap "${CA[@]}" --cert "$D/boot.pem" --key "$D/boot.key" --id node-x --state unprovisioned
assert_eq "registered" "$OUT" "control: a new bootstrap node registers"
run nl_peer --connect 127.0.0.1:$BP --channel bootstrap "${CA[@]}" --cert "$D/boot.pem" --key "$D/boot.key" --id node-x --state unprovisioned --probe
pl() { grep -F "MAIN CALL $1 " <<<"$OUT"; }
assert_match "-> Error $E_NL_NOT_ALLOWED: A node may call only Register, SetState and Ping\.$" "$(pl org.freedesktop.DBus.Peer.GetMachineId)" \
        "a node cannot read the main node's machine id"
assert_match "-> Error $E_NL_NOT_ALLOWED: " "$(pl org.freedesktop.DBus.Introspectable.Introspect)" "nor introspect its peer object"
assert_match "-> Error $E_NL_NOT_ALLOWED: " "$(pl org.aosedge.NodeLink1.Peer.Forward)" "nor call a member that does not exist"
assert_eq "MAIN CALL org.freedesktop.DBus.Peer.Ping / -> OK" "$(pl org.freedesktop.DBus.Peer.Ping)" "Ping still answered"
assert_no_match "$(cat /etc/machine-id 2>/dev/null || echo no-machine-id)" "$OUT" "the machine id did not cross the link"
run nl_peer --connect 127.0.0.1:$BP --channel bootstrap --ca "$K/other-ca.pem" --cert "$D/boot.pem" --key "$D/boot.key" --id node-y --state unprovisioned
assert_eq 3 "$RC" "the secondary refuses a main node its CA did not sign"

section "garbage and idle connections"
assert_ok nl_peer --connect 127.0.0.1:$PP --garbage
assert_ok nl_peer --connect 127.0.0.1:$BP --garbage
assert_true "still serving after garbage" serving
"$NL_PEER_BIN" --connect 127.0.0.1:$BP --idle 200 --hold 14 >"$D/idle.out" 2>&1 &
idle=$!
_track "$idle" idle-peer
wait_until 10 grep -q opened "$D/idle.out"
log "# $(cat "$D/idle.out")"
assert_true "the bus API answers during the flood" nl_call main ListNodes
assert_true "node-a keeps its link during the flood" serving
assert_true "node-a still answers forwarded calls" nl_node_call main node-a org.aosedge.Certs1.Manager GetCertTypes
# The idle connections time out after 10 s; then new peers get in again.
ok=0
for ((i = 0; i < 40; i++)); do
        run nl_peer --connect 127.0.0.1:$BP --channel bootstrap "${CA[@]}" --cert "$D/boot.pem" --key "$D/boot.key" --id node-x --state unprovisioned
        [[ $OUT == registered ]] && { ok=1; break; }
        sleep 0.5
done
assert_eq 1 "$ok" "a new peer registers once the idle ones timed out"
_stop_pid "$idle" TERM 2
assert_true "node-a still connected" serving

section "a peer that stops after the version line (no D-Bus authentication)"
# TLS and "AOSNL 1", then silence: the main node's peer bus never gets past authentication.
# When the 10 s limit closes the connection, nothing may wait for that bus: the loop carries on.
mkfifo "$D/stall.in"
gnutls-cli --no-ca-verification --x509certfile="$D/boot.pem" --x509keyfile="$D/boot.key" -p "$BP" 127.0.0.1 \
        <"$D/stall.in" >"$D/stall.out" 2>&1 &
stall=$!
_track "$stall" stalled-peer
exec {stall_fd}>"$D/stall.in"
printf 'AOSNL 1\n' >&"$stall_fd"
wait_until 10 grep -q 'AOSNL 1' "$D/stall.out"
assert_match 'AOSNL 1' "$(cat "$D/stall.out")" "the main node answered the version line"
sleep 11
t0=$(date +%s%N)
assert_true "the bus API answers after the stalled peer's time limit" timeout 3 env DBUS_SYSTEM_BUS_ADDRESS="${NODE_BUS[main]}" busctl --system -- call "$NL_DEST" "$NL_PATH" "$NL_IFACE" ListNodes
log "# ListNodes answered in $((($(date +%s%N) - t0) / 1000000)) ms"
assert_true "node-a kept its link (keepalive 1 s)" serving
assert_match 'registration timed out' "$(cat "$D/main/nodelinkd.log")" "the stalled peer was dropped at its time limit"
exec {stall_fd}>&-
_stop_pid "$stall" TERM 2
assert_no_match 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$(cat "$D/main/nodelinkd.log" "$D/sec1/nodelinkd.log")" "no sanitizer report"
harness_finish
