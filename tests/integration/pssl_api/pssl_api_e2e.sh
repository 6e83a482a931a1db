#!/usr/bin/env bash
# Passive SSL end to end: `d4-sensor --extract tls -r` of the fixture
# capture (tests/data/tls/openssl-lo.pcap) sends ja3-jl lines to a real
# d4hub, whose consumer stores them; the CIRCL-compatible /v2pssl answers
# and the pivots then hold exactly the capture's certificates and handshakes
# as d4-tls and the openssl command see them (SHA-1, PEM, subject, public
# key), over curl --http2.
# Address 127.0.0.7 (ports picked at run time by lib.sh).
# Env: as lib.sh, plus D4TLS (d4-tls).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.7}
source "$(dirname "$0")/../lib.sh"

: "${D4TLS:?D4TLS not set}"
PCAP=$D4_TEST_DATA/tls/openssl-lo.pcap
[ -f "$PCAP" ] || fail "$PCAP missing"

# what d4-tls finds, and what the openssl command says of each certificate
"$D4TLS" -q "$PCAP" >"$T_DIR/d4tls.jsonl" 2>"$T_DIR/d4tls.err" || fail "d4-tls exited $?"
mkdir -p "$T_DIR/certs"
"$PY" - "$T_DIR/d4tls.jsonl" "$T_DIR/certs" <<'EOF2' || fail "certificates of the capture"
import base64, hashlib, json, sys
out = sys.argv[2]
for l in open(sys.argv[1]):
    for c in json.loads(l).get("certificates", []):
        der = base64.b64decode(c)
        open("%s/%s.der" % (out, hashlib.sha1(der).hexdigest()), "wb").write(der)
