/* The source: batches of one kind for one partner, built from this hub's
 * log (docs/federation.md "The source"). Every record passes d4_fed_decide;
 * what is released is encoded with the provenance d4_fed_outgoing gives.
 * The push sender and the pull endpoint both call d4_fed_source_next, so a
 * partner gets the same records and decisions either way.
 *
 * Positions: frames = u64 next frame seq; pdns = the pDNS consumer's cursor
 * value ‖ u32 observations of the consumer batch from that cursor already
 * decided; backscatter = u64 change sequence number of the last vector
 * decided (d4_store_bs_changes: each vector at its latest state); certs =
 * u64 change sequence number of the last handshake tuple decided
 * (d4_store_pssl_changes, the same way). The pDNS consumer (hub/analyze) runs in sink mode:
 * the same code that fills the hub's tuple store, its batches handed here instead. */
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_store_fed.h"
#include "d4_store_pdns.h"
#include "d4_store_pssl.h"
#include "d4_util.h"

#include <stdlib.h>
#include <string.h>

#define DEF_MAX_RECORDS 100000u
/* Observations per pDNS consumer batch. Part of the meaning of a pdns
 * position (its skip counts into such a batch): never change it without
 * changing the position format. */
#define PDNS_BATCH  4096u
#define SCACHE_SIZE 256u /* sessions remembered (direct-mapped by id) */

struct scache {
	uint64_t id; /* 0 = empty */
	int found;   /* the session record exists */
	char ext[D4_EXT_TYPE_MAX];
	int fed; /* received from a partner: prov below */
	struct d4_store_fed_session fs;
};

/* The last pDNS consumer batch handed to the sink: kept so that a batch cut
 * inside it continues without running the consumer again. */
struct pbatch {
	int valid;
	uint8_t from[D4_PDNS_CURSOR_VALUE_MAX];
	size_t from_len;
	uint8_t to[D4_PDNS_CURSOR_VALUE_MAX];
	size_t to_len;
	struct d4_store_pdns_obs *obs; /* strings NUL-terminated, in arena */
	size_t n, nfixed, cap;
	char *arena;
	size_t acap;
	/* what the tuple store held of obs[seen_from..n) (the mix thresholds),
	 * read in one transaction when first needed in a call (seen_epoch) */
	uint64_t *seen_count;
	uint32_t *seen_sensors;
	struct d4_store_pdns_obs *seen_q; /* the ones the cache cannot answer */
	size_t seen_cap, seen_from;
	uint64_t seen_epoch; /* 0: not read */
	/* the frame of each observation (0: a last line of an ended stream),
	 * and what the side records of those frames say (side_ok: the frame
	 * has one that matches its observations), read once per call */
	uint64_t *seq;
	struct d4_store_pdns_side_obs *side;
	uint8_t *side_ok;
	size_t *side_run; /* scratch: the first observation of each frame read */
	uint64_t *side_seqs;
	size_t side_cap;
	uint64_t side_epoch; /* 0: not read */
};

/* Tuples' counts as last read from the tuple store, two-way by hash: only a count that passes a rule's thresholds is
 * taken from here (counts only grow); anything else is read again. */
#define SEEN_SLOTS 131072u /* 4 MiB per pDNS source */
struct seen {
	uint64_t h[2];
	uint64_t count;
	uint32_t sensors;
};

struct d4_fed_source {
	struct d4_store *s;
	struct seen *seen; /* SEEN_SLOTS, allocated on first use */
	uint64_t epoch;	   /* d4_fed_source_next calls: what the tuple store held is read once per call */
	struct d4_fed_source_opts o;
	uint8_t kind;
	struct d4_fed_wbuf w;
	struct scache sc[SCACHE_SIZE];
	/* pdns */
	struct d4_analyze_pdns *px; /* the consumer, at cursor pxcur (no open batch) */
	uint8_t pxcur[D4_PDNS_CURSOR_VALUE_MAX];
	size_t pxcur_len;
	int sink_err;
	struct pbatch pb;
	/* certs: one record's chain DER, names and JA3 strings (copied out of
	 * the store's read transactions) */
	uint8_t *cbuf;
	size_t ccap, clen;
};

int d4_fed_source_new(struct d4_store *s, const struct d4_fed_source_opts *o, uint8_t kind, struct d4_fed_source **out)
{
	*out = NULL;
	if (!s || !o || !o->self ||
	    (kind != D4_FED_KIND_FRAMES && kind != D4_FED_KIND_PDNS && kind != D4_FED_KIND_BACKSCATTER &&
	     kind != D4_FED_KIND_CERTS))
		return D4_EINVAL;
	if (kind == D4_FED_KIND_PDNS) {
		struct d4_analyze_pdns_opts po;
		memset(&po, 0, sizeof(po));
		po.csv_fields = o->pdns_csv_fields;
		po.csv_separator = o->pdns_csv_separator;
		char err[160];
		if (d4_analyze_pdns_opts_check(&po, err, sizeof(err)) != 0)
			return D4_EINVAL;
	}
	struct d4_fed_source *src = calloc(1, sizeof(*src));
	if (!src)
		return D4_ENOMEM;
	src->s = s;
	src->o = *o;
	if (!src->o.max_bytes || src->o.max_bytes > D4_FED_BATCH_MAX)
		src->o.max_bytes = D4_FED_BATCH_MAX;
	if (!src->o.max_records)
		src->o.max_records = DEF_MAX_RECORDS;
	src->kind = kind;
	*out = src;
	return 0;
}

void d4_fed_source_free(struct d4_fed_source *src)
{
	if (!src)
		return;
	d4_analyze_pdns_free(src->px);
	free(src->seen);
	free(src->pb.seen_count);
	free(src->pb.seen_sensors);
	free(src->pb.seen_q);
	free(src->pb.seq);
	free(src->pb.side);
	free(src->pb.side_ok);
	free(src->pb.side_run);
	free(src->pb.side_seqs);
	free(src->pb.obs);
	free(src->pb.arena);
	free(src->cbuf);
	d4_fed_wbuf_free(&src->w);
	free(src);
}

static void partner_view(const struct d4_partner *p, struct d4_fed_partner *fp)
{
	memcpy(fp->hub, p->hub, 16);
	memcpy(fp->org, p->org, 16);
	fp->relation = (enum d4_fed_relation)p->relation;
	fp->enabled = p->enabled;
}

static int is_zero16(const uint8_t *u)
{
	static const uint8_t z[16];
	return !memcmp(u, z, 16);
}

/* The records of one batch being built. */
struct build {
	struct d4_fed_source *src;
	const struct d4_partner *p;
	struct d4_fed_partner fp;
	struct d4_fed_counters *dec;
	uint32_t released;
	unsigned decided;
	int full; /* a record larger than max_bytes went alone: nothing after it */
	int err;
	uint64_t now_s; /* the clock the mix hold-back is decided on */
};

static void count(struct build *b, const struct d4_fed_verdict *v)
{
	d4_fed_count(b->dec, (enum d4_fed_kind)b->src->kind, v);
	b->decided++;
}

/* Appends r (released under v). 0 added, 1 the batch is full (nothing added,
 * nothing counted: the record starts the next batch), or a refusal reason
 * in *v (counted by the caller). A record that does not fit even into an
 * empty batch of max_bytes goes alone into a batch of up to
 * D4_FED_BATCH_MAX (the receiver's limit); larger than that it can never
 * cross and is refused as too-big. */
