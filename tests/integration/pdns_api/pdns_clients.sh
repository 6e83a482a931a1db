#!/usr/bin/env bash
# pDNS answers as CIRCL's and DNSDB's clients read them, against a real d4hub
# over TLS (address 127.0.0.8, ports picked at run time by lib.sh):
#  * /pdns/query is never cut silently: without 'limit' the whole result is
#    streamed even past api.pdns_max_results; CIRCL's paging headers
#    (dribble-paginate-count / -cursor -> X-Dribble-Cursor) page through it
#    exactly as PyPDNS's iter_query does; dribble-filter-rrtype filters;
#  * MX and SRV in passivedns's name-only form are found by rdata-name
#    lookups (API and dnsdbq -n);
#  * rrset records group every tuple of one owner, type, bailiwick, times and
#    count, adjacent in the store or not;
#  * time_*_before=0 is the epoch, not "unset".
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.8}
source "$(dirname "$0")/../lib.sh"

[ -n "${D4PDNSLOAD:-}" ] && [ -x "$D4PDNSLOAD" ] || fail "\$D4PDNSLOAD is not set to tests/tools d4-pdns-load"
command -v dnsdbq >/dev/null || fail "dnsdbq is not installed (apt-get install dnsdbq)"
unshare -rm true 2>/dev/null || fail "unshare -rm (user + mount namespace) is not available"

t_conf api.pdns_max_results=10
"$PY" - "$T_DIR/dataset.tsv" <<'PYEOF' || fail "dataset"
import sys
T = 1700000000
with open(sys.argv[1], "w") as f:
    w = lambda *c: f.write("\t".join(str(x) for x in c) + "\n")
    # 37 A and 13 AAAA tuples below big.test: more than the cap of 10
    for i in range(37):
        w(f"h{i}.big.test.", 1, f"192.0.2.{i}", "big.test.", T + i, T + 100 + i, 1, "tlp:green", "-")
    for i in range(13):
        w(f"h{i}.big.test.", 28, f"2001:db8::{i:x}", "big.test.", T + i, T + 100 + i, 1, "tlp:green", "-")
    # passivedns CSV forms (target name only) and the capture forms
    for i in range(20):
        w(f"x{i}.mx.test.", 15, f"mail{i}.mx.test.", "-", T, T + 5, 2, "tlp:green", "-")
        w(f"_sip._tcp.x{i}.srv.test.", 33, f"sip{i}.srv.test.", "-", T, T + 5, 2, "tlp:green", "-")
        w(f"y{i}.mx.test.", 15, f"10 mail{i}.mx.test.", "-", T, T + 5, 2, "tlp:green", "-")
    # two rrsets of one owner and type: 5 + 5 A tuples (the cap of 10 counts
    # RRs), times differ per set
    for i in range(5):
        w("g.grp.test.", 1, f"198.51.100.{i}", "grp.test.", T, T + 50, 3, "tlp:green", "-")
        w("g.grp.test.", 1, f"198.51.100.{100 + i}", "grp.test.", T + 1, T + 60, 3, "tlp:green", "-")
