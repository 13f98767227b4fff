/*
 * discovery: known servers and DDR for the address servers (discovery.h).
 * Each entry's run ends in its done event, from the event loop: that is
 * where its throw-away doh_client and plain channel are freed (never from
 * inside one of their own callbacks) and the result is committed.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dohstub/addr.h"
#include "dohstub/clock.h"
#include "dohstub/config.h"
#include "dohstub/ddr.h"
#include "dohstub/discovery.h"
#include "dohstub/doh.h"
#include "dohstub/known.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/tls.h"

/* A failed run is tried again after this long, doubling up to the max. */
#define DISCOVERY_RETRY_MIN_S	60
#define DISCOVERY_RETRY_MAX_S	3600
/* A rerun that failed for a passing reason while an upgrade stands. */
#define DISCOVERY_RETRY_KEEP_S	10

const char *const discovery_upgrade_names[] = {
	"pending", "known", "ddr-verified", "ddr-opportunistic", "none",
};
_Static_assert(sizeof(discovery_upgrade_names) /
    sizeof(discovery_upgrade_names[0]) == DISCOVERY_UPGRADE_MAX,
    "a name per upgrade");

const char *const discovery_fail_names[] = {
	"", "no_answer", "no_record", "no_h2", "no_dohpath", "lookup",
	"certificate", "tls",
};
_Static_assert(sizeof(discovery_fail_names) /
    sizeof(discovery_fail_names[0]) == DISCOVERY_FAIL_MAX,
    "a name per failure");

const char *const discovery_state_names[] = {
	"idle", "query", "lookup", "verify",
};
_Static_assert(sizeof(discovery_state_names) /
    sizeof(discovery_state_names[0]) == DISCOVERY_STATE_MAX,
    "a name per state");

struct discovery;

struct disc_entry {
	struct discovery	*d;
	size_t			 idx;
	enum discovery_state	 state;
	int			 fixed;		/* known, or ddr off: no runs */
	int			 again;		/* rerun asked while running */
	int			 opp_next;	/* verified failed: try
						   opportunistic */
	unsigned		 retry_s;	/* next failure's retry */
	unsigned		 keep_retry_s;	/* the same, upgrade kept */
	uint64_t		 keep_until;	/* ms: a standing upgrade
						   outlives passing failures
						   until then; 0: not yet */
	enum discovery_fail	 vfail;		/* verified failed this run,
						   opportunistic tried */
	char			 vreason[256];	/* and why */
	uint64_t		 counted;	/* plain_wire_sent so far */
	struct discovery_result	 res;		/* the standing result */
	struct discovery_result	 run;		/* the one being made */
	struct ddr_record	 recs[DDR_MAX_RECORDS];	/* this run's */
	size_t			 nrecs;
	struct ddr_endpoint	 ep;
	struct plain		*plain;		/* this run's channel */
	struct plain_req	*req;
	struct doh_client	*verify;	/* this run's handshake */
	struct clock_timer	 timer;		/* the next run */
	struct clock_timer	 guard;		/* this run's deadline */
	struct event		*done;		/* ends the run */
};

struct discovery {
	struct event_base	*base;
	const struct config	*cfg;
	SSL_CTX			*ctx;		/* for the handshakes */
	discovery_cb		*cb;
	void			*arg;
	struct disc_entry	*e;
	size_t			 n;
	int			 started;
	struct discovery_stats	 stats;
};

static void	entry_run(struct disc_entry *);
static void	entry_verify(struct disc_entry *);
static void	entry_choose(struct disc_entry *, unsigned);
static void	lookup_cb(int, const struct addr *, size_t, unsigned, void *);

static void
result_init(struct discovery_result *r, const struct addr *a)
{
	memset(r, 0, sizeof(*r));
	r->addr = *a;
	r->upgrade = DISCOVERY_PENDING;
}

/* "https://host:port/path" for a result's endpoint into buf. */
static const char *
discovery_url(const struct discovery_result *r, char *buf, size_t size)
{
	int v6 = r->host_is_ip && strchr(r->host, ':') != NULL;

	if (r->port == 443)
		snprintf(buf, size, v6 ? "https://[%s]%s" : "https://%s%s",
		    r->host, r->path);
	else
		snprintf(buf, size, v6 ? "https://[%s]:%u%s" :
		    "https://%s:%u%s", r->host, r->port, r->path);
	return buf;
}

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

/* The run failed: kind and a reason, formatted. */
static void __attribute__((format(printf, 3, 4)))
run_fail(struct disc_entry *e, enum discovery_fail kind, const char *fmt,
    ...)
{
	va_list ap;

	e->run.upgrade = DISCOVERY_NONE;
	e->run.fail = kind;
	va_start(ap, fmt);
	vsnprintf(e->run.reason, sizeof(e->run.reason), fmt, ap);
	va_end(ap);
	event_active(e->done, 0, 0);
}

/* What this run's channel sent since last counted. */
static void
count_sent(struct disc_entry *e)
{
	uint64_t n;

	if (e->plain == NULL)
		return;
	n = plain_wire_sent(e->plain);
	e->d->stats.queries += n - e->counted;
	e->counted = n;
}

/*
 * A failure that says nothing about the resolver's designation (no
 * answer, a lookup or a TLS connection that failed): a standing upgrade
 * outlives it for a while.  The others are answers: no record, no h2, no
 * dohpath, a certificate that does not verify, ...
 */
static int
fail_passing(enum discovery_fail kind)
{
	return kind == DISCOVERY_FAIL_NO_ANSWER ||
	    kind == DISCOVERY_FAIL_LOOKUP || kind == DISCOVERY_FAIL_TLS;
}

/* A known server: its URL's name, verified, at its own address. */
static int
entry_known(struct disc_entry *e)
{
	const struct config *cfg = e->d->cfg;
	struct discovery_result *r = &e->res;
	struct config_upstream u;
	const char *url, *provider = "";
	char err[128];

	if ((url = known_lookup(cfg, &r->addr, &provider)) == NULL)
		return 0;
	e->fixed = 1;
	if (config_parse_url(url, &u, err, sizeof(err)) == -1) {
		r->upgrade = DISCOVERY_NONE;
		snprintf(r->reason, sizeof(r->reason), "known-server %.*s: %s",
		    100, url, err);
		return 1;
	}
	r->upgrade = DISCOVERY_KNOWN;
	snprintf(r->provider, sizeof(r->provider), "%s",
	    provider != NULL ? provider : "");
	snprintf(r->host, sizeof(r->host), "%s", u.host);
	snprintf(r->path, sizeof(r->path), "%s", u.path);
	r->port = u.port;
	r->host_is_ip = u.host_is_ip;
	r->pins[0] = r->addr;
	addr_set_port(&r->pins[0], u.port);
	r->npins = 1;
	discovery_url(r, r->url, sizeof(r->url));
	config_upstream_free(&u);
	return 1;
}

/* Two results that build the same upstream (or fail the same way). */
static int
result_same(const struct discovery_result *a,
    const struct discovery_result *b)
{
	if (a->upgrade != b->upgrade)
		return 0;
	if (a->upgrade == DISCOVERY_NONE)
		return strcmp(a->reason, b->reason) == 0;
	return strcmp(a->url, b->url) == 0 &&
	    addr_list_eq(a->pins, a->npins, b->pins, b->npins) &&
	    strcmp(a->verify_ip, b->verify_ip) == 0 &&
	    a->no_verify == b->no_verify;
}

static void
entry_log(const struct disc_entry *e)
{
	const struct discovery_result *r = &e->res;
	char a[ADDR_STRLEN];

	addr_str(&r->addr, a, sizeof(a));
	if (r->upgrade == DISCOVERY_NONE)
		log_warnx("%s: not upgraded to DoH: %s", a, r->reason);
	else
		log_info("%s: upgraded to DoH (%s) at %s%s%s", a,
		    discovery_upgrade_names[r->upgrade], r->url,
		    r->verify_ip[0] != '\0' ? ", certificate lists " : "",
		    r->verify_ip);
}

