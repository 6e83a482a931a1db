#!/usr/bin/env bash
# The web page in a real browser (Debian's chromium, headless, via
# playwright-core): sign in with a token, approve a pending sensor, run
# d4-sensor, see its packets counter move; the federation partners' list, and
# a partner managed in the page (create, refused create, rules, dry run,
# disable, delete: each checked through the API); a user sees none of it. Hub
# on 127.0.0.4, ports picked at run time by lib.sh.
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.4}
source "$(dirname "$0")/../lib.sh"

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/bootstrap.sh installs it)"
[ -d "$ROOT/node_modules/playwright-core" ] || fail "playwright-core is not installed (tests/run.sh runs npm ci)"

t_conf
ctl partner add web-p --url "https://$T_ADDR:1" --hub "$(gen_uuid)" --org "$(gen_uuid)" --relation partner \
	--ca "$T_PKI/ca.crt" >/dev/null || fail "partner add"
hub_start
URL=$(api_url)
TOKEN=$(ctl user add admin --role admin)
UTOKEN=$(ctl user add viewer --role user)
NEW_PARTNER=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(dict(zip(["url", "hub", "org", "ca"], sys.argv[1:]))))' \
	"https://$T_ADDR:1/fed" "$(gen_uuid)" "$(gen_uuid)" "$T_PKI/ca.crt")
sensor_new --pending
U=$SENSOR_UUID K=$SENSOR_KEY
printf 'line %s\n' $(seq 1 20) >"$T_DIR/lines.txt"

# a finite source (stdin): d4-sensor exits once everything is delivered
argv=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' \
	sh -c "exec \"\$0\" -D \"\$1\" --ca \"\$2\" -u \"\$3\" -k \"\$4\" -t 8 -q --drain-timeout 30 <\"\$5\"" \
	"$D4SENSOR" "$T_DEST" "$T_PKI/ca.crt" "$U" "$K" "$T_DIR/lines.txt")
D4_PARTNER=web-p D4_NEW_PARTNER=$NEW_PARTNER D4_USER_TOKEN=$UTOKEN D4_SENSOR_ARGS=$argv node "$(dirname "$0")/web.mjs" "$URL" "$TOKEN" "$U" "$T_DIR" ||
	fail "browser test failed (screenshots in $T_DIR if kept: D4_KEEP_FAILED=1)"
sync_store
assert_eq "$(ctl --json sensor show "$U" | json "d['status']")" approved "status after the click"
assert_eq "$(ctl --json partner list | json '[p["name"] for p in d]')" '["web-p"]' "partners after the page's changes"
pass "signed in, approved $U in the page, saw its packets counter move after a d4-sensor run, saw the partners, managed one"
