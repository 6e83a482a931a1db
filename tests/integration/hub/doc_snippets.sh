#!/usr/bin/env bash
# Every configuration snippet of docs/*.md (fenced ```ini blocks) goes through
# `d4hub -n` as an operator would paste it: only what the snippet leaves out
# is added (the required [hub] identity, [ingest] cert/key, [store] path);
# its placeholders are filled (<... uuid> with a uuid, the same text with the
# same uuid), /etc/d4hub/ is this test's folder, and the files it names are
# made (the federation identity with deploy/mkpki.sh as docs/federation.md
# says, an upstream key file, a CA). Any fenced block holding a [section]
# header of the configuration must be marked ini, so that none escapes.
# deploy/d4hub.conf.example passes d4hub -n as shipped too.
source "$(dirname "$0")/../lib.sh"

DOCS=$(cd "$(dirname "$0")/../../.." && pwd)/docs
t_pki
mkdir -p "$T_DIR/etc"
# the fences as grep sees them: the extractor must find exactly as many
expected=$(cat "$DOCS"/*.md | grep -c '^[[:space:]]*```ini[[:space:]]*$' || true)
[ "$expected" -ge 3 ] || fail "only $expected ini snippets in docs/"

rc=0
"$PY" - "$DOCS" "$T_DIR" "$D4HUB" "$D4SENSOR" "$MKPKI" "$expected" <<'PYEOF' || rc=$?
import glob, os, re, subprocess, sys

docs, tdir, d4hub, d4sensor, mkpki, expected = sys.argv[1:7]
SECTIONS = "hub|ingest|store|api|pdns|backscatter|federation|upstream|pssl"
problems, snippets = [], []
for path in sorted(glob.glob(os.path.join(docs, "*.md"))):
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[i + 1:j]]
        where = "%s:%d" % (os.path.basename(path), i + 1)
        if lang == "ini":
            snippets.append((where, body))
        elif any(re.match(r"^\s*\[(%s)\]\s*$" % SECTIONS, l) for l in body):
            problems.append("%s: a configuration snippet fenced as '%s', not 'ini'" % (where, lang))
        i = j + 1
if len(snippets) != int(expected):
    problems.append("found %d ini snippets, grep counts %s" % (len(snippets), expected))

uuids = {}
def uuid_for(text):
    if text not in uuids:
        uuids[text] = subprocess.run([d4sensor, "--gen-uuid"], capture_output=True, text=True,
                                     check=True).stdout.strip()
    return uuids[text]

checked = 0
for n, (where, body) in enumerate(snippets):
    d = os.path.join(tdir, "snippet%d" % n)
    os.makedirs(d)
    os.symlink(os.path.join(tdir, "pki"), os.path.join(d, "pki"))
    text = "\n".join(body) + "\n"
    text = re.sub(r"<[^<>\n]*uuid[^<>\n]*>", lambda m: uuid_for(m.group(0)), text)
    if re.search(r"<[^<>\n]*>", text):
        problems.append("%s: a placeholder this test cannot fill: %s" % (where, re.search(r"<[^<>\n]*>", text).group(0)))
        continue
    text = text.replace("/etc/d4hub/", os.path.join(tdir, "etc") + "/")
    # what the snippet sets, by section (keys before a header are [hub])
    sec, have, vals = "hub", set(), {}
    for l in text.split("\n"):
        s = l.strip()
        m = re.match(r"^\[(\w+)\]", s)
        if m:
            sec = m.group(1)
            continue
        m = re.match(r"^([a-z_]+)\s*=\s*(.*?)(\s+#.*)?$", s)
        if m:
            have.add(sec + "." + m.group(1))
            vals[sec + "." + m.group(1)] = m.group(2)
    add = ""
    for sect, keys in (("hub", ("uuid", "org")), ("ingest", ("cert", "key")), ("store", ("path",))):
        missing = [k for k in keys if sect + "." + k not in have]
        if missing:
            dflt = {"uuid": uuid_for("hub"), "org": uuid_for("org"), "cert": "pki/hub.crt",
                    "key": "pki/hub.key", "path": "store"}
            add += "[%s]\n" % sect + "".join("%s = %s\n" % (k, dflt[k]) for k in missing)
    # the files the snippet names
    fc = vals.get("federation.cert", "")
    m = re.match(r"^pki/([\w-]+)\.crt$", fc)
    if m:
        org = re.match(r"^pki/([\w-]+)-ca\.crt$", vals.get("federation.ca", "pki/org-ca.crt"))
        hub = vals.get("hub.uuid", uuid_for("hub"))
        subprocess.run([mkpki, os.path.join(tdir, "pki"), "hub", m.group(1), hub] + ([org.group(1)] if org else []),
                       check=True)
    elif fc:
        problems.append("%s: federation.cert %s is not pki/NAME.crt" % (where, fc))
        continue
    kf = vals.get("upstream.key_file")
    if kf:
        with open(kf if kf.startswith("/") else os.path.join(d, kf), "w") as f:
            f.write("an upstream key from the D4 server\n")
    ca = vals.get("upstream.ca")
    if ca:
        dst = ca if ca.startswith("/") else os.path.join(d, ca)
        if not os.path.exists(dst):
            os.symlink(os.path.join(tdir, "pki", "ca.crt"), dst)
    conf = os.path.join(d, "d4hub.conf")
    with open(conf, "w") as f:
        f.write(text + add)
    r = subprocess.run([d4hub, "-n", "-c", conf], capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode != 0 or "configuration OK" not in r.stdout:
        problems.append("%s: d4hub -n exits %d:\n%s\n--- the configuration:\n%s" % (where, r.returncode, out, text + add))
        continue
    # -n names the addresses the snippet sets
    for key, label in (("federation.listen", "federation:"), ("api.listen", "REST API:"),
                       ("ingest.listen", "D4 ingest:"), ("upstream.destination", "upstream:")):
        if key in vals and not re.search(r"^%s.*%s" % (re.escape(label), re.escape(vals[key])), r.stdout, re.M):
            problems.append("%s: d4hub -n does not print %s %s:\n%s" % (where, label, vals[key], r.stdout))
    print("# %s: d4hub -n OK (%d lines%s)" % (where, len(body), ", with " + add.replace("\n", " ") if add else ""))
    checked += 1

for p in problems:
    print("FAIL: " + p)
if problems or checked != int(expected):
    sys.exit(1)
print("# %d snippets checked" % checked)
PYEOF
[ $rc -eq 0 ] || fail "doc snippets"

# deploy/d4hub.conf.example as shipped, next to a PKI: valid, on the defaults
mkdir -p "$T_DIR/example"
cp "$DOCS/../deploy/d4hub.conf.example" "$T_DIR/example/d4hub.conf"
ln -s "$T_PKI" "$T_DIR/example/pki"
OUT=$("$D4HUB" -n -c "$T_DIR/example/d4hub.conf" 2>&1) || fail "d4hub -n refuses the example: $OUT"
assert_contains "$OUT" "configuration OK" "the example"
assert_contains "$OUT" "D4 ingest:   127.0.0.1:4443 " "the example's ingest address"
assert_contains "$OUT" "REST API:    127.0.0.1:8443 " "the example's API address"
pass "$expected ini snippets of docs/ and deploy/d4hub.conf.example pass d4hub -n"
