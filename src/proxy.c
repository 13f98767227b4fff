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
 * of them), and gets the leader's answer rewritten for it.  A fresh hit in the last tenth of its
 * TTL starts one background query (no client: the "background peer")
 * that refreshes the entry.  With serve-stale, a query that cannot be
 * answered, or that is still unanswered after serve-stale-timeout, gets
 * an expired entry if one is inside the window, and a query answered so
 * goes on in the background to refresh it (RFC 8767).
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

struct query {
	TAILQ_ENTRY(query)	 entry;		/* queries, or spare */
	struct proxy		*px;
	struct upside		*up;	/* referenced */
	struct listen_peer	*peer;	/* &px->bgpeer once in the background */
	enum query_state	 state;
	struct dns_query_info	 qi;
	struct doh_req		*doh;
	struct plain_req	*plain;
	struct clock_timer	 timer;
	struct clock_timer	 stale_timer;	/* serve-stale-timeout */
	uint32_t		 hash;		/* of the key */
	int			 in_flight;	/* listed in px->flight */
	LIST_ENTRY(query)	 fentry;	/* px->flight, leaders only */
	struct query		*leader;	/* Q_FOLLOW */
	TAILQ_HEAD(, query)	 followers;
	TAILQ_ENTRY(query)	 follow;	/* leader->followers */
	size_t			 nfollowers;
	int			 upstream;	/* index of the current try */
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
	uint8_t			 buf[DNS_MAX_MSG];	/* answers being sent */
};

/* Answers that came over plain DNS are kept this long at most (s). */
#define PROXY_PLAIN_MAX_TTL	60

const unsigned proxy_latency_bounds[PROXY_LATENCY_BUCKETS] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
};

static void	query_doh(struct query *, int);
static void	query_fallback(struct query *);
static void	query_servfail(struct query *, int, const char *);
static void	upside_unref(struct upside *);

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

static void
query_free(struct query *q)
{
	struct proxy *px = q->px;

	if (q->doh != NULL)
		doh_cancel(q->doh);
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
		if ((n = cache_lookup(px->cache, &f->qi, clock_ms(),
		    cfg->serve_stale_ms, 0, (uint16_t)cfg->edns_udp_size,
		    px->buf, sizeof(px->buf), &hit)) == 0)
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
	if (q->up->fallback != NULL)
		query_fallback(q);
	else
		query_servfail(q, DNS_EDE_NO_REACHABLE, why);
}

static void
query_timeout_cb(void *arg)
{
	struct query *q = arg;

	log_debug("query timed out in state %s", query_state_names[q->state]);
	if (q->state == Q_DOH) {
		doh_cancel(q->doh);
		q->doh = NULL;
		q->px->stats.doh_errors++;
		q->px->stats.doh_error_kinds[DOH_ERR_TIMEOUT]++;
		query_doh_failed(q, "DoH timed out");
	} else
		query_servfail(q, DNS_EDE_NO_REACHABLE, "fallback timed out");
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
		proxy_latency(px, clock_ms() - resp->submit_ms);
		query_answer(q, resp->body, resp->len, CACHE_SRC_DOH,
		    &px->stats.answered_doh);
		return;
	}
	px->stats.doh_errors++;
	px->stats.doh_error_kinds[res]++;
	log_debug("upstream %s: %s (HTTP status %d)",
	    doh_name(upstream_get(q->up->upstreams, (size_t)q->upstream)),
	    res == DOH_OK ? "answer does not match the query" :
	    doh_result_names[res], resp->status);
	if (res == DOH_ERR_SHUTDOWN) {
		query_servfail(q, DNS_EDE_NOT_READY, "shutting down");
		return;
	}
	query_doh(q, q->upstream + 1);
}

/* Try the usable upstreams from index from on. */
static void
query_doh(struct query *q, int from)
{
	int i;

	q->state = Q_DOH;
	for (i = upstream_next(q->up->upstreams, (size_t)from); i >= 0;
	    i = upstream_next(q->up->upstreams, (size_t)i + 1)) {
		q->doh = doh_submit(upstream_get(q->up->upstreams, (size_t)i),
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
		query_answer(q, ans, len, CACHE_SRC_PLAIN,
		    &q->px->stats.answered_fallback);
	} else
		query_servfail(q, DNS_EDE_NO_REACHABLE,
		    "no answer from the fallback servers");
}

static void
query_fallback(struct query *q)
{
	const struct config *cfg = q->up->cfg;

	q->state = Q_FALLBACK;
	q->plain = plain_forward(q->up->fallback, q->msg, q->len, plain_done,
	    q);
	if (q->plain == NULL) {
		query_servfail(q, DNS_EDE_NO_REACHABLE,
		    "cannot send to the fallback servers");
		return;
	}
	/* c-ares gives up by itself; this is only a backstop. */
	clock_timer_add(&q->timer, cfg->timeout_ms *
	    (unsigned)(cfg->nfallback + 1));
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

/*
 * A query object for qi (hash) from peer: a leader that asks upstream,
 * or, when leader is not NULL, a follower waiting on it.  Returns -1 if
 * max-pending is reached or memory is short.
 */
static int
query_start(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, uint32_t hash, struct query *leader)
{
	const struct config *cfg = px->cfg;
	struct query *q;
	uint8_t built[QUERY_MAX];
	size_t len;

	if (px->stats.pending >= cfg->max_pending)
		return -1;
	/* RFC 8484 4.1: ID 0 keeps DoH answers cacheable. */
	if ((len = dnsmsg_make_upstream_query(built, sizeof(built), qi,
	    (uint16_t)cfg->edns_udp_size, cfg->padding_block)) == 0 ||
	    (q = query_get(px, len)) == NULL)
		return -1;
	q->px = px;
	q->up = px->up;
	q->up->refs++;
	q->peer = peer;
	q->qi = *qi;
	q->hash = hash;
	q->len = len;
	memcpy(q->msg, built, len);
	clock_timer_init(&q->timer, px->base, query_timeout_cb, q);
	clock_timer_init(&q->stale_timer, px->base, query_stale_cb, q);
	TAILQ_INSERT_TAIL(&px->queries, q, entry);
	px->stats.pending++;
	if (leader != NULL) {
		q->state = Q_FOLLOW;
		q->leader = leader;
		TAILQ_INSERT_TAIL(&leader->followers, q, follow);
		leader->nfollowers++;
		px->stats.coalesced++;
		return 0;
	}
	LIST_INSERT_HEAD(&px->flight[hash & (PROXY_FLIGHT_BUCKETS - 1)], q,
	    fentry);
	q->in_flight = 1;
	if (px->cache != NULL && cfg->serve_stale_ms > 0 &&
	    peer != &px->bgpeer)
		clock_timer_add(&q->stale_timer, cfg->serve_stale_timeout_ms);
	if (q->up->upstreams == NULL) {
		query_fallback(q);
		return 0;
	}
	clock_timer_add(&q->timer, cfg->timeout_ms);
	query_doh(q, 0);
	return 0;
}

/*
 * Answer qi from the cache if it can.  Answers that came over plain DNS
 * count only while DoH cannot be had (and always in plaintext mode).  A
 * hit in the last tenth of a TTL of PROXY_PREFETCH_MIN_TTL or more starts
 * a refresh in the background, unless the key is asked already.
 * Returns 1 if it answered (and released peer).
 */
static int
proxy_cache_hit(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, uint32_t hash)
{
	const struct config *cfg = px->cfg;
	struct upside *up = px->up;
	struct cache_hit hit;
	size_t n;
	int allow_plain;

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
	    query_start(px, &px->bgpeer, qi, hash, NULL) == 0)
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
 * Access control (allow, deny): a client it refuses gets REFUSED with
 * EDE 18 (Prohibited), before anything else happens, so it can never
 * cause upstream traffic.  Returns 1 if peer may ask.
 */
static int
proxy_acl(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi)
{
	struct addr a;
	size_t n;

	if (addr_set(&a, (const struct sockaddr *)&peer->addr,
	    peer->addrlen) == 0 && config_acl_allows(px->cfg, &a))
		return 1;
	px->stats.refused_acl++;
	px->stats.rcodes[DNS_RCODE_REFUSED]++;
	if (qi->has_edns)
		px->stats.ede[DNS_EDE_PROHIBITED]++;
	if ((n = dnsmsg_make_error_ede(px->buf, sizeof(px->buf), qi,
	    DNS_RCODE_REFUSED, DNS_EDE_PROHIBITED, NULL)) > 0)
		peer->ops->respond(peer, px->buf, n);
	peer->ops->release(peer);
	return 0;
}

static void
proxy_query_cb(struct listen_peer *peer, const uint8_t *msg, size_t len,
    void *arg)
{
	struct proxy *px = arg;
	struct dns_query_info qi;
	enum dns_verdict verdict;
	struct query *leader;
	uint32_t hash;
	size_t n;
	int rcode;

	if (peer->transport == LISTEN_UDP)
		px->stats.queries_udp++;
	else
		px->stats.queries_tcp++;
	verdict = dnsmsg_parse_query(msg, len, &qi);
	if (verdict != DNS_VERDICT_DROP && !proxy_acl(px, peer, &qi))
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
		px->stats.rcodes[rcode]++;
		if ((n = dnsmsg_make_error(px->buf, sizeof(px->buf), &qi,
		    rcode)) > 0)
			peer->ops->respond(peer, px->buf, n);
		peer->ops->release(peer);
		return;
	}
	if (proxy_local(px, peer, &qi))
		return;
	hash = dnsmsg_key_hash(&qi);
	if (px->cache != NULL && proxy_cache_hit(px, peer, &qi, hash))
		return;
	/* The same question already upstream: wait for its answer. */
	if ((leader = flight_find(px, &qi, hash, px->up)) != NULL &&
	    leader->nfollowers >= PROXY_MAX_FOLLOWERS)
		leader = NULL;
	if (query_start(px, peer, &qi, hash, leader) == 0)
		return;
	/* EDE 0 with a text: 14 (Not Ready) would say we are starting up. */
	px->stats.over_limit++;
	px->stats.servfail++;
	px->stats.rcodes[DNS_RCODE_SERVFAIL]++;
	if (qi.has_edns)
		px->stats.ede[DNS_EDE_OTHER]++;
	if ((n = dnsmsg_make_error_ede(px->buf, sizeof(px->buf), &qi,
	    DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "too many queries in flight")) >
	    0)
		peer->ops->respond(peer, px->buf, n);
	peer->ops->release(peer);
}

static void
proxy_health_cb(int usable, void *arg)
{
	struct upside *up = arg;
	struct proxy *px = up->px;

	if (up != px->up)
		return;		/* an old configuration's upstreams */
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
upside_free(struct upside *up)
{
	if (up == NULL)
		return;
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

/* Everything cfg's upstream side needs, connecting nothing yet. */
static struct upside *
upside_new(struct proxy *px, const struct config *cfg)
{
	struct upside *up;
	struct tls_opts topts;
	char err[256];

	if ((up = calloc(1, sizeof(*up))) == NULL) {
		log_warn("proxy");
		return NULL;
	}
	up->px = px;
	up->refs = 1;
	up->cfg = cfg;
	if (cfg->mode != MODE_ENCRYPTED_ONLY &&
	    (up->fallback = plain_new(px->base, cfg->fallback, cfg->nfallback,
	    cfg->timeout_ms, 1)) == NULL) {
		log_warnx("cannot set up the fallback servers");
		goto fail;
	}
	if (cfg->mode == MODE_PLAINTEXT)
		return up;

	memset(&topts, 0, sizeof(topts));
	topts.ca_file = cfg->ca_file;
	topts.min_version = cfg->tls_min_version;
	if ((up->ssl_ctx = tls_ctx_new(&topts, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		goto fail;
	}
	if (cfg->nbootstrap > 0 && (up->bootstrap = plain_new(px->base,
	    cfg->bootstrap, cfg->nbootstrap, cfg->timeout_ms, 2)) == NULL) {
		log_warnx("cannot set up the bootstrap servers");
		goto fail;
	}
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

/* Do a and b send queries the same way, so answers stay valid? */
static int
same_upstream_side(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->mode != b->mode || a->nupstream != b->nupstream ||
	    a->nfallback != b->nfallback)
		return 0;
	for (i = 0; i < a->nupstream; i++)
		if (strcmp(a->upstream[i].url, b->upstream[i].url) != 0)
			return 0;
	for (i = 0; i < a->nfallback; i++)
		if (!addr_eq(&a->fallback[i], &b->fallback[i]))
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
	proxy_cache_policy(px, cfg);
	if ((cfg->cache_size > 0 &&
	    (px->cache = cache_new(cfg->cache_size)) == NULL) ||
	    (px->reaper = event_new(base, -1, 0, reaper_cb, px)) == NULL ||
	    (px->listener = listen_new(base, cfg, proxy_query_cb, px)) ==
	    NULL || (px->up = upside_new(px, cfg)) == NULL) {
		proxy_free(px);
		return NULL;
	}
	return px;
}

int
proxy_reload(struct proxy *px, struct config *cfg)
{
	struct upside *up, *old;
	struct cache *cache = NULL;
	int resized = cfg->cache_size != px->cfg->cache_size;

	/* The new upstream side first: it has no effect until swapped in. */
	if ((up = upside_new(px, cfg)) == NULL)
		return -1;
	if (resized && cfg->cache_size > 0 &&
	    (cache = cache_new(cfg->cache_size)) == NULL) {
		log_warnx("cannot make a cache of %u bytes", cfg->cache_size);
		upside_free(up);
		return -1;
	}
	if (listen_update(px->listener, cfg) == -1) {
		cache_free(cache);
		upside_free(up);
		return -1;
	}
	/* A new cache if its size changed, emptied if the mode or the
	 * upstreams did: its answers came the old way. */
	if (resized) {
		cache_free(px->cache);
		px->cache = cache;
	} else if (px->cache != NULL && !same_upstream_side(px->cfg, cfg)) {
		log_info("mode or upstreams changed: cache emptied");
		cache_flush(px->cache);
	}
	proxy_cache_policy(px, cfg);
	up->owned = cfg;
	old = px->up;
	px->up = up;
	px->cfg = cfg;
	if (up->upstreams != NULL)
		upstream_start(up->upstreams);
	upside_unref(old);
	return 0;
}

void
proxy_start(struct proxy *px)
{
	if (px->up->upstreams != NULL)
		upstream_start(px->up->upstreams);
}

const struct proxy_stats *
proxy_stats(const struct proxy *px)
{
	return &px->stats;
}

size_t
proxy_upstream_count(const struct proxy *px)
{
	return px->up->upstreams != NULL ? upstream_count(px->up->upstreams) :
	    0;
}

void
proxy_upstream_info(const struct proxy *px, size_t i,
    struct proxy_upstream_info *info)
{
	struct doh_client *c = upstream_get(px->up->upstreams, i);

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
	    "refused_acl=%llu",
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
	    (unsigned long long)s->refused_acl);
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
	listen_free(px->listener);
	cache_free(px->cache);
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
	px->stats.network_changes++;
	log_debug("network changed: checking the upstream connections");
	if (px->up->upstreams != NULL)
		upstream_network_changed(px->up->upstreams);
}
