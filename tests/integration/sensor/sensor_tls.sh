#!/bin/bash
# End-to-end d4-sensor over real TLS on 127.0.0.1: openssl s_server records
# what arrives; sensor_verify decodes it with d4proto and checks each HMAC.
# usage: sensor_tls.sh D4SENSOR SENSOR_VERIFY SOURCE_DIR
set -u
SENSOR=$1 VERIFY=$2 SRC=$3
T=$(mktemp -d /tmp/d4sensor-it-XXXXXX)
SRV=""
SENS=""
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	[ -n "$SENS" ] && kill "$SENS" 2>/dev/null
	exec 3>&- 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# poll SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or SECONDS
# pass (1). Deadlines are generous (a loaded machine is slow); the checks
# after a poll say what was missing.
poll() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt $end ] || return 1
		sleep 0.1
	done
}
# free_port: a TCP port nobody listens on (below the ephemeral range, so that
# no outgoing connection takes it before s_server binds it).
free_port() {
	/usr/bin/python3 - <<'PYEOF'
import random, socket, sys
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    lo = 32768
for _ in range(200):
    port = random.randrange(10000, max(lo, 12000))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit("no free port")
PYEOF
}

sh "$SRC/deploy/mkpki.sh" "$T/pki" || { echo "mkpki failed"; exit 1; }
PORT=$(free_port) || { echo "cannot pick a free port"; exit 1; }
DEST=127.0.0.1:$PORT
UUID=d42967c1f7ad464ebbc74464c653d7a6
KEY="sensor key for tests"
mkfifo "$T/in"
exec 3<>"$T/in" # keeps s_server's stdin open

# start_server OUTFILE [keep]: s_server on $DEST, waits until it (not another
# program) listens. If the port was taken meanwhile, picks another one, unless
# "keep" (a sensor already targets $DEST).
start_server() {
	local try
	for try in 1 2 3 4 5; do
		openssl s_server -accept "$DEST" -cert "$T/pki/hub.crt" -key "$T/pki/hub.key" -quiet <"$T/in" >"$1" 2>>"$T/srv.err" &
		SRV=$!
		if poll 30 listening; then
			return 0
		fi
		if kill -0 "$SRV" 2>/dev/null; then
			echo "server did not listen within 30 s"; cat "$T/srv.err"; exit 1
		fi
		SRV=""
		if [ "${2:-}" = keep ]; then
			echo "server could not bind $DEST (port taken?)"; cat "$T/srv.err"; exit 1
		fi
		PORT=$(free_port) || { echo "cannot pick a free port"; exit 1; }
		DEST=127.0.0.1:$PORT
	done
	echo "server did not start"; cat "$T/srv.err"; exit 1
}
listening() {
	kill -0 "$SRV" 2>/dev/null || return 0 # exited: stop polling, start_server looks
	ss -Hltnp "sport = :$PORT" | grep -q "pid=$SRV,"
}
# payload_is OUT PAY EXPECTED: the stream recorded in OUT verifies and its
# payload equals the file EXPECTED (everything arrived).
payload_is() { "$VERIFY" "$KEY" "$1" "$2" >/dev/null 2>&1 && cmp -s "$2" "$3"; }
stop_server() {
	kill "$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null
	SRV=""
}
sensor() { "$SENSOR" -u $UUID -k "$KEY" -D "$DEST" "$@"; }
# run with &: exec so that $! is d4-sensor itself, not a subshell
sensor_bg() { exec "$SENSOR" -u $UUID -k "$KEY" -D "$DEST" "$@"; }

# A: pcap file, certificate verified against the test CA
start_server "$T/a.out"
sensor -t 1 -r "$SRC/tests/data/dns/local-dns.pcap" --ca "$T/pki/ca.crt" 2>"$T/a.err"
check "pcap file over TLS exits 0" [ $? -eq 0 ]
want=$(tcpdump -r "$SRC/tests/data/dns/local-dns.pcap" -nn 2>/dev/null | wc -l)
a_all() { "$VERIFY" "$KEY" "$T/a.out" "$T/a.pay" && [ "$(tcpdump -r "$T/a.pay" -nn 2>/dev/null | wc -l)" = "$want" ]; }
poll 30 a_all
stop_server
"$VERIFY" "$KEY" "$T/a.out" "$T/a.pay" >"$T/a.v"
check "pcap stream: all HMACs valid" [ $? -eq 0 ]
got=$(tcpdump -r "$T/a.pay" -nn 2>/dev/null | wc -l)
check "pcap stream is a pcap with the same $want packets (got $got)" [ "$want" -gt 0 -a "$want" = "$got" ]

# B: extended type: meta header first as type 2, then 254
printf 'line one\nline two\n' >"$T/b.in"
start_server "$T/b.out"
sensor -t 254 --ext-type maltrail --ca "$T/pki/ca.crt" <"$T/b.in" 2>"$T/b.err"
check "ext type exits 0" [ $? -eq 0 ]
poll 30 payload_is "$T/b.out" "$T/b.pay" "$T/b.in"
stop_server
"$VERIFY" "$KEY" "$T/b.out" "$T/b.pay" >"$T/b.v"
check "ext type: HMACs valid" [ $? -eq 0 ]
check "ext type: meta header sent" grep -q '^meta {"type": "maltrail"}' "$T/b.v"
check "ext type: meta is the first frame" [ "$(head -c 2 "$T/b.out" | od -An -tx1 | tr -d ' ')" = 0102 ]
check "ext type: data as 254" grep -q '^type 254 ' "$T/b.v"
check "ext type: payload intact" cmp -s "$T/b.in" "$T/b.pay"

# C: wrong CA, wrong name: refused (exit 3 after the drain timeout, nothing sent)
start_server "$T/c.out"
echo data | sensor -t 1 --ca "$T/pki/other-ca.crt" --drain-timeout 2 2>"$T/c.err"
check "wrong CA: exit 3" [ $? -eq 3 ]
echo data | sensor -t 1 --ca "$T/pki/ca.crt" --server-name wrong.example --drain-timeout 2 2>>"$T/c.err"
check "wrong server name: exit 3" [ $? -eq 3 ]
check "wrong CA / name: certificate error logged" grep -q "certificate" "$T/c.err"
echo data | sensor -t 1 --ca "$T/pki/other-ca.crt" --insecure 2>"$T/c2.err"
check "--insecure connects (exit 0)" [ $? -eq 0 ]
check "--insecure warns" grep -q "NOT verified" "$T/c2.err"
c_one() { "$VERIFY" "$KEY" "$T/c.out" | grep -qx 'frames 1'; }
poll 30 c_one
stop_server
"$VERIFY" "$KEY" "$T/c.out" >"$T/c.v"
check "only the --insecure frame arrived" grep -qx 'frames 1' "$T/c.v"

# E: hub down at start, spool, hub comes up: everything arrives
head -c 300000 /dev/urandom >"$T/e.in"
sensor_bg -t 1 --ca "$T/pki/ca.crt" --spool "$T/e.spool" --drain-timeout 60 <"$T/e.in" 2>"$T/e.err" &
SENS=$!
sleep 2 # the hub stays down a while (a duration, not a wait for an event)
start_server "$T/e.out" keep
wait $SENS
rc=$?
SENS=""
check "spool while down, delivered after connect: exit 0 (got $rc)" [ $rc -eq 0 ]
poll 30 payload_is "$T/e.out" "$T/e.pay" "$T/e.in"
stop_server
"$VERIFY" "$KEY" "$T/e.out" "$T/e.pay" >"$T/e.v"
check "spool: HMACs valid" [ $? -eq 0 ]
check "spool: payload identical" cmp -s "$T/e.in" "$T/e.pay"

# F: data left in the spool by one run is delivered first by the next
head -c 100000 /dev/urandom >"$T/f.in"
sensor -t 1 --ca "$T/pki/ca.crt" --spool "$T/f.spool" --drain-timeout 1 <"$T/f.in" 2>"$T/f.err"
check "hub down: exit 3 with data spooled" [ $? -eq 3 ]
check "spool dir holds the data" [ "$(cat "$T"/f.spool/seg-* | wc -c)" -ge 100000 ]
start_server "$T/f.out"
sensor -t 1 --ca "$T/pki/ca.crt" --spool "$T/f.spool" </dev/null 2>>"$T/f.err"
check "restart delivers the spool: exit 0" [ $? -eq 0 ]
poll 30 payload_is "$T/f.out" "$T/f.pay" "$T/f.in"
stop_server
"$VERIFY" "$KEY" "$T/f.out" "$T/f.pay" >"$T/f.v"
check "restart: payload identical" cmp -s "$T/f.in" "$T/f.pay"

# G: hub stopped while the sensor runs, restarted: the spooled lines arrive
: >"$T/g.log"
start_server "$T/g1.out"
# --from-start: the lines count however late the sensor opens the file
sensor_bg -t 3 --ca "$T/pki/ca.crt" --spool "$T/g.spool" -F "$T/g.log" --from-start 2>"$T/g.err" &
SENS=$!
for i in $(seq 1 50); do echo "before $i" >>"$T/g.log"; done
has_line() { "$VERIFY" "$KEY" "$1" "$2" && grep -qx "$3" "$2"; }
poll 30 has_line "$T/g1.out" "$T/g1.pay" "before 50"
stop_server
for i in $(seq 1 50); do echo "during $i" >>"$T/g.log"; done
sleep 2 # the hub stays down a while (a duration, not a wait for an event)
start_server "$T/g2.out" keep
poll 60 has_line "$T/g2.out" "$T/g2.pay" "during 50"
kill -TERM $SENS
wait $SENS
rc=$?
SENS=""
check "follow + SIGTERM: exit 0 (got $rc)" [ $rc -eq 0 ]
stop_server
"$VERIFY" "$KEY" "$T/g1.out" "$T/g1.pay" >/dev/null
"$VERIFY" "$KEY" "$T/g2.out" "$T/g2.pay" >/dev/null
missing=0
for i in $(seq 1 50); do
	cat "$T/g1.pay" "$T/g2.pay" | grep -qx "before $i" || missing=$((missing + 1))
	cat "$T/g1.pay" "$T/g2.pay" | grep -qx "during $i" || missing=$((missing + 1))
done
check "hub restart: every line arrived ($missing missing)" [ $missing -eq 0 ]

# H: live capture on lo (needs CAP_NET_RAW; skipped otherwise), stdout destination
if [ "$(id -u)" = 0 ]; then
	LPORT=$(free_port)
	# probes to LPORT+1 until the capture runs (one is seen), then the 5 counted packets to LPORT
	sensor_bg -t 1 -i lo -f "udp and (dst port $LPORT or dst port $((LPORT + 1)))" -D stdout >"$T/h.out" 2>"$T/h.err" &
	SENS=$!
	capturing() {
		echo probe >/dev/udp/127.0.0.1/$((LPORT + 1))
		"$VERIFY" "$KEY" "$T/h.out" "$T/h.pay" && tcpdump -r "$T/h.pay" -nn 2>/dev/null | grep -q "> 127.0.0.1.$((LPORT + 1)):"
	}
	poll 30 capturing
	for i in 1 2 3 4 5; do echo "pkt $i" >/dev/udp/127.0.0.1/$LPORT; done
	five() { "$VERIFY" "$KEY" "$T/h.out" "$T/h.pay" && [ "$(tcpdump -r "$T/h.pay" -nn 2>/dev/null | grep -c "> 127.0.0.1.$LPORT:")" -ge 5 ]; }
	poll 30 five
	kill -TERM $SENS
	wait $SENS
	rc=$?
	SENS=""
	check "live capture: SIGTERM exit 0 (got $rc)" [ $rc -eq 0 ]
	"$VERIFY" "$KEY" "$T/h.out" "$T/h.pay" >"$T/h.v"
	check "live capture: HMACs valid" [ $? -eq 0 ]
	got=$(tcpdump -r "$T/h.pay" -nn 2>/dev/null | grep -c "> 127.0.0.1.$LPORT:")
	check "live capture: 5 packets in a valid pcap stream (got $got)" [ "$got" = 5 ]
else
	echo "skip - live capture (not root)"
fi

if [ $fails -ne 0 ]; then
	echo "$fails failure(s); logs:"
	tail -n 5 "$T"/*.err
	exit 1
fi
echo "all sensor TLS checks passed"
