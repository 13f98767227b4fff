/*
 * dnsmsg: pure DNS wire code.  Every read goes through the bounded
 * reader and every write through the bounded writer; header counts only
 * bound loops that stop at the first record that does not fit, so they
 * never size anything.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dohstub/dnsmsg.h"

#define RR_FIXED_LEN	10	/* type, class, TTL, RDLEN */

/*
 * Pointers must go strictly backwards, which already bounds the chain by
 * the message size; the hop limit keeps the work per name small too.
 */
#define NAME_MAX_HOPS	127

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

const char *const dns_verdict_names[] = {
	"ok", "drop", "formerr", "notimp", "badvers",
};

/* --- the reader --- */

void
dnsmsg_rd_init(struct dnsmsg_rd *r, const uint8_t *msg, size_t len)
{
	r->msg = msg;
	r->len = len;
	r->off = 0;
	r->end = len;
}

size_t
dnsmsg_rd_left(const struct dnsmsg_rd *r)
{
	return r->off < r->end ? r->end - r->off : 0;
}

int
dnsmsg_rd_skip(struct dnsmsg_rd *r, size_t n)
{
	if (dnsmsg_rd_left(r) < n)
		return -1;
	r->off += n;
	return 0;
}

int
dnsmsg_rd_bytes(struct dnsmsg_rd *r, size_t n, const uint8_t **p)
{
	if (dnsmsg_rd_left(r) < n)
		return -1;
	*p = r->msg + r->off;
	r->off += n;
	return 0;
}

int
dnsmsg_rd_u8(struct dnsmsg_rd *r, uint8_t *v)
{
	if (dnsmsg_rd_left(r) < 1)
		return -1;
	*v = r->msg[r->off++];
	return 0;
}

int
dnsmsg_rd_u16(struct dnsmsg_rd *r, uint16_t *v)
{
	if (dnsmsg_rd_left(r) < 2)
		return -1;
	*v = (uint16_t)(r->msg[r->off] << 8 | r->msg[r->off + 1]);
	r->off += 2;
	return 0;
}

int
dnsmsg_rd_u32(struct dnsmsg_rd *r, uint32_t *v)
{
	uint16_t hi, lo;

	if (dnsmsg_rd_left(r) < 4)
		return -1;
	(void)dnsmsg_rd_u16(r, &hi);
	(void)dnsmsg_rd_u16(r, &lo);
	*v = (uint32_t)hi << 16 | lo;
	return 0;
}

int
dnsmsg_rd_sub(struct dnsmsg_rd *r, size_t n, struct dnsmsg_rd *sub)
{
	if (dnsmsg_rd_left(r) < n)
		return -1;
	*sub = *r;
	sub->end = r->off + n;
	r->off += n;
	return 0;
}

int
dnsmsg_rd_header(struct dnsmsg_rd *r, struct dns_header *h)
{
	size_t i;

	if (dnsmsg_rd_left(r) < DNS_HDR_LEN)
		return -1;
	(void)dnsmsg_rd_u16(r, &h->id);
	(void)dnsmsg_rd_u16(r, &h->flags);
	for (i = 0; i < DNS_SEC_MAX; i++)
		(void)dnsmsg_rd_u16(r, &h->count[i]);
	return 0;
}

/*
 * A pointer must land after the header, and the part it reaches must end
 * before the part holding the pointer: a backward target alone is not
 * enough, as its labels could run on past the pointer.  So a name
 * depends only on bytes before it, and loops, forward or out-of-range
 * pointers are impossible by construction.
 */
int
dnsmsg_rd_name(struct dnsmsg_rd *r, uint8_t *out, size_t *outlen)
{
	const uint8_t *msg = r->msg;
	size_t pos = r->off, part = r->off, end, after = 0, n = 0;
	size_t ptr;
	int hops = 0;
	uint8_t lab;

	end = r->end < r->len ? r->end : r->len;
	for (;;) {
		if (pos >= end)
			return -1;
		lab = msg[pos];
		if ((lab & 0xc0) == 0xc0) {
			if (end - pos < 2)
				return -1;
			ptr = (size_t)(lab & 0x3f) << 8 | msg[pos + 1];
			if (ptr < DNS_HDR_LEN || ptr >= part ||
			    ++hops > NAME_MAX_HOPS)
				return -1;
			if (after == 0)
				after = pos + 2;
			end = part;
			pos = part = ptr;
			continue;
		}
		/* 0x40 (extended) and 0x80 (reserved) label types. */
		if ((lab & 0xc0) != 0)
			return -1;
		if (lab == 0)
			break;
		/* Leave room for the root label that must follow. */
		if (n + 1 + lab + 1 > DNS_MAX_NAME || end - pos - 1 < lab)
			return -1;
		if (out != NULL)
			memcpy(out + n, msg + pos, 1 + (size_t)lab);
		n += 1 + (size_t)lab;
		pos += 1 + (size_t)lab;
	}
	if (out != NULL)
		out[n] = 0;
	n++;
	if (outlen != NULL)
		*outlen = n;
	r->off = after != 0 ? after : pos + 1;
	return 0;
}

int
dnsmsg_rd_rr(struct dnsmsg_rd *r, uint8_t *owner, struct dns_rr *rr)
{
	struct dnsmsg_rd at = *r;

	rr->owner_off = r->off;
	if (dnsmsg_rd_name(r, owner, &rr->owner_len) == -1)
		goto fail;
	rr->owner_wlen = r->off - rr->owner_off;
	if (dnsmsg_rd_u16(r, &rr->type) == -1 ||
	    dnsmsg_rd_u16(r, &rr->class) == -1 ||
	    dnsmsg_rd_u32(r, &rr->ttl) == -1 ||
	    dnsmsg_rd_u16(r, &rr->rdlen) == -1 ||
	    dnsmsg_rd_sub(r, rr->rdlen, &rr->rdata) == -1)
		goto fail;
	return 0;
 fail:
	*r = at;
	return -1;
}

static int
rd_question(struct dnsmsg_rd *r, uint8_t *name, size_t *namelen,
    uint16_t *type, uint16_t *class)
{
	if (dnsmsg_rd_name(r, name, namelen) == -1 ||
	    dnsmsg_rd_u16(r, type) == -1 ||
	    dnsmsg_rd_u16(r, class) == -1)
		return -1;
	return 0;
}

static uint8_t
fold(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int
dnsmsg_name_equal(const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	/* Length bytes are below 'A', so folding them is harmless. */
	for (i = 0; i < alen; i++)
		if (fold(a[i]) != fold(b[i]))
			return 0;
	return 1;
}

int
dnsmsg_name_below(const uint8_t *name, size_t len, const uint8_t *zone,
    size_t zlen)
{
	size_t off = 0;

	while (off < len && len - off > zlen && name[off] != 0)
		off += 1 + (size_t)name[off];
	return off < len &&
	    dnsmsg_name_equal(name + off, len - off, zone, zlen);
}

uint32_t
dnsmsg_key_hash(const struct dns_query_info *qi)
{
	uint8_t tail[5];
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t i;

	for (i = 0; i < qi->qname_len; i++)
		h = (h ^ fold(qi->qname[i])) * 16777619u;
	tail[0] = qi->qtype >> 8;
	tail[1] = qi->qtype & 0xff;
	tail[2] = qi->qclass >> 8;
	tail[3] = qi->qclass & 0xff;
	tail[4] = (qi->edns_do ? 1 : 0) | ((qi->flags & DNS_FLAG_CD) ? 2 : 0);
	for (i = 0; i < sizeof(tail); i++)
		h = (h ^ tail[i]) * 16777619u;
	return h;
}

/* --- the writer --- */

void
dnsmsg_wr_init(struct dnsmsg_wr *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf != NULL ? cap : 0;
	w->len = 0;
	w->err = 0;
}

/* Room for n more bytes?  If not, the writer is spoilt for good. */
static int
wr_room(struct dnsmsg_wr *w, size_t n)
{
	if (w->err || w->cap - w->len < n) {
		w->err = 1;
		return 0;
	}
	return 1;
}

void
dnsmsg_wr_u8(struct dnsmsg_wr *w, uint8_t v)
{
	if (wr_room(w, 1))
		w->buf[w->len++] = v;
}

void
dnsmsg_wr_u16(struct dnsmsg_wr *w, uint16_t v)
{
	if (!wr_room(w, 2))
		return;
	w->buf[w->len++] = v >> 8;
	w->buf[w->len++] = v & 0xff;
}

void
dnsmsg_wr_u32(struct dnsmsg_wr *w, uint32_t v)
{
	if (!wr_room(w, 4))
		return;
	dnsmsg_wr_u16(w, v >> 16);
	dnsmsg_wr_u16(w, v & 0xffff);
}

void
dnsmsg_wr_bytes(struct dnsmsg_wr *w, const void *p, size_t n)
{
	if (!wr_room(w, n) || n == 0)
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void
dnsmsg_wr_zero(struct dnsmsg_wr *w, size_t n)
{
	if (!wr_room(w, n) || n == 0)
		return;
	memset(w->buf + w->len, 0, n);
	w->len += n;
}

void
dnsmsg_wr_set16(struct dnsmsg_wr *w, size_t off, uint16_t v)
{
	if (w->err || off > w->len || w->len - off < 2) {
		w->err = 1;
		return;
	}
	w->buf[off] = v >> 8;
	w->buf[off + 1] = v & 0xff;
}

/* Is name (len bytes) exactly one uncompressed wire name? */
static int
name_valid(const uint8_t *name, size_t len)
{
	size_t i = 0;

	if (name == NULL || len == 0 || len > DNS_MAX_NAME)
		return 0;
	while (i < len && name[i] != 0) {
		if (name[i] > 63)
			return 0;
		i += 1 + (size_t)name[i];
	}
	return i == len - 1;
}

void
dnsmsg_wr_name(struct dnsmsg_wr *w, const uint8_t *name, size_t len)
{
	if (!name_valid(name, len)) {
		w->err = 1;
		return;
	}
	dnsmsg_wr_bytes(w, name, len);
}

void
dnsmsg_wr_header(struct dnsmsg_wr *w, const struct dns_header *h)
{
	size_t i;

	if (!wr_room(w, DNS_HDR_LEN))
		return;
	dnsmsg_wr_u16(w, h->id);
	dnsmsg_wr_u16(w, h->flags);
	for (i = 0; i < DNS_SEC_MAX; i++)
		dnsmsg_wr_u16(w, h->count[i]);
}

/* An OPT record with extended rcode ext (the rcode's upper 8 bits). */
static void
wr_opt_rcode(struct dnsmsg_wr *w, uint16_t udp_size, uint8_t ext,
    int do_bit, unsigned pad_block)
{
	size_t end, pad = 0, rdlen = 0;

	if (pad_block != 0) {
		/* Where the message ends with an empty padding option. */
		end = w->len + DNS_OPT_LEN + 4;
		pad = (pad_block - end % pad_block) % pad_block;
		rdlen = 4 + pad;
		if (rdlen > UINT16_MAX) {
			w->err = 1;
			return;
		}
	}
	if (!wr_room(w, DNS_OPT_LEN + rdlen))
		return;
	dnsmsg_wr_u8(w, 0);
	dnsmsg_wr_u16(w, DNS_TYPE_OPT);
	dnsmsg_wr_u16(w, udp_size);
	dnsmsg_wr_u32(w, (uint32_t)ext << 24 | (do_bit ? DNS_EDNS_DO : 0));
	dnsmsg_wr_u16(w, (uint16_t)rdlen);
	if (pad_block != 0) {
		dnsmsg_wr_u16(w, DNS_OPT_PADDING);
		dnsmsg_wr_u16(w, (uint16_t)pad);
		dnsmsg_wr_zero(w, pad);
	}
}

void
dnsmsg_wr_opt(struct dnsmsg_wr *w, uint16_t udp_size, int do_bit,
    unsigned pad_block)
{
	wr_opt_rcode(w, udp_size, 0, do_bit, pad_block);
}

size_t
dnsmsg_wr_finish(const struct dnsmsg_wr *w)
{
	return w->err ? 0 : w->len;
}

/* --- queries --- */

static void
edns_clear(struct dns_query_info *qi)
{
	qi->has_edns = 0;
	qi->edns_size = 0;
	qi->edns_version = 0;
	qi->edns_do = 0;
}

/*
 * The additional section of a query: every record must be well formed,
 * and at most one may be an OPT, owned by the root.
 */
static enum dns_verdict
query_additional(struct dnsmsg_rd *r, uint16_t count,
    struct dns_query_info *qi)
{
	struct dns_rr rr;
	uint16_t i;

	for (i = 0; i < count; i++) {
		if (dnsmsg_rd_rr(r, NULL, &rr) == -1)
			return DNS_VERDICT_FORMERR;
		if (rr.type != DNS_TYPE_OPT)
			continue;
		/* RFC 6891 6.1.1: more than one OPT is FORMERR. */
		if (qi->has_edns) {
			edns_clear(qi);
			return DNS_VERDICT_FORMERR;
		}
		if (rr.owner_len != 1)
			return DNS_VERDICT_FORMERR;
		qi->has_edns = 1;
		qi->edns_size = rr.class;
		qi->edns_version = (rr.ttl >> 16) & 0xff;
		qi->edns_do = (rr.ttl & DNS_EDNS_DO) != 0;
	}
	return DNS_VERDICT_OK;
}

/*
 * The authority section of a query: empty, but for IXFR, whose query
 * carries the client's SOA for the zone (RFC 1995 3).  That one record
 * must be an SOA of the question's name and class whose RDATA is two
 * names and five 32-bit numbers, exactly.  Returns 0 or -1 (FORMERR).
 */
static int
query_authority(struct dnsmsg_rd *r, uint16_t count,
    const struct dns_query_info *qi)
{
	uint8_t name[DNS_MAX_NAME];
	struct dns_rr rr;

	if (count == 0)
		return 0;
	if (count != 1 || qi->qtype != DNS_TYPE_IXFR)
		return -1;
	if (dnsmsg_rd_rr(r, name, &rr) == -1 || rr.type != DNS_TYPE_SOA ||
	    rr.class != qi->qclass || !dnsmsg_name_equal(name, rr.owner_len,
	    qi->qname, qi->qname_len))
		return -1;
	/* MNAME, RNAME, five 32-bit fields, and nothing else. */
	if (dnsmsg_rd_name(&rr.rdata, NULL, NULL) == -1 ||
	    dnsmsg_rd_name(&rr.rdata, NULL, NULL) == -1 ||
	    dnsmsg_rd_skip(&rr.rdata, 20) == -1 ||
	    dnsmsg_rd_left(&rr.rdata) != 0)
		return -1;
	return 0;
}

static int
query_question(struct dnsmsg_rd *r, struct dns_query_info *qi)
{
	uint8_t name[DNS_MAX_NAME];
	size_t namelen;

	if (rd_question(r, name, &namelen, &qi->qtype, &qi->qclass) == -1)
		return -1;
	memcpy(qi->qname, name, namelen);
	qi->qname_len = namelen;
	qi->question_end = r->off;
	return 0;
}

/*
 * Other opcodes (NOTIFY, UPDATE) may legitimately fill every section, so
 * read as much as parses to echo the question and, per RFC 6891 7, an OPT
 * in the NOTIMP answer; anything broken just leaves those out.
 */
static void
query_notimp(struct dnsmsg_rd *r, const struct dns_header *h,
    struct dns_query_info *qi)
{
	struct dns_rr rr;
	uint32_t i, skip;

	if (h->count[DNS_SEC_QUESTION] != 1 || query_question(r, qi) == -1)
		return;
	skip = (uint32_t)h->count[DNS_SEC_ANSWER] +
	    h->count[DNS_SEC_AUTHORITY];
	for (i = 0; i < skip; i++)
		if (dnsmsg_rd_rr(r, NULL, &rr) == -1)
			return;
	if (query_additional(r, h->count[DNS_SEC_ADDITIONAL], qi) !=
	    DNS_VERDICT_OK) {
		edns_clear(qi);
		return;
	}
	qi->msg_len = r->off;
}

enum dns_verdict
dnsmsg_parse_query(const uint8_t *msg, size_t len, struct dns_query_info *qi)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	enum dns_verdict v;

	memset(qi, 0, sizeof(*qi));
	if (msg == NULL)
		return DNS_VERDICT_DROP;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1)
		return DNS_VERDICT_DROP;
	qi->id = h.id;
	qi->flags = h.flags;
	if (h.flags & DNS_FLAG_QR)
		return DNS_VERDICT_DROP;
	if (h.flags & DNS_FLAG_OPCODE) {
		query_notimp(&r, &h, qi);
		return DNS_VERDICT_NOTIMP;
	}
	if (h.count[DNS_SEC_QUESTION] != 1 || h.count[DNS_SEC_ANSWER] != 0 ||
	    h.count[DNS_SEC_AUTHORITY] > 1)
		return DNS_VERDICT_FORMERR;
	if (query_question(&r, qi) == -1 ||
	    query_authority(&r, h.count[DNS_SEC_AUTHORITY], qi) == -1)
		return DNS_VERDICT_FORMERR;
	v = query_additional(&r, h.count[DNS_SEC_ADDITIONAL], qi);
	if (v != DNS_VERDICT_OK)
		return v;
	qi->msg_len = r.off;
	/* RFC 6891 6.1.3: a version we do not speak, only once the whole
	 * query is known to be well formed. */
	if (qi->has_edns && qi->edns_version != 0)
		return DNS_VERDICT_BADVERS;
	return DNS_VERDICT_OK;
}

