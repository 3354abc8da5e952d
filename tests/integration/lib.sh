# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# The integration test harness: sourced by every tests/integration/test-*.sh.
#
# Everything a test starts runs on a scratch directory on /dev/shm and a private bus:
#   - a private dbus-daemon (type system, no standard service dirs, so nothing is activated),
#   - polkitd in its own mount namespace, with the project's actions and the test's rules
#     bind-mounted over polkit's hard-coded directories,
#   - SoftHSM2 with its tokens on the scratch directory,
#   - aos-certd from the build directory.
# Nothing touches the machine's system bus, nothing is written under /usr or /etc (the bind
# mounts exist only inside the private namespaces), and every process is stopped by its PID
# when the script exits.
#
# A test script looks like:
#     . "$(dirname "$0")/lib.sh"
#     harness_init
#     start_bus; start_polkitd; setup_softhsm
#     write_config; module iam pkcs11 ecdsa "serverAuth clientAuth" "iam.local localhost" 2
#     start_certd
#     assert_ok certs_call SetOwner ss iam "$PW"
#     ...
#     harness_finish
# See README.md for the whole API.

# shellcheck disable=SC2034 # constants and state for the scripts that source this file
set -u
set -o pipefail

# --- locations ---------------------------------------------------------------------------------

: "${AOS_TEST_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [[ -z ${AOS_TEST_BUILDDIR:-} ]]; then
        # For runs by hand: the first build directory that has the daemon.
        for _b in "$AOS_TEST_SRCDIR"/build "$AOS_TEST_SRCDIR"/build*; do
                if [[ -x $_b/services/certd/aos-certd ]]; then
                        AOS_TEST_BUILDDIR=$_b
                        break
                fi
        done
        : "${AOS_TEST_BUILDDIR:=$AOS_TEST_SRCDIR/build}"
        unset _b
fi
: "${AOS_TEST_PKI:=$AOS_TEST_BUILDDIR/tests/pki}"
export AOS_TEST_SRCDIR AOS_TEST_BUILDDIR AOS_TEST_PKI

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOFTHSM_LIB=${AOS_TEST_SOFTHSM_LIB:-/usr/lib/softhsm/libsofthsm2.so}
CERTD_BIN=${AOS_TEST_CERTD:-$AOS_TEST_BUILDDIR/services/certd/aos-certd}
POLKITD_BIN=/usr/lib/polkit-1/polkitd
POLICY_FILE=$AOS_TEST_SRCDIR/polkit/org.aosedge.iam.policy

# The client identities: root, a dedicated user that the test polkit rule grants every
# org.aosedge.* action, and nobody, who gets the policy's defaults (auth_admin_keep: denied,
# since nobody can answer a challenge here).
TEST_UID=4242
TEST_USER=aostest
NOBODY_UID=65534

CERTS_DEST=org.aosedge.Certs1
CERTS_PATH=/org/aosedge/Certs1
CERTS_IFACE=org.aosedge.Certs1.Manager
MODULE_IFACE=org.aosedge.Certs1.Module

E_NOT_FOUND=org.aosedge.Certs1.Error.NotFound
E_INVALID_CHAIN=org.aosedge.Certs1.Error.InvalidChain
E_KEY_MISMATCH=org.aosedge.Certs1.Error.KeyMismatch
E_WRONG_PASSWORD=org.aosedge.Certs1.Error.WrongPassword
E_NOT_OWNED=org.aosedge.Certs1.Error.NotOwned
E_NOT_SUPPORTED=org.aosedge.Certs1.Error.NotSupported
E_BACKEND=org.aosedge.Certs1.Error.Backend
E_INVALID_ARGS=org.freedesktop.DBus.Error.InvalidArgs
E_ACCESS_DENIED=org.freedesktop.DBus.Error.AccessDenied
E_INTERACTIVE=org.freedesktop.DBus.Error.InteractiveAuthorizationRequired

# --- state -------------------------------------------------------------------------------------

D=
T_PASS=0
T_FAIL=0
T_SKIP=0
T_FINISHED=0
T_NAME=$(basename "$0" .sh)
OUT=
ERR=
RC=0
CALLER_UID=0            # uid the bus helpers call as (see as_user)
CONFIG=                 # the iam.conf written by write_config
CERTD_PID=
CERTD_STARTS=0
BUS_PID=
POLKITD_PID=
_HARNESS_PID=$BASHPID
declare -a _PIDS=()     # every process the harness started, in start order
declare -A _PID_NAME=()

# --- output and assertions ---------------------------------------------------------------------

log() { printf '%s\n' "$*"; }
section() { printf '\n### %s\n' "$*"; }
_short() { local s="$*"; s=${s//$'\n'/\\n}; ((${#s} > 160)) && s="${s:0:157}..."; printf '%s' "$s"; }

pass() {
        T_PASS=$((T_PASS + 1))
        printf 'ok %d - %s\n' $((T_PASS + T_FAIL)) "$(_short "$*")"
}
fail() {
        T_FAIL=$((T_FAIL + 1))
        printf 'FAIL %d - %s\n' $((T_PASS + T_FAIL)) "$(_short "$*")"
}
skip() {
        T_SKIP=$((T_SKIP + 1))
        printf 'skip - %s\n' "$(_short "$*")"
}
# Prints the last command's output, indented, after a failure.
_show_output() {
        [[ -n $OUT ]] && printf '    stdout: %s\n' "$(_short "$OUT")"
        [[ -n $ERR ]] && printf '    stderr: %s\n' "$(_short "$ERR")"
        return 0
}

# run CMD...: runs in the current shell (so PIDs and variables it sets survive), stdout in
# $OUT, stderr in $ERR, exit status in $RC.
run() {
        "$@" >"$D/.out" 2>"$D/.err"
        RC=$?
        # read, not $(<file): no subshell here (see _cleanup)
        IFS= read -r -d '' OUT <"$D/.out"
        IFS= read -r -d '' ERR <"$D/.err"
        while [[ $OUT == *$'\n' ]]; do OUT=${OUT%$'\n'}; done
        while [[ $ERR == *$'\n' ]]; do ERR=${ERR%$'\n'}; done
        return $RC
}

# assert_ok CMD...: the command succeeds.
assert_ok() {
        if run "$@"; then
                pass "$*"
        else
                fail "$* (exit $RC)"
                _show_output
                return 1
        fi
}

# assert_fail CMD...: the command fails (any error).
assert_fail() {
        if run "$@"; then
                fail "$* succeeded, expected a failure"
                _show_output
                return 1
        fi
        pass "$* fails"
}

# assert_error ERRNAME CMD...: the command fails and ERRNAME is in its output (certs_try and
# aos-test-call print "Error <name>: <message>"). ERRNAME may list alternatives: "A|B".
assert_error() {
        local want=$1
        shift
        if run "$@"; then
                fail "$* succeeded, expected $want"
                _show_output
                return 1
        fi
        local got
        got=$(printf '%s\n%s\n' "$ERR" "$OUT" | grep -oE '(org\.[A-Za-z0-9_.]+\.Error\.[A-Za-z0-9_]+)' | head -n1)
        local alt
        IFS='|' read -r -a alt <<<"$want"
        local a
        for a in "${alt[@]}"; do
                if [[ $got == "$a" ]]; then
                        pass "$* -> ${got##*.}"
                        return 0
                fi
        done
        fail "$* -> ${got:-<no error name>}, expected $want"
        _show_output
        return 1
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
        if [[ $1 == "$2" ]]; then
                pass "${3:-value} = '$(_short "$1")'"
        else
                fail "${3:-value}: expected '$(_short "$1")', got '$(_short "$2")'"
                return 1
        fi
}
assert_ne() {
        if [[ $1 != "$2" ]]; then
                pass "${3:-value} != '$(_short "$1")'"
        else
                fail "${3:-value}: must not be '$(_short "$1")'"
                return 1
        fi
}
# assert_match EXTENDED_REGEX TEXT [WHAT]
# (A here-string, not a pipe: grep -q stops reading at the first match, and under pipefail the
# writer's SIGPIPE would turn a match into a failure.)
assert_match() {
        if grep -qE -- "$1" <<<"$2"; then
                pass "${3:-text} matches /$1/"
        else
                fail "${3:-text} does not match /$1/: '$(_short "$2")'"
                return 1
        fi
}
assert_no_match() {
        if grep -qE -- "$1" <<<"$2"; then
                fail "${3:-text} matches /$1/ but must not: '$(_short "$2")'"
                return 1
        fi
        pass "${3:-text} does not match /$1/"
}
# assert_cmp A OP B [WHAT]: integer comparison, OP one of -eq -ne -lt -le -gt -ge.
assert_cmp() {
        if [[ $1 =~ ^-?[0-9]+$ && $3 =~ ^-?[0-9]+$ ]] && test "$1" "$2" "$3"; then
                pass "${4:-value}: $1 $2 $3"
        else
                fail "${4:-value}: expected '$1' $2 '$3'"
                return 1
        fi
}
# assert_true WHAT CMD...: like assert_ok with a description.
assert_true() {
        local what=$1
        shift
        if run "$@"; then
                pass "$what"
        else
                fail "$what (exit $RC)"
                _show_output
                return 1
        fi
}

# --- processes ---------------------------------------------------------------------------------

_track() { _PIDS+=("$1"); _PID_NAME[$1]=$2; }
_untrack() {
        local p keep=()
        for p in "${_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
        _PIDS=("${keep[@]}")
        unset '_PID_NAME[$1]'
}
_alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
# _running PID: alive and not a zombie waiting to be reaped (no subshell: see _cleanup).
_running() {
        local s
        _alive "$1" || return 1
        read -r s 2>/dev/null <"/proc/$1/stat" || return 1
        s=${s##*) }
        [[ ${s%% *} != Z ]]
}

# _stop_pid PID [SIGNAL] [TIMEOUT_SEC]: signal, wait up to the timeout, then SIGKILL. Sets
# _STOP_STATUS to the exit status (128+signal if killed) and returns 0, or 1 if SIGKILL was needed.
_stop_pid() {
        local pid=$1 sig=${2:-TERM} timeout=${3:-10} i forced=0
        _STOP_STATUS=
        kill -"$sig" "$pid" 2>/dev/null
        for ((i = 0; i < timeout * 20; i++)); do
                _running "$pid" || break
                sleep 0.05
        done
        if _running "$pid"; then
                kill -KILL "$pid" 2>/dev/null
                forced=1
        fi
        wait "$pid" 2>/dev/null
        _STOP_STATUS=$?
        _untrack "$pid"
        return $forced
}

# wait_until TIMEOUT_SEC CMD...: polls CMD every 50 ms until it succeeds.
wait_until() {
        local timeout=$1 i
        shift
        for ((i = 0; i < timeout * 20; i++)); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        "$@" >/dev/null 2>&1
}

_cleanup() {
        local rc=$? i
        # bash 5.2 runs the EXIT trap in some command-substitution subshells too (after a
        # background child ended): only the harness's own shell cleans up.
        [[ $BASHPID == "$_HARNESS_PID" ]] || return 0
        trap - EXIT INT TERM
        for ((i = ${#_PIDS[@]} - 1; i >= 0; i--)); do
                _stop_pid "${_PIDS[i]}" TERM 5 || true
        done
        if ((T_FINISHED == 0)) && [[ -n $D ]]; then
                fail "$T_NAME ended early (exit status $rc)"
        fi
        if ((T_FAIL > 0)) && [[ -n $D && -s $D/certd.log ]]; then
                printf '\n--- last lines of certd.log ---\n'
                tail -n 40 "$D/certd.log"
                printf -- '---\n'
        fi
        if [[ -n $D && -d $D ]]; then
                if [[ -n ${AOS_TEST_KEEP:-} ]]; then
                        printf 'kept scratch dir %s\n' "$D"
                else
                        rm -rf -- "$D"
                fi
        fi
        if ((T_FINISHED == 0)); then
                printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
        fi
        if ((T_FAIL > 0)); then
                exit 1
        fi
        exit "$rc"
}

# harness_init: checks the prerequisites, makes the scratch dir and installs the cleanup.
harness_init() {
        if [[ $(id -u) != 0 ]]; then
                harness_skip "needs root (polkitd, mount namespaces, setpriv)"
        fi
        local t
        for t in dbus-daemon busctl dbus-send dbus-monitor unshare setpriv certtool p11tool \
                 softhsm2-util sqlite3 "$POLKITD_BIN"; do
                command -v "$t" >/dev/null || harness_skip "missing tool: $t"
        done
        [[ -d /usr/share/polkit-1/actions && -d /etc/polkit-1/rules.d ]] ||
                harness_skip "polkit's directories are missing"
        D=$(mktemp -d /dev/shm/aos-it.XXXXXX) || { echo "cannot make a scratch dir on /dev/shm"; exit 1; }
        # polkitd and non-root clients must reach the bus socket: 0755 all the way.
        chmod 0755 "$D"
        _HARNESS_PID=$BASHPID
        trap _cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        log "# $T_NAME: scratch dir $D"
        log "# build dir $AOS_TEST_BUILDDIR, pki $AOS_TEST_PKI"
}

# harness_skip REASON: the whole script is skipped (meson's exit code 77).
harness_skip() {
        printf 'SKIP: %s\n' "$*"
        printf '0 passed, 0 failed\n'
        T_FINISHED=1
        trap - EXIT
        [[ -n $D && -d $D ]] && _cleanup_quiet
        exit 77
}
_cleanup_quiet() {
        local i
        for ((i = ${#_PIDS[@]} - 1; i >= 0; i--)); do
                _stop_pid "${_PIDS[i]}" TERM 5 || true
        done
        rm -rf -- "$D"
}

# assert_no_sanitizer_reports: no ASan/LSan/UBSan report in certd.log (a sanitizer build of
# the daemon reports there; LeakSanitizer when the daemon exits).
assert_no_sanitizer_reports() {
        local re='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (UndefinedBehavior|Address|Leak)Sanitizer'
        [[ -f $D/certd.log ]] || return 0
        if grep -qE "$re" "$D/certd.log"; then
                fail "sanitizer reports in certd.log"
                grep -nE -A12 "$re" "$D/certd.log" | head -n 60 | sed 's/^/    /'
                return 1
        fi
        # AOS_TEST_VALGRIND=1: memory errors and definite leaks (runs killed by SIGKILL on
        # purpose leave no summary and no leak check).
        local f bad=0
        for f in "$D"/valgrind.*.log; do
                [[ -s $f ]] || continue
                if grep -qE 'Invalid (read|write)|uninitialised|definitely lost|Invalid free|Mismatched free' "$f"; then
                        fail "valgrind reports in $(basename "$f")"
                        head -n 40 "$f" | sed 's/^/    /'
                        bad=1
                fi
        done
        return $bad
}

# harness_finish: stops aos-certd (so that a sanitizer build reports leaks), checks for
# sanitizer reports, prints the summary line the CI reads and exits (1 if anything failed).
harness_finish() {
        [[ -n $CERTD_PID ]] && stop_certd
        assert_no_sanitizer_reports
        T_FINISHED=1
        printf '\n%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
        exit 0 # the EXIT trap turns this into 1 when a check failed
}

# --- identities: /etc/passwd and /etc/group inside the private namespaces ----------------------

# dbus-daemon refuses a uid it cannot resolve, so the dedicated test user exists in copies of
# passwd/group that are bind-mounted (in the bus's and polkitd's mount namespaces only).
_make_identity_files() {
        mkdir -p "$D/etc"
        cp /etc/passwd "$D/etc/passwd"
        cp /etc/group "$D/etc/group"
        getent passwd "$TEST_UID" >/dev/null ||
                echo "$TEST_USER:x:$TEST_UID:$TEST_UID:aos-iam integration tests:/nonexistent:/usr/sbin/nologin" >>"$D/etc/passwd"
        getent group "$TEST_UID" >/dev/null || echo "$TEST_USER:x:$TEST_UID:" >>"$D/etc/group"
        TEST_USER=$(awk -F: -v u="$TEST_UID" '$3 == u {print $1; exit}' "$D/etc/passwd")
        chmod 0755 "$D/etc"
        chmod 0644 "$D/etc/passwd" "$D/etc/group"
}

# --- the private bus ---------------------------------------------------------------------------

bus_name_has_owner() {
        busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                NameHasOwner s "$1" 2>/dev/null | grep -q '^b true'
}
_bus_name_free() { ! bus_name_has_owner "$1"; }
# bus_name_gone NAME: waits (5 s at most) until nobody owns NAME.
bus_name_gone() { wait_until 5 _bus_name_free "$1"; }

# _await_name PID NAME LOG LABEL [TRIES]: waits (TRIES x 50 ms, default 200) until the daemon
# PID owns NAME. 0: it does; 1: it exited first (its status and the tail of LOG on stderr, PID
# untracked); 2: it did not in time.
_await_name() {
        local pid=$1 name=$2 log=$3 label=$4 tries=${5:-200} i st
        for ((i = 0; i < tries; i++)); do
                bus_name_has_owner "$name" && return 0
                if ! _running "$pid"; then
                        wait "$pid" 2>/dev/null
                        st=$?
                        _untrack "$pid"
                        printf '%s exited with status %d before taking its name:\n' "$label" "$st" >&2
                        tail -n 15 "$log" >&2
                        return 1
                fi
                sleep 0.05
        done
        printf '%s did not take %s within %d s\n' "$label" "$name" $((tries / 20)) >&2
        return 2
}

# _await_exit PID [TIMEOUT]: waits (10 s by default) for PID to end by itself; _EXIT is its
# status (137 = SIGKILL), the PID untracked. 1: still running.
_await_exit() {
        local pid=$1 timeout=${2:-10} i
        for ((i = 0; i < timeout * 20; i++)); do
                if ! _running "$pid"; then
                        wait "$pid" 2>/dev/null
                        _EXIT=$?
                        _untrack "$pid"
                        return 0
                fi
                sleep 0.05
        done
        return 1
}

# start_bus: a private system-type dbus-daemon as a foreground child; exports
# DBUS_SYSTEM_BUS_ADDRESS.
start_bus() {
        _make_identity_files
        mkdir -p "$D/dbus/services"
        chmod 0755 "$D/dbus" "$D/dbus/services"
        cat >"$D/dbus/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$D/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$D/dbus/services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
  <limit name="max_replies_per_connection">50000</limit>
</busconfig>
EOF
        : >"$D/dbus/address"
        unshare -m --propagation private -- /bin/sh -c \
                'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group &&
                 exec dbus-daemon --config-file="$3" --nofork --nosyslog --print-address=3' \
                sh "$D/etc/passwd" "$D/etc/group" "$D/dbus/bus.conf" \
                3>"$D/dbus/address" </dev/null >>"$D/dbus.log" 2>&1 &
        BUS_PID=$!
        _track "$BUS_PID" dbus-daemon
        if ! wait_until 10 test -s "$D/dbus/address"; then
                fail "dbus-daemon did not start: $(tail -n 5 "$D/dbus.log")"
                return 1
        fi
        export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$D/dbus/system_bus_socket"
        # Not the session bus, not the machine's bus, for anything started from here.
        unset DBUS_SESSION_BUS_ADDRESS
        if ! wait_until 10 bus_name_has_owner org.freedesktop.DBus; then
                fail "private bus does not answer"
                return 1
        fi
        log "# bus: $DBUS_SYSTEM_BUS_ADDRESS (pid $BUS_PID)"
}

# --- polkit ------------------------------------------------------------------------------------

# start_polkitd: polkitd in a private mount namespace, seeing only the project's actions and the
# test rule (TEST_UID gets every org.aosedge.* action).
start_polkitd() {
        local p=$D/polkit
        mkdir -p "$p/actions" "$p/rules.d" "$p/empty"
        if [[ ! -r $POLICY_FILE ]]; then
                fail "no polkit policy at $POLICY_FILE"
                return 1
        fi
        cp "$POLICY_FILE" "$p/actions/"
        cat >"$p/rules.d/50-aos-integration.rules" <<EOF
// aos-iam integration tests: the test user may do everything the suite guards.
polkit.addRule(function(action, subject) {
        if (action.id.indexOf("org.aosedge.") == 0 && subject.user == "$TEST_USER") {
                return polkit.Result.YES;
        }
        return polkit.Result.NOT_HANDLED;
});
EOF
        chmod 0755 "$p" "$p/actions" "$p/rules.d" "$p/empty"
        chmod 0644 "$p/actions/"* "$p/rules.d/"*
        unshare -m --propagation private -- /bin/sh -c \
                'mount --bind "$1" /usr/share/polkit-1/actions &&
                 mount --bind "$2" /etc/polkit-1/rules.d &&
                 mount --bind "$3" /usr/share/polkit-1/rules.d &&
                 mount --bind "$4" /etc/passwd && mount --bind "$5" /etc/group &&
                 exec "$6"' \
                sh "$p/actions" "$p/rules.d" "$p/empty" "$D/etc/passwd" "$D/etc/group" "$POLKITD_BIN" \
                </dev/null >>"$D/polkitd.log" 2>&1 &
        POLKITD_PID=$!
        _track "$POLKITD_PID" polkitd
        if ! wait_until 10 bus_name_has_owner org.freedesktop.PolicyKit1; then
                fail "polkitd did not take its name: $(tail -n 5 "$D/polkitd.log")"
                return 1
        fi
        log "# polkitd: pid $POLKITD_PID"
}

# polkit_check ACTION UID [FLAGS]: asks polkitd (as root, like a daemon would) about a process
# running as UID; prints the reply, e.g. "(bba{ss}) true false 0".
polkit_check() {
        local action=$1 uid=$2 flags=${3:-0} pid out
        setpriv --reuid="$uid" --regid="$uid" --clear-groups sleep 30 &
        pid=$!
        sleep 0.05
        out=$(busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
                org.freedesktop.PolicyKit1.Authority CheckAuthorization '(sa{sv})sa{ss}us' \
                unix-process 2 pid u "$pid" start-time t 0 "$action" 0 "$flags" "" 2>&1)
        local rc=$?
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        printf '%s\n' "$out"
        return $rc
}

# --- SoftHSM -----------------------------------------------------------------------------------

# setup_softhsm: a SoftHSM2 configuration with its tokens on the scratch dir; exports
# SOFTHSM2_CONF (the daemon inherits it).
setup_softhsm() {
        mkdir -p "$D/softhsm/tokens" "$D/pins"
        cat >"$D/softhsm/softhsm2.conf" <<EOF
directories.tokendir = $D/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
        export SOFTHSM2_CONF=$D/softhsm/softhsm2.conf
        if [[ ! -r $SOFTHSM_LIB ]]; then
                fail "no SoftHSM2 library at $SOFTHSM_LIB"
                return 1
        fi
}

# init_token LABEL [SO_PIN] [USER_PIN]: initializes the free slot (most tests let the daemon's
# SetOwner do this). The user PIN is also written to the PIN file the config uses for LABEL.
init_token() {
        local label=$1 so=${2:-so-$1-1234} pin=${3:-user-$1-1234}
        softhsm2-util --init-token --free --label "$label" --so-pin "$so" --pin "$pin" >/dev/null || return 1
        printf '%s' "$pin" >"$(pin_file "$label")"
        chmod 0600 "$(pin_file "$label")"
}

# pin_file LABEL: the UserPINFile the harness configures for a token.
pin_file() { printf '%s/pins/%s.pin' "$D" "$1"; }

# p11 LABEL P11TOOL_ARGS...: p11tool against SoftHSM, logged in with the token's user PIN.
p11() {
        local label=$1
        shift
        GNUTLS_PIN=$(cat "$(pin_file "$label")" 2>/dev/null) \
                p11tool --provider "$SOFTHSM_LIB" --login "$@"
}

# token_objects LABEL KIND [OBJECT_LABEL]: the URLs of objects on the token, one a line;
# KIND: privkeys | certs | pubkeys | all.
token_objects() {
        local label=$1 kind=$2 obj=${3:-} url opt
        url="pkcs11:token=$label"
        [[ -n $obj ]] && url+=";object=$obj"
        case $kind in
        all) opt=--list-all ;;
        *) opt=--list-all-$kind ;;
        esac
        p11 "$label" "$opt" "$url" 2>/dev/null | sed -n 's/^[[:space:]]*URL: //p'
}
token_count() { token_objects "$@" | grep -c . ; }

# url_base URL: a pkcs11: URL without its query (module-path, pin-source), for p11tool.
url_base() { printf '%s' "${1%%\?*}"; }

# token_has_object LABEL URL: an object matching URL (query stripped) is on the token.
token_has_object() {
        local label=$1 url
        url=$(url_base "$2")
        grep -q 'URL:' <<<"$(p11 "$label" --list-all "$url" 2>/dev/null)"
}

# make_orphan_key LABEL OBJECT_LABEL [ALG]: a key made behind the daemon's back (p11tool), with
# the module's label, as an interrupted CreateKey could leave it.
make_orphan_key() {
        local label=$1 obj=$2 alg=${3:-ecdsa}
        local args=(--generate-privkey="$alg" --label "$obj" --id "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')")
        if [[ $alg == ecdsa ]]; then args+=(--curve=secp384r1); else args+=(--bits=2048); fi
        p11 "$label" "${args[@]}" --outfile "$D/orphan-$obj.pub" "pkcs11:token=$label" >/dev/null 2>&1
}

# --- the key storage under test: AOS_IT_PLUGIN -------------------------------------------------
#
# The certd suites run against a PKCS#11 token (SoftHSM2, the default) or a TPM (swtpm):
# AOS_IT_PLUGIN=pkcs11 | tpm. A script makes its key-storage modules with "$KS" as the plugin
# and checks the storage through the ks_* helpers, which look at the token (p11tool) or the TPM
# (tpm2-tools) and StorageDir; what only one of them has is guarded by [[ $KS == ... ]].
#   setup_keystore                    setup_softhsm, or start_swtpm
#   start_swtpm, stop_swtpm, restart_swtpm   swtpm on $D/tpm.sock, state in $D/tpm (kept)
#   tpm2t TOOL ARGS...                a tpm2-tools command on the harness's swtpm, then
#                                     tpm2_flushcontext (swtpm has three object slots)
#   tpm_marker TYPE, tpm_block TYPE   the authPolicy marking TYPE's keys, its handle block
#   tpm_type_handles TYPE             the persistent handles holding TYPE's keys
#   ks_key_count TYPE, ks_cert_count TYPE, ks_object_count TYPE
#   ks_has_url TYPE URL               the key or certificate URL is in the storage
#   ks_delete_url TYPE URL            removes it behind the daemon's back
#   ks_make_orphan_key TYPE [ALG]     a key as an interrupted CreateKey leaves it
#   ks_write_orphan_cert TYPE PEM     a certificate whose key is not there
#   ks_secret TYPE                    the stored PIN / TPM secret (for assert_no_secret_in_logs)
# TPM helpers that need the owner's authorization use $TPM_OWNER_PW (the scripts' $PW).

KS=${AOS_IT_PLUGIN:-pkcs11}
TPM_TCTI=
TPM_PID=
TPM_OWNER_PW=
TPM_SRK=0x81410000
declare -A _MODULE_TOKEN=()   # pkcs11 module type -> its TokenLabel

setup_keystore() {
        case $KS in
        pkcs11) setup_softhsm ;;
        tpm) start_swtpm ;;
        *) fail "AOS_IT_PLUGIN=$KS: not pkcs11 or tpm"; return 1 ;;
        esac
}

# start_swtpm: swtpm on a unix socket in the scratch dir, state in $D/tpm (kept across
# restarts), a foreground child; exports TPM2TOOLS_TCTI for tpm2-tools.
start_swtpm() {
        local t
        for t in swtpm tpm2_getcap tpm2_readpublic tpm2_evictcontrol tpm2_create tpm2_load tpm2_flushcontext; do
                command -v "$t" >/dev/null || harness_skip "missing tool for AOS_IT_PLUGIN=tpm: $t"
        done
        mkdir -p "$D/tpm"
        rm -f "$D/tpm.sock" "$D/tpm.sock.ctrl"
        swtpm socket --tpm2 --server "type=unixio,path=$D/tpm.sock" --ctrl "type=unixio,path=$D/tpm.sock.ctrl" \
                --tpmstate "dir=$D/tpm" --flags not-need-init,startup-clear </dev/null >>"$D/swtpm.log" 2>&1 &
        TPM_PID=$!
        _track "$TPM_PID" swtpm
        TPM_TCTI="swtpm:path=$D/tpm.sock"
        export TPM2TOOLS_TCTI=$TPM_TCTI
        if ! wait_until 10 test -S "$D/tpm.sock"; then
                fail "swtpm did not start: $(tail -n 5 "$D/swtpm.log")"
                return 1
        fi
        log "# swtpm: $TPM_TCTI (pid $TPM_PID)"
}
stop_swtpm() {
        [[ -n $TPM_PID ]] || return 0
        _stop_pid "$TPM_PID" TERM 10 || fail "swtpm did not exit within 10 s of SIGTERM"
        TPM_PID=
}
restart_swtpm() {
        stop_swtpm
        start_swtpm
}

# tpm2t TOOL ARGS...: tpm2_TOOL on the harness's swtpm; transient objects and sessions it left
# are flushed afterwards (no resource manager here).
tpm2t() {
        local tool=$1 rc
        shift
        "tpm2_$tool" -T "$TPM_TCTI" "$@"
        rc=$?
        tpm2_flushcontext -T "$TPM_TCTI" -t >/dev/null 2>&1
        tpm2_flushcontext -T "$TPM_TCTI" -l >/dev/null 2>&1
        return $rc
}

# tpm_marker TYPE: the authPolicy of TYPE's keys, SHA-256("org.aosedge.iam/tpm-key/" TYPE).
tpm_marker() { printf 'org.aosedge.iam/tpm-key/%s' "$1" | sha256sum | cut -d' ' -f1; }
# tpm_block TYPE: the first handle of TYPE's block (see services/certd/backends/tpm.c).
tpm_block() {
        local m
        m=$(tpm_marker "$1")
        printf '0x%08x\n' $((0x81410100 + ((0x${m:0:4} % 255) << 8)))
}
# tpm_persistent: every persistent handle, one a line (lowercase).
tpm_persistent() { tpm2t getcap handles-persistent 2>/dev/null | sed -n 's/^- \(0x[0-9a-fA-F]*\)$/\1/p' | tr 'A-F' 'a-f'; }
tpm_has_handle() { grep -qx "$1" <<<"$(tpm_persistent)"; }
# tpm_policy HANDLE: the authorization policy (hex) of the object at HANDLE.
tpm_policy() { tpm2t readpublic -c "$1" 2>/dev/null | sed -n 's/^authorization policy: //p' | tr 'A-F' 'a-f'; }
tpm_type_handles() {
        local m h
        m=$(tpm_marker "$1")
        for h in $(tpm_persistent); do
                ((h >= 0x81410100 && h <= 0x8141ffff)) || continue
                [[ $(tpm_policy "$h") == "$m" ]] && printf '%s\n' "$h"
        done
}
# tpm_url_handle URL: the handle of a tpm2: URL.
tpm_url_handle() { local h=${1#tpm2:handle=}; printf '%s\n' "${h%%\?*}" | tr 'A-F' 'a-f'; }
# file_url_path URL
url_file_path() { local p=${1#file:}; printf '%s\n' "${p#//}"; }

ks_key_count() {
        case $KS in
        pkcs11) token_count "${_MODULE_TOKEN[$1]:-$1}" privkeys "$1" ;;
        tpm) tpm_type_handles "$1" | grep -c . ;;
        esac
}
ks_cert_count() {
        case $KS in
        pkcs11) token_count "${_MODULE_TOKEN[$1]:-$1}" certs "$1" ;;
        tpm) find "$D/certs/$1" -maxdepth 1 -name '0x*.pem' 2>/dev/null | grep -c . ;;
        esac
}
# ks_object_count TYPE: every object of the type (pkcs11: keys, public keys, certificates;
# tpm: keys and files in StorageDir/TYPE).
ks_object_count() {
        case $KS in
        pkcs11) token_count "${_MODULE_TOKEN[$1]:-$1}" all "$1" ;;
        tpm) echo $(($(ks_key_count "$1") + $(find "$D/certs/$1" -maxdepth 1 -type f 2>/dev/null | grep -c .))) ;;
        esac
}
ks_has_url() {
        local type=$1 url=$2
        case $url in
        pkcs11:*) token_has_object "${_MODULE_TOKEN[$type]:-$type}" "$url" ;;
        file:*) test -f "$(url_file_path "$url")" ;;
        tpm2:*) grep -qx "$(tpm_url_handle "$url")" <<<"$(tpm_type_handles "$type")" ;;
        *) return 1 ;;
        esac
}
ks_delete_url() {
        local type=$1 url=$2
        case $url in
        pkcs11:*) p11 "${_MODULE_TOKEN[$type]:-$type}" --batch --delete "$(url_base "$url")" ;;
        file:*) rm -f -- "$(url_file_path "$url")" ;;
        tpm2:*) tpm2t evictcontrol -C o -P "$TPM_OWNER_PW" -c "$(tpm_url_handle "$url")" >/dev/null ;;
        esac
}
# ks_make_orphan_key TYPE [ecdsa|rsa]: pkcs11: p11tool; tpm: a key with TYPE's marker under the
# SRK, persisted in TYPE's block (the SRK's secret from the daemon's file, owner auth
# $TPM_OWNER_PW), as a CreateKey killed before it recorded the key leaves it.
ks_make_orphan_key() {
        local type=$1 alg=${2:-ecdsa}
        case $KS in
        pkcs11) make_orphan_key "${_MODULE_TOKEN[$type]:-$type}" "$type" "$alg" ;;
        tpm)
                local o=$D/orphan-$type auth h free=
                auth=$(tpm_auth_file) || return 1
                tpm_marker "$type" | xxd -r -p >"$o.policy"
                local g=ecc384:null
                [[ $alg == rsa ]] && g=rsa2048:null
                tpm2t create -C "$TPM_SRK" -P "file:$auth" -G "$g" -L "$o.policy" \
                        -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|sign' \
                        -u "$o.pub" -r "$o.priv" >/dev/null || return 1
                tpm2t load -C "$TPM_SRK" -P "file:$auth" -u "$o.pub" -r "$o.priv" -c "$o.ctx" >/dev/null || return 1
                local used
                used=$(tpm_persistent)
                for ((h = $(tpm_block "$type") + 255; h >= $(tpm_block "$type"); h--)); do
                        grep -qx "$(printf '0x%08x' "$h")" <<<"$used" || { free=$(printf '0x%08x' "$h"); break; }
                done
                [[ -n $free ]] || return 1
                # tpm2_load wrote a context file; evictcontrol loads it again (then flushed).
                tpm2t evictcontrol -C o -P "$TPM_OWNER_PW" -c "$o.ctx" "$free" >/dev/null
                ;;
        esac
}
# ks_write_orphan_cert TYPE PEM: a certificate in the storage whose key is not there.
ks_write_orphan_cert() {
        local type=$1 pem=$2
        case $KS in
        pkcs11) p11 "${_MODULE_TOKEN[$type]:-$type}" --write --load-certificate "$pem" --label "$type" \
                        --id 0102030405 "pkcs11:token=${_MODULE_TOKEN[$type]:-$type}" ;;
        tpm) mkdir -p "$D/certs/$type" && install -m 0600 "$pem" "$D/certs/$type/$(tpm_block "$type" | sed 's/00$/fe/').pem" ;;
        esac
}
# tpm_auth_file: the TPM secret file the daemon keeps in StorageDir.
tpm_auth_file() {
        local f
        for f in "$D"/certs/tpm-*.auth; do
                [[ -f $f ]] && { printf '%s\n' "$f"; return 0; }
        done
        return 1
}
ks_secret() {
        case $KS in
        pkcs11) cat "$(pin_file "${_MODULE_TOKEN[$1]:-$1}")" 2>/dev/null ;;
        tpm) local f; f=$(tpm_auth_file) && cat "$f" ;;
        esac
}

