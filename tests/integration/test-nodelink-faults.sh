#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-nodelinkd under faults: a secondary that stops answering mid-call (SIGSTOP: the caller
# gets Timeout, other nodes are unaffected), and a link cut in network namespaces (ip link set
# down: the main node notices the dead peer within ~2x KeepaliveSec, the secondary comes back
# when the link is up again).
. "$(dirname "$0")/lib.sh"
harness_init
require_certd
require_nodelinkd

NSM=aosnl-m-$$ NSS=aosnl-s-$$
cleanup_ns() { ip netns del "$NSM" 2>/dev/null; ip netns del "$NSS" 2>/dev/null; true; }
trap 'cleanup_ns; _cleanup' EXIT

PP=$(free_port); BP=$(free_port)
node_setup main main yes "127.0.0.1:$PP" "127.0.0.1:$BP"
node_setup sec1 node-a no "127.0.0.1:$PP" "127.0.0.1:$BP"
node_setup sec2 node-b no "127.0.0.1:$PP" "127.0.0.1:$BP"
# Calls time out before keepalive gives up on the stopped node.
mkdir -p "$D/main/iam.conf.d"
printf '[NodeLink]\nKeepaliveSec=5\nCallTimeoutSec=2\n' >"$D/main/iam.conf.d/50-faults.conf"
assert_ok node_issue_iam main main
assert_ok start_nodelinkd main
assert_ok start_nodelinkd sec1
assert_ok start_nodelinkd sec2
both_connected() { nl_has_node main node-a && nl_has_node main node-b; }
a_gone() { ! nl_has_node main node-a; }
assert_true "both connected" wait_until 10 both_connected

section "a secondary stops answering mid-call"
kill -STOP "${NODE_NLD[sec1]}"
nl_try main "$(nl_node_path node-a)" org.aosedge.Certs1.Manager GetCertTypes >"$D/stopped.out" 2>&1 &
call=$!
sleep 0.3
assert_ok nl_node_call main node-b org.aosedge.Certs1.Manager GetCertTypes
assert_match '"iam"' "$OUT" "node-b answers while node-a hangs"
wait "$call"
assert_match "$E_TIMEOUT" "$(cat "$D/stopped.out")" "the call to the stopped node gets Timeout"
kill -CONT "${NODE_NLD[sec1]}"
assert_true "node-a answers again" wait_until 10 nl_node_call main node-a org.aosedge.Certs1.Manager GetCertTypes

section "the link is cut (network namespaces)"
stop_nodelinkd main
stop_nodelinkd sec1
stop_nodelinkd sec2
ip netns add "$NSM" && ip netns add "$NSS" || harness_skip "cannot make network namespaces"
ip link add "vm$$" type veth peer name "vs$$"
ip link set "vm$$" netns "$NSM"; ip link set "vs$$" netns "$NSS"
ip -n "$NSM" link set lo up; ip -n "$NSS" link set lo up
ip -n "$NSM" addr add 169.254.77.1/24 dev "vm$$"; ip -n "$NSS" addr add 169.254.77.2/24 dev "vs$$"
ip -n "$NSM" link set "vm$$" up; ip -n "$NSS" link set "vs$$" up
for n in main sec1; do
        sed -i -e "s/^ListenProtected=.*/ListenProtected=169.254.77.1:$PP/" -e "s/^ListenBootstrap=.*/ListenBootstrap=169.254.77.1:$BP/" \
                -e "s/^MainProtected=.*/MainProtected=169.254.77.1:$PP/" -e "s/^MainBootstrap=.*/MainBootstrap=169.254.77.1:$BP/" \
                "$D/$n/iam.conf"
done
printf '[NodeLink]\nKeepaliveSec=1\nCallTimeoutSec=2\n' >"$D/main/iam.conf.d/50-faults.conf"
NL_WRAP=(ip netns exec "$NSM"); assert_ok start_nodelinkd main
NL_WRAP=(ip netns exec "$NSS"); assert_ok start_nodelinkd sec1
NL_WRAP=()
assert_true "node-a connected across the veth" wait_until 15 nl_has_node main node-a bootstrap
ip -n "$NSS" link set "vs$$" down
t0=$(date +%s%N)
assert_true "the main node notices the dead peer" wait_until 10 a_gone
ms=$((($(date +%s%N) - t0) / 1000000))
log "# dead peer noticed after $ms ms (KeepaliveSec=1)"
# 2.25 s by design; the rest is the polling above and a loaded CI machine.
assert_cmp "$ms" -le 4000 "noticed within about 2 x KeepaliveSec (measured, see the log line above)"
assert_match 'keepalive' "$(cat "$D/main/nodelinkd.log")" "keepalive named as the reason"
sec_noticed() { grep -q 'missed 2 keepalives' "$D/sec1/nodelinkd.log"; }
assert_true "the secondary notices it too" wait_until 4 sec_noticed
ip -n "$NSS" link set "vs$$" up
assert_true "node-a comes back when the link is up" wait_until 20 nl_has_node main node-a bootstrap
stop_nodelinkd sec1
stop_nodelinkd main
cleanup_ns
harness_finish