EOF2
NC=0
for f in "$T_DIR"/certs/*.der; do
	b=${f%.der}
	openssl x509 -inform DER -in "$f" -outform PEM -out "$b.pem" || fail "openssl: $f"
	openssl x509 -inform DER -in "$f" -noout -pubkey >"$b.pub" || fail "openssl: $f pubkey"
	openssl x509 -inform DER -in "$f" -noout -subject -nameopt RFC2253 | sed 's/^subject=//' >"$b.subject"
	NC=$((NC + 1))
done
[ "$NC" -ge 2 ] || fail "the capture has $NC certificates"
N=$(wc -l <"$T_DIR/d4tls.jsonl")

t_conf
hub_start
API=$(api_url)
USER=$(ctl user add pssl-user --role user) || fail "user add user"
info() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $USER" "$API/api/v1/pssl/info" |
		json "$1"
}
info_is() { [ "$(info "$1")" = "$2" ]; }
sensor_new
sensor_run -u "$SENSOR_UUID" -k "$SENSOR_KEY" --extract tls -r "$PCAP" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor --extract tls exited $?"
wait_for 60 "the capture's $N handshakes stored" info_is "d['ingest']['handshakes_lines']" "$N"

"$PY" - "$T_DIR/d4tls.jsonl" "$T_DIR/certs" "$API" "$T_PKI/ca.crt" "$USER" <<'EOF2' || fail "answers differ (above)"
import base64, hashlib, json, os, subprocess, sys
lines, cdir, api, ca, token = sys.argv[1:]
hs = [json.loads(l) for l in open(lines)]
fails = []
def ok(c, m):
    if not c:
        fails.append(m)
        print("FAIL: " + m, file=sys.stderr)
def get(path):
    r = subprocess.run(["curl", "-s", "--http2", "--cacert", ca, "-H", "Authorization: Bearer " + token,
                        "-w", "\n%{http_code} %{http_version}", api + path], capture_output=True, text=True)
    body, _, tail = r.stdout.rpartition("\n")
    code, version = tail.split()
    ok(version == "2", f"{path}: HTTP/{version}")
    ok(code == "200", f"{path}: {code} {body[:200]}")
    return json.loads(body) if code == "200" else None
def sha1(c):
    return hashlib.sha1(base64.b64decode(c)).hexdigest()
def oneline(rfc2253):
    rdns, cur, esc = [], "", False
    for ch in rfc2253:
        if esc:
            cur += ch; esc = False
        elif ch == "\\":
            cur += ch; esc = True
        elif ch == ",":
            rdns.append(cur); cur = ""
        else:
            cur += ch
    rdns.append(cur)
    return ", ".join(reversed(rdns))
rd = lambda s, ext: open(os.path.join(cdir, s + ext)).read()
certs = sorted({sha1(c) for h in hs for c in h.get("certificates", [])})
# /v2pssl/query: the one server address, every certificate it served, their subjects
d = get("/v2pssl/query/127.0.0.1")
if d is not None:
    ok(list(d) == ["127.0.0.1"], f"query: addresses {list(d)}")
    e = d.get("127.0.0.1", {})
    ok(sorted(e.get("certificates", [])) == certs, f"query: certificates {e.get('certificates')} != {certs}")
    ok(e.get("subjects") == {s: {"values": [oneline(rd(s, ".subject").strip())]} for s in certs},
       f"query: subjects {e.get('subjects')}")
d = get("/v2pssl/query/127.0.0.0/23")
ok(d is not None and sorted(d.get("127.0.0.1", {}).get("certificates", [])) == certs, f"query /23: {d}")
for s in certs:
    d = get("/v2pssl/cquery/" + s)
    ok(d == {"certificate": s, "seen": ["127.0.0.1"], "hits": 1}, f"cquery {s}: {d}")
    d = get("/v2pssl/cfetch/" + s)
    if d is None:
        continue
    ok(d["pem"] == rd(s, ".pem"), f"cfetch {s}: pem")
    ok(d["info"]["fingerprint"] == s.upper(), f"cfetch {s}: fingerprint")
    ok(d["info"]["key"] == rd(s, ".pub"), f"cfetch {s}: key")
    ok(d["info"]["subject"] == oneline(rd(s, ".subject").strip()), f"cfetch {s}: subject {d['info']['subject']}")
    served = sum(1 for h in hs if h.get("certificates") and sha1(h["certificates"][0]) == s)
    ok(d["d4"]["times_seen"] == served, f"cfetch {s}: times_seen {d['d4']['times_seen']} != {served}")
# the pivots: every handshake's JA3 and SNI find its tuple
for h in hs:
    t = get("/api/v1/pssl/tuples?ja3=" + h["ja3_md5"])
    want = {(x["server_port"], (x.get("sni") or "").lower() or None, sha1(x["certificates"][0]) if x.get("certificates") else None)
            for x in hs if x["ja3_md5"] == h["ja3_md5"]}
    got = {(x["server_port"], x["sni"], x["cert"]) for x in t["items"]} if t else set()
    ok(got == want, f"tuples ja3 {h['ja3_md5']}: {got} != {want}")
    ok(all(x["ja3s"] in {y.get("ja3s_md5") for y in hs} for x in t["items"]) if t else False, "ja3s of the tuples")
for sni in sorted({h["sni"] for h in hs if h.get("sni")}):
    t = get("/api/v1/pssl/tuples?sni=" + sni)
    ok(t is not None and len(t["items"]) == len({(x["server_port"], x["ja3_md5"]) for x in hs if x.get("sni") == sni}),
       f"tuples sni {sni}: {t and len(t['items'])}")
    c = get("/api/v1/pssl/certs?name=" + sni)
    want = sorted({sha1(x["certificates"][0]) for x in hs if x.get("sni") == sni and x.get("certificates")})
    ok(c is not None and sorted(x["sha1"] for x in c["items"]) == want, f"certs name {sni}: {c}")
print(f"# {len(hs)} handshakes, {len(certs)} certificates, {len(fails)} failures")
sys.exit(1 if fails else 0)
EOF2
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "d4-sensor --extract tls -> d4hub -> /v2pssl and the pivots: the capture's certificates and handshakes"
