/* d4hub — levelled logging to stderr or syslog. Thread-safe: each message is
 * written with a single write(2)/syslog(3) call. */
#ifndef D4_LOG_H
#define D4_LOG_H

enum d4_log_level { D4_LOG_ERR = 3, D4_LOG_WARN = 4, D4_LOG_NOTICE = 5, D4_LOG_INFO = 6, D4_LOG_DEBUG = 7 };

/* ident is kept by pointer (must outlive logging). use_syslog != 0 sends to
 * syslog(LOG_DAEMON) instead of stderr. */
void d4_log_init(const char *ident, int use_syslog, enum d4_log_level min_level);
void d4_log_set_level(enum d4_log_level min_level);
/* Parses "err|error|warn|warning|notice|info|debug"; returns 0 or D4_EINVAL. */
int d4_log_level_parse(const char *s, enum d4_log_level *out);
int d4_log_enabled(enum d4_log_level level);

void d4_log(enum d4_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define d4_err(...)    d4_log(D4_LOG_ERR, __VA_ARGS__)
#define d4_warn(...)   d4_log(D4_LOG_WARN, __VA_ARGS__)
#define d4_notice(...) d4_log(D4_LOG_NOTICE, __VA_ARGS__)
#define d4_info(...)   d4_log(D4_LOG_INFO, __VA_ARGS__)
#define d4_debug(...)                                                                                                  \
	do {                                                                                                           \
		if (d4_log_enabled(D4_LOG_DEBUG))                                                                      \
			d4_log(D4_LOG_DEBUG, __VA_ARGS__);                                                             \
	} while (0)

#endif
