#!/usr/bin/env bash
# Backscatter vectors as a federation kind, end to end, through three real
# hubs: A and B of organisation 1 (B a same-org partner of A, up to
# tlp:amber+strict; A pushes to it), C of organisation 2 (A's partner,
# maximum tlp:amber, amber NOT allowed; C fetches from A's pull endpoint). A's store holds one vector per TLP level (written
# with d4-bs-vec, the store's own d4_store_bs_apply, as the hub's consumer
# of type-1 frames does). Checked in B's and C's stores, vector by vector:
# exactly the rows of the policy table arrive (amber only to the same
# organisation, amber+strict only there, red never, ex:chr stripped of org,
# sensors and path), with A as origin and sender; ongoing vectors closed
# later at A replace their state in place at B and C (no duplicate); then
# 60,000 more vectors while B is killed (kill -9) in the middle of
# receiving them, restarted: B ends with every vector exactly once, and
# A's acknowledged decisions per partner and reason are exact (also in
# /metrics); the dry run explains a backscatter decision.
source "$(dirname "$0")/fedlib.sh"

[ -n "${D4BSVEC:-}" ] && [ -x "$D4BSVEC" ] || fail "D4BSVEC (tests/tools d4-bs-vec) is not set"

fed_hub a 127.0.0.2 org1
fed_hub b 127.0.0.3 org1
fed_hub c 127.0.0.4 org2
fed_start a
fed_start b
fed_start c

# receivers: B and C accept backscatter from A, B with a quota that spreads
# the large push below over several seconds
fed_partner b a a --direction push --file <(echo '{"inbound": {"kinds": ["backscatter"], "max_tlp": "tlp:amber+strict", "records_per_s": 15000}}')
fed_partner c a a --direction push --file <(echo '{"inbound": {"kinds": ["backscatter"], "max_tlp": "tlp:amber", "fetch": true}}')

hexu() { echo "${1//-/}"; }
A=$(hexu "${H_UUID[a]}")
ORG1=$(hexu "${H_ORG[a]}")
SENSOR=$(gen_uuid)
bsvec_put() { "$D4BSVEC" "${H_DIR[$1]}/store" put 2>>"$T_DIR/bsvec.err" || fail "d4-bs-vec put at $1: $(tail -n 2 "$T_DIR/bsvec.err")"; }
bsvec_dump() { "$D4BSVEC" "${H_DIR[$1]}/store" dump; }

# ---- A's vectors: label|put line|what B gets|what C gets (yes, stripped, or A's reason)
T0=1764000000000000
CASES=(
	"clear|victim=192.0.2.1 kind=1 tlp=tlp:clear packets=101|yes|yes"
	"green|victim=192.0.2.2 kind=2 tlp=tlp:green packets=102|yes|yes"
	"amber|victim=192.0.2.3 kind=3 tlp=tlp:amber packets=103|yes|amber-not-allowed"
	"strict|victim=192.0.2.4 kind=4 tlp=tlp:amber+strict packets=104|yes|amber-strict-other-org"
	"red|victim=192.0.2.5 kind=4 tlp=tlp:red packets=105|tlp-red|tlp-red"
	"exchr|victim=2001:db8::6 kind=9 tlp=tlp:ex:chr packets=106|stripped|stripped"
)
declare -A LINE
for c in "${CASES[@]}"; do
	IFS='|' read -r label line _ _ <<<"$c"
	LINE[$label]="$line first=$T0 org=${H_ORG[a]} sensor=$SENSOR"
done
for label in "${!LINE[@]}"; do echo "${LINE[$label]}"; done | bsvec_put a
assert_eq "$(bsvec_dump a | wc -l)" 6 "vectors at A"

# A's partners: b same-org (pushed to), c partner without amber (pulls)
fed_partner a b b --direction push --file <(echo '{"outbound": {"backscatter": {"enabled": true, "max_tlp": "tlp:amber+strict"}}}')
fed_partner a c c --direction pull --file <(echo '{"outbound": {"backscatter": {"enabled": true, "max_tlp": "tlp:amber"}}}')

# the dump line a receiver must hold for a vector of A (d4-bs-vec dump:
# victim kind first state packets last tlp origin received stripped sender
# org nsensors nvia): origin and sender A, A's org and one sensor; stripped:
# keyed under its sender, without org, sensors or path
expect_line() { # LABEL STATE PACKETS LAST HOW
	local victim kind tlp
	victim=$(sed 's/.*victim=\([^ ]*\).*/\1/' <<<"${LINE[$1]}")
	kind=$(sed 's/.* kind=\([^ ]*\).*/\1/' <<<"${LINE[$1]}")
	tlp=$(sed 's/.* tlp=\([^ ]*\).*/\1/' <<<"${LINE[$1]}")
	if [ "$5" = stripped ]; then
		echo "$victim $kind $T0 $2 $3 $4 $tlp $A 1 1 $A - 0 0"
	else
		echo "$victim $kind $T0 $2 $3 $4 $tlp $A 1 0 $A $ORG1 1 0"
	fi
}
expected() { # HUB(b|c) [updated]
	local c label how col=3
	[ "$1" = c ] && col=4
	for c in "${CASES[@]}"; do
		label=$(cut -d'|' -f1 <<<"$c")
		how=$(cut -d'|' -f"$col" <<<"$c")
		case $how in yes | stripped) ;; *) continue ;; esac
		local n state=1 last=$((T0 + 60000000))
		n=$(sed 's/.*packets=\([0-9]*\).*/\1/' <<<"${LINE[$label]}")
		if [ "${2:-}" = updated ] && [[ $label =~ ^(clear|green|exchr)$ ]]; then
			state=2
			n=$((n + 50))
			last=$((T0 + 300000000))
		fi
		expect_line "$label" "$state" "$n" "$last" "$how"
	done | LC_ALL=C sort
}
holds() { [ "$(bsvec_dump "$1" | LC_ALL=C sort)" = "$2" ]; }
for h in b c; do
	want=$(expected "$h")
	wait_until 60 holds "$h" "$want" || fail "$h holds [$(bsvec_dump "$h")], expected [$want]"
done
log "B and C hold exactly the vectors the policy table allows"

# ---- ongoing -> closed at A: replaced in place at B and C (no duplicate)
for label in clear green exchr; do
	n=$(sed 's/.*packets=\([0-9]*\).*/\1/' <<<"${LINE[$label]}")
	echo "$(sed 's/packets=[0-9]*//' <<<"${LINE[$label]}") state=2 last=$((T0 + 300000000)) packets=$((n + 50))"
done | bsvec_put a
assert_eq "$(bsvec_dump a | wc -l)" 6 "vectors at A after the updates"
for h in b c; do
	want=$(expected "$h" updated)
	wait_until 60 holds "$h" "$want" || fail "$h after the updates holds [$(bsvec_dump "$h")], expected [$want]"
done
log "closed states replaced the ongoing ones at B and C"

# ---- the dry run explains a backscatter decision (locally and through the API)
dry() { fctl a --json partner dry-run c --kind backscatter "$@" | json "d['decision'] + ' ' + d['reason']"; }
assert_eq "$(dry --tlp tlp:amber)" "refuse amber-not-allowed" "dry run: amber vector to c"
assert_eq "$(dry --tlp tlp:ex:chr --org "${H_ORG[a]}")" "release-stripped ex-chr-stripped" "dry run: ex:chr vector to c"
assert_eq "$(fapi a /api/v1/partners/b/dry-run -X POST -H 'Content-Type: application/json' \
	-d '{"kind": "backscatter", "tlp": "tlp:amber+strict", "sensors": ["'"$SENSOR"'"]}' |
	json "d['decision'] + ' ' + d['reason'] + ' ' + str(len(d['provenance']['sensors']))")" "release released 1" \
	"API dry run: amber+strict vector to b"

