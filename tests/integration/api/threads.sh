#!/usr/bin/env bash
# The API on several event-loop threads ([api] threads, docs/architecture.md):
# a real d4hub with 2 loops, hammered by concurrent curl clients (HTTP/2
# multiplexed and HTTP/1.1 over parallel connections, so that connections
# land on every loop):
#  - every answer is exact: byte for byte the answer the same request gets
#    alone (plain JSON and streamed pDNS answers);
#  - the failed-authentication limit trips at exactly auth_fail_limit,
#    whichever loop served each attempt, and then holds on every loop;
#  - /metrics totals are exact: requests by code, the latency histogram's
#    count, the per-loop counters and the limit hits move by exactly what
#    was sent;
#  - SIGTERM under load: the hub exits 0, and every answer a client got
#    complete before the stop is exact.
# shellcheck shell=bash
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

command -v curl >/dev/null || fail "curl is required"
curl --version | grep -qw HTTP2 || fail "this curl has no HTTP/2"
[ -n "${D4PDNSLOAD:-}" ] && [ -x "$D4PDNSLOAD" ] || fail "\$D4PDNSLOAD is not set to tests/tools d4-pdns-load"

FAIL_LIMIT=12
t_pki
# T_THREADS: another number of loops (1 shows the same answers on one loop)
LOOPS=${T_THREADS:-2}
# the clients stream many pDNS answers at once from one address and user
t_conf "api.threads=$LOOPS" "api.auth_fail_limit=$FAIL_LIMIT" "api.max_connections_per_addr=64" \
	"api.max_exports_per_addr=1000" "api.max_exports_per_user=1000"
# pDNS records for streamed answers: one name with 1 record, one with 300
{
	printf 'www.example.org\t1\t192.0.2.1\t-\t1700000000\t1700000100\t3\ttlp:green\t-\n'
	for i in $(seq 0 299); do
		printf 'big.example.org\t1\t10.1.%d.%d\t-\t%d\t1700009999\t1\ttlp:green\t-\n' $((i / 200)) $((i % 200)) $((1700000000 + i))
	done
} >"$T_DIR/pdns.tsv"
"$D4PDNSLOAD" -s "$T_DIR/store" -m 64 <"$T_DIR/pdns.tsv" >/dev/null || fail "d4-pdns-load failed"
hub_start
API=$(api_url)
grep -q "d4hub API listening on .*($LOOPS event-loop thread" "$T_LOG" || fail "the hub did not start $LOOPS API loops"
ADMIN=$(ctl user add admin --role admin)
USER1=$(ctl user add alice --role user)
# a second loopback address for the failed authentications, so that the
# other requests (same address as the hub's clients) are not limited
BAD_ADDR=127.0.0.5
[ "$T_ADDR" != "$BAD_ADDR" ] || BAD_ADDR=127.0.0.6

