#!/usr/bin/env bash
# The hub's passive-SSL consumer with real processes: a d4hub fed by
# `d4-sensor --extract tls -r` on the fixture capture (ja3-jl lines, type
# 254) and by `d4-sensor -t 1 -r` of the same capture (pcap, type 1) stores
# exactly the handshakes and certificates d4-tls finds in that capture, once
# per path (nothing lost, nothing doubled), as /api/v1/pssl/info and
# /api/v1/pssl/counters show them; a line of the original Go sensor is
# stored too. Then a hub started with the consumer off, killed with -9 while
# the consumer works through the same frames (one handshake per commit) and
# started again ends with the same figures. d4hub -n checks [pssl].
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

: "${D4TLS:?D4TLS not set}"
PCAP=$D4_TEST_DATA/tls/openssl-lo.pcap
[ -f "$PCAP" ] || fail "$PCAP missing"

# ---- d4hub -n: the [pssl] checks ----
t_conf
cp "$T_CONF" "$T_DIR/base.conf"
printf '[pssl]\nmax_line = 100\n' >>"$T_CONF"
"$D4HUB" -n -c "$T_CONF" >"$T_DIR/n.out" 2>&1 && fail "d4hub -n accepted pssl.max_line = 100"
grep -q "pssl.max_line" "$T_DIR/n.out" || fail "d4hub -n: $(cat "$T_DIR/n.out")"
cp "$T_DIR/base.conf" "$T_CONF"
printf '[pssl]\nmax_line = 1M\nmax_buffered = 64K\n' >>"$T_CONF"
"$D4HUB" -n -c "$T_CONF" >"$T_DIR/n.out" 2>&1 && fail "d4hub -n accepted max_buffered < max_line"
grep -q "pssl.max_buffered" "$T_DIR/n.out" || fail "d4hub -n: $(cat "$T_DIR/n.out")"
cp "$T_DIR/base.conf" "$T_CONF"
printf '[pssl]\nenabled = yes\nbatch = 500\ntls_max_flows = 1000\ntls_max_dir_bytes = 128K\ntls_idle = 30\n' >>"$T_CONF"
"$D4HUB" -n -c "$T_CONF" >"$T_DIR/n.out" 2>&1 || fail "d4hub -n refused a valid [pssl]: $(cat "$T_DIR/n.out")"
pass "d4hub -n checks [pssl]"

# ---- what d4-tls finds in the capture ----
"$D4TLS" -q "$PCAP" >"$T_DIR/d4tls.jsonl" 2>"$T_DIR/d4tls.err" || fail "d4-tls exited $?"
# handshakes, certificates (chains included), distinct certificates, distinct
# tuples (server, port, SNI, JA3, JA3S, JA4, the server's own certificate)
read -r N NC ND NT <<<"$("$PY" - "$T_DIR/d4tls.jsonl" <<'EOF'
import base64, hashlib, json, sys
hs = [json.loads(l) for l in open(sys.argv[1])]
certs = [hashlib.sha1(base64.b64decode(c)).hexdigest() for h in hs for c in h.get('certificates', [])]
tuples = {(h['server_ip'], h['server_port'], h.get('sni', '').lower(), h.get('ja3_md5', ''), h.get('ja3s_md5', ''),
           h.get('ja4', ''), hashlib.sha1(base64.b64decode(h['certificates'][0])).hexdigest()
           if h.get('certificates') else '') for h in hs}
print(len(hs), len(certs), len(set(certs)), len(tuples))
EOF
)"
[ "${N:-0}" -ge 6 ] && [ "${ND:-0}" -ge 2 ] || fail "d4-tls: $N handshakes, $ND certificates"
log "d4-tls: $N handshakes, $NC certificates ($ND distinct), $NT tuples"

# A line of the original Go sensor (its members, in its order, ports as
# strings, a local-time Timestamp, Go's x509 fields beside Raw): another
# server, the capture's first certificate (already known: not new).
"$PY" - "$D4_TEST_DATA/tls/ja3-jl/openssl-lo.d4hub.jsonl" >"$T_DIR/go.jsonl" <<'EOF'
import hashlib, json, sys
first = json.loads(open(sys.argv[1]).readline())
raw = first['Certificates'][0]['Raw']
ja3 = '771,49195-49199-52393,0-11-10-35-16-22-23-13,29-23-24,0'
rec = {'ServerIP': '192.0.2.10', 'ServerPort': '443', 'ClientIP': '192.0.2.1', 'ClientPort': '51515', 'TLSH': '',
       'Timestamp': '2019-03-20T14:05:09.123456789+01:00', 'JA3': ja3, 'JA3Digest': hashlib.md5(ja3.encode()).hexdigest(),
       'JA3S': '771,49195,65281-0-11', 'JA3SDigest': hashlib.md5(b'771,49195,65281-0-11').hexdigest(),
       'Certificates': [{'CertHash': first['Certificates'][0]['CertHash'], 'Raw': raw, 'IsCA': False,
                         'SerialNumber': 123456789012345678901234567890, 'Subject': {'CommonName': 'x', 'Names': None},
                         'PublicKey': {'N': 2 ** 2047 + 1, 'E': 65537}}]}
print(json.dumps(rec, separators=(',', ':')))
EOF

# ---- a hub with the consumer on ----
cp "$T_DIR/base.conf" "$T_CONF"
hub_start
API=$(api_url)
ADMIN=$(ctl user add pssl-admin --role admin) || fail "user add admin"
USER=$(ctl user add pssl-user --role user) || fail "user add user"
get() { # get TOKEN PATH: the body; fails unless 200
	local code
	code=$(curl -s -o "$T_DIR/get.out" -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" \
		-H "Authorization: Bearer $1" "$API$2") || true
	[ "$code" = 200 ] || return 1
	cat "$T_DIR/get.out"
}
info() { get "$USER" /api/v1/pssl/info | json "$1"; }
info_is() { [ "$(info "$1")" = "$2" ]; }

sensor_new
UL=$SENSOR_UUID KL=$SENSOR_KEY
sensor_new
UP=$SENSOR_UUID KP=$SENSOR_KEY
sensor_new
UG=$SENSOR_UUID KG=$SENSOR_KEY

sensor_run -u "$UL" -k "$KL" --extract tls -r "$PCAP" 2>>"$T_DIR/sensor.log" || fail "d4-sensor --extract tls exited $?"
wait_for 60 "the ja3-jl handshakes stored" info_is "d['ingest']['handshakes_lines']" "$N"
assert_eq "$(info "d['store']['certs']")" "$ND" "certificates stored (ja3-jl)"
assert_eq "$(info "d['store']['tuples']")" "$NT" "tuples stored (ja3-jl)"

sensor_run -u "$UP" -k "$KP" -t 1 -r "$PCAP" 2>>"$T_DIR/sensor.log" || fail "d4-sensor -t 1 exited $?"
wait_for 60 "the type-1 handshakes stored" info_is "d['ingest']['handshakes_pcap']" "$N"
"$D4SENSOR" -D "$T_DEST" --ca "$T_PKI/ca.crt" -u "$UG" -k "$KG" -t 254 --ext-type ja3-jl <"$T_DIR/go.jsonl" \
	2>>"$T_DIR/sensor.log" || fail "d4-sensor (Go line) exited $?"
wait_for 60 "the Go sensor's line stored" info_is "d['ingest']['go_lines']" 1
wait_for 30 "every session finished" info_is "d['ingest']['sessions']" 0

get "$USER" /api/v1/pssl/info >"$T_DIR/info.json" || fail "GET /api/v1/pssl/info"
get "$ADMIN" /api/v1/pssl/counters >"$T_DIR/counters.json" || fail "GET /api/v1/pssl/counters"
code=$(curl -s -o /dev/null -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $USER" \
	"$API/api/v1/pssl/counters")
assert_eq "$code" 403 "a user reads /api/v1/pssl/counters"
check_figures() {
	"$PY" - "$T_DIR/info.json" "$T_DIR/counters.json" "$N" "$NC" "$ND" "$NT" "$UL" "$UP" "$UG" <<'EOF'
import json, sys
info, cnt = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n, nc, nd, nt = map(int, sys.argv[3:7])
ul, up, ug = (u.replace('-', '') for u in sys.argv[7:10])
st, ing = info['store'], info['ingest']
def eq(what, got, want):
    if got != want: sys.exit('%s: %r, expected %r' % (what, got, want))
eq('running', ing['running'], True)
eq('store certs', st['certs'], nd)
eq('store tuples (both paths merged, + the Go line)', st['tuples'], nt + 1)
eq('handshakes', ing['handshakes'], 2 * n + 1)
eq('handshakes from ja3-jl lines', ing['handshakes_lines'], n + 1)
eq('handshakes from pcap', ing['handshakes_pcap'], n)
eq('certificates seen', ing['certs'], 2 * nc + 1)
for k in ('bad_lines', 'bad_packets', 'bad_certs', 'certs_refused', 'frames_lost', 'evictions', 'streams_refused'):
    eq(k, ing[k], 0)
by = {s['sensor'].replace('-', ''): s for s in cnt['sensors']}
eq('sensors with counters', sorted(by), sorted([ul, up, ug]))
eq('ja3-jl sensor handshakes', by[ul]['handshakes'], n)
eq('pcap sensor handshakes', by[up]['handshakes'], n)
eq('Go sensor handshakes', by[ug]['handshakes'], 1)
eq('ja3-jl sensor certs', by[ul]['certs'], nc)
eq('pcap sensor certs', by[up]['certs'], nc)
eq('certificates first seen, all sensors', sum(s['certs_new'] for s in cnt['sensors']), nd)
eq('the Go line brought no new certificate', by[ug]['certs_new'], 0)
for s in cnt['sensors']:
    for k in ('bad_lines', 'bad_packets', 'bad_certs'): eq(k, s[k], 0)
print('# %d handshakes per path + 1 Go line, %d certificates (%d distinct), %d tuples' % (n, nc, nd, nt + 1))
EOF
}
check_figures || fail "figures differ"
get "$USER" /metrics >"$T_DIR/metrics.txt" || fail "GET /metrics"
grep -qx "d4hub_pssl_handshakes_total $((2 * N + 1))" "$T_DIR/metrics.txt" ||
	fail "metrics: $(grep d4hub_pssl_handshakes "$T_DIR/metrics.txt")"
grep -qx "d4hub_pssl_certs_new_total $ND" "$T_DIR/metrics.txt" ||
	fail "metrics: $(grep d4hub_pssl_certs_new "$T_DIR/metrics.txt")"
pass "both paths: exactly d4-tls's $N handshakes and $ND certificates; the Go sensor's line stored"

# ---- kill -9 while the consumer works, then a restart ----
# A second store: the frames are received with the consumer off, then the
# consumer reads them with one handshake per commit and is killed.
hub_stop
sed -i 's/^path = store$/path = store2/' "$T_DIR/base.conf"
cp "$T_DIR/base.conf" "$T_CONF"
printf '[pssl]\nenabled = no\n' >>"$T_CONF"
hub_start
ADMIN=$(ctl user add pssl-admin --role admin) || fail "user add admin"
USER=$(ctl user add pssl-user --role user) || fail "user add user"
sensor_new
UL=$SENSOR_UUID KL=$SENSOR_KEY
sensor_new
UP=$SENSOR_UUID KP=$SENSOR_KEY
sensor_new
UG=$SENSOR_UUID KG=$SENSOR_KEY
sensor_run -u "$UL" -k "$KL" --extract tls -r "$PCAP" 2>>"$T_DIR/sensor.log" || fail "d4-sensor --extract tls exited $?"
# the capture as type 1 three times (three sessions), and its lines 400
# times over in one ja3-jl session: thousands of commits to kill
REP=3 BULK=400
for i in $(seq $BULK); do cat "$D4_TEST_DATA/tls/ja3-jl/openssl-lo.d4hub.jsonl"; done >"$T_DIR/bulk.jsonl"
"$D4SENSOR" -D "$T_DEST" --ca "$T_PKI/ca.crt" -u "$UL" -k "$KL" -t 254 --ext-type ja3-jl <"$T_DIR/bulk.jsonl" \
	2>>"$T_DIR/sensor.log" || fail "d4-sensor (bulk lines) exited $?"
for i in $(seq $REP); do
	sensor_run -u "$UP" -k "$KP" -t 1 -r "$PCAP" 2>>"$T_DIR/sensor.log" || fail "d4-sensor -t 1 exited $?"
done
"$D4SENSOR" -D "$T_DEST" --ca "$T_PKI/ca.crt" -u "$UG" -k "$KG" -t 254 --ext-type ja3-jl <"$T_DIR/go.jsonl" \
	2>>"$T_DIR/sensor.log" || fail "d4-sensor (Go line) exited $?"
wait_for 30 "the sessions of $UL closed" sessions_closed "$UL" 2
wait_for 30 "the sessions of $UP closed" sessions_closed "$UP" $REP
wait_for 30 "the sessions of $UG closed" sessions_closed "$UG"
hub_stop
cp "$T_DIR/base.conf" "$T_CONF"
printf '[pssl]\nbatch = 1\n' >>"$T_CONF"
stored() { # handshakes committed, all sensors (the store's counters)
	get "$ADMIN" /api/v1/pssl/counters | json "sum(s['handshakes'] for s in d['sensors'])"
}
is_stored() { [ "$(stored)" = "$1" ]; }
# killed once its API answered: the consumer starts before intake and
# reads from its cursor, one handshake per commit, so the kill falls
# wherever it is (the unit test test_restart_every_batch stops it after
# every single commit)
TOTAL=$(((1 + REP + BULK) * N + 1))
kills=0
for round in 1 2 3 4 5; do
	hub_start
	API=$(api_url)
	log "kill -9 after $(stored) of $TOTAL handshakes committed"
	hub_kill9
	kills=$((kills + 1))
done
hub_start
API=$(api_url)
wait_for 120 "every handshake stored after the kills" is_stored $TOTAL
wait_for 60 "every session finished" info_is "d['ingest']['sessions']" 0
get "$USER" /api/v1/pssl/info >"$T_DIR/info.json" || fail "GET /api/v1/pssl/info"
get "$ADMIN" /api/v1/pssl/counters >"$T_DIR/counters.json" || fail "GET /api/v1/pssl/counters"
# the consumer's own figures restart with the process: the store's are the
# ones that must be exact; the per-sensor counters are the store's
"$PY" - "$T_DIR/info.json" "$T_DIR/counters.json" "$N" "$NC" "$ND" "$NT" "$((REP + BULK))" <<'EOF' || fail "figures after kill -9 differ"
import json, sys
info, cnt = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n, nc, nd, nt = map(int, sys.argv[3:7])
def eq(what, got, want):
    if got != want: sys.exit('%s: %r, expected %r' % (what, got, want))
eq('store certs', info['store']['certs'], nd)
eq('store tuples', info['store']['tuples'], nt + 1)
rep = int(sys.argv[7])
eq('handshakes, all sensors', sum(s['handshakes'] for s in cnt['sensors']), (rep + 1) * n + 1)
eq('certificates, all sensors', sum(s['certs'] for s in cnt['sensors']), (rep + 1) * nc + 1)
eq('certificates first seen, all sensors', sum(s['certs_new'] for s in cnt['sensors']), nd)
for s in cnt['sensors']:
    for k in ('bad_lines', 'bad_packets', 'bad_certs'): eq(k, s[k], 0)
print('# after kill -9: %d handshakes, %d certificates' % ((rep + 1) * n + 1, nd))
EOF
pass "killed with -9 $kills times while reading: nothing lost, nothing doubled"
