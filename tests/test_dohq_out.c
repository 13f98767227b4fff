/*
 * Unit tests for dohq_out, dohq's report around the message: TLS, server,
 * HTTP status and headers, times, and the JSON object of a failed query.
 * The expected bytes are what dohq printed before this report moved out
 * of dnsprint: dohq's output must not change.  And --validate's report:
 * the verdict in delv's words, the records, the chain.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dohq_out.h"
#include "check.h"

/* www.example. A 192.0.2.1, EDNS with DO; 56 bytes. */
static const uint8_t answer[] = {
	0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1,
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
	0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 1,
	0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0,
};
static const char headers[] = ":status: 200\ncontent-type: "
    "application/dns-message\ncontent-length: 56\n";
static const char odd_headers[] = "x-empty:\nnovalue\nx-tab:\t\"q\"\\ z\n"
    "last: no newline";

/* dnsprint's part: the message, as text and as JSON members. */
#define MSG_TEXT \
    ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4660\n" \
    ";; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, " \
    "ADDITIONAL: 1\n\n" \
    ";; OPT PSEUDOSECTION:\n" \
    "; EDNS: version: 0, flags: do; udp: 1232\n\n" \
    ";; QUESTION SECTION:\n" \
    ";www.example.\t\t\tIN\tA\n\n" \
    ";; ANSWER SECTION:\n" \
    "www.example.\t\t300\tIN\tA\t192.0.2.1\n"
#define MSG_JSON \
    "\"msg_size\":56,\"id\":4660,\"opcode\":\"QUERY\"," \
    "\"status\":\"NOERROR\",\"rcode\":0," \
    "\"flags\":[\"qr\",\"rd\",\"ra\"]," \
    "\"question\":[{\"name\":\"www.example.\",\"class\":\"IN\"," \
    "\"type\":\"A\"}],\"answer\":[{\"name\":\"www.example.\"," \
    "\"ttl\":300,\"class\":\"IN\",\"type\":\"A\"," \
    "\"data\":\"192.0.2.1\"}],\"authority\":[],\"additional\":[]," \
    "\"edns\":{\"version\":0,\"udp_size\":1232,\"flags\":[\"do\"]," \
    "\"extended_rcode\":0,\"options\":[]}}\n"
#define TIMING \
    ";; TIMING:\n" \
    ";\tbootstrap resolution:   1 ms\n" \
    ";\tTCP connect:            2 ms\n" \
    ";\tTLS handshake:          3 ms\n" \
    ";\trequest to first byte:  4 ms\n" \
    ";\ttotal:                  5 ms\n"

static const char want_text_full[] =
    ";; TLS: TLSv1.3, cipher TLS_AES_128_GCM_SHA256,"
    " ALPN h2, resumed\n"
    ";; Certificate subject: CN=doh \"test\"\n"
    ";; Certificate issuer: CN=Test CA\n"
    ";; Certificate valid: 2026-01-01T00:00:00Z to 2027-01-01T00:00:00Z\n"
    MSG_TEXT
    "\n"
    ";; Query time: 7 msec\n"
    ";; SERVER: https://doh.example/dns-query (192.0.2.53#443)\n"
    ";; HTTP status: 200\n"
    ";; HTTP headers:\n"
    ";\t:status: 200\n"
    ";\tcontent-type: application/dns-message\n"
    ";\tcontent-length: 56\n"
    ";; MSG SIZE  rcvd: 56\n"
    TIMING;

static const char want_json_full[] =
    "{\"server\":\"https://doh.example/dns-query\","
    "\"server_address\":\"192.0.2.53#443\",\"http_status\":200,"
    "\"query_time_ms\":7,\"http_headers\":[{\"name\":\":status\","
    "\"value\":\"200\"},{\"name\":\"content-type\","
    "\"value\":\"application/dns-message\"},{\"name\":\"content-length\","
    "\"value\":\"56\"}],\"tls\":{\"version\":\"TLSv1.3\","
    "\"cipher\":\"TLS_AES_128_GCM_SHA256\",\"alpn\":\"h2\","
    "\"resumed\":true,\"subject\":\"CN=doh \\\"test\\\"\","
    "\"issuer\":\"CN=Test CA\",\"not_before\":\"2026-01-01T00:00:00Z\","
    "\"not_after\":\"2027-01-01T00:00:00Z\"},\"timing\":{\"bootstrap_ms\":1,"
    "\"connect_ms\":2,\"tls_handshake_ms\":3,\"first_byte_ms\":4,"
    "\"total_ms\":5}," MSG_JSON;

static const char want_short_timing[] =
    "192.0.2.1\n"
    TIMING;

static const char want_text_none[] =
    MSG_TEXT
    "\n"
    ";; MSG SIZE  rcvd: 56\n";

static const char want_json_none[] =
    "{" MSG_JSON;

static const char want_text_bad[] =
    ";; ->>HEADER<<- opcode: QUERY, status: NOERROR,"
    " id: 4660\n"
    ";; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0,"
    " ADDITIONAL: 1\n"
    "\n"
    ";; MALFORMED MESSAGE: bad owner name (question section,"
    " record 1 of 1)\n"
    "\n"
    ";; SERVER: https://doh.example/dns-query\n"
    ";; HTTP headers:\n"
    ";\tx-empty:\n"
    ";\tnovalue\n"
    ";\tx-tab:\t\"q\"\\ z\n"
    ";\tlast: no newline\n"
    ";; MSG SIZE  rcvd: 20\n";

static const char want_json_bad[] =
    "{\"server\":\"https://doh.example/dns-query\","
    "\"http_headers\":[{\"name\":\"x-empty\",\"value\":\"\"},"
    "{\"name\":\"novalue\",\"value\":\"\"},{\"name\":\"x-tab\","
    "\"value\":\"\\u0009\\\"q\\\"\\\\ z\"},{\"name\":\"last\","
    "\"value\":\"no newline\"}],\"msg_size\":20,\"id\":4660,"
    "\"opcode\":\"QUERY\",\"status\":\"NOERROR\",\"rcode\":0,"
    "\"flags\":[\"qr\",\"rd\",\"ra\"],\"question\":[],"
    "\"answer\":[],\"authority\":[],\"additional\":[],"
    "\"malformed\":\"bad owner name (question section,"
    " record 1 of 1)\"}\n";

static const char want_text_bare_tls[] =
    ";; TLS: TLSv1.2, cipher ?, ALPN none\n"
    MSG_TEXT
    "\n"
    ";; SERVER: https://doh.example/dns-query\n"
    ";; MSG SIZE  rcvd: 56\n";

static const char want_json_bare_tls[] =
    "{\"server\":\"https://doh.example/dns-query\","
    "\"tls\":{\"version\":\"TLSv1.2\",\"resumed\":false}," MSG_JSON;

static char out[65536];

static const char *
msg(enum dnsprint_format fmt, size_t len, const struct dohq_out_meta *m,
    int want)
{
	struct dnsprint_out o;
	size_t n;

	dnsprint_out_buf(&o, NULL, 0);
	CHECK_EQ(dohq_out_msg(&o, fmt, answer, len, m), want);
	n = dnsprint_out_len(&o);
	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dohq_out_msg(&o, fmt, answer, len, m), want);
	/* The counting sink and the buffer agree on the length. */
	CHECK_EQ(strlen(out), n);
	return out;
}

static void
test_msg(void)
{
	struct dohq_out_meta m;
	struct dohq_out_tls t;
	struct dohq_out_timing tm = { 1, 2, 3, 4, 5 };

	memset(&t, 0, sizeof(t));
	t.version = "TLSv1.3";
	t.cipher = "TLS_AES_128_GCM_SHA256";
	t.alpn = "h2";
	t.subject = "CN=doh \"test\"";
	t.issuer = "CN=Test CA";
	t.not_before = "2026-01-01T00:00:00Z";
	t.not_after = "2027-01-01T00:00:00Z";
	t.resumed = 1;
	memset(&m, 0, sizeof(m));
	m.server = "https://doh.example/dns-query";
	m.server_addr = "192.0.2.53#443";
	m.http_status = 200;
	m.http_headers = headers;
	m.query_time_ms = 7;
	m.tls = &t;
	m.timing = &tm;

	CHECK_STR(msg(DNSPRINT_TEXT, sizeof(answer), &m, 0), want_text_full);
	CHECK_STR(msg(DNSPRINT_JSON, sizeof(answer), &m, 0), want_json_full);
	CHECK_STR(msg(DNSPRINT_SHORT, sizeof(answer), &m, 0),
	    want_short_timing);
	CHECK_STR(msg(DNSPRINT_TEXT, sizeof(answer), NULL, 0), want_text_none);
	CHECK_STR(msg(DNSPRINT_JSON, sizeof(answer), NULL, 0), want_json_none);
	CHECK_STR(msg(DNSPRINT_SHORT, sizeof(answer), NULL, 0), "192.0.2.1\n");

	/* Malformed, with headers that are not all "name: value". */
	m.tls = NULL;
	m.timing = NULL;
	m.server_addr = NULL;
	m.http_headers = odd_headers;
	m.query_time_ms = -1;
	m.http_status = 0;
	CHECK_STR(msg(DNSPRINT_TEXT, 20, &m, -1), want_text_bad);
	CHECK_STR(msg(DNSPRINT_JSON, 20, &m, -1), want_json_bad);

	/* TLS without a certificate or ALPN. */
	memset(&t, 0, sizeof(t));
	t.version = "TLSv1.2";
	m.tls = &t;
	m.http_headers = NULL;
	CHECK_STR(msg(DNSPRINT_TEXT, sizeof(answer), &m, 0),
	    want_text_bare_tls);
	CHECK_STR(msg(DNSPRINT_JSON, sizeof(answer), &m, 0),
	    want_json_bare_tls);
}

static void
test_error_json(void)
{
	struct dnsprint_out o;
	struct dohq_out_meta m;

	memset(&m, 0, sizeof(m));
	m.server = "https://doh.example/dns-query";
	m.server_addr = "192.0.2.53#443";
	m.http_status = 502;
	dnsprint_out_buf(&o, out, sizeof(out));
	dohq_out_error_json(&o, &m, "www.\"example", 28, 3, 76,
	    "HTTP status 502");
	CHECK_STR(out, "{\"server\":\"https://doh.example/dns-query\","
	    "\"server_address\":\"192.0.2.53#443\",\"http_status\":502,"
	    "\"question\":[{\"name\":\"www.\\\"example\",\"class\":\"CH\","
	    "\"type\":\"AAAA\"}],\"exit_status\":76,"
	    "\"error\":\"HTTP status 502\"}\n");

	/* Never connected: no address, no status. */
	m.server_addr = NULL;
	m.http_status = 0;
	dnsprint_out_buf(&o, out, sizeof(out));
	dohq_out_error_json(&o, &m, "a", 65280, 1, 69, "cannot connect");
	CHECK_STR(out, "{\"server\":\"https://doh.example/dns-query\","
	    "\"question\":[{\"name\":\"a\",\"class\":\"IN\","
	    "\"type\":\"TYPE65280\"}],\"exit_status\":69,"
	    "\"error\":\"cannot connect\"}\n");
}

/* Print msg (len bytes) with m in fmt into out; check the return. */
static const char *
vmsg(enum dnsprint_format fmt, const uint8_t *m, size_t len,
    const struct dohq_out_meta *meta, int want)
{
	struct dnsprint_out o;

	dnsprint_out_buf(&o, out, sizeof(out));
	CHECK_EQ(dohq_out_msg(&o, fmt, m, len, meta), want);
	return out;
}

static void
test_validation(void)
{
	/* www.example. NODATA, then SERVFAIL: no records. */
	static const uint8_t nodata[] = {
		0, 0, 0x81, 0x90, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
		0, 1, 0, 1,
	};
	uint8_t servfail[sizeof(nodata)];
	static const char *const chain[] = {
		". DS 20326/8/2 trust anchor (built in)",
		"example. DS secure 370/13/2 ttl 3600",
	};
	struct dohq_out_validation v;
	struct dohq_out_meta m;

	memset(&v, 0, sizeof(v));
	v.verdict = "secure";
	v.ede = -1;
	v.why = "every RRset and denial verified from a trust anchor";
	v.zone = "example.";
	v.chain = chain;
	v.nchain = 2;
	v.chain_queries = 4;
	memset(&m, 0, sizeof(m));
	m.server = "https://doh.example/dns-query";
	m.query_time_ms = -1;
	m.validation = &v;
	CHECK_STR(vmsg(DNSPRINT_TEXT, answer, sizeof(answer), &m, 0),
	    "; fully validated\n"
	    "www.example.\t\t300\tIN\tA\t192.0.2.1\n"
	    "\n;; CHAIN OF TRUST:\n"
	    "; . DS 20326/8/2 trust anchor (built in)\n"
	    "; example. DS secure 370/13/2 ttl 3600\n"
	    "\n;; SERVER: https://doh.example/dns-query\n"
	    ";; MSG SIZE  rcvd: 56\n"
	    ";; Chain queries: 4\n");
	CHECK_STR(vmsg(DNSPRINT_SHORT, answer, sizeof(answer), &m, 0),
	    "; fully validated\n192.0.2.1\n");
	CHECK_STR(vmsg(DNSPRINT_JSON, answer, sizeof(answer), &m, 0),
	    "{\"verdict\":\"secure\",\"ede\":null,\"why\":\"every RRset "
	    "and denial verified from a trust anchor\",\"zone\":"
	    "\"example.\",\"chain\":[\". DS 20326/8/2 trust anchor "
	    "(built in)\",\"example. DS secure 370/13/2 ttl 3600\"],"
	    "\"chain_queries\":4,"
	    "\"server\":\"https://doh.example/dns-query\"," MSG_JSON);

	v.verdict = "bogus";
	v.ede = 7;
	v.why = "www.example. A: signature expired";
	v.nchain = 0;
	CHECK_STR(vmsg(DNSPRINT_TEXT, answer, sizeof(answer), &m, 0),
	    ";; resolution failed: EDE 7 (Signature Expired): www.example. "
	    "A: signature expired\n"
	    "; the answer as received:\n"
	    "www.example.\t\t300\tIN\tA\t192.0.2.1\n"
	    "\n;; CHAIN OF TRUST:\n; (nothing checked)\n"
	    "\n;; SERVER: https://doh.example/dns-query\n"
	    ";; MSG SIZE  rcvd: 56\n"
	    ";; Chain queries: 4\n");
	vmsg(DNSPRINT_JSON, answer, sizeof(answer), &m, 0);
	CHECK(strstr(out, "\"verdict\":\"bogus\",\"ede\":7,"
	    "\"ede_name\":\"Signature Expired\",") == out + 1);

	/* A denial, insecure by an unsupported algorithm. */
	v.verdict = "insecure";
	v.ede = 1;
	v.why = "no DS of a supported algorithm";
	vmsg(DNSPRINT_TEXT, nodata, sizeof(nodata), &m, 0);
	CHECK_STR(out, "; negative response, unsigned answer\n"
	    "; EDE 1 (Unsupported DNSKEY Algorithm): no DS of a supported "
	    "algorithm\n; NODATA; the authority section:\n\n;; CHAIN OF "
	    "TRUST:\n; (nothing checked)\n"
	    "\n;; SERVER: https://doh.example/dns-query\n"
	    ";; MSG SIZE  rcvd: 29\n"
	    ";; Chain queries: 4\n");

	/* An error answer: nothing to validate, in its own words. */
	memcpy(servfail, nodata, sizeof(nodata));
	servfail[3] = 0x92;
	v.ede = -1;
	v.why = "an error answer: nothing to validate";
	vmsg(DNSPRINT_TEXT, servfail, sizeof(servfail), &m, 0);
	CHECK(strncmp(out, "; no answer to validate: the server says "
	    "SERVFAIL\n\n;; CHAIN OF TRUST:\n", 58) == 0);

	/* Shorter than a header: malformed, said. */
	CHECK(vmsg(DNSPRINT_TEXT, nodata, 5, &m, -1) != NULL);
	CHECK(strstr(out, ";; MALFORMED MESSAGE\n") != NULL);
}

int
main(void)
{
	test_msg();
	test_error_json();
	test_validation();
	return check_summary();
}
