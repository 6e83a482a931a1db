#!/usr/bin/env bash
# Passive DNS ingest benchmark: end-to-end lines/s of the hub's pDNS ingest
# worker (hub/analyze) on one core. Generates N passivedns CSV lines (default
# 1,000,000) over a Zipf-like name distribution, appends them to a fresh
# store's frame log as type-8 frames of 64 KiB (whole lines, like a
# line-buffered sensor) through the store writer, then times the consumer
# draining them (parse, batch, merge into the tuple store, commit with the
# cursor) pinned to one CPU: with durable commits as the hub runs (batches of
# 10,000 observations to start with, adapted to ~100 ms per transaction),
# with MDB_NOSYNC on a copy (the CPU-bound figure), and durable with batches
# of at least 160,000 (fewer, longer transactions: what the 100 ms bound costs).
#
#   tests/bench/pdns/run_ingest.sh [BUILD_DIR] [LINES]
set -euo pipefail
BUILD=${1:-${BUILD_DIR:-/tmp/build-bench}}
LINES=${2:-1000000}
TOOL=$BUILD/tests/integration/pdns_ingest/pdns_store_tool
[ -x "$TOOL" ] || {
	echo "run_ingest.sh: $TOOL not built (make pdns_store_tool in $BUILD)" >&2
	exit 2
}
DIR=$(mktemp -d /tmp/d4bench-pdns-ingest.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
/usr/bin/python3 - "$DIR/in.csv" "$LINES" <<'PY'
import random, sys
random.seed(42)
n = int(sys.argv[2])
names = 200000
# Zipf-like ranks: a few names very often, a long tail seen once or twice
w = [1.0 / (r ** 1.1) for r in range(1, names + 1)]
ranks = random.choices(range(names), weights=w, k=n)
types = ["A", "AAAA", "CNAME", "TXT", "MX"]
with open(sys.argv[1], "w") as f:
    for i, r in enumerate(ranks):
        t = types[r % 5]
        if t == "A": rd = "198.%d.%d.%d" % (r >> 16 & 255, r >> 8 & 255, r & 255)
        elif t == "AAAA": rd = "2001:db8::%x" % r
        elif t == "CNAME": rd = "cdn%d.example.net." % (r % 977)
        elif t == "TXT": rd = "\"v=spf1 include:_spf%d.example.net ~all\"" % (r % 131)
        else: rd = "mx%d.example.net." % (r % 53)
        f.write("%d.%06d||10.0.%d.%d||10.1.0.53||IN||host%d.zone%d.example.com.||%s||%s||300||1\n"
                % (1700000000 + i // 50, i % 1000000, (i >> 8) & 255, i & 255, r, r % 1000, t, rd))
PY
echo "# $(wc -l <"$DIR/in.csv") lines, $(stat -c %s "$DIR/in.csv") bytes"
"$TOOL" load "$DIR/store" "$DIR/in.csv" 8 65536 | sed 's/^/# loaded: /'
cp -r "$DIR/store" "$DIR/store-nosync"
cp -r "$DIR/store" "$DIR/store-big"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
field() { echo "$1" | sed -n "s/.* $2 \([0-9.]*\).*/\1/p"; }
# durable: every commit fsynced, as in the hub
out=$(taskset -c 0 "$TOOL" drain "$DIR/store" 10000 2>/dev/null)
echo "# durable: $out"
# the same without fsync: what one core does when the disk is not the limit
out2=$(taskset -c 0 "$TOOL" --no-sync drain "$DIR/store-nosync" 10000 2>/dev/null)
echo "# no-sync: $out2"
out3=$(taskset -c 0 "$TOOL" drain "$DIR/store-big" 160000 2>/dev/null)
echo "# durable, batch >= 160000: $out3"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
tuples=$("$TOOL" query "$DIR/store" left example.com. | wc -l)
echo "pdns ingest: $LINES lines, $tuples tuples, one core (target >= 200000 lines/s):"
echo "  durable commits: $(field "$out" obs_per_s) lines/s wall ($(field "$out" seconds) s, $(field "$out" cpu_seconds) s CPU = $(field "$out" obs_per_cpu_s) lines per CPU second)"
echo "  MDB_NOSYNC:      $(field "$out2" obs_per_s) lines/s wall ($(field "$out2" seconds) s, $(field "$out2" cpu_seconds) s CPU)"
echo "  durable, batch >= 160000: $(field "$out3" obs_per_s) lines/s wall ($(field "$out3" seconds) s, $(field "$out3" commits) commits)"
