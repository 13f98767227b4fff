/*
 * control: the request parser (every verb, the limits, bad input) and
 * the formatting that needs no proxy (errors, help, a lookup's answer).
 * The server and status/stats are tests/integration/test_control.py's.
 */
#define _GNU_SOURCE		/* open_memstream */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dohstub/control.h"
#include "dohstub/dnsmsg.h"

static int
parse(const char *line, struct control_req *req, const char **why)
{
	*why = NULL;
	return control_parse(line, strlen(line), req, why);
}

/* The request must be refused, for why. */
static void
bad(const char *line, const char *want)
{
	struct control_req req;
	const char *why;

	CHECK_EQ(parse(line, &req, &why), -1);
	CHECK_STR(why, want);
}

static int
name_is(const struct control_req *req, const char *text)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t len = dnsmsg_name_from_text(text, wire, sizeof(wire));

	return len != 0 && len == req->name_len &&
	    memcmp(wire, req->name, len) == 0;
}

static void
test_verbs(void)
{
	struct control_req req;
	const char *why;
	int v;

	for (v = 0; v < CONTROL_VERB_MAX; v++) {
		if (v == CONTROL_LOOKUP)
			continue;
		CHECK_EQ(parse(control_verb_names[v], &req, &why), 0);
		CHECK_EQ(req.verb, v);
		CHECK_EQ(req.json, 0);
		CHECK_EQ(req.name_len, 0);
		CHECK_EQ(req.qtype, -1);
	}
	CHECK_STR(control_verb_names[CONTROL_PORTAL], "captive-portal");

	CHECK_EQ(parse("--json status", &req, &why), 0);
	CHECK_EQ(req.verb, CONTROL_STATUS);
	CHECK_EQ(req.json, 1);
	CHECK_EQ(parse("\t --json \t stats  ", &req, &why), 0);
	CHECK_EQ(req.verb, CONTROL_STATS);
	CHECK_EQ(req.json, 1);
	CHECK_EQ(parse("reload\r", &req, &why), 0);
	CHECK_EQ(req.verb, CONTROL_RELOAD);

	/* flush: all, a name, a name and type. */
	CHECK_EQ(parse("flush www.Example.com", &req, &why), 0);
	CHECK_EQ(req.verb, CONTROL_FLUSH);
	CHECK(name_is(&req, "www.Example.com."));
	CHECK_EQ(req.qtype, -1);
	CHECK_EQ(parse("flush www.example.com. aaaa", &req, &why), 0);
	CHECK_EQ(req.qtype, 28);
	CHECK_EQ(parse("flush . TYPE65280", &req, &why), 0);
	CHECK_EQ(req.name_len, 1);
	CHECK_EQ(req.qtype, 65280);

	/* lookup: A unless a type is given. */
	CHECK_EQ(parse("lookup www.lab.test", &req, &why), 0);
	CHECK_EQ(req.verb, CONTROL_LOOKUP);
	CHECK(name_is(&req, "www.lab.test"));
	CHECK_EQ(req.qtype, DNS_TYPE_A);
	CHECK_EQ(parse("--json lookup x\\032y.test HTTPS", &req, &why), 0);
	CHECK_EQ(req.json, 1);
	CHECK(name_is(&req, "x\\032y.test"));
	CHECK_EQ(req.name_len, 1 + 3 + 1 + 4 + 1);
	CHECK_EQ(req.qtype, 65);
}

static void
test_bad(void)
{
	struct control_req req;
	char line[CONTROL_MAX_LINE + 8];
	const char *why;

	bad("", "empty request");
	bad("   \t ", "empty request");
	bad("--json", "empty request");
	bad("stat", "unknown command (try help)");
	bad("STATUS", "unknown command (try help)");
	bad("--json --json status", "unknown command (try help)");
	bad("status now", "too many arguments");
	bad("help me", "too many arguments");
	bad("reload x", "too many arguments");
	bad("captive-portal 1", "too many arguments");
	bad("stats x", "too many arguments");
	bad("lookup", "missing argument");
	bad("lookup a b c", "too many arguments");
	bad("flush a A b", "too many arguments");
	bad("lookup a b c d e f", "too many arguments");
	bad("lookup a..b", "bad name");
	bad("lookup \\256", "bad name");
	bad("flush "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "bad name");
	bad("lookup a.test NOPE", "unknown type");
	bad("lookup a.test TYPE65536", "unknown type");
	bad("status\n", "control character in the request");
	bad("status\001", "control character in the request");
	bad("st\x7f" "atus", "control character in the request");
	CHECK_EQ(control_parse("sta\0tus", 7, &req, &why), -1);
	CHECK_STR(why, "control character in the request");

	/* The limit: CONTROL_MAX_LINE bytes, a final \r besides. */
	memset(line, ' ', sizeof(line));
	memcpy(line, "status", 6);
	CHECK_EQ(control_parse(line, CONTROL_MAX_LINE, &req, &why), 0);
	line[CONTROL_MAX_LINE] = '\r';
	CHECK_EQ(control_parse(line, CONTROL_MAX_LINE + 1, &req, &why), 0);
	line[CONTROL_MAX_LINE] = ' ';
	CHECK_EQ(control_parse(line, CONTROL_MAX_LINE + 1, &req, &why), -1);
	CHECK_STR(why, "request too long");
	/* Never read past len. */
	CHECK_EQ(control_parse("statusXYZ", 6, &req, &why), 0);
	CHECK_EQ(req.verb, CONTROL_STATUS);
}

/* What a formatting function wrote. */
struct capture {
	FILE	*fp;
	char	*buf;
	size_t	 len;
};

static FILE *
cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	if ((c->fp = open_memstream(&c->buf, &c->len)) == NULL)
		abort();
	return c->fp;
}

