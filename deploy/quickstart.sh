#!/usr/bin/env bash
# d4hub demo in one command, on a fresh Debian 12 machine:
#   installs the packages, builds, makes a throw-away test PKI, starts d4hub
#   on 127.0.0.1 with an LMDB store under ./demo, registers and approves a
#   demo sensor, feeds it a sample capture (type 1) and a passivedns CSV
#   (type 8) through d4-sensor, prints what was stored and how to look at it,
#   then keeps the hub running until Ctrl-C (which stops it cleanly).
#
# usage: deploy/quickstart.sh [--no-wait] [--no-build]
#   --no-wait   stop the hub and exit after printing (used by the tests)
#   --no-build  use already built binaries (D4HUB, D4HUBCTL, D4SENSOR or
#               the build folder), skip bootstrap and build
# env: D4_DEMO_DIR (default ./demo in the repository), D4_DEMO_PORT (4443),
#      D4_DEMO_API_PORT (8443, the REST API),
#      D4_BUILD_DIR (default ./build), JOBS (parallel build jobs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WAIT=1
BUILD=1
for a in "$@"; do
	case $a in
	--no-wait) WAIT=0 ;;
	--no-build) BUILD=0 ;;
	-h | --help)
		sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "quickstart: unknown option $a (see --help)" >&2
		exit 2
		;;
	esac
done

DEMO=${D4_DEMO_DIR:-$ROOT/demo}
PORT=${D4_DEMO_PORT:-4443}
API_PORT=${D4_DEMO_API_PORT:-8443}
BDIR=${D4_BUILD_DIR:-$ROOT/build}
DEST=127.0.0.1:$PORT
D4HUB=${D4HUB:-$BDIR/hub/d4hub}
D4HUBCTL=${D4HUBCTL:-$BDIR/hub/ctl/d4hubctl}
D4SENSOR=${D4SENSOR:-$BDIR/sensor/d4-sensor}
PCAP=$ROOT/tests/data/dns/local-dns.pcap
CSV=$ROOT/tests/data/dns/local-dns.passivedns-alltypes.csv

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
die() {
	echo "quickstart: $*" >&2
	exit 1
}

if [ $BUILD -eq 1 ]; then
	say "installing packages (deploy/bootstrap.sh)"
	bash "$ROOT/deploy/bootstrap.sh"
	say "building into $BDIR"
	cmake -S "$ROOT" -B "$BDIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$BDIR" -j "${JOBS:-$(nproc)}" --target d4hub d4hubctl d4-sensor
fi
for b in "$D4HUB" "$D4HUBCTL" "$D4SENSOR"; do
	[ -x "$b" ] || die "$b not built"
done

if ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q .; then
	die "port $PORT is in use (another d4hub? set D4_DEMO_PORT)"
fi
if ss -Hltn "sport = :$API_PORT" 2>/dev/null | grep -q .; then
	die "port $API_PORT is in use (another d4hub? set D4_DEMO_API_PORT)"
fi

say "demo folder $DEMO (throw-away PKI, config, store)"
mkdir -p "$DEMO"
bash "$ROOT/deploy/mkpki.sh" "$DEMO/pki"
# a fresh store and config each run, so that what is printed is this run
rm -rf "$DEMO/store" "$DEMO/d4hub.conf" "$DEMO/d4hub.log"
CONF=$DEMO/d4hub.conf
cat >"$CONF" <<EOF
# d4hub demo configuration, written by deploy/quickstart.sh
# (every key: deploy/d4hub.conf.example)
[hub]
uuid = $("$D4SENSOR" --gen-uuid)
org = $("$D4SENSOR" --gen-uuid)
[ingest]
listen = $DEST
cert = pki/hub.crt
key = pki/hub.key
[store]
path = store
[api]
listen = 127.0.0.1:$API_PORT
EOF
"$D4HUB" -n -c "$CONF" >/dev/null || die "config check failed"

ctl() { "$D4HUBCTL" -c "$CONF" "$@"; }

SENSOR=$("$D4SENSOR" --gen-uuid)
KEY=$(ctl sensor add "$SENSOR" --gen-key --approve --desc "quickstart demo sensor")
echo "registered and approved demo sensor $SENSOR"
# The first API account: an admin and its token (shown only now; the store
# keeps just its SHA-256). More: d4hubctl user add / token create.
API_TOKEN=$(ctl user add admin --role admin)
echo "created API user 'admin' (role admin)"

say "starting d4hub on $DEST (log: $DEMO/d4hub.log)"
HUB_PID=
stop_hub() {
	[ -n "$HUB_PID" ] || return 0
	local pid=$HUB_PID i
	HUB_PID=
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "quickstart: d4hub did not stop within 20 s, killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	echo "d4hub stopped"
}
trap 'stop_hub' EXIT
trap 'echo; stop_hub; exit 0' INT TERM

"$D4HUB" -d -c "$CONF" 2>>"$DEMO/d4hub.log" &
HUB_PID=$!
# deadlines are generous: a loaded machine is slow, and they cost nothing
# when the hub is quick
for i in $(seq 1 300); do
	grep -q "d4hub listening on $DEST" "$DEMO/d4hub.log" 2>/dev/null && break
	kill -0 "$HUB_PID" 2>/dev/null || {
		cat "$DEMO/d4hub.log" >&2
		HUB_PID=
		die "d4hub exited"
	}
	sleep 0.1
