/*
 * cache: the answer cache.  Entries live in a chained hash table (for
 * lookups) and on one FIFO list, newest at the head, that SIEVE's hand
 * walks from the tail.  Each entry is one allocation holding the stored
 * answer; the entry, its message and the bucket array are all charged
 * against max_bytes.  Messages are read through dnsmsg's reader and
 * written through its writer only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/cache.h"

#define TYPE_SOA	6
#define OPT_EDE		15	/* Extended DNS Error, RFC 8914 */
#define EDE_STALE	3	/* Stale Answer */
#define STALE_TTL	30	/* RFC 8767 4 */
#define EDE_OPT_LEN	6	/* code, length, INFO-CODE */

#define KEY_DO		0x01
#define KEY_CD		0x02

#define BUCKETS_MIN	16
/* What malloc keeps beside each block (glibc: a size word, alignment). */
#define MALLOC_OVERHEAD	16
/* No single answer may take more than this share of the cache. */
#define ENTRY_SHARE	8

const char *const cache_source_names[] = {
	"doh", "plain",
};

const char *const cache_verdict_names[] = {
	"stored", "off", "not-cacheable", "ttl-zero", "malformed", "too-big",
	"nomem",
};

struct cache_entry {
	struct cache_entry	*chain;		/* hash bucket */
	struct cache_entry	*newer;		/* FIFO, towards the head */
	struct cache_entry	*older;
	uint64_t		 stored_ms;
	uint64_t		 expiry_ms;
	size_t			 charge;	/* bytes counted for it */
	uint32_t		 hash;
	uint32_t		 ttl;		/* seconds, after the rules */
	uint32_t		 ttl_cap;	/* highest TTL served */
	uint16_t		 len;		/* of msg */
	uint16_t		 qtype;
	uint16_t		 qclass;
	uint8_t			 qname_len;	/* the question at msg + 12 */
	uint8_t			 bits;		/* KEY_DO, KEY_CD */
	uint8_t			 visited;
	uint8_t			 source;
	uint8_t			 rcode;
	uint8_t			 dnssec_state;	/* cache_meta's */
	uint8_t			 no_stale;
	uint8_t			 msg[];
};

struct cache {
	struct cache_entry	**buckets;
	size_t			  nbuckets;	/* a power of 2, or 0 (off) */
	struct cache_entry	 *head;		/* newest */
	struct cache_entry	 *tail;		/* oldest */
	struct cache_entry	 *hand;		/* SIEVE; NULL: at the tail */
	struct cache_stats	  stats;
};

/* What cache_store() learns of an answer in one pass. */
struct answer_scan {
	struct dns_header	h;
	size_t			keep;		/* stored bytes: up to the OPT */
	uint16_t		arcount;	/* additional records kept */
	uint32_t		min_ttl;	/* over all records but OPT */
	int			nrecords;
	int			ext_rcode;	/* from the OPT record */
	int			have_soa;
	uint32_t		soa_ttl;	/* min(SOA TTL, MINIMUM) */
};

static uint8_t
key_bits(const struct dns_query_info *qi)
{
	return (qi->edns_do ? KEY_DO : 0) |
	    ((qi->flags & DNS_FLAG_CD) ? KEY_CD : 0);
}

static int
key_equal(const struct cache_entry *e, const struct dns_query_info *qi,
    uint32_t hash)
{
	if (e->hash != hash || e->qtype != qi->qtype ||
	    e->qclass != qi->qclass || e->bits != key_bits(qi) ||
	    e->qname_len != qi->qname_len)
		return 0;
	return dnsmsg_name_equal(e->msg + DNS_HDR_LEN, e->qname_len,
	    qi->qname, qi->qname_len);
}

static struct cache_entry *
find(struct cache *c, const struct dns_query_info *qi, uint32_t hash)
{
	struct cache_entry *e;

	if (c->nbuckets == 0)
		return NULL;
	for (e = c->buckets[hash & (c->nbuckets - 1)]; e != NULL; e = e->chain)
		if (key_equal(e, qi, hash))
			return e;
	return NULL;
}

static void
unlink_entry(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp;

	for (pp = &c->buckets[e->hash & (c->nbuckets - 1)]; *pp != e;
	    pp = &(*pp)->chain)
		;
	*pp = e->chain;
	if (c->hand == e)
		c->hand = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->head = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->tail = e->newer;
	c->stats.entries--;
	c->stats.bytes -= e->charge;
}

