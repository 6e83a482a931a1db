#!/usr/bin/env bash
# A partner down for a while, then back: nothing lost, nothing doubled.
# A pushes frames and pdns to B (same organisation). Passivedns lines (type
# 8, one distinct name per line) reach A in three phases:
#   1. B up: everything arrives;
#   2. B stopped (SIGTERM) while A ingests more: A's sender fails and backs
#      off (last_error, failures in the partner status); B restarted:
#      the backlog arrives;
#   3. B killed (kill -9) in the middle of receiving a large backlog (many
#      batches, paced by B's inbound quota), then restarted: the batch it
#      was storing is stored once or sent again.
# After each phase: B's frames are A's byte for byte (same count, same
# payload digest), B's tuples equal A's (same number, same counts), the
# sender has acknowledged everything.
source "$(dirname "$0")/fedlib.sh"

# retries at most 2 s apart: B is found again soon after its restart
fed_hub a 127.0.0.7 org1 federation.backoff_max_ms=2000
fed_hub b 127.0.0.8 org1
fed_start a
fed_start b
fed_partner b a a --direction push --file <(echo '{"inbound": {"kinds": ["frames", "pdns"], "max_tlp": "tlp:amber+strict", "records_per_s": 5000}}')
fed_partner a b b --direction push --file <(
	cat <<'EOF'
{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:amber+strict"},
              "pdns": {"enabled": true, "max_tlp": "tlp:amber+strict"}}}
EOF
)
fsensor a
U=$SENSOR_UUID K=$SENSOR_KEY

