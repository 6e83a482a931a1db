#!/usr/bin/env bash
# `cmake --install` of this build into a temp DESTDIR (prefix /usr/local):
#  - exactly the programs meant for users (docs/install.md), the OpenAPI
#    file, the web page, the example configuration, the man pages, the
#    systemd unit (ExecStart at the installed d4hub) and its sysusers file;
#  - no path of the source or build tree in any installed file (strings);
#  - the installed d4hub checks a configuration (-n) and runs a hub, from
#    another working folder, that serves the web page and /openapi.yaml
#    identical to the installed files (both built in), and d4hubctl and
#    d4-sensor from the install work with it;
#  - the unit passes `systemd-analyze verify` and its `security` exposure is
#    at most 2.0 (docs/install.md gives the figure), when systemd-analyze is
#    there.
# Usage: install.sh SOURCE_DIR BUILD_DIR
source "$(dirname "$0")/../lib.sh"

SRC=$(cd "$1" && pwd -P)
BLD=$(cd "$2" && pwd -P)
DEST=$T_DIR/dest
PREFIX=/usr/local
ROOTP=$DEST$PREFIX

DESTDIR=$DEST cmake --install "$BLD" --prefix "$PREFIX" >"$T_DIR/install.log" 2>&1 ||
	fail "cmake --install: $(tail -n 5 "$T_DIR/install.log")"

# ---- what is installed ---------------------------------------------------------------
[ -z "$(find "$DEST" -path "$ROOTP" -prune -o -print | grep -v "^$DEST\$" | grep -v "^$DEST/usr\$")" ] ||
	fail "files outside the prefix: $(find "$DEST" -path "$ROOTP" -prune -o -print | head)"
progs=$(cd "$ROOTP" && find bin sbin -type f | sort | tr '\n' ' ')
assert_eq "$progs" "bin/d4-backscatter bin/d4-pdns bin/d4-sensor bin/d4-tls bin/d4hubctl sbin/d4hub " "installed programs"
for f in share/d4hub/openapi/d4hub.yaml share/doc/d4hub/d4hub.conf.example share/doc/d4hub/README.md \
	share/man/man8/d4hub.8 share/man/man8/d4hubctl.8 share/man/man8/d4-sensor.8 share/man/man5/d4hub.conf.5 \
	lib/systemd/system/d4hub.service lib/sysusers.d/d4hub.conf; do
	[ -s "$ROOTP/$f" ] || fail "$PREFIX/$f is not installed"
