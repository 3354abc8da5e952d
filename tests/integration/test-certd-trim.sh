#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-certd, MaxItems and pending keys: applying MaxItems+1 certificates drops the one with the
# earliest NotAfter (from ListCerts and from the key storage), never the one just applied; at
# most 5 pending keys per module, the oldest is destroyed (its certificate then gives
# KeyMismatch). On a PKCS#11 token or, with AOS_IT_PLUGIN=tpm, in a TPM.
. "$(dirname "$0")/lib.sh"

harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish

PW='trim-Owner-Pw-0c83e1'
TPM_OWNER_PW=$PW

write_config
module two "$KS" ecdsa "clientAuth" "" 2
module five "$KS" ecdsa "clientAuth" "" 5
module pend "$KS" ecdsa "clientAuth" "" 2
module conc "$KS" ecdsa "clientAuth" "" 2
assert_ok start_certd || harness_finish

declare -A SERIAL=() CERTURL=() KEYURL=() NOTAFTER=()

# apply_days TYPE NAME DAYS: a new key and a certificate valid for DAYS, applied.
apply_days() {
        local type=$1 name=$2 days=$3 f=$D/$1-$2.pem
        if ! issue "$type" "node-$name" "$PW" "$f" ca "days=$days"; then
                fail "$type: could not make certificate $name"
                return 1
        fi
        if assert_ok apply "$type" "$f"; then
                SERIAL[$name]=$(json_get "$OUT" Serial)
                CERTURL[$name]=$(json_get "$OUT" CertURL)
                KEYURL[$name]=$(json_get "$OUT" KeyURL)
                NOTAFTER[$name]=$(json_get "$OUT" NotAfter)
                assert_eq "$(cert_serial "$f")" "${SERIAL[$name]}" "$type: $name applied (NotAfter +$days days)"
        fi
}

# expect TYPE NAMES...: ListCerts holds exactly these certificates, the key storage exactly
# their certificates and keys, and GetCert's latest is the one with the latest NotAfter.
expect() {
        local type=$1 n want=() latest="" latest_na=0
        shift
        for n in "$@"; do
                want+=("${SERIAL[$n]}")
                if ((NOTAFTER[$n] > latest_na)); then
                        latest_na=${NOTAFTER[$n]}
                        latest=${SERIAL[$n]}
                fi
        done
        assert_eq "$(printf '%s\n' "${want[@]}" | sort | xargs)" "$(list_serials "$type")" "$type: ListCerts = {$*}"
        assert_eq "$latest" "$(latest_field "$type" Serial)" "$type: GetCert latest"
        assert_eq $# "$(ks_cert_count "$type")" "$type: certificates in the $KS storage"
        assert_eq $# "$(ks_key_count "$type")" "$type: keys in the $KS storage (no pending keys now)"
        for n in "$@"; do
                ks_has_url "$type" "${CERTURL[$n]}" || fail "$type: certificate $n missing from the $KS storage"
        done
}
# gone TYPE NAME: the certificate and its key are out of the key storage.
gone() {
        local type=$1 n=$2
        if ks_has_url "$type" "${CERTURL[$n]}"; then
                fail "$type: trimmed certificate $n still in the $KS storage"
        else
                pass "$type: trimmed certificate $n removed from the $KS storage"
        fi
        if ks_has_url "$type" "${KEYURL[$n]}"; then
                fail "$type: key of trimmed certificate $n still in the $KS storage"
        else
                pass "$type: key of trimmed certificate $n removed from the $KS storage"
        fi
}

section "MaxItems=2"
assert_ok certs_call SetOwner ss two "$PW"
apply_days two a 200
apply_days two b 300
expect two a b
# Full. The new one has the earliest NotAfter of all, but it was just applied: keep it, drop a.
apply_days two c 100
expect two b c
gone two a
apply_days two d 400
expect two b d
gone two c

section "MaxItems=5"
assert_ok certs_call SetOwner ss five "$PW"
apply_days five a 50
apply_days five b 40
apply_days five c 30
apply_days five d 20
apply_days five e 10
expect five a b c d e
# The earliest NotAfter (e) is the last applied before: trimming goes by NotAfter, not by age.
apply_days five f 60
expect five a b c d f
gone five e
apply_days five g 5
expect five a b c f g
gone five d

