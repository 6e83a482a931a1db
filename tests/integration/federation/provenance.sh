#!/usr/bin/env bash
# Signed provenance across a relay (docs/federation.md "Signed provenance").
# Three organisations: A pushes frames to B and lets B pass them on
# (onward); B relays to C (allow_relay). B and C require signatures
# (must_sign) and know the keys: B has A's, C has B's and A's (A is a
# partner record at C that exchanges nothing and only names A's key).
#  1. A's stream arrives at C through B, each frame verified at C as A's
#     (origin A, via B), nothing refused anywhere.
#  2. A withdraws its consent (onward off): B stores the next stream and
#     refuses to pass it on (origin-no-onward), C gets none of it.
#  3. C is told a wrong key for A: A's next stream, relayed by B, is refused
#     at C frame by frame (bad-signature): the signatures really are checked.
#  4. B plays a forger: a batch of records that claim A as origin, under
#     seals B signed with its own key (and one with a per-record signature
#     of a version 1 batch by B), posted with B's certificate to C's inbox:
#     refused (bad-signature), an unsigned one too (unsigned), while B's
#     own sealed record and a record of A with A's version 1 signature (what
#     a hub that relays may still hold from before seals) in the same batch
#     are stored. Counts are exact.
#  5. Backscatter vectors go the same way: A's vectors reach C through B with
#     A as origin, verified (a relayed vector keeps A's signature at B).
source "$(dirname "$0")/fedlib.sh"

FEDBATCH=${D4FEDBATCH:?D4FEDBATCH (the d4-fed-batch tool) is not set}
BSVEC=${D4BSVEC:?D4BSVEC (the d4-bs-vec tool) is not set}

fed_hub a 127.0.0.2 org1
fed_hub b 127.0.0.3 org2
fed_hub c 127.0.0.4 org3
fed_start a
fed_start b
fed_start c
KA=$(fctl a partner key) && KB=$(fctl b partner key) && KC=$(fctl c partner key) || fail "partner key"
for k in "$KA" "$KB" "$KC"; do [[ $k =~ ^[A-Za-z0-9+/]{43}=$ ]] || fail "not a base64 Ed25519 key: $k"; done
[ "$KA" != "$KB" ] && [ "$KB" != "$KC" ] && [ "$KA" != "$KC" ] || fail "two hubs have the same key"
# kept in the store: the same after a restart
fed_stop c
fed_start c
assert_eq "$(fctl c partner key)" "$KC" "C's key after a restart"
# the API says the same (and d4hubctl through it)
assert_eq "$(fapi a /api/v1/federation/identity | json "[d['hub_uuid'], d['pubkey']]")" "[\"${H_UUID[a]//-/}\", \"$KA\"]" \
	"A's federation identity (API)"
assert_eq "$(D4HUB_TOKEN=${H_TOKEN[a]} "$D4HUBCTL" -H "$(api_of a)" --cacert "$T_PKI/ca.crt" partner key)" "$KA" \
	"A's key through d4hubctl -H"

fed_partner b a a --direction push --file <(echo "{\"pubkey\": \"$KA\", \"must_sign\": true,
	\"inbound\": {\"kinds\": [\"frames\", \"backscatter\"], \"max_tlp\": \"tlp:green\"}}")
fed_partner c b b --direction push --file <(echo "{\"pubkey\": \"$KB\", \"must_sign\": true,
	\"inbound\": {\"kinds\": [\"frames\", \"backscatter\"], \"max_tlp\": \"tlp:green\"}}")
fed_partner c a a --direction push --file <(echo "{\"pubkey\": \"$KA\", \"must_sign\": true}")
fed_partner b c c --direction push --file <(echo '{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:green", "allow_relay": true},
	"backscatter": {"enabled": true, "max_tlp": "tlp:green", "allow_relay": true}}}')
fed_partner a b b --direction push --file <(echo "{\"pubkey\": \"$KB\", \"onward\": true,
	\"outbound\": {\"frames\": {\"enabled\": true, \"max_tlp\": \"tlp:green\"},
	\"backscatter\": {\"enabled\": true, \"max_tlp\": \"tlp:green\"}}}")
assert_eq "$(fapi b /api/v1/partners/a | json "[d['pubkey'], d['must_sign'], d['onward']]")" "[\"$KA\", true, false]" \
	"B's record of A (API)"
# the federation port's hello answers the hub's key
hello=$(curl -sS --http2 --max-time 30 --cacert "$T_PKI/org2-ca.crt" --cert "$T_PKI/a.crt" --key "$T_PKI/a.key" \
	"$(fed_url b)/federation/v1/hello") || fail "hello"
