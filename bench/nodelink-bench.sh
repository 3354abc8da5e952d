#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-nodelinkd benchmark (issue #4): one main node and its secondaries on loopback, each number
# next to a baseline measured in the same run, written to bench/report-nodelink.md (and
# printed). A report, not a test: nothing here asserts a time. See bench/README.md for what
# each number means.
#
#   sudo bench/nodelink-bench.sh         # needs build/ (meson setup build && ninja -C build)
#
# Environment: AOS_TEST_BUILDDIR (default: build/ of this checkout), AOS_BENCH_REPORT (default
# bench/report-nodelink.md), AOS_TEST_KEEP=1 keeps the scratch dir, AOS_BENCH_NODES (default
# 64) and AOS_BENCH_PROV_NODES (default 64) for smaller runs. Builds nothing but its two small
# C helpers (bench/tls-baseline.c, bench/nodelink-load.c), into the scratch dir. The fixtures
# (private buses, aos-certd, aos-provisiond, aos-nodelinkd per node) come from the integration
# harness, tests/integration/lib.sh, which also stops every process by its PID on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$BENCH_DIR/.." && pwd)
export AOS_TEST_SRCDIR=$SRC
: "${AOS_TEST_BUILDDIR:=$SRC/build}"
export AOS_TEST_BUILDDIR
REPORT=${AOS_BENCH_REPORT:-$BENCH_DIR/report-nodelink.md}

# shellcheck source=../tests/integration/lib.sh
. "$SRC/tests/integration/lib.sh"
# shellcheck source=bench-lib.sh
. "$BENCH_DIR/bench-lib.sh"
# shellcheck source=../tests/tools/aosctl-it.sh
. "$SRC/tests/tools/aosctl-it.sh"
T_NAME=nodelink-bench

# --- sizes ----------------------------------------------------------------------------------------
HS_ROUNDS=5             # 1. handshakes: rounds, the two servers alternating within each
HS_WARMUP=10            #   handshakes per server and round not recorded
HS_N=100                #   recorded handshakes per server and round (500 per server in all)
PAR_THREADS=2           #   concurrent clients (the CPU count)
PAR_SEC=2               #   seconds per throughput run (2 runs per server, alternating)
BURST=64                #   processes started at once, one handshake each (3 rounds per server)
CALL_ROUNDS=5           # 2. forwarded call: rounds, the probes interleaved round by round
CALL_WARMUP=20          #   calls per probe and round not recorded
CALL_N=200              #   recorded calls per probe and round (1000 per probe in all)
RTT_N=400               #   TLS echo round trips per round (2000 in all)
RTT_SIZE=160            #   bytes per echo: about a GetCertTypes call on the peer connection
NODES=${AOS_BENCH_NODES:-64}            # 3. secondaries started at once
PROV_NODES=${AOS_BENCH_PROV_NODES:-64}  #    of them provisioned at once through the main node
WAIT_SEC=120            #   limit for every "all nodes listed" wait
KEEPALIVE=5             # [NodeLink] KeepaliveSec= of every node (the default)
TUNABLE=glibc.malloc.mmap_threshold=131072   # the allocator experiment of section 3
if [[ -n ${AOS_BENCH_QUICK:-} ]]; then # a smoke test of the script, not a measurement
        HS_ROUNDS=2 HS_N=20 PAR_SEC=1 BURST=8 CALL_ROUNDS=2 CALL_N=50 RTT_N=100
fi
PW="bench-Prov-Pw-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"

die() {
        printf 'nodelink-bench: %s\n' "$*" >&2
        local f
        for f in "${_NODE_TOP:-$D}"/main/nodelinkd.log "${_NODE_TOP:-$D}"/main/provisiond.log; do
                [[ -s $f ]] && { printf -- '--- %s\n' "$f" >&2; tail -n 15 "$f" >&2; }
        done
        exit 1
}

T0=$EPOCHREALTIME
for b in services/certd/aos-certd services/nodelinkd/aos-nodelinkd services/provisiond/aos-provisiond tools/aosctl/aosctl; do
        [[ -x $AOS_TEST_BUILDDIR/$b ]] ||
                { echo "nodelink-bench: no $b in $AOS_TEST_BUILDDIR: meson setup build && ninja -C build" >&2; exit 1; }
done
for t in cc pkg-config taskset ss python3; do
        command -v "$t" >/dev/null || { echo "nodelink-bench: missing tool: $t" >&2; exit 1; }
done
((NODES >= 1 && NODES <= 64)) || { echo "nodelink-bench: AOS_BENCH_NODES must be 1..64 (the main node's limit of unregistered connections)" >&2; exit 1; }
((PROV_NODES >= 1 && PROV_NODES <= NODES)) || { echo "nodelink-bench: AOS_BENCH_PROV_NODES must be 1..$NODES" >&2; exit 1; }
harness_init >&2
require_aosctl
require_nodelinkd

# --- helpers -------------------------------------------------------------------------------------

TLSB=$D/tls-baseline
LOAD=$D/nodelink-load
NCPU=$(nproc)
# Copies of the binaries, so that a rebuild of the build directory during the run changes nothing.
BUILT_NLD=$NODELINKD_BIN
mkdir -p "$D/bin"
for b in "$CERTD_BIN" "$NODELINKD_BIN" "$PROVISIOND_BIN" "$AOSCTL_BIN"; do
        cp -p "$b" "$D/bin/" || die "cannot copy $b"
done
CERTD_BIN=$D/bin/aos-certd
NODELINKD_BIN=$D/bin/aos-nodelinkd
PROVISIOND_BIN=$D/bin/aos-provisiond
AOSCTL_BIN=$D/bin/aosctl

# calc EXPR: awk arithmetic, 2 decimals.
calc() { awk "BEGIN { printf \"%.2f\n\", $1 }"; }
# row LABEL FILE DIVISOR DECIMALS [BASE_STATS...]: "| label | n | median | p90 | min |" and a
# median ratio to each baseline given (stats strings).
row() {
        local label=$1 s b
        s=$(stats "$2")
        local div=$3 dec=$4
        shift 4
        printf '| %s | %s | %s | %s | %s |' "$label" "$(field "$s" 1)" "$(num "$(field "$s" 3)" "$div" "$dec")" \
                "$(num "$(field "$s" 4)" "$div" "$dec")" "$(num "$(field "$s" 2)" "$div" "$dec")"
        for b in "$@"; do
                printf ' %s |' "$(ratio "$(field "$s" 3)" "$(field "$b" 3)")"
        done
        printf '\n'
}
# ms_since T: milliseconds since T (an $EPOCHREALTIME value).
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'; }

