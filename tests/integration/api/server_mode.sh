#!/usr/bin/env bash
# The server (ingest) mode switched at run time over the API (GET/PUT
# /api/v1/server), end to end with real d4-sensor runs:
#   registration (config) -> an unknown sensor with the shared key is refused;
#   PUT shared-secret + key -> the same sensor delivers (auto-created approved);
#   a new shared key closes the live connection that proved the old one;
#   PUT registration -> the keyless auto-created sensor's live connection is
#   closed and its new connections refused; the run-time mode survives a
#   restart (mode_source runtime); role and body errors (403, 400, 415, 422).
# Address 127.0.0.6; ports picked at run time by lib.sh.
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.6}
source "$(dirname "$0")/../lib.sh"

CSV=$D4_TEST_DATA/dns/local-dns.passivedns-alltypes.csv
SK="run-time shared key #1"
SK2="run-time shared key #2"

t_conf
hub_start
API=$(api_url) # the hub picks a free API port (lib.sh keeps it across restarts)
wait_until 30 curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" || fail "API not answering on $API"
ADMIN=$(ctl user add root --role admin) || fail "user add admin"
VIEWER=$(ctl user add viewer --role user) || fail "user add user"

# api METHOD PATH [BODY [TOKEN [CONTENT-TYPE]]]: one request over HTTP/2; sets
# CODE and CT, body in $T_DIR/body. TOKEN defaults to the admin's.
api() {
	local m=$1 p=$2 b=${3-} tok=${4-$ADMIN} ctype=${5-application/json} out
	local args=(--http2 -sS --cacert "$T_PKI/ca.crt" -X "$m" -o "$T_DIR/body" -w '%{http_code}|%{content_type}|%{http_version}')
	args+=(-H "Authorization: Bearer $tok")
	[ -n "$b" ] && args+=(-H "Content-Type: $ctype" --data-binary "$b")
	out=$(curl "${args[@]}" "$API$p") || fail "curl $m $p failed"
	IFS='|' read -r CODE CT HV <<<"$out"
	[ "$HV" = 2 ] || fail "$m $p: HTTP version $HV, expected 2"
}
jb() { json "$1" <"$T_DIR/body"; }
# want METHOD PATH CODE [BODY [TOKEN [CT]]]: status and content type (problems: their status and type slug).
want() {
	local m=$1 p=$2 code=$3
	shift 3
	api "$m" "$p" "$@"
	[ "$CODE" = "$code" ] || fail "$m $p: status $CODE, expected $code: $(head -c 400 "$T_DIR/body")"
	case $code in
	2*) assert_eq "${CT%%;*}" application/json "$m $p content type" ;;
	*)
		assert_eq "${CT%%;*}" application/problem+json "$m $p content type"
		assert_eq "$(jb "d['status']")" "$code" "$m $p problem status"
		;;
	esac
}
# mode_is MODE SOURCE KEYSET: the last answer is that ServerMode document, exactly.
mode_is() {
	assert_eq "$(jb "[d['mode'], d['mode_source'], d['shared_key_set'], len(d)]")" "[\"$1\", \"$2\", $3, 3]" \
		"server mode document"
}
# open_session UUID: id of the sensor's open session, if any (API).
open_session() {
	api GET "/api/v1/sensors/$1/sessions" "" "$VIEWER"
	[ "$CODE" = 200 ] || return 1
	jb "next((str(s['id']) for s in d['items'] if s['ended'] is None), '')"
}
has_open() { [ -n "$(open_session "$1")" ]; }
# session_reason UUID ID: close_reason of session ID once it has ended ("" while open).
session_reason() {
	api GET "/api/v1/sensors/$1/sessions" "" "$VIEWER"
	jb "next(((s['close_reason'] or '?') if s['ended'] else '' for s in d['items'] if s['id'] == $2), '')"
}
session_closed() { [ -n "$(session_reason "$1" "$2")" ]; }
key_not_logged() {
	if grep -qF -e "$SK" -e "$SK2" "$T_LOG"; then fail "a shared key appears in the hub log"; fi
}
# live UUID KEY: d4-sensor following a file in the background; waits for its open session (sets LIVE_SID).
live() {
	: >"$T_DIR/follow.txt"
	sensor_bg -u "$1" -k "$2" -t 8 -F "$T_DIR/follow.txt"
	LIVE_PID=$SENSOR_PID
	feed_open() {
		echo "line $(date +%s%N)" >>"$T_DIR/follow.txt"
		has_open "$1"
	}
	wait_until 30 feed_open "$1" || fail "no open session for the live sensor: $(tail -5 "$T_DIR/sensor.log")"
	LIVE_SID=$(open_session "$1")
}
stop_live() {
	kill -TERM "$LIVE_PID" 2>/dev/null || true
	_wait_pid "$LIVE_PID" 30 || kill -KILL "$LIVE_PID" 2>/dev/null || true
}

