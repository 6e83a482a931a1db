/* The passive-SSL consumer of the frame log: type-1 frames (pcap streams,
 * one TLS extractor per session) and type-254 frames of extended type
 * ja3-jl (lines of d4-sensor --extract tls or of the original Go sensor)
 * become handshakes, committed with their certificates, the cursor and the
 * per-sensor counters in ONE store transaction (d4_store_pssl_apply).
 * docs/passivessl.md "In the hub".
 *
 * Exact restarts (follow.c, as the pDNS consumer): a handshake and every
 * counted error belong to the frame that completes them, and only frames
 * after done_seq are counted. The cursor records replay_from, the oldest
 * frame the per-session state at done_seq depends on (the start of a
 * buffered line; for a pcap stream its last clean point, else its first
 * frame, since an extractor's flows cannot be serialised): after a restart
 * the consumer reads again from there, rebuilding that state while
 * discarding what those frames complete. What a session's end completes
 * (the handshakes its extractor still held, an unterminated last line) is
 * recorded in the cursor's list of finished sessions so that a replay does
 * not count it twice.
 *
 * Certificates are hashed when read (SHA-1 of the DER) and parsed at the
 * commit, only those the store does not know (d4_store_pssl_cert_known):
 * the parse costs about 150 us, the hash about 1 us per KiB. */
#include "analyze_internal.h"
#include "d4_error.h"
#include "follow_internal.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_pssl.h"
#include "d4_tls.h"
#include "d4_util.h"
#include "d4_x509.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_BATCH	    1000u
#define DEF_MAX_SESSIONS    1024u
#define DEF_MAX_LINE	    ((size_t)1 << 20)
#define DEF_MAX_BUFFERED    ((size_t)256 << 20)
#define DEF_FRAMES_PER_WALK 4096u
#define BATCH_BYTES_MAX	    ((size_t)64 << 20) /* a batch also closes at this much copied DER */

/* Cursor value: version 2 of follow_internal.h's layout with finished
 * sessions and clean points, written with every batch. fin: ended sessions
 * already finished (see finish_cb()). res: pcap streams whose extractor was
 * empty at a record boundary after frame start_seq - 1 (no flow, nothing
 * pending): a restart rebuilds them from frame start_seq with that global
 * header and a fresh extractor instead of reading them again from their
 * first frame. */
#define CUR_V2	    2u
#define CUR_RES_MAX 8192u
#define CUR_MAX	    (D4_FOLLOW_FIN_LEN + 2 + D4_FOLLOW_RES * CUR_RES_MAX)

enum skind { K_PCAP = 1, K_JL, K_IGNORE };

/* h.first: the frame that created the pcap state (the stream's start);
 * h.stream_end: an unterminated last line is complete; h.last_rec: the
 * last frame read. */
struct sess {
	struct d4_follow_sess h;
	uint8_t kind;		   /* enum skind */
	struct d4_follow_lines ln; /* lines */
	/* pcap */
	struct d4_pcapsplit *sp;
	struct d4_tls *tls;
	int failed;  /* refused stream: its frames are only counted */
	size_t held; /* extractor + record bytes, as last accounted in x->buffered */
};

/* A certificate of the batch (its DER copied into the arena). */
struct bcert {
	size_t der_off, der_len;
	uint8_t sha1[20];
	uint32_t u; /* its unique certificate, at commit */
};

/* A handshake of the batch: strings and DER as offsets into the arena. */
struct bhs {
	uint8_t server_ip[16];
	uint16_t server_port;
	size_t sni, sni_len; /* sni == SIZE_MAX: none */
	uint8_t has_ja3, has_ja3s;
	uint8_t ja3_md5[16], ja3s_md5[16];
	size_t ja3, ja3s, ja4; /* NUL-terminated in the arena; SIZE_MAX: none */
	size_t cert0, ncerts;  /* into certs[] */
	uint64_t t;	       /* seconds */
	uint8_t sensor[16];
	uint8_t tlp;
	uint8_t org[16];
};

/* A distinct certificate of the batch, at commit. */
struct ucert {
	uint32_t first; /* its first bcert (the handshake that first carries it) */
	uint8_t known;
	struct d4_store_pssl_cert sc; /* pointers into the parse arena, fixed up after */
	size_t subject, issuer, serial, sig_alg, key_alg, curve, cn, modulus, exponent, san0, nsan;
	size_t bh; /* the handshake of `first` */
};

struct d4_analyze_pssl {
	struct d4_store *s;
	struct d4_analyze_pssl_opts o;
	struct d4_follow *f; /* the log, the cursor and the sessions */
	struct d4_follow_lines_cfg lc;
	struct d4_store_pssl_counters *cur_d; /* lines: the counters of the frame being read */
	int counting;
	int in_final; /* finishing an ended session */
	const struct d4_frame_rec *cur_rec;
	struct sess *cur_sess;
	size_t buffered;
	/* open batch */
	struct bhs *hs;
	size_t nhs, caphs;
	struct bcert *certs;
	size_t ncerts, capcerts;
	uint8_t *arena;
	size_t alen, acap;
	struct d4_analyze_pssl_stats pend;
	/* scratch */
	struct d4_tls_jl *jl;
	uint8_t *jlder;
	size_t jlder_cap;
	struct d4_x509 *xc;
	struct d4_analyze_pssl_stats st;
};

/* ---- SHA-1 ---- */

static EVP_MD *md_sha1;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_init(void)
{
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static int sha1(const uint8_t *p, size_t n, uint8_t out[20])
{
	pthread_once(&md_once, md_init);
	unsigned hl = 0;
	return md_sha1 && EVP_Digest(p, n, out, &hl, md_sha1, NULL) && hl == 20 ? 0 : D4_ENOMEM;
}

/* ---- sessions (follow.c calls these) ---- */

static void sess_free_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_pssl *x = ctx;
	struct sess *e = (struct sess *)h;
	d4_follow_lines_drop(&e->ln, &x->buffered, D4_FOLLOW_SKIP_NONE);
	x->buffered -= e->held;
	e->held = 0;
	d4_tls_free(e->tls);
	d4_pcapsplit_free(e->sp);
	e->tls = NULL;
	e->sp = NULL;
}

