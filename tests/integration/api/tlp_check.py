#!/usr/bin/python3
"""TLP clearance on every read path, driven by the API contract.

Reads openapi/d4hub.yaml and calls every read operation with an admin, a
user and a sensor_register token against a hub that holds one session per
TLP label (tlp.sh stores them with d4-sensor meta headers), asserting what
each role sees:

  * every operation of the spec carries x-d4hub-tlp (filtered | none), and
    this file has a check for it: a new operation without a clearance
    decision here, or a decision that differs from the spec's, fails;
  * filtered operations hand the admin every record and the user exactly
    the records at or below tlp:amber+strict, say what they withheld
    (D4-Clearance, withheld counts, 403 for a named record) -- exact counts;
  * no answer to the user, filtered or not, contains any withheld record
    (its names in clear text or inside a base64 payload);
  * sensor_register gets 403 everywhere but its own operations.

Usage: tlp_check.py --spec SPEC --fixtures FIXTURES.json
FIXTURES (written by tlp.sh): base_url, cacert, tokens {admin, user,
sensor_register}, sensor, sessions {label: id}, labels {label: expected
tlp}, queues {pop_admin, pop_user, follow}.
"""

import argparse
import base64
import json
import re
import subprocess
import sys
import tempfile
import urllib.parse

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Clearance per role with the default configuration (api.max_tlp_*).
ORDER = ["tlp:clear", "tlp:green", "tlp:ex:chr", "tlp:amber", "tlp:amber+strict", "tlp:red"]
CLEARANCE = {"admin": "tlp:red", "user": "tlp:amber+strict"}
FAILS = []


def fail(msg):
    FAILS.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def ok(cond, msg):
    if not cond:
        fail(msg)
    return cond


def visible(role, level):
    return ORDER.index(level) <= ORDER.index(CLEARANCE[role])


class Hub:
    def __init__(self, fx):
        self.fx = fx
        self.tmp = tempfile.mkdtemp(prefix="tlpchk.")
        self.calls = 0

    def call(self, method, path, token_role, query=None, max_time=30, data=None):
        """Returns (status, headers dict lower-case, body bytes); data: a JSON body."""
        url = self.fx["base_url"] + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        hdr, body = f"{self.tmp}/h", f"{self.tmp}/b"
        cmd = ["curl", "-sS", "--globoff", "--http2", "--cacert", self.fx["cacert"], "--max-time", str(max_time),
               "-X", method, "-D", hdr, "-o", body, "-w", "%{http_code}"]
        if token_role:
            cmd += ["-H", "Authorization: Bearer " + self.fx["tokens"][token_role]]
        if data is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", data]
        cmd.append(url)
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.calls += 1
        if r.returncode != 0:
            fail(f"curl {method} {path} ({token_role}): exit {r.returncode}: {r.stderr.strip()}")
            return 0, {}, b""
        headers = {}
        with open(hdr, "rb") as f:
            for line in f.read().decode("latin-1").splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
        with open(body, "rb") as f:
            data = f.read()
        return int(r.stdout or 0), headers, data


# ---- what a body reveals ------------------------------------------------------
def b64_payloads(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "payload_b64" and isinstance(v, str):
                try:
                    out.append(base64.b64decode(v).decode("utf-8", "replace"))
                except ValueError:
                    pass
            else:
                b64_payloads(v, out)
    elif isinstance(obj, list):
        for v in obj:
            b64_payloads(v, out)


def revealed_text(body):
    """The body as text plus every base64 payload it carries, decoded."""
    text = body.decode("utf-8", "replace")
    extra = []
    docs = []
    try:
        docs.append(json.loads(text))
    except ValueError:
        for line in text.splitlines():
            try:
                docs.append(json.loads(line))
            except ValueError:
                pass
    for d in docs:
        b64_payloads(d, extra)
    return text + "\n" + "\n".join(extra)


def ndjson(body):
    return [json.loads(x) for x in body.decode().splitlines() if x.strip()]


class Check:
    def __init__(self, hub, fx):
        self.hub = hub
        self.fx = fx
        self.fx_path = None  # where weak_key_ids keeps what it learnt (main sets it)
        self.labels = fx["labels"]  # label -> expected stored tlp
        # per role: the labels it may see and those withheld from it
        self.vis = {r: sorted(l for l, t in self.labels.items() if visible(r, t)) for r in CLEARANCE}
        self.wh = {r: sorted(l for l, t in self.labels.items() if not visible(r, t)) for r in CLEARANCE}
        ok(self.wh["user"] and self.vis["user"], "fixtures hold both visible and withheld labels")
        # per-record pDNS forms are checked on a sample (the range and
        # wildcard forms cover every label with exact counts)
        sample = ["red", "red-space", "strictx", "clear", "clear-space", "unclear"]
        self.sample = [l for l in sample if l in self.labels] or sorted(self.labels)

    # names of a label's records (COF rrnames, as tlp.sh writes them)
    @staticmethod
    def names(label):
        return [f"t-{label}.0.tlp.test", f"t-{label}.1.tlp.test", f"t-{label}.c.tlp.test"]

    def labels_in(self, text):
        return {l for l in self.labels if any(n in text for n in self.names(l))}

    def call(self, oid, method, path, role, query=None, expect=200, max_time=30, data=None):
        st, h, body = self.hub.call(method, path, role, query, max_time, data)
        ok(st == expect, f"{oid} {path} as {role}: status {st}, expected {expect}: {body[:300]!r}")
        if role != "admin" or self.wh["admin"]:
            hidden = self.wh[role] if role in self.wh else list(self.labels)
            # sensor_register and anonymous callers see no record at all
            leaked = {l for l in self.labels_in(revealed_text(body)) if l in hidden}
            ok(not leaked, f"{oid} {path} as {role}: withheld records revealed: {sorted(leaked)}")
        return st, h, body

    def clearance_header(self, oid, h, role):
        ok(h.get("d4-clearance") == CLEARANCE[role],
           f"{oid} as {role}: D4-Clearance {h.get('d4-clearance')!r}, expected {CLEARANCE[role]}")

    def expect_labels(self, oid, role, got, what=""):
        want = set(self.vis[role])
        ok(got == want, f"{oid}{what} as {role}: labels {sorted(got)}, expected {sorted(want)}")

    # ---- filtered operations -------------------------------------------------------
    def listSensorSessions(self, oid, method, tmpl, extra=None):
        path = tmpl.replace("{uuid}", self.fx["sensor"])
        extra = extra or {}
        by_id = {v: k for k, v in self.fx["sessions"].items()}
        for role in ("admin", "user"):
            _, h, body = self.call(oid, method, path, role, {"limit": 1000, **extra})
            d = json.loads(body)
            self.clearance_header(oid, h, role)
            got = {by_id[s["id"]]: s["tlp"] for s in d["items"] if s["id"] in by_id}
            self.expect_labels(oid, role, set(got))
            for label, tlp in got.items():
                ok(tlp == self.labels[label], f"{oid}: session {label} stored as {tlp}, expected {self.labels[label]}")
            want_wh = len(self.wh[role])
            ok(d["withheld"] == want_wh, f"{oid} as {role}: withheld {d['withheld']}, expected {want_wh}")
        # paging: one session per page, the withheld ones counted once in all
        seen, wh, cursor = 0, 0, None
        for _ in range(len(self.labels) + 2):
            q = {"limit": 1, **extra}
            if cursor:
                q["cursor"] = cursor
            _, _, body = self.call(oid, method, path, "user", q)
            d = json.loads(body)
            seen += len(d["items"])
            wh += d["withheld"]
            cursor = d["next_cursor"]
            if not cursor:
                break
        ok(seen == len(self.vis["user"]) and wh == len(self.wh["user"]),
           f"{oid} paged as user: {seen} sessions, {wh} withheld; expected {len(self.vis['user'])}, "
           f"{len(self.wh['user'])}")

    def listSessions(self, oid, method, tmpl):
        # every session, filtered to the fixtures' sensor: the same decisions, oldest first
        self.listSensorSessions(oid, method, tmpl, {"sensor": self.fx["sensor"]})

    def exportSession(self, oid, method, tmpl):
        for label, sid in sorted(self.fx["sessions"].items()):
            path = tmpl.replace("{id}", str(sid))
            for role in ("admin", "user"):
                vis = label in self.vis[role]
                st, h, body = self.call(oid, method, path, role, {"format": "raw"}, expect=200 if vis else 403)
                self.clearance_header(oid, h, role)
                if vis:
                    ok(self.labels_in(body.decode()) == {label}, f"{oid} {label} as {role}: content of another label")
                    ok(all(n in body.decode() for n in self.names(label)), f"{oid} {label} as {role}: records missing")
                else:
                    d = json.loads(body)
                    ok(self.labels[label] in d.get("detail", "") and CLEARANCE[role] in d.get("detail", ""),
                       f"{oid} {label} as {role}: the 403 does not say why: {d}")
            # NDJSON carries the level of every frame (read by a role that may)
            for role in [r for r in ("admin", "user") if label in self.vis[r]][:1]:
                _, _, body = self.call(oid, method, path, role, {"format": "ndjson"})
                levels = {r["tlp"] for r in ndjson(body) if r["type"] == 254}
                ok(levels == {self.labels[label]}, f"{oid} {label}: frame levels {levels}")

    def exportRange(self, oid, method, tmpl):
        for fmt in ("raw", "text", "ndjson"):
            for role in ("admin", "user"):
                q = {"sensor": self.fx["sensor"], "type": 254, "format": fmt}
                _, h, body = self.call(oid, method, tmpl, role, q)
                self.clearance_header(oid, h, role)
                want_wh = len(self.wh[role])
                ok(h.get("d4-withheld-sessions") == str(want_wh),
                   f"{oid} {fmt} as {role}: D4-Withheld-Sessions {h.get('d4-withheld-sessions')}, expected {want_wh}")
                self.expect_labels(oid, role, self.labels_in(revealed_text(body)), f" {fmt}")
                if fmt == "ndjson":
                    for r in ndjson(body):
                        ok(visible(role, r["tlp"]), f"{oid} as {role}: a {r['tlp']} frame")

    def queue_entries_expected(self):
        """Type-254 frames per label (every one is in every queue), as the
        store holds them (d4hubctl, in tlp.sh)."""
        per = dict(self.fx["frames"])
        return per, sum(per.values())

    def previewQueue(self, oid, method, tmpl):
        per, total = self.queue_entries_expected()
        ok(set(per) == set(self.labels), f"{oid}: the queue holds frames of {sorted(per)}")
        path = tmpl.replace("{id}", str(self.fx["queues"]["follow"]))
        for role in ("admin", "user"):
            _, h, body = self.call(oid, method, path, role, {"limit": 100})
            d = json.loads(body)
            self.clearance_header(oid, h, role)
            ok(len(d["items"]) == total, f"{oid} as {role}: {len(d['items'])} entries, expected {total} (positions kept)")
            wh = [e for e in d["items"] if e["withheld"]]
            want_wh = sum(per[l] for l in self.wh[role])
            ok(len(wh) == want_wh and d["withheld"] == want_wh,
               f"{oid} as {role}: {len(wh)} flagged, withheld {d['withheld']}, expected {want_wh}")
            ok(all(set(e) == {"pos", "expired", "withheld"} for e in wh), f"{oid}: a withheld entry shows frame fields")
            self.expect_labels(oid, role, self.labels_in(revealed_text(body)))

    def popQueue(self, oid, method, tmpl):
        per, _ = self.queue_entries_expected()
        for role in ("admin", "user"):
            qid = self.fx["queues"]["pop_" + role]
            path = tmpl.replace("{id}", str(qid))
            _, h, body = self.call(oid, method, path, role, {"max": 1000})
            self.clearance_header(oid, h, role)
            self.expect_labels(oid, role, self.labels_in(revealed_text(body)))
            want_wh = sum(per[l] for l in self.wh[role])
            want_n = sum(per.values()) - want_wh
            ok(len(ndjson(body)) == want_n, f"{oid} as {role}: {len(ndjson(body))} frames, expected {want_n}")
            ok(h.get("d4-queue-withheld") == str(want_wh),
               f"{oid} as {role}: D4-Queue-Withheld {h.get('d4-queue-withheld')}, expected {want_wh}")
            ok(h.get("d4-queue-depth") == "0", f"{oid} as {role}: depth {h.get('d4-queue-depth')} after the pop")
            for r in ndjson(body):
                ok(visible(role, r["tlp"]), f"{oid} as {role}: a {r['tlp']} frame delivered")
            _, _, qb = self.hub.call("GET", f"/api/v1/queues/{qid}", "admin")
            q = json.loads(qb)
            ok(q["consumed"] == want_n and q["withheld"] == want_wh,
               f"{oid} as {role}: consumed {q['consumed']}, withheld {q['withheld']}; expected {want_n}, {want_wh}")
            # the queue is empty now: a second pop answers nothing
            _, h, body = self.call(oid, method, path, role, {"max": 1000})
            ok(body == b"" and h.get("d4-queue-withheld") == "0", f"{oid} as {role}: second pop not empty")

    def followQueue(self, oid, method, tmpl):
        per, _ = self.queue_entries_expected()
        path = tmpl.replace("{id}", str(self.fx["queues"]["follow"]))
        for role in ("admin", "user"):
            # idle_timeout ends the stream once the queue has nothing new
            _, h, body = self.call(oid, method, path, role, {"idle_timeout": 2}, max_time=60)
            self.clearance_header(oid, h, role)
            self.expect_labels(oid, role, self.labels_in(revealed_text(body)))
            want = sum(n for l, n in per.items() if l in self.vis[role])
            ok(len(ndjson(body)) == want, f"{oid} as {role}: {len(ndjson(body))} frames, expected {want}")
            for r in ndjson(body):
                ok(visible(role, r["tlp"]), f"{oid} as {role}: a {r['tlp']} frame delivered")

    # passive DNS: every label has A records t-L.0 and t-L.1 (198.51.100.x,
    # bailiwick tlp.test) and a CNAME t-L.c -> t-L.0
    def pdns_expect(self, oid, role, body, per_label, what):
        text = revealed_text(body)
        got = self.labels_in(text)
        want = set(per_label) & set(self.vis[role])
        ok(got == want, f"{oid} {what} as {role}: labels {sorted(got)}, expected {sorted(want)}")

    def pdnsQuery(self, oid, method, tmpl):
        for label in self.sample:
            for role in ("admin", "user"):
                _, h, body = self.call(oid, method, tmpl.replace("{q}", f"t-{label}.0.tlp.test"), role)
                self.clearance_header(oid, h, role)
                self.pdns_expect(oid, role, body, [label], label)
                n = len(ndjson(body))
                ok(n == (1 if label in self.vis[role] else 0), f"{oid} {label} as {role}: {n}")
        for role in ("admin", "user"):
            _, _, body = self.call(oid, method, tmpl.replace("{q}", "198.51.100.0,24"), role)
            self.pdns_expect(oid, role, body, list(self.labels), "198.51.100.0/24")
            want = 2 * len(self.vis[role])
            ok(len(ndjson(body)) == want, f"{oid} net as {role}: {len(ndjson(body))}, expected {want}")

    def pdnsInfo(self, oid, method, tmpl):
        for role in ("admin", "user"):
            _, _, body = self.call(oid, method, tmpl, role)
            ok(json.loads(body)["max_tlp"] == CLEARANCE[role], f"{oid} as {role}: max_tlp")

    def saf_objs(self, body):
        return [l["obj"] for l in ndjson(body) if "obj" in l]

    def dnsdb(self, oid, method, tmpl):
        """Every /dnsdb/v2/lookup|summarize form, with exact counts."""
        params = {"{name}": "*.tlp.test", "{rrtype}": "A", "{bailiwick}": "tlp.test", "{ip}": "198.51.100.0,24"}
        kind = "rrset" if "/rrset/" in tmpl else "rdata"
        path = tmpl
        if "/rdata/name/" in tmpl:
            per_label = {l: 1 for l in self.labels}  # the CNAME pointing at t-L.0
            params["{name}"] = "*.tlp.test"
            params["{rrtype}"] = "CNAME"
        elif "/rdata/raw/" in tmpl:
            per_label = None  # one label at a time, below
        else:
            per_label = {l: (3 if kind == "rrset" and "{rrtype}" not in tmpl else 2) for l in self.labels}
        summarize = "/summarize/" in tmpl
        if per_label is None:
            for label in self.sample:
                ip = self.fx["ip"][label]
                # rdata/raw takes the DNS wire form: an A record's 4 address bytes
                p = tmpl.replace("{hex}", bytes(int(x) for x in ip.split(".")).hex()).replace("{rrtype}", "A")
                for role in ("admin", "user"):
                    _, h, body = self.call(oid, method, p, role)
                    self.clearance_header(oid, h, role)
                    vis = label in self.vis[role]
                    if summarize:
                        objs = self.saf_objs(body)
                        n = objs[0]["num_results"] if objs else 0
                    else:
                        self.pdns_expect(oid, role, body, [label], label)
                        n = len(self.saf_objs(body))
                    ok(n == (1 if vis else 0), f"{oid} {label} as {role}: {n} results")
            return
        for k, v in params.items():
            path = path.replace(k, v)
        for role in ("admin", "user"):
            _, h, body = self.call(oid, method, path, role)
            self.clearance_header(oid, h, role)
            labels = [l for l in per_label if l in self.vis[role]]
            want = sum(per_label[l] for l in labels)
            objs = self.saf_objs(body)
            if summarize:
                n = objs[0]["num_results"] if objs else 0
            else:
                self.pdns_expect(oid, role, body, list(per_label), path)
                # rrset lookups group rdata of one (name, type) into one object
                n = sum(len(o.get("rdata", [])) if isinstance(o.get("rdata"), list) else 1 for o in objs)
            ok(n == want, f"{oid} {path} as {role}: {n} records, expected {want}")

    # backscatter: one vector per label, its victim the label's address (tlp.sh)
    def bs_labels(self, items):
        by_ip = {ip: l for l, ip in self.fx["bs"].items()}
        return [by_ip.get(i["victim"]) for i in items]

    def bs_leaks(self, oid, role, body):
        text = body.decode("utf-8", "replace")
        leaked = [l for l in self.wh[role] if f'"{self.fx["bs"][l]}"' in text or
                  f'"{self.fx["bs"][l]}/' in text]
        ok(not leaked, f"{oid} as {role}: withheld vectors revealed: {leaked}")

    def listBackscatterVectors(self, oid, method, tmpl):
        ok("bs" in self.fx, f"{oid}: the fixtures hold no backscatter vectors")
        for role in ("admin", "user"):
            for fmt in ("json", "ndjson"):
                _, h, body = self.call(oid, method, tmpl, role, {"limit": 1000, "format": fmt})
                self.clearance_header(oid, h, role)
                self.bs_leaks(oid, role, body)
                items = json.loads(body)["items"] if fmt == "json" else ndjson(body)
                labels = self.bs_labels(items)
                ok(len(labels) == len(set(labels)), f"{oid} {fmt} as {role}: a vector twice")
                self.expect_labels(oid, role, set(labels), f" {fmt}")
                for i in items:
                    ok(visible(role, i["tlp"]) and i["tlp"] == self.labels[self.bs_labels([i])[0]],
                       f"{oid} as {role}: a {i['tlp']} vector")
            # paging one vector a page: the visible ones exactly once, nothing else
            seen, cursor = [], None
            for _ in range(len(self.labels) + 2):
                q = {"limit": 1}
                if cursor:
                    q["cursor"] = cursor
                _, _, body = self.call(oid, method, tmpl, role, q)
                self.bs_leaks(oid, role, body)
                d = json.loads(body)
                seen += self.bs_labels(d["items"])
                cursor = d["next_cursor"]
                if not cursor:
                    break
            ok(sorted(seen) == self.vis[role], f"{oid} paged as {role}: {sorted(seen)}")

    def getBackscatterVector(self, oid, method, tmpl):
        _, _, body = self.hub.call("GET", "/api/v1/backscatter/vectors", "admin", {"limit": 1000})
        items = json.loads(body)["items"] if body else []
        ids = dict(zip(self.bs_labels(items), [i["id"] for i in items]))
        ok(set(ids) == set(self.vis["admin"]), f"{oid}: the admin lists {sorted(ids)}")
        miss = max(ids.values(), default=0) + 1000
        _, _, nf = self.hub.call("GET", tmpl.replace("{id}", str(miss)), "user")
        for label, vid in sorted(ids.items()):
            for role in ("admin", "user"):
                vis = label in self.vis[role]
                st, h, body = self.call(oid, method, tmpl.replace("{id}", str(vid)), role, expect=200 if vis else 404)
                self.clearance_header(oid, h, role)
                self.bs_leaks(oid, role, body)
                if not vis:
                    ok(body.replace(str(vid).encode(), b"N") == nf.replace(str(miss).encode(), b"N"),
                       f"{oid} {label} as {role}: the 404 differs from a missing vector's")

    def getBackscatterSummary(self, oid, method, tmpl):
        day = self.fx["bs_day"]
        for role in ("admin", "user"):
            _, h, body = self.call(oid, method, tmpl, role, {"from": day, "to": day, "top": 100})
            self.clearance_header(oid, h, role)
            self.bs_leaks(oid, role, body)
            d = json.loads(body)["days"][0]
            n = len(self.vis[role])
            ok(d["vectors"] == n and d["victims"] == n and d["packets"] == 100 * n,
               f"{oid} as {role}: {d['vectors']} vectors, {d['victims']} victims, {d['packets']} packets; "
               f"expected {n}, {n}, {100 * n}")
            ok(d["top_ports"] == ([{"port": 80, "vectors": n, "packets": 100 * n}] if n else []),
               f"{oid} as {role}: top ports {d['top_ports']}")

    # passive SSL: per label one handshake on the label's address with a
    # certificate and a JA3 of its own (tlp.sh)
    def pssl_leaks(self, oid, role, body):
        text = body.decode("utf-8", "replace")
        px = self.fx["pssl"]
        leaked = [l for l in self.wh[role] if f'"{px[l]["ip"]}"' in text or px[l]["sha1"] in text
                  or px[l]["sha1"].upper() in text or px[l]["ja3"] in text or f"t-{l}.p.tlp.test" in text]
        ok(not leaked, f"{oid} as {role}: withheld passive-SSL rows revealed: {leaked}")

    def pssl_label(self, key, value):
        return next((l for l, v in self.fx["pssl"].items() if v[key] == value), None)

    def v2psslQuery(self, oid, method, tmpl):
        for role in ("admin", "user"):
            path = tmpl.replace("{q}", "198.51.100.0%2F24" if "{len}" not in tmpl else "198.51.100.0")
            path = path.replace("{len}", "24")
            _, h, body = self.call(oid, method, path, role)
            self.clearance_header(oid, h, role)
            self.pssl_leaks(oid, role, body)
            d = json.loads(body)
            got = {self.pssl_label("ip", ip) for ip in d}
            self.expect_labels(oid, role, got)
            for ip, e in d.items():
                l = self.pssl_label("ip", ip)
                ok(e["certificates"] == [self.fx["pssl"][l]["sha1"]] and
                   e["subjects"] == {self.fx["pssl"][l]["sha1"]: {"values": [f"CN=t-{l}.p.tlp.test"]}},
                   f"{oid} as {role}: {ip}: {e}")

    v2psslQueryNetwork = v2psslQuery

    def pssl_single(self, oid, method, tmpl, key, path_of, unknown):
        """A row by key: visible 200; above the clearance the very 404 of an unknown one."""
        for label in sorted(self.labels):
            v = self.fx["pssl"][label][key]
            for role in ("admin", "user"):
                vis = label in self.vis[role]
                st, h, body = self.call(oid, method, path_of(v), role, expect=200 if vis else 404)
                self.clearance_header(oid, h, role)
                # the key the caller sent may come back (the 404 of any key names it)
                self.pssl_leaks(oid, role, body.replace(v.encode(), b"").replace(v.upper().encode(), b""))
                if not vis:
                    _, _, nf = self.hub.call("GET", path_of(unknown), role)
                    ok(body.replace(v.encode(), b"X").replace(v.upper().encode(), b"X") ==
                       nf.replace(unknown.encode(), b"X").replace(unknown.upper().encode(), b"X"),
                       f"{oid} {label} as {role}: the 404 differs from an unknown one's: {body!r} / {nf!r}")

    def v2psslCfetch(self, oid, method, tmpl):
        self.pssl_single(oid, method, tmpl, "sha1", lambda v: tmpl.replace("{sha1}", v), "ab" * 20)

    def getPsslCert(self, oid, method, tmpl):
        self.pssl_single(oid, method, tmpl, "sha1", lambda v: tmpl.replace("{sha1}", v), "ab" * 20)

    def getPsslFingerprint(self, oid, method, tmpl):
        self.pssl_single(oid, method, tmpl, "ja3",
                         lambda v: tmpl.replace("{kind}", "ja3").replace("{md5}", v), "ab" * 16)

    def v2psslCquery(self, oid, method, tmpl):
        for label in sorted(self.labels):
            px = self.fx["pssl"][label]
            for role in ("admin", "user"):
                _, h, body = self.call(oid, method, tmpl.replace("{sha1}", px["sha1"]), role)
                self.clearance_header(oid, h, role)
                self.pssl_leaks(oid, role, body.replace(px["sha1"].encode(), b""))
                d = json.loads(body)
                want = [px["ip"]] if label in self.vis[role] else []
                ok(d["seen"] == want and d["hits"] == len(want), f"{oid} {label} as {role}: {d}")

    def weak_rows(self, role):
        """The weak-key fixture's certificates (SHA-1s) role may see: the
        store lists them beside the labels' rows (tlp.sh seeds both)."""
        return sorted(sha1 for sha1, t in self.fx["weak"]["certs"].values() if visible(role, t))

    def pssl_list(self, oid, method, tmpl, label_of, cert_of):
        for role in ("admin", "user"):
            _, h, body = self.call(oid, method, tmpl, role, {"limit": 1000})
            self.clearance_header(oid, h, role)
            self.pssl_leaks(oid, role, body)
            items = json.loads(body)["items"]
            labels = [label_of(i) for i in items if label_of(i) is not None]
            weak = sorted(cert_of(i) for i in items if label_of(i) is None)
            ok(len(labels) == len(set(labels)), f"{oid} as {role}: a row twice")
            self.expect_labels(oid, role, set(labels))
            ok(weak == self.weak_rows(role), f"{oid} as {role}: the weak-key fixture's rows {weak}")
            seen, cursor = [], None
            for _ in range(len(self.labels) + len(self.fx["weak"]["certs"]) + 2):
                q = {"limit": 1}
                if cursor:
                    q["cursor"] = cursor
                _, _, body = self.call(oid, method, tmpl, role, q)
                self.pssl_leaks(oid, role, body)
                d = json.loads(body)
                seen += [label_of(i) or cert_of(i) for i in d["items"]]
                cursor = d["next_cursor"]
                if not cursor:
                    break
            ok(sorted(seen) == sorted(self.vis[role] + self.weak_rows(role)), f"{oid} paged as {role}: {sorted(seen)}")

    def listPsslTuples(self, oid, method, tmpl):
        self.pssl_list(oid, method, tmpl, lambda t: self.pssl_label("ip", t["server_ip"]), lambda t: t.get("cert"))

    def listPsslCerts(self, oid, method, tmpl):
        self.pssl_list(oid, method, tmpl, lambda c: self.pssl_label("sha1", c["sha1"]), lambda c: c["sha1"])
    # ---- weak-key findings (certificates with planted weak keys at several levels) ----
    def weak_model(self, role):
        """The findings role may see, as "kind A [B]" with a hidden side as "hidden"."""
        w = self.fx["weak"]
        vis = {n: visible(role, t) for n, (_s, t) in w["certs"].items()}
        out = []
        for line in w["expected"]:
            f = line.split()
            keys = [x for x in f[1:] if x in w["certs"]]
            if not any(vis[k] for k in keys):
                continue
            out.append(" ".join([f[0]] + sorted(k if vis[k] else "hidden" for k in keys)))
        return sorted(out)

    def weak_side(self, k):
        if k is None:
            return None
        if k.get("hidden"):
            ok(k == {"hidden": True}, f"a hidden key tells more than that: {k}")
            return "hidden"
        by_sha1 = {s: n for n, (s, _t) in self.fx["weak"]["certs"].items()}
        names = sorted(by_sha1[c["sha1"]] for c in k["certificates"])
        return names[0] if names else "?"

    def weak_leaks(self, oid, role, body):
        text = body.decode("utf-8", "replace")
        leaked = [n for n, (s, t) in self.fx["weak"]["certs"].items() if not visible(role, t) and s in text]
        ok(not leaked, f"{oid} as {role}: certificates above the clearance revealed: {leaked}")
        ok('"factor":' not in text, f"{oid} as {role}: a factor shown")

    def listPsslWeak(self, oid, method, tmpl):
        ok("weak" in self.fx, f"{oid}: the fixtures hold no weak-key certificates")
        for role in ("admin", "user"):
            got, cursor = [], None
            for _ in range(50):
                q = {"limit": 2}
                if cursor:
                    q["cursor"] = cursor
                _, h, body = self.call(oid, method, tmpl, role, q)
                self.clearance_header(oid, h, role)
                self.weak_leaks(oid, role, body)
                d = json.loads(body)
                for f in d["items"]:
                    sides = [self.weak_side(f["key"])] + ([self.weak_side(f["other"])] if f["other"] else [])
                    got.append(" ".join([f["kind"]] + sorted(sides)))
                    for side in (f["key"], f["other"]):
                        for c in (side or {}).get("certificates", []):
                            ok(visible(role, c["tlp"]), f"{oid} as {role}: a {c['tlp']} certificate")
                cursor = d["next_cursor"]
                if not cursor:
                    break
            ok(sorted(got) == self.weak_model(role), f"{oid} as {role}: {sorted(got)}, expected {self.weak_model(role)}")
        _, _, body = self.call(oid, method, tmpl, "sensor_register", expect=403)

    def weak_key_ids(self):
        # learnt by the first run (admin cleared for red sees every key) and
        # kept in the fixtures: a later run with lowered clearances cannot
        # ask for the keys it may no longer see
        if "ids" in self.fx["weak"]:
            return self.fx["weak"]["ids"]
        ids = {}
        for n, (sha1, _t) in self.fx["weak"]["certs"].items():
            _, _, body = self.hub.call("GET", f"/api/v1/pssl/weak/certs/{sha1}", "admin")
            ids[n] = json.loads(body)["key"]["id"]
        self.fx["weak"]["ids"] = ids
        if self.fx_path:
            with open(self.fx_path, "w") as f:
                json.dump(self.fx, f)
        return ids

    def weak_detail(self, oid, method, tmpl, by):
        w = self.fx["weak"]
        ids = self.weak_key_ids()
        miss = "987654321" if by == "{id}" else "ab" * 20
        _, _, nf = self.hub.call("GET", tmpl.replace(by, miss), "user")
        for n, (sha1, t) in sorted(w["certs"].items()):
            param = str(ids[n]) if by == "{id}" else sha1
            for role in ("admin", "user"):
                # a key is visible when one of its certificates is (K1/K2, R1/R2 share theirs, at one level)
                vis = visible(role, t)
                st, h, body = self.call(oid, method, tmpl.replace(by, param), role, expect=200 if vis else 404)
                self.clearance_header(oid, h, role)
                self.weak_leaks(oid, role, body)
                if not vis:
                    ok(body.replace(f"no key {param}".encode(), b"no key N") ==
                       nf.replace(f"no key {miss}".encode(), b"no key N"),
                       f"{oid} {n} as {role}: the 404 differs from a missing one's")
            self.call(oid, method, tmpl.replace(by, param), "sensor_register", expect=403)

    def getPsslWeakKey(self, oid, method, tmpl):
        self.weak_detail(oid, method, tmpl, "{id}")

    def getPsslWeakCert(self, oid, method, tmpl):
        self.weak_detail(oid, method, tmpl, "{sha1}")

    # ---- operations without labelled records --------------------------------------
    def plain(self, oid, method, tmpl, op):
        role_min = op.get("x-d4hub-role")
        path = tmpl
        for k, v in {"{uuid}": self.fx["sensor"], "{id}": str(self.fx["queues"]["follow"]), "{file}": "app.js",
                     "{name}": "tlp-admin"}.items():
            path = path.replace(k, v)
        if role_min == "none":
            self.call(oid, method, path, None)
            return
        rank = {"sensor_register": 1, "user": 2, "admin": 3}
        for role in ("admin", "user", "sensor_register"):
            self.call(oid, method, path, role, expect=200 if rank[role] >= rank[role_min] else 403)


    # ---- evaluations: a record sent by the caller, an answer about it ---------------
    def evaluation(self, oid, method, tmpl, op):
        path = tmpl.replace("{name}", "tlp-admin")
        # a record of the fixtures' sensor, one per level: the answer is a
        # decision about the caller's record and must name no stored one
        rank = {"sensor_register": 1, "user": 2, "admin": 3}
        for tlp in ("tlp:red", "tlp:amber+strict", "tlp:clear"):
            body = json.dumps({"kind": "frames", "tlp": tlp, "type": 254, "sensors": [self.fx["sensor"]]})
            for role in ("admin", "user", "sensor_register"):
                self.call(oid, method, path, role, expect=200 if rank[role] >= rank[op["x-d4hub-role"]] else 403,
                          data=body)


# Writes: they change state and answer with the object they changed, never
# with stored records. Listed here so that a new operation must be placed.
WRITES = {
    "createSensor", "updateSensor", "deleteSensor", "approveSensor", "blockSensor", "unblockSensor", "kickSensor",
    "refuseSensor", "rotateSensorKey", "registerSensor", "addBlock", "deleteBlock", "setType", "addExtType", "deleteExtType",
    "setServerMode", "createUser", "updateUser", "deleteUser", "createToken", "revokeToken", "createQueue", "updateQueue",
    "deleteQueue", "flushQueue", "ackQueue", "createPartner", "updatePartner", "deletePartner",
}
# Evaluations: POSTs that change nothing and answer about a record the caller
# sent (the egress dry run), never with a stored record.
EVALUATIONS = {"dryRunPartner"}
# Reads that hand out no TLP-labelled record: configuration, operational
# state, counters (the clearance does not apply; the leak check still does).
PLAIN = {
    "getWebIndex", "getWebAsset", "getHealth", "getOpenapi", "getMetrics", "getMe", "listSensors",
    "listSilentSensors", "getSensor", "listBlocklist", "getTypes", "getServerMode", "getStatsTotals",
    "getStatsDaily", "listUsers", "listTokens", "listQueues", "getQueue", "pdnsInfo", "dnsdbRateLimit", "dnsdbPing",
    "getIngestUnverified", "listPartners", "getPartner", "getPartnerStatus", "getFederationIdentity",
    # the upstream relay's counters (docs/upstream.md)
    "getUpstream",
    # the backscatter consumer's counters: packets of every level, so admin only
    "getBackscatterCounters",
    # the passive-SSL store's row counts and its consumer's figures; the
    # per-sensor counters count every level, so admin only
    "getPsslInfo", "getPsslCounters",
    # the weak-key job's progress: counts over every level, so admin only
    "getPsslWeakStatus",
}
# Operations of the federation port (x-d4hub-port: federation): placed here
# so that one that hands out records must get a check of its own.
# The value is the clearance decision the spec must state: the pull hands
# out records, each filtered by the egress policy for the partner (its
# rule's maximum TLP is its clearance: d4_fed_decide, tested by
# test_federation's property test and the federation integration tests).
FEDERATION_PORT = {"federationHello": "none", "federationInbox": "none", "federationPull": "filtered"}
# Reads that hand out stored records: each has its own check above.
FILTERED = {
    "listSensorSessions": Check.listSensorSessions, "listSessions": Check.listSessions,
    "exportSession": Check.exportSession,
    "exportRange": Check.exportRange, "previewQueue": Check.previewQueue, "popQueue": Check.popQueue,
    "followQueue": Check.followQueue, "pdnsQuery": Check.pdnsQuery,
    "listBackscatterVectors": Check.listBackscatterVectors, "getBackscatterVector": Check.getBackscatterVector,
    "getBackscatterSummary": Check.getBackscatterSummary,
    "v2psslQuery": Check.v2psslQuery, "v2psslQueryNetwork": Check.v2psslQueryNetwork,
    "v2psslCquery": Check.v2psslCquery, "v2psslCfetch": Check.v2psslCfetch, "listPsslTuples": Check.listPsslTuples,
    "listPsslCerts": Check.listPsslCerts, "getPsslCert": Check.getPsslCert, "getPsslFingerprint": Check.getPsslFingerprint,
    "listPsslWeak": Check.listPsslWeak, "getPsslWeakKey": Check.getPsslWeakKey, "getPsslWeakCert": Check.getPsslWeakCert,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--skip", default="", help="operationIds to leave out (comma-separated), e.g. after a pop")
    a = ap.parse_args()
    with open(a.spec) as f:
        spec = yaml.safe_load(f)
    with open(a.fixtures) as f:
        fx = json.load(f)
    CLEARANCE.update(fx.get("clearance", {}))
    skip = set(a.skip.split(",")) if a.skip else set()
    hub = Hub(fx)
    chk = Check(hub, fx)
    chk.fx_path = a.fixtures
    ops = []
    for tmpl, item in spec["paths"].items():
        for m in HTTP_METHODS:
            if m in item:
                ops.append((item[m]["operationId"], m.upper(), tmpl, item[m]))
    ok(len(ops) >= 68, f"only {len(ops)} operations in the spec")
    # pop last: it empties its queues (the others read them)
    ops.sort(key=lambda o: o[0] == "popQueue")
    called = placed = 0
    for oid, method, tmpl, op in ops:
        decision = op.get("x-d4hub-tlp")
        if not ok(decision in ("filtered", "none"), f"{oid}: x-d4hub-tlp is {decision!r}: no clearance decision"):
            continue
        dnsdb = oid.startswith("dnsdbLookup") or oid.startswith("dnsdbSummarize")
        if oid in skip:
            continue
        if op.get("x-d4hub-port") == "federation":
            # the federation port: a partner's certificate, not a role
            # (it_hub_federation_listen, it_hub_federation_inbox)
            ok(FEDERATION_PORT.get(oid) == decision, f"{oid}: federation port, x-d4hub-tlp {decision}")
            placed += 1
            continue
        if oid in WRITES:
            ok(decision == "none" and method != "GET", f"{oid}: a write, but x-d4hub-tlp {decision} / {method}")
            placed += 1
            continue
        if oid in FILTERED or dnsdb:
            if not ok(decision == "filtered", f"{oid}: checked as filtered here, x-d4hub-tlp {decision} in the spec"):
                continue
            try:
                (FILTERED.get(oid) or Check.dnsdb)(chk, oid, method, tmpl)
            except (KeyError, ValueError, IndexError, TypeError, AttributeError) as e:
                # an answer of the wrong shape: report it, check the rest
                fail(f"{oid}: unexpected answer: {type(e).__name__}: {e}")
        elif oid in EVALUATIONS:
            if not ok(decision == "none" and method == "POST", f"{oid}: an evaluation, x-d4hub-tlp {decision} / {method}"):
                continue
            chk.evaluation(oid, method, tmpl, op)
        elif oid in PLAIN:
            if not ok(decision == "none", f"{oid}: checked as plain here, x-d4hub-tlp {decision} in the spec"):
                continue
            try:
                if oid == "pdnsInfo":
                    chk.pdnsInfo(oid, method, tmpl)
                chk.plain(oid, method, tmpl, op)
            except (KeyError, ValueError, IndexError, TypeError, AttributeError) as e:
                fail(f"{oid}: unexpected answer: {type(e).__name__}: {e}")
        else:
            fail(f"{oid} ({method} {tmpl}): no clearance check in tlp_check.py: decide and add one")
            continue
        called += 1
    print(f"# {called} read operations checked, {placed} writes placed, {len(skip)} skipped, {hub.calls} calls")
    if FAILS:
        print(f"tlp_check: {len(FAILS)} failure(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
