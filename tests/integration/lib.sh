# tests/integration/lib.sh — helpers for the integration tests (sourced, bash).
#
# Real processes, real TLS, loopback only. Every test gets its own temp dir,
# PKI, config, store and port; everything it starts is stopped in the EXIT
# trap, and every wait is bounded.
#
# Environment (set by CMake, see tests/integration/hub/CMakeLists.txt):
#   D4HUB D4HUBCTL D4SENSOR D4CRAFT   binaries
#   MKPKI                             deploy/mkpki.sh
#   D4_TEST_DATA                      tests/data
#   D4_TEST_ADDR                      the loopback address of this test's hub (default 127.0.0.1)
#   D4_TEST_PORT                      optional: a fixed ingest port; by default a free port is
#                                     picked at run time (free_port) and kept across hub restarts
#   D4_KEEP=1                         keep the temp dir (printed) for debugging
# shellcheck shell=bash

set -euo pipefail

_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${D4_TEST_DATA:=$_LIB_DIR/../data}"
: "${MKPKI:=$_LIB_DIR/../../deploy/mkpki.sh}"
T_NAME=${T_NAME:-$(basename "$0" .sh)}
T_ADDR=${D4_TEST_ADDR:-127.0.0.1}
# pyenv shims take seconds to start; the system interpreter is enough
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# free_port [ADDR]: prints a TCP port that nobody uses on ADDR (default
# $T_ADDR) right now. Ports are drawn at random below the kernel's ephemeral
# range, so that the source port of an outgoing connection (curl, d4-sensor)
# never takes it between this check and the hub's bind; another program may
# still take it in that window, which hub_start handles by picking again.
free_port() {
	"$PY" - "${1:-$T_ADDR}" <<'PYEOF'
import random, socket, sys
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    lo = 32768
lo = max(lo, 12000)
for _ in range(200):
    port = random.randrange(10000, lo)
    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
    try:
        s.bind((sys.argv[1], port))
        s.listen(1)
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port found on " + sys.argv[1])
PYEOF
}

# T_PORT: this test's ingest port, picked at run time (D4_TEST_PORT forces one).
if [ -n "${D4_TEST_PORT:-}" ]; then
	T_PORT=$D4_TEST_PORT
	_T_PORT_PICKED=0
else
	T_PORT=$(free_port) || {
		echo "lib.sh: cannot pick a free port on $T_ADDR" >&2
		exit 2
	}
	_T_PORT_PICKED=1
fi
T_DEST=$T_ADDR:$T_PORT
_T_STARTED=0 # hub_start succeeded once: the ports are kept from then on

for _v in D4HUB D4HUBCTL D4SENSOR; do
	if [ -z "${!_v:-}" ] || [ ! -x "${!_v}" ]; then
		echo "lib.sh: \$$_v is not set to an executable" >&2
		exit 2
	fi
done

T_DIR=$(mktemp -d "/tmp/d4it-$T_NAME.XXXXXX")
T_CONF=$T_DIR/hub.conf
T_LOG=$T_DIR/hub.log
T_PKI=$T_DIR/pki
HUB_PID=
HUB_RC=
T_BG=() # other background processes to stop at exit
: >"$T_LOG"

log() { echo "# $*"; }

_t_cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${T_BG[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
		kill -TERM "$HUB_PID" 2>/dev/null || true
		_wait_pid "$HUB_PID" 10 || kill -KILL "$HUB_PID" 2>/dev/null || true
	fi
	for p in "${T_BG[@]}"; do
		_wait_pid "$p" 3 || kill -KILL "$p" 2>/dev/null || true
	done
	if [ $rc -ne 0 ]; then
		echo "---- $T_NAME failed (rc=$rc); last lines of the hub log:" >&2
		tail -n 40 "$T_LOG" >&2 || true
	fi
	if [ "${D4_KEEP:-0}" = 1 ] || [ $rc -ne 0 -a "${D4_KEEP_FAILED:-0}" = 1 ]; then
		echo "# kept $T_DIR" >&2
	else
		rm -rf "$T_DIR"
	fi
	exit $rc
}
trap _t_cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $T_NAME: $*" >&2
	exit 1
}

pass() { echo "PASS: $T_NAME${1:+: $1}"; }

# _wait_pid PID SECONDS: waits for a child to exit; 0 if it did (its status
# in _WAIT_RC), 1 on timeout.
_wait_pid() {
	local pid=$1 deadline=$(($(date +%s%N) / 1000000 + $2 * 1000))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $(($(date +%s%N) / 1000000)) -ge $deadline ]; then
			return 1
		fi
		sleep 0.05
	done
	_WAIT_RC=0
	wait "$pid" 2>/dev/null || _WAIT_RC=$?
	return 0
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s; 0 once it succeeds, 1 on timeout.
# The machine running the tests may be loaded: give deadlines of 20-30 s to
# things that normally take 100 ms (a deadline costs nothing when the
# condition comes true early).
wait_until() {
	local deadline=$(($(date +%s%N) / 1000000 + ${1%.*} * 1000))
	shift
	until "$@" >/dev/null 2>&1; do
		if [ $(($(date +%s%N) / 1000000)) -ge $deadline ]; then
			return 1
		fi
		sleep 0.1
	done
}

# wait_for SECONDS WHAT CMD...: wait_until, failing the test with
# "WHAT: not true within SECONDS s" on timeout.
wait_for() {
	local s=$1 what=$2
	shift 2
	wait_until "$s" "$@" || fail "$what: not true within $s s"
}

# ---- PKI, config ----------------------------------------------------------
t_pki() { "$MKPKI" "$T_PKI" || fail "mkpki failed"; }

gen_uuid() { "$D4SENSOR" --gen-uuid; }

# t_conf [section.key=value ...]: writes $T_CONF (127.0.0.x:port of this test,
# the test PKI, store in $T_DIR/store) with extra keys.
t_conf() {
	local kv sec hub="" ingest="" store="" api=""
	[ -f "$T_PKI/hub.crt" ] || t_pki
	HUB_UUID=$(gen_uuid)
	HUB_ORG=$(gen_uuid)
	for kv in "$@"; do
		sec=${kv%%.*}
		case $sec in
		hub) hub+="${kv#*.}"$'\n' ;;
		ingest) ingest+="${kv#*.}"$'\n' ;;
		store) store+="${kv#*.}"$'\n' ;;
		api) api+="${kv#*.}"$'\n' ;;
		*) fail "t_conf: bad key $kv" ;;
		esac
	done
	cat >"$T_CONF" <<EOF
[hub]
uuid = $HUB_UUID
org = $HUB_ORG
${hub}[ingest]
listen = $T_DEST
cert = pki/hub.crt
key = pki/hub.key
${ingest}[store]
path = store
commit_ms = 20
${store}
EOF
	# The REST API is on by default in d4hub; tests get a free port (the
	# hub logs it, see api_url) unless they pass api.listen.
	case $api in
	*listen*) ;;
	*) api="listen = $T_ADDR:0"$'\n'"$api" ;;
	esac
	# Two event-loop threads unless the test says otherwise: every API
	# test then runs with connections spread over concurrent loops
	# (D4_TEST_API_THREADS overrides, e.g. 1 or 0 = one per core).
	case $api in
	*threads*) ;;
	*) api="threads = ${D4_TEST_API_THREADS:-2}"$'\n'"$api" ;;
	esac
	printf '[api]\n%s' "$api" >>"$T_CONF"
}

# api_url: https://ADDR:PORT of the running hub's API (from its start-up log line).
api_url() {
	local u
	u=$(grep -o 'd4hub API listening on https://[^ ]*/' "$T_LOG" | tail -n 1 | sed 's/.*listening on //; s:/$::')
	[ -n "$u" ] || fail "no 'd4hub API listening on' line in the hub log"
	echo "$u"
}

# ---- the hub ----------------------------------------------------------------
# hub_start [d4hub options]: starts d4hub -d in the background and waits
# (bounded) for its "d4hub listening on ADDR:PORT" line. If the ingest port
# picked at run time was taken by another program before the hub bound it,
# picks another one (first start only: T_PORT and T_DEST change then). After
# a start, an API port of 0 in $T_CONF is replaced by the port the hub got,
# so that a restart keeps both ports (and api_url).
hub_start() {
	local try old
	for try in 1 2 3 4 5 6 7 8; do
		_hub_start_once "$@" && break
		if [ "$_T_STARTED" = 0 ] && [ "$_T_PORT_PICKED" = 1 ] && [ $try -lt 8 ] &&
			tail -c +$((_HUB_LOG_OFF + 1)) "$T_LOG" | grep -q "ingest.listen .*in use"; then
			old=$T_PORT
			T_PORT=$(free_port) || fail "cannot pick a free port on $T_ADDR"
			T_DEST=$T_ADDR:$T_PORT
			sed -i "s/^listen = $T_ADDR:$old\$/listen = $T_DEST/" "$T_CONF"
			log "port $old was taken before d4hub bound it; trying $T_PORT"
			continue
		fi
		fail "d4hub exited during start-up: $(tail -c +$((_HUB_LOG_OFF + 1)) "$T_LOG" | tail -n 3)"
	done
	_T_STARTED=1
	local api
	if grep -q "^listen = .*:0\$" "$T_CONF" &&
		api=$(grep -o 'd4hub API listening on https://[^ ]*/' "$T_LOG" | tail -n 1 | sed 's/.*listening on https:\/\///; s:/$::') &&
		[ -n "$api" ]; then
		sed -i "s/^listen = \(.*\):0\$/listen = $api/" "$T_CONF"
	fi
	return 0
}

