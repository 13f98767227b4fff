/*
 * Fuzz dnsmsg_strip_dnssec(), what a client without DO gets of a signed
 * answer, and dnsmsg_clean_validated() (with and without the strip),
 * what a client gets of a validated one.  Input: two bytes of qtype,
 * then an answer.  What parses comes out with the same header but for
 * the counts, every record in the same order but the ones the rules
 * take out (RRSIG, NSEC and NSEC3 that were not asked for; in the
 * authority section all but SOA, NSEC, NSEC3 and RRSIGs covering them,
 * in the additional all but OPT), each with its owner, type, class, TTL
 * and RDATA (names inside decompressed) as before; it parses whole,
 * fits exactly its room and not one byte less, and filtering it again
 * gives the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Names expand: a 2-byte pointer becomes up to 255 bytes, so no answer
 * of 64 KiB can grow past this.
 */
#define FUZZ_OUT	(DNS_MAX_MSG * 128)

/* Which function: strip, clean, clean and strip. */
enum how { HOW_STRIP, HOW_CLEAN, HOW_BOTH, HOW_MAX };

static int
stripped(uint16_t type, int sec, uint16_t qtype)
{
	if (type != DNS_TYPE_RRSIG && type != DNS_TYPE_NSEC &&
	    type != DNS_TYPE_NSEC3)
		return 0;
	return type != qtype && !(sec == DNS_SEC_ANSWER &&
	    qtype == DNS_TYPE_ANY);
}

/* Written apart from dnsmsg.c's on purpose: the oracle. */
static int
unjudged(const struct dns_rr *rr, int sec)
{
	uint16_t t = rr->type;

	if (sec == DNS_SEC_ADDITIONAL)
		return t != DNS_TYPE_OPT;
	if (sec != DNS_SEC_AUTHORITY)
		return 0;
	if (t == DNS_TYPE_RRSIG) {
		if (rr->rdlen < 2)
			return 1;
		t = (uint16_t)(rr->rdata.msg[rr->rdata.off] << 8 |
		    rr->rdata.msg[rr->rdata.off + 1]);
	}
	return t != DNS_TYPE_SOA && t != DNS_TYPE_NSEC &&
	    t != DNS_TYPE_NSEC3;
}

static int
gone(const struct dns_rr *rr, int sec, uint16_t qtype, enum how how)
{
	return (how != HOW_CLEAN && stripped(rr->type, sec, qtype)) ||
	    (how != HOW_STRIP && unjudged(rr, sec));
}

static size_t
filter(const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
    uint16_t qtype, enum how how)
{
	if (how == HOW_STRIP)
		return dnsmsg_strip_dnssec(msg, len, out, cap, qtype);
	return dnsmsg_clean_validated(msg, len, out, cap, qtype,
	    how == HOW_BOTH);
}

/* Header and questions; -1 if they do not parse. */
static int
skip_top(struct dnsmsg_rd *r, struct dns_header *h)
{
	uint32_t i;

	if (dnsmsg_rd_header(r, h) == -1)
		return -1;
	for (i = 0; i < h->count[DNS_SEC_QUESTION]; i++)
		if (dnsmsg_rd_name(r, NULL, NULL) == -1 ||
		    dnsmsg_rd_skip(r, 4) == -1)
			return -1;
	return 0;
}

/* The two RDATAs say the same: canonical forms (names decompressed,
 * lowercased) equal, and for NSEC, whose next name canonical form does
 * not decompress, the name and the bitmap read apart. */
static int
same_rdata(const struct dns_rr *a, const struct dns_rr *b)
{
	static uint8_t ca[DNS_MAX_MSG], cb[DNS_MAX_MSG];
	uint8_t na[DNS_MAX_NAME], nb[DNS_MAX_NAME];
	struct dnsmsg_rd ra = a->rdata, rb = b->rdata;
	size_t la, lb;
	long x, y;

	if (a->type == DNS_TYPE_NSEC) {
		if (dnsmsg_rd_name(&ra, na, &la) == -1)
			return dnsmsg_rd_left(&ra) == a->rdlen &&
			    b->rdlen == a->rdlen && memcmp(ra.msg + ra.off,
			    rb.msg + rb.off, a->rdlen) == 0;
		if (dnsmsg_rd_name(&rb, nb, &lb) == -1)
			return 0;
		return la == lb && memcmp(na, nb, la) == 0 &&
		    dnsmsg_rd_left(&ra) == dnsmsg_rd_left(&rb) &&
		    memcmp(ra.msg + ra.off, rb.msg + rb.off,
		    dnsmsg_rd_left(&ra)) == 0;
	}
	x = dnssec_rdata_canonical(a->type, &a->rdata, ca, sizeof(ca));
	y = dnssec_rdata_canonical(b->type, &b->rdata, cb, sizeof(cb));
	return x == y && (x < 0 || memcmp(ca, cb, (size_t)x) == 0);
}

