#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2046 # $(ay_args ...) is split into busctl's "ay" arguments on purpose
# aos-certd, start-up reconciliation and crash safety: a restart keeps everything (pending keys
# too); a database row deleted while stopped comes back from the token; a bogus row is removed;
# an orphan key or certificate on the token is removed (not with SkipValidation=yes); and for
# each AOS_FAULT crash point: killed there, restarted, no applied certificate lost, no orphan,
# and the interrupted call can simply be repeated. On a PKCS#11 token or, with AOS_IT_PLUGIN=tpm,
# in a TPM (a "token" below is then the TPM and StorageDir).
. "$(dirname "$0")/lib.sh"

harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish

PW='reconcile-Owner-Pw-4be1d0'
TPM_OWNER_PW=$PW

config() {
        write_config
        module iam "$KS" ecdsa "clientAuth" "" 3 "SkipValidation=${1:-no}"
        module crash "$KS" ecdsa "clientAuth" "" 2
        # shares the crash module's token (on a TPM every module shares it): must come through
        # every crash untouched
        module bystander "$KS" ecdsa "clientAuth" "" 2 TokenLabel=crash
}
config
assert_ok start_certd || harness_finish

# consistent TYPE PENDING WHAT: the key storage holds exactly the certificates ListCerts
# reports and their keys plus PENDING pending keys of the type; every listed URL is there.
consistent() {
        local type=$1 pending=$2 what=$3 n u bad=0
        n=$(list_count "$type")
        assert_eq "$n" "$(ks_cert_count "$type")" "$what: $type certificate objects = ListCerts ($n)"
        assert_eq $((n + pending)) "$(ks_key_count "$type")" "$what: $type keys = $n certified + $pending pending"
        for u in $(list_field "$type" CertURL) $(list_field "$type" KeyURL); do
                ks_has_url "$type" "$u" || { fail "$what: $u listed but not in the $KS storage"; bad=1; }
        done
        ((bad)) || pass "$what: every listed URL is in the $KS storage"
        if certs_prop "$(module_path "$type")" "$MODULE_IFACE" PendingKeys >"$D/.pk" 2>/dev/null; then
                assert_eq "$pending" "$(json_data "$(cat "$D/.pk")")" "$what: $type Module.PendingKeys"
        fi
}

section "restart keeps certificates and pending keys"
assert_ok certs_call SetOwner ss iam "$PW"
assert_ok issue iam node-1 "$PW" "$D/x1.pem" ca days=100
assert_ok apply iam "$D/x1.pem"
x1_fp=$(json_get "$OUT" Fingerprint)
assert_ok issue iam node-1 "$PW" "$D/x2.pem" ca days=200
assert_ok apply iam "$D/x2.pem"
x2_fp=$(json_get "$OUT" Fingerprint)
assert_ok create_key iam node-1 "$PW" "$D/p.csr"
x1=$(cert_serial "$D/x1.pem")
x2=$(cert_serial "$D/x2.pem")
consistent iam 1 "before restart"
assert_ok restart_certd
assert_eq "$(printf '%s\n' "$x1" "$x2" | sort | xargs)" "$(list_serials iam)" "certificates after restart"
assert_eq "$(printf '%s\n' "$x1_fp" "$x2_fp" | sort | xargs)" "$(list_field iam Fingerprint | sort | xargs)" "fingerprints after restart"
consistent iam 1 "after restart"
assert_ok sign_csr "$D/p.csr" "$D/p.pem" ca days=300
assert_ok apply iam "$D/p.pem"
p=$(cert_serial "$D/p.pem")
consistent iam 0 "pending key applied after the restart"

section "a database row deleted while stopped comes back"
stop_certd
loc=$(db_find_column "$x2")
if [[ -z $loc ]]; then
        fail "no column of $D/certd.db holds serial $x2 (tables: $(db_tables | xargs))"
