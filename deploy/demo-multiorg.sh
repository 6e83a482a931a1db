#!/usr/bin/env bash
# deploy/demo-multiorg.sh — three organisations sharing sensor data by TLP
# (one pDNS share mixed, every record signed, one relayed to a third hub that
# verifies it as its origin's), and a "public" hub, as plain processes on
# 127.0.0.2..5 (ports picked free at run time). The same topology as
# deploy/compose.yml, which runs this script's container-* commands in each
# container. Walk-through: docs/demo-multiorg.md.
#
# usage: deploy/demo-multiorg.sh [--no-wait] [--dir DIR]
#   --no-wait  stop the hubs and exit once the data has crossed (else keep them
#              running until Ctrl-C / SIGTERM, which stops them cleanly)
#   --dir DIR  the demo folder (default ./demo-multiorg in the repository): PKI,
#              configurations, stores, logs, admin tokens; made anew each run
# Binaries: D4HUB, D4HUBCTL, D4SENSOR, else the build folder (D4_BUILD_DIR,
# default ./build). Sample data: D4_DEMO_DATA (default tests/data).
# When everything has crossed, DIR/demo.env holds the hubs' API URLs, the admin
# tokens and the sensors (sourceable) and DIR/ready exists.
#
# container-init DIR | container-hub NAME DIR | container-sensors NAME DIR:
#   what the services of deploy/compose.yml run (host names org1, org2, org3,
#   public; fixed ports inside the compose network).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
MKPKI=${MKPKI:-$HERE/mkpki.sh}
DATA=${D4_DEMO_DATA:-$ROOT/tests/data}

# ---- the topology (one place; docs/demo-multiorg.md explains it) ------------
HUBS=(org1 org2 org3 public)
# hub -> organisation (one CA per organisation)
declare -A ORG=([org1]=csirt1 [org2]=csirt2 [org3]=csirt3 [public]=public)
# hub -> loopback address in process mode
declare -A PADDR=([org1]=127.0.0.2 [org2]=127.0.0.3 [org3]=127.0.0.4 [public]=127.0.0.5)
# sensors: hub|label|D4 type|sample file under DATA|the sensor's TLP
# (org1's two passive DNS sensors share some tuples and not others: what its
# mixed share with org3 lets go, below)
SENSORS=(
	'org1|org1-pdns|8|dns/local-dns.passivedns-alltypes.csv|tlp:green'
	'org1|org1-dns2|8|dns/demo-org1-resolver2.passivedns.csv|tlp:green'
	'org1|org1-pcap|1|pcap/http.pcap|tlp:amber'
	'org1|org1-red|1|pcap/dns_icmp.pcap|tlp:red'
	'org2|org2-pcap|1|pcap/nb6-http.pcap|tlp:green'
	'org2|org2-pdns|8|dns/dpkt-http.passivedns.csv|tlp:amber'
	'org3|org3-pdns|8|dns/dpkt-dns_icmp.passivedns.csv|tlp:clear'
	'org3|org3-pcap|1|pcap/sll.pcap|tlp:clear'
)
# partner relations (federation), pushed: from|to|relation|max TLP|options
# (outbound of FROM and inbound of TO, frames and pdns); amber needs
# allow_amber, which only the "partner" relation takes here. org2 and org3 do
# not know each other. Options:
#   onward  FROM lets TO pass FROM's records on (FROM's partner record of TO)
#   relay   TO gets from FROM the frames FROM received from others, where their
#           origin allowed it (allow_relay of FROM's frames rule for TO)
#   mix     FROM's pDNS share with TO is mixed (MIX), and turned on once FROM's
#           pDNS store holds its sensors' samples (share_mixed)
# Every hub of a relation gives the other its signing key (pubkey) and
# requires its records signed (must_sign).
RELATIONS=(
	'org1|org2|partner|tlp:amber|'
	'org2|org1|partner|tlp:amber|onward'
	'org1|org3|community|tlp:green|relay,mix'
	'org3|org1|community|tlp:green|'
)
# origins a hub verifies without exchanging anything with them: hub|origin. A
# partner record of the origin holding only its key, with must_sign: org3
# checks org2's signature on what org1 relays from org2.
VERIFY=('org3|org2')
# the mix of the "mix" relations (docs/federation.md, mixing before sharing): a
# tuple goes once seen by 2 sensors or 5 times, an hour after it was last seen,
# its times rounded down to the hour, its sensors replaced by this pool id
MIX_POOL=5ca1ab1e-d4d4-4d4d-8d4d-00000000000a
MIX='{"min_sensors": 2, "min_count": 5, "delay_s": 3600, "coarsen_s": 3600, "pool_sensors": true, "pool_id": "'$MIX_POOL'"}'
# the upstream relation (docs/upstream.md): each organisation's hub is a D4
# client of the public hub, registered there as a sensor, and relays these
# D4 types of its own sensors up to this level ("public": tlp:clear only)
UPSTREAM_HUBS=(org1 org2 org3)
UPSTREAM_STREAMS='1, 8'
UPSTREAM_MAX_TLP=tlp:clear
# ------------------------------------------------------------------------------

