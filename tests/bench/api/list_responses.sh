#!/usr/bin/env bash
# Captures listSensors responses (status line + body) for many queries and roles, so that two hub
# builds can be compared byte for byte on the same store (used when the list path was rewritten
# for speed; docs/performance.md).
#
#   tests/bench/api/list_responses.sh populate HUB CTL SENSOR WORKDIR
#       makes WORKDIR/pki, WORKDIR/store with ~40 sensors (hostile descriptions: quotes,
#       backslashes, control bytes, invalid UTF-8, long), statuses, and real traffic from d4-sensor
#       (counters, first/last seen, an HMAC failure for last_error), plus tokens per role.
#   tests/bench/api/list_responses.sh capture HUB WORKDIR OUTDIR
#       starts HUB on WORKDIR's store (loopback, free ports), writes one file per request to OUTDIR.
# Then: diff -r OUT_OLD OUT_NEW
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
source "$here/../lib.sh"
die() { echo "list_responses: $*" >&2; exit 1; }

write_conf() { # WORK INGEST_PORT API_PORT
	cat >"$1/hub.conf" <<EOF
[hub]
uuid = 2f2d5a8a3c2e4f1b9d0c6b7a8e9f0a1b
org = 3e3d5a8a3c2e4f1b9d0c6b7a8e9f0a1b
log_level = notice
[ingest]
listen = 127.0.0.1:$2
cert = $1/pki/hub.crt
key = $1/pki/hub.key
mode = registration
[store]
path = $1/store
[api]
listen = 127.0.0.1:$3
EOF
}

start_hub() { # HUB WORK -> hub_pid, api
	local p1 p2
	p1=$(free_port)
	p2=$(free_port)
	[ "$p1" != "$p2" ] || p2=$(free_port)
	write_conf "$2" "$p1" "$p2"
	"$1" -c "$2/hub.conf" -d >"$2/hub.log" 2>&1 &
	hub_pid=$!
	ingest=127.0.0.1:$p1
	api=https://127.0.0.1:$p2
	for _ in $(seq 1 100); do
		curl -sf --cacert "$2/pki/ca.crt" "$api/health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "hub did not start: $(tail -n 5 "$2/hub.log")"
}
stop_hub() {
	kill -TERM "$hub_pid" 2>/dev/null || true
	wait "$hub_pid" 2>/dev/null || true
}

case "${1:-}" in
populate)
	[ $# = 5 ] || die "usage: populate HUB CTL SENSOR WORKDIR"
	HUB=$2 CTL=$3 SENSOR=$4 work=$5
	mkdir -p "$work/pki" "$work/store"
	"$repo/deploy/mkpki.sh" "$work/pki"
	write_conf "$work" 1 2
	conf=$work/hub.conf
	i=0
	add() { # STATUS DESC
		local u
		u=$(printf '%08x%04x4%03x%04x%012x' $((0xd4000000 + i)) $((i * 7)) $i $((0x8000 + i)) $((i * 97)))
		"$CTL" -c "$conf" sensor add "$u" --key "key-$i" --desc "$2" >/dev/null
		case $1 in
		approved) "$CTL" -c "$conf" sensor approve "$u" ;;
		blocked) "$CTL" -c "$conf" sensor block "$u" ;;
		esac
		echo "$u key-$i" >>"$work/sensors.txt"
		i=$((i + 1))
	}
	add approved 'plain'
	add pending ''
	add blocked 'quote " backslash \ slash / end'
	add approved $'tab\tnewline\ncr\rbs\bff\f'
	add approved $'ctl \x01\x02\x1f del \x7f'
	add pending $'utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ok'
	add approved $'bad \xff \xc3 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf'
	add blocked "$(printf 'x%.0s' $(seq 1 255))"
	add pending "$(printf '\\"%.0s' $(seq 1 127))"
	add approved '</script><b>&amp;'
	for n in $(seq 1 30); do
		case $((n % 3)) in 0) st=approved ;; 1) st=pending ;; *) st=blocked ;; esac
		add $st "sensor $n"
	done
	for r in admin user sensor_register; do
		"$CTL" -c "$conf" user add "cap-$r" --role $r | grep -o 'd4h_[A-Za-z0-9_-]*' | head -n 1 >"$work/token.$r"
	done
	# traffic: counters and seen times for the first sensor, an HMAC failure (last_error) for the fourth
	hub_pid=""
	start_hub "$HUB" "$work"
	u0=$(sed -n 1p "$work/sensors.txt" | cut -d' ' -f1)
	u3=$(sed -n 4p "$work/sensors.txt" | cut -d' ' -f1)
	seq 1 2000 >"$work/lines.txt"
	"$SENSOR" -u "$u0" -k key-0 -t 8 -F "$work/lines.txt" --from-start -D "$ingest" --ca "$work/pki/ca.crt" \
		--drain-timeout 5 -q >/dev/null 2>&1 &
	sp=$!
	"$SENSOR" -u "$u3" -k wrong-key -t 8 -F "$work/lines.txt" --from-start -D "$ingest" --ca "$work/pki/ca.crt" \
		--drain-timeout 2 -q >/dev/null 2>&1 &
	sp2=$!
	sleep 4
	kill "$sp" "$sp2" 2>/dev/null || true
	wait "$sp" "$sp2" 2>/dev/null || true
	stop_hub
	echo "populated $work: $i sensors"
	;;
capture)
	[ $# = 4 ] || die "usage: capture HUB WORKDIR OUTDIR"
	HUB=$2 work=$3 out=$4
	mkdir -p "$out"
	hub_pid=""
	trap 'stop_hub' EXIT
	start_hub "$HUB" "$work"
	get() { # NAME ROLE QUERY
		local tok
		tok=$(cat "$work/token.$2")
		curl -s --http2 --cacert "$work/pki/ca.crt" -H "authorization: Bearer $tok" \
			-w '\n%{http_code} %{content_type}\n' "$api/api/v1/sensors$3" >"$out/$1"
	}
	n=0
	for role in admin user sensor_register; do
		for q in '' '?limit=1' '?limit=7' '?limit=1000' '?status=pending' '?status=approved&limit=3' \
			'?status=blocked' '?status=bogus' '?limit=0' '?limit=1001' '?limit=x' '?cursor=AAAA' \
			'?cursor=AAAAAAAAAAAAAAAAAAAAAA' '?cursor=_____________________w' '?foo=1' '?limit=1&limit=2'; do
			get "$role.$(printf '%02d' $n)" $role "$q"
			n=$((n + 1))
		done
		# walk every page, with and without a status filter (the cursor comes from the response)
		for f in '' '&status=approved' '&status=pending'; do
			cur=""
			for p in $(seq 1 30); do
				get "$role.walk$f.$p" $role "?limit=3$f$cur"
				c=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' "$out/$role.walk$f.$p")
				[ -n "$c" ] || break
				cur="&cursor=$c"
			done
		done
	done
	echo "captured $(find "$out" -type f | wc -l) responses into $out"
	;;
*) die "usage: $0 populate HUB CTL SENSOR WORKDIR | capture HUB WORKDIR OUTDIR" ;;
esac