static int add(struct build *b, struct d4_fed_wrec *r, struct d4_fed_verdict *v)
{
	struct d4_fed_wbuf *w = &b->src->w;
	int rc = d4_fed_wbuf_add(w, r);
	if (rc == D4_ETOOBIG && w->nrecords == 0 && w->max_bytes < D4_FED_BATCH_MAX) {
		w->max_bytes = D4_FED_BATCH_MAX;
		rc = d4_fed_wbuf_add(w, r);
		w->max_bytes = b->src->o.max_bytes;
		if (rc == 0) {
			b->full = 1; /* alone: nothing after it */
			return 0;
		}
	}
	if (rc == D4_ETOOBIG && w->nrecords > 0)
		return 1;
	if (rc == D4_ETOOBIG || rc == D4_EINVAL) {
		/* too big for any batch, or a field the wire cannot carry (the
		 * codec checks what a receiver would refuse): never sent */
		v->decision = D4_FED_REFUSE;
		v->reason = rc == D4_ETOOBIG ? D4_FED_R_TOO_BIG : D4_FED_R_INVALID;
		return 2;
	}
	if (rc) {
		b->err = rc;
		return -1;
	}
	return 0;
}

/* The provenance on the wire of a record released under v: 0, or 2 with v
 * made a refusal ("invalid") when the wire cannot carry it (a path that
 * would pass D4_FED_VIA_MAX with this hub appended). */
static int prov(struct build *b, const struct d4_fed_out *out, struct d4_fed_verdict *v, struct d4_fed_wprov *p)
{
	if (d4_fed_wprov_from_out(b->src->o.self, out, v, p) == 0) {
		/* this hub's own record: under the batch's seal, which the
		 * encoder (w.sign_sk) signs once per batch, for a partner this
		 * hub exchanged keys with (its record holds the partner's public
		 * key), and whether the partner may pass it on is part of what
		 * is signed. Without a key exchange the partner cannot verify
		 * anything it relays and the mutual TLS already names the sender
		 * (docs/federation.md). */
		if (!out->stripped && out->has_origin && !memcmp(out->origin, b->src->o.self->hub, 16)) {
			if (b->src->o.self->sign_sk && b->p->has_pubkey)
				p->flags |= D4_FED_F_SEALED;
			if (b->p->onward)
				p->flags |= D4_FED_F_ONWARD;
		}
		return 0;
	}
	v->decision = D4_FED_REFUSE;
	v->reason = D4_FED_R_INVALID;
	return 2;
}

/* A relayed record's proof as it arrived (a stored proof), or a
 * signature of a version 1 batch: it goes on unchanged. A stored proof
 * that does not parse leaves the record sealed under no seal, which the
 * encoder refuses ("invalid", counted): it cannot go unsigned. */
static void relay_sig(struct d4_fed_wprov *p, uint8_t sig_flags, const uint8_t *sig, const uint8_t *proof,
		      size_t proof_len)
{
	if (sig_flags & D4_STORE_FED_SIG_SEALED) {
		p->flags |= D4_FED_F_SEALED;
		if (d4_fed_proof_decode(proof, proof_len, p) != 0)
			memset(&p->seal, 0, sizeof(p->seal));
	} else if (sig_flags & D4_STORE_FED_SIG_SIGNED) {
		p->flags |= D4_FED_F_SIGNED;
		memcpy(p->sig, sig, 64);
	}
}

/* ---- frames ---- */

static struct scache *session_info(struct d4_fed_source *src, uint64_t id, int *err)
{
	struct scache *c = &src->sc[(id * 0x9e3779b97f4a7c15ULL) >> 56];
	if (c->id == id)
		return c;
	memset(c, 0, sizeof(*c));
	struct d4_session_info si;
	int rc = d4_store_session_get(src->s, id, &si);
	if (rc && rc != D4_ENOTFOUND) {
		*err = rc;
		return NULL;
	}
	c->found = rc == 0;
	if (c->found) {
		memcpy(c->ext, si.ext_type, sizeof(c->ext));
		c->ext[sizeof(c->ext) - 1] = 0;
		c->fed = si.fed != 0;
		rc = c->fed ? d4_store_fed_session_get(src->s, id, &c->fs) : 0;
		if (rc && rc != D4_ENOTFOUND) {
			*err = rc;
			return NULL;
		}
		/* received, but its provenance is gone: it cannot be told from
		 * this hub's own (fail closed below) */
		if (rc == D4_ENOTFOUND)
			c->found = 0;
	}
	c->id = id;
	return c;
}

struct fwalk {
	struct build *b;
	uint64_t next; /* the next seq not yet decided */
	int stopped;
	unsigned passed; /* frames out of the source's scope, passed over */
};

/* A walk over a log of frames out of scope ends after this many, so that
 * one call never holds the log for long; the position moves past them. */
#define SCOPE_PASS_MAX 65536u

static int out_of_scope(struct fwalk *fw, uint64_t seq)
{
	fw->next = seq + 1;
	if (++fw->passed >= SCOPE_PASS_MAX) {
		fw->stopped = 1;
		return 1;
	}
	return 0;
}

static int frame_cb(void *ctx, const struct d4_frame_rec *fr, const uint8_t *payload)
{
	struct fwalk *fw = ctx;
	struct build *b = fw->b;
	struct d4_fed_source *src = b->src;
	if (fr->seq < fw->next)
		return 0;
	if (b->decided >= src->o.max_records) {
		fw->stopped = 1;
		return 1;
	}
	if (src->o.only_types && !(src->o.only_types[fr->type / 8] & (1u << (fr->type % 8))))
		return out_of_scope(fw, fr->seq);
	int err = 0;
	struct scache *sc = session_info(src, fr->session, &err);
	if (!sc) {
		b->err = err;
		return err;
	}
	/* out of scope by extended type; an unknown session is decided (fails closed) */
	if (src->o.only_ext && fr->type == 254 && sc->found && strcmp(sc->ext, src->o.only_ext) != 0)
		return out_of_scope(fw, fr->seq);
	struct d4_fed_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = D4_FED_KIND_FRAMES;
	rec.tlp = (enum d4_tlp)fr->tlp;
	rec.has_org = !is_zero16(fr->org);
	memcpy(rec.org, fr->org, 16);
	const uint8_t(*sensor)[16] = (const uint8_t(*)[16])fr->uuid;
	if (!is_zero16(fr->uuid)) {
		rec.sensors = sensor;
		rec.nsensors = 1;
	}
	rec.type = fr->type;
	rec.ext_type = sc->ext[0] ? sc->ext : NULL;
	uint8_t sig_flags = 0, sig[64], proof[D4_STORE_FED_PROOF_MAX];
	size_t proof_len = 0;
	if (sc->fed) {
		const struct d4_store_fed_prov *pv = &sc->fs.prov;
		rec.stripped = pv->stripped;
		rec.has_origin = pv->has_origin;
		memcpy(rec.origin, pv->origin, 16);
		rec.nvia = pv->nvia <= D4_FED_VIA_MAX ? pv->nvia : D4_FED_VIA_MAX + 1; /* too long: invalid */
		rec.via = (const uint8_t(*)[16])pv->via;
		/* the origin's signature and consent, as the frame arrived */
		int rc = d4_store_fed_sig_read(src->s, fr->seq, &sig_flags, sig, proof, &proof_len);
		if (rc && rc != D4_ENOTFOUND) {
			b->err = rc;
			return rc;
		}
		rec.onward = (sig_flags & D4_STORE_FED_SIG_ONWARD) != 0;
	}
	struct d4_fed_verdict v;
	if (!sc->found) {
		/* Without its session neither the extended type nor whether it came
		 * from a partner is known: fail closed. */
		v.decision = D4_FED_REFUSE;
		v.reason = D4_FED_R_INVALID;
		v.level = D4_TLP_RED;
	} else {
		d4_fed_decide(src->o.self, &b->fp, &b->p->out[D4_FED_KIND_FRAMES], &rec, &v);
	}
	if (v.decision != D4_FED_REFUSE) {
		struct d4_fed_out out;
		d4_fed_outgoing(src->o.self, &rec, &v, &out);
		struct d4_fed_wrec r;
		memset(&r, 0, sizeof(r));
		int a = prov(b, &out, &v, &r.prov);
		if (a == 0 && sc->fed && !out.stripped) {
			/* relayed: the origin's signature goes on unchanged */
			relay_sig(&r.prov, sig_flags, sig, proof, proof_len);
			if (rec.onward)
				r.prov.flags |= D4_FED_F_ONWARD;
		}
		if (a == 0) {
			/* the origin's session id identifies the source too */
			r.origin_session = out.stripped ? 0 : sc->fed ? sc->fs.origin_session : fr->session;
			r.type = fr->type;
			r.ext_type = sc->ext;
			r.ext_type_len = strlen(sc->ext);
			r.hdr_ts = fr->hdr_ts;
			r.recv_ms = fr->recv_ms;
			r.payload = payload;
			r.size = fr->size;
			a = add(b, &r, &v);
		}
		if (a < 0)
			return a;
		if (a == 1) {
			fw->stopped = 1;
			return 1;
		}
		if (a == 0)
			b->released++;
	}
	count(b, &v);
	fw->next = fr->seq + 1;
	if (b->full) {
		fw->stopped = 1;
		return 1;
	}
	return 0;
}

static int frames_next(struct d4_fed_source *src, struct build *b, const uint8_t *from, size_t from_len, uint8_t to[8],
		       int *more)
{
	uint64_t seq = 1;
	if (from_len == 8)
		seq = d4_get_u64be(from);
	else if (from_len != 0)
		return D4_EINVAL;
	if (seq == 0)
		return D4_EINVAL;
	struct fwalk fw = {b, seq, 0, 0};
	int rc = d4_store_frame_foreach(src->s, seq, 0, frame_cb, &fw);
	if (b->err)
		return b->err;
	if (rc < 0)
		return rc;
	d4_put_u64be(to, fw.next);
	*more = fw.stopped;
	return 0;
}

/* ---- backscatter ---- */

struct vwalk {
	struct build *b;
	uint64_t done; /* change_seq of the last vector decided */
	int stopped;
	int held; /* stopped at a vector the rule's mix holds back */
};

/* The egress record of a stored vector: its level, org and sensors; for a
 * received one its origin, path and whether it arrived stripped, so that
 * the one policy decides on relaying, loops and stripped records as for
 * frames. A local vector names no origin: this hub is its origin. */
static void vec_record(const struct d4_store_bs_vec *v, struct d4_fed_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->kind = D4_FED_KIND_BACKSCATTER;
	rec->tlp = (enum d4_tlp)v->tlp;
	rec->has_org = !is_zero16(v->org);
	memcpy(rec->org, v->org, 16);
	if (v->n_sensors) {
		rec->sensors = (const uint8_t(*)[16])v->sensors;
		/* more than the store can hold: refused as invalid by the wire */
		rec->nsensors = v->n_sensors <= D4_STORE_BS_SENSORS ? v->n_sensors : D4_STORE_BS_SENSORS + 1;
	}
	if (v->received) {
		rec->stripped = v->stripped;
		rec->has_origin = !v->stripped;
		memcpy(rec->origin, v->origin, 16);
		rec->nvia = v->nvia <= D4_FED_VIA_MAX ? v->nvia : D4_FED_VIA_MAX + 1; /* too long: invalid */
		rec->via = (const uint8_t(*)[16])v->via;
		rec->onward = (v->sig_flags & D4_STORE_FED_SIG_ONWARD) != 0;
	}
}

static void vec_wire(const struct d4_store_bs_vec *v, int stripped, struct d4_fed_wvec *w)
{
	memcpy(w->victim, v->victim, 16);
	w->kind = v->kind;
	w->state = v->state;
	w->first_us = v->first_us;
	w->last_us = v->last_us;
	w->packets = v->packets;
	w->bytes = v->bytes;
	w->n_ports = (uint8_t)(v->n_ports <= D4_STORE_BS_TOP_PORTS ? v->n_ports : D4_STORE_BS_TOP_PORTS + 1);
	for (unsigned i = 0; i < v->n_ports && i < D4_STORE_BS_TOP_PORTS; i++) {
		w->ports[i].port = v->ports[i].port;
		w->ports[i].packets = v->ports[i].packets;
	}
	w->ports_distinct = v->ports_distinct;
	w->ports_other = v->ports_other;
	w->telescope_addrs = v->telescope_addrs;
	w->peak_ppm = v->peak_ppm;
	w->observed_pps = v->observed_pps;
	w->est_pps = v->est_pps;
	w->est_peak_pps = v->est_peak_pps;
	w->telescope_exact = v->telescope_exact ? 1 : 0;
	w->est_valid = v->est_valid ? 1 : 0;
	/* that there were more sources says something about them: not when
	 * stripped */
	w->sensors_more = !stripped && v->sensors_more;
	w->org_mixed = !stripped && v->org_mixed;
	w->updates = v->updates;
}

static int vec_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct vwalk *vw = ctx;
	struct build *b = vw->b;
	struct d4_fed_source *src = b->src;
	if (v->change_seq <= vw->done)
		return 0;
	if (b->decided >= src->o.max_records) {
		vw->stopped = 1;
		return 1;
	}
	const struct d4_partner_rule *rule = &b->p->out[D4_FED_KIND_BACKSCATTER];
	if (rule->enabled && d4_fed_mix_held(rule, v->stored_s, b->now_s)) {
		/* held back: this change and every later one wait */
		vw->stopped = vw->held = 1;
		return 1;
	}
	struct d4_fed_record rec;
	vec_record(v, &rec);
	rec.packets = v->packets;
	rec.duration_s = v->last_us > v->first_us ? (v->last_us - v->first_us) / 1000000u : 0;
	struct d4_fed_verdict vd;
	d4_fed_decide(src->o.self, &b->fp, rule, &rec, &vd);
	if (vd.decision != D4_FED_REFUSE) {
		struct d4_fed_out out;
		d4_fed_outgoing(src->o.self, &rec, &vd, &out);
		struct d4_fed_wrec r;
		memset(&r, 0, sizeof(r));
		int a = prov(b, &out, &vd, &r.prov);
		if (a == 0 && v->received && !out.stripped) {
			/* relayed: the origin's signature goes on unchanged */
			relay_sig(&r.prov, v->sig_flags, v->sig, v->proof, v->proof_len);
			if (rec.onward)
				r.prov.flags |= D4_FED_F_ONWARD;
		}
		if (a == 0) {
			vec_wire(v, out.stripped, &r.vec);
			d4_fed_mix_apply(src->o.self, rule, D4_FED_KIND_BACKSCATTER, &r);
			a = add(b, &r, &vd);
		}
		if (a < 0)
			return a;
		if (a == 1) {
			vw->stopped = 1;
			return 1;
		}
		if (a == 0)
			b->released++;
	}
	count(b, &vd);
	vw->done = v->change_seq;
	if (b->full) {
		vw->stopped = 1;
		return 1;
	}
	return 0;
}

static int bs_pos(const uint8_t *from, size_t from_len, uint64_t *after)
{
	*after = 0;
	if (from_len == 8)
		*after = d4_get_u64be(from);
	else if (from_len != 0)
		return D4_EINVAL;
	return 0;
}

static int bs_next(struct d4_fed_source *src, struct build *b, const uint8_t *from, size_t from_len, uint8_t to[8],
		   int *more)
{
	uint64_t after;
	if (bs_pos(from, from_len, &after))
		return D4_EINVAL;
	struct vwalk vw = {b, after, 0, 0};
	int rc = d4_store_bs_changes(src->s, after, vec_cb, &vw, NULL);
	if (b->err)
		return b->err;
	if (rc < 0)
		return rc;
	d4_put_u64be(to, vw.done);
	*more = vw.stopped && !vw.held;
	return 0;
}

struct vlag {
	int found;
	uint64_t first_s;
};

static int vlag_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct vlag *l = ctx;
	l->found = 1;
	l->first_s = v->stored_s;
	return 1; /* the first one is enough */
}

/* ---- certs ---- */

/* What a certs record carries besides the tuple, gathered from the store:
 * offsets into src->cbuf (it may move while it fills). */
struct cgather {
	struct d4_fed_source *src;
	int err;
	/* the server's own certificate's names */
	size_t name_off[1 + D4_PSSL_SAN_MAX];
	unsigned nnames;
	/* the chain's DER, in chain order, up to a certificate no longer
	 * stored */
	size_t der_off[D4_PSSL_CHAIN_MAX];
	uint32_t der_len[D4_PSSL_CHAIN_MAX];
	unsigned nder;
	int want_names;
	size_t ja3_off, ja3_len;
	int ja3_found;
};

