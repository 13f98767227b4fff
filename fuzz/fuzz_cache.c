/*
 * Fuzz the answer cache: store an upstream answer, serve it fresh, stale
 * and to a client of another case and ID, and check what is served.
 * Input: a control byte (below), then the answer; with CTL_META it is
 * stored as DNSSEC validation would, with a state every hit returns, a
 * TTL cap and never served stale.  The query is rebuilt
 * from the answer's question, so most inputs reach the cache.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/cache.h"
#include "dohstub/dnsmsg.h"

#define CTL_EDNS	0x01
#define CTL_DO		0x02
#define CTL_CD		0x04
#define CTL_PLAIN	0x08
#define CTL_CLAMP	0x10	/* min-ttl 60, max-ttl 100 */
#define CTL_NOSERVFAIL	0x20
#define CTL_META	0x40	/* cache_store_meta: state, no_stale,
				   max_ttl 50 */

#define NOW		1000000
#define CACHE_BYTES	(1 << 20)
#define OUT_CAP		(DNS_MAX_MSG + 64)

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a message holds, for comparing the served with the stored. */
struct shape {
	uint16_t	id;
	uint16_t	flags;
	uint16_t	count[DNS_SEC_MAX];	/* OPT records not counted */
	int		opt;			/* OPT records */
	int		ede;			/* an EDE INFO-CODE, or -1 */
	int		ttl_not30;		/* a non-OPT TTL other than 30 */
	uint32_t	max_ttl;		/* over non-OPT records */
	size_t		end;			/* after the last record */
};

/* Records up to the first OPT only when cut, as the cache stores them. */
static int
shape(const uint8_t *msg, size_t len, int cut, struct shape *s)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint16_t code, olen, info;
	uint32_t i, n;
	int sec;

	memset(s, 0, sizeof(*s));
	s->ede = -1;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		return -1;
	s->id = h.id;
	s->flags = h.flags;
	s->count[DNS_SEC_QUESTION] = h.count[DNS_SEC_QUESTION];
	for (sec = DNS_SEC_ANSWER; sec < DNS_SEC_MAX; sec++)
		for (i = 0, n = h.count[sec]; i < n; i++) {
			if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
				return -1;
			if (sec != DNS_SEC_ADDITIONAL ||
			    rr.type != DNS_TYPE_OPT) {
				s->count[sec]++;
				s->ttl_not30 |= rr.ttl != 30;
				if (rr.ttl > s->max_ttl)
					s->max_ttl = rr.ttl;
				continue;
			}
			if (cut) {
				s->end = rr.owner_off;
				return 0;
			}
			s->opt++;
			while (dnsmsg_rd_u16(&rr.rdata, &code) == 0 &&
			    dnsmsg_rd_u16(&rr.rdata, &olen) == 0) {
				if (code == 15 && olen >= 2 &&
				    dnsmsg_rd_u16(&rr.rdata, &info) == 0) {
					s->ede = info;
					olen -= 2;
				}
				if (dnsmsg_rd_skip(&rr.rdata, olen) == -1)
					return -1;
			}
		}
	s->end = r.off;
	return 0;
}

