#!/usr/bin/env bash
# Passive-SSL handshakes as the federation kind `certs`, end to end, between
# two real hubs: A (organisation 1) receives passive-SSL data from sensors
# (`d4-sensor --extract tls -r` on the fixture capture, and ja3-jl lines of
# sensors whose TLP is green, amber and red) and pushes `certs` to B
# (organisation 2, a partner) under a rule: server addresses allowed in
# 127.0.0.0/8 and 192.0.2.0/24 but not 192.0.2.128/25, the zone ec.test
# denied (the SNI and the certificate names). B holds exactly the tuples the
# rule allows (red never; amber only once A's rule allows amber AND B's
# inbound cap takes it, refused by B's cap before), with certificates B
# parsed itself from their DER, A as origin hub; A's decisions per reason
# and B's refusals per reason are exact in the partner status and
# /metrics. C (organisation 2) fetches the same kind from A's pull endpoint
# under the same rule without amber: it holds what B held before amber.
source "$(dirname "$0")/fedlib.sh"

[ -n "${D4PSSLDUMP:-}" ] && [ -x "$D4PSSLDUMP" ] || fail "D4PSSLDUMP (tests/tools d4-pssl-dump) is not set"
PCAP=$D4_TEST_DATA/tls/openssl-lo.pcap
FIXTURE=$D4_TEST_DATA/tls/ja3-jl/openssl-lo.d4hub.jsonl
[ -f "$PCAP" ] && [ -f "$FIXTURE" ] || fail "the TLS fixtures are missing"

fed_hub a 127.0.0.2 org1
fed_hub b 127.0.0.3 org2
fed_hub c 127.0.0.4 org2 federation.backoff_max_ms=2000
fed_start a
fed_start b
fed_start c

hexu() { echo "${1//-/}"; }
A=$(hexu "${H_UUID[a]}")
dump() { "$D4PSSLDUMP" "${H_DIR[$1]}/store" | LC_ALL=C sort; }

# B accepts certs from A up to tlp:green (amber refused by B's own cap)
fed_partner b a a --direction push --file <(echo '{"inbound": {"kinds": ["certs"], "max_tlp": "tlp:green"}}')
# A shares certs with B: up to green, no amber yet
RULE='"enabled": true, "nets_allow": ["127.0.0.0/8", "192.0.2.0/24"], "nets_deny": ["192.0.2.128/25"], "zones_deny": ["ec.test"]'
fed_partner a b b --direction push --file <(echo "{\"outbound\": {\"certs\": {$RULE, \"max_tlp\": \"tlp:green\"}}}")
# C pulls from A, the same rule (A knows C first: C's first fetch is not
# refused into a backoff)
fed_partner a c c --direction pull --file <(echo "{\"outbound\": {\"certs\": {$RULE, \"max_tlp\": \"tlp:green\"}}}")
fed_partner c a a --direction push --file <(echo '{"inbound": {"kinds": ["certs"], "max_tlp": "tlp:amber", "fetch": true}}')

# ---- A's sensors: the capture (green), and ja3-jl lines (green, amber, red)
declare -A SU SK
for t in pcap green amber red; do
	fsensor a
	SU[$t]=$SENSOR_UUID
	SK[$t]=$SENSOR_KEY
done
fctl a sensor set "${SU[pcap]}" --tlp tlp:green >/dev/null || fail "sensor set"
fctl a sensor set "${SU[green]}" --tlp tlp:green >/dev/null || fail "sensor set"
fctl a sensor set "${SU[amber]}" --tlp tlp:amber >/dev/null || fail "sensor set"
fctl a sensor set "${SU[red]}" --tlp tlp:red >/dev/null || fail "sensor set"

# lines of the fixture's first handshake (rsa.test's certificate) moved to
# other servers: SERVER [SNI]
lines() {
	"$PY" - "$FIXTURE" "$@" <<'EOF'
import json, sys
first = json.loads(open(sys.argv[1]).readline())
for spec in sys.argv[2:]:
    server, _, sni = spec.partition('/')
    rec = dict(first)
    rec['ServerIP'], rec['ServerPort'] = server, '443'
    if sni:
        rec['sni'] = sni
    else:
        rec.pop('sni', None)
    print(json.dumps(rec, separators=(',', ':')))
EOF
}
send_lines() { # SENSOR SPEC...
	local t=$1
	shift
	lines "$@" | fsensor_run a -u "${SU[$t]}" -k "${SK[$t]}" -t 254 --ext-type ja3-jl 2>>"$T_DIR/sensor.log" ||
		fail "d4-sensor (ja3-jl lines, $t) exited $?"
}

fsensor_run a -u "${SU[pcap]}" -k "${SK[pcap]}" --extract tls -r "$PCAP" 2>>"$T_DIR/sensor.log" ||
	fail "d4-sensor --extract tls exited $?"
# released; denied net; outside the allowed nets; a denied zone by its SNI
send_lines green 192.0.2.10/www.rsa.test 192.0.2.200/www.rsa.test 198.51.100.7 192.0.2.11/mail.ec.test
send_lines amber 192.0.2.20/amber.rsa.test
send_lines red 192.0.2.30/red.rsa.test

# A's tuples: the capture's distinct ones (as d4hub's own ja3-jl lines of
# it, the fixture, say) + the 6 lines
NT=$("$PY" - "$FIXTURE" <<'EOF'
import base64, hashlib, json, sys
hs = [json.loads(l) for l in open(sys.argv[1])]
print(len({(h['ServerIP'], h['ServerPort'], h.get('sni', ''), h['JA3Digest'], h['JA3SDigest'], h.get('ja4', ''),
            hashlib.sha1(base64.b64decode(h['Certificates'][0]['Raw'])).hexdigest() if h['Certificates'] else '')
           for h in hs}))
EOF
)
a_count() { [ "$(dump a | wc -l)" = "$1" ]; }
wait_until 60 a_count $((NT + 6)) || fail "A holds $(dump a | wc -l) tuples, expected $((NT + 6)): $(dump a)"
dump a >"$T_DIR/a.dump"
log "A holds $((NT + 6)) tuples ($NT of the capture)"

# ---- what B must hold: A's tuples the rule releases, with A as origin hub
# (the dump's fields: server port sni ja3 ja3s ja4 tlp count hubs ja3str
# ja3sstr chain; the chain's fields come from the certificate each hub parsed)
expected() { # MAX_TLP (2 green, 4 amber)
	"$PY" - "$T_DIR/a.dump" "$A" "$1" <<'EOF'
import ipaddress, sys
a, max_tlp = sys.argv[2], int(sys.argv[3])
allow = [ipaddress.ip_network(n) for n in ('127.0.0.0/8', '192.0.2.0/24')]
deny = ipaddress.ip_network('192.0.2.128/25')
for l in open(sys.argv[1]):
    f = l.split()
    ip, sni, tlp = ipaddress.ip_address(f[0]), f[2], int(f[6])
    names = [sni] if sni != '-' else []
    if len(f) > 11 and f[11] != '-':
        sha1, parsed, cn, sans = f[11].split('/', 3)
        names += ([cn] if cn != '-' else []) + (sans.split(',') if sans != '-' else [])
    if tlp > max_tlp or ip in deny or not any(ip in n for n in allow):
        continue
    if any(n == 'ec.test' or n.endswith('.ec.test') for n in names):
        continue
    f[8] = a
    print(' '.join(f))
EOF
}
want=$(expected 2 | LC_ALL=C sort)
NB=$(echo "$want" | wc -l)
# the capture's rsa.test tuples and 192.0.2.10: at least one of each kind
[ "$NB" -ge 2 ] || fail "the rule releases $NB tuples of [$(cat "$T_DIR/a.dump")]"
holds() { [ "$(dump "$1")" = "$2" ]; }
wait_until 60 holds b "$want" || fail "B holds [$(dump b)], expected [$want]"
# every certificate B holds was parsed by B (parsed = 1 in its own rows)
dump b | grep -q '/1/rsa.test/rsa.test' || fail "B holds no certificate it parsed: $(dump b)"
log "B holds exactly the $NB tuples the rule allows"

# A's decisions per reason, acknowledged by B
decisions() { # PARTNER
	fapi a "/api/v1/partners/$1/status" |
		json "' '.join('%s=%d' % (r, n) for r, n in sorted(d['kinds']['certs']['acknowledged']['decisions'].items()) if n)"
}
NEC=$(grep -c 'ec\.test' "$T_DIR/a.dump")
want_dec="address-filtered=2 amber-not-allowed=1 released=$NB tlp-red=1 zone-filtered=$NEC"
wait_until 60 eval '[ "$(decisions b)" = "$want_dec" ]' || fail "A -> b decisions: $(decisions b), expected $want_dec"
received() { fapi b /api/v1/partners/a/status | json "d['kinds']['certs']['received']['$1']"; }
assert_eq "$(received records)" "$NB" "records stored at B"
assert_eq "$(fmetric a 'd4hub_federation_decisions_total\{partner="b",kind="certs",reason="zone-filtered"\}')" "$NEC" \
	"/metrics: A -> b zone-filtered"

# ---- the dry run explains a certs decision (locally and through the API)
dry() { fctl a --json partner dry-run b --kind certs --tlp tlp:green "$@" | json "d['decision'] + ' ' + d['reason']"; }
assert_eq "$(dry --server 192.0.2.10 --sni www.rsa.test --names rsa.test)" "release released" "dry run: released"
assert_eq "$(dry --server 192.0.2.10 --names rsa.test,www.ec.test)" "refuse zone-filtered" "dry run: a certificate name"
assert_eq "$(dry --server 198.51.100.7)" "refuse address-filtered" "dry run: outside the nets"
assert_eq "$(fapi a /api/v1/partners/b/dry-run -X POST -H 'Content-Type: application/json' \
	-d '{"kind": "certs", "tlp": "tlp:amber", "server": "192.0.2.20"}' | json "d['decision'] + ' ' + d['reason']")" \
	"refuse amber-not-allowed" "API dry run: amber"

# ---- amber: A's rule allows it now; B's own cap (green) refuses it.
# A handshake of the amber tuple is sent, and A decides the changed tuple
# again; a change decided before A's sender loaded the new rule is refused
# (amber-not-allowed) as before: counted, and another handshake is sent.
dec_total() { fapi a /api/v1/partners/b/status | json "sum(d['kinds']['certs']['acknowledged']['decisions'].values())"; }
dec_of() { fapi a /api/v1/partners/b/status | json "d['kinds']['certs']['acknowledged']['decisions'].get('$1', 0)"; }
refused() { fapi b /api/v1/partners/a/status | json "d['kinds']['certs']['received']['refused'].get('$1', 0)"; }
NA=1 SENT=1 # amber-not-allowed so far; handshakes of the amber tuple sent
amber_round() { # CONDITION...: sends a handshake until CONDITION holds once A decided it
	local try t0 na
	for try in 1 2 3 4 5 6 7 8; do
		t0=$(dec_total) || fail "partner status at A"
		send_lines amber 192.0.2.20/amber.rsa.test
		SENT=$((SENT + 1))
		wait_until 60 eval '[ "$(dec_total)" -gt "$t0" ]' || fail "A decided no change of the amber tuple"
		na=$(dec_of amber-not-allowed)
		if [ "$na" -gt "$NA" ]; then
			NA=$na
			continue
		fi
		wait_until 60 "$@" && return 0
		log "not yet: $*"
	done
	fail "the amber tuple: $* never held"
}
fctl a partner set b --file <(echo "{\"outbound\": {\"certs\": {$RULE, \"max_tlp\": \"tlp:amber\", \"allow_amber\": true}}}") \
	>/dev/null 2>"$T_DIR/set.err" || fail "partner set b: $(cat "$T_DIR/set.err")"
