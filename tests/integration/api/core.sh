#!/usr/bin/env bash
# API core end to end: a real d4hub with its REST API on 127.0.0.2, curl over
# HTTP/2 and HTTP/1.1: health, spec, problems (404, 405 + Allow, 401 +
# WWW-Authenticate, 403, 429 + Retry-After, 413, 415, 400), tokens, metrics,
# and a listener that requires client certificates.
#
# Ports: picked at run time (lib.sh free_port, and the API on port 0).
# shellcheck shell=bash
set -euo pipefail
export D4_TEST_ADDR=127.0.0.2
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

command -v curl >/dev/null || fail "curl is required"
PROB=https://d4hub.invalid/problems

t_pki
t_conf "api.max_body=1M" "api.auth_fail_limit=20"
hub_start
API=$(api_url) # the hub picks a free API port (lib.sh keeps it across restarts)
assert_log "d4hub API listening on $API/"

# req [curl args...]: runs curl against the API; sets CODE, CTYPE, VER, BODY,
# HDRS (response headers, lower-cased names).
req() {
	local out
	out=$(curl -sS --cacert "$T_PKI/ca.crt" -D "$T_DIR/h" -o "$T_DIR/b" \
		-w '%{http_code} %{http_version} %{content_type}' "$@") || fail "curl $* failed"
	CODE=${out%% *}
	out=${out#* }
	VER=${out%% *}
	CTYPE=${out#* }
	BODY=$(cat "$T_DIR/b")
	HDRS=$(tr -d '\r' <"$T_DIR/h" | sed -E 's/^([^:]+):/\L\1:/')
}
expect() { # CODE [CONTENT-TYPE]
	[ "$CODE" = "$1" ] || fail "expected HTTP $1, got $CODE ($BODY)"
	[ -z "${2:-}" ] || [ "$CTYPE" = "$2" ] || fail "expected content type $2, got '$CTYPE'"
}
expect_problem() { # CODE SLUG
	expect "$1" application/problem+json
	assert_eq "$(echo "$BODY" | json "d['type']")" "$PROB/$2" "problem type"
	assert_eq "$(echo "$BODY" | json "d['status']")" "$1" "problem status"
	echo "$BODY" | json "d['title']" >/dev/null || fail "problem without title"
}
header() { echo "$HDRS" | sed -n "s/^$1: //p" | head -n 1; }

# ---- anonymous: health over both protocols ----
for proto in --http2 --http1.1; do
	req "$proto" "$API/health"
	expect 200 application/json
	case $proto in
	--http2) assert_eq "$VER" 2 "HTTP version with --http2 (ALPN h2)" ;;
	*) assert_eq "$VER" 1.1 "HTTP version with --http1.1" ;;
	esac
	assert_eq "$(echo "$BODY" | json "d['status']")" ok "health status"
	assert_eq "$(echo "$BODY" | json "d['store']['paused']")" false "store paused"
	assert_eq "$(header cache-control)" no-store "Cache-Control"
done
log "health 200 over h2 and http/1.1"

SPEC=$(dirname "$0")/../../../openapi/d4hub.yaml
if [ -f "$SPEC" ]; then
	req --http2 "$API/openapi.yaml"
	expect 200 application/yaml
	cmp -s "$T_DIR/b" "$SPEC" || fail "/openapi.yaml differs from openapi/d4hub.yaml"
	log "openapi.yaml served byte for byte"
else
	log "openapi/d4hub.yaml not there yet: /openapi.yaml check skipped"
fi

# ---- routing problems ----
req --http2 "$API/no/such/thing"
expect_problem 404 not-found
req --http2 "$API/health/"
expect_problem 404 not-found
req --http2 -X DELETE "$API/health"
expect_problem 405 method-not-allowed
assert_eq "$(header allow)" GET "Allow header"
req --http1.1 -X PUT "$API/openapi.yaml"
expect_problem 405 method-not-allowed
log "404 and 405 + Allow as problem+json"

# ---- authentication ----
req --http2 "$API/metrics"
expect_problem 401 unauthorized
assert_contains "$(header www-authenticate)" Bearer "WWW-Authenticate"
ADMIN_TOK=$(ctl user add admin --role admin) || fail "user add admin failed"
REG_TOK=$(ctl user add registrar --role sensor_register) || fail "user add registrar failed"
case $ADMIN_TOK in d4h_*) ;; *) fail "token '$ADMIN_TOK' does not look like d4h_..." ;; esac
req --http2 -H "Authorization: Bearer $ADMIN_TOK" "$API/metrics"
expect 200 "text/plain; version=0.0.4"
for m in d4hub_frames_total d4hub_bytes_total 'd4hub_rejections_total{reason=' d4hub_sessions_total \
	d4hub_store_map_bytes d4hub_store_used_bytes d4hub_store_paused 'd4hub_sensors{status="pending"}' \
	'd4hub_api_requests_total{code="404"}' 'd4hub_api_request_duration_seconds_bucket{le="+Inf"}'; do
	assert_contains "$BODY" "$m" "metrics"
