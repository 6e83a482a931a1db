#!/usr/bin/env bash
# REST API benchmark: h2load (HTTP/2 over TLS, loopback) against the API of a real d4hub.
#
#   tests/bench/api/run.sh [BUILD_DIR] [--quick] [--duration S] [--clients C] [--streams M]
#                          [--sensors N] [--export-bytes B] [--no-export] [--no-cache] [--perf] [--keep]
#                          [--threads "1 N"]
#
# Builds nothing: BUILD_DIR (default build/) must hold d4hub, d4hubctl and d4-bench-send, found
# anywhere under BUILD_DIR. Needs h2load (Debian: nghttp2-client) and curl.
#
# (a) sensors list: N sensors (default 1000) created through the API (createSensor, one curl
#     --parallel run over HTTP/2), an admin token from `d4hubctl user add`, then h2load -D S
#     (after a 2 s warm-up) -c C -m M on GET /api/v1/sensors?limit=100 and ?limit=1000. Requests/s
#     from h2load; p50/p99 latency from its --log-file (per request: time to the end of the
#     response). Target (issue 3): >= 20,000 requests/s. The hub caches rendered list pages per
#     store commit generation; --no-cache starts it with D4HUB_LIST_CACHE=off to measure rendering.
# (b) raw export: --export-bytes (default 1G) of 64 KiB frames sent by d4-bench-send into one
#     session (one TLS connection), committed, then `curl --http2 -o /dev/null` on
#     GET /api/v1/sessions/{id}/export?format=raw, timed by curl. Compared with raw loopback TLS
#     measured in the same run (d4-bench-send into `openssl s_server`, as tests/bench/ingest/run.sh).
#     Target: >= 50 % of it. Skipped (said so) when the hub has no export route yet.
# (a) runs once per API event-loop thread count of --threads (default "1 N", N = online cores;
#     the hub is restarted on the same store with [api] threads = T), with a pDNS lookup mix too
#     (/dnsdb/v2/lookup/rrset/name/NAME over 2,000 names loaded by d4-pdns-load, h2load -i) when
#     d4-pdns-load is built. Each run prints req/s, p50/p99, the hub's CPU split over its loop
#     threads and h2load's own CPU: with 2 cores the client takes about one, which is the
#     machine's limit on what N loops can show (printed beside the figures with the load average).
set -u -o pipefail
export LC_ALL=C

die() { echo "bench: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=""
quick=0
duration=10
clients=8
streams=10
nsensors=1000
export_bytes=1G
do_export=1
no_cache=0
do_perf=0
keep=0
threads_list="1 $(nproc)"
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--duration) duration=$2; shift ;;
	--clients) clients=$2; shift ;;
	--streams) streams=$2; shift ;;
	--sensors) nsensors=$2; shift ;;
	--export-bytes) export_bytes=$2; shift ;;
	--no-export) do_export=0 ;;
	--no-cache) no_cache=1 ;;
	--perf) do_perf=1 ;;
	--keep) keep=1 ;;
	--threads) threads_list=$2; shift ;;
	-h|--help) sed -n '2,27p' "$0"; exit 0 ;;
	-*) echo "bench: unknown option $1" >&2; exit 2 ;;
	*) [ -z "$build" ] || { echo "bench: one build dir only" >&2; exit 2; }; build=$1 ;;
	esac
	shift
done
if [ "$quick" = 1 ]; then
	duration=3
	export_bytes=256M
fi
[ -n "$build" ] || build="$repo/build"
[ -d "$build" ] || die "build dir $build not found (build first: cmake -S . -B build && make -C build)"
build=$(cd "$build" && pwd)

