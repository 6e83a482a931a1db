#!/usr/bin/env bash
# d4hubctl remote mode (127.0.0.5, ports picked at run time by lib.sh): a real d4hub with its API over TLS, the first admin bootstrapped
# with `d4hubctl -s STORE user add`, then a real workload through
# `d4hubctl -H https://... --cacert ...`: sensors (add, approve, set, show,
# list, block, unblock, kick, rotate-key, del), blocklist, types, a d4-sensor
# run then stats/sessions/frames/status, users and tokens, server mode, and
# the error paths (wrong/revoked token, TLS without the CA or with the
# wrong one, unknown uuid, usage errors). Outputs are checked for values,
# and remote answers are compared with local (-s) ones where they agree.
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.5}
source "$(dirname "$0")/../lib.sh"

CSV=$D4_TEST_DATA/dns/local-dns.passivedns-alltypes.csv
STORE=$T_DIR/store
CA=$T_PKI/ca.crt

t_conf
hub_start
URL=$(api_url) # the hub picks a free API port (lib.sh keeps it across restarts)
API_PORT=${URL##*:}
wait_until 30 curl -sf --http2 --cacert "$CA" "$URL/health" || fail "API not answering on $URL"

ADMIN=$("$D4HUBCTL" -s "$STORE" user add admin --role admin) || fail "bootstrap: user add admin"
printf '%s\n' "$ADMIN" >"$T_DIR/admin.tok"
chmod 600 "$T_DIR/admin.tok"

OUT=$T_DIR/out
ERR=$T_DIR/err
# r WANT_RC CMD...: runs CMD with stdout in $OUT and stderr in $ERR; checks the exit code.
r() {
	local want=$1 rc=0
	shift
	"$@" >"$OUT" 2>"$ERR" || rc=$?
	[ "$rc" = "$want" ] || fail "$* -> exit $rc, expected $want; stderr: $(head -c 600 "$ERR"); stdout: $(head -c 300 "$OUT")"
	# under -DD4_SANITIZE=ON an expected exit 1 must not hide a sanitizer report
	! grep -qE 'Sanitizer|runtime error:' "$ERR" || fail "$*: sanitizer report: $(head -c 2000 "$ERR")"
}
rctl() { "$D4HUBCTL" -H "$URL" --cacert "$CA" --token-file "$T_DIR/admin.tok" "$@"; }
lctl() { "$D4HUBCTL" -s "$STORE" "$@"; }
out_has() { grep -qF -- "$1" "$OUT" || fail "stdout lacks '$1': $(head -c 800 "$OUT")"; }
err_has() { grep -qF -- "$1" "$ERR" || fail "stderr lacks '$1': $(head -c 800 "$ERR")"; }
# jo PY_BOOL_EXPR: a check over the JSON on stdout (as d).
jo() {
	"$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
if not eval(sys.argv[2]):
    sys.exit("assertion failed: " + sys.argv[2] + "\n" + json.dumps(d)[:900])
' "$OUT" "$1" || fail "JSON check on the output of the last command failed"
}

U1=$(gen_uuid)
U2=$(gen_uuid)
UNKNOWN=$(gen_uuid)

# ---- status, empty lists -----------------------------------------------------------------
r 0 rctl status
out_has "hub:           $URL"
out_has "health:        ok"
out_has "frames:        0"
r 0 rctl --json status
jo "d['frames'] == 0 and d['sessions'] == 0 and d['health']['status'] == 'ok' and 'rejections' in d"
r 0 rctl sensor list
out_has "no sensors"
r 0 rctl --json sensor list
jo "d == []"
log "status and empty lists"

# ---- sensors ---------------------------------------------------------------------------------
r 0 rctl sensor add "$U1" --gen-key --desc "tap one"
KEY1=$(cat "$OUT")
[[ $KEY1 =~ ^[0-9a-f]{64}$ ]] || fail "sensor add --gen-key printed '$KEY1', expected 64 hex digits"
r 0 lctl --json sensor show "$U1"
jo "d['status'] == 'pending' and d['description'] == 'tap one' and d['has_key']"
printf 'second key\n' >"$T_DIR/k2"
r 0 rctl --json sensor add "$U2" --key-file "$T_DIR/k2" --approve
jo "d['uuid'] == '$U2' and d['status'] == 'approved' and 'key' not in d"
r 0 rctl sensor approve "${U1:0:8}-${U1:8:4}-${U1:12:4}-${U1:16:4}-${U1:20}" # dashed form
r 0 lctl --json sensor show "$U1"
jo "d['status'] == 'approved'"
r 0 rctl sensor list
out_has "$U1  approved"
out_has "$U2  approved"
[ "$(wc -l <"$OUT")" = 3 ] || fail "sensor list: expected a header and 2 rows: $(cat "$OUT")"
r 0 rctl sensor set "$U1" --desc "tap 1" --mail ops@example.org --tlp tlp:green --max-payload 64K --silence 600
r 0 rctl --json sensor show "$U1"
jo "d['description'] == 'tap 1' and d['mail'] == 'ops@example.org' and d['default_tlp'] == 'tlp:green' and d['max_payload'] == 65536 and d['silence_threshold'] == 600 and d['default_org'] is None and len(d['history']) == 7"
cp "$OUT" "$T_DIR/remote_show.json"
r 0 rctl sensor show "$U1"
out_has "description:   tap 1"
out_has "default tlp:   tlp:green"
out_has "max payload:   65536"
out_has "silence alert: after 600 s without data"
# local and remote --json sensor show: the same document (one handler, two transports)
r 0 lctl --json sensor show "$U1"
"$PY" - "$T_DIR/remote_show.json" "$OUT" <<'EOF' || fail "local and remote sensor show differ"
import json, sys
rem, loc = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
# the live state comes from the answering process's ingest: the hub knows it,
# d4hubctl's own process does not (null); everything else is the same document
LIVE = ("connected", "live_sessions", "connected_since")
if not isinstance(rem.get("connected"), bool) or any(loc.get(k, 0) is not None for k in LIVE):
    sys.exit("live state: remote %r, local %r" % ([rem.get(k) for k in LIVE], [loc.get(k, 0) for k in LIVE]))
rem = {k: v for k, v in rem.items() if k not in LIVE}
loc = {k: v for k, v in loc.items() if k not in LIVE}
if rem != loc:
    sys.exit("differ: " + ", ".join("%s: %r vs %r" % (k, rem.get(k), loc.get(k)) for k in sorted(set(rem) | set(loc)) if rem.get(k) != loc.get(k)))
EOF
r 0 rctl sensor block "$U2"
r 0 lctl --json sensor show "$U2"
jo "d['status'] == 'blocked'"
r 1 rctl sensor approve "$U2"
err_has "d4hubctl: sensor approve: Conflict: sensor $U2 is blocked"
err_has "(HTTP 409)"
r 0 rctl --json sensor unblock "$U2"
jo "d['uuid'] == '$U2' and d['status'] == 'approved'"
r 1 rctl sensor show "$UNKNOWN"
err_has "d4hubctl: sensor show: Not Found: "
err_has "$UNKNOWN"
err_has "(HTTP 404)"
[ ! -s "$OUT" ] || fail "sensor show of an unknown uuid printed something on stdout"
log "sensors: add (generated key, key file), approve (dashed uuid), set, show (text, JSON == local), list, block/unblock, 409 and 404 as problems"

# ---- blocklist, types ---------------------------------------------------------------------------
r 0 rctl block add ip 10.0.0.0/8
r 0 rctl block add uuid-ips "$U2"
r 0 rctl block list
out_has "10.0.0.0/8"
out_has "uuid-ips  $U2"
r 0 lctl --json block list
jo "sorted((e['kind'], e['value']) for e in d) == sorted([('ip', '10.0.0.0/8'), ('uuid-ips', '$U2')])"
r 0 rctl block del ip 10.0.0.0/8
r 0 rctl block del uuid-ips "$U2"
r 0 rctl --json block list
jo "d == []"
r 1 rctl block del ip 10.0.0.0/8
err_has "(HTTP 404)"
r 0 rctl types enable 3
r 0 lctl --json types list
jo "3 in d['accepted']"
r 0 rctl types list
grep -Eq '^3 +log-line$' "$OUT" || fail "types list lacks type 3: $(cat "$OUT")"
r 0 rctl --json types disable 3
jo "3 not in d['accepted'] and 8 in d['accepted']"
r 0 rctl ext-types add ja3-jl
r 0 rctl ext-types list
out_has "ja3-jl"
r 0 lctl --json ext-types list
jo "d == ['ja3-jl']"
r 0 rctl ext-types del ja3-jl
r 0 rctl ext-types list
out_has "every extended type is accepted"
log "blocklist add/list/del (CIDR, uuid-ips), types enable/disable, ext-types add/list/del, checked locally"

# ---- a real d4-sensor run, then stats / sessions / frames ---------------------------------------
# large enough for several frames
for _ in $(seq 1 150); do cat "$CSV"; done >"$T_DIR/big.csv"
sensor_run -u "$U1" -k "$KEY1" -t 8 --drain-timeout 30 <"$T_DIR/big.csv" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor run failed: $(tail -5 "$T_DIR/sensor.log")"
wait_for 30 "the session of $U1 closed and committed" sessions_closed "$U1" 1
sync_store
SIZE=$(stat -c %s "$T_DIR/big.csv")
r 0 rctl --json sessions "$U1"
jo "len(d) == 1 and d[0]['sensor'] == '$U1' and d[0]['type'] == 8 and d[0]['bytes'] == $SIZE and d[0]['frames'] >= 2"
SID=$(json "d[0]['id']" <"$OUT")
NFR=$(json "d[0]['frames']" <"$OUT")
r 0 rctl sessions
out_has "$U1 8"
r 0 rctl --json stats --days 2
jo "any(i['sensor'] == '$U1' and i['type'] == 8 and i['bytes'] == $SIZE and i['packets'] == $NFR for i in d)"
r 0 rctl stats
grep -Eq "^[0-9-]{10}  $U1 8 +$NFR +$SIZE +0$" "$OUT" || fail "stats text row for $U1: $(cat "$OUT")"
r 0 rctl --json status
REMOTE_FRAMES=$(json "d['frames']" <"$OUT")
r 0 lctl --json status
assert_eq "$REMOTE_FRAMES" "$(json "d['frames']" <"$OUT")" "status frames, remote vs local"
assert_ge "$REMOTE_FRAMES" "$NFR" "status frames"
r 0 rctl sensor show "$U1"
out_has "packets:       $NFR"
out_has "bytes:         $SIZE"
grep -Eq '^  8 +- ' "$OUT" || fail "sensor show: no type 8 row: $(cat "$OUT")"
r 0 rctl frames --session "$SID" --payload
cmp -s "$OUT" "$T_DIR/big.csv" || fail "frames --session $SID --payload over the API differs from the sent file"
r 0 rctl --json frames --session "$SID"
jo "len(d) == $NFR and all(f['session'] == $SID and f['sensor'] == '$U1' and 'payload_b64' not in f for f in d) and sum(f['size'] for f in d) == $SIZE"
SEQ2=$(json "d[len(d) // 2]['seq']" <"$OUT")
r 0 rctl frames --session "$SID"
[ "$(($(wc -l <"$OUT") - 1))" = "$NFR" ] || fail "frames text: expected $NFR rows: $(head -3 "$OUT")"
r 0 rctl frames --session "$SID" --from "$SEQ2" --payload
cp "$OUT" "$T_DIR/tail.remote"
r 0 lctl frames --session "$SID" --from "$SEQ2" --payload
cmp -s "$OUT" "$T_DIR/tail.remote" || fail "frames --from --payload: remote and local differ"
TAIL=$(stat -c %s "$OUT")
[ "$TAIL" -gt 0 ] && [ "$TAIL" -lt "$SIZE" ] || fail "frames --from a middle seq gave $TAIL of $SIZE bytes"
r 1 rctl frames
err_has "not available over the API; run on the hub host with -c/-s"
log "d4-sensor run ($NFR frames, $SIZE bytes): sessions, stats (JSON + text), status == local, frames payload == sent file, --from == local"

# ---- the live state in sensor show: a sensor kept connected through a FIFO ------------------------
mkfifo "$T_DIR/live.fifo"
exec 7<>"$T_DIR/live.fifo"
# (without fd 7: the sensor must not hold the FIFO's write end itself)
SENSOR_IN=$T_DIR/live.fifo sensor_bg -u "$U1" -k "$KEY1" -t 8 -q --drain-timeout 30 7>&-
printf 'live %s\n' 1 2 3 >&7
live_is() { # PATTERN: the connected: line of the hub's answer
	rctl sensor show "$U1" >"$T_DIR/live.out" 2>&1 && grep -qxE "connected: +$1" "$T_DIR/live.out"
}
wait_for 30 "sensor show over the API says connected" live_is 'yes, 1 session\(s\) since [0-9]{4}-[0-9-]+ [0-9:]+'
r 0 lctl sensor show "$U1"
out_has "connected:     - (known by the running hub: ask it with -H)"
exec 7>&- # end of input: the sensor drains and closes its session
wait_for 30 "the live sensor exited" eval '! kill -0 "$SENSOR_PID" 2>/dev/null'
wait_for 30 "sensor show over the API says not connected" live_is 'no'
log "sensor show: connected (1 session, since) while a sensor is connected, not connected after, unknown locally"

# ---- kick, rotate-key, del -------------------------------------------------------------------------
r 0 rctl --json sensor kick "$U1" --ban 30
jo "d['uuid'] == '$U1' and d['status'] == 'approved'"
r 0 rctl sensor show "$U1"
grep -Eq '^banned until:  [0-9]{4}-' "$OUT" || fail "kick: no ban shown: $(grep banned "$OUT")"
r 0 rctl sensor rotate-key "$U1"
KEY1B=$(cat "$OUT")
[[ $KEY1B =~ ^[0-9a-f]{64}$ ]] && [ "$KEY1B" != "$KEY1" ] || fail "rotate-key printed '$KEY1B'"
r 0 rctl sensor rotate-key "$U1" --key-file "$T_DIR/k2"
[ ! -s "$OUT" ] || fail "rotate-key with a given key printed something"
r 0 rctl sensor del "$U2"
r 1 lctl sensor show "$U2"
log "kick (ban shown), rotate-key (generated shown once, given not printed), del"

# ---- users and tokens ----------------------------------------------------------------------------------
r 0 rctl user add viewer --role user
VIEW1=$(cat "$OUT")
[[ $VIEW1 =~ ^d4h_[A-Za-z0-9_-]{43}$ ]] || fail "user add printed '$VIEW1'"
r 0 rctl --json token create viewer --label ci
jo "d['user'] == 'viewer' and d['label'] == 'ci' and d['token'].startswith('d4h_') and len(d['id']) == 16"
VIEW2=$(json "d['token']" <"$OUT")
CI_ID=$(json "d['id']" <"$OUT")
r 0 rctl --json token list viewer
jo "sorted(t['label'] for t in d) == ['ci', 'initial'] and all('token' not in t for t in d)"
r 0 rctl token list
out_has "admin"
out_has "$CI_ID  viewer"
grep -q d4h_ "$OUT" && fail "token list shows a token's text"
r 0 rctl user list
grep -Eq '^viewer +user +[0-9-]{10} [0-9:]{8}  2$' "$OUT" || fail "user list row for viewer: $(cat "$OUT")"
r 0 "$D4HUBCTL" -H "$URL" --cacert "$CA" -T "$VIEW2" --json sensor list
jo "[s['uuid'] for s in d] == ['$U1']"
r 1 "$D4HUBCTL" -H "$URL" --cacert "$CA" -T "$VIEW2" sensor add "$U2" --gen-key
err_has "Forbidden"
err_has "(HTTP 403)"
err_has "hint: the token's role is too low"
r 0 rctl token revoke "$CI_ID"
r 1 "$D4HUBCTL" -H "$URL" --cacert "$CA" -T "$VIEW2" sensor list
err_has "(HTTP 401)"
err_has "hint: the token was refused"
r 0 rctl --json user role viewer sensor_register
jo "d['name'] == 'viewer' and d['role'] == 'sensor_register'"
r 0 lctl --json user list
jo "{u['name']: u['role'] for u in d}['viewer'] == 'sensor_register'"
r 1 rctl user role admin user
err_has "user role: Conflict: you cannot change the role of the account you are signed in as (HTTP 409)"
r 0 lctl --json user list
jo "{u['name']: u['role'] for u in d}['admin'] == 'admin'"
r 0 rctl user del viewer
r 1 "$D4HUBCTL" -H "$URL" --cacert "$CA" -T "$VIEW1" sensor list
err_has "(HTTP 401)"
r 0 lctl --json user list
jo "[u['name'] for u in d] == ['admin']"
log "users/tokens: add, create, list (no secrets), 403 for a user token, revoked token 401, user role (not one's own), user del"

# ---- token sources, TLS, usage -----------------------------------------------------------------------
r 0 env D4HUB_URL="$URL" D4HUB_TOKEN="$ADMIN" "$D4HUBCTL" --cacert "$CA" --json sensor list
jo "len(d) == 1"
r 0 env D4HUB_URL="$URL" D4HUB_TOKEN="$ADMIN" "$D4HUBCTL" -s "$STORE" --json sensor list # -s wins over the env
r 1 "$D4HUBCTL" -H "$URL" --cacert "$CA" -T d4h_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA status
err_has "d4hubctl: status: Unauthorized: "
err_has "hint: the token was refused"
r 1 "$D4HUBCTL" -H "$URL" --token-file "$T_DIR/admin.tok" status
err_has "d4hubctl: status: $URL/health: "
grep -qi "certificate" "$ERR" || fail "no TLS certificate message without --cacert: $(cat "$ERR")"
r 1 "$D4HUBCTL" -H "$URL" --cacert "$T_PKI/other-ca.crt" --token-file "$T_DIR/admin.tok" status
grep -qi "certificate" "$ERR" || fail "no TLS certificate message with the wrong CA: $(cat "$ERR")"
r 0 "$D4HUBCTL" -H "$URL" --insecure --token-file "$T_DIR/admin.tok" --json status
r 1 "$D4HUBCTL" -H "https://$T_ADDR:$(free_port)" --cacert "$CA" --token-file "$T_DIR/admin.tok" status
grep -qi "connect" "$ERR" || fail "no connection error: $(cat "$ERR")"
r 2 rctl sensor add not-a-uuid --gen-key
r 2 rctl sensor bogus
r 2 rctl
r 2 "$D4HUBCTL" -H "$URL" -s "$STORE" status
r 2 "$D4HUBCTL" -H "http://$T_ADDR:$API_PORT" --token-file "$T_DIR/admin.tok" status
err_has "https://"
r 2 env -u D4HUB_TOKEN "$D4HUBCTL" -H "$URL" --cacert "$CA" status
err_has "no API token"
r 2 "$D4HUBCTL" -s "$STORE" --cacert "$CA" status
r 2 rctl --insecure status
r 2 rctl --timeout 0 status
for f in "$T_LOG" "$T_DIR"/err; do
	! grep -qF "$ADMIN" "$f" || fail "the admin token appears in $f"
done
log "env URL/token, -s beats D4HUB_URL, wrong token 401 + hint, TLS errors (no CA, other CA), --insecure, refused connection, usage errors exit 2"

# ---- server mode ------------------------------------------------------------------------------------------
r 0 rctl server mode
out_has "mode:          registration (from the configuration)"
out_has "shared key:    not set"
r 1 rctl server mode shared-secret
err_has "(HTTP 422)"
printf 'the shared secret\n' >"$T_DIR/shared.key"
r 0 rctl --json server mode shared-secret --shared-key-file "$T_DIR/shared.key"
jo "d == {'mode': 'shared-secret', 'mode_source': 'runtime', 'shared_key_set': True}"
r 0 lctl --json server mode
jo "d == {'mode': 'shared-secret', 'mode_source': 'runtime', 'shared_key_set': True}"
r 0 ctl server mode
out_has "mode:          shared-secret (set at run time)"
r 0 rctl server mode registration
out_has "mode:          registration (set at run time)"
out_has "shared key:    set"
grep -q "the shared secret" "$T_LOG" && fail "the shared key appears in the hub log"
r 2 rctl server mode bogus
r 0 lctl server mode shared-secret
r 0 lctl --json server mode
jo "d['mode'] == 'shared-secret' and d['mode_source'] == 'runtime'"
r 0 rctl --json server mode
jo "d['mode'] == 'shared-secret'"
log "server mode: show, 422 without a key, set with a key file (remote) == local, set locally == remote"

pass "d4hubctl remote mode"
