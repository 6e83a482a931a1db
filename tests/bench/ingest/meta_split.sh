#!/usr/bin/env bash
# Meta-header reassembly cost: one sensor sends a 64 KiB meta header (type 2)
# in 4-byte frames (16,384 packets) with d4-craft; prints the hub's CPU time
# for it and how long another sensor's connection (header + one frame, a
# d4-craft run) takes meanwhile. Issue 8, item 14: before the incremental
# parser each packet re-parsed everything collected so far.
#
#   tests/bench/ingest/meta_split.sh [BUILD_DIR] [string|array]
#
# string: the padding is one long JSON string; array: an array of 1-digit
# numbers (one parser event per 2 bytes, the expensive case).
#
# Not a test (measures the machine); figures are in docs/security.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
mode=${2:-array}
source "$here/../lib.sh"
die() { echo "bench: $*" >&2; exit 1; }
export D4HUB=$build/hub/d4hub D4HUBCTL=$build/hub/ctl/d4hubctl D4SENSOR=$build/sensor/d4-sensor
export D4CRAFT=$build/tests/tools/d4-craft
D4_TEST_PORT=$(free_port)
export D4_TEST_PORT T_NAME=bench_meta_split
source "$repo/tests/integration/lib.sh"

t_conf
hub_start
sensor_new
U1=$SENSOR_UUID K1=$SENSOR_KEY
sensor_new
U2=$SENSOR_UUID K2=$SENSOR_KEY

# {"type":"bench-meta","pad":"xxxx...x"} or {"type":"bench-meta","pad":[1,1,...,1]}
# padded to exactly 65536 bytes, one 4-byte type-2 frame per script line
"$PY" - "$mode" "$U1" "$K1" >"$T_DIR/meta.craft" <<'PYEOF'
import sys
mode, uuid, key = sys.argv[1:4]
head = '{"type":"bench-meta","pad":' + ('"' if mode == "string" else "[1")
tail = '"}' if mode == "string" else "]}"
pad = 65536 - len(head) - len(tail)
body = "x" * pad if mode == "string" else ",1" * (pad // 2) + " " * (pad % 2)
j = head + body + tail
assert len(j) == 65536
print(f"set uuid={uuid} key={key} type=2")
for i in range(0, len(j), 4):
    print("frame payload=text:" + j[i:i + 4].replace("\\", "\\\\").replace(" ", "\\s"))
print("sleep 600000")
PYEOF
cat >"$T_DIR/other.craft" <<EOS
set uuid=$U2 key=$K2 type=1
frame size=10
close
EOS

cpu0=$(cpu_s "$HUB_PID")
t0=$(now)
craft -q <"$T_DIR/meta.craft" >"$T_DIR/meta.out" 2>&1 &
CRAFT_PID=$!
T_BG+=("$CRAFT_PID")
# another sensor connects while the header streams in
sleep 1
c0=$(now)
craft -q <"$T_DIR/other.craft" >"$T_DIR/other.out" 2>&1 || die "second sensor failed: $(cat "$T_DIR/other.out")"
c1=$(now)
meta_done() { ctl --json sessions "$U1" | grep -q '"bench-meta"'; }
wait_until 600 meta_done || die "meta header never completed"
t1=$(now)
cpu1=$(cpu_s "$HUB_PID")
echo "$mode: meta header 65536 B in 16384 frames of 4 B: hub CPU $(calc "$cpu1 - $cpu0") s, wall $(fmt "$(calc "$t1 - $t0")" 2) s;" \
	"another sensor's connect + frame meanwhile: $(fmt "$(calc "($c1 - $c0) * 1000")" 0) ms"
