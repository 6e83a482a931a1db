#!/usr/bin/env bash
# The hub's federation identity: d4hub -n checks [federation] cert (EKU
# serverAuth+clientAuth, SAN urn:uuid of the hub, key, validity, chain to
# federation.ca) with one message per failure; certificates from
# deploy/mkpki.sh's "hub" mode pass. hub.uuid / hub.org absent: generated at
# the first start, kept in the store across restarts, used by -n and by
# d4hubctl's dry run; a configured value wins and a change is logged.
source "$(dirname "$0")/../lib.sh"

t_conf
"$MKPKI" "$T_PKI" hub fed "$HUB_UUID" || fail "mkpki hub fed"
OTHER_UUID=$(gen_uuid)
"$MKPKI" "$T_PKI" hub wrong "$OTHER_UUID" || fail "mkpki hub wrong"
"$MKPKI" "$T_PKI" hub fed2 "$HUB_UUID" org2 || fail "mkpki hub fed2 (another org's CA)"

# A certificate issued by the org CA with chosen extensions and validity.
leaf() { # name days extensions...
	local name=$1 days=$2
	shift 2
	printf '%s\n' "$@" >"$T_DIR/$name.ext"
	openssl req -new -key "$T_PKI/fed.key" -subj "/CN=$name" -out "$T_DIR/$name.csr" 2>/dev/null &&
		openssl x509 -req -in "$T_DIR/$name.csr" -CA "$T_PKI/org-ca.crt" -CAkey "$T_PKI/org-ca.key" \
			-days "$days" -extfile "$T_DIR/$name.ext" -out "$T_PKI/$name.crt" 2>/dev/null || fail "leaf $name"
}
URN="URI:urn:uuid:$(echo "$HUB_UUID" | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/')"
leaf expired -1 "extendedKeyUsage = serverAuth,clientAuth" "subjectAltName = $URN"
leaf serveronly 30 "extendedKeyUsage = serverAuth" "subjectAltName = $URN"
leaf noeku 30 "subjectAltName = $URN"

check() { # expected-rc config-file; output in $OUT
	local rc=0
	OUT=$("$D4HUB" -n -c "$2" 2>&1) || rc=$?
	[ "$rc" -eq "$1" ] || fail "d4hub -n -c $(basename "$2"): exit $rc, expected $1; output: $OUT"
}
fed() { # name cert key [ca]: a copy of the config with a [federation] section
	cp "$T_CONF" "$T_DIR/$1.conf"
	printf '[federation]\nlisten = %s:0\ncert = pki/%s\nkey = pki/%s\n' "$T_ADDR" "$2" "$3" >>"$T_DIR/$1.conf"
	[ -z "${4:-}" ] || printf 'ca = pki/%s\n' "$4" >>"$T_DIR/$1.conf"
	sed -i 's/^listen = \(.*\):0$/listen = \1:1/' "$T_DIR/$1.conf" # -n: a port is needed, nothing binds
	echo "$T_DIR/$1.conf"
}

check 0 "$(fed good fed.crt fed.key org-ca.crt)"
assert_contains "$OUT" "configuration OK"
check 0 "$(fed good-noca fed.crt fed.key)"
check 1 "$(fed san wrong.crt wrong.key org-ca.crt)"
assert_contains "$OUT" "does not name this hub: subjectAltName ${URN} (hub.uuid) is missing"
check 1 "$(fed eku-client sensor.crt sensor.key)"
assert_contains "$OUT" "lacks extended key usage serverAuth"
check 1 "$(fed eku-server serveronly.crt fed.key org-ca.crt)"
assert_contains "$OUT" "lacks extended key usage clientAuth"
check 1 "$(fed eku-none noeku.crt fed.key org-ca.crt)"
assert_contains "$OUT" "lacks extended key usage serverAuth+clientAuth"
check 1 "$(fed expired expired.crt fed.key org-ca.crt)"
assert_contains "$OUT" "expired on"
check 1 "$(fed keymismatch fed.crt hub.key org-ca.crt)"
assert_contains "$OUT" "does not match federation.cert"
check 1 "$(fed chain fed2.crt fed2.key org-ca.crt)"
assert_contains "$OUT" "does not chain to federation.ca"
check 1 "$(fed missing no-such.crt fed.key)"
assert_contains "$OUT" "no-such.crt"
cp "$T_CONF" "$T_DIR/nokey.conf"
printf '[federation]\ncert = pki/fed.crt\n' >>"$T_DIR/nokey.conf"
check 1 "$T_DIR/nokey.conf"
assert_contains "$OUT" "federation.cert and federation.key are given together"
[ ! -e "$T_DIR/store" ] || fail "d4hub -n created the store"
log "every federation certificate failure has its message"

# ---- identity kept in the store
sed -i '/^uuid = /d; /^org = /d' "$T_CONF"
# -n before the first start: nothing to check the SAN against yet
check 1 "$(fed early fed.crt fed.key org-ca.crt)"
assert_contains "$OUT" "has none yet"
[ ! -e "$T_DIR/store/data.mdb" ] || fail "d4hub -n created the store"
hub_start
started() { grep -q "hub uuid [0-9a-f]\{32\} (kept in the store), org uuid [0-9a-f]\{32\} (kept in the store)" "$T_LOG"; }
wait_until 10 started || fail "no identity line in the hub log"
GEN=$(grep -o "hub uuid [0-9a-f]\{32\}" "$T_LOG" | tail -n 1 | cut -d' ' -f3)
GORG=$(grep -o "org uuid [0-9a-f]\{32\}" "$T_LOG" | tail -n 1 | cut -d' ' -f3)
[ "$GEN" != "$HUB_UUID" ] || fail "the generated uuid is the old configured one"
hub_stop
hub_start
wait_until 10 started || fail "no identity line after the restart"
assert_eq "$(grep -o "hub uuid [0-9a-f]\{32\}" "$T_LOG" | tail -n 1 | cut -d' ' -f3)" "$GEN" "hub uuid after a restart"
# d4hubctl's dry run uses the kept identity
ctl partner add b --url https://127.0.0.2:8444 --hub "$(gen_uuid)" --org "$GORG" --relation same-org \
	--pin "$(printf '%064d' 3)" --file <(echo '{"outbound": {"frames": {"enabled": true, "max_tlp": "tlp:amber+strict"}}}') ||
	fail "partner add"
out=$(ctl --json partner dry-run b --kind frames --tlp tlp:amber+strict)
assert_eq "$(echo "$out" | json 'd["decision"], d["provenance"]["origin"], d["provenance"]["org"]')" \
	"[\"release\", \"$GEN\", \"$GORG\"]" "dry run with the kept identity"
hub_stop
# -n checks the certificate against the kept uuid
"$MKPKI" "$T_PKI" hub gen "$GEN" || fail "mkpki hub gen"
check 0 "$(fed kept gen.crt gen.key org-ca.crt)"
check 1 "$(fed kept-wrong fed.crt fed.key org-ca.crt)"
assert_contains "$OUT" "does not name this hub"
# a configured uuid wins over the kept one, loudly
sed -i "s/^\[hub\]/[hub]\nuuid = $OTHER_UUID/" "$T_CONF"
hub_start
changed() { grep -q "the configured hub.uuid differs from the one the store kept" "$T_LOG"; }
wait_until 10 changed || fail "no warning for a changed hub.uuid"
assert_contains "$(grep "hub uuid" "$T_LOG" | tail -n 1)" "hub uuid $OTHER_UUID (configured)"
hub_stop
pass
