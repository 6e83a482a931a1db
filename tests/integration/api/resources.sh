#!/usr/bin/env bash
# REST API resources end to end (ports picked at run time by lib.sh): a
# real d4hub with its API, tokens made by d4hubctl,
# every sensor/blocklist/types/stats/users/registration operation over
# HTTP/2 with curl (status, content type, key fields), each error class
# (400 401 403 404 409 415 422), and the effects on real d4-sensor runs:
# register (d4-core body) -> pending -> approve -> stream -> counters and
# history move; kick closes a live connection; block/unblock; blocklist
# CIDR; type 3 accepted only once enabled.
source "$(dirname "$0")/../lib.sh"

CSV=$D4_TEST_DATA/dns/local-dns.passivedns-alltypes.csv
PCAP=$D4_TEST_DATA/dns/local-dns.pcap

t_conf
hub_start
API=$(api_url) # the hub picks a free API port (lib.sh keeps it across restarts)
wait_until 30 curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" || fail "API not answering on $API"

ADMIN=$(ctl user add root --role admin) || fail "user add admin"
VIEWER=$(ctl user add viewer --role user) || fail "user add user"
REG=$(ctl user add registrar --role sensor_register) || fail "user add sensor_register"

# api METHOD PATH [BODY [TOKEN [CONTENT-TYPE]]]: one request; sets CODE and CT,
# body in $T_DIR/body. TOKEN defaults to the admin's; "-" sends none.
api() {
	local m=$1 p=$2 b=${3-} tok=${4-$ADMIN} ctype=${5-application/json} out
	local args=(--http2 -sS --cacert "$T_PKI/ca.crt" -X "$m" -o "$T_DIR/body" -w '%{http_code}|%{content_type}|%{http_version}')
	[ "$tok" != - ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$b" ] && args+=(-H "Content-Type: $ctype" --data-binary "$b")
	out=$(curl "${args[@]}" "$API$p") || fail "curl $m $p failed"
	IFS='|' read -r CODE CT HV <<<"$out"
	[ "$HV" = 2 ] || fail "$m $p: HTTP version $HV, expected 2"
}
# want METHOD PATH CODE [BODY [TOKEN [CT]]]: request + status + content type;
# for problems also the problem's status member.
want() {
	local m=$1 p=$2 code=$3
	shift 3
	api "$m" "$p" "$@"
	[ "$CODE" = "$code" ] || fail "$m $p: status $CODE, expected $code: $(head -c 400 "$T_DIR/body")"
	case $code in
	204) [ ! -s "$T_DIR/body" ] || fail "$m $p: 204 with a body" ;;
	2*) assert_eq "${CT%%;*}" application/json "$m $p content type" ;;
	*)
		assert_eq "${CT%%;*}" application/problem+json "$m $p content type"
		assert_eq "$(jb "d['status']")" "$code" "$m $p problem status"
		;;
	esac
}
# jb EXPR: python expression over the last response body (as d).
jb() { json "$1" <"$T_DIR/body"; }
# problem METHOD PATH CODE SLUG [BODY [TOKEN [CT]]]
problem() {
	local m=$1 p=$2 code=$3 slug=$4
	shift 4
	want "$m" "$p" "$code" "$@"
	assert_eq "$(jb "d['type']")" "https://d4hub.invalid/problems/$slug" "$m $p problem type"
}
check() { [ "$(jb "$1")" = true ] || fail "${2:-check} failed: $1 on $(head -c 600 "$T_DIR/body")"; }
# eventually PATH EXPR WHAT [TOKEN]: GETs PATH until EXPR holds on the answer
# (30 s deadline). For effects another thread commits after the action that
# caused them: the writer commits rejections and frames asynchronously.
eventually() {
	local p=$1 e=$2 what=$3 tok=${4-$ADMIN}
	_ev_once() { want GET "$p" 200 "" "$tok" && [ "$(jb "$e")" = true ]; }
	wait_until 30 _ev_once || fail "$what: not true within 30 s: $e on $(head -c 600 "$T_DIR/body")"
}

