#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-certd benchmark: latencies of the D-Bus API against baselines measured in the same run,
# written to bench/report-certd.md (and printed). A report, not a test: nothing here asserts a
# time. See bench/README.md for what each number means.
#
#   sudo bench/certd-bench.sh            # needs build/ (meson setup build && ninja -C build)
#
# Environment: AOS_TEST_BUILDDIR (default: build/ of this checkout), AOS_BENCH_REPORT (default
# bench/report-certd.md), AOS_TEST_KEEP=1 keeps the scratch dir. Builds nothing but its two
# small C helpers (bench/certd-load.c, bench/certd-baseline.c), into the scratch dir. The
# fixtures (private bus, polkitd, SoftHSM2 on tmpfs, aos-certd) come from the integration
# harness, tests/integration/lib.sh, which also stops every process by its PID on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$BENCH_DIR/.." && pwd)
export AOS_TEST_SRCDIR=$SRC
: "${AOS_TEST_BUILDDIR:=$SRC/build}"
export AOS_TEST_BUILDDIR
REPORT=${AOS_BENCH_REPORT:-$BENCH_DIR/report-certd.md}

# shellcheck source=../tests/integration/lib.sh
. "$SRC/tests/integration/lib.sh"
# shellcheck source=bench-lib.sh
. "$BENCH_DIR/bench-lib.sh"
T_NAME=certd-bench

# --- sizes ----------------------------------------------------------------------------------------
READ_ROUNDS=5           # read path: rounds, probes interleaved round by round
READ_WARMUP=40          #   calls per probe and round not recorded
READ_N=400              #   recorded calls per probe and round (2000 per probe in all)
EC_BATCHES=5            # CreateKey ECDSA + ApplyCert: batches of 5 (one more as warm-up)
RSA_N=10                # CreateKey RSA: recorded calls (after one warm-up call), an even number
FLOOD_QUEUED=10         # responsiveness: CreateKey RSA calls queued at once
FLOOD_INTERVAL_US=2000  #   one GetCertTypes probe every 2 ms
FLOOD_IDLE=200          #   probes with the daemon idle
MEM_MODULES="m1 m2 m3 m4"
MEM_PER_MODULE=25       # 4 x 25 = 100 certificates applied for the memory figure
PW="bench-Owner-Pw-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
ECHO_NAME=org.aosedge.Bench

die() {
        printf 'certd-bench: %s\n' "$*" >&2
        [[ -n ${D:-} && -s $D/certd.log ]] && tail -n 20 "$D/certd.log" >&2
        exit 1
}

T0=$(date +%s.%N)
[[ -x $AOS_TEST_BUILDDIR/services/certd/aos-certd ]] ||
        { echo "certd-bench: no aos-certd in $AOS_TEST_BUILDDIR: meson setup build && ninja -C build" >&2; exit 1; }
for t in cc pkg-config taskset; do
        command -v "$t" >/dev/null || { echo "certd-bench: missing tool: $t" >&2; exit 1; }
done
harness_init >&2
require_certd

# --- helpers -------------------------------------------------------------------------------------

LOAD=$D/certd-load
BASE=$D/certd-baseline
NCPU=$(nproc)
# A copy of the daemon, so that a rebuild of the build directory during the run changes nothing.
BUILT_BIN=$CERTD_BIN
cp -p "$BUILT_BIN" "$D/aos-certd" || die "cannot copy $BUILT_BIN"
CERTD_BIN=$D/aos-certd

# row LABEL FILE DIVISOR DECIMALS [BASE_STATS...]: a table row "| label | n | median | p90 | min |"
# followed by "| median ratio |" for each baseline given (stats strings).
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

pin_all() {
        local p
        for p in "$BUS_PID" "$CERTD_PID" "$ECHO_PID"; do
                taskset -a -pc 0 "$p" >/dev/null || die "cannot pin PID $p"
        done
}
unpin_all() {
        local p
        for p in "$BUS_PID" "$CERTD_PID" "$ECHO_PID"; do
                taskset -a -pc "0-$((NCPU - 1))" "$p" >/dev/null || die "cannot unpin PID $p"
        done
}