# ---- 60,000 more vectors, B killed (kill -9) while it receives them
N=60000
"$PY" - "$N" "$T0" "${H_ORG[a]}" "$SENSOR" >"$T_DIR/many" <<'PYEOF'
import sys
n, t0, org, sensor = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
for i in range(n):
    print("victim=198.18.%d.%d kind=%d tlp=tlp:green packets=%d first=%d org=%s sensor=%s" %
          (i // 256, i % 256, 1 + i % 12, 30 + i % 97, t0 + i, org, sensor))
PYEOF
bsvec_put a <"$T_DIR/many"
count_between() { # HUB LO HI: LO < vectors < HI
	local n
	n=$(bsvec_dump "$1" | wc -l) || return 1
	[ "$n" -gt "$2" ] && [ "$n" -lt "$3" ]
}
wait_until 120 count_between b 5 $((N + 5)) || fail "B never held part of the push ($(bsvec_dump b | wc -l))"
fed_kill9 b
log "B killed holding $(bsvec_dump b | wc -l) of $((N + 5)) vectors"
fed_start b
count_is() { [ "$(bsvec_dump "$1" | wc -l)" = "$2" ]; }
wait_until 180 count_is b $((N + 5)) || fail "B holds $(bsvec_dump b | wc -l) vectors, expected $((N + 5))"
wait_until 120 count_is c $((N + 3)) || fail "C holds $(bsvec_dump c | wc -l) vectors, expected $((N + 3))"
acked() { [ "$(fapi a "/api/v1/partners/$1/status" | json "d['kinds']['backscatter']['sender']['lag_records']")" = 0 ]; }
wait_until 60 acked b || fail "A -> b not acknowledged to the end"

# every vector once, at its state: B's dump is A's (seen from B), exactly
many_expected() {
	"$PY" - "$T_DIR/many" "$A" "$ORG1" <<'PYEOF'
import sys
a, org = sys.argv[2], sys.argv[3]
for l in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in l.split())
    first, p = int(f["first"]), int(f["packets"])
    print("%s %s %d 1 %d %d tlp:green %s 1 0 %s %s 1 0" % (f["victim"], f["kind"], first, p, first + 60000000, a, a, org))
PYEOF
}
want=$({
	expected b updated
	many_expected
} | LC_ALL=C sort)
[ "$(bsvec_dump b | LC_ALL=C sort)" = "$want" ] || fail "B's vectors differ from what A sent ($(diff <(bsvec_dump b | LC_ALL=C sort) <(echo "$want") | head -n 6))"
want=$({
	expected c updated
	many_expected
} | LC_ALL=C sort)
[ "$(bsvec_dump c | LC_ALL=C sort)" = "$want" ] || fail "C's vectors differ from what A sent"
log "B (killed once) and C hold every vector exactly once"

# ---- A's acknowledged decisions per partner and reason, and /metrics
got_decisions() { # PARTNER
	fapi a "/api/v1/partners/$1/status" | json "' '.join('%s=%d' % (r, n) for r, n in sorted(d['kinds']['backscatter']['acknowledged']['decisions'].items()) if n)"
}
# b: 4 + 2 updates + N released, ex:chr twice (first and closed), red once
assert_eq "$(got_decisions b)" "ex-chr-stripped=2 released=$((N + 6)) tlp-red=1" "A -> b decisions"
# c pulls: A counts a served batch once C asks from its end (C asks again
# within a second or so when it has caught up)
want_c="amber-not-allowed=1 amber-strict-other-org=1 ex-chr-stripped=2 released=$((N + 4)) tlp-red=1"
wait_until 60 eval '[ "$(got_decisions c)" = "$want_c" ]' || fail "A -> c decisions: $(got_decisions c), expected $want_c"
# C stored each state it fetched once (3 allowed, 3 closed states, N)
assert_eq "$(fapi c /api/v1/partners/a/status | json "d['kinds']['backscatter']['received']['records']")" $((N + 6)) \
	"records stored at C (fetched)"
assert_eq "$(fmetric a 'd4hub_federation_decisions_total\{partner="c",kind="backscatter",reason="amber-not-allowed"\}')" 1 \
	"/metrics: A -> c amber-not-allowed"
assert_eq "$(fmetric a 'd4hub_federation_decisions_total\{partner="b",kind="backscatter",reason="released"\}')" $((N + 6)) \
	"/metrics: A -> b released"
# B stored each received state once (the first 5, 3 closed states, N), refused nothing
assert_eq "$(fapi b /api/v1/partners/a/status | json "d['kinds']['backscatter']['received']['records']")" $((N + 8)) \
	"records stored at B"
assert_eq "$(fapi b /api/v1/partners/a/status | json "sum(d['kinds']['backscatter']['received']['refused'].values())")" 0 \
	"records refused at B"
for h in a b c; do fed_stop "$h"; done
pass
