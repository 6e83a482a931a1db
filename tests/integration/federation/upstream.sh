#!/usr/bin/env bash
# The upstream relay end to end (docs/upstream.md): hub A relays its type-8
# streams and its type-254 streams of extended type up-test, as the sensor
# P registered for it, to hub P acting as the public D4 server. A's
# streams, one sensor each: type 8 with the sensor's level tlp:clear,
# tlp:green, tlp:amber, tlp:red; 2 -> 254 up-test with the meta header's
# tlp:clear, tlp:green, tlp:amber, tlp:red; a 254 stream of another
# extended type (tlp:clear); later a pcap file as type 1 (tlp:clear) and
# two type-1 sessions interleaved frame by frame (tlp:green). Checked at P: its sessions of A's sensor hold
# exactly the payloads of A's clear and green streams of the relayed kinds,
# byte for byte and in A's order (type 8 as 8, 254 after its meta header
# with the level it was decided on), nothing of amber, red or the other
# extended type; A counts every decision with its reason. Then P is down
# while A keeps ingesting and A restarts in the middle (status: not
# connected, lag); P back: everything arrives exactly once. Then P is
# frozen, A writes 3,000 frames to it and is killed (kill -9) before any is
# acknowledged, P thawed commits them, A restarted sends them again: P
# keeps each frame once (the replay announcement, counted as replays
# dropped). d4hub -n on the [upstream] section: accepted, and each
# refusal with its message.
source "$(dirname "$0")/fedlib.sh"

EXT=up-test
fed_hub p 127.0.0.3 org2
fed_start p
UP_UUID=$(gen_uuid)
fctl p sensor add "$UP_UUID" --gen-key --approve >"$T_DIR/up.key" || fail "P: sensor add"
chmod 600 "$T_DIR/up.key"

UPKEYS=("upstream.destination=127.0.0.3:${H_INGEST[p]}" "upstream.uuid=$UP_UUID"
	"upstream.key_file=$T_DIR/up.key" "upstream.ca=$T_PKI/ca.crt" "upstream.streams=1, 8, 254:$EXT"
	"upstream.backoff_min_ms=100" "upstream.backoff_max_ms=1000")
fed_hub a 127.0.0.2 org1 "${UPKEYS[@]}"

# ---- d4hub -n: the section is checked --------------------------------------
"$D4HUB" -n -c "${H_CONF[a]}" >"$T_DIR/n.out" 2>&1 || fail "d4hub -n refuses A's configuration: $(cat "$T_DIR/n.out")"
n_refuses() { # MESSAGE KEY=VALUE...: d4hub -n with those keys changed fails with MESSAGE
	local msg=$1 kv k v
	shift
	cp "${H_CONF[a]}" "$T_DIR/bad.conf"
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		# the [upstream] section is the file's last: keys of other sections
		# with the same name (ca) stay
		if sed -n '/^\[upstream\]/,$p' "$T_DIR/bad.conf" | grep -q "^$k *="; then
			sed -i "/^\[upstream\]/,\$ s|^$k *=.*|$k = $v|" "$T_DIR/bad.conf"
		else
			printf '%s = %s\n' "$k" "$v" >>"$T_DIR/bad.conf"
		fi
	done
	if "$D4HUB" -n -c "$T_DIR/bad.conf" >"$T_DIR/n.out" 2>&1; then
		fail "d4hub -n accepts $*"
	fi
	grep -qF -- "$msg" "$T_DIR/n.out" || fail "d4hub -n with $*: expected '$msg', got: $(cat "$T_DIR/n.out")"
}
grep -q '^destination *=' "${H_CONF[a]}" || fail "fed_hub did not write the [upstream] section as expected"
n_refuses "only one type-254 stream" "streams=8, 254:$EXT, 254:other"
n_refuses "type 254 needs its extended type" "streams=254"
n_refuses "the type must be 1..255 and not 2" "streams=2"
n_refuses "only tlp:clear or tlp:green go to a public server" "max_tlp=tlp:amber"
n_refuses "not a version 4 uuid" "uuid=00000000000000000000000000000001"
n_refuses "upstream.key_file $T_DIR/nokey: No such file" "key_file=$T_DIR/nokey"
: >"$T_DIR/empty.key"
n_refuses "empty key" "key_file=$T_DIR/empty.key"
n_refuses "upstream.ca $T_DIR/empty.key: no PEM certificate in it" "ca=$T_DIR/empty.key"
n_refuses "upstream.ca $T_DIR/noca: No such file" "ca=$T_DIR/noca"
n_refuses "bad address" "destination=127.0.0.3"
log "d4hub -n checks the [upstream] section"

fed_start a

# ---- A's streams --------------------------------------------------------------
# craft8 LABEL TLP N: a type-8 stream of N frames from a new sensor whose level is TLP
# craft254 LABEL EXTTYPE TLP N: a 2 -> 254 stream of N frames, meta header tagged TLP
declare -A SENS NF
mkscript() { # LABEL TYPE N: d4-craft frames, each payload numbered and labelled
	local label=$1 type=$2 n=$3 i
	for i in $(seq 1 "$n"); do
		printf 'frame type=%s payload=text:%s,frame-%05d,%s\\n\n' "$type" "$label" "$i" \
			"$(printf 'x%.0s' $(seq 1 $((i % 50 + 1))))"
	done
	echo close
}
craft8() {
	local label=$1 tlp=$2 n=$3
	fsensor a
	SENS[$label]=$SENSOR_UUID NF[$label]=$n
	fctl a sensor set "$SENSOR_UUID" --tlp "$tlp" >/dev/null || fail "sensor set --tlp $tlp"
	{
		echo "set uuid=$SENSOR_UUID key=$SENSOR_KEY type=8"
		mkscript "$label" 8 "$n"
	} >"$T_DIR/craft-$label"
	fcraft a <"$T_DIR/craft-$label" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft ($label): $(tail -n 3 "$T_DIR/craft.out")"
	wait_until 60 stream_stored a "$SENSOR_UUID" "$n" || fail "A: the $label stream is not stored"
}
craft254() {
	local label=$1 ext=$2 tlp=$3 n=$4
	fsensor a
	SENS[$label]=$SENSOR_UUID NF[$label]=$n
	{
		echo "set uuid=$SENSOR_UUID key=$SENSOR_KEY type=2"
		echo "meta {\"type\":\"$ext\",\"tags\":[\"$tlp\"]}"
		mkscript "$label" 254 "$n"
	} >"$T_DIR/craft-$label"
	fcraft a <"$T_DIR/craft-$label" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft ($label): $(tail -n 3 "$T_DIR/craft.out")"
	wait_until 60 stream_stored a "$SENSOR_UUID" $((n + 1)) || fail "A: the $label stream is not stored"
}

# payloads HUB TYPE SENSORS...: the payloads of type TYPE of those sensors
# at HUB (the raw export: for 254, without the meta header), one sensor after
# the other (A's streams are sent one after the other: its log order)
payloads() {
	local hub=$1 type=$2 u
	shift 2
	for u in "$@"; do
		fapi "$hub" "/api/v1/export?sensor=$u&type=$type&format=raw" || fail "hub $hub: export of $u type $type"
	done
}
# frames_of HUB TYPE SENSORS...: data frames of type TYPE of those sensors at
# HUB (254: the sessions that began as 2, less their meta header frame)
frames_of() {
	local hub=$1 type=$2 sel
	shift 2
	sel=$(printf "'%s'," "$@")
	if [ "$type" = 254 ]; then
		fctl "$hub" --json sessions | json "sum(s['frames'] - 1 for s in d if s['sensor'] in [$sel] and s['type'] in (2, 254) and s['frames'])"
	else
		fctl "$hub" --json sessions | json "sum(s['frames'] for s in d if s['sensor'] in [$sel] and s['type'] == $type)"
	fi
}
upstream_json() { fapi a /api/v1/upstream | json "$1"; }
stream_field() { # STREAM FIELD
	upstream_json "[s for s in d['streams'] if s['stream'] == '$1'][0]$2"
}

craft8 c8 tlp:clear 7
craft8 g8 tlp:green 9
craft8 a8 tlp:amber 5
craft8 r8 tlp:red 4
craft254 c254 "$EXT" tlp:clear 6
craft254 g254 "$EXT" tlp:green 8
craft254 a254 "$EXT" tlp:amber 3
craft254 r254 "$EXT" tlp:red 2
craft254 other other-ext tlp:clear 5
craft8 c8b tlp:clear 3 # after the 254 streams: type 8 again

