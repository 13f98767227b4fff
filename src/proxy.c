/*
 * proxy: the core.  A client query goes down this list until something
 * answers it; from "slot" on it is a struct query, in one of the states
 * of enum query_state:
 *
 *	parse		not a query ------------------> dropped
 *	ACL		refused ----------------------> REFUSED, EDE 18
 *	rate limit	over (UDP only) --------------> TC=1 empty, or dropped
 *	validate	bad --------------------------> FORMERR / NOTIMP
 *			EDNS version above 0 ---------> BADVERS
 *	local		local zone, query policy -----> its answer
 *	route		the name's forward rule, looked up once
 *	cache		fresh hit --------------------> the entry (and, with
 *							prefetch, in the TTL's
 *							last tenth, a prefetch
 *							query)
 *	slot		max-pending, per client ------> SERVFAIL, EDE 0
 *	follow		key already asked upstream ---> Q_FOLLOW: the leader's
 *							answer, or its fate
 *	    |
 *	    +-- no DoH (plaintext mode, a plain rule) --> Q_FALLBACK
 *	    +-- a portal lease covers it ----------------> Q_PORTAL (before
 *							the cache; never
 *							cached, nor followed)
 *	    v
 *	Q_DOH		upstreams by policy, hedged; all failed or timeout:
 *			    a plain channel (fallback, plain rule): Q_FALLBACK
 *			    none (encrypted-only, DoH rule): SERVFAIL, EDE 22
 *	Q_FALLBACK	c-ares; no answer or timeout: SERVFAIL, EDE 22
 *	    |
 *	    v	(dnssec validate, the client's CD clear)
 *	Q_VALIDATE	the validator lacks a DS or DNSKEY: the answer waits
 *			(a copy kept) on a chain query, then is judged again;
 *			secure: AD for DO or AD clients; bogus: SERVFAIL with
 *			the validator's EDE, kept 60 s, never stale; more
 *			than VALIDATOR_MAX_NEEDS, or timeout: SERVFAIL
 *
 * With serve-stale, a SERVFAIL becomes an expired entry if one is in the
 * window, and so does a query still unanswered after
 * serve-stale-timeout, which then goes on to refresh the entry (RFC
 * 8767).  Every answer a client gets leaves through proxy_send(), which
 * cuts it for UDP, counts it by where it came from (enum proxy_source)
 * and tells the observer (the query log, the control socket's lookup).
 *
 * Not every query has a client (enum query_role): a prefetch refreshes
 * an entry near the end of its TTL, and a query whose client got a stale
 * answer refreshes it; they answer no one but their followers.  A chain
 * query (QUERY_CHAIN: a DS or DNSKEY the validator needs, DO and CD set,
 * routed like any name) answers the validator, then every validation
 * waiting on it goes on; it is in the flight table, so a second
 * validation needing the same record waits on the same query, but never
 * a client's (flight_find()), and its answer is never cached as one.
 *
 * In encrypted-only mode the fallback channel is never created, so no
 * client query can leave in plaintext whatever the code paths do, but
 * for the names of a plain forward rule: the exception the user wrote
 * down, sent only to that rule's own channel; and those a portal lease
 * covers (proxy.h), sent only to the upside's portal channel, which
 * exists only with captive-portal not off, and reached only through
 * portal_covers().  (The fallback channels' servers are the upside's: the
 * address servers themselves, then the fallback list for URL
 * upstreams.  A query goes plain to the address whose DoH endpoint it
 * tried first, to the fallback list if that was a URL upstream, and to
 * the first address server if it had no DoH upstream: query_plain(),
 * upside_plain().)
 *
 * A forward rule gives the names at or below its zone a route of their
 * own: its DoH set or its plain channel stands in for the default
 * upstreams and fallback, and there is no other (no fallback from a DoH
 * rule, no DoH for a plain one).  query_upstreams() and query_plain()
 * are the only ways to them.
 *
 * Everything built from the configuration's upstream side is one
 * "upside" (upside.h): a reload makes a new one, and queries in flight
 * keep the one they started with, freed when the last of them ends.
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
 * The cache: answers that came over plain DNS are served only while DoH
 * cannot be had (always in plaintext mode and for a plain rule's names).
 * A miss whose key (the cache's) is already being asked upstream waits
 * on that query, a "follower" of its "leader" (at most
 * PROXY_MAX_FOLLOWERS of them), and gets the leader's answer rewritten
 * for it.
 *
 * Fairness (ratelimit.h): every query object counts against the source
 * that caused it (a prefetch against the client whose hit started it)
 * until it ends, so one source holds at most max-pending-per-client of
 * the max-pending slots.  Cache hits and local answers take no slot.  The
 * rate limit comes before anything but access control, the cache
 * included: a hit amplifies as well.
 */
#include <sys/queue.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/cache.h"
#include "dohstub/clock.h"
#include "dohstub/discovery.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/doh.h"
#include "dohstub/listen.h"
#include "dohstub/local.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/policy.h"
#include "dohstub/proxy.h"
#include "dohstub/ratelimit.h"
#include "dohstub/upstream.h"
#include "dohstub/validator.h"

#include "upside.h"

enum query_state {
	Q_DOH,
	Q_FALLBACK,
	Q_FOLLOW,	/* waits on its leader's request */
	Q_PORTAL,	/* a portal lease's: the network's resolvers */
	Q_VALIDATE,	/* its answer waits on the chain of trust */
};
static const char *const query_state_names[] = {
	"doh", "fallback", "follow", "portal", "validate",
};

/*
 * The portal lease (proxy.h).  Only in encrypted-only with captive-portal
 * not off, where the upside has a portal channel; otherwise always
 * PORTAL_CLEAR.
 */
enum portal_state {
	PORTAL_CLEAR,		/* DoH up, or nothing said */
	PORTAL_UNREACHABLE,	/* ask: no DoH, said; nothing sent */
	PORTAL_SUSPECTED,	/* auto: no DoH; the probe was answered */
	PORTAL_LEASE,		/* a lease is open */
};
static const char *const portal_state_names[] = {
	"clear", "unreachable", "suspected", "lease",
};

/* auto's probe of the network's resolver: at most one per this (ms). */
#define PROXY_PORTAL_PROBE_MS	30000
/* TTLs of a lease's answers are cut to this (s); they are never cached. */
#define PROXY_PORTAL_MAX_TTL	10
#define PROXY_PORTAL_TEXT	"captive portal exception"

/*
 * The operating systems' connectivity-check names: all that an automatic
 * (captive-portal auto) lease resolves.  Exact names, not their
 * subdomains; dohstub.8 lists them.
 */
static const char *const portal_check_names[] = {
	/* NetworkManager (GNOME, Ubuntu, KDE builds) */
	"nmcheck.gnome.org",
	"connectivity-check.ubuntu.com",
	"networkcheck.kde.org",
	/* Firefox */
	"detectportal.firefox.com",
	/* Chrome, Android */
	"connectivitycheck.gstatic.com",
	"connectivitycheck.android.com",
	"clients3.google.com",
	/* Windows (NCSI) */
	"www.msftconnecttest.com",
	"ipv6.msftconnecttest.com",
	"www.msftncsi.com",
	"dns.msftncsi.com",
	/* Apple */
	"captive.apple.com",
};

/*
 * Who waits for a query's answer.  Only a client query has a peer; the
 * others keep the cache fresh and answer no one (but their followers,
 * which are clients).  The measuring copies of upstream-policy fastest
 * are no queries at all: upstream.c sends them, and only the servers'
 * times and health come of them.
 */
enum query_role {
	QUERY_CLIENT,		/* a client waits on its peer */
	QUERY_PREFETCH,		/* a hit near its TTL's end started it */
	QUERY_REFRESH,		/* its client got a stale answer meanwhile */
	QUERY_CHAIN,		/* a DS or DNSKEY the validator needs */
};
static const char *const query_role_names[] = {
	"client", "prefetch", "refresh", "chain",
};

/*
 * What a client is told of DNSSEC, kept with a cached answer
 * (cache_meta.dnssec_state): the state (enum proxy_dnssec) in the low 3
 * bits, the EDE + 1 above them (0: none).  PROXY_DNSSEC_NONE, 0, is what
 * cache_store() keeps.
 */
#define PD_MAKE(st, ede)	((uint8_t)((st) | ((ede) + 1) << 3))
#define PD_STATE(pd)		((enum proxy_dnssec)((pd) & 7))
#define PD_EDE(pd)		(((pd) >> 3) - 1)

/*
 * Names in the validator's store (validator.h): keys, DS sets, cuts.  A
 * host's zones in use are a few hundred; a DNSKEY set is a kilobyte or
 * two, VALIDATOR_SET_BYTES at most, so 16 MiB at worst.
 */
#define PROXY_VALIDATOR_ENTRIES	1024
/* The clock and stripping warnings: at most one per this (ms). */
#define PROXY_DNSSEC_LOG_MS	(10 * 60 * 1000)

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
	enum query_role		 role;
	struct listen_peer	*peer;	/* QUERY_CLIENT's; otherwise NULL */
	enum query_state	 state;
	struct dns_query_info	 qi;
	struct query_try	 tries[2];	/* in flight at once, at most */
	uint32_t		 tried;		/* upstreams asked: 1 << i */
	int			 first_up;	/* the first asked, or -1:
						   its plain channel */
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
	/*
	 * Q_VALIDATE: a copy of the answer being judged (owned), where it
	 * came from, what it may still spend, and the chain query it waits
	 * on (listed in its waiters).
	 */
	uint8_t			*vmsg;
	size_t			 vlen;
	enum cache_source	 vsrc;
	const char		*vurl;		/* q->up's, or NULL */
	unsigned		 budget;	/* signature checks left */
	unsigned		 needs;		/* chain queries waited on */
	struct query		*chain;
	TAILQ_ENTRY(query)	 wentry;	/* chain->waiters */
	TAILQ_HEAD(, query)	 waiters;	/* QUERY_CHAIN: validations */
	uint64_t		 start_us;	/* its client's query came;
						   0: no observer */
	size_t			 cap;		/* room in msg */
	size_t			 len;
	uint8_t			 msg[];		/* the query, ID 0 */
};

