#!/usr/bin/env bash
# Connections that prove nothing must never keep a sensor out, write into its
# counters, or cost the hub a core; an idle verified sensor stays connected.
# Real d4hub, d4-sensor and d4-craft processes over TLS on loopback:
#   squat      connections that only know a sensor's uuid (header only, forged
#              HMAC, silence) while the real d4-sensor streams a followed file
#   idle       a followed file that stays quiet for several header timeouts
#   addrlimit  many idle connections from 127.0.0.2 (TLS done or not even
#              started) while a registered sensor on 127.0.0.1 connects
#   spin       the store paused (map full), the peer of a paused connection
#              resets: the ingest thread stays idle, the connection is released
#   unverified.sh CASE
source "$(dirname "$0")/../lib.sh"

CASE=${1:?usage: unverified.sh squat|idle|addrlimit|spin}
command -v curl >/dev/null || fail "curl is required"

conf=()
case $CASE in
squat) conf+=(ingest.header_timeout=3) ;;
idle) conf+=(ingest.header_timeout=2) ;;
addrlimit) conf+=(ingest.max_unverified_per_address=5 ingest.handshake_timeout=2 ingest.header_timeout=90) ;;
spin) conf+=(store.map_size=1M) ;;
esac
t_conf "${conf[@]}"
hub_start
API=$(api_url)
TOKEN=$(ctl user add watch-admin --role admin) || fail "user add admin"
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY

# api PATH: GET with the admin token, body on stdout.
api() { curl -sSf --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" "$API$1"; }
# unverified EXPR: a Python expression over GET /api/v1/ingest/unverified (d).
unverified() { api "/api/v1/ingest/unverified?limit=1024" | json "$1"; }
# watch_count ADDR UUID|None REASON: that entry's counter for REASON (0 if none).
watch_count() {
	local u=None
	[ "$2" = None ] || u="'$2'"
	unverified "sum(e['reasons'].get('$3', 0) for e in d['entries'] if e['address'] == '$1' and e['claimed_uuid'] == $u)"
}
watch_eq() { [ "$(watch_count "$1" "$2" "$3")" = "$4" ]; }
# ingest_is FIELD N: the ingest's live figure FIELD is N (for wait_until).
ingest_is() { [ "$(unverified "d['ingest']['$1']")" = "$2" ]; }
sensor_clean() { # UUID: no rejection counted, no last error
	local j
	j=$(sensor_json "$1")
	assert_eq "$(echo "$j" | json "sum(d['rejections'].values())")" 0 "rejections charged to sensor $1"
	assert_eq "$(echo "$j" | json "d['last_error'] or ''")" "" "last_error of sensor $1"
}
sessions_of() { ctl --json sessions "$1" | json "len(d)"; }
got_all() { # FILE: the sensor's stored payloads are exactly FILE
	payload_of_sensor "$U" "$T_DIR/got"
	cmp -s "$T_DIR/got" "$1"
}

case $CASE in
squat)
	F=$T_DIR/followed.log
	for i in $(seq 1 10); do echo "line $i before the squatters"; done >"$F"
	SQ="set uuid=$U key=not-the-sensor-key type=8"
	# two connections claim (U, 8) with a header and wait for a payload that
	# never comes: under the old rule the first one kept the sensor out
	for n in 1 2; do
		craft --bind 127.0.0.2 >"$T_DIR/squat$n.out" 2>&1 <<EOF &
$SQ
frame size=100 headeronly
expect-close 20
EOF
		T_BG+=($!)
		eval "SQ$n=\$!"
	done
	wait_until 10 ingest_is unverified 2 ||
		fail "the two squatting connections are not open: $(unverified "d['ingest']")"
	# the real sensor, same uuid and type, from another address
	sensor_bg -u "$U" -k "$K" -t 8 -F "$F" --from-start
	wait_until 15 got_all "$F" || fail "the sensor's lines were not stored while squatters held its uuid"
	log "the real sensor got in while two connections claimed its uuid and type"
	for n in 1 2; do
		pid=SQ$n
		_wait_pid "${!pid}" 25 || fail "squatter $n still connected"
		[ "$_WAIT_RC" -eq 0 ] || { cat "$T_DIR/squat$n.out"; fail "squatter $n: d4-craft rc $_WAIT_RC"; }
	done
	# a forged packet and a header followed by silence, while the sensor streams
	craft --bind 127.0.0.2 >>"$T_DIR/craft.out" 2>&1 <<EOF || { cat "$T_DIR/craft.out"; fail "forged packet not refused"; }
$SQ
frame payload=text:FORGED-by-a-squatter
expect-close 5
EOF
	craft --bind 127.0.0.2 >>"$T_DIR/craft.out" 2>&1 <<EOF || { cat "$T_DIR/craft.out"; fail "silent squatter not closed"; }
$SQ
frame size=100 headeronly
expect-close 10
EOF
	for i in $(seq 1 10); do echo "line $i after the squatters"; done >>"$F"
	wait_until 15 got_all "$F" || fail "lines appended after the squatters not stored exactly once"
	sync_store
	payload_of_sensor "$U" "$T_DIR/got"
	cmp "$T_DIR/got" "$F" || fail "stored lines differ from the followed file"
	assert_eq "$(grep -c . "$T_DIR/got")" 20 "lines stored"
	ctl frames --payload >"$T_DIR/frames.pay" || fail "d4hubctl frames --payload"
	if grep -q FORGED "$T_DIR/frames.pay"; then fail "a forged frame was stored"; fi
	# nothing of it was charged to the sensor; one session, never refused
	sensor_clean "$U"
	assert_eq "$(sessions_of "$U")" 1 "sessions of the real sensor"
	# counted under the squatters' address and the uuid they claimed
	wait_until 5 watch_eq 127.0.0.2 "$U" hmac-mismatch 1 ||
		fail "hmac-mismatch under 127.0.0.2: $(watch_count 127.0.0.2 "$U" hmac-mismatch)"
	d=$(watch_count 127.0.0.2 "$U" displaced)
	h=$(watch_count 127.0.0.2 "$U" header-timeout)
	# the two early squatters are displaced when the sensor's first packet
	# verifies (or time out if their header came later); the last one times out
	assert_eq "$((d + h))" 3 "displaced + header-timeout under 127.0.0.2 (displaced $d, header-timeout $h)"
	assert_ge "$h" 1 "header-timeout of the silent squatter"
	assert_eq "$(unverified "[e['total'] for e in d['entries'] if e['address'] == '127.0.0.2'][0]")" 4 \
		"events under 127.0.0.2"
	# who claimed the sensor's uuid: exactly that one source
	assert_eq "$(api "/api/v1/ingest/unverified?uuid=$U" | json "[(e['address'], e['total']) for e in d['entries']]")" \
		'[["127.0.0.2", 4]]' "entries that claimed $U"
	assert_log "warning: unverified connection from 127.0.0.2 \\(claimed sensor $U\\): hmac-mismatch"
	api /metrics >"$T_DIR/metrics" || fail "GET /metrics"
	grep -q "^d4hub_ingest_unverified_by_source_total{address=\"127.0.0.2\",claimed_uuid=\"$U\",reason=\"hmac-mismatch\"} 1$" \
		"$T_DIR/metrics" || fail "no per-source hmac-mismatch series in /metrics"
	pass "20 lines stored exactly once; 4 squatting connections counted under 127.0.0.2 (displaced $d), none charged to the sensor"
	;;
idle)
	F=$T_DIR/quiet.log
	printf 'first line\nsecond line\n' >"$F"
	sensor_bg -u "$U" -k "$K" -t 8 -F "$F" --from-start
	wait_until 15 got_all "$F" || fail "first lines not stored"
	# quiet for six header-timeout periods: the connection must stay, with
	# nothing counted (checked all along, not only at the end)
	t_end=$(($(date +%s) + 12))
	while [ "$(date +%s)" -lt $t_end ]; do
		kill -0 "$SENSOR_PID" || fail "d4-sensor exited"
		! grep -q "header-timeout" "$T_LOG" || fail "the idle sensor was timed out: $(grep header-timeout "$T_LOG")"
		sleep 0.5
	done
	echo "third line, after the silence" >>"$F"
	wait_until 15 got_all "$F" || fail "the line written after the silence was not stored"
	sync_store
	assert_eq "$(sessions_of "$U")" 1 "sessions (a reconnect opens a second one)"
	assert_eq "$(ctl --json sessions "$U" | json "d[0]['ended']")" null "end time of the session (null: still open)"
	sensor_clean "$U"
	assert_eq "$(ctl --json status | json "sum(d['rejects'].values())")" 0 "rejections counted by the hub"
	assert_eq "$(unverified "len(d['entries'])")" 0 "unverified events"
	if grep -Eq "closed the connection|peer closed" "$T_LOG"; then fail "the connection was closed: $(grep -E 'closed' "$T_LOG")"; fi
	assert_eq "$(unverified "d['ingest']['connections']")" 1 "open ingest connections"
	pass "a sensor quiet for 6 header timeouts stayed connected: 1 session, 0 rejections"
	;;
addrlimit)
	# 150 connections from 127.0.0.2: 5 complete TLS and stay idle (they hold
	# the address's 5 unverified slots for the 90 s header timeout), 145 more
	# plain TCP connections are refused at accept, before any TLS work
	"$PY" - "$T_ADDR" "$T_PORT" "$T_PKI/ca.crt" "$T_DIR/flood.ready" <<'EOF' >"$T_DIR/flood.out" 2>&1 &
import socket, ssl, sys, time
host, port, ca, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
held = []
for i in range(5):
    s = socket.socket()
    s.bind(('127.0.0.2', 0))
    s.connect((host, port))
    held.append(ctx.wrap_socket(s))
for i in range(145):
    s = socket.socket()
    s.bind(('127.0.0.2', 0))
    s.connect((host, port))
    held.append(s)
open(ready, 'w').write('ok\n')
time.sleep(120)
EOF
	FLOOD=$!
	T_BG+=("$FLOOD")
	wait_until 20 test -s "$T_DIR/flood.ready" || { cat "$T_DIR/flood.out"; fail "the flood did not connect"; }
	wait_until 10 watch_eq 127.0.0.2 None address-limit 145 ||
		fail "address-limit refusals of 127.0.0.2: $(watch_count 127.0.0.2 None address-limit)"
	# a connection that never starts TLS, from elsewhere: handshake timeout
	"$PY" -c "
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.3', 0)); s.connect(('$T_ADDR', $T_PORT))
s.settimeout(10)
t = time.time()
print('closed' if s.recv(1) == b'' else 'data', round(time.time() - t, 1))" >"$T_DIR/hs.out" 2>&1 ||
		{ cat "$T_DIR/hs.out"; fail "handshake probe failed"; }
	assert_contains "$(cat "$T_DIR/hs.out")" closed "connection without a TLS handshake"
	wait_until 5 watch_eq 127.0.0.3 None handshake-timeout 1 || fail "handshake-timeout of 127.0.0.3 not counted"
	# the registered sensor on 127.0.0.1 still gets in
	printf 'from the sensor\n' >"$T_DIR/in"
	sensor_run -u "$U" -k "$K" -t 8 <"$T_DIR/in" || fail "d4-sensor exited $?"
	wait_until 10 got_all "$T_DIR/in" || fail "the sensor's data was not stored"
	sensor_clean "$U"
	kill -0 "$FLOOD" || fail "the flood's connections are gone too early"
	assert_eq "$(unverified "d['ingest']['max_unverified_per_address']")" 5 "limit shown by the API"
	wait_until 5 ingest_is addresses_at_limit 1 ||
		fail "addresses at the limit: $(unverified "d['ingest']")"
	assert_eq "$(watch_count 127.0.0.2 None address-limit)" 145 "address-limit refusals (exact)"
	api /metrics >"$T_DIR/metrics" || fail "GET /metrics"
	grep -q '^d4hub_ingest_max_unverified_per_address 5$' "$T_DIR/metrics" || fail "limit not in /metrics"
	grep -q '^d4hub_ingest_unverified_total{reason="address-limit"} 145$' "$T_DIR/metrics" ||
		fail "address-limit total not in /metrics: $(grep address-limit "$T_DIR/metrics")"
	grep -q '^d4hub_ingest_unverified_by_source_total{address="127.0.0.2",claimed_uuid="",reason="address-limit"} 145$' \
		"$T_DIR/metrics" || fail "per-source address-limit series not in /metrics"
	assert_log "warning: ingest: [0-9]+ connection\\(s\\) from 127.0.0.2 refused: address-limit"
	pass "145 of 150 connections from 127.0.0.2 refused at accept; the sensor on 127.0.0.1 got in"
	;;
spin)
	# fill the 1 MiB map (the writer pauses), then more frames: the
	# connection waits for store room; then its peer resets
	craft >"$T_DIR/spin.out" 2>&1 <<EOF &
set uuid=$U key=$K type=1
frame size=60000 count=34
wait-file $T_DIR/store-paused 30
frame size=60000 count=3
wait-file $T_DIR/conn-paused 30
reset
EOF
	CR=$!
	T_BG+=("$CR")
	assert_log "store: writer paused" 20
	touch "$T_DIR/store-paused"
	wait_until 10 ingest_is paused 1 || fail "the connection did not wait for store room: $(unverified "d['ingest']")"
	touch "$T_DIR/conn-paused"
	_wait_pid "$CR" 20 || fail "d4-craft did not reset"
	[ "$_WAIT_RC" -eq 0 ] || { cat "$T_DIR/spin.out"; fail "d4-craft rc $_WAIT_RC"; }
	assert_log "warning: ingest: 127.0.0.1 hung up while waiting for store room" 10
	assert_eq "$(api /health | json "d['store']['paused']")" true "store paused"
	wait_until 5 ingest_is connections 0 ||
		fail "the reset connection is still held: $(unverified "d['ingest']")"
	# CPU of every hub thread over 3 s while still paused (a spinning loop
	# burns ~300 ticks; an idle one a few)
	ticks() { cat /proc/"$HUB_PID"/task/*/stat | awk '{ print $1, $14 + $15 }' | sort; }
	ticks >"$T_DIR/t0"
	t1=$(($(date +%s%N) + 3000000000))
	while [ "$(date +%s%N)" -lt $t1 ]; do sleep 0.2; done
	ticks >"$T_DIR/t1"
	worst=$(join "$T_DIR/t0" "$T_DIR/t1" | awk '{ d = $3 - $2; if (d > m) m = d } END { print m + 0 }')
	log "busiest hub thread: $worst ticks (1/100 s) in 3 s while paused"
	[ "$worst" -le 30 ] || fail "a hub thread used $worst ticks in 3 s while the store was paused: $(join "$T_DIR/t0" "$T_DIR/t1")"
	assert_eq "$(api /health | json "d['store']['paused']")" true "store still paused during the measure"
	pass "paused connection reset by its peer: released, hub threads idle ($worst ticks in 3 s)"
	;;
*)
	fail "unknown case $CASE"
	;;
esac
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status after SIGTERM"
