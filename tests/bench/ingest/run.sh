#!/usr/bin/env bash
# Ingest benchmark: d4-bench-send -> d4hub (TLS, loopback) -> LMDB, durable commits.
#
#   tests/bench/ingest/run.sh [BUILD_DIR] [--quick] [--bytes N] [--conns K] [--sizes "4096 65536"]
#                             [--keep] [--no-baseline] [--perf] [--log-level L] [--set SECTION.KEY=VALUE]...
#
# Builds nothing: BUILD_DIR (default build/) must hold hub/d4hub (or d4hub), d4hubctl and
# d4-bench-send, found anywhere under BUILD_DIR. Throughput counts a frame only once
# `d4hubctl --json status` shows it committed; wall time runs from the sender's first byte to the
# poll that saw the last commit. Also measures the machine's own limits in the same run: sequential
# write with fdatasync on the store's filesystem (and dd's kernel CPU per GB), single-core
# HMAC-SHA256 and AES-256-GCM (the hub's CPU floor per GB), and raw loopback TLS into
# `openssl s_server`. Prints the hub's CPU per GB (target <= 2.5 s at 64 KiB), by thread, and the
# load average around each run.
#
# Environment: D4_BENCH_TMP (parent of the work folder, default $TMPDIR or /tmp; must be on the
# filesystem you want to measure), D4_BENCH_FRAMES_KEY (JSON field of `status` counting committed
# frames; default: first of "frames", "committed_frames").
set -u -o pipefail
export LC_ALL=C # dd and awk output parsed below

die() { echo "bench: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=""
quick=0
bytes=""
conns=1
sizes="4096 65536"
keep=0
baseline=1
do_perf=0
log_level=notice
extra_hub="" extra_ingest="" extra_store=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--bytes) bytes=$2; shift ;;
	--conns) conns=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--keep) keep=1 ;;
	--no-baseline) baseline=0 ;;
	--perf) do_perf=1 ;;
	--log-level) log_level=$2; shift ;;
	--set) # extra hub config line, e.g. --set ingest.max_backlog=256M (repeatable)
		case "$2" in
		hub.*=*) extra_hub+="${2#hub.}"$'\n' ;;
		ingest.*=*) extra_ingest+="${2#ingest.}"$'\n' ;;
		store.*=*) extra_store+="${2#store.}"$'\n' ;;
		*) echo "bench: --set wants hub.|ingest.|store.KEY=VALUE" >&2; exit 2 ;;
		esac
		shift ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	-*) echo "bench: unknown option $1" >&2; exit 2 ;;
	*) [ -z "$build" ] || { echo "bench: one build dir only" >&2; exit 2; }; build=$1 ;;
	esac
	shift
done
[ -n "$build" ] || build="$repo/build"
[ -d "$build" ] || die "build dir $build not found (build first: cmake -S . -B build && make -C build)"
build=$(cd "$build" && pwd)

source "$(dirname "$0")/../lib.sh"
HUB=$(findbin d4hub)
CTL=$(findbin d4hubctl)
SEND=$(findbin d4-bench-send)
MKPKI="$repo/deploy/mkpki.sh"
[ -x "$MKPKI" ] || die "$MKPKI missing"
command -v openssl >/dev/null || die "openssl CLI missing"