source "$(dirname "$0")/../lib.sh"
HUB=$(findbin d4hub)
CTL=$(findbin d4hubctl)
SEND=$(findbin d4-bench-send)
MKPKI="$repo/deploy/mkpki.sh"
[ -x "$MKPKI" ] || die "$MKPKI missing"
command -v h2load >/dev/null || die "h2load missing (Debian package nghttp2-client; deploy/bootstrap.sh installs it)"
command -v curl >/dev/null || die "curl missing"
command -v openssl >/dev/null || die "openssl CLI missing"
curl --version | grep -qw HTTP2 || die "this curl has no HTTP/2"

tmproot=${D4_BENCH_TMP:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$tmproot/d4apibench.XXXXXX") || die "mktemp failed"
hub_pid=""
sink_pid=""
cleanup() {
	if [ -n "$hub_pid" ] && kill -0 "$hub_pid" 2>/dev/null; then
		kill -TERM "$hub_pid" 2>/dev/null
		wait "$hub_pid" 2>/dev/null
	fi
	if [ -n "$sink_pid" ] && kill -0 "$sink_pid" 2>/dev/null; then
		kill "$sink_pid" 2>/dev/null
		wait "$sink_pid" 2>/dev/null
	fi
	if [ "$keep" = 1 ]; then
		echo "bench: work folder kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---------------------------------------------------------------- setup ----
pki="$work/pki"
store="$work/store"
mkdir -p "$pki" "$store"
"$MKPKI" "$pki" || die "mkpki failed"
port=$(free_port)
api_port=$(free_port)
[ "$api_port" != "$port" ] || api_port=$(free_port)
conf="$work/hub.conf"
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
[api]
listen = 127.0.0.1:$api_port
threads = ${threads_list%% *}
# pDNS lookups are streamed answers: h2load's C x M concurrent ones come from one address and user
max_exports_per_addr = 100000
max_exports_per_user = 100000
EOF
# pDNS names for the lookup mix, loaded before the hub opens the store
PDNSLOAD=$(find "$build" -type f -name d4-pdns-load -perm -u+x 2>/dev/null | head -n 1)
if [ -n "$PDNSLOAD" ]; then
	/usr/bin/python3 - >"$work/pdns.tsv" <<'PYEOF'
for i in range(2000):
    for j in range(2):
        print(f"host{i}.bench{i % 40}.example\t1\t10.{i // 250}.{i % 250}.{j + 1}\t-\t1700000000\t1700000100\t1\ttlp:green\t-")
PYEOF
	"$PDNSLOAD" -s "$store" -m 16384 <"$work/pdns.tsv" >/dev/null || die "d4-pdns-load failed"
fi
API="https://127.0.0.1:$api_port"

echo "== machine"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores;" \
	"mem $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "openssl: $(openssl version); $(h2load --version | head -n 1); $(curl --version | head -n 1 | cut -d' ' -f1-2); kernel $(uname -r)"
load0=$(loadavg)
echo "load average (1 min) at start: $load0"
awk -v l="$load0" 'BEGIN { exit !(l > 0.5) }' &&
	echo "warning: the machine is busy (load $load0): figures below are lower than on an idle machine"

[ "$no_cache" = 1 ] && echo "list page cache: off (D4HUB_LIST_CACHE=off)"
ok_api() { curl -sf --http2 --cacert "$pki/ca.crt" "$API/health" >/dev/null 2>&1; }
# hub_up T: (re)starts the hub on the same store with [api] threads = T
hub_up() {
	if [ -n "$hub_pid" ]; then
		kill -TERM "$hub_pid" 2>/dev/null
		wait "$hub_pid" 2>/dev/null
		hub_pid=""
	fi
	sed -i "s/^threads = .*/threads = $1/" "$conf"
	if [ "$no_cache" = 1 ]; then
		D4HUB_LIST_CACHE=off "$HUB" -c "$conf" -d >>"$work/hub.log" 2>&1 &
	else
		"$HUB" -c "$conf" -d >>"$work/hub.log" 2>&1 &
	fi
	hub_pid=$!
	for _ in $(seq 1 100); do
		ok_api && break
		kill -0 "$hub_pid" 2>/dev/null || { cat "$work/hub.log" >&2; die "d4hub exited at start"; }
		sleep 0.1
	done
	ok_api || { tail -n 20 "$work/hub.log" >&2; die "the API does not answer on $API/health"; }
	echo "hub: pid $hub_pid, ingest 127.0.0.1:$port, API $API, store $store;" \
		"$(grep -o '([0-9]* event-loop threads*)' "$work/hub.log" | tail -n 1)"
}
hub_up "${threads_list%% *}"

TOKEN=$("$CTL" -c "$conf" user add bench-admin --role admin 2>"$work/ctl.err") ||
	die "d4hubctl user add failed: $(cat "$work/ctl.err")"
TOKEN=$(printf '%s' "$TOKEN" | grep -o 'd4h_[A-Za-z0-9_-]*' | head -n 1)
[ -n "$TOKEN" ] || die "no token printed by d4hubctl user add"
AUTH="authorization: Bearer $TOKEN"
# curl reads the token from a config file, not the command line (ps shows arguments)
printf 'header = "%s"\n' "$AUTH" >"$work/auth.curl"
chmod 600 "$work/auth.curl"

# ------------------------------------------------------------- sensors ----
t0=$(now)
cfg="$work/create.curl"
# One curl config, one block per sensor ("next" resets every per-transfer option); random v4
# uuids and keys from one python3 run (a process per sensor takes a minute).
/usr/bin/python3 - "$nsensors" "$API" "$AUTH" "$pki/ca.crt" >"$cfg" <<'PYEOF' || die "cannot write the curl config"
import json, secrets, sys, uuid
n, api, auth, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
for i in range(n):
    body = json.dumps({"uuid": uuid.uuid4().hex, "key": secrets.token_hex(16), "description": f"bench sensor {i + 1}",
                       "approve": True}, separators=(",", ":")).replace('"', '\\"')
    if i:
        print("next")
    print(f'url = "{api}/api/v1/sensors"\nhttp2\ncacert = "{ca}"\nheader = "{auth}"')
    print(f'header = "content-type: application/json"\ndata = "{body}"\noutput = "/dev/null"')
    print('write-out = "%{http_code}\\n"')
PYEOF
chmod 600 "$cfg"
codes=$(curl -s --parallel --parallel-max 16 -K "$cfg" 2>"$work/create.err")
n201=$(printf '%s\n' "$codes" | grep -c '^201$')
[ "$n201" = "$nsensors" ] || die "createSensor: $n201 of $nsensors answered 201 ($(printf '%s\n' "$codes" | sort | uniq -c | tr '\n' ' '))"
t1=$(now)
listed=$(curl -s --http2 --cacert "$pki/ca.crt" -K "$work/auth.curl" "$API/api/v1/sensors?limit=1000" | grep -o '"uuid"' | wc -l)
echo "sensors: $nsensors created through POST /api/v1/sensors (curl --parallel, HTTP/2) in $(fmt "$(calc "$t1 - $t0")" 2) s; listSensors?limit=1000 returns $listed"
[ "$listed" -ge "$nsensors" ] || die "listSensors returned $listed sensors, expected $nsensors"

# ------------------------------------------------------------ (a) h2load ----
fail=0
# pct FILE P -> P-th percentile (nearest rank) of column 3 (microseconds) of the h2load log, in ms
pct() { cut -f3 "$1" | sort -n | awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
	i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.2f", v[i] / 1000 }'; }

# loop_cpu PID: "T0 T1 ..." CPU seconds of each API loop thread (named d4hub-api/N)
loop_cpu() {
	local t
	for t in /proc/"$1"/task/*; do
		grep -q '^d4hub-api/' "$t/comm" 2>/dev/null || continue
		printf '%s %s\n' "$(cat "$t/comm")" "$(cpu_s "$1/task/${t##*/}")"
	done | sort -t/ -k2 -n | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }'
}
# delta "A B" "C D" -> "C-A / D-B" (seconds, 1 decimal)
delta() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ");
	for (i = 1; i <= n; i++) printf "%s%.1f", (i > 1 ? " / " : ""), y[i] - x[i] }'; }

