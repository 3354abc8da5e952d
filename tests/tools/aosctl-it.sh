# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# shellcheck disable=SC2034 # WATCH_EXIT and the like are for the scripts that source this
#
# Helpers for the aosctl integration tests (tests/integration/test-aosctl-*.sh), sourced after
# tests/integration/lib.sh. They build on the harness (its aos-provisiond part too: node_section,
# start_provisiond, prov_prop): every process goes through its tracking, every command through
# `run`/`assert_*`.

AOSCTL_BIN=${AOS_TEST_AOSCTL:-$AOS_TEST_BUILDDIR/tools/aosctl/aosctl}

# require_aosctl: skips the script unless aosctl (and, through lib.sh, aos-certd and
# aos-provisiond) are built.
require_aosctl() {
        require_provisiond
        [[ -x $AOSCTL_BIN ]] || harness_skip "no aosctl at $AOSCTL_BIN"
}

# aosctl ARGS...: the client under test, as CALLER_UID (see as_user).
aosctl() { _as "$AOSCTL_BIN" "$@"; }

# write_password_file PATH PASSWORD [MODE]: with a trailing newline, mode 0600 by default.
write_password_file() {
        (umask 077 && printf '%s\n' "$2" >"$1")
        chmod "${3:-0600}" "$1"
}

# ca_files DIR: the local CA aosctl signs with: DIR/chain.pem (intermediate, then root) and
# DIR/key.pem (the intermediate's key, 0600).
ca_files() {
        mkdir -p "$1"
        cat "$AOS_TEST_PKI/intermediate.pem" "$AOS_TEST_PKI/ca.pem" >"$1/chain.pem"
        (umask 077 && cat "$AOS_TEST_PKI/intermediate.key" >"$1/key.pem")
}

# ajson_get JSON KEY: the first value of "KEY" in aosctl's JSON (string unquoted, or a number,
# true, false, null).
ajson_get() {
        printf '%s' "$1" | grep -oE "\"$2\":(\"([^\"\\\\]|\\\\.)*\"|[-0-9]+|true|false|null)" | head -n1 |
                sed -E "s/^\"$2\"://; s/^\"(.*)\"\$/\\1/"
}

# json_valid TEXT: each line parses as JSON (python3 when there is one; otherwise not checked).
json_valid() {
        command -v python3 >/dev/null || return 0
        printf '%s\n' "$1" | python3 -c 'import json, sys
for line in sys.stdin:
    if line.strip():
        json.loads(line)'
}

# export_chain TYPE OUT: the type's current certificate from the token (its CertURL), followed
# by the intermediate and the root: a whole chain for certtool --verify-chain.
export_chain() {
        local url
        url=$(latest_field "$1" CertURL) || return 1
        case $url in
        pkcs11:*) p11 "$1" --export "$(url_base "$url")" >"$2.tmp" 2>/dev/null || return 1 ;;
        file:*) cat "${url#file:}" >"$2.tmp" || return 1 ;;
        *) echo "export_chain: unknown URL $url" >&2; return 1 ;;
        esac
        pem_first "$2.tmp" >"$2"
        rm -f "$2.tmp"
        cat "$AOS_TEST_PKI/intermediate.pem" "$AOS_TEST_PKI/ca.pem" >>"$2"
        grep -q 'BEGIN CERTIFICATE' "$2"
}

# write_sign_script PATH OUTDIR: a --sign-command hook that signs with certtool and the test
# intermediate (the CSR's extensions copied, $SIGN_DAYS days, default 90). It keeps
# OUTDIR/TYPE.csr, .pem (the chain it printed), .env ("$AOS_CERT_TYPE $AOS_NODE_ID") and
# .environ (its whole environment).
write_sign_script() {
        local path=$1 out=$2
        mkdir -p "$out"
        cat >"$path" <<EOF
#!/bin/sh
set -e
o='$out'
printf 'honor_crq_extensions\nexpiration_days = %s\nsigning_key\n' "\${SIGN_DAYS:-90}" >"\$o/sign.tmpl"
cat >"\$o/\$AOS_CERT_TYPE.csr"
echo "\$AOS_CERT_TYPE \$AOS_NODE_ID" >"\$o/\$AOS_CERT_TYPE.env"
env >"\$o/\$AOS_CERT_TYPE.environ"
certtool --generate-certificate --load-request "\$o/\$AOS_CERT_TYPE.csr" \\
        --load-ca-certificate '$AOS_TEST_PKI/intermediate.pem' --load-ca-privkey '$AOS_TEST_PKI/intermediate.key' \\
        --template "\$o/sign.tmpl" --no-text --outfile "\$o/\$AOS_CERT_TYPE.leaf" 2>"\$o/certtool.err"
cat "\$o/\$AOS_CERT_TYPE.leaf" '$AOS_TEST_PKI/intermediate.pem' >"\$o/\$AOS_CERT_TYPE.pem"
cat "\$o/\$AOS_CERT_TYPE.pem"
EOF
        chmod 0755 "$path"
}

