#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs every tests/integration/test-*.sh one after the other (by hand; meson runs them one by
# one) and ends with the total "N passed, N failed" line. Arguments are name filters:
#   sudo tests/integration/run-all.sh              # all
#   sudo tests/integration/run-all.sh certd-trim   # only test-certd-trim.sh
# AOS_TEST_BUILDDIR picks the build dir (default: the first build*/ that has aos-certd).
cd "$(dirname "$0")" || exit 1

total_pass=0
total_fail=0
failed_scripts=()
skipped_scripts=()
for t in test-*.sh; do
        if (($#)); then
                match=0
                for f in "$@"; do [[ $t == *"$f"* ]] && match=1; done
                ((match)) || continue
        fi
        echo "=== $t"
        start=$(date +%s)
        log=$(mktemp)
        ./"$t" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
        rm -f "$log"
        p=0 f=0
        if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
                p=${BASH_REMATCH[1]}
                f=${BASH_REMATCH[2]}
        fi
        if ((rc == 77)); then
                skipped_scripts+=("$t")
        elif ((rc != 0)); then
                # A script that died without its summary line still counts as a failure.
                ((f == 0)) && f=1
                failed_scripts+=("$t")
        fi
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
        echo "=== $t: exit $rc, $p passed, $f failed, $(($(date +%s) - start)) s"
done
echo
((${#skipped_scripts[@]})) && echo "skipped: ${skipped_scripts[*]}"
((${#failed_scripts[@]})) && echo "failed: ${failed_scripts[*]}"
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
