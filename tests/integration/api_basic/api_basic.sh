#!/usr/bin/env bash
# HTTP Basic authentication (docs/api-auth.md) against a real d4hub over TLS.
#
# Address 127.0.0.1 (the default; the hub is this test's own); ports picked at run time by
# lib.sh. The pDNS dataset of tests/integration/pdns_api is loaded into the
# store before the hub starts, and one passive-SSL handshake with a certificate
# the test makes (pssl_api_load). Then:
#  - Debian's dnsdbq, unchanged, as `dnsdbq -u circl` (CIRCL_SERVER and
#    CIRCL_AUTH; the test CA trusted by bind-mounting a bundle that holds it
#    over the system bundle in a private mount namespace, since dnsdbq reads
#    no CA variable), with a user name of its own and with the token alone;
#  - circl_client.py, Basic auth as CIRCL's PyPDNS and PyPSSL do, on
#    /pdns/query and /v2pssl/query;
#  - a wrong password and malformed Basic headers: 401 naming both schemes;
#  - the failed-authentication limit counts Basic failures: after exactly
#    api.auth_fail_limit of them, 429 even for a good credential.
# Env: as lib.sh, plus D4PDNSLOAD (tests/tools d4-pdns-load) and PSSL_LOAD
# (tests/integration/pssl_api pssl_api_load).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.1}
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PDNS=$HERE/../pdns_api
[ -n "${D4PDNSLOAD:-}" ] && [ -x "$D4PDNSLOAD" ] || fail "\$D4PDNSLOAD is not set to tests/tools d4-pdns-load"
[ -n "${PSSL_LOAD:-}" ] && [ -x "$PSSL_LOAD" ] || fail "\$PSSL_LOAD is not set to pssl_api_load"
command -v dnsdbq >/dev/null || fail "dnsdbq is not installed (apt-get install dnsdbq)"
"$PY" -c 'import requests' 2>/dev/null || fail "python3-requests is not installed"
unshare -rm true 2>/dev/null || fail "unshare -rm (user + mount namespace) is not available"

LIMIT=8
t_conf "api.auth_fail_limit=$LIMIT"
"$PY" "$PDNS/gen.py" 4000 "${PDNS_SEED:-7}" >"$T_DIR/dataset.tsv" || fail "gen.py"
"$D4PDNSLOAD" -s "$T_DIR/store" -m 256 <"$T_DIR/dataset.tsv" || fail "d4-pdns-load"
# one passive-SSL handshake on 192.0.2.1 with a certificate the test makes
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/leaf.key" \
	-out "$T_DIR/leaf.pem" -days 30 -subj "/CN=basic.example" 2>/dev/null || fail "openssl: leaf"
