/*
 * Unit tests for dnsmsg: queries, answers, error synthesis, truncation,
 * TCP framing and name printing, on messages built byte by byte here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "check.h"
#include "wire.h"

#define QR	0x8000
#define TC	0x0200
#define RD	0x0100
#define RA	0x0080
#define CD	0x0010

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

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

static void
opt(struct msg *m, unsigned size, int do_bit)
{
	put8(m, 0);
	put16(m, DNS_TYPE_OPT);
	put16(m, size);
	put32(m, do_bit ? 0x8000 : 0);
	put16(m, 0);
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
	m->buf[off] = (v >> 8) & 0xff;
	m->buf[off + 1] = v & 0xff;
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

static void
a_query(struct msg *m, unsigned id, int edns, unsigned size, int do_bit)
{
	header(m, id, RD, 1, 0, 0, edns ? 1 : 0);
	question(m, "www.example.com.", 1, DNS_CLASS_IN);
	if (edns)
		opt(m, size, do_bit);
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
	CHECK_EQ(parse(&m, &qi), DNS_VERDICT_OK);
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
	opt(&m, 1232, 0);
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
	opt(m, 1232, 1);
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
	CHECK_EQ(get16(out + 2), QR | RD | CD | RA | DNS_RCODE_FORMERR);
	CHECK_EQ(dnsmsg_rcode(out), DNS_RCODE_FORMERR);
	CHECK_EQ(get16(out + 4), 1);
	CHECK_EQ(get16(out + 6), 0);
	CHECK_EQ(get16(out + 8), 0);
	CHECK_EQ(get16(out + 10), 1);
	CHECK(memcmp(out + 12, q.buf + 12, 17 + 4) == 0);
	CHECK_EQ(out[33], 0);				/* root owner */
	CHECK_EQ(get16(out + 34), DNS_TYPE_OPT);
	CHECK_EQ(get16(out + 36), DNS_EDNS_DEFAULT_MAX);
	CHECK_EQ(get16(out + 38), 0);
	CHECK_EQ(get16(out + 40), 0x8000);		/* DO */
	CHECK_EQ(get16(out + 42), 0);
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
	CHECK_EQ(get16(out + 2), QR | RD | RA | DNS_RCODE_SERVFAIL);
	CHECK_EQ(get16(out + 10), 0);
	CHECK_EQ(dnsmsg_check_answer(out, n, &qi), 0);

	/* DO clear stays clear. */
	a_query(&q, 1, 1, 1232, 0);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_OK);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_REFUSED);
	CHECK_EQ(n, 44);
	CHECK_EQ(get16(out + 40), 0);
	CHECK_EQ(dnsmsg_rcode(out), DNS_RCODE_REFUSED);

	/* No question read: header only, QDCOUNT 0. */
	a_query(&q, 0x5555, 0, 0, 0);
	set16(&q, 4, 0);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_FORMERR);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_FORMERR);
	CHECK_EQ(n, 12);
	CHECK_EQ(dnsmsg_get_id(out), 0x5555);
	CHECK_EQ(get16(out + 4), 0);
	CHECK_EQ(dnsmsg_make_error(out, 11, &qi, 1), 0);

	/* NOTIMP keeps the opcode. */
	a_query(&q, 3, 0, 0, 0);
	set16(&q, 2, 4 << 11);
	CHECK_EQ(parse(&q, &qi), DNS_VERDICT_NOTIMP);
	n = dnsmsg_make_error(out, sizeof(out), &qi, DNS_RCODE_NOTIMP);
	CHECK_EQ(n, 12 + 17 + 4);
	CHECK_EQ(get16(out + 2), QR | 4 << 11 | RA | DNS_RCODE_NOTIMP);

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
		opt(m, 1232, 1);
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
	CHECK_EQ(get16(m.buf + 2), QR | RD | RA | TC);
	CHECK_EQ(get16(m.buf + 4), 1);
	CHECK_EQ(get16(m.buf + 6), 0);
	CHECK_EQ(get16(m.buf + 8), 0);
	CHECK_EQ(get16(m.buf + 10), 1);
	CHECK(memcmp(m.buf + 12, orig.buf + 12, 21) == 0);
	CHECK_EQ(m.buf[33], 0);
	CHECK_EQ(get16(m.buf + 34), DNS_TYPE_OPT);
	CHECK_EQ(get16(m.buf + 40), 0x8000);
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
	CHECK_EQ(get16(m.buf + 2), QR | RD | RA | TC);
	CHECK_EQ(get16(m.buf + 6), 0);
	CHECK_EQ(get16(m.buf + 10), 0);
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
test_name_str(void)
{
	struct dns_query_info qi;
	char buf[64];
	static const uint8_t odd[] = "\4a.b\\\3\x01 \x7f\2\xff" "A";

	memset(&qi, 0, sizeof(qi));
	strcpy(buf, "junk");
	dnsmsg_name_str(&qi, buf, sizeof(buf));
	CHECK_STR(buf, "");			/* no question read */

	qi.qname_len = 1;
	dnsmsg_name_str(&qi, buf, sizeof(buf));
	CHECK_STR(buf, ".");

	memcpy(qi.qname, "\3www\7Example\3com", 17);
	qi.qname_len = 17;
	dnsmsg_name_str(&qi, buf, sizeof(buf));
	CHECK_STR(buf, "www.Example.com.");

	/* Too small: cut at a whole character, always terminated. */
	dnsmsg_name_str(&qi, buf, 5);
	CHECK_STR(buf, "www.");
	dnsmsg_name_str(&qi, buf, 1);
	CHECK_STR(buf, "");
	buf[0] = 'x';
	dnsmsg_name_str(&qi, buf, 0);
	CHECK_EQ(buf[0], 'x');

	memcpy(qi.qname, odd, sizeof(odd));
	qi.qname_len = sizeof(odd);
	dnsmsg_name_str(&qi, buf, sizeof(buf));
	CHECK_STR(buf, "a\\.b\\\\.\\001\\032\\127.\\255A.");
	/* An escape is never cut in half. */
	dnsmsg_name_str(&qi, buf, 10);
	CHECK_STR(buf, "a\\.b\\\\.");
}

int
main(void)
{
	test_valid_query();
	test_edns_sizes();
	test_bad_queries();
	test_check_answer();
	test_make_error();
	test_truncate();
	test_tcp_frame();
	test_name_str();
	return check_summary();
}