die() {
	echo "demo-multiorg: $*" >&2
	exit 1
}
say() { printf '\n== %s\n' "$*"; }

find_bins() {
	local b=${D4_BUILD_DIR:-$ROOT/build}
	D4HUB=${D4HUB:-$(command -v d4hub || echo "$b/hub/d4hub")}
	D4HUBCTL=${D4HUBCTL:-$(command -v d4hubctl || echo "$b/hub/ctl/d4hubctl")}
	D4SENSOR=${D4SENSOR:-$(command -v d4-sensor || echo "$b/sensor/d4-sensor")}
	for x in "$D4HUB" "$D4HUBCTL" "$D4SENSOR"; do [ -x "$x" ] || die "$x not built (D4_BUILD_DIR, or D4HUB/D4HUBCTL/D4SENSOR)"; done
}

# Where each hub listens and how the others reach it: set by the mode
# (PUB_PORT: the API port published on the host's 127.0.0.1, container mode).
declare -A LISTEN_HOST REACH_HOST P_INGEST P_API P_FED PUB_PORT=()
ctl() {
	local n=$1
	shift
	"$D4HUBCTL" -c "$DIR/$n/hub.conf" "$@"
}

# topo_identities: hub and org uuids (kept in DIR/ids), the PKI.
topo_identities() {
	local n o
	mkdir -p "$DIR"
	"$MKPKI" "$DIR/pki" || die "mkpki"
	declare -gA HUB_UUID ORG_UUID
	for o in "${ORG[@]}"; do ORG_UUID[$o]=$("$D4SENSOR" --gen-uuid); done
	for n in "${HUBS[@]}"; do
		HUB_UUID[$n]=$("$D4SENSOR" --gen-uuid)
		"$MKPKI" "$DIR/pki" hub "$n" "${HUB_UUID[$n]}" "${ORG[$n]}" || die "mkpki hub $n"
		echo "$n ${HUB_UUID[$n]} ${ORG_UUID[${ORG[$n]}]}" >>"$DIR/ids"
	done
}

# write_conf NAME: the hub's configuration (pDNS on; federation port with the
# hub's certificate and its organisation's CA).
write_conf() {
	local n=$1
	mkdir -p "$DIR/$n"
	cat >"$DIR/$n/hub.conf" <<EOF
# hub $n of organisation ${ORG[$n]} (deploy/demo-multiorg.sh)
[hub]
uuid = ${HUB_UUID[$n]}
org = ${ORG_UUID[${ORG[$n]}]}
[ingest]
listen = ${LISTEN_HOST[$n]}:${P_INGEST[$n]}
cert = $DIR/pki/hub.crt
key = $DIR/pki/hub.key
[store]
path = $DIR/$n/store
commit_ms = 50
[api]
listen = ${LISTEN_HOST[$n]}:${P_API[$n]}
[pdns]
enabled = yes
[federation]
listen = ${LISTEN_HOST[$n]}:${P_FED[$n]}
cert = $DIR/pki/$n.crt
key = $DIR/pki/$n.key
ca = $DIR/pki/${ORG[$n]}-ca.crt
EOF
	if [ -s "$DIR/$n/upstream.uuid" ]; then
		cat >>"$DIR/$n/hub.conf" <<EOF
[upstream]
destination = ${REACH_HOST[public]}:${P_INGEST[public]}
uuid = $(cat "$DIR/$n/upstream.uuid")
key_file = $DIR/$n/upstream.key
ca = $DIR/pki/ca.crt
server_name = ${UP_SERVER_NAME:-${REACH_HOST[public]}}
streams = $UPSTREAM_STREAMS
max_tlp = $UPSTREAM_MAX_TLP
EOF
	fi
}

# topo_accounts: per hub an admin (token in DIR/NAME/token), per sensor line a
# registered, approved sensor with its TLP (DIR/sensors: hub label type file
# tlp uuid key).
topo_accounts() {
	local line n label type file tlp u k
	: >"$DIR/sensors"
	for n in "${HUBS[@]}"; do
		(umask 077 && ctl "$n" user add "admin" --role admin >"$DIR/$n/token") || die "hub $n: user add"
	done
	for line in "${SENSORS[@]}"; do
		IFS='|' read -r n label type file tlp <<<"$line"
		u=$("$D4SENSOR" --gen-uuid)
		k=$(ctl "$n" sensor add "$u" --gen-key --approve --desc "$label") || die "hub $n: sensor add $label"
		ctl "$n" sensor set "$u" --tlp "$tlp" >/dev/null || die "hub $n: sensor set $label"
		echo "$n $label $type $file $tlp $u $k" >>"$DIR/sensors"
	done
	# the upstream relation: each organisation's hub, a sensor of the public hub
	for n in "${UPSTREAM_HUBS[@]}"; do
		u=$("$D4SENSOR" --gen-uuid)
		(umask 077 && ctl public sensor add "$u" --gen-key --approve --desc "upstream of $n" >"$DIR/$n/upstream.key") ||
			die "hub public: sensor add (upstream of $n)"
		# types 1 and 8 carry no meta header: the server stores them at the
		# level of the sensor that sends them, which is what the relay sends up
		ctl public sensor set "$u" --tlp "$UPSTREAM_MAX_TLP" >/dev/null || die "hub public: sensor set (upstream of $n)"
		echo "$u" >"$DIR/$n/upstream.uuid"
		write_conf "$n"
	done
}

# hub_key NAME: the hub's signing public key (base64; the hub makes it at its
# first start and keeps it in its store)
hub_key() { ctl "$1" partner key 2>/dev/null; }

# make_keys: every hub that has none yet (container mode: the hubs have not run
# yet) is started once, alone, until it made its signing key, then stopped
make_keys() {
	local n pid i
	for n in "${HUBS[@]}"; do
		hub_key "$n" >/dev/null && continue
		"$D4HUB" -d -c "$DIR/$n/hub.conf" >"$DIR/$n/first-start.log" 2>&1 &
		pid=$!
		for i in $(seq 1 600); do
			hub_key "$n" >/dev/null && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.1
		done
		kill -TERM $pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
		hub_key "$n" >/dev/null || die "hub $n made no signing key (see $DIR/$n/first-start.log)"
	done
}

# topo_partners: every relation, on both sides: FROM's partner TO with an
# outbound rule, TO's partner FROM with an inbound rule (one partner record per
# pair of hubs, holding both directions where both exist, and the other hub's
# signing key with must_sign); then the VERIFY records (a key, nothing shared)
topo_partners() {
	local line from to rel max opt aa key h p doc pr pk
	declare -A REL=() OUT=() IN=() OPT=()
	for line in "${RELATIONS[@]}"; do
		IFS='|' read -r from to rel max opt <<<"$line"
		REL[$from,$to]=$rel
		REL[$to,$from]=$rel
		OUT[$from,$to]=$max
		IN[$to,$from]=$max
		OPT[$from,$to]=,$opt,
	done
	for key in "${!REL[@]}"; do
		h=${key%,*} p=${key#*,}
		pk=$(hub_key "$p") || die "hub $p has no signing key yet"
		opt=${OPT[$key]:-}
		doc="{\"pubkey\": \"$pk\", \"must_sign\": true"
		case $opt in *,onward,*) doc+=', "onward": true' ;; esac
		if [ -n "${OUT[$key]:-}" ]; then
			aa=false
			[ "${REL[$key]}" = partner ] && aa=true
			pr=false
			case $opt in *,relay,*) pr=true ;; esac
			doc+=", \"outbound\": {\"frames\": {\"enabled\": true, \"max_tlp\": \"${OUT[$key]}\", \"allow_amber\": $aa, \"allow_relay\": $pr},"
			case $opt in
			*,mix,*) doc+=" \"pdns\": {\"enabled\": false, \"max_tlp\": \"${OUT[$key]}\", \"allow_amber\": $aa, \"mix\": $MIX}}" ;;
			*) doc+=" \"pdns\": {\"enabled\": true, \"max_tlp\": \"${OUT[$key]}\", \"allow_amber\": $aa}}" ;;
			esac
		fi
		if [ -n "${IN[$key]:-}" ]; then
			doc+=", \"inbound\": {\"kinds\": [\"frames\", \"pdns\"], \"max_tlp\": \"${IN[$key]}\"}"
		fi
		doc+='}'
		ctl "$h" partner add "$p" --url "https://${REACH_HOST[$p]}:${P_FED[$p]}" \
			--hub "${HUB_UUID[$p]}" --org "${ORG_UUID[${ORG[$p]}]}" --relation "${REL[$key]}" \
			--ca "$DIR/pki/${ORG[$p]}-ca.crt" --direction push --file <(echo "$doc") >/dev/null ||
			die "hub $h: partner add $p ($doc)"
	done
	for line in "${VERIFY[@]}"; do
		IFS='|' read -r h p <<<"$line"
		pk=$(hub_key "$p") || die "hub $p has no signing key yet"
		ctl "$h" partner add "$p" --url "https://${REACH_HOST[$p]}:${P_FED[$p]}" \
			--hub "${HUB_UUID[$p]}" --org "${ORG_UUID[${ORG[$p]}]}" --relation community \
			--ca "$DIR/pki/${ORG[$p]}-ca.crt" --direction push \
			--file <(echo "{\"pubkey\": \"$pk\", \"must_sign\": true}") >/dev/null ||
			die "hub $h: partner add $p (its key only)"
	done
}

# api_call NAME METHOD PATH [JSON]: the hub's REST API as its admin, with
# openssl alone (the demo image has no curl): the answer, headers and body,
# on stdout
api_call() {
	local n=$1 m=$2 p=$3 body=${4:-}
	{
		printf '%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nConnection: close\r\n' \
			"$m" "$p" "$(cat "$DIR/$n/token")"
		if [ -n "$body" ]; then
			printf 'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body"
		else
			printf '\r\n'
		fi
	} | timeout 30 openssl s_client -quiet -connect "${REACH_HOST[$n]}:${P_API[$n]}" -servername localhost \
		-verify_hostname localhost -verify_return_error -CAfile "$DIR/pki/ca.crt" 2>/dev/null
}

# pdns_stored NAME: the hub's pDNS store holds every line of each of its
# passive DNS (type 8) sensors' samples (GET /pdns/info, per sensor)
pdns_stored() {
	local n=$1 info h label type file tlp u k want
	info=$(api_call "$n" GET /pdns/info | tr -d ' \r\n') || return 1
	while read -r h label type file tlp u k; do
		[ "$h" = "$n" ] && [ "$type" = 8 ] || continue
		want=$(grep -c . "$DATA/$file")
		u=$(echo "$u" | tr -d - | tr A-F a-f)
		case $info in *"\"uuid\":\"$u\",\"observations\":$want,"*) ;; *) return 1 ;; esac
	done <"$DIR/sensors"
}

# share_mixed NAME: turns on the hub's mixed pDNS shares (the "mix" relations
# from NAME) once its pDNS store holds what its sensors sent. A mixed share
# decides each tuple on what the hub has seen of it when the tuple is decided:
# turned on before the samples are in, it would withhold tuples that their
# second sensor had not sent yet (in real life, delay_s does this).
share_mixed() {
	local n=$1 line from to rel max opt i out
	for line in "${RELATIONS[@]}"; do
		IFS='|' read -r from to rel max opt <<<"$line"
		[ "$from" = "$n" ] || continue
		case ,$opt, in *,mix,*) ;; *) continue ;; esac
		for i in $(seq 1 1200); do
			pdns_stored "$n" && break
			sleep 0.1
		done
		pdns_stored "$n" || die "hub $n: its sensors' passive DNS was not stored within 2 min"
		out=$(api_call "$n" PATCH "/api/v1/partners/$to" '{"outbound": {"pdns": {"enabled": true}}}')
		case $out in "HTTP/1.1 200"*) ;; *) die "hub $n: turning on the pDNS share with $to: $(echo "$out" | head -n 1)" ;; esac
		echo "demo-multiorg: $n shares its pDNS with $to, mixed"
	done
}

# feed NAME HOST PORT [d4-sensor args]: every sensor of hub NAME sends its
# sample file once. A sensor that already sent (DIR/NAME/fed-LABEL) is skipped.
feed() {
	local n=$1 host=$2 port=$3 h label type file tlp u k
	shift 3
	while read -r h label type file tlp u k; do
		[ "$h" = "$n" ] || continue
		[ -e "$DIR/$n/fed-$label" ] && continue
		local args=(-u "$u" -k "$k" -t "$type" -D "$host:$port" --ca "$DIR/pki/ca.crt" -q "$@")
		if [ "$type" = 1 ]; then
			"$D4SENSOR" "${args[@]}" -r "$DATA/$file" || return 1
		else
			"$D4SENSOR" "${args[@]}" <"$DATA/$file" || return 1
		fi
		touch "$DIR/$n/fed-$label"
	done <"$DIR/sensors"
}

write_env() {
	local n f="$DIR/demo.env"
	{
		echo "# the demo's hubs (deploy/demo-multiorg.sh); source this file"
		if [ ${#PUB_PORT[@]} -gt 0 ]; then
			# written inside a container: the folder is elsewhere on the host
			# shellcheck disable=SC2016
			echo 'DEMO_CA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pki/ca.crt'
		else
			echo "DEMO_CA=$DIR/pki/ca.crt"
		fi
		for n in "${HUBS[@]}"; do
			if [ -n "${PUB_PORT[$n]:-}" ]; then
				echo "DEMO_API_$n=https://127.0.0.1:${PUB_PORT[$n]}"
			else
				echo "DEMO_API_$n=https://${REACH_HOST[$n]}:${P_API[$n]}"
			fi
			echo "DEMO_TOKEN_$n=$(cat "$DIR/$n/token")"
			echo "DEMO_HUB_$n=${HUB_UUID[$n]}"
		done
		while read -r h label type file tlp u k; do
			echo "DEMO_SENSOR_${label//-/_}=$u"
		done <"$DIR/sensors"
		for n in "${UPSTREAM_HUBS[@]}"; do
			echo "DEMO_UPSTREAM_$n=$(cat "$DIR/$n/upstream.uuid")"
		done
		# the pool id org1's mixed share with org3 puts in place of its sensors
		echo "DEMO_MIX_POOL=$MIX_POOL"
		for n in "${HUBS[@]}"; do
			echo "DEMO_KEY_$n=$(hub_key "$n")"
		done
	} >"$f"
	chmod 600 "$f"
}

# clean_dir: empties DIR for a fresh demo, but only an empty folder or one a
# demo made (it holds "ids"): a mistyped --dir must not wipe anything else
clean_dir() {
	if [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && [ ! -e "$DIR/ids" ]; then
		die "$DIR is not empty and is no demo folder: give an empty or new one"
	fi
	rm -rf "${DIR:?}"/* 2>/dev/null || true
	mkdir -p "$DIR" && : >"$DIR/ids"
}

# ---- container mode (deploy/compose.yml) -------------------------------------
container_ports() {
	local n
	for n in "${HUBS[@]}"; do
		LISTEN_HOST[$n]=0.0.0.0
		REACH_HOST[$n]=$n
		P_INGEST[$n]=4443
		P_API[$n]=8443
		P_FED[$n]=8444
	done
	# the hubs' certificate names localhost and 127.0.0.1..9, not the services
	UP_SERVER_NAME=localhost
}
wait_ready() {
	local i
	for i in $(seq 1 600); do
		[ -e "$DIR/ready" ] && return 0
		sleep 0.5
	done
	die "$DIR/ready did not appear within 5 min (the init service)"
}
load_ids() {
	declare -gA HUB_UUID ORG_UUID
	local n h o
	while read -r n h o; do
		HUB_UUID[$n]=$h
		ORG_UUID[${ORG[$n]}]=$o
	done <"$DIR/ids"
}

case ${1:-} in
container-init)
	DIR=${2:?container-init DIR}
	find_bins
	container_ports
	if [ -e "$DIR/ready" ]; then
		echo "demo-multiorg: $DIR is set up already (remove it for a fresh demo)"
		exit 0
	fi
	clean_dir
	topo_identities
	for n in "${HUBS[@]}"; do write_conf "$n"; done
	topo_accounts
	make_keys
	topo_partners
	# the API ports compose.yml publishes, for a user's curl on the host
	for kv in ${D4_DEMO_PUBLISHED:-}; do PUB_PORT[${kv%%=*}]=${kv#*=}; done
	write_env
	# a throw-away demo: the user who started it reads the CA and the tokens
	# without being root (the folder is the host's, written as root)
	chmod 644 "$DIR/demo.env" "$DIR/pki/ca.crt"
	touch "$DIR/ready"
	echo "demo-multiorg: set up in $DIR"
	exit 0
	;;
container-hub)
	n=${2:?container-hub NAME DIR}
	DIR=${3:?container-hub NAME DIR}
	find_bins
	wait_ready
	exec "$D4HUB" -d -c "$DIR/$n/hub.conf"
	;;
container-sensors)
	n=${2:?container-sensors NAME DIR}
	DIR=${3:?container-sensors NAME DIR}
	find_bins
	container_ports
	wait_ready
	# the hub may not listen yet: try again until every sample was sent
	for i in $(seq 1 300); do
		feed "$n" "$n" 4443 --server-name localhost && {
			echo "demo-multiorg: the sensors of $n sent their samples"
			share_mixed "$n"
			exit 0
		}
		sleep 1
	done
	die "the sensors of $n could not send their samples"
	;;
esac

# ---- process mode --------------------------------------------------------------
WAIT=1
DIR=$ROOT/demo-multiorg
while [ $# -gt 0 ]; do
	case $1 in
	--no-wait) WAIT=0 ;;
	--dir)
		DIR=${2:?--dir DIR}
		shift
		;;
	-h | --help)
		sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown option $1 (see --help)" ;;
	esac
	shift
done
find_bins
command -v python3 >/dev/null || die "python3 is needed to pick free ports"
DIR=$(mkdir -p "$DIR" && cd "$DIR" && pwd)
clean_dir

free_port() {
	python3 - "$1" <<'PYEOF'
import random, socket, sys
for _ in range(200):
    port = random.randrange(10000, 32000)
    s = socket.socket()
    try:
        s.bind((sys.argv[1], port))
        s.listen(1)
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit("no free port on " + sys.argv[1])
PYEOF
}
pick_ports() {
	P_INGEST[$1]=$(free_port "${PADDR[$1]}") && P_API[$1]=$(free_port "${PADDR[$1]}") &&
		P_FED[$1]=$(free_port "${PADDR[$1]}") || die "no free port on ${PADDR[$1]}"
}

declare -A PID
stop_all() {
	local n i rc
	for n in "${HUBS[@]}"; do
		[ -n "${PID[$n]:-}" ] && kill -TERM "${PID[$n]}" 2>/dev/null || true
	done
	for n in "${HUBS[@]}"; do
		[ -n "${PID[$n]:-}" ] || continue
		for i in $(seq 1 300); do
			kill -0 "${PID[$n]}" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "${PID[$n]}" 2>/dev/null; then
			echo "demo-multiorg: hub $n did not stop within 30 s, killing it" >&2
			kill -KILL "${PID[$n]}" 2>/dev/null
		fi
		rc=0
		wait "${PID[$n]}" 2>/dev/null || rc=$?
		if [ $rc -ne 0 ]; then
			echo "demo-multiorg: hub $n exited with status $rc (see $DIR/$n/hub.log)" >&2
			STOP_RC=1
		fi
		PID[$n]=
	done
}
STOP_RC=0
trap 'stop_all; exit $STOP_RC' INT TERM
trap 'rc=$?; stop_all; [ $rc -ne 0 ] || rc=$STOP_RC; exit $rc' EXIT

# start_hub NAME: started, listening on its three ports (a port taken between
# the pick and the bind: picked again, the partners are made afterwards)
start_hub() {
	local n=$1 try i log=$DIR/$1/hub.log
	for try in 1 2 3 4 5; do
		: >"$log"
		"$D4HUB" -d -c "$DIR/$n/hub.conf" >>"$log" 2>&1 &
		PID[$n]=$!
		echo "${PID[$n]}" >"$DIR/$n/pid"
		for i in $(seq 1 600); do
			if grep -q "d4hub listening on ${PADDR[$n]}:${P_INGEST[$n]}" "$log" &&
				grep -q "d4hub federation listening on" "$log" && grep -q "d4hub API listening on" "$log"; then
				return 0
			fi
			kill -0 "${PID[$n]}" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "${PID[$n]}" 2>/dev/null && die "hub $n: not listening within 60 s (log: $log)"
		wait "${PID[$n]}" 2>/dev/null || true
		PID[$n]=
		grep -q "in use" "$log" || die "hub $n exited: $(tail -n 3 "$log")"
		pick_ports "$n"
		write_conf "$n"
	done
	die "hub $n: no free ports"
}

say "the demo folder: $DIR"
for n in "${HUBS[@]}"; do
	LISTEN_HOST[$n]=${PADDR[$n]}
	REACH_HOST[$n]=${PADDR[$n]}
	pick_ports "$n"
done
topo_identities
for n in "${HUBS[@]}"; do write_conf "$n"; done
topo_accounts
# the public hub first: the others' [upstream] names its ingest port
for n in public org1 org2 org3; do
	start_hub "$n"
	[ "$n" != public ] || for o in org1 org2 org3; do write_conf "$o"; done
	echo "hub $n (${ORG[$n]}): ingest ${PADDR[$n]}:${P_INGEST[$n]}, API https://${PADDR[$n]}:${P_API[$n]}/, federation https://${PADDR[$n]}:${P_FED[$n]}/"
done
say "partner relations"
topo_partners
for line in "${RELATIONS[@]}"; do
	IFS='|' read -r from to rel max opt <<<"$line"
	w=
	case ,$opt, in *,mix,*) w+=", pDNS mixed" ;; esac
	case ,$opt, in *,relay,*) w+=", relays what its origin allows" ;; esac
	case ,$opt, in *,onward,*) w+=", may pass $from's records on" ;; esac
	printf '  %-6s -> %-6s  %-9s  frames and pdns up to %s, signed (federation)%s\n' "$from" "$to" "$rel" "$max" "$w"
done
for line in "${VERIFY[@]}"; do
	IFS='|' read -r h p <<<"$line"
	printf '  %-6s knows the signing key of %s (must_sign): it checks %s records relayed by others\n' "$h" "$p" "$p's"
done
for n in "${UPSTREAM_HUBS[@]}"; do
	printf '  %-6s -> %-6s  %-9s  D4 types %s up to %s (upstream D4 relay)\n' "$n" public public "$UPSTREAM_STREAMS" "$UPSTREAM_MAX_TLP"
done
write_env

say "the sensors send their samples"
for n in org1 org2 org3; do
	feed "$n" "${PADDR[$n]}" "${P_INGEST[$n]}" || die "the sensors of $n could not send their samples"
done
for n in org1 org2 org3; do share_mixed "$n"; done
while read -r h label type file tlp u k; do
	printf '  %-5s %-9s type %s  %-5s  %s\n' "$h" "$label" "$type" "${tlp#tlp:}" "$file"
done <"$DIR/sensors"

# caught_up HUB: every push job of HUB has nothing left to send
caught_up() {
	local n=$1 out
	out=$(curl -sf --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $(cat "$DIR/$n/token")" \
		"https://${PADDR[$n]}:${P_API[$n]}/api/v1/partners" 2>/dev/null) || return 1
	local p
	for p in $(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(p["name"] for p in (d.get("items", d) if isinstance(d, dict) else d)))'); do
		curl -sf --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $(cat "$DIR/$n/token")" \
			"https://${PADDR[$n]}:${P_API[$n]}/api/v1/partners/$p/status" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for k, v in d["kinds"].items():
    s = v.get("sender")
    if v.get("outbound") and (not s or s.get("lag_records") != 0):
        sys.exit(1)' || return 1
	done
}
# up_caught_up HUB: every upstream stream of HUB has nothing left to send
up_caught_up() {
	curl -sf --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $(cat "$DIR/$1/token")" \
		"https://${PADDR[$1]}:${P_API[$1]}/api/v1/upstream" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d.get("streams") or []
sys.exit(0 if s and all(x.get("lag_records") == 0 for x in s) else 1)'
}
say "waiting until every hub has sent what its partners and the public hub may have"
for i in $(seq 1 1200); do
	ok=1
	for n in org1 org2 org3; do caught_up "$n" && up_caught_up "$n" || ok=0; done
	[ $ok = 1 ] && break
	sleep 0.1
done
[ "$ok" = 1 ] || die "the hubs did not catch up within 2 min (logs: $DIR/*/hub.log)"

say "which frames each hub holds, by origin sensor (the organisation's own and its partners')"
printf '  %-10s %-6s' sensor tlp
for n in "${HUBS[@]}"; do printf ' %7s' "$n"; done
echo
while read -r h label type file tlp u k; do
	printf '  %-10s %-6s' "$label" "${tlp#tlp:}"
	for n in "${HUBS[@]}"; do
		f=$(ctl "$n" --json sessions "$u" 2>/dev/null | python3 -c 'import json,sys; print(sum(s["frames"] for s in json.load(sys.stdin)))' 2>/dev/null || echo 0)
		[ "$f" = 0 ] && f=-
		printf ' %7s' "$f"
	done
	echo
done <"$DIR/sensors"
say "what the public hub got over the upstream relay (each hub is a sensor there)"
for n in "${UPSTREAM_HUBS[@]}"; do
	printf '  %-5s %s\n' "$n" "$(ctl public --json sessions "$(cat "$DIR/$n/upstream.uuid")" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
by = {}
for s in d:
    by.setdefault((s["type"], s["tlp"]), 0)
    by[(s["type"], s["tlp"])] += s["frames"]
print(", ".join("type %d %s: %d frames" % (t, l, n) for (t, l), n in sorted(by.items())) or "nothing")' 2>/dev/null || echo nothing)"
done
# papi HUB PATH: the hub's REST API as its admin (process mode: curl)
papi() {
	curl -sf --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $(cat "$DIR/$1/token")" \
		"https://${PADDR[$1]}:${P_API[$1]}$2" 2>/dev/null
}
for line in "${RELATIONS[@]}"; do
	IFS='|' read -r from to rel max opt <<<"$line"
	case ,$opt, in *,mix,*) ;; *) continue ;; esac
	say "mixing: $from's passive DNS at $to (pool id $MIX_POOL, times rounded down to the hour)"
	printf '  %s decided on every observation for %s: %s\n' "$from" "$to" "$(papi "$from" "/api/v1/partners/$to/status" |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["kinds"]["pdns"]["acknowledged"]["decisions"]; print(", ".join("%s %d" % kv for kv in sorted(d.items())))' 2>/dev/null)"
	printf '  %-32s %-6s %-20s %s\n' "tuple at $to" type rdata "count, first seen, sensor"
	papi "$to" '/pdns/query/*.example.test' | cat - <(papi "$to" /pdns/query/example.test) | python3 -c '
import json, sys, time
pool = sys.argv[1].replace("-", "").lower()
for l in sys.stdin:
    if l.strip():
        t = json.loads(l)
        if t.get("sensor_id") == pool:
            print("  %-32s %-6s %-20s %d, %s, %s" % (t["rrname"], t["rrtype"], t["rdata"][:20], t["count"],
                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t["time_first"])), "the pool"))' "$MIX_POOL"