done
req --http1.1 -H "Authorization: $ADMIN_TOK" "$API/api/v1/me" # raw token, as d4-core clients send it
expect 200 application/json
assert_eq "$(echo "$BODY" | json "d['role']")" admin "me.role"
req --http2 -H "Authorization: Bearer $REG_TOK" "$API/api/v1/me"
expect 200 application/json
assert_eq "$(echo "$BODY" | json "d['user']")" registrar "me.user"
req --http2 -H "Authorization: Bearer $REG_TOK" "$API/metrics"
expect_problem 403 forbidden
log "401 + WWW-Authenticate, admin token 200, sensor_register token 403 on /metrics"

# ---- body rules (on a JSON route, as admin) ----
AUTH=(-H "Authorization: Bearer $ADMIN_TOK")
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T_DIR/big.json"
for proto in --http2 --http1.1; do
	req "$proto" "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$T_DIR/big.json" \
		"$API/api/v1/sensors"
	expect_problem 413 payload-too-large
done
req --http2 "${AUTH[@]}" -H 'Content-Type: text/plain' --data-binary '{"uuid":"x"}' "$API/api/v1/sensors"
expect_problem 415 unsupported-media-type
req --http2 "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary '{"uuid":' "$API/api/v1/sensors"
expect_problem 400 bad-request
"$PY" -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000)' >"$T_DIR/deep.json"
req --http2 "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$T_DIR/deep.json" "$API/api/v1/sensors"
expect_problem 400 bad-request
hub_alive || fail "the hub died on a nesting bomb"
req --http2 "$API/health"
expect 200
log "413 (h2 and http/1.1), 415, 400 malformed, 400 nesting bomb, hub alive"

# ---- failed-auth rate limit: 20 failures per minute, then 429 ----
n401=0 n429=0
for i in $(seq 1 25); do
	req --http2 -H "Authorization: Bearer d4h_not_a_valid_token_$i" "$API/metrics"
	case $CODE in
	401) n401=$((n401 + 1)) ;;
	429) n429=$((n429 + 1)) ;;
	*) fail "bad token #$i: HTTP $CODE" ;;
	esac
done
assert_eq "$n401" 20 "bad tokens answered 401"
assert_eq "$n429" 5 "bad tokens answered 429"
expect_problem 429 too-many-requests
RA=$(header retry-after)
[ -n "$RA" ] && [ "$RA" -ge 1 ] && [ "$RA" -le 60 ] || fail "Retry-After '$RA'"
# limited before checking: even a good token waits
req --http2 "${AUTH[@]}" "$API/metrics"
expect_problem 429 too-many-requests
req --http2 "$API/health"
expect 200
log "25 bad tokens: 20 x 401 then 5 x 429 + Retry-After $RA; anonymous routes unaffected"
hub_stop
assert_eq "$HUB_RC" 0 "hub exit status"

# ---- a listener that requires client certificates ----
T_PORT=$(free_port)
T_DEST=$T_ADDR:$T_PORT
_T_STARTED=0 # a new hub: lib.sh may pick another port if this one is taken
t_conf "api.client_ca=pki/ca.crt"
"$D4HUB" -n -c "$T_CONF" >/dev/null || fail "d4hub -n rejects the mTLS config"
hub_start
MT=$(api_url)
rc=0
curl -sS --http2 --cacert "$T_PKI/ca.crt" -o /dev/null "$MT/health" 2>/dev/null || rc=$?
# 0 = it worked; 7/28 = not even connected: neither is the TLS refusal we want
case $rc in 0 | 7 | 28) fail "no client certificate: curl exit $rc, expected a TLS failure" ;; esac
rc=0
curl -sS --http2 --cacert "$T_PKI/ca.crt" --cert "$T_PKI/other-hub.crt" --key "$T_PKI/other-hub.key" \
	-o /dev/null "$MT/health" 2>/dev/null || rc=$?
case $rc in 0 | 7 | 28) fail "client certificate of another CA: curl exit $rc, expected a TLS failure" ;; esac
req --http2 --cert "$T_PKI/sensor.crt" --key "$T_PKI/sensor.key" "$MT/health"
expect 200 application/json
assert_eq "$VER" 2 "HTTP version over mTLS"
req --http1.1 --cert "$T_PKI/sensor.crt" --key "$T_PKI/sensor.key" "$MT/health"
expect 200 application/json
log "client-cert listener: none -> TLS failure, other CA -> failure, good cert -> 200"
hub_stop
assert_eq "$HUB_RC" 0 "hub exit status"
grep -q "AddressSanitizer\|runtime error" "$T_LOG" && fail "sanitizer report in the hub log"
pass
