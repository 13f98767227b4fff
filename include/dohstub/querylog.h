/*
 * querylog: one line per answered query (query-log, dohstub.conf(5)),
 * as text or JSON, to a file or stderr, without ever blocking the event
 * loop.
 *
 * Lines are formatted into a bounded ring (QUERYLOG_BUFFER bytes) and
 * written, whole lines at a time of at most PIPE_BUF bytes (so each
 * write is atomic and a line is never cut), through a non-blocking pipe
 * to a writer process: a child forked from the daemon after it dropped
 * its privileges, so it opens the file as the daemon's account, and
 * (querylog_writer_exec()) the daemon's binary exec'd afresh.  Only
 * the writer makes blocking writes.  A full buffer drops lines and
 * counts them.  The buffer goes to the pipe at least every
 * QUERYLOG_FLUSH_MS and whenever QUERYLOG_FLUSH_BYTES wait; once the
 * pipe is full, only when it has room again (or the timer fires): a
 * stuck writer costs no write per answer.  The daemon
 * keeps the pipe's read end too, so what a writer that died had not read
 * waits for the next one; a death is logged and the writer restarted
 * after a backoff.
 *
 * querylog_reopen() (SIGHUP, logrotate) starts a writer on a new pipe
 * that opens the file afresh, while the old one writes what its pipe
 * holds to the old file and exits.
 */
#ifndef DOHSTUB_QUERYLOG_H
#define DOHSTUB_QUERYLOG_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/proxy.h"

#define QUERYLOG_BUFFER		(1024 * 1024)
#define QUERYLOG_FLUSH_MS	100
#define QUERYLOG_FLUSH_BYTES	(16 * 1024)
#define QUERYLOG_LINE_MAX	4096	/* PIPE_BUF: longer ones dropped */
#define QUERYLOG_WRITER_ARG	"--query-log-writer"	/* argv[1] */

enum querylog_format {
	QUERYLOG_TEXT,
	QUERYLOG_JSON,
};

/* Counters since querylog_new(), across reopens. */
struct querylog_stats {
	uint64_t	lines;		/* formatted and buffered */
	uint64_t	dropped;	/* the buffer full, too long, or
					   left in a pipe none will read */
	uint64_t	restarts;	/* writers that died, restarted */
};

struct querylog;

/*
 * Format one line into buf (size bytes): the answer a to the query qi
 * at time when (CLOCK_REALTIME), from client (NULL: not logged).  The
 * question's name is "-" in text and null in JSON when qi's question
 * was not read (qi->qname_len 0).  Pure: no I/O, no allocation.
 * Returns the line's length, its '\n' included (buf is NUL-terminated
 * after it), or 0 if it does not fit.
 */
size_t	querylog_format(char *buf, size_t size, enum querylog_format fmt,
	    const struct timespec *when, const struct dns_query_info *qi,
	    const struct proxy_answer *a, const struct sockaddr *client);

/*
 * A query log on base, off until querylog_reopen() turns it on.  NULL
 * on failure (logged).
 */
struct querylog *querylog_new(struct event_base *base);

/*
 * Take cfg's query-log settings (copied: cfg need not outlive the
 * call) and reopen: a new writer opens the file afresh, the old one
 * drains its pipe and exits; query-log off stops writing (the old
 * writer drains).  Called after the privilege drop, at start-up and on
 * every SIGHUP.  Returns 0, or -1 (logged) if no writer could be
 * started now (one is tried again later).
 */
int	querylog_reopen(struct querylog *ql, const struct config *cfg);

/*
 * Writers from now on exec exe (the daemon's own, /proc/self/exe) with
 * argv { "dohstub-qlog", QUERYLOG_WRITER_ARG, path }, the pipe on its
 * standard input: its main() must call querylog_writer_main(path)
 * first thing.  The forked copy of the daemon then lives only until
 * the exec, and keeps none of its memory (TLS keys among it).  If the
 * exec fails, the fork writes as it does without exe (NULL, the
 * default).  0, or -1 (logged).
 */
int	querylog_writer_exec(struct querylog *ql, const char *exe);

/*
 * The writer exec'd by querylog_writer_exec(): copies its standard
 * input to path (or stderr, for "stderr") until it closes, and exits.
 */
void	querylog_writer_main(const char *path) __attribute__((noreturn));

/* 1 while query-log is not off. */
int	querylog_enabled(const struct querylog *ql);

/*
 * Log the answer: a proxy_answer_cb's arguments (proxy.h).  Never
 * blocks; a no-op while the log is off.
 */
void	querylog_write(struct querylog *ql, const struct sockaddr *client,
	    const struct dns_query_info *qi, const struct proxy_answer *a);

const struct querylog_stats *querylog_stats(const struct querylog *ql);

/*
 * Hand what is buffered to the writer (waiting at most a quarter of a
 * second for room in the pipe), close the pipe and free ql; the writers
 * finish on their own.  NULL is a no-op.
 */
void	querylog_free(struct querylog *ql);

#endif
