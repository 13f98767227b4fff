/*
 * upstream: the set of DoH servers of the configuration, in the order
 * given.  Gets each one its addresses (a resolve pin, an IP URL, or a
 * bootstrap lookup through the plain-DNS bootstrap servers, repeated when
 * its TTL runs out) and picks the server for a query: the first in order
 * that is usable, i.e. not backing off after a failure.
 */
#ifndef DOHSTUB_UPSTREAM_H
#define DOHSTUB_UPSTREAM_H

#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "dohstub/config.h"
#include "dohstub/doh.h"
#include "dohstub/plain.h"

struct upstreams;

/* Called when the set goes from no usable server to some, or back. */
typedef void upstream_health_cb(int usable, void *arg);

/*
 * One doh_client per cfg->upstream.  cfg must outlive the set.  bootstrap
 * may be NULL when every upstream is an IP or pinned.  Nothing connects
 * until upstream_start().  NULL on failure.
 */
struct upstreams *upstream_new(struct event_base *base,
	    const struct config *cfg, SSL_CTX *ctx, struct plain *bootstrap,
	    upstream_health_cb *cb, void *arg);

/* Resolve what needs resolving and open every connection. */
void	upstream_start(struct upstreams *u);

size_t	upstream_count(const struct upstreams *u);
struct doh_client *upstream_get(const struct upstreams *u, size_t i);

/* Index of the first usable upstream at or after from, or -1. */
int	upstream_next(const struct upstreams *u, size_t from);

/* 1 if any upstream is usable. */
int	upstream_usable(const struct upstreams *u);

/* Frees the clients (their pending requests fail with DOH_ERR_SHUTDOWN). */
void	upstream_free(struct upstreams *u);

#endif
