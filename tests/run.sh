#!/usr/bin/env bash
# Everything CI does, in one command (also what a developer runs):
#   1. install the Debian packages: the hub's (deploy/bootstrap.sh) and the
#      ones only the tests use (TEST_PACKAGES below), then the npm tools of
#      package-lock.json (no-op when all are present),
#   2. build/      : RelWithDebInfo, -Werror, run every ctest,
#   3. build-asan/ : AddressSanitizer + UBSan, run every ctest again.
# Exits non-zero if any step fails; the last line is a one-line summary.
# Env: JOBS (default 2), D4_SKIP_ASAN=1 to skip step 3, CTEST_ARGS extra args.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
JOBS=${JOBS:-2}
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-$JOBS}
export CTEST_OUTPUT_ON_FAILURE=1
start=$(date +%s)
summary=()
fail=0

step() { # name, command...
	local name=$1 t0 rc
	shift
	t0=$(date +%s)
	echo "=== $name"
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		summary+=("$name:ok($(($(date +%s) - t0))s)")
	else
		summary+=("$name:FAIL($(($(date +%s) - t0))s)")
		fail=1
	fi
	return $rc
}

build_and_test() { # dir, label, cmake args...
	local dir=$1 label=$2
	shift 2
	if step "$label-configure" cmake -S "$ROOT" -B "$ROOT/$dir" -DD4_WERROR=ON "$@" &&
		step "$label-build" cmake --build "$ROOT/$dir" -j "$JOBS"; then
		# ctest's own parallelism; integration tests pick their ports at run time
		step "$label-ctest" ctest --test-dir "$ROOT/$dir" --output-on-failure --timeout 300 \
			-j "$CTEST_PARALLEL_LEVEL" ${CTEST_ARGS:-}
	fi
}

# What only the tests use (deploy/bootstrap.sh installs what the hub and the
# quickstart need; a user who never runs the tests does not get these).
TEST_PACKAGES=(
	check                                    # the unit tests (Check suites)
	git                                      # clang_format (git ls-files)
	clang libclang-rt-14-dev clang-format    # tests/fuzz/run.sh (libFuzzer), clang_format
	python3 python3-yaml python3-jsonschema  # helpers of the integration tests, api_conformance
	python3-requests                         # it_api_basic, it_pssl_api: PyPDNS/PyPSSL-style clients
	lmdb-utils                               # it_hub_kill9 (mdb_stat)
	procps                                   # process checks of the integration tests
	tcpdump                                  # it_hub_quickstart, sensor and export tests read captures
	tshark                                   # it_tls_capture: JA3/certificates against tshark's fields
	socat                                    # it_hub_ack_socat: the reference client's uplink
	chromium                                 # the web page tests (playwright-core drives it)
	dnsdbq                                   # it_pdns_clients, it_api_basic: a real DNSDB client
	nghttp2-client                           # it_api_limits (h2load)
	docker-compose                           # compose_config validates deploy/compose.yml
	mandoc                                   # man_lint: the man pages
)
# The OpenAPI linter and the browser driver (npm, package.json) need Node.js
# and npm. Any installed node (e.g. from nodesource, which ships npm) is kept;
# without one, Debian's nodejs + npm are installed (Node 18: the pinned
# @redocly/cli 1.34 supports it).
if ! command -v node >/dev/null 2>&1; then
	TEST_PACKAGES+=(nodejs npm)
fi
step bootstrap bash "$ROOT/deploy/bootstrap.sh" "${TEST_PACKAGES[@]}" || true

# npm dev tools of the tests (OpenAPI linter), exactly as package-lock.json
# pins them. `npm ci` wipes node_modules, so it only runs when the lock file
# changed since the last successful install (stamp in node_modules).
npm_deps() {
	local stamp=$ROOT/node_modules/.d4-lock.sha256 want
	want=$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$ROOT/node_modules/.bin" ]; then
		echo "npm: node_modules matches package-lock.json"
		return 0
	fi
	(cd "$ROOT" && npm ci --no-audit --no-fund) && echo "$want" >"$stamp"
}
step npm npm_deps

build_and_test build release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DD4_SANITIZE=OFF -DD4_TESTS=ON

if [ "${D4_SKIP_ASAN:-0}" != 1 ]; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	build_and_test build-asan asan -DCMAKE_BUILD_TYPE=Debug -DD4_SANITIZE=ON -DD4_TESTS=ON
fi

total=$(($(date +%s) - start))
if [ $fail -eq 0 ]; then
	echo "tests/run.sh: PASS in ${total}s: ${summary[*]}"
else
	echo "tests/run.sh: FAIL in ${total}s: ${summary[*]}"
fi
exit $fail
