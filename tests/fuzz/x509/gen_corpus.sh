#!/bin/sh
# Writes the seed corpus of fuzz_x509 (corpus/): certificates made with the
# openssl command — RSA (e = 65537 and 3), EC P-256 and P-384, Ed25519, DSA,
# a CA and a leaf with DNS, IP, email and URI SANs, validity from 1950 to
# 9999 (openssl ca), a negative serial — the certificates of
# tests/data/tls/openssl-lo.pcap (from its ja3-jl lines), and a few cut and
# malformed inputs. Needs openssl, base64. Usage: gen_corpus.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../../data/tls
out=$here/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
cd "$tmp"
req() { openssl req -new -x509 -days 30 -nodes -utf8 -sha256 "$@"; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa.key 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -pkeyopt rsa_keygen_pubexp:3 -out rsa3.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key
openssl genpkey -algorithm ED25519 -out ed.key
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:1024 -out dsa.param 2>/dev/null
openssl genpkey -paramfile dsa.param -out dsa.key
req -key rsa.key -subj '/C=LU/O=Example, Inc./CN=Corpus CA é' -addext 'basicConstraints=critical,CA:TRUE,pathlen:0' -outform DER -out "$out/ca-rsa.der"
req -key rsa3.key -subj '/CN=e3.test' -outform DER -out "$out/rsa-e3.der"
req -key p256.key -subj '/CN=p256.test' -addext 'subjectAltName=DNS:p256.test,IP:127.0.0.1,IP:::1' -outform DER -out "$out/ec-p256.der"
req -key p384.key -subj '/CN=p384.test' -outform DER -out "$out/ec-p384.der"
req -key ed.key -subj '/CN=ed.test' -outform DER -out "$out/ed25519.der"
req -key dsa.key -subj '/CN=dsa.test' -outform DER -out "$out/dsa.der"
openssl x509 -inform DER -in "$out/ca-rsa.der" -out ca.pem
openssl req -new -key p256.key -subj '/CN=leaf.test/emailAddress=ops@leaf.test' -out leaf.csr
printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:leaf.test,DNS:*.leaf.test,IP:192.0.2.1,IP:2001:db8::1,email:ops@leaf.test,URI:https://leaf.test/\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey rsa.key -set_serial -42 -days 30 -extfile leaf.ext -outform DER -out "$out/leaf-neg-serial.der" 2>/dev/null
# 1950 .. 9999 through openssl ca (req -x509 cannot set the dates)
mkdir -p ca && : > ca/index.txt && echo 01 > ca/serial
cat > ca.cnf <<CNF
[ca]
default_ca = d
[d]
dir = $tmp/ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
CNF
openssl req -new -key p256.key -subj '/CN=old.test' -out old.csr
openssl ca -batch -config ca.cnf -selfsign -keyfile p256.key -startdate 19500101000000Z -enddate 99991231235959Z -in old.csr -out old.pem 2>/dev/null
openssl x509 -in old.pem -outform DER -out "$out/dates-1950-9999.der"
# the fixture capture's certificates
i=0
grep -o '"Raw":"[A-Za-z0-9+/=]*"' "$data/ja3-jl/openssl-lo.d4hub.jsonl" | cut -d'"' -f4 | sort -u | while read -r b; do
	i=$((i + 1))
	printf '%s' "$b" | base64 -d > "$out/capture-$i.der"
done
# cut and malformed
head -c 300 "$out/ca-rsa.der" > "$out/cut-300"
printf '\060\200\000\000' > "$out/indefinite"
printf '\060\204\177\377\377\377' > "$out/huge-length"
{ cat "$out/ec-p256.der"; printf '\000'; } > "$out/trailing-byte"
