/*
 * The fakes of fake.h.  They define the symbols proxy.c needs from
 * listen, tls, upstream, doh and plain, so the library's own objects for
 * those are never linked into test_proxy.  A request handle is the
 * fake_req that records it.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "dohstub/clock.h"
#include "dohstub/tls.h"

#include "fake.h"

struct fake fake;

/* The listener never does anything by itself: fake_query() is its socket. */
struct listener {
	int	unused;
};
static struct listener fake_listener;

static void
fake_die(const char *what)
{
	fprintf(stderr, "fake: %s\n", what);
	abort();
}

void
fake_reset_reqs(void)
{
	size_t i;

	for (i = 0; i < fake.ndoh; i++)
		if (fake.doh[i].live)
			fake_die("reset with a DoH request alive");
	for (i = 0; i < fake.nplain; i++)
		if (fake.plainq[i].live)
			fake_die("reset with a plain request alive");
	memset(fake.doh, 0, sizeof(fake.doh));
	memset(fake.plainq, 0, sizeof(fake.plainq));
	fake.ndoh = fake.nplain = 0;
}

/* --- listen ----------------------------------------------------------- */

const char *const listen_transport_names[] = { "udp", "tcp" };

static void
peer_respond(struct listen_peer *lp, const uint8_t *msg, size_t len)
{
	struct fake_peer *p = (struct fake_peer *)lp;

	if (p->releases > 0)
		fake_die("respond after release");
	if (len > sizeof(p->answer))
		fake_die("answer too long to record");
	memcpy(p->answer, msg, len);
	p->len = len;
	p->responses++;
}

static void
peer_release(struct listen_peer *lp)
{
	struct fake_peer *p = (struct fake_peer *)lp;

	p->releases++;
}

static const struct listen_peer_ops fake_peer_ops = {
	peer_respond, peer_release,
};

void
fake_peer_init(struct fake_peer *p, enum listen_transport t)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->peer.addr;

	memset(p, 0, sizeof(*p));
	p->peer.ops = &fake_peer_ops;
	p->peer.transport = t;
	/* A client on loopback, which the default access control admits. */
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->peer.addrlen = sizeof(*sin);
}

void
fake_peer_from(struct fake_peer *p, const char *ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->peer.addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&p->peer.addr;

	memset(&p->peer.addr, 0, sizeof(p->peer.addr));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		p->peer.addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		p->peer.addrlen = sizeof(*sin6);
	} else
		fake_die("fake_peer_from: not an address");
}

void
fake_query(struct fake_peer *p, const uint8_t *msg, size_t len)
{
	if (fake.query_cb == NULL)
		fake_die("no listener");
	fake.query_cb(&p->peer, msg, len, fake.query_arg);
}

struct listener *
listen_new(struct event_base *base, const struct config *cfg,
    listen_query_cb *cb, void *arg)
{
	(void)base;
	fake.query_cb = cb;
	fake.query_arg = arg;
	fake.listen_cfg = cfg;
	fake.listeners++;
	return &fake_listener;
}

int
listen_update(struct listener *l, const struct config *cfg)
{
	(void)l;
	if (fake.listen_update_fail) {
		fake.listen_update_fail = 0;
		return -1;
	}
	fake.listen_cfg = cfg;
	return 0;
}

size_t
listen_tcp_clients(const struct listener *l)
{
	(void)l;
	return 0;
}

const struct listen_stats *
listen_stats(const struct listener *l)
{
	static const struct listen_stats none;

	(void)l;
	return &none;
}

void
listen_free(struct listener *l)
{
	if (l == NULL)
		return;
	fake.query_cb = NULL;
	fake.listeners--;
}

/* --- tls: a real context, as nothing will handshake with it ----------- */

SSL_CTX *
tls_ctx_new(const struct tls_opts *opts, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	(void)opts;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		snprintf(err, errlen, "SSL_CTX_new failed");
	else
		fake.tls_ctxs++;
	return ctx;
}

/* --- upstream --------------------------------------------------------- */

struct upstreams *
upstream_new(struct event_base *base, const struct config *cfg,
    SSL_CTX *ctx, struct plain *bootstrap, upstream_health_cb *cb,
    void *arg)
{
	return upstream_new_opts(base, cfg, ctx, bootstrap, NULL, cb, arg);
}

struct upstreams *
upstream_new_opts(struct event_base *base, const struct config *cfg,
    SSL_CTX *ctx, struct plain *bootstrap, const struct upstream_opts *opts,
    upstream_health_cb *cb, void *arg)
{
	struct upstreams *u;
	size_t i;
	int rule = 0;

	(void)base;
	if (ctx == NULL)
		fake_die("a DoH set without a TLS context");
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->gen = ++fake.upstream_made;
	u->cfg = cfg;
	u->bootstrap = bootstrap;
	u->cb = cb;
	u->arg = arg;
	u->n = cfg->nupstream;
	if (opts != NULL && opts->list != NULL) {
		u->list = opts->list;
		u->n = opts->nlist;
	}
	if (u->n > CONFIG_MAX_UPSTREAM)
		fake_die("too many upstreams");
	/* The default set's list is the upside's own: a rule's is its. */
	for (i = 0; u->list != NULL && i < cfg->nforward; i++)
		if (u->list == cfg->forward[i].upstream)
			rule = 1;
	for (i = 0; i < u->n; i++) {
		u->client[i].set = u;
		u->client[i].index = i;
		u->client[i].state = DOH_READY;
		snprintf(u->client[i].name, sizeof(u->client[i].name),
		    "up%d.%zu", u->gen, i);
	}
	fake.upstream_sets++;
	if (rule)
		fake.forward_upstreams = u;
	else
		fake.upstreams = u;
	return u;
}

void
upstream_start(struct upstreams *u)
{
	u->started++;
}

void
upstream_network_changed(struct upstreams *u)
{
	u->network_changes++;
}

size_t
upstream_count(const struct upstreams *u)
{
	return u->n;
}

struct doh_client *
upstream_get(const struct upstreams *u, size_t i)
{
	if (i >= u->n)
		fake_die("upstream_get out of range");
	return (struct doh_client *)&u->client[i];
}

int
upstream_next(const struct upstreams *u, size_t from)
{
	size_t i;

	for (i = from; i < u->n; i++)
		if (u->client[i].state != DOH_BACKOFF)
			return (int)i;
	return -1;
}

int
upstream_usable(const struct upstreams *u)
{
	return upstream_next(u, 0) != -1;
}

/* ordered, whatever the policy: the tests say which upstream answers. */
int
upstream_pick(struct upstreams *u, uint32_t tried)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		if ((tried & (1u << i)) == 0 &&
		    u->client[i].state != DOH_BACKOFF)
			return (int)i;
	return -1;
}

void
upstream_explore(struct upstreams *u, int best, const uint8_t *msg,
    size_t len)
{
	(void)u;
	(void)best;
	(void)msg;
	(void)len;
}

void
upstream_result(struct upstreams *u, size_t i, int ok)
{
	(void)u;
	(void)i;
	(void)ok;
}

unsigned
upstream_hedge_delay(const struct upstreams *u, size_t i)
{
	(void)i;
	return u->n > 1 ? fake.hedge_delay_ms : 0;
}

void
upstream_hedged(struct upstreams *u, size_t i, int won)
{
	(void)u;
	(void)i;
	if (won)
		fake.hedge_wins++;
	else
		fake.hedges++;
}

void
upstream_info(const struct upstreams *u, size_t i, struct upstream_info *in)
{
	(void)u;
	(void)i;
	memset(in, 0, sizeof(*in));
}

/* As the real one: pending requests end with DOH_ERR_SHUTDOWN. */
void
upstream_free(struct upstreams *u)
{
	size_t i;

	if (u == NULL)
		return;
	for (i = 0; i < fake.ndoh; i++)
		if (fake.doh[i].live && fake.doh[i].client->set == u)
			fake_doh_reply(&fake.doh[i], DOH_ERR_SHUTDOWN, NULL, 0);
	fake.upstream_sets--;
	fake.upstream_freed_gen = u->gen;
	if (fake.upstreams == u)
		fake.upstreams = NULL;
	if (fake.forward_upstreams == u)
		fake.forward_upstreams = NULL;
	free(u);
}

void
fake_doh_set_state(struct upstreams *u, size_t i, enum doh_state state)
{
	struct doh_client *c = &u->client[i];
	struct doh_conn_info info;
	int before = upstream_usable(u), after;

	/* As doh.c: told of the connection before it counts as ready. */
	if (state == DOH_READY && c->state != DOH_READY &&
	    c->connected_cb != NULL) {
		memset(&info, 0, sizeof(info));
		c->connected_cb(c, &info, c->connected_arg);
	}
	c->state = state;
	after = upstream_usable(u);
	if (before != after && u->cb != NULL)
		u->cb(after, u->arg);
}

/* --- doh -------------------------------------------------------------- */

const char *const doh_state_names[] = {
	"noaddr", "idle", "connecting", "ready", "backoff",
};

const char *const doh_result_names[] = {
	"ok", "connect", "tls", "http-status", "content-type", "body",
	"reset", "protocol", "timeout", "shutdown",
};

static struct fake_req *
fake_req_new(struct fake_req *reqs, size_t *n, const uint8_t *msg,
    size_t len)
{
	struct fake_req *r;

	if (*n >= FAKE_MAX_REQS)
		fake_die("too many requests: fake_reset_reqs() more often");
	if (len > FAKE_MAX_MSG)
		fake_die("request too long to record");
	r = &reqs[(*n)++];
	memset(r, 0, sizeof(*r));
	r->live = 1;
	memcpy(r->msg, msg, len);
	r->len = len;
	r->submit_ms = clock_ms();
	return r;
}

struct doh_req *
doh_submit(struct doh_client *c, const uint8_t *msg, size_t len,
    doh_done_cb *cb, void *arg)
{
	struct fake_req *r;

	if (c->state == DOH_BACKOFF)
		return NULL;
	r = fake_req_new(fake.doh, &fake.ndoh, msg, len);
	r->client = c;
	r->doh_cb = cb;
	r->arg = arg;
	c->submits++;
	return (struct doh_req *)r;
}

/* End r for a reply or a cancel: it must still be alive. */
static void
fake_req_end(struct fake_req *r, int cancel)
{
	if (!r->live)
		fake_die("a request ended twice");
	r->live = 0;
	r->cancelled = cancel;
}

void
doh_cancel(struct doh_req *req)
{
	fake_req_end((struct fake_req *)req, 1);
}

void
fake_doh_reply(struct fake_req *r, enum doh_result res, const uint8_t *body,
    size_t len)
{
	struct doh_response resp;

	fake_req_end(r, 0);
	memset(&resp, 0, sizeof(resp));
	resp.status = res == DOH_OK ? 200 : 0;
	if (res == DOH_OK) {
		resp.body = body;
		resp.len = len;
	}
	resp.submit_ms = r->submit_ms;
	r->doh_cb(res, &resp, r->arg);
}

size_t
fake_doh_live(const struct doh_client *c)
{
	size_t i, n = 0;

	for (i = 0; i < fake.ndoh; i++)
		if (fake.doh[i].live && fake.doh[i].client == c)
			n++;
	return n;
}

void
doh_set_connected_cb(struct doh_client *c, doh_connected_cb *cb, void *arg)
{
	c->connected_cb = cb;
	c->connected_arg = arg;
}

enum doh_state
doh_get_state(const struct doh_client *c)
{
	return c->state;
}

size_t
doh_pending(const struct doh_client *c)
{
	return fake_doh_live(c);
}

const char *
doh_name(const struct doh_client *c)
{
	return c->name;
}

const char *
doh_last_error(const struct doh_client *c)
{
	(void)c;
	return "";
}

/* --- plain ------------------------------------------------------------ */

struct plain *
plain_new(struct event_base *base, const struct addr *servers,
    size_t nservers, unsigned timeout_ms, enum plain_role role)
{
	struct plain *p;

	(void)base;
	if (nservers > CONFIG_MAX_SERVERS)
		fake_die("too many plain servers");
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->gen = ++fake.plain_made;
	p->role = role;
	p->timeout_ms = timeout_ms;
	p->nservers = nservers;
	memcpy(p->servers, servers, nservers * sizeof(*servers));
	if (role == PLAIN_ROLE_FALLBACK)
		fake.fallback = p;
	if (role == PLAIN_ROLE_PORTAL)
		fake.portal = p;
	fake.plain_sets++;
	return p;
}

struct plain_req *
plain_forward(struct plain *p, const uint8_t *query, size_t len,
    plain_answer_cb *cb, void *arg)
{
	struct fake_req *r;

	if (p->refuse)
		return NULL;
	r = fake_req_new(fake.plainq, &fake.nplain, query, len);
	r->plain = p;
	r->plain_cb = cb;
	r->arg = arg;
	p->sent++;
	return (struct plain_req *)r;
}

struct plain_req *
plain_resolve(struct plain *p, const char *host, uint16_t port,
    plain_addr_cb *cb, void *arg)
{
	(void)p;
	(void)host;
	(void)port;
	(void)cb;
	(void)arg;
	fake_die("the proxy does not resolve names itself");
	return NULL;
}

void
plain_cancel(struct plain_req *req)
{
	fake_req_end((struct fake_req *)req, 1);
}

void
fake_plain_reply(struct fake_req *r, int status, const uint8_t *ans,
    size_t len)
{
	fake_req_end(r, 0);
	r->plain_cb(status, status == 0 ? ans : NULL, status == 0 ? len : 0,
	    r->arg);
}

uint64_t
plain_sent(const struct plain *p)
{
	return p->sent;
}

/* As the real one: cancels what is pending, calls nothing back. */
void
plain_free(struct plain *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < fake.nplain; i++)
		if (fake.plainq[i].live && fake.plainq[i].plain == p)
			fake_req_end(&fake.plainq[i], 1);
	if (fake.fallback == p)
		fake.fallback = NULL;
	fake.plain_sets--;
	free(p);
}

/* --- discovery -------------------------------------------------------- */

const char *const discovery_upgrade_names[] = {
	"pending", "known", "ddr-verified", "ddr-opportunistic", "none",
};
const char *const discovery_fail_names[] = {
	"", "no_answer", "no_record", "no_h2", "no_dohpath", "lookup",
	"certificate", "tls",
};
const char *const discovery_state_names[] = {
	"idle", "query", "lookup", "verify",
};

struct discovery *
discovery_new(struct event_base *base, const struct config *cfg,
    const struct addr *addrs, size_t n, const struct discovery *prev,
    discovery_cb *cb, void *arg)
{
	struct discovery *d;
	size_t i, j;

	(void)base;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		fake_die("calloc");
	d->cfg = cfg;
	d->cb = cb;
	d->arg = arg;
	d->n = n;
	for (i = 0; i < n; i++) {
		d->res[i].addr = addrs[i];
		d->res[i].upgrade = DISCOVERY_PENDING;
		for (j = 0; prev != NULL && j < prev->n; j++)
			if (addr_eq(&prev->res[j].addr, &addrs[i]))
				d->res[i] = prev->res[j];
	}
	fake.discoveries++;
	fake.disc = d;
	return d;
}

void
discovery_start(struct discovery *d)
{
	d->started = 1;
}

void
discovery_rerun(struct discovery *d)
{
	if (d != NULL)
		d->reruns++;
}

size_t
discovery_count(const struct discovery *d)
{
	return d != NULL ? d->n : 0;
}

const struct discovery_result *
discovery_result(const struct discovery *d, size_t i)
{
	return d != NULL && i < d->n ? &d->res[i] : NULL;
}

enum discovery_state
discovery_state(const struct discovery *d, size_t i)
{
	(void)d;
	(void)i;
	return DISCOVERY_IDLE;
}

int
discovery_pending(const struct discovery *d)
{
	size_t i;

	for (i = 0; d != NULL && i < d->n; i++)
		if (d->res[i].upgrade == DISCOVERY_PENDING)
			return 1;
	return 0;
}

const struct discovery_stats *
discovery_stats(const struct discovery *d)
{
	return &d->stats;
}

/* As discovery.c's, which cannot link here (it needs plain and doh). */
int
discovery_upstream(const struct discovery_result *r,
    struct config_upstream *u)
{
	memset(u, 0, sizeof(*u));
	if ((u->url = strdup(r->url)) == NULL ||
	    (u->host = strdup(r->host)) == NULL ||
	    (u->path = strdup(r->path)) == NULL) {
		config_upstream_free(u);
		return -1;
	}
	u->port = r->port;
	u->host_is_ip = r->host_is_ip;
	memcpy(u->pins, r->pins, sizeof(u->pins));
	u->npins = r->npins;
	snprintf(u->verify_ip, sizeof(u->verify_ip), "%s", r->verify_ip);
	u->no_verify = r->no_verify;
	return 0;
}

void
discovery_free(struct discovery *d)
{
	if (d == NULL)
		return;
	if (fake.disc == d)
		fake.disc = NULL;
	fake.discoveries--;
	free(d);
}

void
fake_disc_set(size_t i, enum discovery_upgrade upgrade, const char *reason,
    const char *host, uint16_t port, const char *pin)
{
	struct discovery *d = fake.disc;
	struct discovery_result *r;

	if (d == NULL || i >= d->n)
		fake_die("no such discovery entry");
	r = &d->res[i];
	r->upgrade = upgrade;
	snprintf(r->reason, sizeof(r->reason), "%s", reason != NULL ?
	    reason : "");
	if (host != NULL) {
		snprintf(r->host, sizeof(r->host), "%s", host);
		snprintf(r->path, sizeof(r->path), "/dns-query");
		r->port = port;
		snprintf(r->url, sizeof(r->url), "https://%s:%u/dns-query",
		    host, port);
		if (addr_parse(pin, port, &r->pins[0], NULL, 0) == 0)
			r->npins = 1;
		addr_ip_str(&r->addr, r->verify_ip, sizeof(r->verify_ip));
	}
	d->cb(d, i, d->arg);
}
