#!/usr/bin/env bash
# deploy/quickstart.sh --no-wait on this test's ports (picked at run time)
# and temp dir: it must
# start the hub, feed both samples, print the stored data, stop the hub, and
# leave a store holding exactly the two samples.
source "$(dirname "$0")/../lib.sh"

QS=$(cd "$(dirname "$0")/../../.." && pwd)/deploy/quickstart.sh
DEMO=$T_DIR/demo
rc=0
API_PORT=$(free_port)
D4_DEMO_DIR=$DEMO D4_DEMO_PORT=$T_PORT D4_DEMO_API_PORT=$API_PORT D4HUB=$D4HUB D4HUBCTL=$D4HUBCTL D4SENSOR=$D4SENSOR \
	timeout 150 bash "$QS" --no-wait --no-build >"$T_DIR/qs.out" 2>&1 || rc=$?
cp "$DEMO/d4hub.log" "$T_LOG" 2>/dev/null || true
[ $rc -eq 0 ] || {
	cat "$T_DIR/qs.out"
	fail "quickstart exited $rc"
}
grep -q "d4hub stopped" "$T_DIR/qs.out" || fail "quickstart did not stop the hub"
if ss -Hltn "sport = :$T_PORT" | grep -q .; then fail "something still listens on $T_PORT"; fi
if ss -Hltn "sport = :$API_PORT" | grep -q .; then fail "something still listens on $API_PORT"; fi
grep -q "how to look at it" "$T_DIR/qs.out" || fail "no usage hints printed"
# the passive-DNS demo query answered with the tuples of both inputs (COF lines)
grep -q '"rrname":"web.example.test.*"rdata":"192.0.2.80"' "$T_DIR/qs.out" || {
	grep -A3 'passive DNS' "$T_DIR/qs.out" >&2
	fail "no pDNS answer for web.example.test in the quickstart's output"
}

T_CONF=$DEMO/d4hub.conf
ctl --json sessions >"$T_DIR/sessions.json"
assert_eq "$(json "len(d)" <"$T_DIR/sessions.json")" 2 "sessions"
assert_eq "$(json "sorted(s['type'] for s in d)" <"$T_DIR/sessions.json")" "[1, 8]" "session types"
S8=$(json "[s['id'] for s in d if s['type'] == 8][0]" <"$T_DIR/sessions.json")
ctl frames --session "$S8" --payload >"$T_DIR/csv"
cmp "$T_DIR/csv" "$D4_TEST_DATA/dns/local-dns.passivedns-alltypes.csv" || fail "type-8 payload differs from the CSV"
S1=$(json "[s['id'] for s in d if s['type'] == 1][0]" <"$T_DIR/sessions.json")
ctl frames --session "$S1" --payload >"$T_DIR/pcap"
# same number of packets as the sample (tcpdump reads the stored stream)
n_in=$(tcpdump -nr "$D4_TEST_DATA/dns/local-dns.pcap" 2>/dev/null | wc -l)
n_out=$(tcpdump -nr "$T_DIR/pcap" 2>/dev/null | wc -l)
assert_eq "$n_out" "$n_in" "packets in the stored capture"
grep -q "$(ctl --json sensor list | json "d[0]['uuid']")" "$T_DIR/qs.out" || fail "sensor list not printed"
pass "quickstart: hub started, $n_in packets + $(wc -l <"$T_DIR/csv") passivedns lines stored, hub stopped"
