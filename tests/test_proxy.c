/*
 * The core, in-process: the real proxy.c on fake listen peers and fake
 * doh, upstream, plain and tls back ends (fake_backends.c, linked in
 * place of the real modules), with time stepped through the clock seam.
 * No sockets, no sleeps.  Each scenario checks what the client got (rcode,
 * records, its own ID), what was sent where, and the counters.
 *
 * malloc, calloc, realloc and free are wrapped (ld --wrap) to count the
 * proxy's allocations per query.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/cache.h"
#include "dohstub/clock.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/log.h"
#include "dohstub/metrics.h"
#include "dohstub/proxy.h"
#include "dohstub/validator.h"

#include "check.h"
#include "fake.h"
#include "validator_vectors.h"
#include "wire.h"

#define T_A		1
#define T_AAAA		28
#define F_QR		0x8000
#define F_TC		0x0200
#define F_RD		0x0100
#define F_RA		0x0080

/* --- counting allocations -------------------------------------------- */

void	*__real_malloc(size_t);
void	*__real_calloc(size_t, size_t);
void	*__real_realloc(void *, size_t);
void	 __real_free(void *);
void	*__wrap_malloc(size_t);
void	*__wrap_calloc(size_t, size_t);
void	*__wrap_realloc(void *, size_t);
void	 __wrap_free(void *);

static unsigned long nalloc, nfree;

void *
__wrap_malloc(size_t n)
{
	nalloc++;
	return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	nalloc++;
	return __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	nalloc++;
	return __real_realloc(p, n);
}

void
__wrap_free(void *p)
{
	if (p != NULL)
		nfree++;
	__real_free(p);
}

/* --- messages --------------------------------------------------------- */

/* edns: 0 for none, else the UDP size; pad adds a Padding option. */
static void
query(struct msg *m, uint16_t id, const char *name, uint16_t qtype,
    unsigned edns, size_t pad)
{
	m->len = 0;
	put16(m, id);
	put16(m, F_RD);
	put16(m, 1);
	put16(m, 0);
	put16(m, 0);
	put16(m, edns != 0);
	put_dname(m, name);
	put16(m, qtype);
	put16(m, DNS_CLASS_IN);
	if (edns != 0) {
		put8(m, 0);
		put16(m, DNS_TYPE_OPT);
		put16(m, edns);
		put32(m, 0);
		put16(m, pad > 0 ? 4 + pad : 0);
		if (pad > 0) {
			put16(m, 12);	/* RFC 7830 Padding */
			put16(m, pad);
			while (pad-- > 0)
				put8(m, 0);
		}
	}
}

/* An answer with n A records (16 bytes each), ID id. */
static void
answer(struct msg *m, uint16_t id, const char *name, uint16_t qtype,
    int rcode, unsigned n)
{
	unsigned i;

	m->len = 0;
	put16(m, id);
	put16(m, F_QR | F_RD | F_RA | rcode);
	put16(m, 1);
	put16(m, n);
	put16(m, 0);
	put16(m, 0);
	put_dname(m, name);
	put16(m, qtype);
	put16(m, DNS_CLASS_IN);
	for (i = 0; i < n; i++) {
		put16(m, 0xc00c);
		put16(m, T_A);
		put16(m, DNS_CLASS_IN);
		put32(m, 300);
		put16(m, 4);
		put8(m, 192);
		put8(m, 0);
		put8(m, 2 + i / 256);
		put8(m, i % 256);
	}
}

/*
 * p got exactly one answer and was released; it has the client's ID
 * and rcode.
 */
static int
got(const struct fake_peer *p, uint16_t id, int rcode)
{
	return p->responses == 1 && p->releases == 1 && p->len >= 12 &&
	    rd16(p->answer) == id && (p->answer[3] & 0x0f) == rcode &&
	    (rd16(p->answer + 2) & F_QR) != 0;
}

/* p's answer is ans except for the ID. */
static int
same_but_id(const struct fake_peer *p, const struct msg *ans)
{
	return p->len == ans->len &&
	    memcmp(p->answer + 2, ans->buf + 2, ans->len - 2) == 0;
}

/*
 * p's answer is ans except for the ID, with our own OPT record (UDP size
 * 1232, DO clear, no option) in place of any the client could see.
 */
static int
same_plus_opt(const struct fake_peer *p, const struct msg *ans)
{
	const uint8_t *o = p->answer + ans->len;

	return p->len == ans->len + 11 &&
	    memcmp(p->answer + 2, ans->buf + 2, 8) == 0 &&
	    rd16(p->answer + 10) == rd16(ans->buf + 10) + 1 &&
	    memcmp(p->answer + 12, ans->buf + 12, ans->len - 12) == 0 &&
	    o[0] == 0 && rd16(o + 1) == DNS_TYPE_OPT && rd16(o + 3) == 1232 &&
	    rd16(o + 5) == 0 && rd16(o + 7) == 0 && rd16(o + 9) == 0;
}

/*
 * r carries the query dohstub builds for q: ID 0 (RFC 8484 4.1), RD and
 * CD from q, q's question, our own OPT (1232, q's DO) padded to 128.
 */
static int
sent(const struct fake_req *r, const struct msg *q)
{
	struct dns_query_info qi;
	uint8_t built[1024];
	size_t n;

	if (dnsmsg_parse_query(q->buf, q->len, &qi) != DNS_VERDICT_OK ||
	    (n = dnsmsg_make_upstream_query(built, sizeof(built), &qi, 1232,
	    128, qi.edns_do, (qi.flags & DNS_FLAG_CD) != 0)) == 0)
		return 0;
	return r->len == n && n % 128 == 0 && rd16(r->msg) == 0 &&
	    memcmp(r->msg, built, n) == 0;
}

/* The question section of p's answer names name. */
static int
echoes(const struct fake_peer *p, const struct msg *q)
{
	size_t qend = q->len;

	/* q's question ends where its OPT (if any) starts: compare it. */
	if (rd16(q->buf + 10) != 0)
		qend -= 11;
	return rd16(p->answer + 4) == 1 && p->len >= qend &&
	    memcmp(p->answer + 12, q->buf + 12, qend - 12) == 0;
}

/* --- the proxy under test --------------------------------------------- */

static struct event_base *base;
static struct proxy *px;
static struct config *px_cfg;		/* proxy_new's: ours to free */
static const struct proxy_stats *st;

/*
 * text's configuration; dnssec process unless text says otherwise: the
 * fakes' answers are unsigned, and only the DNSSEC scenarios sign.
 */
static struct config *
make_cfg(const char *text)
{
	struct config *cfg;
	char err[CONFIG_ERRLEN];

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		abort();
	config_defaults(cfg);
	if ((strstr(text, "dnssec ") == NULL && config_parse_buf(cfg,
	    "t.conf", "dnssec process\n", 15, err, sizeof(err)) == -1) ||
	    config_parse_buf(cfg, "t.conf", text, strlen(text), err,
	    sizeof(err)) == -1 ||
	    config_finalize(cfg, NULL, err, sizeof(err)) == -1) {
		fprintf(stderr, "config: %s\n", err);
		abort();
	}
	return cfg;
}

static void
free_cfg(struct config *cfg)
{
	config_free(cfg);
	free(cfg);
}

/* Run what is active (the reaper); time does not move. */
static void
run(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static void
start(const char *text)
{
	clock_test_begin(1000000);
	fake_reset_reqs();
	px_cfg = make_cfg(text);
	if ((px = proxy_new(base, px_cfg)) == NULL)
		abort();
	proxy_start(px);
	st = proxy_stats(px);
}

/* Free the proxy: everything the fakes handed out is back. */
static void
stop(void)
{
	proxy_free(px);
	px = NULL;
	run();
	free_cfg(px_cfg);
	CHECK_EQ(fake.upstream_sets, 0);
	CHECK_EQ(fake.plain_sets, 0);
	CHECK_EQ(fake.listeners, 0);
	fake_reset_reqs();
}

/* What the observer (proxy_on_answer()) was told, last and in all. */
static struct {
	size_t			 n;
	size_t			 by_source[PROXY_SRC_MAX];
	const struct listen_peer *peer;
	struct proxy_answer	 last;
	char			 upstream[128];
	char			 zone[128];
	size_t			 len;
	uint16_t		 id;
} obs;

static void
observe(const struct listen_peer *peer, const struct dns_query_info *qi,
    const uint8_t *msg, size_t len, const struct proxy_answer *a, void *arg)
{
	(void)arg;
	(void)qi;
	obs.n++;
	obs.by_source[a->source]++;
	obs.peer = peer;
	obs.last = *a;
	snprintf(obs.upstream, sizeof(obs.upstream), "%s",
	    a->upstream != NULL ? a->upstream : "-");
	snprintf(obs.zone, sizeof(obs.zone), "%s",
	    a->zone != NULL ? a->zone : "-");
	obs.len = len;
	obs.id = rd16(msg);
}

static void
obs_start(void)
{
	memset(&obs, 0, sizeof(obs));
	proxy_on_answer(px, observe, NULL);
}

/* The cache is off but where a scenario is about it. */
#define ENC_ONLY	"mode encrypted-only\n" \
			"upstream https://192.0.2.1/dns-query\n" \
			"upstream https://192.0.2.2/dns-query\n" \
			"listen 127.0.0.1:5300\n" \
			"timeout 2s\n" \
			"cache-size 0\n"
#define ENC_PREF_CACHE	"mode encrypted-preferred\n" \
			"upstream https://192.0.2.1/dns-query\n" \
			"fallback 192.0.2.53\n" \
			"listen 127.0.0.1:5300\n" \
			"timeout 2s\n"
#define ENC_PREF	ENC_PREF_CACHE "cache-size 0\n"

/* --- scenarios -------------------------------------------------------- */

/* A DoH answer comes back to the client with its ID, cut to fit UDP. */
static void
test_doh_answer(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;

	start(ENC_ONLY "edns-udp-size 1232\n");
	u = fake.upstreams;
	CHECK(u != NULL && u->started == 1 && u->n == 2);
	CHECK_EQ(fake.tls_ctxs, 1);

	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x1111, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK(fake.doh[0].client == &u->client[0]);
	CHECK(sent(&fake.doh[0], &q));
	CHECK_EQ(p.responses, 0);
	CHECK_EQ(st->pending, 1);

	clock_step(7);
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 2);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x1111, DNS_RCODE_NOERROR));
	CHECK(same_but_id(&p, &a));
	CHECK_EQ(rd16(p.answer + 6), 2);
	CHECK_EQ(st->queries_udp, 1);
	CHECK_EQ(st->answered_doh, 1);
	CHECK_EQ(st->rcodes[DNS_RCODE_NOERROR], 1);
	CHECK_EQ(st->pending, 0);
	CHECK_EQ(st->latency_buckets[3], 1);	/* 5 < 7 <= 10 ms */
	CHECK_EQ(st->latency_sum_ms, 7);
	CHECK_EQ(st->servfail, 0);

	/* Without EDNS a UDP answer over 512 bytes becomes TC=1, header
	 * and question only. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x2222, "big.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	answer(&a, 0, "big.lab.test", T_A, DNS_RCODE_NOERROR, 40);
	CHECK(a.len > 512 && a.len < 1232);
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x2222, DNS_RCODE_NOERROR));
	CHECK(p.len <= 512);
	CHECK((rd16(p.answer + 2) & F_TC) != 0);
	CHECK_EQ(rd16(p.answer + 6), 0);
	CHECK(echoes(&p, &q));
	CHECK_EQ(st->truncated, 1);

	/* With EDNS 4096 the same answer fits whole ... */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x3333, "big.lab.test", T_A, 4096, 0);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[2], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x3333, DNS_RCODE_NOERROR));
	CHECK(same_plus_opt(&p, &a));
	CHECK_EQ(st->truncated, 1);

	/* ... but edns-udp-size caps what the client asked for ... */
	fake_peer_init(&p, LISTEN_UDP);
	fake_query(&p, q.buf, q.len);
	answer(&a, 0, "big.lab.test", T_A, DNS_RCODE_NOERROR, 80);
	CHECK(a.len > 1232);
	fake_doh_reply(&fake.doh[3], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x3333, DNS_RCODE_NOERROR));
	CHECK(p.len <= 1232);
	CHECK((rd16(p.answer + 2) & F_TC) != 0);
	CHECK_EQ(st->truncated, 2);

	/* ... and TCP takes it whole. */
	fake_peer_init(&p, LISTEN_TCP);
	query(&q, 0x4444, "big.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[4], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x4444, DNS_RCODE_NOERROR));
	CHECK(same_but_id(&p, &a));
	CHECK_EQ(rd16(p.answer + 6), 80);
	CHECK_EQ(st->queries_tcp, 1);
	CHECK_EQ(st->answered_doh, 5);
	CHECK_EQ(st->truncated, 2);
	/* Every query went to the first upstream: it was usable. */
	CHECK_EQ(u->client[0].submits, 5);
	CHECK_EQ(u->client[1].submits, 0);
	CHECK_EQ(fake.plain_made, 0);
	stop();
}

/* Bad client messages never reach an upstream. */
static void
test_bad_queries(void)
{
	static struct fake_peer p;
	struct msg q;

	start(ENC_ONLY);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x0101, "x.lab.test", T_A, 0, 0);
	q.buf[2] |= 0x80;			/* QR: not a query */
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(p.responses, 0);
	CHECK_EQ(p.releases, 1);
	CHECK_EQ(st->dropped, 1);

	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x0202, "x.lab.test", T_A, 0, 0);
	q.buf[5] = 2;				/* QDCOUNT 2 */
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0202, DNS_RCODE_FORMERR));
	CHECK_EQ(st->formerr, 1);

	fake_peer_init(&p, LISTEN_TCP);
	query(&q, 0x0303, "x.lab.test", T_A, 0, 0);
	q.buf[2] |= 2 << 3;			/* opcode STATUS */
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0303, DNS_RCODE_NOTIMP));
	CHECK_EQ(rd16(p.answer + 2) & F_RA, 0);	/* for QUERY only */
	CHECK_EQ(rd16(p.answer + 2) & F_RD, F_RD);
	CHECK_EQ(st->notimp, 1);

	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x0404, "x.lab.test", T_A, 1232, 0);
	q.buf[2] |= 4 << 3;			/* opcode NOTIFY */
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0404, DNS_RCODE_NOTIMP));
	CHECK_EQ(rd16(p.answer + 2) & F_RA, 0);
	CHECK_EQ(rd16(p.answer + 10), 1);	/* our OPT */
	CHECK_EQ(st->notimp, 2);
	CHECK_EQ(st->rcodes[DNS_RCODE_NOTIMP], 2);
	CHECK_EQ(fake.ndoh, 0);
	CHECK_EQ(st->pending, 0);
	stop();
}

/* q with its class set to qclass. */
static void
set_class(struct msg *q, uint16_t qclass)
{
	size_t off = 12;

	while (q->buf[off] != 0)
		off += 1 + q->buf[off];
	wr16(q->buf + off + 3, qclass);
}

/*
 * Local names and query policy are answered on the host, in every mode,
 * with nothing sent upstream; an exempt zone is forwarded.
 */
static void
test_local(void)
{
	static struct fake_peer p;
	struct msg q;

	start(ENC_PREF "local-zone-exempt lab.home.arpa\n");
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x0a0a, "LocalHost", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0a0a, DNS_RCODE_NOERROR));
	CHECK(echoes(&p, &q));
	CHECK((rd16(p.answer + 2) & 0x0400) != 0);	/* AA */
	CHECK_EQ(rd16(p.answer + 6), 1);
	CHECK_EQ(rd16(p.answer + 10), 1);		/* our OPT */
	CHECK(p.len >= 4 && memcmp(p.answer + p.len - 11 - 4,
	    "\177\0\0\1", 4) == 0);

	fake_peer_init(&p, LISTEN_TCP);
	query(&q, 0x0b0b, "printer.local", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0b0b, DNS_RCODE_NXDOMAIN));
	CHECK_EQ(rd16(p.answer + 8), 1);		/* the SOA */
	CHECK_EQ(st->answered_local, 2);
	CHECK_EQ(st->rcodes[DNS_RCODE_NXDOMAIN], 1);

	fake_peer_init(&p, LISTEN_TCP);
	query(&q, 0x0c0c, "example.com", 252, 0, 0);	/* AXFR */
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0c0c, DNS_RCODE_REFUSED));
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x0d0d, "example.com", 251, 0, 0);	/* IXFR */
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0d0d, DNS_RCODE_REFUSED));
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x0e0e, "example.com", 250, 0, 0);	/* TSIG */
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0e0e, DNS_RCODE_FORMERR));
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x0f0f, "version.bind", 16, 0, 0);
	set_class(&q, 3);				/* CH */
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x0f0f, DNS_RCODE_REFUSED));
	CHECK(echoes(&p, &q));
	CHECK_EQ(st->policy, 4);
	CHECK_EQ(st->rcodes[DNS_RCODE_REFUSED], 3);
	CHECK_EQ(fake.ndoh, 0);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(st->pending, 0);

	/* The exempt zone goes to DoH. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x1010, "nas.lab.home.arpa", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK(sent(&fake.doh[0], &q));
	CHECK_EQ(p.responses, 0);
	answer(&q, 0, "nas.lab.home.arpa", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, q.buf, q.len);
	CHECK(got(&p, 0x1010, DNS_RCODE_NOERROR));
	CHECK_EQ(st->answered_doh, 1);
	CHECK_EQ(st->answered_local, 2);
	stop();
}

/*
 * encrypted-only: whatever DoH does wrong, the next upstream and then
 * SERVFAIL; nothing ever goes out as plain DNS.
 */
static void
test_encrypted_only(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;

	start(ENC_ONLY);
	u = fake.upstreams;
	CHECK_EQ(fake.plain_made, 0);	/* no fallback, no bootstrap */

	/* Connect error on both. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xa001, "www.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	CHECK_EQ(p.responses, 0);
	CHECK_EQ(fake.ndoh, 2);
	CHECK(fake.doh[1].client == &u->client[1]);
	CHECK(sent(&fake.doh[1], &q));
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0xa001, DNS_RCODE_SERVFAIL));
	CHECK(echoes(&p, &q));
	CHECK_EQ(st->doh_error_kinds[DOH_ERR_CONNECT], 2);
	CHECK_EQ(st->doh_errors, 2);
	CHECK_EQ(st->servfail, 1);
	CHECK_EQ(st->rcodes[DNS_RCODE_SERVFAIL], 1);
	fake_reset_reqs();

	/* Timeout: SERVFAIL at exactly timeout, not a millisecond before;
	 * one timer for the query, whichever upstream it is on. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xa002, "slow.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	clock_step(1500);
	fake_doh_reply(&fake.doh[0], DOH_ERR_RESET, NULL, 0);
	CHECK(fake.doh[1].live && fake.doh[1].client == &u->client[1]);
	clock_step(499);
	CHECK_EQ(p.responses, 0);
	CHECK(fake.doh[1].live);
	clock_step(1);
	CHECK(got(&p, 0xa002, DNS_RCODE_SERVFAIL));
	CHECK(fake.doh[1].cancelled);
	CHECK_EQ(st->doh_error_kinds[DOH_ERR_TIMEOUT], 1);
	CHECK_EQ(st->doh_error_kinds[DOH_ERR_RESET], 1);
	CHECK_EQ(st->servfail, 2);
	fake_reset_reqs();

	/* An answer to another question: the next upstream, then SERVFAIL. */
	fake_peer_init(&p, LISTEN_TCP);
	query(&q, 0xa003, "www.lab.test", T_AAAA, 0, 0);
	fake_query(&p, q.buf, q.len);
	answer(&a, 0, "other.lab.test", T_AAAA, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK_EQ(p.responses, 0);
	CHECK(fake.doh[1].live && fake.doh[1].client == &u->client[1]);
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xa003, DNS_RCODE_SERVFAIL));
	CHECK_EQ(st->doh_error_kinds[DOH_OK], 2);	/* mismatches */
	CHECK_EQ(st->answered_doh, 0);
	fake_reset_reqs();

	/* Every upstream backing off: SERVFAIL at once, nothing sent. */
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	fake_doh_set_state(u, 1, DOH_BACKOFF);
	CHECK_EQ(st->fallback_activations, 0);
	CHECK(proxy_unhealthy(px) != NULL);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xa004, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0xa004, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.ndoh, 0);

	/* A client being shut down: SERVFAIL, no second upstream. */
	fake_doh_set_state(u, 0, DOH_READY);
	fake_doh_set_state(u, 1, DOH_READY);
	CHECK(proxy_unhealthy(px) == NULL);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xa005, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_ERR_SHUTDOWN, NULL, 0);
	CHECK(got(&p, 0xa005, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.ndoh, 1);

	CHECK_EQ(st->servfail, 5);
	CHECK_EQ(st->answered_fallback, 0);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(fake.plain_made, 0);
	stop();
}

static void
settled_cb(void *arg)
{
	(*(int *)arg)++;
}

/* Up to proxy_start(), with the upstreams still connecting. */
static void
start_connecting(const char *text, int *told)
{
	size_t i;

	clock_test_begin(1000000);
	fake_reset_reqs();
	px_cfg = make_cfg(text);
	if ((px = proxy_new(base, px_cfg)) == NULL)
		abort();
	for (i = 0; fake.upstreams != NULL && i < fake.upstreams->n; i++)
		fake.upstreams->client[i].state = DOH_CONNECTING;
	CHECK(proxy_on_settled(px, settled_cb, told) == 0);
	proxy_start(px);
	st = proxy_stats(px);
}

/*
 * proxy_on_settled(): told once, from the loop, when the first upstream
 * connects or every one backs off; at once in plaintext mode.
 */
static void
test_settled(void)
{
	struct upstreams *u;
	int told = 0;

	start_connecting(ENC_ONLY, &told);
	u = fake.upstreams;
	run();
	CHECK_EQ(told, 0);
	CHECK(!proxy_settled(px));
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	run();
	CHECK_EQ(told, 0);		/* the other one may still connect */
	fake_doh_set_state(u, 1, DOH_READY);
	CHECK_EQ(told, 0);		/* from the loop, not the callback */
	run();
	CHECK_EQ(told, 1);
	CHECK(proxy_unhealthy(px) == NULL);
	fake_doh_set_state(u, 1, DOH_BACKOFF);
	fake_doh_set_state(u, 1, DOH_READY);
	run();
	CHECK_EQ(told, 1);		/* once */
	stop();

	told = 0;
	start_connecting(ENC_ONLY, &told);
	u = fake.upstreams;
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	fake_doh_set_state(u, 1, DOH_BACKOFF);
	run();
	CHECK_EQ(told, 1);
	CHECK(proxy_unhealthy(px) != NULL);
	stop();

	told = 0;
	start_connecting("mode plaintext\nfallback 192.0.2.53\n"
	    "listen 127.0.0.1:5300\ncache-size 0\n", &told);
	run();
	CHECK_EQ(told, 1);
	stop();
}

