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

variant() { # name sed-expression: prints the path of a modified copy
	sed "$2" "$T_CONF" >"$T_DIR/$1.conf"
	cmp -s "$T_CONF" "$T_DIR/$1.conf" && fail "variant $1: sed changed nothing"
	echo "$T_DIR/$1.conf"
}

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
pass