OK8=("${SENS[c8]}" "${SENS[g8]}" "${SENS[c8b]}")
OK254=("${SENS[c254]}" "${SENS[g254]}")
N8=$((NF[c8] + NF[g8] + NF[c8b]))
N254=$((NF[c254] + NF[g254]))
OK1=()
N1=0
# pcap_sessions HUB SENSORS...: the raw export of every type-1 session of
# those sensors, one file per session in session order, under $T_DIR/pcap-HUB/
pcap_sessions() {
	local hub=$1 id i=0 sel
	shift
	sel=$(printf "'%s'," "$@")
	rm -rf "$T_DIR/pcap-$hub" && mkdir -p "$T_DIR/pcap-$hub"
	for id in $(fctl "$hub" --json sessions | json "' '.join(str(s['id']) for s in sorted(d, key=lambda s: s['id']) if s['sensor'] in [$sel] and s['type'] == 1)"); do
		i=$((i + 1))
		fapi "$hub" "/api/v1/sessions/$id/export" >"$T_DIR/pcap-$hub/$(printf %04d $i)" || fail "hub $hub: export of session $id"
	done
}
# pcap_same: every type-1 session at P is a whole pcap stream (a global
# header, then whole records: a connection that resumed a session sent its
# header first), and P's records are exactly A's, each once (why not: in
# $T_DIR/pcap.why)
check_pcap() {
	wait_until 60 pcap_same || fail "P's type-1 sessions are not A's pcap records: $(cat "$T_DIR/pcap.why")"
	log "$(cat "$T_DIR/pcap.why")"
}
pcap_same() {
	pcap_sessions p "$UP_UUID"
	pcap_sessions a "${OK1[@]}"
	"$PY" - "$T_DIR/pcap-p" "$T_DIR/pcap-a" >"$T_DIR/pcap.why" 2>&1 <<'PYEOF'
import os, struct, sys
def records(d):
    out, nsess = [], 0
    for name in sorted(os.listdir(d)):
        b = open(os.path.join(d, name), "rb").read()
        if len(b) < 24 or b[:4] not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"):
            sys.exit("%s/%s does not start with a pcap global header" % (d, name))
        end = "<" if b[:4] == b"\xd4\xc3\xb2\xa1" else ">"
        off, nsess = 24, nsess + 1
        while off < len(b):
            if len(b) - off < 16:
                sys.exit("%s/%s: a torn record header" % (d, name))
            incl = struct.unpack(end + "I", b[off + 8:off + 12])[0]
            if len(b) - off - 16 < incl:
                sys.exit("%s/%s: a torn record" % (d, name))
            out.append(b[off:off + 16 + incl])
            off += 16 + incl
    return out, nsess
p, np_ = records(sys.argv[1])
a, na = records(sys.argv[2])
if sorted(p) != sorted(a):
    sys.exit("P holds %d records in %d sessions, A %d in %d" % (len(p), np_, len(a), na))
print("pcap: %d records, %d sessions at A, %d at P" % (len(a), na, np_))
PYEOF
}
check_exact() { # what P holds of A's sensor equals A's clear and green frames, byte for byte
	wait_until 20 eval '[ "$(frames_of p 8 "$UP_UUID")" = "$N8" ] && [ "$(frames_of p 254 "$UP_UUID")" = "$N254" ]' ||
		fail "P holds $(frames_of p 8 "$UP_UUID") type-8 and $(frames_of p 254 "$UP_UUID") type-254 frames of A, expected $N8 and $N254: $(fctl p --json sessions "$UP_UUID")"
	[ "$(payloads p 8 "$UP_UUID" | sha256sum)" = "$(payloads a 8 "${OK8[@]}" | sha256sum)" ] ||
		fail "P's type-8 payloads differ from A's clear and green ones"
	[ "$(payloads p 254 "$UP_UUID" | sha256sum)" = "$(payloads a 254 "${OK254[@]}" | sha256sum)" ] ||
		fail "P's type-254 payloads differ from A's clear and green ones"
	[ "$N1" = 0 ] || check_pcap
	# through files: with pipefail a `| grep -q` that stops early fails on
	# SIGPIPE, and a negative check could then never fail
	payloads p 8 "$UP_UUID" >"$T_DIR/p8.pay" && payloads p 254 "$UP_UUID" >"$T_DIR/p254.pay" ||
		fail "P's payloads could not be read"
	! grep -qE '^(a8|r8|a254|r254|other),' "$T_DIR/p8.pay" "$T_DIR/p254.pay" || fail "P holds amber or red frames"
}
check_exact
# P's 254 sessions: the extended type, and the level of each (one connection per level)
levels=$(fctl p --json sessions "$UP_UUID" | json "' '.join(s['tlp'] + '/' + (s.get('ext_type') or '') for s in sorted(d, key=lambda s: s['id']) if s['type'] in (2, 254))")
[ "$levels" = "tlp:clear/$EXT tlp:green/$EXT" ] || fail "P's 254 sessions: '$levels'"
# A's decisions, per stream and reason. A stream decides (and counts) only
# the frames it can carry: its type, for 254 its extended type; the other
# types, the other extended type and the meta headers (type 2) are not its
# business and appear in no counter of it.
decisions_match() { # STREAM EXPECTED-DICT
	[ "$(stream_field "$1" "['decisions']" | json "sorted(d.items()) == sorted($2.items())")" = true ]
}
decisions_are() {
	wait_until 30 decisions_match "$1" "$2" || fail "stream $1: decisions $(stream_field "$1" "['decisions']"), expected $2"
}
decisions_are 8 "{'released': $N8, 'amber-not-allowed': ${NF[a8]}, 'tlp-red': ${NF[r8]}}"
decisions_are "254:$EXT" "{'released': $N254, 'amber-not-allowed': ${NF[a254]}, 'tlp-red': ${NF[r254]}}"
wait_until 10 eval '[ "$(stream_field 8 "['"'"'frames'"'"']")" = "$N8" ] && [ "$(stream_field 8 "['"'"'lag_records'"'"']")" = 0 ]' ||
	fail "stream 8 status: $(upstream_json "d['streams'][0]")"
