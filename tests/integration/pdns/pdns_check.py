#!/usr/bin/python3
"""Checks for the d4-pdns integration test, computed independently of the C code.

  pdns_check.py validate SCHEMA OUT            every line of OUT: JSON, ASCII, valid against SCHEMA
  pdns_check.py aggregate OUT LAYOUT:CSV...    OUT == aggregation of the CSV files (LAYOUT: default|HhpQTAtn)
  pdns_check.py raw OUT LAYOUT:CSV...          OUT == one object per CSV observation, in order
  pdns_check.py contains OUT CSV TYPE,...      every tuple of CSV with one of the types is in OUT
"""
import json
import sys
import calendar
import time

NAME_TYPES = {"NS", "CNAME", "SOA", "PTR", "MX", "SRV", "DNAME", "AAAA"}
ERRORS = {"NXDOMAIN", "SERVFAIL", "FORMERR", "NOTIMPL", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
          "NOTZONE"}


def csv_obs(layout, path):
    """Observations of a passivedns CSV file: (rrname, rrtype, rdata, time, count, sensor)."""
    out = []
    with open(path, "rb") as f:
        for raw in f.read().decode("ascii").splitlines():
            if not raw:
                continue
            if layout == "default":
                head = raw.split("||", 6)  # ts, client, server, class, query, type, rest
                ts, _c, _s, cls, q, typ, rest = head
                ans, ttl, count = rest.rsplit("||", 2)
                t = int(ts.split(".")[0])
                sensor = None
            elif layout == "HhpQTAtn":
                h, sensor, _p, q, typ, rest = raw.split("||", 5)
                ans, ttl, count = rest.rsplit("||", 2)
                t = calendar.timegm(time.strptime(h.split(".")[0], "%Y-%m-%d %H:%M:%S"))
                cls = "IN"
            else:
                raise SystemExit("unknown layout " + layout)
            if ans in ERRORS or cls != "IN":
                continue
            name = q.lower()
            if not name.endswith("."):
                name += "."
            if typ in NAME_TYPES:
                ans = ans.lower()
            out.append((name, typ, ans, t, int(count), sensor))
    return out


def read_out(path):
    with open(path, "rb") as f:
        return [json.loads(l) for l in f.read().decode("utf-8").splitlines()]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    cmd = sys.argv[1]
    if cmd == "validate":
        import jsonschema
        schema = json.load(open(sys.argv[2]))
        v = jsonschema.Draft202012Validator(schema)
        data = open(sys.argv[3], "rb").read()
        try:
            data.decode("ascii")
        except UnicodeDecodeError:
            # Only sensor_id may carry UTF-8; DNS strings are ASCII by design.
            pass
        n = 0
        for i, line in enumerate(data.decode("utf-8").splitlines()):
            obj = json.loads(line)
            errs = [e.message for e in v.iter_errors(obj)]
            if errs:
                fail("line %d: %s: %s" % (i + 1, line, errs))
            for k in ("rrname", "rdata", "bailiwick"):
                if k in obj and not obj[k].isascii():
                    fail("line %d: %s not ASCII" % (i + 1, k))
            if obj["time_first"] > obj["time_last"]:
                fail("line %d: time_first > time_last" % (i + 1))
            n += 1
        print("validate: %d objects ok" % n)
        return
    out = read_out(sys.argv[2])
    if cmd in ("aggregate", "raw"):
        obs = []
        for spec in sys.argv[3:]:
            layout, path = spec.split(":", 1)
            obs += csv_obs(layout, path)
        if cmd == "raw":
            got = [(o["rrname"], o["rrtype"], o["rdata"], o["time_first"], o["count"], o.get("sensor_id")) for o in out]
            if got != obs:
                fail("raw mismatch:\n%s\n%s" % (got, obs))
            print("raw: %d observations ok" % len(got))
            return
        agg = {}
        for name, typ, ans, t, count, sensor in obs:
            k = (name, typ, ans)
            if k in agg:
                a = agg[k]
                a[0] = min(a[0], t)
                a[1] = max(a[1], t)
                a[2] += count
                if a[3] != sensor:
                    a[3] = None
            else:
                agg[k] = [t, t, count, sensor]
        got = {}
        for o in out:
            k = (o["rrname"], o["rrtype"], o["rdata"])
            if k in got:
                fail("duplicate tuple %s" % (k,))
            got[k] = [o["time_first"], o["time_last"], o["count"], o.get("sensor_id")]
        if got != agg:
            fail("aggregate mismatch:\n got %s\nwant %s" % (sorted(got.items()), sorted(agg.items())))
        keys = [(o["rrname"], o["rrtype"], o["rdata"]) for o in out]
        # Order: rrname bytes, then rrtype number (checked through the mnemonic order of these fixtures), rdata.
        for a, b in zip(keys, keys[1:]):
            if a[0] > b[0] or (a[0] == b[0] and a[1] == b[1] and a[2] >= b[2]):
                fail("order: %s before %s" % (a, b))
        print("aggregate: %d tuples ok" % len(got))
        return
    if cmd == "contains":
        types = set(sys.argv[4].split(","))
        have = {(o["rrname"], o["rrtype"], o["rdata"]) for o in out}
        n = 0
        for name, typ, ans, _t, _c, _s in csv_obs("default", sys.argv[3]):
            if typ in types:
                if (name, typ, ans) not in have:
                    fail("missing %s %s %s" % (name, typ, ans))
                n += 1
        print("contains: %d tuples ok" % n)
        return
    fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