# ---- auth classes -------------------------------------------------------------
problem GET /api/v1/sensors 401 unauthorized "" -
problem GET /api/v1/sensors 401 unauthorized "" "d4h_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
problem GET /api/v1/sensors 403 forbidden "" "$REG"
problem POST /api/v1/sensors 403 forbidden '{"uuid":"0123456789ab4def8123456789abcdef"}' "$VIEWER"
want GET /api/v1/sensors 200 "" "$VIEWER"
check "d == {'items': [], 'next_cursor': None}" "empty sensor list"
log "auth: 401 without/with a bad token, 403 for a low role, 200 for user"

# ---- register (d4-core body) -> pending -> approve -> stream ----------------------
U1=$(gen_uuid)
K1='k&<>"ey with spaces'
want POST /api/v1/add/sensor/register 200 "{\"uuid\":\"$U1\",\"hmac_key\":\"k&<>\\\"ey with spaces\",\"mail\":\"ops@example.org\"}" "$REG"
check "d == {'uuid': '$U1'}" "register answer"
problem POST /api/v1/add/sensor/register 409 conflict "{\"uuid\":\"$U1\",\"hmac_key\":\"x\"}" "$REG"
check "d['reason'] == 'Sensor already registred'" "d-core 409 reason"
problem POST /api/v1/add/sensor/register 400 invalid-parameter '{"uuid":"0123456789ab1def8123456789abcdef","hmac_key":"x"}' "$REG"
check "d['reason'] == 'Invalid uuid'" "d4-core 400 reason"
problem POST /api/v1/add/sensor/register 400 invalid-parameter "{\"uuid\":\"$(gen_uuid)\"}" "$REG"
check "d['reason'] == 'Mandatory parameter(s) not provided'" "d4-core missing key reason"
want GET "/api/v1/sensors?status=pending" 200 "" "$VIEWER"
check "[s['uuid'] for s in d['items']] == ['$U1'] and d['items'][0]['status'] == 'pending'" "pending list"
want GET "/api/v1/sensors/$U1" 200
check "d['mail'] == 'ops@example.org' and 'key' not in d and len(d['history']) == 7" "registered detail"
log "registered $U1 through the d4-core endpoint: pending, 409/400 with d4-core reasons"

# A pending sensor is refused by the ingest ...
sensor_run -u "$U1" -k "$K1" -t 8 --drain-timeout 2 <"$CSV" 2>>"$T_DIR/sensor.log" && true
# ... before it proved its key: counted under its address in the ingest
# watch, never on the sensor's own record (anyone may claim a uuid)
eventually "/api/v1/ingest/unverified" "any(e['claimed_uuid'] == '$U1' and e['reasons'].get('not-approved', 0) >= 1 for e in d['entries'])" "pending sensor refused"
want GET "/api/v1/sensors/$U1" 200
check "d['packets'] == 0 and d['rejections']['not-approved'] == 0" "pending sensor's record untouched"
want POST "/api/v1/sensors/$U1/approve" 200
check "d['status'] == 'approved' and set(d) == {'uuid','status','description','first_seen','last_seen','packets','bytes','last_error','last_error_at','connected','live_sessions','connected_since'}" "approve summary"
hub_sync
# ... and accepted once approved through the API: the exact key bytes were stored.
sensor_run -u "$U1" -k "$K1" -t 8 --drain-timeout 30 <"$CSV" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor could not deliver after the approval"
# the session's close is committed after all its frames: once it shows, the
# counters are final
eventually "/api/v1/sensors/$U1/sessions" "len(d['items']) == 1 and d['items'][0]['ended'] is not None" \
	"the approved sensor's session closed and committed" "$VIEWER"
