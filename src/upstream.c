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
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dohstub/config.h"
#include "dohstub/doh.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/upstream.h"

#define UPSTREAM_TTL_MIN_S	30
#define UPSTREAM_TTL_MAX_S	3600
#define UPSTREAM_RETRY_MIN_MS	1000
#define UPSTREAM_RETRY_MAX_MS	60000

struct upstreams;

struct upstream {
	struct upstreams		*set;
	const struct config_upstream	*conf;
	struct doh_client		*client;
	enum doh_state			 state;		/* as last reported */
	struct plain_req		*lookup;	/* in flight */
	struct event			*timer;		/* next lookup */
	unsigned			 retry_ms;	/* 0: last one worked */
	int				 resolved;	/* ever had addresses */
};

struct upstreams {
	struct event_base	*base;
	const struct config	*cfg;
	struct plain		*bootstrap;
	upstream_health_cb	*cb;
	void			*arg;
	struct upstream		 up[CONFIG_MAX_UPSTREAM];
	size_t			 n;
	size_t			 nusable;	/* not in DOH_BACKOFF */
	int			 started;
	int			 freeing;
};

static void	upstream_state_cb(struct doh_client *, enum doh_state,
		    enum doh_state, void *);
static int	upstream_ip(const char *, uint16_t, struct sockaddr_storage *,
		    socklen_t *);
static void	upstream_lookup(struct upstream *);
static void	upstream_resolved(int, const struct sockaddr_storage *,
		    const socklen_t *, size_t, unsigned, void *);
static void	upstream_lookup_failed(struct upstream *);
static void	upstream_timer_cb(evutil_socket_t, short, void *);
static void	upstream_schedule(struct upstream *, unsigned);
static const char *upstream_addrs_str(const struct sockaddr_storage *,
		    size_t, char *, size_t);

struct upstreams *
upstream_new(struct event_base *base, const struct config *cfg, SSL_CTX *ctx,
    struct plain *bootstrap, upstream_health_cb *cb, void *arg)
{
	struct upstreams *u;
	struct upstream *up;
	struct doh_params params;
	size_t i;

	if (cfg->nupstream > CONFIG_MAX_UPSTREAM) {
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
	for (i = 0; i < cfg->nupstream; i++) {
		up = &u->up[i];
		up->set = u;
		up->conf = &cfg->upstream[i];
		memset(&params, 0, sizeof(params));
		params.host = up->conf->host;
		params.port = up->conf->port;
		params.path = up->conf->path;
		params.host_is_ip = up->conf->host_is_ip;
		params.use_get = cfg->method == METHOD_GET;
		params.ssl_ctx = ctx;
		params.timeout_ms = cfg->timeout_ms;
		params.keepalive_ms = cfg->keepalive_ms;
		if ((up->timer = evtimer_new(base, upstream_timer_cb,
		    up)) == NULL) {
			log_warnx("upstream %s: evtimer_new failed",
			    up->conf->url);
			goto fail;
		}
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
	struct sockaddr_storage ss[DOH_MAX_ADDRS];
	socklen_t lens[DOH_MAX_ADDRS];
	const struct config_resolve *pin;
	const struct config_upstream *conf;
	struct upstream *up;
	size_t i, j, n;

	if (u->started)
		return;
	u->started = 1;
	for (i = 0; i < u->n; i++) {
		up = &u->up[i];
		conf = up->conf;
		if (conf->host_is_ip) {
			if (upstream_ip(conf->host, conf->port, &ss[0],
			    &lens[0]) == -1) {
				log_warnx("upstream %s: bad address %s",
				    doh_name(up->client), conf->host);
				doh_addrs_failed(up->client);
				continue;
			}
			doh_set_addrs(up->client, ss, lens, 1);
		} else if ((pin = config_find_resolve(u->cfg, conf->host,
		    conf->port)) != NULL) {
			n = pin->naddrs < DOH_MAX_ADDRS ? pin->naddrs :
			    DOH_MAX_ADDRS;
			for (j = 0; j < n; j++) {
				ss[j] = pin->addrs[j].ss;
				lens[j] = pin->addrs[j].len;
			}
			if (n == 0)
				doh_addrs_failed(up->client);
			else
				doh_set_addrs(up->client, ss, lens, n);
		} else
			upstream_lookup(up);
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
		if (up->timer != NULL)
			event_free(up->timer);
		doh_free(up->client);
	}
	free(u);
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

/* An IP URL's address with port; no lookup of any kind. */
static int
upstream_ip(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 1], *zone;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (strlen(host) >= sizeof(buf))
		return -1;
	strcpy(buf, host);
	if ((zone = strchr(buf, '%')) != NULL)
		*zone++ = '\0';
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
		return -1;
	if (zone != NULL && (sin6->sin6_scope_id = if_nametoindex(zone)) == 0)
		return -1;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	*len = sizeof(*sin6);
	return 0;
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
		doh_addrs_failed(up->client);
		return;
	}
	log_debug("upstream %s: bootstrap lookup of %s",
	    doh_name(up->client), up->conf->host);
	if ((up->lookup = plain_resolve(u->bootstrap, up->conf->host,
	    up->conf->port, upstream_resolved, up)) == NULL)
		upstream_lookup_failed(up);
}

static void
upstream_resolved(int status, const struct sockaddr_storage *ss,
    const socklen_t *lens, size_t n, unsigned ttl, void *arg)
{
	struct upstream *up = arg;
	char buf[DOH_MAX_ADDRS * (INET6_ADDRSTRLEN + 2)];
	unsigned s;

	up->lookup = NULL;
	if (status != 0 || n == 0) {
		upstream_lookup_failed(up);
		return;
	}
	log_info("upstream %s: resolved to %s (ttl %u s)",
	    doh_name(up->client), upstream_addrs_str(ss, n, buf, sizeof(buf)),
	    ttl);
	up->retry_ms = 0;
	doh_set_addrs(up->client, ss, lens, n);
	/*
	 * The first addresses arrive after upstream_start() opened the
	 * others: open this one now.  Later lookups leave it be.
	 */
	if (!up->resolved)
		doh_connect(up->client);
	up->resolved = 1;
	/* Short TTLs would make the plaintext lookups frequent. */
	s = ttl < UPSTREAM_TTL_MIN_S ? UPSTREAM_TTL_MIN_S : ttl;
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
	/* The client keeps addresses it had; without any it backs off. */
	doh_addrs_failed(up->client);
	upstream_schedule(up, up->retry_ms);
}

static void
upstream_schedule(struct upstream *up, unsigned ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (evtimer_add(up->timer, &tv) == -1)
		log_warnx("upstream %s: cannot arm the lookup timer",
		    doh_name(up->client));
}

static void
upstream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	upstream_lookup(arg);
}

/* "a, b, c" without ports, for the log. */
static const char *
upstream_addrs_str(const struct sockaddr_storage *ss, size_t n, char *buf,
    size_t size)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	char a[INET6_ADDRSTRLEN];
	size_t i, used = 0;
	int r;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (ss[i].ss_family == AF_INET) {
			sin = (const struct sockaddr_in *)&ss[i];
			inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		} else if (ss[i].ss_family == AF_INET6) {
			sin6 = (const struct sockaddr_in6 *)&ss[i];
			inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		} else
			continue;
		r = snprintf(buf + used, size - used, "%s%s",
		    used > 0 ? ", " : "", a);
		if (r < 0 || (size_t)r >= size - used)
			break;
		used += (size_t)r;
	}
	return buf;
}