done
cmp "$ROOTP/share/d4hub/openapi/d4hub.yaml" "$SRC/openapi/d4hub.yaml" || fail "the installed OpenAPI file differs"
cmp "$ROOTP/share/doc/d4hub/d4hub.conf.example" "$SRC/deploy/d4hub.conf.example" || fail "the example differs"
for w in "$SRC"/api/web/*.html "$SRC"/api/web/*.js "$SRC"/api/web/*.css; do
	cmp "$w" "$ROOTP/share/d4hub/web/${w##*/}" || fail "web asset ${w##*/} not installed as it is"
done
grep -qx "ExecStart=$PREFIX/sbin/d4hub -d -c /etc/d4hub/d4hub.conf" "$ROOTP/lib/systemd/system/d4hub.service" ||
	fail "the unit does not start the installed d4hub: $(grep ExecStart "$ROOTP/lib/systemd/system/d4hub.service")"
if command -v man >/dev/null; then
	MANWIDTH=80 man -l "$ROOTP/share/man/man8/d4hubctl.8" 2>/dev/null | grep -q -- "--with-meta" ||
		fail "the installed d4hubctl(8) does not render"
fi

# ---- no path of the source or build tree in any installed file ----------------------
# Not in a sanitizer build: GCC writes UBSan's source locations with the
# absolute file name (-ffile-prefix-map does not reach them), and such a
# build is never shipped. The release build of tests/run.sh checks it.
paths="no tree path in"
n=0
if [ "${D4_SANITIZED:-0}" = 1 ]; then
	echo "it_install: sanitizer build, the source-path check is left to the release build"
	paths="source paths not checked (sanitizer build) in"
	n=$(find "$DEST" -type f | wc -l)
else
	command -v strings >/dev/null || fail "strings (binutils) is needed"
	while IFS= read -r -d '' f; do
		n=$((n + 1))
		# through a file: with pipefail, `strings | grep -q` fails when grep
		# stops reading early (SIGPIPE), and a path found would go unseen
		strings -a "$f" >"$T_DIR/strings" || fail "strings ${f#"$DEST"}"
		for p in "$SRC" "$BLD"; do
			if grep -qF "$p" "$T_DIR/strings"; then
				fail "${f#"$DEST"} holds the path $p: $(grep -F "$p" "$T_DIR/strings" | head -n 3)"
			fi
		done
	done < <(find "$DEST" -type f -print0)
	assert_ge "$n" 20 "installed files checked"
fi

# ---- the installed programs ------------------------------------------------------------
D4HUB=$ROOTP/sbin/d4hub
D4HUBCTL=$ROOTP/bin/d4hubctl
D4SENSOR=$ROOTP/bin/d4-sensor
"$D4HUB" --help >"$T_DIR/help" 2>&1 || fail "installed d4hub --help: $(cat "$T_DIR/help")"
t_conf
# from a folder that has nothing of the tree
cd "$T_DIR/dest" || fail "cd"
"$D4HUB" -n -c "$T_CONF" >"$T_DIR/n.out" 2>&1 || fail "installed d4hub -n: $(cat "$T_DIR/n.out")"
grep -q "configuration OK" "$T_DIR/n.out" || fail "d4hub -n: $(cat "$T_DIR/n.out")"
if grep -qi "warning" "$T_DIR/n.out"; then fail "d4hub -n warns: $(cat "$T_DIR/n.out")"; fi
hub_start
URL=$(api_url)
curl -sS --fail --cacert "$T_PKI/ca.crt" -o "$T_DIR/spec" "$URL/openapi.yaml" || fail "GET /openapi.yaml"
cmp "$T_DIR/spec" "$ROOTP/share/d4hub/openapi/d4hub.yaml" || fail "/openapi.yaml is not the installed description"
curl -sS --fail --cacert "$T_PKI/ca.crt" -o "$T_DIR/index" "$URL/" || fail "GET /"
cmp "$T_DIR/index" "$ROOTP/share/d4hub/web/index.html" || fail "/ is not the web page"
for w in "$ROOTP"/share/d4hub/web/*.js "$ROOTP"/share/d4hub/web/*.css; do
	curl -sS --fail --cacert "$T_PKI/ca.crt" -o "$T_DIR/asset" "$URL/static/${w##*/}" || fail "GET /static/${w##*/}"
	cmp "$T_DIR/asset" "$w" || fail "/static/${w##*/} is not the installed file"
done
# the installed d4hubctl and d4-sensor with it
sensor_new
printf 'one line\n' | "$D4SENSOR" -u "$SENSOR_UUID" -k "$SENSOR_KEY" -t 8 -D "$T_DEST" --ca "$T_PKI/ca.crt" 2>>"$T_DIR/sensor.log" ||
	fail "installed d4-sensor: $(cat "$T_DIR/sensor.log")"
one() { [ "$(ctl frames --session 1 --payload 2>/dev/null)" = "one line" ]; }
wait_for 30 "the installed d4-sensor's line stored" one
hub_stop
assert_eq "$HUB_RC" 0 "installed d4hub's exit status"

# an explicit api.spec serves that file instead
printf 'openapi: 3.1.0\ninfo: {title: other, version: "1"}\npaths: {}\n' >"$T_DIR/other.yaml"
printf 'spec = %s\n' "$T_DIR/other.yaml" >>"$T_CONF"
hub_start
curl -sS --fail --cacert "$T_PKI/ca.crt" -o "$T_DIR/spec2" "$URL/openapi.yaml" || fail "GET /openapi.yaml (api.spec)"
cmp "$T_DIR/spec2" "$T_DIR/other.yaml" || fail "api.spec is not served"
hub_stop

# ---- the systemd unit ------------------------------------------------------------------
sd=""
if command -v systemd-analyze >/dev/null; then
	UNIT=$ROOTP/lib/systemd/system/d4hub.service
	# verify resolves ExecStart and the man pages on this machine: a copy that
	# names the installed files where they are now
	mkdir -p "$T_DIR/unit"
	sed "s#$PREFIX/sbin/d4hub#$ROOTP/sbin/d4hub#g" "$UNIT" >"$T_DIR/unit/d4hub.service"
	(cd "$T_DIR/unit" && MANPATH=$ROOTP/share/man systemd-analyze verify ./d4hub.service) >"$T_DIR/verify" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$T_DIR/verify")"
	[ ! -s "$T_DIR/verify" ] || fail "systemd-analyze verify: $(cat "$T_DIR/verify")"
	(cd "$T_DIR/unit" && systemd-analyze security --offline=yes ./d4hub.service) >"$T_DIR/security" 2>&1 || true
	sd=$(sed -n 's/.*Overall exposure level for d4hub.service: \([0-9.]*\).*/\1/p' "$T_DIR/security")
	[ -n "$sd" ] || fail "no exposure level from systemd-analyze security: $(tail -n 3 "$T_DIR/security")"
	awk -v e="$sd" 'BEGIN { exit !(e <= 2.0) }' || fail "the unit's exposure is $sd (above 2.0)"
	sd=", unit verified, exposure $sd"
fi
pass "installed into DESTDIR: 6 programs, $paths $n files, hub served the built-in page and spec$sd"