static int cput(struct d4_fed_source *src, const void *p, size_t n, size_t *off)
{
	if (src->clen + n > src->ccap) {
		size_t c = src->ccap ? src->ccap : 65536;
		while (c < src->clen + n)
			c *= 2;
		uint8_t *nb = realloc(src->cbuf, c);
		if (!nb)
			return D4_ENOMEM;
		src->cbuf = nb;
		src->ccap = c;
	}
	if (n)
		memcpy(src->cbuf + src->clen, p, n);
	*off = src->clen;
	src->clen += n;
	return 0;
}

static int cert_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	struct cgather *g = ctx;
	if (!c->der || c->der_len == 0 || c->der_len > D4_FED_CERT_DER || g->nder >= D4_PSSL_CHAIN_MAX)
		return 1;
	size_t off;
	if ((g->err = cput(g->src, c->der, c->der_len, &off)) != 0)
		return 1;
	g->der_off[g->nder] = off;
	g->der_len[g->nder] = (uint32_t)c->der_len;
	g->nder++;
	if (!g->want_names)
		return 1;
	g->want_names = 0;
	/* the names a rule's zones are matched against: DNS SANs and the CN */
	for (size_t i = 0; i < c->n_san && g->nnames < D4_PSSL_SAN_MAX; i++) {
		if (c->san[i].type != 1 || !c->san[i].value || !c->san[i].len)
			continue;
		if ((g->err = cput(g->src, c->san[i].value, c->san[i].len, &off)) != 0 ||
		    (g->err = cput(g->src, "", 1, &(size_t){0})) != 0)
			return 1;
		g->name_off[g->nnames++] = off;
	}
	if (c->cn && *c->cn) {
		if ((g->err = cput(g->src, c->cn, strlen(c->cn) + 1, &off)) != 0)
			return 1;
		g->name_off[g->nnames++] = off;
	}
	return 1;
}

static int fp_cb(void *ctx, const struct d4_store_pssl_fp *f)
{
	struct cgather *g = ctx;
	if (!f->str)
		return 1;
	size_t n = strlen(f->str);
	if (n > D4_FED_JA3_MAX)
		return 1; /* cut by the store: its MD5 would not match, send none */
	if ((g->err = cput(g->src, f->str, n, &g->ja3_off)) == 0) {
		g->ja3_len = n;
		g->ja3_found = 1;
	}
	return 1;
}

struct cwalk {
	struct build *b;
	uint64_t done; /* change_seq of the last tuple decided */
	int stopped;
};

/* The egress record of a stored tuple. A tuple that holds a partner's
 * observation names that partner as its origin: the policy refuses it as
 * relayed (the store merges observations of several origins into one row
 * and keeps no origin's seal for it: it cannot go on as it came). */
static void tuple_record(const struct d4_store_pssl_tuple *t, struct d4_fed_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->kind = D4_FED_KIND_CERTS;
	rec->tlp = (enum d4_tlp)t->tlp;
	rec->has_org = !is_zero16(t->org) && !t->org_mixed;
	memcpy(rec->org, t->org, 16);
	if (t->nsensors) {
		rec->sensors = (const uint8_t(*)[16])t->sensors;
		rec->nsensors = t->nsensors <= D4_PSSL_SENSORS_KEEP ? t->nsensors : D4_PSSL_SENSORS_KEEP;
	}
	if (t->nhubs) {
		rec->has_origin = 1;
		memcpy(rec->origin, t->hubs[0], 16);
	}
	rec->server_ip = t->server_ip;
	rec->sni = t->sni;
}

static int tuple_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct cwalk *cw = ctx;
	struct build *b = cw->b;
	struct d4_fed_source *src = b->src;
	if (t->change_seq <= cw->done)
		return 0;
	if (b->decided >= src->o.max_records) {
		cw->stopped = 1;
		return 1;
	}
	const struct d4_partner_rule *rule = &b->p->out[D4_FED_KIND_CERTS];
	struct d4_fed_record rec;
	tuple_record(t, &rec);
	/* the certificates and names first: the rule's zones need the names */
	struct cgather *g = calloc(1, sizeof(*g));
	if (!g) {
		b->err = D4_ENOMEM;
		return -1;
	}
	g->src = src;
	src->clen = 0;
	/* the chain up to its first certificate no longer stored, and none
	 * without the server's own: the first one sent is always the
	 * server's own (the receiver makes it the tuple's), the others its
	 * issuers */
	for (unsigned i = 0; t->has_cert && i < t->n_chain && i < D4_PSSL_CHAIN_MAX && !g->err && g->nder == i; i++) {
		g->want_names = i == 0 && t->has_cert;
		int rc = d4_store_pssl_cert_get(src->s, t->chain[i], D4_TLP_RED, cert_cb, g);
		if (rc < 0 && rc != D4_ENOTFOUND)
			g->err = rc;
	}
	const char *names[1 + D4_PSSL_SAN_MAX];
	for (unsigned i = 0; i < g->nnames; i++)
		names[i] = (const char *)src->cbuf + g->name_off[i];
	rec.names = names;
	rec.nnames = g->nnames;
	int err = g->err;
	struct d4_fed_verdict vd;
	if (!err) {
		d4_fed_decide(src->o.self, &b->fp, rule, &rec, &vd);
		/* a sensor list cannot vouch for the sensors the store only counted */
		if (vd.decision != D4_FED_REFUSE && t->sensor_count > t->nsensors &&
		    (rule->n_sensor_allow || rule->n_sensor_deny)) {
			vd.decision = D4_FED_REFUSE;
			vd.reason = D4_FED_R_SENSOR;
		}
	}
	struct d4_fed_wrec r;
	memset(&r, 0, sizeof(r));
	int a = 0;
	if (!err && vd.decision != D4_FED_REFUSE) {
		struct d4_fed_out out;
		d4_fed_outgoing(src->o.self, &rec, &vd, &out);
		a = prov(b, &out, &vd, &r.prov);
		struct d4_fed_wcert *c = &r.cert;
		size_t ja3_off = 0, ja3s_off = 0, ja3_len = 0, ja3s_len = 0;
		for (int k = 0; a == 0 && k < 2 && !err; k++) {
			if (!(k ? t->has_ja3s : t->has_ja3))
				continue;
			g->ja3_found = 0;
			int rc = d4_store_pssl_fp_get(src->s, k ? D4_PSSL_BY_JA3S : D4_PSSL_BY_JA3,
						      k ? t->ja3s_md5 : t->ja3_md5, D4_TLP_RED, fp_cb, g);
			if (rc < 0 && rc != D4_ENOTFOUND)
				err = rc;
			err = err ? err : g->err;
			if (g->ja3_found) {
				*(k ? &ja3s_off : &ja3_off) = g->ja3_off;
				*(k ? &ja3s_len : &ja3_len) = g->ja3_len;
			}
		}
		if (a == 0 && !err) {
			memcpy(c->server_ip, t->server_ip, 16);
			c->server_port = t->server_port;
			c->has_ja3 = t->has_ja3;
			c->has_ja3s = t->has_ja3s;
			memcpy(c->ja3_md5, t->ja3_md5, 16);
			memcpy(c->ja3s_md5, t->ja3s_md5, 16);
			c->ja3 = ja3_len ? (const char *)src->cbuf + ja3_off : NULL;
			c->ja3_len = ja3_len;
			c->ja3s = ja3s_len ? (const char *)src->cbuf + ja3s_off : NULL;
			c->ja3s_len = ja3s_len;
			c->sni = t->sni;
			c->sni_len = t->sni ? t->sni_len : 0;
			c->ja4 = t->ja4;
			c->ja4_len = t->ja4 ? strlen(t->ja4) : 0;
			c->time_first = t->time_first;
			c->time_last = t->time_last;
			c->count = t->count ? t->count : 1;
			c->n_certs = (uint8_t)g->nder;
			for (unsigned i = 0; i < g->nder; i++) {
				c->certs[i].der = src->cbuf + g->der_off[i];
				c->certs[i].len = g->der_len[i];
			}
			a = add(b, &r, &vd);
		}
	}
	free(g);
	if (err) {
		b->err = err;
		return -1;
	}
	if (a < 0)
		return a;
	if (a == 1) {
		cw->stopped = 1;
		return 1;
	}
	if (vd.decision != D4_FED_REFUSE && a == 0)
		b->released++;
	count(b, &vd);
	cw->done = t->change_seq;
	if (b->full) {
		cw->stopped = 1;
		return 1;
	}
	return 0;
}

