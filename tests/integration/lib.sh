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
#   D4_TEST_PORT D4_TEST_ADDR         where this test's hub listens (distinct per test so ctest -j works)
#   D4_KEEP=1                         keep the temp dir (printed) for debugging
# shellcheck shell=bash

set -euo pipefail

_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${D4_TEST_DATA:=$_LIB_DIR/../data}"
: "${MKPKI:=$_LIB_DIR/../../deploy/mkpki.sh}"
T_NAME=${T_NAME:-$(basename "$0" .sh)}
T_PORT=${D4_TEST_PORT:-24443}
T_ADDR=${D4_TEST_ADDR:-127.0.0.1}
T_DEST=$T_ADDR:$T_PORT
# pyenv shims take seconds to start; the system interpreter is enough
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

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
# hub_start: starts d4hub -d in the background and waits (bounded) for its
# "d4hub listening on ADDR:PORT" line.
hub_start() {
	local before
	before=$(grep -c "d4hub listening on $T_DEST" "$T_LOG" || true)
	"$D4HUB" -d -c "$T_CONF" "$@" >>"$T_LOG" 2>&1 &
	HUB_PID=$!
	local deadline=$(($(date +%s) + 20))
	while :; do
		if [ "$(grep -c "d4hub listening on $T_DEST" "$T_LOG" || true)" -gt "$before" ]; then
			return 0
		fi
		if ! kill -0 "$HUB_PID" 2>/dev/null; then
			wait "$HUB_PID" 2>/dev/null || true
			HUB_PID=
			fail "d4hub exited during start-up"
		fi
		[ "$(date +%s)" -lt $deadline ] || fail "d4hub did not log 'listening on $T_DEST' within 20 s"
		sleep 0.05
	done
}

# hub_stop: SIGTERM and wait (bounded); sets HUB_RC; fails the test if the
# hub does not exit in time.
hub_stop() {
	[ -n "$HUB_PID" ] || return 0
	kill -TERM "$HUB_PID" 2>/dev/null || true
	if ! _wait_pid "$HUB_PID" 20; then
		kill -KILL "$HUB_PID" 2>/dev/null || true
		HUB_PID=
		fail "d4hub did not exit within 20 s of SIGTERM"
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

# The hub re-reads blocklists, sensors and types when the store's control
# epoch changes, checked once a second: wait for that after admin changes
# whose effect a test asserts on the next connection.
hub_sync() { sleep 1.3; }

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
# SECONDS (default 5).
assert_log() {
	wait_until "${2:-5}" grep -Eq -- "$1" "$T_LOG" || fail "no hub log line matching /$1/"
}

sensor_json() { ctl --json sensor show "$1"; }
sensor_rejects() { sensor_json "$1" | json "d['rejects']['$2']"; }
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
	wait_until 5 _glob_ge "$reason" "$n" ||
		fail "status: rejects[$reason] = $(global_rejects "$reason"), expected >= $n"
	if [ "$uuid" != - ]; then
		wait_until 5 _sens_eq "$uuid" "$reason" "$n" ||
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

# sync_store: waits until the hub's writer has committed what it received
# (the frame count is stable for 0.5 s).
sync_store() {
	local prev=-1 cur i
	for i in $(seq 1 100); do
		cur=$(ctl --json status | json "d['frames']")
		[ "$cur" = "$prev" ] && return 0
		prev=$cur
		sleep 0.25
	done
}
