#!/usr/bin/python3
"""Synthetic backscatter captures for the backscatter tests and benchmark.

Python 3 standard library only; the output is a pure function of the
arguments (seeded), so a failing test can be replayed byte for byte.

Scenario mode (default): a telescope (198.18.0.0/16 and 2001:db8:ffff::/48)
hit by the backscatter of victims with known attack shapes, every kind over
IPv4 and IPv6, plus scans, ordinary two-way traffic and a host of the
sensor's own network whose outbound connections are answered. The sidecar
JSON (--expect) lists:

  vectors        the vectors a correct analyzer reports with the default
                 thresholds (>= 25 packets, >= 60 s, peak >= 30 packets/min,
                 closed after 300 s idle), with or without --telescope and
                 --live. Members: victim, kind, packets, bytes (sum of IP
                 total lengths), ports ({"port": count}, the victim's ports;
                 {"0": n} for echo replies), first, last (epoch seconds, float,
                 microsecond resolution), telescope_addrs (distinct
                 destinations hit).
  live_excluded  vectors made of replies to connections the sensor's own
                 host opened: reported only without --live and without a
                 telescope prefix (their destination is outside it).
  below_threshold  shapes just under one threshold each: never reported.
  scans, ordinary  packet counts of the traffic that must give no vector.

Bench mode (--packets N): N packets drawn from a pool of 65,536 distinct
packets over 2,500 victims (2,000 IPv4, 500 IPv6) chosen Zipf-like (a few
victims under heavy attack, a long tail), arriving at 10,000 packets/s of
capture time. Mix: 70 % backscatter (SYN+ACK 45 %, RST 20 %, RST+ACK 10 %,
echo reply 10 %, ICMP/ICMPv6 errors quoting TCP or UDP 15 %), 20 % scans
(ACK, FIN, NULL, XMAS, echo requests), 10 % ordinary traffic; 80 % IPv4.
The sidecar then holds only that shape.

Usage: bs_gen.py --out FILE [--format pcap|pcapng] [--link eth|vlan|raw|sll|sll2]
                 [--expect FILE.json] [--seed N] [--start EPOCH] [--packets N]
"""
import argparse
import ipaddress
import json
import random
import struct
import sys

# Kind names as printed by d4-backscatter.
K_SYNACK = "tcp-synack"
K_RST = "tcp-rst"
K_RSTACK = "tcp-rst"  # RST with ACK: the same kind as a bare RST
K_ECHO4 = "icmp-echo-reply"
K_UNREACH4 = "icmp-unreach"
K_TIMEX4 = "icmp-time-exceeded"
K_QUENCH4 = "icmp-source-quench"
K_PARAM4 = "icmp-param-problem"
K_ECHO6 = "icmp6-echo-reply"
K_PTB6 = "icmp6-packet-too-big"
K_UNREACH6 = "icmp6-unreach"
K_TIMEX6 = "icmp6-time-exceeded"
K_PARAM6 = "icmp6-param-problem"

TELESCOPE4 = ipaddress.ip_network("198.18.0.0/16")
TELESCOPE6 = ipaddress.ip_network("2001:db8:ffff::/48")
OWN_HOST = "10.1.1.1"  # the sensor's own network (live mode)

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def is6(a):
    return ":" in a


def ip_packet(src, dst, proto, l4, ttl=64, ident=1):
    """IP header + l4, with the transport checksum (offset by protocol) filled."""
    s = ipaddress.ip_address(src).packed
    d = ipaddress.ip_address(dst).packed
    off = {6: 16, 17: 6, 1: 2, 58: 2}.get(proto)
    if off is not None:
        l4 = bytearray(l4)
        l4[off : off + 2] = b"\0\0"
        if proto == 1:
            c = csum(bytes(l4))
        elif len(s) == 4:
            c = csum(s + d + struct.pack("!BBH", 0, proto, len(l4)) + bytes(l4))
        else:
            c = csum(s + d + struct.pack("!IxxxB", len(l4), proto) + bytes(l4))
        if proto == 17 and c == 0:
            c = 0xFFFF
        l4[off : off + 2] = struct.pack("!H", c)
        l4 = bytes(l4)
    if len(s) == 4:
        h = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0x4000, ttl, proto, 0) + s + d
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        return h + l4
    h = struct.pack("!IHBB", 0x60000000, len(l4), proto, ttl) + s + d
    return h + l4


def tcp(sport, dport, flags, seq=0, ack=0, payload=b"", win=65535):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, win, 0, 0) + payload


def udp(sport, dport, payload=b""):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(typ, code, rest, body, v6=False):
    return struct.pack("!BBH", typ, code, 0) + rest + body


def quoted(tele, victim, proto, tport, vport, seq, v6):
    """The attack packet (spoofed source = the telescope address) as a router
    or the victim quotes it: IPv4 header + 8 bytes (RFC 792), IPv6: header +
    whole transport header (RFC 4443 quotes as much as fits)."""
    if proto == 6:
        l4 = tcp(tport, vport, SYN, seq=seq)
    else:
        l4 = udp(tport, vport, b"\0" * 32)
    p = ip_packet(tele, victim, proto, l4, ttl=40 + seq % 20, ident=seq)
    if not v6:
        return p[:28]
    return p[: 40 + (20 if proto == 6 else 8)]


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.pkts = []  # (ts_us, ip bytes)

    def tele(self, v6):
        r = self.rng
        if v6:
            return str(TELESCOPE6[r.getrandbits(80)])
        return str(TELESCOPE4[r.randrange(1, 65535)])

    def times(self, first_us, dur_us, n):
        """n timestamps, first and last exact, evenly spread with jitter."""
        if n == 1:
            return [first_us]
        step = dur_us / (n - 1)
        out = [first_us]
        for i in range(1, n - 1):
            out.append(int(first_us + i * step + self.rng.uniform(-0.4, 0.4) * step))
        out.append(first_us + dur_us)
        return out

    def backscatter(self, kind, victim, tele, vport, i):
        """One backscatter packet of `kind` caused by an attack on victim:vport
        spoofed from `tele`. Returns the IP packet."""
        r = self.rng
        v6 = is6(victim)
        tport = r.randrange(1024, 65536)
        seq = r.getrandbits(32)
        if kind == K_SYNACK:
            return ip_packet(victim, tele, 6, tcp(vport, tport, SYN | ACK, seq, r.getrandbits(32)), ident=i)
        if kind == K_RST:
            return ip_packet(victim, tele, 6, tcp(vport, tport, RST, seq, 0, win=0), ident=i)
        if kind == K_RSTACK:
            return ip_packet(victim, tele, 6, tcp(vport, tport, RST | ACK, 0, seq, win=0), ident=i)
        if kind in (K_ECHO4, K_ECHO6):
            body = struct.pack("!HH", r.getrandbits(16), i & 0xFFFF) + bytes(56)
            return ip_packet(victim, tele, 58 if v6 else 1, icmp(129 if v6 else 0, 0, b"", body), ident=i)
        proto = 17 if vport in (53, 123, 500, 161) else 6
        q = quoted(tele, victim, proto, tport, vport, seq & 0xFFFF, v6)
        router = "2001:db8:2::1" if v6 else "198.51.100.1"
        if kind == K_UNREACH4:
            return ip_packet(router, tele, 1, icmp(3, 1, b"\0" * 4, q), ident=i)
        if kind == K_TIMEX4:
            return ip_packet(router, tele, 1, icmp(11, 0, b"\0" * 4, q), ident=i)
        if kind == K_QUENCH4:
            return ip_packet(victim, tele, 1, icmp(4, 0, b"\0" * 4, q), ident=i)
        if kind == K_PARAM4:
            return ip_packet(router, tele, 1, icmp(12, 0, b"\x08\0\0\0", q), ident=i)
        if kind == K_PTB6:
            return ip_packet(router, tele, 58, icmp(2, 0, struct.pack("!I", 1280), q), ident=i)
        if kind == K_UNREACH6:
            return ip_packet(router, tele, 58, icmp(1, 4, b"\0" * 4, q), ident=i)
        if kind == K_TIMEX6:
            return ip_packet(router, tele, 58, icmp(3, 0, b"\0" * 4, q), ident=i)
        if kind == K_PARAM6:
            return ip_packet(router, tele, 58, icmp(4, 0, struct.pack("!I", 6), q), ident=i)
        raise ValueError(kind)

    def attack(self, victim, kind, first_s, dur_s, ports):
        """A vector: sum(ports.values()) packets over dur_s seconds; ports =
        {victim port: packets} ({0: n} for echo replies). Returns the expected
        vector."""
        n = sum(ports.values())
        plist = [p for p, c in ports.items() for _ in range(c)]
        self.rng.shuffle(plist)
        ts = self.times(int(first_s * 1e6), int(dur_s * 1e6), n)
        nbytes = 0
        dsts = set()
        for i, (t, port) in enumerate(zip(ts, plist)):
            tele = self.tele(is6(victim))
            dsts.add(tele)
            p = self.backscatter(kind, victim, tele, port, i)
            nbytes += len(p)
            self.pkts.append((t, p))
        minutes = {}
        for t in ts:
            minutes[t // 60_000_000] = minutes.get(t // 60_000_000, 0) + 1
        return {
            "victim": victim,
            "kind": kind,
            "peak": max(minutes.values()),
            "packets": n,
            "bytes": nbytes,
            "ports": {str(p): c for p, c in sorted(ports.items())},
            "first": ts[0] / 1e6,
            "last": ts[-1] / 1e6,
            "telescope_addrs": len(dsts),
        }

    def scans(self, t0):
        """Pure ACK / FIN / NULL / XMAS and echo requests sent to the telescope:
        one scanner each, enough packets to make a vector were they counted."""
        counts = {}
        for k, (src, flags) in enumerate(
            [("192.0.2.66", ACK), ("192.0.2.67", FIN), ("192.0.2.68", 0), ("192.0.2.69", FIN | PSH | URG), ("2001:db8:66::1", ACK), ("2001:db8:66::2", FIN | PSH | URG)]
        ):
            n = 100
            for i, t in enumerate(self.times(int((t0 + 7 * k) * 1e6), 200_000_000, n)):
                l4 = tcp(self.rng.choice((80, 443, 8080)), self.rng.randrange(1, 65536), flags, self.rng.getrandbits(32), self.rng.getrandbits(32) if flags & ACK else 0)
                self.pkts.append((t, ip_packet(src, self.tele(is6(src)), 6, l4, ident=i)))
            counts["%s flags 0x%02x" % (src, flags)] = n
        for i, t in enumerate(self.times(int((t0 + 50) * 1e6), 200_000_000, 100)):
            self.pkts.append((t, ip_packet("192.0.2.70", self.tele(False), 1, icmp(8, 0, b"", struct.pack("!HH", 7, i) + bytes(56)), ident=i)))
        counts["192.0.2.70 echo request"] = 100
        return counts

    def ordinary(self, t0):
        """Two-way traffic of a network: TCP connections, DNS over UDP, pings.
        Each server answers a handful of times (far under the thresholds)."""
        n = 0
        for s in range(20):
            server = "10.2.0.%d" % (s + 1) if s % 4 else "2001:db8:10::%x" % (s + 1)
            client = "10.1.2.%d" % (s + 1) if s % 4 else "2001:db8:11::%x" % (s + 1)
            for c in range(5):
                t = int((t0 + s * 13 + c * 37) * 1e6)
                cp = 40000 + s * 10 + c
                isn, rsn = self.rng.getrandbits(32), self.rng.getrandbits(32)
                flow = [
                    (client, server, tcp(cp, 443, SYN, isn)),
                    (server, client, tcp(443, cp, SYN | ACK, rsn, isn + 1)),
                    (client, server, tcp(cp, 443, ACK, isn + 1, rsn + 1)),
                    (client, server, tcp(cp, 443, PSH | ACK, isn + 1, rsn + 1, b"G" * 200)),
                    (server, client, tcp(443, cp, PSH | ACK, rsn + 1, isn + 201, b"H" * 1200)),
                    (client, server, tcp(cp, 443, FIN | ACK, isn + 201, rsn + 1201)),
                    (server, client, tcp(443, cp, FIN | ACK, rsn + 1201, isn + 202)),
                    (client, server, tcp(cp, 443, ACK, isn + 202, rsn + 1202)),
                ]
                for j, (a, b, l4) in enumerate(flow):
                    self.pkts.append((t + j * 1000, ip_packet(a, b, 6, l4)))
                    n += 1
                # a DNS question and its answer, a ping and its reply
                self.pkts.append((t + 20000, ip_packet(client, server, 17, udp(cp, 53, b"q" * 30))))
                self.pkts.append((t + 21000, ip_packet(server, client, 17, udp(53, cp, b"a" * 60))))
                v6 = is6(client)
                body = struct.pack("!HH", s, c) + bytes(56)
                self.pkts.append((t + 30000, ip_packet(client, server, 58 if v6 else 1, icmp(128 if v6 else 8, 0, b"", body))))
                self.pkts.append((t + 31000, ip_packet(server, client, 58 if v6 else 1, icmp(129 if v6 else 0, 0, b"", body))))
                n += 4
        return n

    def own_connections(self, t0):
        """The sensor's own host opens 80 connections to one server over 120 s;
        each SYN+ACK answers it within 50 ms."""
        server = "203.0.113.200"
        ts = self.times(int(t0 * 1e6), 120_000_000, 80)
        nbytes = 0
        for i, t in enumerate(ts):
            cp = 50000 + i
            isn = self.rng.getrandbits(32)
            self.pkts.append((t, ip_packet(OWN_HOST, server, 6, tcp(cp, 443, SYN, isn))))
            p = ip_packet(server, OWN_HOST, 6, tcp(443, cp, SYN | ACK, self.rng.getrandbits(32), isn + 1))
            self.pkts.append((t + 50000, p))
            nbytes += len(p)
        return {"victim": server, "kind": K_SYNACK, "packets": 80, "bytes": nbytes, "ports": {"443": 80}, "first": (ts[0] + 50000) / 1e6, "last": (ts[-1] + 50000) / 1e6, "telescope_addrs": 1}


def scenario(g, t0):
    vec = []
    a = g.attack
    # IPv4, every kind; one victim with two kinds (two vectors)
    vec.append(a("203.0.113.10", K_SYNACK, t0 + 0, 240, {80: 150, 443: 50}))
    vec.append(a("203.0.113.10", K_RST, t0 + 30, 100, {80: 60, 8080: 5}))
    vec.append(a("203.0.113.20", K_RSTACK, t0 + 10, 120, {22: 90}))
    vec.append(a("203.0.113.30", K_ECHO4, t0 + 20, 90, {0: 80}))
    vec.append(a("203.0.113.40", K_UNREACH4, t0 + 40, 110, {443: 70}))
    vec.append(a("203.0.113.50", K_TIMEX4, t0 + 50, 95, {53: 70}))
    vec.append(a("203.0.113.60", K_QUENCH4, t0 + 60, 80, {25: 70}))
    vec.append(a("203.0.113.70", K_PARAM4, t0 + 70, 85, {123: 70}))
    # idle 400 s between two bursts: two vectors
    vec.append(a("203.0.113.80", K_SYNACK, t0 + 100, 90, {80: 100}))
    vec.append(a("203.0.113.80", K_SYNACK, t0 + 100 + 90 + 400, 90, {80: 100}))
    # IPv6, every kind
    vec.append(a("2001:db8:1::10", K_SYNACK, t0 + 5, 180, {443: 120, 80: 30}))
    vec.append(a("2001:db8:1::20", K_RST, t0 + 15, 100, {80: 70}))
    vec.append(a("2001:db8:1::21", K_RSTACK, t0 + 25, 100, {25: 66}))
    vec.append(a("2001:db8:1::30", K_ECHO6, t0 + 35, 90, {0: 75}))
    vec.append(a("2001:db8:1::40", K_PTB6, t0 + 45, 100, {443: 64}))
    vec.append(a("2001:db8:1::50", K_UNREACH6, t0 + 55, 100, {53: 70}))
    vec.append(a("2001:db8:1::60", K_TIMEX6, t0 + 65, 100, {80: 70}))
    vec.append(a("2001:db8:1::70", K_PARAM6, t0 + 75, 100, {500: 70}))
    # every vector of the scenario is reportable whatever the start's place
    # in its calendar minute (counts chosen so; checked on the times made)
    for v in vec:
        if v["packets"] < 25 or v["last"] - v["first"] < 60 or v["peak"] < 30:
            raise SystemExit("bs_gen: scenario vector %s %s not reportable: %r" % (v["victim"], v["kind"], v))
    below = []
    e = a("203.0.113.90", K_SYNACK, t0 + 10, 120, {80: 24})
    e["reason"] = "packets 24 < 25"
    below.append(e)
    e = a("203.0.113.91", K_SYNACK, t0 + 10, 59.999999, {80: 200})
    e["reason"] = "duration < 60 s"
    below.append(e)
    e = a("2001:db8:1::92", K_RST, t0 + 10, 240, {80: 40})
    e["reason"] = "peak ~10 packets/min < 30"
    below.append(e)
    scans = g.scans(t0 + 3)
    ordinary = g.ordinary(t0 + 1)
    live = [g.own_connections(t0 + 12)]
    return {"vectors": vec, "live_excluded": live, "below_threshold": below, "scans": scans, "ordinary": {"packets": ordinary}}


def bench(g, t0, n):
    r = g.rng
    victims = ["100.%d.%d.%d" % (64 + (i >> 16 & 63), i >> 8 & 255, i & 255) for i in range(2000)]
    victims += ["2001:db8:%x::%x" % (i >> 8, i & 255) for i in range(500)]
    r.shuffle(victims)
    weights = [1.0 / (k + 1) for k in range(len(victims))]
    kinds4 = [(K_SYNACK, 45), (K_RST, 20), (K_RSTACK, 10), (K_ECHO4, 10), (K_UNREACH4, 8), (K_TIMEX4, 4), (K_QUENCH4, 1), (K_PARAM4, 2)]
    kinds6 = [(K_SYNACK, 45), (K_RST, 20), (K_RSTACK, 10), (K_ECHO6, 10), (K_UNREACH6, 6), (K_PTB6, 4), (K_TIMEX6, 3), (K_PARAM6, 2)]
    ports = [80, 443, 53, 22, 25, 123, 8080, 3389]
    pool = []
    npool = min(n, 65536)
    for i in range(npool):
        x = r.random()
        if x < 0.70:
            v = r.choices(victims, weights)[0]
            ks = kinds6 if is6(v) else kinds4
            k = r.choices([k for k, _ in ks], [w for _, w in ks])[0]
            pool.append(g.backscatter(k, v, g.tele(is6(v)), r.choice(ports), i))
        elif x < 0.90:
            v6 = r.random() < 0.2
            src = "2001:db8:66::%x" % r.randrange(1, 200) if v6 else "192.0.2.%d" % r.randrange(1, 255)
            if r.random() < 0.2:
                pool.append(ip_packet(src, g.tele(v6), 58 if v6 else 1, icmp(128 if v6 else 8, 0, b"", bytes(60))))
            else:
                fl = r.choice((ACK, FIN, 0, FIN | PSH | URG))
                pool.append(ip_packet(src, g.tele(v6), 6, tcp(r.randrange(1024, 65536), r.choice(ports), fl, r.getrandbits(32))))
        else:
            v6 = r.random() < 0.2
            a = "2001:db8:10::%x" % r.randrange(1, 300) if v6 else "10.2.%d.%d" % (r.randrange(4), r.randrange(1, 255))
            b = "2001:db8:11::%x" % r.randrange(1, 300) if v6 else "10.1.%d.%d" % (r.randrange(4), r.randrange(1, 255))
            pay = b"x" * r.choice((0, 0, 100, 1200))
            pool.append(ip_packet(a, b, 6, tcp(443, r.randrange(1024, 65536), PSH | ACK, r.getrandbits(32), r.getrandbits(32), pay)))
    return pool


def link_wrap(link):
    """(pcap link type, function IP packet -> frame)."""
    mac_a, mac_b = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")

    def et(p):
        return 0x86DD if p[0] >> 4 == 6 else 0x0800

    if link == "eth":
        return 1, lambda p: mac_a + mac_b + struct.pack("!H", et(p)) + p
    if link == "vlan":
        return 1, lambda p: mac_a + mac_b + struct.pack("!HHH", 0x8100, 42, et(p)) + p
    if link == "raw":
        return 101, lambda p: p
    if link == "sll":
        return 113, lambda p: struct.pack("!HHH", 0, 1, 6) + mac_b + b"\0\0" + struct.pack("!H", et(p)) + p
    if link == "sll2":
        return 276, lambda p: struct.pack("!HHIHBB", et(p), 0, 2, 1, 0, 6) + mac_b + b"\0\0" + p
    raise ValueError(link)


def write(path, fmt, linktype, frames):
    """frames: iterable of (ts_us, frame bytes), written in that order."""
    with open(path, "wb") as f:
        buf = []
        if fmt == "pcap":
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
            for t, fr in frames:
                buf.append(struct.pack("<IIII", t // 1000000, t % 1000000, len(fr), len(fr)))
                buf.append(fr)
                if len(buf) >= 8192:
                    f.write(b"".join(buf))
                    buf.clear()
        else:
            shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
            f.write(struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body + struct.pack("<I", 12 + len(shb_body)))
            idb_body = struct.pack("<HHI", linktype, 0, 262144)
            f.write(struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 12 + len(idb_body)))
            for t, fr in frames:
                pad = (-len(fr)) % 4
                tot = 32 + len(fr) + pad
                buf.append(struct.pack("<IIIIIII", 6, tot, 0, t >> 32, t & 0xFFFFFFFF, len(fr), len(fr)))
                buf.append(fr + b"\0" * pad + struct.pack("<I", tot))
                if len(buf) >= 8192:
                    f.write(b"".join(buf))
                    buf.clear()
        f.write(b"".join(buf))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--format", choices=("pcap", "pcapng"), default="pcap")
    ap.add_argument("--link", choices=("eth", "vlan", "raw", "sll", "sll2"), default="eth")
    ap.add_argument("--expect", help="sidecar JSON of the expected vectors")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=1780000000, help="capture start, epoch seconds")
    ap.add_argument("--packets", type=int, help="bench mode: N packets of a realistic mix")
    args = ap.parse_args()
    g = Gen(args.seed)
    linktype, wrap = link_wrap(args.link)
    if args.packets:
        pool = bench(g, args.start, args.packets)
        order = list(range(len(pool)))
        g.rng.shuffle(order)
        step = 100  # µs: 10,000 packets/s of capture time
        t0 = args.start * 1000000

        def frames():
            wrapped = [wrap(p) for p in pool]
            for i in range(args.packets):
                yield t0 + i * step, wrapped[order[i % len(order)]]

        write(args.out, args.format, linktype, frames())
        side = {"shape": "bench", "packets": args.packets, "pool": len(pool), "victims": 2500, "pps_capture_time": 10000, "mix": {"backscatter": 0.70, "scans": 0.20, "ordinary": 0.10}, "ipv4": 0.80}
    else:
        side = scenario(g, args.start)
        g.pkts.sort(key=lambda x: x[0])
        write(args.out, args.format, linktype, ((t, wrap(p)) for t, p in g.pkts))
        side["packets"] = len(g.pkts)
        side["telescope"] = [str(TELESCOPE4), str(TELESCOPE6)]
        side["own_host"] = OWN_HOST
    side.update({"seed": args.seed, "format": args.format, "link": args.link, "linktype": linktype})
    if args.expect:
        with open(args.expect, "w") as f:
            json.dump(side, f, indent=1, sort_keys=True)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
