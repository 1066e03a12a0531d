#!/bin/sh
# The certificates the TLS tests use, made with the openssl CLI into the directory $1:
#   ca.pem / ca-key.pem          a test CA
#   server.pem / server-key.pem  localhost and 127.0.0.1, signed by the CA
#   client.pem / client-key.pem  a client certificate for mutual TLS, signed by the CA
#   expired.pem / expired-key.pem  localhost, signed by the CA, expired in 2020
#   other-ca.pem                 a CA that signed none of these
set -eu
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca-key.pem
openssl req -x509 -new -key ca-key.pem -out ca.pem -days 2 -subj "/CN=swift-reactor test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
key other-ca-key.pem
openssl req -x509 -new -key other-ca-key.pem -out other-ca.pem -days 2 -subj "/CN=another CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
sign() {  # name subject extensions [startdate enddate]
    key "$1-key.pem"
    openssl req -new -key "$1-key.pem" -out "$1.csr" -subj "$2"
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out "$1.pem" -days 2 \
        -extfile "$1.ext" 2>/dev/null
}
sign server /CN=localhost "subjectAltName=DNS:localhost,IP:127.0.0.1"
sign client "/CN=test client" "extendedKeyUsage=clientAuth"
# An expired certificate needs explicit dates, which only `openssl ca` takes.
key expired-key.pem
openssl req -new -key expired-key.pem -out expired.csr -subj /CN=localhost
mkdir -p ca-db && : > ca-db/index.txt && echo 1000 > ca-db/serial
cat > ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = leaf
[any]
commonName = supplied
[leaf]
subjectAltName = DNS:localhost,IP:127.0.0.1
CNF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca-key.pem -in expired.csr -out expired.pem \
    -startdate 20200101000000Z -enddate 20200102000000Z -notext 2>/dev/null