done
for line in "${VERIFY[@]}"; do
	IFS='|' read -r h o <<<"$line"
	say "signed provenance: $o's records at $h, relayed by others"
	names=()
	for n in "${HUBS[@]}"; do names+=("$(echo "${HUB_UUID[$n]}" | tr -d - | tr A-F a-f)=$n"); done
	while read -r sh label type file tlp u k; do
		[ "$sh" = "$o" ] || continue
		papi "$h" "/api/v1/sensors/$u/sessions" | python3 -c '
import json, sys
names = dict(a.split("=") for a in sys.argv[3:])
for s in json.load(sys.stdin)["items"]:
    f = s.get("federation") or {}
    print("  %s: %d frames from partner %s, origin %s, via %s" % (sys.argv[1], s["frames"], f.get("partner"),
          names.get(f.get("origin"), f.get("origin")), ",".join(names.get(v, v) for v in f.get("via") or [])))' \
			"$label" x "${names[@]}" 2>/dev/null || true
	done <"$DIR/sensors"
	printf '  %s requires %s signature (must_sign, its key in %s partner record of %s); records refused for a signature at %s: %s\n' \
		"$h" "$o's" "$h's" "$o" "$h" "$(papi "$h" /metrics | awk '/^d4hub_federation_refused_records_total\{/ && /reason="(bad-signature|unsigned|unknown-signer)"/ { n += $NF } END { print n + 0 }')"
