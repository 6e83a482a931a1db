# tests/integration/demo/flows.sh — the multi-organisation demo's flows,
# checked through each hub's REST API (sourced, bash, after lib.sh): by
# it_demo_multiorg (processes) and it_demo_compose (containers). Needs the
# demo's demo.env sourced (DEMO_CA, DEMO_API_*, DEMO_TOKEN_*, DEMO_HUB_*), the
# demo's sensors file as $DEMO_SENSORS, the sample data as $D4_TEST_DATA, and
# demo_curl (curl, or curl run where the hubs can be reached).
# * frames: every sample stream reaches exactly the hubs its TLP, the
#   relations and the relay consents allow (the same number of frames as at
#   its origin), and no other hub holds a frame of it once every decision is
#   counted;
# * every egress decision is counted with the reason the policy table gives
#   (released, amber-not-allowed, not-community, tlp-red, and for what a hub
#   received: loop-origin, loop-via, relay-not-allowed), for frames exactly;
#   for pDNS, what a partner acknowledged is what it received, nothing refused
#   on receipt;
# * mixing: org1's pDNS share with org3 decides every observation as the mix
#   says (released, mix-below-threshold, rdata-private, exactly); org3's
#   tuples of it carry the pool id and hour-rounded times, none below the
#   thresholds and none of a private address is there; org2 (no mix) has
#   them exact;
# * signed provenance: keys exchanged and must_sign on every relation; org2's
#   capture relayed by org1 is stored at org3 as org2's (origin org2, via
#   org1), which requires org2's signature there; no record refused for a
#   signature (bad-signature, unsigned, unknown-signer) anywhere, in the
#   status and in /metrics;
# * pDNS tuples: a receiving hub shows the tuples of a partner's released
#   streams with that partner as origin hub, and none of a stream it may not
#   have.
# shellcheck shell=bash

HUBS="org1 org2 org3 public"
# api HUB PATH [curl args]: the hub's REST API as its admin (body on stdout;
# fails on an HTTP error). demo_curl is the caller's curl (the compose test
# runs it inside the containers' network namespace).
api() {
	local u=DEMO_API_$1 t=DEMO_TOKEN_$1 p=$2
	shift 2
	demo_curl -sfS --max-time 30 --cacert "$DEMO_CA" -H "Authorization: Bearer ${!t}" "$@" "${!u}$p"
}
# sessions HUB SENSOR: the sessions HUB holds of that origin sensor (its own,
# or received from partners), a JSON array; [] when it holds none (404)
sessions() {
	local out code
	out=$(demo_curl -sS --max-time 30 --cacert "$DEMO_CA" -H "Authorization: Bearer $(_tok "$1")" \
		-w '\n%{http_code}' "$(_url "$1")/api/v1/sensors/$2/sessions?limit=1000") || return 1
	code=$(echo "$out" | tail -n 1)
	case $code in
	404) echo '[]' ;;
	200) echo "$out" | sed '$d' | json "d['items'] if d['next_cursor'] is None else None" ;;
	*) return 1 ;;
	esac
}
_tok() { local t=DEMO_TOKEN_$1; echo "${!t}"; }
_url() { local u=DEMO_API_$1; echo "${!u}"; }

# The policy this topology must show, written out here rather than read from
# the script: the relation of each (from, to) pair ...
# (the public hub is no federation partner: it gets the upstream relay, below)
declare -A REL=([org1:org2]=partner [org2:org1]=partner [org1:org3]=community [org3:org1]=community)
# ... where a hub passes on frames it received (its rule's allow_relay) ...
declare -A RELAY=([org1:org3]=1)
# ... and where an origin lets the hub it sends to pass its records on (onward)
declare -A ONWARD=([org2:org1]=1)
# ... and the egress reason of a record of level TLP to a partner of RELATION
# (docs/federation.md, the policy table; each rule's max is the highest level
# its relation may have: amber with allow_amber for partners, green for the
# community, clear for the public hub of the upstream relay)
reason() { # TLP RELATION
	case $1 in
	tlp:red) echo tlp-red ;;
	tlp:amber) [ "$2" = partner ] && echo released || echo amber-not-allowed ;;
	tlp:green) [ "$2" = public ] && echo not-community || echo released ;;
	tlp:clear) echo released ;;
	*) fail "no expectation for $1" ;;
	esac
}
# decide TLP FROM TO ORIGIN VIA: FROM's decision on a record of ORIGIN it holds
# (received over the hubs VIA, space-separated; none: its own or received from
# the origin itself) towards its partner TO: back to the origin or along the
# path first, then the level's row of the table, then the relay rule and the
# origin's consent
decide() {
	local tlp=$1 from=$2 to=$3 o=$4 via=$5 rel r first
	rel=${REL[$from:$to]:-}
	[ "$to" = public ] && rel=public
	if [ "$from" = "$o" ]; then
		reason "$tlp" "$rel"
		return
	fi
	[ "$to" = "$o" ] && echo loop-origin && return
	case " $via " in *" $to "*) echo loop-via && return ;; esac
	r=$(reason "$tlp" "$rel")
	[ "$r" = released ] || { echo "$r" && return; }
	[ "$to" = public ] && echo relay-not-allowed && return
	[ -n "${RELAY[$from:$to]:-}" ] || { echo relay-not-allowed && return; }
	first=${via%% *}
	[ -n "$first" ] || first=$from
	[ -n "${ONWARD[$o:$first]:-}" ] || { echo origin-no-onward && return; }
	echo released
}

# frames HUB SENSOR: frames HUB holds of that origin sensor (0 if none)
frames() {
	local out
	out=$(sessions "$1" "$2") || return 1
	echo "$out" | json "sum(s['frames'] for s in d)"
}
frames_eq() { [ "$(frames "$1" "$2")" = "$3" ]; }

# ---- the origin holds each stream whole (sessions ended)
declare -A ORIGIN TLP TYPE NFR UUID FILE
LABELS=()
while read -r h label type file tlp u k; do
	LABELS+=("$label")
	ORIGIN[$label]=$h TLP[$label]=$tlp TYPE[$label]=$type FILE[$label]=$file
	UUID[$label]=$u
	ended() { [ "$(sessions "$1" "$2" | json "all(s['ended'] for s in d) and len(d) > 0")" = true ]; }
	wait_for 60 "$label: its session ended at $h" ended "$h" "$u"
	NFR[$label]=$(frames "$h" "$u")
	assert_ge "${NFR[$label]}" 1 "$label: frames at its origin $h"
done <"$DEMO_SENSORS"
uuid_of() { echo "${UUID[$1]}"; }

# ---- which hub holds which stream: HOLD[label:hub] is the path it came over
# ("-" at its origin, "" straight from its origin, else the relaying hubs),
# from the decisions above, until nothing more can move
declare -A HOLD
for label in "${LABELS[@]}"; do
	HOLD[$label:${ORIGIN[$label]}]=-
	moved=1
	while [ $moved = 1 ]; do
		moved=0
		for key in "${!REL[@]}"; do
			from=${key%:*} to=${key#*:}
			[ -n "${HOLD[$label:$from]+x}" ] && [ -z "${HOLD[$label:$to]+x}" ] || continue
			via=${HOLD[$label:$from]}
			[ "$via" = - ] && via=
			[ "$(decide "${TLP[$label]}" "$from" "$to" "${ORIGIN[$label]}" "$via")" = released ] || continue
			if [ "$from" = "${ORIGIN[$label]}" ]; then HOLD[$label:$to]=; else HOLD[$label:$to]=${via:+$via }$from; fi
			moved=1
		done
	done
done
holds() { [ -n "${HOLD[$1:$2]+x}" ]; }
via_of() { local v=${HOLD[$1:$2]}; [ "$v" = - ] && v=; echo "$v"; }

# ---- frames reach exactly the hubs allowed
for label in "${LABELS[@]}"; do
	for to in $HUBS; do
		[ "$to" = "${ORIGIN[$label]}" ] && continue
		holds "$label" "$to" || continue
		wait_for 120 "$label (${TLP[$label]}) at $to (via [$(via_of "$label" "$to")]): ${NFR[$label]} frames" \
			frames_eq "$to" "$(uuid_of "$label")" "${NFR[$label]}"
	done
done
log "every stream reached every hub it may reach, whole"

# ---- the decisions per partner and reason, exactly: a hub decides on every
# frame of its log, its own sensors' and those it received
declare -A WANT
for label in "${LABELS[@]}"; do
	for h in $HUBS; do
		holds "$label" "$h" || continue
		for key in "${!REL[@]}"; do
			[ "${key%:*}" = "$h" ] || continue
			to=${key#*:}
			r=$(decide "${TLP[$label]}" "$h" "$to" "${ORIGIN[$label]}" "$(via_of "$label" "$h")")
			WANT[$h:$to:$r]=$((${WANT[$h:$to:$r]:-0} + NFR[$label]))
		done
	done
done
decisions() { # FROM TO KIND
	api "$1" "/api/v1/partners/$2/status" |
		json "' '.join('%s %d' % (r, n) for r, n in sorted(d['kinds']['$3']['acknowledged']['decisions'].items()) if n)"
}
decisions_are() { [ "$(decisions "$1" "$2" "${4:-frames}")" = "$3" ]; }
pdns_received() { # FROM TO: TO stored what FROM released to it
	local rel rx
	rel=$(api "$1" "/api/v1/partners/$2/status" | json "d['kinds']['pdns']['acknowledged']['decisions'].get('released', 0)")
	rx=$(api "$2" "/api/v1/partners/$1/status" | json "d['kinds']['pdns']['received']['records']")
	[ "$rx" = "$rel" ]
}
for key in "${!REL[@]}"; do
	from=${key%:*} to=${key#*:}
	want=$(for k in "${!WANT[@]}"; do
		case $k in "$from:$to:"*) echo "${k##*:} ${WANT[$k]}" ;; esac
	done | sort | tr '\n' ' ' | sed 's/ $//')
	wait_until 120 decisions_are "$from" "$to" "$want" ||
		fail "$from -> $to: frame decisions [$(decisions "$from" "$to" frames)], expected [$want]"
	# pDNS: what the receiver stored is what the sender released, nothing refused there
	wait_for 120 "$to stored the pDNS observations $from released to it" pdns_received "$from" "$to"
	refused=$(api "$to" "/api/v1/partners/$from/status" | json "sum(sum(k['received']['refused'].values()) for k in d['kinds'].values())")
	assert_eq "$refused" 0 "$to refused on receipt from $from"
	log "$from -> $to: frames [$want]; pDNS [$(decisions "$from" "$to" pdns)]"
done
# some pDNS did cross unmixed (org1's green passive DNS to org2)
n=$(api org1 /api/v1/partners/org2/status | json "d['kinds']['pdns']['acknowledged']['decisions'].get('released', 0)")
assert_ge "$n" 1 "org1 -> org2: pDNS released"

# ---- every frame is decided: no hub holds a frame of a stream it may not have
for label in "${LABELS[@]}"; do
	for to in $HUBS; do
		holds "$label" "$to" || assert_eq "$(frames "$to" "$(uuid_of "$label")")" 0 "${label} (${TLP[$label]}) at $to"
	done
done
log "no stream reached a hub it may not reach"

# ---- the upstream relation: each organisation's hub sends the public hub, as
# the sensor it is registered as there (DEMO_UPSTREAM_<hub>), exactly the
# frames of its own sensors of the relayed types (1, 8) at tlp:clear, and
# counts every frame of its log of the stream's type per stream and reason
# (the level first, then relaying)
UP_TYPES="1 8"
up_frames() { # HUB TYPE: frames the public hub holds from HUB's upstream, of that type
	local u=DEMO_UPSTREAM_$1
	sessions public "${!u}" | json "sum(s['frames'] for s in d if s['type'] == $2)"
}
up_frames_eq() { [ "$(up_frames "$1" "$2")" = "$3" ]; }
up_decisions() { # HUB TYPE
	api "$1" /api/v1/upstream |
		json "' '.join('%s %d' % (r, n) for s in d['streams'] if s['stream'] == '$2' for r, n in sorted(s['decisions'].items()) if n)"
}
up_decisions_are() { [ "$(up_decisions "$1" "$2")" = "$3" ]; }
for h in org1 org2 org3; do
	for t in $UP_TYPES; do
		declare -A WUP=()
		nup=0
		for label in "${LABELS[@]}"; do
			# its own streams, and those it received (never relayed up);
			# a stream decides only the frames of its type
			holds "$label" "$h" && [ "${TYPE[$label]}" = "$t" ] || continue
			r=$(decide "${TLP[$label]}" "$h" public "${ORIGIN[$label]}" "$(via_of "$label" "$h")")
			[ "$r" = released ] && nup=$((nup + NFR[$label]))
			WUP[$r]=$((${WUP[$r]:-0} + NFR[$label]))
		done
		want=$(for r in "${!WUP[@]}"; do echo "$r ${WUP[$r]}"; done | sort | tr '\n' ' ' | sed 's/ $//')
		wait_until 120 up_decisions_are "$h" "$t" "$want" ||
			fail "$h -> public (upstream, type $t): decisions [$(up_decisions "$h" "$t")], expected [$want]"
		wait_until 120 up_frames_eq "$h" "$t" "$nup" ||
			fail "the public hub holds $(up_frames "$h" "$t") type-$t frames from $h's upstream, expected $nup"
		log "$h -> public (upstream, type $t): $nup frames; decisions [$want]"
		unset WUP
	done
done
# the clear streams did go up (org3's), and their sessions are at tlp:clear
assert_ge "$(up_frames org3 8)" 1 "org3's clear passive DNS at the public hub"
assert_eq "$(sessions public "$DEMO_UPSTREAM_org3" | json "sorted(set(s['tlp'] for s in d))")" '["tlp:clear"]' \
	"the levels of org3's streams at the public hub"


# ---- pDNS tuples by origin hub: web.example.test (org1's green passive DNS,
# unmixed to org2), www.wireshark.org (org3's clear passive DNS; org1 has it
# from its red capture too, and its own tuples name no origin hub) and
# pagead2.googlesyndication.com (org1's amber capture, org2's amber passive DNS)
origins() { # HUB NAME -> the partner hubs that sent observations of NAME to HUB
	api "$1" "/pdns/query/$2" | "$PY" -c '
import json, sys
hubs = {}
for l in sys.stdin:
    if l.strip():
        t = json.loads(l)
        for o in t.get("origin_hubs") or []:
            hubs[o.replace("-", "").lower()] = 1
print(" ".join(sorted(hubs)))' || echo error
}
hexid() { echo "$1" | tr -d - | tr A-F a-f; }
hubname() { # uuid -> hub name
	local h v
	for h in $HUBS; do
		v=DEMO_HUB_$h
		[ "$(hexid "${!v}")" = "$1" ] && echo "$h" && return
	done
	echo "$1"
}
origin_names() { # HUB NAME -> sorted names
	local o
	for o in $(origins "$1" "$2"); do
		case $o in error) echo "$o" ;; *) hubname "$o" ;; esac
	done | sort | tr '\n' ' ' | sed 's/ $//'
}
origins_are() { [ "$(origin_names "$1" "$2")" = "$3" ]; }
check_origins() { # HUB NAME EXPECTED
	wait_until 60 origins_are "$1" "$2" "$3" || fail "tuples of $2 at $1 come from [$(origin_names "$1" "$2")], expected [$3]"
}
check_origins org2 web.example.test "org1"
check_origins org1 www.wireshark.org "org3"
check_origins org2 www.wireshark.org ""
check_origins public www.wireshark.org "" # up the D4 protocol: the public hub's own sensor
tuples() { # HUB NAME: tuples of NAME at HUB
	local out code
	out=$(demo_curl -sS --max-time 30 --cacert "$DEMO_CA" -H "Authorization: Bearer $(_tok "$1")" \
		-w '\n%{http_code}' "$(_url "$1")/pdns/query/$2") || return 1
	code=$(echo "$out" | tail -n 1)
	case $code in
	404) echo 0 ;;
	200) echo "$out" | sed '$d' | grep -c rrname || true ;;
	*) return 1 ;;
	esac
}
tuples_ge1() { [ "$(tuples "$1" "$2")" -ge 1 ]; }
wait_for 60 "the public hub's pDNS of the passive DNS that went up" tuples_ge1 public www.wireshark.org
check_origins org1 pagead2.googlesyndication.com "org2"
check_origins org2 pagead2.googlesyndication.com "org1"
check_origins org3 pagead2.googlesyndication.com ""
assert_eq "$(tuples public pagead2.googlesyndication.com)" 0 "tuples of amber streams at the public hub"
log "pDNS tuples at each hub come from exactly the organisations allowed to send them"

