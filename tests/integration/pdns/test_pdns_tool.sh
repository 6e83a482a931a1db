#!/bin/sh
# d4-pdns end to end on the fixtures of tests/data/dns (no network).
# usage: test_pdns_tool.sh D4PDNS SRCDIR
# Every output line is validated against analyzers/pdns/cof.schema.json and
# the aggregation is compared with an independent computation (pdns_check.py).
set -eu
BIN=$1
SRC=$2
DATA=$SRC/tests/data/dns
SCHEMA=$SRC/analyzers/pdns/cof.schema.json
CHECK="/usr/bin/python3 $SRC/tests/integration/pdns/pdns_check.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }

# 1. default layout: aggregation, schema, stats
if "$BIN" --csv "$DATA/local-dns.passivedns-default.csv" >"$T/def.out" 2>"$T/def.err" &&
	$CHECK validate "$SCHEMA" "$T/def.out" && $CHECK aggregate "$T/def.out" "default:$DATA/local-dns.passivedns-default.csv" &&
	grep -q 'records 9, tuples 6, bad_lines 0' "$T/def.err"; then ok "default layout aggregated"; else ko "default layout"; cat "$T/def.err"; fi
# the repeated web.example.test A record: counts 1 + 2 summed
if grep -q '"rrname":"web.example.test.","rrtype":"A","rdata":"192.0.2.80","time_first":1795618268,"time_last":1795618269,"count":3}' "$T/def.out"; then
	ok "web.example.test A count summed"; else ko "web.example.test A count"; fi

# 2. several files at once, order and aggregation across files
set -- "$DATA/local-dns.passivedns-default.csv" "$DATA/local-dns.passivedns-alltypes.csv" "$DATA/dpkt-dns_icmp.passivedns.csv" "$DATA/dpkt-http.passivedns.csv"
if "$BIN" -q --csv "$1" --csv "$2" --csv "$3" --csv "$4" >"$T/all.out" 2>"$T/all.err" && [ ! -s "$T/all.err" ] &&
	$CHECK validate "$SCHEMA" "$T/all.out" && $CHECK aggregate "$T/all.out" "default:$1" "default:$2" "default:$3" "default:$4"; then
	ok "four CSV files aggregated"; else ko "four CSV files"; fi

# 3. custom layout (passivedns -f HhpQTAtn): sensor_id from h, time from H (UTC)
X4T=$DATA/local-dns.passivedns-X4T-fHhpQTAtn.csv
if "$BIN" -q --csv "$X4T" --fields HhpQTAtn >"$T/x4t.out" && $CHECK validate "$SCHEMA" "$T/x4t.out" &&
	$CHECK aggregate "$T/x4t.out" "HhpQTAtn:$X4T" && grep -q '"sensor_id":"sensor1"' "$T/x4t.out"; then
	ok "custom layout"; else ko "custom layout"; fi
# same file, the layout letters in another order (passivedns prints a fixed order)
if "$BIN" -q --fields nAtTQphH --csv "$X4T" | cmp -s - "$T/x4t.out"; then ok "layout letter order"; else ko "layout letter order"; fi
# --sensor-id overrides
if "$BIN" -q --csv "$X4T" --fields HhpQTAtn --sensor-id s2 | grep -c '"sensor_id":"s2"' | grep -qx 7; then
	ok "--sensor-id"; else ko "--sensor-id"; fi

# 4. --raw: one object per observation, input order
if "$BIN" -q --raw --csv "$DATA/local-dns.passivedns-alltypes.csv" >"$T/raw.out" && $CHECK validate "$SCHEMA" "$T/raw.out" &&
	$CHECK raw "$T/raw.out" "default:$DATA/local-dns.passivedns-alltypes.csv"; then ok "--raw"; else ko "--raw"; fi

# 5. NXDOMAIN lines: nothing, not bad
if "$BIN" --csv "$DATA/local-dns.passivedns-nxdomain.csv" >"$T/nx.out" 2>"$T/nx.err" && [ ! -s "$T/nx.out" ] &&
	grep -q 'records 0, tuples 0, bad_lines 0, bad_packets 0, not_dns 1' "$T/nx.err"; then ok "nxdomain"; else ko "nxdomain"; fi

# 6. COF round trip: output -> --cof -> same output; from stdin too
if "$BIN" -q --cof "$T/all.out" | cmp -s - "$T/all.out" && "$BIN" -q --cof - <"$T/all.out" | cmp -s - "$T/all.out"; then
	ok "COF round trip"; else ko "COF round trip"; fi