/* The oldest frame this session's current state depends on; 0 = none (a
 * pcap stream's clean point, when it has one, is the follower's). */
static uint64_t anchor_cb(void *ctx, const struct d4_follow_sess *h)
{
	(void)ctx;
	const struct sess *e = (const struct sess *)h;
	switch (e->kind) {
	case K_JL: return d4_follow_lines_anchor(&e->ln);
	case K_PCAP: return e->sp && !e->failed ? e->h.first : 0;
	default: return 0;
	}
}

/* Sessions of other extended types hold no state: they go first, and
 * their eviction is not counted (h.ignore). */
static struct sess *sess_new(struct d4_analyze_pssl *x, const struct d4_frame_rec *rec, uint8_t kind)
{
	struct sess *e = (struct sess *)d4_follow_sess_new(x->f, rec->session, rec->seq);
	if (!e)
		return NULL;
	e->kind = kind;
	e->h.ignore = kind == K_IGNORE;
	return e;
}

/* ---- batch ---- */

static int arena_put(struct d4_analyze_pssl *x, const void *p, size_t n, size_t *off)
{
	if (x->alen + n > x->acap) {
		size_t nc = x->acap ? x->acap : 1u << 20;
		while (nc < x->alen + n)
			nc *= 2;
		uint8_t *na = realloc(x->arena, nc);
		if (!na)
			return D4_ENOMEM;
		x->arena = na;
		x->acap = nc;
	}
	if (n)
		memcpy(x->arena + x->alen, p, n);
	*off = x->alen;
	x->alen += n;
	return 0;
}

static int arena_str(struct d4_analyze_pssl *x, const char *s, size_t *off)
{
	if (!s || !s[0]) {
		*off = SIZE_MAX;
		return 0;
	}
	return arena_put(x, s, strlen(s) + 1, off);
}

static struct d4_store_pssl_counters *delta_for(struct d4_analyze_pssl *x, const uint8_t uuid[16])
{
	return d4_follow_delta(x->f, uuid);
}

/* One handshake of the current frame (x->cur_rec) into the batch. The
 * fingerprints arrive as strings: MD5s in hex ("" when that hello was not
 * seen). */
struct hs_in {
	const uint8_t *server_ip;
	uint16_t server_port;
	const uint8_t *sni;
	size_t sni_len;
	const char *ja3, *ja3_md5, *ja3s, *ja3s_md5, *ja4;
	const struct d4_tls_cert *certs;
	size_t n_certs;
	uint64_t ts_us;
	int from_lines, go;
};

static int add_handshake(struct d4_analyze_pssl *x, const struct hs_in *in)
{
	if (!x->counting)
		return 0; /* replay: this frame was counted before the restart */
	const struct d4_frame_rec *rec = x->cur_rec;
	struct d4_store_pssl_counters *d = delta_for(x, rec->uuid);
	if (!d)
		return D4_ENOMEM;
	if (x->nhs == x->caphs) {
		size_t nc = x->caphs ? x->caphs * 2 : 256;
		struct bhs *nb = realloc(x->hs, nc * sizeof(*nb));
		if (!nb)
			return D4_ENOMEM;
		x->hs = nb;
		x->caphs = nc;
	}
	struct bhs *b = &x->hs[x->nhs];
	memset(b, 0, sizeof(*b));
	memcpy(b->server_ip, in->server_ip, 16);
	b->server_port = in->server_port;
	b->sni = SIZE_MAX;
	if (in->sni && arena_put(x, in->sni, in->sni_len, &b->sni))
		return D4_ENOMEM;
	b->sni_len = in->sni ? in->sni_len : 0;
	b->has_ja3 = in->ja3_md5 && strlen(in->ja3_md5) == 32 && !d4_hex_decode(in->ja3_md5, 32, b->ja3_md5, 16);
	b->has_ja3s = in->ja3s_md5 && strlen(in->ja3s_md5) == 32 && !d4_hex_decode(in->ja3s_md5, 32, b->ja3s_md5, 16);
	if (arena_str(x, b->has_ja3 ? in->ja3 : NULL, &b->ja3) ||
	    arena_str(x, b->has_ja3s ? in->ja3s : NULL, &b->ja3s) || arena_str(x, in->ja4, &b->ja4))
		return D4_ENOMEM;
	b->cert0 = x->ncerts;
	for (size_t i = 0; i < in->n_certs && i < D4_PSSL_CHAIN_MAX; i++) {
		const struct d4_tls_cert *c = &in->certs[i];
		if (c->len == 0 || c->len > D4_PSSL_DER_MAX) {
			/* the store refuses it: left out of the chain, counted */
			x->pend.certs_refused++;
			d->bad_certs++;
			continue;
		}
		if (x->ncerts == x->capcerts) {
			size_t nc = x->capcerts ? x->capcerts * 2 : 256;
			struct bcert *nb = realloc(x->certs, nc * sizeof(*nb));
			if (!nb)
				return D4_ENOMEM;
			x->certs = nb;
			x->capcerts = nc;
		}
		struct bcert *bc = &x->certs[x->ncerts];
		if (sha1(c->der, c->len, bc->sha1) || arena_put(x, c->der, c->len, &bc->der_off))
			return D4_ENOMEM;
		bc->der_len = c->len;
		x->ncerts++;
	}
	b->ncerts = x->ncerts - b->cert0;
	b->t = in->ts_us / 1000000u;
	memcpy(b->sensor, rec->uuid, 16);
	memcpy(b->org, rec->org, 16);
	b->tlp = rec->tlp;
	x->nhs++;
	d->handshakes++;
	d->certs += b->ncerts;
	x->pend.handshakes++;
	x->pend.certs += b->ncerts;
	if (in->from_lines) {
		x->pend.from_lines++;
		x->pend.go_lines += in->go != 0;
	} else {
		x->pend.from_pcap++;
	}
	return 0;
}

