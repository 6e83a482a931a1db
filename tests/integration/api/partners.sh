#!/usr/bin/env bash
# Federation partners end to end (ports picked at run time by lib.sh): a real
# d4hub with its API; partners made by d4hubctl on the store (-c) and through
# the API (-H), seen by both and by curl; the egress dry run for every row of
# the TLP table against a same-org hub and a partner of another org, asked
# locally (identity from the config) and through the API -- the two answers
# must be the same document; roles; changes; a restart keeps everything.
source "$(dirname "$0")/../lib.sh"

t_conf
hub_start
API=$(api_url)
health() { curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API"

ADMIN=$(ctl user add fed-admin --role admin) || fail "user add admin"
VIEWER=$(ctl user add fed-viewer --role user) || fail "user add user"
# remote d4hubctl: ROLE_TOKEN ARGS...
rctl() {
	local tok=$1
	shift
	D4HUB_TOKEN=$tok "$D4HUBCTL" -H "$API" --cacert "$T_PKI/ca.crt" "$@"
}
api_get() { curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN" "$API$1"; }

B_HUB=$(gen_uuid)
C_HUB=$(gen_uuid)
C_ORG=$(gen_uuid)
PIN=$(printf '%064d' 7)

cat >"$T_DIR/rules-b.json" <<'EOF'
{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:amber+strict", "types_allow": [8, 254]},
              "pdns": {"enabled": true, "max_tlp": "tlp:amber+strict"}},
 "inbound": {"kinds": ["frames", "pdns"], "max_tlp": "tlp:amber+strict"}}
EOF
cat >"$T_DIR/rules-c.json" <<'EOF'
{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:amber", "allow_amber": true, "types_allow": [8, 254]},
              "pdns": {"enabled": true, "max_tlp": "tlp:green", "zones_deny": ["corp.example"]}},
 "inbound": {"kinds": ["pdns"], "max_tlp": "tlp:green", "records_per_s": 1000, "bytes_per_day": 100000000}}
EOF

# ---- create: one on the store, one through the API
ctl partner add hub-b --url https://127.0.0.2:8444 --hub "$B_HUB" --org "$HUB_ORG" --relation same-org \
	--direction both --ca "$T_PKI/ca.crt" --file "$T_DIR/rules-b.json" || fail "local partner add"
rctl "$ADMIN" partner add hub-c --url https://127.0.0.4:8444/fed --hub "$C_HUB" --org "$C_ORG" --relation partner \
	--pin "$PIN" --file "$T_DIR/rules-c.json" >/dev/null || fail "remote partner add"
# refusals, both ways, with the member named
out=$(ctl partner add hub-x --url https://x --hub "$C_HUB" --org "$C_ORG" --relation partner 2>&1) &&
	fail "a partner without a trust anchor was accepted"
assert_contains "$out" "trust"
out=$(rctl "$ADMIN" partner add hub-x --url https://x --hub "$C_HUB" --org "$C_ORG" --relation partner --pin "$PIN" \
	--file <(echo '{"outbound": {"pdns": {"nets_allow": ["10.1.2.3/8"]}}}') 2>&1) &&
	fail "a network with host bits was accepted"
assert_contains "$out" "outbound.pdns.nets_allow[0]"
out=$(rctl "$ADMIN" partner add hub-b --url https://x --hub "$C_HUB" --org "$C_ORG" --relation partner \
	--pin "$PIN" 2>&1) && fail "an existing partner was created again"
assert_contains "$out" "409"
rctl "$VIEWER" partner list >/dev/null 2>&1 && fail "a user token listed partners"

# ---- both see both
names() { "$PY" -c 'import json,sys; print(",".join(p["name"] for p in json.load(sys.stdin)))'; }
assert_eq "$(ctl --json partner list | names)" "hub-b,hub-c" "local list"
assert_eq "$(rctl "$ADMIN" --json partner list | names)" "hub-b,hub-c" "remote list"
b=$(api_get /api/v1/partners/hub-b)
assert_eq "$(echo "$b" | json "d['relation'], d['has_ca'], d['org_uuid'], d['direction']")" \
	"[\"same-org\", true, \"$HUB_ORG\", \"both\"]" "hub-b as the API sees it"
assert_eq "$(echo "$b" | json "d['outbound']['frames']['types_allow']")" "[8, 254]" "hub-b's frames rule"
c=$(ctl partner show hub-c)
assert_eq "$(echo "$c" | json "d['spki_sha256'], d['inbound']['records_per_s'], d['outbound']['pdns']['zones_deny']")" \
	"[\"$PIN\", 1000, [\"corp.example\"]]" "hub-c as the store holds it"

# ---- the dry run, per TLP row: PARTNER ARGS -> "decision reason"; locally
# and through the API, which must give the same document.
dry() {
	local p=$1 l r
	shift
	l=$(ctl --json partner dry-run "$p" "$@") || fail "local dry-run $p $*"
	r=$(rctl "$ADMIN" --json partner dry-run "$p" "$@") || fail "remote dry-run $p $*"
	[ "$(echo "$l" | json 'd')" = "$(echo "$r" | json 'd')" ] || fail "dry-run $p $*: local $l, API $r"
	echo "$r" | json "d['decision'] + ' ' + d['reason']"
}
expect() {
	local want=$1 p=$2
	shift 2
	assert_eq "$(dry "$p" --kind frames --type 8 "$@")" "$want" "dry-run $p $*"
}
expect "refuse tlp-red" hub-b --tlp tlp:red
expect "refuse tlp-red" hub-c --tlp tlp:red
expect "refuse should-not-sync" hub-b --tlp tlp:clear --tags misp:should-not-sync
expect "refuse should-not-sync" hub-c --tlp tlp:green --should-not-sync
expect "release released" hub-b --tlp tlp:amber+strict
expect "refuse amber-strict-other-org" hub-c --tlp tlp:amber+strict
expect "release released" hub-b --tlp tlp:amber
expect "release released" hub-c --tlp tlp:amber
expect "release released" hub-b --tlp tlp:green
expect "release released" hub-c --tlp tlp:green
expect "release released" hub-c --tlp TLP:WHITE
expect "release released" hub-b --tlp tlp:unclear # the hub default: amber+strict
expect "refuse amber-strict-other-org" hub-c      # no level: the hub default
expect "release-stripped ex-chr-stripped" hub-c --tlp tlp:ex:chr --sensors "$(gen_uuid)" --org "$C_ORG"
expect "refuse type-filtered" hub-b --tlp tlp:clear --type 1
expect "refuse loop-origin" hub-c --tlp tlp:clear --origin "$C_HUB"
expect "refuse loop-via" hub-c --tlp tlp:clear --origin "$B_HUB" --via "$C_HUB"
expect "refuse relay-not-allowed" hub-c --tlp tlp:clear --origin "$B_HUB"
# stripped provenance: nothing of the source
prov=$(ctl --json partner dry-run hub-b --kind frames --type 8 --tlp tlp:ex:chr --sensors "$(gen_uuid)" |
	json 'd["provenance"]')
assert_eq "$prov" '{"stripped": true, "org": null, "origin": null, "sensors": [], "via": []}' "ex:chr provenance"
# a released record carries this hub as origin and its org
prov=$(ctl --json partner dry-run hub-b --kind frames --type 8 --tlp tlp:green | json 'd["provenance"]["origin"], d["provenance"]["org"]')
assert_eq "$prov" "[\"$HUB_UUID\", \"$HUB_ORG\"]" "released provenance"
assert_eq "$(dry hub-c --kind pdns --tlp tlp:green --rrname www.example.com --rrtype 1 --rdata 192.0.2.1)" \
	"release released" "public A record"
assert_eq "$(dry hub-c --kind pdns --tlp tlp:green --rrname www.example.com --rrtype 1 --rdata 10.0.0.1)" \
	"refuse rdata-private" "private A record"
assert_eq "$(dry hub-c --kind pdns --tlp tlp:green --rrname a.corp.example --rrtype 5 --rdata b.example)" \
	"refuse zone-filtered" "denied zone"
# amber is allowed per kind: hub-c's frames rule allows it, its pdns rule does not
assert_eq "$(dry hub-c --kind pdns --tlp tlp:amber --rrname www.example.com --rrtype 1 --rdata 192.0.2.1)" \
	"refuse amber-not-allowed" "amber pDNS to hub-c"
assert_eq "$(dry hub-c --kind pdns --tlp tlp:ex:chr --rrname www.example.com --rrtype 1 --rdata 192.0.2.1)" \
	"refuse above-max-tlp" "ex:chr pDNS above hub-c's pdns max_tlp (green)"
assert_eq "$(dry hub-c --kind certs --tlp tlp:clear)" "refuse kind-not-shared" "certs"
out=$(ctl partner dry-run hub-c --kind pdns --tlp tlp:green 2>&1) && fail "a pdns record without rrname was accepted"
assert_contains "$out" "rrname"
# text output names the reason and explains it
out=$(rctl "$ADMIN" partner dry-run hub-c --kind frames --type 8 --tlp tlp:amber+strict)
assert_contains "$out" "refuse (amber-strict-other-org)"
# ---- mixing (hub-c's pdns rule and backscatter rule mix): the dry run explains it, locally and
# through the API alike; the partner document shows the mix; a mix on frames is refused
rctl "$ADMIN" partner set hub-c --file <(echo '{"outbound": {"pdns": {"mix": {"min_count": 5}},
	"backscatter": {"enabled": true, "max_tlp": "tlp:green", "mix": {}}}}') >/dev/null || fail "set a mix"
assert_eq "$(api_get /api/v1/partners/hub-c | json "d['outbound']['pdns']['mix']")" \
	'{"enabled": true, "delay_s": 3600, "coarsen_s": 3600, "pool_sensors": true, "pool_id": null, "min_sensors": 2, "min_count": 5}' \
	"hub-c's pdns mix"
pub="--kind pdns --tlp tlp:green --rrname www.example.com --rrtype 1 --rdata 192.0.2.1"
assert_eq "$(dry hub-c $pub --seen-count 4 --seen-sensors 1)" "refuse mix-below-threshold" "below k and n"
assert_eq "$(dry hub-c $pub --seen-count 5 --seen-sensors 1)" "release released" "n reached"
assert_eq "$(dry hub-c $pub --seen-count 1 --seen-sensors 2)" "release released" "k reached"
m=$(rctl "$ADMIN" --json partner dry-run hub-c $pub --seen-count 5 --sensors "$(gen_uuid)")
pool=$(echo "$m" | json "d['mix']['pool_id']")
assert_eq "$(echo "$m" | json "d['provenance']['sensors'] == [d['mix']['pool_id']], d['mix']['delay_s'], d['mix']['seen_count']")" \
	"[true, 3600, 5]" "a mixed tuple carries the pool id"
[ "$pool" != null ] || fail "no pool id: $m"
assert_eq "$(dry hub-c --kind pdns --tlp tlp:green --rrname 4.3.2.10.in-addr.arpa --rrtype 12 --rdata h.corp. --seen-count 99)" \
	"refuse rrname-private" "reverse name of a private address"
assert_eq "$(dry hub-c --kind backscatter --tlp tlp:clear --packets 500 --duration 30)" "refuse mix-below-duration" \
	"a short vector"
assert_eq "$(dry hub-c --kind backscatter --tlp tlp:clear --packets 99 --duration 300)" "refuse mix-below-packets" \
	"a small vector"
assert_eq "$(dry hub-c --kind backscatter --tlp tlp:clear --packets 100 --duration 60)" "release released" \
	"a vector over both thresholds"
out=$(rctl "$ADMIN" partner dry-run hub-c $pub --seen-count 4)
assert_contains "$out" "refuse (mix-below-threshold)"
assert_contains "$out" "mix: withheld: mixing:"
assert_eq "$(dry hub-b $pub)" "release released" "hub-b does not mix"
assert_eq "$(ctl --json partner dry-run hub-b $pub | json "d['mix']")" "null" "no mix, mix null"
out=$(rctl "$ADMIN" partner set hub-c --file <(echo '{"outbound": {"frames": {"mix": {}}}}') 2>&1) &&
	fail "a mix on the frames rule was accepted"
assert_contains "$out" "outbound.frames.mix: only the pdns and backscatter rules mix"
rctl "$ADMIN" partner set hub-c --file <(echo '{"outbound": {"pdns": {"mix": {"enabled": false}},
	"backscatter": {"enabled": false}}}') >/dev/null || fail "mix off"
assert_eq "$(dry hub-c $pub --seen-count 1)" "release released" "mix off"

# a local dry run needs the hub's identity
"$D4HUBCTL" -s "$T_DIR/store" partner dry-run hub-c --tlp tlp:clear >/dev/null 2>&1 &&
	fail "a dry run without the hub's identity"

# ---- changes: remote disable, local re-enable; the other side sees each
rctl "$ADMIN" partner set hub-c --disable >/dev/null || fail "remote disable"
expect "refuse partner-disabled" hub-c --tlp tlp:clear
assert_eq "$(api_get /api/v1/partners/hub-c | json 'd["enabled"], d["outbound"]["pdns"]["zones_deny"]')" \
	'[false, ["corp.example"]]' "disable changed only enabled"
ctl partner set hub-c --enable --file <(echo '{"outbound": {"frames": {"allow_relay": true}}}') || fail "local set"
# relaying needs the origin's consent too (the signed onward flag the record arrived with)
expect "refuse origin-no-onward" hub-c --tlp tlp:clear --origin "$B_HUB"
expect "release released" hub-c --tlp tlp:clear --origin "$B_HUB" --onward
out=$(ctl partner set hub-c --relation friend 2>&1) && fail "an unknown relation was accepted"
assert_contains "$out" "relation"
# inbound.fetch: off by default; a remote PATCH of it alone keeps the rest of the inbound rule
assert_eq "$(api_get /api/v1/partners/hub-c | json 'd["inbound"]["fetch"]')" 'false' "fetch off by default"
rctl "$ADMIN" partner set hub-c --file <(echo '{"inbound": {"fetch": true}}') >/dev/null || fail "remote set fetch"
assert_eq "$(api_get /api/v1/partners/hub-c | json 'd["inbound"]["fetch"], d["inbound"]["records_per_s"]')" \
	'[true, 1000]' "fetch set, the quota kept"

# ---- a restart keeps the partners
hub_stop
hub_start
wait_until 30 health || fail "API not answering after the restart"
assert_eq "$(rctl "$ADMIN" --json partner list | names)" "hub-b,hub-c" "partners after a restart"
assert_eq "$(ctl partner show hub-c | json 'd["inbound"]["fetch"]')" 'true' "fetch kept across the restart"
expect "release released" hub-c --tlp tlp:clear --origin "$B_HUB" --onward

# ---- delete, both ways
rctl "$ADMIN" partner del hub-c || fail "remote del"
ctl partner del hub-b || fail "local del"
ctl partner del hub-b 2>/dev/null && fail "deleted twice"
assert_eq "$(api_get /api/v1/partners | json 'd["items"]')" "[]" "no partners left"
hub_stop
pass
