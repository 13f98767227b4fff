/*
 * discovery.c on fakes of plain, doh and tls (defined here, so the
 * library's members for those are never linked), with time stepped
 * through the clock seam.  The real ddr.c parses what the fake resolver
 * answers, and the real known.c holds the table.  Each scenario checks
 * what was sent where in plaintext, what the verification handshake was
 * asked to check, the result and when the proxy is told.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/clock.h"
#include "dohstub/config.h"
#include "dohstub/discovery.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/doh.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/tls.h"

#include "check.h"
#include "wire.h"

static struct event_base *base;

/* --- fake plain ------------------------------------------------------- */

struct plain {
	struct addr	 server;
	enum plain_role	 role;
	uint64_t	 wire;	/* one a forward, two a resolve (A, AAAA);
				   tests add retries */
};

struct plain_req {
	struct plain	*p;
	int		 live;
	int		 resolve;	/* plain_resolve, else forward */
	char		 host[256];
	uint16_t	 port;
	uint8_t		 msg[512];
	size_t		 len;
	plain_answer_cb	*acb;
	plain_addr_cb	*rcb;
	void		*arg;
};

static struct plain_req reqs[16];
static size_t nreqs;
static int plains;	/* alive */

struct plain *
plain_new(struct event_base *b, const struct addr *servers, size_t n,
    unsigned timeout_ms, enum plain_role role)
{
	struct plain *p;

	(void)b;
	(void)timeout_ms;
	if (n != 1 || (p = calloc(1, sizeof(*p))) == NULL)
		abort();
	p->server = servers[0];
	p->role = role;
	plains++;
	return p;
}

static struct plain_req *
req_new(struct plain *p)
{
	struct plain_req *r;

	if (nreqs == sizeof(reqs) / sizeof(reqs[0]))
		abort();
	r = &reqs[nreqs++];
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->live = 1;
	return r;
}

struct plain_req *
plain_forward(struct plain *p, const uint8_t *q, size_t len,
    plain_answer_cb *cb, void *arg)
{
	struct plain_req *r = req_new(p);

	if (len > sizeof(r->msg))
		abort();
	memcpy(r->msg, q, len);
	r->len = len;
	p->wire++;
	r->acb = cb;
	r->arg = arg;
	return r;
}

struct plain_req *
plain_resolve(struct plain *p, const char *host, uint16_t port,
    plain_addr_cb *cb, void *arg)
{
	struct plain_req *r = req_new(p);

	snprintf(r->host, sizeof(r->host), "%s", host);
	r->port = port;
	r->resolve = 1;
	p->wire += 2;
	r->rcb = cb;
	r->arg = arg;
	return r;
}

uint64_t
plain_wire_sent(const struct plain *p)
{
	return p->wire;
}

void
plain_cancel(struct plain_req *r)
{
	r->live = 0;
}

void
plain_free(struct plain *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < nreqs; i++)
		if (reqs[i].p == p)
			reqs[i].live = 0;
	plains--;
	free(p);
}

/* --- fake doh and tls ------------------------------------------------- */

struct doh_client {
	char			 host[256], path[256], verify_ip[64];
	uint16_t		 port;
	int			 host_is_ip, no_verify;
	doh_state_cb		*state_cb;
	void			*arg;
	doh_connected_cb	*connected_cb;
	void			*carg;
	struct addr		 addrs[ADDR_MAX_PER_NAME];
	size_t			 naddrs;
	int			 connects;
	char			 last_error[160];
};

static struct doh_client *client;	/* the newest */
static int clients;	/* alive */

struct doh_client *
doh_new(struct event_base *b, const struct doh_params *p,
    doh_state_cb *state_cb, void *arg)
{
	struct doh_client *c;

	(void)b;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	snprintf(c->host, sizeof(c->host), "%s", p->host);
	snprintf(c->path, sizeof(c->path), "%s", p->path);
	snprintf(c->verify_ip, sizeof(c->verify_ip), "%s",
	    p->verify_ip != NULL ? p->verify_ip : "");
	c->port = p->port;
	c->host_is_ip = p->host_is_ip;
	c->no_verify = p->no_verify;
	c->state_cb = state_cb;
	c->arg = arg;
	client = c;
	clients++;
	return c;
}