static void
drop(struct cache *c, struct cache_entry *e)
{
	unlink_entry(c, e);
	free(e);
}

/*
 * SIEVE: from the hand (or the tail), clear visited bits towards the
 * head, wrapping to the tail, and evict the first unvisited entry.  The
 * hand stays where the victim was, so entries that survived one pass are
 * not walked again until the hand comes round.
 */
static void
evict_one(struct cache *c)
{
	struct cache_entry *e;

	e = c->hand != NULL ? c->hand : c->tail;
	while (e->visited) {
		e->visited = 0;
		e = e->newer != NULL ? e->newer : c->tail;
	}
	c->hand = e->newer;
	drop(c, e);
	c->stats.evicted++;
}

/*
 * Double the bucket array when the load passes 1, if the bigger array
 * fits the byte bound; otherwise chains just get longer.
 */
static void
maybe_grow(struct cache *c)
{
	struct cache_entry **nb, *e;
	size_t n, extra, i;

	if (c->stats.entries <= c->nbuckets)
		return;
	n = c->nbuckets * 2;
	extra = c->nbuckets * sizeof(*nb);
	if (c->stats.bytes + extra > c->stats.max_bytes ||
	    (nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	for (i = 0; i < c->nbuckets; i++)
		while ((e = c->buckets[i]) != NULL) {
			c->buckets[i] = e->chain;
			e->chain = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
	c->stats.bytes += extra;
}

struct cache *
cache_new(size_t max_bytes)
{
	struct cache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->stats.max_bytes = max_bytes;
	/* Too small for even the bucket array: a cache that is off. */
	if (max_bytes < BUCKETS_MIN * sizeof(*c->buckets) * 2)
		return c;
	if ((c->buckets = calloc(BUCKETS_MIN, sizeof(*c->buckets))) == NULL) {
		free(c);
		return NULL;
	}
	c->nbuckets = BUCKETS_MIN;
	c->stats.bytes = BUCKETS_MIN * sizeof(*c->buckets);
	return c;
}

/* MINIMUM, the last field of a SOA's RDATA (RFC 1035 3.3.13). */
static int
soa_minimum(struct dnsmsg_rd *rdata, uint32_t *minimum)
{
	if (dnsmsg_rd_name(rdata, NULL, NULL) == -1 ||
	    dnsmsg_rd_name(rdata, NULL, NULL) == -1 ||
	    dnsmsg_rd_skip(rdata, 16) == -1 ||
	    dnsmsg_rd_u32(rdata, minimum) == -1)
		return -1;
	return 0;
}

/*
 * One pass over the answer: its TTLs, its SOA, and where the OPT record
 * starts.  The stored answer ends there: pointers only go backwards, so
 * cutting the message at the OPT leaves every record before it intact;
 * additional records after an OPT (a TSIG, say) are of no use to a
 * client anyway.
 */
static int
scan_answer(const uint8_t *msg, size_t len, struct answer_scan *s)
{
	struct dnsmsg_rd r;
	struct dns_rr rr;
	uint32_t i, count, ttl, minimum;
	int sec;

	memset(s, 0, sizeof(*s));
	s->min_ttl = UINT32_MAX;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &s->h) == -1 ||
	    s->h.count[DNS_SEC_QUESTION] != 1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 ||
	    dnsmsg_rd_skip(&r, 4) == -1)
		return -1;
	count = (uint32_t)s->h.count[DNS_SEC_ANSWER] +
	    s->h.count[DNS_SEC_AUTHORITY] + s->h.count[DNS_SEC_ADDITIONAL];
	for (i = 0; i < count; i++) {
		if (i < s->h.count[DNS_SEC_ANSWER])
			sec = DNS_SEC_ANSWER;
		else if (i < (uint32_t)s->h.count[DNS_SEC_ANSWER] +
		    s->h.count[DNS_SEC_AUTHORITY])
			sec = DNS_SEC_AUTHORITY;
		else
			sec = DNS_SEC_ADDITIONAL;
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return -1;
		ttl = rr.ttl;
		if (sec == DNS_SEC_ADDITIONAL && rr.type == DNS_TYPE_OPT) {
			s->ext_rcode = ttl >> 24;
			s->keep = rr.owner_off;
			return 0;
		}
		if (sec == DNS_SEC_ADDITIONAL)
			s->arcount++;
		s->nrecords++;
		/* RFC 2181 8: a TTL with the top bit set counts as 0. */
		if (ttl > INT32_MAX)
			ttl = 0;
		if (ttl < s->min_ttl)
			s->min_ttl = ttl;
		/* A SOA whose RDATA does not parse is no SOA. */
		if (sec == DNS_SEC_AUTHORITY && rr.type == TYPE_SOA &&
		    !s->have_soa && soa_minimum(&rr.rdata, &minimum) == 0) {
			if (minimum > INT32_MAX)
				minimum = 0;
			s->have_soa = 1;
			s->soa_ttl = ttl < minimum ? ttl : minimum;
		}
	}
	s->keep = r.off;
	return 0;
}

/* The TTL rules of cache_store(); CACHE_STORED with *ttl and *cap set. */
static enum cache_verdict
answer_ttl(const struct answer_scan *s, enum cache_source src,
    const struct cache_policy *pol, const struct cache_meta *meta,
    uint32_t *ttl, uint32_t *cap)
{
	int rcode = s->h.flags & DNS_FLAG_RCODE;
	uint32_t servfail_ttl = meta->servfail_ttl != 0 ?
	    meta->servfail_ttl : pol->servfail_ttl;

	if ((s->h.flags & DNS_FLAG_TC) || s->ext_rcode != 0)
		return CACHE_NOT_CACHEABLE;
	if (rcode == DNS_RCODE_NOERROR && s->h.count[DNS_SEC_ANSWER] != 0) {
		if (s->min_ttl == 0)
			return CACHE_TTL_ZERO;
		*ttl = s->min_ttl;
		if (*ttl < pol->min_ttl)
			*ttl = pol->min_ttl;
		if (*ttl > pol->max_ttl)
			*ttl = pol->max_ttl;
		*cap = pol->max_ttl;
	} else if (rcode == DNS_RCODE_NOERROR ||
	    rcode == DNS_RCODE_NXDOMAIN) {
		/* RFC 2308 5: no SOA, no negative caching. */
		if (!s->have_soa)
			return CACHE_NOT_CACHEABLE;
		if (s->soa_ttl == 0)
			return CACHE_TTL_ZERO;
		*ttl = s->soa_ttl;
		if (*ttl > pol->max_negative_ttl)
			*ttl = pol->max_negative_ttl;
		*cap = *ttl;
	} else if (rcode == DNS_RCODE_SERVFAIL) {
		if (servfail_ttl == 0)
			return CACHE_NOT_CACHEABLE;
		*ttl = *cap = servfail_ttl;
	} else
		return CACHE_NOT_CACHEABLE;
	if (src == CACHE_SRC_PLAIN) {
		if (*ttl > pol->plain_max_ttl)
			*ttl = pol->plain_max_ttl;
		if (*cap > pol->plain_max_ttl)
			*cap = pol->plain_max_ttl;
	}
	if (meta->max_ttl != 0) {
		if (*ttl > meta->max_ttl)
			*ttl = meta->max_ttl;
		if (*cap > meta->max_ttl)
			*cap = meta->max_ttl;
	}
	if (*ttl == 0)
		return CACHE_TTL_ZERO;
	if (*cap < *ttl)
		*cap = *ttl;
	return CACHE_STORED;
}

enum cache_verdict
cache_store(struct cache *c, const struct dns_query_info *qi,
    const uint8_t *msg, size_t len, enum cache_source src, uint64_t now_ms,
    const struct cache_policy *pol)
{
	return cache_store_meta(c, qi, msg, len, src, now_ms, pol, NULL);
}

enum cache_verdict
cache_store_meta(struct cache *c, const struct dns_query_info *qi,
    const uint8_t *msg, size_t len, enum cache_source src, uint64_t now_ms,
    const struct cache_policy *pol, const struct cache_meta *meta)
{
	static const struct cache_meta none;
	struct answer_scan s;
	struct cache_entry *e, *old;
	struct dnsmsg_wr w;
	enum cache_verdict v;
	uint32_t ttl, cap, hash;
	size_t charge;

	if (c->nbuckets == 0)
		return CACHE_OFF;
	if (len > DNS_MAX_MSG)
		return CACHE_TOO_BIG;
	if (msg == NULL || qi->qname_len == 0 ||
	    (unsigned)src >= CACHE_SRC_MAX ||
	    dnsmsg_check_answer(msg, len, qi) == -1 ||
	    scan_answer(msg, len, &s) == -1)
		return CACHE_MALFORMED;
	if (meta == NULL)
		meta = &none;
	if ((v = answer_ttl(&s, src, pol, meta, &ttl, &cap)) != CACHE_STORED)
		return v;
	charge = MALLOC_OVERHEAD + sizeof(*e) + s.keep;
	if (charge > c->stats.max_bytes / ENTRY_SHARE)
		return CACHE_TOO_BIG;
	if ((e = calloc(1, sizeof(*e) + s.keep)) == NULL)
		return CACHE_NOMEM;

	s.h.count[DNS_SEC_ADDITIONAL] = s.arcount;
	dnsmsg_wr_init(&w, e->msg, s.keep);
	dnsmsg_wr_header(&w, &s.h);
	dnsmsg_wr_bytes(&w, msg + DNS_HDR_LEN, s.keep - DNS_HDR_LEN);
	if (dnsmsg_wr_finish(&w) != s.keep) {
		free(e);
		return CACHE_MALFORMED;
	}
	hash = dnsmsg_key_hash(qi);
	e->stored_ms = now_ms;
	e->expiry_ms = now_ms + (uint64_t)ttl * 1000;
	e->charge = charge;
	e->hash = hash;
	e->ttl = ttl;
	e->ttl_cap = cap;
	e->len = (uint16_t)s.keep;
	e->qtype = qi->qtype;
	e->qclass = qi->qclass;
	e->qname_len = (uint8_t)qi->qname_len;
	e->bits = key_bits(qi);
	e->source = src;
	e->rcode = s.h.flags & DNS_FLAG_RCODE;
	e->dnssec_state = meta->dnssec_state;
	e->no_stale = meta->no_stale != 0;

	/* A refresh keeps the old entry's standing with SIEVE. */
	if ((old = find(c, qi, hash)) != NULL) {
		e->visited = old->visited;
		drop(c, old);
	}
	while (c->stats.bytes + charge > c->stats.max_bytes && c->tail != NULL)
		evict_one(c);

	e->chain = c->buckets[hash & (c->nbuckets - 1)];
	c->buckets[hash & (c->nbuckets - 1)] = e;
	e->older = c->head;
	if (c->head != NULL)
		c->head->newer = e;
	else
		c->tail = e;
	c->head = e;
	c->stats.entries++;
	c->stats.bytes += charge;
	c->stats.stored++;
	maybe_grow(c);
	return CACHE_STORED;
}

/* One record's TTL as served; see cache_lookup(). */
static uint32_t
served_ttl(const struct cache_entry *e, uint32_t ttl, uint64_t age_s,
    int stale)
{
	if (stale)
		return STALE_TTL;
	if (ttl < e->ttl)
		ttl = e->ttl;
	if (ttl > e->ttl_cap)
		ttl = e->ttl_cap;
	return age_s < ttl ? ttl - (uint32_t)age_s : 0;
}

/*
 * The stored answer rewritten for qi into w.  The layout is the stored
 * one byte for byte (the client's question name has the same length), so
 * compression pointers stay valid; only the header, the question name
 * and the TTLs change, and our OPT record goes at the end.
 *
 * A record's TTL is served within [e->ttl, e->ttl_cap] less the age: a
 * min-ttl clamp raises the short ones, max-ttl and the plain cap lower
 * the long ones, and the rest keep their differences.
 */
static size_t
serve(const struct cache_entry *e, const struct dns_query_info *qi,
    uint64_t age_ms, int stale, uint16_t edns_size, uint8_t *out, size_t cap)
{
	struct dnsmsg_rd r;
	struct dnsmsg_wr w;
	struct dns_header h;
	struct dns_rr rr;
	uint32_t i, count;
	uint16_t type, class;
	size_t nlen, opt;

	dnsmsg_rd_init(&r, e->msg, e->len);
	if (dnsmsg_rd_header(&r, &h) == -1 ||
	    dnsmsg_rd_name(&r, NULL, &nlen) == -1 || nlen != qi->qname_len ||
	    dnsmsg_rd_u16(&r, &type) == -1 || dnsmsg_rd_u16(&r, &class) == -1)
		return 0;
	count = (uint32_t)h.count[DNS_SEC_ANSWER] +
	    h.count[DNS_SEC_AUTHORITY] + h.count[DNS_SEC_ADDITIONAL];
	h.id = qi->id;
	h.flags = (h.flags & ~(DNS_FLAG_RD | DNS_FLAG_CD)) |
	    (qi->flags & (DNS_FLAG_RD | DNS_FLAG_CD));
	if (qi->has_edns) {
		if (h.count[DNS_SEC_ADDITIONAL] == UINT16_MAX)
			return 0;
		h.count[DNS_SEC_ADDITIONAL]++;
	}
	dnsmsg_wr_init(&w, out, cap);
	dnsmsg_wr_header(&w, &h);
	dnsmsg_wr_name(&w, qi->qname, qi->qname_len);
	dnsmsg_wr_u16(&w, type);
	dnsmsg_wr_u16(&w, class);
	for (i = 0; i < count; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return 0;
		/* The owner and RDATA as they sit in the message, pointers
		 * and all; only the TTL changes. */
		dnsmsg_wr_bytes(&w, e->msg + rr.owner_off, rr.owner_wlen);
		dnsmsg_wr_u16(&w, rr.type);
		dnsmsg_wr_u16(&w, rr.class);
		dnsmsg_wr_u32(&w, served_ttl(e, rr.ttl, age_ms / 1000, stale));
		dnsmsg_wr_u16(&w, rr.rdlen);
		dnsmsg_wr_bytes(&w, e->msg + rr.rdata.off, rr.rdlen);
	}
	if (qi->has_edns) {
		opt = w.len;
		dnsmsg_wr_opt(&w, edns_size, qi->edns_do, 0);
		if (stale) {
			/* RDLENGTH, the last field of the fixed part. */
			dnsmsg_wr_set16(&w, opt + DNS_OPT_LEN - 2,
			    EDE_OPT_LEN);
			dnsmsg_wr_u16(&w, OPT_EDE);
			dnsmsg_wr_u16(&w, 2);
			dnsmsg_wr_u16(&w, EDE_STALE);
		}
	}
	return dnsmsg_wr_finish(&w);
}

size_t
cache_lookup(struct cache *c, const struct dns_query_info *qi,
    uint64_t now_ms, uint64_t stale_ms, int allow_plain, uint16_t edns_size,
    uint8_t *out, size_t cap, struct cache_hit *hit)
{
	struct cache_entry *e;
	uint64_t age_ms;
	size_t n;
	int stale;

	if (qi->qname_len == 0 ||
	    (e = find(c, qi, dnsmsg_key_hash(qi))) == NULL)
		return 0;
	stale = now_ms >= e->expiry_ms;
	if (stale && (stale_ms == 0 || e->no_stale ||
	    now_ms - e->expiry_ms > stale_ms)) {
		drop(c, e);
		c->stats.expired++;
		return 0;
	}
	if (e->source == CACHE_SRC_PLAIN && !allow_plain)
		return 0;
	age_ms = now_ms > e->stored_ms ? now_ms - e->stored_ms : 0;
	if ((n = serve(e, qi, age_ms, stale, edns_size, out, cap)) == 0)
		return 0;
	/*
	 * A name may point into an earlier record's TTL, which serving
	 * rewrites; such an answer is dropped rather than served broken.
	 */
	if (dnsmsg_check_answer(out, n, qi) == -1) {
		drop(c, e);
		return 0;
	}
	e->visited = 1;
	if (hit != NULL) {
		hit->stale = stale;
		hit->ttl_left = stale ? 0 :
		    e->ttl - (uint32_t)(age_ms / 1000);
		hit->ttl_orig = e->ttl;
		hit->age_ms = age_ms;
		hit->source = e->source;
		hit->rcode = e->rcode;
		hit->dnssec_state = e->dnssec_state;
		hit->no_stale = e->no_stale;
	}
	return n;
}

void
cache_flush(struct cache *c)
{
	while (c->tail != NULL)
		drop(c, c->tail);
}

void
cache_flush_source(struct cache *c, enum cache_source src)
{
	struct cache_entry *e, *newer;

	for (e = c->tail; e != NULL; e = newer) {
		newer = e->newer;
		if (e->source == src)
			drop(c, e);
	}
}

size_t
cache_flush_name(struct cache *c, const uint8_t *name, size_t name_len,
    int qtype)
{
	struct cache_entry *e, *newer;
	size_t n = 0;

	for (e = c->tail; e != NULL; e = newer) {
		newer = e->newer;
		if (name != NULL && (e->qname_len != name_len ||
		    (qtype >= 0 && e->qtype != qtype) ||
		    !dnsmsg_name_equal(e->msg + DNS_HDR_LEN, e->qname_len,
		    name, name_len)))
			continue;
		drop(c, e);
		n++;
	}
	return n;
}

const struct cache_stats *
cache_stats(const struct cache *c)
{
	return &c->stats;
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	cache_flush(c);
	free(c->buckets);
	free(c);
}
