#!/usr/bin/env bash
# Passive-SSL extraction benchmark: ClientHellos/s on one core through
# d4-bench-tls (in-place pcap split, decode, TCP/TLS reassembly, ClientHello
# parse, JA3 + MD5, JA4) from a generated capture in the page cache
# (gen_hellos.py: SYN + ClientHello + RST per connection). Target: >= 200,000
# ClientHellos/s. The best of three runs, each reading the file REPEAT times.
#   tests/bench/passivessl/run.sh [BUILD_DIR] [CONNECTIONS] [REPEAT]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
BUILD=${1:-${BUILD_DIR:-$SRC/build}}
N=${2:-500000}
REPEAT=${3:-3}
BENCH=$BUILD/tests/bench/d4-bench-tls
[ -x "$BENCH" ] || {
	echo "run.sh: $BENCH not built" >&2
	exit 2
}
DIR=$(mktemp -d /tmp/d4bench-tls.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
/usr/bin/python3 "$HERE/gen_hellos.py" "$DIR/in.pcap" "$N"
echo "# $N connections, $(stat -c %s "$DIR/in.pcap") bytes; load: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$DIR/in.pcap" >/dev/null
: >"$DIR/out"
for _ in 1 2 3; do
	taskset -c 0 "$BENCH" "$DIR/in.pcap" "$REPEAT" >>"$DIR/out"
done
cat "$DIR/out"
best=$(sort -k10 -g "$DIR/out" | tail -n 1)
hps=$(echo "$best" | sed -n 's/.* hps \([0-9]*\).*/\1/p')
cpu=$(sort -k14 -g "$DIR/out" | tail -n 1 | sed -n 's/.* cpu_hps \([0-9]*\).*/\1/p')
echo "ClientHellos/s (best of 3): $hps wall clock, $cpu per CPU second (target >= 200000)"
