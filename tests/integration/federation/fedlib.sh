# tests/integration/federation/fedlib.sh — several hubs in one test (sourced, bash).
#
# Builds on tests/integration/lib.sh (fail, log, wait_until, json, free_port,
# the temp dir and the EXIT trap) and adds hubs by name, each with its own
# loopback address (127.0.0.2..9: the addresses deploy/mkpki.sh puts in the
# certificates), its own ingest, API and federation ports (free_port), its
# own store, log and admin token, and its federation identity from
# deploy/mkpki.sh (one CA per organisation: ORG-ca.crt).
#
#   fed_hub NAME ADDR ORG [section.key=value ...]   declare a hub (config written)
#   fed_start NAME / fed_stop NAME / fed_kill9 NAME  run it
#   fctl NAME ARGS...                                d4hubctl on its store
#   fapi NAME PATH [curl args]                       its REST API as admin (body on stdout)
#   fed_partner FROM NAME TO [d4hubctl partner add options]
#                                                    FROM knows TO as partner NAME
#   fsensor NAME                                     registers an approved sensor at NAME
#   fcraft NAME [d4-craft args]                      d4-craft against NAME's ingest (script on stdin)
#   fsensor_run NAME [d4-sensor args]                d4-sensor against NAME's ingest
#
# Every hub is stopped at exit; on failure the tail of every hub's log is
# printed. Nothing here sleeps to synchronise: callers wait with wait_until.
# shellcheck shell=bash

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

declare -A H_ADDR H_UUID H_ORG H_DIR H_CONF H_LOG H_PID H_INGEST H_APIP H_FEDP H_TOKEN H_STARTED H_RC H_OFF
declare -A ORG_UUID
FED_HUBS=()

_fed_cleanup() {
	local rc=$? h
	trap - EXIT
	for h in "${FED_HUBS[@]}"; do
		if [ -n "${H_PID[$h]:-}" ] && kill -0 "${H_PID[$h]}" 2>/dev/null; then
			kill -TERM "${H_PID[$h]}" 2>/dev/null || true
			_wait_pid "${H_PID[$h]}" 15 || kill -KILL "${H_PID[$h]}" 2>/dev/null || true
		fi
		if [ $rc -ne 0 ] && [ -s "${H_LOG[$h]}" ]; then
			echo "---- last lines of hub $h's log (${H_LOG[$h]}):" >&2
			tail -n 25 "${H_LOG[$h]}" >&2 || true
		fi
	done
	# _t_cleanup reads the status from $? (errexit must not end this trap first)
	set +e
	(exit $rc)
	_t_cleanup
}
trap _fed_cleanup EXIT

[ -f "$T_PKI/ca.crt" ] || t_pki # the ingest and API certificate (SAN 127.0.0.1..9) and CA

# org_uuid ORG: the org uuid of organisation ORG (made on first use)
org_uuid() {
	[ -n "${ORG_UUID[$1]:-}" ] || ORG_UUID[$1]=$(gen_uuid)
	echo "${ORG_UUID[$1]}"
}

# fed_hub NAME ADDR ORG [section.key=value ...]: declares hub NAME on ADDR,
# a hub of organisation ORG, and writes its configuration (pDNS on, fast
# commits, federation listener, certificate and the organisation's CA;
# a [backscatter] or [upstream] section only when such a KEY is given).
fed_hub() {
	local n=$1 addr=$2 org=$3 kv sec extra=""
	shift 3
	case $addr in 127.0.0.[2-9]) ;; *) fail "fed_hub $n: $addr is not one of 127.0.0.2..9" ;; esac
	FED_HUBS+=("$n")
	[ -n "${ORG_UUID[$org]:-}" ] || ORG_UUID[$org]=$(gen_uuid)
	H_ADDR[$n]=$addr
	H_UUID[$n]=$(gen_uuid)
	H_ORG[$n]=${ORG_UUID[$org]}
	H_DIR[$n]=$T_DIR/hub-$n
	H_CONF[$n]=${H_DIR[$n]}/hub.conf
	H_LOG[$n]=${H_DIR[$n]}/hub.log
	H_PID[$n]=
	H_STARTED[$n]=0
	mkdir -p "${H_DIR[$n]}"
	: >"${H_LOG[$n]}"
	"$MKPKI" "$T_PKI" hub "$n" "${H_UUID[$n]}" "$org" || fail "mkpki hub $n"
	H_INGEST[$n]=$(free_port "$addr") && H_APIP[$n]=$(free_port "$addr") && H_FEDP[$n]=$(free_port "$addr") ||
		fail "no free port on $addr"
	declare -A add=()
	for kv in "$@"; do
		sec=${kv%%.*}
		add[$sec]+="${kv#*.}"$'\n'
	done
	cat >"${H_CONF[$n]}" <<EOF
