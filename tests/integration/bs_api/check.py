#!/usr/bin/python3
"""Backscatter API against a generated set of vectors.

  check.py gen SEED NOW OUT_DIR      writes OUT_DIR/load.tsv (bs_api_load input) and
                                     OUT_DIR/set.json (the same vectors and counters)
  check.py check SET.json FIXTURES.json

The check compares every answer with a brute force over the set: each filter
alone and combined, as admin (tlp:red) and user (tlp:amber+strict); every
page walk returns each expected vector exactly once; NDJSON (format= and
Accept) equals JSON; bad cursors (truncated, edited, of another query, of
another role) and every malformed parameter are 400 problems; a red vector
is a 404 by id for the user with the answer of a missing id, and its victim
appears in no answer to the user (its networks are red only); the per-day
summaries match exactly; the consumer's counters are the ones written.
"""

import http.client
import ipaddress
import json
import random
import ssl
import sys
import urllib.parse

KINDS = ["tcp-synack", "tcp-rst", "icmp-echo-reply", "icmp-unreach", "icmp-time-exceeded", "icmp-source-quench",
         "icmp-param-problem", "icmp6-echo-reply", "icmp6-unreach", "icmp6-packet-too-big", "icmp6-time-exceeded",
         "icmp6-param-problem"]
ORDER = ["tlp:clear", "tlp:green", "tlp:ex:chr", "tlp:amber", "tlp:amber+strict", "tlp:red"]
CLEARANCE = {"admin": "tlp:red", "user": "tlp:amber+strict"}
SENSORS = ["5e3c3b5e0b9e4c1e9a52c6e9d2a1f001", "5e3c3b5e0b9e4c1e9a52c6e9d2a1f002", "5e3c3b5e0b9e4c1e9a52c6e9d2a1f003"]
PARTNER = "6f1c0b5e0b9e4c1e9a52c6e9d2a1f0aa"
PORTS = [0, 22, 53, 80, 443, 8080, 3389]
DAY = 86400 * 1000000
# victims of red vectors only: nothing of them may reach the user
RED_NETS = ["203.0.113.", "2001:db8:3:"]
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


# ---- the set ---------------------------------------------------------------------
def gen(seed, now, out):
    rnd = random.Random(seed)
    today = now // 86400 * 86400 * 1000000
    vecs, seen = [], set()
    while len(vecs) < 260:
        tlp = rnd.choice(["tlp:clear", "tlp:green", "tlp:ex:chr", "tlp:amber", "tlp:amber+strict", "tlp:red",
                          "tlp:red"])
        v6 = rnd.random() < 0.3
        if tlp == "tlp:red":
            victim = f"2001:db8:3::{rnd.randrange(1, 9):x}" if v6 else f"203.0.113.{rnd.randrange(1, 9)}"
        elif v6:
            victim = f"2001:db8:{rnd.choice([1, 2])}::{rnd.randrange(1, 12):x}"
        else:
            victim = f"{rnd.choice(['192.0.2', '198.51.100'])}.{rnd.randrange(1, 12)}"
        kind = rnd.choice(KINDS[7:] if v6 else KINDS[:7])
        # the last 4 days, some across a midnight
        first = today - rnd.randrange(0, 4) * DAY + rnd.randrange(0, DAY)
        if first > now * 1000000 - 2 * 3600 * 1000000:
            continue
        last = first + rnd.randrange(60, 7200) * 1000000
        origin = PARTNER if rnd.random() < 0.15 else None
        key = (origin, victim, kind, first)
        if key in seen:
            continue
        seen.add(key)
        ports = rnd.sample(PORTS, rnd.randrange(1, 4)) if not kind.startswith("icmp6-echo") else [0]
        pk = [rnd.randrange(1, 500) for _ in ports]
        pk.sort(reverse=True)
        packets = sum(pk) + rnd.randrange(0, 5)
        vecs.append({
            "origin": origin, "victim": victim, "kind": kind,
            "state": "ongoing" if rnd.random() < 0.3 else "closed", "first": first, "last": last,
            "packets": packets, "bytes": packets * 40, "tlp": tlp,
            "sensors": rnd.sample(SENSORS, rnd.randrange(1, 3)),
            "ports": [[p, n] for p, n in zip(ports, pk)],
            "org": "aa00000000000000000000000000000b"})
    ctrs = []
    for i, s in enumerate(SENSORS):
        ctrs.append({"sensor": s, "frames": 10 + i, "packets": 1000 * (i + 1), "bad_packets": i, "backscatter": 700 + i,
                     "dropped": i * 2, "by_kind": {"1": 500 + i, "3": 200}, "by_reason": {"1": 250 + i, "2": 50}})
    with open(out + "/load.tsv", "w") as f:
        for v in vecs:
            f.write("\t".join(["vec", v["origin"] or "-", v["victim"], v["kind"], v["state"], str(v["first"]),
                               str(v["last"]), str(v["packets"]), str(v["bytes"]), v["tlp"], ",".join(v["sensors"]),
                               ",".join(f"{p}:{n}" for p, n in v["ports"]), v["org"]]) + "\n")
        for c in ctrs:
            f.write("\t".join(["ctr", c["sensor"], str(c["frames"]), str(c["packets"]), str(c["bad_packets"]),
                               str(c["backscatter"]), str(c["dropped"]),
                               ",".join(f"{k}={n}" for k, n in c["by_kind"].items()),
                               ",".join(f"{k}={n}" for k, n in c["by_reason"].items())]) + "\n")
    with open(out + "/set.json", "w") as f:
        json.dump({"vectors": vecs, "counters": ctrs, "now": now}, f)