static void batch_clear_cb(void *ctx)
{
	struct d4_analyze_pssl *x = ctx;
	x->nhs = 0;
	x->ncerts = 0;
	x->alen = 0;
	memset(&x->pend, 0, sizeof(x->pend));
}

static int cmp_cert(const void *a, const void *b, void *ctx)
{
	const struct bcert *c = ctx;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int r = memcmp(c[i].sha1, c[j].sha1, 20);
	return r ? r : (i > j) - (i < j);
}

/* qsort_r is a GNU extension; a plain merge sort keeps the code portable. */
static void sort_idx(uint32_t *v, uint32_t *tmp, size_t n, const struct bcert *c)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	sort_idx(v, tmp, h, c);
	sort_idx(v + h, tmp, n - h, c);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = cmp_cert(&v[i], &v[j], (void *)c) <= 0 ? v[i++] : v[j++];
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

/* Parses a new certificate into u (strings into the parse arena *pa). */
struct parena {
	uint8_t *p;
	size_t len, cap;
};

static int pa_put(struct parena *pa, const void *s, size_t n, size_t *off)
{
	if (pa->len + n > pa->cap) {
		size_t nc = pa->cap ? pa->cap : 1u << 16;
		while (nc < pa->len + n)
			nc *= 2;
		uint8_t *np = realloc(pa->p, nc);
		if (!np)
			return D4_ENOMEM;
		pa->p = np;
		pa->cap = nc;
	}
	if (n)
		memcpy(pa->p + pa->len, s, n);
	*off = pa->len;
	pa->len += n;
	return 0;
}

static int pa_str(struct parena *pa, const char *s, size_t *off)
{
	return pa_put(pa, s, strlen(s) + 1, off);
}

static int parse_new(struct d4_analyze_pssl *x, struct ucert *u, const struct bcert *bc, struct parena *pa)
{
	struct d4_store_pssl_cert *c = &u->sc;
	const uint8_t *der = x->arena + bc->der_off;
	memcpy(c->sha1, bc->sha1, 20);
	c->der_len = bc->der_len;
	int rc = d4_x509_parse(der, bc->der_len, x->xc);
	if (rc == D4_ENOMEM)
		return rc;
	if (rc) {
		/* stored unparsed, with its hashes */
		EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
		unsigned hl = 0;
		int ok = md && EVP_Digest(der, bc->der_len, c->sha256, &hl, md, NULL) && hl == 32;
		EVP_MD_free(md);
		if (!ok)
			return D4_ENOMEM;
		c->parsed = 0;
		return 1;
	}
	const struct d4_x509 *xc = x->xc;
	c->parsed = 1;
	memcpy(c->sha256, xc->sha256, 32);
	memcpy(c->spki_sha256, xc->spki_sha256, 32);
	c->x509_flags = xc->flags;
	c->version = (uint8_t)(xc->version >= 0 && xc->version <= 255 ? xc->version : 255);
	c->not_before = xc->not_before;
	c->not_after = xc->not_after;
	c->key_type = (uint8_t)xc->key_type;
	c->key_bits = xc->key_bits > 0 ? (uint32_t)xc->key_bits : 0;
	c->is_ca = xc->is_ca;
	c->modulus_len = xc->key_type == D4_X509_KEY_RSA ? xc->modulus_len : 0;
	c->exponent_len = xc->key_type == D4_X509_KEY_RSA ? xc->exponent_len : 0;
	if (c->modulus_len > D4_PSSL_MODULUS_MAX)
		c->modulus_len = 0;
	if (c->exponent_len > D4_PSSL_EXPONENT_MAX)
		c->exponent_len = 0;
	size_t nx = xc->n_san <= D4_PSSL_SAN_MAX ? xc->n_san : D4_PSSL_SAN_MAX;
	u->nsan = 0;
	if (pa_str(pa, xc->subject, &u->subject) || pa_str(pa, xc->issuer, &u->issuer) ||
	    pa_str(pa, xc->serial, &u->serial) || pa_str(pa, xc->sig_alg, &u->sig_alg) ||
	    pa_str(pa, xc->key_alg, &u->key_alg) || pa_str(pa, xc->curve, &u->curve) || pa_str(pa, xc->cn, &u->cn) ||
	    pa_put(pa, xc->modulus, c->modulus_len, &u->modulus) ||
	    pa_put(pa, xc->exponent, c->exponent_len, &u->exponent))
		return D4_ENOMEM;
	u->san0 = SIZE_MAX;
	for (size_t i = 0; i < nx; i++) {
		size_t off;
		const struct d4_x509_san *sn = &xc->san[i];
		uint16_t len = sn->len;
		if (sn->type == D4_X509_SAN_DNS && len > D4_PSSL_SAN_LEN)
			len = D4_PSSL_SAN_LEN;
		if ((sn->type != D4_X509_SAN_DNS && sn->type != D4_X509_SAN_IP) ||
		    (sn->type == D4_X509_SAN_IP && len != 4 && len != 16)) {
			/* an address of another length is no address: not stored,
			 * the certificate flagged as holding a bad SAN */
			c->x509_flags |= D4_X509_F_SAN_BAD;
			continue;
		}
		u->nsan++;
		/* one record: type, length, value, NUL */
		uint8_t hdr[3] = {sn->type, (uint8_t)(len >> 8), (uint8_t)len};
		if (pa_put(pa, hdr, 3, &off) || pa_put(pa, sn->value, len, &(size_t){0}) ||
		    pa_put(pa, "", 1, &(size_t){0}))
			return D4_ENOMEM;
		if (u->san0 == SIZE_MAX)
			u->san0 = off;
	}
	u->sc.cn = xc->has_cn ? "" : NULL; /* marker: fixed up with the arena */
	return 0;
}