# ---- mixing: org1's pDNS share with org3 (deploy/demo-multiorg.sh MIX: 2
# sensors or 5 times, times rounded down to the hour, the pool id for the
# sensors). What must happen to each observation of org1's green passive DNS
# samples, from the sample lines themselves: a tuple goes when org1's sensors
# saw it together 5 times or 2 of them saw it (the samples share no tuple with
# org1's captures or the partners' samples), an A/AAAA of a private range never.
MIX_FROM=org1 MIX_TO=org3 MIX_POOL=$(hexid "$DEMO_MIX_POOL") MIX_SENSORS=2 MIX_COUNT=5 MIX_STEP=3600
mix_files=()
for label in "${LABELS[@]}"; do
	[ "${ORIGIN[$label]}" = "$MIX_FROM" ] && [ "${TLP[$label]}" = tlp:green ] || continue
	[ "${TYPE[$label]}" = 8 ] || fail "$label: no expectation for a green capture of $MIX_FROM"
	mix_files+=("$label=$D4_TEST_DATA/${FILE[$label]}")
done
MIX_MODEL=$T_DIR/mix-model.json
"$PY" - "$MIX_SENSORS" "$MIX_COUNT" "${mix_files[@]}" >"$MIX_MODEL" <<'PYEOF' || fail "the mix model"
import ipaddress, json, sys
ks, kn = int(sys.argv[1]), int(sys.argv[2])
private = [ipaddress.ip_network(n) for n in ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
           "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "::/128", "::1/128", "fc00::/7", "fe80::/10")]
tup, obs = {}, []
for arg in sys.argv[3:]:
    label, path = arg.split("=", 1)
    for line in open(path):
        f = line.rstrip("\n").split("||")
        if len(f) != 9:
            continue
        key = (f[4].lower(), f[5], f[6])
        t = tup.setdefault(key, {"rrname": key[0], "rrtype": key[1], "rdata": key[2], "sensors": [],
                                  "count": 0, "first": None, "last": None})
        if label not in t["sensors"]:
            t["sensors"].append(label)
        t["count"] += int(f[8])
        ts = int(float(f[0]))
        t["first"] = ts if t["first"] is None else min(t["first"], ts)
        t["last"] = ts if t["last"] is None else max(t["last"], ts)
        obs.append(key)
for t in tup.values():
    t["private"] = t["rrtype"] in ("A", "AAAA") and any(ipaddress.ip_address(t["rdata"]) in n for n in private)
    t["go"] = not t["private"] and (len(t["sensors"]) >= ks or t["count"] >= kn)
dec = {}
for k in obs:
    t = tup[k]
    r = "rdata-private" if t["private"] else "released" if t["go"] else "mix-below-threshold"
    dec[r] = dec.get(r, 0) + 1
print(json.dumps({"decisions": dec, "tuples": list(tup.values())}))
PYEOF
# the rest of org1's pDNS observations (its captures) are refused on their level
declare -A MWANT=()
while read -r r n; do MWANT[$r]=$n; done < <(json "' '.join('%s %d' % kv for kv in d['decisions'].items())" <"$MIX_MODEL" | xargs -n 2)
PINFO=$(api "$MIX_FROM" /pdns/info)
for label in "${LABELS[@]}"; do
	[ "${ORIGIN[$label]}" = "$MIX_FROM" ] && [ "${TLP[$label]}" != tlp:green ] || continue
	r=$(reason "${TLP[$label]}" "${REL[$MIX_FROM:$MIX_TO]}")
	n=$(echo "$PINFO" | json "sum(s['observations'] for s in d['sensors'] if s['uuid'] == '$(hexid "${UUID[$label]}")')")
	[ "$n" = 0 ] || MWANT[$r]=$((${MWANT[$r]:-0} + n))
done
want=$(for r in "${!MWANT[@]}"; do echo "$r ${MWANT[$r]}"; done | sort | tr '\n' ' ' | sed 's/ $//')
for r in released mix-below-threshold rdata-private; do
	[ "${MWANT[$r]:-0}" -ge 1 ] || fail "the samples show no $r in $MIX_FROM's mixed share (the sample lines changed?)"
done
wait_until 120 decisions_are "$MIX_FROM" "$MIX_TO" "$want" pdns ||
	fail "$MIX_FROM -> $MIX_TO: pDNS decisions [$(decisions "$MIX_FROM" "$MIX_TO" pdns)], expected [$want]"
log "$MIX_FROM -> $MIX_TO (mixed): pDNS decisions [$want]"
# each tuple at the mixed partner (org3) and the unmixed one (org2): what the
# hub shows of the samples' tuples (view) against what it must show (want)
cat >"$T_DIR/mix_tuples.py" <<'PYEOF'
import json, sys
mode, model, hub, pool, step, origin, mixed = sys.argv[1:8]
step, ids = int(step), dict(a.split("=", 1) for a in sys.argv[8:])
m = json.load(open(model))
keys = {(t["rrname"], t["rrtype"], t["rdata"]) for t in m["tuples"]}
out = []
if mode == "view":
    for l in sys.stdin:
        if l.strip():
            t = json.loads(l)
            if (t["rrname"], t["rrtype"], t["rdata"]) in keys:
                out.append(t)
else:
    for t in m["tuples"]:
        if hub != "org1" and (t["private"] or (hub == mixed and not t["go"])):
            continue
        o = {"rrname": t["rrname"], "rrtype": t["rrtype"], "rdata": t["rdata"], "count": t["count"]}
        if hub != "org1":
            o["origin_hubs"] = [origin]
        if hub == mixed:
            o.update(time_first=t["first"] - t["first"] % step, time_last=t["last"] - t["last"] % step, sensor_id=pool)
        else:
            o.update(time_first=t["first"], time_last=t["last"])
            if len(t["sensors"]) == 1:
                o["sensor_id"] = ids[t["sensors"][0]]
        out.append(o)
for line in sorted(json.dumps(o, sort_keys=True) for o in out):
    print(line)
PYEOF
mix_tuples() { # view|want HUB: one line per tuple, sorted
	local rr labels=() label
	for label in "${LABELS[@]}"; do labels+=("$label=$(hexid "${UUID[$label]}")"); done
	if [ "$1" = view ]; then
		for rr in $(json "' '.join(sorted(set(t['rrname'] for t in d['tuples'])))" <"$MIX_MODEL"); do
			api "$2" "/pdns/query/$rr" || return 1
			echo
		done
	fi | "$PY" "$T_DIR/mix_tuples.py" "$1" "$MIX_MODEL" "$2" "$MIX_POOL" "$MIX_STEP" "$(hexid "$DEMO_HUB_org1")" "$MIX_TO" "${labels[@]}"
}
mix_tuples_are() { [ "$(mix_tuples view "$1")" = "$(mix_tuples want "$1")" ]; }
for h in org2 "$MIX_TO" org1; do
	# org1 keeps every tuple, the private one included, with its sensors' data
	wait_until 60 mix_tuples_are "$h" ||
		fail "the sample tuples at $h: [$(mix_tuples view "$h" | tr '\n' ' ')], expected [$(mix_tuples want "$h" | tr '\n' ' ')]"
done
pooled=0
for rr in $(json "' '.join(sorted(set(t['rrname'] for t in d['tuples'])))" <"$MIX_MODEL"); do
	pooled=$((pooled + $(api "$MIX_TO" "/pdns/query/$rr" | grep -c "\"sensor_id\":\"$MIX_POOL\"" || true)))
done
assert_eq "$pooled" "$(json "sum(1 for t in d['tuples'] if t['go'])" <"$MIX_MODEL")" "tuples of org1's pool at $MIX_TO"
log "$MIX_TO holds exactly org1's tuples that reached the thresholds, pooled and coarse; org2 holds them all exact but the private one"

# ---- signed provenance: keys exchanged on every relation, signatures required
key_of() { api "$1" /api/v1/federation/identity | json "d['pubkey']"; }
declare -A KEY
for h in org1 org2 org3; do KEY[$h]=$(key_of "$h"); done
for key in "${!REL[@]}" org3:org2; do
	h=${key%:*} p=${key#*:}
	assert_eq "$(api "$h" "/api/v1/partners/$p" | json "'%s %s' % (d['pubkey'], d['must_sign'])")" "${KEY[$p]} True" \
		"$h's record of $p: $p's signing key, must_sign"
done
# org3 knows org2 by its key alone: it exchanges nothing with it
assert_eq "$(api org3 /api/v1/partners/org2 | json "[k for k, r in d['outbound'].items() if r['enabled']] + d['inbound']['kinds']")" \
	'[]' "org3's record of org2 shares and accepts nothing"
# what a hub stored of another organisation's stream, relayed by a third, is
# the origin's: origin and path in its listing (org3 requires the origin's
# signature: a record that did not verify as the origin's is refused, below)
relayed=0
for label in "${LABELS[@]}"; do
	for h in $HUBS; do
		holds "$label" "$h" && [ -n "$(via_of "$label" "$h")" ] || continue
		o=${ORIGIN[$label]} path=$(via_of "$label" "$h")
		last=${path##* }
		vias=$(for v in $path; do x=DEMO_HUB_$v; hexid "${!x}"; done | tr '\n' , | sed 's/,$//')
		x=DEMO_HUB_$o
		assert_eq "$(sessions "$h" "$(uuid_of "$label")" | json "' '.join(sorted(set('%s %s %s' % (s['federation']['partner'], s['federation']['origin'], ','.join(s['federation']['via'])) for s in d)))")" \
			"$last $(hexid "${!x}") $vias" "$label at $h: the partner it came from, its origin and path"
		[ "$(api "$h" "/api/v1/partners/$o" | json "d['must_sign']")" = true ] ||
			fail "$h does not require $o's signature: what it stored of $label proves nothing"
		log "$label (origin $o) at $h over [$path]: stored as $o's, its signature verified"
		relayed=$((relayed + 1))
	done
done
assert_ge "$relayed" 1 "streams relayed to a third hub"
# no record refused for its signature anywhere: per partner and in /metrics
sig_refused() { # HUB: partner:reason n, for the signature reasons
	local p
	for p in $(api "$1" /api/v1/partners | json "' '.join(x['name'] for x in (d['items'] if isinstance(d, dict) else d))"); do
		api "$1" "/api/v1/partners/$p/status" | json "' '.join('$p:%s:%s %d' % (k, r, n) for k, v in d['kinds'].items() for r, n in v['received']['refused'].items() if r in ('bad-signature', 'unsigned', 'unknown-signer') and n)"
	done | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}
for h in org1 org2 org3; do
	assert_eq "$(sig_refused "$h")" "" "records $h refused for their signature"
	m=$(api "$h" /metrics)
	assert_contains "$m" "# TYPE d4hub_federation_refused_records_total counter" "$h /metrics"
	assert_eq "$(echo "$m" | grep '^d4hub_federation_refused_records_total{' | grep -E 'reason="(bad-signature|unsigned|unknown-signer)"' | awk '$NF != 0' | wc -l)" 0 \
		"$h /metrics: records refused for their signature"
done
log "every relation signed and verified: no bad-signature, unsigned or unknown-signer at any hub"