void
doh_set_connected_cb(struct doh_client *c, doh_connected_cb *cb, void *arg)
{
	c->connected_cb = cb;
	c->carg = arg;
}

void
doh_set_addrs(struct doh_client *c, const struct sockaddr_storage *ss,
    const socklen_t *lens, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < ADDR_MAX_PER_NAME; i++)
		addr_set(&c->addrs[i], (const struct sockaddr *)&ss[i],
		    lens[i]);
	c->naddrs = i;
}

void
doh_connect(struct doh_client *c)
{
	c->connects++;
}

const char *
doh_last_error(const struct doh_client *c)
{
	return c->last_error;
}

void
doh_free(struct doh_client *c)
{
	if (c == NULL)
		return;
	if (client == c)
		client = NULL;
	clients--;
	free(c);
}

SSL_CTX *
tls_ctx_new(const struct tls_opts *opts, char *err, size_t errlen)
{
	(void)opts;
	(void)err;
	(void)errlen;
	return SSL_CTX_new(TLS_client_method());	/* never used */
}

/* The handshake succeeded, or failed with why. */
static void
handshake(const char *why)
{
	struct doh_conn_info info;

	if (why == NULL) {
		memset(&info, 0, sizeof(info));
		client->connected_cb(client, &info, client->carg);
		return;
	}
	snprintf(client->last_error, sizeof(client->last_error), "%s", why);
	client->state_cb(client, DOH_CONNECTING, DOH_BACKOFF, client->arg);
}

/* --- the resolver's answers ------------------------------------------- */

/* An answer to r's DDR query with n records "prio doh.test" (alpn from
 * alpn, port 8443, ipv4hint 192.0.2.1 if hint, dohpath if dohpath). */
static uint32_t hint_addr = 0xc0000201;	/* 192.0.2.1 */

static void
svcb_reply(struct plain_req *r, int n, const char *alpn, int hint,
    int dohpath, uint32_t ttl)
{
	struct msg m;
	size_t rdlen_at, start;
	int i;
	const char *path = "/dns-query{?dns}";

	m.len = 0;
	put16(&m, rd16(r->msg));
	put16(&m, 0x8180);
	put16(&m, 1);
	put16(&m, (unsigned)n);
	put16(&m, 0);
	put16(&m, 0);
	put_dname(&m, "_dns.resolver.arpa");
	put16(&m, 64);
	put16(&m, DNS_CLASS_IN);
	for (i = 0; i < n; i++) {
		put_dname(&m, "_dns.resolver.arpa");
		put16(&m, 64);
		put16(&m, DNS_CLASS_IN);
		put32(&m, ttl);
		rdlen_at = m.len;
		put16(&m, 0);
		start = m.len;
		put16(&m, (unsigned)i + 1);
		put_dname(&m, "doh.test");
		put16(&m, 1);		/* alpn */
		put16(&m, (unsigned)strlen(alpn) + 1);
		put8(&m, (unsigned)strlen(alpn));
		putbytes(&m, alpn, strlen(alpn));
		put16(&m, 3);		/* port */
		put16(&m, 2);
		put16(&m, 8443);
		if (hint) {
			put16(&m, 4);	/* ipv4hint */
			put16(&m, 4);
			put32(&m, hint_addr);
		}
		if (dohpath) {
			put16(&m, 7);
			put16(&m, (unsigned)strlen(path));
			putbytes(&m, path, strlen(path));
		}
		wr16(m.buf + rdlen_at, (uint16_t)(m.len - start));
	}
	r->live = 0;
	r->acb(0, m.buf, m.len, r->arg);
}

/* --- the proxy's side ------------------------------------------------- */

static int told;
static size_t told_i;

static void
disc_cb(struct discovery *d, size_t i, void *arg)
{
	(void)d;
	(void)arg;
	told++;
	told_i = i;
}

static void
run(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static struct config the_cfg;

static struct config *
make_cfg(const char *text)
{
	char err[CONFIG_ERRLEN];

	config_free(&the_cfg);
	config_defaults(&the_cfg);
	if (config_parse_buf(&the_cfg, "test", text, strlen(text), err,
	    sizeof(err)) == -1 || config_finalize(&the_cfg, "/dev/null", err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "config: %s\n", err);
		abort();
	}
	return &the_cfg;
}

static void
reset(void)
{
	nreqs = 0;
	told = 0;
	clock_test_begin(1000000);
}

/* --- scenarios -------------------------------------------------------- */

/* A known server: its result at once, nothing sent. */
static void
test_known(void)
{
	const struct config *cfg = make_cfg("upstream 9.9.9.9\n"
	    "upstream 192.0.2.53\nddr no\n");
	const struct discovery_result *r;
	struct discovery *d;
	struct addr a[2], pin;

	reset();
	CHECK(addr_parse("9.9.9.9", 53, &a[0], NULL, 0) == 0);
	CHECK(addr_parse("192.0.2.53", 53, &a[1], NULL, 0) == 0);
	CHECK((d = discovery_new(base, cfg, a, 2, NULL, disc_cb, NULL)) !=
	    NULL);
	discovery_start(d);
	run();
	CHECK(!discovery_pending(d));
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_KNOWN);
	CHECK_STR(r->url, "https://dns.quad9.net/dns-query");
	CHECK_STR(r->provider, "Quad9");
	CHECK(addr_parse("9.9.9.9", 443, &pin, NULL, 0) == 0);
	CHECK(r->npins == 1 && addr_eq(&r->pins[0], &pin));
	CHECK_STR(r->verify_ip, "");
	/* ddr no: not upgraded, and no DDR query either. */
	r = discovery_result(d, 1);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK(strstr(r->reason, "ddr is off") != NULL);
	CHECK_EQ(nreqs, 0);
	CHECK_EQ(plains, 0);
	CHECK_EQ(discovery_stats(d)->queries, 0);
	CHECK_EQ(discovery_stats(d)->results[DISCOVERY_KNOWN], 1);
	discovery_free(d);
}

/*
 * Verified: the DDR query to the address itself (role discovery), the
 * handshake asked to check doh.test and the resolver's IP, the result
 * for the SVCB TTL, then a rerun that finds no record any more.
 */
static void
test_verified_then_expired(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n");
	const struct discovery_result *r;
	struct dns_query_info qi;
	struct discovery *d;
	struct addr a, want;
	char name[DNS_MAX_NAME_TEXT];

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	CHECK(d != NULL && discovery_pending(d));
	CHECK_EQ(nreqs, 0);
	discovery_start(d);
	CHECK_EQ(discovery_state(d, 0), DISCOVERY_QUERY);
	CHECK(nreqs == 1 && reqs[0].live && !reqs[0].resolve);
	CHECK(addr_eq(&reqs[0].p->server, &a));
	CHECK_EQ(reqs[0].p->role, PLAIN_ROLE_DISCOVERY);
	CHECK(dnsmsg_parse_query(reqs[0].msg, reqs[0].len, &qi) ==
	    DNS_VERDICT_OK);
	CHECK(dnsmsg_name_to_text(qi.qname, qi.qname_len, name,
	    sizeof(name), 0) >= 0);
	CHECK_STR(name, "_dns.resolver.arpa.");
	CHECK_EQ(qi.qtype, 64);

	svcb_reply(&reqs[0], 1, "h2", 1, 1, 600);
	CHECK_EQ(discovery_state(d, 0), DISCOVERY_VERIFY);
	CHECK(client != NULL && client->connects == 1);
	CHECK_STR(client->host, "doh.test");
	CHECK_STR(client->verify_ip, "192.0.2.53");
	CHECK(!client->no_verify);
	CHECK(addr_parse("192.0.2.1", 8443, &want, NULL, 0) == 0);
	CHECK(client->naddrs == 1 && addr_eq(&client->addrs[0], &want));
	CHECK(discovery_pending(d));
	handshake(NULL);
	CHECK_EQ(told, 0);	/* from the loop, not the callback */
	run();
	CHECK_EQ(told, 1);
	CHECK_EQ(clients, 0);	/* the throw-away client is gone */
	CHECK_EQ(plains, 0);
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_VERIFIED);
	CHECK_STR(r->url, "https://doh.test:8443/dns-query");
	CHECK_STR(r->path, "/dns-query");
	CHECK_STR(r->verify_ip, "192.0.2.53");
	CHECK(r->npins == 1 && addr_eq(&r->pins[0], &want));
	CHECK_EQ(r->ttl, 600);
	CHECK(strstr(r->records, "1 doh.test.") != NULL);
	CHECK_EQ(discovery_stats(d)->queries, 1);

	/* A network change: run again; the same result tells no one. */
	discovery_rerun(d);
	CHECK(nreqs == 2 && reqs[1].live);
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	svcb_reply(&reqs[1], 1, "h2", 1, 1, 600);
	handshake(NULL);
	run();
	CHECK_EQ(told, 1);

	/* The TTL runs out: again, and now there is no record. */
	clock_step(599999);
	CHECK_EQ(nreqs, 2);
	clock_step(1);
	CHECK(nreqs == 3 && reqs[2].live);
	svcb_reply(&reqs[2], 0, "h2", 1, 1, 600);
	run();
	CHECK_EQ(told, 2);
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK_EQ(r->fail, DISCOVERY_FAIL_NO_RECORD);
	CHECK_EQ(discovery_stats(d)->failures[DISCOVERY_FAIL_NO_RECORD], 1);
	/* A failure is retried after a minute. */
	clock_step(60000);
	CHECK(nreqs == 4 && reqs[3].live);
	discovery_free(d);
	CHECK_EQ(plains, 0);
	CHECK(!reqs[3].live);
}

/* The certificate lacks the resolver's IP: not upgraded, said why; with
 * ddr-opportunistic the same records are tried opportunistically: a
 * private resolver designating its own address gets TLS unauthenticated,
 * any other stays not upgraded. */
static void
test_certificate(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n");
	const struct discovery_result *r;
	struct discovery *d;
	struct addr a;

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	svcb_reply(&reqs[0], 1, "h2", 1, 1, 300);
	handshake("certificate verification failed: IP address mismatch");
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK_EQ(r->fail, DISCOVERY_FAIL_CERTIFICATE);
	CHECK_STR(r->reason, "certificate of https://doh.test:8443/dns-query "
	    "does not list 192.0.2.53");
	CHECK_EQ(clients, 0);
	discovery_free(d);

	cfg = make_cfg("upstream 10.0.0.53\nddr-opportunistic yes\n");
	reset();
	CHECK(addr_parse("10.0.0.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	hint_addr = 0x0a000035;		/* 10.0.0.53: itself */
	svcb_reply(&reqs[0], 1, "h2", 1, 1, 300);
	hint_addr = 0xc0000201;
	CHECK(client != NULL && !client->no_verify &&
	    strcmp(client->verify_ip, "10.0.0.53") == 0);
	handshake("certificate verification failed: hostname mismatch");
	run();
	CHECK(discovery_pending(d));
	CHECK(client != NULL && client->no_verify &&
	    client->verify_ip[0] == '\0' && client->connects == 1);
	CHECK_EQ(clients, 1);
	handshake(NULL);
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_OPPORTUNISTIC);
	CHECK(r->no_verify && r->verify_ip[0] == '\0');
	CHECK_EQ(told, 1);
	CHECK_EQ(clients, 0);
	discovery_free(d);

	/* 192.0.2.1 is not the resolver's address: no opportunistic. */
	cfg = make_cfg("upstream 10.0.0.53\nddr-opportunistic yes\n");
	reset();
	CHECK(addr_parse("10.0.0.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	svcb_reply(&reqs[0], 1, "h2", 1, 1, 300);
	handshake("certificate verification failed: hostname mismatch");
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK_EQ(clients, 0);
	discovery_free(d);
}

/* No hint: the target looked up at the same resolver, then verified. */
static void
test_lookup(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n");
	struct discovery *d;
	struct addr a, got;

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	svcb_reply(&reqs[0], 1, "h2", 0, 1, 300);
	CHECK_EQ(discovery_state(d, 0), DISCOVERY_LOOKUP);
	CHECK(nreqs == 2 && reqs[1].resolve && reqs[1].p == reqs[0].p);
	CHECK_STR(reqs[1].host, "doh.test");
	CHECK_EQ(reqs[1].port, 8443);
	CHECK(addr_parse("192.0.2.9", 8443, &got, NULL, 0) == 0);
	reqs[1].live = 0;
	reqs[1].rcb(0, &got, 1, 300, reqs[1].arg);
	CHECK(client != NULL && client->naddrs == 1 &&
	    addr_eq(&client->addrs[0], &got));
	handshake(NULL);
	run();
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	/* The DDR query, then A and AAAA. */
	CHECK_EQ(discovery_stats(d)->queries, 3);
	discovery_free(d);
}

/* alpn dot only, no dohpath, no answer: each its reason; freed while a
 * handshake is under way, nothing is told. */
static void
test_failures(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n"
	    "timeout 1s\n");
	const struct discovery_result *r;
	struct discovery *d;
	struct addr a;

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	svcb_reply(&reqs[0], 1, "dot", 1, 1, 300);
	run();
	r = discovery_result(d, 0);
	CHECK(r->upgrade == DISCOVERY_NONE &&
	    r->fail == DISCOVERY_FAIL_NO_H2);
	CHECK(strstr(r->reason, "dot") != NULL);
	discovery_rerun(d);
	svcb_reply(&reqs[1], 1, "h2", 1, 0, 300);
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->fail, DISCOVERY_FAIL_NO_DOHPATH);
	/* No answer: the run's guard gives up at 4 timeouts. */
	discovery_rerun(d);
	CHECK(nreqs == 3 && reqs[2].live);
	clock_step(3999);
	CHECK_EQ(discovery_state(d, 0), DISCOVERY_QUERY);
	clock_step(1);
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->fail, DISCOVERY_FAIL_NO_ANSWER);
	CHECK(!reqs[2].live);
	CHECK_EQ(plains, 0);
	/* Freed mid-handshake. */
	told = 0;
	discovery_rerun(d);
	svcb_reply(&reqs[3], 1, "h2", 1, 1, 300);
	CHECK_EQ(clients, 1);
	discovery_free(d);
	run();
	CHECK_EQ(clients, 0);
	CHECK_EQ(plains, 0);
	CHECK_EQ(told, 0);
}

/*
 * A result's TTL ages in sleep too (expiry time): 300 s of a 600 s TTL
 * slept leave 300 s of live time; 2 h slept, it has run out and the
 * resolver is asked again once the resume is seen.  The run's guard is
 * about the query in hand (live time): a sleep does not end it.
 */
static void
test_sleep(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n"
	    "timeout 1s\n");
	struct discovery *d;
	struct addr a;

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	svcb_reply(&reqs[0], 1, "h2", 1, 1, 600);
	handshake(NULL);
	run();
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	CHECK_EQ(nreqs, 1);

	clock_test_sleep(300 * 1000);
	CHECK_EQ(clock_resumed(), 300 * 1000);
	clock_step(0);
	CHECK_EQ(nreqs, 1);
	clock_step(299999);
	CHECK_EQ(nreqs, 1);
	clock_test_sleep(2 * 3600 * 1000);
	clock_step(0);
	CHECK_EQ(nreqs, 1);		/* not before the resume is seen */
	CHECK(clock_resumed() != 0);
	clock_step(0);
	CHECK(nreqs == 2 && reqs[1].live);

	/* Asleep with that query out: its guard (4 s live) still runs. */
	clock_test_sleep(3600 * 1000);
	CHECK(clock_resumed() != 0);
	clock_step(3999);
	CHECK_EQ(discovery_state(d, 0), DISCOVERY_QUERY);
	CHECK(reqs[1].live);
	clock_step(1);
	run();
	/* No answer is a passing failure: the upgrade stands meanwhile. */
	CHECK_EQ(discovery_state(d, 0), DISCOVERY_IDLE);
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	CHECK_EQ(discovery_stats(d)->failures[DISCOVERY_FAIL_NO_ANSWER], 1);
	discovery_free(d);
	CHECK_EQ(plains, 0);
}

/* A reload's discovery keeps a working result while it reruns. */
static void
test_seeded(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n");
	struct discovery *d, *d2;
	struct addr a;

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	svcb_reply(&reqs[0], 1, "h2", 1, 1, 300);
	handshake(NULL);
	run();
	d2 = discovery_new(base, cfg, &a, 1, d, disc_cb, NULL);
	discovery_free(d);
	CHECK(!discovery_pending(d2));
	CHECK_EQ(discovery_result(d2, 0)->upgrade, DISCOVERY_VERIFIED);
	CHECK_EQ(discovery_stats(d2)->results[DISCOVERY_VERIFIED], 1);
	discovery_start(d2);
	CHECK(nreqs == 2 && reqs[1].live);
	discovery_free(d2);
	CHECK_EQ(plains, 0);
}

/*
 * A rerun that fails for a passing reason (no answer, a TLS connection
 * that fails) keeps a working upgrade, for up to one more TTL, and is
 * retried sooner; an answer (no record) replaces it at once.
 */
static void
test_rerun_keeps_upgrade(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n"
	    "timeout 1s\n");
	const struct discovery_result *r;
	struct discovery *d;
	struct addr a;

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	svcb_reply(&reqs[0], 1, "h2", 1, 1, 300);
	handshake(NULL);
	run();
	CHECK_EQ(told, 1);
	CHECK_EQ(discovery_stats(d)->failures[DISCOVERY_FAIL_NONE], 0);

	/* A network change; the resolver does not answer: kept. */
	discovery_rerun(d);
	CHECK(nreqs == 2 && reqs[1].live);
	clock_step(4000);
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_VERIFIED);
	CHECK_STR(r->url, "https://doh.test:8443/dns-query");
	CHECK_EQ(told, 1);
	CHECK_EQ(discovery_stats(d)->failures[DISCOVERY_FAIL_NO_ANSWER], 1);
	CHECK_EQ(discovery_stats(d)->results[DISCOVERY_NONE], 0);
	/* Retried after 10 s, not a minute: now the handshake fails. */
	clock_step(9999);
	CHECK_EQ(nreqs, 2);
	clock_step(1);
	CHECK(nreqs == 3 && reqs[2].live);
	svcb_reply(&reqs[2], 1, "h2", 1, 1, 300);
	handshake("Connection refused");
	run();
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	CHECK_EQ(told, 1);
	CHECK_EQ(discovery_stats(d)->failures[DISCOVERY_FAIL_TLS], 1);
	/* Then 20 s; failing for 300 s in all ends the upgrade. */
	clock_step(19999);
	CHECK_EQ(nreqs, 3);
	clock_step(1);
	CHECK(nreqs == 4 && reqs[3].live);
	clock_step(4000);	/* no answer: 34 s of 300 */
	run();
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	/* 40, 80, 160 s, then the 300 s are out. */
	clock_step(40000);
	clock_step(4000);
	clock_step(80000);
	clock_step(4000);
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	CHECK_EQ(told, 1);
	clock_step(160000);
	clock_step(4000);
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK_EQ(r->fail, DISCOVERY_FAIL_NO_ANSWER);
	CHECK_EQ(told, 2);

	/* Upgraded again; then a definite answer replaces it at once. */
	discovery_rerun(d);
	svcb_reply(&reqs[nreqs - 1], 1, "h2", 1, 1, 300);
	handshake(NULL);
	run();
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	CHECK_EQ(told, 3);
	discovery_rerun(d);
	svcb_reply(&reqs[nreqs - 1], 0, "h2", 1, 1, 300);
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK_EQ(r->fail, DISCOVERY_FAIL_NO_RECORD);
	CHECK_EQ(told, 4);
	/* So does a certificate that no longer verifies. */
	discovery_rerun(d);
	svcb_reply(&reqs[nreqs - 1], 1, "h2", 1, 1, 300);
	handshake(NULL);
	run();
	CHECK_EQ(told, 5);
	discovery_rerun(d);
	svcb_reply(&reqs[nreqs - 1], 1, "h2", 1, 1, 300);
	handshake("certificate verification failed: IP address mismatch");
	run();
	CHECK_EQ(discovery_result(d, 0)->fail, DISCOVERY_FAIL_CERTIFICATE);
	CHECK_EQ(told, 6);
	discovery_free(d);
}

/*
 * ddr-opportunistic on, the verified handshake fails on the certificate
 * and opportunistic is not possible either (a public resolver): the
 * certificate failure is what is reported and counted, opportunistic's
 * reason after it.
 */
static void
test_opportunistic_keeps_reason(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n"
	    "ddr-opportunistic yes\n");
	const struct discovery_result *r;
	struct discovery *d;
	struct addr a;

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	svcb_reply(&reqs[0], 1, "h2", 1, 1, 300);
	handshake("certificate verification failed: IP address mismatch");
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK_EQ(r->fail, DISCOVERY_FAIL_CERTIFICATE);
	CHECK_STR(r->reason, "certificate of https://doh.test:8443/dns-query "
	    "does not list 192.0.2.53; opportunistic: resolver 192.0.2.53 "
	    "is not private: no opportunistic use");
	CHECK_EQ(discovery_stats(d)->failures[DISCOVERY_FAIL_CERTIFICATE], 1);
	CHECK_EQ(discovery_stats(d)->failures[DISCOVERY_FAIL_NO_RECORD], 0);
	CHECK_EQ(clients, 0);
	discovery_free(d);
}

/*
 * Hints and looked-up addresses that are no place to connect to
 * (0.0.0.0, multicast, dohstub's own listen address) are dropped; none
 * left: not upgraded, "hint not usable".
 */
static void
test_unusable_addrs(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n"
	    "listen 192.0.2.1:8443\n");
	const struct discovery_result *r;
	struct discovery *d;
	struct addr a, got[3];

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	/* The hint is 192.0.2.1:8443: dohstub itself. */
	svcb_reply(&reqs[0], 1, "h2", 1, 1, 300);
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK_EQ(r->fail, DISCOVERY_FAIL_NO_RECORD);
	CHECK_STR(r->reason, "hint not usable: 192.0.2.1");
	CHECK_EQ(clients, 0);

	/* A lookup giving 0.0.0.0 and multicast: not usable either. */
	discovery_rerun(d);
	svcb_reply(&reqs[1], 1, "h2", 0, 1, 300);
	CHECK(nreqs == 3 && reqs[2].resolve);
	CHECK(addr_parse("0.0.0.0", 8443, &got[0], NULL, 0) == 0);
	CHECK(addr_parse("224.0.0.251", 8443, &got[1], NULL, 0) == 0);
	reqs[2].live = 0;
	reqs[2].rcb(0, got, 2, 300, reqs[2].arg);
	run();
	r = discovery_result(d, 0);
	CHECK_EQ(r->upgrade, DISCOVERY_NONE);
	CHECK_STR(r->reason, "hint not usable: doh.test at the resolver is "
	    "0.0.0.0 224.0.0.251");
	CHECK_EQ(clients, 0);

	/* One usable among them: only that one is pinned. */
	discovery_rerun(d);
	svcb_reply(&reqs[3], 1, "h2", 0, 1, 300);
	CHECK(addr_parse("192.0.2.9", 8443, &got[2], NULL, 0) == 0);
	reqs[4].live = 0;
	reqs[4].rcb(0, got, 3, 300, reqs[4].arg);
	CHECK(client != NULL && client->naddrs == 1 &&
	    addr_eq(&client->addrs[0], &got[2]));
	handshake(NULL);
	run();
	CHECK_EQ(discovery_result(d, 0)->upgrade, DISCOVERY_VERIFIED);
	CHECK_EQ(discovery_result(d, 0)->npins, 1);
	discovery_free(d);
}

/* What leaves is counted: retries too, and A plus AAAA. */
static void
test_counted(void)
{
	const struct config *cfg = make_cfg("upstream 192.0.2.53\n");
	struct discovery *d;
	struct addr a, got;

	reset();
	CHECK(addr_parse("192.0.2.53", 53, &a, NULL, 0) == 0);
	d = discovery_new(base, cfg, &a, 1, NULL, disc_cb, NULL);
	discovery_start(d);
	reqs[0].p->wire++;	/* c-ares sent the DDR query again */
	svcb_reply(&reqs[0], 1, "h2", 0, 1, 300);
	CHECK_EQ(discovery_stats(d)->queries, 2);
	reqs[1].p->wire += 2;	/* and A and AAAA again */
	CHECK(addr_parse("192.0.2.9", 8443, &got, NULL, 0) == 0);
	reqs[1].live = 0;
	reqs[1].rcb(0, &got, 1, 300, reqs[1].arg);
	handshake(NULL);
	run();
	CHECK_EQ(discovery_stats(d)->queries, 6);
	discovery_free(d);
}

/* A known server that a reload adds is counted; one kept is not. */
static void
test_known_reload(void)
{
	const struct config *cfg = make_cfg("upstream 9.9.9.9\n");
	struct discovery *d, *d2;
	struct addr a[2];

	reset();
	CHECK(addr_parse("9.9.9.9", 53, &a[0], NULL, 0) == 0);
	CHECK(addr_parse("1.1.1.1", 53, &a[1], NULL, 0) == 0);
	d = discovery_new(base, cfg, a, 1, NULL, disc_cb, NULL);
	CHECK_EQ(discovery_stats(d)->results[DISCOVERY_KNOWN], 1);
	cfg = make_cfg("upstream 9.9.9.9\nupstream 1.1.1.1\n");
	d2 = discovery_new(base, cfg, a, 2, d, disc_cb, NULL);
	discovery_free(d);
	CHECK_EQ(discovery_stats(d2)->results[DISCOVERY_KNOWN], 2);
	discovery_free(d2);
}

int
main(void)
{
	log_init("test_discovery", getenv("TEST_DEBUG") != NULL ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, 0);
	if ((base = event_base_new()) == NULL)
		return 1;
	test_known();
	test_verified_then_expired();
	test_certificate();
	test_lookup();
	test_failures();
	test_sleep();
	test_seeded();
	test_rerun_keeps_upgrade();
	test_opportunistic_keeps_reason();
	test_unusable_addrs();
	test_counted();
	test_known_reload();
	config_free(&the_cfg);
	event_base_free(base);
	return check_summary();
}