/* Commits the open batch: handshakes, certificates, cursor and counter
 * deltas in one transaction. On failure the batch stays for a retry. */
static int commit_cb(void *ctx)
{
	struct d4_analyze_pssl *x = ctx;
	int rc = 0;
	size_t nc = x->ncerts;
	uint32_t *idx = NULL, *tmp = NULL;
	struct ucert *uc = NULL;
	uint8_t(*sha)[20] = NULL;
	uint8_t *known = NULL;
	struct d4_store_pssl_cert *chain = NULL;
	struct d4_store_pssl_obs *obs = NULL;
	struct d4_store_pssl_san *sans = NULL;
	struct parena pa = {NULL, 0, 0};
	size_t nu = 0, nsans = 0;
	uint64_t new_certs = 0, bad_certs = 0;
	if (nc) {
		idx = malloc(nc * sizeof(*idx));
		tmp = malloc(nc * sizeof(*tmp));
		uc = calloc(nc, sizeof(*uc));
		sha = malloc(nc * sizeof(*sha));
		known = malloc(nc);
		chain = malloc(nc * sizeof(*chain));
		if (!idx || !tmp || !uc || !sha || !known || !chain) {
			rc = D4_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nc; i++)
			idx[i] = (uint32_t)i;
		sort_idx(idx, tmp, nc, x->certs);
		for (size_t i = 0; i < nc; i++) {
			struct bcert *bc = &x->certs[idx[i]];
			if (nu == 0 || memcmp(sha[nu - 1], bc->sha1, 20)) {
				memcpy(sha[nu], bc->sha1, 20);
				uc[nu].first = idx[i]; /* the smallest index: sorted by (sha1, index) */
				nu++;
			}
			bc->u = (uint32_t)(nu - 1);
		}
		rc = d4_store_pssl_cert_known(x->s, (const uint8_t(*)[20])sha, nu, known);
		if (rc)
			goto out;
		for (size_t i = 0; i < nu; i++) {
			uc[i].known = known[i];
			memcpy(uc[i].sc.sha1, sha[i], 20);
			if (known[i])
				continue;
			int r = parse_new(x, &uc[i], &x->certs[uc[i].first], &pa);
			if (r < 0) {
				rc = r;
				goto out;
			}
			new_certs++;
			if (r > 0)
				bad_certs++;
			nsans += uc[i].sc.parsed ? uc[i].nsan : 0;
		}
		if (nsans && !(sans = malloc(nsans * sizeof(*sans)))) {
			rc = D4_ENOMEM;
			goto out;
		}
		/* pointers into the parse arena, now that it no longer moves */
		size_t si = 0;
		for (size_t i = 0; i < nu; i++) {
			struct ucert *u = &uc[i];
			if (u->known || !u->sc.parsed)
				continue;
			const char *base = (const char *)pa.p;
			u->sc.subject = base + u->subject;
			u->sc.issuer = base + u->issuer;
			u->sc.serial = base + u->serial;
			u->sc.sig_alg = base + u->sig_alg;
			u->sc.key_alg = base + u->key_alg;
			u->sc.curve = base + u->curve;
			u->sc.cn = u->sc.cn ? base + u->cn : NULL;
			u->sc.modulus = u->sc.modulus_len ? pa.p + u->modulus : NULL;
			u->sc.exponent = u->sc.exponent_len ? pa.p + u->exponent : NULL;
			u->sc.san = u->nsan ? &sans[si] : NULL;
			u->sc.n_san = u->nsan;
			const uint8_t *p = u->nsan ? pa.p + u->san0 : NULL;
			for (size_t k = 0; k < u->nsan; k++) {
				sans[si].type = p[0];
				sans[si].len = (uint16_t)(p[1] << 8 | p[2]);
				sans[si].value = p + 3;
				p += 3 + sans[si].len + 1;
				si++;
			}
		}
	}
	/* the handshakes, each certificate of a chain as its distinct row (the
	 * full record while not stored: every occurrence of a new one in this
	 * batch carries it, whichever the store merges first) */
	if (x->nhs && !(obs = calloc(x->nhs, sizeof(*obs)))) {
		rc = D4_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nc; i++) {
		const struct bcert *bc = &x->certs[i];
		const struct ucert *u = &uc[bc->u];
		chain[i] = u->sc;
		if (u->known) {
			chain[i].der = NULL;
			chain[i].der_len = 0;
		} else {
			chain[i].der = x->arena + x->certs[u->first].der_off;
			chain[i].der_len = x->certs[u->first].der_len;
		}
	}
	for (size_t i = 0; i < x->nhs; i++) {
		const struct bhs *b = &x->hs[i];
		struct d4_store_pssl_obs *o = &obs[i];
		memcpy(o->server_ip, b->server_ip, 16);
		o->server_port = b->server_port;
		o->sni = b->sni == SIZE_MAX ? NULL : x->arena + b->sni;
		o->sni_len = b->sni == SIZE_MAX ? 0 : b->sni_len;
		o->has_ja3 = b->has_ja3;
		o->has_ja3s = b->has_ja3s;
		memcpy(o->ja3_md5, b->ja3_md5, 16);
		memcpy(o->ja3s_md5, b->ja3s_md5, 16);
		o->ja3 = b->ja3 == SIZE_MAX ? NULL : (const char *)x->arena + b->ja3;
		o->ja3s = b->ja3s == SIZE_MAX ? NULL : (const char *)x->arena + b->ja3s;
		o->ja4 = b->ja4 == SIZE_MAX ? NULL : (const char *)x->arena + b->ja4;
		o->certs = b->ncerts ? &chain[b->cert0] : NULL;
		o->n_certs = b->ncerts;
		o->time_first = o->time_last = b->t;
		o->count = 1;
		memcpy(o->sensor, b->sensor, 16);
		o->has_sensor = 1;
		o->tlp = b->tlp;
		memcpy(o->org, b->org, 16);
	}
	/* new and unparsable certificates are counted for the sensor of the
	 * handshake that first carried them */
	for (size_t i = 0; i < nu; i++) {
		if (uc[i].known)
			continue;
		size_t h = 0;
		while (h + 1 < x->nhs && x->hs[h + 1].cert0 <= uc[i].first)
			h++;
		struct d4_store_pssl_counters *d = delta_for(x, x->hs[h].sensor);
		if (!d) {
			rc = D4_ENOMEM;
			goto out;
		}
		d->certs_new++;
		d->bad_certs += !uc[i].sc.parsed;
	}
	struct d4_store_pssl_update u;
	memset(&u, 0, sizeof(u));
	u.obs = obs;
	u.nobs = x->nhs;
	u.cursor_name = D4_ANALYZE_PSSL_CURSOR;
	d4_follow_cursor(x->f, &u.cursor, &u.cursor_len);
	u.deltas = d4_follow_deltas(x->f, &u.ndeltas);
	uint64_t missing = 0;
	uint64_t t0 = d4_mono_ms();
	rc = d4_store_pssl_apply(x->s, &u, &missing);
	if (rc == D4_EINVAL) {
		/* The store refused a parsed record (a field this consumer did
		 * not bound as the store does): rather than retrying the same
		 * batch for ever, its new certificates are stored unparsed
		 * (hashes and DER, counted as bad_certs) and it is tried once
		 * more. */
		size_t nfix = 0;
		for (size_t i = 0; i < nu; i++) {
			if (uc[i].known || !uc[i].sc.parsed)
				continue;
			uc[i].sc.parsed = 0;
			size_t h = 0;
			while (h + 1 < x->nhs && x->hs[h + 1].cert0 <= uc[i].first)
				h++;
			delta_for(x, x->hs[h].sensor)->bad_certs++;
			bad_certs++;
			nfix++;
		}
		for (size_t i = 0; i < nc && nfix; i++)
			chain[i].parsed = uc[x->certs[i].u].sc.parsed;
		if (nfix) {
			d4_warn("pssl: the store refused a batch of %zu handshakes (%s): its %zu new certificates are "
				"stored unparsed",
				x->nhs, d4_strerror(rc), nfix);
			rc = d4_store_pssl_apply(x->s, &u, &missing);
		}
	}
	if (rc) {
		/* the counter deltas of the certificates are made again */
		for (size_t i = 0; i < nu; i++) {
			if (uc[i].known)
				continue;
			size_t h = 0;
			while (h + 1 < x->nhs && x->hs[h + 1].cert0 <= uc[i].first)
				h++;
			struct d4_store_pssl_counters *d = delta_for(x, x->hs[h].sensor);
			d->certs_new--;
			d->bad_certs -= !uc[i].sc.parsed;
		}
		goto out;
	}
	uint64_t ms = d4_mono_ms() - t0;
	if (ms > x->st.txn_ms_max)
		x->st.txn_ms_max = ms;
	d4_debug("pssl: %zu handshakes, %zu certificates (%" PRIu64 " new) committed in %" PRIu64 " ms", x->nhs, nc,
		 new_certs, ms);
	x->st.frames += x->pend.frames;
	x->st.handshakes += x->pend.handshakes;
	x->st.from_pcap += x->pend.from_pcap;
	x->st.from_lines += x->pend.from_lines;
	x->st.go_lines += x->pend.go_lines;
	x->st.certs += x->pend.certs;
	x->st.certs_new += new_certs;
	x->st.bad_certs += bad_certs;
	x->st.certs_refused += x->pend.certs_refused;
	x->st.certs_missing += missing;
	x->st.bad_lines += x->pend.bad_lines;
	x->st.bad_packets += x->pend.bad_packets;
	x->st.streams_refused += x->pend.streams_refused;
	x->st.tls_flows += x->pend.tls_flows;
	x->st.tls_not_tls += x->pend.tls_not_tls;
	x->st.tls_gaps += x->pend.tls_gaps;
	x->st.tls_limits += x->pend.tls_limits;
	x->st.tls_evicted += x->pend.tls_evicted;
	x->st.tls_errors += x->pend.tls_errors;
out:
	free(idx);
	free(tmp);
	free(uc);
	free(sha);
	free(known);
	free(chain);
	free(obs);
	free(sans);
	free(pa.p);
	return rc;
}

