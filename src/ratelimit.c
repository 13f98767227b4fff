/*
 * ratelimit: per-source tables (ratelimit.h).  Both are arrays made up
 * front, with chains of indices hashed under a random seed; the token
 * buckets also keep a recency list, whose tail is reused when full.
 *
 * Tokens are counted in thousandths: at qps queries a second a bucket
 * gains qps thousandths a millisecond and holds at most qps * 1000, and a
 * query costs 1000.  Integer arithmetic, no drift, exact for any step.
 */
#include <sys/queue.h>

#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/ratelimit.h"

#define NONE		UINT32_MAX
#define MIN_BUCKETS	16
#define TOKEN		1000	/* thousandths of a query */

int
ratelimit_key_set(struct ratelimit_key *k, const struct sockaddr *sa,
    socklen_t len, unsigned v6_bits)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	unsigned i;

	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*sin)) {
		memcpy(k->addr, &sin->sin_addr, 4);
		k->family = 4;
		return 0;
	}
	if (sa->sa_family != AF_INET6 || len < (socklen_t)sizeof(*sin6) ||
	    v6_bits == 0 || v6_bits > 128)
		return -1;
	if (memcmp(&sin6->sin6_addr, mapped, sizeof(mapped)) == 0) {
		memcpy(k->addr, (const uint8_t *)&sin6->sin6_addr + 12, 4);
		k->family = 4;
		return 0;
	}
	memcpy(k->addr, &sin6->sin6_addr, 16);
	for (i = v6_bits; i < 128; i++)
		k->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	k->family = 6;
	return 0;
}

static int
key_eq(const struct ratelimit_key *a, const struct ratelimit_key *b)
{
	return a->family == b->family &&
	    memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Folded 128-bit product: a seeded mix in the manner of wyhash. */
static uint64_t
mix(uint64_t a, uint64_t b)
{
	unsigned __int128 p = (unsigned __int128)a * b;

	return (uint64_t)p ^ (uint64_t)(p >> 64);
}

static uint32_t
key_hash(const struct ratelimit_key *k, uint64_t seed)
{
	uint64_t w0, w1;

	memcpy(&w0, k->addr, 8);
	memcpy(&w1, k->addr + 8, 8);
	w0 ^= seed ^ 0xa0761d6478bd642full;
	w1 ^= seed ^ 0xe7037ed1a0b428dbull ^ k->family;
	return (uint32_t)mix(mix(w0, w1), seed ^ 0x8ebc6af09c88c6e3ull);
}

static size_t
buckets_for(size_t n)
{
	size_t b = MIN_BUCKETS;

	while (b < n && b < ((size_t)1 << 31))
		b <<= 1;
	return b;
}

/* --- queries in flight per source --- */

struct client {
	struct ratelimit_key	key;
	uint32_t		count;	/* 0: free */
	uint32_t		next;	/* chain, or free list */
};

struct ratelimit_clients {
	struct client	*e;
	size_t		 cap;
	uint32_t	*bucket;
	size_t		 nbuckets;	/* a power of 2 */
	uint32_t	 free;
	size_t		 used;
	uint64_t	 seed;
};

struct ratelimit_clients *
ratelimit_clients_new(size_t max, uint64_t seed)
{
	struct ratelimit_clients *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->seed = seed;
	t->free = NONE;
	if (ratelimit_clients_grow(t, max == 0 ? 1 : max) == -1) {
		ratelimit_clients_free(t);
		return NULL;
	}
	return t;
}

int
ratelimit_clients_grow(struct ratelimit_clients *t, size_t max)
{
	struct client *e;
	uint32_t *bucket, h;
	size_t i, nb;

	if (max <= t->cap)
		return 0;
	if (max >= NONE)
		return -1;
	nb = buckets_for(max);
	if ((bucket = malloc(nb * sizeof(*bucket))) == NULL)
		return -1;
	if ((e = realloc(t->e, max * sizeof(*e))) == NULL) {
		free(bucket);
		return -1;
	}
	t->e = e;
	for (i = 0; i < nb; i++)
		bucket[i] = NONE;
	/* Slots are indices: they stay valid; the chains are rebuilt. */
	for (i = 0; i < t->cap; i++) {
		if (e[i].count == 0)
			continue;
		h = key_hash(&e[i].key, t->seed) & (uint32_t)(nb - 1);
		e[i].next = bucket[h];
		bucket[h] = (uint32_t)i;
	}
	for (i = t->cap; i < max; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].next = t->free;
		t->free = (uint32_t)i;
	}
	free(t->bucket);
	t->bucket = bucket;
	t->nbuckets = nb;
	t->cap = max;
	return 0;
}

static uint32_t *
clients_link(const struct ratelimit_clients *t,
    const struct ratelimit_key *k)
{
	uint32_t *p = &t->bucket[key_hash(k, t->seed) & (t->nbuckets - 1)];

	while (*p != NONE && !key_eq(&t->e[*p].key, k))
		p = &t->e[*p].next;
	return p;
}

