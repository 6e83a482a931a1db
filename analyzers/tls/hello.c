/* ClientHello, ServerHello and Certificate parsers. Each reads through the
 * bounded reader: nested blocks (cipher list, extension block, each
 * extension) get a sub-reader over exactly their declared length, so a
 * length that does not add up is caught where it is declared. */
#include "d4_tls.h"

#include <string.h>

#include "d4_error.h"
#include "d4_reader.h"
#include "tls_internal.h"

/* A sub-reader over the next n bytes of r (empty and r failed if short). */
static void sub(struct d4_reader *r, size_t n, struct d4_reader *s)
{
	const uint8_t *p = d4_rd_ptr(r, n);
	d4_rd_init(s, p ? p : (const uint8_t *)"", p ? n : 0);
	if (!p)
		s->err = D4_ETRUNC;
}

/* Reads a vector of u16 of byte length `len` (must be even) into a[], at
 * most max kept; returns the count kept, sets *clipped when cut. */
static uint16_t read_u16_list(struct d4_reader *r, size_t len, uint16_t *a, size_t max, uint32_t *flags)
{
	if (len & 1) {
		d4_rd_fail(r, D4_EPROTO);
		return 0;
	}
	uint16_t k = 0;
	for (size_t i = 0; i < len / 2; i++) {
		uint16_t v = d4_rd_u16be(r);
		if (k < max)
			a[k++] = v;
		else
			*flags |= D4_TLS_F_CLIPPED;
	}
	return k;
}

/* One ClientHello extension's data (sub-reader e over exactly its length). */
static void ch_ext(struct d4_tls_client_hello *ch, uint16_t type, struct d4_reader *e)
{
	switch (type) {
	case 0: { /* server_name: list of (type, u16 len, name); the first host_name */
		if (d4_rd_left(e) == 0)
			return; /* a server's empty echo; not in a ClientHello, but harmless */
		struct d4_reader l;
		sub(e, d4_rd_u16be(e), &l);
		while (!l.err && d4_rd_left(&l) > 0) {
			uint8_t nt = d4_rd_u8(&l);
			size_t nl = d4_rd_u16be(&l);
			const uint8_t *name = d4_rd_ptr(&l, nl);
			if (name && nt == 0 && !ch->sni) {
				ch->sni = name;
				ch->sni_len = nl;
			}
		}
		if (l.err)
			d4_rd_fail(e, l.err);
		break;
	}
	case 10: { /* supported_groups */
		size_t len = d4_rd_u16be(e);
		ch->n_groups = read_u16_list(e, len, ch->groups, D4_TLS_LIST_MAX, &ch->flags);
		break;
	}
	case 11: { /* ec_point_formats */
		size_t len = d4_rd_u8(e);
		for (size_t i = 0; i < len; i++) {
			uint8_t v = d4_rd_u8(e);
			if (ch->n_ecpf < D4_TLS_ECPF_MAX)
				ch->ecpf[ch->n_ecpf++] = v;
			else
				ch->flags |= D4_TLS_F_CLIPPED;
		}
		break;
	}
	case 13: { /* signature_algorithms */
		size_t len = d4_rd_u16be(e);
		ch->n_sigalgs = read_u16_list(e, len, ch->sigalgs, D4_TLS_LIST_MAX, &ch->flags);
		break;
	}
	case 16: { /* ALPN: u16 list length, then (u8 len, name)* */
		size_t len = d4_rd_u16be(e);
		const uint8_t *p = d4_rd_ptr(e, len);
		if (!p)
			return;
		/* every entry must fit exactly */
		struct d4_reader l;
		d4_rd_init(&l, p, len);
		while (!l.err && d4_rd_left(&l) > 0)
			d4_rd_skip(&l, d4_rd_u8(&l));
		if (l.err) {
			d4_rd_fail(e, D4_EPROTO);
			return;
		}
		ch->alpn = p;
		ch->alpn_len = len;
		break;
	}
	case 43: { /* supported_versions (client form: u8 length) */
		size_t len = d4_rd_u8(e);
		ch->n_versions = read_u16_list(e, len, ch->versions, D4_TLS_LIST_MAX, &ch->flags);
		break;
	}
	default: d4_rd_skip(e, d4_rd_left(e)); return;
	}
}

int d4_tls_client_hello_parse(const uint8_t *body, size_t n, struct d4_tls_client_hello *ch)
{
	struct d4_reader r;
	d4_rd_init(&r, body, n);
	/* only the scalar head is cleared: the lists are valid up to their counts */
	ch->n_ciphers = ch->n_exts = ch->n_groups = ch->n_sigalgs = ch->n_versions = 0;
	ch->n_ecpf = 0;
	ch->has_sni = ch->has_alpn = 0;
	ch->flags = 0;
	ch->sni = ch->alpn = NULL;
	ch->sni_len = ch->alpn_len = 0;

	ch->version = d4_rd_u16be(&r);
	d4_rd_skip(&r, 32);	      /* random */
	d4_rd_skip(&r, d4_rd_u8(&r)); /* session id */
	size_t clen = d4_rd_u16be(&r);
	struct d4_reader c;
	sub(&r, clen, &c);
	ch->n_ciphers = read_u16_list(&c, clen, ch->ciphers, D4_TLS_LIST_MAX, &ch->flags);
	if (c.err)
		return c.err;
	d4_rd_skip(&r, d4_rd_u8(&r)); /* compression methods */
	if (r.err)
		return r.err;
	if (d4_rd_left(&r) == 0)
		return 0; /* no extension block (SSL 3.0 style) */
	struct d4_reader x;
	sub(&r, d4_rd_u16be(&r), &x);
	while (!x.err && d4_rd_left(&x) > 0) {
		uint16_t type = d4_rd_u16be(&x);
		struct d4_reader e;
		sub(&x, d4_rd_u16be(&x), &e);
		if (x.err)
			break;
		if (ch->n_exts < D4_TLS_LIST_MAX)
			ch->exts[ch->n_exts++] = type;
		else
			ch->flags |= D4_TLS_F_CLIPPED;
		if (type == 0)
			ch->has_sni = 1;
		else if (type == 16)
			ch->has_alpn = 1;
		ch_ext(ch, type, &e);
		if (e.err)
			return e.err == D4_ETRUNC ? D4_EPROTO : e.err; /* inside a complete extension */
		if (d4_rd_left(&e) != 0)
			return D4_EPROTO;
	}
	if (x.err)
		return x.err;
	/* bytes after the extension block are tolerated (ignored), as by TLS stacks */
	return 0;
}