static int certs_next(struct d4_fed_source *src, struct build *b, const uint8_t *from, size_t from_len, uint8_t to[8],
		      int *more)
{
	uint64_t after;
	if (bs_pos(from, from_len, &after))
		return D4_EINVAL;
	struct cwalk cw = {b, after, 0};
	int rc = d4_store_pssl_changes(src->s, after, tuple_cb, &cw, NULL);
	if (b->err)
		return b->err;
	if (rc < 0)
		return rc;
	d4_put_u64be(to, cw.done);
	*more = cw.stopped;
	return 0;
}

struct clag {
	int found;
	uint64_t first_s;
};

static int clag_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct clag *l = ctx;
	l->found = 1;
	l->first_s = t->time_last;
	return 1;
}

/* ---- pdns ---- */

/* Copies one consumer batch (obs borrowed for the call) into src->pb. */
static int pdns_sink(void *ctx, const struct d4_store_pdns_obs *obs, const uint64_t *frame_seq, size_t n, size_t nfixed,
		     const uint8_t *cursor, size_t cursor_len)
{
	struct d4_fed_source *src = ctx;
	struct pbatch *pb = &src->pb;
	pb->valid = 0;
	pb->seen_epoch = 0;
	pb->side_epoch = 0;
	if (cursor_len > sizeof(pb->to)) {
		src->sink_err = D4_ETOOBIG;
		return D4_ETOOBIG;
	}
	size_t need = 0;
	for (size_t i = 0; i < n; i++)
		need += obs[i].rrname_len + obs[i].rdata_len + (obs[i].bailiwick ? strlen(obs[i].bailiwick) : 0) + 3;
	if (n > pb->cap) {
		struct d4_store_pdns_obs *no = realloc(pb->obs, n * sizeof(*no));
		if (!no)
			goto nomem;
		pb->obs = no;
		uint64_t *nq = realloc(pb->seq, n * sizeof(*nq));
		if (!nq)
			goto nomem;
		pb->seq = nq;
		pb->cap = n;
	}
	if (need > pb->acap) {
		char *na = realloc(pb->arena, need);
		if (!na)
			goto nomem;
		pb->arena = na;
		pb->acap = need;
	}
	char *a = pb->arena;
	for (size_t i = 0; i < n; i++) {
		struct d4_store_pdns_obs *o = &pb->obs[i];
		*o = obs[i];
		memcpy(a, obs[i].rrname, obs[i].rrname_len);
		a[obs[i].rrname_len] = 0;
		o->rrname = a;
		a += obs[i].rrname_len + 1;
		memcpy(a, obs[i].rdata, obs[i].rdata_len);
		a[obs[i].rdata_len] = 0;
		o->rdata = a;
		a += obs[i].rdata_len + 1;
		size_t bl = obs[i].bailiwick ? strlen(obs[i].bailiwick) : 0;
		memcpy(a, bl ? obs[i].bailiwick : "", bl);
		a[bl] = 0;
		o->bailiwick = a;
		a += bl + 1;
		pb->seq[i] = frame_seq ? frame_seq[i] : 0;
	}
	pb->n = n;
	pb->nfixed = nfixed;
	memcpy(pb->from, src->pxcur, src->pxcur_len);
	pb->from_len = src->pxcur_len;
	memcpy(pb->to, cursor, cursor_len);
	pb->to_len = cursor_len;
	/* the consumer commits: it is at the cursor after this batch */
	memcpy(src->pxcur, cursor, cursor_len);
	src->pxcur_len = cursor_len;
	pb->valid = 1;
	return 0;
nomem:
	src->sink_err = D4_ENOMEM;
	return D4_ENOMEM;
}

static void consumer_drop(struct d4_fed_source *src)
{
	d4_analyze_pdns_free(src->px);
	src->px = NULL;
}

/* Makes src->pb the consumer batch that starts at cursor cur. 0 (pb valid),
 * 1 when the log holds nothing past it yet, or an error. */
static int pdns_batch(struct d4_fed_source *src, const uint8_t *cur, size_t cur_len)
{
	struct pbatch *pb = &src->pb;
	if (pb->valid && pb->from_len == cur_len && !memcmp(pb->from, cur, cur_len))
		return 0;
	pb->valid = 0;
	if (src->px && (src->pxcur_len != cur_len || memcmp(src->pxcur, cur, cur_len)))
		consumer_drop(src);
	if (!src->px) {
		struct d4_analyze_pdns_opts po;
		memset(&po, 0, sizeof(po));
		po.csv_fields = src->o.pdns_csv_fields;
		po.csv_separator = src->o.pdns_csv_separator;
		po.batch = PDNS_BATCH;
		po.sink = pdns_sink;
		po.sink_ctx = src;
		po.cursor = cur;
		po.cursor_len = cur_len;
		int rc = d4_analyze_pdns_new(src->s, &po, &src->px);
		if (rc)
			return rc == D4_ECORRUPT ? D4_EINVAL : rc; /* not a position this hub made */
		memcpy(src->pxcur, cur, cur_len);
		src->pxcur_len = cur_len;
	}
	src->sink_err = 0;
	int idle = 0;
	int rc = d4_analyze_pdns_step(src->px, 1, &idle);
	if (rc < 0) {
		/* the consumer's state is past its cursor or unknown: start again */
		consumer_drop(src);
		return src->sink_err ? src->sink_err : rc;
	}
	return pb->valid ? 0 : 1;
}

static void put_pos(uint8_t *out, size_t *len, const uint8_t *cur, size_t cur_len, uint32_t skip)
{
	memcpy(out, cur, cur_len);
	d4_put_u32be(out + cur_len, skip);
	*len = cur_len + 4;
}

/* Two independent 64-bit hashes of a tuple (rrname, rrtype, rdata): the
 * cache below is keyed by both, so that a collision that would lend one
 * tuple another's counts needs 128 bits to agree. */
static void tuple_hash(const struct d4_store_pdns_obs *o, uint64_t h[2])
{
	uint64_t a = 0xcbf29ce484222325ULL, b = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < o->rrname_len; i++) {
		a = (a ^ (uint8_t)o->rrname[i]) * 0x100000001b3ULL;
		b = (b + (uint8_t)o->rrname[i]) * 0xff51afd7ed558ccdULL;
		b ^= b >> 29;
	}
	a = (a ^ 0xff ^ o->rrtype) * 0x100000001b3ULL;
	b = (b + 0x100u + o->rrtype) * 0xff51afd7ed558ccdULL;
	for (size_t i = 0; i < o->rdata_len; i++) {
		a = (a ^ (uint8_t)o->rdata[i]) * 0x100000001b3ULL;
		b = (b + (uint8_t)o->rdata[i]) * 0xc4ceb9fe1a85ec53ULL;
		b ^= b >> 31;
	}
	h[0] = a ^ o->rdata_len;
	h[1] = b ^ ((uint64_t)o->rrname_len << 32);
}

/* The cache is two-way: a tuple is in one of the two slots of its set,
 * the newest first. */
static const struct seen *seen_find(const struct d4_fed_source *src, const uint64_t h[2])
{
	const struct seen *e = &src->seen[(h[0] % (SEEN_SLOTS / 2)) * 2];
	for (int w = 0; w < 2; w++)
		if (e[w].h[0] == h[0] && e[w].h[1] == h[1])
			return &e[w];
	return NULL;
}

