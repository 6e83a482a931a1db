#!/usr/bin/env bash
# it_demo_compose (opt-in: ctest -L containers): deploy/compose.yml for real
# with podman-compose, and the same flows as it_demo_multiorg checked from
# inside the containers' network namespace (flows.sh).
#
# How it runs the compose file here (/work/shared rules of these machines, no
# container registry): root; podman, podman-compose, runc, debootstrap (and
# catatonit for `init: true`, the CNI dnsname plugin for the service names)
# installed by the test when missing; podman's configuration from
# tests/integration/demo/containers.conf (CONTAINERS_CONF); EVERY podman and
# podman-compose command inside a private network namespace that has only lo
# (nsenter), so that bridges, container DNS and published ports live there and
# nothing can leave the machine; the base image made with debootstrap from the
# machine's own Debian mirror (read from its apt sources now) and imported as
# localhost/d4hub-demo-base:bookworm (kept for later runs; D4_DEMO_REBASE=1
# makes it anew); images named localhost/... only, built with --pull=never
# (the compose file says pull_policy: never). The image copies in the
# binaries under test (the Dockerfile's PREBUILT); D4_DEMO_FROM_SOURCE=1
# builds them from source inside the image instead, as a user's Docker does
# (the base then holds the build packages; slower).
# The compose file runs unchanged, from a copy of the source tree.
# shellcheck shell=bash
source "$(dirname "$0")/../lib.sh"

ROOT=$(cd "$_LIB_DIR/../.." && pwd)
[ "$(id -u)" = 0 ] || {
	echo "SKIP: $T_NAME needs root (podman, network namespaces)"
	exit 77
}
command -v ip >/dev/null && command -v nsenter >/dev/null || fail "ip and nsenter are needed"

# ---- packages
PKGS=(podman podman-compose runc debootstrap catatonit golang-github-containernetworking-plugin-dnsname)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=400 install -y -q "${missing[@]}" >"$T_DIR/apt.log" 2>&1 ||
		fail "apt-get install ${missing[*]}: $(tail -n 5 "$T_DIR/apt.log")"
fi
export CONTAINERS_CONF=$_LIB_DIR/demo/containers.conf
[ -f "$CONTAINERS_CONF" ] || fail "no $CONTAINERS_CONF"

# ---- the private network namespace: every podman command runs in it
NS=d4demo-$$
PROJECT=d4demo$$
ip netns add "$NS" || fail "ip netns add $NS"
ip -n "$NS" link set lo up || fail "lo up in $NS"
inns() { nsenter --net="/run/netns/$NS" "$@"; }
[ "$(inns ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')" = "lo " ] || fail "$NS has more than lo"
COMPOSE_UP=0 IMAGE_BUILT=0
_compose_cleanup() {
	local rc=$?
	trap - EXIT
	if [ $COMPOSE_UP = 1 ]; then
		if [ $rc -ne 0 ]; then
			for s in init org1 org2 org3 public org1-sensors org2-sensors org3-sensors; do
				echo "---- last lines of ${PROJECT}_${s}_1:" >&2
				inns podman logs --tail 15 "${PROJECT}_${s}_1" >&2 2>&1 || true
			done
		fi
		(cd "$CTX/deploy" && inns env "${DEMO_ENV[@]}" podman-compose -p "$PROJECT" -f compose.yml down -t 20) \
			>>"$T_DIR/compose.log" 2>&1 || true
		inns podman network rm -f "${PROJECT}_default" >>"$T_DIR/compose.log" 2>&1 || true
	fi
	if [ $IMAGE_BUILT = 1 ]; then
		# the demo image and its build stage (the base image is kept for the next run)
		inns podman rmi -f localhost/d4hub-demo:latest >>"$T_DIR/compose.log" 2>&1 || true
		inns podman image prune -f >>"$T_DIR/compose.log" 2>&1 || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	if [ $rc -ne 0 ]; then
		echo "---- compose.log:" >&2
		tail -n 30 "$T_DIR/compose.log" >&2 || true
	fi
	# _t_cleanup reads the status from $? (errexit must not end this trap first)
	set +e
	(exit $rc)
	_t_cleanup
}
trap _compose_cleanup EXIT

# ---- the base image (debootstrap; kept between runs)
BASE=localhost/d4hub-demo-base:bookworm
RUN_PACKAGES="bash openssl ca-certificates libcurl4 libh2o-evloop0.13 liblmdb0 libpcap0.8 libssl3 libsodium23 libyajl2"
# sanitizer builds' runtime libraries, so that the binaries of either build run
RUN_PACKAGES+=" libasan8 libubsan1"
BUILD_PACKAGES="build-essential cmake pkg-config libssl-dev liblmdb-dev libsodium-dev libyajl-dev libpcap-dev check libh2o-evloop-dev libh2o-dev libcurl4-openssl-dev"
if [ "${D4_DEMO_FROM_SOURCE:-0}" = 1 ]; then
	BASE=localhost/d4hub-demo-base:bookworm-build
	RUN_PACKAGES+=" $BUILD_PACKAGES"
