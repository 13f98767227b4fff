/*
 * upstream with real doh clients on loopback: an IP URL where nothing
 * listens (connect refused), a pinned name and a bootstrapped name whose
 * addresses lead to a listener that never answers the TLS handshake (the
 * client stays connecting), and a scripted bootstrap DNS server that
 * counts what it is asked.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dohstub/clock.h"
#include "dohstub/config.h"
#include "dohstub/doh.h"
#include "dohstub/plain.h"
#include "dohstub/tls.h"
#include "dohstub/upstream.h"

#include "check.h"
#include "wire.h"

#define T_A	1

static struct event_base *base;

/* --- a bootstrap DNS server: boot.test A 127.0.0.1, else NXDOMAIN --- */

struct dns {
	int		 fd;
	uint16_t	 port;
	struct event	*ev;
	int		 fail;		/* NXDOMAIN for everything */
	int		 nboot;		/* queries for boot.test */
	int		 nother;	/* queries for anything else */
};

static void
dns_cb(evutil_socket_t fd, short what, void *arg)
{
	static const uint8_t boot[] = "\004boot\004test";
	struct dns *d = arg;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	uint8_t m[512];
	ssize_t r;
	size_t off = 12, n;
	int is_boot;

	(void)what;
	r = recvfrom(fd, m, sizeof(m) - 16, 0, (struct sockaddr *)&from,
	    &fromlen);
	if (r < 12)
		return;
	while (off < (size_t)r && m[off] != 0 && !(m[off] & 0xc0))
		off += m[off] + 1;
	if (off + 5 > (size_t)r)
		return;
	n = off + 5;
	is_boot = off - 12 == sizeof(boot) - 1 &&
	    strncasecmp((char *)m + 12, (const char *)boot, off - 12) == 0;
	if (is_boot)
		d->nboot++;
	else
		d->nother++;
	m[2] = 0x80 | (m[2] & 0x01);
	m[3] = 0x80;
	wr16(m + 6, 0);
	wr16(m + 8, 0);
	wr16(m + 10, 0);
	if (!is_boot || d->fail)
		m[3] |= 3;
	else if (rd16(m + off + 1) == T_A) {
		wr16(m + 6, 1);
		m[n++] = 0xc0;
		m[n++] = 0x0c;
		wr16(m + n, T_A);
		wr16(m + n + 2, 1);
		wr16(m + n + 4, 0);
		wr16(m + n + 6, 300);
		wr16(m + n + 8, 4);
		m[n + 10] = 127;
		m[n + 11] = 0;
		m[n + 12] = 0;
		m[n + 13] = 1;
		n += 14;
	}
	sendto(fd, m, n, 0, (struct sockaddr *)&from, fromlen);
}

static uint16_t
bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		abort();
	return ntohs(sin.sin_port);
}

static int
loopback_socket(int type)
{
	struct sockaddr_in sin;
	int fd;

	if ((fd = socket(AF_INET, type, 0)) == -1)
		abort();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		abort();
	return fd;
}

static void
dns_start(struct dns *d)
{
	memset(d, 0, sizeof(*d));
	d->fd = loopback_socket(SOCK_DGRAM);
	d->port = bound_port(d->fd);
	evutil_make_socket_nonblocking(d->fd);
	if ((d->ev = event_new(base, d->fd, EV_READ | EV_PERSIST, dns_cb,
	    d)) == NULL)
		abort();
	event_add(d->ev, NULL);
}

static void
dns_stop(struct dns *d)
{
	event_free(d->ev);
	close(d->fd);
}

static struct addr
loopback_addr(uint16_t port)
{
	struct addr a;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

	memset(&a, 0, sizeof(a));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.len = sizeof(*sin);
	return a;
}

/* --- configuration by hand, as config_finalize() would leave it --- */

static void
add_upstream(struct config *cfg, const char *host, uint16_t port, int is_ip)
{
	struct config_upstream *cu = &cfg->upstream[cfg->nupstream++];
	char url[256];

	snprintf(url, sizeof(url), "https://%s:%u/dns-query", host, port);
	cu->url = strdup(url);
	cu->host = strdup(host);
	cu->path = strdup("/dns-query");
	cu->port = port;
	cu->host_is_ip = is_ip;
}

