/* JA3, JA3S (Salesforce, BSD-3-Clause) and JA4 (FoxIO, BSD-3-Clause
 * specification) from parsed hellos. The definitions followed, and where the
 * JA4 implementations disagree with their specification, are written down
 * in docs/passivessl.md. */
#include "d4_tls.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "d4_error.h"
#include "d4_util.h"
#include "tls_internal.h"

/* ---- bounded string builder with a sticky overflow ---- */

struct sb {
	char *b;
	size_t cap, len;
	int over;
};

static void sb_putc(struct sb *s, char c)
{
	if (s->len + 1 < s->cap)
		s->b[s->len++] = c;
	else
		s->over = 1;
}

static void sb_puts(struct sb *s, const char *p)
{
	while (*p)
		sb_putc(s, *p++);
}

static void sb_dec(struct sb *s, unsigned v)
{
	char t[12];
	int i = 0;
	do {
		t[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		sb_putc(s, t[--i]);
}

static const char hexd[] = "0123456789abcdef";

static void sb_hex4(struct sb *s, uint16_t v)
{
	sb_putc(s, hexd[v >> 12]);
	sb_putc(s, hexd[(v >> 8) & 15]);
	sb_putc(s, hexd[(v >> 4) & 15]);
	sb_putc(s, hexd[v & 15]);
}

static int sb_end(struct sb *s)
{
	if (s->cap == 0)
		return D4_ETOOBIG;
	s->b[s->len] = 0;
	return s->over ? D4_ETOOBIG : (int)s->len;
}

/* Decimal list joined by '-', GREASE values skipped when grease is set. */
static void sb_dec_list(struct sb *s, const uint16_t *a, size_t n, int grease)
{
	int first = 1;
	for (size_t i = 0; i < n; i++) {
		if (grease && d4_tls_is_grease(a[i]))
			continue;
		if (!first)
			sb_putc(s, '-');
		sb_dec(s, a[i]);
		first = 0;
	}
}

int d4_tls_ja3(const struct d4_tls_client_hello *ch, char *buf, size_t cap)
{
	struct sb s = {buf, cap, 0, 0};
	sb_dec(&s, ch->version);
	sb_putc(&s, ',');
	sb_dec_list(&s, ch->ciphers, ch->n_ciphers, 1);
	sb_putc(&s, ',');
	sb_dec_list(&s, ch->exts, ch->n_exts, 1);
	sb_putc(&s, ',');
	sb_dec_list(&s, ch->groups, ch->n_groups, 1);
	sb_putc(&s, ',');
	for (unsigned i = 0; i < ch->n_ecpf; i++) {
		if (i)
			sb_putc(&s, '-');
		sb_dec(&s, ch->ecpf[i]);
	}
	return sb_end(&s);
}

int d4_tls_ja3s(const struct d4_tls_server_hello *sh, char *buf, size_t cap)
{
	struct sb s = {buf, cap, 0, 0};
	sb_dec(&s, sh->version);
	sb_putc(&s, ',');
	sb_dec(&s, sh->cipher);
	sb_putc(&s, ',');
	sb_dec_list(&s, sh->exts, sh->n_exts, 1);
	return sb_end(&s);
}

/* The digests are fetched once: an implicit fetch per call (EVP_md5())
 * takes a lock and a lookup each time, a third of the cost of a ClientHello. */
static EVP_MD *md_md5, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int digest_hex(const EVP_MD *md, const void *p, size_t n, char *out, size_t nhex)
{
	if (!md)
		return D4_ENOMEM;
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	if (!EVP_Digest(p, n, h, &hl, md, NULL))
		return D4_ENOMEM;
	for (size_t i = 0; i < nhex; i++)
		out[i] = hexd[(h[i / 2] >> (i & 1 ? 0 : 4)) & 15];
	out[nhex] = 0;
	return 0;
}

int d4_tls_md5_hex(const char *s, size_t n, char out[33])
{
	pthread_once(&md_once, md_fetch);
	return digest_hex(md_md5, s, n, out, 32);
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return (x > y) - (x < y);
}

static int alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The two JA4 ALPN characters of the first protocol name. */
static void ja4_alpn(const struct d4_tls_client_hello *ch, char out[2])
{
	out[0] = out[1] = '0';
	if (!ch->alpn || ch->alpn_len < 1)
		return;
	size_t l = ch->alpn[0];
	if (l == 0 || l + 1 > ch->alpn_len)
		return;
	const uint8_t *a = ch->alpn + 1;
	uint8_t f = a[0], z = a[l - 1];
	if (alnum(f) && alnum(z)) {
		out[0] = (char)f;
		out[1] = (char)z;
	} else {
		/* the specification: first and last characters of the value in hex */
		out[0] = hexd[f >> 4];
		out[1] = hexd[z & 15];
	}
}

static const char *ja4_version(uint16_t v)
{
	switch (v) {
	case 0x0304: return "13";
	case 0x0303: return "12";
	case 0x0302: return "11";
	case 0x0301: return "10";
	case 0x0300: return "s3";
	case 0x0200: return "s2";
	case 0x0100: return "s1";
	default: return "00";
	}
}

int d4_tls_ja4(const struct d4_tls_client_hello *ch, char out[D4_TLS_JA4_LEN + 1], char *raw, size_t rawcap)
{
	uint16_t c[D4_TLS_LIST_MAX], e[D4_TLS_LIST_MAX];
	size_t nc = 0, ne = 0, ne_all = 0;
	for (unsigned i = 0; i < ch->n_ciphers; i++)
		if (!d4_tls_is_grease(ch->ciphers[i]))
			c[nc++] = ch->ciphers[i];
	for (unsigned i = 0; i < ch->n_exts; i++) {
		uint16_t x = ch->exts[i];
		if (d4_tls_is_grease(x))
			continue;
		ne_all++;
		if (x != 0x0000 && x != 0x0010)
			e[ne++] = x;
	}
	qsort(c, nc, sizeof(c[0]), cmp_u16);
	qsort(e, ne, sizeof(e[0]), cmp_u16);

	uint16_t ver = ch->version;
	if (ch->n_versions) {
		uint16_t best = 0;
		for (unsigned i = 0; i < ch->n_versions; i++)
			if (!d4_tls_is_grease(ch->versions[i]) && ch->versions[i] > best)
				best = ch->versions[i];
		if (best)
			ver = best;
	}
	char a[11];
	const char *vs = ja4_version(ver);
	a[0] = 't';
	a[1] = vs[0];
	a[2] = vs[1];
	a[3] = ch->has_sni ? 'd' : 'i';
	size_t ncc = nc > 99 ? 99 : nc, nec = ne_all > 99 ? 99 : ne_all;
	a[4] = (char)('0' + ncc / 10);
	a[5] = (char)('0' + ncc % 10);
	a[6] = (char)('0' + nec / 10);
	a[7] = (char)('0' + nec % 10);
	ja4_alpn(ch, a + 8);
	a[10] = 0;

	/* The cipher list and the extension list (+ signature algorithms) as
	 * hashed; each fits a fixed buffer: 5 bytes per value. */
	char cs[D4_TLS_LIST_MAX * 5 + 1], es[D4_TLS_LIST_MAX * 10 + 2];
	struct sb s1 = {cs, sizeof(cs), 0, 0}, s2 = {es, sizeof(es), 0, 0};
	for (size_t i = 0; i < nc; i++) {
		if (i)
			sb_putc(&s1, ',');
		sb_hex4(&s1, c[i]);
	}
	sb_end(&s1);
	for (size_t i = 0; i < ne; i++) {
		if (i)
			sb_putc(&s2, ',');
		sb_hex4(&s2, e[i]);
	}
	int first = 1;
	for (unsigned i = 0; i < ch->n_sigalgs; i++) {
		if (d4_tls_is_grease(ch->sigalgs[i]))
			continue;
		sb_putc(&s2, first ? '_' : ',');
		sb_hex4(&s2, ch->sigalgs[i]);
		first = 0;
	}
	sb_end(&s2);

	memcpy(out, a, 10);
	out[10] = '_';
	int rc;
	pthread_once(&md_once, md_fetch);
	if (nc == 0)
		memcpy(out + 11, "000000000000", 13);
	else if ((rc = digest_hex(md_sha256, cs, s1.len, out + 11, 12)) < 0)
		return rc;
	out[23] = '_';
	if (s2.len == 0)
		memcpy(out + 24, "000000000000", 13);
	else if ((rc = digest_hex(md_sha256, es, s2.len, out + 24, 12)) < 0)
		return rc;

	if (raw) {
		struct sb r = {raw, rawcap, 0, 0};
		sb_puts(&r, a);
		sb_putc(&r, '_');
		sb_puts(&r, cs);
		sb_putc(&r, '_');
		sb_puts(&r, es);
		rc = sb_end(&r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int tls_sha256(const void *p, size_t n, uint8_t out[32])
{
	pthread_once(&md_once, md_fetch);
	unsigned int hl = 0;
	if (!md_sha256 || !EVP_Digest(p, n, out, &hl, md_sha256, NULL) || hl != 32)
		return D4_ENOMEM;
	return 0;
}
