#!/usr/bin/env bash
# TLP clearance on every read path (ingest 28800, API picked at run time).
# One sensor sends one 2 -> 254 session per TLP label through d4-sensor meta
# headers (type pdns-cof: the same sessions feed exports, an analyzer queue
# and passive DNS): the five levels, tlp:white, tlp:unclear, and malformed or
# mixed tags that must resolve to red ("tlp:red " with a trailing space,
# tlp:red:extra + tlp:clear, tlp:amber+strictx + tlp:green, should-not-sync +
# tlp:clear) or to the level meant (" TLP:Clear "). tlp_check.py then calls
# every read operation of openapi/d4hub.yaml as admin, user and
# sensor_register and asserts what each role sees (exact counts), and that a
# new operation without a clearance decision fails; then again after a
# restart with lower clearances configured ([api] max_tlp_user/max_tlp_admin).
source "$(dirname "$0")/../lib.sh"

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
t_conf
hub_start
api_up() { grep -q 'd4hub API listening on' "$T_LOG"; }
wait_until 10 api_up || fail "the API did not start"
API=$(api_url)
wait_until 10 curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" || fail "API not answering on $API"
ADMIN=$(ctl user add tlp-admin --role admin) || fail "user add admin"
USER=$(ctl user add tlp-user --role user) || fail "user add user"
REG=$(ctl user add tlp-reg --role sensor_register) || fail "user add sensor_register"
# A partner named like the admin user: tlp_check.py fills every {name} of
# the spec with "tlp-admin" (getPartner, dryRunPartner).
ctl partner add tlp-admin --url https://127.0.0.2:8444 --hub "$(gen_uuid)" --org "$HUB_ORG" --relation same-org \
	--pin "$(printf '%064d' 1)" || fail "partner add"

# queue QNAME: creates a type-254 pdns-cof queue, prints its id
queue() {
	curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\",\"type\":254,\"ext_type\":\"pdns-cof\"}" "$API/api/v1/queues" | json "d['id']"
}
QPA=$(queue pop-admin) && QPU=$(queue pop-user) && QF=$(queue follow) || fail "queue create"

sensor_new
S=$SENSOR_UUID
# label|tags (JSON array)|the TLP the hub must store
CASES=(
	'red|["tlp:red"]|tlp:red'
	'amber-strict|["tlp:amber+strict"]|tlp:amber+strict'
	'amber|["tlp:amber"]|tlp:amber'
	'green|["tlp:green"]|tlp:green'
	'clear|["tlp:clear"]|tlp:clear'
	'white|["tlp:white"]|tlp:clear'
	'unclear|["tlp:unclear"]|tlp:amber+strict'
	'red-space|["tlp:red "]|tlp:red'
	'red-extra|["tlp:red:extra","tlp:clear"]|tlp:red'
	'strictx|["tlp:amber+strictx","tlp:green"]|tlp:red'
	'nosync|["misp:should-not-sync","tlp:clear"]|tlp:red'
	'clear-space|[" TLP:Clear "]|tlp:clear'
)
sessions() { ctl --json sessions "$S" | json 'len(d)'; }
# closed N: the hub has recorded N closed sessions (the next run then cannot
# meet the previous connection's (uuid, type) slot still taken)
closed() { [ "$(ctl --json sessions "$S" | json 'len([s for s in d if s["ended"]])')" = "$1" ]; }
n=0
: >"$T_DIR/labels"
for c in "${CASES[@]}"; do
	IFS='|' read -r label tags level <<<"$c"
	n=$((n + 1))
	printf '{"type":"pdns-cof","tags":%s}' "$tags" >"$T_DIR/meta.json"
	{
		for i in 0 1; do
			printf '{"rrname":"t-%s.%d.tlp.test","rrtype":"A","rdata":"198.51.100.%d","bailiwick":"tlp.test",' \
				"$label" "$i" $((n * 2 + i))
			printf '"time_first":1764000000,"time_last":1764000100,"count":1}\n'
		done
		printf '{"rrname":"t-%s.c.tlp.test","rrtype":"CNAME","rdata":"t-%s.0.tlp.test","bailiwick":"tlp.test",' \
			"$label" "$label"
		printf '"time_first":1764000000,"time_last":1764000100,"count":1}\n'
	} >"$T_DIR/cof"
	sensor_run -u "$S" -k "$SENSOR_KEY" -t 254 -m "$T_DIR/meta.json" -q <"$T_DIR/cof" ||
		fail "d4-sensor ($label) exited $?"
	# one session at a time: the next run must not race this one's slot
	wait_until 30 closed $n || fail "session $n ($label) not committed and closed ($(sessions) sessions)"
	echo "$label $level 198.51.100.$((n * 2))" >>"$T_DIR/labels"
