#!/usr/bin/env bash
# The passive-DNS view of the web page in Debian's chromium (playwright-core)
# against a real d4hub fed by real sensors: "nothing yet" on a fresh hub in
# the passive-DNS, backscatter and passive-SSL views, for an admin and a
# user; then passivedns CSV lines (default layout) through d4-sensor type 8
# from two sensors, one of them tlp:red. Once the API answers all of it,
# web_pdns.mjs compares what the page shows with the API's own answers
# (exact rows): every page of a wildcard search (nothing lost or doubled),
# right-hand wildcard, rdata name, IP, CIDR, range, raw, time fences, a
# malformed name's 400 next to the form, pivots, a bookmarked search
# reloaded, hostile TXT and names rendered as text; a user sees the view but
# not the red records. Hub on 127.0.0.9, ports picked at run time;
# screenshots in the temp dir (D4_KEEP=1 keeps it).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.9}
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/bootstrap.sh installs it)"
[ -d "$ROOT/node_modules/playwright-core" ] || fail "playwright-core is not installed (tests/run.sh runs npm ci)"

t_conf
hub_start
URL=$(api_url)
TOKEN=$(ctl user add admin --role admin) || fail "user add admin"
UTOKEN=$(ctl user add viewer --role user) || fail "user add user"
export D4_USER_TOKEN=$UTOKEN
node "$HERE/web_pdns.mjs" empty "$URL" "$TOKEN" "$T_DIR" || fail "browser test (fresh hub) failed"

# passivedns's default layout SMcsCQTAtn: ts||client||server||class||query||type||answer||ttl||count.
# h1..h130.web.test A 192.0.2.i, each seen twice (first T0+1000i, last 500 s later),
# h1..h10 AAAA, a CNAME to h7, NS and two MX (passivedns's name-only form, and a full one) of web.test,
# www.acme.test / www.acme.example for the right-hand wildcard, and hostile text.
T0=1700000000
{
	for i in $(seq 1 130); do
		printf '%d.000000||10.0.0.1||10.0.0.53||IN||h%d.web.test.||A||192.0.2.%d||300||%d\n' \
			$((T0 + 1000 * i)) "$i" "$i" $((i % 3 + 1))
		printf '%d.000000||10.0.0.1||10.0.0.53||IN||h%d.web.test.||A||192.0.2.%d||300||1\n' \
			$((T0 + 1000 * i + 500)) "$i" "$i"
	done
	for i in $(seq 1 10); do
		printf '%d.000000||10.0.0.1||10.0.0.53||IN||h%d.web.test.||AAAA||2001:db8::%x||300||1\n' \
			$((T0 + 1000 * i)) "$i" "$i"
	done
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||alias.web.test.||CNAME||h7.web.test.||300||1"
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||web.test.||NS||ns1.web.test.||300||1"
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||web.test.||MX||mail.web.test.||300||1"
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||web.test.||MX||10 mx2.web.test.||300||1"
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||mail.web.test.||A||198.51.100.25||300||1"
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||www.acme.test.||A||198.51.100.1||300||1"
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||www.acme.example.||A||198.51.100.2||300||1"
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||evil.web.test.||TXT||\"<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">\"||300||1"
	echo "$T0.000000||10.0.0.1||10.0.0.53||IN||<i>x<i>.web.test.||A||198.51.100.66||300||1"
} >"$T_DIR/green.log"
echo "$T0.000000||10.0.0.1||10.0.0.53||IN||secret.web.test.||A||192.0.2.200||300||1" >"$T_DIR/red.log"

sensor_new
sensor_run -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 8 -q <"$T_DIR/green.log" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor (green lines): $(tail -n 3 "$T_DIR/sensor.log")"
sensor_new
ctl sensor set "$SENSOR_UUID" --tlp tlp:red >/dev/null || fail "sensor set --tlp"
hub_sync
sensor_run -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 8 -q <"$T_DIR/red.log" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor (red line): $(tail -n 3 "$T_DIR/sensor.log")"

# every line stored: 130 A + 10 AAAA + 9 others + the red one = 150 tuples
all_stored() {
	[ "$(curl -sf --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" "$URL/pdns/info" | json "d['tuples']")" = 150 ]
}
wait_for 60 "the 150 records stored" all_stored
export D4_T0=$T0
node "$HERE/web_pdns.mjs" full "$URL" "$TOKEN" "$T_DIR" ||
	fail "browser test failed (screenshots in $T_DIR if kept: D4_KEEP_FAILED=1)"
hub_stop
pass "passive-DNS view: nothing yet (and in the other analyst views), every page of a search vs the API, wildcards, rdata name, IP/CIDR/range, raw, time fences, errors next to the form, pivots, bookmarks, hostile text; no red record for a user"