static void seen_put(struct d4_fed_source *src, const uint64_t h[2], uint64_t count, uint32_t sensors)
{
	struct seen *e = &src->seen[(h[0] % (SEEN_SLOTS / 2)) * 2];
	if (!(e[0].h[0] == h[0] && e[0].h[1] == h[1]))
		e[1] = e[0];
	e[0].h[0] = h[0];
	e[0].h[1] = h[1];
	e[0].count = count;
	e[0].sensors = sensors;
}

static int mix_passes(const struct d4_partner_mix *m, uint64_t count, uint32_t sensors)
{
	return (m->min_sensors && sensors >= m->min_sensors) || (m->min_count && count >= m->min_count);
}

/* What the hub's tuple store holds of the tuple of pb->obs[i] (count,
 * distinct sensors; 0, 0 when it holds none yet: the hub's own consumer has
 * not stored it). Read for the rest of the consumer batch at once, in one
 * read transaction, once per call; a tuple the cache knows to have passed
 * the rule's thresholds already is not read again (counts only grow), one
 * that has not is always read afresh. */
static int tuple_seen(struct build *b, const struct d4_partner_mix *m, size_t i, uint64_t *count, uint32_t *sensors)
{
	struct d4_fed_source *src = b->src;
	struct pbatch *pb = &src->pb;
	if (pb->seen_epoch != src->epoch || i < pb->seen_from) {
		if (!src->seen && !(src->seen = calloc(SEEN_SLOTS, sizeof(*src->seen))))
			return D4_ENOMEM;
		if (pb->n > pb->seen_cap) {
			uint64_t *c = realloc(pb->seen_count, pb->n * sizeof(*c));
			if (c)
				pb->seen_count = c;
			uint32_t *n = realloc(pb->seen_sensors, pb->n * sizeof(*n));
			if (n)
				pb->seen_sensors = n;
			struct d4_store_pdns_obs *q = realloc(pb->seen_q, pb->n * sizeof(*q));
			if (q)
				pb->seen_q = q;
			if (!c || !n || !q)
				return D4_ENOMEM;
			pb->seen_cap = pb->n;
		}
		/* each tuple the cache cannot answer is read once (a consumer batch
		 * repeats popular tuples): tab maps a hash to its query slot */
		size_t span = pb->n - i, tsz = 16;
		while (tsz < 2 * span)
			tsz *= 2;
		uint32_t *tab = calloc(tsz, sizeof(*tab)); /* query index + 1, 0 = free */
		uint64_t(*hq)[2] = malloc((span ? span : 1) * sizeof(*hq));
		uint32_t *qof = malloc((span ? span : 1) * sizeof(*qof)); /* obs j - i -> query index, or UINT32_MAX */
		uint64_t *tc = malloc((span ? span : 1) * sizeof(*tc));
		uint32_t *ts = malloc((span ? span : 1) * sizeof(*ts));
		int rc = (!tab || !hq || !qof || !tc || !ts) ? D4_ENOMEM : 0;
		size_t nq = 0;
		for (size_t j = i; j < pb->n && !rc; j++) {
			uint64_t h[2];
			tuple_hash(&pb->obs[j], h);
			const struct seen *e = seen_find(src, h);
			if (e && mix_passes(m, e->count, e->sensors)) {
				pb->seen_count[j] = e->count;
				pb->seen_sensors[j] = e->sensors;
				qof[j - i] = UINT32_MAX;
				continue;
			}
			size_t at = (size_t)(h[1] & (tsz - 1));
			while (tab[at] && (hq[tab[at] - 1][0] != h[0] || hq[tab[at] - 1][1] != h[1]))
				at = (at + 1) & (tsz - 1);
			if (!tab[at]) {
				hq[nq][0] = h[0];
				hq[nq][1] = h[1];
				pb->seen_q[nq] = pb->obs[j];
				tab[at] = (uint32_t)++nq;
			}
			qof[j - i] = tab[at] - 1;
		}
		if (!rc && nq)
			rc = d4_store_pdns_seen(src->s, pb->seen_q, nq, tc, ts);
		for (size_t k = 0; k < nq && !rc; k++)
			seen_put(src, hq[k], tc[k], ts[k]);
		for (size_t j = i; j < pb->n && !rc; j++)
			if (qof[j - i] != UINT32_MAX) {
				pb->seen_count[j] = tc[qof[j - i]];
				pb->seen_sensors[j] = ts[qof[j - i]];
			}
		free(tab);
		free(hq);
		free(qof);
		free(tc);
		free(ts);
		if (rc)
			return rc;
		pb->seen_from = i;
		pb->seen_epoch = src->epoch;
	}
	*count = pb->seen_count[i];
	*sensors = pb->seen_sensors[i];
	return 0;
}

/* ---- the thresholds from the side records (docs/federation.md "Mixing
 * before sharing", "How it works") ---- */

struct side_rd {
	struct pbatch *pb;
};

static int side_cb(void *ctx, size_t i, const uint8_t *val, size_t len)
{
	struct pbatch *pb = ((struct side_rd *)ctx)->pb;
	size_t g = pb->side_run[i], e = g + 1;
	while (e < pb->nfixed && pb->seq[e] == pb->seq[g])
		e++;
	uint64_t fp;
	size_t n;
	/* a record that does not match this frame's observations (another
	 * consumer's view of it: a replay limit, retention) answers nothing */
	if (d4_store_pdns_side_decode(val, len, &fp, pb->side + g, e - g, &n) == 0 && n == e - g &&
	    fp == d4_store_pdns_side_fp(pb->obs + g, e - g))
		memset(pb->side_ok + g, 1, e - g);
	return 0;
}

/* What the side record of its frame says of pb->obs[i]'s tuple right
 * after the hub's consumer merged this very observation (*e), or NULL when
 * its frame has none (the tuple store is read as before; *err on an
 * error). The records of the batch's frames are read once per call: one
 * get per frame, none per tuple. */
static const struct d4_store_pdns_side_obs *side_get(struct build *b, size_t i, int *err)
{
	struct d4_fed_source *src = b->src;
	struct pbatch *pb = &src->pb;
	if (pb->side_epoch != src->epoch) {
		size_t n = pb->nfixed;
		if (n > pb->side_cap) {
			struct d4_store_pdns_side_obs *se = realloc(pb->side, n * sizeof(*se));
			if (se)
				pb->side = se;
			uint8_t *ok = realloc(pb->side_ok, n);
			if (ok)
				pb->side_ok = ok;
			size_t *run = realloc(pb->side_run, n * sizeof(*run));
			if (run)
				pb->side_run = run;
			uint64_t *sq = realloc(pb->side_seqs, n * sizeof(*sq));
			if (sq)
				pb->side_seqs = sq;
			if (!se || !ok || !run || !sq) {
				*err = D4_ENOMEM;
				return NULL;
			}
			pb->side_cap = n;
		}
		size_t nr = 0;
		for (size_t g = 0; g < n; g++) {
			pb->side_ok[g] = 0;
			if (pb->seq[g] && (g == 0 || pb->seq[g] != pb->seq[g - 1])) {
				pb->side_run[nr] = g;
				pb->side_seqs[nr++] = pb->seq[g];
			}
		}
		struct side_rd rd = {pb};
		int rc = d4_store_pdns_side_read(src->s, pb->side_seqs, nr, side_cb, &rd);
		if (rc) {
			*err = rc;
			return NULL;
		}
		pb->side_epoch = src->epoch;
	}
	return i < pb->nfixed && pb->side_ok[i] ? &pb->side[i] : NULL;
}

/* Whether the observation that brought its tuple past the rule's
 * thresholds (e) goes as the tuple's aggregate so far: only when every
 * observation in it would have gone to this partner had it passed then --
 * the tuple's level (the most restrictive of its sources) released by the
 * rule, one org, nothing received from partners (their rules and consent
 * govern those), no sensor list in the rule (the earlier observations'
 * sensors are not known), and the tuple's last time past the hold-back. */