section "at most 5 pending keys"
assert_ok certs_call SetOwner ss pend "$PW"
for i in 1 2 3 4 5 6; do
        assert_ok create_key pend "node-p$i" "$PW" "$D/pend$i.csr"
        if ((i == 5)); then
                assert_eq 5 "$(ks_key_count pend)" "pend: 5 pending keys in the $KS storage"
        fi
        sleep 0.01
done
assert_eq 5 "$(ks_key_count pend)" "pend: still 5 keys after the 6th CreateKey"
if certs_prop "$(module_path pend)" "$MODULE_IFACE" PendingKeys >"$D/.pk" 2>/dev/null; then
        assert_eq 5 "$(json_data "$(cat "$D/.pk")")" "pend: Module.PendingKeys"
fi
for i in 1 2 6; do
        sign_csr "$D/pend$i.csr" "$D/pend$i.pem" ca days=$((100 + i)) || fail "sign pend$i"
done
assert_error "$E_KEY_MISMATCH" apply_try pend "$D/pend1.pem"
assert_ok apply pend "$D/pend2.pem"
assert_ok apply pend "$D/pend6.pem"
assert_eq 2 "$(list_count pend)" "pend: two certificates"
assert_eq 5 "$(ks_key_count pend)" "pend: 2 certified keys + 3 pending keys in the $KS storage"

section "concurrent calls"
assert_ok certs_call SetOwner ss conc "$PW"
pids=()
for i in 1 2 3 4 5 6; do
        certs_call CreateKey sss conc "node-c$i" "$PW" >"$D/conc$i.json" 2>"$D/conc$i.err" &
        pids+=($!)
done
ok=0
for i in 1 2 3 4 5 6; do
        wait "${pids[i - 1]}" && ok=$((ok + 1))
        reply_string "$(cat "$D/conc$i.json")" >"$D/conc$i.csr"
done
assert_eq 6 "$ok" "6 concurrent CreateKey calls succeeded"
assert_eq 5 "$(ks_key_count conc)" "conc: 5 pending keys in the $KS storage"
ok=0 mismatch=0 other=0
for i in 1 2 3 4 5 6; do
        sign_csr "$D/conc$i.csr" "$D/conc$i.pem" ca days=$((10 * i)) || fail "sign conc$i"
done
# All six ApplyCerts at once: one key was dropped (KeyMismatch), five apply, MaxItems=2 trims.
pids=()
for i in 1 2 3 4 5 6; do
        apply_try conc "$D/conc$i.pem" >"$D/conca$i.out" 2>"$D/conca$i.err" &
        pids+=($!)
done
latest_applied=0
for i in 1 2 3 4 5 6; do
        if wait "${pids[i - 1]}"; then
                ok=$((ok + 1))
                latest_applied=$i # conc$i is valid for 10*i days
        elif grep -q "$E_KEY_MISMATCH" "$D/conca$i.err"; then
                mismatch=$((mismatch + 1))
        else
                other=$((other + 1))
                log "# conc$i: $(cat "$D/conca$i.err")"
        fi
done
assert_eq "5 1 0" "$ok $mismatch $other" "concurrent ApplyCert: applied, KeyMismatch, other errors"
assert_eq 2 "$(list_count conc)" "conc: MaxItems=2 after concurrent applies"
assert_eq 2 "$(ks_cert_count conc)" "conc: 2 certificates in the $KS storage"
assert_eq 2 "$(ks_key_count conc)" "conc: 2 keys in the $KS storage"
# Which two remain depends on the order the daemon took the calls in ("never the one just
# applied"), and so does which key was dropped as the oldest pending one; but the applied
# certificate with the latest NotAfter can never be the one trimmed.
final=$(list_serials conc)
assert_match "(^| )$(cert_serial "$D/conc$latest_applied.pem")( |\$)" "$final" "conc: the latest NotAfter applied (conc$latest_applied) kept"
applied_all=$(for i in 1 2 3 4 5 6; do cert_serial "$D/conc$i.pem"; done)
for sn in $final; do
        printf '%s\n' "$applied_all" | grep -qx "$sn" || fail "conc: unknown serial $sn listed"
done

assert_serving
assert_no_secret_in_logs "$PW" "$(ks_secret two)" "$(ks_secret five)" "$(ks_secret pend)"
stop_certd
harness_finish