tmproot=${D4_BENCH_TMP:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$tmproot/d4bench.XXXXXX") || die "mktemp failed"
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


frames_key=${D4_BENCH_FRAMES_KEY:-}
committed_frames() {
	local js v k
	js=$("$CTL" -c "$conf" --json status 2>>"$work/ctl.err") || return 1
	if [ -z "$frames_key" ]; then
		for k in frames committed_frames; do
			v=$(printf '%s' "$js" | json_num "$k")
			if [ -n "$v" ]; then
				frames_key=$k
				break
			fi
		done
		[ -n "$frames_key" ] || { echo "bench: no frame counter in status JSON: $js" >&2; return 1; }
	fi
	v=$(printf '%s' "$js" | json_num "$frames_key")
	[ -n "$v" ] || return 1
	echo "$v"
}

# ---------------------------------------------------------------- setup ----
pki="$work/pki"
store="$work/store"
mkdir -p "$pki" "$store"
"$MKPKI" "$pki" || die "mkpki failed"
port=$(free_port)
conf="$work/hub.conf"
cat >"$conf" <<EOF
[hub]
uuid = $(uuidhex)
org = $(uuidhex)
log_level = $log_level
${extra_hub}[ingest]
listen = 127.0.0.1:$port
cert = $pki/hub.crt
key = $pki/hub.key
mode = registration
${extra_ingest}[store]
path = $store
map_size = 16G
${extra_store}[api]
enabled = no
EOF
sensors="$work/sensors.txt"
: >"$sensors"
chmod 600 "$sensors"
for i in $(seq 1 "$conns"); do
	u=$(uuidhex)
	k=$(openssl rand -hex 32)
	"$CTL" -c "$conf" sensor add "$u" --key "$k" --desc "bench $i" --approve >/dev/null ||
		die "d4hubctl sensor add failed"
	echo "$u $k" >>"$sensors"
done

echo "== machine"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores;" \
	"mem $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo);" \
	"fs of store: $(df -PT "$store" | awk 'NR == 2 { print $2 " on " $1 }')"
echo "openssl: $(openssl version); kernel $(uname -r)"
load0=$(loadavg)
echo "load average (1 min) at start: $load0"
awk -v l="$load0" 'BEGIN { exit !(l > 0.5) }' &&
	echo "warning: the machine is busy (load $load0): figures below are lower than on an idle machine"

# ------------------------------------------------------ machine limits ----
ddcount=1024
[ "$quick" = 1 ] && ddcount=256
# dd's system time is the kernel's CPU to put those bytes into the page cache and sync them: the
# hub's writer pays it too (LMDB writev + fdatasync), so it belongs to the floor of the hub's CPU.
dd_sys=$( { TIMEFORMAT=%S; time dd if=/dev/zero of="$work/dd.test" bs=1M count=$ddcount conv=fdatasync 2>"$work/dd.err"; } 2>&1)
ddout=$(tail -n 1 "$work/dd.err")
rm -f "$work/dd.test"
dd_bytes=$(echo "$ddout" | awk '{ print $1 }')
dd_secs=$(echo "$ddout" | sed -n 's/.*copied, \([0-9.]*\) s.*/\1/p')
[ -n "$dd_secs" ] || die "cannot parse dd output: $ddout"
disk_mbs=$(calc "$dd_bytes / 1e6 / $dd_secs")
write_sgb=$(calc "${dd_sys:-0} / ($dd_bytes / 1e9)")
echo "disk: sequential write + fdatasync ($ddcount MiB, dd): $(fmt "$disk_mbs") MB/s; kernel CPU $(fmt "$write_sgb" 3) s/GB (dd's system time)"

hsecs=3
[ "$quick" = 1 ] && hsecs=1
hmac_k=$(openssl speed -hmac sha256 -bytes 65536 -seconds $hsecs 2>/dev/null | awk '/^hmac\(sha256\)/ { sub(/k$/, "", $2); print $2 }')
if [ -z "$hmac_k" ]; then # older CLIs: plain sha256 is within a few % of HMAC on 64 KiB
	hmac_k=$(openssl speed -evp sha256 -bytes 65536 -seconds $hsecs 2>/dev/null | awk '/^sha256/ { sub(/k$/, "", $2); print $2 }')
