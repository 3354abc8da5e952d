#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 5: a secondary node whose link key (the [NodeLink] CertType=iam module) is held by a TPM
# (swtpm on a unix socket in the node's scratch dir), provisioned through the main node with
# `aosctl provision --node` and reaching the protected channel. The main node uses SoftHSM
# (pkcs11), as does the secondary's sm module. Checks: the iam key URL is tpm2:handle=0x8141...,
# the handle is persistent in the TPM (tpm2_getcap), marked as iam's (authPolicy) and its public
# key (tpm2_readpublic) is the certificate's; the main node sees the certificate the TPM key
# belongs to (PeerFingerprint, and so its serial); a forwarded call over that link; renewal of
# the iam certificate through the main node (a new TPM key, the next connection presents it);
# restarts of the secondary's aos-nodelinkd and of swtpm (state kept): back on protected with the
# TPM key; with swtpm gone, the link cannot be made (the key is nowhere else).
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tools/aosctl-it.sh
. "$AOS_TEST_SRCDIR/tests/tools/aosctl-it.sh"

unit_harness_init
require_aosctl
require_nodelinkd
command -v python3 >/dev/null || harness_skip "missing tool: python3"
# (start_swtpm checks these too, but from inside a node's scratch dir: skip before any node.)
for t in swtpm tpm2_getcap tpm2_readpublic tpm2_changeauth tpm2_evictcontrol tpm2_create tpm2_load tpm2_flushcontext; do
        command -v "$t" >/dev/null || harness_skip "missing tool: $t"
done
T0=$SECONDS

PW_MAIN='Main-Prov-Pw-61d0c3e2'
PW_T='TpmNode-Prov-Pw-9e4a27b1'

unit_ports || harness_finish

unit_node_setup main main yes "127.0.0.1:$PP" "127.0.0.1:$BP" "main localhost" || harness_finish
UNIT_IAM_PLUGIN=tpm unit_node_setup sec node-t no "127.0.0.1:$PP" "127.0.0.1:$BP" "" || harness_finish
on_node main start_polkitd

unit_ca || harness_finish
write_password_file "$D/pw-main" "$PW_MAIN"
write_password_file "$D/pw-t" "$PW_T"

MAIN_BUS=${NODE_BUS[main]}
main_aosctl() { DBUS_SYSTEM_BUS_ADDRESS=$MAIN_BUS aosctl "$@"; }
node_state() { on_node "$1" prov_state; }
has_node() { nl_has_node main "$@"; }
lacks_node() { ! nl_has_node main "$1"; }
field() { unit_nl_field main "$1" "$2"; }
sec() { on_node sec "$@"; }
NLOG=$D/sec/nodelinkd.log

# sec_iam KEY: KEY of node-t's current iam certificate (GetCert on its own bus).
sec_iam() { sec latest_field iam "$1"; }
# sec_iam_file: node-t's current iam certificate file (the tpm backend's CertURL is file:).
sec_iam_file() { url_file_path "$(sec_iam CertURL)"; }

# tpm_key_matches_cert: node-t's current iam key is a persistent TPM object (tpm2_getcap), marked
# as iam's, whose public key (tpm2_readpublic) is the current certificate's.
tpm_key_matches_cert() {
        local url h cert pub_cert pub_tpm
        url=$(sec_iam KeyURL) || return 1
        h=$(tpm_url_handle "$url")
        [[ $h =~ ^0x8141[0-9a-f]{4}$ ]] || { echo "not a tpm2: key URL in aos-iam's block: $url"; return 1; }
        tpm_has_handle "$h" || { echo "$h is not among the persistent handles: $(tpm_persistent | xargs)"; return 1; }
        [[ $(tpm_policy "$h") == "$(tpm_marker iam)" ]] || { echo "$h does not carry iam's marker"; return 1; }
        tpm2t readpublic -c "$h" -f pem -o "$D/sec-iam.tpm.pub" >/dev/null 2>&1 || { echo "tpm2_readpublic $h failed"; return 1; }
        cert=$(sec_iam_file) || return 1
        pub_cert=$(certtool --pubkey-info --infile "$cert" 2>/dev/null | sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p')
        pub_tpm=$(certtool --pubkey-info --load-pubkey "$D/sec-iam.tpm.pub" 2>/dev/null | sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p')
        [[ -n $pub_cert && -n $pub_tpm ]] || { echo "no public key from the certificate or from the TPM"; return 1; }
        [[ $pub_cert == "$pub_tpm" ]] || { echo "the certificate's public key is not the TPM key's"; return 1; }
}

# peer_serial: the serial of the certificate the main node saw on node-t's link: the one of
# node-t's iam certificates whose SHA-256 is the link's PeerFingerprint.
peer_serial() {
        local fp j
        fp=$(field node-t PeerFingerprint) || return 1
        j=$(sec certs_call ListCerts s iam) || return 1
        paste -d' ' <(json_all "$j" Fingerprint) <(json_all "$j" Serial) | awk -v f="$fp" '$1 == f {print $2; exit}'
}

# chain_verifies: node-t's current iam certificate, then the CA, verifies (certtool).
chain_verifies() {
        { pem_first "$(sec_iam_file)"; cat "$AOS_TEST_PKI/ca.pem"; } >"$D/sec-iam-chain.pem"
        certtool --verify-chain --infile "$D/sec-iam-chain.pem"
}

section "1. the main node provisioned locally; node-t on the bootstrap channel"
assert_ok main_aosctl provision "${CA[@]}" --password-file "$D/pw-main"
assert_eq provisioned "$(node_state main)" "main: State"
assert_ok on_node main start_nodelinkd main
assert_ok on_node sec start_nodelinkd sec
assert_true "node-t on bootstrap" wait_secs 15 has_node node-t bootstrap
FP_T=$(unit_bootstrap_fingerprint sec)
assert_match '^[0-9a-f]{64}$' "$FP_T" "node-t bootstrap.pem fingerprint"
assert_eq "$FP_T" "$(field node-t PeerFingerprint)" "node-t PeerFingerprint = SHA-256 of its bootstrap.pem"
assert_eq unprovisioned "$(field node-t State)" "node-t State"
assert_eq "" "$(sec tpm_type_handles iam | xargs)" "no iam key in the TPM yet"

section "2. node-t provisioned through the main node"
assert_ok main_aosctl provision --node node-t "${CA[@]}" --password-file "$D/pw-t" --expect-fingerprint "$FP_T"
log "$OUT" | sed 's/^/    /'
[[ -n $ERR ]] && log "$ERR" | sed 's/^/    stderr: /'
assert_match '^\[1/9\] GetCertTypes node-t \.\.\. ok \(iam sm; 9 steps\)$' "$OUT" "GetCertTypes of node-t"
assert_match 'Node node-t is provisioned\.' "$OUT" "final line"
assert_no_secret "$PW_T" "$OUT$ERR" "aosctl's output"
assert_eq provisioned "$(node_state sec)" "node-t: State on its own bus"

section "3. the iam key is in the TPM"
KEY1=$(sec_iam KeyURL)
log "    iam KeyURL: $KEY1"
log "    iam CertURL: $(sec_iam CertURL)"
assert_match '^tpm2:handle=0x8141[0-9A-Fa-f]{4}(\?tcti=.*)?$' "$KEY1" "node-t iam KeyURL"
assert_match "tcti=swtpm:path=$D/sec/tpm\\.sock" "$KEY1" "the key URL names node-t's swtpm"
H1=$(tpm_url_handle "$KEY1")
run tpm2t getcap handles-persistent
assert_match "^- $H1\$" "$(tr 'A-F' 'a-f' <<<"$OUT")" "tpm2_getcap handles-persistent lists $H1"
assert_true "tpm2_readpublic $H1: iam's marker, the certificate's public key" tpm_key_matches_cert
assert_eq "$H1" "$(sec tpm_type_handles iam | xargs)" "the only iam key in the TPM"
assert_true "node-t iam: certtool --verify-chain (leaf, CA)" chain_verifies
assert_eq "CN=node-t" "$(cert_subject "$(sec_iam_file)")" "node-t iam: subject"
assert_match '^pkcs11:' "$(sec latest_field sm KeyURL)" "node-t sm: on SoftHSM"
# StartProvisioning made the provisioning password the TPM's owner password (SetOwner of iam).
run tpm2t getcap properties-variable
assert_match 'ownerAuthSet:[[:space:]]+1' "$OUT" "the TPM is owned"
assert_true "the owner password is node-t's provisioning password" tpm2t changeauth -c o -p "$PW_T" "$PW_T"

section "4. node-t moves to the protected channel with the TPM key"
assert_true "node-t on protected" wait_secs 20 has_node node-t "protected provisioned"
run nl_nodes main
log "$OUT" | sed 's/^/    /'
assert_eq true "$(field node-t Connected)" "node-t Connected"
assert_match '(^|,)CN=node-t(,|$)' "$(field node-t PeerSubject)" "node-t PeerSubject"
SERIAL1=$(sec_iam Serial)
assert_eq "$(sec_iam Fingerprint)" "$(field node-t PeerFingerprint)" "PeerFingerprint = node-t's current iam certificate"
assert_eq "$SERIAL1" "$(peer_serial)" "serial of the link's peer certificate = node-t's iam serial"
assert_eq "$SERIAL1" "$(cert_serial "$(sec_iam_file)")" "that serial is the certificate file's (certtool)"
assert_true "node-t's spent bootstrap certificate is removed" test ! -e "$D/sec/nodelink/bootstrap.pem"
assert_match "Dialing the main node at 127\\.0\\.0\\.1:$PP \\(protected channel\\)" "$(cat "$NLOG")" \
        "node-t's nodelinkd dialed the protected address"

section "5. forwarded calls over the TPM-keyed link"
assert_ok nl_node_call main node-t org.aosedge.Certs1.Manager GetCertTypes
assert_eq "iam sm offline" "$(json_strings "$OUT" | xargs)" "Certs1 GetCertTypes of node-t"
assert_ok nl_node_call main node-t org.aosedge.Certs1.Manager GetCert says iam 0 ""
assert_eq "$SERIAL1" "$(json_get "$OUT" Serial)" "Certs1 GetCert iam of node-t, forwarded"
assert_eq "$KEY1" "$(json_get "$OUT" KeyURL)" "its KeyURL, forwarded: the tpm2: URL"
assert_ok on_node main prov_call GetCertTypes s node-t
assert_match '"iam","sm"' "$OUT" "Provisioning1 GetCertTypes(node-t) on the main node"

section "6. renewal of node-t's iam certificate through the main node: a new TPM key"
since_before=$(field node-t Since)
fp_before=$(field node-t PeerFingerprint)
assert_ok main_aosctl renew --node node-t iam "${CA[@]}" --password-file "$D/pw-t"
log "$OUT" | sed 's/^/    /'
SERIAL2=$(sec_iam Serial)
KEY2=$(sec_iam KeyURL)
H2=$(tpm_url_handle "$KEY2")
assert_ne "$SERIAL1" "$SERIAL2" "node-t's current iam serial"
assert_match '^tpm2:handle=0x8141' "$KEY2" "the renewed KeyURL"
assert_ne "$H1" "$H2" "the renewed key's handle"
assert_eq "$(printf '%s\n' "$H1" "$H2" | sort | xargs)" "$(sec tpm_type_handles iam | sort | xargs)" \
        "both iam keys in the TPM (MaxItems 2)"
assert_true "the renewed certificate's key is the TPM's" tpm_key_matches_cert
assert_true "renewed chain verifies" chain_verifies
assert_ok nl_call main Disconnect s node-t
since_changed() { [[ $(field node-t Since) != "$since_before" ]]; }
assert_true "a new connection (Since changed)" wait_secs 15 since_changed
assert_true "node-t back on protected" wait_secs 15 has_node node-t "protected provisioned"
assert_ne "$fp_before" "$(field node-t PeerFingerprint)" "PeerFingerprint after renewal and reconnect"
assert_eq "$(sec_iam Fingerprint)" "$(field node-t PeerFingerprint)" "the new connection presents the renewed certificate"
assert_eq "$SERIAL2" "$(peer_serial)" "serial of the link's peer certificate = the renewed serial"

section "7. restart of node-t's aos-nodelinkd: back on protected with the TPM key"
stop_nodelinkd sec
assert_true "node-t gone from ListNodes" wait_secs 10 lacks_node node-t
assert_ok on_node sec start_nodelinkd sec
assert_true "node-t back on protected after the restart" wait_secs 20 has_node node-t "protected provisioned"
assert_eq "$SERIAL2" "$(peer_serial)" "the restarted link presents the current iam certificate"
assert_true "node-t did not make a new bootstrap certificate" test ! -e "$D/sec/nodelink/bootstrap.pem"
assert_ok nl_node_call main node-t org.aosedge.Certs1.Manager GetCertTypes

section "8. swtpm gone: no link; swtpm restarted with its state: back on protected"
since_before=$(field node-t Since)
load_failures() { grep -c "Cannot load the 'iam' certificate and key" "$NLOG"; }
n_fail=$(load_failures)
sec stop_swtpm
assert_ok nl_call main Disconnect s node-t
assert_true "node-t gone from ListNodes" wait_secs 10 lacks_node node-t
# The key is only in the TPM: without it node-t cannot make the link (and does not fall back to
# the bootstrap channel: it is provisioned). Two failed attempts (ReconnectMaxSec=2).
two_more_failures() { (($(load_failures) >= n_fail + 2)); }
assert_true "node-t's log: the iam key cannot be loaded (twice)" wait_secs 15 two_more_failures
assert_true "node-t stays away while swtpm is gone" lacks_node node-t
run grep "Cannot load the 'iam' certificate and key" "$NLOG"
log "    $(tail -n1 <<<"$OUT")"
assert_ok sec start_swtpm
assert_true "node-t back on protected after swtpm's restart" wait_secs 20 has_node node-t "protected provisioned"
assert_true "a new connection (Since changed)" since_changed
assert_eq "$SERIAL2" "$(peer_serial)" "it presents the current iam certificate"
assert_true "the TPM still holds the iam key of the current certificate" tpm_key_matches_cert
assert_ok nl_node_call main node-t org.aosedge.Certs1.Manager GetCert says iam 0 ""
assert_eq "$SERIAL2" "$(json_get "$OUT" Serial)" "forwarded GetCert after swtpm's restart"

section "9. no password in any log, no sanitizer report"
TPM_SECRET=$(cat "$(sec tpm_auth_file)")
assert_match '^.{16,}$' "$TPM_SECRET" "node-t has a TPM secret file"
unit_stop_daemons
sec stop_swtpm
unit_assert_no_secret_in_logs "$PW_MAIN" "$PW_T" "$TPM_SECRET"
unit_assert_no_sanitizer_reports
log "# took $((SECONDS - T0)) s"
unit_node_use
CERTD_PID=
harness_finish
