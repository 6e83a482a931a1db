#!/usr/bin/env bash
# The data operations of the federation port against a real hub, curl
# playing partner hubs with certificates from deploy/mkpki.sh and batches
# made by d4-fed-batch (the hub's own encoder):
#  - POST /federation/v1/inbox/frames: a batch is stored (exact frame count
#    through the export API, with its provenance); the same batch again is a
#    duplicate (nothing stored twice); a batch that does not start at the
#    stored position is 409 with the stored position; a malformed batch is
#    400 and stores nothing; a kind the inbound rule does not accept, a batch
#    in another hub's name: 403; tlp:red and loop records are refused and
#    counted per reason while the rest of their batch is stored; a partner
#    over its quota gets 429 with Retry-After; a body over the cap 413;
#  - GET /federation/v1/pull/frames: a batch with x-d4hub-more, asking from
#    its end confirms it (acknowledged position); push-only partners 403;
#  - what operators see: GET /api/v1/partners/{name}/status and /metrics.
source "$(dirname "$0")/../lib.sh"

FEDBATCH=${D4FEDBATCH:?D4FEDBATCH (the d4-fed-batch tool) is not set}
t_conf
P=$T_PKI
B=$(gen_uuid) C=$(gen_uuid) D=$(gen_uuid) X=$(gen_uuid) ORIGIN=$(gen_uuid) SENSOR=$(gen_uuid)
"$MKPKI" "$P" hub self "$HUB_UUID" home || fail "mkpki self"
"$MKPKI" "$P" hub b "$B" ob || fail "mkpki b"
"$MKPKI" "$P" hub c "$C" oc || fail "mkpki c"
"$MKPKI" "$P" hub d "$D" od || fail "mkpki d"
printf '[federation]\nlisten = %s:0\ncert = pki/self.crt\nkey = pki/self.key\nca = pki/home-ca.crt\n' \
	"$T_ADDR" >>"$T_CONF"
# the connection guard's per-address cap applies to the federation port too (checked at the end)
sed -i 's/^\[api\]$/[api]\nmax_connections_per_addr = 4/' "$T_CONF"
grep -q '^max_connections_per_addr = 4$' "$T_CONF" || fail "no [api] section in $T_CONF to set the cap in"

# b: pushes frames (accepted) and pulls (direction both); pDNS not accepted.
# c: push only, a quota of 1 record per second. d: pDNS only.
inbound() { printf '{"inbound": {"kinds": [%s], "max_tlp": "tlp:amber", "records_per_s": %s}}\n' "$1" "$2"; }
inbound '"frames"' 0 >"$T_DIR/b.json"
inbound '"frames"' 1 >"$T_DIR/c.json"
inbound '"pdns"' 0 >"$T_DIR/d.json"
ctl partner add b --url "https://$T_ADDR:1" --relation partner --direction both --hub "$B" --org "$(gen_uuid)" \
	--ca "$P/ob-ca.crt" --file "$T_DIR/b.json" >/dev/null || fail "partner add b"
ctl partner add c --url "https://$T_ADDR:1" --relation partner --hub "$C" --org "$(gen_uuid)" \
	--ca "$P/oc-ca.crt" --file "$T_DIR/c.json" >/dev/null || fail "partner add c"
ctl partner add d --url "https://$T_ADDR:1" --relation partner --hub "$D" --org "$(gen_uuid)" \
	--ca "$P/od-ca.crt" --file "$T_DIR/d.json" >/dev/null || fail "partner add d"