fi
mirror() { # the machine's own Debian mirror (deb822 or one-line sources)
	{
		awk 'BEGIN { RS = "" } /Suites:[^\n]*bookworm( |\n|$)/ && /Types:[^\n]*deb( |\n|$)/ {
			if (match($0, /URIs: *[^ \n]+/)) { u = substr($0, RSTART, RLENGTH); sub(/URIs: */, "", u); print u } }' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null || true
		awk '$1 == "deb" && $3 == "bookworm" { print $2 }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
	} | grep -v '^$' | head -n 1 || true
}
if [ "${D4_DEMO_REBASE:-0}" = 1 ] || ! inns podman image exists "$BASE"; then
	M=$(mirror)
	[ -n "$M" ] || fail "no Debian bookworm mirror in this machine's apt sources"
	log "making $BASE with debootstrap (mirror of this machine's apt sources)"
	ROOTFS=$T_DIR/rootfs
	debootstrap --variant=minbase --include="${RUN_PACKAGES// /,}" bookworm "$ROOTFS" "$M" >"$T_DIR/debootstrap.log" 2>&1 ||
		fail "debootstrap: $(tail -n 5 "$T_DIR/debootstrap.log")"
	# trim; the apt lists stay, so that apt finds the packages installed
	rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
		"$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*
	echo "deb http://deb.debian.org/debian bookworm main" >"$ROOTFS/etc/apt/sources.list"
	tar -C "$ROOTFS" -c . | inns podman import - "$BASE" >>"$T_DIR/compose.log" 2>&1 || fail "podman import"
	rm -rf "$ROOTFS"
fi

# ---- a copy of the source tree (the compose file unchanged), with the
# binaries under test in prebuilt/
CTX=$T_DIR/src
mkdir -p "$CTX"
tar -C "$ROOT" --exclude='./build*' --exclude=./node_modules --exclude=./.git --exclude=./demo \
	--exclude=./demo-multiorg --exclude=./deploy/demo-data -c . | tar -C "$CTX" -x || fail "copy of the source tree"
PREBUILT=
if [ "${D4_DEMO_FROM_SOURCE:-0}" != 1 ]; then
	PREBUILT=prebuilt
	mkdir -p "$CTX/prebuilt"
	cp "$D4HUB" "$D4HUBCTL" "$D4SENSOR" "$CTX/prebuilt/" || fail "copy of the binaries"
fi
DEMO_DATA=$T_DIR/demo-data
mkdir -p "$DEMO_DATA"
DEMO_ENV=(D4_DEMO_DIR="$DEMO_DATA" D4_DEMO_BASE="$BASE" D4_DEMO_PREBUILT="$PREBUILT")

# ---- build (what `up --build` would build, with --pull=never), then up
log "building localhost/d4hub-demo:latest"
IMAGE_BUILT=1
inns podman build --pull=never -f "$CTX/deploy/Dockerfile" --build-arg BASE="$BASE" \
	--build-arg PREBUILT="$PREBUILT" -t localhost/d4hub-demo:latest "$CTX" >"$T_DIR/build.log" 2>&1 ||
	fail "podman build: $(tail -n 15 "$T_DIR/build.log")"
COMPOSE_UP=1
log "podman-compose up"
(cd "$CTX/deploy" && inns env "${DEMO_ENV[@]}" podman-compose -p "$PROJECT" -f compose.yml up -d) >>"$T_DIR/compose.log" 2>&1 ||
	fail "podman-compose up"

# ---- wait for the demo, then the same checks as the processes' demo
demo_curl() { inns curl "$@"; }
wait_for 180 "the init service wrote $DEMO_DATA/ready" test -e "$DEMO_DATA/ready"
# shellcheck disable=SC1091
source "$DEMO_DATA/demo.env"
DEMO_SENSORS=$DEMO_DATA/sensors
for h in org1 org2 org3 public; do
	u=DEMO_API_$h
	case ${!u} in https://127.0.0.1:*) ;; *) fail "the API of $h is not published on 127.0.0.1: ${!u}" ;; esac
	wait_for 120 "the API of $h answers on ${!u}" demo_curl -sf --cacert "$DEMO_CA" "${!u}/health"
done
# the sensors' services sent their samples
for h in org1 org2 org3; do
	n=$(awk -v h="$h" '$1 == h' "$DEMO_SENSORS" | wc -l)
	sent() { [ "$(ls "$DEMO_DATA/$1"/fed-* 2>/dev/null | wc -l)" = "$2" ]; }
	wait_for 180 "the sensors of $h sent their $n samples" sent "$h" "$n"
done
log "the compose demo is up: checking the flows from inside its network namespace"
source "$(dirname "$0")/flows.sh"
pass