# the answer is the spec's UpstreamStatus
SPEC=$(dirname "$0")/../../../openapi/d4hub.yaml
fapi a /api/v1/upstream | "$PY" -c '
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
root = dict(doc); root["$ref"] = "#/components/schemas/UpstreamStatus"
jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker()).validate(json.load(sys.stdin))' "$SPEC" ||
	fail "the status is not an UpstreamStatus"
[ "$(fmetric a 'd4hub_upstream_frames_total\{stream="8"\}')" = "$N8" ] || fail "/metrics: $(fapi a /metrics | grep upstream_frames)"
[ "$(fmetric a 'd4hub_upstream_decisions_total\{stream="254:'"$EXT"'",reason="tlp-red"\}')" = "${NF[r254]}" ] ||
	fail "/metrics: $(fapi a /metrics | grep upstream_decisions)"
log "P holds exactly A's clear and green type-8 and type-254 frames; nothing amber or red"

# ---- P down, A keeps ingesting and restarts; P back -------------------------------
fed_stop p
craft8 c8c tlp:clear 30
craft254 g254b "$EXT" tlp:green 20
# a pcap file as type 1 (d4-sensor -r), the sensor's level tlp:clear
fsensor a
SENS[pcap]=$SENSOR_UUID
fctl a sensor set "$SENSOR_UUID" --tlp tlp:clear >/dev/null || fail "sensor set --tlp tlp:clear"
fsensor_run a -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 1 -r "$D4_TEST_DATA/pcap/http.pcap" -q ||
	fail "d4-sensor -r http.pcap"
OK1=("${SENS[pcap]}")
N1=$(frames_of a 1 "${SENS[pcap]}")
[ "$N1" -ge 1 ] || fail "A holds no type-1 frame"
# two type-1 sessions interleaved frame by frame (d4-craft, each frame whole
# records; the test says when each goes on): A's log holds X1 Y1 X2 Y2 X3, so
# the relay resumes each session on a new connection, its header first
pcap_frame() { # FIRST N [header]: hex of a pcap chunk: N records numbered from FIRST
	"$PY" - "$@" <<'PYEOF'
import struct, sys
first, n = int(sys.argv[1]), int(sys.argv[2])
b = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) if len(sys.argv) > 3 else b""
for i in range(first, first + n):
    data = (b"\x02" * 12 + b"\x08\x00" + ("record-%06d-" % i).encode() * 4)[:20 + i % 40]
    b += struct.pack("<IIII", 1764000000 + i, i, len(data), len(data)) + data
