/*
 * dnsmsg: pure DNS wire code.  Every read goes through a length-checked
 * cursor; header counts only bound loops that stop at the first record
 * that does not fit, so they never size anything.
 */
#include <string.h>

#include "dohstub/dnsmsg.h"

#define HDR_FLAGS	2
#define HDR_QDCOUNT	4
#define HDR_ANCOUNT	6
#define HDR_NSCOUNT	8
#define HDR_ARCOUNT	10

#define FLAG_QR		0x8000
#define FLAG_OPCODE	0x7800
#define FLAG_TC		0x0200
#define FLAG_RD		0x0100
#define FLAG_RA		0x0080
#define FLAG_CD		0x0010
#define FLAG_RCODE	0x000f

#define EDNS_DO		0x8000
#define OPT_LEN		11	/* root owner, type, class, TTL, RDLEN 0 */
#define RR_FIXED_LEN	10	/* type, class, TTL, RDLEN */

/*
 * Pointers must go strictly backwards, which already bounds the chain by
 * the message size; the hop limit keeps the work per name small too.
 */
#define NAME_MAX_HOPS	127

const char *const dns_verdict_names[] = {
	"ok", "drop", "formerr", "notimp",
};

struct cursor {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 off;
};

struct rr {
	uint16_t	type;
	uint16_t	class;
	uint32_t	ttl;
	uint16_t	rdlen;
	int		root_owner;
};

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void
cur_init(struct cursor *c, const uint8_t *buf, size_t len, size_t off)
{
	c->buf = buf;
	c->len = len;
	c->off = off;
}

static int
cur_skip(struct cursor *c, size_t n)
{
	if (c->off > c->len || c->len - c->off < n)
		return -1;
	c->off += n;
	return 0;
}

static int
cur_u16(struct cursor *c, uint16_t *v)
{
	if (c->off > c->len || c->len - c->off < 2)
		return -1;
	*v = get16(c->buf + c->off);
	c->off += 2;
	return 0;
}

static int
cur_u32(struct cursor *c, uint32_t *v)
{
	if (c->off > c->len || c->len - c->off < 4)
		return -1;
	*v = (uint32_t)get16(c->buf + c->off) << 16 |
	    get16(c->buf + c->off + 2);
	c->off += 4;
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
dnsmsg_read_name(const uint8_t *msg, size_t len, size_t limit, size_t *off,
    uint8_t *out, size_t *outlen)
{
	size_t pos = *off, part = *off, end, after = 0, n = 0;
	size_t ptr;
	int hops = 0;
	uint8_t lab;

	end = limit < len ? limit : len;
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
	*off = after != 0 ? after : pos + 1;
	return 0;
}

static int
cur_name(struct cursor *c, uint8_t *out, size_t *outlen)
{
	return dnsmsg_read_name(c->buf, c->len, c->len, &c->off, out, outlen);
}

/* Read one resource record, skipping its RDATA. */
static int
cur_rr(struct cursor *c, struct rr *rr)
{
	size_t nlen;

	if (cur_name(c, NULL, &nlen) == -1 ||
	    cur_u16(c, &rr->type) == -1 ||
	    cur_u16(c, &rr->class) == -1 ||
	    cur_u32(c, &rr->ttl) == -1 ||
	    cur_u16(c, &rr->rdlen) == -1 ||
	    cur_skip(c, rr->rdlen) == -1)
		return -1;
	rr->root_owner = nlen == 1;
	return 0;
}

static int
cur_question(struct cursor *c, uint8_t *name, size_t *namelen,
    uint16_t *type, uint16_t *class)
{
	if (cur_name(c, name, namelen) == -1 ||
	    cur_u16(c, type) == -1 ||
	    cur_u16(c, class) == -1)
		return -1;
	return 0;
}

static int
name_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i;
	uint8_t ca, cb;

	if (alen != blen)
		return 0;
	/* Length bytes are below 'A', so folding them is harmless. */
	for (i = 0; i < alen; i++) {
		ca = a[i] >= 'A' && a[i] <= 'Z' ? a[i] + ('a' - 'A') : a[i];
		cb = b[i] >= 'A' && b[i] <= 'Z' ? b[i] + ('a' - 'A') : b[i];
		if (ca != cb)
			return 0;
	}
	return 1;
}

/* Our own OPT record: the EDNS size we offer, the client's DO bit. */
static void
opt_put(uint8_t *p, int do_bit)
{
	p[0] = 0;
	put16(p + 1, DNS_TYPE_OPT);
	put16(p + 3, DNS_EDNS_DEFAULT_MAX);
	put16(p + 5, 0);
	put16(p + 7, do_bit ? EDNS_DO : 0);
	put16(p + 9, 0);
}

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
query_additional(struct cursor *c, uint16_t count,
    struct dns_query_info *qi)
{
	struct rr rr;
	uint16_t i;

	for (i = 0; i < count; i++) {
		if (cur_rr(c, &rr) == -1)
			return DNS_VERDICT_FORMERR;
		if (rr.type != DNS_TYPE_OPT)
			continue;
		/* RFC 6891 6.1.1: more than one OPT is FORMERR. */
		if (qi->has_edns) {
			edns_clear(qi);
			return DNS_VERDICT_FORMERR;
		}
		if (!rr.root_owner)
			return DNS_VERDICT_FORMERR;
		qi->has_edns = 1;
		qi->edns_size = rr.class;
		qi->edns_version = (rr.ttl >> 16) & 0xff;
		qi->edns_do = (rr.ttl & EDNS_DO) != 0;
	}
	return DNS_VERDICT_OK;
}

static int
query_question(struct cursor *c, struct dns_query_info *qi)
{
	uint8_t name[DNS_MAX_NAME];
	size_t namelen;

	if (cur_question(c, name, &namelen, &qi->qtype, &qi->qclass) == -1)
		return -1;
	memcpy(qi->qname, name, namelen);
	qi->qname_len = namelen;
	qi->question_end = c->off;
	return 0;
}

/*
 * Other opcodes (NOTIFY, UPDATE) may legitimately fill every section, so
 * read as much as parses to echo the question and, per RFC 6891 7, an OPT
 * in the NOTIMP answer; anything broken just leaves those out.
 */
static void
query_notimp(struct cursor *c, const uint8_t *msg,
    struct dns_query_info *qi)
{
	struct rr rr;
	uint32_t i, skip;

	if (get16(msg + HDR_QDCOUNT) != 1 || query_question(c, qi) == -1)
		return;
	skip = (uint32_t)get16(msg + HDR_ANCOUNT) + get16(msg + HDR_NSCOUNT);
	for (i = 0; i < skip; i++)
		if (cur_rr(c, &rr) == -1)
			return;
	if (query_additional(c, get16(msg + HDR_ARCOUNT), qi) !=
	    DNS_VERDICT_OK) {
		edns_clear(qi);
		return;
	}
	qi->msg_len = c->off;
}

enum dns_verdict
dnsmsg_parse_query(const uint8_t *msg, size_t len, struct dns_query_info *qi)
{
	struct cursor c;
	enum dns_verdict v;

	memset(qi, 0, sizeof(*qi));
	if (msg == NULL || len < DNS_HDR_LEN)
		return DNS_VERDICT_DROP;
	qi->id = get16(msg);
	qi->flags = get16(msg + HDR_FLAGS);
	if (qi->flags & FLAG_QR)
		return DNS_VERDICT_DROP;
	cur_init(&c, msg, len, DNS_HDR_LEN);
	if (qi->flags & FLAG_OPCODE) {
		query_notimp(&c, msg, qi);
		return DNS_VERDICT_NOTIMP;
	}
	if (get16(msg + HDR_QDCOUNT) != 1 ||
	    get16(msg + HDR_ANCOUNT) != 0 ||
	    get16(msg + HDR_NSCOUNT) != 0)
		return DNS_VERDICT_FORMERR;
	if (query_question(&c, qi) == -1)
		return DNS_VERDICT_FORMERR;
	v = query_additional(&c, get16(msg + HDR_ARCOUNT), qi);
	if (v != DNS_VERDICT_OK)
		return v;
	qi->msg_len = c.off;
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
	struct cursor c;
	struct rr rr;
	uint8_t name[DNS_MAX_NAME];
	size_t namelen;
	uint32_t i, count;
	uint16_t flags, qtype, qclass;

	if (msg == NULL || len < DNS_HDR_LEN || qi->qname_len == 0)
		return -1;
	flags = get16(msg + HDR_FLAGS);
	if ((flags & FLAG_QR) == 0 || (flags & FLAG_OPCODE) != 0 ||
	    get16(msg + HDR_QDCOUNT) != 1)
		return -1;
	cur_init(&c, msg, len, DNS_HDR_LEN);
	if (cur_question(&c, name, &namelen, &qtype, &qclass) == -1)
		return -1;
	if (!name_equal(name, namelen, qi->qname, qi->qname_len) ||
	    qtype != qi->qtype || qclass != qi->qclass)
		return -1;
	count = (uint32_t)get16(msg + HDR_ANCOUNT) +
	    get16(msg + HDR_NSCOUNT) + get16(msg + HDR_ARCOUNT);
	for (i = 0; i < count; i++)
		if (cur_rr(&c, &rr) == -1)
			return -1;
	return 0;
}

