/* d4-sensor: bounded on-disk spool of append-only segment files.
 *
 * Layout: DIR/seg-<16 hex seq> files of records
 *   'D' '4' 'S' type | u32le payload length | u64le original timestamp | payload
 * and DIR/cursor (u64le seq, u64le offset): everything before it was
 * delivered. A new run never appends to an old segment; a torn record at the
 * tail of a segment (crash during write) is cut off when the spool opens.
 * Records hold the payload, not a signed frame: frames are signed when sent. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_util.h"
#include "d4_sensor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define REC_HDR 16
#define SYNC_MS 1000

struct seg {
	uint64_t seq;
	uint64_t size;
};

struct d4_spool {
	char *dir;
	int dirfd;
	int cursor_fd;
	uint64_t max;
	uint64_t seg_max;
	struct seg *segs; /* ascending; the last one is the active (written) one */
	size_t nsegs, segcap;
	int wfd;
	int rfd;
	uint64_t rseq;
	struct d4_spool_pos rpos, cpos;
	size_t peek_len;
	uint8_t *rbuf;
	size_t rbufcap;
	uint64_t total;
	uint64_t dropped_frames, dropped_bytes;
	uint64_t unconfirmed_at_open;
	uint64_t last_sync;
	int dirty;
};

static void seg_path(const struct d4_spool *sp, uint64_t seq, char *out, size_t n)
{
	snprintf(out, n, "%s/seg-%016" PRIx64, sp->dir, seq);
}

static struct seg *active(struct d4_spool *sp)
{
	return &sp->segs[sp->nsegs - 1];
}

static struct seg *find_seg(struct d4_spool *sp, uint64_t seq)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].seq == seq)
			return &sp->segs[i];
	return NULL;
}

/* Moves pos past finished segments; a pos in a deleted segment moves to the
 * oldest existing one. */
static void normalize(struct d4_spool *sp, struct d4_spool_pos *pos)
{
	for (;;) {
		struct seg *s = find_seg(sp, pos->seq);
		if (!s) {
			if (pos->seq > active(sp)->seq) {
				pos->seq = active(sp)->seq;
				pos->off = active(sp)->size;
				return;
			}
			size_t i = 0;
			while (i < sp->nsegs - 1 && sp->segs[i].seq < pos->seq)
				i++;
			pos->seq = sp->segs[i].seq;
			pos->off = 0;
			continue;
		}
		if (s == active(sp) || pos->off < s->size)
			return;
		pos->seq = (s + 1)->seq;
		pos->off = 0;
	}
}

static int push_seg(struct d4_spool *sp, uint64_t seq, uint64_t size)
{
	if (sp->nsegs == sp->segcap) {
		size_t nc = sp->segcap ? sp->segcap * 2 : 16;
		struct seg *n = realloc(sp->segs, nc * sizeof(*n));
		if (!n)
			return D4_ENOMEM;
		sp->segs = n;
		sp->segcap = nc;
	}
	sp->segs[sp->nsegs].seq = seq;
	sp->segs[sp->nsegs].size = size;
	sp->nsegs++;
	return D4_OK;
}

static int new_active(struct d4_spool *sp)
{
	uint64_t seq = sp->nsegs ? active(sp)->seq + 1 : (sp->cpos.seq ? sp->cpos.seq + 1 : 1);
	char path[PATH_MAX];
	seg_path(sp, seq, path, sizeof(path));
	if (sp->wfd >= 0) {
		if (fsync(sp->wfd) != 0)
			d4_warn("spool: fsync: %s", strerror(errno));
		close(sp->wfd);
	}
	sp->wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (sp->wfd < 0) {
		d4_err("spool %s: %s", path, strerror(errno));
		return D4_EIO;
	}
	sp->dirty = 1;
	return push_seg(sp, seq, 0);
}

/* Length of the valid prefix of a segment file (cuts a torn tail). */
static uint64_t scan_valid(int fd, uint64_t size, uint64_t *records)
{
	uint64_t off = 0;
	*records = 0;
	uint8_t h[REC_HDR];
	while (off + REC_HDR <= size) {
		if (pread(fd, h, REC_HDR, (off_t)off) != REC_HDR || h[0] != 'D' || h[1] != '4' || h[2] != 'S')
			break;
		struct d4_reader r;
		d4_rd_init(&r, h + 4, 4);
		uint32_t len = d4_rd_u32le(&r);
		if (len > D4S_MAX_PAYLOAD || off + REC_HDR + len > size)
			break;
		off += REC_HDR + len;
		(*records)++;
	}
	return off;
}

static uint64_t count_records(struct d4_spool *sp, uint64_t seq, uint64_t from)
{
	char path[PATH_MAX];
	seg_path(sp, seq, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t all, n = 0, before = 0;
	struct stat st;
	if (fstat(fd, &st) == 0) {
		scan_valid(fd, (uint64_t)st.st_size, &all);
		/* records before `from` are delivered already */
		uint64_t off = 0;
		uint8_t h[REC_HDR];
		while (off < from && pread(fd, h, REC_HDR, (off_t)off) == REC_HDR) {
			struct d4_reader r;
			d4_rd_init(&r, h + 4, 4);
			off += REC_HDR + d4_rd_u32le(&r);
			before++;
		}
		n = all > before ? all - before : 0;
	}
	close(fd);
	return n;
}

static void unlink_seg(struct d4_spool *sp, size_t i)
{
	char path[PATH_MAX];
	seg_path(sp, sp->segs[i].seq, path, sizeof(path));
	if (sp->rfd >= 0 && sp->rseq == sp->segs[i].seq) {
		close(sp->rfd);
		sp->rfd = -1;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		d4_warn("spool: unlink %s: %s", path, strerror(errno));
	sp->total -= sp->segs[i].size;
	memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(sp->segs[0]));
	sp->nsegs--;
	sp->dirty = 1;
}

static int write_cursor(struct d4_spool *sp)
{
	uint8_t c[16];
	d4_put_u64le(c, sp->cpos.seq);
	d4_put_u64le(c + 8, sp->cpos.off);
	if (pwrite(sp->cursor_fd, c, sizeof(c), 0) != (ssize_t)sizeof(c))
		return D4_EIO;
	sp->dirty = 1;
	return D4_OK;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int d4_sensor_spool_open(const char *dir, uint64_t max_bytes, struct d4_spool **out)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		d4_err("spool %s: %s", dir, strerror(errno));
		return D4_EIO;
	}
	struct d4_spool *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return D4_ENOMEM;
	sp->wfd = sp->rfd = sp->cursor_fd = sp->dirfd = -1;
	sp->max = max_bytes ? max_bytes : D4S_SPOOL_DEFAULT;
	sp->seg_max = sp->max / 16;
	if (sp->seg_max < 65536)
		sp->seg_max = 65536;
	if (sp->seg_max > (16u << 20))
		sp->seg_max = 16u << 20;
	sp->dir = strdup(dir);
	int rc = D4_EIO;
	if (!sp->dir) {
		rc = D4_ENOMEM;
		goto fail;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cursor", dir);
	sp->cursor_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->dirfd < 0 || sp->cursor_fd < 0) {
		d4_err("spool %s: %s", dir, strerror(errno));
		goto fail;
	}
	uint8_t c[16];
	if (pread(sp->cursor_fd, c, sizeof(c), 0) == (ssize_t)sizeof(c)) {
		struct d4_reader r;
		d4_rd_init(&r, c, sizeof(c));
		sp->cpos.seq = d4_rd_u64le(&r);
		sp->cpos.off = d4_rd_u64le(&r);
	}

	DIR *d = opendir(dir);
	if (!d) {
		d4_err("spool %s: %s", dir, strerror(errno));
		goto fail;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t seq;
		char extra;
		if (strncmp(e->d_name, "seg-", 4) != 0 || strlen(e->d_name) != 20 ||
		    sscanf(e->d_name + 4, "%16" SCNx64 "%c", &seq, &extra) != 1)
			continue;
		if (push_seg(sp, seq, 0) != 0) {
			closedir(d);
			rc = D4_ENOMEM;
			goto fail;
		}
	}
	closedir(d);
	if (sp->nsegs > 1)
		qsort(sp->segs, sp->nsegs, sizeof(sp->segs[0]), cmp_seq);

	uint64_t pending = 0;
	for (size_t i = 0; i < sp->nsegs;) {
		seg_path(sp, sp->segs[i].seq, path, sizeof(path));
		if (sp->segs[i].seq < sp->cpos.seq) { /* delivered before the last exit */
			unlink_seg(sp, i);
			continue;
		}
		int fd = open(path, O_RDWR | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0) {
			d4_warn("spool: cannot read %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(sp->segs[0]));
			sp->nsegs--;
			continue;
		}
		uint64_t recs, valid = scan_valid(fd, (uint64_t)st.st_size, &recs);
		if (valid < (uint64_t)st.st_size) {
			d4_warn("spool: %s: %" PRIu64 " bytes of incomplete data at the end cut off", path,
				(uint64_t)st.st_size - valid);
			if (ftruncate(fd, (off_t)valid) != 0)
				d4_warn("spool: truncate %s: %s", path, strerror(errno));
		}
		close(fd);
		sp->segs[i].size = valid;
		sp->total += valid;
		pending += recs;
		i++;
	}
	if (sp->nsegs && (sp->cpos.seq < sp->segs[0].seq || !find_seg(sp, sp->cpos.seq))) {
		sp->cpos.seq = sp->segs[0].seq;
		sp->cpos.off = 0;
	}
	if ((rc = new_active(sp)) != 0)
		goto fail;
	if (sp->nsegs == 1)
		sp->cpos = (struct d4_spool_pos){active(sp)->seq, 0};
	normalize(sp, &sp->cpos);
	sp->rpos = sp->cpos;
	if (write_cursor(sp) != 0)
		goto fail;
	/* exact, from the confirmed position: the next connection announces them */
	pending = 0;
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].seq >= sp->cpos.seq)
			pending +=
			    count_records(sp, sp->segs[i].seq, sp->segs[i].seq == sp->cpos.seq ? sp->cpos.off : 0);
	sp->unconfirmed_at_open = pending;
	if (sp->total)
		d4_notice("spool %s: %" PRIu64 " bytes (%" PRIu64 " frames) from an earlier run to deliver first", dir,
			  sp->total, pending);
	sp->last_sync = d4_mono_ms();
	*out = sp;
	return D4_OK;
fail:
	d4_sensor_spool_close(sp);
	return rc;
}

static void drop_oldest(struct d4_spool *sp)
{
	struct seg *s = &sp->segs[0];
	uint64_t from = sp->cpos.seq == s->seq ? sp->cpos.off : 0;
	uint64_t frames = count_records(sp, s->seq, from);
	uint64_t bytes = s->size > from ? s->size - from : 0;
	sp->dropped_frames += frames;
	sp->dropped_bytes += bytes;
	uint64_t seq = s->seq;
	unlink_seg(sp, 0);
	d4_warn("spool full: dropped the oldest %" PRIu64 " frames (%" PRIu64 " bytes); dropped so far %" PRIu64
		" frames, %" PRIu64 " bytes",
		frames, bytes, sp->dropped_frames, sp->dropped_bytes);
	if (sp->cpos.seq <= seq) {
		normalize(sp, &sp->cpos);
		write_cursor(sp);
	}
	if (sp->rpos.seq <= seq)
		normalize(sp, &sp->rpos);
}

int d4_sensor_spool_append(struct d4_spool *sp, uint8_t type, uint64_t ts, const uint8_t *data, size_t len)
{
	uint64_t rec = REC_HDR + (uint64_t)len;
	if (len > D4S_MAX_PAYLOAD || rec > sp->max) {
		sp->dropped_frames++;
		sp->dropped_bytes += rec;
		d4_warn("spool: a %zu-byte frame is larger than the spool, dropped; dropped so far %" PRIu64
			" frames, %" PRIu64 " bytes",
			len, sp->dropped_frames, sp->dropped_bytes);
		return D4_ETOOBIG;
	}
	int rc;
	if (active(sp)->size >= sp->seg_max && (rc = new_active(sp)) != 0)
		return rc;
	while (sp->total + rec > sp->max) {
		if (sp->nsegs == 1 && (rc = new_active(sp)) != 0)
			return rc;
		drop_oldest(sp);
	}
	uint8_t h[REC_HDR] = {'D', '4', 'S', type};
	d4_put_u32le(h + 4, (uint32_t)len);
	d4_put_u64le(h + 8, ts);
	struct iovec iov[2] = {{h, REC_HDR}, {(void *)(uintptr_t)data, len}};
	size_t done = 0;
	while (done < rec) {
		struct iovec v[2];
		int n = 0;
		size_t skip = done;
		for (int i = 0; i < 2; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			v[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
			v[n].iov_len = iov[i].iov_len - skip;
			skip = 0;
			n++;
		}
		ssize_t w = writev(sp->wfd, v, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			d4_err("spool: write: %s", strerror(errno));
			/* keep the segment parseable: cut the partial record */
			if (ftruncate(sp->wfd, (off_t)active(sp)->size) != 0)
				d4_err("spool: truncate: %s", strerror(errno));
			return D4_EIO;
		}
		done += (size_t)w;
	}
	active(sp)->size += rec;
	sp->total += rec;
	sp->dirty = 1;
	if (d4_mono_ms() - sp->last_sync >= SYNC_MS)
		return d4_sensor_spool_sync(sp);
	return D4_OK;
}

int d4_sensor_spool_peek(struct d4_spool *sp, uint8_t *type, uint64_t *ts, const uint8_t **data, size_t *len)
{
	for (;;) {
		normalize(sp, &sp->rpos);
		struct seg *s = find_seg(sp, sp->rpos.seq);
		if (s == active(sp) && sp->rpos.off >= s->size)
			return 0;
		if (sp->rfd < 0 || sp->rseq != s->seq) {
			char path[PATH_MAX];
			seg_path(sp, s->seq, path, sizeof(path));
			if (sp->rfd >= 0)
				close(sp->rfd);
			sp->rfd = open(path, O_RDONLY | O_CLOEXEC);
			if (sp->rfd < 0) {
				d4_err("spool %s: %s", path, strerror(errno));
				return D4_EIO;
			}
			sp->rseq = s->seq;
		}
		uint8_t h[REC_HDR];
		uint32_t plen = 0;
		int ok = pread(sp->rfd, h, REC_HDR, (off_t)sp->rpos.off) == REC_HDR && h[0] == 'D' && h[1] == '4' &&
			 h[2] == 'S';
		if (ok) {
			struct d4_reader r;
			d4_rd_init(&r, h + 4, 12);
			plen = d4_rd_u32le(&r);
			*ts = d4_rd_u64le(&r);
			ok = plen <= D4S_MAX_PAYLOAD && sp->rpos.off + REC_HDR + plen <= s->size;
		}
		if (ok && plen > sp->rbufcap) {
			uint8_t *nb = realloc(sp->rbuf, plen);
			if (!nb)
				return D4_ENOMEM;
			sp->rbuf = nb;
			sp->rbufcap = plen;
		}
		if (ok && plen && pread(sp->rfd, sp->rbuf, plen, (off_t)(sp->rpos.off + REC_HDR)) != (ssize_t)plen)
			ok = 0;
		if (!ok) {
			d4_warn("spool: segment %016" PRIx64 " is corrupt at offset %" PRIu64 ", rest skipped", s->seq,
				sp->rpos.off);
			if (s == active(sp)) {
				int rc = new_active(sp);
				if (rc)
					return rc;
				s = find_seg(sp, sp->rseq);
			}
			sp->rpos.off = s->size;
			continue;
		}
		*type = h[3];
		*data = sp->rbuf;
		*len = plen;
		sp->peek_len = REC_HDR + plen;
		return 1;
	}
}

void d4_sensor_spool_advance(struct d4_spool *sp, struct d4_spool_pos *after)
{
	sp->rpos.off += sp->peek_len;
	sp->peek_len = 0;
	if (after)
		*after = sp->rpos;
}

int d4_sensor_spool_confirm(struct d4_spool *sp, const struct d4_spool_pos *pos)
{
	struct d4_spool_pos p = *pos;
	normalize(sp, &p);
	if (p.seq < sp->cpos.seq || (p.seq == sp->cpos.seq && p.off <= sp->cpos.off))
		return D4_OK;
	sp->cpos = p;
	while (sp->nsegs > 1 && sp->segs[0].seq < sp->cpos.seq)
		unlink_seg(sp, 0);
	return write_cursor(sp);
}

void d4_sensor_spool_rewind(struct d4_spool *sp)
{
	sp->rpos = sp->cpos;
	sp->peek_len = 0;
}

int d4_sensor_spool_empty(struct d4_spool *sp)
{
	normalize(sp, &sp->rpos);
	return sp->rpos.seq == active(sp)->seq && sp->rpos.off >= active(sp)->size;
}

int d4_sensor_spool_all_confirmed(struct d4_spool *sp)
{
	normalize(sp, &sp->cpos);
	return sp->cpos.seq == active(sp)->seq && sp->cpos.off >= active(sp)->size;
}

int d4_sensor_spool_sync(struct d4_spool *sp)
{
	int rc = D4_OK;
	if (sp->dirty) {
		if (sp->wfd >= 0 && fsync(sp->wfd) != 0)
			rc = D4_EIO;
		if (sp->cursor_fd >= 0 && fsync(sp->cursor_fd) != 0)
			rc = D4_EIO;
		if (sp->dirfd >= 0 && fsync(sp->dirfd) != 0)
			rc = D4_EIO;
		sp->dirty = 0;
	}
	sp->last_sync = d4_mono_ms();
	if (rc)
		d4_err("spool: fsync: %s", strerror(errno));
	return rc;
}

void d4_sensor_spool_stats(struct d4_spool *sp, struct d4_spool_stats *st)
{
	st->bytes = sp->total;
	st->dropped_frames = sp->dropped_frames;
	st->dropped_bytes = sp->dropped_bytes;
	st->segments = (unsigned)sp->nsegs;
	st->unconfirmed_at_open = sp->unconfirmed_at_open;
}

void d4_sensor_spool_close(struct d4_spool *sp)
{
	if (!sp)
		return;
	if (sp->nsegs)
		d4_sensor_spool_sync(sp);
	/* an empty active segment is noise for the next run */
	if (sp->nsegs && active(sp)->size == 0 && sp->wfd >= 0) {
		char path[PATH_MAX];
		seg_path(sp, active(sp)->seq, path, sizeof(path));
		unlink(path);
	}
	if (sp->wfd >= 0)
		close(sp->wfd);
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->cursor_fd >= 0)
		close(sp->cursor_fd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->segs);
	free(sp->rbuf);
	free(sp->dir);
	free(sp);
}