# ---- the hub ---------------------------------------------------------------------
class Hub:
    def __init__(self, fx):
        u = urllib.parse.urlsplit(fx["base_url"])
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=fx["cacert"])
        self.ctx.check_hostname = False
        self.tokens = fx["tokens"]
        self.texts = {"admin": [], "user": []}
        self.calls = 0

    def get(self, path, role, query=None, accept=None):
        if query:
            path += "?" + urllib.parse.urlencode(query)
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
        h = {"Authorization": "Bearer " + self.tokens[role]}
        if accept:
            h["Accept"] = accept
        c.request("GET", path, headers=h)
        r = c.getresponse()
        body = r.read()
        hdr = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        self.calls += 1
        if role in self.texts:
            self.texts[role].append((path, body.decode("utf-8", "replace")))
        return r.status, hdr, body


def api_key(item):
    return (item["victim"], item["kind"], round(item["first"] * 1000000), item["origin"] or "")


def set_key(v):
    # a tlp:ex:chr vector names no origin
    return (str(ipaddress.ip_address(v["victim"])), v["kind"], v["first"],
            "" if v["tlp"] == "tlp:ex:chr" else v["origin"] or "")


def in_net(addr, net):
    """IPv4 victims are v4-mapped IPv6 addresses in the store: an IPv6
    network holding ::ffff:0:0/96 (such as ::/0) holds them (documented)."""
    a = ipaddress.ip_address(addr)
    n = ipaddress.ip_network(net, strict=False)
    if a.version == 4 and n.version == 6:
        a = ipaddress.IPv6Address("::ffff:" + addr)
    return a.version == n.version and a in n


def matches(v, f, role):
    if not visible(role, v["tlp"]):
        return False
    if "since" in f and v["last"] < f["since"] * 1000000:
        return False
    if "until" in f and v["first"] > f["until"] * 1000000:
        return False
    if "victim" in f and not in_net(v["victim"], f["victim"]):
        return False
    if "port" in f and f["port"] not in [p for p, _ in v["ports"]]:
        return False
    if "kind" in f and v["kind"] != f["kind"]:
        return False
    if "sensor" in f and f["sensor"] not in v["sensors"]:
        return False
    if "origin" in f and (v["origin"] or "local") != f["origin"]:
        return False
    if f.get("ongoing") == "true" and v["state"] != "ongoing":
        return False
    return True


def expect_problem(hub, path, role, query, status, what):
    st, h, body = hub.get(path, role, query)
    if ok(st == status, f"{what}: status {st}, expected {status}: {body[:200]!r}"):
        ok(h.get("content-type", "").startswith("application/problem+json"), f"{what}: not a problem+json answer")
        try:
            d = json.loads(body)
            ok(d.get("status") == status and d.get("detail"), f"{what}: problem {d}")
        except ValueError:
            fail(f"{what}: problem body not JSON")
    return body


