#!/usr/bin/env bash
# The passive-SSL views of the web page in Debian's chromium (playwright-core)
# against a real d4hub fed by real sensors: "nothing yet" on an empty store;
# then d4-sensor --extract tls on the fixture capture (type 254, ja3-jl) and
# ja3-jl lines of certificates this test makes with openssl
# (web_pssl_data.py: a chain with an RSA exponent-3 leaf, an expired and a
# not-yet-valid certificate, a hostile subject on 60 addresses; a red one from
# another sensor). Once the API shows all of it, web_pssl.mjs checks the
# search by every key, paging, the detail view against the API's JSON, the
# pivots, the PEM download and the hostile subject rendered as text, for an
# admin and a user (who never sees the red certificate). Hub on 127.0.0.9,
# ports picked at run time; screenshots in the temp dir (D4_KEEP=1 keeps it).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.9}
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PCAP=$D4_TEST_DATA/tls/openssl-lo.pcap
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/bootstrap.sh installs it)"
[ -d "$ROOT/node_modules/playwright-core" ] || fail "playwright-core is not installed (tests/run.sh runs npm ci)"

"$PY" "$HERE/web_pssl_data.py" "$T_DIR/data" "$D4_TEST_DATA/tls/ja3-jl/openssl-lo.d4hub.jsonl" ||
	fail "web_pssl_data.py"
t_conf
# the weak-key job, when the tree has it: at a short interval, so that the
# leaf's exponent-3 finding comes within the test's deadline
if [ -f "$ROOT/hub/analyze/pssl_weak.c" ] && [ -f "$ROOT/api/h_pssl_weak.c" ]; then
	export D4_WEAK=1
	printf '[pssl]\nweak_interval = 1\n' >>"$T_CONF"
fi
hub_start
URL=$(api_url)
TOKEN=$(ctl user add admin --role admin) || fail "user add admin"
UTOKEN=$(ctl user add viewer --role user) || fail "user add user"
export D4_USER_TOKEN=$UTOKEN D4_EXPECT=$T_DIR/data/expect.json
node "$HERE/web_pssl.mjs" empty "$URL" "$TOKEN" "$T_DIR" || fail "browser test (empty store) failed"

# the capture through d4-sensor's own extraction, green
sensor_new
export D4_CAPTURE_SENSOR=$SENSOR_UUID
printf '{"type":"ja3-jl","tags":["tlp:green"]}' >"$T_DIR/meta-green.json"
sensor_run -u "$SENSOR_UUID" -k "$SENSOR_KEY" --extract tls -m "$T_DIR/meta-green.json" -r "$PCAP" \
	2>"$T_DIR/sensor-capture.log" || fail "d4-sensor --extract tls: $(tail -n 3 "$T_DIR/sensor-capture.log")"
# the test's certificates as ja3-jl lines: green from one sensor, red from another
sensor_new
export D4_GREEN_SENSOR=$SENSOR_UUID
sensor_run -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 254 -m "$T_DIR/meta-green.json" <"$T_DIR/data/green.jsonl" \
	2>"$T_DIR/sensor-green.log" || fail "d4-sensor (green lines): $(tail -n 3 "$T_DIR/sensor-green.log")"
sensor_new
export D4_RED_SENSOR=$SENSOR_UUID
printf '{"type":"ja3-jl","tags":["tlp:red"]}' >"$T_DIR/meta-red.json"
sensor_run -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 254 -m "$T_DIR/meta-red.json" <"$T_DIR/data/red.jsonl" \
	2>"$T_DIR/sensor-red.log" || fail "d4-sensor (red lines): $(tail -n 3 "$T_DIR/sensor-red.log")"

# queryable: every certificate for the admin, and the 60 hostile tuples
all_stored() {
	"$PY" - "$URL" "$TOKEN" "$D4_EXPECT" "$T_PKI/ca.crt" <<'PYEOF'
import json, os, ssl, sys, urllib.request
url, token, exp, ca = sys.argv[1:5]
e = json.load(open(exp))
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
def get(p):
    r = urllib.request.urlopen(urllib.request.Request(url + p, headers={'Authorization': 'Bearer ' + token}), context=ctx)
    return json.load(r)
have = {c['sha1'] for c in get('/api/v1/pssl/certs?limit=1000')['items']}
want = set(e['sha1'].values()) | set(e['capture_certs'])
if want - have:
    sys.exit('missing %s' % sorted(want - have))
n = len(get('/api/v1/pssl/tuples?ip=198.51.100.0/24&limit=1000')['items'])
if n != 60:
    sys.exit('%d hostile tuples' % n)
if os.environ.get('D4_WEAK') == '1':
    kinds = [f['kind'] for f in get('/api/v1/pssl/weak/certs/' + e['sha1']['leaf.test'])['findings']]
    if 'weak-exponent' not in kinds:
        sys.exit('no weak-exponent finding for the leaf yet: %s' % kinds)
PYEOF
}
wait_for 60 "every certificate and tuple queryable" all_stored
node "$HERE/web_pssl.mjs" full "$URL" "$TOKEN" "$T_DIR" ||
	fail "browser test failed (screenshots in $T_DIR if kept: D4_KEEP_FAILED=1)"
hub_stop
pass "certificates view: nothing yet, search by every key, paging, detail vs the API, pivots, PEM, hostile text; no red certificate for a user"
