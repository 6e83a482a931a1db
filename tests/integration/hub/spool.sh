#!/usr/bin/env bash
# Hub stopped while d4-sensor follows a file with --spool; lines appended
# while the hub is down are spooled and delivered after the restart: every
# line exactly once, in order.
source "$(dirname "$0")/../lib.sh"

t_conf
hub_start
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY
F=$T_DIR/lines.txt
for i in $(seq 1 50); do echo "line $i before the outage"; done >"$F"

sensor_bg -u "$U" -k "$K" -t 8 -F "$F" --from-start --spool "$T_DIR/spool" -v
got_all() {
	payload_of_sensor "$U" "$T_DIR/got"
	cmp -s "$T_DIR/got" "$F"
}
wait_until 30 got_all || fail "lines not stored before the outage"
log "50 lines stored; stopping the hub"

hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
for b in 1 2 3; do
	for i in $(seq 1 40); do echo "line $i of burst $b while the hub is down"; done >>"$F"
	sleep 0.7
done
kill -0 "$SENSOR_PID" 2>/dev/null || fail "d4-sensor exited while the hub was down"
log "120 lines appended while the hub was down"

hub_start
wait_until 40 got_all ||
	fail "spooled lines not delivered exactly: $(wc -l <"$T_DIR/got") lines stored, $(wc -l <"$F") written; sensor log: $(tail -5 "$T_DIR/sensor.log")"
# and nothing more arrives later (no duplicates from a replay): an absence,
# so a duration rather than an event to wait for
sleep 1.5
sync_store
payload_of_sensor "$U" "$T_DIR/got"
cmp "$T_DIR/got" "$F" || fail "duplicate or extra data after the spool was delivered"
assert_eq "$(sort "$T_DIR/got" | uniq -d | wc -l)" 0 "duplicated lines"
log "sessions: $(ctl --json sessions "$U" | json "len(d)")"
pass "$(wc -l <"$F") lines, each stored exactly once, in order, across a hub restart"