# bench_get NAME PATH TARGET(0 = none) [URI_LIST]: with URI_LIST, h2load -i over those URIs
bench_get() {
	local name=$1 url="$API$2" target=$3 uris=${4:-} out rps ok fails codes2xx non2xx proto p50 p99 size c0 c1 perf_pid=""
	local tag l0 l1 hcpu
	tag=$(printf '%s' "$name.$loops" | tr -c 'A-Za-z0-9' '_')
	local log="$work/h2load.$tag.log"
	size=$(curl -s --http2 --cacert "$pki/ca.crt" -K "$work/auth.curl" "$url" | wc -c)
	c0=$(cpu_s "$hub_pid")
	l0=$(loop_cpu "$hub_pid")
	if [ "$do_perf" = 1 ] && command -v perf >/dev/null; then
		perf record -F 499 --call-graph dwarf,16384 -p "$hub_pid" -o "$work/perf.$tag.data" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	local target_args=("$url")
	[ -z "$uris" ] || target_args=(-i "$uris")
	out=$(/usr/bin/time -f '%U %S' -o "$work/time.$tag" h2load -D "$duration" --warm-up-time 2 -c "$clients" \
		-m "$streams" -t 1 -H "$AUTH" --log-file="$log" "${target_args[@]}" 2>&1)
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null
		wait "$perf_pid" 2>/dev/null
	fi
	c1=$(cpu_s "$hub_pid")
	l1=$(loop_cpu "$hub_pid")
	hcpu=$(awk '{ printf "%.1f", $1 + $2 }' "$work/time.$tag" 2>/dev/null)
	echo "$out" >"$work/h2load.$tag.out"
	rps=$(echo "$out" | sed -n 's/^finished in [0-9.]*[a-z]*, \([0-9.]*\) req\/s.*/\1/p')
	ok=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
	fails=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1+\2/p')
	codes2xx=$(echo "$out" | sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p')
	non2xx=$(echo "$out" | awk '/^status codes:/ { print $5 + $7 + $9 }')
	proto=$(echo "$out" | sed -n 's/^Application protocol: //p')
	[ -n "$rps" ] || { echo "bench: cannot parse h2load output:" >&2; echo "$out" >&2; return 1; }
	p50=$(pct "$log" 50)
	p99=$(pct "$log" 99)
	local verdict="no target"
	if [ "$target" -gt 0 ]; then
		verdict="target >= $target req/s: $(awk -v v="$rps" -v t="$target" 'BEGIN { print (v >= t ? "PASS" : "FAIL") }')"
		awk -v v="$rps" -v t="$target" 'BEGIN { exit !(v < t) }' && fail=1
	fi
	echo "$name, $loops loop thread(s): $(fmt "$rps" 0) req/s, p50 $p50 ms, p99 $p99 ms ($verdict)"
	echo "    cpu in ~$((duration + 2)) s: hub $(fmt "$(calc "$c1 - $c0")" 1) s (loops $(delta "$l0" "$l1") s)," \
		"h2load ${hcpu:-?} s; the machine has $(nproc) cores = $(($(nproc) * (duration + 2))) cpu-s; load $(loadavg)"
	echo "    h2load -D $duration --warm-up-time 2 -c $clients -m $streams -t 1 ($proto); $ok succeeded, failed+errored $fails," \
		"2xx $codes2xx; body $size bytes ($(fmt "$(calc "$rps * $size / 1e6")") MB/s of JSON); hub cpu $(fmt "$(calc "$c1 - $c0")" 2) s" \
		"in ~$((duration + 2)) s (~$(fmt "$(calc "($c1 - $c0) * 1e6 / ($rps > 0 ? $rps * ($duration + 2) : 1)")" 0) us per request)"
	if [ "$proto" != "h2" ]; then
		echo "bench: h2load did not negotiate h2 (got '$proto')" >&2
		fail=1
	fi
	if [ "$fails" != "0+0" ] || [ "$non2xx" != 0 ]; then
		echo "bench: some requests failed (see $work/h2load.$tag.out)" >&2
		fail=1
	fi
}

if [ -n "$PDNSLOAD" ]; then
	/usr/bin/python3 - "$API" >"$work/pdns.uris" <<'PYEOF'
import random, sys
rng = random.Random(14)
for _ in range(5000):
    i = rng.randrange(2000)
    print(f"{sys.argv[1]}/dnsdb/v2/lookup/rrset/name/host{i}.bench{i % 40}.example?limit=100")
PYEOF
fi
first=1
for loops in $threads_list; do
	[ "$first" = 1 ] || hub_up "$loops"
	first=0
	echo "== (a) over HTTP/2 with $loops API loop thread(s) ($nsensors sensors; load $(loadavg))"
	bench_get "listSensors limit=100" "/api/v1/sensors?limit=100" 20000 || fail=1
	[ "$quick" = 1 ] || bench_get "listSensors limit=1000" "/api/v1/sensors?limit=1000" 0 || fail=1
	# Reference: the same path through TLS, HTTP/2, routing and token check with a 40-byte body
	# (the server's ceiling on this machine, without the list's serialisation).
	bench_get "getMe (reference, tiny body)" "/api/v1/me" 0 || fail=1
	if [ -n "$PDNSLOAD" ]; then
		bench_get "pDNS lookup rrset/name (2,000 names)" "/dnsdb/v2/lookup/rrset/name/host1.bench1.example?limit=100" 0 \
			"$work/pdns.uris" || fail=1
	fi
done

# ------------------------------------------------------------ (b) export ----
echo "== (b) raw export of one session over HTTP/2"
if [ "$do_export" = 0 ]; then
	echo "export: skipped (--no-export)"
else
	sensors="$work/sensors.txt"
	su=$(uuidhex)
	sk=$(openssl rand -hex 32)
	echo "$su $sk" >"$sensors"
	chmod 600 "$sensors"
	"$CTL" -c "$conf" sensor add "$su" --key "$sk" --desc "export bench" --approve >/dev/null 2>>"$work/ctl.err" ||
		die "d4hubctl sensor add failed"

	# Loopback TLS ceiling, same method as the ingest benchmark (one connection into a sink).
	sport=$(free_port)
	mkfifo "$work/sink.in"
	openssl s_server -quiet -accept "127.0.0.1:$sport" -cert "$pki/hub.crt" -key "$pki/hub.key" \
		-naccept 1 <>"$work/sink.in" >/dev/null 2>"$work/sink.err" &
	sink_pid=$!
	wait_listen "$sport" || die "openssl s_server did not listen"
	bl=$(timeout 300 "$SEND" "127.0.0.1:$sport" --ca "$pki/ca.crt" --sensors "$sensors" --conns 1 \
		--size 65536 --bytes "$export_bytes" -q 2>"$work/sink.send.err")
	tls_mbs=$(echo "$bl" | sed -n 's/.* mb_s=\([0-9.]*\).*/\1/p')
	kill "$sink_pid" 2>/dev/null
	wait "$sink_pid" 2>/dev/null
	sink_pid=""
	[ -n "$tls_mbs" ] || die "loopback TLS baseline failed: $(cat "$work/sink.send.err")"
	echo "loopback TLS into openssl s_server (64 KiB writes, 1 conn, $export_bytes): $(fmt "$tls_mbs") MB/s (sender-side)"

	# One session of export_bytes, committed before the export starts.
	out=$("$SEND" "127.0.0.1:$port" --ca "$pki/ca.crt" --sensors "$sensors" --conns 1 --size 65536 \
		--bytes "$export_bytes" 2>"$work/send.err") || die "d4-bench-send into the hub failed: $(cat "$work/send.err")"
	frames=$(echo "$out" | sed -n 's/.* frames=\([0-9]*\).*/\1/p')
	sess_json=""
	for _ in $(seq 1 600); do
		sess_json=$(curl -s --http2 --cacert "$pki/ca.crt" -K "$work/auth.curl" "$API/api/v1/sensors/$su/sessions?limit=1")
		got=$(printf '%s' "$sess_json" | json_num frames)
		[ -n "$got" ] && [ "$got" -ge "$frames" ] && break
		sleep 0.2
	done
	sid=$(printf '%s' "$sess_json" | json_num id)
	got=$(printf '%s' "$sess_json" | json_num frames)
	sbytes=$(printf '%s' "$sess_json" | json_num bytes)
	{ [ -n "$sid" ] && [ "${got:-0}" -ge "$frames" ]; } ||
		die "session not committed: sent $frames frames, listSensorSessions says: $sess_json"
	echo "session $sid: $got frames, $sbytes bytes committed"

	# Probe with a bad format: 400 from the export handler, 404 when the route does not exist.
	code=$(curl -s --http2 --cacert "$pki/ca.crt" -K "$work/auth.curl" -o /dev/null -w '%{http_code}' \
		"$API/api/v1/sessions/$sid/export?format=bench-probe")
	if [ "$code" = 404 ] || [ "$code" = 405 ]; then
		echo "export: NOT MEASURED — the hub has no GET /api/v1/sessions/{id}/export yet (HTTP $code)"
	else
		c0=$(cpu_s "$hub_pid")
		perf_pid=""
		if [ "$do_perf" = 1 ] && command -v perf >/dev/null; then
			perf record -F 999 -g -p "$hub_pid" -o "$work/perf.export.data" >/dev/null 2>&1 &
			perf_pid=$!
		fi
		w=$(curl -s --http2 --cacert "$pki/ca.crt" -K "$work/auth.curl" -o /dev/null \
			-w '%{http_code} %{http_version} %{size_download} %{time_starttransfer} %{time_total}' \
			"$API/api/v1/sessions/$sid/export?format=raw")
		if [ -n "$perf_pid" ]; then
			kill -INT "$perf_pid" 2>/dev/null
			wait "$perf_pid" 2>/dev/null
		fi
		c1=$(cpu_s "$hub_pid")
		read -r ecode ever esize ettfb etotal <<<"$w"
		if [ "$ecode" != 200 ] || [ "$esize" != "$sbytes" ]; then
			echo "export: FAIL — HTTP $ecode, $esize bytes downloaded, session holds $sbytes"
			fail=1
		else
			exp_mbs=$(calc "$esize / 1e6 / $etotal")
			pctv=$(calc "100 * $exp_mbs / $tls_mbs")
			v=$(awk -v p="$pctv" 'BEGIN { print (p >= 50 ? "PASS" : "FAIL") }')
			[ "$v" = PASS ] || fail=1
			echo "export raw: $(fmt "$exp_mbs") MB/s = $(fmt "$pctv") % of loopback TLS $(fmt "$tls_mbs") MB/s (target >= 50 %: $v)"
			echo "    curl --http2 (HTTP/$ever): $esize bytes in $(fmt "$etotal" 2) s, first byte after $(fmt "$ettfb" 3) s;" \
				"hub cpu $(fmt "$(calc "$c1 - $c0")" 2) s"
		fi
	fi
fi

echo "load average (1 min) at end: $(loadavg)"
if [ "$do_perf" = 1 ]; then
	for f in "$work"/perf.*.data; do
		[ -f "$f" ] || continue
		echo "== perf: $f (top symbols, hub process)"
		perf report -i "$f" --stdio --no-children --sort comm,dso,symbol 2>/dev/null | grep -E '^ +[0-9]' | head -n 30
	done
	keep=1
fi
if ! kill -0 "$hub_pid" 2>/dev/null; then
	echo "bench: d4hub died during the run" >&2
	fail=1
fi
exit $fail
