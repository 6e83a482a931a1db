#!/usr/bin/env bash
# Passive DNS query benchmark: h2load (HTTP/2 over TLS, loopback) against the
# pDNS query API of a real d4hub whose store holds a generated dataset.
#
# Usage: tests/bench/pdns/run_query.sh [BUILD_DIR] [--tuples N] [--duration S] [--clients C] [--streams M] [--rounds R] [--keep]
#   BUILD_DIR (default ./build) must hold d4hub, d4hubctl and d4-pdns-load (tests/tools).
#   D4_BENCH_API_THREADS=N sets [api] threads in the hub (default: one loop per core).
#   D4_BENCH_PDNS_LAYOUT=s4|id sets the pDNS layout of the loaded store (default: the build's, docs/store.md).
# Steps: tests/integration/pdns_api/gen.py writes N observations (default 5,600,000, which merge into just over 5 million tuples) over a
# Zipf-like (log-uniform) name distribution; d4-pdns-load applies them to a fresh store
# (d4_store_pdns_apply, batches of 20,000); d4hub starts on that store; h2load runs each query
# kind for S seconds (default 10) with C connections x M streams (default 8 x 10), one h2load
# thread, over a list of request paths (h2load -i) drawn from the dataset:
#   exact      /dnsdb/v2/lookup/rrset/name/NAME?limit=100         names drawn with their frequency in the data (Zipf-like mix)
#   rdata-ip   /dnsdb/v2/lookup/rdata/ip/ADDR?limit=100           addresses present in the data
#   cidr24     /dnsdb/v2/lookup/rdata/ip/A.B.C.0,24?limit=100
#   left-wild  /dnsdb/v2/lookup/rrset/name/*.ZONE?limit=100
# Prints requests/s and p50/p99 latency (per request, from h2load's --log-file). With --rounds R
# (default 1) the four kinds run R times in turn and each round prints the rdata-ip rate as a share of
# the exact-name rate (issue 14 item 3: >= 50 % in every round). Targets:
# exact >= 10,000 req/s and p99 < 10 ms (exit 1 when missed). Needs h2load (nghttp2-client).
set -uo pipefail
die() { echo "bench: $*" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/../../.." && pwd)
build=./build tuples=5600000 duration=10 clients=8 streams=10 rounds=1 keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--tuples) tuples=$2; shift ;;
	--duration) duration=$2; shift ;;
	--clients) clients=$2; shift ;;
	--streams) streams=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--keep) keep=1 ;;
	-*) die "unknown option $1" ;;
	*) build=$1 ;;
	esac
	shift
