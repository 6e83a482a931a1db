#!/usr/bin/env bash
# The pDNS bench feed (d4-bench-pdns-gen): the same seed gives the same bytes and another seed other
# bytes; the shape the bench relies on is there (every record type, mixed-case owners, count > 1, an
# address shared by > 200 names, a name with > 200 addresses); and every line is one the hub's
# ingest accepts, merging into exactly the distinct tuples the generator counts.
source "$(dirname "$0")/../lib.sh"
: "${PDNS_GEN:?}" "${PDNS_TOOL:?}"
D=$T_DIR

"$PDNS_GEN" -n 200000 -s 7 -o "$D/a.csv" 2>"$D/a.stat" || fail "generator failed"
"$PDNS_GEN" -n 200000 -s 7 -q -o "$D/b.csv" || fail "generator failed"
"$PDNS_GEN" -n 200000 -s 8 -q -o "$D/c.csv" || fail "generator failed"
cmp -s "$D/a.csv" "$D/b.csv" || fail "seed 7 twice gave different feeds"
cmp -s "$D/a.csv" "$D/c.csv" && fail "seeds 7 and 8 gave the same feed"
assert_eq "$(wc -l <"$D/a.csv")" 200000 "lines"
log "$(head -n 1 "$D/a.stat")"

for t in A AAAA CNAME NS MX TXT SOA SRV; do
	n=$(awk -F'[|][|]' -v t="$t" '$6 == t' "$D/a.csv" | wc -l)
	assert_ge "$n" 1 "lines of type $t"
done
assert_ge "$(awk -F'[|][|]' '$5 ~ /[A-Z]/' "$D/a.csv" | wc -l)" 1000 "mixed-case owners"
assert_ge "$(awk -F'[|][|]' '$9 > 1' "$D/a.csv" | wc -l)" 1000 "lines with count > 1"
names_per_ip=$(awk -F'[|][|]' '$6 == "A" { print $7, tolower($5) }' "$D/a.csv" | sort -u | cut -d' ' -f1 |
	uniq -c | sort -n | tail -n 1 | awk '{ print $1 }')
assert_ge "$names_per_ip" 201 "names of the most shared address"
ips_per_name=$(awk -F'[|][|]' '$6 == "A" { print tolower($5), $7 }' "$D/a.csv" | sort -u | cut -d' ' -f1 |
	uniq -c | sort -n | tail -n 1 | awk '{ print $1 }')
assert_ge "$ips_per_name" 201 "addresses of the largest round-robin name"

# the hub's ingest: 30,000 lines through the pDNS consumer into a store
"$PDNS_GEN" -n 30000 -s 3 -o "$D/s.csv" 2>"$D/s.stat" || fail "generator failed"
distinct=$(sed -n 's/.*distinct_tuples \([0-9]*\).*/\1/p' "$D/s.stat")
assert_ge "$distinct" 1 "distinct tuples counted"
"$PDNS_TOOL" load "$D/store" "$D/s.csv" 8 65536 >/dev/null || fail "load failed"
"$PDNS_TOOL" drain "$D/store" >/dev/null || fail "drain failed"
info=$("$PDNS_TOOL" info "$D/store") || fail "info failed"
log "store: $info"
assert_eq "$(echo "$info" | sed -n 's/.*observations \([0-9]*\).*/\1/p')" 30000 "observations"
assert_eq "$(echo "$info" | sed -n 's/.*bad_lines \([0-9]*\).*/\1/p')" 0 "bad lines"
assert_eq "$(echo "$info" | sed -n 's/^tuples \([0-9]*\).*/\1/p')" "$distinct" "tuples in the store"
assert_eq "$("$PDNS_TOOL" query "$D/store" left . | wc -l)" "$distinct" "tuples queried back"
pass