[hub]
uuid = ${H_UUID[$n]}
org = ${H_ORG[$n]}
${add[hub]:-}[ingest]
listen = $addr:${H_INGEST[$n]}
cert = $T_PKI/hub.crt
key = $T_PKI/hub.key
${add[ingest]:-}[store]
path = ${H_DIR[$n]}/store
commit_ms = 20
${add[store]:-}[api]
listen = $addr:${H_APIP[$n]}
${add[api]:-}[pdns]
enabled = yes
${add[pdns]:-}[federation]
listen = $addr:${H_FEDP[$n]}
cert = $T_PKI/$n.crt
key = $T_PKI/$n.key
ca = $T_PKI/$org-ca.crt
${add[federation]:-}
EOF
	for sec in "${!add[@]}"; do
		case $sec in hub | ingest | store | api | pdns | federation | backscatter | upstream) ;; *) fail "fed_hub $n: bad key section $sec" ;; esac
	done
	if [ -n "${add[backscatter]:-}" ]; then
		printf '[backscatter]\n%s' "${add[backscatter]}" >>"${H_CONF[$n]}"
	fi
	if [ -n "${add[upstream]:-}" ]; then
		printf '[upstream]\n%s' "${add[upstream]}" >>"${H_CONF[$n]}"
	fi
}

fed_url() { echo "https://${H_ADDR[$1]}:${H_FEDP[$1]}"; }
api_of() { echo "https://${H_ADDR[$1]}:${H_APIP[$1]}"; }
fctl() {
	local n=$1
	shift
	"$D4HUBCTL" -c "${H_CONF[$n]}" "$@"
}

# fed_start NAME [d4hub options]: starts the hub and waits (bounded) until
# its ingest, API and federation ports listen and the API answers. A port
# taken by another program between free_port and the bind is picked again
# (first start only: partners made later name the final port).
fed_start() {
	local n=$1 try
	shift
	for try in 1 2 3 4 5 6; do
		_fed_start_once "$n" "$@" && break
		if [ "${H_STARTED[$n]}" = 0 ] && [ $try -lt 6 ] &&
			tail -c +$((H_OFF[$n] + 1)) "${H_LOG[$n]}" | grep -q "in use"; then
			local p
			for p in INGEST APIP FEDP; do
				local -n _ports=H_$p
				local old=${_ports[$n]}
				_ports[$n]=$(free_port "${H_ADDR[$n]}") || fail "no free port on ${H_ADDR[$n]}"
				sed -i "s/^listen = ${H_ADDR[$n]}:$old\$/listen = ${H_ADDR[$n]}:${_ports[$n]}/" "${H_CONF[$n]}"
			done
			log "hub $n: a port was taken before d4hub bound it; trying others"
			continue
		fi
		fail "hub $n: d4hub exited during start-up: $(tail -c +$((H_OFF[$n] + 1)) "${H_LOG[$n]}" | tail -n 3)"
	done
	H_STARTED[$n]=1
	wait_until 30 curl -sf --cacert "$T_PKI/ca.crt" "$(api_of "$n")/health" || fail "hub $n: API not answering"
	if [ -z "${H_TOKEN[$n]:-}" ]; then
		H_TOKEN[$n]=$(fctl "$n" user add "admin-$n" --role admin) || fail "hub $n: user add"
	fi
}
_fed_start_once() {
	local n=$1 deadline
	shift
	H_OFF[$n]=$(stat -c %s "${H_LOG[$n]}")
	"$D4HUB" -d -c "${H_CONF[$n]}" "$@" >>"${H_LOG[$n]}" 2>&1 &
	H_PID[$n]=$!
	deadline=$(($(date +%s) + 30))
	while :; do
		if tail -c +$((H_OFF[$n] + 1)) "${H_LOG[$n]}" | grep -q "d4hub listening on ${H_ADDR[$n]}:${H_INGEST[$n]}" &&
			tail -c +$((H_OFF[$n] + 1)) "${H_LOG[$n]}" | grep -q "d4hub federation listening on"; then
			return 0
		fi
		if ! kill -0 "${H_PID[$n]}" 2>/dev/null; then
			wait "${H_PID[$n]}" 2>/dev/null || true
			H_PID[$n]=
			return 1
		fi
		[ "$(date +%s)" -lt $deadline ] || fail "hub $n: not listening within 30 s"
		sleep 0.05
	done
}

