#!/usr/bin/env bash
# The backscatter view of the web page in Debian's chromium (playwright-core):
# "nothing yet" on an empty store; then, with vectors written by bs_api_load
# into the stopped hub's store, the ongoing attacks, the last 24 hours, a
# victim's detail and the counters for an admin, and no red vector and no
# counters for a user (web_bs.mjs). Hub on 127.0.0.6, ports picked at run time.
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.6}
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/bootstrap.sh installs it)"
[ -d "$ROOT/node_modules/playwright-core" ] || fail "playwright-core is not installed (tests/run.sh runs npm ci)"
[ -n "${BS_LOAD:-}" ] && [ -x "$BS_LOAD" ] || fail "\$BS_LOAD is not set to bs_api_load"

t_conf
hub_start
URL=$(api_url)
TOKEN=$(ctl user add admin --role admin) || fail "user add admin"
UTOKEN=$(ctl user add viewer --role user) || fail "user add user"
NODE_PATH=$ROOT/node_modules node "$HERE/web_bs.mjs" empty "$URL" "$TOKEN" "$T_DIR" || fail "browser test (empty store) failed"
hub_stop

NOW=$(($(date +%s) * 1000000))
S=5e3c3b5e0b9e4c1e9a52c6e9d2a1f001
{
	# ongoing, amber; the same victim two days ago (closed); ongoing, red; closed IPv6 an hour ago
	printf 'vec\t-\t192.0.2.10\ttcp-synack\tongoing\t%d\t%d\t100\t4000\ttlp:amber\t%s\t80:100\t-\n' \
		$((NOW - 900000000)) $((NOW - 30000000)) "$S"
	printf 'vec\t-\t192.0.2.10\ticmp-echo-reply\tclosed\t%d\t%d\t50\t4200\ttlp:clear\t%s\t0:50\t-\n' \
		$((NOW - 172800000000)) $((NOW - 172000000000)) "$S"
	printf 'vec\t-\t203.0.113.5\ttcp-rst\tongoing\t%d\t%d\t300\t12000\ttlp:red\t%s\t443:300\t-\n' \
		$((NOW - 600000000)) $((NOW - 10000000)) "$S"
	printf 'vec\t-\t2001:db8::7\ticmp6-unreach\tclosed\t%d\t%d\t60\t6000\ttlp:green\t%s\t53:60\t-\n' \
		$((NOW - 7200000000)) $((NOW - 3600000000)) "$S"
	printf 'ctr\t%s\t5\t600\t1\t510\t0\t1=100,2=300\t1=90\n' "$S"
} | "$BS_LOAD" load "$T_DIR/store" || fail "bs_api_load"
hub_start
D4_USER_TOKEN=$UTOKEN NODE_PATH=$ROOT/node_modules node "$HERE/web_bs.mjs" full "$URL" "$TOKEN" "$T_DIR" ||
	fail "browser test failed (screenshots in $T_DIR if kept: D4_KEEP_FAILED=1)"
hub_stop
pass "backscatter view: nothing yet, ongoing, last 24 h, victim detail, counters for the admin; no red vector for a user"
