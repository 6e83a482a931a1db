#!/usr/bin/env bash
# Passive-SSL REST API against a real d4hub over TLS (HTTP/2, curl).
#
# Address 127.0.0.7 (keep other tests out of it); ports picked at run time
# by lib.sh. The test makes its certificates with the openssl command (a CA,
# RSA and EC leaves, a self-signed one), check.py writes handshakes over
# them (IPv4 and IPv6, every TLP level, 30 tuples for paging) and the
# expected answers, pssl_api_load writes the handshakes into the stopped
# hub's store; then check.py compares every operation's answer with the set
# as a user cleared for tlp:amber and as an admin (tlp:red), walks every
# page, and sends every malformed query; pypssl_client.py does what CIRCL's
# PyPSSL client does against /v2pssl.
# Env: as lib.sh, plus PSSL_LOAD (pssl_api_load).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.7}
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "${PSSL_LOAD:-}" ] && [ -x "$PSSL_LOAD" ] || fail "\$PSSL_LOAD is not set to pssl_api_load"
command -v openssl >/dev/null || fail "openssl command missing"

t_conf "api.max_tlp_user=tlp:amber"
hub_start
API=$(api_url)
health() { curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API/health"
ADMIN_TOKEN=$(ctl user add pssl-admin --role admin) || fail "user add admin"
USER_TOKEN=$(ctl user add pssl-user --role user) || fail "user add user"
REG_TOKEN=$(ctl user add pssl-reg --role sensor_register) || fail "user add sensor_register"

# an empty store: CIRCL's empty answers, a 404 for cfetch
get() { curl -s -o "$T_DIR/out.json" -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" \
	-H "Authorization: Bearer $USER_TOKEN" "$API$1"; }
assert_eq "$(get /v2pssl/query/192.0.2.1)" 200 "query on an empty store"
assert_eq "$(json "d == {}" <"$T_DIR/out.json")" true "query on an empty store: {}"
assert_eq "$(get /v2pssl/cquery/0123456789abcdef0123456789abcdef01234567)" 200 "cquery on an empty store"
assert_eq "$(json "d == {'certificate': '0123456789abcdef0123456789abcdef01234567', 'seen': [], 'hits': 0}" \
	<"$T_DIR/out.json")" true "cquery on an empty store: no hits"
assert_eq "$(get /v2pssl/cfetch/0123456789abcdef0123456789abcdef01234567)" 404 "cfetch on an empty store"
assert_eq "$(get /api/v1/pssl/tuples)" 200 "tuples on an empty store"
assert_eq "$(json "d == {'items': [], 'next_cursor': None}" <"$T_DIR/out.json")" true "no tuples"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"

# certificates: a CA (RSA), leaves it signs (RSA with SANs, EC P-256, one
# only ever seen red, one for the paging set), a self-signed EC leaf
C=$T_DIR/certs
mkdir -p "$C"
mk_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.pem" -days 3650 \
		-subj "/C=LU/O=D4 Test/CN=Test PSSL CA" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
}
# mk_leaf NAME KEYSPEC SUBJ SANS [self]
mk_leaf() {
	local n=$1 key=$2 subj=$3 sans=$4
	case $key in
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$C/$n.key" 2>/dev/null ;;
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/$n.key" 2>/dev/null ;;
	esac
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
		"$sans" >"$C/$n.ext"
	if [ "${5:-}" = self ]; then
		openssl req -x509 -new -key "$C/$n.key" -out "$C/$n.pem" -days 365 -subj "$subj" \
			-addext "subjectAltName=$sans" 2>/dev/null
	else
		openssl req -new -key "$C/$n.key" -out "$C/$n.csr" -subj "$subj" 2>/dev/null &&
			openssl x509 -req -in "$C/$n.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
				-out "$C/$n.pem" -days 365 -extfile "$C/$n.ext" 2>/dev/null
	fi
}
mk_ca || fail "openssl: CA"
mk_leaf a rsa "/C=LU/O=D4 Test/CN=a.example" "DNS:a.example,DNS:www.a.example" || fail "openssl: leaf a"
mk_leaf b ec "/C=LU/O=Example\, Inc./CN=b.example" "DNS:b.example,IP:192.0.2.11" || fail "openssl: leaf b"
mk_leaf r rsa "/C=LU/O=D4 Test/CN=red.example" "DNS:red.example" || fail "openssl: leaf r"
mk_leaf p rsa "/C=LU/O=D4 Test/CN=paging.example" "DNS:paging.example" || fail "openssl: leaf p"
mk_leaf v6 ec "/CN=v6.example" "DNS:v6.example" self || fail "openssl: leaf v6"
# what the openssl command says of each: the test's own reference
for n in ca a b r p v6; do
	openssl x509 -in "$C/$n.pem" -outform DER -out "$C/$n.der" || fail "openssl: $n DER"
	openssl x509 -in "$C/$n.pem" -noout -pubkey >"$C/$n.pub" || fail "openssl: $n pubkey"
	openssl pkey -pubin -in "$C/$n.pub" -outform DER 2>/dev/null | sha256sum | cut -c1-64 >"$C/$n.spki"
	openssl x509 -in "$C/$n.pem" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//' >"$C/$n.issuer"
	openssl x509 -in "$C/$n.pem" -noout -modulus 2>/dev/null | sed 's/^Modulus=//' >"$C/$n.modulus" || true
	openssl x509 -in "$C/$n.pem" -noout -startdate -enddate >"$C/$n.dates"
	openssl x509 -in "$C/$n.pem" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | sed 's/^ *//' >"$C/$n.san"
done

NOW=$(date +%s)
"$PY" "$HERE/check.py" gen "$NOW" "$C" "$T_DIR" || fail "check.py gen"
"$PSSL_LOAD" load "$T_DIR/store" <"$T_DIR/load.tsv" || fail "pssl_api_load load"
hub_start
wait_until 30 health || fail "API not answering after the restart"

"$PY" - "$T_DIR/fixtures.json" "$API" "$T_PKI/ca.crt" "$ADMIN_TOKEN" "$USER_TOKEN" <<'PYEOF' || fail "fixtures"
import json, sys
out, api, ca, admin, user = sys.argv[1:]
json.dump({"base_url": api, "cacert": ca, "tokens": {"admin": admin, "user": user}}, open(out, "w"))
PYEOF
"$PY" "$HERE/check.py" check "$T_DIR/set.json" "$T_DIR/fixtures.json" || fail "answers differ from the set (above)"
"$PY" "$HERE/pypssl_client.py" "$T_DIR/set.json" "$T_DIR/fixtures.json" || fail "the PyPSSL-style client (above)"

# big answers: 10,001 tuples on one address. CIRCL's query refuses them (422
# naming the paged operation), the paged list walks them exactly once
hub_stop
printf 'bulk\t10001\t203.0.113.7\ttlp:green\t%d\t%d\n' $((NOW - 100)) $((NOW - 10)) |
	"$PSSL_LOAD" load "$T_DIR/store" || fail "pssl_api_load bulk"
hub_start
wait_until 30 health || fail "API not answering after the restart"
code=$(curl -s -o "$T_DIR/big.json" -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" \
	-H "Authorization: Bearer $USER_TOKEN" "$API/v2pssl/query/203.0.113.7")
assert_eq "$code" 422 "/v2pssl/query over 10,000 tuples"
assert_contains "$(cat "$T_DIR/big.json")" "/api/v1/pssl/tuples?ip=" "the 422 names the paged operation"
"$PY" - "$API" "$T_PKI/ca.crt" "$USER_TOKEN" <<'PYEOF' || fail "walking 10,001 tuples"
import json, subprocess, sys, urllib.parse
api, ca, token = sys.argv[1:]
ports, cur, pages = [], None, 0
while True:
    q = {"ip": "203.0.113.7", "limit": 1000}
    if cur:
        q["cursor"] = cur
    r = subprocess.run(["curl", "-sf", "--http2", "--cacert", ca, "-H", "Authorization: Bearer " + token,
                        api + "/api/v1/pssl/tuples?" + urllib.parse.urlencode(q)], capture_output=True, text=True)
    if r.returncode:
        sys.exit("page %d: curl exit %d" % (pages, r.returncode))
    d = json.loads(r.stdout)
    ports += [t["server_port"] for t in d["items"]]
    pages += 1
    cur = d["next_cursor"]
    if not cur or pages > 20:
        break
if ports != list(range(1, 10002)) or pages != 11:
    sys.exit("%d tuples in %d pages, %d distinct, in order: %s" % (len(ports), pages, len(set(ports)),
                                                                 ports == sorted(ports)))
print("# 10001 tuples in 11 pages, each once, in port order")
PYEOF

# sensor_register is below user: 403 on every passive-SSL operation
for p in v2pssl/query/192.0.2.1 v2pssl/query/192.0.2.0/24 v2pssl/cquery/0123456789abcdef0123456789abcdef01234567 \
	v2pssl/cfetch/0123456789abcdef0123456789abcdef01234567 api/v1/pssl/tuples api/v1/pssl/certs \
	api/v1/pssl/certs/0123456789abcdef0123456789abcdef01234567 \
	api/v1/pssl/fingerprints/ja3/0123456789abcdef0123456789abcdef; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" \
		-H "Authorization: Bearer $REG_TOKEN" "$API/$p")
	assert_eq "$code" 403 "sensor_register on /$p"
	code=$(curl -s -o /dev/null -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" "$API/$p")
	assert_eq "$code" 401 "no token on /$p"
done
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "CIRCL lookups, pivots, paging, clearance and malformed queries agree with the set"
