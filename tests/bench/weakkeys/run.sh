#!/usr/bin/env bash
# Batch-GCD benchmark (d4-bench-weakkeys): N 2048-bit moduli checked for shared
# primes in one run, then NEW moduli against them; prints the times, the peak
# RSS and the load. The moduli are generated from a seed with GMP on the first
# run (its time printed apart) and cached in $D4_BENCH_CACHE (default
# ${TMPDIR:-/tmp}/d4bench-weakkeys, kept between runs).
#
#   tests/bench/weakkeys/run.sh [BUILD_DIR] [N] [NEW] [PRIMES]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
BUILD=${1:-${BUILD_DIR:-$SRC/build}}
N=${2:-100000}
NEW=${3:-1000}
PRIMES=${4:-8}
BIN=$BUILD/tests/bench/d4-bench-weakkeys
[ -x "$BIN" ] || {
	echo "run.sh: $BIN not built" >&2
	exit 2
}
CACHE=${D4_BENCH_CACHE:-${TMPDIR:-/tmp}/d4bench-weakkeys}
mkdir -p "$CACHE"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
taskset -c 0 "$BIN" "$CACHE" "$N" "$NEW" "$PRIMES"
