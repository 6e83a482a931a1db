#!/usr/bin/env bash
# The weak-key job and its API reports end to end: certificates with planted
# weak keys (tests/tools/d4-pssl-weakcerts: shared primes, a duplicate
# modulus, a small factor, e = 3 and e = 5, a key under unrelated subjects,
# a key under related subjects, independent keys) are merged into the hub's
# store; the running d4hub's job must report exactly the planted findings
# through /api/v1/pssl/weak, hide what a user's clearance does not cover,
# and, after a restart with more certificates, report only the new ones.
#
# Address: the hub's ingest and API on 127.0.0.4 (ports picked at run time).
# Env: as lib.sh, plus WEAKCERTS (tests/tools/d4-pssl-weakcerts).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.4}
source "$(dirname "$0")/../lib.sh"

[ -n "${WEAKCERTS:-}" ] && [ -x "$WEAKCERTS" ] || fail "\$WEAKCERTS is not set to tests/tools/d4-pssl-weakcerts"
CHECK="$PY $(dirname "$0")/weak_check.py"
CERTS=$T_DIR/certs
mkdir -p "$CERTS"
"$WEAKCERTS" "$CERTS" || fail "d4-pssl-weakcerts"
NCERTS=$(wc -l <"$CERTS/names.txt")
sha1_of() { awk -v n="$1" '$1 == n { print $2 }' "$CERTS/names.txt"; }

t_conf
printf '[pssl]\nweak_interval = 1\nweak_batch = 3\n' >>"$T_CONF"

# Phase 1: A1 at tlp:red (above a user's clearance), the next 8 at tlp:green,
# stored before the hub starts: the job finds them at its first look.
"$WEAKCERTS" --store "$T_DIR/store" 0 1 tlp:red || fail "store A1"
"$WEAKCERTS" --store "$T_DIR/store" 1 9 tlp:green || fail "store B1..E3"
hub_start
API=$(api_url)
health() { curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_for 30 "API answering" health
ADMIN=$(ctl user add weak-admin --role admin) || fail "user add admin"
USER=$(ctl user add weak-user --role user) || fail "user add user"

# A1..E3 hold 8 findings: 4 shared-prime pairs, the duplicate modulus, D2's
# and E3's exponents, S's small factor
wait_for 60 "the 8 findings of the first 9 certificates" $CHECK "$API" "$T_PKI/ca.crt" "$ADMIN" status 8
$CHECK "$API" "$T_PKI/ca.crt" "$ADMIN" findings "$CERTS" 9 || fail "admin: findings of phase 1"
# the user cannot see A1 (tlp:red): its side of the A1-A2 pair is hidden
$CHECK "$API" "$T_PKI/ca.crt" "$USER" findings "$CERTS" 9 A1 || fail "user: findings of phase 1"
api() { curl -s --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $1" -o /dev/null -w '%{http_code}' "$API$2"; }
assert_eq "$(api "$USER" "/api/v1/pssl/weak/certs/$(sha1_of A1)")" 404 "user: A1's key"
assert_eq "$(api "$ADMIN" "/api/v1/pssl/weak/certs/$(sha1_of A1)")" 200 "admin: A1's key"
assert_eq "$(api "$USER" "/api/v1/pssl/weak/keys/1")" 404 "user: key 1 (A1's)"
assert_eq "$(api "$USER" "/api/v1/pssl/weak/certs/$(sha1_of A2)")" 200 "user: A2's key"
assert_eq "$(api "$USER" "/api/v1/pssl/weak?key=1")" 404 "user: findings of key 1"
assert_eq "$(api "$USER" "/api/v1/pssl/weak/status")" 403 "user: the job's status"
D=$(curl -s --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $USER" "$API/api/v1/pssl/weak/certs/$(sha1_of A2)")
assert_eq "$(echo "$D" | json "[f['kind'] for f in d['findings']]")" '["shared-prime"]' "user: A2's findings"
assert_eq "$(echo "$D" | json "d['findings'][0]['other']")" '{"hidden": true}' "user: A1 hidden in A2's finding"
assert_eq "$(echo "$D" | json "'factor' in d['findings'][0]")" false "no factor shown"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status (phase 1)"

# Phase 2: the rest, stored while the hub is down. The restarted job rebuilds
# its set from the 8 stored moduli (S's was refused) and reports only the new
# finding (K1/K2's key under unrelated subjects; R1/R2 are related).
"$WEAKCERTS" --store "$T_DIR/store" 9 "$NCERTS" tlp:green || fail "store K1..N12"
hub_start
wait_for 60 "the 9 findings of every certificate" $CHECK "$API" "$T_PKI/ca.crt" "$ADMIN" status 9
$CHECK "$API" "$T_PKI/ca.crt" "$ADMIN" findings "$CERTS" "$NCERTS" || fail "admin: every finding"
$CHECK "$API" "$T_PKI/ca.crt" "$ADMIN" job rebuilt 8 || fail "the rebuilt set"
$CHECK "$API" "$T_PKI/ca.crt" "$ADMIN" job findings 1 || fail "findings of the restarted job"
D=$(curl -s --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $USER" "$API/api/v1/pssl/weak/certs/$(sha1_of K2)")
assert_eq "$(echo "$D" | json "[f['kind'] for f in d['findings']]")" '["shared-key"]' "K2's findings"
assert_eq "$(echo "$D" | json "sorted(c['sha1'] for c in d['key']['certificates']) == sorted(['$(sha1_of K1)', '$(sha1_of K2)'])")" true "K's certificates"
assert_eq "$(echo "$D" | json "d['findings'][0]['subject_groups']")" 2 "K's subject groups"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "planted weak keys reported exactly, clearance applied, restart resumes"
