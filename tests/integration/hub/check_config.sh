#!/usr/bin/env bash
# d4hub -n: "configuration OK" and 0 on a good config (without opening the
# store); 1 and a message for a key/cert mismatch, a missing file, an unknown
# key, a bad value.
source "$(dirname "$0")/../lib.sh"

t_conf
check() { # expected-rc config-file; output in $OUT
	local rc=0
	OUT=$("$D4HUB" -n -c "$2" 2>&1) || rc=$?
	[ "$rc" -eq "$1" ] || fail "d4hub -n -c $(basename "$2"): exit $rc, expected $1; output: $OUT"
	[ "$1" -eq 0 ] || [ -n "$OUT" ] || fail "d4hub -n -c $(basename "$2"): no message"
}

check 0 "$T_CONF"
assert_contains "$OUT" "configuration OK" "good config"
[ ! -e "$T_DIR/store" ] || fail "d4hub -n created/opened the store"
log "good config: $OUT"
# what it would listen on: this test's ingest address, the API's port 0
assert_contains "$OUT" "D4 ingest:   $T_DEST (ingest.listen" "ingest address"
assert_contains "$OUT" "REST API:    $T_ADDR:0 (api.listen, HTTPS; port 0" "API address"
assert_contains "$OUT" "federation:  not listening" "federation"

variant() { # name sed-expression: prints the path of a modified copy
	sed "$2" "$T_CONF" >"$T_DIR/$1.conf"
	cmp -s "$T_CONF" "$T_DIR/$1.conf" && fail "variant $1: sed changed nothing"
	echo "$T_DIR/$1.conf"
}

check 0 "$(variant apioff 's#^\[api\]#[api]\nenabled = no#')"
assert_contains "$OUT" "REST API:    off" "API off"

check 1 "$(variant mismatch 's#^key = pki/hub.key#key = pki/sensor.key#')"
log "key/cert mismatch: $OUT"

check 1 "$(variant othercert 's#^cert = pki/hub.crt#cert = pki/other-hub.crt#')"
log "certificate of another key: $OUT"

check 1 "$(variant missing 's#^cert = pki/hub.crt#cert = pki/no-such-file.crt#')"
assert_contains "$OUT" "no-such-file.crt" "missing file message"
log "missing file: $OUT"

check 1 "$(variant badkey 's#^\[ingest\]#[ingest]\nmax_payloadd = 5#')"
assert_contains "$OUT" "max_payloadd" "unknown key message"
log "unknown key: $OUT"

check 1 "$(variant badvalue 's#^\[ingest\]#[ingest]\nheader_timeout = soon#')"
log "bad value: $OUT"

check 1 "$T_DIR/does-not-exist.conf"
log "missing config file: $OUT"

rc=0
"$D4HUB" -n >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "d4hub -n without -c exited 0"

# --help: exit 0 and the usage on stdout, for each program
for prog in "$D4HUB" "$D4HUBCTL" "$D4SENSOR"; do
	for opt in --help -h; do
		rc=0
		OUT=$("$prog" $opt 2>/dev/null) || rc=$?
		[ $rc -eq 0 ] || fail "$(basename "$prog") $opt exited $rc"
		assert_contains "$OUT" "usage" "$(basename "$prog") $opt on stdout"
	done
done
rc=0
"$D4HUB" --bogus >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "d4hub with an unknown option"
pass
