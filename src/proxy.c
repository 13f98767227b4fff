/*
 * proxy: one struct query per client query.
 *
 *	validate --bad--> FORMERR / NOTIMP / dropped
 *	    |
 *	    +-- plaintext --------------------------> Q_FALLBACK
 *	    |
 *	    v
 *	Q_DOH: upstreams by policy, hedged --all failed, or timeout-->
 *	    encrypted-preferred: Q_FALLBACK	encrypted-only: SERVFAIL
 *
 * In encrypted-only mode the fallback channel is never created, so no
 * client query can leave in plaintext whatever the code paths do, but
 * for the names of a plain forward rule: the exception the user wrote
 * down, sent only to that rule's own channel.
 *
 * A forward rule gives the names at or below its zone a route of their
 * own (set once per query, from the name): its DoH set or its plain
 * channel stands in for the default upstreams and fallback, and there
 * is no other (no fallback from a DoH rule, no DoH for a plain one).
 * query_upstreams() and query_plain() are the only ways to them.
 *
 * Everything that follows from the configuration's upstream side (TLS
 * context, upstreams, bootstrap and fallback channels) is one "upside".
 * A reload makes a new one; queries in flight keep the one they started
 * with, which is freed when the last of them ends.
 *
 * Query objects are kept on a free list (up to max-pending of them) with
 * room for any ordinary query, so that steady state allocates nothing.
 *
 * What goes upstream is never the client's message but a query built
 * from its question (dnsmsg_make_upstream_query(): ID 0, our own padded
 * OPT, none of the client's options), the same for the DoH servers and
 * the plain fallback; every answer is rewritten for its client
 * (dnsmsg_rewrite_answer(): its ID and case, the upstream's OPT gone,
 * ours back if the client sent EDNS, with an Extended DNS Error when the
 * answer came over plain DNS).  SERVFAILs dohstub makes carry an EDE
 * saying why (RFC 8914), for clients that sent EDNS.
 *
 * With the cache: a hit is answered before a query object is made.  A
 * miss whose key (the cache's) is already being asked upstream waits on
 * that query, a "follower" of its "leader" (at most PROXY_MAX_FOLLOWERS
 * of them), and gets the leader's answer rewritten for it.  A fresh hit
 * in the last tenth of its TTL starts one background query (no client:
 * the "background peer") that refreshes the entry.  With serve-stale, a
 * query that cannot be answered, or that is still unanswered after
 * serve-stale-timeout, gets an expired entry if one is inside the
 * window, and a query answered so goes on in the background to refresh
 * it (RFC 8767).
 *
 * Fairness (ratelimit.h): every query object counts against the source
 * that caused it (a prefetch against the client whose hit started it)
 * until it ends, so one source holds at most max-pending-per-client of
 * the max-pending slots.  Cache hits and local answers take no slot.  The
 * rate limit (ratelimit) is checked after access control and before
 * anything else, the cache included: a hit amplifies as well.
 */
#include <sys/queue.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/cache.h"
#include "dohstub/clock.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/doh.h"
#include "dohstub/listen.h"
#include "dohstub/local.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/proxy.h"
#include "dohstub/ratelimit.h"
#include "dohstub/tls.h"
#include "dohstub/upstream.h"

enum query_state {
	Q_DOH,
	Q_FALLBACK,
	Q_FOLLOW,	/* waits on its leader's request */
};
static const char *const query_state_names[] = {
	"doh", "fallback", "follow",
};

/* Queries waiting on one upstream request, beyond the one that asks. */
#define PROXY_MAX_FOLLOWERS	64
/* Buckets of the table of queries in flight, by key (a power of 2). */
#define PROXY_FLIGHT_BUCKETS	1024
/* Prefetch entries with a TTL of at least this, in their last tenth. */
#define PROXY_PREFETCH_MIN_TTL	10
/*
 * Hedges are paid for: each query sent over DoH earns one token, a hedge
 * costs PROXY_HEDGE_COST, and at most PROXY_HEDGE_BURST are saved.  So
 * at most one query in ten is hedged over time, whatever happens to the
 * servers, with room for a burst (a connection dying under a few
 * queries).
 */
#define PROXY_HEDGE_COST	10
#define PROXY_HEDGE_BURST	(20 * PROXY_HEDGE_COST)

/*
 * A forward rule's servers: names at or below its zone go there and
 * nowhere else, whatever the mode (a plain rule is the user's exception
 * to encrypted-only), and never fall back to the default servers.
 */
struct route {
	struct upside			*up;
	const struct config_forward	*rule;
	char				 zone[DNS_MAX_NAME_TEXT];
	struct upstreams		*upstreams;	/* a DoH rule's */
	struct plain			*plain;		/* a plain rule's */
};

struct upside {
	TAILQ_ENTRY(upside)	 entry;	/* proxy's dead list, once unused */
	struct proxy		*px;
	unsigned		 refs;	/* current: 1, plus 1 per query */
	const struct config	*cfg;
	struct config		*owned;	/* freed with it (reloads) */
	SSL_CTX			*ssl_ctx;
	struct plain		*bootstrap;
	struct plain		*fallback;	/* NULL in encrypted-only */
	struct upstreams	*upstreams;	/* NULL in plaintext */
	struct route		*routes;	/* one per cfg->forward */
	size_t			 nroutes;
};

/*
 * Room in a pooled query object.  Queries are a header, a question and
 * an OPT record, padded (RFC 8467) to a multiple of 128: far below this.
 * A longer one (a long name with a large padding-block) gets an object
 * of its own, freed after use.
 */
#define QUERY_ROOM	DNS_UDP_PLAIN_MAX
/* The longest built query: name, header, OPT, padding (padding-block). */
#define QUERY_MAX	1024

/* EDE text on answers that came over plain DNS: no silent downgrade. */
#define PROXY_PLAIN_TEXT	"answered over unencrypted DNS"

struct query;

/* One DoH request of a query: its first, a retry after a failure, or a
 * hedge (the same query to a second upstream while the first waits). */
struct query_try {
	struct query		*q;
	struct doh_req		*req;		/* NULL: none in flight */
	int			 upstream;	/* index */
	int			 hedge;
};

struct query {
	TAILQ_ENTRY(query)	 entry;		/* queries, or spare */
	struct proxy		*px;
	struct upside		*up;	/* referenced */
	const struct route	*route;	/* of up, by the name; NULL: none */
	struct listen_peer	*peer;	/* &px->bgpeer once in the background */
	enum query_state	 state;
	struct dns_query_info	 qi;
	struct query_try	 tries[2];	/* in flight at once, at most */
	uint32_t		 tried;		/* upstreams asked: 1 << i */
	struct plain_req	*plain;
	struct clock_timer	 timer;
	struct clock_timer	 hedge_timer;
	struct clock_timer	 stale_timer;	/* serve-stale-timeout */
	uint32_t		 hash;		/* of the key */
	int			 in_flight;	/* listed in px->flight */
	LIST_ENTRY(query)	 fentry;	/* px->flight, leaders only */
	struct query		*leader;	/* Q_FOLLOW */
	TAILQ_HEAD(, query)	 followers;
	TAILQ_ENTRY(query)	 follow;	/* leader->followers */
	size_t			 nfollowers;
	int			 client;	/* px->clients slot, or -1 */
	size_t			 cap;		/* room in msg */
	size_t			 len;
	uint8_t			 msg[];		/* the query, ID 0 */
};