/*
 * Hedged requests: past the hedge delay an unanswered query also goes to
 * the next upstream; the first answer wins and the other request is
 * cancelled (its stream reset).  One failure with the other still in
 * flight waits for it.  Over the budget, no hedge.
 */
static void
test_hedge(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;
	int i;

	fake.hedge_delay_ms = 30;
	start(ENC_ONLY);
	u = fake.upstreams;

	/* Answered before the delay: no hedge. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xb001, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	clock_step(29);
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xb001, DNS_RCODE_NOERROR));
	clock_step(100);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(st->hedges, 0);
	fake_reset_reqs();

	/* The hedge answers first: the first request is cancelled. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xb002, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	clock_step(29);
	CHECK_EQ(fake.ndoh, 1);
	clock_step(1);
	CHECK_EQ(fake.ndoh, 2);
	CHECK(fake.doh[1].client == &u->client[1]);
	CHECK(sent(&fake.doh[1], &q));
	CHECK_EQ(st->hedges, 1);
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xb002, DNS_RCODE_NOERROR));
	CHECK(fake.doh[0].cancelled);
	CHECK_EQ(st->hedge_wins, 1);
	CHECK_EQ(fake.hedge_wins, 1);
	CHECK_EQ(st->answered_doh, 2);
	fake_reset_reqs();

	/* The first fails while the hedge waits: the hedge answers. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xb003, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	clock_step(30);
	CHECK_EQ(fake.ndoh, 2);
	fake_doh_reply(&fake.doh[0], DOH_ERR_TIMEOUT, NULL, 0);
	CHECK_EQ(p.responses, 0);
	CHECK_EQ(fake.ndoh, 2);		/* nothing new: one still waits */
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xb003, DNS_RCODE_NOERROR));
	fake_reset_reqs();

	/* Both fail: SERVFAIL with EDE 22, at once. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xb004, "www.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	clock_step(30);
	fake_doh_reply(&fake.doh[1], DOH_ERR_RESET, NULL, 0);
	CHECK_EQ(p.responses, 0);
	fake_doh_reply(&fake.doh[0], DOH_ERR_TIMEOUT, NULL, 0);
	CHECK(got(&p, 0xb004, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.ndoh, 2);
	fake_reset_reqs();

	/* The budget: a burst of 20 hedges, then one per ten queries. */
	for (i = 0; i < 40; i++) {
		fake_peer_init(&p, LISTEN_UDP);
		query(&q, (uint16_t)(0xb100 + i), "www.lab.test", T_A, 0, 0);
		fake_query(&p, q.buf, q.len);
		clock_step(30);
		fake_doh_reply(&fake.doh[fake.ndoh - 1], DOH_OK, a.buf, a.len);
		CHECK(got(&p, (uint16_t)(0xb100 + i), DNS_RCODE_NOERROR));
		fake_reset_reqs();
	}
	CHECK(st->hedges >= 20 && st->hedges <= 24);
	CHECK(st->hedges_denied >= 16);
	stop();
	fake.hedge_delay_ms = 0;
}

/* Send q from a fresh peer p. */
static void
ask(struct fake_peer *p, struct msg *q, uint16_t id, const char *name)
{
	fake_peer_init(p, LISTEN_UDP);
	query(q, id, name, T_A, 0, 0);
	fake_query(p, q->buf, q->len);
}

/* The fallback's answer (random ID) reaches p with p's ID. */
static void
fallback_answers(struct fake_req *r, struct fake_peer *p, struct msg *q,
    const char *name)
{
	struct msg a;

	CHECK(r->live && r->plain == fake.fallback);
	CHECK(sent(r, q));
	answer(&a, 0xbeef, name, T_A, DNS_RCODE_NXDOMAIN, 0);
	fake_plain_reply(r, 0, a.buf, a.len);
	CHECK(got(p, rd16(q->buf), DNS_RCODE_NXDOMAIN));
	CHECK(same_but_id(p, &a));
}

