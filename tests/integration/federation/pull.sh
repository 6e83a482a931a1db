#!/usr/bin/env bash
# Pull: B fetches from A (A's partner b has direction pull: A never
# connects to B; B's partner a has inbound.fetch). A holds 12,000 numbered
# frames of 4 KiB and a few pDNS tuples; B fetches them batch by batch, is
# killed -9 in the middle and restarted, then A (the serving side) is
# killed -9 in the middle and restarted: B ends with exactly A's frames
# and tuples, and A's counters (confirmed by B's next fetch) say every
# frame was released once. A pushes nothing (its sender never connects to B).
source "$(dirname "$0")/fedlib.sh"

fed_hub a 127.0.0.6 org1
fed_hub b 127.0.0.7 org1
fed_start a
fed_start b
fed_partner a b b --direction pull --file <(
	cat <<'JSON'
{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:green"}, "pdns": {"enabled": true, "max_tlp": "tlp:green"}}}
JSON
)
fsensor a
{
	echo "set uuid=$SENSOR_UUID key=$SENSOR_KEY type=2"
	echo 'meta {"type":"pdns-cof","tags":["tlp:green"]}'
	for i in $(seq 1 40); do
		printf 'frame type=254 payload=text:{"rrname":"p%d.pull.fed.test","rrtype":"A","rdata":"198.51.100.%d","time_first":1764000000,"time_last":1764000100,"count":%d}\\n\n' "$i" "$i" "$i"
	done
	echo close
} | fcraft a >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft (pdns)"
U1=$SENSOR_UUID
fsensor a
bulk_script "$SENSOR_UUID" "$SENSOR_KEY" 0 12000 4096 >"$T_DIR/bulk"
fcraft a <"$T_DIR/bulk" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft (bulk)"
wait_until 120 stream_stored a "$U1" 41 || fail "A: the pDNS stream (meta + 40 frames) is not stored"
wait_until 120 stream_stored a "$SENSOR_UUID" 12001 || fail "A: the bulk stream (meta + 12,000 frames) is not stored"
N=$(frames_total a)
assert_eq "$N" 12042 "frames at A"
DIGEST=$(payload_digest a)
a_tuples() { fapi a "/pdns/query/*.pull.fed.test" | grep -c rrname; }
wait_until 30 eval '[ "$(a_tuples)" = 40 ]' || fail "A has $(a_tuples) tuples"

# B fetches (quota: 5,000 records/s, so that the kills fall in the middle)
fed_partner b a a --direction push --file <(
	echo '{"inbound": {"kinds": ["frames", "pdns"], "max_tlp": "tlp:green", "fetch": true, "records_per_s": 5000}}'
)
wait_until 120 frames_between b 2000 "$N" || fail "B never held between 2000 and $N frames ($(frames_total b))"
fed_kill9 b
log "B (the fetching side) killed with $(frames_total b) of $N frames"
fed_start b
wait_until 120 frames_between b 6000 "$N" || fail "B never held between 6000 and $N frames ($(frames_total b))"
fed_kill9 a
log "A (the serving side) killed with $(frames_total b) of $N frames at B"
fed_start a
wait_until 120 frames_is b "$N" || fail "B holds $(frames_total b) frames, expected $N"
assert_eq "$(payload_digest b)" "$DIGEST" "payloads at B (digest of the log)"
b_tuples() { fapi b "/pdns/query/*.pull.fed.test" | grep -c rrname; }
wait_until 60 eval '[ "$(b_tuples)" = 40 ]' || fail "B has $(b_tuples) tuples, expected 40"
sum=$(fapi b "/pdns/query/*.pull.fed.test" | "$PY" -c 'import json,sys; print(sum(json.loads(l)["count"] for l in sys.stdin if l.strip()))')
assert_eq "$sum" 820 "sum of the tuples' counts at B (1+..+40)"
# A confirmed what B fetched (the next fetch confirms the batch before it)
confirmed() {
	[ "$(fapi a /api/v1/partners/b/status | json "d['kinds']['frames']['acknowledged']['decisions'].get('released', 0)")" = "$N" ]
}
wait_until 60 confirmed || fail "A's confirmed decisions towards b: $(fapi a /api/v1/partners/b/status)"
assert_eq "$(frames_total b)" "$N" "frames at B at the end"
# A never pushed: B's federation port accepted no connection
assert_eq "$(fmetric b 'd4hub_federation_connections_total\{result="accepted"\}')" 0 "connections to B's federation port"
fed_stop a
fed_stop b
pass
