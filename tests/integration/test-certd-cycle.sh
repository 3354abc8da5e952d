#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2046 # $(ay_args ...) is split into busctl's "ay" arguments on purpose
# aos-certd, the whole cycle: SetOwner, CreateKey (the CSR's CN, EKUs, SANs, key type), sign,
# ApplyCert (the info dict), GetCert, ListCerts, the Module objects, the keys on the token,
# CertChanged, CreateSelfSignedCert, renewal, Clear. Modules: ECDSA with EKUs and SANs (iam),
# RSA without either (sm), a self-signed one (online), a file-backed one (cm). The first three
# on a PKCS#11 token or, with AOS_IT_PLUGIN=tpm, in a TPM.
. "$(dirname "$0")/lib.sh"

harness_init
require_certd
start_bus || harness_finish
start_polkitd || harness_finish
setup_keystore || harness_finish

PW='cycle-Owner-Pw-51f7c2'
TPM_OWNER_PW=$PW

write_config
module iam "$KS" ecdsa "serverAuth clientAuth" "iam.local localhost" 2
module sm "$KS" rsa "" "" 2
module online "$KS" ecdsa "clientAuth" "" 1 SelfSigned=yes
module cm sw ecdsa "serverAuth" "cm.local" 2
assert_ok start_certd || harness_finish

section "types"
assert_ok certs_call GetCertTypes
assert_eq "iam sm online cm" "$(json_strings "$OUT" | xargs)" "GetCertTypes, config order"
assert_ok certs_prop "$CERTS_PATH" "$CERTS_IFACE" CertTypes
assert_eq "iam sm online cm" "$(json_strings "$OUT" | xargs)" "property CertTypes"

section "before SetOwner"
assert_error "$E_NOT_OWNED" certs_try CreateKey sss iam node-1 "$PW"
assert_ok certs_call ListCerts s iam
assert_eq 0 "$(json_count "$OUT" Serial)" "no certificates yet"
assert_error "$E_NOT_FOUND" certs_try GetCert says iam 0 ""

section "iam: ECDSA P-384, EKU serverAuth+clientAuth, SANs"
assert_ok certs_call SetOwner ss iam "$PW"
if [[ $KS == pkcs11 ]]; then
        assert_true "PIN file created" test -s "$(pin_file iam)"
        assert_eq 600 "$(stat -c %a "$(pin_file iam)" 2>/dev/null)" "PIN file mode"
        run softhsm2-util --show-slots
        assert_match 'Label:[[:space:]]+iam' "$OUT" "token 'iam' initialized by SetOwner"
else
        auth=$(tpm_auth_file)
        assert_true "TPM secret file created" test -s "$auth"
        assert_eq 600 "$(stat -c %a "$auth" 2>/dev/null)" "TPM secret file mode"
        run tpm2t getcap properties-variable
        assert_match 'ownerAuthSet:[[:space:]]+1' "$OUT" "the TPM is owned after SetOwner"
        assert_true "storage key persisted at $TPM_SRK" tpm_has_handle "$TPM_SRK"
        assert_fail tpm2t changeauth -c o -p "" "$PW"
fi

assert_ok create_key iam node-1 "$PW" "$D/iam1.csr"
run certtool --crq-info --infile "$D/iam1.csr"
crq=$OUT
assert_match 'Subject: CN=node-1$' "$crq" "CSR subject"
assert_match 'Subject Public Key Algorithm: EC/ECDSA' "$crq" "CSR key type"
assert_match 'Curve:[[:space:]]+SECP384R1' "$crq" "CSR curve P-384"
assert_match 'TLS WWW Server' "$crq" "CSR EKU serverAuth (1.3.6.1.5.5.7.3.1)"
assert_match 'TLS WWW Client' "$crq" "CSR EKU clientAuth (1.3.6.1.5.5.7.3.2)"
assert_match 'DNSname: iam.local' "$crq" "CSR SAN iam.local"
assert_match 'DNSname: localhost' "$crq" "CSR SAN localhost"
assert_match 'Self signature: verified' "$crq" "CSR self-signature"
assert_match 'Signature Algorithm: ECDSA-SHA384' "$crq" "CSR signed with SHA-384"

