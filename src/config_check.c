/*
 * config_check: config_finalize, the last step of loading a configuration
 * once every source is read.  What was left unset and depends on the rest
 * is filled in (listen; fallback, bootstrap and, in an encrypted mode
 * with no upstream, the address servers from resolv.conf), then the
 * settings are checked against each other and the files they name.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"
#include "dohstub/local.h"
#include "dohstub/log.h"
#include "dohstub/resolvconf.h"

#include "config_int.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Would a query sent to a reach dohstub itself?  A wildcard listener takes
 * the loopback addresses too; an IPv6 one may be dual-stack.
 */
int
config_is_ours(const struct config *cfg, const struct addr *a)
{
	const struct addr *l;
	size_t i;

	for (i = 0; i < cfg->nlisten; i++) {
		l = &cfg->listen[i];
		if (addr_port(l) != addr_port(a))
			continue;
		if (addr_same_ip(l, a))
			return 1;
		if (addr_is_wildcard(l) && addr_is_loopback(a) &&
		    (l->ss.ss_family == a->ss.ss_family ||
		    l->ss.ss_family == AF_INET6))
			return 1;
	}
	return 0;
}

static int
config_skip_ours(const struct addr *a, const void *arg)
{
	return config_is_ours(arg, a);
}

/*
 * The nameservers of a resolv.conf that are not dohstub itself.  A missing
 * file gives none; any other failure to read it (out of memory, say) is
 * -1 with errno set, not "none".
 */
static ssize_t
config_nameservers(const struct config *cfg, const char *path,
    struct addr *out, size_t max)
{
	char *buf;
	size_t len, n;

	if (config_slurp(path, &buf, &len) == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	n = resolvconf_nameservers(buf, len, out, max, config_skip_ours, cfg);
	free(buf);
	return (ssize_t)n;
}

static int
config_check_loops(const struct config *cfg, const char *key,
    const struct addr *list, size_t n, char *err, size_t errlen)
{
	char a[ADDR_STRLEN];
	size_t i;

	for (i = 0; i < n; i++)
		if (config_is_ours(cfg, &list[i])) {
			config_errf(err, errlen, "%s: %s is one of our listen "
			    "addresses (a loop)", key,
			    addr_str(&list[i], a, sizeof(a)));
			return -1;
		}
	return 0;
}

/*
 * An upstream (key names it for messages) must be reachable: an IP, a
 * resolve pin or a bootstrap server; and method get needs a path
 * without a query of its own.
 */
static int
config_check_upstream(const struct config *cfg, const char *key,
    const struct config_upstream *u, int need_addr, char *err, size_t errlen)
{
	char a[ADDR_STRLEN];

	/* An address server is a plain server too: it must not be us. */
	if (u->is_addr) {
		if (config_is_ours(cfg, &u->addr)) {
			config_errf(err, errlen, "%s: %s is one of our listen "
			    "addresses (a loop)", key,
			    addr_str(&u->addr, a, sizeof(a)));
			return -1;
		}
		return 0;
	}
	if (need_addr && !u->host_is_ip && cfg->nbootstrap == 0 &&
	    config_find_resolve(cfg, u->host, u->port) == NULL) {
		config_errf(err, errlen, "%s: %s: no resolve pin for %s:%u and "
		    "no bootstrap server", key, u->url, u->host, u->port);
		return -1;
	}
	if (cfg->method == METHOD_GET && strchr(u->path, '?') != NULL) {
		config_errf(err, errlen, "%s: %s: method get adds its own "
		    "query; this path needs method post", key, u->url);
		return -1;
	}
	return 0;
}

/* Every forward rule is used in every mode, its DoH URLs included. */
static int
config_check_forward(const struct config *cfg, char *err, size_t errlen)
{
	const struct config_forward *f;
	char key[sizeof("forward ") + DNS_MAX_NAME_TEXT];
	char name[DNS_MAX_NAME_TEXT];
	size_t i, j;

	for (i = 0; i < cfg->nforward; i++) {
		f = &cfg->forward[i];
		(void)dnsmsg_name_to_text(f->zone.name, f->zone.len, name,
		    sizeof(name), 0);
		snprintf(key, sizeof(key), "forward %s", name);
		if (config_check_loops(cfg, key, f->servers, f->nservers, err,
		    errlen) == -1)
			return -1;
		for (j = 0; j < f->nupstream; j++)
			if (config_check_upstream(cfg, key, &f->upstream[j], 1,
			    err, errlen) == -1)
				return -1;
	}
	return 0;
}

/*
 * Zero configuration: the nameservers ns[0..n) become address servers.
 * Returns 0, or -1 (out of memory) with what was added freed.
 */
static int
config_upstream_from(struct config *cfg, const struct addr *ns, size_t n)
{
	struct config_upstream *u;
	char ip[ADDR_STRLEN];
	size_t i;

	for (i = 0; i < n && i < CONFIG_MAX_UPSTREAM; i++) {
		u = &cfg->upstream[i];
		memset(u, 0, sizeof(*u));
		/* Port 53 (resolv.conf has no other): written as the IP. */
		if ((u->url = strdup(addr_ip_str(&ns[i], ip, sizeof(ip)))) ==
		    NULL) {
			while (i-- > 0)
				config_upstream_free(&cfg->upstream[i]);
			return -1;
		}
		u->is_addr = 1;
		u->addr = ns[i];
		u->port = addr_port(&ns[i]);
	}
	cfg->nupstream = i;
	return 0;
}

/* Is an upstream (in an encrypted mode) or a DoH rule's server a name
 * with no resolve pin, to be looked up through the bootstrap servers? */
static int
config_needs_bootstrap(const struct config *cfg)
{
	const struct config_upstream *u;
	size_t i, j;

	for (i = 0; cfg->mode != MODE_PLAINTEXT && i < cfg->nupstream; i++) {
		u = &cfg->upstream[i];
		/* Known or discovered at its own address: no lookup. */
		if (!u->is_addr && !u->host_is_ip &&
		    config_find_resolve(cfg, u->host, u->port) == NULL)
			return 1;
	}
	for (i = 0; i < cfg->nforward; i++)
		for (j = 0; j < cfg->forward[i].nupstream; j++) {
			u = &cfg->forward[i].upstream[j];
			if (!u->host_is_ip &&
			    config_find_resolve(cfg, u->host, u->port) == NULL)
				return 1;
		}
	return 0;
}

/*
 * The trust anchors: trust-anchor's file; unset, the default file if it
 * exists, else those built in.  An error names the file and its line.
 */
static int
config_anchors(struct config *cfg, char *err, size_t errlen)
{
	struct dnssec_anchor *a, *na;
	const char *path = cfg->trust_anchor, *text = dnssec_root_anchors;
	char reason[CONFIG_ERRLEN], *buf = NULL;
	size_t len = strlen(dnssec_root_anchors), n;
	int e;

	free(cfg->anchors);
	cfg->anchors = NULL;
	cfg->nanchors = 0;
	if (path == NULL)
		path = config_trust_anchor_default;
	if (config_slurp(path, &buf, &len) == -1) {
		if (cfg->trust_anchor != NULL || errno != ENOENT) {
			e = errno;
			config_errf(err, errlen, "trust-anchor: %s: %s", path,
			    strerror(e));
			errno = e;
			return -1;
		}
		path = NULL;
		len = strlen(dnssec_root_anchors);
	} else
		text = buf;
	reason[0] = '\0';
	if ((a = calloc(CONFIG_MAX_ANCHORS, sizeof(*a))) == NULL) {
		free(buf);
		config_errf(err, errlen, "trust-anchor: out of memory");
		return -1;
	}
	if (dnssec_anchor_parse(text, len, a, CONFIG_MAX_ANCHORS, &n, reason,
	    sizeof(reason)) == -1 || n == 0) {
		if (n == 0 && reason[0] == '\0')
			snprintf(reason, sizeof(reason), "no DS or DNSKEY "
			    "record");
		config_errf(err, errlen, "trust-anchor: %s: %s", path != NULL ?
		    path : "built in", reason);
		free(a);
		free(buf);
		errno = EINVAL;
		return -1;
	}
	free(buf);
	if ((na = realloc(a, n * sizeof(*a))) != NULL)
		a = na;
	cfg->anchors = a;
	cfg->nanchors = n;
	cfg->anchors_from = path == NULL ? "built in" :
	    cfg->trust_anchor != NULL ? cfg->trust_anchor :
	    config_trust_anchor_default;
	return 0;
}

/*
 * The first trust anchor whose owner is at or below the zone (wire form),
 * or NULL: a negative trust anchor there would override it.
 */
static const struct dnssec_anchor *
config_anchor_under(const struct config *cfg, const uint8_t *name,
    size_t len)
{
	size_t i;

	for (i = 0; i < cfg->nanchors; i++)
		if (dnsmsg_name_below(cfg->anchors[i].owner,
		    cfg->anchors[i].owner_len, name, len))
			return &cfg->anchors[i];
	return NULL;
}

/*
 * Add the zone (wire form) to cfg->insecure, once; not one at or above
 * a trust anchor (RFC 7646 never lets a negative trust anchor undo a
 * configured one): a default or a forward rule's zone is left out, with
 * a log line.  dnssec-insecure's own were checked before.
 */
static void
config_insecure_add(struct config *cfg, const uint8_t *name, size_t len)
{
	const struct dnssec_anchor *a;
	char zone[DNS_MAX_NAME_TEXT], owner[DNS_MAX_NAME_TEXT];
	size_t i;

	if ((a = config_anchor_under(cfg, name, len)) != NULL) {
		dnsmsg_name_to_text(name, len, zone, sizeof(zone), 0);
		dnsmsg_name_to_text(a->owner, a->owner_len, owner,
		    sizeof(owner), 0);
		log_info("%s is validated, not taken as insecure: a trust "
		    "anchor (%s, key tag %u) is at or below it", zone, owner,
		    a->tag);
		return;
	}
	for (i = 0; i < cfg->ninsecure; i++)
		if (dnsmsg_name_equal(cfg->insecure[i].name,
		    cfg->insecure[i].len, name, len))
			return;
	memcpy(cfg->insecure[cfg->ninsecure].name, name, len);
	cfg->insecure[cfg->ninsecure++].len = len;
}

/* Add a zone in text; "A-B.rest" adds A.rest to B.rest. */
static void
config_insecure_text(struct config *cfg, const char *text)
{
	struct config_zone z;
	char buf[DNS_MAX_NAME_TEXT];
	const char *rest;
	unsigned lo, hi, i;
	int n;

	if (sscanf(text, "%u-%u.%n", &lo, &hi, &n) == 2 && lo <= hi) {
		rest = text + n;
		for (i = lo; i <= hi; i++) {
			snprintf(buf, sizeof(buf), "%u.%s", i, rest);
			config_insecure_text(cfg, buf);
		}
		return;
	}
	if ((z.len = dnsmsg_name_from_text(text, z.name, sizeof(z.name))) != 0)
		config_insecure_add(cfg, z.name, z.len);
}

/* Is the zone (text) local-zone-exempt, or below such a zone? */
static int
config_exempt(const struct config *cfg, const char *text)
{
	struct config_zone z;
	size_t i;

	if ((z.len = dnsmsg_name_from_text(text, z.name, sizeof(z.name))) == 0)
		return 0;
	for (i = 0; i < cfg->nlocal_exempt; i++)
		if (dnsmsg_name_below(z.name, z.len, cfg->local_exempt[i].name,
		    cfg->local_exempt[i].len))
			return 1;
	return 0;
}

/*
 * Every zone validation takes as insecure (RFC 7646): those configured,
 * the built-in ones, the local zones answered here (nothing upstream
 * could sign them) and the forward rules' zones (their servers are
 * private ones, whose data no public chain covers); none at or above a
 * trust anchor's owner, which the validator would otherwise never reach
 * (it looks for negative trust anchors first): a configured one is an
 * error, the others are left out.
 */
static int
config_insecure(struct config *cfg, char *err, size_t errlen)
{
	const struct dnssec_anchor *a;
	char zone[DNS_MAX_NAME_TEXT], owner[DNS_MAX_NAME_TEXT];
	const char *t;
	size_t i, room = cfg->ndnssec_insecure + cfg->nforward;
	unsigned lo, hi;

	for (i = 0; (t = config_insecure_defaults[i]) != NULL; i++)
		room += sscanf(t, "%u-%u.", &lo, &hi) == 2 && lo <= hi ?
		    hi - lo + 1 : 1;
	for (i = 0; local_zone_name(i) != NULL; i++)
		room++;
	free(cfg->insecure);
	cfg->ninsecure = 0;
	if ((cfg->insecure = calloc(room, sizeof(*cfg->insecure))) == NULL) {
		config_errf(err, errlen, "dnssec-insecure: out of memory");
		return -1;
	}
	for (i = 0; i < cfg->ndnssec_insecure; i++) {
		if ((a = config_anchor_under(cfg, cfg->dnssec_insecure[i].name,
		    cfg->dnssec_insecure[i].len)) != NULL) {
			dnsmsg_name_to_text(cfg->dnssec_insecure[i].name,
			    cfg->dnssec_insecure[i].len, zone, sizeof(zone), 0);
			dnsmsg_name_to_text(a->owner, a->owner_len, owner,
			    sizeof(owner), 0);
			config_errf(err, errlen, "dnssec-insecure %s: the trust "
			    "anchor for %s (key tag %u) is at or below it; a "
			    "negative trust anchor cannot override it", zone,
			    owner, a->tag);
			return -1;
		}
		config_insecure_add(cfg, cfg->dnssec_insecure[i].name,
		    cfg->dnssec_insecure[i].len);
	}
	for (i = 0; (t = config_insecure_defaults[i]) != NULL; i++)
		config_insecure_text(cfg, t);
	for (i = 0; (t = local_zone_name(i)) != NULL; i++)
		if (!config_exempt(cfg, t))
			config_insecure_text(cfg, t);
	for (i = 0; i < cfg->nforward; i++)
		config_insecure_add(cfg, cfg->forward[i].zone.name,
		    cfg->forward[i].zone.len);
	return 0;
}

int
config_dnssec_load(struct config *cfg, char *err, size_t errlen)
{
	if (config_anchors(cfg, err, errlen) == -1 ||
	    config_insecure(cfg, err, errlen) == -1)
		return -1;
	return 0;
}

int
config_finalize(struct config *cfg, const char *resolv_conf, char *err,
    size_t errlen)
{
	struct addr ns[CONFIG_MAX_SERVERS];
	const struct config_resolve *r;
	char a[ADDR_STRLEN];
	struct stat st;
	size_t i, j, nns = 0;
	ssize_t got;
	int fd, encrypted, isdir, has_addr;

	if (cfg->nlisten == 0) {
		addr_parse("127.0.0.1", CONFIG_DNS_PORT, &cfg->listen[0],
		    NULL, 0);
		addr_parse("::1", CONFIG_DNS_PORT, &cfg->listen[1], NULL,
		    0);
		cfg->nlisten = 2;
	}
	if (cfg->resolv_conf != NULL)
		resolv_conf = cfg->resolv_conf;
	encrypted = cfg->mode == MODE_ENCRYPTED_ONLY ||
	    cfg->mode == MODE_ENCRYPTED_PREFERRED;
	if ((cfg->nfallback == 0 || cfg->nbootstrap == 0 ||
	    (encrypted && cfg->nupstream == 0)) && resolv_conf != NULL) {
		if ((got = config_nameservers(cfg, resolv_conf, ns,
		    nitems(ns))) == -1) {
			config_errf(err, errlen, "%s: cannot read: %s",
			    resolv_conf, strerror(errno));
			return -1;
		}
		nns = (size_t)got;
	}
	/* Zero configuration: the host's resolvers, upgraded by the engine
	 * (known servers, DDR) as if each were written as an address. */
	if (encrypted && cfg->nupstream == 0 && nns > 0) {
		if (config_upstream_from(cfg, ns, nns) == -1) {
			config_errf(err, errlen, "upstream: out of memory");
			return -1;
		}
		cfg->upstream_from_resolv = 1;
	}
	/* Noted only where the list is used: a change of resolv.conf
	 * then reloads (dohstub.c), which costs every connection. */
	if (cfg->nfallback == 0) {
		memcpy(cfg->fallback, ns, nns * sizeof(ns[0]));
		cfg->nfallback = nns;
		cfg->fallback_from_resolv = resolv_conf != NULL &&
		    cfg->mode != MODE_ENCRYPTED_ONLY;
	}
	if (cfg->nbootstrap == 0) {
		memcpy(cfg->bootstrap, ns, nns * sizeof(ns[0]));
		cfg->nbootstrap = nns;
		cfg->bootstrap_from_resolv = resolv_conf != NULL &&
		    config_needs_bootstrap(cfg);
	}

	for (i = 0, has_addr = 0; i < cfg->nupstream; i++)
		has_addr |= cfg->upstream[i].is_addr;
	for (i = 0; i < cfg->nlisten; i++)
		for (j = 0; j < i; j++)
			if (addr_eq(&cfg->listen[i], &cfg->listen[j])) {
				config_errf(err, errlen, "listen: %s is listed "
				    "twice", addr_str(&cfg->listen[i],
				    a, sizeof(a)));
				return -1;
			}
	/* A lone client (the host itself) keeps half; others the rest. */
	if (cfg->max_pending_client == CONFIG_PER_CLIENT_AUTO)
		cfg->max_pending_client = cfg->max_pending > 1 ?
		    cfg->max_pending / 2 : 1;
	if (cfg->max_pending_client > cfg->max_pending) {
		config_errf(err, errlen, "max-pending-per-client: %u is more "
		    "than max-pending (%u); 0 turns the cap off",
		    cfg->max_pending_client, cfg->max_pending);
		return -1;
	}
	if (encrypted && cfg->nupstream == 0) {
		config_errf(err, errlen, "upstream: none set and none found "
		    "in %s", resolv_conf != NULL ? resolv_conf : "resolv.conf");
		return -1;
	}
	/* An address server is its own plain server (plaintext, and
	 * encrypted-preferred while its DoH does not work). */
	if (cfg->mode != MODE_ENCRYPTED_ONLY && cfg->nfallback == 0 &&
	    !has_addr) {
		config_errf(err, errlen, "fallback: none set and none found "
		    "in %s", resolv_conf != NULL ? resolv_conf : "resolv.conf");
		return -1;
	}
	for (i = 0; i < cfg->nlisten && cfg->metrics.len != 0; i++)
		if (addr_eq(&cfg->metrics, &cfg->listen[i])) {
			config_errf(err, errlen, "metrics: %s is also a listen "
			    "address", addr_str(&cfg->metrics, a,
			    sizeof(a)));
			return -1;
		}
	if (config_check_loops(cfg, "fallback", cfg->fallback,
	    cfg->nfallback, err, errlen) == -1 ||
	    config_check_loops(cfg, "bootstrap", cfg->bootstrap,
	    cfg->nbootstrap, err, errlen) == -1)
		return -1;
	if (config_check_forward(cfg, err, errlen) == -1)
		return -1;
	for (i = 0; i < cfg->nknown; i++)
		for (j = 0; j < i; j++)
			if (addr_same_ip(&cfg->known[i].addr,
			    &cfg->known[j].addr)) {
				config_errf(err, errlen, "known-server: %s is "
				    "listed twice", addr_ip_str(
				    &cfg->known[i].addr, a, sizeof(a)));
				return -1;
			}
	/* Their URLs are upstreams too: method get adds its own query. */
	for (i = 0; i < cfg->nknown; i++)
		if (cfg->method == METHOD_GET &&
		    strchr(cfg->known[i].url, '?') != NULL) {
			config_errf(err, errlen, "known-server %s: %s: method "
			    "get adds its own query; this path needs method "
			    "post", addr_ip_str(&cfg->known[i].addr, a,
			    sizeof(a)), cfg->known[i].url);
			return -1;
		}
	for (i = 0; i < cfg->nresolve; i++) {
		r = &cfg->resolve[i];
		if (config_find_resolve(cfg, r->host, r->port) != r) {
			config_errf(err, errlen, "resolve: %s:%u is pinned "
			    "twice", r->host, r->port);
			return -1;
		}
	}
	for (i = 0; i < cfg->nupstream; i++)
		if (config_check_upstream(cfg, "upstream", &cfg->upstream[i],
		    encrypted, err, errlen) == -1)
			return -1;
	if (config_dnssec_load(cfg, err, errlen) == -1)
		return -1;
	/* The writer opens it (querylog.h); a directory never works. */
	if (cfg->query_log != NULL && cfg->query_log[0] == '/' &&
	    stat(cfg->query_log, &st) == 0 && S_ISDIR(st.st_mode)) {
		config_errf(err, errlen, "query-log: %s: %s", cfg->query_log,
		    strerror(EISDIR));
		return -1;
	}
	if (cfg->ca_file != NULL) {
		if ((fd = open(cfg->ca_file, O_RDONLY | O_CLOEXEC)) == -1) {
			config_errf(err, errlen, "ca-file: %s: %s",
			    cfg->ca_file, strerror(errno));
			return -1;
		}
		/* open(2) reads a directory too; the TLS store would not. */
		isdir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
		close(fd);
		if (isdir) {
			config_errf(err, errlen, "ca-file: %s: %s",
			    cfg->ca_file, strerror(EISDIR));
			return -1;
		}
	}
	return 0;
}
