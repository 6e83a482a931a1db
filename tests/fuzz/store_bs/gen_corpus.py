#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_store_bs: stored vector records v1 (layout in
docs/store.md "Backscatter"), valid ones with empty and full lists, plus a few
broken ones. Run from this folder; the files are committed."""
import os
import struct


def rec(kind=1, state=1, nports=2, nsens=1, nvia=0, tlp=4, flags=(1, 1, 0, 0, 0, 0), first=1700000000000000,
        last=1700000090000000, idv=1, seq=1):
    b = bytearray([1]) + bytes(16)  # origin: this hub
    b += bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 10])  # victim, v4-mapped
    b += struct.pack(">BQ", kind, first)
    b += struct.pack(">QQQ", idv, seq, 1700000100)
    b += struct.pack(">BQQQ", state, last, 100, 4000)
    b += struct.pack(">B", nports)
    for i in range(nports):
        b += struct.pack(">HQ", 80 + i, 10)
    b += struct.pack(">IQQBI", nports, 0, 50, flags[0], 30)
    b += struct.pack(">dddB", 1.1, 281.6, 128.0, flags[1])
    b += struct.pack(">B", nsens)
    for i in range(nsens):
        b += bytes([i + 1]) * 16
    b += struct.pack(">BB", flags[2], tlp) + bytes([0xaa]) * 16 + struct.pack(">BI", flags[3], 3)
    b += struct.pack(">BB", flags[4], flags[5]) + bytes(16) + struct.pack(">B", nvia)
    for i in range(nvia):
        b += bytes([0x50 + i]) * 16
    return bytes(b)


seeds = {
    "min": rec(nports=0, nsens=0),
    "two_ports": rec(),
    "full": rec(nports=10, nsens=8, nvia=16, flags=(1, 1, 1, 1, 1, 0)),
    "closed_icmp": rec(kind=5, state=2, tlp=1),
    "received": rec(nvia=3, flags=(0, 0, 0, 0, 1, 1)),
    "bad_kind": rec(kind=0),
    "bad_state": rec(state=3),
    "bad_flag": rec(flags=(2, 0, 0, 0, 0, 0)),
    "bad_lists": rec(nports=11),
    "last_before_first": rec(last=1),
}
for name, data in seeds.items():
    with open(os.path.join("corpus", name), "wb") as f:
        f.write(data)
