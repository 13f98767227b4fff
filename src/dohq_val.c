/*
 * dohq --validate: one answer judged by the daemon's validator, its
 * chain of trust fetched over dohq's DoH connection.  See dohq_val.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dohstub/clock.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"
#include "dohstub/doh.h"
#include "dohstub/dohq_out.h"
#include "dohstub/dohq_val.h"
#include "dohstub/validator.h"

#define DOHQ_VAL_ENTRIES	1024	/* the validator's store: one run */
#define DOHQ_CHAIN_LINE		1024	/* a line of the chain, at most */
#define DOHQ_VAL_QUERY		512	/* header, name, OPT, padding */
#define DOHQ_VAL_EDNS		1232	/* the OPT of a joined answer */

struct dohq_val {
	struct dohq_val_params	 p;
	struct doh_client	*doh;
	struct validator	*v;
	const struct config	*cfg;	/* its anchors and insecure zones */
	struct dnssec_sets	*sets;		/* a chain answer, listed */
	/* the answer judged: the server's, or joined to its target's */
	struct dns_query_info	 qi;
	uint8_t			*msg;
	size_t			 len;
	struct val_need		 need;
	uint8_t			 wire[DOHQ_VAL_QUERY];
	struct doh_req		*req;
	struct event		*timer;
	/* The CNAME targets the server did not follow, asked. */
	struct event		*ftimer;
	uint8_t			 fwire[DOHQ_VAL_QUERY];
	size_t			 flen;
	struct dns_query_info	 tqi;
	unsigned		 nfollow;
	unsigned		 budget;
	unsigned		 nqueries;
	int			 ex;	/* a chain query failed to come */
	char			 err[DNS_MAX_NAME_TEXT + 600];	/* the first
							   one's why */
	struct val_verdict	 vd;
	int			 done;	/* out is the verdict */
	char			 why[DNS_MAX_NAME_TEXT + 640];
	char			 zone[DNS_MAX_NAME_TEXT];
	char			**chain;
	size_t			 nchain;
	size_t			 chain_cap;
	struct dohq_out_validation out;
};

