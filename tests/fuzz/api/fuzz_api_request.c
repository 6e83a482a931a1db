/* Fuzz target for the API request path before any handler runs: route
 * match over the real route table, query parsing, the JSON pre-check, and
 * yajl_tree_parse only when the pre-check passes (as the server does).
 * Input: "METHOD PATH?QUERY\nBODY". */
#include "api_core.h"
#include "d4_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t linelen = nl ? (size_t)(nl - data) : size;
	const uint8_t *body = nl ? nl + 1 : data + size;
	size_t body_len = size - (size_t)(body - data);

	char *line = malloc(linelen + 1);
	if (!line)
		return 0;
	memcpy(line, data, linelen);
	line[linelen] = '\0';
	/* an embedded NUL just shortens the line, as a C string would */
	char *sp = strchr(line, ' ');
	const char *method = line, *target = "";
	if (sp) {
		*sp = '\0';
		target = sp + 1;
	}
	char path[2048], scratch[4096], qscratch[4096], allow[128];
	const char *q = strchr(target, '?');
	size_t plen = q ? (size_t)(q - target) : strlen(target);
	if (plen < sizeof(path)) {
		memcpy(path, target, plen);
		path[plen] = '\0';
		struct d4_api_req req;
		int status = 0;
		memset(&req, 0, sizeof(req));
		const struct d4_api_route *rt =
		    d4_api_route_match(d4_api_routes, d4_api_nroutes, method, path, scratch, sizeof(scratch),
				       req.params, &req.nparams, &status, allow, sizeof(allow));
		if (rt) {
			if (req.nparams > D4_API_MAX_PARAMS || status != 200)
				abort();
			for (unsigned i = 0; i < req.nparams; i++)
				if (strlen(req.params[i]) == 0)
					abort();
		} else if (status != 404 && status != 405 && status != 400) {
			abort();
		}
		char decoded[2048];
		(void)d4_api_pct_decode(path, plen, decoded, sizeof(decoded), 0);
		if (q && d4_api_query_parse(q + 1, strlen(q + 1), qscratch, sizeof(qscratch), &req) == D4_OK)
			(void)d4_api_query(&req, "limit");
	}
	if (d4_api_json_precheck(body, body_len, 1u << 20, D4_API_JSON_MAX_DEPTH) == D4_OK) {
		char *text = malloc(body_len + 1);
		if (text) {
			memcpy(text, body, body_len);
			text[body_len] = '\0';
			char err[128];
			yajl_val v = yajl_tree_parse(text, err, sizeof(err));
			if (v)
				yajl_tree_free(v);
			free(text);
		}
	}
	free(line);
	return 0;
}