# mem LABEL: VmRSS, VmHWM, RssAnon, Threads of aos-certd, appended to $D/mem.txt.
mem() {
        awk -v label="$1" '
                /^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 } /^RssAnon:/ { anon = $2 } /^Threads:/ { thr = $2 }
                END { printf "%s\t%s\t%s\t%s\t%s\n", label, rss, hwm, anon, thr }' "/proc/$CERTD_PID/status" >>"$D/mem.txt"
}

# sign_all TYPE FIRST LAST CSR_PREFIX CHAIN_PREFIX: CSR i (FIRST..LAST) signed by the test
# intermediate into CHAIN_PREFIX<i>.pem (leaf + intermediate), each valid a different number
# of days, so that NotAfter orders them.
sign_all() {
        local type=$1 first=$2 last=$3 csr=$4 chain=$5 i
        for ((i = first; i <= last; i++)); do
                sign_csr "$csr$i.csr" "$chain$i.pem" intermediate "days=$((100 + i))" ||
                        die "cannot sign $csr$i.csr"
        done
}

# batch TYPE TAG: Clear (not timed), 5 CreateKey (timed, $D/TAG.ck), 5 CSRs signed (not timed),
# 5 ApplyCert (timed, $D/TAG.ap). Chains in $D/TAG-<i>.pem.
batch() {
        local type=$1 tag=$2
        "$LOAD" createkey "$type" "bench-$type" "$PW" 5 "$D/$tag-" >"$D/$tag.ck" || die "CreateKey on $type failed"
        sign_all "$type" 1 5 "$D/$tag-" "$D/$tag-"
        "$LOAD" apply "$type" "$D/$tag-"{1..5}.pem >"$D/$tag.ap" || die "ApplyCert on $type failed"
}

clear_module() { certs_call Clear s "$1" >/dev/null || die "Clear $1 failed"; }

# --- fixtures ------------------------------------------------------------------------------------

say "building the helpers into $D"
# shellcheck disable=SC2046
cc -O2 -Wall -o "$LOAD" "$BENCH_DIR/certd-load.c" $(pkg-config --cflags --libs libsystemd) >&2 ||
        die "cannot build certd-load"
# shellcheck disable=SC2046
cc -O2 -Wall -o "$BASE" "$BENCH_DIR/certd-baseline.c" $(pkg-config --cflags --libs gnutls) >&2 ||
        die "cannot build certd-baseline"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_START=$(others)
start_bus >&2 || die "cannot start the private bus"
start_polkitd >&2 || die "cannot start polkitd"
setup_softhsm >&2 || die "cannot set up SoftHSM2"
[[ $(cat "/proc/$BUS_PID/comm") == dbus-daemon ]] || die "PID $BUS_PID is not the dbus-daemon"

"$LOAD" echo-server "$ECHO_NAME" </dev/null >>"$D/echo.log" 2>&1 &
ECHO_PID=$!
_track "$ECHO_PID" echo-server
wait_until 10 bus_name_has_owner "$ECHO_NAME" || die "the echo server did not take $ECHO_NAME"

# shellcheck disable=SC2119 # no arguments: the default $D/iam.conf
write_config || die "cannot write the configuration"
module rd pkcs11 ecdsa "serverAuth clientAuth" "iam.local localhost" 5
module ec pkcs11 ecdsa "serverAuth clientAuth" "iam.local localhost" 5
module rsa pkcs11 rsa "serverAuth clientAuth" "iam.local localhost" 5
for m in $MEM_MODULES; do
        module "$m" pkcs11 ecdsa "serverAuth clientAuth" "iam.local localhost" 5
done
# A token of its own for the in-process baselines, in the same tmpfs token directory; made
# before the daemon starts, so that its SoftHSM2 instance sees it from the beginning.
init_token baseline || die "cannot initialize the baseline token"
BASE_PIN=$(cat "$(pin_file baseline)")

# The production log level (the harness defaults to debug; the last option wins).
start_certd --log-level info || die "aos-certd did not start"
[[ $(cat "/proc/$CERTD_PID/comm") == aos-certd ]] || die "PID $CERTD_PID is not aos-certd"
mem "idle, just started (7 modules configured)"

say "SetOwner on every module"
for m in rd ec rsa $MEM_MODULES; do
        certs_call SetOwner ss "$m" "$PW" >/dev/null || die "SetOwner $m failed"
done
mem "idle, modules owned"

# --- 1. read path --------------------------------------------------------------------------------

