#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aosctl's views of a unit from the main node: `aosctl nodes` (ListNodes of aos-nodelinkd, text
# and --json), `aosctl status --node` and `aosctl certs --node` (a secondary's certificates read
# through its node object). A main node and one secondary (node-a) on loopback, each with its
# own bus, token, aos-certd, aos-provisiond and aos-nodelinkd (the "provisioned unit" helpers of
# lib.sh): node-a on bootstrap, then provisioned through the main node and on protected; a node
# that is not connected; no aos-nodelinkd on the bus.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tools/aosctl-it.sh
. "$AOS_TEST_SRCDIR/tests/tools/aosctl-it.sh"

unit_harness_init
require_aosctl
require_nodelinkd
command -v python3 >/dev/null || harness_skip "missing tool: python3"
T0=$SECONDS

PW_MAIN='Main-Nodes-Pw-41d07e2b'
PW_A='NodeA-Nodes-Pw-9e3c55a0'

unit_ports || harness_finish

unit_node_setup main main yes "127.0.0.1:$PP" "127.0.0.1:$BP" "main localhost" || harness_finish
unit_node_setup sec1 node-a no "127.0.0.1:$PP" "127.0.0.1:$BP" "" || harness_finish
on_node main start_polkitd

unit_ca || harness_finish
write_password_file "$D/pw-main" "$PW_MAIN"
write_password_file "$D/pw-a" "$PW_A"

main_aosctl() { DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[main]} aosctl "$@"; }
node_aosctl() { local n=$1; shift; DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$n]} aosctl "$@"; }
has_node() { nl_has_node main "$@"; }
lacks_node() { ! nl_has_node main "$1"; }
# jq_py JSON EXPR: EXPR (Python, the document is d) evaluated on aosctl's JSON; strings as they
# are, the rest as JSON.
jq_py() {
        python3 -c 'import json, sys
v = eval(sys.argv[2], {"d": json.loads(sys.argv[1])})
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}
# The node-a row of `aosctl nodes`: ID STATE CHANNEL CONNECTED ADDRESS SINCE (date time zone)
# FINGERPRINT (16 hex digits and "...").
nodes_row_re() {
        printf '^node-a +%s +%s +yes +127\\.0\\.0\\.1:[0-9]+ +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [^ ]+ +%s\\.\\.\\.$' \
                "$1" "$2" "${3:0:16}"
}

section "1. the main node, provisioned locally; aosctl nodes without aos-nodelinkd: exit 3"
assert_ok main_aosctl provision "${CA[@]}" --password-file "$D/pw-main"
run main_aosctl nodes
assert_eq 3 "$RC" "aosctl nodes without aos-nodelinkd: exit status"
assert_match "^aosctl: ListNodes of org\\.aosedge\\.NodeLink1: org\\.freedesktop\\.DBus\\.Error\\.(ServiceUnknown|NameHasNoOwner): " \
        "$ERR" "the error names the call and the bus error"
assert_eq "" "$OUT" "nothing on stdout"
run main_aosctl status --node node-a
assert_eq 3 "$RC" "aosctl status --node without aos-nodelinkd: exit status"

section "2. node-a on the bootstrap channel"
assert_ok on_node main start_nodelinkd main
run main_aosctl nodes
assert_eq "(no nodes connected)" "$OUT" "aosctl nodes before any node connected"
assert_ok main_aosctl nodes --json
assert_eq "[]" "$OUT" "aosctl nodes --json before any node connected"
assert_ok on_node sec1 start_nodelinkd sec1
assert_true "node-a on bootstrap" wait_secs 15 has_node node-a bootstrap
FP_A=$(unit_bootstrap_fingerprint sec1)
assert_ok main_aosctl nodes
log "$OUT" | sed 's/^/    /'
assert_match '^ID +STATE +CHANNEL +CONNECTED +ADDRESS +SINCE +FINGERPRINT$' "$(head -n1 <<<"$OUT")" "table header"
assert_match "$(nodes_row_re unprovisioned bootstrap "$FP_A")" "$OUT" "node-a: unprovisioned, bootstrap, short fingerprint"
assert_eq 2 "$(grep -c . <<<"$OUT")" "one row"
assert_ok main_aosctl nodes --json
js=$OUT
assert_true "nodes --json is valid JSON" json_valid "$js"
assert_eq 1 "$(jq_py "$js" 'len(d)')" "one node"
assert_eq node-a "$(jq_py "$js" 'd[0]["id"]')" "id"
assert_eq bootstrap "$(jq_py "$js" 'd[0]["channel"]')" "channel"
assert_eq unprovisioned "$(jq_py "$js" 'd[0]["state"]')" "state"
assert_eq true "$(jq_py "$js" 'd[0]["connected"]')" "connected"
assert_eq "$FP_A" "$(jq_py "$js" 'd[0]["peerFingerprint"]')" "peerFingerprint: all of it"
assert_eq "Node node-a" "$(jq_py "$js" 'd[0]["title"]')" "title"
assert_eq test "$(jq_py "$js" 'd[0]["type"]')" "type"
assert_eq "$(unit_nl_field main node-a PeerAddress)" "$(jq_py "$js" 'd[0]["peerAddress"]')" "peerAddress"
assert_eq "$(unit_nl_field main node-a PeerSubject)" "$(jq_py "$js" 'd[0]["peerSubject"]')" "peerSubject"
assert_eq "$(unit_nl_field main node-a Since)" "$(jq_py "$js" 'd[0]["since"]')" "since (µs)"
assert_eq "id title type state channel peerAddress peerSubject peerFingerprint connected since" \
        "$(jq_py "$js" '" ".join(d[0].keys())')" "every field"

