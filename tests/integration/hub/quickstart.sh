#!/usr/bin/env bash
# deploy/quickstart.sh as a user runs it, on this test's ports (picked at run
# time) and temp dir:
#  - its install and build steps run (bootstrap.sh and cmake, made cheap by
#    stand-ins first in PATH: a cmake that prints build noise and links the
#    already built binaries, a dpkg-query that reports every package
#    installed): their output must land in the log file, never on the screen,
#    and the screen stays short;
#  - a failing build shows the log's path and its last lines, not all of it;
#  - the hub starts, both samples are fed and stored exactly, the passive-DNS
#    answer it shows has each record once (the capture and the passivedns log
#    do not hold the same answers in two forms);
#  - every command printed under "Try" works as printed while the hub runs;
#  - SIGTERM (what Ctrl-C does) stops the hub and frees both ports.
source "$(dirname "$0")/../lib.sh"

QS=$(cd "$(dirname "$0")/../../.." && pwd)/deploy/quickstart.sh
CSV=$D4_TEST_DATA/dns/quickstart-resolver2.passivedns.csv
DEMO=$T_DIR/demo
BDIR=$T_DIR/build
API_PORT=$(free_port)

# ---- stand-ins for the package manager and the build ------------------------------
mkdir -p "$T_DIR/bin"
cat >"$T_DIR/bin/dpkg-query" <<'EOF'
#!/bin/sh
printf 'ii '
EOF
cat >"$T_DIR/bin/cmake" <<EOF
#!/usr/bin/env bash
# configure or build; QS_BUILD_FAIL=1 makes the build fail
case " \$* " in
*" --build "*)
	for i in \$(seq 1 120); do
		echo "[ \$i%] Building C object NOISE-BUILD-LINE-\$i"
		echo "warning: NOISE-BUILD-STDERR-\$i" >&2
	done
	if [ "\${QS_BUILD_FAIL:-0}" = 1 ]; then
		echo "error: NOISE-BUILD-FAILED-HERE" >&2
		exit 2
	fi
	mkdir -p "$BDIR/hub/ctl" "$BDIR/sensor"
	ln -sf "$D4HUB" "$BDIR/hub/d4hub"
	ln -sf "$D4HUBCTL" "$BDIR/hub/ctl/d4hubctl"
	ln -sf "$D4SENSOR" "$BDIR/sensor/d4-sensor"
	;;
*)
	echo "-- NOISE-CONFIGURE \$*"
	;;
esac
EOF
chmod +x "$T_DIR/bin/dpkg-query" "$T_DIR/bin/cmake"
export PATH=$T_DIR/bin:$PATH
# the binaries come from the (stand-in) build folder, as for a user
QS_ENV=(env -u D4HUB -u D4HUBCTL -u D4SENSOR D4_DEMO_DIR="$DEMO" D4_DEMO_PORT="$T_PORT"
	D4_DEMO_API_PORT="$API_PORT" D4_BUILD_DIR="$BDIR" JOBS=1)

