#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-certd keeps serving while slow key generation runs: with RSA 2048 CreateKey calls queued
# on the worker thread, reads (GetCertTypes, ListCerts, GetCert, a property) are answered while
# those calls are still in flight. No wall-clock assertion: the check is the order of events
# (the reads finish while the CreateKey clients are still waiting for their replies). On a
# PKCS#11 token or, with AOS_IT_PLUGIN=tpm, in a TPM (where an RSA key takes the longest).
. "$(dirname "$0")/lib.sh"

harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish

PW='resp-Owner-Pw-5d21aa'
write_config
module rsa "$KS" rsa "clientAuth" "" 5
module ec "$KS" ecdsa "clientAuth" "" 2
assert_ok start_certd || harness_finish
assert_ok certs_call SetOwner ss rsa "$PW"
assert_ok certs_call SetOwner ss ec "$PW"

section "reads while RSA keys are generated"
pids=()
for i in 1 2 3 4 5 6 7 8; do
        busctl --system --timeout=300 -- call "$CERTS_DEST" "$CERTS_PATH" "$CERTS_IFACE" \
                CreateKey sss rsa "node-$i" "$PW" >"$D/ck-$i.out" 2>&1 &
        pids+=($!)
        _track "$!" "busctl CreateKey $i"
done
# Let the calls reach the daemon (they are queued in order on its worker thread).
pending_keys() { certs_prop "$(module_path "$1")" "$MODULE_IFACE" PendingKeys | grep -o '[0-9][0-9]*' | tail -1; }
has_pending() { [ "$(pending_keys rsa)" -ge 1 ]; }
wait_until 10 has_pending ||
        fail "no RSA key was made within 10 s"

in_flight() {
        local n=0 p
        for p in "${pids[@]}"; do
                kill -0 "$p" 2>/dev/null && n=$((n + 1))
        done
        echo "$n"
}
before=$(in_flight)
assert_ok certs_call GetCertTypes
assert_ok certs_call ListCerts s ec
assert_fail certs_call GetCert says ec 0 ""
assert_ok certs_prop "$(module_path ec)" "$MODULE_IFACE" MaxItems
after=$(in_flight)
assert_cmp "$before" -ge 1 "CreateKey calls in flight when the reads started"
assert_cmp "$after" -ge 1 "reads answered while $after RSA CreateKey calls were still waiting"

for p in "${pids[@]}"; do
        wait "$p" || fail "CreateKey client $p failed: $(cat "$D"/ck-*.out | head -3)"
        _untrack "$p"
done
assert_eq "$(pending_keys rsa)" 5 "8 RSA keys made, the newest 5 pending"
assert_serving

harness_finish
