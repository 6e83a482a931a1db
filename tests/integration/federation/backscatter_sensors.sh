#!/usr/bin/env bash
# Backscatter vectors derived by the hub's own consumer, shared end to end.
# Hub A (organisation 1, [backscatter] in live-network mode) receives a
# capture written by tests/tools/bs_gen.py from each of four d4-sensors
# whose default TLP is tlp:clear, tlp:green, tlp:amber and tlp:red (each
# capture later in time than the one before, so that each sensor makes
# vectors of its own; a last packet an hour later closes every vector).
# B (organisation 1, same-org) and C (organisation 2, partner without
# allow_amber) receive what A's policy releases while A's consumer writes
# the vectors, their ongoing updates and their final states: in the end B
# holds exactly A's clear, green and amber vectors and C the clear and green
# ones, each once and closed, field by field as at A (red never leaves).
# B is killed (kill -9) once it holds the first sensor's vectors, while A
# derives the others, and restarted: nothing lost, nothing doubled.
source "$(dirname "$0")/fedlib.sh"

[ -n "${D4BSVEC:-}" ] && [ -x "$D4BSVEC" ] || fail "D4BSVEC (tests/tools d4-bs-vec) is not set"
GEN="$PY $(dirname "$0")/../../tools/bs_gen.py"

# A retries B within 2 s once B is back (the default backoff grows to a minute)
fed_hub a 127.0.0.5 org1 backscatter.enabled=yes backscatter.live=yes backscatter.batch=500 backscatter.min_packets=30 federation.backoff_max_ms=2000
fed_hub b 127.0.0.6 org1
fed_hub c 127.0.0.7 org2
fed_start a
fed_start b
fed_start c
fed_partner b a a --direction push --file <(echo '{"inbound": {"kinds": ["backscatter"], "max_tlp": "tlp:amber+strict"}}')
fed_partner c a a --direction push --file <(echo '{"inbound": {"kinds": ["backscatter"], "max_tlp": "tlp:amber"}}')
fed_partner a b b --direction push --file <(echo '{"outbound": {"backscatter": {"enabled": true, "max_tlp": "tlp:amber+strict"}}}')
fed_partner a c c --direction push --file <(echo '{"outbound": {"backscatter": {"enabled": true, "max_tlp": "tlp:amber"}}}')

bsvec_dump() { "$D4BSVEC" "${H_DIR[$1]}/store" dump; }
A=${H_UUID[a]//-/}

LEVELS=(clear green amber red)
T0=1780000000
declare -A START
k=0
for l in "${LEVELS[@]}"; do
	START[$l]=$((T0 + k * 20000))
	k=$((k + 1))
	$GEN --seed $((11 + k)) --link eth --format pcap --start "${START[$l]}" --out "$T_DIR/$l.pcap" --expect "$T_DIR/$l.json" ||
		fail "bs_gen ($l)"
done
NV=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["vectors"]))' "$T_DIR/clear.json")
[ "$NV" -ge 10 ] || fail "bs_gen wrote $NV vectors"
# one ordinary packet an hour after the last capture: every vector closes
end=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(max(v["last"] for v in d["vectors"])) + 3600)' "$T_DIR/red.json")
"$PY" - "$T_DIR/close.pcap" "$end" <<'EOF'
import struct, sys
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([192, 0, 2, 1]), bytes([198, 18, 0, 1]))
pkt = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + struct.pack("!HHHH", 53, 53, 8, 0)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack("<IIII", int(sys.argv[2]), 0, len(pkt), len(pkt)) + pkt)
EOF

send() { # LEVEL FILE: a new sensor of default TLP tlp:LEVEL sends FILE as type 1
	fsensor a
	fctl a sensor set "$SENSOR_UUID" --tlp "tlp:$1" >/dev/null || fail "sensor set --tlp tlp:$1"
	fsensor_run a -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 1 -r "$2" 2>>"$T_DIR/sensor.log" ||
		fail "d4-sensor ($2) exited $?"
}
# A's vectors of level L (d4-bs-vec dump: victim kind first state packets
# last tlp origin received stripped sender org nsensors nvia)
a_count() { bsvec_dump a | awk -v t="tlp:$1" '$7 == t' | wc -l; }

send clear "$T_DIR/clear.pcap"
# the first sensor's vectors exist at A (their states are ongoing until
# later packets close them) and reach B: then B is killed
wait_until 60 eval '[ "$(a_count clear)" -ge 1 ]' || fail "A derived no vector from the first capture"
b_some() { [ "$(bsvec_dump b | wc -l)" -ge 1 ]; }
wait_until 60 b_some || fail "B received no vector"
fed_kill9 b
log "B killed holding $(bsvec_dump b | wc -l) vectors"
for l in green amber red; do send "$l" "$T_DIR/$l.pcap"; done
send clear "$T_DIR/close.pcap"
closed_at_a() { # every capture's vectors stored and closed at A
	local d
	d=$(bsvec_dump a) || return 1
	[ "$(echo "$d" | wc -l)" = $((4 * NV)) ] && [ "$(echo "$d" | awk '$4 != 2' | wc -l)" = 0 ]
}
wait_until 120 closed_at_a || fail "A holds $(bsvec_dump a | wc -l) vectors ($(bsvec_dump a | awk '$4 != 2' | wc -l) not closed), expected $((4 * NV)) closed"
for l in "${LEVELS[@]}"; do assert_eq "$(a_count "$l")" "$NV" "A's vectors of tlp:$l"; done
fed_start b

# what B and C must hold: A's vectors of the allowed levels, as A has them,
# with A as origin and sender
expect() { # LEVEL...
	local re
	re=$(printf '%s|' "$@")
	bsvec_dump a | awk -v re="^tlp:(${re%|})$" -v a="$A" '$7 ~ re { $8 = a; $9 = 1; $11 = a; print }' | LC_ALL=C sort
}
holds() { [ "$(bsvec_dump "$1" | LC_ALL=C sort)" = "$2" ]; }
WB=$(expect clear green amber)
WC=$(expect clear green)
assert_eq "$(echo "$WB" | wc -l)" $((3 * NV)) "vectors B must hold"
wait_until 120 holds b "$WB" || fail "B: $(diff <(bsvec_dump b | LC_ALL=C sort) <(echo "$WB") | head -n 8)"
wait_until 120 holds c "$WC" || fail "C: $(diff <(bsvec_dump c | LC_ALL=C sort) <(echo "$WC") | head -n 8)"
log "B holds A's $((3 * NV)) clear, green and amber vectors, C the $((2 * NV)) clear and green ones, closed, once each"

# A refused every red vector for both, and amber for C, with their reasons
dec() { fapi a "/api/v1/partners/$1/status" | json "d['kinds']['backscatter']['acknowledged']['decisions'].get('$2', 0)"; }
acked() { [ "$(fapi a "/api/v1/partners/$1/status" | json "d['kinds']['backscatter']['sender']['lag_records']")" = 0 ]; }
for h in b c; do wait_until 60 acked "$h" || fail "A -> $h not acknowledged to the end"; done
[ "$(dec b tlp-red)" -ge "$NV" ] || fail "A -> b: $(dec b tlp-red) tlp-red decisions, at least $NV expected"
[ "$(dec c tlp-red)" -ge "$NV" ] || fail "A -> c: $(dec c tlp-red) tlp-red decisions"
[ "$(dec c amber-not-allowed)" -ge "$NV" ] || fail "A -> c: $(dec c amber-not-allowed) amber-not-allowed decisions"
assert_eq "$(dec b amber-not-allowed)" 0 "A -> b amber-not-allowed"
# every state C stored was released once by A (updates included). B may
# count more: a batch B committed just before its kill -9 was never
# acknowledged, so A sent it again and B applied it again (in place: the
# stored vectors above are each once); it may not count fewer.
rec() { fapi "$1" /api/v1/partners/a/status | json "d['kinds']['backscatter']['received']['records']"; }
assert_eq "$(rec c)" "$(dec c released)" "records stored at c = A's released decisions"
[ "$(rec b)" -ge "$(dec b released)" ] || fail "records stored at b: $(rec b), fewer than A's $(dec b released) released decisions"
for h in a b c; do fed_stop "$h"; done
pass
