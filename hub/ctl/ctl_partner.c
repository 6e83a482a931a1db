/* d4hubctl — federation partners: list, show, add, set, del, dry-run.
 *
 * add and set build one Partner document (openapi/d4hub.yaml) from the
 * options and an optional JSON file (--file: rules and anything else of the
 * document), then either apply it to the store through federation/'s
 * d4_fed_partner_apply_json -- the function the API uses -- or send it to
 * the hub's API (-H). Both modes therefore accept and refuse exactly the
 * same documents. dry-run asks the egress policy (d4_fed_decide) locally,
 * with the hub's identity from -c HUBCONF, or through the API. */
#include "ctl_internal.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DOC_FILE_MAX (256u * 1024u)

static yajl_gen out_gen(struct ctl *c)
{
	if (!c->g)
		c->g = yajl_gen_alloc(NULL);
	return c->g;
}

static int arg_name(struct ctl *c, const char *name)
{
	if (!d4_store_partner_name_valid(name))
		return ctl_usage(
		    c, "bad partner name '%s': 1 to 63 of A-Z a-z 0-9 . _ -, starting with a letter or digit", name);
	return CTL_OK;
}

/* Reads a whole text file (at most max bytes) into a NUL-terminated heap
 * buffer. */
static int read_text(struct ctl *c, const char *what, const char *path, size_t max, char **out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return ctl_fail(c, "cannot read %s %s", what, path);
	char *buf = malloc(max + 2);
	size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
	int err = ferror(f);
	fclose(f);
	if (!buf)
		return ctl_fail(c, "out of memory");
	if (err || n > max) {
		free(buf);
		return ctl_fail(c, "%s %s: %s", what, path, err ? "read error" : "too large");
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		free(buf);
		return ctl_fail(c, "%s %s: contains a NUL byte", what, path);
	}
	*out = buf;
	return CTL_OK;
}

