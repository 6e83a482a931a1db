#!/usr/bin/env bash
# A batch larger than the free map space (store.map_size = 2M): the writer
# commits what fits instead of retrying the whole batch forever, and the
# pause clears once there is room (run-time retention; a restart with a
# bigger map). While the hub is paused, `d4hubctl status` (a separate
# process) says so, with the reason.
source "$(dirname "$0")/../lib.sh"

# Part 1: retention on, one 3 MB batch (commit_ms 3 s) into a 2 MiB map.
t_conf store.map_size=2M store.retention_size=256K
sed -i "s/^commit_ms = 20$/commit_ms = 3000/" "$T_CONF"
hub_start
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY
# craft_bg N: N frames of 30000 bytes on a connection kept open (closing
# right after the last write could lose its tail to a TCP reset); stopped
# once the test has seen what it waits for.
craft_bg() {
	craft >>"$T_DIR/craft.out" 2>&1 <<EOS &
set uuid=$U key=$K type=1
frame size=30000 count=$1
sleep 600000
EOS
	CRAFT_PID=$!
	T_BG+=("$CRAFT_PID")
}
craft_bg 100
frames_eq() { [ "$(ctl --json status | json "d['frames']")" = "$1" ]; }
wait_until 60 frames_eq 100 ||
	fail "part 1: $(ctl --json status | json "d['frames']") of 100 frames committed; status: $(ctl status | grep writer)"
wait_until 20 eval 'ctl status | grep -q "writer: *not paused"' || fail "part 1: still paused: $(ctl status | grep writer)"
assert_eq "$(ctl --json status | json "d['bytes']")" 3000000 "part 1: bytes committed"
log "part 1: 100 frames of 30000 bytes in a 2 MiB map with retention: all committed once, not paused"
kill -TERM "$CRAFT_PID" 2>/dev/null || true
hub_stop

# Part 2: no retention, the map fills: paused, visible to d4hubctl.
sed -i -e "/^retention_size=/d" -e "s/^commit_ms = 3000$/commit_ms = 200/" "$T_CONF"
hub_start
before=$(ctl --json status | json "d['frames']")
craft_bg 200
wait_until 60 eval 'ctl status | grep -q "writer: *paused: storage map full ("' ||
	fail "part 2: d4hubctl status does not show the pause: $(ctl status | grep writer)"
assert_eq "$(ctl --json status | json "d['paused']")" true "part 2: status --json paused"
assert_contains "$(ctl --json status | json "d['pause_reason']")" "storage map full" "part 2: pause_reason"
assert_log "writer paused: storage map full"
stored=$(ctl --json status | json "d['frames']")
[ "$stored" -gt "$before" ] || fail "part 2: nothing of the batch committed before the pause ($stored frames)"
log "part 2: paused with $((stored - before)) of 200 frames committed; d4hubctl status: $(ctl status | grep writer)"
kill -TERM "$CRAFT_PID" 2>/dev/null || true
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status after a paused stop"
ctl status | grep -q "writer: *not paused" || fail "stopped hub still shown as paused: $(ctl status | grep writer)"
stored=$(ctl --json status | json "d['frames']")

# Part 3: restart with a bigger map: not paused, intake works, counts exact.
sed -i "s/^map_size=2M$/map_size=16M/" "$T_CONF"
hub_start
ctl status | grep -q "writer: *not paused" || fail "part 3: paused after a restart with a bigger map"
craft_bg 10
wait_until 20 frames_eq $((stored + 10)) ||
	fail "part 3: $(ctl --json status | json "d['frames']") frames, expected $((stored + 10))"
ctl status | grep -q "writer: *not paused" || fail "part 3: paused: $(ctl status | grep writer)"
pass "a batch over the free space is committed in parts; the pause is visible to d4hubctl and clears"
