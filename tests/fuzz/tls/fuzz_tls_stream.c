/* Fuzz target: a sequence of TCP segments -> the extractor (TCP and TLS
 * reassembly, reports). Input: byte 0 options (bit 0: tiny limits: 2 flows,
 * 3 segments, 600 bytes per direction, 4 KiB in all), then segments:
 *   u8 TCP flags, u8 (bit 0: from the server, bit 1: IPv6, bits 2-3: which
 *   of four client ports, bits 4-7: seconds to advance the clock),
 *   u32 sequence number, u16 payload length, payload.
 * Every report must render as JSON; after the flush nothing may be held. */
#include "d4_error.h"
#include "d4_tls.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char json[1 << 20];

static uint8_t jl_der[1 << 21];

static int on_hs(void *ud, const struct d4_tls_handshake *h)
{
	(*(unsigned *)ud)++;
	CHECK(h->client || h->server);
	CHECK(h->end < D4_TLS_END_COUNT && h->n_certs <= D4_TLS_CERTS_MAX);
	CHECK(!h->client || strlen(h->ja4) == D4_TLS_JA4_LEN || h->ja4[0] == 0);
	for (size_t i = 0; i < h->n_certs; i++)
		CHECK(h->certs[i].len > 0);
	int n = d4_tls_handshake_json(h, json, sizeof(json));
	CHECK(n > 0 && json[n - 1] == '\n' && strlen(json) == (size_t)n);
	/* the ja3-jl line (certificates through OpenSSL) reads back as written */
	static struct d4_tls_jl jl;
	n = d4_tls_jl_write(h, json, sizeof(json));
	CHECK(n > 0 && json[n - 1] == '\n' && strlen(json) == (size_t)n);
	CHECK(d4_tls_jl_parse((const uint8_t *)json, (size_t)n, &jl, jl_der, sizeof(jl_der)) == 0);
	CHECK(jl.n_certs == h->n_certs && jl.client_port == h->client_port && jl.server_port == h->server_port);
	for (size_t i = 0; i < h->n_certs; i++)
		CHECK(jl.certs[i].len == h->certs[i].len && !memcmp(jl.certs[i].der, h->certs[i].der, h->certs[i].len));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct d4_tls_config cfg = {0};
	if (data[0] & 1) {
		cfg.max_flows = 2;
		cfg.max_segments = 3;
		cfg.max_dir_bytes = 600;
		cfg.max_bytes = 4096;
		cfg.idle_s = 5;
	}
	unsigned reports = 0;
	struct d4_tls *t = d4_tls_new(&cfg, on_hs, &reports);
	if (!t)
		return 0;
	size_t off = 1;
	uint64_t ts = 1700000000000000ull;
	while (size - off >= 8) {
		const uint8_t *h = data + off;
		size_t len = ((size_t)h[6] << 8) | h[7];
		off += 8;
		if (len > size - off)
			len = size - off;
		struct d4_pkt p;
		memset(&p, 0, sizeof(p));
		int srv = h[1] & 1, v6 = (h[1] >> 1) & 1;
		uint8_t ca[16] = {0}, sa[16] = {0};
		if (v6) {
			ca[0] = sa[0] = 0x20;
			ca[15] = 1;
			sa[15] = 2;
		} else {
			ca[10] = ca[11] = sa[10] = sa[11] = 0xff;
			ca[12] = 10, ca[15] = 1;
			sa[12] = 10, sa[15] = 2;
		}
		uint16_t cp = (uint16_t)(40000 + ((h[1] >> 2) & 3)), sp = 443;
		p.ipver = v6 ? 6 : 4;
		p.proto = 6;
		memcpy(p.src, srv ? sa : ca, 16);
		memcpy(p.dst, srv ? ca : sa, 16);
		p.sport = srv ? sp : cp;
		p.dport = srv ? cp : sp;
		p.tcp_flags = h[0];
		p.tcp_seq = ((uint32_t)h[2] << 24) | ((uint32_t)h[3] << 16) | ((uint32_t)h[4] << 8) | h[5];
		p.l4 = h;
		p.l4len = 8 + len;
		p.payload = len ? data + off : NULL;
		p.paylen = len;
		ts += (uint64_t)(h[1] >> 4) * 1000000u + 1;
		CHECK(d4_tls_packet(t, ts, &p) == 0);
		off += len;
	}
	CHECK(d4_tls_flush(t) == 0);
	struct d4_tls_stats st;
	d4_tls_get_stats(t, &st);
	CHECK(st.bytes_held == 0 && st.flows_active == 0);
	CHECK(st.handshakes == reports);
	d4_tls_free(t);
	return 0;
}