/* The same name with every ASCII letter's case flipped. */
static void
flip_case(struct dns_query_info *qi)
{
	size_t i;
	uint8_t c;

	for (i = 0; i < qi->qname_len; i++) {
		c = qi->qname[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			qi->qname[i] = c ^ 0x20;
	}
}

static void
check_served(const uint8_t *out, size_t n, const struct dns_query_info *qi,
    const struct shape *want, int stale, uint32_t ttl_cap)
{
	struct shape got;
	int sec;

	if (n == 0 || dnsmsg_check_answer(out, n, qi) != 0 ||
	    shape(out, n, 0, &got) == -1 || got.end != n)
		abort();
	for (sec = 0; sec < DNS_SEC_MAX; sec++)
		if (got.count[sec] != want->count[sec])
			abort();
	if (got.id != qi->id ||
	    memcmp(out + DNS_HDR_LEN, qi->qname, qi->qname_len) != 0 ||
	    (got.flags & (DNS_FLAG_RD | DNS_FLAG_CD)) !=
	    (qi->flags & (DNS_FLAG_RD | DNS_FLAG_CD)) ||
	    (got.flags & ~(DNS_FLAG_RD | DNS_FLAG_CD)) !=
	    (want->flags & ~(DNS_FLAG_RD | DNS_FLAG_CD)))
		abort();
	if (got.opt != (qi->has_edns != 0) ||
	    (qi->has_edns && (got.ede == 3) != (stale != 0)))
		abort();
	if (stale ? got.ttl_not30 : got.max_ttl > ttl_cap)
		abort();
	/* The stored answer, plus our OPT (and EDE) when the client has EDNS. */
	if (n != want->end + (qi->has_edns ? DNS_OPT_LEN : 0) +
	    (qi->has_edns && stale ? 6 : 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_policy pol = {
		0, 86400, 3600, 5, 60,
	};
	struct dns_query_info qi, client;
	struct dnsmsg_rd r;
	struct dns_header h;
	struct cache_hit hit;
	struct shape want;
	struct cache *c;
	enum cache_verdict v;
	enum cache_source src;
	uint8_t qname[DNS_MAX_NAME], q[512], *ans, *out;
	size_t qname_len, qlen, alen, n;
	uint16_t qtype, qclass;
	uint32_t cap;
	uint64_t expiry;
	struct cache_meta meta;
	unsigned ctl;
	int usable;

	if (size < 1)
		return 0;
	ctl = data[0];
	alen = size - 1;
	dnsmsg_rd_init(&r, data + 1, alen);
	if (dnsmsg_rd_header(&r, &h) == -1 || h.count[DNS_SEC_QUESTION] < 1 ||
	    dnsmsg_rd_name(&r, qname, &qname_len) == -1 ||
	    dnsmsg_rd_u16(&r, &qtype) == -1 || dnsmsg_rd_u16(&r, &qclass) == -1)
		return 0;
	qlen = dnsmsg_make_query(q, sizeof(q), qname, qname_len, qtype, qclass,
	    DNS_FLAG_RD | (ctl & CTL_CD ? DNS_FLAG_CD : 0),
	    ctl & CTL_EDNS ? 1232 : 0, (ctl & CTL_DO) != 0, 0);
	if (qlen == 0 || dnsmsg_parse_query(q, qlen, &qi) != DNS_VERDICT_OK)
		return 0;
	if (ctl & CTL_CLAMP) {
		pol.min_ttl = 60;
		pol.max_ttl = 100;
	}
	if (ctl & CTL_NOSERVFAIL)
		pol.servfail_ttl = 0;
	src = ctl & CTL_PLAIN ? CACHE_SRC_PLAIN : CACHE_SRC_DOH;
	/* No TTL served above what the policy allows. */
	cap = pol.max_ttl;
	if (cap < pol.max_negative_ttl)
		cap = pol.max_negative_ttl;
	if (cap < pol.servfail_ttl)
		cap = pol.servfail_ttl;
	if (src == CACHE_SRC_PLAIN && cap > pol.plain_max_ttl)
		cap = pol.plain_max_ttl;
	memset(&meta, 0, sizeof(meta));
	if (ctl & CTL_META) {
		meta.dnssec_state = (uint8_t)(ctl | 0x80);
		meta.no_stale = 1;
		meta.max_ttl = 50;
		if (cap > meta.max_ttl)
			cap = meta.max_ttl;
	}

	/* Exact-size heap copies, so ASan sees any access past the end. */
	if ((ans = malloc(alen)) == NULL || (out = malloc(OUT_CAP)) == NULL)
		abort();
	memcpy(ans, data + 1, alen);
	if ((c = cache_new(CACHE_BYTES)) == NULL)
		abort();
	usable = dnsmsg_check_answer(ans, alen, &qi) == 0;
	v = cache_store_meta(c, &qi, ans, alen, src, NOW, &pol, &meta);
	if ((v == CACHE_STORED && !usable) ||
	    (v == CACHE_MALFORMED && usable) ||
	    cache_stats(c)->entries != (v == CACHE_STORED) ||
	    cache_stats(c)->bytes > CACHE_BYTES)
		abort();
	if (v != CACHE_STORED) {
		if (cache_lookup(c, &qi, NOW, 1000, 1, 1232, out, OUT_CAP,
		    &hit) != 0)
			abort();
		goto done;
	}
	if (shape(ans, alen, 1, &want) == -1 ||
	    (h.flags & DNS_FLAG_TC) != 0)
		abort();

	/* Another client: other case, ID, RD and EDNS. */
	client = qi;
	client.id = 0x5a5a;
	client.flags ^= DNS_FLAG_RD;
	client.has_edns = !qi.has_edns;
	flip_case(&client);

	n = cache_lookup(c, &qi, NOW + 500, 0, 1, 1232, out, OUT_CAP, &hit);
	if (n == 0)
		goto dropped;
	if (hit.stale || hit.ttl_orig == 0 || hit.age_ms != 500 ||
	    hit.source != src || hit.rcode != (h.flags & DNS_FLAG_RCODE) ||
	    hit.ttl_left > hit.ttl_orig || hit.ttl_orig > cap ||
	    hit.dnssec_state != meta.dnssec_state ||
	    hit.no_stale != meta.no_stale ||
	    (src == CACHE_SRC_PLAIN && hit.ttl_orig > pol.plain_max_ttl))
		abort();
	check_served(out, n, &qi, &want, 0, cap);
	n = cache_lookup(c, &client, NOW, 0, 1, 1232, out, OUT_CAP, &hit);
	if (n == 0)
		goto dropped;
	check_served(out, n, &client, &want, 0, cap);
	if (cache_lookup(c, &client, NOW, 0, 1, 1232, out, n - 1, &hit) != 0)
		abort();
	if (src == CACHE_SRC_PLAIN &&
	    cache_lookup(c, &qi, NOW, 0, 0, 1232, out, OUT_CAP, &hit) != 0)
		abort();

	/* Stale at expiry (no_stale: gone), gone past the window. */
	expiry = NOW + (uint64_t)hit.ttl_orig * 1000;
	if (meta.no_stale) {
		if (cache_lookup(c, &client, expiry, 1000, 1, 1232, out,
		    OUT_CAP, &hit) != 0 || cache_stats(c)->entries != 0)
			abort();
		goto done;
	}
	n = cache_lookup(c, &client, expiry, 1000, 1, 1232, out, OUT_CAP, &hit);
	if (n == 0)
		goto dropped;
	if (!hit.stale || hit.ttl_left != 0)
		abort();
	check_served(out, n, &client, &want, 1, 30);
	if (cache_lookup(c, &qi, expiry + 1001, 1000, 1, 1232, out, OUT_CAP,
	    &hit) != 0 || cache_stats(c)->entries != 0 ||
	    cache_stats(c)->expired != 1)
		abort();
	goto done;
dropped:
	/* Only when a name pointed into a TTL that serving rewrote. */
	if (cache_stats(c)->entries != 0)
		abort();
done:
	cache_free(c);
	free(out);
	free(ans);
	return 0;
}
