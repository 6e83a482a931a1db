#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build d4hub, run its tests and the
# quickstart demo. Idempotent: when every package is already installed it does
# not touch apt at all (so it is fast and works offline); otherwise it runs
# `apt-get update` once and installs only what is missing.
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake pkg-config git
	# libraries (DESIGN.md §2)
	libssl-dev liblmdb-dev libsodium-dev libyajl-dev libpcap-dev check
	libh2o-evloop-dev libh2o-dev libcurl4-openssl-dev
	# passive SSL weak keys: batch GCD over GMP (analyzers/weakkeys)
	libgmp-dev
	# sanitizer / fuzzing builds and formatting
	clang libclang-rt-14-dev clang-format
	# tools used by the tests, the test PKI and the demo
	lmdb-utils openssl ca-certificates curl python3 procps iproute2 tcpdump
	# the reference C client's documented uplink: d4 | socat - OPENSSL-CONNECT, checked by it_hub_ack_socat
	socat
	# the web page test: a real browser, headless (driven by playwright-core from npm)
	chromium
	# API tests: the conformance test reads the OpenAPI spec and validates responses
	python3-yaml python3-jsonschema
	# HTTP Basic as CIRCL's PyPDNS/PyPSSL do it, and the PyPSSL-style client (requests)
	python3-requests
	# passive DNS: a real DNSDB API v2 client talks to the hub in the tests
	dnsdbq
	# the API benchmark (tests/bench/api): h2load
	nghttp2-client
	# compose_config: Docker's own Compose validates deploy/compose.yml (no daemon needed)
	docker-compose
	# passive SSL: the extracted JA3/JA3S/certificates are checked against tshark's fields
	tshark
)
# The OpenAPI linter (npm, package.json) needs Node.js and npm. Any installed
# node (e.g. from nodesource, which ships npm) is kept; without one, Debian's
# nodejs + npm are installed (Node 18: the pinned @redocly/cli 1.34 supports it).
if ! command -v node >/dev/null 2>&1; then
	PACKAGES+=(nodejs npm)
fi

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
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