/*
 * Besides the question, every record of every section must fit: the
 * answer may later be cut or cached by its records, and a message that
 * runs past its own end is not one we want to hand to a client.
 */
int
dnsmsg_check_answer(const uint8_t *msg, size_t len,
    const struct dns_query_info *qi)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint8_t name[DNS_MAX_NAME];
	size_t namelen;
	uint32_t i, count;
	uint16_t qtype, qclass;

	if (msg == NULL || qi->qname_len == 0)
		return -1;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1)
		return -1;
	if ((h.flags & DNS_FLAG_QR) == 0 || (h.flags & DNS_FLAG_OPCODE) != 0 ||
	    h.count[DNS_SEC_QUESTION] != 1)
		return -1;
	if (rd_question(&r, name, &namelen, &qtype, &qclass) == -1)
		return -1;
	if (!dnsmsg_name_equal(name, namelen, qi->qname, qi->qname_len) ||
	    qtype != qi->qtype || qclass != qi->qclass)
		return -1;
	count = (uint32_t)h.count[DNS_SEC_ANSWER] +
	    h.count[DNS_SEC_AUTHORITY] + h.count[DNS_SEC_ADDITIONAL];
	for (i = 0; i < count; i++)
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return -1;
	return 0;
}

void
dnsmsg_wr_ede(struct dnsmsg_wr *w, size_t opt, int code, const char *text)
{
	struct dnsmsg_rd r;
	uint16_t rdlen;
	size_t tlen = text != NULL ? strlen(text) : 0;

	if (w->err)
		return;
	dnsmsg_rd_init(&r, w->buf, w->len);
	if (code < 0 || code > UINT16_MAX || opt + DNS_OPT_LEN > w->len ||
	    dnsmsg_rd_skip(&r, opt + DNS_OPT_LEN - 2) == -1 ||
	    dnsmsg_rd_u16(&r, &rdlen) == -1 ||
	    (size_t)rdlen + 6 + tlen > UINT16_MAX) {
		w->err = 1;
		return;
	}
	if (!wr_room(w, 6 + tlen))
		return;
	dnsmsg_wr_set16(w, opt + DNS_OPT_LEN - 2,
	    (uint16_t)(rdlen + 6 + tlen));
	dnsmsg_wr_u16(w, DNS_OPT_EDE);
	dnsmsg_wr_u16(w, (uint16_t)(2 + tlen));
	dnsmsg_wr_u16(w, (uint16_t)code);
	dnsmsg_wr_bytes(w, text, tlen);
}

size_t
dnsmsg_make_error(uint8_t *out, size_t cap, const struct dns_query_info *qi,
    int rcode)
{
	return dnsmsg_make_error_ede(out, cap, qi, rcode, -1, NULL);
}

size_t
dnsmsg_make_error_ede(uint8_t *out, size_t cap,
    const struct dns_query_info *qi, int rcode, int ede_code,
    const char *ede_text)
{
	size_t opt;
	struct dnsmsg_wr w;
	struct dns_header h;

	/* An extended rcode lives in the OPT record: none, no answer. */
	if (rcode < 0 || rcode > 0xfff || (rcode > DNS_FLAG_RCODE &&
	    !qi->has_edns))
		return 0;
	memset(&h, 0, sizeof(h));
	h.id = qi->id;
	h.flags = DNS_FLAG_QR | (qi->flags & (DNS_FLAG_OPCODE |
	    DNS_FLAG_RD | DNS_FLAG_CD)) | (rcode & DNS_FLAG_RCODE);
	/* RA is defined for QUERY only (RFC 1035 4.1.1). */
	if ((qi->flags & DNS_FLAG_OPCODE) == 0)
		h.flags |= DNS_FLAG_RA;
	h.count[DNS_SEC_QUESTION] = qi->qname_len != 0;
	h.count[DNS_SEC_ADDITIONAL] = qi->has_edns != 0;
	dnsmsg_wr_init(&w, out, cap);
	dnsmsg_wr_header(&w, &h);
	if (qi->qname_len != 0) {
		dnsmsg_wr_name(&w, qi->qname, qi->qname_len);
		dnsmsg_wr_u16(&w, qi->qtype);
		dnsmsg_wr_u16(&w, qi->qclass);
	}
	/* Our own OPT record: the EDNS size we offer, the client's DO. */
	if (qi->has_edns) {
		opt = w.len;
		wr_opt_rcode(&w, DNS_EDNS_DEFAULT_MAX, (uint8_t)(rcode >> 4),
		    qi->edns_do, 0);
		if (ede_code >= 0)
			dnsmsg_wr_ede(&w, opt, ede_code, ede_text);
	}
	return dnsmsg_wr_finish(&w);
}

size_t
dnsmsg_make_query(uint8_t *out, size_t cap, const uint8_t *qname,
    size_t qname_len, uint16_t qtype, uint16_t qclass, uint16_t flags,
    uint16_t edns_size, int do_bit, unsigned pad_block)
{
	struct dnsmsg_wr w;
	struct dns_header h;

	memset(&h, 0, sizeof(h));
	h.flags = flags & (DNS_FLAG_RD | DNS_FLAG_AD | DNS_FLAG_CD);
	h.count[DNS_SEC_QUESTION] = 1;
	h.count[DNS_SEC_ADDITIONAL] = edns_size != 0;
	dnsmsg_wr_init(&w, out, cap);
	dnsmsg_wr_header(&w, &h);
	dnsmsg_wr_name(&w, qname, qname_len);
	dnsmsg_wr_u16(&w, qtype);
	dnsmsg_wr_u16(&w, qclass);
	if (edns_size != 0)
		dnsmsg_wr_opt(&w, edns_size, do_bit, pad_block);
	return dnsmsg_wr_finish(&w);
}

size_t
dnsmsg_make_upstream_query(uint8_t *out, size_t cap,
    const struct dns_query_info *qi, uint16_t edns_size, unsigned pad_block,
    int do_bit, int cd_bit)
{
	if (qi->qname_len == 0 || edns_size == 0)
		return 0;
	return dnsmsg_make_query(out, cap, qi->qname, qi->qname_len,
	    qi->qtype, qi->qclass, (qi->flags & DNS_FLAG_RD) |
	    (cd_bit ? DNS_FLAG_CD : 0), edns_size, do_bit, pad_block);
}

int
dnsmsg_set_ad(uint8_t *msg, size_t len, int ad)
{
	struct dnsmsg_rd r;
	struct dnsmsg_wr w;
	struct dns_header h;

	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1)
		return -1;
	h.flags = ad ? h.flags | DNS_FLAG_AD : h.flags & ~DNS_FLAG_AD;
	dnsmsg_wr_init(&w, msg, DNS_HDR_LEN);
	dnsmsg_wr_header(&w, &h);
	return 0;
}

/*
 * The names inside RDATA that a sender may have compressed: RFC 1035's
 * types, those RFC 3597 4 asks receivers to decompress too, and the rest
 * of RFC 4034 6.2's list (DNSSEC's canonical form reads the same ones,
 * dnssec.c, but for NSEC), with NSEC.  Letters: n a name, 1 2 4 fixed
 * bytes, c a character-string, a A6's prefix, suffix and name (RFC 2874
 * 3.1).
 * What follows the layout is copied as it is.
 */
static const struct {
	uint16_t	 type;
	const char	*layout;
} rdata_names[] = {
	{ 2, "n" },		/* NS */
	{ 3, "n" },		/* MD */
	{ 4, "n" },		/* MF */
	{ 5, "n" },		/* CNAME */
	{ 6, "nn" },		/* SOA */
	{ 7, "n" },		/* MB */
	{ 8, "n" },		/* MG */
	{ 9, "n" },		/* MR */
	{ 12, "n" },		/* PTR */
	{ 14, "nn" },		/* MINFO */
	{ 15, "2n" },		/* MX */
	{ 17, "nn" },		/* RP */
	{ 18, "2n" },		/* AFSDB */
	{ 21, "2n" },		/* RT */
	{ 24, "2114442n" },	/* SIG */
	{ 26, "2nn" },		/* PX */
	{ 30, "n" },		/* NXT */
	{ 33, "222n" },		/* SRV */
	{ 35, "22cccn" },	/* NAPTR */
	{ 36, "2n" },		/* KX */
	{ 38, "a" },		/* A6 */
	{ 39, "n" },		/* DNAME */
	{ 46, "2114442n" },	/* RRSIG */
	{ 47, "n" },		/* NSEC */
};

const char *
dnsmsg_rdata_layout(uint16_t type)
{
	size_t i;

	for (i = 0; i < nitems(rdata_names); i++)
		if (rdata_names[i].type == type)
			return rdata_names[i].layout;
	return "";
}

static int
wr_copy(struct dnsmsg_rd *rd, struct dnsmsg_wr *w, size_t n)
{
	const uint8_t *p;

	if (dnsmsg_rd_bytes(rd, n, &p) == -1)
		return -1;
	dnsmsg_wr_bytes(w, p, n);
	return 0;
}

void
dnsmsg_name_lower(uint8_t *name, size_t len)
{
	size_t i;

	/* Length bytes are below 'A' (at most 63), so fold them too. */
	for (i = 0; i < len; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] += 'a' - 'A';
}

static int
wr_copy_name(struct dnsmsg_rd *rd, struct dnsmsg_wr *w, int lower)
{
	uint8_t name[DNS_MAX_NAME];
	size_t len;

	if (dnsmsg_rd_name(rd, name, &len) == -1)
		return -1;
	if (lower)
		dnsmsg_name_lower(name, len);
	dnsmsg_wr_name(w, name, len);
	return 0;
}

int
dnsmsg_rdata_copy(struct dnsmsg_rd *rd, uint16_t type, int lower,
    struct dnsmsg_wr *w)
{
	const char *l;
	uint8_t u8;

	for (l = dnsmsg_rdata_layout(type); *l != '\0'; l++) {
		switch (*l) {
		case 'n':
			if (wr_copy_name(rd, w, lower) == -1)
				return -1;
			break;
		case 'c':
			if (dnsmsg_rd_u8(rd, &u8) == -1)
				return -1;
			dnsmsg_wr_u8(w, u8);
			if (wr_copy(rd, w, u8) == -1)
				return -1;
			break;
		case 'a':
			/* RFC 2874 3.1: prefix length, suffix, prefix name. */
			if (dnsmsg_rd_u8(rd, &u8) == -1 || u8 > 128)
				return -1;
			dnsmsg_wr_u8(w, u8);
			if (wr_copy(rd, w, (135 - (size_t)u8) / 8) == -1 ||
			    (u8 > 0 && wr_copy_name(rd, w, lower) == -1))
				return -1;
			break;
		default:
			if (wr_copy(rd, w, (size_t)(*l - '0')) == -1)
				return -1;
			break;
		}
	}
	return wr_copy(rd, w, dnsmsg_rd_left(rd));
}

/*
 * The RDATA at rd (of type), RDLENGTH first, into w with its names
 * decompressed.  -1 if it does not hold its layout; w->err if it does
 * not fit.
 */
static int
wr_rdata_plain(struct dnsmsg_wr *w, uint16_t type, struct dnsmsg_rd *rd)
{
	size_t start = w->len;

	dnsmsg_wr_u16(w, 0);		/* RDLENGTH, set below */
	if (dnsmsg_rdata_copy(rd, type, 0, w) == -1)
		return -1;
	if (!w->err && w->len - start - 2 > UINT16_MAX)
		w->err = 1;
	dnsmsg_wr_set16(w, start, (uint16_t)(w->len - start - 2));
	return 0;
}

/* What filter_rrs() takes out. */
#define FILTER_DNSSEC		0x01	/* dnsmsg_strip_dnssec()'s */
#define FILTER_VALIDATED	0x02	/* dnsmsg_clean_validated()'s */

/* Is a record of this type authenticating data a client without DO
 * does not get (RFC 4035 3.2.1), in section sec, for a query of qtype? */
static int
strip_type(uint16_t type, int sec, uint16_t qtype)
{
	if (type != DNS_TYPE_RRSIG && type != DNS_TYPE_NSEC &&
	    type != DNS_TYPE_NSEC3)
		return 0;
	if (type == qtype)
		return 0;
	return !(sec == DNS_SEC_ANSWER && qtype == DNS_TYPE_ANY);
}

/*
 * Is rr, in section sec, outside what a validated answer vouches for?
 * The authority section keeps the denial records (SOA, NSEC, NSEC3 and
 * the RRSIGs covering them), the additional section only the OPT: the
 * validator judged neither NS sets nor glue, so they must not travel
 * under its verdict.
 */
static int
unvalidated_rr(const struct dns_rr *rr, int sec)
{
	struct dnsmsg_rd rd = rr->rdata;
	uint16_t t = rr->type;

	switch (sec) {
	case DNS_SEC_AUTHORITY:
		if (t == DNS_TYPE_RRSIG && dnsmsg_rd_u16(&rd, &t) == -1)
			return 1;
		return t != DNS_TYPE_SOA && t != DNS_TYPE_NSEC &&
		    t != DNS_TYPE_NSEC3;
	case DNS_SEC_ADDITIONAL:
		return t != DNS_TYPE_OPT;
	default:
		return 0;
	}
}

static int
filter_out(const struct dns_rr *rr, int sec, uint16_t qtype, unsigned how)
{
	return ((how & FILTER_DNSSEC) && strip_type(rr->type, sec, qtype)) ||
	    ((how & FILTER_VALIDATED) && unvalidated_rr(rr, sec));
}

/*
 * msg into out without the records filter_out() says go (how); see
 * dnsmsg_strip_dnssec().
 */
static size_t
filter_rrs(const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
    uint16_t qtype, unsigned how)
{
	struct dnsmsg_rd r;
	struct dnsmsg_wr w;
	struct dns_header h;
	struct dns_rr rr;
	uint8_t owner[DNS_MAX_NAME];
	uint32_t i, n, kept;
	size_t first = 0;
	int sec;

	dnsmsg_rd_init(&r, msg, len);
	if (msg == NULL || dnsmsg_rd_header(&r, &h) == -1)
		return 0;
	for (i = 0; i < h.count[DNS_SEC_QUESTION]; i++)
		if (dnsmsg_rd_name(&r, NULL, NULL) == -1 ||
		    dnsmsg_rd_skip(&r, 4) == -1)
			return 0;
	/* First pass: where the first record to go starts, and that every
	 * record parses. */
	for (sec = DNS_SEC_ANSWER; sec < DNS_SEC_MAX; sec++)
		for (i = 0, n = h.count[sec]; i < n; i++) {
			if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
				return 0;
			if (first == 0 && filter_out(&rr, sec, qtype, how))
				first = rr.owner_off;
		}
	if (first == 0) {
		/* Nothing to take out: the same bytes. */
		if (r.off > cap)
			return 0;
		memcpy(out, msg, r.off);
		return r.off;
	}
	/*
	 * Up to the first record taken out, the bytes stay as they are:
	 * pointers only go backwards, so none of them reaches past it.
	 * After it every name is written whole, as nothing there could
	 * point into what is gone.
	 */
	dnsmsg_wr_init(&w, out, cap);
	dnsmsg_wr_header(&w, &h);
	dnsmsg_rd_init(&r, msg, len);
	(void)dnsmsg_rd_skip(&r, DNS_HDR_LEN);
	for (i = 0; i < h.count[DNS_SEC_QUESTION]; i++) {
		(void)dnsmsg_rd_name(&r, NULL, NULL);
		(void)dnsmsg_rd_skip(&r, 4);
	}
	dnsmsg_wr_bytes(&w, msg + DNS_HDR_LEN, r.off - DNS_HDR_LEN);
	for (sec = DNS_SEC_ANSWER; sec < DNS_SEC_MAX; sec++) {
		for (i = 0, kept = 0, n = h.count[sec]; i < n; i++) {
			(void)dnsmsg_rd_rr(&r, owner, &rr);
			if (filter_out(&rr, sec, qtype, how))
				continue;
			kept++;
			if (rr.owner_off < first) {
				dnsmsg_wr_bytes(&w, msg + rr.owner_off,
				    r.off - rr.owner_off);
				continue;
			}
			dnsmsg_wr_name(&w, owner, rr.owner_len);
			dnsmsg_wr_u16(&w, rr.type);
			dnsmsg_wr_u16(&w, rr.class);
			dnsmsg_wr_u32(&w, rr.ttl);
			if (wr_rdata_plain(&w, rr.type, &rr.rdata) == -1)
				return 0;
		}
		dnsmsg_wr_set16(&w, 4 + 2 * (size_t)sec, (uint16_t)kept);
	}
	return dnsmsg_wr_finish(&w);
}