done
grep -q "d4hub listening on $DEST" "$DEMO/d4hub.log" || die "d4hub did not start listening within 30 s"
grep "listening" "$DEMO/d4hub.log"
# the REST API's address as the hub reports it (default listener otherwise)
API_URL=$(sed -n 's/.*d4hub API listening on \(https:[^ ]*\).*/\1/p' "$DEMO/d4hub.log" | head -n 1)
API_URL=${API_URL:-https://127.0.0.1:$API_PORT/}

SENSOR_ARGS=(-u "$SENSOR" -k "$KEY" -D "$DEST" --ca "$DEMO/pki/ca.crt")
say "feeding $(basename "$PCAP") as type 1 (pcap) through d4-sensor -r"
"$D4SENSOR" "${SENSOR_ARGS[@]}" -t 1 -r "$PCAP"
say "feeding $(basename "$CSV") as type 8 (passivedns) through d4-sensor from stdin"
"$D4SENSOR" "${SENSOR_ARGS[@]}" -t 8 <"$CSV"

# the hub commits in batches: wait until both sessions are closed and committed
for i in $(seq 1 300); do
	n=$(ctl sessions "$SENSOR" 2>/dev/null | grep -c "peer closed" || true)
	[ "$n" -ge 2 ] && break
	sleep 0.1
done

say "what was stored"
echo "\$ d4hubctl -c $CONF sensor list"
ctl sensor list
echo
echo "\$ d4hubctl -c $CONF sessions"
ctl sessions
echo
echo "\$ d4hubctl -c $CONF status"
ctl status

say "passive DNS: what the hub extracted from the capture and the passivedns lines"
PDNS_Q="${API_URL%/}/pdns/query/web.example.test"
for i in $(seq 1 300); do
	out=$(curl -sf --cacert "$DEMO/pki/ca.crt" -H "Authorization: Bearer $API_TOKEN" "$PDNS_Q" 2>/dev/null || true)
	[ -n "$out" ] && break
	sleep 0.1
done
echo "\$ curl --cacert $DEMO/pki/ca.crt -H \"Authorization: Bearer \$TOKEN\" $PDNS_Q"
echo "${out:-(no answer yet: the pDNS ingest is still behind; try the command again)}"

say "how to look at it"
cat <<EOF
  C="$D4HUBCTL -c $CONF"
  \$C sensor show $SENSOR          # counters, last IPs, types, rejections
  \$C frames                         # one line per stored frame
  \$C frames --session 2 --payload   # the raw passivedns lines as received
  \$C frames --session 1 --payload > /tmp/demo.pcap && tcpdump -nr /tmp/demo.pcap
  \$C --json sessions                # everything above also as JSON
  \$C stats                          # daily packets/bytes/rejects
REST API user 'admin', token (shown once, keep it; revoke with d4hubctl token revoke ID):
  $API_TOKEN
API: $API_URL (Authorization: Bearer TOKEN), e.g.
  curl --cacert $DEMO/pki/ca.crt -H "Authorization: Bearer $API_TOKEN" ${API_URL%/}/api/v1/me
  curl --cacert $DEMO/pki/ca.crt -H "Authorization: Bearer $API_TOKEN" ${API_URL%/}/api/v1/sensors
  curl --cacert $DEMO/pki/ca.crt -H "Authorization: Bearer $API_TOKEN" ${API_URL%/}/api/v1/stats/daily
  curl --cacert $DEMO/pki/ca.crt ${API_URL%/}/openapi.yaml       # the API contract
Passive DNS (COF, and DNSDB API v2 for dnsdbq and other DNSDB clients; docs/pdns.md):
  curl --cacert $DEMO/pki/ca.crt -H "Authorization: Bearer $API_TOKEN" ${API_URL%/}/pdns/query/example.test
  curl --cacert $DEMO/pki/ca.crt -H "X-API-Key: $API_TOKEN" '${API_URL%/}/dnsdb/v2/lookup/rrset/name/*.example.test'
  curl --cacert $DEMO/pki/ca.crt -H "X-API-Key: $API_TOKEN" ${API_URL%/}/dnsdb/v2/lookup/rdata/ip/192.0.2.0,24
Web page: $API_URL (sign in with the token; the demo CA $DEMO/pki/ca.crt is not trusted by
  your browser: import it, or accept the warning for this throw-away demo)
Send more yourself (the hub keeps running):
  $D4SENSOR -u $SENSOR -k $KEY -D $DEST --ca $DEMO/pki/ca.crt -t 8 -F /path/to/passivedns.log
EOF

if [ $WAIT -eq 0 ]; then
	stop_hub
	exit 0
fi
say "d4hub is running (pid $HUB_PID); Ctrl-C stops it"
while [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; do
	wait "$HUB_PID" 2>/dev/null || true
done
if [ -n "$HUB_PID" ]; then
	HUB_PID=
	die "d4hub exited on its own; see $DEMO/d4hub.log"
fi
