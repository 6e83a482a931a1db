#!/usr/bin/python3
"""Writes a pcap (raw IPv4, microseconds) of N TLS connections, each a SYN,
one ClientHello segment and a RST: the client side as a sensor sees it in
front of busy servers. The ClientHellos cycle through four shapes (the JA4
specification's example with and without GREASE, a TLS 1.2-only hello, one
with a long SNI and eight ALPN names). Standard library only.
Usage: gen_hellos.py OUT.pcap N"""
import importlib.util
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("g", os.path.join(HERE, "..", "..", "fuzz", "tls", "gen_corpus.py"))
g = importlib.util.module_from_spec(spec)
spec.loader.exec_module(g)


def shapes():
    yield g.ja4_example(False)
    yield g.ja4_example(True)
    yield g.client_hello([0xc02f, 0xc030, 0x9c, 0x2f, 0x35], [g.ext(0, g.vec16(b"\x00" + g.vec16(b"a.example"))),
                                                             g.ext(10, g.vec16(g.u16(23))), g.ext(11, b"\x01\x00")])
    names = b"".join(bytes([len(n)]) + n for n in [b"h2", b"http/1.1", b"spdy/3", b"h3", b"x-a", b"x-b", b"x-c", b"x-d"])
    yield g.client_hello([0x1301, 0x1302], [g.ext(0, g.vec16(b"\x00" + g.vec16(b"x" * 60 + b".example.org"))),
                                            g.ext(16, g.vec16(names)), g.ext(43, b"\x02\x03\x04")])


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    recs = [g.records(g.hs(1, b)) for b in shapes()]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
        ts = 1700000000 * 1000000
        s = bytes([192, 0, 2, 1])
        for i in range(n):
            c = struct.pack(">I", 0x0a000000 + i)
            sp = 1024 + i % 60000
            for seq, flags, pay in ((1000, 0x02, b""), (1001, 0x18, recs[i % 4]), (1001 + len(recs[i % 4]), 0x04, b"")):
                tcp = struct.pack(">HHIIBBHHH", sp, 443, seq, 0, 5 << 4, flags, 65535, 0, 0) + pay
                ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, c, s) + tcp
                f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(ip), len(ip)) + ip)
                ts += 3


if __name__ == "__main__":
    main()
