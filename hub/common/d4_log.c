#include "d4_log.h"
#include "d4_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "d4hub";
static int log_syslog;
static enum d4_log_level log_min = D4_LOG_INFO;

void d4_log_init(const char *ident, int use_syslog, enum d4_log_level min_level)
{
	log_ident = ident ? ident : "d4hub";
	log_syslog = use_syslog;
	log_min = min_level;
	if (use_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void d4_log_set_level(enum d4_log_level min_level)
{
	log_min = min_level;
}

int d4_log_enabled(enum d4_log_level level)
{
	return level <= log_min;
}

int d4_log_level_parse(const char *s, enum d4_log_level *out)
{
	static const struct {
		const char *name;
		enum d4_log_level lvl;
	} names[] = {{"err", D4_LOG_ERR},	{"error", D4_LOG_ERR}, {"warn", D4_LOG_WARN},  {"warning", D4_LOG_WARN},
		     {"notice", D4_LOG_NOTICE}, {"info", D4_LOG_INFO}, {"debug", D4_LOG_DEBUG}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].lvl;
			return D4_OK;
		}
	return D4_EINVAL;
}

static const char *level_name(enum d4_log_level l)
{
	switch (l) {
	case D4_LOG_ERR: return "error";
	case D4_LOG_WARN: return "warning";
	case D4_LOG_NOTICE: return "notice";
	case D4_LOG_INFO: return "info";
	default: return "debug";
	}
}

void d4_log(enum d4_log_level level, const char *fmt, ...)
{
	if (level > log_min)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Control characters from hostile input must not forge log lines. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
	if (log_syslog) {
		syslog((int)level, "%s", msg);
		return;
	}
	char line[1200];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: %s\n", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
			 (int)getpid(), level_name(level), msg);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (n > 0) {
		ssize_t w = write(STDERR_FILENO, line, (size_t)n);
		(void)w;
	}
}