done
touch "$DIR/ready"

cat <<EOF

What each hub holds and why: docs/demo-multiorg.md. The API of each hub (admin
tokens in $DIR/HUB/token, all of it in $DIR/demo.env):
  . $DIR/demo.env
  curl --cacert \$DEMO_CA -H "Authorization: Bearer \$DEMO_TOKEN_org3" \$DEMO_API_org3/api/v1/partners/org1/status
  curl --cacert \$DEMO_CA -H "Authorization: Bearer \$DEMO_TOKEN_org2" "\$DEMO_API_org2/pdns/query/*.example.test"
  $D4HUBCTL -c $DIR/org1/hub.conf partner dry-run org3 --kind frames --tlp tlp:amber
  curl --cacert \$DEMO_CA -H "Authorization: Bearer \$DEMO_TOKEN_org3" \$DEMO_API_org3/pdns/query/example.test
  curl --cacert \$DEMO_CA -H "Authorization: Bearer \$DEMO_TOKEN_org3" \$DEMO_API_org3/api/v1/sensors/\$DEMO_SENSOR_org2_pcap/sessions
EOF
if [ $WAIT = 0 ]; then
	stop_all
	exit $STOP_RC
fi
say "the hubs are running; Ctrl-C stops them"
while :; do
	for n in "${HUBS[@]}"; do
		kill -0 "${PID[$n]}" 2>/dev/null || die "hub $n exited; see $DIR/$n/hub.log"
	done
	sleep 1 &
	wait $! || true
done
