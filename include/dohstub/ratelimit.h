/*
 * ratelimit: the per-source tables behind fairness and the rate limit.
 *
 *	clients		how many queries each source has in flight, so that
 *			one client cannot hold every max-pending slot
 *			(max-pending-per-client)
 *	ratelimit	a token bucket per source (ratelimit Q): Q queries
 *			a second, and a burst of Q
 *
 * Pure code like cache: no I/O, no clock of its own (the caller passes
 * now_ms), and no allocation after the table is made, so that a flood
 * from any number of sources costs no memory and steady state allocates
 * nothing.  Each table is an array of entries made once, with chains
 * hashed under a seed the caller picks at random, so that sources cannot
 * be chosen to pile onto one chain.
 *
 * The clients table needs no eviction: an entry lives only while its
 * source has a query in flight, so with room for max-pending entries it
 * is never full.  The ratelimit table is bounded by its size; when it is
 * full, the entry seen least recently is reused for the new source and
 * what it knew of the old one is lost: a source evicted and seen again
 * starts with a full bucket.
 */
#ifndef DOHSTUB_RATELIMIT_H
#define DOHSTUB_RATELIMIT_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/*
 * The rate limit counts IPv6 sources by /64: one host may use any
 * address of its /64 (RFC 4941, RFC 8981), so counting addresses would
 * let it escape the limit and fill the table.  IPv4 sources count by
 * address.
 */
#define RATELIMIT_V6_BITS	64

/* A source: an IPv4 address, or an IPv6 address or prefix. */
struct ratelimit_key {
	uint8_t		addr[16];	/* IPv4 in the first 4 bytes */
	uint8_t		family;		/* 4 or 6 */
};

/*
 * The key of the client at sa (len bytes): an IPv4-mapped IPv6 address
 * (a dual-stack socket's IPv4 client) is its IPv4 address, an IPv6
 * address keeps its first v6_bits bits (1..128).  Returns 0, or -1 if
 * sa is not an IPv4 or IPv6 address.
 */
int	ratelimit_key_set(struct ratelimit_key *k, const struct sockaddr *sa,
	    socklen_t len, unsigned v6_bits);

/* --- queries in flight per source --- */

struct ratelimit_clients;

/*
 * A table with room for max sources (max-pending: every source in it
 * has a query in flight), hashed under seed.  NULL if memory is short.
 */
struct ratelimit_clients *ratelimit_clients_new(size_t max, uint64_t seed);

/*
 * Room for max sources from now on (a reload raised max-pending); a
 * smaller max keeps the room there is.  Slots handed out stay valid.
 * Returns 0, or -1 (nothing changed) if memory is short.
 */
int	ratelimit_clients_grow(struct ratelimit_clients *t, size_t max);

/*
 * One more query in flight for k, unless k has cap of them already
 * (cap 0: no cap).  Returns the slot to hand back to
 * ratelimit_clients_release(), or -1 if k is at its cap or the table is
 * full (more sources than it has room for).
 */
int	ratelimit_clients_take(struct ratelimit_clients *t,
	    const struct ratelimit_key *k, unsigned cap);

/* One query of slot's source is over; its entry goes with the last. */
void	ratelimit_clients_release(struct ratelimit_clients *t, int slot);

/* Queries in flight for k (0 if none). */
unsigned ratelimit_clients_count(const struct ratelimit_clients *t,
	    const struct ratelimit_key *k);

/* Sources with a query in flight. */
size_t	ratelimit_clients_sources(const struct ratelimit_clients *t);

void	ratelimit_clients_free(struct ratelimit_clients *t);

/* --- token buckets per source --- */

struct ratelimit;

struct ratelimit_stats {
	size_t		entries;	/* sources in the table */
	size_t		size;		/* its bound (ratelimit-size) */
	uint64_t	evictions;	/* entries reused for another source */
	uint64_t	limited;	/* queries over the limit */
};

/* A table of at most size sources (>= 1), hashed under seed; or NULL. */
struct ratelimit *ratelimit_new(size_t size, uint64_t seed);

/*
 * A query from k at now_ms, under a limit of qps (>= 1) queries a
 * second with a burst of qps: 1 if it is within the limit (a token is
 * spent), 0 if not.  A source not in the table gets an entry (the least
 * recently seen one if the table is full) with a full bucket.  qps may
 * differ from one call to the next (a reload).
 */
int	ratelimit_allow(struct ratelimit *rl, const struct ratelimit_key *k,
	    unsigned qps, uint64_t now_ms);

const struct ratelimit_stats *ratelimit_stats(const struct ratelimit *rl);

void	ratelimit_free(struct ratelimit *rl);

#endif
