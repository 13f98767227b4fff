/*
 * metrics: /health and /metrics over libevent's evhttp.  Every response
 * is built from the proxy's counters at the moment of the request; the
 * endpoint keeps no state of its own, so it cannot disagree with the logs.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "dohstub/addr.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/listen.h"
#include "dohstub/log.h"
#include "dohstub/metrics.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* A scraper or a probe sends a few short headers and no body. */
#define METRICS_MAX_HEADERS	8192
#define METRICS_MAX_BODY	1024
#define METRICS_TIMEOUT_S	10

#define METRICS_PROM_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_TEXT_TYPE	"text/plain; charset=utf-8"

struct metrics {
	struct evhttp	*http;
	struct proxy	*px;
};

/* The metric's name and type, once per family as the format wants. */
static void
metrics_family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A label value, escaped as text format 0.0.4 says: \\, \" and \n. */
static void
metrics_label(struct evbuffer *b, const char *v)
{
	const char *p;

	for (p = v; *p != '\0'; p++) {
		if (*p == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*p == '"')
			evbuffer_add(b, "\\\"", 2);
		else if (*p == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, p, 1);
	}
}

static void
metrics_u64(struct evbuffer *b, const char *name, const char *label,
    const char *value, uint64_t v)
{
	if (label == NULL)
		evbuffer_add_printf(b, "%s ", name);
	else {
		evbuffer_add_printf(b, "%s{%s=\"", name, label);
		metrics_label(b, value);
		evbuffer_add(b, "\"} ", 3);
	}
	evbuffer_add_printf(b, "%llu\n", (unsigned long long)v);
}

static void
metrics_histogram(struct evbuffer *b, const struct proxy_stats *s)
{
	static const char name[] = "dohstub_upstream_latency_seconds";
	uint64_t n = 0;
	size_t i;

	metrics_family(b, name, "histogram",
	    "Time from sending a query over DoH to its answer.");
	for (i = 0; i < PROXY_LATENCY_BUCKETS; i++) {
		n += s->latency_buckets[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		    proxy_latency_bounds[i] / 1000.0, (unsigned long long)n);
	}
	n += s->latency_buckets[PROXY_LATENCY_BUCKETS];
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)n);
	evbuffer_add_printf(b, "%s_sum %llu.%03u\n", name,
	    (unsigned long long)(s->latency_sum_ms / 1000),
	    (unsigned)(s->latency_sum_ms % 1000));
	evbuffer_add_printf(b, "%s_count %llu\n", name, (unsigned long long)n);
}

/*
 * An upstream's sample name and labels: its URL and, for a forward
 * rule's, its zone too (the same URL may serve both).
 */
static void
metrics_upstream_labels(struct evbuffer *b, const char *name,
    const struct proxy_upstream_info *info)
{
	evbuffer_add_printf(b, "%s{url=\"", name);
	metrics_label(b, info->url);
	if (info->zone != NULL) {
		evbuffer_add_printf(b, "\",zone=\"");
		metrics_label(b, info->zone);
	}
	evbuffer_add(b, "\"} ", 3);
}

static void
metrics_upstream_u64(struct evbuffer *b, const char *name,
    const struct proxy_upstream_info *info, uint64_t v)
{
	metrics_upstream_labels(b, name, info);
	evbuffer_add_printf(b, "%llu\n", (unsigned long long)v);
}

enum upstream_value {
	UI_ANSWERS, UI_ERRORS, UI_HEDGES, UI_HEDGE_WINS, UI_DEAD,
};

static uint64_t
upstream_value(const struct proxy_upstream_info *info, enum upstream_value v)
{
	switch (v) {
	case UI_ANSWERS:
		return info->more.doh.answers;
	case UI_ERRORS:
		return info->more.doh.errors;
	case UI_HEDGES:
		return info->more.hedges;
	case UI_HEDGE_WINS:
		return info->more.hedge_wins;
	case UI_DEAD:
		return info->more.doh.dead;
	}
	return 0;
}

/* A counter family with one value per upstream. */
static void
metrics_per_upstream(struct evbuffer *b, const struct proxy *px,
    const char *name, const char *help, enum upstream_value v)
{
	struct proxy_upstream_info info;
	size_t i;

	metrics_family(b, name, "counter", help);
	for (i = 0; i < proxy_upstream_count(px); i++) {
		proxy_upstream_info(px, i, &info);
		metrics_upstream_u64(b, name, &info, upstream_value(&info, v));
	}
}

static void
metrics_upstreams(struct evbuffer *b, const struct proxy *px)
{
	struct proxy_upstream_info info;
	size_t i, n = proxy_upstream_count(px);

	metrics_family(b, "dohstub_upstream_up", "gauge",
	    "1 while the DoH upstream has a working HTTP/2 connection.");
	for (i = 0; i < n; i++) {
		proxy_upstream_info(px, i, &info);
		metrics_upstream_u64(b, "dohstub_upstream_up", &info,
		    strcmp(info.state, "ready") == 0);
	}
	metrics_family(b, "dohstub_upstream_pending", "gauge",
	    "DoH requests waiting for or in flight on the upstream.");
	for (i = 0; i < n; i++) {
		proxy_upstream_info(px, i, &info);
		metrics_upstream_u64(b, "dohstub_upstream_pending", &info,
		    info.pending);
	}
	metrics_family(b, "dohstub_upstream_srtt_seconds", "gauge",
	    "Smoothed time from a request to its answer's first byte "
	    "(upstream-policy fastest ranks by it).");
	for (i = 0; i < n; i++) {
		proxy_upstream_info(px, i, &info);
		if (!info.more.doh.has_srtt)
			continue;
		metrics_upstream_labels(b, "dohstub_upstream_srtt_seconds",
		    &info);
		evbuffer_add_printf(b, "%u.%03u\n",
		    info.more.doh.srtt_ms / 1000, info.more.doh.srtt_ms % 1000);
	}
	metrics_per_upstream(b, px, "dohstub_upstream_answers_total",
	    "DoH requests the upstream answered.", UI_ANSWERS);
	metrics_per_upstream(b, px, "dohstub_upstream_request_errors_total",
	    "DoH requests to the upstream that failed.", UI_ERRORS);
	metrics_per_upstream(b, px, "dohstub_upstream_hedges_total",
	    "Hedged requests sent to the upstream.", UI_HEDGES);
	metrics_per_upstream(b, px, "dohstub_upstream_hedge_wins_total",
	    "Hedged requests the upstream answered first.", UI_HEDGE_WINS);
	metrics_per_upstream(b, px, "dohstub_upstream_dead_connections_total",
	    "Connections to the upstream found dead (no answer to PING).",
	    UI_DEAD);
}

/* A family with one unlabelled value. */
static void
metrics_one(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_family(b, name, type, help);
	metrics_u64(b, name, NULL, NULL, v);
}

/* Hits and misses always (0 without a cache); the rest with one. */
static void
metrics_cache(struct evbuffer *b, const struct proxy *px)
{
	const struct proxy_stats *s = proxy_stats(px);
	const struct cache_stats *c = proxy_cache_stats(px);

	metrics_family(b, "dohstub_cache_lookups_total", "counter",
	    "Cache lookups, by result.");
	metrics_u64(b, "dohstub_cache_lookups_total", "result", "hit",
	    s->cache_hits);
	metrics_u64(b, "dohstub_cache_lookups_total", "result", "miss",
	    s->cache_misses);
	metrics_one(b, "dohstub_cache_stale_answers_total", "counter",
	    "Expired cache entries served (serve-stale, RFC 8767).",
	    s->stale_answers);
	metrics_one(b, "dohstub_cache_prefetches_total", "counter",
	    "Background refreshes of cache entries about to expire.",
	    s->prefetches);
	metrics_one(b, "dohstub_coalesced_total", "counter",
	    "Queries that waited on an identical query's upstream request.",
	    s->coalesced);
	if (c == NULL)
		return;
	metrics_one(b, "dohstub_cache_evictions_total", "counter",
	    "Cache entries evicted to make room.",
	    c->evicted);
	metrics_one(b, "dohstub_cache_entries", "gauge",
	    "Answers in the cache.",
	    c->entries);
	metrics_one(b, "dohstub_cache_bytes", "gauge",
	    "Bytes the cache holds, its overhead included.",
	    c->bytes);
	metrics_one(b, "dohstub_cache_max_bytes", "gauge",
	    "The cache's bound (cache-size).",
	    c->max_bytes);
}

static void
metrics_render(struct evbuffer *b, const struct proxy *px)
{
	const struct proxy_stats *s = proxy_stats(px);
	const char *kind, *rc;
	char num[8];
	size_t i;

	metrics_family(b, "dohstub_queries_total", "counter",
	    "Client queries received, by transport.");
	metrics_u64(b, "dohstub_queries_total", "transport", "udp",
	    s->queries_udp);
	metrics_u64(b, "dohstub_queries_total", "transport", "tcp",
	    s->queries_tcp);

	/* local: the errors dohstub makes itself rather than relays. */
	metrics_family(b, "dohstub_answers_total", "counter",
	    "Answers sent to clients, by where they came from.");
	metrics_u64(b, "dohstub_answers_total", "path", "doh",
	    s->answered_doh);
	metrics_u64(b, "dohstub_answers_total", "path", "fallback",
	    s->answered_fallback);
	metrics_u64(b, "dohstub_answers_total", "path", "cache",
	    s->cache_hits);
	metrics_u64(b, "dohstub_answers_total", "path", "local",
	    s->servfail + s->formerr + s->notimp + s->policy);
	metrics_u64(b, "dohstub_answers_total", "path", "local_zone",
	    s->answered_local);
	metrics_u64(b, "dohstub_answers_total", "path", "forward_doh",
	    s->answered_forward_doh);
	metrics_u64(b, "dohstub_answers_total", "path", "forward_plain",
	    s->answered_forward_plain);

	metrics_family(b, "dohstub_responses_total", "counter",
	    "Answers sent to clients, by response code.");
	for (i = 0; i < nitems(s->rcodes); i++) {
		/* The mnemonic where there is one, else the number. */
		if ((rc = dnsmsg_rcode_name((unsigned)i)) != NULL)
			metrics_u64(b, "dohstub_responses_total", "rcode", rc,
			    s->rcodes[i]);
		else {
			snprintf(num, sizeof(num), "%zu", i);
			metrics_u64(b, "dohstub_responses_total", "rcode", num,
			    s->rcodes[i]);
		}
	}

	/* The codes dohstub sets always, any other once it was seen. */
	metrics_family(b, "dohstub_ede_total", "counter",
	    "Extended DNS Errors (RFC 8914) added to answers, by code.");
	for (i = 0; i < nitems(s->ede); i++) {
		if (s->ede[i] == 0 && i != DNS_EDE_OTHER &&
		    i != DNS_EDE_NOT_READY && i != DNS_EDE_NO_REACHABLE)
			continue;
		snprintf(num, sizeof(num), "%zu", i);
		metrics_u64(b, "dohstub_ede_total", "code", num, s->ede[i]);
	}

	metrics_cache(b, px);

	metrics_one(b, "dohstub_dropped_total", "counter",
	    "Messages ignored because they were not queries.",
	    s->dropped);
	metrics_one(b, "dohstub_refused_acl_total", "counter",
	    "Queries refused by access control (allow, deny).",
	    s->refused_acl);
	metrics_one(b, "dohstub_over_limit_total", "counter",
	    "Queries refused with SERVFAIL because max-pending was reached.",
	    s->over_limit);
	metrics_one(b, "dohstub_truncated_total", "counter",
	    "UDP answers cut to fit and sent with TC=1.",
	    s->truncated);
	metrics_one(b, "dohstub_over_client_limit_total", "counter",
	    "Queries refused with SERVFAIL because their client had "
	    "max-pending-per-client in flight.",
	    s->over_client_limit);
	metrics_one(b, "dohstub_pending_sources", "gauge",
	    "Client addresses with queries in flight.",
	    s->pending_sources);
	metrics_family(b, "dohstub_ratelimited_total", "counter",
	    "UDP queries over their source's ratelimit, by what they got.");
	metrics_u64(b, "dohstub_ratelimited_total", "action", "truncate",
	    s->ratelimit_tc);
	metrics_u64(b, "dohstub_ratelimited_total", "action", "drop",
	    s->ratelimit_drop);
	metrics_one(b, "dohstub_ratelimit_entries", "gauge",
	    "Sources in the rate limit table (at most ratelimit-size).",
	    s->ratelimit_entries);
	metrics_one(b, "dohstub_ratelimit_evictions_total", "counter",
	    "Rate limit entries reused for another source, the table full.",
	    s->ratelimit_evictions);

	/* DOH_OK counted as an error means the answer did not match. */
	metrics_family(b, "dohstub_upstream_errors_total", "counter",
	    "DoH attempts that failed, by kind.");
	for (i = 0; i < DOH_RESULT_MAX; i++) {
		kind = i == DOH_OK ? "mismatch" : doh_result_names[i];
		metrics_u64(b, "dohstub_upstream_errors_total", "kind", kind,
		    s->doh_error_kinds[i]);
	}
	metrics_one(b, "dohstub_fallback_activations_total", "counter",
	    "Times DoH went down and plain DNS took over.",
	    s->fallback_activations);
	metrics_one(b, "dohstub_hedges_total", "counter",
	    "Queries also sent to a second upstream past the hedge delay.",
	    s->hedges);
	metrics_one(b, "dohstub_hedge_wins_total", "counter",
	    "Hedged queries the second upstream answered first.",
	    s->hedge_wins);
	metrics_one(b, "dohstub_hedges_denied_total", "counter",
	    "Hedges due but not sent: over the budget (one query in ten).",
	    s->hedges_denied);
	metrics_one(b, "dohstub_network_changes_total", "counter",
	    "Network changes (addresses, default routes) that made dohstub "
	    "check its upstream connections.",
	    s->network_changes);

	metrics_histogram(b, s);
	metrics_upstreams(b, px);

	metrics_one(b, "dohstub_tcp_connections", "gauge",
	    "Open TCP client connections.",
	    proxy_tcp_clients(px));
	metrics_one(b, "dohstub_tcp_evictions_total", "counter",
	    "Idle TCP connections closed to make room for a new one.",
	    proxy_listen_stats(px)->tcp_evicted);
	metrics_one(b, "dohstub_tcp_refused_total", "counter",
	    "TCP connections closed at once: no room and none idle.",
	    proxy_listen_stats(px)->tcp_refused);
	metrics_one(b, "dohstub_pending_queries", "gauge",
	    "Client queries waiting for an answer.",
	    s->pending);
	metrics_one(b, "dohstub_healthy", "gauge",
	    "1 while /health answers 200.",
	    proxy_unhealthy(px) == NULL);
}

