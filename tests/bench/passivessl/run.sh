#!/usr/bin/env bash
# Passive-SSL extraction benchmark: ClientHellos/s on one core through
# d4-bench-tls (in-place pcap split, decode, TCP/TLS reassembly, ClientHello
# parse, JA3 + MD5, JA4) from a generated capture in the page cache
# (gen_hellos.py: SYN + ClientHello + RST per connection). Target: >= 200,000
# ClientHellos/s. The best of three runs, each reading the file REPEAT times.
# Then certificates/s parsed (d4_x509_parse) and stored (d4_store_pssl_apply,
# durable) through d4-bench-pssl-store over CERTS certificates it makes
# (RSA 2048/3072/4096, EC P-256/P-384 and Ed25519 keys, 0 to 40 SANs, chains
# of leaf + intermediate), applied in batches of BATCH handshakes, with the
# machine's own limits measured in the same run (fdatasync, SHA-1/SHA-256 on
# one core) and the load average. CONNECTIONS=0 or CERTS=0 skips a part.
#   tests/bench/passivessl/run.sh [BUILD_DIR] [CONNECTIONS] [REPEAT] [CERTS] [BATCH]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
BUILD=${1:-${BUILD_DIR:-$SRC/build}}
N=${2:-500000}
REPEAT=${3:-3}
CERTS=${4:-20000}
BATCH=${5:-1000}
BENCH=$BUILD/tests/bench/d4-bench-tls
[ "$N" = 0 ] || [ -x "$BENCH" ] || {
	echo "run.sh: $BENCH not built" >&2
	exit 2
}
DIR=$(mktemp -d /tmp/d4bench-tls.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
if [ "$N" != 0 ]; then
/usr/bin/python3 "$HERE/gen_hellos.py" "$DIR/in.pcap" "$N"
echo "# $N connections, $(stat -c %s "$DIR/in.pcap") bytes; load: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$DIR/in.pcap" >/dev/null
: >"$DIR/out"
for _ in 1 2 3; do
	taskset -c 0 "$BENCH" "$DIR/in.pcap" "$REPEAT" >>"$DIR/out"
done
cat "$DIR/out"
best=$(sort -k10 -g "$DIR/out" | tail -n 1)
hps=$(echo "$best" | sed -n 's/.* hps \([0-9]*\).*/\1/p')
cpu=$(sort -k14 -g "$DIR/out" | tail -n 1 | sed -n 's/.* cpu_hps \([0-9]*\).*/\1/p')
echo "ClientHellos/s (best of 3): $hps wall clock, $cpu per CPU second (target >= 200000)"
fi

[ "$CERTS" != 0 ] || exit 0
PSSL=$BUILD/tests/bench/d4-bench-pssl-store
[ -x "$PSSL" ] || {
	echo "run.sh: $PSSL not built" >&2
	exit 2
}
field() { echo "$1" | sed -n "s/.* $2 \([0-9.]*\).*/\1/p"; }
# the machine: durable small writes (one per commit) and streaming writes on
# the stores' filesystem, the digests a certificate's parse computes on one core
sync_out=$(dd if=/dev/zero of="$DIR/sync.test" bs=4k count=200 oflag=dsync 2>&1 | tail -n 1)
sync_s=$(echo "$sync_out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") print $(i - 1) }')
dd_out=$(dd if=/dev/zero of="$DIR/dd.test" bs=1M count=256 conv=fdatasync 2>&1 | tail -n 1)
dd_mbs=$(echo "$dd_out" | awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") print 268.435456 / $(i - 1) }')
rm -f "$DIR/sync.test" "$DIR/dd.test"
sha1_k=$(taskset -c 0 openssl speed -seconds 1 -bytes 1024 -evp sha1 2>/dev/null | awk '/^sha1/ { sub(/k$/, "", $NF); print $NF }')
sha256_k=$(taskset -c 0 openssl speed -seconds 1 -bytes 1024 -evp sha256 2>/dev/null | awk '/^sha256/ { sub(/k$/, "", $NF); print $NF }')
echo "# machine: $(awk "BEGIN { printf \"%.0f\", 200 / $sync_s }") synced 4 KiB writes/s (dd oflag=dsync), $(printf '%.0f' "$dd_mbs") MB/s write + fdatasync (dd, 256 MiB); one core: SHA-1 ${sha1_k} kB/s, SHA-256 ${sha256_k} kB/s over 1 KiB"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$DIR/pssl"
taskset -c 0 "$PSSL" "$DIR/pssl" "$CERTS" "$BATCH" 3 | tee "$DIR/pssl.out" | sed 's/^/# /'
load1=$(cut -d' ' -f1-3 /proc/loadavg)
g=$(grep '^generate' "$DIR/pssl.out")
p=$(grep '^parse' "$DIR/pssl.out")
st=$(grep '^store' "$DIR/pssl.out")
in=$(grep '^ingest' "$DIR/pssl.out")
ns=$(grep '^nosync' "$DIR/pssl.out")
rp=$(grep '^repeat' "$DIR/pssl.out")
echo "certificates: $(field "$g" certs) distinct, $(field "$st" keys) distinct keys used, $(field "$g" sans) DNS SANs, $(field "$g" der_bytes) bytes of DER (made in $(field "$g" seconds) s, not measured); load $load0 -> $load1"
echo "  parsed (d4_x509_parse):             $(field "$p" certs_per_s) certs/s wall, $(field "$p" certs_per_cpu_s) per CPU second"
echo "  stored (apply, durable, batch $BATCH): $(field "$st" certs_per_s) certs/s wall, $(field "$st" certs_per_cpu_s) per CPU second ($(field "$st" commits) commits, $(field "$st" bytes_per_cert) store bytes per certificate with its handshake)"
echo "  consumer (known? parse new, apply):   $(field "$in" certs_per_s) certs/s wall, $(field "$in" certs_per_cpu_s) per CPU second"
echo "  stored without fsync:                 $(field "$ns" certs_per_s) certs/s wall, $(field "$ns" certs_per_cpu_s) per CPU second"
echo "  known again (no DER, merge):          $(field "$rp" certs_per_s) certs/s wall, $(field "$rp" certs_per_cpu_s) per CPU second"