# --- configuration -----------------------------------------------------------------------------

# write_config [FILE]: starts an iam.conf with the [Certd] section; "module" adds modules.
# CACert is the test PKI's root, or $AOS_IT_CA_CERT (scripts/demo: its own CA).
write_config() {
        CONFIG=${1:-$D/iam.conf}
        ensure_pki || return 1
        mkdir -p "$D/certs"
        cat >"$CONFIG" <<EOF
# written by the aos-iam integration harness
[Certd]
CACert=${AOS_IT_CA_CERT:-$AOS_TEST_PKI/ca.pem}
Database=$D/certd.db
StorageDir=$D/certs
EOF
}

# module TYPE PLUGIN ALGORITHM "EKUS" "SANS" MAXITEMS [Key=Value...]: appends a [Module TYPE]
# section. pkcs11 modules get PKCS11Library=SoftHSM, TokenLabel=TYPE and a UserPINFile on the
# scratch dir unless given; tpm modules TCTI=$TPM_TCTI (and drop the pkcs11 keys); an empty EKU
# or SAN list leaves the key out.
module() {
        local type=$1 plugin=$2 alg=$3 eku=$4 sans=$5 max=$6
        shift 6
        local extra=("$@") kv has_label=0 has_pin=0 has_lib=0 has_tcti=0 label=$type
        for kv in "${extra[@]}"; do
                case $kv in
                TokenLabel=*) has_label=1; label=${kv#TokenLabel=} ;;
                UserPINFile=*) has_pin=1 ;;
                PKCS11Library=*) has_lib=1 ;;
                TCTI=*) has_tcti=1 ;;
                esac
        done
        [[ $plugin == pkcs11 ]] && _MODULE_TOKEN[$type]=$label
        {
                printf '\n[Module %s]\n' "$type"
                printf 'Plugin=%s\nAlgorithm=%s\nMaxItems=%s\n' "$plugin" "$alg" "$max"
                [[ -n $eku ]] && printf 'ExtendedKeyUsage=%s\n' "$eku"
                [[ -n $sans ]] && printf 'AlternativeNames=%s\n' "$sans"
                if [[ $plugin == pkcs11 ]]; then
                        ((has_lib)) || printf 'PKCS11Library=%s\n' "$SOFTHSM_LIB"
                        ((has_label)) || printf 'TokenLabel=%s\n' "$label"
                        ((has_pin)) || printf 'UserPINFile=%s\n' "$(pin_file "$label")"
                fi
                if [[ $plugin == tpm ]]; then
                        # TokenLabel= means "shares the key storage" to the scripts: on a TPM
                        # every module does.
                        ((has_tcti)) || printf 'TCTI=%s\n' "$TPM_TCTI"
                        for kv in "${extra[@]}"; do
                                [[ $kv == TokenLabel=* || $kv == UserPINFile=* || $kv == PKCS11Library=* ]] ||
                                        printf '%s\n' "$kv"
                        done
                else
                        for kv in "${extra[@]}"; do printf '%s\n' "$kv"; done
                fi
        } >>"$CONFIG"
}

# --- aos-certd ---------------------------------------------------------------------------------

# certd_is_real: the build has a daemon (not the placeholder that just exits).
certd_is_real() {
        [[ -x $CERTD_BIN ]] || return 1
        timeout 5 "$CERTD_BIN" --help 2>&1 | grep -q -- '--config'
}

# require_certd: skips the whole script (exit 77) while the daemon is not built yet.
require_certd() {
        [[ -x $CERTD_BIN ]] || harness_skip "no aos-certd at $CERTD_BIN"
        certd_is_real || harness_skip "aos-certd at $CERTD_BIN is a placeholder (--help does not mention --config)"
}

# start_certd [--env K=V]... [ARGS...]: aos-certd with $CONFIG as a foreground child, stderr
# (and stdout) appended to $D/certd.log; returns once org.aosedge.Certs1 is on the bus (10 s).
start_certd() {
        local envs=()
        while [[ ${1:-} == --env ]]; do
                envs+=("$2")
                shift 2
        done
        CERTD_STARTS=$((CERTD_STARTS + 1))
        printf -- '--- start %d %s\n' "$CERTD_STARTS" "${envs[*]}" >>"$D/certd.log"
        local wrap=()
        if [[ -n ${AOS_TEST_VALGRIND:-} ]]; then
                # valgrind runs the daemon in its own process, so the PID stays the daemon's.
                wrap=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite
                      --log-file="$D/valgrind.%p.log")
        fi
        env "${envs[@]}" "${wrap[@]}" "$CERTD_BIN" --config "$CONFIG" --log-level debug "$@" \
                </dev/null >>"$D/certd.log" 2>&1 &
        CERTD_PID=$!
        _track "$CERTD_PID" aos-certd
        local tries=200
        [[ -n ${AOS_TEST_VALGRIND:-} ]] && tries=1200
        _await_name "$CERTD_PID" "$CERTS_DEST" "$D/certd.log" aos-certd "$tries" && return 0
        (($? == 1)) && CERTD_PID=
        return 1
}

# stop_certd: SIGTERM, then SIGKILL after 10 s (that counts as a failure).
stop_certd() {
        [[ -n $CERTD_PID ]] || return 0
        if ! _stop_pid "$CERTD_PID" TERM 10; then
                fail "aos-certd did not exit within 10 s of SIGTERM"
        fi
        CERTD_PID=
        bus_name_gone "$CERTS_DEST"
}
kill_certd() {
        [[ -n $CERTD_PID ]] || return 0
        _stop_pid "$CERTD_PID" KILL 10
        CERTD_PID=
        bus_name_gone "$CERTS_DEST"
}
restart_certd() {
        stop_certd
        start_certd "$@"
}
certd_alive() { _alive "$CERTD_PID" && bus_name_has_owner "$CERTS_DEST"; }

# wait_certd_exit [TIMEOUT]: waits for the daemon to die by itself (fault injection); sets
# CERTD_EXIT to its status (137 = SIGKILL). Returns 1 if it is still running.
wait_certd_exit() {
        CERTD_EXIT=
        _await_exit "$CERTD_PID" "${1:-10}" || return 1
        CERTD_EXIT=$_EXIT
        CERTD_PID=
}

# --- calling the daemon ------------------------------------------------------------------------

# as_user UID CMD...: runs a bus helper (certs_call, certs_try, certs_prop, aos_call) as UID.
as_user() {
        local saved=$CALLER_UID rc
        CALLER_UID=$1
        shift
        "$@"
        rc=$?
        CALLER_UID=$saved
        return $rc
}
_as() {
        if [[ $CALLER_UID == 0 ]]; then
                "$@"
        else
                setpriv --reuid="$CALLER_UID" --regid="$CALLER_UID" --clear-groups "$@"
        fi
}

# certs_call METHOD SIGNATURE ARGS...: busctl call on the manager, JSON (--json=short) output.
# No interactive authorization (the flag is off).
certs_call() {
        # "--": a PEM argument starts with dashes.
        _as busctl --system --json=short --timeout=120 --allow-interactive-authorization=no -- \
                call "$CERTS_DEST" "$CERTS_PATH" "$CERTS_IFACE" "$@"
}

# _to_dbus_send SIGNATURE ARGS...: busctl-style arguments to dbus-send's (s, ay, u, i, t, b).
_to_dbus_send() {
        local sig=$1 i c n j bytes
        shift
        _DS_ARGS=()
        for ((i = 0; i < ${#sig}; i++)); do
                c=${sig:i:1}
                case $c in
                s) _DS_ARGS+=("string:$1"); shift ;;
                u) _DS_ARGS+=("uint32:$1"); shift ;;
                i) _DS_ARGS+=("int32:$1"); shift ;;
                t) _DS_ARGS+=("uint64:$1"); shift ;;
                b) _DS_ARGS+=("boolean:$1"); shift ;;
                a)
                        i=$((i + 1))
                        [[ ${sig:i:1} == y ]] || { echo "unsupported signature $sig" >&2; return 1; }
                        n=$1
                        shift
                        bytes=
                        for ((j = 0; j < n; j++)); do
                                bytes+="${bytes:+,}$1"
                                shift
                        done
                        _DS_ARGS+=("array:byte:$bytes")
                        ;;
                *) echo "unsupported signature $sig" >&2; return 1 ;;
                esac
        done
}

# certs_try METHOD SIGNATURE ARGS...: the same call through dbus-send, which prints the error
# name ("Error org.aosedge.Certs1.Error.NotFound: ..."); for assert_error.
certs_try() {
        local method=$1 sig=${2:-}
        shift 2 || shift $#
        _to_dbus_send "$sig" "$@" || return 2
        _as dbus-send --system --print-reply --reply-timeout=120000 --dest="$CERTS_DEST" \
                "$CERTS_PATH" "$CERTS_IFACE.$method" "${_DS_ARGS[@]}"
}

# certs_prop OBJECT_PATH INTERFACE PROPERTY: busctl get-property, JSON output.
certs_prop() {
        _as busctl --system --json=short get-property "$CERTS_DEST" "$1" "$2" "$3"
}
certs_prop_try() {
        _as dbus-send --system --print-reply --dest="$CERTS_DEST" "$1" \
                org.freedesktop.DBus.Properties.Get "string:$2" "string:$3"
}

