#!/usr/bin/python3
"""Writes the seed corpus of fuzz_bs_classify: [link index][options] then
packets as [len hi][len lo][ts delta s][bytes] (see fuzz_bs_classify.c).
Crafted backscatter of every kind over IPv4/IPv6, raw and Ethernet, ICMP
errors quoting TCP/UDP, scans, a live-mode request/reply pair, plus the
project's HTTP capture as ordinary traffic. Standard library only."""
import hashlib
import ipaddress
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data", "pcap")
OUT = os.path.join(HERE, "corpus")
RAW, ETH = 0, 1


def a(s):
    return ipaddress.ip_address(s).packed


def ip(src, dst, proto, l4):
    if ":" in src:
        return struct.pack(">IHBB", 0x60000000, len(l4), proto, 64) + a(src) + a(dst) + l4
    return struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0) + a(src) + a(dst) + l4


def tcp(sp, dp, flags):
    return struct.pack(">HHIIBBHHH", sp, dp, 1, 2, 5 << 4, flags, 65535, 0, 0)


def udp(sp, dp):
    return struct.pack(">HHHH", sp, dp, 12, 0) + b"abcd"


def icmp(t, c, ident=0, quote=b""):
    return struct.pack(">BBHHH", t, c, 0, ident, 1) + quote


def eth(p):
    et = 0x86DD if p[0] >> 4 == 6 else 0x0800
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack(">H", et) + p


def rec(pkts, link=RAW, opts=0, dt=1, tick=False):
    out = bytes([link, opts])
    for p in pkts:
        if link == ETH:
            p = eth(p)
        out += struct.pack(">HB", len(p), (dt | 0x80) if tick else dt) + p
    return out


def kinds(v, t, router):
    v6 = ":" in v
    ic = 58 if v6 else 1
    q_udp = ip(t, v, 17, udp(4444, 53))
    q_tcp = ip(t, v, 6, tcp(4444, 80, 0x02))
    out = [ip(v, t, 6, tcp(80, 4444, 0x12)), ip(v, t, 6, tcp(80, 4444, 0x04)), ip(v, t, 6, tcp(80, 4444, 0x14)),
           ip(v, t, ic, icmp(129 if v6 else 0, 0, 7))]
    types = (1, 2, 3, 4) if v6 else (3, 11, 4, 12)
    for ty in types:
        out.append(ip(router, t, ic, icmp(ty, 0, 0, q_udp)))
        out.append(ip(router, t, ic, icmp(ty, 0, 0, q_tcp)))
    return out


def pcap_records(path):
    buf = open(path, "rb").read()
    e = "<" if buf[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    o, out = 24, []
    while o + 16 <= len(buf):
        _, _, cl, _ = struct.unpack(e + "IIII", buf[o:o + 16])
        out.append(buf[o + 16:o + 16 + cl])
        o += 16 + cl
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = []
    k4 = kinds("192.0.2.10", "10.1.2.3", "192.0.2.254")
    k6 = kinds("2001:db8:1::10", "2001:db8:2::3", "2001:db8:ffff::1")
    for opts in (0, 2, 4 | 8):
        seeds.append(rec(k4, RAW, opts))
        seeds.append(rec(k6, ETH, opts, tick=True))
    scans = [ip("192.0.2.10", "10.1.2.3", 6, tcp(80, 1, f)) for f in (0x10, 0x01, 0x00, 0x29, 0x02)]
    seeds.append(rec(scans, RAW, 2))
    # live mode: our SYN then the SYN+ACK; our UDP then the ICMP error quoting it
    live = [ip("10.0.0.5", "192.0.2.80", 6, tcp(40000, 443, 0x02)), ip("192.0.2.80", "10.0.0.5", 6, tcp(443, 40000, 0x12)),
            ip("10.0.0.5", "192.0.2.81", 17, udp(40000, 161)),
            ip("192.0.2.254", "10.0.0.5", 1, icmp(3, 3, 0, ip("10.0.0.5", "192.0.2.81", 17, udp(40000, 161))))]
    seeds.append(rec(live, RAW, 1))
    # an attack: many SYN+ACKs from one victim to many telescope addresses, ticking
    atk = [ip("198.51.100.7", "10.0.%d.%d" % (i // 200, i % 200), 6, tcp(80 + i % 3, 1024 + i, 0x12)) for i in range(120)]
    seeds.append(rec(atk, ETH, 2 | 4, dt=1, tick=True))
    http = os.path.join(DATA, "http.pcap")
    if os.path.exists(http):
        seeds.append(rec(pcap_records(http)[:40], ETH, 1 | 2))
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(s)


if __name__ == "__main__":
    main()