/* ---- handshakes from the extractor ---- */

static int on_handshake(void *ud, const struct d4_tls_handshake *h)
{
	struct d4_analyze_pssl *x = ud;
	struct hs_in in;
	memset(&in, 0, sizeof(in));
	in.server_ip = h->server_ip;
	in.server_port = h->server_port;
	if (h->client && h->client->sni) {
		in.sni = h->client->sni;
		in.sni_len = h->client->sni_len;
	}
	in.ja3 = h->ja3;
	in.ja3_md5 = h->ja3_md5;
	in.ja3s = h->ja3s;
	in.ja3s_md5 = h->ja3s_md5;
	in.ja4 = h->ja4;
	in.certs = h->certs;
	in.n_certs = h->n_certs;
	/* the time d4-tls and the ja3-jl lines give: the packet that completed
	 * the ClientHello, else the flow's first */
	in.ts_us = h->ts_client_us ? h->ts_client_us : h->ts_first_us;
	return add_handshake(x, &in);
}

static int on_record(void *ud, const struct d4_pcap_rec *r)
{
	struct d4_analyze_pssl *x = ud;
	return d4_tls_frame(x->cur_sess->tls, (int)r->linktype, r->ts_us, r->data, r->caplen);
}

/* The extractor's counters moved by one counted frame. */
static void tls_delta(struct d4_analyze_pssl *x, const struct d4_tls_stats *a, const struct d4_tls_stats *b,
		      struct d4_store_pssl_counters *d)
{
	x->pend.tls_flows += b->flows - a->flows;
	x->pend.tls_not_tls += b->not_tls - a->not_tls;
	x->pend.tls_gaps += b->gaps - a->gaps;
	x->pend.tls_limits += (b->dir_limit - a->dir_limit) + (b->seg_limit - a->seg_limit);
	x->pend.tls_evicted += (b->flows_evicted - a->flows_evicted) + (b->flows_mem_evicted - a->flows_mem_evicted);
	x->pend.tls_errors += (b->hello_errors - a->hello_errors) + (b->cert_errors - a->cert_errors);
	uint64_t bad = b->undecodable - a->undecodable;
	x->pend.bad_packets += bad;
	if (d)
		d->bad_packets += bad;
}

