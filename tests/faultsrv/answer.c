/*
 * answer: faultsrv's DNS answers.  Pure code: parses with dnsmsg, builds
 * the answer field by field with dnsmsg's writer so that its bytes are
 * ours and not the resolver's.
 */
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "faultsrv.h"

/* Copied from the query: opcode, RD and CD. */
#define DNS_FLAGS_ECHO	(DNS_FLAG_OPCODE | DNS_FLAG_RD | DNS_FLAG_CD)

size_t
answer_make(uint8_t *out, size_t cap, const uint8_t *q, size_t qlen,
    enum fault f, struct dns_query_info *qi)
{
	static const uint8_t wrong[] = ANSWER_WRONG_NAME;
	static const uint8_t addr[] = ANSWER_A_ADDR;
	struct dnsmsg_wr w;
	struct dns_header h;
	const uint8_t *name;
	size_t namelen, qend;
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
	case DNS_VERDICT_BADVERS:
		return dnsmsg_make_error(out, cap, qi, DNS_RCODE_BADVERS);
	}

	name = qi->qname;
	namelen = qi->qname_len;
	if (f == FAULT_WRONG_QUESTION) {
		name = wrong;
		namelen = sizeof(wrong);	/* with the root label */
	}
	is_a = qi->qtype == DNS_TYPE_A && qi->qclass == DNS_CLASS_IN;

	memset(&h, 0, sizeof(h));
	h.id = qi->id;
	h.flags = (qi->flags & DNS_FLAGS_ECHO) | DNS_FLAG_QR | DNS_FLAG_RA;
	if (f == FAULT_QR0)
		h.flags &= ~DNS_FLAG_QR;
	h.count[DNS_SEC_QUESTION] = 1;
	h.count[DNS_SEC_ANSWER] = is_a;
	dnsmsg_wr_init(&w, out, cap);
	dnsmsg_wr_header(&w, &h);
	dnsmsg_wr_bytes(&w, name, namelen);
	dnsmsg_wr_u16(&w, qi->qtype);
	dnsmsg_wr_u16(&w, qi->qclass);
	qend = w.len;
	if (is_a) {
		/* The owner is the question's name, at offset 12. */
		dnsmsg_wr_u16(&w, 0xc00c);
		dnsmsg_wr_u16(&w, DNS_TYPE_A);
		dnsmsg_wr_u16(&w, DNS_CLASS_IN);
		dnsmsg_wr_u32(&w, ANSWER_A_TTL);
		dnsmsg_wr_u16(&w, sizeof(addr));
		dnsmsg_wr_bytes(&w, addr, sizeof(addr));
	}
	if (dnsmsg_wr_finish(&w) == 0)
		return 0;
	if (f == FAULT_SHORT_ANSWER)
		return DNS_HDR_LEN + (qend - DNS_HDR_LEN) / 2;
	return w.len;
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
