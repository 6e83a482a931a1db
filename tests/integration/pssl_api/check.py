#!/usr/bin/python3
"""Passive-SSL API against a set of handshakes written into the hub's store.

  check.py gen NOW CERT_DIR OUT_DIR     writes OUT_DIR/load.tsv (pssl_api_load input)
                                        and OUT_DIR/set.json (the handshakes, the
                                        certificates as the openssl command describes them)
  check.py check SET.json FIXTURES.json

Every request goes through curl over HTTP/2 (checked). Each answer is compared
with the set, as a user cleared for tlp:amber and as an admin (tlp:red): the
CIRCL lookups (/v2pssl query over an address, a network in both path forms,
IPv6; cquery; cfetch with its PEM, key, validity and extensions), every pivot
of tuples and certificates, the detail of a certificate (DER, PEM, chain,
tuples), the JA3/JA3S rows; every page walk returns each expected row exactly
once; rows above the clearance are absent everywhere and a single one is a 404
like an unknown one; every malformed query is a 4xx problem, never a 200.
"""

import base64
import hashlib
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse

ORDER = ["tlp:clear", "tlp:green", "tlp:ex:chr", "tlp:amber", "tlp:amber+strict", "tlp:red"]
CLEARANCE = {"admin": "tlp:red", "user": "tlp:amber"}
S1, S2 = "5e3c3b5e0b9e4c1e9a52c6e9d2a1f0c1", "5e3c3b5e0b9e4c1e9a52c6e9d2a1f0c2"
ORG = "6f1c0b5e0b9e4c1e9a52c6e9d2a1f0dd"
J1, J2, JR = "771,4865-4866-4867,0-11-10-35-16,29-23-24,0", "769,47-53-5-10,0-10-11,23-24-25,0", "771,49195,0-23,29,0"
JS1, JS2 = "771,4865,43-51", "769,47,65281"
JA4A, JA4B = "t13d1516h2_8daaf6152771_e5627efa2ab1", "t12d2808h2_d943125447b4_e7e480e5a997"
FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def ok(cond, msg):
    if not cond:
        fail(msg)
    return cond


def visible(role, tlp):
    return ORDER.index(tlp) <= ORDER.index(CLEARANCE[role])


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


# ---- the set ----------------------------------------------------------------------
def gen(now, cdir, out):
    certs = {}
    for n in ["ca", "a", "b", "r", "p", "v6"]:
        der = open(os.path.join(cdir, n + ".der"), "rb").read()
        rd = lambda ext: open(os.path.join(cdir, n + ext)).read().strip()
        dates = dict(l.split("=", 1) for l in rd(".dates").splitlines())
        certs[n] = {"file": os.path.join(cdir, n + ".der"), "sha1": hashlib.sha1(der).hexdigest(),
                    "sha256": hashlib.sha256(der).hexdigest(), "der": base64.b64encode(der).decode(),
                    "pem": open(os.path.join(cdir, n + ".pem")).read(), "pub": rd(".pub") + "\n",
                    "spki": rd(".spki"), "issuer": rd(".issuer"), "modulus": rd(".modulus").lower(),
                    "not_before": dates["notBefore"], "not_after": dates["notAfter"], "san": rd(".san")}
    subj = {"ca": "C=LU, O=D4 Test, CN=Test PSSL CA", "a": "C=LU, O=D4 Test, CN=a.example",
            "b": "C=LU, O=Example\\, Inc., CN=b.example", "r": "C=LU, O=D4 Test, CN=red.example",
            "p": "C=LU, O=D4 Test, CN=paging.example", "v6": "CN=v6.example"}
    names = {"ca": [], "a": ["a.example", "www.a.example"], "b": ["b.example"], "r": ["red.example"],
             "p": ["paging.example"], "v6": ["v6.example"]}
    for n in certs:
        certs[n]["subject_oneline"] = subj[n]
        certs[n]["names"] = names[n]
    hs = []

    def add(ip, port, sni, ja3, ja3s, ja4, tlp, count, sensor, org, chain):
        i = len(hs)
        hs.append({"ip": ip, "port": port, "sni": sni, "ja3": ja3, "ja3s": ja3s, "ja4": ja4, "tlp": tlp,
                   "first": now - 100000 + 100 * i, "last": now - 50000 + 100 * i, "count": count,
                   "sensor": sensor, "org": org, "chain": chain})
    add("192.0.2.10", 443, "a.example", J1, JS1, JA4A, "tlp:green", 3, S1, ORG, ["a", "ca"])
    add("192.0.2.11", 443, "WWW.A.Example", J1, JS1, JA4A, "tlp:amber", 1, S1, ORG, ["a", "ca"])
    add("192.0.2.11", 8443, "b.example", J2, JS2, JA4B, "tlp:clear", 2, S2, None, ["b", "ca"])
    add("192.0.2.200", 443, "red.example", JR, JS2, None, "tlp:red", 1, S1, None, ["r", "ca"])
    add("2001:db8::5", 443, "v6.example", J2, None, None, "tlp:green", 4, S2, None, ["v6"])
    add("192.0.3.1", 443, None, J1, JS1, None, "tlp:ex:chr", 1, S2, ORG, ["a", "ca"])
    add("192.0.2.10", 443, None, None, None, None, "tlp:amber+strict", 1, None, None, [])
    add("192.0.2.12", 443, "Long-" + "x" * 300 + ".example", J2, JS2, None, "tlp:green", 1, S2, None, ["b", "ca"])
    for k in range(1, 31):
        add("198.51.100.%d" % k, 443, "paging.example", J2, JS2, JA4B,
            "tlp:amber+strict" if k % 5 == 0 else "tlp:green", k, S2, None, ["p", "ca"])
    with open(os.path.join(out, "load.tsv"), "w") as f:
        for h in hs:
            f.write("\t".join(["hs", h["ip"], str(h["port"]), h["sni"] or "-", h["ja3"] or "-", h["ja3s"] or "-",
                               h["ja4"] or "-", h["tlp"], str(h["first"]), str(h["last"]), str(h["count"]),
                               h["sensor"] or "-", h["org"] or "-",
                               ",".join(certs[c]["file"] for c in h["chain"]) or "-"]) + "\n")
    json.dump({"now": now, "certs": certs, "hs": hs}, open(os.path.join(out, "set.json"), "w"))
    return 0


# ---- HTTP over curl --http2 --------------------------------------------------------------
class Api:
    def __init__(self, fx):
        self.base, self.ca, self.tokens = fx["base_url"], fx["cacert"], fx["tokens"]
        self.tmp = tempfile.mkdtemp(prefix="pssl.")
        self.calls = 0

    def get(self, path, role="user", query=None):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        body, hdr = os.path.join(self.tmp, "body"), os.path.join(self.tmp, "hdr")
        r = subprocess.run(["curl", "-s", "--http2", "--cacert", self.ca, "-H",
                            "Authorization: Bearer " + self.tokens[role], "-o", body, "-D", hdr, "-w",
                            "%{http_code} %{http_version}", "--path-as-is", url],
                           capture_output=True, text=True, timeout=60)
        self.calls += 1
        code, version = r.stdout.split()
        headers = {}
        for line in open(hdr, encoding="latin-1").read().splitlines()[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        data = open(body, "rb").read()
        ok(version == "2", f"{path}: HTTP/{version}, expected HTTP/2")
        return int(code), headers, data

    def json(self, path, role="user", query=None, status=200):
        code, h, data = self.get(path, role, query)
        if not ok(code == status, f"{role} {path} {query or ''}: status {code}, expected {status}: {data[:300]!r}"):
            return None, h
        ctype = h.get("content-type", "")
        if status >= 400:
            ok(ctype.startswith("application/problem+json"), f"{path}: a problem, got {ctype}")
        try:
            return json.loads(data), h
        except ValueError:
            fail(f"{path}: not JSON: {data[:200]!r}")
            return None, h


def ipkey(ip):
    a = ipaddress.ip_address(ip)
    return a.packed if a.version == 6 else b"\0" * 10 + b"\xff\xff" + a.packed


def sni_of(h):
    """The SNI as the store keeps it: lower-cased, cut at 255 bytes."""
    return h["sni"].lower()[:255] if h["sni"] else None


def tuple_order(hs):
    """(ip, port, id): ids follow the load order."""
    return sorted(hs, key=lambda h: (ipkey(h["ip"]), h["port"], h["i"]))


def cert_tlp(S, c):
    t = [h["tlp"] for h in S["hs"] if c in h["chain"]]
    return max(t, key=ORDER.index) if t else None


def tuple_ok(S, t, h, role):
    c = S["certs"]
    exp = {"server_ip": h["ip"], "server_port": h["port"], "sni": sni_of(h),
           "ja3": md5(h["ja3"]) if h["ja3"] else None, "ja3s": md5(h["ja3s"]) if h["ja3s"] else None,
           "ja4": h["ja4"], "sni_cut": len(h["sni"] or "") > 255, "cert": c[h["chain"][0]]["sha1"] if h["chain"] else None,
           "chain": [c[x]["sha1"] for x in h["chain"]], "count": h["count"], "tlp": h["tlp"]}
    for k, v in exp.items():
        ok(t.get(k) == v, f"tuple {h['ip']}:{h['port']} {k}: {t.get(k)!r} != {v!r}")
    chr_ = h["tlp"] == "tlp:ex:chr"
    ok(t["sensors"] == ([] if chr_ or not h["sensor"] else [h["sensor"]]), f"tuple sensors {t['sensors']} ({h['tlp']})")
    ok(t["org"] == (None if chr_ else h["org"]), f"tuple org {t['org']} ({h['tlp']})")
    import time
    ok(t["first_seen"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h["first"])), f"first_seen {t['first_seen']}")
    ok(t["last_seen"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h["last"])), f"last_seen {t['last_seen']}")