static void
add_pin(struct config *cfg, const char *host, uint16_t port,
    uint16_t to_port)
{
	struct config_resolve *r = &cfg->resolve[cfg->nresolve++];

	r->host = strdup(host);
	r->port = port;
	r->addrs[0] = loopback_addr(to_port);
	r->naddrs = 1;
}

static void
cfg_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = MODE_ENCRYPTED_ONLY;
	cfg->method = METHOD_POST;
	/* Long enough that the silent listener never times a client out. */
	cfg->timeout_ms = 10000;
	cfg->keepalive_ms = 0;
}

static void
cfg_clear(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nupstream; i++) {
		free(cfg->upstream[i].url);
		free(cfg->upstream[i].host);
		free(cfg->upstream[i].path);
	}
	for (i = 0; i < cfg->nresolve; i++)
		free(cfg->resolve[i].host);
	memset(cfg, 0, sizeof(*cfg));
}

/* --- driving the loop ------------------------------------------------ */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void
run_for(unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *t;

	if ((t = evtimer_new(base, tick_cb, NULL)) == NULL)
		abort();
	evtimer_add(t, &tv);
	while (evtimer_pending(t, NULL))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}

/* Run until pred(u) holds or max_ms passed; returns pred(u). */
static int
run_until(int (*pred)(const struct upstreams *), const struct upstreams *u,
    unsigned max_ms)
{
	uint64_t end = clock_ms() + max_ms;

	while (!pred(u) && clock_ms() < end)
		run_for(10);
	return pred(u);
}

static enum doh_state
state(const struct upstreams *u, size_t i)
{
	return doh_get_state(upstream_get(u, i));
}

struct health {
	int	calls;
	int	last;
};

static void
health_cb(int usable, void *arg)
{
	struct health *h = arg;

	h->calls++;
	h->last = usable;
}

/* --- tests ----------------------------------------------------------- */

static int
three_settled(const struct upstreams *u)
{
	return state(u, 0) == DOH_BACKOFF && state(u, 1) == DOH_CONNECTING &&
	    state(u, 2) == DOH_CONNECTING;
}

/* IP URL (refused), pinned name and bootstrapped name (connecting). */
static void
test_three(SSL_CTX *ctx)
{
	struct config cfg;
	struct dns d;
	struct addr dnsaddr;
	struct plain *boot;
	struct upstreams *u;
	struct health h = { 0, -1 };
	int refused, listener;
	uint16_t rport, lport;

	refused = loopback_socket(SOCK_STREAM);	/* bound, not listening */
	rport = bound_port(refused);
	listener = loopback_socket(SOCK_STREAM);
	if (listen(listener, 16) == -1)
		abort();
	lport = bound_port(listener);
	dns_start(&d);
	dnsaddr = loopback_addr(d.port);
	boot = plain_new(base, &dnsaddr, 1, 500, PLAIN_ROLE_BOOTSTRAP);
	CHECK(boot != NULL);

	cfg_init(&cfg);
	add_upstream(&cfg, "127.0.0.1", rport, 1);
	add_upstream(&cfg, "pinned.test", lport, 0);
	add_pin(&cfg, "pinned.test", lport, lport);
	add_upstream(&cfg, "boot.test", lport, 0);

	u = upstream_new(base, &cfg, ctx, boot, health_cb, &h);
	CHECK(u != NULL);
	if (u == NULL)
		goto out;
	CHECK_EQ(upstream_count(u), 3);
	CHECK(upstream_get(u, 2) != NULL);
	CHECK(upstream_get(u, 3) == NULL);
	CHECK_EQ(state(u, 0), DOH_NOADDR);
	CHECK_EQ(state(u, 2), DOH_NOADDR);
	CHECK_EQ(plain_sent(boot), 0);

	upstream_start(u);
	/* One lookup, for the one name neither an IP nor pinned. */
	CHECK_EQ(plain_sent(boot), 1);
	CHECK_EQ(state(u, 2), DOH_NOADDR);
	CHECK(run_until(three_settled, u, 5000));
	CHECK_EQ(state(u, 0), DOH_BACKOFF);
	CHECK_EQ(state(u, 1), DOH_CONNECTING);
	CHECK_EQ(state(u, 2), DOH_CONNECTING);

	/* Selection skips the one backing off. */
	CHECK_EQ(upstream_next(u, 0), 1);
	CHECK_EQ(upstream_next(u, 1), 1);
	CHECK_EQ(upstream_next(u, 2), 2);
	CHECK_EQ(upstream_next(u, 3), -1);
	CHECK_EQ(upstream_usable(u), 1);

	/* What crossed the wire: A and AAAA for boot.test only. */
	CHECK_EQ(plain_sent(boot), 1);
	CHECK_EQ(d.nboot, 2);
	CHECK_EQ(d.nother, 0);
	/* Never all unusable, so never reported. */
	CHECK_EQ(h.calls, 0);

	/* A network change looks the bootstrapped name up again, once
	 * however many changes come at once; IPs and pins are not. */
	upstream_network_changed(u);
	upstream_network_changed(u);
	CHECK_EQ(plain_sent(boot), 2);
	run_for(200);
	CHECK_EQ(d.nboot, 4);
	upstream_network_changed(u);
	CHECK_EQ(plain_sent(boot), 2);	/* not again within a second */
	CHECK_EQ(d.nother, 0);
	CHECK_EQ(state(u, 2), DOH_CONNECTING);	/* a live attempt stays */
	upstream_free(u);
out:
	plain_free(boot);
	cfg_clear(&cfg);
	dns_stop(&d);
	close(refused);
	close(listener);
}

/* Pinned and IP upstreams need no bootstrap channel at all. */
static void
test_no_bootstrap(SSL_CTX *ctx)
{
	struct config cfg;
	struct upstreams *u;
	int listener;
	uint16_t lport;

	listener = loopback_socket(SOCK_STREAM);
	if (listen(listener, 16) == -1)
		abort();
	lport = bound_port(listener);
	cfg_init(&cfg);
	add_upstream(&cfg, "127.0.0.1", lport, 1);
	add_upstream(&cfg, "pinned.test", lport, 0);
	add_pin(&cfg, "PINNED.test", lport, lport);
	u = upstream_new(base, &cfg, ctx, NULL, NULL, NULL);
	CHECK(u != NULL);
	if (u != NULL) {
		upstream_start(u);
		run_for(100);
		CHECK_EQ(state(u, 0), DOH_CONNECTING);
		CHECK_EQ(state(u, 1), DOH_CONNECTING);
		CHECK_EQ(upstream_next(u, 0), 0);
		upstream_free(u);
	}
	cfg_clear(&cfg);
	close(listener);
}

/*
 * Selection on a set that never connects (all in DOH_NOADDR, none
 * measured): the order of each policy, the tried mask, failures in a
 * row under fastest, and the hedge delay's rules.
 */
static void
test_pick(SSL_CTX *ctx)
{
	struct config cfg;
	struct upstreams *u;

	cfg_init(&cfg);
	add_upstream(&cfg, "192.0.2.1", 443, 1);
	add_upstream(&cfg, "192.0.2.2", 443, 1);
	add_upstream(&cfg, "192.0.2.3", 443, 1);
	cfg.timeout_ms = 2000;

	cfg.upstream_policy = POLICY_ORDERED;
	if ((u = upstream_new(base, &cfg, ctx, NULL, NULL, NULL)) == NULL) {
		CHECK(!"upstream_new");
		cfg_clear(&cfg);
		return;
	}
	CHECK_EQ(upstream_pick(u, 0), 0);
	CHECK_EQ(upstream_pick(u, 0), 0);
	CHECK_EQ(upstream_pick(u, 1), 1);
	CHECK_EQ(upstream_pick(u, 1 | 2), 2);
	CHECK_EQ(upstream_pick(u, 1 | 2 | 4), -1);
	/* hedge-delay 0: never. */
	CHECK_EQ(upstream_hedge_delay(u, 0), 0);
	upstream_free(u);

	cfg.upstream_policy = POLICY_ROUND_ROBIN;
	cfg.hedge_delay_ms = 75;
	u = upstream_new(base, &cfg, ctx, NULL, NULL, NULL);
	CHECK_EQ(upstream_pick(u, 0), 0);
	CHECK_EQ(upstream_pick(u, 0), 1);
	CHECK_EQ(upstream_pick(u, 2), 2);	/* a retry moves nothing */
	CHECK_EQ(upstream_pick(u, 0), 2);
	CHECK_EQ(upstream_pick(u, 0), 0);
	CHECK_EQ(upstream_hedge_delay(u, 1), 75);
	upstream_free(u);

	/* fastest, none measured: in order; a failure in a row ranks one
	 * a timeout lower until it answers again. */
	cfg.upstream_policy = POLICY_FASTEST;
	cfg.hedge_delay_ms = CONFIG_HEDGE_AUTO;
	u = upstream_new(base, &cfg, ctx, NULL, NULL, NULL);
	CHECK_EQ(upstream_pick(u, 0), 0);
	upstream_result(u, 0, 0);
	CHECK_EQ(upstream_pick(u, 0), 1);
	upstream_result(u, 1, 0);
	upstream_result(u, 1, 0);
	CHECK_EQ(upstream_pick(u, 0), 2);
	upstream_result(u, 2, 0);
	CHECK_EQ(upstream_pick(u, 0), 0);	/* 0 and 2 failed once */
	upstream_result(u, 1, 1);
	CHECK_EQ(upstream_pick(u, 0), 1);
	/* auto: 3 x srtt, at least 10 ms (none measured yet). */
	CHECK_EQ(upstream_hedge_delay(u, 0), 10);
	upstream_free(u);

	/* One upstream: no hedge, whatever the setting. */
	cfg_clear(&cfg);
	cfg_init(&cfg);
	add_upstream(&cfg, "192.0.2.1", 443, 1);
	cfg.hedge_delay_ms = 75;
	u = upstream_new(base, &cfg, ctx, NULL, NULL, NULL);
	CHECK_EQ(upstream_hedge_delay(u, 0), 0);
	CHECK_EQ(upstream_pick(u, 1), -1);
	upstream_free(u);
	cfg_clear(&cfg);
}

static struct health *watched;

static int
health_reported(const struct upstreams *u)
{
	(void)u;
	return watched->calls > 0;
}

static int
health_back(const struct upstreams *u)
{
	(void)u;
	return watched->calls > 1;
}

/* A failed bootstrap backs the client off, is retried, then recovers. */
static void
test_bootstrap_retry(SSL_CTX *ctx)
{
	struct config cfg;
	struct dns d;
	struct addr dnsaddr;
	struct plain *boot;
	struct upstreams *u;
	struct health h = { 0, -1 };
	int listener;
	uint16_t lport;
	uint64_t t0;

	listener = loopback_socket(SOCK_STREAM);
	if (listen(listener, 16) == -1)
		abort();
	lport = bound_port(listener);
	dns_start(&d);
	d.fail = 1;
	dnsaddr = loopback_addr(d.port);
	boot = plain_new(base, &dnsaddr, 1, 500, PLAIN_ROLE_BOOTSTRAP);
	CHECK(boot != NULL);
	cfg_init(&cfg);
	add_upstream(&cfg, "boot.test", lport, 0);
	watched = &h;

	u = upstream_new(base, &cfg, ctx, boot, health_cb, &h);
	CHECK(u != NULL);
	if (u == NULL)
		goto out;
	upstream_start(u);
	CHECK(run_until(health_reported, u, 3000));
	CHECK_EQ(h.calls, 1);
	CHECK_EQ(h.last, 0);
	CHECK_EQ(state(u, 0), DOH_BACKOFF);
	CHECK_EQ(upstream_usable(u), 0);
	CHECK_EQ(upstream_next(u, 0), -1);
	CHECK_EQ(plain_sent(boot), 1);

	/* The retry comes about a second later and succeeds. */
	d.fail = 0;
	t0 = clock_ms();
	CHECK(run_until(health_back, u, 4000));
	CHECK(clock_ms() - t0 >= 800);
	CHECK_EQ(h.calls, 2);
	CHECK_EQ(h.last, 1);
	CHECK_EQ(plain_sent(boot), 2);
	CHECK(state(u, 0) != DOH_BACKOFF);
	CHECK_EQ(upstream_next(u, 0), 0);
	CHECK_EQ(d.nother, 0);
	upstream_free(u);
out:
	plain_free(boot);
	cfg_clear(&cfg);
	dns_stop(&d);
	close(listener);
}

/*
 * Run the loop (real I/O) until p has sent want lookups, or max_ms: the
 * count moves inside clock_step(), when a lookup is sent, so a short
 * wait is enough to show none was.
 */
static uint64_t
spin_until(struct plain *p, uint64_t want, unsigned max_ms)
{
	unsigned i;

	for (i = 0; i < max_ms / 10 && plain_sent(p) < want; i++)
		run_for(10);
	run_for(20);		/* and the answer is in */
	return plain_sent(p);
}

/*
 * The bootstrap TTL (300 s) ages in sleep too, on virtual time with the
 * real plain module and the scripted server: 200 s slept leave 100 s;
 * 2 h slept, the name is looked up again once the resume is seen, and
 * the connection's own timers (live time: the 10 s handshake timeout)
 * have not moved.  The next TTL, less 250 s slept, runs out 50 s of live
 * time later.  Last: the process stays on virtual time.
 */
static void
test_bootstrap_sleep(SSL_CTX *ctx)
{
	struct config cfg;
	struct dns d;
	struct addr dnsaddr;
	struct plain *boot;
	struct upstreams *u;
	int listener;
	uint16_t lport;

	clock_test_begin(1000000);
	listener = loopback_socket(SOCK_STREAM);
	if (listen(listener, 16) == -1)
		abort();
	lport = bound_port(listener);
	dns_start(&d);
	dnsaddr = loopback_addr(d.port);
	boot = plain_new(base, &dnsaddr, 1, 500, PLAIN_ROLE_BOOTSTRAP);
	CHECK(boot != NULL);
	cfg_init(&cfg);
	add_upstream(&cfg, "boot.test", lport, 0);
	u = upstream_new(base, &cfg, ctx, boot, NULL, NULL);
	CHECK(u != NULL);
	if (u == NULL || boot == NULL)
		goto out;
	upstream_start(u);
	CHECK_EQ(spin_until(boot, 1, 2000), 1);
	CHECK_EQ(state(u, 0), DOH_CONNECTING);

	clock_test_sleep(200 * 1000);
	CHECK_EQ(clock_resumed(), 200 * 1000);
	clock_step(0);
	CHECK_EQ(spin_until(boot, 2, 100), 1);

	clock_test_sleep(2 * 3600 * 1000);
	clock_step(0);
	CHECK_EQ(spin_until(boot, 2, 100), 1);	/* not before it is seen */
	CHECK(clock_resumed() != 0);
	clock_step(0);
	CHECK_EQ(spin_until(boot, 2, 2000), 2);
	CHECK_EQ(state(u, 0), DOH_CONNECTING);

	clock_test_sleep(250 * 1000);
	CHECK(clock_resumed() != 0);
	clock_step(49 * 1000);
	CHECK_EQ(spin_until(boot, 3, 100), 2);
	clock_step(1000);
	CHECK_EQ(spin_until(boot, 3, 2000), 3);
	CHECK_EQ(d.nother, 0);
	upstream_free(u);
out:
	plain_free(boot);
	cfg_clear(&cfg);
	dns_stop(&d);
	close(listener);
}

int
main(void)
{
	char err[256];
	struct tls_opts opts;
	SSL_CTX *ctx;

	if ((base = event_base_new()) == NULL)
		return 1;
	memset(&opts, 0, sizeof(opts));
	opts.min_version = TLS1_3_VERSION;
	if ((ctx = tls_ctx_new(&opts, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tls_ctx_new: %s\n", err);
		return 1;
	}
	test_three(ctx);
	test_no_bootstrap(ctx);
	test_pick(ctx);
	test_bootstrap_retry(ctx);
	test_bootstrap_sleep(ctx);
	SSL_CTX_free(ctx);
	event_base_free(base);
	return check_summary();
}
