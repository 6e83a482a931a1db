#!/usr/bin/env bash
# d4-tls on real handshakes: openssl s_server (an RSA and an EC certificate
# made here) answers openssl s_client and curl on 127.0.0.1 (TLS 1.2 and 1.3,
# with and without SNI and ALPN), captured by tcpdump on lo. Every handshake
# is found exactly once, and its JA3, JA3S, SNI and certificate SHA-1 agree
# with tshark's own fields for the same capture; JA4 (which Debian 12's
# tshark lacks) is computed independently from tshark's raw fields, and the
# certificate SHA-1 also from the certificate files. Capturing needs root or
# CAP_NET_RAW: without it (or without tshark) the test is skipped (77).
#   tls_capture.sh            capture and check
#   tls_capture.sh FILE.pcap  check a capture made by this script earlier
#                             (tests/data/tls/openssl-lo.pcap): no privilege needed
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

: "${D4TLS:?D4TLS not set}"
FIXTURE=${1:+$(realpath "$1")}
TOOLS="tcpdump tshark openssl curl"
[ -n "$FIXTURE" ] && TOOLS=tshark
for tool in $TOOLS; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "SKIP: $tool not installed (deploy/bootstrap.sh installs it)"
		exit 77
	}
done
if [ -z "$FIXTURE" ] && [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: capturing on lo needs root"
	exit 77
fi

W=$T_DIR/tls
mkdir -p "$W"
cd "$W" || fail "cd $W"
N=6
if [ -n "$FIXTURE" ]; then
	cp "$FIXTURE" cap.pcap
	CERTS=()
else
	openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt -days 2 -subj /CN=rsa.test \
		-addext subjectAltName=DNS:rsa.test 2>/dev/null || fail "RSA certificate"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ec.key -out ec.crt -days 2 \
		-subj /CN=ec.test -addext subjectAltName=DNS:ec.test 2>/dev/null || fail "EC certificate"

	P1=$(free_port 127.0.0.1)
	P2=$(free_port 127.0.0.1)
	while [ "$P2" = "$P1" ]; do P2=$(free_port 127.0.0.1); done

	tcpdump -i lo -U -n -w cap.pcap "tcp and host 127.0.0.1 and (port $P1 or port $P2)" 2>tcpdump.err &
	TCPDUMP=$!
	T_BG+=("$TCPDUMP")
	wait_for 20 "tcpdump listening" grep -q "listening on" tcpdump.err

	openssl s_server -accept "127.0.0.1:$P1" -cert rsa.crt -key rsa.key -alpn h2,http/1.1 -www >s1.log 2>&1 &
	S1=$!
	T_BG+=("$S1")
	openssl s_server -accept "127.0.0.1:$P2" -cert ec.crt -key ec.key -alpn http/1.1 -www >s2.log 2>&1 &
	S2=$!
	T_BG+=("$S2")
	# listening, and ours (not another program that took the port first)
	up() { kill -0 "$2" && (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && kill -0 "$2"; }
	wait_for 20 "s_server on $P1" up "$P1" "$S1"
	wait_for 20 "s_server on $P2" up "$P2" "$S2"

	# the two readiness probes above are TCP connections without TLS: not handshakes
	cl() { timeout 20 openssl s_client -connect "127.0.0.1:$1" "${@:2}" </dev/null >>clients.log 2>&1 || fail "s_client ${*:2}"; }
	cl "$P1" -tls1_2 -servername rsa.test -alpn h2,http/1.1
	cl "$P1" -tls1_3 -servername rsa.test -alpn http/1.1
	cl "$P2" -tls1_2
	cl "$P2" -tls1_3 -servername ec.test
	curl -sk --max-time 20 --http1.1 --tlsv1.2 --tls-max 1.2 --resolve "ec.test:$P2:127.0.0.1" "https://ec.test:$P2/" -o /dev/null ||
		fail "curl TLS 1.2"
	curl -sk --max-time 20 --http1.1 --tlsv1.3 --resolve "rsa.test:$P1:127.0.0.1" "https://rsa.test:$P1/" -o /dev/null || fail "curl TLS 1.3"

	# until every ServerHello is in the file (tcpdump -U writes packet by packet)
	# tshark dissects a port it knows as another protocol's (about 1 % of the
	# ports free_port picks: 11211 memcache, 30000-30099 mrcpv2, ...) as that
	# protocol: the servers' ports are decoded as TLS, whatever they are
	DA=(-d "tcp.port==$P1,tls" -d "tcp.port==$P2,tls")
	server_hellos() { [ "$(tshark -r cap.pcap "${DA[@]}" -Y 'tls.handshake.type == 2' 2>/dev/null | wc -l)" -ge "$N" ]; }
	wait_for 30 "$N ServerHellos captured" server_hellos
	# and both FINs of every connection that carried a handshake (the clients
	# have exited: their packets only have to reach the file)
	fins() {
		tshark -r cap.pcap "${DA[@]}" -Y 'tls.handshake.type == 1 or tcp.flags.fin == 1' -T fields -e tcp.stream \
			-e tcp.flags.fin -e tcp.srcport 2>/dev/null | "$PY" -c '
import sys
hs, fin = set(), {}
for l in sys.stdin:
    s, f, p = l.split()
    if f in ("1", "True"):
        fin.setdefault(s, set()).add(p)
    else:
        hs.add(s)
sys.exit(0 if len(hs) == int(sys.argv[1]) and all(len(fin.get(s, ())) == 2 for s in hs) else 1)' "$N"
	}
	wait_for 30 "both FINs of the $N connections captured" fins
	kill -INT "$TCPDUMP"
	wait "$TCPDUMP" 2>/dev/null || true
	CERTS=(rsa.crt ec.crt)
fi

# the servers' ports (from their SYN+ACKs) decoded as TLS, as above
DA=()
for p in $(tshark -r cap.pcap -Y 'tcp.flags.syn == 1 and tcp.flags.ack == 1' -T fields -e tcp.srcport 2>/dev/null | sort -u); do
	DA+=(-d "tcp.port==$p,tls")
done
[ ${#DA[@]} -eq 4 ] || fail "the capture holds $((${#DA[@]} / 2)) server ports, expected 2"
"$D4TLS" cap.pcap >d4tls.jsonl 2>d4tls.err || fail "d4-tls: $(cat d4tls.err)"
log "$(cat d4tls.err)"
tshark -r cap.pcap "${DA[@]}" -Y 'tls.handshake.type == 1' -T fields -E separator='|' -E aggregator=, \
	-e tcp.srcport -e tls.handshake.ja3_full -e tls.handshake.ja3 -e tls.handshake.extensions_server_name \
	-e tls.handshake.ciphersuite -e tls.handshake.extension.type -e tls.handshake.sig_hash_alg \
	-e tls.handshake.extensions.supported_version -e tls.handshake.extensions_alpn_str -e tls.handshake.version \
	>ch.txt 2>/dev/null
tshark -r cap.pcap "${DA[@]}" -Y 'tls.handshake.type == 2' -T fields -E separator='|' -E aggregator=, \
	-e tcp.dstport -e tls.handshake.ja3s_full -e tls.handshake.ja3s >sh.txt 2>/dev/null
tshark -r cap.pcap "${DA[@]}" -Y 'tls.handshake.certificate' -T fields -E separator='|' -E aggregator=, \
	-e tcp.dstport -e tls.handshake.certificate >cert.txt 2>/dev/null

"$PY" - "$N" "${CERTS[@]}" <<'PYEOF' || fail "d4-tls disagrees with tshark"
import base64, hashlib, json, ssl, sys
n = int(sys.argv[1])
files = {}
for f in sys.argv[2:]:
    der = ssl.PEM_cert_to_DER_cert(open(f).read())
    files[f] = hashlib.sha1(der).hexdigest()
got = [json.loads(l) for l in open("d4tls.jsonl")]
if len(got) != n:
    sys.exit("%d handshakes reported, %d made" % (len(got), n))
by_port = {}
for h in got:
    if h["client_port"] in by_port:
        sys.exit("client port %d reported twice" % h["client_port"])
    by_port[h["client_port"]] = h

def rows(path):
    return [l.rstrip("\n").split("|") for l in open(path) if l.strip()]

def grease(v):
    return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)

def ja4(r):
    # independent of the library: from tshark's raw fields (FoxIO JA4 specification)
    ciphers = [int(x, 0) for x in r[4].split(",") if x]
    exts = [int(x) for x in r[5].split(",") if x]
    sig = [int(x, 0) for x in r[6].split(",") if x]
    vers = [int(x, 0) for x in r[7].split(",") if x]
    alpn = r[8].split(",")[0] if r[8] else ""
    ciphers = [c for c in ciphers if not grease(c)]
    exts = [e for e in exts if not grease(e)]
    vs = [v for v in vers if not grease(v)]
    ver = max(vs) if vs else int(r[9], 0)
    vt = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}.get(ver, "00")
    a = "t" + vt + ("d" if 0 in exts else "i") + "%02d%02d" % (min(len(ciphers), 99), min(len(exts), 99))
    a += (alpn[0] + alpn[-1]) if alpn else "00"
    cs = ",".join(sorted("%04x" % c for c in ciphers))
    es = ",".join(sorted("%04x" % e for e in exts if e not in (0, 16)))
    sg = [s for s in sig if not grease(s)]
    if sg:
        es += "_" + ",".join("%04x" % s for s in sg)
    h = lambda s: hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"
    return a + "_" + h(cs) + "_" + h(es)

chs = rows("ch.txt")
if len(chs) != n:
    sys.exit("tshark saw %d ClientHellos" % len(chs))
for r in chs:
    h = by_port.get(int(r[0]))
    if h is None:
        sys.exit("no report for client port " + r[0])
    if h.get("ja3") != r[1] or h.get("ja3_md5") != r[2]:
        sys.exit("port %s: ja3 %s/%s, tshark %s/%s" % (r[0], h.get("ja3"), h.get("ja3_md5"), r[1], r[2]))
    if h.get("sni", "") != r[3]:
        sys.exit("port %s: sni %r, tshark %r" % (r[0], h.get("sni"), r[3]))
    if h.get("ja4") != ja4(r):
        sys.exit("port %s: ja4 %s, computed %s" % (r[0], h.get("ja4"), ja4(r)))
shs = rows("sh.txt")
if len(shs) != n:
    sys.exit("tshark saw %d ServerHellos" % len(shs))
tls13 = 0
for r in shs:
    h = by_port[int(r[0])]
    if h.get("ja3s") != r[1] or h.get("ja3s_md5") != r[2]:
        sys.exit("port %s: ja3s %s/%s, tshark %s/%s" % (r[0], h.get("ja3s"), h.get("ja3s_md5"), r[1], r[2]))
    if h.get("server_version") == 772:
        tls13 += 1
        if h["certificates"] or "tls13" not in h["flags"]:
            sys.exit("port %s: TLS 1.3 with certificates or without its flag" % r[0])
certs = rows("cert.txt")
if len(certs) != n - tls13 or tls13 != 3:
    sys.exit("%d TLS 1.3 handshakes, %d certificate messages" % (tls13, len(certs)))
seen = set()
for r in certs:
    h = by_port[int(r[0])]
    want = [hashlib.sha1(bytes.fromhex(c.replace(":", ""))).hexdigest() for c in r[1].split(",")]
    mine = [hashlib.sha1(base64.b64decode(c)).hexdigest() for c in h["certificates"]]
    if mine != want:
        sys.exit("port %s: certificates %s, tshark %s" % (r[0], mine, want))
    if files and mine[0] not in files.values():
        sys.exit("port %s: %s is not a certificate of this test" % (r[0], mine[0]))
    seen.add(mine[0])
if len(seen) != 2 or (files and seen != set(files.values())):
    sys.exit("both certificates not seen: %s" % seen)
for h in got:
    if h["end"] not in ("done", "closed") or "gap" in h["flags"]:
        sys.exit("unexpected end/flags: %s %s" % (h["end"], h["flags"]))
print("# %d handshakes: ja3/ja3s/sni/certificates agree with tshark, ja4 with the independent computation" % n)
PYEOF
pass "JA3, JA3S, JA4, SNI and certificate SHA-1 of $N real handshakes"