/* encrypted-preferred: each way DoH fails leads to the fallback. */
static void
test_encrypted_preferred(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;

	start(ENC_PREF);
	u = fake.upstreams;
	CHECK(fake.fallback != NULL);
	CHECK_EQ(fake.fallback->role, PLAIN_ROLE_FALLBACK);
	CHECK_EQ(fake.fallback->nservers, 1);

	/* Connect error. */
	ask(&p, &q, 0xb001, "a.lab.test");
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	CHECK_EQ(fake.nplain, 1);
	fallback_answers(&fake.plainq[0], &p, &q, "a.lab.test");
	CHECK_EQ(st->answered_fallback, 1);
	CHECK_EQ(st->rcodes[DNS_RCODE_NXDOMAIN], 1);

	/* Timeout: the fallback is asked at exactly timeout. */
	ask(&p, &q, 0xb002, "b.lab.test");
	clock_step(1999);
	CHECK_EQ(fake.nplain, 1);
	clock_step(1);
	CHECK(fake.doh[1].cancelled);
	CHECK_EQ(fake.nplain, 2);
	CHECK_EQ(p.responses, 0);
	fallback_answers(&fake.plainq[1], &p, &q, "b.lab.test");
	CHECK_EQ(st->doh_error_kinds[DOH_ERR_TIMEOUT], 1);

	/* An answer that does not match. */
	ask(&p, &q, 0xb003, "c.lab.test");
	answer(&a, 0, "d.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[2], DOH_OK, a.buf, a.len);
	fallback_answers(&fake.plainq[2], &p, &q, "c.lab.test");

	/* An HTTP error. */
	ask(&p, &q, 0xb004, "e.lab.test");
	fake_doh_reply(&fake.doh[3], DOH_ERR_HTTP, NULL, 0);
	fallback_answers(&fake.plainq[3], &p, &q, "e.lab.test");
	CHECK_EQ(st->answered_fallback, 4);
	CHECK_EQ(st->doh_errors, 4);
	CHECK_EQ(st->servfail, 0);
	fake_reset_reqs();

	/* The fallback times out too: timeout per fallback server plus
	 * one, counted from when it was asked. */
	ask(&p, &q, 0xb005, "f.lab.test");
	clock_step(2000);			/* DoH times out */
	CHECK_EQ(fake.nplain, 1);
	clock_step(2 * 2000 - 1);
	CHECK_EQ(p.responses, 0);
	clock_step(1);
	CHECK(got(&p, 0xb005, DNS_RCODE_SERVFAIL));
	CHECK(fake.plainq[0].cancelled);

	/* The fallback has no answer, or cannot be asked: SERVFAIL. */
	ask(&p, &q, 0xb006, "g.lab.test");
	fake_doh_reply(&fake.doh[1], DOH_ERR_TLS, NULL, 0);
	fake_plain_reply(&fake.plainq[1], -1, NULL, 0);
	CHECK(got(&p, 0xb006, DNS_RCODE_SERVFAIL));
	fake.fallback->refuse = 1;
	ask(&p, &q, 0xb007, "h.lab.test");
	fake_doh_reply(&fake.doh[2], DOH_ERR_TLS, NULL, 0);
	CHECK(got(&p, 0xb007, DNS_RCODE_SERVFAIL));
	fake.fallback->refuse = 0;
	CHECK_EQ(st->servfail, 3);
	CHECK_EQ(st->answered_fallback, 4);
	CHECK_EQ(st->pending, 0);
	CHECK_EQ(u->client[0].submits, 7);
	stop();
}

/* While DoH is down, the fallback straight away; DoH again once it is up. */
static void
test_fallback_and_back(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;

	start(ENC_PREF);
	u = fake.upstreams;
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	CHECK_EQ(st->fallback_activations, 1);
	CHECK(proxy_unhealthy(px) != NULL);

	ask(&p, &q, 0xc001, "a.lab.test");
	CHECK_EQ(fake.ndoh, 0);			/* not even tried */
	fallback_answers(&fake.plainq[0], &p, &q, "a.lab.test");
	ask(&p, &q, 0xc002, "b.lab.test");
	fallback_answers(&fake.plainq[1], &p, &q, "b.lab.test");
	CHECK_EQ(fake.ndoh, 0);
	CHECK_EQ(st->doh_errors, 0);

	fake_doh_set_state(u, 0, DOH_READY);
	CHECK(proxy_unhealthy(px) == NULL);
	ask(&p, &q, 0xc003, "c.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(fake.nplain, 2);
	CHECK(sent(&fake.doh[0], &q));
	answer(&a, 0, "c.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xc003, DNS_RCODE_NOERROR));
	CHECK(same_but_id(&p, &a));
	CHECK_EQ(st->answered_doh, 1);
	CHECK_EQ(st->answered_fallback, 2);
	CHECK_EQ(st->fallback_activations, 1);
	stop();
}

/* The TTL of the first answer record of p's answer. */
static uint32_t
first_ttl(const struct fake_peer *p)
{
	size_t off = 12;

	/* question: name (uncompressed), type, class; then the owner
	 * (a pointer, 2 bytes), type, class */
	while (off < p->len && p->answer[off] != 0)
		off += 1 + p->answer[off];
	off += 1 + 4 + 2 + 4;
	if (off + 4 > p->len)
		return UINT32_MAX;
	return (uint32_t)rd16(p->answer + off) << 16 | rd16(p->answer + off +
	    2);
}

/*
 * The cache in the core: a second ask is answered without a request,
 * with the client's ID and case and the TTL lowered; it expires on
 * stepped time; an answer that came over plain DNS is served only while
 * DoH is down; a reload that changes the upstreams empties it.
 */
static void
test_cache(void)
{
	static struct fake_peer p;
	struct config *cfg;
	struct msg q, a;
	struct upstreams *u;

	start(ENC_PREF_CACHE);
	u = fake.upstreams;
	ask(&p, &q, 0xd001, "www.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xd001, DNS_RCODE_NOERROR));
	CHECK_EQ(first_ttl(&p), 300);

	clock_step(10500);
	ask(&p, &q, 0xd002, "WWW.Lab.test");
	CHECK_EQ(fake.ndoh, 1);			/* no new request */
	CHECK(got(&p, 0xd002, DNS_RCODE_NOERROR));
	CHECK(echoes(&p, &q));			/* the client's case */
	CHECK_EQ(first_ttl(&p), 290);
	CHECK_EQ(st->cache_hits, 1);
	CHECK_EQ(st->cache_misses, 1);
	CHECK_EQ(st->answered_doh, 1);

	clock_step(290 * 1000);			/* expired */
	ask(&p, &q, 0xd003, "www.lab.test");
	CHECK_EQ(fake.ndoh, 2);
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xd003, DNS_RCODE_NOERROR));
	fake_reset_reqs();

	/* DoH down: the fallback's answer is kept and served... */
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	ask(&p, &q, 0xd004, "plain.lab.test");
	CHECK_EQ(fake.nplain, 1);
	answer(&a, 0xbeef, "plain.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0xd004, DNS_RCODE_NOERROR));
	ask(&p, &q, 0xd005, "plain.lab.test");
	CHECK_EQ(fake.nplain, 1);
	CHECK(got(&p, 0xd005, DNS_RCODE_NOERROR));
	/* ...until DoH works again: then the name goes to DoH. */
	fake_doh_set_state(u, 0, DOH_READY);
	ask(&p, &q, 0xd006, "plain.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(fake.nplain, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xd006, DNS_RCODE_NOERROR));
	fake_reset_reqs();

	/* A reload to other upstreams empties it. */
	cfg = make_cfg(ENC_PREF_CACHE
	    "upstream https://192.0.2.9/dns-query\n");
	CHECK_EQ(proxy_reload(px, cfg), 0);
	ask(&p, &q, 0xd007, "www.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xd007, DNS_RCODE_NOERROR));
	stop();
}

/*
 * EDNS version 1 (RFC 6891 6.1.3): BADVERS, answered before the cache,
 * the local zones and any upstream, and counted as BADVERS.  Its answer:
 * header rcode 0, the question, no record but an OPT of version 0 whose
 * extended rcode is 1 (16 >> 4).
 */
static void
test_badvers(void)
{
	static struct fake_peer p;
	struct msg q, a;
	const uint8_t *o;
	size_t i;
	static const struct {
		const char		*name;
		enum listen_transport	 t;
	} cases[] = {
		{ "www.lab.test", LISTEN_UDP },		/* in the cache */
		{ "new.lab.test", LISTEN_UDP },		/* nowhere */
		{ "localhost", LISTEN_TCP },		/* a local zone */
	};

	start(ENC_PREF_CACHE);
	ask(&p, &q, 0xe001, "www.lab.test");
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xe001, DNS_RCODE_NOERROR));
	fake_reset_reqs();

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_peer_init(&p, cases[i].t);
		query(&q, (uint16_t)(0xe100 + i), cases[i].name, T_A, 1232, 0);
		q.buf[q.len - 11 + 6] = 1;		/* OPT version */
		fake_query(&p, q.buf, q.len);
		CHECK(got(&p, (uint16_t)(0xe100 + i), DNS_RCODE_NOERROR));
		CHECK(echoes(&p, &q));
		CHECK_EQ(rd16(p.answer + 2) & F_RA, F_RA);
		CHECK_EQ(rd16(p.answer + 6), 0);
		CHECK_EQ(rd16(p.answer + 8), 0);
		CHECK_EQ(rd16(p.answer + 10), 1);
		CHECK_EQ(p.len, q.len);
		o = p.answer + p.len - 11;
		CHECK(o[0] == 0 && rd16(o + 1) == DNS_TYPE_OPT);
		CHECK_EQ(o[5], 1);			/* extended rcode */
		CHECK_EQ(o[6], 0);			/* version */
	}
	CHECK_EQ(fake.ndoh, 0);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(st->cache_hits, 0);
	CHECK_EQ(st->answered_local, 0);
	/* Counted as BADVERS, whole: its header alone says NOERROR. */
	CHECK_EQ(st->badvers, 3);
	CHECK_EQ(st->rcodes[DNS_RCODE_BADVERS], 3);
	CHECK_EQ(st->rcodes[DNS_RCODE_NOERROR], 1);
	CHECK_EQ(st->pending, 0);

	/* Version 0 again: the cache. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xe200, "www.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0xe200, DNS_RCODE_NOERROR));
	CHECK_EQ(rd16(p.answer + 6), 1);
	CHECK_EQ(st->cache_hits, 1);
	CHECK_EQ(fake.ndoh, 0);
	stop();
}

/* The rcode and, when the answer has one, the first EDE INFO-CODE. */
static int
ede_code(const struct fake_peer *p)
{
	size_t i;

	/* EDE option: code 15, then length, then INFO-CODE */
	for (i = 12; i + 6 <= p->len; i++)
		if (rd16(p->answer + i) == 15 && rd16(p->answer + i + 2) >= 2)
			return rd16(p->answer + i + 4);
	return -1;
}

/*
 * Access control: the defaults admit loopback and private networks and
 * refuse the rest; allow and deny override them, the longest prefix
 * winning; a refused client gets REFUSED (EDE 18 with EDNS) and causes
 * no request upstream.
 */
static void
test_acl(void)
{
	static struct fake_peer p;
	struct msg q;
	static const struct {
		const char	*ip;
		int		 ok;
	} cases[] = {
		{ "127.0.0.1", 1 }, { "127.0.0.2", 0 }, { "10.2.0.1", 1 },
		{ "10.1.2.3", 0 }, { "192.168.7.7", 1 }, { "100.64.0.1", 1 },
		{ "192.0.2.1", 1 }, { "198.51.100.1", 0 }, { "::1", 1 },
		{ "fd00::53", 1 }, { "fe80::1", 1 }, { "2001:db8::1", 0 },
		{ "::ffff:127.0.0.1", 1 }, { "::ffff:198.51.100.1", 0 },
	};
	size_t i;

	start(ENC_ONLY "deny 127.0.0.2/32\n" "deny 10.1.0.0/16\n"
	    "allow 192.0.2.0/24\n");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_reset_reqs();
		fake_peer_init(&p, LISTEN_UDP);
		fake_peer_from(&p, cases[i].ip);
		query(&q, (uint16_t)(0x7000 + i), "acl.lab.test", T_A, 1232, 0);
		fake_query(&p, q.buf, q.len);
		if (cases[i].ok) {
			CHECK_EQ(fake.ndoh, 1);
			fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
			fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
			CHECK(got(&p, (uint16_t)(0x7000 + i),
			    DNS_RCODE_SERVFAIL));
		} else {
			CHECK_EQ(fake.ndoh, 0);
			CHECK(got(&p, (uint16_t)(0x7000 + i),
			    DNS_RCODE_REFUSED));
			CHECK_EQ(ede_code(&p), 18);
		}
	}
	CHECK_EQ(st->refused_acl, 5);
	fake_reset_reqs();
	stop();
}

/* plaintext: plain DNS only; no TLS, no upstream, no DoH request. */
static void
test_plaintext(void)
{
	static struct fake_peer p;
	struct msg q;
	int made = fake.upstream_made, tls = fake.tls_ctxs;

	start("mode plaintext\n"
	    "fallback 192.0.2.53\n"
	    "fallback 192.0.2.54\n"
	    "listen 127.0.0.1:5300\n"
	    "timeout 500ms\n"
	    "cache-size 0\n");
	CHECK_EQ(fake.upstream_made, made);
	CHECK_EQ(fake.tls_ctxs, tls);
	CHECK_EQ(proxy_upstream_count(px), 0);
	CHECK(proxy_unhealthy(px) == NULL);
	CHECK_EQ(fake.fallback->nservers, 2);

	ask(&p, &q, 0xd001, "a.lab.test");
	CHECK_EQ(fake.nplain, 1);
	fallback_answers(&fake.plainq[0], &p, &q, "a.lab.test");

	/* The backstop timer: 500 ms for each of the two servers, plus
	 * one. */
	ask(&p, &q, 0xd002, "b.lab.test");
	clock_step(1499);
	CHECK_EQ(p.responses, 0);
	clock_step(1);
	CHECK(got(&p, 0xd002, DNS_RCODE_SERVFAIL));
	CHECK(fake.plainq[1].cancelled);
	CHECK_EQ(fake.ndoh, 0);
	CHECK_EQ(st->answered_fallback, 1);
	CHECK_EQ(st->servfail, 1);
	CHECK_EQ(st->doh_errors, 0);
	stop();
}

/* A network change reaches the upstream set, counted; none in plaintext. */
static void
test_network_changed(void)
{
	start("upstream https://192.0.2.1/dns-query\n"
	    "listen 127.0.0.1:5300\n");
	CHECK_EQ(fake.upstreams->network_changes, 0);
	proxy_network_changed(px);
	proxy_network_changed(px);
	CHECK_EQ(fake.upstreams->network_changes, 2);
	CHECK_EQ(st->network_changes, 2);
	stop();

	start("mode plaintext\nfallback 192.0.2.53\n"
	    "listen 127.0.0.1:5300\n");
	proxy_network_changed(px);
	CHECK_EQ(st->network_changes, 1);
	stop();
}

/* max-pending: the query past the limit gets SERVFAIL at once. */
static void
test_max_pending(void)
{
	static struct fake_peer p[5];
	static const char *const names[] = {
		"a0.lab.test", "a1.lab.test", "a2.lab.test", "a3.lab.test",
		"a4.lab.test",
	};
	struct msg q, a;
	int i;

	start(ENC_ONLY "max-pending 3\n" "max-pending-per-client 0\n");
	for (i = 0; i < 4; i++)
		ask(&p[i], &q, (uint16_t)(0xe000 + i), names[i]);
	CHECK_EQ(fake.ndoh, 3);
	CHECK(got(&p[3], 0xe003, DNS_RCODE_SERVFAIL));
	CHECK(echoes(&p[3], &q));
	CHECK_EQ(st->over_limit, 1);
	CHECK_EQ(st->servfail, 1);
	CHECK_EQ(st->pending, 3);

	answer(&a, 0, names[1], T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p[1], 0xe001, DNS_RCODE_NOERROR));
	CHECK_EQ(st->pending, 2);
	/* Room again for one. */
	ask(&p[4], &q, 0xe004, names[4]);
	CHECK_EQ(p[4].responses, 0);
	CHECK_EQ(st->pending, 3);
	answer(&a, 0, names[0], T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	answer(&a, 0, names[2], T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[2], DOH_OK, a.buf, a.len);
	answer(&a, 0, names[4], T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[3], DOH_OK, a.buf, a.len);
	CHECK(got(&p[0], 0xe000, DNS_RCODE_NOERROR));
	CHECK(got(&p[2], 0xe002, DNS_RCODE_NOERROR));
	CHECK(got(&p[4], 0xe004, DNS_RCODE_NOERROR));
	CHECK_EQ(st->pending, 0);
	CHECK_EQ(st->answered_doh, 4);
	CHECK_EQ(st->over_limit, 1);
	CHECK_EQ(st->queries_udp, 5);
	stop();
}

/*
 * Identical queries in flight share one upstream request; each client
 * gets its own ID and case; past PROXY_MAX_FOLLOWERS (64) a query asks
 * on its own.  A failure reaches every one of them.
 */
static void
test_coalesce(void)
{
	static struct fake_peer p[67];
	struct msg q, a;
	int i;

	start(ENC_ONLY);
	ask(&p[0], &q, 0x9000, "same.lab.test");
	ask(&p[1], &q, 0x9001, "SAME.lab.test");
	ask(&p[2], &q, 0x9002, "same.lab.TEST");
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(st->coalesced, 2);
	CHECK_EQ(st->pending, 3);
	answer(&a, 0, "same.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p[0], 0x9000, DNS_RCODE_NOERROR));
	CHECK(got(&p[1], 0x9001, DNS_RCODE_NOERROR));
	CHECK(got(&p[2], 0x9002, DNS_RCODE_NOERROR));
	CHECK(memcmp(p[1].answer + 12, "\4SAME", 5) == 0);
	CHECK(memcmp(p[2].answer + 12 + 9, "\4TEST", 5) == 0);
	CHECK_EQ(st->answered_doh, 3);
	CHECK_EQ(st->pending, 0);
	fake_reset_reqs();

	/* 1 + 64 share, the 66th asks on its own. */
	for (i = 0; i < 66; i++)
		ask(&p[i], &q, (uint16_t)(0x9100 + i), "many.lab.test");
	CHECK_EQ(fake.ndoh, 2);
	CHECK_EQ(st->coalesced, 2 + 64);
	/* The first request fails on both upstreams: 65 SERVFAILs. */
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	fake_doh_reply(&fake.doh[2], DOH_ERR_CONNECT, NULL, 0);
	for (i = 0; i < 65; i++)
		CHECK(got(&p[i], (uint16_t)(0x9100 + i), DNS_RCODE_SERVFAIL));
	CHECK_EQ(p[65].responses, 0);
	answer(&a, 0, "many.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p[65], 0x9100 + 65, DNS_RCODE_NOERROR));
	CHECK_EQ(st->pending, 0);
	stop();
}

/*
 * Serve-stale (RFC 8767) on stepped time: an expired entry is served
 * when no upstream answers, and when the upstream is slower than
 * serve-stale-timeout, with TTL 30, while the refresh goes on; past the
 * window nothing stale is served.  Prefetch: a hit in the last tenth of
 * the TTL refreshes the entry in the background, once.
 */
static void
test_stale_prefetch(void)
{
	static struct fake_peer p;
	struct msg q, a;

	start(ENC_ONLY "serve-stale 10m\n" "serve-stale-timeout 1800ms\n"
	    "cache-size 1m\n");
	ask(&p, &q, 0x8001, "st.lab.test");
	answer(&a, 0, "st.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x8001, DNS_RCODE_NOERROR));
	fake_reset_reqs();

	/* Prefetch: at 275 s of 300, a hit and one background request. */
	clock_step(275 * 1000);
	ask(&p, &q, 0x8002, "st.lab.test");
	CHECK(got(&p, 0x8002, DNS_RCODE_NOERROR));
	CHECK_EQ(first_ttl(&p), 25);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(st->prefetches, 1);
	ask(&p, &q, 0x8003, "st.lab.test");	/* no second refresh */
	CHECK(got(&p, 0x8003, DNS_RCODE_NOERROR));
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	clock_step(1000);
	ask(&p, &q, 0x8004, "st.lab.test");	/* refreshed: 299 s left */
	CHECK_EQ(first_ttl(&p), 299);
	CHECK_EQ(st->answered_doh, 1);		/* the refresh was no one's */
	fake_reset_reqs();

	/* Expired 5 s ago; both upstreams fail: stale, TTL 30. */
	clock_step(305 * 1000);
	ask(&p, &q, 0x8005, "st.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0x8005, DNS_RCODE_NOERROR));
	CHECK_EQ(first_ttl(&p), 30);
	CHECK_EQ(st->stale_answers, 1);
	CHECK_EQ(st->servfail, 0);
	fake_reset_reqs();

	/* A slow upstream: stale at 1800 ms, the refresh goes on. */
	ask(&p, &q, 0x8006, "st.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	clock_step(1799);
	CHECK_EQ(p.responses, 0);
	clock_step(1);
	CHECK(got(&p, 0x8006, DNS_RCODE_NOERROR));
	CHECK_EQ(first_ttl(&p), 30);
	CHECK_EQ(st->stale_answers, 2);
	CHECK(fake.doh[0].live);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK_EQ(p.responses, 1);		/* nothing more for the client */
	ask(&p, &q, 0x8007, "st.lab.test");	/* fresh now */
	CHECK(got(&p, 0x8007, DNS_RCODE_NOERROR));
	CHECK_EQ(first_ttl(&p), 300);
	fake_reset_reqs();

	/* Past the window (10 m after expiry): SERVFAIL, nothing stale. */
	clock_step((300 + 601) * 1000);
	ask(&p, &q, 0x8008, "st.lab.test");
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0x8008, DNS_RCODE_SERVFAIL));
	CHECK_EQ(st->stale_answers, 2);
	stop();
}

/*
 * A reload with queries in flight: they finish on the upstream side they
 * started on (fallback included), new ones use the new side, and the old
 * side is freed once its last query is over.
 */
static void
test_reload(void)
{
	static struct fake_peer p1, p2, p3;
	struct msg q1, q2, q3, a;
	struct upstreams *old, *cur;
	struct plain *oldfb;
	struct config *cfg;
	int sets, oldgen;

	start(ENC_PREF);
	old = fake.upstreams;
	oldgen = old->gen;
	oldfb = fake.fallback;
	sets = fake.plain_sets;
	ask(&p1, &q1, 0xf001, "one.lab.test");
	CHECK(fake.doh[0].client == &old->client[0]);

	cfg = make_cfg("mode encrypted-preferred\n"
	    "upstream https://192.0.2.7/dns-query\n"
	    "upstream https://192.0.2.8/dns-query\n"
	    "fallback 192.0.2.54\n"
	    "listen 127.0.0.1:5301\n"
	    "timeout 1s\n"
	    "cache-size 0\n");
	CHECK_EQ(proxy_reload(px, cfg), 0);	/* px owns cfg now */
	cur = fake.upstreams;
	CHECK(cur != old && cur->n == 2 && cur->started == 1);
	CHECK(fake.listen_cfg == cfg);
	CHECK_EQ(proxy_upstream_count(px), 2);
	run();
	CHECK_EQ(fake.upstream_sets, 2);	/* the old one is in use */

	ask(&p2, &q2, 0xf002, "two.lab.test");
	CHECK(fake.doh[1].client == &cur->client[0]);

	/* The old side's health is no longer the proxy's concern. */
	fake_doh_set_state(old, 0, DOH_BACKOFF);
	CHECK_EQ(st->fallback_activations, 0);

	/* q1 fails over to the old fallback servers, under the old 2 s
	 * timeout: its DoH try started before the reload. */
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	CHECK(fake.plainq[0].plain == oldfb);
	CHECK(fake.fallback != oldfb);
	CHECK(sent(&fake.plainq[0], &q1));
	/* q2 times out after the new 1 s and goes to the new fallback. */
	clock_step(1000);
	CHECK(fake.doh[1].cancelled);
	CHECK(fake.plainq[1].plain == fake.fallback);
	CHECK(sent(&fake.plainq[1], &q2));

	answer(&a, 0x5555, "one.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p1, 0xf001, DNS_RCODE_NOERROR));
	run();
	CHECK_EQ(fake.upstream_sets, 1);	/* the old one is freed */
	CHECK_EQ(fake.upstream_freed_gen, oldgen);
	CHECK_EQ(fake.plain_sets, sets);	/* old fallback out, new in */

	answer(&a, 0x6666, "two.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_plain_reply(&fake.plainq[1], 0, a.buf, a.len);
	CHECK(got(&p2, 0xf002, DNS_RCODE_NOERROR));
	run();
	CHECK_EQ(fake.upstream_sets, 1);	/* the current one stays */

	/* A reload that fails changes nothing, and keeps cfg ours. */
	cfg = make_cfg(ENC_ONLY);
	fake.listen_update_fail = 1;
	CHECK_EQ(proxy_reload(px, cfg), -1);
	free_cfg(cfg);
	CHECK_EQ(fake.upstream_sets, 1);
	CHECK_EQ(fake.plain_sets, sets);
	ask(&p3, &q3, 0xf003, "three.lab.test");
	CHECK(fake.doh[2].client == &cur->client[0]);

	CHECK_EQ(st->answered_fallback, 2);
	CHECK_EQ(st->answered_doh, 0);

	/* Shutting down answers what is in flight. */
	proxy_stop(px);
	CHECK(got(&p3, 0xf003, DNS_RCODE_SERVFAIL));
	CHECK(fake.doh[2].cancelled);
	CHECK_EQ(st->pending, 0);
	stop();
}

/* Steady state: no allocation per query, on DoH or on the fallback. */
static void
test_no_malloc(void)
{
	static struct fake_peer p[8];
	struct msg q, a, many;
	unsigned long allocs, frees;
	char name[32];
	int i, round;

	/* With the per-client cap (4) and the rate limit on: their tables
	 * are made up front. */
	start(ENC_PREF "max-pending 8\n" "ratelimit 1000\n");
	answer(&a, 0, "a.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	ask(&p[0], &q, 1, "a.lab.test");
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p[0], 1, DNS_RCODE_NOERROR));
	fake_reset_reqs();

	/* One at a time, by DoH and by the fallback. */
	allocs = nalloc;
	frees = nfree;
	for (i = 0; i < 20; i++) {
		ask(&p[0], &q, (uint16_t)(100 + i), "a.lab.test");
		if (i % 2 == 0) {
			fake_doh_reply(&fake.doh[fake.ndoh - 1], DOH_OK,
			    a.buf, a.len);
		} else {
			fake_doh_reply(&fake.doh[fake.ndoh - 1],
			    DOH_ERR_CONNECT, NULL, 0);
			fake_plain_reply(&fake.plainq[fake.nplain - 1], 0,
			    a.buf, a.len);
		}
		CHECK(got(&p[0], (uint16_t)(100 + i), DNS_RCODE_NOERROR));
	}
	CHECK_EQ(nalloc - allocs, 0);
	CHECK_EQ(nfree - frees, 0);
	fake_reset_reqs();

	/* Eight at once (eight names: the same one would share one
	 * request): the first time makes the objects, then none. */
	for (round = 0; round < 2; round++) {
		allocs = nalloc;
		for (i = 0; i < 8; i++) {
			snprintf(name, sizeof(name), "n%d.lab.test", i);
			fake_peer_init(&p[i], LISTEN_UDP);
			fake_peer_from(&p[i], i % 2 ? "127.0.0.1" :
			    "127.0.0.2");
			query(&q, (uint16_t)(200 + i), name, T_A, 0, 0);
			fake_query(&p[i], q.buf, q.len);
		}
		CHECK_EQ(st->pending_sources, 2);
		for (i = 0; i < 8; i++) {
			snprintf(name, sizeof(name), "n%d.lab.test", i);
			answer(&many, 0, name, T_A, DNS_RCODE_NOERROR, 1);
			fake_doh_reply(&fake.doh[i], DOH_OK, many.buf,
			    many.len);
		}
		for (i = 0; i < 8; i++)
			CHECK(got(&p[i], (uint16_t)(200 + i),
			    DNS_RCODE_NOERROR));
		if (round == 0)
			CHECK_EQ(nalloc - allocs, 7);	/* 1 spare already */
		else
			CHECK_EQ(nalloc - allocs, 0);
		fake_reset_reqs();
	}

	/* A client query longer than a pooled object (its own padding):
	 * what goes upstream is built anew, short, in a pooled object. */
	allocs = nalloc;
	frees = nfree;
	fake_peer_init(&p[0], LISTEN_TCP);
	query(&q, 300, "a.lab.test", T_A, 1232, 600);
	CHECK(q.len > 512);
	fake_query(&p[0], q.buf, q.len);
	CHECK(sent(&fake.doh[0], &q));
	CHECK_EQ(fake.doh[0].len, 128);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p[0], 300, DNS_RCODE_NOERROR));
	CHECK_EQ(nalloc - allocs, 0);
	CHECK_EQ(nfree - frees, 0);
	stop();
}

/*
 * The options of the OPT record of msg (len bytes), read with dnsmsg's
 * reader: codes[] gets up to 8 option codes, *ede the INFO-CODE of an EDE
 * option (-1 if none) and text its EXTRA-TEXT.  Returns the number of
 * options, or -1 if msg has no OPT record (or does not parse).
 */
static int
opt_options(const uint8_t *msg, size_t len, uint16_t *codes, int *ede,
    char *text, size_t textlen, uint32_t *ttl, uint16_t *size)
{
	struct dnsmsg_rd r, rd;
	struct dns_header h;
	struct dns_rr rr;
	uint16_t code, olen, info;
	uint32_t i, count;
	const uint8_t *p;
	int n = 0;

	*ede = -1;
	text[0] = 0;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 || dnsmsg_rd_name(&r, NULL,
	    NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		return -1;
	count = (uint32_t)h.count[1] + h.count[2] + h.count[3];
	for (i = 0; i < count; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return -1;
		if (rr.type != DNS_TYPE_OPT)
			continue;
		rd = rr.rdata;
		*ttl = rr.ttl;
		*size = rr.class;
		while (dnsmsg_rd_left(&rd) > 0) {
			if (dnsmsg_rd_u16(&rd, &code) == -1 ||
			    dnsmsg_rd_u16(&rd, &olen) == -1)
				return -1;
			if (n < 8)
				codes[n] = code;
			n++;
			if (code == DNS_OPT_EDE) {
				if (olen < 2 || (size_t)olen - 2 >= textlen ||
				    dnsmsg_rd_u16(&rd, &info) == -1 ||
				    dnsmsg_rd_bytes(&rd, olen - 2, &p) == -1)
					return -1;
				*ede = info;
				memcpy(text, p, olen - 2);
				text[olen - 2] = 0;
			} else if (dnsmsg_rd_skip(&rd, olen) == -1)
				return -1;
		}
		return n;
	}
	return -1;
}

/* The EDE code of p's answer (-1: none), its text in text. */
static int
ede_of(const struct fake_peer *p, char *text, size_t textlen)
{
	uint16_t codes[8], size;
	uint32_t ttl;
	int ede;

	if (opt_options(p->answer, p->len, codes, &ede, text, textlen, &ttl,
	    &size) == -1)
		return -2;	/* no OPT at all */
	return ede;
}

/* A client query with Client Subnet and a cookie, DO and CD set. */
static void
query_with_options(struct msg *m, uint16_t id, const char *name)
{
	m->len = 0;
	put16(m, id);
	put16(m, F_RD | DNS_FLAG_CD | DNS_FLAG_AD);
	put16(m, 1);
	put16(m, 0);
	put16(m, 0);
	put16(m, 1);
	put_dname(m, name);
	put16(m, T_A);
	put16(m, DNS_CLASS_IN);
	put8(m, 0);
	put16(m, DNS_TYPE_OPT);
	put16(m, 4096);
	put32(m, DNS_EDNS_DO);
	put16(m, 4 + 7 + 4 + 8);
	put16(m, 8);		/* Client Subnet, RFC 7871: 192.0.2.0/24 */
	put16(m, 7);
	put16(m, 1);
	put8(m, 24);
	put8(m, 0);
	put8(m, 192);
	put8(m, 0);
	put8(m, 2);
	put16(m, 10);		/* client cookie, RFC 7873 */
	put16(m, 8);
	put32(m, 0x01020304);
	put32(m, 0x05060708);
}

/*
 * dnssec off: DO never goes upstream, whatever the client sent (CD
 * does), and no answer has AD, from the upstream or the cache; process
 * (the default) passes DO up and AD back.
 */
static void
test_dnssec_off(void)
{
	static struct fake_peer p;
	struct msg q, a;
	uint16_t codes[8], size;
	uint32_t ttl;
	char text[64];
	int ede, off;

	for (off = 1; off >= 0; off--) {
		start(off ? ENC_ONLY "dnssec off\n" "cache-size 1m\n" :
		    ENC_ONLY "cache-size 1m\n");
		fake_peer_init(&p, LISTEN_UDP);
		query_with_options(&q, 0xd001, "signed.lab.test");
		fake_query(&p, q.buf, q.len);
		CHECK_EQ(fake.ndoh, 1);
		CHECK_EQ(rd16(fake.doh[0].msg + 2), F_RD | DNS_FLAG_CD);
		CHECK_EQ(opt_options(fake.doh[0].msg, fake.doh[0].len, codes,
		    &ede, text, sizeof(text), &ttl, &size), 1);
		CHECK_EQ(ttl, off ? 0 : DNS_EDNS_DO);
		answer(&a, 0, "signed.lab.test", T_A, DNS_RCODE_NOERROR, 1);
		wr16(a.buf + 2, (uint16_t)(rd16(a.buf + 2) | DNS_FLAG_AD));
		fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
		CHECK(got(&p, 0xd001, DNS_RCODE_NOERROR));
		CHECK_EQ(rd16(p.answer + 2) & DNS_FLAG_AD, off ? 0 :
		    DNS_FLAG_AD);
		CHECK_EQ(rd16(p.answer + 6), 1);
		/* The same from the cache. */
		fake_peer_init(&p, LISTEN_UDP);
		fake_query(&p, q.buf, q.len);
		CHECK_EQ(fake.ndoh, 1);
		CHECK(got(&p, 0xd001, DNS_RCODE_NOERROR));
		CHECK_EQ(st->cache_hits, 1);
		CHECK_EQ(rd16(p.answer + 2) & DNS_FLAG_AD, off ? 0 :
		    DNS_FLAG_AD);
		stop();
	}
}

/*
 * What goes upstream is built, not relayed; SERVFAILs dohstub makes and
 * answers over plain DNS say why in an Extended DNS Error.
 */
static void
test_built_query_ede(void)
{
	static struct fake_peer p, p2[2];
	struct msg q, a;
	uint16_t codes[8], size;
	uint32_t ttl;
	char text[128];
	int ede, i;

	start(ENC_ONLY "max-pending 2\n" "max-pending-per-client 0\n");

	/* ECS and cookie stay home; DO and CD go; padded to 128. */
	fake_peer_init(&p, LISTEN_UDP);
	query_with_options(&q, 0xc001, "Www.Lab.test");
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK(sent(&fake.doh[0], &q));
	CHECK_EQ(fake.doh[0].len, 128);
	CHECK_EQ(rd16(fake.doh[0].msg), 0);
	CHECK_EQ(rd16(fake.doh[0].msg + 2), F_RD | DNS_FLAG_CD);
	CHECK_EQ(rd16(fake.doh[0].msg + 10), 1);
	CHECK(memcmp(fake.doh[0].msg + 12, q.buf + 12, 14) == 0);
	CHECK_EQ(opt_options(fake.doh[0].msg, fake.doh[0].len, codes, &ede,
	    text, sizeof(text), &ttl, &size), 1);
	CHECK_EQ(codes[0], DNS_OPT_PADDING);
	CHECK_EQ(ttl, DNS_EDNS_DO);
	CHECK_EQ(size, 1232);

	/* Both unreachable: SERVFAIL with EDE 22 and a text. */
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0xc001, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_NO_REACHABLE);
	CHECK_STR(text, "no DoH upstream reachable");
	CHECK_EQ(st->ede[DNS_EDE_NO_REACHABLE], 1);
	fake_reset_reqs();

	/* A client without EDNS: our OPT upstream all the same; its
	 * SERVFAIL has no OPT, so no EDE, and none is counted. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xc002, "a.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(sent(&fake.doh[0], &q));
	CHECK_EQ(fake.doh[0].len, 128);
	clock_step(2000);
	CHECK(got(&p, 0xc002, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), -2);
	CHECK_EQ(st->ede[DNS_EDE_NO_REACHABLE], 1);
	fake_reset_reqs();

	/* Timeout with EDNS: 22 too, saying it timed out. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xc003, "b.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	clock_step(2000);
	CHECK(got(&p, 0xc003, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_NO_REACHABLE);
	CHECK_STR(text, "DoH timed out");
	fake_reset_reqs();

	/* Over max-pending: EDE 0 with a text. */
	for (i = 0; i < 2; i++) {
		fake_peer_init(&p2[i], LISTEN_UDP);
		query(&q, (uint16_t)(0xc010 + i), i ? "d.lab.test" :
		    "c.lab.test", T_A, 0, 0);
		fake_query(&p2[i], q.buf, q.len);
	}
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xc004, "e.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0xc004, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	CHECK_STR(text, "too many queries in flight");
	CHECK_EQ(st->ede[DNS_EDE_OTHER], 1);
	CHECK_EQ(st->ede[DNS_EDE_NO_REACHABLE], 2);
	stop();

	start(ENC_PREF);
	/* A DoH answer: our OPT, no EDE; the upstream's padding gone. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xc101, "a.lab.test", T_A, 4096, 0);
	fake_query(&p, q.buf, q.len);
	answer(&a, 0, "a.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	wr16(a.buf + 10, 1);
	put8(&a, 0);
	put16(&a, DNS_TYPE_OPT);
	put16(&a, 4096);
	put32(&a, 0);
	put16(&a, 4 + 100);
	put16(&a, DNS_OPT_PADDING);
	put16(&a, 100);
	for (i = 0; i < 100; i++)
		put8(&a, 0);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xc101, DNS_RCODE_NOERROR));
	CHECK_EQ(p.len, a.len - 104);
	CHECK_EQ(opt_options(p.answer, p.len, codes, &ede, text,
	    sizeof(text), &ttl, &size), 0);
	CHECK_EQ(size, 1232);
	/* ... and a client without EDNS gets no OPT at all. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xc102, "a.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xc102, DNS_RCODE_NOERROR));
	CHECK_EQ(rd16(p.answer + 10), 0);
	CHECK_EQ(p.len, a.len - 115);
	fake_reset_reqs();

	/* Over plain DNS: the same built query, and EDE 0 on the answer. */
	fake_peer_init(&p, LISTEN_UDP);
	query_with_options(&q, 0xc103, "b.lab.test");
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	CHECK_EQ(fake.nplain, 1);
	CHECK(sent(&fake.plainq[0], &q));
	answer(&a, 0xbeef, "b.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0xc103, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	CHECK_STR(text, "answered over unencrypted DNS");
	CHECK_EQ(st->ede[DNS_EDE_OTHER], 1);
	stop();

	/* The fallback's answer served again from the cache says so too;
	 * a DoH answer from the cache does not. */
	start(ENC_PREF_CACHE);
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xc201, "p.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.nplain, 1);
	answer(&a, 0xbeef, "p.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xc202, "p.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.nplain, 1);
	CHECK(got(&p, 0xc202, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	CHECK_STR(text, "answered over unencrypted DNS");
	CHECK_EQ(st->ede[DNS_EDE_OTHER], 2);
	fake_doh_set_state(fake.upstreams, 0, DOH_READY);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xc203, "d.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	answer(&a, 0, "d.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	fake_peer_init(&p, LISTEN_UDP);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK(got(&p, 0xc203, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), -1);
	stop();
}

/* Is pl the plain channel whose first server is ip? */
static int
plain_is(const struct plain *pl, const char *ip)
{
	char a[ADDR_STRLEN];

	return pl != NULL && pl->nservers > 0 &&
	    strcmp(addr_ip_str(&pl->servers[0], a, sizeof(a)), ip) == 0;
}

/* Is r a plain request to that channel? */
static int
plain_to(const struct fake_req *r, const char *ip)
{
	return plain_is(r->plain, ip);
}

/*
 * name (with EDNS) goes to the DoH rule's set fu, the first request since
 * the last reset, which fails with res: SERVFAIL with EDE 22.
 */
static void
rule_doh_fails(struct fake_peer *p, struct upstreams *fu, uint16_t id,
    const char *name, enum doh_result res)
{
	struct msg q;
	char text[64];

	fake_peer_init(p, LISTEN_UDP);
	query(&q, id, name, T_A, 1232, 0);
	fake_query(p, q.buf, q.len);
	CHECK(fake.doh[0].client == &fu->client[0]);
	fake_doh_reply(&fake.doh[0], res, NULL, 0);
	CHECK(got(p, id, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(p, text, sizeof(text)), DNS_EDE_NO_REACHABLE);
}

#define FORWARD_RULES	"forward corp.example 10.1.1.53 10.1.1.54\n" \
			"forward a.corp.example https://10.2.2.2/dns-query\n" \
			"forward 168.192.in-addr.arpa 192.168.1.1\n"

/*
 * Forward rules in encrypted-only: the longest zone wins, at label
 * boundaries; a plain rule is answered over plain DNS (marked EDE 0),
 * a DoH rule by its own set, everything else by the default upstreams;
 * a rule overrides the local zones below it but not the query policy;
 * a rule whose servers fail is SERVFAIL with EDE 22, nothing else asked.
 */
static void
test_forward(void)
{
	static struct fake_peer p;
	struct proxy_upstream_info info;
	struct upstreams *u, *fu;
	struct msg q, a;
	char text[64];
	int made = fake.plain_made, ctxs = fake.tls_ctxs;

	start(ENC_ONLY FORWARD_RULES);
	obs_start();
	u = fake.upstreams;
	fu = fake.forward_upstreams;
	CHECK(fu != NULL && fu != u && fu->n == 1 && fu->started == 1);
	CHECK(u->started == 1);
	/* The two plain rules' channels, no fallback, no bootstrap; one
	 * TLS context for every DoH set. */
	CHECK_EQ(fake.plain_made - made, 2);
	CHECK(fake.fallback == NULL);
	CHECK_EQ(fake.tls_ctxs - ctxs, 1);
	CHECK_EQ(proxy_upstream_count(px), 3);
	proxy_upstream_info(px, 2, &info);
	CHECK_STR(info.url, "https://10.2.2.2/dns-query");
	CHECK(info.zone != NULL && strcmp(info.zone, "a.corp.example.") == 0);
	proxy_upstream_info(px, 0, &info);
	CHECK(info.zone == NULL);

	/* A plain rule, in encrypted-only: the user's exception. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7001, "FS.Corp.Example", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 0);
	CHECK_EQ(fake.nplain, 1);
	CHECK(plain_to(&fake.plainq[0], "10.1.1.53"));
	CHECK_EQ(fake.plainq[0].plain->nservers, 2);
	CHECK_EQ(fake.plainq[0].plain->role, PLAIN_ROLE_FORWARD);
	CHECK(sent(&fake.plainq[0], &q));
	answer(&a, 0x4242, "fs.corp.example", T_A, DNS_RCODE_NOERROR, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0x7001, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	CHECK_STR(text, "answered over unencrypted DNS");
	CHECK_EQ(st->answered_forward_plain, 1);
	CHECK_EQ(st->answered_fallback, 0);
	CHECK_EQ(st->ede[DNS_EDE_OTHER], 1);
	CHECK_EQ(obs.last.source, PROXY_SRC_FORWARD_PLAIN);
	CHECK_STR(obs.zone, "corp.example.");
	CHECK_STR(obs.upstream, "-");
	CHECK_EQ(obs.last.ede, DNS_EDE_OTHER);

	/* The longer DoH rule below it: its own set, no EDE. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7002, "x.a.corp.example", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK(fake.doh[0].client == &fu->client[0]);
	CHECK(sent(&fake.doh[0], &q));
	answer(&a, 0, "x.a.corp.example", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x7002, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), -1);
	CHECK_EQ(st->answered_forward_doh, 1);
	CHECK_EQ(st->answered_doh, 0);
	CHECK_EQ(obs.last.source, PROXY_SRC_FORWARD_DOH);
	CHECK_STR(obs.zone, "a.corp.example.");
	CHECK_STR(obs.upstream, "https://10.2.2.2/dns-query");

	/* Not below corp.example at a label boundary: the default set. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7003, "xcorp.example", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 2);
	CHECK(fake.doh[1].client == &u->client[0]);
	answer(&a, 0, "xcorp.example", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[1], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x7003, DNS_RCODE_NOERROR));
	CHECK_EQ(st->answered_doh, 1);
	CHECK_EQ(fake.nplain, 1);
	fake_reset_reqs();

	/* The rule overrides the RFC 6303 zone it is in; the others stay
	 * local, and the query policy still holds for the rule's names. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7004, "1.1.168.192.in-addr.arpa", 12, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.nplain, 1);
	CHECK(plain_to(&fake.plainq[0], "192.168.1.1"));
	answer(&a, 0x1234, "1.1.168.192.in-addr.arpa", 12,
	    DNS_RCODE_NXDOMAIN, 0);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0x7004, DNS_RCODE_NXDOMAIN));
	CHECK_EQ(st->answered_forward_plain, 2);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7005, "1.1.10.in-addr.arpa", 12, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x7005, DNS_RCODE_NXDOMAIN));
	CHECK((rd16(p.answer + 2) & 0x0400) != 0);	/* AA: ours */
	CHECK_EQ(st->answered_local, 1);
	fake_peer_init(&p, LISTEN_TCP);
	query(&q, 0x7006, "corp.example", 252, 0, 0);	/* AXFR */
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x7006, DNS_RCODE_REFUSED));
	CHECK_EQ(st->policy, 1);
	CHECK_EQ(fake.nplain, 1);
	CHECK_EQ(fake.ndoh, 0);
	fake_reset_reqs();

	/* A plain rule's servers fail: SERVFAIL, EDE 22; no DoH. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7007, "down.corp.example", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	fake_plain_reply(&fake.plainq[0], -1, NULL, 0);
	CHECK(got(&p, 0x7007, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_NO_REACHABLE);
	CHECK_STR(text, "no answer from the forward servers");
	/* The observer (a lookup, the query log) hears which rule. */
	CHECK_EQ(obs.last.source, PROXY_SRC_ERROR);
	CHECK_STR(obs.zone, "corp.example.");
	CHECK_STR(obs.upstream, "-");
	/* ... or time out. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7008, "slow.corp.example", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	clock_step(3 * 2000);
	CHECK(got(&p, 0x7008, DNS_RCODE_SERVFAIL));
	CHECK(fake.plainq[1].cancelled);
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_NO_REACHABLE);
	CHECK_EQ(fake.nplain, 2);
	CHECK_EQ(fake.ndoh, 0);

	/* A DoH rule's server fails: SERVFAIL, EDE 22, no other upstream. */
	rule_doh_fails(&p, fu, 0x7009, "y.a.corp.example", DOH_ERR_CONNECT);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(u->client[0].submits + u->client[1].submits, 1);
	/* Backing off: SERVFAIL at once; the default set stays healthy. */
	fake_doh_set_state(fu, 0, DOH_BACKOFF);
	CHECK(proxy_unhealthy(px) == NULL);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x700a, "z.a.corp.example", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x700a, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(fake.nplain, 2);
	CHECK_EQ(st->servfail, 4);
	fake_reset_reqs();
	stop();
}

/*
 * encrypted-preferred with the cache: a DoH rule never falls back; a
 * plain rule's answer is cached as plain and served while DoH is up.
 */
static void
test_forward_cache(void)
{
	static struct fake_peer p;
	struct upstreams *fu;
	struct msg q, a;
	char text[64];

	start(ENC_PREF_CACHE FORWARD_RULES);
	fu = fake.forward_upstreams;
	CHECK(plain_is(fake.fallback, "192.0.2.53"));

	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7101, "fs.corp.example", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(plain_to(&fake.plainq[0], "10.1.1.53"));
	answer(&a, 0x4242, "fs.corp.example", T_A, DNS_RCODE_NOERROR, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0x7101, DNS_RCODE_NOERROR));
	CHECK(upstream_usable(fake.upstreams));
	fake_peer_init(&p, LISTEN_UDP);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x7101, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	CHECK_EQ(st->cache_hits, 1);
	CHECK_EQ(fake.nplain, 1);
	CHECK_EQ(fake.ndoh, 0);

	/* The DoH rule fails: SERVFAIL, the fallback is not asked. */
	rule_doh_fails(&p, fu, 0x7102, "x.a.corp.example", DOH_ERR_TLS);
	CHECK_EQ(fake.nplain, 1);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(st->answered_fallback, 0);
	fake_reset_reqs();

	/* A reload with the same rules keeps the cache ... */
	CHECK_EQ(proxy_reload(px, make_cfg(ENC_PREF_CACHE FORWARD_RULES)), 0);
	run();
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7103, "fs.corp.example", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0x7103, DNS_RCODE_NOERROR));
	CHECK_EQ(st->cache_hits, 2);
	/* ... one that changes them empties it. */
	CHECK_EQ(proxy_reload(px, make_cfg(ENC_PREF_CACHE
	    "forward corp.example 10.1.1.99\n")), 0);
	run();
	fake_peer_init(&p, LISTEN_UDP);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(p.responses, 0);
	CHECK_EQ(fake.nplain, 1);
	CHECK(plain_to(&fake.plainq[0], "10.1.1.99"));
	fake_plain_reply(&fake.plainq[0], -1, NULL, 0);
	CHECK(got(&p, 0x7103, DNS_RCODE_SERVFAIL));
	CHECK_EQ(st->cache_hits, 2);
	fake_reset_reqs();
	stop();
}

/* plaintext: a DoH rule still goes over DoH, with a TLS context. */
static void
test_forward_plaintext(void)
{
	static struct fake_peer p;
	struct msg q, a;
	int ctxs = fake.tls_ctxs;

	start("mode plaintext\nfallback 192.0.2.53\nlisten 127.0.0.1:5300\n"
	    "cache-size 0\n" FORWARD_RULES);
	CHECK(fake.upstreams == NULL && fake.forward_upstreams != NULL);
	CHECK_EQ(fake.tls_ctxs - ctxs, 1);
	CHECK_EQ(proxy_upstream_count(px), 1);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7201, "x.a.corp.example", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(fake.nplain, 0);
	answer(&a, 0, "x.a.corp.example", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x7201, DNS_RCODE_NOERROR));
	CHECK_EQ(st->answered_forward_doh, 1);
	/* Other names: the fallback servers. */
	ask(&p, &q, 0x7202, "www.lab.test");
	CHECK(fake.plainq[0].plain == fake.fallback);
	fake_plain_reply(&fake.plainq[0], -1, NULL, 0);
	CHECK(got(&p, 0x7202, DNS_RCODE_SERVFAIL));
	fake_reset_reqs();
	stop();
}

/* Send a query for name (EDNS 1232) from ip over UDP or TCP. */
static void
ask_from(struct fake_peer *p, struct msg *q, uint16_t id, const char *name,
    const char *ip, enum listen_transport t)
{
	fake_peer_init(p, t);
	fake_peer_from(p, ip);
	query(q, id, name, T_A, 1232, 0);
	fake_query(p, q->buf, q->len);
}

/*
 * n queries from ip for tagN.lab.test, IDs id.., each left waiting (no
 * answer yet); returns how many were answered at once instead.
 */
static int
ask_n(struct fake_peer *p, int n, const char *tag, uint16_t id,
    const char *ip)
{
	struct msg q;
	char name[32];
	int i, answered = 0;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%d.lab.test", tag, i);
		ask_from(&p[i], &q, (uint16_t)(id + i), name, ip, LISTEN_UDP);
		answered += p[i].responses;
	}
	return answered;
}

/* Answer DoH request r (for name) with one A record. */
static void
doh_answers(struct fake_req *r, const char *name)
{
	struct msg a;

	answer(&a, 0, name, T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(r, DOH_OK, a.buf, a.len);
}

/*
 * max-pending-per-client (auto: half of max-pending, 4 of 8): one source
 * cannot hold every slot; past its share it gets SERVFAIL with EDE 0,
 * counted apart from max-pending; another source still gets its
 * queries asked.  Followers count for their own client; cache hits and
 * local answers take no slot.
 */
static void
test_per_client(void)
{
	static struct fake_peer fl[8], ot[4], p;
	struct msg q;
	char name[32], text[64];
	int i;

	start(ENC_ONLY "max-pending 8\n" "cache-size 1m\n");
	ask_from(&p, &q, 0x4000, "hot.lab.test", "127.0.0.2", LISTEN_UDP);
	doh_answers(&fake.doh[0], "hot.lab.test");
	CHECK(got(&p, 0x4000, DNS_RCODE_NOERROR));
	fake_reset_reqs();

	/* The flood: 127.0.0.2 gets 4 asked, then SERVFAIL. */
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "f%d.lab.test", i);
		ask_from(&fl[i], &q, (uint16_t)(0x4100 + i), name,
		    "127.0.0.2", i % 2 ? LISTEN_TCP : LISTEN_UDP);
	}
	CHECK_EQ(fake.ndoh, 4);
	CHECK(got(&fl[4], 0x4104, DNS_RCODE_SERVFAIL));
	CHECK(got(&fl[5], 0x4105, DNS_RCODE_SERVFAIL));
	CHECK(echoes(&fl[5], &q));
	CHECK_EQ(ede_of(&fl[5], text, sizeof(text)), DNS_EDE_OTHER);
	CHECK_STR(text, "too many queries in flight from this client");
	CHECK_EQ(st->over_client_limit, 2);
	CHECK_EQ(st->over_limit, 0);
	CHECK_EQ(st->pending, 4);
	CHECK_EQ(st->pending_sources, 1);

	/* Its cache hits and local answers still come. */
	ask_from(&p, &q, 0x4200, "hot.lab.test", "127.0.0.2", LISTEN_UDP);
	CHECK(got(&p, 0x4200, DNS_RCODE_NOERROR));
	ask_from(&p, &q, 0x4201, "localhost", "127.0.0.2", LISTEN_UDP);
	CHECK(got(&p, 0x4201, DNS_RCODE_NOERROR));
	CHECK_EQ(st->over_client_limit, 2);

	/* Another client finds the rest of max-pending. */
	CHECK_EQ(ask_n(ot, 4, "o", 0x4300, "127.0.0.3"), 0);
	CHECK_EQ(fake.ndoh, 8);
	CHECK_EQ(st->pending_sources, 2);
	/* max-pending itself is still the bound. */
	ask_from(&p, &q, 0x4400, "x.lab.test", "127.0.0.4", LISTEN_UDP);
	CHECK(got(&p, 0x4400, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	CHECK_STR(text, "too many queries in flight");
	CHECK_EQ(st->over_limit, 1);

	/* Followers count for their own client: 127.0.0.2 is at its cap,
	 * so it cannot wait on 127.0.0.3's o0; 127.0.0.3 can. */
	doh_answers(&fake.doh[5], "o1.lab.test");
	CHECK(got(&ot[1], 0x4301, DNS_RCODE_NOERROR));
	ask_from(&p, &q, 0x4500, "o0.lab.test", "127.0.0.2", LISTEN_UDP);
	CHECK(got(&p, 0x4500, DNS_RCODE_SERVFAIL));
	CHECK_EQ(st->over_client_limit, 3);
	ask_from(&fl[6], &q, 0x4501, "o0.lab.test", "127.0.0.3", LISTEN_UDP);
	CHECK_EQ(fl[6].responses, 0);
	CHECK_EQ(st->coalesced, 1);
	CHECK_EQ(fake.ndoh, 8);

	/* Every query over: every source's entry is gone. */
	doh_answers(&fake.doh[4], "o0.lab.test");
	CHECK(got(&ot[0], 0x4300, DNS_RCODE_NOERROR));
	CHECK(got(&fl[6], 0x4501, DNS_RCODE_NOERROR));
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "f%d.lab.test", i);
		doh_answers(&fake.doh[i], name);
		CHECK(got(&fl[i], (uint16_t)(0x4100 + i), DNS_RCODE_NOERROR));
	}
	doh_answers(&fake.doh[6], "o2.lab.test");
	doh_answers(&fake.doh[7], "o3.lab.test");
	CHECK_EQ(st->pending, 0);
	CHECK_EQ(st->pending_sources, 0);
	/* 127.0.0.2's share is back. */
	fake_reset_reqs();
	CHECK_EQ(ask_n(fl, 4, "g", 0x4600, "127.0.0.2"), 0);
	CHECK_EQ(st->over_client_limit, 3);
	proxy_stop(px);
	CHECK_EQ(st->pending_sources, 0);
	fake_reset_reqs();
	stop();

	/* 0: no cap; the one client may take all of max-pending. */
	start(ENC_ONLY "max-pending 8\n" "max-pending-per-client 0\n");
	CHECK_EQ(ask_n(fl, 8, "h", 0x4700, "127.0.0.2"), 0);
	CHECK_EQ(fake.ndoh, 8);
	CHECK_EQ(st->over_client_limit, 0);
	proxy_stop(px);
	fake_reset_reqs();
	stop();
}