# ---- the config's mode; errors before any change ---------------------------------------------
want GET /api/v1/server 200
mode_is registration config false
want GET /api/v1/server 403 "" "$VIEWER"
want PUT /api/v1/server 403 '{"mode":"shared-secret","shared_key":"x"}' "$VIEWER"
want PUT /api/v1/server 422 '{"mode":"shared-secret"}'
assert_contains "$(jb "d['detail']")" "shared key" "422 detail"
want PUT /api/v1/server 400 '{"mode":'
want PUT /api/v1/server 400 ''
want PUT /api/v1/server 415 'mode=registration' "$ADMIN" text/plain
want PUT /api/v1/server 422 '{"mode":"open"}'
want PUT /api/v1/server 422 '{"shared_key":"k"}'
want PUT /api/v1/server 422 '{"mode":"registration","shared_key":""}'
want PUT /api/v1/server 422 "{\"mode\":\"shared-secret\",\"shared_key\":\"$(printf 'k%.0s' $(seq 256))\"}"
want PUT /api/v1/server 422 '{"mode":"registration","shared_key":7}'
want PUT /api/v1/server 422 '{"mode":"registration","extra":1}'
want GET /api/v1/server 200
mode_is registration config false
log "config mode shown; 403 for a user token; 400/415/422 bodies change nothing"

# ---- registration: an unknown sensor with the (future) shared key is refused -------------------
X=$(gen_uuid)
sensor_run -u "$X" -k "$SK" -t 8 -q --drain-timeout 2 <"$CSV" 2>>"$T_DIR/sensor.log" && true
assert_rejected - unknown-sensor
assert_eq "$(frames_of "$X")" 0 "frames of the unknown sensor in registration mode"
want GET "/api/v1/sensors/$X" 404 "" "$VIEWER"
log "registration mode: unknown sensor refused (unknown-sensor), nothing stored"

# ---- shared-secret at run time: the same sensor delivers at once ------------------------------
want PUT /api/v1/server 200 "{\"mode\":\"shared-secret\",\"shared_key\":\"$SK\"}"
mode_is shared-secret runtime true
[ "$(grep -c "$SK" "$T_DIR/body")" = 0 ] || fail "the answer contains the key"
assert_log "notice: .*server mode changed to shared-secret \(run-time setting\)"
# no hub_sync: new connections must see the change at once
sensor_run -u "$X" -k "$SK" -t 8 -q --drain-timeout 30 <"$CSV" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor with the run-time shared key exited $?"
wait_for 30 "the session of $X closed and committed" sessions_closed "$X" 1
sync_store
LINES=$(wc -l <"$CSV")
N=$(frames_of "$X")
assert_ge "$N" 1 "frames of the sensor after the switch to shared-secret"
payload_of_sensor "$X" "$T_DIR/got"
cmp -s "$T_DIR/got" "$CSV" || fail "stored payload differs from the sent file ($LINES lines)"
want GET "/api/v1/sensors/$X" 200 "" "$VIEWER"
assert_eq "$(jb "[d['status'], d['packets'] > 0]")" '["approved", true]' "auto-created sensor via the API"
want GET /api/v1/stats/totals 200 "" "$VIEWER"
assert_ge "$(jb "d['frames']")" "$N" "stats totals frames"
log "PUT shared-secret: the same d4-sensor delivered $N frames (payload identical), sensor auto-created approved"

