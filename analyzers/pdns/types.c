/* rrtype mnemonics: the IANA "Resource Record (RR) TYPEs" registry entries
 * that have a mnemonic (data types, meta/query types and the private-use
 * TA/DLV), and the RFC 3597 "TYPEnnn" form for every other value. */
#include "d4_error.h"
#include "d4_pdns.h"

#include <stdio.h>
#include <string.h>

struct type_ent {
	uint16_t type;
	const char *name;
};

/* Sorted by type: the lookup by number is a binary search. */
static const struct type_ent types[] = {
    {1, "A"},	     {2, "NS"},	     {3, "MD"},		 {4, "MF"},	{5, "CNAME"},	   {6, "SOA"},
    {7, "MB"},	     {8, "MG"},	     {9, "MR"},		 {10, "NULL"},	{11, "WKS"},	   {12, "PTR"},
    {13, "HINFO"},   {14, "MINFO"},  {15, "MX"},	 {16, "TXT"},	{17, "RP"},	   {18, "AFSDB"},
    {19, "X25"},     {20, "ISDN"},   {21, "RT"},	 {22, "NSAP"},	{23, "NSAP-PTR"},  {24, "SIG"},
    {25, "KEY"},     {26, "PX"},     {27, "GPOS"},	 {28, "AAAA"},	{29, "LOC"},	   {30, "NXT"},
    {31, "EID"},     {32, "NIMLOC"}, {33, "SRV"},	 {34, "ATMA"},	{35, "NAPTR"},	   {36, "KX"},
    {37, "CERT"},    {38, "A6"},     {39, "DNAME"},	 {40, "SINK"},	{41, "OPT"},	   {42, "APL"},
    {43, "DS"},	     {44, "SSHFP"},  {45, "IPSECKEY"},	 {46, "RRSIG"}, {47, "NSEC"},	   {48, "DNSKEY"},
    {49, "DHCID"},   {50, "NSEC3"},  {51, "NSEC3PARAM"}, {52, "TLSA"},	{53, "SMIMEA"},	   {55, "HIP"},
    {56, "NINFO"},   {57, "RKEY"},   {58, "TALINK"},	 {59, "CDS"},	{60, "CDNSKEY"},   {61, "OPENPGPKEY"},
    {62, "CSYNC"},   {63, "ZONEMD"}, {64, "SVCB"},	 {65, "HTTPS"}, {66, "DSYNC"},	   {67, "HHIT"},
    {68, "BRID"},    {99, "SPF"},    {100, "UINFO"},	 {101, "UID"},	{102, "GID"},	   {103, "UNSPEC"},
    {104, "NID"},    {105, "L32"},   {106, "L64"},	 {107, "LP"},	{108, "EUI48"},	   {109, "EUI64"},
    {128, "NXNAME"}, {249, "TKEY"},  {250, "TSIG"},	 {251, "IXFR"}, {252, "AXFR"},	   {253, "MAILB"},
    {254, "MAILA"},  {255, "ANY"}, /* IANA writes "*"; "ANY" is what every tool prints. Both parse. */
    {256, "URI"},    {257, "CAA"},   {258, "AVC"},	 {259, "DOA"},	{260, "AMTRELAY"}, {261, "RESINFO"},
    {262, "WALLET"}, {263, "CLA"},   {264, "IPN"},	 {32768, "TA"}, {32769, "DLV"},
};

#define NTYPES (sizeof(types) / sizeof(types[0]))

const char *d4_pdns_type_name(uint16_t type, char *buf, size_t cap)
{
	size_t lo = 0, hi = NTYPES;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (types[mid].type == type)
			return types[mid].name;
		if (types[mid].type < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!buf || cap == 0)
		return "TYPE?";
	snprintf(buf, cap, "TYPE%u", (unsigned)type);
	return buf;
}

/* Decimal 0..65535 with no sign, no leading blanks, at most 5 digits. */
static int parse_u16(const char *s, size_t n, uint16_t *out)
{
	if (n == 0 || n > 5)
		return D4_EINVAL;
	uint32_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return D4_EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535)
		return D4_EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 32 : c;
}

int d4_pdns_type_parse(const char *s, size_t n, uint16_t *out)
{
	if (!s || !out || n == 0 || n > 16)
		return D4_EINVAL;
	if (s[0] >= '0' && s[0] <= '9')
		return parse_u16(s, n, out);
	if (n == 1 && s[0] == '*') {
		*out = 255;
		return 0;
	}
	if (n > 4 && upper(s[0]) == 'T' && upper(s[1]) == 'Y' && upper(s[2]) == 'P' && upper(s[3]) == 'E' &&
	    s[4] >= '0' && s[4] <= '9')
		return parse_u16(s + 4, n - 4, out);
	for (size_t i = 0; i < NTYPES; i++) {
		const char *m = types[i].name;
		size_t k = 0;
		while (k < n && m[k] && upper((unsigned char)s[k]) == m[k])
			k++;
		if (k == n && m[k] == '\0') {
			*out = types[i].type;
			return 0;
		}
	}
	return D4_EINVAL;
}
