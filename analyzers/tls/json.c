/* One JSON line per handshake: the library's own record, which d4-tls
 * prints and the sensor sends (docs/passivessl.md lists the fields). */
#include "d4_tls.h"

#include <stdio.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

#include "d4_error.h"
#include "tls_internal.h"

struct jw {
	char *b;
	size_t cap, len;
	int over;
};

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->over || w->len + n + 1 > w->cap) {
		w->over = 1;
		return;
	}
	memcpy(w->b + w->len, s, n);
	w->len += n;
}

static void puts_(struct jw *w, const char *s)
{
	put(w, s, strlen(s));
}

static void putf_u64(struct jw *w, uint64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
	put(w, t, (size_t)n);
}

/* A JSON string of raw wire bytes: printable ASCII as is, anything else as
 * \u00XX (one escape per byte: names on the wire are not trusted to be UTF-8). */
static void put_str(struct jw *w, const uint8_t *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	put(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			put(w, e, 2);
		} else if (c >= 0x20 && c < 0x7f) {
			char e = (char)c;
			put(w, &e, 1);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15]};
			put(w, e, 6);
		}
	}
	put(w, "\"", 1);
}

static void key(struct jw *w, const char *k)
{
	put(w, ",\"", 2);
	puts_(w, k);
	put(w, "\":", 2);
}

static void put_ts(struct jw *w, uint64_t us)
{
	char t[32];
	int n = snprintf(t, sizeof(t), "%llu.%06llu", (unsigned long long)(us / 1000000),
			 (unsigned long long)(us % 1000000));
	put(w, t, (size_t)n);
}

size_t tls_b64(const uint8_t *in, size_t n, char *out)
{
	static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
		out[o++] = tb[v >> 18];
		out[o++] = tb[(v >> 12) & 63];
		out[o++] = tb[(v >> 6) & 63];
		out[o++] = tb[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = tb[v >> 18];
		out[o++] = tb[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tb[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

static void put_b64(struct jw *w, const uint8_t *p, size_t n)
{
	size_t need = 4 * ((n + 2) / 3) + 2;
	if (w->over || w->len + need + 1 > w->cap) {
		w->over = 1;
		return;
	}
	w->b[w->len++] = '"';
	w->len += tls_b64(p, n, w->b + w->len);
	w->b[w->len++] = '"';
}

static const char *const flag_names[] = {"clipped", "hrr", "cert_truncated", "cert_clipped", "tls13", "gap", "no_syn"};

int d4_tls_handshake_json(const struct d4_tls_handshake *h, char *buf, size_t cap)
{
	struct jw w = {buf, cap, 0, 0};
	char a[64];
	puts_(&w, "{\"timestamp\":");
	put_ts(&w, h->ts_client_us ? h->ts_client_us : h->ts_first_us);
	key(&w, "client_ip");
	d4_pkt_addr_str(h->client_ip, a, sizeof(a));
	put_str(&w, (const uint8_t *)a, strlen(a));
	key(&w, "client_port");
	putf_u64(&w, h->client_port);
	key(&w, "server_ip");
	d4_pkt_addr_str(h->server_ip, a, sizeof(a));
	put_str(&w, (const uint8_t *)a, strlen(a));
	key(&w, "server_port");
	putf_u64(&w, h->server_port);
	key(&w, "first_seen");
	put_ts(&w, h->ts_first_us);
	key(&w, "last_seen");
	put_ts(&w, h->ts_last_us);
	if (h->client) {
		const struct d4_tls_client_hello *c = h->client;
		key(&w, "ja3");
		put_str(&w, (const uint8_t *)h->ja3, strlen(h->ja3));
		key(&w, "ja3_md5");
		put_str(&w, (const uint8_t *)h->ja3_md5, strlen(h->ja3_md5));
		key(&w, "ja4");
		put_str(&w, (const uint8_t *)h->ja4, strlen(h->ja4));
		key(&w, "client_version");
		putf_u64(&w, c->version);
		if (c->sni) {
			key(&w, "sni");
			put_str(&w, c->sni, c->sni_len);
		}
		if (c->alpn) {
			key(&w, "alpn");
			put(&w, "[", 1);
			for (size_t i = 0; i < c->alpn_len;) {
				size_t l = c->alpn[i];
				if (i)
					put(&w, ",", 1);
				put_str(&w, c->alpn + i + 1, l);
				i += 1 + l;
			}
			put(&w, "]", 1);
		}
		if (c->n_versions) {
			key(&w, "supported_versions");
			put(&w, "[", 1);
			for (unsigned i = 0; i < c->n_versions; i++) {
				if (i)
					put(&w, ",", 1);
				putf_u64(&w, c->versions[i]);
			}
			put(&w, "]", 1);
		}
	}
	if (h->server) {
		const struct d4_tls_server_hello *s = h->server;
		key(&w, "ja3s");
		put_str(&w, (const uint8_t *)h->ja3s, strlen(h->ja3s));
		key(&w, "ja3s_md5");
		put_str(&w, (const uint8_t *)h->ja3s_md5, strlen(h->ja3s_md5));
		key(&w, "server_version");
		putf_u64(&w, d4_tls_server_version(s));
		key(&w, "cipher");
		putf_u64(&w, s->cipher);
		if (s->alpn) {
			key(&w, "server_alpn");
			put_str(&w, s->alpn, s->alpn_len);
		}
	}
	key(&w, "certificates");
	put(&w, "[", 1);
	for (size_t i = 0; i < h->n_certs; i++) {
		if (i)
			put(&w, ",", 1);
		put_b64(&w, h->certs[i].der, h->certs[i].len);
	}
	put(&w, "]", 1);
	key(&w, "flags");
	put(&w, "[", 1);
	int first = 1;
	for (unsigned i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (!(h->flags & (1u << i)))
			continue;
		if (!first)
			put(&w, ",", 1);
		put_str(&w, (const uint8_t *)flag_names[i], strlen(flag_names[i]));
		first = 0;
	}
	put(&w, "]", 1);
	key(&w, "end");
	const char *e = d4_tls_end_name(h->end);
	put_str(&w, (const uint8_t *)e, strlen(e));
	put(&w, "}\n", 2);
	if (w.over || cap == 0)
		return D4_ETOOBIG;
	w.b[w.len] = 0;
	return (int)w.len;
}

/* Go's time.Time in JSON (RFC 3339, "RFC3339Nano": the fraction without
 * trailing zeros, none when zero), always in UTC here. */
static void put_rfc3339(struct jw *w, uint64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	char b[48];
	if (!gmtime_r(&t, &tm)) {
		w->over = 1;
		return;
	}
	size_t n = strftime(b, sizeof(b), "\"%Y-%m-%dT%H:%M:%S", &tm);
	unsigned frac = (unsigned)(us % 1000000);
	if (frac) {
		int digits = 6;
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		n += (size_t)snprintf(b + n, sizeof(b) - n, ".%0*u", digits, frac);
	}
	n += (size_t)snprintf(b + n, sizeof(b) - n, "Z\"");
	put(w, b, n);
}

static void put_port_str(struct jw *w, uint16_t port)
{
	char t[8];
	int n = snprintf(t, sizeof(t), "\"%u\"", (unsigned)port);
	put(w, t, (size_t)n);
}

static void put_cstr(struct jw *w, const char *s)
{
	put_str(w, (const uint8_t *)s, strlen(s));
}

/* A JSON string of UTF-8 text (OpenSSL's conversion guarantees valid
 * UTF-8): control characters escaped, the rest as is. */
static void put_utf8(struct jw *w, const uint8_t *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	put(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			put(w, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15]};
			put(w, e, 6);
		} else {
			put(w, (const char *)&c, 1);
		}
	}
	put(w, "\"", 1);
}

/* A DER encoding (i2d_*) as base64, or null when it fails. */
static void put_i2d_b64(struct jw *w, int len, unsigned char *der)
{
	if (len <= 0 || !der)
		puts_(w, "null");
	else
		put_b64(w, der, (size_t)len);
	OPENSSL_free(der);
}

/* The fields of Go's pkix.Name that its String() reads (the Go analyzer
 * stores Subject.String() and Issuer.String()), filled the way Go's
 * FillFromRDNSequence does: one list per attribute type in certificate
 * order, the last CN and serialNumber win. */
static void put_pkix_name(struct jw *w, const X509_NAME *nm)
{
	static const struct {
		int nid;
		const char *go;
	} lists[] = {{NID_countryName, "Country"},
		     {NID_organizationName, "Organization"},
		     {NID_organizationalUnitName, "OrganizationalUnit"},
		     {NID_localityName, "Locality"},
		     {NID_stateOrProvinceName, "Province"},
		     {NID_streetAddress, "StreetAddress"},
		     {NID_postalCode, "PostalCode"}};
	int cnt = X509_NAME_entry_count(nm);
	put(w, "{", 1);
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		if (l)
			put(w, ",", 1);
		put(w, "\"", 1);
		puts_(w, lists[l].go);
		put(w, "\":", 2);
		int first = 1;
		for (int i = 0; i < cnt; i++) {
			const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
			unsigned char *u = NULL;
			int ul;
			if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != lists[l].nid ||
			    (ul = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e))) < 0)
				continue;
			put(w, first ? "[" : ",", 1);
			put_utf8(w, u, (size_t)ul);
			OPENSSL_free(u);
			first = 0;
		}
		puts_(w, first ? "null" : "]");
	}
	static const struct {
		int nid;
		const char *go;
	} single[] = {{NID_serialNumber, "SerialNumber"}, {NID_commonName, "CommonName"}};
	for (size_t k = 0; k < 2; k++) {
		put(w, ",\"", 2);
		puts_(w, single[k].go);
		put(w, "\":", 2);
		unsigned char *last = NULL;
		int lastl = 0;
		for (int i = 0; i < cnt; i++) {
			const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
			unsigned char *u = NULL;
			int ul;
			if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != single[k].nid ||
			    (ul = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e))) < 0)
				continue;
			OPENSSL_free(last);
			last = u;
			lastl = ul;
		}
		put_utf8(w, last ? last : (const unsigned char *)"", last ? (size_t)lastl : 0);
		OPENSSL_free(last);
	}
	put(w, "}", 1);
}