# --- aosctl watch in the background -------------------------------------------------------------

watch_file() { printf '%s/watch-%s.out' "$D" "$1"; }

# start_watch NAME [ARGS...]: `aosctl watch ARGS` in the background; returns once it listens.
start_watch() {
        local name=$1
        shift
        "$AOSCTL_BIN" watch "$@" </dev/null >"$(watch_file "$name")" 2>"$D/watch-$name.err" &
        local pid=$!
        _track "$pid" "aosctl watch $name"
        eval "WATCH_PID_${name//[^A-Za-z0-9]/_}=$pid"
        wait_until 10 grep -q 'listening' "$D/watch-$name.err" || fail "aosctl watch $name did not start: $(cat "$D/watch-$name.err")"
}

# stop_watch NAME [SIGNAL]: sends SIGNAL (default INT); WATCH_EXIT is its exit status.
stop_watch() {
        local v="WATCH_PID_${1//[^A-Za-z0-9]/_}"
        WATCH_EXIT=
        [[ -n ${!v:-} ]] || return 1
        _stop_pid "${!v}" "${2:-INT}" 5 || fail "aosctl watch $1 did not exit on SIG${2:-INT}"
        WATCH_EXIT=$_STOP_STATUS
        eval "$v="
}

# wait_watch NAME TIMEOUT: waits for it to exit by itself (--count); WATCH_EXIT, or fails.
wait_watch() {
        local v="WATCH_PID_${1//[^A-Za-z0-9]/_}" i
        WATCH_EXIT=
        for ((i = 0; i < ${2:-10} * 20; i++)); do
                _running "${!v}" || break
                sleep 0.05
        done
        if _running "${!v}"; then
                fail "aosctl watch $1 still running after ${2:-10} s"
                stop_watch "$1" KILL
                return 1
        fi
        wait "${!v}" 2>/dev/null
        WATCH_EXIT=$?
        _untrack "${!v}"
        eval "$v="
}

# --- secrets ------------------------------------------------------------------------------------

# assert_no_secret SECRET TEXT WHAT
assert_no_secret() {
        if [[ $2 == *"$1"* ]]; then
                fail "the password appears in $3"
                return 1
        fi
        pass "no password in $3"
}

# ps_sampler_start / ps_sampler_stop: every process's argv (ps) and environment, sampled every
# 20 ms into $D/ps.log while a command runs; assert_no_secret_in_ps SECRET checks it.
ps_sampler_start() {
        : >"$D/ps.log"
        (
                while :; do
                        ps -eo pid=,args= >>"$D/ps.log" 2>/dev/null
                        for e in /proc/[0-9]*/environ; do
                                tr '\0' '\n' <"$e" 2>/dev/null
                        done >>"$D/ps.log" 2>/dev/null
                        sleep 0.02
                done
        ) &
        PS_SAMPLER_PID=$!
        _track "$PS_SAMPLER_PID" "ps sampler"
}
ps_sampler_stop() {
        [[ -n ${PS_SAMPLER_PID:-} ]] && _stop_pid "$PS_SAMPLER_PID" TERM 2
        PS_SAMPLER_PID=
}
assert_no_secret_in_ps() {
        local n
        n=$(grep -c 'aosctl' "$D/ps.log" 2>/dev/null)
        if ((n == 0)); then
                fail "the ps sampler never saw aosctl running"
                return 1
        fi
        if grep -qF -- "$1" "$D/ps.log"; then
                fail "the password appears in a process's argv or environment"
                grep -nF -- "$1" "$D/ps.log" | head -n 3 | sed 's/^/    /'
                return 1
        fi
        pass "no password in any argv or environment ($n samples of aosctl running)"
}