want GET "/api/v1/sensors/$U1" 200 "" "$VIEWER"
check "d['packets'] >= 1 and d['bytes'] > 0 and d['last_seen'] is not None" "packets counter after streaming"
check "d['history'][-1]['packets'] == d['packets'] and all(h['packets'] == 0 for h in d['history'][:-1])" "history"
check "any(t['type'] == 8 and t['packets'] >= 1 for t in d['types']) and d['last_ips'][0]['ip'] == '127.0.0.1'" "types/last_ips"
check "sorted(d['rejections']) == sorted(d['rejections'].keys()) and 'hmac-mismatch' in d['rejections']" "rejections"
log "approved via API; d4-sensor streamed: packets $(jb "d['packets']"), today $(jb "d['history'][-1]")"

want GET "/api/v1/sensors/$U1/sessions?limit=1" 200 "" "$VIEWER"
check "len(d['items']) == 1 and d['items'][0]['sensor'] == '$U1' and d['items'][0]['type'] == 8" "sessions page"
want GET /api/v1/stats/totals 200 "" "$VIEWER"
check "d['frames'] >= 1 and 'not-approved' in d['rejections']" "totals"
want GET "/api/v1/stats/daily?days=2&sensor=$U1" 200 "" "$VIEWER"
check "len(d['items']) >= 1 and all(i['sensor'] == '$U1' for i in d['items'])" "daily"
problem GET "/api/v1/stats/daily?days=0" 400 invalid-parameter "" "$VIEWER"

# ---- create / update / rotate / delete -----------------------------------------------
U2=$(gen_uuid)
want POST /api/v1/sensors 201 "{\"uuid\":\"$U2\",\"description\":\"api made\",\"approve\":true}"
check "d['status'] == 'approved' and len(d['key']) == 64 and d['description'] == 'api made'" "created with key"
K2=$(jb "d['key']")
problem POST /api/v1/sensors 409 conflict "{\"uuid\":\"$U2\"}"
problem POST /api/v1/sensors 422 unprocessable "{\"uuid\":\"$(gen_uuid)\",\"colour\":\"red\"}"
check "'colour' in d['detail']" "unknown member named"
problem POST /api/v1/sensors 422 unprocessable "{\"uuid\":\"$(gen_uuid)\",\"approve\":\"yes\"}"
problem POST /api/v1/sensors 422 unprocessable '{"uuid":"0123456789ab1def8123456789abcdef"}'
problem POST /api/v1/sensors 400 bad-request '{"uuid":'
problem POST /api/v1/sensors 415 unsupported-media-type "{\"uuid\":\"$(gen_uuid)\"}" "$ADMIN" text/plain
want GET "/api/v1/sensors/$U2" 200
check "'key' not in d" "no key in detail"
want PATCH "/api/v1/sensors/$U2" 200 '{"default_tlp":"tlp:green","max_payload":4096,"mail":"a@b.c"}'
check "d['default_tlp'] == 'tlp:green' and d['max_payload'] == 4096 and d['mail'] == 'a@b.c'" "patched"
problem PATCH "/api/v1/sensors/$U2" 422 unprocessable '{"default_tlp":"tlp:purple"}'
problem PATCH "/api/v1/sensors/$U2" 422 unprocessable '{"max_payload":-1}'
problem PATCH "/api/v1/sensors/$(gen_uuid)" 404 not-found '{"mail":"x@y"}'
problem GET /api/v1/sensors/not-a-uuid 400 invalid-parameter "" "$VIEWER"
want POST "/api/v1/sensors/$U2/rotate-key" 200 '{"key":"rotated key"}'
check "d == {'uuid': '$U2', 'key': 'rotated key'}" "rotate with key"
want POST "/api/v1/sensors/$U2/rotate-key" 200
check "len(d['key']) == 64" "rotate generated"
K2=$(jb "d['key']")
# paging: two sensors, one per page, cursor round trip
want GET "/api/v1/sensors?limit=1" 200 "" "$VIEWER"
C=$(jb "d['next_cursor']")
F=$(jb "d['items'][0]['uuid']")
[ "$C" != None ] || fail "no next_cursor with limit=1 and 2 sensors"
want GET "/api/v1/sensors?limit=1&cursor=$C" 200 "" "$VIEWER"
check "len(d['items']) == 1 and d['items'][0]['uuid'] != '$F' and d['next_cursor'] is None" "second page"
problem GET "/api/v1/sensors?cursor=garbage" 400 invalid-parameter "" "$VIEWER"
problem GET "/api/v1/sensors?limit=1001" 400 invalid-parameter "" "$VIEWER"
problem GET "/api/v1/sensors?status=sleepy" 400 invalid-parameter "" "$VIEWER"
log "create (generated key once), 409/422/400/415, patch, rotate, paging with cursors"

