#!/usr/bin/env bash
# Address 127.0.0.7; ports picked at run time by lib.sh.
# The hub's in-process pDNS ingest end to end: a real d4-sensor sends the
# passivedns CSV fixture as type 8 and the capture as type 1; the tuples the
# hub stores (read back with pdns_store_tool) equal what the offline d4-pdns
# finds in the same files, with per-sensor counters. Then kill -9 of the hub
# in the middle of ingesting a large CSV, restart: every tuple's count equals
# d4-pdns over the bytes the store committed — nothing doubled, nothing lost.
source "$(dirname "$0")/../lib.sh"

: "${PDNS_TOOL:?PDNS_TOOL not set}" "${D4PDNS:?D4PDNS not set}"
DATA=$D4_TEST_DATA/dns
tool() { "$PDNS_TOOL" "$@"; }

t_conf
printf '[pdns]\nenabled = yes\nbatch = 2000\n' >>"$T_CONF"
hub_start
STORE=$T_DIR/store

# stored tuples under example.test. as "rrname<TAB>type<TAB>rdata<TAB>count"
stored() {
	{
		tool query "$STORE" name "$1"
		tool query "$STORE" left "$1"
	} | cut -f1-4 | sort -u
}
# d4-pdns's aggregate of the given inputs, same format
expected() {
	"$D4PDNS" -q "$@" | "$PY" -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    print("%s\t%s\t%s\t%d" % (o["rrname"], o["rrtype"], o["rdata"], o["count"]))' | sort -u
}

# ---- fixtures: CSV as type 8, capture as type 1, two sensors ---------------
sensor_new
U1=$SENSOR_UUID K1=$SENSOR_KEY
sensor_new
U2=$SENSOR_UUID K2=$SENSOR_KEY
sensor_run -u "$U1" -k "$K1" -t 8 <"$DATA/local-dns.passivedns-alltypes.csv" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor (CSV) exited $?"
sensor_run -u "$U2" -k "$K2" -t 1 -r "$DATA/local-dns.pcap" 2>>"$T_DIR/sensor.log" || fail "d4-sensor (pcap) exited $?"

expected --csv "$DATA/local-dns.passivedns-alltypes.csv" -r "$DATA/local-dns.pcap" >"$T_DIR/want"
[ "$(wc -l <"$T_DIR/want")" -ge 10 ] || fail "d4-pdns found too few tuples"
same() { stored example.test. >"$T_DIR/got" && cmp -s "$T_DIR/got" "$T_DIR/want"; }
if ! wait_until 20 same; then
	diff "$T_DIR/want" "$T_DIR/got" || true
	fail "stored tuples differ from d4-pdns over the same inputs"
fi
log "$(wc -l <"$T_DIR/got") tuples as d4-pdns finds them"
# the CSV alone has web.example.test A 192.0.2.80 count 3; the capture adds its own
csv_only=$(expected --csv "$DATA/local-dns.passivedns-alltypes.csv" | grep -P '^web\.example\.test\.\tA\t192\.0\.2\.80\t')
assert_eq "$(echo "$csv_only" | cut -f4)" 3 "web.example.test A 192.0.2.80 count in the CSV"
got_web=$(grep -P '^web\.example\.test\.\tA\t192\.0\.2\.80\t' "$T_DIR/got" | cut -f4)
want_web=$(grep -P '^web\.example\.test\.\tA\t192\.0\.2\.80\t' "$T_DIR/want" | cut -f4)
assert_eq "$got_web" "$want_web" "web.example.test A 192.0.2.80 count"

# per-sensor counters: every CSV line / every DNS answer record
obs_of() { tool counters "$STORE" | awk -v u="$1" '$1 == u { print $2 }'; }
u1=$(echo "$U1" | tr -d - | tr A-F a-f)
u2=$(echo "$U2" | tr -d - | tr A-F a-f)
assert_eq "$(obs_of "$u1")" "$("$D4PDNS" -q --raw --csv "$DATA/local-dns.passivedns-alltypes.csv" | wc -l)" \
	"observations of the CSV sensor"
assert_eq "$(obs_of "$u2")" "$("$D4PDNS" -q --raw -r "$DATA/local-dns.pcap" | wc -l)" "observations of the pcap sensor"

# /metrics shows the worker
URL=$(api_url)
TOKEN=$(ctl user add metrics-viewer --role user) || fail "user add"
metrics_ok() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" "$URL/metrics" >"$T_DIR/metrics" &&
		grep -q '^d4hub_pdns_observations_total [1-9]' "$T_DIR/metrics" &&
		grep -q '^d4hub_pdns_lag_frames 0$' "$T_DIR/metrics" &&
		grep -q '^d4hub_pdns_commits_total [1-9]' "$T_DIR/metrics" &&
		grep -q '^d4hub_pdns_streams_resumed_total 0$' "$T_DIR/metrics" &&
		grep -q '^d4hub_pdns_batch [1-9]' "$T_DIR/metrics"
}
wait_until 30 metrics_ok || fail "/metrics lacks pDNS observations, commits, batch size or a lag of 0: $(grep pdns "$T_DIR/metrics")"

# a bad line is skipped, counted for its sensor and visible in /pdns/info; the good lines around it are kept
sensor_new
U3=$SENSOR_UUID K3=$SENSOR_KEY
{
	head -n 2 "$DATA/local-dns.passivedns-alltypes.csv"
	echo 'this is not a passivedns line'
	sed -n 3p "$DATA/local-dns.passivedns-alltypes.csv"
} >"$T_DIR/bad.csv"
sensor_run -u "$U3" -k "$K3" -t 8 <"$T_DIR/bad.csv" 2>>"$T_DIR/sensor.log" || fail "d4-sensor (bad CSV) exited $?"
u3=$(echo "$U3" | tr -d - | tr A-F a-f)
info_of() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" "$URL/pdns/info" |
		/usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["ingest"]["running"] is True, d["ingest"]
