#!/bin/sh
# make_test_pki.sh - creates the test PKI in DIR, fresh each run, so no
# certificate in the repository can ever expire: a test CA, server and
# client leaves, and the broken files the configuration checks must reject.
#
# usage: make_test_pki.sh DIR
set -eu
dir=${1:?usage: make_test_pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
rm -f ./*.pem ./*.key ./*.crt ./*.csr ./*.srl ./*.ext

ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# Test CA (self-signed, CA:true).
ec ca.key
openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/O=mtatls test/CN=mtatls test CA" \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem 2>/dev/null

# leaf NAME CN SAN EKU: a CA-signed leaf certificate NAME.pem with key NAME.key.
leaf() {
    ec "$1.key"
    openssl req -new -key "$1.key" -subj "/O=mtatls test/CN=$2" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
        "$4" "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
leaf server mx.example.test "DNS:mx.example.test,DNS:localhost,IP:127.0.0.1" serverAuth
leaf client client.example.test "DNS:client.example.test" clientAuth
leaf other other.example.test "DNS:other.example.test" clientAuth

# Certificate and key in one file (tls_certificate without tls_key).
cat client.pem client.key > client-combined.pem
# A key that matches no certificate here.
ec stray.key
# An encrypted key: a mail server cannot type a passphrase.
openssl pkey -in client.key -aes256 -passout pass:secret -out encrypted.key 2>/dev/null
# A CA bundle with two certificates, an empty file and a file of garbage.
cat ca.pem server.pem > bundle.pem
: > empty.pem
printf 'this is not PEM\n' > garbage.pem
# DH parameters: a named 2048-bit group (instant) and a weak 1024-bit one.
openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out dh2048.pem 2>/dev/null
openssl genpkey -genparam -algorithm DH -pkeyopt dh_paramgen_prime_len:1024 -out dh1024.pem 2>/dev/null
touch .complete
