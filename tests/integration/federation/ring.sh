#!/usr/bin/env bash
# A ring of three organisations, A -> B -> C -> A (each pushes frames to
# the next, relays what it received, lets the next pass its own records on
# and requires signatures from both other hubs). Each hub ingests a stream
# of its own (31, 41 and 51 frames with the meta frame). Every record goes
# round once: a hub never sends a record back to its origin (loop-origin),
# so each hub ends with each stream exactly once (123 frames), every frame
# verified as its origin's, and the decisions are exact: at each hop the
# next hub's own stream is refused loop-origin, the two others released.
source "$(dirname "$0")/fedlib.sh"

fed_hub a 127.0.0.5 org1
fed_hub b 127.0.0.6 org2
fed_hub c 127.0.0.7 org3
fed_start a
fed_start b
fed_start c
declare -A KEY NEXT PREV N
for h in a b c; do KEY[$h]=$(fctl "$h" partner key) || fail "partner key $h"; done
NEXT=([a]=b [b]=c [c]=a)
PREV=([a]=c [b]=a [c]=b)
N=([a]=30 [b]=40 [c]=50)
for h in a b c; do
	n=${NEXT[$h]} p=${PREV[$h]}
	# the next hub: pushed to, with relaying and consent to pass ours on
	fed_partner "$h" "$n" "$n" --direction push --file <(echo "{\"pubkey\": \"${KEY[$n]}\", \"must_sign\": true,
		\"onward\": true, \"outbound\": {\"frames\": {\"enabled\": true, \"max_tlp\": \"tlp:green\", \"allow_relay\": true}}}")
	# the previous hub: received from
	fed_partner "$h" "$p" "$p" --direction push --file <(echo "{\"pubkey\": \"${KEY[$p]}\", \"must_sign\": true,
		\"inbound\": {\"kinds\": [\"frames\"], \"max_tlp\": \"tlp:green\"}}")
done

declare -A S
for h in a b c; do
	fsensor "$h"
	S[$h]=$SENSOR_UUID
	bulk_script "$SENSOR_UUID" "$SENSOR_KEY" 0 "${N[$h]}" 256 >"$T_DIR/s-$h"
	fcraft "$h" <"$T_DIR/s-$h" >>"$T_DIR/craft.out" 2>&1 || fail "d4-craft at $h"
done

sensor_frames() { fctl "$1" --json sessions "$2" | json "sum(s['frames'] for s in d)"; }
holds_all() { # HUB: every stream there, whole
	local o
	for o in a b c; do [ "$(sensor_frames "$1" "${S[$o]}")" = $((N[$o] + 1)) ] || return 1; done
}
status() { fapi "$1" "/api/v1/partners/$2/status"; }
caught_up() { [ "$(status "$1" "${NEXT[$1]}" | json "d['kinds']['frames']['sender']['lag_records']")" = 0 ]; }
for h in a b c; do wait_until 120 holds_all "$h" || fail "hub $h does not hold every stream"; done
for h in a b c; do wait_until 60 caught_up "$h" || fail "hub $h -> ${NEXT[$h]} not caught up"; done
TOTAL=$((N[a] + N[b] + N[c] + 3))
for h in a b c; do
	assert_eq "$(frames_total "$h")" $TOTAL "frames at $h"
	for o in a b c; do assert_eq "$(sensor_frames "$h" "${S[$o]}")" $((N[$o] + 1)) "stream of $o at $h"; done
	p=${PREV[$h]} n=${NEXT[$h]}
	# received from the previous hub: the two streams that are not ours, every one verified
	assert_eq "$(status "$h" "$p" | json "d['kinds']['frames']['received']['records']")" $((TOTAL - N[$h] - 1)) \
		"records $h received from $p"
	assert_eq "$(status "$h" "$p" | json "sum(d['kinds']['frames']['received']['refused'].values())")" 0 \
		"records $h refused from $p"
	# sent to the next: ours and the previous hub's; the next hub's own stream never goes back to it
	assert_eq "$(status "$h" "$n" | json "d['kinds']['frames']['acknowledged']['decisions']")" \
		"{\"released\": $((TOTAL - N[$n] - 1)), \"loop-origin\": $((N[$n] + 1))}" "decisions of $h for $n"
done
fed_stop a
fed_stop b
fed_stop c
pass