/*
 * ratelimit: per source, after access control and before the cache; a
 * UDP query over the limit gets an empty TC=1 answer no larger than the
 * query (or nothing with ratelimit-action drop); TCP is not limited;
 * tokens come back with time; the table holds ratelimit-size sources
 * however many there are.
 */
static void
test_ratelimit(void)
{
	static struct fake_peer p;
	struct msg q;
	struct config *cfg;
	char ip[32];
	uint64_t evictions;
	int i, ok;

	start(ENC_ONLY "ratelimit 5\n" "ratelimit-size 16\n"
	    "cache-size 1m\n" "deny 10.9.9.9/32\n");
	ask_from(&p, &q, 0x5000, "rl.lab.test", "10.0.0.1", LISTEN_UDP);
	doh_answers(&fake.doh[0], "rl.lab.test");
	CHECK(got(&p, 0x5000, DNS_RCODE_NOERROR));
	for (i = 1; i < 5; i++) {
		ask_from(&p, &q, (uint16_t)(0x5000 + i), "rl.lab.test",
		    "10.0.0.1", LISTEN_UDP);
		CHECK(got(&p, (uint16_t)(0x5000 + i), DNS_RCODE_NOERROR));
		CHECK_EQ(rd16(p.answer + 6), 1);
	}
	/* The sixth in the same second: TC=1, no records, our OPT. */
	ask_from(&p, &q, 0x5005, "rl.lab.test", "10.0.0.1", LISTEN_UDP);
	CHECK(got(&p, 0x5005, DNS_RCODE_NOERROR));
	CHECK((rd16(p.answer + 2) & F_TC) != 0);
	CHECK_EQ(rd16(p.answer + 6), 0);
	CHECK_EQ(rd16(p.answer + 8), 0);
	CHECK_EQ(rd16(p.answer + 10), 1);
	CHECK(echoes(&p, &q));
	CHECK(p.len <= q.len);
	CHECK_EQ(st->ratelimit_tc, 1);
	CHECK_EQ(st->cache_hits, 4);
	/* Over TCP, which cannot be spoofed: no limit. */
	ask_from(&p, &q, 0x5006, "rl.lab.test", "10.0.0.1", LISTEN_TCP);
	CHECK(got(&p, 0x5006, DNS_RCODE_NOERROR));
	CHECK((rd16(p.answer + 2) & F_TC) == 0);
	CHECK_EQ(rd16(p.answer + 6), 1);
	/* 5 q/s: a token every 200 ms. */
	clock_step(199);
	ask_from(&p, &q, 0x5007, "rl.lab.test", "10.0.0.1", LISTEN_UDP);
	CHECK((rd16(p.answer + 2) & F_TC) != 0);
	clock_step(1);
	ask_from(&p, &q, 0x5008, "rl.lab.test", "10.0.0.1", LISTEN_UDP);
	CHECK(got(&p, 0x5008, DNS_RCODE_NOERROR));
	CHECK_EQ(rd16(p.answer + 6), 1);
	CHECK_EQ(st->ratelimit_tc, 2);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(st->ratelimit_entries, 1);

	/* A refused source costs no token and no entry. */
	for (i = 0; i < 10; i++) {
		ask_from(&p, &q, 0x5100, "rl.lab.test", "10.9.9.9",
		    LISTEN_UDP);
		CHECK(got(&p, 0x5100, DNS_RCODE_REFUSED));
	}
	CHECK_EQ(st->ratelimit_entries, 1);

	/* 1000 sources, one query each: all answered, 16 entries. */
	for (ok = 0, i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		ask_from(&p, &q, 0x5200, "rl.lab.test", ip, LISTEN_UDP);
		ok += got(&p, 0x5200, DNS_RCODE_NOERROR) &&
		    rd16(p.answer + 6) == 1;
	}
	CHECK_EQ(ok, 1000);
	CHECK_EQ(st->ratelimit_entries, 16);
	CHECK_EQ(st->ratelimit_evictions, 1000 + 1 - 16);
	CHECK_EQ(st->ratelimit_tc, 2);

	/* drop: the same table, nothing sent. */
	cfg = make_cfg(ENC_ONLY "ratelimit 5\n" "ratelimit-size 16\n"
	    "cache-size 1m\n" "ratelimit-action drop\n");
	CHECK_EQ(proxy_reload(px, cfg), 0);
	CHECK_EQ(st->ratelimit_entries, 16);
	for (ok = 0, i = 0; i < 8; i++) {
		ask_from(&p, &q, (uint16_t)(0x5300 + i), "rl.lab.test",
		    "10.2.0.1", LISTEN_UDP);
		CHECK_EQ(p.releases, 1);
		ok += p.responses;
	}
	CHECK_EQ(ok, 5);
	CHECK_EQ(st->ratelimit_drop, 3);
	evictions = st->ratelimit_evictions;	/* 10.2.0.1 took one */
	CHECK_EQ(evictions, 1000 + 1 - 16 + 1);
	/* ratelimit 0: off, the table gone. */
	cfg = make_cfg(ENC_ONLY "cache-size 1m\n");
	CHECK_EQ(proxy_reload(px, cfg), 0);
	for (ok = 0, i = 0; i < 8; i++) {
		ask_from(&p, &q, (uint16_t)(0x5400 + i), "rl.lab.test",
		    "10.2.0.1", LISTEN_UDP);
		ok += got(&p, (uint16_t)(0x5400 + i), DNS_RCODE_NOERROR);
	}
	CHECK_EQ(ok, 8);
	CHECK_EQ(st->ratelimit_entries, 0);
	CHECK_EQ(st->ratelimit_drop, 3);
	/* On again, a new table: the evictions counter does not go back. */
	cfg = make_cfg(ENC_ONLY "ratelimit 5\n" "ratelimit-size 32\n"
	    "cache-size 1m\n");
	CHECK_EQ(proxy_reload(px, cfg), 0);
	ask_from(&p, &q, 0x5500, "rl.lab.test", "10.3.0.1", LISTEN_UDP);
	CHECK(got(&p, 0x5500, DNS_RCODE_NOERROR));
	CHECK_EQ(st->ratelimit_entries, 1);
	CHECK_EQ(st->ratelimit_evictions, evictions);
	stop();
}

/* --- the counters' two outputs ------------------------------------- */

#define STAT_NAME(field, family, value)		#field,
#define STAT_FAMILY(field, family, value)	#family,
#define STAT_ADDR(field, family, value)		&s->field,
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* Field i of PROXY_STATS. */
static uint64_t *
stat_field(struct proxy_stats *s, size_t i)
{
	uint64_t *const fields[] = {
		PROXY_STATS(STAT_ADDR, PROXY_STATS_NOFIELD)
	};

	return fields[i];
}

