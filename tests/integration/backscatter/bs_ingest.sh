#!/usr/bin/env bash
# Address 127.0.0.11; ports picked at run time by lib.sh.
# The hub's backscatter consumer end to end, in live-network mode without a
# telescope (as `d4-backscatter --live`): real d4-sensors send the ordinary
# captures of tests/data and a capture written by bs_gen.py (every kind over
# IPv4 and IPv6, victims just under each threshold, replies to the sensor's
# own connections) as type 1 — the latter through standard input, cut
# anywhere — and a last packet an hour later closes every vector. The stored
# vectors are exactly bs_gen's, the ordinary traffic and the own-connection
# replies give none, and they equal one uninterrupted run over the log
# (bs_store_tool reference). Then kill -9 of the hub while it ingests a second
# capture, restart: the stored vectors and counters equal the uninterrupted
# run over the committed log.
source "$(dirname "$0")/../lib.sh"

: "${BS_TOOL:?BS_TOOL not set}" "${D4_SRC:?D4_SRC not set}"
GEN="$PY $D4_SRC/tests/tools/bs_gen.py"
CHECK="$PY $D4_SRC/tests/integration/backscatter/bs_check.py"
DATA=$D4_TEST_DATA/pcap
tool() { "$BS_TOOL" "$@"; }

t_conf
printf '[backscatter]\nenabled = yes\nlive = yes\nbatch = 500\n' >>"$T_CONF"

# d4hub -n names a bad telescope prefix and a bad threshold
cp "$T_CONF" "$T_DIR/bad.conf"
printf 'telescope = 198.18.0.0/16, 10.0.0.0/33\n' >>"$T_DIR/bad.conf"
if "$D4HUB" -n -c "$T_DIR/bad.conf" >"$T_DIR/n.out" 2>&1; then fail "d4hub -n accepted 10.0.0.0/33"; fi
assert_contains "$(cat "$T_DIR/n.out")" "backscatter.telescope: '10.0.0.0/33'"
cp "$T_CONF" "$T_DIR/bad2.conf"
printf 'min_peak = 100\n' >>"$T_DIR/bad2.conf"
if "$D4HUB" -n -c "$T_DIR/bad2.conf" >"$T_DIR/n2.out" 2>&1; then fail "d4hub -n accepted min_peak > min_packets"; fi
assert_contains "$(cat "$T_DIR/n2.out")" "backscatter.min_peak"
"$D4HUB" -n -c "$T_CONF" >/dev/null || fail "d4hub -n refused the test configuration"

hub_start
STORE=$T_DIR/store

# writes FILE's bytes to standard output in pieces of 1..MAX bytes, pausing
# PAUSE seconds between pieces (a stream cut anywhere, as a sensor reading a
# pipe sends it)
cutter() {
	"$PY" - "$@" <<'EOF'
import random, sys, time
data = open(sys.argv[1], "rb").read()
mx, pause = int(sys.argv[2]), float(sys.argv[3])
random.seed(11)
i = 0
out = sys.stdout.buffer
while i < len(data):
    n = random.randint(1, mx)
    out.write(data[i:i + n])
    out.flush()
    i += n
    if pause:
        time.sleep(pause)
EOF
}
# one ordinary UDP packet at epoch second $2, Ethernet, into pcap $1
closer() {
	"$PY" - "$1" "$2" <<'EOF'
import struct, sys
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([192, 0, 2, 1]), bytes([198, 18, 0, 1]))
pkt = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + struct.pack("!HHHH", 53, 53, 8, 0)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack("<IIII", int(sys.argv[2]), 0, len(pkt), len(pkt)) + pkt)
EOF
}
# the consumer caught up with the log (cursor at its last frame)
last_seq() { ctl --json frames --from 0 | "$PY" -c 'import json,sys; f=json.load(sys.stdin); print(max(x["seq"] for x in f))'; }
cursor_done() { tool cursor "$STORE" | cut -d' ' -f1; }
caught_up() { [ "$(cursor_done)" -ge "$(last_seq)" ]; }
# the stored vectors equal the uninterrupted run over the log, counters too
same_as_reference() {
	tool vectors "$STORE" >"$T_DIR/got" || return 1
	tool reference "$STORE" --live >"$T_DIR/ref" 2>"$T_DIR/ref.err" || return 1
	cmp -s "$T_DIR/got" "$T_DIR/ref"
}
counters_sum() { tool counters "$STORE" | awk '{ p += $3; b += $5 } END { printf "decoded %d backscatter %d\n", p, b }'; }

# ---- ordinary traffic, then the synthetic capture, then the closing packet ----
sensor_new
UO=$SENSOR_UUID KO=$SENSOR_KEY
for f in http.pcap dns_icmp.pcap ipv6.pcap vlan.pcap nb6-http.pcap; do
	sensor_run -u "$UO" -k "$KO" -t 1 -r "$DATA/$f" 2>>"$T_DIR/sensor.log" || fail "d4-sensor ($f) exited $?"
done
$GEN --seed 7 --link eth --format pcap --out "$T_DIR/s.pcap" --expect "$T_DIR/s.json"
sensor_new
UB=$SENSOR_UUID KB=$SENSOR_KEY
cutter "$T_DIR/s.pcap" 3000 0 | sensor_run -u "$UB" -k "$KB" -t 1 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor (bs_gen capture on standard input) exited $?"
end=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(max(v["last"] for v in d["vectors"])) + 3600)' "$T_DIR/s.json")
closer "$T_DIR/close1.pcap" "$end"
sensor_new
UC=$SENSOR_UUID KC=$SENSOR_KEY
sensor_run -u "$UC" -k "$KC" -t 1 -r "$T_DIR/close1.pcap" 2>>"$T_DIR/sensor.log" || fail "d4-sensor (closer) exited $?"

wait_until 60 caught_up || fail "the backscatter consumer did not catch up: cursor $(tool cursor "$STORE"), last frame $(last_seq)"
if ! $CHECK <(tool vectors "$STORE") "$T_DIR/s.json" vectors >"$T_DIR/chk"; then
	cat "$T_DIR/chk"
	fail "stored vectors differ from bs_gen's (live mode: the own-connection replies must not be one)"
fi
log "stored vectors: $(tail -n 1 "$T_DIR/chk")"
nvec=$(tool vectors "$STORE" | wc -l)
assert_ge "$nvec" 10 "vectors stored"
grep -q '"state":"ongoing"' <(tool vectors "$STORE") && fail "a vector is still ongoing after the closing packet"
same_as_reference || {
	diff "$T_DIR/ref" "$T_DIR/got" | head -20
	fail "stored vectors differ from one uninterrupted run over the log"
}
assert_eq "$(counters_sum)" "$(cat "$T_DIR/ref.err")" "per-sensor counters (decoded packets, backscatter)"
uo=$(echo "$UO" | tr -d - | tr A-F a-f)
ub=$(echo "$UB" | tr -d - | tr A-F a-f)
grep -q "\"$uo\"" "$T_DIR/got" && fail "a vector lists the sensor of the ordinary captures"
own=$(tool counters "$STORE" | awk -v u="$ub" '$1 == u { print $6 }')
live_pk=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["live_excluded"][0]["packets"])' "$T_DIR/s.json")
assert_eq "$own" "$live_pk" "own-flow replies counted for the bs_gen sensor"
log "$nvec vectors, equal to bs_gen's and to the uninterrupted run; ordinary traffic: none; $own own-flow replies"

# /metrics shows the consumer
URL=$(api_url)
TOKEN=$(ctl user add metrics-viewer --role user) || fail "user add"
metrics_ok() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" "$URL/metrics" >"$T_DIR/metrics" &&
		grep -q '^d4hub_backscatter_packets_total [1-9]' "$T_DIR/metrics" &&
		grep -q "^d4hub_backscatter_vectors_reported_total $nvec\$" "$T_DIR/metrics" &&
		grep -q '^d4hub_backscatter_lag_frames 0$' "$T_DIR/metrics" &&
		grep -q '^d4hub_backscatter_commits_total [1-9]' "$T_DIR/metrics" &&
		grep -q '^d4hub_backscatter_not_counted_total{reason="own-flow"} [1-9]' "$T_DIR/metrics"
}
wait_until 30 metrics_ok || fail "/metrics: $(grep backscatter "$T_DIR/metrics" | head -30)"

# ---- kill -9 during the ingest of a second capture ------------------------------
$GEN --seed 8 --link raw --format pcap --start $((end + 1000)) --out "$T_DIR/s2.pcap" --expect "$T_DIR/s2.json"
sensor_new
U2=$SENSOR_UUID K2=$SENSOR_KEY
mkfifo "$T_DIR/fifo"
(cutter "$T_DIR/s2.pcap" 3000 0.03 >"$T_DIR/fifo") &
T_BG+=("$!")
SENSOR_IN=$T_DIR/fifo sensor_bg -u "$U2" -k "$K2" -t 1
c0=$(cursor_done)
mid() { [ "$(cursor_done)" -gt $((c0 + 150)) ]; }
wait_until 60 mid || fail "the backscatter consumer did not advance"
hub_kill9
log "hub killed with the backscatter cursor at $(tool cursor "$STORE")"
kill -KILL "$SENSOR_PID" 2>/dev/null || true
_wait_pid "$SENSOR_PID" 30 || fail "d4-sensor did not die on SIGKILL"
hub_start
log "hub restarted"
closer "$T_DIR/close2.pcap" $((end + 1000 + 7200))
sensor_run -u "$UC" -k "$KC" -t 1 -r "$T_DIR/close2.pcap" 2>>"$T_DIR/sensor.log" || fail "d4-sensor (closer 2) exited $?"
wait_until 60 caught_up || fail "the backscatter consumer did not catch up after the restart"
if ! same_as_reference; then
	diff "$T_DIR/ref" "$T_DIR/got" | head -20
	fail "vectors after kill -9 and restart differ from one uninterrupted run over the log"
fi
assert_eq "$(counters_sum)" "$(cat "$T_DIR/ref.err")" "per-sensor counters after kill -9 and restart"
n2=$(wc -l <"$T_DIR/got")
[ "$n2" -gt "$nvec" ] || fail "the second capture made no vector before the kill ($n2 vectors)"
grep -q 'backscatter: resuming after frame' "$T_LOG" || log "(the restart found no partial state to replay)"
log "$n2 vectors and the counters equal the uninterrupted run after kill -9"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass
