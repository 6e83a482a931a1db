/* d4hub — the upstream relay: one thread per configured stream reads the
 * frame log through the federation source (every frame passes
 * d4_fed_decide with the upstream's rule), and writes what is released as
 * D4 frames signed with this hub's sensor uuid and key, through the sensor
 * library's connection. The log is the spool: nothing is copied; a
 * stream's position (the last frame the server acknowledged) is kept in a
 * file of its own, replaced atomically.
 *
 * A position is (seq, skip): the source's batch starting at frame seq, of
 * which the first `skip` released frames are delivered. The source is
 * deterministic for a given log prefix (the log only grows), so fetching
 * the batch at seq again and skipping `skip` frames resumes exactly after
 * the last acknowledged frame, in the middle of a batch. */
#include "d4_upstream.h"

#include "d4_error.h"
#include "d4_reader.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_proto.h"
#include "d4_sensor.h"
#include "d4_store_partner.h"
#include "d4_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PERSIST_MS    200u /* the position file is replaced at most this often while frames are acknowledged */
#define STOP_DRAIN_MS 2000u
#define PCAP_GHDR     D4_UPSTREAM_PCAP_HDR

/* ---- configuration helpers ------------------------------------------------ */

static int ext_valid(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '/')
			return 0;
	return 1;
}

int d4_upstream_streams_parse(const char *s, struct d4_upstream_stream *out, unsigned *n, char *err, size_t errlen)
{
	*n = 0;
	unsigned n254 = 0;
	const char *p = s ? s : "";
	for (;;) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != ' ' && *e != ',' && *e != '\t')
			e++;
		size_t len = (size_t)(e - p);
		char tok[80];
		if (len >= sizeof(tok)) {
			snprintf(err, errlen, "stream '%.20s...' is too long", p);
			return D4_EINVAL;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		p = e;
		char *colon = strchr(tok, ':');
		if (colon)
			*colon = '\0';
		char *end;
		errno = 0;
		unsigned long t = strtoul(tok, &end, 10);
		if (!tok[0] || *end || errno || t < 1 || t > 255 || t == 2) {
			snprintf(err, errlen, "stream '%s': the type must be 1..255 and not 2 (the meta header)", tok);
			return D4_EINVAL;
		}
		if ((t == 254) != (colon != NULL)) {
			snprintf(err, errlen,
				 t == 254 ? "stream '254': type 254 needs its extended type (254:NAME)"
					  : "stream '%s': only type 254 has an extended type",
				 tok);
			return D4_EINVAL;
		}
		if (colon && !ext_valid(colon + 1, strlen(colon + 1))) {
			snprintf(err, errlen,
				 "stream '254:%s': the extended type must be 1..63 printable characters, no space or /",
				 colon + 1);
			return D4_EINVAL;
		}
		if (*n >= D4_UPSTREAM_STREAMS_MAX) {
			snprintf(err, errlen, "more than %u streams", D4_UPSTREAM_STREAMS_MAX);
			return D4_EINVAL;
		}
		if (t == 254 && ++n254 > 1) {
			snprintf(err, errlen,
				 "only one type-254 stream: a D4 server admits one connection per sensor "
				 "uuid and type");
			return D4_EINVAL;
		}
		for (unsigned i = 0; i < *n; i++)
			if (out[i].type == t) {
				snprintf(err, errlen, "type %lu is listed twice", t);
				return D4_EINVAL;
			}
		out[*n].type = (uint8_t)t;
		out[*n].ext[0] = '\0';
		if (colon)
			d4_strlcpy(out[*n].ext, colon + 1, sizeof(out[*n].ext));
		(*n)++;
	}
	if (*n == 0) {
		snprintf(err, errlen, "no stream (e.g. streams = 8, 254:ja3-jl)");
		return D4_EINVAL;
	}
	return D4_OK;
}

int d4_upstream_key_read(const char *path, uint8_t *key, size_t *keylen, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "upstream.key_file %s: %s", path, strerror(errno));
		return D4_ECONFIG;
	}
	uint8_t buf[D4_UPSTREAM_KEY_MAX + 64];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "upstream.key_file %s: %s", path, strerror(errno));
			close(fd);
			d4_wipe(buf, sizeof(buf));
			return D4_ECONFIG;
		}
		if (r == 0 || len + (size_t)r == sizeof(buf)) {
			len += (size_t)r;
			break;
		}
		len += (size_t)r;
	}
	close(fd);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (len == 0 || len > D4_UPSTREAM_KEY_MAX) {
		snprintf(err, errlen, "upstream.key_file %s: %s", path,
			 len ? "key longer than 1024 bytes" : "empty key");
		d4_wipe(buf, sizeof(buf));
		return D4_ECONFIG;
	}
	memcpy(key, buf, len);
	*keylen = len;
	d4_wipe(buf, sizeof(buf));
	return D4_OK;
}