static int side_aggregate(struct build *b, const struct d4_partner_rule *rule, const struct d4_fed_record *rec,
			  const struct d4_store_pdns_obs *o, const struct d4_store_pdns_side_obs *e,
			  struct d4_fed_verdict *v)
{
	uint64_t own = o->count ? o->count : 1;
	struct d4_fed_record whole = *rec;
	whole.seen_count = e->count >= own ? e->count - own : 0;
	whole.seen_sensors = e->sensors_before;
	if (mix_passes(&rule->mix, whole.seen_count, whole.seen_sensors))
		return 0; /* passed before: this one goes as itself */
	if (e->count <= own || e->org_mixed || e->received || e->tlp < 1 || e->tlp > 6 || rule->n_sensor_allow ||
	    rule->n_sensor_deny)
		return 0;
	uint64_t tl = o->time_first < o->time_last ? o->time_last : o->time_first;
	if (d4_fed_mix_held(rule, tl + e->tl_delta < tl ? UINT64_MAX : tl + e->tl_delta, b->now_s))
		return 0;
	whole.tlp = (enum d4_tlp)e->tlp;
	whole.seen_count = e->count;
	whole.seen_sensors = e->sensors;
	d4_fed_decide(b->src->o.self, &b->fp, rule, &whole, v);
	return v->decision != D4_FED_REFUSE;
}

/* Decides obs, which goes with the counters and the wire record. Returns
 * as add(); 3 = not a record (the tuple store would skip it as well). */
static int pdns_one(struct build *b, const struct d4_store_pdns_obs *o, struct d4_fed_verdict *v)
{
	struct d4_fed_source *src = b->src;
	if (o->rrname_len == 0 || o->rrname_len > D4_PDNS_STORE_NAME_MAX - 1 || o->rdata_len > D4_PDNS_STORE_RDATA_MAX)
		return 3;
	struct d4_fed_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = D4_FED_KIND_PDNS;
	rec.tlp = (enum d4_tlp)o->tlp;
	rec.has_org = !is_zero16(o->org);
	memcpy(rec.org, o->org, 16);
	if (o->has_sensor) {
		rec.sensors = (const uint8_t(*)[16])o->sensor;
		rec.nsensors = 1;
	}
	rec.rrname = o->rrname;
	rec.rrtype = o->rrtype;
	rec.rdata = o->rdata;
	const struct d4_partner_rule *rule = &b->p->out[D4_FED_KIND_PDNS];
	int thresholds = rule->enabled && rule->mix.enabled && (rule->mix.min_sensors || rule->mix.min_count);
	/* The tuple store is read only once a tuple every other check lets go
	 * needs it: decided first as if seen enough, then on what the store
	 * holds. What was read for the rest of the consumer batch then is
	 * decided on at once. */
	size_t idx = (size_t)(o - src->pb.obs);
	/* the side record of the observation's frame answers without a read */
	int err = 0, known = 0, whole = 0;
	const struct d4_store_pdns_side_obs *se = thresholds ? side_get(b, idx, &err) : NULL;
	if (err) {
		b->err = err;
		return -1;
	}
	if (se) {
		known = 1;
		rec.seen_count = se->count;
		rec.seen_sensors = se->sensors;
	} else {
		known = thresholds && src->pb.seen_epoch == src->epoch && idx >= src->pb.seen_from && idx < src->pb.n;
		rec.seen_count = known ? src->pb.seen_count[idx] : UINT64_MAX;
		rec.seen_sensors = known ? src->pb.seen_sensors[idx] : UINT32_MAX;
	}
	d4_fed_decide(src->o.self, &b->fp, rule, &rec, v);
	if (v->decision != D4_FED_REFUSE && thresholds && !known) {
		int rc = tuple_seen(b, &rule->mix, idx, &rec.seen_count, &rec.seen_sensors);
		if (rc) {
			b->err = rc;
			return -1;
		}
		d4_fed_decide(src->o.self, &b->fp, rule, &rec, v);
	}
	if (v->decision == D4_FED_REFUSE)
		return 2;
	struct d4_fed_verdict vw;
	if (se && side_aggregate(b, rule, &rec, o, se, &vw)) {
		/* the crossing goes as the tuple so far, at the tuple's level */
		whole = 1;
		rec.tlp = (enum d4_tlp)se->tlp;
		*v = vw;
	}
	struct d4_fed_out out;
	d4_fed_outgoing(src->o.self, &rec, v, &out);
	struct d4_fed_wrec r;
	memset(&r, 0, sizeof(r));
	if (prov(b, &out, v, &r.prov))
		return 2;
	r.rrname = o->rrname;
	r.rrname_len = o->rrname_len;
	r.rrtype = o->rrtype;
	r.rdata = o->rdata;
	r.rdata_len = o->rdata_len;
	r.bailiwick = o->bailiwick;
	r.bailiwick_len = strlen(o->bailiwick);
	/* the tuple store's normalisation */
	r.time_first = o->time_first <= o->time_last ? o->time_first : o->time_last;
	r.time_last = o->time_first <= o->time_last ? o->time_last : o->time_first;
	r.count = o->count ? o->count : 1;
	if (whole) {
		r.count = se->count;
		r.time_first = r.time_first >= se->tf_delta ? r.time_first - se->tf_delta : 0;
	}
	d4_fed_mix_apply(src->o.self, rule, D4_FED_KIND_PDNS, &r);
	return add(b, &r, v);
}

/* A pdns batch: whole consumer batches while they fit; one that does not
 * is cut (to = its cursor ‖ the observations decided). A batch is never cut
 * inside the consumer batch's last lines of ended streams (obs[nfixed..n)):
 * another run from the same cursor may place other observations before
 * them, so a skip that counted some of them would skip the wrong ones.
 * They go all together, or the cut is before the first of them. */
static int pdns_next(struct d4_fed_source *src, struct build *b, const uint8_t *from, size_t from_len, uint8_t *to,
		     size_t *to_len, int *more)
{
	if (from_len != 0 && (from_len < 4 || from_len - 4 > D4_PDNS_CURSOR_VALUE_MAX))
		return D4_EINVAL;
	uint8_t cur[D4_PDNS_CURSOR_VALUE_MAX];
	size_t cur_len = from_len ? from_len - 4 : 0;
	if (cur_len)
		memcpy(cur, from, cur_len);
	uint32_t skip = from_len ? d4_get_u32be(from + cur_len) : 0;
	put_pos(to, to_len, cur, cur_len, skip);
	*more = 0;
	struct d4_fed_wbuf *w = &src->w;
	const struct d4_partner_rule *rule = &b->p->out[D4_FED_KIND_PDNS];
	int held = 0;
	for (;;) {
		int rc = pdns_batch(src, cur, cur_len);
		if (rc == 1)
			return 0; /* caught up */
		if (rc)
			return rc;
		struct pbatch *pb = &src->pb;
		if (skip > pb->n) /* not a position of this batch: made with other settings, or frames gone */
			skip = (uint32_t)pb->n;
		size_t i = skip;
		int cut = 0;
		/* undo point at the first last line, when the batch holds records
		 * already; if it does not, the last lines may fill a batch up to
		 * D4_FED_BATCH_MAX and what does not fit even then is too big */
		struct d4_fed_counters mark_c = *b->dec;
		size_t mark_len = 0;
		uint32_t mark_nrec = 0, mark_rel = 0;
		unsigned mark_dec = 0;
		int in_final = 0;
		for (; i < pb->n && !cut; i++) {
			if (i == pb->nfixed && !in_final) {
				if (b->decided >= src->o.max_records || b->full) {
					cut = 1;
					break;
				}
				in_final = 1;
				mark_len = w->len;
				mark_nrec = w->nrecords;
				mark_rel = b->released;
				mark_dec = b->decided;
				mark_c = *b->dec;
				if (mark_nrec == 0)
					w->max_bytes = D4_FED_BATCH_MAX;
			}
			if (!in_final && (b->decided >= src->o.max_records || b->full)) {
				cut = 1;
				break;
			}
			const struct d4_store_pdns_obs *ob = &pb->obs[i];
			if (rule->enabled &&
			    d4_fed_mix_held(rule, ob->time_last > ob->time_first ? ob->time_last : ob->time_first,
					    b->now_s)) {
				/* held back: it and every later one wait; the last lines
				 * of ended streams go together, so all of them wait */
				if (in_final) {
					w->len = mark_len;
					w->nrecords = mark_nrec;
					b->released = mark_rel;
					b->decided = mark_dec;
					*b->dec = mark_c;
					i = pb->nfixed;
				}
				held = cut = 1;
				break;
			}
			struct d4_fed_verdict v;
			int a = pdns_one(b, &pb->obs[i], &v);
			if (a < 0)
				return a;
			if (a == 1 && in_final && mark_nrec > 0) {
				/* back to before the last lines: they start the next batch */
				w->len = mark_len;
				w->nrecords = mark_nrec;
				b->released = mark_rel;
				b->decided = mark_dec;
				*b->dec = mark_c;
				i = pb->nfixed;
				cut = 1;
				break;
			}
			if (a == 1 && !in_final) {
				cut = 1;
				break;
			}
			if (a == 1) { /* last lines over D4_FED_BATCH_MAX together */
				v.decision = D4_FED_REFUSE;
				v.reason = D4_FED_R_TOO_BIG;
				a = 2;
			}
			if (a == 0)
				b->released++;
			if (a != 3)
				count(b, &v);
		}
		w->max_bytes = src->o.max_bytes;
		if (cut) {
			put_pos(to, to_len, cur, cur_len, (uint32_t)i);
			*more = !held;
			return 0;
		}
		/* the whole consumer batch is decided: its cursor is the position */
		memcpy(cur, pb->to, pb->to_len);
		cur_len = pb->to_len;
		skip = 0;
		put_pos(to, to_len, cur, cur_len, 0);
		if (b->full || b->decided >= src->o.max_records) {
			*more = 1;
			return 0;
		}
	}
}