static void
check(const uint8_t *msg, size_t len, uint16_t qtype, enum how how)
{
	static uint8_t out[FUZZ_OUT], again[FUZZ_OUT];
	struct dnsmsg_rd r, ro;
	struct dns_header h, ho;
	struct dns_rr rr, ro_rr;
	uint8_t owner[DNS_MAX_NAME], oowner[DNS_MAX_NAME];
	uint32_t i, n, kept[DNS_SEC_MAX];
	size_t got;
	int sec, ok = 1;

	/* The oracle: does it parse, and what stays of each section. */
	dnsmsg_rd_init(&r, msg, len);
	memset(kept, 0, sizeof(kept));
	if (skip_top(&r, &h) == -1)
		ok = 0;
	for (sec = DNS_SEC_ANSWER; ok && sec < DNS_SEC_MAX; sec++)
		for (i = 0, n = h.count[sec]; ok && i < n; i++) {
			if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
				ok = 0;
			else if (!gone(&rr, sec, qtype, how))
				kept[sec]++;
		}

	got = filter(msg, len, out, sizeof(out), qtype, how);
	if (!ok) {
		if (got != 0)
			abort();
		return;
	}
	/*
	 * Only a record rewritten after one taken out can still fail it:
	 * a name inside its RDATA that does not parse.
	 */
	if (got == 0) {
		if (kept[DNS_SEC_ANSWER] == h.count[DNS_SEC_ANSWER] &&
		    kept[DNS_SEC_AUTHORITY] == h.count[DNS_SEC_AUTHORITY] &&
		    kept[DNS_SEC_ADDITIONAL] == h.count[DNS_SEC_ADDITIONAL])
			abort();
		return;
	}

	dnsmsg_rd_init(&ro, out, got);
	if (skip_top(&ro, &ho) == -1 || ho.id != h.id ||
	    ho.flags != h.flags ||
	    ho.count[DNS_SEC_QUESTION] != h.count[DNS_SEC_QUESTION])
		abort();
	for (sec = DNS_SEC_ANSWER; sec < DNS_SEC_MAX; sec++)
		if (ho.count[sec] != kept[sec])
			abort();
	/* The questions byte for byte. */
	dnsmsg_rd_init(&r, msg, len);
	(void)skip_top(&r, &h);
	if (ro.off != r.off || memcmp(out + DNS_HDR_LEN, msg + DNS_HDR_LEN,
	    r.off - DNS_HDR_LEN) != 0)
		abort();
	for (sec = DNS_SEC_ANSWER; sec < DNS_SEC_MAX; sec++)
		for (i = 0, n = h.count[sec]; i < n; i++) {
			(void)dnsmsg_rd_rr(&r, owner, &rr);
			if (gone(&rr, sec, qtype, how))
				continue;
			if (dnsmsg_rd_rr(&ro, oowner, &ro_rr) == -1 ||
			    ro_rr.owner_len != rr.owner_len ||
			    memcmp(oowner, owner, rr.owner_len) != 0 ||
			    ro_rr.type != rr.type || ro_rr.class != rr.class ||
			    ro_rr.ttl != rr.ttl || !same_rdata(&rr, &ro_rr))
				abort();
		}
	if (ro.off != got)
		abort();

	/* Its exact room, not a byte less; then nothing more to take. */
	if (filter(msg, len, again, got, qtype, how) != got ||
	    memcmp(again, out, got) != 0 ||
	    filter(msg, len, again, got - 1, qtype, how) != 0)
		abort();
	if (filter(out, got, again, sizeof(again), qtype, how) != got ||
	    memcmp(again, out, got) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg;
	uint16_t qtype;
	size_t len;
	int how;

	if (size < 2)
		return 0;
	qtype = (uint16_t)(data[0] << 8 | data[1]);
	len = size - 2;
	/* An exact-size heap copy, so ASan sees any read past the end. */
	if ((msg = malloc(len + 1)) == NULL)
		abort();
	memcpy(msg, data + 2, len);
	for (how = 0; how < HOW_MAX; how++)
		check(msg, len, qtype, (enum how)how);
	free(msg);
	return 0;
}
