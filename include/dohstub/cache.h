/*
 * cache: a bounded answer cache, keyed by the question (name compared
 * case-insensitively, type, class) and the query's DO and CD bits.
 *
 * Pure code like dnsmsg: no I/O, no timers, no clock of its own (the
 * caller passes now_ms, from clock_boot_ms(): TTLs age while the machine
 * sleeps), so it can be fuzzed and tested on stepped time.  It
 * allocates: one block per entry, charged with its overhead against the
 * byte bound.
 *
 * What is stored is the upstream's answer without its OPT record (the
 * client's EDNS is the proxy's to restore); what is served is that
 * answer rewritten for the client that asks: its ID, its question bytes
 * (0x20 case), every TTL but OPT's lowered by the time the entry has been
 * held, and an OPT record of our own when the client sent EDNS.
 *
 * Eviction is SIEVE (Zhang et al., NSDI 2024): a FIFO queue with one
 * "visited" bit per entry and a hand that walks from the oldest entry,
 * clearing visited bits and evicting the first unvisited one.  A hit only
 * sets a bit (no list moves), and a scan of one-time names is evicted
 * before the names that are asked again, which LRU would flush.
 */
#ifndef DOHSTUB_CACHE_H
#define DOHSTUB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/dnsmsg.h"

/* Where an answer came from: the provenance rules differ. */
enum cache_source {
	CACHE_SRC_DOH,
	CACHE_SRC_PLAIN,	/* encrypted-preferred fallback, plaintext */
	CACHE_SRC_MAX
};
extern const char *const cache_source_names[];	/* "doh", "plain" */

/* Why cache_store() did not keep an answer; for tests and debug logs. */
enum cache_verdict {
	CACHE_STORED,
	CACHE_OFF,		/* the cache has no room at all */
	CACHE_NOT_CACHEABLE,	/* rcode, TC, no SOA for a negative answer */
	CACHE_TTL_ZERO,		/* a record with TTL 0, or 0 after the caps */
	CACHE_MALFORMED,	/* does not parse (never for checked answers) */
	CACHE_TOO_BIG,		/* larger than the cache could ever hold */
	CACHE_NOMEM,
	CACHE_VERDICT_MAX
};
extern const char *const cache_verdict_names[];

/* TTL rules, in seconds; from the configuration. */
struct cache_policy {
	uint32_t	min_ttl;	/* cache-min-ttl, default 0 */
	uint32_t	max_ttl;	/* cache-max-ttl, default 86400 */
	uint32_t	max_negative_ttl; /* cache-max-negative-ttl, 3600 */
	uint32_t	servfail_ttl;	/* cache-servfail-ttl, default 5;
					   0: SERVFAIL is not cached */
	uint32_t	plain_max_ttl;	/* cap for CACHE_SRC_PLAIN answers */
};

/*
 * What an entry carries besides its answer (cache_store_meta()), for
 * DNSSEC validation: the cache keeps it, never interprets it.
 */
struct cache_meta {
	uint8_t		dnssec_state;	/* the caller's (enum val_state, say),
					   returned in cache_hit; 0 with
					   cache_store() */
	uint8_t		no_stale;	/* never served stale: a bogus
					   answer's SERVFAIL must not outlive
					   its time (issue 19) */
	uint32_t	max_ttl;	/* seconds; 0: none; else the entry is
					   kept at most this long (what the
					   signatures allow) */
	uint32_t	servfail_ttl;	/* seconds; 0: the policy's; else a
					   SERVFAIL is kept this long, even
					   with the policy's 0 (a bogus
					   answer, kept briefly so a flood
					   does not reach the upstream) */
};

/* What a lookup found, besides the answer bytes. */
struct cache_hit {
	int			 stale;		/* expired, served from the
						   stale window */
	uint32_t		 ttl_left;	/* seconds; 0 when stale */
	uint32_t		 ttl_orig;	/* the TTL it was stored with */
	uint64_t		 age_ms;	/* how long it has been held */
	enum cache_source	 source;
	int			 rcode;
	uint8_t			 dnssec_state;	/* as stored (cache_meta) */
	uint8_t			 no_stale;	/* as stored */
};

struct cache_stats {
	uint64_t	entries;	/* now */
	uint64_t	bytes;		/* now, overhead included */
	uint64_t	max_bytes;
	uint64_t	stored;
	uint64_t	evicted;	/* to make room */
	uint64_t	expired;	/* dropped when found expired */
};

struct cache;

/*
 * A cache holding at most max_bytes, counting every entry's overhead.
 * max_bytes 0 gives a cache that stores nothing (every store is
 * CACHE_OFF, every lookup a miss).  NULL if out of memory.
 */
struct cache *cache_new(size_t max_bytes);

/*
 * Store the answer msg (len bytes, an upstream answer that passed
 * dnsmsg_check_answer() for the query qi) for qi's key, as of now_ms,
 * from src.  Cached: NOERROR with answers, for the smallest TTL of its
 * records clamped to [min_ttl, max_ttl]; NXDOMAIN and NODATA (NOERROR,
 * no answer of the type asked, a SOA in the authority section) for
 * min(SOA TTL, SOA MINIMUM) capped by max_negative_ttl (RFC 2308 5);
 * SERVFAIL for servfail_ttl.  PLAIN answers are capped by
 * plain_max_ttl.  Never: TC set, other rcodes, a negative answer without
 * a SOA, a TTL of 0.  An entry with the same key is replaced.
 */
enum cache_verdict cache_store(struct cache *c,
	    const struct dns_query_info *qi, const uint8_t *msg, size_t len,
	    enum cache_source src, uint64_t now_ms,
	    const struct cache_policy *pol);

/*
 * cache_store() with what the entry carries besides (meta; NULL is all
 * zero, cache_store() itself): its DNSSEC state, returned by every hit;
 * no_stale, and the entry is a miss once expired whatever stale_ms says;
 * max_ttl, a cap on the TTL after the policy's rules (min_ttl does not
 * raise it again: signatures that expire must not be served after);
 * servfail_ttl, a SERVFAIL's time instead of the policy's.
 */
enum cache_verdict cache_store_meta(struct cache *c,
	    const struct dns_query_info *qi, const uint8_t *msg, size_t len,
	    enum cache_source src, uint64_t now_ms,
	    const struct cache_policy *pol, const struct cache_meta *meta);

/*
 * Look qi's key up as of now_ms.  A fresh entry is a hit; an expired
 * one is a hit only if it expired at most stale_ms ago (0: never) and
 * was not stored no_stale (cache_meta), with
 * hit->stale set and every TTL served as 30 (RFC 8767 4), else it is
 * dropped.  PLAIN entries are hits only if allow_plain (DoH is down).
 * On a hit the answer for the client is written into out (cap bytes):
 * qi's ID and RD/CD bits, qi->qname's bytes (the client's 0x20 case) in
 * place of the stored question name, TTLs lowered by the whole seconds
 * the entry has been held, and when qi->has_edns an OPT record (UDP size
 * edns_size, DO copied from qi) carrying an Extended DNS Error 3 (Stale
 * Answer, RFC 8914) when stale.  Returns the length written, or 0 for a
 * miss (also when cap is too small, counted as a miss).
 */
size_t	cache_lookup(struct cache *c, const struct dns_query_info *qi,
	    uint64_t now_ms, uint64_t stale_ms, int allow_plain,
	    uint16_t edns_size, uint8_t *out, size_t cap,
	    struct cache_hit *hit);

/* Drop every entry (a reload that changes the mode or the upstreams). */
void	cache_flush(struct cache *c);

/* Drop every entry from src (DoH works again: no more plain answers). */
void	cache_flush_source(struct cache *c, enum cache_source src);

/*
 * Drop the entries of name (wire form, name_len bytes, compared without
 * case), of type qtype only unless it is -1, whatever their class and
 * DO/CD bits; every entry when name is NULL (the control socket's
 * flush).  Returns how many were dropped.
 */
size_t	cache_flush_name(struct cache *c, const uint8_t *name,
	    size_t name_len, int qtype);

const struct cache_stats *cache_stats(const struct cache *c);

void	cache_free(struct cache *c);

#endif
