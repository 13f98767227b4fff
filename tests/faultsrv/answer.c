/*
 * answer: faultsrv's DNS answers.  Pure code: parses with dnsmsg, builds
 * the answer by hand so that its bytes are ours and not the resolver's.
 */
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "faultsrv.h"

#define DNS_TYPE_A	1
#define DNS_FLAG_QR	0x8000
#define DNS_FLAG_RA	0x0080
/* Copied from the query: opcode, RD and CD. */
#define DNS_FLAGS_ECHO	(0x7800 | 0x0100 | 0x0010)

static uint8_t *
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
	return p + 2;
}

size_t
answer_make(uint8_t *out, size_t cap, const uint8_t *q, size_t qlen,
    enum fault f, struct dns_query_info *qi)
{
	static const uint8_t wrong[] = ANSWER_WRONG_NAME;
	static const uint8_t addr[] = ANSWER_A_ADDR;
	const uint8_t *name;
	size_t namelen, need, qend;
	uint16_t flags;
	uint8_t *p;
	int is_a;

	switch (dnsmsg_parse_query(q, qlen, qi)) {
	case DNS_VERDICT_OK:
		break;
	case DNS_VERDICT_DROP:
		return 0;
	case DNS_VERDICT_FORMERR:
		return dnsmsg_make_error(out, cap, qi, DNS_RCODE_FORMERR);
	case DNS_VERDICT_NOTIMP:
		return dnsmsg_make_error(out, cap, qi, DNS_RCODE_NOTIMP);
	}

	name = qi->qname;
	namelen = qi->qname_len;
	if (f == FAULT_WRONG_QUESTION) {
		name = wrong;
		namelen = sizeof(wrong);	/* with the root label */
	}
	is_a = qi->qtype == DNS_TYPE_A && qi->qclass == DNS_CLASS_IN;
	qend = DNS_HDR_LEN + namelen + 4;
	need = qend + (is_a ? 16 : 0);
	if (cap < need)
		return 0;

	flags = (qi->flags & DNS_FLAGS_ECHO) | DNS_FLAG_QR | DNS_FLAG_RA;
	if (f == FAULT_QR0)
		flags &= ~DNS_FLAG_QR;
	p = put16(out, qi->id);
	p = put16(p, flags);
	p = put16(p, 1);
	p = put16(p, is_a);
	p = put16(p, 0);
	p = put16(p, 0);
	memcpy(p, name, namelen);
	p += namelen;
	p = put16(p, qi->qtype);
	p = put16(p, qi->qclass);
	if (is_a) {
		/* The owner is the question's name, at offset 12. */
		p = put16(p, 0xc00c);
		p = put16(p, DNS_TYPE_A);
		p = put16(p, DNS_CLASS_IN);
		p = put16(p, ANSWER_A_TTL >> 16);
		p = put16(p, ANSWER_A_TTL & 0xffff);
		p = put16(p, sizeof(addr));
		memcpy(p, addr, sizeof(addr));
	}
	if (f == FAULT_SHORT_ANSWER)
		return DNS_HDR_LEN + (qend - DNS_HDR_LEN) / 2;
	return need;
}

static int
b64url_value(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

long
answer_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	/* One leftover character carries only 6 bits: not a whole byte. */
	if (inlen % 4 == 1)
		return -1;
	for (i = 0; i < inlen; i++) {
		if ((v = b64url_value((unsigned char)in[i])) == -1)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (acc >> bits) & 0xff;
		}
	}
	return (long)n;
}
