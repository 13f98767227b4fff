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
#include "dohstub/discovery.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/listen.h"
#include "dohstub/log.h"
#include "dohstub/metrics.h"
#include "dohstub/querylog.h"

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
	const struct querylog *ql;	/* NULL: no query log families */
};

/*
 * The families of /metrics, in the order they are written.  PROXY_STATS
 * (proxy.h) names those whose samples are proxy_stats fields; the others
 * are written by a function of their own.
 */
enum family_id {
	METRICS_QUERIES,
	METRICS_ANSWERS,
	METRICS_RESPONSES,
	METRICS_EDE,
	METRICS_CACHE_LOOKUPS,
	METRICS_CACHE_STALE,
	METRICS_CACHE_PREFETCHES,
	METRICS_COALESCED,
	METRICS_CACHE_EVICTIONS,
	METRICS_CACHE_ENTRIES,
	METRICS_CACHE_BYTES,
	METRICS_CACHE_MAX_BYTES,
	METRICS_DROPPED,
	METRICS_REFUSED_ACL,
	METRICS_OVER_LIMIT,
	METRICS_TRUNCATED,
	METRICS_OVER_CLIENT_LIMIT,
	METRICS_PENDING_SOURCES,
	METRICS_RATELIMITED,
	METRICS_RATELIMIT_ENTRIES,
	METRICS_RATELIMIT_EVICTIONS,
	METRICS_UPSTREAM_ERRORS,
	METRICS_FALLBACK_ACTIVATIONS,
	METRICS_HEDGES,
	METRICS_HEDGE_WINS,
	METRICS_HEDGES_DENIED,
	METRICS_NETWORK_CHANGES,
	METRICS_RESUMES,
	METRICS_LATENCY,
	METRICS_UPSTREAM_UP,
	METRICS_UPSTREAM_PENDING,
	METRICS_UPSTREAM_SRTT,
	METRICS_UPSTREAM_ANSWERS,
	METRICS_UPSTREAM_REQUEST_ERRORS,
	METRICS_UPSTREAM_HEDGES,
	METRICS_UPSTREAM_HEDGE_WINS,
	METRICS_UPSTREAM_DEAD,
	METRICS_UPSTREAM_EARLY_ACCEPTED,
	METRICS_UPSTREAM_EARLY_REJECTED,
	METRICS_TCP_CONNECTIONS,
	METRICS_TCP_EVICTIONS,
	METRICS_TCP_REFUSED,
	METRICS_PENDING_QUERIES,
	METRICS_HEALTHY,
	METRICS_DISCOVERIES,
	METRICS_DISCOVERY_FAILURES,
	METRICS_DISCOVERY_QUERIES,
	METRICS_CAPTIVE_PORTAL_ANSWERS,
	METRICS_CAPTIVE_PORTAL_LEASES,
	METRICS_CAPTIVE_PORTAL_PROBES,
	METRICS_DNSSEC_ANSWERS,
	METRICS_DNSSEC_BOGUS,
	METRICS_DNSSEC_CHAIN_QUERIES,
	METRICS_DNSSEC_SIGNATURE_CHECKS,
	METRICS_DNSSEC_CLOCK_BEHIND,
	METRICS_DNSSEC_EARLY_SIGNATURES,
	METRICS_NONE		/* not a family: a field kept out */
};

struct family;
typedef void metrics_render_cb(struct evbuffer *, const struct family *,
    const struct proxy *);

struct family {
	const char		*name;
	const char		*type;
	const char		*label;	/* of its samples, or NULL */
	const char		*help;
	metrics_render_cb	*render;	/* NULL: PROXY_STATS fields */
	int			 arg;		/* render's */
};

/* What metrics_value() and metrics_upstream() write. */
enum value {
	V_CACHE_EVICTED, V_CACHE_ENTRIES, V_CACHE_BYTES, V_CACHE_MAX_BYTES,
	V_TCP_CONNECTIONS, V_TCP_EVICTED, V_TCP_REFUSED, V_HEALTHY,
	V_UP, V_PENDING, V_SRTT, V_ANSWERS, V_ERRORS, V_HEDGES, V_HEDGE_WINS,
	V_DEAD,
	V_EARLY_ACCEPTED,
	V_EARLY_REJECTED,
};

static metrics_render_cb metrics_rcodes, metrics_ede, metrics_doh_errors,
    metrics_histogram, metrics_upstream, metrics_value, metrics_discovery;

static const struct family families[METRICS_NONE] = {
	[METRICS_QUERIES] = { "dohstub_queries_total", "counter", "transport",
	    "Client queries received, by transport.", NULL, 0 },
	[METRICS_ANSWERS] = { "dohstub_answers_total", "counter", "path",
	    "Answers sent to clients, by where they came from.", NULL, 0 },
	[METRICS_RESPONSES] = { "dohstub_responses_total", "counter", "rcode",
	    "Answers sent to clients, by response code.", metrics_rcodes, 0 },
	[METRICS_EDE] = { "dohstub_ede_total", "counter", "code",
	    "Extended DNS Errors (RFC 8914) added to answers, by code.",
	    metrics_ede, 0 },
	[METRICS_CACHE_LOOKUPS] = { "dohstub_cache_lookups_total", "counter",
	    "result", "Cache lookups, by result.", NULL, 0 },
	[METRICS_CACHE_STALE] = { "dohstub_cache_stale_answers_total",
	    "counter", NULL,
	    "Expired cache entries served (serve-stale, RFC 8767).", NULL, 0 },
	[METRICS_CACHE_PREFETCHES] = { "dohstub_cache_prefetches_total",
	    "counter", NULL,
	    "Background refreshes of cache entries about to expire.", NULL, 0 },
	[METRICS_COALESCED] = { "dohstub_coalesced_total", "counter", NULL,
	    "Queries that waited on an identical query's upstream request.",
	    NULL, 0 },
	[METRICS_CACHE_EVICTIONS] = { "dohstub_cache_evictions_total",
	    "counter", NULL, "Cache entries evicted to make room.",
	    metrics_value, V_CACHE_EVICTED },
	[METRICS_CACHE_ENTRIES] = { "dohstub_cache_entries", "gauge", NULL,
	    "Answers in the cache.", metrics_value, V_CACHE_ENTRIES },
	[METRICS_CACHE_BYTES] = { "dohstub_cache_bytes", "gauge", NULL,
	    "Bytes the cache holds, its overhead included.",
	    metrics_value, V_CACHE_BYTES },
	[METRICS_CACHE_MAX_BYTES] = { "dohstub_cache_max_bytes", "gauge", NULL,
	    "The cache's bound (cache-size).",
	    metrics_value, V_CACHE_MAX_BYTES },
	[METRICS_DROPPED] = { "dohstub_dropped_total", "counter", NULL,
	    "Messages ignored because they were not queries.", NULL, 0 },
	[METRICS_REFUSED_ACL] = { "dohstub_refused_acl_total", "counter", NULL,
	    "Queries refused by access control (allow, deny).", NULL, 0 },
	[METRICS_OVER_LIMIT] = { "dohstub_over_limit_total", "counter", NULL,
	    "Queries refused with SERVFAIL because max-pending was reached.",
	    NULL, 0 },
	[METRICS_TRUNCATED] = { "dohstub_truncated_total", "counter", NULL,
	    "UDP answers cut to fit and sent with TC=1.", NULL, 0 },
	[METRICS_OVER_CLIENT_LIMIT] = { "dohstub_over_client_limit_total",
	    "counter", NULL,
	    "Queries refused with SERVFAIL because their client had "
	    "max-pending-per-client in flight.", NULL, 0 },
	[METRICS_PENDING_SOURCES] = { "dohstub_pending_sources", "gauge", NULL,
	    "Client addresses with queries in flight.", NULL, 0 },
	[METRICS_RATELIMITED] = { "dohstub_ratelimited_total",
	    "counter", "action",
	    "UDP queries over their source's ratelimit, by what they got.",
	    NULL, 0 },
	[METRICS_RATELIMIT_ENTRIES] = { "dohstub_ratelimit_entries",
	    "gauge", NULL,
	    "Sources in the rate limit table (at most ratelimit-size).",
	    NULL, 0 },
	[METRICS_RATELIMIT_EVICTIONS] = { "dohstub_ratelimit_evictions_total",
	    "counter", NULL,
	    "Rate limit entries reused for another source, the table full.",
	    NULL, 0 },
	[METRICS_UPSTREAM_ERRORS] = { "dohstub_upstream_errors_total",
	    "counter", "kind", "DoH attempts that failed, by kind.",
	    metrics_doh_errors, 0 },
	[METRICS_FALLBACK_ACTIVATIONS] = {
	    "dohstub_fallback_activations_total", "counter", NULL,
	    "Times DoH went down and plain DNS took over.", NULL, 0 },
	[METRICS_HEDGES] = { "dohstub_hedges_total", "counter", NULL,
	    "Queries also sent to a second upstream past the hedge delay.",
	    NULL, 0 },
	[METRICS_HEDGE_WINS] = { "dohstub_hedge_wins_total", "counter", NULL,
	    "Hedged queries the second upstream answered first.", NULL, 0 },
	[METRICS_HEDGES_DENIED] = { "dohstub_hedges_denied_total",
	    "counter", NULL,
	    "Hedges due but not sent: over the budget (one query in ten).",
	    NULL, 0 },
	[METRICS_NETWORK_CHANGES] = { "dohstub_network_changes_total",
	    "counter", NULL,
	    "Network changes (addresses, default routes) that made dohstub "
	    "check its upstream connections.", NULL, 0 },
	[METRICS_RESUMES] = { "dohstub_resumes_total", "counter", NULL,
	    "Resumes from a suspend of a second or more (each also counted "
	    "as a network change).", NULL, 0 },
	[METRICS_LATENCY] = { "dohstub_upstream_latency_seconds", "histogram",
	    "le", "Time from sending a query over DoH to its answer.",
	    metrics_histogram, 0 },
	[METRICS_UPSTREAM_UP] = { "dohstub_upstream_up", "gauge", NULL,
	    "1 while the DoH upstream has a working HTTP/2 connection.",
	    metrics_upstream, V_UP },
	[METRICS_UPSTREAM_PENDING] = { "dohstub_upstream_pending", "gauge",
	    NULL, "DoH requests waiting for or in flight on the upstream.",
	    metrics_upstream, V_PENDING },
	[METRICS_UPSTREAM_SRTT] = { "dohstub_upstream_srtt_seconds", "gauge",
	    NULL, "Smoothed time from a request to its answer's first byte "
	    "(upstream-policy fastest ranks by it).",
	    metrics_upstream, V_SRTT },
	[METRICS_UPSTREAM_ANSWERS] = { "dohstub_upstream_answers_total",
	    "counter", NULL, "DoH requests the upstream answered.",
	    metrics_upstream, V_ANSWERS },
	[METRICS_UPSTREAM_REQUEST_ERRORS] = {
	    "dohstub_upstream_request_errors_total", "counter", NULL,
	    "DoH requests to the upstream that failed.",
	    metrics_upstream, V_ERRORS },
	[METRICS_UPSTREAM_HEDGES] = { "dohstub_upstream_hedges_total",
	    "counter", NULL, "Hedged requests sent to the upstream.",
	    metrics_upstream, V_HEDGES },
	[METRICS_UPSTREAM_HEDGE_WINS] = { "dohstub_upstream_hedge_wins_total",
	    "counter", NULL, "Hedged requests the upstream answered first.",
	    metrics_upstream, V_HEDGE_WINS },
	[METRICS_UPSTREAM_DEAD] = { "dohstub_upstream_dead_connections_total",
	    "counter", NULL,
	    "Connections to the upstream found dead (no answer to PING).",
	    metrics_upstream, V_DEAD },
	[METRICS_UPSTREAM_EARLY_ACCEPTED] = {
	    "dohstub_upstream_early_data_accepted_total", "counter", NULL,
	    "Resumed connections whose early data (0-RTT) the upstream took.",
	    metrics_upstream, V_EARLY_ACCEPTED },
	[METRICS_UPSTREAM_EARLY_REJECTED] = {
	    "dohstub_upstream_early_data_rejected_total", "counter", NULL,
	    "Resumed connections whose early data the upstream refused "
	    "(the requests were sent again).",
	    metrics_upstream, V_EARLY_REJECTED },
	[METRICS_TCP_CONNECTIONS] = { "dohstub_tcp_connections", "gauge", NULL,
	    "Open TCP client connections.", metrics_value, V_TCP_CONNECTIONS },
	[METRICS_TCP_EVICTIONS] = { "dohstub_tcp_evictions_total", "counter",
	    NULL, "Idle TCP connections closed to make room for a new one.",
	    metrics_value, V_TCP_EVICTED },
	[METRICS_TCP_REFUSED] = { "dohstub_tcp_refused_total", "counter", NULL,
	    "TCP connections closed at once: no room and none idle.",
	    metrics_value, V_TCP_REFUSED },
	[METRICS_PENDING_QUERIES] = { "dohstub_pending_queries", "gauge", NULL,
	    "Client queries waiting for an answer.", NULL, 0 },
	[METRICS_HEALTHY] = { "dohstub_healthy", "gauge", NULL,
	    "1 while /health answers 200.", metrics_value, V_HEALTHY },
	[METRICS_DISCOVERIES] = { "dohstub_discoveries_total", "counter",
	    "result", "Address servers upgraded (known, DDR) or not, by "
	    "result.", metrics_discovery, 0 },
	[METRICS_DISCOVERY_FAILURES] = { "dohstub_discovery_failures_total",
	    "counter", "reason", "DDR runs that did not upgrade, by reason.",
	    metrics_discovery, 1 },
	[METRICS_DISCOVERY_QUERIES] = { "dohstub_discovery_queries_total",
	    "counter", NULL, "Plain DNS queries sent for discovery (the DDR "
	    "query, target lookups).", metrics_discovery, 2 },
	[METRICS_CAPTIVE_PORTAL_ANSWERS] = {
	    "dohstub_captive_portal_answers_total", "counter", NULL,
	    "Answers from the network's resolvers during a portal lease "
	    "(plain DNS, EDE 0).", NULL, 0 },
	[METRICS_CAPTIVE_PORTAL_LEASES] = {
	    "dohstub_captive_portal_leases_total", "counter", NULL,
	    "Portal leases opened (by the user or, with auto, for the "
	    "connectivity-check names).", NULL, 0 },
	[METRICS_CAPTIVE_PORTAL_PROBES] = {
	    "dohstub_captive_portal_probes_total", "counter", NULL,
	    "Plain DNS probes (. NS) of the network's resolvers while no "
	    "DoH upstream was connected (captive-portal auto only).", NULL,
	    0 },
	[METRICS_DNSSEC_ANSWERS] = { "dohstub_dnssec_answers_total",
	    "counter", "state", "Answers judged by DNSSEC validation, by "
	    "verdict (unchecked: the client set CD).", NULL, 0 },
	[METRICS_DNSSEC_BOGUS] = { "dohstub_dnssec_bogus_total", "counter",
	    "ede", "Bogus answers, by the Extended DNS Error they got.", NULL,
	    0 },
	[METRICS_DNSSEC_CHAIN_QUERIES] = {
	    "dohstub_dnssec_chain_queries_total", "counter", NULL,
	    "DS and DNSKEY queries dohstub sent upstream for the chain of "
	    "trust.", NULL, 0 },
	[METRICS_DNSSEC_SIGNATURE_CHECKS] = {
	    "dohstub_dnssec_signature_checks_total", "counter", NULL,
	    "RRSIG signature verifications made.", NULL, 0 },
	[METRICS_DNSSEC_CLOCK_BEHIND] = {
	    "dohstub_dnssec_clock_behind", "gauge", NULL,
	    "1 while the clock is behind the latest signature of a trust "
	    "anchor's zone, and signatures are checked at that time.", NULL,
	    0 },
	[METRICS_DNSSEC_EARLY_SIGNATURES] = {
	    "dohstub_dnssec_early_signatures_total", "counter", NULL,
	    "Signatures that passed with their inception after the clock "
	    "(a clock behind, or a trust anchor's keys signed ahead).", NULL,
	    0 },
};

/* PROXY_STATS as samples: of which family, with which label value. */
#define METRICS_SAMPLE(field, family, value)	{ METRICS_ ## family, value },
#define METRICS_FIELD(field, family, value)	s->field,
static const struct {
	enum family_id	 family;
	const char	*value;
} samples[] = {
	PROXY_STATS(METRICS_SAMPLE, METRICS_SAMPLE)
};

/* The metric's name and type, once per family as the format wants. */
static void
metrics_family(struct evbuffer *b, const struct family *f)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name,
	    f->help, f->name, f->type);
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

/* One sample of f: with its label set to value, or none if NULL. */
static void
metrics_u64(struct evbuffer *b, const struct family *f, const char *value,
    uint64_t v)
{
	if (value == NULL)
		evbuffer_add_printf(b, "%s ", f->name);
	else {
		evbuffer_add_printf(b, "%s{%s=\"", f->name, f->label);
		metrics_label(b, value);
		evbuffer_add(b, "\"} ", 3);
	}
	evbuffer_add_printf(b, "%llu\n", (unsigned long long)v);
}

/* Milliseconds as seconds. */
static void
metrics_ms(struct evbuffer *b, uint64_t ms)
{
	evbuffer_add_printf(b, "%llu.%03u\n", (unsigned long long)(ms / 1000),
	    (unsigned)(ms % 1000));
}

/* Samples i and j of PROXY_STATS are one: the same family and value. */
static int
metrics_same_sample(size_t i, size_t j)
{
	const char *a = samples[i].value, *b = samples[j].value;

	return samples[i].family == samples[j].family &&
	    (a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0);
}

/* A family of PROXY_STATS fields: one sample per label value, the sum. */
static void
metrics_fields(struct evbuffer *b, enum family_id id, const struct proxy *px)
{
	const struct proxy_stats *s = proxy_stats(px);
	const uint64_t v[] = { PROXY_STATS(METRICS_FIELD, METRICS_FIELD) };
	uint64_t sum;
	size_t i, j;

	metrics_family(b, &families[id]);
	for (i = 0; i < nitems(samples); i++) {
		if (samples[i].family != id)
			continue;
		for (j = 0; j < i && !metrics_same_sample(j, i); j++)
			;
		if (j < i)
			continue;	/* summed already */
		for (sum = 0, j = i; j < nitems(samples); j++)
			if (metrics_same_sample(i, j))
				sum += v[j];
		metrics_u64(b, &families[id], samples[i].value, sum);
	}
}

static void
metrics_rcodes(struct evbuffer *b, const struct family *f,
    const struct proxy *px)
{
	const struct proxy_stats *s = proxy_stats(px);
	const char *rc;
	char num[8];
	size_t i;

	metrics_family(b, f);
	for (i = 0; i < nitems(s->rcodes); i++) {
		/* The mnemonic where there is one, else the number. */
		if ((rc = dnsmsg_rcode_name((unsigned)i)) == NULL) {
			snprintf(num, sizeof(num), "%zu", i);
			rc = num;
		}
		metrics_u64(b, f, rc, s->rcodes[i]);
	}
}

