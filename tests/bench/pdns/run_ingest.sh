#!/usr/bin/env bash
# Passive DNS ingest benchmark on a realistic, seeded feed.
#
#   tests/bench/pdns/run_ingest.sh [BUILD_DIR] [LINES] [--seed N] [--txn-ms MS] [--layout s4|id] [--perf] [--no-worker] [--keep]
#
# Data: d4-bench-pdns-gen (tests/bench/pdns/d4_bench_pdns_gen.c: registered domains over 40
# public suffixes with a Zipf law, hosts, NS/MX/TXT/SOA/SRV, AAAA, shared hosting, CDN chains
# over rotating pools, fast flux, round-robin pools, mixed case, count > 1), LINES lines
# (default 1,000,000), seed 42 unless --seed; its distinct-tuple ratio is printed.
#
# One run prints:
#   machine   the machine's own limits now: sequential write + fdatasync (dd, 256 MiB), small
#             synchronous writes (4 KiB O_DSYNC: what one commit's fsync costs at least),
#             HMAC-SHA256 on one core (openssl speed), the load average.
#   e2e       end to end, durable: a real d4hub (TLS, registration, [pdns] enabled, durable
#             commits) and a real d4-sensor sending the CSV from stdin as type 8; wall time from
#             the sensor's start to the poll (every 50 ms, read-only) that sees every line
#             counted by the pDNS worker, i.e. every tuple committed and queryable. Lines/s,
#             the hub's CPU per line, the tuples, the bytes of the pDNS tables (every index and
#             the side records) per tuple, and per table (mdb_stat of the stopped hub's store).
#   worker    the pDNS worker alone (pdns_store_tool drain on the same lines appended to a fresh
#             store's frame log), pinned to one core: durable commits as the hub runs, and
#             MDB_NOSYNC on a copy (the CPU-bound figure).
# --txn-ms MS sets [pdns] txn_ms in the hub (and D4_PDNS_TXN_MS for the worker alone): the target
# duration of one pDNS store transaction (default 300; docs/pdns.md "Batch size").
# --layout id makes the hub's new store id-keyed (store.pdns_id_layout = yes; docs/store.md), s4 schema 4
# (the default); the worker-alone store likewise.
# --perf records the hub during the e2e run (perf record -g) and prints the top symbols.
# Needs in BUILD_DIR: d4hub, d4hubctl, d4-sensor, pdns_store_tool, d4-bench-pdns-gen.
# Environment: D4_BENCH_TMP (parent of the work folder, default $TMPDIR or /tmp).
set -u -o pipefail
export LC_ALL=C

die() { echo "bench: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build="" lines="" seed=42 do_perf=0 worker=1 keep=0 txn_ms="" layout=s4
while [ $# -gt 0 ]; do
	case "$1" in
	--seed) seed=$2; shift ;;
	--txn-ms) txn_ms=$2; shift ;;
	--layout) layout=$2; shift ;;
	--perf) do_perf=1 ;;
	--no-worker) worker=0 ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	-*) echo "bench: unknown option $1" >&2; exit 2 ;;
	*)
		if [ -z "$build" ]; then build=$1
		elif [ -z "$lines" ]; then lines=$1
		else echo "bench: too many arguments" >&2; exit 2; fi ;;
	esac
	shift
done
build=${build:-${BUILD_DIR:-$repo/build}}
lines=${lines:-1000000}
[ -d "$build" ] || die "build dir $build not found"
build=$(cd "$build" && pwd)
source "$here/../lib.sh"
HUB=$(findbin d4hub)
CTL=$(findbin d4hubctl)
SENSOR=$(findbin d4-sensor)
TOOL=$(findbin pdns_store_tool)
GEN=$(findbin d4-bench-pdns-gen)
MKPKI="$repo/deploy/mkpki.sh"
command -v openssl >/dev/null || die "openssl CLI missing"

