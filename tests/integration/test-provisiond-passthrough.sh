#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# aos-provisiond and aos-certd: GetCertTypes leaves out SelfSigned (and disabled) types;
# CreateKey and ApplyCert pass aos-certd's errors through unchanged, name and message (NotOwned,
# NotFound, InvalidArgs, InvalidChain, KeyMismatch), and its replies; with aos-certd gone, the
# bus's error passes through and StartProvisioning names the step; the daemon's introspection
# matches dbus-interfaces/org.aosedge.Provisioning1.xml member by member.
. "$(dirname "$0")/lib.sh"

prov_harness_init
require_provisiond
command -v python3 >/dev/null || harness_skip "missing tool: python3"
start_bus || harness_finish
start_polkitd || harness_finish
setup_softhsm

PW='pass-Prov-Pw-2cf871'

write_config
module iam pkcs11 ecdsa "clientAuth" "" 2
module online pkcs11 ecdsa "" "" 1 SelfSigned=yes
module sm sw ecdsa "clientAuth" "" 3
module offline sw ecdsa "" "" 1 SelfSigned=yes
module retired sw ecdsa "" "" 2 Disabled=yes
node_section
assert_ok start_certd || harness_finish
assert_ok start_provisiond --provisioning || harness_finish

# same_error WHAT PROV_CMD... -- CERTS_CMD...: both fail with the same "Error <name>: <message>".
same_error() {
        local what=$1 prov=()
        shift
        while [[ $1 != -- ]]; do
                prov+=("$1")
                shift
        done
        shift
        run "$@"
        local want=$ERR
        if run "${prov[@]}"; then
                fail "$what: succeeded through aos-provisiond"
                return 1
        fi
        assert_eq "$want" "$ERR" "$what: the same error as from aos-certd"
}

section "GetCertTypes"
assert_ok prov_call GetCertTypes s ""
assert_eq "iam sm" "$(json_strings "$OUT" | xargs)" "GetCertTypes leaves out SelfSigned and disabled types"
assert_ok certs_call GetCertTypes
assert_eq "iam online sm offline" "$(json_strings "$OUT" | xargs)" "aos-certd's own list"

section "errors of aos-certd pass through unchanged"
# Not owned yet, and no verifier here: aos-certd decides.
same_error "CreateKey before ownership" prov_try CreateKey ssss "" iam node-x "$PW" -- \
        certs_try CreateKey sss iam node-x "$PW"
assert_match "$E_NOT_OWNED" "$ERR" "it is NotOwned"
same_error "CreateKey of an unknown type" prov_try CreateKey ssss "" nosuch node-x "$PW" -- \
        certs_try CreateKey sss nosuch node-x "$PW"
assert_match "$E_NOT_FOUND" "$ERR" "it is NotFound"
same_error "ApplyCert of an unknown type" prov_try ApplyCert sss "" nosuch "x" -- certs_try ApplyCert ss nosuch "x"

assert_ok prov_call StartProvisioning ss "" "$PW"
assert_eq 1 "$(list_count online)" "online got its self-signed certificate"
assert_eq 1 "$(list_count offline)" "offline got its self-signed certificate"

same_error "CreateKey with a control character in the subject" \
        prov_try CreateKey ssss "" iam "$(printf 'bad\001cn')" "$PW" -- certs_try CreateKey sss iam "$(printf 'bad\001cn')" "$PW"
assert_match "$E_INVALID_ARGS" "$ERR" "it is InvalidArgs"
long=$(printf 'c%.0s' {1..100})
same_error "CreateKey with a long subject" prov_try CreateKey ssss "" iam "$long" "$PW" -- \
        certs_try CreateKey sss iam "$long" "$PW"
same_error "ApplyCert with garbage" prov_try ApplyCert sss "" iam "garbage" -- certs_try ApplyCert ss iam "garbage"
assert_match "$E_INVALID_CHAIN" "$ERR" "it is InvalidChain"
same_error "ApplyCert with an empty chain" prov_try ApplyCert sss "" iam "" -- certs_try ApplyCert ss iam ""

assert_ok prov_call CreateKey ssss "" iam "" "$PW"
reply_string "$OUT" >"$D/iam.csr"
assert_ok sign_csr "$D/iam.csr" "$D/other.pem" other days=100
same_error "ApplyCert of a chain to another root" prov_try ApplyCert sss "" iam "$(cat "$D/other.pem")" -- \
        certs_try ApplyCert ss iam "$(cat "$D/other.pem")"
assert_match "$E_INVALID_CHAIN" "$ERR" "it is InvalidChain"
assert_ok make_csr "$D/foreign.key" "$D/foreign.csr" foreign
assert_ok sign_csr "$D/foreign.csr" "$D/foreign.pem" ca days=100
same_error "ApplyCert for a key the module is not waiting for" \
        prov_try ApplyCert sss "" iam "$(cat "$D/foreign.pem")" -- certs_try ApplyCert ss iam "$(cat "$D/foreign.pem")"
