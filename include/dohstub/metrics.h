/*
 * metrics: the sidecar's HTTP endpoint (libevent evhttp) on the
 * `metrics` address:
 *
 *	/health		200 "ok" while the proxy answers as its mode intends,
 *			503 with the reason otherwise (proxy_unhealthy())
 *	/metrics	the counters in Prometheus text format 0.0.4
 *
 * It only reads the proxy; it never changes what the proxy does.
 */
#ifndef DOHSTUB_METRICS_H
#define DOHSTUB_METRICS_H

#include <event2/event.h>

#include "dohstub/config.h"
#include "dohstub/proxy.h"

struct evbuffer;
struct metrics;

/*
 * Listen on addr and serve px (which must outlive the endpoint, or be
 * swapped with metrics_set_proxy()).  NULL on failure, logged.
 */
struct metrics *metrics_new(struct event_base *base,
	    const struct addr *addr, struct proxy *px);

void	metrics_set_proxy(struct metrics *m, struct proxy *px);

/* The query log whose counters /metrics adds (NULL: none); it must
 * outlive m or be unset first. */
struct querylog;
void	metrics_set_querylog(struct metrics *m, const struct querylog *ql);

/* Append px's /metrics body to b (for the endpoint, and for tests). */
void	metrics_render(struct evbuffer *b, const struct proxy *px);

/*
 * Append /health's detail to b: a line for each upstream (state, srtt,
 * counters, last error) and for each address server (how it was
 * upgraded); for the endpoint and the control socket's status.
 */
void	metrics_health_details(struct evbuffer *b, const struct proxy *px);

void	metrics_free(struct metrics *m);

#endif
