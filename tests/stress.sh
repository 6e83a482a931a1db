#!/usr/bin/env bash
# tests/stress.sh [ROUNDS] [BUSY]: the whole ctest suite of a build folder,
# ROUNDS times in a row (default 3), with BUSY busy loops (default 2) burning
# CPU beside it, to show that no test depends on the machine being idle (a
# test that fails when every core is busy is a defect: it misses a wait).
# Prints, per round, pass/fail, the duration and the failing tests; exits
# non-zero if any round failed. The busy loops are stopped at the end (and on
# Ctrl-C).
# Env: BUILD (default build/ of the repository), JOBS (ctest -j, default 2),
# CTEST_ARGS (extra ctest arguments, e.g. "-L integration"), STRESS_LOG
# (folder for the per-round ctest output, default a temp folder, kept).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-3}
BUSY=${2:-2}
BUILD=${BUILD:-$ROOT/build}
JOBS=${JOBS:-2}
case $ROUNDS$BUSY in
*[!0-9]*) echo "usage: tests/stress.sh [ROUNDS] [BUSY]" >&2; exit 2 ;;
esac
[ -f "$BUILD/CTestTestfile.cmake" ] || {
	echo "stress.sh: $BUILD is not a configured build folder (set BUILD=...)" >&2
	exit 2
}
LOGDIR=${STRESS_LOG:-$(mktemp -d /tmp/d4-stress.XXXXXX)}
mkdir -p "$LOGDIR"

busy=()
stop_busy() {
	local p
	for p in "${busy[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${busy[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	busy=()
}
trap 'stop_busy' EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 "$BUSY"); do
	sh -c 'while :; do :; done' &
	busy+=($!)
done
echo "stress: $ROUNDS round(s) of ctest -j$JOBS in $BUILD, $BUSY busy loop(s) (pids ${busy[*]:-none}); logs in $LOGDIR"

fails=0
summary=()
t_all=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
	t0=$(date +%s)
	out=$LOGDIR/round$r.log
	# shellcheck disable=SC2086
	ctest --test-dir "$BUILD" --output-on-failure --timeout 600 -j "$JOBS" ${CTEST_ARGS:-} >"$out" 2>&1
	rc=$?
	dt=$(($(date +%s) - t0))
	total=$(grep -Eo 'tests passed, [0-9]+ tests failed out of [0-9]+' "$out" | grep -Eo '[0-9]+$' || echo "?")
	failed=$(sed -n '/The following tests FAILED:/,$p' "$out" | grep -E '^[[:space:]]+[0-9]+ - ' |
		sed -E 's/^[[:space:]]+[0-9]+ - ([^ ]+).*/\1/' | tr '\n' ' ')
	if [ $rc -eq 0 ]; then
		line="round $r: PASS ($total tests, ${dt}s)"
	else
		fails=$((fails + 1))
		line="round $r: FAIL ($total tests, ${dt}s): ${failed:-ctest exited $rc}"
	fi
	echo "$line"
	summary+=("$line")
done
stop_busy
echo "stress: $((ROUNDS - fails))/$ROUNDS round(s) passed in $(($(date +%s) - t_all))s with $BUSY busy loop(s); logs in $LOGDIR"
[ $fails -eq 0 ]
