/*
 * control: the local control socket (control-socket), for
 * dohstub-control(8).  An AF_UNIX stream socket, never a network port,
 * mode 0660 and owned by the account the daemon runs as; a connection
 * whose peer (SO_PEERCRED) is neither root nor the daemon's effective
 * uid (unless control_root_only()) gets "error: permission denied" and
 * is closed.
 *
 * One request a connection: one line of at most CONTROL_MAX_LINE bytes
 * ending in a newline, read within CONTROL_TIMEOUT_S seconds:
 *
 *	[--json] VERB [ARGS...]
 *
 *	status			mode, health, upstreams, address servers,
 *				cache, portal lease
 *	stats			every counter, "name value"
 *	flush [NAME [TYPE]]	drop cache entries: all, a name's, a name
 *				and type's
 *	reload			read the configuration again (SIGHUP)
 *	lookup NAME [TYPE]	a real query (TYPE A by default) and where
 *				its answer came from
 *	captive-portal		open a portal lease (proxy_portal_open())
 *	help			the verbs
 *
 * The answer is text lines, or with --json one JSON object; then the
 * connection closes.  An error is one line "error: REASON", or
 * {"error": "REASON"}.  At most CONTROL_MAX_CONN connections are open;
 * one more is told "error: too many connections" and closed.
 */
#ifndef DOHSTUB_CONTROL_H
#define DOHSTUB_CONTROL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/proxy.h"
#include "dohstub/querylog.h"

#define CONTROL_MAX_LINE	1024	/* bytes of a request, newline out */
#define CONTROL_MAX_CONN	8
#define CONTROL_TIMEOUT_S	5	/* to read a request; for a lookup */
#define CONTROL_DEFAULT_SOCKET	"/run/dohstub/control"

enum control_verb {
	CONTROL_STATUS,
	CONTROL_STATS,
	CONTROL_FLUSH,
	CONTROL_RELOAD,
	CONTROL_LOOKUP,
	CONTROL_PORTAL,
	CONTROL_HELP,
	CONTROL_VERB_MAX
};
extern const char *const control_verb_names[CONTROL_VERB_MAX];

/* A request as control_parse() reads it. */
struct control_req {
	enum control_verb verb;
	int		 json;		/* --json */
	uint8_t		 name[DNS_MAX_NAME];	/* wire form */
	size_t		 name_len;	/* 0: no name */
	int		 qtype;		/* -1: none (flush: every type);
					   lookup: A unless given */
};

/*
 * Parse one request: line is len bytes (no NUL needed), without its
 * newline; a final carriage return is allowed.  Words are separated by
 * spaces or tabs.  Names are read as dnsmsg_name_from_text() reads
 * them, types by mnemonic or as TYPEnnn.  Pure: no I/O, no allocation.
 * Returns 0 with *req filled, or -1 with *why (static text).
 */
int	control_parse(const char *line, size_t len, struct control_req *req,
	    const char **why);

/*
 * The formatting, pure but for fp (any stdio stream): the answer to a
 * verb for px, as text or JSON (json).  Each writes the whole body.
 * stats adds the query log's counters qs (NULL: none) last.
 */
void	control_write_error(FILE *fp, int json, const char *why);
void	control_write_help(FILE *fp, int json);
void	control_write_status(FILE *fp, int json, const struct proxy *px);
void	control_write_stats(FILE *fp, int json, const struct proxy *px,
	    const struct querylog_stats *qs);

/* What a lookup learnt of its answer (the observer's proxy_answer). */
struct control_lookup_info {
	enum proxy_source source;
	char		*upstream;	/* owned; NULL: none */
	char		*zone;		/* owned; NULL: none */
	int		 ede;		/* -1: none */
	int		 rcode;
	enum proxy_dnssec dnssec;
	uint64_t	 elapsed_us;
};

/*
 * The answer to a lookup of req: msg (len bytes, the answer as sent),
 * and where it came from.
 */
void	control_write_lookup(FILE *fp, const struct control_req *req,
	    const uint8_t *msg, size_t len,
	    const struct control_lookup_info *info);

/*
 * The daemon's reload (the SIGHUP path): 0, or -1 with the reason (the
 * configuration error: file:line: key: reason) in err, errlen bytes.
 */
typedef int control_reload_cb(char *err, size_t errlen, void *arg);

struct control;

/*
 * Listen on path (replacing a stale socket there, nothing else), made
 * mode 0660 and, unless uid is (uid_t)-1, owned by uid:gid (the account
 * the daemon drops to; chown needs root, so call this before the
 * drop).  px must outlive the server; reload(arg) serves "reload".
 * NULL on failure, logged.
 */
struct control *control_new(struct event_base *base, const char *path,
	    uid_t uid, gid_t gid, struct proxy *px, control_reload_cb *reload,
	    void *arg);

/*
 * Only root may connect from now on, not the daemon's own uid: it runs
 * as an account other daemons share (nobody).
 */
void	control_root_only(struct control *ctl);

/*
 * The query log whose counters stats gives (NULL: none); ql must
 * outlive ctl.
 */
void	control_set_querylog(struct control *ctl, const struct querylog *ql);

/*
 * The proxy's observer (proxy_on_answer()), or to be called from the
 * daemon's: takes note of answers to the control socket's lookups,
 * ignores every other.  arg is unused: a lookup knows its own.
 */
void	control_on_answer(const struct listen_peer *peer,
	    const struct dns_query_info *qi, const uint8_t *msg, size_t len,
	    const struct proxy_answer *a, void *arg);

/*
 * Close the socket (and remove it, where we may) and every connection.
 * A lookup still in the proxy is forgotten by its connection and freed
 * when the proxy releases it.
 */
void	control_free(struct control *ctl);

#endif
