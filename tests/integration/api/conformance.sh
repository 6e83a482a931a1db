#!/usr/bin/env bash
# API conformance: openapi/d4hub.yaml against the compiled route table and a
# running hub (tests/integration/api/conformance.py does the checking).
#
# Addresses and ports (keep other tests out of them):
#   hub ingest and API on 127.0.0.3, ports picked at run time by lib.sh;
#   loopback source addresses 127.0.0.9 (rate-limit probe) and 127.0.0.10-29
#   (calls that fail authentication, spread so that they stay under the
#   per-address failed-authentication limit).
# Env: as lib.sh, plus API_ROUTES (tests/tools/api-routes).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.3}
source "$(dirname "$0")/../lib.sh"

ROOT=$(cd "$_LIB_DIR/../.." && pwd)
SPEC=${D4_API_SPEC:-$ROOT/openapi/d4hub.yaml} # override: mutation checks of this test
CHECK=$(dirname "$0")/conformance.py
[ -n "${API_ROUTES:-}" ] && [ -x "$API_ROUTES" ] || fail "\$API_ROUTES is not set to tests/tools/api-routes"

# (a) spec vs code, before starting anything
"$API_ROUTES" >"$T_DIR/routes.txt" || fail "api-routes failed"
"$PY" "$CHECK" --spec "$SPEC" --routes "$T_DIR/routes.txt" || fail "the spec and the route table differ"

# (b) a real hub with fixtures
t_conf "api.spec=$SPEC"
# backscatter: three vectors (a local ongoing IPv4 one, a received IPv6 one,
# a tlp:ex:chr one) and a sensor's counters, written before the hub starts
[ -n "${BS_LOAD:-}" ] && [ -x "$BS_LOAD" ] || fail "\$BS_LOAD is not set to bs_api_load"
NOW_US=$(($(date +%s) * 1000000))
BS_SENSOR=5e3c3b5e0b9e4c1e9a52c6e9d2a1f001
{
	printf 'vec\t-\t192.0.2.10\ttcp-synack\tongoing\t%d\t%d\t120\t4800\ttlp:green\t%s\t80:100,443:20\t-\n' \
		$((NOW_US - 900000000)) $((NOW_US - 60000000)) "$BS_SENSOR"
	printf 'vec\t%s\t2001:db8::7\ticmp6-unreach\tclosed\t%d\t%d\t60\t6000\ttlp:amber\t-\t53:60\t%s\n' \
		"$(gen_uuid)" $((NOW_US - 7200000000)) $((NOW_US - 3600000000)) "$(gen_uuid)"
	printf 'vec\t-\t198.51.100.3\ticmp-echo-reply\tclosed\t%d\t%d\t40\t3360\ttlp:ex:chr\t%s\t0:40\t-\n' \
		$((NOW_US - 5000000000)) $((NOW_US - 4000000000)) "$BS_SENSOR"
	printf 'ctr\t%s\t12\t900\t3\t220\t0\t1=120,3=40,9=60\t1=500,2=177\n' "$BS_SENSOR"
} | "$BS_LOAD" load "$T_DIR/store" || fail "bs_api_load"
# passive SSL: the planted weak-key certificates (tests/tools/d4-pssl-weakcerts),
# the first at tlp:red, for the weak-key job to report (9 findings); loaded first, so that their keys
# are ids 1, 2, ... as the checks below expect
[ -n "${WEAKCERTS:-}" ] && [ -x "$WEAKCERTS" ] || fail "\$WEAKCERTS is not set to tests/tools/d4-pssl-weakcerts"
mkdir -p "$T_DIR/weakcerts"
"$WEAKCERTS" "$T_DIR/weakcerts" || fail "d4-pssl-weakcerts"
"$WEAKCERTS" --store "$T_DIR/store" 0 1 tlp:red || fail "d4-pssl-weakcerts --store"
"$WEAKCERTS" --store "$T_DIR/store" 1 "$(wc -l <"$T_DIR/weakcerts/names.txt")" tlp:green ||
	fail "d4-pssl-weakcerts --store"
