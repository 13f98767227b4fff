/*
 * control: the control socket (control.h).  The parser and the
 * formatting are pure (they write to a stdio stream), so the unit test
 * and the fuzzer drive them without a socket; the server below is one
 * listener and at most CONTROL_MAX_CONN connections, each a bufferevent
 * that reads one line, answers it and closes.
 *
 * A lookup is a client query of the proxy's like any other: its peer
 * (struct control_lookup) is owned by the proxy from proxy_lookup() to
 * its release, and outlives its connection if need be (a timeout, the
 * client gone, control_free()), as listen.c's peers outlive their
 * sockets.  The observer (control_on_answer()) tells it where the
 * answer came from.  Connections are torn down from an event of their
 * own, never from inside a callback that is running for them.
 */
#define _GNU_SOURCE		/* struct ucred */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "dohstub/addr.h"
#include "dohstub/cache.h"
#include "dohstub/config.h"
#include "dohstub/control.h"
#include "dohstub/discovery.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"
#include "dohstub/listen.h"
#include "dohstub/log.h"
#include "dohstub/metrics.h"
#include "dohstub/proxy.h"
#include "dohstub/querylog.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define CONTROL_MAX_WORDS	4	/* --json VERB NAME TYPE */
#define CONTROL_EDNS_SIZE	1232

const char *const control_verb_names[CONTROL_VERB_MAX] = {
	"status", "stats", "flush", "reload", "lookup", "captive-portal",
	"help",
};

/* Arguments each verb takes, at least and at most. */
static const struct {
	int	min, max;
	const char *usage;
} verb_args[CONTROL_VERB_MAX] = {
	[CONTROL_STATUS] = { 0, 0, "status" },
	[CONTROL_STATS] = { 0, 0, "stats" },
	[CONTROL_FLUSH] = { 0, 2, "flush [NAME [TYPE]]" },
	[CONTROL_RELOAD] = { 0, 0, "reload" },
	[CONTROL_LOOKUP] = { 1, 2, "lookup NAME [TYPE]" },
	[CONTROL_PORTAL] = { 0, 0, "captive-portal" },
	[CONTROL_HELP] = { 0, 0, "help" },
};

static const char *const verb_help[CONTROL_VERB_MAX] = {
	[CONTROL_STATUS] = "mode, health, upstreams, cache, portal lease",
	[CONTROL_STATS] = "every counter",
	[CONTROL_FLUSH] = "drop cache entries: all, a name's, a name and "
	    "type's",
	[CONTROL_RELOAD] = "read the configuration again",
	[CONTROL_LOOKUP] = "a query through the proxy, and where its answer "
	    "came from",
	[CONTROL_PORTAL] = "open a captive portal lease",
	[CONTROL_HELP] = "this list",
};

int
control_parse(const char *line, size_t len, struct control_req *req,
    const char **why)
{
	char buf[CONTROL_MAX_LINE + 1];
	char *w[CONTROL_MAX_WORDS + 1], *p;
	size_t i, nw = 0, first = 0;
	unsigned char c;
	uint16_t type;
	int v;

	memset(req, 0, sizeof(*req));
	req->qtype = -1;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > CONTROL_MAX_LINE) {
		*why = "request too long";
		return -1;
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)line[i];
		if ((c < ' ' && c != '\t') || c == 0x7f) {
			*why = "control character in the request";
			return -1;
		}
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (p = buf; *p != '\0';) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (nw == nitems(w)) {
			*why = "too many arguments";
			return -1;
		}
		w[nw++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
	if (nw > 0 && strcmp(w[0], "--json") == 0) {
		req->json = 1;
		first = 1;
	}
	if (nw == first) {
		*why = "empty request";
		return -1;
	}
	for (v = 0; v < CONTROL_VERB_MAX; v++)
		if (strcmp(w[first], control_verb_names[v]) == 0)
			break;
	if (v == CONTROL_VERB_MAX) {
		*why = "unknown command (try help)";
		return -1;
	}
	req->verb = (enum control_verb)v;
	nw -= first + 1;
	if ((int)nw < verb_args[v].min || (int)nw > verb_args[v].max) {
		*why = nw < (size_t)verb_args[v].min ? "missing argument" :
		    "too many arguments";
		return -1;
	}
	if (nw >= 1 && (req->name_len = dnsmsg_name_from_text(w[first + 1],
	    req->name, sizeof(req->name))) == 0) {
		*why = "bad name";
		return -1;
	}
	if (nw == 2) {
		if (dnsmsg_type_parse(w[first + 2], &type) == -1) {
			*why = "unknown type";
			return -1;
		}
		req->qtype = type;
	} else if (req->verb == CONTROL_LOOKUP)
		req->qtype = DNS_TYPE_A;
	return 0;
}