static int pcap_feed(struct d4_analyze_pssl *x, struct sess *e, const uint8_t *p, size_t n,
		     struct d4_store_pssl_counters *d)
{
	if (e->failed)
		return 0;
	if (!e->sp) {
		e->sp = d4_pcapsplit_new(0);
		e->tls = d4_tls_new(&x->o.tls, on_handshake, x);
		if (!e->sp || !e->tls) {
			d4_pcapsplit_free(e->sp);
			d4_tls_free(e->tls);
			e->sp = NULL;
			e->tls = NULL;
			return D4_ENOMEM;
		}
		e->h.first = x->cur_rec->seq;
	}
	struct d4_tls_stats a, b;
	d4_tls_get_stats(e->tls, &a);
	x->cur_sess = e;
	int rc = d4_pcapsplit_feed(e->sp, p, n, on_record, x);
	x->cur_sess = NULL;
	int why = d4_pcapsplit_failed(e->sp);
	if (rc < 0 && why == D4_PCAP_F_NONE)
		return rc; /* D4_ENOMEM (the splitter's or the batch's) */
	d4_tls_get_stats(e->tls, &b);
	if (x->counting)
		tls_delta(x, &a, &b, d);
	if (why != D4_PCAP_F_NONE) {
		e->failed = 1;
		if (x->counting) {
			x->pend.streams_refused++;
			x->pend.bad_packets++;
			if (d)
				d->bad_packets++;
			d4_info("pssl: session %" PRIu64 ": pcap stream refused (%s)", e->h.id, d4_pcap_fail_name(why));
		}
		/* what the extractor holds cannot complete any more */
		x->buffered -= e->held;
		e->held = 0;
		d4_tls_free(e->tls);
		d4_pcapsplit_free(e->sp);
		e->tls = NULL;
		e->sp = NULL;
		return 0;
	}
	size_t held = (size_t)b.bytes_held + d4_pcapsplit_held(e->sp);
	x->buffered += held - e->held;
	e->held = held;
	/* Empty at a record boundary: a restart can rebuild this stream from
	 * its next frame (a fresh extractor is the same as an empty one). The
	 * rule depends on the frames only, so a replay finds the same points. */
	struct d4_pcap_info pi;
	if (b.flows_active == 0 && b.bytes_held == 0 && d4_pcapsplit_pending(e->sp) == 0 &&
	    d4_pcapsplit_info(e->sp, &pi) == 0)
		d4_follow_clean(&e->h, x->cur_rec->seq, &pi);
	return 0;
}

/* ---- ja3-jl lines ---- */

static int line_parse(struct d4_analyze_pssl *x, const char *p, size_t n, struct d4_store_pssl_counters *d)
{
	while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 0; /* blank lines separate nothing and are not errors */
	if (!x->counting)
		return 0; /* a replayed line was counted before the restart */
	if (x->jlder_cap < n) {
		uint8_t *nd = realloc(x->jlder, n);
		if (!nd)
			return D4_ENOMEM;
		x->jlder = nd;
		x->jlder_cap = n;
	}
	int rc = d4_tls_jl_parse((const uint8_t *)p, n, x->jl, x->jlder, x->jlder_cap);
	if (rc == D4_ENOMEM)
		return rc;
	if (rc) {
		x->pend.bad_lines++;
		if (d)
			d->bad_lines++;
		d4_debug("pssl: session %" PRIu64 ": ja3-jl line refused (%s)", x->cur_rec->session, d4_strerror(rc));
		return 0;
	}
	const struct d4_tls_jl *j = x->jl;
	struct hs_in in;
	memset(&in, 0, sizeof(in));
	in.server_ip = j->server_ip;
	in.server_port = j->server_port;
	if (j->has_sni) {
		in.sni = j->sni;
		in.sni_len = j->sni_len;
	}
	in.ja3 = j->ja3;
	in.ja3_md5 = j->ja3_md5;
	in.ja3s = j->ja3s;
	in.ja3s_md5 = j->ja3s_md5;
	in.ja4 = j->ja4;
	in.certs = j->certs;
	in.n_certs = j->n_certs;
	in.ts_us = j->ts_us;
	in.from_lines = 1;
	in.go = j->producer == D4_TLS_JL_GO;
	return add_handshake(x, &in);
}

static int line_cb(void *ctx, const char *p, size_t n)
{
	struct d4_analyze_pssl *x = ctx;
	return line_parse(x, p, n, x->cur_d);
}

/* Lines over max_line (or over the global buffer cap) are skipped up to
 * their newline and count as bad. */
static void bad_line_cb(void *ctx)
{
	struct d4_analyze_pssl *x = ctx;
	if (!x->counting)
		return;
	x->pend.bad_lines++;
	if (x->cur_d)
		x->cur_d->bad_lines++;
}