# passive SSL: a self-signed certificate served in a tlp:green handshake, and
# a tlp:red handshake (above a user's clearance)
[ -n "${PSSL_LOAD:-}" ] && [ -x "$PSSL_LOAD" ] || fail "\$PSSL_LOAD is not set to pssl_api_load"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/pssl.key" \
	-out "$T_DIR/pssl.pem" -days 30 -subj "/O=Conformance/CN=conf.example" -addext "subjectAltName=DNS:conf.example" \
	2>/dev/null || fail "openssl: a certificate"
openssl x509 -in "$T_DIR/pssl.pem" -outform DER -out "$T_DIR/pssl.der" || fail "openssl: DER"
PSSL_JA3=771,4865-4866,0-11-10,29-23,0
{
	printf 'hs\t192.0.2.20\t443\tconf.example\t%s\t771,4865,43-51\tt13d1516h2_8daaf6152771_e5627efa2ab1\ttlp:green\t%d\t%d\t2\t%s\t-\t%s\n' \
		"$PSSL_JA3" $((NOW_US / 1000000 - 600)) $((NOW_US / 1000000 - 60)) "$BS_SENSOR" "$T_DIR/pssl.der"
	printf 'hs\t192.0.2.21\t8443\tred.example\t769,47,0,23,0\t-\t-\ttlp:red\t%d\t%d\t1\t-\t-\t-\n' \
		$((NOW_US / 1000000 - 600)) $((NOW_US / 1000000 - 60))
} | "$PSSL_LOAD" load "$T_DIR/store" || fail "pssl_api_load"
PSSL_SHA1=$(openssl x509 -in "$T_DIR/pssl.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f)
hub_start
API=$(api_url) # the hub picks a free API port (lib.sh keeps it across restarts)
health() { curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API/health"

ADMIN_TOKEN=$(ctl user add conf-admin --role admin) || fail "user add admin"
USER_TOKEN=$(ctl user add conf-viewer --role user) || fail "user add user"
REG_TOKEN=$(ctl user add conf-register --role sensor_register) || fail "user add sensor_register"

# A sensor with data (sessions, types, daily stats), plus one pending and
# one approved sensor without data so that lists have several pages.
sensor_new
DATA_UUID=$SENSOR_UUID
sensor_run -u "$DATA_UUID" -k "$SENSOR_KEY" -t 8 -q <"$D4_TEST_DATA/dns/local-dns.passivedns-alltypes.csv" ||
	fail "d4-sensor (type 8) exited $?"
sensor_run -u "$DATA_UUID" -k "$SENSOR_KEY" -t 1 -q <"$D4_TEST_DATA/dns/local-dns.pcap" ||
	fail "d4-sensor (type 1) exited $?"
sensor_new --pending
sensor_new
wait_for 30 "the data sensor's 2 sessions closed and committed" sessions_closed "$DATA_UUID" 2
sync_store
weak_done() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" "$API/api/v1/pssl/weak/status" |
		json "d['store']['findings'] == 9 and d['store']['behind'] == 0" | grep -qx true
}
wait_for 60 "the weak-key job's 9 findings" weak_done

"$PY" - "$T_DIR/fixtures.json" "$API" "$T_PKI/ca.crt" "$ADMIN_TOKEN" "$USER_TOKEN" "$REG_TOKEN" "$DATA_UUID" \
	"$PSSL_SHA1" "$PSSL_JA3" "$T_DIR/weakcerts/names.txt" <<'EOF' ||
import hashlib, json, sys
out, api, ca, admin, user, reg, data, pssl_sha1, pssl_ja3, weak = sys.argv[1:]
json.dump({"pssl": {"sha1": pssl_sha1, "ja3": hashlib.md5(pssl_ja3.encode()).hexdigest()},
    "weak_certs": {l.split()[0]: l.split()[1] for l in open(weak)},
    "base_url": api, "cacert": ca,
    "tokens": {"admin": admin, "user": user, "sensor_register": reg},
    "admin_user": "conf-admin", "data_sensor": data,
    "limit_src": "127.0.0.9", "src_ips": ["127.0.0.%d" % i for i in range(10, 30)],
}, open(out, "w"))
EOF
	fail "fixtures"
"$PY" "$CHECK" --spec "$SPEC" --routes "$T_DIR/routes.txt" --live "$T_DIR/fixtures.json" ||
	fail "conformance failures (above)"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "spec, route table and live answers agree"