# fed_stop NAME: SIGTERM, bounded wait, exit status in H_RC[NAME] (must be 0).
fed_stop() {
	local n=$1
	[ -n "${H_PID[$n]}" ] || return 0
	kill -TERM "${H_PID[$n]}" 2>/dev/null || true
	if ! _wait_pid "${H_PID[$n]}" 30; then
		kill -KILL "${H_PID[$n]}" 2>/dev/null || true
		H_PID[$n]=
		fail "hub $n did not exit within 30 s of SIGTERM"
	fi
	H_RC[$n]=$_WAIT_RC
	H_PID[$n]=
	[ "${H_RC[$n]}" = 0 ] || fail "hub $n exited with status ${H_RC[$n]}"
}
fed_kill9() {
	local n=$1
	[ -n "${H_PID[$n]}" ] || return 0
	kill -KILL "${H_PID[$n]}" 2>/dev/null || true
	_wait_pid "${H_PID[$n]}" 10 || true
	H_PID[$n]=
}
fed_alive() { [ -n "${H_PID[$1]}" ] && kill -0 "${H_PID[$1]}" 2>/dev/null; }

# fapi NAME PATH [curl args]: the hub's REST API as its admin; fails on an
# HTTP error (the body goes to stderr then).
fapi() {
	local n=$1 path=$2 code
	shift 2
	code=$(curl -sS --http2 --max-time 30 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer ${H_TOKEN[$n]}" \
		-o "$T_DIR/fapi.out" -w '%{http_code}' "$@" "$(api_of "$n")$path") || return 1
	case $code in
	2??) cat "$T_DIR/fapi.out" ;;
	*)
		echo "fapi $n $path: HTTP $code: $(head -c 400 "$T_DIR/fapi.out")" >&2
		return 1
		;;
	esac
}

# metric NAME REGEX: the value of the first /metrics line of hub NAME that
# matches REGEX (anchored at the line start; empty if none).
fmetric() {
	fapi "$1" /metrics | awk -v re="^$2 " '$0 ~ re { print $NF; exit }'
}

