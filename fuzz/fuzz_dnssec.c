/*
 * Fuzz dnssec.  Byte 0 even: the rest is trust-anchor text for
 * dnssec_anchor_parse(), and every DS found is matched against every
 * DNSKEY found.  Odd: the rest is a DNS message, collected section by
 * section with dnssec_collect(); every RRSIG of the first sets is
 * verified with every DNSKEY of the section, and the set as a whole
 * (dnssec_verify_rrset), at a time byte 0 >> 1 & 3 chooses: a fixed
 * one; the RRSIG's inception, so the crypto is reached; a second before
 * it, with DNSSEC_EARLY_OK (a clock behind) or without.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ANCHORS	8
#define MAX_VERIFY_SETS	6
#define MAX_VERIFY_KEYS	4

static void
check_lower(const uint8_t *name, size_t len)
{
	size_t i;

	if (len == 0 || len > DNS_MAX_NAME ||
	    dnssec_name_labels(name, len) < 0)
		abort();
	for (i = 0; i < len; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			abort();
}

static void
fuzz_anchors(const char *text, size_t len)
{
	static struct dnssec_anchor an[MAX_ANCHORS], one;
	enum dnssec_result res;
	char err[128];
	size_t n, m, i, j;
	int rc;

	memset(err, 'x', sizeof(err));
	rc = dnssec_anchor_parse(text, len, an, MAX_ANCHORS, &n, err,
	    sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL || n > MAX_ANCHORS)
		abort();
	if (rc == -1 ? strncmp(err, "line ", 5) != 0 : rc != 0 || *err)
		abort();
	for (i = 0; i < n; i++) {
		check_lower(an[i].owner, an[i].owner_len);
		if (an[i].rdlen < 4 || an[i].rdlen > DNSSEC_ANCHOR_RDATA_MAX)
			abort();
		if (an[i].type == DNS_TYPE_DNSKEY) {
			if (an[i].tag != dnssec_key_tag(an[i].rdata,
			    an[i].rdlen) || an[i].algorithm != an[i].rdata[3])
				abort();
		} else if (an[i].type == DNS_TYPE_DS) {
			if (an[i].tag != (an[i].rdata[0] << 8 |
			    an[i].rdata[1]) || an[i].algorithm !=
			    an[i].rdata[2])
				abort();
		} else
			abort();
	}
	/* A room of one gives the first record, the same. */
	(void)dnssec_anchor_parse(text, len, &one, 1, &m, NULL, 0);
	if (m > 1 || (n > 0 && (m != 1 || one.type != an[0].type ||
	    one.tag != an[0].tag || one.rdlen != an[0].rdlen ||
	    one.owner_len != an[0].owner_len ||
	    memcmp(one.owner, an[0].owner, one.owner_len) != 0 ||
	    memcmp(one.rdata, an[0].rdata, one.rdlen) != 0)))
		abort();
	for (i = 0; i < n; i++) {
		if (an[i].type != DNS_TYPE_DS)
			continue;
		for (j = 0; j < n; j++) {
			if (an[j].type != DNS_TYPE_DNSKEY)
				continue;
			res = dnssec_ds_match(an[i].owner, an[i].owner_len,
			    an[i].rdata, an[i].rdlen, an[j].rdata,
			    an[j].rdlen);
			if (res >= DNSSEC_RESULT_MAX)
				abort();
			if (res == DNSSEC_OK && an[i].tag != an[j].tag)
				abort();
		}
	}
}

/* Canonical RDATA stays as it is when made canonical again. */
static void
check_canonical(uint16_t type, const uint8_t *rdata, size_t len)
{
	static uint8_t again[65536];
	struct dnsmsg_rd r;
	long n;

	dnsmsg_rd_init(&r, rdata, len);
	n = dnssec_rdata_canonical(type, &r, again, sizeof(again));
	if (n < 0 || (size_t)n != len || memcmp(again, rdata, len) != 0)
		abort();
}

static void
check_sets(const struct dnssec_sets *sets)
{
	const struct dnssec_rrset *s;
	const uint8_t *lo = sets->arena, *hi = sets->arena + sets->used;
	size_t i, j;

	if (sets->nsets > DNSSEC_MAX_SETS || sets->used > DNSSEC_ARENA)
		abort();
	for (i = 0; i < sets->nsets; i++) {
		s = &sets->set[i];
		check_lower(s->owner, s->owner_len);
		if (s->n > DNSSEC_MAX_RRS || s->nsigs > DNSSEC_MAX_SIGS ||
		    s->n + s->nsigs == 0 ||
		    (s->n > 0 && s->type == DNS_TYPE_OPT))
			abort();
		for (j = 0; j < s->n; j++) {
			if (s->rdata[j] < lo || s->rdata[j] + s->rdlen[j] > hi)
				abort();
			check_canonical(s->type, s->rdata[j], s->rdlen[j]);
		}
		for (j = 0; j < s->nsigs; j++) {
			if (s->sig[j] < lo || s->sig[j] + s->siglen[j] > hi)
				abort();
			check_canonical(DNS_TYPE_RRSIG, s->sig[j],
			    s->siglen[j]);
		}
	}
}

/*
 * The whole set, with a budget: never overspent, indexes in range; what
 * passed passes dnssec_verify() too, or, if only DNSSEC_EARLY_OK let it,
 * was made after now and passes at its inception.
 */
static void
verify_rrset(const struct dnssec_rrset *s, const struct dnssec_rrset *k,
    uint32_t now, unsigned flags)
{
	enum dnssec_result res;
	struct dnssec_rrsig rs;
	unsigned budget = 6;
	size_t si = SIZE_MAX, ki = SIZE_MAX;

	res = dnssec_verify_rrset(s, k, now, flags, &budget, &si, &ki);
	if (res >= DNSSEC_RESULT_MAX || budget > 6 ||
	    (res == DNSSEC_OK) != (si != SIZE_MAX) ||
	    (res == DNSSEC_OK) != (ki != SIZE_MAX) ||
	    (res == DNSSEC_OK && (si >= s->nsigs || ki >= k->n)))
		abort();
	if (res != DNSSEC_OK)
		return;
	res = dnssec_verify(s, s->sig[si], s->siglen[si], k->owner,
	    k->owner_len, k->rdata[ki], k->rdlen[ki], now);
	if (res == DNSSEC_OK)
		return;
	if ((res != DNSSEC_NOT_YET_VALID && res != DNSSEC_EXPIRED) ||
	    (flags & DNSSEC_EARLY_OK) == 0 ||
	    dnssec_rrsig_parse(s->sig[si], s->siglen[si], &rs) != DNSSEC_OK ||
	    !dnssec_made_after(&rs, now) ||
	    dnssec_verify(s, s->sig[si], s->siglen[si], k->owner,
	    k->owner_len, k->rdata[ki], k->rdlen[ki], rs.inception) !=
	    DNSSEC_OK)
		abort();
}

static void
verify_sets(const struct dnssec_sets *sets, int when)
{
	const struct dnssec_rrset *s, *k;
	struct dnssec_rrsig rs;
	struct dnssec_dnskey key;
	enum dnssec_result res;
	size_t i, j, ki, kn, tried = 0;
	uint32_t now;

	for (i = 0; i < sets->nsets && tried < MAX_VERIFY_SETS; i++) {
		s = &sets->set[i];
		if (s->n == 0 || s->nsigs == 0)
			continue;
		tried++;
		for (j = 0; j < s->nsigs && j < 2; j++) {
			if (dnssec_rrsig_parse(s->sig[j], s->siglen[j], &rs) !=
			    DNSSEC_OK)
				abort();
			now = when == 0 ? 1800000000u : when == 1 ?
			    rs.inception : rs.inception - 1;
			k = dnssec_find(sets, rs.signer, rs.signer_len,
			    DNS_TYPE_DNSKEY, s->class);
			kn = k != NULL ? k->n : 0;
			if (j == 0 && k != NULL)
				verify_rrset(s, k, now, when == 2 ?
				    DNSSEC_EARLY_OK : 0);
			for (ki = 0; ki < kn && ki < MAX_VERIFY_KEYS; ki++) {
				res = dnssec_verify(s, s->sig[j], s->siglen[j],
				    k->owner, k->owner_len, k->rdata[ki],
				    k->rdlen[ki], now);
				if (res >= DNSSEC_RESULT_MAX)
					abort();
				if (res != DNSSEC_OK)
					continue;
				if (dnssec_dnskey_parse(k->rdata[ki],
				    k->rdlen[ki], &key) != DNSSEC_OK ||
				    key.tag != rs.key_tag ||
				    key.algorithm != rs.algorithm ||
				    !(key.flags & DNSSEC_FLAG_ZONE) ||
				    dnssec_check_time(&rs, now) != DNSSEC_OK)
					abort();
			}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dnssec_sets sets;
	enum dnssec_result res;
	int sec;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		fuzz_anchors((const char *)data + 1, size - 1);
		return 0;
	}
	for (sec = DNS_SEC_ANSWER; sec < DNS_SEC_MAX; sec++) {
		res = dnssec_collect(data + 1, size - 1, (enum dns_section)sec,
		    &sets);
		if (res != DNSSEC_OK && res != DNSSEC_MALFORMED &&
		    res != DNSSEC_TOO_BIG)
			abort();
		check_sets(&sets);
		if (res == DNSSEC_OK)
			verify_sets(&sets, data[0] >> 1 & 3);
	}
	return 0;
}
