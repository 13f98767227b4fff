/*
 * upstream: the set of DoH servers of the configuration, in the order
 * given.  Gets each one its addresses (an IP URL, a resolve pin, or a
 * bootstrap lookup through the plain-DNS bootstrap servers, repeated when
 * its TTL runs out, but not before cfg->bootstrap_min_ttl_ms) and picks
 * the server for a query: the first in order that is usable, i.e. not
 * backing off after a failure.  The daemon and dohq both reach their
 * servers through it.
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
};

/*
 * One doh_client per cfg->upstream.  cfg must outlive the set.  bootstrap
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
 * The network changed: every client's connection is PINGed now and
 * replaced if silent (doh_suspect()), and the upstreams whose addresses
 * come from a bootstrap lookup are looked up again (at most once a
 * second each, one lookup at a time).  A no-op before upstream_start().
 */
void	upstream_network_changed(struct upstreams *u);

/* Frees the clients (their pending requests fail with DOH_ERR_SHUTDOWN). */
void	upstream_free(struct upstreams *u);

#endif
