/*
 * proxy: one struct query per client query.
 *
 *	validate --bad--> FORMERR / NOTIMP / dropped
 *	    |
 *	    +-- plaintext --------------------------> Q_FALLBACK
 *	    |
 *	    v
 *	Q_DOH: upstreams in order --all failed, or timeout-->
 *	    encrypted-preferred: Q_FALLBACK	encrypted-only: SERVFAIL
 *
 * In encrypted-only mode the fallback channel is never created, so no
 * client query can leave in plaintext whatever the code paths do.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "dohstub/clock.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/doh.h"
#include "dohstub/listen.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/proxy.h"
#include "dohstub/tls.h"
#include "dohstub/upstream.h"

enum query_state {
	Q_DOH,
	Q_FALLBACK,
};
static const char *const query_state_names[] = { "doh", "fallback" };

struct query {
	TAILQ_ENTRY(query)	 entry;
	struct proxy		*px;
	struct listen_peer	*peer;
	enum query_state	 state;
	struct dns_query_info	 qi;
	struct doh_req		*doh;
	struct plain_req	*plain;
	struct event		 timer;
	int			 upstream;	/* index of the current try */
	uint64_t		 start_ms;
	size_t			 len;
	uint8_t			 msg[];		/* the query, ID 0 */
};

struct proxy {
	struct event_base	*base;
	const struct config	*cfg;
	struct listener		*listener;
	SSL_CTX			*ssl_ctx;
	struct plain		*bootstrap;
	struct plain		*fallback;	/* NULL in encrypted-only */
	struct upstreams	*upstreams;
	TAILQ_HEAD(, query)	 queries;
	struct proxy_stats	 stats;
	uint8_t			 buf[DNS_MAX_MSG];	/* answers being sent */
};

const unsigned proxy_latency_bounds[PROXY_LATENCY_BUCKETS] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
};

static void	query_doh(struct query *, int);
static void	query_fallback(struct query *);

static void
arm_timer(struct query *q, unsigned ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(&q->timer, &tv);
}

static void
query_free(struct query *q)
{
	struct proxy *px = q->px;

	if (q->doh != NULL)
		doh_cancel(q->doh);
	if (q->plain != NULL)
		plain_cancel(q->plain);
	evtimer_del(&q->timer);
	TAILQ_REMOVE(&px->queries, q, entry);
	px->stats.pending--;
	q->peer->ops->release(q->peer);
	free(q);
}

/* Send msg (an answer to q, any ID) to the client, cut to fit UDP. */
static void
query_answer(struct query *q, const uint8_t *msg, size_t len)
{
	struct proxy *px = q->px;
	size_t n = len, limit;

	memcpy(px->buf, msg, len);
	dnsmsg_set_id(px->buf, q->qi.id);
	if (q->peer->transport == LISTEN_UDP) {
		limit = dnsmsg_udp_limit(&q->qi, px->cfg->edns_udp_size);
		if ((n = dnsmsg_truncate(px->buf, len, limit, &q->qi)) == 0) {
			n = dnsmsg_make_error(px->buf, sizeof(px->buf),
			    &q->qi, DNS_RCODE_SERVFAIL);
			px->stats.servfail++;
		} else if (n < len)
			px->stats.truncated++;
	}
	if (n > 0) {
		px->stats.rcodes[dnsmsg_rcode(px->buf)]++;
		q->peer->ops->respond(q->peer, px->buf, n);
	}
	query_free(q);
}

static void
query_servfail(struct query *q, const char *why)
{
	struct proxy *px = q->px;
	char name[DNS_MAX_NAME * 4 + 1];
	size_t n;

	if (log_getlevel() >= LOG_LEVEL_DEBUG) {
		dnsmsg_name_str(&q->qi, name, sizeof(name));
		log_debug("%s %u: SERVFAIL (%s)", name, q->qi.qtype, why);
	}
	px->stats.servfail++;
	px->stats.rcodes[DNS_RCODE_SERVFAIL]++;
	if ((n = dnsmsg_make_error(px->buf, sizeof(px->buf), &q->qi,
	    DNS_RCODE_SERVFAIL)) > 0)
		q->peer->ops->respond(q->peer, px->buf, n);
	query_free(q);
}

/* DoH could not answer q: the mode decides what happens next. */
static void
query_doh_failed(struct query *q, const char *why)
{
	if (q->px->fallback != NULL)
		query_fallback(q);
	else
		query_servfail(q, why);
}

static void
query_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct query *q = arg;

	(void)fd;
	(void)ev;
	log_debug("query timed out in state %s", query_state_names[q->state]);
	if (q->state == Q_DOH) {
		doh_cancel(q->doh);
		q->doh = NULL;
		q->px->stats.doh_errors++;
		q->px->stats.doh_error_kinds[DOH_ERR_TIMEOUT]++;
		query_doh_failed(q, "DoH timed out");
	} else
		query_servfail(q, "fallback timed out");
}

static void
proxy_latency(struct proxy *px, uint64_t ms)
{
	size_t i;

	for (i = 0; i < PROXY_LATENCY_BUCKETS; i++)
		if (ms <= proxy_latency_bounds[i])
			break;
	px->stats.latency_buckets[i]++;
	px->stats.latency_sum_ms += ms;
}

