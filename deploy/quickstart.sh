#!/usr/bin/env bash
# d4hub demo in one command, on a fresh Debian 12 machine:
#   installs the packages the hub needs (deploy/bootstrap.sh), builds d4hub,
#   d4hubctl and d4-sensor, makes a throw-away test PKI, starts d4hub on
#   127.0.0.1 with an LMDB store under ./demo, registers and approves a demo
#   sensor, feeds it a DNS capture (type 1) and a second resolver's passivedns
#   log (type 8) through d4-sensor, shows the passive-DNS answer, then prints
#   the API token, the URLs and commands to try, and keeps the hub running
#   until Ctrl-C (which stops it cleanly). Package and build output go to a
#   log file (demo/quickstart.log); on a failure its last lines are shown.
#
# usage: deploy/quickstart.sh [--no-wait] [--no-build]
#   --no-wait   stop the hub and exit after printing
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
		sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
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
# The capture's DNS answers and the passivedns log of another resolver: no
# answer is in both, so each record is shown once (passivedns prints only
# the target of an MX/SRV and the MNAME of an SOA; fed the capture's own
# passivedns output, an analyst would see each of those twice, docs/pdns.md)
PCAP=$ROOT/tests/data/dns/local-dns.pcap
CSV=$ROOT/tests/data/dns/quickstart-resolver2.passivedns.csv
# the name whose passive-DNS records are shown
PDNS_NAME=example.test
LOG=$DEMO/quickstart.log

# Paths are printed relative to the current folder when they are below it:
# shorter to read, and the printed commands work from here.
rel() {
	case $1 in
	"$PWD"/*) printf '%s' "${1#"$PWD"/}" ;;
	*) printf '%s' "$1" ;;
	esac
}
if [ -t 1 ]; then
	say() { printf '\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '== %s\n' "$*"; }
fi
die() {
	echo "quickstart: $*" >&2
	exit 1
}
# run STEP CMD...: CMD's output to the log; on failure the log's tail
run() {
	local what=$1
	shift
	printf '\n== %s: %s\n' "$what" "$*" >>"$LOG"
	if ! "$@" >>"$LOG" 2>&1; then
		echo "quickstart: $what failed; the last lines of $(rel "$LOG"):" >&2
		tail -n 25 "$LOG" | sed 's/^/  /' >&2
		exit 1
	fi
}

mkdir -p "$DEMO"
: >"$LOG"
if [ $BUILD -eq 1 ]; then
	printf 'installing packages (deploy/bootstrap.sh) and building into %s; log: %s\n' \
		"$(rel "$BDIR")" "$(rel "$LOG")"
	run "installing packages" bash "$ROOT/deploy/bootstrap.sh"
	# the tests are not built: they need packages the hub does not (tests/run.sh)
	run "configuring" cmake -S "$ROOT" -B "$BDIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DD4_TESTS=OFF
	run "building" cmake --build "$BDIR" -j "${JOBS:-$(nproc)}" --target d4hub d4hubctl d4-sensor
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

run "making the demo PKI" bash "$ROOT/deploy/mkpki.sh" "$DEMO/pki"
# a fresh store and config each run, so that what is printed is this run
rm -rf "$DEMO/store" "$DEMO/d4hub.conf" "$DEMO/d4hub.log" "$DEMO/sensor.log" "$DEMO/admin.token"
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
run "checking the configuration" "$D4HUB" -n -c "$CONF"

ctl() { "$D4HUBCTL" -c "$CONF" "$@"; }

SENSOR=$("$D4SENSOR" --gen-uuid)
KEY=$(ctl sensor add "$SENSOR" --gen-key --approve --desc "quickstart demo sensor")
# The first API account: an admin and its token (shown only now; the store
# keeps just its SHA-256). More: d4hubctl user add / token create.
API_TOKEN=$(ctl user add admin --role admin)
# for d4hubctl's remote mode (--token-file): readable by this user only
(
	umask 077
	printf '%s\n' "$API_TOKEN" >"$DEMO/admin.token"
)

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
		tail -n 25 "$DEMO/d4hub.log" >&2
		HUB_PID=
		die "d4hub exited (log: $(rel "$DEMO/d4hub.log"))"
	}
	sleep 0.1
done
grep -q "d4hub listening on $DEST" "$DEMO/d4hub.log" || die "d4hub did not start listening within 30 s"
# the REST API's address as the hub reports it (default listener otherwise)
API_URL=$(sed -n 's/.*d4hub API listening on \(https:[^ ]*\).*/\1/p' "$DEMO/d4hub.log" | head -n 1)
API_URL=${API_URL:-https://127.0.0.1:$API_PORT/}
API=${API_URL%/}
CA=$(rel "$DEMO/pki/ca.crt")
echo "d4hub is running (pid $HUB_PID): D4 sensors on $DEST, REST API and web page on $API_URL"

SENSOR_ARGS=(-u "$SENSOR" -k "$KEY" -D "$DEST" --ca "$DEMO/pki/ca.crt")
# the sensor's own lines (connected, sent N frames) go to the log too
run "sending $(rel "$PCAP")" "$D4SENSOR" "${SENSOR_ARGS[@]}" -t 1 -r "$PCAP"
run "sending $(rel "$CSV")" "$D4SENSOR" "${SENSOR_ARGS[@]}" -t 8 <"$CSV"

# the hub commits in batches: wait until both sessions are closed and committed
n=0
for i in $(seq 1 300); do
	n=$(ctl sessions "$SENSOR" 2>/dev/null | grep -c "peer closed" || true)
	[ "$n" -ge 2 ] && break
	sleep 0.1
done
frames=$(ctl status | sed -n 's/^frames: *//p')
bytes=$(ctl status | sed -n 's/^bytes: *//p')
echo "demo sensor $SENSOR sent $(rel "$PCAP") (type 1, pcap)"
echo "  and $(rel "$CSV") (type 8, passivedns): $n sessions, $frames frames, $bytes bytes stored"

# The passive-DNS worker reads the committed frames a moment later: wait for
# the capture's SOA and the passivedns log's A record (seen by both: count 2).
PDNS=(curl -s --cacert "$DEMO/pki/ca.crt" -H "Authorization: Bearer $API_TOKEN" "$API/pdns/query/$PDNS_NAME")
out=
for i in $(seq 1 300); do
	out=$("${PDNS[@]}" 2>/dev/null || true)
	case $out in *'"SOA"'*) case $out in *'"count":2'*) break ;; esac ;; esac
	sleep 0.1
