#!/usr/bin/env bash
# pDNS query API (CIRCL COF + DNSDB API v2) against a real d4hub over TLS.
#
# Address 127.0.0.8 (keep other tests out of it); ports picked at run time
# by lib.sh.
#
# A generated dataset (gen.py) is loaded into the store with d4-pdns-load
# before the hub starts; check.py compares every query form with a
# brute-force answer over the same dataset; then Debian's dnsdbq, unchanged,
# queries the hub (DNSDB_SERVER + DNSDB_API_KEY; the test CA is trusted by
# bind-mounting a CA bundle that holds it over the system bundle in a private
# mount namespace, since dnsdbq/libcurl read no CA variable).
# Env: as lib.sh, plus D4PDNSLOAD (tests/tools d4-pdns-load).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.8}
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
[ -n "${D4PDNSLOAD:-}" ] && [ -x "$D4PDNSLOAD" ] || fail "\$D4PDNSLOAD is not set to tests/tools d4-pdns-load"
SCHEMA=$ROOT/analyzers/pdns/cof.schema.json
[ -f "$SCHEMA" ] || SCHEMA=$HERE/cof.schema.json

t_conf
"$PY" "$HERE/gen.py" 4000 "${PDNS_SEED:-7}" >"$T_DIR/dataset.tsv" || fail "gen.py"
"$D4PDNSLOAD" -s "$T_DIR/store" -m 256 <"$T_DIR/dataset.tsv" || fail "d4-pdns-load"
hub_start
API=$(api_url) # the hub picks a free API port
health() { curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API/health"
ADMIN_TOKEN=$(ctl user add pdns-admin --role admin) || fail "user add admin"
USER_TOKEN=$(ctl user add pdns-user --role user) || fail "user add user"
REG_TOKEN=$(ctl user add pdns-reg --role sensor_register) || fail "user add sensor_register"

log "brute-force comparison of every query form"
"$PY" "$HERE/check.py" "$T_DIR/dataset.tsv" "$API" "$T_PKI/ca.crt" "$USER_TOKEN" "$ADMIN_TOKEN" "$SCHEMA" ||
	fail "query answers differ from the brute force (above)"

# sensor_register is below user: 403 on every pDNS operation
code=$(curl -s -o /dev/null -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" -H "X-API-Key: $REG_TOKEN" \
	"$API/dnsdb/v2/lookup/rrset/name/www.example.test")
assert_eq "$code" 403 "sensor_register token on a pDNS lookup"

# ---- Debian's dnsdbq, unchanged -----------------------------------------------
if ! command -v dnsdbq >/dev/null; then
	fail "dnsdbq is not installed (apt-get install dnsdbq)"
fi
cat /etc/ssl/certs/ca-certificates.crt "$T_PKI/ca.crt" >"$T_DIR/bundle.crt"
# dnsdbq_run ARGS...: dnsdbq with the hub as its server and the test CA trusted
dnsdbq_run() {
	HOME=$T_DIR DNSDBQ_CONFIG_FILE=/dev/null DNSDB_SERVER=$API DNSDB_API_KEY=$USER_TOKEN \
		unshare -rm sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec dnsdbq "$@"' \
		"$T_DIR/bundle.crt" "$@"
}
unshare -rm true 2>/dev/null || fail "unshare -rm (user + mount namespace) is not available"
exp_names() { # rrname query -> sorted "rrname rrtype rdata" lines visible to a user
	"$PY" -c '
import sys
sys.path.insert(0, sys.argv[1])
import check, ipaddress
t = check.load(sys.argv[2])
kind, arg = sys.argv[3], sys.argv[4]
if kind == "rrset":
    m = check.model(t, owner=("exact", arg))
elif kind == "rdata":
    m = check.model(t, rdname=("exact", arg))
else:
    n = ipaddress.ip_network(arg, strict=False)
    m = check.model(t, ip=(n[0], n[-1]))
for r in sorted(m):
    print(r[0], r[1], r[2])
' "$HERE" "$T_DIR/dataset.tsv" "$@"
}
got_json() { # dnsdbq -j output -> sorted "rrname rrtype rdata" lines (rdata arrays flattened)
	"$PY" -c '
import json, sys
out = []
for ln in sys.stdin:
    ln = ln.strip()
    if not ln:
        continue
    d = json.loads(ln)
    rds = d["rdata"] if isinstance(d["rdata"], list) else [d["rdata"]]
    out += ["%s %s %s" % (d["rrname"], d["rrtype"], r) for r in rds]
print("\n".join(sorted(out)))'
}
cmp_dnsdbq() { # what expect-args -- dnsdbq-args
	local what=$1 n
	shift
	local ea=() da=()
	while [ "$1" != -- ]; do ea+=("$1"); shift; done
	shift
	da=("$@")
	dnsdbq_run -j "${da[@]}" >"$T_DIR/dq.out" 2>"$T_DIR/dq.err" || fail "dnsdbq ${da[*]}: exit $? ($(cat "$T_DIR/dq.err"))"
	got_json <"$T_DIR/dq.out" >"$T_DIR/dq.got"
	exp_names "${ea[@]}" >"$T_DIR/dq.exp"
	n=$(wc -l <"$T_DIR/dq.exp")
	[ "$n" -gt 0 ] || fail "dnsdbq $what: the brute force expects nothing; pick another query"
	diff -u "$T_DIR/dq.exp" "$T_DIR/dq.got" >"$T_DIR/dq.diff" || {
		head -20 "$T_DIR/dq.diff" >&2
		fail "dnsdbq $what differs from the brute force"
	}
	log "dnsdbq ${da[*]}: $n records, as the brute force"
}
cmp_dnsdbq "-r" rrset www.example.test. -- -r www.example.test
cmp_dnsdbq "-n" rdata zone3.test. -- -n zone3.test
cmp_dnsdbq "-i /24" ip 192.0.2.0/24 -- -i 192.0.2.0/24
cmp_dnsdbq "-i v6 /48" ip 2001:db8:1::/48 -- -i 2001:db8:1::/48
# text output and summarize
dnsdbq_run -r www.example.test >"$T_DIR/dq.txt" 2>"$T_DIR/dq.err" || fail "dnsdbq -r (text): $(cat "$T_DIR/dq.err")"
grep -q '^www\.example\.test\.  *A  *' "$T_DIR/dq.txt" || grep -q 'www.example.test' "$T_DIR/dq.txt" ||
	fail "dnsdbq -r text output has no www.example.test record: $(head -5 "$T_DIR/dq.txt")"
dnsdbq_run -V summarize -j -i 192.0.2.0/24 >"$T_DIR/dq.sum" 2>"$T_DIR/dq.err" ||
	fail "dnsdbq -V summarize: $(cat "$T_DIR/dq.err")"
want=$(exp_names ip 192.0.2.0/24 | wc -l)
got=$("$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["num_results"])' <"$T_DIR/dq.sum") ||
	fail "dnsdbq -V summarize printed no JSON: $(cat "$T_DIR/dq.sum")"
assert_eq "$got" "$want" "dnsdbq -V summarize num_results"
dnsdbq_run -I -j >"$T_DIR/dq.info" 2>"$T_DIR/dq.err" || fail "dnsdbq -I: $(cat "$T_DIR/dq.err")"
grep -q '"results_max"' "$T_DIR/dq.info" || fail "dnsdbq -I: no results_max: $(cat "$T_DIR/dq.info")"
log "dnsdbq -V summarize ($got results) and -I (rate_limit) work"
# a wrong key: dnsdbq reports the 401 and exits non-zero
if DNSDB_API_KEY="d4h_wrong" HOME=$T_DIR DNSDBQ_CONFIG_FILE=/dev/null DNSDB_SERVER=$API \
	unshare -rm sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec dnsdbq -r www.example.test' \
	"$T_DIR/bundle.crt" >"$T_DIR/dq.bad" 2>&1; then
	grep -q 401 "$T_DIR/dq.bad" || fail "dnsdbq with a wrong key succeeded without a 401: $(cat "$T_DIR/dq.bad")"
fi

hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "every query form matches the brute force; TLP filtering; X-API-Key; dnsdbq works unchanged"