/* The run is over: free its helpers, commit its result, plan the next. */
static void
entry_done_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct disc_entry *e = arg;
	struct discovery *d = e->d;
	struct discovery_result *r = &e->run;
	char a[ADDR_STRLEN];
	uint64_t now, next_ms, left;
	size_t l;
	int changed;

	(void)fd;
	(void)ev;
	if (e->state == DISCOVERY_IDLE)
		return;
	if (e->opp_next) {
		/* Verified failed, ddr-opportunistic on: same records. */
		e->opp_next = 0;
		doh_free(e->verify);
		e->verify = NULL;
		log_debug("DDR: %s; trying opportunistic", e->vreason);
		r->verify_ip[0] = '\0';
		r->reason[0] = '\0';
		entry_choose(e, DDR_KIND_BIT(DDR_OPPORTUNISTIC));
		return;
	}
	/* Idle first: the helpers' callbacks while they go are no-ops. */
	e->state = DISCOVERY_IDLE;
	clock_timer_del(&e->guard);
	doh_free(e->verify);
	e->verify = NULL;
	count_sent(e);
	plain_free(e->plain);	/* cancels e->req */
	e->plain = NULL;
	e->req = NULL;
	e->counted = 0;
	if (r->upgrade == DISCOVERY_PENDING) {
		r->upgrade = DISCOVERY_NONE;
		r->fail = DISCOVERY_FAIL_NO_ANSWER;
		snprintf(r->reason, sizeof(r->reason),
		    "discovery ended early");
	}
	if (r->upgrade == DISCOVERY_NONE && e->vfail != DISCOVERY_FAIL_NONE) {
		/* The verified failure is the news; opportunistic the rest. */
		char opp[sizeof(r->reason)];

		snprintf(opp, sizeof(opp), "%s", r->reason);
		r->fail = e->vfail;
		l = (size_t)snprintf(r->reason, sizeof(r->reason), "%s",
		    e->vreason);
		if (l < sizeof(r->reason))
			snprintf(r->reason + l, sizeof(r->reason) - l,
			    "; opportunistic: %.*s",
			    (int)(sizeof(r->reason) - l), opp);
	}
	e->vfail = DISCOVERY_FAIL_NONE;
	if (r->upgrade == DISCOVERY_NONE)
		d->stats.failures[r->fail]++;

	/*
	 * A passing failure does not take a working upgrade away at once:
	 * it stands up to one more TTL (of wall time, as the TTL itself)
	 * while the run is retried sooner.
	 */
	now = clock_boot_ms();
	if (r->upgrade == DISCOVERY_NONE && fail_passing(r->fail) &&
	    (e->res.upgrade == DISCOVERY_VERIFIED ||
	    e->res.upgrade == DISCOVERY_OPPORTUNISTIC)) {
		if (e->keep_until == 0) {
			e->keep_until = now + (uint64_t)e->res.ttl * 1000;
			e->keep_retry_s = DISCOVERY_RETRY_KEEP_S;
		}
		if (now < e->keep_until) {
			left = e->keep_until - now;
			next_ms = (uint64_t)e->keep_retry_s * 1000;
			if (next_ms > left)
				next_ms = left;
			e->keep_retry_s = e->keep_retry_s * 2 <
			    DISCOVERY_RETRY_MAX_S ? e->keep_retry_s * 2 :
			    DISCOVERY_RETRY_MAX_S;
			log_warnx("%s: rediscovery failed (%s); keeping %s "
			    "for up to %us more", addr_str(&e->res.addr, a,
			    sizeof(a)), r->reason, e->res.url,
			    (unsigned)((left + 999) / 1000));
			if (e->again) {
				e->again = 0;
				entry_run(e);
			} else
				clock_timer_add(&e->timer, (unsigned)next_ms);
			return;
		}
	}
	e->keep_until = 0;
	d->stats.results[r->upgrade]++;
	if (r->upgrade == DISCOVERY_NONE) {
		next_ms = (uint64_t)e->retry_s * 1000;
		e->retry_s = e->retry_s * 2 < DISCOVERY_RETRY_MAX_S ?
		    e->retry_s * 2 : DISCOVERY_RETRY_MAX_S;
	} else {
		next_ms = (uint64_t)r->ttl * 1000;
		e->retry_s = DISCOVERY_RETRY_MIN_S;
	}
	changed = !result_same(&e->res, r);
	e->res = *r;
	if (changed)
		entry_log(e);
	else
		log_debug("DDR for %s: unchanged", e->res.url[0] != '\0' ?
		    e->res.url : e->res.reason);
	if (e->again) {
		e->again = 0;
		entry_run(e);
	} else
		clock_timer_add(&e->timer, (unsigned)next_ms);
	if (changed && d->cb != NULL)
		d->cb(d, e->idx, d->arg);
}