assert_eq 1 "$(ks_key_count iam)" "one key of iam in the $KS storage"
if [[ $KS == pkcs11 ]]; then
        run p11 iam --list-all-privkeys "pkcs11:token=iam"
        assert_match 'Type: Private key \(EC/ECDSA-SECP384R1\)' "$OUT" "p11tool: EC P-384 key"
        assert_match 'Label: iam' "$OUT" "p11tool: CKA_LABEL = type"
        assert_match 'CKA_SENSITIVE' "$OUT" "p11tool: key is sensitive"
        assert_match 'CKA_NEVER_EXTRACTABLE|CKA_EXTRACTABLE' "$OUT" "p11tool: flags shown"
        assert_no_match 'CKA_EXTRACTABLE' "$OUT" "p11tool: key is not extractable"
else
        iam_handle=$(tpm_type_handles iam)
        run tpm2t readpublic -c "$iam_handle"
        pub=$(printf '%s' "$OUT" | tr '\n' ' ')
        assert_match 'type: +value: ecc ' "$pub" "tpm2_readpublic: ECC key"
        assert_match 'curve-id: +value: NIST p384 ' "$pub" "tpm2_readpublic: P-384"
        assert_match 'fixedtpm' "$pub" "tpm2_readpublic: fixedTPM (never leaves the TPM)"
        assert_match 'fixedparent' "$pub" "tpm2_readpublic: fixedParent"
        assert_match 'sensitivedataorigin' "$pub" "tpm2_readpublic: generated inside"
        assert_match '\|sign' "$pub" "tpm2_readpublic: a signing key"
        assert_no_match 'decrypt' "$pub" "tpm2_readpublic: not a decryption key"
        assert_match "$(tpm_block iam | cut -c1-8)" "$iam_handle" "the key's handle is in iam's block"
fi

assert_ok sign_csr "$D/iam1.csr" "$D/iam1.pem" intermediate
start_monitor sig "type='signal',interface='$CERTS_IFACE',member='CertChanged'"
start_monitor props "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path='$(module_path iam)'"
assert_ok apply iam "$D/iam1.pem"
info=$OUT
serial1=$(cert_serial "$D/iam1.pem")
assert_eq iam "$(json_get "$info" Type)" "info Type"
assert_eq "CN=node-1" "$(json_get "$info" Subject)" "info Subject"
assert_eq "$(cert_issuer "$D/iam1.pem")" "$(json_get "$info" Issuer)" "info Issuer"
assert_eq "$serial1" "$(json_get "$info" Serial)" "info Serial (lowercase hex)"
assert_eq "$(cert_not_after_us "$D/iam1.pem")" "$(json_get "$info" NotAfter)" "info NotAfter (µs)"
assert_eq "$(cert_not_before_us "$D/iam1.pem")" "$(json_get "$info" NotBefore)" "info NotBefore (µs)"
assert_eq "$(cert_fingerprint "$D/iam1.pem")" "$(json_get "$info" Fingerprint)" "info Fingerprint (SHA-256)"
issuer_der=$(json_get "$info" IssuerDER)
assert_match '^\[48,' "$issuer_der" "info IssuerDER is a DER SEQUENCE"
cert_url=$(json_get "$info" CertURL)
key_url=$(json_get "$info" KeyURL)
if [[ $KS == pkcs11 ]]; then
        assert_match '^pkcs11:.*token=iam' "$cert_url" "CertURL"
        assert_match '^pkcs11:.*type=private' "$key_url" "KeyURL"
        assert_match 'pin-source=' "$key_url" "KeyURL names its pin-source"
        assert_no_match 'pin-value' "$cert_url $key_url" "no pin-value in URLs"
        run p11 iam --list-all-certs "pkcs11:token=iam"
        assert_match 'Label: iam' "$OUT" "certificate objects labelled iam"
