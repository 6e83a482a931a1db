#!/usr/bin/env bash
# No test binds a default port: this test holds the ports of d4hub's defaults
# (as `d4hub -n` reports them for a configuration without listen keys) and
# the docs' federation port on 127.0.0.1 — as a demo hub or another program
# would — and runs, meanwhile, the quickstart test, a sensor test and a hub
# with its REST API. Each binds free ports only, so each passes; one that
# fell back on a default would find its port taken and fail.
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
t_pki
# a configuration that leaves every address to the defaults
cat >"$T_DIR/defaults.conf" <<EOF
[ingest]
cert = pki/hub.crt
key = pki/hub.key
[store]
path = store
EOF
"$D4HUB" -n -c "$T_DIR/defaults.conf" >"$T_DIR/n.out" 2>&1 || fail "d4hub -n: $(cat "$T_DIR/n.out")"
ING=$(sed -n 's/^D4 ingest: *\([^ ]*\) .*/\1/p' "$T_DIR/n.out")
API=$(sed -n 's/^REST API: *\([^ ]*\) .*/\1/p' "$T_DIR/n.out")
case "$ING $API" in
127.0.0.1:[0-9]*" "127.0.0.1:[0-9]*) ;;
*) fail "d4hub -n does not print the default addresses: $(cat "$T_DIR/n.out")" ;;
esac
grep -q '^federation: *not listening' "$T_DIR/n.out" || fail "federation listens by default: $(cat "$T_DIR/n.out")"
# the port the docs (federation.md) and the example configuration use
FED=$(sed -n 's/^#listen = [^ ]*:\([0-9]*\) .*/\1/p' "$HERE/../../../deploy/d4hub.conf.example")
assert_eq "$FED" 8444 "the example's federation port"
PORTS="${ING##*:} ${API##*:} $FED"
log "default ports: ingest $ING, API $API, federation example :$FED"

# hold them: a listener per port; a port another program holds already stays held
# shellcheck disable=SC2086 # PORTS: one word per port
"$PY" - "$T_DIR/held" $PORTS <<'PYEOF' &
import errno, os, signal, socket, sys, time
held, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
socks, lines = [], []
for p in ports:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        s.listen(16)
        socks.append(s)
        lines.append("%d held by this test" % p)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        lines.append("%d already in use" % p)
with open(held + ".tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
os.rename(held + ".tmp", held)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(3600)
PYEOF
HOLDER=$!
T_BG+=("$HOLDER")
wait_for 20 "the default ports held" test -s "$T_DIR/held"
while read -r line; do log "port $line"; done <"$T_DIR/held"
listening() { ss -Hltn "sport = :$1" | grep -q .; }
for p in $PORTS; do
	listening "$p" || fail "nothing listens on the default port $p"
done

# the quickstart test and a sensor test, as ctest runs them
for t in "quickstart.sh" "sensor_source.sh stdin"; do
	rc=0
	# shellcheck disable=SC2086
	T_NAME=${T_NAME}_${t%%.*} timeout 200 bash $HERE/$t >"$T_DIR/sub.out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || {
		cat "$T_DIR/sub.out" >&2
		fail "$t failed (rc=$rc) while the default ports were held"
	}
	grep -q '^PASS: ' "$T_DIR/sub.out" || fail "$t did not pass: $(tail -n 3 "$T_DIR/sub.out")"
	log "$(grep '^PASS: ' "$T_DIR/sub.out")"
done

# a hub of the test library, with its REST API and the federation port
t_conf
hub_start
URL=$(api_url)
case $URL in *":${API##*:}") fail "the API took the default port ${API##*:}" ;; esac
TOK=$(ctl user add admin --role admin)
curl -sS --fail-with-body --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $TOK" "$URL/api/v1/me" >"$T_DIR/me" ||
	fail "API request to $URL failed"
assert_contains "$(cat "$T_DIR/me")" '"role":"admin"' "GET /api/v1/me"
hub_stop

# the ports were held throughout (by this test, or by whoever had them)
kill -0 "$HOLDER" 2>/dev/null || fail "the port holder died"
for p in $PORTS; do
	listening "$p" || fail "the default port $p was released during the test"
done
pass "ingest ${ING##*:}, API ${API##*:} and ${FED} held: quickstart, sensor test and an API hub ran on free ports"
