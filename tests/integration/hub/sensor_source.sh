#!/usr/bin/env bash
# sensor -> hub for each d4-sensor source; what is stored must be exactly what
# was sent (byte compare), with the right session type, ext type, TLP and org.
#   sensor_source.sh stdin|pcap|follow|meta|live
source "$(dirname "$0")/../lib.sh"

MODE=${1:?usage: sensor_source.sh stdin|pcap|follow|meta|live}
PCAP=$D4_TEST_DATA/dns/local-dns.pcap
CSV=$D4_TEST_DATA/dns/local-dns.passivedns-alltypes.csv

t_conf
hub_start
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY

# one_session UUID: prints the id of the sensor's only session (fails otherwise)
one_session() {
	local ids
	ids=$(ctl --json sessions "$1" | json "' '.join(str(s['id']) for s in d)")
	[ -n "$ids" ] || fail "no session stored for $1"
	[ "$(echo "$ids" | wc -w)" -eq 1 ] || fail "expected one session, got: $ids"
	echo "$ids"
}

check_session() { # id type ext_type tlp org
	local j
	j=$(ctl --json sessions "$U" | json "[s for s in d if s['id'] == $1][0]")
	assert_eq "$(echo "$j" | json "d['type']")" "$2" "session type"
	assert_eq "$(echo "$j" | json "d['ext_type'] or ''")" "$3" "session ext_type"
	assert_eq "$(echo "$j" | json "d['tlp']")" "$4" "session tlp"
	assert_eq "$(echo "$j" | json "d['org']")" "$5" "session org"
	assert_eq "$(echo "$j" | json "d['sensor']")" "$U" "session uuid"
	log "session $1: type $2, ext type '${3}', $4, org $5"
}

case $MODE in
stdin)
	sensor_run -u "$U" -k "$K" -t 1 <"$PCAP" || fail "d4-sensor exited $?"
	wait_for 30 "the session closed and committed" sessions_closed "$U"
	sync_store
	S=$(one_session "$U")
	ctl frames --session "$S" --payload >"$T_DIR/got" || fail "frames --payload"
	cmp "$T_DIR/got" "$PCAP" || fail "stored payload differs from the bytes sent on stdin"
	check_session "$S" 1 "" "tlp:amber+strict" "$HUB_ORG"
	assert_ge "$(sensor_json "$U" | json "d['packets']")" 1 "sensor packets"
	assert_eq "$(sensor_json "$U" | json "d['bytes']")" "$(stat -c %s "$PCAP")" "sensor bytes"
	pass "$(stat -c %s "$PCAP") bytes from stdin stored byte-identical"
	;;
pcap)
	sensor_run -u "$U" -k "$K" -t 1 -r "$PCAP" || fail "d4-sensor exited $?"
	wait_for 30 "the session closed and committed" sessions_closed "$U"
	sync_store
	S=$(one_session "$U")
	ctl frames --session "$S" --payload >"$T_DIR/got" || fail "frames --payload"
	# The sensor re-serialises the capture as a classic pcap stream: the
	# records (timestamps, lengths, bytes) and link type must be the same.
	"$PY" - "$PCAP" "$T_DIR/got" <<'EOF' || fail "stored pcap stream differs from the input capture"
import struct, sys
def records(path):
    b = open(path, 'rb').read()
    magic = struct.unpack('<I', b[:4])[0]
    e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    link = struct.unpack(e + 'I', b[20:24])[0]
    off, out = 24, []
    while off < len(b):
        if off + 16 > len(b):
            sys.exit('%s: truncated record header at %d' % (path, off))
        s, us, cap, orig = struct.unpack(e + 'IIII', b[off:off + 16])
        if off + 16 + cap > len(b):
            sys.exit('%s: truncated record at %d' % (path, off))
        out.append((s, us, orig, b[off + 16:off + 16 + cap]))
        off += 16 + cap
    return link, out
l1, a = records(sys.argv[1])
l2, b = records(sys.argv[2])
if l1 != l2: sys.exit('link type %d != %d' % (l2, l1))
if a != b: sys.exit('%d records sent, %d stored, first difference at %s' % (len(a), len(b),
    next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))))
print('# %d pcap records identical' % len(a))
EOF
	check_session "$S" 1 "" "tlp:amber+strict" "$HUB_ORG"
	pass "pcap file records stored identical"
	;;
follow)
	F=$T_DIR/pdns.csv
	head -n 3 "$CSV" >"$F"
	sensor_bg -u "$U" -k "$K" -t 8 -F "$F" --from-start
	SP=$SENSOR_PID
	got_all() {
		payload_of_sensor "$U" "$T_DIR/got"
		cmp -s "$T_DIR/got" "$F"
	}
	wait_until 30 got_all || fail "existing lines (--from-start) not stored: $(wc -c <"$T_DIR/got") of $(wc -c <"$F") bytes"
	log "existing lines stored"
	# appended in three bursts while the sensor follows the file
	n=$(wc -l <"$CSV")
	tail -n +4 "$CSV" | head -n $((n / 2)) >>"$F"
	sleep 0.3
	tail -n +$((4 + n / 2)) "$CSV" >>"$F"
	echo "1700000000.000001||127.0.0.1||127.0.0.2||IN||appended.example.test.||A||192.0.2.1||60||1" >>"$F"
	wait_until 20 got_all || fail "appended lines not stored exactly: $(wc -c <"$T_DIR/got") of $(wc -c <"$F") bytes"
	kill -TERM "$SP"
	_wait_pid "$SP" 30 || fail "d4-sensor did not stop on SIGTERM"
	sync_store
	payload_of_sensor "$U" "$T_DIR/got"
	cmp "$T_DIR/got" "$F" || fail "stored lines differ from the followed file"
	# every line exactly once
	dup=$(sort "$T_DIR/got" | uniq -d | wc -l)
	[ "$dup" -eq "$(sort "$F" | uniq -d | wc -l)" ] || fail "duplicated lines stored"
	S=$(ctl --json sessions "$U" | json "d[0]['id']")
	check_session "$S" 8 "" "tlp:amber+strict" "$HUB_ORG"
	pass "$(wc -l <"$F") followed lines stored exactly once, in order"
	;;
