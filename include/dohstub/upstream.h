/*
 * upstream: the set of DoH servers of the configuration, in the order
 * given.  Gets each one its addresses (an IP URL, a resolve pin, or a
 * bootstrap lookup through the plain-DNS bootstrap servers, repeated when
 * its TTL runs out, but not before cfg->bootstrap_min_ttl_ms) and picks
 * the server for a query among the usable ones (not backing off after a
 * failure) by cfg->upstream_policy, and when to hedge it.  The daemon
 * and dohq both reach their servers through it.
 */
#ifndef DOHSTUB_UPSTREAM_H
#define DOHSTUB_UPSTREAM_H

#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/doh.h"
#include "dohstub/plain.h"

struct upstreams;

/* Called when the set goes from no usable server to some, or back. */
typedef void upstream_health_cb(int usable, void *arg);

/* Where an upstream's addresses came from. */
enum upstream_source {
	UPSTREAM_SRC_IP,	/* the URL's host is an IP address */
	UPSTREAM_SRC_PIN,	/* a resolve pin */
	UPSTREAM_SRC_BOOTSTRAP,	/* a lookup through the bootstrap servers */
	UPSTREAM_SRC_DISCOVERED,	/* config_upstream.pins: a known or
					   DDR endpoint (discovery.h) */
};
extern const char *const upstream_source_names[];	/* "ip", ... */

/*
 * Upstream i got addresses from src: addrs[0..n) (valid during the call
 * only) are those about to go to its client, after the family filter.
 * n is 0 when there are none: the lookup failed or found none of the
 * family (the client then backs off, and a lookup is retried).  Called
 * from inside upstream_start() for IPs and pins, from the event loop for
 * lookups; it must not free the set.
 */
typedef void upstream_addrs_cb(size_t i, enum upstream_source src,
	    const struct addr *addrs, size_t n, void *arg);

/* What the daemon leaves at zero; dohq sets some. */
struct upstream_opts {
	int			 family;	/* AF_INET or AF_INET6 only;
						   AF_UNSPEC (0): both */
	int			 keep_headers;	/* doh_params.keep_headers */
	upstream_addrs_cb	*addrs_cb;	/* NULL: not told */
	void			*addrs_arg;
	/* The servers of the set (a forward rule's), nlist of them, which
	 * must outlive it; NULL: cfg->upstream. */
	const struct config_upstream *list;
	size_t			 nlist;
};

/*
 * One doh_client per cfg->upstream (or opts->list).  cfg must outlive
 * the set; its resolve pins, method, timeouts apply to every list.  bootstrap
 * may be NULL when every upstream is an IP or pinned.  Nothing connects
 * until upstream_start().  NULL on failure.
 */
struct upstreams *upstream_new(struct event_base *base,
	    const struct config *cfg, SSL_CTX *ctx, struct plain *bootstrap,
	    upstream_health_cb *cb, void *arg);

/* The same with opts (copied; NULL: all zero). */
struct upstreams *upstream_new_opts(struct event_base *base,
	    const struct config *cfg, SSL_CTX *ctx, struct plain *bootstrap,
	    const struct upstream_opts *opts, upstream_health_cb *cb,
	    void *arg);

/*
 * Give every upstream its addresses (reported through opts->addrs_cb),
 * start the lookups that are needed and open every connection.  Set a
 * client's callbacks (doh_set_connected_cb) before this.
 */
void	upstream_start(struct upstreams *u);

size_t	upstream_count(const struct upstreams *u);
/* The client of upstream i (owned by the set), or NULL past the end. */
struct doh_client *upstream_get(const struct upstreams *u, size_t i);

/* Index of the first usable upstream at or after from, or -1. */
int	upstream_next(const struct upstreams *u, size_t from);

/* 1 if any upstream is usable. */
int	upstream_usable(const struct upstreams *u);

/*
 * The upstream a query goes to, by cfg->upstream_policy, among the usable
 * ones whose bit (1 << index) is not set in tried; -1 if none is left.
 * ordered: the first in order; round-robin: each in turn; fastest: the
 * lowest smoothed answer time (doh_stats.srtt_ms), one never measured
 * first, with a timeout's penalty per failure in a row.
 */
int	upstream_pick(struct upstreams *u, uint32_t tried);

/*
 * fastest: send a copy of msg (its answer is only measured) to one usable
 * upstream other than best that has been sent nothing for a second, so
 * the estimates of the others stay current.  Otherwise nothing.
 */
void	upstream_explore(struct upstreams *u, int best, const uint8_t *msg,
	    size_t len);

/* A request to upstream i ended: answered (ok) or failed. */
void	upstream_result(struct upstreams *u, size_t i, int ok);

/*
 * How long a query sent to upstream i waits before it is also sent to
 * the next-best (hedge-delay: fixed, or max(3 x srtt, 10 ms) at most
 * half the timeout); 0: never (hedge-delay 0, or one upstream).
 */
unsigned upstream_hedge_delay(const struct upstreams *u, size_t i);

/* A hedge went to upstream i (won 0), or its answer came first (won 1). */
void	upstream_hedged(struct upstreams *u, size_t i, int won);

/* What is known of upstream i, for metrics and /health. */
struct upstream_info {
	struct doh_stats	doh;
	uint64_t		hedges;		/* hedged requests it got */
	uint64_t		hedge_wins;	/* ... that answered first */
	uint64_t		copies;		/* fastest's measuring copies */
	unsigned		fail_streak;
};
void	upstream_info(const struct upstreams *u, size_t i,
	    struct upstream_info *info);

/*
 * The network changed: every client's connection is PINGed now and
 * replaced if silent (doh_suspect()), and the upstreams whose addresses
 * come from a bootstrap lookup are looked up again (at most once a
 * second each, one lookup at a time).  A no-op before upstream_start().
 */
void	upstream_network_changed(struct upstreams *u);

/* Frees the clients (their pending requests fail with DOH_ERR_SHUTDOWN). */
void	upstream_free(struct upstreams *u);

#endif