tmproot=${D4_BENCH_TMP:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$tmproot/d4bench-pdns.XXXXXX") || die "mktemp failed"
hub_pid="" perf_pid=""
cleanup() {
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null
	if [ -n "$hub_pid" ] && kill -0 "$hub_pid" 2>/dev/null; then
		kill -TERM "$hub_pid" 2>/dev/null
		wait "$hub_pid" 2>/dev/null
	fi
	if [ "$keep" = 1 ]; then echo "bench: work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------- machine ----
echo "== machine"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores;" \
	"mem $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo);" \
	"fs: $(df -PT "$work" | awk 'NR == 2 { print $2 " on " $1 }'); kernel $(uname -r)"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $load0"
ddout=$(dd if=/dev/zero of="$work/dd.test" bs=1M count=256 conv=fdatasync 2>&1 | tail -n 1)
dd_secs=$(echo "$ddout" | sed -n 's/.*copied, \([0-9.]*\) s.*/\1/p')
[ -n "$dd_secs" ] || die "cannot parse dd output: $ddout"
disk_mbs=$(calc "$(echo "$ddout" | awk '{ print $1 }') / 1e6 / $dd_secs")
ddout=$(dd if=/dev/zero of="$work/dd.test" bs=4096 count=200 oflag=dsync 2>&1 | tail -n 1)
rm -f "$work/dd.test"
sync_secs=$(echo "$ddout" | sed -n 's/.*copied, \([0-9.]*\) s.*/\1/p')
sync_ms=$(calc "${sync_secs:-0} * 1000 / 200")
hmac_k=$(openssl speed -hmac sha256 -bytes 65536 -seconds 1 2>/dev/null | awk '/^hmac\(sha256\)/ { sub(/k$/, "", $2); print $2 }')
[ -n "$hmac_k" ] || hmac_k=$(openssl speed -evp sha256 -bytes 65536 -seconds 1 2>/dev/null | awk '/^sha256/ { sub(/k$/, "", $2); print $2 }')
echo "disk: sequential write + fdatasync (256 MiB): $(fmt "$disk_mbs") MB/s; 4 KiB O_DSYNC write: $(fmt "$sync_ms" 2) ms each;" \
	"HMAC-SHA256 one core (64 KiB): $(fmt "$(calc "${hmac_k:-0} / 1000")") MB/s"

# ---------------------------------------------------------------- data ----
t0=$(now)
gstat=$("$GEN" -n "$lines" -s "$seed" -o "$work/in.csv" 2>&1) || die "d4-bench-pdns-gen failed: $gstat"
t1=$(now)
echo "== data: d4-bench-pdns-gen -n $lines -s $seed ($(stat -c %s "$work/in.csv") bytes, $(fmt "$(calc "$t1 - $t0")" 2) s)"
echo "$gstat" | sed 's/^/# /'
distinct=$(echo "$gstat" | sed -n 's/.*distinct_tuples \([0-9]*\).*/\1/p')

# ----------------------------------------------------------------- e2e ----
pki="$work/pki" store="$work/store" conf="$work/hub.conf"
mkdir -p "$store"
"$MKPKI" "$pki" >/dev/null || die "mkpki failed"
port=$(free_port)
cat >"$conf" <<EOF
[hub]
uuid = $(uuidhex)
org = $(uuidhex)
log_level = notice
[ingest]
listen = 127.0.0.1:$port
cert = $pki/hub.crt
key = $pki/hub.key
mode = registration
[store]
path = $store
map_size = 16G
pdns_id_layout = $([ "$layout" = id ] && echo yes || echo no)
[api]
enabled = no
[pdns]
enabled = yes
EOF
[ -z "$txn_ms" ] || echo "txn_ms = $txn_ms" >>"$conf"
[ -z "$txn_ms" ] || export D4_PDNS_TXN_MS=$txn_ms
u=$(uuidhex)
k=$("$CTL" -c "$conf" sensor add "$u" --gen-key --approve) || die "d4hubctl sensor add failed"
"$HUB" -c "$conf" -d >"$work/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 300); do
	grep -q "d4hub listening on" "$work/hub.log" && break
	kill -0 "$hub_pid" 2>/dev/null || { cat "$work/hub.log" >&2; die "d4hub exited at start"; }
	sleep 0.1
done
grep -q "d4hub listening on" "$work/hub.log" || die "d4hub did not start listening"
info() { "$TOOL" info "$store" 2>/dev/null; }
ifield() { echo "$1" | sed -n "s/.*$2 \([0-9]*\).*/\1/p"; }
echo "== end to end: d4-sensor -t 8 < in.csv -> d4hub (TLS, durable, [pdns] txn_ms ${txn_ms:-300}) -> pDNS tuples committed"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$do_perf" = 1 ] && command -v perf >/dev/null; then
	perf record -F 499 -g -p "$hub_pid" -o "$work/perf.data" >/dev/null 2>&1 &
	perf_pid=$!
fi
c0=$(cpu_s "$hub_pid")
t_start=$(now)
"$SENSOR" -D "127.0.0.1:$port" --ca "$pki/ca.crt" -u "$u" -k "$k" -t 8 -q <"$work/in.csv" 2>"$work/sensor.err" ||
	die "d4-sensor failed: $(tail -n 3 "$work/sensor.err")"
t_sent=$(now)
last="" last_change=$t_sent
while :; do
	i=$(info)
	done_n=$(($(ifield "$i" observations) + $(ifield "$i" bad_lines)))
	t_done=$(now)
	[ "$done_n" -ge "$lines" ] && break
	if [ "$done_n" != "$last" ]; then
		last=$done_n last_change=$t_done
	elif awk -v a="$t_done" -v b="$last_change" 'BEGIN { exit !(a - b > 60) }'; then
		tail -n 5 "$work/hub.log" >&2
		die "no pDNS progress for 60 s ($done_n of $lines lines)"
	fi
	sleep 0.05
done
c1=$(cpu_s "$hub_pid")
if [ -n "$perf_pid" ]; then
	kill -INT "$perf_pid" 2>/dev/null
	wait "$perf_pid" 2>/dev/null
	perf_pid=""
fi
load_e2e=$(cut -d' ' -f1-3 /proc/loadavg)
e2e_wall=$(calc "$t_done - $t_start")
e2e_lps=$(calc "$lines / $e2e_wall")
e2e_cpu=$(calc "$c1 - $c0")
tuples=$(ifield "$i" tuples) bytes=$(ifield "$i" bytes)
echo "e2e: $(fmt "$e2e_lps" 0) lines/s durable end to end ($lines lines in $(fmt "$e2e_wall" 2) s; sensor done after" \
	"$(fmt "$(calc "$t_sent - $t_start")" 2) s); hub CPU $(fmt "$e2e_cpu" 2) s = $(fmt "$(calc "$e2e_cpu * 1e6 / $lines")" 2) µs per line" \
	"(target >= 200000 lines/s: $(awk -v v="$e2e_lps" 'BEGIN { print (v >= 200000 ? "PASS" : "FAIL") }'))"
echo "e2e: $(ifield "$i" observations) observations, $(ifield "$i" bad_lines) bad lines, $tuples tuples" \
	"(generator: $distinct distinct), load average after: $load_e2e"
kill -TERM "$hub_pid" 2>/dev/null
wait "$hub_pid" 2>/dev/null
hub_pid=""
[ "$tuples" = "$distinct" ] || echo "bench: warning: the store holds $tuples tuples, the generator counted $distinct"

# ----------------------------------------------------------- footprint ----
echo "== footprint: pDNS tables after the e2e run (every index, side records included)"
echo "pdns tables: $bytes bytes for $tuples tuples = $(fmt "$(calc "$bytes / $tuples")") bytes per tuple (target <= 250)"
if command -v mdb_stat >/dev/null; then
	mdb_stat -ea "$store" 2>/dev/null | awk -v t="$tuples" '
		/^Status of / { db = $3 }
		/Page size:/ { ps = $3 }
		/Branch pages:/ { b = $3 } /Leaf pages:/ { l = $3 } /Overflow pages:/ { o = $3 }
		/Entries:/ { if (db ~ /^pdns_/) printf "  %-18s %10d entries %12d bytes %8.1f bytes/tuple\n", db, $2, (b + l + o) * ps, (b + l + o) * ps / t }'
fi

# -------------------------------------------------------------- worker ----
if [ "$worker" = 1 ]; then
	echo "== the pDNS worker alone (pdns_store_tool drain, taskset -c 0)"
	"$TOOL" --layout "$layout" load "$work/store-w" "$work/in.csv" 8 65536 | sed 's/^/# loaded: /'
	cp -r "$work/store-w" "$work/store-w-nosync"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	field() { echo "$1" | sed -n "s/.* $2 \([0-9.]*\).*/\1/p"; }
	out=$(taskset -c 0 "$TOOL" drain "$work/store-w" 10000 2>/dev/null)
	out2=$(taskset -c 0 "$TOOL" --no-sync drain "$work/store-w-nosync" 10000 2>/dev/null)
	echo "worker durable:    $(field "$out" obs_per_s) lines/s ($(field "$out" seconds) s, $(field "$out" cpu_seconds) s CPU" \
		"= $(fmt "$(calc "$(field "$out" cpu_seconds) * 1e6 / $lines")" 2) µs per line, $(field "$out" commits) commits)"
	echo "worker MDB_NOSYNC: $(field "$out2" obs_per_s) lines/s ($(field "$out2" seconds) s, $(field "$out2" cpu_seconds) s CPU" \
		"= $(fmt "$(calc "$(field "$out2" cpu_seconds) * 1e6 / $lines")" 2) µs per line)"
	rm -rf "$work/store-w" "$work/store-w-nosync"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$do_perf" = 1 ] && [ -f "$work/perf.data" ]; then
	echo "== perf: hub during the e2e run (top symbols, self)"
	perf report -i "$work/perf.data" --stdio --no-children --sort comm,dso,symbol 2>/dev/null | grep -E '^ +[0-9]' | head -n 30
	keep=1
fi
