#!/usr/bin/env bash
# The multi-organisation demo as processes (deploy/demo-multiorg.sh): three
# organisations' hubs and a public hub on 127.0.0.2..5, their sensors sending
# the sample pcap and passive DNS files. Checked through each hub's REST API,
# independently of what the script prints (flows.sh says what).
# The script is stopped with SIGTERM, which stops every hub cleanly.
# shellcheck shell=bash
source "$(dirname "$0")/../lib.sh"

DEMO_SH=${DEMO_SH:-$_LIB_DIR/../../deploy/demo-multiorg.sh}
D=$T_DIR/demo
DEMO_PID=
_demo_cleanup() {
	local rc=$? f p
	trap - EXIT
	if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
		kill -TERM "$DEMO_PID" 2>/dev/null || true
		_wait_pid "$DEMO_PID" 120 || kill -KILL "$DEMO_PID" 2>/dev/null || true
	fi
	# a hub left behind by a killed script
	for f in "$D"/*/pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		if kill -0 "$p" 2>/dev/null && grep -q d4hub "/proc/$p/cmdline" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	if [ $rc -ne 0 ]; then
		echo "---- the demo's output:" >&2
		tail -n 40 "$T_DIR/demo.out" >&2 || true
		for f in "$D"/*/hub.log; do
			[ -f "$f" ] || continue
			echo "---- last lines of $f:" >&2
			tail -n 15 "$f" >&2 || true
		done
	fi
	# _t_cleanup reads the status from $? (errexit must not end this trap first)
	set +e
	(exit $rc)
	_t_cleanup
}
trap _demo_cleanup EXIT

D4HUB=$D4HUB D4HUBCTL=$D4HUBCTL D4SENSOR=$D4SENSOR D4_DEMO_DATA=$D4_TEST_DATA MKPKI=$MKPKI \
	bash "$DEMO_SH" --dir "$D" >"$T_DIR/demo.out" 2>&1 &
DEMO_PID=$!
# the demo set up and fed (not wait_until: a script that exits ends the wait)
deadline=$(($(date +%s) + 240))
until [ -e "$D/ready" ]; do
	kill -0 "$DEMO_PID" 2>/dev/null || fail "the demo script exited: $(tail -n 5 "$T_DIR/demo.out")"
	[ "$(date +%s)" -lt $deadline ] || fail "the demo was not set up and fed within 240 s"
	sleep 0.1
done
# shellcheck disable=SC1091
source "$D/demo.env"
log "demo running: $(grep -c . "$D/sensors") sensors on org1..org3"

DEMO_SENSORS=$D/sensors
demo_curl() { curl "$@"; }
source "$(dirname "$0")/flows.sh"

kill -TERM "$DEMO_PID"
_wait_pid "$DEMO_PID" 120 || fail "the demo did not stop within 120 s of SIGTERM"
DEMO_PID=
assert_eq "$_WAIT_RC" 0 "the demo's exit status"
for f in "$D"/*/pid; do
	! kill -0 "$(cat "$f")" 2>/dev/null || fail "a hub still runs after the demo stopped ($f)"
done
pass