# ---- kick closes a live connection; block/unblock ------------------------------------------
: >"$T_DIR/follow.txt"
hub_sync # the hub picks up the rotated key
sensor_bg -u "$U2" -k "$K2" -t 8 -F "$T_DIR/follow.txt"
KPID=$SENSOR_PID
has_session() {
	echo "line $(date +%s%N)" >>"$T_DIR/follow.txt"
	want GET "/api/v1/sensors/$U2/sessions" 200 "" "$VIEWER"
	[ "$(jb "len(d['items'])")" -ge 1 ]
}
wait_until 30 has_session || fail "no session for the live sensor: $(tail -5 "$T_DIR/sensor.log")"
want GET "/api/v1/sensors/$U2/sessions" 200 "" "$VIEWER"
check "d['items'][0]['ended'] is None" "session open before kick"
want POST "/api/v1/sensors/$U2/kick" 200 '{"ban_seconds":60}'
sess_closed() { want GET "/api/v1/sensors/$U2/sessions" 200 "" "$VIEWER"; [ "$(jb "d['items'][0]['ended'] is not None")" = true ]; }
wait_until 30 sess_closed || fail "kick did not close the live session"
want GET "/api/v1/sensors/$U2" 200
check "d['ban_until'] is not None" "ban_until set"
kill -TERM "$KPID" 2>/dev/null || true
log "kick via API closed the live d4-sensor session (ban_until $(jb "d['ban_until']"))"

want POST "/api/v1/sensors/$U2/block" 200
check "d['status'] == 'blocked'" "blocked"
problem POST "/api/v1/sensors/$U2/approve" 409 conflict
want POST "/api/v1/sensors/$U2/unblock" 200
check "d['status'] == 'approved'" "unblocked"
problem POST "/api/v1/sensors/$U2/unblock" 409 conflict
problem POST "/api/v1/sensors/$U2/kick" 422 unprocessable '{"ban_seconds":"long"}'
want DELETE "/api/v1/sensors/$U2" 204
problem DELETE "/api/v1/sensors/$U2" 404 not-found
log "block/unblock rules (409s), delete"

# ---- blocklist --------------------------------------------------------------------------------
want POST /api/v1/blocklist 201 '{"kind":"ip","value":"10.1.2.3/8"}'
check "d['kind'] == 'ip' and d['value'] == '10.0.0.0/8'" "cidr normalised"
want POST /api/v1/blocklist 201 "{\"kind\":\"uuid\",\"value\":\"$U1\"}"
problem POST /api/v1/blocklist 422 unprocessable '{"kind":"ip","value":"10.0.0.0/33"}'
problem POST /api/v1/blocklist 422 unprocessable '{"kind":"mac","value":"x"}'
want GET /api/v1/blocklist 200 "" "$VIEWER"
check "{(e['kind'], e['value']) for e in d['items']} == {('ip', '10.0.0.0/8'), ('uuid', '$U1')}" "blocklist"
want DELETE "/api/v1/blocklist/ip/10.0.0.0%2F8" 204
problem DELETE "/api/v1/blocklist/ip/10.0.0.0%2F8" 404 not-found
problem DELETE "/api/v1/blocklist/ip/not-an-ip" 400 invalid-parameter
want DELETE "/api/v1/blocklist/uuid/$U1" 204
want GET /api/v1/blocklist 200 "" "$VIEWER"
check "d['items'] == []" "blocklist empty"
log "blocklist add (CIDR normalised), list, delete with %2F, 404/400/422"

