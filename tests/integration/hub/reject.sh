#!/usr/bin/env bash
# Each rejection of DESIGN.md §3, driven by d4-craft against a real hub:
# the connection is closed AND the reason is visible (warning log line, global
# counter in `d4hubctl status`, and either the sensor's counter and
# last_error — when the connection proved the sensor's key with a verified
# HMAC — or else the ingest watch under the source address and the claimed
# uuid, the sensor's record untouched) AND the rejected data is not stored. Most cases also check the positive control
# (the same thing, allowed, goes through) so that a hub rejecting everything
# would fail them.
#   reject.sh CASE
source "$(dirname "$0")/../lib.sh"

CASE=${1:?usage: reject.sh CASE}

# craft_ok/craft_closed: run a script that must end normally / with the
# server closing the connection (the script must say expect-close).
craft_ok() { craft "$@" >>"$T_DIR/craft.out" 2>&1 || { cat "$T_DIR/craft.out"; fail "d4-craft: unexpected outcome"; }; }
craft_closed() { craft_ok "$@"; }
stored() { # UUID: concatenated stored payloads of the sensor
	payload_of_sensor "$1" "$T_DIR/stored"
	cat "$T_DIR/stored"
}
assert_frames() { # UUID N: exactly N frames stored (waits for them, then for the store to settle)
	[ "$2" -eq 0 ] || wait_until 30 frames_ge "$1" "$2" ||
		fail "frames stored for $1: $(frames_of "$1") after 30 s, expected $2"
	sync_store
	assert_eq "$(frames_of "$1")" "$2" "frames stored for $1"
}
# watch_count ADDR UUID REASON: the ingest watch's count for a connection
# from ADDR that claimed UUID without proving it (GET /api/v1/ingest/unverified).
watch_count() {
	curl -sSf --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" \
		"$API/api/v1/ingest/unverified?limit=1024" |
		json "sum(e['reasons'].get('$3', 0) for e in d['entries'] if e['address'] == '$1' and e['claimed_uuid'] == '$2')"
}
_watch_eq() { [ "$(watch_count "$1" "$2" "$3")" = "$4" ]; }
# assert_unverified UUID REASON N [ADDR]: a rejection of a connection that
# only claimed UUID: warning line naming it, global counter >= N, counted N
# times in the ingest watch under ADDR (default 127.0.0.1) and UUID, and
# nothing charged to the sensor (counter 0, last_error without the reason).
assert_unverified() {
	local uuid=$1 reason=$2 n=$3 addr=${4:-127.0.0.1} err
	assert_log "warning: unverified connection from $addr \\(claimed sensor $uuid\\): $reason"
	wait_until 30 _glob_ge "$reason" "$n" ||
		fail "status: rejects[$reason] = $(global_rejects "$reason"), expected >= $n"
	wait_until 30 _watch_eq "$addr" "$uuid" "$reason" "$n" ||
		fail "ingest watch $addr/$uuid: $reason = $(watch_count "$addr" "$uuid" "$reason"), expected $n"
	assert_eq "$(sensor_rejects "$uuid" "$reason")" 0 "rejections[$reason] charged to sensor $uuid"
	err=$(sensor_json "$uuid" | json "d['last_error'] or ''")
	case $err in *"$reason"*) fail "sensor $uuid last_error names $reason: '$err'" ;; esac
	log "rejected as $reason (unverified): log line, global counter, ingest watch $addr = $n, sensor untouched"
}

conf=()
case $CASE in
header_timeout*) conf+=(ingest.header_timeout=2) ;;
timestamp) conf+=(ingest.timestamp_window=60) ;;
uuid_not_v4) conf+=(ingest.mode=shared-secret 'ingest.shared_key="shared test key"') ;;
kick_ban) conf+=(ingest.kick_ban=30) ;;
esac
t_conf "${conf[@]}"
hub_start
API=$(api_url)
TOKEN=$(ctl user add reject-admin --role admin) || fail "user add admin"
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY
HDR="set uuid=$U key=$K type=1"

case $CASE in
ip_blocked)
	ctl block add ip 127.0.0.3/32 >/dev/null || fail "block add ip"
	hub_sync
	craft_closed --bind 127.0.0.3 <<EOF
$HDR
frame payload=text:from-a-blocked-address
expect-close 20
EOF
	assert_rejected - ip-blocked
	assert_frames "$U" 0
	# control: the same sensor from another loopback address is accepted
	craft_ok --bind 127.0.0.4 <<EOF
$HDR
frame payload=text:from-127.0.0.4
EOF
	assert_frames "$U" 1
	;;
uuid_ips_blocked)
	craft_ok --bind 127.0.0.4 <<EOF
$HDR
frame payload=text:seen-from-127.0.0.4
EOF
	assert_frames "$U" 1
	ctl block add uuid-ips "$U" >/dev/null || fail "block add uuid-ips"
	hub_sync
	craft_closed --bind 127.0.0.4 <<EOF
$HDR
frame payload=text:rejected
expect-close 20
EOF
	assert_unverified "$U" uuid-ips-blocked 1 127.0.0.4
	assert_frames "$U" 1
	# the address it came from is now blocked for everybody
	wait_until 30 sh -c "'$D4HUBCTL' -c '$T_CONF' block list | grep -q 127.0.0.4" ||
		fail "127.0.0.4 not on the IP blocklist: $(ctl block list)"
	hub_sync
	sensor_new
	craft_closed --bind 127.0.0.4 <<EOF
set uuid=$SENSOR_UUID key=$SENSOR_KEY
frame payload=text:other-sensor
expect-close 20
EOF
	assert_rejected - ip-blocked
	assert_frames "$SENSOR_UUID" 0
	;;
uuid_blocked | sensor_blocked)
	if [ "$CASE" = uuid_blocked ]; then
		ctl block add uuid "$U" >/dev/null || fail "block add uuid"
	else
		ctl sensor block "$U" >/dev/null || fail "sensor block"
	fi
	hub_sync
	craft_closed <<EOF
$HDR
frame payload=text:blocked
expect-close 20
EOF
	assert_unverified "$U" uuid-blocked 1
	assert_frames "$U" 0
	if [ "$CASE" = uuid_blocked ]; then
		ctl block del uuid "$U" >/dev/null || fail "block del uuid"
	else
		ctl sensor unblock "$U" >/dev/null || fail "sensor unblock"
		ctl sensor approve "$U" >/dev/null 2>&1 || true
	fi
	hub_sync
	craft_ok <<EOF
$HDR
frame payload=text:unblocked
EOF
	assert_frames "$U" 1
	;;
unknown_sensor)
	X=$(gen_uuid)
	craft_closed <<EOF
set uuid=$X key=whatever
frame payload=text:who-am-i
expect-close 20
EOF
	assert_rejected - unknown-sensor
	assert_log "warning: .*$X.*unknown-sensor|warning: .*unknown-sensor.*$X"
	if ctl sensor show "$X" >/dev/null 2>&1; then
		fail "an unknown sensor was created in registration mode"
	fi
	assert_frames "$X" 0
	;;
not_approved)
	sensor_new --pending
	P=$SENSOR_UUID PK=$SENSOR_KEY
	craft_closed <<EOF
set uuid=$P key=$PK
frame payload=text:pending
expect-close 20
EOF
	assert_unverified "$P" not-approved 1
	assert_frames "$P" 0
	ctl sensor approve "$P" >/dev/null || fail "sensor approve"
	hub_sync
	craft_ok <<EOF
set uuid=$P key=$PK
frame payload=text:approved
EOF
	assert_frames "$P" 1
	;;
kick_ban)
	# a live connection, kicked: closed; reconnect during the ban: refused;
	# after the ban: accepted. The ban is long enough for a loaded machine to
	# reconnect within it.
	BAN=12
	craft >"$T_DIR/live.out" 2>&1 <<EOF &
$HDR
frame payload=text:before-kick
expect-close 30
EOF
	LIVE=$!
	T_BG+=("$LIVE")
	wait_until 30 frames_ge "$U" 1 || fail "live connection's frame not stored"
	ctl sensor kick "$U" --ban $BAN >/dev/null || fail "sensor kick"
	kicked=$(date +%s)
	_wait_pid "$LIVE" 30 || fail "kicked connection not closed"
	[ "$_WAIT_RC" -eq 0 ] || { cat "$T_DIR/live.out"; fail "kicked connection: d4-craft rc $_WAIT_RC"; }
	log "live connection closed by the kick"
	craft_closed <<EOF
$HDR
frame payload=text:during-ban
expect-close 20
EOF
	[ $(($(date +%s) - kicked)) -lt $BAN ] || fail "too slow: the ban was over before the reconnection"
	# the kick closed the verified connection (the sensor's, counted for it);
	# the reconnection during the ban proved nothing yet (the ingest watch's)
	assert_rejected "$U" banned 1
	wait_until 30 _watch_eq 127.0.0.1 "$U" banned 1 ||
		fail "ingest watch: banned = $(watch_count 127.0.0.1 "$U" banned), expected 1"
	assert_log "warning: unverified connection from 127.0.0.1 \\(claimed sensor $U\\): banned"
	# waiting for the ban to run out (a time, not an event: nothing to poll)
	while [ $(($(date +%s) - kicked)) -le $((BAN + 1)) ]; do sleep 0.2; done
	craft_ok <<EOF
$HDR
frame payload=text:after-ban
EOF
	wait_until 30 frames_ge "$U" 2 || fail "the frame sent after the ban was not stored"
	sync_store
	s=$(stored "$U")
	assert_contains "$s" "before-kick" "stored payloads"
	assert_contains "$s" "after-ban" "stored payloads"
	case $s in *during-ban*) fail "data sent during the ban was stored" ;; esac
	;;
too_big)
	craft_closed <<EOF
$HDR
frame declared_size=1000001 headeronly
expect-close 20
EOF
	assert_unverified "$U" payload-too-big 1
	assert_frames "$U" 0
	# control: exactly the limit, after a verified packet, is accepted
	craft_ok <<EOF
$HDR
frame payload=text:auth
frame size=1000000
EOF
	assert_frames "$U" 2
	assert_eq "$(ctl --json frames | json "max(f['size'] for f in d)")" 1000000 "largest stored frame"
	;;
preauth_limit)
	craft_closed <<EOF
$HDR
frame declared_size=65537 headeronly
expect-close 20
EOF
	assert_unverified "$U" preauth-limit 1
	assert_frames "$U" 0
	# control: the same size after the first verified packet is fine
	craft_ok <<EOF
$HDR
frame payload=text:auth
frame size=65537
EOF
	assert_frames "$U" 2
	;;
uuid_not_v4)
	# shared-secret mode, so that the uuid passes registration and reaches the v4 check
	X=0123456789ab0def8123456789abcdef
	craft_closed <<EOF
set uuid=$X key=shared\skey\stest\skey
frame payload=text:not-v4
expect-close 20
EOF
	# the key above is deliberately not the shared one: the v4 check comes
	# before the HMAC, so the reason must be uuid-not-v4
	assert_rejected - uuid-not-v4
	assert_frames "$X" 0
	;;
type_not_accepted)
	craft_closed <<EOF
$HDR
frame type=3 payload=text:a\slog\sline\n
expect-close 20
EOF
	assert_unverified "$U" type-not-accepted 1
	assert_frames "$U" 0
	ctl types enable 3 >/dev/null || fail "types enable 3"
	hub_sync
	craft_ok <<EOF
$HDR
frame type=3 payload=text:a\slog\sline\n
EOF
	assert_frames "$U" 1
	;;
duplicate_session)
	craft >"$T_DIR/first.out" 2>&1 <<EOF &
$HDR
frame payload=text:first-1\n
wait-file $T_DIR/duplicate-refused
frame payload=text:first-2-after-the-duplicate\n
expect-open 0.5
EOF
	FIRST=$!
	T_BG+=("$FIRST")
	wait_until 30 frames_ge "$U" 1 || fail "first connection's frame not stored"
	craft_closed <<EOF
$HDR
frame payload=text:second\n
expect-close 20
EOF
	assert_rejected "$U" duplicate-session
	touch "$T_DIR/duplicate-refused" # the first connection goes on
	_wait_pid "$FIRST" 30 || fail "first connection's script did not finish"
	[ "$_WAIT_RC" -eq 0 ] || { cat "$T_DIR/first.out"; fail "first connection was not kept (rc $_WAIT_RC)"; }
	sync_store
	assert_eq "$(stored "$U")" "$(printf 'first-1\nfirst-2-after-the-duplicate')" "stored payloads"
	;;
first_254)
	craft_closed <<EOF
$HDR
frame type=254 payload=text:no-meta-first
expect-close 20
EOF
	assert_unverified "$U" first-packet-254 1
	assert_frames "$U" 0
	;;
type_change)
	craft_closed <<EOF
$HDR
frame type=1 payload=text:type-1
frame type=8 payload=text:type-8
expect-close 20
EOF
	assert_rejected "$U" type-change
	sync_store
	assert_eq "$(stored "$U")" "type-1" "stored payloads"
	;;
uuid_change)
	sensor_new
	B=$SENSOR_UUID BK=$SENSOR_KEY
	craft_closed <<EOF
$HDR
frame payload=text:as-A
frame uuid=$B key=$BK payload=text:as-B
expect-close 20
EOF
	assert_log "warning: .*uuid-change"
	wait_until 30 _glob_ge uuid-change 1 || fail "status: no uuid-change rejection counted"
	a=$(sensor_rejects "$U" uuid-change)
	b=$(sensor_rejects "$B" uuid-change)
	# Charged to the session's owner A: B's key was never checked.
	[ "$a" -eq 1 ] || fail "uuid-change not counted on the session's sensor A (A=$a B=$b)"
	[ "$b" -eq 0 ] || fail "uuid-change charged to the unverified new uuid B (B=$b)"
	sync_store
	assert_eq "$(stored "$U")" "as-A" "stored payloads of A"
	assert_frames "$B" 0
	;;