# 7. bad lines: skipped and counted, exit 0; --strict exits 1
{
	head -3 "$DATA/local-dns.passivedns-default.csv"
	echo 'garbage'
	echo '1795618268||c||s||IN||x.test.||BOGUS||1.2.3.4||1||1'
	echo '1795618268||c||s||IN||x..test.||A||1.2.3.4||1||1'
	echo '1795618268||c||s||IN||x.test.||A||1.2.3.4||1||0'
	printf '1795618268||c||s||IN||Hostile.TEST.||TXT||"a\001b\tc\303\251\377\\"q\\" ||x"||60||2\n'
	printf 'no newline at the end||x'
} >"$T/bad.csv"
if "$BIN" --csv "$T/bad.csv" >"$T/bad.out" 2>"$T/bad.err" && grep -q 'records 4, tuples 4, bad_lines 5' "$T/bad.err" &&
	$CHECK validate "$SCHEMA" "$T/bad.out" &&
	grep -qF '"rrname":"hostile.test.","rrtype":"TXT","rdata":"\"a\\001b\\009c\\195\\169\\255\\\"q\\\" ||x\"","time_first":1795618268' "$T/bad.out"; then
	ok "bad lines skipped, hostile TXT escaped"; else ko "bad lines"; cat "$T/bad.err" "$T/bad.out"; fi
if "$BIN" -q --strict --csv "$T/bad.csv" >/dev/null; then ko "--strict"; else ok "--strict exits non-zero"; fi
printf '{"rrname":"a.","rrtype":"A","rdata":["192.0.2.1","192.0.2.2"],"time_first":5,"time_last":9,"count":2}\n[[[[[[[[1]]]]]]]]\n{"rrname":1}\n\n' >"$T/in.cof"
if "$BIN" --cof "$T/in.cof" >"$T/cof.out" 2>"$T/cof.err" && grep -q 'records 2, tuples 2, bad_lines 2' "$T/cof.err" &&
	[ "$(wc -l <"$T/cof.out")" -eq 2 ] && $CHECK validate "$SCHEMA" "$T/cof.out"; then ok "COF input with bad lines"; else ko "COF input"; cat "$T/cof.err"; fi

# 8. limits and errors
if "$BIN" -q --max-tuples 2 --csv "$DATA/local-dns.passivedns-default.csv" >"$T/max.out" 2>"$T/max.err"; then ko "--max-tuples"; else
	if grep -q 'more than 2 distinct tuples' "$T/max.err" && [ ! -s "$T/max.out" ]; then ok "--max-tuples"; else ko "--max-tuples message"; fi
fi
set +e
"$BIN" -q --csv "$T/nonexistent.csv" --csv "$DATA/local-dns.passivedns-default.csv" >"$T/miss.out" 2>"$T/miss.err"
rc=$?
set -e
if [ $rc -eq 1 ] && grep -q nonexistent "$T/miss.err" && cmp -s "$T/miss.out" "$T/def.out"; then ok "unreadable input: exit 1, others still read"; else ko "unreadable input ($rc)"; fi
set +e
"$BIN" --bogus >/dev/null 2>&1; r1=$?
"$BIN" --csv x --fields QT >/dev/null 2>&1; r2=$?
"$BIN" >/dev/null 2>&1; r3=$?
"$BIN" -q -r "$T/bad.csv" >/dev/null 2>&1; r4=$?
set -e
if [ $r1 -eq 2 ] && [ $r2 -eq 2 ] && [ $r3 -eq 2 ] && [ $r4 -eq 1 ]; then ok "usage errors 2, not-a-pcap 1"; else ko "exit codes $r1 $r2 $r3 $r4"; fi

# 9. capture (once the pcap extractor is built in): schema, and the tuples the
# real passivedns found whose rdata it prints in full
if "$BIN" -r "$DATA/local-dns.pcap" >"$T/pcap.out" 2>"$T/pcap.err"; then
	if $CHECK validate "$SCHEMA" "$T/pcap.out" &&
		$CHECK contains "$T/pcap.out" "$DATA/local-dns.passivedns-alltypes.csv" A,AAAA,CNAME,NS &&
		grep -q '"rdata":"192.0.2.80","time_first":1795618268,"time_last":1795618269,"count":3' "$T/pcap.out" &&
		"$BIN" -q -r - <"$DATA/local-dns.pcap" | cmp -s - "$T/pcap.out" &&
		"$BIN" -q -r "$DATA/local-dns.pcap" --raw | "$BIN" -q --cof - | cmp -s - "$T/pcap.out"; then
		ok "pcap: schema, passivedns tuples, stdin, raw -> aggregate"
	else ko "pcap"; cat "$T/pcap.err"; fi
else
	ko "pcap run"; cat "$T/pcap.err"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