done
build=$(cd "$build" && pwd) || die "no build dir"
source "$(dirname "$0")/../lib.sh"
HUB=$(findbin d4hub)
CTL=$(findbin d4hubctl)
LOAD=$(findbin d4-pdns-load)
command -v h2load >/dev/null || die "h2load missing (Debian package nghttp2-client)"
PY=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/d4pdnsq.XXXXXX") || die "mktemp"
hub_pid=""
cleanup() {
	if [ -n "$hub_pid" ] && kill -0 "$hub_pid" 2>/dev/null; then
		kill -TERM "$hub_pid" 2>/dev/null
		wait "$hub_pid" 2>/dev/null
	fi
	if [ "$keep" = 1 ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== machine"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores; $(h2load --version | head -n 1)"
echo "load average (1 min) at start: $(loadavg)"

echo "== dataset"
t0=$(now)
"$PY" "$repo/tests/integration/pdns_api/gen.py" "$tuples" 42 --zipf >"$work/ds.tsv" || die "gen.py failed"
t1=$(now)
"$LOAD" -s "$work/store" -m 16384 ${D4_BENCH_PDNS_LAYOUT:+-L "$D4_BENCH_PDNS_LAYOUT"} <"$work/ds.tsv" >"$work/load.out" || die "d4-pdns-load failed"
t2=$(now)
echo "generated $tuples observations in $(fmt "$(calc "$t1 - $t0")" 1) s; $(cat "$work/load.out") in" \
	"$(fmt "$(calc "$t2 - $t1")" 1) s ($(fmt "$(calc "$tuples / ($t2 - $t1)")" 0) obs/s); store $(du -sh "$work/store" | cut -f1)"

# request lists (paths), drawn from the dataset
"$PY" - "$work/ds.tsv" "$work" <<'PYEOF' || die "cannot write the request lists"
import random, sys
ds, work = sys.argv[1:3]
rng = random.Random(1)
names, ips, zones = [], [], set()
with open(ds) as f:
    for i, line in enumerate(f):
        if i % 97:
            continue
        p = line.split("\t")
        names.append(p[0])
        if p[1] == "1":
            ips.append(p[2])
        zones.add(p[3])
zones.discard("-")
zones = sorted(zones)
def write(kind, paths):
    with open(f"{work}/{kind}.paths", "w") as o:
        for x in paths:
            o.write(x + "\n")
write("exact", [f"/dnsdb/v2/lookup/rrset/name/{rng.choice(names)}?limit=100" for _ in range(5000)])
write("rdata-ip", [f"/dnsdb/v2/lookup/rdata/ip/{rng.choice(ips)}?limit=100" for _ in range(5000)])
write("cidr24", [f"/dnsdb/v2/lookup/rdata/ip/{'.'.join(rng.choice(ips).split('.')[:3])}.0,24?limit=100"
                 for _ in range(5000)])
write("left-wild", [f"/dnsdb/v2/lookup/rrset/name/*.{rng.choice(zones)}?limit=100" for _ in range(5000)])
PYEOF

pki=$work/pki
"$repo/deploy/mkpki.sh" "$pki" || die "mkpki"
port=$(free_port)
api_port=$(free_port)
[ "$api_port" != "$port" ] || api_port=$(free_port)
cat >"$work/hub.conf" <<CONF
[hub]
uuid = $(uuidhex)
org = $(uuidhex)
log_level = notice
[ingest]
listen = 127.0.0.1:$port
cert = $pki/hub.crt
key = $pki/hub.key
[store]
path = $work/store
map_size = 16G
[api]
listen = 127.0.0.1:$api_port
# every h2load stream is a streamed lookup: the per-address / per-user
# defaults (8) would answer most of them 429
max_exports_per_addr = 100000
max_exports_per_user = 100000
${D4_BENCH_API_THREADS:+threads = $D4_BENCH_API_THREADS}
CONF
API=https://127.0.0.1:$api_port
"$HUB" -c "$work/hub.conf" -d >"$work/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 100); do
	curl -sf --http2 --cacert "$pki/ca.crt" "$API/health" >/dev/null 2>&1 && break
	sleep 0.1
done
TOKEN=$("$CTL" -c "$work/hub.conf" user add bench-user --role user 2>/dev/null | grep -o 'd4h_[A-Za-z0-9_-]*' | head -n 1)
[ -n "$TOKEN" ] || die "no token"
echo "hub: pid $hub_pid, API $API"
ntuples=$(curl -sf --http2 --cacert "$pki/ca.crt" -H "X-API-Key: $TOKEN" "$API/pdns/info" |
	"$PY" -c 'import json, sys; print(json.load(sys.stdin)["tuples"])') || die "GET /pdns/info failed"
echo "tuples in the store: $ntuples (issue target: a dataset of >= 5,000,000 tuples: $([ "$ntuples" -ge 5000000 ] && echo yes || echo NO))"

pct() { cut -f3 "$1" | sort -n | awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
	i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.2f", v[i] / 1000 }'; }
fail=0
echo "== queries (h2load -D $duration -c $clients -m $streams -t 1, HTTP/2, X-API-Key)"
for round in $(seq 1 "$rounds"); do
[ "$rounds" -gt 1 ] && echo "-- round $round"
for kind in exact rdata-ip cidr24 left-wild; do
	# h2load -i takes absolute URIs
	sed "s|^|$API|" "$work/$kind.paths" >"$work/$kind.uris"
	sample=$(head -n 1 "$work/$kind.paths")
	size=$(curl -s --http2 --cacert "$pki/ca.crt" -H "X-API-Key: $TOKEN" "$API$sample" | wc -c)
	out=$(h2load -D "$duration" --warm-up-time 2 -c "$clients" -m "$streams" -t 1 -H "x-api-key: $TOKEN" \
		--log-file="$work/$kind.log" -i "$work/$kind.uris" 2>&1)
	rps=$(echo "$out" | sed -n 's/^finished in [0-9.]*[a-z]*, \([0-9.]*\) req\/s.*/\1/p')
	codes=$(echo "$out" | sed -n 's/^status codes: //p')
	[ -n "$rps" ] || { echo "$out" >&2; die "cannot parse h2load output"; }
	p50=$(pct "$work/$kind.log" 50)
	p99=$(pct "$work/$kind.log" 99)
	verdict=""
	if [ "$kind" = exact ]; then
		if awk -v r="$rps" -v p="$p99" 'BEGIN { exit !(r >= 10000 && p < 10) }'; then
			verdict=" (targets >= 10000 req/s, p99 < 10 ms: PASS)"
		else
			verdict=" (targets >= 10000 req/s, p99 < 10 ms: FAIL)"
			fail=1
		fi
	fi
	echo "$kind: $(fmt "$rps" 0) req/s, p50 $p50 ms, p99 $p99 ms$verdict"
	echo "    status codes: $codes; first request's answer $size bytes; e.g. $sample"
	echo "$codes" | grep -q ' 0 4xx, 0 5xx' || { echo "bench: non-2xx answers" >&2; fail=1; }
	eval "rps_${kind//-/_}=\$rps"
done
echo "round $round: rdata-ip at $(fmt "$(calc "100 * $rps_rdata_ip / $rps_exact")" 0) % of the exact-name rate" \
	"(target >= 50 %: $(awk -v a="$rps_rdata_ip" -v b="$rps_exact" 'BEGIN { print (a >= b / 2) ? "PASS" : "FAIL" }'));" \
	"load average (1 min) $(loadavg)"
done
echo "load average (1 min) at end: $(loadavg)"
exit $fail
