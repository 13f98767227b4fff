/*
 * Unit tests for local: which names are answered on the host, and the
 * bytes of those answers, read back through dnsmsg's reader; the query
 * policy; local-zone-exempt.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/local.h"
#include "check.h"
#include "wire.h"

#define QR	0x8000
#define AA	0x0400
#define RD	0x0100
#define RA	0x0080
#define CD	0x0010

#define T_A	1
#define T_NS	2
#define T_SOA	6
#define T_PTR	12
#define T_MX	15
#define T_TXT	16
#define T_AAAA	28
#define T_ANY	255

#define V6_LOOP	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." \
		"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"

struct rr {
	uint8_t		owner[DNS_MAX_NAME];
	size_t		owner_len;
	uint16_t	type, class;
	uint32_t	ttl;
	const uint8_t	*rdata;
	uint16_t	rdlen;
	uint8_t		target[DNS_MAX_NAME];	/* PTR, NS, SOA mname */
	size_t		target_len;
};

/* An answer read back. */
struct ans {
	enum local_verdict v;
	uint8_t		 buf[1024];
	size_t		 len;
	struct dns_header h;
	uint8_t		 qname[DNS_MAX_NAME];
	size_t		 qname_len;
	uint16_t	 qtype, qclass;
	struct rr	 an[8], ns[8];
	int		 opt;		/* an OPT in the additional section */
	int		 opt_do;
};

static struct config cfg;

static int
read_rr(struct dnsmsg_rd *r, struct rr *rr)
{
	struct dnsmsg_rd sub;

	memset(rr, 0, sizeof(*rr));
	if (dnsmsg_rd_name(r, rr->owner, &rr->owner_len) == -1 ||
	    dnsmsg_rd_u16(r, &rr->type) == -1 ||
	    dnsmsg_rd_u16(r, &rr->class) == -1 ||
	    dnsmsg_rd_u32(r, &rr->ttl) == -1 ||
	    dnsmsg_rd_u16(r, &rr->rdlen) == -1)
		return -1;
	rr->rdata = r->msg + r->off;
	if (dnsmsg_rd_sub(r, rr->rdlen, &sub) == -1)
		return -1;
	if (rr->type == T_PTR || rr->type == T_NS || rr->type == T_SOA)
		if (dnsmsg_rd_name(&sub, rr->target, &rr->target_len) == -1)
			return -1;
	return 0;
}

/* The whole answer parses, every record within its bounds. */
static int
decode(struct ans *a)
{
	struct dnsmsg_rd r;
	struct rr opt;
	unsigned i;

	dnsmsg_rd_init(&r, a->buf, a->len);
	if (dnsmsg_rd_header(&r, &a->h) == -1 ||
	    a->h.count[DNS_SEC_QUESTION] != 1 ||
	    a->h.count[DNS_SEC_ANSWER] > 8 ||
	    a->h.count[DNS_SEC_AUTHORITY] > 8 ||
	    a->h.count[DNS_SEC_ADDITIONAL] > 1 ||
	    dnsmsg_rd_name(&r, a->qname, &a->qname_len) == -1 ||
	    dnsmsg_rd_u16(&r, &a->qtype) == -1 ||
	    dnsmsg_rd_u16(&r, &a->qclass) == -1)
		return -1;
	for (i = 0; i < a->h.count[DNS_SEC_ANSWER]; i++)
		if (read_rr(&r, &a->an[i]) == -1)
			return -1;
	for (i = 0; i < a->h.count[DNS_SEC_AUTHORITY]; i++)
		if (read_rr(&r, &a->ns[i]) == -1)
			return -1;
	if (a->h.count[DNS_SEC_ADDITIONAL] == 1) {
		if (read_rr(&r, &opt) == -1 || opt.type != DNS_TYPE_OPT)
			return -1;
		a->opt = 1;
		a->opt_do = (opt.ttl & DNS_EDNS_DO) != 0;
	}
	return dnsmsg_rd_left(&r) == 0 ? 0 : -1;
}

/* Ask name (as written: case kept) of type and class; edns 0: none. */
static void
ask_class(struct ans *a, const char *name, uint16_t qtype, uint16_t qclass,
    unsigned edns, int do_bit)
{
	struct dns_query_info qi;
	struct msg q;

	memset(a, 0, sizeof(*a));
	q.len = 0;
	put16(&q, 0xbeef);
	put16(&q, RD | CD);
	put16(&q, 1);
	put16(&q, 0);
	put16(&q, 0);
	put16(&q, edns != 0);
	put_dname(&q, name);
	put16(&q, qtype);
	put16(&q, qclass);
	if (edns != 0)
		put_opt(&q, edns, do_bit);
	if (dnsmsg_parse_query(q.buf, q.len, &qi) != DNS_VERDICT_OK)
		abort();
	a->v = local_answer(&qi, &cfg, a->buf, sizeof(a->buf), &a->len);
	if (a->v != LOCAL_FORWARD) {
		if (a->len == 0 || a->len > DNS_UDP_PLAIN_MAX || decode(a) != 0) {
			fprintf(stderr, "%s: answer does not parse\n", name);
			a->len = 0;
		}
	} else
		CHECK_EQ(a->len, 0);
}

static void
ask(struct ans *a, const char *name, uint16_t qtype)
{
	ask_class(a, name, qtype, DNS_CLASS_IN, 0, 0);
}

static int
rcode(const struct ans *a)
{
	return a->h.flags & DNS_FLAG_RCODE;
}

/* The wire name is text, exactly (the client's case echoed). */
static int
is_name(const uint8_t *wire, size_t len, const char *text)
{
	uint8_t w[DNS_MAX_NAME];
	size_t n = dnsmsg_name_from_text(text, w, sizeof(w));

	return n != 0 && n == len && memcmp(w, wire, n) == 0;
}

/* The same name, ignoring case. */
static int
same_name(const uint8_t *wire, size_t len, const char *text)
{
	uint8_t w[DNS_MAX_NAME];
	size_t n = dnsmsg_name_from_text(text, w, sizeof(w)), i;

	if (n == 0 || n != len)
		return 0;
	for (i = 0; i < n; i++)
		if (tolower(w[i]) != tolower(wire[i]))
			return 0;
	return 1;
}

/* NXDOMAIN or NODATA from zone: AA, no answer, its SOA in authority. */
static int
negative(const struct ans *a, int rc, const char *zone)
{
	return a->v == LOCAL_ZONE && a->len > 0 && rcode(a) == rc &&
	    (a->h.flags & AA) != 0 && a->h.count[DNS_SEC_ANSWER] == 0 &&
	    a->h.count[DNS_SEC_AUTHORITY] == 1 && a->ns[0].type == T_SOA &&
	    a->ns[0].class == DNS_CLASS_IN &&
	    same_name(a->ns[0].owner, a->ns[0].owner_len, zone) &&
	    is_name(a->ns[0].target, a->ns[0].target_len, "localhost") &&
	    a->ns[0].ttl == 10800;
}

static int
nxdomain(const char *name, const char *zone)
{
	struct ans a;

	ask(&a, name, T_A);
	if (!negative(&a, DNS_RCODE_NXDOMAIN, zone))
		fprintf(stderr, "%s: not NXDOMAIN from %s\n", name, zone);
	return negative(&a, DNS_RCODE_NXDOMAIN, zone);
}

static int
forwarded(const char *name, uint16_t qtype)
{
	struct ans a;

	ask(&a, name, qtype);
	if (a.v != LOCAL_FORWARD)
		fprintf(stderr, "%s: not forwarded\n", name);
	return a.v == LOCAL_FORWARD;
}

/* One answer record of type with rdata (n bytes), owned by the qname. */
static int
one_answer(const struct ans *a, uint16_t type, const void *rdata, size_t n)
{
	return a->v == LOCAL_ZONE && a->len > 0 &&
	    rcode(a) == DNS_RCODE_NOERROR && (a->h.flags & AA) != 0 &&
	    a->h.count[DNS_SEC_ANSWER] == 1 &&
	    a->h.count[DNS_SEC_AUTHORITY] == 0 && a->an[0].type == type &&
	    a->an[0].owner_len == a->qname_len &&
	    memcmp(a->an[0].owner, a->qname, a->qname_len) == 0 &&
	    (rdata == NULL || (a->an[0].rdlen == n &&
	    memcmp(a->an[0].rdata, rdata, n) == 0));
}

static void
test_localhost(void)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	static const uint8_t lo6[16] = { [15] = 1 };
	struct ans a;

	ask(&a, "localhost", T_A);
	CHECK(one_answer(&a, T_A, lo4, 4));
	ask(&a, "localhost", T_AAAA);
	CHECK(one_answer(&a, T_AAAA, lo6, 16));
	/* Below it too (RFC 6761 6.3), case kept in the echo. */
	ask(&a, "Foo.Bar.LocalHost", T_A);
	CHECK(one_answer(&a, T_A, lo4, 4));
	CHECK(is_name(a.qname, a.qname_len, "Foo.Bar.LocalHost"));
	CHECK(is_name(a.an[0].owner, a.an[0].owner_len, "Foo.Bar.LocalHost"));
	ask(&a, "x.localhost", T_AAAA);
	CHECK(one_answer(&a, T_AAAA, lo6, 16));
	/* Other types: NODATA with the SOA. */
	ask(&a, "localhost", T_MX);
	CHECK(negative(&a, DNS_RCODE_NOERROR, "localhost"));
	ask(&a, "x.localhost", T_TXT);
	CHECK(negative(&a, DNS_RCODE_NOERROR, "localhost"));
	ask(&a, "localhost", T_SOA);
	CHECK(one_answer(&a, T_SOA, NULL, 0));
	ask(&a, "localhost", T_NS);
	CHECK(one_answer(&a, T_NS, NULL, 0));
	CHECK(is_name(a.an[0].target, a.an[0].target_len, "localhost"));
	ask(&a, "localhost", T_ANY);
	CHECK_EQ(a.h.count[DNS_SEC_ANSWER], 4);	/* A, AAAA, SOA, NS */
	/* Label boundaries. */
	CHECK(forwarded("notlocalhost", T_A));
	CHECK(forwarded("localhost.example", T_A));
	CHECK(forwarded("localhos", T_A));
}

static void
test_header(void)
{
	struct ans a;

	ask_class(&a, "LOCALHOST", T_A, DNS_CLASS_IN, 0, 0);
	CHECK_EQ(a.h.id, 0xbeef);
	CHECK_EQ(a.h.flags & ~DNS_FLAG_RCODE, QR | AA | RD | RA | CD);
	CHECK(is_name(a.qname, a.qname_len, "LOCALHOST"));
	CHECK_EQ(a.qtype, T_A);
	CHECK_EQ(a.qclass, DNS_CLASS_IN);
	CHECK(!a.opt);
	ask_class(&a, "localhost", T_A, DNS_CLASS_IN, 4096, 1);
	CHECK(a.opt);
	CHECK(a.opt_do);
	ask_class(&a, "x.local", T_A, DNS_CLASS_IN, 1232, 0);
	CHECK(a.opt);
	CHECK(!a.opt_do);
	CHECK(negative(&a, DNS_RCODE_NXDOMAIN, "local"));
	/* Class ANY: answered, the records IN. */
	ask_class(&a, "localhost", T_A, 255, 0, 0);
	CHECK(one_answer(&a, T_A, NULL, 0));
	CHECK_EQ(a.an[0].class, DNS_CLASS_IN);
	CHECK_EQ(a.qclass, 255);
}

static void
test_special_use(void)
{
	struct ans a;

	CHECK(nxdomain("foo.invalid", "invalid"));
	CHECK(nxdomain("duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad"
	    ".onion", "onion"));
	CHECK(nxdomain("x.onion", "onion"));
	CHECK(nxdomain("printer.local", "local"));
	CHECK(nxdomain("Printer.LOCAL", "local"));
	CHECK(nxdomain("router.home.arpa", "home.arpa"));
	CHECK(nxdomain("_dns.resolver.arpa", "resolver.arpa"));
	ask(&a, "_dns.resolver.arpa", 64);	/* SVCB: no DDR here */
	CHECK(negative(&a, DNS_RCODE_NXDOMAIN, "resolver.arpa"));
	/* The apex exists: NODATA but for SOA and NS. */
	ask(&a, "local", T_A);
	CHECK(negative(&a, DNS_RCODE_NOERROR, "local"));
	ask(&a, "home.arpa", T_SOA);
	CHECK(one_answer(&a, T_SOA, NULL, 0));
	CHECK(is_name(a.an[0].owner, a.an[0].owner_len, "home.arpa"));
	ask(&a, "invalid", T_NS);
	CHECK(one_answer(&a, T_NS, NULL, 0));
	/* Label boundaries and zones that are not local. */
	CHECK(forwarded("xlocal", T_A));
	CHECK(forwarded("local.example", T_A));
	CHECK(forwarded("xhome.arpa", T_A));
	CHECK(forwarded("arpa", T_SOA));
	CHECK(forwarded("example.com", T_A));
	CHECK(forwarded("", T_NS));		/* the root */
	/* test. is never local: labs and test suites use it. */
	CHECK(forwarded("test", T_SOA));
	CHECK(forwarded("www.lab.test", T_A));
	CHECK(forwarded("localhost.test", T_A));
}

static void
test_reverse(void)
{
	static const uint8_t lh[] = "\011localhost";
	char name[128];
	struct ans a;
	int i;

	ask(&a, "1.0.0.127.in-addr.arpa", T_PTR);
	CHECK(one_answer(&a, T_PTR, lh, sizeof(lh)));
	ask(&a, "1.0.0.127.IN-ADDR.ARPA", T_PTR);
	CHECK(one_answer(&a, T_PTR, lh, sizeof(lh)));
	ask(&a, "1.0.0.127.in-addr.arpa", T_A);
	CHECK(negative(&a, DNS_RCODE_NOERROR, "127.in-addr.arpa"));
	CHECK(nxdomain("2.0.0.127.in-addr.arpa", "127.in-addr.arpa"));
	/* An empty non-terminal above the PTR: NODATA. */
	ask(&a, "0.0.127.in-addr.arpa", T_PTR);
	CHECK(negative(&a, DNS_RCODE_NOERROR, "127.in-addr.arpa"));
	ask(&a, "127.in-addr.arpa", T_SOA);
	CHECK(one_answer(&a, T_SOA, NULL, 0));
	ask(&a, V6_LOOP, T_PTR);
	CHECK(one_answer(&a, T_PTR, lh, sizeof(lh)));
	CHECK(nxdomain("x." V6_LOOP, V6_LOOP));
	snprintf(name, sizeof(name), "2%s", &V6_LOOP[1]);	/* ::2 */
	CHECK(forwarded(name, T_PTR));

	CHECK(nxdomain("1.1.168.192.in-addr.arpa", "168.192.in-addr.arpa"));
	CHECK(nxdomain("4.3.2.10.in-addr.arpa", "10.in-addr.arpa"));
	ask(&a, "10.in-addr.arpa", T_PTR);
	CHECK(negative(&a, DNS_RCODE_NOERROR, "10.in-addr.arpa"));
	for (i = 16; i <= 31; i++) {
		snprintf(name, sizeof(name), "1.0.%d.172.in-addr.arpa", i);
		CHECK(nxdomain(name, name + 4));
	}
	CHECK(forwarded("1.0.15.172.in-addr.arpa", T_PTR));
	CHECK(forwarded("1.0.32.172.in-addr.arpa", T_PTR));
	CHECK(forwarded("1.1.167.192.in-addr.arpa", T_PTR));
	CHECK(forwarded("1.1.1.1.in-addr.arpa", T_PTR));
	CHECK(forwarded("1.1.1.110.in-addr.arpa", T_PTR));
	CHECK(nxdomain("1.1.254.169.in-addr.arpa", "254.169.in-addr.arpa"));
	CHECK(forwarded("1.1.253.169.in-addr.arpa", T_PTR));
	CHECK(nxdomain("1.0.0.d.f.ip6.arpa", "d.f.ip6.arpa"));
	CHECK(nxdomain("0.8.e.f.ip6.arpa", "8.e.f.ip6.arpa"));
	CHECK(nxdomain("0.9.e.f.ip6.arpa", "9.e.f.ip6.arpa"));
	CHECK(nxdomain("0.a.e.f.ip6.arpa", "a.e.f.ip6.arpa"));
	CHECK(nxdomain("0.B.E.F.ip6.arpa", "b.e.f.ip6.arpa"));
	CHECK(forwarded("0.c.e.f.ip6.arpa", T_PTR));
	CHECK(forwarded("c.f.ip6.arpa", T_PTR));
	CHECK(forwarded("8.8.8.8.in-addr.arpa", T_PTR));
}

static void
test_policy(void)
{
	static const uint16_t formerr[] = { 41, 249, 250, 253, 254, 128, 248 };
	static const uint16_t refused_class[] = { 3, 4, 254, 2, 65280 };
	struct ans a;
	size_t i;

	ask(&a, "example.com", 252);		/* AXFR */
	CHECK(a.v == LOCAL_POLICY && rcode(&a) == DNS_RCODE_REFUSED);
	CHECK_EQ(a.h.flags & AA, 0);
	CHECK_EQ(a.h.count[DNS_SEC_ANSWER] + a.h.count[DNS_SEC_AUTHORITY], 0);
	CHECK_EQ(a.h.id, 0xbeef);
	ask(&a, "example.com", 251);		/* IXFR */
	CHECK(a.v == LOCAL_POLICY && rcode(&a) == DNS_RCODE_REFUSED);
	ask(&a, "localhost", 252);		/* before local zones */
	CHECK(a.v == LOCAL_POLICY && rcode(&a) == DNS_RCODE_REFUSED);
	for (i = 0; i < sizeof(formerr) / sizeof(formerr[0]); i++) {
		ask(&a, "example.com", formerr[i]);
		CHECK(a.v == LOCAL_POLICY && rcode(&a) == DNS_RCODE_FORMERR);
	}
	ask_class(&a, "version.bind", T_TXT, 3, 1232, 0);	/* CH */
	CHECK(a.v == LOCAL_POLICY && rcode(&a) == DNS_RCODE_REFUSED);
	CHECK(a.opt);
	CHECK(is_name(a.qname, a.qname_len, "version.bind"));
	CHECK_EQ(a.qclass, 3);
	for (i = 0; i < sizeof(refused_class) / sizeof(refused_class[0]);
	    i++) {
		ask_class(&a, "example.com", T_A, refused_class[i], 0, 0);
		CHECK(a.v == LOCAL_POLICY && rcode(&a) == DNS_RCODE_REFUSED);
	}
	/* Ordinary types and classes go on. */
	CHECK(forwarded("example.com", 255));	/* ANY */
	CHECK(forwarded("example.com", 127));
	CHECK(forwarded("example.com", 256));	/* URI */
	CHECK(forwarded("example.com", 65));	/* HTTPS */
	ask_class(&a, "example.com", T_A, 255, 0, 0);
	CHECK(a.v == LOCAL_FORWARD);
}

static void
test_exempt(void)
{
	static const char text[] =
	    "local-zone-exempt home.arpa\n"
	    "local-zone-exempt 10.IN-ADDR.arpa.\n"
	    "local-zone-exempt lab.local\n";
	char err[CONFIG_ERRLEN];
	struct ans a;

	config_defaults(&cfg);
	if (config_parse_buf(&cfg, "t.conf", text, strlen(text), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		CHECK(0);
		return;
	}
	CHECK_EQ(cfg.nlocal_exempt, 3);
	CHECK(forwarded("router.home.arpa", T_A));
	CHECK(forwarded("home.arpa", T_SOA));
	CHECK(forwarded("4.3.2.10.in-addr.arpa", T_PTR));
	CHECK(forwarded("x.lab.local", T_A));
	CHECK(forwarded("Lab.Local", T_A));
	/* The rest of a zone with an exempt name inside it stays local. */
	CHECK(nxdomain("printer.local", "local"));
	CHECK(nxdomain("xlab.local", "local"));
	CHECK(nxdomain("1.1.168.192.in-addr.arpa", "168.192.in-addr.arpa"));
	/* Policy is not exempted. */
	ask(&a, "router.home.arpa", 252);
	CHECK(a.v == LOCAL_POLICY);
	config_free(&cfg);

	config_defaults(&cfg);
	CHECK_EQ(config_set(&cfg, "local-zone-exempt", "a..b", "--x", 1, err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "not a domain name") != NULL);
	config_free(&cfg);
	config_defaults(&cfg);
}

/* A buffer too small for the answer: nothing to send. */
static void
test_small(void)
{
	struct dns_query_info qi;
	uint8_t out[40];
	struct msg q;
	size_t n = 99;

	q.len = 0;
	put16(&q, 1);
	put16(&q, RD);
	put16(&q, 1);
	put16(&q, 0);
	put16(&q, 0);
	put16(&q, 0);
	put_dname(&q, "x.localhost");
	put16(&q, T_A);
	put16(&q, DNS_CLASS_IN);
	if (dnsmsg_parse_query(q.buf, q.len, &qi) != DNS_VERDICT_OK)
		abort();
	CHECK(local_answer(&qi, &cfg, out, sizeof(out), &n) == LOCAL_ZONE);
	CHECK_EQ(n, 0);
}

int
main(void)
{
	config_defaults(&cfg);
	test_localhost();
	test_header();
	test_special_use();
	test_reverse();
	test_policy();
	test_exempt();
	test_small();
	config_free(&cfg);
	return check_summary();
}
