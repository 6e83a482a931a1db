#!/bin/bash
# d4hubctl end to end: runs the real binary against a temp store and checks
# outputs, JSON validity, exit codes and error messages.
#   test_ctl.sh D4HUBCTL CTL_HELPER
# CTL_HELPER reads stored keys and writes frames through the store API, so
# that the tool's effects are checked independently of its own output.
set -u
CTL=$1
HELPER=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/d4ctl.XXXXXX")
trap 'rm -rf "$T"' EXIT
S=$T/store
fails=0
n=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# run EXPECTED_RC ARGS...: runs d4hubctl -s $S ARGS, output in $T/out/$T/err.
run() {
	local want=$1
	shift
	n=$((n + 1))
	"$CTL" -s "$S" "$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ "$rc" != "$want" ]; then
		fail "d4hubctl $* -> rc $rc, want $want; stderr: $(cat "$T/err")"
		return 1
	fi
	return 0
}

# Asserts that $T/out (or FILE) contains a fixed string.
has() { grep -qF -- "$1" "${2:-$T/out}" || fail "output lacks '$1': $(head -c 600 "${2:-$T/out}")"; }
hasnt() { ! grep -qF -- "$1" "${2:-$T/out}" || fail "output has '$1'"; }
err_has() { has "$1" "$T/err"; }

# json PY_EXPR: parses $T/out as JSON (must be exactly one document) and
# evaluates a python assertion on it as `d`.
json() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
if not ok:
    print("assertion failed: " + sys.argv[2] + "\n" + json.dumps(d)[:800], file=sys.stderr)
    sys.exit(1)
' "$T/out" "$1" || fail "json check: $1"
}

U1=0123456789ab4def8123456789abcdef
U1D=01234567-89ab-4def-8123-456789abcdef
U2=11111111222243338444555555555555
U3=aaaaaaaabbbb4cccadddeeeeeeeeeeee
ORG=fedcba98765443218fedcba987654321

# ---- usage and errors before any store exists --------------------------------
run 2 || true
err_has "missing command"
"$CTL" sensor list >/dev/null 2>"$T/err"
[ $? = 2 ] || fail "no -c/-s must be a usage error"
has "exactly one of -c HUBCONF or -s STOREDIR" "$T/err"
"$CTL" -s "$S" -c x sensor list >/dev/null 2>"$T/err"
[ $? = 2 ] || fail "-c and -s together must be a usage error"
"$CTL" --help >"$T/out" 2>&1 || fail "--help must exit 0"
has "sensor add UUID"
run 2 bogus && err_has "unknown command 'bogus'"
run 2 sensor && err_has "missing sub-command"
run 2 sensor frobnicate && err_has "unknown sub-command 'frobnicate'"
# Reading a store that does not exist: an error naming the store.
run 1 sensor list && err_has "cannot open store $S"

# ---- sensor add: key, key file, generated key ------------------------------------
run 0 sensor add "$U1D" --key "private key to change" --desc "first sensor"
[ "$("$HELPER" key "$S" $U1)" = "$(printf 'private key to change' | od -An -tx1 | tr -d ' \n')" ] ||
	fail "stored key of U1 differs from --key"
[ ! -s "$T/out" ] || fail "sensor add --key must not print the key: $(cat "$T/out")"
printf 'key from file\n' >"$T/keyfile"
run 0 sensor add $U2 --key-file "$T/keyfile" --approve
[ "$("$HELPER" key "$S" $U2)" = "$(printf 'key from file' | od -An -tx1 | tr -d ' \n')" ] ||
	fail "key file: trailing newline must be stripped"
run 0 sensor add $U3 --gen-key
GEN=$(cat "$T/out")
[[ "$GEN" =~ ^[0-9a-f]{64}$ ]] || fail "generated key must be 64 hex digits, got '$GEN'"
[ "$("$HELPER" key "$S" $U3)" = "$(printf '%s' "$GEN" | od -An -tx1 | tr -d ' \n')" ] ||
	fail "generated key: stored bytes must be the printed text"
# Errors of sensor add.
run 1 sensor add $U1 --key other && err_has "already exists"
run 2 sensor add 0123 --key x && err_has "bad uuid '0123'"
run 2 sensor add 0123456789ab1def8123456789abcdef --key x && err_has "not a version 4 uuid"
run 2 sensor add aaaaaaaabbbb4cccadddeeeeeeeeeee0 && err_has "a key is required"
run 2 sensor add aaaaaaaabbbb4cccadddeeeeeeeeeee0 --key a --gen-key && err_has "only one of"
run 2 sensor add aaaaaaaabbbb4cccadddeeeeeeeeeee0 --key "" && err_has "--key is empty"
run 1 sensor add aaaaaaaabbbb4cccadddeeeeeeeeeee0 --key-file "$T/absent" && err_has "cannot open key file"
: >"$T/empty"
run 1 sensor add aaaaaaaabbbb4cccadddeeeeeeeeeee0 --key-file "$T/empty" && err_has "is empty"
run 2 sensor add aaaaaaaabbbb4cccadddeeeeeeeeeee0 --key "$(head -c 257 /dev/zero | tr '\0' k)" &&
	err_has "too long"