def walk(hub, role, f, limit, ndjson=False, accept=False):
    """Every page; returns (items, pages)."""
    items, pages, cursor = [], 0, None
    for _ in range(1000):
        q = dict(f, limit=limit)
        if cursor:
            q["cursor"] = cursor
        if ndjson and not accept:
            q["format"] = "ndjson"
        st, h, body = hub.get("/api/v1/backscatter/vectors", role, q,
                              accept="application/x-ndjson" if accept else None)
        if not ok(st == 200, f"page {pages} of {f} as {role}: {st} {body[:200]!r}"):
            return items, pages
        ok(h.get("d4-clearance") == CLEARANCE[role], f"D4-Clearance {h.get('d4-clearance')} as {role}")
        pages += 1
        if ndjson:
            ok(h.get("content-type", "").startswith("application/x-ndjson"), f"ndjson content type {h}")
            page = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
            cursor = h.get("d4-next-cursor")
        else:
            d = json.loads(body)
            page = d["items"]
            cursor = d["next_cursor"]
            ok(h.get("d4-next-cursor") == cursor, "D4-Next-Cursor header equals next_cursor")
        ok(len(page) <= limit, f"page of {len(page)} > limit {limit}")
        ok(len(page) == limit or not cursor, f"a short page ({len(page)}) with a next cursor")
        items += page
        if not cursor:
            return items, pages
    fail(f"page walk of {f} does not end")
    return items, pages


def check_order(items, f, what):
    if "victim" in f:
        ks = [(ipaddress.ip_address(i["victim"]).packed if ":" in i["victim"] else
               ipaddress.IPv6Address("::ffff:" + i["victim"]).packed, i["first"]) for i in items]
        ok(ks == sorted(ks), f"{what}: not in (victim, first) order")
    elif "sensor" not in f and "port" not in f:
        lasts = [i["last"] for i in items]
        ok(lasts == sorted(lasts, reverse=True), f"{what}: not most recent first")


