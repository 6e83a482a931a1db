#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build and run d4hub, d4hubctl and
# d4-sensor and the quickstart demo (deploy/quickstart.sh) — nothing that
# only the tests use: tests/run.sh installs those, by naming them here.
#
# usage: deploy/bootstrap.sh [PACKAGE...]   (extra packages to install too)
#
# Idempotent: when every package is already installed it does not touch apt
# at all (so it is fast and works offline); otherwise it runs `apt-get
# update` once and installs only what is missing.
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake pkg-config
	# libraries (DESIGN.md §2): TLS, store, JSON, capture, REST API (h2o),
	# federation and d4hubctl's remote mode (libcurl), federation keys
	# (libsodium), passive SSL weak keys (GMP)
	libssl-dev liblmdb-dev libsodium-dev libyajl-dev libpcap-dev
	libh2o-evloop-dev libh2o-dev libcurl4-openssl-dev libgmp-dev
	# the quickstart: its test PKI (openssl), its API queries and the
	# commands it prints (curl), its port checks (ss)
	openssl ca-certificates curl iproute2
)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
	ii*) ;;
	*) missing+=("$p") ;;
	esac
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "bootstrap: all ${#PACKAGES[@]} packages installed"
	exit 0
fi

echo "bootstrap: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2
		exit 1
	fi
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