size_t
dnsmsg_strip_dnssec(const uint8_t *msg, size_t len, uint8_t *out,
    size_t cap, uint16_t qtype)
{
	return filter_rrs(msg, len, out, cap, qtype, FILTER_DNSSEC);
}

size_t
dnsmsg_clean_validated(const uint8_t *msg, size_t len, uint8_t *out,
    size_t cap, uint16_t qtype, int strip)
{
	return filter_rrs(msg, len, out, cap, qtype, FILTER_VALIDATED |
	    (strip ? FILTER_DNSSEC : 0));
}

/*
 * Everything before the answer's first OPT record is kept byte for byte
 * (only the header and the question name are rewritten, in place), so
 * compression pointers, which only point backwards, stay valid; the OPT
 * and whatever follows it (a TSIG, say: of no use to the client) go.
 */
size_t
dnsmsg_rewrite_answer(const uint8_t *msg, size_t len, uint8_t *out,
    size_t cap, const struct dns_query_info *qi, uint16_t edns_size,
    int ede_code, const char *ede_text)
{
	struct dnsmsg_rd r;
	struct dnsmsg_wr w;
	struct dns_header h;
	struct dns_rr rr;
	uint32_t i, count, before;
	uint16_t arcount = 0;
	size_t keep, nlen, opt;
	uint8_t ext_rcode = 0;

	if (msg == NULL || qi->qname_len == 0)
		return 0;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 || h.count[DNS_SEC_QUESTION] != 1 ||
	    dnsmsg_rd_name(&r, NULL, &nlen) == -1 || nlen != qi->qname_len ||
	    dnsmsg_rd_skip(&r, 4) == -1)
		return 0;
	before = (uint32_t)h.count[DNS_SEC_ANSWER] +
	    h.count[DNS_SEC_AUTHORITY];
	count = before + h.count[DNS_SEC_ADDITIONAL];
	keep = len;
	for (i = 0; i < count; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return 0;
		if (i >= before && rr.type == DNS_TYPE_OPT) {
			ext_rcode = rr.ttl >> 24;
			keep = rr.owner_off;
			break;
		}
		if (i >= before)
			arcount++;
	}
	if (i == count)
		keep = r.off;
	/*
	 * An extended rcode (BADVERS, BADCOOKIE) answers our EDNS, not the
	 * client's: it cannot be passed on as it is.
	 */
	if (ext_rcode != 0)
		return 0;
	h.id = qi->id;
	h.flags = (h.flags & ~(DNS_FLAG_RD | DNS_FLAG_CD)) |
	    (qi->flags & (DNS_FLAG_RD | DNS_FLAG_CD));
	h.count[DNS_SEC_ADDITIONAL] = arcount;
	if (qi->has_edns) {
		if (arcount == UINT16_MAX)
			return 0;
		h.count[DNS_SEC_ADDITIONAL]++;
	}
	dnsmsg_wr_init(&w, out, cap);
	dnsmsg_wr_header(&w, &h);
	dnsmsg_wr_name(&w, qi->qname, qi->qname_len);
	dnsmsg_wr_bytes(&w, msg + DNS_HDR_LEN + nlen,
	    keep - DNS_HDR_LEN - nlen);
	if (qi->has_edns) {
		opt = w.len;
		dnsmsg_wr_opt(&w, edns_size, qi->edns_do, 0);
		if (ede_code >= 0)
			dnsmsg_wr_ede(&w, opt, ede_code, ede_text);
	}
	if (dnsmsg_wr_finish(&w) == 0)
		return 0;
	/*
	 * A pointer into the question's label bytes reads them differently
	 * once the case is the client's (only in an answer to another
	 * question, which dnsmsg_check_answer() refuses): read it again.
	 */
	dnsmsg_rd_init(&r, out, w.len);
	if (dnsmsg_rd_header(&r, &h) == -1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		return 0;
	count = (uint32_t)h.count[DNS_SEC_ANSWER] +
	    h.count[DNS_SEC_AUTHORITY] + h.count[DNS_SEC_ADDITIONAL];
	for (i = 0; i < count; i++)
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return 0;
	return w.len;
}

size_t
dnsmsg_add_ede(uint8_t *msg, size_t len, size_t cap, int code,
    const char *text)
{
	struct dnsmsg_rd r;
	struct dnsmsg_wr w;
	struct dns_header h;
	struct dns_rr rr;
	uint32_t i, count;
	size_t start = 0;
	int is_opt = 0;

	if (msg == NULL || len > cap)
		return 0;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1)
		return 0;
	for (i = 0; i < h.count[DNS_SEC_QUESTION]; i++)
		if (dnsmsg_rd_name(&r, NULL, NULL) == -1 ||
		    dnsmsg_rd_skip(&r, 4) == -1)
			return 0;
	count = (uint32_t)h.count[DNS_SEC_ANSWER] +
	    h.count[DNS_SEC_AUTHORITY] + h.count[DNS_SEC_ADDITIONAL];
	for (i = 0; i < count; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return 0;
		start = rr.owner_off;
		is_opt = i >= count - h.count[DNS_SEC_ADDITIONAL] &&
		    rr.type == DNS_TYPE_OPT;
	}
	if (!is_opt || r.off != len)
		return 0;
	/* The writer over the message as it is, to append to the OPT. */
	dnsmsg_wr_init(&w, msg, cap);
	w.len = len;
	dnsmsg_wr_ede(&w, start, code, text);
	return dnsmsg_wr_finish(&w);
}