# fed_partner FROM NAME TO [d4hubctl partner add options]: FROM knows hub TO
# as partner NAME (url, hub and org uuid, TO's organisation CA), through the
# admin's d4hubctl on FROM's store. Relation defaults to same-org when both
# are of one organisation, else partner.
fed_partner() {
	local from=$1 name=$2 to=$3 rel=partner
	shift 3
	[ "${H_ORG[$from]}" = "${H_ORG[$to]}" ] && rel=same-org
	local has_rel=0 a
	for a in "$@"; do [ "$a" = --relation ] && has_rel=1; done
	[ $has_rel = 1 ] && set -- --url "$(fed_url "$to")" --hub "${H_UUID[$to]}" --org "${H_ORG[$to]}" "$@" ||
		set -- --url "$(fed_url "$to")" --hub "${H_UUID[$to]}" --org "${H_ORG[$to]}" --relation "$rel" "$@"
	local has_trust=0
	for a in "$@"; do case $a in --ca | --pin) has_trust=1 ;; esac; done
	[ $has_trust = 1 ] || set -- "$@" --ca "$T_PKI/$(_org_name "$to")-ca.crt"
	fctl "$from" partner add "$name" "$@" >/dev/null || fail "hub $from: partner add $name"
}
# the organisation name a hub's certificate was made for (from its issuer CN
# made by mkpki: the CA file is ORG-ca.crt)
_org_name() {
	local f
	for f in "$T_PKI"/*-ca.crt; do
		openssl verify -CAfile "$f" "$T_PKI/$1.crt" >/dev/null 2>&1 && basename "$f" -ca.crt && return 0
	done
	fail "no organisation CA verifies $1.crt"
}

# fsensor NAME: an approved sensor at hub NAME; sets SENSOR_UUID SENSOR_KEY.
fsensor() {
	SENSOR_UUID=$(gen_uuid)
	SENSOR_KEY=$(fctl "$1" sensor add "$SENSOR_UUID" --gen-key --approve) || fail "hub $1: sensor add"
	[ -n "$SENSOR_KEY" ] || fail "hub $1: sensor add printed no key"
}
fcraft() {
	local n=$1
	shift
	"$D4CRAFT" --ca "$T_PKI/ca.crt" -q "$@" "${H_ADDR[$n]}:${H_INGEST[$n]}"
}
fsensor_run() {
	local n=$1
	shift
	"$D4SENSOR" -D "${H_ADDR[$n]}:${H_INGEST[$n]}" --ca "$T_PKI/ca.crt" "$@"
}

# ---- what a hub holds -------------------------------------------------------
# fstatus NAME EXPR: an expression over `d4hubctl --json status` of hub NAME
fstatus() { fctl "$1" --json status | json "$2"; }
# frames_total NAME: frames committed in hub NAME's log, its own and those
# received from partners (the sum over its sessions: the store's totals
# count only its own sensors' frames, docs/store.md)
frames_total() { fctl "$1" --json sessions | json "sum(s['frames'] for s in d)"; }
frames_is() { [ "$(frames_total "$1")" = "$2" ]; }
frames_between() { # NAME LO HI: LO < frames < HI
	local f
	f=$(frames_total "$1") || return 1
	[ "$f" -gt "$2" ] && [ "$f" -lt "$3" ]
}
# payload_digest NAME: sha256 of every stored payload of hub NAME, frame log order
payload_digest() {
	local id
	for id in $(fctl "$1" --json sessions | json "' '.join(str(s['id']) for s in sorted(d, key=lambda s: s['id']))"); do
		fctl "$1" frames --session "$id" --payload || fail "hub $1: frames --payload"
	done | sha256sum | cut -c1-64
}

# bulk_script UUID KEY FIRST N SIZE [TAGS]: a d4-craft script on stdout: one
# 2 -> 254 stream (ext type fed-bulk, TAGS default ["tlp:green"]) of N frames
# of SIZE bytes, each starting with its number (FIRST..FIRST+N-1) so that a
# lost or doubled frame changes the digest of the log.
# stream_stored HUB UUID FRAMES: every session of sensor UUID at HUB ended
# and FRAMES frames stored in them (a d4-craft script of one meta frame and
# N data frames makes two sessions, type 2 and type 254: the first ends
# before the second is even listed, so "one session ended" is not the end)
stream_stored() {
	[ "$(fctl "$1" --json sessions "$2" |
		json "sum(s['frames'] for s in d) if d and all(s['ended'] is not None for s in d) else -1")" = "$3" ]
}
bulk_script() {
	"$PY" - "$@" <<'PYEOF'
import sys
u, k, first, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
tags = sys.argv[6] if len(sys.argv) > 6 else '["tlp:green"]'
out = sys.stdout
out.write("set uuid=%s key=%s type=2\nmeta {\"type\":\"fed-bulk\",\"tags\":%s}\n" % (u, k, tags))
for i in range(first, first + n):
    head = "frame-%09d-" % i
    body = (head + "abcdefghijklmnopqrstuvwxyz" * (size // 26 + 1))[:size - 2]
    out.write("frame type=254 payload=text:%s\\n\n" % body)
out.write("close\n")
PYEOF
}
