#!/usr/bin/env bash
# Federation benchmark: two hubs on this machine, A (127.0.0.1) pushes to B (127.0.0.2), same
# organisation, mutual TLS over loopback, durable commits on both sides.
#
#   tests/bench/federation/run.sh [BUILD_DIR] [--quick] [--bytes N] [--sizes "4096 65536"]
#                                 [--pdns-lines N] [--lag-seconds S] [--lag-rate F] [--inflight N] [--signed]
#                                 [--no-upstream] [--keep]
#
# What is measured, "committed at A -> committed at B" throughout:
#   frames   A first holds the data (d4-bench-send, type 3, --bytes per size, committed), then
#            the partner is added at A: frames/s and MB/s = frames / (last frame committed at B
#            - partner added). The sender's own rate (first to last commit at B) is shown too.
#   pdns     A's pDNS worker first turns N passivedns lines (distinct names: one tuple each)
#            into tuples, then the partner is added with the pdns rule only: tuples/s = N /
#            (last tuple committed at B - partner added).
#   lag      with A and B caught up, d4-bench-send sends a steady --lag-rate frames/s (default
#            1,000) of 4 KiB for --lag-seconds (default 30); every frame's lag is the first poll
#            that saw it committed at B minus the first poll that saw it committed at A
#            (d4-bench-fed-watch reads both stores every 2 ms: a 2 ms resolution).
#   mixing   tuples/s through the egress path (d4_fed_source_next: the pDNS consumer in sink mode,
#            the decision, the encoder) with the pdns rule's mix off and on (safe defaults without
#            the hold-back), in process on a store of --mix-lines lines (a quarter of them distinct
#            tuples, drawn uniformly, then skewed as resolver traffic is), best of --mix-runs runs
#            (d4-bench-fed-mix). Target: mixing costs < 20 %.
#   upstream the upstream relay of type-1 frames into another d4hub against that hub's own ingest
#            rate, in the same run: tests/bench/upstream/run.sh with the same build (and --quick),
#            its summary line repeated in this one's. --no-upstream leaves it out.
# Between runs the partner is deleted and added again: its acknowledged position goes with it,
# and B answers the position it holds (409), from which A continues -- B already has the rest.
# The machine's own limits are measured in the same run: sequential write with fdatasync on the
# stores' filesystem (dd), HMAC-SHA256 and AES-128-GCM on one core (openssl speed), and raw
# loopback TLS into openssl s_server (d4-bench-send).
#
# --signed: A and B exchange their signing keys (A's partner record of B holds B's key, B's of A
# holds A's key with must_sign), so every record A sends is under A's seal (one signature per
# batch) and B verifies every one (docs/federation.md "Signed provenance"); without it no key is
# exchanged and nothing is signed. The CPU cost per record alone: d4-bench-fed-sign.
# --inflight N sets [federation] inflight on both hubs (default: the hub's default, 3; 1 = one
# batch at a time).
# Environment: D4_BENCH_TMP (parent of the work folder, default $TMPDIR or /tmp).
set -u -o pipefail
export LC_ALL=C

die() { echo "bench: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build="" quick=0 bytes="" sizes="4096 65536" pdns_lines="" lag_s="" lag_rate=1000 keep=0 inflight="" mix_lines="" mix_runs=5 signed=0 upstream=1
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--bytes) bytes=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--pdns-lines) pdns_lines=$2; shift ;;
	--lag-seconds) lag_s=$2; shift ;;
	--lag-rate) lag_rate=$2; shift ;;
	--inflight) inflight=$2; shift ;;
	--mix-lines) mix_lines=$2; shift ;;
	--mix-runs) mix_runs=$2; shift ;;
	--keep) keep=1 ;;
	--signed) signed=1 ;;
	--no-upstream) upstream=0 ;;
	-h|--help) sed -n '2,40p' "$0"; exit 0 ;;
	-*) echo "bench: unknown option $1" >&2; exit 2 ;;
	*) [ -z "$build" ] || { echo "bench: one build dir only" >&2; exit 2; }; build=$1 ;;
	esac
	shift
done
[ -n "$build" ] || build="$repo/build"
[ -d "$build" ] || die "build dir $build not found"
build=$(cd "$build" && pwd)
if [ "$quick" = 1 ]; then
	: "${bytes:=256M}" "${pdns_lines:=200000}" "${lag_s:=10}" "${mix_lines:=200000}"
else
	: "${bytes:=1G}" "${pdns_lines:=1000000}" "${lag_s:=30}" "${mix_lines:=1000000}"
fi

