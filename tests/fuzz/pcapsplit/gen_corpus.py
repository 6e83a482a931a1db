#!/usr/bin/python3
"""Writes the seed corpus of fuzz_pcapsplit: [cut seed][cap flag] then a pcap
byte stream. Small pcap files in both byte orders, micro- and nanosecond,
raw IP and Ethernet, a restarted capture (second global header), a record
over the snaplen, a pcapng section header, garbage, and the first 4 KiB of
the project's HTTP capture. Standard library only."""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data", "pcap")
OUT = os.path.join(HERE, "corpus")


def ghdr(be=False, nsec=False, snap=65535, link=101):
    e = ">" if be else "<"
    return struct.pack(e + "IHHiIII", 0xA1B23C4D if nsec else 0xA1B2C3D4, 2, 4, 0, 0, snap, link)


def rec(data, ts=1700000000, frac=1, be=False):
    e = ">" if be else "<"
    return struct.pack(e + "IIII", ts, frac, len(data), len(data)) + data


SYNACK = (struct.pack(">BBHHHBBH", 0x45, 0, 40, 0, 0, 64, 6, 0) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
          + struct.pack(">HHIIBBHHH", 80, 1234, 1, 2, 5 << 4, 0x12, 65535, 0, 0))


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = []
    for be in (False, True):
        for nsec in (False, True):
            s = ghdr(be, nsec) + b"".join(rec(SYNACK, 1700000000 + i, 999 * i, be) for i in range(4))
            seeds.append(bytes([7, 0]) + s)
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + SYNACK
    seeds.append(bytes([3, 0]) + ghdr(link=1) + rec(eth) + rec(b"") + rec(eth))
    seeds.append(bytes([5, 0]) + ghdr() + rec(SYNACK) + ghdr(be=True) + rec(SYNACK, be=True))
    seeds.append(bytes([9, 0]) + ghdr(snap=20) + rec(SYNACK))
    seeds.append(bytes([9, 1]) + ghdr() + rec(SYNACK * 3))
    seeds.append(bytes([1, 0]) + struct.pack(">IIIHH", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0) + b"\0" * 16)
    seeds.append(bytes([2, 0]) + b"GET / HTTP/1.1\r\n\r\n")
    http = os.path.join(DATA, "http.pcap")
    if os.path.exists(http):
        with open(http, "rb") as f:
            seeds.append(bytes([11, 0]) + f.read(4096))
    for s in seeds:
        with open(os.path.join(OUT, hashlib.sha1(s).hexdigest()), "wb") as f:
            f.write(s)


if __name__ == "__main__":
    main()