for s in d["sensors"]:
    if s["uuid"] == sys.argv[1]:
        print(s["observations"], s["bad_lines"], s["bad_packets"])' "$1"
}
info_is() { [ "$(info_of "$1")" = "$2" ]; }
wait_until 30 info_is "$u3" "3 1 0" || fail "/pdns/info for the sensor with a bad line: '$(info_of "$u3")', want '3 1 0'"
assert_eq "$(info_of "$u1")" "$("$D4PDNS" -q --raw --csv "$DATA/local-dns.passivedns-alltypes.csv" | wc -l) 0 0" \
	"/pdns/info of the CSV sensor"

# ---- COF without a trailing newline: the last line counts once the sensor ended the stream
sensor_new
U4=$SENSOR_UUID K4=$SENSOR_KEY
printf '%s\n%s' \
	'{"rrname":"first.cof.test","rrtype":"A","rdata":"192.0.2.61","time_first":1700000000,"time_last":1700000100}' \
	'{"rrname":"last.cof.test","rrtype":"A","rdata":"192.0.2.62","time_first":1700000000,"time_last":1700000100}' \
	>"$T_DIR/nonl.cof"
[ "$(tail -c 1 "$T_DIR/nonl.cof")" = "}" ] || fail "fixture ends with a newline"
sensor_run -u "$U4" -k "$K4" -t 254 --ext-type pdns-cof <"$T_DIR/nonl.cof" 2>>"$T_DIR/sensor.log" || fail "d4-sensor (COF) exited $?"
u4=$(echo "$U4" | tr -d - | tr A-F a-f)
want4=$("$D4PDNS" -q --raw --cof "$T_DIR/nonl.cof" | wc -l)
assert_eq "$want4" 2 "d4-pdns observations of the COF file without a final newline"
cof_done() { [ "$(info_of "$u4")" = "2 0 0" ]; }
wait_until 30 cof_done || fail "/pdns/info of the COF sensor: '$(info_of "$u4")', want '2 0 0' (last line without newline)"
assert_eq "$(stored cof.test. | cut -f1 | tr '\n' ' ')" "first.cof.test. last.cof.test. " "COF tuples stored"
log "COF stream without a final newline: both lines stored, the last one once the sensor closed"

# ---- kill -9 in the middle of a large CSV -------------------------------------
BIG=$T_DIR/big.csv
"$PY" - "$BIG" <<'EOF'
import random, sys
random.seed(7)
with open(sys.argv[1], 'w') as f:
    for i in range(400000):
        n = int(random.paretovariate(1.1)) % 5000
        f.write("%d.%06d||10.0.0.1||10.0.0.2||IN||h%d.big.test.||A||198.51.100.%d||60||%d\n"
                % (1800000000 + i // 100, i % 1000000, n, n % 200, 1 + i % 3))
EOF
sensor_new
U3=$SENSOR_UUID K3=$SENSOR_KEY
mkfifo "$T_DIR/fifo"
(
	exec >"$T_DIR/fifo"
	# ~27 MB in 512 KiB pieces so that the hub is still ingesting when it dies
	split -b 512K --filter='cat; sleep 0.05' "$BIG"
) &
T_BG+=("$!")
SENSOR_IN=$T_DIR/fifo sensor_bg -u "$U3" -k "$K3" -t 8
cursor_done() { tool cursor "$STORE" | cut -d' ' -f1; }
c0=$(cursor_done)
mid() { [ "$(cursor_done)" -gt $((c0 + 20)) ]; }
wait_until 60 mid || fail "the pDNS ingest did not advance"
hub_kill9
log "hub killed with the pDNS cursor at $(tool cursor "$STORE")"
# the sensor must not reach the restarted hub (a second session would add tuples)
kill -KILL "$SENSOR_PID" 2>/dev/null || true
_wait_pid "$SENSOR_PID" 30 || fail "d4-sensor did not die on SIGKILL"
hub_start
log "hub restarted"
# caught up: the cursor reaches the last committed frame and stays there
last_seq() { ctl --json frames --from 0 | "$PY" -c 'import json,sys; f=json.load(sys.stdin); print(max(x["seq"] for x in f))'; }
caught_up() { [ "$(cursor_done)" -ge "$(last_seq)" ]; }
wait_until 120 caught_up || fail "the pDNS ingest did not catch up after the restart"
S=$(ctl --json sessions "$U3" | json "d[0]['id']")
ctl frames --session "$S" --payload >"$T_DIR/big.got" || fail "frames --payload"
[ -s "$T_DIR/big.got" ] || fail "nothing of the large CSV was stored"
# the line cut by the kill belongs to no frame that completes it
"$PY" -c '
import sys
b = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(b[:b.rfind(b"\n") + 1])' "$T_DIR/big.got" "$T_DIR/big.lines"
expected --csv "$T_DIR/big.lines" >"$T_DIR/big.want"
stored big.test. >"$T_DIR/big.have"
if ! cmp -s "$T_DIR/big.want" "$T_DIR/big.have"; then
	diff "$T_DIR/big.want" "$T_DIR/big.have" | head -20
	fail "tuples after kill -9 and restart differ from d4-pdns over the committed bytes"
fi
lines=$(wc -l <"$T_DIR/big.lines")
u3=$(echo "$U3" | tr -d - | tr A-F a-f)
assert_eq "$(obs_of "$u3")" "$lines" "observations of the large CSV (one per committed line)"
log "$lines committed lines, $(wc -l <"$T_DIR/big.have") tuples, counts equal after kill -9"
grep -q 'pdns: resuming after frame' "$T_LOG" || log "(the restart found no partial state to replay)"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass
