#!/usr/bin/env bash
# Raw data export end to end (ports picked at run time by lib.sh).
# A real d4hub; data sent by d4-sensor; exports fetched with curl over HTTP/2:
#   - a type-1 session exported as pcap equals the sent file byte for byte,
#     and tcpdump reads it back with the same packet count;
#   - two type-1 sessions exported by range as one pcap file: one global
#     header, twice the packets (tcpdump reads it);
#   - a type-8 session as text equals the sent CSV; NDJSON carries the
#     provenance of every frame and decodes back to the CSV;
#   - a 200 MB export streams: the hub's anonymous memory (RssAnon; LMDB's
#     file-backed map pages do not count) grows by less than 150 MB;
#   - clients that go away mid-export (a slow reader cut by --max-time) leave
#     the hub healthy, and its exit clean (under -DD4_SANITIZE=ON: no leak).
# Env: as lib.sh. EXPORT_BIG_MB (default 200) sizes the streaming test.
source "$(dirname "$0")/../lib.sh"

CSV=$D4_TEST_DATA/dns/local-dns.passivedns-alltypes.csv
PCAP=$D4_TEST_DATA/dns/local-dns.pcap
BIG_MB=${EXPORT_BIG_MB:-200}
command -v tcpdump >/dev/null || fail "tcpdump is not installed"

t_conf "store.map_size=2G" "ingest.max_backlog=256M"
hub_start
API=$(api_url) # the hub picks a free API port (lib.sh keeps it across restarts)
wait_until 30 curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" || fail "API not answering on $API"
TOKEN=$(ctl user add exporter --role user) || fail "user add"

