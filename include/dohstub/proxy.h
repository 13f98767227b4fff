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

#include "dohstub/cache.h"
#include "dohstub/config.h"
#include "dohstub/doh.h"
#include "dohstub/upstream.h"

struct proxy;

/* Upper bounds (ms) of the upstream latency histogram; +Inf follows. */
#define PROXY_LATENCY_BUCKETS	12
extern const unsigned proxy_latency_bounds[PROXY_LATENCY_BUCKETS];

/* Counters, for logs, tests and metrics. */
struct proxy_stats {
	uint64_t	queries_udp;
	uint64_t	queries_tcp;
	uint64_t	answered_doh;
	uint64_t	answered_fallback;
	uint64_t	answered_local;	/* from a local zone (local.h) */
	uint64_t	answered_forward_doh;	/* a DoH forward rule's */
	uint64_t	answered_forward_plain;	/* a plain forward rule's */
	uint64_t	cache_hits;	/* answered from the cache */
	uint64_t	cache_misses;	/* looked up, not there */
	uint64_t	stale_answers;	/* expired entries served (RFC 8767) */
	uint64_t	prefetches;	/* background refreshes started */
	uint64_t	coalesced;	/* queries that waited on another's
					   upstream request */
	uint64_t	dropped;	/* not a query */
	uint64_t	formerr;
	uint64_t	notimp;
	uint64_t	policy;		/* refused by query policy (local.h) */
	uint64_t	refused_acl;	/* refused by allow/deny */
	uint64_t	servfail;	/* every SERVFAIL we made ourselves */
	uint64_t	over_limit;	/* refused by max-pending */
	/* Fairness and the rate limit (ratelimit.h). */
	uint64_t	over_client_limit; /* by max-pending-per-client */
	uint64_t	ratelimit_tc;	/* over ratelimit: TC=1, no records */
	uint64_t	ratelimit_drop;	/* over ratelimit: dropped */
	uint64_t	ratelimit_entries;	/* now: sources in its table */
	uint64_t	ratelimit_evictions;	/* entries reused when full */
	uint64_t	pending_sources; /* now: sources with queries pending */
	uint64_t	truncated;	/* sent with TC=1 */
	uint64_t	doh_errors;	/* DoH attempts that failed */
	uint64_t	fallback_activations;	/* DoH went down */
	uint64_t	hedges;		/* queries also sent to a second
					   upstream past the hedge delay */
	uint64_t	hedge_wins;	/* ... answered by the second first */
	uint64_t	hedges_denied;	/* due, but over the hedge budget */
	uint64_t	network_changes;	/* proxy_network_changed() */
	uint64_t	pending;	/* now */
	uint64_t	rcodes[16];	/* of every answer sent to a client */
	/* Extended DNS Errors dohstub added to answers, by INFO-CODE
	 * (those from the cache's serve-stale excepted). */
	uint64_t	ede[DNS_EDE_MAX];
	/* DoH attempts that failed, by doh_result; [DOH_OK] counts answers
	 * that came back but did not match the query. */
	uint64_t	doh_error_kinds[DOH_RESULT_MAX];
	/* DoH answers by time from submit to answer: a cumulative-free
	 * histogram, bucket i counts latencies <= proxy_latency_bounds[i]
	 * and above the bound before; the last bucket is the rest. */
	uint64_t	latency_buckets[PROXY_LATENCY_BUCKETS + 1];
	uint64_t	latency_sum_ms;
};

/* What /health and /metrics say of one upstream. */
struct proxy_upstream_info {
	const char	*url;
	const char	*zone;		/* a forward rule's; NULL: default */
	const char	*state;		/* doh_state_names[] */
	const char	*last_error;	/* "" if none */
	size_t		 pending;	/* requests waiting or in flight */
	struct upstream_info more;	/* srtt, answers, hedges, ... */
};

/*
 * Bind the listeners and build everything for cfg (which must outlive the
 * proxy), without opening any upstream connection yet.  NULL on failure,
 * logged.
 */
struct proxy *proxy_new(struct event_base *base, const struct config *cfg);

/* Start the upstream side (bootstrap lookups, DoH connections). */
void	proxy_start(struct proxy *px);

/*
 * Switch to cfg (SIGHUP): new upstreams, mode and limits; listeners kept
 * where their address did not change.  Queries in flight finish under the
 * configuration they started with.  On success the proxy owns cfg (a
 * config_free()able heap object) and frees it when it is replaced and
 * unused; on failure (logged) nothing changed and the caller keeps cfg.
 */
int	proxy_reload(struct proxy *px, struct config *cfg);

/*
 * 1 once the upstream side has settled for start-up: plaintext, an
 * upstream connected, or every upstream backing off (given up waiting).
 */
int	proxy_settled(const struct proxy *px);

/*
 * cb(arg) is called once, from the event loop, when proxy_settled()
 * first holds after proxy_start() (or a reload): the daemon's READY=1,
 * without polling.  Set it before proxy_start(); cb NULL: not told.
 * Returns 0, or -1 (logged nowhere) if the event cannot be made.
 */
typedef void proxy_settled_cb(void *arg);
int	proxy_on_settled(struct proxy *px, proxy_settled_cb *cb, void *arg);

const struct proxy_stats *proxy_stats(const struct proxy *px);

/*
 * Upstreams: the default ones (none in plaintext mode), then each DoH
 * forward rule's; and what is known of upstream i.
 */
size_t	proxy_upstream_count(const struct proxy *px);
void	proxy_upstream_info(const struct proxy *px, size_t i,
	    struct proxy_upstream_info *info);

/* Open TCP client connections. */
size_t	proxy_tcp_clients(const struct proxy *px);

/* The cache's own counters, or NULL with cache-size 0. */
const struct cache_stats *proxy_cache_stats(const struct proxy *px);

/*
 * NULL if the proxy can answer as its mode intends; otherwise why not
 * (an encrypted mode with no upstream connected).  For /health.
 */
const char *proxy_unhealthy(const struct proxy *px);

/*
 * The network changed (netwatch): check every upstream connection now and
 * repeat the bootstrap lookups (upstream_network_changed()).
 */
void	proxy_network_changed(struct proxy *px);

/* Log the counters at info level. */
void	proxy_log_stats(const struct proxy *px);

/* Answer every pending query with SERVFAIL (shutdown). */
void	proxy_stop(struct proxy *px);

/* proxy_stop(), then free everything. */
void	proxy_free(struct proxy *px);

#endif