# _hub_start_once: 0 once listening, 1 if the hub exited during start-up.
_hub_start_once() {
	_HUB_LOG_OFF=$(stat -c %s "$T_LOG")
	"$D4HUB" -d -c "$T_CONF" "$@" >>"$T_LOG" 2>&1 &
	HUB_PID=$!
	local deadline=$(($(date +%s) + 30))
	while :; do
		if tail -c +$((_HUB_LOG_OFF + 1)) "$T_LOG" | grep -q "d4hub listening on $T_DEST"; then
			return 0
		fi
		if ! kill -0 "$HUB_PID" 2>/dev/null; then
			wait "$HUB_PID" 2>/dev/null || true
			HUB_PID=
			return 1
		fi
		[ "$(date +%s)" -lt $deadline ] || fail "d4hub did not log 'listening on $T_DEST' within 30 s"
		sleep 0.05
	done
}

# hub_stop: SIGTERM and wait (bounded); sets HUB_RC; fails the test if the
# hub does not exit in time.
hub_stop() {
	[ -n "$HUB_PID" ] || return 0
	kill -TERM "$HUB_PID" 2>/dev/null || true
	if ! _wait_pid "$HUB_PID" 30; then
		kill -KILL "$HUB_PID" 2>/dev/null || true
		HUB_PID=
		fail "d4hub did not exit within 30 s of SIGTERM"
	fi
	HUB_RC=$_WAIT_RC
	HUB_PID=
}

hub_kill9() {
	[ -n "$HUB_PID" ] || return 0
	kill -KILL "$HUB_PID" 2>/dev/null || true
	_wait_pid "$HUB_PID" 10 || true
	HUB_PID=
}

hub_alive() { [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; }

# hub_sync: waits (30 s deadline) until the running hub has applied the
# store's current control epoch, i.e. logged "ingest: control epoch N applied"
# for N >= the epoch `d4hubctl status` shows now. The hub re-reads blocklists,
# sensors, types and the server mode and re-checks live connections when the
# epoch changes (before each batch of new connections and once a second):
# call it after admin changes whose effect a test asserts.
hub_sync() {
	local e
	hub_alive || return 0
	e=$(ctl --json status | json "d['control_epoch']") || fail "hub_sync: cannot read the control epoch"
	wait_until 30 _epoch_applied "$e" ||
		fail "hub_sync: the hub did not apply control epoch $e within 30 s (last: $(grep -o 'control epoch [0-9]* applied' "$T_LOG" | tail -n 1))"
}
_epoch_applied() {
	awk -v want="$1" '/ingest: control epoch [0-9]+ applied/ {
		for (i = 1; i < NF; i++) if ($i == "epoch" && $(i + 1) + 0 >= want + 0) ok = 1
	} END { exit !ok }' "$T_LOG"
}

# ---- d4hubctl, d4-sensor, d4-craft --------------------------------------------
ctl() { "$D4HUBCTL" -c "$T_CONF" "$@"; }

# sensor_new [--pending] [--key KEY]: registers a sensor; sets SENSOR_UUID, SENSOR_KEY.
sensor_new() {
	local approve=--approve key=""
	while [ $# -gt 0 ]; do
		case $1 in
		--pending) approve="" ;;
		--key) key=$2; shift ;;
		esac
		shift
	done
	SENSOR_UUID=$(gen_uuid)
	if [ -n "$key" ]; then
		ctl sensor add "$SENSOR_UUID" --key "$key" $approve >/dev/null || fail "sensor add failed"
		SENSOR_KEY=$key
	else
		SENSOR_KEY=$(ctl sensor add "$SENSOR_UUID" --gen-key $approve) || fail "sensor add failed"
	fi
	[ -n "$SENSOR_KEY" ] || fail "sensor add printed no key"
}

# craft [d4-craft options] < script: d4-craft against this test's hub.
craft() {
	[ -n "${D4CRAFT:-}" ] && [ -x "$D4CRAFT" ] || fail "\$D4CRAFT not set"
	"$D4CRAFT" --ca "$T_PKI/ca.crt" "$@" "$T_DEST"
}

# sensor_run [d4-sensor options]: d4-sensor against this test's hub.
sensor_run() { "$D4SENSOR" -D "$T_DEST" --ca "$T_PKI/ca.crt" "$@"; }
# sensor_bg [d4-sensor options]: the same in the background (stdin from
# /dev/null unless SENSOR_IN names a file, stderr to $T_DIR/sensor.log);
# sets SENSOR_PID, stopped at exit. Started directly (not through a
# function subshell) so that the pid is d4-sensor's own.
sensor_bg() {
	"$D4SENSOR" -D "$T_DEST" --ca "$T_PKI/ca.crt" "$@" <"${SENSOR_IN:-/dev/null}" 2>>"$T_DIR/sensor.log" &
	SENSOR_PID=$!
	T_BG+=("$SENSOR_PID")
}

