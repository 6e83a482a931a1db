#!/usr/bin/env bash
# Analyzer queues end to end (ports picked at run time by lib.sh):
# queues created over the API, real d4-sensor runs (type 8 passivedns lines)
# fan out into them, preview, pop everything as NDJSON and compare the
# payloads with what was sent; a small queue overflows (drops counted, alert
# raised and cleared), a sensor group and another type receive nothing,
# preview + ack, flush, delete.
source "$(dirname "$0")/../lib.sh"

DNS=$D4_TEST_DATA/dns
FILES=("$DNS/local-dns.passivedns-alltypes.csv" "$DNS/dpkt-http.passivedns.csv" "$DNS/local-dns.passivedns-default.csv"
	"$DNS/dpkt-dns_icmp.passivedns.csv")

t_conf
hub_start
API=$(api_url) # the hub picks a free API port (lib.sh keeps it across restarts)
wait_until 30 curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" || fail "API not answering on $API"
ADMIN=$(ctl user add root --role admin) || fail "user add admin"
ANALYZER=$(ctl user add analyzer --role user) || fail "user add user"

# api METHOD PATH [BODY [TOKEN]]: sets CODE, CT; body in $T_DIR/body, headers in $T_DIR/hdr.
api() {
	local m=$1 p=$2 b=${3-} tok=${4-$ADMIN} out
	local args=(--http2 -sS --cacert "$T_PKI/ca.crt" -X "$m" -o "$T_DIR/body" -D "$T_DIR/hdr"
		-w '%{http_code}|%{content_type}|%{http_version}' -H "Authorization: Bearer $tok")
	[ -n "$b" ] && args+=(-H "Content-Type: application/json" --data-binary "$b")
	out=$(curl "${args[@]}" "$API$p") || fail "curl $m $p failed"
	IFS='|' read -r CODE CT HV <<<"$out"
	[ "$HV" = 2 ] || fail "$m $p: HTTP version $HV, expected 2"
}
want() {
	local m=$1 p=$2 code=$3
	shift 3
	api "$m" "$p" "$@"
	[ "$CODE" = "$code" ] || fail "$m $p: status $CODE, expected $code: $(head -c 400 "$T_DIR/body")"
}
jb() { json "$1" <"$T_DIR/body"; }
check() { [ "$(jb "$1")" = true ] || fail "${2:-check} failed: $1 on $(head -c 600 "$T_DIR/body")"; }
hdr() { tr -d '\r' <"$T_DIR/hdr" | awk -F': ' -v h="$1" 'tolower($1) == h { print $2 }'; }

sensor_new
S1=$SENSOR_UUID
K1=$SENSOR_KEY
OTHER=$(gen_uuid)

want POST /api/v1/queues 201 '{"name":"dns-all","type":8,"max_entries":100000}'
QALL=$(jb "d['id']")
want POST /api/v1/queues 201 '{"name":"dns-small","type":8,"max_entries":2}'
QSMALL=$(jb "d['id']")
want POST /api/v1/queues 201 "{\"name\":\"dns-other\",\"type\":8,\"sensors\":[\"$OTHER\"]}"
QOTHER=$(jb "d['id']")
want POST /api/v1/queues 201 '{"name":"pcap","type":1}'
QPCAP=$(jb "d['id']")
want POST /api/v1/queues 201 "{\"name\":\"dns-mine\",\"type\":8,\"sensors\":[\"$S1\"]}"
QMINE=$(jb "d['id']")
log "queues $QALL $QSMALL $QOTHER $QPCAP $QMINE"

# Four d4-sensor runs, one after the other (so their frames are committed in this order).
: >"$T_DIR/sent"
for f in "${FILES[@]}"; do
	sensor_run -u "$S1" -k "$K1" -t 8 -q <"$f" || fail "d4-sensor (type 8, $f) exited $?"
	cat "$f" >>"$T_DIR/sent"
done
# a session's close is committed after its frames (and their queue entries)
wait_for 30 "the 4 sessions of $S1 closed and committed" sessions_closed "$S1" 4
sync_store

want GET "/api/v1/queues/$QALL" 200 "" "$ANALYZER"
N=$(jb "d['depth']")
assert_ge "$N" 4 "frames queued for 4 runs"
check "d['enqueued'] == $N and d['dropped'] == 0 and d['alert'] is False and d['tail'] - d['head'] == $N"
want GET "/api/v1/queues/$QMINE" 200 "" "$ANALYZER"
check "d['depth'] == $N" "the sensor's own group gets every frame"
want GET "/api/v1/queues/$QOTHER" 200 "" "$ANALYZER"
check "d['depth'] == 0 and d['enqueued'] == 0" "another group gets nothing"
want GET "/api/v1/queues/$QPCAP" 200 "" "$ANALYZER"
check "d['depth'] == 0" "type 1 queue gets no type 8 frame"

