/* d4hub API — the web page: "/" and "/static/{file}".
 *
 * The page is a plain client of the REST API (api/web/app.js). Its files are
 * embedded at build time; api.web_root serves them from a folder instead (for
 * work on the page). The Content-Security-Policy allows scripts and styles
 * from the hub only: no inline script can run even if some hub data were
 * ever rendered as HTML, and the page cannot be framed (clickjacking). */
#include "api_core.h"
#include "api_web.h"
#include "d4_hubconf.h"
#include "d4_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_FILE_MAX (4u << 20)

static const char *content_type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot)
		return NULL;
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	return NULL;
}

/* A file name from the URL: letters, digits, '-', '_', '.', no leading dot,
 * so it can never leave the folder or name a hidden file. */
static int name_ok(const char *name)
{
	if (!name[0] || name[0] == '.' || strlen(name) > 64)
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return 0;
	return 1;
}

static void security_headers(struct d4_api_resp *resp)
{
	d4_api_header(resp, "content-security-policy",
		      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
		      "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
	d4_api_header(resp, "x-content-type-options", "nosniff");
	d4_api_header(resp, "referrer-policy", "no-referrer");
	d4_api_header(resp, "x-frame-options", "DENY");
}

/* Serves name from web_root; 1 if served (or answered with an error), 0 if
 * the file is not there. */
static int serve_from_dir(const char *root, const char *name, const char *ctype, struct d4_api_resp *resp)
{
	char path[D4_PATH_MAX + 80];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	struct stat sb;
	char *buf = NULL;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > WEB_FILE_MAX ||
	    !(buf = malloc(sb.st_size ? (size_t)sb.st_size : 1))) {
		close(fd);
		d4_api_problem(resp, 404, "not-found", "Not Found", "no such file");
		return 1;
	}
	size_t len = (size_t)sb.st_size, got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != len) {
		free(buf);
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "reading the file failed");
		return 1;
	}
	d4_api_body(resp, 200, ctype, buf, len);
	free(buf);
	security_headers(resp);
	return 1;
}

static void serve(struct d4_api_ctx *ctx, const char *name, struct d4_api_resp *resp)
{
	const char *ctype = content_type_of(name);
	if (!name_ok(name) || !ctype) {
		d4_api_problem(resp, 404, "not-found", "Not Found", "no such file");
		return;
	}
	const char *root = ctx->conf ? ctx->conf->api_web_root : NULL;
	if (root && root[0] && serve_from_dir(root, name, ctype, resp))
		return;
	for (unsigned i = 0; i < d4_api_web_nassets; i++)
		if (!strcmp(d4_api_web_assets[i].name, name)) {
			d4_api_body(resp, 200, ctype, d4_api_web_assets[i].data, d4_api_web_assets[i].len);
			security_headers(resp);
			return;
		}
	d4_api_problem(resp, 404, "not-found", "Not Found", "no such file");
}

void d4_api_h_web_index(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)req;
	serve(ctx, "index.html", resp);
}

void d4_api_h_web_asset(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	serve(ctx, req->params[0], resp);
}