size_t
dnsmsg_udp_limit(const struct dns_query_info *qi, size_t edns_max)
{
	size_t limit;

	if (!qi->has_edns)
		return DNS_UDP_PLAIN_MAX;
	limit = qi->edns_size;
	if (limit > edns_max)
		limit = edns_max;
	/* RFC 6891 6.2.3: sizes below 512 are treated as 512. */
	if (limit < DNS_UDP_PLAIN_MAX)
		limit = DNS_UDP_PLAIN_MAX;
	return limit;
}

/*
 * The answer's question is kept byte for byte.  It always starts right
 * after the header, where no pointer can be valid (dnsmsg_rd_name()
 * takes only pointers past the header and before the name), so it is
 * never compressed and needs no re-encoding.
 */
size_t
dnsmsg_truncate(uint8_t *msg, size_t len, size_t limit,
    const struct dns_query_info *qi)
{
	struct dnsmsg_rd r;
	struct dnsmsg_wr w;
	struct dns_header h;
	size_t end, need;
	uint16_t qtype, qclass;

	if (len <= limit)
		return len;
	if (msg == NULL)
		return 0;
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1)
		return 0;
	if (h.count[DNS_SEC_QUESTION] != 0 &&
	    rd_question(&r, NULL, NULL, &qtype, &qclass) == -1)
		return 0;
	end = r.off;
	need = end + (qi->has_edns ? DNS_OPT_LEN : 0);
	/* Since len > limit, fitting limit also means fitting len. */
	if (need > limit)
		return 0;

	h.flags |= DNS_FLAG_TC;
	h.count[DNS_SEC_QUESTION] = h.count[DNS_SEC_QUESTION] != 0;
	h.count[DNS_SEC_ANSWER] = 0;
	h.count[DNS_SEC_AUTHORITY] = 0;
	h.count[DNS_SEC_ADDITIONAL] = qi->has_edns != 0;
	dnsmsg_wr_init(&w, msg, DNS_HDR_LEN);
	dnsmsg_wr_header(&w, &h);
	if (dnsmsg_wr_finish(&w) == 0)
		return 0;
	/* The question stays as it is; our OPT goes right after it. */
	if (qi->has_edns) {
		dnsmsg_wr_init(&w, msg + end, need - end);
		dnsmsg_wr_opt(&w, DNS_EDNS_DEFAULT_MAX, qi->edns_do, 0);
		if (dnsmsg_wr_finish(&w) == 0)
			return 0;
	}
	return need;
}

uint16_t
dnsmsg_get_id(const uint8_t *msg)
{
	struct dnsmsg_rd r;
	uint16_t id = 0;

	dnsmsg_rd_init(&r, msg, DNS_HDR_LEN);
	(void)dnsmsg_rd_u16(&r, &id);
	return id;
}

void
dnsmsg_set_id(uint8_t *msg, uint16_t id)
{
	struct dnsmsg_wr w;

	dnsmsg_wr_init(&w, msg, DNS_HDR_LEN);
	dnsmsg_wr_u16(&w, id);
}

int
dnsmsg_rcode(const uint8_t *msg)
{
	struct dnsmsg_rd r;
	struct dns_header h;

	dnsmsg_rd_init(&r, msg, DNS_HDR_LEN);
	(void)dnsmsg_rd_header(&r, &h);
	return h.flags & DNS_FLAG_RCODE;
}

long
dnsmsg_tcp_frame(const uint8_t *buf, size_t len, size_t *msglen)
{
	struct dnsmsg_rd r;
	uint16_t n;

	dnsmsg_rd_init(&r, buf, len);
	if (dnsmsg_rd_u16(&r, &n) == -1)
		return 0;
	if (n == 0)
		return -1;
	if (dnsmsg_rd_left(&r) < n)
		return 0;
	*msglen = n;
	return (long)(2 + n);
}

/* --- names of numbers --- */

struct code_name {
	unsigned	 code;
	const char	*name;
};

static const struct code_name type_names[] = {
	{ 1, "A" }, { 2, "NS" }, { 3, "MD" }, { 4, "MF" }, { 5, "CNAME" },
	{ 6, "SOA" }, { 7, "MB" }, { 8, "MG" }, { 9, "MR" }, { 10, "NULL" },
	{ 11, "WKS" }, { 12, "PTR" }, { 13, "HINFO" }, { 14, "MINFO" },
	{ 15, "MX" }, { 16, "TXT" }, { 17, "RP" }, { 18, "AFSDB" },
	{ 19, "X25" }, { 20, "ISDN" }, { 21, "RT" }, { 22, "NSAP" },
	{ 23, "NSAP-PTR" }, { 24, "SIG" }, { 25, "KEY" }, { 26, "PX" },
	{ 27, "GPOS" }, { 28, "AAAA" }, { 29, "LOC" }, { 30, "NXT" },
	{ 33, "SRV" }, { 35, "NAPTR" }, { 36, "KX" }, { 37, "CERT" },
	{ 38, "A6" }, { 39, "DNAME" }, { 41, "OPT" }, { 42, "APL" },
	{ 43, "DS" }, { 44, "SSHFP" }, { 45, "IPSECKEY" }, { 46, "RRSIG" },
	{ 47, "NSEC" }, { 48, "DNSKEY" }, { 49, "DHCID" }, { 50, "NSEC3" },
	{ 51, "NSEC3PARAM" }, { 52, "TLSA" }, { 53, "SMIMEA" }, { 55, "HIP" },
	{ 59, "CDS" }, { 60, "CDNSKEY" }, { 61, "OPENPGPKEY" },
	{ 62, "CSYNC" }, { 63, "ZONEMD" }, { 64, "SVCB" }, { 65, "HTTPS" },
	{ 99, "SPF" }, { 108, "EUI48" }, { 109, "EUI64" }, { 249, "TKEY" },
	{ 250, "TSIG" }, { 251, "IXFR" }, { 252, "AXFR" }, { 253, "MAILB" },
	{ 254, "MAILA" }, { 255, "ANY" }, { 256, "URI" }, { 257, "CAA" },
};

static const struct code_name class_names[] = {
	{ 1, "IN" }, { 3, "CH" }, { 4, "HS" }, { 254, "NONE" }, { 255, "ANY" },
};

/* RFC 1035, 2136, 8490, 2845, 2930, 4635, 7873 (the IANA registry). */
static const struct code_name rcode_names[] = {
	{ 0, "NOERROR" }, { 1, "FORMERR" }, { 2, "SERVFAIL" },
	{ 3, "NXDOMAIN" }, { 4, "NOTIMP" }, { 5, "REFUSED" },
	{ 6, "YXDOMAIN" }, { 7, "YXRRSET" }, { 8, "NXRRSET" },
	{ 9, "NOTAUTH" }, { 10, "NOTZONE" }, { 11, "DSOTYPENI" },
	{ 16, "BADVERS" }, { 17, "BADKEY" }, { 18, "BADTIME" },
	{ 19, "BADMODE" }, { 20, "BADNAME" }, { 21, "BADALG" },
	{ 22, "BADTRUNC" }, { 23, "BADCOOKIE" },
};