# ---- a failing build: the log's path and its tail, nothing else --------------------
rc=0
(cd "$T_DIR" && QS_BUILD_FAIL=1 "${QS_ENV[@]}" timeout 60 bash "$QS" --no-wait >"$T_DIR/fail.out" 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "the quickstart succeeded with a failing build"
grep -q "building failed; the last lines of demo/quickstart.log" "$T_DIR/fail.out" ||
	fail "a failed build does not name its log: $(cat "$T_DIR/fail.out")"
grep -q "NOISE-BUILD-FAILED-HERE" "$T_DIR/fail.out" || fail "a failed build does not show the log's last lines"
if grep -q "NOISE-BUILD-LINE-1\$\|NOISE-CONFIGURE" "$T_DIR/fail.out"; then
	fail "a failed build printed the whole log"
fi
assert_ge 40 "$(wc -l <"$T_DIR/fail.out")" "lines printed on a failed build"
grep -q "NOISE-BUILD-LINE-1\$" "$DEMO/quickstart.log" || fail "the build's output is not in demo/quickstart.log"

# ---- the demo, as a user runs it (waits for Ctrl-C) --------------------------------
(cd "$T_DIR" && exec "${QS_ENV[@]}" bash "$QS") >"$T_DIR/qs.out" 2>&1 &
QS_PID=$!
T_BG+=("$QS_PID")
qs_ready() { grep -q "Ctrl-C stops it" "$T_DIR/qs.out"; }
qs_gone() { ! kill -0 "$QS_PID" 2>/dev/null; }
wait_until 100 eval 'qs_ready || qs_gone' || fail "the quickstart did not get ready within 100 s"
qs_ready || {
	cat "$T_DIR/qs.out" >&2
	fail "the quickstart exited before it was ready"
}
cp "$DEMO/d4hub.log" "$T_LOG" 2>/dev/null || true

# no install or build noise on the screen; it is in the log, whose path is printed
if grep -q "NOISE-\|bootstrap: " "$T_DIR/qs.out"; then
	fail "install or build output on the screen: $(grep -m3 "NOISE-\|bootstrap: " "$T_DIR/qs.out")"
fi
grep -q "NOISE-BUILD-LINE-120" "$DEMO/quickstart.log" || fail "the build's output is not in the log"
grep -q "NOISE-BUILD-STDERR-120" "$DEMO/quickstart.log" || fail "the build's errors are not in the log"
grep -q "NOISE-CONFIGURE .*-DD4_TESTS=OFF" "$DEMO/quickstart.log" || fail "configured with the tests (needs test-only packages)"
grep -q "bootstrap: all .* packages installed" "$DEMO/quickstart.log" || fail "bootstrap.sh's output is not in the log"
grep -q "log: demo/quickstart.log" "$T_DIR/qs.out" || fail "the log's path is not printed"
lines=$(wc -l <"$T_DIR/qs.out")
assert_ge 45 "$lines" "lines printed by the quickstart (short)"

TOKEN=$(sed -n '/^API token/{n;s/^  //p}' "$T_DIR/qs.out")
case $TOKEN in d4h_*) ;; *) fail "no API token printed: '$TOKEN'" ;; esac
grep -q "^Web page: *https://127.0.0.1:$API_PORT/ " "$T_DIR/qs.out" || fail "the web page's URL is not printed"
grep -q "^REST API: *https://127.0.0.1:$API_PORT/api/v1/ .*openapi.yaml" "$T_DIR/qs.out" || fail "the API's URLs are not printed"
grep -q "^D4 sensors: *127.0.0.1:$T_PORT " "$T_DIR/qs.out" || fail "the ingest address is not printed"
curl -sS --fail --cacert "$DEMO/pki/ca.crt" -o "$T_DIR/page.html" "https://127.0.0.1:$API_PORT/" ||
	fail "the printed web page URL does not answer"
grep -qi "<html" "$T_DIR/page.html" || fail "the printed web page URL does not serve the page"

# ---- what was stored --------------------------------------------------------------
T_CONF=$DEMO/d4hub.conf
SENSOR=$(ctl --json sensor list | json "d[0]['uuid']")
grep -q "demo sensor $SENSOR sent" "$T_DIR/qs.out" || fail "the demo sensor is not named"
ctl --json sessions >"$T_DIR/sessions.json"
assert_eq "$(json "len(d)" <"$T_DIR/sessions.json")" 2 "sessions"
assert_eq "$(json "sorted(s['type'] for s in d)" <"$T_DIR/sessions.json")" "[1, 8]" "session types"
S8=$(json "[s['id'] for s in d if s['type'] == 8][0]" <"$T_DIR/sessions.json")
ctl frames --session "$S8" --payload >"$T_DIR/csv"
cmp "$T_DIR/csv" "$CSV" || fail "type-8 payload differs from the CSV"
S1=$(json "[s['id'] for s in d if s['type'] == 1][0]" <"$T_DIR/sessions.json")
ctl frames --session "$S1" --payload >"$T_DIR/pcap"
n_in=$(tcpdump -nr "$D4_TEST_DATA/dns/local-dns.pcap" 2>/dev/null | wc -l)
n_out=$(tcpdump -nr "$T_DIR/pcap" 2>/dev/null | wc -l)
assert_ge "$n_in" 1 "packets in the sample"
assert_eq "$n_out" "$n_in" "packets in the stored capture"