/* The reason first (a probe logs the start of the body), then detail. */
static int
metrics_health(struct evbuffer *b, const struct proxy *px)
{
	struct proxy_upstream_info info;
	const char *why;
	size_t i;
	int stale;

	why = proxy_unhealthy(px);
	evbuffer_add_printf(b, "%s\n", why != NULL ? why : "ok");
	for (i = 0; i < proxy_upstream_count(px); i++) {
		proxy_upstream_info(px, i, &info);
		/* The last error of one that is up again is history. */
		stale = *info.last_error == '\0' ||
		    strcmp(info.state, "ready") == 0;
		evbuffer_add_printf(b, "upstream %s%s%s: %s", info.url,
		    info.zone != NULL ? " for forward " : "",
		    info.zone != NULL ? info.zone : "", info.state);
		if (info.more.doh.has_srtt)
			evbuffer_add_printf(b, ", srtt %u ms",
			    info.more.doh.srtt_ms);
		evbuffer_add_printf(b, ", %llu answers, %llu errors, "
		    "%llu hedges (%llu won), %llu dead connections%s%s\n",
		    (unsigned long long)info.more.doh.answers,
		    (unsigned long long)info.more.doh.errors,
		    (unsigned long long)info.more.hedges,
		    (unsigned long long)info.more.hedge_wins,
		    (unsigned long long)info.more.doh.dead,
		    stale ? "" : ": ", stale ? "" : info.last_error);
	}
	return why == NULL ? HTTP_OK : HTTP_SERVUNAVAIL;
}

