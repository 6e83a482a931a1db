#!/usr/bin/env bash
# The longer fuzzing run (not part of the default test command, which only
# replays the corpora):
#
#   tests/fuzz/run.sh MINUTES [TARGET-REGEX]
#
# Builds every libFuzzer target with clang in a separate build dir
# (build-fuzz/, -DD4_FUZZ=ON: ASan + UBSan + coverage), then runs each target
# for MINUTES with its corpus as seed. New inputs go to a scratch corpus
# (build-fuzz/fuzz-work/TARGET), never into the repository; a crash, leak or
# timeout leaves its input in build-fuzz/fuzz-out/ and makes the run fail.
# Installs clang from Debian when it is missing (root or sudo needed).
# Environment: D4_FUZZ_BUILD (build dir, default build-fuzz), D4_FUZZ_JOBS
# (build parallelism, default 2).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
minutes=${1:?usage: tests/fuzz/run.sh MINUTES [TARGET-REGEX]}
filter=${2:-.}
case $minutes in '' | *[!0-9]*) echo "run.sh: MINUTES must be a whole number" >&2; exit 2 ;; esac
bdir=${D4_FUZZ_BUILD:-$repo/build-fuzz}

if ! command -v clang >/dev/null 2>&1; then
	echo "# clang not found: installing it from Debian"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get install -y clang >/dev/null
fi

CC=clang cmake -S "$repo" -B "$bdir" -DD4_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# target -> corpus, from the d4_add_fuzz_target() calls of tests/fuzz/*/CMakeLists.txt
mapfile -t pairs < <(python3 - "$here" <<'PY' | grep -E "^[^ ]*($filter)"
import glob, os, re, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "CMakeLists.txt"))):
    d = os.path.dirname(f)
    for m in re.finditer(r"d4_add_fuzz_target\(\s*(\w+)[^)]*?CORPUS\s+\$\{CMAKE_CURRENT_SOURCE_DIR\}/(\S+?)\s*\)",
                         open(f).read(), re.S):
        print(m.group(1), os.path.join(d, m.group(2)))
PY
)
[ ${#pairs[@]} -gt 0 ] || { echo "run.sh: no fuzz target matches '$filter'" >&2; exit 2; }
targets=()
for p in "${pairs[@]}"; do targets+=("${p%% *}"); done
echo "# building ${#targets[@]} targets with clang in $bdir"
cmake --build "$bdir" -j"${D4_FUZZ_JOBS:-2}" --target "${targets[@]}" >"$bdir/fuzz-build.log" 2>&1 ||
	{ tail -30 "$bdir/fuzz-build.log"; exit 1; }

out=$bdir/fuzz-out
mkdir -p "$out"
failed=0
printf '%-24s %8s %12s %8s %6s  %s\n' target minutes execs exec/s cov result
for p in "${pairs[@]}"; do
	t=${p%% *} corpus=${p#* }
	exe=$(find "$bdir" -type f -name "$t" -perm -u+x | head -n 1)
	[ -n "$exe" ] || { echo "run.sh: $t not built" >&2; failed=1; continue; }
	work=$bdir/fuzz-work/$t
	mkdir -p "$work"
	log=$out/$t.log
	rc=0
	(cd "$work" && "$exe" -max_total_time=$((minutes * 60)) -timeout=30 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/$t-" "$work" "$corpus") >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1) || true
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1) || true
	cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -n 1 | cut -d' ' -f2)
	result=ok
	if [ $rc -ne 0 ]; then
		result="FAILED (rc $rc, see $log)"
		failed=1
	fi
	printf '%-24s %8s %12s %8s %6s  %s\n' "$t" "$minutes" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$result"
done
exit $failed