def check_lists(hub, S):
    vecs = S["vectors"]
    now = S["now"]
    today = now // 86400 * 86400
    filters = [
        {}, {"ongoing": "true"}, {"kind": "tcp-synack"}, {"kind": "icmp6-unreach"}, {"port": 80}, {"port": 0},
        {"sensor": SENSORS[0]}, {"sensor": SENSORS[2].upper()[:8] + "-" + SENSORS[2][8:12] + "-" + SENSORS[2][12:16]
                                 + "-" + SENSORS[2][16:20] + "-" + SENSORS[2][20:]},
        {"origin": "local"}, {"origin": PARTNER}, {"victim": "192.0.2.0/24"}, {"victim": "198.51.100.5"},
        {"victim": "2001:db8:1::/48"}, {"victim": "203.0.113.0/24"}, {"victim": "0.0.0.0/0"}, {"victim": "::/0"},
        {"victim": "2000::/3"}, {"victim": "::ffff:198.51.100.0/120"},
        {"since": today - 86400, "until": today}, {"since": today}, {"until": today - 2 * 86400},
        {"since": today - 86400, "kind": "tcp-rst", "port": 443},
        {"victim": "192.0.2.0/25", "ongoing": "true", "since": today - 3 * 86400},
        {"sensor": SENSORS[1], "port": 22, "origin": "local"},
    ]
    for f in filters:
        fq = dict(f)
        fn = {k: v for k, v in f.items()}
        if "sensor" in fn:
            fn["sensor"] = fn["sensor"].replace("-", "").lower()
        for role in ("admin", "user"):
            want = sorted(set_key(v) for v in vecs if matches(v, fn, role))
            items, pages = walk(hub, role, fq, 7)
            got = [api_key(i) for i in items]
            ok(len(got) == len(set(got)), f"{f} as {role}: a vector returned twice ({len(got)} rows, "
               f"{len(set(got))} distinct)")
            ok(sorted(got) == want, f"{f} as {role}: {len(got)} vectors, expected {len(want)}")
            ok(pages == max(1, -(-len(want) // 7)), f"{f} as {role}: {pages} pages for {len(want)} vectors")
            check_order(items, fn, f"{f} as {role}")
            for i in items:
                ok(visible(role, i["tlp"]), f"{f} as {role}: a {i['tlp']} vector")
            if f in ({}, {"victim": "192.0.2.0/24"}, {"sensor": SENSORS[0]}, {"port": 80}):
                # NDJSON: pages by format= and by Accept, and the whole stream
                for accept in (False, True):
                    nitems, _ = walk(hub, role, fq, 11, ndjson=True, accept=accept)
                    ok(sorted(api_key(i) for i in nitems) == want, f"{f} as {role}: NDJSON pages (accept={accept})")
                st, h, body = hub.get("/api/v1/backscatter/vectors", role, dict(fq, format="ndjson"))
                lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
                ok(st == 200 and [api_key(i) for i in lines] == [api_key(i) for i in items],
                   f"{f} as {role}: the NDJSON stream differs from the pages ({len(lines)} lines)")
                ok("d4-next-cursor" not in h, f"{f}: a stream has no next cursor")
    # a single page: limit 1000, default 100
    for role in ("admin", "user"):
        st, _, body = hub.get("/api/v1/backscatter/vectors", role)
        d = json.loads(body)
        n = sum(1 for v in vecs if visible(role, v["tlp"]))
        ok(len(d["items"]) == min(100, n) and (d["next_cursor"] is not None) == (n > 100),
           f"default page as {role}: {len(d['items'])} items")


def check_ids(hub, S):
    st, _, body = hub.get("/api/v1/backscatter/vectors", "admin", {"limit": 1000})
    items = json.loads(body)["items"]
    ok(len(items) == len(S["vectors"]), f"admin sees all {len(S['vectors'])} vectors ({len(items)})")
    missing = max(i["id"] for i in items) + 1000
    _, _, nf = hub.get(f"/api/v1/backscatter/vectors/{missing}", "user")
    nf_detail = json.loads(nf)["detail"].replace(str(missing), "N")
    reds = 0
    for i in items:
        for role in ("admin", "user"):
            st, h, body = hub.get(f"/api/v1/backscatter/vectors/{i['id']}", role)
            if visible(role, i["tlp"]):
                ok(st == 200 and json.loads(body) == i, f"vector {i['id']} as {role}: {st}")
            else:
                reds += 1
                ok(st == 404, f"a {i['tlp']} vector by id as {role}: {st}")
                d = json.loads(body)
                ok(d["detail"].replace(str(i["id"]), "N") == nf_detail,
                   f"the 404 of a withheld vector differs from a missing one: {d['detail']!r} / {nf_detail!r}")
        if i["tlp"] == "tlp:ex:chr":
            ok(i["sensors"] == [] and i["org"] is None and i["origin"] is None, f"an ex:chr vector names its source {i}")
        elif i["origin"]:
            ok(i["received"] and i["received"]["sender"] == PARTNER, f"a received vector's provenance: {i}")
    ok(reds > 0, "the set holds red vectors")
    expect_problem(hub, "/api/v1/backscatter/vectors/abc", "user", None, 400, "id abc")
    expect_problem(hub, "/api/v1/backscatter/vectors/0", "user", None, 400, "id 0")
    expect_problem(hub, "/api/v1/backscatter/vectors/99999999999999999999999", "user", None, 400, "id too large")
    expect_problem(hub, f"/api/v1/backscatter/vectors/{missing}", "admin", None, 404, "missing id")
    expect_problem(hub, f"/api/v1/backscatter/vectors/{items[0]['id']}", "user", {"x": "1"}, 400, "id + a parameter")


def check_cursors(hub):
    path = "/api/v1/backscatter/vectors"
    _, _, b = hub.get(path, "admin", {"limit": 3})
    cur = json.loads(b)["next_cursor"]
    _, _, b = hub.get(path, "user", {"limit": 3})
    ucur = json.loads(b)["next_cursor"]
    _, _, b = hub.get(path, "user", {"limit": 3, "victim": "192.0.2.0/24"})
    vcur = json.loads(b)["next_cursor"]
    ok(cur and ucur and vcur, "cursors to test with")
    # the same cursor again gives the same next page (a cursor is a position, not a session)
    _, _, b1 = hub.get(path, "user", {"limit": 3, "cursor": ucur})
    _, _, b2 = hub.get(path, "user", {"limit": 5, "cursor": ucur})
    ok(json.loads(b1)["items"] == json.loads(b2)["items"][:3], "a cursor resumes at one position whatever the limit")
    flip = ucur[:10] + ("A" if ucur[10] != "A" else "B") + ucur[11:]
    cases = {
        "truncated": ucur[:-2], "one character off": ucur[:-1], "edited": flip, "garbage": "!!!",
        "padding": ucur + "=", "of the admin, used by the user": cur, "of another filter": vcur,
        "empty": "",
    }
    for what, c in cases.items():
        expect_problem(hub, path, "user", {"limit": 3, "cursor": c}, 400, f"cursor {what}")
    # a user's cursor with a different filter; an admin's cursor of the user
    expect_problem(hub, path, "user", {"limit": 3, "cursor": ucur, "kind": "tcp-rst"}, 400, "cursor + a new filter")
    expect_problem(hub, path, "admin", {"limit": 3, "cursor": ucur}, 400, "user's cursor used by the admin")


def check_params(hub):
    path = "/api/v1/backscatter/vectors"
    bad = [{"since": "yesterday"}, {"until": "2026-13-01"}, {"since": "0"}, {"since": "1700000000.1234567"},
           {"since": "1700000100", "until": "1700000000"}, {"victim": "300.1.1.1"}, {"victim": "10.0.0.0/33"},
           {"victim": "2001:db8::/129"}, {"victim": "10.0.0.0/"}, {"victim": "10.0.0.0/08"}, {"victim": "example.com"},
           {"port": "70000"}, {"port": "-1"}, {"port": "http"}, {"kind": "syn"}, {"kind": ""}, {"sensor": "xyz"},
           {"origin": "00000000000000000000000000000000"}, {"origin": "remote"}, {"ongoing": "maybe"},
           {"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"format": "xml"}, {"sort": "last"}]
    for q in bad:
        expect_problem(hub, path, "user", q, 400, f"list {q}")
    expect_problem(hub, path + "?kind=tcp-rst&kind=tcp-rst", "user", None, 400, "a repeated parameter")
    sp = "/api/v1/backscatter/summary"
    for q in [{"from": "2026-01-10", "to": "2026-01-01"}, {"from": "2026-01-01", "to": "2026-03-01"},
              {"top": "0"}, {"top": "101"}, {"from": "soon"}, {"limit": "5"}, {"cursor": "abc"}, {"format": "ndjson"},
              {"kind": "nope"}]:
        expect_problem(hub, sp, "user", q, 400, f"summary {q}")


def day_text(d):
    import datetime
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=d)).isoformat()


def net_of(victim):
    a = ipaddress.ip_address(victim)
    if a.version == 4:
        n = ipaddress.ip_network(f"{victim}/24", strict=False)
        return (b"\0" * 10 + b"\xff\xff" + n.network_address.packed, f"{n.network_address}/24")
    n = ipaddress.ip_network(f"{victim}/48", strict=False)
    return (n.network_address.packed, f"{n.network_address}/48")


def expected_day(vecs, day, role, top):
    d0, d1 = day * DAY, day * DAY + DAY - 1
    sel = [v for v in vecs if visible(role, v["tlp"]) and v["first"] <= d1 and v["last"] >= d0]
    kinds, ports, nets = {}, {}, {}
    for v in sel:
        k = kinds.setdefault(v["kind"], [0, 0])
        k[0] += 1
        k[1] += v["packets"]
        for p, n in v["ports"]:
            e = ports.setdefault(p, [0, 0])
            e[0] += 1
            e[1] += n
        nb, nt = net_of(v["victim"])
        e = nets.setdefault(nb, [nt, set(), 0, 0])
        e[1].add(v["victim"])
        e[2] += 1
        e[3] += v["packets"]
    top_ports = sorted(ports.items(), key=lambda x: (-x[1][1], -x[1][0], x[0]))[:top]
    top_nets = sorted(nets.items(), key=lambda x: (-x[1][3], -x[1][2], x[0]))[:top]
    return {
        "day": day_text(day), "vectors": len(sel), "ongoing": sum(v["state"] == "ongoing" for v in sel),
        "victims": len({v["victim"] for v in sel}), "packets": sum(v["packets"] for v in sel),
        "bytes": sum(v["bytes"] for v in sel),
        "by_kind": [{"kind": k, "vectors": kinds[k][0], "packets": kinds[k][1]} for k in KINDS if k in kinds],
        "top_ports": [{"port": p, "vectors": e[0], "packets": e[1]} for p, e in top_ports],
        "top_networks": [{"network": e[0], "victims": len(e[1]), "vectors": e[2], "packets": e[3]} for _, e in top_nets],
    }


def check_summary(hub, S):
    vecs = S["vectors"]
    today = S["now"] // 86400
    for role in ("admin", "user"):
        for top in (3, 100):
            st, h, body = hub.get("/api/v1/backscatter/summary", role,
                                  {"from": day_text(today - 4), "to": day_text(today), "top": top})
            if not ok(st == 200, f"summary as {role}: {st} {body[:200]!r}"):
                continue
            ok(h.get("d4-clearance") == CLEARANCE[role], "summary D4-Clearance")
            d = json.loads(body)
            ok(d["from"] == day_text(today - 4) and d["to"] == day_text(today) and d["truncated"] is False
               and d["clearance"] == CLEARANCE[role], f"summary head {d['from']} {d['to']}")
            want = [expected_day(vecs, day, role, top) for day in range(today - 4, today + 1)]
            for g, w in zip(d["days"], want):
                ok(g == w, f"summary of {w['day']} as {role}, top {top}:\n got  {g}\n want {w}")
            ok(len(d["days"]) == 5, "five days")
        # default: the last 7 days; a filter narrows the figures
        st, _, body = hub.get("/api/v1/backscatter/summary", role)
        d = json.loads(body)
        ok(len(d["days"]) == 7 and d["to"] == day_text(today), f"default summary: {d['from']}..{d['to']}")
        st, _, body = hub.get("/api/v1/backscatter/summary", role, {"kind": "tcp-synack", "to": day_text(today),
                                                                     "from": day_text(today)})
        d = json.loads(body)
        w = expected_day([v for v in vecs if v["kind"] == "tcp-synack"], today, role, 10)
        ok(d["days"] == [w], f"summary of tcp-synack today as {role}: {d['days']} / {w}")


def check_counters(hub, S):
    st, _, body = hub.get("/api/v1/backscatter/counters", "admin")
    if ok(st == 200, f"counters as admin: {st}"):
        d = json.loads(body)
        ok(d["store"]["vectors"] == len(S["vectors"]), f"store vectors {d['store']}")
        ok(d["store"]["ongoing"] == sum(v["state"] == "ongoing" for v in S["vectors"]), f"store ongoing {d['store']}")
        got = {c["sensor"]: c for c in d["sensors"]}
        for c in S["counters"]:
            g = got.get(c["sensor"])
            if not ok(g is not None, f"counters of {c['sensor']}"):
                continue
            for k in ("frames", "packets", "bad_packets", "backscatter", "dropped"):
                ok(g[k] == c[k], f"counter {k} of {c['sensor']}: {g[k]} != {c[k]}")
            ok(g["by_kind"]["tcp-synack"] == c["by_kind"]["1"] and g["by_kind"]["icmp-echo-reply"] == c["by_kind"]["3"]
               and g["by_kind"]["tcp-rst"] == 0, f"by_kind {g['by_kind']}")
            ok(g["by_reason"]["scan"] == c["by_reason"]["1"] and g["by_reason"]["not-a-reply"] == c["by_reason"]["2"],
               f"by_reason {g['by_reason']}")
    expect_problem(hub, "/api/v1/backscatter/counters", "user", None, 403, "counters as user")


def check(set_path, fx_path):
    with open(set_path) as f:
        S = json.load(f)
    with open(fx_path) as f:
        fx = json.load(f)
    hub = Hub(fx)
    check_lists(hub, S)
    check_ids(hub, S)
    check_cursors(hub)
    check_params(hub)
    check_summary(hub, S)
    check_counters(hub, S)
    # nothing of a red vector in any answer to the user
    leaks = [p for p, t in hub.texts["user"] if any(n in t for n in RED_NETS)]
    ok(not leaks, f"red victims in answers to the user: {leaks[:5]}")
    ok(any(any(n in t for n in RED_NETS) for _, t in hub.texts["admin"]), "the admin sees the red victims")
    print(f"# {hub.calls} calls")
    if FAILS:
        print(f"check.py: {len(FAILS)} failure(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        check(sys.argv[2], sys.argv[3])
