/* NDJSON form of an attack vector (docs/backscatter.md "Reading a vector"). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_util.h"

struct out {
	char *buf;
	size_t cap, len;
	int err;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	if (o->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->err = D4_ETOOBIG;
		return;
	}
	o->len += (size_t)n;
}

/* Names as d4_policy_tlp_name writes them (the analyzers do not link policy). */
static const char *tlp_name(uint8_t t)
{
	static const char *const n[] = {"",	     "tlp:clear",	 "tlp:green", "tlp:ex:chr",
					"tlp:amber", "tlp:amber+strict", "tlp:red",   ""};
	return t < 8 ? n[t] : "";
}

static int zero16(const uint8_t *a)
{
	static const uint8_t z[16];
	return memcmp(a, z, 16) == 0;
}

/* JSON has no NaN/Inf; an estimate that overflows a double is written as null. */
static void put_num(struct out *o, const char *key, double d)
{
	if (d != d || d > 1.7e308)
		put(o, ",\"%s\":null", key);
	else
		put(o, ",\"%s\":%.6g", key, d);
}

int d4_bs_vector_json(const struct d4_bs_vector *v, char *buf, size_t cap)
{
	if (!v || !buf || cap == 0)
		return D4_EINVAL;
	struct out o = {buf, cap, 0, 0};
	char addr[64], hex[D4_UUID_HEX_LEN + 1];
	d4_pkt_addr_str(v->victim, addr, sizeof(addr));
	put(&o, "{\"victim\":\"%s\",\"kind\":\"%s\",\"state\":\"%s\"", addr, d4_bs_kind_name(v->kind),
	    v->state == D4_BS_CLOSED ? "closed" : "ongoing");
	put(&o, ",\"first\":%llu.%06llu,\"last\":%llu.%06llu", (unsigned long long)(v->first_us / 1000000),
	    (unsigned long long)(v->first_us % 1000000), (unsigned long long)(v->last_us / 1000000),
	    (unsigned long long)(v->last_us % 1000000));
	put(&o, ",\"packets\":%llu,\"bytes\":%llu,\"ports\":[", (unsigned long long)v->packets,
	    (unsigned long long)v->bytes);
	for (uint32_t i = 0; i < v->n_ports && i < D4_BS_TOP_PORTS; i++)
		put(&o, "%s{\"port\":%u,\"packets\":%llu}", i ? "," : "", v->ports[i].port,
		    (unsigned long long)v->ports[i].packets);
	put(&o, "],\"ports_distinct\":%u,\"ports_other\":%llu", v->ports_distinct, (unsigned long long)v->ports_other);
	put(&o, ",\"telescope_addrs\":%llu,\"telescope_exact\":%s,\"peak_ppm\":%u",
	    (unsigned long long)v->telescope_addrs, v->telescope_exact ? "true" : "false", v->peak_ppm);
	put_num(&o, "observed_pps", v->observed_pps);
	put_num(&o, "est_pps", v->est_pps);
	put_num(&o, "est_peak_pps", v->est_peak_pps);
	put(&o, ",\"est_valid\":%s,\"sensors\":[", v->est_valid ? "true" : "false");
	for (uint32_t i = 0; i < v->n_sensors && i < D4_BS_MAX_SENSORS; i++) {
		d4_uuid_hex(v->sensors[i], hex);
		put(&o, "%s\"%s\"", i ? "," : "", hex);
	}
	put(&o, "],\"sensors_more\":%s", v->sensors_more ? "true" : "false");
	const char *t = tlp_name(v->tlp);
	if (*t)
		put(&o, ",\"tlp\":\"%s\"", t);
	else
		put(&o, ",\"tlp\":null");
	if (zero16(v->org))
		put(&o, ",\"org\":null");
	else {
		d4_uuid_hex(v->org, hex);
		put(&o, ",\"org\":\"%s\"", hex);
	}
	put(&o, ",\"org_mixed\":%s,\"updates\":%u}\n", v->org_mixed ? "true" : "false", v->updates);
	if (o.err)
		return o.err;
	return (int)o.len;
}