def walk(A, path, query, role, limit):
    """Every page of a list; returns the items (None on error)."""
    items, cur, pages = [], None, 0
    while True:
        q = dict(query, limit=limit)
        if cur:
            q["cursor"] = cur
        d, h = A.json(path, role, q)
        if d is None:
            return None
        ok(len(d["items"]) <= limit, f"{path}: a page of {len(d['items'])} > {limit}")
        ok(h.get("d4-clearance") == CLEARANCE[role], f"{path}: D4-Clearance {h.get('d4-clearance')}")
        items += d["items"]
        cur = d["next_cursor"]
        ok(h.get("d4-next-cursor") == cur, f"{path}: D4-Next-Cursor header {h.get('d4-next-cursor')} != {cur}")
        pages += 1
        if not cur or pages > 200:
            return items


def check_tuples(A, S, role):
    hs = S["hs"]
    vis = [h for h in hs if visible(role, h["tlp"])]
    c = S["certs"]

    def expect(label, query, sel, ordered=True, limit=3):
        want = [h for h in vis if sel(h)]
        if ordered:
            want = tuple_order(want)
        got = walk(A, "/api/v1/pssl/tuples", query, role, limit)
        if got is None:
            return
        key = lambda t: (t["server_ip"], t["server_port"], t["sni"], t["cert"], t["ja3"])
        ids = [t["id"] for t in got]
        ok(len(ids) == len(set(ids)), f"{role} tuples {label}: an id twice over the pages")
        wk = [(h["ip"], h["port"], sni_of(h),
               c[h["chain"][0]]["sha1"] if h["chain"] else None, md5(h["ja3"]) if h["ja3"] else None) for h in want]
        gk = [key(t) for t in got]
        if not ordered:
            wk, gk = sorted(wk, key=str), sorted(gk, key=str)
        if ok(gk == wk, f"{role} tuples {label}: {len(gk)} rows, expected {len(wk)}\n got {gk}\n want {wk}"):
            for t in got:
                h = next(x for x in want if (x["ip"], x["port"], sni_of(x),
                                              c[x["chain"][0]]["sha1"] if x["chain"] else None,
                                              md5(x["ja3"]) if x["ja3"] else None) == key(t))
                tuple_ok(S, t, h, role)
    for h in hs:
        h.setdefault("i", hs.index(h))
    expect("by network", {"ip": "192.0.2.0/24"}, lambda h: h["ip"].startswith("192.0.2."))
    expect("by /23", {"ip": "192.0.2.0/23"}, lambda h: h["ip"].startswith(("192.0.2.", "192.0.3.")))
    expect("by range", {"ip": "192.0.2.10-192.0.2.11"}, lambda h: h["ip"] in ("192.0.2.10", "192.0.2.11"))
    expect("by address", {"ip": "192.0.2.11"}, lambda h: h["ip"] == "192.0.2.11", limit=1)
    expect("IPv6", {"ip": "2001:db8::/32"}, lambda h: ":" in h["ip"])
    expect("paging network", {"ip": "198.51.100.0/24"}, lambda h: h["ip"].startswith("198.51.100."), limit=4)
    expect("network and port", {"ip": "192.0.2.0/24", "port": 8443}, lambda h: h["ip"].startswith("192.0.2.")
           and h["port"] == 8443)
    expect("by certificate a", {"cert": c["a"]["sha1"]}, lambda h: "a" in h["chain"])
    expect("by the CA (upper case)", {"cert": c["ca"]["sha1"].upper()}, lambda h: "ca" in h["chain"], limit=7)
    expect("by red certificate", {"cert": c["r"]["sha1"]}, lambda h: "r" in h["chain"])
    expect("ja3", {"ja3": md5(J1)}, lambda h: h["ja3"] == J1)
    expect("ja3 red", {"ja3": md5(JR)}, lambda h: h["ja3"] == JR)
    expect("ja3s", {"ja3s": md5(JS2)}, lambda h: h["ja3s"] == JS2, limit=5)
    expect("ja4", {"ja4": JA4A}, lambda h: h["ja4"] == JA4A)
    expect("sni, any case", {"sni": "www.A.example"}, lambda h: (h["sni"] or "").lower() == "www.a.example")
    expect("port alone", {"port": 8443}, lambda h: h["port"] == 8443, ordered=False)
    expect("every tuple", {}, lambda h: True, ordered=False, limit=7)
    t1 = hs[3]["last"]
    expect("last seen after", {"ip": "192.0.2.0/23", "time_last_after": t1},
           lambda h: h["ip"].startswith(("192.0.2.", "192.0.3.")) and h["last"] >= t1)
    expect("first seen before", {"ja3": md5(J1), "time_first_before": hs[1]["first"]},
           lambda h: h["ja3"] == J1 and h["first"] <= hs[1]["first"])
    expect("empty window", {"ja3": md5(J1), "time_first_after": S["now"] + 10}, lambda h: False)


def check_certs(A, S, role):
    c = S["certs"]
    vis = {n for n in c if visible(role, cert_tlp(S, n))}

    def expect(label, query, sel, limit=2):
        got = walk(A, "/api/v1/pssl/certs", query, role, limit)
        if got is None:
            return
        want = sorted(c[n]["sha1"] for n in vis if sel(n))
        g = [x["sha1"] for x in got]
        ok(len(g) == len(set(g)), f"{role} certs {label}: a certificate twice over the pages")
        ok(sorted(g) == want, f"{role} certs {label}: {sorted(g)} != {want}")
        for x in got:
            n = next(k for k in c if c[k]["sha1"] == x["sha1"])
            ok(x["sha256"] == c[n]["sha256"] and x["spki_sha256"] == c[n]["spki"] and x["parsed"] is True,
               f"cert {n}: hashes {x}")
            ok(x["issuer"] == c[n]["issuer"], f"cert {n}: issuer {x['issuer']!r} != {c[n]['issuer']!r}")
            ok(sorted(s["value"] for s in x["san"] if s["type"] == "dns") == sorted(c[n]["names"]),
               f"cert {n}: san {x['san']}")
            ok(x["tlp"] == cert_tlp(S, n), f"cert {n}: tlp {x['tlp']} != {cert_tlp(S, n)}")
            ok(x["count"] == sum(h["count"] for h in S["hs"] if n in h["chain"]), f"cert {n}: count {x['count']}")
    expect("every certificate", {}, lambda n: True)
    for n in c:
        expect(f"spki of {n}", {"spki": c[n]["spki"]}, lambda k, n=n: k == n)
        expect(f"sha256 of {n}", {"sha256": c[n]["sha256"].upper()}, lambda k, n=n: k == n)
    expect("modulus of a", {"modulus": c["a"]["modulus"]}, lambda k: k == "a")
    expect("modulus of a, leading zeros", {"modulus": "00" + c["a"]["modulus"]}, lambda k: k == "a")
    expect("issuer: the CA", {"issuer": c["a"]["issuer"]}, lambda k: k in ("ca", "a", "b", "r", "p"))
    expect("issuer of the self-signed", {"issuer": c["v6"]["issuer"]}, lambda k: k == "v6")
    expect("name exact", {"name": "www.a.example"}, lambda k: "www.a.example" in c[k]["names"])
    expect("name exact, case", {"name": "B.Example"}, lambda k: k == "b")
    expect("name below a.example", {"name": "*.a.example"}, lambda k: k == "a")
    expect("name below example", {"name": "*.example"}, lambda k: bool(c[k]["names"]), limit=2)
    expect("name: none", {"name": "nothing.invalid"}, lambda k: False)
    # by key id: the one of a's detail
    d, _ = A.json("/api/v1/pssl/certs/" + c["a"]["sha1"], role)
    if d:
        expect("key of a", {"key": d["key_id"]}, lambda k: k == "a")