/* One line of the chain, kept for the report; out of memory drops it. */
static void
val_line(struct dohq_val *val, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
val_line(struct dohq_val *val, const char *fmt, ...)
{
	va_list ap;
	char **n, line[DOHQ_CHAIN_LINE];

	if (val->nchain == val->chain_cap) {
		n = reallocarray(val->chain, val->chain_cap * 2 + 16,
		    sizeof(*n));
		if (n == NULL)
			return;
		val->chain = n;
		val->chain_cap = val->chain_cap * 2 + 16;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if ((val->chain[val->nchain] = strdup(line)) != NULL)
		val->nchain++;
}

/*
 * The validator's steps, each once: it judges the answer from its start
 * again after every chain query, saying again what it proved before.
 * Its verdict line is the report's first.
 */
static void
val_trace(const char *line, void *arg)
{
	struct dohq_val *val = arg;
	size_t i;

	if (strncmp(line, "verdict ", 8) == 0)
		return;
	for (i = 0; i < val->nchain; i++)
		if (strcmp(val->chain[i], line) == 0)
			return;
	val_line(val, "%s", line);
}

/* Append to buf (size bytes, *len used); what does not fit is cut. */
static void
lcat(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
lcat(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= size - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n < size - *len ? (size_t)n : size - 1 - *len;
}

static const char *
name_str(const uint8_t *name, size_t len, char *buf, size_t size)
{
	if (dnsmsg_name_to_text(name, len, buf, size, 0) != 0 || *buf == '\0')
		snprintf(buf, size, "?");
	return buf;
}

/* The key tag of one record of a DS or DNSKEY set, or an RRSIG's. */
static unsigned
rd_tag(uint16_t type, const uint8_t *rd, size_t len)
{
	if (type == DNS_TYPE_DNSKEY)
		return dnssec_key_tag(rd, len);
	if (type == DNS_TYPE_RRSIG)
		return len >= 18 ? (unsigned)(rd[16] << 8 | rd[17]) : 0;
	return len >= 2 ? (unsigned)(rd[0] << 8 | rd[1]) : 0;
}

/*
 * The order of rd[0..n-1] (type's RDATA) by key tag into idx: servers
 * rotate the records of a set, and the report should not.
 */
static void
by_tag(uint16_t type, const uint8_t *const *rd, const uint16_t *len,
    size_t n, size_t *idx)
{
	size_t i, k, t;

	for (i = 0; i < n; i++) {
		idx[i] = i;
		for (k = i; k > 0 && rd_tag(type, rd[idx[k - 1]],
		    len[idx[k - 1]]) > rd_tag(type, rd[idx[k]], len[idx[k]]);
		    k--) {
			t = idx[k];
			idx[k] = idx[k - 1];
			idx[k - 1] = t;
		}
	}
}

/*
 * What a chain answer holds, before the validator judges it: the DS
 * records (tag/algorithm/digest type) or the keys (tag/algorithm, KSK
 * for the SEP flag), the RRSIGs' keys and signers, by key tag, the TTL;
 * or the rcode of an answer without them.  The trace then says which
 * key verified what.
 */
static void
val_note_answer(struct dohq_val *val, const uint8_t *msg, size_t len)
{
	const struct val_need *nd = &val->need;
	const struct dnssec_rrset *set = NULL;
	struct dnssec_dnskey key;
	struct dnssec_rrsig rs;
	char line[DOHQ_CHAIN_LINE], name[DNS_MAX_NAME_TEXT];
	char signer[DNS_MAX_NAME_TEXT], rc[16];
	const char *type = nd->type == DNS_TYPE_DS ? "DS" : "DNSKEY";
	size_t idx[DNSSEC_MAX_RRS], sidx[DNSSEC_MAX_SIGS], i, l = 0;
	const uint8_t *rd;
	uint16_t rdlen;
	int rcode;

	name_str(nd->name, nd->name_len, name, sizeof(name));
	if (len < DNS_HDR_LEN) {
		val_line(val, "%s %s fetched: not a DNS message", name, type);
		return;
	}
	if (dnssec_collect(msg, len, DNS_SEC_ANSWER, val->sets) == DNSSEC_OK)
		set = dnssec_find(val->sets, nd->name, nd->name_len, nd->type,
		    DNS_CLASS_IN);
	if (set == NULL || set->n == 0) {
		rcode = dnsmsg_rcode(msg);
		val_line(val, "%s %s fetched: %s", name, type,
		    rcode == DNS_RCODE_NOERROR ? "NODATA" :
		    dnsmsg_rcode_str((unsigned)rcode, rc, sizeof(rc)));
		return;
	}
	lcat(line, sizeof(line), &l, "%s %s fetched:", name, type);
	by_tag(nd->type, set->rdata, set->rdlen, set->n, idx);
	by_tag(DNS_TYPE_RRSIG, set->sig, set->siglen, set->nsigs, sidx);
	for (i = 0; i < set->n; i++) {
		rd = set->rdata[idx[i]];
		rdlen = set->rdlen[idx[i]];
		if (nd->type == DNS_TYPE_DS && rdlen >= 4)
			lcat(line, sizeof(line), &l, " %u/%u/%u",
			    (unsigned)(rd[0] << 8 | rd[1]), rd[2], rd[3]);
		else if (nd->type == DNS_TYPE_DNSKEY &&
		    dnssec_dnskey_parse(rd, rdlen, &key) == DNSSEC_OK)
			lcat(line, sizeof(line), &l, " %u/%u%s%s", key.tag,
			    key.algorithm, key.flags & DNSSEC_FLAG_SEP ?
			    " KSK" : "", key.flags & DNSSEC_FLAG_REVOKE ?
			    " revoked" : "");
		else
			lcat(line, sizeof(line), &l, " (malformed)");
		lcat(line, sizeof(line), &l, i + 1 < set->n ? "," : ";");
	}
	if (set->nsigs == 0)
		lcat(line, sizeof(line), &l, " no RRSIG;");
	for (i = 0; i < set->nsigs; i++)
		if (dnssec_rrsig_parse(set->sig[sidx[i]],
		    set->siglen[sidx[i]], &rs) == DNSSEC_OK)
			lcat(line, sizeof(line), &l, " RRSIG %u/%u by %s;",
			    rs.key_tag, rs.algorithm, name_str(rs.signer,
			    rs.signer_len, signer, sizeof(signer)));
	lcat(line, sizeof(line), &l, " ttl %u", set->ttl);
	val_line(val, "%s", line);
}

static void	val_step(struct dohq_val *);

/* A chain query ended: the validator learns its answer, or none. */
static void
val_learn(struct dohq_val *val, const uint8_t *msg, size_t len)
{
	if (val->timer != NULL)
		evtimer_del(val->timer);
	validator_learn(val->v, &val->need, msg, len, clock_wall(),
	    &val->budget);
	val_step(val);
}

/* A chain query that got no answer: say why, keep the first failure. */
static void
val_failed(struct dohq_val *val, int ex, const char *why)
{
	char name[DNS_MAX_NAME_TEXT];

	name_str(val->need.name, val->need.name_len, name, sizeof(name));
	val_line(val, "%s %s fetched: nothing: %s", name,
	    val->need.type == DNS_TYPE_DS ? "DS" : "DNSKEY", why);
	if (val->ex == 0) {
		val->ex = ex;
		snprintf(val->err, sizeof(val->err), "%s %s (a chain query): "
		    "%s", name, val->need.type == DNS_TYPE_DS ? "DS" :
		    "DNSKEY", why);
	}
}

static void
val_done_cb(enum doh_result res, const struct doh_response *resp,
    void *arg)
{
	struct dohq_val *val = arg;
	char why[512];

	val->req = NULL;
	if (res != DOH_OK) {
		val_failed(val, val->p.error(res, resp->status,
		    why, sizeof(why), val->p.arg), why);
		val_learn(val, NULL, 0);
		return;
	}
	val_note_answer(val, resp->body, resp->len);
	val_learn(val, resp->body, resp->len);
}

static void
val_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct dohq_val *val = arg;
	char why[128];

	(void)fd;
	(void)ev;
	doh_cancel(val->req);
	val->req = NULL;
	snprintf(why, sizeof(why), "timed out (no response within %u ms)",
	    val->p.timeout_ms);
	val_failed(val, DOHQ_TIMEOUT, why);
	val_learn(val, NULL, 0);
}

/*
 * Ask for what the validator needs: 0 when the query is on its way, -1
 * when it could not go (the validator has been told).
 */
static int
val_fetch(struct dohq_val *val)
{
	struct timeval tv;
	char why[512];
	size_t len;

	val->nqueries++;
	len = dnsmsg_make_query(val->wire, sizeof(val->wire), val->need.name,
	    val->need.name_len, val->need.type, DNS_CLASS_IN, DNS_FLAG_RD |
	    DNS_FLAG_CD, val->p.edns_size, 1, val->p.pad_block);
	if (len == 0) {
		val_failed(val, DOHQ_INTERNAL, "cannot make the query");
		validator_learn(val->v, &val->need, NULL, 0, clock_wall(),
		    &val->budget);
		return -1;
	}
	if ((val->req = doh_submit(val->doh, val->wire, len, val_done_cb,
	    val)) == NULL) {
		if (doh_get_state(val->doh) == DOH_BACKOFF)
			val_failed(val, val->p.error(DOH_ERR_CONNECT, 0,
			    why, sizeof(why), val->p.arg), why);
		else
			val_failed(val, DOHQ_INTERNAL, "out of memory");
		validator_learn(val->v, &val->need, NULL, 0, clock_wall(),
		    &val->budget);
		return -1;
	}
	tv.tv_sec = val->p.timeout_ms / 1000;
	tv.tv_usec = (val->p.timeout_ms % 1000) * 1000;
	evtimer_add(val->timer, &tv);
	return 0;
}

/* The verdict is in: tell dohq. */
static void
val_done(struct dohq_val *val)
{
	struct dohq_out_validation *o = &val->out;

	snprintf(val->why, sizeof(val->why), "%s", val->vd.why != NULL ?
	    val->vd.why : "");
	memset(o, 0, sizeof(*o));
	o->verdict = val_state_names[val->vd.state];
	o->ede = val->vd.ede;
	o->why = val->why;
	if (val->vd.zone_len > 0)
		o->zone = name_str(val->vd.zone, val->vd.zone_len, val->zone,
		    sizeof(val->zone));
	o->chain = (const char *const *)val->chain;
	o->nchain = val->nchain;
	o->chain_queries = val->nqueries;
	val->done = 1;
	val->p.done(val, val->p.arg);
}

/* Judge the answer until a verdict, or until a chain query is out. */
static void
val_step(struct dohq_val *val)
{

	for (;;) {
		if (validator_check(val->v, &val->qi, val->msg, val->len,
		    clock_wall(), &val->budget, &val->vd, &val->need) ==
		    VAL_DONE)
			break;
		if (val->nqueries >= VALIDATOR_MAX_NEEDS) {
			/* RFC 8914 5: "DNSSEC Indeterminate". */
			memset(&val->vd, 0, sizeof(val->vd));
			val->vd.state = VAL_BOGUS;
			val->vd.ede = 5;
			val->vd.why = "the chain of trust needs more "
			    "queries than one answer may cost "
			    "(VALIDATOR_MAX_NEEDS)";
			break;
		}
		if (val_fetch(val) == 0)
			return;
	}
	val_done(val);
}

/*
 * Where the answer's CNAME chain from qi's name ends (DNAMEs come with
 * their synthesized CNAMEs) when no record of the question's type is
 * there: a server authoritative for the first zone stops at its edge
 * and leaves the rest to the resolver, and dohq is the resolver here,
 * as delv is.  1 and target (DNS_MAX_NAME bytes, *tlen), or 0.
 */
static int
val_target(struct dohq_val *val, const struct dns_query_info *qi,
    const uint8_t *msg, size_t len, uint8_t *target, size_t *tlen)
{
	const struct dnssec_rrset *set;
	uint8_t cur[DNS_MAX_NAME];
	size_t clen = qi->qname_len;
	int i;

	if (len < DNS_HDR_LEN || dnsmsg_rcode(msg) != DNS_RCODE_NOERROR ||
	    qi->qtype == DNS_TYPE_CNAME || qi->qclass != DNS_CLASS_IN ||
	    dnssec_collect(msg, len, DNS_SEC_ANSWER, val->sets) != DNSSEC_OK)
		return 0;
	memcpy(cur, qi->qname, clen);
	for (i = 0; i <= VALIDATOR_CNAME_MAX; i++) {
		set = dnssec_find(val->sets, cur, clen, qi->qtype,
		    DNS_CLASS_IN);
		if (set != NULL && set->n > 0)
			return 0;
		set = dnssec_find(val->sets, cur, clen, DNS_TYPE_CNAME,
		    DNS_CLASS_IN);
		if (set == NULL || set->n == 0 || set->rdlen[0] == 0 ||
		    set->rdlen[0] > DNS_MAX_NAME)
			break;
		memcpy(cur, set->rdata[0], set->rdlen[0]);
		clen = set->rdlen[0];
	}
	if (i == 0 || i > VALIDATOR_CNAME_MAX)
		return 0;
	memcpy(target, cur, clen);
	*tlen = clen;
	return 1;
}

/*
 * Copy the records of section sec of msg (len bytes) to w,
 * uncompressed, those already written from written[0..*n-1] (offsets
 * and lengths in w) left out.  The records written, or -1.
 */
static int
join_section(struct dnsmsg_wr *w, const uint8_t *msg, size_t len,
    enum dns_section sec, size_t (*written)[2], size_t *n, size_t max)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint8_t owner[DNS_MAX_NAME], rd[65535];
	size_t i, start, k;
	long rdlen;
	int s, count = 0, dup;

	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		return -1;
	for (s = DNS_SEC_ANSWER; s <= (int)sec; s++)
		for (i = 0; i < h.count[s]; i++) {
			if (dnsmsg_rd_rr(&r, owner, &rr) == -1)
				return -1;
			if (s != (int)sec || rr.type == DNS_TYPE_OPT)
				continue;
			if ((rdlen = dnssec_rdata_canonical(rr.type, &rr.rdata,
			    rd, sizeof(rd))) < 0)
				return -1;
			start = w->len;
			dnsmsg_wr_name(w, owner, rr.owner_len);
			dnsmsg_wr_u16(w, rr.type);
			dnsmsg_wr_u16(w, rr.class);
			dnsmsg_wr_u32(w, rr.ttl);
			dnsmsg_wr_u16(w, (uint16_t)rdlen);
			dnsmsg_wr_bytes(w, rd, (size_t)rdlen);
			if (w->err)
				return -1;
			for (k = 0, dup = 0; k < *n && !dup; k++)
				dup = written[k][1] == w->len - start &&
				    memcmp(w->buf + written[k][0], w->buf +
				    start, w->len - start) == 0;
			if (dup) {
				w->len = start;
				continue;
			}
			if (*n == max)
				return -1;
			written[*n][0] = start;
			written[(*n)++][1] = w->len - start;
			count++;
		}
	return count;
}

/*
 * The answer a resolver would have given: a's header and question, the
 * answer records of a and then of b (the answer at a's CNAME target),
 * b's authority records and rcode, and an OPT record with DO.  The
 * names are written uncompressed, the RDATA in canonical form (what
 * the validator checks anyway).  Its length in out (cap bytes), or 0.
 */
static size_t
val_join(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    uint8_t *out, size_t cap)
{
	struct dnsmsg_wr w;
	struct dnsmsg_rd r;
	struct dns_header h;
	size_t (*written)[2], n = 0, qend;
	int an, an2, ns;

	dnsmsg_rd_init(&r, a, alen);
	if (alen < DNS_HDR_LEN || blen < DNS_HDR_LEN ||
	    dnsmsg_rd_header(&r, &h) == -1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		return 0;
	qend = r.off;
	if ((written = calloc(DNSSEC_MAX_RRS * 4, sizeof(*written))) == NULL)
		return 0;
	dnsmsg_wr_init(&w, out, cap);
	h.flags = (uint16_t)((h.flags & ~0xf) | dnsmsg_rcode(b));
	h.count[DNS_SEC_QUESTION] = 1;
	dnsmsg_wr_header(&w, &h);
	/* The first name of a message cannot point back: copied as is. */
	dnsmsg_wr_bytes(&w, a + DNS_HDR_LEN, qend - DNS_HDR_LEN);
	an = join_section(&w, a, alen, DNS_SEC_ANSWER, written, &n,
	    DNSSEC_MAX_RRS * 4);
	an2 = join_section(&w, b, blen, DNS_SEC_ANSWER, written, &n,
	    DNSSEC_MAX_RRS * 4);
	ns = join_section(&w, b, blen, DNS_SEC_AUTHORITY, written, &n,
	    DNSSEC_MAX_RRS * 4);
	free(written);
	if (an < 0 || an2 < 0 || ns < 0)
		return 0;
	dnsmsg_wr_opt(&w, DOHQ_VAL_EDNS, 1, 0);
	dnsmsg_wr_set16(&w, 6, (uint16_t)(an + an2));
	dnsmsg_wr_set16(&w, 8, (uint16_t)ns);
	dnsmsg_wr_set16(&w, 10, 1);
	return dnsmsg_wr_finish(&w);
}

static void	val_follow(struct dohq_val *);

static void
val_follow_cb(enum doh_result res, const struct doh_response *resp,
    void *arg)
{
	struct dohq_val *val = arg;
	uint8_t *joined;
	size_t len;
	char why[512], name[DNS_MAX_NAME_TEXT], t[16];

	val->req = NULL;
	evtimer_del(val->ftimer);
	name_str(val->tqi.qname, val->tqi.qname_len, name, sizeof(name));
	dnsmsg_type_str(val->tqi.qtype, t, sizeof(t));
	if (res != DOH_OK) {
		val->p.error(res, resp->status, why, sizeof(why),
		    val->p.arg);
		val_line(val, "%s %s asked: nothing: %s", name, t, why);
		val_step(val);
		return;
	}
	if (dnsmsg_check_answer(resp->body, resp->len, &val->tqi) != 0) {
		val_line(val, "%s %s asked: not an answer to it", name, t);
		val_step(val);
		return;
	}
	if ((joined = malloc(DOH_MAX_BODY)) == NULL ||
	    (len = val_join(val->msg, val->len, resp->body, resp->len, joined,
	    DOH_MAX_BODY)) == 0) {
		free(joined);
		val_line(val, "%s %s asked: cannot join it to the answer",
		    name, t);
		val_step(val);
		return;
	}
	val_line(val, "%s %s asked: %u answer records, joined to the "
	    "answer", name, t, (unsigned)(resp->body[6] << 8 |
	    resp->body[7]));
	free(val->msg);
	val->msg = joined;
	val->len = len;
	val_follow(val);
}

static void
val_follow_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct dohq_val *val = arg;
	char name[DNS_MAX_NAME_TEXT];

	(void)fd;
	(void)ev;
	doh_cancel(val->req);
	val->req = NULL;
	val_line(val, "%s asked: nothing: timed out (no response within "
	    "%u ms)", name_str(val->tqi.qname, val->tqi.qname_len, name,
	    sizeof(name)), val->p.timeout_ms);
	val_step(val);
}

/*
 * Ask for the answer at the end of a CNAME chain the server did not
 * follow (val_target()), and join it to the answer, as a resolver
 * would; then judge.  A failure leaves the answer as it is, for the
 * validator to judge (incomplete: bogus).
 */
static void
val_follow(struct dohq_val *val)
{
	struct timeval tv;
	uint8_t target[DNS_MAX_NAME];
	char name[DNS_MAX_NAME_TEXT], t[16];
	size_t tlen;

	if (val->nfollow >= VALIDATOR_CNAME_MAX ||
	    !val_target(val, &val->qi, val->msg, val->len, target, &tlen)) {
		val_step(val);
		return;
	}
	val->nfollow++;
	val->flen = dnsmsg_make_query(val->fwire, sizeof(val->fwire), target,
	    tlen, val->qi.qtype, DNS_CLASS_IN, DNS_FLAG_RD | DNS_FLAG_CD,
	    val->p.edns_size, 1, val->p.pad_block);
	if (val->flen == 0 || dnsmsg_parse_query(val->fwire, val->flen,
	    &val->tqi) != DNS_VERDICT_OK) {
		val_step(val);
		return;
	}
	name_str(target, tlen, name, sizeof(name));
	dnsmsg_type_str(val->qi.qtype, t, sizeof(t));
	val_line(val, "%s %s: where the answer's CNAME chain ends, without "
	    "the data: asked", name, t);
	if ((val->req = doh_submit(val->doh, val->fwire, val->flen,
	    val_follow_cb, val)) == NULL) {
		val_line(val, "%s %s asked: not sent: the connection failed",
		    name, t);
		val_step(val);
		return;
	}
	tv.tv_sec = val->p.timeout_ms / 1000;
	tv.tv_usec = (val->p.timeout_ms % 1000) * 1000;
	evtimer_add(val->ftimer, &tv);
}

void
dohq_val_start(struct dohq_val *val, struct doh_client *doh,
    const struct dns_query_info *qi, const uint8_t *msg, size_t len)
{
	char qname[DNS_MAX_NAME_TEXT], zone[DNS_MAX_NAME_TEXT];
	size_t i;

	val->doh = doh;
	val->qi = *qi;
	val->budget = VALIDATOR_BUDGET;
	if ((val->msg = malloc(len > 0 ? len : 1)) == NULL) {
		/* As the validator says it: out of memory, EDE 0. */
		val->vd.state = VAL_BOGUS;
		val->vd.ede = 0;
		val->vd.why = "out of memory";
		val_done(val);
		return;
	}
	memcpy(val->msg, msg, len);
	val->len = len;
	for (i = 0; i < val->cfg->ninsecure; i++)
		if (dnsmsg_name_below(qi->qname, qi->qname_len,
		    val->cfg->insecure[i].name, val->cfg->insecure[i].len))
			val_line(val, "%s: below the negative trust anchor %s "
			    "(dnssec-insecure)", name_str(qi->qname,
			    qi->qname_len, qname, sizeof(qname)),
			    name_str(val->cfg->insecure[i].name,
			    val->cfg->insecure[i].len, zone, sizeof(zone)));
	val_follow(val);
}

int
dohq_val_new(struct config *cfg, const struct dohq_val_params *p,
    struct dohq_val **out, char *err, size_t errlen)
{
	struct dohq_val *val;
	const struct dnssec_anchor *a;
	const uint8_t **nta = NULL;
	size_t *nta_len = NULL;
	char name[DNS_MAX_NAME_TEXT];
	size_t i;
	int ex;

	*out = NULL;
	/* As the daemon takes them, without the rest of config_finalize()
	 * (which reads resolv.conf for servers dohq does not use). */
	if (config_dnssec_load(cfg, err, errlen) == -1)
		return errno == EINVAL ? DOHQ_USAGE : errno == ENOMEM ?
		    DOHQ_INTERNAL : DOHQ_NOINPUT;
	if ((val = calloc(1, sizeof(*val))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return DOHQ_INTERNAL;
	}
	val->p = *p;
	val->cfg = cfg;
	ex = DOHQ_INTERNAL;
	snprintf(err, errlen, "out of memory");
	if ((val->sets = malloc(sizeof(*val->sets))) == NULL ||
	    (val->timer = evtimer_new(p->base, val_timeout_cb, val)) ==
	    NULL || (val->ftimer = evtimer_new(p->base,
	    val_follow_timeout_cb, val)) == NULL ||
	    (cfg->ninsecure > 0 && ((nta = calloc(cfg->ninsecure,
	    sizeof(*nta))) == NULL || (nta_len = calloc(cfg->ninsecure,
	    sizeof(*nta_len))) == NULL)))
		goto fail;
	for (i = 0; i < cfg->ninsecure; i++) {
		nta[i] = cfg->insecure[i].name;
		nta_len[i] = cfg->insecure[i].len;
	}
	val->v = validator_new(cfg->anchors, cfg->nanchors, nta, nta_len,
	    cfg->ninsecure, DOHQ_VAL_ENTRIES);
	if (val->v == NULL)
		goto fail;
	free(nta);
	free(nta_len);
	validator_set_trace(val->v, val_trace, val);
	for (i = 0; i < cfg->nanchors; i++) {
		a = &cfg->anchors[i];
		name_str(a->owner, a->owner_len, name, sizeof(name));
		if (a->type == DNS_TYPE_DS && a->rdlen >= 4)
			val_line(val, "%s DS %u/%u/%u trust anchor (%s)", name,
			    a->tag, a->algorithm, a->rdata[3],
			    cfg->anchors_from);
		else
			val_line(val, "%s DNSKEY %u/%u%s trust anchor (%s)",
			    name, a->tag, a->algorithm, a->rdlen >= 2 &&
			    (a->rdata[1] & DNSSEC_FLAG_SEP) ? " KSK" : "",
			    cfg->anchors_from);
	}
	*out = val;
	return 0;
fail:
	free(nta);
	free(nta_len);
	dohq_val_free(val);
	return ex;
}

const struct dohq_out_validation *
dohq_val_result(const struct dohq_val *val)
{
	return val->done ? &val->out : NULL;
}

enum val_state
dohq_val_state(const struct dohq_val *val)
{
	return val->vd.state;
}

const uint8_t *
dohq_val_answer(const struct dohq_val *val, size_t *len)
{
	*len = val->len;
	return val->msg;
}

int
dohq_val_failure(const struct dohq_val *val, const char **why)
{
	*why = val->err;
	return val->ex;
}

void
dohq_val_free(struct dohq_val *val)
{
	size_t i;

	if (val == NULL)
		return;
	doh_cancel(val->req);
	if (val->timer != NULL)
		event_free(val->timer);
	if (val->ftimer != NULL)
		event_free(val->ftimer);
	validator_free(val->v);
	dnssec_key_cache_free();
	for (i = 0; i < val->nchain; i++)
		free(val->chain[i]);
	free(val->chain);
	free(val->sets);
	free(val->msg);
	free(val);
}