# ---- small queue: overflow -> oldest dropped, counted, alert
want GET "/api/v1/queues/$QSMALL" 200 "" "$ANALYZER"
check "d['depth'] == 2 and d['dropped'] == $N - 2 and d['enqueued'] == $N and d['alert'] is True and d['last_drop_at'] is not None" \
	"overflow"
want GET /api/v1/queues 200 "" "$ANALYZER"
check "[q['alert'] for q in d['items'] if q['id'] == $QSMALL] == [True]" "alert shown in the list"

# ---- preview (does not consume)
want GET "/api/v1/queues/$QALL/preview?limit=3" 200 "" "$ANALYZER"
check "len(d['items']) == 3 and [i['pos'] for i in d['items']] == list(range(d['head'], d['head'] + 3))"
check "all(i['sensor'] == '$S1' and i['type'] == 8 and not i['expired'] for i in d['items'])" "preview provenance"
check "d['next_from'] == d['head'] + 3"
want GET "/api/v1/queues/$QALL" 200 "" "$ANALYZER"
check "d['depth'] == $N" "preview consumed nothing"

# ---- pop everything in batches of 3 and compare with what was sent
: >"$T_DIR/popped.ndjson"
for i in $(seq 1 1000); do
	want POST "/api/v1/queues/$QALL/pop?max=3" 200 "" "$ANALYZER"
	[ -s "$T_DIR/body" ] || break
	assert_eq "${CT%%;*}" application/x-ndjson "pop content type"
	cat "$T_DIR/body" >>"$T_DIR/popped.ndjson"
	[ "$(wc -l <"$T_DIR/body")" -le 3 ] || fail "pop returned more than max=3 lines"
done
assert_eq "$(hdr d4-queue-depth)" 0 "depth header after the last pop"
"$PY" - "$T_DIR/popped.ndjson" "$T_DIR/sent" "$S1" "$N" <<'EOF' || fail "popped frames differ from what was sent"
import base64, json, sys
lines = open(sys.argv[1]).read().splitlines()
sent = open(sys.argv[2], "rb").read()
recs = [json.loads(l) for l in lines]
assert len(recs) == int(sys.argv[4]), f"{len(recs)} frames popped, {sys.argv[4]} queued"
pos = [r["pos"] for r in recs]
assert pos == sorted(pos) and len(set(pos)) == len(pos), "positions not increasing"
seq = [r["seq"] for r in recs]
assert seq == sorted(seq), "frames not in log order"
for r in recs:
    assert r["sensor"] == sys.argv[3] and r["type"] == 8, r
    assert len(base64.b64decode(r["payload_b64"])) == r["size"], r
got = b"".join(base64.b64decode(r["payload_b64"]) for r in recs)
assert got == sent, f"payloads ({len(got)} bytes) != sent ({len(sent)} bytes)"
EOF
want GET "/api/v1/queues/$QALL" 200 "" "$ANALYZER"
check "d['depth'] == 0 and d['consumed'] == $N and d['expired'] == 0" "consumed counter"

# ---- preview + ack (at-least-once consumer) on the group queue
want GET "/api/v1/queues/$QMINE/preview?limit=2" 200 "" "$ANALYZER"
ACK=$(jb "d['items'][-1]['pos'] + 1")
want POST "/api/v1/queues/$QMINE/ack" 200 "{\"cursor\":$ACK}" "$ANALYZER"
check "d['depth'] == $N - 2 and d['consumed'] == 2 and d['head'] == $ACK" "ack"
want POST "/api/v1/queues/$QMINE/ack" 422 "{\"cursor\":$((ACK + N + 5))}" "$ANALYZER"

# ---- follow: a long-lived NDJSON stream gets frames committed while it is open;
# it does not consume (the follower acks)
want POST /api/v1/queues 201 '{"name":"dns-follow","type":8}'
QF=$(jb "d['id']")
# (-N: curl writes each line as it arrives; the stream stays open: the test
# ends it once every queued frame arrived,
# so that no idle timeout has to guess how slow the machine is)
timeout 90 curl -N --http2 -sS --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ANALYZER" \
	"$API/api/v1/queues/$QF/follow?idle_timeout=60" -o "$T_DIR/follow.ndjson" &
