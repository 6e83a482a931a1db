#!/usr/bin/env bash
# The federation listener ([federation] listen): a real d4hub, certificates
# made here with deploy/mkpki.sh and openssl, curl as the partner. An enabled
# partner's certificate gets GET /federation/v1/hello with the partner it
# was mapped to; every refusal happens in the TLS handshake (curl gets no
# HTTP status at all) and is counted with its reason in /metrics and logged
# with the peer address: no certificate, unknown CA (an unrelated CA, and
# another CA impersonating a partner's hub uuid), expired, serverAuth-only,
# a valid certificate of an unconfigured partner, of a disabled partner, a
# pin mismatch. A pinned partner with a CA of its own is accepted. Partner
# changes (disable, enable, delete) apply to the next handshake. TLS 1.2
# clients get the same (no certificate, accepted, unknown partner).
source "$(dirname "$0")/../lib.sh"

t_conf
P=$T_PKI
B=$(gen_uuid) C=$(gen_uuid) D=$(gen_uuid) E=$(gen_uuid) Q=$(gen_uuid) R=$(gen_uuid)
# this hub (org "home"), partner b (same org), c, d (disabled), q (pinned to
# a key q's certificate does not have) of org "oc", r (pin and CA of org "orr"); e: a valid oc
# certificate that no partner names
"$MKPKI" "$P" hub self "$HUB_UUID" home || fail "mkpki self"
"$MKPKI" "$P" hub b "$B" home || fail "mkpki b"
"$MKPKI" "$P" hub c "$C" oc || fail "mkpki c"
"$MKPKI" "$P" hub d "$D" oc || fail "mkpki d"
"$MKPKI" "$P" hub e "$E" oc || fail "mkpki e"
"$MKPKI" "$P" hub q "$Q" oc || fail "mkpki q"
"$MKPKI" "$P" hub r "$R" orr || fail "mkpki r"
# another CA issuing a certificate in the name of c's hub
"$MKPKI" "$P" hub fakec "$C" evil || fail "mkpki fakec"

urn() { echo "URI:urn:uuid:$(echo "$1" | tr -d - | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/')"; }
# leaf NAME CA DAYS EXT...: NAME.crt/.key signed by CA with these extensions
leaf() {
	local name=$1 ca=$2 days=$3
	shift 3
	printf '%s\n' "basicConstraints = critical,CA:false" "keyUsage = critical,digitalSignature" "$@" >"$T_DIR/$name.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$name.key" -subj "/CN=$name" \
		-out "$T_DIR/$name.csr" 2>/dev/null &&
		openssl x509 -req -in "$T_DIR/$name.csr" -CA "$P/$ca.crt" -CAkey "$P/$ca.key" \
			-set_serial "0x$(openssl rand -hex 8)" -days "$days" -extfile "$T_DIR/$name.ext" \
			-out "$P/$name.crt" 2>/dev/null || fail "leaf $name"
}
leaf c-expired oc-ca -1 "extendedKeyUsage = serverAuth,clientAuth" "subjectAltName = $(urn "$C")"
leaf c-serveronly oc-ca 30 "extendedKeyUsage = serverAuth" "subjectAltName = $(urn "$C")"
spki() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }

printf '[federation]\nlisten = %s:0\ncert = pki/self.crt\nkey = pki/self.key\nca = pki/home-ca.crt\n' \
	"$T_ADDR" >>"$T_CONF"
OC_ORG=$(gen_uuid)
padd() { ctl partner add "$1" --url "https://$T_ADDR:1" --relation partner "${@:2}" >/dev/null || fail "partner add $1"; }
padd b --hub "$B" --org "$HUB_ORG" --ca "$P/home-ca.crt"
padd c --hub "$C" --org "$OC_ORG" --ca "$P/oc-ca.crt"
padd d --hub "$D" --org "$OC_ORG" --ca "$P/oc-ca.crt" --disable
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_DIR/q-pinned.key" 2>/dev/null || fail "genpkey"
padd q --hub "$Q" --org "$OC_ORG" --ca "$P/oc-ca.crt" \
	--pin "$(openssl pkey -in "$T_DIR/q-pinned.key" -pubout -outform DER | sha256sum | cut -c1-64)"
padd r --hub "$R" --org "$(gen_uuid)" --ca "$P/orr-ca.crt" --pin "$(spki "$P/r.crt")"

hub_start
API=$(api_url)
FED=$(grep -o 'd4hub federation listening on https://[^ ]*/' "$T_LOG" | tail -n 1 | sed 's/.*listening on //; s:/$::')
[ -n "$FED" ] || fail "no 'd4hub federation listening on' line in the log"
log "federation port: $FED"

