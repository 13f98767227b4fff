/*
 * upside: a configuration's upstream side, built, swapped in on reload,
 * and freed when the last query under it ends (upside.h).
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/discovery.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/policy.h"
#include "dohstub/tls.h"
#include "dohstub/upstream.h"

#include "upside.h"

/* Health is told only of the current upside: a retired one's no longer
 * counts. */
static void
upside_health(int usable, void *arg)
{
	struct upside *up = arg;
	struct upsides *ups = up->home;

	if (up != ups->current)
		return;
	ups->health_cb(up, usable, ups->health_arg);
}

static void
upside_connected(struct doh_client *c, const struct doh_conn_info *info,
    void *arg)
{
	struct upside *up = arg;
	struct upsides *ups = up->home;

	(void)c;
	(void)info;
	if (up == ups->current)
		ups->connected_cb(up, ups->health_arg);
}

static void
route_health_cb(int usable, void *arg)
{
	struct route *r = arg;

	if (r->up != r->up->home->current)
		return;
	if (usable)
		log_info("forward %s: DoH server reachable", r->zone);
	else
		log_warnx("forward %s: no DoH server reachable: its names get "
		    "SERVFAIL", r->zone);
}

void
upside_free(struct upside *up)
{
	size_t i;

	if (up == NULL)
		return;
	for (i = 0; i < up->nroutes; i++) {
		upstream_free(up->routes[i].upstreams);
		plain_free(up->routes[i].plain);
	}
	free(up->routes);
	upstream_free(up->upstreams);
	for (i = 0; i < up->nlist; i++)
		if (up->list_owned[i])
			config_upstream_free(&up->list[i]);
	free(up->list);
	free(up->list_owned);
	free(up->list_addr);
	plain_free(up->bootstrap);
	for (i = 1; i < up->naddr; i++)
		plain_free(up->addr_plain[i]);
	plain_free(up->url_plain);
	plain_free(up->fallback);
	plain_free(up->portal);
	SSL_CTX_free(up->ssl_ctx);
	if (up->owned != NULL && --up->owned->refs == 0) {
		config_free(up->owned->cfg);
		free(up->owned->cfg);
		free(up->owned);
	}
	free(up);
}

static void
upside_reaper_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct upsides *ups = arg;
	struct upside *up;

	(void)fd;
	(void)ev;
	while ((up = TAILQ_FIRST(&ups->dead)) != NULL) {
		TAILQ_REMOVE(&ups->dead, up, entry);
		upside_free(up);
	}
}

void
upside_ref(struct upside *up)
{
	up->refs++;
}

/*
 * The last reference may go from inside a callback of one of its own
 * upstreams: the reaper frees it from the event loop instead.
 */
void
upside_unref(struct upside *up)
{
	struct upsides *ups = up->home;

	if (--up->refs > 0)
		return;
	TAILQ_INSERT_TAIL(&ups->dead, up, entry);
	event_active(ups->reaper, 0, 0);
}

/*
 * The servers of each forward rule.  A plain rule's are named at warning
 * level: plaintext leaves the host for its zone, by the user's choice.
 */
static int
upside_routes(struct upside *up)
{
	const struct config *cfg = up->cfg;
	const struct config_forward *f;
	struct upstream_opts opts;
	struct route *r;
	char list[CONFIG_MAX_FORWARD_TARGETS * (ADDR_STRLEN + 1)];
	char a[ADDR_STRLEN];
	size_t i, j, used;

	if (cfg->nforward == 0)
		return 0;
	if ((up->routes = calloc(cfg->nforward, sizeof(*up->routes))) ==
	    NULL) {
		log_warn("proxy");
		return -1;
	}
	up->nroutes = cfg->nforward;
	for (i = 0; i < cfg->nforward; i++) {
		r = &up->routes[i];
		f = r->rule = &cfg->forward[i];
		r->up = up;
		(void)dnsmsg_name_to_text(f->zone.name, f->zone.len, r->zone,
		    sizeof(r->zone), 0);
		if (f->doh) {
			memset(&opts, 0, sizeof(opts));
			opts.list = f->upstream;
			opts.nlist = f->nupstream;
			if ((r->upstreams = upstream_new_opts(up->home->base,
			    cfg, up->ssl_ctx, up->bootstrap, &opts,
			    route_health_cb, r)) == NULL) {
				log_warnx("forward %s: cannot set up its DoH "
				    "servers", r->zone);
				return -1;
			}
			continue;
		}
		if ((r->plain = plain_new(up->home->base, f->servers,
		    f->nservers, cfg->timeout_ms, PLAIN_ROLE_FORWARD)) ==
		    NULL) {
			log_warnx("forward %s: cannot set up its servers",
			    r->zone);
			return -1;
		}
		for (list[0] = '\0', used = 0, j = 0; j < f->nservers; j++)
			used += (size_t)snprintf(list + used,
			    sizeof(list) - used, "%s%s", j > 0 ? " " : "",
			    addr_str(&f->servers[j], a, sizeof(a)));
		log_warnx("forward %s: plain DNS to %s: these names leave the "
		    "host unencrypted", r->zone, list);
	}
	return 0;
}

