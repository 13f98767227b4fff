/*
 * Unit tests for dnsmsg: queries, answers, error synthesis, truncation,
 * TCP framing and name printing, on messages built byte by byte here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"
#include "check.h"
#include "wire.h"
#include "dnssec_vectors.h"

#define QR	0x8000
#define TC	0x0200
#define RD	0x0100
#define RA	0x0080
#define CD	0x0010

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

static void
header(struct msg *m, unsigned id, unsigned flags, unsigned qd, unsigned an,
    unsigned ns, unsigned ar)
{
	m->len = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* Presentation name ("www.example.") to uncompressed wire form. */
static void
name(struct msg *m, const char *s)
{
	const char *dot;

	while (*s != '\0') {
		if ((dot = strchr(s, '.')) == NULL)
			abort();
		put8(m, (unsigned)(dot - s));
		putbytes(m, s, (size_t)(dot - s));
		s = dot + 1;
	}
	put8(m, 0);
}

static void
question(struct msg *m, const char *qname, unsigned type, unsigned class)
{
	name(m, qname);
	put16(m, type);
	put16(m, class);
}

/* An A record whose owner points at the question name. */
static void
a_record(struct msg *m, uint32_t addr)
{
	put16(m, 0xc00c);
	put16(m, 1);
	put16(m, DNS_CLASS_IN);
	put32(m, 300);
	put16(m, 4);
	put32(m, addr);
}

static void
set16(struct msg *m, size_t off, unsigned v)
{
	wr16(m->buf + off, (uint16_t)v);
}

/* Parse an exact-size heap copy, so ASan catches any read past len. */
static enum dns_verdict
parse(const struct msg *m, struct dns_query_info *qi)
{
	enum dns_verdict v;
	uint8_t *p;

	if ((p = malloc(m->len ? m->len : 1)) == NULL)
		abort();
	memcpy(p, m->buf, m->len);
	v = dnsmsg_parse_query(p, m->len, qi);
	free(p);
	return v;
}

static int
check_ans(const struct msg *m, const struct dns_query_info *qi)
{
	uint8_t *p;
	int r;

	if ((p = malloc(m->len ? m->len : 1)) == NULL)
		abort();
	memcpy(p, m->buf, m->len);
	r = dnsmsg_check_answer(p, m->len, qi);
	free(p);
	return r;
}

/*
 * An IXFR query for zone.test. with an SOA record (owner, type, class) in
 * the authority section; compress: its RDATA names as pointers; extra: a
 * second authority record; rdfix: bytes added to (or taken from) RDATA.
 */
static void
ixfr(struct msg *m, int edns, int extra, const char *owner, unsigned type,
    unsigned class, int compress, int rdfix)
{
	size_t rdlen_at, start;

	header(m, 0x1f1f, 0, 1, 0, extra ? 2 : 1, edns ? 1 : 0);
	question(m, "zone.test.", 251, 1);
	for (; extra >= 0; extra--) {
		name(m, owner);
		put16(m, type);
		put16(m, class);
		put32(m, 3600);
		rdlen_at = m->len;
		put16(m, 0);
		start = m->len;
		if (compress) {
			put16(m, 0xc00c);
			put16(m, 0xc00c);
		} else {
			name(m, "ns.zone.test.");
			name(m, "admin.zone.test.");
		}
		put32(m, 2026120101);
		put32(m, 3600);
		put32(m, 600);
		put32(m, 86400);
		put32(m, 300);
		if (rdfix > 0)
			put8(m, 0);
		else if (rdfix < 0)
			m->len--;
		set16(m, rdlen_at, (unsigned)(m->len - start));
	}
	if (edns)
		put_opt(m, 1232, 0);
}

static void
a_query(struct msg *m, unsigned id, int edns, unsigned size, int do_bit)
{
	header(m, id, RD, 1, 0, 0, edns ? 1 : 0);
	question(m, "www.example.com.", 1, DNS_CLASS_IN);
	if (edns)
		put_opt(m, size, do_bit);
}

static void
test_valid_query(void)
{
	struct dns_query_info qi;
	struct msg m;
	static const uint8_t wire[] = "\3www\7example\3com";

	a_query(&m, 0x1234, 0, 0, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.id, 0x1234);
	CHECK_EQ(qi.flags, RD);
	CHECK_EQ(qi.qtype, 1);
	CHECK_EQ(qi.qclass, DNS_CLASS_IN);
	CHECK_EQ(qi.qname_len, sizeof(wire));
	CHECK(memcmp(qi.qname, wire, sizeof(wire)) == 0);
	CHECK_EQ(qi.question_end, m.len);
	CHECK_EQ(qi.msg_len, m.len);
	CHECK_EQ(qi.has_edns, 0);
	CHECK_EQ(dnsmsg_udp_limit(&qi, 1232), 512);

	/* Trailing bytes are not part of the message. */
	put32(&m, 0xdeadbeef);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.msg_len, m.len - 4);

	a_query(&m, 7, 1, 4096, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.has_edns, 1);
	CHECK_EQ(qi.edns_size, 4096);
	CHECK_EQ(qi.edns_version, 0);
	CHECK_EQ(qi.edns_do, 0);
	CHECK_EQ(qi.question_end, m.len - 11);
	CHECK_EQ(qi.msg_len, m.len);
	CHECK_EQ(dnsmsg_udp_limit(&qi, 1232), 1232);
	CHECK_EQ(dnsmsg_udp_limit(&qi, 8192), 4096);

	a_query(&m, 7, 1, 1400, 1);
	m.buf[m.len - 5] = 1;		/* EDNS version 1 */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_BADVERS);
	CHECK_EQ(qi.has_edns, 1);
	CHECK_EQ(qi.edns_do, 1);
	CHECK_EQ(qi.edns_version, 1);

	/* TC in a query means nothing; ignore it. */
	a_query(&m, 7, 0, 0, 0);
	set16(&m, 2, RD | TC);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);

	/* Other additional records are fine, compressed owner included. */
	a_query(&m, 7, 1, 1232, 0);
	set16(&m, 10, 2);
	a_record(&m, 0x7f000001);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.has_edns, 1);
	CHECK_EQ(qi.msg_len, m.len);

	/* The root name. */
	header(&m, 1, 0, 1, 0, 0, 0);
	question(&m, "", 2, DNS_CLASS_IN);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.qname_len, 1);
}

static void
test_edns_sizes(void)
{
	struct dns_query_info qi;
	struct msg m;

	a_query(&m, 1, 1, 1, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.edns_size, 1);
	CHECK_EQ(dnsmsg_udp_limit(&qi, 1232), 512);

	a_query(&m, 1, 1, 65535, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.edns_size, 65535);
	CHECK_EQ(dnsmsg_udp_limit(&qi, 1232), 1232);
	CHECK_EQ(dnsmsg_udp_limit(&qi, 65535), 65535);
}

static void
test_bad_queries(void)
{
	struct dns_query_info qi;
	struct msg m;
	size_t i;

	/* Too short for a header. */
	CHECK_EQ(dnsmsg_parse_query(NULL, 0, &qi), DNS_VERDICT_DROP);
	a_query(&m, 1, 0, 0, 0);
	m.len = 1;
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_DROP);
	m.len = 11;
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_DROP);
	m.len = 0;
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_DROP);

	/* An answer, not a query. */
	a_query(&m, 1, 0, 0, 0);
	set16(&m, 2, QR | RD);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_DROP);

	/* Opcode 5 (UPDATE): NOTIMP, with ID and question for the answer. */
	a_query(&m, 0xbeef, 1, 1232, 1);
	set16(&m, 2, 5 << 11 | RD);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_NOTIMP);
	CHECK_EQ(qi.id, 0xbeef);
	CHECK_EQ(qi.flags, 5 << 11 | RD);
	CHECK_EQ(qi.qname_len, 17);
	CHECK_EQ(qi.qtype, 1);
	CHECK_EQ(qi.has_edns, 1);
	CHECK_EQ(qi.edns_do, 1);
	/* ... but without a question if it does not parse. */
	header(&m, 0xbeef, 4 << 11, 1, 0, 0, 0);
	put8(&m, 0x40);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_NOTIMP);
	CHECK_EQ(qi.id, 0xbeef);
	CHECK_EQ(qi.qname_len, 0);

	/* QDCOUNT 0 and 2. */
	header(&m, 1, 0, 0, 0, 0, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	CHECK_EQ(qi.id, 1);
	header(&m, 1, 0, 2, 0, 0, 0);
	question(&m, "a.", 1, 1);
	question(&m, "b.", 1, 1);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);

	/* Records in the answer or authority section. */
	header(&m, 1, 0, 1, 1, 0, 0);
	question(&m, "a.", 1, 1);
	a_record(&m, 1);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	header(&m, 1, 0, 1, 0, 1, 0);
	question(&m, "a.", 1, 1);
	a_record(&m, 1);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);

	/* IXFR (RFC 1995 3) carries the client's SOA in the authority
	 * section: that one record passes, nothing else does. */
	ixfr(&m, 0, 0, "zone.test.", 6, 1, 0, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.qtype, 251);
	CHECK_EQ(qi.msg_len, m.len);
	ixfr(&m, 0, 0, "ZONE.test.", 6, 1, 1, 0);	/* compressed, case */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	ixfr(&m, 1, 0, "zone.test.", 6, 1, 0, 0);	/* and an OPT */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK(qi.has_edns);
	ixfr(&m, 0, 0, "other.test.", 6, 1, 0, 0);	/* not the zone's */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	ixfr(&m, 0, 0, "zone.test.", 1, 1, 0, 0);	/* not an SOA */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	ixfr(&m, 0, 0, "zone.test.", 6, 3, 0, 0);	/* another class */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	ixfr(&m, 0, 0, "zone.test.", 6, 1, 0, 1);	/* RDATA too long */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	ixfr(&m, 0, 0, "zone.test.", 6, 1, 0, -1);	/* too short */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	ixfr(&m, 0, 1, "zone.test.", 6, 1, 0, 0);	/* two of them */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	/* The same SOA on any other query is still FORMERR. */
	ixfr(&m, 0, 0, "zone.test.", 6, 1, 0, 0);
	set16(&m, 12 + 11, 6);				/* QTYPE SOA */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	set16(&m, 12 + 11, 252);			/* AXFR */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);

	/* A 64-byte label (its length byte is label type 0x40). */
	header(&m, 1, 0, 1, 0, 0, 0);
	put8(&m, 64);
	for (i = 0; i < 64; i++)
		put8(&m, 'a');
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);

	/* 63-byte labels: a 255-byte name is fine, 256 is not. */
	header(&m, 1, 0, 1, 0, 0, 0);
	for (i = 0; i < 3; i++) {
		put8(&m, 63);
		memset(m.buf + m.len, 'x', 63);
		m.len += 63;
	}
	put8(&m, 61);
	memset(m.buf + m.len, 'y', 61);
	m.len += 61;
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.qname_len, 255);
	m.len = 12 + 3 * 64;		/* one byte longer: 256 */
	put8(&m, 62);
	memset(m.buf + m.len, 'y', 62);
	m.len += 62;
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);

	/* A pointer to itself, a forward pointer, one past the end. */
	header(&m, 1, 0, 1, 0, 0, 0);
	put8(&m, 1);
	put8(&m, 'a');
	put16(&m, 0xc00c);
	put32(&m, 0x00010001);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	header(&m, 1, 0, 1, 0, 0, 0);
	put16(&m, 0xc000 | 18);
	put32(&m, 0x00010001);
	name(&m, "a.");
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	header(&m, 1, 0, 1, 0, 0, 0);
	put16(&m, 0xc000 | 400);
	put32(&m, 0x00010001);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	/* A pointer into the header. */
	header(&m, 1, 0, 1, 0, 0, 0);
	put16(&m, 0xc004);
	put32(&m, 0x00010001);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	/*
	 * A backward pointer whose labels run on over the pointer itself:
	 * owner at 19 points to 16, where "\1\0" "\1\xc0" "\x10..." reads
	 * through offset 19 into the record and ends in its RDATA.
	 */
	header(&m, 1, 0, 1, 0, 0, 1);
	question(&m, "a.", 1, 1);
	put16(&m, 0xc000 | 16);
	put16(&m, 1);
	put16(&m, 1);
	put32(&m, 0);
	put16(&m, 7);
	put32(&m, 0);
	put16(&m, 0);
	put8(&m, 0);
	CHECK_EQ(m.len, 38);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	m.buf[2] = 0x80;
	set16(&m, 6, 1);
	set16(&m, 10, 0);
	CHECK_EQ(check_ans(&m, &qi), -1);
	set16(&m, 19, 0xc00c);		/* control: a proper pointer */
	CHECK_EQ(check_ans(&m, &qi), 0);
	/* A pointer cut in half. */
	header(&m, 1, 0, 1, 0, 0, 0);
	put8(&m, 0xc0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);

	/* Label types 0x40 and 0x80. */
	header(&m, 1, 0, 1, 0, 0, 0);
	put8(&m, 0x41);
	put8(&m, 'a');
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	m.buf[12] = 0x81;
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);

	/* A truncated question: label cut, name without root, no class. */
	a_query(&m, 1, 0, 0, 0);
	m.len = 12 + 6;
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	m.len = 12 + 16;
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	a_query(&m, 1, 0, 0, 0);
	m.len -= 1;
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	CHECK_EQ(qi.qname_len, 0);

	/* Two OPT records. */
	a_query(&m, 1, 1, 1232, 0);
	set16(&m, 10, 2);
	put_opt(&m, 1232, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	CHECK_EQ(qi.has_edns, 0);
	CHECK_EQ(qi.qname_len, 17);

	/* An OPT whose RDLEN runs past the end. */
	a_query(&m, 1, 1, 1232, 0);
	set16(&m, m.len - 2, 8);
	put32(&m, 0x000a0004);		/* an option cut after 4 bytes */
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	CHECK_EQ(qi.has_edns, 0);
	put16(&m, 0);
	put8(&m, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	put8(&m, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);	/* now it fits */
	CHECK_EQ(qi.has_edns, 1);

	/* An OPT with a non-root owner. */
	a_query(&m, 1, 0, 0, 0);
	set16(&m, 10, 1);
	name(&m, "a.");
	put16(&m, DNS_TYPE_OPT);
	put16(&m, 1232);
	put32(&m, 0);
	put16(&m, 0);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	CHECK_EQ(qi.has_edns, 0);

	/* An additional record that is cut short. */
	a_query(&m, 1, 0, 0, 0);
	set16(&m, 10, 1);
	a_record(&m, 1);
	m.len -= 1;
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);

	/* Counts of 65535 in a 17-byte message. */
	header(&m, 1, 0, 0xffff, 0xffff, 0xffff, 0xffff);
	question(&m, "", 1, 1);
	CHECK_EQ(m.len, 17);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	header(&m, 1, 0, 1, 0, 0, 0xffff);
	question(&m, "", 1, 1);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_FORMERR);
	CHECK_EQ(qi.qname_len, 1);
	header(&m, 1, 2 << 11, 1, 0xffff, 0xffff, 0xffff);
	question(&m, "", 1, 1);
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_NOTIMP);

	CHECK_STR(dns_verdict_names[DNS_VERDICT_OK], "ok");
	CHECK_STR(dns_verdict_names[DNS_VERDICT_DROP], "drop");
	CHECK_STR(dns_verdict_names[DNS_VERDICT_FORMERR], "formerr");
	CHECK_STR(dns_verdict_names[DNS_VERDICT_NOTIMP], "notimp");
	CHECK_STR(dns_verdict_names[DNS_VERDICT_BADVERS], "badvers");
}

