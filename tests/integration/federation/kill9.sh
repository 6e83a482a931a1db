#!/usr/bin/env bash
# kill -9 of the sending hub in the middle of a large push, twice, then
# restarted: nothing lost, nothing doubled. A holds 12,000 frames of 4 KiB
# (each numbered) when its partner B (same organisation) is added; A pushes
# them in batches of at most 4 MiB, paced by B's inbound quota (5,000
# records/s) so that the kills fall in the middle of the push on any
# machine. A is killed once B stored part of the backlog and again later;
# each restart resumes from the position B acknowledged (a batch B stored
# whose acknowledgement A never wrote is answered as a duplicate, or B's
# position is answered and A continues from there). B ends with exactly
# A's frames, byte for byte, and A's counters say every frame was released
# once.
source "$(dirname "$0")/fedlib.sh"

fed_hub a 127.0.0.8 org1
fed_hub b 127.0.0.9 org1
fed_start a
fed_start b
fed_partner b a a --direction push --file <(echo '{"inbound": {"kinds": ["frames"], "max_tlp": "tlp:amber+strict", "records_per_s": 5000}}')
fsensor a
bulk_script "$SENSOR_UUID" "$SENSOR_KEY" 0 12000 4096 >"$T_DIR/bulk"
fcraft a <"$T_DIR/bulk" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft (bulk)"
wait_until 120 stream_stored a "$SENSOR_UUID" 12001 || fail "A: the stream (meta + 12,000 frames) is not stored"
N=$(frames_total a)
assert_eq "$N" 12001 "frames at A"
DIGEST=$(payload_digest a)

fed_partner a b b --direction push --file <(echo '{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:green"}}}')
for cut in 2000 6000; do
	wait_until 120 frames_between b "$cut" "$N" || fail "B never held between $cut and $N frames ($(frames_total b))"
	fed_kill9 a
	log "A killed with $(frames_total b) of $N frames at B"
	fed_start a
done
wait_until 120 frames_is b "$N" || fail "B holds $(frames_total b) frames, expected $N"
acked() { [ "$(fapi a /api/v1/partners/b/status | json "d['kinds']['frames']['sender']['lag_records']")" = 0 ]; }
wait_until 60 acked || fail "A -> b not acknowledged to the end: $(fapi a /api/v1/partners/b/status)"
assert_eq "$(frames_total b)" "$N" "frames at B once acknowledged"
assert_eq "$(payload_digest b)" "$DIGEST" "payloads at B (digest of the log)"
# every frame released once in the acknowledged counters, nothing else
assert_eq "$(fapi a /api/v1/partners/b/status | json "d['kinds']['frames']['acknowledged']['decisions']['released']")" "$N" \
	"frames released to b (acknowledged decisions)"
assert_eq "$(fapi a /api/v1/partners/b/status | json "d['kinds']['frames']['acknowledged']['records']")" "$N" \
	"records acknowledged by b"
log "B: $(fapi b /api/v1/partners/a/status | json "d['kinds']['frames']['received']")"
fed_stop a
fed_stop b
pass