CAP0=$(refused above-tlp-cap)
amber_round eval '[ "$(refused above-tlp-cap)" -gt "$CAP0" ]'
CAP=$(refused above-tlp-cap)
holds b "$want" || fail "B stored an amber tuple above its cap: $(dump b)"
# ---- B takes amber: the next handshake of that tuple is stored
fctl b partner set a --file <(echo '{"inbound": {"kinds": ["certs"], "max_tlp": "tlp:amber"}}') >/dev/null ||
	fail "partner set a at b"
amber_round eval '[ "$(received records)" = $((NB + 1)) ] || { [ "$(refused above-tlp-cap)" -gt "$CAP" ] && CAP=$(refused above-tlp-cap) && false; }'
dump a >"$T_DIR/a.dump"
want=$(expected 4 | LC_ALL=C sort)
assert_eq "$(echo "$want" | wc -l)" $((NB + 1)) "tuples the rule releases once amber goes"
wait_until 60 holds b "$want" || fail "B holds [$(dump b)], expected [$want]"
# B merged the state it stored: every handshake A had of the tuple then
grep -q "^192.0.2.20 443 amber.rsa.test .* 4 $SENT $A " <<<"$(dump b)" ||
	fail "the amber tuple at B ($SENT handshakes, tlp:amber, origin A): $(dump b)"
log "amber arrives only with A's allow_amber/max_tlp and B's cap ($SENT handshakes sent)"
assert_eq "$(refused tlp-red)" 0 "B never saw the red tuple (A refused it)"
assert_eq "$(received records)" $((NB + 1)) "records stored at B"
# A released the amber tuple once per handshake decided under the new rule
REL=$((SENT - NA))
want_dec="address-filtered=2 amber-not-allowed=$NA released=$((NB + REL)) tlp-red=1 zone-filtered=$NEC"
wait_until 60 eval '[ "$(decisions b)" = "$want_dec" ]' || fail "A -> b decisions: $(decisions b), expected $want_dec"
# B refused amber above its cap at least once, and never more often than A
# released it before the state B stored (a state A sends again after
# B's partner record changed mid-batch is a duplicate there, not a refusal)
CAPN=$(refused above-tlp-cap)
[ "$CAPN" -ge 1 ] && [ "$CAPN" -le $((REL - 1)) ] || fail "B refused $CAPN amber states above its cap (A released $REL)"

# ---- C, pulling: the tuples of the green rule, each state once
want_c=$(expected 2 | LC_ALL=C sort)
wait_until 60 holds c "$want_c" || fail "C holds [$(dump c)], expected [$want_c]; C: $(fapi c /api/v1/partners/a/status)"
# every tuple decided for C at its latest state; the amber one changed
# SENT times, and handshakes between two of C's pulls are one decision:
# amber-not-allowed once per state C's pulls saw (1..SENT), the rest exact
c_dec_ok() {
	local d na
	d=$(decisions c) || return 1
	na=$(sed -n 's/.*amber-not-allowed=\([0-9]*\).*/\1/p' <<<"$d")
	[ -n "$na" ] && [ "$na" -ge 1 ] && [ "$na" -le "$SENT" ] &&
		[ "$(sed 's/amber-not-allowed=[0-9]* //' <<<"$d")" = "address-filtered=2 released=$NB tlp-red=1 zone-filtered=$NEC" ]
}
wait_until 60 c_dec_ok || fail "A -> c decisions: $(decisions c)"
assert_eq "$(fapi c /api/v1/partners/a/status | json "d['kinds']['certs']['received']['records']")" "$NB" \
	"records stored at C (fetched)"
log "C fetched exactly the $NB tuples of the green rule"
for h in a b c; do fed_stop "$h"; done
pass
