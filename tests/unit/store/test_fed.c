/* Unit tests of the store's federation state: the fed_out / fed_in / session
 * v2 codecs (round trip, every truncation), the position rule of received
 * batches (first, in order, resend, mismatch; exact counts), received frames
 * in the frame log under local sessions with their provenance, received
 * tuples merged with local ones (min/max/sum, origin hubs), positions kept
 * across a reopen and a SIGKILL, a batch that does not fit failing whole,
 * and partner_del taking the partner's fed_out records with it. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_fed.h"
#include "d4_store_partner.h"
#include "d4_store_pdns.h"
#include "d4_util.h"
#include "store_internal.h"

#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256], storedir[300];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	d4_log_init("test_store_fed", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4fed-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store_opts base_opts(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 64u << 20;
	o.commit_ms = 5;
	o.no_sync = 1;
	return o;
}

static struct d4_store *open_store(const struct d4_store_opts *o)
{
	struct d4_store *s = NULL;
	int rc = d4_store_open(o, &s);
	ck_assert_msg(rc == 0, "open: %s", d4_strerror(rc));
	return s;
}

static struct d4_store *open_writer(void)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	return s;
}

static void mkuuid(uint8_t u[16], unsigned n)
{
	memset(u, 0, 16);
	u[0] = 0xd4;
	u[6] = 0x40;
	u[8] = 0x80;
	u[15] = (uint8_t)n;
	u[14] = (uint8_t)(n >> 8);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31u + i * 7u);
}

/* Submits b and waits for it through its eventfd (as the listener does). */
static int submit_wait(struct d4_store *s, struct d4_store_fed_batch *b)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	b->notify_fd = fd;
	int rc = d4_store_fed_submit(s, b);
	if (rc) {
		close(fd);
		return rc;
	}
	uint64_t v;
	ck_assert_int_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ck_assert_int_ne(__atomic_load_n(&b->done, __ATOMIC_ACQUIRE), 0);
	close(fd);
	return b->result;
}

/* A batch of kind k from sender hub 200, partner "hub-b". */
static void batch_init(struct d4_store_fed_batch *b, uint8_t kind, const char *from, const char *to)
{
	memset(b, 0, sizeof(*b));
	mkuuid(b->sender, 200);
	strcpy(b->partner, "hub-b");
	b->kind = kind;
	b->from = (const uint8_t *)from;
	b->from_len = strlen(from);
	b->to = (const uint8_t *)to;
	b->to_len = strlen(to);
	b->notify_fd = -1;
}

static struct d4_store_fed_prov prov_a; /* origin hub 300 via 250, 200 */

static void prov_init(void)
{
	memset(&prov_a, 0, sizeof(prov_a));
	prov_a.has_origin = 1;
	mkuuid(prov_a.origin, 300);
	prov_a.nvia = 2;
	mkuuid(prov_a.via[0], 250);
	mkuuid(prov_a.via[1], 200);
}

static uint8_t payload[4096];

static void frame_init(struct d4_store_fed_frame *f, uint64_t origin_session, unsigned sensor, uint32_t size,
		       unsigned i)
{
	memset(f, 0, sizeof(*f));
	f->origin_session = origin_session;
	mkuuid(f->sensor, sensor);
	f->type = 254;
	f->ext_type = "pdns";
	f->tlp = 2;
	f->has_org = 1;
	mkuuid(f->org, 77);
	f->hdr_ts = 1700000000u + i;
	f->recv_ms = 1700000000000ull + i;
	f->payload = payload;
	f->size = size;
	f->prov = &prov_a;
}

struct fcount {
	uint64_t n, bytes;
	uint64_t sessions[16];
	unsigned nsess;
	int bad;
};

static int fcount_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *pl)
{
	struct fcount *c = ctx;
	c->n++;
	c->bytes += rec->size;
	if (rec->size && memcmp(pl, payload, rec->size))
		c->bad++;
	unsigned i;
	for (i = 0; i < c->nsess; i++)
		if (c->sessions[i] == rec->session)
			break;
	if (i == c->nsess && c->nsess < 16)
		c->sessions[c->nsess++] = rec->session;
	return 0;
}

static struct fcount count_frames(struct d4_store *s)
{
	struct fcount c;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, fcount_cb, &c), 0);
	ck_assert_int_eq(c.bad, 0);
	return c;
}

/* ---- codecs ---- */

START_TEST(test_fed_codecs)
{
	struct d4_store_fed_out *o = calloc(1, sizeof(*o)), *o2 = calloc(1, sizeof(*o2));
	struct d4_store_fed_in *in = calloc(1, sizeof(*in)), *in2 = calloc(1, sizeof(*in2));
	uint8_t *buf = malloc(STORE_FED_OUT_MAX + STORE_FED_IN_MAX + 16);
	ck_assert_ptr_nonnull(buf);
	fill(o->pos, 37, 1);
	o->pos_len = 37;
	o->ndecisions = 23;
	for (unsigned i = 0; i < 23; i++)
		o->decisions[i] = 1000u + i;
	o->batches = 5;
	o->records = 6;
	o->bytes = 7;
	o->last_ack = 8;
	fill(o->pend_pos, D4_FED_POS_MAX, 2);
	o->pend_len = D4_FED_POS_MAX;
	o->npend = 3;
	o->pend_decisions[2] = 9;
	o->pend_records = 10;
	o->pend_bytes = 11;
	size_t n = store_enc_fed_out(o, buf);
	ck_assert_uint_le(n, STORE_FED_OUT_MAX);
	ck_assert_int_eq(store_dec_fed_out(buf, n, o2), 0);
	ck_assert_int_eq(memcmp(o, o2, sizeof(*o)), 0);
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_eq(store_dec_fed_out(buf, cut, o2), D4_ECORRUPT);
	buf[n] = 0;
	ck_assert_int_eq(store_dec_fed_out(buf, n + 1, o2), D4_ECORRUPT); /* trailing byte */
	buf[0] = 2;
	ck_assert_int_eq(store_dec_fed_out(buf, n, o2), D4_ECORRUPT); /* unknown version */
	buf[0] = 1;
	d4_put_u16be(buf + 1, D4_FED_POS_MAX + 1); /* a position longer than any */
	ck_assert_int_eq(store_dec_fed_out(buf, n, o2), D4_ECORRUPT);

	fill(in->pos, 12, 3);
	in->pos_len = 12;
	in->last_from_len = 0; /* the first batch started at the beginning */
	strcpy(in->partner, "hub-b");
	in->batches = 1;
	in->records = 2;
	in->bytes = 3;
	in->duplicates = 4;
	in->conflicts = 5;
	in->nrefused = 2;
	in->refused[1] = 6;
	in->last_at = 7;
	n = store_enc_fed_in(in, buf);
	ck_assert_uint_le(n, STORE_FED_IN_MAX);
	ck_assert_int_eq(store_dec_fed_in(buf, n, in2), 0);
	ck_assert_int_eq(memcmp(in, in2, sizeof(*in)), 0);
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_eq(store_dec_fed_in(buf, cut, in2), D4_ECORRUPT);
	buf[n] = 0;
	ck_assert_int_eq(store_dec_fed_in(buf, n + 1, in2), D4_ECORRUPT);

	/* a later build's longer counter list: the known counters are kept */
	uint8_t big[1 + 2 + 2 + 2 + 5 * 8 + 1 + 70 * 8 + 8], *p = big;
	*p++ = 1;
	d4_put_u16be(p, 0), p += 2;
	d4_put_u16be(p, 0), p += 2;
	d4_put_u16be(p, 0), p += 2;
	memset(p, 0, 40), p += 40;
	*p++ = 70;
	for (unsigned i = 0; i < 70; i++, p += 8)
		d4_put_u64be(p, i + 1);
	d4_put_u64be(p, 99), p += 8;
	ck_assert_uint_eq((size_t)(p - big), sizeof(big));
	ck_assert_int_eq(store_dec_fed_in(big, sizeof(big), in2), 0);
	ck_assert_uint_eq(in2->nrefused, D4_STORE_FED_REASONS);
	ck_assert_uint_eq(in2->refused[63], 64);
	ck_assert_uint_eq(in2->last_at, 99);

	/* sessions: v1 still decodes (fed 0), v2 round trip, every cut */
	struct d4_session_info si, so;
	struct d4_store_fed_session fs, fo;
	memset(&si, 0, sizeof(si));
	memset(&fs, 0, sizeof(fs));
	si.session = 9;
	mkuuid(si.uuid, 1);
	si.type = 254;
	strcpy(si.ext_type, "pdns");
	si.tlp = 2;
	si.frames = 3;
	uint8_t sb[STORE_SESSION_MAX + 1];
	n = store_enc_session(&si, sb);
	ck_assert_uint_eq(sb[0], 1);
	ck_assert_int_eq(store_dec_session_fed(sb, n, 9, &so, &fo), 0);
	ck_assert_uint_eq(so.fed, 0);
	si.fed = 1;
	strcpy(fs.partner, "hub-b");
	mkuuid(fs.sender, 200);
	fs.origin_session = 12345;
	prov_init();
	fs.prov = prov_a;
	fs.prov.nvia = D4_STORE_FED_VIA_MAX;
	n = store_enc_session_fed(&si, &fs, sb);
	ck_assert_uint_le(n, STORE_SESSION_MAX);
	ck_assert_uint_eq(sb[0], 2);
	ck_assert_int_eq(store_dec_session_fed(sb, n, 9, &so, &fo), 0);
	ck_assert_int_eq(memcmp(&si, &so, sizeof(si)), 0);
	ck_assert_int_eq(memcmp(&fs, &fo, sizeof(fs)), 0);
	ck_assert_int_eq(store_dec_session(sb, n, 9, &so), 0);
	ck_assert_uint_eq(so.fed, 1);
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_eq(store_dec_session_fed(sb, cut, 9, &so, &fo), D4_ECORRUPT);
	sb[n] = 0;
	ck_assert_int_eq(store_dec_session(sb, n + 1, 9, &so), D4_ECORRUPT);
	/* an unknown flag, a via count above the maximum */
	struct d4_session_info local = si;
	local.fed = 0;
	size_t flag_at = store_enc_session(&local, sb); /* the v1 fields, then the flags */
	n = store_enc_session_fed(&si, &fs, sb);
	sb[flag_at] = 3;
	ck_assert_int_eq(store_dec_session(sb, n, 9, &so), D4_ECORRUPT);
	sb[flag_at] = 1;
	sb[n - 1 - 16 * D4_STORE_FED_VIA_MAX] = D4_STORE_FED_VIA_MAX + 1;
	ck_assert_int_eq(store_dec_session(sb, n, 9, &so), D4_ECORRUPT);
	free(o);
	free(o2);
	free(in);
	free(in2);
	free(buf);
}
END_TEST

/* Tuple records: a v2 record (written before federation) still decodes
 * with no hub; v3 appends the origin hubs; every cut of either is corrupt. */