/* The x509.Certificate members analyzer-d4-passivessl reads from a line
 * (docs/passivessl.md): the raw subject, issuer and SubjectPublicKeyInfo,
 * the names, and the CA flag. Nothing when OpenSSL does not parse the
 * certificate (Raw still carries it). */
static void put_x509_members(struct jw *w, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (!x)
		return;
	/* i2d_* sets the pointer: the length is taken before it is passed on */
	unsigned char *o = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &o);
	key(w, "RawSubjectPublicKeyInfo");
	put_i2d_b64(w, n, o);
	o = NULL;
	n = i2d_X509_NAME(X509_get_subject_name(x), &o);
	key(w, "RawSubject");
	put_i2d_b64(w, n, o);
	o = NULL;
	n = i2d_X509_NAME(X509_get_issuer_name(x), &o);
	key(w, "RawIssuer");
	put_i2d_b64(w, n, o);
	key(w, "Issuer");
	put_pkix_name(w, X509_get_issuer_name(x));
	key(w, "Subject");
	put_pkix_name(w, X509_get_subject_name(x));
	/* Go: IsCA is the basicConstraints cA flag; BasicConstraintsValid that the extension is there */
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	key(w, "BasicConstraintsValid");
	puts_(w, bc ? "true" : "false");
	key(w, "IsCA");
	puts_(w, bc && bc->ca ? "true" : "false");
	BASIC_CONSTRAINTS_free(bc);
	X509_free(x);
}

/* The Go sensor's member order first (its struct's field order), then
 * d4hub's members. Certificates: CertHash (SHA-256 hex) and Raw (base64
 * DER) as the Go sensor writes them, and of the other x509.Certificate
 * fields it writes, those D4's analyzer reads (docs/passivessl.md). */