else
        assert_eq "file:$D/certs/iam/$iam_handle.pem" "$cert_url" "CertURL: StorageDir/iam/<handle>.pem"
        assert_match "^tpm2:handle=$iam_handle\\?tcti=swtpm:path=$D/tpm.sock\$" "$key_url" "KeyURL: tpm2:handle=...?tcti=..."
        assert_eq 600 "$(stat -c %a "$(url_file_path "$cert_url")" 2>/dev/null)" "certificate file mode"
        # The certificate's public key is the key in the TPM.
        run tpm2t readpublic -c "$iam_handle" -f pem -o "$D/iam.tpm.pub"
        tpm_id=$(certtool --pubkey-info --infile "$D/iam.tpm.pub" 2>/dev/null | sed -n 's/^[[:space:]]*sha256:\([0-9a-f]*\).*/\1/p' | head -n1)
        cert_id=$(certtool -i --infile "$D/iam1.pem" 2>/dev/null | awk '/Public Key ID:/ {f = 1} f && /sha256:/ {sub(/.*sha256:/, ""); print; exit}')
        assert_ne "" "$tpm_id" "public key ID of the TPM key"
        assert_eq "$cert_id" "$tpm_id" "tpm2_readpublic shows the certificate's public key"
fi
assert_true "certificate in the $KS storage" ks_has_url iam "$cert_url"
assert_true "key in the $KS storage" ks_has_url iam "$key_url"
if wait_until 5 grep -q "$serial1" "$(monitor_file sig)"; then
        pass "CertChanged seen with the new serial"
else
        fail "no CertChanged with serial $serial1"
        sed 's/^/    /' "$(monitor_file sig)" | head -n 20
fi
assert_match 'string "iam"' "$(cat "$(monitor_file sig)")" "CertChanged names the type"
assert_match "path=$CERTS_PATH;" "$(cat "$(monitor_file sig)")" "CertChanged from the manager object"
# The Module object's Certificates property is declared EMITS_CHANGE: GUIs follow it.
if wait_until 5 grep -q '"Certificates"' "$(monitor_file props)"; then
        pass "PropertiesChanged for Module.Certificates after ApplyCert"
else
        fail "no PropertiesChanged for $(module_path iam) Certificates after ApplyCert"
        sed 's/^/    /' "$(monitor_file props)" | head -n 10
fi

section "GetCert and ListCerts"
assert_ok certs_call GetCert says iam 0 ""
assert_eq "$serial1" "$(json_get "$OUT" Serial)" "GetCert latest"
assert_ok certs_call GetCert says iam $(ay_args "$issuer_der") "$serial1"
assert_eq "$(cert_fingerprint "$D/iam1.pem")" "$(json_get "$OUT" Fingerprint)" "GetCert by issuer and serial"
assert_error "$E_NOT_FOUND" certs_try GetCert says iam $(ay_args "$issuer_der") "0badc0ffee"
assert_error "$E_NOT_FOUND" certs_try GetCert says sm $(ay_args "$issuer_der") "$serial1"
assert_ok certs_call ListCerts s iam
assert_eq 1 "$(json_count "$OUT" Serial)" "ListCerts count"
assert_eq "$serial1" "$(json_get "$OUT" Serial)" "ListCerts serial"
assert_eq "$cert_url" "$(json_get "$OUT" CertURL)" "ListCerts CertURL"

section "Module object"
mp=$(module_path iam)
prop() { certs_prop "$mp" "$MODULE_IFACE" "$1"; }
assert_ok prop Type
assert_eq iam "$(json_data "$OUT")" "Module.Type"
assert_ok prop Plugin
assert_eq "$KS" "$(json_data "$OUT")" "Module.Plugin"
assert_ok prop Algorithm
assert_eq ecdsa "$(json_data "$OUT")" "Module.Algorithm"
assert_ok prop MaxItems
assert_eq 2 "$(json_data "$OUT")" "Module.MaxItems"
assert_ok prop ExtendedKeyUsage
assert_eq "serverAuth clientAuth" "$(json_strings "$OUT" | xargs)" "Module.ExtendedKeyUsage"
assert_ok prop AlternativeNames
assert_eq "iam.local localhost" "$(json_strings "$OUT" | xargs)" "Module.AlternativeNames"
assert_ok prop SelfSigned
assert_eq false "$(json_data "$OUT")" "Module.SelfSigned"
assert_ok prop Certificates
assert_eq "$serial1" "$(json_all "$OUT" Serial | xargs)" "Module.Certificates"
assert_ok busctl --system introspect "$CERTS_DEST" "$mp" "$MODULE_IFACE"
assert_ok busctl --system tree "$CERTS_DEST"
for t in iam sm online cm; do
        assert_match "$(module_path "$t")" "$OUT" "module object for $t in the tree"
