/* d4-sensor: command line. Everything else is in the d4sensor library. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_proto.h"
#include "d4_sensor.h"
#include "d4_util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_KEYFILE = 256,
	OPT_EXTTYPE,
	OPT_FROMSTART,
	OPT_SNAPLEN,
	OPT_CA,
	OPT_INSECURE,
	OPT_SERVERNAME,
	OPT_SPOOL,
	OPT_SPOOLMAX,
	OPT_DRAIN,
	OPT_GENUUID,
	OPT_EXTRACT,
	OPT_HELP
};

/* The extended type of --extract tls: the D4 TLS sensor's (docs/passivessl.md). */
#define EXTRACT_TLS_TYPE "ja3-jl"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: d4-sensor [-c DIR] [-u UUID] [-k KEY | --key-file F] [-t TYPE] [-m META.json | --ext-type NAME]\n"
	    "                 [-i IFACE [-f BPF] | -r FILE.pcap | -F FILE [--from-start]] [--snaplen N]\n"
	    "                 [-D stdout|HOST:PORT] [--ca FILE] [--insecure] [--server-name NAME]\n"
	    "                 [--spool DIR] [--spool-max BYTES] [--drain-timeout S] [-v|-q]\n"
	    "       d4-sensor --extract tls [-m META.json] (-i IFACE | -r FILE.pcap) [-f BPF] ... (type 254, ja3-jl)\n"
	    "       d4-sensor --gen-uuid\n"
	    "Default source stdin, default destination stdout. Exit: 0 ok, 1 error, 2 usage, 3 data left in spool.\n");
}

static int parse_u64(const char *s, uint64_t *out, int suffixes)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return D4_EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return D4_EINVAL;
	uint64_t mul = 1;
	if (suffixes && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mul = 1024; break;
		case 'M': mul = 1024 * 1024; break;
		case 'G': mul = 1024ull * 1024 * 1024; break;
		default: return D4_EINVAL;
		}
		end++;
		if (toupper((unsigned char)*end) == 'I')
			end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end || (mul > 1 && v > UINT64_MAX / mul))
		return D4_EINVAL;
	*out = v * mul;
	return D4_OK;
}

