#!/usr/bin/env bash
# Three hubs, the policy table end to end: A and B of organisation 1 (B a
# same-org partner of A), C of organisation 2 (A's partner with allow_amber,
# maximum tlp:amber). One sensor per label sends A a 2 -> 254 pdns-cof
# stream (meta header with the tags, then data frames of COF lines, so that
# A's pDNS worker makes tuples of it too) tagged tlp:clear, tlp:green,
# tlp:amber, tlp:amber+strict, tlp:red, misp:should-not-sync (with
# tlp:clear) and tlp:ex:chr; A pushes frames and pdns to B and C.
# Checked through B's and C's REST APIs (raw export as admin, pDNS
# queries): exactly the frames and tuples the table allows arrive (exact
# counts per label, the payloads byte for byte), with their provenance
# (origin hub A, nothing in between, partner a, original level and org; tlp:ex:chr
# without org, sensor or hub path), and nothing else; B's and C's pDNS
# workers do not count received frames a second time. At A, every decision
# is counted per partner, kind and reason (what was refused with its reason).
source "$(dirname "$0")/fedlib.sh"

fed_hub a 127.0.0.2 org1
fed_hub b 127.0.0.3 org1
fed_hub c 127.0.0.4 org2
fed_start a
fed_start b
fed_start c

# receivers first: B and C accept frames and pdns from A
fed_partner b a a --direction push --file <(echo '{"inbound": {"kinds": ["frames", "pdns"], "max_tlp": "tlp:amber+strict"}}')
fed_partner c a a --direction push --file <(echo '{"inbound": {"kinds": ["frames", "pdns"], "max_tlp": "tlp:amber"}}')

# ---- A's streams, one sensor per label: label|tags|stored level|B|C
# (B/C: "yes", "stripped", or the refusal reason at A)
CASES=(
	'clear|["tlp:clear"]|tlp:clear|yes|yes'
	'green|["tlp:green"]|tlp:green|yes|yes'
	'amber|["tlp:amber"]|tlp:amber|yes|yes'
	'strict|["tlp:amber+strict"]|tlp:amber+strict|yes|amber-strict-other-org'
	'red|["tlp:red"]|tlp:red|tlp-red|tlp-red'
	'nosync|["misp:should-not-sync","tlp:clear"]|tlp:red|should-not-sync|should-not-sync'
	'exchr|["tlp:ex:chr"]|tlp:ex:chr|stripped|stripped'
)
declare -A SENS NFR
i=0
for c in "${CASES[@]}"; do
	IFS='|' read -r label tags level _ _ <<<"$c"
	i=$((i + 1))
	fsensor a
	SENS[$label]=$SENSOR_UUID
	NFR[$label]=$((i + 2)) # a different number of data frames per label
	{
		echo "set uuid=$SENSOR_UUID key=$SENSOR_KEY type=2"
		echo "meta {\"type\":\"pdns-cof\",\"tags\":$tags}"
		for f in $(seq 1 "${NFR[$label]}"); do
			printf 'frame type=254 payload=text:'
			for k in 1 2; do
				printf '{"rrname":"f%d-%d.%s.fed.test","rrtype":"A","rdata":"198.51.100.%d","time_first":1764000000,"time_last":1764000%03d,"count":%d}\\n' \
					"$f" "$k" "$label" $((i * 16 + f)) $((f * 10 + k)) "$k"
			done
			echo
		done
		echo close
	} >"$T_DIR/craft-$label"
	fcraft a <"$T_DIR/craft-$label" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft ($label): $(tail -n 3 "$T_DIR/craft.out")"
done
# A committed every stream: frames per sensor (meta header + data frames)
for label in "${!SENS[@]}"; do
	wait_until 60 stream_stored a "${SENS[$label]}" $((NFR[$label] + 1)) || fail "A: the $label stream is not stored"
done
declare -A AFR
for label in "${!SENS[@]}"; do
	AFR[$label]=$(fctl a --json frames | json "len([f for f in d if f['uuid'] == '${SENS[$label]}'])")
	[ "${AFR[$label]}" -ge "${NFR[$label]}" ] || fail "A holds ${AFR[$label]} frames of $label"
done
# ... and A's pDNS worker made two tuples per data frame
a_tuples() { fapi a "/pdns/query/*.$1.fed.test" | grep -c rrname; }
for label in "${!SENS[@]}"; do
	wait_until 30 eval '[ "$(a_tuples "$label")" = $((2 * NFR[$label])) ]' ||
		fail "A has $(a_tuples "$label") tuples of $label, expected $((2 * NFR[$label]))"
done
log "A holds the 7 streams and their tuples"

# ---- A's partners: B same-org (up to amber+strict), C partner (amber allowed, max amber)
fed_partner a b b --direction push --file <(
	cat <<'EOF'
{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:amber+strict"},
              "pdns": {"enabled": true, "max_tlp": "tlp:amber+strict"}}}
EOF
)
fed_partner a c c --direction push --file <(
	cat <<'EOF'
{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:amber", "allow_amber": true},
              "pdns": {"enabled": true, "max_tlp": "tlp:amber", "allow_amber": true}}}
EOF
)

# expected per receiver: frames, tuples; refusals per reason at A
declare -A WANT_FR WANT_TU
for h in b c; do
	WANT_FR[$h]=0
	WANT_TU[$h]=0
done
col() { # label receiver -> its column of CASES
	local c l t lv wb wc
	for c in "${CASES[@]}"; do
		IFS='|' read -r l t lv wb wc <<<"$c"
		[ "$l" = "$1" ] || continue
		[ "$2" = b ] && echo "$wb" || echo "$wc"
		return
	done
}
for label in "${!SENS[@]}"; do
	for h in b c; do
		case $(col "$label" "$h") in
		yes | stripped)
			WANT_FR[$h]=$((WANT_FR[$h] + AFR[$label]))
			WANT_TU[$h]=$((WANT_TU[$h] + 2 * NFR[$label]))
			;;
		esac
	done
done
for h in b c; do
	wait_until 60 frames_is "$h" "${WANT_FR[$h]}" ||
		fail "hub $h holds $(frames_total "$h") frames, expected ${WANT_FR[$h]}"
done
log "B holds ${WANT_FR[b]} frames, C ${WANT_FR[c]}"

# the sender acknowledged everything to both (nothing left to send): what
# arrived is final
caught_up() { # PARTNER KIND
	[ "$(fapi a "/api/v1/partners/$1/status" | json "d['kinds']['$2']['sender']['lag_records']")" = 0 ]
}
for p in b c; do
	for k in frames pdns; do
		wait_until 60 caught_up "$p" "$k" || fail "A -> $p ($k): not caught up: $(fapi a "/api/v1/partners/$p/status")"
	done
done

# ---- frames at B and C, per label, through the raw export: count, bytes, provenance
export_of() { # HUB SENSOR -> ndjson of the sensor's type-254 streams (meta header included)
	fapi "$1" "/api/v1/export?sensor=$2&type=254&format=ndjson"
}
ZERO=00000000-0000-0000-0000-000000000000
for label in "${!SENS[@]}"; do
	# A's own export of the stream: the reference
	export_of a "${SENS[$label]}" >"$T_DIR/a-$label.nd" || fail "A: export of $label"
	for h in b c; do
		w=$(col "$label" "$h")
		case $w in
		yes) s=${SENS[$label]} ;;
		stripped) s=$ZERO ;;
		*) s=${SENS[$label]} ;;
		esac
		export_of "$h" "$s" >"$T_DIR/$h-$label.nd" 2>"$T_DIR/export.err" || : >"$T_DIR/$h-$label.nd"
		"$PY" - "$T_DIR/a-$label.nd" "$T_DIR/$h-$label.nd" "$w" "$label" "${H_UUID[a]}" "${H_ORG[a]}" <<'PYEOF' ||
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
got = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
want, label, a_hub, a_org = sys.argv[3], sys.argv[4], sys.argv[5].replace("-", ""), sys.argv[6].replace("-", "")
def u(x):
    return (x or "").replace("-", "").lower()
if want not in ("yes", "stripped"):
    # nothing of a refused stream: its sensor is unknown there, or has no frame
    sys.exit("%s: %d frames arrived, none allowed (%s)" % (label, len(got), want) if got else 0)
if want == "stripped":
    # other stripped streams could share the all-zero sensor: keep this label's
    got = [g for g in got if (".%s.fed.test" % label) in __import__("base64").b64decode(g["payload_b64"]).decode("utf-8", "replace")
           or g.get("type") == 2]
if len(got) != len(ref):
    sys.exit("%s: %d frames arrived, A holds %d" % (label, len(got), len(ref)))
for r, g in zip(ref, got):
    if r["payload_b64"] != g["payload_b64"] or r["type"] != g["type"]:
        sys.exit("%s: frame differs: A %s / here %s" % (label, r, g))
    if g["tlp"] != r["tlp"]:
        sys.exit("%s: level %s, A stored %s" % (label, g["tlp"], r["tlp"]))
    fed = g.get("federation") or {}
    if fed.get("partner") != "a" or u(fed.get("sender")) != a_hub:
        sys.exit("%s: provenance does not name partner a / sender A: %s" % (label, g))
    if want == "yes":
        if u(g.get("sensor")) != u(r.get("sensor")) or u(g.get("org")) != a_org:
            sys.exit("%s: sensor or org lost: %s" % (label, g))
        # straight from its origin: no hub in between (via holds the hubs it came through)
        if u(fed.get("origin")) != a_hub or fed.get("via") != [] or fed.get("stripped"):
            sys.exit("%s: origin/via wrong: %s" % (label, g))
    else:
        # no org and no sensor (the export writes them as the all-zero uuid), no origin, no path
        if u(g.get("org")) not in ("", "0" * 32) or u(g.get("sensor")) not in ("", "0" * 32) or fed.get("origin") \
                or fed.get("via") or not fed.get("stripped"):
            sys.exit("%s: tlp:ex:chr arrived with its source identity: %s" % (label, g))
PYEOF
			fail "hub $h, $label: $(cat "$T_DIR/export.err")"
	done
done
log "frames per label at B and C: as the table says, byte for byte, with provenance"

# ---- pDNS tuples at B and C, per label
tuples_of() { fapi "$1" "/pdns/query/*.$2.fed.test"; }
for h in b c; do
	wait_until 60 eval '[ "$(fapi "$h" "/pdns/query/*.fed.test" | grep -c rrname)" = "${WANT_TU[$h]}" ]' ||
		fail "hub $h has $(fapi "$h" "/pdns/query/*.fed.test" | grep -c rrname) tuples, expected ${WANT_TU[$h]}"
done
for label in "${!SENS[@]}"; do
	tuples_of a "$label" >"$T_DIR/a-$label.cof"
	for h in b c; do
		w=$(col "$label" "$h")
		tuples_of "$h" "$label" >"$T_DIR/$h-$label.cof" || fail "hub $h: pDNS query"
		"$PY" - "$T_DIR/a-$label.cof" "$T_DIR/$h-$label.cof" "$w" "$label" "${SENS[$label]}" "${H_UUID[a]}" <<'PYEOF' ||
import json, sys
key = lambda t: (t["rrname"], t["rrtype"], t["rdata"])
ref = {key(t): t for t in map(json.loads, filter(str.strip, open(sys.argv[1])))}
got = {key(t): t for t in map(json.loads, filter(str.strip, open(sys.argv[2])))}
want, label, sensor, a_hub = sys.argv[3], sys.argv[4], sys.argv[5].replace("-", "").lower(), sys.argv[6].replace("-", "").lower()
if want not in ("yes", "stripped"):
    sys.exit("%s: %d tuples arrived, none allowed" % (label, len(got)) if got else 0)
if set(ref) != set(got):
    sys.exit("%s: tuples differ: missing %s, extra %s" % (label, set(ref) - set(got), set(got) - set(ref)))
for k, r in ref.items():
    g = got[k]
    for f in ("count", "time_first", "time_last"):
        if g[f] != r[f]:
            sys.exit("%s: %s %s = %s, A has %s (counted twice?)" % (label, k, f, g[f], r[f]))
    sid = (g.get("sensor_id") or "").replace("-", "").lower()
    origins = [o.replace("-", "").lower() for o in g.get("origin_hubs", [])]
    if want == "yes" and (sid != sensor or origins != [a_hub]):
        sys.exit("%s: provenance lost: %s" % (label, g))
    if want == "stripped" and (sid or origins):
        sys.exit("%s: tlp:ex:chr tuple with its source identity: %s" % (label, g))
PYEOF
			fail "hub $h: pDNS tuples of $label"
	done
done
log "tuples per label at B and C: as the table says, counts and times as at A, provenance shown"

# ---- A counted every decision, per partner, kind and reason
# expected: frames and observations (2 per data frame) per reason
expect_decisions() { # PARTNER KIND -> {"reason": n, ...}
	local p=$1 k=$2 label w n
	declare -A r=()
	for label in "${!SENS[@]}"; do
		w=$(col "$label" "$p")
		[ "$k" = frames ] && n=${AFR[$label]} || n=$((2 * NFR[$label]))
		case $w in
		yes) w=released ;;
		stripped) w=ex-chr-stripped ;;
		esac
		r[$w]=$((${r[$w]:-0} + n))
	done
	for w in "${!r[@]}"; do echo "$w ${r[$w]}"; done | sort
}
got_decisions() { # PARTNER KIND
	fapi a "/api/v1/partners/$1/status" | json "'\n'.join('%s %d' % (r, n) for r, n in sorted(d['kinds']['$2']['acknowledged']['decisions'].items()) if n)"
}
for p in b c; do
	for k in frames pdns; do
		want=$(expect_decisions "$p" "$k")
		# a should-not-sync stream is stored at tlp:red (hub/policy): counted as tlp-red
		# or should-not-sync, never released
		got=$(got_decisions "$p" "$k") || fail "A: partner status of $p"
		if [ "$got" != "$want" ]; then
			alt=$(echo "$want" | "$PY" -c '
import sys
d = dict((l.split()[0], int(l.split()[1])) for l in sys.stdin if l.strip())
d["tlp-red"] = d.get("tlp-red", 0) + d.pop("should-not-sync", 0)
print("\n".join("%s %d" % (k, v) for k, v in sorted(d.items())))')
			[ "$got" = "$alt" ] || fail "A -> $p ($k) decisions: got [$(echo $got)], expected [$(echo $want)]"
		fi
		# the same figures in /metrics
		while read -r reason n; do
			m=$(fmetric a "d4hub_federation_decisions_total\\{partner=\"$p\",kind=\"$k\",reason=\"$reason\"\\}")
			assert_eq "$m" "$n" "/metrics: A -> $p $k $reason"
		done <<<"$got"
	done
done
log "A's decisions per partner, kind and reason: exact"

# B and C stored without refusing anything (A refused before sending)
for h in b c; do
	r=$(fapi "$h" /api/v1/partners/a/status | json "sum(sum(k['received']['refused'].values()) for k in d['kinds'].values())")
	assert_eq "$r" 0 "records refused on receipt at $h"
done
for h in a b c; do fed_stop "$h"; done
pass
