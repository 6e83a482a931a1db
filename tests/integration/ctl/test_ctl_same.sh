#!/usr/bin/env bash
# d4hubctl gives the same answer locally (-s STORE) and remotely (-H URL) on
# the same store: a real d4hub (127.0.0.5, ports picked at run time) fed by
# real d4-sensor runs (a type-8 sensor twice around a 2 -> 254 sensor, so
# the per-sensor API order is not the id order), then every read command
# run both ways and the outputs (text and --json, and the messages of
# refused requests) compared byte for byte. Also: the
# sensor's summary counts the meta-header frames, and a pcap cut inside a
# packet record sends its complete packets with a warning (exit 0).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.5}
source "$(dirname "$0")/../lib.sh"

CSV=$D4_TEST_DATA/dns/local-dns.passivedns-alltypes.csv
STORE=$T_DIR/store
CA=$T_PKI/ca.crt

t_conf
hub_start
URL=$(api_url)
wait_until 30 curl -sf --http2 --cacert "$CA" "$URL/health" || fail "API not answering on $URL"
ADMIN=$("$D4HUBCTL" -s "$STORE" user add admin --role admin) || fail "bootstrap: user add admin"
printf '%s\n' "$ADMIN" >"$T_DIR/admin.tok"
chmod 600 "$T_DIR/admin.tok"
rctl() { "$D4HUBCTL" -H "$URL" --cacert "$CA" --token-file "$T_DIR/admin.tok" "$@"; }
lctl() { "$D4HUBCTL" -s "$STORE" "$@"; }

# same_refused ARGS...: both modes refuse (exit 1), print nothing on stdout and the same message.
same_refused() {
	local lrc=0 rrc=0
	lctl "$@" >"$T_DIR/local.out" 2>"$T_DIR/local.err" || lrc=$?
	rctl "$@" >"$T_DIR/remote.out" 2>"$T_DIR/remote.err" || rrc=$?
	[ "$lrc" = 1 ] && [ "$rrc" = 1 ] || fail "$*: exit local $lrc, remote $rrc (want 1 and 1)"
	[ ! -s "$T_DIR/local.out" ] && [ ! -s "$T_DIR/remote.out" ] || fail "$*: a refused command printed on stdout"
	[ -s "$T_DIR/local.err" ] || fail "$*: no message"
	cmp -s "$T_DIR/local.err" "$T_DIR/remote.err" ||
		fail "$*: local and remote messages differ: $(cat "$T_DIR/local.err") / $(cat "$T_DIR/remote.err")"
}

# live_fields FILE MODE: a sensor's live state (connected, live_sessions,
# connected_since) comes from the ingest of the process that answers, so the
# hub knows it and d4hubctl's own process does not (null): check each side's
# form, then drop exactly these three members so the rest compares byte for byte.
live_fields() {
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
path, mode = sys.argv[1], sys.argv[2]
LIVE = ("connected", "live_sessions", "connected_since")
def strip(o):
    if isinstance(o, dict):
        if any(k in o for k in LIVE):
            if not all(k in o for k in LIVE):
                sys.exit("%s: a sensor with only part of its live state: %r" % (mode, o))
            if mode == "local" and any(o[k] is not None for k in LIVE):
                sys.exit("local: live state not null: %r" % ({k: o[k] for k in LIVE},))
            if mode == "remote" and (not isinstance(o["connected"], bool) or not isinstance(o["live_sessions"], int)):
                sys.exit("remote: live state not known: %r" % ({k: o[k] for k in LIVE},))
        return {k: strip(v) for k, v in o.items() if k not in LIVE}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
d = json.load(open(path))
with open(path, "w") as f:
    json.dump(strip(d), f)
EOF
}

# same ARGS...: both modes exit 0 and print the same bytes (--json: the same
# document but for the live state above). The remote request runs first: its
# authentication may record the token's last use, which the local read then sees.
same() {
	local lrc=0 rrc=0
	rctl "$@" >"$T_DIR/remote.out" 2>"$T_DIR/remote.err" || rrc=$?
	lctl "$@" >"$T_DIR/local.out" 2>"$T_DIR/local.err" || lrc=$?
	if [ "$1" = --json ] && [ "$lrc" = 0 ] && [ "$rrc" = 0 ]; then
		live_fields "$T_DIR/local.out" local || fail "$*: local live state"
		live_fields "$T_DIR/remote.out" remote || fail "$*: remote live state"
	elif [ "$lrc" = 0 ] && [ "$rrc" = 0 ] && grep -q '^connected:' "$T_DIR/remote.out"; then
		# the text form of the live state: checked on each side, then left out
		grep -qx 'connected:     - (known by the running hub: ask it with -H)' "$T_DIR/local.out" ||
			fail "$*: local live state: $(grep '^connected:' "$T_DIR/local.out")"
		grep -qxE 'connected:     (no|yes, [0-9]+ session\(s\) since [0-9]{4}-.*)' "$T_DIR/remote.out" ||
			fail "$*: remote live state: $(grep '^connected:' "$T_DIR/remote.out")"
		sed -i '/^connected:/d' "$T_DIR/local.out" "$T_DIR/remote.out"
	fi
	[ "$lrc" = 0 ] && [ "$rrc" = 0 ] ||
		fail "$*: exit local $lrc, remote $rrc: $(head -c 400 "$T_DIR/local.err") / $(head -c 400 "$T_DIR/remote.err")"
	[ -s "$T_DIR/local.out" ] || fail "$*: no output"
	cmp -s "$T_DIR/local.out" "$T_DIR/remote.out" ||
		fail "$*: local and remote differ: $(diff "$T_DIR/local.out" "$T_DIR/remote.out" | head -c 1500)"
}

U1=$(gen_uuid)
U2=$(gen_uuid)
U3=$(gen_uuid)
K1=$(rctl sensor add "$U1" --gen-key --approve) || fail "sensor add $U1"
K2=$(rctl sensor add "$U2" --gen-key --approve) || fail "sensor add $U2"
K3=$(rctl sensor add "$U3" --gen-key --approve) || fail "sensor add $U3"
rctl types enable 1 >/dev/null || fail "types enable 1"
rctl types enable 254 >/dev/null || fail "types enable 254"

# session 1: U1 (type 8), session 2: U2 (2 -> 254), session 3: U1 again
for _ in $(seq 1 40); do cat "$CSV"; done >"$T_DIR/big.csv"
sensor_run -u "$U1" -k "$K1" -t 8 --drain-timeout 30 <"$T_DIR/big.csv" 2>>"$T_DIR/s1.log" || fail "sensor U1: $(tail -3 "$T_DIR/s1.log")"
wait_for 30 "the session of $U1 closed" sessions_closed "$U1" 1
head -c 5000 "$CSV" >"$T_DIR/small.txt"
sensor_run -u "$U2" -k "$K2" -t 254 --ext-type ctl-same --drain-timeout 30 <"$T_DIR/small.txt" 2>"$T_DIR/s2.log" ||
	fail "sensor U2: $(tail -3 "$T_DIR/s2.log")"
wait_for 30 "the session of $U2 closed" sessions_closed "$U2" 1
sensor_run -u "$U1" -k "$K1" -t 8 --drain-timeout 30 <"$T_DIR/small.txt" 2>>"$T_DIR/s1.log" || fail "sensor U1 (2)"
wait_for 30 "both sessions of $U1 closed" sessions_closed "$U1" 2
sync_store

# the 2 -> 254 sensor's summary counts its meta-header frame: 1 meta + data frames + the hub's count agree
SID2=$(lctl --json sessions "$U2" | json "d[0]['id']")
NFR2=$(lctl --json sessions "$U2" | json "d[0]['frames']")
grep -q "sent $NFR2 frames," "$T_DIR/s2.log" || fail "U2 summary does not count $NFR2 frames (meta header included): $(grep sent "$T_DIR/s2.log")"
lctl --json frames --session "$SID2" | json "d[0]['type'] == 2 and all(f['type'] == 254 for f in d[1:])" | grep -qx true ||
	fail "session $SID2 does not start with its meta-header frame"
log "d4-sensor summary: $NFR2 frames including the meta header, as the hub stored"

# ---- a pcap cut inside a packet record (U3, type 1) ---------------------------------------------
PCAP=$D4_TEST_DATA/pcap/http.pcap
# offsets of the record boundaries (classic pcap, 24-byte file header, 16-byte record headers)
read -r CUT KEEP NREC < <("$PY" - "$PCAP" <<'PYEOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
e = "<" if b[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
off, ends = 24, []
while off + 16 <= len(b):
    incl = struct.unpack(e + "I", b[off + 8:off + 12])[0]
    off += 16 + incl
    ends.append(off)
# keep all but the last two records whole; cut the next one in the middle of its data
keep = ends[-3]
cut = keep + 16 + (ends[-2] - keep - 16) // 2
print(cut, keep, len(ends) - 2)
PYEOF
)
head -c "$CUT" "$PCAP" >"$T_DIR/cut.pcap"
rc=0
"$D4SENSOR" -D "$T_DEST" --ca "$CA" -u "$U3" -k "$K3" -t 1 -r "$T_DIR/cut.pcap" --drain-timeout 30 2>"$T_DIR/s3.log" || rc=$?
assert_eq "$rc" 0 "d4-sensor exit status on a truncated capture"
grep -q "truncated" "$T_DIR/s3.log" || fail "no truncation warning: $(cat "$T_DIR/s3.log")"
grep -q "sending the $NREC complete packets" "$T_DIR/s3.log" || fail "warning does not count $NREC packets: $(cat "$T_DIR/s3.log")"
wait_for 30 "the session of $U3 closed" sessions_closed "$U3" 1
sync_store
SID3=$(lctl --json sessions "$U3" | json "d[0]['id']")
lctl frames --session "$SID3" --payload >"$T_DIR/got.pcap" || fail "frames --payload of session $SID3"
# the sensor writes its own file header: the records after it are the complete ones, exactly
cmp -s <(tail -c +25 "$T_DIR/got.pcap") <(head -c "$KEEP" "$PCAP" | tail -c +25) ||
	fail "the $NREC complete records did not arrive exactly ($(stat -c %s "$T_DIR/got.pcap") bytes stored, $KEEP in the file)"
log "truncated pcap: $NREC complete records stored byte for byte, warning printed, exit 0"

# ---- every read command, both ways, byte for byte -------------------------------------------------
SIDS=$(lctl --json sessions | json "' '.join(str(s['id']) for s in d)")
[ "$(wc -w <<<"$SIDS")" = 4 ] || fail "expected 4 sessions, got: $SIDS"
rctl --json sessions | json "[s['id'] for s in d] == sorted(s['id'] for s in d)" | grep -qx true ||
	fail "remote --json sessions not in id order"
same sessions
same sessions "$U1"
same sessions "$U2"
for s in $SIDS; do
	same frames --session "$s"
	same frames --session "$s" --payload
	MID=$(lctl --json frames --session "$s" | json "d[len(d) // 2]['seq']")
	same frames --session "$s" --from "$MID" --payload
	same frames --session "$s" --payload --with-meta
done
same sensor list
for u in "$U1" "$U2" "$U3"; do same sensor show "$u"; done
same sensor silent
same block list
same types list
same ext-types list
same stats
same user list
same token list
# --json: the API's documents, the same bytes both ways (one code path, two transports)
same --json sessions
for u in "$U1" "$U2" "$U3"; do
	same --json sessions "$u"
	same --json sensor show "$u"
done
for s in $SIDS; do same --json frames --session "$s"; done
same --json sensor list
same --json sensor silent
same --json block list
same --json types list
same --json ext-types list
same --json stats --days 2
same --json user list
# refused requests: the same problem, message and exit code
UNKNOWN=$(gen_uuid)
same_refused sensor show "$UNKNOWN"
same_refused sensor approve "$UNKNOWN"
same_refused frames --session 999999
grep -qx "d4hubctl: frames: Not Found: no session 999999 (HTTP 404)" "$T_DIR/local.err" ||
	fail "frames of an unknown session: not the API's 404 problem: $(cat "$T_DIR/local.err")"
same_refused token list nobody
log "--json of every read command, and refused requests (404s): local == remote"
# the meta header is not part of the 2 -> 254 payload, in both modes
lctl frames --session "$SID2" --payload >"$T_DIR/p2"
cmp -s "$T_DIR/p2" "$T_DIR/small.txt" || fail "2 -> 254 payload is not exactly the sent data"
lctl frames --session "$SID2" --payload --with-meta >"$T_DIR/p2m"
cmp -s "$T_DIR/p2m" <(printf '{"type": "ctl-same"}'; cat "$T_DIR/small.txt") || fail "--with-meta: not the meta header then the data"
log "sessions, frames (listing, --payload, --from), sensor list/show/silent, block/types/ext-types list, stats, user/token list: local == remote"

pass "d4hubctl local == remote"