# ---- JSON and assertions ---------------------------------------------------------
# json EXPR: evaluates a Python expression over the JSON document on stdin
# (bound to d); strings are printed raw, everything else as JSON.
json() {
	"$PY" -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: got '$1', expected '$2'"; }
assert_ge() { [ "$1" -ge "$2" ] || fail "${3:-value too small}: got $1, expected >= $2"; }
assert_contains() {
	case $1 in
	*"$2"*) ;;
	*) fail "${3:-text does not contain '$2'}: '$1'" ;;
	esac
}

# assert_log REGEX [SECONDS]: a line of the hub log matches (grep -E) within
# SECONDS (default 30).
assert_log() {
	wait_until "${2:-30}" grep -Eq -- "$1" "$T_LOG" || fail "no hub log line matching /$1/"
}

sensor_json() { ctl --json sensor show "$1"; }
sensor_rejects() { sensor_json "$1" | json "d['rejections']['$2']"; }
global_rejects() { ctl --json status | json "d['rejects']['$1']"; }

# assert_rejected UUID|- REASON [N|+N]: the visible trace of a rejection:
#   - a warning line in the hub log naming the reason,
#   - `d4hubctl status` global counter for REASON >= 1 (>= N),
#   - if UUID is a registered sensor: its counter for REASON == N (default 1;
#     +N: at least N)
#     and its last_error mentions the reason.
# The writer commits asynchronously, so counters are polled (bounded).
assert_rejected() {
	local uuid=$1 reason=$2 n=${3:-1} got err
	assert_log "warning: .*$reason"
	wait_until 30 _glob_ge "$reason" "$n" ||
		fail "status: rejects[$reason] = $(global_rejects "$reason"), expected >= $n"
	if [ "$uuid" != - ]; then
		wait_until 30 _sens_eq "$uuid" "$reason" "$n" ||
			fail "sensor $uuid: rejects[$reason] = $(sensor_rejects "$uuid" "$reason"), expected $n"
		err=$(sensor_json "$uuid" | json "d['last_error']")
		assert_contains "$err" "$reason" "sensor $uuid last_error"
	fi
	log "rejected as $reason: log line, global counter$([ "$uuid" != - ] && echo ", sensor counter = $n, last_error '$err'")"
}
_glob_ge() { [ "$(global_rejects "$1")" -ge "${2#+}" ]; }
_sens_eq() {
	local v
	v=$(sensor_rejects "$1" "$2")
	case $3 in
	+*) [ "$v" -ge "${3#+}" ] ;;
	*) [ "$v" -eq "$3" ] ;;
	esac
}

# frames_of UUID: number of frames stored for a sensor (all sessions).
frames_of() { ctl --json frames | json "len([f for f in d if f['uuid'] == '$1'])"; }

# frames_ge UUID N: at least N frames stored for UUID (for wait_until).
frames_ge() { [ "$(frames_of "$1")" -ge "$2" ]; }

# payload_of_sensor UUID FILE: concatenated stored payloads of all sessions of UUID.
payload_of_sensor() {
	local id
	: >"$2"
	for id in $(ctl --json sessions "$1" | json "' '.join(str(s['id']) for s in d)"); do
		ctl frames --session "$id" --payload >>"$2" || fail "frames --payload failed"
	done
}

# sync_store: waits until the hub's writer has committed what it received:
# the store's frame, byte and session totals and rejection counters are
# unchanged for 1.5 s (60 s deadline). A heuristic: where a test knows what
# to expect, waiting for exactly that (wait_for, frames_ge, sessions_closed)
# is better.
sync_store() {
	local prev="" cur same=0 deadline=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt $deadline ]; do
		cur=$(ctl --json status | json "[d['frames'], d['bytes'], d['sessions'], d['rejects']]") ||
			fail "sync_store: d4hubctl status failed"
		if [ "$cur" = "$prev" ]; then
			same=$((same + 1))
			[ $same -ge 6 ] && return 0
		else
			same=0
		fi
		prev=$cur
		sleep 0.25
	done
	fail "sync_store: the store's totals still change after 60 s"
}

# sessions_closed UUID [N]: every stored session of UUID has ended (and there
# are at least N, default 1). A session's close is committed after all its
# frames, so once true the sensor's frames and counters are final.
sessions_closed() {
	[ "$(ctl --json sessions "$1" | json "len(d) >= ${2:-1} and all(s['ended'] is not None for s in d)")" = true ]
}