meta)
	ORG=$(gen_uuid)
	printf '{"type":"ja3-jl","encoding":"utf-8","tags":["tlp:green","misp:should-sync"],"misp:org":"%s"}' "$ORG" \
		>"$T_DIR/meta.json"
	sensor_run -u "$U" -k "$K" -t 254 -m "$T_DIR/meta.json" <"$CSV" || fail "d4-sensor exited $?"
	wait_for 30 "the session closed and committed" sessions_closed "$U"
	sync_store
	S=$(one_session "$U")
	check_session "$S" 2 "ja3-jl" "tlp:green" "$ORG"
	ctl frames --session "$S" --payload --with-meta >"$T_DIR/got" || fail "frames --payload --with-meta"
	ctl frames --session "$S" --payload >"$T_DIR/data" || fail "frames --payload"
	cmp -s "$T_DIR/data" "$CSV" || fail "frames --payload of a 2 -> 254 session is not exactly the data sent"
	ctl --json frames --session "$S" >"$T_DIR/frames.json"
	# type-2 frames carry the meta header, then type 254 the data
	"$PY" - "$T_DIR/frames.json" "$T_DIR/got" "$T_DIR/meta.json" "$CSV" "$ORG" <<'EOF' || fail "stored meta header / data differ"
import json, sys
frames = json.load(open(sys.argv[1]))
got = open(sys.argv[2], 'rb').read()
meta = open(sys.argv[3], 'rb').read()
data = open(sys.argv[4], 'rb').read()
types = [f['type'] for f in frames]
n2 = 0
while n2 < len(types) and types[n2] == 2: n2 += 1
if n2 == 0: sys.exit('no type-2 frame first: %s' % types[:5])
if any(t != 254 for t in types[n2:]): sys.exit('after the meta header only 254 expected: %s' % types)
for f in frames:
    if f['tlp'] != 'tlp:green' or f['org'] != sys.argv[5]: sys.exit('frame %d: %s %s' % (f['seq'], f['tlp'], f['org']))
m = sum(f['size'] for f in frames[:n2])
if json.loads(got[:m]) != json.loads(meta): sys.exit('meta header stored: %r' % got[:m])
if got[m:] != data: sys.exit('type-254 payload differs (%d bytes stored, %d sent)' % (len(got) - m, len(data)))
print('# %d meta frame(s), %d data frames, every frame tagged tlp:green + org' % (n2, len(frames) - n2))
EOF
	pass "meta header: ext type, TLP and org applied; data stored byte-identical"
	;;
live)
	# libpcap live capture on lo with a BPF filter (needs root / CAP_NET_RAW)
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: live capture needs root"
		exit 77
	fi
	P=$((T_PORT + 1000))
	sensor_bg -u "$U" -k "$K" -t 1 -i lo -f "udp and dst port $P"
	# until the capture runs, probes are lost: send them until one is stored
	probe() {
		echo "probe-$RANDOM" >/dev/udp/127.0.0.1/$P 2>/dev/null || true
		payload_of_sensor "$U" "$T_DIR/got"
		grep -aq probe- "$T_DIR/got"
	}
	wait_until 20 probe || fail "no captured packet stored (sensor log: $(tail -3 "$T_DIR/sensor.log"))"
	for i in 1 2 3 4 5; do echo "marker-$i-$P" >/dev/udp/127.0.0.1/$P; done
	echo "not-captured-$P" >/dev/udp/127.0.0.1/$((P + 1)) 2>/dev/null || true
	markers() {
		payload_of_sensor "$U" "$T_DIR/got"
		[ "$(grep -ao "marker-[0-9]-$P" "$T_DIR/got" | sort -u | wc -l)" -eq 5 ]
	}
	wait_until 30 markers || fail "not every captured datagram was stored"
	kill -TERM "$SENSOR_PID"
	_wait_pid "$SENSOR_PID" 30 || fail "d4-sensor did not stop on SIGTERM"
	sync_store
	payload_of_sensor "$U" "$T_DIR/got"
	if grep -aq "not-captured-$P" "$T_DIR/got"; then fail "the BPF filter was not applied"; fi
	"$PY" - "$T_DIR/got" <<'PYEOF' || fail "stored live capture is not a valid pcap stream"
import struct, sys
b = open(sys.argv[1], 'rb').read()
if struct.unpack('<I', b[:4])[0] != 0xa1b2c3d4: sys.exit('bad pcap magic')
off, n = 24, 0
while off < len(b):
    s, us, cap, orig = struct.unpack('<IIII', b[off:off + 16])
    if off + 16 + cap > len(b) or cap > orig: sys.exit('bad record at %d' % off)
    off += 16 + cap
    n += 1
print('# %d packets captured on lo, pcap stream well-formed' % n)
PYEOF
	pass "live capture with a BPF filter"
	;;
*)
	fail "unknown mode $MODE"
	;;
esac
