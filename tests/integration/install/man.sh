#!/usr/bin/env bash
# The man pages (man/): mandoc -T lint and groff find nothing to warn about,
# every option that d4hub, d4hubctl and d4-sensor print in --help is in
# their page, and d4hubctl(8) shows frames --with-meta. (Every key of the
# configuration parser is in d4hub.conf(5): unit test test_config.)
# Usage: man.sh MANDIR (D4HUB, D4HUBCTL, D4SENSOR: the programs)
set -euo pipefail
MANDIR=$1
fail() {
	echo "FAIL: man_pages: $*" >&2
	exit 1
}
PAGES=(d4hub.8 d4hubctl.8 d4-sensor.8 d4hub.conf.5)
command -v mandoc >/dev/null || fail "mandoc is not installed (tests/run.sh installs it)"
for p in "${PAGES[@]}"; do
	[ -s "$MANDIR/$p" ] || fail "$MANDIR/$p is missing"
	out=$(mandoc -T lint -W warning "$MANDIR/$p" 2>&1) || fail "mandoc -T lint $p: $out"
	[ -z "$out" ] || fail "mandoc -T lint $p: $out"
	if command -v groff >/dev/null; then
		out=$(groff -mandoc -z -ww "$MANDIR/$p" 2>&1) || fail "groff $p: $out"
		[ -z "$out" ] || fail "groff -mandoc -z -ww $p: $out"
	fi
	if command -v man >/dev/null; then
		out=$(MANWIDTH=100 man -l "$MANDIR/$p" 2>&1 >/dev/null) || fail "man -l $p: $out"
		[ -z "$out" ] || fail "man -l $p: $out"
	fi
done

# every option of --help in the page's text (as rendered)
check_options() { # program page
	local prog=$1 page=$2
	"$prog" --help >"$TMP/help" 2>&1 || true
	mandoc -T ascii -O width=200 "$MANDIR/$page" >"$TMP/page"
	/usr/bin/python3 - "$TMP/help" "$TMP/page" "$page" <<'PYEOF'
import re, sys
help_text = open(sys.argv[1]).read()
page = re.sub(r".\x08", "", open(sys.argv[2]).read())
opts = sorted(set(re.findall(r"(?:(?<=[\s\[(|])|^)(--?[A-Za-z][A-Za-z0-9-]*)", help_text, re.M)))
if len(opts) < 4:
    sys.exit("%s: only %d options found in --help: %s" % (sys.argv[3], len(opts), help_text))
missing = [o for o in opts if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", page)]
if missing:
    sys.exit("%s does not document %s (from --help)" % (sys.argv[3], ", ".join(missing)))
print("%s: %d options of --help documented" % (sys.argv[3], len(opts)))
PYEOF
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
check_options "$D4HUB" d4hub.8 || fail "d4hub.8"
check_options "$D4HUBCTL" d4hubctl.8 || fail "d4hubctl.8"
check_options "$D4SENSOR" d4-sensor.8 || fail "d4-sensor.8"
mandoc -T ascii -O width=200 "$MANDIR/d4hubctl.8" | sed 's/.\x08//g' >"$TMP/ctl"
grep -q "frames --session ID --payload --with-meta" "$TMP/ctl" || fail "d4hubctl.8 does not show frames --with-meta"
echo "PASS: man_pages: ${PAGES[*]} lint-clean, every --help option documented"