hmac)
	craft_closed <<EOF
$HDR
frame payload=text:good-1
frame payload=text:EVIL-bad-hmac badhmac
expect-close 20
EOF
	craft_closed <<EOF
$HDR
frame payload=text:EVIL-first-packet badhmac
expect-close 20
EOF
	# the first connection proved the key, then sent a bad packet: the
	# sensor's; the second never proved anything: the ingest watch's
	assert_rejected "$U" hmac-mismatch 1
	wait_until 30 _glob_ge hmac-mismatch 2 || fail "status: rejects[hmac-mismatch] = $(global_rejects hmac-mismatch), expected 2"
	wait_until 30 _watch_eq 127.0.0.1 "$U" hmac-mismatch 1 ||
		fail "ingest watch: hmac-mismatch = $(watch_count 127.0.0.1 "$U" hmac-mismatch), expected 1"
	sync_store
	assert_eq "$(stored "$U")" "good-1" "stored payloads"
	ctl frames --payload >"$T_DIR/all"
	if grep -q EVIL "$T_DIR/all"; then fail "a frame with a wrong HMAC was stored"; fi
	;;
header_timeout)
	t0=$(date +%s%N)
	craft_closed <<EOF
expect-close 20
EOF
	dt=$((($(date +%s%N) - t0) / 1000000))
	[ $dt -ge 1500 ] || fail "closed after $dt ms, before the 2 s header timeout"
	# a partial header is no header either
	craft_closed <<EOF
raw 0101$(printf '%s' "$U")00
expect-close 20
EOF
	assert_rejected - header-timeout 2
	log "idle connection closed after $dt ms (header_timeout = 2)"
	;;
header_timeout_sensor)
	# a verified sensor that goes quiet stays connected (DESIGN.md §3):
	# several header timeouts pass, nothing is counted
	craft_ok <<EOF
$HDR
frame payload=text:then-silence
expect-open 5
frame payload=text:after-the-silence
EOF
	assert_frames "$U" 2
	if grep -q "header-timeout" "$T_LOG"; then fail "a verified idle sensor was timed out"; fi
	# a header with the sensor's uuid and then silence proves nothing: the
	# connection is closed, counted under its address, not for the sensor
	craft_closed <<EOF
$HDR
frame size=10 headeronly
expect-close 20
EOF
	assert_unverified "$U" header-timeout 1
	assert_eq "$(global_rejects header-timeout)" 1 "header-timeout rejections"
	assert_frames "$U" 2
	;;
timestamp)
	craft_closed <<EOF
$HDR
frame ts=now-3600 payload=text:an-hour-old
expect-close 20
EOF
	assert_unverified "$U" timestamp-out-of-window 1
	craft_closed <<EOF
$HDR
frame ts=now+3600 payload=text:from-the-future
expect-close 20
EOF
	assert_unverified "$U" timestamp-out-of-window 2
	assert_frames "$U" 0
	craft_ok <<EOF
$HDR
frame ts=now-30 payload=text:within-the-window
EOF
	assert_frames "$U" 1
	;;
meta_invalid)
	craft_closed <<EOF
$HDR
meta {"tags":["tlp:green"]}
expect-close 20
EOF
	craft_closed <<EOF
$HDR
meta {"type":5}
expect-close 20
EOF
	craft_closed <<EOF
$HDR
meta ]not json[
expect-close 20
EOF
	assert_rejected "$U" meta-header-invalid 3
	assert_frames "$U" 0
	craft_ok <<EOF
$HDR
meta {"type":"maltrail","tags":["tlp:green"]}
frame type=254 payload=text:data
EOF
	assert_frames "$U" 2
	;;
ext_type_not_accepted)
	ctl ext-types add ja3-jl >/dev/null || fail "ext-types add"
	hub_sync
	craft_closed <<EOF
$HDR
meta {"type":"maltrail"}
frame type=254 payload=text:maltrail-data
expect-close 20
EOF
	assert_rejected "$U" ext-type-not-accepted
	assert_frames "$U" 0
	craft_ok <<EOF
$HDR
meta {"type":"ja3-jl"}
frame type=254 payload=text:ja3-data
EOF
	assert_frames "$U" 2
	;;
bad_version)
	craft_closed <<EOF
$HDR
frame version=2 payload=text:v2
expect-close 20
EOF
	assert_unverified "$U" bad-version 1
	assert_frames "$U" 0
	;;
*)
	fail "unknown case $CASE"
	;;
esac
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status after SIGTERM"
pass
