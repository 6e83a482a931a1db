#!/usr/bin/env bash
# The weak-key job and its API reports end to end: certificates with planted
# weak keys (tests/tools/d4-pssl-weakcerts: shared primes, a duplicate
# modulus, a small factor, e = 3 and e = 5, a key under unrelated subjects,
# a key under related subjects, independent keys) reach a real d4hub as
# ja3-jl lines (type 254, extended type ja3-jl, sent by d4-sensor); the hub's
# job must report exactly the planted findings through /api/v1/pssl/weak,
# hide what a user's clearance does not cover, and, after a restart and more
# certificates, report only the new ones -- a late subject for a known key
# through the job's sweep.
#
# Address: the hub's ingest and API on 127.0.0.4 (ports picked at run time).
# Env: as lib.sh, plus WEAKCERTS (tests/tools/d4-pssl-weakcerts).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.4}
source "$(dirname "$0")/../lib.sh"

[ -n "${WEAKCERTS:-}" ] && [ -x "$WEAKCERTS" ] || fail "\$WEAKCERTS is not set to tests/tools/d4-pssl-weakcerts"
CHECK_PY=$(dirname "$0")/weak_check.py
check() { "$PY" "$CHECK_PY" "$API" "$T_PKI/ca.crt" "$@"; }
CERTS=$T_DIR/certs
mkdir -p "$CERTS"
"$WEAKCERTS" "$CERTS" || fail "d4-pssl-weakcerts"
NCERTS=$(wc -l <"$CERTS/names.txt")
sha1_of() { awk -v n="$1" '$1 == n { print $2 }' "$CERTS/names.txt"; }

t_conf
printf '[pssl]\nweak_interval = 1\nweak_batch = 3\nweak_rescan = 1\n' >>"$T_CONF"

sed -n 1p "$CERTS/certs.jl" >"$T_DIR/a1.jl"
sed -n 2,9p "$CERTS/certs.jl" >"$T_DIR/part1.jl"
# K2 (line 11) comes last, alone: its key (K1's) is processed by then
sed -n '10p;12,$p' "$CERTS/certs.jl" >"$T_DIR/part2.jl"
sed -n 11p "$CERTS/certs.jl" >"$T_DIR/k2.jl"
jl_send() { sensor_run -u "$1" -k "$2" -t 254 --ext-type ja3-jl <"$3" 2>>"$T_DIR/sensor.log" || fail "d4-sensor exited $?"; }

hub_start
API=$(api_url)
health() { curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_for 30 "API answering" health
ADMIN=$(ctl user add weak-admin --role admin) || fail "user add admin"
USER=$(ctl user add weak-user --role user) || fail "user add user"
sensor_new
RED_U=$SENSOR_UUID RED_K=$SENSOR_KEY
ctl sensor set "$RED_U" --tlp tlp:red >/dev/null || fail "sensor set --tlp"
hub_sync
sensor_new
U=$SENSOR_UUID K=$SENSOR_KEY

# Phase 1: A1 from a tlp:red sensor (above a user's clearance; key 1), then
# the next 8 certificates from a sensor at the hub's default TLP. A1..E3 hold
# 8 findings: 4 shared-prime pairs, the duplicate modulus, D2's and E3's
# exponents, S's small factor.
jl_send "$RED_U" "$RED_K" "$T_DIR/a1.jl"
wait_for 60 "A1's key stored and processed" check "$ADMIN" status 0 1
jl_send "$U" "$K" "$T_DIR/part1.jl"
wait_for 60 "the 8 findings of the first 9 certificates" check "$ADMIN" status 8 9
check "$ADMIN" findings "$CERTS" 9 || fail "admin: findings of phase 1"
# the user cannot see A1 (tlp:red): its side of the A1-A2 pair is hidden
check "$USER" findings "$CERTS" 9 A1 || fail "user: findings of phase 1"
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
# the job runs on a thread of its own, pssl.weak_nice (10) below the hub's other threads
nice_of() {
	local t
	for t in /proc/"$HUB_PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] && awk '{ print $19 }' "$t/stat"
	done
}
BASE=$(awk '{ print $19 }' /proc/"$HUB_PID"/stat)
WANT=$((BASE + 10 > 19 ? 19 : BASE + 10))
assert_eq "$(nice_of d4-weakkeys)" "$WANT" "niceness of the weak-key thread (the hub's: $BASE)"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status (phase 1)"

# Phase 2: the hub restarts, the rest arrives but K2. The restarted job rebuilds
# its set from the 8 stored moduli (S's was refused) and finds nothing new: K1's
# key has one subject so far, R1/R2 are related. 23 keys in all (K1/K2 and R1/R2
# share one each).
hub_start
wait_for 30 "API answering" health
jl_send "$U" "$K" "$T_DIR/part2.jl"
wait_for 60 "every key but K2's certificate processed" check "$ADMIN" status 8 $((NCERTS - 2))
check "$ADMIN" job rebuilt 8 || fail "the rebuilt set"
check "$ADMIN" job findings 0 || fail "findings before K2"

# Phase 3: K2, another subject for a key already processed: no new key, the
# sweep (pssl.weak_rescan = 1 here) reports the shared key.
jl_send "$U" "$K" "$T_DIR/k2.jl"
wait_for 60 "K's shared-key finding" check "$ADMIN" status 9 $((NCERTS - 2))
check "$ADMIN" findings "$CERTS" "$NCERTS" || fail "admin: every finding"
check "$ADMIN" job findings 1 || fail "findings of the restarted job"
D=$(curl -s --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $USER" "$API/api/v1/pssl/weak/certs/$(sha1_of K2)")
assert_eq "$(echo "$D" | json "[f['kind'] for f in d['findings']]")" '["shared-key"]' "K2's findings"
assert_eq "$(echo "$D" | json "sorted(c['sha1'] for c in d['key']['certificates']) == sorted(['$(sha1_of K1)', '$(sha1_of K2)'])")" true "K's certificates"
assert_eq "$(echo "$D" | json "d['findings'][0]['subject_groups']")" 2 "K's subject groups"
# /metrics: 22 moduli in the set (23 keys but S's), 14 keys processed since the restart
curl -sf --http2 --cacert "$T_PKI/ca.crt" -H "Authorization: Bearer $USER" "$API/metrics" >"$T_DIR/metrics.txt" ||
	fail "GET /metrics"
for m in "d4hub_pssl_weak_running 1" "d4hub_pssl_weak_findings_total 1" "d4hub_pssl_weak_set_moduli 22" \
	"d4hub_pssl_weak_keys_total 14" "d4hub_pssl_weak_position $((NCERTS - 2))"; do
	grep -qx "$m" "$T_DIR/metrics.txt" || fail "metrics: expected '$m': $(grep d4hub_pssl_weak "$T_DIR/metrics.txt")"
done
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "planted weak keys reported exactly, clearance applied, restart resumes"