source "$here/../lib.sh"
HUB=$(findbin d4hub)
CTL=$(findbin d4hubctl)
SEND=$(findbin d4-bench-send)
WATCH=$(findbin d4-bench-fed-watch)
MIX=$(findbin d4-bench-fed-mix)
declare -A mix_cost
SENSOR=$(findbin d4-sensor)
MKPKI="$repo/deploy/mkpki.sh"
command -v openssl >/dev/null || die "openssl CLI missing"
PY=/usr/bin/python3

tmproot=${D4_BENCH_TMP:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$tmproot/d4bench-fed.XXXXXX") || die "mktemp failed"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [ "$keep" = 1 ]; then echo "bench: work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { local h=$1; shift; "$CTL" -c "${CONF[$h]}" "$@"; }

# ---------------------------------------------------------------- setup ----
pki=$work/pki
"$MKPKI" "$pki" || die "mkpki failed"
org=$(uuidhex)
declare -A U ADDR PORT APIP FEDP CONF LOG TOK
ADDR[a]=127.0.0.1 ADDR[b]=127.0.0.2
for h in a b; do
	U[$h]=$(uuidhex)
	"$MKPKI" "$pki" hub "hub-$h" "${U[$h]}" org1 || die "mkpki hub-$h failed"
	PORT[$h]=$(free_port) APIP[$h]=$(free_port) FEDP[$h]=$(free_port)
	CONF[$h]=$work/$h.conf LOG[$h]=$work/$h.log
	mkdir -p "$work/store-$h"
	cat >"${CONF[$h]}" <<EOF
[hub]
uuid = ${U[$h]}
org = $org
log_level = notice
[ingest]
listen = ${ADDR[$h]}:${PORT[$h]}
cert = $pki/hub.crt
key = $pki/hub.key
mode = registration
[store]
path = $work/store-$h
map_size = 16G
[api]
listen = ${ADDR[$h]}:${APIP[$h]}
[pdns]
enabled = yes
[federation]
listen = ${ADDR[$h]}:${FEDP[$h]}
cert = $pki/hub-$h.crt
key = $pki/hub-$h.key
ca = $pki/org1-ca.crt
EOF
	[ -z "$inflight" ] || echo "inflight = $inflight" >>"${CONF[$h]}"
done

echo "== machine"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores;" \
	"mem $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo);" \
	"fs of the stores: $(df -PT "$work" | awk 'NR == 2 { print $2 " on " $1 }')"
echo "openssl: $(openssl version); kernel $(uname -r)"
load0=$(loadavg)
echo "load average (1 min) at start: $load0; [federation] inflight: ${inflight:-default}"

ddcount=1024
[ "$quick" = 1 ] && ddcount=256
ddout=$(dd if=/dev/zero of="$work/dd.test" bs=1M count=$ddcount conv=fdatasync 2>&1 | tail -n 1)
rm -f "$work/dd.test"
dd_secs=$(echo "$ddout" | sed -n 's/.*copied, \([0-9.]*\) s.*/\1/p')
[ -n "$dd_secs" ] || die "cannot parse dd output: $ddout"
disk_mbs=$(calc "$(echo "$ddout" | awk '{ print $1 }') / 1e6 / $dd_secs")
echo "disk: sequential write + fdatasync ($ddcount MiB, dd): $(fmt "$disk_mbs") MB/s" \
	"(both hubs write the data: a frame costs twice this)"
hsecs=3
[ "$quick" = 1 ] && hsecs=1
hmac_k=$(openssl speed -hmac sha256 -bytes 65536 -seconds $hsecs 2>/dev/null | awk '/^hmac\(sha256\)/ { sub(/k$/, "", $2); print $2 }')
[ -n "$hmac_k" ] || hmac_k=$(openssl speed -evp sha256 -bytes 65536 -seconds $hsecs 2>/dev/null | awk '/^sha256/ { sub(/k$/, "", $2); print $2 }')
gcm_k=$(openssl speed -evp aes-128-gcm -bytes 16384 -seconds $hsecs 2>/dev/null | awk '/^(AES-128-GCM|aes-128-gcm)/ { sub(/k$/, "", $NF); print $NF }')
echo "hmac: HMAC-SHA256 one core, 64 KiB blocks: $(fmt "$(calc "${hmac_k:-0} / 1000")") MB/s;" \
	"TLS record cipher AES-128-GCM one core, 16 KiB records: $(fmt "$(calc "${gcm_k:-0} / 1000")") MB/s"