struct proxy {
	struct event_base	*base;
	const struct config	*cfg;		/* current */
	struct listener		*listener;
	struct upsides		 ups;		/* ups.current: cfg's */
	struct discovery	*disc;		/* cfg's address servers; NULL:
						   none, or plaintext */
	TAILQ_HEAD(, query)	 queries;
	TAILQ_HEAD(, query)	 spare;		/* free, cap QUERY_ROOM */
	size_t			 nspare;
	struct proxy_stats	 stats;
	struct cache		*cache;		/* NULL: cache-size 0 */
	struct cache_policy	 cache_pol;
	LIST_HEAD(, query)	 flight[PROXY_FLIGHT_BUCKETS];
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
	struct clock_timer	 resume_tick;	/* proxy_resume_check() */
	/* proxy_on_answer(): the observer, and when the query it may be
	 * told of came (0: no observer). */
	proxy_answer_cb		*answer_cb;
	void			*answer_arg;
	uint64_t		 rx_us;
	/* The portal lease: state, its scope and timers, the probe. */
	enum portal_state	 portal;
	int			 portal_all;	/* every name, not the checks */
	struct clock_timer	 portal_timer;	/* the lease's end */
	struct clock_timer	 probe_timer;	/* the next probe */
	struct plain_req	*probe;		/* in flight */
	struct upside		*probe_up;	/* whose channel it went on */
	uint64_t		 probe_ms;	/* last sent; 0: never */
	struct dns_query_info	 probe_qi;
	uint8_t			 probe_msg[32];
	size_t			 probe_len;
	uint64_t		 portal_end_ms;	/* the lease's, clock_ms() */
	/* dnssec validate: the chain's store (NULL: not validating). */
	struct validator	*validator;
	uint64_t		 sig_checks_past;	/* of replaced ones */
	uint64_t		 early_sigs_past;
	uint64_t		 clock_suspect;		/* last seen */
	uint64_t		 clock_log_ms;		/* last said, or 0 */
	uint64_t		 strip_log_ms;		/* last said, or 0 */
	int			 stopping;		/* proxy_stop() */
	uint8_t			 buf[DNS_MAX_MSG];	/* answers being sent */
	uint8_t			 sbuf[DNS_MAX_MSG];	/* answers stripped */
};

/*
 * How often an idle proxy looks for a resume; a query looks on its own
 * (two vDSO clock reads, no system call).  Live time: after a resume the
 * pending tick is due within this.  An open DoH session ticks at least
 * as often already, so the new wake-up is only an idle proxy's.
 */
#define PROXY_RESUME_TICK_MS	1000

/* Answers that came over plain DNS are kept this long at most (s). */
#define PROXY_PLAIN_MAX_TTL	60

const unsigned proxy_latency_bounds[PROXY_LATENCY_BUCKETS] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
};

static void	query_doh(struct query *);
static int	proxy_mark_plain(struct proxy *, const struct dns_query_info *,
		    const struct cache_hit *, size_t *);
static void	query_validate(struct query *, const uint8_t *, size_t);
static void	chain_done(struct query *, const uint8_t *, size_t);
static void	proxy_resume_tick_cb(void *);
static void	query_fallback(struct query *);
static void	query_servfail(struct query *, int, const char *);
static void	portal_check(struct proxy *);
static void	portal_clear(struct proxy *, const char *);

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
	/* Plain DNS to the address whose DoH endpoint was tried first. */
	return q->route != NULL ? q->route->plain :
	    upside_plain(q->up, q->first_up);
}

/* Its names' answers come over plain DNS by the user's choice. */
static int
route_is_plain(const struct route *r)
{
	return r != NULL && r->plain != NULL;
}

/* Where an upstream answer to q from src came: a rule's are its own. */
static enum proxy_source
query_source(const struct query *q, enum cache_source src)
{
	if (src == CACHE_SRC_PLAIN)
		return q->route != NULL ? PROXY_SRC_FORWARD_PLAIN :
		    PROXY_SRC_FALLBACK;
	return q->route != NULL ? PROXY_SRC_FORWARD_DOH : PROXY_SRC_DOH;
}

/* The URL of upstream i of q's DoH set. */
static const char *
query_upstream_url(const struct query *q, int i)
{
	if (i < 0)
		return NULL;
	return q->route != NULL ? q->route->rule->upstream[i].url :
	    q->up->list[i].url;
}

/* The same key as the cache's (dnsmsg_key_hash()). */
static int
key_equal(const struct dns_query_info *a, const struct dns_query_info *b)
{
	return a->qtype == b->qtype && a->qclass == b->qclass &&
	    a->edns_do == b->edns_do &&
	    ((a->flags ^ b->flags) & DNS_FLAG_CD) == 0 &&
	    dnsmsg_name_equal(a->qname, a->qname_len, b->qname, b->qname_len);
}

/*
 * The query asking upstream for qi's key under up, or NULL: a chain
 * query if chain, else a client's (or a prefetch).  The two never meet:
 * a chain query's answer is the validator's, not a client's.
 */
static struct query *
flight_find(struct proxy *px, const struct dns_query_info *qi,
    uint32_t hash, const struct upside *up, int chain)
{
	struct query *q;

	LIST_FOREACH(q, &px->flight[hash & (PROXY_FLIGHT_BUCKETS - 1)],
	    fentry)
		if (q->hash == hash && q->up == up &&
		    (q->role == QUERY_CHAIN) == chain &&
		    key_equal(&q->qi, qi))
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
		TAILQ_INIT(&q->waiters);
		return q;
	}
	if (len < QUERY_ROOM)
		len = QUERY_ROOM;
	if ((q = calloc(1, offsetof(struct query, msg) + len)) == NULL)
		return NULL;
	q->cap = len;
	TAILQ_INIT(&q->followers);
	TAILQ_INIT(&q->waiters);
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
	struct query *w;

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
	if (q->chain != NULL)
		TAILQ_REMOVE(&q->chain->waiters, q, wentry);
	/* chain_done() empties it; this is only a backstop: a waiter
	 * left alone ends on its own timer. */
	while ((w = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, w, wentry);
		w->chain = NULL;
	}
	free(q->vmsg);
	q->vmsg = NULL;
	TAILQ_REMOVE(&px->queries, q, entry);
	px->stats.pending--;
	if (q->client >= 0) {
		ratelimit_clients_release(px->clients, q->client);
		px->stats.pending_sources =
		    ratelimit_clients_sources(px->clients);
	}
	if (q->role == QUERY_CLIENT)
		q->peer->ops->release(q->peer);
	upside_unref(q->up);
	query_put(px, q);
}

const char *const proxy_source_names[PROXY_SRC_MAX] = {
	"error", "local", "policy", "cache", "stale", "doh", "forward-doh",
	"forward-plain", "fallback", "portal",
};
const char *const proxy_dnssec_names[PROXY_DNSSEC_MAX] = {
	"none", "unchecked", "secure", "insecure", "bogus",
};

/* The counter of answers from src; NULL: counted where they are made. */
static uint64_t *
source_counter(struct proxy_stats *s, enum proxy_source src)
{
	switch (src) {
	case PROXY_SRC_LOCAL:		return &s->answered_local;
	case PROXY_SRC_POLICY:		return &s->policy;
	case PROXY_SRC_CACHE:		return &s->cache_hits;
	case PROXY_SRC_STALE:		return &s->stale_answers;
	case PROXY_SRC_DOH:		return &s->answered_doh;
	case PROXY_SRC_FORWARD_DOH:	return &s->answered_forward_doh;
	case PROXY_SRC_FORWARD_PLAIN:	return &s->answered_forward_plain;
	case PROXY_SRC_FALLBACK:	return &s->answered_fallback;
	case PROXY_SRC_PORTAL:		return &s->portal_answers;
	case PROXY_SRC_ERROR:
	default:			return NULL;
	}
}

/*
 * The one way out: every answer a client gets is sent here.  px->buf
 * holds it (len bytes, an answer to qi with qi's ID); a UDP client gets
 * it cut to the size it can take (edns_max ours), or a SERVFAIL if it
 * cannot be cut.  *a says where it came from: a->source's counter counts
 * it unless it had to become a SERVFAIL (then PROXY_SRC_ERROR), a->ede
 * (-1: none) when the client sent EDNS, its rcode (the header's, or
 * a->rcode when that is an extended one the answer carries); then the
 * observer sees it, timed from start_us.  len 0 (no room to make it:
 * never with px->buf) sends nothing.
 */
static void
proxy_send(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, unsigned edns_max, size_t len,
    struct proxy_answer *a, uint64_t start_us)
{
	size_t n = len, limit;
	uint64_t *counter;

	if (len == 0)
		return;
	/* dnssec off: no answer claims to be authenticated. */
	if (px->cfg->dnssec == CONFIG_DNSSEC_OFF)
		(void)dnsmsg_set_ad(px->buf, len, 0);
	if (peer->transport == LISTEN_UDP) {
		limit = dnsmsg_udp_limit(qi, edns_max);
		if ((n = dnsmsg_truncate(px->buf, len, limit, qi)) == 0) {
			/* Ours now: none of the answer's EDE or verdict. */
			n = dnsmsg_make_error(px->buf, sizeof(px->buf), qi,
			    DNS_RCODE_SERVFAIL);
			px->stats.servfail++;
			a->source = PROXY_SRC_ERROR;
			a->ede = -1;
			a->dnssec = PROXY_DNSSEC_NONE;
		} else if (n < len)
			px->stats.truncated++;
	}
	if ((counter = source_counter(&px->stats, a->source)) != NULL)
		(*counter)++;
	if (n == 0)
		return;
	if (a->ede >= 0 && qi->has_edns)
		px->stats.ede[a->ede]++;
	/* An extended rcode is counted whole when it went out whole. */
	if (a->rcode < 16 || n != len)
		a->rcode = dnsmsg_rcode(px->buf);
	px->stats.rcodes[a->rcode]++;
	peer->ops->respond(peer, px->buf, n);
	if (px->answer_cb != NULL) {
		a->elapsed_us = start_us != 0 ? clock_us() - start_us : 0;
		px->answer_cb(peer, qi, px->buf, n, a, px->answer_arg);
	}
}

/* What proxy_send() needs of an answer made here or found locally. */
#define PROXY_ANSWER(src, ede_)						\
	(&(struct proxy_answer){ .source = (src), .ede = (ede_), .rcode = -1 })

/*
 * An error answer made here: rcode, with EDE ede (none if -1) and text
 * for a client that sent EDNS, to q (NULL: a query that got no query
 * object, just come), whose rule and first DoH upstream the observer
 * hears of, and the validation (PROXY_DNSSEC_BOGUS for a bogus answer's
 * SERVFAIL).  A SERVFAIL counts as one of ours.
 */
static void
proxy_send_error_dnssec(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, int rcode, int ede, const char *text,
    const struct query *q, enum proxy_dnssec dnssec)
{
	struct proxy_answer a = { .source = PROXY_SRC_ERROR, .ede = ede,
	    .rcode = rcode, .dnssec = dnssec };

	if (rcode == DNS_RCODE_SERVFAIL)
		px->stats.servfail++;
	if (q != NULL) {
		a.zone = q->route != NULL ? q->route->zone : NULL;
		a.upstream = query_upstream_url(q, q->first_up);
	}
	proxy_send(px, peer, qi, px->cfg->edns_udp_size,
	    dnsmsg_make_error_ede(px->buf, sizeof(px->buf), qi, rcode, ede,
	    text), &a, q != NULL ? q->start_us : px->rx_us);
}

static void
proxy_send_error(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, int rcode, int ede, const char *text,
    const struct query *q)
{
	proxy_send_error_dnssec(px, peer, qi, rcode, ede, text, q,
	    PROXY_DNSSEC_NONE);
}

/* An answer to a client, from upstream or the cache, counted by pd. */
static void
proxy_count_dnssec(struct proxy *px, uint8_t pd)
{
	switch (PD_STATE(pd)) {
	case PROXY_DNSSEC_UNCHECKED:
		px->stats.dnssec_unchecked++;
		break;
	case PROXY_DNSSEC_SECURE:
		px->stats.dnssec_secure++;
		break;
	case PROXY_DNSSEC_INSECURE:
		px->stats.dnssec_insecure++;
		break;
	case PROXY_DNSSEC_BOGUS:
		px->stats.dnssec_bogus++;
		switch (PD_EDE(pd)) {
		case 6:		px->stats.dnssec_bogus_6++;	break;
		case 7:		px->stats.dnssec_bogus_7++;	break;
		case 8:		px->stats.dnssec_bogus_8++;	break;
		case 9:		px->stats.dnssec_bogus_9++;	break;
		case 10:	px->stats.dnssec_bogus_10++;	break;
		case 12:	px->stats.dnssec_bogus_12++;	break;
		default:	break;
		}
		break;
	case PROXY_DNSSEC_NONE:
	default:
		break;
	}
}

/* EDE text for a validation's EDE when its own words are not at hand. */
static const char *
proxy_dnssec_text(int ede)
{
	switch (ede) {
	case 1:		return "unsupported DNSKEY algorithm: insecure";
	case 2:		return "unsupported DS digest type: insecure";
	case 6:		return "DNSSEC bogus";
	case 7:		return "DNSSEC signature expired";
	case 8:		return "DNSSEC signature not yet valid";
	case 9:		return "DNSKEY missing";
	case 10:	return "RRSIGs missing";
	case 12:	return "NSEC missing";
	case 22:	return "no answer for the chain of trust";
	default:	return "DNSSEC validation failed";
	}
}

/*
 * The AD bit of the answer for qi in px->buf (*n bytes) as pd says:
 * set for a secure answer to a client that set DO or AD (RFC 6840 5.7),
 * clear otherwise; an insecure one's EDE 1 or 2 added for a client that
 * sent EDNS.  PROXY_DNSSEC_NONE (dnssec process): the upstream's AD,
 * untouched.
 * Returns the EDE added, or -1.
 */
static int
proxy_mark_dnssec(struct proxy *px, const struct dns_query_info *qi,
    uint8_t pd, size_t *n)
{
	int ede = PD_EDE(pd);
	size_t m;

	if (PD_STATE(pd) == PROXY_DNSSEC_NONE)
		return -1;
	(void)dnsmsg_set_ad(px->buf, *n, PD_STATE(pd) == PROXY_DNSSEC_SECURE &&
	    (qi->edns_do || (qi->flags & DNS_FLAG_AD) != 0));
	if (PD_STATE(pd) != PROXY_DNSSEC_INSECURE || ede < 0 || !qi->has_edns ||
	    (m = dnsmsg_add_ede(px->buf, *n, sizeof(px->buf), ede,
	    proxy_dnssec_text(ede))) == 0)
		return -1;
	*n = m;
	return ede;
}

/*
 * An upstream answer (msg, len bytes, checked) from src (and url, the
 * DoH upstream's, or NULL) rewritten for q's client and sent, with EDE 0
 * if it came over plain DNS, AD and EDE as validation found (pd); an
 * answer that cannot be rewritten (an extended rcode in its OPT)
 * becomes a SERVFAIL.
 */
static void
query_answer_one(struct query *q, const uint8_t *msg, size_t len,
    enum cache_source src, const char *url, uint8_t pd)
{
	struct proxy *px = q->px;
	const struct config *cfg = q->up->cfg;
	int ede = src == CACHE_SRC_PLAIN ? DNS_EDE_OTHER : -1, e;
	size_t n;

	if (q->role != QUERY_CLIENT)
		return;
	if ((n = dnsmsg_rewrite_answer(msg, len, px->buf, sizeof(px->buf),
	    &q->qi, (uint16_t)cfg->edns_udp_size, ede,
	    PROXY_PLAIN_TEXT)) == 0) {
		proxy_send_error(px, q->peer, &q->qi, DNS_RCODE_SERVFAIL, -1,
		    NULL, q);
		return;
	}
	if ((e = proxy_mark_dnssec(px, &q->qi, pd, &n)) >= 0)
		ede = e;
	proxy_count_dnssec(px, pd);
	proxy_send(px, q->peer, &q->qi, cfg->edns_udp_size, n,
	    &(struct proxy_answer){ .source = query_source(q, src),
	    .upstream = url, .zone = q->route != NULL ? q->route->zone : NULL,
	    .ede = ede, .rcode = -1, .dnssec = PD_STATE(pd) }, q->start_us);
}

/*
 * The leader's answer to each of its followers, rewritten for each: the
 * key matched, so the question is the same but for case, and whether
 * the follower sent EDNS (or AD) may differ.
 */
static void
query_answer_followers(struct query *q, const uint8_t *msg, size_t len,
    enum cache_source src, const char *url, uint8_t pd)
{
	struct query *f;

	while ((f = TAILQ_FIRST(&q->followers)) != NULL) {
		query_answer_one(f, msg, len, src, url, pd);
		query_free(f);
	}
}

/*
 * A cache hit (px->buf, n bytes, as cache_lookup() wrote it for qi) to
 * peer, from src (PROXY_SRC_CACHE or _STALE): marked as it came (plain
 * DNS, its DNSSEC state; never AD when stale); a bogus entry is its
 * SERVFAIL with the EDE the validation gave.
 */
static void
proxy_send_hit(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, const struct cache_hit *hit,
    size_t n, enum proxy_source src, uint64_t start_us)
{
	const struct config *cfg = px->cfg;
	struct proxy_answer a = { .source = src, .rcode = -1,
	    .dnssec = PD_STATE(hit->dnssec_state) };
	char text[128];
	int e;

	proxy_count_dnssec(px, hit->dnssec_state);
	if (a.dnssec == PROXY_DNSSEC_BOGUS) {
		a.ede = PD_EDE(hit->dnssec_state);
		snprintf(text, sizeof(text), "%s (cached)",
		    proxy_dnssec_text(a.ede));
		/* Made here, but an answer from the cache all the same. */
		px->stats.servfail++;
		proxy_send(px, peer, qi, cfg->edns_udp_size,
		    dnsmsg_make_error_ede(px->buf, sizeof(px->buf), qi,
		    DNS_RCODE_SERVFAIL, a.ede, text), &a, start_us);
		return;
	}
	a.ede = proxy_mark_plain(px, qi, hit, &n);
	if ((e = proxy_mark_dnssec(px, qi, hit->dnssec_state, &n)) >= 0)
		a.ede = e;
	/* Stale is past what was validated: its signatures may have
	 * expired, its keys been rolled; no AD for it. */
	if (src == PROXY_SRC_STALE)
		(void)dnsmsg_set_ad(px->buf, n, 0);
	proxy_send(px, peer, qi, cfg->edns_udp_size, n, &a, start_us);
}

/*
 * A cached answer in px->buf (*n bytes) that came over plain DNS says so
 * to a client that sent EDNS, as it did when it was first relayed.
 * Returns the EDE added, or -1.
 */
static int
proxy_mark_plain(struct proxy *px, const struct dns_query_info *qi,
    const struct cache_hit *hit, size_t *n)
{
	size_t m;

	if (hit->source != CACHE_SRC_PLAIN || !qi->has_edns)
		return -1;
	if ((m = dnsmsg_add_ede(px->buf, *n, sizeof(px->buf), DNS_EDE_OTHER,
	    PROXY_PLAIN_TEXT)) == 0)
		return -1;
	*n = m;
	return DNS_EDE_OTHER;
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
	    q->role != QUERY_CLIENT || q->up != px->ups.current)
		return 0;
	for (f = q; f != NULL; f = next) {
		next = f == q ? TAILQ_FIRST(&q->followers) :
		    TAILQ_NEXT(f, follow);
		/* Fresh by now (another query refreshed it) is better. */
		/* Plain answers only where plain DNS is the way: plaintext
		 * mode, a plain rule's names. */
		if ((n = cache_lookup(px->cache, &f->qi, clock_boot_ms(),
		    cfg->serve_stale_ms, q->up->upstreams == NULL ||
		    route_is_plain(q->route),
		    (uint16_t)cfg->edns_udp_size, px->buf, sizeof(px->buf),
		    &hit)) == 0)
			break;
		/* A bogus entry is never stale (cache_meta.no_stale). */
		proxy_send_hit(px, f->peer, &f->qi, &hit, n, hit.stale ?
		    PROXY_SRC_STALE : PROXY_SRC_CACHE, f->start_us);
		served = 1;
		if (f != q)
			query_free(f);
	}
	return served;
}

/*
 * Keep msg (an answer to q that passed the checks, and validation if
 * any: vd, NULL if none) in the cache, then send it to the client (any
 * ID) and its followers, as from src (and url, the DoH upstream's, or
 * NULL).  A bogus answer is a SERVFAIL, kept VALIDATOR_BOGUS_TTL at
 * most and never served stale, so that a flood of one bogus name asks
 * upstream once a minute.  A validated one loses what was not judged;
 * with an error rcode, that is everything but the question.
 */
static void
query_finish(struct query *q, const uint8_t *msg, size_t len,
    enum cache_source src, const char *url, const struct val_verdict *vd)
{
	struct proxy *px = q->px;
	const struct config *cfg = q->up->cfg;
	struct cache_meta meta = { 0 };
	struct dns_query_info eqi;
	enum cache_verdict v;
	struct query *f;
	size_t n;
	int keep = 1, rcode;

	if (cfg->dnssec == CONFIG_DNSSEC_VALIDATE && vd == NULL)
		meta.dnssec_state = PD_MAKE(PROXY_DNSSEC_UNCHECKED, -1);
	else if (vd != NULL) {
		meta.dnssec_state = PD_MAKE(vd->state == VAL_SECURE ?
		    PROXY_DNSSEC_SECURE : vd->state == VAL_INSECURE ?
		    PROXY_DNSSEC_INSECURE : PROXY_DNSSEC_BOGUS, vd->ede);
		meta.max_ttl = vd->ttl;
		keep = vd->ttl > 0;
	}
	if (vd != NULL && vd->state == VAL_BOGUS) {
		/* The SERVFAIL kept is a plain one; its EDE is in pd. */
		eqi = q->qi;
		eqi.has_edns = 0;
		meta.no_stale = 1;
		meta.servfail_ttl = vd->ttl < VALIDATOR_BOGUS_TTL ?
		    vd->ttl : VALIDATOR_BOGUS_TTL;
		/* The chain could not be had: the validator's own memory
		 * of that is short, and so is ours. */
		if (vd->ede == DNS_EDE_NO_REACHABLE &&
		    meta.servfail_ttl > VALIDATOR_NOANSWER_TTL)
			meta.servfail_ttl = VALIDATOR_NOANSWER_TTL;
		if (keep && px->cache != NULL && q->up == px->ups.current &&
		    (n = dnsmsg_make_error(px->sbuf, sizeof(px->sbuf), &eqi,
		    DNS_RCODE_SERVFAIL)) > 0 &&
		    (v = cache_store_meta(px->cache, &q->qi, px->sbuf, n, src,
		    clock_boot_ms(), &px->cache_pol, &meta)) != CACHE_STORED)
			log_debug("bogus answer not cached: %s",
			    cache_verdict_names[v]);
		for (f = q; f != NULL; f = TAILQ_FIRST(&q->followers)) {
			if (f->role == QUERY_CLIENT) {
				proxy_count_dnssec(px, meta.dnssec_state);
				proxy_send_error_dnssec(px, f->peer, &f->qi,
				    DNS_RCODE_SERVFAIL, vd->ede, vd->why, f,
				    PROXY_DNSSEC_BOGUS);
			}
			if (f == q)
				continue;
			query_free(f);
		}
		query_free(q);
		return;
	}
	/*
	 * DNSSEC data the client did not ask for (no DO) but we did: out,
	 * before the cache, whose key has the client's DO.  Once per
	 * upstream answer, not per hit, and smaller entries.  A validated
	 * answer loses as well what the validator did not judge (NS sets
	 * in the authority section, glue): none of it may travel under
	 * the verdict, AD and all.  An error rcode (SERVFAIL, REFUSED...)
	 * proves nothing and nothing in it was judged: its rcode alone.
	 */
	rcode = dnsmsg_rcode(msg);
	if (vd != NULL && rcode != DNS_RCODE_NOERROR &&
	    rcode != DNS_RCODE_NXDOMAIN) {
		eqi = q->qi;
		eqi.has_edns = 0;
		if ((n = dnsmsg_make_error(px->sbuf, sizeof(px->sbuf), &eqi,
		    rcode)) == 0) {
			query_servfail(q, DNS_EDE_OTHER, "cannot make the "
			    "error answer");
			return;
		}
		msg = px->sbuf;
		len = n;
		meta.dnssec_state = PD_MAKE(PROXY_DNSSEC_INSECURE, -1);
	} else if (vd != NULL) {
		if ((n = dnsmsg_clean_validated(msg, len, px->sbuf,
		    sizeof(px->sbuf), q->qi.qtype, !q->qi.edns_do)) == 0) {
			query_servfail(q, DNS_EDE_OTHER, "cannot take the "
			    "unvalidated records out of the answer");
			return;
		}
		msg = px->sbuf;
		len = n;
	} else if (cfg->dnssec == CONFIG_DNSSEC_VALIDATE && !q->qi.edns_do) {
		if ((n = dnsmsg_strip_dnssec(msg, len, px->sbuf,
		    sizeof(px->sbuf), q->qi.qtype)) == 0) {
			query_servfail(q, DNS_EDE_OTHER, "cannot take the "
			    "DNSSEC records out of the answer");
			return;
		}
		msg = px->sbuf;
		len = n;
	}
	/*
	 * No TTL past what the signatures allow (RFC 4035 5.3.3): the
	 * cache keeps the entry no longer, but the first client and its
	 * followers get these bytes as they are.
	 */
	if (vd != NULL && dnsmsg_cap_ttl(px->sbuf, len, vd->ttl) == -1) {
		query_servfail(q, DNS_EDE_OTHER, "cannot cap the answer's "
		    "TTLs");
		return;
	}
	/* Only the current configuration's answers: a reload may have
	 * changed the mode or the upstreams, and emptied the cache. */
	if (keep && px->cache != NULL && q->up == px->ups.current &&
	    (v = cache_store_meta(px->cache, &q->qi, msg, len, src,
	    clock_boot_ms(), &px->cache_pol, &meta)) != CACHE_STORED)
		log_debug("answer not cached: %s", cache_verdict_names[v]);
	query_answer_one(q, msg, len, src, url, meta.dnssec_state);
	query_answer_followers(q, msg, len, src, url, meta.dnssec_state);
	query_free(q);
}

/* q's answer is judged: with dnssec validate, unless its client set CD. */
static int
query_validates(const struct query *q)
{
	return q->px->validator != NULL &&
	    q->up->cfg->dnssec == CONFIG_DNSSEC_VALIDATE &&
	    (q->qi.flags & DNS_FLAG_CD) == 0;
}

/*
 * An upstream answer to q (msg, len bytes, checked) from src (and url):
 * a chain query's to the validations waiting on it; a client's (or a
 * prefetch's) judged first when it must be, then kept and sent.
 */
static void
query_answer(struct query *q, const uint8_t *msg, size_t len,
    enum cache_source src, const char *url)
{
	if (q->role == QUERY_CHAIN) {
		chain_done(q, msg, len);
		return;
	}
	if (!query_validates(q)) {
		query_finish(q, msg, len, src, url, NULL);
		return;
	}
	q->vsrc = src;
	q->vurl = url;
	q->budget = VALIDATOR_BUDGET;
	q->needs = 0;
	clock_timer_del(&q->hedge_timer);
	/* Copied only if it must wait: a warm chain allocates nothing. */
	query_validate(q, msg, len);
}

/* A SERVFAIL to q and its followers, with EDE ede and why as its text. */
static void
query_servfail(struct query *q, int ede, const char *why)
{
	struct query *f;
	char name[DNS_MAX_NAME_TEXT], type[16];

	if (log_getlevel() >= LOG_LEVEL_DEBUG) {
		(void)dnsmsg_name_to_text(q->qi.qname, q->qi.qname_len, name,
		    sizeof(name), 0);
		log_debug("%s %s: SERVFAIL (%s)", name,
		    dnsmsg_type_str(q->qi.qtype, type, sizeof(type)), why);
	}
	/* A chain query's failure is the validator's to judge. */
	if (q->role == QUERY_CHAIN) {
		chain_done(q, NULL, 0);
		return;
	}
	if (q->role == QUERY_CLIENT && !query_serve_stale(q))
		proxy_send_error(q->px, q->peer, &q->qi, DNS_RCODE_SERVFAIL,
		    ede, why, q);
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
	char text[640];

	/* Idle upstreams are not known to work: a failure may say so. */
	if (q->route == NULL)
		portal_check(q->px);
	if (query_plain(q) != NULL)
		query_fallback(q);
	else if (q->route == NULL && q->up->unusable[0] != '\0') {
		/* Say too which address servers are left out, and why. */
		snprintf(text, sizeof(text), "%s; %s", why, q->up->unusable);
		query_servfail(q, DNS_EDE_NO_REACHABLE, text);
	} else
		query_servfail(q, DNS_EDE_NO_REACHABLE, why);
}

static void
query_timeout_cb(void *arg)
{
	struct query *q = arg;
	size_t k;

	log_debug("%s query timed out in state %s",
	    query_role_names[q->role], query_state_names[q->state]);
	if (q->state == Q_DOH) {
		for (k = 0; k < 2; k++)
			if (q->tries[k].req != NULL)
				upstream_result(query_upstreams(q),
				    (size_t)q->tries[k].upstream, 0);
		query_cancel_doh(q);
		q->px->stats.doh_errors++;
		q->px->stats.doh_error_kinds[DOH_ERR_TIMEOUT]++;
		query_doh_failed(q, "DoH timed out");
	} else if (q->state == Q_PORTAL)
		query_servfail(q, DNS_EDE_NO_REACHABLE,
		    "the network's resolvers timed out");
	else if (q->state == Q_VALIDATE)
		query_servfail(q, DNS_EDE_NO_REACHABLE, "DNSSEC validation "
		    "timed out: no answer for the chain of trust");
	else
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
		/* DoH answers: a portal lease, if any, is over. */
		if (px->portal != PORTAL_CLEAR && q->up == px->ups.current)
			portal_clear(px, "a DoH upstream answers");
		query_answer(q, resp->body, resp->len, CACHE_SRC_DOH,
		    query_upstream_url(q, t->upstream));
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
	if (first && q->route == NULL)
		q->first_up = t->upstream;
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
		query_answer(q, ans, len, CACHE_SRC_PLAIN, NULL);
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
	    q->up->nplain;

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

/*
 * A portal lease's answer (proxy.h): TTLs cut to PROXY_PORTAL_MAX_TTL,
 * EDE 0 saying so, never cached; q has no followers (never in flight).
 */
static void
portal_done(int status, const uint8_t *ans, size_t len, void *arg)
{
	struct query *q = arg;
	struct proxy *px = q->px;
	const struct config *cfg = q->up->cfg;
	size_t n;

	q->plain = NULL;
	if (status != 0 || dnsmsg_check_answer(ans, len, &q->qi) != 0) {
		query_servfail(q, DNS_EDE_NO_REACHABLE,
		    "no answer from the network's resolvers");
		return;
	}
	if ((n = dnsmsg_rewrite_answer(ans, len, px->buf, sizeof(px->buf),
	    &q->qi, (uint16_t)cfg->edns_udp_size, DNS_EDE_OTHER,
	    PROXY_PORTAL_TEXT)) == 0 ||
	    dnsmsg_cap_ttl(px->buf, n, PROXY_PORTAL_MAX_TTL) == -1) {
		query_servfail(q, DNS_EDE_OTHER, "the network's resolver's "
		    "answer cannot be passed on");
		return;
	}
	proxy_send(px, q->peer, &q->qi, cfg->edns_udp_size, n,
	    PROXY_ANSWER(PROXY_SRC_PORTAL, DNS_EDE_OTHER), q->start_us);
	query_free(q);
}

/* q (a client's, covered by the lease) to the network's resolvers. */
static void
query_portal(struct query *q)
{
	const struct config *cfg = q->up->cfg;

	q->state = Q_PORTAL;
	q->plain = plain_forward(q->up->portal, q->msg, q->len, portal_done,
	    q);
	if (q->plain == NULL) {
		query_servfail(q, DNS_EDE_NO_REACHABLE,
		    "cannot send to the network's resolvers");
		return;
	}
	clock_timer_add(&q->timer,
	    cfg->timeout_ms * (unsigned)(q->up->nportal + 1));
}

/* serve-stale-timeout: the client gets a stale answer, the query goes on. */
static void
query_stale_cb(void *arg)
{
	struct query *q = arg;

	if (q->role != QUERY_CLIENT || !query_serve_stale(q))
		return;
	log_debug("stale answer served; the refresh goes on");
	q->peer->ops->release(q->peer);
	q->peer = NULL;
	q->role = QUERY_REFRESH;
}

enum start_result {
	START_OK,
	START_FULL,		/* max-pending, or memory is short */
	START_CLIENT_FULL,	/* src's max-pending-per-client */
};

/*
 * A query object for qi (hash, route: upside_route()'s under the current
 * upside) in role, from peer (QUERY_CLIENT's; NULL for the others): a
 * leader that asks upstream, or, when leader is not NULL, a follower
 * waiting on it (a client's).  It counts against src (NULL: against no
 * one) until it ends.  portal: a client query the portal lease covers
 * (leader NULL): it goes to the network's resolvers, and no other query
 * follows it.  QUERY_CHAIN: waiter, the validation that needs it, waits
 * on it from before it is sent (it may fail at once: then waiter has
 * gone on, perhaps ended, by the time this returns START_OK).
 */
static enum start_result
query_start(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, uint32_t hash, struct query *leader,
    const struct ratelimit_key *src, const struct route *route, int portal,
    enum query_role role, struct query *waiter)
{
	const struct config *cfg = px->cfg;
	int validate = cfg->dnssec == CONFIG_DNSSEC_VALIDATE;
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
	/* dnssec off: no DNSSEC data is asked for, whatever the client;
	 * validate: always, and unchecked (RFC 4035 3.2.1, 3.2.2). */
	if ((len = dnsmsg_make_upstream_query(built, sizeof(built), qi,
	    (uint16_t)cfg->edns_udp_size, cfg->padding_block, validate ||
	    (qi->edns_do && cfg->dnssec != CONFIG_DNSSEC_OFF), validate ||
	    (qi->flags & DNS_FLAG_CD) != 0)) == 0 ||
	    (q = query_get(px, len)) == NULL) {
		ratelimit_clients_release(px->clients, slot);
		return START_FULL;
	}
	q->client = slot;
	q->start_us = px->rx_us;
	if (slot >= 0)
		px->stats.pending_sources =
		    ratelimit_clients_sources(px->clients);
	q->px = px;
	q->up = px->ups.current;
	upside_ref(q->up);
	q->route = route;
	q->first_up = -1;
	q->role = role;
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
	if (waiter != NULL) {
		waiter->chain = q;
		TAILQ_INSERT_TAIL(&q->waiters, waiter, wentry);
	}
	if (role == QUERY_CHAIN)
		px->stats.dnssec_chain_queries++;
	if (leader != NULL) {
		q->state = Q_FOLLOW;
		q->leader = leader;
		TAILQ_INSERT_TAIL(&leader->followers, q, follow);
		leader->nfollowers++;
		px->stats.coalesced++;
		return START_OK;
	}
	if (portal) {
		query_portal(q);
		return START_OK;
	}
	LIST_INSERT_HEAD(&px->flight[hash & (PROXY_FLIGHT_BUCKETS - 1)], q,
	    fentry);
	q->in_flight = 1;
	if (px->cache != NULL && cfg->serve_stale_ms > 0 &&
	    q->role == QUERY_CLIENT)
		clock_timer_add(&q->stale_timer, cfg->serve_stale_timeout_ms);
	if (query_upstreams(q) == NULL && query_plain(q) == NULL) {
		/* encrypted-only, and no address server upgraded (yet). */
		if (q->up->pending)
			query_servfail(q, DNS_EDE_NOT_READY, q->up->unusable);
		else
			query_servfail(q, DNS_EDE_NO_REACHABLE,
			    q->up->unusable[0] != '\0' ? q->up->unusable :
			    "no DoH upstream");
		return START_OK;
	}
	if (query_upstreams(q) == NULL) {
		query_fallback(q);
		return START_OK;
	}
	clock_timer_add(&q->timer, cfg->timeout_ms);
	query_doh(q);
	return START_OK;
}

/* A wall-clock time (seconds since 1970) as RFC 3339 UTC, for logs. */
static void
wall_text(char *buf, size_t size, uint64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld s", (long long)t);
}

/* The validator's counters into the stats; a wrong clock said. */
static void
proxy_validator_stats(struct proxy *px)
{
	const struct validator_stats *vs = validator_stats(px->validator);
	uint64_t now = clock_ms();
	char when[32], signed_at[32];

	px->stats.dnssec_sig_checks = px->sig_checks_past + vs->sig_checks;
	px->stats.dnssec_early_sigs = px->early_sigs_past + vs->early_sigs;
	if (vs->clock_behind != px->stats.dnssec_clock_behind) {
		px->stats.dnssec_clock_behind = vs->clock_behind;
		wall_text(when, sizeof(when), clock_wall());
		wall_text(signed_at, sizeof(signed_at), vs->anchor_time);
		if (vs->clock_behind)
			log_warnx("DNSSEC: the trust anchor's zone signed "
			    "at %s, after the system clock (now %s): the "
			    "clock is taken as behind, and signatures are "
			    "checked at that time until it catches up",
			    signed_at, when);
		else
			log_info("DNSSEC: the system clock (now %s) has "
			    "caught up with the trust anchor's signatures",
			    when);
	}
	if (vs->clock_suspect <= px->clock_suspect)
		return;
	px->clock_suspect = vs->clock_suspect;
	if (px->clock_log_ms != 0 &&
	    now - px->clock_log_ms < PROXY_DNSSEC_LOG_MS)
		return;
	px->clock_log_ms = now;
	wall_text(when, sizeof(when), clock_wall());
	log_warnx("many DNSSEC signatures look expired or not yet valid: "
	    "is the system clock right? (now %s)", when);
}

/*
 * A verdict for q: said in the log when it says the upstream strips
 * DNSSEC data (the chain cannot be had through it at all: the root's
 * keys are missing or unsigned), at most once per PROXY_DNSSEC_LOG_MS,
 * naming the upstream.
 */
static void
query_verdict_log(struct query *q, const struct val_verdict *vd)
{
	struct proxy *px = q->px;
	char name[DNS_MAX_NAME_TEXT], type[16];
	uint64_t now;

	if (log_getlevel() >= LOG_LEVEL_DEBUG) {
		(void)dnsmsg_name_to_text(q->qi.qname, q->qi.qname_len, name,
		    sizeof(name), 0);
		log_debug("%s %s: DNSSEC %s, EDE %d, %u chain queries: %s",
		    name, dnsmsg_type_str(q->qi.qtype, type, sizeof(type)),
		    val_state_names[vd->state], vd->ede, q->needs, vd->why);
	}
	/* Every resolver serves the root's keys signed: without them, or
	 * unsigned, the upstream (or the network) keeps DNSSEC data from
	 * us.  The validator's why says so for an unsigned set. */
	if (vd->state != VAL_BOGUS || ((vd->why == NULL ||
	    strstr(vd->why, "strip") == NULL) && (vd->zone_len != 1 ||
	    (vd->ede != 9 && vd->ede != 10))))
		return;
	now = clock_ms();
	if (px->strip_log_ms != 0 &&
	    now - px->strip_log_ms < PROXY_DNSSEC_LOG_MS)
		return;
	px->strip_log_ms = now;
	log_warnx("DNSSEC: the upstream %s strips DNSSEC data (%s): every "
	    "signed answer through it is SERVFAIL, EDE %d; use another "
	    "upstream, or dnssec process", q->vurl != NULL ? q->vurl :
	    "(plain DNS)", vd->why, vd->ede);
}

/*
 * q waits for need, a chain query's answer: the one asking it already,
 * or a new one of ours (DO and CD, routed like any name).  No slot for
 * it: q ends in SERVFAIL.  q may be over when this returns.
 */
static void
query_chain_wait(struct query *q, const struct val_need *need)
{
	struct proxy *px = q->px;
	struct dns_query_info cqi;
	struct query *c;
	uint8_t msg[DNS_MAX_NAME + 64];
	uint32_t hash;
	size_t n;

	if ((n = dnsmsg_make_query(msg, sizeof(msg), need->name,
	    need->name_len, need->type, DNS_CLASS_IN, DNS_FLAG_RD |
	    DNS_FLAG_CD, DNS_UDP_PLAIN_MAX, 1, 0)) == 0 ||
	    dnsmsg_parse_query(msg, n, &cqi) != DNS_VERDICT_OK) {
		query_servfail(q, DNS_EDE_OTHER, "cannot make a chain query");
		return;
	}
	hash = dnsmsg_key_hash(&cqi);
	if ((c = flight_find(px, &cqi, hash, px->ups.current, 1)) != NULL) {
		q->chain = c;
		TAILQ_INSERT_TAIL(&c->waiters, q, wentry);
		return;
	}
	if (query_start(px, NULL, &cqi, hash, NULL, NULL,
	    upside_route(px->ups.current, &cqi), 0, QUERY_CHAIN, q) !=
	    START_OK) {
		px->stats.over_limit++;
		query_servfail(q, DNS_EDE_OTHER, "too many queries in flight");
	}
}

/*
 * Judge q's answer (msg, len bytes: the upstream's, or q->vmsg): done,
 * it is kept and sent; the chain lacks a record set, q waits in
 * Q_VALIDATE on the chain query asking it (q->vmsg a copy of msg), its
 * timer counting timeout again.  q may be over when this returns.
 */
static void
query_validate(struct query *q, const uint8_t *msg, size_t len)
{
	struct proxy *px = q->px;
	struct val_verdict vd;
	struct val_need need;
	enum val_step step;

	if (px->stopping) {
		query_servfail(q, DNS_EDE_NOT_READY, "shutting down");
		return;
	}
	/* A reload turned validation off meanwhile: as the new says. */
	if (px->validator == NULL) {
		query_finish(q, msg, len, q->vsrc, q->vurl, NULL);
		return;
	}
	step = validator_check(px->validator, &q->qi, msg, len, clock_wall(),
	    &q->budget, &vd, &need);
	proxy_validator_stats(px);
	if (step == VAL_NEED && q->needs >= VALIDATOR_MAX_NEEDS) {
		memset(&vd, 0, sizeof(vd));
		vd.state = VAL_BOGUS;
		vd.ede = 6;
		vd.why = "chain too long";
		vd.ttl = VALIDATOR_BOGUS_TTL;
		step = VAL_DONE;
	}
	if (step == VAL_DONE) {
		query_verdict_log(q, &vd);
		/* Out of memory: SERVFAIL, nothing kept. */
		if (vd.state == VAL_BOGUS && vd.ede == DNS_EDE_OTHER)
			query_servfail(q, DNS_EDE_OTHER, vd.why);
		else
			query_finish(q, msg, len, q->vsrc, q->vurl, &vd);
		return;
	}
	q->needs++;
	if (q->vmsg == NULL) {
		if ((q->vmsg = malloc(len)) == NULL) {
			query_servfail(q, DNS_EDE_OTHER, "out of memory");
			return;
		}
		memcpy(q->vmsg, msg, len);
		q->vlen = len;
	}
	if (q->state != Q_VALIDATE) {
		q->state = Q_VALIDATE;
		clock_timer_del(&q->timer);
		clock_timer_add(&q->timer, q->up->cfg->timeout_ms);
	}
	query_chain_wait(q, &need);
}

/*
 * Chain query c's answer (msg, len bytes; NULL: none came) to the
 * validator, then every validation waiting on it goes on.  c leaves
 * the flight table first, so none of them waits on it again; it is
 * freed last.
 */
static void
chain_done(struct query *c, const uint8_t *msg, size_t len)
{
	struct proxy *px = c->px;
	struct val_need need;
	struct query *w;
	unsigned budget = VALIDATOR_BUDGET;

	if (c->in_flight) {
		LIST_REMOVE(c, fentry);
		c->in_flight = 0;
	}
	clock_timer_del(&c->timer);
	memcpy(need.name, c->qi.qname, c->qi.qname_len);
	need.name_len = c->qi.qname_len;
	need.type = c->qi.qtype;
	if (px->validator != NULL && !px->stopping) {
		/* The budget of the first validation waiting: one answer's
		 * learn is charged once. */
		w = TAILQ_FIRST(&c->waiters);
		validator_learn(px->validator, &need, msg, len, clock_wall(),
		    w != NULL ? &w->budget : &budget);
		proxy_validator_stats(px);
	}
	while ((w = TAILQ_FIRST(&c->waiters)) != NULL) {
		TAILQ_REMOVE(&c->waiters, w, wentry);
		w->chain = NULL;
		query_validate(w, w->vmsg, w->vlen);
	}
	query_free(c);
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
	struct upside *up = px->ups.current;
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
	if ((n = cache_lookup(px->cache, qi, clock_boot_ms(),
	    cfg->serve_stale_ms, allow_plain, (uint16_t)cfg->edns_udp_size,
	    px->buf, sizeof(px->buf), &hit)) == 0 || hit.stale) {
		px->stats.cache_misses++;
		return 0;
	}
	proxy_send_hit(px, peer, qi, &hit, n, PROXY_SRC_CACHE, px->rx_us);
	peer->ops->release(peer);
	/* A bogus entry is asked again when it ends, not before. */
	if (cfg->prefetch && hit.ttl_orig >= PROXY_PREFETCH_MIN_TTL &&
	    (uint64_t)hit.ttl_left * 10 <= hit.ttl_orig &&
	    PD_STATE(hit.dnssec_state) != PROXY_DNSSEC_BOGUS &&
	    flight_find(px, qi, hash, up, 0) == NULL &&
	    query_start(px, NULL, qi, hash, NULL, src, route, 0,
	    QUERY_PREFETCH, NULL) == START_OK)
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
	proxy_send(px, peer, qi, px->cfg->edns_udp_size, n,
	    PROXY_ANSWER(v == LOCAL_ZONE ? PROXY_SRC_LOCAL : PROXY_SRC_POLICY,
	    -1), px->rx_us);
	peer->ops->release(peer);
	return 1;
}

/*
 * proxy_send_error() to a query that got no query object; peer is
 * released.
 */
static void
proxy_error(struct proxy *px, struct listen_peer *peer,
    const struct dns_query_info *qi, int rcode, int ede, const char *text)
{
	proxy_send_error(px, peer, qi, rcode, ede, text, NULL);
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
	    peer->addrlen) == 0 && policy_acl_allows(px->cfg, &a))
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
		    DNS_RCODE_NOERROR)) > 0)
			px->buf[2] |= DNS_FLAG_TC >> 8;
		proxy_send(px, peer, qi, px->cfg->edns_udp_size, n,
		    PROXY_ANSWER(PROXY_SRC_ERROR, -1), px->rx_us);
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
	proxy_error(px, peer, qi, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, why);
}

/*
 * The portal lease (proxy.h).  Nothing here sends a client query but
 * through a lease, and only portal_covers() lets one take the portal
 * channel.  With ask nothing at all is sent until the user opens a
 * lease: DoH being down is only said.  The probe, one fixed question
 * (". NS") of our own, is auto's alone: the user opted in to it.
 */

/*
 * No default DoH upstream is connected (or there is none to connect).
 * An idle one is not known to work: it was closed after a quiet spell,
 * perhaps on another network.  Should it connect, the lease ends.
 */
static int
portal_doh_down(const struct upside *up)
{
	struct upstreams *u = up->upstreams;
	size_t i;

	if (u == NULL)
		return !up->pending;
	for (i = 0; i < upstream_count(u); i++)
		if (doh_get_state(upstream_get(u, i)) == DOH_READY)
			return 0;
	return 1;
}

/* qi asks for one of portal_check_names[], exactly. */
static int
portal_check_name(const struct dns_query_info *qi)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t i, n;

	for (i = 0; i < sizeof(portal_check_names) /
	    sizeof(portal_check_names[0]); i++)
		if ((n = dnsmsg_name_from_text(portal_check_names[i], wire,
		    sizeof(wire))) > 0 &&
		    dnsmsg_name_equal(qi->qname, qi->qname_len, wire, n))
			return 1;
	return 0;
}

/*
 * qi (a client's, under route) goes to the network's resolvers: a lease
 * is open and covers it.  A forward rule's names keep their route.
 */
static int
portal_covers(const struct proxy *px, const struct dns_query_info *qi,
    const struct route *route)
{
	return px->portal == PORTAL_LEASE && route == NULL &&
	    px->ups.current->portal != NULL &&
	    (px->portal_all || portal_check_name(qi));
}

/* "192.0.2.1:53" or "192.0.2.1:53 (and 2 more)": up's portal servers. */
static void
portal_servers(const struct upside *up, char *buf, size_t len)
{
	char a[ADDR_STRLEN];

	if (up->nportal == 0) {
		snprintf(buf, len, "none");
		return;
	}
	addr_str(&up->portal_servers[0], a, sizeof(a));
	if (up->nportal > 1)
		snprintf(buf, len, "%s (and %zu more)", a, up->nportal - 1);
	else
		snprintf(buf, len, "%s", a);
}

/*
 * What /health and the log say of an outage (PORTAL_UNREACHABLE or
 * PORTAL_SUSPECTED) into buf; "" in the other states.  Made from the
 * current upside and configuration, so a reload never leaves it stale.
 */
static void
portal_said(const struct proxy *px, char *buf, size_t len)
{
	unsigned ms = px->cfg->captive_portal_lease_ms;
	char s[ADDR_STRLEN + 32];

	portal_servers(px->ups.current, s, sizeof(s));
	if (px->portal == PORTAL_UNREACHABLE)
		snprintf(buf, len, "DoH unreachable: if a captive portal is "
		    "in the way, dohq --captive-portal or SIGUSR2 opens a "
		    "lease (plain DNS to %s for %u %s)", s, ms % 60000 == 0 ?
		    ms / 60000 : ms / 1000, ms % 60000 == 0 ? "min" : "s");
	else if (px->portal == PORTAL_SUSPECTED)
		snprintf(buf, len, "captive portal suspected: DoH "
		    "unreachable, network resolver %s answers", s);
	else if (len > 0)
		buf[0] = '\0';
}

static void
portal_probe_cancel(struct proxy *px)
{
	if (px->probe != NULL) {
		plain_cancel(px->probe);
		px->probe = NULL;
	}
}

/* Back to PORTAL_CLEAR (why: for the log), a lease ended at once. */
static void
portal_clear(struct proxy *px, const char *why)
{
	if (px->portal == PORTAL_LEASE)
		log_info("captive portal lease ended: %s; every query is on "
		    "DoH again", why);
	else if (px->portal == PORTAL_SUSPECTED)
		log_info("captive portal no longer suspected: %s", why);
	px->portal = PORTAL_CLEAR;
	px->portal_all = 0;
	clock_timer_del(&px->portal_timer);
	clock_timer_del(&px->probe_timer);
	portal_probe_cancel(px);
	px->probe_ms = 0;
}

/* Open (or widen and renew) a lease: all names, or the check names. */
static void
portal_open(struct proxy *px, int all, const char *by)
{
	const struct config *cfg = px->cfg;
	char s[ADDR_STRLEN + 32];

	portal_servers(px->ups.current, s, sizeof(s));
	px->portal = PORTAL_LEASE;
	px->portal_all |= all;
	px->portal_end_ms = clock_ms() + cfg->captive_portal_lease_ms;
	px->stats.portal_leases++;
	clock_timer_add(&px->portal_timer, cfg->captive_portal_lease_ms);
	clock_timer_del(&px->probe_timer);
	portal_probe_cancel(px);
	log_warnx("captive portal lease opened (%s) for %u s: %s go over "
	    "plain DNS to %s, with EDE 0 \"" PROXY_PORTAL_TEXT "\"", by,
	    cfg->captive_portal_lease_ms / 1000, px->portal_all ?
	    "all queries" : "the connectivity-check names", s);
}

/*
 * A lease's time is up.  DoH is still down (its return ends a lease at
 * once): with auto, probe again now, the check names get a new lease;
 * with ask, back to saying so, which was logged once this outage.
 */
static void
portal_lease_cb(void *arg)
{
	struct proxy *px = arg;

	log_info("captive portal lease ended: its time is up; queries get "
	    "SERVFAIL until DoH works or a new lease");
	px->portal_all = 0;
	if (px->cfg->captive_portal == PORTAL_AUTO) {
		px->portal = PORTAL_SUSPECTED;
		px->probe_ms = 0;
	} else
		px->portal = PORTAL_UNREACHABLE;
	portal_check(px);
}

/* auto's probe: answered, a portal is suspected and a lease opens. */
static void
probe_done(int status, const uint8_t *ans, size_t len, void *arg)
{
	struct proxy *px = arg;
	struct upside *up = px->ups.current;
	char s[256];
	int rcode;

	px->probe = NULL;
	log_debug("captive portal probe: %s (%s)", status == 0 ? "answer" :
	    "no answer", portal_state_names[px->portal]);
	if (px->probe_up != up || !portal_doh_down(up) ||
	    px->portal == PORTAL_LEASE ||
	    px->cfg->captive_portal != PORTAL_AUTO)
		return;
	rcode = status == 0 ? dnsmsg_rcode(ans) : -1;
	if (status != 0 || dnsmsg_check_answer(ans, len, &px->probe_qi) != 0 ||
	    (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN)) {
		if (px->portal == PORTAL_SUSPECTED) {
			log_info("captive portal no longer suspected: the "
			    "network's resolver does not answer");
			px->portal = PORTAL_CLEAR;
		}
		return;
	}
	if (px->portal != PORTAL_SUSPECTED) {
		px->portal = PORTAL_SUSPECTED;
		portal_said(px, s, sizeof(s));
		log_warnx("%s", s);
	}
	portal_open(px, 0, "automatic");
}

/*
 * DoH may be down: nothing while a lease is open, or where there is no
 * portal channel (captive-portal off, other modes).  With ask, say so
 * once per outage and send nothing.  With auto, probe the network's
 * resolver if the last probe is PROXY_PORTAL_PROBE_MS old; look again
 * then.
 */
static void
portal_check(struct proxy *px)
{
	struct upside *up = px->ups.current;
	uint64_t now = clock_ms();
	char s[256];

	if (up->portal == NULL || px->portal == PORTAL_LEASE)
		return;
	if (!portal_doh_down(up)) {
		if (px->portal != PORTAL_CLEAR)
			portal_clear(px, "a DoH upstream is connected");
		clock_timer_del(&px->probe_timer);
		return;
	}
	if (px->cfg->captive_portal != PORTAL_AUTO) {
		/* auto's, before a reload. */
		clock_timer_del(&px->probe_timer);
		if (px->portal != PORTAL_UNREACHABLE) {
			px->portal = PORTAL_UNREACHABLE;
			portal_said(px, s, sizeof(s));
			log_warnx("%s", s);
		}
		return;
	}
	if (px->probe != NULL)
		return;
	if (px->probe_ms != 0 && now - px->probe_ms < PROXY_PORTAL_PROBE_MS) {
		if (!clock_timer_pending(&px->probe_timer))
			clock_timer_add(&px->probe_timer, (unsigned)
			    (PROXY_PORTAL_PROBE_MS - (now - px->probe_ms)));
		return;
	}
	px->probe_ms = now;
	px->probe_up = up;
	if ((px->probe = plain_forward(up->portal, px->probe_msg,
	    px->probe_len, probe_done, px)) != NULL)
		px->stats.portal_probes++;
	clock_timer_add(&px->probe_timer, PROXY_PORTAL_PROBE_MS);
}

