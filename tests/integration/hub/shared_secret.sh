#!/usr/bin/env bash
# Shared-secret mode: an unknown sensor using the shared key is accepted and
# created (approved); a wrong key is an HMAC rejection; a sensor with its own
# key must use it.
source "$(dirname "$0")/../lib.sh"

SK="the shared secret"
t_conf ingest.mode=shared-secret "ingest.shared_key = \"$SK\""
hub_start

X=$(gen_uuid)
printf 'hello from an unregistered sensor\n' >"$T_DIR/in"
sensor_run -u "$X" -k "$SK" -t 1 <"$T_DIR/in" || fail "d4-sensor with the shared key exited $?"
shown() { ctl sensor show "$1"; }
wait_until 30 shown "$X" || fail "sensor $X not auto-created"
wait_for 30 "the session of $X closed and committed" sessions_closed "$X"
assert_eq "$(sensor_json "$X" | json "d['status']")" approved "auto-created sensor status"
payload_of_sensor "$X" "$T_DIR/got"
cmp "$T_DIR/got" "$T_DIR/in" || fail "payload stored differs"
log "unknown sensor with the shared key: accepted, created approved"

# wrong key for an unknown uuid
Y=$(gen_uuid)
craft >/dev/null <<EOF || fail "wrong shared key: not closed"
set uuid=$Y key=not\sthe\sshared\ssecret
frame payload=text:EVIL
expect-close 20
EOF
assert_rejected - hmac-mismatch
assert_eq "$(frames_of "$Y")" 0 "frames stored with a wrong key"

# a registered sensor with its own key: the shared key is not enough
sensor_new
craft >/dev/null <<EOF || fail "shared key for a sensor with its own key: not closed"
set uuid=$SENSOR_UUID key=the\sshared\ssecret
frame payload=text:EVIL
expect-close 20
EOF
# refused before any verified packet: in the hub totals, not on the sensor
assert_rejected - hmac-mismatch 2
assert_log "warning: unverified connection from 127.0.0.1 \\(claimed sensor $SENSOR_UUID\\): hmac-mismatch"
assert_eq "$(sensor_rejects "$SENSOR_UUID" hmac-mismatch)" 0 "hmac-mismatch charged to the sensor"
craft >/dev/null <<EOF || fail "own key refused"
set uuid=$SENSOR_UUID key=$SENSOR_KEY
frame payload=text:own-key
EOF
wait_for 30 "the frame of the sensor with its own key stored" frames_ge "$SENSOR_UUID" 1
sync_store
assert_eq "$(frames_of "$SENSOR_UUID")" 1 "frames of the sensor with its own key"
ctl frames --payload >"$T_DIR/frames.pay" || fail "d4hubctl frames --payload"
if grep -q EVIL "$T_DIR/frames.pay"; then fail "rejected data stored"; fi
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass
