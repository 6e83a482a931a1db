#!/usr/bin/env bash
# d4-sensor --extract tls -r on the fixture capture (tests/data/tls), sent to
# a real d4hub over TLS: the hub stores one session of extended type ja3-jl
# with the meta header's TLP and org; its type-2 frames hold the meta header
# and its type-254 payload is exactly one ja3-jl line per handshake that
# d4-tls finds in the same capture, in the same order, each carrying d4-tls's
# values (Go members and d4hub members), nothing lost, nothing doubled.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

: "${D4TLS:?D4TLS not set}"
PCAP=$D4_TEST_DATA/tls/openssl-lo.pcap
[ -f "$PCAP" ] || fail "$PCAP missing"

t_conf
hub_start
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY
ORG=$(gen_uuid)
printf '{"type":"ja3-jl","tags":["tlp:green"],"misp:org":"%s"}' "$ORG" >"$T_DIR/meta.json"

"$D4TLS" -q "$PCAP" >"$T_DIR/d4tls.jsonl" 2>"$T_DIR/d4tls.err" || fail "d4-tls exited $?"
N=$(wc -l <"$T_DIR/d4tls.jsonl")
[ "$N" -ge 1 ] || fail "d4-tls found no handshake in $PCAP"

sensor_run -u "$U" -k "$K" --extract tls -m "$T_DIR/meta.json" -r "$PCAP" 2>"$T_DIR/sensor.log" ||
	fail "d4-sensor exited $?: $(cat "$T_DIR/sensor.log")"
grep -q "extract tls: .* $N handshakes, $N lines, 0 lines dropped" "$T_DIR/sensor.log" ||
	fail "sensor summary: $(grep 'extract tls' "$T_DIR/sensor.log")"

wait_for 30 "the session closed and committed" sessions_closed "$U"
sync_store
ids=$(ctl --json sessions "$U" | json "' '.join(str(s['id']) for s in d)")
[ "$(echo "$ids" | wc -w)" -eq 1 ] || fail "expected one session, got: '$ids'"
S=$ids
j=$(ctl --json sessions "$U" | json "[s for s in d if s['id'] == $S][0]")
assert_eq "$(echo "$j" | json "d['ext_type']")" "ja3-jl" "session ext_type"
assert_eq "$(echo "$j" | json "d['tlp']")" "tlp:green" "session tlp"
assert_eq "$(echo "$j" | json "d['org']")" "$ORG" "session org"

ctl frames --session "$S" --payload --with-meta >"$T_DIR/got" || fail "frames --payload --with-meta"
ctl --json frames --session "$S" >"$T_DIR/frames.json" || fail "frames"
"$PY" - "$T_DIR/frames.json" "$T_DIR/got" "$T_DIR/meta.json" "$T_DIR/d4tls.jsonl" <<'EOF' || fail "stored ja3-jl session differs"
import base64, datetime, hashlib, json, subprocess, sys
frames = json.load(open(sys.argv[1]))
got = open(sys.argv[2], 'rb').read()
meta = open(sys.argv[3], 'rb').read()
ref = [json.loads(l) for l in open(sys.argv[4])]
types = [f['type'] for f in frames]
n2 = 0
while n2 < len(types) and types[n2] == 2: n2 += 1
if n2 == 0: sys.exit('no type-2 frame first: %s' % types)
if any(t != 254 for t in types[n2:]): sys.exit('after the meta header only 254 expected: %s' % types)
m = sum(f['size'] for f in frames[:n2])
if json.loads(got[:m]) != json.loads(meta): sys.exit('meta header stored: %r' % got[:m])
data = got[m:]
if not data.endswith(b'\n'): sys.exit('the 254 payload does not end with a newline')
# a D4 server splits ja3-jl data at newlines and parses each piece (d4-core)
lines = data.split(b'\n')[:-1]
if len(lines) != len(ref): sys.exit('%d lines stored, d4-tls found %d handshakes' % (len(lines), len(ref)))
go = ['ServerIP', 'ServerPort', 'ClientIP', 'ClientPort', 'TLSH', 'Timestamp', 'JA3', 'JA3Digest', 'JA3S',
      'JA3SDigest', 'Certificates']
def rfc3339(ts):
    sec, us = divmod(round(ts * 1000000), 1000000)
    s = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S')
    return s + (('.%06d' % us).rstrip('0') if us else '') + 'Z'
for i, (raw, r) in enumerate(zip(lines, ref)):
    d = json.loads(raw)
    keys = list(d)
    if keys[:len(go)] != go: sys.exit('line %d: Go members first, in order: %s' % (i, keys))
    # Go's decoder matches member names ignoring case: no extra member may collide
    for k in keys[len(go):]:
        if k.lower() in [g.lower() for g in go]: sys.exit('line %d: member %s collides with a Go member' % (i, k))
    want = {'ServerIP': r['server_ip'], 'ServerPort': str(r['server_port']), 'ClientIP': r['client_ip'],
            'ClientPort': str(r['client_port']), 'TLSH': '', 'Timestamp': rfc3339(r['timestamp']),
            'JA3': r.get('ja3', ''), 'JA3Digest': r.get('ja3_md5', ''), 'JA3S': r.get('ja3s', ''),
            'JA3SDigest': r.get('ja3s_md5', ''), 'producer': 'd4hub', 'flags': r['flags'], 'end': r['end']}
    for k in ('ja4', 'client_version', 'sni', 'alpn', 'server_version', 'cipher', 'server_alpn'):
        if k in r: want[k] = r[k]
    for k, v in want.items():
        if d.get(k) != v: sys.exit('line %d: %s = %r, d4-tls says %r' % (i, k, d.get(k), v))
    extra = set(keys) - set(want) - {'Certificates'}
    if extra: sys.exit('line %d: unexpected members %s' % (i, sorted(extra)))
    certs = d['Certificates']
    if [c['Raw'] for c in certs] != r['certificates']: sys.exit('line %d: certificates differ from d4-tls' % i)
    for c in certs:
        if list(c) != ['CertHash', 'Raw', 'RawSubjectPublicKeyInfo', 'RawSubject', 'RawIssuer', 'Issuer', 'Subject',
                       'BasicConstraintsValid', 'IsCA']:
            sys.exit('line %d: certificate members %s' % (i, list(c)))
        der = base64.b64decode(c['Raw'], validate=True)
        if c['CertHash'] != hashlib.sha256(der).hexdigest(): sys.exit('line %d: CertHash is not the SHA-256 of Raw' % i)
        # what analyzer-d4-passivessl reads, checked against openssl's own view of Raw
        spki = subprocess.run('openssl x509 -inform DER -pubkey -noout | openssl pkey -pubin -outform DER', shell=True,
                              input=der, capture_output=True, check=True).stdout
        if base64.b64decode(c['RawSubjectPublicKeyInfo']) != spki: sys.exit('line %d: RawSubjectPublicKeyInfo' % i)
        for k in ('RawSubject', 'RawIssuer'):
            v = base64.b64decode(c[k])
            if not v.startswith(b'\x30') or v not in der: sys.exit('line %d: %s is not a name of Raw' % (i, k))
        txt = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-noout', '-subject', '-issuer', '-nameopt',
                              'RFC2253', '-ext', 'basicConstraints'], input=der, capture_output=True,
                             check=True).stdout.decode()
        if 'subject=CN=%s\n' % c['Subject']['CommonName'] not in txt or 'issuer=CN=%s\n' % c['Issuer']['CommonName'] not in txt:
            sys.exit('line %d: names %s / %s, openssl: %s' % (i, c['Subject'], c['Issuer'], txt))
        if c['IsCA'] != ('CA:TRUE' in txt) or c['BasicConstraintsValid'] != ('Basic Constraints' in txt):
            sys.exit('line %d: IsCA %s, openssl: %s' % (i, c['IsCA'], txt))
print('# %d meta frame(s), %d data frame(s), %d ja3-jl lines = d4-tls, %d certificates' % (
    n2, len(frames) - n2, len(lines), sum(len(json.loads(l)['Certificates']) for l in lines)))
EOF
pass "$N handshakes: one ja3-jl line each, stored under the ja3-jl meta header with its TLP and org"

# Without -m: the meta header is {"type": "ja3-jl"}; the lines are the same
# (written to stdout as D4 frames, decoded here).
"$D4SENSOR" -u "$U" -k "$K" --extract tls -r "$PCAP" -D stdout >"$T_DIR/stdout.d4" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor -D stdout exited $?"
"$PY" - "$T_DIR/stdout.d4" "$T_DIR/got" "$T_DIR/meta.json" <<'EOF2' || fail "stdout frames differ"
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
off, meta, data = 0, b'', b''
while off < len(b):
    t, size = b[off + 1], struct.unpack('<I', b[off + 58:off + 62])[0]
    p = b[off + 62:off + 62 + size]
    off += 62 + size
    if t == 2: meta += p
    elif t == 254: data += p
    else: sys.exit('frame type %d' % t)
if json.loads(meta) != {'type': 'ja3-jl'}: sys.exit('meta header %r' % meta)
stored = open(sys.argv[2], 'rb').read()
m = len(open(sys.argv[3], 'rb').read())
if not data or stored[m:] != data: sys.exit('stdout lines differ from the stored ones')
print('# stdout: meta header %s, %d bytes of lines identical to the stored ones' % (meta.decode(), len(data)))
EOF2

# Usage errors: another type, another extended type, no capture.
for args in "-t 1 -r $PCAP" "--ext-type maltrail -r $PCAP" "" "-F $T_DIR/meta.json"; do
	rc=0
	# shellcheck disable=SC2086
	"$D4SENSOR" -u "$U" -k "$K" --extract tls $args -D stdout >/dev/null 2>>"$T_DIR/usage.log" || rc=$?
	assert_eq "$rc" 2 "d4-sensor --extract tls $args: exit code"
done
printf '{"type":"maltrail"}' >"$T_DIR/other.json"
rc=0
"$D4SENSOR" -u "$U" -k "$K" --extract tls -m "$T_DIR/other.json" -r "$PCAP" -D stdout >/dev/null 2>>"$T_DIR/usage.log" || rc=$?
assert_eq "$rc" 2 "d4-sensor --extract tls -m (type maltrail): exit code"
pass "default meta header on stdout; usage errors refused"
