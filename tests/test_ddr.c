/*
 * Unit tests for ddr: the DDR query, the SVCB answer parser and the
 * choice rules, on answers built byte by byte here and on two answers
 * captured from unbound 1.17.1 (a real server's wire form).
 */
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/addr.h"
#include "dohstub/ddr.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"
#include "check.h"
#include "wire.h"

#define QR	0x8000
#define TC	0x0200
#define RD	0x0100
#define RA	0x0080

#define T_A	1
#define T_CNAME	5

/*
 * unbound 1.17.1, `local-zone: "resolver.arpa." static` and
 * local-data: '_dns.resolver.arpa. 300 IN SVCB 1 doh.test. alpn=h2
 * port=8443 ipv4hint=127.0.0.1 key7="/dns-query{?dns}"', asked
 * _dns.resolver.arpa SVCB (ID 0x1234, RD, EDNS 1232) over UDP.  The same
 * bytes are fuzz/corpus/ddr/unbound_1.17_doh_key7.
 */
static const uint8_t unbound_one[] = {
	0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
	0x04, 0x5f, 0x64, 0x6e, 0x73, 0x08, 0x72, 0x65, 0x73, 0x6f, 0x6c, 0x76,
	0x65, 0x72, 0x04, 0x61, 0x72, 0x70, 0x61, 0x00, 0x00, 0x40, 0x00, 0x01,
	0xc0, 0x0c, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x35,
	0x00, 0x01, 0x03, 0x64, 0x6f, 0x68, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00,
	0x00, 0x01, 0x00, 0x03, 0x02, 0x68, 0x32, 0x00, 0x03, 0x00, 0x02, 0x20,
	0xfb, 0x00, 0x04, 0x00, 0x04, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x07, 0x00,
	0x10, 0x2f, 0x64, 0x6e, 0x73, 0x2d, 0x71, 0x75, 0x65, 0x72, 0x79, 0x7b,
	0x3f, 0x64, 0x6e, 0x73, 0x7d, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
};

/*
 * The same server with a second record before it in the answer:
 * '_dns.resolver.arpa. 300 IN SVCB 2 dot.test. alpn=dot port=853
 * ipv4hint=127.0.0.1' (fuzz/corpus/ddr/unbound_1.17_doh_and_dot).
 */
static const uint8_t unbound_two[] = {
	0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
	0x04, 0x5f, 0x64, 0x6e, 0x73, 0x08, 0x72, 0x65, 0x73, 0x6f, 0x6c, 0x76,
	0x65, 0x72, 0x04, 0x61, 0x72, 0x70, 0x61, 0x00, 0x00, 0x40, 0x00, 0x01,
	0xc0, 0x0c, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x22,
	0x00, 0x02, 0x03, 0x64, 0x6f, 0x74, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00,
	0x00, 0x01, 0x00, 0x04, 0x03, 0x64, 0x6f, 0x74, 0x00, 0x03, 0x00, 0x02,
	0x03, 0x55, 0x00, 0x04, 0x00, 0x04, 0x7f, 0x00, 0x00, 0x01, 0xc0, 0x0c,
	0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x35, 0x00, 0x01,
	0x03, 0x64, 0x6f, 0x68, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x01,
	0x00, 0x03, 0x02, 0x68, 0x32, 0x00, 0x03, 0x00, 0x02, 0x20, 0xfb, 0x00,
	0x04, 0x00, 0x04, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x07, 0x00, 0x10, 0x2f,
	0x64, 0x6e, 0x73, 0x2d, 0x71, 0x75, 0x65, 0x72, 0x79, 0x7b, 0x3f, 0x64,
	0x6e, 0x73, 0x7d, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00,
};

static struct ddr_record recs[DDR_MAX_RECORDS];
static char why[256], skipped[2048];

/* Header and the question _dns.resolver.arpa IN SVCB; counts set later. */
static void
answer(struct msg *m, unsigned flags)
{
	m->len = 0;
	put16(m, 0x1234);
	put16(m, QR | RD | RA | flags);
	put16(m, 1);
	put16(m, 0);
	put16(m, 0);
	put16(m, 0);
	put_dname(m, "_dns.resolver.arpa");
	put16(m, DNS_TYPE_SVCB);
	put16(m, DNS_CLASS_IN);
}

static void
set_ancount(struct msg *m, unsigned n)
{
	wr16(m->buf + 6, (uint16_t)n);
}

/*
 * The start of a record: owner NULL is a pointer to the question name;
 * returns where RDLENGTH sits, for rr_end().
 */
static size_t
rr_begin(struct msg *m, const char *owner, unsigned type, uint32_t ttl)
{
	size_t at;

	if (owner == NULL)
		put16(m, 0xc00c);
	else
		put_dname(m, owner);
	put16(m, type);
	put16(m, DNS_CLASS_IN);
	put32(m, ttl);
	at = m->len;
	put16(m, 0);
	return at;
}

static void
rr_end(struct msg *m, size_t at)
{
	wr16(m->buf + at, (uint16_t)(m->len - at - 2));
}

/* An SVCB record's start: owner (NULL: pointer), TTL, priority, target. */
static size_t
svcb(struct msg *m, const char *owner, uint32_t ttl, unsigned prio,
    const char *target)
{
	size_t at = rr_begin(m, owner, DNS_TYPE_SVCB, ttl);

	put16(m, prio);
	put_dname(m, target);
	return at;
}

static void
param(struct msg *m, unsigned key, const void *v, size_t n)
{
	put16(m, key);
	put16(m, (unsigned)n);
	putbytes(m, v, n);
}

/* alpn from "h2,h3". */
static void
p_alpn(struct msg *m, const char *list)
{
	uint8_t v[256];
	size_t n = 0, l;

	while (*list != '\0') {
		l = strcspn(list, ",");
		v[n++] = (uint8_t)l;
		memcpy(v + n, list, l);
		n += l;
		list += l;
		if (*list == ',')
			list++;
	}
	param(m, DDR_KEY_ALPN, v, n);
}

static void
p_port(struct msg *m, unsigned port)
{
	uint8_t v[2] = { port >> 8, port & 0xff };

	param(m, DDR_KEY_PORT, v, 2);
}

/* ipv4hint of count addresses from a.b.c.d upwards. */
static void
p_v4(struct msg *m, unsigned a, unsigned b, unsigned c, unsigned d,
    unsigned count)
{
	uint8_t v[4 * 32];
	unsigned i;

	for (i = 0; i < count; i++) {
		v[4 * i] = a;
		v[4 * i + 1] = b;
		v[4 * i + 2] = c;
		v[4 * i + 3] = d + i;
	}
	param(m, DDR_KEY_IPV4HINT, v, 4 * count);
}

/* ipv6hint of count addresses 2001:db8::1 upwards. */
static void
p_v6(struct msg *m, unsigned count)
{
	uint8_t v[16 * 8];
	unsigned i;

	memset(v, 0, sizeof(v));
	for (i = 0; i < count; i++) {
		v[16 * i] = 0x20;
		v[16 * i + 1] = 0x01;
		v[16 * i + 2] = 0x0d;
		v[16 * i + 3] = 0xb8;
		v[16 * i + 15] = 1 + i;
	}
	param(m, DDR_KEY_IPV6HINT, v, 16 * count);
}

static void
p_path(struct msg *m, const char *path)
{
	param(m, DDR_KEY_DOHPATH, path, strlen(path));
}

/* A whole usable DoH record: alpn=h2 [port] [ipv4hint] dohpath. */
static void
doh_record(struct msg *m, uint32_t ttl, unsigned prio, const char *target,
    unsigned port, unsigned hint_d)
{
	size_t at = svcb(m, NULL, ttl, prio, target);

	p_alpn(m, "h2");
	if (port != 0)
		p_port(m, port);
	if (hint_d != 0)
		p_v4(m, 192, 0, 2, hint_d, 1);
	p_path(m, "/dns-query{?dns}");
	rr_end(m, at);
}

/* Parse an exact-size heap copy, so ASan catches any read past len. */
static int
parse(const uint8_t *buf, size_t len, const char **whyp)
{
	uint8_t *p;
	int n;

	if ((p = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(p, buf, len);
	memset(recs, 0xa5, sizeof(recs));
	n = ddr_parse(p, len, recs, DDR_MAX_RECORDS, whyp);
	free(p);
	return n;
}

static int
parse_msg(const struct msg *m)
{
	const char *w;

	return parse(m->buf, m->len, &w);
}

static struct addr
ip(const char *s)
{
	struct addr a;

	if (addr_parse(s, 53, &a, NULL, 0) == -1)
		abort();
	return a;
}

static int
choose(size_t n, const char *resolver, int opportunistic,
    struct ddr_endpoint *ep)
{
	struct addr a = ip(resolver);

	memset(ep, 0x5a, sizeof(*ep));
	return ddr_choose(recs, n, &a, opportunistic, ep, why, sizeof(why),
	    skipped, sizeof(skipped));
}

static enum ddr_reason
reason_of(size_t n, const char *resolver, unsigned kinds)
{
	struct ddr_endpoint ep;
	enum ddr_reason r;
	struct addr a = ip(resolver);

	(void)ddr_choose_kinds(recs, n, &a, kinds, &ep, &r, NULL, 0, NULL, 0);
	return r;
}

static const char *
astr(const struct addr *a)
{
	static char buf[ADDR_STRLEN];

	return addr_str(a, buf, sizeof(buf));
}

static const char *
rstr(const struct ddr_record *r)
{
	static char buf[4096];

	CHECK_EQ(ddr_record_str(r, buf, sizeof(buf)), 0);
	return buf;
}

static void
test_query(void)
{
	struct dns_query_info qi;
	uint8_t buf[512];
	size_t n;

	n = ddr_make_query(buf, sizeof(buf), 0xbeef);
	CHECK(n > 0);
	CHECK_EQ(dnsmsg_parse_query(buf, n, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.id, 0xbeef);
	CHECK_EQ(qi.qtype, DNS_TYPE_SVCB);
	CHECK_EQ(qi.qclass, DNS_CLASS_IN);
	CHECK(qi.flags & RD);
	CHECK(qi.has_edns);
	CHECK_EQ(qi.edns_size, DNS_EDNS_DEFAULT_MAX);
	CHECK_EQ(qi.qname_len, 20);
	CHECK(memcmp(qi.qname, "\004_dns\010resolver\004arpa", 20) == 0);
	/* Exactly what the unbound vectors answered. */
	CHECK_EQ(dnsmsg_check_answer(unbound_one, sizeof(unbound_one), &qi),
	    0);
	CHECK_EQ(ddr_make_query(buf, n - 1, 1), 0);
	CHECK_EQ(ddr_make_query(buf, n, 1), n);
}

static void
test_unbound(void)
{
	struct ddr_endpoint ep;
	char url[256];
	const char *w = "x";

	CHECK_EQ(parse(unbound_one, sizeof(unbound_one), &w), 1);
	CHECK(w == NULL);
	CHECK_EQ(recs[0].priority, 1);
	CHECK_STR(recs[0].target, "doh.test");
	CHECK_EQ(recs[0].ttl, 300);
	CHECK_EQ(recs[0].alpn, DDR_ALPN_H2);
	CHECK_EQ(recs[0].no_default_alpn, 0);
	CHECK_EQ(recs[0].port, 8443);
	CHECK(recs[0].has_dohpath);
	CHECK_STR(recs[0].dohpath, "/dns-query{?dns}");
	CHECK_EQ(recs[0].nhints, 1);
	CHECK_STR(astr(&recs[0].hints[0]), "127.0.0.1:0");
	CHECK_STR(recs[0].unusable, "");
	CHECK_STR(rstr(&recs[0]), "1 doh.test. alpn=\"h2\" port=8443 "
	    "ipv4hint=127.0.0.1 dohpath=\"/dns-query{?dns}\"");

	CHECK_EQ(choose(1, "127.0.0.1", 0, &ep), 0);
	CHECK_EQ(ep.kind, DDR_VERIFIED);
	CHECK_STR(ddr_kind_names[ep.kind], "ddr-verified");
	CHECK_STR(ep.host, "doh.test");
	CHECK_EQ(ep.port, 8443);
	CHECK_STR(ep.path, "/dns-query");
	CHECK_EQ(ep.naddrs, 1);
	CHECK_STR(astr(&ep.addrs[0]), "127.0.0.1:8443");
	CHECK_EQ(ep.ttl, 300);
	CHECK_STR(skipped, "");
	CHECK_EQ(ddr_endpoint_url(&ep, url, sizeof(url)), 0);
	CHECK_STR(url, "https://doh.test:8443/dns-query");

	/* Two records, the DoT one first in the answer: sorted, skipped. */
	CHECK_EQ(parse(unbound_two, sizeof(unbound_two), &w), 2);
	CHECK_EQ(recs[0].priority, 1);
	CHECK_EQ(recs[1].priority, 2);
	CHECK_STR(recs[1].target, "dot.test");
	CHECK_EQ(recs[1].alpn, DDR_ALPN_DOT);
	CHECK_EQ(recs[1].has_dohpath, 0);
	CHECK_STR(rstr(&recs[1]), "2 dot.test. alpn=\"dot\" port=853 "
	    "ipv4hint=127.0.0.1");
	CHECK_EQ(choose(2, "127.0.0.1", 0, &ep), 0);
	CHECK_STR(ep.host, "doh.test");
	CHECK_STR(skipped, "2 dot.test.: alpn dot only\n");
	/* Only room for one: the lower priority number is kept. */
	CHECK_EQ(ddr_parse(unbound_two, sizeof(unbound_two), recs, 1, NULL),
	    1);
	CHECK_STR(recs[0].target, "doh.test");
}

/* One record from build(), then ddr_choose(): 0/-1 and why. */
static void
one_rejected(const char *label, const struct msg *m, const char *expect,
    enum ddr_reason reason)
{
	struct ddr_endpoint ep;
	int n;

	n = parse_msg(m);
	CHECK_EQ(n, 1);
	if (n != 1) {
		fprintf(stderr, "  (%s)\n", label);
		return;
	}
	CHECK_EQ(choose(1, "192.0.2.53", 1, &ep), -1);
	CHECK_STR(why, expect);
	CHECK_EQ(reason_of(1, "192.0.2.53", DDR_KIND_BIT(DDR_VERIFIED)),
	    reason);
	if (strcmp(why, expect) != 0)
		fprintf(stderr, "  (%s)\n", label);
}

static void
test_alpn_and_path(void)
{
	struct ddr_endpoint ep;
	struct msg m;
	size_t at;

	/* Only dot, explicitly. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "dot");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("dot", &m, "alpn dot only", DDR_NO_H2);
	CHECK_STR(skipped, "1 doh.example.: alpn dot only\n");

	/* No alpn at all: the default, dot. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_port(&m, 853);
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("none", &m, "alpn dot only", DDR_NO_H2);

	/* Only h3: no DoH over HTTP/2. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h3");
	param(&m, DDR_KEY_NO_DEFAULT_ALPN, "", 0);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("h3", &m, "alpn h3 only", DDR_NO_H2);
	CHECK_EQ(recs[0].alpn, DDR_ALPN_H3);
	CHECK_EQ(recs[0].no_default_alpn, 1);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h3,doq");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("h3 doq", &m, "alpn without h2 (h3,dot,other)",
	    DDR_NO_H2);

	/* h2 but no dohpath: DoH needs the path (RFC 9461 5). */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("no dohpath", &m, "no dohpath", DDR_NO_DOHPATH);

	/* dohpath without the dns variable, or not a relative path. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("no {?dns}", &m, "dohpath without {?dns}",
	    DDR_NO_DOHPATH);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?name}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("{?name}", &m, "dohpath without {?dns}", DDR_NO_DOHPATH);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("relative", &m, "dohpath does not start with '/'",
	    DDR_NO_DOHPATH);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "/q{?dns}{?x}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("two expressions", &m, "dohpath is not a URI template",
	    DDR_NO_DOHPATH);

	/* "{&dns}" after a query already there; h2 among others. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h3,h2");
	p_path(&m, "/q?ct=1{&dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_EQ(recs[0].alpn, DDR_ALPN_H2 | DDR_ALPN_H3);
	CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);
	CHECK_STR(ep.path, "/q?ct=1");
	CHECK_EQ(ep.port, 443);
	CHECK_EQ(ep.naddrs, 0);		/* no hints: look the name up */
	CHECK_STR(rstr(&recs[0]), "1 doh.example. alpn=\"h3,h2\" "
	    "dohpath=\"/q?ct=1{&dns}\"");

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "/{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);
	CHECK_STR(ep.path, "/");

	/* Bytes outside printable ASCII in the dohpath. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "/dns query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("space", &m, "dohpath is not printable ASCII",
	    DDR_UNSUPPORTED);
}

static void
test_mandatory(void)
{
	struct ddr_endpoint ep;
	struct msg m;
	uint8_t v[4];
	size_t at;

	/* mandatory=key65000 on priority 1; a plain record at 2 wins. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "new.example");
	v[0] = 0xfd; v[1] = 0xe8;
	param(&m, DDR_KEY_MANDATORY, v, 2);
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	param(&m, 65000, "\001x\"", 3);
	rr_end(&m, at);
	doh_record(&m, 300, 2, "doh.example", 0, 0);
	set_ancount(&m, 2);
	CHECK_EQ(parse_msg(&m), 2);
	CHECK_STR(recs[0].unusable, "mandatory key65000 not supported");
	CHECK_STR(rstr(&recs[0]), "1 new.example. mandatory=key65000 "
	    "alpn=\"h2\" dohpath=\"/dns-query{?dns}\" key65000=\"\\001x\\\"\"");
	CHECK_EQ(choose(2, "192.0.2.53", 0, &ep), 0);
	CHECK_STR(ep.host, "doh.example");
	CHECK_STR(skipped,
	    "1 new.example.: mandatory key65000 not supported\n");

	/* Alone: no endpoint, the reason says why. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "new.example");
	v[0] = 0; v[1] = DDR_KEY_ECH;
	param(&m, DDR_KEY_MANDATORY, v, 2);
	p_alpn(&m, "h2");
	param(&m, DDR_KEY_ECH, "\001\002\003\004", 4);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("ech", &m, "mandatory key5 not supported",
	    DDR_UNSUPPORTED);
	CHECK_STR(rstr(&recs[0]), "1 new.example. mandatory=ech alpn=\"h2\" "
	    "ech=AQIDBA== dohpath=\"/dns-query{?dns}\"");

	/* Listed but absent: not self-consistent (RFC 9460 2.4.3, 8). */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	v[0] = 0; v[1] = DDR_KEY_PORT;
	param(&m, DDR_KEY_MANDATORY, v, 2);
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("absent", &m, "mandatory port missing", DDR_UNSUPPORTED);

	/* Known keys listed and present: fine. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	v[0] = 0; v[1] = DDR_KEY_ALPN; v[2] = 0; v[3] = DDR_KEY_DOHPATH;
	param(&m, DDR_KEY_MANDATORY, v, 4);
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);

	/* mandatory out of order, or listing itself: malformed. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	v[0] = 0; v[1] = DDR_KEY_DOHPATH; v[2] = 0; v[3] = DDR_KEY_ALPN;
	param(&m, DDR_KEY_MANDATORY, v, 4);
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	v[0] = 0; v[1] = 0;
	param(&m, DDR_KEY_MANDATORY, v, 2);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);

	/* no-default-alpn without alpn; port 0. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	param(&m, DDR_KEY_NO_DEFAULT_ALPN, "", 0);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("nda", &m, "no-default-alpn without alpn",
	    DDR_UNSUPPORTED);
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_port(&m, 0);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	one_rejected("port 0", &m, "port 0", DDR_UNSUPPORTED);
	/* Shown as received: the port that made it unusable. */
	CHECK_STR(rstr(&recs[0]), "1 doh.example. alpn=\"h2\" port=0 "
	    "dohpath=\"/dns-query{?dns}\"");
}

static void
test_malformed(void)
{
	struct msg m;
	const char *w;
	size_t at;
	uint8_t bad[3] = { 5, 'h', '2' };

	/* Keys out of order (port before alpn), and a key twice. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_port(&m, 443);
	p_alpn(&m, "h2");
	rr_end(&m, at);
	doh_record(&m, 300, 2, "doh2.example", 0, 0);
	set_ancount(&m, 2);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "SVCB keys not in increasing order");

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_alpn(&m, "h3");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);

	/* Values not of their wire form. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	param(&m, DDR_KEY_ALPN, bad, 3);	/* id runs past the value */
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "SVCB parameter malformed");

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	param(&m, DDR_KEY_PORT, "\001", 1);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	param(&m, DDR_KEY_IPV4HINT, "\001\002\003\004\005", 5);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	param(&m, DDR_KEY_IPV6HINT, "\001\002\003\004", 4);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	param(&m, DDR_KEY_NO_DEFAULT_ALPN, "x", 1);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	param(&m, DDR_KEY_DOHPATH, "", 0);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	param(&m, 65535, "", 0);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);

	/* A SvcParam that runs past the RDATA. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	put16(&m, DDR_KEY_DOHPATH);
	put16(&m, 20);
	putbytes(&m, "/dns-query", 10);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "SVCB parameter truncated");

	/* RDATA shorter than a priority, or cut in the target. */
	answer(&m, 0);
	at = rr_begin(&m, NULL, DNS_TYPE_SVCB, 300);
	put8(&m, 0);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "SVCB record truncated");
	answer(&m, 0);
	at = rr_begin(&m, NULL, DNS_TYPE_SVCB, 300);
	put16(&m, 1);
	put8(&m, 3);
	putbytes(&m, "doh", 3);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "SVCB TargetName malformed");

	/* RDLENGTH past the end of the message. */
	answer(&m, 0);
	doh_record(&m, 300, 1, "doh.example", 0, 0);
	set_ancount(&m, 1);
	m.len -= 3;
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "not an answer to _dns.resolver.arpa SVCB");

	/* The target as a compression pointer (to the question's name). */
	answer(&m, 0);
	at = rr_begin(&m, NULL, DNS_TYPE_SVCB, 300);
	put16(&m, 1);
	put8(&m, 3);
	putbytes(&m, "doh", 3);
	put16(&m, 0xc00c);
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "SVCB TargetName compressed");
	answer(&m, 0);
	at = rr_begin(&m, NULL, DNS_TYPE_SVCB, 300);
	put16(&m, 1);
	put16(&m, 0xc00c);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), -1);
}