static const char *
cap_text(struct capture *c)
{
	fclose(c->fp);
	return c->buf;
}

static void
test_error_help(void)
{
	struct capture c;
	const char *t;

	control_write_error(cap_open(&c), 0, "permission denied");
	CHECK_STR(cap_text(&c), "error: permission denied\n");
	free(c.buf);
	control_write_error(cap_open(&c), 1, "bad \"x\"\\");
	CHECK_STR(cap_text(&c), "{\"error\":\"bad \\\"x\\\"\\\\\"}\n");
	free(c.buf);

	control_write_help(cap_open(&c), 0);
	t = cap_text(&c);
	CHECK(strncmp(t, "status ", 7) == 0);
	CHECK(strstr(t, "\nlookup NAME [TYPE] ") != NULL);
	CHECK(strstr(t, "\nflush [NAME [TYPE]] ") != NULL);
	CHECK(strstr(t, "\ncaptive-portal ") != NULL);
	free(c.buf);
	control_write_help(cap_open(&c), 1);
	t = cap_text(&c);
	CHECK(strncmp(t, "{\"commands\":{\"status\":", 22) == 0);
	CHECK(strstr(t, "\"reload\":") != NULL);
	CHECK(strcmp(t + strlen(t) - 3, "}}\n") == 0);
	free(c.buf);
}

/* An answer to www.lab.test A: two records, as the proxy sends it. */
static size_t
make_answer(uint8_t *buf, size_t size)
{
	static const uint8_t tail[] = {
		0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 1,
		0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 2,
	};
	uint8_t name[DNS_MAX_NAME];
	size_t nlen, n;

	nlen = dnsmsg_name_from_text("www.lab.test", name, sizeof(name));
	n = dnsmsg_make_query(buf, size, name, nlen, DNS_TYPE_A,
	    DNS_CLASS_IN, DNS_FLAG_RD, 0, 0, 0);
	if (n == 0 || n + sizeof(tail) > size)
		abort();
	buf[2] |= 0x80;		/* QR */
	buf[3] |= 0x80;		/* RA */
	buf[7] = 2;		/* ANCOUNT */
	memcpy(buf + n, tail, sizeof(tail));
	return n + sizeof(tail);
}

static void
test_lookup(void)
{
	struct control_req req;
	struct control_lookup_info info;
	struct capture c;
	uint8_t msg[512];
	const char *why, *t;
	size_t len = make_answer(msg, sizeof(msg));

	CHECK_EQ(parse("lookup www.lab.test", &req, &why), 0);
	memset(&info, 0, sizeof(info));
	info.source = PROXY_SRC_FORWARD_DOH;
	info.upstream = "https://doh.test/dns-query";
	info.zone = "lab.test.";
	info.ede = -1;
	info.rcode = 0;
	info.dnssec = PROXY_DNSSEC_SECURE;
	info.elapsed_us = 12345;
	control_write_lookup(cap_open(&c), &req, msg, len, &info);
	CHECK_STR(cap_text(&c),
	    "name www.lab.test.\n"
	    "type A\n"
	    "rcode NOERROR\n"
	    "source forward-doh\n"
	    "upstream https://doh.test/dns-query\n"
	    "zone lab.test.\n"
	    "dnssec secure\n"
	    "latency 12.345 ms\n"
	    "www.lab.test.\t300\tIN\tA\t192.0.2.1\n"
	    "www.lab.test.\t300\tIN\tA\t192.0.2.2\n");
	free(c.buf);
	req.json = 1;
	control_write_lookup(cap_open(&c), &req, msg, len, &info);
	CHECK(strstr(cap_text(&c), ",\"ede\":null,\"dnssec\":\"secure\","
	    "\"latency_us\":12345,") != NULL);
	free(c.buf);
	req.json = 0;

	/*
	 * No observer news, as lookup_release() leaves it: the source
	 * calloc's (error), no EDE, no time, and the rcode the message's.
	 */
	memset(&info, 0, sizeof(info));
	info.source = PROXY_SRC_ERROR;
	info.ede = -1;
	info.rcode = -1;
	msg[3] |= DNS_RCODE_NXDOMAIN;
	control_write_lookup(cap_open(&c), &req, msg, len, &info);
	t = cap_text(&c);
	CHECK(strstr(t, "rcode NXDOMAIN\nsource error\n"
	    "latency 0.000 ms\n") != NULL);
	CHECK(strstr(t, "upstream") == NULL && strstr(t, "zone") == NULL &&
	    strstr(t, "ede") == NULL && strstr(t, "dnssec") == NULL);
	free(c.buf);

	req.json = 1;
	control_write_lookup(cap_open(&c), &req, msg, len, &info);
	t = cap_text(&c);
	CHECK(strncmp(t, "{\"name\":\"www.lab.test.\",\"type\":\"A\","
	    "\"rcode\":\"NXDOMAIN\",\"source\":\"error\",\"upstream\":null,"
	    "\"zone\":null,\"ede\":null,\"dnssec\":null,\"latency_us\":0,"
	    "\"message\":{", 150) == 0);
	CHECK(strstr(t, "\"192.0.2.2\"") != NULL);
	CHECK(strcmp(t + strlen(t) - 3, "}}\n") == 0);
	free(c.buf);

	/* A malformed answer: the lines that parse, no crash. */
	req.json = 0;
	control_write_lookup(cap_open(&c), &req, msg, len - 20, &info);
	t = cap_text(&c);
	CHECK(strstr(t, "192.0.2.1") == NULL);
	CHECK(strstr(t, "source error\n") != NULL);
	free(c.buf);
}

int
main(void)
{
	test_verbs();
	test_bad();
	test_error_help();
	test_lookup();
	return check_summary();
}