size_t
upside_addr_servers(const struct config *cfg, struct addr *out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->nupstream && n < max; i++)
		if (cfg->upstream[i].is_addr)
			out[n++] = cfg->upstream[i].addr;
	return n;
}

/* Add a to up's plain servers unless it is there. */
static void
upside_add_plain(struct upside *up, const struct addr *a)
{
	size_t i;

	for (i = 0; i < up->nplain; i++)
		if (addr_eq(&up->plain[i], a))
			return;
	if (up->nplain < UPSIDE_MAX_PLAIN)
		up->plain[up->nplain++] = *a;
}

/*
 * The network's resolvers of the portal lease: the address servers, then
 * fallback (resolv.conf's nameservers unless set), each once; at most
 * CONFIG_MAX_SERVERS, as a plain channel takes.
 */
static void
upside_portal_servers(struct upside *up)
{
	const struct config *cfg = up->cfg;
	struct addr all[UPSIDE_MAX_PLAIN];
	size_t i, k, n;

	n = upside_addr_servers(cfg, all, UPSIDE_MAX_PLAIN);
	for (i = 0; i < cfg->nfallback && n < UPSIDE_MAX_PLAIN; i++)
		all[n++] = cfg->fallback[i];
	for (i = 0; i < n && up->nportal < CONFIG_MAX_SERVERS; i++) {
		for (k = 0; k < up->nportal; k++)
			if (addr_eq(&up->portal_servers[k], &all[i]))
				break;
		if (k == up->nportal)
			up->portal_servers[up->nportal++] = all[i];
	}
}

/*
 * The default DoH set and the plain servers from cfg and the discovery
 * results (upside.h says which go where).
 */
static int
upside_servers(struct upside *up, const struct discovery *disc)
{
	const struct config *cfg = up->cfg;
	const struct discovery_result *r;
	size_t i, j, k = 0, used = 0, nurl = 0, naddr = 0;
	char a[ADDR_STRLEN];
	int plain_ok = cfg->mode != MODE_ENCRYPTED_ONLY;

	if (cfg->nupstream > 0 && ((up->list = calloc(cfg->nupstream,
	    sizeof(*up->list))) == NULL || (up->list_owned =
	    calloc(cfg->nupstream, sizeof(*up->list_owned))) == NULL ||
	    (up->list_addr = calloc(cfg->nupstream,
	    sizeof(*up->list_addr))) == NULL)) {
		log_warn("proxy");
		return -1;
	}
	for (i = 0; i < cfg->nupstream; i++) {
		if (!cfg->upstream[i].is_addr) {
			nurl++;
			if (cfg->mode != MODE_PLAINTEXT) {
				up->list_addr[up->nlist] = -1;
				up->list[up->nlist++] = cfg->upstream[i];
			}
			continue;
		}
		naddr++;
		/* Plain DNS to the server itself where the mode allows. */
		if (plain_ok)
			upside_add_plain(up, &cfg->upstream[i].addr);
		if (cfg->mode == MODE_PLAINTEXT)
			continue;
		r = discovery_result(disc, k++);
		if (r != NULL && r->upgrade != DISCOVERY_PENDING &&
		    r->upgrade != DISCOVERY_NONE) {
			if (discovery_upstream(r, &up->list[up->nlist]) == -1) {
				log_warn("proxy");
				return -1;
			}
			/* Its plain channel: the address's place in plain. */
			up->list_addr[up->nlist] = -1;
			for (j = 0; plain_ok && j < up->nplain; j++)
				if (addr_eq(&up->plain[j],
				    &cfg->upstream[i].addr))
					up->list_addr[up->nlist] = (int)j;
			up->list_owned[up->nlist++] = 1;
			continue;
		}
		if (r == NULL || r->upgrade == DISCOVERY_PENDING)
			up->pending = 1;
		if (used < sizeof(up->unusable))
			used += (size_t)snprintf(up->unusable + used,
			    sizeof(up->unusable) - used, "%s%s: %s%s%s",
			    used > 0 ? "; " : "",
			    addr_str(&cfg->upstream[i].addr, a, sizeof(a)),
			    r == NULL || r->upgrade == DISCOVERY_PENDING ?
			    "discovery pending" : "not upgraded (",
			    r == NULL || r->upgrade == DISCOVERY_PENDING ?
			    "" : r->reason,
			    r == NULL || r->upgrade == DISCOVERY_PENDING ?
			    "" : ")");
	}
	/* fallback keeps its meaning for URL upstreams. */
	up->naddr = up->nplain;
	if (plain_ok && (nurl > 0 || naddr == 0))
		for (i = 0; i < cfg->nfallback; i++)
			upside_add_plain(up, &cfg->fallback[i]);
	return 0;
}

/*
 * The plain channels (upside.h): the one of every server (fallback,
 * address server 0 first), and one for each other address server with
 * that one first, and the fallback servers alone for URL upstreams when
 * there are address servers too.  fallback is made last (a test's fake
 * takes the last for the default one).
 */
static int
upside_plains(struct upside *up)
{
	const struct config *cfg = up->cfg;
	struct addr order[UPSIDE_MAX_PLAIN];
	size_t k, i, n;

	if (up->nplain == 0)
		return 0;
	for (k = 1; k < up->naddr; k++) {
		order[0] = up->plain[k];
		for (i = 0, n = 1; i < up->nplain; i++)
			if (i != k)
				order[n++] = up->plain[i];
		if ((up->addr_plain[k] = plain_new(up->home->base, order, n,
		    cfg->timeout_ms, PLAIN_ROLE_FALLBACK)) == NULL)
			return -1;
	}
	if (up->naddr > 0 && up->nplain > up->naddr &&
	    (up->url_plain = plain_new(up->home->base, up->plain + up->naddr,
	    up->nplain - up->naddr, cfg->timeout_ms, PLAIN_ROLE_FALLBACK)) ==
	    NULL)
		return -1;
	if ((up->fallback = plain_new(up->home->base, up->plain, up->nplain,
	    cfg->timeout_ms, PLAIN_ROLE_FALLBACK)) == NULL)
		return -1;
	up->addr_plain[0] = up->fallback;
	return 0;
}

struct plain *
upside_plain(const struct upside *up, int i)
{
	int k;

	if (up->fallback == NULL || i < 0 || (size_t)i >= up->nlist)
		return up->fallback;
	if ((k = up->list_addr[i]) < 0)
		return up->url_plain != NULL ? up->url_plain : up->fallback;
	return up->addr_plain[k];
}

struct upside *
upside_new(struct upsides *ups, const struct config *cfg,
    const struct discovery *disc)
{
	struct upside *up;
	struct upstream_opts opts;
	struct tls_opts topts;
	char err[256];
	size_t i;
	int doh = cfg->mode != MODE_PLAINTEXT;

	if ((up = calloc(1, sizeof(*up))) == NULL) {
		log_warn("proxy");
		return NULL;
	}
	up->home = ups;
	up->refs = 1;
	up->cfg = cfg;
	if (upside_servers(up, disc) == -1)
		goto fail;
	/* DoH rules are allowed in plaintext mode too. */
	for (i = 0; i < cfg->nforward; i++)
		doh |= cfg->forward[i].doh;
	if (doh) {
		memset(&topts, 0, sizeof(topts));
		topts.ca_file = cfg->ca_file;
		topts.min_version = cfg->tls_min_version;
		topts.early_data = cfg->tls_early_data;
		if ((up->ssl_ctx = tls_ctx_new(&topts, err, sizeof(err))) ==
		    NULL) {
			log_warnx("%s", err);
			goto fail;
		}
		if (cfg->nbootstrap > 0 && (up->bootstrap =
		    plain_new(ups->base, cfg->bootstrap, cfg->nbootstrap,
		    cfg->timeout_ms, PLAIN_ROLE_BOOTSTRAP)) == NULL) {
			log_warnx("cannot set up the bootstrap servers");
			goto fail;
		}
	}
	if (upside_routes(up) == -1)
		goto fail;
	if (upside_plains(up) == -1) {
		log_warnx("cannot set up the fallback servers");
		goto fail;
	}
	if (cfg->mode == MODE_ENCRYPTED_ONLY &&
	    cfg->captive_portal != PORTAL_OFF) {
		upside_portal_servers(up);
		if (up->nportal > 0 && (up->portal = plain_new(ups->base,
		    up->portal_servers, up->nportal, cfg->timeout_ms,
		    PLAIN_ROLE_PORTAL)) == NULL) {
			log_warnx("cannot set up the network's resolvers");
			goto fail;
		}
	}
	if (up->nlist == 0)
		return up;
	memset(&opts, 0, sizeof(opts));
	opts.list = up->list;
	opts.nlist = up->nlist;
	if ((up->upstreams = upstream_new_opts(ups->base, cfg, up->ssl_ctx,
	    up->bootstrap, &opts, upside_health, up)) == NULL) {
		log_warnx("cannot set up the upstreams");
		goto fail;
	}
	return up;
 fail:
	upside_free(up);
	return NULL;
}

int
upside_own(struct upside *up, struct config *cfg)
{
	if ((up->owned = calloc(1, sizeof(*up->owned))) == NULL) {
		log_warn("proxy");
		return -1;
	}
	up->owned->cfg = cfg;
	up->owned->refs = 1;
	return 0;
}

void
upside_share(struct upside *up, const struct upside *from)
{
	if ((up->owned = from->owned) != NULL)
		up->owned->refs++;
}

int
upsides_init(struct upsides *ups, struct event_base *base,
    upside_health_cb *health_cb, upside_connected_cb *connected_cb,
    void *arg)
{
	memset(ups, 0, sizeof(*ups));
	TAILQ_INIT(&ups->dead);
	ups->base = base;
	ups->health_cb = health_cb;
	ups->connected_cb = connected_cb;
	ups->health_arg = arg;
	if ((ups->reaper = event_new(base, -1, 0, upside_reaper_cb, ups)) ==
	    NULL) {
		log_warnx("proxy: event_new");
		return -1;
	}
	return 0;
}

void
upsides_install(struct upsides *ups, struct upside *up)
{
	struct upside *old = ups->current;

	ups->current = up;
	if (old != NULL)
		upside_unref(old);
}

/* fn on every DoH set of up: the default one, then each DoH rule's. */
static void
upside_each_set(struct upside *up, void (*fn)(struct upstreams *))
{
	size_t i;

	if (up->upstreams != NULL)
		fn(up->upstreams);
	for (i = 0; i < up->nroutes; i++)
		if (up->routes[i].upstreams != NULL)
			fn(up->routes[i].upstreams);
}

void
upside_start(struct upside *up)
{
	size_t i;

	for (i = 0; up->upstreams != NULL && i <
	    upstream_count(up->upstreams); i++)
		doh_set_connected_cb(upstream_get(up->upstreams, i),
		    upside_connected, up);
	upside_each_set(up, upstream_start);
}

void
upsides_clear(struct upsides *ups)
{
	upside_free(ups->current);
	ups->current = NULL;
	if (ups->reaper != NULL) {
		upside_reaper_cb(-1, 0, ups);
		event_free(ups->reaper);
		ups->reaper = NULL;
	}
}

const struct route *
upside_route(const struct upside *up, const struct dns_query_info *qi)
{
	const struct config_forward *f;

	if (up->nroutes == 0 || (f = policy_find_forward(up->cfg, qi->qname,
	    qi->qname_len)) == NULL)
		return NULL;
	return &up->routes[f - up->cfg->forward];
}

/* The same DoH URLs in the same order. */
static int
same_urls(const struct config_upstream *a, size_t na,
    const struct config_upstream *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (strcmp(a[i].url, b[i].url) != 0)
			return 0;
	return 1;
}

static int
same_forward(const struct config_forward *a, const struct config_forward *b)
{
	return dnsmsg_name_equal(a->zone.name, a->zone.len, b->zone.name,
	    b->zone.len) && a->doh == b->doh &&
	    same_urls(a->upstream, a->nupstream, b->upstream, b->nupstream) &&
	    addr_list_eq(a->servers, a->nservers, b->servers, b->nservers);
}

int
upside_same(const struct config *a, const struct config *b)
{
	/* encrypted-only has no fallback channel: its list is not used. */
	int fb = a->mode != MODE_ENCRYPTED_ONLY;
	size_t i;

	if (a->mode != b->mode ||
	    !same_urls(a->upstream, a->nupstream, b->upstream, b->nupstream) ||
	    (fb && !addr_list_eq(a->fallback, a->nfallback, b->fallback,
	    b->nfallback)))
		return 0;
	if (a->nforward != b->nforward)
		return 0;
	for (i = 0; i < a->nforward; i++)
		if (!same_forward(&a->forward[i], &b->forward[i]))
			return 0;
	return 1;
}

size_t
upside_upstream_count(const struct upside *up)
{
	size_t r, n;

	n = up->upstreams != NULL ? upstream_count(up->upstreams) : 0;
	for (r = 0; r < up->nroutes; r++)
		if (up->routes[r].upstreams != NULL)
			n += upstream_count(up->routes[r].upstreams);
	return n;
}

struct upstreams *
upside_upstream_set(const struct upside *up, size_t *i,
    const struct route **route)
{
	struct upstreams *u;
	size_t r, n;

	*route = NULL;
	if (up->upstreams != NULL) {
		if (*i < (n = upstream_count(up->upstreams)))
			return up->upstreams;
		*i -= n;
	}
	for (r = 0; r < up->nroutes; r++) {
		if ((u = up->routes[r].upstreams) == NULL)
			continue;
		if (*i < (n = upstream_count(u))) {
			*route = &up->routes[r];
			return u;
		}
		*i -= n;
	}
	return NULL;
}

void
upside_network_changed(struct upside *up)
{
	upside_each_set(up, upstream_network_changed);
}