START_TEST(test_fed_tuple_record)
{
	/* "a.b." || 00 || A || H(rdata): v2 and v3 hold their own name, v4 takes the key's */
	static const uint8_t key[] = {'a', '.', 'b', '.', 0,  0,  1,  1,  2,  3,  4, 5,
				      6,   7,	8,   9,	  10, 11, 12, 13, 14, 15, 16};
	uint8_t rec[256], *p = rec;
	*p++ = 2;
	d4_put_u64be(p, 7), p += 8;  /* id */
	d4_put_u16be(p, 1), p += 2;  /* rrtype A */
	d4_put_u64be(p, 10), p += 8; /* time_first */
	d4_put_u64be(p, 20), p += 8; /* time_last */
	d4_put_u64be(p, 3), p += 8;  /* count */
	*p++ = 2;		     /* tlp */
	*p++ = 0;		     /* flags */
	memset(p, 0, 16), p += 16;   /* org */
	*p++ = 1;		     /* one sensor */
	mkuuid(p, 9), p += 16;
	d4_put_u64be(p, 0), p += 8; /* sketch */
	d4_put_u16be(p, 0), p += 2; /* no bailiwick */
	*p++ = 0;
	d4_put_u16be(p, 4), p += 2;
	memcpy(p, "a.b.", 5), p += 5;
	d4_put_u16be(p, 0), p += 2;
	d4_put_u16be(p, 9), p += 2;
	memcpy(p, "192.0.2.1", 10), p += 10;
	size_t n2 = (size_t)(p - rec);
	struct d4_store_pdns_tuple t;
	ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), rec, n2, &t), 0);
	ck_assert_uint_eq(t.id, 7);
	ck_assert_uint_eq(t.count, 3);
	ck_assert_uint_eq(t.nhubs, 0);
	ck_assert_uint_eq(t.nsensors, 1);
	for (size_t cut = 0; cut < n2; cut++)
		ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), rec, cut, &t), D4_ECORRUPT);
	/* v3: the same fields and two hubs */
	rec[0] = 3;
	*p++ = 2;
	mkuuid(p, 300), p += 16;
	mkuuid(p, 301), p += 16;
	size_t n3 = (size_t)(p - rec);
	ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), rec, n3, &t), 0);
	ck_assert_uint_eq(t.nhubs, 2);
	uint8_t h[16];
	mkuuid(h, 301);
	ck_assert_int_eq(memcmp(t.hubs[1], h, 16), 0);
	for (size_t cut = 0; cut < n3; cut++)
		ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), rec, cut, &t), D4_ECORRUPT);
	rec[n3] = 0;
	ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), rec, n3 + 1, &t), D4_ECORRUPT);
	rec[n2] = 0; /* v3 without a hub: never written */
	ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), rec, n2 + 1, &t), D4_ECORRUPT);
	rec[n2] = D4_PDNS_HUBS_KEEP + 1;
	ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), rec, n3, &t), D4_ECORRUPT);
	rec[n2] = 2;
	rec[0] = 5; /* unknown version */
	ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), rec, n3, &t), D4_ECORRUPT);
	/* v4, as this build writes it: the v3 tuple again, recoded; every cut
	 * is corrupt, and it decodes to the same tuple */
	rec[0] = 3;
	uint8_t r4[256];
	size_t n4 = store_pdns_tuple_recode(key, sizeof(key), rec, n3, r4);
	ck_assert_uint_gt(n4, 0);
	ck_assert_uint_lt(n4, n3);
	ck_assert_int_eq(r4[0], 4);
	ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), r4, n4, &t), 0);
	ck_assert_uint_eq(t.id, 7);
	ck_assert_uint_eq(t.rrtype, 1);
	ck_assert_uint_eq(t.time_first, 10);
	ck_assert_uint_eq(t.time_last, 20);
	ck_assert_uint_eq(t.count, 3);
	ck_assert_uint_eq(t.tlp, 2);
	ck_assert_uint_eq(t.nsensors, 1);
	ck_assert_uint_eq(t.nhubs, 2);
	ck_assert_uint_eq(t.rrname_len, 4);
	ck_assert_int_eq(memcmp(t.rrname, "a.b.", 5), 0);
	ck_assert_uint_eq(t.rdata_len, 9);
	ck_assert_str_eq(t.rdata, "192.0.2.1");
	ck_assert_ptr_null(t.bailiwick);
	uint8_t again[256];
	ck_assert_uint_eq(store_pdns_tuple_recode(key, sizeof(key), r4, n4, again), n4);
	ck_assert_int_eq(memcmp(again, r4, n4), 0);
	for (size_t cut = 0; cut < n4; cut++)
		ck_assert_int_eq(store_pdns_tuple_decode(key, sizeof(key), r4, cut, &t), D4_ECORRUPT);
	/* a key that is not a tuple key */
	ck_assert_int_eq(store_pdns_tuple_decode(key, 10, r4, n4, &t), D4_ECORRUPT);
}
END_TEST

/* ---- the position rule ---- */

START_TEST(test_fed_positions)
{
	struct d4_store *s = open_writer();
	prov_init();
	fill(payload, sizeof(payload), 5);
	struct d4_store_fed_frame fr[5];
	for (unsigned i = 0; i < 5; i++)
		frame_init(&fr[i], 42, 9, 100 + i, i);
	struct d4_store_fed_batch b;
	struct d4_store_fed_in in;

	/* invalid submissions are refused before the queue */
	batch_init(&b, 7, "", "a");
	ck_assert_int_eq(d4_store_fed_submit(s, &b), D4_EINVAL);
	batch_init(&b, 1, "", "a");
	b.frames = fr;
	b.nframes = 1; /* frames in a pdns batch */
	ck_assert_int_eq(d4_store_fed_submit(s, &b), D4_EINVAL);
	ck_assert_int_eq(d4_store_fed_in_get(s, b.sender, 0, &in), D4_ENOTFOUND);

	/* the first batch: nothing stored yet */
	batch_init(&b, 0, "", "P1");
	b.frames = fr;
	b.nframes = 3;
	b.bytes = 1000;
	b.nrefused = 3;
	b.refused[2] = 4; /* refused by the caller's inbound rule */
	ck_assert_int_eq(submit_wait(s, &b), 0);
	ck_assert_uint_eq(b.stored, 3);
	ck_assert_uint_eq(b.pos_len, 2);
	ck_assert_int_eq(memcmp(b.pos, "P1", 2), 0);
	ck_assert_uint_eq(count_frames(s).n, 3);

	/* the same batch again (its acknowledgement was lost): duplicate */
	ck_assert_int_eq(submit_wait(s, &b), D4_EEXIST);
	ck_assert_uint_eq(b.stored, 0);
	ck_assert_int_eq(memcmp(b.pos, "P1", 2), 0);
	ck_assert_uint_eq(count_frames(s).n, 3);

	/* the next one, in order */
	batch_init(&b, 0, "P1", "P2");
	b.frames = fr + 3;
	b.nframes = 2;
	b.bytes = 500;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	ck_assert_uint_eq(b.stored, 2);
	ck_assert_uint_eq(count_frames(s).n, 5);
	ck_assert_int_eq(submit_wait(s, &b), D4_EEXIST);

	/* an older batch (not the last one) and a gap: mismatch, the stored
	 * position is answered, nothing stored */
	batch_init(&b, 0, "", "P1");
	b.frames = fr;
	b.nframes = 3;
	ck_assert_int_eq(submit_wait(s, &b), D4_EBUSY);
	ck_assert_uint_eq(b.pos_len, 2);
	ck_assert_int_eq(memcmp(b.pos, "P2", 2), 0);
	batch_init(&b, 0, "P3", "P4");
	b.frames = fr;
	b.nframes = 1;
	ck_assert_int_eq(submit_wait(s, &b), D4_EBUSY);
	ck_assert_int_eq(memcmp(b.pos, "P2", 2), 0);
	ck_assert_uint_eq(count_frames(s).n, 5);

	ck_assert_int_eq(d4_store_fed_in_get(s, b.sender, 0, &in), 0);
	ck_assert_uint_eq(in.pos_len, 2);
	ck_assert_int_eq(memcmp(in.pos, "P2", 2), 0);
	ck_assert_uint_eq(in.last_from_len, 2);
	ck_assert_int_eq(memcmp(in.last_from, "P1", 2), 0);
	ck_assert_str_eq(in.partner, "hub-b");
	ck_assert_uint_eq(in.batches, 2);
	ck_assert_uint_eq(in.records, 5);
	ck_assert_uint_eq(in.bytes, 1500);
	ck_assert_uint_eq(in.duplicates, 2);
	ck_assert_uint_eq(in.conflicts, 2);
	ck_assert_uint_eq(in.nrefused, 3);
	ck_assert_uint_eq(in.refused[2], 4); /* counted once: not again by the resend */
	ck_assert_uint_gt(in.last_at, 0);
	/* positions are per kind: pdns starts from nothing */
	ck_assert_int_eq(d4_store_fed_in_get(s, b.sender, 1, &in), D4_ENOTFOUND);

	/* received frames are not this hub's sensors' traffic */
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, 0);
	ck_assert_uint_eq(t.sessions, 0);
	struct d4_sensor sn;
	ck_assert_int_eq(d4_store_sensor_get(s, fr[0].sensor, &sn), D4_ENOTFOUND);

	/* a reopen keeps the position: the resend is still a duplicate */
	d4_store_close(s);
	s = open_writer();
	batch_init(&b, 0, "P1", "P2");
	b.frames = fr + 3;
	b.nframes = 2;
	ck_assert_int_eq(submit_wait(s, &b), D4_EEXIST);
	ck_assert_uint_eq(count_frames(s).n, 5);
	d4_store_close(s);

	/* a read-only open sees the same */
	struct d4_store_opts o = base_opts();
	o.read_only = 1;
	s = open_store(&o);
	ck_assert_int_eq(d4_store_fed_in_get(s, b.sender, 0, &in), 0);
	ck_assert_uint_eq(in.records, 5);
	ck_assert_int_eq(d4_store_fed_submit(s, &b), D4_ECLOSED);
	d4_store_close(s);
}
END_TEST

/* ---- frames and their provenance ---- */

struct sess_list {
	uint64_t ids[16];
	uint8_t fed[16];
	unsigned n;
};

static int sess_cb(void *ctx, const struct d4_session_info *si)
{
	struct sess_list *l = ctx;
	if (l->n < 16) {
		l->ids[l->n] = si->session;
		l->fed[l->n++] = si->fed;
	}
	return 0;
}

START_TEST(test_fed_frames_provenance)
{
	struct d4_store *s = open_writer();
	prov_init();
	fill(payload, sizeof(payload), 6);
	/* a local session too: it stays local */
	uint8_t u[16];
	mkuuid(u, 1);
	uint64_t lsess = d4_store_session_id_new(s);
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = lsess;
	memcpy(op.uuid, u, 16);
	op.type = 1;
	op.when = 1700000000;
	op.auto_create = 1;
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = lsess;
	memcpy(r.uuid, u, 16);
	r.type = 1;
	r.tlp = 1;
	r.recv_ms = 1700000000000ull;
	r.size = 10;
	ck_assert_int_eq(d4_store_post_frame(s, &r, payload), 0);

	/* an analyzer queue of the received extended type sees them too */
	struct d4_queue q;
	memset(&q, 0, sizeof(q));
	strcpy(q.name, "pdns-frames");
	q.type = 254;
	strcpy(q.ext_type, "pdns");
	q.max_entries = 100;
	ck_assert_int_eq(d4_store_queue_create(s, &q), 0);

	/* two batches of origin session 42 share one local session; origin
	 * session 43 gets another; so does 42 with another ext type */
	struct d4_store_fed_frame fr[6];
	for (unsigned i = 0; i < 6; i++)
		frame_init(&fr[i], i < 4 ? 42 : 43, 9, 50, i);
	fr[3].ext_type = "other";
	struct d4_store_fed_batch b;
	batch_init(&b, 0, "", "A");
	b.frames = fr;
	b.nframes = 2;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	batch_init(&b, 0, "A", "B");
	b.frames = fr + 2;
	b.nframes = 4;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);

	struct fcount c = count_frames(s);
	ck_assert_uint_eq(c.n, 7);
	ck_assert_uint_eq(c.nsess, 4); /* local, 42, 42/other, 43 */
	struct sess_list l;
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_session_foreach(s, NULL, sess_cb, &l), 0);
	ck_assert_uint_eq(l.n, 4);
	unsigned nfed = 0;
	for (unsigned i = 0; i < l.n; i++) {
		struct d4_session_info si;
		struct d4_store_fed_session fs;
		ck_assert_int_eq(d4_store_session_get(s, l.ids[i], &si), 0);
		if (l.ids[i] == lsess) {
			ck_assert_uint_eq(si.fed, 0);
			ck_assert_int_eq(d4_store_fed_session_get(s, l.ids[i], &fs), D4_ENOTFOUND);
			ck_assert_uint_eq(si.frames, 1);
			continue;
		}
		nfed++;
		ck_assert_uint_eq(si.fed, 1);
		ck_assert_int_eq(d4_store_fed_session_get(s, l.ids[i], &fs), 0);
		ck_assert_str_eq(fs.partner, "hub-b");
		ck_assert_int_eq(memcmp(fs.sender, b.sender, 16), 0);
		ck_assert_uint_eq(fs.prov.has_origin, 1);
		ck_assert_int_eq(memcmp(fs.prov.origin, prov_a.origin, 16), 0);
		ck_assert_uint_eq(fs.prov.nvia, 2);
		ck_assert_int_eq(memcmp(fs.prov.via[1], prov_a.via[1], 16), 0);
		ck_assert_int_eq(memcmp(si.uuid, fr[0].sensor, 16), 0);
		ck_assert_uint_eq(si.type, 254);
		if (fs.origin_session == 43) {
			ck_assert_uint_eq(si.frames, 2);
			ck_assert_str_eq(si.ext_type, "pdns");
		} else if (!strcmp(si.ext_type, "other")) {
			ck_assert_uint_eq(si.frames, 1);
		} else {
			ck_assert_uint_eq(fs.origin_session, 42);
			ck_assert_uint_eq(si.frames, 3); /* across both batches */
			ck_assert_uint_eq(si.bytes, 150);
		}
	}
	ck_assert_uint_eq(nfed, 3);
	struct d4_queue qg;
	ck_assert_int_eq(d4_store_queue_get(s, q.id, &qg), 0);
	ck_assert_uint_eq(qg.tail - qg.head, 5); /* not the "other" one */
	ck_assert_int_eq(d4_store_fed_session_get(s, 999999, &(struct d4_store_fed_session){0}), D4_ENOTFOUND);
	/* the totals count the local frame only; the local sensor its own */
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, 1);
	ck_assert_uint_eq(t.sessions, 1);
	d4_store_close(s);
}
END_TEST

/* ---- tuples ---- */

struct tq {
	unsigned n;
	struct d4_store_pdns_tuple t;
};

static int tq_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct tq *q = ctx;
	q->n++;
	q->t = *t;
	q->t.rrname = NULL; /* valid during the call only */
	q->t.rdata = NULL;
	q->t.bailiwick = NULL;
	return 0;
}

static struct tq query_name(struct d4_store *s, const char *name)
{
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME;
	q.name = name;
	q.max_tlp = 6;
	struct tq r;
	memset(&r, 0, sizeof(r));
	struct d4_store_pdns_qresult res;
	ck_assert_int_eq(d4_store_pdns_query(s, &q, tq_cb, &r, &res), 0);
	return r;
}

static void tuple_init(struct d4_store_fed_tuple *t, const char *name, const char *rdata, uint64_t tf, uint64_t tl,
		       uint64_t count, const struct d4_store_fed_prov *pv)
{
	memset(t, 0, sizeof(*t));
	t->obs.rrname = name;
	t->obs.rrtype = 1;
	t->obs.rdata = rdata;
	t->obs.time_first = tf;
	t->obs.time_last = tl;
	t->obs.count = count;
	t->obs.tlp = 2;
	t->obs.has_sensor = 1;
	mkuuid(t->obs.sensor, 9);
	t->prov = pv;
}

START_TEST(test_fed_tuples)
{
	struct d4_store *s = open_writer();
	/* a local observation first */
	struct d4_store_pdns_obs lo;
	memset(&lo, 0, sizeof(lo));
	lo.rrname = "www.example.com.";
	lo.rrtype = 1;
	lo.rdata = "192.0.2.1";
	lo.time_first = 100;
	lo.time_last = 200;
	lo.count = 2;
	lo.tlp = 1;
	ck_assert_int_eq(d4_store_pdns_apply(s, &lo, 1, NULL), 0);
	struct tq r = query_name(s, "www.example.com.");
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.t.nhubs, 0); /* local observations add none */

	struct d4_store_fed_prov p[6];
	for (unsigned i = 0; i < 6; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].has_origin = 1;
		mkuuid(p[i].origin, 310 - i); /* descending: the kept set is sorted */
	}
	struct d4_store_fed_prov stripped;
	memset(&stripped, 0, sizeof(stripped));
	stripped.stripped = 1;
	struct d4_store_fed_tuple t[4];
	tuple_init(&t[0], "www.example.com.", "192.0.2.1", 50, 150, 3, &p[0]);
	tuple_init(&t[1], "www.example.com.", "192.0.2.1", 120, 300, 1, &stripped);
	tuple_init(&t[2], "mail.example.com.", "192.0.2.2", 10, 20, 0, &p[1]);
	tuple_init(&t[3], "", "192.0.2.3", 10, 20, 1, &p[1]); /* no name: skipped */
	struct d4_store_fed_batch b;
	batch_init(&b, 1, "", "c1");
	b.tuples = t;
	b.ntuples = 4;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	ck_assert_uint_eq(b.stored, 3);
	r = query_name(s, "www.example.com.");
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.t.time_first, 50);
	ck_assert_uint_eq(r.t.time_last, 300);
	ck_assert_uint_eq(r.t.count, 6);
	ck_assert_uint_eq(r.t.tlp, 2); /* most restrictive */
	ck_assert_uint_eq(r.t.nhubs, 1);
	ck_assert_int_eq(memcmp(r.t.hubs[0], p[0].origin, 16), 0);
	r = query_name(s, "mail.example.com.");
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.t.count, 1);
	struct d4_store_pdns_info info;
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 2);

	/* the resend is acknowledged and merges nothing twice */
	ck_assert_int_eq(submit_wait(s, &b), D4_EEXIST);
	r = query_name(s, "www.example.com.");
	ck_assert_uint_eq(r.t.count, 6);

	/* more origin hubs than kept: the set stays bounded and sorted */
	struct d4_store_fed_tuple u[5];
	for (unsigned i = 0; i < 5; i++)
		tuple_init(&u[i], "www.example.com.", "192.0.2.1", 60, 160, 1, &p[1 + i]);
	batch_init(&b, 1, "c1", "c2");
	b.tuples = u;
	b.ntuples = 5;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	ck_assert_uint_eq(b.stored, 5);
	r = query_name(s, "www.example.com.");
	ck_assert_uint_eq(r.t.count, 11);
	ck_assert_uint_eq(r.t.nhubs, D4_STORE_FED_HUBS_KEEP);
	for (unsigned i = 1; i < r.t.nhubs; i++)
		ck_assert_int_lt(memcmp(r.t.hubs[i - 1], r.t.hubs[i], 16), 0);
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 2);
	struct d4_store_fed_in in;
	ck_assert_int_eq(d4_store_fed_in_get(s, b.sender, 1, &in), 0);
	ck_assert_uint_eq(in.records, 8);
	ck_assert_uint_eq(in.batches, 2);
	ck_assert_uint_eq(in.duplicates, 1);

	/* a local observation after: merged, the hubs kept */
	ck_assert_int_eq(d4_store_pdns_apply(s, &lo, 1, NULL), 0);
	r = query_name(s, "www.example.com.");
	ck_assert_uint_eq(r.t.count, 13);
	ck_assert_uint_eq(r.t.nhubs, D4_STORE_FED_HUBS_KEEP);
	d4_store_close(s);
}
END_TEST

