#!/usr/bin/python3
"""Generates a passive-DNS dataset for the query API test and benchmark.

Usage: gen.py N SEED [--zipf] > dataset.tsv
One observation per line in d4-pdns-load's format (tab-separated):
  rrname rrtype rdata bailiwick|- time_first time_last count tlp sensor|-
Names are drawn from a fixed vocabulary (with --zipf, a Zipf-like law over
the names so a few are very frequent, as in real traffic); rdata mixes A
(192.0.2.0/24, 198.51.100.0/24, 10.x), AAAA (2001:db8::/32), CNAME, NS, MX,
TXT (with quotes and spaces) and PTR. The same (rrname, rrtype, rdata) may
appear several times: the store merges them (min/max times, count sum, most
restrictive TLP), which the brute-force side models the same way.
"""
import random
import sys

SENSORS = ["5b3b2a4c0d6e4f1a9b8c7d6e5f4a3b2c", "6c4c3b5d1e7f4a2b8c9d0e1f2a3b4c5d", "7d5d4c6e2f8a4b3c9d0e1f2a3b4c5d6e"]
TLPS = ["tlp:clear", "tlp:green", "tlp:amber", "tlp:amber+strict", "tlp:red"]


def names(rng, n_zones, per_zone):
    out = []
    tlds = ["test", "example", "invalid"]
    for z in range(n_zones):
        zone = f"zone{z}.{tlds[z % 3]}"
        out.append((zone, zone))
        for h in range(per_zone):
            label = ["www", "mail", "ns1", "api", "cdn", "a.b", "_sip._tcp", "x-y"][h % 8]
            out.append((f"{label}{'' if h < 8 else h}.{zone}", zone))
    out.append(("www.example.test", "example.test"))
    out.append(("example.test", "example.test"))
    out.append(("deep.www.example.test", "example.test"))
    return out


def rdata_for(rng, rrtype, vocab):
    if rrtype == 1:
        net = rng.choice(["192.0.2", "198.51.100", f"10.{rng.randrange(4)}.{rng.randrange(4)}"])
        return f"{net}.{rng.randrange(256)}"
    if rrtype == 28:
        return f"2001:db8:{rng.randrange(4):x}::{rng.randrange(1, 65536):x}"
    if rrtype in (2, 5, 12):
        return vocab[rng.randrange(len(vocab))][0] + "."
    if rrtype == 15:
        return f"{rng.choice([10, 20])} {vocab[rng.randrange(len(vocab))][0]}."
    return f'"v=spf1 include:{vocab[rng.randrange(len(vocab))][0]} ~all" "second \\"q\\" s"'


def main():
    n = int(sys.argv[1])
    rng = random.Random(int(sys.argv[2]))
    zipf = "--zipf" in sys.argv
    big = zipf and n > 100000
    vocab = names(rng, 200000 if big else 40, 8 if big else 12)
    types = [1, 1, 1, 28, 5, 2, 15, 16, 12]
    base = 1700000000
    w = sys.stdout.write
    nv = len(vocab)
    for i in range(n):
        if zipf:
            # Zipf-like: index ~ nv ** u - 1 (log-uniform), heavy head
            idx = int(nv ** rng.random()) - 1
        else:
            idx = rng.randrange(nv)
        name, zone = vocab[idx]
        t = types[rng.randrange(len(types))]
        rd = rdata_for(rng, t, vocab)
        tf = base + rng.randrange(0, 86400 * 400)
        tl = tf + rng.randrange(0, 86400 * 30)
        cnt = rng.randrange(1, 50)
        tlp = TLPS[rng.randrange(len(TLPS))] if not big else "tlp:green"
        sensor = SENSORS[rng.randrange(3)] if rng.random() < 0.8 else "-"
        bw = zone + "." if rng.random() < 0.7 else "-"
        w(f"{name}.\t{t}\t{rd}\t{bw}\t{tf}\t{tl}\t{cnt}\t{tlp}\t{sensor}\n")


if __name__ == "__main__":
    main()
