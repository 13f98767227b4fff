/*
 * upstream: the DoH servers of the configuration, each one doh_client.
 * An upstream gets its addresses from its URL (an IP), from a resolve pin,
 * or from a bootstrap lookup.  The bootstrap lookup is the one plaintext
 * query allowed in encrypted-only mode, so it is made only for a name that
 * is neither an IP nor pinned, and repeated only when its TTL runs out or
 * it failed.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/clock.h"
#include "dohstub/config.h"
#include "dohstub/doh.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/upstream.h"

#define UPSTREAM_TTL_MAX_S	3600
#define UPSTREAM_RETRY_MIN_MS	1000
#define UPSTREAM_RETRY_MAX_MS	60000
/*
 * fastest: an upstream not sent anything for this long gets a copy of a
 * query (its answer dropped), so its estimate stays current while the
 * fastest takes every query; at most one a second each, whatever the
 * load.
 */
#define UPSTREAM_EXPLORE_MS	1000
#define UPSTREAM_HEDGE_MIN_MS	10
#define UPSTREAM_FAIL_STREAK_MAX 8
_Static_assert(CONFIG_MAX_UPSTREAM <= 32, "a query's tried mask is 32 bits");
/* Network changes repeat a lookup at most this often. */
#define UPSTREAM_REFRESH_MIN_MS	1000

const char *const upstream_source_names[] = {
	"ip", "pin", "bootstrap", "discovered",
};

struct upstreams;

struct upstream {
	struct upstreams		*set;
	const struct config_upstream	*conf;
	struct doh_client		*client;
	enum doh_state			 state;		/* as last reported */
	struct plain_req		*lookup;	/* in flight */
	struct clock_timer		 timer;		/* next lookup */
	unsigned			 retry_ms;	/* 0: last one worked */
	int				 resolved;	/* ever had addresses */
	uint64_t			 last_sent_ms;	/* picked, copied */
	unsigned			 fail_streak;	/* failed requests in a
							   row */
	uint64_t			 hedges, hedge_wins, copies;
	int				 looked_up;	/* by bootstrap */
	uint64_t			 refreshed_ms;	/* network change */
};

struct upstreams {
	struct event_base	*base;
	const struct config	*cfg;
	struct plain		*bootstrap;
	upstream_health_cb	*cb;
	void			*arg;
	struct upstream_opts	 opts;
	struct upstream		 up[CONFIG_MAX_UPSTREAM];
	size_t			 n;
	size_t			 nusable;	/* not in DOH_BACKOFF */
	size_t			 rr;		/* round-robin: next start */
	int			 started;
	int			 freeing;
};

static void	upstream_state_cb(struct doh_client *, enum doh_state,
		    enum doh_state, void *);
static size_t	upstream_give(struct upstream *, enum upstream_source,
		    const struct addr *, size_t);
static void	upstream_lookup(struct upstream *);
static void	upstream_resolved(int, const struct addr *, size_t, unsigned,
		    void *);
static void	upstream_lookup_failed(struct upstream *);
static void	upstream_timer_cb(void *);
static void	upstream_schedule(struct upstream *, unsigned);
static const char *upstream_addrs_str(const struct addr *, size_t, char *,
		    size_t);

struct upstreams *
upstream_new(struct event_base *base, const struct config *cfg, SSL_CTX *ctx,
    struct plain *bootstrap, upstream_health_cb *cb, void *arg)
{
	return upstream_new_opts(base, cfg, ctx, bootstrap, NULL, cb, arg);
}

struct upstreams *
upstream_new_opts(struct event_base *base, const struct config *cfg,
    SSL_CTX *ctx, struct plain *bootstrap, const struct upstream_opts *opts,
    upstream_health_cb *cb, void *arg)
{
	struct upstreams *u;
	struct upstream *up;
	const struct config_upstream *list = cfg->upstream;
	struct doh_params params;
	size_t i, n = cfg->nupstream;

	if (opts != NULL && opts->list != NULL) {
		list = opts->list;
		n = opts->nlist;
	}
	if (n > CONFIG_MAX_UPSTREAM) {
		log_warnx("upstream: too many upstreams");
		return NULL;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		log_warn("upstream: calloc");
		return NULL;
	}
	u->base = base;
	u->cfg = cfg;
	u->bootstrap = bootstrap;
	u->cb = cb;
	u->arg = arg;
	if (opts != NULL)
		u->opts = *opts;
	for (i = 0; i < n; i++) {
		up = &u->up[i];
		up->set = u;
		up->conf = &list[i];
		memset(&params, 0, sizeof(params));
		params.host = up->conf->host;
		params.port = up->conf->port;
		params.path = up->conf->path;
		params.host_is_ip = up->conf->host_is_ip;
		params.verify_ip = up->conf->verify_ip;
		params.no_verify = up->conf->no_verify;
		params.use_get = cfg->method == METHOD_GET;
		params.ssl_ctx = ctx;
		params.timeout_ms = cfg->timeout_ms;
		params.keepalive_ms = cfg->keepalive_ms;
		/* A fixed hedge delay is also when a silent connection is
		 * PINGed; otherwise doh derives it the same way. */
		if (cfg->hedge_delay_ms != CONFIG_HEDGE_AUTO)
			params.probe_ms = cfg->hedge_delay_ms;
		params.keep_headers = u->opts.keep_headers;
		/* Bootstrap TTLs and retries age in sleep too (clock.h). */
		clock_timer_init_boot(&up->timer, base, upstream_timer_cb, up);
		if ((up->client = doh_new(base, &params, upstream_state_cb,
		    up)) == NULL) {
			log_warnx("upstream %s: cannot create the client",
			    up->conf->url);
			goto fail;
		}
		up->state = doh_get_state(up->client);
		u->n++;
		if (up->state != DOH_BACKOFF)
			u->nusable++;
	}
	return u;

fail:
	/* The half-built entry has its timer but no client: count it. */
	u->n = i + 1;
	upstream_free(u);
	return NULL;
}

void
upstream_start(struct upstreams *u)
{
	const struct config_resolve *pin;
	const struct config_upstream *conf;
	struct upstream *up;
	struct addr a;
	size_t i;

	if (u->started)
		return;
	u->started = 1;
	for (i = 0; i < u->n; i++) {
		up = &u->up[i];
		conf = up->conf;
		if (conf->npins > 0)	/* a discovered or known endpoint */
			upstream_give(up, UPSTREAM_SRC_DISCOVERED, conf->pins,
			    conf->npins);
		else if (conf->host_is_ip) {
			if (addr_parse_ip(conf->host, strlen(conf->host), 0,
			    conf->port, &a) == -1) {
				log_warnx("upstream %s: bad address %s",
				    doh_name(up->client), conf->host);
				upstream_give(up, UPSTREAM_SRC_IP, NULL, 0);
				continue;
			}
			upstream_give(up, UPSTREAM_SRC_IP, &a, 1);
		} else if ((pin = config_find_resolve(u->cfg, conf->host,
		    conf->port)) != NULL)
			upstream_give(up, UPSTREAM_SRC_PIN, pin->addrs,
			    pin->naddrs);
		else {
			up->looked_up = 1;
			upstream_lookup(up);
		}
	}
	for (i = 0; i < u->n; i++)
		doh_connect(u->up[i].client);
}

size_t
upstream_count(const struct upstreams *u)
{
	return u->n;
}

struct doh_client *
upstream_get(const struct upstreams *u, size_t i)
{
	return i < u->n ? u->up[i].client : NULL;
}

int
upstream_next(const struct upstreams *u, size_t from)
{
	size_t i;

	for (i = from; i < u->n; i++)
		if (doh_get_state(u->up[i].client) != DOH_BACKOFF)
			return (int)i;
	return -1;
}

int
upstream_usable(const struct upstreams *u)
{
	return upstream_next(u, 0) != -1;
}

static int
upstream_can(const struct upstreams *u, size_t i, uint32_t tried)
{
	return (tried & (1u << i)) == 0 &&
	    doh_get_state(u->up[i].client) != DOH_BACKOFF;
}

/*
 * fastest's order: the smoothed answer time, plus a timeout for each
 * failure in a row (a server that answers errors fast is not fast).  One
 * never measured ranks first, so it gets measured.
 */
static uint64_t
upstream_rank(const struct upstreams *u, const struct upstream *up)
{
	struct doh_stats st;

	doh_get_stats(up->client, &st);
	/* One still waiting for its address would keep a query waiting:
	 * last, but usable when it is all there is. */
	return (st.has_srtt ? st.srtt_ms : 0) +
	    (uint64_t)up->fail_streak * u->cfg->timeout_ms +
	    (doh_get_state(up->client) == DOH_NOADDR ?
	    (uint64_t)UPSTREAM_FAIL_STREAK_MAX * 2 * u->cfg->timeout_ms : 0);
}

int
upstream_pick(struct upstreams *u, uint32_t tried)
{
	uint64_t r, best_rank = UINT64_MAX;
	size_t i, k;
	int best = -1;

	switch (u->cfg->upstream_policy) {
	case POLICY_ORDERED:
		for (i = 0; i < u->n && best < 0; i++)
			if (upstream_can(u, i, tried))
				best = (int)i;
		break;
	case POLICY_ROUND_ROBIN:
		for (k = 0; k < u->n && best < 0; k++) {
			i = (u->rr + k) % u->n;
			if (upstream_can(u, i, tried))
				best = (int)i;
		}
		if (best >= 0 && tried == 0)
			u->rr = ((size_t)best + 1) % u->n;
		break;
	case POLICY_FASTEST:
		for (i = 0; i < u->n; i++) {
			if (!upstream_can(u, i, tried))
				continue;
			if ((r = upstream_rank(u, &u->up[i])) < best_rank) {
				best_rank = r;
				best = (int)i;
			}
		}
		break;
	}
	if (best >= 0)
		u->up[best].last_sent_ms = clock_ms();
	return best;
}

static void
upstream_copy_done(enum doh_result res, const struct doh_response *resp,
    void *arg)
{
	struct upstream *up = arg;

	(void)resp;
	if (res != DOH_ERR_SHUTDOWN && !up->set->freeing)
		upstream_result(up->set, (size_t)(up - up->set->up),
		    res == DOH_OK);
}

void
upstream_explore(struct upstreams *u, int best, const uint8_t *msg,
    size_t len)
{
	struct upstream *up;
	uint64_t now;
	size_t i;

	if (u->cfg->upstream_policy != POLICY_FASTEST || u->n < 2)
		return;
	now = clock_ms();
	for (i = 0; i < u->n; i++) {
		up = &u->up[i];
		if ((int)i == best || !upstream_can(u, i, 0) ||
		    now - up->last_sent_ms < UPSTREAM_EXPLORE_MS)
			continue;
		up->last_sent_ms = now;
		if (doh_submit(up->client, msg, len, upstream_copy_done,
		    up) != NULL)
			up->copies++;
		return;		/* one a query */
	}
}

void
upstream_result(struct upstreams *u, size_t i, int ok)
{
	struct upstream *up = &u->up[i];

	if (ok)
		up->fail_streak = 0;
	else if (up->fail_streak < UPSTREAM_FAIL_STREAK_MAX)
		up->fail_streak++;
}

unsigned
upstream_hedge_delay(const struct upstreams *u, size_t i)
{
	struct doh_stats st;
	unsigned d;

	if (u->n < 2 || u->cfg->hedge_delay_ms == 0)
		return 0;
	if (u->cfg->hedge_delay_ms != CONFIG_HEDGE_AUTO)
		return u->cfg->hedge_delay_ms;
	doh_get_stats(u->up[i].client, &st);
	d = 3 * st.srtt_ms;
	if (d < UPSTREAM_HEDGE_MIN_MS)
		d = UPSTREAM_HEDGE_MIN_MS;
	if (d > u->cfg->timeout_ms / 2)
		d = u->cfg->timeout_ms / 2;
	return d > 0 ? d : 1;
}

void
upstream_hedged(struct upstreams *u, size_t i, int won)
{
	if (won)
		u->up[i].hedge_wins++;
	else
		u->up[i].hedges++;
}

void
upstream_info(const struct upstreams *u, size_t i, struct upstream_info *in)
{
	const struct upstream *up = &u->up[i];

	doh_get_stats(up->client, &in->doh);
	in->hedges = up->hedges;
	in->hedge_wins = up->hedge_wins;
	in->copies = up->copies;
	in->fail_streak = up->fail_streak;
}

void
upstream_free(struct upstreams *u)
{
	struct upstream *up;
	size_t i;

	if (u == NULL)
		return;
	/* doh_free() may report state changes: nobody is listening now. */
	u->freeing = 1;
	for (i = 0; i < u->n; i++) {
		up = &u->up[i];
		plain_cancel(up->lookup);
		clock_timer_del(&up->timer);
		doh_free(up->client);
	}
	free(u);
}

void
upstream_network_changed(struct upstreams *u)
{
	struct upstream *up;
	uint64_t now = clock_ms();
	size_t i;

	if (!u->started)
		return;
	for (i = 0; i < u->n; i++) {
		up = &u->up[i];
		doh_suspect(up->client);
		/* The name may have other addresses from here; one lookup
		 * at a time, and not for every event of a flapping link. */
		if (!up->looked_up || up->lookup != NULL)
			continue;
		/* Too soon after the last: deferred, not dropped (the
		 * route often follows the address by a moment). */
		if (up->refreshed_ms != 0 &&
		    now - up->refreshed_ms < UPSTREAM_REFRESH_MIN_MS) {
			clock_timer_add(&up->timer, UPSTREAM_REFRESH_MIN_MS -
			    (unsigned)(now - up->refreshed_ms));
			continue;
		}
		up->refreshed_ms = now;
		upstream_lookup(up);
	}
}

static void
upstream_state_cb(struct doh_client *c, enum doh_state old,
    enum doh_state new, void *arg)
{
	struct upstream *up = arg;
	struct upstreams *u = up->set;
	int was, is;

	(void)c;
	(void)old;
	if (u->freeing)
		return;
	/* Our own record, so a missed or repeated report cannot skew it. */
	was = up->state != DOH_BACKOFF;
	is = new != DOH_BACKOFF;
	up->state = new;
	if (was == is)
		return;
	if (is) {
		if (u->nusable++ == 0 && u->cb != NULL)
			u->cb(1, u->arg);
	} else {
		if (--u->nusable == 0 && u->cb != NULL)
			u->cb(0, u->arg);
	}
}

/*
 * Hand addrs[0..n) of the wanted family to the client and report them.
 * Returns how many were kept: with none, the client backs off.
 */
static size_t
upstream_give(struct upstream *up, enum upstream_source src,
    const struct addr *addrs, size_t n)
{
	struct upstreams *u = up->set;
	struct sockaddr_storage ss[ADDR_MAX_PER_NAME];
	struct addr kept[ADDR_MAX_PER_NAME];
	socklen_t lens[ADDR_MAX_PER_NAME];
	size_t i, k = 0;

	for (i = 0; i < n && k < ADDR_MAX_PER_NAME; i++) {
		if (addrs[i].len == 0 || (u->opts.family != AF_UNSPEC &&
		    addrs[i].ss.ss_family != u->opts.family))
			continue;
		kept[k] = addrs[i];
		ss[k] = addrs[i].ss;
		lens[k] = addrs[i].len;
		k++;
	}
	if (u->opts.addrs_cb != NULL)
		u->opts.addrs_cb((size_t)(up - u->up), src, kept, k,
		    u->opts.addrs_arg);
	if (k == 0)
		doh_addrs_failed(up->client);
	else
		doh_set_addrs(up->client, ss, lens, k);
	return k;
}

static void
upstream_lookup(struct upstream *up)
{
	struct upstreams *u = up->set;

	if (up->lookup != NULL)
		return;
	if (u->bootstrap == NULL) {
		/* config_finalize() should have refused this. */
		log_warnx("upstream %s: no bootstrap server to look up %s",
		    doh_name(up->client), up->conf->host);
		upstream_give(up, UPSTREAM_SRC_BOOTSTRAP, NULL, 0);
		return;
	}
	log_debug("upstream %s: bootstrap lookup of %s",
	    doh_name(up->client), up->conf->host);
	if ((up->lookup = plain_resolve(u->bootstrap, up->conf->host,
	    up->conf->port, upstream_resolved, up)) == NULL) {
		upstream_give(up, UPSTREAM_SRC_BOOTSTRAP, NULL, 0);
		upstream_lookup_failed(up);
	}
}

static void
upstream_resolved(int status, const struct addr *addrs, size_t n,
    unsigned ttl, void *arg)
{
	struct upstream *up = arg;
	char buf[ADDR_MAX_PER_NAME * (ADDR_STRLEN + 2)];
	unsigned s, min_s;

	up->lookup = NULL;
	if (status != 0)
		n = 0;
	if (n > 0)
		log_info("upstream %s: resolved to %s (ttl %u s)",
		    doh_name(up->client), upstream_addrs_str(addrs, n, buf,
		    sizeof(buf)), ttl);
	if (upstream_give(up, UPSTREAM_SRC_BOOTSTRAP, addrs, n) == 0) {
		upstream_lookup_failed(up);
		return;
	}
	up->retry_ms = 0;
	/*
	 * The first addresses arrive after upstream_start() opened the
	 * others: open this one now.  Later lookups leave it be.
	 */
	if (!up->resolved)
		doh_connect(up->client);
	up->resolved = 1;
	/* Short TTLs would make the plaintext lookups frequent. */
	min_s = up->set->cfg->bootstrap_min_ttl_ms / 1000;
	s = ttl < min_s ? min_s : ttl;
	if (s > UPSTREAM_TTL_MAX_S)
		s = UPSTREAM_TTL_MAX_S;
	upstream_schedule(up, s * 1000);
}

static void
upstream_lookup_failed(struct upstream *up)
{
	up->retry_ms = up->retry_ms == 0 ? UPSTREAM_RETRY_MIN_MS :
	    up->retry_ms * 2;
	if (up->retry_ms > UPSTREAM_RETRY_MAX_MS)
		up->retry_ms = UPSTREAM_RETRY_MAX_MS;
	log_warnx("upstream %s: bootstrap lookup of %s failed; retrying in "
	    "%u s", doh_name(up->client), up->conf->host, up->retry_ms / 1000);
	upstream_schedule(up, up->retry_ms);
}

static void
upstream_schedule(struct upstream *up, unsigned ms)
{
	clock_timer_add(&up->timer, ms);
}

static void
upstream_timer_cb(void *arg)
{
	upstream_lookup(arg);
}

/* "a, b, c" without ports, for the log. */
static const char *
upstream_addrs_str(const struct addr *addrs, size_t n, char *buf,
    size_t size)
{
	char a[ADDR_STRLEN];
	size_t i, used = 0;
	int r;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		r = snprintf(buf + used, size - used, "%s%s",
		    used > 0 ? ", " : "", addr_ip_str(&addrs[i], a, sizeof(a)));
		if (r < 0 || (size_t)r >= size - used)
			break;
		used += (size_t)r;
	}
	return buf;
}