/* ---- frames ---- */

/* The kind of a session met for the first time. Frames received from a
 * partner hub (si.fed) are not read: what the partner's rule lets through
 * arrives through federation, and deriving it here would count it twice. */
static uint8_t session_kind(struct d4_analyze_pssl *x, uint64_t session, uint8_t type)
{
	struct d4_session_info si;
	if (d4_store_session_get(x->s, session, &si) != 0)
		return type == 1 ? K_PCAP : K_IGNORE;
	if (si.fed)
		return K_IGNORE;
	if (type == 1)
		return K_PCAP;
	return !strcmp(si.ext_type, "ja3-jl") ? K_JL : K_IGNORE;
}

static int frame_process(struct d4_analyze_pssl *x, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	if (rec->type != 1 && rec->type != 254)
		return 0;
	struct sess *e = (struct sess *)d4_follow_sess_find(x->f, rec->session);
	if (!e) {
		uint8_t kind = session_kind(x, rec->session, rec->type);
		if (!(e = sess_new(x, rec, kind)))
			return D4_ENOMEM;
	}
	e->h.last_seq = rec->seq;
	if (e->kind == K_IGNORE || d4_follow_skip(&e->h, rec->seq))
		return 0;
	struct d4_store_pssl_counters *d = NULL;
	if (x->counting) {
		if (!(d = delta_for(x, rec->uuid)))
			return D4_ENOMEM;
		d->frames++;
		x->pend.frames++;
	}
	x->cur_rec = rec;
	x->cur_d = d;
	int rc = e->kind == K_PCAP ? pcap_feed(x, e, payload, rec->size, d)
				   : d4_follow_lines_feed(&e->ln, &x->lc, payload, rec->size, rec->seq);
	x->cur_rec = NULL;
	if (rc)
		return rc;
	e->h.last_rec = *rec;
	/* Bytes held over all sessions are bounded (many sessions, each with a
	 * large line or many half-open flows). Not during a replay: the state
	 * at done_seq was within the bound, and the replay rebuilds it. */
	while (x->counting && x->buffered > x->o.max_buffered && d4_follow_nsess(x->f) > 1 &&
	       d4_follow_evict(x->f, &e->h, "buffer cap"))
		;
	return 0;
}

/* What a session's end completes (the handshakes its extractor still held,
 * the unterminated last line of a stream its sender closed): counted once,
 * for the session's last frame. Until the commit that carries it, the
 * cursor's replay_from still covers the session, so a restart rebuilds the
 * state and finishes it once; after it the session is listed in fin until
 * no replay can reach its frames. */
static int finish_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_pssl *x = ctx;
	struct sess *e = (struct sess *)h;
	int has_work =
	    (e->kind == K_PCAP && e->tls) || (e->kind == K_JL && e->h.stream_end && !e->ln.skipping && e->ln.len > 0);
	if (!has_work)
		return 0;
	/* finished and committed before a restart (a replay rebuilt it), or
	 * not recordable: finishing it could count it twice after a restart */
	if (d4_follow_fin_add(x->f, &e->h, "end not processed"))
		return 0;
	x->cur_rec = &e->h.last_rec;
	x->counting = 1;
	x->in_final = 1;
	struct d4_store_pssl_counters *d = delta_for(x, e->h.last_rec.uuid);
	int rc = d ? 0 : D4_ENOMEM;
	if (!rc && e->kind == K_PCAP) {
		struct d4_tls_stats a, b;
		d4_tls_get_stats(e->tls, &a);
		rc = d4_tls_flush(e->tls);
		d4_tls_get_stats(e->tls, &b);
		tls_delta(x, &a, &b, d);
	} else if (!rc) {
		rc = line_parse(x, e->ln.buf, e->ln.len, d);
		e->ln.len = 0;
	}
	x->in_final = 0;
	x->cur_rec = NULL;
	return rc;
}

/* Frames [from, to) are gone (retention; counted by the follower): a
 * buffered partial line is dropped and its session skips to the next
 * newline; a pcap stream that lost frames fails on its next record header
 * (counted). */
static void gap_sess_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_pssl *x = ctx;
	struct sess *e = (struct sess *)h;
	if (e->kind == K_JL && (e->ln.len || e->ln.skipping != D4_FOLLOW_SKIP_NONE))
		d4_follow_lines_drop(&e->ln, &x->buffered, D4_FOLLOW_SKIP_SILENT);
}

static int frame_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload, int counting)
{
	struct d4_analyze_pssl *x = ctx;
	x->counting = counting;
	return frame_process(x, rec, payload);
}

static int batch_full_cb(void *ctx)
{
	const struct d4_analyze_pssl *x = ctx;
	return x->nhs >= x->o.batch || x->alen >= BATCH_BYTES_MAX;
}

/* A pcap stream rebuilt at its clean point: a fresh extractor is the same
 * as the empty one it had, past the global header. */
static int resume_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_pssl *x = ctx;
	struct sess *e = (struct sess *)h;
	e->kind = K_PCAP;
	e->sp = d4_pcapsplit_new(0);
	e->tls = d4_tls_new(&x->o.tls, on_handshake, x);
	if (!e->sp || !e->tls)
		return D4_ENOMEM;
	d4_pcapsplit_resume(e->sp, &e->h.info);
	return 0;
}

int analyze_pssl_step(struct d4_analyze_pssl *x, unsigned max_batches, int force, unsigned min_commit_ms, int *idle)
{
	return d4_follow_step(x->f, max_batches, force, min_commit_ms, idle);
}

int analyze_pssl_flush(struct d4_analyze_pssl *x)
{
	return d4_follow_flush(x->f);
}

int d4_analyze_pssl_step(struct d4_analyze_pssl *x, unsigned max_batches, int *idle)
{
	int rc = analyze_pssl_step(x, max_batches, 1, 0, idle);
	d4_follow_refresh_lag(x->f);
	return rc;
}

