#!/usr/bin/python3
"""Writes the seed corpora of fuzz_tls_hello and fuzz_tls_stream.

hello_corpus: [selector] + a handshake message body: hand-built ClientHellos
(the JA4 specification's example, with GREASE, without extensions),
ServerHellos (TLS 1.2, 1.3, HelloRetryRequest), Certificate messages (TLS
1.2 and 1.3 layouts, cut), and the real messages of the captures given as arguments
(default: tests/data/tls/openssl-lo.pcap, made by
tests/integration/tls/tls_capture.sh).
stream_corpus: the segment format of fuzz_tls_stream: a hand-built
handshake in order, out of order and with retransmissions, and each TCP
connection of the captures as captured and reversed.
The corpora also hold inputs found by libFuzzer runs of the two targets
that added coverage (kept with -merge=1).
Standard library only. Usage: gen_corpus.py [capture.pcap...]"""
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def u16(v):
    return struct.pack(">H", v)


def u24(v):
    return struct.pack(">I", v)[1:]


def vec16(b):
    return u16(len(b)) + b


def ext(t, data):
    return u16(t) + vec16(data)


def client_hello(ciphers, exts, version=0x0303):
    return (u16(version) + bytes(32) + b"\x00" + vec16(b"".join(u16(c) for c in ciphers)) + b"\x01\x00"
            + vec16(b"".join(exts)))


def ja4_example(grease=False):
    c = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x9c, 0x9d,
         0x2f, 0x35]
    sni = ext(0, vec16(b"\x00" + vec16(b"www.example.com")))
    alpn = ext(16, vec16(b"\x02h2\x08http/1.1"))
    sig = ext(13, vec16(b"".join(u16(s) for s in [0x403, 0x804, 0x401, 0x503, 0x805, 0x501, 0x806, 0x601])))
    ver = ext(43, b"\x04\x03\x04\x03\x03")
    groups = ext(10, vec16(u16(29) + u16(23)))
    e = [ext(0x1b, b"\x00"), sni, ext(0x33, b""), alpn, ext(0x4469, b""), ext(0x17, b""), ext(0x2d, b"\x01\x01"),
         sig, ext(5, b""), ext(0x23, b""), ext(0x12, b""), ver, ext(0xff01, b"\x00"), ext(11, b"\x01\x00"), groups,
         ext(0x15, bytes(10))]
    if grease:
        c = [0x0a0a] + c
        e = [ext(0x1a1a, b"\x00")] + e + [ext(0xfafa, b"\x00")]
    return client_hello(c, e)


def server_hello(cipher, exts, random=bytes(32)):
    return u16(0x0303) + random + b"\x00" + u16(cipher) + b"\x00" + vec16(b"".join(exts))


HRR = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def certificate(ders, tls13=False):
    if tls13:
        body = b"".join(u24(len(d)) + d + u16(0) for d in ders)
        return b"\x00" + u24(len(body)) + body
    body = b"".join(u24(len(d)) + d for d in ders)
    return u24(len(body)) + body


def fake_der(n, i):
    return b"\x30\x82" + u16(n - 4) + bytes((i * 31 + k) & 255 for k in range(n - 4))


def hs(t, body):
    return bytes([t]) + u24(len(body)) + body


def records(b, frag=16384):
    return b"".join(b"\x16\x03\x03" + vec16(b[o:o + frag]) for o in range(0, len(b), frag))


def seg(flags, server, seq, payload, port=0, v6=False, adv=0):
    return bytes([flags, (1 if server else 0) | (2 if v6 else 0) | (port << 2) | (adv << 4)]) + struct.pack(
        ">IH", seq & 0xffffffff, len(payload)) + payload


def write(dirname, data):
    d = os.path.join(HERE, dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def tcp_segments(path):
    """(stream key, from_server, flags, seq, payload) of every TCP packet of a
    little-endian microsecond pcap on Ethernet or raw IPv4 (what tcpdump writes)."""
    data = open(path, "rb").read()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    if magic != 0xa1b2c3d4:
        sys.exit("only little-endian microsecond pcap files")
    off, out, servers = 24, [], {}
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
        p = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if link == 1:
            if p[12:14] != b"\x08\x00":
                continue
            p = p[14:]
        if p[0] >> 4 != 4 or p[9] != 6:
            continue
        ihl = (p[0] & 15) * 4
        tot = struct.unpack(">H", p[2:4])[0]
        t = p[ihl:tot]
        sp, dp, seq = struct.unpack(">HHI", t[:8])
        doff = (t[12] >> 4) * 4
        flags = t[13]
        key = tuple(sorted([(p[12:16], sp), (p[16:20], dp)]))
        if flags & 0x12 == 0x02:
            servers[key] = dp
        out.append((key, sp == servers.get(key), flags, seq, t[doff:]))
    return out


def main():
    # hello corpus
    ch = ja4_example()
    write("hello_corpus", b"\x00" + ch)
    write("hello_corpus", b"\x00" + ja4_example(True))
    write("hello_corpus", b"\x00" + client_hello([4, 5, 10], [])[:-2])  # no extension block
    write("hello_corpus", b"\x00" + ch[:100])
    sv = ext(43, u16(0x0304))
    write("hello_corpus", b"\x01" + server_hello(0xc02f, [ext(0xff01, b"\x00"), ext(16, vec16(b"\x02h2")), ext(23, b"")]))
    write("hello_corpus", b"\x01" + server_hello(0x1301, [sv, ext(0x33, u16(29) + vec16(bytes(32)))]))
    write("hello_corpus", b"\x01" + server_hello(0x1301, [sv, ext(0x33, u16(29))], HRR))
    ders = [fake_der(300, 0), fake_der(200, 1), fake_der(100, 2)]
    write("hello_corpus", b"\x02" + certificate(ders))
    write("hello_corpus", b"\x02" + certificate(ders)[:450])
    write("hello_corpus", b"\x03" + certificate(ders, True))
    # stream corpus: a hand-built TLS 1.2 handshake
    cf = records(hs(1, ch))
    sf = records(hs(2, server_hello(0xc02f, [ext(0xff01, b"\x00")])) + hs(11, certificate(ders)) + hs(14, b""))
    ci, si = 0xfffffff0, 0x1000
    base = [seg(0x02, 0, ci - 1, b""), seg(0x12, 1, si - 1, b""), seg(0x10, 0, ci, b"")]
    c_segs = [seg(0x18, 0, ci + o, cf[o:o + 100]) for o in range(0, len(cf), 100)]
    s_segs = [seg(0x18, 1, si + o, sf[o:o + 300]) for o in range(0, len(sf), 300)]
    end = [seg(0x11, 0, ci + len(cf), b""), seg(0x11, 1, si + len(sf), b"")]
    write("stream_corpus", b"\x00" + b"".join(base + c_segs + s_segs + end))
    write("stream_corpus", b"\x01" + b"".join(base + c_segs + s_segs + end))
    write("stream_corpus", b"\x00" + b"".join(base + c_segs[::-1] + s_segs[2:] + s_segs[:3] + end))
    write("stream_corpus", b"\x00" + b"".join(c_segs + [seg(0x18, 1, si, sf, adv=15)]))
    write("stream_corpus", b"\x00" + b"".join(base + c_segs + [seg(0x04, 1, si, b"")]))
    # real captures
    for path in sys.argv[1:] or [os.path.join(HERE, "..", "..", "data", "tls", "openssl-lo.pcap")]:
        segs = tcp_segments(path)
        conns = {}
        for key, server, flags, seq, payload in segs:
            conns.setdefault(key, []).append((server, flags, seq, payload))
        for i, (key, pk) in enumerate(conns.items()):
            s = [seg(f, srv, q, pl, port=i & 3) for srv, f, q, pl in pk]
            write("stream_corpus", b"\x00" + b"".join(s))
            write("stream_corpus", b"\x00" + b"".join(s[::-1]))
            # the handshake messages of each direction
            for side in (0, 1):
                stream, seen = b"", set()
                for srv, f, q, pl in pk:
                    if srv == side and pl and q not in seen:
                        seen.add(q)
                        stream += pl
                msgs, o = b"", 0
                while o + 5 <= len(stream) and stream[o] == 22:
                    n = struct.unpack(">H", stream[o + 3:o + 5])[0]
                    msgs += stream[o + 5:o + 5 + n]
                    o += 5 + n
                o = 0
                while o + 4 <= len(msgs):
                    t, n = msgs[o], int.from_bytes(msgs[o + 1:o + 4], "big")
                    body = msgs[o + 4:o + 4 + n]
                    if t in (1, 2, 11) and len(body) == n:
                        write("hello_corpus", bytes([{1: 0, 2: 1, 11: 2}[t]]) + body)
                    if t not in (0, 1, 2, 11):
                        break
                    o += 4 + n


if __name__ == "__main__":
    main()