/* A JSON string member, or null. */
static void
json_kv_str(struct dnsprint_out *o, int *first, const char *key,
    const char *v)
{
	if (v != NULL)
		dnsprint_json_kv_str(o, first, key, v);
	else {
		dnsprint_json_key(o, first, key);
		dnsprint_puts(o, "null");
	}
}

void
control_write_error(FILE *fp, int json, const char *why)
{
	struct dnsprint_out o;
	int first = 1;

	if (!json) {
		fprintf(fp, "error: %s\n", why);
		return;
	}
	dnsprint_out_file(&o, fp);
	dnsprint_puts(&o, "{");
	dnsprint_json_kv_str(&o, &first, "error", why);
	dnsprint_puts(&o, "}\n");
}

/* A success without a body of its own: "ok", or {"ok": true, ...}. */
static void
write_ok(FILE *fp, int json, const char *what)
{
	struct dnsprint_out o;
	int first = 1;

	if (!json) {
		fprintf(fp, "ok%s%s\n", what != NULL ? ": " : "",
		    what != NULL ? what : "");
		return;
	}
	dnsprint_out_file(&o, fp);
	dnsprint_puts(&o, "{");
	dnsprint_json_key(&o, &first, "ok");
	dnsprint_puts(&o, "true");
	if (what != NULL)
		dnsprint_json_kv_str(&o, &first, "message", what);
	dnsprint_puts(&o, "}\n");
}

void
control_write_help(FILE *fp, int json)
{
	struct dnsprint_out o;
	int v, first = 1;

	if (!json) {
		for (v = 0; v < CONTROL_VERB_MAX; v++)
			fprintf(fp, "%-20s %s\n", verb_args[v].usage,
			    verb_help[v]);
		return;
	}
	dnsprint_out_file(&o, fp);
	dnsprint_puts(&o, "{");
	dnsprint_json_key(&o, &first, "commands");
	dnsprint_puts(&o, "{");
	first = 1;
	for (v = 0; v < CONTROL_VERB_MAX; v++)
		dnsprint_json_kv_str(&o, &first, verb_args[v].usage,
		    verb_help[v]);
	dnsprint_puts(&o, "}}\n");
}

/* Hits in tenths of a percent of the lookups; -1: none yet. */
static long long
hit_permille(const struct proxy_stats *s)
{
	uint64_t n = s->cache_hits + s->cache_misses;

	return n == 0 ? -1 : (long long)(s->cache_hits * 1000 / n);
}

static void
status_text(FILE *fp, const struct proxy *px)
{
	const struct cache_stats *c = proxy_cache_stats(px);
	const struct proxy_stats *s = proxy_stats(px);
	const char *why = proxy_unhealthy(px);
	struct evbuffer *b;
	char portal[256];
	long long pm;

	fprintf(fp, "mode %s\n", config_mode_names[proxy_config(px)->mode]);
	fprintf(fp, "health %s\n", why != NULL ? why : "ok");
	if (proxy_portal_status(px, portal, sizeof(portal)) > 0)
		fprintf(fp, "portal %s\n", portal);
	/* The upstreams and address servers as /health says them. */
	if ((b = evbuffer_new()) != NULL) {
		metrics_health_details(b, px);
		fwrite(evbuffer_pullup(b, -1), 1, evbuffer_get_length(b), fp);
		evbuffer_free(b);
	}
	if (c == NULL) {
		fprintf(fp, "cache off\n");
		return;
	}
	fprintf(fp, "cache %llu entries, %llu of %llu bytes, %llu hits, "
	    "%llu misses", (unsigned long long)c->entries,
	    (unsigned long long)c->bytes, (unsigned long long)c->max_bytes,
	    (unsigned long long)s->cache_hits,
	    (unsigned long long)s->cache_misses);
	if ((pm = hit_permille(s)) >= 0)
		fprintf(fp, ", hit rate %lld.%lld%%", pm / 10, pm % 10);
	fprintf(fp, "\n");
}

static void
status_json_upstreams(struct dnsprint_out *o, const struct proxy *px)
{
	struct proxy_upstream_info info;
	size_t i;
	int first;

	dnsprint_puts(o, "[");
	for (i = 0; i < proxy_upstream_count(px); i++) {
		proxy_upstream_info(px, i, &info);
		dnsprint_puts(o, i > 0 ? ",{" : "{");
		first = 1;
		dnsprint_json_kv_str(o, &first, "url", info.url);
		json_kv_str(o, &first, "zone", info.zone);
		dnsprint_json_kv_str(o, &first, "state", info.state);
		if (info.more.doh.has_srtt)
			dnsprint_json_kv_num(o, &first, "srtt_ms",
			    info.more.doh.srtt_ms);
		dnsprint_json_kv_num(o, &first, "pending",
		    (long long)info.pending);
		dnsprint_json_kv_num(o, &first, "answers",
		    (long long)info.more.doh.answers);
		dnsprint_json_kv_num(o, &first, "errors",
		    (long long)info.more.doh.errors);
		dnsprint_json_kv_num(o, &first, "hedges",
		    (long long)info.more.hedges);
		dnsprint_json_kv_num(o, &first, "hedge_wins",
		    (long long)info.more.hedge_wins);
		dnsprint_json_kv_num(o, &first, "dead_connections",
		    (long long)info.more.doh.dead);
		dnsprint_json_kv_str(o, &first, "last_error",
		    info.last_error);
		dnsprint_puts(o, "}");
	}
	dnsprint_puts(o, "]");
}

static void
status_json_addrs(struct dnsprint_out *o, const struct proxy *px)
{
	const struct discovery *d = proxy_discovery(px);
	const struct discovery_result *r;
	char a[ADDR_STRLEN];
	size_t i;
	int first;

	dnsprint_puts(o, "[");
	for (i = 0; i < discovery_count(d); i++) {
		r = discovery_result(d, i);
		dnsprint_puts(o, i > 0 ? ",{" : "{");
		first = 1;
		dnsprint_json_kv_str(o, &first, "address",
		    addr_str(&r->addr, a, sizeof(a)));
		dnsprint_json_kv_str(o, &first, "upgrade",
		    discovery_upgrade_names[r->upgrade]);
		if (r->upgrade == DISCOVERY_NONE)
			dnsprint_json_kv_str(o, &first, "reason", r->reason);
		else if (r->upgrade != DISCOVERY_PENDING) {
			dnsprint_json_kv_str(o, &first, "url", r->url);
			if (r->provider[0] != '\0')
				dnsprint_json_kv_str(o, &first, "provider",
				    r->provider);
		}
		dnsprint_json_kv_str(o, &first, "state",
		    discovery_state_names[discovery_state(d, i)]);
		dnsprint_puts(o, "}");
	}
	dnsprint_puts(o, "]");
}

static void
status_json(FILE *fp, const struct proxy *px)
{
	const struct cache_stats *c = proxy_cache_stats(px);
	const struct proxy_stats *s = proxy_stats(px);
	const char *why = proxy_unhealthy(px);
	struct dnsprint_out o;
	char portal[256];
	long long pm;
	int first = 1, cfirst = 1;

	dnsprint_out_file(&o, fp);
	dnsprint_puts(&o, "{");
	dnsprint_json_kv_str(&o, &first, "mode",
	    config_mode_names[proxy_config(px)->mode]);
	dnsprint_json_key(&o, &first, "healthy");
	dnsprint_puts(&o, why == NULL ? "true" : "false");
	json_kv_str(&o, &first, "reason", why);
	json_kv_str(&o, &first, "portal", proxy_portal_status(px, portal,
	    sizeof(portal)) > 0 ? portal : NULL);
	dnsprint_json_key(&o, &first, "upstreams");
	status_json_upstreams(&o, px);
	dnsprint_json_key(&o, &first, "addresses");
	status_json_addrs(&o, px);
	dnsprint_json_key(&o, &first, "cache");
	if (c == NULL)
		dnsprint_puts(&o, "null");
	else {
		dnsprint_puts(&o, "{");
		dnsprint_json_kv_num(&o, &cfirst, "entries",
		    (long long)c->entries);
		dnsprint_json_kv_num(&o, &cfirst, "bytes",
		    (long long)c->bytes);
		dnsprint_json_kv_num(&o, &cfirst, "max_bytes",
		    (long long)c->max_bytes);
		dnsprint_json_kv_num(&o, &cfirst, "hits",
		    (long long)s->cache_hits);
		dnsprint_json_kv_num(&o, &cfirst, "misses",
		    (long long)s->cache_misses);
		dnsprint_json_key(&o, &cfirst, "hit_rate");
		if ((pm = hit_permille(s)) >= 0)
			dnsprint_printf(&o, "%lld.%03lld", pm / 1000,
			    pm % 1000);
		else
			dnsprint_puts(&o, "null");
		dnsprint_puts(&o, "}");
	}
	dnsprint_puts(&o, "}\n");
}