# lines FIRST COUNT FILE: passivedns lines with names FIRST..FIRST+COUNT-1
lines() {
	"$PY" - "$1" "$2" "$3" <<'PYEOF'
import sys
first, n = int(sys.argv[1]), int(sys.argv[2])
with open(sys.argv[3], "w") as f:
    for i in range(first, first + n):
        f.write("%d.%06d||10.0.0.1||10.0.0.53||IN||h%d.down.fed.test.||A||198.51.%d.%d||60||%d\n"
                % (1764000000 + i // 10, i % 1000000, i, 100 + i % 3, i % 250, 1 + i % 4))
PYEOF
}
send() { # FILE
	fsensor_run a -u "$U" -k "$K" -t 8 -q <"$1" 2>>"$T_DIR/sensor.log" || fail "d4-sensor exited $?"
}
# A committed every line it was sent (its pDNS worker saw them all)
a_obs() { fapi a /pdns/info | json "sum(s['observations'] for s in d['sensors'])"; }
tuples() { fapi "$1" /pdns/info | json "d['tuples']"; }
count_sum() { fapi "$1" "/pdns/query/*.down.fed.test?limit=100000" | json_lines_sum; }
json_lines_sum() { "$PY" -c 'import json,sys; print(sum(json.loads(l)["count"] for l in sys.stdin if l.strip()))'; }
acked() { [ "$(fapi a /api/v1/partners/b/status | json "d['kinds']['$1']['sender']['lag_records']")" = 0 ]; }

# same_as_a: B holds exactly what A holds, frames and tuples
same_as_a() {
	local want
	want=$(frames_total a)
	wait_until 120 frames_is b "$want" || fail "$1: B holds $(frames_total b) frames, A $want"
	wait_until 60 acked frames || fail "$1: A -> b frames not acknowledged: $(fapi a /api/v1/partners/b/status)"
	wait_until 60 acked pdns || fail "$1: A -> b pdns not acknowledged: $(fapi a /api/v1/partners/b/status)"
	assert_eq "$(frames_total b)" "$want" "$1: frames at B once acknowledged"
	assert_eq "$(payload_digest b)" "$(payload_digest a)" "$1: payloads at B (digest of the log)"
	want=$(tuples a)
	wait_until 60 eval '[ "$(tuples b)" = "$want" ]' || fail "$1: B has $(tuples b) tuples, A $want"
	assert_eq "$(count_sum b)" "$(count_sum a)" "$1: sum of the tuples' counts"
	log "$1: B = A ($(frames_total b) frames, $want tuples)"
}

# ---- 1. B up
lines 0 3000 "$T_DIR/p1"
send "$T_DIR/p1"
wait_until 60 eval '[ "$(a_obs)" = 3000 ]' || fail "A's pDNS saw $(a_obs) of 3000 lines"
same_as_a "phase 1"

# ---- 2. B down while A ingests
fed_stop b
lines 3000 4000 "$T_DIR/p2"
send "$T_DIR/p2"
wait_until 60 eval '[ "$(a_obs)" = 7000 ]' || fail "A's pDNS saw $(a_obs) of 7000 lines"
failing() {
	fapi a /api/v1/partners/b/status |
		json "d['kinds']['frames']['sender']['failures'] >= 2 and bool(d['kinds']['frames']['sender']['last_error']) and not d['kinds']['frames']['sender']['connected']" |
		grep -qx true
}
wait_until 60 failing || fail "A's sender shows no failure towards the stopped B: $(fapi a /api/v1/partners/b/status)"
log "B down: $(fapi a /api/v1/partners/b/status | json "d['kinds']['frames']['sender']['last_error']")"
# the lag is read again at the sender's next try
lagging() { [ "$(fapi a /api/v1/partners/b/status | json "d['kinds']['frames']['sender']['lag_records']")" -ge 1 ]; }
wait_until 30 lagging || fail "no lag shown while B is down: $(fapi a /api/v1/partners/b/status)"
fed_start b
same_as_a "phase 2 (B stopped and restarted)"
ok() { [ -z "$(fapi a /api/v1/partners/b/status | json "d['kinds']['frames']['sender']['last_error'] or ''")" ] &&
	[ "$(fapi a /api/v1/partners/b/status | json "d['kinds']['frames']['sender']['connected']")" = true ]; }
wait_until 30 ok || fail "the partner status still shows an error: $(fapi a /api/v1/partners/b/status)"

# ---- 3. kill -9 of B while it receives a large backlog: 6,000 frames of
# 4 KiB in batches of at most 4 MiB (about 1,000 frames each). B's inbound
# quota is lowered to 500 records/s first: the bucket holds one second, so a
# batch passes only when the bucket is full and leaves a debt the next one
# waits for (about 3 s per batch). B then sits for seconds at each batch
# boundary, and the kill falls in the middle of the backlog whatever the
# machine's speed (with 5,000 records/s a full bucket took five batches at
# once and an idle machine stored the whole backlog between two polls).
fed_stop b
fctl b partner set a --file <(echo '{"inbound": {"kinds": ["frames", "pdns"], "max_tlp": "tlp:amber+strict", "records_per_s": 500}}') >/dev/null ||
	fail "hub b: partner set a (quota)"
fsensor a
bulk_script "$SENSOR_UUID" "$SENSOR_KEY" 0 6000 4096 >"$T_DIR/bulk"
fcraft a <"$T_DIR/bulk" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft (bulk)"
wait_until 120 stream_stored a "$SENSOR_UUID" 6001 || fail "A: the bulk stream (meta + 6,000 frames) is not stored"
A_FR=$(frames_total a)
B_FR=$(frames_total b)
fed_start b
# as soon as B stored some of the backlog, and not all of it
wait_until 120 frames_between b $((B_FR + 1000)) "$A_FR" || fail "B never stored part of the backlog ($(frames_total b) of $A_FR)"
fed_kill9 b
log "B killed with $(frames_total b) of $A_FR frames stored"
fed_start b
same_as_a "phase 3 (kill -9 of B while receiving)"
fapi b /api/v1/partners/a/status >"$T_DIR/b-status.json"
log "B's receiver: $(json "d['kinds']['frames']['received']" <"$T_DIR/b-status.json")"

fed_stop a
fed_stop b
pass
