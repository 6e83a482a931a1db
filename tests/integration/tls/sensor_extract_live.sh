#!/usr/bin/env bash
# d4-sensor --extract tls -i lo (live capture, BPF filter) to a real d4hub:
# openssl s_server on 127.0.0.1 answers s_client handshakes (TLS 1.2 and 1.3,
# SNI naming each one); each marked handshake is stored exactly once as a
# ja3-jl line with its SNI, ports and (TLS 1.2) the server's certificate, and
# the lines arrive while the capture runs (live, not at exit). Needs root or
# CAP_NET_RAW (skipped, 77, otherwise).
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: live capture on lo needs root"
	exit 77
fi
command -v openssl >/dev/null 2>&1 || {
	echo "SKIP: openssl not installed"
	exit 77
}

t_conf
hub_start
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY
W=$T_DIR/live
mkdir -p "$W"
cd "$W" || fail "cd $W"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ec.key -out ec.crt -days 2 \
	-subj /CN=live.test 2>/dev/null || fail "EC certificate"
P=$(free_port 127.0.0.1)
while [ "$P" = "$T_PORT" ]; do P=$(free_port 127.0.0.1); done
openssl s_server -accept "127.0.0.1:$P" -cert ec.crt -key ec.key -www >server.log 2>&1 &
S=$!
T_BG+=("$S")
up() { kill -0 "$S" && (exec 3<>"/dev/tcp/127.0.0.1/$P") 2>/dev/null && kill -0 "$S"; }
wait_for 20 "s_server on $P" up

sensor_bg -u "$U" -k "$K" --extract tls -i lo -f "tcp and port $P"
hs() { timeout 20 openssl s_client -connect "127.0.0.1:$P" "$@" </dev/null >>clients.log 2>&1; }
# the stored payload of each session starts with the meta header (no newline after it)
lines() {
	payload_of_sensor "$U" "$W/got"
	sed 's/{"type": "ja3-jl"}//g' "$W/got" | grep -a '^{' >"$W/lines" || true
}
# until the capture runs, handshakes are not seen: probe until one is stored
probe() {
	hs -tls1_3 -servername "probe-$RANDOM.test" || return 1
	lines
	grep -q '"sni":"probe-' "$W/lines"
}
wait_until 30 probe || fail "no handshake stored (sensor log: $(tail -3 "$T_DIR/sensor.log"))"
hs -tls1_2 -servername mark-1.test || fail "s_client TLS 1.2"
hs -tls1_3 -servername mark-2.test || fail "s_client TLS 1.3"
hs -tls1_2 -servername mark-3.test || fail "s_client TLS 1.2"
marks() {
	lines
	[ "$(grep -o '"sni":"mark-[0-9].test"' "$W/lines" | sort -u | wc -l)" -eq 3 ]
}
wait_for 30 "the three marked handshakes stored while the capture runs" marks
kill -TERM "$SENSOR_PID"
_wait_pid "$SENSOR_PID" 30 || fail "d4-sensor did not stop on SIGTERM"
wait_for 30 "the session closed and committed" sessions_closed "$U"
sync_store
lines
grep -q "extract tls: .* handshakes" "$T_DIR/sensor.log" || fail "no extractor summary in the sensor log"
"$PY" - "$W/lines" "$P" "$W/ec.crt" <<'EOF' || fail "stored live ja3-jl lines"
import base64, json, ssl, sys
port = sys.argv[2]
der = base64.b64encode(ssl.PEM_cert_to_DER_cert(open(sys.argv[3]).read())).decode()
ls = [json.loads(l) for l in open(sys.argv[1])]
for d in ls:
    if d['ServerPort'] != port or d['ServerIP'] != '127.0.0.1' or d['producer'] != 'd4hub':
        sys.exit('line for %s:%s' % (d['ServerIP'], d['ServerPort']))
    if not d.get('sni', '').startswith(('probe-', 'mark-')): sys.exit('a line without a test SNI: %s' % d)
for i, v in ((1, 771), (2, 772), (3, 771)):
    m = [d for d in ls if d.get('sni') == 'mark-%d.test' % i]
    if len(m) != 1: sys.exit('mark-%d: %d lines' % (i, len(m)))
    d = m[0]
    if d['server_version'] != v: sys.exit('mark-%d: version %d' % (i, d['server_version']))
    certs = [c['Raw'] for c in d['Certificates']]
    if certs != ([der] if v == 771 else []): sys.exit('mark-%d: certificates %s' % (i, certs))
    if len(d['JA3Digest']) != 32 or len(d['ja4']) != 36: sys.exit('mark-%d: fingerprints' % i)
print('# %d lines stored from the live capture, the 3 marked handshakes once each' % len(ls))
EOF
pass "live capture: each marked handshake stored once as a ja3-jl line, while the capture ran"