# module_path TYPE: the module's object path (sd_bus_path_encode escaping).
module_path() {
        local t=$1 out="" i c
        if [[ -z $t ]]; then
                printf '%s/module/_' "$CERTS_PATH"
                return
        fi
        for ((i = 0; i < ${#t}; i++)); do
                c=${t:i:1}
                if [[ $c == [A-Za-z] || ($c == [0-9] && $i -gt 0) ]]; then
                        out+=$c
                else
                        out+=$(printf '_%02x' "'$c")
                fi
        done
        printf '%s/module/%s' "$CERTS_PATH" "$out"
}

# aos_call [--interactive] [--uid UID] METHOD ARG...: the compiled helper (aos-test-call), for what
# busctl and dbus-send cannot do: a 10 MB argument (ARG "n:SIZE"), a file as a string
# ("f:PATH"), the allow-interactive-authorization flag. ARG "s:TEXT" is a plain string.
aos_call() {
        local helper
        helper=$(_call_helper) || return 2
        _as "$helper" "$@"
}
_call_helper() {
        local b=$AOS_TEST_BUILDDIR/tests/integration/aos-test-call
        if [[ -x $b ]]; then
                printf '%s' "$b"
                return 0
        fi
        # Runs by hand without a build of the helper: compile it into the scratch dir.
        if [[ ! -x $D/aos-test-call ]]; then
                # shellcheck disable=SC2046
                gcc -O1 -o "$D/aos-test-call" "$IT_DIR/aos-test-call.c" $(pkg-config --cflags --libs libsystemd) >&2 ||
                        return 1
        fi
        printf '%s' "$D/aos-test-call"
}

# --- parsing busctl --json=short output (no jq) ------------------------------------------------
# busctl prints values as {"type":"s","data":"..."}; these helpers pick values by dict key.

# json_get JSON KEY: the data of the first "KEY":{"type":...,"data":...} (strings unquoted,
# arrays as [..]).
json_get() {
        json_all "$1" "$2" | head -n1
}
# json_all JSON KEY: every occurrence, one a line, in order.
json_all() {
        printf '%s' "$1" |
                grep -oE "\"$2\":\\{\"type\":\"[^\"]*\",\"data\":(\"([^\"\\\\]|\\\\.)*\"|\\[[^]]*\\]|[^,}]*)" |
                sed -E -e 's/^"[^"]*":\{"type":"[^"]*","data"://' -e 's/^"(.*)"$/\1/'
}
# json_strings JSON: every string in the "data" of a reply or property (as, or a single s).
json_strings() {
        printf '%s' "$1" | sed -E 's/^\{"type":"[^"]*","data"://' | grep -oE '"([^"\\]|\\.)*"' | sed -E 's/^"(.*)"$/\1/'
}
# json_data JSON: the bare data of a scalar reply or property ({"type":"u","data":2} -> 2).
json_data() {
        printf '%s' "$1" | sed -E -e 's/^\{"type":"[^"]*","data":\[?//' -e 's/\]?\}$//' -e 's/^"(.*)"$/\1/'
}
# json_count JSON KEY: how many times KEY occurs (e.g. certificates in a ListCerts reply).
json_count() { json_all "$1" "$2" | grep -c . ; }
# ay_args "[48,12,3]": "3 48 12 3", busctl's form of an ay argument.
ay_args() {
        local s=${1#[}
        s=${s%]}
        local -a b
        IFS=, read -r -a b <<<"$s"
        printf '%d' "${#b[@]}"
        ((${#b[@]})) && printf ' %s' "${b[@]}"
        printf '\n'
}
# ay_hex "[48,12]": "300c".
ay_hex() {
        local s=${1#[}
        s=${s%]}
        local -a b
        IFS=, read -r -a b <<<"$s"
        local x
        for x in "${b[@]}"; do printf '%02x' "$x"; done
        printf '\n'
}

# --- test PKI and certificates ------------------------------------------------------------------

# ensure_pki: uses $AOS_TEST_PKI when it holds ca, intermediate and other-ca (cert and key);
# otherwise makes that PKI in $D/pki and points AOS_TEST_PKI there.
ensure_pki() {
        local f ok=1
        for f in ca.pem ca.key intermediate.pem intermediate.key other-ca.pem other-ca.key; do
                [[ -r $AOS_TEST_PKI/$f ]] || ok=0
        done
        ((ok)) && return 0
        [[ -r $D/pki/ca.pem ]] || make_pki "$D/pki" || return 1
        log "# test PKI at $AOS_TEST_PKI incomplete: using one made in $D/pki"
        AOS_TEST_PKI=$D/pki
}

_certtool() { certtool "$@" >/dev/null 2>"$D/.certtool.err" || { cat "$D/.certtool.err" >&2; return 1; }; }

# make_pki DIR: root "CN=Aos Test Root", an intermediate signed by it, and an unrelated root.
make_pki() {
        local p=$1
        mkdir -p "$p"
        _certtool --generate-privkey --key-type ecdsa --curve secp384r1 --outfile "$p/ca.key" || return 1
        printf 'cn = "Aos Test Root"\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 3650\n' >"$p/ca.tmpl"
        _certtool --generate-self-signed --load-privkey "$p/ca.key" --template "$p/ca.tmpl" --outfile "$p/ca.pem" || return 1
        _certtool --generate-privkey --key-type ecdsa --curve secp384r1 --outfile "$p/intermediate.key" || return 1
        printf 'cn = "Aos Test Intermediate"\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 3000\n' >"$p/intermediate.tmpl"
        _certtool --generate-certificate --load-privkey "$p/intermediate.key" --load-ca-certificate "$p/ca.pem" \
                --load-ca-privkey "$p/ca.key" --template "$p/intermediate.tmpl" --outfile "$p/intermediate.pem" || return 1
        _certtool --generate-privkey --key-type ecdsa --curve secp384r1 --outfile "$p/other-ca.key" || return 1
        printf 'cn = "Aos Other Root"\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 3650\n' >"$p/other-ca.tmpl"
        _certtool --generate-self-signed --load-privkey "$p/other-ca.key" --template "$p/other-ca.tmpl" --outfile "$p/other-ca.pem" || return 1
}

# sign_csr CSR_FILE OUT_CHAIN [ca|intermediate|other] [OPTION...]
# Signs a CSR with the test PKI. Without EKU options the CSR's extensions (EKU, SANs) are
# copied (honor_crq_extensions). Options:
#   serverAuth clientAuth   these EKUs (and not the CSR's extensions)
#   noeku                   no EKU at all (and not the CSR's extensions)
#   expired | future        validity entirely in the past / in the future
#   days=N                  NotAfter N days from now (default 365), for distinct NotAfter
#   cn=NAME                 a subject CN other than the CSR's
# OUT_CHAIN is the leaf, followed by the intermediate when it signed.
sign_csr() {
        local csr=$1 out=$2 signer=${3:-ca}
        shift 2
        (($#)) && shift
        local cacert cakey tmpl=$D/.sign.tmpl honor=1 days=365 opt ekus=() dates=()
        case $signer in
        ca) cacert=$AOS_TEST_PKI/ca.pem cakey=$AOS_TEST_PKI/ca.key ;;
        intermediate) cacert=$AOS_TEST_PKI/intermediate.pem cakey=$AOS_TEST_PKI/intermediate.key ;;
        other) cacert=$AOS_TEST_PKI/other-ca.pem cakey=$AOS_TEST_PKI/other-ca.key ;;
        *) echo "sign_csr: unknown signer $signer" >&2; return 2 ;;
        esac
        : >"$tmpl"
        for opt in "$@"; do
                case $opt in
                serverAuth) honor=0 ekus+=(tls_www_server) ;;
                clientAuth) honor=0 ekus+=(tls_www_client) ;;
                noeku) honor=0 ;;
                expired) dates=('activation_date = "2020-01-01 00:00:00"' 'expiration_date = "2021-01-01 00:00:00"') ;;
                future) dates=('activation_date = "2099-01-01 00:00:00"' 'expiration_date = "2100-01-01 00:00:00"') ;;
                days=*) days=${opt#days=} ;;
                cn=*) printf 'cn = "%s"\n' "${opt#cn=}" >>"$tmpl" ;;
                *) echo "sign_csr: unknown option $opt" >&2; return 2 ;;
                esac
        done
        {
                ((honor)) && echo honor_crq_extensions
                local e
                for e in "${ekus[@]}"; do echo "$e"; done
                if ((${#dates[@]})); then
                        printf '%s\n' "${dates[@]}"
                else
                        echo "expiration_days = $days"
                fi
                echo signing_key
        } >>"$tmpl"
        _certtool --generate-certificate --load-request "$csr" --load-ca-certificate "$cacert" \
                --load-ca-privkey "$cakey" --template "$tmpl" --outfile "$out" || return 1
        if [[ $signer == intermediate ]]; then
                cat "$AOS_TEST_PKI/intermediate.pem" >>"$out"
        fi
}

# cert_info FILE: certtool -i of the first certificate in FILE.
cert_info() { certtool -i --infile "$1" 2>/dev/null; }
# cert_serial FILE: serial as certtool prints it (lowercase hex).
cert_serial() { cert_info "$1" | sed -n 's/^[[:space:]]*Serial Number (hex): //p' | head -n1 | tr 'A-F' 'a-f'; }
# cert_fingerprint FILE: SHA-256 of the DER certificate, lowercase hex.
cert_fingerprint() {
        cert_info "$1" | awk '/Fingerprint:/ {f = 1} f && /sha256:/ {sub(/.*sha256:/, ""); print; exit}'
}
# cert_not_after_us FILE / cert_not_before_us FILE: µs since the epoch.
cert_not_after_us() { _cert_date_us "$1" 'Not After'; }
cert_not_before_us() { _cert_date_us "$1" 'Not Before'; }
_cert_date_us() {
        local d
        d=$(cert_info "$1" | sed -n "s/^[[:space:]]*$2: //p" | head -n1)
        [[ -n $d ]] || return 1
        printf '%s000000\n' "$(date -u -d "$d" +%s)"
}
cert_subject() { cert_info "$1" | sed -n 's/^[[:space:]]*Subject: //p' | head -n1; }
cert_issuer() { cert_info "$1" | sed -n 's/^[[:space:]]*Issuer: //p' | head -n1; }

# make_csr KEYFILE CSRFILE CN [ecdsa|rsa]: a CSR for a key the daemon never saw.
make_csr() {
        local key=$1 csr=$2 cn=$3 alg=${4:-ecdsa}
        if [[ $alg == rsa ]]; then
                _certtool --generate-privkey --key-type rsa --bits 2048 --outfile "$key" || return 1
        else
                _certtool --generate-privkey --key-type ecdsa --curve secp384r1 --outfile "$key" || return 1
        fi
        printf 'cn = "%s"\ntls_www_server\ntls_www_client\ndns_name = "iam.local"\ndns_name = "localhost"\n' "$cn" >"$D/.req.tmpl"
        _certtool --generate-request --load-privkey "$key" --template "$D/.req.tmpl" --outfile "$csr"
}

# pem_first FILE: the first PEM certificate block of a chain file.
pem_first() { awk '/-----BEGIN CERTIFICATE-----/ {p = 1} p {print} /-----END CERTIFICATE-----/ {exit}' "$1"; }

# corrupt_signature IN OUT: the first certificate of IN with its last signature byte flipped
# (parses, but no longer verifies); the rest of the chain is kept.
corrupt_signature() {
        local in=$1 out=$2 der=$D/.corrupt.der
        pem_first "$in" | sed '1d;$d' | base64 -d >"$der" || return 1
        local size last
        size=$(stat -c %s "$der")
        last=$(od -An -j $((size - 1)) -N1 -tu1 "$der" | tr -d ' ')
        printf "\\$(printf '%03o' $(((last ^ 1) & 255)))" |
                dd of="$der" bs=1 seek=$((size - 1)) conv=notrunc status=none
        {
                echo '-----BEGIN CERTIFICATE-----'
                base64 -w 64 "$der"
                echo '-----END CERTIFICATE-----'
                awk 'n >= 1 {print} /-----END CERTIFICATE-----/ {n++}' "$in"
        } >"$out"
}

# make_cyclic_chain LEAF_CSR OUT: a leaf signed by CA "A", "A" signed by "B", "B" signed by "A",
# repeated to 16 certificates: a chain that never reaches a root.
make_cyclic_chain() {
        local csr=$1 out=$2 c=$D/cyclic
        mkdir -p "$c"
        _certtool --generate-privkey --key-type ecdsa --curve secp384r1 --outfile "$c/a.key" || return 1
        _certtool --generate-privkey --key-type ecdsa --curve secp384r1 --outfile "$c/b.key" || return 1
        printf 'cn = "Cycle A"\nca\ncert_signing_key\nexpiration_days = 30\n' >"$c/a.tmpl"
        printf 'cn = "Cycle B"\nca\ncert_signing_key\nexpiration_days = 30\n' >"$c/b.tmpl"
        # B0: a self-signed "B" to sign A with; then B signed by A.
        _certtool --generate-self-signed --load-privkey "$c/b.key" --template "$c/b.tmpl" --outfile "$c/b0.pem" || return 1
        _certtool --generate-certificate --load-privkey "$c/a.key" --load-ca-certificate "$c/b0.pem" \
                --load-ca-privkey "$c/b.key" --template "$c/a.tmpl" --outfile "$c/a.pem" || return 1
        _certtool --generate-certificate --load-privkey "$c/b.key" --load-ca-certificate "$c/a.pem" \
                --load-ca-privkey "$c/a.key" --template "$c/b.tmpl" --outfile "$c/b.pem" || return 1
        printf 'honor_crq_extensions\nexpiration_days = 30\nsigning_key\n' >"$c/leaf.tmpl"
        _certtool --generate-certificate --load-request "$csr" --load-ca-certificate "$c/a.pem" \
                --load-ca-privkey "$c/a.key" --template "$c/leaf.tmpl" --outfile "$out" || return 1
        local i
        for ((i = 0; i < 7; i++)); do
                cat "$c/a.pem" "$c/b.pem" >>"$out"
        done
        cat "$c/a.pem" >>"$out"
}

# --- signals -----------------------------------------------------------------------------------

# start_monitor NAME MATCH: dbus-monitor writing to $D/NAME.monitor; returns when it listens.
start_monitor() {
        local name=$1 match=$2 f=$D/$1.monitor
        : >"$f"
        dbus-monitor --system "$match" </dev/null >"$f" 2>&1 &
        local pid=$!
        _track "$pid" "dbus-monitor $name"
        eval "MONITOR_PID_${name//[^A-Za-z0-9]/_}=$pid"
        # dbus-monitor prints NameAcquired/NameLost (it became a monitor) before anything else.
        wait_until 5 grep -q 'NameLost\|NameAcquired' "$f"
        sleep 0.1
}
stop_monitor() {
        local v="MONITOR_PID_${1//[^A-Za-z0-9]/_}"
        [[ -n ${!v:-} ]] && _stop_pid "${!v}" TERM 2
        eval "$v="
}
monitor_file() { printf '%s/%s.monitor' "$D" "$1"; }

# --- secrets -------------------------------------------------------------------------------------

# assert_no_secret_in_logs SECRET...: none of the passwords/PINs is in certd.log.
assert_no_secret_in_logs() {
        local s found=0
        [[ -f $D/certd.log ]] || { fail "no certd.log"; return 1; }
        for s in "$@"; do
                [[ -n $s ]] || continue
                if grep -qF -- "$s" "$D/certd.log"; then
                        fail "a secret (${#s} characters, starts '${s:0:3}') appears in certd.log"
                        grep -nF -- "$s" "$D/certd.log" | head -n 3 | sed 's/^/    /'
                        found=1
                fi
        done
        ((found)) || pass "no password or PIN in certd.log ($# secrets checked)"
        return $found
}

# --- certd conveniences ------------------------------------------------------------------------

# reply_string JSON: the string of a one-string reply ({"type":"s","data":["..."]}), escapes
# (\n, \", \\) resolved.
reply_string() {
        local s
        s=$(json_data "$1")
        printf '%b\n' "${s//\\\"/\"}"
}

# create_key TYPE CN PASSWORD CSR_FILE: CreateKey; the CSR is written to CSR_FILE.
create_key() {
        certs_call CreateKey sss "$1" "$2" "$3" >"$D/.ck.json" || return 1
        reply_string "$(cat "$D/.ck.json")" >"$4"
        grep -q 'BEGIN .*CERTIFICATE REQUEST' "$4" || { echo "CreateKey reply is not a CSR: $(head -c 200 "$D/.ck.json")" >&2; return 1; }
}

# issue TYPE CN PASSWORD CHAIN_FILE [SIGNER] [SIGN_OPTIONS...]: CreateKey, then the CSR
# (CHAIN_FILE.csr) signed into CHAIN_FILE.
issue() {
        local type=$1 cn=$2 pw=$3 out=$4
        shift 4
        create_key "$type" "$cn" "$pw" "$out.csr" || return 1
        sign_csr "$out.csr" "$out" "$@"
}

# apply TYPE CHAIN_FILE: ApplyCert with the file's contents; prints the info (JSON).
apply() { certs_call ApplyCert ss "$1" "$(cat "$2")"; }
# apply_try TYPE CHAIN_FILE: the same through dbus-send, for assert_error.
apply_try() { certs_try ApplyCert ss "$1" "$(cat "$2")"; }

# list_field TYPE KEY: KEY of every certificate ListCerts(TYPE) returns, one a line.
list_field() {
        local j
        j=$(certs_call ListCerts s "$1") || return 1
        json_all "$j" "$2"
}
list_serials() { list_field "$1" Serial | sort | xargs; }
list_count() { list_field "$1" Serial | grep -c . ; }

# latest_field TYPE KEY: KEY of GetCert(TYPE, [], "") (the latest NotAfter).
latest_field() {
        local j
        j=$(certs_call GetCert says "$1" 0 "") || return 1
        json_get "$j" "$2"
}

# assert_serving: the daemon still answers (after a bad input, a crash test, ...).
assert_serving() {
        if _running "$CERTD_PID" && certs_call GetCertTypes >/dev/null 2>&1; then
                pass "aos-certd still serving${1:+ ($1)}"
        else
                fail "aos-certd no longer serving${1:+ ($1)}"
                return 1
        fi
}

# certd_has_faults: the daemon was built with -Dfault_injection=true.
certd_has_faults() {
        grep -qs '^#define AOS_FAULT_INJECTION 1' "$AOS_TEST_BUILDDIR/aos-build-config.h" ||
                grep -qa 'fault injection: killing at' "$CERTD_BIN"
}

# db_tables: the tables of the daemon's database (sqlite3; only while the daemon is stopped).
db_sql() { sqlite3 -batch -noheader "$D/certd.db" "$@"; }
db_tables() { db_sql "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%';"; }
# db_find_column VALUE: "table column" of the first column that holds VALUE (text).
db_find_column() {
        local t c n
        for t in $(db_tables); do
                for c in $(db_sql "SELECT name FROM pragma_table_info('$t');"); do
                        n=$(db_sql "SELECT count(*) FROM \"$t\" WHERE CAST(\"$c\" AS TEXT) = '$1';" 2>/dev/null)
                        if [[ ${n:-0} -gt 0 ]]; then
                                printf '%s %s\n' "$t" "$c"
                                return 0
                        fi
                done
        done
        return 1
}

# --- aos-provisiond ----------------------------------------------------------------------------
# (appended for the test-provisiond-*.sh scripts)
#
#   prov_harness_init                 harness_init, plus provisiond.log's tail on a failure
#   require_provisiond                skips while aos-provisiond is not built
#   node_section [Key=Value...]       [Node] Id=$PROV_NODE_ID, StateFile=$PROV_STATE_FILE, ...
#   provisioning_section [K=V...]     [Provisioning] (hooks: argv, no shell)
#   start_provisiond [--env K=V]... [ARGS...]   (--provisioning for provisioning mode)
#   stop_provisiond, kill_provisiond, restart_provisiond, wait_provisiond_exit (PROVISIOND_EXIT),
#   provisiond_alive, provisiond_has_faults
#   prov_call METHOD SIG ARGS...      busctl, JSON output
#   prov_try METHOD SIG ARGS...       dbus-send: prints "Error <name>: <message>" (assert_error)
#   prov_try_interactive METHOD 'GVARIANT ARGS'...  gdbus --interactive (prints the error name)
#   prov_prop PROP                    the property's bare value
#   prov_state                        State
#   assert_prov_state STATE [WHAT]
#   assert_no_secret_in_provisiond_log SECRET...

PROVISIOND_BIN=${AOS_TEST_PROVISIOND:-$AOS_TEST_BUILDDIR/services/provisiond/aos-provisiond}
PROV_DEST=org.aosedge.Provisioning1
PROV_PATH=/org/aosedge/Provisioning1
PROV_IFACE=org.aosedge.Provisioning1.Manager
PROV_NODE_ID=node-it-1
PROVISIOND_PID=
PROVISIOND_STARTS=0
PROVISIOND_EXIT=
PROV_STATE_FILE=

E_WRONG_STATE=org.aosedge.Provisioning1.Error.WrongState
E_PROV_WRONG_PASSWORD=org.aosedge.Provisioning1.Error.WrongPassword
E_NOT_IN_PROV_MODE=org.aosedge.Provisioning1.Error.NotInProvisioningMode
E_NODE_NOT_FOUND=org.aosedge.Provisioning1.Error.NodeNotFound
E_NODE_UNREACHABLE=org.aosedge.Provisioning1.Error.NodeUnreachable
E_PROV_TIMEOUT=org.aosedge.Provisioning1.Error.Timeout
E_HOOK_FAILED=org.aosedge.Provisioning1.Error.HookFailed

_prov_cleanup() {
        local rc=$?
        [[ $BASHPID == "$_HARNESS_PID" ]] || return 0
        if ((T_FAIL > 0)) && [[ -n $D && -s $D/provisiond.log ]]; then
                printf '\n--- last lines of provisiond.log ---\n'
                tail -n 40 "$D/provisiond.log"
                printf -- '---\n'
        fi
        (exit "$rc")
        _cleanup
}

prov_harness_init() {
        harness_init
        trap _prov_cleanup EXIT
        PROV_STATE_FILE=$D/state/provisioning.state
}

provisiond_is_real() {
        [[ -x $PROVISIOND_BIN ]] && timeout 5 "$PROVISIOND_BIN" --help 2>&1 | grep -q -- '--provisioning'
}

require_provisiond() {
        require_certd
        provisiond_is_real || harness_skip "no aos-provisiond at $PROVISIOND_BIN"
}

provisiond_has_faults() {
        grep -qs '^#define AOS_FAULT_INJECTION 1' "$AOS_TEST_BUILDDIR/aos-build-config.h" ||
                grep -qa 'fault injection: killing at' "$PROVISIOND_BIN"
}

# node_section [Key=Value...]: appends [Node] with this test's node id and state file.
node_section() {
        {
                printf '\n[Node]\nId=%s\nStateFile=%s\n' "$PROV_NODE_ID" "$PROV_STATE_FILE"
                local kv
                for kv in "$@"; do printf '%s\n' "$kv"; done
        } >>"$CONFIG"
}

# provisioning_section [Key=Value...]: appends [Provisioning].
provisioning_section() {
        {
                printf '\n[Provisioning]\n'
                local kv
                for kv in "$@"; do printf '%s\n' "$kv"; done
        } >>"$CONFIG"
}

# start_provisiond [--env K=V]... [ARGS...]: aos-provisiond with $CONFIG as a foreground child,
# output appended to $D/provisiond.log; returns once org.aosedge.Provisioning1 is on the bus.
start_provisiond() {
        local envs=()
        while [[ ${1:-} == --env ]]; do
                envs+=("$2")
                shift 2
        done
        PROVISIOND_STARTS=$((PROVISIOND_STARTS + 1))
        printf -- '--- start %d %s %s\n' "$PROVISIOND_STARTS" "${envs[*]}" "$*" >>"$D/provisiond.log"
        env "${envs[@]}" "$PROVISIOND_BIN" --config "$CONFIG" --log-level debug "$@" \
                </dev/null >>"$D/provisiond.log" 2>&1 &
        PROVISIOND_PID=$!
        _track "$PROVISIOND_PID" aos-provisiond
        _await_name "$PROVISIOND_PID" "$PROV_DEST" "$D/provisiond.log" aos-provisiond && return 0
        (($? == 1)) && PROVISIOND_PID=
        return 1
}

_prov_name_gone() { bus_name_gone "$PROV_DEST"; }

stop_provisiond() {
        [[ -n $PROVISIOND_PID ]] || return 0
        if ! _stop_pid "$PROVISIOND_PID" TERM 10; then
                fail "aos-provisiond did not exit within 10 s of SIGTERM"
        fi
        PROVISIOND_PID=
        _prov_name_gone
}
kill_provisiond() {
        [[ -n $PROVISIOND_PID ]] || return 0
        _stop_pid "$PROVISIOND_PID" KILL 10
        PROVISIOND_PID=
        _prov_name_gone
}
restart_provisiond() {
        stop_provisiond
        start_provisiond "$@"
}
provisiond_alive() { _alive "$PROVISIOND_PID" && bus_name_has_owner "$PROV_DEST"; }

# wait_provisiond_exit [TIMEOUT]: waits for the daemon to die by itself (fault injection); sets
# PROVISIOND_EXIT (137 = SIGKILL). Returns 1 if it is still running.
wait_provisiond_exit() {
        PROVISIOND_EXIT=
        _await_exit "$PROVISIOND_PID" "${1:-10}" || return 1
        PROVISIOND_EXIT=$_EXIT
        PROVISIOND_PID=
        _prov_name_gone
}

# prov_call METHOD SIGNATURE ARGS...: busctl call on the manager, JSON output.
prov_call() {
        _as busctl --system --json=short --timeout=300 --allow-interactive-authorization=no -- \
                call "$PROV_DEST" "$PROV_PATH" "$PROV_IFACE" "$@"
}

# prov_try METHOD SIGNATURE ARGS...: the same through dbus-send, which prints the error name.
prov_try() {
        local method=$1 sig=${2:-}
        shift 2 || shift $#
        _to_dbus_send "$sig" "$@" || return 2
        _as dbus-send --system --print-reply --reply-timeout=300000 --dest="$PROV_DEST" \
                "$PROV_PATH" "$PROV_IFACE.$method" "${_DS_ARGS[@]}"
}

# prov_try_interactive METHOD GVARIANT_ARG...: gdbus with the allow-interactive-authorization
# flag; arguments in GVariant text ("'node'", "''"). Errors print as GDBus.Error:<name>: ...
prov_try_interactive() {
        local method=$1
        shift
        _as gdbus call --system --interactive --timeout 300 --dest "$PROV_DEST" --object-path "$PROV_PATH" \
                --method "$PROV_IFACE.$method" -- "$@"
}

# prov_prop PROPERTY: the bare value (string without quotes, true/false).
prov_prop() {
        local j
        j=$(_as busctl --system --json=short get-property "$PROV_DEST" "$PROV_PATH" "$PROV_IFACE" "$1") || return 1
        json_data "$j"
}
prov_state() { prov_prop State; }

# assert_prov_state STATE [WHAT]: the State property (and the file agrees on restart).
assert_prov_state() {
        assert_eq "$1" "$(prov_state)" "${2:-State}"
}

# assert_no_secret_in_provisiond_log SECRET...: none of them in provisiond.log (or certd.log).
assert_no_secret_in_provisiond_log() {
        local s f found=0
        for s in "$@"; do
                [[ -n $s ]] || continue
                for f in "$D/provisiond.log" "$D/certd.log"; do
                        [[ -f $f ]] || continue
                        if grep -qF -- "$s" "$f"; then
                                fail "a secret (${#s} characters, starts '${s:0:3}') appears in $(basename "$f")"
                                found=1
                        fi
                done
        done
        ((found)) || pass "no password in provisiond.log or certd.log ($# secrets checked)"
        return $found
}

# --- multi-node setups (aos-nodelinkd) ---------------------------------------------------------
# Each node has its own scratch subdir $D/<name> with its own bus, certd, config and state.
# node_use NAME switches the harness's per-node globals (D, DBUS_SYSTEM_BUS_ADDRESS, CONFIG,
# CERTD_PID, BUS_PID) to that node; node_use without a name goes back to the top dir. Every
# process stays tracked by the harness, so the EXIT trap stops them all.

NODELINKD_BIN=${AOS_TEST_NODELINKD:-$AOS_TEST_BUILDDIR/services/nodelinkd/aos-nodelinkd}
NL_DEST=org.aosedge.NodeLink1
NL_PATH=/org/aosedge/NodeLink1
NL_IFACE=org.aosedge.NodeLink1.Manager
NL_NODE_IFACE=org.aosedge.NodeLink1.Node
E_NL_NOT_FOUND=org.aosedge.NodeLink1.Error.NodeNotFound
E_NL_NOT_ALLOWED=org.aosedge.NodeLink1.Error.NotAllowed
E_UNREACHABLE=org.aosedge.Provisioning1.Error.NodeUnreachable
E_TIMEOUT=org.aosedge.Provisioning1.Error.Timeout
declare -a NL_WRAP=()   # a prefix for start_nodelinkd, e.g. (ip netns exec NS)
declare -A NODE_BUS=() NODE_CERTD=() NODE_NLD=() NODE_BUSPID=() NODE_ID=()
_NODE_TOP=
_NODE_CUR=

require_nodelinkd() {
        [[ -x $NODELINKD_BIN ]] || harness_skip "no aos-nodelinkd at $NODELINKD_BIN"
}

# free_port: a TCP port no socket uses at the moment.
free_port() {
        local p i
        if [[ -z ${_PORT_HI:-} ]]; then
                read -r _PORT_HI _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || _PORT_HI=32768
                if ((_PORT_HI > 12000)); then _PORT_LO=$((_PORT_HI > 22000 ? 20000 : 10000)); else _PORT_LO=61000 _PORT_HI=65000; fi
        fi
        for ((i = 0; i < 100; i++)); do
                # Below the kernel's ephemeral range (ip_local_port_range), so that no
                # outgoing connection takes it between now and the bind; and no socket of any
                # state on it now.
                p=$((_PORT_LO + RANDOM % (_PORT_HI - _PORT_LO)))
                if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
                        printf '%s\n' "$p"
                        return 0
                fi
        done
        return 1
}

node_use() {
        [[ -n $_NODE_TOP ]] || _NODE_TOP=$D
        if [[ -n $_NODE_CUR ]]; then
                NODE_CERTD[$_NODE_CUR]=$CERTD_PID
                NODE_BUSPID[$_NODE_CUR]=$BUS_PID
        fi
        _NODE_CUR=${1:-}
        if [[ -z $_NODE_CUR ]]; then
                D=$_NODE_TOP
                return 0
        fi
        D=$_NODE_TOP/$_NODE_CUR
        mkdir -p "$D"
        chmod 0755 "$D"
        CONFIG=$D/iam.conf
        CERTD_PID=${NODE_CERTD[$_NODE_CUR]:-}
        BUS_PID=${NODE_BUSPID[$_NODE_CUR]:-}
        if [[ -n ${NODE_BUS[$_NODE_CUR]:-} ]]; then
                export DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$_NODE_CUR]}
        fi
}

