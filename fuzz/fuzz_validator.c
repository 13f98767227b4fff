/*
 * The validator engine on any bytes: the input is a 2-byte length and an
 * answer, then any number of 2-byte lengths and learned answers (seeds:
 * a dnsseclab case and its chain, tests/make_validator_vectors.py).  The
 * question is the answer's own; each NEED is answered with the first
 * learned message whose question is the need's, or with none.  The
 * lab's anchor and capture time, so the seeds walk the real chain; a
 * store of 8 entries, so eviction runs too.
 * Invariants: no crash, every need a DS or DNSKEY of a valid name and
 * settled by the learn that follows (never the same need twice in a
 * row), verdict and EDE in range, the budget never grows, and the
 * stats bound (entries <= 8, checks <= the budget given and one
 * learn's own allowance).  Like the daemon, the loop stops at
 * VALIDATOR_MAX_NEEDS.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"
#include "dohstub/nsec.h"
#include "dohstub/validator.h"

#include "../tests/validator_vectors.h"

#define MAX_LEARNED	64
#define STORE		8

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *part[MAX_LEARNED + 1];
static size_t partlen[MAX_LEARNED + 1];

/* The question of msg into qi: 0, or -1. */
static int
question(const uint8_t *msg, size_t len, struct dns_query_info *qi)
{
	struct dnsmsg_rd r;
	struct dns_header h;

	memset(qi, 0, sizeof(*qi));
	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) != 0 || h.count[DNS_SEC_QUESTION] != 1 ||
	    dnsmsg_rd_name(&r, qi->qname, &qi->qname_len) != 0 ||
	    dnsmsg_rd_u16(&r, &qi->qtype) != 0 ||
	    dnsmsg_rd_u16(&r, &qi->qclass) != 0)
		return -1;
	return 0;
}

static void
check_verdict(const struct val_verdict *vd)
{
	if (vd->state >= VAL_STATE_MAX || val_state_names[vd->state] == NULL ||
	    vd->why == NULL || vd->zone_len > DNS_MAX_NAME)
		abort();
	if (vd->state == VAL_SECURE && vd->ede != -1)
		abort();
	if (vd->state == VAL_INSECURE && vd->ede != -1 && vd->ede != 1 &&
	    vd->ede != 2)
		abort();
	if (vd->state == VAL_BOGUS && vd->ede != 0 && vd->ede != 6 &&
	    vd->ede != 7 && vd->ede != 8 && vd->ede != 9 && vd->ede != 10 &&
	    vd->ede != 12 && vd->ede != DNS_EDE_NO_REACHABLE)
		abort();
	if (vd->state == VAL_BOGUS && vd->ttl > VALIDATOR_BOGUS_TTL)
		abort();
	(void)strlen(vd->why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dnssec_anchor anchor[2];
	static size_t nanchor;
	static struct validator *v;
	const struct validator_stats *st;
	struct dns_query_info qi, lq;
	struct val_verdict vd;
	struct val_need nd, last;
	size_t np = 0, off = 0, i, n;
	unsigned budget, before, given = 0;
	uint64_t checks0;
	enum val_step step;
	int needs, found;

	if (v == NULL) {
		if (dnssec_anchor_parse(vv_anchor, strlen(vv_anchor), anchor,
		    2, &nanchor, NULL, 0) != 0 ||
		    (v = validator_new(anchor, nanchor, NULL, NULL, 0,
		    STORE)) == NULL)
			abort();
	}
	validator_flush(v);
	while (np <= MAX_LEARNED && size - off >= 2) {
		n = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (n > size - off)
			n = size - off;
		part[np] = data + off;
		partlen[np++] = n;
		off += n;
	}
	if (np == 0 || question(part[0], partlen[0], &qi) != 0 ||
	    dnsmsg_check_answer(part[0], partlen[0], &qi) != 0)
		return 0;
	memset(&last, 0, sizeof(last));
	st = validator_stats(v);
	checks0 = st->sig_checks;
	budget = VALIDATOR_BUDGET;
	/* a learn's own allowance may overrun the answer's by one learn */
	given = budget + VALIDATOR_LEARN_BUDGET;
	for (needs = 0;; needs++) {
		before = budget;
		step = validator_check(v, &qi, part[0], partlen[0], VV_NOW,
		    &budget, &vd, &nd);
		if (budget > before)
			abort();
		if (step == VAL_DONE) {
			check_verdict(&vd);
			break;
		}
		if (step != VAL_NEED ||
		    (nd.type != DNS_TYPE_DS && nd.type != DNS_TYPE_DNSKEY) ||
		    nd.name_len == 0 || nd.name_len > DNS_MAX_NAME ||
		    !nsec_name_valid(nd.name, nd.name_len))
			abort();
		/* each learn settles its need */
		if (needs > 0 && nd.type == last.type && dnsmsg_name_equal(
		    nd.name, nd.name_len, last.name, last.name_len))
			abort();
		if (needs >= VALIDATOR_MAX_NEEDS)
			break;		/* the caller's cap */
		last = nd;
		for (i = 1, found = 0; i < np && !found; i++) {
			if (question(part[i], partlen[i], &lq) != 0 ||
			    lq.qtype != nd.type || !dnsmsg_name_equal(lq.qname,
			    lq.qname_len, nd.name, nd.name_len))
				continue;
			found = 1;
			before = budget;
			validator_learn(v, &nd, part[i], partlen[i], VV_NOW,
			    &budget);
			if (budget > before)
				abort();
		}
		if (!found)
			validator_learn(v, &nd, NULL, 0, VV_NOW, &budget);
	}
	if (st->entries > STORE || st->sig_checks - checks0 > given)
		abort();
	return 0;
}