static const char *
table_name(const struct code_name *t, size_t n, unsigned code)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].name;
	return NULL;
}

const char *
dnsmsg_type_name(uint16_t type)
{
	return table_name(type_names, nitems(type_names), type);
}

const char *
dnsmsg_class_name(uint16_t class)
{
	return table_name(class_names, nitems(class_names), class);
}

const char *
dnsmsg_rcode_name(unsigned rcode)
{
	return table_name(rcode_names, nitems(rcode_names), rcode);
}

static const char *
code_str(const char *name, const char *prefix, unsigned code, char *buf,
    size_t size)
{
	if (name != NULL)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "%s%u", prefix, code);
	return buf;
}

const char *
dnsmsg_type_str(uint16_t type, char *buf, size_t size)
{
	return code_str(dnsmsg_type_name(type), "TYPE", type, buf, size);
}

const char *
dnsmsg_class_str(uint16_t class, char *buf, size_t size)
{
	return code_str(dnsmsg_class_name(class), "CLASS", class, buf, size);
}

const char *
dnsmsg_rcode_str(unsigned rcode, char *buf, size_t size)
{
	return code_str(dnsmsg_rcode_name(rcode), "RCODE", rcode, buf, size);
}

/* A known name, else prefix and a decimal number up to 65535. */
static int
table_parse(const struct code_name *t, size_t n, const char *s,
    const char *prefix, uint16_t *out)
{
	size_t i, plen = strlen(prefix);
	unsigned long v = 0;
	const char *p;

	for (i = 0; i < n; i++)
		if (strcasecmp(s, t[i].name) == 0) {
			*out = (uint16_t)t[i].code;
			return 0;
		}
	if (strncasecmp(s, prefix, plen) != 0 || s[plen] == '\0')
		return -1;
	for (p = s + plen; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -1;
	}
	*out = (uint16_t)v;
	return 0;
}

int
dnsmsg_type_parse(const char *s, uint16_t *type)
{
	return table_parse(type_names, nitems(type_names), s, "TYPE", type);
}

int
dnsmsg_class_parse(const char *s, uint16_t *class)
{
	return table_parse(class_names, nitems(class_names), s, "CLASS",
	    class);
}

/* --- names as text --- */

static int
name_special(unsigned char c, int flags)
{
	if (c == '.' || c == '\\')
		return 1;
	return (flags & DNSMSG_NAME_ZONE) && (c == '"' || c == '(' ||
	    c == ')' || c == ';' || c == '@' || c == '$');
}

/* One label byte as text into p (room for 4); its length. */
static size_t
label_char(unsigned char c, int flags, char *p)
{
	if (c < 0x21 || c > 0x7e ||
	    ((c == '#' || c == '"') && (flags & DNSMSG_NAME_CONF) != 0)) {
		p[0] = '\\';
		p[1] = (char)('0' + c / 100);
		p[2] = (char)('0' + c / 10 % 10);
		p[3] = (char)('0' + c % 10);
		return 4;
	}
	if (name_special(c, flags)) {
		p[0] = '\\';
		p[1] = (char)c;
		return 2;
	}
	p[0] = (char)c;
	return 1;
}

/* Append s (n bytes) whole or not at all, so output never ends mid-escape. */
static int
text_append(char *buf, size_t size, size_t *off, const char *s, size_t n)
{
	if (size - *off <= n)
		return -1;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
	return 0;
}

int
dnsmsg_name_to_text(const uint8_t *wire, size_t wire_len, char *buf,
    size_t size, int flags)
{
	char ch[4];
	size_t i, pos, off = 0, n;
	uint8_t lab;

	if (size == 0)
		return -1;
	buf[0] = '\0';
	if (!name_valid(wire, wire_len))
		return -1;
	if (wire[0] == 0)
		return text_append(buf, size, &off, ".", 1);
	for (pos = 0; (lab = wire[pos]) != 0; pos += 1 + (size_t)lab) {
		for (i = 0; i < lab; i++) {
			n = label_char(wire[pos + 1 + i], flags, ch);
			if (text_append(buf, size, &off, ch, n) == -1)
				return -1;
		}
		if (text_append(buf, size, &off, ".", 1) == -1)
			return -1;
	}
	return 0;
}

size_t
dnsmsg_name_from_text(const char *s, uint8_t *out, size_t size)
{
	size_t o = 0, lenpos, lab;
	unsigned v;
	int c;

	if (size < DNS_MAX_NAME)
		return 0;
	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	for (;;) {
		lenpos = o++;
		for (lab = 0; *s != '\0' && *s != '.'; lab++) {
			c = (unsigned char)*s++;
			if (c == '\\') {
				c = (unsigned char)*s++;
				if (c == '\0')
					return 0;
				if (c >= '0' && c <= '9') {
					if (s[0] < '0' || s[0] > '9' ||
					    s[1] < '0' || s[1] > '9')
						return 0;
					v = (unsigned)(c - '0') * 100 +
					    (unsigned)(s[0] - '0') * 10 +
					    (unsigned)(s[1] - '0');
					if (v > 255)
						return 0;
					c = (int)v;
					s += 2;
				}
			}
			/* Room is kept for the root label. */
			if (lab == 63 || o >= DNS_MAX_NAME - 1)
				return 0;
			out[o++] = (uint8_t)c;
		}
		if (lab == 0)
			return 0;
		out[lenpos] = (uint8_t)lab;
		if (*s == '\0' || *++s == '\0')
			break;
	}
	out[o++] = 0;
	return o;
}

int
dnsmsg_cap_ttl(uint8_t *msg, size_t len, uint32_t max)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	uint32_t i, count;
	size_t at;

	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 ||
	    h.count[DNS_SEC_QUESTION] != 1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 ||
	    dnsmsg_rd_skip(&r, 4) == -1)
		return -1;
	count = (uint32_t)h.count[DNS_SEC_ANSWER] +
	    h.count[DNS_SEC_AUTHORITY] + h.count[DNS_SEC_ADDITIONAL];
	for (i = 0; i < count; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return -1;
		if (rr.type == DNS_TYPE_OPT || rr.ttl <= max)
			continue;
		/* TTL and RDLENGTH sit just before the RDATA. */
		at = rr.rdata.off - 6;
		msg[at] = (uint8_t)(max >> 24);
		msg[at + 1] = (uint8_t)(max >> 16);
		msg[at + 2] = (uint8_t)(max >> 8);
		msg[at + 3] = (uint8_t)max;
	}
	return 0;
}