# node_setup NAME NODE_ID MAIN(yes|no) PROTECTED_ADDR BOOTSTRAP_ADDR [NodeLinkKey=Value...]:
# the node's bus, its config (an sw "iam" module with serverAuth clientAuth) and aos-certd.
# Leaves the current node as it was.
node_setup() {
        local name=$1 id=$2 main=$3 pa=$4 ba=$5 prev=$_NODE_CUR kv
        shift 5
        node_use "$name"
        start_bus || { node_use "$prev"; return 1; }
        NODE_BUS[$name]=$DBUS_SYSTEM_BUS_ADDRESS
        NODE_ID[$name]=$id
        write_config "$D/iam.conf"
        module iam sw ecdsa "serverAuth clientAuth" "" 2
        {
                printf '\n[Node]\nId=%s\nTitle=Node %s\nType=test\nMainNode=%s\nStateFile=%s/provisioning.state\n' \
                        "$id" "$id" "$main" "$D"
                printf '\n[NodeLink]\nListenProtected=%s\nListenBootstrap=%s\nMainProtected=%s\nMainBootstrap=%s\n' \
                        "$pa" "$ba" "$pa" "$ba"
                printf 'CertType=iam\nKeepaliveSec=1\nReconnectMaxSec=2\nCallTimeoutSec=3\nStateDir=%s/nodelink\n' "$D"
                for kv in "$@"; do printf '%s\n' "$kv"; done
        } >>"$D/iam.conf"
        start_certd || { node_use "$prev"; return 1; }
        node_use "$prev"
}

