#!/usr/bin/python3
"""A client that talks to /v2pssl exactly as CIRCL's PyPSSL does.

  pypssl_client.py SET.json FIXTURES.json

What PyPSSL does (adulau/crl-monitor client/pypssl/api.py, docs/passivessl.md
"API"): one requests.Session whose Authorization header is the token given as
auth_token (here "Bearer <token>"); URLs joined to the base URL as
'v2pssl/query/{q}', 'v2pssl/cquery/{q}', 'v2pssl/cfetch/{q}'; every answer
decoded with response.json() whatever its status; fetch_cert returns an
answer with an 'error' member as is, else turns info.not_before/not_after
into datetimes. The checks then read the answers the way the Cortex, MISP
and XSOAR analyzers do. This file is written for the test, from that
description; it contains no code of PyPSSL.
"""

import datetime
import json
import sys
from urllib.parse import urljoin

import requests

FAILS = []


def ok(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL: " + msg, file=sys.stderr)
    return cond


class PsslClient:
    def __init__(self, base_url, auth_token, cacert):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update({"Authorization": auth_token})
        self.session.verify = cacert
        # the environment's REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would replace
        # the test's CA (requests merges them over session.verify)
        self.session.trust_env = False

    def _get(self, path):
        r = self.session.get(urljoin(self.base_url, path), timeout=60)
        return r.json()

    def query(self, q):
        return self._get("v2pssl/query/{}".format(q))

    def query_cert(self, q):
        return self._get("v2pssl/cquery/{}".format(q))

    def fetch_cert(self, q, make_datetime=True):
        r = self._get("v2pssl/cfetch/{}".format(q))
        if r.get("error") or not make_datetime:
            return r
        r["info"]["not_before"] = datetime.datetime.fromisoformat(r["info"]["not_before"])
        r["info"]["not_after"] = datetime.datetime.fromisoformat(r["info"]["not_after"])
        return r


def main(set_path, fx_path):
    S = json.load(open(set_path))
    fx = json.load(open(fx_path))
    c = S["certs"]
    p = PsslClient(fx["base_url"] + "/", "Bearer " + fx["tokens"]["user"], fx["cacert"])
    # Cortex CIRCLPassiveSSL query_ip: the address's certificates with their first subject
    r = p.query("192.0.2.10")
    certs = r.get("192.0.2.10", {}).get("certificates", [])
    subjects = r.get("192.0.2.10", {}).get("subjects", {})
    shown = [(s, subjects[s]["values"][0]) for s in certs if s in subjects]
    ok(certs == [c["a"]["sha1"], c["ca"]["sha1"]], f"query 192.0.2.10: certificates {certs}")
    # the CA was also seen in a tlp:red handshake: its row is red, its subject not shown to a user
    ok(shown == [(c["a"]["sha1"], "C=LU, O=D4 Test, CN=a.example")], f"query 192.0.2.10: subjects {shown}")
    # MISP module: every address of a network, every certificate fetched
    r = p.query("192.0.2.0/24")
    ok("error" not in r and sorted(r) == ["192.0.2.10", "192.0.2.11", "192.0.2.12"], f"query 192.0.2.0/24: {sorted(r)}")
    for ip, v in r.items():
        for sha1 in v["certificates"]:
            f = p.fetch_cert(sha1)
            if sha1 == c["ca"]["sha1"]:
                ok(f.get("error", "").startswith("Not existing certificate"), f"fetch of the red CA: {f}")
                continue
            info = f["info"]
            ok(isinstance(info["not_before"], datetime.datetime) and info["not_before"].utcoffset() == datetime.timedelta(0),
               f"fetch {sha1}: not_before {info['not_before']!r}")
            ok(info["fingerprint"].lower() == sha1 and info["keylength"] in (256, 2048) and info["issuer"]
               and info["subject"] and f["pem"].startswith("-----BEGIN CERTIFICATE-----"), f"fetch {sha1}: {info}")
    # Cortex query_certificate: cquery hits and seen, cfetch without datetimes
    q = p.query_cert(c["a"]["sha1"])
    ok(q == {"certificate": c["a"]["sha1"], "seen": ["192.0.2.10", "192.0.2.11", "192.0.3.1"], "hits": 3},
       f"cquery a: {q}")
    f = p.fetch_cert(c["b"]["sha1"], make_datetime=False)
    ok(f["info"]["not_after"].endswith("+00:00") and f["info"]["extension"]["subjectAltName"] == c["b"]["san"],
       f"fetch b: {f['info']}")
    # XSOAR: keys it reads
    ok(all(k in f["info"] for k in ("subject", "issuer", "not_before", "key")) and "pem" in f, "XSOAR keys")
    # errors PyPSSL's callers look for
    e = p.query("192.0.2.0/22")
    ok("error" in e and "Maximum CIDR block size" in e["error"], f"a /22: {e}")
    e = p.query_cert("nothex")
    ok("error" in e, f"cquery of a bad hash: {e}")
    e = p.fetch_cert("00" * 20)
    ok(e.get("error", "").startswith("Not existing certificate"), f"fetch of an unknown certificate: {e}")
    # IPv6, which PyPSSL itself refuses before asking: the server answers
    r = p.query("2001:db8::5")
    ok(r == {"2001:db8::5": {"certificates": [c["v6"]["sha1"]],
                             "subjects": {c["v6"]["sha1"]: {"values": ["CN=v6.example"]}}}}, f"IPv6: {r}")
    print(f"pypssl_client.py: {len(FAILS)} failures")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