# ---- types: type 3 refused, enabled via API, then accepted ----------------------------------------
U3=$(gen_uuid)
want POST /api/v1/sensors 201 "{\"uuid\":\"$U3\",\"key\":\"type3key\",\"approve\":true}"
check "'key' not in d" "no key echoed when given"
printf 'log line %s\n' 1 2 3 >"$T_DIR/t3.txt"
sensor_run -u "$U3" -k type3key -t 3 --drain-timeout 2 <"$T_DIR/t3.txt" 2>>"$T_DIR/sensor.log" && true
# refused at its first header (nothing verified yet): in the ingest watch
eventually "/api/v1/ingest/unverified" "sum(e['reasons'].get('type-not-accepted', 0) for e in d['entries'] if e['claimed_uuid'] == '$U3') >= 1" "type 3 refused before enabling"
want GET "/api/v1/sensors/$U3" 200
check "d['packets'] == 0" "nothing stored for type 3 before enabling"
want PUT /api/v1/types/3 200 '{"accepted":true}'
check "3 in d['accepted']" "type 3 accepted"
problem PUT /api/v1/types/300 400 invalid-parameter '{"accepted":true}'
problem PUT /api/v1/types/3 422 unprocessable '{"accepted":1}'
hub_sync
sensor_run -u "$U3" -k type3key -t 3 --drain-timeout 30 <"$T_DIR/t3.txt" 2>>"$T_DIR/sensor.log" ||
	fail "type 3 sensor failed after enabling"
eventually "/api/v1/sensors/$U3/sessions" "len(d['items']) == 1 and d['items'][0]['ended'] is not None" \
	"the type 3 session closed and committed"
want GET "/api/v1/sensors/$U3" 200
check "d['packets'] >= 1 and any(t['type'] == 3 for t in d['types'])" "type 3 stored"
want PUT /api/v1/ext-types/ja3-jl 200
check "d['ext_types'] == ['ja3-jl'] and d['all_ext_types_accepted'] is False" "ext type added"
want DELETE /api/v1/ext-types/ja3-jl 200
check "d['all_ext_types_accepted'] is True" "ext type removed"
problem DELETE /api/v1/ext-types/ja3-jl 404 not-found
log "type 3 refused, enabled by PUT, then stored; ext types"

# ---- users and tokens --------------------------------------------------------------------------------
want POST /api/v1/users 201 '{"name":"alice","role":"user"}'
check "d['name'] == 'alice' and d['role'] == 'user'" "user created"
problem POST /api/v1/users 409 conflict '{"name":"alice","role":"admin"}'
problem POST /api/v1/users 422 unprocessable '{"name":"al ice","role":"user"}'
want POST /api/v1/users/alice/tokens 201 '{"label":"ci"}'
ATOK=$(jb "d['token']")
TID=$(jb "d['id']")
[[ $ATOK =~ ^d4h_[A-Za-z0-9_-]{43}$ ]] || fail "token format: $ATOK"
want GET /api/v1/sensors 200 "" "$ATOK"
want GET /api/v1/users/alice/tokens 200
check "[t['id'] for t in d['items']] == ['$TID'] and 'token' not in d['items'][0]" "token listed without secret"
problem GET /api/v1/users 403 forbidden "" "$ATOK"
want DELETE "/api/v1/tokens/$TID" 204
problem GET /api/v1/sensors 401 unauthorized "" "$ATOK"
problem DELETE "/api/v1/tokens/$TID" 404 not-found
problem DELETE /api/v1/tokens/xyz 400 invalid-parameter
want DELETE /api/v1/users/alice 204
problem DELETE /api/v1/users/alice 404 not-found
want GET /api/v1/users 200
check "sorted(u['name'] for u in d['items']) == ['registrar', 'root', 'viewer']" "users"
log "users and tokens: create, use, list (no secret), revoke -> 401, delete"

hub_stop
assert_eq "$HUB_RC" 0 "hub exit status"
pass "REST API resources"
