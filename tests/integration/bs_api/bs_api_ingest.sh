#!/usr/bin/env bash
# The backscatter API over vectors the hub derived itself: real d4-sensors send
# bs_gen.py captures as type 1, the hub's consumer (live mode) stores the
# vectors, and the API answers them. Sensor R (default TLP tlp:red) sends a
# capture; sensor A (tlp:amber) sends another one a day later (bs_gen
# --start), then a last packet closes every vector. As an admin the API lists
# both captures' vectors with bs_gen's exact figures (packets, bytes, ports,
# first, last, the sensor); as a user only sensor A's: R's are absent from
# lists, filters, summaries and 404 by id. No vector stays ongoing.
# Address 127.0.0.6; ports picked at run time by lib.sh.
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.6}
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
GEN="$PY $ROOT/tests/tools/bs_gen.py"

t_conf
# min_packets 30: every reportable vector has a minute of >= 30 (min_peak)
# packets, so this reports exactly what the defaults report
printf '[backscatter]\nenabled = yes\nlive = yes\nmin_packets = 30\n' >>"$T_CONF"
hub_start
API=$(api_url)
ADMIN=$(ctl user add bs-admin --role admin) || fail "user add admin"
USER=$(ctl user add bs-user --role user) || fail "user add user"
patch_tlp() {
	local code
	code=$(curl -s -o "$T_DIR/patch.out" -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" -X PATCH \
		-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
		-d "{\"default_tlp\":\"$2\"}" "$API/api/v1/sensors/$1")
	assert_eq "$code" 200 "PATCH default_tlp of $1: $(cat "$T_DIR/patch.out")"
}

$GEN --seed 7 --link eth --format pcap --out "$T_DIR/r.pcap" --expect "$T_DIR/r.json" || fail "bs_gen r"
# a day later, in the same position within the minute (peaks are per calendar minute)
start_a=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(min(v["first"] for v in d["vectors"])) + 86400)' "$T_DIR/r.json")
$GEN --seed 7 --link eth --format pcap --start "$start_a" --out "$T_DIR/a.pcap" --expect "$T_DIR/a.json" || fail "bs_gen a"
end=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(max(v["last"] for v in d["vectors"])) + 3600)' "$T_DIR/a.json")
# one ordinary UDP packet at $end: time passes, every vector closes
"$PY" - "$T_DIR/close.pcap" "$end" <<'PYEOF' || fail "closer"
import struct, sys
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([192, 0, 2, 1]), bytes([198, 18, 0, 1]))
pkt = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + struct.pack("!HHHH", 53, 53, 8, 0)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack("<IIII", int(sys.argv[2]), 0, len(pkt), len(pkt)) + pkt)
PYEOF

sensor_new
UR=$SENSOR_UUID KR=$SENSOR_KEY
sensor_new
UA=$SENSOR_UUID KA=$SENSOR_KEY
patch_tlp "$UR" tlp:red
patch_tlp "$UA" tlp:amber
hub_sync
sensor_run -u "$UR" -k "$KR" -t 1 -r "$T_DIR/r.pcap" 2>>"$T_DIR/sensor.log" || fail "d4-sensor (R) exited $?"
sensor_run -u "$UA" -k "$KA" -t 1 -r "$T_DIR/a.pcap" 2>>"$T_DIR/sensor.log" || fail "d4-sensor (A) exited $?"
sensor_run -u "$UA" -k "$KA" -t 1 -r "$T_DIR/close.pcap" 2>>"$T_DIR/sensor.log" || fail "d4-sensor (closer) exited $?"
# The consumer's lag is measured against the committed frame log: wait until
# the three sessions are closed in the store (their frames committed before
# their end), or a lag of 0 can be seen before the last frames exist there.
wait_for 60 "the sessions of both sensors closed" sessions_closed "$UR" 1
wait_for 60 "the sessions of both sensors closed" sessions_closed "$UA" 2

NR=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["vectors"]))' "$T_DIR/r.json")
NA=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["vectors"]))' "$T_DIR/a.json")
assert_ge "$NR" 10 "bs_gen vectors"
# the consumer has read every frame (its lag in /metrics is 0) and reported
# as many vectors as the API lists
metric() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN" "$API/metrics" |
		awk -v m="$1" '$1 == m { print $2 }'
}
listed() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $ADMIN" \
		"$API/api/v1/backscatter/vectors?format=ndjson&ongoing=false" | grep -c '"state":"closed"'
}
settled() {
	[ "$(metric d4hub_backscatter_lag_frames)" = 0 ] && [ "$(metric d4hub_backscatter_frames_read_total)" -gt 0 ] &&
		[ "$(listed)" = "$(metric d4hub_backscatter_vectors_reported_total)" ]
}
wait_until 120 settled || fail "the consumer did not settle: lag $(metric d4hub_backscatter_lag_frames), $(listed) listed"
log "$(listed) vectors listed, bs_gen expects $((NR + NA))"