# raw TLS over loopback into a sink that does nothing
sport=$(free_port)
mkfifo "$work/sink.in"
openssl s_server -quiet -accept "127.0.0.1:$sport" -cert "$pki/hub.crt" -key "$pki/hub.key" -naccept 1 \
	<>"$work/sink.in" >/dev/null 2>"$work/sink.err" &
sink=$!
if wait_listen "$sport"; then
	bl=$(timeout 300 "$SEND" "127.0.0.1:$sport" --ca "$pki/ca.crt" --uuid "$(uuidhex)" --key k --size 65536 \
		--bytes "$([ "$quick" = 1 ] && echo 256M || echo 1G)" -q 2>"$work/sink.send.err")
	tls_mbs=$(echo "$bl" | sed -n 's/.* mb_s=\([0-9.]*\).*/\1/p')
	echo "loopback TLS into openssl s_server (64 KiB writes, 1 conn): ${tls_mbs:-?} MB/s (sender-side)"
fi
kill "$sink" 2>/dev/null
wait "$sink" 2>/dev/null

# ---------------------------------------------------------------- hubs ----
for h in a b; do
	# type 3 (log): a type that no analyzer reads, accepted on both sides (a receiving
	# hub refuses types it does not accept: type-not-accepted)
	ctl "$h" types enable 3 >/dev/null || die "types enable 3"
	"$HUB" -c "${CONF[$h]}" -d >"${LOG[$h]}" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 300); do
		grep -q "d4hub federation listening on" "${LOG[$h]}" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "d4hub federation listening on" "${LOG[$h]}" || { tail "${LOG[$h]}" >&2; die "hub $h did not start"; }
	TOK[$h]=$(ctl "$h" user add "bench-$h" --role admin) || die "user add"
done
api() { curl -sf --http2 --cacert "$pki/ca.crt" -H "Authorization: Bearer ${TOK[$1]}" "https://${ADDR[$1]}:${APIP[$1]}$2"; }
frames_of() { ctl "$1" --json status | json_num frames; }
keys=""
if [ "$signed" = 1 ]; then
	KA=$(ctl a partner key) && KB=$(ctl b partner key) || die "partner key"
	keys="\"pubkey\": \"$KB\", "
	echo "{\"pubkey\": \"$KA\", \"must_sign\": true, \"inbound\": {\"kinds\": [\"frames\", \"pdns\"], \"max_tlp\": \"tlp:amber+strict\"}}" >"$work/in.json"
	echo "signed provenance: keys exchanged, every record signed by A and verified by B"
else
	echo '{"inbound": {"kinds": ["frames", "pdns"], "max_tlp": "tlp:amber+strict"}}' >"$work/in.json"
fi
ctl b partner add a --url "https://127.0.0.1:${FEDP[a]}" --hub "${U[a]}" --org "$org" --relation same-org \
	--ca "$pki/org1-ca.crt" --file "$work/in.json" >/dev/null || die "partner a at B"
# add_b KINDS: (re)creates A's partner b sharing KINDS ("frames", "pdns" or both); prints the time
add_b() {
	local k rules=""
	for k in $1; do rules+="${rules:+, }\"$k\": {\"enabled\": true, \"max_tlp\": \"tlp:amber+strict\"}"; done
	echo "{$keys\"outbound\": {$rules}}" >"$work/out.json"
	ctl a partner del b >/dev/null 2>&1
	now
	ctl a partner add b --url "https://127.0.0.2:${FEDP[b]}" --hub "${U[b]}" --org "$org" --relation same-org \
		--ca "$pki/org1-ca.crt" --file "$work/out.json" >/dev/null || die "partner b at A"
}
del_b() { ctl a partner del b >/dev/null 2>&1; }
# wait_a N: A holds N frames (120 s without progress: give up)
wait_count() { # FN TARGET
	local last=-1 n t=$(date +%s)
	while :; do
		n=$($1) || n=$last
		[ "$n" -ge "$2" ] 2>/dev/null && return 0
		[ "$n" != "$last" ] && { last=$n; t=$(date +%s); }
		[ $(($(date +%s) - t)) -lt 120 ] || die "$1 stuck at $n (want $2)"
		sleep 0.2
	done
}
a_frames() { frames_of a; }
# B's frames are all received ones: its totals count only its own sensors
b_frames() { ctl b --json sessions | "$PY" -c 'import json,sys; print(sum(s["frames"] for s in json.load(sys.stdin)))'; }
field() { echo "$1" | sed -n "s/.* $2=\([0-9.-]*\).*/\1/p"; }