# ---- a new shared key closes the connection that proved the old one ---------------------------
live "$X" "$SK"
want PUT /api/v1/server 200 "{\"mode\":\"shared-secret\",\"shared_key\":\"$SK2\"}"
mode_is shared-secret runtime true
assert_log "notice: .*shared key was changed"
wait_until 30 session_closed "$X" "$LIVE_SID" || fail "the live session with the old key was not closed"
assert_eq "$(session_reason "$X" "$LIVE_SID")" hmac-mismatch "close reason after a key change"
assert_log "warning: .*$X.*hmac-mismatch: the hub's shared key was changed"
stop_live
sensor_run -u "$X" -k "$SK2" -t 8 -q --drain-timeout 30 <"$CSV" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor with the new shared key exited $?"
wait_for 30 "the 3 sessions of $X closed and committed" sessions_closed "$X" 3
sync_store
assert_ge "$(frames_of "$X")" $((N + 1)) "frames with the new shared key"
log "new shared key: the live connection with the old key closed (hmac-mismatch), the new key delivers"

# ---- registration again: the keyless auto-created sensor is shut out ---------------------------
live "$X" "$SK2"
want PUT /api/v1/server 200 '{"mode":"registration"}'
mode_is registration runtime true
assert_log "notice: .*server mode changed to registration \(run-time setting\)"
wait_until 30 session_closed "$X" "$LIVE_SID" || fail "the keyless sensor's live session was not closed"
assert_eq "$(session_reason "$X" "$LIVE_SID")" unknown-sensor "close reason after the switch to registration"
assert_log "warning: .*$X.*unknown-sensor: sensor has no key of its own"
stop_live
sync_store
BEFORE=$(frames_of "$X")
REJ0=$(sensor_rejects "$X" unknown-sensor)
sensor_run -u "$X" -k "$SK2" -t 8 -q --drain-timeout 2 <"$CSV" 2>>"$T_DIR/sensor.log" && true
# refused at its header, before any verified packet: counted under its
# address in the ingest watch, the sensor's record untouched
assert_log "warning: unverified connection from 127.0.0.1 \\(claimed sensor $X\\): unknown-sensor: sensor has no key of its own"
assert_eq "$(sensor_rejects "$X" unknown-sensor)" "$REJ0" "unknown-sensor charged to the keyless sensor"
sync_store
assert_eq "$(frames_of "$X")" "$BEFORE" "frames of the keyless sensor after the switch to registration"
# a registered sensor with its own key is unaffected
sensor_new
sensor_run -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 8 -q --drain-timeout 30 <"$CSV" 2>>"$T_DIR/sensor.log" ||
	fail "registered sensor exited $?"
wait_for 30 "the registered sensor's session closed and committed" sessions_closed "$SENSOR_UUID" 1
sync_store
assert_ge "$(frames_of "$SENSOR_UUID")" 1 "frames of a registered sensor in registration mode"
log "PUT registration: keyless sensor's live connection closed (unknown-sensor), new ones refused; registered sensor fine"

# ---- the run-time mode survives a restart -------------------------------------------------------
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
hub_start
wait_until 30 curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" || fail "API not answering after restart"
want GET /api/v1/server 200
mode_is registration runtime true
assert_log "notice: .*server mode registration \(run-time setting, overrides the config\), shared key set at run time"
N1=$(grep -c "unverified connection from 127.0.0.1 (claimed sensor $X): unknown-sensor" "$T_LOG" || true)
sensor_run -u "$X" -k "$SK2" -t 8 -q --drain-timeout 2 <"$CSV" 2>>"$T_DIR/sensor.log" && true
wait_until 30 sh -c "[ \$(grep -c 'unverified connection from 127.0.0.1 (claimed sensor $X): unknown-sensor' '$T_LOG') -gt $N1 ]" ||
	fail "keyless sensor admitted after the restart"
# the stored key is kept: shared-secret again without giving it
want PUT /api/v1/server 200 '{"mode":"shared-secret"}'
mode_is shared-secret runtime true
sensor_run -u "$X" -k "$SK2" -t 8 -q --drain-timeout 30 <"$CSV" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor with the stored shared key after the restart exited $?"
log "restart: mode_source runtime, registration still enforced; the stored key serves shared-secret again"

key_not_logged
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "server mode over the API: switch, enforcement on new and live connections, persistence, errors"