static int ext_name_ok(const char *s)
{
	if (!*s || strlen(s) >= D4_META_TYPE_MAX)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.:+", *s))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"key-file", required_argument, 0, OPT_KEYFILE},
					   {"ext-type", required_argument, 0, OPT_EXTTYPE},
					   {"from-start", no_argument, 0, OPT_FROMSTART},
					   {"snaplen", required_argument, 0, OPT_SNAPLEN},
					   {"ca", required_argument, 0, OPT_CA},
					   {"insecure", no_argument, 0, OPT_INSECURE},
					   {"server-name", required_argument, 0, OPT_SERVERNAME},
					   {"spool", required_argument, 0, OPT_SPOOL},
					   {"spool-max", required_argument, 0, OPT_SPOOLMAX},
					   {"drain-timeout", required_argument, 0, OPT_DRAIN},
					   {"gen-uuid", no_argument, 0, OPT_GENUUID},
					   {"extract", required_argument, 0, OPT_EXTRACT},
					   {"help", no_argument, 0, OPT_HELP},
					   {0, 0, 0, 0}};
	const char *dir = NULL, *uuid_s = NULL, *key_s = NULL, *keyfile = NULL, *type_s = NULL, *meta_f = NULL;
	const char *ext = NULL, *iface = NULL, *bpf = NULL, *rfile = NULL, *ffile = NULL, *dest = NULL, *ca = NULL;
	const char *sname = NULL, *spool = NULL, *extract = NULL;
	int from_start = 0, insecure = 0, verbose = 0, quiet = 0, c;
	uint64_t snaplen = 0, spool_max = D4S_SPOOL_DEFAULT, drain = 30;
	while ((c = getopt_long(argc, argv, "c:u:k:t:m:i:f:r:F:D:vqh", lo, NULL)) != -1) {
		switch (c) {
		case 'c': dir = optarg; break;
		case 'u': uuid_s = optarg; break;
		case 'k': key_s = optarg; break;
		case OPT_KEYFILE: keyfile = optarg; break;
		case 't': type_s = optarg; break;
		case 'm': meta_f = optarg; break;
		case OPT_EXTTYPE: ext = optarg; break;
		case 'i': iface = optarg; break;
		case 'f': bpf = optarg; break;
		case 'r': rfile = optarg; break;
		case 'F': ffile = optarg; break;
		case OPT_FROMSTART: from_start = 1; break;
		case OPT_SNAPLEN:
			if (parse_u64(optarg, &snaplen, 0) != 0 || snaplen == 0 || snaplen > D4S_MAX_PAYLOAD) {
				fprintf(stderr, "d4-sensor: --snaplen: 1..%u\n", D4S_MAX_PAYLOAD);
				return D4S_EXIT_USAGE;
			}
			break;
		case 'D': dest = optarg; break;
		case OPT_CA: ca = optarg; break;
		case OPT_INSECURE: insecure = 1; break;
		case OPT_SERVERNAME: sname = optarg; break;
		case OPT_SPOOL: spool = optarg; break;
		case OPT_SPOOLMAX:
			if (parse_u64(optarg, &spool_max, 1) != 0 || spool_max < 65536) {
				fprintf(stderr, "d4-sensor: --spool-max: a size of at least 64K\n");
				return D4S_EXIT_USAGE;
			}
			break;
		case OPT_DRAIN:
			if (parse_u64(optarg, &drain, 0) != 0 || drain > 86400 * 365) {
				fprintf(stderr, "d4-sensor: --drain-timeout: seconds\n");
				return D4S_EXIT_USAGE;
			}
			break;
		case OPT_EXTRACT:
			if (strcmp(optarg, "tls") != 0) {
				fprintf(stderr, "d4-sensor: --extract: only 'tls'\n");
				return D4S_EXIT_USAGE;
			}
			extract = optarg;
			break;
		case OPT_GENUUID: {
			uint8_t u[16];
			char hex[D4_UUID_HEX_LEN + 1];
			if (d4_uuid_gen_v4(u) != 0)
				return D4S_EXIT_ERR;
			d4_uuid_hex(u, hex);
			printf("%s\n", hex);
			return D4S_EXIT_OK;
		}
		case 'v': verbose++; break;
		case 'q': quiet = 1; break;
		case 'h':
		case OPT_HELP: usage(stdout); return D4S_EXIT_OK;
		default: usage(stderr); return D4S_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return D4S_EXIT_USAGE;
	}
	d4_log_init("d4-sensor", 0,
		    quiet	  ? D4_LOG_WARN
		    : verbose > 1 ? D4_LOG_DEBUG
		    : verbose	  ? D4_LOG_INFO
				  : D4_LOG_NOTICE);

	struct d4_sensor_config cf;
	d4_sensor_config_init(&cf);
	int code = D4S_EXIT_USAGE;
	if (dir && d4_sensor_config_load_dir(&cf, dir) != 0) {
		code = D4S_EXIT_ERR;
		goto out;
	}
	if (uuid_s) {
		if (d4_uuid_parse(uuid_s, cf.uuid) != 0) {
			d4_err("-u: not a uuid: %s", uuid_s);
			goto out;
		}
		cf.has_uuid = 1;
	}
	if (!cf.has_uuid && dir) {
		/* like d4-goclient: generate one and keep it in the folder */
		char path[PATH_MAX], hex[D4_UUID_HEX_LEN + 1];
		FILE *f;
		if (d4_uuid_gen_v4(cf.uuid) != 0)
			goto out;
		d4_uuid_hex(cf.uuid, hex);
		snprintf(path, sizeof(path), "%s/uuid", dir);
		if ((f = fopen(path, "w")) && fprintf(f, "%s\n", hex) > 0 && fclose(f) == 0)
			d4_notice("generated sensor uuid %s (saved in %s)", hex, path);
		else
			d4_warn("generated sensor uuid %s (could not save it in %s)", hex, path);
		cf.has_uuid = 1;
	}
	if (!cf.has_uuid) {
		d4_err("no sensor uuid: -u UUID or -c DIR (d4-sensor --gen-uuid makes one)");
		goto out;
	}
	if (!d4_uuid_is_v4(cf.uuid))
		d4_warn("the sensor uuid is not a version-4 uuid: hubs will refuse it");
	if (key_s) {
		size_t n = strlen(key_s);
		if (n > D4S_KEY_MAX) {
			d4_err("-k: key too long");
			goto out;
		}
		memcpy(cf.key, key_s, n);
		cf.keylen = n;
		cf.has_key = n > 0;
	}
	if (keyfile) {
		uint8_t *k;
		size_t n;
		int rc = d4_sensor_read_trimmed(keyfile, D4S_KEY_MAX, &k, &n);
		if (rc) {
			d4_err("--key-file %s: %s", keyfile, d4_strerror(rc));
			code = D4S_EXIT_ERR;
			goto out;
		}
		memcpy(cf.key, k, n);
		cf.keylen = n;
		cf.has_key = n > 0;
		d4_wipe(k, n);
		free(k);
	}
	if (!cf.has_key) {
		d4_err("no key: -k KEY, --key-file FILE or DIR/key");
		goto out;
	}
	if (type_s) {
		uint64_t t;
		if (parse_u64(type_s, &t, 0) != 0 || t > 255) {
			d4_err("-t: a type 0..255");
			goto out;
		}
		cf.type = (int)t;
	}
	if (extract) {
		/* ja3-jl lines are type 254 whatever the config folder says; an
		 * explicit other type is a mistake worth stopping for */
		if (type_s && cf.type != D4_TYPE_EXTENDED && cf.type != D4_TYPE_META) {
			d4_err("--extract tls sends type %d (ja3-jl): -t %s does not fit", D4_TYPE_EXTENDED, type_s);
			goto out;
		}
		if (ext && strcmp(ext, EXTRACT_TLS_TYPE) != 0) {
			d4_err("--extract tls sends the extended type %s, not %s", EXTRACT_TLS_TYPE, ext);
			goto out;
		}
		cf.type = D4_TYPE_EXTENDED;
	}
	if (cf.type < 0) {
		d4_err("no type: -t TYPE or DIR/type");
		goto out;
	}
	if (meta_f) {
		uint8_t *m;
		size_t n;
		int rc = d4_sensor_read_trimmed(meta_f, D4_META_MAX, &m, &n);
		if (rc) {
			d4_err("-m %s: %s", meta_f, d4_strerror(rc));
			code = D4S_EXIT_ERR;
			goto out;
		}
		free(cf.meta);
		cf.meta = m;
		cf.metalen = n;
	}
	if (ext) {
		if (!ext_name_ok(ext)) {
			d4_err("--ext-type: letters, digits and -_.:+ only, up to %d characters", D4_META_TYPE_MAX - 1);
			goto out;
		}
		free(cf.meta);
		size_t n = strlen(ext) + 16;
		cf.meta = malloc(n);
		if (!cf.meta) {
			code = D4S_EXIT_ERR;
			goto out;
		}
		cf.metalen = (size_t)snprintf((char *)cf.meta, n, "{\"type\": \"%s\"}", ext);
	}
	if (extract) {
		/* the meta header's tags (TLP, misp:org) are kept; its type must be ja3-jl */
		struct d4_meta pm;
		if (cf.meta && cf.metalen && d4_proto_meta_parse(cf.meta, cf.metalen, &pm) == 0 &&
		    strcmp(pm.type, EXTRACT_TLS_TYPE) != 0) {
			if (meta_f) {
				d4_err("-m %s: its type is '%s'; --extract tls sends '%s'", meta_f, pm.type,
				       EXTRACT_TLS_TYPE);
				goto out;
			}
			d4_warn("the config folder's meta header (type '%s') is not used: --extract tls sends "
				"{\"type\": \"%s\"} without tags",
				pm.type, EXTRACT_TLS_TYPE);
			free(cf.meta);
			cf.meta = NULL;
			cf.metalen = 0;
		}
		if (!cf.meta || !cf.metalen) {
			free(cf.meta);
			cf.meta = (uint8_t *)strdup("{\"type\": \"" EXTRACT_TLS_TYPE "\"}");
			if (!cf.meta) {
				code = D4S_EXIT_ERR;
				goto out;
			}
			cf.metalen = strlen((char *)cf.meta);
		}
	}
	uint8_t dtype = (uint8_t)cf.type;
	const uint8_t *meta = NULL;
	if (cf.type == D4_TYPE_META || cf.type == D4_TYPE_EXTENDED) {
		if (!cf.meta || !cf.metalen) {
			d4_err("type %d needs a meta header: -m FILE, --ext-type NAME or DIR/metaheader.json", cf.type);
			goto out;
		}
		struct d4_meta pm;
		int rc = d4_proto_meta_parse(cf.meta, cf.metalen, &pm);
		if (rc) {
			d4_err("meta header: %s (a JSON object with a string \"type\" is required)", d4_strerror(rc));
			goto out;
		}
		meta = cf.meta;
		dtype = D4_TYPE_EXTENDED;
	} else if (meta_f || ext) {
		d4_warn("a meta header is only sent for types 2 and 254; ignored for type %d", cf.type);
	}

	struct d4_sensor_run_opts o;
	memset(&o, 0, sizeof(o));
	memcpy(o.id.uuid, cf.uuid, 16);
	o.id.key = cf.key;
	o.id.keylen = cf.keylen;
	o.id.version = cf.version >= 0 ? (uint8_t)cf.version : 1;
	o.type = dtype;
	o.meta = meta;
	o.metalen = meta ? cf.metalen : 0;
	o.dest = dest ? dest : cf.destination[0] ? cf.destination : "stdout";
	o.out_fd = 1;
	o.ca = ca ? ca : cf.ca[0] ? cf.ca : NULL;
	o.server_name = sname;
	o.insecure = insecure;
	o.spool_dir = spool;
	o.spool_max = spool_max;
	o.drain_timeout = (unsigned)drain;
	int is_stdout = strcmp(o.dest, "stdout") == 0;
	if (!snaplen)
		snaplen = cf.snaplen;
	int nsrc = !!iface + !!rfile + !!ffile;
	if (nsrc > 1) {
		d4_err("choose one source: -i, -r or -F");
		goto out;
	}
	if (!nsrc && cf.source[0] && strcmp(cf.source, "stdin") != 0) {
		d4_err("source '%s' from the config folder is not supported (stdin, or use -i/-r/-F)", cf.source);
		goto out;
	}
	if (extract && !iface && !rfile) {
		d4_err("--extract tls needs a capture: -i IFACE or -r FILE");
		goto out;
	}
	o.src.fd = 0;
	o.src.extract_tls = extract != NULL;
	o.src.bpf = bpf;
	o.src.from_start = from_start;
	if (iface) {
		o.src.kind = D4S_SRC_LIVE;
		o.src.iface = iface;
		o.src.snaplen = (unsigned)snaplen;
	} else if (rfile) {
		o.src.kind = D4S_SRC_PCAP_FILE;
		o.src.path = rfile;
	} else if (ffile) {
		o.src.kind = D4S_SRC_FOLLOW;
		o.src.path = ffile;
	} else {
		o.src.kind = D4S_SRC_STDIN;
		/* the reference client's 4096-byte reads keep stdout output identical */
		o.src.max_chunk = snaplen ? snaplen : is_stdout ? D4S_DEFAULT_SNAPLEN : 65536;
	}
	if (bpf && !iface && !rfile) {
		d4_err("-f needs -i or -r");
		goto out;
	}
	if (insecure && is_stdout)
		d4_warn("--insecure has no effect with stdout");
	code = d4_sensor_run(&o);
out:
	d4_sensor_config_free(&cf);
	return code;
}