static void
test_message(void)
{
	struct ddr_endpoint ep;
	struct msg m;
	const char *w;
	size_t at;

	/* Wrong owner: not a DDR record; the choice says so. */
	answer(&m, 0);
	at = svcb(&m, "_dns.doh.example", 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 0);
	CHECK_EQ(choose(0, "192.0.2.53", 1, &ep), -1);
	CHECK_STR(why, "no SVCB record");
	CHECK_STR(skipped, "");
	CHECK_EQ(reason_of(0, "192.0.2.53", 3), DDR_NO_RECORD);

	/* Owner in another case: the same name. */
	answer(&m, 0);
	at = svcb(&m, "_DNS.Resolver.ARPA", 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);

	/* Other types around it are passed over. */
	answer(&m, 0);
	at = rr_begin(&m, NULL, T_A, 300);
	put32(&m, 0xc0000201);
	rr_end(&m, at);
	doh_record(&m, 300, 1, "doh.example", 0, 0);
	at = rr_begin(&m, NULL, 65, 300);	/* HTTPS */
	put16(&m, 1);
	put8(&m, 0);
	rr_end(&m, at);
	set_ancount(&m, 3);
	CHECK_EQ(parse(m.buf, m.len, &w), 1);
	CHECK(w == NULL);
	CHECK_STR(recs[0].target, "doh.example");

	/* AliasMode: not followed, and it voids the ServiceMode record. */
	answer(&m, 0);
	doh_record(&m, 300, 1, "doh.example", 0, 0);
	at = svcb(&m, NULL, 300, 0, "alias.example");
	rr_end(&m, at);
	set_ancount(&m, 2);
	CHECK_EQ(parse(m.buf, m.len, &w), 0);
	CHECK_STR(w, "AliasMode record (not followed)");
	/* An AliasMode record of another owner is not ours. */
	answer(&m, 0);
	doh_record(&m, 300, 1, "doh.example", 0, 0);
	at = svcb(&m, "_dns.doh.example", 300, 0, "alias.example");
	rr_end(&m, at);
	set_ancount(&m, 2);
	CHECK_EQ(parse_msg(&m), 1);

	/* A CNAME: DDR names no alias; its target's SVCB is not ours. */
	answer(&m, 0);
	at = rr_begin(&m, NULL, T_CNAME, 300);
	put_dname(&m, "ddr.example");
	rr_end(&m, at);
	at = svcb(&m, "ddr.example", 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 2);
	CHECK_EQ(parse_msg(&m), 0);

	/* Records only in the additional section do not count. */
	answer(&m, 0);
	doh_record(&m, 300, 1, "doh.example", 0, 0);
	wr16(m.buf + 10, 1);
	CHECK_EQ(parse_msg(&m), 0);

	/* NXDOMAIN: none.  SERVFAIL, TC, QR clear, another question: -1. */
	answer(&m, DNS_RCODE_NXDOMAIN);
	CHECK_EQ(parse(m.buf, m.len, &w), 0);
	answer(&m, DNS_RCODE_SERVFAIL);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "answer is SERVFAIL");
	answer(&m, DNS_RCODE_REFUSED);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "answer is REFUSED");
	answer(&m, TC);
	doh_record(&m, 300, 1, "doh.example", 0, 0);
	set_ancount(&m, 1);
	CHECK_EQ(parse(m.buf, m.len, &w), -1);
	CHECK_STR(w, "answer truncated (TC)");
	answer(&m, 0);
	wr16(m.buf + 2, RD);
	CHECK_EQ(parse_msg(&m), -1);
	answer(&m, 0);
	m.buf[13] = 'x';	/* _xns.resolver.arpa */
	CHECK_EQ(parse_msg(&m), -1);
	answer(&m, 0);
	wr16(m.buf + m.len - 4, T_A);
	CHECK_EQ(parse_msg(&m), -1);
	CHECK_EQ(ddr_parse(NULL, 0, recs, DDR_MAX_RECORDS, NULL), -1);
	CHECK_EQ(ddr_parse(m.buf, 5, recs, DDR_MAX_RECORDS, NULL), -1);
}

