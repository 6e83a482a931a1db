#!/usr/bin/env bash
# Backscatter benchmark: packets/s through decode + classify + vector update
# (d4-bench-bs: d4_pkt_decode, d4_bs_agg_add, a tick per second of capture
# time) on one core, from a generated pcap in the page cache, and in the same
# run the rate of a bare libpcap read loop over the same file
# (d4-bench-pcap-read); prints both and the ratio. Targets: >= 5 M packets/s
# and >= 50 % of the bare read rate. The pipeline runs with two readers: a
# libpcap loop like the bare one, and the in-place reader (the file mapped
# and split by d4_pcapsplit, as d4-backscatter reads pcap files and the hub
# reads type-1 streams), whose rate the targets are checked on; the bare
# in-place read loop is printed too, so each ratio can be read both ways.
#
# The capture is written by tests/tools/bs_gen.py --packets N (Ethernet,
# pcap): a pool of 65,536 distinct packets over 2,500 victims chosen
# Zipf-like, 70 % backscatter, 20 % scans, 10 % ordinary traffic, 80 % IPv4,
# 10,000 packets/s of capture time (see bs_gen.py). Each rate is the best of
# three runs, alternated, each run reading the file REPEAT times.
#
# Then run_ingest.sh over the same file: the in-hub rate (type-1 frames
# committed -> vectors updated).
#
#   tests/bench/backscatter/run.sh [BUILD_DIR] [PACKETS] [REPEAT]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
BUILD=${1:-${BUILD_DIR:-$SRC/build}}
PACKETS=${2:-2000000}
REPEAT=${3:-3}
READ=$BUILD/tests/bench/d4-bench-pcap-read
PIPE=$BUILD/tests/bench/d4-bench-bs
[ -x "$READ" ] || {
	echo "run.sh: $READ not built" >&2
	exit 2
}
DIR=$(mktemp -d /tmp/d4bench-bs.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
/usr/bin/python3 "$SRC/tests/tools/bs_gen.py" --out "$DIR/in.pcap" --packets "$PACKETS" --expect "$DIR/shape.json"
echo "# $PACKETS packets, $(stat -c %s "$DIR/in.pcap") bytes, shape: $(tr -d '\n ' <"$DIR/shape.json")"
cat "$DIR/in.pcap" >/dev/null # into the page cache
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
best() { sort -k6 -g | tail -n 1; }
field() { echo "$1" | sed -n "s/.* $2 \([0-9.]*\).*/\1/p"; }
: >"$DIR/read.out"
: >"$DIR/iread.out"
: >"$DIR/pipe.out"
: >"$DIR/ipipe.out"
TELE="198.18.0.0/16 2001:db8:ffff::/48"
for _ in 1 2 3; do
	taskset -c 0 "$READ" "$DIR/in.pcap" "$REPEAT" >>"$DIR/read.out"
	if [ -x "$PIPE" ]; then
		# shellcheck disable=SC2086
		taskset -c 0 "$PIPE" --inplace --read-only "$DIR/in.pcap" "$REPEAT" >>"$DIR/iread.out"
		# shellcheck disable=SC2086
		taskset -c 0 "$PIPE" "$DIR/in.pcap" "$REPEAT" 1 $TELE >>"$DIR/pipe.out"
		# shellcheck disable=SC2086
		taskset -c 0 "$PIPE" --inplace "$DIR/in.pcap" "$REPEAT" 1 $TELE >>"$DIR/ipipe.out"
	fi
done
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
r=$(best <"$DIR/read.out")
rpps=$(field "$r" pps)
echo "bare libpcap read loop: $r"
echo "bare read: $(fmt "$(calc "$rpps / 1e6")" 2) M packets/s"
if [ ! -x "$PIPE" ]; then
	echo "backscatter pipeline: $PIPE not built (library missing)"
	exit 0
fi
ir=$(best <"$DIR/iread.out")
irpps=$(field "$ir" pps)
echo "bare in-place read loop (mapped file, d4_pcapsplit): $ir"
p=$(best <"$DIR/pipe.out")
ppps=$(field "$p" pps)
echo "pipeline, libpcap reader: $p"
echo "pipeline, libpcap reader: $(fmt "$(calc "$ppps / 1e6")" 2) M packets/s, $(fmt "$(calc "100 * $ppps / $rpps")" 1) % of the bare libpcap read"
ip=$(best <"$DIR/ipipe.out")
ippps=$(field "$ip" pps)
echo "pipeline, in-place reader: $ip"
# the two pipelines must have seen the same packets and made the same vectors
pv=$(echo "$p" | sed -n 's/.* vectors \([0-9]*\) backscatter \([0-9]*\).*/\1 \2/p')
ipv=$(echo "$ip" | sed -n 's/.* vectors \([0-9]*\) backscatter \([0-9]*\).*/\1 \2/p')
[ "$pv" = "$ipv" ] || echo "WARNING: the readers disagree (vectors, backscatter): libpcap $pv, in place $ipv"
echo "backscatter pipeline (in-place reader, as d4-backscatter reads pcap files and the hub reads type-1 streams): $(fmt "$(calc "$ippps / 1e6")" 2) M packets/s, $(fmt "$(calc "100 * $ippps / $rpps")" 1) % of the bare libpcap read rate (targets >= 5 M packets/s, >= 50 %); $(fmt "$(calc "100 * $ippps / $irpps")" 1) % of the bare in-place read"
# the in-hub rate over the same capture (type-1 frames committed -> vectors updated)
if [ -x "$BUILD/tests/integration/backscatter/bs_store_tool" ]; then
	"$HERE/run_ingest.sh" "$BUILD" "$DIR/in.pcap"
else
	echo "in-hub backscatter: bs_store_tool not built"
fi