run 2 sensor add aaaaaaaabbbb4cccadddeeeeeeeeeee0 --key x --colour red && err_has "unknown option '--colour'"

# ---- list / show, text and JSON -------------------------------------------------
run 0 sensor list
has "UUID"
has "$U1"
has "$U2"
has "$U3"
has "pending"
has "approved"
hasnt "private key"
hasnt "$GEN"
run 0 --json sensor list
json 'isinstance(d, list) and len(d) == 3'
json '[s["uuid"] for s in d] == sorted(["'$U1'", "'$U2'", "'$U3'"])'
json 'all(s["has_key"] is True and "key" not in s for s in d)'
json '{s["uuid"]: s["status"] for s in d}["'$U2'"] == "approved"'
json 'all(isinstance(s["rejects"], dict) and s["rejects"].get("hmac-mismatch") == 0 for s in d)'
json 'all(s["created"] > 0 and s["created_iso"].endswith("Z") and s["last_seen_iso"] is None for s in d)'
run 0 sensor list --json # --json after the command works too
json 'len(d) == 3'
run 0 sensor show $U1
has "uuid:          $U1"
has "description:   first sensor"
has "status:        pending"
has "key:           set"
hasnt "private key"
run 0 --json sensor show $U1
json 'd["uuid"] == "'$U1'" and d["description"] == "first sensor" and d["types"] == [] and d["last_ips"] == []'
json '"key" not in d and d["default_tlp"] is None and d["default_org"] is None'
run 2 sensor show nothex && err_has "bad uuid 'nothex'"
run 1 sensor show aaaaaaaabbbb4cccadddeeeeeeeeeee0 && err_has "no sensor aaaaaaaabbbb4cccadddeeeeeeeeeee0"

# ---- approve / block / unblock / kick / del ---------------------------------------
run 0 sensor approve $U1
run 0 --json sensor show $U1 && json 'd["status"] == "approved"'
run 0 sensor block $U1
run 0 --json sensor show $U1 && json 'd["status"] == "blocked"'
run 1 sensor approve $U1 && err_has "is blocked"
run 0 sensor unblock $U1
run 0 --json sensor show $U1 && json 'd["status"] == "approved"'
run 1 sensor unblock $U3 && err_has "is not blocked (status pending)"
before=$(date +%s)
run 0 sensor kick $U1
run 0 --json sensor show $U1
json 'd["ban_until"] >= '"$before"' + 30 and d["ban_until"] <= '"$(($(date +%s) + 30))"
run 0 sensor kick $U1 --ban 2h
run 0 --json sensor show $U1
json 'd["ban_until"] >= '"$before"' + 7200 and d["ban_until_iso"].endswith("Z")'
run 0 sensor show $U1 && has "banned until:  2"
run 2 sensor kick $U1 --ban soon && err_has "bad --ban 'soon'"
run 1 sensor kick aaaaaaaabbbb4cccadddeeeeeeeeeee0 && err_has "no sensor"

# ---- set -----------------------------------------------------------------------
run 0 sensor set $U2 --desc "second" --mail "ops@example.org" --tlp TLP:GREEN --org $ORG --max-payload 64K \
	--max-backlog 1M
run 0 --json sensor show $U2
json 'd["description"] == "second" and d["mail"] == "ops@example.org" and d["default_tlp"] == "tlp:green"'
json 'd["default_org"] == "'$ORG'" and d["max_payload"] == 65536 and d["max_backlog"] == 1048576'
run 0 sensor show $U2 && has "default tlp:   tlp:green"
run 0 sensor set $U2 --tlp none --org none
run 0 --json sensor show $U2 && json 'd["default_tlp"] is None and d["default_org"] is None'
run 0 --json sensor show $U2 && json 'd["description"] == "second"' # untouched fields kept
[ "$("$HELPER" key "$S" $U2)" = "$(printf 'key from file' | od -An -tx1 | tr -d ' \n')" ] ||
	fail "sensor set must keep the key"