# ---------------------------------------------------------------- frames ----
echo "== frames A -> B (backlog at A, then the partner added; committed at A -> committed at B)"
declare -A res_mbs res_fps
fail=0
for size in $sizes; do
	u=$(uuidhex) k=$(openssl rand -hex 16)
	ctl a sensor add "$u" --key "$k" --approve >/dev/null || die "sensor add"
	out=$("$SEND" "127.0.0.1:${PORT[a]}" --ca "$pki/ca.crt" --uuid "$u" --key "$k" --type 3 --size "$size" \
		--bytes "$bytes" -q 2>"$work/send.err") || die "d4-bench-send: $(cat "$work/send.err")"
	nfr=$(echo "$out" | sed -n 's/.* frames=\([0-9]*\).*/\1/p')
	target=$(($(b_frames) + nfr))
	wait_count a_frames "$target"
	[ "$(a_frames)" = "$target" ] || die "A holds $(a_frames) frames, B $(b_frames), expected A = B + $nfr"
	t_add=$(add_b frames)
	w=$("$WATCH" --interval-ms 5 --timeout 600 "$work/store-a" "$work/store-b" "$target" "$target") ||
		{ echo "bench: B did not reach $target frames: $w" >&2; fail=1; del_b; continue; }
	del_b
	tb_first=$(field "$w" tb_first) tb_last=$(field "$w" tb_last)
	wall=$(calc "$tb_last - $t_add")
	res_fps[$size]=$(calc "$nfr / $wall")
	res_mbs[$size]=$(calc "$nfr * $size / 1e6 / $wall")
	echo "federation ${size}B: $(fmt "${res_fps[$size]}" 0) frames/s, $(fmt "${res_mbs[$size]}") MB/s" \
		"($nfr frames, $(fmt "$(calc "$nfr * $size / 1e6")") MB, partner added -> last commit at B $(fmt "$wall" 2) s;" \
		"first -> last commit at B: $(fmt "$(calc "$nfr * $size / 1e6 / ($tb_last - $tb_first)")") MB/s)"
done