FPID=$!
T_BG+=("$FPID")
sensor_run -u "$S1" -k "$K1" -t 8 -q <"${FILES[2]}" || fail "d4-sensor (follow) exited $?"
wait_for 30 "the follow run's session closed and committed" sessions_closed "$S1" 5
want GET "/api/v1/queues/$QF" 200 "" "$ANALYZER"
NF=$(jb "d['depth']")
assert_ge "$NF" 1 "frames for the follower"
followed() { [ "$(wc -l <"$T_DIR/follow.ndjson" 2>/dev/null || echo 0)" -ge "$NF" ]; }
wait_for 30 "$NF frames on the follow stream" followed
kill -TERM "$FPID" 2>/dev/null || true
_wait_pid "$FPID" 30 || fail "the follow stream's curl did not stop"
"$PY" - "$T_DIR/follow.ndjson" "${FILES[2]}" "$NF" <<'EOF2' || fail "followed frames differ from what was sent"
import base64, json, sys
recs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines() if l.strip()]
assert len(recs) == int(sys.argv[3]), f"{len(recs)} frames followed, {sys.argv[3]} queued"
assert b"".join(base64.b64decode(r["payload_b64"]) for r in recs) == open(sys.argv[2], "rb").read()
EOF2
FCUR=$("$PY" -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]["pos"] + 1)' "$T_DIR/follow.ndjson")
want POST "/api/v1/queues/$QF/ack" 200 "{\"cursor\":$FCUR}" "$ANALYZER"
check "d['depth'] == 0 and d['consumed'] == $NF" "follower ack"
# a bounded follow from a cursor
want GET "/api/v1/queues/$QMINE" 200 "" "$ANALYZER"
H=$(jb "d['head']")
timeout 30 curl --http2 -sS --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ANALYZER" \
	"$API/api/v1/queues/$QMINE/follow?cursor=$((H + 1))&max=1" -o "$T_DIR/follow1.ndjson" || fail "follow max=1"
assert_eq "$("$PY" -c 'import json,sys; print([json.loads(l)["pos"] for l in open(sys.argv[1]) if l.strip()])' "$T_DIR/follow1.ndjson")" \
	"[$((H + 1))]" "follow from a cursor, max=1"
want DELETE "/api/v1/queues/$QF" 204

# ---- alert: explicit clear (admin), consumer catching up clears it too
want PATCH "/api/v1/queues/$QSMALL" 403 '{"alert":false}' "$ANALYZER"
want PATCH "/api/v1/queues/$QSMALL" 200 '{"alert":false}'
check "d['alert'] is False and d['dropped'] >= $N - 2" "alert cleared, drops kept"
DROPPED=$(jb "d['dropped']")
sensor_run -u "$S1" -k "$K1" -t 8 -q <"${FILES[0]}" || fail "d4-sensor exited $?"
wait_for 30 "the 6th session of $S1 closed and committed" sessions_closed "$S1" 6
sync_store
want GET "/api/v1/queues/$QSMALL" 200 "" "$ANALYZER"
check "d['alert'] is True and d['dropped'] > $DROPPED" "a new drop raises the alert again"
want POST "/api/v1/queues/$QSMALL/pop?max=1000" 200 "" "$ANALYZER"
want GET "/api/v1/queues/$QSMALL" 200 "" "$ANALYZER"
check "d['depth'] == 0 and d['alert'] is False" "emptied by the consumer: alert cleared"

# ---- flush (every type, unlike the reference) and delete
want GET "/api/v1/queues/$QMINE" 200 "" "$ANALYZER"
D=$(jb "d['depth']")
assert_ge "$D" 1 "entries left to flush"
want POST "/api/v1/queues/$QMINE/flush" 403 "" "$ANALYZER"
want POST "/api/v1/queues/$QMINE/flush" 200
check "d['depth'] == 0 and d['flushed'] == $D" "flush"
for q in $QALL $QSMALL $QOTHER $QPCAP $QMINE; do
	want DELETE "/api/v1/queues/$q" 204
done
want GET "/api/v1/queues/$QALL" 404 "" "$ANALYZER"
want GET /api/v1/queues 200 "" "$ANALYZER"
check "d['items'] == []" "all deleted"
# frames are untouched by queue deletion
sensor_run -u "$S1" -k "$K1" -t 8 -q <"${FILES[1]}" || fail "d4-sensor after deletion exited $?"
sync_store
hub_alive || fail "hub died"
pass "queues: fan-out, preview, pop == sent, overflow + alert, ack, flush, delete"