int d4_upstream_ca_check(const char *path, char *err, size_t errlen)
{
	X509_STORE *st = X509_STORE_new();
	X509_LOOKUP *lk = st ? X509_STORE_add_lookup(st, X509_LOOKUP_file()) : NULL;
	int ok = lk && X509_LOOKUP_load_file(lk, path, X509_FILETYPE_PEM) > 0;
	X509_STORE_free(st);
	ERR_clear_error();
	if (ok)
		return D4_OK;
	snprintf(err, errlen, "upstream.ca %s: %s", path,
		 access(path, R_OK) != 0 ? strerror(errno) : "no PEM certificate in it");
	return D4_ECONFIG;
}

/* ---- positions ------------------------------------------------------------- */

struct upos {
	uint64_t seq, skip;
};

static int pos_le(struct upos a, struct upos b)
{
	return a.seq < b.seq || (a.seq == b.seq && a.skip <= b.skip);
}

#define ustate d4_upstream_position

/* DIR/upstream-TYPE.pos, DIR/upstream-254-EXT.pos (EXT printable, no '/': checked when parsed) */
static int state_path(const char *dir, const struct d4_upstream_stream *st, char *out, size_t n)
{
	char name[96];
	if (st->type == 254)
		snprintf(name, sizeof(name), "upstream-254-%s.pos", st->ext);
	else
		snprintf(name, sizeof(name), "upstream-%u.pos", st->type);
	size_t dl = strlen(dir), nl = strlen(name);
	if (dl + 1 + nl + 1 > n)
		return D4_ETOOBIG;
	memcpy(out, dir, dl);
	out[dl] = '/';
	memcpy(out + dl + 1, name, nl + 1);
	return D4_OK;
}

/* Reads "NAME VALUE\n" at the reader: NAME exact, VALUE decimal u64 (no
 * sign, no leading zero but "0", at most 20 digits, no overflow). */