void
control_write_status(FILE *fp, int json, const struct proxy *px)
{
	if (json)
		status_json(fp, px);
	else
		status_text(fp, px);
}

/* Every PROXY_STATS field once (ALSO lines are /metrics' only). */
#define CONTROL_STAT_NAME(field, family, value)	#field,
#define CONTROL_STAT_VALUE(field, family, value)	s->field,
#define CONTROL_STAT_NONE(field, family, value)

/* One counter: a "name value" line, or a member. */
static void
stat_write(FILE *fp, struct dnsprint_out *o, int *first, const char *name,
    uint64_t v)
{
	if (o != NULL)
		dnsprint_json_kv_num(o, first, name, (long long)v);
	else
		fprintf(fp, "%s %llu\n", name, (unsigned long long)v);
}

void
control_write_stats(FILE *fp, int json, const struct proxy *px,
    const struct querylog_stats *qs)
{
	static const char *const names[] = {
		PROXY_STATS(CONTROL_STAT_NAME, CONTROL_STAT_NONE)
	};
	const struct proxy_stats *s = proxy_stats(px);
	const uint64_t v[] = {
		PROXY_STATS(CONTROL_STAT_VALUE, CONTROL_STAT_NONE)
	};
	const struct cache_stats *c = proxy_cache_stats(px);
	struct dnsprint_out out, *o = NULL;
	size_t i;
	int first = 1;

	if (json) {
		o = &out;
		dnsprint_out_file(o, fp);
		dnsprint_puts(o, "{");
	}
	for (i = 0; i < nitems(names); i++)
		stat_write(fp, o, &first, names[i], v[i]);
	/* The cache's own, with a cache. */
	if (c != NULL) {
		stat_write(fp, o, &first, "cache_entries", c->entries);
		stat_write(fp, o, &first, "cache_bytes", c->bytes);
		stat_write(fp, o, &first, "cache_max_bytes", c->max_bytes);
		stat_write(fp, o, &first, "cache_stored", c->stored);
		stat_write(fp, o, &first, "cache_evicted", c->evicted);
		stat_write(fp, o, &first, "cache_expired", c->expired);
	}
	/* The query log's, as /metrics gives them. */
	if (qs != NULL) {
		stat_write(fp, o, &first, "query_log_lines", qs->lines);
		stat_write(fp, o, &first, "query_log_dropped", qs->dropped);
		stat_write(fp, o, &first, "query_log_restarts",
		    qs->restarts);
	}
	if (json)
		dnsprint_puts(o, "}\n");
}

/* The answer section, one record a line as in a zone file. */
static void
lookup_records(FILE *fp, const uint8_t *msg, size_t len)
{
	struct dnsprint_out o;
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint8_t owner[DNS_MAX_NAME];
	char name[DNS_MAX_NAME_TEXT], t[16], cl[16];
	unsigned i;

	dnsprint_out_file(&o, fp);
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 ||
	    h.count[DNS_SEC_QUESTION] != 1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 ||
	    dnsmsg_rd_skip(&r, 4) == -1)
		return;
	for (i = 0; i < h.count[DNS_SEC_ANSWER]; i++) {
		if (dnsmsg_rd_rr(&r, owner, &rr) == -1)
			return;
		(void)dnsmsg_name_to_text(owner, rr.owner_len, name,
		    sizeof(name), DNSMSG_NAME_ZONE);
		fprintf(fp, "%s\t%u\t%s\t%s\t", name, (unsigned)rr.ttl,
		    dnsmsg_class_str(rr.class, cl, sizeof(cl)),
		    dnsmsg_type_str(rr.type, t, sizeof(t)));
		(void)dnsprint_rdata(&o, msg, len, rr.rdata.off, rr.rdlen,
		    rr.type);
		fprintf(fp, "\n");
	}
}

void
control_write_lookup(FILE *fp, const struct control_req *req,
    const uint8_t *msg, size_t len, const struct control_lookup_info *info)
{
	struct dnsprint_out o;
	char name[DNS_MAX_NAME_TEXT], t[16], rc[16];
	int first = 1;

	(void)dnsmsg_name_to_text(req->name, req->name_len, name,
	    sizeof(name), DNSMSG_NAME_ZONE);
	dnsmsg_type_str((uint16_t)req->qtype, t, sizeof(t));
	dnsmsg_rcode_str((unsigned)(info->rcode >= 0 ? info->rcode :
	    len >= DNS_HDR_LEN ? dnsmsg_rcode(msg) : DNS_RCODE_SERVFAIL), rc,
	    sizeof(rc));
	if (!req->json) {
		fprintf(fp, "name %s\ntype %s\nrcode %s\nsource %s\n", name,
		    t, rc, proxy_source_names[info->source]);
		if (info->upstream != NULL)
			fprintf(fp, "upstream %s\n", info->upstream);
		if (info->zone != NULL)
			fprintf(fp, "zone %s\n", info->zone);
		if (info->ede >= 0)
			fprintf(fp, "ede %d\n", info->ede);
		if (info->dnssec != PROXY_DNSSEC_NONE &&
		    info->dnssec < PROXY_DNSSEC_MAX)
			fprintf(fp, "dnssec %s\n",
			    proxy_dnssec_names[info->dnssec]);
		fprintf(fp, "latency %llu.%03llu ms\n",
		    (unsigned long long)(info->elapsed_us / 1000),
		    (unsigned long long)(info->elapsed_us % 1000));
		lookup_records(fp, msg, len);
		return;
	}
	dnsprint_out_file(&o, fp);
	dnsprint_puts(&o, "{");
	dnsprint_json_kv_str(&o, &first, "name", name);
	dnsprint_json_kv_str(&o, &first, "type", t);
	dnsprint_json_kv_str(&o, &first, "rcode", rc);
	dnsprint_json_kv_str(&o, &first, "source",
	    proxy_source_names[info->source]);
	json_kv_str(&o, &first, "upstream", info->upstream);
	json_kv_str(&o, &first, "zone", info->zone);
	dnsprint_json_key(&o, &first, "ede");
	if (info->ede >= 0)
		dnsprint_printf(&o, "%d", info->ede);
	else
		dnsprint_puts(&o, "null");
	json_kv_str(&o, &first, "dnssec", info->dnssec != PROXY_DNSSEC_NONE &&
	    info->dnssec < PROXY_DNSSEC_MAX ?
	    proxy_dnssec_names[info->dnssec] : NULL);
	dnsprint_json_kv_num(&o, &first, "latency_us",
	    (long long)info->elapsed_us);
	dnsprint_json_key(&o, &first, "message");
	dnsprint_puts(&o, "{");
	first = 1;
	(void)dnsprint_json_members(&o, &first, msg, len, NULL, 0);
	dnsprint_puts(&o, "}}\n");
}

/* The server. */

struct control_conn;

/* A lookup's peer: the proxy's from proxy_lookup() to its release. */
struct control_lookup {
	struct listen_peer	 peer;		/* first: the proxy's handle */
	struct control_conn	*conn;		/* NULL: gone, answer unheard */
	uint8_t			*msg;		/* the answer, owned */
	size_t			 len;
	struct control_lookup_info info;
	int			 seen;		/* the observer told us */
};

struct control_conn {
	TAILQ_ENTRY(control_conn) entry;
	struct control		*ctl;
	struct bufferevent	*bev;
	struct event		*deadline;	/* the request, a lookup, the
						   answer's write */
	struct event		*teardown;	/* conn_free(), deferred */
	struct control_lookup	*lookup;	/* in the proxy */
	struct control_req	 req;
	int			 answered;	/* closing once written */
};

struct control {
	struct event_base	*base;
	struct proxy		*px;
	const struct querylog	*ql;		/* NULL: none */
	control_reload_cb	*reload;
	void			*reload_arg;
	char			*path;
	struct evconnlistener	*lev;
	dev_t			 dev;		/* of the socket file we made */
	ino_t			 ino;
	TAILQ_HEAD(, control_conn) conns;
	size_t			 nconns;
	int			 root_only;	/* not our euid: shared */
};

static void	lookup_respond(struct listen_peer *, const uint8_t *, size_t);
static void	lookup_release(struct listen_peer *);

static const struct listen_peer_ops lookup_ops = {
	lookup_respond, lookup_release,
};

static const struct timeval control_timeout = { CONTROL_TIMEOUT_S, 0 };

/* Close c from the loop, once what it was told is written or not. */
static void
conn_close(struct control_conn *c)
{
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	event_active(c->teardown, 0, 0);
}

static void
conn_free(struct control_conn *c)
{
	if (c == NULL)
		return;
	if (c->ctl != NULL) {
		TAILQ_REMOVE(&c->ctl->conns, c, entry);
		c->ctl->nconns--;
	}
	if (c->lookup != NULL)
		c->lookup->conn = NULL;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->teardown != NULL)
		event_free(c->teardown);
	free(c);
}

static void
conn_teardown_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	conn_free(arg);
}

/*
 * Send what fp (a memstream of buf) holds and close once it is written,
 * within the timeout.
 */
static void
conn_send(struct control_conn *c, FILE *fp, char **buf, size_t *len)
{
	c->answered = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (fclose(fp) != 0 || *buf == NULL ||
	    bufferevent_write(c->bev, *buf, *len) == -1) {
		free(*buf);
		conn_close(c);
		return;
	}
	free(*buf);
	evtimer_add(c->deadline, &control_timeout);
}

static void
conn_error(struct control_conn *c, const char *why)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL) {
		conn_close(c);
		return;
	}
	control_write_error(fp, c->req.json, why);
	conn_send(c, fp, &buf, &len);
}

static void
lookup_free(struct control_lookup *lk)
{
	free(lk->msg);
	free(lk->info.upstream);
	free(lk->info.zone);
	free(lk);
}

static void
lookup_respond(struct listen_peer *peer, const uint8_t *msg, size_t len)
{
	struct control_lookup *lk = (struct control_lookup *)peer;

	free(lk->msg);
	if ((lk->msg = malloc(len)) == NULL) {
		lk->len = 0;
		return;
	}
	memcpy(lk->msg, msg, len);
	lk->len = len;
}

/* The proxy is done with the query: answer its connection, if any. */
static void
lookup_release(struct listen_peer *peer)
{
	struct control_lookup *lk = (struct control_lookup *)peer;
	struct control_conn *c = lk->conn;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if (c == NULL)
		goto done;
	c->lookup = NULL;
	evtimer_del(c->deadline);
	if (lk->msg == NULL)
		conn_error(c, "no answer");
	else if ((fp = open_memstream(&buf, &len)) == NULL)
		conn_close(c);
	else {
		if (!lk->seen)
			lk->info.rcode = -1;
		control_write_lookup(fp, &c->req, lk->msg, lk->len,
		    &lk->info);
		conn_send(c, fp, &buf, &len);
	}
 done:
	lookup_free(lk);
}

void
control_on_answer(const struct listen_peer *peer,
    const struct dns_query_info *qi, const uint8_t *msg, size_t len,
    const struct proxy_answer *a, void *arg)
{
	struct control_lookup *lk = (struct control_lookup *)peer;

	(void)qi;
	(void)msg;
	(void)len;
	(void)arg;
	if (peer->ops != &lookup_ops)
		return;
	free(lk->info.upstream);
	free(lk->info.zone);
	lk->info.upstream = a->upstream != NULL ? strdup(a->upstream) : NULL;
	lk->info.zone = a->zone != NULL ? strdup(a->zone) : NULL;
	lk->info.source = a->source;
	lk->info.ede = a->ede;
	lk->info.rcode = a->rcode;
	lk->info.dnssec = a->dnssec;
	lk->info.elapsed_us = a->elapsed_us;
	lk->seen = 1;
}

/* A real query for req through the proxy; answered on its release. */
static void
conn_lookup(struct control_conn *c)
{
	struct control_lookup *lk;
	uint8_t q[DNS_HDR_LEN + DNS_MAX_NAME + 4 + 64];
	size_t n;

	n = dnsmsg_make_query(q, sizeof(q), c->req.name, c->req.name_len,
	    (uint16_t)c->req.qtype, DNS_CLASS_IN, DNS_FLAG_RD,
	    CONTROL_EDNS_SIZE, 0, 0);
	if (n == 0) {
		conn_error(c, "cannot make the query");
		return;
	}
	if ((lk = calloc(1, sizeof(*lk))) == NULL) {
		conn_error(c, "out of memory");
		return;
	}
	lk->peer.ops = &lookup_ops;
	lk->peer.transport = LISTEN_TCP;	/* nothing cut */
	lk->peer.addr.ss_family = AF_UNIX;
	lk->peer.addrlen = sizeof(sa_family_t);
	lk->info.ede = -1;
	lk->info.rcode = -1;
	lk->conn = c;
	c->lookup = lk;
	evtimer_add(c->deadline, &control_timeout);
	/* May release lk (and answer c) before it returns. */
	proxy_lookup(c->ctl->px, &lk->peer, q, n);
}

static void
conn_request(struct control_conn *c, const char *line, size_t n)
{
	struct control *ctl = c->ctl;
	struct cache *cache;
	char err[CONFIG_ERRLEN], what[64], *buf = NULL;
	const char *why;
	size_t len = 0, flushed;
	FILE *fp;

	if (control_parse(line, n, &c->req, &why) == -1) {
		/* --json is honoured even in a bad request; line holds n
		 * bytes, no NUL, and stale ones after them. */
		c->req.json = n >= 6 && memcmp(line, "--json", 6) == 0 &&
		    (n == 6 || line[6] == ' ' || line[6] == '\t' ||
		    line[6] == '\r');
		conn_error(c, why);
		return;
	}
	if (c->req.verb == CONTROL_LOOKUP) {
		conn_lookup(c);
		return;
	}
	if ((fp = open_memstream(&buf, &len)) == NULL) {
		conn_close(c);
		return;
	}
	switch (c->req.verb) {
	case CONTROL_STATUS:
		control_write_status(fp, c->req.json, ctl->px);
		break;
	case CONTROL_STATS:
		control_write_stats(fp, c->req.json, ctl->px,
		    ctl->ql != NULL ? querylog_stats(ctl->ql) : NULL);
		break;
	case CONTROL_FLUSH:
		if ((cache = proxy_cache(ctl->px)) == NULL) {
			control_write_error(fp, c->req.json,
			    "no cache (cache-size 0)");
			break;
		}
		flushed = cache_flush_name(cache, c->req.name_len > 0 ?
		    c->req.name : NULL, c->req.name_len, c->req.qtype);
		snprintf(what, sizeof(what), "%zu entr%s flushed", flushed,
		    flushed == 1 ? "y" : "ies");
		log_info("control: %s", what);
		write_ok(fp, c->req.json, what);
		break;
	case CONTROL_RELOAD:
		log_info("control: reading the configuration again");
		if (ctl->reload == NULL)
			control_write_error(fp, c->req.json,
			    "reload is not available");
		else if (ctl->reload(err, sizeof(err), ctl->reload_arg) == -1)
			control_write_error(fp, c->req.json, err);
		else
			write_ok(fp, c->req.json, "configuration reloaded");
		break;
	case CONTROL_PORTAL:
		if (proxy_portal_open(ctl->px, &why) == -1)
			control_write_error(fp, c->req.json, why);
		else
			write_ok(fp, c->req.json, "captive portal lease open");
		break;
	case CONTROL_HELP:
	default:
		control_write_help(fp, c->req.json);
		break;
	}
	conn_send(c, fp, &buf, &len);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char line[CONTROL_MAX_LINE + 2];
	size_t n;

	if (c->answered || c->lookup != NULL) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	/* A final \r is allowed: CONTROL_MAX_LINE + 1 bytes then. */
	if (eol.pos < 0) {
		if (evbuffer_get_length(in) > CONTROL_MAX_LINE + 1)
			conn_error(c, "request too long");
		return;
	}
	if ((size_t)eol.pos > CONTROL_MAX_LINE + 1) {
		conn_error(c, "request too long");
		return;
	}
	n = (size_t)eol.pos;
	evbuffer_remove(in, line, n);
	evbuffer_drain(in, evbuffer_get_length(in));
	evtimer_del(c->deadline);
	conn_request(c, line, n);
}

/* The answer is written: done. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;

	(void)bev;
	if (c->answered)
		conn_close(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *c = arg;

	(void)bev;
	/* A client that shut its side after the request waits for us. */
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) &&
	    (c->answered || c->lookup != NULL))
		return;
	conn_close(c);
}

static void
conn_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct control_conn *c = arg;

	(void)fd;
	(void)ev;
	if (c->answered) {
		conn_close(c);	/* it does not read its answer */
		return;
	}
	if (c->lookup != NULL) {
		c->lookup->conn = NULL;	/* freed on its release */
		c->lookup = NULL;
		conn_error(c, "lookup timed out");
		return;
	}
	conn_error(c, "timed out waiting for the request");
}

/* Told why, once and without waiting, and closed. */
static void
refuse(evutil_socket_t fd, const char *why)
{
	char msg[128];
	int n;

	n = snprintf(msg, sizeof(msg), "error: %s\n", why);
	(void)send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	evutil_closesocket(fd);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *ctl = arg;
	struct control_conn *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(&cred, 0, sizeof(cred));
	(void)lev;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    (cred.uid != 0 && (ctl->root_only || cred.uid != geteuid()))) {
		log_warnx("control: connection from uid %ld refused",
		    len == sizeof(cred) ? (long)cred.uid : -1L);
		refuse(fd, "permission denied");
		return;
	}
	if (ctl->nconns >= CONTROL_MAX_CONN) {
		refuse(fd, "too many connections");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		refuse(fd, "out of memory");
		return;
	}
	if ((c->bev = bufferevent_socket_new(ctl->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)) == NULL) {
		free(c);
		refuse(fd, "out of memory");
		return;
	}
	c->ctl = ctl;
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	ctl->nconns++;
	if ((c->deadline = evtimer_new(ctl->base, conn_deadline_cb, c)) ==
	    NULL ||
	    (c->teardown = event_new(ctl->base, -1, 0, conn_teardown_cb,
	    c)) == NULL) {
		conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_enable(c->bev, EV_READ);
	evtimer_add(c->deadline, &control_timeout);
}

struct control *
control_new(struct event_base *base, const char *path, uid_t uid, gid_t gid,
    struct proxy *px, control_reload_cb *reload, void *arg)
{
	struct control *ctl;
	struct sockaddr_un sun;
	struct stat st;
	mode_t mask;
	int fd = -1;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		log_warn("control");
		return NULL;
	}
	TAILQ_INIT(&ctl->conns);
	ctl->base = base;
	ctl->px = px;
	ctl->reload = reload;
	ctl->reload_arg = arg;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control socket %s: path too long", path);
		goto fail;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((ctl->path = strdup(path)) == NULL) {
		log_warn("control");
		goto fail;
	}
	/* A socket left by a dohstub that died; never anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("control socket %s: exists and is not a "
			    "socket", path);
			goto fail;
		}
		if (unlink(path) == -1) {
			log_warn("control socket %s: cannot remove the old "
			    "one", path);
			goto fail;
		}
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("control socket");
		goto fail;
	}
	/* 0660 from the start: never a moment open to others. */
	mask = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(mask);
		log_warn("control socket %s: cannot bind", path);
		goto fail;
	}
	umask(mask);
	if (lstat(path, &st) == -1) {
		log_warn("control socket %s", path);
		goto fail;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	/* No chmod: the umask made it 0660, and chmod() as root would
	 * follow a symlink put in its place since the bind. */
	if (uid != (uid_t)-1 && lchown(path, uid, gid) == -1) {
		log_warn("control socket %s: cannot set its owner", path);
		goto fail;
	}
	if ((ctl->lev = evconnlistener_new(base, accept_cb, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, CONTROL_MAX_CONN,
	    fd)) == NULL) {
		log_warn("control socket %s: cannot listen", path);
		goto fail;
	}
	log_info("control: listening on %s", path);
	return ctl;
 fail:
	if (fd != -1)
		close(fd);
	control_free(ctl);
	return NULL;
}

void
control_root_only(struct control *ctl)
{
	ctl->root_only = 1;
}

void
control_set_querylog(struct control *ctl, const struct querylog *ql)
{
	ctl->ql = ql;
}

void
control_free(struct control *ctl)
{
	struct control_conn *c;
	struct stat st;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->conns)) != NULL)
		conn_free(c);
	if (ctl->lev != NULL)
		evconnlistener_free(ctl->lev);
	/* Ours only: a new dohstub may have replaced it. */
	if (ctl->ino != 0 && lstat(ctl->path, &st) == 0 &&
	    st.st_dev == ctl->dev && st.st_ino == ctl->ino &&
	    unlink(ctl->path) == -1)
		log_debug("control socket %s: cannot remove it: %s",
		    ctl->path, strerror(errno));
	free(ctl->path);
	free(ctl);
}