"$PY" - "$API" "$T_PKI/ca.crt" "$ADMIN" "$USER" "$UR" "$UA" "$T_DIR/r.json" "$T_DIR/a.json" <<'PYEOF' ||
import datetime, http.client, json, ssl, sys, urllib.parse
api, ca, admin, user, ur, ua, rj, aj = sys.argv[1:]
u = urllib.parse.urlsplit(api)
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
tok = {"admin": admin, "user": user}
ur, ua = ur.replace("-", "").lower(), ua.replace("-", "").lower()
fails = []


def ok(c, m):
    if not c:
        fails.append(m)
        print("FAIL: " + m, file=sys.stderr)


def get(path, role, q=None):
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
    c.request("GET", path + ("?" + urllib.parse.urlencode(q) if q else ""),
              headers={"Authorization": "Bearer " + tok[role]})
    r = c.getresponse()
    b = r.read()
    c.close()
    return r.status, b


def walk(role, q):
    items, cur = [], None
    while True:
        qq = dict(q, limit=5)
        if cur:
            qq["cursor"] = cur
        st, b = get("/api/v1/backscatter/vectors", role, qq)
        ok(st == 200, f"{q} as {role}: {st}")
        d = json.loads(b)
        items += d["items"]
        cur = d["next_cursor"]
        if not cur:
            return items


def same(v, e, sensor, tlp):
    ports = {str(p["port"]): p["packets"] for p in v["ports"]}
    return (v["victim"] == e["victim"] and v["kind"] == e["kind"] and v["packets"] == e["packets"] and
            v["bytes"] == e["bytes"] and ports == {k: n for k, n in e["ports"].items()} and
            abs(v["first"] - e["first"]) < 1e-6 and abs(v["last"] - e["last"]) < 1e-6 and
            v["sensors"] == [sensor] and v["tlp"] == tlp and v["state"] == "closed" and v["origin"] is None)


exp = {ur: json.load(open(rj))["vectors"], ua: json.load(open(aj))["vectors"]}
tlps = {ur: "tlp:red", ua: "tlp:amber"}
for role in ("admin", "user"):
    for s in (ur, ua):
        got = walk(role, {"sensor": s})
        keys = [(v["victim"], v["kind"], v["first"]) for v in got]
        ok(len(keys) == len(set(keys)), f"sensor {s} as {role}: a vector twice")
        want = exp[s] if role == "admin" or s == ua else []
        ok(len(got) == len(want), f"sensor {s} as {role}: {len(got)} vectors, expected {len(want)}")
        for e in want:
            ok(sum(same(v, e, s, tlps[s]) for v in got) == 1, f"sensor {s} as {role}: {e} not found exactly once")
    # by victim and kind: every expected vector of a visible capture, by its own filters
    for e in exp[ua][:6]:
        got = walk(role, {"victim": e["victim"], "kind": e["kind"], "port": int(next(iter(e["ports"])))})
        ok(sum(same(v, e, ua, "tlp:amber") for v in got) == 1, f"victim {e['victim']} {e['kind']} as {role}")
    st, b = get("/api/v1/backscatter/vectors", role, {"ongoing": "true"})
    ok(json.loads(b)["items"] == [], f"ongoing vectors remain as {role}")
# red ones by id: 200 for the admin, 404 for the user
for v in walk("admin", {"sensor": ur})[:5]:
    ok(get(f"/api/v1/backscatter/vectors/{v['id']}", "admin")[0] == 200, "a red vector by id as admin")
    ok(get(f"/api/v1/backscatter/vectors/{v['id']}", "user")[0] == 404, "a red vector by id as user")
# summaries: R's day has nothing for the user
day = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).date().isoformat()
for s, role, n in ((ur, "admin", len(exp[ur])), (ur, "user", 0), (ua, "user", len(exp[ua]))):
    d0 = day(min(e["first"] for e in exp[s]))
    d1 = day(max(e["last"] for e in exp[s]))
    st, b = get("/api/v1/backscatter/summary", role, {"from": d0, "to": d1, "sensor": s})
    days = json.loads(b)["days"]
    pk = sum(e["packets"] for e in exp[s]) if n else 0
    ok(sum(d["packets"] for d in days) >= pk and max((d["vectors"] for d in days), default=0) <= n and
       (n == 0) == all(d["vectors"] == 0 for d in days), f"summary of {s} as {role}: {days}")
# counters: both sensors, admin only
st, b = get("/api/v1/backscatter/counters", "admin")
c = {x["sensor"]: x for x in json.loads(b)["sensors"]}
ok(ur in c and ua in c and c[ur]["backscatter"] >= sum(e["packets"] for e in exp[ur]), f"counters {c}")
ok(get("/api/v1/backscatter/counters", "user")[0] == 403, "counters as user")
sys.exit(1 if fails else 0)
PYEOF
	fail "API answers differ from bs_gen's vectors (above)"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "vectors derived by the hub from d4-sensor captures, exact in the API per role"
