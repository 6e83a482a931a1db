# tests/integration/demo/flows.sh — the multi-organisation demo's flows,
# checked through each hub's REST API (sourced, bash, after lib.sh): by
# it_demo_multiorg (processes) and it_demo_compose (containers). Needs the
# demo's demo.env sourced (DEMO_CA, DEMO_API_*, DEMO_TOKEN_*, DEMO_HUB_*), the
# demo's sensors file as $DEMO_SENSORS, and demo_curl (curl, or curl run
# where the hubs can be reached).
# * frames: every sample stream reaches exactly the hubs its TLP and the
#   relations allow (the same number of frames as at its origin), and no other
#   hub holds a frame of it once every decision is counted;
# * every egress decision is counted with the reason the policy table gives
#   (released, amber-not-allowed, not-community, tlp-red, and for what a hub
#   received: loop-origin, relay-not-allowed), for frames exactly; for pDNS,
#   what a partner acknowledged is what it received, nothing refused on receipt;
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

# frames HUB SENSOR: frames HUB holds of that origin sensor (0 if none)
frames() {
	local out
	out=$(sessions "$1" "$2") || return 1
	echo "$out" | json "sum(s['frames'] for s in d)"
}
frames_eq() { [ "$(frames "$1" "$2")" = "$3" ]; }

# ---- the origin holds each stream whole (sessions ended)
declare -A ORIGIN TLP TYPE NFR UUID
LABELS=()
while read -r h label type file tlp u k; do
	LABELS+=("$label")
	ORIGIN[$label]=$h TLP[$label]=$tlp TYPE[$label]=$type
	UUID[$label]=$u
	ended() { [ "$(sessions "$1" "$2" | json "all(s['ended'] for s in d) and len(d) > 0")" = true ]; }
	wait_for 60 "$label: its session ended at $h" ended "$h" "$u"
	NFR[$label]=$(frames "$h" "$u")
	assert_ge "${NFR[$label]}" 1 "$label: frames at its origin $h"
done <"$DEMO_SENSORS"
uuid_of() { echo "${UUID[$1]}"; }

# ---- frames reach exactly the hubs allowed
for label in "${LABELS[@]}"; do
	o=${ORIGIN[$label]}
	for to in $HUBS; do
		[ "$to" = "$o" ] && continue
		rel=${REL[$o:$to]:-}
		[ -n "$rel" ] && [ "$(reason "${TLP[$label]}" "$rel")" = released ] || continue
		wait_for 120 "$label (${TLP[$label]}) at $to: ${NFR[$label]} frames" frames_eq "$to" "$(uuid_of "$label")" "${NFR[$label]}"
	done
done
log "every stream reached every hub it may reach, whole"