/* ---- a batch that does not fit fails whole ---- */

START_TEST(test_fed_map_full)
{
	struct d4_store_opts o = base_opts();
	o.map_size = 2u << 20;
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	prov_init();
	fill(payload, sizeof(payload), 7);
	size_t nf = 1024; /* 4 MiB of payload in a 2 MiB map */
	struct d4_store_fed_frame *fr = calloc(nf, sizeof(*fr));
	for (size_t i = 0; i < nf; i++)
		frame_init(&fr[i], 42 + i % 3, 9, sizeof(payload), (unsigned)i);
	struct d4_store_fed_batch b;
	batch_init(&b, 0, "", "X");
	b.frames = fr;
	b.nframes = nf;
	ck_assert_int_eq(submit_wait(s, &b), D4_EFULL);
	ck_assert_uint_eq(count_frames(s).n, 0);
	struct d4_store_fed_in in;
	ck_assert_int_eq(d4_store_fed_in_get(s, b.sender, 0, &in), D4_ENOTFOUND);
	struct sess_list l;
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_session_foreach(s, NULL, sess_cb, &l), 0);
	ck_assert_uint_eq(l.n, 0);
	/* the writer is not paused by it: a batch that fits goes in */
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 0);
	b.nframes = 3;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	ck_assert_uint_eq(count_frames(s).n, 3);
	ck_assert_int_eq(d4_store_fed_in_get(s, b.sender, 0, &in), 0);
	ck_assert_uint_eq(in.records, 3);
	d4_store_close(s);
	free(fr);
}
END_TEST

struct big_check {
	const uint8_t *want;
	uint32_t size;
	unsigned n, ok;
};

static int big_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *pl)
{
	struct big_check *c = ctx;
	c->n++;
	c->ok += rec->size == c->size && !memcmp(pl, c->want, c->size);
	return 0;
}

/* A received frame larger than a chunk gets a chunk of its own. */
START_TEST(test_fed_big_frame)
{
	struct d4_store *s = open_writer();
	prov_init();
	uint32_t size = 300u * 1024u;
	uint8_t *pl = malloc(size);
	fill(pl, size, 11);
	struct d4_store_fed_frame fr[2];
	frame_init(&fr[0], 1, 9, 0, 0);
	frame_init(&fr[1], 1, 9, 0, 1);
	fr[0].payload = fr[1].payload = pl;
	fr[0].size = fr[1].size = size;
	struct d4_store_fed_batch b;
	batch_init(&b, 0, "", "big");
	b.frames = fr;
	b.nframes = 2;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	struct big_check c = {pl, size, 0, 0};
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, big_cb, &c), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(c.ok, 2);
	d4_store_close(s);
	free(pl);
}
END_TEST

/* When the writer pauses (an ingested frame that does not fit), a received
 * batch queued behind it is answered at once instead of waiting for the
 * pause to end; while paused, submissions are refused. */
START_TEST(test_fed_paused)
{
	struct d4_store_opts o = base_opts();
	o.map_size = 2u << 20;
	o.commit_ms = 10000; /* the frame waits in the queue for the batch */
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	prov_init();
	size_t big = 3u << 20;
	uint8_t *pl = calloc(1, big);
	uint8_t u[16];
	mkuuid(u, 1);
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = d4_store_session_id_new(s);
	memcpy(r.uuid, u, 16);
	r.type = 1;
	r.tlp = 1;
	r.recv_ms = 1700000000000ull;
	r.size = (uint32_t)big;
	ck_assert_int_eq(d4_store_post_frame(s, &r, pl), 0);
	struct d4_store_fed_frame fr;
	frame_init(&fr, 1, 9, 10, 0);
	struct d4_store_fed_batch b;
	batch_init(&b, 0, "", "Q");
	b.frames = &fr;
	b.nframes = 1;
	int rc = submit_wait(s, &b);
	/* queued with the frame (answered with the pause's error), or refused
	 * because the writer had paused on the frame already */
	ck_assert_msg(rc == D4_EFULL || rc == D4_EAGAIN, "rc %d", rc);
	struct d4_store_status st;
	for (int i = 0; i < 500; i++) {
		d4_store_status_get(s, &st);
		if (st.paused)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(st.paused, 1);
	batch_init(&b, 0, "", "Q");
	b.frames = &fr;
	b.nframes = 1;
	ck_assert_int_eq(d4_store_fed_submit(s, &b), D4_EAGAIN);
	struct d4_store_fed_in in;
	ck_assert_int_eq(d4_store_fed_in_get(s, b.sender, 0, &in), D4_ENOTFOUND);
	ck_assert_uint_eq(count_frames(s).n, 0);
	d4_store_close(s);
	free(pl);
}
END_TEST

/* ---- kill -9 right after the batches are done ---- */

START_TEST(test_fed_kill9)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		struct d4_store_opts o = base_opts();
		o.no_sync = 0; /* durable, as in production */
		o.commit_ms = 2;
		struct d4_store *s = NULL;
		if (d4_store_open(&o, &s) || d4_store_writer_start(s))
			_exit(2);
		prov_init();
		fill(payload, sizeof(payload), 8);
		struct d4_store_fed_frame fr[10];
		struct d4_store_fed_tuple tu[3];
		char from[32] = "", to[32], pfrom[32] = "", pto[32];
		for (uint32_t k = 1;; k++) {
			for (unsigned i = 0; i < 10; i++)
				frame_init(&fr[i], k % 4, 9, 100 + i, k * 10 + i);
			snprintf(to, sizeof(to), "F%u", k);
			struct d4_store_fed_batch b;
			batch_init(&b, 0, from, to);
			b.frames = fr;
			b.nframes = 10;
			b.notify_fd = -1;
			if (d4_store_fed_submit(s, &b))
				_exit(3);
			while (!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE))
				usleep(100);
			if (b.result)
				_exit(4);
			snprintf(pto, sizeof(pto), "D%u", k);
			tuple_init(&tu[0], "k.example.", "192.0.2.9", k, k, 1, &prov_a);
			tuple_init(&tu[1], "k.example.", "192.0.2.9", k, k, 1, &prov_a);
			tuple_init(&tu[2], "k.example.", "192.0.2.10", k, k, 1, &prov_a);
			struct d4_store_fed_batch c;
			batch_init(&c, 1, pfrom, pto);
			c.tuples = tu;
			c.ntuples = 3;
			if (d4_store_fed_submit(s, &c))
				_exit(5);
			while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
				usleep(100);
			if (c.result)
				_exit(6);
			/* both acknowledged: the parent may kill at any time */
			if (write(pfd[1], &k, sizeof(k)) != sizeof(k))
				_exit(7);
			strcpy(from, to);
			strcpy(pfrom, pto);
		}
	}
	close(pfd[1]);
	uint32_t acked = 0, v;
	while (acked < 40 && read(pfd[0], &v, sizeof(v)) == sizeof(v))
		acked = v;
	ck_assert_uint_ge(acked, 40);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	ck_assert(WIFSIGNALED(status));
	while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
		acked = v;
	close(pfd[0]);

	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	prov_init();
	fill(payload, sizeof(payload), 8); /* what the child sent */
	struct d4_store_fed_in in, pin;
	uint8_t sender[16];
	mkuuid(sender, 200);
	ck_assert_int_eq(d4_store_fed_in_get(s, sender, 0, &in), 0);
	ck_assert_int_eq(d4_store_fed_in_get(s, sender, 1, &pin), 0);
	/* everything acknowledged is there; whatever else is there is whole */
	ck_assert_uint_ge(in.batches, acked);
	ck_assert_uint_ge(pin.batches, acked);
	ck_assert_uint_le(in.batches, pin.batches + 1);
	ck_assert_uint_eq(in.records, 10 * in.batches);
	char want[32];
	snprintf(want, sizeof(want), "F%llu", (unsigned long long)in.batches);
	ck_assert_uint_eq(in.pos_len, strlen(want));
	ck_assert_int_eq(memcmp(in.pos, want, in.pos_len), 0);
	ck_assert_uint_eq(count_frames(s).n, in.records);
	struct tq r = query_name(s, "k.example.");
	ck_assert_uint_eq(r.n, 2);
	struct d4_store_pdns_info info;
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 2);
	/* counts are exact: 2 observations of .9 per stored batch */
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_RDATA_RAW;
	q.raw = (const uint8_t *)"192.0.2.9";
	q.raw_len = 9;
	q.max_tlp = 6;
	struct tq rr;
	memset(&rr, 0, sizeof(rr));
	struct d4_store_pdns_qresult res;
	ck_assert_int_eq(d4_store_pdns_query(s, &q, tq_cb, &rr, &res), 0);
	ck_assert_uint_eq(rr.n, 1);
	ck_assert_uint_eq(rr.t.count, 2 * pin.batches);
	/* the sender resumes from the stored position: the next batch goes in */
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	struct d4_store_fed_frame fr;
	frame_init(&fr, 1, 9, 10, 0);
	char next[32];
	snprintf(next, sizeof(next), "F%llu", (unsigned long long)in.batches + 1);
	struct d4_store_fed_batch b;
	batch_init(&b, 0, want, next);
	b.frames = &fr;
	b.nframes = 1;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	d4_store_close(s);
}
END_TEST

static int never_cb(void *ctx, const uint8_t hub[16], uint8_t kind, const struct d4_store_fed_in *i)
{
	(void)hub;
	(void)kind;
	(void)i;
	(*(int *)ctx)++;
	return 0;
}

/* A store written before federation (no fed_* tables): a read-only open
 * reads them as empty, a writable open creates them. */
