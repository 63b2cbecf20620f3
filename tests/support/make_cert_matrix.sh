#!/bin/sh
# make_cert_matrix.sh - creates, fresh at every test run, the certificate
# matrix the outbound-TLS client is tested against: one trust anchor the
# client is given (ca.pem), an intermediate CA, and one server leaf per case,
# each broken in exactly one way.  Nothing here is committed: a committed
# certificate expires and turns "good" into "expired" one day.
#
# usage: make_cert_matrix.sh DIR
#
# For every case NAME the directory holds
#   NAME.key        the server's private key
#   NAME.pem        the leaf certificate alone
#   NAME.chain.pem  what the server sends: the leaf, then any intermediate
# and DIR/cases.txt lists the cases, one a line:
#   NAME MX_NAME DESCRIPTION...
# MX_NAME is the name the client must check (--mx-name); the recipient
# domain used by the tests is example.net, which only case rcpt-domain names.
# The client trusts ca.pem only; other-ca.pem is the unknown root.
#
# Keys are EC P-256 (fast) except where RSA is the point.  Validity in the
# past or the future needs `openssl ca -startdate/-enddate` (OpenSSL 3.0's
# x509 has no -not_before), so every CA-signed certificate is issued through
# `openssl ca` with a throwaway configuration and database in DIR.
set -eu
dir=${1:?usage: make_cert_matrix.sh DIR}
mkdir -p "$dir"
cd "$dir"
rm -rf ./*.pem ./*.key ./*.csr ./*.ext ./cases.txt ./ca.cnf ./index.txt* ./serial* ./newcerts .complete
mkdir newcerts
: > index.txt
echo 1000 > serial

# The throwaway CA configuration: any subject, no uniqueness (the same
# subject is issued many times), extensions only from the -extfile.
cat > ca.cnf <<EOF
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
serial = ./serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
organizationName = optional
commonName = optional
EOF

O="/O=mtatls matrix"
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
fail() { echo "make_cert_matrix.sh: $*" >&2; exit 1; }

# issue ISSUER NAME SUBJECT EXTENSIONS [openssl ca options...]
# Signs NAME.key's request with ISSUER.pem/ISSUER.key; EXTENSIONS is the
# body of the extension section, one directive per line.
issue() {
    issuer=$1 name=$2 subject=$3 exts=$4
    shift 4
    printf '[ ext ]\n%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' "$exts" > "$name.ext"
    openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr" 2>/dev/null
    if ! openssl ca -batch -config ca.cnf -notext -cert "$issuer.pem" -keyfile "$issuer.key" \
        -in "$name.csr" -out "$name.pem" -subj "$subject" -extfile "$name.ext" -extensions ext \
        "$@" > "$name.log" 2>&1; then
        cat "$name.log" >&2
        fail "cannot issue $name"
    fi
    rm -f "$name.csr" "$name.ext" "$name.log"
}

# selfsigned NAME SUBJECT EXTENSIONS: a self-signed certificate for NAME.key.
selfsigned() {
    printf '[ req ]\ndistinguished_name=dn\n[ dn ]\n[ ext ]\n%s\nsubjectKeyIdentifier=hash\n' "$3" > "$1.ext"
    openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "$2" -config "$1.ext" -extensions ext \
        -out "$1.pem" 2>/dev/null || fail "cannot self-sign $1"
    rm -f "$1.ext"
}

CA_EXT='basicConstraints=critical,CA:true
keyUsage=critical,keyCertSign,cRLSign'
INT_EXT='basicConstraints=critical,CA:true,pathlen:0
keyUsage=critical,keyCertSign,cRLSign'
# leaf_ext SAN [EKU]: the extensions of a normal TLS server leaf.
leaf_ext() {
    printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s' "${2:-serverAuth}"
    if [ -n "$1" ]; then printf '\nsubjectAltName=%s' "$1"; fi
}

# ---- Certification authorities -------------------------------------------
# The root the client trusts (tls_ca).
ec ca.key
selfsigned ca "$O/CN=mtatls matrix root" "$CA_EXT"
# The intermediate that issues the normal leaves; servers send it.
ec intermediate.key
issue ca intermediate "$O/CN=mtatls matrix intermediate" "$INT_EXT" -days 30
# Another root, never given to the client.
ec other-ca.key
selfsigned other-ca "$O/CN=unknown root" "$CA_EXT"
# An "intermediate" whose basicConstraints say CA:false: it may not sign.
ec noca-intermediate.key
issue ca noca-intermediate "$O/CN=intermediate without CA flag" \
    'basicConstraints=critical,CA:false
keyUsage=critical,keyCertSign,cRLSign' -days 30
# An intermediate constrained to names under .other.test.
ec constrained-intermediate.key
issue ca constrained-intermediate "$O/CN=constrained intermediate" "$INT_EXT
nameConstraints=critical,permitted;DNS:.other.test" -days 30

: > cases.txt
# case_ NAME MX_NAME ISSUER SAN EKU CN DESCRIPTION [openssl ca options...]
# Issues leaf NAME from ISSUER ("self" for self-signed; SAN "none" for no
# subjectAltName), writes NAME.chain.pem (the leaf, then ISSUER when ISSUER
# is an intermediate) and appends the case to cases.txt.
case_() {
    name=$1 mx=$2 issuer=$3 san=$4 eku=$5 cn=$6 desc=$7
    shift 7
    [ -f "$name.key" ] || ec "$name.key"
    [ "$san" = none ] && san=
    if [ "$issuer" = self ]; then
        selfsigned "$name" "$O/CN=$cn" "$(leaf_ext "$san" "$eku")"
    else
        issue "$issuer" "$name" "$O/CN=$cn" "$(leaf_ext "$san" "$eku")" "$@"
    fi
    case $issuer in
    *intermediate) cat "$name.pem" "$issuer.pem" > "$name.chain.pem" ;;
    *) cp "$name.pem" "$name.chain.pem" ;;
    esac
    printf '%s %s %s\n' "$name" "$mx" "$desc" >> cases.txt
}
MX=mx.example.test
SAN=DNS:mx.example.test
SA=serverAuth
DAYS=30

# good: the normal case, leaf via the intermediate, SAN DNS:mx.example.test.
case_ good $MX intermediate $SAN $SA $MX "leaf via intermediate, SAN DNS:mx.example.test" -days "$DAYS"
# expired: validity entirely in the past.
case_ expired $MX intermediate $SAN $SA $MX "validity 2020-01-01..2020-02-01 (expired)" \
    -startdate 20200101000000Z -enddate 20200201000000Z
# not-yet-valid: validity entirely in the future.
case_ not-yet-valid $MX intermediate $SAN $SA $MX "validity starts 2099-01-01 (not yet valid)" \
    -startdate 20990101000000Z -enddate 20991231000000Z
# self-signed: the leaf signs itself; no chain to any trusted root.
case_ self-signed $MX self $SAN $SA $MX "self-signed leaf with the right name"
# unknown-root: issued by a root the client does not trust.
case_ unknown-root $MX other-ca $SAN $SA $MX "issued by a root the client does not have" -days "$DAYS"
# missing-intermediate: a good leaf, but the server sends only the leaf, so
# no chain can be built to the root (the client must not fetch it).
case_ missing-intermediate $MX intermediate $SAN $SA $MX "server sends the leaf without the intermediate" -days "$DAYS"
cp missing-intermediate.pem missing-intermediate.chain.pem
# wrong-host: a valid certificate for another name.
case_ wrong-host $MX intermediate DNS:other.example.test $SA other.example.test \
    "valid, but names other.example.test only" -days "$DAYS"
# cn-only: the name only in the subject CN, no subjectAltName at all (the CN
# counts only when there is no DNS SAN).
case_ cn-only $MX intermediate none $SA $MX "CN=mx.example.test, no subjectAltName" -days "$DAYS"
# san-mismatch: the CN matches, the DNS SAN does not; a DNS SAN makes the CN
# irrelevant, so this must fail the name check.
case_ san-mismatch $MX intermediate DNS:other.example.test $SA $MX \
    "CN=mx.example.test but SAN DNS:other.example.test" -days "$DAYS"
# wildcard: *.example.test matches mx.example.test (whole left-most label).
case_ wildcard $MX intermediate "DNS:*.example.test" $SA "*.example.test" "SAN DNS:*.example.test" -days "$DAYS"
# wildcard-tld: *.test covers one label under .test, not mx.example.test.
case_ wildcard-tld $MX intermediate "DNS:*.test" $SA "*.test" "SAN DNS:*.test (must not match two labels)" -days "$DAYS"
# wildcard-sub: *.sub.example.test is a different subtree.
case_ wildcard-sub $MX intermediate "DNS:*.sub.example.test" $SA "*.sub.example.test" \
    "SAN DNS:*.sub.example.test (must not match)" -days "$DAYS"
# wildcard-partial: m*.example.test; partial-label wildcards are refused
# (OpenSSL allows them unless X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS is set).
case_ wildcard-partial $MX intermediate "DNS:m*.example.test" $SA "m*.example.test" \
    "SAN DNS:m*.example.test (partial wildcard, refused)" -days "$DAYS"
# mixed-case: DNS names compare case-insensitively.
case_ mixed-case $MX intermediate DNS:MX.Example.TEST $SA MX.Example.TEST \
    "SAN DNS:MX.Example.TEST (case-insensitive match)" -days "$DAYS"
# trailing-dot: the absolute form of the name; the trailing dot is ignored.
case_ trailing-dot $MX intermediate DNS:mx.example.test. $SA mx.example.test. \
    "SAN DNS:mx.example.test. (trailing dot ignored)" -days "$DAYS"
# ip-san: an iPAddress SAN; the client connects to and checks 127.0.0.1.
case_ ip-san 127.0.0.1 intermediate IP:127.0.0.1 $SA 127.0.0.1 "SAN IP:127.0.0.1, checked as IP literal" -days "$DAYS"
# ip-as-dns: the address written as a DNS name: IP literals match only
# iPAddress SANs, so this fails for 127.0.0.1.
case_ ip-as-dns 127.0.0.1 intermediate DNS:127.0.0.1 $SA 127.0.0.1 \
    "SAN DNS:127.0.0.1 (IP written as a DNS name, must not match)" -days "$DAYS"
# wrong-eku: extendedKeyUsage clientAuth only; not usable by a server.
case_ wrong-eku $MX intermediate $SAN clientAuth $MX "EKU clientAuth only" -days "$DAYS"
# noca-intermediate: chain through an intermediate with CA:false.
case_ noca-intermediate $MX noca-intermediate $SAN $SA $MX "issued by an intermediate with CA:false" -days "$DAYS"
# weak-rsa: an RSA 1024-bit leaf key; too weak at security level 2.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out weak-rsa.key 2>/dev/null
case_ weak-rsa $MX intermediate $SAN $SA $MX "RSA 1024-bit leaf key (too weak)" -days "$DAYS"
# sha1: a leaf signed with SHA-1.
case_ sha1 $MX intermediate $SAN $SA $MX "leaf signed with SHA-1" -days "$DAYS" -md sha1
# name-constrained: the intermediate may only issue under .other.test, yet
# issued mx.example.test.
case_ name-constrained $MX constrained-intermediate $SAN $SA $MX \
    "intermediate permitted only .other.test issued mx.example.test" -days "$DAYS"
# rcpt-domain: names only the recipient domain example.net, which `host`
# accepts besides the MX host name.
case_ rcpt-domain $MX intermediate DNS:example.net $SA example.net \
    "SAN DNS:example.net only (the recipient domain)" -days "$DAYS"

# Sanity: every case has its three files, so a silent openssl failure
# cannot turn into a confusing handshake error in the tests.
while read -r name _; do
    for f in "$name.key" "$name.pem" "$name.chain.pem"; do
        [ -s "$f" ] || fail "missing $f"
    done
done < cases.txt
rm -rf newcerts index.txt* serial*
touch .complete
