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

#endif