# ---------------------------------------------------------------- pdns ----
echo "== pDNS tuples A -> B ($pdns_lines passivedns lines, distinct names: one tuple each)"
"$PY" - "$work/pdns.csv" "$pdns_lines" <<'PYEOF'
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    for i in range(n):
        f.write("%d.%06d||10.0.%d.%d||10.1.0.53||IN||host%d.zone%d.example.com.||A||198.51.%d.%d||300||1\n"
                % (1700000000 + i // 50, i % 1000000, (i >> 8) & 255, i & 255, i, i % 1000, 100 + i % 3, i % 250))
PYEOF
u=$(uuidhex)
k=$(ctl a sensor add "$u" --gen-key --approve) || die "sensor add"
"$SENSOR" -D "127.0.0.1:${PORT[a]}" --ca "$pki/ca.crt" -u "$u" -k "$k" -t 8 -q <"$work/pdns.csv" ||
	die "d4-sensor (pdns) failed"
a_tuples() { api a /pdns/info | json_num tuples; }
wait_count a_tuples "$pdns_lines"
t_add=$(add_b pdns)
w=$("$WATCH" --pdns --interval-ms 5 --timeout 900 "$work/store-a" "$work/store-b" "$pdns_lines" "$pdns_lines")
if [ $? -eq 0 ]; then
	wall=$(calc "$(field "$w" tb_last) - $t_add")
	res_tps=$(calc "$pdns_lines / $wall")
	echo "federation pdns: $(fmt "$res_tps" 0) tuples/s ($pdns_lines tuples, partner added -> last commit at B $(fmt "$wall" 2) s)"
else
	echo "bench: B did not reach $pdns_lines tuples: $w" >&2
	fail=1
fi
del_b

# ---------------------------------------------------------------- lag ----
echo "== lag under a steady $lag_rate frames/s of 4 KiB for $lag_s s (committed at A -> committed at B)"
t_add=$(add_b frames)
wait_count b_frames "$(a_frames)" # the type-8 frames of the pDNS run, and nothing else
[ "$(a_frames)" = "$(b_frames)" ] || die "A and B differ before the lag run: $(a_frames) / $(b_frames)"
u=$(uuidhex) k=$(openssl rand -hex 16)
ctl a sensor add "$u" --key "$k" --approve >/dev/null || die "sensor add"
n=$((lag_rate * lag_s))
target=$(($(a_frames) + n))
"$WATCH" --interval-ms 2 --timeout $((lag_s * 4 + 120)) "$work/store-a" "$work/store-b" "$target" "$target" \
	>"$work/lag.out" &
wpid=$!
"$SEND" "127.0.0.1:${PORT[a]}" --ca "$pki/ca.crt" --uuid "$u" --key "$k" --type 3 --size 4096 --frames "$n" \
	--rate "$lag_rate" -q >"$work/lag.send" 2>"$work/send.err" || die "d4-bench-send (lag): $(cat "$work/send.err")"
wait "$wpid"
w=$(cat "$work/lag.out")
p50=$(field "$w" lag_p50_ms) p99=$(field "$w" lag_p99_ms)
echo "federation lag: p50 $(fmt "$p50") ms, p90 $(fmt "$(field "$w" lag_p90_ms)") ms, p99 $(fmt "$p99") ms," \
	"max $(fmt "$(field "$w" lag_max_ms)") ms over $(field "$w" lag_n) frames" \
	"(sender: $(echo "$(cat "$work/lag.send")" | sed -n 's/.* frames_s=\([0-9.]*\).*/\1/p') frames/s)"

# ------------------------------------------------------------- mixing ----
echo "== pDNS through the egress path, mixing off / on ($mix_lines lines, best of $mix_runs)"
for skew in "" --skew; do
	m=$("$MIX" --lines "$mix_lines" --runs "$mix_runs" --dir "$work" $skew | grep "^lines=" | tail -n 1) || { echo "bench: d4-bench-fed-mix failed" >&2; fail=1; continue; }
	echo "federation mixing${skew:+ (skewed)}: off $(fmt "$(field " $m" off_tps)" 0) tuples/s," \
		"on $(fmt "$(field " $m" on_tps)" 0) tuples/s (cost $(field " $m" cost_pct) %)," \
		"on without thresholds $(fmt "$(field " $m" nothr_tps)" 0) tuples/s (cost $(field " $m" nothr_cost_pct) %)," \
		"on with n = 1 $(fmt "$(field " $m" n1_tps)" 0) tuples/s (cost $(field " $m" n1_cost_pct) %)"
	mix_cost[${skew:-uniform}]=$(field " $m" cost_pct)
done

# ----------------------------------------------------------- upstream ----
up_line=""
if [ "$upstream" = 1 ]; then
	echo "== upstream relay of type-1 frames into another d4hub (tests/bench/upstream/run.sh)"
	if "$here/../upstream/run.sh" "$build" $([ "$quick" = 1 ] && echo --quick) 2>&1 | tee "$work/upstream.out"; then
		up_line=$(grep '^upstream relay of type-1' "$work/upstream.out")
	else
		echo "bench: the upstream bench failed" >&2
		fail=1
	fi
fi

echo "== summary"
verdict() { awk -v v="$1" -v t="$2" -v lt="${3:-0}" 'BEGIN { if (lt) print (v < t ? "PASS" : "FAIL"); else print (v >= t ? "PASS" : "FAIL") }'; }
echo "machine: disk $(fmt "$disk_mbs") MB/s, HMAC $(fmt "$(calc "${hmac_k:-0} / 1000")") MB/s," \
	"AES-128-GCM $(fmt "$(calc "${gcm_k:-0} / 1000")") MB/s, loopback TLS ${tls_mbs:-?} MB/s"
[ -n "${res_fps[4096]:-}" ] && echo "4 KiB frames: $(fmt "${res_fps[4096]}" 0) frames/s, $(fmt "${res_mbs[4096]}") MB/s (no target)"
[ -n "${res_mbs[65536]:-}" ] &&
	echo "64 KiB frames: $(fmt "${res_mbs[65536]}") MB/s (target >= 150 MB/s: $(verdict "${res_mbs[65536]}" 150))"
[ -n "${res_tps:-}" ] && echo "pDNS: $(fmt "$res_tps" 0) tuples/s (target >= 100000: $(verdict "$res_tps" 100000))"
[ -n "$p99" ] && echo "lag p99: $(fmt "$p99") ms (target < 1000 ms: $(verdict "$p99" 1000 1))"
for k in uniform --skew; do
	[ -n "${mix_cost[$k]:-}" ] &&
		echo "pDNS mixing cost (${k#--}): ${mix_cost[$k]} % (target < 20 %: $(verdict "${mix_cost[$k]}" 20 1))"
done
[ -n "$up_line" ] && echo "$up_line"
echo "load average (1 min) at end: $(loadavg)"
for h in a b; do
	grep -E "error|warning" "${LOG[$h]}" | tail -n 3 | sed "s/^/hub $h log: /"
done
exit $fail
