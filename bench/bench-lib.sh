#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What both benchmarks need (sourced by certd-bench.sh and nodelink-bench.sh, after
# tests/integration/lib.sh): messages, number formatting, percentiles, and the facts of the run
# (versions, the source, the build, competing processes) for the report's header.
# Needs SRC (the checkout) and AOS_TEST_BUILDDIR.

say() { printf '>> %s\n' "$*" >&2; }
# ratio A B: A / B to two decimals, "-" when either is missing or B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }
# field STATS K: field K of a stats line (1 n, 2 min, 3 median, 4 p90, 5 max).
field() { printf '%s\n' "$1" | awk -v k="$2" '{print $k}'; }
# num VALUE DIVISOR DECIMALS ("-" or empty stays "-")
num() { awk -v v="$1" -v d="$2" -v p="$3" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.*f\n", p, v / d }'; }

# stats FILE: "N MIN P50 P90 MAX" of the numbers in FILE, one a line (nearest-rank percentiles).
stats() {
        sort -g "$1" | awk '
                { a[NR] = $1 }
                function rank(p,   i) { i = int(p * NR / 100); if (i < p * NR / 100) i++; if (i < 1) i = 1; return a[i] }
                END {
                        if (NR == 0) { print "0 - - - -"; exit }
                        printf "%d %s %s %s %s\n", NR, a[1], rank(50), rank(90), a[NR]
                }'
}

pc_version() { pkg-config --modversion "$1" 2>/dev/null || echo '?'; }
deb_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
git_facts() {
        # Read-only git only (no describe --dirty, no status: both may rewrite the index).
        local head desc changed=() f
        head=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null) || { echo "not a git checkout"; return; }
        desc=$(git -C "$SRC" describe --always --tags 2>/dev/null)
        while IFS= read -r f; do
                [[ -n $f ]] || continue
                if [[ ! -e $SRC/$f ]] ||
                        [[ $(git -C "$SRC" hash-object -- "$SRC/$f") != $(git -C "$SRC" rev-parse "HEAD:$f" 2>/dev/null) ]]; then
                        changed+=("$f")
                fi
        done < <(git -C "$SRC" diff-index --name-only HEAD -- 2>/dev/null)
        if ((${#changed[@]})); then
                printf '%s (HEAD %s) + uncommitted changes in %d files (%s%s)\n' "$desc" "$head" "${#changed[@]}" \
                        "${changed[*]:0:6}" "$( ((${#changed[@]} > 6)) && echo ', ...')"
        else
                printf '%s (HEAD %s), clean\n' "$desc" "$head"
        fi
}
# build_facts BINARY SOURCE-DIR...: the build's options, when BINARY was built and its hash, and
# whether any C source in the given directories is newer.
build_facts() {
        local bin=$1
        shift
        local opts
        opts=$(meson introspect "$AOS_TEST_BUILDDIR" --buildoptions 2>/dev/null | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(", ".join("%s=%s" % (k, o[k]) for k in ("buildtype", "optimization", "b_sanitize", "b_lto", "fault_injection") if k in o))
' 2>/dev/null) || opts=
        printf '%s' "${opts:-$(tr '\n' ' ' <"$AOS_TEST_BUILDDIR/meson-private/cmd_line.txt" 2>/dev/null)}"
        local newer=()
        mapfile -t newer < <(cd "$SRC" && find "$@" -name '*.[ch]' -newer "$bin" 2>/dev/null | sort)
        printf '; %s built %s, sha256 %.12s' "${bin##*/}" "$(date -u -r "$bin" '+%Y-%m-%d %H:%M:%S UTC')" \
                "$(sha256sum "$bin" | cut -d' ' -f1)"
        if ((${#newer[@]})); then
                printf ', **older than %d of the sources** (%s%s)' "${#newer[@]}" "${newer[*]:0:6}" \
                        "$( ((${#newer[@]} > 6)) && echo ', ...')"
        fi
        printf '\n'
}
# others: processes of other sessions that compete for the CPUs (other harness runs, builds);
# those this run started (the harness's _PIDS) are not counted.
others() {
        local mine=" ${_PIDS[*]} "
        ps -eo pid=,comm= | awk -v mine="$mine" '
                $2 ~ /^(aos-certd|aos-provisiond|aos-nodelinkd|dbus-daemon|polkitd|meson|ninja|cc1|softhsm2-util|certtool|p11tool|swtpm|valgrind|memcheck-amd64-)/ &&
                index(mine, " " $1 " ") == 0 { n[$2]++ }
                END { s = ""; for (k in n) s = s (s ? ", " : "") n[k] " " k; print (s ? s : "none") }'
}
