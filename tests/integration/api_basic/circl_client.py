#!/usr/bin/python3
"""Clients that authenticate as CIRCL's PyPDNS and PyPSSL do: one
requests.Session with HTTP Basic credentials (session.auth = (user,
password)), GET {base}/pdns/query/{q} answered by NDJSON (one COF object a
line), GET {base}/v2pssl/query/{ip} answered by one JSON object. Written for
the test from that description; it contains no code of PyPDNS or PyPSSL.

  circl_client.py API CA USER PASSWORD DATASET SHA1  -> checks; exit 0 when all pass
  circl_client.py --status API CA USER PASSWORD PATH  -> prints the status
"""

import os
import sys

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pdns_api"))

FAILS = []


def ok(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL: " + msg, file=sys.stderr)
    return cond


class Client:
    def __init__(self, base, cacert, user, password):
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (user, password)
        self.session.verify = cacert
        # REQUESTS_CA_BUNDLE from the environment would replace verify
        self.session.trust_env = False

    def pdns_query(self, q):
        r = self.session.get(self.base + "/pdns/query/" + q, timeout=30)
        if r.status_code != 200:
            return r.status_code, r
        import json

        return 200, [json.loads(ln) for ln in r.text.splitlines() if ln.strip()]

    def pssl_query(self, ip):
        r = self.session.get(self.base + "/v2pssl/query/" + ip, timeout=30)
        return r.status_code, (r.json() if r.status_code == 200 else r)


def norm(n):
    return n.rstrip(".").lower()


def main():
    if sys.argv[1] == "--status":
        api, ca, user, pw, path = sys.argv[2:7]
        c = Client(api, ca, user, pw)
        r = c.session.get(api + path, timeout=30)
        print(r.status_code)
        return 0
    api, ca, user, pw, dataset, sha1 = sys.argv[1:7]
    import check

    tuples = check.load(dataset)
    c = Client(api, ca, user, pw)
    www = "www.example.test."
    want = {(norm(n), t, rd) for (n, t, rd, *_rest) in check.model(tuples, owner=("exact", www))}
    ok(len(want) > 0, "the dataset holds records of " + www)
    st, got = c.pdns_query(www[:-1])
    if ok(st == 200, f"/pdns/query/{www[:-1]} as {user!r}: status {st}"):
        have = {(norm(o["rrname"]), o["rrtype"], o["rdata"]) for o in got}
        ok(len(got) == len(want), f"/pdns/query/{www[:-1]}: {len(got)} lines, {len(want)} expected")
        ok(have == want, f"/pdns/query/{www[:-1]}: records differ: extra {sorted(have - want)[:3]} "
                         f"missing {sorted(want - have)[:3]}")
        print(f"# /pdns/query/{www[:-1]} with Basic ({user!r}): {len(got)} records, as the dataset")
    st, got = c.pssl_query("192.0.2.1")
    if ok(st == 200 and isinstance(got, dict), f"/v2pssl/query/192.0.2.1 as {user!r}: status {st}"):
        certs = (got.get("192.0.2.1") or {}).get("certificates")
        ok(certs == [sha1], f"/v2pssl/query/192.0.2.1: certificates {certs}, expected [{sha1}]")
        print(f"# /v2pssl/query/192.0.2.1 with Basic ({user!r}): the seeded certificate {sha1[:12]}...")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
