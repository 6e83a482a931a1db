#!/usr/bin/env bash
# Backscatter REST API against a real d4hub over TLS.
#
# Address 127.0.0.6 (keep other tests out of it); ports picked at run time
# by lib.sh. check.py generates 260 vectors over the last four days (every
# kind, IPv4 and IPv6, every TLP level, local and received, ongoing and
# closed) and per-sensor counters; bs_api_load writes them into the store
# of the stopped hub; check.py then compares every query form, as an admin
# and as a user, with a brute force over the same set.
# Env: as lib.sh, plus BS_LOAD (bs_api_load).
export D4_TEST_ADDR=${D4_TEST_ADDR:-127.0.0.6}
source "$(dirname "$0")/../lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "${BS_LOAD:-}" ] && [ -x "$BS_LOAD" ] || fail "\$BS_LOAD is not set to bs_api_load"

t_conf
# the store exists once the hub ran; tokens are made while it runs
hub_start
API=$(api_url)
health() { curl -sf --http2 --cacert "$T_PKI/ca.crt" "$API/health" >/dev/null; }
wait_until 30 health || fail "API not answering on $API/health"
ADMIN_TOKEN=$(ctl user add bs-admin --role admin) || fail "user add admin"
USER_TOKEN=$(ctl user add bs-user --role user) || fail "user add user"
REG_TOKEN=$(ctl user add bs-reg --role sensor_register) || fail "user add sensor_register"

# an empty store: empty pages, zero summaries
code=$(curl -s -o "$T_DIR/empty.json" -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" \
	-H "Authorization: Bearer $USER_TOKEN" "$API/api/v1/backscatter/vectors")
assert_eq "$code" 200 "empty list"
assert_eq "$(json "d['items'] == [] and d['next_cursor'] is None" <"$T_DIR/empty.json")" true "empty list body"
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"

NOW=$(date +%s)
"$PY" "$HERE/check.py" gen "${BS_SEED:-11}" "$NOW" "$T_DIR" || fail "check.py gen"
"$BS_LOAD" load "$T_DIR/store" <"$T_DIR/load.tsv" || fail "bs_api_load load"
hub_start
wait_until 30 health || fail "API not answering after the restart"

"$PY" - "$T_DIR/fixtures.json" "$API" "$T_PKI/ca.crt" "$ADMIN_TOKEN" "$USER_TOKEN" <<'PYEOF' || fail "fixtures"
import json, sys
out, api, ca, admin, user = sys.argv[1:]
json.dump({"base_url": api, "cacert": ca, "tokens": {"admin": admin, "user": user}}, open(out, "w"))
PYEOF
"$PY" "$HERE/check.py" check "$T_DIR/set.json" "$T_DIR/fixtures.json" || fail "answers differ from the set (above)"

# sensor_register is below user: 403 on every backscatter operation
for p in vectors vectors/1 summary counters; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --http2 --cacert "$T_PKI/ca.crt" \
		-H "Authorization: Bearer $REG_TOKEN" "$API/api/v1/backscatter/$p")
	assert_eq "$code" 403 "sensor_register on /api/v1/backscatter/$p"
done
hub_stop
assert_eq "$HUB_RC" 0 "d4hub exit status"
pass "lists, filters, paging, cursors, ids, summaries and counters agree with the set, per role"