metrics() { curl -sS --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN" "$API/metrics"; }
# mval FILE NAME{labels} -> value (0 when absent)
mval() { awk -v m="$2" '$1 == m { v = $2 } END { print v + 0 }' "$1"; }
# msum FILE PREFIX -> sum of the series whose name starts with PREFIX
msum() { awk -v p="$2" 'index($1, p) == 1 { s += $2 } END { print s + 0 }' "$1"; }

# ---- what is asked: sensors, a list page, getMe, a streamed pDNS lookup ----
PATHS=(/api/v1/me "/api/v1/sensors?limit=5" /pdns/query/www.example.org /pdns/query/big.example.org)
for _ in 1 2 3 4 5 6 7 8; do
	sensor_new
	PATHS+=("/api/v1/sensors/$SENSOR_UUID")
done
NP=${#PATHS[@]}
mkdir -p "$T_DIR/ref" "$T_DIR/out"
# the reference answers, one request at a time
for ((k = 0; k < NP; k++)); do
	code=$(curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $USER1" \
		-o "$T_DIR/ref/$k" -w '%{http_code}' "$API${PATHS[$k]}")
	assert_eq "$code" 200 "reference answer of ${PATHS[$k]}"
	[ -s "$T_DIR/ref/$k" ] || fail "empty reference answer for ${PATHS[$k]}"
done

# conf_of TAG TOKEN ROUNDS: a curl config of ROUNDS x every path, each
# answer to out/TAG.N, its status and path index on stdout
conf_of() {
	local tag=$1 token=$2 rounds=$3 r k n=0
	for ((r = 0; r < rounds; r++)); do
		for ((k = 0; k < NP; k++)); do
			[ $n = 0 ] || echo next
			printf 'url = "%s%s"\ncacert = "%s"\nheader = "Authorization: Bearer %s"\n' \
				"$API" "${PATHS[$k]}" "$T_PKI/ca.crt" "$token"
			printf 'output = "%s/out/%s.%d"\nwrite-out = "%%{http_code} %%{exitcode} %d %s.%d\\n"\n' \
				"$T_DIR" "$tag" $n $k "$tag" $n
			n=$((n + 1))
		done
	done
}
# check_answers FILE...: every complete answer ("200 0 K TAG.N": status 200,
# curl exit 0) equals ref/K; prints how many there were. A streamed answer
# cut by the stop is not complete (curl says so).
check_answers() {
	local code ec k f n=0
	while read -r code ec k f; do
		[ "$code" = 200 ] && [ "$ec" = 0 ] || continue
		cmp -s "$T_DIR/out/$f" "$T_DIR/ref/$k" ||
			fail "answer $f to ${PATHS[$k]} differs from the one-at-a-time answer: $(head -c 300 "$T_DIR/out/$f")"
		n=$((n + 1))
	done < <(cat "$@")
	echo $n
}

# ---- 1. exact answers under concurrency ----------------------------------------
# client N TAG ROUNDS: one client process in the background (pid in
# $CLIENT_PID): even N multiplexes its requests over one HTTP/2 connection,
# odd N sends them one after the other over one HTTP/1.1 keep-alive
# connection. (Not curl --parallel over HTTP/1.1: curl 7.88 then now and
# then files an answer under another transfer's output file, which a
# Python client against the same hub never showed.)
client() {
	local proto
	conf_of "$2" "$USER1" "$3" >"$T_DIR/$2.curl"
	chmod 600 "$T_DIR/$2.curl"
	if [ $(($1 % 2)) = 0 ]; then
		proto=(--http2 --parallel --parallel-max 8)
	else
		proto=(--http1.1)
	fi
	curl -sS "${proto[@]}" -K "$T_DIR/$2.curl" >"$T_DIR/$2.codes" 2>"$T_DIR/$2.err" &
	CLIENT_PID=$!
}
ROUNDS=3
CLIENTS=10
metrics >"$T_DIR/m0"
pids=()
for ((c = 0; c < CLIENTS; c++)); do
	client $c "c$c" $ROUNDS
	pids+=("$CLIENT_PID")
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a hammering client failed: $(cat "$T_DIR"/c*.err | head -n 5)"
done
SENT=$((CLIENTS * ROUNDS * NP))
assert_eq "$(cat "$T_DIR"/c*.codes | wc -l)" $SENT "answers received"
assert_eq "$(cat "$T_DIR"/c*.codes | awk '$1 != 200 || $2 != 0' | wc -l)" 0 "answers other than 200 or failed transfers"
assert_eq "$(check_answers "$T_DIR"/c*.codes)" $SENT "exact answers"
log "$SENT requests from $CLIENTS concurrent clients (HTTP/2 and HTTP/1.1): every answer exact"

# ---- 2. the failed-authentication limit across loops ---------------------------
BAD=$((FAIL_LIMIT * 4))
{
	for ((n = 0; n < BAD; n++)); do
		[ $n = 0 ] || echo next
		# "next" resets every per-transfer option, --interface too
		printf 'url = "%s/api/v1/me"\ncacert = "%s"\ninterface = "%s"\n' "$API" "$T_PKI/ca.crt" "$BAD_ADDR"
		printf 'header = "Authorization: Bearer d4h_not-a-token-%d"\n' $n
		printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
	done
} >"$T_DIR/bad.curl"
# 16 HTTP/1.1 connections at once from one address: the attempts race on both loops
curl -sS --http1.1 --parallel --parallel-max 16 -K "$T_DIR/bad.curl" \
	>"$T_DIR/bad.codes" 2>"$T_DIR/bad.err" || fail "bad-token client failed: $(head -n 3 "$T_DIR/bad.err")"
n401=$(grep -c '^401$' "$T_DIR/bad.codes" || true)
n429=$(grep -c '^429$' "$T_DIR/bad.codes" || true)
assert_eq "$n401" $FAIL_LIMIT "failed authentications answered 401 (the limit)"
assert_eq "$n429" $((BAD - FAIL_LIMIT)) "attempts over the limit answered 429"
# a valid token from that address is refused too, on whichever loop: four
# separate connections
for _ in 1 2 3 4; do
	code=$(curl -sS --interface "$BAD_ADDR" --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $USER1" \
		-o /dev/null -w '%{http_code}' "$API/api/v1/me")
	assert_eq "$code" 429 "a good token from a limited address"
done
log "failed-authentication limit: exactly $FAIL_LIMIT x 401 then 429 over 16 connections"

# ---- 3. the metrics moved by exactly what was sent -------------------------------
metrics >"$T_DIR/m1"
# m0's own request is counted once answered, m1's is not yet: +1 (a 200)
d200=$(($(mval "$T_DIR/m1" 'd4hub_api_requests_total{code="200"}') - $(mval "$T_DIR/m0" 'd4hub_api_requests_total{code="200"}')))
d401=$(($(mval "$T_DIR/m1" 'd4hub_api_requests_total{code="401"}') - $(mval "$T_DIR/m0" 'd4hub_api_requests_total{code="401"}')))
d429=$(($(mval "$T_DIR/m1" 'd4hub_api_requests_total{code="429"}') - $(mval "$T_DIR/m0" 'd4hub_api_requests_total{code="429"}')))
assert_eq "$d200" $((SENT + 1)) "d4hub_api_requests_total{code=200} moved by"
assert_eq "$d401" $FAIL_LIMIT "d4hub_api_requests_total{code=401} moved by"
assert_eq "$d429" $((BAD - FAIL_LIMIT + 4)) "d4hub_api_requests_total{code=429} moved by"
dcount=$(($(mval "$T_DIR/m1" d4hub_api_request_duration_seconds_count) - $(mval "$T_DIR/m0" d4hub_api_request_duration_seconds_count)))
assert_eq "$dcount" $((SENT + BAD + 4 + 1)) "d4hub_api_request_duration_seconds_count moved by"
dinf=$(($(mval "$T_DIR/m1" 'd4hub_api_request_duration_seconds_bucket{le="+Inf"}') - $(mval "$T_DIR/m0" 'd4hub_api_request_duration_seconds_bucket{le="+Inf"}')))
assert_eq "$dinf" $dcount "histogram +Inf bucket moved by"
# a loop counts a request when it arrives: m1's own is in, m0's was already
dloops=$(($(msum "$T_DIR/m1" d4hub_api_loop_requests_total) - $(msum "$T_DIR/m0" d4hub_api_loop_requests_total)))
assert_eq "$dloops" $((SENT + BAD + 4 + 1)) "sum of d4hub_api_loop_requests_total moved by"
assert_eq "$(grep -c '^d4hub_api_loop_requests_total{loop=' "$T_DIR/m1")" "$LOOPS" "loops in /metrics"
dhits=$(($(mval "$T_DIR/m1" 'd4hub_api_limit_hits_total{limit="auth_fail_rate"}') - $(mval "$T_DIR/m0" 'd4hub_api_limit_hits_total{limit="auth_fail_rate"}')))
assert_eq "$dhits" $((BAD - FAIL_LIMIT + 4)) "auth_fail_rate hits"
log "requests per loop: $(grep '^d4hub_api_loop_requests_total' "$T_DIR/m1" | tr '\n' ' ')"

# ---- 4. SIGTERM under load ---------------------------------------------------------
rm -f "$T_DIR"/out/*
pids=()
for ((c = 0; c < 6; c++)); do
	# ends with errors once the hub is gone: its status does not matter
	client $c "s$c" 40
	pids+=("$CLIENT_PID")
	T_BG+=("$CLIENT_PID")
done
loop_total() { metrics | awk 'index($1, "d4hub_api_loop_requests_total") == 1 { s += $2 } END { print s + 0 }'; }
base=$(loop_total)
under_load() { [ "$(loop_total)" -ge $((base + 100)) ]; }
wait_for 60 "the hub serving the load" under_load
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status after SIGTERM under load"
for p in "${pids[@]}"; do
	wait "$p" 2>/dev/null || true
done
got=$(check_answers "$T_DIR"/s*.codes)
assert_ge "$got" 100 "answers before the stop"
if grep -q "abandoned" "$T_LOG"; then
	log "note: $(grep abandoned "$T_LOG" | tail -n 1)"
fi
log "SIGTERM under load: exit 0; $got complete answers before it, every one exact"

pass "$LOOPS loops: exact answers, failed-auth limit and metrics exact, clean stop under load"