# node_issue_iam NAME CN [SIGN_OPTIONS...]: the node's certd gets an "iam" certificate for CN
# signed by the test CA.
node_issue_iam() {
        local name=$1 cn=$2 prev=$_NODE_CUR rc=0
        shift 2
        node_use "$name"
        {
                certs_call SetOwner ss iam "pw-$name" >/dev/null 2>&1 || true
                issue iam "$cn" "pw-$name" "$D/iam-$cn.pem" ca "$@" &&
                        apply iam "$D/iam-$cn.pem" >/dev/null
        } || rc=1
        node_use "$prev"
        return $rc
}

# start_nodelinkd NAME [ARGS...]: the node's aos-nodelinkd, log in $D/NAME/nodelinkd.log;
# returns once it owns org.aosedge.NodeLink1 on the node's bus.
start_nodelinkd() {
        local name=$1 prev=$_NODE_CUR pid
        shift
        node_use "$name"
        printf -- '--- start\n' >>"$D/nodelinkd.log"
        "${NL_WRAP[@]}" "$NODELINKD_BIN" --config "$D/iam.conf" --log-level debug "$@" </dev/null >>"$D/nodelinkd.log" 2>&1 &
        pid=$!
        _track "$pid" "aos-nodelinkd-$name"
        NODE_NLD[$name]=$pid
        _await_name "$pid" "$NL_DEST" "$D/nodelinkd.log" aos-nodelinkd && { node_use "$prev"; return 0; }
        (($? == 1)) && NODE_NLD[$name]=
        node_use "$prev"
        return 1
}

# stop_nodelinkd NAME [SIGNAL]
stop_nodelinkd() {
        local pid=${NODE_NLD[$1]:-}
        [[ -n $pid ]] || return 0
        _stop_pid "$pid" "${2:-TERM}" 10 || fail "aos-nodelinkd of $1 needed SIGKILL"
        NODE_NLD[$1]=
}

# nl_call NAME METHOD [SIGNATURE ARGS...]: the manager of NAME's aos-nodelinkd, JSON output.
nl_call() {
        local name=$1
        shift
        DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$name]} _as busctl --system --json=short --timeout=30 \
                --allow-interactive-authorization=no -- call "$NL_DEST" "$NL_PATH" "$NL_IFACE" "$@"
}

# nl_node_call NAME NODE_ID INTERFACE METHOD [SIGNATURE ARGS...]: a call on a node object.
nl_node_call() {
        local name=$1 id=$2 path
        shift 2
        path=$(nl_node_path "$id")
        DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$name]} _as busctl --system --json=short --timeout=30 \
                --allow-interactive-authorization=no -- call "$NL_DEST" "$path" "$@"
}