static void
doh_done(enum doh_result res, const struct doh_response *resp, void *arg)
{
	struct query *q = arg;
	struct proxy *px = q->px;

	q->doh = NULL;
	if (res == DOH_OK && dnsmsg_check_answer(resp->body, resp->len,
	    &q->qi) == 0) {
		px->stats.answered_doh++;
		proxy_latency(px, clock_ms() - resp->submit_ms);
		query_answer(q, resp->body, resp->len);
		return;
	}
	px->stats.doh_errors++;
	px->stats.doh_error_kinds[res]++;
	log_debug("upstream %s: %s (HTTP status %d)",
	    doh_name(upstream_get(px->upstreams, (size_t)q->upstream)),
	    res == DOH_OK ? "answer does not match the query" :
	    doh_result_names[res], resp->status);
	if (res == DOH_ERR_SHUTDOWN) {
		query_servfail(q, "shutting down");
		return;
	}
	query_doh(q, q->upstream + 1);
}

/* Try the usable upstreams from index from on. */
static void
query_doh(struct query *q, int from)
{
	struct proxy *px = q->px;
	int i;

	q->state = Q_DOH;
	for (i = upstream_next(px->upstreams, (size_t)from); i >= 0;
	    i = upstream_next(px->upstreams, (size_t)i + 1)) {
		q->doh = doh_submit(upstream_get(px->upstreams, (size_t)i),
		    q->msg, q->len, doh_done, q);
		if (q->doh != NULL) {
			q->upstream = i;
			return;
		}
	}
	query_doh_failed(q, "no DoH upstream reachable");
}

static void
plain_done(int status, const uint8_t *ans, size_t len, void *arg)
{
	struct query *q = arg;

	q->plain = NULL;
	if (status == 0 && dnsmsg_check_answer(ans, len, &q->qi) == 0) {
		q->px->stats.answered_fallback++;
		query_answer(q, ans, len);
	} else
		query_servfail(q, "no answer from the fallback servers");
}

static void
query_fallback(struct query *q)
{
	struct proxy *px = q->px;
	const struct config *cfg = px->cfg;

	q->state = Q_FALLBACK;
	q->plain = plain_forward(px->fallback, q->msg, q->len, plain_done, q);
	if (q->plain == NULL) {
		query_servfail(q, "cannot send to the fallback servers");
		return;
	}
	/* c-ares gives up by itself; this is only a backstop. */
	arm_timer(q, cfg->timeout_ms * (unsigned)(cfg->nfallback + 1));
}

static void
proxy_query_cb(struct listen_peer *peer, const uint8_t *msg, size_t len,
    void *arg)
{
	struct proxy *px = arg;
	struct dns_query_info qi;
	enum dns_verdict verdict;
	struct query *q;
	size_t n;
	int rcode;

	if (peer->transport == LISTEN_UDP)
		px->stats.queries_udp++;
	else
		px->stats.queries_tcp++;
	switch (verdict = dnsmsg_parse_query(msg, len, &qi)) {
	case DNS_VERDICT_OK:
		break;
	case DNS_VERDICT_DROP:
		px->stats.dropped++;
		peer->ops->release(peer);
		return;
	case DNS_VERDICT_FORMERR:
	case DNS_VERDICT_NOTIMP:
	default:
		if (verdict == DNS_VERDICT_NOTIMP) {
			rcode = DNS_RCODE_NOTIMP;
			px->stats.notimp++;
		} else {
			rcode = DNS_RCODE_FORMERR;
			px->stats.formerr++;
		}
		px->stats.rcodes[rcode]++;
		if ((n = dnsmsg_make_error(px->buf, sizeof(px->buf), &qi,
		    rcode)) > 0)
			peer->ops->respond(peer, px->buf, n);
		peer->ops->release(peer);
		return;
	}
	if (px->stats.pending >= px->cfg->max_pending ||
	    (q = calloc(1, sizeof(*q) + qi.msg_len)) == NULL) {
		px->stats.over_limit++;
		px->stats.servfail++;
		px->stats.rcodes[DNS_RCODE_SERVFAIL]++;
		if ((n = dnsmsg_make_error(px->buf, sizeof(px->buf), &qi,
		    DNS_RCODE_SERVFAIL)) > 0)
			peer->ops->respond(peer, px->buf, n);
		peer->ops->release(peer);
		return;
	}
	q->px = px;
	q->peer = peer;
	q->qi = qi;
	q->start_ms = clock_ms();
	q->len = qi.msg_len;
	memcpy(q->msg, msg, q->len);
	/* RFC 8484 4.1: ID 0 keeps DoH answers cacheable. */
	dnsmsg_set_id(q->msg, 0);
	evtimer_assign(&q->timer, px->base, query_timeout_cb, q);
	TAILQ_INSERT_TAIL(&px->queries, q, entry);
	px->stats.pending++;
	if (px->upstreams == NULL) {
		query_fallback(q);
		return;
	}
	arm_timer(q, px->cfg->timeout_ms);
	query_doh(q, 0);
}