done
sync_store
# every tuple ingested by pDNS (3 per label)
tuples() {
	curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN" "$API/pdns/info" | json "d['tuples']"
}
wait_until 60 eval '[ "$(tuples)" = $((3 * ${#CASES[@]})) ]' || fail "pDNS has $(tuples) tuples, expected $((3 * n))"
# every frame fanned out to the queues
depth() {
	curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN" "$API/api/v1/queues/$1" | json "d['depth']"
}
FRAMES=$(ctl --json frames | json "len([f for f in d if f['uuid'] == '$S' and f['type'] == 254])")
for q in "$QPA" "$QPU" "$QF"; do
	wait_until 30 eval '[ "$(depth "$q")" = "$FRAMES" ]' || fail "queue $q holds $(depth "$q") of $FRAMES frames"
done

# Backscatter: one vector per label (victim = the label's address, TLP = its
# resolved level), written into the stopped hub's store by bs_api_load.
[ -n "${BS_LOAD:-}" ] && [ -x "$BS_LOAD" ] || fail "\$BS_LOAD is not set to bs_api_load"
hub_stop
while read -r label level ip; do
	printf 'vec\t-\t%s\ttcp-synack\tclosed\t1764000000000000\t1764000600000000\t100\t4000\t%s\t%s\t80:100\t-\n' \
		"$ip" "$level" "$S"
done <"$T_DIR/labels" | "$BS_LOAD" load "$T_DIR/store" || fail "bs_api_load"
# passive SSL: per label one handshake on the label's address, with a
# certificate of its own (CN t-LABEL.p.tlp.test) and a JA3 of its own
[ -n "${PSSL_LOAD:-}" ] && [ -x "$PSSL_LOAD" ] || fail "\$PSSL_LOAD is not set to pssl_api_load"
n=0
while read -r label level ip; do
	n=$((n + 1))
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/p-$label.key" \
		-out "$T_DIR/p-$label.pem" -days 30 -subj "/CN=t-$label.p.tlp.test" 2>/dev/null || fail "openssl ($label)"
	openssl x509 -in "$T_DIR/p-$label.pem" -outform DER -out "$T_DIR/p-$label.der" || fail "openssl DER ($label)"
	printf 'hs\t%s\t443\tt-%s.p.tlp.test\t771,%d,0,29,0\t-\t-\t%s\t1764000000\t1764000600\t1\t%s\t-\t%s\n' \
		"$ip" "$label" $((4000 + n)) "$level" "$S" "$T_DIR/p-$label.der"
done <"$T_DIR/labels" | "$PSSL_LOAD" load "$T_DIR/store" || fail "pssl_api_load"
# passive SSL: the planted weak-key certificates (tests/tools/d4-pssl-weakcerts) at several
# levels, so that every weak-key finding has a known visibility per role:
# A1 red / A2 amber+strict (pair: A1 hidden from a user), the B trio red, D1 amber / D2 red,
# S green, E3 clear, K1/K2 red, the rest green
[ -n "${WEAKCERTS:-}" ] && [ -x "$WEAKCERTS" ] || fail "\$WEAKCERTS is not set to tests/tools/d4-pssl-weakcerts"
mkdir -p "$T_DIR/weak"
"$WEAKCERTS" "$T_DIR/weak" || fail "d4-pssl-weakcerts"
NW=$(wc -l <"$T_DIR/weak/names.txt")
: >"$T_DIR/weak/tlp.txt"
for r in "0 1 tlp:red" "1 2 tlp:amber+strict" "2 5 tlp:red" "5 6 tlp:amber" "6 7 tlp:red" "7 8 tlp:green" \
	"8 9 tlp:clear" "9 11 tlp:red" "11 $NW tlp:green"; do
	set -- $r
	"$WEAKCERTS" --store "$T_DIR/store" "$1" "$2" "$3" || fail "d4-pssl-weakcerts --store $r"
	sed -n "$(($1 + 1)),$2p" "$T_DIR/weak/names.txt" | awk -v t="$3" '{ print $1, $2, t }' >>"$T_DIR/weak/tlp.txt"
