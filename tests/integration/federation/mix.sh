#!/usr/bin/env bash
# Mixing before sharing, end to end: A and B of organisation 1, A's own
# network 192.0.2.0/28 (federation.own_networks). Two sensors send A
# pdns-cof streams (tlp:clear): a tuple seen by both sensors, one seen once
# by one sensor, one seen 5 times by one sensor, a private address, an
# address of A's own network and the reverse name of a private address.
# Once A's pDNS worker holds every tuple, A's partner B is added with a pdns
# rule that mixes (2 sensors or 5 times, no hold-back, times to the hour,
# the pool id). Checked through B's REST API: exactly the tuples above the
# thresholds arrive, with coarse times, A's counts and the pool id as their
# sensor, nothing else (the tuple seen by both sensors goes once, when the
# second sensor's observation brings it past 2 sensors, as the tuple so far:
# count 2); at A, the decisions per reason are exact in the partner status
# and /metrics; A's dry run explains the same decisions.
source "$(dirname "$0")/fedlib.sh"

fed_hub a 127.0.0.2 org1 federation.own_networks=192.0.2.0/28
fed_hub b 127.0.0.3 org1
fed_start a
fed_start b
fed_partner b a a --direction push --file <(echo '{"inbound": {"kinds": ["pdns"], "max_tlp": "tlp:green"}}')

TF=1764000123 TL=1764000456
line() { # RRNAME RRTYPE RDATA COUNT
	printf '{"rrname":"%s","rrtype":"%s","rdata":"%s","time_first":%d,"time_last":%d,"count":%d}\\n' \
		"$1" "$2" "$3" "$TF" "$TL" "$4"
}
declare -a SENS
for s in 1 2; do
	fsensor a
	SENS[$s]=$SENSOR_UUID
	{
		echo "set uuid=$SENSOR_UUID key=$SENSOR_KEY type=2"
		echo 'meta {"type":"pdns-cof","tags":["tlp:clear"]}'
		printf 'frame type=254 payload=text:'
		line both.mix.test A 198.51.100.10 1
		line priv.mix.test A 10.1.2.3 1
		line own.mix.test A 192.0.2.5 1
		line 4.3.2.10.in-addr.arpa PTR h.corp.mix.test 1
		if [ "$s" = 1 ]; then
			line one.mix.test A 198.51.100.11 1
			line many.mix.test A 198.51.100.12 5
		fi
		echo
		echo close
	} >"$T_DIR/craft-$s"
	fcraft a <"$T_DIR/craft-$s" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft ($s): $(tail -n 3 "$T_DIR/craft.out")"
done
ntuples() { fapi "$1" "/pdns/query/$2" | grep -c rrname; }
# A's worker holds all six tuples before the partner exists: the thresholds read them
wait_until 60 eval '[ "$(ntuples a "*.mix.test")" = 5 ] && [ "$(ntuples a 4.3.2.10.in-addr.arpa)" = 1 ]' ||
	fail "A holds $(ntuples a "*.mix.test") + $(ntuples a 4.3.2.10.in-addr.arpa) tuples, expected 5 + 1"
log "A holds the six tuples"

fed_partner a b b --direction push --file <(
	cat <<'EOF'
{"outbound": {"pdns": {"enabled": true, "max_tlp": "tlp:green",
              "mix": {"delay_s": 0, "min_sensors": 2, "min_count": 5, "coarsen_s": 3600}}}}
EOF
)
caught_up() { [ "$(fapi a /api/v1/partners/b/status | json "d['kinds']['pdns']['sender']['lag_records']")" = 0 ]; }
# ten observations decided and acknowledged
decided() { fapi a /api/v1/partners/b/status | json "sum(d['kinds']['pdns']['acknowledged']['decisions'].values())"; }
wait_until 60 eval '[ "$(decided)" = 10 ]' || fail "A decided $(decided) observations for B, expected 10"
wait_until 60 caught_up || fail "A -> B not caught up: $(fapi a /api/v1/partners/b/status)"
wait_until 60 eval '[ "$(ntuples b "*.mix.test")" = 2 ]' || fail "B holds $(ntuples b "*.mix.test") tuples, expected 2"