struct proxy {
	struct event_base	*base;
	const struct config	*cfg;		/* current */
	struct listener		*listener;
	struct upside		*up;		/* current */
	TAILQ_HEAD(, upside)	 dead;		/* unused, to be freed */
	struct event		*reaper;
	TAILQ_HEAD(, query)	 queries;
	TAILQ_HEAD(, query)	 spare;		/* free, cap QUERY_ROOM */
	size_t			 nspare;
	struct proxy_stats	 stats;
	struct cache		*cache;		/* NULL: cache-size 0 */
	struct cache_policy	 cache_pol;
	LIST_HEAD(, query)	 flight[PROXY_FLIGHT_BUCKETS];
	struct listen_peer	 bgpeer;	/* answers go nowhere */
	unsigned		 hedge_tokens;
	/* Queries in flight by source. */
	struct ratelimit_clients *clients;
	struct ratelimit	*rl;		/* NULL: ratelimit 0 */
	uint64_t		 rl_evictions_past;	/* of replaced tables */
	uint64_t		 seed;		/* of their hashes */
	/* proxy_on_settled(): checked from the loop, told once. */
	struct event		*settle;
	proxy_settled_cb	*settled_cb;
	void			*settled_arg;
	uint8_t			 buf[DNS_MAX_MSG];	/* answers being sent */
};

/* Answers that came over plain DNS are kept this long at most (s). */
#define PROXY_PLAIN_MAX_TTL	60

const unsigned proxy_latency_bounds[PROXY_LATENCY_BUCKETS] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
};

static void	query_doh(struct query *);
static void	query_fallback(struct query *);
static void	query_servfail(struct query *, int, const char *);
static void	upside_unref(struct upside *);

/* The forward rule of up for qi's name, or NULL. */
static const struct route *
upside_route(const struct upside *up, const struct dns_query_info *qi)
{
	const struct config_forward *f;

	if (up->nroutes == 0 || (f = config_find_forward(up->cfg, qi->qname,
	    qi->qname_len)) == NULL)
		return NULL;
	return &up->routes[f - up->cfg->forward];
}

/*
 * Where q is sent: its route's servers if it has one, else the default
 * ones.  Every use on the query path goes through these two.  NULL: no
 * DoH (plaintext mode, a plain rule), or no plain DNS (encrypted-only,
 * a DoH rule).
 */
static struct upstreams *
query_upstreams(const struct query *q)
{
	return q->route != NULL ? q->route->upstreams : q->up->upstreams;
}

static struct plain *
query_plain(const struct query *q)
{
	return q->route != NULL ? q->route->plain : q->up->fallback;
}

/* Its names' answers come over plain DNS by the user's choice. */
static int
route_is_plain(const struct route *r)
{
	return r != NULL && r->plain != NULL;
}

/* The counter of answers to q from src: a rule's are its own path. */
static uint64_t *
query_path(const struct query *q, enum cache_source src)
{
	struct proxy_stats *s = &q->px->stats;

	if (src == CACHE_SRC_PLAIN)
		return q->route != NULL ? &s->answered_forward_plain :
		    &s->answered_fallback;
	return q->route != NULL ? &s->answered_forward_doh : &s->answered_doh;
}

static void
bg_respond(struct listen_peer *peer, const uint8_t *msg, size_t len)
{
	(void)peer;
	(void)msg;
	(void)len;
}

static void
bg_release(struct listen_peer *peer)
{
	(void)peer;
}

static const struct listen_peer_ops bg_ops = { bg_respond, bg_release };

/* The same key as the cache's (dnsmsg_key_hash()). */
static int
key_equal(const struct dns_query_info *a, const struct dns_query_info *b)
{
	return a->qtype == b->qtype && a->qclass == b->qclass &&
	    a->edns_do == b->edns_do &&
	    ((a->flags ^ b->flags) & DNS_FLAG_CD) == 0 &&
	    dnsmsg_name_equal(a->qname, a->qname_len, b->qname, b->qname_len);
}

/* The query asking upstream for qi's key under up, or NULL. */
static struct query *
flight_find(struct proxy *px, const struct dns_query_info *qi,
    uint32_t hash, const struct upside *up)
{
	struct query *q;

	LIST_FOREACH(q, &px->flight[hash & (PROXY_FLIGHT_BUCKETS - 1)],
	    fentry)
		if (q->hash == hash && q->up == up && key_equal(&q->qi, qi))
			return q;
	return NULL;
}

/* An object with room for len bytes: a spare one if it fits. */
static struct query *
query_get(struct proxy *px, size_t len)
{
	struct query *q;

	if (len <= QUERY_ROOM && (q = TAILQ_FIRST(&px->spare)) != NULL) {
		TAILQ_REMOVE(&px->spare, q, entry);
		px->nspare--;
		memset(q, 0, offsetof(struct query, msg));
		q->cap = QUERY_ROOM;
		TAILQ_INIT(&q->followers);
		return q;
	}
	if (len < QUERY_ROOM)
		len = QUERY_ROOM;
	if ((q = calloc(1, offsetof(struct query, msg) + len)) == NULL)
		return NULL;
	q->cap = len;
	TAILQ_INIT(&q->followers);
	return q;
}

static void
query_put(struct proxy *px, struct query *q)
{
	if (q->cap == QUERY_ROOM && px->nspare < px->cfg->max_pending) {
		TAILQ_INSERT_HEAD(&px->spare, q, entry);
		px->nspare++;
	} else
		free(q);
}

/* Give up every DoH request of q (their streams are reset: CANCEL). */
static void
query_cancel_doh(struct query *q)
{
	size_t k;

	for (k = 0; k < sizeof(q->tries) / sizeof(q->tries[0]); k++)
		if (q->tries[k].req != NULL) {
			doh_cancel(q->tries[k].req);
			q->tries[k].req = NULL;
		}
	clock_timer_del(&q->hedge_timer);
}

static void
query_free(struct query *q)
{
	struct proxy *px = q->px;

	query_cancel_doh(q);
	if (q->plain != NULL)
		plain_cancel(q->plain);
	clock_timer_del(&q->timer);
	clock_timer_del(&q->stale_timer);
	if (q->in_flight)
		LIST_REMOVE(q, fentry);
	if (q->leader != NULL) {
		TAILQ_REMOVE(&q->leader->followers, q, follow);
		q->leader->nfollowers--;
	}
	TAILQ_REMOVE(&px->queries, q, entry);
	px->stats.pending--;
	if (q->client >= 0) {
		ratelimit_clients_release(px->clients, q->client);
		px->stats.pending_sources =
		    ratelimit_clients_sources(px->clients);
	}
	q->peer->ops->release(q->peer);
	upside_unref(q->up);
	query_put(px, q);
}

/*
 * Send px->buf (len bytes, an answer to qi with qi's ID) to peer, cut to
 * fit UDP, and count it under *path unless it had to become a SERVFAIL.
 */
static void
proxy_respond(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, unsigned edns_max, size_t len,
    uint64_t *path)
{
	size_t n = len, limit;

	if (peer == &px->bgpeer)
		return;		/* a refresh: the cache was the point */
	if (peer->transport == LISTEN_UDP) {
		limit = dnsmsg_udp_limit(qi, edns_max);
		if ((n = dnsmsg_truncate(px->buf, len, limit, qi)) == 0) {
			n = dnsmsg_make_error(px->buf, sizeof(px->buf), qi,
			    DNS_RCODE_SERVFAIL);
			px->stats.servfail++;
			path = NULL;
		} else if (n < len)
			px->stats.truncated++;
	}
	if (path != NULL)
		(*path)++;
	if (n > 0) {
		px->stats.rcodes[dnsmsg_rcode(px->buf)]++;
		peer->ops->respond(peer, px->buf, n);
	}
}

/*
 * An upstream answer (msg, len bytes, checked) rewritten for q's client
 * and sent, with EDE 0 if it came over plain DNS; an answer that cannot
 * be rewritten (an extended rcode in its OPT) becomes a SERVFAIL.
 */
static void
query_answer_one(struct query *q, const uint8_t *msg, size_t len,
    enum cache_source src, uint64_t *path)
{
	struct proxy *px = q->px;
	const struct config *cfg = q->up->cfg;
	int ede = src == CACHE_SRC_PLAIN ? DNS_EDE_OTHER : -1;
	size_t n;

	if (q->peer == &px->bgpeer)
		return;
	if ((n = dnsmsg_rewrite_answer(msg, len, px->buf, sizeof(px->buf),
	    &q->qi, (uint16_t)cfg->edns_udp_size, ede,
	    PROXY_PLAIN_TEXT)) == 0) {
		px->stats.servfail++;
		px->stats.rcodes[DNS_RCODE_SERVFAIL]++;
		if ((n = dnsmsg_make_error(px->buf, sizeof(px->buf), &q->qi,
		    DNS_RCODE_SERVFAIL)) > 0)
			q->peer->ops->respond(q->peer, px->buf, n);
		return;
	}
	if (ede >= 0 && q->qi.has_edns)
		px->stats.ede[ede]++;
	proxy_respond(px, q->peer, &q->qi, cfg->edns_udp_size, n, path);
}

/*
 * The leader's answer to each of its followers, rewritten for each: the
 * key matched, so the question is the same but for case, and whether
 * the follower sent EDNS may differ.
 */
static void
query_answer_followers(struct query *q, const uint8_t *msg, size_t len,
    enum cache_source src, uint64_t *path)
{
	struct query *f;

	while ((f = TAILQ_FIRST(&q->followers)) != NULL) {
		query_answer_one(f, msg, len, src, path);
		query_free(f);
	}
}

/*
 * A cached answer in px->buf (n bytes) that came over plain DNS says so
 * to a client that sent EDNS, as it did when it was first relayed.
 */
static size_t
proxy_mark_plain(struct proxy *px, const struct dns_query_info *qi,
    const struct cache_hit *hit, size_t n)
{
	size_t m;

	if (hit->source != CACHE_SRC_PLAIN || !qi->has_edns)
		return n;
	if ((m = dnsmsg_add_ede(px->buf, n, sizeof(px->buf), DNS_EDE_OTHER,
	    PROXY_PLAIN_TEXT)) == 0)
		return n;
	px->stats.ede[DNS_EDE_OTHER]++;
	return m;
}

/*
 * An expired entry for q inside the serve-stale window (or a fresh one,
 * if another query has refreshed it meanwhile), to q's client and its
 * followers.  Returns 1 if there was one; q is not freed.
 */
static int
query_serve_stale(struct query *q)
{
	struct proxy *px = q->px;
	const struct config *cfg = q->up->cfg;
	struct cache_hit hit;
	struct query *f, *next;
	size_t n;
	int served = 0;

	if (px->cache == NULL || cfg->serve_stale_ms == 0 ||
	    q->peer == &px->bgpeer || q->up != px->up)
		return 0;
	for (f = q; f != NULL; f = next) {
		next = f == q ? TAILQ_FIRST(&q->followers) :
		    TAILQ_NEXT(f, follow);
		/* Fresh by now (another query refreshed it) is better. */
		/* Plain answers only where plain DNS is the way: plaintext
		 * mode, a plain rule's names. */
		if ((n = cache_lookup(px->cache, &f->qi, clock_ms(),
		    cfg->serve_stale_ms, q->up->upstreams == NULL ||
		    route_is_plain(q->route),
		    (uint16_t)cfg->edns_udp_size, px->buf, sizeof(px->buf),
		    &hit)) == 0)
			break;
		n = proxy_mark_plain(px, &f->qi, &hit, n);
		proxy_respond(px, f->peer, &f->qi, cfg->edns_udp_size, n,
		    hit.stale ? &px->stats.stale_answers :
		    &px->stats.cache_hits);
		served = 1;
		if (f != q)
			query_free(f);
	}
	return served;
}

/*
 * Keep msg (an answer to q that passed the checks) in the cache, then
 * send it to the client (any ID) and count it under *path.
 */
static void
query_answer(struct query *q, const uint8_t *msg, size_t len,
    enum cache_source src, uint64_t *path)
{
	struct proxy *px = q->px;
	enum cache_verdict v;

	/* Only the current configuration's answers: a reload may have
	 * changed the mode or the upstreams, and emptied the cache. */
	if (px->cache != NULL && q->up == px->up &&
	    (v = cache_store(px->cache, &q->qi, msg, len, src, clock_ms(),
	    &px->cache_pol)) != CACHE_STORED)
		log_debug("answer not cached: %s", cache_verdict_names[v]);
	query_answer_one(q, msg, len, src, path);
	query_answer_followers(q, msg, len, src, path);
	query_free(q);
}

/* A SERVFAIL to q and its followers, with EDE ede and why as its text. */
static void
query_servfail(struct query *q, int ede, const char *why)
{
	struct proxy *px = q->px;
	struct query *f;
	char name[DNS_MAX_NAME_TEXT], type[16];
	size_t n;

	if (log_getlevel() >= LOG_LEVEL_DEBUG) {
		(void)dnsmsg_name_to_text(q->qi.qname, q->qi.qname_len, name,
		    sizeof(name), 0);
		log_debug("%s %s: SERVFAIL (%s)", name,
		    dnsmsg_type_str(q->qi.qtype, type, sizeof(type)), why);
	}
	if (q->peer != &px->bgpeer && !query_serve_stale(q)) {
		px->stats.servfail++;
		px->stats.rcodes[DNS_RCODE_SERVFAIL]++;
		if (q->qi.has_edns)
			px->stats.ede[ede]++;
		if ((n = dnsmsg_make_error_ede(px->buf, sizeof(px->buf),
		    &q->qi, DNS_RCODE_SERVFAIL, ede, why)) > 0)
			q->peer->ops->respond(q->peer, px->buf, n);
	}
	while ((f = TAILQ_FIRST(&q->followers)) != NULL)
		query_servfail(f, ede, why);
	query_free(q);
}

/*
 * DoH could not answer q: the mode decides what happens next.  Whether
 * no server could be reached or none answered in time, the client hears
 * EDE 22 (No Reachable Authority), the text saying which.
 */
static void
query_doh_failed(struct query *q, const char *why)
{
	if (query_plain(q) != NULL)
		query_fallback(q);
	else
		query_servfail(q, DNS_EDE_NO_REACHABLE, why);
}

static void
query_timeout_cb(void *arg)
{
	struct query *q = arg;
	size_t k;

	log_debug("query timed out in state %s", query_state_names[q->state]);
	if (q->state == Q_DOH) {
		for (k = 0; k < 2; k++)
			if (q->tries[k].req != NULL)
				upstream_result(query_upstreams(q),
				    (size_t)q->tries[k].upstream, 0);
		query_cancel_doh(q);
		q->px->stats.doh_errors++;
		q->px->stats.doh_error_kinds[DOH_ERR_TIMEOUT]++;
		query_doh_failed(q, "DoH timed out");
	} else
		query_servfail(q, DNS_EDE_NO_REACHABLE, q->route != NULL ?
		    "forward servers timed out" : "fallback timed out");
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
	struct query_try *t = arg, *other;
	struct query *q = t->q;
	struct proxy *px = q->px;
	struct upstreams *u = query_upstreams(q);
	int ok;

	t->req = NULL;
	other = &q->tries[t == &q->tries[0] ? 1 : 0];
	ok = res == DOH_OK && dnsmsg_check_answer(resp->body, resp->len,
	    &q->qi) == 0;
	if (res != DOH_ERR_SHUTDOWN)
		upstream_result(u, (size_t)t->upstream, ok);
	if (ok) {
		/* The first answer wins; the other request is reset, and
		 * its upstream, slower than its hedge delay, ranks lower. */
		if (other->req != NULL) {
			doh_cancel(other->req);
			other->req = NULL;
			if (t->hedge)
				upstream_result(u, (size_t)other->upstream, 0);
		}
		if (t->hedge) {
			upstream_hedged(u, (size_t)t->upstream, 1);
			px->stats.hedge_wins++;
		}
		proxy_latency(px, clock_ms() - resp->submit_ms);
		query_answer(q, resp->body, resp->len, CACHE_SRC_DOH,
		    query_path(q, CACHE_SRC_DOH));
		return;
	}
	px->stats.doh_errors++;
	px->stats.doh_error_kinds[res]++;
	log_debug("upstream %s: %s (HTTP status %d)",
	    doh_name(upstream_get(u, (size_t)t->upstream)),
	    res == DOH_OK ? "answer does not match the query" :
	    doh_result_names[res], resp->status);
	if (res == DOH_ERR_SHUTDOWN) {
		query_servfail(q, DNS_EDE_NOT_READY, "shutting down");
		return;
	}
	/* The other request may still answer. */
	if (other->req == NULL)
		query_doh(q);
}

/*
 * Send q to the best upstream it has not asked yet, as try t.  Returns
 * -1 if there is none left.
 */
static int
query_send(struct query *q, struct query_try *t, int hedge)
{
	struct upstreams *u = query_upstreams(q);
	int i;

	while ((i = upstream_pick(u, q->tried)) >= 0) {
		q->tried |= 1u << i;
		if ((t->req = doh_submit(upstream_get(u, (size_t)i), q->msg,
		    q->len, doh_done, t)) != NULL) {
			t->q = q;
			t->upstream = i;
			t->hedge = hedge;
			return 0;
		}
		upstream_result(u, (size_t)i, 0);
	}
	return -1;
}

/*
 * Past its upstream's hedge delay, q (if still unanswered, and if the
 * budget allows) is sent to the next-best upstream as well.
 */
static void
query_hedge_cb(void *arg)
{
	struct query *q = arg;
	struct proxy *px = q->px;
	struct query_try *t;

	if (q->state != Q_DOH)
		return;
	/* tries[0] holds the request in flight (query_doh() puts it
	 * there), so the hedge goes in tries[1]. */
	t = &q->tries[1];
	if (q->tries[0].req == NULL || t->req != NULL)
		return;
	if (px->hedge_tokens < PROXY_HEDGE_COST) {
		px->stats.hedges_denied++;
		return;
	}
	if (query_send(q, t, 1) == -1)
		return;
	px->hedge_tokens -= PROXY_HEDGE_COST;
	px->stats.hedges++;
	upstream_hedged(query_upstreams(q), (size_t)t->upstream, 0);
	log_debug("query hedged to %s",
	    doh_name(upstream_get(query_upstreams(q), (size_t)t->upstream)));
}

/*
 * Send q over DoH to the best upstream not asked yet (nothing of q is in
 * flight), and arm its hedge.  The first time, fastest may also send a
 * measuring copy elsewhere.
 */
static void
query_doh(struct query *q)
{
	struct upstreams *u = query_upstreams(q);
	struct query_try *t = &q->tries[0];
	int first = q->tried == 0;
	unsigned d;

	q->state = Q_DOH;
	if (query_send(q, t, 0) == -1) {
		query_doh_failed(q, "no DoH upstream reachable");
		return;
	}
	if (first) {
		upstream_explore(u, t->upstream, q->msg, q->len);
		if (q->px->hedge_tokens < PROXY_HEDGE_BURST)
			q->px->hedge_tokens++;
	}
	if ((d = upstream_hedge_delay(u, (size_t)t->upstream)) > 0)
		clock_timer_add(&q->hedge_timer, d);
}

static void
plain_done(int status, const uint8_t *ans, size_t len, void *arg)
{
	struct query *q = arg;

	q->plain = NULL;
	if (status == 0 && dnsmsg_check_answer(ans, len, &q->qi) == 0) {
		query_answer(q, ans, len, CACHE_SRC_PLAIN,
		    query_path(q, CACHE_SRC_PLAIN));
	} else
		query_servfail(q, DNS_EDE_NO_REACHABLE, q->route != NULL ?
		    "no answer from the forward servers" :
		    "no answer from the fallback servers");
}

static void
query_fallback(struct query *q)
{
	const struct config *cfg = q->up->cfg;
	size_t n = q->route != NULL ? q->route->rule->nservers :
	    cfg->nfallback;

	q->state = Q_FALLBACK;
	clock_timer_del(&q->hedge_timer);
	q->plain = plain_forward(query_plain(q), q->msg, q->len, plain_done,
	    q);
	if (q->plain == NULL) {
		query_servfail(q, DNS_EDE_NO_REACHABLE,
		    "cannot send to the plain DNS servers");
		return;
	}
	/* c-ares gives up by itself; this is only a backstop. */
	clock_timer_add(&q->timer, cfg->timeout_ms * (unsigned)(n + 1));
}

/* serve-stale-timeout: the client gets a stale answer, the query goes on. */
static void
query_stale_cb(void *arg)
{
	struct query *q = arg;
	struct proxy *px = q->px;

	if (q->peer == &px->bgpeer || !query_serve_stale(q))
		return;
	log_debug("stale answer served; the refresh goes on");
	q->peer->ops->release(q->peer);
	q->peer = &px->bgpeer;
}

enum start_result {
	START_OK,
	START_FULL,		/* max-pending, or memory is short */
	START_CLIENT_FULL,	/* src's max-pending-per-client */
};

/*
 * A query object for qi (hash, route: upside_route()'s under px->up) from
 * peer: a leader that asks upstream, or, when leader is not NULL, a
 * follower waiting on it.  It counts against src (NULL: against no one)
 * until it ends.
 */
static enum start_result
query_start(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, uint32_t hash, struct query *leader,
    const struct ratelimit_key *src, const struct route *route)
{
	const struct config *cfg = px->cfg;
	struct query *q;
	uint8_t built[QUERY_MAX];
	size_t len;
	int slot = -1;

	if (px->stats.pending >= cfg->max_pending)
		return START_FULL;
	if (src != NULL && cfg->max_pending_client != 0 &&
	    (slot = ratelimit_clients_take(px->clients, src,
	    cfg->max_pending_client)) == -1)
		return START_CLIENT_FULL;
	/* RFC 8484 4.1: ID 0 keeps DoH answers cacheable. */
	if ((len = dnsmsg_make_upstream_query(built, sizeof(built), qi,
	    (uint16_t)cfg->edns_udp_size, cfg->padding_block)) == 0 ||
	    (q = query_get(px, len)) == NULL) {
		ratelimit_clients_release(px->clients, slot);
		return START_FULL;
	}
	q->client = slot;
	if (slot >= 0)
		px->stats.pending_sources =
		    ratelimit_clients_sources(px->clients);
	q->px = px;
	q->up = px->up;
	q->up->refs++;
	q->route = route;
	q->peer = peer;
	q->qi = *qi;
	q->hash = hash;
	q->len = len;
	memcpy(q->msg, built, len);
	clock_timer_init(&q->timer, px->base, query_timeout_cb, q);
	clock_timer_init(&q->hedge_timer, px->base, query_hedge_cb, q);
	clock_timer_init(&q->stale_timer, px->base, query_stale_cb, q);
	TAILQ_INSERT_TAIL(&px->queries, q, entry);
	px->stats.pending++;
	if (leader != NULL) {
		q->state = Q_FOLLOW;
		q->leader = leader;
		TAILQ_INSERT_TAIL(&leader->followers, q, follow);
		leader->nfollowers++;
		px->stats.coalesced++;
		return START_OK;
	}
	LIST_INSERT_HEAD(&px->flight[hash & (PROXY_FLIGHT_BUCKETS - 1)], q,
	    fentry);
	q->in_flight = 1;
	if (px->cache != NULL && cfg->serve_stale_ms > 0 &&
	    peer != &px->bgpeer)
		clock_timer_add(&q->stale_timer, cfg->serve_stale_timeout_ms);
	if (query_upstreams(q) == NULL) {
		query_fallback(q);
		return START_OK;
	}
	clock_timer_add(&q->timer, cfg->timeout_ms);
	query_doh(q);
	return START_OK;
}

/*
 * Answer qi from the cache if it can.  Answers that came over plain DNS
 * count only while DoH cannot be had (and always in plaintext mode, and
 * for the names of a plain forward rule, which only has those).  A
 * hit in the last tenth of a TTL of PROXY_PREFETCH_MIN_TTL or more starts
 * a refresh in the background, unless the key is asked already; it
 * counts against src, the client whose hit started it.
 * Returns 1 if it answered (and released peer).
 */
static int
proxy_cache_hit(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, uint32_t hash,
    const struct ratelimit_key *src, const struct route *route)
{
	const struct config *cfg = px->cfg;
	struct upside *up = px->up;
	struct cache_hit hit;
	size_t n;
	int allow_plain;

	if (route != NULL)
		allow_plain = route_is_plain(route);
	else
		allow_plain = up->upstreams == NULL || (up->fallback != NULL &&
		    !upstream_usable(up->upstreams));
	/* The serve-stale window keeps an expired entry for later; for
	 * now it is a miss. */
	if ((n = cache_lookup(px->cache, qi, clock_ms(), cfg->serve_stale_ms,
	    allow_plain, (uint16_t)cfg->edns_udp_size, px->buf,
	    sizeof(px->buf), &hit)) == 0 || hit.stale) {
		px->stats.cache_misses++;
		return 0;
	}
	n = proxy_mark_plain(px, qi, &hit, n);
	proxy_respond(px, peer, qi, cfg->edns_udp_size, n,
	    &px->stats.cache_hits);
	peer->ops->release(peer);
	if (cfg->prefetch && hit.ttl_orig >= PROXY_PREFETCH_MIN_TTL &&
	    (uint64_t)hit.ttl_left * 10 <= hit.ttl_orig &&
	    flight_find(px, qi, hash, up) == NULL &&
	    query_start(px, &px->bgpeer, qi, hash, NULL, src, route) ==
	    START_OK)
		px->stats.prefetches++;
	return 1;
}

/*
 * Answer qi on the host if it is a local name or against query policy
 * (local.h): such a query never goes upstream.  1 if answered.
 */
static int
proxy_local(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi)
{
	enum local_verdict v;
	size_t n;

	if ((v = local_answer(qi, px->cfg, px->buf, sizeof(px->buf), &n)) ==
	    LOCAL_FORWARD)
		return 0;
	if (v == LOCAL_ZONE)
		px->stats.answered_local++;
	else
		px->stats.policy++;
	/* At most 512 bytes: no UDP limit to apply. */
	if (n > 0) {
		px->stats.rcodes[dnsmsg_rcode(px->buf)]++;
		peer->ops->respond(peer, px->buf, n);
	}
	peer->ops->release(peer);
	return 1;
}

/*
 * An error answer made here, to a query that got no query object: rcode
 * with EDE ede (none if -1) and text for a client that sent EDNS,
 * counted; peer is released.
 */
static void
proxy_error(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, int rcode, int ede, const char *text)
{
	size_t n;

	px->stats.rcodes[rcode]++;
	if (ede >= 0 && qi->has_edns)
		px->stats.ede[ede]++;
	if ((n = dnsmsg_make_error_ede(px->buf, sizeof(px->buf), qi, rcode,
	    ede, text)) > 0)
		peer->ops->respond(peer, px->buf, n);
	peer->ops->release(peer);
}

/*
 * Access control (allow, deny): a client it refuses gets REFUSED with
 * EDE 18 (Prohibited), before anything else happens, so it can never
 * cause upstream traffic.  Returns 1 if peer may ask.
 */
static int
proxy_acl(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi)
{
	struct addr a;

	if (addr_set(&a, (const struct sockaddr *)&peer->addr,
	    peer->addrlen) == 0 && config_acl_allows(px->cfg, &a))
		return 1;
	px->stats.refused_acl++;
	proxy_error(px, peer, qi, DNS_RCODE_REFUSED, DNS_EDE_PROHIBITED, NULL);
	return 0;
}

/*
 * The rate limit (ratelimit Q): a UDP query past its source's Q a second
 * gets an empty answer with TC=1, no larger than the query, so that a
 * real client asks again over TCP, which a spoofed source cannot; or
 * nothing (ratelimit-action drop).  TCP is not limited.  Returns 1 if
 * peer may go on.
 */
static int
proxy_ratelimit(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi)
{
	const struct ratelimit_stats *rs;
	struct ratelimit_key k;
	size_t n;
	int ok;

	if (px->rl == NULL || peer->transport != LISTEN_UDP ||
	    ratelimit_key_set(&k, (const struct sockaddr *)&peer->addr,
	    peer->addrlen, RATELIMIT_V6_BITS) == -1)
		return 1;
	ok = ratelimit_allow(px->rl, &k, px->cfg->ratelimit, clock_ms());
	rs = ratelimit_stats(px->rl);
	px->stats.ratelimit_entries = rs->entries;
	/* A counter: tables a reload replaced keep their share. */
	px->stats.ratelimit_evictions = px->rl_evictions_past +
	    rs->evictions;
	if (ok)
		return 1;
	if (px->cfg->ratelimit_drop)
		px->stats.ratelimit_drop++;
	else {
		px->stats.ratelimit_tc++;
		if ((n = dnsmsg_make_error(px->buf, sizeof(px->buf), qi,
		    DNS_RCODE_NOERROR)) > 0) {
			px->buf[2] |= DNS_FLAG_TC >> 8;
			px->stats.rcodes[DNS_RCODE_NOERROR]++;
			peer->ops->respond(peer, px->buf, n);
		}
	}
	peer->ops->release(peer);
	return 0;
}

/* SERVFAIL with EDE 0 and why: no slot for qi (max-pending and its
 * per-client share).  14 (Not Ready) would say we are starting up. */
static void
proxy_over_limit(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, const char *why)
{
	px->stats.servfail++;
	proxy_error(px, peer, qi, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, why);
}

static void
proxy_query_cb(struct listen_peer *peer, const uint8_t *msg, size_t len,
    void *arg)
{
	struct proxy *px = arg;
	struct dns_query_info qi;
	enum dns_verdict verdict;
	struct query *leader;
	struct ratelimit_key srckey;
	const struct ratelimit_key *src = NULL;
	const struct route *route;
	uint32_t hash;
	int rcode;

	if (peer->transport == LISTEN_UDP)
		px->stats.queries_udp++;
	else
		px->stats.queries_tcp++;
	verdict = dnsmsg_parse_query(msg, len, &qi);
	if (verdict != DNS_VERDICT_DROP && (!proxy_acl(px, peer, &qi) ||
	    !proxy_ratelimit(px, peer, &qi)))
		return;
	switch (verdict) {
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
		proxy_error(px, peer, &qi, rcode, -1, NULL);
		return;
	}
	if (proxy_local(px, peer, &qi))
		return;
	/* The client is its address, whole: a cap is no use against
	 * many addresses, but keeps one client from taking every slot. */
	if (ratelimit_key_set(&srckey, (const struct sockaddr *)&peer->addr,
	    peer->addrlen, 128) == 0)
		src = &srckey;
	hash = dnsmsg_key_hash(&qi);
	/* The forward rule of the name, if any: looked up once. */
	route = upside_route(px->up, &qi);
	if (px->cache != NULL && proxy_cache_hit(px, peer, &qi, hash, src,
	    route))
		return;
	/* The same question already upstream: wait for its answer. */
	if ((leader = flight_find(px, &qi, hash, px->up)) != NULL &&
	    leader->nfollowers >= PROXY_MAX_FOLLOWERS)
		leader = NULL;
	switch (query_start(px, peer, &qi, hash, leader, src, route)) {
	case START_OK:
		return;
	case START_CLIENT_FULL:
		px->stats.over_client_limit++;
		proxy_over_limit(px, peer, &qi,
		    "too many queries in flight from this client");
		return;
	case START_FULL:
	default:
		px->stats.over_limit++;
		proxy_over_limit(px, peer, &qi, "too many queries in flight");
		return;
	}
}

/*
 * Whether the upstream side has settled: looked at from the loop, after
 * the change that may settle it is complete (a client is told it
 * connected before it counts as ready).
 */
static void
proxy_settle_check(struct proxy *px)
{
	if (px->settled_cb != NULL)
		event_active(px->settle, 0, 0);
}

static void
settle_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proxy *px = arg;
	proxy_settled_cb *cb = px->settled_cb;

	(void)fd;
	(void)ev;
	if (cb == NULL || !proxy_settled(px))
		return;
	px->settled_cb = NULL;
	cb(px->settled_arg);
}

static void
proxy_connected_cb(struct doh_client *c, const struct doh_conn_info *info,
    void *arg)
{
	struct upside *up = arg;

	(void)c;
	(void)info;
	if (up == up->px->up)
		proxy_settle_check(up->px);
}

static void
proxy_health_cb(int usable, void *arg)
{
	struct upside *up = arg;
	struct proxy *px = up->px;

	if (up != px->up)
		return;		/* an old configuration's upstreams */
	proxy_settle_check(px);
	if (usable) {
		log_info("DoH upstream reachable%s", up->fallback != NULL ?
		    ": plain DNS fallback off" : "");
		/* Plain answers are not served once DoH works again. */
		if (px->cache != NULL && up->fallback != NULL)
			cache_flush_source(px->cache, CACHE_SRC_PLAIN);
		return;
	}
	if (up->fallback != NULL) {
		px->stats.fallback_activations++;
		log_warnx("no DoH upstream reachable: falling back to plain "
		    "DNS");
	} else
		log_warnx("no DoH upstream reachable: answering SERVFAIL");
}

static void
route_health_cb(int usable, void *arg)
{
	struct route *r = arg;

	if (r->up != r->up->px->up)
		return;
	if (usable)
		log_info("forward %s: DoH server reachable", r->zone);
	else
		log_warnx("forward %s: no DoH server reachable: its names get "
		    "SERVFAIL", r->zone);
}

static void
upside_free(struct upside *up)
{
	size_t i;

	if (up == NULL)
		return;
	for (i = 0; i < up->nroutes; i++) {
		upstream_free(up->routes[i].upstreams);
		plain_free(up->routes[i].plain);
	}
	free(up->routes);
	upstream_free(up->upstreams);
	plain_free(up->bootstrap);
	plain_free(up->fallback);
	SSL_CTX_free(up->ssl_ctx);
	if (up->owned != NULL) {
		config_free(up->owned);
		free(up->owned);
	}
	free(up);
}

static void
reaper_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proxy *px = arg;
	struct upside *up;

	(void)fd;
	(void)ev;
	while ((up = TAILQ_FIRST(&px->dead)) != NULL) {
		TAILQ_REMOVE(&px->dead, up, entry);
		upside_free(up);
	}
}

/*
 * The last reference may go from inside a callback of one of its own
 * upstreams: the reaper frees it from the event loop instead.
 */
static void
upside_unref(struct upside *up)
{
	struct proxy *px = up->px;

	if (--up->refs > 0)
		return;
	TAILQ_INSERT_TAIL(&px->dead, up, entry);
	event_active(px->reaper, 0, 0);
}

/*
 * The servers of each forward rule.  A plain rule's are named at warning
 * level: plaintext leaves the host for its zone, by the user's choice.
 */
static int
upside_routes(struct upside *up)
{
	const struct config *cfg = up->cfg;
	const struct config_forward *f;
	struct upstream_opts opts;
	struct route *r;
	char list[CONFIG_MAX_FORWARD_TARGETS * (ADDR_STRLEN + 1)];
	char a[ADDR_STRLEN];
	size_t i, j, used;

	if (cfg->nforward == 0)
		return 0;
	if ((up->routes = calloc(cfg->nforward, sizeof(*up->routes))) ==
	    NULL) {
		log_warn("proxy");
		return -1;
	}
	up->nroutes = cfg->nforward;
	for (i = 0; i < cfg->nforward; i++) {
		r = &up->routes[i];
		f = r->rule = &cfg->forward[i];
		r->up = up;
		(void)dnsmsg_name_to_text(f->zone.name, f->zone.len, r->zone,
		    sizeof(r->zone), 0);
		if (f->doh) {
			memset(&opts, 0, sizeof(opts));
			opts.list = f->upstream;
			opts.nlist = f->nupstream;
			if ((r->upstreams = upstream_new_opts(up->px->base, cfg,
			    up->ssl_ctx, up->bootstrap, &opts, route_health_cb,
			    r)) == NULL) {
				log_warnx("forward %s: cannot set up its DoH "
				    "servers", r->zone);
				return -1;
			}
			continue;
		}
		if ((r->plain = plain_new(up->px->base, f->servers,
		    f->nservers, cfg->timeout_ms, 1)) == NULL) {
			log_warnx("forward %s: cannot set up its servers",
			    r->zone);
			return -1;
		}
		for (list[0] = '\0', used = 0, j = 0; j < f->nservers; j++)
			used += (size_t)snprintf(list + used,
			    sizeof(list) - used, "%s%s", j > 0 ? " " : "",
			    addr_str(&f->servers[j], a, sizeof(a)));
		log_warnx("forward %s: plain DNS to %s: these names leave the "
		    "host unencrypted", r->zone, list);
	}
	return 0;
}