static int rd_u64_line(struct d4_reader *r, const char *name, uint64_t *out)
{
	size_t nl = strlen(name);
	const uint8_t *p = d4_rd_ptr(r, nl + 1);
	if (!p || memcmp(p, name, nl) != 0 || p[nl] != ' ')
		return d4_rd_fail(r, D4_ECORRUPT);
	uint64_t v = 0;
	size_t digits = 0;
	for (;;) {
		const uint8_t *c = d4_rd_ptr(r, 1);
		if (!c)
			return d4_rd_fail(r, D4_ECORRUPT);
		if (*c == '\n')
			break;
		if (*c < '0' || *c > '9' || (digits == 1 && v == 0) || v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
			return d4_rd_fail(r, D4_ECORRUPT);
		v = v * 10 + (uint64_t)(*c - '0');
		digits++;
	}
	if (!digits)
		return d4_rd_fail(r, D4_ECORRUPT);
	*out = v;
	return D4_OK;
}

static int hexval(uint8_t c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#define POS_MAGIC "d4hub-upstream-position 1\n"

int d4_upstream_position_parse(const uint8_t *buf, size_t len, struct d4_upstream_position *out)
{
	struct d4_upstream_position s;
	memset(&s, 0, sizeof(s));
	struct d4_reader r;
	d4_rd_init(&r, buf, len);
	const uint8_t *m = d4_rd_ptr(&r, sizeof(POS_MAGIC) - 1);
	if (!m || memcmp(m, POS_MAGIC, sizeof(POS_MAGIC) - 1) != 0)
		return D4_ECORRUPT;
	uint64_t clean = 0, has_hdr = 0;
	if (rd_u64_line(&r, "seq", &s.pos_seq) || rd_u64_line(&r, "skip", &s.pos_skip) ||
	    rd_u64_line(&r, "frames", &s.frames) || rd_u64_line(&r, "bytes", &s.bytes) ||
	    rd_u64_line(&r, "unacked", &s.unacked) || rd_u64_line(&r, "clean", &clean) ||
	    rd_u64_line(&r, "pcap_session", &s.pcap_session) || rd_u64_line(&r, "pcap_header", &has_hdr))
		return D4_ECORRUPT;
	if (clean > 1 || has_hdr > 1)
		return D4_ECORRUPT;
	s.clean = (int)clean;
	s.has_pcap_hdr = (int)has_hdr;
	if (has_hdr) {
		const uint8_t *h = d4_rd_ptr(&r, 2 * D4_UPSTREAM_PCAP_HDR + 1);
		if (!h || h[2 * D4_UPSTREAM_PCAP_HDR] != '\n')
			return D4_ECORRUPT;
		for (unsigned i = 0; i < D4_UPSTREAM_PCAP_HDR; i++) {
			int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return D4_ECORRUPT;
			s.pcap_hdr[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	if (d4_rd_error(&r) || d4_rd_left(&r) != 0)
		return D4_ECORRUPT;
	*out = s;
	return D4_OK;
}

int d4_upstream_position_format(const struct d4_upstream_position *s, char *out, size_t n)
{
	char hex[2 * D4_UPSTREAM_PCAP_HDR + 2] = "";
	if (s->has_pcap_hdr) {
		d4_hex_encode(s->pcap_hdr, D4_UPSTREAM_PCAP_HDR, hex);
		hex[2 * D4_UPSTREAM_PCAP_HDR] = '\n';
		hex[2 * D4_UPSTREAM_PCAP_HDR + 1] = '\0';
	}
	int len = snprintf(out, n,
			   POS_MAGIC "seq %" PRIu64 "\nskip %" PRIu64 "\nframes %" PRIu64 "\nbytes %" PRIu64
				     "\nunacked %" PRIu64 "\nclean %d\npcap_session %" PRIu64 "\npcap_header %d\n%s",
			   s->pos_seq, s->pos_skip, s->frames, s->bytes, s->unacked, s->clean ? 1 : 0, s->pcap_session,
			   s->has_pcap_hdr ? 1 : 0, hex);
	return len > 0 && (size_t)len < n ? len : D4_ETOOBIG;
}

/* 0 (read), D4_ENOTFOUND (no file: start of the log), D4_ECORRUPT, D4_EIO. */
static int state_load(const char *path, struct ustate *s)
{
	memset(s, 0, sizeof(*s));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? D4_ENOTFOUND : D4_EIO;
	uint8_t buf[1024];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(buf))
			break;
	}
	close(fd);
	return d4_upstream_position_parse(buf, len, s);
}

/* Written to a temporary file, fsync'ed, renamed over the old one. */
static int state_save(const char *path, const struct ustate *s)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	char buf[512];
	int len = d4_upstream_position_format(s, buf, sizeof(buf));
	if (len < 0)
		return len;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return D4_EIO;
	int ok = write(fd, buf, (size_t)len) == len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return D4_EIO;
	}
	return D4_OK;
}

/* ---- one stream ------------------------------------------------------------ */

struct sent_rec {
	struct upos pos;
	uint32_t size;
};

struct ustream {
	struct d4_upstream *u;
	struct d4_upstream_stream cfg;
	uint8_t scope[32]; /* the type this stream carries (d4_fed_source_opts.only_types) */
	char name[80];
	char path[PATH_MAX];
	pthread_t th;
	int started;
	struct d4_partner *partner;
	struct d4_fed_source *src;
	struct d4_sensor_conn *conn;
	struct ustate st; /* acknowledged; what the file holds (after a save) */
	int dirty;
	uint64_t last_save;
	uint64_t replay0;
	/* the send cursor: the current batch and how far it was sent */
	const uint8_t *batch;
	size_t batch_len;
	struct d4_fed_batch_it it;
	struct upos bfrom; /* the batch's start */
	uint64_t bto;	   /* its end (`to`) */
	uint64_t bidx;	   /* released records of the batch consumed */
	uint32_t bn;	   /* released records in the batch */
	int have_batch, bmore;
	uint64_t decided_to; /* decisions are counted once per frame */
	/* what the open connection carries: its meta header or pcap session */
	int ident_set;
	uint8_t ident_tlp, ident_has_org, ident_org[16];
	uint64_t ident_session;
	int draining; /* waiting for acks before a new connection for another identity */
	/* type 1: the global headers of the last sessions seen (interleaved
	 * sessions each resume with theirs on a new connection); the state
	 * keeps the latest across a restart */
	struct {
		uint64_t session;
		uint8_t hdr[PCAP_GHDR];
		int used;
	} hcache[16];
	unsigned hnext;
	/* records in flight, oldest first (parallel to the connection's) */
	struct sent_rec *ring;
	unsigned rhead, rcount;
	/* status, under u->mu */
	struct d4_upstream_status status;
};

struct d4_upstream {
	struct d4_store *store;
	struct d4_upstream_opts o;
	uint8_t key[D4_UPSTREAM_KEY_MAX];
	struct d4_sensor_ident id;
	char dest[512], ca[PATH_MAX], server_name[256], state_dir[PATH_MAX];
	struct ustream s[D4_UPSTREAM_STREAMS_MAX];
	unsigned n;
	pthread_mutex_t mu;
	volatile int stop;
};

#define RING_MAX D4_ACK_MAX_INFLIGHT /* = the connection's window */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void be64(uint64_t v, uint8_t out[8])
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t rd64(const uint8_t *p, size_t n)
{
	if (n != 8)
		return 0;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static struct upos stpos(const struct ustream *s)
{
	return (struct upos){s->st.pos_seq, s->st.pos_skip};
}

static void set_error(struct ustream *s, const char *what, const char *detail)
{
	pthread_mutex_lock(&s->u->mu);
	snprintf(s->status.last_error, sizeof(s->status.last_error), "%s: %s", what, detail);
	pthread_mutex_unlock(&s->u->mu);
}

static void save(struct ustream *s, int force, int clean)
{
	uint64_t now = d4_mono_ms();
	if (!force && (!s->dirty || now - s->last_save < PERSIST_MS))
		return;
	s->st.clean = clean;
	s->st.unacked = s->rcount;
	if (state_save(s->path, &s->st) != 0) {
		d4_warn("upstream %s: cannot write %s: %s", s->name, s->path, strerror(errno));
		set_error(s, "cannot write the position file", strerror(errno));
	} else {
		s->dirty = 0;
	}
	s->last_save = now;
}

/* Fetches the batch starting at from; 0, or an error. */
static int fetch(struct ustream *s, struct upos from)
{
	uint8_t fb[8];
	be64(from.seq, fb);
	struct d4_fed_counters dec;
	uint32_t records = 0;
	int more = 0;
	const uint8_t *out;
	size_t outlen;
	/* a log position of 0 is the start ("" for the source) */
	int rc = d4_fed_source_next(s->src, s->partner, fb, from.seq ? 8 : 0, &out, &outlen, &dec, &records, &more);
	if (rc)
		return rc;
	struct d4_fed_batch_hdr h;
	if ((rc = d4_fed_batch_open(out, outlen, &h, &s->it)) != 0)
		return rc;
	s->batch = out;
	s->batch_len = outlen;
	s->bfrom = (struct upos){from.seq, 0};
	s->bto = rd64(h.to, h.to_len);
	s->bn = h.nrecords;
	s->bidx = 0;
	s->bmore = more;
	s->have_batch = 1;
	if (s->bto > s->decided_to) {
		pthread_mutex_lock(&s->u->mu);
		if (from.seq >= s->decided_to)
			for (unsigned r = 0; r < D4_FED_R_COUNT; r++)
				s->status.decisions[r] += dec.n[D4_FED_KIND_FRAMES][r];
		pthread_mutex_unlock(&s->u->mu);
		s->decided_to = s->bto;
	}
	/* skip what was delivered of this batch */
	struct d4_fed_wrec r;
	while (s->bidx < from.skip && s->bidx < s->bn) {
		if (d4_fed_batch_next(&s->it, &r) != 1)
			return D4_ECORRUPT;
		s->bidx++;
	}
	return D4_OK;
}

static void rewind_to_acked(struct ustream *s)
{
	s->have_batch = 0;
	s->rcount = 0;
	s->ident_set = 0;
	s->draining = 0;
}

static int is_pcap_hdr(const uint8_t *p, size_t n)
{
	if (n < PCAP_GHDR)
		return 0;
	static const uint8_t m[4][4] = {
	    {0xa1, 0xb2, 0xc3, 0xd4}, {0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, {0x4d, 0x3c, 0xb2, 0xa1}};
	for (int i = 0; i < 4; i++)
		if (!memcmp(p, m[i], 4))
			return 1;
	return 0;
}

/* The global header of a type-1 session, if known. */
static const uint8_t *pcap_hdr_of(const struct ustream *s, uint64_t session)
{
	for (unsigned i = 0; i < sizeof(s->hcache) / sizeof(s->hcache[0]); i++)
		if (s->hcache[i].used && s->hcache[i].session == session)
			return s->hcache[i].hdr;
	if (s->st.has_pcap_hdr && s->st.pcap_session == session)
		return s->st.pcap_hdr;
	return NULL;
}

static void pcap_hdr_keep(struct ustream *s, uint64_t session, const uint8_t *hdr)
{
	unsigned n = sizeof(s->hcache) / sizeof(s->hcache[0]), i;
	for (i = 0; i < n; i++)
		if (s->hcache[i].used && s->hcache[i].session == session)
			break;
	if (i == n) {
		i = s->hnext;
		s->hnext = (s->hnext + 1) % n;
	}
	s->hcache[i].used = 1;
	s->hcache[i].session = session;
	memcpy(s->hcache[i].hdr, hdr, PCAP_GHDR);
	memcpy(s->st.pcap_hdr, hdr, PCAP_GHDR);
	s->st.has_pcap_hdr = 1;
	s->st.pcap_session = session;
}

/* The meta header of a type-254 connection: the extended type, the level
 * the egress decision was taken on, and the organisation when the record
 * goes with its provenance. */
static size_t meta_json(const struct ustream *s, const struct d4_fed_wrec *r, char *out, size_t n)
{
	char org[64] = "";
	if (r->prov.has_org) {
		char hex[D4_UUID_HEX_LEN + 1];
		d4_uuid_hex(r->prov.org, hex);
		snprintf(org, sizeof(org), ",\"misp:org\":\"%.8s-%.4s-%.4s-%.4s-%.12s\"", hex, hex + 8, hex + 12,
			 hex + 16, hex + 20);
	}
	int len = snprintf(out, n, "{\"type\":\"%s\",\"tags\":[\"%s\"]%s}", s->cfg.ext,
			   d4_policy_tlp_name((enum d4_tlp)r->prov.tlp), org);
	return len > 0 && (size_t)len < n ? (size_t)len : 0;
}

static int same_ident(const struct ustream *s, const struct d4_fed_wrec *r)
{
	if (s->cfg.type == 254)
		return s->ident_tlp == r->prov.tlp && s->ident_has_org == r->prov.has_org &&
		       (!r->prov.has_org || !memcmp(s->ident_org, r->prov.org, 16));
	if (s->cfg.type == 1)
		return s->ident_session == r->origin_session;
	return 1;
}

/* Sends one record; *sent 1 when it went. 0, or D4_ECLOSED. */
static int send_record(struct ustream *s, const struct d4_fed_wrec *r, struct upos after)
{
	if (!s->ident_set) {
		if (s->cfg.type == 254) {
			char meta[512];
			size_t ml = meta_json(s, r, meta, sizeof(meta));
			if (!ml)
				return D4_EINVAL;
			int rc = d4_sensor_conn_meta(s->conn, (const uint8_t *)meta, ml, r->hdr_ts);
			if (rc)
				return rc;
			s->ident_tlp = r->prov.tlp;
			s->ident_has_org = r->prov.has_org;
			memcpy(s->ident_org, r->prov.org, 16);
		} else if (s->cfg.type == 1) {
			/* a connection that starts inside a pcap session starts
			 * with that session's global header, sent again */
			const uint8_t *hdr =
			    is_pcap_hdr(r->payload, r->size) ? NULL : pcap_hdr_of(s, r->origin_session);
			if (hdr) {
				struct d4_spool_pos before = {s->st.pos_seq, s->st.pos_skip};
				int rc = d4_sensor_conn_send(s->conn, 1, r->hdr_ts, hdr, PCAP_GHDR, &before);
				if (rc)
					return rc;
			}
			s->ident_session = r->origin_session;
		}
		s->ident_set = 1;
	}
	struct d4_spool_pos sp = {after.seq, after.skip};
	int rc = d4_sensor_conn_send(s->conn, r->type, r->hdr_ts, r->payload, r->size, &sp);
	if (rc)
		return rc;
	unsigned i = (s->rhead + s->rcount) % RING_MAX;
	s->ring[i].pos = after;
	s->ring[i].size = r->size;
	s->rcount++;
	return D4_OK;
}

/* The server acknowledged everything up to p. */
static void acked(struct ustream *s, struct upos p)
{
	uint64_t n = 0, b = 0;
	while (s->rcount && pos_le(s->ring[s->rhead].pos, p)) {
		n++;
		b += s->ring[s->rhead].size;
		s->rhead = (s->rhead + 1) % RING_MAX;
		s->rcount--;
	}
	if (pos_le(p, stpos(s)) && !n)
		return;
	if (!pos_le(p, stpos(s))) {
		s->st.pos_seq = p.seq;
		s->st.pos_skip = p.skip;
	}
	s->st.frames += n;
	s->st.bytes += b;
	s->dirty = 1;
	pthread_mutex_lock(&s->u->mu);
	s->status.frames = s->st.frames;
	s->status.bytes = s->st.bytes;
	s->status.pos_seq = p.seq;
	s->status.pos_skip = p.skip;
	if (n)
		s->status.last_ack = d4_now_s();
	pthread_mutex_unlock(&s->u->mu);
}

static void update_status(struct ustream *s)
{
	struct d4_sensor_conn_stats cs;
	d4_sensor_conn_stats(s->conn, &cs);
	uint64_t lr = 0, ls = 0;
	uint8_t pb[8];
	be64(s->st.pos_seq, pb);
	(void)d4_fed_source_lag(s->src, pb, s->st.pos_seq ? 8 : 0, &lr, &ls);
	/* frames of the acknowledged batch already delivered are not behind */
	lr = lr > s->st.pos_skip ? lr - s->st.pos_skip : 0;
	pthread_mutex_lock(&s->u->mu);
	s->status.connected = cs.connected;
	s->status.acked = cs.acked;
	s->status.sent_frames = cs.frames;
	s->status.sent_bytes = cs.bytes;
	s->status.connects = cs.connects;
	s->status.failures = cs.failures;
	s->status.lag_records = lr;
	s->status.lag_seconds = lr ? ls : 0;
	if (cs.last_error[0])
		d4_strlcpy(s->status.last_error, cs.last_error, sizeof(s->status.last_error));
	pthread_mutex_unlock(&s->u->mu);
}

static void *stream_main(void *arg)
{
	struct ustream *s = arg;
	struct d4_upstream *u = s->u;
	unsigned poll = u->o.poll_ms ? u->o.poll_ms : 50;
	uint64_t last_status = 0, idle_until = 0;
	struct d4_fed_wrec r;
	int pending = 0; /* r holds a record not yet sent */
	struct upos pending_after = {0, 0};
	while (!u->stop) {
		int fresh = 0, rew = 0;
		int up = d4_sensor_conn_poll(s->conn, &fresh, &rew);
		struct d4_spool_pos cp;
		if (d4_sensor_conn_confirmed(s->conn, &cp))
			acked(s, (struct upos){cp.seq, cp.off});
		if (rew || fresh) {
			rewind_to_acked(s);
			pending = 0;
		}
		save(s, 0, 0);
		uint64_t now = d4_mono_ms();
		if (now - last_status >= 500) {
			update_status(s);
			last_status = now;
		}
		if (!up) {
			sleep_ms(poll);
			continue;
		}
		if (s->draining) {
			if (d4_sensor_conn_inflight(s->conn) == 0) {
				/* everything of the old stream acknowledged:
				 * the new one starts on a new connection */
				d4_sensor_conn_close(s->conn, 1);
				pthread_mutex_lock(&u->mu);
				s->status.reconnects_stream++;
				pthread_mutex_unlock(&u->mu);
			} else {
				sleep_ms(2);
			}
			continue;
		}
		if (!d4_sensor_conn_room(s->conn)) {
			sleep_ms(2);
			continue;
		}
		if (!pending) {
			if (!s->have_batch || s->bidx >= s->bn) {
				struct upos from = s->have_batch ? (struct upos){s->bto, 0} : stpos(s);
				if (s->have_batch && !s->bmore && now < idle_until) {
					sleep_ms(poll < 20 ? poll : 20);
					continue;
				}
				int rc = fetch(s, from);
				if (rc) {
					d4_warn("upstream %s: reading the log: %s", s->name, d4_strerror(rc));
					set_error(s, "reading the log", d4_strerror(rc));
					s->have_batch = 0;
					sleep_ms(1000);
					continue;
				}
				if (s->bn == 0) {
					/* nothing released: the position moves when nothing is in flight */
					if (d4_sensor_conn_inflight(s->conn) == 0 && s->rcount == 0 &&
					    !pos_le((struct upos){s->bto, 0}, stpos(s)))
						acked(s, (struct upos){s->bto, 0});
					if (!s->bmore)
						idle_until = d4_mono_ms() + poll;
					continue;
				}
			}
			int rc = d4_fed_batch_next(&s->it, &r);
			if (rc != 1) {
				d4_warn("upstream %s: a batch of the source does not decode: %s", s->name, s->it.why);
				s->have_batch = 0;
				sleep_ms(1000);
				continue;
			}
			s->bidx++;
			pending_after =
			    s->bidx >= s->bn ? (struct upos){s->bto, 0} : (struct upos){s->bfrom.seq, s->bidx};
			pending = 1;
		}
		if (s->ident_set && !same_ident(s, &r)) {
			s->draining = 1;
			continue;
		}
		int rc = send_record(s, &r, pending_after);
		if (rc == D4_OK) {
			pending = 0;
			if (s->cfg.type == 1 && is_pcap_hdr(r.payload, r.size))
				pcap_hdr_keep(s, r.origin_session, r.payload);
		} else if (rc == D4_ETOOBIG) {
			/* larger than a D4 server takes (1,000,000 bytes, d4-sensor's
			 * limit): counted as too-big, logged, skipped -- one frame
			 * never blocks a stream */
			d4_warn("upstream %s: a frame of %u bytes is larger than a D4 server takes; skipped", s->name,
				r.size);
			pthread_mutex_lock(&u->mu);
			s->status.decisions[D4_FED_R_TOO_BIG]++;
			pthread_mutex_unlock(&u->mu);
			pending = 0;
			if (d4_sensor_conn_inflight(s->conn) == 0 && s->rcount == 0)
				acked(s, pending_after);
		} else if (rc != D4_ECLOSED) {
			d4_warn("upstream %s: %s", s->name, d4_strerror(rc));
			pending = 0;
		}
	}
	/* stop: a short wait for what is in flight, then the position */
	uint64_t deadline = d4_mono_ms() + STOP_DRAIN_MS;
	while (d4_sensor_conn_inflight(s->conn) && d4_mono_ms() < deadline) {
		int fresh, rew;
		if (!d4_sensor_conn_poll(s->conn, &fresh, &rew))
			break;
		struct d4_spool_pos cp;
		if (d4_sensor_conn_confirmed(s->conn, &cp))
			acked(s, (struct upos){cp.seq, cp.off});
		sleep_ms(5);
	}
	struct d4_spool_pos cp;
	if (d4_sensor_conn_confirmed(s->conn, &cp))
		acked(s, (struct upos){cp.seq, cp.off});
	unsigned inflight = d4_sensor_conn_inflight(s->conn);
	d4_sensor_conn_close(s->conn, 1);
	if (d4_sensor_conn_confirmed(s->conn, &cp))
		acked(s, (struct upos){cp.seq, cp.off});
	s->rcount = inflight < s->rcount ? inflight : s->rcount;
	save(s, 1, 1);
	d4_notice("upstream %s: stopped at frame %" PRIu64 " (+%" PRIu64 "), %" PRIu64 " frames acknowledged in all",
		  s->name, s->st.pos_seq, s->st.pos_skip, s->st.frames);
	return NULL;
}

static int stream_init(struct d4_upstream *u, struct ustream *s, const struct d4_upstream_stream *cfg)
{
	s->u = u;
	s->cfg = *cfg;
	if (cfg->type == 254)
		snprintf(s->name, sizeof(s->name), "254:%s", cfg->ext);
	else
		snprintf(s->name, sizeof(s->name), "%u", cfg->type);
	d4_strlcpy(s->status.name, s->name, sizeof(s->status.name));
	s->status.type = cfg->type;
	d4_strlcpy(s->status.ext, cfg->ext, sizeof(s->status.ext));
	int rc = state_path(u->state_dir, cfg, s->path, sizeof(s->path) - 8);
	if (rc)
		return rc;
	rc = state_load(s->path, &s->st);
	if (rc == D4_ENOTFOUND) {
		memset(&s->st, 0, sizeof(s->st));
		s->replay0 = 0;
	} else if (rc) {
		d4_err("upstream %s: position file %s cannot be read (%s): fix or remove it (removing it sends the "
		       "whole log again)",
		       s->name, s->path, d4_strerror(rc));
		return rc;
	} else {
		/* after a crash, up to a window of records may have been sent and
		 * committed without our knowing: announced as possible replays
		 * (a d4-ack/1 server drops exactly those it has) */
		s->replay0 = s->st.clean ? s->st.unacked : D4_ACK_MAX_INFLIGHT;
	}
	s->status.frames = s->st.frames;
	s->status.bytes = s->st.bytes;
	s->status.pos_seq = s->st.pos_seq;
	s->status.pos_skip = s->st.pos_skip;
	s->decided_to = s->st.pos_seq;
	s->ring = calloc(RING_MAX, sizeof(*s->ring));
	s->partner = calloc(1, sizeof(*s->partner));
	if (!s->ring || !s->partner)
		return D4_ENOMEM;
	/* The upstream as the egress policy sees it: a community member
	 * (tlp:green at most) or, with max_tlp tlp:clear, a public server.
	 * Its hub uuid is unknown (all zero: never this hub, never an origin). */
	struct d4_partner *p = s->partner;
	d4_strlcpy(p->name, "upstream", sizeof(p->name));
	p->relation = u->o.max_tlp == D4_TLP_CLEAR ? D4_FED_REL_PUBLIC : D4_FED_REL_COMMUNITY;
	p->enabled = 1;
	struct d4_partner_rule *rule = &p->out[D4_FED_KIND_FRAMES];
	rule->enabled = 1;
	rule->max_tlp = u->o.max_tlp;
	rule->allow_relay = u->o.relay ? 1 : 0;
	rule->type_allow[cfg->type / 8] |= (uint8_t)(1u << (cfg->type % 8));
	if (cfg->type == 254) {
		rule->n_ext_allow = 1;
		d4_strlcpy(rule->ext_allow[0], cfg->ext, sizeof(rule->ext_allow[0]));
	}
	/* the stream decides (and counts) only the frames it could carry */
	s->scope[cfg->type / 8] = (uint8_t)(1u << (cfg->type % 8));
	struct d4_fed_source_opts so = {
	    .self = &u->o.self, .only_types = s->scope, .only_ext = cfg->type == 254 ? s->cfg.ext : NULL};
	if ((rc = d4_fed_source_new(u->store, &so, D4_FED_KIND_FRAMES, &s->src)) != 0)
		return rc;
	struct d4_sensor_conn_opts co = {.id = &u->id,
					 .dest = u->dest,
					 .ca = u->ca[0] ? u->ca : NULL,
					 .server_name = u->server_name[0] ? u->server_name : NULL,
					 .insecure = u->o.insecure,
					 .backoff_min_ms = u->o.backoff_min_ms,
					 .backoff_max_ms = u->o.backoff_max_ms,
					 .replay = s->replay0};
	return d4_sensor_conn_new(&co, &s->conn);
}

static void stream_free(struct ustream *s)
{
	d4_sensor_conn_free(s->conn);
	d4_fed_source_free(s->src);
	free(s->partner);
	free(s->ring);
}

int d4_upstream_start(struct d4_store *store, const struct d4_upstream_opts *o, struct d4_upstream **out)
{
	*out = NULL;
	if (!o->dest || !o->keylen || o->keylen > D4_UPSTREAM_KEY_MAX || !o->nstreams ||
	    o->nstreams > D4_UPSTREAM_STREAMS_MAX || !o->state_dir ||
	    (o->max_tlp != D4_TLP_CLEAR && o->max_tlp != D4_TLP_GREEN))
		return D4_EINVAL;
	struct d4_upstream *u = calloc(1, sizeof(*u));
	if (!u)
		return D4_ENOMEM;
	u->store = store;
	u->o = *o;
	memcpy(u->key, o->key, o->keylen);
	u->o.key = NULL;
	memcpy(u->id.uuid, o->uuid, 16);
	u->id.key = u->key;
	u->id.keylen = o->keylen;
	u->id.version = 1;
	d4_strlcpy(u->dest, o->dest, sizeof(u->dest));
	d4_strlcpy(u->ca, o->ca ? o->ca : "", sizeof(u->ca));
	d4_strlcpy(u->server_name, o->server_name ? o->server_name : "", sizeof(u->server_name));
	d4_strlcpy(u->state_dir, o->state_dir, sizeof(u->state_dir));
	pthread_mutex_init(&u->mu, NULL);
	int rc = D4_OK;
	if (mkdir(u->state_dir, 0700) != 0 && errno != EEXIST) {
		d4_err("upstream: cannot make %s: %s", u->state_dir, strerror(errno));
		rc = D4_EIO;
	}
	for (unsigned i = 0; rc == D4_OK && i < o->nstreams; i++) {
		rc = stream_init(u, &u->s[i], &o->streams[i]);
		u->n = i + 1;
	}
	for (unsigned i = 0; rc == D4_OK && i < u->n; i++) {
		if (pthread_create(&u->s[i].th, NULL, stream_main, &u->s[i]) != 0)
			rc = D4_ENOMEM;
		else
			u->s[i].started = 1;
	}
	if (rc) {
		d4_upstream_stop(u);
		return rc;
	}
	d4_notice("upstream: relaying %u stream(s) to %s (max %s)", u->n, u->dest,
		  d4_policy_tlp_name((enum d4_tlp)u->o.max_tlp));
	*out = u;
	return D4_OK;
}

void d4_upstream_stop(struct d4_upstream *u)
{
	if (!u)
		return;
	u->stop = 1;
	for (unsigned i = 0; i < u->n; i++)
		if (u->s[i].started)
			pthread_join(u->s[i].th, NULL);
	for (unsigned i = 0; i < u->n; i++)
		stream_free(&u->s[i]);
	d4_wipe(u->key, sizeof(u->key));
	pthread_mutex_destroy(&u->mu);
	free(u);
}

unsigned d4_upstream_count(const struct d4_upstream *u)
{
	return u ? u->n : 0;
}

const char *d4_upstream_dest(const struct d4_upstream *u)
{
	return u ? u->dest : "";
}

int d4_upstream_status(struct d4_upstream *u, unsigned i, struct d4_upstream_status *out)
{
	if (!u || i >= u->n)
		return D4_ENOTFOUND;
	pthread_mutex_lock(&u->mu);
	*out = u->s[i].status;
	pthread_mutex_unlock(&u->mu);
	return D4_OK;
}