run 2 sensor set $U2 && err_has "nothing to set"
run 2 sensor set $U2 --tlp tlp:purple && err_has "bad --tlp 'tlp:purple'"
run 2 sensor set $U2 --tlp tlp:unclear && err_has "bad --tlp"
run 2 sensor set $U2 --org 12 && err_has "bad --org '12'"
run 2 sensor set $U2 --max-payload 5G && err_has "bad --max-payload '5G'"
run 2 sensor set $U2 --max-payload
err_has "option --max-payload needs a value"
run 2 sensor set $U2 --desc "$(head -c 300 /dev/zero | tr '\0' d)" && err_has "--desc is too long"
run 1 sensor set aaaaaaaabbbb4cccadddeeeeeeeeeee0 --desc x && err_has "no sensor"

# ---- rotate-key -----------------------------------------------------------------
run 0 sensor rotate-key $U1
NEW=$(cat "$T/out")
[[ "$NEW" =~ ^[0-9a-f]{64}$ ]] || fail "rotate-key must print a 64 hex digit key, got '$NEW'"
[ "$("$HELPER" key "$S" $U1)" = "$(printf '%s' "$NEW" | od -An -tx1 | tr -d ' \n')" ] || fail "rotated key not stored"
run 0 sensor rotate-key $U1 --key "new text key"
[ ! -s "$T/out" ] || fail "rotate-key --key must print nothing"
[ "$("$HELPER" key "$S" $U1)" = "$(printf 'new text key' | od -An -tx1 | tr -d ' \n')" ] || fail "--key not stored"
printf 'crlf key\r\n' >"$T/keyfile2"
run 0 sensor rotate-key $U1 --key-file "$T/keyfile2"
[ "$("$HELPER" key "$S" $U1)" = "$(printf 'crlf key' | od -An -tx1 | tr -d ' \n')" ] || fail "CRLF not stripped"
run 0 --json sensor rotate-key $U3
json 'd["uuid"] == "'$U3'" and len(d["key"]) == 64'
run 0 --json sensor show $U1 && json 'd["status"] == "approved"' # rotation keeps status

# ---- block lists -------------------------------------------------------------------
run 0 block list && has "blocklist empty"
run 0 --json block list && json 'd == []'
run 0 block add ip 10.0.0.0/8
run 0 block add ip 192.0.2.7
run 0 block add ip 2001:db8::/32
run 0 block add uuid $U3
run 0 block add uuid-ips "$U1D"
run 0 block add ip 10.0.0.0/8 # idempotent
run 0 block list
has "10.0.0.0/8"
has "192.0.2.7"
has "2001:db8::/32"
has "uuid      $U3"
has "uuid-ips  $U1"
run 0 --json block list
json 'len(d) == 5'
json 'sorted((e["kind"], e["value"]) for e in d) == sorted([("ip", "10.0.0.0/8"), ("ip", "192.0.2.7"), ("ip", "2001:db8::/32"), ("uuid", "'$U3'"), ("uuid-ips", "'$U1'")])'
json 'all(e["created"] > 0 for e in d)'
run 0 block del ip 10.0.0.0/8
run 0 block del uuid $U3
run 0 block del uuid-ips $U1
run 0 --json block list
json 'sorted(e["value"] for e in d) == ["192.0.2.7", "2001:db8::/32"]'
run 1 block del ip 10.0.0.0/8 && err_has "not on the blocklist"
run 2 block add ip 300.1.2.3 && err_has "bad address '300.1.2.3'"
run 2 block add ip 10.0.0.0/33 && err_has "bad address"
run 2 block add mac 00:11 && err_has "bad kind 'mac'"
run 2 block add uuid zz && err_has "bad uuid 'zz'"
run 2 block add ip && err_has "missing argument"
run 2 block frob && err_has "unknown sub-command"

# ---- types / ext-types ----------------------------------------------------------------
run 0 --json types list
json '[t["type"] for t in d] == [1, 2, 4, 8, 254]'
run 0 types enable 3
run 0 types disable 8
run 0 types list
has "3     log-line"
hasnt "passivedns"
run 0 --json types list && json '[t["type"] for t in d] == [1, 2, 3, 4, 254]'
run 2 types enable 256 && err_has "bad type '256'"
run 2 types enable x && err_has "bad type 'x'"
run 2 types enable 0 && err_has "reserved"
run 0 ext-types list && has "every extended type is accepted"
run 0 --json ext-types list && json 'd == []'
run 0 ext-types add ja3-jl
run 0 ext-types add maltrail
run 0 --json ext-types list && json 'sorted(d) == ["ja3-jl", "maltrail"]'
run 0 ext-types del maltrail
run 0 ext-types list && has "ja3-jl" && hasnt "maltrail"
run 1 ext-types del maltrail && err_has "'maltrail' is not listed"
run 2 ext-types add "a b" && err_has "bad extended type name"
run 2 ext-types add "$(head -c 64 /dev/zero | tr '\0' e)" && err_has "bad extended type name"

