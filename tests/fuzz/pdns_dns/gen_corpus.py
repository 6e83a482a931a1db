#!/usr/bin/python3
"""Writes the seed corpora of fuzz_pdns_dns (corpus_dns: DNS messages) and
fuzz_pkt (corpus_pkt: [link index][mode|cut<<2] + body, see fuzz_pkt.c) from
the project's captures plus a few crafted messages. Standard library only."""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data")
LINKS = {0: 0, 1: 1, 101: 2, 12: 3, 14: 4, 108: 5, 113: 6, 228: 7, 229: 8, 276: 9}
CAPS = ["dns/local-dns.pcap", "pcap/dns_icmp.pcap", "pcap/nb6-http.pcap", "pcap/truncated_dns.pcap",
        "pcap/truncated_dns_2.pcap", "pcap/sll.pcap", "pcap/sll2.pcap", "pcap/vlan.pcap", "pcap/ipv6.pcap",
        "pcap/tcp-split.pcap"]


def records(buf):
    magic = buf[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    lt = struct.unpack(e + "I", buf[20:24])[0] & 0xFFFF
    o = 24
    out = []
    while o + 16 <= len(buf):
        ts, _, cl, _ = struct.unpack(e + "IIII", buf[o:o + 16])
        out.append((ts, buf[o + 16:o + 16 + cl]))
        o += 16 + cl
    return lt, out


def udp_payload(lt, p):
    """DNS payload of an Ethernet/raw IPv4 UDP packet from port 53, else None."""
    off = {1: 14, 101: 0}.get(lt)
    if off is None or len(p) < off + 28 or p[off] >> 4 != 4 or p[off + 9] != 17:
        return None
    ihl = (p[off] & 15) * 4
    u = off + ihl
    if struct.unpack("!H", p[u:u + 2])[0] != 53:
        return None
    return p[u + 8:]


def write(d, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def name(n):
    return b"".join(bytes([len(x)]) + x.encode() for x in n.split(".") if x) + b"\0"


def msg(answers, qd=b"\x01t\x07example\x00\x00\x01\x00\x01"):
    h = struct.pack("!HHHHHH", 1, 0x8180, 1, len(answers), 0, 0)
    return h + qd + b"".join(b"\xc0\x0c" + struct.pack("!HHIH", t, 1, 60, len(rd)) + rd for t, rd in answers)


def main():
    cdns = os.path.join(HERE, "corpus_dns")
    cpkt = os.path.join(HERE, "corpus_pkt")
    for cap in CAPS:
        buf = open(os.path.join(DATA, cap), "rb").read()
        lt, recs = records(buf)
        li = LINKS[lt]
        seq = b""
        prev = recs[0][0] if recs else 0
        for ts, p in recs:
            d = udp_payload(lt, p)
            if d:
                write(cdns, d)
            write(cpkt, bytes([li, 0]) + p)
            seq += struct.pack("!HB", len(p), min(255, ts - prev)) + p
            prev = ts
        write(cpkt, bytes([li, 1]) + seq)
        for cut in (0, 6, 63):
            write(cpkt, bytes([0, 2 | (cut << 2)]) + buf)
    # crafted: typed rdata, SVCB, DNSSEC, compression edge cases
    svcb = bytes.fromhex("000100000000040001000300010006026832026833000300 0201bb000400 04c0000201".replace(" ", ""))
    crafted = [
        msg([(65, svcb), (64, b"\x00\x00\x03svc\xc0\x0e")]),
        msg([(46, bytes.fromhex("00010802 00000e10 65920080 6588c600 3039".replace(" ", "")) + name("example") + b"\1\2\3")]),
        msg([(47, name("a.example") + bytes.fromhex("0006600000000003"))]),
        msg([(50, bytes.fromhex("0100000a04aabbccdd14") + bytes(range(20)) + b"\x00\x01\x40")]),
        msg([(48, b"\x01\x01\x03\x08\x01\x02\x03"), (43, bytes.fromhex("30390802deadbeef"))]),
        msg([(16, b"\x05hello\x04a\"b\x00\x02\x01\\"), (257, b"\x00\x05issueca.example")]),
        msg([(35, bytes.fromhex("0064000a0175074532552b7369700c215e2e2a24217369703a782100"))]),
        msg([(6, b"\x03ns1\xc0\x0e\x0ahostmaster\xc0\x0e" + bytes(20)), (15, b"\x00\x0a\x04mail\xc0\x0e")]),
        msg([(5, b"\xc0\x2a")]),  # pointer to itself
        msg([(1, b"\xc0\0\2\1")], qd=b"\xc0\x0c\x00\x01\x00\x01"),
    ]
    for m in crafted:
        write(cdns, m)


if __name__ == "__main__":
    main()
