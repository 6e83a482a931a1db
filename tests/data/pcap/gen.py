#!/usr/bin/python3
"""Generates the small synthetic captures used by tests/unit/pdns_dns:
one DNS response per link layer the extractor decodes, and a TCP DNS stream
split into out-of-order segments. Python 3 standard library only; output is
deterministic. Usage: gen.py [OUTDIR] (default: this file's folder)."""
import os
import struct
import sys


def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(owner, rtype, rdata, ttl=300):
    return name(owner) + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def response(qid, qname, qtype, answers, authority=()):
    hdr = struct.pack("!HHHHHH", qid, 0x8400, 1, len(answers), len(authority), 0)
    q = name(qname) + struct.pack("!HH", qtype, 1)
    return hdr + q + b"".join(answers) + b"".join(authority)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(proto, payload, src=(192, 0, 2, 53), dst=(192, 0, 2, 1)):
    h = struct.pack("!BBHHHBBH4B4B", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, *src, *dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ipv6(nh, payload, ext=b"", ext_nh=None):
    src = bytes.fromhex("20010db8000000000000000000000053")
    dst = bytes.fromhex("20010db8000000000000000000000001")
    first = ext_nh if ext else nh
    return struct.pack("!IHBB", 0x60000000, len(ext) + len(payload), first, 64) + src + dst + ext + payload


def udp(payload, sport=53, dport=40000):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(seq, ack, flags, payload=b"", sport=53, dport=40001):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def eth(et, payload, tags=()):
    out = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02"
    for tpid, vid in tags:
        out += struct.pack("!HH", tpid, vid)
    return out + struct.pack("!H", et) + payload


def pcap(linktype, packets, big_endian=False, nano=False):
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for i, p in enumerate(packets):
        ts = 1700000000 + i
        out += struct.pack(e + "IIII", ts, 500, len(p), len(p)) + p
    return out


def a(ip):
    return bytes(int(x) for x in ip.split("."))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    files = {}
    m = response(1, "sll.example.test", 1, [rr("sll.example.test", 1, a("192.0.2.113"))])
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", 0x0800) + ipv4(17, udp(m))
    files["sll.pcap"] = pcap(113, [sll])

    m = response(2, "sll2.example.test", 1, [rr("sll2.example.test", 1, a("192.0.2.114"))])
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + ipv4(17, udp(m))
    files["sll2.pcap"] = pcap(276, [sll2])

    m1 = response(3, "vlan.example.test", 1, [rr("vlan.example.test", 1, a("192.0.2.81"))])
    m2 = response(4, "qinq.example.test", 1, [rr("qinq.example.test", 1, a("192.0.2.82"))])
    files["vlan.pcap"] = pcap(1, [
        eth(0x0800, ipv4(17, udp(m1)), tags=[(0x8100, 10)]),
        eth(0x0800, ipv4(17, udp(m2)), tags=[(0x88A8, 20), (0x8100, 30)]),
    ])

    aaaa = bytes.fromhex("20010db8000000000000000000000006")
    m = response(5, "v6.example.test", 28, [rr("v6.example.test", 28, aaaa)])
    hbh = bytes([17, 0]) + bytes(6)  # hop-by-hop, 8 bytes of padding options
    files["ipv6.pcap"] = pcap(1, [eth(0x86DD, ipv6(17, udp(m), ext=hbh, ext_nh=0))])

    # TCP: two responses in one stream, cut into three segments sent 2, 1, 3.
    t1 = response(6, "tcp.example.test", 1, [rr("tcp.example.test", 1, a("192.0.2.61")),
                                              rr("tcp.example.test", 1, a("192.0.2.62"))])
    t2 = response(7, "tcp.example.test", 16, [rr("tcp.example.test", 16, b"\x05hello\x05world")])
    stream = struct.pack("!H", len(t1)) + t1 + struct.pack("!H", len(t2)) + t2
    isn = 1000
    cuts = [0, 5, len(t1) + 3, len(stream)]
    segs = [tcp(isn + 1 + cuts[i], 1, 0x18, stream[cuts[i]:cuts[i + 1]]) for i in range(3)]
    pkts = [tcp(isn, 1, 0x12)] + [segs[1], segs[0], segs[2]] + [tcp(isn + 1 + len(stream), 1, 0x11)]
    files["tcp-split.pcap"] = pcap(101, [ipv4(6, p) for p in pkts], big_endian=True, nano=True)

    for fn, data in files.items():
        with open(os.path.join(out, fn), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