print(b.hex())
PYEOF
}
for x in X Y; do
	fsensor a
	SENS[$x]=$SENSOR_UUID
	fctl a sensor set "$SENSOR_UUID" --tlp tlp:green >/dev/null || fail "sensor set --tlp tlp:green"
	base=$([ $x = X ] && echo 1000 || echo 2000)
	{
		echo "set uuid=$SENSOR_UUID key=$SENSOR_KEY type=1"
		echo "frame payload=hex:$(pcap_frame $base 3 header)"
		echo "wait-file $T_DIR/go-$x-2"
		echo "frame payload=hex:$(pcap_frame $((base + 3)) 4)"
		[ $x = X ] && echo "wait-file $T_DIR/go-$x-3" && echo "frame payload=hex:$(pcap_frame $((base + 7)) 2)"
		echo close
	} >"$T_DIR/craft-$x"
done
fcraft a <"$T_DIR/craft-X" >>"$T_DIR/craft.out" 2>&1 &
CX=$!
wait_until 30 eval '[ "$(frames_of a 1 "${SENS[X]}")" = 1 ]' || fail "A: X's first frame"
fcraft a <"$T_DIR/craft-Y" >>"$T_DIR/craft.out" 2>&1 &
CY=$!
wait_until 30 eval '[ "$(frames_of a 1 "${SENS[Y]}")" = 1 ]' || fail "A: Y's first frame"
touch "$T_DIR/go-X-2"
wait_until 30 eval '[ "$(frames_of a 1 "${SENS[X]}")" = 2 ]' || fail "A: X's second frame"
touch "$T_DIR/go-Y-2"
wait_until 30 eval '[ "$(frames_of a 1 "${SENS[Y]}")" = 2 ]' || fail "A: Y's second frame"
touch "$T_DIR/go-X-3"
wait "$CX" || fail "d4-craft X: $(tail -n 3 "$T_DIR/craft.out")"
wait "$CY" || fail "d4-craft Y: $(tail -n 3 "$T_DIR/craft.out")"
wait_until 30 eval '[ "$(frames_of a 1 "${SENS[X]}")" = 3 ]' || fail "A: X's third frame"
OK1+=("${SENS[X]}" "${SENS[Y]}")
N1=$((N1 + 5))
OK8+=("${SENS[c8c]}")
OK254+=("${SENS[g254b]}")
N8=$((N8 + 30))
N254=$((N254 + 20))
wait_until 30 eval '[ "$(stream_field 8 "['"'"'connected'"'"']")" = false ] && [ "$(stream_field 8 "['"'"'lag_records'"'"']")" -gt 0 ]' ||
	fail "stream 8 while P is down: $(upstream_json "d['streams'][0]")"
[ -n "$(stream_field 8 "['last_error']")" ] || fail "no last_error while P is down"
fed_stop a
fed_start a
fed_start p
check_exact
log "P down while A ingested and restarted: everything arrived, once"

# ---- A killed with frames in flight ------------------------------------------------------
# P frozen (SIGSTOP): what A writes waits in P's socket unread and
# unacknowledged. A is killed once it has written 100 frames of the new
# stream; P thawed commits them; A restarted sends again from its last
# acknowledged position, announcing the possible replays: P keeps each frame once.
before=$(stream_field 8 "['sent_frames']")
kill -STOP "${H_PID[p]}"
craft8 big tlp:clear 3000
OK8+=("${SENS[big]}")
N8=$((N8 + 3000))
wait_until 60 eval '[ "$(stream_field 8 "['"'"'sent_frames'"'"']")" -gt $((before + 100)) ]' ||
	{ kill -CONT "${H_PID[p]}"; fail "A wrote nothing to the frozen P"; }
fed_kill9 a
kill -CONT "${H_PID[p]}"
wait_until 30 eval '[ "$(frames_of p 8 "$UP_UUID")" -gt $((N8 - 3000)) ]' || fail "P committed nothing of what A wrote before its kill"
got=$(frames_of p 8 "$UP_UUID")
log "A killed with frames in flight: P committed $got of $N8 type-8 frames from what A had written"
fed_start a
check_exact
[ "$(fctl p --json sensor show "$UP_UUID" | json "d.get('replays_dropped', 0)")" -gt 0 ] ||
	fail "P dropped no replay: $(fctl p --json sensor show "$UP_UUID")"
log "A killed with frames in flight: P holds every frame exactly once ($(fctl p --json sensor show "$UP_UUID" | json "d.get('replays_dropped', 0)") replays dropped)"