done

section "sm: RSA 2048, no EKU, no SANs"
assert_ok certs_call SetOwner ss sm "$PW"
assert_ok create_key sm node-1-sm "$PW" "$D/sm1.csr"
run certtool --crq-info --infile "$D/sm1.csr"
crq=$OUT
assert_match 'Subject: CN=node-1-sm$' "$crq" "CSR subject"
assert_match 'Subject Public Key Algorithm: RSA' "$crq" "CSR key type RSA"
assert_match '\(2048 bits\)' "$crq" "CSR RSA 2048"
assert_no_match 'Key Purpose|TLS WWW' "$crq" "CSR without EKU"
assert_no_match 'Subject Alternative Name' "$crq" "CSR without SANs"
assert_match 'Signature Algorithm: RSA-SHA256' "$crq" "CSR signed with SHA-256"
if [[ $KS == pkcs11 ]]; then
        run p11 sm --list-all-privkeys "pkcs11:token=sm"
        assert_match 'Type: Private key \(RSA-2048\)' "$OUT" "p11tool: RSA 2048 key"
else
        run tpm2t readpublic -c "$(tpm_type_handles sm)"
        assert_match 'type: +value: rsa ' "$(printf '%s' "$OUT" | tr '\n' ' ')" "tpm2_readpublic: RSA key"
        assert_match 'bits:[[:space:]]+2048' "$OUT" "tpm2_readpublic: RSA 2048"
fi
assert_ok sign_csr "$D/sm1.csr" "$D/sm1.pem" ca
assert_ok apply sm "$D/sm1.pem"
assert_eq "$(cert_serial "$D/sm1.pem")" "$(json_get "$OUT" Serial)" "sm info Serial"
assert_eq "$(cert_issuer "$D/sm1.pem")" "$(json_get "$OUT" Issuer)" "sm info Issuer (the root)"
assert_ok certs_prop "$(module_path sm)" "$MODULE_IFACE" ExtendedKeyUsage
assert_eq "" "$(json_strings "$OUT" | xargs)" "sm Module.ExtendedKeyUsage empty"
assert_ok certs_prop "$(module_path sm)" "$MODULE_IFACE" AlternativeNames
assert_eq "" "$(json_strings "$OUT" | xargs)" "sm Module.AlternativeNames empty"
assert_ok certs_prop "$(module_path sm)" "$MODULE_IFACE" Algorithm
assert_eq rsa "$(json_data "$OUT")" "sm Module.Algorithm"
assert_eq "$serial1" "$(latest_field iam Serial)" "iam untouched by sm"

section "online: CreateSelfSignedCert"
assert_ok certs_call SetOwner ss online "$PW"
assert_ok certs_call CreateSelfSignedCert ss online "$PW"
info=$OUT
ss_serial=$(json_get "$info" Serial)
assert_match '^[0-9a-f]+$' "$ss_serial" "self-signed Serial"
assert_eq "$(json_get "$info" Subject)" "$(json_get "$info" Issuer)" "self-signed: Subject = Issuer"
assert_cmp "$(json_get "$info" NotAfter)" -gt "$(($(date +%s) * 1000000))" "self-signed NotAfter in the future"
assert_true "self-signed certificate in the $KS storage" ks_has_url online "$(json_get "$info" CertURL)"
assert_ok certs_call GetCert says online 0 ""
assert_eq "$ss_serial" "$(json_get "$OUT" Serial)" "GetCert online"
assert_ok certs_prop "$(module_path online)" "$MODULE_IFACE" SelfSigned
assert_eq true "$(json_data "$OUT")" "online Module.SelfSigned"
if wait_until 5 grep -q "$ss_serial" "$(monitor_file sig)"; then
        pass "CertChanged for the self-signed certificate"