int d4_tls_jl_write(const struct d4_tls_handshake *h, char *buf, size_t cap)
{
	struct jw w = {buf, cap, 0, 0};
	char a[64];
	puts_(&w, "{\"ServerIP\":");
	d4_pkt_addr_str(h->server_ip, a, sizeof(a));
	put_cstr(&w, a);
	key(&w, "ServerPort");
	put_port_str(&w, h->server_port);
	key(&w, "ClientIP");
	d4_pkt_addr_str(h->client_ip, a, sizeof(a));
	put_cstr(&w, a);
	key(&w, "ClientPort");
	put_port_str(&w, h->client_port);
	key(&w, "TLSH");
	put_cstr(&w, "");
	key(&w, "Timestamp");
	put_rfc3339(&w, h->ts_client_us ? h->ts_client_us : h->ts_first_us);
	key(&w, "JA3");
	put_cstr(&w, h->ja3);
	key(&w, "JA3Digest");
	put_cstr(&w, h->ja3_md5);
	key(&w, "JA3S");
	put_cstr(&w, h->ja3s);
	key(&w, "JA3SDigest");
	put_cstr(&w, h->ja3s_md5);
	key(&w, "Certificates");
	put(&w, "[", 1);
	for (size_t i = 0; i < h->n_certs; i++) {
		uint8_t md[32];
		char hex[65];
		static const char hx[] = "0123456789abcdef";
		if (tls_sha256(h->certs[i].der, h->certs[i].len, md) != 0)
			return D4_ENOMEM;
		for (int j = 0; j < 32; j++) {
			hex[2 * j] = hx[md[j] >> 4];
			hex[2 * j + 1] = hx[md[j] & 15];
		}
		hex[64] = 0;
		puts_(&w, i ? ",{\"CertHash\":" : "{\"CertHash\":");
		put_cstr(&w, hex);
		key(&w, "Raw");
		put_b64(&w, h->certs[i].der, h->certs[i].len);
		put_x509_members(&w, h->certs[i].der, h->certs[i].len);
		put(&w, "}", 1);
	}
	put(&w, "]", 1);
	key(&w, "producer");
	put_cstr(&w, "d4hub");
	if (h->client) {
		const struct d4_tls_client_hello *c = h->client;
		key(&w, "ja4");
		put_cstr(&w, h->ja4);
		key(&w, "client_version");
		putf_u64(&w, c->version);
		if (c->sni) {
			key(&w, "sni");
			put_str(&w, c->sni, c->sni_len);
		}
		if (c->alpn) {
			key(&w, "alpn");
			put(&w, "[", 1);
			for (size_t i = 0; i < c->alpn_len;) {
				size_t l = c->alpn[i];
				if (i)
					put(&w, ",", 1);
				put_str(&w, c->alpn + i + 1, l);
				i += 1 + l;
			}
			put(&w, "]", 1);
		}
	}
	if (h->server) {
		key(&w, "server_version");
		putf_u64(&w, d4_tls_server_version(h->server));
		key(&w, "cipher");
		putf_u64(&w, h->server->cipher);
		if (h->server->alpn) {
			key(&w, "server_alpn");
			put_str(&w, h->server->alpn, h->server->alpn_len);
		}
	}
	key(&w, "flags");
	put(&w, "[", 1);
	int first = 1;
	for (unsigned i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (!(h->flags & (1u << i)))
			continue;
		if (!first)
			put(&w, ",", 1);
		put_cstr(&w, flag_names[i]);
		first = 0;
	}
	put(&w, "]", 1);
	key(&w, "end");
	put_cstr(&w, d4_tls_end_name(h->end));
	put(&w, "}\n", 2);
	if (w.over || cap == 0)
		return D4_ETOOBIG;
	w.b[w.len] = 0;
	return (int)w.len;
}

const char *tls_flag_name(unsigned bit)
{
	return bit < sizeof(flag_names) / sizeof(flag_names[0]) ? flag_names[bit] : NULL;
}