else
        read -r tbl col <<<"$loc"
        log "# certificates in table '$tbl', serial in column '$col'"
        rows_before=$(db_sql "SELECT count(*) FROM \"$tbl\";")
        assert_ok db_sql "DELETE FROM \"$tbl\" WHERE \"$col\" = '$x2';"
        assert_eq $((rows_before - 1)) "$(db_sql "SELECT count(*) FROM \"$tbl\";")" "row deleted"
        assert_ok start_certd
        assert_eq "$(printf '%s\n' "$x1" "$x2" "$p" | sort | xargs)" "$(list_serials iam)" "the deleted certificate is back"
        run certs_call GetCert says iam 0 ""
        assert_eq "$p" "$(json_get "$OUT" Serial)" "latest unchanged"
        assert_true "the restored certificate has its fingerprint" bash -c "printf '%s\n' \"\$1\" | grep -qx '$x2_fp'" _ "$(list_field iam Fingerprint)"
        consistent iam 0 "after the row came back"

        section "a bogus row is removed"
        stop_certd
        rows_before=$(db_sql "SELECT count(*) FROM \"$tbl\";")
        # A copy of x1's row that names objects that are not on the token.
        sets=()
        for c in $(db_sql "SELECT name FROM pragma_table_info('$tbl');"); do
                pk=$(db_sql "SELECT pk FROM pragma_table_info('$tbl') WHERE name = '$c';")
                ty=$(db_sql "SELECT upper(type) FROM pragma_table_info('$tbl') WHERE name = '$c';")
                if [[ $pk != 0 && $ty == INTEGER* ]]; then
                        sets+=("\"$c\" = NULL")
                        continue
                fi
                rnd=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
                sets+=("\"$c\" = CASE
                        WHEN \"$c\" = '$x1' THEN 'deadbeef01'
                        WHEN typeof(\"$c\") = 'text' AND \"$c\" LIKE 'pkcs11:%' THEN replace(\"$c\", 'id=', 'id=%de%ad%be%ef')
                        WHEN typeof(\"$c\") = 'text' AND \"$c\" LIKE 'tpm2:%' THEN replace(\"$c\", 'handle=0x8141', 'handle=0x8142')
                        WHEN typeof(\"$c\") = 'text' AND \"$c\" LIKE 'file:%' THEN replace(\"$c\", '.pem', '.bogus.pem')
                        WHEN typeof(\"$c\") = 'text' AND length(\"$c\") = 64 AND \"$c\" NOT GLOB '*[^0-9a-f]*' THEN '$rnd'
                        ELSE \"$c\" END")
        done
        sql="CREATE TEMP TABLE bogus AS SELECT * FROM \"$tbl\" WHERE \"$col\" = '$x1';
             UPDATE bogus SET $(IFS=,; printf '%s' "${sets[*]}");
             INSERT INTO \"$tbl\" SELECT * FROM bogus;"
        if assert_ok db_sql "$sql"; then
                assert_eq $((rows_before + 1)) "$(db_sql "SELECT count(*) FROM \"$tbl\";")" "bogus row inserted"
        fi
        assert_ok start_certd
        assert_eq "$(printf '%s\n' "$x1" "$x2" "$p" | sort | xargs)" "$(list_serials iam)" "bogus row not listed, the others kept"
        assert_error "$E_NOT_FOUND" certs_try GetCert says iam $(ay_args "$(latest_field iam IssuerDER)") deadbeef01
        consistent iam 0 "after the bogus row"
        stop_certd
        assert_eq 0 "$(db_sql "SELECT count(*) FROM \"$tbl\" WHERE \"$col\" = 'deadbeef01';")" "bogus row removed from the database"
        assert_ok start_certd
fi

section "a row whose objects are gone from the token is removed"
x1_cert_url=$(certs_call GetCert says iam $(ay_args "$(latest_field iam IssuerDER)") "$x1" | sed -n 's/.*"CertURL":{"type":"s","data":"\([^"]*\)".*/\1/p')
x1_key_url=$(certs_call GetCert says iam $(ay_args "$(latest_field iam IssuerDER)") "$x1" | sed -n 's/.*"KeyURL":{"type":"s","data":"\([^"]*\)".*/\1/p')
stop_certd
assert_ok ks_delete_url iam "$x1_cert_url"
assert_ok ks_delete_url iam "$x1_key_url"
assert_ok start_certd
assert_eq "$(printf '%s\n' "$x2" "$p" | sort | xargs)" "$(list_serials iam)" "the certificate deleted from the token is no longer listed"
consistent iam 0 "after the deleted objects"

section "orphan key and orphan certificate on the token"
keys_before=$(ks_key_count iam)
stop_certd
assert_ok ks_make_orphan_key iam ecdsa
assert_eq $((keys_before + 1)) "$(ks_key_count iam)" "orphan key made behind the daemon's back"
assert_ok make_csr "$D/stray.key" "$D/stray.csr" stray
assert_ok sign_csr "$D/stray.csr" "$D/stray.pem" ca
assert_ok ks_write_orphan_cert iam "$D/stray.pem"
certs_before=$(ks_cert_count iam)
assert_ok start_certd
assert_eq "$keys_before" "$(ks_key_count iam)" "orphan key removed at start"
assert_eq $((certs_before - 1)) "$(ks_cert_count iam)" "orphan certificate removed at start"
assert_eq "$(printf '%s\n' "$x2" "$p" | sort | xargs)" "$(list_serials iam)" "certificates unchanged"
consistent iam 0 "after the orphans"

section "SkipValidation=yes leaves the token alone at start"
stop_certd
config yes
assert_ok ks_make_orphan_key iam ecdsa
assert_ok start_certd
assert_eq $((keys_before + 1)) "$(ks_key_count iam)" "orphan key kept with SkipValidation=yes"
stop_certd
config no
assert_ok start_certd
assert_eq "$keys_before" "$(ks_key_count iam)" "orphan key removed once SkipValidation=no again"

section "crash points (AOS_FAULT)"
if ! certd_has_faults; then
        skip "aos-certd built without -Dfault_injection=true: crash tests skipped"
else
        assert_ok certs_call SetOwner ss crash "$PW"
        assert_ok certs_call SetOwner ss bystander "$PW"
        assert_ok issue bystander node-b "$PW" "$D/by1.pem" ca
        assert_ok apply bystander "$D/by1.pem"
        assert_ok create_key bystander node-b "$PW" "$D/by2.csr"
        by1=$(cert_serial "$D/by1.pem")

        # crash_call POINT WHAT CMD...: the daemon started with AOS_FAULT=POINT is killed by
        # CMD at that point; then it is started again without it.
        crash_call() {
                local point=$1 what=$2
                shift 2
                stop_certd
                if ! start_certd --env "AOS_FAULT=$point"; then
                        fail "$point: aos-certd did not start with AOS_FAULT"
                        start_certd
                        return 1
                fi
                run "$@"
                local call_rc=$RC call_err=$ERR
                if wait_certd_exit 10; then
                        assert_eq 137 "$CERTD_EXIT" "$point: $what killed the daemon (SIGKILL)"
                        assert_true "$point: the log names the crash point" \
                                grep -q "fault injection: killing at $point" "$D/certd.log"
                        if ((call_rc != 0)); then
                                pass "$point: the interrupted call failed for its caller ($(_short "${call_err:0:60}"))"
                        else
                                fail "$point: the interrupted call reported success"
                        fi
                else
                        fail "$point: $what did not reach the crash point (call exit $call_rc: $(_short "$call_err"))"
                        stop_certd
                fi
                assert_ok start_certd
        }
        reset_crash() {
                run certs_call Clear s crash
        }

        section "createkey-after-generate"
        reset_crash
        crash_call createkey-after-generate CreateKey certs_call CreateKey sss crash node-c "$PW"
        consistent crash 0 "createkey-after-generate: the unrecorded key is gone"
        assert_ok create_key crash node-c "$PW" "$D/c1.csr"
        consistent crash 1 "createkey-after-generate: repeated"
        assert_ok sign_csr "$D/c1.csr" "$D/c1.pem" ca days=100
        assert_ok apply crash "$D/c1.pem"
        consistent crash 0 "createkey-after-generate: applied"

        section "createkey-after-record"
        reset_crash
        crash_call createkey-after-record CreateKey certs_call CreateKey sss crash node-c "$PW"
        consistent crash 1 "createkey-after-record: the recorded key is a pending key"
        assert_ok create_key crash node-c "$PW" "$D/c2.csr"
        consistent crash 2 "createkey-after-record: repeated"
        assert_ok sign_csr "$D/c2.csr" "$D/c2.pem" ca days=100
        assert_ok apply crash "$D/c2.pem"
        consistent crash 1 "createkey-after-record: applied"

        section "apply-after-store"
        reset_crash
        assert_ok issue crash node-c "$PW" "$D/s1.pem" ca days=100
        assert_ok apply crash "$D/s1.pem"
        assert_ok issue crash node-c "$PW" "$D/s2.pem" ca days=200
        s1=$(cert_serial "$D/s1.pem")
        s2=$(cert_serial "$D/s2.pem")
        crash_call apply-after-store ApplyCert apply crash "$D/s2.pem"
        now=$(list_serials crash)
        assert_match "(^| )$s1( |$)" "$now" "apply-after-store: the earlier certificate is kept"
        if [[ " $now " == *" $s2 "* ]]; then
                log "# apply-after-store: the stored certificate was adopted at start"
                consistent crash 0 "apply-after-store (adopted)"
        else
                log "# apply-after-store: the stored certificate was dropped at start, its key is pending again"
                consistent crash 1 "apply-after-store (dropped)"
        fi
        assert_ok apply crash "$D/s2.pem"
        assert_eq "$(printf '%s\n' "$s1" "$s2" | sort | xargs)" "$(list_serials crash)" "apply-after-store: repeated ApplyCert"
        consistent crash 0 "apply-after-store: repeated"

        section "apply-after-commit"
        # crash holds s1 (100 d) and s2 (200 d), MaxItems=2: the next one trims s1.
        assert_ok issue crash node-c "$PW" "$D/s3.pem" ca days=300
        s3=$(cert_serial "$D/s3.pem")
        crash_call apply-after-commit ApplyCert apply crash "$D/s3.pem"
        now=$(list_serials crash)
        assert_match "(^| )$s3( |$)" "$now" "apply-after-commit: the committed certificate is kept"
        assert_match "(^| )$s2( |$)" "$now" "apply-after-commit: s2 kept"
        consistent crash 0 "apply-after-commit"
        assert_ok apply crash "$D/s3.pem"
        assert_eq "$(printf '%s\n' "$s2" "$s3" | sort | xargs)" "$(list_serials crash)" "apply-after-commit: repeated ApplyCert, MaxItems honoured"
        consistent crash 0 "apply-after-commit: repeated"

        section "apply-after-trim"
        # s2 (200 d), s3 (300 d): the next one trims s2.
        assert_ok issue crash node-c "$PW" "$D/s4.pem" ca days=400
        s4=$(cert_serial "$D/s4.pem")
        s2_url=$(certs_call GetCert says crash $(ay_args "$(latest_field crash IssuerDER)") "$s2" | sed -n 's/.*"CertURL":{"type":"s","data":"\([^"]*\)".*/\1/p')
        crash_call apply-after-trim ApplyCert apply crash "$D/s4.pem"
        assert_eq "$(printf '%s\n' "$s3" "$s4" | sort | xargs)" "$(list_serials crash)" "apply-after-trim: new kept, trimmed gone"
        if [[ -n $s2_url ]] && ks_has_url crash "$s2_url"; then
                fail "apply-after-trim: the trimmed certificate is still on the token"
        else
                pass "apply-after-trim: the trimmed certificate is off the token"
        fi
        consistent crash 0 "apply-after-trim"
        assert_ok apply crash "$D/s4.pem"
        assert_eq "$(printf '%s\n' "$s3" "$s4" | sort | xargs)" "$(list_serials crash)" "apply-after-trim: repeated ApplyCert"
        consistent crash 0 "apply-after-trim: repeated"

        section "clear-after-backend"
        assert_ok create_key crash node-c "$PW" "$D/c3.csr"
        crash_call clear-after-backend Clear certs_call Clear s crash
        assert_eq "" "$(list_serials crash)" "clear-after-backend: nothing listed"
        consistent crash 0 "clear-after-backend"
        assert_ok certs_call Clear s crash
        assert_eq 0 "$(ks_object_count crash)" "clear-after-backend: repeated Clear, no objects left"

        section "clear-after-db"
        assert_ok issue crash node-c "$PW" "$D/s5.pem" ca
        assert_ok apply crash "$D/s5.pem"
        assert_ok create_key crash node-c "$PW" "$D/c4.csr"
        crash_call clear-after-db Clear certs_call Clear s crash
        assert_eq "" "$(list_serials crash)" "clear-after-db: nothing listed"
        consistent crash 0 "clear-after-db"
        assert_ok certs_call Clear s crash
        assert_eq 0 "$(ks_object_count crash)" "clear-after-db: repeated Clear, no objects left"

        section "after the crashes"
        assert_ok issue crash node-c "$PW" "$D/s6.pem" ca
        assert_ok apply crash "$D/s6.pem"
        consistent crash 0 "a full cycle after the crash tests"
        assert_eq "$(printf '%s\n' "$x2" "$p" | sort | xargs)" "$(list_serials iam)" "the other token's module was never touched"
        assert_eq "$by1" "$(list_serials bystander)" "the module sharing the token kept its certificate"
        consistent bystander 1 "the module sharing the token"
        assert_ok sign_csr "$D/by2.csr" "$D/by2.pem" ca days=30
        assert_ok apply bystander "$D/by2.pem"
fi

assert_serving
assert_no_secret_in_logs "$PW" "$(ks_secret iam)" "$(ks_secret crash)"
stop_certd
harness_finish