# fed [NAME [PATH]]: curl as partner NAME ("": without a certificate);
# prints "HTTP-STATUS BODY"; a refused handshake prints 000
fed() {
	local args=(-sS --http2 --max-time 20 --cacert "$P/home-ca.crt" -o "$T_DIR/out" -w '%{http_code}')
	[ -z "${1:-}" ] || args+=(--cert "$P/$1.crt" --key "$P/$1.key")
	: >"$T_DIR/out"
	local code
	code=$(curl "${args[@]}" "$FED${2:-/federation/v1/hello}" 2>"$T_DIR/curl.err") || true
	echo "$code $(cat "$T_DIR/out")"
}
metric() {
	curl -sf --cacert "$P/ca.crt" -H "Authorization: Bearer $TOKEN" "$API/metrics" |
		sed -n "s/^d4hub_federation_connections_total{result=\"$1\"} \([0-9]*\)\$/\1/p"
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }
health() { curl -sf --cacert "$P/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API"
TOKEN=$(ctl user add fed-watch --role user) || fail "user add"

# ---- accepted: the partner it was mapped to is named
hello() { # NAME PARTNER
	local out
	out=$(fed "$1")
	[ "${out%% *}" = 200 ] || fail "$1: expected 200, got: $out ($(cat "$T_DIR/curl.err"))"
	assert_eq "$(echo "${out#* }" | json "[d['partner'], d['hub_uuid'].replace('-', ''), d['org_uuid'].replace('-', '')]")" \
		"[\"$2\", \"$(echo "$HUB_UUID" | tr -d -)\", \"$(echo "$HUB_ORG" | tr -d -)\"]" "hello as $1"
}
hello b b
# the answer is the spec's FederationHello
SPEC=$(dirname "$0")/../../../openapi/d4hub.yaml
fed b | cut -d' ' -f2- | "$PY" -c '
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
root = dict(doc); root["$ref"] = "#/components/schemas/FederationHello"
jsonschema.Draft202012Validator(root).validate(json.load(sys.stdin))' "$SPEC" || fail "hello is not a FederationHello"
hello c c
hello r r
wait_until 10 metric_is accepted 4 || fail "accepted: $(metric accepted), expected 4"
# another path on the port: a problem, not the API (no bearer-token path here)
out=$(fed c /api/v1/sensors)
assert_eq "${out%% *}" 404 "/api/v1/sensors on the federation port"

# ---- refusals, each in the handshake: no HTTP status, counted, logged
refused() { # CERT REASON COUNT
	local out
	out=$(fed "$1")
	assert_eq "${out%% *}" 000 "${1:-no certificate}: the handshake must fail (got: $out)"
	wait_until 10 metric_is "$2" "$3" || fail "${1:-no certificate}: $2 counted $(metric "$2"), expected $3"
}
refused "" no-certificate 1
refused other-hub unknown-ca 1
refused fakec unknown-ca 2
refused c-expired expired 1
refused c-serveronly no-client-auth 1
refused e unknown-partner 1
refused d partner-disabled 1
refused q pin-mismatch 1
for r in no-certificate unknown-ca expired no-client-auth unknown-partner partner-disabled pin-mismatch; do
	grep -q "federation: connection from $T_ADDR refused: $r" "$T_LOG" || fail "no log line for $r with the peer address"
done
# what was refused never reached HTTP: the 5 accepted connections did
assert_eq "$(metric accepted)" 5 "accepted connections"
assert_eq "$(metric handshake-failed)" 0 "handshakes failing otherwise"
assert_eq "$(metric internal)" 0 "internal failures"
if grep -q "PRIVATE KEY\|BEGIN CERTIFICATE" "$T_LOG"; then fail "key material in the log"; fi

# ---- partner changes apply to the next handshake
ctl partner set c --disable >/dev/null || fail "disable c"
refused c partner-disabled 2
ctl partner set d --enable >/dev/null || fail "enable d"
hello d d
ctl partner del c >/dev/null || fail "delete c"
refused c unknown-partner 2
assert_eq "$(metric accepted)" 6 "accepted connections"
# TLS 1.2 (no certificate is told by another alert there)
fed12() { curl -sS --http2 --max-time 20 --tls-max 1.2 --cacert "$P/home-ca.crt" -o /dev/null -w '%{http_code}' "$@" \
	"$FED/federation/v1/hello" 2>/dev/null || true; }
assert_eq "$(fed12)" 000 "TLS 1.2 without a certificate"
wait_until 10 metric_is no-certificate 2 || fail "TLS 1.2 no-certificate counted $(metric no-certificate), expected 2"
assert_eq "$(fed12 --cert "$P/b.crt" --key "$P/b.key")" 200 "TLS 1.2 as b"
assert_eq "$(fed12 --cert "$P/e.crt" --key "$P/e.key")" 000 "TLS 1.2 as e"
wait_until 10 metric_is unknown-partner 3 || fail "TLS 1.2 unknown-partner counted $(metric unknown-partner), expected 3"
assert_eq "$(metric accepted)" 7 "accepted connections at the end"
assert_eq "$(metric handshake-failed)" 0 "handshakes failing otherwise, at the end"

# a connection that never completes its handshake does not hold up a stop
HP=${FED#https://}
exec 7<>"/dev/tcp/${HP%:*}/${HP##*:}" || fail "cannot connect to $HP"
printf '\x16\x03\x01' >&7
hub_stop
exec 7>&-
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass
