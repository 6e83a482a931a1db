#!/usr/bin/env bash
# The operator's views of the web page in a real browser (Debian's chromium,
# headless, via playwright-core), per role, against a real d4hub fed by real
# d4-sensor runs: a sensor kept connected (its stdin a FIFO held open) shows
# as connected, with traffic graphs; an admin edits, kicks (with a ban),
# blocks, unblocks, rotates a key (the new key then delivers data), deletes;
# approves and refuses pending registrations (one refused and blocked);
# refuses and accepts types, adds and removes extended types and blocklist
# entries; creates a user with a token (which then works), a second token,
# revokes it, deletes the user; switches the server mode. Every change is
# checked through the API with a deadline, every confirmation once cancelled
# (nothing changes); a refused change shows the API's detail next to the
# action. A user is offered no admin control; a hostile description and mail
# render as text. Screenshots of every view per role stay in $T_DIR/shots
# (kept with D4_KEEP_FAILED=1 on failure, or D4_WEB_SHOTS=DIR to copy them).
# Hub on 127.0.0.4, ports picked at run time by lib.sh.
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.4}
source "$(dirname "$0")/../lib.sh"

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/bootstrap.sh installs it)"
[ -d "$ROOT/node_modules/playwright-core" ] || fail "playwright-core is not installed (tests/run.sh runs npm ci)"

t_conf
hub_start
URL=$(api_url)
TOKEN=$(ctl user add admin --role admin)
UTOKEN=$(ctl user add viewer --role user)
RTOKEN=$(ctl user add registrar --role sensor_register)

# pending registrations through d4-core's endpoint: one with a hostile mail and description
register() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $RTOKEN" -H 'Content-Type: application/json' \
		--data-binary "$2" "$URL/api/v1/add/sensor/register" >/dev/null || fail "register $1"
}
HOSTILE_DESC='<img src=x onerror="window.__pwned=1"><b>bold</b> & "quotes"'
HOSTILE_MAIL='<svg/onload=window.__pwned=1>@evil.example'
P1=$(gen_uuid) P2=$(gen_uuid) P3=$(gen_uuid)
register "$P1" "$(/usr/bin/python3 -c 'import json,sys; print(json.dumps({"uuid": sys.argv[1], "hmac_key": "k1", "mail": sys.argv[2], "description": sys.argv[3]}))' "$P1" "$HOSTILE_MAIL" "$HOSTILE_DESC")"
register "$P2" "{\"uuid\":\"$P2\",\"hmac_key\":\"k2\",\"mail\":\"second@example.org\"}"
register "$P3" "{\"uuid\":\"$P3\",\"hmac_key\":\"k3\",\"mail\":\"third@example.org\"}"

# a sensor with the hostile description too (seen in the sensors list and detail)
sensor_new
C=$SENSOR_UUID CK=$SENSOR_KEY
curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X PATCH \
	--data-binary "$(/usr/bin/python3 -c 'import json,sys; print(json.dumps({"description": sys.argv[1]}))' "$HOSTILE_DESC")" \
	"$URL/api/v1/sensors/$C" >/dev/null || fail "describe $C"
# kept connected: its stdin is a FIFO this script holds open
mkfifo "$T_DIR/c.fifo"
exec 7<>"$T_DIR/c.fifo"
SENSOR_IN=$T_DIR/c.fifo sensor_bg -u "$C" -k "$CK" -t 8 -q
printf 'line %s\n' $(seq 1 25) >&7
connected() {
	curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOKEN" "$URL/api/v1/sensors/$C" |
		json "d['connected'] is True and d['packets'] > 0" | grep -qx true
}
wait_for 30 "sensor $C connected, its lines stored" connected
# a second sensor whose key the page rotates (the new key must then deliver)
sensor_new
D=$SENSOR_UUID
printf 'rotated %s\n' $(seq 1 7) >"$T_DIR/d.txt"
argv=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' \
	sh -c "exec \"\$0\" -D \"\$1\" --ca \"\$2\" -u \"\$3\" -k \"\$4\" -t 8 -q --drain-timeout 30 <\"\$5\"" \
	"$D4SENSOR" "$T_DEST" "$T_PKI/ca.crt" "$D" "KEY" "$T_DIR/d.txt")

mkdir -p "$T_DIR/shots"
D4_USER_TOKEN=$UTOKEN D4_REGISTER_TOKEN=$RTOKEN D4_SENSOR_ARGS=$argv D4_HOSTILE_DESC=$HOSTILE_DESC D4_HOSTILE_MAIL=$HOSTILE_MAIL \
	D4_PENDING="$P1 $P2 $P3" D4_CONNECTED=$C D4_ROTATED=$D \
	node "$(dirname "$0")/web_ops.mjs" "$URL" "$TOKEN" "$T_DIR/shots" ||
	fail "browser test failed (screenshots in $T_DIR/shots if kept: D4_KEEP_FAILED=1)"
[ -n "${D4_WEB_SHOTS:-}" ] && mkdir -p "$D4_WEB_SHOTS" && cp "$T_DIR"/shots/*.png "$D4_WEB_SHOTS"/
exec 7>&-
pass "operator views per role: sensors (connected, graphs, edit, kick, block, unblock, rotate, delete), pending (approve, refuse, refuse and block), types, blocklist, users and tokens, server mode; cancelled confirmations change nothing; a user sees no admin control; hostile text stays text"
