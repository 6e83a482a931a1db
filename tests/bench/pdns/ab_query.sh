#!/usr/bin/env bash
# Exact-name pDNS lookups of two builds on the same dataset, run in turn (A, B, A, B, ...) so that
# both see the same load of a shared machine: h2load (HTTP/2, TLS, loopback) against a real d4hub
# with one API loop thread.
#
# Usage: tests/bench/pdns/ab_query.sh BUILD_A BUILD_B [--tuples N] [--duration S] [--rounds R] [--work DIR]
#   BUILD_* hold d4hub, d4hubctl and d4-pdns-load (tests/tools); they may be builds of different
#   commits: each loads its own store (the layout may differ) from one dataset.
#   --tuples N    observations generated (default 1,100,000; run_query.sh's default is 5,600,000)
#   --duration S  seconds per run (default 5), after a warm-up of 2,000 requests
#   --rounds R    A/B pairs (default 3)
#   --work DIR    keep the dataset and the stores in DIR and use them again on the next call
#                 (a store is keyed by the build folder and N)
# Dataset and request list as run_query.sh: gen.py N 42 --zipf, 5,000 exact-name paths
# (/dnsdb/v2/lookup/rrset/name/NAME?limit=100) drawn with their frequency in the data.
# Prints per run: req/s, p50/p99, the hub's CPU time per answered request (utime+stime of the
# hub over the run / requests answered: less sensitive to the load than req/s) and the load average.
set -uo pipefail
die() { echo "bench: $*" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/../../.." && pwd)
source "$(dirname "$0")/../lib.sh"
builds=() tuples=1100000 duration=5 rounds=3 work=""
while [ $# -gt 0 ]; do
	case $1 in
	--tuples) tuples=$2; shift ;;
	--duration) duration=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--work) work=$2; shift ;;
	-*) die "unknown option $1" ;;
	*) builds+=("$(cd "$1" && pwd)") || die "no build dir $1" ;;
	esac
	shift
done
[ ${#builds[@]} = 2 ] || die "two build folders expected"
command -v h2load >/dev/null || die "h2load missing (Debian package nghttp2-client)"
PY=/usr/bin/python3
keep=1
if [ -z "$work" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/d4pdnsab.XXXXXX") || die "mktemp"
	keep=0
fi
mkdir -p "$work" || die "mkdir $work"
hub_pid=""
cleanup() {
	if [ -n "$hub_pid" ] && kill -0 "$hub_pid" 2>/dev/null; then
		kill -TERM "$hub_pid" 2>/dev/null
		wait "$hub_pid" 2>/dev/null
	fi
	[ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== machine"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores; $(h2load --version | head -n 1)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== dataset ($tuples observations)"
ds=$work/ds.$tuples.tsv
if [ ! -s "$ds.done" ]; then
	"$PY" "$repo/tests/integration/pdns_api/gen.py" "$tuples" 42 --zipf >"$ds" || die "gen.py failed"
	"$PY" - "$ds" "$work/exact.$tuples.paths" <<'PYEOF' || die "cannot write the request list"
import random, sys
ds, out = sys.argv[1:3]
rng = random.Random(1)  # as run_query.sh: the same names for the same dataset
names = []
with open(ds) as f:
    for i, line in enumerate(f):
        if i % 97:
            continue
        names.append(line.split("\t")[0])
with open(out, "w") as o:
    for _ in range(5000):
        o.write(f"/dnsdb/v2/lookup/rrset/name/{rng.choice(names)}?limit=100\n")
PYEOF
	echo ok >"$ds.done"
fi
paths=$work/exact.$tuples.paths

pki=$work/pki
[ -f "$pki/ca.crt" ] || "$repo/deploy/mkpki.sh" "$pki" >/dev/null || die "mkpki"

# per build: binaries, its source (for the configuration keys it knows), its store
declare -A hubbin ctlbin extra store
for b in "${builds[@]}"; do
	# shellcheck disable=SC2034 # findbin (lib.sh) looks in $build
	build=$b
	hubbin[$b]=$(findbin d4hub)
	ctlbin[$b]=$(findbin d4hubctl)
	load=$(findbin d4-pdns-load)
	src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$b/CMakeCache.txt" 2>/dev/null)
	[ -d "$src/api" ] || die "no source folder for $b (CMakeCache.txt)"
	e=""
	# an older hub refuses keys it does not know; every stream is a lookup (the
	# per-address and per-user defaults of 8 would answer most of them 429)
	grep -qs '"api.max_exports_per_addr"' "$src/hub/config/d4_hubconf.c" &&
		e+=$'max_exports_per_addr = 100000\nmax_exports_per_user = 100000\n'
	# one loop thread (a build without [api] threads has one)
	grep -qs '"api.threads"' "$src/hub/config/d4_hubconf.c" && e+=$'threads = 1\n'
	extra[$b]=$e
	echo "$b: [api] $(echo "$e" | grep -q threads || echo "(no threads key: one loop) ")$(echo "$e" | tr '\n' ' ')"
	key=$(echo "$b" | md5sum | cut -c1-12)
	store[$b]=$work/store.$key.$tuples
	if [ ! -f "${store[$b]}.done" ]; then
		rm -rf "${store[$b]}"
		t0=$(now)
		"$load" -s "${store[$b]}" -m 16384 <"$ds" >"$work/load.out" || die "d4-pdns-load ($b) failed"
		echo "$b: $(cat "$work/load.out") in $(fmt "$(calc "$(now) - $t0")" 1) s, store $(du -sh "${store[$b]}" | cut -f1)"
		echo ok >"${store[$b]}.done"
	fi
done

run_one() { # run_one LABEL BUILD
	local label=$1 b=$2 port api_port token out rps codes done_n c0 c1 la p50 p99 run
	run=$(mktemp -d "$work/run.XXXXXX")
	port=$(free_port)
	api_port=$(free_port)
	[ "$api_port" != "$port" ] || api_port=$(free_port)
	cat >"$run/hub.conf" <<CONF
[hub]
uuid = $(uuidhex)
org = $(uuidhex)
log_level = notice
[ingest]
listen = 127.0.0.1:$port
cert = $pki/hub.crt
key = $pki/hub.key
[store]
path = ${store[$b]}
map_size = 16G
[api]
listen = 127.0.0.1:$api_port
${extra[$b]}
CONF
	local api=https://127.0.0.1:$api_port
	"${hubbin[$b]}" -c "$run/hub.conf" -d >"$run/hub.log" 2>&1 &
	hub_pid=$!
	for _ in $(seq 1 100); do
		curl -sf --http2 --cacert "$pki/ca.crt" "$api/health" >/dev/null 2>&1 && break
		sleep 0.1
	done
	token=$("${ctlbin[$b]}" -c "$run/hub.conf" user add "bench-$RANDOM" --role user 2>/dev/null |
		grep -o 'd4h_[A-Za-z0-9_-]*' | head -n 1)
	[ -n "$token" ] || { tail -5 "$run/hub.log" >&2; die "no token ($b)"; }
	sed "s|^|$api|" "$paths" >"$run/uris"
	h2load -n 2000 -c 8 -m 10 -t 1 -H "x-api-key: $token" -i "$run/uris" >/dev/null 2>&1
	la=$(cut -d' ' -f1 /proc/loadavg)
	c0=$(cpu_s "$hub_pid")
	out=$(h2load -D "$duration" -c 8 -m 10 -t 1 -H "x-api-key: $token" --log-file="$run/log" -i "$run/uris" 2>&1)
	c1=$(cpu_s "$hub_pid")
	kill -TERM "$hub_pid" 2>/dev/null
	wait "$hub_pid" 2>/dev/null
	hub_pid=""
	rps=$(echo "$out" | sed -n 's/^finished in [0-9.]*[a-z]*, \([0-9.]*\) req\/s.*/\1/p')
	codes=$(echo "$out" | sed -n 's/^status codes: //p')
	[ -n "$rps" ] || { echo "$out" >&2; die "cannot parse h2load output"; }
	done_n=$(wc -l <"$run/log")
	pct() { cut -f3 "$run/log" | sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
		i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.2f", v[i] / 1000 }'; }
	p50=$(pct 50)
	p99=$(pct 99)
	echo "$label: $(fmt "$rps" 0) req/s, p50 $p50 ms, p99 $p99 ms, hub CPU $(fmt "$(calc "($c1 - $c0) * 1000000 / $done_n")" 0) us/request;" \
		"load $la -> $(cut -d' ' -f1 /proc/loadavg)"
	echo "$codes" | grep -q ' 0 4xx, 0 5xx' || echo "    non-2xx answers: $codes"
	rm -rf "$run"
}

echo "== exact-name lookups, one API loop (h2load -D $duration -c 8 -m 10 -t 1)"
echo "A = ${builds[0]}"
echo "B = ${builds[1]}"
for r in $(seq 1 "$rounds"); do
	run_one "round $r A" "${builds[0]}"
	run_one "round $r B" "${builds[1]}"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