# ---- the passive-DNS answer shown: each record once --------------------------------
sed -n '/^== passive DNS for example.test/,/^$/{/^{/p}' "$T_DIR/qs.out" >"$T_DIR/pdns.shown"
# one record twice: the same rrtype and rdata, or one rdata the other's
# name-only form (passivedns's MX/SRV target, SOA MNAME) or a cut TXT
"$PY" - "$T_DIR/pdns.shown" <<'PYEOF' || fail "the passive-DNS answer shown is wrong"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 6, "%d records shown, expected the 6 of example.test." % len(rows)
seen = {}
for r in rows:
    assert r["rrname"] == "example.test.", r
    seen.setdefault(r["rrtype"], []).append(r["rdata"])
for t, rds in seen.items():
    assert len(rds) == 1, "%s shown %d times: %s" % (t, len(rds), rds)
assert seen["MX"] == ["10 mail.example.test."], seen["MX"]
assert seen["SOA"][0].startswith("ns1.example.test. hostmaster."), seen["SOA"]
a = [r for r in rows if r["rrtype"] == "A"][0]
# seen by the capture and by the second resolver: one record, both counted
assert a["rdata"] == "192.0.2.10" and a["count"] == 2, a
PYEOF

# ---- every printed command works as printed -----------------------------------------
sed -n '/^Try (from this folder/,/^$/{/^  /s/^  //p}' "$T_DIR/qs.out" >"$T_DIR/cmds"
assert_eq "$(wc -l <"$T_DIR/cmds")" 10 "commands printed under Try"
i=0
while IFS= read -r cmd; do
	i=$((i + 1))
	out=$T_DIR/cmd$i.out
	(cd "$T_DIR" && bash -c "set -o pipefail; $cmd") >"$out" 2>"$out.err" </dev/null ||
		fail "printed command $i failed: $cmd: $(cat "$out.err")"
	case $cmd in
	*/api/v1/sensors) grep -q "\"$SENSOR\"" "$out" || fail "$cmd: no demo sensor" ;;
	*/pdns/query/example.test) assert_eq "$(grep -c '"rrname":"example.test."' "$out")" 6 "$cmd" ;;
	*rrset/name/*) grep -q '"rrname":"cdn.example.test."' "$out" && grep -q '"cond":"succeeded"' "$out" ||
		fail "$cmd: $(cat "$out")" ;;
	*rdata/ip/*) grep -q '"rdata":"192.0.2.50"' "$out" || fail "$cmd: $(cat "$out")" ;;
	*openapi.yaml) grep -q '^openapi: 3' "$DEMO/openapi.yaml" || fail "$cmd: not the OpenAPI file" ;;
	*" sessions") assert_eq "$(grep -c 'peer closed' "$out")" 2 "$cmd" ;;
	*"--session 2 --payload") cmp "$out" "$CSV" || fail "$cmd: not the passivedns log" ;;
	*"capture.pcap")
		assert_eq "$(tcpdump -nr "$DEMO/capture.pcap" 2>/dev/null | wc -l)" "$n_in" "$cmd: packets"
		;;
	*"sensor list") grep -q "$SENSOR" "$out" || fail "$cmd: $(cat "$out")" ;;
	*d4-sensor*)
		# a third session, stored and closed
		three() { [ "$(ctl sessions | grep -c 'peer closed')" = 3 ]; }
		wait_for 30 "the printed d4-sensor command's session stored" three
		;;
	*) fail "printed command not checked: $cmd" ;;
	esac
done <"$T_DIR/cmds"

# ---- Ctrl-C (SIGTERM here: a background job ignores SIGINT) stops it cleanly --------
kill -TERM "$QS_PID"
wait_for 30 "the quickstart exited" qs_gone
wait "$QS_PID" && rc=0 || rc=$?
assert_eq "$rc" 0 "the quickstart's exit status after Ctrl-C"
grep -q "d4hub stopped" "$T_DIR/qs.out" || fail "quickstart did not stop the hub"
if ss -Hltn "sport = :$T_PORT" | grep -q .; then fail "something still listens on $T_PORT"; fi
if ss -Hltn "sport = :$API_PORT" | grep -q .; then fail "something still listens on $API_PORT"; fi
pass "quickstart: $lines lines on screen, build output in its log, $n_in packets + $(wc -l <"$CSV") passivedns lines stored, each pDNS record once, the 10 printed commands work, hub stopped"