fi
[ -n "$hmac_k" ] || die "cannot parse openssl speed output"
hmac_mbs=$(calc "$hmac_k / 1000")
echo "hmac: HMAC-SHA256 single core, 64 KiB blocks (openssl speed): $(fmt "$hmac_mbs") MB/s"
# The hub's CPU floor per GB: every byte is decrypted once (TLS 1.3 records of 16 KiB, the
# ciphersuite the sender negotiates: TLS_AES_256_GCM_SHA384) and HMAC'd once; nothing else is
# irreducible. Measured in the same run, as s/GB, to read beside the hub's CPU per GB.
gcm_k=$(openssl speed -evp aes-256-gcm -bytes 16384 -seconds $hsecs 2>/dev/null | awk '/^AES-256-GCM/ { sub(/k$/, "", $2); print $2 }')
[ -n "$gcm_k" ] || die "cannot parse openssl speed output (aes-256-gcm)"
hmac_sgb=$(calc "1e6 / $hmac_k")
gcm_sgb=$(calc "1e6 / $gcm_k")
floor_sgb=$(calc "$hmac_sgb + $gcm_sgb")
echo "aes-gcm: AES-256-GCM single core, 16 KiB records (openssl speed): $(fmt "$(calc "$gcm_k / 1000")") MB/s"
echo "cpu floor per GB: HMAC-SHA256 $(fmt "$hmac_sgb" 3) s + AES-256-GCM $(fmt "$gcm_sgb" 3) s = $(fmt "$floor_sgb" 3) s/GB;" \
	"+ page-cache write (dd) $(fmt "$write_sgb" 3) s = $(fmt "$(calc "$floor_sgb + $write_sgb")" 3) s/GB"
limit_mbs=$(awk -v a="$disk_mbs" -v b="$hmac_mbs" 'BEGIN { printf "%.6f", (a < b ? a : b) }')

if [ "$baseline" = 1 ]; then
	# Raw TLS over loopback into a sink that does nothing: the ceiling of any TLS ingest here.
	# One connection: s_server serves connections one after the other, and the sender's
	# connections all handshake before any sends.
	sport=$(free_port)
	mkfifo "$work/sink.in"
	# stdin opened read-write: s_server never sees EOF on it (EOF makes it spin).
	openssl s_server -quiet -accept "127.0.0.1:$sport" -cert "$pki/hub.crt" -key "$pki/hub.key" \
		-naccept 1 <>"$work/sink.in" >/dev/null 2>"$work/sink.err" &
	sink_pid=$!
	wait_listen "$sport" || die "openssl s_server did not listen"
	bl=$(timeout 300 "$SEND" "127.0.0.1:$sport" --ca "$pki/ca.crt" --sensors "$sensors" --conns 1 \
		--size 65536 --bytes "$([ "$quick" = 1 ] && echo 256M || echo 1G)" -q 2>"$work/sink.send.err")
	if [ -n "$bl" ]; then
		echo "loopback TLS into openssl s_server (64 KiB frames, 1 conn): $(echo "$bl" | sed -n 's/.* mb_s=\([0-9.]*\).*/\1/p') MB/s (sender-side)"
	else
		echo "loopback TLS baseline failed: $(cat "$work/sink.send.err")"
	fi
	kill "$sink_pid" 2>/dev/null
	wait "$sink_pid" 2>/dev/null
	sink_pid=""
fi

# ---------------------------------------------------------------- hub ----
"$HUB" -c "$conf" -d >"$work/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 100); do
	grep -q "d4hub listening on" "$work/hub.log" && break
	kill -0 "$hub_pid" 2>/dev/null || { cat "$work/hub.log" >&2; die "d4hub exited at start"; }
	sleep 0.1
done
grep -q "d4hub listening on" "$work/hub.log" || { cat "$work/hub.log" >&2; die "d4hub did not start listening"; }
echo "hub: $(grep -m1 'd4hub listening on' "$work/hub.log" | sed 's/.*\(d4hub listening on\)/\1/'), pid $hub_pid, store $store (map_size 16G, durable commits)"

