/*
 * ddr: the DDR query, the SVCB answer parser and the choice rules
 * (RFC 9460, 9461, 9462).  Pure: the rules are in ddr.h.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "dohstub/addr.h"
#include "dohstub/ddr.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define DDR_PORT_DEFAULT	443
#define KEY_INVALID		65535	/* RFC 9460 14.3.2: reserved */

/* ddr_record.rdata always holds the priority and the TargetName. */
_Static_assert(DDR_RDATA_MAX >= 2 + DNS_MAX_NAME, "DDR_RDATA_MAX too small");

const char *const ddr_kind_names[] = {
	"ddr-verified", "ddr-opportunistic",
};

const char *const ddr_reason_names[] = {
	"ok", "no_record", "unsupported", "no_h2", "no_dohpath",
	"unverifiable",
};

/* _dns.resolver.arpa. */
static const uint8_t ddr_qname[] = {
	4, '_', 'd', 'n', 's', 8, 'r', 'e', 's', 'o', 'l', 'v', 'e', 'r',
	4, 'a', 'r', 'p', 'a', 0
};

size_t
ddr_make_query(uint8_t *buf, size_t cap, uint16_t id)
{
	size_t n;

	n = dnsmsg_make_query(buf, cap, ddr_qname, sizeof(ddr_qname),
	    DNS_TYPE_SVCB, DNS_CLASS_IN, DNS_FLAG_RD, DNS_EDNS_DEFAULT_MAX, 0,
	    0);
	if (n != 0)
		dnsmsg_set_id(buf, id);
	return n;
}

/*
 * One SvcParam value (the cursor over exactly its bytes) into r.
 * -1 with *why if its wire form is wrong: the RRset is malformed.
 */
static int
svc_param(struct ddr_record *r, uint16_t key, struct dnsmsg_rd *v,
    const char **why)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const uint8_t *p;
	size_t n = dnsmsg_rd_left(v);
	uint16_t k, prev = 0;
	uint8_t len;
	int first;

	switch (key) {
	case DDR_KEY_MANDATORY:
		if (n == 0 || n % 2 != 0)
			goto bad;
		for (first = 1; dnsmsg_rd_u16(v, &k) == 0; first = 0) {
			/* Sorted, no duplicates, not itself (RFC 9460 8). */
			if (k == DDR_KEY_MANDATORY || (!first && k <= prev))
				goto bad;
			prev = k;
		}
		return 0;
	case DDR_KEY_ALPN:
		if (n == 0)
			goto bad;
		while (dnsmsg_rd_left(v) > 0) {
			if (dnsmsg_rd_u8(v, &len) == -1 || len == 0 ||
			    dnsmsg_rd_bytes(v, len, &p) == -1)
				goto bad;
			if (len == 2 && memcmp(p, "h2", 2) == 0)
				r->alpn |= DDR_ALPN_H2;
			else if (len == 2 && memcmp(p, "h3", 2) == 0)
				r->alpn |= DDR_ALPN_H3;
			else if (len == 3 && memcmp(p, "dot", 3) == 0)
				r->alpn |= DDR_ALPN_DOT;
			else
				r->alpn |= DDR_ALPN_OTHER;
		}
		return 0;
	case DDR_KEY_NO_DEFAULT_ALPN:
		if (n != 0)
			goto bad;
		r->no_default_alpn = 1;
		return 0;
	case DDR_KEY_PORT:
		if (n != 2 || dnsmsg_rd_u16(v, &r->port) == -1)
			goto bad;
		return 0;
	case DDR_KEY_IPV4HINT:
	case DDR_KEY_IPV6HINT:
		if (n == 0 || n % (key == DDR_KEY_IPV4HINT ? 4 : 16) != 0)
			goto bad;
		while (dnsmsg_rd_left(v) > 0) {
			if (key == DDR_KEY_IPV4HINT) {
				if (dnsmsg_rd_bytes(v, 4, &p) == -1)
					goto bad;
				memset(&sin, 0, sizeof(sin));
				sin.sin_family = AF_INET;
				memcpy(&sin.sin_addr, p, 4);
				if (r->nhints < DDR_MAX_HINTS &&
				    addr_set(&r->hints[r->nhints],
				    (struct sockaddr *)&sin, sizeof(sin)) == 0)
					r->nhints++;
			} else {
				if (dnsmsg_rd_bytes(v, 16, &p) == -1)
					goto bad;
				memset(&sin6, 0, sizeof(sin6));
				sin6.sin6_family = AF_INET6;
				memcpy(&sin6.sin6_addr, p, 16);
				if (r->nhints < DDR_MAX_HINTS &&
				    addr_set(&r->hints[r->nhints],
				    (struct sockaddr *)&sin6,
				    sizeof(sin6)) == 0)
					r->nhints++;
			}
		}
		return 0;
	case DDR_KEY_DOHPATH:
		if (n == 0 || dnsmsg_rd_bytes(v, n, &p) == -1)
			goto bad;
		r->has_dohpath = 1;
		if (n >= sizeof(r->dohpath)) {
			snprintf(r->unusable, sizeof(r->unusable),
			    "dohpath of %zu bytes is too long", n);
			return 0;
		}
		memcpy(r->dohpath, p, n);
		r->dohpath[n] = '\0';
		for (; n > 0; n--)
			if (p[n - 1] < 0x21 || p[n - 1] > 0x7e) {
				snprintf(r->unusable, sizeof(r->unusable),
				    "dohpath is not printable ASCII");
				/* Keep it a printable string. */
				r->dohpath[n - 1] = '?';
			}
		return 0;
	default:	/* ech and unknown keys: in r->rdata, printed only */
		return 0;
	}
 bad:
	*why = "SVCB parameter malformed";
	return -1;
}

static int
key_known(uint16_t key)
{
	return key >= DDR_KEY_ALPN && key <= DDR_KEY_DOHPATH &&
	    key != DDR_KEY_ECH;
}

/*
 * The RDATA of one SVCB record into r.  0 (r->priority 0: AliasMode,
 * not filled further), or -1 with *why: malformed.
 */
static int
svcb_rdata(struct dnsmsg_rd *c, struct ddr_record *r, const char **why)
{
	struct dnsmsg_rd v, m;
	uint8_t target[DNS_MAX_NAME];
	char kname[16];
	size_t tlen, at, len, keep, start = c->off;
	uint16_t key, vlen, mk;
	unsigned seen = 0;
	int prev = -1, have_m = 0;

	if (dnsmsg_rd_u16(c, &r->priority) == -1) {
		*why = "SVCB record truncated";
		return -1;
	}
	at = c->off;
	if (dnsmsg_rd_name(c, target, &tlen) == -1) {
		*why = "SVCB TargetName malformed";
		return -1;
	}
	/* A pointer leaves fewer bytes read than the name holds. */
	if (c->off - at != tlen) {
		*why = "SVCB TargetName compressed";
		return -1;
	}
	if (r->priority == 0)
		return 0;	/* AliasMode: passed over, not checked */
	if (dnsmsg_name_to_text(target, tlen, r->target, sizeof(r->target),
	    0) == -1) {
		*why = "SVCB TargetName malformed";
		return -1;
	}
	len = strlen(r->target);
	if (len > 0 && r->target[len - 1] == '.')
		r->target[len - 1] = '\0';	/* "." becomes "" */

	keep = c->off - start;		/* priority and TargetName */
	while (dnsmsg_rd_left(c) > 0) {
		if (dnsmsg_rd_u16(c, &key) == -1 ||
		    dnsmsg_rd_u16(c, &vlen) == -1 ||
		    dnsmsg_rd_sub(c, vlen, &v) == -1) {
			*why = "SVCB parameter truncated";
			return -1;
		}
		if ((int)key <= prev || key == KEY_INVALID) {
			*why = "SVCB keys not in increasing order";
			return -1;
		}
		prev = key;
		if (key <= DDR_KEY_DOHPATH)
			seen |= 1u << key;
		if (key == DDR_KEY_MANDATORY) {
			m = v;
			have_m = 1;
		}
		if (svc_param(r, key, &v, why) == -1)
			return -1;
		if (c->off - start <= sizeof(r->rdata) && !r->rdata_cut)
			keep = c->off - start;
		else
			r->rdata_cut = 1;
	}
	memcpy(r->rdata, c->msg + start, keep);
	r->rdlen = (uint16_t)keep;

	/* RFC 9460 8 and 2.4.3: compatible and self-consistent. */
	if (have_m) {
		while (dnsmsg_rd_u16(&m, &mk) == 0) {
			if (!key_known(mk)) {
				snprintf(r->unusable, sizeof(r->unusable),
				    "mandatory key%u not supported", mk);
				break;
			}
			if ((seen & 1u << mk) == 0) {
				dnsprint_svc_key_str(mk, kname, sizeof(kname));
				snprintf(r->unusable, sizeof(r->unusable),
				    "mandatory %s missing", kname);
				break;
			}
		}
	}
	if (r->unusable[0] == '\0' && r->no_default_alpn && r->alpn == 0)
		snprintf(r->unusable, sizeof(r->unusable),
		    "no-default-alpn without alpn");
	if (r->unusable[0] == '\0' && (seen & 1u << DDR_KEY_PORT) &&
	    r->port == 0)
		snprintf(r->unusable, sizeof(r->unusable), "port 0");
	return 0;
}

/* The owner _dns.resolver.arpa? */
static int
owner_is_ddr(const uint8_t *owner, size_t len)
{
	return dnsmsg_name_equal(owner, len, ddr_qname, sizeof(ddr_qname));
}

/* Insert r into out[0..*n) sorted by priority, keeping the lowest max. */
static void
keep_record(struct ddr_record *out, size_t *n, size_t max,
    const struct ddr_record *r)
{
	size_t i;

	if (max == 0)
		return;
	for (i = *n; i > 0 && out[i - 1].priority > r->priority; i--)
		;
	if (i == max)
		return;		/* all kept ones are better */
	if (*n == max)
		(*n)--;		/* the worst one goes */
	memmove(&out[i + 1], &out[i], (*n - i) * sizeof(*out));
	out[i] = *r;
	(*n)++;
}

int
ddr_parse(const uint8_t *msg, size_t len, struct ddr_record *out,
    size_t max, const char **why)
{
	struct dns_query_info qi;
	struct ddr_record rec;
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint8_t owner[DNS_MAX_NAME];
	const char *dummy;
	size_t n = 0;
	unsigned i;
	int rcode, alias = 0;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	memset(&qi, 0, sizeof(qi));
	qi.qtype = DNS_TYPE_SVCB;
	qi.qclass = DNS_CLASS_IN;
	memcpy(qi.qname, ddr_qname, sizeof(ddr_qname));
	qi.qname_len = sizeof(ddr_qname);
	if (msg == NULL || dnsmsg_check_answer(msg, len, &qi) == -1) {
		*why = "not an answer to _dns.resolver.arpa SVCB";
		return -1;
	}
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 ||
	    dnsmsg_rd_skip(&r, 4) == -1) {
		*why = "not an answer to _dns.resolver.arpa SVCB";
		return -1;
	}
	if (h.flags & DNS_FLAG_TC) {
		*why = "answer truncated (TC)";
		return -1;
	}
	rcode = h.flags & DNS_FLAG_RCODE;
	if (rcode == DNS_RCODE_NXDOMAIN)
		return 0;
	if (rcode != DNS_RCODE_NOERROR) {
		switch (rcode) {
		case DNS_RCODE_SERVFAIL:
			*why = "answer is SERVFAIL";
			break;
		case DNS_RCODE_REFUSED:
			*why = "answer is REFUSED";
			break;
		case DNS_RCODE_FORMERR:
			*why = "answer is FORMERR";
			break;
		case DNS_RCODE_NOTIMP:
			*why = "answer is NOTIMP";
			break;
		default:
			*why = "answer has an error rcode";
			break;
		}
		return -1;
	}
	for (i = 0; i < h.count[DNS_SEC_ANSWER]; i++) {
		if (dnsmsg_rd_rr(&r, owner, &rr) == -1) {
			/* dnsmsg_check_answer() read them all. */
			*why = "answer malformed";
			return -1;
		}
		if (rr.type != DNS_TYPE_SVCB || rr.class != DNS_CLASS_IN ||
		    !owner_is_ddr(owner, rr.owner_len))
			continue;
		memset(&rec, 0, sizeof(rec));
		rec.ttl = rr.ttl;
		if (svcb_rdata(&rr.rdata, &rec, why) == -1)
			return -1;
		if (rec.priority == 0)
			alias = 1;
		else
			keep_record(out, &n, max, &rec);
	}
	/* RFC 9460 2.4.2: an AliasMode record voids the ServiceMode ones. */
	if (alias) {
		*why = "AliasMode record (not followed)";
		return 0;
	}
	return (int)n;
}

/* 1 if a is inside one of the prefixes nets[0..n). */
static int
in_nets(const struct addr *a, const char *const nets[], size_t n)
{
	struct addr_prefix p;
	size_t i;

	for (i = 0; i < n; i++)
		if (addr_prefix_parse(nets[i], &p, NULL, 0) == 0 &&
		    addr_prefix_match(&p, a))
			return 1;
	return 0;
}

int
ddr_private_addr(const struct addr *a)
{
	static const char *const nets[] = {
		/* Not 100.64/10: CGNAT is the ISP's network, not ours. */
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
		"127.0.0.0/8", "169.254.0.0/16",
		"::1/128", "fe80::/10", "fc00::/7",
	};

	return a != NULL && a->len != 0 && in_nets(a, nets, nitems(nets));
}

int
ddr_usable_addr(const struct addr *a)
{
	static const char *const nets[] = {
		"0.0.0.0/8", "255.255.255.255/32", "224.0.0.0/4",
		"::/128", "ff00::/8",
	};

	return a != NULL && a->len != 0 && !in_nets(a, nets, nitems(nets));
}

/*
 * Letters, digits, '-' and '_' in dot-separated labels, the last one not
 * all digits: "203.0.113.7" is an IP literal, not a name, and a
 * certificate check "for" it would be an IP check that the resolver's
 * own IP check replaces (doh.c: one IP per verify param).
 */
static int
host_name(const char *s)
{
	int label = 0, digits = 0;

	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return 0;
			label = digits = 0;
		} else if ((*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_') {
			label++;
			digits += *s >= '0' && *s <= '9';
		} else
			return 0;
	}
	return label > 0 && digits < label;
}

/*
 * The POST path of a dohpath template: it must start with '/' and hold
 * exactly one expression, "{?dns}" or "{&dns}".  0, or -1 with why.
 */
static int
dohpath_post(const char *tmpl, char *path, size_t len, const char **why)
{
	const char *open, *close;
	size_t n;

	if (tmpl[0] != '/') {
		*why = "dohpath does not start with '/'";
		return -1;
	}
	if ((open = strchr(tmpl, '{')) == NULL) {
		*why = "dohpath without {?dns}";
		return -1;
	}
	close = strchr(open, '}');
	if (close == NULL || strchr(close + 1, '{') != NULL ||
	    strchr(close + 1, '}') != NULL || strchr(tmpl, '}') != close) {
		*why = "dohpath is not a URI template";
		return -1;
	}
	if ((size_t)(close - open) != 5 || (open[1] != '?' && open[1] != '&') ||
	    strncmp(open + 2, "dns", 3) != 0) {
		*why = "dohpath without {?dns}";
		return -1;
	}
	if (strchr(tmpl, '#') != NULL) {
		*why = "dohpath has a fragment";
		return -1;
	}
	n = (size_t)(open - tmpl);
	if (n + strlen(close + 1) >= len) {
		*why = "dohpath too long";
		return -1;
	}
	memcpy(path, tmpl, n);
	strcpy(path + n, close + 1);
	return 0;
}

static const char *
alpn_why(unsigned offered, char *buf, size_t len)
{
	char ids[16];

	if (offered == DDR_ALPN_DOT)
		return "alpn dot only";
	if (offered == DDR_ALPN_H3)
		return "alpn h3 only";
	if (offered == 0)
		return "no alpn";
	snprintf(ids, sizeof(ids), "%s%s%s",
	    offered & DDR_ALPN_H3 ? ",h3" : "",
	    offered & DDR_ALPN_DOT ? ",dot" : "",
	    offered & DDR_ALPN_OTHER ? ",other" : "");
	/* offered has one of them at least: skip the first ','. */
	snprintf(buf, len, "alpn without h2 (%s)", ids + 1);
	return buf;
}

/* How far a record got, and why it stopped there. */
struct verdict {
	enum ddr_reason	 reason;
	char		 why[160];
};

static uint32_t
clamp_ttl(uint32_t ttl)
{
	if (ttl < DDR_TTL_MIN)
		return DDR_TTL_MIN;
	if (ttl > DDR_TTL_MAX)
		return DDR_TTL_MAX;
	return ttl;
}

/*
 * Is the hint the resolver's address?  A hint carries no scope, so a
 * link-local resolver (fe80::1 on some link) matches it by address.
 */
static int
hint_is(const struct addr *hint, const struct addr *resolver)
{
	struct addr h = *hint;

	if (h.ss.ss_family == AF_INET6 &&
	    resolver->ss.ss_family == AF_INET6 &&
	    ((struct sockaddr_in6 *)&h.ss)->sin6_scope_id == 0)
		((struct sockaddr_in6 *)&h.ss)->sin6_scope_id =
		    ((const struct sockaddr_in6 *)&resolver->ss)->sin6_scope_id;
	return addr_same_ip(&h, resolver);
}

/*
 * Is rec usable as kind?  Fills *ep if so (0); -1 with *v if not.
 */
static int
try_record(const struct ddr_record *rec, enum ddr_kind kind,
    const struct addr *resolver, struct ddr_endpoint *ep, struct verdict *v)
{
	char tmp[80], ip[ADDR_STRLEN];
	const char *why;
	unsigned offered;
	size_t i;

	memset(ep, 0, sizeof(*ep));
	if (rec->priority == 0) {
		v->reason = DDR_NO_RECORD;
		snprintf(v->why, sizeof(v->why), "AliasMode");
		return -1;
	}
	if (rec->unusable[0] != '\0') {
		v->reason = DDR_UNSUPPORTED;
		snprintf(v->why, sizeof(v->why), "%s", rec->unusable);
		return -1;
	}
	offered = rec->alpn | (rec->no_default_alpn ? 0 : DDR_ALPN_DOT);
	if ((rec->alpn & DDR_ALPN_H2) == 0) {
		v->reason = DDR_NO_H2;
		snprintf(v->why, sizeof(v->why), "%s",
		    alpn_why(offered, tmp, sizeof(tmp)));
		return -1;
	}
	if (!rec->has_dohpath) {
		v->reason = DDR_NO_DOHPATH;
		snprintf(v->why, sizeof(v->why), "no dohpath");
		return -1;
	}
	if (dohpath_post(rec->dohpath, ep->path, sizeof(ep->path),
	    &why) == -1) {
		v->reason = DDR_NO_DOHPATH;
		snprintf(v->why, sizeof(v->why), "%s", why);
		return -1;
	}
	v->reason = DDR_UNVERIFIABLE;
	if (rec->target[0] != '\0' && !host_name(rec->target)) {
		snprintf(v->why, sizeof(v->why), "target is not a host name");
		return -1;
	}
	ep->kind = kind;
	ep->port = rec->port != 0 ? rec->port : DDR_PORT_DEFAULT;
	ep->ttl = clamp_ttl(rec->ttl);
	if (kind == DDR_VERIFIED) {
		if (rec->target[0] == '\0') {
			snprintf(v->why, sizeof(v->why),
			    "target \".\" cannot be verified");
			return -1;
		}
		snprintf(ep->host, sizeof(ep->host), "%s", rec->target);
		for (i = 0; i < rec->nhints; i++) {
			if (!ddr_usable_addr(&rec->hints[i]))
				continue;
			ep->addrs[ep->naddrs] = rec->hints[i];
			addr_set_port(&ep->addrs[ep->naddrs++], ep->port);
		}
		if (rec->nhints > 0 && ep->naddrs == 0) {
			/* Not a lookup instead: the record said where. */
			v->reason = DDR_UNSUPPORTED;
			snprintf(v->why, sizeof(v->why), "hint not usable");
			return -1;
		}
		return 0;
	}

	/* Opportunistic, RFC 9462 4.3. */
	if (resolver == NULL || resolver->len == 0) {
		snprintf(v->why, sizeof(v->why),
		    "no resolver address: no opportunistic use");
		return -1;
	}
	addr_ip_str(resolver, ip, sizeof(ip));
	if (!ddr_private_addr(resolver)) {
		snprintf(v->why, sizeof(v->why),
		    "resolver %s is not private: no opportunistic use", ip);
		return -1;
	}
	if (rec->nhints == 0 && rec->target[0] != '\0') {
		snprintf(v->why, sizeof(v->why),
		    "no address hint: opportunistic needs %s itself", ip);
		return -1;
	}
	for (i = 0; i < rec->nhints; i++)
		if (hint_is(&rec->hints[i], resolver))
			break;
	if (rec->nhints > 0 && i == rec->nhints) {
		snprintf(v->why, sizeof(v->why),
		    "no address hint equals %s: opportunistic needs it", ip);
		return -1;
	}
	ep->addrs[0] = *resolver;
	addr_set_port(&ep->addrs[0], ep->port);
	ep->naddrs = 1;
	snprintf(ep->host, sizeof(ep->host), "%s",
	    rec->target[0] != '\0' ? rec->target : ip);
	return 0;
}

/*
 * The next priority level above prio (any level if !have) in *next: 1,
 * or 0 when there is none.
 */
static int
next_prio(const struct ddr_record *recs, size_t n, int have, uint32_t prio,
    uint32_t *next)
{
	size_t i;

	*next = UINT32_MAX;
	for (i = 0; i < n; i++)
		if ((!have || recs[i].priority > prio) &&
		    recs[i].priority < *next)
			*next = recs[i].priority;
	return *next != UINT32_MAX;
}

int
ddr_choose_kinds(const struct ddr_record *recs, size_t n,
    const struct addr *resolver, unsigned kinds, struct ddr_endpoint *out,
    enum ddr_reason *reason, char *why, size_t whylen, char *skipped,
    size_t skippedlen)
{
	struct ddr_endpoint ep;
	struct verdict v, vo, best;
	struct dnsprint_out sk;
	size_t i, chosen = n;
	uint32_t prio = 0;
	int k, have_prio, usable_at, done = 0;

	dnsprint_out_buf(&sk, skipped, skipped != NULL ? skippedlen : 0);
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	best.reason = DDR_NO_RECORD;
	snprintf(best.why, sizeof(best.why), "no SVCB record");

	/*
	 * Verified at every priority level before opportunistic at any: a
	 * spoofed "." record of a better priority must not talk a client
	 * that could authenticate into TLS without it (RFC 9462 4.3 is
	 * for when 4.2 is not possible).  Records in order in each level.
	 */
	for (k = DDR_VERIFIED; k <= DDR_OPPORTUNISTIC && !done; k++) {
		if ((kinds & DDR_KIND_BIT(k)) == 0)
			continue;
		for (have_prio = 0; !done && next_prio(recs, n, have_prio,
		    prio, &prio); have_prio = 1) {
			for (i = 0; i < n && !done; i++) {
				if (recs[i].priority != prio)
					continue;
				if (try_record(&recs[i], k, resolver, &ep,
				    &v) == 0) {
					*out = ep;
					chosen = i;
					done = 1;
				}
			}
		}
	}

	/* The unusable ones, by level, and the best reason. */
	for (have_prio = 0; next_prio(recs, n, have_prio, prio, &prio);
	    have_prio = 1) {
		for (i = 0; i < n; i++) {
			if (recs[i].priority != prio || i == chosen)
				continue;
			usable_at = 0;
			v.reason = DDR_NO_RECORD;
			v.why[0] = '\0';
			vo.why[0] = '\0';
			if (kinds & DDR_KIND_BIT(DDR_VERIFIED))
				usable_at |= try_record(&recs[i],
				    DDR_VERIFIED, resolver, &ep, &v) == 0;
			if (kinds & DDR_KIND_BIT(DDR_OPPORTUNISTIC)) {
				usable_at |= try_record(&recs[i],
				    DDR_OPPORTUNISTIC, resolver, &ep,
				    &vo) == 0;
				if (v.why[0] == '\0')
					v = vo;
				else if (strcmp(v.why, vo.why) != 0 &&
				    vo.reason == DDR_UNVERIFIABLE) {
					size_t l = strlen(v.why);

					snprintf(v.why + l, sizeof(v.why) - l,
					    "; %s", vo.why);
				}
			}
			if (usable_at)
				continue;	/* usable, just not chosen */
			if (kinds == 0)
				snprintf(v.why, sizeof(v.why),
				    "no kind of discovery allowed");
			dnsprint_printf(&sk, "%u ", recs[i].priority);
			dnsprint_puts(&sk, recs[i].target);
			dnsprint_puts(&sk, ".: ");
			dnsprint_puts(&sk, v.why);
			dnsprint_puts(&sk, "\n");
			if (!done && v.reason > best.reason)
				best = v;
		}
	}
	if (skipped != NULL && dnsprint_out_len(&sk) >= skippedlen &&
	    skippedlen > 5)
		memcpy(skipped + skippedlen - 5, "...\n", 5);
	if (reason != NULL)
		*reason = done ? DDR_OK : best.reason;
	if (done)
		return 0;
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", best.why);
	return -1;
}

int
ddr_choose(const struct ddr_record *recs, size_t n,
    const struct addr *resolver, int opportunistic,
    struct ddr_endpoint *out, char *why, size_t whylen, char *skipped,
    size_t skippedlen)
{
	unsigned kinds = DDR_KIND_BIT(DDR_VERIFIED);

	if (opportunistic)
		kinds |= DDR_KIND_BIT(DDR_OPPORTUNISTIC);
	return ddr_choose_kinds(recs, n, resolver, kinds, out, NULL, why,
	    whylen, skipped, skippedlen);
}

int
ddr_record_str(const struct ddr_record *r, char *buf, size_t len)
{
	struct dnsprint_out o;

	dnsprint_out_buf(&o, buf, len);
	(void)dnsprint_rdata(&o, r->rdata, r->rdlen, 0, r->rdlen,
	    DNS_TYPE_SVCB);
	if (r->rdata_cut)
		dnsprint_puts(&o, " ...");
	return dnsprint_out_len(&o) < len ? 0 : -1;
}

int
ddr_endpoint_url(const struct ddr_endpoint *ep, char *buf, size_t len)
{
	char port[8] = "";
	int v6 = strchr(ep->host, ':') != NULL, n;

	if (ep->port != DDR_PORT_DEFAULT)
		snprintf(port, sizeof(port), ":%u", ep->port);
	n = snprintf(buf, len, "https://%s%s%s%s%s", v6 ? "[" : "", ep->host,
	    v6 ? "]" : "", port, ep->path);
	return n >= 0 && (size_t)n < len ? 0 : -1;
}
