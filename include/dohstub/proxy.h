/*
 * proxy: the core.  Each client query passes validation, access control,
 * the rate limit, the local zones and the cache, then goes upstream (DoH,
 * fallback, or a forward rule's servers; proxy.c draws the whole path)
 * under the mode's rule:
 *
 *	encrypted-only		DoH, or SERVFAIL; never plain DNS
 *	encrypted-preferred	DoH; plain DNS to the fallback servers when
 *				DoH cannot be had, straight away while it is
 *				known to be down
 *	plaintext		plain DNS only; no TLS connection ever
 *
 * encrypted-only's one exception is the portal lease, to the network's
 * resolvers (the address servers, then fallback: resolv.conf's
 * nameservers unless set).  With captive-portal ask (the default) nothing
 * is sent to them until the user opens a lease (proxy_portal_open():
 * SIGUSR2, dohq --captive-portal): while no DoH upstream is connected,
 * /health and the log (once per outage) only say how.  With auto, which
 * the user opts in to, one fixed probe (". NS") of our own, plaintext
 * that no client asked for, goes to them at most every 30 s while no DoH
 * upstream is connected; if they answer, a captive portal is suspected
 * and a lease opens by itself for the operating systems'
 * connectivity-check names only.  For a lease's time
 * (captive-portal-lease) the names it covers (every name, for the
 * user's) go to the network's resolvers, answered with EDE 0 "captive
 * portal exception" and TTLs of at most 10 s, never cached; it ends
 * early the moment a DoH upstream connects or answers.  With
 * captive-portal off, or in the other modes, there is no portal channel
 * at all.
 *
 * An upstream given as an address (config.h) joins the DoH servers once
 * discovery (discovery.h) has upgraded it; until then, or if it cannot
 * be, it is a plain server of its own in encrypted-preferred (plain DNS
 * to that same address) and unusable in encrypted-only (SERVFAIL, EDE 22
 * naming it, or EDE 14 while discovery is pending).  The proxy owns the
 * discovery and builds a new upstream side when a result changes.
 */
#ifndef DOHSTUB_PROXY_H
#define DOHSTUB_PROXY_H

#include <stdint.h>

#include <event2/event.h>

#include "dohstub/cache.h"
#include "dohstub/config.h"
#include "dohstub/doh.h"
#include "dohstub/upstream.h"

struct proxy;

/* Upper bounds (ms) of the upstream latency histogram; +Inf follows. */
#define PROXY_LATENCY_BUCKETS	12
extern const unsigned proxy_latency_bounds[PROXY_LATENCY_BUCKETS];

/*
 * The counters and gauges, declared once: struct proxy_stats, the SIGUSR1
 * line (proxy_log_stats(): field=value) and /metrics (metrics.c) are all
 * made from this list.
 *
 *	C(field, family, value)		a uint64_t field, and its sample in
 *					/metrics: of family METRICS_<family>
 *					(metrics.c), with the family's label
 *					set to value (NULL: no label)
 *	ALSO(field, family, value)	one more sample from that field
 *
 * Fields with the same family and value make one sample, their sum; family
 * NONE keeps a field out of /metrics.
 */
#define PROXY_STATS(C, ALSO)						\
	C(queries_udp,		QUERIES, "udp")				\
	C(queries_tcp,		QUERIES, "tcp")				\
	C(answered_doh,		ANSWERS, "doh")				\
	C(answered_fallback,	ANSWERS, "fallback")			\
	ALSO(cache_hits,	ANSWERS, "cache")			\
	/* The answers dohstub makes itself rather than relays. */	\
	C(servfail,		ANSWERS, "local") /* every one */	\
	C(formerr,		ANSWERS, "local")			\
	C(notimp,		ANSWERS, "local")			\
	C(badvers,		ANSWERS, "local") /* EDNS version > 0 */ \
	C(policy,		ANSWERS, "local") /* query policy */	\
	C(answered_local,	ANSWERS, "local_zone") /* local.h */	\
	C(answered_forward_doh,	ANSWERS, "forward_doh")			\
	C(answered_forward_plain, ANSWERS, "forward_plain")		\
	C(cache_hits,		CACHE_LOOKUPS, "hit")			\
	C(cache_misses,		CACHE_LOOKUPS, "miss")			\
	C(stale_answers,	CACHE_STALE, NULL) /* RFC 8767 */	\
	C(prefetches,		CACHE_PREFETCHES, NULL)			\
	/* Queries that waited on another's upstream request. */	\
	C(coalesced,		COALESCED, NULL)			\
	C(dropped,		DROPPED, NULL)	/* not a query */	\
	C(refused_acl,		REFUSED_ACL, NULL) /* allow, deny */	\
	C(over_limit,		OVER_LIMIT, NULL) /* max-pending */	\
	C(truncated,		TRUNCATED, NULL) /* sent with TC=1 */	\
	/* Fairness and the rate limit (ratelimit.h); gauges: now. */	\
	C(over_client_limit,	OVER_CLIENT_LIMIT, NULL)		\
	C(pending_sources,	PENDING_SOURCES, NULL)	/* gauge */	\
	C(ratelimit_tc,		RATELIMITED, "truncate")		\
	C(ratelimit_drop,	RATELIMITED, "drop")			\
	C(ratelimit_entries,	RATELIMIT_ENTRIES, NULL) /* gauge */	\
	C(ratelimit_evictions,	RATELIMIT_EVICTIONS, NULL)		\
	/* DoH attempts that failed: /metrics has them by kind. */	\
	C(doh_errors,		NONE, NULL)				\
	C(fallback_activations,	FALLBACK_ACTIVATIONS, NULL)		\
	C(hedges,		HEDGES, NULL)				\
	C(hedge_wins,		HEDGE_WINS, NULL)			\
	C(hedges_denied,	HEDGES_DENIED, NULL) /* over budget */	\
	C(network_changes,	NETWORK_CHANGES, NULL)			\
	C(resumes,		RESUMES, NULL) /* proxy_resume_check() */ \
	/* The portal lease: its answers, leases, probes (plain DNS). */ \
	C(portal_answers,	CAPTIVE_PORTAL_ANSWERS, NULL)		\
	ALSO(portal_answers,	ANSWERS, "captive_portal")		\
	C(portal_leases,	CAPTIVE_PORTAL_LEASES, NULL)		\
	C(portal_probes,	CAPTIVE_PORTAL_PROBES, NULL)		\
	/*								\
	 * DNSSEC validation (dnssec validate): answers by verdict,	\
	 * unchecked when the client set CD (RFC 4035 3.2.2); bogus	\
	 * ones also by their EDE (RFC 8914: 6 DNSSEC Bogus, 7		\
	 * Signature Expired, 8 Not Yet Valid, 9 DNSKEY Missing, 10	\
	 * RRSIGs Missing, 12 NSEC Missing); DS and DNSKEY queries of	\
	 * dohstub's own sent upstream; signatures checked.  Answers	\
	 * to clients, from upstream or the cache; 0 unless dnssec	\
	 * validate.							\
	 */								\
	C(dnssec_secure,	DNSSEC_ANSWERS, "secure")		\
	C(dnssec_insecure,	DNSSEC_ANSWERS, "insecure")		\
	C(dnssec_bogus,		DNSSEC_ANSWERS, "bogus")		\
	C(dnssec_unchecked,	DNSSEC_ANSWERS, "unchecked")		\
	C(dnssec_bogus_6,	DNSSEC_BOGUS, "6")			\
	C(dnssec_bogus_7,	DNSSEC_BOGUS, "7")			\
	C(dnssec_bogus_8,	DNSSEC_BOGUS, "8")			\
	C(dnssec_bogus_9,	DNSSEC_BOGUS, "9")			\
	C(dnssec_bogus_10,	DNSSEC_BOGUS, "10")			\
	C(dnssec_bogus_12,	DNSSEC_BOGUS, "12")			\
	C(dnssec_chain_queries,	DNSSEC_CHAIN_QUERIES, NULL)		\
	C(dnssec_sig_checks,	DNSSEC_SIGNATURE_CHECKS, NULL)		\
	/* The clock taken as behind (validator.h): gauge, then the	\
	 * signatures that passed so. */				\
	C(dnssec_clock_behind,	DNSSEC_CLOCK_BEHIND, NULL)		\
	C(dnssec_early_sigs,	DNSSEC_EARLY_SIGNATURES, NULL)		\
	C(pending,		PENDING_QUERIES, NULL)	/* gauge */

#define PROXY_STATS_FIELD(field, family, value)	uint64_t field;
#define PROXY_STATS_NOFIELD(field, family, value)

/* Counters, for logs, tests and metrics. */
struct proxy_stats {
	PROXY_STATS(PROXY_STATS_FIELD, PROXY_STATS_NOFIELD)
	/* Of every answer sent to a client: the header's 4 bits, and
	 * BADVERS, the one extended rcode dohstub makes itself. */
	uint64_t	rcodes[DNS_RCODE_BADVERS + 1];
	/* Extended DNS Errors dohstub added to answers, by INFO-CODE
	 * (those from the cache's serve-stale excepted). */
	uint64_t	ede[DNS_EDE_MAX];
	/* DoH attempts that failed, by doh_result; [DOH_OK] counts answers
	 * that came back but did not match the query. */
	uint64_t	doh_error_kinds[DOH_RESULT_MAX];
	/* DoH answers by time from submit to answer: a cumulative-free
	 * histogram, bucket i counts latencies <= proxy_latency_bounds[i]
	 * and above the bound before; the last bucket is the rest. */
	uint64_t	latency_buckets[PROXY_LATENCY_BUCKETS + 1];
	uint64_t	latency_sum_ms;
};

/*
 * Where an answer a client got came from.  Every answer leaves through
 * one place, which counts it under its source and tells the observer
 * (proxy_on_answer()).
 */
enum proxy_source {
	PROXY_SRC_ERROR,	/* made here: SERVFAIL, REFUSED, FORMERR,
				   NOTIMP, BADVERS, an empty TC=1 */
	PROXY_SRC_LOCAL,	/* a local zone (local.h) */
	PROXY_SRC_POLICY,	/* the query policy (local.h) */
	PROXY_SRC_CACHE,
	PROXY_SRC_STALE,	/* an expired entry (RFC 8767) */
	PROXY_SRC_DOH,		/* a default DoH upstream */
	PROXY_SRC_FORWARD_DOH,	/* a forward rule's DoH upstream */
	PROXY_SRC_FORWARD_PLAIN, /* a forward rule's plain servers */
	PROXY_SRC_FALLBACK,	/* plain DNS, by the mode */
	PROXY_SRC_PORTAL,	/* the network's resolvers, under a lease */
	PROXY_SRC_MAX
};
extern const char *const proxy_source_names[PROXY_SRC_MAX];

/*
 * What validation said of an answer.  NONE: not validated (dnssec off or
 * process, or an answer made here); UNCHECKED: dnssec validate, but the
 * client set CD (RFC 4035 3.2.2).
 */
enum proxy_dnssec {
	PROXY_DNSSEC_NONE,
	PROXY_DNSSEC_UNCHECKED,
	PROXY_DNSSEC_SECURE,
	PROXY_DNSSEC_INSECURE,
	PROXY_DNSSEC_BOGUS,
	PROXY_DNSSEC_MAX
};
extern const char *const proxy_dnssec_names[PROXY_DNSSEC_MAX];

/* An answer as the observer sees it; the strings live as long as the
 * call. */
struct proxy_answer {
	enum proxy_source source;
	const char	*upstream;	/* the DoH URL that answered; NULL:
					   none, or plain DNS */
	const char	*zone;		/* the forward rule's; NULL: none */
	int		 ede;		/* added by dohstub; -1: none */
	int		 rcode;		/* the answer's, extended included */
	enum proxy_dnssec dnssec;	/* its validation */
	uint64_t	 elapsed_us;	/* from the query's arrival */
};

/*
 * Called once for every answer sent to a client (peer), after it was
 * sent: msg (len bytes, as sent: cut for UDP) answers qi, whose
 * question is unread (qname_len 0) when the query was malformed.  A
 * query that gets no answer (dropped, rate limit drop) is not seen.  The
 * callee must not call back into the proxy.
 */
struct listen_peer;
typedef void proxy_answer_cb(const struct listen_peer *peer,
	    const struct dns_query_info *qi, const uint8_t *msg, size_t len,
	    const struct proxy_answer *a, void *arg);

/* Set the observer (NULL: none); one at a time. */
void	proxy_on_answer(struct proxy *px, proxy_answer_cb *cb, void *arg);

/*
 * msg (len bytes, copied) as a client query from peer, as if the
 * listener had read it, but for access control and the rate limit,
 * which it skips: the control socket's lookup.  peer is released as
 * any client's (listen.h).
 */
void	proxy_lookup(struct proxy *px, struct listen_peer *peer,
	    const uint8_t *msg, size_t len);

/* What /health and /metrics say of one upstream. */
struct proxy_upstream_info {
	const char	*url;
	const char	*zone;		/* a forward rule's; NULL: default */
	const char	*state;		/* doh_state_names[] */
	const char	*last_error;	/* "" if none */
	size_t		 pending;	/* requests waiting or in flight */
	struct upstream_info more;	/* srtt, answers, hedges, ... */
};

/*
 * Bind the listeners and build everything for cfg (which must outlive the
 * proxy), without opening any upstream connection yet.  NULL on failure,
 * logged.
 */
struct proxy *proxy_new(struct event_base *base, const struct config *cfg);

/* Start the upstream side (bootstrap lookups, DoH connections). */
void	proxy_start(struct proxy *px);

/*
 * Switch to cfg (SIGHUP): new upstreams, mode and limits; listeners kept
 * where their address did not change.  Queries in flight finish under the
 * configuration they started with.  On success the proxy owns cfg (a
 * config_free()able heap object) and frees it when it is replaced and
 * unused; on failure (logged) nothing changed and the caller keeps cfg.
 */
int	proxy_reload(struct proxy *px, struct config *cfg);

/*
 * 1 once the upstream side has settled for start-up: plaintext, an
 * upstream connected, or every upstream backing off (given up waiting).
 */
int	proxy_settled(const struct proxy *px);

/*
 * cb(arg) is called once, from the event loop, when proxy_settled()
 * first holds after proxy_start() (or a reload): the daemon's READY=1,
 * without polling.  Set it before proxy_start(); cb NULL: not told.
 * Returns 0, or -1 (logged nowhere) if the event cannot be made.
 */
typedef void proxy_settled_cb(void *arg);
int	proxy_on_settled(struct proxy *px, proxy_settled_cb *cb, void *arg);

const struct proxy_stats *proxy_stats(const struct proxy *px);

/*
 * Upstreams: the default ones (none in plaintext mode), then each DoH
 * forward rule's; and what is known of upstream i.
 */
size_t	proxy_upstream_count(const struct proxy *px);
void	proxy_upstream_info(const struct proxy *px, size_t i,
	    struct proxy_upstream_info *info);

/* Open TCP client connections. */
size_t	proxy_tcp_clients(const struct proxy *px);

/* The listener's counters (listen.h): TCP connections evicted, refused. */
struct listen_stats;
const struct listen_stats *proxy_listen_stats(const struct proxy *px);

/*
 * The cache, or NULL with cache-size 0 (the control socket's flush);
 * valid until the next reload.
 */
struct cache *proxy_cache(struct proxy *px);

/* The configuration in force (the latest reload's). */
const struct config *proxy_config(const struct proxy *px);

/* The cache's own counters, or NULL with cache-size 0. */
const struct cache_stats *proxy_cache_stats(const struct proxy *px);

/*
 * NULL if the proxy can answer as its mode intends; otherwise why not
 * (an encrypted mode with no upstream connected).  For /health.
 */
const char *proxy_unhealthy(const struct proxy *px);

/*
 * The network changed (netwatch): check every upstream connection now and
 * repeat the bootstrap lookups (upstream_network_changed()).
 */
void	proxy_network_changed(struct proxy *px);

/*
 * Whether the machine slept since the last look (clock_resumed()); if so,
 * log it, count it in resumes and treat it as a network change.  Called
 * by a 1 s tick from proxy_start() on, and by every query.  1 if it saw a
 * resume.
 */
int	proxy_resume_check(struct proxy *px);

/*
 * Run discovery again for every address server (a resolv.conf change that
 * did not reload: the network's resolver may designate another endpoint);
 * the results stand meanwhile.  A no-op without address servers.
 */
void	proxy_rediscover(struct proxy *px);

/*
 * The discovery of the address servers (discovery.h), or NULL (none, or
 * plaintext): for /health and /metrics.
 */
struct discovery;
const struct discovery *proxy_discovery(const struct proxy *px);

/*
 * Open a portal lease for every query (SIGUSR2, dohq --captive-portal).
 * 0, logged; -1 with *why (static text) if it cannot be: not
 * encrypted-only, captive-portal off, no network resolver, or a DoH
 * upstream connected.
 */
int	proxy_portal_open(struct proxy *px, const char **why);

/*
 * What /health says of the portal lease into buf (len bytes, always
 * terminated when len > 0): a portal suspected, or a lease open and its
 * time left.  The length; 0 (buf "") when there is nothing to say.
 */
size_t	proxy_portal_status(const struct proxy *px, char *buf, size_t len);

/* Log the counters at info level. */
void	proxy_log_stats(const struct proxy *px);

/* Answer every pending query with SERVFAIL (shutdown). */
void	proxy_stop(struct proxy *px);

/* proxy_stop(), then free everything. */
void	proxy_free(struct proxy *px);

#endif
