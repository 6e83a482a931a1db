#!/usr/bin/env bash
# compose_config: deploy/compose.yml as Docker Compose itself reads it.
# Debian's docker-compose (Docker's Compose, 1.29) parses and validates the file
# against its Compose schema without a Docker daemon (`config`), so a file that
# only podman-compose accepts fails here. Then, on what Compose resolved: the
# services of the topology, every published port bound to 127.0.0.1 only, the
# ports follow D4_DEMO_PORT_*, images are built locally and never pulled.
set -u -o pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
command -v docker-compose >/dev/null || { echo "compose_config: docker-compose missing (deploy/bootstrap.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/d4-compose-config.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

cd "$repo/deploy" || exit 1
docker-compose -f compose.yml config -q || { echo "compose_config: docker-compose refuses deploy/compose.yml" >&2; exit 1; }
docker-compose -f compose.yml config >"$tmp/default.yml" || exit 1
D4_DEMO_PORT_ORG1=28441 D4_DEMO_PORT_ORG2=28442 D4_DEMO_PORT_ORG3=28443 D4_DEMO_PORT_PUBLIC=28440 \
	docker-compose -f compose.yml config >"$tmp/moved.yml" || exit 1

python3 - "$tmp/default.yml" "$tmp/moved.yml" <<'PY'
import sys, yaml
fail = []
def check(path, want_ports):
    doc = yaml.safe_load(open(path))
    svcs = doc.get("services", {})
    hubs = {"org1", "org2", "org3", "public"}
    if not hubs <= set(svcs):
        fail.append(f"{path}: services {sorted(svcs)} lack {sorted(hubs - set(svcs))}")
    seen = {}
    for name, s in svcs.items():
        if s.get("pull_policy") != "never":
            fail.append(f"{name}: pull_policy {s.get('pull_policy')!r}, want never (local images only)")
        if "build" not in s:
            fail.append(f"{name}: no build section")
        for p in s.get("ports", []):
            # short form host_ip:published:target[/proto], or the long form
            if isinstance(p, dict):
                ip, published = p.get("host_ip", "0.0.0.0"), p.get("published")
            else:
                parts = str(p).split(":")
                ip, published = (parts[0], parts[1]) if len(parts) == 3 else ("0.0.0.0", parts[0])
            if ip != "127.0.0.1":
                fail.append(f"{name}: port {p} published beyond 127.0.0.1")
            seen[name] = int(published)
    if seen != want_ports:
        fail.append(f"{path}: published ports {seen}, want {want_ports}")
check(sys.argv[1], {"org1": 18441, "org2": 18442, "org3": 18443, "public": 18440})
check(sys.argv[2], {"org1": 28441, "org2": 28442, "org3": 28443, "public": 28440})
for f in fail:
    print("compose_config:", f, file=sys.stderr)
sys.exit(1 if fail else 0)
PY
rc=$?
[ $rc -eq 0 ] && echo "compose_config: deploy/compose.yml accepted by docker-compose $(docker-compose version --short 2>/dev/null), ports on 127.0.0.1 only"
exit $rc