done
echo
say "passive DNS for $PDNS_NAME: what the capture and the passivedns log gave, each record once"
echo "${out:-(no answer yet: the pDNS ingest is still behind; run the curl command below)}"

echo
say "the demo hub is ready"
cat <<EOF
API token (user admin, role admin; shown only now, also in $(rel "$DEMO/admin.token")):
  $API_TOKEN
Web page:   $API_URL   (sign in with the token; your browser does not know the
            demo CA $CA: import it, or accept the warning for this throw-away demo)
REST API:   $API/api/v1/   contract: $API/openapi.yaml   (docs/api.md)
D4 sensors: $DEST (TLS, CA $CA)
Logs:       $(rel "$LOG") (packages, build, sensors), $(rel "$DEMO/d4hub.log") (the hub)

Try (from this folder, while the hub runs):
  curl -s --cacert $CA -H 'Authorization: Bearer $API_TOKEN' $API/api/v1/sensors
  curl -s --cacert $CA -H 'Authorization: Bearer $API_TOKEN' $API/pdns/query/$PDNS_NAME
  curl -s --cacert $CA -H 'X-API-Key: $API_TOKEN' '$API/dnsdb/v2/lookup/rrset/name/*.$PDNS_NAME'
  curl -s --cacert $CA -H 'X-API-Key: $API_TOKEN' $API/dnsdb/v2/lookup/rdata/ip/192.0.2.0,24
  curl -s --cacert $CA $API/openapi.yaml -o $(rel "$DEMO/openapi.yaml")
  $(rel "$D4HUBCTL") -c $(rel "$CONF") sessions
  $(rel "$D4HUBCTL") -c $(rel "$CONF") frames --session 2 --payload
  $(rel "$D4HUBCTL") -c $(rel "$CONF") frames --session 1 --payload > $(rel "$DEMO/capture.pcap")
  $(rel "$D4HUBCTL") -H $API --cacert $CA --token-file $(rel "$DEMO/admin.token") sensor list
  $(rel "$D4SENSOR") -u $SENSOR -k $KEY -D $DEST --ca $CA -t 8 < $(rel "$ROOT/tests/data/dns/dpkt-http.passivedns.csv")
EOF

if [ $WAIT -eq 0 ]; then
	stop_hub
	exit 0
fi
echo
say "d4hub keeps running (pid $HUB_PID); Ctrl-C stops it"
while [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; do
	wait "$HUB_PID" 2>/dev/null || true
done
if [ -n "$HUB_PID" ]; then
	HUB_PID=
	die "d4hub exited on its own; see $(rel "$DEMO/d4hub.log")"
fi
