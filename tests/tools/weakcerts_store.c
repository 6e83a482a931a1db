/* The planted certificates of weakcerts.c merged into a store as the hub's
 * consumer would (see weakcerts.h, wc_store). */
#include "d4_error.h"
#include "d4_store_pssl.h"
#include "d4_x509.h"
#include "weakcerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wc_store(struct d4_store *s, const struct wc_set *set, size_t from, size_t to, uint8_t tlp)
{
	struct d4_x509 *x = malloc(sizeof(*x));
	int rc = x ? 0 : D4_ENOMEM;
	for (size_t i = from; !rc && i < to && i < set->n; i++) {
		const struct wc_cert *c = &set->c[i];
		rc = d4_x509_parse(c->der, c->der_len, x);
		if (rc)
			break;
		struct d4_store_pssl_san san[D4_X509_SAN_MAX];
		struct d4_store_pssl_cert pc;
		memset(&pc, 0, sizeof(pc));
		memcpy(pc.sha1, x->sha1, 20);
		memcpy(pc.sha256, x->sha256, 32);
		memcpy(pc.spki_sha256, x->spki_sha256, 32);
		pc.der = c->der;
		pc.der_len = c->der_len;
		pc.parsed = 1;
		pc.x509_flags = x->flags;
		pc.version = (uint8_t)x->version;
		pc.subject = x->subject;
		pc.issuer = x->issuer;
		pc.not_before = x->not_before;
		pc.not_after = x->not_after;
		pc.serial = x->serial;
		pc.sig_alg = x->sig_alg;
		pc.key_alg = x->key_alg;
		pc.key_type = (uint8_t)x->key_type;
		pc.key_bits = (uint32_t)x->key_bits;
		pc.modulus = x->modulus;
		pc.modulus_len = x->modulus_len;
		pc.exponent = x->exponent;
		pc.exponent_len = x->exponent_len;
		pc.curve = x->curve;
		pc.cn = c->cn;
		for (size_t k = 0; k < x->n_san; k++) {
			san[k].type = x->san[k].type;
			san[k].len = x->san[k].len;
			san[k].value = x->san[k].value;
		}
		pc.san = san;
		pc.n_san = x->n_san;
		struct d4_store_pssl_obs ob;
		memset(&ob, 0, sizeof(ob));
		ob.server_ip[10] = ob.server_ip[11] = 0xff; /* 127.0.1.(i + 1), v4-mapped */
		ob.server_ip[12] = 127;
		ob.server_ip[14] = 1;
		ob.server_ip[15] = (uint8_t)(i + 1);
		ob.server_port = 443;
		ob.certs = &pc;
		ob.n_certs = 1;
		ob.time_first = ob.time_last = 1765000000 + i;
		ob.count = 1;
		ob.tlp = tlp;
		struct d4_store_pssl_update u;
		memset(&u, 0, sizeof(u));
		u.obs = &ob;
		u.nobs = 1;
		rc = d4_store_pssl_apply(s, &u, NULL);
	}
	free(x);
	return rc;
}