static void
test_priority(void)
{
	struct ddr_endpoint ep;
	struct msg m;
	unsigned i;

	/* Answer order 3, 1, 2: sorted, the lowest wins. */
	answer(&m, 0);
	doh_record(&m, 300, 3, "three.example", 0, 0);
	doh_record(&m, 300, 1, "one.example", 0, 0);
	doh_record(&m, 300, 2, "two.example", 0, 0);
	set_ancount(&m, 3);
	CHECK_EQ(parse_msg(&m), 3);
	CHECK_STR(recs[0].target, "one.example");
	CHECK_STR(recs[1].target, "two.example");
	CHECK_STR(recs[2].target, "three.example");
	CHECK_EQ(choose(3, "192.0.2.53", 0, &ep), 0);
	CHECK_STR(ep.host, "one.example");
	/* The caller's order does not matter to ddr_choose. */
	{
		struct ddr_record t = recs[0];

		recs[0] = recs[2];
		recs[2] = t;
	}
	CHECK_EQ(choose(3, "192.0.2.53", 0, &ep), 0);
	CHECK_STR(ep.host, "one.example");

	/* Ten records, priorities 10 down to 1: the eight lowest kept. */
	answer(&m, 0);
	for (i = 10; i >= 1; i--)
		doh_record(&m, 300, i, "n.example", 0, 0);
	set_ancount(&m, 10);
	CHECK_EQ(parse_msg(&m), DDR_MAX_RECORDS);
	for (i = 0; i < DDR_MAX_RECORDS; i++)
		CHECK_EQ(recs[i].priority, i + 1);
	/* Equal priorities keep the answer's order. */
	answer(&m, 0);
	doh_record(&m, 300, 5, "a.example", 0, 0);
	doh_record(&m, 300, 5, "b.example", 0, 0);
	set_ancount(&m, 2);
	CHECK_EQ(parse_msg(&m), 2);
	CHECK_STR(recs[0].target, "a.example");
	CHECK_EQ(choose(2, "192.0.2.53", 0, &ep), 0);
	CHECK_STR(ep.host, "a.example");
}

