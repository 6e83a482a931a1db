#!/usr/bin/python3
"""Compares d4-backscatter NDJSON output with the vectors bs_gen.py expects.

  bs_check.py OUT.ndjson EXPECT.json [GROUP...]

GROUPs are members of the sidecar whose vectors are all expected (default:
"vectors"; add "live_excluded" or "below_threshold:N" for the N-th entry
only). Every expected vector must be printed exactly once with the same
victim, kind, packets, bytes, ports (victim port -> packets), first and last
(to the microsecond) and distinct telescope addresses; nothing else may be
printed. Exit 0 when equal, 1 with the differences otherwise."""
import ipaddress
import json
import sys


def us(x):
    return int(round(float(x) * 1e6))


def ports_of(v):
    p = v.get("ports", {})
    if isinstance(p, dict):
        return {int(k): int(c) for k, c in p.items()}
    out = {}
    for e in p:
        out[int(e["port"])] = int(e.get("packets", e.get("count", 0)))
    return out


def key(v):
    return (ipaddress.ip_address(v["victim"]).compressed, v["kind"], us(v["first"]))


def norm(v):
    return {
        "packets": int(v["packets"]),
        "bytes": int(v["bytes"]),
        "ports": ports_of(v),
        "last": us(v["last"]),
        "telescope_addrs": int(v["telescope_addrs"]),
    }


def main():
    out_path, exp_path = sys.argv[1], sys.argv[2]
    groups = sys.argv[3:] or ["vectors"]
    side = json.load(open(exp_path))
    exp = {}
    for g in groups:
        name, _, idx = g.partition(":")
        lst = side[name] if not idx else [side[name][int(idx)]]
        for v in lst:
            exp[key(v)] = norm(v)
    got = {}
    errors = []
    with open(out_path) as f:
        for n, line in enumerate(f, 1):
            try:
                v = json.loads(line)
            except ValueError as e:
                errors.append("line %d: not JSON: %s" % (n, e))
                continue
            k = key(v)
            if k in got:
                errors.append("printed twice: %s" % (k,))
            got[k] = norm(v)
    for k in sorted(set(exp) | set(got), key=str):
        if k not in got:
            errors.append("missing: %s %s" % (k, exp[k]))
        elif k not in exp:
            errors.append("unexpected: %s %s" % (k, got[k]))
        elif exp[k] != got[k]:
            errors.append("differs: %s\n  expected %s\n  printed  %s" % (k, exp[k], got[k]))
    for e in errors:
        print(e)
    print("%d expected, %d printed, %d differences" % (len(exp), len(got), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