# ---- the decisions per partner and reason, exactly. A hub decides on every
# frame of its log: its own sensors' (reason above) and those it received,
# which the rules never let it relay (allow_relay is off): back to their origin
# is loop-origin, and the level's row of the table comes before the rule.
relayed_reason() { # TLP RELATION TO ORIGIN
	if [ "$3" = "$4" ]; then
		echo loop-origin
		return
	fi
	case $(reason "$1" "$2") in
	released) echo relay-not-allowed ;;
	*) reason "$1" "$2" ;;
	esac
}
declare -A WANT
for label in "${LABELS[@]}"; do
	o=${ORIGIN[$label]}
	for h in $HUBS; do
		if [ "$h" != "$o" ]; then
			rel=${REL[$o:$h]:-}
			[ -n "$rel" ] && [ "$(reason "${TLP[$label]}" "$rel")" = released ] || continue
		fi
		# hub H holds the stream: its decision towards each of its partners
		for key in "${!REL[@]}"; do
			[ "${key%:*}" = "$h" ] || continue
			to=${key#*:}
			if [ "$h" = "$o" ]; then
				r=$(reason "${TLP[$label]}" "${REL[$key]}")
			else
				r=$(relayed_reason "${TLP[$label]}" "${REL[$key]}" "$to" "$o")
			fi
			WANT[$h:$to:$r]=$((${WANT[$h:$to:$r]:-0} + NFR[$label]))
		done
	done
done
decisions() { # FROM TO KIND
	api "$1" "/api/v1/partners/$2/status" |
		json "' '.join('%s %d' % (r, n) for r, n in sorted(d['kinds']['$3']['acknowledged']['decisions'].items()) if n)"
}
decisions_are() { [ "$(decisions "$1" "$2" frames)" = "$3" ]; }
pdns_received() { # FROM TO: TO stored what FROM released to it
	local rel rx
	rel=$(api "$1" "/api/v1/partners/$2/status" | json "d['kinds']['pdns']['acknowledged']['decisions'].get('released', 0)")
	rx=$(api "$2" "/api/v1/partners/$1/status" | json "d['kinds']['pdns']['received']['records']")
	[ "$rx" = "$rel" ]
}
for key in "${!REL[@]}"; do
	from=${key%:*} to=${key#*:}
	[ "$from" = public ] && continue
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
# some pDNS did cross (org1's green passive DNS to org2 and org3)
for p in "org1 org2" "org1 org3"; do
	set -- $p
	n=$(api "$1" "/api/v1/partners/$2/status" | json "d['kinds']['pdns']['acknowledged']['decisions'].get('released', 0)")
	assert_ge "$n" 1 "$1 -> $2: pDNS released"
done

# ---- every frame is decided: no hub holds a frame of a stream it may not have
for label in "${LABELS[@]}"; do
	o=${ORIGIN[$label]}
	for to in $HUBS; do
		[ "$to" = "$o" ] && continue
		rel=${REL[$o:$to]:-}
		r=none
		[ -z "$rel" ] || r=$(reason "${TLP[$label]}" "$rel")
		[ "$r" = released ] || assert_eq "$(frames "$to" "$(uuid_of "$label")")" 0 "$label (${TLP[$label]}) at $to ($r)"
	done
done
log "no stream reached a hub it may not reach"

# ---- the upstream relation: each organisation's hub sends the public hub, as
# the sensor it is registered as there (DEMO_UPSTREAM_<hub>), exactly the
# frames of its own sensors of the relayed types (1, 8) at tlp:clear; each
# stream decides and counts, per reason, only the frames of its own type
# (docs/upstream.md): the level first, then relaying
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
			o=${ORIGIN[$label]}
			[ "${TYPE[$label]}" = "$t" ] || continue
			if [ "$o" = "$h" ]; then
				r=$(reason "${TLP[$label]}" public)
				[ "$r" = released ] && nup=$((nup + NFR[$label]))
			else
				# received from a partner (it holds the stream), never relayed
				rel=${REL[$o:$h]:-}
				[ -n "$rel" ] && [ "$(reason "${TLP[$label]}" "$rel")" = released ] || continue
				r=$(relayed_reason "${TLP[$label]}" public public "$o")
			fi
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
# org3's clear one) and pagead2.googlesyndication.com (org1's amber capture,
# org2's amber passive DNS)
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
hubname() { # uuid -> hub name
	local h v
	for h in $HUBS; do
		v=DEMO_HUB_$h
		[ "$(echo "${!v}" | tr -d - | tr A-F a-f)" = "$1" ] && echo "$h" && return
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
check_origins org1 web.example.test "org3"
check_origins org2 web.example.test "org1"
check_origins org3 web.example.test "org1"
check_origins public web.example.test "" # up the D4 protocol: the public hub's own sensor
tuples() { # HUB NAME: tuples of NAME at HUB (0 when none: 404)
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
wait_for 60 "the public hub's pDNS of the passive DNS that went up" tuples_ge1 public web.example.test
check_origins org1 pagead2.googlesyndication.com "org2"
check_origins org2 pagead2.googlesyndication.com "org1"
check_origins org3 pagead2.googlesyndication.com ""
assert_eq "$(tuples public pagead2.googlesyndication.com)" 0 "tuples of amber streams at the public hub"
log "pDNS tuples at each hub come from exactly the organisations allowed to send them"

