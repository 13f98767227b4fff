/*
 * Unit tests for dnsprint: every record type's presentation form, the
 * RFC 3597 fallback, the three output forms, malformed messages and the
 * bounded buffer, on messages built byte by byte here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsprint.h"
#include "check.h"
#include "wire.h"

#define QR	0x8000
#define AA	0x0400
#define RD	0x0100
#define RA	0x0080
#define CD	0x0010

/* "www.example" as labels, no compression. */
static void
putname(struct msg *m, const char *name)
{
	const char *p = name, *dot;
	size_t n;

	while (*p != '\0') {
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		put8(m, (unsigned)n);
		putbytes(m, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
	put8(m, 0);
}

static void
header(struct msg *m, unsigned flags, unsigned qd, unsigned an, unsigned ns,
    unsigned ar)
{
	m->len = 0;
	put16(m, 0);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* Record header with a pointer to the question name at offset 12. */
static size_t
rrhead(struct msg *m, unsigned type, uint32_t ttl)
{
	put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1);
	put32(m, ttl);
	put16(m, 0);		/* rdlength, patched by rrend */
	return m->len;
}

static void
rrend(struct msg *m, size_t start)
{
	size_t n = m->len - start;

	wr16(m->buf + start - 2, (uint16_t)n);
}

/* The rdata of one record, printed alone into a buffer. */
static char out[65536], out2[65536];

static const char *
rdata(struct msg *m, size_t start, unsigned type)
{
	struct dnsprint_out o;

	dnsprint_out_buf(&o, out, sizeof(out));
	dnsprint_rdata(&o, m->buf, m->len, start, (uint16_t)(m->len - start),
	    (uint16_t)type);
	return out;
}

/* A message with the question www.example. IN A and nothing else yet. */
static void
question(struct msg *m, unsigned an)
{
	header(m, QR | RD | RA, 1, an, 0, 0);
	putname(m, "www.example");
	put16(m, 1);
	put16(m, 1);
}

static void
test_basic_types(void)
{
	struct msg m;
	size_t s;
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 1 };

	question(&m, 1);
	s = rrhead(&m, 1, 300);
	putbytes(&m, "\xc0\x00\x02\x01", 4);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 1), "192.0.2.1");

	question(&m, 1);
	s = rrhead(&m, 28, 300);
	putbytes(&m, v6, 16);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 28), "2001:db8::1");

	/* A name that points back at the question. */
	question(&m, 1);
	s = rrhead(&m, 5, 300);
	put8(&m, 5);
	putbytes(&m, "alias", 5);
	put16(&m, 0xc00c);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 5), "alias.www.example.");
	CHECK_STR(rdata(&m, s, 2), "alias.www.example.");
	CHECK_STR(rdata(&m, s, 12), "alias.www.example.");

	question(&m, 1);
	s = rrhead(&m, 6, 300);
	putname(&m, "ns.example");
	put8(&m, 11);		/* one label with a dot in it */
	putbytes(&m, "host.master", 11);
	putname(&m, "example");
	put32(&m, 2024010101);
	put32(&m, 3600);
	put32(&m, 600);
	put32(&m, 86400);
	put32(&m, 300);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 6), "ns.example. host\\.master.example. "
	    "2024010101 3600 600 86400 300");

	question(&m, 1);
	s = rrhead(&m, 15, 300);
	put16(&m, 10);
	putname(&m, "mx.example");
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 15), "10 mx.example.");

	question(&m, 1);
	s = rrhead(&m, 33, 300);
	put16(&m, 1);
	put16(&m, 5);
	put16(&m, 443);
	put8(&m, 0);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 33), "1 5 443 .");
}

static void
test_txt_caa(void)
{
	struct msg m;
	size_t s;

	question(&m, 1);
	s = rrhead(&m, 16, 300);
	put8(&m, 11);
	putbytes(&m, "hello world", 11);
	put8(&m, 6);
	putbytes(&m, "q\"b\\\x01\xff", 6);
	put8(&m, 0);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 16), "\"hello world\" \"q\\\"b\\\\\\001\\255\" "
	    "\"\"");

	/* A length running past the rdata: RFC 3597 instead. */
	question(&m, 1);
	s = rrhead(&m, 16, 300);
	put8(&m, 5);
	putbytes(&m, "abc", 3);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 16), "\\# 4 05616263");

	question(&m, 1);
	s = rrhead(&m, 257, 300);
	put8(&m, 128);
	put8(&m, 5);
	putbytes(&m, "issue", 5);
	putbytes(&m, "ca.example; x=\"1\"", 17);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 257), "128 issue \"ca.example; x=\\\"1\\\"\"");

	/* A tag that is not alphanumeric. */
	question(&m, 1);
	s = rrhead(&m, 257, 300);
	put8(&m, 0);
	put8(&m, 2);
	putbytes(&m, "a ", 2);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 257), "\\# 4 00026120");
}

static void
test_dnssec_types(void)
{
	struct msg m;
	size_t s;

	question(&m, 1);
	s = rrhead(&m, 43, 300);
	put16(&m, 12345);
	put8(&m, 13);
	put8(&m, 2);
	putbytes(&m, "\xab\xcd\xef\x01", 4);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 43), "12345 13 2 ABCDEF01");

	question(&m, 1);
	s = rrhead(&m, 48, 300);
	put16(&m, 257);
	put8(&m, 3);
	put8(&m, 13);
	putbytes(&m, "hello", 5);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 48), "257 3 13 aGVsbG8=");

	question(&m, 1);
	s = rrhead(&m, 46, 300);
	put16(&m, 1);		/* covers A */
	put8(&m, 13);
	put8(&m, 2);
	put32(&m, 3600);
	put32(&m, 1700000000);	/* 2023-11-14 22:13:20 UTC */
	put32(&m, 1699000000);	/* 2023-11-03 08:26:40 UTC */
	put16(&m, 4242);
	putname(&m, "example");
	putbytes(&m, "sig", 3);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 46), "A 13 2 3600 20231114221320 "
	    "20231103082640 4242 example. c2ln");

	/* NSEC: A NS SOA RRSIG NSEC DNSKEY in window 0, CAA in window 1. */
	question(&m, 1);
	s = rrhead(&m, 47, 300);
	putname(&m, "next.example");
	put8(&m, 0);
	put8(&m, 7);
	putbytes(&m, "\x62\x00\x00\x00\x00\x03\x80", 7);
	put8(&m, 1);
	put8(&m, 1);
	put8(&m, 0x40);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 47), "next.example. A NS SOA RRSIG NSEC "
	    "DNSKEY CAA");

	/* Windows out of order: RFC 3597 instead. */
	question(&m, 1);
	s = rrhead(&m, 47, 300);
	put8(&m, 0);
	put8(&m, 1);
	put8(&m, 1);
	put8(&m, 0x40);
	put8(&m, 0);
	put8(&m, 1);
	put8(&m, 0x40);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 47), "\\# 7 00010140000140");
}

static void
test_svcb(void)
{
	struct msg m;
	size_t s;
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0x53 };

	question(&m, 1);
	s = rrhead(&m, 65, 300);
	put16(&m, 1);
	put8(&m, 0);		/* target "." */
	put16(&m, 0);		/* mandatory=alpn,port */
	put16(&m, 4);
	put16(&m, 1);
	put16(&m, 3);
	put16(&m, 1);		/* alpn="h2,h3" */
	put16(&m, 6);
	putbytes(&m, "\x02h2\x02h3", 6);
	put16(&m, 2);		/* no-default-alpn */
	put16(&m, 0);
	put16(&m, 3);		/* port=8443 */
	put16(&m, 2);
	put16(&m, 8443);
	put16(&m, 4);		/* ipv4hint */
	put16(&m, 8);
	putbytes(&m, "\xc0\x00\x02\x01\xc0\x00\x02\x02", 8);
	put16(&m, 5);		/* ech */
	put16(&m, 3);
	putbytes(&m, "ech", 3);
	put16(&m, 6);		/* ipv6hint */
	put16(&m, 16);
	putbytes(&m, v6, 16);
	put16(&m, 7);		/* dohpath */
	put16(&m, 16);
	putbytes(&m, "/dns-query{?dns}", 16);
	put16(&m, 667);		/* key667="x y" */
	put16(&m, 3);
	putbytes(&m, "x y", 3);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 65), "1 . mandatory=alpn,port alpn=\"h2,h3\" "
	    "no-default-alpn port=8443 ipv4hint=192.0.2.1,192.0.2.2 "
	    "ech=ZWNo ipv6hint=2001:db8::53 dohpath=\"/dns-query{?dns}\" "
	    "key667=\"x y\"");

	/* AliasMode, as SVCB, with a target name. */
	question(&m, 1);
	s = rrhead(&m, 64, 300);
	put16(&m, 0);
	putname(&m, "svc.example");
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 64), "0 svc.example.");

	/* A port of the wrong size. */
	question(&m, 1);
	s = rrhead(&m, 65, 300);
	put16(&m, 1);
	put8(&m, 0);
	put16(&m, 3);
	put16(&m, 1);
	put8(&m, 1);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 65), "\\# 8 0001000003000101");
}

static void
test_generic(void)
{
	struct msg m;
	size_t s;

	/* An unknown type, a known one without a format, empty rdata. */
	question(&m, 1);
	s = rrhead(&m, 65280, 300);
	putbytes(&m, "\x0a\x00\x00\x01", 4);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 65280), "\\# 4 0A000001");
	CHECK_STR(rdata(&m, s, 29), "\\# 4 0A000001");
	question(&m, 1);
	s = rrhead(&m, 1, 300);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 1), "\\# 0");
	/* An A record of 5 bytes. */
	question(&m, 1);
	s = rrhead(&m, 1, 300);
	putbytes(&m, "\x01\x02\x03\x04\x05", 5);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 1), "\\# 5 0102030405");
	/* A name pointing forward, or at itself. */
	question(&m, 1);
	s = rrhead(&m, 5, 300);
	put16(&m, 0xc000 | (unsigned)(m.len + 2));
	put8(&m, 0);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 5), "\\# 3 C02B00");
	question(&m, 1);
	s = rrhead(&m, 5, 300);
	put16(&m, 0xc000 | (unsigned)m.len);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 5), "\\# 2 C029");
	/* Trailing bytes after a complete MX. */
	question(&m, 1);
	s = rrhead(&m, 15, 300);
	put16(&m, 1);
	put8(&m, 0);
	put8(&m, 7);
	rrend(&m, s);
	CHECK_STR(rdata(&m, s, 15), "\\# 4 00010007");
}

/*
 * www.example. A: CNAME to alias, A 192.0.2.1; SOA in authority; OPT
 * with DO, padding, an EDE and an extended rcode of 0.
 */
static void
full_answer(struct msg *m)
{
	size_t s;

	header(m, QR | RD | RA | CD, 1, 2, 1, 1);
	m->buf[0] = 0x12;
	m->buf[1] = 0x34;
	putname(m, "www.example");
	put16(m, 1);
	put16(m, 1);
	s = rrhead(m, 5, 300);
	put8(m, 5);
	putbytes(m, "alias", 5);
	put16(m, 0xc00c);
	rrend(m, s);
	/* alias.www.example. A, pointing at the CNAME's rdata. */
	put16(m, 0xc000 | (unsigned)s);
	put16(m, 1);
	put16(m, 1);
	put32(m, 60);
	put16(m, 4);
	putbytes(m, "\xc0\x00\x02\x01", 4);
	s = rrhead(m, 6, 3600);
	putname(m, "ns");
	putname(m, "h\"m");
	put32(m, 1);
	put32(m, 2);
	put32(m, 3);
	put32(m, 4);
	put32(m, 5);
	rrend(m, s);
	put8(m, 0);		/* OPT */
	put16(m, 41);
	put16(m, 1232);
	put32(m, 0x00008000);
	put16(m, 8 + 7);
	put16(m, 15);		/* EDE 18 "no" */
	put16(m, 4);
	put16(m, 18);
	putbytes(m, "no", 2);
	put16(m, 12);		/* PADDING, 3 bytes */
	put16(m, 3);
	putbytes(m, "\0\0\0", 3);
}

static void
test_text(void)
{
	struct msg m;
	struct dnsprint_out o;
	char err[128];

	full_answer(&m);
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_TEXT, m.buf, m.len, err,
	    sizeof(err)), 0);
	CHECK(strstr(out, ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, "
	    "id: 4660\n") != NULL);
	CHECK(strstr(out, ";; flags: qr rd ra cd; QUERY: 1, ANSWER: 2, "
	    "AUTHORITY: 1, ADDITIONAL: 1\n") != NULL);
	CHECK(strstr(out, "; EDNS: version: 0, flags: do; udp: 1232\n") !=
	    NULL);
	CHECK(strstr(out, "; EDE: 18 (Prohibited): \"no\"\n") != NULL);
	CHECK(strstr(out, "; PADDING: 3 bytes\n") != NULL);
	CHECK(strstr(out, ";; QUESTION SECTION:\n;www.example.\t") != NULL);
	CHECK(strstr(out, "www.example.\t\t300\tIN\tCNAME\talias.www.example."
	    "\n") != NULL);
	CHECK(strstr(out, "alias.www.example.\t60\tIN\tA\t192.0.2.1\n") !=
	    NULL);
	CHECK(strstr(out, ";; AUTHORITY SECTION:\n") != NULL);
	CHECK(strstr(out, "SOA\tns. h\\\"m. 1 2 3 4 5\n") != NULL);
	/* The OPT record is the pseudosection, not an additional record. */
	CHECK(strstr(out, ";; ADDITIONAL SECTION:") == NULL);
	/* How the message came is dohq_out's to say, not dnsprint's. */
	CHECK(strstr(out, ";; MSG SIZE") == NULL);
	CHECK(strstr(out, ";; SERVER") == NULL);

	/* Extended rcode 1 with header rcode 0 is BADVERS (16). */
	m.buf[m.len - 15 - 2 - 4] = 1;
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_TEXT, m.buf, m.len, NULL, 0),
	    0);
	CHECK(strstr(out, "status: BADVERS,") != NULL);
}

/* One section's records, as the text form prints them (dohq --validate). */
static void
test_section(void)
{
	struct msg m;
	struct dnsprint_out o;

	full_answer(&m);
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_section(&o, m.buf, m.len, DNS_SEC_ANSWER), 2);
	CHECK_STR(out, "www.example.\t\t300\tIN\tCNAME\talias.www.example."
	    "\nalias.www.example.\t60\tIN\tA\t192.0.2.1\n");
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_section(&o, m.buf, m.len, DNS_SEC_AUTHORITY), 1);
	CHECK(strstr(out, "SOA\tns. h\\\"m. 1 2 3 4 5\n") != NULL);
	/* The OPT record is no record of the section. */
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_section(&o, m.buf, m.len, DNS_SEC_ADDITIONAL), 0);
	CHECK_STR(out, "");
	CHECK_EQ(dnsprint_section(&o, m.buf, m.len, DNS_SEC_QUESTION), -1);
	CHECK_EQ(dnsprint_section(&o, m.buf, m.len, DNS_SEC_MAX), -1);
	/* Cut inside the authority section: the answer is still whole. */
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_section(&o, m.buf, m.len - 30, DNS_SEC_ANSWER), 2);
	CHECK_EQ(dnsprint_section(&o, m.buf, m.len - 30, DNS_SEC_AUTHORITY),
	    -1);
	CHECK_EQ(dnsprint_section(&o, m.buf, 5, DNS_SEC_ANSWER), -1);

	CHECK_STR(dnsprint_ede_name(6), "DNSSEC Bogus");
	CHECK_STR(dnsprint_ede_name(22), "No Reachable Authority");
	CHECK(dnsprint_ede_name(-1) == NULL);
	CHECK(dnsprint_ede_name(4000) == NULL);
}

static void
test_short(void)
{
	struct msg m;
	struct dnsprint_out o;

	full_answer(&m);
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_SHORT, m.buf, m.len, NULL, 0),
	    0);
	CHECK_STR(out, "alias.www.example.\n192.0.2.1\n");
}

static void
test_json(void)
{
	struct msg m;
	struct dnsprint_out o;
	const char *want;
	int first = 1;

	full_answer(&m);
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_JSON, m.buf, m.len, NULL, 0), 0);
	want = "{\"msg_size\":";
	CHECK(strncmp(out, want, strlen(want)) == 0);
	CHECK(strstr(out, "\"id\":4660,\"opcode\":\"QUERY\",\"status\":"
	    "\"NOERROR\",\"rcode\":0,\"flags\":[\"qr\",\"rd\",\"ra\",\"cd\"],"
	    "\"question\":[{\"name\":\"www.example.\",\"class\":\"IN\","
	    "\"type\":\"A\"}],\"answer\":[{\"name\":\"www.example.\","
	    "\"ttl\":300,\"class\":\"IN\",\"type\":\"CNAME\",\"data\":"
	    "\"alias.www.example.\"},{") != NULL);
	CHECK(strstr(out, "\"data\":\"ns. h\\\\\\\"m. 1 2 3 4 5\"}]") != NULL);
	CHECK(strstr(out, "\"additional\":[],\"edns\":{\"version\":0,"
	    "\"udp_size\":1232,\"flags\":[\"do\"],\"extended_rcode\":0,"
	    "\"options\":[{\"code\":15,\"name\":\"EDE\",\"length\":4,"
	    "\"data\":\"18 (Prohibited): \\\"no\\\"\"},{\"code\":12,"
	    "\"name\":\"PADDING\",\"length\":3,\"data\":\"3 bytes\"}]}}\n") !=
	    NULL);
	CHECK(strstr(out, "malformed") == NULL);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);

	/* The members alone, in a caller's own braces: the same bytes. */
	dnsprint_out_buf(&o, out2, sizeof(out2));
	dnsprint_puts(&o, "{");
	CHECK_EQ(dnsprint_json_members(&o, &first, m.buf, m.len, NULL, 0), 0);
	dnsprint_puts(&o, "}\n");
	CHECK_EQ(first, 0);
	CHECK_STR(out2, out);
}

static void
test_malformed(void)
{
	struct msg m;
	struct dnsprint_out o;
	char err[128];
	size_t full;

	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_JSON, (const uint8_t *)"\0\0\0", 3,
	    err, sizeof(err)), -1);
	CHECK_STR(err, "shorter than a DNS header");
	CHECK_STR(out, "{\"msg_size\":3,\"malformed\":"
	    "\"shorter than a DNS header\"}\n");

	/* The A record cut short: sections so far, then the reason. */
	full_answer(&m);
	full = m.len;
	m.len = 12 + 17 + 12 + 9 + 14;
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_JSON, m.buf, m.len, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "record data past the end (answer section, record 2 "
	    "of 2)");
	CHECK(strstr(out, "\"type\":\"CNAME\"") != NULL);
	CHECK(strstr(out, "\"authority\":[],\"additional\":[],\"malformed\":"
	    "\"record data past the end (answer section, record 2 of 2)\"}\n")
	    != NULL);
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_TEXT, m.buf, m.len, NULL, 0),
	    -1);
	CHECK(strstr(out, ";; MALFORMED MESSAGE: record data past the end") !=
	    NULL);
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_SHORT, m.buf, m.len, NULL, 0),
	    -1);
	CHECK_STR(out, "alias.www.example.\n");

	/* Counts larger than the records: malformed, nothing invented. */
	m.len = full;
	m.buf[7] = 200;
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_TEXT, m.buf, m.len, err,
	    sizeof(err)), -1);
	/* A question name pointing at itself. */
	header(&m, QR, 1, 0, 0, 0);
	put16(&m, 0xc00c);
	put16(&m, 1);
	put16(&m, 1);
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_TEXT, m.buf, m.len, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "bad owner name (question section, record 1 of 1)");
	/* Bytes after the last record are not an error. */
	question(&m, 0);
	put8(&m, 0);
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_TEXT, m.buf, m.len, err,
	    sizeof(err)), 0);
}

static void
test_bounded(void)
{
	struct msg m;
	struct dnsprint_out o;
	char small[40];
	char *exact;
	size_t need;

	full_answer(&m);
	memset(small, 'x', sizeof(small));
	dnsprint_out_buf(&o, small, 20);
	CHECK_EQ(dnsprint_msg(&o, DNSPRINT_TEXT, m.buf, m.len, NULL, 0),
	    0);
	need = dnsprint_out_len(&o);
	CHECK(need > 100);
	CHECK_EQ(strlen(small), 19);
	CHECK_EQ(small[20], 'x');
	/* Exactly enough room gives the whole text. */
	if ((exact = malloc(need + 1)) == NULL)
		abort();
	dnsprint_out_buf(&o, exact, need + 1);
	dnsprint_msg(&o, DNSPRINT_TEXT, m.buf, m.len, NULL, 0);
	CHECK_EQ(strlen(exact), need);
	CHECK(strncmp(exact, small, 19) == 0);
	free(exact);
	dnsprint_out_buf(&o, NULL, 0);
	dnsprint_msg(&o, DNSPRINT_JSON, m.buf, m.len, NULL, 0);
	CHECK(dnsprint_out_len(&o) > 100);
	dnsprint_out_buf(&o, small, 1);
	dnsprint_msg(&o, DNSPRINT_SHORT, m.buf, m.len, NULL, 0);
	CHECK_EQ(small[0], '\0');
}

static void
test_json_str(void)
{
	struct dnsprint_out o;

	dnsprint_out_buf(&o, out, sizeof(out));
	dnsprint_json_str(&o, "a\"b\\c\n\x01\xc3\xa9");
	CHECK_STR(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u00c3\\u00a9\"");
}

int
main(void)
{
	test_basic_types();
	test_txt_caa();
	test_dnssec_types();
	test_svcb();
	test_generic();
	test_text();
	test_section();
	test_short();
	test_json();
	test_malformed();
	test_bounded();
	test_json_str();
	return check_summary();
}
