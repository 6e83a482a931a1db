#!/usr/bin/env bash
# ctest openapi_lint: lints openapi/d4hub.yaml with the Redocly CLI pinned in
# package.json (installed by `npm ci`, which tests/run.sh runs), using the
# recommended ruleset (tests/lint/redocly.yaml). Fails on any error AND on any
# warning that is not in tests/lint/.redocly.lint-ignore.yaml: a new warning
# is fixed or justified there, not left to accumulate.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REDOCLY=$ROOT/node_modules/.bin/redocly
SPEC=$ROOT/openapi/d4hub.yaml
CONF=$ROOT/tests/lint/redocly.yaml
if [ ! -x "$REDOCLY" ]; then
	echo "openapi_lint: $REDOCLY missing: run 'npm ci' in $ROOT (tests/run.sh does)" >&2
	exit 1
fi
# No telemetry and no update check: the test must not talk to the network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
"$REDOCLY" lint --format=stylish --config "$CONF" "$SPEC" >"$out" 2>&1 || rc=$?
cat "$out"
counts=$("$REDOCLY" lint --format=json --config "$CONF" "$SPEC" 2>/dev/null |
	/usr/bin/python3 -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print(t["errors"], t["warnings"])') || {
	echo "openapi_lint: could not read the linter's JSON report" >&2
	exit 1
}
read -r errors warnings <<<"$counts"
if [ "$rc" -ne 0 ] || [ "$errors" -ne 0 ] || [ "$warnings" -ne 0 ]; then
	echo "openapi_lint: FAIL (exit $rc, $errors errors, $warnings warnings)" >&2
	exit 1
fi
echo "openapi_lint: OK ($(basename "$SPEC"): 0 errors, 0 warnings)"