size_t
dnsmsg_make_error(uint8_t *out, size_t cap, const struct dns_query_info *qi,
    int rcode)
{
	size_t need, off;
	uint16_t flags;

	if (qi->qname_len > DNS_MAX_NAME)
		return 0;
	need = DNS_HDR_LEN;
	if (qi->qname_len != 0)
		need += qi->qname_len + 4;
	if (qi->has_edns)
		need += OPT_LEN;
	if (out == NULL || cap < need)
		return 0;

	flags = FLAG_QR | FLAG_RA | (qi->flags & (FLAG_OPCODE | FLAG_RD |
	    FLAG_CD)) | (rcode & FLAG_RCODE);
	put16(out, qi->id);
	put16(out + HDR_FLAGS, flags);
	put16(out + HDR_QDCOUNT, qi->qname_len != 0);
	put16(out + HDR_ANCOUNT, 0);
	put16(out + HDR_NSCOUNT, 0);
	put16(out + HDR_ARCOUNT, qi->has_edns != 0);
	off = DNS_HDR_LEN;
	if (qi->qname_len != 0) {
		memcpy(out + off, qi->qname, qi->qname_len);
		off += qi->qname_len;
		put16(out + off, qi->qtype);
		put16(out + off + 2, qi->qclass);
		off += 4;
	}
	if (qi->has_edns) {
		opt_put(out + off, qi->edns_do);
		off += OPT_LEN;
	}
	return off;
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
 * after the header, where no pointer can be valid (cur_name() takes only
 * pointers past the header and before the name), so it is never
 * compressed and needs no re-encoding.
 */
size_t
dnsmsg_truncate(uint8_t *msg, size_t len, size_t limit,
    const struct dns_query_info *qi)
{
	struct cursor c;
	size_t end, need;
	uint16_t qdcount, qtype, qclass;

	if (len <= limit)
		return len;
	if (msg == NULL || len < DNS_HDR_LEN)
		return 0;
	qdcount = get16(msg + HDR_QDCOUNT);
	cur_init(&c, msg, len, DNS_HDR_LEN);
	if (qdcount != 0 &&
	    cur_question(&c, NULL, NULL, &qtype, &qclass) == -1)
		return 0;
	end = c.off;
	need = end + (qi->has_edns ? OPT_LEN : 0);
	/* Since len > limit, fitting limit also means fitting len. */
	if (need > limit)
		return 0;

	put16(msg + HDR_FLAGS, get16(msg + HDR_FLAGS) | FLAG_TC);
	put16(msg + HDR_QDCOUNT, qdcount != 0);
	put16(msg + HDR_ANCOUNT, 0);
	put16(msg + HDR_NSCOUNT, 0);
	put16(msg + HDR_ARCOUNT, qi->has_edns != 0);
	if (qi->has_edns)
		opt_put(msg + end, qi->edns_do);
	return need;
}

uint16_t
dnsmsg_get_id(const uint8_t *msg)
{
	return get16(msg);
}

void
dnsmsg_set_id(uint8_t *msg, uint16_t id)
{
	put16(msg, id);
}

int
dnsmsg_rcode(const uint8_t *msg)
{
	return get16(msg + HDR_FLAGS) & FLAG_RCODE;
}

/* Append s (n bytes) whole or not at all, so output never ends mid-escape. */
static int
str_append(char *buf, size_t size, size_t *off, const char *s, size_t n)
{
	if (size - *off <= n)
		return -1;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
	return 0;
}

void
dnsmsg_name_str(const struct dns_query_info *qi, char *buf, size_t size)
{
	char esc[5];
	size_t i, off = 0, end, lab;
	uint8_t ch;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (qi->qname_len == 0 || qi->qname_len > DNS_MAX_NAME)
		return;
	if (qi->qname[0] == 0) {
		(void)str_append(buf, size, &off, ".", 1);
		return;
	}
	for (i = 0; i < qi->qname_len && qi->qname[i] != 0; i = end) {
		lab = qi->qname[i];
		end = i + 1 + lab;
		if (lab > 63 || end > qi->qname_len)
			return;
		for (i++; i < end; i++) {
			ch = qi->qname[i];
			if (ch == '.' || ch == '\\') {
				esc[0] = '\\';
				esc[1] = (char)ch;
				if (str_append(buf, size, &off, esc, 2) == -1)
					return;
			} else if (ch > 0x20 && ch < 0x7f) {
				esc[0] = (char)ch;
				if (str_append(buf, size, &off, esc, 1) == -1)
					return;
			} else {
				esc[0] = '\\';
				esc[1] = '0' + ch / 100;
				esc[2] = '0' + ch / 10 % 10;
				esc[3] = '0' + ch % 10;
				if (str_append(buf, size, &off, esc, 4) == -1)
					return;
			}
		}
		if (str_append(buf, size, &off, ".", 1) == -1)
			return;
	}
}

long
dnsmsg_tcp_frame(const uint8_t *buf, size_t len, size_t *msglen)
{
	size_t n;

	if (len < 2)
		return 0;
	n = get16(buf);
	if (n == 0)
		return -1;
	if (len - 2 < n)
		return 0;
	*msglen = n;
	return (long)(2 + n);
}
