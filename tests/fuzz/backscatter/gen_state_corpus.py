#!/usr/bin/python3
"""Writes the seed corpus of fuzz_bs_state: [options] then a vector state in
the format of analyzers/backscatter/agg.c (docs/backscatter.md "State
persistence"), built here from the format's description: exact and sketched
address sets, IPv4 and IPv6 victims, many ports with ports_other, eight
sensors and more, org set and mixed, emitted and not, a minute ring that has
wrapped. Standard library only."""
import hashlib
import ipaddress
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "state_corpus")
US = 1000000
RING = 16


def fnv(b):
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def victim(s):
    a = ipaddress.ip_address(s)
    return (b"\0" * 10 + b"\xff\xff" + a.packed) if a.version == 4 else a.packed


def state(vic, kind, first, minutes, ports, ports_other=0, tlp=0, updates=0, last_emit=0, sensors=(),
          sensors_more=False, org=None, org_mixed=False, members=None, registers=None, late=0):
    """minutes: {minute number: packets}; packets = sum + late (late ones are in
    no minute); last = the end of the newest minute's first second."""
    newest = max(minutes)
    last = newest * 60 * US + 1
    first = min(first, last)
    ring = [(0, 0)] * RING
    peak_done = 0
    for m in sorted(minutes):
        s = m % RING
        if ring[s][1]:
            peak_done = max(peak_done, ring[s][1])
        ring[s] = (m, minutes[m])
    packets = sum(minutes.values()) + late
    assert sum(ports.values()) + ports_other == packets
    flags = (1 if registers else 0) | (2 if org or org_mixed else 0) | (4 if org_mixed else 0) | (8 if sensors_more else 0)
    b = b"D4BS" + bytes([1]) + victim(vic) + bytes([kind, flags, tlp])
    b += struct.pack(">QQQQ", first, last, packets, packets * 40)
    b += struct.pack(">IQ", updates, last_emit)
    b += struct.pack(">II", newest & 0xFFFFFFFF, peak_done)
    for m, c in ring:
        b += struct.pack(">II", m, c)
    b += struct.pack(">QB", ports_other, len(ports))
    for p in sorted(ports):
        b += struct.pack(">HQ", p, ports[p])
    b += bytes([len(sensors)]) + b"".join(sensors)
    b += (b"\0" * 16) if (org is None or org_mixed) else org
    if registers:
        b += bytes(registers)
    else:
        ms = sorted(members)
        b += struct.pack(">I", len(ms)) + b"".join(struct.pack(">Q", m) for m in ms)
    return b + struct.pack(">Q", fnv(b))


def main():
    os.makedirs(OUT, exist_ok=True)
    m0 = 1700000040 // 60
    seeds = []
    # small exact IPv4 SYN+ACK vector, never emitted
    seeds.append((0, state("192.0.2.10", 1, m0 * 60 * US, {m0: 20, m0 + 1: 30}, {80: 40, 443: 10},
                           members=[0x1111, 0x2222, 0x3333])))
    # emitted IPv6 vector, org set, three sensors, TLP amber
    sens = [bytes([i + 1]) + b"\0" * 15 for i in range(8)]
    seeds.append((0, state("2001:db8:1::10", 9, m0 * 60 * US + 5, {m0: 40, m0 + 2: 35}, {53: 75}, tlp=4, updates=2,
                           last_emit=(m0 + 2) * 60 * US, sensors=sens[:3], org=b"\xaa" * 16,
                           members=[(i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF or 1 for i in range(1, 40)])))
    # a port sweep: 64 counted ports and ports_other, eight sensors and more, org mixed
    ports = {p: 2 for p in range(1, 65)}
    seeds.append((0, state("198.51.100.7", 2, m0 * 60 * US, {m0 + i: 20 for i in range(10)}, ports, ports_other=72,
                           tlp=6, updates=1, last_emit=m0 * 60 * US, sensors=sens, sensors_more=True,
                           org_mixed=True, members=[5, 7, 11, 13])))
    # sketched (distinct_cap 16 in the option byte), ring wrapped: a burst then 20 minutes later
    regs = [0] * 1024
    for i in range(0, 1024, 3):
        regs[i] = 1 + i % 9
    mins = {m0: 50}
    mins.update({m0 + 17 + i: 3 for i in range(5)})
    seeds.append((2, state("192.0.2.99", 4, m0 * 60 * US, mins, {0: 60, 1: 5}, late=0, registers=regs)))
    # with stragglers counted outside the ring
    seeds.append((0, state("2001:db8:1::99", 2, (m0 - 30) * 60 * US, {m0: 30, m0 + 1: 30}, {22: 63}, late=3,
                           members=list(range(1, 60)))))
    # every kind once, small
    for k in range(1, 13):
        v = "2001:db8:1::%x" % k if k >= 8 else "192.0.2.%d" % k
        seeds.append((0, state(v, k, m0 * 60 * US, {m0: 1}, {k: 1}, members=[k * 1000 + 1])))
    # the check sum rewritten by the target: a broken field behind a valid sum
    bad = bytearray(seeds[0][1])
    bad[21] = 13
    seeds.append((1, bytes(bad)))
    seeds.append((0, seeds[1][1][:100]))
    for opt, s in seeds:
        b = bytes([opt]) + s
        with open(os.path.join(OUT, hashlib.sha1(b).hexdigest()), "wb") as f:
            f.write(b)


if __name__ == "__main__":
    main()
