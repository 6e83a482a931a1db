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
# evaluates a python assertion on it as `d`; epoch(ISO) gives the seconds
# of an API time.
json() {
	python3 -c '
import calendar, json, sys, time
epoch = lambda s: calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
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
json 'all("key" not in s and "has_key" not in s for s in d)'
json '{s["uuid"]: s["status"] for s in d}["'$U2'"] == "approved"'
json 'all(s["first_seen"] is None and s["last_seen"] is None and s["packets"] == 0 for s in d)'
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
json '"key" not in d and d["has_key"] is True and d["default_tlp"] is None and d["default_org"] is None'
json 'isinstance(d["rejections"], dict) and d["rejections"].get("hmac-mismatch") == 0'
json 'epoch(d["created"]) > 0 and d["last_seen"] is None and len(d["history"]) == 7'
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
run 1 sensor refuse $U1 && err_has "is not pending (status approved)"
run 0 --json sensor show $U1 && json 'd["status"] == "approved"'
run 2 sensor refuse $U1 --ban 5 && err_has "unknown option '--ban'"
before=$(date +%s)
run 0 sensor kick $U1
run 0 --json sensor show $U1
json 'epoch(d["ban_until"]) >= '"$before"' + 30 and epoch(d["ban_until"]) <= '"$(($(date +%s) + 30))"
run 0 sensor kick $U1 --ban 2h
run 0 --json sensor show $U1
json 'epoch(d["ban_until"]) >= '"$before"' + 7200'
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
json 'all(epoch(e["created"]) > 0 for e in d)'
run 0 block del ip 10.0.0.0/8
run 0 block del uuid $U3
run 0 block del uuid-ips $U1
run 0 --json block list
json 'sorted(e["value"] for e in d) == ["192.0.2.7", "2001:db8::/32"]'
run 1 block del ip 10.0.0.0/8 && err_has "Not Found: no such blocklist entry (HTTP 404)"
run 2 block add ip 300.1.2.3 && err_has "bad address '300.1.2.3'"
run 2 block add ip 10.0.0.0/33 && err_has "bad address"
run 2 block add mac 00:11 && err_has "bad kind 'mac'"
run 2 block add uuid zz && err_has "bad uuid 'zz'"
run 2 block add ip && err_has "missing argument"
run 2 block frob && err_has "unknown sub-command"

# ---- types / ext-types ----------------------------------------------------------------
run 0 --json types list
json 'd["accepted"] == [1, 2, 4, 8, 254] and d["all_ext_types_accepted"] is True'
run 0 types enable 3
run 0 types disable 8
run 0 types list
has "3     log-line"
hasnt "passivedns"
run 0 --json types list && json 'd["accepted"] == [1, 2, 3, 4, 254]'
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
run 1 ext-types del maltrail && err_has "no extended type 'maltrail' in the list"
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
run 1 frames --session $((SID + 1000)) --payload && err_has "Not Found: no session $((SID + 1000))"
[ ! -s "$T/out" ] || fail "frames of an unknown session must print nothing"
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
json 'd[0]["close_reason"] == "test done" and d[0]["peer"] == "127.0.0.1" and d[0]["sensor"] == "'$U2'"'
run 0 --json sessions $U1 && json 'd == []'
run 0 --json stats --days 1
json 'len(d) == 1 and d[0]["sensor"] == "'$U2'" and d[0]["packets"] == 4 and d[0]["bytes"] == 273'
run 0 --json status && json 'd["frames"] == 4 and d["bytes"] == 273 and d["sessions"] == 1'
run 0 --json sensor show $U2
json 'd["packets"] == 4 and d["bytes"] == 273 and d["last_ips"][0]["ip"] == "127.0.0.1"'
json 'd["types"][0]["type"] == 1 and d["types"][0]["packets"] == 4'
run 0 sensor show $U2 && has "last ips:      127.0.0.1"

# ---- del ------------------------------------------------------------------------------
run 0 sensor del $U3
run 1 sensor del $U3 && err_has "no sensor $U3"
run 0 --json sensor list && json 'len(d) == 2'

# ---- refuse (pending registrations only) ------------------------------------------------
U4=bbbbbbbbcccc4dddaeeeffffffffffff
U5=ccccccccdddd4eeeafff000000000000
run 0 sensor add $U4 --gen-key
run 0 sensor add $U5 --gen-key
run 0 sensor refuse $U4
run 1 sensor show $U4 && err_has "no sensor $U4"
run 0 sensor refuse $U5 --block
run 0 --json sensor show $U5 && json 'd["status"] == "blocked"'
run 1 sensor refuse $U5 && err_has "is not pending (status blocked)"
run 0 sensor del $U5
run 0 --json sensor list && json 'len(d) == 2'

# ---- API users and tokens --------------------------------------------------------------
TOKRE='^d4h_[A-Za-z0-9_-]{43}$'
run 0 user list && has "no users"
run 0 --json user list && json 'd == []'
run 0 token list && has "no tokens"
run 0 user add admin --role admin
ATOK=$(cat "$T/out")
[[ "$ATOK" =~ $TOKRE ]] || fail "user add must print one token d4h_ + 43 base64url chars, got '$ATOK'"
AV=$("$HELPER" verify "$S" "$ATOK") || fail "the printed admin token does not verify"
[[ "$AV" =~ ^admin\ admin\ [0-9a-f]{16}$ ]] || fail "admin token verifies as '$AV'"
run 1 user add admin --role user && err_has "Conflict: user 'admin' already exists (HTTP 409)"
run 2 user add bob && err_has "--role is required"
run 2 user add bob --role root && err_has "bad role 'root'"
run 2 user add "a b" --role user && err_has "bad user name 'a b'"
run 2 user add "$(head -c 64 /dev/zero | tr '\0' u)" --role user && err_has "bad user name"
run 0 --json user add ops@example.org --role user --label laptop
json 'd["user"] == "ops@example.org" and d["role"] == "user" and d["label"] == "laptop"'
json 'len(d["id"]) == 16 and all(ch in "0123456789abcdef" for ch in d["id"])'
OTOK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/out")
OID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/out")
[[ "$OTOK" =~ $TOKRE ]] || fail "json token has the wrong format: '$OTOK'"
[ "$("$HELPER" verify "$S" "$OTOK")" = "ops@example.org user $OID" ] || fail "ops token does not verify as ops/user/$OID"
run 0 token create ops@example.org --label "ci job"
OTOK2=$(cat "$T/out")
[[ "$OTOK2" =~ $TOKRE ]] || fail "token create must print one token, got '$OTOK2'"
[ "$OTOK2" != "$OTOK" ] || fail "two tokens with the same text"
"$HELPER" verify "$S" "$OTOK2" >/dev/null || fail "token create: printed token does not verify"
"$HELPER" verify "$S" "${OTOK2%?}A" >/dev/null 2>&1 && [ "${OTOK2: -1}" != A ] && fail "a changed token verifies"
run 1 token create nobody && err_has "no user 'nobody'"
run 2 token create ops@example.org --label "$(head -c 64 /dev/zero | tr '\0' l)" && err_has "--label is too long"
run 2 token create ops@example.org --label "$(printf 'a\tb')" && err_has "control characters"
run 0 user list
has "admin"
has "ops@example.org"
run 0 --json user list
json '[(u["name"], u["role"]) for u in d] == [("admin", "admin"), ("ops@example.org", "user")]'
json 'all(epoch(u["created"]) > 0 for u in d)'
run 0 user list
grep -qE '^admin +admin +[0-9-]+ [0-9:]+ +1$' "$T/out" || fail "user list: admin has 1 token: $(cat "$T/out")"
grep -qE '^ops@example.org +user +[0-9-]+ [0-9:]+ +2$' "$T/out" || fail "user list: ops has 2 tokens: $(cat "$T/out")"
run 0 token list
has "$OID"
has "ci job"
for tk in "$ATOK" "$OTOK" "$OTOK2"; do hasnt "${tk#d4h_}"; done
run 0 --json token list ops@example.org
json 'len(d) == 2 and sorted(t["label"] for t in d) == ["ci job", "laptop"] and all("token" not in t for t in d)'
json 'all(t["user"] == "ops@example.org" and epoch(t["created"]) > 0 for t in d)'
json 'all(epoch(t["last_used"]) > 0 for t in d)' # set by the verifications above
run 0 --json token list && json 'len(d) == 3'
run 1 token list nobody && err_has "no user 'nobody'"
# only hashes are stored: no token text anywhere in the database file
for tk in "$ATOK" "$OTOK" "$OTOK2"; do
	! grep -qF "${tk#d4h_}" "$S/data.mdb" || fail "token text found in $S/data.mdb"
done
run 0 user role ops@example.org admin
[ "$("$HELPER" verify "$S" "$OTOK" | cut -d' ' -f2)" = admin ] || fail "user role: token does not carry the new role"
run 0 --json user role ops@example.org sensor_register
json 'd["name"] == "ops@example.org" and d["role"] == "sensor_register" and epoch(d["created"]) > 0'
run 2 user role ops@example.org god && err_has "bad role 'god'"
run 1 user role nobody user && err_has "Not Found: no user 'nobody' (HTTP 404)"
O2ID=$("$HELPER" verify "$S" "$OTOK2" | cut -d' ' -f3)
run 0 token revoke "$O2ID"
"$HELPER" verify "$S" "$OTOK2" >/dev/null 2>&1 && fail "a revoked token still verifies"
"$HELPER" verify "$S" "$OTOK" >/dev/null || fail "revoking one token must keep the other"
run 1 token revoke "$O2ID" && err_has "Not Found: no token with this id"
run 2 token revoke xyz && err_has "bad token id 'xyz'"
run 0 token revoke "$(echo "$OID" | tr a-f A-F)" # ids are accepted in either case
"$HELPER" verify "$S" "$OTOK" >/dev/null 2>&1 && fail "token revoked by an uppercase id still verifies"
run 0 token create ops@example.org
OTOK3=$(cat "$T/out")
run 0 user del ops@example.org
"$HELPER" verify "$S" "$OTOK3" >/dev/null 2>&1 && fail "a deleted user's token still verifies"
run 1 user del ops@example.org && err_has "no user 'ops@example.org'"
run 0 --json token list && json 'len(d) == 1 and d[0]["user"] == "admin"'
"$HELPER" verify "$S" "$ATOK" >/dev/null || fail "admin token must survive other users' changes"
run 2 user && err_has "missing sub-command"
run 2 user frob && err_has "unknown sub-command 'frob'"
run 2 token frob && err_has "unknown sub-command 'frob'"
"$CTL" --help >"$T/out" 2>&1
has "user add NAME --role"
has "token revoke ID"

# ---- sensor monitoring: silence threshold ----------------------------------------------
run 0 sensor silent && has "no silent sensors"
run 0 sensor set $U1 --silence 1
run 0 sensor set $U2 --silence 1h
run 0 --json sensor show $U1 && json 'd["silence_threshold"] == 1'
run 0 --json sensor show $U2 && json 'd["silence_threshold"] == 3600 and d["description"] == "second"'
run 0 sensor show $U2 && has "silence alert: after 3600 s without data"
sleep 2
run 0 sensor silent
has "$U1"
hasnt "$U2" # seen by the frames above, less than an hour ago
run 0 --json sensor silent
json 'len(d) == 1 and d[0]["uuid"] == "'$U1'" and d[0]["silence_threshold"] == 1 and d[0]["silent_for"] >= 2'
run 0 sensor set $U1 --silence 0
run 0 --json sensor silent && json 'd == []'
run 0 sensor show $U1 && has "silence alert: - (not monitored)"
run 2 sensor set $U1 --silence soon && err_has "bad --silence 'soon'"

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