static void
portal_probe_cb(void *arg)
{
	portal_check(arg);
}

/*
 * A new current upside (start, reload, discovery): the probe went on the
 * old one's channel.  An automatic lease outlives no reload away from
 * auto.  The new DoH upstreams are only connecting: their health
 * callback says when they fail; an upside with none, or one installed
 * in an outage, looks now.
 */
static void
portal_installed(struct proxy *px)
{
	enum portal_state was = px->portal;

	portal_probe_cancel(px);
	if (px->ups.current->portal == NULL) {
		portal_clear(px, "captive-portal off, or not encrypted-only");
		return;
	}
	if (px->portal == PORTAL_LEASE && !px->portal_all &&
	    px->cfg->captive_portal != PORTAL_AUTO)
		portal_clear(px, "captive-portal is no longer auto");
	if (px->ups.current->upstreams == NULL || was != PORTAL_CLEAR)
		portal_check(px);
}

int
proxy_portal_open(struct proxy *px, const char **why)
{
	const struct upside *up = px->ups.current;

	if (px->cfg->mode != MODE_ENCRYPTED_ONLY)
		*why = "only encrypted-only has a portal lease (the other "
		    "modes have plain DNS already)";
	else if (px->cfg->captive_portal == PORTAL_OFF)
		*why = "captive-portal is off";
	else if (up->portal == NULL)
		*why = "no network resolver is known (fallback, resolv.conf)";
	else if (!portal_doh_down(up))
		*why = "a DoH upstream is connected (DoH works: no lease "
		    "needed)";
	else {
		portal_open(px, 1, "asked");
		return 0;
	}
	return -1;
}

size_t
proxy_portal_status(const struct proxy *px, char *buf, size_t len)
{
	uint64_t now = clock_ms(), left;
	int n;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	switch (px->portal) {
	case PORTAL_UNREACHABLE:
	case PORTAL_SUSPECTED:
		portal_said(px, buf, len);
		return strlen(buf);
	case PORTAL_LEASE:
		left = px->portal_end_ms > now ? px->portal_end_ms - now : 0;
		n = snprintf(buf, len, "captive portal lease open, %llu s "
		    "left: %s over plain DNS", (unsigned long long)
		    ((left + 999) / 1000), px->portal_all ? "all queries" :
		    "the connectivity-check names");
		break;
	case PORTAL_CLEAR:
	default:
		return 0;
	}
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

/*
 * A client's query (msg, len bytes) from peer; the access control and
 * the rate limit apply unless it is the control socket's (lookup).
 */
static void
proxy_query(struct proxy *px, struct listen_peer *peer, const uint8_t *msg,
    size_t len, int lookup)
{
	struct dns_query_info qi;
	enum dns_verdict verdict;
	struct query *leader;
	struct ratelimit_key srckey;
	const struct ratelimit_key *src = NULL;
	const struct route *route;
	uint32_t hash;
	int rcode, portal;

	if (peer->transport == LISTEN_UDP)
		px->stats.queries_udp++;
	else
		px->stats.queries_tcp++;
	/* Read the clock only for an observer: its answers are timed. */
	px->rx_us = px->answer_cb != NULL ? clock_us() : 0;
	/* The first query after a resume must not wait for the tick. */
	proxy_resume_check(px);
	verdict = dnsmsg_parse_query(msg, len, &qi);
	if (verdict != DNS_VERDICT_DROP && !lookup &&
	    (!proxy_acl(px, peer, &qi) || !proxy_ratelimit(px, peer, &qi)))
		return;
	switch (verdict) {
	case DNS_VERDICT_OK:
		break;
	case DNS_VERDICT_DROP:
		px->stats.dropped++;
		peer->ops->release(peer);
		return;
	case DNS_VERDICT_BADVERS:
		/* RFC 6891 6.1.3: not forwarded, nor answered from the
		 * cache or a local zone. */
		px->stats.badvers++;
		proxy_error(px, peer, &qi, DNS_RCODE_BADVERS, -1, NULL);
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
	route = upside_route(px->ups.current, &qi);
	/* A lease's names skip the cache: the portal's answers are what
	 * the client needs now, and they are never cached. */
	portal = portal_covers(px, &qi, route);
	if (!portal && px->cache != NULL && proxy_cache_hit(px, peer, &qi,
	    hash, src, route))
		return;
	/* The same question already upstream: wait for its answer. */
	if (portal)
		leader = NULL;
	else if ((leader = flight_find(px, &qi, hash, px->ups.current, 0)) !=
	    NULL && leader->nfollowers >= PROXY_MAX_FOLLOWERS)
		leader = NULL;
	switch (query_start(px, peer, &qi, hash, leader, src, route,
	    portal, QUERY_CLIENT, NULL)) {
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

static void
proxy_query_cb(struct listen_peer *peer, const uint8_t *msg, size_t len,
    void *arg)
{
	proxy_query(arg, peer, msg, len, 0);
}

void
proxy_lookup(struct proxy *px, struct listen_peer *peer, const uint8_t *msg,
    size_t len)
{
	proxy_query(px, peer, msg, len, 1);
}

void
proxy_on_answer(struct proxy *px, proxy_answer_cb *cb, void *arg)
{
	px->answer_cb = cb;
	px->answer_arg = arg;
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

/* A default upstream of the current upside connected. */
static void
proxy_connected_cb(struct upside *up, void *arg)
{
	struct proxy *px = arg;

	(void)up;
	if (px->portal != PORTAL_CLEAR)
		portal_clear(px, "a DoH upstream connected");
	proxy_settle_check(px);
}

/* The current upside's default upstreams (upside.h passes on no other). */
static void
proxy_health_cb(struct upside *up, int usable, void *arg)
{
	struct proxy *px = arg;

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
	portal_check(px);
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

/*
 * An address server's result changed: the same configuration with the
 * new results makes a new upside, installed as a reload's would be.  The
 * cache is kept (same configuration); queries in flight finish under
 * the upside they started with.
 */
static void
proxy_discovery_cb(struct discovery *d, size_t i, void *arg)
{
	struct proxy *px = arg;
	struct upside *up, *old = px->ups.current;
	int say;

	(void)i;
	if (d != px->disc)
		return;
	if ((up = upside_new(&px->ups, px->cfg, d)) == NULL) {
		log_warnx("cannot switch to the discovered servers; keeping "
		    "the current ones");
		return;
	}
	/* Said once: again only when the text changes. */
	say = up->unusable[0] != '\0' && up->fallback == NULL &&
	    (old == NULL || strcmp(up->unusable, old->unusable) != 0);
	upside_share(up, old);
	upsides_install(&px->ups, up);
	upside_start(up);
	portal_installed(px);
	proxy_settle_check(px);
	if (say)
		log_warnx("encrypted-only: not usable: %s", up->unusable);
}

/* The discovery for cfg's address servers into *out (NULL: none). */
static int
proxy_discovery_new(struct proxy *px, const struct config *cfg,
    const struct discovery *prev, struct discovery **out)
{
	struct addr addrs[CONFIG_MAX_UPSTREAM];
	size_t n;

	*out = NULL;
	if (cfg->mode == MODE_PLAINTEXT ||
	    (n = upside_addr_servers(cfg, addrs, CONFIG_MAX_UPSTREAM)) == 0)
		return 0;
	if ((*out = discovery_new(px->base, cfg, addrs, n, prev,
	    proxy_discovery_cb, px)) == NULL)
		return -1;
	return 0;
}

/* A reload's new upside and discovery, never installed: cfg stays the
 * caller's. */
static void
proxy_upside_drop(struct upside *up, struct discovery *disc)
{
	free(up->owned);
	up->owned = NULL;
	upside_free(up);
	discovery_free(disc);
}

/*
 * cfg's validator into *out: with dnssec validate, from its trust
 * anchors and insecure zones; NULL otherwise.  -1: out of memory.
 */
static int
proxy_validator_new(const struct config *cfg, struct validator **out)
{
	const uint8_t **nta = NULL;
	size_t *ntalen = NULL, i;

	*out = NULL;
	if (cfg->dnssec != CONFIG_DNSSEC_VALIDATE)
		return 0;
	if (cfg->ninsecure > 0 &&
	    ((nta = calloc(cfg->ninsecure, sizeof(*nta))) == NULL ||
	    (ntalen = calloc(cfg->ninsecure, sizeof(*ntalen))) == NULL))
		goto done;
	for (i = 0; i < cfg->ninsecure; i++) {
		nta[i] = cfg->insecure[i].name;
		ntalen[i] = cfg->insecure[i].len;
	}
	*out = validator_new(cfg->anchors, cfg->nanchors, nta, ntalen,
	    cfg->ninsecure, PROXY_VALIDATOR_ENTRIES);
done:
	free(nta);
	free(ntalen);
	if (*out == NULL) {
		log_warnx("cannot make the DNSSEC validator");
		return -1;
	}
	return 0;
}

/* The same DNSSEC settings: the cache's verdicts still hold. */
static int
dnssec_same(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->dnssec != b->dnssec)
		return 0;
	if (a->dnssec != CONFIG_DNSSEC_VALIDATE)
		return 1;
	if (a->nanchors != b->nanchors || a->ninsecure != b->ninsecure)
		return 0;
	for (i = 0; i < a->nanchors; i++)
		if (a->anchors[i].type != b->anchors[i].type ||
		    a->anchors[i].rdlen != b->anchors[i].rdlen ||
		    !dnsmsg_name_equal(a->anchors[i].owner,
		    a->anchors[i].owner_len, b->anchors[i].owner,
		    b->anchors[i].owner_len) ||
		    memcmp(a->anchors[i].rdata, b->anchors[i].rdata,
		    a->anchors[i].rdlen) != 0)
			return 0;
	for (i = 0; i < a->ninsecure; i++)
		if (!dnsmsg_name_equal(a->insecure[i].name, a->insecure[i].len,
		    b->insecure[i].name, b->insecure[i].len))
			return 0;
	return 1;
}

/* The validator replaced (reload): its counters carried over. */
static void
proxy_validator_install(struct proxy *px, struct validator *v)
{
	if (px->validator != NULL) {
		px->sig_checks_past += validator_stats(px->validator)->
		    sig_checks;
		px->early_sigs_past += validator_stats(px->validator)->
		    early_sigs;
	}
	validator_free(px->validator);
	px->validator = v;
	px->clock_suspect = v != NULL ? validator_stats(v)->clock_suspect :
	    0;
	/* A new one starts with the clock right: said again if not. */
	px->stats.dnssec_clock_behind = v != NULL ?
	    validator_stats(v)->clock_behind : 0;
}

struct proxy *
proxy_new(struct event_base *base, const struct config *cfg)
{
	struct proxy *px;
	struct upside *up;
	size_t i;

	if ((px = calloc(1, sizeof(*px))) == NULL) {
		log_warn("proxy");
		return NULL;
	}
	px->base = base;
	px->cfg = cfg;
	TAILQ_INIT(&px->queries);
	TAILQ_INIT(&px->spare);
	for (i = 0; i < PROXY_FLIGHT_BUCKETS; i++)
		LIST_INIT(&px->flight[i]);
	px->hedge_tokens = PROXY_HEDGE_BURST;
	clock_timer_init(&px->resume_tick, base, proxy_resume_tick_cb, px);
	clock_timer_init(&px->portal_timer, base, portal_lease_cb, px);
	clock_timer_init(&px->probe_timer, base, portal_probe_cb, px);
	/* The probe: ". NS", plain, no EDNS: what any resolver answers. */
	px->probe_len = dnsmsg_make_query(px->probe_msg,
	    sizeof(px->probe_msg), (const uint8_t *)"", 1, DNS_TYPE_NS,
	    DNS_CLASS_IN, DNS_FLAG_RD, 0, 0, 0);
	if (px->probe_len == 0 || dnsmsg_parse_query(px->probe_msg,
	    px->probe_len, &px->probe_qi) != DNS_VERDICT_OK)
		fatalx("proxy: cannot make the portal probe");
	proxy_cache_policy(px, cfg);
	arc4random_buf(&px->seed, sizeof(px->seed));
	if ((px->clients = ratelimit_clients_new(cfg->max_pending,
	    px->seed)) == NULL ||
	    (cfg->ratelimit > 0 && (px->rl = ratelimit_new(cfg->ratelimit_size,
	    px->seed)) == NULL) ||
	    (cfg->cache_size > 0 &&
	    (px->cache = cache_new(cfg->cache_size)) == NULL) ||
	    proxy_validator_new(cfg, &px->validator) == -1 ||
	    upsides_init(&px->ups, base, proxy_health_cb,
	    proxy_connected_cb, px) == -1 ||
	    (px->listener = listen_new(base, cfg, proxy_query_cb, px)) ==
	    NULL || proxy_discovery_new(px, cfg, NULL, &px->disc) == -1 ||
	    (up = upside_new(&px->ups, cfg, px->disc)) == NULL) {
		proxy_free(px);
		return NULL;
	}
	upsides_install(&px->ups, up);
	return px;
}

int
proxy_reload(struct proxy *px, struct config *cfg)
{
	struct discovery *disc;
	struct upside *up;
	struct cache *cache = NULL;
	struct ratelimit *rl = NULL;
	struct validator *val;
	int resized = cfg->cache_size != px->cfg->cache_size;
	/* A new rate limit table when it is turned on or resized; its
	 * sources are forgotten then, and only then. */
	int new_rl = cfg->ratelimit > 0 && (px->rl == NULL ||
	    cfg->ratelimit_size != px->cfg->ratelimit_size);

	/* The new upstream side first: it has no effect until swapped in.
	 * Its discovery starts from the old one's results. */
	if (proxy_validator_new(cfg, &val) == -1)
		return -1;
	if (proxy_discovery_new(px, cfg, px->disc, &disc) == -1) {
		validator_free(val);
		return -1;
	}
	if ((up = upside_new(&px->ups, cfg, disc)) == NULL ||
	    upside_own(up, cfg) == -1) {
		upside_free(up);
		discovery_free(disc);
		validator_free(val);
		return -1;
	}
	if (resized && cfg->cache_size > 0 &&
	    (cache = cache_new(cfg->cache_size)) == NULL) {
		log_warnx("cannot make a cache of %u bytes", cfg->cache_size);
		proxy_upside_drop(up, disc);
		validator_free(val);
		return -1;
	}
	/* More room for sources is harmless if what follows fails. */
	if (ratelimit_clients_grow(px->clients, cfg->max_pending) == -1 ||
	    (new_rl && (rl = ratelimit_new(cfg->ratelimit_size, px->seed)) ==
	    NULL)) {
		log_warnx("cannot make the per-source tables");
		cache_free(cache);
		proxy_upside_drop(up, disc);
		validator_free(val);
		return -1;
	}
	if (listen_update(px->listener, cfg) == -1) {
		ratelimit_free(rl);
		cache_free(cache);
		proxy_upside_drop(up, disc);
		validator_free(val);
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
	} else if (px->cache != NULL && !upside_same(px->cfg, cfg)) {
		log_info("mode, upstreams or forward rules changed: cache "
		    "emptied");
		cache_flush(px->cache);
	} else if (px->cache != NULL && !dnssec_same(px->cfg, cfg)) {
		/* Entries carry the old settings' verdicts (or none). */
		log_info("dnssec settings changed: cache emptied");
		cache_flush(px->cache);
	}
	/* A new store: the anchors or insecure zones may have changed. */
	proxy_validator_install(px, val);
	proxy_cache_policy(px, cfg);
	upsides_install(&px->ups, up);
	px->cfg = cfg;
	discovery_free(px->disc);
	px->disc = disc;
	upside_start(up);
	if (disc != NULL)
		discovery_start(disc);
	portal_installed(px);
	proxy_settle_check(px);
	return 0;
}

void
proxy_start(struct proxy *px)
{
	clock_resumed();	/* the baseline: sleep before us is no resume */
	clock_timer_add(&px->resume_tick, PROXY_RESUME_TICK_MS);
	upside_start(px->ups.current);
	if (px->disc != NULL)
		discovery_start(px->disc);
	portal_installed(px);
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

size_t
proxy_upstream_count(const struct proxy *px)
{
	return upside_upstream_count(px->ups.current);
}

void
proxy_upstream_info(const struct proxy *px, size_t i,
    struct proxy_upstream_info *info)
{
	const struct route *route;
	struct upstreams *u = upside_upstream_set(px->ups.current, &i,
	    &route);
	struct doh_client *c = upstream_get(u, i);

	info->url = route != NULL ? route->rule->upstream[i].url :
	    px->ups.current->list[i].url;
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

const struct listen_stats *
proxy_listen_stats(const struct proxy *px)
{
	return listen_stats(px->listener);
}

int
proxy_settled(const struct proxy *px)
{
	struct upstreams *u = px->ups.current->upstreams;

	if (discovery_pending(px->disc))
		return 0;
	return u == NULL || proxy_unhealthy(px) == NULL || !upstream_usable(u);
}

const char *
proxy_unhealthy(const struct proxy *px)
{
	const struct upside *up = px->ups.current;
	struct upstreams *u = up->upstreams;
	size_t i;

	if (u == NULL && up->fallback == NULL && up->pending)
		return "address servers not discovered yet: answering "
		    "SERVFAIL";
	if (u == NULL && up->fallback == NULL)
		return "no DoH upstream: answering SERVFAIL";
	if (u == NULL)
		return NULL;	/* plaintext: the fallback servers answer */
	/* Idle: left closed after a long quiet spell, a query connects. */
	for (i = 0; i < upstream_count(u); i++)
		if (doh_get_state(upstream_get(u, i)) == DOH_READY ||
		    doh_get_state(upstream_get(u, i)) == DOH_IDLE)
			return NULL;
	return px->ups.current->fallback != NULL ?
	    "no DoH upstream connected: answering over plain DNS" :
	    "no DoH upstream connected: answering SERVFAIL";
}

/*
 * Each field of PROXY_STATS as field=value, in the list's order, whole
 * fields only and as many to a line as log.c keeps (1023 bytes of a
 * message): "stats:" first, then, should the numbers grow that long,
 * "stats (more):" lines, which readers of the last "stats:" line do not
 * take for it.
 */
void
proxy_log_stats(const struct proxy *px)
{
#define PROXY_STATS_NAME(field, family, value)	#field,
#define PROXY_STATS_VALUE(field, family, value)	px->stats.field,
	static const char *const names[] = {
		PROXY_STATS(PROXY_STATS_NAME, PROXY_STATS_NOFIELD)
	};
	const uint64_t values[] = {
		PROXY_STATS(PROXY_STATS_VALUE, PROXY_STATS_NOFIELD)
	};
#undef PROXY_STATS_NAME
#undef PROXY_STATS_VALUE
	char line[1024 - sizeof("stats (more):") + 1], field[128];
	const char *prefix = "stats";
	size_t i, n = 0;
	int w;

	line[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		w = snprintf(field, sizeof(field), " %s=%llu", names[i],
		    (unsigned long long)values[i]);
		if (w < 0 || (size_t)w >= sizeof(field))
			continue;
		if (n + (size_t)w >= sizeof(line)) {
			log_info("%s:%s", prefix, line);
			prefix = "stats (more)";
			n = 0;
		}
		memcpy(line + n, field, (size_t)w + 1);
		n += (size_t)w;
	}
	log_info("%s:%s", prefix, line);
}

void
proxy_stop(struct proxy *px)
{
	struct query *q;

	clock_timer_del(&px->resume_tick);
	/* Validations waiting on a chain query end with it, not going on. */
	px->stopping = 1;
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
	portal_probe_cancel(px);
	clock_timer_del(&px->portal_timer);
	clock_timer_del(&px->probe_timer);
	while ((q = TAILQ_FIRST(&px->spare)) != NULL) {
		TAILQ_REMOVE(&px->spare, q, entry);
		free(q);
	}
	/* Every query is gone: only the proxy holds the current upside. */
	upsides_clear(&px->ups);
	discovery_free(px->disc);
	if (px->settle != NULL)
		event_free(px->settle);
	listen_free(px->listener);
	cache_free(px->cache);
	validator_free(px->validator);
	ratelimit_free(px->rl);
	ratelimit_clients_free(px->clients);
	free(px);
}

struct cache *
proxy_cache(struct proxy *px)
{
	return px->cache;
}

const struct config *
proxy_config(const struct proxy *px)
{
	return px->cfg;
}

const struct cache_stats *
proxy_cache_stats(const struct proxy *px)
{
	return px->cache != NULL ? cache_stats(px->cache) : NULL;
}

int
proxy_resume_check(struct proxy *px)
{
	uint64_t ms;

	if ((ms = clock_resumed()) == 0)
		return 0;
	px->stats.resumes++;
	log_info("resumed after %llu s of sleep: checking the upstream "
	    "connections", (unsigned long long)((ms + 500) / 1000));
	proxy_network_changed(px);
	return 1;
}

static void
proxy_resume_tick_cb(void *arg)
{
	struct proxy *px = arg;

	proxy_resume_check(px);
	clock_timer_add(&px->resume_tick, PROXY_RESUME_TICK_MS);
}

void
proxy_network_changed(struct proxy *px)
{
	px->stats.network_changes++;
	log_debug("network changed: checking the upstream connections");
	upside_network_changed(px->ups.current);
	/* What a network's path could not fetch, another's may. */
	if (px->validator != NULL)
		validator_flush(px->validator);
	/* The network's resolvers may designate others now. */
	discovery_rerun(px->disc);
}

void
proxy_rediscover(struct proxy *px)
{
	discovery_rerun(px->disc);
}

const struct discovery *
proxy_discovery(const struct proxy *px)
{
	return px->disc;
}
