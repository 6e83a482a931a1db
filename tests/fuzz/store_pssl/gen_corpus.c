/* Writes the seed corpus of fuzz_store_pssl (one file per row kind, valid
 * rows through the store's own encoders, and a few broken ones). Run from
 * this folder after a build:
 *   cc -I../../../hub/store -I../../../hub/common -I../../../hub/policy gen_corpus.c \
 *      ../../../build/hub/store/libd4store.a ../../../build/hub/common/libd4common.a \
 *      ../../../build/hub/policy/libd4policy.a -llmdb -lcrypto -lpthread -o /tmp/gen && /tmp/gen */
#include "store_pssl_internal.h"

#include <stdio.h>
#include <string.h>

static uint8_t buf[1u << 17];

static void out(const char *name, uint8_t kind, const uint8_t *pre, size_t npre, const uint8_t *p, size_t n)
{
	char path[128];
	snprintf(path, sizeof(path), "corpus/%s", name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(&kind, 1, 1, f);
	fwrite(pre, 1, npre, f);
	fwrite(p, 1, n, f);
	fclose(f);
}

static void meta(struct pssl_meta *m, int full)
{
	memset(m, 0, sizeof(*m));
	m->first = 1700000000;
	m->last = 1700086400;
	m->count = 12345;
	m->tlp = 4;
	if (full) {
		m->org_mixed = 1;
		m->nsens = D4_PSSL_SENSORS_KEEP;
		for (int i = 0; i < m->nsens; i++)
			memset(m->sens[i], i + 1, 16);
		m->sketch = 0x8000000000000101ull;
		m->nhubs = 2;
		memset(m->hubs[0], 0x11, 16);
		memset(m->hubs[1], 0x22, 16);
	} else {
		memset(m->org, 0x42, 16);
		m->nsens = 1;
		memset(m->sens[0], 7, 16);
	}
}

int main(void)
{
	static struct pssl_crec c;
	memset(&c, 0, sizeof(c));
	memset(c.sha256, 0xab, 32);
	meta(&c.m, 0);
	size_t n = store_pssl_crec_encode(&c, buf);
	out("cert_unparsed", 0, NULL, 0, buf, n);
	c.parsed = 1;
	c.is_ca = 0;
	c.has_cn = 1;
	c.key_id = 300;
	c.x509_flags = 4;
	c.version = 2;
	c.not_before = -86400;
	c.not_after = 4102444800ll;
	c.subject = "CN=www.example.com,O=Example";
	c.issuer = "CN=Example CA";
	c.serial = "01ab";
	c.sig_alg = "sha256WithRSAEncryption";
	c.cn = "www.example.com";
	static const uint8_t ip[4] = {192, 0, 2, 1};
	c.n_san = 2;
	c.san[0].type = 1;
	c.san[0].len = 15;
	c.san[0].value = (const uint8_t *)"www.example.com";
	c.san[1].type = 2;
	c.san[1].len = 4;
	c.san[1].value = ip;
	meta(&c.m, 1);
	n = store_pssl_crec_encode(&c, buf);
	out("cert_parsed", 0, NULL, 0, buf, n);
	buf[1] = 0x80; /* an unknown flag */
	out("cert_bad_flag", 0, NULL, 0, buf, n);

	static struct pssl_krec k;
	memset(&k, 0, sizeof(k));
	uint8_t mod[256], e[3] = {1, 0, 1};
	memset(mod, 0xc5, sizeof(mod));
	k.key_type = 1;
	k.key_bits = 2048;
	memset(k.spki, 0x5b, 32);
	k.first_seen = 1700000000;
	k.certs = 3;
	k.nsubj = 2;
	k.subj[0] = 1;
	k.subj[1] = 2;
	k.key_alg = "rsaEncryption";
	k.curve = "";
	k.modulus = mod;
	k.modulus_len = sizeof(mod);
	k.exponent = e;
	k.exponent_len = 3;
	n = store_pssl_krec_encode(&k, buf);
	out("key_rsa", 1, NULL, 0, buf, n);
	out("key_cut", 1, NULL, 0, buf, n - 5);
	memset(&k, 0, sizeof(k));
	k.key_type = 2;
	k.key_bits = 256;
	k.nsubj = PSSL_SUBJ_KEEP;
	k.subj_sketch = 5;
	k.key_alg = "id-ecPublicKey";
	k.curve = "prime256v1";
	n = store_pssl_krec_encode(&k, buf);
	out("key_ec", 1, NULL, 0, buf, n);

	static struct pssl_trec t;
	memset(&t, 0, sizeof(t));
	memset(t.ip + 10, 0xff, 2);
	t.ip[15] = 1;
	t.port = 443;
	t.change_seq = 77;
	t.has_ja3 = t.has_ja3s = t.has_cert = t.has_sni = t.has_ja4 = 1;
	memset(t.ja3, 3, 16);
	memset(t.ja3s, 4, 16);
	t.sni = "www.example.com";
	t.sni_len = 15;
	t.ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
	t.ja4_len = strlen(t.ja4);
	t.n_chain = 2;
	memset(t.chain[0], 1, 20);
	memset(t.chain[1], 2, 20);
	meta(&t.m, 0);
	n = store_pssl_trec_encode(&t, buf);
	out("tuple_full", 2, NULL, 0, buf, n);
	memset(&t, 0, sizeof(t));
	t.has_sni = t.sni_cut = 1;
	t.sni = "a\0b";
	t.sni_len = 3;
	meta(&t.m, 1);
	n = store_pssl_trec_encode(&t, buf);
	out("tuple_min", 2, NULL, 0, buf, n);

	struct pssl_frec f = {1700000000, 1700000100, 9, 2, "771,4865-4866,0-23,29-23,0", 26};
	n = store_pssl_frec_encode(&f, buf);
	out("fp", 3, NULL, 0, buf, n);
	f.str = NULL;
	n = store_pssl_frec_encode(&f, buf);
	out("fp_nostr", 3, NULL, 0, buf, n);

	uint8_t fk[17] = {1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9};
	uint8_t factor[32];
	memset(factor, 0xf1, sizeof(factor));
	struct d4_store_pssl_finding fd = {.kind = 1,
					   .id = 5,
					   .other = 9,
					   .reason = 300,
					   .factor = factor,
					   .factor_len = sizeof(factor),
					   .found_s = 1700000000};
	n = store_pssl_find_encode(&fd, buf);
	out("finding", 4, fk, 17, buf, n);
	out("finding_varint", 4, fk, 17, (const uint8_t[]){1, 0x80, 0x00, 0, 0}, 5); /* not minimal */

	struct d4_store_pssl_counters cn = {{0}, 10, 20, 30, 4, 5, 6, 7};
	n = store_pssl_cnt_encode(&cn, buf);
	out("counters", 5, NULL, 0, buf, n);
	out("counters_long", 5, NULL, 0,
	    (const uint8_t[]){1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 11);
	return 0;
}