# mem PID LABEL: VmRSS, VmHWM, RssAnon, Threads of PID (/proc/PID/status) and the resident part
# of its brk heap ([heap] in /proc/PID/smaps), appended to $D/mem.txt; "VmRSS RssAnon" (KiB) to
# stdout.
mem() {
        local heap
        heap=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { h = ($6 == "[heap]") } h && /^Rss:/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps")
        awk -v label="$2" -v heap="$heap" '
                /^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 } /^RssAnon:/ { anon = $2 } /^Threads:/ { thr = $2 }
                END { printf "%s\t%s\t%s\t%s\t%s\t%s\n", label, rss, hwm, anon, heap, thr }' "/proc/$1/status" >>"$D/mem.txt"
        tail -n1 "$D/mem.txt" | cut -f2,4
}
# oncpu PID: nanoseconds PID has run on a CPU so far, all its threads (/proc/PID/task/*/schedstat).
oncpu() {
        local s=0 a t
        for t in /proc/"$1"/task/*/schedstat; do
                read -r a _ <"$t" && s=$((s + a))
        done
        echo "$s"
}
# measure_cpu KEY CMD...: CMD, and the on-CPU time each of CPU_PIDS spent meanwhile, added to
# CPU_NS[KEY/NAME] (NAME from CPU_NAMES).
declare -A CPU_NS=()
measure_cpu() {
        local key=$1 i before=() after
        shift
        for i in "${!CPU_PIDS[@]}"; do before[i]=$(oncpu "${CPU_PIDS[i]}"); done
        "$@" || return 1
        for i in "${!CPU_PIDS[@]}"; do
                after=$(oncpu "${CPU_PIDS[i]}")
                CPU_NS[$key/${CPU_NAMES[i]}]=$((${CPU_NS[$key/${CPU_NAMES[i]}]:-0} + after - before[i]))
        done
}
# cpu_us KEY NAME CALLS: µs on CPU per call.
cpu_us() { awk -v ns="${CPU_NS[$1/$2]:-}" -v n="$3" 'BEGIN { if (ns == "") print "-"; else printf "%.0f\n", ns / n / 1000 }'; }
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# pin PID...: every thread of each PID on CPU 0; unpin PID...: back on all CPUs.
pin() { local p; for p in "$@"; do taskset -a -pc 0 "$p" >/dev/null || die "cannot pin PID $p"; done; }
unpin() { local p; for p in "$@"; do taskset -a -pc "0-$((NCPU - 1))" "$p" >/dev/null || die "cannot unpin PID $p"; done; }

# bench_node NAME ID MAIN(yes|no): the node's own bus and configuration ([Certd] with an sw
# "iam" module, ECDSA P-384, serverAuth clientAuth; [Node]; [NodeLink]), nothing started
# besides the bus. Like the harness's node_setup, without aos-certd, and with the production
# timeouts (the harness's 3 s CallTimeoutSec is too short for 64 provisionings at once).
bench_node() {
        local name=$1 id=$2 main=$3 prev=$_NODE_CUR
        node_use "$name"
        start_bus >/dev/null || { node_use "$prev"; return 1; }
        NODE_BUS[$name]=$DBUS_SYSTEM_BUS_ADDRESS
        NODE_ID[$name]=$id
        write_config "$D/iam.conf"
        module iam sw ecdsa "serverAuth clientAuth" "" 2
        {
                printf '\n[Node]\nId=%s\nTitle=Node %s\nType=bench\nMainNode=%s\nStateFile=%s/provisioning.state\n' \
                        "$id" "$id" "$main" "$D"
                printf '\n[NodeLink]\nListenProtected=%s\nListenBootstrap=%s\nMainProtected=%s\nMainBootstrap=%s\n' \
                        "127.0.0.1:$PP" "127.0.0.1:$BP" "127.0.0.1:$PP" "127.0.0.1:$BP"
                printf 'CertType=iam\nKeepaliveSec=%s\nReconnectMaxSec=2\nCallTimeoutSec=60\nProvisioningTimeoutSec=300\n' \
                        "$KEEPALIVE"
                printf 'StateDir=%s/nodelink\n' "$D"
        } >>"$D/iam.conf"
        node_use "$prev"
}
# on NAME CMD...: CMD with NAME's bus and scratch dir (then back).
on() {
        local name=$1 prev=$_NODE_CUR rc
        shift
        node_use "$name"
        "$@"
        rc=$?
        node_use "$prev"
        return $rc
}
# nld_launch NAME: the node's aos-nodelinkd, not waiting for anything (tracked by the harness).
nld_launch() {
        local dir=$_NODE_TOP/$1
        DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$1]} "$NODELINKD_BIN" --config "$dir/iam.conf" --log-level info \
                </dev/null >>"$dir/nodelinkd.log" 2>&1 &
        NODE_NLD[$1]=$!
        _track "$!" "aos-nodelinkd-$1"
}
# nld_stop_all NAME...: SIGTERM to each node's aos-nodelinkd at once, then wait for each.
nld_stop_all() {
        local n
        for n in "$@"; do [[ -n ${NODE_NLD[$n]:-} ]] && kill -TERM "${NODE_NLD[$n]}" 2>/dev/null; done
        for n in "$@"; do
                [[ -n ${NODE_NLD[$n]:-} ]] || continue
                _stop_pid "${NODE_NLD[$n]}" TERM 10 || say "aos-nodelinkd of $n needed SIGKILL"
                NODE_NLD[$n]=
        done
}
# wait_start N CHANNEL OUT: nodelink-load wait-nodes on the main bus in the background (tracked);
# returns once it listens. wait_end: waits for it; status 0 when all came.
wait_start() {
        : >"$3"
        "$LOAD" wait-nodes "${NODE_BUS[main]}" "$1" "$2" "$WAIT_SEC" >"$3" 2>>"$D/wait.err" &
        WAIT_PID=$!
        _track "$WAIT_PID" wait-nodes
        wait_until 10 grep -q '^ready$' "$3" || die "wait-nodes did not start"
}
wait_end() {
        wait "$WAIT_PID"
        local rc=$?
        _untrack "$WAIT_PID"
        return $rc
}
# arrivals FILE T: milliseconds from T ($EPOCHREALTIME) to each node's NodeConnected, one a line.
arrivals() { awk -v t="$2" '$1 ~ /^[0-9]+$/ { printf "%.1f\n", ($1 / 1e9 - t) * 1000 }' "$1"; }
listed_count() { nl_call main ListNodes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"][0]))'; }
listed_is() { [[ $(listed_count 2>/dev/null) == "$1" ]]; }

# --- fixtures: the main node -----------------------------------------------------------------------

say "building the helpers into $D"
# shellcheck disable=SC2046
cc -O2 -Wall -o "$TLSB" "$BENCH_DIR/tls-baseline.c" $(pkg-config --cflags --libs gnutls) -pthread >&2 ||
        die "cannot build tls-baseline"
# shellcheck disable=SC2046
cc -O2 -Wall -o "$LOAD" "$BENCH_DIR/nodelink-load.c" $(pkg-config --cflags --libs libsystemd) >&2 ||
        die "cannot build nodelink-load"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_START=$(others)
PP=$(free_port) || die "no free port"
BP=$(free_port) || die "no free port"
while [[ $BP == "$PP" ]]; do BP=$(free_port); done
say "main node: protected 127.0.0.1:$PP, bootstrap 127.0.0.1:$BP"
: >"$D/mem.txt"

bench_node main main yes || die "cannot set up the main node"
on main start_certd --log-level info >&2 || die "aos-certd of the main node did not start"
node_issue_iam main main >&2 || die "cannot issue the main node's link certificate"
on main start_provisiond --log-level info --provisioning >&2 || die "aos-provisiond of the main node did not start"
# The main node's link certificate and key (sw module: PEM files), for the plain gnutls server.
gc=$(on main certs_call GetCert says iam 0 "") || die "GetCert iam on the main node failed"
MAIN_CERT=$(json_get "$gc" CertURL)
MAIN_KEY=$(json_get "$gc" KeyURL)
MAIN_CERT=${MAIN_CERT#file:}
MAIN_KEY=${MAIN_KEY#file:}
[[ -r $MAIN_CERT && -r $MAIN_KEY ]] || die "the main node's iam certificate is not in files ($MAIN_CERT, $MAIN_KEY)"
start_nodelinkd main --log-level info >&2 || die "aos-nodelinkd of the main node did not start"
MAIN_NLD=${NODE_NLD[main]}
MAIN_BUS_PID=${NODE_BUSPID[main]}
mem "$MAIN_NLD" "just started, no node connected" >/dev/null

# A client certificate for the handshake benchmark: ECDSA P-384 like the nodes' iam
# certificates, signed by the same CA as the main node's (CACert), clientAuth.
mkdir -p "$D/client"
certtool --generate-privkey --key-type ecdsa --curve secp384r1 --outfile "$D/client/key.pem" 2>/dev/null ||
        die "cannot make the client key"
printf 'cn = "bench-client"\ntls_www_client\nsigning_key\nexpiration_days = 30\n' >"$D/client/tmpl"
certtool --generate-certificate --load-privkey "$D/client/key.pem" --load-ca-certificate "$AOS_TEST_PKI/ca.pem" \
        --load-ca-privkey "$AOS_TEST_PKI/ca.key" --template "$D/client/tmpl" --outfile "$D/client/cert.pem" 2>/dev/null ||
        die "cannot sign the client certificate"
CA=$AOS_TEST_PKI/ca.pem
CLIENT=("$D/client/cert.pem" "$D/client/key.pem" "$CA")

# The plain gnutls server, with the main node's certificate and key.
"$TLSB" server 127.0.0.1:0 "$MAIN_CERT" "$MAIN_KEY" "$CA" >"$D/tlsb.port" 2>>"$D/tlsb.log" </dev/null &
TLSB_PID=$!
_track "$TLSB_PID" tls-baseline-server
wait_until 10 test -s "$D/tlsb.port" || die "the plain gnutls server did not start"
TLSB_PORT=$(cat "$D/tlsb.port")
NL_ADDR=127.0.0.1:$PP
TLSB_ADDR=127.0.0.1:$TLSB_PORT

# --- 1. handshakes -------------------------------------------------------------------------------

say "1. handshakes: $HS_ROUNDS rounds x $HS_N per server (aos-nodelinkd protected endpoint, plain gnutls)"
mkdir -p "$D/hs"
: >"$D/hs/nl.us"
: >"$D/hs/plain.us"
declare -A HS_FAILED=([nl]=0 [plain]=0) HS_SERVER_NS=([nl]=0 [plain]=0) HS_COUNT=([nl]=0 [plain]=0)
hs_run() { # TAG ADDR SERVER_PID: also the server's on-CPU time (warm-up included)
        local c0 f
        c0=$(oncpu "$3")
        "$TLSB" handshake "$2" "${CLIENT[@]}" "$HS_N" "$HS_WARMUP" >>"$D/hs/$1.us" 2>"$D/hs/$1.err" ||
                die "handshakes with $1 failed: $(cat "$D/hs/$1.err")"
        HS_SERVER_NS[$1]=$((HS_SERVER_NS[$1] + $(oncpu "$3") - c0))
        f=$(awk '/^failed:/ { print $2 + 0 }' "$D/hs/$1.err")
        HS_FAILED[$1]=$((HS_FAILED[$1] + f))
        HS_COUNT[$1]=$((HS_COUNT[$1] + HS_N + HS_WARMUP + f))
}
for ((r = 0; r < HS_ROUNDS; r++)); do
        if ((r % 2 == 0)); then
                hs_run nl "$NL_ADDR" "$MAIN_NLD"
                hs_run plain "$TLSB_ADDR" "$TLSB_PID"
        else
                hs_run plain "$TLSB_ADDR" "$TLSB_PID"
                hs_run nl "$NL_ADDR" "$MAIN_NLD"
        fi
done

say "1. throughput: $PAR_THREADS concurrent clients, $PAR_SEC s per run, alternating"
: >"$D/hs/par-nl"
: >"$D/hs/par-plain"
for ((r = 0; r < 2; r++)); do
        "$TLSB" parallel "$NL_ADDR" "${CLIENT[@]}" "$PAR_THREADS" "$PAR_SEC" >>"$D/hs/par-nl" || die "parallel (nodelinkd) failed"
        "$TLSB" parallel "$TLSB_ADDR" "${CLIENT[@]}" "$PAR_THREADS" "$PAR_SEC" >>"$D/hs/par-plain" || die "parallel (plain) failed"
done

say "1. bursts: $BURST client processes at once, 3 rounds per server"
# burst TAG ADDR: BURST processes started back to back, each one handshake; ms until all exited.
burst() {
        local i t pids=() fails=0
        t=$EPOCHREALTIME
        for ((i = 0; i < BURST; i++)); do
                "$TLSB" handshake "$2" "${CLIENT[@]}" 1 0 >>"$D/hs/burst-$1.each" 2>/dev/null &
                pids+=("$!")
        done
        for i in "${pids[@]}"; do wait "$i" || fails=$((fails + 1)); done
        ms_since "$t" >>"$D/hs/burst-$1"
        echo "$fails" >>"$D/hs/burst-$1.fails"
}
for f in burst-nl burst-plain burst-nl.each burst-plain.each burst-nl.fails burst-plain.fails; do : >"$D/hs/$f"; done
for ((r = 0; r < 3; r++)); do
        burst nl "$NL_ADDR"
        burst plain "$TLSB_ADDR"
done
mem "$MAIN_NLD" "after section 1 (~$((2 * HS_ROUNDS * (HS_N + HS_WARMUP) + 6 * BURST)) connections and the throughput runs, closed)" >/dev/null

# --- provisioning baselines and the secondary for section 2 ----------------------------------------

write_password_file "$D/pw" "$PW"
mkdir -p "$D/ca"
cp "$AOS_TEST_PKI/ca.pem" "$D/ca/ca.pem"
(umask 077 && cat "$AOS_TEST_PKI/ca.key" >"$D/ca/ca.key")
PROV_ARGS=(--ca-cert "$D/ca/ca.pem" --ca-key "$D/ca/ca.key" --days 30 --password-file "$D/pw")
main_aosctl() { DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[main]} "$AOSCTL_BIN" "$@"; }
# full_node NAME: the node's aos-certd and aos-provisiond (provisioning mode).
full_node() {
        on "$1" start_certd --log-level info >&2 || return 1
        on "$1" start_provisiond --log-level info --provisioning >&2 || return 1
        NODE_PROV[$1]=$PROVISIOND_PID
}

say "provisioning baselines: one node locally (aosctl on its own bus), one through the main node"
bench_node secl sec-local no || die "cannot set up sec-local"
bench_node secf sec-fwd no || die "cannot set up sec-fwd"
full_node secl || die "sec-local's daemons did not start"
full_node secf || die "sec-fwd's daemons did not start"
t=$EPOCHREALTIME
DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[secl]} "$AOSCTL_BIN" provision "${PROV_ARGS[@]}" >"$D/secl.prov" 2>&1 ||
        die "local provisioning of sec-local failed: $(tail -n 5 "$D/secl.prov")"
PROV_LOCAL_MS=$(ms_since "$t")
wait_start 2 protected "$D/wait-base"
nld_launch secl
nld_launch secf
wait_until 20 nl_has_node main sec-fwd bootstrap || die "sec-fwd did not register on bootstrap"
t=$EPOCHREALTIME
main_aosctl provision --node sec-fwd "${PROV_ARGS[@]}" >"$D/secf.prov" 2>&1 ||
        die "provisioning sec-fwd through the main node failed: $(tail -n 5 "$D/secf.prov")"
PROV_FWD_MS=$(ms_since "$t")
wait_end || die "sec-local and sec-fwd did not both come on protected: $(cat "$D/wait.err")"
SECF_PROTECTED_MS=$(arrivals "$D/wait-base" "$t" | tail -n1)

# --- 2. a forwarded call -------------------------------------------------------------------------

say "2. GetCertTypes forwarded to sec-fwd vs on its own bus, and the TLS echo round trip"
SECF_PATH=$(nl_node_path sec-fwd)
SECF_BUS_PID=${NODE_BUSPID[secf]}
SECF_CERTD=${NODE_CERTD[secf]}
SECF_NLD=${NODE_NLD[secf]}
PIN_PIDS=("$MAIN_BUS_PID" "$MAIN_NLD" "$SECF_BUS_PID" "$SECF_NLD" "$SECF_CERTD" "$TLSB_PID")
CPU_NAMES=(main-bus main-nld sec-bus sec-nld sec-certd)
CPU_PIDS=("$MAIN_BUS_PID" "$MAIN_NLD" "$SECF_BUS_PID" "$SECF_NLD" "$SECF_CERTD")
CALLS_PER_PROBE=$((CALL_ROUNDS * (CALL_WARMUP + CALL_N)))
for pin in unpinned pinned; do
        mkdir -p "$D/call-$pin"
        : >"$D/call-$pin/rtt.us"
        wrap=()
        if [[ $pin == pinned ]]; then
                pin "${PIN_PIDS[@]}"
                wrap=(taskset -c 0)
        fi
        for ((r = 0; r < CALL_ROUNDS; r++)); do
                for probe in getid fwd local; do
                        measure_cpu "$pin/$probe" "${wrap[@]}" "$LOAD" calls "$D/call-$pin" "$CALL_WARMUP" "$CALL_N" \
                                "${NODE_BUS[main]}" "${NODE_BUS[secf]}" "$SECF_PATH" "$probe" || die "calls ($pin, $probe) failed"
                done
                "${wrap[@]}" "$TLSB" rtt "$TLSB_ADDR" "${CLIENT[@]}" "$RTT_N" 50 "$RTT_SIZE" >>"$D/call-$pin/rtt.us" ||
                        die "TLS echo ($pin) failed"
        done
        [[ $pin == pinned ]] && unpin "${PIN_PIDS[@]}"
done
LISTNODES_2=$(stats <("$LOAD" repeat "${NODE_BUS[main]}" "$NL_DEST" "$NL_PATH" "$NL_IFACE" ListNodes 200 20))
mem "$MAIN_NLD" "after section 2: sec-local and sec-fwd connected (protected)" >/dev/null

# --- 3. many secondaries -------------------------------------------------------------------------

SEC=()
for ((i = 1; i <= NODES; i++)); do SEC+=("$(printf 's%02d' "$i")"); done
say "3. $NODES secondaries: buses and configurations"
for n in "${SEC[@]}"; do
        bench_node "$n" "node-$n" no || die "cannot set up $n"
done

# The main node's aos-nodelinkd afresh (its heap has not seen a link closed yet), as after a boot.
say "3. the main node's aos-nodelinkd restarted; sec-local and sec-fwd reconnect"
stop_nodelinkd main
start_nodelinkd main --log-level info >&2 || die "aos-nodelinkd of the main node did not restart"
MAIN_NLD=${NODE_NLD[main]}
wait_until 20 listed_is 2 || die "sec-local and sec-fwd did not come back"
sleep 0.5
read -r RSS_FRESH0 ANON_FRESH0 < <(mem "$MAIN_NLD" "restarted, sec-local and sec-fwd connected")
CPU_PIDS[1]=$MAIN_NLD
# fwd_rounds TAG: 2 rounds of forwarded GetCertTypes (and GetId) unpinned, into $D/call-TAG.
fwd_rounds() {
        mkdir -p "$D/call-$1"
        for ((r = 0; r < 2; r++)); do
                "$LOAD" calls "$D/call-$1" "$CALL_WARMUP" "$CALL_N" "${NODE_BUS[main]}" "${NODE_BUS[secf]}" "$SECF_PATH" getid ||
                        die "calls ($1) failed"
                measure_cpu "$1/fwd" "$LOAD" calls "$D/call-$1" "$CALL_WARMUP" "$CALL_N" "${NODE_BUS[main]}" \
                        "${NODE_BUS[secf]}" "$SECF_PATH" fwd || die "calls ($1) failed"
        done
}
fwd_rounds n2

# run_nodes TAG: every secondary's aos-nodelinkd started back to back; ms until all are listed.
run_nodes() {
        local tag=$1 n t
        wait_start "$NODES" bootstrap "$D/wait-$tag"
        t=$EPOCHREALTIME
        for n in "${SEC[@]}"; do nld_launch "$n"; done
        LAUNCH_MS=$(ms_since "$t")
        wait_end || die "not all $NODES secondaries registered ($tag): $(cat "$D/wait.err")"
        ALL_MS=$(ms_since "$t")
        arrivals "$D/wait-$tag" "$t" >"$D/arrive-$tag"
        # The node's own connection attempts: more than one means it was refused or failed.
        RETRIES=0
        for n in "${SEC[@]}"; do
                local k
                k=$(grep -c 'Link to the main node .* closed' "$_NODE_TOP/$n/nodelinkd.log")
                RETRIES=$((RETRIES + k))
        done
}

say "3a. $NODES secondaries started at once, first start (each makes its bootstrap key)"
for n in "${SEC[@]}"; do : >"$_NODE_TOP/$n/nodelinkd.log"; done
run_nodes cold
COLD_ALL=$ALL_MS COLD_LAUNCH=$LAUNCH_MS COLD_RETRIES=$RETRIES
sleep 1
read -r RSS_FRESH ANON_FRESH < <(mem "$MAIN_NLD" "restarted, + $NODES secondaries connected (bootstrap), 1 s later")
LISTNODES_N=$(stats <("$LOAD" repeat "${NODE_BUS[main]}" "$NL_DEST" "$NL_PATH" "$NL_IFACE" ListNodes 200 20))
fwd_rounds nmany
GETID_N=$(stats <("$LOAD" repeat "${NODE_BUS[main]}" org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId 200 20))
# A secondary's own footprint: its aos-nodelinkd and its dbus-daemon.
: >"$D/sec-nld.rss"
: >"$D/sec-nld.anon"
: >"$D/sec-bus.rss"
for n in "${SEC[@]}"; do
        proc_kib "${NODE_NLD[$n]}" VmRSS >>"$D/sec-nld.rss"
        proc_kib "${NODE_NLD[$n]}" RssAnon >>"$D/sec-nld.anon"
        proc_kib "${NODE_BUSPID[$n]}" VmRSS >>"$D/sec-bus.rss"
done

say "3b. all $NODES gone, then started again (bootstrap keys exist; the main node's heap has seen links close)"
nld_stop_all "${SEC[@]}"
wait_until 20 listed_is 2 || die "the secondaries did not all go"
sleep 0.5
read -r RSS_GONE ANON_GONE < <(mem "$MAIN_NLD" "the $NODES disconnected again")
for n in "${SEC[@]}"; do : >"$_NODE_TOP/$n/nodelinkd.log"; done
run_nodes warm
WARM_ALL=$ALL_MS WARM_LAUNCH=$LAUNCH_MS WARM_RETRIES=$RETRIES
sleep 1
read -r RSS_CHURN ANON_CHURN < <(mem "$MAIN_NLD" "+ $NODES secondaries connected again, 1 s later")

# The same with glibc's mmap threshold fixed at its default (128 KiB; setting it turns off the
# dynamic threshold): the allocator experiment behind the memory figures (see the README).
say "3b'. all $NODES gone; the main node's aos-nodelinkd restarted with $TUNABLE; started again"
nld_stop_all "${SEC[@]}"
stop_nodelinkd main
NL_WRAP=(env "GLIBC_TUNABLES=$TUNABLE")
start_nodelinkd main --log-level info >&2 || die "aos-nodelinkd of the main node did not start with $TUNABLE"
NL_WRAP=()
MAIN_NLD=${NODE_NLD[main]}
wait_until 20 listed_is 2 || die "sec-local and sec-fwd did not come back"
sleep 0.5
read -r RSS_TUNE0 ANON_TUNE0 < <(mem "$MAIN_NLD" "with $TUNABLE: restarted, sec-local and sec-fwd connected")
for n in "${SEC[@]}"; do : >"$_NODE_TOP/$n/nodelinkd.log"; done
run_nodes tuned
sleep 1
read -r RSS_TUNE ANON_TUNE < <(mem "$MAIN_NLD" "with $TUNABLE: + $NODES secondaries connected, 1 s later")

# Back to the daemon as it is, all $((NODES + 2)) connected: they find the restarted main node by themselves.
say "3b''. the main node's aos-nodelinkd restarted as it is; all $((NODES + 2)) secondaries come back by themselves"
wait_start $((NODES + 2)) any "$D/wait-restart"
stop_nodelinkd main
t=$EPOCHREALTIME
start_nodelinkd main --log-level info >&2 || die "aos-nodelinkd of the main node did not restart"
MAIN_NLD=${NODE_NLD[main]}
wait_end || die "not all $((NODES + 2)) came back after the main node's restart: $(cat "$D/wait.err")"
RESTART_ALL=$(ms_since "$t")
arrivals "$D/wait-restart" "$t" >"$D/arrive-restart"
sleep 1
mem "$MAIN_NLD" "restarted as it is, all $((NODES + 2)) back by themselves, 1 s later" >/dev/null

say "3c. aos-certd and aos-provisiond on $PROV_NODES of them"
PSEC=("${SEC[@]:0:PROV_NODES}")
t=$EPOCHREALTIME
for n in "${PSEC[@]}"; do
        full_node "$n" || die "the daemons of $n did not start"
done
FULL_SETUP_MS=$(ms_since "$t")

say "3d. $PROV_NODES provisioned at once through the main node (aosctl provision --node, in parallel)"
mkdir -p "$D/prov"
wait_start "$PROV_NODES" protected "$D/wait-prov"
t=$EPOCHREALTIME
declare -A PROV_PID=()
for n in "${PSEC[@]}"; do
        (
                s=$EPOCHREALTIME
                DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[main]} "$AOSCTL_BIN" provision --node "node-$n" "${PROV_ARGS[@]}" \
                        >"$D/prov/$n.out" 2>&1
                rc=$?
                awk -v a="$s" -v b="$EPOCHREALTIME" -v rc="$rc" 'BEGIN { printf "%d %.1f\n", rc, (b - a) * 1000 }' >"$D/prov/$n.rc"
        ) &
        PROV_PID[$n]=$!
        _track "$!" "aosctl-provision-$n"
done
PROV_FAILED=0
for n in "${PSEC[@]}"; do
        wait "${PROV_PID[$n]}"
        _untrack "${PROV_PID[$n]}"
done
PROV_ALL_MS=$(ms_since "$t")
: >"$D/prov.ms"
for n in "${PSEC[@]}"; do
        read -r rc ms <"$D/prov/$n.rc" || { rc=1; ms=; }
        if [[ $rc == 0 ]]; then
                echo "$ms" >>"$D/prov.ms"
        else
                PROV_FAILED=$((PROV_FAILED + 1))
                say "provisioning $n failed: $(tail -n 3 "$D/prov/$n.out")"
        fi
done
if ((PROV_FAILED == 0)); then
        wait_end || die "not all $PROV_NODES came back on protected: $(cat "$D/wait.err")"
        PROV_PROTECTED_MS=$(ms_since "$t")
else
        kill -TERM "$WAIT_PID" 2>/dev/null
        wait_end
        PROV_PROTECTED_MS=-
fi
sleep 1
mem "$MAIN_NLD" "$PROV_NODES of them provisioned and back on protected, 1 s later" >/dev/null
CHANNELS=$(nl_nodes main | awk '{ c[$2]++ } END { for (k in c) printf "%s %d, ", k, c[k] }' | sed 's/, $//')

say "3e. every secondary gone"
nld_stop_all "${SEC[@]}" secl secf
wait_until 20 listed_is 0 || say "ListNodes is not empty after every secondary stopped"
sleep 0.5
mem "$MAIN_NLD" "every secondary disconnected" >/dev/null
MAIN_LOG_ERRORS=$(grep -ciE 'error|warning|refused' "$_NODE_TOP/main/nodelinkd.log")

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_END=$(others)
T1=$EPOCHREALTIME

# --- report --------------------------------------------------------------------------------------

say "writing $REPORT"
R=$D/report.md
declare -A CPU_TOT=()
kib_per_node() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f\n", (b - a) / n }'; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**missed**"; fi; }
{
        echo "# aos-nodelinkd benchmark report"
        echo
        echo "Written by \`bench/nodelink-bench.sh\`; how to read it: \`bench/README.md\` (section *nodelink-bench*)."
        echo "Every ratio compares two measurements of this run. Latencies are CLOCK_MONOTONIC in the client."
        echo "Percentiles are nearest-rank; warm-up calls and handshakes are not counted."
        echo
        echo "| | |"
        echo "|---|---|"
        echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
        echo "| host | $NCPU CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r) |"
        echo "| versions | gnutls $(pc_version gnutls), libsystemd $(pc_version libsystemd) ($(deb_version libsystemd0)), dbus $(dbus-daemon --version 2>/dev/null | head -n1 | awk '{print $NF}'), glibc $(ldd --version 2>/dev/null | head -n1 | awk '{print $NF}') |"
        echo "| source | $(git_facts) |"
        echo "| build | \`$AOS_TEST_BUILDDIR\`: $(build_facts "$BUILT_NLD" common services tools) |"
        echo "| nodes | one main node and $((NODES + 2)) secondaries on 127.0.0.1, each with its own dbus-daemon and config; \`sw\` key storage (ECDSA P-384 files) for every \`iam\` certificate; daemons at \`--log-level info\`, KeepaliveSec=$KEEPALIVE; callers root (polkit never asked) |"
        echo "| load | loadavg $LOAD_START at start, $LOAD_END at the end; processes of other sessions at the start: $OTHERS_START; at the end: $OTHERS_END |"
        echo "| duration | $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f s", b - a }') (plus the teardown) |"
        echo
        if awk -v s="${LOAD_START%% *}" -v n="$NCPU" 'BEGIN { exit !(s > n / 2) }'; then
                echo "**The machine was busy with other work during this run** (1-minute load average above half"
                echo "the CPU count at the start): every process here waited for CPU now and then, which shows"
                echo "mostly in p90 and in the wall-clock times of section 3. Ratios of interleaved"
                echo "measurements are the figures to trust."
                echo
        fi

        HS_CPU_NL=$(awk -v ns="${HS_SERVER_NS[nl]}" -v n="${HS_COUNT[nl]}" 'BEGIN { printf "%.0f", ns / n / 1000 }')
        HS_CPU_PLAIN=$(awk -v ns="${HS_SERVER_NS[plain]}" -v n="${HS_COUNT[plain]}" 'BEGIN { printf "%.0f", ns / n / 1000 }')
        shn=$(stats "$D/hs/nl.us")
        shp=$(stats "$D/hs/plain.us")
        hs_ratio=$(ratio "$(field "$shp" 3)" "$(field "$shn" 3)")
        par_nl=$(awk '{ s += $2; n++ } END { printf "%.1f", s / n }' "$D/hs/par-nl")
        par_plain=$(awk '{ s += $2; n++ } END { printf "%.1f", s / n }' "$D/hs/par-plain")
        par_ratio=$(ratio "$par_nl" "$par_plain")
        echo "## Summary against the targets of issue #4"
        echo
        echo "| target | measured | |"
        echo "|---|---|---|"
        echo "| handshakes/s to the protected endpoint ≥ 0.8 × a plain gnutls loop | sequential: $hs_ratio × (median $(num "$(field "$shn" 3)" 1000 2) ms vs $(num "$(field "$shp" 3)" 1000 2) ms); $PAR_THREADS clients: $par_ratio × ($par_nl/s vs $par_plain/s) | $(verdict "$hs_ratio >= 0.8 && $par_ratio >= 0.8") |"
        echo "| the same, server side only: the main node's handshake capacity (1 / its CPU time per handshake) ≥ 0.8 × the plain loop's | $(ratio "$HS_CPU_PLAIN" "$HS_CPU_NL") × ($HS_CPU_NL vs $HS_CPU_PLAIN µs of server CPU per handshake) | $(verdict "$HS_CPU_PLAIN / $HS_CPU_NL >= 0.8") |"
        for pin in unpinned pinned; do
                sf=$(stats "$D/call-$pin/fwd.us")
                sl=$(stats "$D/call-$pin/local.us")
                st=$(stats "$D/call-$pin/rtt.us")
                bound=$(calc "2 * $(field "$sl" 3) + $(field "$st" 3)")
                echo "| forwarded GetCertTypes < 2 × local + one TLS round trip ($pin, medians) | $(num "$(field "$sf" 3)" 1 0) µs vs 2 × $(num "$(field "$sl" 3)" 1 0) + $(num "$(field "$st" 3)" 1 0) = $(num "$bound" 1 0) µs ($(ratio "$(field "$sf" 3)" "$bound") of the bound) | $(verdict "$(field "$sf" 3) < $bound") |"
        done
        pn_fresh=$(kib_per_node "$ANON_FRESH0" "$ANON_FRESH" "$NODES")
        pn_churn=$(kib_per_node "$ANON_GONE" "$ANON_CHURN" "$NODES")
        pn_fresh_rss=$(kib_per_node "$RSS_FRESH0" "$RSS_FRESH" "$NODES")
        pn_churn_rss=$(kib_per_node "$RSS_GONE" "$RSS_CHURN" "$NODES")
        pn_tune=$(kib_per_node "$ANON_TUNE0" "$ANON_TUNE" "$NODES")
        echo "| memory of the main node's aos-nodelinkd < 64 KiB per connected node | RssAnon +$pn_fresh KiB/node (VmRSS +$pn_fresh_rss) on a fresh process; when the $NODES come again, +$pn_churn KiB/node on top of the $ANON_GONE KiB the first $NODES left in the heap; experiment, the same binary with \`GLIBC_TUNABLES=$TUNABLE\`: +$pn_tune KiB/node | $(verdict "$pn_fresh < 64") |"
        echo "| $NODES secondaries listed in ListNodes | $(num "$COLD_ALL" 1000 2) s from the first start (first start, keys made), $(num "$WARM_ALL" 1000 2) s when started again | (no target) |"
        if ((PROV_FAILED == 0)); then
                echo "| $PROV_NODES nodes provisioned at once through the main node | all \`aosctl provision --node\` done after $(num "$PROV_ALL_MS" 1000 1) s ($(calc "$PROV_ALL_MS / $PROV_NODES") ms per node), all back on protected after $(num "$PROV_PROTECTED_MS" 1000 1) s | (no target) |"
        else
                echo "| $PROV_NODES nodes provisioned at once through the main node | **$PROV_FAILED of $PROV_NODES failed**, the rest after $(num "$PROV_ALL_MS" 1000 1) s | (no target) |"
        fi
        echo

        echo "## 1. New TLS connections to the main node's protected endpoint"
        echo
        echo "One client (\`tls-baseline handshake\`) for both servers: TCP connect, TLS 1.3 handshake with a"
        echo "CA-issued ECDSA P-384 client certificate (clientAuth), the server's chain verified against the CA"
        echo "(serverAuth, as a secondary does), \`AOSNL 1\\n\` sent and the server's 8-byte answer read, then"
        echo "close_notify and close. The server answers the version only after it has checked the client's"
        echo "chain, so the time covers the whole authentication; registration (\`Register\` on the peer bus) is"
        echo "not part of it. *aos-nodelinkd*: the main node's protected endpoint. *plain gnutls*: \`tls-baseline"
        echo "server\`, a blocking loop on one thread with the same certificate and key (the main node's \`iam\`"
        echo "files), the same priority string (\`NORMAL:-VERS-ALL:+VERS-TLS1.3\`), the client's chain verified by"
        echo "gnutls (clientAuth purpose), the same version exchange, nothing else."
        echo
        echo "**Sequential** ($HS_ROUNDS rounds × $HS_N per server, alternating; a rate is 1 / median):"
        echo
        echo "| server | n | median ms | p90 ms | min ms | handshakes/s | ratio (rate) to plain |"
        echo "|---|---|---|---|---|---|---|"
        for tag in nl plain; do
                s=$(stats "$D/hs/$tag.us")
                label="aos-nodelinkd, protected"
                [[ $tag == plain ]] && label="plain gnutls loop"
                printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(field "$s" 1)" "$(num "$(field "$s" 3)" 1000 2)" \
                        "$(num "$(field "$s" 4)" 1000 2)" "$(num "$(field "$s" 2)" 1000 2)" \
                        "$(num "$(calc "1000000 / $(field "$s" 3)")" 1 0)" "$(ratio "$(field "$shp" 3)" "$(field "$s" 3)")"
        done
        echo
        echo "Failed handshakes (retried, not counted): aos-nodelinkd ${HS_FAILED[nl]}, plain ${HS_FAILED[plain]}."
        echo
        echo "Server on-CPU time per handshake (/proc/PID/task/*/schedstat around the sequential runs, warm-up"
        echo "included): aos-nodelinkd $HS_CPU_NL µs, plain gnutls $HS_CPU_PLAIN µs, ratio $(ratio "$HS_CPU_NL" "$HS_CPU_PLAIN")."
        echo
        echo "**Throughput**: $PAR_THREADS client threads, $PAR_SEC s per run, 2 runs per server alternating (client and server"
        echo "share the $NCPU CPUs):"
        echo
        echo "| server | handshakes per run | per s (mean of runs) | ratio to plain | failed |"
        echo "|---|---|---|---|---|"
        printf '| aos-nodelinkd, protected | %s | %s | %s | %s |\n' "$(awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }' "$D/hs/par-nl")" \
                "$par_nl" "$par_ratio" "$(awk '{ s += $3 } END { print s + 0 }' "$D/hs/par-nl")"
        printf '| plain gnutls loop | %s | %s | 1.00 | %s |\n' "$(awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }' "$D/hs/par-plain")" \
                "$par_plain" "$(awk '{ s += $3 } END { print s + 0 }' "$D/hs/par-plain")"
        echo
        echo "**Bursts**: $BURST client processes started back to back (process start, gnutls init, one handshake"
        echo "each), 3 rounds per server; the time until the last one exited, and each process's handshake:"
        echo
        echo "| server | rounds | median ms to all $BURST | max ms | ratio to plain | handshake median ms | handshake p90 ms | failed |"
        echo "|---|---|---|---|---|---|---|---|"
        sbp=$(stats "$D/hs/burst-plain")
        for tag in nl plain; do
                s=$(stats "$D/hs/burst-$tag")
                e=$(stats "$D/hs/burst-$tag.each")
                label="aos-nodelinkd, protected"
                [[ $tag == plain ]] && label="plain gnutls loop"
                printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(field "$s" 1)" "$(num "$(field "$s" 3)" 1 0)" \
                        "$(num "$(field "$s" 5)" 1 0)" "$(ratio "$(field "$s" 3)" "$(field "$sbp" 3)")" \
                        "$(num "$(field "$e" 3)" 1000 2)" "$(num "$(field "$e" 4)" 1000 2)" \
                        "$(awk '{ s += $1 } END { print s + 0 }' "$D/hs/burst-$tag.fails")"
        done
        echo

        echo "## 2. A forwarded call: GetCertTypes of a secondary through the main node"
        echo
        echo "*fwd*: \`org.aosedge.Certs1.Manager.GetCertTypes\` on the main node's bus at \`$SECF_PATH\`:"
        echo "client → main bus → main aos-nodelinkd → TLS (protected channel) → sec-fwd's aos-nodelinkd →"
        echo "sec-fwd's bus → its aos-certd, and back. *local*: the same call on sec-fwd's own bus (client → bus →"
        echo "aos-certd → bus → client). *GetId*: the main bus's own floor (one hop). *TLS echo*: one round trip"
        echo "of a $RTT_SIZE-byte record over an established TLS 1.3 connection to \`tls-baseline server\` on loopback"
        echo "(\`tls-baseline rtt\`). $CALL_ROUNDS rounds of $CALL_N calls per probe and $RTT_N echoes, interleaved."
        for pin in unpinned pinned; do
                echo
                if [[ $pin == pinned ]]; then
                        echo "**Pinned**: both dbus-daemons, both aos-nodelinkd, sec-fwd's aos-certd, the TLS server and the clients on CPU 0."
                else
                        echo "**Unpinned**: the scheduler places everything on the $NCPU CPUs."
                fi
                echo
                echo "| call | n | median µs | p90 µs | min µs | ratio to local |"
                echo "|---|---|---|---|---|---|"
                d=$D/call-$pin
                sl=$(stats "$d/local.us")
                row "\`GetId\` on the main bus (bus floor)" "$d/getid.us" 1 1 "$sl"
                row "\`GetCertTypes\` on sec-fwd's own bus (local)" "$d/local.us" 1 1 "$sl"
                row "**\`GetCertTypes\` forwarded through the main node**" "$d/fwd.us" 1 1 "$sl"
                row "TLS echo round trip, $RTT_SIZE bytes" "$d/rtt.us" 1 1 "$sl"
                sf=$(stats "$d/fwd.us")
                st=$(stats "$d/rtt.us")
                echo
                echo "Bound 2 × local + TLS round trip: medians $(calc "2 * $(field "$sl" 3) + $(field "$st" 3)") µs (forwarded $(field "$sf" 3) µs); p90 $(calc "2 * $(field "$sl" 4) + $(field "$st" 4)") µs (forwarded $(field "$sf" 4) µs)."
                echo "Forwarded minus local: $(calc "$(field "$sf" 3) - $(field "$sl" 3)") µs at the median."
        done
        echo
        echo "On-CPU time per call, µs (/proc/PID/task/*/schedstat around each probe's runs, warm-up calls"
        echo "included, $CALLS_PER_PROBE calls per probe; the client's own time is not in it):"
        echo
        echo "| process | fwd unpinned | local unpinned | fwd pinned | local pinned |"
        echo "|---|---|---|---|---|"
        for nm in main-bus main-nld sec-bus sec-nld sec-certd; do
                case $nm in
                main-bus) label="main node's dbus-daemon" ;;
                main-nld) label="main node's aos-nodelinkd" ;;
                sec-bus) label="sec-fwd's dbus-daemon" ;;
                sec-nld) label="sec-fwd's aos-nodelinkd" ;;
                sec-certd) label="sec-fwd's aos-certd" ;;
                esac
                printf '| %s | %s | %s | %s | %s |\n' "$label" "$(cpu_us unpinned/fwd "$nm" "$CALLS_PER_PROBE")" \
                        "$(cpu_us unpinned/local "$nm" "$CALLS_PER_PROBE")" "$(cpu_us pinned/fwd "$nm" "$CALLS_PER_PROBE")" \
                        "$(cpu_us pinned/local "$nm" "$CALLS_PER_PROBE")"
        done
        for pin in unpinned pinned; do
                tot_f=0 tot_l=0
                for nm in main-bus main-nld sec-bus sec-nld sec-certd; do
                        tot_f=$((tot_f + ${CPU_NS[$pin/fwd/$nm]:-0}))
                        tot_l=$((tot_l + ${CPU_NS[$pin/local/$nm]:-0}))
                done
                CPU_TOT[$pin/fwd]=$tot_f
                CPU_TOT[$pin/local]=$tot_l
        done
        printf '| **all five** | %s | %s | %s | %s |\n' \
                "$(awk -v a="${CPU_TOT[unpinned/fwd]}" -v n="$CALLS_PER_PROBE" 'BEGIN { printf "%.0f", a / n / 1000 }')" \
                "$(awk -v a="${CPU_TOT[unpinned/local]}" -v n="$CALLS_PER_PROBE" 'BEGIN { printf "%.0f", a / n / 1000 }')" \
                "$(awk -v a="${CPU_TOT[pinned/fwd]}" -v n="$CALLS_PER_PROBE" 'BEGIN { printf "%.0f", a / n / 1000 }')" \
                "$(awk -v a="${CPU_TOT[pinned/local]}" -v n="$CALLS_PER_PROBE" 'BEGIN { printf "%.0f", a / n / 1000 }')"
        echo
        echo "\`ListNodes\` on the main node, 200 calls: median $(num "$(field "$LISTNODES_2" 3)" 1 0) µs with 2 nodes, $(num "$(field "$LISTNODES_N" 3)" 1 0) µs with $((NODES + 2)) (GetId on the same bus then: $(num "$(field "$GETID_N" 3)" 1 0) µs)."
        echo

        echo "## 3. $NODES secondaries at once"
        echo
        echo "Each secondary: its own dbus-daemon, configuration and aos-nodelinkd (no aos-certd, no"
        echo "aos-provisiond: unprovisioned, so it dials the bootstrap channel with a self-signed certificate"
        echo "made at its first start). All $NODES started back to back (the loop took $(num "$COLD_LAUNCH" 1 0) and $(num "$WARM_LAUNCH" 1 0) ms);"
        echo "time from the first start until \`NodeConnected\` of each (a watcher on the main bus), and until"
        echo "\`ListNodes\` confirmed all $NODES. sec-local and sec-fwd stay connected throughout."
        echo
        echo "| start | all $NODES listed, ms | first ms | median ms | p90 ms | connections closed and retried |"
        echo "|---|---|---|---|---|---|"
        for tag in cold warm; do # (the run with the glibc tunable is not timed here)
                s=$(stats "$D/arrive-$tag")
                if [[ $tag == cold ]]; then
                        label="first start (bootstrap key made), main aos-nodelinkd fresh"
                        printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$(num "$COLD_ALL" 1 0)" "$(num "$(field "$s" 2)" 1 0)" \
                                "$(num "$(field "$s" 3)" 1 0)" "$(num "$(field "$s" 4)" 1 0)" "$COLD_RETRIES"
                else
                        label="started again (key kept)"
                        printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$(num "$WARM_ALL" 1 0)" "$(num "$(field "$s" 2)" 1 0)" \
                                "$(num "$(field "$s" 3)" 1 0)" "$(num "$(field "$s" 4)" 1 0)" "$WARM_RETRIES"
                fi
        done
        s=$(stats "$D/arrive-restart")
        printf '| all %d connected, the main node'"'"'s aos-nodelinkd restarted (time from its start; they redial after a back-off of 0.25-0.5 s) | %s | %s | %s | %s | |\n' \
                $((NODES + 2)) "$(num "$RESTART_ALL" 1 0)" "$(num "$(field "$s" 2)" 1 0)" "$(num "$(field "$s" 3)" 1 0)" "$(num "$(field "$s" 4)" 1 0)"
        printf '| baseline: %d `tls-baseline handshake` processes at once, plain server (section 1) | %s | | | | |\n' \
                "$BURST" "$(num "$(field "$(stats "$D/hs/burst-plain")" 3)" 1 0)"
        echo
        echo "Ratio all-$NODES-listed to the baseline burst: first start $(ratio "$COLD_ALL" "$(field "$(stats "$D/hs/burst-plain")" 3)"), again $(ratio "$WARM_ALL" "$(field "$(stats "$D/hs/burst-plain")" 3)")."
        echo
        echo "Forwarded \`GetCertTypes\` to sec-fwd (unpinned, 2 rounds of $CALL_N), the main node's"
        echo "aos-nodelinkd restarted, with sec-local and sec-fwd only and with the $NODES others connected too:"
        echo
        echo "| connected | call | n | median µs | p90 µs | min µs | ratio to 2 connected |"
        echo "|---|---|---|---|---|---|---|"
        s2=$(stats "$D/call-n2/fwd.us")
        g2=$(stats "$D/call-n2/getid.us")
        row "2 | \`GetId\` (main bus)" "$D/call-n2/getid.us" 1 1 "$g2"
        row "$((NODES + 2)) | \`GetId\` (main bus)" "$D/call-nmany/getid.us" 1 1 "$g2"
        row "2 | forwarded \`GetCertTypes\`" "$D/call-n2/fwd.us" 1 1 "$s2"
        row "$((NODES + 2)) | forwarded \`GetCertTypes\`" "$D/call-nmany/fwd.us" 1 1 "$s2"
        echo
        echo "The main node's aos-nodelinkd on CPU per forwarded call: $(cpu_us n2/fwd main-nld $((2 * (CALL_WARMUP + CALL_N)))) µs with 2 nodes connected, $(cpu_us nmany/fwd main-nld $((2 * (CALL_WARMUP + CALL_N)))) µs with $((NODES + 2))."
        echo
        echo "### Memory of the main node's aos-nodelinkd (/proc/PID/status)"
        echo
        echo "| when | VmRSS KiB | VmHWM KiB | RssAnon KiB | of it brk heap KiB | threads |"
        echo "|---|---|---|---|---|---|"
        awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$D/mem.txt"
        echo
        echo "Per connected node (difference / $NODES):"
        echo
        echo "| | RssAnon KiB/node | VmRSS KiB/node |"
        echo "|---|---|---|"
        echo "| fresh process: before → $NODES connected | $pn_fresh | $pn_fresh_rss |"
        echo "| links closed before: $NODES gone → $NODES connected again | $pn_churn | $pn_churn_rss |"
        echo "| with \`GLIBC_TUNABLES=$TUNABLE\`: before → $NODES connected | $(kib_per_node "$ANON_TUNE0" "$ANON_TUNE" "$NODES") | $(kib_per_node "$RSS_TUNE0" "$RSS_TUNE" "$NODES") |"
        echo
        echo "After the $NODES went, RssAnon stayed at $ANON_GONE KiB (it was $ANON_FRESH0 KiB before they came): what a closed"
        echo "link used stays in the heap and serves the next one, so the second row shows that reuse, not a"
        echo "smaller link. The third row is an experiment on the allocator, not a configuration of the daemon: the"
        echo "same binary with glibc's mmap threshold fixed at its default of 128 KiB (see the README)."
        echo
        echo "A secondary's own processes with the link up (medians of $NODES): aos-nodelinkd VmRSS"
        echo "$(field "$(stats "$D/sec-nld.rss")" 3) KiB (RssAnon $(field "$(stats "$D/sec-nld.anon")" 3) KiB), dbus-daemon VmRSS $(field "$(stats "$D/sec-bus.rss")" 3) KiB."
        echo
        echo "### Provisioning through the main node"
        echo
        echo "\`aosctl provision --node ID --ca-cert --ca-key\` on the main node's bus: the main node's"
        echo "aos-provisiond forwards every step over the link to the node's aos-provisiond and aos-certd (one"
        echo "\`sw\` ECDSA P-384 \`iam\` module: GetCertTypes, StartProvisioning, CreateKey, the CSR signed by"
        echo "aosctl, ApplyCert, FinishProvisioning), then the node moves to the protected channel."
        echo "Baselines: the same \`aosctl provision\` run on a node's own bus (sec-local), and one node alone"
        echo "through the main node (sec-fwd)."
        echo
        echo "| what | nodes | wall ms | per node ms | |"
        echo "|---|---|---|---|---|"
        echo "| sec-local: \`aosctl provision\` on its own bus | 1 | $(num "$PROV_LOCAL_MS" 1 0) | $(num "$PROV_LOCAL_MS" 1 0) | |"
        echo "| sec-fwd: \`aosctl provision --node\` through the main node, alone | 1 | $(num "$PROV_FWD_MS" 1 0) | $(num "$PROV_FWD_MS" 1 0) | on protected $(num "$SECF_PROTECTED_MS" 1 0) ms after the start |"
        if ((PROV_FAILED == 0)); then
                sp=$(stats "$D/prov.ms")
                echo "| **$PROV_NODES at once through the main node** | $PROV_NODES | $(num "$PROV_ALL_MS" 1 0) | $(calc "$PROV_ALL_MS / $PROV_NODES") | each: median $(num "$(field "$sp" 3)" 1 0), p90 $(num "$(field "$sp" 4)" 1 0), max $(num "$(field "$sp" 5)" 1 0) ms; all on protected after $(num "$PROV_PROTECTED_MS" 1 0) ms |"
        else
                echo "| **$PROV_NODES at once through the main node** | $PROV_NODES | $(num "$PROV_ALL_MS" 1 0) | | **$PROV_FAILED failed** |"
        fi
        echo
        echo "Per node at once vs alone: $(ratio "$(calc "$PROV_ALL_MS / $PROV_NODES")" "$PROV_FWD_MS") (below 1: the $NCPU CPUs overlap nodes' work);"
        echo "alone through the main node vs locally: $(ratio "$PROV_FWD_MS" "$PROV_LOCAL_MS")."
        echo "Starting aos-certd and aos-provisiond on the $PROV_NODES nodes (one after the other, waiting for each"
        echo "name) took $(num "$FULL_SETUP_MS" 1000 1) s; not part of the figures. Channels afterwards: $CHANNELS."
        echo "Warnings and errors in the main node's aos-nodelinkd log: $MAIN_LOG_ERRORS lines."
} >"$R"

cp "$R" "$REPORT" || die "cannot write $REPORT"
cat "$R"
say "report written to $REPORT; stopping $(( ${#_PIDS[@]} )) processes"
# Every tracked process gets SIGTERM at once; the harness's cleanup then waits for each by PID.
for ((i = ${#_PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${_PIDS[i]}" 2>/dev/null; done
T_FINISHED=1
exit 0
