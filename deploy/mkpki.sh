#!/bin/sh
# mkpki.sh DIR — throw-away test PKI for d4hub (tests, quickstart). Not for production.
# mkpki.sh DIR hub NAME HUB_UUID [ORG] — also a federation identity for one hub (below).
#
# Makes, in DIR (created if missing):
#   ca.crt ca.key               test CA (basicConstraints CA:true)
#   hub.crt hub.key             hub server cert signed by ca: SAN IP:127.0.0.1..127.0.0.9, IP:::1,
#                               DNS:localhost; EKU serverAuth+clientAuth (also usable for federation mTLS)
#   sensor.crt sensor.key       client cert signed by ca (EKU clientAuth)
#   other-ca.crt other-ca.key   an unrelated CA, for negative tests
#   other-hub.crt other-hub.key a hub cert (same SANs) signed by other-ca, for negative tests
# With "hub NAME HUB_UUID [ORG]" (ORG defaults to "org"), also:
#   ORG-ca.crt ORG-ca.key       the organisation's CA (one per ORG, shared by its hubs)
#   NAME.crt NAME.key           the hub's federation certificate signed by ORG-ca: EKU
#                               serverAuth+clientAuth, SAN URI:urn:uuid:HUB_UUID (dashed, lower
#                               case), IP:127.0.0.1..127.0.0.9, DNS:localhost -- what d4hub -n
#                               checks for [federation] cert (docs/federation.md "Identity").
#                               Re-issued when it names another uuid.
# EC P-256 keys, mode 600. Idempotent: existing files are kept; a certificate is
# re-issued only when missing or when its CA was (re)created in this run, so the
# set always verifies. openssl CLI only. Prints nothing on success; on failure
# prints openssl's output and exits non-zero.
set -eu

usage() {
	echo "usage: $0 DIR [hub NAME HUB_UUID [ORG]]" >&2
	exit 2
}
[ $# -ge 1 ] && [ -n "$1" ] || usage
DIR=$1
HUB_NAME= HUB_URN= ORG=org
if [ $# -gt 1 ]; then
	[ "$2" = hub ] && [ $# -ge 4 ] && [ $# -le 5 ] || usage
	HUB_NAME=$3
	ORG=${5:-org}
	case $HUB_NAME$ORG in *[!A-Za-z0-9_-]*) echo "mkpki.sh: NAME and ORG: letters, digits, _ and - only" >&2; exit 2 ;; esac
	# 32 hex digits, dashes allowed anywhere: the URN form is 8-4-4-4-12, lower case
	hex=$(printf '%s' "$4" | tr -d '-' | tr 'A-F' 'a-f')
	case $hex in *[!0-9a-f]*) usage ;; esac
	[ ${#hex} -eq 32 ] || usage
	HUB_URN=urn:uuid:$(printf '%s' "$hex" | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/')
elif [ $# -ne 1 ]; then
	usage
fi
mkdir -p "$DIR"
umask 077

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
LOG=$TMP/log

run() {
	if ! "$@" >"$LOG" 2>&1; then
		echo "mkpki.sh: failed: $*" >&2
		cat "$LOG" >&2
		exit 1
	fi
}

# newkey NAME: makes DIR/NAME.key unless present. Returns 0 if created.
newkey() {
	if [ -s "$DIR/$1.key" ]; then
		chmod 600 "$DIR/$1.key"
		return 1
	fi
	run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DIR/$1.key.tmp"
	chmod 600 "$DIR/$1.key.tmp"
	mv "$DIR/$1.key.tmp" "$DIR/$1.key"
	return 0
}

serial() {
	# 120 random bits, a positive serial below 2^159 as RFC 5280 wants.
	echo "0x$(openssl rand -hex 15)"
}

# mkca NAME CN: self-signed CA. Prints "new" if the certificate was created.
mkca() {
	fresh=0
	newkey "$1" && fresh=1
	if [ $fresh -eq 1 ] || [ ! -s "$DIR/$1.crt" ]; then
		run openssl req -new -x509 -key "$DIR/$1.key" -out "$DIR/$1.crt.tmp" -days 3650 -sha256 \
			-set_serial "$(serial)" -subj "/O=d4hub test/CN=$2" \
			-addext "basicConstraints=critical,CA:true" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-addext "subjectKeyIdentifier=hash"
		chmod 644 "$DIR/$1.crt.tmp"
		mv "$DIR/$1.crt.tmp" "$DIR/$1.crt"
		echo new
	fi
}

# mkleaf NAME CA CN EXTFILE FORCE: certificate signed by CA.
mkleaf() {
	fresh=0
	newkey "$1" && fresh=1
	if [ $fresh -eq 1 ] || [ "$5" = new ] || [ ! -s "$DIR/$1.crt" ]; then
		run openssl req -new -key "$DIR/$1.key" -out "$TMP/$1.csr" -subj "/O=d4hub test/CN=$3"
		run openssl x509 -req -in "$TMP/$1.csr" -CA "$DIR/$2.crt" -CAkey "$DIR/$2.key" \
			-set_serial "$(serial)" -days 3650 -sha256 -extfile "$4" -out "$DIR/$1.crt.tmp"
		chmod 644 "$DIR/$1.crt.tmp"
		mv "$DIR/$1.crt.tmp" "$DIR/$1.crt"
	fi
}

cat >"$TMP/hub.ext" <<'EOF'
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,IP:127.0.0.4,IP:127.0.0.5,IP:127.0.0.6,IP:127.0.0.7,IP:127.0.0.8,IP:127.0.0.9,IP:::1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
cat >"$TMP/sensor.ext" <<'EOF'
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

ca_state=$(mkca ca "d4hub test CA")
other_state=$(mkca other-ca "unrelated test CA")
mkleaf hub ca localhost "$TMP/hub.ext" "$ca_state"
mkleaf sensor ca "d4 sensor" "$TMP/sensor.ext" "$ca_state"
mkleaf other-hub other-ca localhost "$TMP/hub.ext" "$other_state"

if [ -n "$HUB_NAME" ]; then
	cat >"$TMP/fed.ext" <<EOF
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:$HUB_URN,IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,IP:127.0.0.4,IP:127.0.0.5,IP:127.0.0.6,IP:127.0.0.7,IP:127.0.0.8,IP:127.0.0.9,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	org_state=$(mkca "$ORG-ca" "d4hub test $ORG CA")
	# a certificate for another uuid (the name reused) is issued again
	if [ -s "$DIR/$HUB_NAME.crt" ] && ! openssl x509 -in "$DIR/$HUB_NAME.crt" -noout -ext subjectAltName 2>/dev/null |
		grep -q "URI:$HUB_URN"; then
		org_state=new
	fi
	mkleaf "$HUB_NAME" "$ORG-ca" "$HUB_NAME" "$TMP/fed.ext" "$org_state"
fi