int d4_fed_source_next(struct d4_fed_source *src, const struct d4_partner *p, const uint8_t *from, size_t from_len,
		       const uint8_t **out, size_t *outlen, struct d4_fed_counters *decisions, uint32_t *records,
		       int *more)
{
	*out = NULL;
	*outlen = 0;
	*records = 0;
	*more = 0;
	memset(decisions, 0, sizeof(*decisions));
	if (!src || !p || (from_len && !from) || from_len > D4_FED_POS_MAX)
		return D4_EINVAL;
	struct build b;
	memset(&b, 0, sizeof(b));
	b.src = src;
	b.p = p;
	b.dec = decisions;
	b.now_s = src->o.now ? src->o.now(src->o.now_arg) : d4_now_s();
	src->epoch++; /* what the tuple store held is read again */
	partner_view(p, &b.fp);
	int rc = d4_fed_wbuf_begin(&src->w, src->kind, src->o.self->hub, from, from_len);
	if (rc)
		return rc;
	src->w.max_bytes = src->o.max_bytes;
	src->w.sign_sk = src->o.self->sign_sk;
	uint8_t to[D4_FED_POS_MAX];
	size_t to_len = 0;
	if (src->kind == D4_FED_KIND_FRAMES) {
		rc = frames_next(src, &b, from, from_len, to, more);
		to_len = 8;
	} else if (src->kind == D4_FED_KIND_BACKSCATTER) {
		rc = bs_next(src, &b, from, from_len, to, more);
		to_len = 8;
	} else if (src->kind == D4_FED_KIND_CERTS) {
		rc = certs_next(src, &b, from, from_len, to, more);
		to_len = 8;
	} else {
		rc = pdns_next(src, &b, from, from_len, to, &to_len, more);
	}
	if (rc) {
		memset(decisions, 0, sizeof(*decisions));
		return rc;
	}
	/* nothing in the log yet: the start stays the empty position */
	static const uint8_t zero[8];
	if (from_len == 0 && b.decided == 0 &&
	    ((src->kind == D4_FED_KIND_FRAMES && d4_get_u64be(to) == 1) ||
	     ((src->kind == D4_FED_KIND_BACKSCATTER || src->kind == D4_FED_KIND_CERTS) && d4_get_u64be(to) == 0) ||
	     (src->kind == D4_FED_KIND_PDNS && to_len == 4 && !memcmp(to, zero, 4))))
		to_len = 0;
	rc = d4_fed_wbuf_finish(&src->w, to, to_len, out, outlen);
	if (rc) {
		memset(decisions, 0, sizeof(*decisions));
		return rc;
	}
	*records = b.released;
	return 0;
}

/* ---- lag ---- */

struct first {
	uint64_t seq, recv_ms;
	int found;
};

static int first_cb(void *ctx, const struct d4_frame_rec *fr, const uint8_t *payload)
{
	(void)payload;
	struct first *f = ctx;
	if (fr->seq < f->seq)
		return 0;
	f->found = 1;
	f->seq = fr->seq;
	f->recv_ms = fr->recv_ms;
	return 1;
}

int d4_fed_source_lag(struct d4_fed_source *src, const uint8_t *pos, size_t pos_len, uint64_t *records,
		      uint64_t *seconds)
{
	*records = 0;
	*seconds = 0;
	if (!src || (pos_len && !pos))
		return D4_EINVAL;
	if (src->kind == D4_FED_KIND_BACKSCATTER) {
		/* the vector writes since the position (a vector written twice
		 * since counts twice, though it goes once): the change sequence
		 * counts them, so the lag costs one read, not a walk over a
		 * backlog the sender asks about after every acknowledgement */
		uint64_t after, last = 0;
		if (bs_pos(pos, pos_len, &after))
			return D4_EINVAL;
		struct vlag l = {0, 0};
		int rc = d4_store_bs_changes(src->s, after, vlag_cb, &l, &last);
		if (rc < 0)
			return rc;
		if (!l.found)
			return 0; /* nothing waits (what was written since is gone) */
		*records = last > after ? last - after : 0;
		uint64_t now = d4_now_s();
		*seconds = now > l.first_s ? now - l.first_s : 0;
		return 0;
	}
	if (src->kind == D4_FED_KIND_CERTS) {
		/* as for vectors: the change sequence counts the tuple writes
		 * since the position; the age is the first one's last handshake */
		uint64_t after, last = 0;
		if (bs_pos(pos, pos_len, &after))
			return D4_EINVAL;
		struct clag l = {0, 0};
		int rc = d4_store_pssl_changes(src->s, after, clag_cb, &l, &last);
		if (rc < 0)
			return rc;
		if (!l.found)
			return 0;
		*records = last > after ? last - after : 0;
		uint64_t now = d4_now_s();
		*seconds = now > l.first_s ? now - l.first_s : 0;
		return 0;
	}
	uint64_t next = 1; /* the first frame not yet past the position */
	if (src->kind == D4_FED_KIND_FRAMES) {
		if (pos_len == 8)
			next = d4_get_u64be(pos);
		else if (pos_len != 0)
			return D4_EINVAL;
	} else {
		if (pos_len != 0 && pos_len < 4)
			return D4_EINVAL;
		uint64_t done = 0;
		if (pos_len && d4_analyze_pdns_cursor_done(pos, pos_len - 4, &done) != 0)
			return D4_EINVAL;
		next = done + 1;
	}
	struct d4_totals t;
	int rc = d4_store_totals(src->s, &t);
	if (rc)
		return rc;
	if (t.frames < next)
		return 0;
	struct first f = {next, 0, 0};
	rc = d4_store_frame_foreach(src->s, next, 0, first_cb, &f);
	if (rc < 0)
		return rc;
	if (!f.found)
		return 0;
	/* frames retention deleted are not waiting any more */
	*records = t.frames - f.seq + 1;
	uint64_t now = d4_now_ms();
	*seconds = now > f.recv_ms ? (now - f.recv_ms) / 1000 : 0;
	return 0;
}