/* The random of a HelloRetryRequest (RFC 8446 4.1.3): SHA-256("HelloRetryRequest"). */
static const uint8_t hrr_random[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
				       0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
				       0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

int d4_tls_server_hello_parse(const uint8_t *body, size_t n, struct d4_tls_server_hello *sh)
{
	struct d4_reader r;
	d4_rd_init(&r, body, n);
	sh->n_exts = 0;
	sh->flags = 0;
	sh->selected_version = 0;
	sh->alpn = NULL;
	sh->alpn_len = 0;

	sh->version = d4_rd_u16be(&r);
	const uint8_t *rnd = d4_rd_ptr(&r, 32);
	if (rnd && memcmp(rnd, hrr_random, 32) == 0)
		sh->flags |= D4_TLS_F_HRR;
	d4_rd_skip(&r, d4_rd_u8(&r)); /* session id */
	sh->cipher = d4_rd_u16be(&r);
	d4_rd_skip(&r, 1); /* compression method */
	if (r.err)
		return r.err;
	if (d4_rd_left(&r) == 0)
		return 0;
	struct d4_reader x;
	sub(&r, d4_rd_u16be(&r), &x);
	while (!x.err && d4_rd_left(&x) > 0) {
		uint16_t type = d4_rd_u16be(&x);
		struct d4_reader e;
		sub(&x, d4_rd_u16be(&x), &e);
		if (x.err)
			break;
		if (sh->n_exts < D4_TLS_LIST_MAX)
			sh->exts[sh->n_exts++] = type;
		else
			sh->flags |= D4_TLS_F_CLIPPED;
		if (type == 43) {
			sh->selected_version = d4_rd_u16be(&e);
		} else if (type == 16) {
			/* the selected protocol: a list of exactly one name */
			size_t len = d4_rd_u16be(&e);
			size_t nl = d4_rd_u8(&e);
			const uint8_t *p = d4_rd_ptr(&e, nl);
			if (p && len == nl + 1) {
				sh->alpn = p;
				sh->alpn_len = nl;
			} else if (!e.err) {
				d4_rd_fail(&e, D4_EPROTO);
			}
		} else {
			d4_rd_skip(&e, d4_rd_left(&e));
		}
		if (e.err)
			return e.err == D4_ETRUNC ? D4_EPROTO : e.err;
		if (d4_rd_left(&e) != 0)
			return D4_EPROTO;
	}
	return x.err;
}

static uint32_t u24(struct d4_reader *r)
{
	const uint8_t *p = d4_rd_ptr(r, 3);
	return p ? ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2] : 0;
}

int d4_tls_certificate_parse(const uint8_t *body, size_t n, int tls13, struct d4_tls_cert *certs, size_t max,
			     size_t *count, uint32_t *flags)
{
	struct d4_reader r;
	d4_rd_init(&r, body, n);
	*count = 0;
	if (tls13)
		d4_rd_skip(&r, d4_rd_u8(&r)); /* certificate_request_context */
	uint32_t total = u24(&r);
	if (r.err) {
		*flags |= D4_TLS_F_CERT_TRUNC;
		return D4_ETRUNC;
	}
	/* A list longer than what is here is a cut message: read what there is. */
	int cut = total > d4_rd_left(&r);
	if (!cut && d4_rd_left(&r) != total)
		return D4_EPROTO;
	struct d4_reader l;
	d4_rd_init(&l, body + r.off, cut ? d4_rd_left(&r) : total);
	while (d4_rd_left(&l) > 0) {
		uint32_t len = u24(&l);
		const uint8_t *der = d4_rd_ptr(&l, len);
		if (!der)
			break;
		if (len == 0)
			return D4_EPROTO; /* an empty certificate entry */
		if (*count < max) {
			certs[*count].der = der;
			certs[*count].len = len;
			(*count)++;
		} else {
			*flags |= D4_TLS_F_CERT_CLIPPED;
		}
		if (tls13)
			d4_rd_skip(&l, d4_rd_u16be(&l)); /* entry extensions */
	}
	if (l.err || cut) {
		if (!cut)
			return D4_EPROTO; /* an entry runs past a list that is complete */
		*flags |= D4_TLS_F_CERT_TRUNC;
		return D4_ETRUNC;
	}
	return 0;
}