done
hub_start
wait_until 10 curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" || fail "API not answering after the restart"
weak_done() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN" "$API/api/v1/pssl/weak/status" |
		json "d['store']['findings'] == 9 and d['store']['behind'] == 0" | grep -qx true
}
wait_for 60 "the weak-key job's 9 findings" weak_done

"$PY" - "$T_DIR/fixtures.json" <<EOF || fail "fixtures"
import hashlib, json, subprocess, sys
sess = json.loads(subprocess.check_output(["$D4HUBCTL", "-c", "$T_CONF", "--json", "sessions", "$S"]))
ids = [s["id"] for s in sorted(sess, key=lambda s: s["id"])]
rows = [l.split() for l in open("$T_DIR/labels")]
frames = json.loads(subprocess.check_output(["$D4HUBCTL", "-c", "$T_CONF", "--json", "frames"]))
per = {r[0]: len([f for f in frames if f["session"] == i and f["type"] == 254]) for r, i in zip(rows, ids)}
json.dump({"base_url": "$API", "cacert": "$T_PKI/ca.crt",
           "tokens": {"admin": "$ADMIN", "user": "$USER", "sensor_register": "$REG"},
           "sensor": "$S", "sessions": {r[0]: i for r, i in zip(rows, ids)},
           "labels": {r[0]: r[1] for r in rows}, "ip": {r[0]: r[2] for r in rows}, "frames": per,
           "bs": {r[0]: r[2] for r in rows}, "bs_day": "2025-11-24",
           "pssl": {r[0]: {"ip": r[2], "ja3": hashlib.md5(("771,%d,0,29,0" % (4001 + k)).encode()).hexdigest(),
                           "sha1": hashlib.sha1(open("$T_DIR/p-%s.der" % r[0], "rb").read()).hexdigest()}
                    for k, r in enumerate(rows)},
           "weak": {"certs": {l.split()[0]: l.split()[1:3] for l in open("$T_DIR/weak/tlp.txt")},
                    "expected": [l.strip() for l in open("$T_DIR/weak/expected.txt")]},
           "queues": {"pop_admin": $QPA, "pop_user": $QPU, "follow": $QF}}, open(sys.argv[1], "w"))
EOF
"$PY" "$(dirname "$0")/tlp_check.py" --spec "$ROOT/openapi/d4hub.yaml" --fixtures "$T_DIR/fixtures.json" ||
	fail "a role saw what its clearance withholds, or an operation has no clearance decision"
log "default clearances (user tlp:amber+strict, admin tlp:red) hold"

# The clearances come from the configuration: lower both ([api] is the
# config file's last section) and run every check again on the same store
# (the pop queues are empty now: popQueue was checked above).
printf 'max_tlp_user = tlp:green\nmax_tlp_admin = tlp:amber\n' >>"$T_CONF"
hub_stop
hub_start
api_count() { [ "$(grep -c 'd4hub API listening on' "$T_LOG")" -ge 3 ]; }
wait_until 10 api_count || fail "the API did not start again"
API2=$(api_url)
wait_until 10 curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API2/health" || fail "API not answering on $API2"
"$PY" - "$T_DIR/fixtures.json" "$API2" <<'EOF' || fail "fixtures"
import json, sys
fx = json.load(open(sys.argv[1]))
fx["base_url"] = sys.argv[2]
fx["clearance"] = {"admin": "tlp:amber", "user": "tlp:green"}
json.dump(fx, open(sys.argv[1], "w"))
EOF
"$PY" "$(dirname "$0")/tlp_check.py" --spec "$ROOT/openapi/d4hub.yaml" --fixtures "$T_DIR/fixtures.json" \
	--skip popQueue || fail "the configured clearances (user tlp:green, admin tlp:amber) do not hold"
pass "every read operation of the spec applies the role's TLP clearance (defaults and configured)"