PYEOF
"$D4PDNSLOAD" -s "$T_DIR/store" -m 64 <"$T_DIR/dataset.tsv" || fail "d4-pdns-load"
hub_start
API=$(api_url)
health() { curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API/health"
TOKEN=$(ctl user add pdns-user --role user) || fail "user add user"

# ---- CIRCL /pdns/query ------------------------------------------------------
circl() { curl -sS --http2 --cacert "$T_PKI/ca.crt" -u "circl:$TOKEN" "$@"; }
circl -o "$T_DIR/all.ndjson" "$API/pdns/query/*.big.test" || fail "CIRCL query"
assert_eq "$(wc -l <"$T_DIR/all.ndjson")" 50 "CIRCL *.big.test without limit: every tuple (cap is 10)"
assert_eq "$(sort -u "$T_DIR/all.ndjson" | wc -l)" 50 "CIRCL *.big.test: distinct lines"
# an explicit limit is honoured and marked by D4-Next-Cursor
circl -D "$T_DIR/lim.h" -o "$T_DIR/lim.ndjson" "$API/pdns/query/*.big.test?limit=5" || fail "CIRCL limit"
assert_eq "$(wc -l <"$T_DIR/lim.ndjson")" 5 "CIRCL limit=5"
grep -qi '^d4-next-cursor:' "$T_DIR/lim.h" || fail "CIRCL limit=5: no D4-Next-Cursor header"

# PyPDNS's iter_query and rfc_query, header for header (pypdns/api.py)
"$PY" - "$API" "$T_PKI/ca.crt" "$TOKEN" <<'PYEOF' || fail "CIRCL dribble headers (above)"
import base64, json, ssl, sys, urllib.request
api, ca, token = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
auth = "Basic " + base64.b64encode(f"circl:{token}".encode()).decode()
def get(q, headers):
    req = urllib.request.Request(f"{api}/pdns/query/{q}", headers={"Authorization": auth, **headers})
    with urllib.request.urlopen(req, context=ctx) as r:
        return [json.loads(l) for l in r.read().decode().split("\n") if l], r.headers
def iter_query(q, filter_rrtype=None):
    cursor, pages, out = -1, [], []
    h = {"dribble-paginate-count": "7"}
    if filter_rrtype:
        h["dribble-filter-rrtype"] = filter_rrtype
    while True:
        if cursor > 0:
            h["dribble-paginate-cursor"] = str(cursor)
        recs, hd = get(q, h)
        pages.append(len(recs))
        out += recs
        if "x-dribble-cursor" not in hd:
            return out, pages
        cursor = int(hd["x-dribble-cursor"])
        assert len(pages) < 100, "paging does not end"
key = lambda r: (r["rrname"], r["rrtype"], r["rdata"])
allr, _ = get("*.big.test", {})
recs, pages = iter_query("*.big.test")
assert pages == [7] * 7 + [1], pages
assert sorted(map(key, recs)) == sorted(map(key, allr)) and len(set(map(key, recs))) == 50, "pages differ from the whole"
recs, pages = iter_query("*.big.test", "AAAA")
assert pages == [7, 6], pages
assert {r["rrtype"] for r in recs} == {"AAAA"} and len(recs) == 13, recs
recs, _ = get("*.big.test", {"dribble-filter-rrtype": "A"})
assert len(recs) == 37 and {r["rrtype"] for r in recs} == {"A"}, len(recs)
try:
    get("*.big.test", {"dribble-filter-rrtype": "NOTATYPE"})
    raise AssertionError("a bad dribble-filter-rrtype was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 400, e.code
print("# PyPDNS-style paging: pages", pages)
PYEOF
log "CIRCL: whole result without limit, dribble paging and rrtype filter as PyPDNS sends them"

# ---- DNSDB ------------------------------------------------------------------
dnsdb() { curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "X-API-Key: $TOKEN" "$API/dnsdb/v2/$1"; }
objs() { grep -c '"obj"' || true; }
found_mx=0 found_srv=0
for i in $(seq 0 19); do
	n=$(dnsdb "lookup/rdata/name/mail$i.mx.test./MX" | objs)
	# the name-only form (x$i) and the full form (y$i)
	[ "$n" = 2 ] && found_mx=$((found_mx + 1))
	n=$(dnsdb "lookup/rdata/name/sip$i.srv.test/SRV" | objs)
	[ "$n" = 1 ] && found_srv=$((found_srv + 1))
done
assert_eq "$found_mx" 20 "MX targets found by rdata/name (both forms)"
assert_eq "$found_srv" 20 "SRV targets found by rdata/name"
# a wildcard too (DNSDB's cap of 10 applies there, marked "limited")
dnsdb 'lookup/rdata/name/*.srv.test/SRV' >"$T_DIR/srvw.saf"
assert_eq "$(objs <"$T_DIR/srvw.saf")" 10 "SRV targets by rdata/name wildcard"
grep -q '"cond":"limited"' "$T_DIR/srvw.saf" || fail "rdata/name wildcard: no limited line"

cat /etc/ssl/certs/ca-certificates.crt "$T_PKI/ca.crt" >"$T_DIR/bundle.crt"
dnsdbq_run() {
	HOME=$T_DIR DNSDBQ_CONFIG_FILE=/dev/null DNSDB_SERVER=$API DNSDB_API_KEY=$TOKEN \
		unshare -rm sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec dnsdbq "$@"' \
		"$T_DIR/bundle.crt" "$@"
}
dnsdbq_run -j -n mail3.mx.test/MX >"$T_DIR/dq.mx" 2>"$T_DIR/dq.err" || fail "dnsdbq -n: $(cat "$T_DIR/dq.err")"
assert_eq "$(grep -c '"rrname"' "$T_DIR/dq.mx")" 2 "dnsdbq -n mail3.mx.test/MX records"
grep -q '"x3.mx.test."' "$T_DIR/dq.mx" || fail "dnsdbq -n: no name-only MX: $(cat "$T_DIR/dq.mx")"
dnsdbq_run -j -n sip7.srv.test >"$T_DIR/dq.srv" 2>"$T_DIR/dq.err" || fail "dnsdbq -n: $(cat "$T_DIR/dq.err")"
assert_eq "$(grep -c '"_sip._tcp.x7.srv.test."' "$T_DIR/dq.srv")" 1 "dnsdbq -n sip7.srv.test"
log "MX/SRV name-only forms found by rdata-name lookups (API and dnsdbq -n)"

# the same end to end: passivedns CSV lines (default layout) through d4-sensor
# type 8 and the hub's pDNS ingest
sensor_new
for i in $(seq 0 19); do
	echo "1700000100.000000||10.0.0.1||10.0.0.53||IN||m$i.csv.test.||MX||Mail$i.csv.test.||300||1"
	echo "1700000100.000000||10.0.0.1||10.0.0.53||IN||_sip._udp.s$i.csv.test.||SRV||sip$i.csv.test.||300||1"
done >"$T_DIR/passivedns.log"
sensor_run -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 8 -q <"$T_DIR/passivedns.log" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor exited $?: $(tail -3 "$T_DIR/sensor.log")"
csv_found() {
	local i n=0
	for i in $(seq 0 19); do
		[ "$(dnsdb "lookup/rdata/name/mail$i.csv.test/MX" | objs)" = 1 ] && n=$((n + 1))
		[ "$(dnsdb "lookup/rdata/name/sip$i.csv.test./SRV" | objs)" = 1 ] && n=$((n + 1))
	done
	[ "$n" = 40 ]
}
wait_until 60 csv_found || fail "passivedns CSV MX/SRV targets not all found by rdata/name"
log "passivedns CSV through a sensor: 20 of 20 MX and 20 of 20 SRV targets found"

# rrset grouping: two rrsets of 5 rdata each, whatever their order in the store
dnsdb "lookup/rrset/name/g.grp.test/A" >"$T_DIR/grp.saf"
"$PY" - "$T_DIR/grp.saf" <<'PYEOF' || fail "rrset grouping (above)"
import json, sys
objs = [json.loads(l)["obj"] for l in open(sys.argv[1]) if '"obj"' in l]
assert len(objs) == 2, [(o["time_first"], len(o["rdata"])) for o in objs]
assert sorted(len(o["rdata"]) for o in objs) == [5, 5], objs
assert {o["time_first"] for o in objs} == {1700000000, 1700000001}, objs
PYEOF
dnsdbq_run -j -r g.grp.test/A >"$T_DIR/dq.grp" 2>"$T_DIR/dq.err" || fail "dnsdbq -r: $(cat "$T_DIR/dq.err")"
assert_eq "$(grep -c '"rrname"' "$T_DIR/dq.grp")" 2 "dnsdbq -r g.grp.test/A rrset records"
log "rrsets grouped (API and dnsdbq -r)"

# time fences: 0 is the epoch
assert_eq "$(dnsdb 'lookup/rrset/name/*.big.test?time_last_before=0' | objs)" 0 "time_last_before=0"
assert_eq "$(dnsdb 'lookup/rrset/name/*.big.test?time_first_before=0&aggr=f' | objs)" 0 "time_first_before=0"
assert_eq "$(dnsdb 'lookup/rrset/name/*.big.test?time_first_after=0&aggr=f' | objs)" 10 "time_first_after=0 (cap 10)"

hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "CIRCL never cut, dribble headers; MX/SRV name-only forms found; rrsets grouped; time 0 = epoch"