hub_start
API=$(api_url)
FED=$(grep -o 'd4hub federation listening on https://[^ ]*/' "$T_LOG" | tail -n 1 | sed 's/.*listening on //; s:/$::')
[ -n "$FED" ] || fail "no 'd4hub federation listening on' line in the log"
health() { curl -sf --cacert "$P/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API"
ADMIN=$(ctl user add fed-admin --role admin) || fail "user add"
api() { curl -sS --cacert "$P/ca.crt" -H "Authorization: Bearer $ADMIN" "${@:2}" "$API$1"; }

# push NAME KIND FILE: "STATUS BODY" (headers in $T_DIR/hdr); HTTP=--http1.1 for HTTP/1.1
push() {
	: >"$T_DIR/out"
	local code
	code=$(curl -sS "${HTTP:---http2}" --max-time 30 --cacert "$P/home-ca.crt" --cert "$P/$1.crt" --key "$P/$1.key" \
		-H 'content-type: application/vnd.d4hub.batch' --data-binary "@$3" -D "$T_DIR/hdr" -o "$T_DIR/out" \
		-w '%{http_code}' "$FED/federation/v1/inbox/$2" 2>"$T_DIR/curl.err") || true
	echo "$code $(cat "$T_DIR/out")"
}
# expect WHAT STATUS PYEXPR-on-d OUT
expect() {
	[ "${4%% *}" = "$2" ] || fail "$1: expected $2, got: $4 ($(cat "$T_DIR/curl.err"))"
	[ -z "$3" ] || [ "$(echo "${4#* }" | json "$3")" = true ] || fail "$1: $3 is false for ${4#* }"
}
batch() { "$FEDBATCH" "$@" || fail "d4-fed-batch $*"; }

# received frames, through the export API (the sensor of the origin, type 254)
frames() { api "/api/v1/export?sensor=$SENSOR&type=254&format=ndjson" >"$T_DIR/export" || return 1; wc -l <"$T_DIR/export"; }
frames_are() { [ "$(frames)" = "$1" ]; }

rec() { echo "origin=$ORIGIN,via=$B,sensor=$SENSOR,type=254,session=7,size=$1"; }

# ---- stored, then the same batch again: a duplicate, nothing stored twice
batch frames "$B" - 0000000000000003 "$(rec 100)" "$(rec 200)" "$(rec 300)" >"$T_DIR/b1"
out=$(push b frames "$T_DIR/b1")
expect "first batch" 200 "d == {'result': 'stored', 'position': '0000000000000003', 'stored': 3, 'refused': {}}" "$out"
wait_until 20 frames_are 3 || fail "3 frames expected through the export, got $(frames)"
# the export says where they came from
head -n 1 "$T_DIR/export" | json "d['federation']['partner'] == 'b' and d['federation']['origin'] == '$(echo "$ORIGIN" | tr -d -)' and d['federation']['via'] == ['$(echo "$B" | tr -d -)']" |
	grep -qx true || fail "the exported frame does not carry its provenance: $(head -n 1 "$T_DIR/export")"
# the session listing of the origin's sensor (not registered here) says the same, in the spec's form
api "/api/v1/sensors/$SENSOR/sessions" >"$T_DIR/sessions" || fail "session list"
"$PY" -c '
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
v = lambda name, inst: jsonschema.Draft202012Validator(dict(doc, **{"$ref": "#/components/schemas/" + name})).validate(inst)
lst = json.load(open(sys.argv[2]))
v("SessionList", lst)
for line in open(sys.argv[3]):
    v("FrameRecord", json.loads(line))
assert [s["federation"]["partner"] for s in lst["items"]] == ["b"], lst
assert sum(s["frames"] for s in lst["items"]) == 3, lst
assert lst["items"][0]["federation"]["origin"] == sys.argv[4].replace("-", ""), lst
' "$(dirname "$0")/../../../openapi/d4hub.yaml" "$T_DIR/sessions" "$T_DIR/export" "$ORIGIN" ||
	fail "session list / exported frames: $(cat "$T_DIR/sessions")"
assert_eq "$(api "/api/v1/sensors/$(gen_uuid)/sessions" -o /dev/null -w '%{http_code}')" 404 "sessions of a sensor no one knows"
out=$(push b frames "$T_DIR/b1")
expect "the same batch again" 200 "d['result'] == 'duplicate' and d['stored'] == 0 and d['position'] == '0000000000000003'" "$out"
out=$(HTTP=--http1.1 push b frames "$T_DIR/b1")
expect "the same batch again, over HTTP/1.1" 200 "d['result'] == 'duplicate' and d['stored'] == 0" "$out"

# ---- a batch that does not start at the stored position: 409 with it
batch frames "$B" 0000000000000009 000000000000000a "$(rec 10)" >"$T_DIR/gap"
out=$(push b frames "$T_DIR/gap")
expect "position mismatch" 409 "d['result'] == 'position-mismatch' and d['position'] == '0000000000000003'" "$out"

# ---- malformed: the next batch cut short, then whole
batch frames "$B" 0000000000000003 0000000000000005 "$(rec 400)" "$(rec 500)" >"$T_DIR/b2"
head -c $(($(stat -c %s "$T_DIR/b2") - 7)) "$T_DIR/b2" >"$T_DIR/b2cut"
out=$(push b frames "$T_DIR/b2cut")
expect "malformed batch" 400 "d['type'].endswith('/malformed')" "$out"
out=$(push b frames "$T_DIR/b2")
expect "the batch whole" 200 "d['result'] == 'stored' and d['stored'] == 2" "$out"

# ---- refused whole: a kind not accepted, another hub's name
batch pdns "$B" - 01 "origin=$ORIGIN,via=$B" >"$T_DIR/pdns"
out=$(push b pdns "$T_DIR/pdns")
expect "pdns from b" 403 "d['type'].endswith('/kind-not-accepted')" "$out"
batch frames "$X" - 01 "origin=$X,sensor=$SENSOR" >"$T_DIR/other"
out=$(push b frames "$T_DIR/other")
expect "a batch in another hub's name" 403 "d['type'].endswith('/wrong-sender')" "$out"

# ---- red and loop records, a D4 type this hub does not accept (3): refused and counted, the rest stored
H=$HUB_UUID
batch frames "$B" 0000000000000005 0000000000000009 "$(rec 600),tlp=6" "origin=$H,via=$B,sensor=$SENSOR,type=254" \
	"origin=$ORIGIN,via=$H+$B,sensor=$SENSOR,type=254" "$(rec 700)" "$(rec 800),type=3" >"$T_DIR/b3"
out=$(push b frames "$T_DIR/b3")
expect "red, loops, a type not accepted" 200 "d['stored'] == 1 and d['refused'] == {'tlp-red': 1, 'loop': 2, 'type-not-accepted': 1}" "$out"
wait_until 20 frames_are 6 || fail "6 frames expected through the export, got $(frames)"

# ---- over the cap: 413 before the body is read
head -c $((5 * 1024 * 1024)) /dev/zero >"$T_DIR/huge"
out=$(push b frames "$T_DIR/huge")
expect "5 MiB body" 413 "d['type'].endswith('/too-large')" "$out"
out=$(HTTP=--http1.1 push b frames "$T_DIR/huge")
expect "5 MiB body over HTTP/1.1" 413 "d['type'].endswith('/too-large')" "$out"

# ---- quota: 1 record per second. A batch of 10 passes on the full bucket and leaves a debt of 9
# seconds: the next batch is refused unless 9 s pass between two requests (never, even loaded)
cr="origin=$C,sensor=$SENSOR"
batch frames "$C" - 01 "$cr" "$cr" "$cr" "$cr" "$cr" "$cr" "$cr" "$cr" "$cr" "$cr" >"$T_DIR/c1"
batch frames "$C" 01 02 "$cr" "$cr" >"$T_DIR/c2"
out=$(push c frames "$T_DIR/c1")
expect "c within its quota" 200 "d['stored'] == 10" "$out"
out=$(push c frames "$T_DIR/c2")
expect "c over its quota" 429 "d['type'].endswith('/quota-records')" "$out"
retry_after() { tr -d '\r' <"$T_DIR/hdr" | sed -n 's/^[Rr]etry-[Aa]fter: \([0-9]*\)$/\1/p'; }
RA=$(retry_after)
[ -n "$RA" ] && [ "$RA" -ge 1 ] && [ "$RA" -le 10 ] || fail "429 without a Retry-After of 1..10 s: '$RA'"
# as a sender does: again once Retry-After has passed; every 429 is counted, and so here
N429=1 NEXT=$(($(date +%s) + RA))
c_again() {
	[ "$(date +%s)" -ge "$NEXT" ] || return 1
	out=$(push c frames "$T_DIR/c2")
	if [ "${out%% *}" = 429 ]; then
		N429=$((N429 + 1)) NEXT=$(($(date +%s) + $(retry_after)))
		return 1
	fi
	[ "${out%% *}" = 200 ]
}
wait_until 40 c_again || fail "c's batch never passed after its Retry-After: $out"
wait_until 20 frames_are 18 || fail "18 frames expected through the export, got $(frames)"

# ---- pDNS tuples: stored, merged, and the COF answer names their origin hubs
batch pdns "$D" - 01 "origin=$ORIGIN,via=$D,rrname=fed.example.com.,rdata=192.0.2.7,count=5,first=1700000000,last=1700000100" \
	"origin=$D,rrname=fed.example.com.,rdata=192.0.2.7,count=2,first=1699999000,last=1700000050" \
	"origin=$D,rrname=fed.example.com.,rdata=192.0.2.8,tlp=6" >"$T_DIR/d1"
out=$(push d pdns "$T_DIR/d1")
expect "pdns from d" 200 "d['result'] == 'stored' and d['stored'] == 2 and d['refused'] == {'tlp-red': 1}" "$out"
pdns_q() { api "/pdns/query/fed.example.com" >"$T_DIR/pdns.out" && [ "$(wc -l <"$T_DIR/pdns.out")" = 1 ]; }
wait_until 20 pdns_q || fail "one pDNS tuple expected: $(cat "$T_DIR/pdns.out")"
hx() { echo "$1" | tr -d -; }
json "d['rdata'] == '192.0.2.7' and d['count'] == 7 and d['time_first'] == 1699999000 and d['time_last'] == 1700000100 and d['origin_hubs'] == sorted(['$(hx "$ORIGIN")', '$(hx "$D")'])" \
	<"$T_DIR/pdns.out" | grep -qx true || fail "the merged tuple and its origin hubs: $(cat "$T_DIR/pdns.out")"

# ---- pull: b pulls (direction both); c is push only
pull() {
	: >"$T_DIR/out"
	curl -sS --http2 --max-time 30 --cacert "$P/home-ca.crt" --cert "$P/$1.crt" --key "$P/$1.key" \
		-D "$T_DIR/hdr" -o "$T_DIR/out" -w '%{http_code}' "$FED/federation/v1/pull/frames${2:-}" 2>"$T_DIR/curl.err"
}
assert_eq "$(pull c)" 403 "pull by a push-only partner"
pull_k() { curl -sS --http2 --max-time 30 --cacert "$P/home-ca.crt" --cert "$P/b.crt" --key "$P/b.key" -o /dev/null \
	-w '%{http_code}' "$FED/federation/v1/pull/$1"; }
assert_eq "$(pull_k certs)" 200 "pull of certs (a batch, whatever the rule shares)"
assert_eq "$(pull_k nothing)" 404 "pull of no kind"
assert_eq "$(pull b)" 200 "pull by b"
grep -qi '^x-d4hub-more: [01]' "$T_DIR/hdr" || fail "pull without x-d4hub-more"
assert_eq "$(head -c 4 "$T_DIR/out")" D4FB "the pull answers a batch"
# the batch's `to`: magic 4, version 1, kind 1, sender 16, u16 + from, u16 + to, u32 records
TO=$("$PY" -c '
import sys
b = open(sys.argv[1], "rb").read()
fl = int.from_bytes(b[22:24], "big"); tl = int.from_bytes(b[24 + fl:26 + fl], "big")
print(b[26 + fl:26 + fl + tl].hex())' "$T_DIR/out")
[ -n "$TO" ] || fail "the pulled batch has no end position"
status() { api "/api/v1/partners/$1/status"; }
status b | json "d['kinds']['frames']['pending']['position'] == '$TO'" | grep -qx true ||
	fail "the pulled batch is not pending: $(status b)"
assert_eq "$(pull b "?from=$TO")" 200 "pull from the end of the batch served"
status b | json "d['kinds']['frames']['acknowledged']['position'] == '$TO' and d['kinds']['frames']['acknowledged']['last_ack'] is not None" |
	grep -qx true || fail "the pulled batch is not acknowledged: $(status b)"
assert_eq "$(pull b "?from=zz")" 400 "pull from a position that is not hex"

# ---- what operators see
st=$(status b)
echo "$st" | json "d['kinds']['frames']['received'] == dict(d['kinds']['frames']['received'], batches=3, records=6, duplicates=2, conflicts=1, refused={'tlp-red': 1, 'loop': 2, 'type-not-accepted': 1}, position='0000000000000009')" |
	grep -qx true || fail "status of b, received: $st"
echo "$st" | json "d['port']['refused'] == {'malformed': 1, 'kind-not-accepted': 1, 'wrong-sender': 1, 'too-large': 2}" |
	grep -qx true || fail "status of b, batches refused whole: $st"
# the answer is the spec's PartnerStatus
SPEC=$(dirname "$0")/../../../openapi/d4hub.yaml
echo "$st" | "$PY" -c '
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
root = dict(doc); root["$ref"] = "#/components/schemas/PartnerStatus"
jsonschema.Draft202012Validator(root).validate(json.load(sys.stdin))' "$SPEC" || fail "the status is not a PartnerStatus"
status c | json "d['port']['refused'] == {'quota-records': $N429, 'pull-not-allowed': 1} and d['kinds']['frames']['received']['records'] == 12" |
	grep -qx true || fail "status of c: $(status c)"
# d4hubctl reads the same from the store (the sender's live state is the hub's)
ctl partner status b >"$T_DIR/ctl.txt" || fail "partner status b"
grep -qF "received: 3 batches, 6 records, 2 duplicates, 1 position mismatches; refused tlp-red=1,loop=2,type-not-accepted=1" "$T_DIR/ctl.txt" ||
	fail "d4hubctl partner status b: $(cat "$T_DIR/ctl.txt")"
ctl --json partner status b >"$T_DIR/ctl.json" || fail "partner status b --json"
echo "$st" >"$T_DIR/api.json"
"$PY" -c '
import json, sys
local, api = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k, v in local["kinds"].items():
    assert v["received"] == api["kinds"][k]["received"] and v["acknowledged"] == api["kinds"][k]["acknowledged"], k
' "$T_DIR/ctl.json" "$T_DIR/api.json" || fail "d4hubctl --json partner status b differs from the API: $(cat "$T_DIR/ctl.json")"
api /metrics >"$T_DIR/metrics" || fail "metrics"
for m in 'd4hub_federation_received_records_total{partner="b",kind="frames"} 6' \
	'd4hub_federation_refused_records_total{partner="b",kind="frames",reason="tlp-red"} 1' \
	'd4hub_federation_refused_records_total{partner="b",kind="frames",reason="loop"} 2' \
	'd4hub_federation_received_batches_total{partner="b",kind="frames",result="duplicate"} 2' \
	'd4hub_federation_batches_refused_total{partner="b",reason="malformed"} 1' \
	'd4hub_federation_batches_refused_total{partner="c",reason="quota-records"} '"$N429"; do
	grep -qxF "$m" "$T_DIR/metrics" || fail "/metrics lacks: $m"
done
grep -q 'federation: batch from partner b refused: malformed' "$T_LOG" || fail "no log line for the malformed batch"

# ---- the sending side's counters: a partner in this hub's own name gets nothing (loop-origin,
# a hard rule); the sender commits such batches without a request, decisions and all
printf '{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:amber"}}}\n' >"$T_DIR/me.json"
ctl partner add me --url "https://$T_ADDR:1" --relation same-org --hub "$HUB_UUID" --org "$HUB_ORG" \
	--ca "$P/home-ca.crt" --file "$T_DIR/me.json" >/dev/null || fail "partner add me"
decided() {
	status me | json "d['kinds']['frames']['acknowledged']['decisions'] == {'loop-origin': 18} and d['kinds']['frames']['acknowledged']['records'] == 0 and d['kinds']['frames']['sender']['lag_records'] == 0" |
		grep -qx true
}
wait_until 30 decided || fail "the 18 frames of the log decided for partner me: $(status me)"
api /metrics >"$T_DIR/metrics" || fail "metrics"
grep -qxF 'd4hub_federation_decisions_total{partner="me",kind="frames",reason="loop-origin"} 18' "$T_DIR/metrics" ||
	fail "/metrics lacks the decisions for me"

# ---- the connection guard in front of the port: 4 connections per address; a 5th is closed at
# accept (before TLS), counted, and the port serves again once one of the 4 is gone
"$PY" - "$FED" "$P" >"$T_DIR/conns.out" 2>&1 <<'PYEOF' || fail "connection cap: $(cat "$T_DIR/conns.out")"
import socket, ssl, sys
host, port = sys.argv[1].replace("https://", "").rsplit(":", 1)
pki = sys.argv[2]
ctx = ssl.create_default_context(cafile=pki + "/home-ca.crt")
ctx.check_hostname = False
ctx.load_cert_chain(pki + "/b.crt", pki + "/b.key")
ctx.set_alpn_protocols(["h2"])
def connect():
    s = socket.create_connection((host, int(port)), timeout=20)
    return ctx.wrap_socket(s)
held = [connect() for _ in range(4)]
try:
    fifth = connect()
    # TLS 1.3: the client may finish before the server closed; a read tells
    fifth.settimeout(20)
    got = fifth.recv(1)
    if got and got != b"":
        # h2o's SETTINGS frame would mean the connection was served
        sys.exit("the 5th connection was served")
except (ssl.SSLError, ConnectionError, OSError):
    pass
print("held 4, the 5th refused")
for h in held:
    h.close()
PYEOF
limit_hit() { api /metrics >"$T_DIR/metrics" && grep -qxF 'd4hub_federation_limit_hits_total{limit="conn_per_addr"} 1' "$T_DIR/metrics"; }
wait_until 20 limit_hit || fail "the 5th connection not counted: $(grep limit_hits "$T_DIR/metrics")"
# (b1 is an old batch by now: the answer is the stored position)
served_again() { out=$(push b frames "$T_DIR/b1"); [ "${out%% *}" = 409 ]; }
wait_until 20 served_again || fail "the port does not serve again after the 4 closed: $out"

hub_stop || fail "the hub did not stop cleanly"
pass