else
        fail "no CertChanged with serial $ss_serial"
fi
assert_error "$E_NOT_SUPPORTED" certs_try CreateSelfSignedCert ss iam "$PW"

section "cm: file-backed module"
assert_ok certs_call SetOwner ss cm "$PW"
assert_ok issue cm node-1 "$PW" "$D/cm1.pem" ca
run certtool --crq-info --infile "$D/cm1.pem.csr"
assert_match 'DNSname: cm.local' "$OUT" "cm CSR SAN"
assert_ok apply cm "$D/cm1.pem"
cm_cert=$(json_get "$OUT" CertURL)
cm_key=$(json_get "$OUT" KeyURL)
assert_match '^file:' "$cm_cert" "cm CertURL is file:"
assert_match '^file:' "$cm_key" "cm KeyURL is file:"
cm_key_path=${cm_key#file:}
cm_key_path=${cm_key_path#//}
cm_cert_path=${cm_cert#file:}
cm_cert_path=${cm_cert_path#//}
assert_match "^$D/certs/" "$cm_key_path" "cm key under StorageDir"
assert_eq 600 "$(stat -c %a "$cm_key_path" 2>/dev/null)" "cm key file mode"
assert_true "cm certificate file holds the certificate" grep -q "$(sed -n 2p "$D/cm1.pem")" "$cm_cert_path"
assert_eq 600 "$(stat -c %a "$cm_cert_path" 2>/dev/null)" "cm certificate file mode"

section "renewal"
assert_ok issue iam node-1 "$PW" "$D/iam2.pem" intermediate days=400
assert_ok apply iam "$D/iam2.pem"
serial2=$(cert_serial "$D/iam2.pem")
assert_eq "$serial2" "$(latest_field iam Serial)" "GetCert latest is the renewed certificate"
assert_eq "$(printf '%s\n' "$serial1" "$serial2" | sort | xargs)" "$(list_serials iam)" "both certificates listed"
assert_eq 2 "$(ks_key_count iam)" "two keys in the $KS storage"
if wait_until 5 grep -q "$serial2" "$(monitor_file sig)"; then
        pass "CertChanged for the renewal"
else
        fail "no CertChanged with serial $serial2"
fi

section "Clear"
assert_ok certs_call Clear s iam
assert_eq "" "$(list_serials iam)" "ListCerts iam empty after Clear"
assert_error "$E_NOT_FOUND" certs_try GetCert says iam 0 ""
assert_eq 0 "$(ks_object_count iam)" "no iam objects left in the $KS storage"
assert_eq "$(cert_serial "$D/sm1.pem")" "$(list_serials sm)" "sm kept"
assert_eq "$ss_serial" "$(list_serials online)" "online kept"
assert_true "cm key file kept" test -f "$cm_key_path"
assert_ok certs_call Clear s cm
assert_true "cm key file removed by Clear" test ! -e "$cm_key_path"
assert_eq "" "$(list_serials cm)" "ListCerts cm empty after Clear"
# Owned still: a new key needs no new SetOwner.
assert_ok create_key iam node-1 "$PW" "$D/iam3.csr"

section "secrets"
assert_no_secret_in_logs "$PW" "$(ks_secret iam)" "$(ks_secret sm)" "$(ks_secret online)"
stop_monitor sig
stop_monitor props
for f in sig props; do
        for secret in "$PW" "$(ks_secret iam)"; do
                if grep -qF -- "$secret" "$(monitor_file $f)"; then
                        fail "a password or PIN appears in a signal ($f)"
                fi
        done
done
pass "no password or PIN in CertChanged / PropertiesChanged"
assert_true "no PIN or password in the module properties" bash -c '! busctl --system --json=short get-property '"$CERTS_DEST $mp $MODULE_IFACE"' Certificates | grep -qF -- "$1"' _ "$PW"

stop_certd
harness_finish
