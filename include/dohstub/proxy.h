/*
 * proxy: the core.  One struct query per client query, moving through
 * validation -> DoH -> (fallback) -> answer under the mode's rule:
 *
 *	encrypted-only		DoH, or SERVFAIL; never plain DNS
 *	encrypted-preferred	DoH; plain DNS to the fallback servers when
 *				DoH cannot be had, straight away while it is
 *				known to be down
 *	plaintext		plain DNS only; no TLS connection ever
 */
#ifndef DOHSTUB_PROXY_H
#define DOHSTUB_PROXY_H

#include <stdint.h>

#include <event2/event.h>

#include "dohstub/config.h"

struct proxy;

/* Counters, for logs, tests and (later) metrics. */
struct proxy_stats {
	uint64_t	queries_udp;
	uint64_t	queries_tcp;
	uint64_t	answered_doh;
	uint64_t	answered_fallback;
	uint64_t	dropped;	/* not a query */
	uint64_t	formerr;
	uint64_t	notimp;
	uint64_t	servfail;	/* every SERVFAIL we made ourselves */
	uint64_t	over_limit;	/* refused by max-pending */
	uint64_t	truncated;	/* sent with TC=1 */
	uint64_t	doh_errors;	/* DoH attempts that failed */
	uint64_t	fallback_activations;	/* DoH went down */
	uint64_t	pending;	/* now */
};

/*
 * Bind the listeners and build everything for cfg (which must outlive the
 * proxy), without opening any upstream connection yet.  NULL on failure,
 * logged.
 */
struct proxy *proxy_new(struct event_base *base, const struct config *cfg);

/* Start the upstream side (bootstrap lookups, DoH connections). */
void	proxy_start(struct proxy *px);

const struct proxy_stats *proxy_stats(const struct proxy *px);

/* Log the counters at info level. */
void	proxy_log_stats(const struct proxy *px);

/* Answer every pending query with SERVFAIL (shutdown). */
void	proxy_stop(struct proxy *px);

/* proxy_stop(), then free everything. */
void	proxy_free(struct proxy *px);

#endif
