/*
 * Unit tests for the answer cache, on stepped time: TTL rules, the key,
 * what is served to each client, provenance, serve-stale, SIEVE and the
 * byte bound.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/cache.h"
#include "dohstub/clock.h"
#include "dohstub/dnsmsg.h"
#include "check.h"
#include "wire.h"

#define QR	0x8000
#define AA	0x0400
#define TC	0x0200
#define RD	0x0100
#define RA	0x0080
#define AD	0x0020
#define CD	0x0010

#define T_SOA	6
#define MAXRR	256

static const struct cache_policy defpol = {
	.min_ttl = 0,
	.max_ttl = 86400,
	.max_negative_ttl = 3600,
	.servfail_ttl = 5,
	.plain_max_ttl = 60,
};

/* A query as the proxy has it: built on the wire, then parsed. */
static void
mkqi(struct dns_query_info *qi, const char *name, unsigned type,
    unsigned flags, int edns, int do_bit, unsigned id)
{
	uint8_t wire[DNS_MAX_NAME], q[512];
	size_t wlen, qlen;

	if ((wlen = dnsmsg_name_from_text(name, wire, sizeof(wire))) == 0 ||
	    (qlen = dnsmsg_make_query(q, sizeof(q), wire, wlen, type,
	    DNS_CLASS_IN, flags, edns ? 1232 : 0, do_bit, 0)) == 0)
		abort();
	dnsmsg_set_id(q, (uint16_t)id);
	if (dnsmsg_parse_query(q, qlen, qi) != DNS_VERDICT_OK)
		abort();
}

/* Header and question of an upstream answer (ID 0, as over DoH). */
static void
ans(struct msg *m, const char *name, unsigned type, unsigned flags,
    unsigned an, unsigned ns, unsigned ar)
{
	m->len = 0;
	put16(m, 0);
	put16(m, QR | RA | flags);
	put16(m, 1);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
	put_dname(m, name);
	put16(m, type);
	put16(m, DNS_CLASS_IN);
}

/* An A record owned by the question name (a pointer to it). */
static void
rr_a(struct msg *m, uint32_t ttl, uint32_t addr)
{
	put16(m, 0xc00c);
	put16(m, DNS_TYPE_A);
	put16(m, DNS_CLASS_IN);
	put32(m, ttl);
	put16(m, 4);
	put32(m, addr);
}

static void
rr_soa(struct msg *m, uint32_t ttl, uint32_t minimum)
{
	put_dname(m, "example.com");
	put16(m, T_SOA);
	put16(m, DNS_CLASS_IN);
	put32(m, ttl);
	put16(m, 2 + 2 + 20);
	put16(m, 0xc00c);	/* MNAME, RNAME: pointers */
	put16(m, 0xc00c);
	put32(m, 2026120101);
	put32(m, 7200);
	put32(m, 3600);
	put32(m, 1209600);
	put32(m, minimum);
}

/* An A answer with one record, and the upstream's OPT. */
static void
ans_a(struct msg *m, const char *name, uint32_t ttl, uint32_t addr)
{
	ans(m, name, DNS_TYPE_A, RD, 1, 0, 1);
	rr_a(m, ttl, addr);
	put_opt(m, 4096, 0);
}

/* A served answer, read back. */
struct served {
	struct dns_header	h;
	uint8_t			qname[DNS_MAX_NAME];
	size_t			qname_len;
	int			n;		/* records, OPT included */
	uint16_t		type[MAXRR];
	uint32_t		ttl[MAXRR];
	uint32_t		a;		/* first A record's address */
	int			opt;		/* OPT records seen */
	uint16_t		opt_class;
	uint32_t		opt_ttl;
	int			ede;		/* INFO-CODE, -1: none */
};

static int
rd_served(const uint8_t *p, size_t len, struct served *s)
{
	struct dnsmsg_rd r, rd;
	struct dns_rr rr;
	uint16_t code, olen, info;
	uint32_t i, count;
	const uint8_t *qname;

	memset(s, 0, sizeof(*s));
	s->ede = -1;
	dnsmsg_rd_init(&r, p, len);
	if (dnsmsg_rd_header(&r, &s->h) == -1)
		return -1;
	/* The question name as sent: uncompressed, so copy its bytes. */
	rd = r;
	if (dnsmsg_rd_name(&r, NULL, &s->qname_len) == -1 ||
	    dnsmsg_rd_bytes(&rd, s->qname_len, &qname) == -1 ||
	    dnsmsg_rd_skip(&r, 4) == -1)
		return -1;
	memcpy(s->qname, qname, s->qname_len);
	count = (uint32_t)s->h.count[1] + s->h.count[2] + s->h.count[3];
	for (i = 0; i < count && i < MAXRR; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return -1;
		rd = rr.rdata;
		s->type[s->n] = rr.type;
		s->ttl[s->n++] = rr.ttl;
		if (rr.type == DNS_TYPE_A && s->a == 0 && rr.rdlen == 4)
			(void)dnsmsg_rd_u32(&rd, &s->a);
		if (rr.type != DNS_TYPE_OPT)
			continue;
		s->opt++;
		s->opt_class = rr.class;
		s->opt_ttl = rr.ttl;
		while (dnsmsg_rd_u16(&rd, &code) == 0 &&
		    dnsmsg_rd_u16(&rd, &olen) == 0) {
			if (code == 15 && olen >= 2 &&
			    dnsmsg_rd_u16(&rd, &info) == 0) {
				s->ede = info;
				olen -= 2;
			}
			if (dnsmsg_rd_skip(&rd, olen) == -1)
				return -1;
		}
	}
	return i == count && r.off == len ? 0 : -1;
}

/* Look qi up and read what was served; the length, 0 for a miss. */
static size_t
ask(struct cache *c, const struct dns_query_info *qi, uint64_t now,
    uint64_t stale_ms, int allow_plain, struct served *s,
    struct cache_hit *hit)
{
	uint8_t out[8192];
	size_t n;

	memset(hit, 0, sizeof(*hit));
	if ((n = cache_lookup(c, qi, now, stale_ms, allow_plain, 1232, out,
	    sizeof(out), hit)) == 0)
		return 0;
	if (rd_served(out, n, s) == -1 || dnsmsg_check_answer(out, n, qi) != 0)
		abort();
	return n;
}

static enum cache_verdict
store(struct cache *c, const struct dns_query_info *qi, const struct msg *m,
    enum cache_source src, uint64_t now, const struct cache_policy *pol)
{
	uint8_t *p;
	enum cache_verdict v;

	/* An exact-size heap copy, so ASan catches any read past len. */
	if ((p = malloc(m->len)) == NULL)
		abort();
	memcpy(p, m->buf, m->len);
	v = cache_store(c, qi, p, m->len, src, now, pol);
	free(p);
	return v;
}

static void
test_countdown(void)
{
	struct cache *c = cache_new(1 << 20);
	struct dns_query_info qi;
	struct cache_hit hit;
	struct served s;
	struct msg m;

	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans_a(&m, "www.example.com", 300, 0x01020304);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 1000, &defpol),
	    CACHE_STORED);
	CHECK_EQ(cache_stats(c)->entries, 1);
	CHECK_EQ(cache_stats(c)->stored, 1);

	CHECK(ask(c, &qi, 1000, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.ttl[0], 300);
	CHECK(ask(c, &qi, 1000 + 10500, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.ttl[0], 290);
	CHECK_EQ(s.a, 0x01020304);
	CHECK_EQ(hit.ttl_left, 290);
	CHECK_EQ(hit.ttl_orig, 300);
	CHECK_EQ(hit.age_ms, 10500);
	CHECK_EQ(hit.stale, 0);
	CHECK_EQ(hit.rcode, DNS_RCODE_NOERROR);
	CHECK_EQ(hit.source, CACHE_SRC_DOH);
	CHECK(ask(c, &qi, 1000 + 299999, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.ttl[0], 1);
	CHECK_EQ(hit.ttl_left, 1);

	/* Expired, no stale window: a miss, and the entry is dropped. */
	CHECK_EQ(ask(c, &qi, 1000 + 300000, 0, 0, &s, &hit), 0);
	CHECK_EQ(cache_stats(c)->entries, 0);
	CHECK_EQ(cache_stats(c)->expired, 1);
	cache_free(c);
}

static void
test_negative(void)
{
	struct cache *c = cache_new(1 << 20);
	struct cache_policy pol = defpol;
	struct dns_query_info qi;
	struct cache_hit hit;
	struct served s;
	struct msg m;

	/* NXDOMAIN: min(SOA TTL 3600, MINIMUM 300). */
	mkqi(&qi, "nx.example.com", DNS_TYPE_A, RD, 1, 0, 7);
	ans(&m, "nx.example.com", DNS_TYPE_A, RD | DNS_RCODE_NXDOMAIN, 0, 1, 1);
	rr_soa(&m, 3600, 300);
	put_opt(&m, 1232, 0);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 20000, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 300);
	CHECK_EQ(hit.rcode, DNS_RCODE_NXDOMAIN);
	CHECK_EQ(s.h.flags & 0xf, DNS_RCODE_NXDOMAIN);
	CHECK_EQ(s.h.count[2], 1);
	CHECK_EQ(s.type[0], T_SOA);
	/* The SOA is served with the negative TTL, counted down. */
	CHECK_EQ(s.ttl[0], 280);
	CHECK_EQ(ask(c, &qi, 300000, 0, 0, &s, &hit), 0);

	/* The SOA's own TTL when it is the smaller. */
	ans(&m, "nx.example.com", DNS_TYPE_A, DNS_RCODE_NXDOMAIN, 0, 1, 0);
	rr_soa(&m, 60, 300);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 60);

	/* Capped by max_negative_ttl; min_ttl does not raise it. */
	pol.max_negative_ttl = 100;
	pol.min_ttl = 1000;
	ans(&m, "nx.example.com", DNS_TYPE_A, DNS_RCODE_NXDOMAIN, 0, 1, 0);
	rr_soa(&m, 3600, 300);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 100);
	CHECK_EQ(s.ttl[0], 100);
	pol.max_negative_ttl = 3600;
	ans(&m, "nx.example.com", DNS_TYPE_A, DNS_RCODE_NXDOMAIN, 0, 1, 0);
	rr_soa(&m, 30, 300);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 30);
	pol = defpol;

	/* NODATA: NOERROR, no answers, a SOA. */
	mkqi(&qi, "www.example.com", 28, RD, 0, 0, 7);
	ans(&m, "www.example.com", 28, 0, 0, 1, 0);
	rr_soa(&m, 900, 120);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 120);
	CHECK_EQ(hit.rcode, DNS_RCODE_NOERROR);
	CHECK_EQ(s.h.count[1], 0);

	/* A SOA of TTL 0: never cached. */
	ans(&m, "www.example.com", 28, 0, 0, 1, 0);
	rr_soa(&m, 0, 120);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_TTL_ZERO);

	/* No SOA: not cacheable, for NODATA and NXDOMAIN alike. */
	mkqi(&qi, "nosoa.example.com", 28, RD, 0, 0, 7);
	ans(&m, "nosoa.example.com", 28, 0, 0, 0, 0);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol),
	    CACHE_NOT_CACHEABLE);
	ans(&m, "nosoa.example.com", 28, DNS_RCODE_NXDOMAIN, 0, 0, 0);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol),
	    CACHE_NOT_CACHEABLE);
	CHECK_EQ(ask(c, &qi, 0, 0, 0, &s, &hit), 0);
	cache_free(c);
}

static void
test_clamps(void)
{
	struct cache *c = cache_new(1 << 20);
	struct cache_policy pol = defpol;
	struct dns_query_info qi;
	struct cache_hit hit;
	struct served s;
	struct msg m;

	mkqi(&qi, "short.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	pol.min_ttl = 60;
	ans_a(&m, "short.example.com", 10, 1);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 60);
	CHECK_EQ(s.ttl[0], 60);
	CHECK(ask(c, &qi, 30000, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.ttl[0], 30);
	CHECK(ask(c, &qi, 59999, 0, 0, &s, &hit) != 0);
	CHECK_EQ(ask(c, &qi, 60000, 0, 0, &s, &hit), 0);

	/* max_ttl lowers the entry and every record served. */
	pol = defpol;
	pol.max_ttl = 100;
	mkqi(&qi, "long.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans(&m, "long.example.com", DNS_TYPE_A, RD, 2, 0, 0);
	rr_a(&m, 300, 1);
	rr_a(&m, 600, 2);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 1000, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 100);
	CHECK_EQ(s.ttl[0], 99);
	CHECK_EQ(s.ttl[1], 99);
	CHECK_EQ(ask(c, &qi, 100000, 0, 0, &s, &hit), 0);

	/* Unclamped, records keep their own TTLs, all counted down. */
	pol = defpol;
	ans(&m, "long.example.com", DNS_TYPE_A, RD, 2, 0, 0);
	rr_a(&m, 600, 1);
	rr_a(&m, 300, 2);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 5000, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 300);
	CHECK_EQ(s.ttl[0], 595);
	CHECK_EQ(s.ttl[1], 295);

	/* A TTL of 0 is never stored, whatever min_ttl says. */
	pol.min_ttl = 60;
	mkqi(&qi, "zero.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans(&m, "zero.example.com", DNS_TYPE_A, RD, 2, 0, 0);
	rr_a(&m, 300, 1);
	rr_a(&m, 0, 2);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_TTL_ZERO);
	CHECK_EQ(ask(c, &qi, 0, 0, 0, &s, &hit), 0);
	cache_free(c);
}

static void
test_not_cached(void)
{
	struct cache *c = cache_new(1 << 20);
	struct cache_policy pol = defpol;
	struct dns_query_info qi;
	struct cache_hit hit;
	struct served s;
	struct msg m;

	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans(&m, "www.example.com", DNS_TYPE_A, RD | TC, 1, 0, 0);
	rr_a(&m, 300, 1);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol),
	    CACHE_NOT_CACHEABLE);
	ans(&m, "www.example.com", DNS_TYPE_A, RD | DNS_RCODE_REFUSED, 0, 0,
	    0);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol),
	    CACHE_NOT_CACHEABLE);
	/* BADVERS is an extended rcode, in the OPT record's TTL. */
	ans(&m, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	put8(&m, 0);
	put16(&m, DNS_TYPE_OPT);
	put16(&m, 1232);
	put32(&m, 1u << 24);
	put16(&m, 0);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol),
	    CACHE_NOT_CACHEABLE);
	/* Not an answer to this question. */
	ans_a(&m, "other.example.com", 300, 1);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &pol), CACHE_MALFORMED);
	CHECK_EQ(ask(c, &qi, 0, 0, 0, &s, &hit), 0);
	CHECK_EQ(cache_stats(c)->stored, 0);

	/* SERVFAIL: for servfail_ttl, 0 meaning never. */
	ans(&m, "www.example.com", DNS_TYPE_A, RD | DNS_RCODE_SERVFAIL, 0, 0,
	    0);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 1000, &pol), CACHE_STORED);
	CHECK(ask(c, &qi, 5999, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.rcode, DNS_RCODE_SERVFAIL);
	CHECK_EQ(hit.ttl_orig, 5);
	CHECK_EQ(s.h.flags & 0xf, DNS_RCODE_SERVFAIL);
	CHECK_EQ(ask(c, &qi, 6000, 0, 0, &s, &hit), 0);
	pol.servfail_ttl = 0;
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 1000, &pol),
	    CACHE_NOT_CACHEABLE);

	/* Larger than an eighth of the cache. */
	cache_free(c);
	c = cache_new(8192);
	ans(&m, "www.example.com", DNS_TYPE_A, RD, 100, 0, 0);
	while (m.len < 1100)
		rr_a(&m, 300, 1);
	wr16(m.buf + 6, (uint16_t)((m.len - 33) / 16));
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_TOO_BIG);
	CHECK_EQ(cache_stats(c)->entries, 0);
	cache_free(c);
}

/* DO and CD are part of the key: four entries for one name. */
static void
test_key_bits(void)
{
	struct cache *c = cache_new(1 << 20);
	struct dns_query_info qi;
	struct cache_hit hit;
	struct served s;
	struct msg m;
	int i;

	for (i = 0; i < 4; i++) {
		mkqi(&qi, "www.example.com", DNS_TYPE_A, RD | (i & 1 ? CD : 0),
		    1, i & 2, 1);
		ans_a(&m, "www.example.com", 300, 10 + i);
		CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol),
		    CACHE_STORED);
	}
	CHECK_EQ(cache_stats(c)->entries, 4);
	for (i = 0; i < 4; i++) {
		mkqi(&qi, "www.example.com", DNS_TYPE_A, RD | (i & 1 ? CD : 0),
		    1, i & 2, 1);
		CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
		CHECK_EQ(s.a, 10 + i);
	}
	/* Another type or class is another key. */
	mkqi(&qi, "www.example.com", 28, RD, 1, 0, 1);
	CHECK_EQ(ask(c, &qi, 0, 0, 0, &s, &hit), 0);
	/* The same key replaces. */
	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 1, 0, 1);
	ans_a(&m, "www.example.com", 300, 99);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);
	CHECK_EQ(cache_stats(c)->entries, 4);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.a, 99);
	cache_free(c);
}

/* The client's ID, case and RD/CD; the upstream's other flags. */
static void
test_client_view(void)
{
	static const uint8_t mixed[] = "\3WwW\7ExAmPlE\3cOm";
	struct cache *c = cache_new(1 << 20);
	struct dns_query_info qi, ask_qi;
	struct cache_hit hit;
	struct served s;
	struct msg m;
	uint8_t out[512];

	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans(&m, "www.example.com", DNS_TYPE_A, RD | AA | AD, 1, 0, 0);
	rr_a(&m, 300, 1);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);

	mkqi(&ask_qi, "WwW.ExAmPlE.cOm", DNS_TYPE_A, 0, 0, 0, 0xbeef);
	CHECK(ask(c, &ask_qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.h.id, 0xbeef);
	CHECK_EQ(s.qname_len, sizeof(mixed));
	CHECK(memcmp(s.qname, mixed, sizeof(mixed)) == 0);
	CHECK_EQ(s.h.flags & (QR | AA | RA | AD), QR | AA | RA | AD);
	CHECK_EQ(s.h.flags & (RD | CD), 0);
	CHECK_EQ(s.a, 1);

	/* CD from the client even where the upstream did not echo it. */
	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD | CD, 0, 0, 1);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);
	mkqi(&ask_qi, "WWW.EXAMPLE.COM", DNS_TYPE_A, RD | CD, 0, 0, 0x4242);
	CHECK(ask(c, &ask_qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.h.id, 0x4242);
	CHECK_EQ(s.h.flags & (RD | CD), RD | CD);
	CHECK(memcmp(s.qname, "\3WWW\7EXAMPLE\3COM", s.qname_len) == 0);

	/* An out buffer one byte short: a miss, and nothing is dropped. */
	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	CHECK_EQ(cache_lookup(c, &qi, 0, 0, 0, 1232, out, m.len - 1, &hit),
	    0);
	CHECK_EQ(cache_lookup(c, &qi, 0, 0, 0, 1232, out, m.len, &hit),
	    m.len);
	CHECK_EQ(cache_stats(c)->entries, 2);
	cache_free(c);
}

/* The upstream's OPT is not served; ours is, when the client sent EDNS. */
static void
test_opt(void)
{
	struct cache *c = cache_new(1 << 20);
	struct dns_query_info qi;
	struct cache_hit hit;
	struct served s;
	struct msg m;
	uint8_t out[512];

	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 1, 0, 1);
	ans_a(&m, "www.example.com", 300, 1);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);

	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	CHECK_EQ(ask(c, &qi, 0, 0, 0, &s, &hit), m.len - DNS_OPT_LEN);
	CHECK_EQ(s.opt, 0);
	CHECK_EQ(s.h.count[3], 0);

	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 1, 0, 1);
	CHECK_EQ(cache_lookup(c, &qi, 0, 0, 0, 900, out, sizeof(out), &hit),
	    m.len);
	CHECK(rd_served(out, m.len, &s) == 0);
	CHECK_EQ(s.opt, 1);
	CHECK_EQ(s.h.count[3], 1);
	CHECK_EQ(s.opt_class, 900);
	CHECK_EQ(s.opt_ttl, 0);
	CHECK_EQ(s.ede, -1);

	/* DO copied (and in the key: an entry of its own). */
	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 1, 1, 1);
	CHECK_EQ(ask(c, &qi, 0, 0, 0, &s, &hit), 0);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.opt, 1);
	CHECK_EQ(s.opt_ttl, 0x8000);
	CHECK_EQ(s.opt_class, 1232);

	/* Records after an OPT are not stored; counts stay consistent. */
	mkqi(&qi, "tsig.example.com", DNS_TYPE_A, RD, 1, 0, 1);
	ans(&m, "tsig.example.com", DNS_TYPE_A, RD, 1, 0, 3);
	rr_a(&m, 300, 1);
	rr_a(&m, 300, 2);
	put_opt(&m, 1232, 0);
	rr_a(&m, 300, 3);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.h.count[1], 1);
	CHECK_EQ(s.h.count[3], 2);
	CHECK_EQ(s.type[1], DNS_TYPE_A);
	CHECK_EQ(s.type[2], DNS_TYPE_OPT);
	cache_free(c);
}

static void
test_provenance(void)
{
	struct cache *c = cache_new(1 << 20);
	struct dns_query_info qi, qd;
	struct cache_hit hit;
	struct served s;
	struct msg m;

	mkqi(&qi, "plain.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans_a(&m, "plain.example.com", 300, 1);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_PLAIN, 0, &defpol),
	    CACHE_STORED);
	mkqi(&qd, "doh.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans_a(&m, "doh.example.com", 300, 2);
	CHECK_EQ(store(c, &qd, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);

	CHECK_EQ(ask(c, &qi, 1000, 0, 0, &s, &hit), 0);
	CHECK(ask(c, &qi, 1000, 0, 1, &s, &hit) != 0);
	CHECK_EQ(hit.source, CACHE_SRC_PLAIN);
	/* plain_max_ttl caps the entry and its records. */
	CHECK_EQ(hit.ttl_orig, 60);
	CHECK_EQ(s.ttl[0], 59);
	CHECK(ask(c, &qd, 1000, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.source, CACHE_SRC_DOH);

	cache_flush_source(c, CACHE_SRC_PLAIN);
	CHECK_EQ(cache_stats(c)->entries, 1);
	CHECK_EQ(ask(c, &qi, 1000, 0, 1, &s, &hit), 0);
	CHECK(ask(c, &qd, 1000, 0, 1, &s, &hit) != 0);
	cache_flush(c);
	CHECK_EQ(cache_stats(c)->entries, 0);
	CHECK_EQ(ask(c, &qd, 1000, 0, 1, &s, &hit), 0);
	cache_free(c);
}

static void
test_stale(void)
{
	struct cache *c = cache_new(1 << 20);
	struct dns_query_info qi, qn;
	struct cache_hit hit;
	struct served s;
	struct msg m;
	const uint64_t window = 3600000;

	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 1, 0, 1);
	mkqi(&qn, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans(&m, "www.example.com", DNS_TYPE_A, RD, 2, 0, 0);
	rr_a(&m, 300, 1);
	rr_a(&m, 600, 2);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);

	/* Fresh is never stale, even with a window. */
	CHECK(ask(c, &qi, 299999, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 0);
	CHECK_EQ(s.ttl[0], 1);
	CHECK_EQ(s.ede, -1);

	CHECK(ask(c, &qi, 300000, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 1);
	CHECK_EQ(hit.ttl_left, 0);
	CHECK_EQ(s.ttl[0], 30);
	CHECK_EQ(s.ttl[1], 30);
	CHECK_EQ(s.opt, 1);
	CHECK_EQ(s.ede, 3);
	CHECK(ask(c, &qn, 300000 + window, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 1);
	CHECK_EQ(s.ttl[0], 30);
	CHECK_EQ(s.opt, 0);
	CHECK_EQ(cache_stats(c)->expired, 0);

	/* Past the window: a miss, and dropped. */
	CHECK_EQ(ask(c, &qi, 300000 + window + 1, window, 0, &s, &hit), 0);
	CHECK_EQ(cache_stats(c)->entries, 0);
	CHECK_EQ(cache_stats(c)->expired, 1);
	CHECK_EQ(ask(c, &qi, 300000, window, 0, &s, &hit), 0);
	cache_free(c);
}

static enum cache_verdict
store_meta(struct cache *c, const struct dns_query_info *qi,
    const struct msg *m, uint64_t now, const struct cache_policy *pol,
    const struct cache_meta *meta)
{
	uint8_t *p;
	enum cache_verdict v;

	if ((p = malloc(m->len)) == NULL)
		abort();
	memcpy(p, m->buf, m->len);
	v = cache_store_meta(c, qi, p, m->len, CACHE_SRC_DOH, now, pol, meta);
	free(p);
	return v;
}

/*
 * What DNSSEC validation stores with an entry (issue 19): its state,
 * opaque to the cache and returned by every hit, fresh or stale, and
 * replaced with the entry; a bogus answer's SERVFAIL, kept for its own
 * time even where the policy caches no SERVFAIL, and never served
 * stale; a cap from the signatures' expiry that min-ttl does not undo.
 */
static void
test_meta(void)
{
	struct cache *c = cache_new(1 << 20);
	struct cache_policy pol = defpol;
	struct dns_query_info qi, qs;
	struct cache_meta meta;
	struct cache_hit hit;
	struct served s;
	struct msg m, sf;
	const uint64_t window = 3600000;

	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 1, 1, 1);
	ans_a(&m, "www.example.com", 300, 0x01020304);

	/* cache_store() and a NULL meta: state 0, stale as ever. */
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.dnssec_state, 0);
	CHECK_EQ(hit.no_stale, 0);
	CHECK_EQ(store_meta(c, &qi, &m, 0, &defpol, NULL), CACHE_STORED);
	CHECK(ask(c, &qi, 300000, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 1);
	CHECK_EQ(hit.dnssec_state, 0);

	/* A state, fresh and stale; a new store replaces it. */
	memset(&meta, 0, sizeof(meta));
	meta.dnssec_state = 2;
	CHECK_EQ(store_meta(c, &qi, &m, 0, &defpol, &meta), CACHE_STORED);
	CHECK(ask(c, &qi, 1000, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.dnssec_state, 2);
	CHECK_EQ(s.ttl[0], 299);
	CHECK(ask(c, &qi, 300000, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 1);
	CHECK_EQ(hit.dnssec_state, 2);
	meta.dnssec_state = 255;
	CHECK_EQ(store_meta(c, &qi, &m, 0, &defpol, &meta), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.dnssec_state, 255);
	CHECK_EQ(cache_stats(c)->entries, 1);

	/* The signatures expire in 100 s: the TTL served is capped there,
	 * and stays so under a min-ttl above it. */
	meta.max_ttl = 100;
	pol.min_ttl = 200;
	CHECK_EQ(store_meta(c, &qi, &m, 0, &pol, &meta), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.ttl[0], 100);
	CHECK_EQ(hit.ttl_orig, 100);
	CHECK_EQ(ask(c, &qi, 100000, 0, 0, &s, &hit), 0);
	/* A cap above what the rules give changes nothing. */
	meta.max_ttl = 1000;
	pol.min_ttl = 0;
	CHECK_EQ(store_meta(c, &qi, &m, 0, &pol, &meta), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(s.ttl[0], 300);

	/* A fresh no_stale entry is a hit like any other ... */
	memset(&meta, 0, sizeof(meta));
	meta.no_stale = 1;
	meta.dnssec_state = 1;
	CHECK_EQ(store_meta(c, &qi, &m, 0, &defpol, &meta), CACHE_STORED);
	CHECK(ask(c, &qi, 299999, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.no_stale, 1);
	/* ... and expired, a miss whatever the window: dropped. */
	CHECK_EQ(ask(c, &qi, 300000, window, 0, &s, &hit), 0);
	CHECK_EQ(cache_stats(c)->entries, 0);

	/* A bogus answer's SERVFAIL: 60 s where the policy says none. */
	mkqi(&qs, "bogus.example.com", DNS_TYPE_A, RD, 1, 1, 2);
	ans(&sf, "bogus.example.com", DNS_TYPE_A, RD | DNS_RCODE_SERVFAIL, 0,
	    0, 0);
	pol = defpol;
	pol.servfail_ttl = 0;
	CHECK_EQ(store_meta(c, &qs, &sf, 0, &pol, NULL),
	    CACHE_NOT_CACHEABLE);
	memset(&meta, 0, sizeof(meta));
	meta.servfail_ttl = 60;
	meta.no_stale = 1;
	meta.dnssec_state = 3;
	CHECK_EQ(store_meta(c, &qs, &sf, 0, &pol, &meta), CACHE_STORED);
	CHECK(ask(c, &qs, 59999, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.rcode, DNS_RCODE_SERVFAIL);
	CHECK_EQ(hit.dnssec_state, 3);
	CHECK_EQ(hit.ttl_orig, 60);
	CHECK_EQ(ask(c, &qs, 60000, window, 0, &s, &hit), 0);
	/* It replaces the policy's SERVFAIL time, not a NOERROR's TTL. */
	CHECK_EQ(store_meta(c, &qs, &sf, 0, &defpol, &meta), CACHE_STORED);
	CHECK(ask(c, &qs, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 60);
	CHECK_EQ(store_meta(c, &qi, &m, 0, &defpol, &meta), CACHE_STORED);
	CHECK(ask(c, &qi, 0, 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.ttl_orig, 300);
	/* Without no_stale, a SERVFAIL of its own time is served stale. */
	meta.no_stale = 0;
	CHECK_EQ(store_meta(c, &qs, &sf, 0, &defpol, &meta), CACHE_STORED);
	CHECK(ask(c, &qs, 60000, window, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 1);
	cache_free(c);
}

#define HOUR_MS	(3600ull * 1000)

/*
 * A laptop sleeps 8 h with an answer 300 s from expiry.  The proxy asks
 * the cache on expiry time (clock_boot_ms()), which counted the sleep:
 * not fresh; served stale (EDE 3, TTL 30) only if the window reaches
 * that far, else a miss.  Live time (clock_ms()) would still have said
 * 300 s left: the bug this guards against.  Negative and SERVFAIL
 * entries age the same way.
 */
static void
test_sleep(void)
{
	struct cache *c = cache_new(1 << 20);
	struct cache_policy pol = defpol;
	struct dns_query_info qi, qx, qf;
	struct cache_hit hit;
	struct served s;
	struct msg m;
	uint64_t stored;

	clock_test_begin(5000);
	pol.servfail_ttl = 5;
	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 1, 0, 1);
	ans_a(&m, "www.example.com", 300, 0x01020304);
	stored = clock_boot_ms();
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, stored, &pol),
	    CACHE_STORED);
	mkqi(&qx, "nx.example.com", DNS_TYPE_A, RD, 1, 0, 7);
	ans(&m, "nx.example.com", DNS_TYPE_A, RD | DNS_RCODE_NXDOMAIN, 0, 1, 1);
	rr_soa(&m, 3600, 300);
	put_opt(&m, 1232, 0);
	CHECK_EQ(store(c, &qx, &m, CACHE_SRC_DOH, stored, &pol),
	    CACHE_STORED);
	mkqi(&qf, "sf.example.com", DNS_TYPE_A, RD, 1, 0, 9);
	ans(&m, "sf.example.com", DNS_TYPE_A, RD | DNS_RCODE_SERVFAIL, 0, 0,
	    1);
	put_opt(&m, 1232, 0);
	CHECK_EQ(store(c, &qf, &m, CACHE_SRC_DOH, stored, &pol),
	    CACHE_STORED);

	clock_test_sleep(8 * HOUR_MS);
	CHECK_EQ(clock_ms(), 5000);		/* live time: as before */
	CHECK_EQ(clock_boot_ms() - stored, 8 * HOUR_MS);

	/* Never fresh; within a 1 day window, stale with EDE 3. */
	CHECK(ask(c, &qi, clock_boot_ms(), 24 * HOUR_MS, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 1);
	CHECK_EQ(hit.ttl_left, 0);
	CHECK_EQ(hit.age_ms, 8 * HOUR_MS);
	CHECK_EQ(s.ttl[0], 30);
	CHECK_EQ(s.ede, 3);
	CHECK_EQ(s.a, 0x01020304);
	/* Negative and SERVFAIL entries expired too: stale at best. */
	CHECK(ask(c, &qx, clock_boot_ms(), 24 * HOUR_MS, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 1);
	CHECK_EQ(s.ede, 3);
	CHECK(ask(c, &qf, clock_boot_ms(), 24 * HOUR_MS, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 1);
	CHECK_EQ(hit.rcode, DNS_RCODE_SERVFAIL);

	/* A 1 h window ended 7 h ago: a miss, and the entries dropped. */
	CHECK_EQ(ask(c, &qi, clock_boot_ms(), HOUR_MS, 0, &s, &hit), 0);
	CHECK_EQ(ask(c, &qx, clock_boot_ms(), HOUR_MS, 0, &s, &hit), 0);
	CHECK_EQ(ask(c, &qf, clock_boot_ms(), HOUR_MS, 0, &s, &hit), 0);
	CHECK_EQ(cache_stats(c)->entries, 0);
	CHECK_EQ(cache_stats(c)->expired, 3);

	/* Refreshed after the resume: fresh again, counted from now. */
	ans_a(&m, "www.example.com", 300, 0x05060708);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, clock_boot_ms(), &pol),
	    CACHE_STORED);
	clock_step(10000);
	CHECK(ask(c, &qi, clock_boot_ms(), 0, 0, &s, &hit) != 0);
	CHECK_EQ(hit.stale, 0);
	CHECK_EQ(s.ttl[0], 290);
	CHECK_EQ(s.ede, -1);
	CHECK_EQ(s.a, 0x05060708);
	cache_free(c);
}

/* Names of one length: prefix, five digits, ".example". */
static void
name_n(char *buf, size_t size, const char *prefix, int i)
{
	snprintf(buf, size, "%s%05d.example", prefix, i);
}

static enum cache_verdict
put_n(struct cache *c, const char *prefix, int i, uint64_t now)
{
	struct dns_query_info qi;
	struct msg m;
	char name[64];

	name_n(name, sizeof(name), prefix, i);
	mkqi(&qi, name, DNS_TYPE_A, RD, 0, 0, 1);
	ans_a(&m, name, 300, (uint32_t)i);
	return store(c, &qi, &m, CACHE_SRC_DOH, now, &defpol);
}

static int
has_n(struct cache *c, const char *prefix, int i, uint64_t now)
{
	struct dns_query_info qi;
	struct cache_hit hit;
	struct served s;
	char name[64];

	name_n(name, sizeof(name), prefix, i);
	mkqi(&qi, name, DNS_TYPE_A, RD, 0, 0, 1);
	return ask(c, &qi, now, 0, 0, &s, &hit) != 0 && s.a == (uint32_t)i;
}

/*
 * Ten entries fill the cache; 0, 2 and 4 are asked again.  SIEVE's hand
 * starts at the oldest: it spares 0, evicts 1, spares 2, evicts 3,
 * spares 4, evicts 5, then 6 (FIFO or LRU would lose 0 to 3).
 */
static void
test_sieve(void)
{
	struct cache *c;
	size_t empty, charge;
	int i;

	c = cache_new(1 << 20);
	empty = cache_stats(c)->bytes;
	CHECK_EQ(put_n(c, "n", 0, 0), CACHE_STORED);
	charge = cache_stats(c)->bytes - empty;
	cache_free(c);

	c = cache_new(empty + 10 * charge);
	CHECK_EQ(cache_stats(c)->bytes, empty);
	for (i = 0; i < 10; i++)
		CHECK_EQ(put_n(c, "n", i, 0), CACHE_STORED);
	CHECK_EQ(cache_stats(c)->entries, 10);
	CHECK_EQ(cache_stats(c)->evicted, 0);
	CHECK_EQ(cache_stats(c)->bytes, cache_stats(c)->max_bytes);
	CHECK(has_n(c, "n", 0, 0));
	CHECK(has_n(c, "n", 2, 0));
	CHECK(has_n(c, "n", 4, 0));
	for (i = 10; i < 14; i++)
		CHECK_EQ(put_n(c, "n", i, 0), CACHE_STORED);
	CHECK_EQ(cache_stats(c)->entries, 10);
	CHECK_EQ(cache_stats(c)->evicted, 4);
	for (i = 0; i < 14; i++)
		CHECK_EQ(has_n(c, "n", i, 0),
		    i != 1 && i != 3 && i != 5 && i != 6);
	cache_free(c);
}

/* A scan of 10,000 one-time names neither breaks the bound nor flushes
 * the names asked all along. */
static void
test_scan(void)
{
	const size_t max = 64 * 1024;
	struct cache *c = cache_new(max);
	int i, j, over = 0, lost = 0;

	for (j = 0; j < 8; j++)
		CHECK_EQ(put_n(c, "hot", j, 0), CACHE_STORED);
	for (i = 0; i < 10000; i++) {
		if (put_n(c, "scan", i, (uint64_t)i * 10) !=
		    CACHE_STORED)
			over++;
		if (cache_stats(c)->bytes > max)
			over++;
		if (i % 50 == 0)
			for (j = 0; j < 8; j++)
				if (!has_n(c, "hot", j,
				    (uint64_t)i * 10))
					lost++;
	}
	CHECK_EQ(over, 0);
	CHECK_EQ(lost, 0);
	CHECK(cache_stats(c)->evicted > 9000);
	CHECK(cache_stats(c)->entries > 100);
	CHECK(cache_stats(c)->bytes <= max);
	CHECK(cache_stats(c)->bytes > max - 200);
	for (j = 0; j < 8; j++)
		CHECK(has_n(c, "hot", j, 100000));
	CHECK(!has_n(c, "scan", 0, 100000));
	CHECK(has_n(c, "scan", 9999, 100000));
	cache_free(c);
}

/* The control socket's flush: a name's entries, or a name and type's. */
static void
test_flush_name(void)
{
	struct cache *c = cache_new(1 << 20);
	struct dns_query_info a, aaaa, a_do, other;
	struct cache_hit hit;
	struct served s;
	struct msg m;
	uint8_t name[DNS_MAX_NAME];
	size_t nlen;

	mkqi(&a, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	mkqi(&a_do, "www.example.com", DNS_TYPE_A, RD, 1, 1, 2);
	mkqi(&aaaa, "WWW.example.com", 28, RD, 0, 0, 3);
	mkqi(&other, "example.com", DNS_TYPE_A, RD, 0, 0, 4);
	ans_a(&m, "www.example.com", 300, 1);
	CHECK_EQ(store(c, &a, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_STORED);
	CHECK_EQ(store(c, &a_do, &m, CACHE_SRC_DOH, 0, &defpol),
	    CACHE_STORED);
	ans(&m, "WWW.example.com", 28, RD, 0, 1, 0);
	rr_soa(&m, 300, 300);
	CHECK_EQ(store(c, &aaaa, &m, CACHE_SRC_DOH, 0, &defpol),
	    CACHE_STORED);
	ans_a(&m, "example.com", 300, 2);
	CHECK_EQ(store(c, &other, &m, CACHE_SRC_DOH, 0, &defpol),
	    CACHE_STORED);
	CHECK_EQ(cache_stats(c)->entries, 4);

	/* A name and type: both DO variants of A, not AAAA, whatever the
	 * case the name is written in. */
	nlen = dnsmsg_name_from_text("www.EXAMPLE.com.", name, sizeof(name));
	CHECK_EQ(cache_flush_name(c, name, nlen, DNS_TYPE_A), 2);
	CHECK_EQ(ask(c, &a, 0, 0, 1, &s, &hit), 0);
	CHECK_EQ(ask(c, &a_do, 0, 0, 1, &s, &hit), 0);
	CHECK(ask(c, &aaaa, 0, 0, 1, &s, &hit) != 0);
	CHECK_EQ(cache_flush_name(c, name, nlen, DNS_TYPE_A), 0);
	/* A name, every type; never a name above or below it. */
	CHECK_EQ(cache_flush_name(c, name, nlen, -1), 1);
	CHECK_EQ(cache_stats(c)->entries, 1);
	CHECK(ask(c, &other, 0, 0, 1, &s, &hit) != 0);
	/* No name: everything. */
	CHECK_EQ(cache_flush_name(c, NULL, 0, -1), 1);
	CHECK_EQ(cache_stats(c)->entries, 0);
	cache_free(c);
}

static void
test_off(void)
{
	struct cache *c = cache_new(0);
	struct dns_query_info qi;
	struct cache_hit hit;
	struct served s;
	struct msg m;

	CHECK(c != NULL);
	mkqi(&qi, "www.example.com", DNS_TYPE_A, RD, 0, 0, 1);
	ans_a(&m, "www.example.com", 300, 1);
	CHECK_EQ(store(c, &qi, &m, CACHE_SRC_DOH, 0, &defpol), CACHE_OFF);
	CHECK_EQ(ask(c, &qi, 0, 0, 1, &s, &hit), 0);
	CHECK_EQ(cache_stats(c)->entries, 0);
	CHECK_EQ(cache_stats(c)->bytes, 0);
	CHECK_EQ(cache_stats(c)->stored, 0);
	cache_flush(c);
	cache_flush_source(c, CACHE_SRC_PLAIN);
	cache_free(c);
	cache_free(NULL);
	CHECK_STR(cache_verdict_names[CACHE_TOO_BIG], "too-big");
	CHECK_STR(cache_source_names[CACHE_SRC_PLAIN], "plain");
}

int
main(void)
{
	test_countdown();
	test_negative();
	test_clamps();
	test_not_cached();
	test_key_bits();
	test_client_view();
	test_opt();
	test_provenance();
	test_stale();
	test_meta();
	test_sleep();
	test_sieve();
	test_scan();
	test_flush_name();
	test_off();
	return check_summary();
}