# get PATH OUT: GET over HTTP/2 with the user token; sets CODE and CT.
get() {
	local out
	out=$(curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" -o "$2" \
		-w '%{http_code}|%{content_type}|%{http_version}' "$API$1") || fail "curl $1 failed"
	IFS='|' read -r CODE CT HV <<<"$out"
	[ "$HV" = 2 ] || fail "$1: HTTP version $HV, expected 2"
}
pkts() { tcpdump -r "$1" -nn 2>/dev/null | wc -l; }
# session_of UUID TYPE [N]: id of the N-th (default 1st) session of UUID with TYPE.
session_of() {
	ctl --json sessions "$1" | json "[s['id'] for s in d if s['type'] == $2][${3:-0}]"
}

sensor_new
S=$SENSOR_UUID
sensor_run -u "$S" -k "$SENSOR_KEY" -t 1 -q -r "$PCAP" || fail "d4-sensor (type 1, run 1) exited $?"
sensor_run -u "$S" -k "$SENSOR_KEY" -t 1 -q -r "$PCAP" || fail "d4-sensor (type 1, run 2) exited $?"
sensor_run -u "$S" -k "$SENSOR_KEY" -t 8 -q <"$CSV" || fail "d4-sensor (type 8) exited $?"
three_sessions() { [ "$(ctl --json sessions "$S" | json 'len(d)')" = 3 ] && sessions_closed "$S" 3; }
wait_until 30 three_sessions || fail "3 sessions not closed and committed"
P1=$(session_of "$S" 1 0)
P2=$(session_of "$S" 1 1)
T8=$(session_of "$S" 8)
log "sessions: pcap $P1 $P2, text $T8"

# ---- pcap of one session: the sent file, byte for byte
get "/api/v1/sessions/$P1/export?format=pcap" "$T_DIR/s1.pcap"
assert_eq "$CODE" 200 "exportSession pcap status"
assert_eq "$CT" application/vnd.tcpdump.pcap "exportSession pcap content type"
cmp "$T_DIR/s1.pcap" "$PCAP" || fail "the exported session differs from the sent pcap"
N=$(pkts "$PCAP")
assert_ge "$N" 1 "packets in the test pcap"
assert_eq "$(pkts "$T_DIR/s1.pcap")" "$N" "tcpdump packet count of the export"

# ---- pcap of a range (both sessions): one file, one global header
get "/api/v1/export?sensor=$S&type=1&format=pcap" "$T_DIR/range.pcap"
assert_eq "$CODE" 200 "exportRange pcap status"
assert_eq "$(pkts "$T_DIR/range.pcap")" $((2 * N)) "tcpdump packet count of the two-session export"
assert_eq "$(stat -c %s "$T_DIR/range.pcap")" $((2 * $(stat -c %s "$PCAP") - 24)) \
	"size of the two-session export (one global header dropped)"
# a range before anything was sent: a bare global header, still a valid file
get "/api/v1/export?sensor=$S&type=1&format=pcap&to=2001-01-01T00:00:00Z" "$T_DIR/empty.pcap"
assert_eq "$CODE" 200 "empty pcap range status"
assert_eq "$(stat -c %s "$T_DIR/empty.pcap")" 24 "empty pcap range size"
assert_eq "$(pkts "$T_DIR/empty.pcap")" 0 "packets in the empty pcap export"

# ---- type 8 as text and as NDJSON
get "/api/v1/sessions/$T8/export?format=text" "$T_DIR/t8.txt"
assert_eq "$CODE" 200 "exportSession text status"
assert_eq "$CT" "text/plain; charset=utf-8" "exportSession text content type"
cmp "$T_DIR/t8.txt" "$CSV" || fail "the text export differs from the sent CSV"
get "/api/v1/export?sensor=$S&type=8&format=text&from=$(($(date +%s) - 3600))" "$T_DIR/r8.txt"
cmp "$T_DIR/r8.txt" "$CSV" || fail "the text range export differs from the sent CSV"
get "/api/v1/sessions/$T8/export?format=ndjson" "$T_DIR/t8.ndjson"
assert_eq "$CT" application/x-ndjson "exportSession ndjson content type"
"$PY" - "$T_DIR/t8.ndjson" "$CSV" "$S" "$T8" "$HUB_ORG" <<'EOF' || fail "NDJSON provenance (above)"
import base64, json, sys, datetime
path, csv, sensor, session, org = sys.argv[1:]
lines = open(path, "rb").read().splitlines()
assert lines, "no NDJSON line"
data, seqs = b"", []
now = datetime.datetime.now(datetime.timezone.utc)
for line in lines:
    r = json.loads(line)
    want = {"session": int(session), "sensor": sensor, "type": 8, "ext_type": None, "org": org}
    for k, v in want.items():
        assert r[k] == v, f"{k}: {r[k]!r} != {v!r}"
    assert r["tlp"].startswith("tlp:"), r["tlp"]
    p = base64.b64decode(r["payload_b64"], validate=True)
    assert len(p) == r["size"], (len(p), r["size"])
    t = datetime.datetime.strptime(r["recv_ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert abs((now - t).total_seconds()) < 600, r["recv_ts"]
    assert abs(r["hdr_ts"] - t.timestamp()) < 600, (r["hdr_ts"], r["recv_ts"])
    seqs.append(r["seq"])
    data += p
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"seq not increasing: {seqs}"
assert data == open(csv, "rb").read(), "the NDJSON payloads do not rebuild the CSV"
print(f"# ndjson: {len(lines)} frames, provenance ok")
EOF

# ---- error paths
get "/api/v1/sessions/$T8/export?format=pcap" "$T_DIR/e"
assert_eq "$CODE" 422 "pcap of a type 8 session"
get "/api/v1/sessions/$P1/export?format=text" "$T_DIR/e"
assert_eq "$CODE" 422 "text of a type 1 session"
get "/api/v1/sessions/99999/export" "$T_DIR/e"
assert_eq "$CODE" 404 "unknown session"
get "/api/v1/export?sensor=$S&format=raw" "$T_DIR/e"
assert_eq "$CODE" 400 "range without type"

# ---- a big export streams
sensor_new
B=$SENSOR_UUID
log "sending $BIG_MB MB as type 4"
head -c $((BIG_MB << 20)) /dev/urandom >"$T_DIR/big.bin"
sensor_run -u "$B" -k "$SENSOR_KEY" -t 4 -q <"$T_DIR/big.bin" || fail "d4-sensor (big) exited $?"
big_bytes() { ctl --json sessions "$B" | json 'd[0]["bytes"] if d else 0'; }
big_done() { [ "$(big_bytes)" = $((BIG_MB << 20)) ]; }
wait_until 120 big_done ||
	fail "the big session was not committed: $(big_bytes) of $((BIG_MB << 20)) bytes"
BS=$(session_of "$B" 4)
anon() { awk '/^RssAnon:/ {print $2}' "/proc/$HUB_PID/status"; }
A0=$(anon)
peak=$A0
curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" -o "$T_DIR/big.out" \
	"$API/api/v1/sessions/$BS/export?format=raw" &
CURL=$!
T_BG+=("$CURL")
while kill -0 "$CURL" 2>/dev/null; do
	a=$(anon)
	[ "$a" -gt "$peak" ] && peak=$a
	sleep 0.05
done
wait "$CURL" || fail "curl of the big export failed"
cmp "$T_DIR/big.out" "$T_DIR/big.bin" || fail "the big export differs from the sent data"
growth=$(((peak - A0) / 1024))
log "big export: RssAnon $((A0 / 1024)) MB before, peak $((peak / 1024)) MB (growth $growth MB)"
[ "$growth" -lt 150 ] || fail "the hub's memory grew by $growth MB during a $BIG_MB MB export (not streamed?)"
rm -f "$T_DIR/big.out"

# ---- clients that go away mid-export
for i in 1 2 3; do
	rc=0
	curl -sS --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" -o /dev/null --limit-rate 100k \
		--max-time 1 "$API/api/v1/sessions/$BS/export?format=ndjson" 2>/dev/null || rc=$?
	assert_eq "$rc" 28 "slow reader cut by --max-time (curl exit)"
done
# HTTP/1.1 too (the connection closes instead of a stream reset)
rc=0
curl -sS --http1.1 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" -o /dev/null --limit-rate 100k \
	--max-time 1 "$API/api/v1/sessions/$BS/export" 2>/dev/null || rc=$?
assert_eq "$rc" 28 "HTTP/1.1 slow reader cut by --max-time (curl exit)"
hub_alive || fail "the hub died after clients went away mid-export"
curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null || fail "/health after the aborted exports"
get "/api/v1/sessions/$P1/export?format=pcap" "$T_DIR/s1b.pcap"
cmp "$T_DIR/s1b.pcap" "$PCAP" || fail "an export after the aborted ones differs"
rm -f "$T_DIR/big.bin"

hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "pcap/text/ndjson exports match what was sent; $BIG_MB MB streamed with $growth MB growth; aborted clients harmless"
