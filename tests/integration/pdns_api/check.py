#!/usr/bin/python3
"""pDNS query API against an independent brute-force answer.

Usage: check.py DATASET.tsv BASE_URL CA_FILE USER_TOKEN ADMIN_TOKEN COF_SCHEMA
DATASET is what was loaded into the hub's store (gen.py output). The model
below merges it the way the store is documented to (docs/pdns.md): one
tuple per (rrname, rrtype, rdata) with min time_first, max time_last, the
sum of counts, the most restrictive TLP and the most specific bailiwick; it
answers every query form by scanning all tuples. Each API answer is
flattened to tuples and compared with the model's (as sets: the API's order
is the store's index order, checked separately for determinism and paging).
"""
import ipaddress
import json
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema

TLP = {"tlp:clear": 1, "tlp:green": 2, "tlp:ex:chr": 3, "tlp:amber": 4, "tlp:amber+strict": 5, "tlp:red": 6}
TYPES = {1: "A", 2: "NS", 5: "CNAME", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA"}
NAMES = {v: k for k, v in TYPES.items()}
errors = []
calls = 0


def err(msg):
    errors.append(msg)
    print("  FAIL:", msg, file=sys.stderr)


def labels(n):
    return n.count(".")


def load(path):
    tuples = {}
    for line in open(path, encoding="ascii"):
        f = line.rstrip("\n").split("\t")
        name, t, rd, bw, tf, tl, cnt, tlp, sensor = f
        key = (name.lower(), int(t), rd)
        tf, tl, cnt = int(tf), int(tl), int(cnt)
        tlpv = TLP[tlp]
        bw = None if bw == "-" else bw.lower()
        cur = tuples.get(key)
        if cur is None:
            tuples[key] = {"tf": tf, "tl": tl, "count": cnt, "tlp": tlpv, "bw": bw, "sensors": {sensor} - {"-"}}
        else:
            cur["tf"] = min(cur["tf"], tf)
            cur["tl"] = max(cur["tl"], tl)
            cur["count"] += cnt
            cur["tlp"] = max(cur["tlp"], tlpv)
            cur["sensors"] |= {sensor} - {"-"}
            if bw and (cur["bw"] is None or labels(bw) > labels(cur["bw"]) or
                       (labels(bw) == labels(cur["bw"]) and bw.encode() < cur["bw"].encode())):
                cur["bw"] = bw
    return tuples


def rdata_name(t, rd):
    if t in (2, 5, 12):
        return rd.lower()
    if t == 15:
        return rd.split()[1].lower()
    return None


def name_match(name, spec):
    """spec: ('exact'|'left'|'right', text with trailing dot for exact/left)."""
    kind, want = spec
    if name is None:
        return False
    if kind == "exact":
        return name == want
    if kind == "left":
        return name.endswith("." + want)
    return name.startswith(want) and len(name) > len(want)


def wire_name(n):
    """DNS wire form of a presentation name without escapes, as hex."""
    return b"".join(bytes([len(l)]) + l.encode() for l in n.rstrip(".").split(".")).hex() + "00"


def wire_txt(t):
    """DNS wire form of quoted TXT strings with \\" and \\\\ escapes, as hex."""
    out, i = b"", 0
    while i < len(t):
        if t[i] != '"':
            i += 1
            continue
        i, s = i + 1, b""
        while t[i] != '"':
            if t[i] == "\\":
                i += 1
            s += t[i].encode()
            i += 1
        i += 1
        out += bytes([len(s)]) + s
    return out.hex()


def model(tuples, *, owner=None, rdname=None, ip=None, raw=None, rrtype=None, bw=None, max_tlp=5,
          tfb=0, tfa=0, tlb=0, tla=0):
    out = set()
    for (name, t, rd), v in tuples.items():
        if v["tlp"] > max_tlp:
            continue
        if rrtype and t != rrtype:
            continue
        if bw and v["bw"] != bw:
            continue
        if tfb and v["tf"] > tfb or tfa and v["tf"] < tfa or tlb and v["tl"] > tlb or tla and v["tl"] < tla:
            continue
        if owner and not name_match(name, owner):
            continue
        if rdname and not name_match(rdata_name(t, rd), rdname):
            continue
        if ip is not None:
            if t not in (1, 28):
                continue
            a = ipaddress.ip_address(rd)
            lo, hi = ip
            if a.version != lo.version or not (lo <= a <= hi):
                continue
        if raw is not None and rd.encode() != raw:
            continue
        out.add((name, TYPES[t], rd, v["tf"], v["tl"], v["count"]))
    return out


class Client:
    def __init__(self, base, ca):
        self.base = base.rstrip("/")
        self.ctx = ssl.create_default_context(cafile=ca)

    def get(self, path, token, query=None, header="bearer"):
        global calls
        # a path holding % is sent as written (e.g. 192.0.2.0%2F24 inside one segment)
        url = self.base + (path if "%" in path else urllib.parse.quote(path, safe="/*,:-"))
        if query:
            url += "?" + urllib.parse.urlencode(query)
        h = {}
        if token is not None:
            h = {"Authorization": "Bearer " + token} if header == "bearer" else {"X-API-Key": token}
        req = urllib.request.Request(url, headers=h)
        calls += 1
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, dict((k.lower(), v) for k, v in r.headers.items()), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict((k.lower(), v) for k, v in e.headers.items()), e.read()


def parse_saf(body, what):
    lines = body.decode().splitlines()
    if not lines or json.loads(lines[0]) != {"cond": "begin"}:
        err(f"{what}: SAF does not start with begin: {lines[:1]}")
        return [], None
    last = json.loads(lines[-1])
    if last.get("cond") not in ("succeeded", "limited"):
        err(f"{what}: SAF does not end with succeeded/limited: {last}")
    objs = []
    for ln in lines[1:-1]:
        d = json.loads(ln)
        if set(d) != {"obj"}:
            err(f"{what}: SAF middle line is not an obj: {ln[:200]}")
            continue
        objs.append(d["obj"])
    return objs, last


def flat_saf(objs, rrset, what):
    out = []
    for o in objs:
        need = {"count", "time_first", "time_last", "rrname", "rrtype", "rdata"}
        if not need <= set(o):
            err(f"{what}: record lacks {need - set(o)}: {o}")
            continue
        if any(k.startswith("zone_time") for k in o):
            err(f"{what}: zone_time_* present: {o}")
        rds = o["rdata"]
        if rrset != isinstance(rds, list):
            err(f"{what}: rdata should be {'an array' if rrset else 'a string'}: {o}")
            rds = rds if isinstance(rds, list) else [rds]
        if not rrset:
            rds = [rds]
        for rd in rds:
            out.append((o["rrname"], o["rrtype"], rd, o["time_first"], o["time_last"], o["count"]))
    return out


def cmp(what, got, want):
    g = set(got)
    if len(g) != len(got):
        err(f"{what}: duplicate tuples in the answer")
    if g != want:
        miss, extra = want - g, g - want
        err(f"{what}: {len(g)} tuples, expected {len(want)}; missing {sorted(miss)[:3]} extra {sorted(extra)[:3]}")
    else:
        print(f"  ok {what}: {len(g)} tuples")


def main():
    ds, base, ca, user, admin, schema_path = sys.argv[1:7]
    tuples = load(ds)
    c = Client(base, ca)
    cof_schema = json.load(open(schema_path))
    cofv = jsonschema.Draft202012Validator(cof_schema)

    def dnsdb(path, want, rrset, token=user, query=None, what=None):
        what = what or path + (("?" + urllib.parse.urlencode(query)) if query else "")
        st, hd, body = c.get(path, token, query)
        if st != 200:
            err(f"{what}: status {st}: {body[:200]}")
            return None
        if not hd.get("content-type", "").startswith("application/x-ndjson"):
            err(f"{what}: content-type {hd.get('content-type')}")
        objs, last = parse_saf(body, what)
        got = flat_saf(objs, rrset, what)
        if want is not None:
            cmp(what, got, want)
            if last and last.get("cond") != "succeeded":
                err(f"{what}: ended {last} without a limit")
        return got, last, hd, body

    def cof(path, want, token=user, query=None):
        what = path + (("?" + urllib.parse.urlencode(query)) if query else "")
        st, hd, body = c.get(path, token, query)
        if st != 200:
            err(f"{what}: status {st}: {body[:200]}")
            return None
        got = []
        for i, ln in enumerate(body.decode().splitlines()):
            o = json.loads(ln)
            for e in list(cofv.iter_errors(o))[:2]:
                err(f"{what}: line {i} not COF: {e.message}")
            got.append((o["rrname"], o["rrtype"], o["rdata"], o["time_first"], o["time_last"], o["count"]))
        if want is not None:
            cmp(what, got, want)
        return got, hd, body

    # pick names that exist
    some = sorted({k[0] for k in tuples})
    www = "www.example.test."
    zone = "zone3.test."
    L = "/dnsdb/v2/lookup"
    print("# DNSDB rrset lookups")
    dnsdb(f"{L}/rrset/name/{www[:-1]}", model(tuples, owner=("exact", www)), True)
    dnsdb(f"{L}/rrset/name/{www}", model(tuples, owner=("exact", www)), True)
    dnsdb(f"{L}/rrset/name/{www.upper()}", model(tuples, owner=("exact", www)), True)
    for nm in some[::max(1, len(some) // 12)]:
        dnsdb(f"{L}/rrset/name/{nm}", model(tuples, owner=("exact", nm)), True)
    dnsdb(f"{L}/rrset/name/*.{zone}", model(tuples, owner=("left", zone)), True)
    dnsdb(f"{L}/rrset/name/*.example.test", model(tuples, owner=("left", "example.test.")), True)
    dnsdb(f"{L}/rrset/name/www.zone1.*", model(tuples, owner=("right", "www.zone1.")), True)
    dnsdb(f"{L}/rrset/name/mail.*", model(tuples, owner=("right", "mail.")), True)
    dnsdb(f"{L}/rrset/name/*.{zone}/A", model(tuples, owner=("left", zone), rrtype=1), True)
    dnsdb(f"{L}/rrset/name/*.{zone}/ANY", model(tuples, owner=("left", zone)), True)
    dnsdb(f"{L}/rrset/name/*.{zone}/TXT", model(tuples, owner=("left", zone), rrtype=16), True)
    dnsdb(f"{L}/rrset/name/*.{zone}/A/{zone}", model(tuples, owner=("left", zone), rrtype=1, bw=zone), True)
    dnsdb(f"{L}/rrset/name/{www}/A/example.test", model(tuples, owner=("exact", www), rrtype=1, bw="example.test."),
          True)
    dnsdb(f"{L}/rrset/name/*.{zone}", model(tuples, owner=("left", zone)), False, query={"aggr": "f"},
          what="aggr=f still an rrset record") if False else None
    # gravel: one rdata per object
    r = dnsdb(f"{L}/rrset/name/*.{zone}", model(tuples, owner=("left", zone)), True, query={"aggr": "f"})
    if r and any(len(json.loads(x)["obj"]["rdata"]) != 1 for x in r[3].decode().splitlines()[1:-1]):
        err("aggr=f: an object with several rdata")
    print("# DNSDB rdata lookups")
    dnsdb(f"{L}/rdata/name/{zone}", model(tuples, rdname=("exact", zone)), False)
    dnsdb(f"{L}/rdata/name/*.{zone}", model(tuples, rdname=("left", zone)), False)
    dnsdb(f"{L}/rdata/name/*.{zone}/CNAME", model(tuples, rdname=("left", zone), rrtype=5), False)
    dnsdb(f"{L}/rdata/name/ns1.*", model(tuples, rdname=("right", "ns1.")), False)
    ips = sorted({k[2] for k in tuples if k[1] == 1 and k[2].startswith("192.0.2.")})
    ip6 = sorted({k[2] for k in tuples if k[1] == 28})
    net = lambda s: (ipaddress.ip_network(s, strict=False)[0], ipaddress.ip_network(s, strict=False)[-1])
    a = ipaddress.ip_address
    dnsdb(f"{L}/rdata/ip/{ips[0]}", model(tuples, ip=(a(ips[0]), a(ips[0]))), False)
    dnsdb(f"{L}/rdata/ip/192.0.2.0,24", model(tuples, ip=net("192.0.2.0/24")), False)
    dnsdb(f"{L}/rdata/ip/198.51.100.0,25", model(tuples, ip=net("198.51.100.0/25")), False)
    dnsdb(f"{L}/rdata/ip/10.0.0.0,8", model(tuples, ip=net("10.0.0.0/8")), False)
    dnsdb(f"{L}/rdata/ip/192.0.2.10-192.0.2.99", model(tuples, ip=(a("192.0.2.10"), a("192.0.2.99"))), False)
    dnsdb(f"{L}/rdata/ip/{ip6[0]}", model(tuples, ip=(a(ip6[0]), a(ip6[0]))), False)
    dnsdb(f"{L}/rdata/ip/2001:db8:1::,48", model(tuples, ip=net("2001:db8:1::/48")), False)
    dnsdb(f"{L}/rdata/ip/2001:db8::,32", model(tuples, ip=net("2001:db8::/32")), False)
    dnsdb(f"{L}/rdata/ip/2001:db8::-2001:db8:1::ffff", model(tuples, ip=(a("2001:db8::"), a("2001:db8:1::ffff"))),
          False)
    # rdata/raw takes the DNS wire form, as DNSDB
    txt = sorted(k for k in tuples if k[1] == 16)[0]
    txt_wire = wire_txt(txt[2])
    dnsdb(f"{L}/rdata/raw/{txt_wire}", model(tuples, raw=txt[2].encode()), False)
    dnsdb(f"{L}/rdata/raw/{txt_wire}/TXT", model(tuples, raw=txt[2].encode(), rrtype=16), False)
    dnsdb(f"{L}/rdata/raw/{txt[2].encode().hex()}/TXT", set(), False)  # presentation text is not wire form
    ns = sorted(k for k in tuples if k[1] == 2)[0]
    dnsdb(f"{L}/rdata/raw/{wire_name(ns[2])}", model(tuples, raw=ns[2].encode()), False)
    dnsdb(f"{L}/rdata/raw/{wire_name(ns[2])}/NS", model(tuples, raw=ns[2].encode(), rrtype=2), False)
    dnsdb(f"{L}/rdata/raw/{ipaddress.ip_address(ips[0]).packed.hex()}/A",
          model(tuples, raw=ips[0].encode(), rrtype=1), False)
    dnsdb(f"{L}/rdata/raw/{ipaddress.ip_address(ip6[0]).packed.hex()}",
          model(tuples, raw=ip6[0].encode()), False)
    mx = sorted(k for k in tuples if k[1] == 15)[0]
    pref, tgt = mx[2].split(" ")
    dnsdb(f"{L}/rdata/raw/{int(pref):04x}{wire_name(tgt)}/MX", model(tuples, raw=mx[2].encode(), rrtype=15), False)

    print("# time filters (absolute and negative = relative to now)")
    mid = 1700000000 + 86400 * 200
    for q, kw in (({"time_first_before": mid}, {"tfb": mid}), ({"time_first_after": mid}, {"tfa": mid}),
                  ({"time_last_before": mid}, {"tlb": mid}), ({"time_last_after": mid}, {"tla": mid}),
                  ({"time_first_after": mid - 86400 * 50, "time_last_before": mid + 86400 * 50},
                   {"tfa": mid - 86400 * 50, "tlb": mid + 86400 * 50})):
        dnsdb(f"{L}/rdata/ip/192.0.2.0,24", model(tuples, ip=net("192.0.2.0/24"), **kw), False, query=q)
    now = int(time.time())
    rel = now - mid
    # a relative bound: the server's now differs from ours by a second or two at most; a boundary tuple
    # would flip, so pick a bound that no tuple time is within 10 s of
    times = sorted({v["tl"] for v in tuples.values()})
    while any(abs((now - rel) - t) < 10 for t in times):
        rel += 37
    dnsdb(f"{L}/rdata/ip/192.0.2.0,24", model(tuples, ip=net("192.0.2.0/24"), tla=now - rel), False,
          query={"time_last_after": -rel})
    dnsdb(f"{L}/rrset/name/*.{zone}", model(tuples, owner=("left", zone), tlb=now - rel), True,
          query={"time_last_before": -rel})

    print("# limit, offset, cursor paging, deterministic order")
    path = f"{L}/rdata/ip/192.0.2.0,24"
    full = dnsdb(path, model(tuples, ip=net("192.0.2.0/24")), False)
    again = dnsdb(path, None, False)
    if full and again and full[3] != again[3]:
        err("the same query gave different bytes (order not deterministic)")
    n = len(full[0]) if full else 0
    pages, cur, k = [], None, 0
    while k < 100:
        q = {"limit": 7}
        if cur:
            q["cursor"] = cur
        r = dnsdb(path, None, False, query=q)
        if not r:
            break
        got, last, hd, _ = r
        pages += got
        if last.get("cond") == "limited":
            cur = last.get("next_cursor")
            if hd.get("d4-next-cursor") != cur:
                err(f"D4-Next-Cursor header {hd.get('d4-next-cursor')} != SAF next_cursor {cur}")
            if len(got) != 7:
                err(f"a limited page has {len(got)} tuples, not 7")
        else:
            if "d4-next-cursor" in hd:
                err("a last page has a D4-Next-Cursor header")
            break
        k += 1
    if full and pages != full[0]:
        err(f"cursor pages ({len(pages)} tuples) != the unpaged answer ({n}) in order")
    else:
        print(f"  ok cursor paging: {k + 1} pages = {n} tuples in order")
    for off in (0, 5, n - 1, n, n + 3):
        r = dnsdb(path, None, False, query={"offset": off, "limit": 4})
        if r and full and r[0] != full[0][off:off + 4]:
            err(f"offset {off} limit 4: {len(r[0])} tuples != the unpaged answer's slice")
    r = dnsdb(path, None, False, query={"limit": 3})
    if r and r[1].get("cond") != "limited":
        err(f"limit 3 of {n}: not limited: {r[1]}")
    r = dnsdb(path, None, False, query={"limit": n})
    if r and r[1].get("cond") != "succeeded":
        err(f"limit == result size: should succeed: {r[1]}")

    print("# summarize")
    S = "/dnsdb/v2/summarize"
    for p_, want in ((f"{S}/rrset/name/*.{zone}", model(tuples, owner=("left", zone))),
                     (f"{S}/rdata/ip/192.0.2.0,24", model(tuples, ip=net("192.0.2.0/24"))),
                     (f"{S}/rdata/name/*.{zone}", model(tuples, rdname=("left", zone)))):
        st, hd, body = c.get(p_, user)
        objs, last = parse_saf(body, p_)
        exp = {"count": sum(t[5] for t in want), "num_results": len(want),
               "time_first": min(t[3] for t in want), "time_last": max(t[4] for t in want)}
        if st != 200 or objs != [exp]:
            err(f"{p_}: {st} {objs} != {exp}")
        else:
            print(f"  ok {p_}: {exp}")

    print("# CIRCL /pdns/query (COF)")
    cof(f"/pdns/query/{www[:-1]}", model(tuples, owner=("exact", www)))
    cof(f"/pdns/query/*.{zone}", model(tuples, owner=("left", zone)))
    cof(f"/pdns/query/{ips[0]}", model(tuples, ip=(a(ips[0]), a(ips[0]))))
    cof("/pdns/query/192.0.2.0%2F24", model(tuples, ip=net("192.0.2.0/24")))
    cof("/pdns/query/192.0.2.0,24", model(tuples, ip=net("192.0.2.0/24")))
    cof("/pdns/query/192.0.2.10-192.0.2.99", model(tuples, ip=(a("192.0.2.10"), a("192.0.2.99"))))
    cof(f"/pdns/query/{ip6[0]}", model(tuples, ip=(a(ip6[0]), a(ip6[0]))))
    cof(f"/pdns/query/*.{zone}", model(tuples, owner=("left", zone), rrtype=1), query={"rrtype": "A"})
    r = cof("/pdns/query/192.0.2.0,24", None, query={"limit": 5})
    if r and full:
        cur = r[1].get("d4-next-cursor")
        if not cur:
            err("COF limit 5: no D4-Next-Cursor header")
        else:
            r2 = cof("/pdns/query/192.0.2.0,24", None, query={"limit": 5, "cursor": cur})
            cof_all = cof("/pdns/query/192.0.2.0,24", None)
            if r2 and cof_all and r[0] + r2[0] != cof_all[0][:10]:
                err("COF cursor pages differ from the unpaged answer")
            else:
                print("  ok COF cursor paging")
    st, hd, body = c.get("/pdns/info", user)
    info = json.loads(body) if st == 200 else {}
    if st != 200 or info.get("tuples") != len(tuples):
        err(f"/pdns/info: {st} {info} (expected tuples {len(tuples)})")
    else:
        print(f"  ok /pdns/info {info}")

    print("# TLP: user (amber+strict) vs admin (red)")
    red = {k for k, v in tuples.items() if v["tlp"] == 6}
    if not red:
        err("the dataset has no tlp:red tuple")
    dnsdb(f"{L}/rdata/ip/192.0.2.0,24", model(tuples, ip=net("192.0.2.0/24"), max_tlp=6), False, token=admin,
          what="admin sees tlp:red")
    g = dnsdb(f"{L}/rrset/name/*.{zone}", None, True)
    gr = model(tuples, owner=("left", zone), max_tlp=6) - model(tuples, owner=("left", zone), max_tlp=5)
    if g and (set(g[0]) & gr or not gr):
        err(f"user sees tlp:red tuples ({len(set(g[0]) & gr)}) or no red tuple to hide ({len(gr)})")
    else:
        print(f"  ok user does not see {len(gr)} tlp:red tuples under *.{zone}")
    cof(f"/pdns/query/*.{zone}", model(tuples, owner=("left", zone), max_tlp=6), token=admin)

    print("# auth: X-API-Key, failures")
    st, _, body = c.get(f"{L}/rrset/name/{www}", user, header="x-api-key")
    if st != 200:
        err(f"X-API-Key: {st}")
    st, hd, _ = c.get(f"{L}/rrset/name/{www}", "d4h_" + "Z" * 43, header="x-api-key")
    if st != 401:
        err(f"bad X-API-Key: {st}, expected 401")
    st, _, _ = c.get(f"{L}/rrset/name/{www}", None)
    if st != 401:
        err(f"no key: {st}, expected 401")
    print("  ok X-API-Key accepted, 401 for a bad or missing key")

    print("# errors")
    for p_, q in ((f"{L}/rrset/name/a*b.test", None), (f"{L}/rdata/ip/300.1.2.3", None),
                  (f"{L}/rdata/ip/10.0.0.0,33", None), (f"{L}/rdata/raw/abc", None),
                  (f"{L}/rrset/name/{www}/NOPE", None), (f"{L}/rrset/name/{www}", {"limit": "x"}),
                  (f"{L}/rrset/name/{www}", {"cursor": "!!"}), (f"{L}/rrset/name/{www}", {"bogus": "1"}),
                  (f"{L}/rrset/name/{www}", {"time_first_before": "yesterday"}),
                  (f"{L}/rrset/name/{www}", {"max_count": "3"})):
        st, hd, body = c.get(p_, user, q)
        if st != 400 or not hd.get("content-type", "").startswith("application/problem+json"):
            err(f"{p_} {q}: {st} {hd.get('content-type')}, expected 400 problem")
    # a cursor of another query
    r = dnsdb(path, None, False, query={"limit": 2})
    if r and r[1].get("next_cursor"):
        st, _, _ = c.get(f"{L}/rrset/name/{www}", user, {"cursor": r[1]["next_cursor"]})
        if st != 400:
            err(f"a cursor of another query: {st}, expected 400")
    print(f"  {'ok' if not errors else 'FAILED'} error answers")

    print("# malformed queries: a 4xx problem on every path, never 200 []")
    nerr = len(errors)

    def problem(p_, q, status, token=user, what=None):
        st, hd, body = c.get(p_, token, q)
        ok = st == status and hd.get("content-type", "").startswith("application/problem+json")
        if ok:
            try:
                ok = json.loads(body).get("status") == status
            except ValueError:
                ok = False
        if not ok:
            err(f"{what or p_} {q}: {st} {hd.get('content-type')} {body[:120]!r}, expected a {status} problem")
        return ok

    l63, l64 = "a" * 63, "a" * 64
    bad_names = ["a..b", ".x", ".", "..", "x..", f"{l64}.test", l64, ".".join([l63] * 4),
                 ".".join([l63] * 3) + "." + "b" * 62 + ".", "a\\", "a\\999b"]
    name_paths = ["/pdns/query/", f"{L}/rrset/name/", f"{L}/rdata/name/",
                  f"{S}/rrset/name/", f"{S}/rdata/name/"]
    ncase = 0
    for pre in name_paths:
        for nm in bad_names:
            problem(pre + nm, None, 400)
            ncase += 1
            if nm != ".":
                problem(pre + "*." + nm, None, 400)
                ncase += 1
    problem(f"{L}/rrset/name/{www}/A/a..b", None, 400)
    bad_ips = ["192.0.2.0,33", "192.0.2.0%2F33", "256.1.2.3", "1.2.3", "1.2.3.4.5", "192.0.2.9-192.0.2.1",
               "192.0.2.1-2001:db8::1", "2001:db8::%2F129", "2001:db8::g", "2001:db8::9-2001:db8::1",
               "192.0.2.0,", "123"]
    for ip_ in bad_ips:
        for pre in ("/pdns/query/", f"{L}/rdata/ip/", f"{S}/rdata/ip/"):
            problem(pre + ip_, None, 400)
            ncase += 1
    # the limits themselves are names: a 63-octet label, a 253-byte name
    for ok_ in (f"/pdns/query/{l63}.test", f"{L}/rrset/name/" + ".".join([l63] * 3) + "." + "b" * 61):
        st, _, body = c.get(ok_, user)
        if st != 200:
            err(f"{ok_[:60]}...: {st} {body[:120]!r}, expected 200")
    # an over-long request path: 414
    problem("/pdns/query/" + "a." * 1100 + "test", None, 414, what="/pdns/query/<2212 bytes>")
    problem(f"{L}/rrset/name/" + "a." * 1100 + "test", None, 414, what=f"{L}/rrset/name/<2212 bytes>")
    # cursors are sealed: cut, altered, another query's, another role's, unsealed
    cpath = "/pdns/query/192.0.2.0,24"
    st, hd, _ = c.get(cpath, user, {"limit": 5})
    cur = hd.get("d4-next-cursor", "")
    if st != 200 or len(cur) < 30:
        err(f"{cpath} limit 5: {st}, cursor {cur!r}")
    else:
        for k in range(0, len(cur), 3):
            problem(cpath, {"limit": 5, "cursor": cur[:k]}, 400, what=f"cursor cut to {k}")
        for k in range(len(cur)):
            alt = cur[:k] + ("B" if cur[k] == "A" else "A") + cur[k + 1:]
            problem(cpath, {"limit": 5, "cursor": alt}, 400, what=f"cursor altered at {k}")
        problem(cpath, {"limit": 5, "cursor": cur + "AAAA"}, 400, what="cursor with bytes appended")
        problem("/pdns/query/192.0.2.0,25", {"limit": 5, "cursor": cur}, 400, what="another range's cursor")
        problem(f"/pdns/query/{www[:-1]}", {"limit": 5, "cursor": cur}, 400, what="another query's cursor")
        problem(f"{L}/rdata/ip/192.0.2.0,24", {"limit": 5, "cursor": cur}, 400, what="a COF cursor on DNSDB")
        problem(cpath, {"limit": 5, "cursor": cur, "rrtype": "A"}, 400, what="cursor with a filter added")
        problem(cpath, {"limit": 5, "cursor": cur}, 400, token=admin, what="a user's cursor used by an admin")
        st, hd, _ = c.get(cpath, admin, {"limit": 5})
        acur = hd.get("d4-next-cursor")
        if not acur:
            err("admin limit 5: no D4-Next-Cursor")
        else:
            problem(cpath, {"limit": 5, "cursor": acur}, 400, what="an admin's cursor used by a user")
        problem(cpath, {"limit": 5, "cursor": "AgcAAP____8AAAAAAAAAAAA"}, 400, what="an unsealed cursor")
        # and the genuine one still pages
        st, _, _ = c.get(cpath, user, {"limit": 5, "cursor": cur})
        if st != 200:
            err(f"the genuine cursor: {st}")
    if len(errors) == nerr:
        print(f"  ok {ncase} malformed names and addresses, 414, tampered cursors: 4xx problems")

    if errors:
        print(f"check.py: {len(errors)} problems in {calls} calls", file=sys.stderr)
        return 1
    print(f"check.py: all answers match the brute force ({calls} calls, {len(tuples)} tuples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