def check_detail(A, S, role):
    c = S["certs"]
    for n in c:
        path = "/api/v1/pssl/certs/" + c[n]["sha1"]
        if not visible(role, cert_tlp(S, n)):
            d, _ = A.json(path, role, status=404)
            u, _ = A.json("/api/v1/pssl/certs/" + "ab" * 20, role, status=404)
            if d and u:
                ok(d["title"] == u["title"] and d["type"] == u["type"]
                   and d["detail"].replace(c[n]["sha1"], "X") == u["detail"].replace("ab" * 20, "X"),
                   f"{role}: a certificate above the clearance answers as an unknown one: {d} / {u}")
            continue
        d, _ = A.json(path, role)
        if not d:
            continue
        ok(base64.b64decode(d["der"]) == base64.b64decode(c[n]["der"]), f"detail {n}: DER")
        ok(d["pem"] == c[n]["pem"], f"detail {n}: PEM {d['pem'][:80]!r}")
        carrying = tuple_order([h for h in S["hs"] if n in h["chain"] and visible(role, h["tlp"])])
        ok(len(d["tuples"]) == len(carrying) and d["tuples_more"] is False,
           f"detail {n}: {len(d['tuples'])} tuples, expected {len(carrying)}")
        if carrying:
            last = max(carrying, key=lambda h: (h["last"], h["i"]))
            ok([x["sha1"] for x in d["chain"]] == [c[k]["sha1"] for k in last["chain"]], f"detail {n}: chain {d['chain']}")
            for x in d["chain"]:
                k = next(k for k in c if c[k]["sha1"] == x["sha1"])
                if visible(role, cert_tlp(S, k)):
                    ok(x["issuer"] == c[k]["issuer"], f"detail {n}: chain issuer {x}")
                else:
                    ok(x["subject"] is None and x["issuer"] is None, f"detail {n}: chain names above the clearance {x}")
        code, h, der = A.get(path, role, {"format": "der"})
        ok(code == 200 and der == base64.b64decode(c[n]["der"]) and h.get("content-type") == "application/pkix-cert",
           f"detail {n} format=der: {code} {h.get('content-type')}")
        code, h, pem = A.get(path, role, {"format": "pem"})
        ok(code == 200 and pem.decode() == c[n]["pem"], f"detail {n} format=pem: {code}")