/* Everything cfg's upstream side needs, connecting nothing yet. */
static struct upside *
upside_new(struct proxy *px, const struct config *cfg)
{
	struct upside *up;
	struct tls_opts topts;
	char err[256];
	size_t i;
	int doh = cfg->mode != MODE_PLAINTEXT;

	if ((up = calloc(1, sizeof(*up))) == NULL) {
		log_warn("proxy");
		return NULL;
	}
	up->px = px;
	up->refs = 1;
	up->cfg = cfg;
	/* DoH rules are allowed in plaintext mode too. */
	for (i = 0; i < cfg->nforward; i++)
		doh |= cfg->forward[i].doh;
	if (doh) {
		memset(&topts, 0, sizeof(topts));
		topts.ca_file = cfg->ca_file;
		topts.min_version = cfg->tls_min_version;
		if ((up->ssl_ctx = tls_ctx_new(&topts, err, sizeof(err))) ==
		    NULL) {
			log_warnx("%s", err);
			goto fail;
		}
		if (cfg->nbootstrap > 0 && (up->bootstrap = plain_new(px->base,
		    cfg->bootstrap, cfg->nbootstrap, cfg->timeout_ms, 2)) ==
		    NULL) {
			log_warnx("cannot set up the bootstrap servers");
			goto fail;
		}
	}
	if (upside_routes(up) == -1)
		goto fail;
	if (cfg->mode != MODE_ENCRYPTED_ONLY &&
	    (up->fallback = plain_new(px->base, cfg->fallback, cfg->nfallback,
	    cfg->timeout_ms, 1)) == NULL) {
		log_warnx("cannot set up the fallback servers");
		goto fail;
	}
	if (cfg->mode == MODE_PLAINTEXT)
		return up;
	if ((up->upstreams = upstream_new(px->base, cfg, up->ssl_ctx,
	    up->bootstrap, proxy_health_cb, up)) == NULL) {
		log_warnx("cannot set up the upstreams");
		goto fail;
	}
	return up;
 fail:
	upside_free(up);
	return NULL;
}

static void
proxy_cache_policy(struct proxy *px, const struct config *cfg)
{
	px->cache_pol.min_ttl = cfg->cache_min_ttl_ms / 1000;
	px->cache_pol.max_ttl = cfg->cache_max_ttl_ms / 1000;
	px->cache_pol.max_negative_ttl = cfg->cache_max_negative_ttl_ms / 1000;
	px->cache_pol.servfail_ttl = cfg->cache_servfail_ttl_ms / 1000;
	px->cache_pol.plain_max_ttl = PROXY_PLAIN_MAX_TTL;
}

/* The same DoH URLs in the same order. */
static int
same_urls(const struct config_upstream *a, size_t na,
    const struct config_upstream *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (strcmp(a[i].url, b[i].url) != 0)
			return 0;
	return 1;
}

static int
same_forward(const struct config_forward *a, const struct config_forward *b)
{
	return dnsmsg_name_equal(a->zone.name, a->zone.len, b->zone.name,
	    b->zone.len) && a->doh == b->doh &&
	    same_urls(a->upstream, a->nupstream, b->upstream, b->nupstream) &&
	    addr_list_eq(a->servers, a->nservers, b->servers, b->nservers);
}

/* Do a and b send queries the same way, so answers stay valid? */
static int
same_upstream_side(const struct config *a, const struct config *b)
{
	/* encrypted-only has no fallback channel: its list is not used. */
	int fb = a->mode != MODE_ENCRYPTED_ONLY;
	size_t i;

	if (a->mode != b->mode ||
	    !same_urls(a->upstream, a->nupstream, b->upstream, b->nupstream) ||
	    (fb && !addr_list_eq(a->fallback, a->nfallback, b->fallback,
	    b->nfallback)))
		return 0;
	if (a->nforward != b->nforward)
		return 0;
	for (i = 0; i < a->nforward; i++)
		if (!same_forward(&a->forward[i], &b->forward[i]))
			return 0;
	return 1;
}

struct proxy *
proxy_new(struct event_base *base, const struct config *cfg)
{
	struct proxy *px;
	size_t i;

	if ((px = calloc(1, sizeof(*px))) == NULL) {
		log_warn("proxy");
		return NULL;
	}
	px->base = base;
	px->cfg = cfg;
	TAILQ_INIT(&px->queries);
	TAILQ_INIT(&px->spare);
	TAILQ_INIT(&px->dead);
	for (i = 0; i < PROXY_FLIGHT_BUCKETS; i++)
		LIST_INIT(&px->flight[i]);
	px->bgpeer.ops = &bg_ops;
	px->bgpeer.transport = LISTEN_TCP;	/* no UDP size rule */
	px->hedge_tokens = PROXY_HEDGE_BURST;
	proxy_cache_policy(px, cfg);
	arc4random_buf(&px->seed, sizeof(px->seed));
	if ((px->clients = ratelimit_clients_new(cfg->max_pending,
	    px->seed)) == NULL ||
	    (cfg->ratelimit > 0 && (px->rl = ratelimit_new(cfg->ratelimit_size,
	    px->seed)) == NULL) ||
	    (cfg->cache_size > 0 &&
	    (px->cache = cache_new(cfg->cache_size)) == NULL) ||
	    (px->reaper = event_new(base, -1, 0, reaper_cb, px)) == NULL ||
	    (px->listener = listen_new(base, cfg, proxy_query_cb, px)) ==
	    NULL || (px->up = upside_new(px, cfg)) == NULL) {
		proxy_free(px);
		return NULL;
	}
	return px;
}

static void
upside_start(struct upside *up)
{
	size_t i;

	if (up->upstreams != NULL) {
		for (i = 0; i < upstream_count(up->upstreams); i++)
			doh_set_connected_cb(upstream_get(up->upstreams, i),
			    proxy_connected_cb, up);
		upstream_start(up->upstreams);
	}
	for (i = 0; i < up->nroutes; i++)
		if (up->routes[i].upstreams != NULL)
			upstream_start(up->routes[i].upstreams);
}

int
proxy_reload(struct proxy *px, struct config *cfg)
{
	struct upside *up, *old;
	struct cache *cache = NULL;
	struct ratelimit *rl = NULL;
	int resized = cfg->cache_size != px->cfg->cache_size;
	/* A new rate limit table when it is turned on or resized; its
	 * sources are forgotten then, and only then. */
	int new_rl = cfg->ratelimit > 0 && (px->rl == NULL ||
	    cfg->ratelimit_size != px->cfg->ratelimit_size);

	/* The new upstream side first: it has no effect until swapped in. */
	if ((up = upside_new(px, cfg)) == NULL)
		return -1;
	if (resized && cfg->cache_size > 0 &&
	    (cache = cache_new(cfg->cache_size)) == NULL) {
		log_warnx("cannot make a cache of %u bytes", cfg->cache_size);
		upside_free(up);
		return -1;
	}
	/* More room for sources is harmless if what follows fails. */
	if (ratelimit_clients_grow(px->clients, cfg->max_pending) == -1 ||
	    (new_rl && (rl = ratelimit_new(cfg->ratelimit_size, px->seed)) ==
	    NULL)) {
		log_warnx("cannot make the per-source tables");
		cache_free(cache);
		upside_free(up);
		return -1;
	}
	if (listen_update(px->listener, cfg) == -1) {
		ratelimit_free(rl);
		cache_free(cache);
		upside_free(up);
		return -1;
	}
	if (new_rl || cfg->ratelimit == 0) {
		if (px->rl != NULL)
			px->rl_evictions_past +=
			    ratelimit_stats(px->rl)->evictions;
		ratelimit_free(px->rl);
		px->rl = rl;
		px->stats.ratelimit_entries = 0;
	}
	/* A new cache if its size changed, emptied if the mode or the
	 * upstreams did: its answers came the old way. */
	if (resized) {
		cache_free(px->cache);
		px->cache = cache;
	} else if (px->cache != NULL && !same_upstream_side(px->cfg, cfg)) {
		log_info("mode, upstreams or forward rules changed: cache "
		    "emptied");
		cache_flush(px->cache);
	}
	proxy_cache_policy(px, cfg);
	up->owned = cfg;
	old = px->up;
	px->up = up;
	px->cfg = cfg;
	upside_start(up);
	upside_unref(old);
	proxy_settle_check(px);
	return 0;
}

void
proxy_start(struct proxy *px)
{
	upside_start(px->up);
	proxy_settle_check(px);
}

int
proxy_on_settled(struct proxy *px, proxy_settled_cb *cb, void *arg)
{
	if (px->settle == NULL &&
	    (px->settle = event_new(px->base, -1, 0, settle_cb, px)) == NULL)
		return -1;
	px->settled_cb = cb;
	px->settled_arg = arg;
	return 0;
}

const struct proxy_stats *
proxy_stats(const struct proxy *px)
{
	return &px->stats;
}

/*
 * The set holding upstream i of proxy_upstream_count()'s numbering (the
 * default ones, then each DoH rule's), *i made an index into it; *route
 * the rule's, or NULL.
 */
static struct upstreams *
proxy_upstream_set(const struct proxy *px, size_t *i,
    const struct route **route)
{
	const struct upside *up = px->up;
	struct upstreams *u;
	size_t r, n;

	*route = NULL;
	if (up->upstreams != NULL) {
		if (*i < (n = upstream_count(up->upstreams)))
			return up->upstreams;
		*i -= n;
	}
	for (r = 0; r < up->nroutes; r++) {
		if ((u = up->routes[r].upstreams) == NULL)
			continue;
		if (*i < (n = upstream_count(u))) {
			*route = &up->routes[r];
			return u;
		}
		*i -= n;
	}
	return NULL;
}

size_t
proxy_upstream_count(const struct proxy *px)
{
	const struct upside *up = px->up;
	size_t r, n;

	n = up->upstreams != NULL ? upstream_count(up->upstreams) : 0;
	for (r = 0; r < up->nroutes; r++)
		if (up->routes[r].upstreams != NULL)
			n += upstream_count(up->routes[r].upstreams);
	return n;
}

void
proxy_upstream_info(const struct proxy *px, size_t i,
    struct proxy_upstream_info *info)
{
	const struct route *route;
	struct upstreams *u = proxy_upstream_set(px, &i, &route);
	struct doh_client *c = upstream_get(u, i);

	info->url = route != NULL ? route->rule->upstream[i].url :
	    px->cfg->upstream[i].url;
	info->zone = route != NULL ? route->zone : NULL;
	info->state = doh_state_names[doh_get_state(c)];
	info->last_error = doh_last_error(c);
	info->pending = doh_pending(c);
	upstream_info(u, i, &info->more);
}

size_t
proxy_tcp_clients(const struct proxy *px)
{
	return listen_tcp_clients(px->listener);
}

int
proxy_settled(const struct proxy *px)
{
	struct upstreams *u = px->up->upstreams;

	return u == NULL || proxy_unhealthy(px) == NULL || !upstream_usable(u);
}

const char *
proxy_unhealthy(const struct proxy *px)
{
	size_t i;

	struct upstreams *u = px->up->upstreams;

	if (u == NULL)
		return NULL;	/* plaintext: the fallback servers answer */
	/* Idle: left closed after a long quiet spell, a query connects. */
	for (i = 0; i < upstream_count(u); i++)
		if (doh_get_state(upstream_get(u, i)) == DOH_READY ||
		    doh_get_state(upstream_get(u, i)) == DOH_IDLE)
			return NULL;
	return px->up->fallback != NULL ?
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
	    "fallback_activations=%llu pending=%llu cache_hits=%llu "
	    "cache_misses=%llu stale_answers=%llu prefetches=%llu "
	    "coalesced=%llu answered_local=%llu policy=%llu "
	    "refused_acl=%llu answered_forward_doh=%llu "
	    "answered_forward_plain=%llu over_client_limit=%llu "
	    "ratelimit_tc=%llu ratelimit_drop=%llu "
	    "ratelimit_entries=%llu ratelimit_evictions=%llu "
	    "pending_sources=%llu",
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
	    (unsigned long long)s->pending,
	    (unsigned long long)s->cache_hits,
	    (unsigned long long)s->cache_misses,
	    (unsigned long long)s->stale_answers,
	    (unsigned long long)s->prefetches,
	    (unsigned long long)s->coalesced,
	    (unsigned long long)s->answered_local,
	    (unsigned long long)s->policy,
	    (unsigned long long)s->refused_acl,
	    (unsigned long long)s->answered_forward_doh,
	    (unsigned long long)s->answered_forward_plain,
	    (unsigned long long)s->over_client_limit,
	    (unsigned long long)s->ratelimit_tc,
	    (unsigned long long)s->ratelimit_drop,
	    (unsigned long long)s->ratelimit_entries,
	    (unsigned long long)s->ratelimit_evictions,
	    (unsigned long long)s->pending_sources);
}

void
proxy_stop(struct proxy *px)
{
	struct query *q;

	while ((q = TAILQ_FIRST(&px->queries)) != NULL)
		query_servfail(q, DNS_EDE_NOT_READY, "shutting down");
}

void
proxy_free(struct proxy *px)
{
	struct query *q;

	if (px == NULL)
		return;
	proxy_stop(px);
	while ((q = TAILQ_FIRST(&px->spare)) != NULL) {
		TAILQ_REMOVE(&px->spare, q, entry);
		free(q);
	}
	/* Every query is gone: only the proxy holds the current upside. */
	upside_free(px->up);
	if (px->reaper != NULL) {
		reaper_cb(-1, 0, px);
		event_free(px->reaper);
	}
	if (px->settle != NULL)
		event_free(px->settle);
	listen_free(px->listener);
	cache_free(px->cache);
	ratelimit_free(px->rl);
	ratelimit_clients_free(px->clients);
	free(px);
}

const struct cache_stats *
proxy_cache_stats(const struct proxy *px)
{
	return px->cache != NULL ? cache_stats(px->cache) : NULL;
}

void
proxy_network_changed(struct proxy *px)
{
	struct upside *up = px->up;
	size_t i;

	px->stats.network_changes++;
	log_debug("network changed: checking the upstream connections");
	if (up->upstreams != NULL)
		upstream_network_changed(up->upstreams);
	for (i = 0; i < up->nroutes; i++)
		if (up->routes[i].upstreams != NULL)
			upstream_network_changed(up->routes[i].upstreams);
}