/* The codes dohstub sets always, any other once it was seen. */
static void
metrics_ede(struct evbuffer *b, const struct family *f,
    const struct proxy *px)
{
	const struct proxy_stats *s = proxy_stats(px);
	char num[8];
	size_t i;

	metrics_family(b, f);
	for (i = 0; i < nitems(s->ede); i++) {
		if (s->ede[i] == 0 && i != DNS_EDE_OTHER &&
		    i != DNS_EDE_NOT_READY && i != DNS_EDE_NO_REACHABLE)
			continue;
		snprintf(num, sizeof(num), "%zu", i);
		metrics_u64(b, f, num, s->ede[i]);
	}
}

/* DOH_OK counted as an error means the answer did not match. */
static void
metrics_doh_errors(struct evbuffer *b, const struct family *f,
    const struct proxy *px)
{
	const struct proxy_stats *s = proxy_stats(px);
	size_t i;

	metrics_family(b, f);
	for (i = 0; i < DOH_RESULT_MAX; i++)
		metrics_u64(b, f, i == DOH_OK ? "mismatch" :
		    doh_result_names[i], s->doh_error_kinds[i]);
}

static void
metrics_histogram(struct evbuffer *b, const struct family *f,
    const struct proxy *px)
{
	const struct proxy_stats *s = proxy_stats(px);
	uint64_t n = 0;
	size_t i;

	metrics_family(b, f);
	for (i = 0; i < PROXY_LATENCY_BUCKETS; i++) {
		n += s->latency_buckets[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", f->name,
		    proxy_latency_bounds[i] / 1000.0, (unsigned long long)n);
	}
	n += s->latency_buckets[PROXY_LATENCY_BUCKETS];
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", f->name,
	    (unsigned long long)n);
	evbuffer_add_printf(b, "%s_sum ", f->name);
	metrics_ms(b, s->latency_sum_ms);
	evbuffer_add_printf(b, "%s_count %llu\n", f->name,
	    (unsigned long long)n);
}

static uint64_t
upstream_value(const struct proxy_upstream_info *info, int v)
{
	switch (v) {
	case V_UP:
		return strcmp(info->state, "ready") == 0;
	case V_PENDING:
		return info->pending;
	case V_ANSWERS:
		return info->more.doh.answers;
	case V_ERRORS:
		return info->more.doh.errors;
	case V_HEDGES:
		return info->more.hedges;
	case V_HEDGE_WINS:
		return info->more.hedge_wins;
	case V_DEAD:
		return info->more.doh.dead;
	case V_EARLY_ACCEPTED:
		return info->more.doh.early_accepted;
	case V_EARLY_REJECTED:
		return info->more.doh.early_rejected;
	}
	return 0;
}

/*
 * One sample an upstream, labelled with its URL and, for a forward
 * rule's, its zone too (the same URL may serve both).
 */
static void
metrics_upstream(struct evbuffer *b, const struct family *f,
    const struct proxy *px)
{
	struct proxy_upstream_info info;
	size_t i;

	metrics_family(b, f);
	for (i = 0; i < proxy_upstream_count(px); i++) {
		proxy_upstream_info(px, i, &info);
		if (f->arg == V_SRTT && !info.more.doh.has_srtt)
			continue;
		evbuffer_add_printf(b, "%s{url=\"", f->name);
		metrics_label(b, info.url);
		if (info.zone != NULL) {
			evbuffer_add_printf(b, "\",zone=\"");
			metrics_label(b, info.zone);
		}
		evbuffer_add(b, "\"} ", 3);
		if (f->arg == V_SRTT)
			metrics_ms(b, info.more.doh.srtt_ms);
		else
			evbuffer_add_printf(b, "%llu\n",
			    (unsigned long long)upstream_value(&info, f->arg));
	}
}

/* A family with one unlabelled value; the cache's only with a cache. */
static void
metrics_value(struct evbuffer *b, const struct family *f,
    const struct proxy *px)
{
	const struct cache_stats *c = proxy_cache_stats(px);
	uint64_t v;

	if (f->arg == V_TCP_CONNECTIONS)
		v = proxy_tcp_clients(px);
	else if (f->arg == V_TCP_EVICTED)
		v = proxy_listen_stats(px)->tcp_evicted;
	else if (f->arg == V_TCP_REFUSED)
		v = proxy_listen_stats(px)->tcp_refused;
	else if (f->arg == V_HEALTHY)
		v = proxy_unhealthy(px) == NULL;
	else if (c == NULL)
		return;
	else {
		const uint64_t cache[] = {
			[V_CACHE_EVICTED] = c->evicted,
			[V_CACHE_ENTRIES] = c->entries,
			[V_CACHE_BYTES] = c->bytes,
			[V_CACHE_MAX_BYTES] = c->max_bytes,
		};
		v = cache[f->arg];
	}
	metrics_family(b, f);
	metrics_u64(b, f, NULL, v);
}

/* Only where there are address servers to discover (not plaintext). */
static void
metrics_discovery(struct evbuffer *b, const struct family *f,
    const struct proxy *px)
{
	static const char *const results[DISCOVERY_UPGRADE_MAX] = {
		[DISCOVERY_KNOWN] = "known",
		[DISCOVERY_VERIFIED] = "verified",
		[DISCOVERY_OPPORTUNISTIC] = "opportunistic",
		[DISCOVERY_NONE] = "none",
	};
	const struct discovery *d = proxy_discovery(px);
	const struct discovery_stats *s;
	size_t i;

	if (d == NULL)
		return;
	s = discovery_stats(d);
	metrics_family(b, f);
	if (f->arg == 2) {
		metrics_u64(b, f, NULL, s->queries);
		return;
	}
	for (i = 0; f->arg == 0 && i < DISCOVERY_UPGRADE_MAX; i++)
		if (results[i] != NULL)
			metrics_u64(b, f, results[i], s->results[i]);
	for (i = 1; f->arg == 1 && i < DISCOVERY_FAIL_MAX; i++)
		metrics_u64(b, f, discovery_fail_names[i], s->failures[i]);
}