static void
test_opportunistic(void)
{
	struct ddr_endpoint ep;
	struct msg m;
	size_t at;

	/* Target "." and the resolver's own address as the hint. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "");
	p_alpn(&m, "h2");
	p_v4(&m, 192, 168, 1, 1, 1);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_STR(recs[0].target, "");
	CHECK_STR(rstr(&recs[0]), "1 . alpn=\"h2\" ipv4hint=192.168.1.1 "
	    "dohpath=\"/dns-query{?dns}\"");

	/* Off: "." cannot be verified. */
	CHECK_EQ(choose(1, "192.168.1.1", 0, &ep), -1);
	CHECK_STR(why, "target \".\" cannot be verified");
	CHECK_STR(skipped, "1 .: target \".\" cannot be verified\n");
	CHECK_EQ(reason_of(1, "192.168.1.1", DDR_KIND_BIT(DDR_VERIFIED)),
	    DDR_UNVERIFIABLE);
	/* On, private, hint equal: the resolver's address only. */
	CHECK_EQ(choose(1, "192.168.1.1", 1, &ep), 0);
	CHECK_EQ(ep.kind, DDR_OPPORTUNISTIC);
	CHECK_STR(ddr_kind_names[ep.kind], "ddr-opportunistic");
	CHECK_STR(ep.host, "192.168.1.1");
	CHECK_EQ(ep.naddrs, 1);
	CHECK_STR(astr(&ep.addrs[0]), "192.168.1.1:443");
	CHECK_STR(ep.path, "/dns-query");
	/* On, private, hint not equal. */
	CHECK_EQ(choose(1, "192.168.1.2", 1, &ep), -1);
	CHECK_STR(why, "target \".\" cannot be verified; no address hint "
	    "equals 192.168.1.2: opportunistic needs it");
	/* On, public resolver (even with its address as the hint). */
	recs[0].hints[0] = ip("9.9.9.9");
	CHECK_EQ(choose(1, "9.9.9.9", 1, &ep), -1);
	CHECK_STR(why, "target \".\" cannot be verified; resolver 9.9.9.9 "
	    "is not private: no opportunistic use");
	CHECK_EQ(reason_of(1, "9.9.9.9", 3), DDR_UNVERIFIABLE);

	/* No hints, target ".": the resolver itself, its port 443. */
	recs[0].nhints = 0;
	CHECK_EQ(choose(1, "10.1.2.3", 1, &ep), 0);
	CHECK_STR(astr(&ep.addrs[0]), "10.1.2.3:443");
	CHECK_STR(ep.host, "10.1.2.3");
	CHECK_EQ(choose(1, "fd00::53", 1, &ep), 0);
	CHECK_STR(astr(&ep.addrs[0]), "[fd00::53]:443");
	{
		char url[128];

		CHECK_EQ(ddr_endpoint_url(&ep, url, sizeof(url)), 0);
		CHECK_STR(url, "https://[fd00::53]/dns-query");
		CHECK_EQ(ddr_endpoint_url(&ep, url, 10), -1);
		CHECK_STR(url, "https://[");
	}

	/* A link-local resolver matches its hint whatever its scope. */
	{
		struct addr a = ip("fe80::53");

		recs[0].hints[0] = a;
		recs[0].nhints = 1;
		((struct sockaddr_in6 *)&a.ss)->sin6_scope_id = 2;
		CHECK_EQ(ddr_choose(recs, 1, &a, 1, &ep, why, sizeof(why),
		    NULL, 0), 0);
		CHECK_EQ(addr_same_ip(&ep.addrs[0], &a), 1);
		/* No resolver address: verified only. */
		CHECK_EQ(ddr_choose(recs, 1, NULL, 1, &ep, why, sizeof(why),
		    NULL, 0), -1);
		CHECK_STR(why, "target \".\" cannot be verified; no resolver "
		    "address: no opportunistic use");
	}

	/* A named target with the resolver's address: verified first. */
	answer(&m, 0);
	doh_record(&m, 300, 1, "doh.lan", 8443, 1);	/* 192.0.2.1 */
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	recs[0].hints[0] = ip("192.168.1.1");
	CHECK_EQ(choose(1, "192.168.1.1", 1, &ep), 0);
	CHECK_EQ(ep.kind, DDR_VERIFIED);
	CHECK_STR(ep.host, "doh.lan");
	CHECK_STR(astr(&ep.addrs[0]), "192.168.1.1:8443");
	/* ... and opportunistic alone, after a failed verification. */
	{
		struct addr a = ip("192.168.1.1");
		enum ddr_reason r;

		CHECK_EQ(ddr_choose_kinds(recs, 1, &a,
		    DDR_KIND_BIT(DDR_OPPORTUNISTIC), &ep, &r, why,
		    sizeof(why), NULL, 0), 0);
		CHECK_EQ(r, DDR_OK);
		CHECK_EQ(ep.kind, DDR_OPPORTUNISTIC);
		CHECK_STR(ep.host, "doh.lan");	/* SNI, not checked */
		CHECK_EQ(ep.naddrs, 1);
		CHECK_STR(astr(&ep.addrs[0]), "192.168.1.1:8443");
		CHECK_EQ(ddr_choose_kinds(recs, 1, &a, 0, &ep, &r, why,
		    sizeof(why), NULL, 0), -1);
	}
	/* A named target without hints: nothing ties it to the resolver. */
	recs[0].nhints = 0;
	CHECK_EQ(ddr_choose_kinds(recs, 1, &(struct addr){ .len = 0 },
	    DDR_KIND_BIT(DDR_VERIFIED), &ep, NULL, NULL, 0, NULL, 0), 0);
	{
		struct addr a = ip("192.168.1.1");

		CHECK_EQ(ddr_choose_kinds(recs, 1, &a,
		    DDR_KIND_BIT(DDR_OPPORTUNISTIC), &ep, NULL, why,
		    sizeof(why), NULL, 0), -1);
		CHECK_STR(why, "no address hint: opportunistic needs "
		    "192.168.1.1 itself");
	}

	/* Equal priority: the verified record before the opportunistic. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "");
	p_alpn(&m, "h2");
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	doh_record(&m, 300, 1, "doh.lan", 0, 0);
	set_ancount(&m, 2);
	CHECK_EQ(parse_msg(&m), 2);
	CHECK_EQ(choose(2, "192.168.1.1", 1, &ep), 0);
	CHECK_EQ(ep.kind, DDR_VERIFIED);
	CHECK_STR(ep.host, "doh.lan");
	CHECK_STR(skipped, "");		/* "." was usable, just not taken */
	/*
	 * Verified at any priority before opportunistic at any: a "."
	 * record at a better priority (an on-path spoofer's, say) must not
	 * steer a client that can authenticate into TLS without it.
	 */
	recs[1].priority = 2;
	CHECK_EQ(choose(2, "192.168.1.1", 1, &ep), 0);
	CHECK_EQ(ep.kind, DDR_VERIFIED);
	CHECK_STR(ep.host, "doh.lan");
	CHECK_STR(skipped, "");
	/* Only when no record can be verified does "." at 1 win. */
	CHECK_EQ(ddr_choose_kinds(recs, 2, &(struct addr){ 0 },
	    DDR_KIND_BIT(DDR_OPPORTUNISTIC), &ep, NULL, why, sizeof(why),
	    NULL, 0), -1);
	{
		struct addr a = ip("192.168.1.1");

		CHECK_EQ(ddr_choose_kinds(recs, 2, &a,
		    DDR_KIND_BIT(DDR_OPPORTUNISTIC), &ep, NULL, why,
		    sizeof(why), NULL, 0), 0);
		CHECK_EQ(ep.kind, DDR_OPPORTUNISTIC);
		CHECK_STR(astr(&ep.addrs[0]), "192.168.1.1:443");
	}
	/* Opportunistic off: "." is skipped, the verified one at 2 taken. */
	CHECK_EQ(choose(2, "192.168.1.1", 0, &ep), 0);
	CHECK_EQ(ep.kind, DDR_VERIFIED);
	CHECK_STR(skipped, "1 .: target \".\" cannot be verified\n");
}

static void
test_ttl_hints(void)
{
	struct ddr_endpoint ep;
	struct msg m;
	size_t at;

	answer(&m, 0);
	doh_record(&m, 5, 1, "doh.example", 0, 0);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_EQ(recs[0].ttl, 5);
	CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);
	CHECK_EQ(ep.ttl, DDR_TTL_MIN);
	recs[0].ttl = 1000000;
	CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);
	CHECK_EQ(ep.ttl, DDR_TTL_MAX);
	recs[0].ttl = 0;
	CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);
	CHECK_EQ(ep.ttl, DDR_TTL_MIN);

	/* Ten IPv4 hints: the first eight. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_v4(&m, 192, 0, 2, 1, 10);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_EQ(recs[0].nhints, DDR_MAX_HINTS);
	CHECK_STR(astr(&recs[0].hints[7]), "192.0.2.8:0");
	CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);
	CHECK_EQ(ep.naddrs, DDR_MAX_HINTS);
	CHECK_STR(astr(&ep.addrs[7]), "192.0.2.8:443");

	/* Six IPv4 and four IPv6: all six, then two; all ten shown. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_port(&m, 4443);
	p_v4(&m, 192, 0, 2, 1, 6);
	p_v6(&m, 4);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_EQ(recs[0].nhints, DDR_MAX_HINTS);
	CHECK_STR(astr(&recs[0].hints[5]), "192.0.2.6:0");
	CHECK_STR(astr(&recs[0].hints[7]), "[2001:db8::2]:0");
	CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);
	CHECK_STR(astr(&ep.addrs[6]), "[2001:db8::1]:4443");
	CHECK_STR(rstr(&recs[0]), "1 doh.example. alpn=\"h2\" port=4443 "
	    "ipv4hint=192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,192.0.2.5,"
	    "192.0.2.6 ipv6hint=2001:db8::1,2001:db8::2,2001:db8::3,"
	    "2001:db8::4 dohpath=\"/dns-query{?dns}\"");

	/*
	 * Hints that are no place to connect to are dropped: 0.0.0.0,
	 * multicast, broadcast.  A record left with none is skipped (not
	 * looked up instead: it said where), and the next one is taken.
	 */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.example");
	p_alpn(&m, "h2");
	p_v4(&m, 0, 0, 0, 0, 1);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	at = svcb(&m, NULL, 300, 2, "doh2.example");
	p_alpn(&m, "h2");
	p_v4(&m, 224, 0, 0, 251, 1);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	at = svcb(&m, NULL, 300, 3, "doh3.example");
	p_alpn(&m, "h2");
	p_v4(&m, 255, 255, 255, 255, 1);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	at = svcb(&m, NULL, 300, 4, "doh4.example");
	p_alpn(&m, "h2");
	p_v4(&m, 0, 0, 0, 0, 1);
	p_v6(&m, 1);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 4);
	CHECK_EQ(parse_msg(&m), 4);
	CHECK_EQ(choose(4, "192.0.2.53", 0, &ep), 0);
	CHECK_STR(ep.host, "doh4.example");
	CHECK_EQ(ep.naddrs, 1);
	CHECK_STR(astr(&ep.addrs[0]), "[2001:db8::1]:443");
	CHECK_STR(skipped, "1 doh.example.: hint not usable\n"
	    "2 doh2.example.: hint not usable\n"
	    "3 doh3.example.: hint not usable\n");
	CHECK_EQ(choose(3, "192.0.2.53", 0, &ep), -1);
	CHECK_STR(why, "hint not usable");
	{
		static const struct {
			const char	*a;
			int		 ok;
		} t[] = {
			{ "0.0.0.0", 0 }, { "0.1.2.3", 0 }, { "::", 0 },
			{ "224.0.0.1", 0 }, { "239.1.1.1", 0 },
			{ "255.255.255.255", 0 }, { "ff02::fb", 0 },
			{ "::ffff:0.0.0.0", 0 }, { "::ffff:224.0.0.1", 0 },
			{ "192.0.2.1", 1 }, { "127.0.0.1", 1 }, { "::1", 1 },
			{ "2001:db8::1", 1 }, { "fe80::1", 1 },
		};
		size_t i;
		struct addr a;

		for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			a = ip(t[i].a);
			CHECK_EQ(ddr_usable_addr(&a), t[i].ok);
		}
		CHECK_EQ(ddr_usable_addr(NULL), 0);
	}
}