openssl x509 -in "$T_DIR/leaf.pem" -outform DER -out "$T_DIR/leaf.der" || fail "openssl: DER"
CERT_SHA1=$(openssl x509 -in "$T_DIR/leaf.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f)
NOW=$(date +%s)
printf 'hs\t192.0.2.1\t443\tbasic.example\t-\t-\t-\ttlp:green\t%d\t%d\t3\t-\t-\t%s\n' $((NOW - 100)) $((NOW - 10)) \
	"$T_DIR/leaf.der" | "$PSSL_LOAD" load "$T_DIR/store" || fail "pssl_api_load"
hub_start
API=$(api_url)
health() { curl -sSf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API/health"
TOKEN=$(ctl user add analyst --role user) || fail "user add analyst"

# ---- Debian's dnsdbq as the CIRCL client --------------------------------------
cat /etc/ssl/certs/ca-certificates.crt "$T_PKI/ca.crt" >"$T_DIR/bundle.crt"
# dnsdbq_circl AUTH ARGS...: dnsdbq -u circl against the hub, CIRCL_AUTH=AUTH
dnsdbq_circl() {
	local auth=$1
	shift
	HOME=$T_DIR DNSDBQ_CONFIG_FILE=/dev/null CIRCL_SERVER=$API/pdns/query CIRCL_AUTH=$auth \
		unshare -rm sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec dnsdbq -u circl "$@"' \
		"$T_DIR/bundle.crt" "$@"
}
expect_www() { # sorted "rrname rrtype rdata" of www.example.test. in the dataset
	"$PY" -c '
import sys
sys.path.insert(0, sys.argv[1])
import check
for r in sorted(check.model(check.load(sys.argv[2]), owner=("exact", "www.example.test."))):
    print(r[0].rstrip("."), r[1], r[2])' "$PDNS" "$T_DIR/dataset.tsv" | sort
}
got_json() { # dnsdbq -j output -> sorted "rrname rrtype rdata"
	"$PY" -c '
import json, sys
out = []
for ln in sys.stdin:
    if ln.strip():
        d = json.loads(ln)
        rds = d["rdata"] if isinstance(d["rdata"], list) else [d["rdata"]]
        out += ["%s %s %s" % (d["rrname"].rstrip("."), d["rrtype"], r) for r in rds]
print("\n".join(sorted(out)))' | sort
}
expect_www >"$T_DIR/www.exp"
n=$(wc -l <"$T_DIR/www.exp")
[ "$n" -gt 0 ] || fail "the dataset holds no www.example.test records"
for auth in "circl:$TOKEN" ":$TOKEN" "someone-else:$TOKEN"; do
	shown=${auth%%:*}
	dnsdbq_circl "$auth" -j -r www.example.test >"$T_DIR/dq.out" 2>"$T_DIR/dq.err" ||
		fail "dnsdbq -u circl (user '$shown'): exit $? ($(cat "$T_DIR/dq.err"))"
	got_json <"$T_DIR/dq.out" >"$T_DIR/dq.got"
	diff -u "$T_DIR/www.exp" "$T_DIR/dq.got" >"$T_DIR/dq.diff" || {
		head -20 "$T_DIR/dq.diff" >&2
		fail "dnsdbq -u circl -r www.example.test (user '$shown') differs from the dataset"
	}
	log "dnsdbq -u circl -r www.example.test, user '$shown': $n records, as the dataset"
done

# ---- a Python client as PyPDNS / PyPSSL ----------------------------------------
"$PY" "$HERE/circl_client.py" "$API" "$T_PKI/ca.crt" circl "$TOKEN" "$T_DIR/dataset.tsv" "$CERT_SHA1" ||
	fail "Basic auth with a user name, as PyPDNS/PyPSSL"
"$PY" "$HERE/circl_client.py" "$API" "$T_PKI/ca.crt" "" "$TOKEN" "$T_DIR/dataset.tsv" "$CERT_SHA1" ||
	fail "Basic auth with the token alone, as PyPDNS/PyPSSL"
# the same credentials work on the rest of the API (role user: sensors list)
code=$(curl -s -o /dev/null -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" -u "circl:$TOKEN" "$API/api/v1/me")
assert_eq "$code" 200 "curl -u circl:TOKEN on /api/v1/me"
# so far nothing failed: the limit is untouched
assert_eq "$(grep -c 'invalid token' "$T_LOG")" 0 "failed authentications before the negative checks"

# ---- wrong and malformed credentials: 401, both schemes, each one counted -------
fails=0
status_of() { # status of a request on /pdns/query with the given Authorization value; headers in $T_DIR/h
	curl -s -o "$T_DIR/body" -D "$T_DIR/h" -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" \
		-H "Authorization: $1" "$API/pdns/query/www.example.test"
}
code=$("$PY" "$HERE/circl_client.py" --status "$API" "$T_PKI/ca.crt" circl "d4h_wrongwrongwrong" /pdns/query/www.example.test)
assert_eq "$code" 401 "PyPDNS-style client with a wrong password"
fails=$((fails + 1))
wait_until 10 test "$(grep -c 'invalid token (Basic, unknown or revoked)' "$T_LOG")" -eq 1 ||
	fail "the wrong password is not logged as a failed authentication"
over=$(head -c 600 /dev/zero | tr '\0' A)
for bad in "Basic !!!!" "Basic $(printf 'circl' | base64)" "Basic $over" "Basic" "Basic $(printf 'circl:' | base64)"; do
	code=$(status_of "$bad")
	assert_eq "$code" 401 "malformed Basic '${bad:0:24}'"
	grep -qi '^www-authenticate: Bearer realm="d4hub", error="invalid_token"' "$T_DIR/h" ||
		fail "no Bearer challenge for '${bad:0:24}': $(cat "$T_DIR/h")"
	grep -qi '^www-authenticate: Basic realm="d4hub"' "$T_DIR/h" ||
		fail "no Basic challenge for '${bad:0:24}': $(cat "$T_DIR/h")"
	grep -q '"the token is not valid"' "$T_DIR/body" || fail "the 401 body differs for '${bad:0:24}': $(cat "$T_DIR/body")"
	fails=$((fails + 1))
done
# dnsdbq with a wrong password fails, and says so
if dnsdbq_circl "circl:d4h_wrong" -j -r www.example.test >"$T_DIR/dq.bad" 2>&1; then
	grep -q 401 "$T_DIR/dq.bad" || fail "dnsdbq with a wrong password succeeded: $(cat "$T_DIR/dq.bad")"
fi
fails=$((fails + 1))
# the log names the scheme and the reason, never the secret
wait_until 10 test "$(grep -c 'invalid token' "$T_LOG")" -eq "$fails" ||
	fail "$(grep -c 'invalid token' "$T_LOG") failed authentications logged, $fails expected"
grep -q 'd4h_wrong' "$T_LOG" && fail "a presented password is in the hub log"
grep -q "$TOKEN" "$T_LOG" && fail "the token is in the hub log"

# ---- the limit: failures up to exactly LIMIT, then 429 even for a good one -----
while [ "$fails" -lt "$LIMIT" ]; do
	assert_eq "$(status_of "Basic $(printf 'circl:d4h_nope%s' "$fails" | base64)")" 401 "failure $((fails + 1))"
	fails=$((fails + 1))
done
code=$(status_of "Basic $(printf 'circl:%s' "$TOKEN" | base64 -w0)")
assert_eq "$code" 429 "a good Basic credential after $LIMIT failures"
grep -qi '^retry-after: [0-9]' "$T_DIR/h" || fail "429 without Retry-After: $(cat "$T_DIR/h")"
code=$("$PY" "$HERE/circl_client.py" --status "$API" "$T_PKI/ca.crt" circl "$TOKEN" /pdns/query/www.example.test)
assert_eq "$code" 429 "PyPDNS-style client after $LIMIT failures"

hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "dnsdbq -u circl and PyPDNS/PyPSSL-style Basic auth work; wrong and malformed credentials 401 and count for the limit"