say "1. read path: 5 certificates on module rd"
"$LOAD" createkey rd bench-rd "$PW" 5 "$D/rd-" >/dev/null || die "CreateKey rd failed"
sign_all rd 1 5 "$D/rd-" "$D/rd-"
"$LOAD" apply rd "$D/rd-"{1..5}.pem >/dev/null || die "ApplyCert rd failed"
mkdir -p "$D/read-unpinned" "$D/read-pinned"

unpin_all
"$LOAD" read "$D/read-unpinned" "$READ_ROUNDS" "$READ_WARMUP" "$READ_N" rd "$ECHO_NAME" || die "read path (unpinned) failed"
pin_all
taskset -c 0 "$LOAD" read "$D/read-pinned" "$READ_ROUNDS" "$READ_WARMUP" "$READ_N" rd "$ECHO_NAME" ||
        die "read path (pinned) failed"
unpin_all

# --- 2 + 3. CreateKey, ApplyCert and their baselines, interleaved ---------------------------------
# Daemon and baseline alternate batch by batch, so that a change of the machine's load during
# the run hits both sides of each ratio alike.

bl_keygen() { "$BASE" keygen "$SOFTHSM_LIB" baseline "$BASE_PIN" "$@"; }
bl_work() { "$BASE" createkey-work "$SOFTHSM_LIB" baseline "$BASE_PIN" "$1" "$2" "$3" "$PW" 100000; }
# certtool_verify CHAIN...: one certtool --verify-chain process per chain (root appended), µs.
certtool_verify() {
        local c s e
        for c in "$@"; do
                cat "$c" "$AOS_TEST_PKI/ca.pem" >"$D/.vchain.pem"
                s=$(date +%s%N)
                certtool --verify-chain --infile "$D/.vchain.pem" >/dev/null 2>&1 || die "certtool --verify-chain failed on $c"
                e=$(date +%s%N)
                awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f\n", (b - a) / 1000 }'
        done
}

say "2+3. ECDSA P-384: $EC_BATCHES rounds of 5 CreateKey + 5 ApplyCert on module ec (after a warm-up round), with the baselines"
for f in ec.ck ec.ap base-ec-keygen base-ec-work base-pbkdf2 base-verify base-certtool; do : >"$D/$f"; done
CHAINS=()
for ((b = 0; b <= EC_BATCHES; b++)); do
        clear_module ec
        batch ec "ec$b"
        ((b > 0)) || continue
        cat "$D/ec$b.ck" >>"$D/ec.ck"
        cat "$D/ec$b.ap" >>"$D/ec.ap"
        chains=("$D/ec$b-"{1..5}.pem)
        CHAINS+=("${chains[@]}")
        bl_keygen ecdsa 4 1 >>"$D/base-ec-keygen" || die "baseline keygen ecdsa failed"
        bl_work ecdsa 4 1 >>"$D/base-ec-work" || die "baseline createkey-work ecdsa failed"
        "$BASE" pbkdf2 100000 4 >>"$D/base-pbkdf2" || die "baseline pbkdf2 failed"
        "$BASE" verify "$AOS_TEST_PKI/ca.pem" 40 5 "${chains[@]}" >>"$D/base-verify" || die "baseline verify failed"
        certtool_verify "${chains[@]:0:4}" >>"$D/base-certtool"
done

say "2. RSA 2048: 1 warm-up + $RSA_N CreateKey on module rsa, with the baselines"
for f in rsa.ck base-rsa-keygen base-rsa-work; do : >"$D/$f"; done
clear_module rsa
"$LOAD" createkey rsa bench-rsa "$PW" 1 "$D/rsaw-" >/dev/null || die "CreateKey rsa failed"
for ((k = 0; k < RSA_N; k += 2)); do
        clear_module rsa
        "$LOAD" createkey rsa bench-rsa "$PW" 2 "$D/rsa$k-" >>"$D/rsa.ck" || die "CreateKey rsa failed"
        bl_keygen rsa 2 $((k == 0)) >>"$D/base-rsa-keygen" || die "baseline keygen rsa failed"
        bl_work rsa 2 $((k == 0)) >>"$D/base-rsa-work" || die "baseline createkey-work rsa failed"
done
clear_module rsa

# --- 4. bus loop while RSA keys are generated ------------------------------------------------------

say "4. GetCertTypes while $FLOOD_QUEUED RSA CreateKey calls are queued (unpinned, then pinned)"
clear_module rsa
FLOOD_UNPINNED=$("$LOAD" flood rsa bench-rsa "$PW" "$FLOOD_QUEUED" "$FLOOD_INTERVAL_US" "$FLOOD_IDLE" \
        "$D/flood-idle-unpinned" "$D/flood-busy-unpinned") || die "flood (unpinned) failed"
clear_module rsa
pin_all
FLOOD_PINNED=$(taskset -c 0 "$LOAD" flood rsa bench-rsa "$PW" "$FLOOD_QUEUED" "$FLOOD_INTERVAL_US" "$FLOOD_IDLE" \
        "$D/flood-idle-pinned" "$D/flood-busy-pinned") || die "flood (pinned) failed"
unpin_all
clear_module rsa
mem "after sections 1 to 4 (35 certificates applied, 66 keys made)"

# --- 5. memory after 100 certificates --------------------------------------------------------------

say "5. 100 certificates applied across $MEM_MODULES ($MEM_PER_MODULE each, MaxItems=5)"
: >"$D/mem-fresh.ap"
: >"$D/mem-full.ap"
for ((b = 1; b <= MEM_PER_MODULE / 5; b++)); do
        for m in $MEM_MODULES; do
                batch "$m" "$m-$b"
                if ((b == 1)); then
                        cat "$D/$m-$b.ap" >>"$D/mem-fresh.ap"
                else
                        cat "$D/$m-$b.ap" >>"$D/mem-full.ap"
                fi
        done
        ((b == 1)) && mem "after 20 of them: m1..m4 hold 5 certificates each"
done
mem "after all 100 (135 applied in all, 80 of them trimming one)"
sleep 1
mem "the same, 1 s later (idle)"

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_END=$(others)
T1=$(date +%s.%N)

# --- report --------------------------------------------------------------------------------------

say "writing $REPORT"
R=$D/report.md
{
        echo "# aos-certd benchmark report"
        echo
        echo "Written by \`bench/certd-bench.sh\`; how to read it: \`bench/README.md\`. Every ratio compares two"
        echo "measurements of this run. Latencies are per call, CLOCK_MONOTONIC around the call in the client."
        echo "Percentiles are nearest-rank; warm-up calls are not counted."
        echo
        echo "| | |"
        echo "|---|---|"
        echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
        echo "| host | $NCPU CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r) |"
        echo "| versions | gnutls $(pc_version gnutls), SoftHSM $(softhsm2-util --version 2>/dev/null), libsystemd $(pc_version libsystemd) ($(deb_version libsystemd0)), dbus $(dbus-daemon --version 2>/dev/null | head -n1 | awk '{print $NF}'), sqlite $(pc_version sqlite3), p11-kit $(pc_version p11-kit-1) |"
        echo "| source | $(git_facts) |"
        echo "| build | \`$AOS_TEST_BUILDDIR\`: $(build_facts "$CERTD_BIN" common services/certd) |"
        echo "| daemon | \`--log-level info\`, 7 pkcs11 modules (ECDSA P-384 except \`rsa\`), each on its own SoftHSM2 token on tmpfs (\`$D\`), database on the same tmpfs, caller root (polkit is not asked) |"
        echo "| load | loadavg $LOAD_START at start, $LOAD_END at the end; processes of other sessions (daemons, builds, tools) at the start: $OTHERS_START; at the end: $OTHERS_END |"
        echo "| duration | $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f s", b - a }') |"
        echo
        if awk -v s="${LOAD_START%% *}" -v e="${LOAD_END%% *}" -v n="$NCPU" 'BEGIN { exit !(s > n / 2 || e > n / 2) }'; then
                echo "**The machine was busy with other work during this run** (1-minute load average above half"
                echo "the CPU count before or after it): every process here waited for CPU now and then, which"
                echo "shows mostly in p90 and max. Medians and ratios of interleaved measurements are the figures"
                echo "to trust; compare tails only between quiet runs."
                echo
        fi

        echo "## 1. Read path (module with 5 certificates)"
        echo
        echo "Sequential sd-bus calls, $READ_ROUNDS rounds × $READ_N calls per probe, the probes interleaved round by round."
        echo "\`GetId\` is answered by dbus-daemon itself (one hop, the bus floor); \`Echo\` by an idle sd-bus"
        echo "server (\`certd-load echo-server\`: client → bus → server → bus → client, the same two hops as"
        echo "every aos-certd call); \`GetCertTypes\` by aos-certd without touching the database."
        for pin in unpinned pinned; do
                echo
                if [[ $pin == pinned ]]; then
                        echo "**Pinned**: dbus-daemon, aos-certd (all threads), the echo server and the client on CPU 0."
                else
                        echo "**Unpinned**: the scheduler places everything on the $NCPU CPUs."
                fi
                echo
                echo "| call | n | median µs | p90 µs | min µs | ratio to GetId | ratio to Echo |"
                echo "|---|---|---|---|---|---|---|"
                d=$D/read-$pin
                sid=$(stats "$d/getid.us")
                sec=$(stats "$d/echo.us")
                row "\`org.freedesktop.DBus.GetId\` (bus floor)" "$d/getid.us" 1 1 "$sid" "$sec"
                row "\`Echo(s)\` (sd-bus server floor)" "$d/echo.us" 1 1 "$sid" "$sec"
                row "\`GetCertTypes()\`" "$d/getcerttypes.us" 1 1 "$sid" "$sec"
                row "\`GetCert(rd, [], \"\")\`" "$d/getcert.us" 1 1 "$sid" "$sec"
                row "\`ListCerts(rd)\` (5 certificates)" "$d/listcerts.us" 1 1 "$sid" "$sec"
        done
        echo
        echo "Ratios are of medians. At p90 (unpinned): GetCert/Echo $(ratio "$(field "$(stats "$D/read-unpinned/getcert.us")" 4)" "$(field "$(stats "$D/read-unpinned/echo.us")" 4)"), ListCerts/Echo $(ratio "$(field "$(stats "$D/read-unpinned/listcerts.us")" 4)" "$(field "$(stats "$D/read-unpinned/echo.us")" 4)")."
        echo

        echo "## 2. CreateKey (key made in SoftHSM2, CSR returned)"
        echo
        echo "Daemon: \`CreateKey\` through the bus, in batches (5 ECDSA, 2 RSA) with a \`Clear\` (not timed) before"
        echo "each, so at most 5 keys wait and no call pays for dropping a pending key. Baselines, in one process"
        echo "on a token of their own in the same tmpfs token directory, run between the daemon's batches:"
        echo "*keygen* = \`gnutls_pkcs11_privkey_generate3\` alone; *same work* = PBKDF2-SHA256 (100000"
        echo "iterations, the owner password check) + keygen + key opened by URL + CSR signed and exported."
        echo
        echo "| what | n | median ms | p90 ms | min ms | ratio to keygen | ratio to same work |"
        echo "|---|---|---|---|---|---|---|"
        kg=$(stats "$D/base-ec-keygen")
        wk=$(stats "$D/base-ec-work")
        row "**ECDSA P-384: \`CreateKey\` via aos-certd**" "$D/ec.ck" 1000 2 "$kg" "$wk"
        row "ECDSA P-384: baseline keygen" "$D/base-ec-keygen" 1000 2 "$kg" "$wk"
        row "ECDSA P-384: baseline same work" "$D/base-ec-work" 1000 2 "$kg" "$wk"
        kg=$(stats "$D/base-rsa-keygen")
        wk=$(stats "$D/base-rsa-work")
        row "**RSA 2048: \`CreateKey\` via aos-certd**" "$D/rsa.ck" 1000 1 "$kg" "$wk"
        row "RSA 2048: baseline keygen" "$D/base-rsa-keygen" 1000 1 "$kg" "$wk"
        row "RSA 2048: baseline same work" "$D/base-rsa-work" 1000 1 "$kg" "$wk"
        row "PBKDF2-SHA256, 100000 iterations (in CreateKey and in same work)" "$D/base-pbkdf2" 1000 2 - -
        echo
        echo "RSA key generation is a prime search: its spread is large at n = $RSA_N, compare medians with care."
        echo

        echo "## 3. ApplyCert (verify, store on the token, record)"
        echo
        echo "Chains (leaf + intermediate, root = \`CACert\`) signed before the timed calls. *Fresh*: the 5"
        echo "certificates of a batch applied to an emptied module (no trim). *Module full*: MaxItems=5 reached,"
        echo "each call also drops the certificate with the earliest NotAfter and its key (from the memory"
        echo "phase, modules m1..m4). Baseline, run between the daemon's batches: the same chains parsed and"
        echo "verified against the CA in one process (gnutls), and \`certtool --verify-chain\` as a process per chain."
        echo
        echo "| what | n | median ms | p90 ms | min ms | ratio to in-process verify |"
        echo "|---|---|---|---|---|---|"
        bv=$(stats "$D/base-verify")
        row "**\`ApplyCert\` via aos-certd, fresh**" "$D/ec.ap" 1000 2 "$bv"
        row "**\`ApplyCert\` via aos-certd, module full (trims one)**" "$D/mem-full.ap" 1000 2 "$bv"
        row "\`ApplyCert\` via aos-certd, fresh (memory phase, m1..m4)" "$D/mem-fresh.ap" 1000 2 "$bv"
        row "baseline: in-process parse + verify" "$D/base-verify" 1000 3 "$bv"
        row "baseline: \`certtool --verify-chain\` (process)" "$D/base-certtool" 1000 2 "$bv"
        echo

        echo "## 4. Bus loop while RSA keys are generated"
        echo
        echo "\`GetCertTypes\` probes (one every $((FLOOD_INTERVAL_US / 1000)) ms, own connection) while $FLOOD_QUEUED \`CreateKey\` RSA calls, sent at"
        echo "once on another connection, wait for the worker thread; and the same probes with the daemon idle,"
        echo "half before and half after."
        echo "A ratio near 1 means the loop stays free; a loop blocked by key generation would show"
        echo "probes of the order of one RSA key generation (~100 ms) at p90/max."
        echo
        echo "| probes | n | median µs | p90 µs | min µs | max µs | ratio to idle (median) | ratio to idle (p90) |"
        echo "|---|---|---|---|---|---|---|---|"
        for pin in unpinned pinned; do
                si=$(stats "$D/flood-idle-$pin")
                sb=$(stats "$D/flood-busy-$pin")
                printf '| %s, idle | %s | %s | %s | %s | %s | 1.00 | 1.00 |\n' "$pin" "$(field "$si" 1)" \
                        "$(num "$(field "$si" 3)" 1 1)" "$(num "$(field "$si" 4)" 1 1)" "$(num "$(field "$si" 2)" 1 1)" \
                        "$(num "$(field "$si" 5)" 1 1)"
                printf '| **%s, %d RSA CreateKey queued** | %s | %s | %s | %s | %s | %s | %s |\n' "$pin" "$FLOOD_QUEUED" \
                        "$(field "$sb" 1)" "$(num "$(field "$sb" 3)" 1 1)" "$(num "$(field "$sb" 4)" 1 1)" \
                        "$(num "$(field "$sb" 2)" 1 1)" "$(num "$(field "$sb" 5)" 1 1)" \
                        "$(ratio "$(field "$sb" 3)" "$(field "$si" 3)")" "$(ratio "$(field "$sb" 4)" "$(field "$si" 4)")"
        done
        echo
        echo "The $FLOOD_QUEUED queued calls were all answered after $(field "$FLOOD_UNPINNED" 1) ms unpinned and $(field "$FLOOD_PINNED" 1) ms pinned"
        echo "(the worker runs them one at a time; from the 6th on each also destroys the oldest pending key)."
        echo

        echo "## 5. Memory of aos-certd (/proc/PID/status)"
        echo
        echo "| when | VmRSS KiB | VmHWM KiB | RssAnon KiB | threads |"
        echo "|---|---|---|---|---|"
        awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$D/mem.txt"
        echo
        echo "In the steady state (the last 80 certificates: one CreateKey, one ApplyCert, one certificate and"
        echo "its key trimmed each) RssAnon, the daemon's own heap, grew by $(awk -F'\t' 'NR == 4 { a = $4 } NR == 5 { b = $4 } END { printf "%.1f", (b - a) / 80 }' "$D/mem.txt") KiB per certificate; see the README"
        echo "on SoftHSM2 for why."
        echo "VmHWM is the peak resident size since the start; the database and every token are on tmpfs,"
        echo "so their pages count against the machine, not against the process."
} >"$R"

cp "$R" "$REPORT" || die "cannot write $REPORT"
cat "$R"
say "report written to $REPORT"
T_FINISHED=1
exit 0