static void g_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* Copies a parsed JSON value into g. */
static void g_tree(yajl_gen g, yajl_val v)
{
	if (YAJL_IS_STRING(v)) {
		g_str(g, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			g_str(g, v->u.object.keys[i]);
			g_tree(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			g_tree(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else {
		yajl_gen_null(g);
	}
}

/* The options of add and set, turned into Partner document members. */
struct popts {
	const char *url, *hub, *org, *relation, *direction, *ca, *pin, *file;
	int enable, disable;
};

/* Builds the document: the options' members, then the file's (a member in
 * both is a usage error: say it once). *doc is a new generator. */
static int build_doc(struct ctl *c, const char *name, const struct popts *o, yajl_gen *doc)
{
	int rc = CTL_OK;
	char *ca = NULL, *text = NULL;
	yajl_val file = NULL;
	uint8_t u[16];
	if (o->enable && o->disable)
		return ctl_usage(c, "--enable and --disable exclude each other");
	if (o->hub && ctl_arg_uuid(c, "--hub", o->hub, u) != CTL_OK)
		return CTL_USAGE;
	if (o->org && ctl_arg_uuid(c, "--org", o->org, u) != CTL_OK)
		return CTL_USAGE;
	if (o->ca && (rc = read_text(c, "CA bundle", o->ca, D4_PARTNER_CA_MAX - 1, &ca)) != CTL_OK)
		return rc;
	if (o->file) {
		if ((rc = read_text(c, "partner document", o->file, DOC_FILE_MAX, &text)) != CTL_OK) {
			free(ca);
			return rc;
		}
		file = ctl_tree_parse(text, strlen(text));
		free(text);
		if (!file || !YAJL_IS_OBJECT(file)) {
			free(ca);
			if (file)
				ctl_tree_free(file);
			return ctl_fail(c, "%s: not a JSON object", o->file);
		}
	}
	yajl_gen g = ctl_body_new();
	if (!g) {
		free(ca);
		if (file)
			ctl_tree_free(file);
		return ctl_fail(c, "out of memory");
	}
	yajl_gen_map_open(g);
	const char *given[8];
	unsigned ng = 0;
#define MEMBER(k, v)                                                                                                   \
	do {                                                                                                           \
		g_str(g, k);                                                                                           \
		g_str(g, v);                                                                                           \
		given[ng++] = k;                                                                                       \
	} while (0)
	if (name)
		MEMBER("name", name);
	if (o->url)
		MEMBER("url", o->url);
	if (o->hub)
		MEMBER("hub_uuid", o->hub);
	if (o->org)
		MEMBER("org_uuid", o->org);
	if (o->relation)
		MEMBER("relation", o->relation);
	if (o->direction)
		MEMBER("direction", o->direction);
	if (ca)
		MEMBER("ca_pem", ca);
#undef MEMBER
	if (o->pin) {
		g_str(g, "spki_sha256");
		if (!strcmp(o->pin, "none"))
			yajl_gen_null(g);
		else
			g_str(g, o->pin);
		given[ng++] = "spki_sha256";
	}
	if (o->enable || o->disable) {
		g_str(g, "enabled");
		yajl_gen_bool(g, o->enable);
	}
	free(ca);
	for (size_t i = 0; file && i < file->u.object.len && rc == CTL_OK; i++) {
		const char *k = file->u.object.keys[i];
		for (unsigned j = 0; j < ng; j++)
			if (!strcmp(k, given[j]))
				rc = ctl_usage(c, "%s: member '%s' is given by an option too", o->file, k);
		if (!strcmp(k, "enabled") && (o->enable || o->disable))
			rc = ctl_usage(c, "%s: member 'enabled' is given by an option too", o->file);
		if (rc == CTL_OK) {
			g_str(g, k);
			g_tree(g, file->u.object.values[i]);
		}
	}
	if (file)
		ctl_tree_free(file);
	yajl_gen_map_close(g);
	if (rc != CTL_OK) {
		yajl_gen_free(g);
		return rc;
	}
	*doc = g;
	return CTL_OK;
}

/* Parses the generated document back (local mode). */
static yajl_val doc_tree(yajl_gen g)
{
	const unsigned char *buf;
	size_t len;
	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return NULL;
	return ctl_tree_parse((const char *)buf, len);
}

static int print_remote(struct ctl *c, yajl_val v)
{
	int rc = CTL_OK;
	if (c->json && v) {
		ctl_j_tree(c, NULL, v);
		rc = ctl_j_flush(c);
	}
	ctl_tree_free(v);
	return rc;
}

static int print_partner(struct ctl *c, const struct d4_partner *p)
{
	if (!c->json)
		return CTL_OK;
	d4_fed_partner_json(out_gen(c), p, D4_FED_JSON_FULL);
	return ctl_j_flush(c);
}

static const struct ctl_opt *popts_defs(struct popts *o)
{
	static struct ctl_opt defs[11];
	const struct ctl_opt d[] = {{"url", 1, &o->url, NULL},
				    {"hub", 1, &o->hub, NULL},
				    {"org", 1, &o->org, NULL},
				    {"relation", 1, &o->relation, NULL},
				    {"direction", 1, &o->direction, NULL},
				    {"ca", 1, &o->ca, NULL},
				    {"pin", 1, &o->pin, NULL},
				    {"file", 1, &o->file, NULL},
				    {"enable", 0, NULL, &o->enable},
				    {"disable", 0, NULL, &o->disable},
				    {NULL, 0, NULL, NULL}};
	memcpy(defs, d, sizeof(d));
	return defs;
}

static int cmd_add_set(struct ctl *c, int argc, char **argv, int create)
{
	const char *pos[1];
	struct popts o;
	memset(&o, 0, sizeof(o));
	int rc = ctl_parse(c, argc, argv, popts_defs(&o), pos, 1, 1, NULL);
	if (rc != CTL_OK || (rc = arg_name(c, pos[0])) != CTL_OK)
		return rc;
	yajl_gen doc = NULL;
	if ((rc = build_doc(c, create ? pos[0] : NULL, &o, &doc)) != CTL_OK)
		return rc;
	if (c->url) {
		char path[320], esc[200];
		if (!ctl_esc(pos[0], esc, sizeof(esc))) {
			yajl_gen_free(doc);
			return ctl_usage(c, "partner name too long");
		}
		snprintf(path, sizeof(path), "/api/v1/partners%s%s", create ? "" : "/", create ? "" : esc);
		yajl_val v = NULL;
		rc = ctl_api(c, create ? "POST" : "PATCH", path, doc, &v); /* consumes doc */
		return rc == CTL_OK ? print_remote(c, v) : rc;
	}
	yajl_val tree = doc_tree(doc);
	yajl_gen_free(doc);
	struct d4_partner *p = malloc(sizeof(*p));
	if (!tree || !p) {
		free(p);
		ctl_tree_free(tree);
		return ctl_fail(c, "out of memory");
	}
	char err[256];
	int g = D4_OK;
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		goto out;
	if (create)
		d4_fed_partner_defaults(p);
	else if ((g = d4_store_partner_get(c->st, pos[0], p)) != D4_OK) {
		rc = g == D4_ENOTFOUND ? ctl_fail(c, "no partner %s", pos[0])
				       : ctl_fail(c, "cannot read partner %s: %s", pos[0], d4_strerror(g));
		goto out;
	}
	if (d4_fed_partner_apply_json(tree, p, create, err, sizeof(err)) != 0) {
		rc = ctl_fail(c, "%s", err);
		goto out;
	}
	g = create ? d4_store_partner_add(c->st, p) : d4_store_partner_update(c->st, p);
	if (g == D4_EEXIST)
		rc = ctl_fail(c, "partner %s already exists (use 'partner set')", pos[0]);
	else if (g == D4_ENOTFOUND)
		rc = ctl_fail(c, "no partner %s", pos[0]);
	else if (g != D4_OK)
		rc = ctl_fail(c, "cannot write partner %s: %s", pos[0], d4_strerror(g));
	else if ((g = d4_store_partner_get(c->st, pos[0], p)) != D4_OK)
		rc = ctl_fail(c, "cannot read partner %s back: %s", pos[0], d4_strerror(g));
	else
		rc = print_partner(c, p);
out:
	ctl_tree_free(tree);
	free(p);
	return rc;
}

static const char *const dir_names[] = {"-", "push", "pull", "both"};

static void row_head(void)
{
	printf("%-24s  %-9s  %-9s  %-7s  %-24s  %s\n", "NAME", "RELATION", "DIRECTION", "ENABLED", "SHARES", "URL");
}

static void row(const char *name, const char *rel, const char *dir, int enabled, const char *kinds, const char *url)
{
	char n[80], u[300];
	printf("%-24s  %-9s  %-9s  %-7s  %-24s  %s\n", ctl_clean(name, n, sizeof(n)), rel, dir, enabled ? "yes" : "no",
	       *kinds ? kinds : "-", ctl_clean(url, u, sizeof(u)));
}

struct list_ctx {
	struct ctl *c;
	unsigned n;
};

static int list_cb(void *ctx, const struct d4_partner *p)
{
	struct list_ctx *l = ctx;
	if (l->c->json) {
		d4_fed_partner_json(out_gen(l->c), p, D4_FED_JSON_LIST);
	} else {
		char kinds[64] = "";
		for (int k = 0; k < D4_PARTNER_KINDS; k++)
			if (p->out[k].enabled) {
				strcat(kinds, *kinds ? "," : "");
				strcat(kinds, d4_fed_kind_name((enum d4_fed_kind)k));
			}
		if (l->n == 0)
			row_head();
		row(p->name, d4_fed_relation_name((enum d4_fed_relation)p->relation),
		    dir_names[p->direction <= 3 ? p->direction : 0], p->enabled, kinds, p->url);
	}
	l->n++;
	return 0;
}

static int remote_list(struct ctl *c)
{
	yajl_val v = NULL;
	int rc = ctl_api(c, "GET", "/api/v1/partners", NULL, &v);
	if (rc != CTL_OK)
		return rc;
	yajl_val items = ctl_jget(v, "items");
	if (!items || !YAJL_IS_ARRAY(items)) {
		ctl_tree_free(v);
		return ctl_fail(c, "the hub's answer has no list of items");
	}
	if (c->json) {
		ctl_j_tree(c, NULL, items);
		ctl_tree_free(v);
		return ctl_j_flush(c);
	}
	for (size_t i = 0; i < items->u.array.len; i++) {
		yajl_val p = items->u.array.values[i];
		char kinds[64] = "";
		yajl_val ks = ctl_jget(p, "outbound_kinds");
		for (size_t k = 0; ks && YAJL_IS_ARRAY(ks) && k < ks->u.array.len && k < 4; k++)
			if (YAJL_IS_STRING(ks->u.array.values[k]) && strlen(ks->u.array.values[k]->u.string) < 12) {
				strcat(kinds, *kinds ? "," : "");
				strcat(kinds, ks->u.array.values[k]->u.string);
			}
		const char *n = ctl_jstr(p, "name"), *r = ctl_jstr(p, "relation"), *d = ctl_jstr(p, "direction"),
			   *u = ctl_jstr(p, "url");
		char rb[16], db[16];
		if (i == 0)
			row_head();
		row(n ? n : "-", ctl_clean(r ? r : "-", rb, sizeof(rb)), ctl_clean(d ? d : "-", db, sizeof(db)),
		    ctl_jbool(p, "enabled"), kinds, u ? u : "-");
	}
	if (items->u.array.len == 0)
		printf("no partners\n");
	ctl_tree_free(v);
	return CTL_OK;
}

static int cmd_list(struct ctl *c, int argc, char **argv)
{
	int rc = ctl_parse(c, argc, argv, NULL, NULL, 0, 0, NULL);
	if (rc != CTL_OK)
		return rc;
	if (c->url)
		return remote_list(c);
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	struct list_ctx l = {c, 0};
	if (c->json)
		yajl_gen_array_open(out_gen(c));
	int g = d4_store_partner_foreach(c->st, list_cb, &l);
	if (g < 0)
		return ctl_fail(c, "cannot list partners: %s", d4_strerror(g));
	if (c->json) {
		yajl_gen_array_close(out_gen(c));
		return ctl_j_flush(c);
	}
	if (l.n == 0)
		printf("no partners\n");
	return CTL_OK;
}

/* show prints the Partner document (JSON is its natural form: rules are
 * nested lists), with or without --json. */
static int cmd_show(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	int rc = ctl_parse(c, argc, argv, NULL, pos, 1, 1, NULL);
	if (rc != CTL_OK || (rc = arg_name(c, pos[0])) != CTL_OK)
		return rc;
	c->json = 1;
	if (c->url) {
		char path[320], esc[200];
		if (!ctl_esc(pos[0], esc, sizeof(esc)))
			return ctl_usage(c, "partner name too long");
		snprintf(path, sizeof(path), "/api/v1/partners/%s", esc);
		yajl_val v = NULL;
		rc = ctl_api(c, "GET", path, NULL, &v);
		return rc == CTL_OK ? print_remote(c, v) : rc;
	}
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	struct d4_partner *p = malloc(sizeof(*p));
	if (!p)
		return ctl_fail(c, "out of memory");
	int g = d4_store_partner_get(c->st, pos[0], p);
	if (g == D4_ENOTFOUND)
		rc = ctl_fail(c, "no partner %s", pos[0]);
	else if (g != D4_OK)
		rc = ctl_fail(c, "cannot read partner %s: %s", pos[0], d4_strerror(g));
	else
		rc = print_partner(c, p);
	free(p);
	return rc;
}

static int cmd_del(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	int rc = ctl_parse(c, argc, argv, NULL, pos, 1, 1, NULL);
	if (rc != CTL_OK || (rc = arg_name(c, pos[0])) != CTL_OK)
		return rc;
	if (c->url) {
		char path[320], esc[200];
		if (!ctl_esc(pos[0], esc, sizeof(esc)))
			return ctl_usage(c, "partner name too long");
		snprintf(path, sizeof(path), "/api/v1/partners/%s", esc);
		return ctl_api(c, "DELETE", path, NULL, NULL);
	}
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		return rc;
	int g = d4_store_partner_del(c->st, pos[0]);
	if (g == D4_ENOTFOUND)
		return ctl_fail(c, "no partner %s", pos[0]);
	if (g != D4_OK)
		return ctl_fail(c, "cannot delete partner %s: %s", pos[0], d4_strerror(g));
	return CTL_OK;
}

/* Comma-separated list option as a JSON array of strings. */
static void g_csv(yajl_gen g, const char *k, const char *csv)
{
	g_str(g, k);
	yajl_gen_array_open(g);
	const char *s = csv;
	while (*s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n)
			yajl_gen_string(g, (const unsigned char *)s, n);
		s += n + (e ? 1 : 0);
	}
	yajl_gen_array_close(g);
}

static int g_num(struct ctl *c, yajl_gen g, const char *k, const char *v, uint64_t max)
{
	uint64_t n;
	if (ctl_arg_u64(c, k, v, max, &n) != CTL_OK)
		return CTL_USAGE;
	g_str(g, k);
	yajl_gen_integer(g, (long long)n);
	return CTL_OK;
}

static void print_verdict(yajl_val r)
{
	char b1[64], b2[64], b3[200];
	const char *d = ctl_jstr(r, "decision"), *why = ctl_jstr(r, "reason"), *text = ctl_jstr(r, "explanation"),
		   *lvl = ctl_jstr(r, "level");
	printf("%s (%s): %s\n", ctl_clean(d ? d : "?", b1, sizeof(b1)), ctl_clean(why ? why : "?", b2, sizeof(b2)),
	       ctl_clean(text ? text : "", b3, sizeof(b3)));
	printf("decided on level %s\n", lvl ? ctl_clean(lvl, b1, sizeof(b1)) : "?");
	/* what the rule's mix does with it (absent or null: the rule does not mix) */
	yajl_val mix = NULL;
	for (size_t i = 0; r && YAJL_IS_OBJECT(r) && i < r->u.object.len; i++)
		if (!strcmp(r->u.object.keys[i], "mix"))
			mix = r->u.object.values[i];
	const char *mt = mix && YAJL_IS_OBJECT(mix) ? ctl_jstr(mix, "explanation") : NULL;
	if (mt)
		printf("mix: %s\n", ctl_clean(mt, b3, sizeof(b3)));
}

static int cmd_dry_run(struct ctl *c, int argc, char **argv)
{
	const char *pos[1], *kind = NULL, *tlp = NULL, *tags = NULL, *org = NULL, *sensors = NULL, *type = NULL,
			    *ext = NULL, *origin = NULL, *via = NULL, *rrname = NULL, *rrtype = NULL, *rdata = NULL,
			    *file = NULL, *seen_count = NULL, *seen_sensors = NULL, *packets = NULL, *duration = NULL,
			    *server = NULL, *sni = NULL, *names = NULL;
	int no_sync = 0, stripped = 0, onward = 0;
	const struct ctl_opt opts[] = {{"kind", 1, &kind, NULL},
				       {"tlp", 1, &tlp, NULL},
				       {"tags", 1, &tags, NULL},
				       {"org", 1, &org, NULL},
				       {"sensors", 1, &sensors, NULL},
				       {"type", 1, &type, NULL},
				       {"ext-type", 1, &ext, NULL},
				       {"origin", 1, &origin, NULL},
				       {"via", 1, &via, NULL},
				       {"rrname", 1, &rrname, NULL},
				       {"rrtype", 1, &rrtype, NULL},
				       {"rdata", 1, &rdata, NULL},
				       {"file", 1, &file, NULL},
				       {"should-not-sync", 0, NULL, &no_sync},
				       {"stripped", 0, NULL, &stripped},
				       {"seen-count", 1, &seen_count, NULL},
				       {"seen-sensors", 1, &seen_sensors, NULL},
				       {"packets", 1, &packets, NULL},
				       {"duration", 1, &duration, NULL},
				       {"onward", 0, NULL, &onward},
				       {"server", 1, &server, NULL},
				       {"sni", 1, &sni, NULL},
				       {"names", 1, &names, NULL},
				       {NULL, 0, NULL, NULL}};
	int rc = ctl_parse(c, argc, argv, opts, pos, 1, 1, NULL);
	if (rc != CTL_OK || (rc = arg_name(c, pos[0])) != CTL_OK)
		return rc;
	char *text = NULL;
	yajl_gen g;
	if (file) {
		/* The whole DryRunRecord document from a file; no other options. */
		if (kind || tlp || tags || org || sensors || type || ext || origin || via || rrname || rrtype ||
		    rdata || no_sync || stripped || seen_count || seen_sensors || packets || duration || onward ||
		    server || sni || names)
			return ctl_usage(c, "--file takes the whole record: give no other record option");
		if ((rc = read_text(c, "record", file, DOC_FILE_MAX, &text)) != CTL_OK)
			return rc;
		yajl_val v = ctl_tree_parse(text, strlen(text));
		free(text);
		if (!v || !YAJL_IS_OBJECT(v)) {
			if (v)
				ctl_tree_free(v);
			return ctl_fail(c, "%s: not a JSON object", file);
		}
		g = ctl_body_new();
		if (g)
			g_tree(g, v);
		ctl_tree_free(v);
	} else {
		g = ctl_body_new();
		if (g) {
			yajl_gen_map_open(g);
			if (kind) {
				g_str(g, "kind");
				g_str(g, kind);
			}
			if (tlp) {
				g_str(g, "tlp");
				g_str(g, tlp);
			}
			if (tags)
				g_csv(g, "tags", tags);
			if (org) {
				g_str(g, "org");
				g_str(g, org);
			}
			if (sensors)
				g_csv(g, "sensors", sensors);
			if (type && (rc = g_num(c, g, "type", type, 255)) != CTL_OK) {
				yajl_gen_free(g);
				return rc;
			}
			if (ext) {
				g_str(g, "ext_type");
				g_str(g, ext);
			}
			if (origin) {
				g_str(g, "origin");
				g_str(g, origin);
			}
			if (via)
				g_csv(g, "via", via);
			if (rrname) {
				g_str(g, "rrname");
				g_str(g, rrname);
			}
			if (rrtype && (rc = g_num(c, g, "rrtype", rrtype, 65535)) != CTL_OK) {
				yajl_gen_free(g);
				return rc;
			}
			if (rdata) {
				g_str(g, "rdata");
				g_str(g, rdata);
			}
			/* certs: the server, its SNI and the certificate's names */
			if (server) {
				g_str(g, "server");
				g_str(g, server);
			}
			if (sni) {
				g_str(g, "sni");
				g_str(g, sni);
			}
			if (names)
				g_csv(g, "names", names);
			/* what the hub has seen of it, for a rule that mixes */
			const char *const nk[4] = {"seen_count", "seen_sensors", "packets", "duration_s"};
			const char *const nv[4] = {seen_count, seen_sensors, packets, duration};
			for (int i = 0; i < 4; i++)
				if (nv[i] && (rc = g_num(c, g, nk[i], nv[i],
							 i == 1 ? UINT32_MAX : (uint64_t)INT64_MAX)) != CTL_OK) {
					yajl_gen_free(g);
					return rc;
				}
			if (no_sync) {
				g_str(g, "should_not_sync");
				yajl_gen_bool(g, 1);
			}
			if (stripped) {
				g_str(g, "stripped");
				yajl_gen_bool(g, 1);
			}
			if (onward) {
				g_str(g, "onward");
				yajl_gen_bool(g, 1);
			}
			yajl_gen_map_close(g);
		}
	}
	if (!g)
		return ctl_fail(c, "out of memory");
	if (c->url) {
		char path[320], esc[200];
		if (!ctl_esc(pos[0], esc, sizeof(esc))) {
			yajl_gen_free(g);
			return ctl_usage(c, "partner name too long");
		}
		snprintf(path, sizeof(path), "/api/v1/partners/%s/dry-run", esc);
		yajl_val v = NULL;
		rc = ctl_api(c, "POST", path, g, &v); /* consumes g */
		if (rc != CTL_OK)
			return rc;
		if (!c->json)
			print_verdict(v);
		return print_remote(c, v);
	}
	yajl_val tree = doc_tree(g);
	yajl_gen_free(g);
	if (!c->has_identity) {
		ctl_tree_free(tree);
		return ctl_fail(c, "a local dry run needs the hub's identity: give -c HUBCONF (or -H URL)");
	}
	struct d4_partner *p = malloc(sizeof(*p));
	struct d4_fed_dryrun d;
	memset(&d, 0, sizeof(d));
	char err[256];
	if (!p || !tree) {
		rc = ctl_fail(c, "out of memory");
		goto out;
	}
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		goto out;
	int e = d4_store_partner_get(c->st, pos[0], p);
	if (e != D4_OK) {
		rc = e == D4_ENOTFOUND ? ctl_fail(c, "no partner %s", pos[0])
				       : ctl_fail(c, "cannot read partner %s: %s", pos[0], d4_strerror(e));
		goto out;
	}
	if ((e = d4_fed_dryrun_parse(tree, &d, err, sizeof(err))) != 0) {
		rc = ctl_fail(c, "%s", e == D4_EINVAL ? err : d4_strerror(e));
		goto out;
	}
	struct d4_fed_self self;
	memset(&self, 0, sizeof(self));
	memcpy(self.hub, c->hub_uuid, 16);
	memcpy(self.org, c->org, 16);
	if (!c->hub_uuid_set || !c->org_set) {
		/* not configured: the identity the hub generated and kept */
		uint8_t kept_hub[16], kept_org[16];
		e = d4_store_identity_get(c->st, kept_hub, kept_org);
		if (e != D4_OK) {
			rc = ctl_fail(c, "hub.uuid/hub.org are not in the configuration and the store %s",
				      e == D4_ENOTFOUND ? "has none yet (the hub never started)" : "cannot be read");
			goto out;
		}
		if (!c->hub_uuid_set)
			memcpy(self.hub, kept_hub, 16);
		if (!c->org_set)
			memcpy(self.org, kept_org, 16);
	}
	self.default_tlp = (enum d4_tlp)c->default_tlp;
	struct d4_partner_net own[D4_FED_OWN_NETS_MAX];
	if (d4_fed_nets_parse_list(c->own_networks, own, D4_FED_OWN_NETS_MAX, &self.n_own_nets, err, sizeof(err)) == 0)
		self.own_nets = own;
	else
		self.n_own_nets = 0;
	struct d4_fed_partner fp;
	memcpy(fp.hub, p->hub, 16);
	memcpy(fp.org, p->org, 16);
	fp.relation = (enum d4_fed_relation)p->relation;
	fp.enabled = p->enabled;
	struct d4_fed_verdict v;
	d4_fed_decide(&self, &fp, &p->out[d.rec.kind], &d.rec, &v);
	/* One document for both outputs: the API's DryRunResult. */
	yajl_gen rg = yajl_gen_alloc(NULL);
	if (!rg) {
		rc = ctl_fail(c, "out of memory");
		goto out;
	}
	d4_fed_dryrun_json_rule(rg, p->name, &self, &p->out[d.rec.kind], &d.rec, &v);
	yajl_val res = doc_tree(rg);
	yajl_gen_free(rg);
	if (!c->json)
		print_verdict(res);
	rc = print_remote(c, res);
out:
	d4_fed_dryrun_free(&d);
	ctl_tree_free(tree);
	free(p);
	return rc;
}

/* ---- status: what is exchanged with the partner, per kind ----
 * Locally from the store (what it acknowledged, what was received from its
 * hub); the live state of the sender thread (connected, lag, last error)
 * and the federation port's counters are only in the running hub: -H. */

static void g_kstr(yajl_gen g, const char *k, const char *v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	if (v)
		yajl_gen_string(g, (const unsigned char *)v, strlen(v));
	else
		yajl_gen_null(g);
}

static void g_u64(yajl_gen g, const char *k, uint64_t v)
{
	char n[24];
	int len = snprintf(n, sizeof(n), "%llu", (unsigned long long)v);
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_number(g, n, (size_t)len);
}

/* As the API writes times: ISO-8601 UTC, null for 0. */
static void g_time(yajl_gen g, const char *k, uint64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;
	if (t && gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		g_kstr(g, k, buf);
	else
		g_kstr(g, k, NULL);
}

static void g_hex(yajl_gen g, const char *k, const uint8_t *b, size_t n)
{
	char *h = malloc(n * 2 + 1);
	if (h) {
		d4_hex_encode(b, n, h);
		h[n * 2] = '\0';
	}
	g_kstr(g, k, h ? h : "");
	free(h);
}

static void g_counts(yajl_gen g, const char *k, const uint64_t *n, unsigned count, int in)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_map_open(g);
	for (unsigned i = in ? 1 : 0; i < count; i++)
		if (n[i])
			g_u64(g,
			      in ? d4_fed_in_reason_name((enum d4_fed_in_reason)i)
				 : d4_fed_reason_name((enum d4_fed_reason)i),
			      n[i]);
	yajl_gen_map_close(g);
}

/* The store's part of the PartnerStatus document (openapi/d4hub.yaml). */
static int status_doc(struct ctl *c, const struct d4_partner *p, yajl_gen g)
{
	struct d4_store_fed_out *o = malloc(sizeof(*o));
	struct d4_store_fed_in *in = malloc(sizeof(*in));
	int rc = o && in ? D4_OK : D4_ENOMEM;
	char hub[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(p->hub, hub);
	yajl_gen_map_open(g);
	g_kstr(g, "name", p->name);
	g_kstr(g, "hub_uuid", hub);
	yajl_gen_string(g, (const unsigned char *)"enabled", 7);
	yajl_gen_bool(g, p->enabled);
	g_kstr(g, "direction", dir_names[p->direction <= 3 ? p->direction : 0]);
	yajl_gen_string(g, (const unsigned char *)"kinds", 5);
	yajl_gen_map_open(g);
	for (uint8_t k = 0; k < D4_PARTNER_KINDS && rc == D4_OK; k++) {
		const char *kn = d4_fed_kind_name((enum d4_fed_kind)k);
		yajl_gen_string(g, (const unsigned char *)kn, strlen(kn));
		yajl_gen_map_open(g);
		yajl_gen_string(g, (const unsigned char *)"outbound", 8);
		yajl_gen_bool(g, p->out[k].enabled);
		yajl_gen_string(g, (const unsigned char *)"inbound", 7);
		yajl_gen_bool(g, (p->in.kinds >> k) & 1u);
		rc = d4_store_fed_out_get(c->st, p->name, k, o);
		if (rc == D4_ENOTFOUND)
			rc = D4_OK;
		if (rc != D4_OK)
			break;
		yajl_gen_string(g, (const unsigned char *)"acknowledged", 12);
		yajl_gen_map_open(g);
		g_hex(g, "position", o->pos, o->pos_len);
		g_u64(g, "batches", o->batches);
		g_u64(g, "records", o->records);
		g_u64(g, "bytes", o->bytes);
		g_time(g, "last_ack", o->last_ack);
		g_counts(g, "decisions", o->decisions, o->ndecisions < D4_FED_R_COUNT ? o->ndecisions : D4_FED_R_COUNT,
			 0);
		yajl_gen_map_close(g);
		rc = d4_store_fed_in_get(c->st, p->hub, k, in);
		if (rc == D4_ENOTFOUND) {
			memset(in, 0, sizeof(*in));
			rc = D4_OK;
		}
		if (rc != D4_OK)
			break;
		yajl_gen_string(g, (const unsigned char *)"received", 8);
		yajl_gen_map_open(g);
		g_hex(g, "position", in->pos, in->pos_len);
		g_u64(g, "batches", in->batches);
		g_u64(g, "records", in->records);
		g_u64(g, "bytes", in->bytes);
		g_u64(g, "duplicates", in->duplicates);
		g_u64(g, "conflicts", in->conflicts);
		g_counts(g, "refused", in->refused, in->nrefused < D4_FED_IN_COUNT ? in->nrefused : D4_FED_IN_COUNT, 1);
		g_time(g, "last_at", in->last_at);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	free(o);
	free(in);
	return rc;
}

/* "a=1,b=2" of a {name: n} object, or "-". */
static void counts_text(yajl_val obj, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; obj && YAJL_IS_OBJECT(obj) && i < obj->u.object.len && o + 1 < size; i++) {
		char k[40];
		o += (size_t)snprintf(out + o, size - o, "%s%s=%llu", o ? "," : "",
				      ctl_clean(obj->u.object.keys[i], k, sizeof(k)),
				      (unsigned long long)(YAJL_IS_INTEGER(obj->u.object.values[i])
							       ? YAJL_GET_INTEGER(obj->u.object.values[i])
							       : 0));
	}
	if (!out[0])
		d4_strlcpy(out, "-", size);
}

/* The text form of a PartnerStatus document (local or from the hub). */
static void status_text(yajl_val d, int remote)
{
	char name[80], buf[512];
	const char *n = ctl_jstr(d, "name");
	printf("partner %s: hub %s, direction %s, %s\n", ctl_clean(n ? n : "-", name, sizeof(name)),
	       ctl_jstr(d, "hub_uuid") ? ctl_jstr(d, "hub_uuid") : "-",
	       ctl_jstr(d, "direction") ? ctl_jstr(d, "direction") : "-",
	       ctl_jbool(d, "enabled") ? "enabled" : "disabled");
	yajl_val kinds = ctl_jget(d, "kinds");
	for (size_t i = 0; kinds && YAJL_IS_OBJECT(kinds) && i < kinds->u.object.len; i++) {
		yajl_val k = kinds->u.object.values[i], a = ctl_jget(k, "acknowledged"), r = ctl_jget(k, "received"),
			 s = ctl_jget(k, "sender");
		if (!ctl_jbool(k, "outbound") && !ctl_jbool(k, "inbound") && !ctl_ju64(a, "batches") &&
		    !ctl_ju64(r, "batches"))
			continue;
		printf("  %s: out %s, in %s\n", kinds->u.object.keys[i],
		       ctl_jbool(k, "outbound") ? "shared" : "not shared",
		       ctl_jbool(k, "inbound") ? "accepted" : "not accepted");
		counts_text(ctl_jget(a, "decisions"), buf, sizeof(buf));
		printf("    acknowledged: %llu batches, %llu records, position %s; decisions %s\n",
		       (unsigned long long)ctl_ju64(a, "batches"), (unsigned long long)ctl_ju64(a, "records"),
		       ctl_jstr(a, "position") && *ctl_jstr(a, "position") ? ctl_jstr(a, "position") : "(start)", buf);
		if (s && YAJL_IS_OBJECT(s)) {
			char e[200];
			const char *err = ctl_jstr(s, "last_error");
			printf("    sender: %s, lag %llu records / %llu s, %llu failures%s%s\n",
			       ctl_jbool(s, "connected") ? "connected" : "not connected",
			       (unsigned long long)ctl_ju64(s, "lag_records"),
			       (unsigned long long)ctl_ju64(s, "lag_seconds"),
			       (unsigned long long)ctl_ju64(s, "failures"), err ? ", last error: " : "",
			       err ? ctl_clean(err, e, sizeof(e)) : "");
		}
		counts_text(ctl_jget(r, "refused"), buf, sizeof(buf));
		printf(
		    "    received: %llu batches, %llu records, %llu duplicates, %llu position mismatches; refused %s\n",
		    (unsigned long long)ctl_ju64(r, "batches"), (unsigned long long)ctl_ju64(r, "records"),
		    (unsigned long long)ctl_ju64(r, "duplicates"), (unsigned long long)ctl_ju64(r, "conflicts"), buf);
	}
	if (!remote)
		printf("(from the store; the sender's live state and the federation port's counters: d4hubctl -H HUB "
		       "partner status %s)\n",
		       name);
}

static int cmd_status(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	int rc = ctl_parse(c, argc, argv, NULL, pos, 1, 1, NULL);
	if (rc != CTL_OK || (rc = arg_name(c, pos[0])) != CTL_OK)
		return rc;
	yajl_val v = NULL;
	if (c->url) {
		char path[340], esc[200];
		if (!ctl_esc(pos[0], esc, sizeof(esc)))
			return ctl_usage(c, "partner name too long");
		snprintf(path, sizeof(path), "/api/v1/partners/%s/status", esc);
		if ((rc = ctl_api(c, "GET", path, NULL, &v)) != CTL_OK)
			return rc;
	} else {
		if ((rc = ctl_store(c, 0)) != CTL_OK)
			return rc;
		struct d4_partner *p = malloc(sizeof(*p));
		yajl_gen g = p ? yajl_gen_alloc(NULL) : NULL;
		if (!g) {
			free(p);
			return ctl_fail(c, "out of memory");
		}
		int s = d4_store_partner_get(c->st, pos[0], p);
		if (s == D4_OK)
			s = status_doc(c, p, g);
		free(p);
		if (s == D4_ENOTFOUND)
			rc = ctl_fail(c, "no partner %s", pos[0]);
		else if (s != D4_OK)
			rc = ctl_fail(c, "cannot read the status of partner %s: %s", pos[0], d4_strerror(s));
		else if (!(v = doc_tree(g)))
			rc = ctl_fail(c, "out of memory");
		yajl_gen_free(g);
		if (rc != CTL_OK)
			return rc;
	}
	if (c->json)
		return print_remote(c, v);
	status_text(v, c->url != NULL);
	ctl_tree_free(v);
	return CTL_OK;
}

/* This hub's federation signing public key (docs/federation.md "Signed
 * provenance"): what partners put in their record of this hub as pubkey.
 * Read from the store (the hub generates the key at its first start). */
static int cmd_key(struct ctl *c, int argc, char **argv)
{
	int rc = ctl_parse(c, argc, argv, NULL, NULL, 0, 0, NULL);
	if (rc != CTL_OK)
		return rc;
	if (c->url) {
		yajl_val v = NULL;
		rc = ctl_api(c, "GET", "/api/v1/federation/identity", NULL, &v);
		if (rc != CTL_OK)
			return rc;
		const char *pk = ctl_jstr(v, "pubkey");
		char b[D4_FED_PUBKEY_B64_LEN + 1];
		if (!pk)
			rc = ctl_fail(c, "the hub has no signing key");
		else if (c->json)
			printf("{\"pubkey\":\"%s\"}\n", ctl_clean(pk, b, sizeof(b)));
		else
			printf("%s\n", ctl_clean(pk, b, sizeof(b)));
		ctl_tree_free(v);
		return rc;
	}
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	uint8_t seed[32], pk[32], sk[64];
	int g = d4_store_sign_seed_get(c->st, seed);
	if (g == D4_ENOTFOUND)
		return ctl_fail(c, "no signing key in the store yet: the hub makes one at its first start");
	if (g != D4_OK)
		return ctl_fail(c, "cannot read the signing key: %s", d4_strerror(g));
	g = d4_fed_sign_keypair(seed, pk, sk);
	d4_wipe(seed, sizeof(seed));
	d4_wipe(sk, sizeof(sk));
	if (g != D4_OK)
		return ctl_fail(c, "cannot derive the signing key: %s", d4_strerror(g));
	char b64[D4_FED_PUBKEY_B64_LEN + 1];
	d4_fed_pubkey_b64(pk, b64);
	if (c->json)
		printf("{\"pubkey\":\"%s\"}\n", b64);
	else
		printf("%s\n", b64);
	return CTL_OK;
}

int ctl_cmd_partner(struct ctl *c, int argc, char **argv)
{
	if (argc < 1)
		return ctl_usage(c, "partner: list | show NAME | status NAME | add NAME ... | set NAME ... | del NAME "
				    "| dry-run NAME ... | key");
	const char *sub = argv[0];
	argc--;
	argv++;
	if (!strcmp(sub, "list"))
		return cmd_list(c, argc, argv);
	if (!strcmp(sub, "show"))
		return cmd_show(c, argc, argv);
	if (!strcmp(sub, "add"))
		return cmd_add_set(c, argc, argv, 1);
	if (!strcmp(sub, "set"))
		return cmd_add_set(c, argc, argv, 0);
	if (!strcmp(sub, "del"))
		return cmd_del(c, argc, argv);
	if (!strcmp(sub, "dry-run"))
		return cmd_dry_run(c, argc, argv);
	if (!strcmp(sub, "status"))
		return cmd_status(c, argc, argv);
	if (!strcmp(sub, "key"))
		return cmd_key(c, argc, argv);
	return ctl_usage(c, "unknown partner command '%s'", sub);
}