static void
test_strings(void)
{
	struct ddr_endpoint ep;
	struct msg m;
	char small[12];
	size_t at;

	/* A target that is no host name: escaped, skipped. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh example.test");
	p_alpn(&m, "h2,a\\b,c");
	param(&m, DDR_KEY_NO_DEFAULT_ALPN, "", 0);
	p_path(&m, "/dns-query{?dns}");
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_STR(recs[0].target, "doh\\032example.test");
	CHECK_STR(rstr(&recs[0]), "1 doh\\032example.test. "
	    "alpn=\"h2,a\\\\\\\\b,c\" no-default-alpn "
	    "dohpath=\"/dns-query{?dns}\"");
	CHECK_EQ(choose(1, "192.0.2.53", 1, &ep), -1);
	CHECK_STR(why, "target is not a host name");

	/* Cut strings stay terminated. */
	CHECK_EQ(ddr_record_str(&recs[0], small, sizeof(small)), -1);
	CHECK_STR(small, "1 doh\\032ex");
	CHECK_EQ(ddr_record_str(&recs[0], small, 0), -1);
	{
		struct addr a = ip("192.0.2.53");

		CHECK_EQ(ddr_choose(recs, 1, &a, 1, &ep, small, sizeof(small),
		    small, 1), -1);
		CHECK_STR(small, "target is n");
		CHECK_EQ(ddr_choose(recs, 1, &a, 1, &ep, why, sizeof(why),
		    skipped, 8), -1);
		CHECK_EQ(strlen(skipped), 7);
	}

	/*
	 * An IP literal is not a host name: verifying "203.0.113.7" would
	 * be an IP check, and the resolver's IP check replaces it, so the
	 * target would go unchecked.  Nor is a name whose last label is
	 * all digits; digits elsewhere are fine.
	 */
	{
		static const struct {
			const char	*target;
			int		 ok;
		} t[] = {
			{ "203.0.113.7", 0 }, { "doh.203", 0 }, { "1", 0 },
			{ "0x7f.1", 0 }, { "1.doh.test", 1 },
			{ "doh.1x", 1 }, { "9", 0 },
		};
		size_t i;

		for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			answer(&m, 0);
			doh_record(&m, 300, 1, t[i].target, 0, 7);
			set_ancount(&m, 1);
			CHECK_EQ(parse_msg(&m), 1);
			CHECK_EQ(choose(1, "192.0.2.53", 0, &ep),
			    t[i].ok ? 0 : -1);
			if (!t[i].ok)
				CHECK_STR(why, "target is not a host name");
			else
				CHECK_STR(ep.host, t[i].target);
		}
		/* Nor opportunistically, to a private resolver. */
		answer(&m, 0);
		doh_record(&m, 300, 1, "192.168.1.1", 0, 0);
		set_ancount(&m, 1);
		CHECK_EQ(parse_msg(&m), 1);
		CHECK_EQ(choose(1, "192.168.1.1", 1, &ep), -1);
		CHECK_STR(why, "target is not a host name");
	}

	CHECK_STR(ddr_reason_names[DDR_OK], "ok");
	CHECK_STR(ddr_reason_names[DDR_NO_H2], "no_h2");
	CHECK_STR(ddr_reason_names[DDR_UNVERIFIABLE], "unverifiable");
}

/*
 * Every SVCB record of the answer as dnsprint (dohq) prints it from the
 * message must be what ddr_record_str() prints for the record
 * ddr_parse() made of it, exactly once: the RDATA kept is the whole
 * record's, and stays with its record through the sort by priority.
 */
static void
same_as_dnsprint(const uint8_t *msg, size_t len)
{
	struct dnsprint_out o;
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	char text[1024], mine[1024];
	unsigned i, j, found;
	int n;

	n = parse(msg, len, NULL);
	CHECK(n > 0);
	dnsmsg_rd_init(&r, msg, len);
	CHECK_EQ(dnsmsg_rd_header(&r, &h), 0);
	CHECK_EQ(dnsmsg_rd_name(&r, NULL, NULL), 0);
	CHECK_EQ(dnsmsg_rd_skip(&r, 4), 0);
	for (i = 0; i < h.count[DNS_SEC_ANSWER]; i++) {
		CHECK_EQ(dnsmsg_rd_rr(&r, NULL, &rr), 0);
		if (rr.type != DNS_TYPE_SVCB)
			continue;
		dnsprint_out_buf(&o, text, sizeof(text));
		CHECK_EQ(dnsprint_rdata(&o, msg, len, rr.rdata.off, rr.rdlen,
		    rr.type), 0);
		for (j = 0, found = 0; j < (unsigned)n; j++) {
			CHECK_EQ(ddr_record_str(&recs[j], mine, sizeof(mine)),
			    0);
			found += strcmp(mine, text) == 0;
		}
		CHECK_EQ(found, 1);
		if (found != 1)
			fprintf(stderr, "  dnsprint: %s\n", text);
		CHECK(strncmp(text, "\\#", 2) != 0);	/* not generic */
	}
}

