/*
 * upside: what the proxy builds from a configuration's upstream side (TLS
 * context, default upstreams, bootstrap and fallback channels, and the
 * servers of each forward rule), and its life across reloads.
 *
 * Part of the proxy, not a module of its own: proxy.c is its only user,
 * so this header stays beside it rather than in include/dohstub/, where
 * every module could reach it.
 *
 * Life cycle.  upside_new() builds one and connects nothing;
 * upsides_install() makes it the current one and retires the one before;
 * upside_start() connects.  The proxy's reference is the current one's,
 * and each query holds one (upside_ref()) on the upside it started
 * under, so queries in flight across a reload finish the way they
 * started.  A retired upside is freed once its last query ends, from the
 * event loop (upside_unref()): that may happen inside a callback of one
 * of its own upstreams.  Only the current upside's health changes reach
 * the proxy.
 */
#ifndef DOHSTUB_UPSIDE_H
#define DOHSTUB_UPSIDE_H

#include <sys/queue.h>

#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"

struct discovery;
struct upside;
struct upsides;

/* A configuration the proxy owns, shared by the upsides built from it. */
struct upside_cfg {
	struct config	*cfg;
	unsigned	 refs;
};

/* At most this many plain servers: the address servers and fallback. */
#define UPSIDE_MAX_PLAIN	(CONFIG_MAX_UPSTREAM + CONFIG_MAX_SERVERS)

/*
 * A forward rule's servers: names at or below its zone go there and
 * nowhere else, whatever the mode (a plain rule is the user's exception
 * to encrypted-only), and never fall back to the default servers.
 */
struct route {
	struct upside			*up;
	const struct config_forward	*rule;		/* in up->cfg */
	char				 zone[DNS_MAX_NAME_TEXT];
	struct upstreams		*upstreams;	/* a DoH rule's */
	struct plain			*plain;		/* a plain rule's */
};

struct upside {
	TAILQ_ENTRY(upside)	 entry;	/* home->dead, once unused */
	struct upsides		*home;
	unsigned		 refs;	/* current: 1, plus 1 per query */
	const struct config	*cfg;	/* valid while the upside is */
	struct upside_cfg	*owned;	/* the proxy's, freed with the last
					   upside sharing it */
	SSL_CTX			*ssl_ctx;
	struct plain		*bootstrap;
	/*
	 * The default DoH set: the URL upstreams and the upgraded address
	 * servers' endpoints, in the order written (strings of owned[i]
	 * entries are the upside's).  Upstream i of up->upstreams is
	 * list[i].
	 */
	struct config_upstream	*list;
	int			*list_owned;
	int			*list_addr;	/* list[i] is address server
						   list_addr[i]'s endpoint;
						   -1: a URL upstream */
	size_t			 nlist;
	/*
	 * The plain servers: the address servers themselves, then
	 * fallback (for URL upstreams, or when there is no address server);
	 * none in encrypted-only.  Plain DNS goes to the same address: a
	 * query whose DoH upstream was address server k's endpoint goes
	 * plain to k first (addr_plain[k], the others after it, in order);
	 * one whose DoH upstream was a URL to the fallback servers
	 * (url_plain, when there are both); one that had no DoH upstream
	 * to the first address server first (fallback).  upside_plain()
	 * chooses.
	 */
	struct addr		 plain[UPSIDE_MAX_PLAIN];
	size_t			 nplain;
	struct plain		*fallback;	/* NULL without plain servers;
						   addr_plain[0]'s too */
	struct plain		*addr_plain[CONFIG_MAX_UPSTREAM];
						/* [k]: k first; [0] is
						   fallback, not owned */
	size_t			 naddr;		/* address servers in plain */
	struct plain		*url_plain;	/* fallback servers alone, or
						   NULL: fallback */
	struct upstreams	*upstreams;	/* NULL without a DoH server */
	/*
	 * The network's resolvers, for the portal lease (proxy.h): only in
	 * encrypted-only with captive-portal not off, and then used only
	 * by the proxy's probe and a lease's queries.  The address
	 * servers, then fallback (resolv.conf's nameservers unless set),
	 * each once, at most CONFIG_MAX_SERVERS.
	 */
	struct addr		 portal_servers[UPSIDE_MAX_PLAIN];
	size_t			 nportal;
	struct plain		*portal;	/* NULL: none */
	/* An address server has no result yet (discovery pending). */
	int			 pending;
	/* The address servers left out of the DoH set and why, for
	 * encrypted-only's SERVFAIL text: "192.0.2.53:53: not upgraded
	 * (no SVCB record)"; "" if none. */
	char			 unusable[512];
	struct route		*routes;	/* one per cfg->forward */
	size_t			 nroutes;
};

/* The current upside's default upstreams became usable or unusable. */
typedef void upside_health_cb(struct upside *up, int usable, void *arg);
/* A connection of one of the current upside's default upstreams came up. */
typedef void upside_connected_cb(struct upside *up, void *arg);

/* The proxy's upsides: the current one and those left to free. */
struct upsides {
	struct event_base	*base;
	struct upside		*current;	/* NULL until installed */
	TAILQ_HEAD(, upside)	 dead;		/* retired, unused */
	struct event		*reaper;	/* frees the dead */
	upside_health_cb	*health_cb;
	upside_connected_cb	*connected_cb;
	void			*health_arg;	/* both callbacks' */
};

/*
 * Make ups empty, health_cb and connected_cb (with arg) to be told of the
 * current upside's health and of its connections.  -1 on failure
 * (logged); upsides_clear() is safe either way, and on a zeroed ups.
 */
int	upsides_init(struct upsides *ups, struct event_base *base,
	    upside_health_cb *health_cb, upside_connected_cb *connected_cb,
	    void *arg);

/*
 * Everything cfg's upstream side needs, connecting nothing yet; cfg must
 * outlive it (or be given to it as owned).  disc (may be NULL: none are
 * upgraded yet) has one result per address server of cfg->upstream, in
 * order: those upgraded join the DoH set (config_upstream with pins,
 * verify_ip, no_verify), the others are plain servers where the mode
 * allows plain DNS, and left out (said in unusable) in encrypted-only.
 * In plaintext mode address servers are plain servers and disc is not
 * read.  Not current until upsides_install().  NULL on failure, logged.
 */
struct upside *upside_new(struct upsides *ups, const struct config *cfg,
	    const struct discovery *disc);

/*
 * up owns cfg (a config_free()able heap object) from now on, shared with
 * the upsides that upside_share() it; -1 if memory is short (nothing
 * changed).
 */
int	upside_own(struct upside *up, struct config *cfg);

/* up, built from from's configuration, shares its ownership. */
void	upside_share(struct upside *up, const struct upside *from);

/* The address servers of cfg->upstream (port set), up to max; count. */
size_t	upside_addr_servers(const struct config *cfg, struct addr *out,
	    size_t max);

/*
 * Free up now (NULL: nothing): for one never installed, as when a reload
 * fails half-way.  Installed ones go through upside_unref() and
 * upsides_clear().
 */
void	upside_free(struct upside *up);

/*
 * up becomes current, taking over the proxy's reference; the one before,
 * if any, is retired: freed when its last query ends.
 */
void	upsides_install(struct upsides *ups, struct upside *up);

/* Start connecting up's upstreams (its bootstrap lookups first). */
void	upside_start(struct upside *up);

/* A query's reference; the last upside_unref() of a retired upside
 * frees it from the event loop. */
void	upside_ref(struct upside *up);
void	upside_unref(struct upside *up);

/*
 * Free the current upside and every retired one, now.  No query may
 * hold one any more (proxy_stop() first).
 */
void	upsides_clear(struct upsides *ups);

/*
 * The plain channel for a default-set query whose first DoH upstream was
 * upstream i of up->upstreams (-1: it had none): that address server
 * first, or the fallback servers for a URL upstream (upside.h's struct
 * says how).  NULL without plain servers (encrypted-only).
 */
struct plain *upside_plain(const struct upside *up, int i);

/* The route of the forward rule for qi's name under up, or NULL. */
const struct route *upside_route(const struct upside *up,
	    const struct dns_query_info *qi);

/*
 * 1 if a and b build upsides that send queries the same way (mode,
 * upstreams, fallback servers where used, forward rules), so that
 * answers cached under one stay valid under the other.
 */
int	upside_same(const struct config *a, const struct config *b);

/*
 * The DoH upstreams of up: the default ones, then each DoH rule's.  The
 * count, and the set holding upstream i of that numbering (*i becomes an
 * index into it; *route the rule's, NULL for the default set).
 */
size_t	upside_upstream_count(const struct upside *up);
struct upstreams *upside_upstream_set(const struct upside *up, size_t *i,
	    const struct route **route);

/* The network changed: every DoH set of up checks its connections. */
void	upside_network_changed(struct upside *up);

#endif