section "3. node-a provisioned through the main node: protected, provisioned"
assert_ok main_aosctl provision --node node-a "${CA[@]}" --password-file "$D/pw-a" --expect-fingerprint "$FP_A"
assert_true "node-a on protected, provisioned" wait_secs 15 has_node node-a "protected provisioned"
A_IAM_FP=$(on_node sec1 latest_field iam Fingerprint)
assert_ok main_aosctl nodes
log "$OUT" | sed 's/^/    /'
assert_match "$(nodes_row_re provisioned protected "$A_IAM_FP")" "$OUT" "node-a: provisioned, protected, its iam certificate"
assert_ok main_aosctl nodes --json
assert_eq protected "$(jq_py "$OUT" 'd[0]["channel"]')" "--json: channel"
assert_eq provisioned "$(jq_py "$OUT" 'd[0]["state"]')" "--json: state"
assert_eq "$A_IAM_FP" "$(jq_py "$OUT" 'd[0]["peerFingerprint"]')" "--json: peerFingerprint"

section "4. status --node and certs --node: node-a's certificates, read over the link"
assert_ok node_aosctl sec1 status --json
own=$OUT
A_IAM_SERIAL=$(jq_py "$own" '[m for m in d["modules"] if m["type"] == "iam"][0]["certificate"]["serial"]')
assert_match '^[0-9a-f]+$' "$A_IAM_SERIAL" "node-a's own status: iam serial"
assert_ok main_aosctl status --node node-a
log "$OUT" | sed 's/^/    /'
assert_match '^Node: +node-a \(secondary node' "$OUT" "status --node: the node"
assert_match '^State: +provisioned$' "$OUT" "status --node: state (ListNodes)"
assert_match '^Link: +connected, protected channel$' "$OUT" "status --node: link"
assert_match "^iam +CN=node-a +$A_IAM_SERIAL " "$OUT" "status --node: iam with node-a's own serial"
assert_match '^sm +CN=node-a ' "$OUT" "status --node: sm"
assert_match '^offline +CN=' "$OUT" "status --node: offline (self-signed)"
assert_ok main_aosctl status --node node-a --json
st=$OUT
assert_true "status --node --json is valid JSON" json_valid "$st"
assert_eq node-a "$(jq_py "$st" 'd["nodeId"]')" "--json: nodeId"
assert_eq provisioned "$(jq_py "$st" 'd["state"]')" "--json: state"
assert_eq '{"connected": true, "channel": "protected"}' "$(jq_py "$st" 'd["link"]')" "--json: link"
assert_eq "$(jq_py "$own" 'd["modules"]')" "$(jq_py "$st" 'd["modules"]')" \
        "--json: modules the same as node-a's own status (daysLeft too)"
assert_ok main_aosctl certs --node node-a iam
log "$OUT" | sed 's/^/    /'
assert_match "^iam +$A_IAM_SERIAL +CN=node-a " "$OUT" "certs --node node-a iam: the current certificate"
assert_eq "$(node_aosctl sec1 certs iam)" "$OUT" "certs --node node-a iam = node-a's own certs iam"
assert_ok main_aosctl certs --node node-a --json
assert_eq "$(node_aosctl sec1 certs --json)" "$OUT" "certs --node node-a --json = node-a's own certs --json"
assert_ok main_aosctl status
assert_match '^Node: +main \(main node\)' "$OUT" "status without --node: the main node as before"

section "5. a node that is not connected: exit 1, named"
for cmd in status "certs iam"; do
        # shellcheck disable=SC2086 # cmd is split on purpose
        run main_aosctl $cmd --node node-zz
        assert_eq 1 "$RC" "aosctl $cmd --node node-zz: exit status"
        assert_match "node node-zz is not connected to this node's link" "$ERR" "aosctl $cmd --node node-zz: names the node"
        assert_eq "" "$OUT" "aosctl $cmd --node node-zz: nothing on stdout"
done
stop_nodelinkd sec1
assert_true "node-a gone from ListNodes" wait_secs 10 lacks_node node-a
run main_aosctl status --node node-a
assert_eq 1 "$RC" "aosctl status --node node-a after it disconnected: exit status"
assert_match "node node-a is not connected" "$ERR" "names node-a"
run main_aosctl nodes
assert_eq "(no nodes connected)" "$OUT" "aosctl nodes: empty again"

section "6. no password in any log, no sanitizer report"
unit_stop_daemons
unit_assert_no_secret_in_logs "$PW_MAIN" "$PW_A"
unit_assert_no_sanitizer_reports
log "# took $((SECONDS - T0)) s"
unit_node_use
CERTD_PID=
harness_finish