pool=$(fapi a /api/v1/partners/b/dry-run -X POST -H 'Content-Type: application/json' \
	-d '{"kind":"pdns","tlp":"tlp:clear","rrname":"x.mix.test.","rrtype":1,"rdata":"198.51.100.1","seen_count":5}' |
	json "d['mix']['pool_id']") || fail "dry run at A"
fapi b "/pdns/query/*.mix.test" >"$T_DIR/b.cof" || fail "B: pDNS query"
"$PY" - "$T_DIR/b.cof" "$pool" "$TF" "$TL" "${H_UUID[a]}" <<'PYEOF' || fail "B's tuples"
import json, sys
got = {t["rrname"].rstrip("."): t for t in map(json.loads, filter(str.strip, open(sys.argv[1])))}
pool, tf, tl, a_hub = sys.argv[2].replace("-", "").lower(), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].replace("-", "").lower()
want = {"both.mix.test": ("198.51.100.10", 2), "many.mix.test": ("198.51.100.12", 5)}
if set(got) != set(want):
    sys.exit("tuples: got %s, expected %s" % (sorted(got), sorted(want)))
for name, (rdata, count) in want.items():
    t = got[name]
    if t["rdata"] != rdata or t["count"] != count:
        sys.exit("%s: %s" % (name, t))
    if t["time_first"] != tf - tf % 3600 or t["time_last"] != tl - tl % 3600:
        sys.exit("%s: times not coarsened to the hour: %s" % (name, t))
    if (t.get("sensor_id") or "").replace("-", "").lower() != pool:
        sys.exit("%s: sensor %s, expected the pool id %s" % (name, t.get("sensor_id"), pool))
    if [o.replace("-", "").lower() for o in t.get("origin_hubs", [])] != [a_hub]:
        sys.exit("%s: origin %s" % (name, t))
PYEOF
assert_eq "$(ntuples b 4.3.2.10.in-addr.arpa)" 0 "the reverse name of a private address at B"
log "B holds exactly the two tuples above the thresholds, coarse, pooled"

# ---- A's decisions for B, per reason: status and /metrics
got=$(fapi a /api/v1/partners/b/status |
	json "' '.join('%s=%d' % (r, n) for r, n in sorted(d['kinds']['pdns']['acknowledged']['decisions'].items()) if n)")
# both.mix.test's first observation (one sensor so far) and one.mix.test are
# below the thresholds; the second sensor's observation of both.mix.test and
# many.mix.test go
assert_eq "$got" "mix-below-threshold=2 own-network=2 rdata-private=2 released=2 rrname-private=2" "A -> B decisions"
for rn in mix-below-threshold=2 own-network=2 rdata-private=2 released=2 rrname-private=2; do
	m=$(fmetric a "d4hub_federation_decisions_total\\{partner=\"b\",kind=\"pdns\",reason=\"${rn%=*}\"\\}")
	assert_eq "$m" "${rn#*=}" "/metrics: A -> B ${rn%=*}"
done
log "A counted every withholding with its reason"

# ---- the dry run at A explains the same decisions (A's own network from its configuration)
dry() { fctl a --json partner dry-run b --kind pdns --tlp tlp:clear "$@" | json "d['reason']"; }
assert_eq "$(dry --rrname own.mix.test --rrtype 1 --rdata 192.0.2.5 --seen-count 2 --seen-sensors 2)" own-network "dry run: own"
assert_eq "$(dry --rrname one.mix.test --rrtype 1 --rdata 198.51.100.11 --seen-count 1 --seen-sensors 1)" \
	mix-below-threshold "dry run: below"
assert_eq "$(dry --rrname 4.3.2.10.in-addr.arpa --rrtype 12 --rdata h.corp.mix.test --seen-count 2)" rrname-private \
	"dry run: reverse name"
assert_eq "$(dry --rrname many.mix.test --rrtype 1 --rdata 198.51.100.12 --seen-count 5 --seen-sensors 1)" released \
	"dry run: n reached"
log "mixing end to end: exact"