# nl_node_path ID: the object path of a node (sd_bus_path_encode escaping).
nl_node_path() {
        local id=$1 out= i c
        for ((i = 0; i < ${#id}; i++)); do
                c=${id:i:1}
                if [[ $c == [A-Za-z] || ( $c == [0-9] && $i -gt 0 ) ]]; then
                        out+=$c
                else
                        out+=$(printf '_%02x' "'$c")
                fi
        done
        printf '%s/node/%s\n' "$NL_PATH" "$out"
}

# nl_nodes NAME: "id channel state fingerprint" per connected node, sorted.
nl_nodes() {
        nl_call "$1" ListNodes | python3 -c '
import json, sys
d = json.load(sys.stdin)["data"][0]
for n in sorted(d, key=lambda n: n["Id"]["data"]):
    print(n["Id"]["data"], n["Channel"]["data"], n["State"]["data"], n["PeerFingerprint"]["data"])'
}

# nl_has_node NAME ID [CHANNEL]: ID is connected to NAME (on CHANNEL).
nl_has_node() {
        nl_nodes "$1" 2>/dev/null | grep -q "^$2 ${3:-}"
}

# nl_try NAME PATH INTERFACE METHOD [dbus-send ARGS...]: through dbus-send, so that an error
# prints its name ("Error org...: message") for assert_error; PATH "" is the manager.
nl_try() {
        local name=$1 path=${2:-$NL_PATH}
        shift 2
        DBUS_SYSTEM_BUS_ADDRESS=${NODE_BUS[$name]} _as dbus-send --system --print-reply --reply-timeout=30000 \
                --dest="$NL_DEST" "$path" "$1.$2" "${@:3}"
}

# nl_peer ARGS...: the misbehaving test client (tests/integration/nodelink-test-peer.c).
NL_PEER_BIN=${AOS_TEST_NL_PEER:-$AOS_TEST_BUILDDIR/tests/integration/nodelink-test-peer}
nl_peer() { timeout 30 "$NL_PEER_BIN" "$@"; }

# --- a provisioned unit: nodes with token, certd, provisiond and nodelinkd ----------------------
# (appended for test-unit-provisioning.sh)
# Built on the multi-node helpers above. node_setup gives a node an sw "iam" module and no
# aos-provisiond; a unit node has its own SoftHSM token directory (SOFTHSM2_CONF is per node:
# aos-certd and aos-nodelinkd, which loads the link key through the pkcs11: URL, both need it),
# pkcs11 modules and its own aos-provisiond.
#   unit_node_use NAME                 node_use, plus the node's SOFTHSM2_CONF, PROV_STATE_FILE
#                                      and PROVISIOND_PID (saved per node)
#   on_node NAME CMD...                CMD with NAME's bus, scratch dir and token (then back)
#   unit_node_setup NAME ID MAIN(yes|no) PROTECTED_ADDR BOOTSTRAP_ADDR "IAM_SANS" [NodeLink K=V...]
#                                      bus, SoftHSM, config (iam pkcs11 ecdsa serverAuth clientAuth,
#                                      sm pkcs11 rsa, offline SelfSigned), aos-certd and
#                                      aos-provisiond --provisioning; with UNIT_IAM_PLUGIN=tpm
#                                      the node's iam module is Plugin=tpm on a swtpm started
#                                      in its scratch dir (start_swtpm: one such node per test)
#   unit_ports                         PP, BP: free ports for the main node's two channels
#   unit_ca                            the test CA in $D/ca and CA=(aosctl's signing options)
#   unit_nl_field NAME ID KEY          KEY of node ID in ListNodes of NAME's aos-nodelinkd
#   unit_bootstrap_fingerprint NAME    SHA-256 (certtool) of NAME's bootstrap.pem, lowercase hex
#   unit_export_chain NAME TYPE OUT    NAME's current TYPE certificate from its token, then ca.pem
#   unit_assert_no_secret_in_logs SECRET...   in no *.log of any node (daemons, bus, polkitd)
#   unit_assert_no_sanitizer_reports   no ASan/UBSan report in any node's daemon logs
#   unit_stop_daemons                  SIGTERM to every node's nodelinkd, provisiond, certd
#   wait_secs TIMEOUT CMD...           wait_until by wall time (for slow CMDs)
declare -A NODE_PROV=()

unit_harness_init() {
        harness_init
        trap _unit_cleanup EXIT
}

# On a failure: the last lines of every node's daemon logs.
_unit_cleanup() {
        local rc=$? n f top=${_NODE_TOP:-$D}
        [[ $BASHPID == "$_HARNESS_PID" ]] || return 0
        if ((T_FAIL > 0)) && [[ -n $top && -d $top ]]; then
                for n in "${!NODE_ID[@]}"; do
                        for f in provisiond nodelinkd certd; do
                                [[ -s $top/$n/$f.log ]] || continue
                                printf '\n--- last lines of %s/%s.log ---\n' "$n" "$f"
                                tail -n 25 "$top/$n/$f.log"
                        done
                done
                printf -- '---\n'
        fi
        # _cleanup works on $D: the top scratch dir, which holds every node's.
        [[ -n $top ]] && D=$top
        (exit "$rc")
        _cleanup
}

unit_node_use() {
        if [[ -n $_NODE_CUR ]]; then
                NODE_PROV[$_NODE_CUR]=$PROVISIOND_PID
        fi
        node_use "${1:-}"
        if [[ -n ${1:-} ]]; then
                PROVISIOND_PID=${NODE_PROV[$1]:-}
                PROV_STATE_FILE=$D/provisioning.state
                PROV_NODE_ID=${NODE_ID[$1]:-$PROV_NODE_ID}
                [[ -f $D/softhsm/softhsm2.conf ]] && export SOFTHSM2_CONF=$D/softhsm/softhsm2.conf
        fi
        return 0
}

on_node() {
        local name=$1 prev=$_NODE_CUR rc
        shift
        unit_node_use "$name"
        "$@"
        rc=$?
        unit_node_use "$prev"
        return $rc
}

unit_node_setup() {
        local name=$1 id=$2 main=$3 pa=$4 ba=$5 sans=$6 prev=$_NODE_CUR kv rc=0
        shift 6
        unit_node_use "$name"
        NODE_ID[$name]=$id
        PROV_NODE_ID=$id
        {
                start_bus &&
                        NODE_BUS[$name]=$DBUS_SYSTEM_BUS_ADDRESS &&
                        setup_softhsm &&
                        write_config "$D/iam.conf" &&
                        { [[ ${UNIT_IAM_PLUGIN:-pkcs11} != tpm ]] || start_swtpm; }
        } || rc=1
        if ((rc == 0)); then
                module iam "${UNIT_IAM_PLUGIN:-pkcs11}" ecdsa "serverAuth clientAuth" "$sans" 2
                module sm pkcs11 rsa "" "" 2
                module offline pkcs11 ecdsa "" "" 1 SelfSigned=yes
                {
                        printf '\n[Node]\nId=%s\nTitle=Node %s\nType=test\nMainNode=%s\nStateFile=%s\n' \
                                "$id" "$id" "$main" "$PROV_STATE_FILE"
                        printf '\n[NodeLink]\nListenProtected=%s\nListenBootstrap=%s\nMainProtected=%s\nMainBootstrap=%s\n' \
                                "$pa" "$ba" "$pa" "$ba"
                        printf 'CertType=iam\nKeepaliveSec=1\nReconnectMaxSec=2\nCallTimeoutSec=6\n'
                        printf 'ProvisioningTimeoutSec=20\nStateDir=%s/nodelink\n' "$D"
                        for kv in "$@"; do printf '%s\n' "$kv"; done
                } >>"$D/iam.conf"
                start_certd && start_provisiond --provisioning || rc=1
        fi
        unit_node_use "$prev"
        return $rc
}

# unit_ports: PP and BP, two different free ports for the main node's protected and bootstrap
# channels (logged).
unit_ports() {
        PP=$(free_port) && BP=$(free_port) || return 1
        while [[ $BP == "$PP" ]]; do BP=$(free_port) || return 1; done
        log "# ports: protected 127.0.0.1:$PP, bootstrap 127.0.0.1:$BP"
}

# unit_ca: the test CA in $D/ca (its key 0600) and CA=(--ca-cert ... --ca-key ... --days 30),
# the options aosctl signs with.
unit_ca() {
        mkdir -p "$D/ca" &&
                cp "$AOS_TEST_PKI/ca.pem" "$D/ca/ca.pem" &&
                (umask 077 && cat "$AOS_TEST_PKI/ca.key" >"$D/ca/ca.key") || return 1
        CA=(--ca-cert "$D/ca/ca.pem" --ca-key "$D/ca/ca.key" --days 30)
}

unit_nl_field() {
        nl_call "$1" ListNodes | python3 -c '
import json, sys
want, key = sys.argv[1], sys.argv[2]
for n in json.load(sys.stdin)["data"][0]:
    if n["Id"]["data"] == want:
        v = n[key]["data"]
        print(json.dumps(v) if isinstance(v, bool) else v)
        sys.exit(0)
sys.exit(1)' "$2" "$3"
}

unit_bootstrap_fingerprint() {
        local f=${_NODE_TOP:-$D}/$1/nodelink/bootstrap.pem
        [[ -r $f ]] || return 1
        cert_fingerprint "$f" | tr -d ':' | tr 'A-F' 'a-f'
}

unit_export_chain() {
        local name=$1 type=$2 out=$3
        on_node "$name" _unit_export_chain "$type" "$out"
}
_unit_export_chain() {
        local url
        url=$(latest_field "$1" CertURL) || return 1
        p11 "$1" --export "$(url_base "$url")" >"$2.tmp" 2>/dev/null || return 1
        pem_first "$2.tmp" >"$2"
        rm -f "$2.tmp"
        cat "$AOS_TEST_PKI/ca.pem" >>"$2"
        grep -q 'BEGIN CERTIFICATE' "$2"
}

unit_assert_no_secret_in_logs() {
        local top=${_NODE_TOP:-$D} s f found=0 n=0
        for f in "$top"/*/*.log; do
                [[ -f $f ]] || continue
                n=$((n + 1))
                for s in "$@"; do
                        [[ -n $s ]] || continue
                        if grep -qF -- "$s" "$f"; then
                                fail "a password (${#s} characters, starts '${s:0:3}') appears in ${f#"$top"/}"
                                grep -nF -- "$s" "$f" | head -n 3 | sed 's/^/    /'
                                found=1
                        fi
                done
        done
        ((found)) || pass "no password in any node's logs ($n log files, $# passwords)"
        return $found
}

unit_assert_no_sanitizer_reports() {
        local top=${_NODE_TOP:-$D} re='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (UndefinedBehavior|Address|Leak)Sanitizer'
        local f bad=0
        for f in "$top"/*/certd.log "$top"/*/provisiond.log "$top"/*/nodelinkd.log; do
                [[ -f $f ]] || continue
                if grep -qE "$re" "$f"; then
                        fail "sanitizer report in ${f#"$top"/}"
                        grep -nE -A8 "$re" "$f" | head -n 30 | sed 's/^/    /'
                        bad=1
                fi
        done
        ((bad)) || pass "no sanitizer report in any node's daemon logs"
        return $bad
}

# unit_stop_daemons: SIGTERM to every node's aos-nodelinkd, aos-provisiond and aos-certd (so
# that a sanitizer build writes its leak report before unit_assert_no_sanitizer_reports).
unit_stop_daemons() {
        local n prev=$_NODE_CUR
        for n in "${!NODE_ID[@]}"; do
                stop_nodelinkd "$n"
                unit_node_use "$n"
                stop_provisiond
                stop_certd
        done
        unit_node_use "$prev"
}

# wait_secs TIMEOUT_SEC CMD...: polls CMD every 100 ms until it succeeds or TIMEOUT_SEC of wall
# time have passed. (wait_until counts 50 ms sleeps, so a command that itself takes 200 ms, as
# ListNodes through busctl and python3 does, stretches its timeout fivefold.)
wait_secs() {
        local timeout=$1 end
        shift
        end=$((${EPOCHREALTIME/./} + timeout * 1000000))
        while ((${EPOCHREALTIME/./} < end)); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        "$@" >/dev/null 2>&1
}