/*
 * EDNS versions above 0 (RFC 6891 6.1.3): BADVERS, and its answer.  In
 * a_query()'s message the OPT record starts at 33: its TTL is the
 * extended rcode (38), the version (39) and the flags (40).
 */
static void
test_badvers(void)
{
	struct dns_query_info qi, back;
	struct msg q;
	uint8_t out[512];
	size_t n;

	a_query(&q, 0x1234, 1, 4096, 1);
	set16(&q, 2, RD | CD);
	q.buf[39] = 1;
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_BADVERS);
	CHECK_EQ(qi.id, 0x1234);
	CHECK_EQ(qi.qname_len, 17);
	CHECK_EQ(qi.qtype, 1);
	CHECK_EQ(qi.has_edns, 1);
	CHECK_EQ(qi.edns_version, 1);
	CHECK_EQ(qi.edns_do, 1);
	CHECK_EQ(qi.msg_len, q.len);
	q.buf[39] = 255;
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_BADVERS);
	CHECK_EQ(qi.edns_version, 255);
	/* An extended rcode in a query means nothing: version 0 is OK. */
	q.buf[39] = 0;
	q.buf[38] = 1;
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_OK);

	/* The answer: header rcode 0, OPT version 0 with extended rcode 1,
	 * the question, nothing else. */
	q.buf[38] = 0;
	q.buf[39] = 1;
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_BADVERS);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_BADVERS);
	CHECK_EQ(n, 12 + 17 + 4 + DNS_OPT_LEN);
	CHECK_EQ(dnsmsg_get_id(out), 0x1234);
	CHECK_EQ(rd16(out + 2), QR | RD | CD | RA);
	CHECK_EQ(dnsmsg_rcode(out), DNS_RCODE_NOERROR);
	CHECK_EQ(rd16(out + 4), 1);
	CHECK_EQ(rd16(out + 6), 0);
	CHECK_EQ(rd16(out + 8), 0);
	CHECK_EQ(rd16(out + 10), 1);
	CHECK(memcmp(out + 12, q.buf + 12, 17 + 4) == 0);
	CHECK_EQ(out[33], 0);
	CHECK_EQ(rd16(out + 34), DNS_TYPE_OPT);
	CHECK_EQ(rd16(out + 36), DNS_EDNS_DEFAULT_MAX);
	CHECK_EQ(out[38], 1);				/* 16 >> 4 */
	CHECK_EQ(out[39], 0);				/* version 0 */
	CHECK_EQ(rd16(out + 40), 0x8000);		/* DO */
	CHECK_EQ(rd16(out + 42), 0);
	CHECK_EQ(dnsmsg_check_answer(out, n, &qi), 0);
	/* As a query again (QR cleared) it is one of version 0. */
	out[2] &= 0x7f;
	CHECK_EQ(dnsmsg_parse_query(out, n, &back), DNS_VERDICT_OK);
	CHECK_EQ(back.edns_version, 0);
	/* Passed on by no rewrite: it answers the EDNS it was sent. */
	out[2] |= 0x80;
	CHECK_EQ(dnsmsg_rewrite_answer(out, n, q.buf, sizeof(q.buf), &qi,
	    1232, -1, NULL), 0);
	/* One byte short, exact. */
	CHECK_EQ(dnsmsg_make_error(out, n - 1, &qi, DNS_RCODE_BADVERS), 0);
	CHECK_EQ(dnsmsg_make_error(out, n, &qi, DNS_RCODE_BADVERS), n);
	/* No OPT to carry it, an rcode past 12 bits: no answer. */
	qi.has_edns = 0;
	CHECK_EQ(dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_BADVERS),
	    0);
	qi.has_edns = 1;
	CHECK_EQ(dnsmsg_make_error(out, sizeof(out), &qi, 4096), 0);
	CHECK_EQ(dnsmsg_make_error(out, sizeof(out), &qi, -1), 0);

	/* Anything else wrong comes first: FORMERR, NOTIMP. */
	a_query(&q, 1, 1, 1232, 0);
	q.buf[39] = 1;
	set16(&q, 10, 2);
	put_opt(&q, 1232, 0);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_FORMERR);	/* two OPTs */
	a_query(&q, 1, 1, 1232, 0);
	q.buf[39] = 1;
	set16(&q, 10, 2);
	a_record(&q, 1);
	q.len--;
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_FORMERR);	/* cut short */
	a_query(&q, 1, 1, 1232, 0);
	q.buf[39] = 1;
	set16(&q, 4, 0);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_FORMERR);	/* QDCOUNT 0 */
	a_query(&q, 1, 1, 1232, 0);
	q.buf[39] = 1;
	set16(&q, 2, 4 << 11);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_NOTIMP);	/* NOTIFY */
	CHECK_EQ(qi.edns_version, 1);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_NOTIMP);
	CHECK_EQ(n, 12 + 17 + 4 + DNS_OPT_LEN);
	CHECK_EQ(out[39], 0);
}

/* An answer to a_query(): one CNAME, two A records, an OPT. */
static void
a_answer(struct msg *m, const char *qname)
{
	header(m, 0, QR | RD | RA, 1, 3, 0, 1);
	question(m, qname, 1, DNS_CLASS_IN);
	put16(m, 0xc00c);
	put16(m, 5);
	put16(m, DNS_CLASS_IN);
	put32(m, 60);
	put16(m, 6);
	put8(m, 3);
	putbytes(m, "www", 3);
	put16(m, 0xc000 | (12 + 4));	/* www.example.com. */
	a_record(m, 0xc0000201);
	a_record(m, 0xc0000202);
	put_opt(m, 1232, 1);
}

static void
test_check_answer(void)
{
	struct dns_query_info qi;
	struct msg q, m;

	a_query(&q, 9, 1, 1232, 1);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_OK);

	a_answer(&m, "www.example.com.");
	CHECK_EQ(check_ans(&m, &qi), 0);
	/* The ID is not checked (DoH uses 0), the rcode neither. */
	set16(&m, 0, 4242);
	set16(&m, 2, QR | 3);
	CHECK_EQ(check_ans(&m, &qi), 0);

	a_answer(&m, "WWW.Example.COM.");
	CHECK_EQ(check_ans(&m, &qi), 0);

	a_answer(&m, "www.example.com.");
	set16(&m, 2, RD);
	CHECK_EQ(check_ans(&m, &qi), -1);	/* QR=0 */
	set16(&m, 2, QR | 2 << 11);
	CHECK_EQ(check_ans(&m, &qi), -1);	/* opcode */
	set16(&m, 2, QR);
	set16(&m, 4, 0);
	CHECK_EQ(check_ans(&m, &qi), -1);	/* QDCOUNT 0 */
	set16(&m, 4, 2);
	CHECK_EQ(check_ans(&m, &qi), -1);	/* QDCOUNT 2 */

	a_answer(&m, "www.example.org.");
	CHECK_EQ(check_ans(&m, &qi), -1);
	a_answer(&m, "www.example.com.com.");
	CHECK_EQ(check_ans(&m, &qi), -1);
	a_answer(&m, "www.example.com.");
	set16(&m, 12 + 17, 28);
	CHECK_EQ(check_ans(&m, &qi), -1);	/* AAAA */
	set16(&m, 12 + 17, 1);
	set16(&m, 12 + 19, 3);
	CHECK_EQ(check_ans(&m, &qi), -1);	/* class CH */

	/* Cut short: in the question, in the last record. */
	a_answer(&m, "www.example.com.");
	m.len = 11;
	CHECK_EQ(check_ans(&m, &qi), -1);
	m.len = 12 + 19;
	CHECK_EQ(check_ans(&m, &qi), -1);
	a_answer(&m, "www.example.com.");
	m.len -= 1;
	CHECK_EQ(check_ans(&m, &qi), -1);
	/* More records claimed than present. */
	a_answer(&m, "www.example.com.");
	set16(&m, 8, 1);
	CHECK_EQ(check_ans(&m, &qi), -1);
	set16(&m, 8, 0xffff);
	set16(&m, 6, 0xffff);
	CHECK_EQ(check_ans(&m, &qi), -1);

	/*
	 * A compressed question name: right after the header no pointer can
	 * go backwards to a name, so it is refused.
	 */
	header(&m, 0, QR, 1, 0, 0, 0);
	put16(&m, 0xc00c);
	put32(&m, 0x00010001);
	CHECK_EQ(check_ans(&m, &qi), -1);
	header(&m, 0, QR, 1, 0, 0, 0);
	put16(&m, 0xc000 | 18);
	put32(&m, 0x00010001);
	name(&m, "www.example.com.");
	CHECK_EQ(check_ans(&m, &qi), -1);

	/* A loop in an answer record's owner. */
	a_answer(&m, "www.example.com.");
	set16(&m, 12 + 21, 0xc000 | (12 + 21));
	CHECK_EQ(check_ans(&m, &qi), -1);

	/* Without a question in qi nothing matches. */
	a_answer(&m, "www.example.com.");
	qi.qname_len = 0;
	CHECK_EQ(check_ans(&m, &qi), -1);
}