/* Too long: whatever is out is given up. */
static void
entry_guard_cb(void *arg)
{
	struct disc_entry *e = arg;

	switch (e->state) {
	case DISCOVERY_QUERY:
		run_fail(e, DISCOVERY_FAIL_NO_ANSWER,
		    "no answer to the DDR query");
		break;
	case DISCOVERY_LOOKUP:
		run_fail(e, DISCOVERY_FAIL_LOOKUP, "no answer to the lookup "
		    "of %s", e->ep.host);
		break;
	case DISCOVERY_VERIFY:
		run_fail(e, DISCOVERY_FAIL_TLS, "%s: handshake timed out",
		    e->run.url);
		break;
	default:
		break;
	}
}

static void
entry_timer_cb(void *arg)
{
	entry_run(arg);
}

/* The names a certificate lists, for dohq --discover. */
static void
cert_names(SSL *ssl, char *buf, size_t size)
{
	X509 *x;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	char ip[ADDR_STRLEN];
	struct addr a;
	size_t used = 0;
	int i, n;

	buf[0] = '\0';
	if (ssl == NULL || (x = SSL_get1_peer_certificate(ssl)) == NULL)
		return;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;
	for (i = 0; i < n && used < size; i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			used += (size_t)snprintf(buf + used, size - used,
			    "%sDNS:%.*s", used > 0 ? " " : "",
			    ASN1_STRING_length(g->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(
			    g->d.dNSName));
		else if (g->type == GEN_IPADD) {
			memset(&a, 0, sizeof(a));
			if (ASN1_STRING_length(g->d.iPAddress) == 4) {
				struct sockaddr_in *sin = (void *)&a.ss;
				sin->sin_family = AF_INET;
				memcpy(&sin->sin_addr, ASN1_STRING_get0_data(
				    g->d.iPAddress), 4);
				a.len = sizeof(*sin);
			} else if (ASN1_STRING_length(g->d.iPAddress) == 16) {
				struct sockaddr_in6 *sin6 = (void *)&a.ss;
				sin6->sin6_family = AF_INET6;
				memcpy(&sin6->sin6_addr, ASN1_STRING_get0_data(
				    g->d.iPAddress), 16);
				a.len = sizeof(*sin6);
			} else
				continue;
			used += (size_t)snprintf(buf + used, size - used,
			    "%sIP:%s", used > 0 ? " " : "",
			    addr_ip_str(&a, ip, sizeof(ip)));
		}
	}
	GENERAL_NAMES_free(gens);
	X509_free(x);
}

static void
verify_connected_cb(struct doh_client *c, const struct doh_conn_info *info,
    void *arg)
{
	struct disc_entry *e = arg;
	struct discovery_result *r = &e->run;

	(void)c;
	if (e->state != DISCOVERY_VERIFY || r->upgrade != DISCOVERY_PENDING)
		return;
	cert_names(info->ssl, r->cert_names, sizeof(r->cert_names));
	r->upgrade = e->ep.kind == DDR_OPPORTUNISTIC ?
	    DISCOVERY_OPPORTUNISTIC : DISCOVERY_VERIFIED;
	event_active(e->done, 0, 0);
}

static void
verify_state_cb(struct doh_client *c, enum doh_state old,
    enum doh_state new, void *arg)
{
	struct disc_entry *e = arg;
	const char *err = doh_last_error(c);
	enum discovery_fail kind = DISCOVERY_FAIL_CERTIFICATE;
	char why[sizeof(e->run.reason)];

	(void)old;
	if (e->state != DISCOVERY_VERIFY ||
	    e->run.upgrade != DISCOVERY_PENDING || new != DOH_BACKOFF)
		return;
	/* The URL cut to fit: the reason is one line of /health. */
	if (strstr(err, "IP address mismatch") != NULL)
		snprintf(why, sizeof(why), "certificate of %.150s does not "
		    "list %s", e->run.url, e->run.verify_ip);
	else if (strstr(err, "ostname mismatch") != NULL)
		snprintf(why, sizeof(why), "certificate of %.100s is not "
		    "valid for %.100s", e->run.url, e->run.host);
	else if (strstr(err, "certificate") != NULL)
		snprintf(why, sizeof(why), "%.100s: %.140s", e->run.url, err);
	else {
		kind = DISCOVERY_FAIL_TLS;
		snprintf(why, sizeof(why), "%.100s: %.140s", e->run.url,
		    *err != '\0' ? err : "no DoH connection");
	}
	if (kind == DISCOVERY_FAIL_CERTIFICATE &&
	    e->ep.kind == DDR_VERIFIED && e->d->cfg->ddr_opportunistic &&
	    !e->opp_next) {
		/* Kept: the run's reason and kind if opportunistic fails. */
		e->vfail = kind;
		snprintf(e->vreason, sizeof(e->vreason), "%s", why);
		e->opp_next = 1;
		event_active(e->done, 0, 0);
		return;
	}
	run_fail(e, kind, "%s", why);
}

/* The endpoint is chosen and has addresses: shake hands with it. */
static void
entry_verify(struct disc_entry *e)
{
	struct discovery *d = e->d;
	struct discovery_result *r = &e->run;
	struct doh_params p;
	struct sockaddr_storage ss[DDR_MAX_HINTS];
	socklen_t lens[DDR_MAX_HINTS];
	struct addr tmp;
	char ip[ADDR_STRLEN];
	size_t i;

	e->state = DISCOVERY_VERIFY;
	addr_ip_str(&r->addr, ip, sizeof(ip));
	/*
	 * Opportunistic to the root target: host is the resolver's IP.
	 * Never for verified: the name is what the certificate must be
	 * valid for, and the resolver's IP replaces any IP check (ddr.c
	 * turns IP-literal targets away).
	 */
	snprintf(r->host, sizeof(r->host), "%s", e->ep.host);
	r->host_is_ip = e->ep.kind == DDR_OPPORTUNISTIC &&
	    addr_parse_ip(r->host, strlen(r->host), 0, 0, &tmp) == 0;
	r->port = e->ep.port;
	snprintf(r->path, sizeof(r->path), "%s", e->ep.path);
	r->ttl = e->ep.ttl;
	for (i = 0; i < e->ep.naddrs && i < ADDR_MAX_PER_NAME; i++) {
		r->pins[i] = e->ep.addrs[i];
		addr_set_port(&r->pins[i], r->port);
		memcpy(&ss[i], &r->pins[i].ss, sizeof(ss[i]));
		lens[i] = r->pins[i].len;
	}
	r->npins = i;
	if (e->ep.kind == DDR_OPPORTUNISTIC) {
		r->no_verify = 1;
		snprintf(r->checked, sizeof(r->checked),
		    "nothing (opportunistic: encrypted, not authenticated)");
	} else {
		snprintf(r->verify_ip, sizeof(r->verify_ip), "%s", ip);
		snprintf(r->checked, sizeof(r->checked), "DNS:%s and IP:%s",
		    r->host, ip);
	}
	discovery_url(r, r->url, sizeof(r->url));
	memset(&p, 0, sizeof(p));
	p.host = r->host;
	p.port = r->port;
	p.path = r->path;
	p.host_is_ip = r->host_is_ip;
	p.ssl_ctx = d->ctx;
	p.timeout_ms = d->cfg->timeout_ms;
	p.verify_ip = r->verify_ip;
	p.no_verify = r->no_verify;
	if ((e->verify = doh_new(d->base, &p, verify_state_cb, e)) == NULL) {
		run_fail(e, DISCOVERY_FAIL_TLS, "%s: cannot make a client",
		    r->url);
		return;
	}
	doh_set_connected_cb(e->verify, verify_connected_cb, e);
	doh_set_addrs(e->verify, ss, lens, r->npins);
	doh_connect(e->verify);
}

/*
 * Keep of in[0..n) the addresses that may be connected to (port set to
 * port): no 0.0.0.0, multicast or broadcast (ddr_usable_addr), and not
 * dohstub itself.  The count kept; what was dropped in dropped.
 */
static size_t
usable_addrs(const struct discovery *d, const struct addr *in, size_t n,
    uint16_t port, struct addr *out, size_t max, char *dropped, size_t len)
{
	struct addr a;
	char ip[ADDR_STRLEN];
	size_t i, k = 0, used = 0;

	if (len > 0)
		dropped[0] = '\0';
	for (i = 0; i < n; i++) {
		a = in[i];
		addr_set_port(&a, port);
		if (ddr_usable_addr(&a) && !config_is_ours(d->cfg, &a)) {
			if (k < max)
				out[k++] = a;
			continue;
		}
		if (used < len)
			used += (size_t)snprintf(dropped + used, len - used,
			    "%s%s", used > 0 ? " " : "",
			    addr_ip_str(&a, ip, sizeof(ip)));
	}
	return k;
}

static void
lookup_cb(int status, const struct addr *addrs, size_t n, unsigned ttl,
    void *arg)
{
	struct disc_entry *e = arg;
	char dropped[128];

	(void)ttl;
	e->req = NULL;
	if (e->state != DISCOVERY_LOOKUP)
		return;
	count_sent(e);
	if (status != 0 || n == 0) {
		run_fail(e, DISCOVERY_FAIL_LOOKUP, "lookup of %s at the "
		    "resolver failed", e->ep.host);
		return;
	}
	e->ep.naddrs = usable_addrs(e->d, addrs, n, e->ep.port, e->ep.addrs,
	    DDR_MAX_HINTS, dropped, sizeof(dropped));
	if (e->ep.naddrs == 0) {
		/* An answer, not a passing failure. */
		run_fail(e, DISCOVERY_FAIL_NO_RECORD, "hint not usable: %s "
		    "at the resolver is %s", e->ep.host, dropped);
		return;
	}
	entry_verify(e);
}

/* The counter for a reason ddr_choose_kinds() gave. */
static enum discovery_fail
choose_fail(enum ddr_reason reason)
{
	switch (reason) {
	case DDR_NO_H2:
		return DISCOVERY_FAIL_NO_H2;
	case DDR_NO_DOHPATH:
		return DISCOVERY_FAIL_NO_DOHPATH;
	default:
		return DISCOVERY_FAIL_NO_RECORD;
	}
}

/*
 * Choose among the run's records with kinds allowed, then get the
 * endpoint's addresses (hints, the resolver itself, or a lookup) and
 * verify it.
 */
static void
entry_choose(struct disc_entry *e, unsigned kinds)
{
	struct discovery *d = e->d;
	struct discovery_result *r = &e->run;
	enum ddr_reason reason;
	char why[256];

	memset(&e->ep, 0, sizeof(e->ep));
	if (ddr_choose_kinds(e->recs, e->nrecs, &r->addr, kinds, &e->ep,
	    &reason, why, sizeof(why), r->skipped, sizeof(r->skipped)) ==
	    -1) {
		run_fail(e, choose_fail(reason), "%s", why);
		return;
	}
	if (e->ep.naddrs > 0) {
		char dropped[128];

		e->ep.naddrs = usable_addrs(d, e->ep.addrs, e->ep.naddrs,
		    e->ep.port, e->ep.addrs, DDR_MAX_HINTS, dropped,
		    sizeof(dropped));
		if (e->ep.naddrs == 0) {
			run_fail(e, DISCOVERY_FAIL_NO_RECORD, "hint not "
			    "usable: %s", dropped);
			return;
		}
		entry_verify(e);
		return;
	}
	/* No hint: the target's address from that same resolver. */
	e->state = DISCOVERY_LOOKUP;
	if ((e->req = plain_resolve(e->plain, e->ep.host, e->ep.port,
	    lookup_cb, e)) == NULL)
		run_fail(e, DISCOVERY_FAIL_LOOKUP, "cannot look up %s",
		    e->ep.host);
}

static void
query_cb(int status, const uint8_t *ans, size_t len, void *arg)
{
	struct disc_entry *e = arg;
	struct discovery *d = e->d;
	struct discovery_result *r = &e->run;
	const char *why = NULL;
	char line[DNS_MAX_NAME_TEXT + 300];
	size_t used = 0;
	int n, i;

	e->req = NULL;
	if (e->state != DISCOVERY_QUERY)
		return;
	count_sent(e);
	if (status != 0) {
		run_fail(e, DISCOVERY_FAIL_NO_ANSWER,
		    "no answer to the DDR query");
		return;
	}
	if ((n = ddr_parse(ans, len, e->recs, DDR_MAX_RECORDS, &why)) ==
	    -1) {
		run_fail(e, DISCOVERY_FAIL_NO_ANSWER, "bad answer to the DDR "
		    "query: %s", why != NULL ? why : "malformed");
		return;
	}
	for (i = 0; i < n; i++) {
		/* A record longer than the line is shown cut, not left out. */
		if (ddr_record_str(&e->recs[i], line, sizeof(line)) == -1 &&
		    sizeof(line) > 4)
			memcpy(line + sizeof(line) - 4, "...", 4);
		used += (size_t)snprintf(r->records + used,
		    sizeof(r->records) - used, "%s\n", line);
		if (used >= sizeof(r->records))
			break;
	}
	e->nrecs = (size_t)n;
	entry_choose(e, DDR_KIND_BIT(DDR_VERIFIED) |
	    (d->cfg->ddr_opportunistic ? DDR_KIND_BIT(DDR_OPPORTUNISTIC) : 0));
}

/* Start a run of e (DDR), unless one is under way. */
static void
entry_run(struct disc_entry *e)
{
	struct discovery *d = e->d;
	const struct config *cfg = d->cfg;
	uint8_t q[512];
	uint16_t id;
	size_t len;

	if (e->fixed)
		return;
	if (e->state != DISCOVERY_IDLE) {
		e->again = 1;
		return;
	}
	clock_timer_del(&e->timer);
	result_init(&e->run, &e->res.addr);
	memset(&e->ep, 0, sizeof(e->ep));
	e->vfail = DISCOVERY_FAIL_NONE;
	e->counted = 0;
	e->state = DISCOVERY_QUERY;
	clock_timer_add(&e->guard, cfg->timeout_ms * 4);
	arc4random_buf(&id, sizeof(id));
	if ((len = ddr_make_query(q, sizeof(q), id)) == 0 ||
	    (e->plain = plain_new(d->base, &e->res.addr, 1, cfg->timeout_ms,
	    PLAIN_ROLE_DISCOVERY)) == NULL) {
		run_fail(e, DISCOVERY_FAIL_NO_ANSWER, "cannot send the DDR "
		    "query");
		return;
	}
	if ((e->req = plain_forward(e->plain, q, len, query_cb, e)) == NULL)
		run_fail(e, DISCOVERY_FAIL_NO_ANSWER, "cannot send the DDR "
		    "query");
}

struct discovery *
discovery_new(struct event_base *base, const struct config *cfg,
    const struct addr *addrs, size_t n, const struct discovery *prev,
    discovery_cb *cb, void *arg)
{
	struct discovery *d;
	struct disc_entry *e;
	const struct discovery_result *pr;
	struct tls_opts topts;
	char err[256];
	size_t i, j;

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (n > 0 && (d->e = calloc(n, sizeof(*d->e))) == NULL)) {
		log_warn("discovery");
		free(d);
		return NULL;
	}
	d->base = base;
	d->cfg = cfg;
	d->cb = cb;
	d->arg = arg;
	if (prev != NULL)
		d->stats = prev->stats;
	memset(&topts, 0, sizeof(topts));
	topts.ca_file = cfg->ca_file;
	topts.min_version = cfg->tls_min_version;
	if ((d->ctx = tls_ctx_new(&topts, err, sizeof(err))) == NULL) {
		log_warnx("discovery: %s", err);
		goto fail;
	}
	for (i = 0; i < n; i++, d->n++) {
		e = &d->e[i];
		e->d = d;
		e->idx = i;
		e->retry_s = DISCOVERY_RETRY_MIN_S;
		/* DDR TTLs and retries age in sleep too (clock.h). */
		clock_timer_init_boot(&e->timer, base, entry_timer_cb, e);
		clock_timer_init(&e->guard, base, entry_guard_cb, e);
		result_init(&e->res, &addrs[i]);
		if ((e->done = event_new(base, -1, 0, entry_done_cb, e)) ==
		    NULL) {
			log_warnx("discovery: event_new");
			d->n++;
			goto fail;
		}
		if (entry_known(e)) {
			/* Counted once: when first seen, at start or reload. */
			for (j = 0; prev != NULL && j < prev->n; j++)
				if (addr_eq(&prev->e[j].res.addr, &addrs[i]) &&
				    prev->e[j].res.upgrade == e->res.upgrade &&
				    strcmp(prev->e[j].res.url, e->res.url) == 0)
					break;
			if (prev == NULL || j == prev->n)
				d->stats.results[e->res.upgrade]++;
			continue;
		}
		if (!cfg->ddr) {
			e->fixed = 1;
			e->res.upgrade = DISCOVERY_NONE;
			snprintf(e->res.reason, sizeof(e->res.reason),
			    "not a known server, and ddr is off");
			continue;
		}
		/* A working upgrade stands while the rerun goes on, if the
		 * settings still allow it. */
		for (j = 0; prev != NULL && j < prev->n; j++) {
			pr = &prev->e[j].res;
			if (!addr_eq(&pr->addr, &addrs[i]) ||
			    pr->upgrade == DISCOVERY_PENDING ||
			    pr->upgrade == DISCOVERY_KNOWN ||
			    (pr->upgrade == DISCOVERY_OPPORTUNISTIC &&
			    !cfg->ddr_opportunistic))
				continue;
			e->res = *pr;
			break;
		}
	}
	return d;
 fail:
	discovery_free(d);
	return NULL;
}

void
discovery_start(struct discovery *d)
{
	size_t i;

	if (d->started)
		return;
	d->started = 1;
	for (i = 0; i < d->n; i++)
		entry_run(&d->e[i]);
}

void
discovery_rerun(struct discovery *d)
{
	size_t i;

	if (d == NULL || !d->started)
		return;
	for (i = 0; i < d->n; i++)
		entry_run(&d->e[i]);
}

size_t
discovery_count(const struct discovery *d)
{
	return d != NULL ? d->n : 0;
}

const struct discovery_result *
discovery_result(const struct discovery *d, size_t i)
{
	return d != NULL && i < d->n ? &d->e[i].res : NULL;
}

enum discovery_state
discovery_state(const struct discovery *d, size_t i)
{
	return d != NULL && i < d->n ? d->e[i].state : DISCOVERY_IDLE;
}

int
discovery_pending(const struct discovery *d)
{
	size_t i;

	for (i = 0; d != NULL && i < d->n; i++)
		if (d->e[i].res.upgrade == DISCOVERY_PENDING)
			return 1;
	return 0;
}

const struct discovery_stats *
discovery_stats(const struct discovery *d)
{
	return &d->stats;
}

void
discovery_free(struct discovery *d)
{
	struct disc_entry *e;
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n; i++) {
		e = &d->e[i];
		e->state = DISCOVERY_IDLE;
		clock_timer_del(&e->timer);
		clock_timer_del(&e->guard);
		doh_free(e->verify);
		plain_free(e->plain);
		if (e->done != NULL)
			event_free(e->done);
	}
	free(d->e);
	SSL_CTX_free(d->ctx);
	free(d);
}
