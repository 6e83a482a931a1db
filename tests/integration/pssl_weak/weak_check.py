#!/usr/bin/python3
"""Checks of the weak-key reports (tests/integration/pssl_weak/weak.sh).

  weak_check.py API CA TOKEN status FINDINGS [KEYS]
      exit 0 when the store holds FINDINGS findings (and KEYS keys), the job
      has processed every key (behind 0) and is running (for wait_until).
  weak_check.py API CA TOKEN findings CERTDIR UPTO [HIDDEN]
      walks GET /api/v1/pssl/weak two findings per page (cursor paging) and
      compares the findings with CERTDIR/expected.txt, restricted to the
      certificates [0, UPTO) of CERTDIR/names.txt: the same multiset, nothing
      else. HIDDEN: a comma-separated list of certificate names whose key the
      caller cannot see (expected as "hidden"; findings whose every key is
      hidden are expected absent).
  weak_check.py API CA TOKEN job FIELD VALUE
      the running job's counter FIELD equals VALUE.
Requests go through curl --http2.
"""

import json
import subprocess
import sys
import urllib.parse


def get(api, ca, token, path, query=None, expect=200):
    url = api + path + ("?" + urllib.parse.urlencode(query) if query else "")
    out = subprocess.run(["curl", "-s", "--http2", "--cacert", ca, "-H", "Authorization: Bearer " + token,
                          "-w", "\n%{http_code}", url], capture_output=True, check=True).stdout.decode()
    body, code = out.rsplit("\n", 1)
    if int(code) != expect:
        sys.exit(f"GET {url}: status {code} (expected {expect}): {body[:300]}")
    return json.loads(body) if body else None


def names(certdir):
    order, by_sha1 = [], {}
    for line in open(f"{certdir}/names.txt"):
        name, sha1, _cn = line.split()
        order.append(name)
        by_sha1[sha1] = name
    return order, by_sha1


def side(k, order, by_sha1):
    if k is None:
        return ""
    if k.get("hidden"):
        return "hidden"
    certs = [by_sha1[c["sha1"]] for c in k["certificates"]]
    if not certs:
        sys.exit(f"a visible key without certificates: {k}")
    return min(certs, key=order.index)


def main():
    api, ca, token, cmd = sys.argv[1:5]
    args = sys.argv[5:]
    if cmd == "status":
        st = get(api, ca, token, "/api/v1/pssl/weak/status")
        ok = (st["store"]["findings"] == int(args[0]) and st["store"]["behind"] == 0 and st["job"] is not None
              and st["job"]["state"] == "running" and st["job"]["position"] == st["store"]["keys"]
              and (len(args) < 2 or st["store"]["keys"] == int(args[1])))
        print(json.dumps(st))
        sys.exit(0 if ok else 1)
    if cmd == "job":
        st = get(api, ca, token, "/api/v1/pssl/weak/status")
        if st["job"][args[0]] != int(args[1]):
            sys.exit(f"job.{args[0]} = {st['job'][args[0]]}, expected {args[1]}: {st}")
        return
    if cmd != "findings":
        sys.exit(f"unknown command {cmd}")
    certdir, upto = args[0], int(args[1])
    hidden = set(args[2].split(",")) if len(args) > 2 and args[2] else set()
    order, by_sha1 = names(certdir)
    inside = set(order[:upto])
    want = []
    for line in open(f"{certdir}/expected.txt"):
        f = line.split()
        kind, rest = f[0], f[1:]
        flags = [x for x in rest if x not in order]
        keys = [x for x in rest if x in order]
        if not all(k in inside for k in keys):
            continue
        keys = ["hidden" if k in hidden else k for k in keys]
        if all(k == "hidden" for k in keys):
            continue
        want.append(" ".join([kind] + sorted(keys) + flags))
    got, cursor, pages = [], None, 0
    while True:
        q = {"limit": 2}
        if cursor:
            q["cursor"] = cursor
        page = get(api, ca, token, "/api/v1/pssl/weak", q)
        pages += 1
        if len(page["items"]) > 2:
            sys.exit(f"a page of {len(page['items'])} with limit 2")
        for f in page["items"]:
            if "factor" in f:
                sys.exit(f"a factor shown: {f}")
            keys = [side(f["key"], order, by_sha1)]
            if f["other"] is not None:
                keys.append(side(f["other"], order, by_sha1))
            flags = f.get("exponent_flags", [])
            got.append(" ".join([f["kind"]] + sorted(keys) + flags))
            if f["kind"] == "shared-prime" and f["factor_bits"] != 512:
                sys.exit(f"shared-prime factor_bits {f['factor_bits']}: {f}")
        cursor = page["next_cursor"]
        if not cursor:
            break
        if pages > 100:
            sys.exit("more than 100 pages")
    if sorted(got) != sorted(want):
        sys.exit("findings differ:\n  got:  %s\n  want: %s" % (sorted(got), sorted(want)))
    # every kind filter gives its part of the same set
    for kind in sorted({w.split()[0] for w in want}):
        items = get(api, ca, token, "/api/v1/pssl/weak", {"kind": kind})["items"]
        if len(items) != sum(1 for w in want if w.split()[0] == kind) or any(i["kind"] != kind for i in items):
            sys.exit(f"kind={kind}: {len(items)} findings")
    print(f"{len(got)} findings in {pages} pages, as planted")


if __name__ == "__main__":
    main()
