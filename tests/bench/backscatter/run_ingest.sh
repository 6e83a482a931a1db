#!/usr/bin/env bash
# In-hub backscatter rate: type-1 frames committed -> vectors updated. A
# capture (FILE, or bs_gen.py --packets N) is appended to a fresh store's
# frame log as type-1 frames of 64 KiB cut anywhere (as a sensor reading a
# pipe sends it) through the store writer; then the hub's consumer
# (hub/analyze, bs_ingest.c: pcap stream splitting, decode, classification,
# vector update, the states of changed vectors, ongoing updates and the
# cursor committed together) drains it pinned to one CPU, with durable
# commits as in the hub (batches of 100,000 packets) and with MDB_NOSYNC on a
# copy (the CPU-bound figure). Telescope 198.18.0.0/16 and 2001:db8:ffff::/48.
#
#   tests/bench/backscatter/run_ingest.sh [BUILD_DIR] [PACKETS|FILE.pcap]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
BUILD=${1:-${BUILD_DIR:-$SRC/build}}
IN=${2:-1000000}
TOOL=$BUILD/tests/integration/backscatter/bs_store_tool
[ -x "$TOOL" ] || {
	echo "run_ingest.sh: $TOOL not built (make bs_store_tool in $BUILD)" >&2
	exit 2
}
DIR=$(mktemp -d /tmp/d4bench-bs-ingest.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
if [ -f "$IN" ]; then
	PCAP=$IN
else
	PCAP=$DIR/in.pcap
	/usr/bin/python3 "$SRC/tests/tools/bs_gen.py" --out "$PCAP" --packets "$IN" >/dev/null
fi
"$TOOL" load "$DIR/store" "$PCAP" 65536 | sed 's/^/# loaded: /'
cp -r "$DIR/store" "$DIR/store-nosync"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
field() { echo "$1" | sed -n "s/.* $2 \([0-9.]*\).*/\1/p"; }
out=$(taskset -c 0 "$TOOL" drain "$DIR/store" 100000 2>/dev/null)
echo "# durable: $out"
out2=$(taskset -c 0 "$TOOL" --no-sync drain "$DIR/store-nosync" 100000 2>/dev/null)
echo "# no-sync: $out2"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "in-hub backscatter (type-1 frames committed -> vectors updated), one core:" \
	"$(field "$out" packets_per_s) packets/s durable," \
	"$(field "$out2" packets_per_s) packets/s without fsync" \
	"($(field "$out" vector_writes) vector writes, $(field "$out" commits) commits)"