def check_fingerprints(A, S, role):
    for kind, strings in (("ja3", (J1, J2, JR)), ("ja3s", (JS1, JS2))):
        for s in strings:
            field = kind
            tl = [h["tlp"] for h in S["hs"] if h[field] == s]
            tlp = max(tl, key=ORDER.index)
            path = f"/api/v1/pssl/fingerprints/{kind}/{md5(s)}"
            if not visible(role, tlp):
                A.json(path, role, status=404)
                continue
            d, _ = A.json(path, role)
            if d:
                ok(d["string"] == s and d["md5"] == md5(s) and d["kind"] == kind and d["tlp"] == tlp
                   and d["count"] == sum(h["count"] for h in S["hs"] if h[field] == s),
                   f"{role} fingerprint {kind} {s}: {d}")
    A.json("/api/v1/pssl/fingerprints/ja3/" + md5("nothing"), role, status=404)


# ---- the CIRCL-compatible operations ------------------------------------------------------
def v2_expected(S, role, net):
    c = S["certs"]
    net = ipaddress.ip_network(net, strict=False)
    out = {}
    by_sha = {c[n]["sha1"]: n for n in c}
    for h in tuple_order([h for h in S["hs"] if visible(role, h["tlp"]) and ipaddress.ip_address(h["ip"]) in net]):
        e = out.setdefault(str(ipaddress.ip_address(h["ip"])), {"certificates": [], "subjects": {}})
        for n in h["chain"]:
            if c[n]["sha1"] not in e["certificates"]:
                e["certificates"].append(c[n]["sha1"])
    for e in out.values():
        for s in e["certificates"]:
            n = by_sha[s]
            if visible(role, cert_tlp(S, n)):
                e["subjects"][s] = {"values": [c[n]["subject_oneline"]]}
    return {k: v for k, v in out.items() if v["certificates"]}


def check_v2(A, S, role):
    c = S["certs"]
    for path, net in (("/v2pssl/query/192.0.2.10", "192.0.2.10/32"), ("/v2pssl/query/192.0.2.0/24", "192.0.2.0/24"),
                      ("/v2pssl/query/192.0.2.0%2F24", "192.0.2.0/24"), ("/v2pssl/query/192.0.2.0/23", "192.0.2.0/23"),
                      ("/v2pssl/query/192.0.2.200", "192.0.2.200/32"), ("/v2pssl/query/198.51.100.0/27", "198.51.100.0/27"),
                      ("/v2pssl/query/2001:db8::5", "2001:db8::5/128"), ("/v2pssl/query/2001:db8::/119", "2001:db8::/119"),
                      ("/v2pssl/query/203.0.113.7", "203.0.113.7/32")):
        d, h = A.json(path, role)
        if d is None:
            continue
        want = v2_expected(S, role, net)
        ok(d == want, f"{role} {path}:\n got  {json.dumps(d)}\n want {json.dumps(want)}")
        ok(list(d) == list(want), f"{role} {path}: address order {list(d)} != {list(want)}")
        ok(h.get("d4-clearance") == CLEARANCE[role], f"{path}: D4-Clearance")
    by_sha = {c[n]["sha1"]: n for n in c}
    for n in c:
        d, _ = A.json("/v2pssl/cquery/" + c[n]["sha1"], role)
        ips = sorted({h["ip"] for h in S["hs"] if n in h["chain"] and visible(role, h["tlp"])}, key=ipkey)
        if d is not None:
            ok(d == {"certificate": c[n]["sha1"], "seen": ips, "hits": len(ips)}, f"{role} cquery {n}: {d}")
        code, _, body = A.get("/v2pssl/cfetch/" + c[n]["sha1"].upper(), role)
        if not visible(role, cert_tlp(S, n)):
            ok(code == 404, f"{role} cfetch {n} above the clearance: {code}")
            u = json.loads(A.get("/v2pssl/cfetch/" + "cd" * 20, role)[2])
            dd = json.loads(body)
            ok(dd["error"].replace(c[n]["sha1"], "X") == u["error"].replace("cd" * 20, "X") and dd["type"] == u["type"],
               f"{role} cfetch above the clearance answers as an unknown one: {dd} / {u}")
            continue
        if not ok(code == 200, f"{role} cfetch {n}: {code} {body[:200]!r}"):
            continue
        d = json.loads(body)
        i = d["info"]
        ok(d["pem"] == c[n]["pem"], f"cfetch {n}: pem")
        ok(i["fingerprint"] == c[n]["sha1"].upper(), f"cfetch {n}: fingerprint {i['fingerprint']}")
        ok(i["subject"] == c[n]["subject_oneline"], f"cfetch {n}: subject {i['subject']!r}")
        iss = c["v6" if n == "v6" else "ca"]["subject_oneline"]
        ok(i["issuer"] == iss, f"cfetch {n}: issuer {i['issuer']!r} != {iss!r}")
        ok(i["key"] == c[n]["pub"], f"cfetch {n}: key {i['key']!r} != {c[n]['pub']!r}")
        ok(i["keylength"] == (256 if n in ("b", "v6") else 2048), f"cfetch {n}: keylength {i['keylength']}")
        import datetime
        for k in ("not_before", "not_after"):
            t = datetime.datetime.strptime(c[n][k], "%b %d %H:%M:%S %Y GMT").strftime("%Y-%m-%dT%H:%M:%S+00:00")
            ok(i[k] == t, f"cfetch {n}: {k} {i[k]} != {t}")
        if c[n]["san"]:
            ok(i["extension"].get("subjectAltName") == c[n]["san"],
               f"cfetch {n}: subjectAltName {i['extension'].get('subjectAltName')!r} != {c[n]['san']!r}")
        if n == "ca":
            ok(i["extension"].get("basicConstraints") == "critical,CA:TRUE"
               or i["extension"].get("basicConstraints") == "CA:TRUE", f"cfetch ca: {i['extension']}")
        ok(d["d4"]["times_seen"] == sum(h["count"] for h in S["hs"] if n in h["chain"])
           and d["d4"]["sha256"] == c[n]["sha256"] and d["d4"]["tlp"] == cert_tlp(S, n), f"cfetch {n}: d4 {d['d4']}")


MALFORMED = [
    ("/v2pssl/query/192.0.2.0/22", 400), ("/v2pssl/query/192.0.2.0%2F22", 400), ("/v2pssl/query/2001:db8::/118", 400),
    ("/v2pssl/query/192.0.2.0/33", 400), ("/v2pssl/query/192.0.2", 400), ("/v2pssl/query/example.com", 400),
    ("/v2pssl/query/192.0.2.0%2F24/24", 400), ("/v2pssl/query/192.0.2.0/x", 400), ("/v2pssl/query/192.0.2.1?x=1", 400),
    ("/v2pssl/query/192.0.2.1-192.0.2.9", 400),
    ("/v2pssl/cquery/zz", 400), ("/v2pssl/cquery/" + "a" * 39, 400), ("/v2pssl/cquery/" + "a" * 41, 400),
    ("/v2pssl/cquery/" + "g" * 40, 400), ("/v2pssl/cfetch/" + "a" * 39, 400), ("/v2pssl/cfetch/xyz", 400),
    ("/api/v1/pssl/tuples?cert=" + "a" * 39, 400), ("/api/v1/pssl/tuples?cert=" + "z" * 40, 400),
    ("/api/v1/pssl/tuples?ja3=abc", 400), ("/api/v1/pssl/tuples?ja3s=" + "0" * 33, 400),
    ("/api/v1/pssl/tuples?ja4=t13d", 400), ("/api/v1/pssl/tuples?sni=a%20b", 400),
    ("/api/v1/pssl/tuples?ip=192.0.2.9-192.0.2.1", 400), ("/api/v1/pssl/tuples?ip=192.0.2.0/33", 400),
    ("/api/v1/pssl/tuples?ip=192.0.2.1-2001:db8::1", 400), ("/api/v1/pssl/tuples?ip=nope", 400),
    ("/api/v1/pssl/tuples?port=70000", 400), ("/api/v1/pssl/tuples?time_first_after=20&time_first_before=10", 400),
    ("/api/v1/pssl/tuples?time_last_after=20&time_last_before=10", 400), ("/api/v1/pssl/tuples?time_last_after=x", 400),
    ("/api/v1/pssl/tuples?ip=192.0.2.1&sni=a.example", 400), ("/api/v1/pssl/tuples?limit=0", 400),
    ("/api/v1/pssl/tuples?limit=1001", 400), ("/api/v1/pssl/tuples?cursor=AAAA", 400),
    ("/api/v1/pssl/tuples?spki=" + "0" * 64, 400), ("/api/v1/pssl/tuples?sort=x", 400),
    ("/api/v1/pssl/certs?spki=" + "0" * 63, 400), ("/api/v1/pssl/certs?sha256=" + "x" * 64, 400),
    ("/api/v1/pssl/certs?modulus=0", 400), ("/api/v1/pssl/certs?modulus=12g4", 400), ("/api/v1/pssl/certs?key=0", 400),
    ("/api/v1/pssl/certs?key=abc", 400), ("/api/v1/pssl/certs?name=*.", 400), ("/api/v1/pssl/certs?name=a*b.example", 400),
    ("/api/v1/pssl/certs?ip=192.0.2.1", 400), ("/api/v1/pssl/certs?name=a.example&key=1", 400),
    ("/api/v1/pssl/certs/" + "a" * 39, 400), ("/api/v1/pssl/certs/" + "a" * 40 + "?format=xml", 400),
    ("/api/v1/pssl/certs/" + "a" * 40 + "?x=1", 400), ("/api/v1/pssl/certs/" + "a" * 40, 404),
    ("/api/v1/pssl/fingerprints/ja4/" + "a" * 32, 400), ("/api/v1/pssl/fingerprints/ja3/" + "a" * 31, 400),
    ("/api/v1/pssl/fingerprints/ja3s/" + "q" * 32, 400),
]


def check_malformed(A):
    for path, status in MALFORMED:
        code, h, data = A.get(path, "user")
        ok(code == status, f"malformed {path}: {code}, expected {status}: {data[:200]!r}")
        ok(h.get("content-type", "").startswith("application/problem+json"), f"malformed {path}: {h.get('content-type')}")
        d = json.loads(data) if data else {}
        ok(d.get("status") == status and d.get("detail"), f"malformed {path}: problem {d}")
        if path.startswith("/v2pssl"):
            ok(d.get("error") == d.get("detail"), f"{path}: the 'error' member PyPSSL clients read: {d}")


def check_cursors(A, S):
    # a user's cursor is not an admin's, nor another query's; a cut one is refused
    d, _ = A.json("/api/v1/pssl/tuples", "user", {"ip": "198.51.100.0/24", "limit": 2})
    cur = d and d["next_cursor"]
    if not ok(cur, "a first page with a next cursor"):
        return
    A.json("/api/v1/pssl/tuples", "admin", {"ip": "198.51.100.0/24", "limit": 2, "cursor": cur}, status=400)
    A.json("/api/v1/pssl/tuples", "user", {"ip": "198.51.100.0/25", "limit": 2, "cursor": cur}, status=400)
    A.json("/api/v1/pssl/tuples", "user", {"ip": "198.51.100.0/24", "port": 443, "limit": 2, "cursor": cur}, status=400)
    A.json("/api/v1/pssl/tuples", "user", {"ip": "198.51.100.0/24", "limit": 2, "cursor": cur[:-2]}, status=400)
    A.json("/api/v1/pssl/certs", "user", {"limit": 2, "cursor": cur}, status=400)
    d, _ = A.json("/api/v1/pssl/tuples", "user", {"ip": "198.51.100.0/24", "limit": 5, "cursor": cur})
    ok(d and len(d["items"]) == 5 and d["items"][0]["server_ip"] == "198.51.100.3",
       f"the cursor works with another page size: {d and [t['server_ip'] for t in d['items']]}")


def check(set_path, fx_path):
    S = json.load(open(set_path))
    for i, h in enumerate(S["hs"]):
        h["i"] = i
    A = Api(json.load(open(fx_path)))
    for role in ("user", "admin"):
        check_v2(A, S, role)
        check_tuples(A, S, role)
        check_certs(A, S, role)
        check_detail(A, S, role)
        check_fingerprints(A, S, role)
    check_malformed(A)
    check_cursors(A, S)
    print(f"check.py: {A.calls} requests, {len(FAILS)} failures")
    return 1 if FAILS else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "gen":
        sys.exit(gen(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