# ---- sessions / frames / stats / status on a store without data ----------------------
run 0 sessions && has "no sessions"
run 0 --json sessions && json 'd == []'
run 0 sessions $U1 && has "no sessions"
run 2 sessions nothex && err_has "bad uuid"
run 0 frames && has "no frames"
run 0 --json frames && json 'd == []'
run 0 frames --payload
[ ! -s "$T/out" ] || fail "frames --payload on an empty store must print nothing"
run 2 frames --session x && err_has "bad --session 'x'"
run 2 frames --from -1 && err_has "bad --from '-1'"
run 0 stats && has "no statistics"
run 0 --json stats && json 'd == []'
run 2 stats --days 0 && err_has "bad --days"
run 0 status
has "writer:        not paused"
has "frames:        0"
has "rejections:    none"
has "map:"
run 0 --json status
json 'd["frames"] == 0 and d["sessions"] == 0 and d["paused"] is False and d["map_size"] > 0 and d["map_used"] > 0'
json 'len(d["rejects"]) == 22 and all(v == 0 for v in d["rejects"].values()) and "hmac-mismatch" in d["rejects"]'

# ---- with data: frames written through the store's writer ----------------------------
SID=$("$HELPER" fill "$S" $U2 "$T/expected") || fail "ctl_helper fill failed"
run 0 frames --payload
cmp -s "$T/out" "$T/expected" || fail "frames --payload differs from the stored payloads"
run 0 frames --session "$SID" --payload
cmp -s "$T/out" "$T/expected" || fail "frames --session --payload differs"
run 0 frames --session $((SID + 1000)) --payload
[ ! -s "$T/out" ] || fail "frames of an unknown session must be empty"
run 0 frames
[ "$(grep -c "$U2" "$T/out")" = 4 ] || fail "frames: want 4 lines for $U2: $(cat "$T/out")"
has "tlp:amber"
run 0 --json frames
json 'len(d) == 4 and [f["size"] for f in d] == [12, 256, 0, 5] and all(f["uuid"] == "'$U2'" for f in d)'
json 'all(f["session"] == '"$SID"' and f["type"] == 1 and f["hdr_ts_iso"].endswith("Z") for f in d)'
run 0 --json frames --from 2
json '[f["size"] for f in d] == [256, 0, 5] and d[0]["seq"] == 2'
run 0 sessions
has "test done"
has "$U2"
run 0 --json sessions $U2
json 'len(d) == 1 and d[0]["id"] == '"$SID"' and d[0]["frames"] == 4 and d[0]["bytes"] == 273'
json 'd[0]["close_reason"] == "test done" and d[0]["addr"] == "127.0.0.1" and d[0]["port"] == 40000'
run 0 --json sessions $U1 && json 'd == []'
run 0 --json stats --days 1
json 'len(d) == 1 and d[0]["uuid"] == "'$U2'" and d[0]["packets"] == 4 and d[0]["bytes"] == 273'
run 0 --json status && json 'd["frames"] == 4 and d["bytes"] == 273 and d["sessions"] == 1'
run 0 --json sensor show $U2
json 'd["packets"] == 4 and d["bytes"] == 273 and d["last_ips"][0]["addr"] == "127.0.0.1"'
json 'd["types"][0]["type"] == 1 and d["types"][0]["packets"] == 4'
run 0 sensor show $U2 && has "last ips:      127.0.0.1"

# ---- del ------------------------------------------------------------------------------
run 0 sensor del $U3
run 1 sensor del $U3 && err_has "no sensor $U3"
run 0 --json sensor list && json 'len(d) == 2'

# ---- -c HUBCONF: store.path resolved against the config's folder --------------------
mkdir -p "$T/etc"
cat >"$T/etc/d4hub.conf" <<EOF
[hub]
uuid = $U1
org = $ORG
[ingest]
cert = hub.crt
key = hub.key
[store]
path = ../store
EOF
(cd / && "$CTL" -c "$T/etc/d4hub.conf" --json sensor list) >"$T/out" 2>"$T/err" || fail "-c: $(cat "$T/err")"
json 'len(d) == 2'
printf '[store]\nbogus = 1\n' >"$T/etc/bad.conf"
"$CTL" -c "$T/etc/bad.conf" sensor list >/dev/null 2>"$T/err"
[ $? = 1 ] || fail "bad config must exit 1"
has "$T/etc/bad.conf:2: unknown key 'bogus'" "$T/err"

echo "test_ctl: $n d4hubctl runs, $fails failure(s)"
[ "$fails" = 0 ]