static void
test_dnsprint(void)
{
	struct msg m;
	size_t at;
	uint8_t v[2] = { 0xfd, 0xe8 };

	same_as_dnsprint(unbound_one, sizeof(unbound_one));
	same_as_dnsprint(unbound_two, sizeof(unbound_two));

	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "new.example");
	param(&m, DDR_KEY_MANDATORY, v, 2);
	p_alpn(&m, "h2,a\\b,c\"d");
	param(&m, DDR_KEY_NO_DEFAULT_ALPN, "", 0);
	p_port(&m, 443);
	p_v4(&m, 192, 0, 2, 1, 3);
	p_v6(&m, 2);
	p_path(&m, "/q\"{?dns}");
	param(&m, 65000, "\001x\"", 3);
	param(&m, 65001, "", 0);
	rr_end(&m, at);
	at = svcb(&m, NULL, 300, 2, "");
	p_alpn(&m, "dot");
	rr_end(&m, at);
	set_ancount(&m, 2);
	same_as_dnsprint(m.buf, m.len);
	/* The text itself, every key in key order, as RFC 9460 App. A. */
	CHECK_STR(rstr(&recs[0]), "1 new.example. mandatory=key65000 "
	    "alpn=\"h2,a\\\\\\\\b,c\\\"d\" no-default-alpn port=443 "
	    "ipv4hint=192.0.2.1,192.0.2.2,192.0.2.3 "
	    "ipv6hint=2001:db8::1,2001:db8::2 dohpath=\"/q\\\"{?dns}\" "
	    "key65000=\"\\001x\\\"\" key65001");
	CHECK_STR(rstr(&recs[1]), "2 . alpn=\"dot\"");

	/*
	 * A key ddr_parse() passes over with a value dnsprint does not read
	 * (ech is never empty): dohq's generic form, for both.
	 */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "doh.test");
	p_alpn(&m, "h2");
	param(&m, DDR_KEY_ECH, "", 0);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_STR(rstr(&recs[0]),
	    "\\# 23 000103646F680474657374000001000302683200050000");
}

/*
 * A record longer than ddr_record.rdata: the SvcParams that fit are
 * shown, then " ..."; the record is still used.
 */
static void
test_long_record(void)
{
	struct ddr_endpoint ep;
	struct msg m;
	uint8_t v[600];
	size_t at, room, i;
	char expect[1024];

	memset(v, 'x', sizeof(v));
	/* What key65000 may hold: priority, big.example., alpn, dohpath. */
	room = DDR_RDATA_MAX - (2 + 13 + (4 + 3) + (4 + 16)) - 4;
	for (i = 0; i < 2; i++) {
		/* Ending at the last byte of the room, then one past it. */
		answer(&m, 0);
		at = svcb(&m, NULL, 300, 1, "big.example");
		p_alpn(&m, "h2");
		p_path(&m, "/dns-query{?dns}");
		param(&m, 65000, v, room + i);
		param(&m, 65001, v, 1);
		rr_end(&m, at);
		set_ancount(&m, 1);
		CHECK_EQ(parse_msg(&m), 1);
		CHECK_EQ(recs[0].rdata_cut, 1);
		CHECK_EQ(recs[0].rdlen, i == 0 ? DDR_RDATA_MAX :
		    DDR_RDATA_MAX - room - 4);
		if (i == 0)
			snprintf(expect, sizeof(expect), "1 big.example. "
			    "alpn=\"h2\" dohpath=\"/dns-query{?dns}\" "
			    "key65000=\"%.*s\" ...", (int)room,
			    (const char *)v);
		else
			snprintf(expect, sizeof(expect), "1 big.example. "
			    "alpn=\"h2\" dohpath=\"/dns-query{?dns}\" ...");
		CHECK_STR(rstr(&recs[0]), expect);
		CHECK_EQ(choose(1, "192.0.2.53", 0, &ep), 0);
		CHECK_STR(ep.host, "big.example");
	}

	/* A key too long even alone: only the priority and target. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "big.example");
	param(&m, 65000, v, sizeof(v));
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_STR(rstr(&recs[0]), "1 big.example. ...");

	/* All of it fits: nothing cut. */
	answer(&m, 0);
	at = svcb(&m, NULL, 300, 1, "big.example");
	param(&m, 65000, v, room + 20 + 7);
	rr_end(&m, at);
	set_ancount(&m, 1);
	CHECK_EQ(parse_msg(&m), 1);
	CHECK_EQ(recs[0].rdata_cut, 0);
	CHECK_EQ(recs[0].rdlen, DDR_RDATA_MAX);
}

static void
test_private(void)
{
	static const struct {
		const char	*a;
		int		 priv;
	} t[] = {
		{ "10.0.0.1", 1 }, { "10.255.255.255", 1 },
		{ "172.16.0.1", 1 }, { "172.31.255.1", 1 },
		{ "172.32.0.1", 0 }, { "172.15.0.1", 0 },
		{ "192.168.0.1", 1 }, { "192.169.0.1", 0 },
		/* CGNAT is the ISP's network, not the user's. */
		{ "100.64.0.1", 0 }, { "100.127.255.254", 0 },
		{ "100.128.0.1", 0 }, { "127.0.0.53", 1 },
		{ "169.254.1.1", 1 }, { "9.9.9.9", 0 }, { "8.8.8.8", 0 },
		{ "192.0.2.1", 0 },
		{ "::1", 1 }, { "fe80::1", 1 }, { "fd12:3456::1", 1 },
		{ "fc00::1", 1 }, { "fe00::1", 0 }, { "2620:fe::fe", 0 },
		{ "::ffff:192.168.1.1", 1 }, { "::ffff:9.9.9.9", 0 },
	};
	struct addr a;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		a = ip(t[i].a);
		CHECK_EQ(ddr_private_addr(&a), t[i].priv);
		if (ddr_private_addr(&a) != t[i].priv)
			fprintf(stderr, "  (%s)\n", t[i].a);
	}
	memset(&a, 0, sizeof(a));
	CHECK_EQ(ddr_private_addr(&a), 0);
	CHECK_EQ(ddr_private_addr(NULL), 0);
}

int
main(void)
{
	test_query();
	test_unbound();
	test_alpn_and_path();
	test_mandatory();
	test_malformed();
	test_message();
	test_priority();
	test_opportunistic();
	test_ttl_hints();
	test_strings();
	test_dnsprint();
	test_long_record();
	test_private();
	return check_summary();
}