# run_one SIZE BYTES -> sets r_frames r_bytes r_wall r_cpu r_send_mbs; returns non-zero on failure
run_one() {
	local size=$1 nbytes=$2 base out t_done c0 c1 last last_change n sender_rc perf_pid=""
	base=$(committed_frames) || { echo "bench: d4hubctl status failed: $(tail -n 3 "$work/ctl.err")" >&2; return 1; }
	c0=$(cpu_s "$hub_pid")
	thr_cpu >"$work/thr0"
	r_load0=$(loadavg)
	if [ "$do_perf" = 1 ] && command -v perf >/dev/null; then
		perf record -F 999 -g -p "$hub_pid" -o "$work/perf.$size.data" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	out=$("$SEND" "127.0.0.1:$port" --ca "$pki/ca.crt" --sensors "$sensors" --conns "$conns" --size "$size" \
		--bytes "$nbytes" 2>"$work/send.err")
	sender_rc=$?
	if [ $sender_rc -ne 0 ] || [ -z "$out" ]; then
		echo "bench: sender failed (rc $sender_rc): $(cat "$work/send.err")" >&2
		echo "bench: hub log tail:" >&2
		tail -n 5 "$work/hub.log" >&2
		"$CTL" -c "$conf" --json status >&2
		[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid"
		return 1
	fi
	r_frames=$(echo "$out" | sed -n 's/.* frames=\([0-9]*\).*/\1/p')
	r_bytes=$((r_frames * size))
	local first=$(echo "$out" | sed -n 's/.* first_byte=\([0-9.]*\).*/\1/p')
	r_send_mbs=$(echo "$out" | sed -n 's/.* mb_s=\([0-9.]*\).*/\1/p')
	local target=$((base + r_frames))
	last=$base
	last_change=$(now)
	while :; do
		n=$(committed_frames) || n=$last
		t_done=$(now)
		[ "$n" -ge "$target" ] && break
		if [ "$n" != "$last" ]; then
			last=$n
			last_change=$t_done
		elif awk -v a="$t_done" -v b="$last_change" 'BEGIN { exit !(a - b > 60) }'; then
			echo "bench: no commit progress for 60 s ($((n - base)) of $r_frames frames committed)" >&2
			tail -n 5 "$work/hub.log" >&2
			[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid"
			return 1
		fi
		sleep 0.02
	done
	c1=$(cpu_s "$hub_pid")
	thr_cpu >"$work/thr1"
	r_load1=$(loadavg)
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null
		wait "$perf_pid" 2>/dev/null
	fi
	r_wall=$(calc "$t_done - $first")
	r_cpu=$(calc "$c1 - $c0")
	return 0
}

# thr_cpu -> "NAME SECONDS" per thread of the hub (utime+stime; threads of one name summed)
thr_cpu() {
	local t
	for t in /proc/"$hub_pid"/task/*; do
		[ -r "$t/stat" ] || continue
		sed 's/^[0-9]* (\(.*\)) /\1 /' "$t/stat" 2>/dev/null
	done | awk -v tck="$(getconf CLK_TCK)" '{ n = $1; c[n] += ($13 + $14) / tck }
		END { for (n in c) printf "%s %.2f\n", n, c[n] }'
}

# thread_line BYTES -> "d4-ingest 1.23 s/GB, d4-writer 0.98 s/GB, other 0.01 s/GB"
thread_line() {
	awk -v gb="$(calc "$1 / 1e9")" 'NR == FNR { a[$1] = $2; next } { d = $2 - a[$1]; if (d < 0) d = 0;
		if ($1 == "d4-ingest" || $1 == "d4-writer") t[$1] = d; else o += d }
		END { printf "d4-ingest %.2f s/GB, d4-writer %.2f s/GB, other threads %.2f s/GB",
			t["d4-ingest"] / gb, t["d4-writer"] / gb, o / gb }' "$work/thr0" "$work/thr1"
}

result_line() { # SIZE -> prints the standard line, sets r_fps r_mbs
	local size=$1
	r_fps=$(calc "$r_frames / $r_wall")
	r_mbs=$(calc "$r_bytes / 1e6 / $r_wall")
	local cpugb=$(calc "$r_cpu / ($r_bytes / 1e9)")
	local verdict
	if [ "$size" = 4096 ]; then
		verdict="target >= 60000 frames/s: $(awk -v v="$r_fps" 'BEGIN { print (v >= 60000 ? "PASS" : "FAIL") }')"
	elif [ "$size" = 65536 ]; then
		verdict="target >= 70 % of $(fmt "$limit_mbs") MB/s = $(fmt "$(calc "$limit_mbs * 0.7")") MB/s: $(awk -v v="$r_mbs" -v l="$limit_mbs" 'BEGIN { print (v >= 0.7 * l ? "PASS" : "FAIL") }')"
	else
		verdict="no target"
	fi
	echo "ingest ${size}B: $(fmt "$r_fps" 0) frames/s, $(fmt "$r_mbs") MB/s, hub cpu $(fmt "$cpugb" 2) s/GB ($verdict)"
	echo "    $r_frames frames, $(fmt "$(calc "$r_bytes / 1e6")") MB payload, first byte to last commit $(fmt "$r_wall" 2) s;" \
		"sender done at $(fmt "$r_send_mbs") MB/s; hub cpu $(fmt "$r_cpu" 2) s"
	local cpuverdict="no target"
	[ "$size" = 65536 ] && cpuverdict="target <= 2.5: $(awk -v v="$cpugb" 'BEGIN { print (v <= 2.5 ? "PASS" : "FAIL") }')"
	echo "    hub cpu per GB $(fmt "$cpugb" 2) s ($cpuverdict);" \
		"floor HMAC + AES-GCM $(fmt "$floor_sgb" 2) (+ dd write $(fmt "$write_sgb" 2)) s/GB; by thread: $(thread_line "$r_bytes");" \
		"load average $r_load0 -> $r_load1"
}

echo "== ingest (conns $conns, frames committed = counted)"
fail=0
declare -A res_mbs res_fps
for size in $sizes; do
	nbytes=$bytes
	if [ -z "$nbytes" ]; then
		if [ "$quick" = 1 ]; then
			nbytes=200M
		else
			# Probe to size the run for about 10 s (at least 1 GiB, at most 4 GiB): 1 GiB takes
			# ~4 s at the target rate; a 64 MiB probe underestimates the rate.
			run_one "$size" 64M || { fail=1; continue; }
			rate=$(calc "$r_bytes / $r_wall")
			nbytes=$(awk -v r="$rate" 'BEGIN { b = r * 10; if (b < 1073741824) b = 1073741824;
				if (b > 4294967296) b = 4294967296; printf "%.0f", b }')
		fi
	fi
	run_one "$size" "$nbytes" || { fail=1; continue; }
	result_line "$size"
	res_mbs[$size]=$r_mbs
	res_fps[$size]=$r_fps
	awk -v w="$r_wall" 'BEGIN { exit !(w < 5) }' && [ "$quick" = 0 ] &&
		echo "    (note: run shorter than 5 s; use --bytes for a longer one)"
done

echo "== summary"
echo "machine: disk $(fmt "$disk_mbs") MB/s, hmac $(fmt "$hmac_mbs") MB/s -> limit $(fmt "$limit_mbs") MB/s"
echo "cpu floor: HMAC-SHA256 $(fmt "$hmac_sgb" 3) + AES-256-GCM $(fmt "$gcm_sgb" 3) = $(fmt "$floor_sgb" 3) s/GB, + page-cache write (dd) $(fmt "$write_sgb" 3) s/GB; hub cpu target <= 2.5 s/GB at 64 KiB"
if [ -n "${res_mbs[65536]:-}" ]; then
	pct=$(calc "100 * ${res_mbs[65536]} / $limit_mbs")
	echo "ratio 64 KiB: $(fmt "${res_mbs[65536]}") / $(fmt "$limit_mbs") MB/s = $(fmt "$pct") % (target >= 70 %: $(awk -v p="$pct" 'BEGIN { print (p >= 70 ? "PASS" : "FAIL") }'))"
fi
if [ -n "${res_fps[4096]:-}" ]; then
	echo "4 KiB: $(fmt "${res_fps[4096]}" 0) frames/s vs target 60000 ($(fmt "$(calc "100 * ${res_fps[4096]} / 60000")") %)"
fi
echo "load average (1 min) at end: $(loadavg)"
echo "reference d4-core on this machine (issue 2): 498 frames/s of 4 KiB, 120 frames/s of 64 KiB"
if [ "$do_perf" = 1 ]; then
	for f in "$work"/perf.*.data; do
		[ -f "$f" ] || continue
		echo "== perf: $f (top symbols, hub process)"
		perf report -i "$f" --stdio --no-children --sort comm,dso,symbol 2>/dev/null | grep -E '^ +[0-9]' | head -n 25
	done
	keep=1
fi
if ! kill -0 "$hub_pid" 2>/dev/null; then
	echo "bench: d4hub died during the run" >&2
	fail=1
fi
[ -s "$work/ctl.err" ] && { echo "bench: d4hubctl stderr:"; tail -n 3 "$work/ctl.err"; }
exit $fail