void
metrics_render(struct evbuffer *b, const struct proxy *px)
{
	size_t i;

	for (i = 0; i < nitems(families); i++) {
		if (families[i].render != NULL)
			families[i].render(b, &families[i], px);
		else
			metrics_fields(b, (enum family_id)i, px);
	}
}

/* The query log's counters (querylog.h), not the proxy's. */
static void
metrics_querylog(struct evbuffer *b, const struct querylog *ql)
{
	static const struct family dropped = {
	    "dohstub_query_log_dropped_total", "counter", NULL,
	    "Query log lines dropped: the log's buffer was full.", NULL, 0 };
	static const struct family lines = {
	    "dohstub_query_log_lines_total", "counter", NULL,
	    "Query log lines formatted and buffered for the writer.", NULL,
	    0 };
	static const struct family restarts = {
	    "dohstub_query_log_restarts_total", "counter", NULL,
	    "Query log writer processes that died and were restarted.",
	    NULL, 0 };
	const struct querylog_stats *s;

	if (ql == NULL)
		return;
	s = querylog_stats(ql);
	metrics_family(b, &lines);
	metrics_u64(b, &lines, NULL, s->lines);
	metrics_family(b, &dropped);
	metrics_u64(b, &dropped, NULL, s->dropped);
	metrics_family(b, &restarts);
	metrics_u64(b, &restarts, NULL, s->restarts);
}

/* Each address server: how it was upgraded, to what, or why not. */
static void
metrics_health_addrs(struct evbuffer *b, const struct proxy *px)
{
	const struct discovery *d = proxy_discovery(px);
	const struct discovery_result *r;
	char a[ADDR_STRLEN];
	size_t i;

	for (i = 0; i < discovery_count(d); i++) {
		r = discovery_result(d, i);
		evbuffer_add_printf(b, "address %s: upgrade %s",
		    addr_str(&r->addr, a, sizeof(a)),
		    discovery_upgrade_names[r->upgrade]);
		if (r->upgrade == DISCOVERY_NONE)
			evbuffer_add_printf(b, " (%s)", r->reason);
		else if (r->upgrade != DISCOVERY_PENDING)
			evbuffer_add_printf(b, ", %s%s%s%s", r->url,
			    r->provider[0] != '\0' ? " (" : "", r->provider,
			    r->provider[0] != '\0' ? ")" : "");
		if (discovery_state(d, i) != DISCOVERY_IDLE)
			evbuffer_add_printf(b, ", rediscovering (%s)",
			    discovery_state_names[discovery_state(d, i)]);
		evbuffer_add_printf(b, "\n");
	}
}

/* Each upstream: its state, srtt, counters and last error. */
static void
metrics_health_upstreams(struct evbuffer *b, const struct proxy *px)
{
	struct proxy_upstream_info info;
	size_t i;
	int stale;

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
}

void
metrics_health_details(struct evbuffer *b, const struct proxy *px)
{
	metrics_health_upstreams(b, px);
	metrics_health_addrs(b, px);
}

/* The reason first (a probe logs the start of the body), then detail. */
static int
metrics_health(struct evbuffer *b, const struct proxy *px)
{
	const char *why;
	char portal[256];

	why = proxy_unhealthy(px);
	evbuffer_add_printf(b, "%s\n", why != NULL ? why : "ok");
	if (proxy_portal_status(px, portal, sizeof(portal)) > 0)
		evbuffer_add_printf(b, "%s\n", portal);
	metrics_health_details(b, px);
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
		metrics_querylog(b, m->ql);
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
metrics_set_querylog(struct metrics *m, const struct querylog *ql)
{
	m->ql = ql;
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