static void
test_make_error(void)
{
	struct dns_query_info qi, back;
	struct msg q;
	uint8_t out[512];
	size_t n;

	/* FORMERR to an EDNS query with DO, RD and CD. */
	a_query(&q, 0xabcd, 1, 4096, 1);
	set16(&q, 2, RD | CD);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_OK);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_FORMERR);
	CHECK_EQ(n, 12 + 17 + 4 + 11);
	CHECK_EQ(dnsmsg_get_id(out), 0xabcd);
	CHECK_EQ(rd16(out + 2), QR | RD | CD | RA | DNS_RCODE_FORMERR);
	CHECK_EQ(dnsmsg_rcode(out), DNS_RCODE_FORMERR);
	CHECK_EQ(rd16(out + 4), 1);
	CHECK_EQ(rd16(out + 6), 0);
	CHECK_EQ(rd16(out + 8), 0);
	CHECK_EQ(rd16(out + 10), 1);
	CHECK(memcmp(out + 12, q.buf + 12, 17 + 4) == 0);
	CHECK_EQ(out[33], 0);				/* root owner */
	CHECK_EQ(rd16(out + 34), DNS_TYPE_OPT);
	CHECK_EQ(rd16(out + 36), DNS_EDNS_DEFAULT_MAX);
	CHECK_EQ(rd16(out + 38), 0);
	CHECK_EQ(rd16(out + 40), 0x8000);		/* DO */
	CHECK_EQ(rd16(out + 42), 0);
	CHECK_EQ(dnsmsg_check_answer(out, n, &qi), 0);
	/* It is an answer: as a query it is dropped. */
	CHECK_EQ(dnsmsg_parse_query(out, n, &back), DNS_VERDICT_DROP);
	/* With QR cleared it parses back to the same question and EDNS. */
	out[2] &= 0x7f;
	CHECK_EQ(dnsmsg_parse_query(out, n, &back), DNS_VERDICT_OK);
	CHECK_EQ(back.qname_len, qi.qname_len);
	CHECK(memcmp(back.qname, qi.qname, qi.qname_len) == 0);
	CHECK_EQ(back.has_edns, 1);
	CHECK_EQ(back.edns_do, 1);
	CHECK_EQ(back.edns_size, DNS_EDNS_DEFAULT_MAX);

	/* Cap one short, cap exact. */
	CHECK_EQ(dnsmsg_make_error(out, n - 1, &qi, 2), 0);
	CHECK_EQ(dnsmsg_make_error(out, n, &qi, 2), n);
	CHECK_EQ(dnsmsg_make_error(out, 0, &qi, 2), 0);

	/* SERVFAIL without EDNS: no OPT, DO bit irrelevant. */
	a_query(&q, 0x0102, 0, 0, 0);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_OK);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_SERVFAIL);
	CHECK_EQ(n, 12 + 17 + 4);
	CHECK_EQ(dnsmsg_get_id(out), 0x0102);
	CHECK_EQ(rd16(out + 2), QR | RD | RA | DNS_RCODE_SERVFAIL);
	CHECK_EQ(rd16(out + 10), 0);
	CHECK_EQ(dnsmsg_check_answer(out, n, &qi), 0);

	/* DO clear stays clear. */
	a_query(&q, 1, 1, 1232, 0);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_OK);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_REFUSED);
	CHECK_EQ(n, 44);
	CHECK_EQ(rd16(out + 40), 0);
	CHECK_EQ(dnsmsg_rcode(out), DNS_RCODE_REFUSED);

	/* No question read: header only, QDCOUNT 0. */
	a_query(&q, 0x5555, 0, 0, 0);
	set16(&q, 4, 0);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_FORMERR);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_FORMERR);
	CHECK_EQ(n, 12);
	CHECK_EQ(dnsmsg_get_id(out), 0x5555);
	CHECK_EQ(rd16(out + 4), 0);
	CHECK_EQ(dnsmsg_make_error(out, 11, &qi, 1), 0);

	/* NOTIMP keeps the opcode and RD; RA is for QUERY only, and so
	 * it is for any other error answer to another opcode. */
	a_query(&q, 3, 0, 0, 0);
	set16(&q, 2, 4 << 11 | RD);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_NOTIMP);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_NOTIMP);
	CHECK_EQ(n, 12 + 17 + 4);
	CHECK_EQ(rd16(out + 2), QR | 4 << 11 | RD | DNS_RCODE_NOTIMP);
	set16(&q, 2, 2 << 11);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_NOTIMP);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_REFUSED);
	CHECK_EQ(rd16(out + 2), QR | 2 << 11 | DNS_RCODE_REFUSED);

	dnsmsg_set_id(out, 0xfedc);
	CHECK_EQ(dnsmsg_get_id(out), 0xfedc);
	CHECK_EQ(out[0], 0xfe);
}

/* A big answer: question, then A records until it is about len bytes. */
static void
big_answer(struct msg *m, size_t len, int edns)
{
	unsigned n = 0;

	header(m, 0, QR | RD | RA, 1, 0, 0, edns ? 1 : 0);
	question(m, "www.example.com.", 1, DNS_CLASS_IN);
	while (m->len + 16 + 11 <= len) {
		a_record(m, n);
		n++;
	}
	set16(m, 6, n);
	if (edns)
		put_opt(m, 1232, 1);
}

static void
test_truncate(void)
{
	struct dns_query_info qi;
	struct msg q, m, orig;
	size_t n;

	/* 3000 bytes to 512 for an EDNS client. */
	a_query(&q, 1, 1, 512, 1);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_OK);
	big_answer(&m, 3000, 1);
	CHECK(m.len > 2900);
	CHECK_EQ(check_ans(&m, &qi), 0);
	orig = m;
	n = dnsmsg_truncate(m.buf, m.len, 512, &qi);
	CHECK(n > 0 && n <= 512);
	CHECK_EQ(n, 12 + 21 + 11);
	CHECK_EQ(rd16(m.buf + 2), QR | RD | RA | TC);
	CHECK_EQ(rd16(m.buf + 4), 1);
	CHECK_EQ(rd16(m.buf + 6), 0);
	CHECK_EQ(rd16(m.buf + 8), 0);
	CHECK_EQ(rd16(m.buf + 10), 1);
	CHECK(memcmp(m.buf + 12, orig.buf + 12, 21) == 0);
	CHECK_EQ(m.buf[33], 0);
	CHECK_EQ(rd16(m.buf + 34), DNS_TYPE_OPT);
	CHECK_EQ(rd16(m.buf + 40), 0x8000);
	m.len = n;
	CHECK_EQ(check_ans(&m, &qi), 0);
	/* Nothing past the result was touched. */
	CHECK(memcmp(m.buf + n, orig.buf + n, orig.len - n) == 0);

	/* The same for a client without EDNS: no OPT. */
	a_query(&q, 1, 0, 0, 0);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_OK);
	big_answer(&m, 3000, 0);
	n = dnsmsg_truncate(m.buf, m.len, dnsmsg_udp_limit(&qi, 1232), &qi);
	CHECK_EQ(n, 12 + 21);
	CHECK_EQ(rd16(m.buf + 2), QR | RD | RA | TC);
	CHECK_EQ(rd16(m.buf + 6), 0);
	CHECK_EQ(rd16(m.buf + 10), 0);
	m.len = n;
	CHECK_EQ(check_ans(&m, &qi), 0);

	/* One that fits is left alone, at and below the limit. */
	big_answer(&m, 512, 0);
	CHECK(m.len <= 512 && m.len > 480);
	orig = m;
	CHECK_EQ(dnsmsg_truncate(m.buf, m.len, 512, &qi), orig.len);
	CHECK_EQ(dnsmsg_truncate(m.buf, m.len, m.len, &qi), orig.len);
	CHECK(memcmp(m.buf, orig.buf, orig.len) == 0);
	/* One byte too many and it is cut. */
	CHECK_EQ(dnsmsg_truncate(m.buf, m.len, m.len - 1, &qi), 12 + 21);

	/* Too broken to cut, or a limit below header and question. */
	big_answer(&m, 600, 0);
	CHECK_EQ(dnsmsg_truncate(m.buf, 11, 10, &qi), 0);
	CHECK_EQ(dnsmsg_truncate(m.buf, m.len, 12 + 20, &qi), 0);
	CHECK_EQ(dnsmsg_truncate(m.buf, m.len, 12 + 21, &qi), 12 + 21);
	big_answer(&m, 600, 0);
	m.buf[12] = 0x40;
	CHECK_EQ(dnsmsg_truncate(m.buf, m.len, 512, &qi), 0);
	/* With no question there is only the header left. */
	big_answer(&m, 600, 0);
	set16(&m, 4, 0);
	CHECK_EQ(dnsmsg_truncate(m.buf, m.len, 512, &qi), 12);
}

static void
test_tcp_frame(void)
{
	uint8_t buf[64];
	size_t msglen = 99;

	memset(buf, 0xaa, sizeof(buf));
	buf[0] = 0;
	buf[1] = 20;
	CHECK_EQ(dnsmsg_tcp_frame(buf, 0, &msglen), 0);
	CHECK_EQ(dnsmsg_tcp_frame(buf, 1, &msglen), 0);	/* half prefix */
	CHECK_EQ(dnsmsg_tcp_frame(buf, 2, &msglen), 0);	/* no body */
	CHECK_EQ(dnsmsg_tcp_frame(buf, 21, &msglen), 0);	/* part body */
	CHECK_EQ(msglen, 99);
	CHECK_EQ(dnsmsg_tcp_frame(buf, 22, &msglen), 22);
	CHECK_EQ(msglen, 20);

	/* Two back to back: 20 bytes, then 12. */
	buf[22] = 0;
	buf[23] = 12;
	CHECK_EQ(dnsmsg_tcp_frame(buf, 36, &msglen), 22);
	CHECK_EQ(msglen, 20);
	CHECK_EQ(dnsmsg_tcp_frame(buf + 22, 36 - 22, &msglen), 14);
	CHECK_EQ(msglen, 12);
	CHECK_EQ(dnsmsg_tcp_frame(buf + 22, 13, &msglen), 0);

	buf[0] = 0;
	buf[1] = 0;
	CHECK_EQ(dnsmsg_tcp_frame(buf, 2, &msglen), -1);
	CHECK_EQ(dnsmsg_tcp_frame(buf, 40, &msglen), -1);

	/* The largest length is read as unsigned. */
	buf[0] = 0xff;
	buf[1] = 0xff;
	CHECK_EQ(dnsmsg_tcp_frame(buf, sizeof(buf), &msglen), 0);
}

static void
test_name_text(void)
{
	char buf[DNS_MAX_NAME_TEXT];
	static const uint8_t www[] = "\3www\7Example\3com";
	static const uint8_t odd[] = "\4a.b\\\3\x01 \x7f\2\xff" "A";
	static const uint8_t zone[] = "\6a\"(;@$\0";

	strcpy(buf, "junk");
	CHECK_EQ(dnsmsg_name_to_text(www, 0, buf, sizeof(buf), 0), -1);
	CHECK_STR(buf, "");			/* no question read */
	CHECK_EQ(dnsmsg_name_to_text((const uint8_t *)"", 1, buf,
	    sizeof(buf), 0), 0);
	CHECK_STR(buf, ".");
	CHECK_EQ(dnsmsg_name_to_text(www, sizeof(www), buf, sizeof(buf), 0),
	    0);
	CHECK_STR(buf, "www.Example.com.");

	/* Too small: cut at a whole character, always terminated. */
	CHECK_EQ(dnsmsg_name_to_text(www, sizeof(www), buf, 5, 0), -1);
	CHECK_STR(buf, "www.");
	CHECK_EQ(dnsmsg_name_to_text(www, sizeof(www), buf, 1, 0), -1);
	CHECK_STR(buf, "");
	buf[0] = 'x';
	CHECK_EQ(dnsmsg_name_to_text(www, sizeof(www), buf, 0, 0), -1);
	CHECK_EQ(buf[0], 'x');

	CHECK_EQ(dnsmsg_name_to_text(odd, sizeof(odd), buf, sizeof(buf), 0),
	    0);
	CHECK_STR(buf, "a\\.b\\\\.\\001\\032\\127.\\255A.");
	/* An escape is never cut in half. */
	dnsmsg_name_to_text(odd, sizeof(odd), buf, 10, 0);
	CHECK_STR(buf, "a\\.b\\\\.");

	/* Zone form also escapes what a zone file gives meaning to. */
	CHECK_EQ(dnsmsg_name_to_text(zone, sizeof(zone) - 1, buf, sizeof(buf),
	    0), 0);
	CHECK_STR(buf, "a\"(;@$.");
	CHECK_EQ(dnsmsg_name_to_text(zone, sizeof(zone) - 1, buf, sizeof(buf),
	    DNSMSG_NAME_ZONE), 0);
	CHECK_STR(buf, "a\\\"\\(\\;\\@\\$.");
	/* For dohstub.conf, '#' too: it would start a comment. */
	CHECK_EQ(dnsmsg_name_to_text((const uint8_t *)"\2#a\0", 4, buf,
	    sizeof(buf), DNSMSG_NAME_ZONE | DNSMSG_NAME_CONF), 0);
	CHECK_STR(buf, "\\035a.");
	/* ... and '"': a quote inside a value is refused there. */
	CHECK_EQ(dnsmsg_name_to_text((const uint8_t *)"\2\"a\0", 4, buf,
	    sizeof(buf), DNSMSG_NAME_ZONE | DNSMSG_NAME_CONF), 0);
	CHECK_STR(buf, "\\034a.");
	CHECK_EQ(dnsmsg_name_to_text((const uint8_t *)"\2#a\0", 4, buf,
	    sizeof(buf), DNSMSG_NAME_ZONE), 0);
	CHECK_STR(buf, "#a.");

	/* Not one well-formed name: a pointer, a short label, extra bytes. */
	CHECK_EQ(dnsmsg_name_to_text((const uint8_t *)"\xc0\x0c", 2, buf,
	    sizeof(buf), 0), -1);
	CHECK_STR(buf, "");
	CHECK_EQ(dnsmsg_name_to_text(www, sizeof(www) - 2, buf, sizeof(buf),
	    0), -1);
	CHECK_EQ(dnsmsg_name_to_text((const uint8_t *)"\0\0", 2, buf,
	    sizeof(buf), 0), -1);
}

/* One record: its owner where it sits, its fields, its RDATA cursor. */
static void
test_rd_rr(void)
{
	static const uint8_t msg[] = {
		0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		1, 'a', 0, 0, 1, 0, 1,			/* a. A IN */
		0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4,	/* a. 300 */
		192, 0, 2, 1,
	};
	uint8_t owner[DNS_MAX_NAME];
	struct dnsmsg_rd r;
	struct dns_rr rr;
	uint32_t a;

	dnsmsg_rd_init(&r, msg, sizeof(msg));
	CHECK_EQ(dnsmsg_rd_skip(&r, 19), 0);
	CHECK_EQ(dnsmsg_rd_rr(&r, owner, &rr), 0);
	CHECK_EQ(rr.owner_off, 19);
	CHECK_EQ(rr.owner_wlen, 2);		/* the pointer */
	CHECK_EQ(rr.owner_len, 3);
	CHECK(memcmp(owner, "\1a\0", 3) == 0);
	CHECK_EQ(rr.type, DNS_TYPE_A);
	CHECK_EQ(rr.class, 1);
	CHECK_EQ(rr.ttl, 300);
	CHECK_EQ(rr.rdlen, 4);
	CHECK_EQ(rr.rdata.off, 31);
	CHECK_EQ(dnsmsg_rd_u32(&rr.rdata, &a), 0);
	CHECK_EQ(a, 0xc0000201);
	CHECK_EQ(dnsmsg_rd_left(&rr.rdata), 0);
	CHECK_EQ(r.off, sizeof(msg));

	/* Cut anywhere: -1, and the cursor stays put. */
	dnsmsg_rd_init(&r, msg, sizeof(msg) - 1);
	CHECK_EQ(dnsmsg_rd_skip(&r, 19), 0);
	CHECK_EQ(dnsmsg_rd_rr(&r, NULL, &rr), -1);
	CHECK_EQ(r.off, 19);
}

static void
test_name_from_text(void)
{
	uint8_t wire[DNS_MAX_NAME];
	char buf[DNS_MAX_NAME_TEXT];
	char longname[400];
	size_t n, i;

	n = dnsmsg_name_from_text("www.example.", wire, sizeof(wire));
	CHECK_EQ(n, 13);
	CHECK(memcmp(wire, "\3www\7example\0", 13) == 0);
	CHECK_EQ(dnsmsg_name_from_text("www.example", wire, sizeof(wire)), 13);
	CHECK_EQ(dnsmsg_name_from_text(".", wire, sizeof(wire)), 1);
	CHECK_EQ(wire[0], 0);
	n = dnsmsg_name_from_text("a\\.b\\032c\\\\.x", wire, sizeof(wire));
	CHECK_EQ(n, 10);
	CHECK(memcmp(wire, "\6a.b c\\\1x\0", 10) == 0);
	CHECK_EQ(dnsmsg_name_to_text(wire, n, buf, sizeof(buf),
	    DNSMSG_NAME_ZONE), 0);
	CHECK_STR(buf, "a\\.b\\032c\\\\.x.");

	CHECK_EQ(dnsmsg_name_from_text("", wire, sizeof(wire)), 0);
	CHECK_EQ(dnsmsg_name_from_text("a..b", wire, sizeof(wire)), 0);
	CHECK_EQ(dnsmsg_name_from_text(".a", wire, sizeof(wire)), 0);
	CHECK_EQ(dnsmsg_name_from_text("a\\", wire, sizeof(wire)), 0);
	CHECK_EQ(dnsmsg_name_from_text("a\\25", wire, sizeof(wire)), 0);
	CHECK_EQ(dnsmsg_name_from_text("a\\256", wire, sizeof(wire)), 0);
	CHECK_EQ(dnsmsg_name_from_text("a", wire, 100), 0);
	memset(longname, 'a', 63);
	longname[63] = '\0';
	CHECK_EQ(dnsmsg_name_from_text(longname, wire, sizeof(wire)), 65);
	longname[63] = 'a';
	longname[64] = '\0';
	CHECK_EQ(dnsmsg_name_from_text(longname, wire, sizeof(wire)), 0);
	/* 127 one-byte labels make 255 bytes: the largest name. */
	for (i = 0; i < 127; i++) {
		longname[2 * i] = 'a';
		longname[2 * i + 1] = '.';
	}
	longname[254] = '\0';
	CHECK_EQ(dnsmsg_name_from_text(longname, wire, sizeof(wire)), 255);
	longname[253] = 'b';
	longname[254] = 'c';
	longname[255] = '\0';
	CHECK_EQ(dnsmsg_name_from_text(longname, wire, sizeof(wire)), 0);

	/* A 255-byte wire name of bytes that all need \DDD: it fits. */
	for (i = 0; i < 4; i++)
		wire[i * 64] = 63;
	for (i = 0; i < 255; i++)
		if (i % 64 != 0)
			wire[i] = 0x01;
	wire[254] = 0;
	wire[192] = 61;
	CHECK_EQ(dnsmsg_name_to_text(wire, 255, buf, sizeof(buf),
	    DNSMSG_NAME_ZONE), 0);
	CHECK_EQ(strlen(buf), 63 * 4 * 3 + 61 * 4 + 4);
	CHECK_EQ(dnsmsg_name_to_text(wire, 255, buf, 100, DNSMSG_NAME_ZONE),
	    -1);
	/* Over 255 bytes. */
	wire[254] = 1;
	CHECK_EQ(dnsmsg_name_to_text(wire, 255, buf, sizeof(buf),
	    DNSMSG_NAME_ZONE), -1);
}

static void
test_type_names(void)
{
	uint16_t v;
	char buf[16];

	CHECK_EQ(dnsmsg_type_parse("aaaa", &v), 0);
	CHECK_EQ(v, 28);
	CHECK_EQ(dnsmsg_type_parse("HTTPS", &v), 0);
	CHECK_EQ(v, 65);
	CHECK_EQ(dnsmsg_type_parse("type65280", &v), 0);
	CHECK_EQ(v, 65280);
	CHECK_EQ(dnsmsg_type_parse("TYPE65536", &v), -1);
	CHECK_EQ(dnsmsg_type_parse("TYPE", &v), -1);
	CHECK_EQ(dnsmsg_type_parse("TYPE1x", &v), -1);
	CHECK_EQ(dnsmsg_type_parse("www", &v), -1);
	CHECK_EQ(dnsmsg_class_parse("ch", &v), 0);
	CHECK_EQ(v, 3);
	CHECK_EQ(dnsmsg_class_parse("CLASS7", &v), 0);
	CHECK_EQ(v, 7);
	CHECK_EQ(dnsmsg_class_parse("A", &v), -1);
	CHECK_STR(dnsmsg_type_str(257, buf, sizeof(buf)), "CAA");
	CHECK_STR(dnsmsg_type_str(4000, buf, sizeof(buf)), "TYPE4000");
	CHECK_STR(dnsmsg_class_str(1, buf, sizeof(buf)), "IN");
	CHECK_STR(dnsmsg_class_str(9, buf, sizeof(buf)), "CLASS9");
	CHECK_STR(dnsmsg_rcode_str(3, buf, sizeof(buf)), "NXDOMAIN");
	CHECK_STR(dnsmsg_rcode_str(16, buf, sizeof(buf)), "BADVERS");
	CHECK_STR(dnsmsg_rcode_str(12, buf, sizeof(buf)), "RCODE12");
	/* No mnemonic: NULL, so metrics can label with the number. */
	CHECK(dnsmsg_rcode_name(12) == NULL);
	CHECK_STR(dnsmsg_rcode_name(11), "DSOTYPENI");
	CHECK(dnsmsg_type_name(4000) == NULL);
	CHECK(dnsmsg_class_name(2) == NULL);
}

static void
test_reader(void)
{
	static const uint8_t m[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 3,
	    0, 4, 0xde, 0xad, 0xbe, 0xef, 0x7f };
	struct dnsmsg_rd r, sub;
	struct dns_header h;
	const uint8_t *p;
	uint32_t v32;
	uint16_t v16;
	uint8_t v8;

	dnsmsg_rd_init(&r, m, sizeof(m));
	CHECK_EQ(dnsmsg_rd_header(&r, &h), 0);
	CHECK_EQ(h.id, 0x1234);
	CHECK_EQ(h.flags, 0x8180);
	CHECK_EQ(h.count[DNS_SEC_QUESTION], 1);
	CHECK_EQ(h.count[DNS_SEC_ADDITIONAL], 4);
	CHECK_EQ(dnsmsg_rd_left(&r), 5);

	/* A sub-cursor of 3 bytes: reads stop at its end, not the message's. */
	CHECK_EQ(dnsmsg_rd_sub(&r, 3, &sub), 0);
	CHECK_EQ(dnsmsg_rd_left(&r), 2);
	CHECK_EQ(dnsmsg_rd_u32(&sub, &v32), -1);
	CHECK_EQ(sub.off, 12);			/* a failed read moves nothing */
	CHECK_EQ(dnsmsg_rd_u16(&sub, &v16), 0);
	CHECK_EQ(v16, 0xdead);
	CHECK_EQ(dnsmsg_rd_u16(&sub, &v16), -1);
	CHECK_EQ(dnsmsg_rd_u8(&sub, &v8), 0);
	CHECK_EQ(v8, 0xbe);
	CHECK_EQ(dnsmsg_rd_u8(&sub, &v8), -1);
	CHECK_EQ(dnsmsg_rd_left(&sub), 0);
	CHECK_EQ(dnsmsg_rd_sub(&r, 3, &sub), -1);

	CHECK_EQ(dnsmsg_rd_bytes(&r, 2, &p), 0);
	CHECK(p == m + 15);
	CHECK_EQ(dnsmsg_rd_skip(&r, 1), -1);
	CHECK_EQ(dnsmsg_rd_bytes(&r, 0, &p), 0);

	dnsmsg_rd_init(&r, m, sizeof(m));
	CHECK_EQ(dnsmsg_rd_skip(&r, 12), 0);
	CHECK_EQ(dnsmsg_rd_u32(&r, &v32), 0);
	CHECK_EQ(v32, 0xdeadbeef);
	dnsmsg_rd_init(&r, m, 11);
	CHECK_EQ(dnsmsg_rd_header(&r, &h), -1);
	CHECK_EQ(r.off, 0);
}

static void
test_writer(void)
{
	uint8_t buf[16];
	struct dnsmsg_wr w;

	memset(buf, 0xaa, sizeof(buf));
	dnsmsg_wr_init(&w, buf, 8);
	dnsmsg_wr_u8(&w, 1);
	dnsmsg_wr_u16(&w, 0x0203);
	dnsmsg_wr_u32(&w, 0x04050607);
	CHECK_EQ(dnsmsg_wr_finish(&w), 7);
	CHECK(memcmp(buf, "\1\2\3\4\5\6\7", 7) == 0);
	dnsmsg_wr_set16(&w, 5, 0x0809);
	CHECK(memcmp(buf + 5, "\10\11", 2) == 0);
	CHECK_EQ(dnsmsg_wr_finish(&w), 7);

	/* Two bytes do not fit in one: nothing written, and never again. */
	dnsmsg_wr_u16(&w, 0xffff);
	CHECK(w.err);
	CHECK_EQ(w.len, 7);
	CHECK_EQ(buf[7], 0xaa);
	dnsmsg_wr_u8(&w, 0xff);
	CHECK_EQ(buf[7], 0xaa);
	CHECK_EQ(dnsmsg_wr_finish(&w), 0);

	/* set16 only over bytes already written. */
	dnsmsg_wr_init(&w, buf, sizeof(buf));
	dnsmsg_wr_u8(&w, 0);
	dnsmsg_wr_set16(&w, 0, 1);
	CHECK_EQ(dnsmsg_wr_finish(&w), 0);

	/* A name must be exactly one uncompressed name. */
	dnsmsg_wr_init(&w, buf, sizeof(buf));
	dnsmsg_wr_name(&w, (const uint8_t *)"\1a\0", 3);
	CHECK_EQ(dnsmsg_wr_finish(&w), 3);
	dnsmsg_wr_name(&w, (const uint8_t *)"\1a\0", 2);
	CHECK_EQ(dnsmsg_wr_finish(&w), 0);
	dnsmsg_wr_init(&w, buf, sizeof(buf));
	dnsmsg_wr_name(&w, (const uint8_t *)"\xc0\x0c", 2);
	CHECK_EQ(dnsmsg_wr_finish(&w), 0);
	dnsmsg_wr_init(&w, NULL, 100);
	dnsmsg_wr_u8(&w, 0);
	CHECK_EQ(dnsmsg_wr_finish(&w), 0);
}

static void
test_make_query(void)
{
	static uint8_t name[DNS_MAX_NAME];
	struct dns_query_info qi;
	struct dnsmsg_rd r, rdata;
	uint8_t out[1024], owner;
	uint16_t type, size, optlen, code, padlen;
	uint32_t ttl;
	size_t n, nlen, off, i, lab, blocks[] = { 128, 468, 1 };
	unsigned b;

	/* Flags: only RD, AD and CD; no EDNS: no OPT. */
	nlen = dnsmsg_name_from_text("www.example.com", name, sizeof(name));
	n = dnsmsg_make_query(out, sizeof(out), name, nlen, 28, DNS_CLASS_IN,
	    0xffff, 0, 1, 128);
	CHECK_EQ(n, 12 + nlen + 4);
	CHECK_EQ(rd16(out), 0);
	CHECK_EQ(rd16(out + 2), RD | CD | 0x0020);
	CHECK_EQ(rd16(out + 4), 1);
	CHECK_EQ(rd16(out + 10), 0);
	CHECK_EQ(dnsmsg_parse_query(out, n, &qi), DNS_VERDICT_OK);
	CHECK_EQ(qi.qtype, 28);
	CHECK_EQ(qi.qname_len, nlen);
	CHECK(memcmp(qi.qname, name, nlen) == 0);
	CHECK_EQ(qi.has_edns, 0);

	/* EDNS without padding: the OPT record's every field. */
	n = dnsmsg_make_query(out, sizeof(out), name, nlen, 1, 3, RD, 1400,
	    1, 0);
	CHECK_EQ(n, 12 + nlen + 4 + 11);
	CHECK_EQ(rd16(out + 10), 1);
	dnsmsg_rd_init(&r, out, n);
	CHECK_EQ(dnsmsg_rd_skip(&r, 12 + nlen + 4), 0);
	CHECK_EQ(dnsmsg_rd_u8(&r, &owner), 0);
	CHECK_EQ(owner, 0);
	CHECK_EQ(dnsmsg_rd_u16(&r, &type), 0);
	CHECK_EQ(type, DNS_TYPE_OPT);
	CHECK_EQ(dnsmsg_rd_u16(&r, &size), 0);
	CHECK_EQ(size, 1400);
	CHECK_EQ(dnsmsg_rd_u32(&r, &ttl), 0);
	CHECK_EQ(ttl, 0x8000);			/* version 0, DO */
	CHECK_EQ(dnsmsg_rd_u16(&r, &optlen), 0);
	CHECK_EQ(optlen, 0);
	CHECK_EQ(dnsmsg_parse_query(out, n, &qi), DNS_VERDICT_OK);
	CHECK(qi.has_edns && qi.edns_do && qi.edns_size == 1400);
	CHECK_EQ(qi.qclass, 3);
	n = dnsmsg_make_query(out, sizeof(out), name, nlen, 1, 1, RD, 1232,
	    0, 0);
	CHECK_EQ(rd16(out + n - 11 + 7), 0);	/* no DO */

	/*
	 * Padding: for every name length from the root to 255 bytes, the
	 * whole query is a multiple of the block, with one Padding option
	 * of zeros making up the difference.
	 */
	for (b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++)
		for (nlen = 1; nlen <= DNS_MAX_NAME; nlen++) {
			if (nlen == 2)
				continue;	/* no name is 2 bytes long */
			/* nlen - 1 bytes of labels, none left over. */
			for (off = 0, i = nlen - 1; i > 0; ) {
				lab = i - 1 > 63 ? 63 : i - 1;
				if (i - 1 - lab == 1)
					lab--;
				name[off] = (uint8_t)lab;
				memset(name + off + 1, 'a', lab);
				i -= 1 + lab;
				off += 1 + lab;
			}
			name[off] = 0;
			CHECK_EQ(off + 1, nlen);
			n = dnsmsg_make_query(out, sizeof(out), name, nlen, 1,
			    1, RD, 1232, 0, (unsigned)blocks[b]);
			CHECK(n > 0 && n % blocks[b] == 0);
			CHECK(n >= 12 + nlen + 4 + 11 + 4);
			CHECK(n < 12 + nlen + 4 + 11 + 4 + blocks[b]);
			dnsmsg_rd_init(&r, out, n);
			CHECK_EQ(dnsmsg_rd_skip(&r, 12 + nlen + 4 + 9), 0);
			CHECK_EQ(dnsmsg_rd_u16(&r, &optlen), 0);
			CHECK_EQ(optlen, n - (12 + nlen + 4 + 11));
			CHECK_EQ(dnsmsg_rd_sub(&r, optlen, &rdata), 0);
			CHECK_EQ(dnsmsg_rd_u16(&rdata, &code), 0);
			CHECK_EQ(code, DNS_OPT_PADDING);
			CHECK_EQ(dnsmsg_rd_u16(&rdata, &padlen), 0);
			CHECK_EQ(padlen, optlen - 4);
			for (i = n - padlen; i < n; i++)
				if (out[i] != 0)
					break;
			CHECK_EQ(i, n);
			CHECK_EQ(dnsmsg_parse_query(out, n, &qi),
			    DNS_VERDICT_OK);
			CHECK_EQ(qi.msg_len, n);
		}

	/* Overflow gives 0, one byte short of every length. */
	nlen = dnsmsg_name_from_text("www.example.com", name, sizeof(name));
	n = dnsmsg_make_query(out, sizeof(out), name, nlen, 1, 1, RD, 1232, 1,
	    128);
	CHECK_EQ(n, 128);
	for (i = 0; i < n; i++)
		CHECK_EQ(dnsmsg_make_query(out, i, name, nlen, 1, 1, RD, 1232,
		    1, 128), 0);
	CHECK_EQ(dnsmsg_make_query(out, 12 + nlen + 3, name, nlen, 1, 1, RD,
	    0, 0, 0), 0);
	/* And a malformed name gives 0 too. */
	CHECK_EQ(dnsmsg_make_query(out, sizeof(out), name, nlen - 1, 1, 1, RD,
	    0, 0, 0), 0);
	CHECK_EQ(dnsmsg_make_query(out, sizeof(out), name, 0, 1, 1, RD, 0, 0,
	    0), 0);
}

/* The OPT of a built query (at off): size, TTL, and one Padding option. */
static void
check_built_opt(const uint8_t *out, size_t n, size_t off, uint16_t size,
    uint32_t ttl)
{
	struct dnsmsg_rd r;
	uint8_t owner;
	uint16_t type, class, rdlen, code, olen;
	uint32_t t;

	dnsmsg_rd_init(&r, out, n);
	CHECK_EQ(dnsmsg_rd_skip(&r, off), 0);
	CHECK_EQ(dnsmsg_rd_u8(&r, &owner), 0);
	CHECK_EQ(owner, 0);
	CHECK_EQ(dnsmsg_rd_u16(&r, &type), 0);
	CHECK_EQ(type, DNS_TYPE_OPT);
	CHECK_EQ(dnsmsg_rd_u16(&r, &class), 0);
	CHECK_EQ(class, size);
	CHECK_EQ(dnsmsg_rd_u32(&r, &t), 0);
	CHECK_EQ(t, ttl);
	CHECK_EQ(dnsmsg_rd_u16(&r, &rdlen), 0);
	CHECK_EQ(rdlen, n - off - DNS_OPT_LEN);
	CHECK_EQ(dnsmsg_rd_u16(&r, &code), 0);
	CHECK_EQ(code, DNS_OPT_PADDING);
	CHECK_EQ(dnsmsg_rd_u16(&r, &olen), 0);
	CHECK_EQ(olen, rdlen - 4);	/* the only option */
}

static void
test_upstream_query(void)
{
	struct dns_query_info qi;
	struct msg m;
	uint8_t out[1024];
	char text[300];
	size_t n, len, i;

	/* A client query with DO, CD, AD, ECS and a cookie. */
	header(&m, 0x4242, RD | CD | 0x0020, 1, 0, 0, 1);
	name(&m, "WwW.Example.");
	put16(&m, 28);
	put16(&m, 1);
	put8(&m, 0);
	put16(&m, DNS_TYPE_OPT);
	put16(&m, 4096);
	put32(&m, DNS_EDNS_DO);
	put16(&m, 11 + 12);
	put16(&m, 8);			/* ECS 192.0.2.0/24 */
	put16(&m, 7);
	put16(&m, 1);
	put16(&m, 24 << 8);
	put8(&m, 192);
	put8(&m, 0);
	put8(&m, 2);
	put16(&m, 10);			/* cookie */
	put16(&m, 8);
	put32(&m, 1);
	put32(&m, 2);
	CHECK_EQ(dnsmsg_parse_query(m.buf, m.len, &qi), DNS_VERDICT_OK);
	n = dnsmsg_make_upstream_query(out, sizeof(out), &qi, 1232, 128,
	    qi.edns_do, (qi.flags & CD) != 0);
	CHECK_EQ(n, 128);
	CHECK_EQ(rd16(out), 0);
	CHECK_EQ(rd16(out + 2), RD | CD);	/* AD not copied */
	CHECK_EQ(rd16(out + 4), 1);
	CHECK_EQ(rd16(out + 6), 0);
	CHECK_EQ(rd16(out + 8), 0);
	CHECK_EQ(rd16(out + 10), 1);
	/* The question as the client wrote it, case and all. */
	CHECK(memcmp(out + 12, m.buf + 12, 13 + 4) == 0);
	check_built_opt(out, n, 12 + 13 + 4, 1232, DNS_EDNS_DO);
	/* The bits are the caller's: cleared (dnssec off) ... */
	n = dnsmsg_make_upstream_query(out, sizeof(out), &qi, 1232, 128, 0,
	    0);
	CHECK_EQ(n, 128);
	CHECK_EQ(rd16(out + 2), RD);
	check_built_opt(out, n, 12 + 13 + 4, 1232, 0);

	/* Without EDNS from the client: our OPT all the same, DO clear. */
	header(&m, 7, 0, 1, 0, 0, 0);
	name(&m, "a.");
	put16(&m, 1);
	put16(&m, 1);
	CHECK_EQ(dnsmsg_parse_query(m.buf, m.len, &qi), DNS_VERDICT_OK);
	n = dnsmsg_make_upstream_query(out, sizeof(out), &qi, 1400, 128,
	    qi.edns_do, (qi.flags & CD) != 0);
	CHECK_EQ(n, 128);
	CHECK_EQ(rd16(out + 2), 0);
	check_built_opt(out, n, 12 + 3 + 4, 1400, 0);
	/* ... or set whatever the client sent (validate: RFC 4035 3.2.1). */
	n = dnsmsg_make_upstream_query(out, sizeof(out), &qi, 1400, 128, 1,
	    1);
	CHECK_EQ(n, 128);
	CHECK_EQ(rd16(out + 2), CD);
	check_built_opt(out, n, 12 + 3 + 4, 1400, DNS_EDNS_DO);
	/* Padding off: the bare OPT. */
	CHECK_EQ(dnsmsg_make_upstream_query(out, sizeof(out), &qi, 1232, 0,
	    0, 0), 12 + 3 + 4 + DNS_OPT_LEN);

	/* Every name length from 3 to 255 bytes: a multiple of 128. */
	for (len = 1; len <= 253; len++) {
		for (i = 0; i < len; i++)
			text[i] = (i % 2) ? '.' : 'a';
		text[len] = 0;
		if (text[len - 1] == '.')
			continue;
		header(&m, 9, RD, 1, 0, 0, 0);
		m.len = 12;
		qi.qname_len = dnsmsg_name_from_text(text, qi.qname,
		    sizeof(qi.qname));
		CHECK(qi.qname_len > 0);
		n = dnsmsg_make_upstream_query(out, sizeof(out), &qi, 1232,
		    128, 0, 0);
		CHECK(n > 0 && n % 128 == 0);
		check_built_opt(out, n, 12 + qi.qname_len + 4, 1232, 0);
	}
	/* Too small a buffer, no question, no size: 0. */
	CHECK_EQ(dnsmsg_make_upstream_query(out, 127, &qi, 1232, 128, 0, 0),
	    0);
	CHECK_EQ(dnsmsg_make_upstream_query(out, sizeof(out), &qi, 0, 128, 0,
	    0), 0);
	qi.qname_len = 0;
	CHECK_EQ(dnsmsg_make_upstream_query(out, sizeof(out), &qi, 1232, 128,
	    1, 1), 0);
}

/* An upstream answer: one A record, an OPT with Padding, then a TSIG. */
static void
padded_answer(struct msg *m, uint32_t opt_ttl)
{
	header(m, 0, QR | RD | RA, 1, 1, 0, 2);
	name(m, "www.example.");
	put16(m, 1);
	put16(m, 1);
	put16(m, 0xc00c);
	put16(m, 1);
	put16(m, 1);
	put32(m, 300);
	put16(m, 4);
	put32(m, 0xc0000201);
	put8(m, 0);
	put16(m, DNS_TYPE_OPT);
	put16(m, 4096);
	put32(m, opt_ttl);
	put16(m, 4 + 20);
	put16(m, DNS_OPT_PADDING);
	put16(m, 20);
	for (int i = 0; i < 20; i++)
		put8(m, 0);
	put8(m, 0);		/* a TSIG-like record after the OPT */
	put16(m, 250);
	put16(m, 255);
	put32(m, 0);
	put16(m, 0);
}

static void
test_rewrite_answer(void)
{
	struct dns_query_info qi;
	struct msg q, a;
	uint8_t out[1024];
	size_t n, ans_end = 12 + 17 + 16, i;

	header(&q, 0x1234, CD, 1, 0, 0, 1);
	name(&q, "WWW.example.");
	put16(&q, 1);
	put16(&q, 1);
	put_opt(&q, 4096, 1);
	CHECK_EQ(dnsmsg_parse_query(q.buf, q.len, &qi), DNS_VERDICT_OK);
	padded_answer(&a, 0);
	CHECK_EQ(dnsmsg_check_answer(a.buf, a.len, &qi), 0);

	/* EDNS client: ID, RD/CD, case; our OPT with an EDE, no padding. */
	n = dnsmsg_rewrite_answer(a.buf, a.len, out, sizeof(out), &qi, 1232,
	    0, "over plain");
	CHECK_EQ(n, ans_end + DNS_OPT_LEN + 4 + 2 + 10);
	CHECK_EQ(rd16(out), 0x1234);
	CHECK_EQ(rd16(out + 2), QR | RA | CD);
	CHECK_EQ(rd16(out + 10), 1);
	CHECK(memcmp(out + 12, q.buf + 12, 17) == 0);
	CHECK(memcmp(out + 29, a.buf + 29, 16) == 0);
	CHECK_EQ(rd16(out + ans_end + 1), DNS_TYPE_OPT);
	CHECK_EQ(rd16(out + ans_end + 3), 1232);
	CHECK_EQ(rd16(out + ans_end + 5), 0);
	CHECK_EQ(rd16(out + ans_end + 7), DNS_EDNS_DO);
	CHECK_EQ(rd16(out + ans_end + 9), 4 + 2 + 10);
	CHECK_EQ(rd16(out + ans_end + 11), DNS_OPT_EDE);
	CHECK_EQ(rd16(out + ans_end + 13), 2 + 10);
	CHECK_EQ(rd16(out + ans_end + 15), 0);
	CHECK(memcmp(out + ans_end + 17, "over plain", 10) == 0);
	CHECK_EQ(dnsmsg_check_answer(out, n, &qi), 0);
	/* No EDE asked for: the bare OPT. */
	CHECK_EQ(dnsmsg_rewrite_answer(a.buf, a.len, out, sizeof(out), &qi,
	    1232, -1, "x"), ans_end + DNS_OPT_LEN);
	/* Every shorter buffer: 0. */
	for (i = 0; i < ans_end + DNS_OPT_LEN; i++)
		CHECK_EQ(dnsmsg_rewrite_answer(a.buf, a.len, out, i, &qi,
		    1232, -1, NULL), 0);

	/* A client without EDNS: no OPT, nothing after it either. */
	qi.has_edns = 0;
	n = dnsmsg_rewrite_answer(a.buf, a.len, out, sizeof(out), &qi, 1232,
	    0, "over plain");
	CHECK_EQ(n, ans_end);
	CHECK_EQ(rd16(out + 10), 0);
	CHECK_EQ(dnsmsg_check_answer(out, n, &qi), 0);

	/* An answer without OPT is kept whole. */
	a.len = ans_end;
	wr16(a.buf + 10, 0);
	CHECK_EQ(dnsmsg_rewrite_answer(a.buf, a.len, out, sizeof(out), &qi,
	    1232, -1, NULL), ans_end);
	CHECK_EQ(rd16(out + 2), QR | RA | CD);
	CHECK(memcmp(out + 4, a.buf + 4, 8) == 0);
	CHECK(memcmp(out + 12, q.buf + 12, 17) == 0);
	CHECK(memcmp(out + 29, a.buf + 29, ans_end - 29) == 0);

	/* An extended rcode (BADVERS) answers our EDNS: not passed on. */
	padded_answer(&a, 1u << 24);
	CHECK_EQ(dnsmsg_rewrite_answer(a.buf, a.len, out, sizeof(out), &qi,
	    1232, -1, NULL), 0);
	/* Broken: cut anywhere inside the answer record. */
	padded_answer(&a, 0);
	for (i = 12; i < ans_end; i++)
		CHECK_EQ(dnsmsg_rewrite_answer(a.buf, i, out, sizeof(out),
		    &qi, 1232, -1, NULL), 0);
}

static void
test_add_ede(void)
{
	struct msg m;
	size_t n, len, i;

	/* An answer ending with an OPT: the option appended to it. */
	header(&m, 1, QR, 1, 0, 0, 1);
	name(&m, "a.");
	put16(&m, 1);
	put16(&m, 1);
	put_opt(&m, 1232, 0);
	len = m.len;
	n = dnsmsg_add_ede(m.buf, len, sizeof(m.buf), 0, "ab");
	CHECK_EQ(n, len + 8);
	CHECK_EQ(rd16(m.buf + len - 2), 8);
	CHECK_EQ(rd16(m.buf + len), DNS_OPT_EDE);
	CHECK_EQ(rd16(m.buf + len + 2), 4);
	CHECK_EQ(rd16(m.buf + len + 4), 0);
	CHECK(memcmp(m.buf + len + 6, "ab", 2) == 0);
	/* A second one after the first (RFC 8914 allows several). */
	CHECK_EQ(dnsmsg_add_ede(m.buf, n, sizeof(m.buf), 3, NULL), n + 6);
	CHECK_EQ(rd16(m.buf + len - 2), 14);
	/* Too little room, or no OPT at the end: 0, nothing changed. */
	header(&m, 1, QR, 1, 0, 0, 1);
	name(&m, "a.");
	put16(&m, 1);
	put16(&m, 1);
	put_opt(&m, 1232, 0);
	for (i = 0; i < len + 8; i++)
		CHECK_EQ(dnsmsg_add_ede(m.buf, len, i, 0, "ab"), 0);
	CHECK_EQ(rd16(m.buf + len - 2), 0);
	wr16(m.buf + 10, 0);
	CHECK_EQ(dnsmsg_add_ede(m.buf, len - DNS_OPT_LEN, sizeof(m.buf), 0,
	    NULL), 0);
	CHECK_EQ(dnsmsg_add_ede(m.buf, len, sizeof(m.buf), 0, NULL), 0);
}

static uint32_t
ttl_at(const uint8_t *p)
{
	return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

/*
 * dnsmsg_cap_ttl(): every TTL above the cap lowered to it in every
 * section, one below it and the OPT record's flags left alone; a
 * malformed message is -1.
 */
static void
test_cap_ttl(void)
{
	struct msg m;
	size_t i, len;
	uint32_t ttls[3] = { 300, 5, 86400 };

	header(&m, 1, QR, 1, 2, 1, 1);
	name(&m, "a.");
	put16(&m, 1);
	put16(&m, 1);
	for (i = 0; i < 3; i++) {
		put16(&m, 0xc00c);
		put16(&m, 1);
		put16(&m, 1);
		put32(&m, ttls[i]);
		put16(&m, 4);
		put32(&m, 0xc0000201);
	}
	put_opt(&m, 1232, 1);	/* DO: 0x8000 in the TTL's place */
	len = m.len;
	CHECK_EQ(dnsmsg_cap_ttl(m.buf, len, 10), 0);
	/* question 12 + 3 + 4; each record 16, TTL at offset 6 */
	CHECK_EQ(ttl_at(m.buf + 19 + 6), 10);
	CHECK_EQ(ttl_at(m.buf + 19 + 16 + 6), 5);
	CHECK_EQ(ttl_at(m.buf + 19 + 32 + 6), 10);
	CHECK_EQ(ttl_at(m.buf + 19 + 48 + 5), 0x8000);
	/* Cut short inside the last record: -1. */
	CHECK_EQ(dnsmsg_cap_ttl(m.buf, len - 3, 10), -1);
	CHECK_EQ(dnsmsg_cap_ttl(m.buf, 11, 10), -1);
}

static void
test_make_error_ede(void)
{
	struct dns_query_info qi;
	struct msg q;
	uint8_t out[512];
	size_t n, opt = 12 + 13 + 4;

	header(&q, 0x99, RD, 1, 0, 0, 1);
	name(&q, "www.example.");
	put16(&q, 1);
	put16(&q, 1);
	put_opt(&q, 4096, 0);
	CHECK_EQ(dnsmsg_parse_query(q.buf, q.len, &qi), DNS_VERDICT_OK);
	n = dnsmsg_make_error_ede(out, sizeof(out), &qi, DNS_RCODE_SERVFAIL,
	    22, "no DoH");
	CHECK_EQ(n, opt + DNS_OPT_LEN + 6 + 6);
	CHECK_EQ(rd16(out + opt + 9), 12);
	CHECK_EQ(rd16(out + opt + 11), DNS_OPT_EDE);
	CHECK_EQ(rd16(out + opt + 13), 8);
	CHECK_EQ(rd16(out + opt + 15), 22);
	CHECK(memcmp(out + opt + 17, "no DoH", 6) == 0);
	/* Without a text, and without EDNS none at all. */
	CHECK_EQ(dnsmsg_make_error_ede(out, sizeof(out), &qi, 2, 22, NULL),
	    opt + DNS_OPT_LEN + 6);
	CHECK_EQ(dnsmsg_make_error_ede(out, opt + DNS_OPT_LEN + 5, &qi, 2, 22,
	    NULL), 0);
	qi.has_edns = 0;
	CHECK_EQ(dnsmsg_make_error_ede(out, sizeof(out), &qi, 2, 22, "x"),
	    opt);
}

/* The key the cache and the table of queries in flight file by. */
static void
test_key_hash(void)
{
	struct dns_query_info a, b;
	static const uint8_t www[] = "\3www\7example\3com";
	static const uint8_t WwW[] = "\3WwW\7ExAmPlE\3COM";
	static const uint8_t wwx[] = "\3wwx\7example\3com";

	memset(&a, 0, sizeof(a));
	memcpy(a.qname, www, sizeof(www));
	a.qname_len = sizeof(www);
	a.qtype = 1;
	a.qclass = 1;
	b = a;
	memcpy(b.qname, WwW, sizeof(WwW));
	CHECK(dnsmsg_name_equal(a.qname, a.qname_len, b.qname, b.qname_len));
	CHECK_EQ(dnsmsg_key_hash(&a), dnsmsg_key_hash(&b));
	memcpy(b.qname, wwx, sizeof(wwx));
	CHECK(!dnsmsg_name_equal(a.qname, a.qname_len, b.qname, b.qname_len));
	CHECK(dnsmsg_key_hash(&a) != dnsmsg_key_hash(&b));
	CHECK(!dnsmsg_name_equal(a.qname, a.qname_len, a.qname,
	    a.qname_len - 1));
	b = a;
	b.edns_do = 1;
	CHECK(dnsmsg_key_hash(&a) != dnsmsg_key_hash(&b));
	b = a;
	b.flags = DNS_FLAG_CD;
	CHECK(dnsmsg_key_hash(&a) != dnsmsg_key_hash(&b));
	b = a;
	b.qtype = 28;
	CHECK(dnsmsg_key_hash(&a) != dnsmsg_key_hash(&b));
	b = a;
	b.qclass = 3;
	CHECK(dnsmsg_key_hash(&a) != dnsmsg_key_hash(&b));
	b = a;
	b.flags = DNS_FLAG_RD;		/* RD is not part of the key */
	b.id = 77;
	CHECK_EQ(dnsmsg_key_hash(&a), dnsmsg_key_hash(&b));
}

/* Fixed RRSIG fields (RFC 4034 3.1) covering type, then signer "example.". */
static void
rrsig_rdata(struct msg *m, unsigned covered)
{
	size_t at = m->len;

	put16(m, 0);			/* RDLENGTH, set below */
	put16(m, covered);
	put8(m, 13);
	put8(m, 2);
	put32(m, 300);
	put32(m, 0x70000000);
	put32(m, 0x60000000);
	put16(m, 4242);
	name(m, "example.");
	put32(m, 0xdeadbeef);		/* the "signature" */
	set16(m, at, (unsigned)(m->len - at - 2));
}

/* An RDLENGTH to be set once the RDATA is written. */
static size_t
rdlen_begin(struct msg *m)
{
	size_t at = m->len;

	put16(m, 0);
	return at;
}

static void
rdlen_end(struct msg *m, size_t at)
{
	set16(m, at, (unsigned)(m->len - at - 2));
}

static void
soa_numbers(struct msg *m)
{
	put32(m, 1);
	put32(m, 2);
	put32(m, 3);
	put32(m, 4);
	put32(m, 5);
}

static void
rr_head(struct msg *m, unsigned owner_ptr, const char *owner, unsigned type,
    uint32_t ttl)
{
	if (owner != NULL)
		name(m, owner);
	else
		put16(m, 0xc000 | owner_ptr);
	put16(m, type);
	put16(m, DNS_CLASS_IN);
	put32(m, ttl);
}

/*
 * An answer whose names point into the records a client without DO does
 * not get: an RRSIG owns "sig.example." that a CNAME's target and an A
 * record's owner point at; an NSEC's next name "zzz.example." holds the
 * SOA's names and an additional record's owner.
 */
static void
strip_answer(struct msg *m, unsigned flags)
{
	size_t sig, zzz, at;

	header(m, 0, QR | RD | RA | flags, 1, 3, 2, 2);
	question(m, "www.example.", 5, 1);		/* CNAME */
	sig = m->len;
	rr_head(m, 0, "sig.example.", DNS_TYPE_RRSIG, 300);
	rrsig_rdata(m, 5);
	rr_head(m, 12, NULL, 5, 300);			/* www: CNAME sig */
	put16(m, 2);
	put16(m, 0xc000 | (unsigned)sig);
	rr_head(m, (unsigned)sig, NULL, 1, 60);		/* sig: A */
	put16(m, 4);
	put32(m, 0xc0000201);
	rr_head(m, 16, NULL, DNS_TYPE_NSEC, 900);	/* example. NSEC */
	at = rdlen_begin(m);
	zzz = m->len;
	name(m, "zzz.example.");
	put8(m, 0);				/* window 0: */
	put8(m, 1);
	put8(m, 0x22);				/* NS SOA */
	rdlen_end(m, at);
	rr_head(m, 16, NULL, DNS_TYPE_SOA, 900);	/* example. SOA */
	at = rdlen_begin(m);
	put16(m, 0xc000 | (unsigned)zzz);
	put8(m, 10);
	putbytes(m, "hostmaster", 10);
	put16(m, 0xc000 | (unsigned)(zzz + 4));
	soa_numbers(m);
	rdlen_end(m, at);
	rr_head(m, (unsigned)zzz, NULL, 15, 60);	/* zzz: MX 10 www */
	put16(m, 4);
	put16(m, 10);
	put16(m, 0xc00c);
	put_opt(m, 1232, 1);
}

/* The same without the RRSIG and the NSEC, every name after them whole. */
static void
strip_expected(struct msg *m, unsigned flags)
{
	size_t at;

	header(m, 0, QR | RD | RA | flags, 1, 2, 1, 2);
	question(m, "www.example.", 5, 1);
	rr_head(m, 0, "www.example.", 5, 300);
	at = rdlen_begin(m);
	name(m, "sig.example.");
	rdlen_end(m, at);
	rr_head(m, 0, "sig.example.", 1, 60);
	put16(m, 4);
	put32(m, 0xc0000201);
	rr_head(m, 0, "example.", DNS_TYPE_SOA, 900);
	at = rdlen_begin(m);
	name(m, "zzz.example.");
	name(m, "hostmaster.example.");
	soa_numbers(m);
	rdlen_end(m, at);
	rr_head(m, 0, "zzz.example.", 15, 60);
	at = rdlen_begin(m);
	put16(m, 10);
	name(m, "www.example.");
	rdlen_end(m, at);
	put_opt(m, 1232, 1);
}

/* Records of each type in msg, and 1 if every record parses. */
static int
count_types(const uint8_t *msg, size_t len, unsigned *rrsig, unsigned *nsec,
    unsigned *nsec3, unsigned *all)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint32_t i, n;

	*rrsig = *nsec = *nsec3 = *all = 0;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 || dnsmsg_rd_name(&r, NULL,
	    NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		return 0;
	n = (uint32_t)h.count[1] + h.count[2] + h.count[3];
	for (i = 0; i < n; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return 0;
		*rrsig += rr.type == DNS_TYPE_RRSIG;
		*nsec += rr.type == DNS_TYPE_NSEC;
		*nsec3 += rr.type == DNS_TYPE_NSEC3;
		(*all)++;
	}
	return r.off == len;
}

/*
 * RFC 4035 3.2.1 for a client without DO: RRSIG, NSEC and NSEC3 out of
 * every section but the type asked for, the counts following, and no
 * pointer left reaching what went: every name after the first record
 * taken out is written whole, the bytes before it kept.
 */
static void
test_strip_dnssec(void)
{
	struct dns_query_info qi;
	struct msg m, want;
	uint8_t out[2048], again[2048];
	unsigned rrsig, nsec, nsec3, all;
	size_t n;

	strip_answer(&m, 0x0020);		/* AD: left alone */
	strip_expected(&want, 0x0020);
	n = dnsmsg_strip_dnssec(m.buf, m.len, out, sizeof(out), 5);
	CHECK_EQ(n, want.len);
	CHECK(n == want.len && memcmp(out, want.buf, n) == 0);
	CHECK(count_types(out, n, &rrsig, &nsec, &nsec3, &all));
	CHECK_EQ(rrsig + nsec + nsec3, 0);
	CHECK_EQ(all, 5);
	/* As an answer to the client's query it is usable. */
	header(&want, 0, RD, 1, 0, 0, 0);
	question(&want, "www.example.", 5, 1);
	CHECK_EQ(parse(&want, &qi), DNS_VERDICT_OK);
	CHECK_EQ(dnsmsg_check_answer(out, n, &qi), 0);
	/* Exactly the room: fits; a byte short: 0. */
	CHECK_EQ(dnsmsg_strip_dnssec(m.buf, m.len, out, n, 5), n);
	CHECK_EQ(dnsmsg_strip_dnssec(m.buf, m.len, out, n - 1, 5), 0);
	/* Again: nothing to take out, the same bytes. */
	CHECK_EQ(dnsmsg_strip_dnssec(out, n, again, sizeof(again), 5), n);
	CHECK(memcmp(out, again, n) == 0);

	/* Asked for: RRSIGs stay, the NSEC goes; NSEC: the reverse. */
	n = dnsmsg_strip_dnssec(m.buf, m.len, out, sizeof(out),
	    DNS_TYPE_RRSIG);
	CHECK(count_types(out, n, &rrsig, &nsec, &nsec3, &all));
	CHECK_EQ(rrsig, 1);
	CHECK_EQ(nsec, 0);
	CHECK_EQ(all, 6);
	CHECK_EQ(rd16(out + 6), 3);
	CHECK_EQ(rd16(out + 8), 1);
	/* Nothing before the NSEC changed, the RRSIG's bytes included. */
	CHECK(memcmp(out + 4, m.buf + 4, 2) == 0);
	n = dnsmsg_strip_dnssec(m.buf, m.len, out, sizeof(out),
	    DNS_TYPE_NSEC);
	CHECK(count_types(out, n, &rrsig, &nsec, &nsec3, &all));
	CHECK_EQ(rrsig, 0);
	CHECK_EQ(nsec, 1);
	CHECK_EQ(all, 6);
	/* ANY: the answer section whole, the authority's NSEC out. */
	n = dnsmsg_strip_dnssec(m.buf, m.len, out, sizeof(out),
	    DNS_TYPE_ANY);
	CHECK(count_types(out, n, &rrsig, &nsec, &nsec3, &all));
	CHECK_EQ(rrsig, 1);
	CHECK_EQ(nsec, 0);
	CHECK_EQ(rd16(out + 6), 3);
	CHECK_EQ(rd16(out + 8), 1);

	/* Nothing to take out: the bytes as they are, trailing ones cut. */
	header(&m, 0, QR | RD | RA, 1, 1, 0, 0);
	question(&m, "www.example.", 1, 1);
	a_record(&m, 0x01020304);
	n = m.len;
	put32(&m, 0);
	CHECK_EQ(dnsmsg_strip_dnssec(m.buf, m.len, out, sizeof(out), 1), n);
	CHECK(memcmp(out, m.buf, n) == 0);
	CHECK_EQ(dnsmsg_strip_dnssec(m.buf, m.len, out, n - 1, 1), 0);

	/* Malformed: a record past the end, a bad name in an MX after a
	 * record taken out, a short header, no message. */
	CHECK_EQ(dnsmsg_strip_dnssec(m.buf, n - 1, out, sizeof(out), 1), 0);
	strip_answer(&m, 0);
	m.buf[m.len - 11 - 2] = 0xff;		/* MX target: a pointer */
	m.buf[m.len - 11 - 1] = 0xff;		/* ... forwards */
	CHECK_EQ(dnsmsg_strip_dnssec(m.buf, m.len, out, sizeof(out), 5), 0);
	CHECK_EQ(dnsmsg_strip_dnssec(m.buf, 11, out, sizeof(out), 5), 0);
	CHECK_EQ(dnsmsg_strip_dnssec(NULL, 0, out, sizeof(out), 5), 0);
}

/*
 * A validated answer with what the validator does not judge: an NS set
 * (and its RRSIG) in the authority section whose target the SOA and the
 * glue in the additional section point into; the SOA, the NSEC and the
 * SOA's RRSIG stay.  flags: the header's.
 */
static void
clean_answer(struct msg *m, unsigned flags)
{
	size_t ns, at;

	header(m, 0, QR | RD | RA | flags, 1, 2, 5, 2);
	question(m, "www.example.", 1, 1);
	a_record(m, 0x01020304);
	rr_head(m, 12, NULL, DNS_TYPE_RRSIG, 300);	/* www RRSIG A */
	rrsig_rdata(m, 1);
	rr_head(m, 16, NULL, 2, 300);			/* example. NS */
	at = rdlen_begin(m);
	ns = m->len;
	name(m, "ns.example.");
	rdlen_end(m, at);
	rr_head(m, 16, NULL, DNS_TYPE_RRSIG, 300);	/* RRSIG NS */
	rrsig_rdata(m, 2);
	rr_head(m, 16, NULL, DNS_TYPE_SOA, 900);	/* SOA ns. host. */
	at = rdlen_begin(m);
	put16(m, 0xc000 | (unsigned)ns);
	put8(m, 10);
	putbytes(m, "hostmaster", 10);
	put16(m, 0xc000 | 16);
	soa_numbers(m);
	rdlen_end(m, at);
	rr_head(m, 16, NULL, DNS_TYPE_RRSIG, 900);	/* RRSIG SOA */
	rrsig_rdata(m, DNS_TYPE_SOA);
	rr_head(m, 16, NULL, DNS_TYPE_NSEC, 900);	/* NSEC zzz. */
	at = rdlen_begin(m);
	name(m, "zzz.example.");
	put8(m, 0);
	put8(m, 1);
	put8(m, 0x22);
	rdlen_end(m, at);
	rr_head(m, (unsigned)ns, NULL, 1, 300);		/* glue */
	put16(m, 4);
	put32(m, 0x06060606);
}

/* What a client with DO (rrsigs) or without gets of clean_answer(). */
static void
clean_expected(struct msg *m, unsigned flags, int rrsigs)
{
	size_t at;

	header(m, 0, QR | RD | RA | flags, 1, rrsigs ? 2 : 1,
	    rrsigs ? 3 : 1, 1);
	question(m, "www.example.", 1, 1);
	a_record(m, 0x01020304);
	if (rrsigs) {
		rr_head(m, 12, NULL, DNS_TYPE_RRSIG, 300);
		rrsig_rdata(m, 1);
	}
	rr_head(m, 0, "example.", DNS_TYPE_SOA, 900);
	at = rdlen_begin(m);
	name(m, "ns.example.");
	name(m, "hostmaster.example.");
	soa_numbers(m);
	rdlen_end(m, at);
	if (rrsigs) {
		rr_head(m, 0, "example.", DNS_TYPE_RRSIG, 900);
		rrsig_rdata(m, DNS_TYPE_SOA);
		rr_head(m, 0, "example.", DNS_TYPE_NSEC, 900);
		at = rdlen_begin(m);
		name(m, "zzz.example.");
		put8(m, 0);
		put8(m, 1);
		put8(m, 0x22);
		rdlen_end(m, at);
	}
	put_opt(m, 1232, 1);
}

/*
 * A validated answer keeps in its authority section only SOA, NSEC,
 * NSEC3 and their RRSIGs, in its additional section only the OPT; the
 * names after the first record taken out are written whole (the SOA's
 * pointed into the NS set's RDATA); with strip, RFC 4035 3.2.1's rule
 * in the same pass.
 */
static void
test_clean_validated(void)
{
	struct dns_query_info qi;
	struct msg m, want;
	uint8_t out[2048], again[2048];
	size_t n;
	int strip;

	clean_answer(&m, 0x0020);
	put_opt(&m, 1232, 1);
	for (strip = 0; strip < 2; strip++) {
		clean_expected(&want, 0x0020, !strip);
		n = dnsmsg_clean_validated(m.buf, m.len, out, sizeof(out), 1,
		    strip);
		CHECK_EQ(n, want.len);
		CHECK(n == want.len && memcmp(out, want.buf, n) == 0);
		header(&want, 0, RD, 1, 0, 0, 0);
		question(&want, "www.example.", 1, 1);
		CHECK_EQ(parse(&want, &qi), DNS_VERDICT_OK);
		CHECK_EQ(dnsmsg_check_answer(out, n, &qi), 0);
		CHECK_EQ(dnsmsg_clean_validated(m.buf, m.len, out, n, 1,
		    strip), n);
		CHECK_EQ(dnsmsg_clean_validated(m.buf, m.len, out, n - 1, 1,
		    strip), 0);
		/* Clean already: the same bytes. */
		CHECK_EQ(dnsmsg_clean_validated(m.buf, m.len, out, n, 1,
		    strip), n);
		CHECK_EQ(dnsmsg_clean_validated(out, n, again, sizeof(again),
		    1, strip), n);
		CHECK(memcmp(out, again, n) == 0);
	}
	/* strip_dnssec alone keeps the NS set and the glue. */
	n = dnsmsg_strip_dnssec(m.buf, m.len, out, sizeof(out), 1);
	CHECK(n > 0);
	CHECK_EQ(rd16(out + 8), 2);
	CHECK_EQ(rd16(out + 10), 2);

	/* An RRSIG too short to say what it covers goes. */
	clean_answer(&m, 0);
	set16(&m, 10, 0);			/* no additional */
	m.len -= 16;				/* the glue */
	rr_head(&m, 16, NULL, DNS_TYPE_RRSIG, 900);
	put16(&m, 1);
	put8(&m, 0);
	set16(&m, 8, 6);
	n = dnsmsg_clean_validated(m.buf, m.len, out, sizeof(out), 1, 0);
	CHECK(n > 0);
	CHECK_EQ(rd16(out + 8), 3);
	/* Malformed: a short record, a forward pointer after the first
	 * record taken out, no message. */
	CHECK_EQ(dnsmsg_clean_validated(m.buf, m.len - 1, out, sizeof(out),
	    1, 0), 0);
	clean_answer(&m, 0);
	put_opt(&m, 1232, 1);
	m.buf[m.len - 11 - 16 - 3 - 13] = 0xff;	/* NSEC's next name */
	CHECK_EQ(dnsmsg_clean_validated(m.buf, m.len, out, sizeof(out), 1,
	    0), 0);
	CHECK_EQ(dnsmsg_clean_validated(NULL, 0, out, sizeof(out), 1, 0), 0);
}

/*
 * Real signed answers (bind9-utils, tests/dnssec_vectors.h): stripped,
 * each RRset but the RRSIGs and NSECs is what it was, RDATA for RDATA;
 * asked for RRSIG, the signatures are all still there.
 */
static void
test_strip_vectors(void)
{
	static struct dnssec_sets before, after;
	const struct dnssec_rrset *a, *b;
	uint8_t out[DNS_MAX_MSG];
	unsigned rrsig, nsec, nsec3, all, rrsig0, nsec0, nsec30, all0;
	size_t i, j, k, n;

	for (i = 0; i < nitems(vectors); i++) {
		CHECK(count_types(vectors[i].msg, vectors[i].len, &rrsig0,
		    &nsec0, &nsec30, &all0));
		CHECK(rrsig0 > 0);
		n = dnsmsg_strip_dnssec(vectors[i].msg, vectors[i].len, out,
		    sizeof(out), DNS_TYPE_A);
		CHECK(n > 0 && n < vectors[i].len);
		CHECK(count_types(out, n, &rrsig, &nsec, &nsec3, &all));
		CHECK_EQ(rrsig + nsec + nsec3, 0);
		CHECK_EQ(all, all0 - rrsig0 - nsec0 - nsec30);
		CHECK_EQ(dnssec_collect(vectors[i].msg, vectors[i].len,
		    DNS_SEC_ANSWER, &before), DNSSEC_OK);
		CHECK_EQ(dnssec_collect(out, n, DNS_SEC_ANSWER, &after),
		    DNSSEC_OK);
		for (j = 0; j < before.nsets; j++) {
			a = &before.set[j];
			b = dnssec_find(&after, a->owner, a->owner_len,
			    a->type, a->class);
			if (a->type == DNS_TYPE_NSEC ||
			    a->type == DNS_TYPE_NSEC3 || a->n == 0) {
				CHECK(b == NULL);
				continue;
			}
			CHECK(b != NULL);
			if (b == NULL)
				continue;
			CHECK_EQ(b->nsigs, 0);
			CHECK_EQ(b->n, a->n);
			CHECK_EQ(b->ttl, a->ttl);
			for (k = 0; k < a->n && k < b->n; k++)
				CHECK(a->rdlen[k] == b->rdlen[k] &&
				    memcmp(a->rdata[k], b->rdata[k],
				    a->rdlen[k]) == 0);
		}
		/* Asked for RRSIG: each set keeps every signature. */
		n = dnsmsg_strip_dnssec(vectors[i].msg, vectors[i].len, out,
		    sizeof(out), DNS_TYPE_RRSIG);
		CHECK(count_types(out, n, &rrsig, &nsec, &nsec3, &all));
		CHECK_EQ(rrsig, rrsig0);
		CHECK_EQ(all, all0 - nsec0 - nsec30);
		CHECK_EQ(dnssec_collect(out, n, DNS_SEC_ANSWER, &after),
		    DNSSEC_OK);
		for (j = 0; j < before.nsets; j++) {
			a = &before.set[j];
			if (a->type == DNS_TYPE_NSEC)
				continue;
			b = dnssec_find(&after, a->owner, a->owner_len,
			    a->type, a->class);
			CHECK(b != NULL && b->nsigs == a->nsigs);
		}
	}
}

static void
test_set_ad(void)
{
	uint8_t m[DNS_HDR_LEN] = { 0x12, 0x34, 0x81, 0x80 };

	CHECK_EQ(dnsmsg_set_ad(m, sizeof(m), 1), 0);
	CHECK_EQ(rd16(m + 2), 0x81a0);
	CHECK_EQ(dnsmsg_set_ad(m, sizeof(m), 1), 0);
	CHECK_EQ(rd16(m + 2), 0x81a0);
	CHECK_EQ(dnsmsg_set_ad(m, sizeof(m), 0), 0);
	CHECK_EQ(rd16(m + 2), 0x8180);
	CHECK_EQ(rd16(m), 0x1234);
	CHECK_EQ(dnsmsg_set_ad(m, sizeof(m) - 1, 1), -1);
	CHECK_EQ(rd16(m + 2), 0x8180);
}

int
main(void)
{
	test_key_hash();
	test_valid_query();
	test_edns_sizes();
	test_bad_queries();
	test_badvers();
	test_check_answer();
	test_make_error();
	test_truncate();
	test_tcp_frame();
	test_name_text();
	test_name_from_text();
	test_rd_rr();
	test_type_names();
	test_reader();
	test_writer();
	test_make_query();
	test_upstream_query();
	test_rewrite_answer();
	test_make_error_ede();
	test_add_ede();
	test_cap_ttl();
	test_strip_dnssec();
	test_strip_vectors();
	test_clean_validated();
	test_set_ad();
	return check_summary();
}
