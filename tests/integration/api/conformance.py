#!/usr/bin/python3
"""API conformance test: openapi/d4hub.yaml against the code and a running hub.

(a) routes: the set of (method, path template, operationId) of the spec must
    equal the route table compiled into d4api (printed by tests/tools/api-routes,
    "METHOD TEMPLATE OPID ROLE"); the role must equal the spec's x-d4hub-role.
(b) live: calls every operation of the spec against a running hub, on its
    success path and on its documented error paths, and checks every answer:
    the status is one the spec lists for the operation (never 5xx), the
    Content-Type matches, required headers are present, and a JSON body
    validates against the response schema (JSON Schema 2020-12, the spec's
    components resolved). Operations the run did not call fail the test.

Usage:
  conformance.py --spec openapi/d4hub.yaml --routes FILE|- [--live FIXTURES.json]
FIXTURES.json (written by conformance.sh): base_url, cacert, tokens
{admin,user,sensor_register}, admin_user, data_sensor (an approved sensor
that sent data), src_ips (spare loopback source addresses for the
rate-limited failing-auth calls).

Only Debian packages (python3-yaml, python3-jsonschema) and curl are used;
requests go through curl --http2 (ALPN h2), as the operators' tools do.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid as uuidlib

import jsonschema
import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PROBLEM = "https://d4hub.invalid/problems/"


def die(msg):
    print(f"conformance: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def json_pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class Spec:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.raw = f.read()
        self.doc = yaml.safe_load(self.raw)
        if not str(self.doc.get("openapi", "")).startswith("3.1"):
            die(f"{path}: not an OpenAPI 3.1 document")
        self.ops = {}  # operationId -> dict
        self.fed_ops = {}  # operationId -> operation, of the federation port (x-d4hub-port: federation)
        for tmpl, item in self.doc.get("paths", {}).items():
            for m in HTTP_METHODS:
                if m not in item:
                    continue
                op = item[m]
                oid = op.get("operationId")
                if not oid:
                    die(f"{m.upper()} {tmpl}: no operationId")
                if oid in self.ops:
                    die(f"operationId {oid} used twice")
                if op.get("x-d4hub-port") == "federation":
                    # served on the federation port (client certificate, no
                    # token), not by the API's router: it_hub_federation_listen
                    if op.get("x-d4hub-role") != "partner" or op.get("security") != [{"partnerCertificate": []}]:
                        die(f"{oid}: a federation-port operation needs x-d4hub-role partner and "
                            "security partnerCertificate")
                    self.fed_ops[oid] = op
                    continue
                sec = op.get("security", self.doc.get("security", []))
                self.ops[oid] = {
                    "method": m.upper(),
                    "path": tmpl,
                    "op": op,
                    "anonymous": sec == [],
                    "role": op.get("x-d4hub-role"),
                }

    def resolve(self, obj, ptr):
        """Follows a $ref (local only); returns (object, its JSON pointer)."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/"):
                die(f"non-local $ref {ref}")
            ptr = ref
            obj = self.doc
            for part in ref[2:].split("/"):
                obj = obj[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 20:
                die(f"$ref loop at {ref}")
        return obj, ptr

    def responses(self, oid):
        o = self.ops[oid]
        return o["op"].get("responses", {}), json_pointer("paths", o["path"], o["method"].lower(), "responses")

    def validate(self, schema_ptr, instance):
        """Validates instance against the schema at schema_ptr, with the
        whole spec as the root so that #/components/... resolve."""
        root = dict(self.doc)
        root["$ref"] = schema_ptr
        v = jsonschema.Draft202012Validator(root)
        errs = sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errs[:5]]


# ---------------------------------------------------------------- (a) routes
def check_routes(spec, routes_text):
    code = {}
    problems = []
    for n, line in enumerate(routes_text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4:
            problems.append(f"api-routes line {n}: expected 'METHOD TEMPLATE OPID ROLE': {line!r}")
            continue
        m, tmpl, oid, role = parts
        key = (m, tmpl, oid)
        if key in code:
            problems.append(f"route defined twice in the code: {m} {tmpl} ({oid})")
        code[key] = role
    if not code and not problems:
        problems.append("api-routes printed no route")
    in_spec = {(o["method"], o["path"], oid): o for oid, o in spec.ops.items()}
    for key in sorted(set(code) - set(in_spec), key=lambda k: (k[1], k[0])):
        problems.append(f"in the code, not in the spec: {key[0]} {key[1]} operationId {key[2]}")
    for key in sorted(set(in_spec) - set(code), key=lambda k: (k[1], k[0])):
        problems.append(f"in the spec, not in the code: {key[0]} {key[1]} operationId {key[2]}")
    for key in sorted(set(in_spec) & set(code)):
        o = in_spec[key]
        if o["role"] != code[key]:
            problems.append(f"{key[2]}: role in the code {code[key]}, x-d4hub-role in the spec {o['role']}")
        if o["anonymous"] != (code[key] == "none"):
            problems.append(f"{key[2]}: role {code[key]} but the spec's security says "
                            f"{'anonymous' if o['anonymous'] else 'bearerAuth'}")
    return problems, len(code)


# ---------------------------------------------------------------- (b) live
class Call:
    def __init__(self, status, headers, body, version):
        self.status = status
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body
        self.version = version
        self.json = None

    def ctype(self):
        return self.headers.get("content-type", "")


def split_media(value):
    parts = [p.strip() for p in value.split(";")]
    base = parts[0].lower()
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return base, params


class Live:
    def __init__(self, spec, fx, tmp):
        self.spec = spec
        self.fx = fx
        self.tmp = tmp
        self.base = fx["base_url"].rstrip("/")
        self.calls = 0
        self.errors = []
        self.success = {oid: 0 for oid in spec.ops}
        self.statuses = {oid: set() for oid in spec.ops}
        self.src_ips = list(fx.get("src_ips", []))
        self.src_used = {}
        self.extra_calls = 0  # 404 unknown path, 405

    # -- transport
    def http(self, method, path, token=None, body=None, ctype=None, query=None, src=None, raw_auth=False,
             headers=()):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        hdr = os.path.join(self.tmp, "h")
        out = os.path.join(self.tmp, "b")
        cmd = ["curl", "-sS", "--globoff", "--path-as-is", "--http2", "--cacert", self.fx["cacert"], "--max-time", "20",
               "-X", method, "-D", hdr, "-o", out, "-w", "%{http_code} %{http_version}"]
        if token is not None:
            cmd += ["-H", f"Authorization: {token}" if raw_auth else f"Authorization: Bearer {token}"]
        for h in headers:
            cmd += ["-H", h]
        if src:
            cmd += ["--interface", src]
        if body is not None:
            if isinstance(body, (dict, list)) or body is True or body is False:
                data = json.dumps(body).encode()
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = body
            inp = os.path.join(self.tmp, "in")
            with open(inp, "wb") as f:
                f.write(data)
            cmd += ["--data-binary", "@" + inp, "-H", f"Content-Type: {ctype or 'application/json'}"]
        cmd.append(url)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            return None, f"curl failed (exit {p.returncode}): {p.stderr.strip()}"
        code, version = p.stdout.split()
        headers_out = {}
        with open(hdr, "r", encoding="latin-1") as f:
            blocks = f.read().replace("\r\n", "\n").strip().split("\n\n")
        for line in blocks[-1].split("\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers_out[k.strip().lower()] = v.strip()
        with open(out, "rb") as f:
            data = f.read()
        return Call(int(code), headers_out, data, version), None

    def next_src(self):
        """A spare loopback source address for calls that fail
        authentication, at most 10 per address, so that they do not trip the
        per-IP failed-authentication limit (tested on its own at the end)."""
        for ip in self.src_ips:
            if self.src_used.get(ip, 0) < 10:
                self.src_used[ip] = self.src_used.get(ip, 0) + 1
                return ip
        die("out of spare source addresses for failing-auth calls (add more src_ips)")

    # -- validation of one answer against the spec
    def check_response(self, oid, c, label):
        """Returns a list of problems with call c for operation oid."""
        errs = []
        resps, rptr = self.spec.responses(oid)
        key = str(c.status)
        if c.status >= 500:
            errs.append(f"status {c.status} (a server error is never a valid answer here)")
        if key not in resps:
            alt = f"{key[0]}XX"
            if alt in resps:
                key = alt
            else:
                errs.append(f"status {c.status} is not listed for {oid} (listed: {', '.join(sorted(resps))})")
                return errs
        resp, ptr = self.spec.resolve(resps[key], rptr + "/" + key)
        return errs + self.check_against(resp, ptr, c)

    def check_against(self, resp, ptr, c):
        errs = []
        for name, h in (resp.get("headers") or {}).items():
            h, _ = self.spec.resolve(h, ptr)
            v = c.headers.get(name.lower())
            if v is None:
                if h.get("required"):
                    errs.append(f"required header {name} missing")
                continue
            sch = h.get("schema", {})
            if sch.get("type") == "integer":
                if not re.fullmatch(r"[0-9]+", v):
                    errs.append(f"header {name}: {v!r} is not an integer")
            elif "pattern" in sch and not re.search(sch["pattern"], v):
                errs.append(f"header {name}: {v!r} does not match {sch['pattern']}")
        content = resp.get("content")
        if not content:
            if c.body:
                errs.append(f"the spec lists no body for status {c.status}, got {len(c.body)} bytes")
            return errs
        got_base, got_params = split_media(c.ctype())
        match = None
        for mt in content:
            base, params = split_media(mt)
            if base == got_base and all(got_params.get(k) == v for k, v in params.items()):
                match = mt
                break
        if match is None:
            errs.append(f"Content-Type {c.ctype()!r} is not one of {', '.join(content)}")
            return errs
        mptr = ptr + "/content/" + match.replace("~", "~0").replace("/", "~1")
        media = content[match]
        if got_base == "application/json" or got_base.endswith("+json"):
            try:
                c.json = json.loads(c.body)
            except ValueError as e:
                errs.append(f"body is not JSON ({e}): {c.body[:200]!r}")
                return errs
            if "schema" in media:
                for e in self.spec.validate(mptr + "/schema", c.json):
                    errs.append(f"body: {e}")
        elif got_base == "application/x-ndjson" and "contentSchema" in (media.get("schema") or {}):
            # NDJSON: every line is a JSON document of the contentSchema
            try:
                text = c.body.decode("utf-8")
            except UnicodeDecodeError:
                errs.append("x-ndjson body is not UTF-8 text")
                return errs
            if text and not text.endswith("\n"):
                errs.append("x-ndjson body does not end with a newline")
            for i, line in enumerate(text.splitlines()):
                try:
                    doc = json.loads(line)
                except ValueError as e:
                    errs.append(f"x-ndjson line {i} is not JSON ({e}): {line[:200]!r}")
                    continue
                for e in self.spec.validate(mptr + "/schema/contentSchema", doc):
                    errs.append(f"x-ndjson line {i}: {e}")
                if len(errs) > 10:
                    break
        elif (media.get("schema") or {}).get("format") == "binary":
            pass  # raw bytes (exports): checked by the calls that expect them
        else:
            try:
                c.body.decode("utf-8")
            except UnicodeDecodeError:
                errs.append(f"{got_base} body is not UTF-8 text")
        return errs

    # -- one call: send, validate, check the expectation
    def call(self, oid, label, expect, params=None, token="admin", body=None, ctype=None, query=None, src=None,
             raw_auth=False, headers=()):
        o = self.spec.ops[oid]
        path = o["path"]
        for k, v in (params or {}).items():
            path = path.replace("{" + k + "}", urllib.parse.quote(str(v), safe=""))
        if "{" in path:
            die(f"{oid} {label}: unfilled path parameter in {path}")
        tok = self.fx["tokens"].get(token, token) if token else None
        if tok is not None and token not in self.fx["tokens"] and src is None:
            src = self.next_src()  # a made-up token: a failing authentication
        c, err = self.http(o["method"], path, tok, body, ctype, query, src, raw_auth, headers)
        self.calls += 1
        where = f"{oid} [{label}] {o['method']} {path}{'?' + urllib.parse.urlencode(query) if query else ''}"
        if c is None:
            self.errors.append(f"{where}: {err}")
            return None
        self.statuses[oid].add(c.status)
        probs = self.check_response(oid, c, label)
        if isinstance(expect, int):
            expect = {expect}
        if c.status not in expect:
            probs.append(f"expected status {'/'.join(map(str, sorted(expect)))}, got {c.status}: "
                         f"{c.body[:300].decode('utf-8', 'replace')}")
        if c.version != "2":
            probs.append(f"answered over HTTP/{c.version}, not HTTP/2")
        if probs:
            self.errors.extend(f"{where}: {p}" for p in probs)
            return c
        if 200 <= c.status < 300:
            self.success[oid] += 1
        return c

    def expect_true(self, cond, what):
        if not cond:
            self.errors.append(f"check failed: {what}")

    def raw(self, method, path, token="admin", **kw):
        """A call outside the operations (unknown path, wrong method)."""
        tok = self.fx["tokens"].get(token) if token else None
        c, err = self.http(method, path, tok, **kw)
        self.calls += 1
        self.extra_calls += 1
        if c is None:
            self.errors.append(f"{method} {path}: {err}")
        return c

    def check_component(self, name, c, where):
        ptr = json_pointer("components", "responses", name)
        resp, ptr = self.spec.resolve(self.spec.doc["components"]["responses"][name], ptr)
        for p in self.check_against(resp, ptr, c):
            self.errors.append(f"{where}: {p}")


def new_uuid():
    return uuidlib.uuid4().hex


def problem_type(c):
    return (c.json or {}).get("type", "") if c is not None else ""


def run_live(spec, fx):
    tmp = tempfile.mkdtemp(prefix="d4conf.")
    L = Live(spec, fx, tmp)
    ds = fx["data_sensor"]
    admin_user = fx["admin_user"]
    call = L.call
    ok = L.expect_true

    # ---- raw data export (streamed)
    sess = {}
    c = call("listSensorSessions", "sessions for export", 200, {"uuid": ds}, token="user")
    if c is not None and c.json:
        for si in c.json.get("items", []):
            sess.setdefault(si["type"], si)
    ok(1 in sess and 8 in sess, f"the data sensor has a type 1 and a type 8 session: {sorted(sess)}")
    if 1 in sess and 8 in sess:
        s1s, s8s = sess[1], sess[8]
        c = call("exportSession", "pcap", 200, {"id": s1s["id"]}, token="user", query={"format": "pcap"})
        if c is not None and c.status == 200:
            ok(c.body[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"),
               f"exportSession pcap starts with a pcap magic: {c.body[:4]!r}")
            ok(len(c.body) == s1s["bytes"], f"exportSession pcap of one whole session: {len(c.body)} bytes, "
               f"session {s1s['bytes']}")
        c = call("exportSession", "raw (default)", 200, {"id": s1s["id"]}, token="user")
        if c is not None and c.status == 200:
            ok(len(c.body) == s1s["bytes"], "exportSession raw has every payload byte")
        c = call("exportSession", "text", 200, {"id": s8s["id"]}, token="user", query={"format": "text"})
        if c is not None and c.status == 200:
            ok(len(c.body) == s8s["bytes"], "exportSession text has every payload byte")
        c = call("exportSession", "ndjson", 200, {"id": s8s["id"]}, token="user", query={"format": "ndjson"})
        if c is not None and c.status == 200:
            lines = c.body.decode().splitlines()
            ok(len(lines) == s8s["frames"], f"exportSession ndjson: one line per frame ({len(lines)})")
            for i, line in enumerate(lines):
                try:
                    rec = json.loads(line)
                except ValueError as e:
                    L.errors.append(f"exportSession ndjson line {i}: not JSON ({e})")
                    continue
                for e in spec.validate("#/components/schemas/FrameRecord", rec):
                    L.errors.append(f"exportSession ndjson line {i}: FrameRecord: {e}")
                ok(rec.get("session") == s8s["id"] and rec.get("sensor") == ds and rec.get("type") == 8,
                   f"exportSession ndjson provenance: {line[:200]}")
        call("exportSession", "pcap of a type 8 session", 422, {"id": s8s["id"]}, token="user",
             query={"format": "pcap"})
        call("exportSession", "text of a type 1 session", 422, {"id": s1s["id"]}, token="user",
             query={"format": "text"})
        call("exportSession", "unknown format", 400, {"id": s1s["id"]}, token="user", query={"format": "xml"})
        call("exportSession", "unknown query parameter", 400, {"id": s1s["id"]}, token="user",
             query={"sensor": ds})
    call("exportSession", "unknown session", 404, {"id": 987654321}, token="user")
    call("exportSession", "id not a number", {400, 404}, {"id": "abc"}, token="user")

    c = call("exportRange", "pcap", 200, token="user", query={"sensor": ds, "type": 1, "format": "pcap"})
    if c is not None and c.status == 200 and 1 in sess:
        ok(c.body[:4] == b"\xd4\xc3\xb2\xa1" or c.body[:4] == b"\xa1\xb2\xc3\xd4", "exportRange pcap magic")
    c = call("exportRange", "ndjson over a time range", 200, token="user",
             query={"sensor": ds, "type": 8, "format": "ndjson", "from": "2000-01-01T00:00:00Z", "to": "4102444800"})
    if c is not None and c.status == 200:
        lines = c.body.decode().splitlines()
        ok(len(lines) > 0, "exportRange ndjson over all time has lines")
        for i, line in enumerate(lines[:50]):
            try:
                for e in spec.validate("#/components/schemas/FrameRecord", json.loads(line)):
                    L.errors.append(f"exportRange ndjson line {i}: FrameRecord: {e}")
            except ValueError as e:
                L.errors.append(f"exportRange ndjson line {i}: not JSON ({e})")
    c = call("exportRange", "empty range", 200, token="user",
             query={"sensor": ds, "type": 8, "format": "text", "from": "1000000000", "to": "1000000001"})
    if c is not None and c.status == 200:
        ok(c.body == b"", f"exportRange of an empty range has an empty body ({len(c.body)} bytes)")
    c = call("exportRange", "empty range, pcap", 200, token="user",
             query={"sensor": ds, "type": 1, "format": "pcap", "to": "1000000001"})
    if c is not None and c.status == 200:
        ok(len(c.body) == 24, f"exportRange empty pcap is a bare global header ({len(c.body)} bytes)")
    call("exportRange", "missing sensor", 400, token="user", query={"type": 1})
    call("exportRange", "missing type", 400, token="user", query={"sensor": ds})
    call("exportRange", "type 256", 400, token="user", query={"sensor": ds, "type": 256})
    call("exportRange", "bad time", 400, token="user", query={"sensor": ds, "type": 8, "from": "yesterday"})
    call("exportRange", "from after to", 400, token="user", query={"sensor": ds, "type": 8, "from": "20", "to": "10"})
    call("exportRange", "pcap of type 8", 422, token="user", query={"sensor": ds, "type": 8, "format": "pcap"})
    call("exportRange", "text of type 1", 422, token="user", query={"sensor": ds, "type": 1, "format": "text"})
    call("exportRange", "unknown sensor", 404, token="user", query={"sensor": new_uuid(), "type": 1})

    # ---- passive DNS queries (data: whatever the hub's pDNS store holds; every line is
    # validated against the spec's COF / SAF schemas by check_response)
    def saf_ok(c, what):
        if c is None or c.status != 200:
            return
        lines = c.body.decode("utf-8", "replace").splitlines()
        ok(len(lines) >= 2 and json.loads(lines[0]) == {"cond": "begin"} and
           json.loads(lines[-1]).get("cond") in ("succeeded", "limited"), f"{what}: SAF framing: {lines[:1]} {lines[-1:]}")
    c = call("pdnsInfo", "info", 200, token="user")
    if c is not None and c.json:
        ok(c.json.get("max_tlp") == "tlp:amber+strict", f"pdnsInfo: a user's clearance: {c.json}")
    c = call("pdnsInfo", "admin", 200)
    if c is not None and c.json:
        ok(c.json.get("max_tlp") == "tlp:red", f"pdnsInfo: an admin's clearance: {c.json}")
    call("pdnsQuery", "name", 200, {"q": "www.example.test"}, token="user")
    call("pdnsQuery", "left wildcard", 200, {"q": "*.example.test"}, token="user", query={"limit": 5})
    call("pdnsQuery", "address", 200, {"q": "192.0.2.1"}, token="user")
    call("pdnsQuery", "network ADDR,LEN + filters", 200, {"q": "192.0.2.0,24"}, token="user",
         query={"rrtype": "A", "time_last_after": -86400 * 365 * 30})
    call("pdnsQuery", "bad name", 400, {"q": "a*b.test"}, token="user")
    call("pdnsQuery", "unknown parameter", 400, {"q": "example.test"}, token="user", query={"sort": "x"})
    call("pdnsQuery", "bad cursor", 400, {"q": "example.test"}, token="user", query={"cursor": "!"})
    # malformed queries: a 400 problem on every path, never 200 []
    l63 = "a" * 63
    bad_names = ("a..b", ".x", ".", "x..", "a" * 64 + ".test", ".".join([l63] * 4), "a\\999b")
    for nm in bad_names:
        call("pdnsQuery", f"malformed name {nm[:20]}", 400, {"q": nm}, token="user")
        for oid in ("RrsetName", "RdataName"):
            call("dnsdbLookup" + oid, f"malformed name {nm[:20]}", 400, {"name": nm}, token="user")
            call("dnsdbSummarize" + oid, f"malformed name {nm[:20]}", 400, {"name": nm}, token="user")
    call("dnsdbLookupRrsetNameTypeBailiwick", "malformed bailiwick", 400,
         {"name": "www.example.test", "rrtype": "A", "bailiwick": "a..b"}, token="user")
    for ip_ in ("192.0.2.0,33", "192.0.2.0/33", "256.1.2.3", "192.0.2.9-192.0.2.1", "192.0.2.1-2001:db8::1",
                "2001:db8::/129", "1.2.3", "123"):
        call("pdnsQuery", f"malformed address {ip_}", 400, {"q": ip_}, token="user")
        call("dnsdbLookupRdataIp", f"malformed address {ip_}", 400, {"ip": ip_}, token="user")
        call("dnsdbSummarizeRdataIp", f"malformed address {ip_}", 400, {"ip": ip_}, token="user")
    call("pdnsQuery", "over-long path", 414, {"q": "a." * 1100 + "test"}, token="user")
    call("dnsdbLookupRrsetName", "over-long path", 414, {"name": "a." * 1100 + "test"}, token="user")
    # sealed cursors: cut, altered, another query's, another role's
    c = call("pdnsQuery", "page 1", 200, {"q": "*.example.test"}, token="user", query={"limit": 1})
    cur = c.headers.get("d4-next-cursor") if c is not None else None
    ok(bool(cur), "pdnsQuery limit 1 over several records has a D4-Next-Cursor")
    if cur:
        call("pdnsQuery", "page 2", 200, {"q": "*.example.test"}, token="user", query={"limit": 1, "cursor": cur})
        call("pdnsQuery", "cut cursor", 400, {"q": "*.example.test"}, token="user",
             query={"limit": 1, "cursor": cur[:-2]})
        alt = cur[:5] + ("B" if cur[5] == "A" else "A") + cur[6:]
        call("pdnsQuery", "altered cursor", 400, {"q": "*.example.test"}, token="user",
             query={"limit": 1, "cursor": alt})
        call("pdnsQuery", "another query's cursor", 400, {"q": "*.other.test"}, token="user",
             query={"limit": 1, "cursor": cur})
        call("dnsdbLookupRrsetName", "a COF cursor", 400, {"name": "*.example.test"}, token="user",
             query={"limit": 1, "cursor": cur})
        call("pdnsQuery", "another role's cursor", 400, {"q": "*.example.test"}, token="admin",
             query={"limit": 1, "cursor": cur})
    lq = {"swclient": "conformance", "version": "1", "limit": 10, "time_first_after": 1, "humantime": "t"}
    for oid, params in (("RrsetName", {"name": "www.example.test"}),
                        ("RrsetNameType", {"name": "*.example.test", "rrtype": "A"}),
                        ("RrsetNameTypeBailiwick", {"name": "www.example.test", "rrtype": "ANY",
                                                    "bailiwick": "example.test"}),
                        ("RdataName", {"name": "ns1.example.test"}),
                        ("RdataNameType", {"name": "www.example.*", "rrtype": "CNAME"}),
                        ("RdataIp", {"ip": "192.0.2.0,24"}),
                        ("RdataRaw", {"hex": "3139322e302e322e31"}),
                        ("RdataRawType", {"hex": "3139322e302e322e31", "rrtype": "A"})):
        c = call("dnsdbLookup" + oid, "lookup", 200, params, token="user", query=lq)
        saf_ok(c, "dnsdbLookup" + oid)
        c = call("dnsdbSummarize" + oid, "summarize", 200, params, token="user",
                 query={"max_count": 100, "time_last_before": -1})
        saf_ok(c, "dnsdbSummarize" + oid)
    call("dnsdbLookupRrsetName", "aggr=f, offset", 200, {"name": "example.test"}, token="user",
         query={"aggr": "f", "offset": 3})
    call("dnsdbLookupRrsetName", "X-API-Key", 200, {"name": "example.test"}, token=None,
         headers=[f"X-API-Key: {fx['tokens']['user']}"])
    call("dnsdbLookupRrsetName", "bad X-API-Key", 401, {"name": "example.test"}, token=None,
         headers=["X-API-Key: d4h_" + "C" * 43], src=L.next_src())
    call("dnsdbLookupRrsetNameType", "unknown rrtype", 400, {"name": "example.test", "rrtype": "NOPE"},
         token="user")
    call("dnsdbLookupRdataIp", "bad address", 400, {"ip": "192.0.2.0,33"}, token="user")
    call("dnsdbLookupRdataRaw", "odd hex", 400, {"hex": "abc"}, token="user")
    call("dnsdbLookupRdataName", "max_count on a lookup", 400, {"name": "example.test"}, token="user",
         query={"max_count": 1})
    call("dnsdbLookupRdataIp", "bad time", 400, {"ip": "192.0.2.1"}, token="user",
         query={"time_first_before": "yesterday"})
    call("dnsdbSummarizeRdataIp", "bad aggr", 400, {"ip": "192.0.2.1"}, token="user", query={"limit": "x"})
    c = call("dnsdbRateLimit", "rate", 200, token="user", query={"swclient": "dnsdbq", "version": "2.6.4"})
    if c is not None and c.json:
        ok(c.json["rate"].get("limit") == "unlimited", f"dnsdbRateLimit: {c.json}")
    call("dnsdbRateLimit", "unknown parameter", 400, token="user", query={"x": 1})
    c = call("dnsdbPing", "ping", 200, token="user")
    call("dnsdbPing", "unknown parameter", 400, token="user", query={"x": 1})

    # ---- backscatter (three vectors and one sensor's counters written by conformance.sh)
    c = call("listBackscatterVectors", "every vector", 200, token="user")
    ids = [i["id"] for i in c.json["items"]] if c is not None and c.status == 200 else []
    ok(len(ids) == 3, f"listBackscatterVectors: the 3 vectors of the fixtures ({len(ids)})")
    c = call("listBackscatterVectors", "one page of one", 200, token="user", query={"limit": 1})
    nxt = c.json.get("next_cursor") if c is not None and c.json else None
    ok(nxt is not None and c.headers.get("d4-next-cursor") == nxt, "listBackscatterVectors: a next cursor")
    if nxt:
        call("listBackscatterVectors", "next page", 200, token="user", query={"limit": 1, "cursor": nxt})
        call("listBackscatterVectors", "cursor of another query", 400, token="user",
             query={"limit": 1, "cursor": nxt, "kind": "tcp-rst"})
        call("listBackscatterVectors", "cut cursor", 400, token="user", query={"limit": 1, "cursor": nxt[:-3]})
    call("listBackscatterVectors", "every filter", 200, token="user",
         query={"since": "2000-01-01", "until": "4102444800", "victim": "192.0.2.0/24", "port": 80, "kind": "tcp-synack",
                "sensor": "5e3c3b5e0b9e4c1e9a52c6e9d2a1f001", "origin": "local", "ongoing": "true"})
    c = call("listBackscatterVectors", "NDJSON stream", 200, token="user", query={"format": "ndjson"})
    if c is not None and c.status == 200:
        ok(len(c.body.decode().splitlines()) == 3, "listBackscatterVectors: NDJSON lines")
    c = call("listBackscatterVectors", "NDJSON by Accept", 200, token="user", query={"limit": 2},
             headers=["Accept: application/x-ndjson"])
    if c is not None and c.status == 200:
        ok(c.ctype().startswith("application/x-ndjson") and c.headers.get("d4-next-cursor"),
           f"listBackscatterVectors: Accept gives an NDJSON page ({c.ctype()})")
    call("listBackscatterVectors", "bad victim", 400, token="user", query={"victim": "192.0.2.0/33"})
    call("listBackscatterVectors", "unknown kind", 400, token="user", query={"kind": "syn-flood"})
    call("listBackscatterVectors", "since after until", 400, token="user", query={"since": "20", "until": "10"})
    call("listBackscatterVectors", "unknown parameter", 400, token="user", query={"sort": "x"})
    if ids:
        call("getBackscatterVector", "one", 200, {"id": ids[0]}, token="user")
    call("getBackscatterVector", "unknown id", 404, {"id": 987654321}, token="user")
    call("getBackscatterVector", "id not a number", 400, {"id": "abc"}, token="user")
    c = call("getBackscatterSummary", "last 7 days", 200, token="user")
    if c is not None and c.status == 200:
        ok(len(c.json["days"]) == 7 and sum(d["vectors"] for d in c.json["days"][-1:]) >= 1,
           f"getBackscatterSummary: 7 days, today's vectors: {c.json['days'][-1:]}")
    call("getBackscatterSummary", "a day, top 1", 200, token="user", query={"from": "2026-01-01", "to": "2026-01-01",
                                                                            "top": 1})
    call("getBackscatterSummary", "too many days", 400, token="user", query={"from": "2026-01-01", "to": "2026-03-01"})
    call("getBackscatterSummary", "a list parameter", 400, token="user", query={"cursor": "x"})
    c = call("getBackscatterCounters", "counters", 200)
    if c is not None and c.status == 200:
        # the loaded sensor's figures exactly; the hub's own consumer also
        # counts the pcap frames other checks of this test send
        mine = [x for x in c.json["sensors"] if x["sensor"] == "5e3c3b5e0b9e4c1e9a52c6e9d2a1f001"]
        ok(c.json["store"]["vectors"] == 3 and len(mine) == 1 and mine[0]["frames"] == 12
           and mine[0]["packets"] == 900 and mine[0]["backscatter"] == 220
           and mine[0]["by_kind"]["tcp-synack"] == 120 and mine[0]["by_reason"]["not-a-reply"] == 177,
           f"getBackscatterCounters: {c.json}")
    call("getBackscatterCounters", "unknown parameter", 400, query={"x": 1})

    # ---- passive SSL (a tlp:green handshake with a certificate and a tlp:red one, written by conformance.sh)
    ps = fx["pssl"]
    c = call("v2psslQuery", "an address", 200, {"q": "192.0.2.20"}, token="user")
    if c is not None and c.status == 200:
        ok(c.json.get("192.0.2.20", {}).get("certificates") == [ps["sha1"]], f"v2psslQuery: {c.json}")
    c = call("v2psslQuery", "a network, encoded slash", 200, {"q": "192.0.2.0/24"}, token="user")
    if c is not None and c.status == 200:
        ok(sorted(c.json) == ["192.0.2.20"], f"v2psslQuery: the red handshake's address is not shown: {c.json}")
    c = call("v2psslQueryNetwork", "a network", 200, {"q": "192.0.2.0", "len": 24})
    if c is not None and c.status == 200:
        ok(sorted(c.json) == ["192.0.2.20"], f"v2psslQueryNetwork: an address without a certificate is absent: {c.json}")
    call("v2psslQueryNetwork", "a /22", 400, {"q": "192.0.2.0", "len": 22}, token="user")
    call("v2psslQuery", "not an address", 400, {"q": "example.test"}, token="user")
    c = call("v2psslCquery", "a certificate", 200, {"sha1": ps["sha1"]}, token="user")
    if c is not None and c.status == 200:
        ok(c.json == {"certificate": ps["sha1"], "seen": ["192.0.2.20"], "hits": 1}, f"v2psslCquery: {c.json}")
    call("v2psslCquery", "bad hash", 400, {"sha1": "abc"}, token="user")
    call("v2psslCfetch", "a certificate", 200, {"sha1": ps["sha1"]}, token="user")
    call("v2psslCfetch", "unknown certificate", 404, {"sha1": "0" * 40}, token="user")
    call("v2psslCfetch", "bad hash", 400, {"sha1": "z" * 40}, token="user")
    # the weak-key fixture's handshakes (127.0.1.x) are listed too: this
    # fixture's two are on 192.0.2.20 (green) and .21 (red)
    c = call("listPsslTuples", "pages of one, by network", 200, token="user",
             query={"limit": 1, "ip": "192.0.2.0/24"})
    ok(c is not None and c.json and c.json["next_cursor"] is None and len(c.json["items"]) == 1,
       "listPsslTuples: a user sees the green tuple only")
    call("listPsslTuples", "every tuple", 200, token="user")
    c = call("listPsslTuples", "pages of one (admin)", 200, query={"limit": 1})
    nxt = c.json.get("next_cursor") if c is not None and c.json else None
    ok(nxt is not None and c.headers.get("d4-next-cursor") == nxt, "listPsslTuples: a next cursor")
    if nxt:
        call("listPsslTuples", "next page", 200, query={"limit": 1, "cursor": nxt})
        call("listPsslTuples", "cursor of another query", 400, query={"limit": 1, "cursor": nxt, "port": 443})
        call("listPsslTuples", "another role's cursor", 400, token="user", query={"limit": 1, "cursor": nxt})
    call("listPsslTuples", "by network, port and time", 200, token="user",
         query={"ip": "192.0.2.0/24", "port": 443, "time_first_after": 1, "time_last_before": 4102444800})
    call("listPsslTuples", "by certificate", 200, token="user", query={"cert": ps["sha1"]})
    call("listPsslTuples", "by JA3", 200, token="user", query={"ja3": ps["ja3"]})
    call("listPsslTuples", "by JA4", 200, token="user", query={"ja4": "t13d1516h2_8daaf6152771_e5627efa2ab1"})
    call("listPsslTuples", "by SNI", 200, token="user", query={"sni": "conf.example"})
    call("listPsslTuples", "two pivots", 400, token="user", query={"sni": "conf.example", "ja3": ps["ja3"]})
    call("listPsslTuples", "reversed range", 400, token="user", query={"ip": "192.0.2.9-192.0.2.1"})
    call("listPsslTuples", "bad hash", 400, token="user", query={"cert": "0" * 39})
    c = call("listPsslCerts", "every certificate", 200, token="user")
    ok(c is not None and c.json and ps["sha1"] in [x["sha1"] for x in c.json["items"]], "listPsslCerts")
    c = call("listPsslCerts", "by name", 200, token="user", query={"name": "conf.example"})
    ok(c is not None and c.json and [x["sha1"] for x in c.json["items"]] == [ps["sha1"]], "listPsslCerts by name")
    call("listPsslCerts", "by name", 200, token="user", query={"name": "*.example"})
    call("listPsslCerts", "bad spki", 400, token="user", query={"spki": "00"})
    call("getPsslCert", "detail", 200, {"sha1": ps["sha1"]}, token="user")
    c = call("getPsslCert", "DER", 200, {"sha1": ps["sha1"]}, token="user", query={"format": "der"})
    if c is not None and c.status == 200:
        ok(hashlib.sha1(c.body).hexdigest() == ps["sha1"], "getPsslCert format=der: the certificate's bytes")
    call("getPsslCert", "PEM", 200, {"sha1": ps["sha1"]}, token="user", query={"format": "pem"})
    call("getPsslCert", "unknown", 404, {"sha1": "0" * 40}, token="user")
    call("getPsslCert", "bad hash", 400, {"sha1": "0" * 41}, token="user")
    call("getPsslFingerprint", "a JA3", 200, {"kind": "ja3", "md5": ps["ja3"]}, token="user")
    call("getPsslFingerprint", "unknown", 404, {"kind": "ja3s", "md5": "0" * 32}, token="user")
    call("getPsslFingerprint", "bad kind", 400, {"kind": "ja5", "md5": ps["ja3"]}, token="user")
    # ---- the passive-SSL consumer's figures (it runs in the test's hub)
    c = call("getPsslInfo", "info", 200, token="user")
    if c is not None and c.status == 200:
        ok(c.json["ingest"]["running"] is True and c.json["ingest"]["bad_lines"] == 0,
           f"getPsslInfo: the consumer runs: {c.json}")
    call("getPsslInfo", "unknown parameter", 400, token="user", query={"x": 1})
    c = call("getPsslCounters", "counters", 200)
    if c is not None and c.status == 200:
        ok(isinstance(c.json["sensors"], list), f"getPsslCounters: {c.json}")
    call("getPsslCounters", "a user", 403, token="user")
    call("getPsslCounters", "unknown parameter", 400, query={"x": 1})
    # ---- passive SSL: weak-key reports (the planted certificates of tests/tools/d4-pssl-weakcerts,
    # A1 at tlp:red; tests/integration/pssl_weak/weak.sh checks every finding)
    wc = fx["weak_certs"]
    c = call("listPsslWeak", "every finding", 200, token="admin")
    items = c.json["items"] if c is not None and c.status == 200 else []
    ok(len(items) == 9 and c.json["next_cursor"] is None, f"listPsslWeak: the 9 planted findings ({len(items)})")
    c = call("listPsslWeak", "user", 200, token="user", query={"limit": 2})
    nxt = c.json.get("next_cursor") if c is not None and c.json else None
    ok(nxt is not None and c.headers.get("d4-next-cursor") == nxt, "listPsslWeak: a next cursor")
    if nxt:
        call("listPsslWeak", "next page", 200, token="user", query={"limit": 2, "cursor": nxt})
        call("listPsslWeak", "cursor of another query", 400, token="user",
             query={"limit": 2, "cursor": nxt, "kind": "shared-prime"})
        call("listPsslWeak", "cursor of another clearance", 400, token="admin", query={"limit": 2, "cursor": nxt})
        call("listPsslWeak", "cut cursor", 400, token="user", query={"limit": 2, "cursor": nxt[:-3]})
    c = call("listPsslWeak", "shared primes", 200, token="user", query={"kind": "shared-prime"})
    if c is not None and c.status == 200:
        hid = [f for f in c.json["items"] if f["other"] == {"hidden": True} or f["key"] == {"hidden": True}]
        ok(len(c.json["items"]) == 4 and len(hid) == 1, f"listPsslWeak: A1 (tlp:red) hidden from a user: {c.json}")
    call("listPsslWeak", "by certificate", 200, token="user", query={"cert": wc["K2"]})
    call("listPsslWeak", "unknown kind", 400, token="user", query={"kind": "shared"})
    call("listPsslWeak", "key and cert", 400, token="user", query={"key": 1, "cert": "00" * 20})
    call("listPsslWeak", "limit 0", 400, token="user", query={"limit": 0})
    call("listPsslWeak", "key above the clearance", 404, token="user", query={"key": 1})
    call("listPsslWeak", "unknown certificate", 404, token="user", query={"cert": "ab" * 20})
    call("listPsslWeak", "foreign cursor", 400, token="user", query={"cursor": "AAAA"})
    call("listPsslWeak", "unknown parameter", 400, token="user", query={"sort": "x"})
    c = call("getPsslWeakKey", "key 2", 200, {"id": 2}, token="user")
    if c is not None and c.status == 200:
        ok([f["kind"] for f in c.json["findings"]] == ["shared-prime"], f"getPsslWeakKey 2: {c.json}")
    call("getPsslWeakKey", "key above the clearance", 404, {"id": 1}, token="user")
    call("getPsslWeakKey", "admin", 200, {"id": 1})
    call("getPsslWeakKey", "unknown key", 404, {"id": 987654}, token="user")
    call("getPsslWeakKey", "id not a number", 400, {"id": "abc"}, token="user")
    c = call("getPsslWeakCert", "K2", 200, {"sha1": wc["K2"]}, token="user")
    if c is not None and c.status == 200:
        ok([f["kind"] for f in c.json["findings"]] == ["shared-key"], f"getPsslWeakCert K2: {c.json}")
    call("getPsslWeakCert", "certificate above the clearance", 404, {"sha1": wc["A1"]}, token="user")
    call("getPsslWeakCert", "unknown certificate", 404, {"sha1": "00" * 20}, token="user")
    call("getPsslWeakCert", "not a sha1", 400, {"sha1": "xyz"}, token="user")
    c = call("getPsslWeakStatus", "status", 200)
    if c is not None and c.status == 200:
        ok(c.json["store"]["findings"] == 9 and c.json["job"]["state"] == "running", f"getPsslWeakStatus: {c.json}")
    call("getPsslWeakStatus", "unknown parameter", 400, query={"x": 1})
    call("getPsslWeakStatus", "user", 403, token="user")

    # ---- the web page
    c = call("getWebIndex", "anonymous", 200, token=None)
    if c is not None and c.status == 200:
        ok(b"/static/app.js" in c.body, "getWebIndex serves the page that loads app.js")
        ok("script-src 'self'" in c.headers.get("content-security-policy", ""), "getWebIndex sends a CSP")
    call("getWebAsset", "app.js", 200, params={"file": "app.js"}, token=None)
    call("getWebAsset", "style.css", 200, params={"file": "style.css"}, token=None)
    call("getWebAsset", "unknown file", 404, params={"file": "nope.js"}, token=None)
    call("getWebAsset", "hidden file", 404, params={"file": ".htaccess"}, token=None)

    # ---- system
    c = call("getHealth", "anonymous", 200, token=None)
    c = call("getOpenapi", "anonymous", 200, token=None)
    if c is not None and c.status == 200:
        ok(yaml.safe_load(c.body) == spec.doc, "getOpenapi serves the spec file (parsed YAML differs)")
    call("getMetrics", "user", 200, token="user")
    c = call("getMetrics", "admin", 200)
    if c is not None and c.status == 200:
        ok(b"d4hub_frames_total" in c.body, "getMetrics has d4hub_frames_total")
    c = call("getIngestUnverified", "admin", 200)
    if c is not None and c.json:
        ok(c.json["ingest"].get("running") is True, f"getIngestUnverified: ingest figures: {c.json}")
    call("getIngestUnverified", "limit", 200, query={"limit": 1})
    call("getIngestUnverified", "limit out of range", 400, query={"limit": 0})
    c = call("getIngestUnverified", "filters", 200, query={"address": "127.0.0.1", "uuid": "0" * 32})
    if c is not None and c.json is not None:
        ok(c.json["entries"] == [], f"getIngestUnverified: filter on an unused uuid: {c.json}")
    call("getIngestUnverified", "bad address", 400, query={"address": "not-an-ip"})
    call("getIngestUnverified", "bad uuid", 400, query={"uuid": "xyz"})
    call("getIngestUnverified", "user", 403, token="user")
    c = call("getMetrics", "admin", 200)
    if c is not None and c.status == 200:
        ok(b"d4hub_ingest_max_unverified_per_address" in c.body, "getMetrics has the ingest per-address limit")
    c = call("getMe", "sensor_register", 200, token="sensor_register")
    if c is not None and c.json:
        ok(c.json.get("role") == "sensor_register", f"getMe role of the register token: {c.json}")
    c = call("getMe", "admin", 200)
    if c is not None and c.json:
        ok(c.json == {"user": admin_user, "role": "admin"}, f"getMe of the admin token: {c.json}")
    call("getMe", "raw token without Bearer (d4-core style)", 200, raw_auth=True)

    # ---- reads over the fixtures
    c = call("listSensors", "all", 200, token="user")
    if c is not None and c.json:
        ok(any(s["uuid"] == ds for s in c.json.get("items", [])), "listSensors lists the data sensor")
    call("listSensors", "status=approved", 200, token="user", query={"status": "approved"})
    call("listSensors", "status=pending", 200, token="user", query={"status": "pending"})
    c = call("listSensors", "limit=1", 200, token="user", query={"limit": 1})
    if c is not None and c.json and c.json.get("next_cursor"):
        c2 = call("listSensors", "next page", 200, token="user", query={"limit": 1, "cursor": c.json["next_cursor"]})
        if c2 is not None and c2.json and c2.json.get("items") and c.json.get("items"):
            ok(c2.json["items"][0]["uuid"] != c.json["items"][0]["uuid"], "the second page differs from the first")
    else:
        ok(False, "listSensors limit=1 with several sensors returns a next_cursor")
    call("listSensors", "limit=0", 400, token="user", query={"limit": 0})
    call("listSensors", "limit=1001", 400, token="user", query={"limit": 1001})
    call("listSensors", "limit=abc", 400, token="user", query={"limit": "abc"})
    call("listSensors", "bad status", 400, token="user", query={"status": "bogus"})
    call("listSensors", "bad cursor", 400, token="user", query={"cursor": "not-a-cursor!"})

    c = call("getSensor", "data sensor", 200, {"uuid": ds}, token="user")
    if c is not None and c.json:
        ok(c.json.get("packets", 0) > 0, f"getSensor: the data sensor has packets ({c.json.get('packets')})")
        ok(len(c.json.get("types", [])) > 0, "getSensor: the data sensor has types")
        ok(len(c.json.get("history", [])) == 7, "getSensor: history has 7 days")
        ok(len(c.json.get("last_ips", [])) > 0, "getSensor: the data sensor has last_ips")
    dashed = str(uuidlib.UUID(ds))
    call("getSensor", "dashed uuid", 200, {"uuid": dashed}, token="user")
    call("getSensor", "unknown uuid", 404, {"uuid": new_uuid()}, token="user")
    call("getSensor", "not a uuid", {400, 404}, {"uuid": "not-a-uuid"}, token="user")

    c = call("listSensorSessions", "data sensor", 200, {"uuid": ds}, token="user")
    if c is not None and c.json:
        ok(len(c.json.get("items", [])) > 0, "listSensorSessions: the data sensor has sessions")
        ok(all(s["sensor"] == ds for s in c.json.get("items", [])), "listSensorSessions: sessions of that sensor")
    call("listSensorSessions", "limit=1", 200, {"uuid": ds}, token="user", query={"limit": 1})
    call("listSensorSessions", "unknown uuid", 404, {"uuid": new_uuid()}, token="user")
    call("listSensorSessions", "limit=0", 400, {"uuid": ds}, token="user", query={"limit": 0})

    c = call("listSessions", "every session", 200, token="user")
    if c is not None and c.json:
        ids = [s["id"] for s in c.json.get("items", [])]
        ok(len(ids) > 0 and ids == sorted(ids), "listSessions: sessions, oldest first")
    c = call("listSessions", "data sensor", 200, token="user", query={"sensor": ds})
    if c is not None and c.json:
        ok(len(c.json.get("items", [])) > 0, "listSessions: the data sensor has sessions")
        ok(all(s["sensor"] == ds for s in c.json.get("items", [])), "listSessions: only that sensor's")
    c = call("listSessions", "limit=1", 200, token="user", query={"limit": 1})
    if c is not None and c.json and c.json.get("next_cursor"):
        last = c.json["items"][-1]["id"]
        c2 = call("listSessions", "next page", 200, token="user", query={"limit": 1, "cursor": c.json["next_cursor"]})
        if c2 is not None and c2.json and c2.json.get("items"):
            ok(c2.json["items"][0]["id"] > last, "listSessions: the next page goes on after the cursor")
    c = call("listSessions", "unknown sensor", 200, token="user", query={"sensor": new_uuid()})
    if c is not None and c.json:
        ok(c.json.get("items") == [], "listSessions: an unknown sensor has no sessions")
    call("listSessions", "bad sensor", 400, token="user", query={"sensor": "x"})
    call("listSessions", "bad cursor", 400, token="user", query={"cursor": "AAAAAAAAAAA"})

    c = call("getStatsTotals", "user", 200, token="user")
    if c is not None and c.json:
        ok(c.json.get("frames", 0) > 0, "getStatsTotals: frames > 0")
    c = call("getStatsDaily", "default", 200, token="user")
    if c is not None and c.json:
        ok(any(i["sensor"] == ds for i in c.json.get("items", [])), "getStatsDaily: the data sensor appears")
    call("getStatsDaily", "days=1 sensor", 200, token="user", query={"days": 1, "sensor": ds})
    call("getStatsDaily", "days=366", 200, token="user", query={"days": 366})
    call("getStatsDaily", "days=0", 400, token="user", query={"days": 0})
    call("getStatsDaily", "days=367", 400, token="user", query={"days": 367})
    call("getStatsDaily", "bad sensor", 400, token="user", query={"sensor": "xyz"})

    call("getTypes", "user", 200, token="user")
    call("listBlocklist", "user", 200, token="user")

    # ---- sensors: create, update, status changes, keys, delete
    s1 = new_uuid()
    c = call("createSensor", "generated key", 201, body={"uuid": s1, "description": "conformance", "mail": "a@b.c"})
    if c is not None and c.json:
        ok(re.fullmatch(r"[0-9a-f]{64}", c.json.get("key", "")) is not None, "createSensor returns a generated key")
        ok(c.json.get("status") == "pending", "createSensor without approve: pending")
    s2 = new_uuid()
    c = call("createSensor", "given key, approve, dashed uuid", 201,
             body={"uuid": str(uuidlib.UUID(s2)), "key": "conformance-key", "approve": True})
    if c is not None and c.json:
        ok("key" not in c.json, "createSensor with a key does not echo it")
        ok(c.json.get("status") == "approved" and c.json.get("uuid") == s2, "createSensor approve, uuid normalised")
    call("createSensor", "exists", 409, body={"uuid": s1})
    call("createSensor", "malformed JSON", 400, body='{"uuid": ')
    call("createSensor", "too deep", 400, body="[" * 40 + "]" * 40)
    call("createSensor", "unknown field", 422, body={"uuid": new_uuid(), "colour": "red"})
    call("createSensor", "missing uuid", 422, body={"description": "x"})
    call("createSensor", "uuid not a string", 422, body={"uuid": 42})
    call("createSensor", "approve not a bool", 422, body={"uuid": new_uuid(), "approve": "yes"})
    call("createSensor", "not an object", 422, body=[1, 2])
    call("createSensor", "text/plain", 415, body={"uuid": new_uuid()}, ctype="text/plain")
    call("createSensor", "1.5 MiB body", 413, body=b'{"description":"' + b"a" * (3 << 19) + b'"}')

    upd = {"description": "updated", "mail": "ops@example.org", "default_tlp": "tlp:green",
           "default_org": new_uuid(), "max_payload": 4096, "max_backlog": 1 << 20}
    c = call("updateSensor", "every field", 200, {"uuid": s1}, body=upd)
    if c is not None and c.json:
        for k in ("description", "mail", "default_tlp", "default_org", "max_payload", "max_backlog"):
            ok(c.json.get(k) == upd[k], f"updateSensor {k}: {c.json.get(k)!r} != {upd[k]!r}")
    c = call("updateSensor", "clear defaults", 200, {"uuid": s1}, body={"default_tlp": None, "default_org": None})
    if c is not None and c.json:
        ok(c.json.get("default_tlp") is None and c.json.get("default_org") is None, "updateSensor null clears")
    # monitoring: s1 (never seen) gets a 1 s threshold and is listed as silent below; s2 one that cannot expire
    t_silence = time.monotonic()
    c = call("updateSensor", "silence_threshold", 200, {"uuid": s1}, body={"silence_threshold": 1})
    if c is not None and c.json:
        ok(c.json.get("silence_threshold") == 1, f"updateSensor silence_threshold: {c.json.get('silence_threshold')!r}")
    call("updateSensor", "silence_threshold max", 200, {"uuid": s2}, body={"silence_threshold": 4294967295})
    call("updateSensor", "negative silence_threshold", 422, {"uuid": s1}, body={"silence_threshold": -1})
    call("updateSensor", "silence_threshold too big", 422, {"uuid": s1}, body={"silence_threshold": 1 << 32})
    call("updateSensor", "silence_threshold not an integer", 422, {"uuid": s1}, body={"silence_threshold": "60"})
    call("updateSensor", "unknown sensor", 404, {"uuid": new_uuid()}, body={"description": "x"})
    call("updateSensor", "unknown field", 422, {"uuid": s1}, body={"key": "sneaky"})
    call("updateSensor", "bad tlp", 422, {"uuid": s1}, body={"default_tlp": "tlp:purple"})
    call("updateSensor", "negative max_payload", 422, {"uuid": s1}, body={"max_payload": -1})
    call("updateSensor", "malformed JSON", 400, {"uuid": s1}, body="{,}")
    call("updateSensor", "text/plain", 415, {"uuid": s1}, body={"description": "x"}, ctype="text/plain")
    call("updateSensor", "1.5 MiB body", 413, {"uuid": s1}, body=b'{"description":"' + b"a" * (3 << 19) + b'"}')

    c = call("approveSensor", "pending", 200, {"uuid": s1})
    if c is not None and c.json:
        ok(c.json.get("status") == "approved", "approveSensor: approved")
    call("approveSensor", "unknown", 404, {"uuid": new_uuid()})
    c = call("blockSensor", "approved", 200, {"uuid": s1})
    if c is not None and c.json:
        ok(c.json.get("status") == "blocked", "blockSensor: blocked")
    call("blockSensor", "unknown", 404, {"uuid": new_uuid()})
    call("approveSensor", "blocked", 409, {"uuid": s1})
    c = call("unblockSensor", "blocked", 200, {"uuid": s1})
    if c is not None and c.json:
        ok(c.json.get("status") != "blocked", "unblockSensor: no longer blocked")
    call("unblockSensor", "not blocked", 409, {"uuid": s1})
    call("unblockSensor", "unknown", 404, {"uuid": new_uuid()})

    call("kickSensor", "no body", 200, {"uuid": s2})
    call("kickSensor", "ban_seconds", 200, {"uuid": s2}, body={"ban_seconds": 5})
    call("kickSensor", "ban_seconds not an integer", 422, {"uuid": s2}, body={"ban_seconds": "5"})
    call("kickSensor", "unknown field", 422, {"uuid": s2}, body={"ban": 5})
    call("kickSensor", "unknown", 404, {"uuid": new_uuid()})
    call("kickSensor", "text/plain", 415, {"uuid": s2}, body="ban", ctype="text/plain")

    c = call("rotateSensorKey", "generated", 200, {"uuid": s2})
    if c is not None and c.json:
        ok(re.fullmatch(r"[0-9a-f]{64}", c.json.get("key", "")) is not None, "rotateSensorKey generates 64 hex")
    c = call("rotateSensorKey", "given", 200, {"uuid": s2}, body={"key": "another-key"})
    if c is not None and c.json:
        ok(c.json.get("key") == "another-key" and c.json.get("uuid") == s2, "rotateSensorKey sets the given key")
    call("rotateSensorKey", "key not a string", 422, {"uuid": s2}, body={"key": 7})
    call("rotateSensorKey", "unknown", 404, {"uuid": new_uuid()})
    call("rotateSensorKey", "malformed JSON", 400, {"uuid": s2}, body="{")

    # ---- d4-core compatible registration
    r1 = new_uuid()
    c = call("registerSensor", "sensor_register", 200, token="sensor_register",
             body={"uuid": r1, "hmac_key": "registered-key", "mail": "s@example.org", "third_party": False})
    if c is not None and c.json:
        ok(c.json == {"uuid": r1}, f"registerSensor answers the uuid: {c.json}")
    c = call("getSensor", "registered sensor", 200, {"uuid": r1}, token="user")
    if c is not None and c.json:
        ok(c.json.get("status") == "pending", "a registered sensor is pending")
    c = call("registerSensor", "again", 409, token="sensor_register", body={"uuid": r1, "hmac_key": "k"})
    if c is not None and c.json:
        ok(bool(c.json.get("reason")), "registerSensor 409 has a reason")
    not_v4 = "0" * 12 + "1" + "0" * 19  # version nibble 1
    for label, body in (("uuid not v4", {"uuid": not_v4, "hmac_key": "k"}), ("missing hmac_key", {"uuid": new_uuid()})):
        c = call("registerSensor", label, 400, token="sensor_register", body=body)
        if c is not None and c.json:
            ok(bool(c.json.get("reason")), f"registerSensor 400 ({label}) has d4-core's reason")
    call("registerSensor", "malformed JSON", 400, token="sensor_register", body="{")
    call("registerSensor", "text/plain", 415, token="sensor_register", body="x", ctype="text/plain")
    call("registerSensor", "admin may too", 200, body={"uuid": new_uuid(), "hmac_key": "k2"})
    # d4-core's body: description stored, members d4hub does not read ignored
    r2 = new_uuid()
    call("registerSensor", "description + unknown members", 200, token="sensor_register",
         body={"uuid": r2, "hmac_key": "k3", "description": "edge router", "mail": "s@example.org",
               "type": 8, "d4_client": "go", "extended": {"x": [1, None]}})
    c = call("getSensor", "registered with a description", 200, {"uuid": r2}, token="user")
    if c is not None and c.json:
        ok(c.json.get("description") == "edge router", f"registerSensor stores the description: {c.json}")
    call("registerSensor", "description of the wrong type", 422, token="sensor_register",
         body={"uuid": new_uuid(), "hmac_key": "k", "description": 5})

    # ---- refusing a pending registration: deleted, or kept blocked; never a sensor in use
    call("refuseSensor", "approved", 409, {"uuid": s2})
    c = call("getSensor", "approved, not refused", 200, {"uuid": s2}, token="user")
    if c is not None and c.json:
        ok(c.json.get("status") == "approved", f"a refused approved sensor is unchanged: {c.json.get('status')}")
    call("refuseSensor", "unknown", 404, {"uuid": new_uuid()})
    call("refuseSensor", "block not a bool", 422, {"uuid": r1}, body={"block": "yes"})
    call("refuseSensor", "unknown field", 422, {"uuid": r1}, body={"ban_seconds": 1})
    call("refuseSensor", "text/plain", 415, {"uuid": r1}, body="x", ctype="text/plain")
    call("refuseSensor", "user", 403, {"uuid": r1}, token="user")
    call("refuseSensor", "pending: deleted", 204, {"uuid": r1})
    call("getSensor", "refused registration", 404, {"uuid": r1}, token="user")
    call("refuseSensor", "twice", 404, {"uuid": r1})
    r3 = new_uuid()
    call("createSensor", "pending, to refuse and block", 201, body={"uuid": r3, "key": "k"})
    call("refuseSensor", "pending: blocked", 204, {"uuid": r3}, body={"block": True})
    c = call("getSensor", "refused and blocked", 200, {"uuid": r3}, token="user")
    if c is not None and c.json:
        ok(c.json.get("status") == "blocked", f"refuse with block keeps the sensor blocked: {c.json.get('status')}")
    call("refuseSensor", "blocked", 409, {"uuid": r3})
    call("registerSensor", "refused and blocked: registered", 409, token="sensor_register",
         body={"uuid": r3, "hmac_key": "k"})
    # connection state: this process runs the ingest, so it is known; the data sensor's sessions are closed
    c = call("getSensor", "data sensor, disconnected", 200, {"uuid": ds}, token="user")
    if c is not None and c.json:
        ok(c.json.get("connected") is False and c.json.get("live_sessions") == 0 and c.json.get("connected_since") is None,
           f"a sensor without open session is not connected: {c.json.get('connected')}, {c.json.get('live_sessions')}")

    # ---- blocklist (documentation addresses only: nothing the tests use)
    entries = [("ip", "192.0.2.1"), ("ip", "198.51.100.0/24"), ("uuid", new_uuid()), ("uuid-ips", new_uuid())]
    for kind, value in entries:
        c = call("addBlock", kind, 201, body={"kind": kind, "value": value})
        if c is not None and c.json:
            ok(c.json.get("kind") == kind and c.json.get("value") == value, f"addBlock echoes {kind} {value}")
    call("addBlock", "again", {409, 201}, body={"kind": "ip", "value": "192.0.2.1"})
    call("addBlock", "bad kind", 422, body={"kind": "mac", "value": "x"})
    call("addBlock", "bad address", {400, 422}, body={"kind": "ip", "value": "300.1.2.3"})
    call("addBlock", "bad uuid", {400, 422}, body={"kind": "uuid", "value": "nope"})
    call("addBlock", "missing value", 422, body={"kind": "ip"})
    call("addBlock", "text/plain", 415, body="x", ctype="text/plain")
    c = call("listBlocklist", "with entries", 200, token="user")
    if c is not None and c.json:
        got = {(e["kind"], e["value"]) for e in c.json.get("items", [])}
        ok(set(entries) <= got, f"listBlocklist has the added entries: {sorted(got)}")
    for kind, value in entries:
        call("deleteBlock", kind, 204, {"kind": kind, "value": value})
    call("deleteBlock", "absent", 404, {"kind": "ip", "value": "192.0.2.1"})
    call("deleteBlock", "bad kind", {400, 404}, {"kind": "mac", "value": "x"})

    # ---- types
    c = call("setType", "refuse 9", 200, {"type": 9}, body={"accepted": False})
    if c is not None and c.json:
        ok(9 not in c.json.get("accepted", []), "setType false removes the type")
    c = call("setType", "accept 9", 200, {"type": 9}, body={"accepted": True})
    if c is not None and c.json:
        ok(9 in c.json.get("accepted", []), "setType true adds the type")
    call("setType", "type 256", {400, 404}, {"type": 256}, body={"accepted": True})
    call("setType", "type abc", {400, 404}, {"type": "abc"}, body={"accepted": True})
    call("setType", "accepted not a bool", 422, {"type": 9}, body={"accepted": "yes"})
    call("setType", "missing accepted", 422, {"type": 9}, body={})
    call("setType", "text/plain", 415, {"type": 9}, body="x", ctype="text/plain")
    c = call("addExtType", "add", 200, {"name": "conformance-ext"})
    if c is not None and c.json:
        ok("conformance-ext" in c.json.get("ext_types", []), "addExtType adds the name")
    call("addExtType", "again (idempotent)", 200, {"name": "conformance-ext"})
    call("addExtType", "name too long", 400, {"name": "x" * 100})
    c = call("deleteExtType", "delete", 200, {"name": "conformance-ext"})
    if c is not None and c.json:
        ok("conformance-ext" not in c.json.get("ext_types", []), "deleteExtType removes the name")
    call("deleteExtType", "absent", 404, {"name": "conformance-ext"})

    # ---- server (ingest) mode (the hub runs in registration mode without a shared key;
    # the ingest side is in tests/integration/api/server_mode.sh)
    c = call("getServerMode", "config", 200)
    if c is not None and c.json:
        ok(c.json == {"mode": "registration", "mode_source": "config", "shared_key_set": False},
           f"getServerMode from the config: {c.json}")
    call("getServerMode", "unknown query parameter", 400, query={"x": 1})
    call("setServerMode", "shared-secret without any key", 422, body={"mode": "shared-secret"})
    c = call("setServerMode", "shared-secret with a key", 200,
             body={"mode": "shared-secret", "shared_key": "conformance shared key"})
    if c is not None and c.json:
        ok(c.json == {"mode": "shared-secret", "mode_source": "runtime", "shared_key_set": True},
           f"setServerMode shared-secret: {c.json}")
        ok(b"conformance shared key" not in c.body, "setServerMode never returns the key")
    c = call("setServerMode", "registration (key kept)", 200, body={"mode": "registration"})
    if c is not None and c.json:
        ok(c.json == {"mode": "registration", "mode_source": "runtime", "shared_key_set": True},
           f"setServerMode registration: {c.json}")
    c = call("getServerMode", "runtime", 200)
    if c is not None and c.json:
        ok(c.json.get("mode_source") == "runtime", f"getServerMode after a change: {c.json}")
    call("setServerMode", "bad mode", 422, body={"mode": "open"})
    call("setServerMode", "missing mode", 422, body={"shared_key": "k"})
    call("setServerMode", "empty key", 422, body={"mode": "shared-secret", "shared_key": ""})
    call("setServerMode", "key too long", 422, body={"mode": "shared-secret", "shared_key": "k" * 256})
    call("setServerMode", "key not a string", 422, body={"mode": "shared-secret", "shared_key": 5})
    call("setServerMode", "unknown field", 422, body={"mode": "registration", "force": True})
    call("setServerMode", "no body", 400)
    call("setServerMode", "malformed JSON", 400, body="{")
    call("setServerMode", "text/plain", 415, body="x", ctype="text/plain")

    # ---- users and tokens
    c = call("listUsers", "admin", 200)
    if c is not None and c.json:
        ok(any(u["name"] == admin_user for u in c.json.get("items", [])), "listUsers lists the admin")
    c = call("createUser", "user", 201, body={"name": "conf-user", "role": "user"})
    call("createUser", "exists", {409, 201}, body={"name": "conf-user", "role": "user"})
    call("createUser", "bad role", 422, body={"name": "conf-x", "role": "root"})
    call("createUser", "bad name", 422, body={"name": "no spaces allowed", "role": "user"})
    call("createUser", "missing role", 422, body={"name": "conf-x"})
    call("createUser", "unknown field", 422, body={"name": "conf-x", "role": "user", "password": "x"})
    call("createUser", "text/plain", 415, body="x", ctype="text/plain")
    c = call("listTokens", "none yet", 200, {"name": "conf-user"})
    if c is not None and c.json:
        ok(c.json.get("items") == [], "a new user has no token")
    c = call("createToken", "label", 201, {"name": "conf-user"}, body={"label": "conformance"})
    tok1 = c.json if c is not None and c.json and c.status == 201 else None
    c = call("createToken", "no body", 201, {"name": "conf-user"})
    tok2 = c.json if c is not None and c.json and c.status == 201 else None
    call("createToken", "unknown user", 404, {"name": "nobody-here"}, body={"label": "x"})
    call("createToken", "label not a string", 422, {"name": "conf-user"}, body={"label": 5})
    call("createToken", "text/plain", 415, {"name": "conf-user"}, body="x", ctype="text/plain")
    c = call("listTokens", "two", 200, {"name": "conf-user"})
    if c is not None and c.json:
        ok(len(c.json.get("items", [])) == 2, "listTokens lists both tokens")
        ok(all("token" not in t for t in c.json.get("items", [])), "listTokens never shows the secret")
    call("listTokens", "unknown user", 404, {"name": "nobody-here"})
    if tok1:
        L.fx["tokens"]["conf-user"] = tok1["token"]
        c = call("getMe", "new token", 200, token="conf-user")
        if c is not None and c.json:
            ok(c.json == {"user": "conf-user", "role": "user"}, f"getMe with the new token: {c.json}")
        call("revokeToken", "revoke", 204, {"id": tok1["id"]})
        call("revokeToken", "again", 404, {"id": tok1["id"]})
        call("getMe", "revoked token", 401, token="conf-user", src=L.next_src())
    call("revokeToken", "not hex", {400, 404}, {"id": "xyz"})
    c = call("updateUser", "role", 200, {"name": "conf-user"}, body={"role": "sensor_register"})
    if c is not None and c.json:
        ok(c.json.get("name") == "conf-user" and c.json.get("role") == "sensor_register", f"updateUser: {c.json}")
    call("updateUser", "unknown user", 404, {"name": "nobody-here"}, body={"role": "user"})
    call("updateUser", "bad role", 422, {"name": "conf-user"}, body={"role": "root"})
    call("updateUser", "missing role", 422, {"name": "conf-user"}, body={})
    call("updateUser", "unknown field", 422, {"name": "conf-user"}, body={"role": "user", "name": "x"})
    call("updateUser", "no body", 400, {"name": "conf-user"})
    call("updateUser", "text/plain", 415, {"name": "conf-user"}, body="x", ctype="text/plain")
    call("deleteUser", "delete", 204, {"name": "conf-user"})
    call("deleteUser", "again", 404, {"name": "conf-user"})
    if tok2:
        L.fx["tokens"]["conf-user2"] = tok2["token"]
        call("getMe", "token of a deleted user", 401, token="conf-user2", src=L.next_src())

    # ---- federation partners and the egress dry run
    with open(fx["cacert"]) as f:
        ca_pem = f.read()
    p_hub = new_uuid()
    pbody = {"name": "conf-partner", "url": "https://127.0.0.5:8444/fed", "ca_pem": ca_pem, "hub_uuid": p_hub,
             "org_uuid": new_uuid(), "relation": "partner", "direction": "push",
             "outbound": {"pdns": {"enabled": True, "max_tlp": "tlp:amber", "allow_amber": True,
                                   "nets_allow": ["0.0.0.0/0", "10.1.0.0/16"], "zones_deny": ["corp.example"]}},
             "inbound": {"kinds": ["pdns"], "max_tlp": "tlp:green", "records_per_s": 100}}
    c = call("createPartner", "create", 201, body=pbody)
    if c is not None and c.json:
        ok(c.json["outbound"]["pdns"]["max_tlp"] == "tlp:amber" and c.json["outbound"]["frames"]["enabled"] is False
           and c.json["has_ca"] is True and c.json["spki_sha256"] is None and c.json["hub_uuid"] == p_hub,
           f"createPartner stored what was sent, defaults for the rest: {c.json}")
        ok(c.headers.get("location") == "/api/v1/partners/conf-partner", "createPartner Location")
    call("createPartner", "exists", 409, body=pbody)
    call("createPartner", "no trust anchor", 422, body={k: v for k, v in pbody.items() if k != "ca_pem"})
    call("createPartner", "not PEM", 422, body=dict(pbody, name="conf-p2", ca_pem="nope"))
    call("createPartner", "net with host bits", 422,
         body=dict(pbody, name="conf-p2", outbound={"pdns": {"nets_allow": ["10.1.2.3/8"]}}))
    call("createPartner", "unknown relation", 422, body=dict(pbody, name="conf-p2", relation="friend"))
    call("createPartner", "unknown member", 422, body=dict(pbody, name="conf-p2", secret=1))
    call("createPartner", "missing body", 400)
    call("createPartner", "text/plain", 415, body="x", ctype="text/plain")
    c = call("listPartners", "admin", 200)
    if c is not None and c.json:
        ok([p["name"] for p in c.json["items"]] == ["conf-partner"] and c.json["items"][0]["outbound_kinds"] == ["pdns"],
           f"listPartners: {c.json}")
    call("getPartner", "get", 200, {"name": "conf-partner"})
    call("getPartner", "absent", 404, {"name": "conf-none"})
    call("getPartner", "bad name", 400, {"name": ".hidden"})
    c = call("updatePartner", "disable, share frames", 200, {"name": "conf-partner"},
             body={"enabled": False, "outbound": {"frames": {"enabled": True, "max_tlp": "tlp:green"}}})
    if c is not None and c.json:
        ok(c.json["enabled"] is False and c.json["outbound"]["frames"]["max_tlp"] == "tlp:green"
           and c.json["outbound"]["pdns"]["nets_allow"] == ["0.0.0.0/0", "10.1.0.0/16"], f"updatePartner changed only that: {c.json}")
    rec = {"kind": "pdns", "tlp": "tlp:amber", "rrname": "www.example.com", "rrtype": 1, "rdata": "192.0.2.1"}
    c = call("dryRunPartner", "disabled partner", 200, {"name": "conf-partner"}, body=rec)
    if c is not None and c.json:
        ok(c.json["decision"] == "refuse" and c.json["reason"] == "partner-disabled", f"dryRunPartner: {c.json}")
    call("updatePartner", "enable", 200, {"name": "conf-partner"}, body={"enabled": True})
    call("updatePartner", "rename", 422, {"name": "conf-partner"}, body={"name": "other"})
    call("updatePartner", "remove the only trust anchor", 422, {"name": "conf-partner"}, body={"ca_pem": ""})
    call("updatePartner", "absent", 404, {"name": "conf-none"}, body={"enabled": True})
    c = call("getPartnerStatus", "nothing exchanged yet", 200, {"name": "conf-partner"})
    if c is not None and c.json:
        fr = c.json["kinds"]["frames"]
        ok(c.json["name"] == "conf-partner" and fr["acknowledged"]["batches"] == 0 and fr["received"]["records"] == 0
           and fr["pending"] is None and c.json["kinds"]["pdns"]["outbound"] is True,
           f"getPartnerStatus: {c.json}")
    call("getPartnerStatus", "absent", 404, {"name": "conf-none"})
    call("getPartnerStatus", "bad name", 400, {"name": ".hidden"})
    c = call("getUpstream", "not configured", 200)
    if c is not None and c.json:
        ok(c.json == {"enabled": False, "destination": None, "streams": []}, f"getUpstream: {c.json}")
    c = call("getFederationIdentity", "this hub's identity and signing key", 200)
    if c is not None and c.json:
        ok(len(c.json["hub_uuid"]) == 32 and c.json["pubkey"] and len(c.json["pubkey"]) == 44,
           f"getFederationIdentity: {c.json}")
    for what, body, decision, reason in (
            ("amber pDNS to a partner allowed amber", rec, "release", "released"),
            ("red", dict(rec, tlp="tlp:red"), "refuse", "tlp-red"),
            ("should-not-sync tag", dict(rec, tags=["misp:should-not-sync"]), "refuse", "should-not-sync"),
            ("amber+strict to another org", dict(rec, tlp="tlp:amber+strict"), "refuse", "amber-strict-other-org"),
            ("private rdata", dict(rec, rdata="10.2.0.1"), "refuse", "rdata-private"),
            ("private rdata named by a rule", dict(rec, rdata="10.1.2.3"), "release", "released"),
            ("denied zone", dict(rec, rrname="a.corp.example"), "refuse", "zone-filtered"),
            ("back to its origin", dict(rec, origin=p_hub), "refuse", "loop-origin"),
            ("ex:chr tuple", dict(rec, tlp="tlp:ex:chr", sensors=[new_uuid()], org=new_uuid()), "release-stripped",
             "ex-chr-stripped"),
            ("ex:chr frame above the frames rule (green)", {"kind": "frames", "tlp": "tlp:ex:chr", "type": 8},
             "refuse", "above-max-tlp"),
            ("green frame", {"kind": "frames", "tlp": "tlp:green", "type": 8}, "release", "released"),
            ("amber frame, the frames rule does not allow amber", {"kind": "frames", "tlp": "tlp:amber", "type": 8},
             "refuse", "amber-not-allowed"),
            ("AAAA tuple outside the allowed nets", dict(rec, rrtype=28, rdata="2001:db8::1"), "refuse",
             "rdata-filtered"),
            ("certs not shared", {"kind": "certs", "tlp": "tlp:clear"}, "refuse", "kind-not-shared")):
        c = call("dryRunPartner", what, 200, {"name": "conf-partner"}, body=body)
        if c is not None and c.json:
            ok(c.json["decision"] == decision and c.json["reason"] == reason,
               f"dryRunPartner {what}: {c.json['decision']}/{c.json['reason']}, expected {decision}/{reason}")
            if decision == "release-stripped" and c.json["decision"] == decision:
                pv = c.json["provenance"]
                ok(pv["stripped"] is True and pv["org"] is None and pv["origin"] is None and pv["sensors"] == []
                   and pv["via"] == [], f"dryRunPartner {what}: provenance stripped: {pv}")
    call("dryRunPartner", "bad record", 422, {"name": "conf-partner"}, body={"kind": "dns"})
    call("dryRunPartner", "absent partner", 404, {"name": "conf-none"}, body={})
    call("deletePartner", "delete", 204, {"name": "conf-partner"})
    call("deletePartner", "again", 404, {"name": "conf-partner"})

    # ---- monitoring: silent sensors (s1 must have been silent for more than its 1 s threshold)
    time.sleep(max(0.0, 2.2 - (time.monotonic() - t_silence)))
    c = call("listSilentSensors", "all", 200, token="user")
    if c is not None and c.json:
        items = {s["uuid"]: s for s in c.json.get("items", [])}
        ok(s1 in items, "listSilentSensors lists a sensor silent beyond its threshold")
        ok(s2 not in items, "listSilentSensors leaves out a sensor within its threshold")
        if ds:
            ok(ds not in items, "listSilentSensors leaves out an unmonitored sensor")
        if s1 in items:
            ok(items[s1].get("silence_threshold") == 1 and items[s1].get("silent_for", 0) >= 2,
               f"listSilentSensors: threshold and silent_for of s1: {items[s1]}")
    c = call("listSilentSensors", "status=approved", 200, token="user", query={"status": "approved"})
    if c is not None and c.json:
        ok(all(s["status"] == "approved" for s in c.json.get("items", [])), "listSilentSensors status filter")
    c = call("listSilentSensors", "limit=1", 200, token="user", query={"limit": 1})
    if c is not None and c.json and c.json.get("next_cursor"):
        call("listSilentSensors", "next page", 200, token="user", query={"limit": 1, "cursor": c.json["next_cursor"]})
    call("listSilentSensors", "limit=0", 400, token="user", query={"limit": 0})
    call("listSilentSensors", "bad status", 400, token="user", query={"status": "silent"})
    call("listSilentSensors", "bad cursor", 400, token="user", query={"cursor": "!"})
    call("listSilentSensors", "unknown parameter", 400, token="user", query={"threshold": 5})

    # ---- analyzer queues (data flow is in tests/integration/api/queues.sh)
    c = call("createQueue", "type 8", 201, body={"name": "conf-dns", "type": 8, "max_entries": 5})
    qid = c.json["id"] if c is not None and c.json and "id" in c.json else 1
    if c is not None and c.json:
        ok(c.headers.get("location") == f"/api/v1/queues/{qid}", "createQueue Location")
        ok(c.json.get("depth") == 0 and c.json.get("alert") is False and c.json.get("ext_type") is None,
           f"createQueue: a new queue is empty: {c.json}")
    c = call("createQueue", "254 + ext type + group", 201,
             body={"name": "conf-ja3", "type": 254, "ext_type": "ja3-jl", "sensors": [ds, ds]})
    q2 = c.json["id"] if c is not None and c.json and "id" in c.json else 2
    if c is not None and c.json:
        ok(c.json.get("sensors") == [ds] and c.json.get("ext_type") == "ja3-jl", f"createQueue group: {c.json}")
    call("createQueue", "ext_type on type 8", 422, body={"name": "x", "type": 8, "ext_type": "ja3-jl"})
    call("createQueue", "type 0", 422, body={"name": "x", "type": 0})
    call("createQueue", "missing type", 422, body={"name": "x"})
    call("createQueue", "bad sensor", 422, body={"name": "x", "type": 8, "sensors": ["nope"]})
    call("createQueue", "too big", 422, body={"name": "x", "type": 8, "max_entries": 10000001})
    call("createQueue", "unknown field", 422, body={"name": "x", "type": 8, "size": 3})
    call("createQueue", "malformed JSON", 400, body="{")
    call("createQueue", "text/plain", 415, body="x", ctype="text/plain")
    c = call("listQueues", "two", 200, token="user")
    if c is not None and c.json:
        ok({qid, q2} <= {q["id"] for q in c.json.get("items", [])}, "listQueues lists the new queues")
    c = call("listQueues", "limit=1", 200, token="user", query={"limit": 1})
    if c is not None and c.json and c.json.get("next_cursor"):
        call("listQueues", "next page", 200, token="user", query={"limit": 1, "cursor": c.json["next_cursor"]})
    call("listQueues", "bad cursor", 400, token="user", query={"cursor": "!"})
    call("listQueues", "limit=0", 400, token="user", query={"limit": 0})
    call("getQueue", "get", 200, {"id": qid}, token="user")
    call("getQueue", "absent", 404, {"id": 4000000000}, token="user")
    call("getQueue", "not a number", 400, {"id": "abc"}, token="user")
    call("getQueue", "zero", 400, {"id": 0}, token="user")
    c = call("updateQueue", "rename + resize + group", 200, {"id": qid},
             body={"name": "conf-dns2", "max_entries": 7, "sensors": [ds]})
    if c is not None and c.json:
        ok(c.json.get("name") == "conf-dns2" and c.json.get("max_entries") == 7, f"updateQueue: {c.json}")
    call("updateQueue", "clear alert, everyone", 200, {"id": qid}, body={"alert": False, "sensors": []})
    call("updateQueue", "alert true", 422, {"id": qid}, body={"alert": True})
    call("updateQueue", "empty body", 422, {"id": qid}, body={})
    call("updateQueue", "max_entries 0", 422, {"id": qid}, body={"max_entries": 0})
    call("updateQueue", "absent", 404, {"id": 4000000000}, body={"name": "x"})
    call("updateQueue", "text/plain", 415, {"id": qid}, body="x", ctype="text/plain")
    c = call("previewQueue", "empty", 200, {"id": qid}, token="user", query={"limit": 5})
    if c is not None and c.json:
        ok(c.json.get("items") == [] and c.json.get("next_from") is None, f"previewQueue empty: {c.json}")
    call("previewQueue", "limit 101", 400, {"id": qid}, token="user", query={"limit": 101})
    call("previewQueue", "unknown parameter", 400, {"id": qid}, token="user", query={"max": 1})
    call("previewQueue", "absent", 404, {"id": 4000000000}, token="user")
    c = call("popQueue", "empty", 200, {"id": qid}, token="user", query={"max": 10})
    if c is not None and c.status == 200:
        ok(c.body == b"" and c.headers.get("d4-queue-depth") == "0", "popQueue of an empty queue: no lines")
        for i, line in enumerate(c.body.decode("utf-8", "replace").splitlines()):
            for e in spec.validate("#/components/schemas/QueueFrame", json.loads(line)):
                L.errors.append(f"popQueue line {i}: QueueFrame: {e}")
    call("popQueue", "max 0", 400, {"id": qid}, token="user", query={"max": 0})
    call("popQueue", "absent", 404, {"id": 4000000000}, token="user")
    c = call("ackQueue", "at the head", 200, {"id": qid}, token="user", body={"cursor": 0})
    if c is not None and c.json:
        call("ackQueue", "beyond the tail", 422, {"id": qid}, token="user", body={"cursor": c.json["tail"] + 5})
    call("ackQueue", "missing cursor", 422, {"id": qid}, token="user", body={})
    call("ackQueue", "cursor not an integer", 422, {"id": qid}, token="user", body={"cursor": "1"})
    call("ackQueue", "absent", 404, {"id": 4000000000}, token="user", body={"cursor": 1})
    call("ackQueue", "text/plain", 415, {"id": qid}, token="user", body="x", ctype="text/plain")
    c = call("followQueue", "empty, idle 1 s", 200, {"id": qid}, token="user", query={"idle_timeout": 1})
    if c is not None and c.status == 200:
        ok(c.body.strip() == b"", f"followQueue of an empty queue: no frames: {c.body[:200]!r}")
    call("followQueue", "idle_timeout too big", 400, {"id": qid}, token="user", query={"idle_timeout": 86401})
    call("followQueue", "unknown parameter", 400, {"id": qid}, token="user", query={"limit": 1})
    call("followQueue", "absent", 404, {"id": 4000000000}, token="user")
    c = call("flushQueue", "flush", 200, {"id": q2})
    if c is not None and c.json:
        ok(c.json.get("depth") == 0 and c.json.get("alert") is False, f"flushQueue: {c.json}")
    call("flushQueue", "absent", 404, {"id": 4000000000})
    for q in (qid, q2):
        call("deleteQueue", "delete", 204, {"id": q})
    call("deleteQueue", "again", 404, {"id": qid})
    call("getQueue", "deleted", 404, {"id": qid}, token="user")

    # ---- delete the sensors created above
    for s in (s1, s2, r3):  # r1 was refused (deleted)
        call("deleteSensor", "delete", 204, {"uuid": s})
    call("deleteSensor", "again", 404, {"uuid": s1})
    call("getSensor", "deleted", 404, {"uuid": s1}, token="user")

    # ---- authentication and roles, for every operation
    dummy = {"uuid": new_uuid(), "kind": "ip", "value": "192.0.2.9", "type": 9, "name": "conf-none",
             "id": "0" * 16, "q": "example.test", "rrtype": "A", "bailiwick": "example.test", "ip": "192.0.2.1",
             "hex": "41", "sha1": "0" * 40, "len": 24, "md5": "0" * 32}
    bodies = {"createSensor": {"uuid": new_uuid()}, "updateSensor": {"description": "x"},
              "addBlock": {"kind": "ip", "value": "192.0.2.9"}, "setType": {"accepted": True},
              "setServerMode": {"mode": "registration"},
              "createUser": {"name": "conf-none", "role": "user"}, "createQueue": {"name": "q", "type": 8},
              "updateQueue": {"name": "q"}, "ackQueue": {"cursor": 1}, "createPartner": {"name": "conf-none"},
              "updatePartner": {"enabled": True}, "dryRunPartner": {}, "registerSensor": {"uuid": new_uuid(),
                                                                                      "hmac_key": "k"}}
    for oid, o in spec.ops.items():
        params = {k: v for k, v in dummy.items() if "{" + k + "}" in o["path"]}
        if o["anonymous"]:
            continue
        body = bodies.get(oid)
        call(oid, "no token", 401, params, token=None, body=body, src=L.next_src())
        call(oid, "invalid token", 401, params, token="d4h_" + "A" * 43, body=body)
        lower = {"user": "sensor_register", "admin": "user"}.get(o["role"])
        if lower:
            call(oid, f"{lower} token", 403, params, token=lower, body=body)

    # ---- the router: unknown path, wrong method
    c = L.raw("GET", "/api/v1/no-such-thing")
    if c is not None:
        ok(c.status == 404, f"unknown path: 404, got {c.status}")
        L.check_component("NotFound", c, "GET /api/v1/no-such-thing")
    paths = {}
    for oid, o in spec.ops.items():
        paths.setdefault(o["path"], set()).add(o["method"])
    for tmpl, methods in paths.items():
        m = next(x for x in ("DELETE", "PATCH", "PUT", "POST", "GET") if x not in methods)
        path = tmpl
        for k, v in dummy.items():
            path = path.replace("{" + k + "}", urllib.parse.quote(str(v), safe=""))
        c = L.raw(m, path)
        if c is None:
            continue
        ok(c.status == 405, f"{m} {tmpl}: 405, got {c.status}")
        L.check_component("MethodNotAllowed", c, f"{m} {tmpl}")
        allow = {x.strip() for x in c.headers.get("allow", "").split(",") if x.strip()}
        ok(allow == methods or allow == methods | {"HEAD"}, f"{m} {tmpl}: Allow {allow} != {methods}")

    # ---- failed-authentication limit: from one spare address, bad tokens until 429
    src = fx["limit_src"]
    got429 = None
    for i in range(100):
        c, err = L.http("GET", "/api/v1/me", "d4h_" + "B" * 43, src=src)
        L.calls += 1
        if c is None:
            L.errors.append(f"rate limit probe: {err}")
            break
        L.statuses["getMe"].add(c.status)
        if c.status == 429:
            got429 = c
            break
        if c.status != 401:
            L.errors.append(f"rate limit probe {i}: expected 401 then 429, got {c.status}")
            break
    if got429 is None:
        L.errors.append("no 429 after 100 failed authentications from one address")
    else:
        for p in L.check_response("getMe", got429, "rate limited"):
            L.errors.append(f"getMe [rate limited]: {p}")
        # limited before the token is checked: a valid token from there is refused too
        call("getMe", "valid token from a rate-limited address", 429, src=src)
        call("getMe", "other addresses are not limited", 200)

    # ---- coverage
    for oid in spec.ops:
        if not L.success[oid]:
            L.errors.append(f"{oid}: no successful (2xx) call validated "
                            f"(statuses seen: {sorted(L.statuses[oid]) or 'none'})")
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--routes", required=True, help="output of api-routes (a file, or - for stdin)")
    ap.add_argument("--live", help="fixtures JSON of a running hub (conformance.sh)")
    a = ap.parse_args()
    spec = Spec(a.spec)
    text = sys.stdin.read() if a.routes == "-" else open(a.routes).read()
    problems, nroutes = check_routes(spec, text)
    if problems:
        for p in problems:
            print(f"conformance: {p}", file=sys.stderr)
        die(f"the spec ({len(spec.ops)} operations) and the code ({nroutes} routes) differ")
    print(f"conformance: routes: the spec and the code agree on {len(spec.ops)} operations "
          f"({len(spec.fed_ops)} more on the federation port)")
    if not a.live:
        return 0
    with open(a.live) as f:
        fx = json.load(f)
    L = run_live(spec, fx)
    if L.errors:
        for e in L.errors:
            print(f"conformance: {e}", file=sys.stderr)
        die(f"{len(L.errors)} problems in {L.calls} calls")
    print(f"conformance: {len(spec.ops)} operations, {L.calls} calls, all valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