START_TEST(test_fed_older_store)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_drop(txn, s->dbi[DBI_FED_OUT], 1), 0);
	ck_assert_int_eq(mdb_drop(txn, s->dbi[DBI_FED_IN], 1), 0);
	ck_assert_int_eq(mdb_drop(txn, s->dbi[DBI_FED_SESS], 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	d4_store_close(s);

	o.read_only = 1;
	s = open_store(&o);
	uint8_t hub[16];
	mkuuid(hub, 200);
	struct d4_store_fed_in in;
	struct d4_store_fed_out out;
	int n = 0;
	ck_assert_int_eq(d4_store_fed_in_get(s, hub, 0, &in), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_fed_in_foreach(s, never_cb, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(d4_store_fed_out_get(s, "hub-b", 0, &out), D4_ENOTFOUND);
	d4_store_close(s);

	o.read_only = 0;
	s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	prov_init();
	struct d4_store_fed_frame fr;
	frame_init(&fr, 1, 9, 10, 0);
	struct d4_store_fed_batch b;
	batch_init(&b, 0, "", "1");
	b.frames = &fr;
	b.nframes = 1;
	ck_assert_int_eq(submit_wait(s, &b), 0);
	ck_assert_int_eq(d4_store_fed_in_foreach(s, never_cb, &n), 0);
	ck_assert_int_eq(n, 1);
	d4_store_close(s);
}
END_TEST

/* ---- fed_out and partner_del ---- */

static void partner_init(struct d4_partner *p, const char *name, unsigned n)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->name, name);
	strcpy(p->url, "https://hub.example/");
	p->has_pin = 1;
	memset(p->spki_sha256, 0xab, 32);
	mkuuid(p->hub, n);
	mkuuid(p->org, n + 1000);
	p->relation = 2;
	p->direction = 1;
	p->enabled = 1;
	for (unsigned k = 0; k < D4_PARTNER_KINDS; k++)
		p->out[k].max_tlp = 1;
	p->in.max_tlp = 4;
}

struct olist {
	char names[8][D4_PARTNER_NAME_MAX];
	uint8_t kinds[8];
	uint64_t batches[8];
	unsigned n;
};

static int olist_cb(void *ctx, const char *partner, uint8_t kind, const struct d4_store_fed_out *o)
{
	struct olist *l = ctx;
	if (l->n < 8) {
		strcpy(l->names[l->n], partner);
		l->kinds[l->n] = kind;
		l->batches[l->n++] = o->batches;
	}
	return 0;
}

START_TEST(test_fed_out_partner_del)
{
	struct d4_store_opts opts = base_opts();
	struct d4_store *s = open_store(&opts);
	struct d4_partner *p = malloc(sizeof(*p));
	struct d4_store_fed_out *o = calloc(1, sizeof(*o)), *got = calloc(1, sizeof(*got));
	partner_init(p, "ab", 1);
	ck_assert_int_eq(d4_store_partner_add(s, p), 0);
	partner_init(p, "abc", 2);
	ck_assert_int_eq(d4_store_partner_add(s, p), 0);
	/* only for a partner that exists */
	ck_assert_int_eq(d4_store_fed_out_put(s, "nobody", 0, o), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_fed_out_put(s, "ab", 4, o), D4_EINVAL);
	ck_assert_int_eq(d4_store_fed_out_get(s, "ab", 0, got), D4_ENOTFOUND);
	uint64_t epoch = d4_store_epoch(s);
	memcpy(o->pos, "\0\0\0\0\0\0\0\x07", 8);
	o->pos_len = 8;
	o->batches = 1;
	o->ndecisions = 2;
	o->decisions[1] = 5;
	ck_assert_int_eq(d4_store_fed_out_put(s, "ab", 0, o), 0);
	o->batches = 2;
	ck_assert_int_eq(d4_store_fed_out_put(s, "ab", 1, o), 0);
	o->batches = 3;
	ck_assert_int_eq(d4_store_fed_out_put(s, "abc", 0, o), 0);
	ck_assert_uint_eq(d4_store_epoch(s), epoch); /* no epoch bump */
	ck_assert_int_eq(d4_store_fed_out_get(s, "ab", 1, got), 0);
	ck_assert_uint_eq(got->batches, 2);
	ck_assert_uint_eq(got->pos_len, 8);
	ck_assert_uint_eq(got->decisions[1], 5);
	struct olist l;
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_fed_out_foreach(s, "ab", olist_cb, &l), 0);
	ck_assert_uint_eq(l.n, 2); /* not abc's */
	ck_assert_uint_eq(l.kinds[0], 0);
	ck_assert_uint_eq(l.kinds[1], 1);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_fed_out_foreach(s, NULL, olist_cb, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.names[2], "abc");

	ck_assert_int_eq(d4_store_partner_del(s, "ab"), 0);
	ck_assert_int_eq(d4_store_fed_out_get(s, "ab", 0, got), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_fed_out_get(s, "ab", 1, got), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_fed_out_get(s, "abc", 0, got), 0);
	ck_assert_uint_eq(got->batches, 3);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_fed_out_foreach(s, NULL, olist_cb, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	/* created again under the name: from the start */
	partner_init(p, "ab", 1);
	ck_assert_int_eq(d4_store_partner_add(s, p), 0);
	ck_assert_int_eq(d4_store_fed_out_get(s, "ab", 0, got), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_partner_del(s, "abc"), 0);
	ck_assert_int_eq(d4_store_fed_out_get(s, "abc", 0, got), D4_ENOTFOUND);

	/* a corrupt record is reported, not guessed */
	ck_assert_int_eq(d4_store_test_put_raw(s, "fed_out", "ab\0\0", 4, "\x01\x00", 2), 0);
	ck_assert_int_eq(d4_store_fed_out_get(s, "ab", 0, got), D4_ECORRUPT);
	d4_store_close(s);
	free(p);
	free(o);
	free(got);
}
END_TEST

/* A corrupt fed_in record refuses that sender's batches (never stores one
 * twice on a guessed position), and the writer goes on. */
START_TEST(test_fed_in_corrupt)
{
	struct d4_store *s = open_writer();
	prov_init();
	struct d4_store_fed_frame fr;
	frame_init(&fr, 1, 9, 10, 0);
	struct d4_store_fed_batch b;
	batch_init(&b, 0, "", "Z");
	b.frames = &fr;
	b.nframes = 1;
	uint8_t k[17];
	memcpy(k, b.sender, 16);
	k[16] = 0;
	ck_assert_int_eq(d4_store_test_put_raw(s, "fed_in", k, 17, "\x01", 1), 0);
	ck_assert_int_eq(submit_wait(s, &b), D4_ECORRUPT);
	ck_assert_uint_eq(count_frames(s).n, 0);
	struct sess_list l;
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_session_foreach(s, NULL, sess_cb, &l), 0);
	ck_assert_uint_eq(l.n, 0);
	mkuuid(b.sender, 201); /* another sender is not affected */
	ck_assert_int_eq(submit_wait(s, &b), 0);
	ck_assert_uint_eq(count_frames(s).n, 1);
	d4_store_close(s);
}
END_TEST

static Suite *fed_suite(void)
{
	Suite *su = suite_create("store_fed");
	TCase *tc = tcase_create("fed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fed_codecs);
	tcase_add_test(tc, test_fed_tuple_record);
	tcase_add_test(tc, test_fed_positions);
	tcase_add_test(tc, test_fed_frames_provenance);
	tcase_add_test(tc, test_fed_tuples);
	tcase_add_test(tc, test_fed_map_full);
	tcase_add_test(tc, test_fed_paused);
	tcase_add_test(tc, test_fed_big_frame);
	tcase_add_test(tc, test_fed_kill9);
	tcase_add_test(tc, test_fed_older_store);
	tcase_add_test(tc, test_fed_out_partner_del);
	tcase_add_test(tc, test_fed_in_corrupt);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(fed_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
