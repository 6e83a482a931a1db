/* d4hub API — the web page's static files, embedded at build time
 * (api/web/embed.cmake). Private to api/. */
#ifndef D4_API_WEB_H
#define D4_API_WEB_H

#include <stddef.h>

struct d4_api_web_asset {
	const char *name; /* file name, e.g. "app.js" */
	const unsigned char *data;
	size_t len;
};

extern const struct d4_api_web_asset d4_api_web_assets[];
extern const unsigned d4_api_web_nassets;

/* openapi/d4hub.yaml as built, served at /openapi.yaml unless api.spec names
 * a file; NUL-terminated (the NUL is not counted in the length). */
extern const unsigned char d4_api_spec_yaml[];
extern const size_t d4_api_spec_yaml_len;

#endif