static void
metrics_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char len[32];

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	/* evhttp would send a HEAD reply's body, and no length. */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_add_header(h, "Content-Length", len);
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	evhttp_send_reply(req, code, reason, body);
}

static void
metrics_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *b;
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	int code;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (path == NULL ||
	    (strcmp(path, "/health") != 0 && strcmp(path, "/metrics") != 0)) {
		evbuffer_add_printf(b, "not found\n");
		metrics_reply(req, HTTP_NOTFOUND, "Not Found",
		    METRICS_TEXT_TYPE, b);
	} else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		evbuffer_add_printf(b, "method not allowed\n");
		metrics_reply(req, 405, "Method Not Allowed",
		    METRICS_TEXT_TYPE, b);
	} else if (m->px == NULL) {
		evbuffer_add_printf(b, "starting\n");
		metrics_reply(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    METRICS_TEXT_TYPE, b);
	} else if (strcmp(path, "/health") == 0) {
		code = metrics_health(b, m->px);
		metrics_reply(req, code, code == HTTP_OK ? "OK" :
		    "Service Unavailable", METRICS_TEXT_TYPE, b);
	} else {
		metrics_render(b, m->px);
		metrics_reply(req, HTTP_OK, "OK", METRICS_PROM_TYPE, b);
	}
	evbuffer_free(b);
}

struct metrics *
metrics_new(struct event_base *base, const struct addr *addr,
    struct proxy *px)
{
	struct metrics *m;
	struct evconnlistener *lev = NULL;
	char a[ADDR_STRLEN];

	addr_str(addr, a, sizeof(a));
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_warn("metrics");
		return NULL;
	}
	m->px = px;
	if ((m->http = evhttp_new(base)) == NULL) {
		log_warnx("metrics: cannot create the HTTP server");
		goto fail;
	}
	/* Every method reaches metrics_cb, which answers 405 itself. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_gencb(m->http, metrics_cb, m);
	/* Our own listener: evhttp_bind_socket() wants a name to resolve. */
	if ((lev = evconnlistener_new_bind(base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE |
	    (addr->ss.ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0), -1,
	    (const struct sockaddr *)&addr->ss, (int)addr->len)) == NULL) {
		log_warn("metrics: cannot listen on %s", a);
		goto fail;
	}
	if (evhttp_bind_listener(m->http, lev) == NULL) {
		log_warnx("metrics: cannot serve HTTP on %s", a);
		evconnlistener_free(lev);
		goto fail;
	}
	log_info("metrics: /health and /metrics on http://%s", a);
	return m;
 fail:
	metrics_free(m);
	return NULL;
}

void
metrics_set_proxy(struct metrics *m, struct proxy *px)
{
	m->px = px;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	/* Frees the listener and every open connection too. */
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}
