#!/usr/bin/env bash
# A stop while clients are in the middle of their TLS handshake: one raw TCP
# connection on the API port and one on the ingest port, each holding the
# first 3 bytes of a ClientHello, while the frames a sensor sent are still in
# the writer's queue (store.commit_ms = 60 s: only the stop's flush commits
# them). SIGTERM must end the hub with status 0 — API, ingest, then the
# writer's flush — and after a restart every frame sent is in the store.
# shellcheck shell=bash
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

[ -n "${D4CRAFT:-}" ] && [ -x "$D4CRAFT" ] || fail "\$D4CRAFT not set"
command -v curl >/dev/null || fail "curl is required"

t_pki
# the ingest's half handshake must outlast the test (the count of ingest
# connections below relies on it)
t_conf ingest.handshake_timeout=600 ingest.header_timeout=600
sed -i 's/^commit_ms = .*/commit_ms = 60000/' "$T_CONF"
hub_start
API=$(api_url)
TOK=$(ctl user add watcher --role user) || fail "user add failed"
sensor_new
U=$SENSOR_UUID
N=25

# metric NAME: a value of the hub's /metrics (empty if the API did not answer).
metric() {
	curl -sf --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOK" "$API/metrics" |
		awk -v m="$1" '$1 == m { print $2 }'
}
ingest_conns_are() { [ "$(metric d4hub_ingest_connections)" = "$1" ]; }

# half_hello HOST:PORT FD: a raw TCP connection on FD that sends 3 bytes of
# a ClientHello (record type, version) and nothing more.
half_hello() {
	local hp=$1 fd=$2
	eval "exec $fd<>\"/dev/tcp/${hp%:*}/${hp##*:}\"" || fail "cannot connect to $hp"
	printf '\x16\x03\x01' >&"$fd"
}

half_hello "$T_DEST" 8
wait_until 30 ingest_conns_are 1 || fail "ingest connections: $(metric d4hub_ingest_connections), expected 1"

{
	echo "set uuid=$U key=$SENSOR_KEY type=1"
	for i in $(seq 1 $N); do echo "frame payload=text:frame-$i"; done
} >"$T_DIR/frames.craft"
craft <"$T_DIR/frames.craft" >"$T_DIR/craft.out" 2>&1 || {
	cat "$T_DIR/craft.out"
	fail "d4-craft failed"
}
# The hub closes the sensor's connection once it has read it to the end,
# i.e. after posting every frame to the writer.
wait_until 30 ingest_conns_are 1 || fail "ingest connections: $(metric d4hub_ingest_connections), expected 1"
log "frames committed before the stop: $(frames_of "$U") (of $N sent)"

# The API one last, as h2o's handshake timeout (10 s) would close it: a
# request on another connection is answered once the hub has accepted it
# (the kernel hands connections over in order), and its handshake timer runs.
half_hello "${API#https://}" 7
[ -n "$(metric d4hub_frames_total)" ] || fail "no answer from the API at $API"
# both half handshakes are still open when the hub is told to stop
hub_stop
exec 7>&- 8>&-
assert_eq "$HUB_RC" 0 "d4hub exit status after SIGTERM with handshakes in progress"

hub_start
assert_eq "$(frames_of "$U")" $N "frames stored for $U after the restart"
wait_until 30 sessions_closed "$U" 1 || fail "the sensor's session was not closed"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass
