/*
 * local: query policy and the zones answered on the host (see local.h).
 * Names are matched at label boundaries without case; zone names are
 * kept as text (no escapes in them) so the table reads as the RFCs do.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/local.h"
#include "dohstub/policy.h"

#define T_A		1
#define T_NS		2
#define T_SOA		6
#define T_PTR		12
#define T_AAAA		28
#define T_OPT		41
#define T_TKEY		249
#define T_TSIG		250
#define T_IXFR		251
#define T_AXFR		252
#define T_MAILB		253
#define T_MAILA		254
#define T_ANY		255
#define C_ANY		255

/* The data a node holds, as bits. */
#define HAS_A		0x01
#define HAS_AAAA	0x02
#define HAS_PTR		0x04
#define HAS_SOA		0x08
#define HAS_NS		0x10

/* unbound's default local zones' SOA: 1 3600 1200 604800 10800. */
#define LOCAL_TTL	10800

#define IP6_LOOPBACK	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." \
			"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"

struct local_zone {
	const char	*name;
	const char	*ptr;		/* the name in it with PTR localhost. */
	int		 localhost;	/* every name has A and AAAA */
};

static const struct local_zone local_zones[] = {
	{ "localhost", NULL, 1 },			/* RFC 6761 6.3 */
	{ "invalid", NULL, 0 },				/* RFC 6761 6.4 */
	{ "onion", NULL, 0 },				/* RFC 7686 */
	{ "local", NULL, 0 },				/* RFC 6762 */
	{ "home.arpa", NULL, 0 },			/* RFC 8375 */
	{ "resolver.arpa", NULL, 0 },			/* RFC 9462: no DDR */
	{ "127.in-addr.arpa", "1.0.0.127.in-addr.arpa", 0 },
	{ IP6_LOOPBACK, IP6_LOOPBACK, 0 },
	{ "10.in-addr.arpa", NULL, 0 },			/* RFC 1918, 6303 */
	{ "16.172.in-addr.arpa", NULL, 0 },
	{ "17.172.in-addr.arpa", NULL, 0 },
	{ "18.172.in-addr.arpa", NULL, 0 },
	{ "19.172.in-addr.arpa", NULL, 0 },
	{ "20.172.in-addr.arpa", NULL, 0 },
	{ "21.172.in-addr.arpa", NULL, 0 },
	{ "22.172.in-addr.arpa", NULL, 0 },
	{ "23.172.in-addr.arpa", NULL, 0 },
	{ "24.172.in-addr.arpa", NULL, 0 },
	{ "25.172.in-addr.arpa", NULL, 0 },
	{ "26.172.in-addr.arpa", NULL, 0 },
	{ "27.172.in-addr.arpa", NULL, 0 },
	{ "28.172.in-addr.arpa", NULL, 0 },
	{ "29.172.in-addr.arpa", NULL, 0 },
	{ "30.172.in-addr.arpa", NULL, 0 },
	{ "31.172.in-addr.arpa", NULL, 0 },
	{ "168.192.in-addr.arpa", NULL, 0 },
	{ "254.169.in-addr.arpa", NULL, 0 },		/* link-local */
	{ "d.f.ip6.arpa", NULL, 0 },			/* ULA */
	{ "8.e.f.ip6.arpa", NULL, 0 },			/* fe80::/10 */
	{ "9.e.f.ip6.arpa", NULL, 0 },
	{ "a.e.f.ip6.arpa", NULL, 0 },
	{ "b.e.f.ip6.arpa", NULL, 0 },
};

const char *
local_zone_name(size_t i)
{
	return i < sizeof(local_zones) / sizeof(local_zones[0]) ?
	    local_zones[i].name : NULL;
}

/* Wire names in the records we make (a string literal's NUL is the root). */
static const uint8_t name_localhost[] = "\011localhost";
static const uint8_t name_nobody[] = "\006nobody\007invalid";

static uint8_t
lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* The wire name at p (well formed) is the text name t, ignoring case. */
static int
wire_is_text(const uint8_t *p, const char *t)
{
	size_t n, i;

	for (;;) {
		if (*p == 0)
			return *t == '\0';
		n = strcspn(t, ".");
		if (*p != n)
			return 0;
		for (i = 0; i < n; i++)
			if (lower(p[1 + i]) != (uint8_t)t[i])
				return 0;
		p += 1 + n;
		t += n;
		if (*t == '.')
			t++;
	}
}

static size_t
text_labels(const char *t)
{
	size_t n = 1;

	for (; *t != '\0'; t++)
		n += *t == '.';
	return n;
}

/* Where each label of the question's name starts (the root not counted). */
struct labels {
	size_t	off[DNS_MAX_NAME / 2];
	size_t	n;
};

static void
labels_of(const struct dns_query_info *qi, struct labels *lb)
{
	size_t off = 0;

	lb->n = 0;
	while (off < qi->qname_len && qi->qname[off] != 0 &&
	    lb->n < sizeof(lb->off) / sizeof(lb->off[0])) {
		lb->off[lb->n++] = off;
		off += 1 + qi->qname[off];
	}
}

/* The offset in the question's name of zone, a suffix of it; or -1. */
static long
zone_offset(const struct dns_query_info *qi, const struct labels *lb,
    const char *zone)
{
	size_t zl = text_labels(zone);

	if (zl > lb->n)
		return -1;
	if (!wire_is_text(qi->qname + lb->off[lb->n - zl], zone))
		return -1;
	return (long)lb->off[lb->n - zl];
}

/* The question's name is a proper ancestor of the text name t. */
static int
ancestor_of(const struct dns_query_info *qi, const struct labels *lb,
    const char *t)
{
	size_t tl = text_labels(t);

	if (tl <= lb->n)
		return 0;
	for (tl -= lb->n; tl > 0; tl--)
		t = strchr(t, '.') + 1;
	return wire_is_text(qi->qname, t);
}

static int
policy_rcode(const struct dns_query_info *qi)
{
	if (qi->qtype == T_AXFR || qi->qtype == T_IXFR)
		return DNS_RCODE_REFUSED;
	if (qi->qtype == T_OPT || qi->qtype == T_TKEY || qi->qtype == T_TSIG ||
	    qi->qtype == T_MAILA || qi->qtype == T_MAILB ||
	    (qi->qtype >= 128 && qi->qtype <= 248))
		return DNS_RCODE_FORMERR;
	if (qi->qclass != DNS_CLASS_IN && qi->qclass != C_ANY)
		return DNS_RCODE_REFUSED;
	return -1;
}

/* The header and question; the counts of the other sections are 0. */
static void
put_head(struct dnsmsg_wr *w, const struct dns_query_info *qi,
    uint16_t flags)
{
	struct dns_header h;

	memset(&h, 0, sizeof(h));
	h.id = qi->id;
	h.flags = DNS_FLAG_QR | DNS_FLAG_RA |
	    (qi->flags & (DNS_FLAG_RD | DNS_FLAG_CD)) | flags;
	h.count[DNS_SEC_QUESTION] = 1;
	h.count[DNS_SEC_ADDITIONAL] = qi->has_edns != 0;
	dnsmsg_wr_header(w, &h);
	dnsmsg_wr_name(w, qi->qname, qi->qname_len);
	dnsmsg_wr_u16(w, qi->qtype);
	dnsmsg_wr_u16(w, qi->qclass);
}

/* A record owned by the name at off in the question (a pointer to it). */
static size_t
put_rr_start(struct dnsmsg_wr *w, size_t off, uint16_t type)
{
	size_t rdlen;

	dnsmsg_wr_u16(w, 0xc000 | (DNS_HDR_LEN + off));
	dnsmsg_wr_u16(w, type);
	dnsmsg_wr_u16(w, DNS_CLASS_IN);
	dnsmsg_wr_u32(w, LOCAL_TTL);
	rdlen = w->len;
	dnsmsg_wr_u16(w, 0);
	return rdlen;
}

static void
put_rr_end(struct dnsmsg_wr *w, size_t rdlen)
{
	dnsmsg_wr_set16(w, rdlen, (uint16_t)(w->len - rdlen - 2));
}

static void
put_soa(struct dnsmsg_wr *w, size_t apex)
{
	size_t rd = put_rr_start(w, apex, T_SOA);

	dnsmsg_wr_name(w, name_localhost, sizeof(name_localhost));
	dnsmsg_wr_name(w, name_nobody, sizeof(name_nobody));
	dnsmsg_wr_u32(w, 1);
	dnsmsg_wr_u32(w, 3600);
	dnsmsg_wr_u32(w, 1200);
	dnsmsg_wr_u32(w, 604800);
	dnsmsg_wr_u32(w, LOCAL_TTL);
	put_rr_end(w, rd);
}

/* The records of has (HAS_* bits) at the question's name; their count. */
static unsigned
put_data(struct dnsmsg_wr *w, unsigned has, size_t apex)
{
	static const uint8_t a[4] = { 127, 0, 0, 1 };
	static const uint8_t aaaa[16] = { [15] = 1 };
	unsigned n = 0;
	size_t rd;

	if (has & HAS_A) {
		rd = put_rr_start(w, 0, T_A);
		dnsmsg_wr_bytes(w, a, sizeof(a));
		put_rr_end(w, rd);
		n++;
	}
	if (has & HAS_AAAA) {
		rd = put_rr_start(w, 0, T_AAAA);
		dnsmsg_wr_bytes(w, aaaa, sizeof(aaaa));
		put_rr_end(w, rd);
		n++;
	}
	if (has & HAS_PTR) {
		rd = put_rr_start(w, 0, T_PTR);
		dnsmsg_wr_name(w, name_localhost, sizeof(name_localhost));
		put_rr_end(w, rd);
		n++;
	}
	if (has & HAS_SOA) {
		put_soa(w, apex);
		n++;
	}
	if (has & HAS_NS) {
		rd = put_rr_start(w, apex, T_NS);
		dnsmsg_wr_name(w, name_localhost, sizeof(name_localhost));
		put_rr_end(w, rd);
		n++;
	}
	return n;
}

static unsigned
type_bit(uint16_t qtype)
{
	switch (qtype) {
	case T_A:
		return HAS_A;
	case T_AAAA:
		return HAS_AAAA;
	case T_PTR:
		return HAS_PTR;
	case T_SOA:
		return HAS_SOA;
	case T_NS:
		return HAS_NS;
	case T_ANY:
		return ~0u;
	default:
		return 0;
	}
}

/* The answer from zone z, whose apex is at offset apex in the name. */
static void
zone_answer(struct dnsmsg_wr *w, const struct dns_query_info *qi,
    const struct labels *lb, const struct local_zone *z, size_t apex)
{
	unsigned has = 0, ans;
	int exists = 0, rcode = DNS_RCODE_NOERROR;

	if (z->localhost) {
		exists = 1;
		has |= HAS_A | HAS_AAAA;
	}
	if (apex == 0) {
		exists = 1;
		has |= HAS_SOA | HAS_NS;
	}
	if (z->ptr != NULL && wire_is_text(qi->qname, z->ptr)) {
		exists = 1;
		has |= HAS_PTR;
	} else if (z->ptr != NULL && ancestor_of(qi, lb, z->ptr))
		exists = 1;		/* an empty non-terminal */
	if (!exists)
		rcode = DNS_RCODE_NXDOMAIN;
	ans = has & type_bit(qi->qtype);
	put_head(w, qi, DNS_FLAG_AA | rcode);
	if (ans != 0)
		dnsmsg_wr_set16(w, 6, (uint16_t)put_data(w, ans, apex));
	else {
		put_soa(w, apex);
		dnsmsg_wr_set16(w, 8, 1);
	}
}

enum local_verdict
local_answer(const struct dns_query_info *qi, const struct config *cfg,
    uint8_t *out, size_t cap, size_t *len)
{
	struct dnsmsg_wr w;
	struct labels lb;
	const struct local_zone *z = NULL;
	enum local_verdict v;
	long apex = -1;
	size_t i;
	int rcode;

	*len = 0;
	if (qi->qname_len == 0)
		return LOCAL_FORWARD;
	dnsmsg_wr_init(&w, out, cap);
	if ((rcode = policy_rcode(qi)) != -1) {
		put_head(&w, qi, (uint16_t)rcode);
		v = LOCAL_POLICY;
	} else {
		labels_of(qi, &lb);
		for (i = 0; i < sizeof(local_zones) / sizeof(local_zones[0]);
		    i++)
			if ((apex = zone_offset(qi, &lb,
			    local_zones[i].name)) != -1) {
				z = &local_zones[i];
				break;
			}
		if (z == NULL)
			return LOCAL_FORWARD;
		for (i = 0; i < cfg->nlocal_exempt; i++)
			if (dnsmsg_name_below(qi->qname, qi->qname_len,
			    cfg->local_exempt[i].name,
			    cfg->local_exempt[i].len))
				return LOCAL_FORWARD;
		/* A forward rule overrides the local zones in its subtree. */
		if (policy_find_forward(cfg, qi->qname, qi->qname_len) != NULL)
			return LOCAL_FORWARD;
		zone_answer(&w, qi, &lb, z, (size_t)apex);
		v = LOCAL_ZONE;
	}
	if (qi->has_edns)
		dnsmsg_wr_opt(&w, DNS_EDNS_DEFAULT_MAX, qi->edns_do, 0);
	*len = dnsmsg_wr_finish(&w);
	return v;
}