assert_match "$E_KEY_MISMATCH" "$ERR" "it is KeyMismatch"

section "replies pass through"
assert_ok sign_csr "$D/iam.csr" "$D/iam.pem" ca days=100
assert_ok prov_call ApplyCert sss "" iam "$(cat "$D/iam.pem")"
info=$OUT
assert_eq "$(cert_serial "$D/iam.pem")" "$(json_get "$info" Serial)" "Serial"
assert_eq "$(cert_fingerprint "$D/iam.pem")" "$(json_get "$info" Fingerprint)" "Fingerprint"
for k in Type CertURL KeyURL Subject Issuer IssuerDER Serial NotBefore NotAfter Fingerprint; do
        assert_eq "$(latest_field iam "$k")" "$(json_get "$info" "$k")" "info $k as aos-certd reports it"
done
# The same chain again: aos-certd's "already applied" answer, unchanged.
assert_ok prov_call ApplyCert sss "" iam "$(cat "$D/iam.pem")"
assert_eq "$(json_get "$info" Fingerprint)" "$(json_get "$OUT" Fingerprint)" "applying twice is harmless"

assert_ok prov_call CreateKey ssss "" sm "sm-subject" "$PW"
reply_string "$OUT" >"$D/sm.csr"
assert_match "CN=sm-subject" "$(certtool --crq-info --infile "$D/sm.csr" 2>/dev/null | grep -m1 'Subject:')" \
        "CreateKey returns aos-certd's CSR"

section "aos-certd is not running"
stop_certd
assert_error "org.freedesktop.DBus.Error.ServiceUnknown|org.freedesktop.DBus.Error.NameHasNoOwner" \
        prov_try CreateKey ssss "" iam "" "$PW"
assert_error "org.freedesktop.DBus.Error.ServiceUnknown|org.freedesktop.DBus.Error.NameHasNoOwner" \
        prov_try ApplyCert sss "" iam "$(cat "$D/iam.pem")"
assert_error "org.freedesktop.DBus.Error.ServiceUnknown|org.freedesktop.DBus.Error.NameHasNoOwner" \
        prov_try StartProvisioning ss "" "$PW"
assert_match "Clear of module iam failed: org.freedesktop.DBus.Error.(ServiceUnknown|NameHasNoOwner)" "$ERR" \
        "StartProvisioning names the step, module and error"
assert_true "no verifier after the failed StartProvisioning" test ! -e "$PROV_STATE_FILE.password"
assert_true "the daemon still runs" provisiond_alive
assert_ok start_certd
assert_ok prov_call StartProvisioning ss "" "$PW"

section "introspection matches dbus-interfaces/org.aosedge.Provisioning1.xml"
busctl --system introspect --xml-interface "$PROV_DEST" "$PROV_PATH" >"$D/introspect.xml"
assert_true "introspected" test -s "$D/introspect.xml"
run python3 - "$AOS_TEST_SRCDIR/dbus-interfaces/org.aosedge.Provisioning1.xml" "$D/introspect.xml" "$PROV_IFACE" <<'PY'
import sys
import xml.etree.ElementTree as ET

def members(path, iface):
    root = ET.parse(path).getroot()
    for i in root.iter("interface"):
        if i.get("name") != iface:
            continue
        out = []
        for m in i:
            notes = sorted((a.get("name"), a.get("value")) for a in m.findall("annotation"))
            if m.tag == "property":
                out.append(("property", m.get("name"), m.get("type"), m.get("access"), notes))
            elif m.tag in ("method", "signal"):
                args = [(a.get("name"), a.get("type"), a.get("direction", "in" if m.tag == "method" else None))
                        for a in m.findall("arg")]
                out.append((m.tag, m.get("name"), args, notes))
        return out
    sys.exit(f"{path}: no interface {iface}")

ref, live = members(sys.argv[1], sys.argv[3]), members(sys.argv[2], sys.argv[3])
bad = 0
for kind in ("method", "signal", "property"):
    a = {m[1]: m for m in ref if m[0] == kind}
    b = {m[1]: m for m in live if m[0] == kind}
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            print(f"{kind} {name}: XML {a.get(name)} != daemon {b.get(name)}")
            bad = 1
    print(f"{kind} names: {' '.join(sorted(a))}")
sys.exit(bad)
PY
if ((RC == 0)); then
        pass "every method, signal and property agrees (names, arguments, types, annotations)"
        printf '%s\n' "$OUT" | sed 's/^/# /'
else
        fail "the daemon and the XML disagree"
        printf '%s\n' "$OUT" "$ERR" | sed 's/^/    /'
fi

assert_no_secret_in_provisiond_log "$PW"
stop_provisiond
stop_certd
harness_finish
