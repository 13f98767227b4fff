/*
 * log: messages to stderr (default) or syslog.
 *
 * log_warn() appends strerror(errno); log_warnx() does not.  fatal() and
 * fatalx() exit(1) and are for start-up errors and broken invariants only.
 */
#ifndef DOHSTUB_LOG_H
#define DOHSTUB_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Name table matching enum log_level ("error", "warn", "info", "debug"). */
extern const char *const log_level_names[];

/* ident is kept by reference and must outlive the logger. */
void	log_init(const char *ident, enum log_level level, int use_syslog);
void	log_setlevel(enum log_level level);
/*
 * On: each line to stderr is one JSON object {"ts","level","msg"} (ts in
 * UTC with milliseconds).  Syslog output does not change.
 */
void	log_set_json(int on);
enum log_level log_getlevel(void);

void	log_warn(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
