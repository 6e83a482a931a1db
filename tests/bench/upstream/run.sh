#!/usr/bin/env bash
# Upstream relay benchmark: hub A relays type-1 frames to hub P (the public D4 server) over the
# D4 protocol (TLS, d4-ack/1), against P's own ingest rate of the same frames, in the same run.
#
#   tests/bench/upstream/run.sh [BUILD_DIR] [--quick] [--bytes N] [--size BYTES] [--keep]
#
# 1. P's own ingest: d4-bench-send writes --bytes of type-1 frames of --size bytes into P;
#    MB/s = payload bytes / (first byte sent -> last frame committed at P).
# 2. The relay: A first holds the same amount of type-1 frames (sent into A while its upstream is
#    not configured), then A restarts with [upstream] streams = 1 towards P;
#    MB/s = payload bytes / (first relayed frame committed at P -> last one), and from A's start.
# Commits are seen by polling P's store (d4hubctl status) every 50 ms. Target: relay >= 50 % of
# P's own ingest rate.
# Environment: D4_BENCH_TMP (parent of the work folder, default $TMPDIR or /tmp).
set -u -o pipefail
export LC_ALL=C

die() { echo "bench: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build="" quick=0 bytes="" size=65536 keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--bytes) bytes=$2; shift ;;
	--size) size=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	-*) echo "bench: unknown option $1" >&2; exit 2 ;;
	*) [ -z "$build" ] || { echo "bench: one build dir only" >&2; exit 2; }; build=$1 ;;
	esac
	shift
done
[ -n "$build" ] || build="$repo/build"
[ -d "$build" ] || die "build dir $build not found"
build=$(cd "$build" && pwd)
if [ "$quick" = 1 ]; then : "${bytes:=256M}"; else : "${bytes:=1G}"; fi

source "$here/../lib.sh"
HUB=$(findbin d4hub)
CTL=$(findbin d4hubctl)
SEND=$(findbin d4-bench-send)
MKPKI="$repo/deploy/mkpki.sh"

tmproot=${D4_BENCH_TMP:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$tmproot/d4bench-up.XXXXXX") || die "mktemp failed"
declare -A PID
cleanup() {
	local h
	for h in "${!PID[@]}"; do
		[ -n "${PID[$h]}" ] && kill -TERM "${PID[$h]}" 2>/dev/null && wait "${PID[$h]}" 2>/dev/null
	done
	if [ "$keep" = 1 ]; then echo "bench: work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pki=$work/pki
"$MKPKI" "$pki" >/dev/null || die "mkpki failed"
declare -A ADDR PORT APIP CONF LOG
ADDR[a]=127.0.0.1 ADDR[p]=127.0.0.2
for h in a p; do
	PORT[$h]=$(free_port) APIP[$h]=$(free_port)
	CONF[$h]=$work/$h.conf LOG[$h]=$work/$h.log
	mkdir -p "$work/store-$h"
	cat >"${CONF[$h]}" <<EOC
[hub]
uuid = $(uuidhex)
org = $(uuidhex)
log_level = notice
[ingest]
listen = ${ADDR[$h]}:${PORT[$h]}
cert = $pki/hub.crt
key = $pki/hub.key
[store]
path = $work/store-$h
map_size = 16G
[api]
enabled = no
[pdns]
enabled = no
EOC
done
ctl() { local h=$1; shift; "$CTL" -c "${CONF[$h]}" "$@"; }
start() {
	: >"${LOG[$1]}"
	"$HUB" -c "${CONF[$1]}" -d >"${LOG[$1]}" 2>&1 &
	PID[$1]=$!
	for _ in $(seq 1 300); do
		grep -q "d4hub listening on" "${LOG[$1]}" && return 0
		sleep 0.05
	done
	tail "${LOG[$1]}" >&2
	die "hub $1 did not start"
}
stop() { kill -TERM "${PID[$1]}" && wait "${PID[$1]}"; PID[$1]=; }
frames_of() { ctl "$1" --json status | json_num frames; }
# watch HUB TARGET: polls HUB's committed frames every 50 ms until TARGET; prints
# "first last" (the first poll that saw the count move, the first that saw TARGET)
watch_commits() {
	local base n first="" last t stuck
	base=$(frames_of "$1")
	stuck=$(date +%s)
	while :; do
		n=$(frames_of "$1") || n=$base
		t=$(now)
		if [ "$n" -gt "$base" ]; then
			[ -n "$first" ] || first=$t
			stuck=$(date +%s)
			base=$n
		fi
		[ "$n" -ge "$2" ] && { echo "${first:-$t} $t"; return 0; }
		[ $(($(date +%s) - stuck)) -lt 120 ] || die "hub $1 stuck at $n frames (want $2)"
		sleep 0.05
	done
}

echo "== machine"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores;" \
	"fs: $(df -PT "$work" | awk 'NR == 2 { print $2 " on " $1 }'); load average (1 min) at start: $(loadavg)"

# ---------------------------------------------------------------- P's own ingest ----
start p
up_uuid=$(uuidhex)
ctl p sensor add "$up_uuid" --gen-key --approve >"$work/up.key" || die "sensor add (upstream)"
s_uuid=$(uuidhex) s_key=$(openssl rand -hex 16)
ctl p sensor add "$s_uuid" --key "$s_key" --approve >/dev/null || die "sensor add"
echo "== P's own ingest: $bytes of type-1 frames of $size bytes (d4-bench-send -> committed at P)"
watch_commits p 1 >/dev/null 2>&1 & # warm the ctl path, nothing to wait for
wait $! 2>/dev/null
base=$(frames_of p)
t0=$(now)
out=$("$SEND" "${ADDR[p]}:${PORT[p]}" --ca "$pki/ca.crt" --uuid "$s_uuid" --key "$s_key" --type 1 --size "$size" \
	--bytes "$bytes" -q 2>"$work/send.err") || die "d4-bench-send: $(cat "$work/send.err")"
nfr=$(echo "$out" | sed -n 's/.* frames=\([0-9]*\).*/\1/p')
read -r _ p_last < <(watch_commits p $((base + nfr)))
ingest_s=$(calc "$p_last - $t0")
ingest_mbs=$(calc "$nfr * $size / 1e6 / $ingest_s")
echo "P ingest: $(fmt "$ingest_mbs") MB/s ($nfr frames, $(fmt "$(calc "$nfr * $size / 1e6")") MB in $(fmt "$ingest_s" 2) s;" \
	"sender alone: $(echo "$out" | sed -n 's/.* mb_s=\([0-9.]*\).*/\1/p') MB/s)"

# ---------------------------------------------------------------- the relay ----
echo "== upstream relay A -> P: $bytes of type-1 frames held by A (A started with [upstream] -> committed at P)"
start a
a_uuid=$(uuidhex) a_key=$(openssl rand -hex 16)
ctl a sensor add "$a_uuid" --key "$a_key" --approve >/dev/null || die "sensor add at A"
ctl a sensor set "$a_uuid" --tlp tlp:clear >/dev/null || die "sensor set --tlp"
"$SEND" "${ADDR[a]}:${PORT[a]}" --ca "$pki/ca.crt" --uuid "$a_uuid" --key "$a_key" --type 1 --size "$size" \
	--bytes "$bytes" -q >/dev/null 2>"$work/send.err" || die "d4-bench-send (A): $(cat "$work/send.err")"
watch_commits a "$nfr" >/dev/null
stop a
cat >>"${CONF[a]}" <<EOC
[upstream]
destination = ${ADDR[p]}:${PORT[p]}
uuid = $up_uuid
key_file = $work/up.key
ca = $pki/ca.crt
streams = 1
EOC
base=$(frames_of p)
t0=$(now)
start a
read -r r_first r_last < <(watch_commits p $((base + nfr)))
relay_mbs=$(calc "$nfr * $size / 1e6 / ($r_last - $r_first)")
relay_start_mbs=$(calc "$nfr * $size / 1e6 / ($r_last - $t0)")
[ "$(frames_of p)" = $((base + nfr)) ] || die "P holds $(frames_of p) frames, expected $((base + nfr))"
echo "relay: $(fmt "$relay_mbs") MB/s first -> last commit at P ($(fmt "$(calc "$r_last - $r_first")" 2) s);" \
	"$(fmt "$relay_start_mbs") MB/s from A's start ($(fmt "$(calc "$r_last - $t0")" 2) s)"
stop a

echo "== summary"
pct=$(calc "100 * $relay_mbs / $ingest_mbs")
echo "upstream relay of type-1 frames of $size bytes: $(fmt "$relay_mbs") MB/s = $(fmt "$pct")% of P's own ingest" \
	"($(fmt "$ingest_mbs") MB/s) (target >= 50 %: $(awk -v v="$pct" 'BEGIN { print (v >= 50 ? "PASS" : "FAIL") }'))"
echo "load average (1 min) at end: $(loadavg)"
for h in a p; do
	grep -E "error|warning" "${LOG[$h]}" | tail -n 3 | sed "s/^/hub $h log: /"
done
awk -v v="$pct" 'BEGIN { exit !(v >= 50) }'
