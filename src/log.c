#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "dohstub/log.h"

const char *const log_level_names[] = {
	"error", "warn", "info", "debug",
};

static const char *log_ident = "dohstub";
static enum log_level log_level = LOG_LEVEL_INFO;
static int log_syslog;
static int log_json;

void
log_init(const char *ident, enum log_level level, int use_syslog)
{
	log_ident = ident;
	log_level = level;
	if (use_syslog && !log_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!use_syslog && log_syslog)
		closelog();
	log_syslog = use_syslog;
}

void
log_setlevel(enum log_level level)
{
	log_level = level;
}

enum log_level
log_getlevel(void)
{
	return log_level;
}

void
log_set_json(int on)
{
	log_json = on;
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0.  A log collector
 * rejects a whole line over one bad byte, so bad bytes are replaced.
 */
static size_t
log_utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		/* The NUL at the end stops us: it is no continuation byte. */
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/* msg as the contents of a JSON string into out (room for 6 per byte). */
static void
log_json_escape(const char *msg, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)msg;
	size_t o = 0, n;

	while (*p != '\0' && o + 7 < size) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p++;
		} else if (*p < 0x20) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x",
			    *p++);
		} else if (*p < 0x80)
			out[o++] = (char)*p++;
		else if ((n = log_utf8_len(p)) > 0) {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		} else {
			o += (size_t)snprintf(out + o, size - o, "\\ufffd");
			p++;
		}
	}
	out[o] = '\0';
}

/* One JSON object per line, so that a collector needs no parser rules. */
static void
log_json_line(enum log_level level, const char *msg)
{
	char esc[1024 * 6 + 1], ts[sizeof("2026-11-22T21:00:00")];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	log_json_escape(msg, esc, sizeof(esc));
	fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\","
	    "\"msg\":\"%s\"}\n", ts, now.tv_nsec / 1000000L,
	    log_level_names[level], esc);
}

static void __attribute__((format(printf, 2, 0)))
log_vlog(enum log_level level, const char *fmt, va_list ap, int with_errno)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024];
	int saved = errno;
	size_t n;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	if (log_syslog)
		syslog(prio[level], "%s", msg);
	else if (log_json)
		log_json_line(level, msg);
	else
		fprintf(stderr, "%s[%s]: %s\n", log_ident,
		    log_level_names[level], msg);
	errno = saved;
}

#define LOG_FN(name, level, with_errno)					\
void									\
name(const char *fmt, ...)						\
{									\
	va_list ap;							\
									\
	va_start(ap, fmt);						\
	log_vlog(level, fmt, ap, with_errno);				\
	va_end(ap);							\
}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_ERROR, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_ERROR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