int
ratelimit_clients_take(struct ratelimit_clients *t,
    const struct ratelimit_key *k, unsigned cap)
{
	uint32_t *p = clients_link(t, k), i;

	if ((i = *p) != NONE) {
		if (cap != 0 && t->e[i].count >= cap)
			return -1;
		t->e[i].count++;
		return (int)i;
	}
	if ((i = t->free) == NONE)
		return -1;
	t->free = t->e[i].next;
	t->e[i].key = *k;
	t->e[i].count = 1;
	t->e[i].next = NONE;
	*p = i;
	t->used++;
	return (int)i;
}

void
ratelimit_clients_release(struct ratelimit_clients *t, int slot)
{
	struct client *c;
	uint32_t *p;

	if (slot < 0 || (size_t)slot >= t->cap || t->e[slot].count == 0)
		return;
	c = &t->e[slot];
	if (--c->count > 0)
		return;
	p = clients_link(t, &c->key);
	*p = c->next;
	c->next = t->free;
	t->free = (uint32_t)slot;
	t->used--;
}

unsigned
ratelimit_clients_count(const struct ratelimit_clients *t,
    const struct ratelimit_key *k)
{
	uint32_t i = *clients_link(t, k);

	return i == NONE ? 0 : t->e[i].count;
}

size_t
ratelimit_clients_sources(const struct ratelimit_clients *t)
{
	return t->used;
}

void
ratelimit_clients_free(struct ratelimit_clients *t)
{
	if (t == NULL)
		return;
	free(t->e);
	free(t->bucket);
	free(t);
}

/* --- token buckets per source --- */

struct bucket {
	struct ratelimit_key	 key;
	uint32_t		 next;		/* chain */
	TAILQ_ENTRY(bucket)	 lru;		/* most recent first */
	uint64_t		 last_ms;
	uint64_t		 tokens;	/* thousandths */
};

struct ratelimit {
	struct bucket		*e;
	size_t			 size;
	uint32_t		*chain;
	size_t			 nchains;	/* a power of 2 */
	TAILQ_HEAD(bucket_list, bucket) lru;
	uint64_t		 seed;
	struct ratelimit_stats	 stats;
};

struct ratelimit *
ratelimit_new(size_t size, uint64_t seed)
{
	struct ratelimit *rl;
	size_t i;

	if (size == 0 || size >= NONE || (rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	rl->nchains = buckets_for(size);
	if ((rl->e = calloc(size, sizeof(*rl->e))) == NULL ||
	    (rl->chain = malloc(rl->nchains * sizeof(*rl->chain))) == NULL) {
		ratelimit_free(rl);
		return NULL;
	}
	for (i = 0; i < rl->nchains; i++)
		rl->chain[i] = NONE;
	rl->size = size;
	rl->seed = seed;
	rl->stats.size = size;
	TAILQ_INIT(&rl->lru);
	return rl;
}

static uint32_t *
rl_link(const struct ratelimit *rl, const struct ratelimit_key *k)
{
	uint32_t *p = &rl->chain[key_hash(k, rl->seed) & (rl->nchains - 1)];

	while (*p != NONE && !key_eq(&rl->e[*p].key, k))
		p = &rl->e[*p].next;
	return p;
}

/* An entry for k, not yet chained: a free one, else the least recent. */
static struct bucket *
rl_claim(struct ratelimit *rl)
{
	struct bucket *b;
	uint32_t *p;

	if (rl->stats.entries < rl->size)
		return &rl->e[rl->stats.entries++];
	b = TAILQ_LAST(&rl->lru, bucket_list);
	TAILQ_REMOVE(&rl->lru, b, lru);
	p = rl_link(rl, &b->key);
	*p = b->next;
	rl->stats.evictions++;
	return b;
}

int
ratelimit_allow(struct ratelimit *rl, const struct ratelimit_key *k,
    unsigned qps, uint64_t now_ms)
{
	uint64_t full = (uint64_t)qps * TOKEN;
	uint32_t *p = rl_link(rl, k);
	struct bucket *b;

	if (*p != NONE) {
		b = &rl->e[*p];
		TAILQ_REMOVE(&rl->lru, b, lru);
		if (now_ms > b->last_ms) {
			/* Capped first: a long absence cannot overflow. */
			if (now_ms - b->last_ms >= TOKEN)
				b->tokens = full;
			else
				b->tokens += (now_ms - b->last_ms) * qps;
			b->last_ms = now_ms;
		}
		if (b->tokens > full)
			b->tokens = full;	/* qps was lowered */
	} else {
		b = rl_claim(rl);
		b->key = *k;
		b->tokens = full;
		b->last_ms = now_ms;
		/* The claim may have unlinked from this chain: look again. */
		p = rl_link(rl, k);
		b->next = NONE;
		*p = (uint32_t)(b - rl->e);
	}
	TAILQ_INSERT_HEAD(&rl->lru, b, lru);
	if (b->tokens < TOKEN) {
		rl->stats.limited++;
		return 0;
	}
	b->tokens -= TOKEN;
	return 1;
}

const struct ratelimit_stats *
ratelimit_stats(const struct ratelimit *rl)
{
	return &rl->stats;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->e);
	free(rl->chain);
	free(rl);
}