/* proxy_log_stats()'s line, captured from stderr. */
static char *
stats_line(char *buf, size_t len)
{
	FILE *f;
	size_t n = 0;
	int saved;

	buf[0] = '\0';
	fflush(stderr);
	if ((f = tmpfile()) == NULL || (saved = dup(STDERR_FILENO)) == -1 ||
	    dup2(fileno(f), STDERR_FILENO) == -1) {
		printf("cannot capture stderr\n");
		abort();
	}
	log_setlevel(LOG_LEVEL_INFO);
	proxy_log_stats(px);
	log_setlevel(LOG_LEVEL_ERROR);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* metrics_render()'s text, NUL-terminated, in b. */
static const char *
metrics_text(struct evbuffer *b)
{
	evbuffer_drain(b, evbuffer_get_length(b));
	metrics_render(b, px);
	evbuffer_add(b, "", 1);
	return (const char *)evbuffer_pullup(b, -1);
}

/* " name=v" in the line, whole. */
static int
in_line(const char *line, const char *name, uint64_t v)
{
	char want[64];
	const char *p;
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), " %s=%llu", name,
	    (unsigned long long)v);
	return (p = strstr(line, want)) != NULL &&
	    (p[n] == ' ' || p[n] == '\n');
}

/* A sample of value v in /metrics. */
static int
in_metrics(const char *text, uint64_t v)
{
	char want[32];

	snprintf(want, sizeof(want), " %llu\n", (unsigned long long)v);
	return strstr(text, want) != NULL;
}

/*
 * Text format 0.0.4 as Prometheus reads it: each family once, HELP then
 * TYPE, then only its own samples (a histogram's with their suffixes).
 */
static int
well_formed(const char *text)
{
	char family[128], seen[8192] = " ", name[sizeof(family) + 16], *p;
	const char *l, *end;
	size_t n;

	family[0] = '\0';
	for (l = text; *l != '\0'; l = end + 1) {
		if ((end = strchr(l, '\n')) == NULL)
			return 0;
		if (strncmp(l, "# HELP ", 7) == 0) {
			if (sscanf(l + 7, "%127s", family) != 1)
				return 0;
			snprintf(name, sizeof(name), " %s ", family);
			if (strstr(seen, name) != NULL ||
			    strlen(seen) + strlen(name) >= sizeof(seen))
				return 0;
			strcat(seen, name + 1);
			snprintf(name, sizeof(name), "# TYPE %s ", family);
			n = strlen(name);
			if (strncmp(end + 1, name, n) != 0 || (strncmp(end + 1 +
			    n, "counter\n", 8) != 0 && strncmp(end + 1 + n,
			    "gauge\n", 6) != 0 && strncmp(end + 1 + n,
			    "histogram\n", 10) != 0))
				return 0;
			end = strchr(end + 1, '\n');
			continue;
		}
		if (sscanf(l, "%127[^{ ]", name) != 1 ||
		    strstr(l, "(null)") != NULL)
			return 0;
		n = strlen(family);
		p = name + n;
		if (n == 0 || strncmp(name, family, n) != 0 || (*p != '\0' &&
		    strcmp(p, "_bucket") != 0 && strcmp(p, "_sum") != 0 &&
		    strcmp(p, "_count") != 0))
			return 0;
	}
	return 1;
}

/*
 * Counters declared once (PROXY_STATS in proxy.h): each field, alone set
 * to a value of its own, is in the SIGUSR1 line as field=value and, but
 * for those the list keeps out, a sample of /metrics with that value;
 * all of them at once fit in whole lines.
 */
static void
test_stats_outputs(void)
{
	static const char *const names[] = {
		PROXY_STATS(STAT_NAME, PROXY_STATS_NOFIELD)
	};
	static const char *const families[] = {
		PROXY_STATS(STAT_FAMILY, PROXY_STATS_NOFIELD)
	};
	struct proxy_stats *s, saved;
	struct evbuffer *b;
	const char *text, *p, *nl;
	char line[4096];
	uint64_t *field;
	size_t i, nlines;

	start(ENC_PREF_CACHE);
	if ((b = evbuffer_new()) == NULL)
		abort();
	/* The proxy's own, which it does not read back. */
	s = (struct proxy_stats *)proxy_stats(px);
	saved = *s;
	for (i = 0; i < nitems(names); i++) {
		memset(s, 0, sizeof(*s));
		field = stat_field(s, i);
		*field = 4200000017ULL + i;
		stats_line(line, sizeof(line));
		if (!in_line(line, names[i], *field))
			printf("%s: not in \"%s\"\n", names[i], line);
		CHECK(in_line(line, names[i], *field));
		text = metrics_text(b);
		if (strcmp(families[i], "NONE") == 0)
			CHECK(!in_metrics(text, *field));
		else {
			if (!in_metrics(text, *field))
				printf("%s: not in /metrics\n", names[i]);
			CHECK(in_metrics(text, *field));
		}
		CHECK(well_formed(text));
	}

	/*
	 * Twelve digits each (a trillion queries): whole fields on lines
	 * that log.c keeps whole, the first "stats:", the rest "stats
	 * (more):".
	 */
	for (i = 0; i < nitems(names); i++)
		*stat_field(s, i) = 100000000000ULL + i;
	stats_line(line, sizeof(line));
	for (i = 0; i < nitems(names); i++)
		CHECK(in_line(line, names[i], *stat_field(s, i)));
	for (p = line, nlines = 0; (nl = strchr(p, '\n')) != NULL;
	    p = nl + 1, nlines++) {
		CHECK(nl - p < 1100);	/* a timestamp, the 1023 of log.c */
		CHECK(nl[-1] >= '0' && nl[-1] <= '9');
		CHECK((p = strstr(p, "stats")) != NULL && p < nl);
		CHECK(strncmp(p, nlines == 0 ? "stats: " : "stats (more): ",
		    nlines == 0 ? 7 : 14) == 0);
	}
	CHECK(nlines >= 1);
	*s = saved;
	evbuffer_free(b);
	stop();
}

/*
 * Every answer a client gets leaves through one place, which counts it
 * once by rcode: over every way a query can end (dropped, refused, rate
 * limited, malformed, local, DoH, a cache hit, cut for UDP, no slot,
 * timed out) the rcode counters add up to the answers sent.
 */
static void
test_one_way_out(void)
{
	static struct fake_peer p[16];
	struct msg q, a;
	uint64_t counted = 0;
	int i, k = 0, answers = 0;

	start(ENC_ONLY "cache-size 1m\n" "max-pending 2\n" "ratelimit 2\n"
	    "deny 10.9.9.9/32\n");
	obs_start();
	/* Not a query: neither answered nor counted. */
	fake_peer_init(&p[k], LISTEN_UDP);
	query(&q, 0x6000, "x.lab.test", T_A, 0, 0);
	q.buf[2] |= 0x80;
	fake_query(&p[k++], q.buf, q.len);
	CHECK_EQ(p[0].responses, 0);
	ask_from(&p[k++], &q, 0x6001, "x.lab.test", "10.9.9.9", LISTEN_UDP);
	CHECK(got(&p[k - 1], 0x6001, DNS_RCODE_REFUSED));
	/* Two local answers, then over the rate limit: TC=1. */
	ask_from(&p[k++], &q, 0x6002, "localhost", "10.1.1.1", LISTEN_UDP);
	CHECK(got(&p[k - 1], 0x6002, DNS_RCODE_NOERROR));
	ask_from(&p[k++], &q, 0x6003, "localhost", "10.1.1.1", LISTEN_TCP);
	CHECK(got(&p[k - 1], 0x6003, DNS_RCODE_NOERROR));
	ask_from(&p[k++], &q, 0x6004, "localhost", "10.1.1.1", LISTEN_UDP);
	ask_from(&p[k++], &q, 0x6005, "localhost", "10.1.1.1", LISTEN_UDP);
	CHECK(got(&p[k - 1], 0x6005, DNS_RCODE_NOERROR));
	CHECK((rd16(p[k - 1].answer + 2) & F_TC) != 0);
	CHECK_EQ(st->ratelimit_tc, 1);
	CHECK_EQ(st->answered_local, 3);
	fake_peer_init(&p[k], LISTEN_UDP);
	fake_peer_from(&p[k], "10.2.2.2");
	query(&q, 0x6006, "x.lab.test", T_A, 0, 0);
	q.buf[5] = 2;				/* QDCOUNT 2 */
	fake_query(&p[k++], q.buf, q.len);
	CHECK(got(&p[k - 1], 0x6006, DNS_RCODE_FORMERR));

	/* Over DoH, too long for a client without EDNS: cut, TC=1; the
	 * same from the cache. */
	ask(&p[k++], &q, 0x6007, "big.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	answer(&a, 0, "big.lab.test", T_A, DNS_RCODE_NOERROR, 40);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p[k - 1], 0x6007, DNS_RCODE_NOERROR));
	CHECK((rd16(p[k - 1].answer + 2) & F_TC) != 0);
	CHECK(p[k - 1].len <= 512);
	/* The observer saw it as sent, and where it came from. */
	CHECK(obs.peer == &p[k - 1].peer);
	CHECK_EQ(obs.last.source, PROXY_SRC_DOH);
	CHECK_STR(obs.upstream, "https://192.0.2.1/dns-query");
	CHECK_STR(obs.zone, "-");
	CHECK_EQ(obs.len, p[k - 1].len);
	CHECK_EQ(obs.id, 0x6007);
	ask(&p[k], &q, 0x6008, "big.lab.test");
	CHECK(got(&p[k++], 0x6008, DNS_RCODE_NOERROR));
	CHECK_EQ(obs.last.source, PROXY_SRC_CACHE);
	CHECK_STR(obs.upstream, "-");
	CHECK_EQ(st->truncated, 2);
	CHECK_EQ(st->answered_doh, 1);
	CHECK_EQ(st->cache_hits, 1);

	/* Two wait, a third finds no slot; the two time out. */
	ask_from(&p[k++], &q, 0x6009, "t1.lab.test", "10.4.4.1", LISTEN_UDP);
	ask_from(&p[k++], &q, 0x600a, "t2.lab.test", "10.4.4.2", LISTEN_UDP);
	ask_from(&p[k++], &q, 0x600b, "t3.lab.test", "10.4.4.3", LISTEN_UDP);
	CHECK(got(&p[k - 1], 0x600b, DNS_RCODE_SERVFAIL));
	CHECK_EQ(p[k - 2].responses + p[k - 3].responses, 0);
	clock_step(2000);
	CHECK(got(&p[k - 3], 0x6009, DNS_RCODE_SERVFAIL));
	CHECK(got(&p[k - 2], 0x600a, DNS_RCODE_SERVFAIL));
	CHECK_EQ(st->servfail, 3);
	CHECK_EQ(st->pending, 0);

	for (i = 0; i < k; i++) {
		CHECK(p[i].responses <= 1);
		CHECK_EQ(p[i].releases, 1);
		answers += p[i].responses;
	}
	for (i = 0; i < (int)(sizeof(st->rcodes) / sizeof(st->rcodes[0])); i++)
		counted += st->rcodes[i];
	CHECK_EQ(answers, k - 1);
	CHECK_EQ(counted, (uint64_t)answers);
	CHECK_EQ(st->rcodes[DNS_RCODE_NOERROR], 6);
	CHECK_EQ(st->rcodes[DNS_RCODE_SERVFAIL], 3);
	/* Every answer obs once, under the source it was counted by. */
	CHECK_EQ(obs.n, (size_t)answers);
	CHECK_EQ(obs.by_source[PROXY_SRC_LOCAL], 3);
	CHECK_EQ(obs.by_source[PROXY_SRC_DOH], 1);
	CHECK_EQ(obs.by_source[PROXY_SRC_CACHE], 1);
	/* REFUSED, TC=1, FORMERR, three SERVFAILs. */
	CHECK_EQ(obs.by_source[PROXY_SRC_ERROR], 6);
	CHECK_EQ(obs.last.rcode, DNS_RCODE_SERVFAIL);
	CHECK_EQ(obs.last.ede, DNS_EDE_NO_REACHABLE);
	/* A query's error names the upstream it went to first. */
	CHECK_STR(obs.upstream, "https://192.0.2.1/dns-query");
	stop();
}

/*
 * A prefetch answers no one; a client that asks once the entry has
 * expired, while the prefetch is still out, waits on it and gets its
 * answer.
 */
static void
test_prefetch_follower(void)
{
	static struct fake_peer p;
	struct msg q, a;

	start(ENC_ONLY "cache-size 1m\n" "cache-max-ttl 10s\n");
	ask(&p, &q, 0x6100, "pf.lab.test");
	answer(&a, 0, "pf.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x6100, DNS_RCODE_NOERROR));
	fake_reset_reqs();

	/* In the last of its ten seconds: a hit, and the prefetch. */
	clock_step(9500);
	ask(&p, &q, 0x6101, "pf.lab.test");
	CHECK(got(&p, 0x6101, DNS_RCODE_NOERROR));
	CHECK_EQ(st->prefetches, 1);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(st->pending, 1);

	/* Expired before the prefetch is back: a miss that waits on it. */
	clock_step(1000);
	ask(&p, &q, 0x6102, "pf.lab.test");
	CHECK_EQ(p.responses, 0);
	CHECK_EQ(st->coalesced, 1);
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x6102, DNS_RCODE_NOERROR));
	CHECK(same_but_id(&p, &a));
	/* The first answer and the follower's; the prefetch's is no one's. */
	CHECK_EQ(st->answered_doh, 2);
	CHECK_EQ(st->rcodes[DNS_RCODE_NOERROR], 3);
	CHECK_EQ(st->pending, 0);
	stop();
}

/*
 * Address servers (issue 16) on a fake discovery: encrypted-only uses
 * only an upgraded endpoint, answers EDE 14 while discovery is pending
 * and EDE 22 naming the address and why when it is not upgraded, and
 * sends nothing in plaintext (with captive-portal off, not even a
 * portal channel is made); a result installs a new upside with the
 * endpoint pinned and verify_ip set, the cache kept.  encrypted-preferred
 * falls back to plain DNS to the address itself, not to fallback;
 * plaintext never discovers.
 */
static void
test_address_servers(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;
	struct addr want;
	struct discovery *old;
	struct config *rcfg;
	char text[256];
	int made = fake.plain_made;

	start("mode encrypted-only\n"
	    "captive-portal off\n"
	    "upstream 192.0.2.53\n"
	    "listen 127.0.0.1:5300\n"
	    "timeout 2s\n");
	CHECK(fake.disc != NULL && fake.disc->started == 1 &&
	    fake.disc->n == 1);
	CHECK(fake.upstreams == NULL);
	CHECK_EQ(fake.plain_made, made);
	CHECK(!proxy_settled(px));
	CHECK(proxy_unhealthy(px) != NULL);

	/* Pending: not ready, nothing sent anywhere. */
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xd001, "www.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0xd001, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_NOT_READY);
	CHECK(strstr(text, "192.0.2.53:53: discovery pending") != NULL);

	/* Not upgraded: EDE 22 names it and says why. */
	fake_disc_set(0, DISCOVERY_NONE, "no SVCB record", NULL, 0, NULL);
	run();
	CHECK(fake.upstreams == NULL);
	CHECK(proxy_settled(px));
	CHECK(proxy_unhealthy(px) != NULL);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xd002, "www.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0xd002, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_NO_REACHABLE);
	CHECK(strcmp(text, "192.0.2.53:53: not upgraded (no SVCB record)") ==
	    0);
	CHECK_EQ(fake.ndoh, 0);
	CHECK_EQ(fake.nplain, 0);

	/* Upgraded: its endpoint, pinned, the resolver's IP to verify. */
	fake_disc_set(0, DISCOVERY_VERIFIED, NULL, "doh.test", 8443,
	    "192.0.2.54");
	run();
	CHECK((u = fake.upstreams) != NULL && u->started == 1 && u->n == 1);
	CHECK(u->list != NULL && u->list[0].npins == 1 &&
	    strcmp(u->list[0].host, "doh.test") == 0 &&
	    u->list[0].port == 8443 &&
	    strcmp(u->list[0].verify_ip, "192.0.2.53") == 0);
	CHECK(addr_parse("192.0.2.54:8443", 0, &want, NULL, 0) == 0 &&
	    addr_eq(&u->list[0].pins[0], &want));
	CHECK(proxy_unhealthy(px) == NULL);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xd003, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(fake.ndoh == 1 && fake.doh[0].client == &u->client[0]);
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xd003, DNS_RCODE_NOERROR));
	/* The cache kept across the new upside: a hit, nothing sent. */
	fake_reset_reqs();
	fake_disc_set(0, DISCOVERY_VERIFIED, NULL, "doh.test", 8443,
	    "192.0.2.55");
	run();
	CHECK(fake.upstreams != u);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xd004, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0xd004, DNS_RCODE_NOERROR));
	CHECK_EQ(fake.ndoh, 0);
	/* A network change reruns discovery. */
	proxy_network_changed(px);
	CHECK_EQ(fake.disc->reruns, 1);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(fake.plain_made, made);
	/* A reload keeps the results while it reruns; the configuration is
	 * shared with the upsides discovery builds, freed with the last. */
	old = fake.disc;
	CHECK_EQ(proxy_reload(px, make_cfg("mode encrypted-only\n"
	    "captive-portal off\n"
	    "upstream 192.0.2.53\n"
	    "listen 127.0.0.1:5300\n"
	    "timeout 3s\n")), 0);
	CHECK(fake.disc != old && fake.disc->started == 1);
	CHECK(fake.disc->res[0].upgrade == DISCOVERY_VERIFIED);
	CHECK((u = fake.upstreams) != NULL && u->n == 1);
	fake_disc_set(0, DISCOVERY_NONE, "no SVCB record", NULL, 0, NULL);
	run();
	CHECK(fake.upstreams == NULL);
	CHECK_EQ(fake.discoveries, 1);
	/* A reload that fails half-way: the new discovery and upside go,
	 * the caller keeps its configuration, the running one stays. */
	old = fake.disc;
	rcfg = make_cfg("mode encrypted-only\n"
	    "captive-portal off\n"
	    "upstream 192.0.2.53\n"
	    "upstream 192.0.2.54\n"
	    "listen 127.0.0.1:5300\n");
	fake.listen_update_fail = 1;
	CHECK_EQ(proxy_reload(px, rcfg), -1);
	free_cfg(rcfg);
	run();
	CHECK(fake.disc == NULL || fake.disc == old);
	CHECK_EQ(fake.discoveries, 1);
	fake.disc = old;
	fake_disc_set(0, DISCOVERY_KNOWN, NULL, "dns.example", 443,
	    "192.0.2.53");
	run();
	CHECK(fake.upstreams != NULL && fake.upstreams->n == 1);
	stop();
	CHECK_EQ(fake.discoveries, 0);

	/* encrypted-preferred: plain DNS to the address itself, marked. */
	start("mode encrypted-preferred\n"
	    "upstream 192.0.2.53\n"
	    "fallback 192.0.2.99\n"
	    "listen 127.0.0.1:5300\n"
	    "timeout 2s\n"
	    "cache-size 0\n");
	CHECK(fake.upstreams == NULL && fake.fallback != NULL);
	CHECK(addr_parse("192.0.2.53", 53, &want, NULL, 0) == 0);
	CHECK(fake.fallback->nservers == 1 &&
	    addr_eq(&fake.fallback->servers[0], &want));
	CHECK(proxy_unhealthy(px) == NULL);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xd005, "www.lab.test", T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.nplain, 1);
	answer(&a, 0x1234, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0xd005, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	fake_reset_reqs();
	/* Upgraded: DoH first, the same address still the plain server. */
	fake_disc_set(0, DISCOVERY_VERIFIED, NULL, "doh.test", 443,
	    "192.0.2.54");
	run();
	CHECK((u = fake.upstreams) != NULL && u->n == 1);
	CHECK(fake.fallback->nservers == 1 &&
	    addr_eq(&fake.fallback->servers[0], &want));
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xd006, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(fake.ndoh == 1 && fake.nplain == 0);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	CHECK_EQ(fake.nplain, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0xd006, DNS_RCODE_NOERROR));
	stop();

	/* plaintext: the address is a plain server; nothing discovered. */
	start("mode plaintext\n"
	    "upstream 192.0.2.53\n"
	    "listen 127.0.0.1:5300\n");
	CHECK(fake.disc == NULL && fake.discoveries == 0);
	CHECK(fake.upstreams == NULL && fake.fallback != NULL &&
	    fake.fallback->nservers == 1 &&
	    addr_eq(&fake.fallback->servers[0], &want));
	stop();
	CHECK_EQ(fake.discoveries, 0);
}

/* --- suspend and resume (issue 17) ------------------------------------ */

#define HOUR_MS	(3600ull * 1000)

static FILE *cap_file;
static int cap_saved = -1;

/* From here to capture_end(), stderr (the log, at info) goes to a file. */
static void
capture_begin(void)
{
	fflush(stderr);
	if ((cap_file = tmpfile()) == NULL ||
	    (cap_saved = dup(STDERR_FILENO)) == -1 ||
	    dup2(fileno(cap_file), STDERR_FILENO) == -1) {
		printf("cannot capture stderr\n");
		abort();
	}
	log_setlevel(LOG_LEVEL_INFO);
}

/* What was logged since capture_begin(), NUL-terminated, in buf. */
static char *
capture_end(char *buf, size_t len)
{
	size_t n;

	log_setlevel(LOG_LEVEL_ERROR);
	fflush(stderr);
	dup2(cap_saved, STDERR_FILENO);
	close(cap_saved);
	cap_saved = -1;
	rewind(cap_file);
	n = fread(buf, 1, len - 1, cap_file);
	buf[n] = '\0';
	fclose(cap_file);
	return buf;
}

/* How many times needle occurs in hay. */
static int
occurs(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/*
 * An idle proxy notices a night's sleep on its next 1 s tick (live time,
 * which the sleep did not move): one network change (the upstreams told,
 * discovery run again), one log line, one count; no more on later ticks
 * or queries.  Sleep under a second is no resume.
 */
static void
test_resume_tick(void)
{
	static struct fake_peer p;
	struct msg q;
	char log[4096];

	start("upstream https://192.0.2.1/dns-query\n"
	    "listen 127.0.0.1:5300\n");
	CHECK_EQ(clock_step(5000), 5);		/* the tick, idle */
	CHECK_EQ(st->resumes, 0);
	clock_test_sleep(CLOCK_RESUME_MIN_MS - 1);
	clock_step(1000);
	CHECK_EQ(st->resumes, 0);
	CHECK_EQ(st->network_changes, 0);

	clock_test_sleep(8 * HOUR_MS);
	capture_begin();
	CHECK_EQ(clock_step(999), 0);		/* nothing runs by itself */
	CHECK_EQ(st->resumes, 0);
	CHECK_EQ(fake.upstreams->network_changes, 0);
	CHECK_EQ(clock_step(1), 1);		/* the tick sees it */
	CHECK_EQ(st->resumes, 1);
	CHECK_EQ(st->network_changes, 1);
	CHECK_EQ(fake.upstreams->network_changes, 1);
	clock_step(60 * 1000);
	ask(&p, &q, 0x7001, "after.lab.test");
	CHECK_EQ(st->resumes, 1);
	CHECK_EQ(fake.upstreams->network_changes, 1);
	capture_end(log, sizeof(log));
	CHECK_EQ(occurs(log, "resumed after"), 1);
	/* 8 h and the 999 ms before, which added up. */
	CHECK(strstr(log, "resumed after 28801 s of sleep") != NULL);
	stop();

	/* Address servers: the resume runs discovery again. */
	start("mode encrypted-only\n"
	    "upstream 192.0.2.53\n"
	    "listen 127.0.0.1:5300\n");
	CHECK(fake.disc != NULL && fake.disc->reruns == 0);
	clock_test_sleep(2 * HOUR_MS);
	clock_step(1000);
	CHECK_EQ(st->resumes, 1);
	CHECK_EQ(fake.disc->reruns, 1);
	clock_step(10 * 1000);
	CHECK_EQ(fake.disc->reruns, 1);
	stop();
}

/*
 * An answer with 300 s left, then 8 h of sleep: the first query after
 * the resume sees it before any tick (one network change, first), and
 * the cached answer is not fresh: it goes upstream.  Refreshed, the
 * client has the new answer; upstreams down, it is served stale (EDE 3,
 * TTL 30) only within the serve-stale window, else SERVFAIL.
 */
static void
test_resume_cache(void)
{
	static struct fake_peer p;
	struct msg q, a, a2;
	const char *name = "sleep.lab.test";

	/* A window of a day: stale with EDE 3. */
	start(ENC_ONLY "serve-stale 1d\n" "cache-size 1m\n");
	ask(&p, &q, 0x7101, name);
	answer(&a, 0, name, T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x7101, DNS_RCODE_NOERROR));
	fake_reset_reqs();
	ask(&p, &q, 0x7102, name);		/* fresh, from the cache */
	CHECK(got(&p, 0x7102, DNS_RCODE_NOERROR));
	CHECK_EQ(first_ttl(&p), 300);
	CHECK_EQ(fake.ndoh, 0);

	clock_test_sleep(8 * HOUR_MS);
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0x7103, name, T_A, 1232, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(st->resumes, 1);
	CHECK_EQ(fake.upstreams->network_changes, 1);
	CHECK_EQ(p.responses, 0);		/* not served as fresh */
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0x7103, DNS_RCODE_NOERROR));
	CHECK_EQ(first_ttl(&p), 30);
	CHECK_EQ(ede_code(&p), DNS_EDE_STALE);
	CHECK_EQ(st->stale_answers, 1);
	fake_reset_reqs();
	clock_step(1000);			/* the tick: obs already */
	CHECK_EQ(st->resumes, 1);
	CHECK_EQ(fake.upstreams->network_changes, 1);

	/* Refreshed: the new answer, fresh, counted from the resume. */
	ask(&p, &q, 0x7104, name);
	CHECK_EQ(fake.ndoh, 1);
	answer(&a2, 0, name, T_A, DNS_RCODE_NOERROR, 2);
	fake_doh_reply(&fake.doh[0], DOH_OK, a2.buf, a2.len);
	CHECK(got(&p, 0x7104, DNS_RCODE_NOERROR));
	fake_reset_reqs();
	clock_step(10 * 1000);
	ask(&p, &q, 0x7105, name);
	CHECK(got(&p, 0x7105, DNS_RCODE_NOERROR));
	CHECK_EQ(rd16(p.answer + 6), 2);
	CHECK_EQ(first_ttl(&p), 290);
	CHECK_EQ(fake.ndoh, 0);
	stop();

	/* A 10 minute window ended hours ago: SERVFAIL, nothing stale. */
	start(ENC_ONLY "serve-stale 10m\n" "cache-size 1m\n");
	ask(&p, &q, 0x7201, name);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0x7201, DNS_RCODE_NOERROR));
	fake_reset_reqs();
	clock_step(1000);
	clock_test_sleep(8 * HOUR_MS);
	ask(&p, &q, 0x7202, name);
	CHECK_EQ(p.responses, 0);
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0x7202, DNS_RCODE_SERVFAIL));
	CHECK_EQ(st->stale_answers, 0);
	CHECK_EQ(st->resumes, 1);
	stop();
}

/*
 * Timers about the query in hand run on live time: a query sent just
 * before the lid closed times out 2 s of live time after it was sent,
 * not at once on resume, and the resume itself does not end it.
 */
static void
test_resume_live_timers(void)
{
	static struct fake_peer p;
	struct msg q;

	start("mode encrypted-only\n"
	    "upstream https://192.0.2.1/dns-query\n"
	    "listen 127.0.0.1:5300\n"
	    "timeout 2s\n"
	    "cache-size 0\n");
	clock_step(500);
	ask(&p, &q, 0x7301, "live.lab.test");
	CHECK(fake.ndoh == 1 && fake.doh[0].live);
	clock_test_sleep(8 * HOUR_MS);
	CHECK_EQ(clock_step(500), 1);		/* the tick: the resume */
	CHECK_EQ(st->resumes, 1);
	CHECK_EQ(p.responses, 0);
	CHECK(fake.doh[0].live);
	clock_step(1499);
	CHECK_EQ(p.responses, 0);
	clock_step(1);				/* 2 s after it was sent */
	CHECK(got(&p, 0x7301, DNS_RCODE_SERVFAIL));
	stop();
}

/* The first server of the plain channel plain request r went to. */
static const char *
plain_first(const struct fake_req *r)
{
	static char buf[ADDR_STRLEN];

	return addr_str(&r->plain->servers[0], buf, sizeof(buf));
}

/*
 * encrypted-preferred with URL and address servers mixed: plain DNS goes
 * to the same address as the DoH endpoint tried first (the others after
 * it); a URL upstream's query to the fallback servers; a query with no
 * DoH upstream at all to the first address server.
 */
static void
test_plain_to_same_address(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;
	size_t n;

	start("mode encrypted-preferred\n"
	    "upstream https://192.0.2.10/dns-query\n"
	    "upstream 192.0.2.53\n"
	    "upstream 192.0.2.63\n"
	    "fallback 192.0.2.99\n"
	    "listen 127.0.0.1:5300\n"
	    "timeout 2s\n"
	    "cache-size 0\n");
	fake_disc_set(0, DISCOVERY_VERIFIED, NULL, "doh53.test", 443,
	    "192.0.2.54");
	fake_disc_set(1, DISCOVERY_VERIFIED, NULL, "doh63.test", 443,
	    "192.0.2.64");
	run();
	CHECK((u = fake.upstreams) != NULL && u->n == 3);
	CHECK_STR(u->list[1].host, "doh53.test");
	CHECK_STR(u->list[2].host, "doh63.test");
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);

	/* Only 192.0.2.63's endpoint up: its failure goes plain to .63. */
	fake_reset_reqs();
	u->client[0].state = DOH_BACKOFF;
	u->client[1].state = DOH_BACKOFF;
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xe001, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(fake.ndoh == 1 && fake.doh[0].client == &u->client[2]);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	CHECK_EQ(fake.nplain, 1);
	CHECK_STR(plain_first(&fake.plainq[0]), "192.0.2.63:53");
	CHECK_EQ(fake.plainq[0].plain->nservers, 3);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0xe001, DNS_RCODE_NOERROR));

	/* 192.0.2.53's endpoint first: plain to .53, though .63's was
	 * tried too. */
	fake_reset_reqs();
	u->client[2].state = DOH_READY;
	u->client[1].state = DOH_READY;
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xe002, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(fake.ndoh == 1 && fake.doh[0].client == &u->client[1]);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	CHECK(fake.ndoh == 2 && fake.doh[1].client == &u->client[2]);
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK_EQ(fake.nplain, 1);
	CHECK_STR(plain_first(&fake.plainq[0]), "192.0.2.53:53");
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0xe002, DNS_RCODE_NOERROR));

	/* The URL upstream first: the fallback servers, and only them. */
	fake_reset_reqs();
	u->client[0].state = DOH_READY;
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xe003, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	for (n = 0; n < 3; n++) {
		CHECK_EQ(fake.ndoh, n + 1);
		fake_doh_reply(&fake.doh[n], DOH_ERR_CONNECT, NULL, 0);
	}
	CHECK(fake.doh[0].client == &u->client[0]);
	CHECK_EQ(fake.nplain, 1);
	CHECK_STR(plain_first(&fake.plainq[0]), "192.0.2.99:53");
	CHECK_EQ(fake.plainq[0].plain->nservers, 1);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0xe003, DNS_RCODE_NOERROR));

	/* No DoH upstream at all: the first address server first. */
	fake_reset_reqs();
	for (n = 0; n < 3; n++)
		u->client[n].state = DOH_BACKOFF;
	fake_peer_init(&p, LISTEN_UDP);
	query(&q, 0xe004, "www.lab.test", T_A, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 0);
	CHECK_EQ(fake.nplain, 1);
	CHECK_STR(plain_first(&fake.plainq[0]), "192.0.2.53:53");
	CHECK(fake.plainq[0].plain == fake.fallback);
	fake_plain_reply(&fake.plainq[0], 0, a.buf, a.len);
	CHECK(got(&p, 0xe004, DNS_RCODE_NOERROR));
	stop();
	CHECK_EQ(fake.plain_sets, 0);
}

/* --- the portal lease (issue 17) ---------------------------------------- */

#define ENC_PORTAL	"mode encrypted-only\n" \
			"upstream https://192.0.2.1/dns-query\n" \
			"fallback 192.0.2.53\n" \
			"listen 127.0.0.1:5300\n" \
			"timeout 2s\n" \
			"captive-portal-lease 60s\n"
#define T_NS		2

/* r is the portal probe: ". NS" to the portal channel; it answers. */
static int
probe_answers(struct fake_req *r)
{
	struct msg probe, a;
	int ok;

	query(&probe, 0, "", T_NS, 0, 0);
	ok = r->live && r->plain == fake.portal && r->len == probe.len &&
	    memcmp(r->msg + 2, probe.buf + 2, probe.len - 2) == 0;
	answer(&a, rd16(r->msg), "", T_NS, DNS_RCODE_NOERROR, 0);
	fake_plain_reply(r, 0, a.buf, a.len);
	return ok;
}

/*
 * r (a query to the portal channel) is answered with a TTL of 300; p,
 * which sent EDNS, gets it with TTLs cut to 10 and EDE 0 saying why.
 */
static int
portal_answers(struct fake_req *r, struct fake_peer *p, struct msg *q,
    const char *name)
{
	struct msg a;
	char text[128];

	if (!r->live || r->plain != fake.portal || !sent(r, q))
		return 0;
	answer(&a, 0x5eed, name, T_A, DNS_RCODE_NOERROR, 2);
	fake_plain_reply(r, 0, a.buf, a.len);
	return got(p, rd16(q->buf), DNS_RCODE_NOERROR) &&
	    first_ttl(p) == 10 && ede_of(p, text, sizeof(text)) == 0 &&
	    strcmp(text, "captive portal exception") == 0;
}

/* A client query with EDNS for name. */
static void
ask_edns(struct fake_peer *p, struct msg *q, uint16_t id, const char *name)
{
	fake_peer_init(p, LISTEN_UDP);
	query(q, id, name, T_A, 1232, 0);
	fake_query(p, q->buf, q->len);
}

/* /health under captive-portal ask while DoH is down (ENC_PORTAL). */
#define ASK_SAID	"DoH unreachable: if a captive portal is in the way, " \
			"dohq --captive-portal or SIGUSR2 opens a lease " \
			"(plain DNS to 192.0.2.53:53 for 1 min)"

/*
 * captive-portal ask, the default: DoH down is said (/health) and
 * nothing at all leaves in plaintext, however long it lasts, until the
 * user opens a lease.  The lease sends every query to the network's
 * resolver, answered with EDE 0 and TTLs of at most 10 s, never cached;
 * it ends the moment DoH answers or connects, or when its time is up,
 * and from then on nothing is plain again.
 */
static void
test_portal_ask(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;
	const char *why = NULL;
	char s[256];

	start(ENC_PORTAL);
	u = fake.upstreams;
	CHECK(fake.portal != NULL && fake.portal->nservers == 1 &&
	    plain_is(fake.portal, "192.0.2.53"));
	CHECK(fake.fallback == NULL);
	/* DoH connected: no lease, nothing said, nothing plain. */
	CHECK_EQ(proxy_portal_open(px, &why), -1);
	CHECK(why != NULL && strstr(why, "DoH upstream is connected") != NULL);
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	CHECK_EQ(fake.nplain, 0);

	/* DoH down: said, no probe. */
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(st->portal_probes, 0);
	CHECK(proxy_portal_status(px, s, sizeof(s)) == strlen(ASK_SAID) &&
	    strcmp(s, ASK_SAID) == 0);
	/* Said is not a lease: SERVFAIL, nothing plain. */
	ask_edns(&p, &q, 0xe001, "login.hotel.test");
	CHECK(got(&p, 0xe001, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_code(&p), DNS_EDE_NO_REACHABLE);
	/* Nor as DoH goes on failing, minutes on. */
	fake_doh_set_state(u, 0, DOH_CONNECTING);
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	clock_step(30000);
	fake_doh_set_state(u, 0, DOH_CONNECTING);
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	clock_step(120000);
	ask_edns(&p, &q, 0xe00a, "detectportal.firefox.com");
	CHECK(got(&p, 0xe00a, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(st->portal_probes, 0);
	CHECK_EQ(st->portal_leases, 0);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strcmp(s, ASK_SAID) == 0);

	/* The user opens a lease: every name, to the network's resolver. */
	CHECK_EQ(proxy_portal_open(px, &why), 0);
	CHECK_EQ(st->portal_leases, 1);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strstr(s, "lease open, 60 s left: all queries") != NULL);
	ask_edns(&p, &q, 0xe002, "login.hotel.test");
	CHECK_EQ(fake.nplain, 1);
	CHECK(portal_answers(&fake.plainq[0], &p, &q, "login.hotel.test"));
	CHECK_EQ(st->portal_answers, 1);
	CHECK_EQ(st->ede[DNS_EDE_OTHER], 1);
	/* Never cached: the same question goes out again. */
	ask_edns(&p, &q, 0xe003, "login.hotel.test");
	CHECK_EQ(fake.nplain, 2);
	CHECK(portal_answers(&fake.plainq[1], &p, &q, "login.hotel.test"));
	CHECK_EQ(fake.ndoh, 0);
	/* No answer from the resolver: SERVFAIL, EDE 22. */
	ask_edns(&p, &q, 0xe004, "gone.hotel.test");
	fake_plain_reply(&fake.plainq[2], -1, NULL, 0);
	CHECK(got(&p, 0xe004, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_code(&p), DNS_EDE_NO_REACHABLE);
	CHECK_EQ(fake.nplain, 3);
	CHECK_EQ(st->portal_probes, 0);
	fake_reset_reqs();

	/* DoH connects: the lease ends at once, queries go to DoH. */
	fake_doh_set_state(u, 0, DOH_READY);
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	ask_edns(&p, &q, 0xe005, "login.hotel.test");
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(fake.ndoh, 1);
	answer(&a, 0, "login.hotel.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xe005, DNS_RCODE_NOERROR));
	CHECK(first_ttl(&p) == 300);
	fake_reset_reqs();

	/* A DoH answer ends a lease too: a query on DoH before it opened. */
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strcmp(s, ASK_SAID) == 0);
	fake_doh_set_state(u, 0, DOH_CONNECTING);
	ask_edns(&p, &q, 0xe006, "www.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(proxy_portal_open(px, &why), 0);
	answer(&a, 0, "www.lab.test", T_A, DNS_RCODE_NOERROR, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xe006, DNS_RCODE_NOERROR));
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	ask_edns(&p, &q, 0xe007, "next.hotel.test");
	CHECK_EQ(fake.ndoh, 2);
	CHECK_EQ(fake.nplain, 0);
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0xe007, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.nplain, 0);
	fake_reset_reqs();

	/* Time up: the lease ends, said again, nothing plain afterwards. */
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	CHECK_EQ(proxy_portal_open(px, &why), 0);
	CHECK_EQ(st->portal_leases, 3);
	clock_step(59999);
	ask_edns(&p, &q, 0xe008, "login.hotel.test");
	CHECK(portal_answers(&fake.plainq[0], &p, &q, "login.hotel.test"));
	clock_step(1);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strcmp(s, ASK_SAID) == 0);
	/* ask: no probe, no lease reopens by itself. */
	clock_step(120000);
	ask_edns(&p, &q, 0xe009, "late.hotel.test");
	CHECK(got(&p, 0xe009, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.nplain, 1);
	CHECK_EQ(st->portal_answers, 3);
	CHECK_EQ(st->portal_probes, 0);
	CHECK_EQ(st->portal_leases, 3);
	stop();
}

/*
 * An idle upstream (closed after a quiet spell) is not known to work on
 * this network: the user may open a lease, and DoH down is said when
 * the connected ones fail, idle or not.  An answer of the network's
 * resolver that cannot be passed on is a SERVFAIL with EDE 0, counted.
 */
static void
test_portal_idle(void)
{
	static struct fake_peer p;
	struct msg q, a;
	struct upstreams *u;
	const char *why = NULL;
	char s[256];
	uint64_t servfail;

	start(ENC_PORTAL);
	u = fake.upstreams;
	fake_doh_set_state(u, 0, DOH_IDLE);
	CHECK_EQ(proxy_portal_open(px, &why), 0);
	CHECK_EQ(st->portal_leases, 1);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strstr(s, "lease open") != NULL);
	ask_edns(&p, &q, 0xe201, "login.hotel.test");
	CHECK(portal_answers(&fake.plainq[0], &p, &q, "login.hotel.test"));
	/* An extended rcode in its OPT: not the client's to see. */
	servfail = st->servfail;
	ask_edns(&p, &q, 0xe202, "odd.hotel.test");
	answer(&a, 0x5eed, "odd.hotel.test", T_A, DNS_RCODE_NOERROR, 0);
	a.buf[11] = 1;				/* ARCOUNT */
	put8(&a, 0);
	put16(&a, 41);				/* OPT */
	put16(&a, 1232);
	put32(&a, 0x01000000);			/* extended rcode 1 */
	put16(&a, 0);
	CHECK(fake.nplain == 2 && fake.plainq[1].live);
	fake_plain_reply(&fake.plainq[1], 0, a.buf, a.len);
	CHECK(got(&p, 0xe202, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_code(&p), DNS_EDE_OTHER);
	CHECK_EQ(st->servfail, servfail + 1);
	/* The idle upstream connects: the lease ends. */
	fake_doh_set_state(u, 0, DOH_READY);
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	CHECK_EQ(proxy_portal_open(px, &why), -1);
	CHECK(why != NULL && strstr(why, "connected") != NULL);
	stop();

	/* Two upstreams, one idle: the other failing says DoH is down. */
	start("mode encrypted-only\n"
	    "upstream https://192.0.2.1/dns-query\n"
	    "upstream https://192.0.2.2/dns-query\n"
	    "fallback 192.0.2.53\n"
	    "listen 127.0.0.1:5300\n"
	    "captive-portal-lease 60s\n");
	u = fake.upstreams;
	fake_doh_set_state(u, 1, DOH_IDLE);
	ask_edns(&p, &q, 0xe203, "www.lab.test");
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	fake_doh_set_state(u, 0, DOH_BACKOFF);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	/* Tried on the idle one next; the reply it gets is a failure. */
	CHECK(fake.ndoh == 2 && fake.doh[1].live);
	fake_doh_reply(&fake.doh[1], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0xe203, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.nplain, 0);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strstr(s, "DoH unreachable") != NULL);
	CHECK_EQ(proxy_portal_open(px, &why), 0);
	stop();
}

/*
 * captive-portal off: no portal channel, no probe, no lease; whatever
 * happens, nothing is sent in plaintext.  Nor in encrypted-preferred,
 * which has its fallback.
 */
static void
test_portal_off(void)
{
	static struct fake_peer p;
	struct msg q;
	const char *why = NULL;
	char s[256];
	int made = fake.plain_made;

	fake.portal = fake.fallback = NULL;
	start(ENC_PORTAL "captive-portal off\n");
	CHECK(fake.portal == NULL && fake.fallback == NULL);
	CHECK_EQ(fake.plain_made, made);
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	clock_step(120000);
	CHECK_EQ(proxy_portal_open(px, &why), -1);
	CHECK(why != NULL && strcmp(why, "captive-portal is off") == 0);
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	ask_edns(&p, &q, 0xe101, "detectportal.firefox.com");
	CHECK(got(&p, 0xe101, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(st->portal_probes, 0);
	CHECK_EQ(st->portal_leases, 0);
	stop();

	start(ENC_PREF "captive-portal auto\n");
	CHECK(fake.portal == NULL && fake.fallback != NULL);
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	CHECK_EQ(proxy_portal_open(px, &why), -1);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(st->portal_probes, 0);
	stop();
}

/*
 * captive-portal auto, which the user opts in to: while DoH is down, a
 * probe (". NS", plain) at most every 30 s; once it is answered, a
 * lease of its own for the connectivity-check names only (any case, not
 * their subdomains); other names get SERVFAIL, nothing plain.  The
 * user's lease widens it to every name; DoH connecting ends it.
 */
static void
test_portal_auto(void)
{
	static struct fake_peer p;
	struct msg q;
	const char *why;
	char s[256];

	start(ENC_PORTAL "captive-portal auto\n");
	CHECK_EQ(fake.nplain, 0);
	/* DoH down: the probe; unanswered, nothing suspected. */
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	CHECK_EQ(fake.nplain, 1);
	CHECK_EQ(st->portal_probes, 1);
	fake_plain_reply(&fake.plainq[0], -1, NULL, 0);
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	CHECK_EQ(st->portal_leases, 0);
	/* At most one every 30 s, while DoH stays down. */
	fake_doh_set_state(fake.upstreams, 0, DOH_CONNECTING);
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	clock_step(29999);
	CHECK_EQ(fake.nplain, 1);
	clock_step(1);
	CHECK_EQ(fake.nplain, 2);
	CHECK_EQ(st->portal_probes, 2);
	/* Answered: suspected, and the check names' lease. */
	CHECK(probe_answers(&fake.plainq[1]));
	fake_reset_reqs();
	CHECK_EQ(st->portal_leases, 1);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strstr(s, "the connectivity-check names") != NULL);
	ask_edns(&p, &q, 0xe201, "www.lab.test");
	CHECK(got(&p, 0xe201, DNS_RCODE_SERVFAIL));
	ask_edns(&p, &q, 0xe202, "a.detectportal.firefox.com");
	CHECK(got(&p, 0xe202, DNS_RCODE_SERVFAIL));
	CHECK_EQ(fake.nplain, 0);
	ask_edns(&p, &q, 0xe203, "detectportal.firefox.com");
	CHECK(portal_answers(&fake.plainq[0], &p, &q,
	    "detectportal.firefox.com"));
	ask_edns(&p, &q, 0xe204, "Captive.Apple.COM");
	CHECK(portal_answers(&fake.plainq[1], &p, &q, "Captive.Apple.COM"));
	ask_edns(&p, &q, 0xe205, "www.msftconnecttest.com");
	CHECK(portal_answers(&fake.plainq[2], &p, &q,
	    "www.msftconnecttest.com"));
	ask_edns(&p, &q, 0xe206, "connectivitycheck.gstatic.com");
	CHECK(portal_answers(&fake.plainq[3], &p, &q,
	    "connectivitycheck.gstatic.com"));
	ask_edns(&p, &q, 0xe207, "nmcheck.gnome.org");
	CHECK(portal_answers(&fake.plainq[4], &p, &q, "nmcheck.gnome.org"));
	CHECK_EQ(st->portal_answers, 5);
	/* The user's lease: every name. */
	CHECK_EQ(proxy_portal_open(px, &why), 0);
	ask_edns(&p, &q, 0xe208, "www.lab.test");
	CHECK(portal_answers(&fake.plainq[5], &p, &q, "www.lab.test"));
	fake_doh_set_state(fake.upstreams, 0, DOH_READY);
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	ask_edns(&p, &q, 0xe209, "detectportal.firefox.com");
	CHECK_EQ(fake.nplain, 6);
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_ERR_CONNECT, NULL, 0);
	CHECK(got(&p, 0xe209, DNS_RCODE_SERVFAIL));
	CHECK_EQ(st->portal_probes, 2);
	/* Time up while DoH is down: probed again at once, a new lease. */
	fake_reset_reqs();
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	CHECK_EQ(st->portal_probes, 3);
	CHECK(probe_answers(&fake.plainq[0]));
	CHECK_EQ(st->portal_leases, 3);
	clock_step(60000);
	CHECK_EQ(st->portal_probes, 4);
	CHECK(probe_answers(&fake.plainq[1]));
	CHECK_EQ(st->portal_leases, 4);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strstr(s, "the connectivity-check names") != NULL);
	stop();
}

/*
 * A reload to captive-portal off ends an open lease at once: no channel,
 * nothing plain.  A reload from auto to ask ends auto's lease and its
 * probe: nothing plain, DoH down said as ask says it.
 */
static void
test_portal_reload(void)
{
	static struct fake_peer p;
	struct msg q;
	const char *why;
	char s[256];

	start(ENC_PORTAL);
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(proxy_portal_open(px, &why), 0);
	CHECK_EQ(proxy_reload(px, make_cfg(ENC_PORTAL
	    "captive-portal off\n")), 0);
	run();
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	ask_edns(&p, &q, 0xe401, "login.hotel.test");
	CHECK(got(&p, 0xe401, DNS_RCODE_SERVFAIL));
	clock_step(60000);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(proxy_portal_open(px, &why), -1);
	stop();

	start(ENC_PORTAL "captive-portal auto\n");
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	CHECK(probe_answers(&fake.plainq[0]));
	CHECK_EQ(st->portal_leases, 1);
	fake_reset_reqs();
	CHECK_EQ(proxy_reload(px, make_cfg(ENC_PORTAL)), 0);
	run();
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strcmp(s, ASK_SAID) == 0);
	ask_edns(&p, &q, 0xe402, "detectportal.firefox.com");
	CHECK(got(&p, 0xe402, DNS_RCODE_SERVFAIL));
	fake_doh_set_state(fake.upstreams, 0, DOH_CONNECTING);
	fake_doh_set_state(fake.upstreams, 0, DOH_BACKOFF);
	clock_step(120000);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(st->portal_probes, 1);
	stop();
}

/*
 * Address servers that cannot be upgraded (the usual zero configuration
 * at a portal: the network's resolver has no DDR record): they are the
 * network's resolvers, with fallback, each once; nothing said while
 * discovery is pending, DoH unreachable said once it says no, and
 * nothing plain until the user's lease.
 */
static void
test_portal_address_servers(void)
{
	static struct fake_peer p;
	struct msg q;
	const char *why;
	char s[256];

	fake.portal = NULL;
	start("mode encrypted-only\n"
	    "upstream 192.0.2.53\n"
	    "fallback 192.0.2.53\n"
	    "fallback 192.0.2.54\n"
	    "listen 127.0.0.1:5300\n");
	CHECK(fake.portal != NULL && fake.portal->nservers == 2 &&
	    plain_is(fake.portal, "192.0.2.53"));
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(proxy_portal_open(px, &why), -1);	/* pending: not down */
	CHECK_EQ(proxy_portal_status(px, s, sizeof(s)), 0);
	fake_disc_set(0, DISCOVERY_NONE, "no SVCB record", NULL, 0, NULL);
	run();
	CHECK_EQ(fake.nplain, 0);
	CHECK(proxy_portal_status(px, s, sizeof(s)) > 0 &&
	    strcmp(s, "DoH unreachable: if a captive portal is in the way, "
	    "dohq --captive-portal or SIGUSR2 opens a lease (plain DNS to "
	    "192.0.2.53:53 (and 1 more) for 5 min)") == 0);
	clock_step(60000);
	CHECK_EQ(fake.nplain, 0);
	CHECK_EQ(proxy_portal_open(px, &why), 0);
	ask_edns(&p, &q, 0xe301, "login.hotel.test");
	CHECK(portal_answers(&fake.plainq[0], &p, &q, "login.hotel.test"));
	stop();
}

/* --- DNSSEC validation (dnssec validate) ------------------------------ */

/*
 * The signed lab's answers (validator_vectors.h): its root key is the
 * trust anchor, VV_NOW the wall clock, and every DS or DNSKEY query the
 * proxy sends is answered with the captured answer.
 */
static char vv_anchor_path[64];

static const char *
vv_cfg_on(const char *head, const char *extra)
{
	static char text[1024];
	int fd;

	if (vv_anchor_path[0] == '\0') {
		snprintf(vv_anchor_path, sizeof(vv_anchor_path),
		    "/tmp/test_proxy_anchor.XXXXXX");
		if ((fd = mkstemp(vv_anchor_path)) == -1 ||
		    write(fd, vv_anchor, strlen(vv_anchor)) !=
		    (ssize_t)strlen(vv_anchor) || close(fd) == -1)
			abort();
	}
	snprintf(text, sizeof(text), "%s" "cache-size 1m\n"
	    "dnssec validate\n" "trust-anchor %s\n" "%s", head,
	    vv_anchor_path, extra);
	return text;
}

static const char *
vv_cfg(const char *extra)
{
	return vv_cfg_on(ENC_ONLY, extra);
}

static void
vstart(const char *extra)
{
	start(vv_cfg(extra));
	clock_test_wall(VV_NOW);
}

static const struct vv_case *
vcase(const char *id)
{
	size_t i;

	for (i = 0; i < sizeof(vv_cases) / sizeof(vv_cases[0]); i++)
		if (strcmp(vv_cases[i].id, id) == 0)
			return &vv_cases[i];
	abort();
}

/* A query for c's question: header flags (F_RD added), EDNS and DO. */
static void
vquery(struct msg *m, uint16_t id, const struct vv_case *c,
    uint16_t flags, int edns, int do_bit)
{
	m->len = 0;
	put16(m, id);
	put16(m, F_RD | flags);
	put16(m, 1);
	put16(m, 0);
	put16(m, 0);
	put16(m, edns != 0);
	put_dname(m, c->qname);
	put16(m, c->qtype);
	put16(m, DNS_CLASS_IN);
	if (edns)
		put_opt(m, 1232, do_bit);
}

/* Request r's question; 0 if it does not parse. */
static int
req_question(const struct fake_req *r, struct dns_query_info *qi,
    char *name, size_t namelen)
{
	return dnsmsg_parse_query(r->msg, r->len, qi) == DNS_VERDICT_OK &&
	    dnsmsg_name_to_text(qi->qname, qi->qname_len, name, namelen,
	    0) == 0;
}

/* Live DS and DNSKEY requests (the chain's), and of them name/type. */
static int
chain_live(const char *name, uint16_t type)
{
	struct dns_query_info qi;
	char text[DNS_MAX_NAME_TEXT];
	size_t i;
	int n = 0;

	for (i = 0; i < fake.ndoh; i++)
		if (fake.doh[i].live && req_question(&fake.doh[i], &qi, text,
		    sizeof(text)) && (qi.qtype == DNS_TYPE_DS ||
		    qi.qtype == DNS_TYPE_DNSKEY) && (name == NULL ||
		    (qi.qtype == type && strcasecmp(text, name) == 0)))
			n++;
	return n;
}

/*
 * Answer every live chain request with the captured answer, until none
 * is left or max are answered (0: no limit): how many were.  Each must
 * ask DO and CD.
 */
static int
serve_chain_max(int max)
{
	struct dns_query_info qi;
	char text[DNS_MAX_NAME_TEXT];
	size_t i, k;
	int n = 0, again = 1;

	while (again && (max == 0 || n < max)) {
		again = 0;
		for (i = 0; i < fake.ndoh; i++) {
			if (!fake.doh[i].live || !req_question(&fake.doh[i],
			    &qi, text, sizeof(text)) ||
			    (qi.qtype != DNS_TYPE_DS &&
			    qi.qtype != DNS_TYPE_DNSKEY))
				continue;
			CHECK(qi.edns_do);
			CHECK((qi.flags & DNS_FLAG_CD) != 0);
			for (k = 0; k < sizeof(vv_answers) /
			    sizeof(vv_answers[0]); k++)
				if (vv_answers[k].type == qi.qtype &&
				    strcasecmp(vv_answers[k].name, text) == 0)
					break;
			if (k == sizeof(vv_answers) / sizeof(vv_answers[0])) {
				fprintf(stderr, "no answer for %s %u\n", text,
				    qi.qtype);
				CHECK(0);
				fake_doh_reply(&fake.doh[i], DOH_ERR_HTTP,
				    NULL, 0);
			} else
				fake_doh_reply(&fake.doh[i], DOH_OK,
				    vv_answers[k].msg, vv_answers[k].len);
			n++;
			again = 1;
			if (max != 0 && n >= max)
				break;
		}
	}
	return n;
}

static int
serve_chain(void)
{
	return serve_chain_max(0);
}

/* The number of records of type in section sec (1..3) of p's answer. */
static int
count_type(const struct fake_peer *p, int sec, uint16_t type)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint32_t i, skip = 0;
	int s, n = 0;

	dnsmsg_rd_init(&r, p->answer, p->len);
	if (dnsmsg_rd_header(&r, &h) == -1 || dnsmsg_rd_name(&r, NULL,
	    NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		return -1;
	for (s = 1; s < sec; s++)
		skip += h.count[s];
	for (i = 0; i < skip + h.count[sec]; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return -1;
		if (i >= skip && rr.type == type)
			n++;
	}
	return n;
}

#define AD(p)	((rd16((p)->answer + 2) & DNS_FLAG_AD) != 0)

/*
 * A secure answer: the upstream query asks DO and CD whatever the
 * client; the proxy fetches the chain and sets AD for a client that set
 * DO or AD, not for one that set neither; a client without DO gets no
 * RRSIG; a warm chain asks only the answer; the cache keeps the state.
 */
static void
test_dnssec_secure(void)
{
	static struct fake_peer p;
	const struct vv_case *c = vcase("nsec"), *nd = vcase("nsec-nodata");
	struct msg q;
	uint16_t codes[8], size;
	uint32_t ttl;
	char text[64];
	int ede, n;

	vstart("");
	/* DO from the client. */
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa001, c, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(rd16(fake.doh[0].msg + 2), F_RD | DNS_FLAG_CD);
	CHECK_EQ(opt_options(fake.doh[0].msg, fake.doh[0].len, codes, &ede,
	    text, sizeof(text), &ttl, &size), 1);
	CHECK_EQ(ttl, DNS_EDNS_DO);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	CHECK_EQ(p.responses, 0);		/* waits on the chain */
	CHECK(chain_live(NULL, 0) > 0);
	n = serve_chain();
	CHECK(n >= 3);
	CHECK(got(&p, 0xa001, DNS_RCODE_NOERROR));
	CHECK(AD(&p));
	CHECK(count_type(&p, 1, DNS_TYPE_RRSIG) > 0);
	CHECK_EQ(st->dnssec_secure, 1);
	CHECK_EQ(st->dnssec_chain_queries, (uint64_t)n);
	CHECK(st->dnssec_sig_checks > 0);
	CHECK_EQ(st->pending, 0);

	/* Neither DO nor AD, another type in the same zone: the warm chain
	 * asks only the answer; no AD, and no DNSSEC record. */
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa002, nd, 0, 1, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(rd16(fake.doh[0].msg + 2), F_RD | DNS_FLAG_CD);
	fake_doh_reply(&fake.doh[0], DOH_OK, nd->msg, nd->len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK(got(&p, 0xa002, DNS_RCODE_NOERROR));
	CHECK(!AD(&p));
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_SOA), 1);
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_RRSIG), 0);
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_NSEC), 0);
	CHECK_EQ(st->dnssec_secure, 2);
	CHECK_EQ(st->dnssec_chain_queries, (uint64_t)n);

	/* AD without DO (RFC 6840 5.7): AD, and no RRSIG. */
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa003, c, DNS_FLAG_AD, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	CHECK(got(&p, 0xa003, DNS_RCODE_NOERROR));
	CHECK(AD(&p));
	CHECK_EQ(count_type(&p, 1, DNS_TYPE_RRSIG), 0);
	CHECK_EQ(count_type(&p, 1, DNS_TYPE_A), 1);

	/* From the cache (the same key: DO clear): AD per client. */
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa004, c, 0, 0, 0);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK(got(&p, 0xa004, DNS_RCODE_NOERROR));
	CHECK(!AD(&p));
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa005, c, DNS_FLAG_AD, 1, 0);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0xa005, DNS_RCODE_NOERROR));
	CHECK(AD(&p));
	CHECK_EQ(st->cache_hits, 2);
	CHECK_EQ(st->dnssec_secure, 5);
	CHECK_EQ(st->dnssec_bogus + st->dnssec_insecure +
	    st->dnssec_unchecked, 0);
	stop();
}

/*
 * c's answer with what a forger on the path adds where the validator
 * does not look: an NS set for qname in the authority section and its
 * glue (6.6.6.6) in the additional section, before and after the OPT.
 */
static void
vforge_extra(struct msg *m, const struct vv_case *c)
{
	static const char ns[] = "ns.evil.example.";
	static const uint8_t evil[4] = { 6, 6, 6, 6 };
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint8_t owner[DNS_MAX_NAME];
	uint32_t i;

	dnsmsg_rd_init(&r, c->msg, c->len);
	if (dnsmsg_rd_header(&r, &h) == -1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		abort();
	for (i = 0; i < (uint32_t)h.count[1] + h.count[2]; i++)
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			abort();
	m->len = 0;
	putbytes(m, c->msg, r.off);
	put_dname(m, c->qname);
	put16(m, DNS_TYPE_NS);
	put16(m, DNS_CLASS_IN);
	put32(m, 3600);
	put16(m, (unsigned)strlen(ns) + 1);
	put_dname(m, ns);
	put_dname(m, ns);
	put16(m, DNS_TYPE_A);
	put16(m, DNS_CLASS_IN);
	put32(m, 3600);
	put16(m, 4);
	putbytes(m, evil, 4);
	/* The upstream's own additional records (its OPT), owners whole. */
	for (i = 0; i < h.count[3]; i++) {
		if (dnsmsg_rd_rr(&r, owner, &rr) == -1)
			abort();
		putbytes(m, owner, rr.owner_len);
		putbytes(m, c->msg + rr.owner_off + rr.owner_wlen,
		    r.off - rr.owner_off - rr.owner_wlen);
	}
	h.count[2]++;
	h.count[3]++;
	m->buf[8] = (uint8_t)(h.count[2] >> 8);
	m->buf[9] = (uint8_t)h.count[2];
	m->buf[10] = (uint8_t)(h.count[3] >> 8);
	m->buf[11] = (uint8_t)h.count[3];
}

/*
 * A validated answer keeps only what the validator judged: the forged
 * NS set and glue are gone, from the first answer and the cache alike,
 * AD or not; the denial records (SOA, NSEC and their RRSIGs) stay.
 */
static void
test_dnssec_unjudged(void)
{
	static struct fake_peer p;
	const struct vv_case *c = vcase("nsec"), *nd = vcase("nsec-nodata"),
	    *u = vcase("unsigned");
	struct msg q, a;
	int k;

	vstart("");
	vforge_extra(&a, c);
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa101, c, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	serve_chain();
	CHECK(got(&p, 0xa101, DNS_RCODE_NOERROR));
	CHECK(AD(&p));
	CHECK_EQ(count_type(&p, 1, DNS_TYPE_A), 1);
	CHECK(count_type(&p, 1, DNS_TYPE_RRSIG) > 0);
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_NS), 0);
	CHECK_EQ(count_type(&p, 3, DNS_TYPE_A), 0);
	CHECK_EQ(count_type(&p, 3, DNS_TYPE_OPT), 1);
	CHECK_EQ(st->dnssec_secure, 1);
	/* From the cache; and without DO but with AD. */
	for (k = 0; k < 2; k++) {
		fake_reset_reqs();
		fake_peer_init(&p, LISTEN_UDP);
		vquery(&q, 0xa102, c, DNS_FLAG_AD, 1, k == 0);
		fake_query(&p, q.buf, q.len);
		if (k == 1)
			fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
		CHECK(got(&p, 0xa102, DNS_RCODE_NOERROR));
		CHECK(AD(&p));
		CHECK_EQ(count_type(&p, 1, DNS_TYPE_A), 1);
		CHECK_EQ(count_type(&p, 1, DNS_TYPE_RRSIG), k == 0 ? 1 : 0);
		CHECK_EQ(count_type(&p, 2, DNS_TYPE_NS), 0);
		CHECK_EQ(count_type(&p, 3, DNS_TYPE_A), 0);
	}
	CHECK_EQ(st->cache_hits, 1);

	/* NODATA: the proof stays, the NS set goes. */
	vforge_extra(&a, nd);
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa103, nd, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	serve_chain();
	CHECK(got(&p, 0xa103, DNS_RCODE_NOERROR));
	CHECK(AD(&p));
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_SOA), 1);
	CHECK(count_type(&p, 2, DNS_TYPE_NSEC) > 0);
	CHECK(count_type(&p, 2, DNS_TYPE_RRSIG) >= 2);
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_NS), 0);
	CHECK_EQ(count_type(&p, 3, DNS_TYPE_A), 0);

	/* Insecure is validated too: no more passes than secure. */
	vforge_extra(&a, u);
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa104, u, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	serve_chain();
	CHECK(got(&p, 0xa104, DNS_RCODE_NOERROR));
	CHECK(!AD(&p));
	CHECK_EQ(count_type(&p, 1, DNS_TYPE_A), 1);
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_NS), 0);
	CHECK_EQ(count_type(&p, 3, DNS_TYPE_A), 0);
	CHECK_EQ(st->dnssec_insecure, 1);

	/* CD: the client judges, and gets the message as it came. */
	vforge_extra(&a, c);
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa105, c, DNS_FLAG_CD, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xa105, DNS_RCODE_NOERROR));
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_NS), 1);
	CHECK_EQ(count_type(&p, 3, DNS_TYPE_A), 1);
	stop();
}

/* The counts of p's answer: question, answer, authority, additional. */
static int
counts_are(const struct fake_peer *p, unsigned qd, unsigned an,
    unsigned ns, unsigned ar)
{
	return p->len >= 12 && rd16(p->answer + 4) == qd &&
	    rd16(p->answer + 6) == an && rd16(p->answer + 8) == ns &&
	    rd16(p->answer + 10) == ar;
}

/*
 * Under validation an upstream error (REFUSED, SERVFAIL, NOTIMP) goes
 * to the client as that rcode alone: the question and our OPT, none of
 * the records a forger put beside it, and never AD; from the cache too.
 * CD: as it came.
 */
static void
test_dnssec_error_rcode(void)
{
	static const int rcodes[] = { DNS_RCODE_REFUSED, DNS_RCODE_NOTIMP,
	    DNS_RCODE_SERVFAIL };
	static struct fake_peer p;
	const struct vv_case *c = vcase("nsec");
	struct msg q, a;
	size_t i;

	vforge_extra(&a, c);
	for (i = 0; i < nitems(rcodes); i++) {
		if (i > 0)
			stop();
		vstart("cache-servfail-ttl 30s\n");
		a.buf[3] = (uint8_t)((a.buf[3] & 0xf0) | rcodes[i]);
		fake_peer_init(&p, LISTEN_UDP);
		vquery(&q, (uint16_t)(0xa201 + i), c, DNS_FLAG_AD, 1, 1);
		fake_query(&p, q.buf, q.len);
		CHECK_EQ(fake.ndoh, 1);
		fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
		CHECK_EQ(chain_live(NULL, 0), 0);
		CHECK(got(&p, (uint16_t)(0xa201 + i), rcodes[i]));
		CHECK(!AD(&p));
		CHECK(counts_are(&p, 1, 0, 0, 1));
		CHECK_EQ(count_type(&p, 3, DNS_TYPE_OPT), 1);
	}
	/* The SERVFAIL was kept (cache-servfail-ttl): the same, bare. */
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa211, c, DNS_FLAG_AD, 1, 1);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 0);
	CHECK(got(&p, 0xa211, DNS_RCODE_SERVFAIL));
	CHECK(counts_are(&p, 1, 0, 0, 1));
	CHECK(!AD(&p));
	CHECK_EQ(st->cache_hits, 1);

	/* CD: the client judges, and gets what came. */
	a.buf[3] = (uint8_t)((a.buf[3] & 0xf0) | DNS_RCODE_REFUSED);
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa212, c, DNS_FLAG_CD, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK(got(&p, 0xa212, DNS_RCODE_REFUSED));
	CHECK_EQ(count_type(&p, 1, DNS_TYPE_A), 1);
	CHECK_EQ(count_type(&p, 2, DNS_TYPE_NS), 1);
	stop();
}

/*
 * The highest TTL in p's answer (the OPT's flags aside); with min, the
 * lowest.
 */
static uint32_t
ttl_bound(const struct fake_peer *p, int min)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint32_t i, n, t = min ? UINT32_MAX : 0;

	dnsmsg_rd_init(&r, p->answer, p->len);
	if (dnsmsg_rd_header(&r, &h) == -1 || dnsmsg_rd_name(&r, NULL,
	    NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		abort();
	n = (uint32_t)h.count[1] + h.count[2] + h.count[3];
	for (i = 0; i < n; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			abort();
		if (rr.type != DNS_TYPE_OPT &&
		    (min ? rr.ttl < t : rr.ttl > t))
			t = rr.ttl;
	}
	return t;
}

/*
 * c's answer with every answer record's TTL set to ttl (the RRSIGs'
 * original TTL fields, which the signatures cover, unchanged), into m;
 * the RRSIG's original TTL into *orig.
 */
static void
vset_ttl(struct msg *m, const struct vv_case *c, uint32_t ttl,
    uint32_t *orig)
{
	struct dnsmsg_rd r, rd;
	struct dns_header h;
	struct dns_rr rr;
	uint16_t covered;
	uint32_t i;
	size_t at;

	m->len = 0;
	putbytes(m, c->msg, c->len);
	dnsmsg_rd_init(&r, m->buf, m->len);
	if (dnsmsg_rd_header(&r, &h) == -1 || dnsmsg_rd_name(&r, NULL,
	    NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		abort();
	*orig = 0;
	for (i = 0; i < h.count[1]; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			abort();
		rd = rr.rdata;
		if (rr.type == DNS_TYPE_RRSIG &&
		    (dnsmsg_rd_u16(&rd, &covered) == -1 ||
		    dnsmsg_rd_skip(&rd, 2) == -1 ||
		    dnsmsg_rd_u32(&rd, orig) == -1))
			abort();
		at = rr.rdata.off - 6;
		m->buf[at] = (uint8_t)(ttl >> 24);
		m->buf[at + 1] = (uint8_t)(ttl >> 16);
		m->buf[at + 2] = (uint8_t)(ttl >> 8);
		m->buf[at + 3] = (uint8_t)ttl;
	}
	if (*orig == 0)
		abort();
}

/*
 * RFC 4035 5.3.3: the TTLs of a validated answer go no higher than its
 * signatures allow (their original TTL, their expiration), to the first
 * client, to one following its query and from the cache alike; the
 * TTLs the upstream raised (a week, outside what is signed) are capped.
 */
static void
test_dnssec_ttl_cap(void)
{
	static struct fake_peer p1, p2;
	const struct vv_case *c = vcase("nsec");
	struct msg q, a;
	uint32_t orig, t;

	vstart("");
	vset_ttl(&a, c, 604800, &orig);
	CHECK(orig < 604800);
	fake_peer_init(&p1, LISTEN_UDP);
	vquery(&q, 0xa301, c, 0, 1, 1);
	fake_query(&p1, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, a.buf, a.len);
	CHECK_EQ(p1.responses, 0);		/* waits on the chain */
	fake_peer_init(&p2, LISTEN_UDP);
	vquery(&q, 0xa302, c, 0, 1, 1);
	fake_query(&p2, q.buf, q.len);		/* follows */
	CHECK_EQ(st->coalesced, 1);
	serve_chain();
	CHECK(got(&p1, 0xa301, DNS_RCODE_NOERROR));
	CHECK(got(&p2, 0xa302, DNS_RCODE_NOERROR));
	CHECK(AD(&p1) && AD(&p2));
	t = ttl_bound(&p1, 0);
	CHECK(t <= orig);
	CHECK(t > 0);
	CHECK_EQ(ttl_bound(&p2, 0), t);
	/* From the cache, ten seconds on: no higher, and aging. */
	clock_step(10000);
	fake_reset_reqs();
	fake_peer_init(&p1, LISTEN_UDP);
	vquery(&q, 0xa303, c, 0, 1, 1);
	fake_query(&p1, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 0);
	CHECK(got(&p1, 0xa303, DNS_RCODE_NOERROR));
	CHECK(ttl_bound(&p1, 0) <= t - 10);
	stop();
}

/*
 * A secure answer served stale (serve-stale) has no AD: past its TTL it
 * is past what was validated (the signatures' ttl capped it).  EDE 3
 * says it is stale.
 */
static void
test_dnssec_stale(void)
{
	static struct fake_peer p;
	const struct vv_case *c = vcase("nsec");
	struct msg q;
	char text[256];
	uint32_t t;

	vstart("serve-stale 1d\n");
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa401, c, DNS_FLAG_AD, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	serve_chain();
	CHECK(got(&p, 0xa401, DNS_RCODE_NOERROR));
	CHECK(AD(&p));
	t = ttl_bound(&p, 1);
	CHECK(t > 0);
	/* Expired, and the upstream fails: stale, without AD. */
	clock_step((uint64_t)t * 1000 + 1000);
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xa402, c, DNS_FLAG_AD, 1, 1);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_ERR_HTTP, NULL, 0);
	if (fake.ndoh == 2)
		fake_doh_reply(&fake.doh[1], DOH_ERR_HTTP, NULL, 0);
	CHECK(got(&p, 0xa402, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), 3);
	CHECK_EQ(count_type(&p, 1, DNS_TYPE_A), 1);
	CHECK(!AD(&p));
	CHECK_EQ(st->stale_answers, 1);
	stop();
}

/*
 * Bogus: SERVFAIL with the validator's EDE and reason, counted by EDE,
 * kept so a second ask sends nothing upstream; never served stale once
 * it ends.  CD from the client: the same answer unchecked.
 */
static void
test_dnssec_bogus(void)
{
	static struct fake_peer p;
	const struct vv_case *c = vcase("changed"), *s = vcase("stripped");
	struct msg q;
	char text[256];

	vstart("serve-stale 1d\n");
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xb001, c, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	serve_chain();
	CHECK(got(&p, 0xb001, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), 6);
	CHECK(text[0] != '\0');
	CHECK(!AD(&p));
	CHECK_EQ(st->dnssec_bogus, 1);
	CHECK_EQ(st->dnssec_bogus_6, 1);

	/* Again: from the cache, nothing upstream. */
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xb002, c, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 0);
	CHECK(got(&p, 0xb002, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), 6);
	CHECK_EQ(st->dnssec_bogus, 2);
	CHECK_EQ(st->dnssec_bogus_6, 2);
	CHECK_EQ(st->cache_hits, 1);

	/* CD: unchecked, the answer as it came, no AD, nothing fetched. */
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xb003, c, DNS_FLAG_CD, 1, 1);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	CHECK_EQ(chain_live(NULL, 0), 0);
	CHECK(got(&p, 0xb003, DNS_RCODE_NOERROR));
	CHECK(!AD(&p));
	CHECK_EQ(count_type(&p, 1, DNS_TYPE_A), 1);
	CHECK_EQ(st->dnssec_unchecked, 1);

	/* Past its minute the bogus entry is a miss, never stale: the
	 * upstream failing now gives SERVFAIL 22, not the old one. */
	clock_step(61000);
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xb004, c, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	fake_doh_reply(&fake.doh[0], DOH_ERR_HTTP, NULL, 0);
	if (fake.ndoh == 2)
		fake_doh_reply(&fake.doh[1], DOH_ERR_HTTP, NULL, 0);
	CHECK(got(&p, 0xb004, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_NO_REACHABLE);
	CHECK_EQ(st->stale_answers, 0);
	CHECK_EQ(st->dnssec_bogus, 2);

	/* RRSIGs stripped: EDE 10. */
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_TCP);
	vquery(&q, 0xb005, s, 0, 1, 0);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, s->msg, s->len);
	serve_chain();
	CHECK(got(&p, 0xb005, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), 10);
	CHECK_EQ(st->dnssec_bogus_10, 1);
	stop();
}

/* An insecure answer by an unsupported algorithm: no AD, EDE 1. */
static void
test_dnssec_insecure(void)
{
	static struct fake_peer p;
	const struct vv_case *c = vcase("rsasha1"), *u = vcase("unsigned");
	struct msg q;
	char text[256];

	vstart("");
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xc101, c, DNS_FLAG_AD, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	serve_chain();
	CHECK(got(&p, 0xc101, DNS_RCODE_NOERROR));
	CHECK(!AD(&p));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), 1);
	CHECK_EQ(st->dnssec_insecure, 1);
	/* From the cache: the same. */
	fake_peer_init(&p, LISTEN_UDP);
	fake_query(&p, q.buf, q.len);
	CHECK(got(&p, 0xc101, DNS_RCODE_NOERROR));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), 1);
	CHECK_EQ(st->dnssec_insecure, 2);

	/* Unsigned: no AD, no EDE. */
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xc102, u, DNS_FLAG_AD, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, u->msg, u->len);
	serve_chain();
	CHECK(got(&p, 0xc102, DNS_RCODE_NOERROR));
	CHECK(!AD(&p));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), -1);
	CHECK_EQ(st->dnssec_insecure, 3);
	stop();
}

/*
 * Two answers needing the same chain: one chain query each record set,
 * both waiting on it; a client asking what a validation is waiting for
 * follows the query, not the chain.
 */
static void
test_dnssec_coalesce(void)
{
	static struct fake_peer p1, p2, p3;
	const struct vv_case *a = vcase("nsec3"), *b = vcase("nsec3-nxdomain");
	struct msg q;
	uint64_t before;

	vstart("");
	fake_peer_init(&p1, LISTEN_UDP);
	vquery(&q, 0xd101, a, 0, 1, 1);
	fake_query(&p1, q.buf, q.len);
	fake_peer_init(&p2, LISTEN_UDP);
	vquery(&q, 0xd102, b, 0, 1, 1);
	fake_query(&p2, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 2);
	fake_doh_reply(&fake.doh[0], DOH_OK, a->msg, a->len);
	fake_doh_reply(&fake.doh[1], DOH_OK, b->msg, b->len);
	/* Both need the root's keys first: asked once. */
	CHECK_EQ(chain_live(".", DNS_TYPE_DNSKEY), 1);
	CHECK_EQ(chain_live(NULL, 0), 1);
	CHECK_EQ(st->dnssec_chain_queries, 1);
	/* A third client of a's key follows a's query in Q_VALIDATE. */
	fake_peer_init(&p3, LISTEN_UDP);
	vquery(&q, 0xd103, a, 0, 1, 1);
	fake_query(&p3, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 3);
	CHECK_EQ(st->coalesced, 1);
	before = st->dnssec_chain_queries;
	serve_chain();
	CHECK(got(&p1, 0xd101, DNS_RCODE_NOERROR));
	CHECK(got(&p2, 0xd102, DNS_RCODE_NXDOMAIN));
	CHECK(got(&p3, 0xd103, DNS_RCODE_NOERROR));
	CHECK(AD(&p1) && AD(&p2) && AD(&p3));
	CHECK_EQ(st->dnssec_secure, 3);
	/* root DNSKEY, test DS, test DNSKEY, nsec3 DS, nsec3 DNSKEY. */
	CHECK_EQ(st->dnssec_chain_queries, before + 4);
	CHECK_EQ(fake.ndoh, 2 + 5);
	CHECK_EQ(st->pending, 0);
	stop();
}

/*
 * A chain query nobody answers: the validation ends in SERVFAIL, EDE 22,
 * at the timeout.  No slot for a chain query: SERVFAIL, EDE 0.
 */
static void
test_dnssec_chain_fail(void)
{
	static struct fake_peer p;
	const struct vv_case *c = vcase("ed25519");
	struct msg q;
	char text[256];

	vstart("");
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xe101, c, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	CHECK_EQ(chain_live(".", DNS_TYPE_DNSKEY), 1);
	/* The answer's timeout starts again when it waits on the chain:
	 * nothing for 1999 ms, the one chain query still the only one
	 * (no second upstream asked meanwhile), then SERVFAIL at 2 s. */
	clock_step(1999);
	CHECK_EQ(p.responses, 0);
	CHECK_EQ(fake.ndoh, 2);
	CHECK_EQ(chain_live(NULL, 0), 1);
	clock_step(1);
	CHECK(got(&p, 0xe101, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_NO_REACHABLE);
	CHECK_EQ(chain_live(NULL, 0), 0);
	run();
	/* Not kept long: 5 s on, the name is asked upstream again. */
	clock_step(5000);
	fake_reset_reqs();
	fake_peer_init(&p, LISTEN_UDP);
	fake_query(&p, q.buf, q.len);
	CHECK_EQ(fake.ndoh, 1);
	CHECK_EQ(p.responses, 0);
	stop();

	vstart("max-pending 1\n");
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xe102, c, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	CHECK(got(&p, 0xe102, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), DNS_EDE_OTHER);
	CHECK_STR(text, "too many queries in flight");
	CHECK_EQ(st->dnssec_chain_queries, 0);
	CHECK_EQ(st->pending, 0);
	stop();
}

/*
 * At most VALIDATOR_MAX_NEEDS chain queries per answer: a reload before
 * each answer gives a new, empty store, so the chain never ends.
 */
static void
test_dnssec_needs_cap(void)
{
	static struct fake_peer p;
	const struct vv_case *c = vcase("nsec");
	struct msg q;
	char text[256];
	int k;

	vstart("");
	fake_peer_init(&p, LISTEN_UDP);
	vquery(&q, 0xf101, c, 0, 1, 1);
	fake_query(&p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, c->msg, c->len);
	for (k = 0; k < VALIDATOR_MAX_NEEDS + 2 && p.responses == 0; k++) {
		CHECK_EQ(chain_live(NULL, 0), 1);
		CHECK_EQ(proxy_reload(px, make_cfg(vv_cfg(""))), 0);
		CHECK_EQ(serve_chain_max(1), 1);
	}
	CHECK_EQ(k, VALIDATOR_MAX_NEEDS);
	CHECK(got(&p, 0xf101, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), 6);
	CHECK_STR(text, "chain too long");
	stop();
}


/*
 * Plain DNS answers are judged too: in plaintext mode the answer and
 * the chain queries go to the fallback servers, and a secure answer
 * gets AD beside its EDE 0; a bogus one is SERVFAIL.
 */
static void
test_dnssec_plain(void)
{
	static struct fake_peer p;
	const struct vv_case *c = vcase("nsec"), *b = vcase("expired");
	struct dns_query_info qi;
	char text[DNS_MAX_NAME_TEXT];
	struct msg q;
	size_t i, k;
	int n, again;

	start(vv_cfg_on("mode plaintext\n" "fallback 192.0.2.53\n"
	    "listen 127.0.0.1:5300\n" "timeout 2s\n", ""));
	clock_test_wall(VV_NOW);
	for (i = 0; i < 2; i++) {
		const struct vv_case *x = i == 0 ? c : b;

		fake_reset_reqs();
		fake_peer_init(&p, LISTEN_UDP);
		vquery(&q, (uint16_t)(0x6101 + i), x, 0, 1, 1);
		fake_query(&p, q.buf, q.len);
		CHECK_EQ(fake.ndoh, 0);
		CHECK_EQ(fake.nplain, 1);
		fake_plain_reply(&fake.plainq[0], 0, x->msg, x->len);
		for (n = 0, again = 1; again; ) {
			again = 0;
			for (k = 0; k < fake.nplain; k++) {
				const struct vv_answer *a = NULL;
				size_t j;

				if (!fake.plainq[k].live ||
				    !req_question(&fake.plainq[k], &qi, text,
				    sizeof(text)))
					continue;
				for (j = 0; j < sizeof(vv_answers) /
				    sizeof(vv_answers[0]); j++)
					if (vv_answers[j].type == qi.qtype &&
					    strcasecmp(vv_answers[j].name,
					    text) == 0)
						a = &vv_answers[j];
				CHECK(a != NULL);
				if (a == NULL)
					break;
				fake_plain_reply(&fake.plainq[k], 0, a->msg,
				    a->len);
				n++;
				again = 1;
			}
		}
		CHECK(i == 1 || n >= 3);
		CHECK_EQ(fake.ndoh, 0);
		if (i == 0) {
			CHECK(got(&p, 0x6101, DNS_RCODE_NOERROR));
			CHECK(AD(&p));
			CHECK_EQ(ede_of(&p, text, sizeof(text)),
			    DNS_EDE_OTHER);
			CHECK_EQ(st->answered_fallback, 1);
		}
	}
	CHECK(got(&p, 0x6102, DNS_RCODE_SERVFAIL));
	CHECK_EQ(ede_of(&p, text, sizeof(text)), 7);
	CHECK_EQ(st->dnssec_secure, 1);
	CHECK_EQ(st->dnssec_bogus_7, 1);
	stop();
}

/*
 * Case x asked by p (id), its chain served; then the store and the cache
 * forget, so that the next one checks the signatures again, a second on.
 */
static void
vask_afresh(struct fake_peer *p, uint16_t id, const struct vv_case *x)
{
	struct msg q;

	fake_reset_reqs();
	fake_peer_init(p, LISTEN_UDP);
	vquery(&q, id, x, 0, 1, 1);
	fake_query(p, q.buf, q.len);
	fake_doh_reply(&fake.doh[0], DOH_OK, x->msg, x->len);
	serve_chain();
	proxy_network_changed(px);
	cache_flush(proxy_cache(px));
	clock_step(1000);
}

/*
 * What is logged, once per 10 minutes: an upstream whose DNSKEY sets
 * come unsigned (it strips DNSSEC data), and a clock that makes many
 * signatures look not yet valid.
 */
static void
test_dnssec_logs(void)
{
	static struct fake_peer p;
	static char logged[8192];
	const struct vv_case *c = vcase("nsec"), *d = vcase("ed25519");
	uint8_t stripped[2048];
	struct dns_query_info qi;
	char text[DNS_MAX_NAME_TEXT];
	struct msg q;
	size_t i, k, n;
	int round;

	vstart("");
	capture_begin();
	for (round = 0; round < 2; round++) {
		fake_reset_reqs();
		fake_peer_init(&p, LISTEN_UDP);
		vquery(&q, 0x5101, round == 0 ? c : d, 0, 1, 1);
		fake_query(&p, q.buf, q.len);
		fake_doh_reply(&fake.doh[0], DOH_OK, round == 0 ? c->msg :
		    d->msg, round == 0 ? c->len : d->len);
		/* The root's DNSKEY set comes without its RRSIG. */
		CHECK(req_question(&fake.doh[1], &qi, text, sizeof(text)));
		for (k = 0; k < sizeof(vv_answers) / sizeof(vv_answers[0]);
		    k++)
			if (vv_answers[k].type == DNS_TYPE_DNSKEY &&
			    strcmp(vv_answers[k].name, ".") == 0)
				break;
		n = dnsmsg_strip_dnssec(vv_answers[k].msg, vv_answers[k].len,
		    stripped, sizeof(stripped), DNS_TYPE_DNSKEY);
		CHECK(n > 0 && n < vv_answers[k].len);
		fake_doh_reply(&fake.doh[1], DOH_OK, stripped, n);
		CHECK(got(&p, 0x5101, DNS_RCODE_SERVFAIL));
		CHECK_EQ(ede_of(&p, text, sizeof(text)), 10);
		proxy_network_changed(px);	/* the store forgets */
	}
	capture_end(logged, sizeof(logged));
	CHECK_EQ(occurs(logged, "the upstream https://192.0.2.1/dns-query "
	    "strips DNSSEC data"), 1);
	stop();

	/* The wall clock in 2100: every signature expired (the lab's end
	 * in 2099). */
	vstart("");
	clock_test_wall(4102444800u + 86400);
	capture_begin();
	for (i = 0; i < 24; i++) {
		vask_afresh(&p, (uint16_t)(0x5200 + i), i % 2 ? c : d);
		CHECK(got(&p, (uint16_t)(0x5200 + i), DNS_RCODE_SERVFAIL));
	}
	capture_end(logged, sizeof(logged));
	CHECK_EQ(occurs(logged, "many DNSSEC signatures look expired or not "
	    "yet valid: is the system clock right? (now 2100-01-02T"), 1);
	/* 2100 is more than 2^31 s past the inception: serial arithmetic
	 * (RFC 4034 3.1.5) makes that "not yet valid". */
	CHECK_EQ(st->dnssec_bogus_7 + st->dnssec_bogus_8, 24);
	stop();
}

/*
 * A clock behind, as a machine without a real-time clock starts: the
 * root's zone signed after it, so the clock is taken as behind and the
 * answers are secure from the first, which is what NTP needs to find
 * its servers; said once.  A signature made after that by another zone
 * (the not-yet-valid case's, made tomorrow) passes, but does not move
 * the time: when the clock is set, all is as before.
 */
static void
test_dnssec_clock_behind(void)
{
	static struct fake_peer p;
	static char logged[8192];
	const struct vv_case *c = vcase("nsec"), *d = vcase("ed25519");
	int i;

	vstart("");
	clock_test_wall(1546300800u);	/* 2019: the lab signs from 2020 */
	capture_begin();
	for (i = 0; i < 4; i++) {
		const struct vv_case *x = i == 2 ? vcase("not-yet-valid") :
		    i % 2 ? c : d;
		uint16_t id = (uint16_t)(0x5300 + i);

		if (i == 3)
			clock_test_wall(VV_NOW);	/* NTP sets it */
		vask_afresh(&p, id, x);
		CHECK(got(&p, id, DNS_RCODE_NOERROR));
		CHECK(AD(&p));
		CHECK_EQ(st->dnssec_clock_behind, i < 3);
		if (i == 0)
			CHECK(st->dnssec_early_sigs >= 3);
		if (i == 2) {
			capture_end(logged, sizeof(logged));
			CHECK_EQ(occurs(logged, "DNSSEC: the trust anchor's "
			    "zone signed at 2020-01-01T00:00:00Z, after the "
			    "system clock (now 2019-01-01T00:0"), 1);
			capture_begin();
		}
	}
	capture_end(logged, sizeof(logged));
	CHECK_EQ(occurs(logged, "has caught up with the trust anchor's "
	    "signatures"), 1);
	CHECK_EQ(st->dnssec_secure, 4);
	CHECK_EQ(st->dnssec_bogus, 0);
	stop();
}

int
main(void)
{
	log_init("test_proxy", getenv("TEST_DEBUG") != NULL ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, 0);
	if ((base = event_base_new()) == NULL)
		return 1;
	test_doh_answer();
	test_bad_queries();
	test_encrypted_only();
	test_settled();
	test_hedge();
	test_encrypted_preferred();
	test_fallback_and_back();
	test_plaintext();
	test_network_changed();
	test_resume_tick();
	test_resume_cache();
	test_resume_live_timers();
	test_max_pending();
	test_reload();
	test_built_query_ede();
	test_dnssec_off();
	test_no_malloc();
	test_cache();
	test_badvers();
	test_coalesce();
	test_stale_prefetch();
	test_acl();
	test_local();
	test_forward();
	test_forward_cache();
	test_forward_plaintext();
	test_per_client();
	test_ratelimit();
	test_stats_outputs();
	test_one_way_out();
	test_prefetch_follower();
	test_address_servers();
	test_plain_to_same_address();
	test_portal_ask();
	test_portal_idle();
	test_portal_off();
	test_portal_auto();
	test_portal_address_servers();
	test_portal_reload();
	test_dnssec_secure();
	test_dnssec_unjudged();
	test_dnssec_error_rcode();
	test_dnssec_ttl_cap();
	test_dnssec_stale();
	test_dnssec_bogus();
	test_dnssec_insecure();
	test_dnssec_coalesce();
	test_dnssec_chain_fail();
	test_dnssec_needs_cap();
	test_dnssec_logs();
	test_dnssec_clock_behind();
	test_dnssec_plain();
	if (vv_anchor_path[0] != '\0')
		unlink(vv_anchor_path);
	event_base_free(base);
	return check_summary();
}
