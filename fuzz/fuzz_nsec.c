/*
 * Fuzz the denial proofs of nsec: the eight nsec_prove_* and
 * nsec3_prove_* on a zone, a name and a set of records from the input,
 * and the parsers, bitmaps, canonical order and base32hex on the way.
 * Input: qtype (2 bytes), wildcard labels (1), NSEC3 iteration limit
 * (1, taken modulo 32 to bound the hashing), zone and name (each a
 * length byte and that many bytes), then records to the end, each an
 * owner (length byte, bytes) and RDATA (2-byte length, bytes).
 *
 * Checked: every result is in range with a why, used[] indexes name
 * records of the set and the closest encloser is a name above the
 * query; the result is the same without a proof struct; NSEC proofs
 * never give the NSEC3-only results and do not depend on the records'
 * order; and a proof (or Opt-Out) holds again on the records its
 * used[] names alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/nsec.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RRS	16

enum op {
	OP_NXDOMAIN, OP_NODATA, OP_WILDCARD, OP_DELEGATION, OP_MAX
};

struct input {
	uint16_t	 qtype;
	unsigned	 labels;
	unsigned	 max_iter;
	const uint8_t	*zone, *qname;
	size_t		 zone_len, qname_len;
	struct nsec_rr	 rr[MAX_RRS];
	size_t		 n;
};

static enum nsec_result
run(const struct input *in, int nsec3, enum op op, const struct nsec_rr *set,
    size_t n, struct nsec_proof *p)
{
	if (!nsec3)
		switch (op) {
		case OP_NXDOMAIN:
			return nsec_prove_nxdomain(set, n, in->zone,
			    in->zone_len, in->qname, in->qname_len, p);
		case OP_NODATA:
			return nsec_prove_nodata(set, n, in->zone,
			    in->zone_len, in->qname, in->qname_len,
			    in->qtype, p);
		case OP_WILDCARD:
			return nsec_prove_wildcard(set, n, in->zone,
			    in->zone_len, in->qname, in->qname_len,
			    in->labels, p);
		default:
			return nsec_prove_insecure_delegation(set, n,
			    in->zone, in->zone_len, in->qname,
			    in->qname_len, p);
		}
	switch (op) {
	case OP_NXDOMAIN:
		return nsec3_prove_nxdomain(set, n, in->zone, in->zone_len,
		    in->qname, in->qname_len, in->max_iter, p);
	case OP_NODATA:
		return nsec3_prove_nodata(set, n, in->zone, in->zone_len,
		    in->qname, in->qname_len, in->qtype, in->max_iter, p);
	case OP_WILDCARD:
		return nsec3_prove_wildcard(set, n, in->zone, in->zone_len,
		    in->qname, in->qname_len, in->labels, in->max_iter, p);
	default:
		return nsec3_prove_insecure_delegation(set, n, in->zone,
		    in->zone_len, in->qname, in->qname_len, in->max_iter, p);
	}
}

static void
check(const struct input *in, int nsec3, enum op op)
{
	struct nsec_proof p;
	struct nsec_rr sub[NSEC_PROOF_USED], rev[MAX_RRS];
	enum nsec_result r;
	size_t i, j, k, m;

	memset(&p, 0xa5, sizeof(p));
	r = run(in, nsec3, op, in->rr, in->n, &p);
	if (r >= NSEC_RESULT_MAX || p.why == NULL ||
	    nsec_result_names[r] == NULL || p.nused > NSEC_PROOF_USED)
		abort();
	for (i = 0; i < p.nused; i++)
		if (p.used[i] >= in->n)
			abort();
	if (p.ce_len != 0 && (!nsec_name_valid(p.ce, p.ce_len) ||
	    !dnsmsg_name_below(in->qname, in->qname_len, p.ce, p.ce_len)))
		abort();
	if (run(in, nsec3, op, in->rr, in->n, NULL) != r)
		abort();
	if (!nsec3 && (r == NSEC_OPTOUT || r == NSEC_UNSUPPORTED ||
	    r == NSEC_ERROR))
		abort();
	if (r == NSEC_ERROR)
		abort();	/* only when OpenSSL runs out of memory */
	if (!nsec3) {
		for (i = 0; i < in->n; i++)
			rev[i] = in->rr[in->n - 1 - i];
		if (run(in, nsec3, op, rev, in->n, NULL) != r)
			abort();
	}
	if (r != NSEC_PROVEN && r != NSEC_OPTOUT)
		return;
	/* The records used, once each, in the set's order. */
	for (i = 0, m = 0; i < in->n; i++) {
		for (j = 0, k = 0; j < p.nused; j++)
			k |= p.used[j] == i;
		if (k)
			sub[m++] = in->rr[i];
	}
	if (run(in, nsec3, op, sub, m, NULL) != r)
		abort();
}

static int
take(const uint8_t **d, size_t *left, size_t n, const uint8_t **p)
{
	if (*left < n)
		return -1;
	*p = *d;
	*d += n;
	*left -= n;
	return 0;
}

static void
misc(const struct input *in)
{
	struct nsec_rdata nr;
	struct nsec3_rdata n3;
	uint8_t back[DNS_MAX_NAME];
	char txt[DNS_MAX_NAME * 2];
	size_t i, len;
	long t;
	int a, b, k, d;

	a = nsec_name_cmp(in->zone, in->zone_len, in->qname, in->qname_len);
	b = nsec_name_cmp(in->qname, in->qname_len, in->zone, in->zone_len);
	if ((a < 0) != (b > 0) || (a == 0) != (b == 0) ||
	    nsec_name_cmp(in->qname, in->qname_len, in->qname,
	    in->qname_len) != 0)
		abort();
	len = nsec3_b32hex_encode(in->qname, in->qname_len, txt, sizeof(txt));
	if (len == 0 && in->qname_len != 0)
		abort();
	d = nsec3_b32hex_decode(txt, len, back, sizeof(back));
	if (d != (int)in->qname_len || memcmp(back, in->qname, (size_t)d))
		abort();
	for (i = 0; i < in->n; i++) {
		if (nsec_parse(in->rr[i].rdata, in->rr[i].rdlen, &nr) == 0) {
			if (!nsec_name_valid(nr.next, nr.next_len))
				abort();
			for (k = 0, t = -1; k < 64; k++) {
				t = nsec_bitmap_next(nr.bitmap,
				    nr.bitmap_len, t);
				if (t == -1)
					break;
				if (nsec_bitmap_has(nr.bitmap, nr.bitmap_len,
				    (uint16_t)t) != 1)
					abort();
			}
		}
		if (nsec3_parse(in->rr[i].rdata, in->rr[i].rdlen, &n3) == 0 &&
		    (n3.next_len == 0 || !nsec_bitmap_valid(n3.bitmap,
		    n3.bitmap_len) || n3.salt_len + n3.next_len + 6 +
		    n3.bitmap_len != in->rr[i].rdlen))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	const uint8_t *p;
	size_t left = size, len;
	int op;

	memset(&in, 0, sizeof(in));
	if (take(&data, &left, 4, &p) == -1)
		return 0;
	in.qtype = (uint16_t)(p[0] << 8 | p[1]);
	in.labels = p[2];
	in.max_iter = p[3] % 32;
	if (take(&data, &left, 1, &p) == -1 ||
	    take(&data, &left, p[0], &in.zone) == -1)
		return 0;
	in.zone_len = p[0];
	if (take(&data, &left, 1, &p) == -1 ||
	    take(&data, &left, p[0], &in.qname) == -1)
		return 0;
	in.qname_len = p[0];
	while (in.n < MAX_RRS && left > 0) {
		if (take(&data, &left, 1, &p) == -1 ||
		    take(&data, &left, p[0], &in.rr[in.n].owner) == -1)
			break;
		in.rr[in.n].owner_len = p[0];
		if (take(&data, &left, 2, &p) == -1)
			break;
		len = (size_t)p[0] << 8 | p[1];
		if (take(&data, &left, len, &in.rr[in.n].rdata) == -1)
			break;
		in.rr[in.n].rdlen = len;
		in.n++;
	}
	misc(&in);
	for (op = 0; op < OP_MAX; op++) {
		check(&in, 0, (enum op)op);
		check(&in, 1, (enum op)op);
	}
	return 0;
}