assert_eq "$(echo "$hello" | json "d['pubkey']")" "$KB" "B's hello: pubkey"

A=${H_UUID[a]//-/}
B=${H_UUID[b]//-/}
# sensor_frames HUB UUID: frames of sensor UUID stored at HUB
sensor_frames() { fctl "$1" --json sessions "$2" | json "sum(s['frames'] for s in d)"; }
sensor_frames_is() { [ "$(sensor_frames "$1" "$2")" = "$3" ]; }
refused() { # HUB PARTNER REASON: records from PARTNER refused with REASON (frames)
	fapi "$1" "/api/v1/partners/$2/status" | json "d['kinds']['frames']['received']['refused'].get('$3', 0)"
}
refused_total() { fapi "$1" "/api/v1/partners/$2/status" | json "sum(d['kinds']['frames']['received']['refused'].values())"; }
acked() { # HUB PARTNER REASON: acknowledged egress decisions of HUB to PARTNER
	fapi "$1" "/api/v1/partners/$2/status" | json "d['kinds']['frames']['acknowledged']['decisions'].get('$3', 0)"
}
caught_up() { [ "$(fapi "$1" "/api/v1/partners/$2/status" | json "d['kinds']['frames']['sender']['lag_records']")" = 0 ]; }
stream() { # NAME N: a stream of N green frames from a new sensor at A; S_NAME = its uuid
	fsensor a
	printf -v "S_$1" '%s' "$SENSOR_UUID"
	bulk_script "$SENSOR_UUID" "$SENSOR_KEY" 0 "$2" 512 >"$T_DIR/$1"
	fcraft a <"$T_DIR/$1" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft ($1)"
	wait_until 60 stream_stored a "$SENSOR_UUID" $(($2 + 1)) || fail "A: stream $1 not stored"
}

# ---- 1. A -> B -> C, verified at C as A's
stream one 40
wait_until 90 sensor_frames_is c "$S_one" 41 || fail "C holds $(sensor_frames c "$S_one") of stream one's 41 frames"
wait_until 60 caught_up b c || fail "B -> c not caught up"
assert_eq "$(sensor_frames b "$S_one")" 41 "stream one at B"
assert_eq "$(sensor_frames c "$S_one")" 41 "stream one at C"
assert_eq "$(refused_total b a)" 0 "records refused at B"
assert_eq "$(refused_total c b)" 0 "records refused at C"
fapi c "/api/v1/export?sensor=$S_one&type=254&format=ndjson" >"$T_DIR/export" || fail "export at C"
"$PY" - "$T_DIR/export" "$A" "$B" <<'PYEOF' || fail "C's frames of stream one do not name A as origin through B"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 40, len(lines)
for f in lines:
    fed = f["federation"]
    assert fed["partner"] == "b" and fed["origin"] == sys.argv[2] and fed["via"] == [sys.argv[3]], fed
PYEOF
assert_eq "$(acked b c released)" 41 "B's decisions to c: released"

# ---- 2. A withdraws its consent: B keeps the next stream for itself
fed_stop a
fctl a partner set b --file <(echo '{"onward": false}') >/dev/null || fail "partner set b (onward off)"
fed_start a
stream two 20
wait_until 60 sensor_frames_is b "$S_two" 21 || fail "B holds $(sensor_frames b "$S_two") of stream two's 21 frames"
wait_until 60 caught_up b c || fail "B -> c not caught up after stream two"
wait_until 30 eval '[ "$(acked b c origin-no-onward)" = 21 ]' || fail "B's origin-no-onward to c: $(acked b c origin-no-onward)"
assert_eq "$(sensor_frames c "$S_two")" 0 "stream two at C"
assert_eq "$(acked b c released)" 41 "B's decisions to c: released (unchanged)"

# ---- 3. a wrong key for A at C: every relayed frame of A refused
fctl c partner set a --file <(echo "{\"pubkey\": \"$KB\"}") >/dev/null || fail "partner set a (wrong key)"
fed_stop a
fctl a partner set b --file <(echo '{"onward": true}') >/dev/null || fail "partner set b (onward on)"
fed_start a
stream three 10
wait_until 60 sensor_frames_is b "$S_three" 11 || fail "B holds $(sensor_frames b "$S_three") of stream three's 11 frames"
wait_until 60 caught_up b c || fail "B -> c not caught up after stream three"
wait_until 30 eval '[ "$(refused c b bad-signature)" = 11 ]' || fail "C's bad-signature from b: $(refused c b bad-signature)"
assert_eq "$(refused_total c b)" 11 "records refused at C"
assert_eq "$(sensor_frames c "$S_three")" 0 "stream three at C"
assert_eq "$(acked b c released)" 52 "B's decisions to c: released (41 + 11, acknowledged; refused by C on receipt)"
fctl c partner set a --file <(echo "{\"pubkey\": \"$KA\"}") >/dev/null || fail "partner set a (right key)"

# ---- 4. B forges records of A with its own key
FORGED=$(gen_uuid)
OWN=$(gen_uuid)
LEGACY=$(gen_uuid)
pos=$(fapi c /api/v1/partners/b/status | json "d['kinds']['frames']['received']['position']")
[ -n "$pos" ] || fail "C has no position for b"
forged="origin=${H_UUID[a]},via=${H_UUID[b]},sensor=$FORGED,type=254,session=99,onward=1,signed=${H_DIR[b]}/store"
"$FEDBATCH" frames "${H_UUID[b]}" "$pos" "$pos" "$forged,size=10" "$forged,size=20" "$forged,size=30" \
	"origin=${H_UUID[a]},via=${H_UUID[b]},sensor=$FORGED,type=254,session=99,size=40" \
	"origin=${H_UUID[b]},sensor=$OWN,type=254,session=5,size=50,signed=${H_DIR[b]}/store" \
	"origin=${H_UUID[a]},via=${H_UUID[b]},sensor=$FORGED,type=254,session=99,size=60,sig1=${H_DIR[b]}/store" \
	"origin=${H_UUID[a]},via=${H_UUID[b]},sensor=$LEGACY,type=254,session=98,size=70,sig1=${H_DIR[a]}/store" \
	>"$T_DIR/forged" ||
	fail "d4-fed-batch (forged)"
code=$(curl -sS --http2 --max-time 30 --cacert "$T_PKI/org3-ca.crt" --cert "$T_PKI/b.crt" --key "$T_PKI/b.key" \
	-H 'content-type: application/vnd.d4hub.batch' --data-binary "@$T_DIR/forged" -o "$T_DIR/forged.out" \
	-w '%{http_code}' "$(fed_url c)/federation/v1/inbox/frames") || fail "curl (forged)"
assert_eq "$code" 200 "C's answer to the forged batch ($(cat "$T_DIR/forged.out"))"
assert_eq "$(json "[d['stored'], d['refused']]" <"$T_DIR/forged.out")" "[2, {\"bad-signature\": 4, \"unsigned\": 1}]" \
	"C's answer to the forged batch"
assert_eq "$(refused c b bad-signature)" 15 "C's bad-signature from b (11 + 4)"
assert_eq "$(refused c b unsigned)" 1 "C's unsigned from b"
wait_until 20 sensor_frames_is c "$OWN" 1 || fail "B's own sealed record not stored at C"
wait_until 20 sensor_frames_is c "$LEGACY" 1 || fail "A's record with its version 1 signature not stored at C"
assert_eq "$(sensor_frames c "$FORGED")" 0 "forged records at C"
fapi c /metrics | grep -qxF 'd4hub_federation_refused_records_total{partner="b",kind="frames",reason="bad-signature"} 15' ||
	fail "/metrics at C: bad-signature is not 15"

# ---- 5. backscatter vectors: A -> B -> C, A's signature kept at B
for i in 1 2 3; do echo "victim=192.0.2.$i kind=1 first=$((1700000000000000 + i)) packets=$((100 + i)) tlp=tlp:green"; done |
	"$BSVEC" "${H_DIR[a]}/store" put || fail "d4-bs-vec put at A"
echo "victim=192.0.2.9 kind=1 first=1700000000000009 packets=109 tlp=tlp:red" | "$BSVEC" "${H_DIR[a]}/store" put ||
	fail "d4-bs-vec put at A (red)"
vectors_at() { "$BSVEC" "${H_DIR[$1]}/store" dump; }
# dump: victim kind first state packets last tlp origin received stripped sender org nsensors nvia
c_holds() { [ "$(vectors_at c | awk -v a="$A" -v b="$B" '$8 == a && $9 == 1 && $11 == b && $14 == 1' | wc -l)" = 3 ]; }
wait_until 60 c_holds || fail "C holds [$(vectors_at c)], expected A's 3 vectors through B"
assert_eq "$(vectors_at c | wc -l)" 3 "vectors at C"
assert_eq "$(fapi c /api/v1/partners/b/status | json "sum(d['kinds']['backscatter']['received']['refused'].values())")" 0 \
	"vectors refused at C"

fed_stop a
fed_stop b
fed_stop c
pass