static void
proxy_health_cb(int usable, void *arg)
{
	struct proxy *px = arg;

	if (usable) {
		log_info("DoH upstream reachable%s", px->fallback != NULL ?
		    ": plain DNS fallback off" : "");
		return;
	}
	if (px->fallback != NULL) {
		px->stats.fallback_activations++;
		log_warnx("no DoH upstream reachable: falling back to plain "
		    "DNS");
	} else
		log_warnx("no DoH upstream reachable: answering SERVFAIL");
}

struct proxy *
proxy_new(struct event_base *base, const struct config *cfg)
{
	struct proxy *px;
	struct tls_opts topts;
	char err[256];

	if ((px = calloc(1, sizeof(*px))) == NULL) {
		log_warn("proxy");
		return NULL;
	}
	px->base = base;
	px->cfg = cfg;
	TAILQ_INIT(&px->queries);
	if ((px->listener = listen_new(base, cfg, proxy_query_cb, px)) ==
	    NULL)
		goto fail;
	if (cfg->mode != MODE_ENCRYPTED_ONLY &&
	    (px->fallback = plain_new(base, cfg->fallback, cfg->nfallback,
	    cfg->timeout_ms, 1)) == NULL) {
		log_warnx("cannot set up the fallback servers");
		goto fail;
	}
	if (cfg->mode == MODE_PLAINTEXT)
		return px;

	memset(&topts, 0, sizeof(topts));
	topts.ca_file = cfg->ca_file;
	topts.min_version = cfg->tls_min_version;
	if ((px->ssl_ctx = tls_ctx_new(&topts, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		goto fail;
	}
	if (cfg->nbootstrap > 0 && (px->bootstrap = plain_new(base,
	    cfg->bootstrap, cfg->nbootstrap, cfg->timeout_ms, 2)) == NULL) {
		log_warnx("cannot set up the bootstrap servers");
		goto fail;
	}
	if ((px->upstreams = upstream_new(base, cfg, px->ssl_ctx,
	    px->bootstrap, proxy_health_cb, px)) == NULL) {
		log_warnx("cannot set up the upstreams");
		goto fail;
	}
	return px;
 fail:
	proxy_free(px);
	return NULL;
}

void
proxy_start(struct proxy *px)
{
	if (px->upstreams != NULL)
		upstream_start(px->upstreams);
}

const struct proxy_stats *
proxy_stats(const struct proxy *px)
{
	return &px->stats;
}

size_t
proxy_upstream_count(const struct proxy *px)
{
	return px->upstreams != NULL ? upstream_count(px->upstreams) : 0;
}

void
proxy_upstream_info(const struct proxy *px, size_t i,
    struct proxy_upstream_info *info)
{
	struct doh_client *c = upstream_get(px->upstreams, i);

	info->url = px->cfg->upstream[i].url;
	info->state = doh_state_names[doh_get_state(c)];
	info->last_error = doh_last_error(c);
	info->pending = doh_pending(c);
}

size_t
proxy_tcp_clients(const struct proxy *px)
{
	return listen_tcp_clients(px->listener);
}

const char *
proxy_unhealthy(const struct proxy *px)
{
	size_t i;

	if (px->upstreams == NULL)
		return NULL;	/* plaintext: the fallback servers answer */
	for (i = 0; i < upstream_count(px->upstreams); i++)
		if (doh_get_state(upstream_get(px->upstreams, i)) ==
		    DOH_READY)
			return NULL;
	return px->fallback != NULL ?
	    "no DoH upstream connected: answering over plain DNS" :
	    "no DoH upstream connected: answering SERVFAIL";
}

void
proxy_log_stats(const struct proxy *px)
{
	const struct proxy_stats *s = &px->stats;

	log_info("stats: queries_udp=%llu queries_tcp=%llu answered_doh=%llu "
	    "answered_fallback=%llu servfail=%llu formerr=%llu notimp=%llu "
	    "dropped=%llu over_limit=%llu truncated=%llu doh_errors=%llu "
	    "fallback_activations=%llu pending=%llu",
	    (unsigned long long)s->queries_udp,
	    (unsigned long long)s->queries_tcp,
	    (unsigned long long)s->answered_doh,
	    (unsigned long long)s->answered_fallback,
	    (unsigned long long)s->servfail, (unsigned long long)s->formerr,
	    (unsigned long long)s->notimp, (unsigned long long)s->dropped,
	    (unsigned long long)s->over_limit,
	    (unsigned long long)s->truncated,
	    (unsigned long long)s->doh_errors,
	    (unsigned long long)s->fallback_activations,
	    (unsigned long long)s->pending);
}

void
proxy_stop(struct proxy *px)
{
	struct query *q;

	while ((q = TAILQ_FIRST(&px->queries)) != NULL)
		query_servfail(q, "shutting down");
}

void
proxy_free(struct proxy *px)
{
	if (px == NULL)
		return;
	proxy_stop(px);
	upstream_free(px->upstreams);
	plain_free(px->bootstrap);
	plain_free(px->fallback);
	listen_free(px->listener);
	SSL_CTX_free(px->ssl_ctx);
	free(px);
}
