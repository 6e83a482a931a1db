#!/usr/bin/env bash
# mTLS refusals on the CLIENT side (the server side: it_hub_federation_listen).
# Hub A (org 1) has a tlp:clear stream and four partners that all point at
# hub D's federation port (org 2; D knows A and would accept it):
#   wrong-hub  expects another hub uuid than D's certificate names
#   wrong-ca   trusts organisation 1's CA, which did not issue D's certificate
#   wrong-pin  trusts the right CA but pins another key
#   good       the right CA and D's real pin (enabled last: the control)
# A's sender must refuse the three in the TLS handshake: last_error in the
# partner status says why, nothing acknowledged, and D served no request
# (no accepted connection, nothing stored) while it saw A's attempts fail.
# Then `good` delivers the stream exactly once.
source "$(dirname "$0")/fedlib.sh"

fed_hub a 127.0.0.5 org1
fed_hub d 127.0.0.6 org2
fed_start a
fed_start d
fed_partner d a a --direction push --file <(echo '{"inbound": {"kinds": ["frames"], "max_tlp": "tlp:clear"}}')

fsensor a
printf 'set uuid=%s key=%s type=2\nmeta {"type":"fed-test","tags":["tlp:clear"]}\nframe type=254 payload=text:one\\n count=20\nclose\n' \
	"$SENSOR_UUID" "$SENSOR_KEY" | fcraft a || fail "d4-craft"
S=$SENSOR_UUID
wait_until 60 stream_stored a "$S" 21 || fail "A: the stream (meta + 20 frames) is not stored"
N=$(frames_total a)
assert_eq "$N" 21 "frames at A"

RULES='{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:clear"}}}'
spki() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }
fctl a partner add wrong-hub --url "$(fed_url d)" --hub "$(gen_uuid)" --org "${H_ORG[d]}" --relation partner \
	--ca "$T_PKI/org2-ca.crt" --file <(echo "$RULES") >/dev/null || fail "partner wrong-hub"
fed_partner a wrong-ca d --ca "$T_PKI/org1-ca.crt" --file <(echo "$RULES")
fed_partner a wrong-pin d --ca "$T_PKI/org2-ca.crt" --pin "$(printf '%064d' 5)" --file <(echo "$RULES")

status() { fapi a "/api/v1/partners/$1/status"; }
st() { status "$1" | json "d['kinds']['frames']$2"; }
# the sender's view (live) and what the partner acknowledged (kept)
sst() { st "$1" "['sender']['$2']"; }
has_error() { [ -n "$(st "$1" "['sender']['last_error'] or ''")" ]; }
for p in wrong-hub wrong-ca wrong-pin; do
	wait_until 60 has_error "$p" || fail "A -> $p: no last_error: $(status "$p")"
done
# each one says why
err_matches() { sst "$1" last_error | grep -Eiq "$2"; }
err_matches wrong-hub 'uuid|subjectaltname|san' || fail "wrong-hub: $(sst wrong-hub last_error)"
err_matches wrong-ca 'certificate|verify|issuer|ca' || fail "wrong-ca: $(sst wrong-ca last_error)"
err_matches wrong-pin 'pin|public key' || fail "wrong-pin: $(sst wrong-pin last_error)"
for p in wrong-hub wrong-ca wrong-pin; do
	assert_eq "$(sst "$p" connected)" false "$p connected"
	assert_eq "$(st "$p" "['acknowledged']['records']")" 0 "$p records acknowledged"
	assert_eq "$(sst "$p" lag_records)" "$N" "$p lag"
	log "$p: $(sst "$p" last_error)"
done
# D saw the attempts fail in the handshake and served nothing
dmetric() { fmetric d "d4hub_federation_connections_total\\{result=\"$1\"\\}"; }
attempts() { [ "${1:-0}" -ge 3 ]; }
wait_until 30 eval 'attempts "$(dmetric handshake-failed)"' ||
	fail "D counted $(dmetric handshake-failed) failed handshakes, expected >= 3"
assert_eq "$(dmetric accepted)" 0 "connections D accepted"
assert_eq "$(frames_total d)" 0 "frames at D"

# the control: the right CA and D's pin
fed_partner a good d --ca "$T_PKI/org2-ca.crt" --pin "$(spki "$T_PKI/d.crt")" --file <(echo "$RULES")
wait_until 60 frames_is d "$N" || fail "D holds $(frames_total d) frames, expected $N; A: $(status good); D: $(fapi d /api/v1/partners/a/status)"
caught_up() { [ "$(sst good lag_records)" = 0 ]; }
wait_until 60 caught_up || fail "A -> good not caught up: $(status good)"
assert_eq "$(frames_total d)" "$N" "frames at D after good caught up"
assert_eq "$(st good "['sender']['last_error'] or ''")" "" "good: last_error"
for p in wrong-hub wrong-ca wrong-pin; do
	assert_eq "$(st "$p" "['acknowledged']['records']")" 0 "$p records acknowledged at the end"
done
fed_stop a
fed_stop d
pass