static int expire_cb(void *ctx, uint64_t before_s, uint64_t *removed)
{
	struct d4_analyze_pssl *x = ctx;
	int rc = d4_store_pssl_expire(x->s, before_s, 0, removed);
	x->st.expired += *removed;
	return rc;
}

int d4_analyze_pssl_maintain(struct d4_analyze_pssl *x, uint64_t now_s, uint64_t expire_every_s)
{
	int rc = d4_follow_maintain(x->f, x->o.sessions_dead_before);
	if (rc)
		return rc;
	return d4_follow_expire(x->f, now_s, expire_every_s, x->o.retention_s);
}

void d4_analyze_pssl_stats(struct d4_analyze_pssl *x, struct d4_analyze_pssl_stats *out)
{
	struct d4_follow_stats fs;
	d4_follow_stats(x->f, &fs);
	*out = x->st;
	D4_FOLLOW_STATS_PUT(out, fs);
	out->resumed = fs.resumed;
	out->buffered = x->buffered;
}

int d4_analyze_pssl_opts_check(const struct d4_analyze_pssl_opts *o, char *err, size_t errsize)
{
	if (o->max_line && o->max_line < 4096) {
		snprintf(err, errsize,
			 "pssl.max_line must be at least 4096 bytes (a ja3-jl line with one certificate)");
		return D4_EINVAL;
	}
	if (o->max_buffered && o->max_line && o->max_buffered < o->max_line) {
		snprintf(err, errsize, "pssl.max_buffered must be at least pssl.max_line");
		return D4_EINVAL;
	}
	if (o->max_sessions > CUR_RES_MAX) {
		/* every stream with state may need its restart point in the cursor */
		snprintf(err, errsize, "pssl.max_sessions is at most %u", CUR_RES_MAX);
		return D4_EINVAL;
	}
	if (o->batch > 1000000) {
		snprintf(err, errsize, "pssl.batch is at most 1,000,000");
		return D4_EINVAL;
	}
	return 0;
}

static void opts_defaults(struct d4_analyze_pssl_opts *o)
{
	if (!o->batch)
		o->batch = DEF_BATCH;
	if (!o->max_sessions)
		o->max_sessions = DEF_MAX_SESSIONS;
	if (!o->max_line)
		o->max_line = DEF_MAX_LINE;
	if (!o->max_buffered)
		o->max_buffered = DEF_MAX_BUFFERED;
	if (!o->frames_per_walk)
		o->frames_per_walk = DEF_FRAMES_PER_WALK;
}

static const uint8_t pssl_types[] = {1, 254};

static const struct d4_follow_ops pssl_ops = {
    .name = "pssl",
    .sess_size = sizeof(struct sess),
    .delta_size = sizeof(struct d4_store_pssl_counters),
    .layout = D4_FOLLOW_FIN | D4_FOLLOW_CLEAN,
    .version = CUR_V2,
    .types = pssl_types,
    .ntypes = sizeof(pssl_types),
    .frame = frame_cb,
    .batch_full = batch_full_cb,
    .commit = commit_cb,
    .batch_clear = batch_clear_cb,
    .anchor = anchor_cb,
    .sess_free = sess_free_cb,
    .gap_sess = gap_sess_cb,
    .finish = finish_cb,
    .resume = resume_cb,
    .expire = expire_cb,
    .expire_what = "handshake tuples expired (time_last",
};

int d4_analyze_pssl_new(struct d4_store *s, const struct d4_analyze_pssl_opts *o, struct d4_analyze_pssl **out)
{
	*out = NULL;
	char err[256];
	if (o && d4_analyze_pssl_opts_check(o, err, sizeof(err)) != 0) {
		d4_warn("%s", err);
		return D4_EINVAL;
	}
	struct d4_analyze_pssl *x = calloc(1, sizeof(*x));
	if (!x)
		return D4_ENOMEM;
	x->s = s;
	if (o)
		x->o = *o;
	opts_defaults(&x->o);
	x->lc.max_line = x->o.max_line;
	x->lc.max_buffered = x->o.max_buffered;
	x->lc.first_cap = 1024;
	x->lc.buffered = &x->buffered;
	x->lc.line = line_cb;
	x->lc.bad = bad_line_cb;
	x->lc.ctx = x;
	x->jl = malloc(sizeof(*x->jl));
	x->xc = malloc(sizeof(*x->xc));
	uint8_t *cv = malloc(CUR_MAX);
	if (!x->jl || !x->xc || !cv) {
		free(cv);
		d4_analyze_pssl_free(x);
		return D4_ENOMEM;
	}
	size_t cl = 0;
	int rc = d4_store_pssl_cursor_get(s, D4_ANALYZE_PSSL_CURSOR, cv, CUR_MAX, &cl);
	if (rc == D4_ENOTFOUND) {
		cl = 0;
		rc = 0;
	}
	struct d4_follow_cfg fc;
	memset(&fc, 0, sizeof(fc));
	fc.max_sessions = x->o.max_sessions;
	fc.frames_per_walk = x->o.frames_per_walk;
	fc.cursor_max = CUR_MAX;
	fc.clean_max = CUR_RES_MAX;
	if (!rc)
		rc = d4_follow_new(s, &pssl_ops, x, &fc, cv, cl, &x->f);
	free(cv);
	if (rc) {
		d4_analyze_pssl_free(x);
		return rc == D4_ETOOBIG ? D4_ECORRUPT : rc;
	}
	*out = x;
	return 0;
}

void d4_analyze_pssl_free(struct d4_analyze_pssl *x)
{
	if (!x)
		return;
	d4_follow_free(x->f);
	free(x->hs);
	free(x->certs);
	free(x->arena);
	free(x->jl);
	free(x->jlder);
	free(x->xc);
	free(x);
}
