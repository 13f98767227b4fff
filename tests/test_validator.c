/*
 * The validator engine against the signed lab's answers
 * (tests/validator_vectors.h, made by tests/make_validator_vectors.py):
 * every case driven check -> NEED -> learn -> ... -> verdict, and the
 * store, the budget, negative trust anchors, missing and tampered
 * answers, the clock and the trace.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include <openssl/evp.h>

#include "dohstub/dnssec.h"
#include "dohstub/nsec.h"
#include "dohstub/validator.h"

#include "check.h"
#include "validator_vectors.h"

static struct dnssec_anchor anchors[4];
static size_t nanchors;

static struct validator *
mk(size_t max, const char *nta_text)
{
	uint8_t nta[DNS_MAX_NAME];
	const uint8_t *ntap[1] = { nta };
	size_t ntalen[1];

	if (nta_text == NULL)
		return validator_new(anchors, nanchors, NULL, NULL, 0, max);
	ntalen[0] = dnsmsg_name_from_text(nta_text, nta, sizeof(nta));
	return validator_new(anchors, nanchors, ntap, ntalen, 1, max);
}

static const struct vv_answer *
find_answer(const struct val_need *nd)
{
	char text[DNS_MAX_NAME_TEXT];
	size_t i;

	if (dnsmsg_name_to_text(nd->name, nd->name_len, text, sizeof(text),
	    0) != 0)
		return NULL;
	for (i = 0; i < sizeof(vv_answers) / sizeof(vv_answers[0]); i++)
		if (vv_answers[i].type == nd->type &&
		    strcasecmp(vv_answers[i].name, text) == 0)
			return &vv_answers[i];
	fprintf(stderr, "no captured answer for %s type %u\n", text,
	    nd->type);
	return NULL;
}

static const struct vv_case *
find_case(const char *id)
{
	size_t i;

	for (i = 0; i < sizeof(vv_cases) / sizeof(vv_cases[0]); i++)
		if (strcmp(vv_cases[i].id, id) == 0)
			return &vv_cases[i];
	fprintf(stderr, "no case %s\n", id);
	abort();
}

static void
qi_of(const struct vv_case *c, struct dns_query_info *qi)
{
	memset(qi, 0, sizeof(*qi));
	qi->qname_len = dnsmsg_name_from_text(c->qname, qi->qname,
	    sizeof(qi->qname));
	qi->qtype = c->qtype;
	qi->qclass = DNS_CLASS_IN;
}

/*
 * Drive msg (the answer to c's question) to a verdict, learning the
 * captured answer to every need: the number of needs, -1 if it did not
 * end within VALIDATOR_MAX_NEEDS or a need has no captured answer.
 */
static int
drive_msg(struct validator *v, const struct vv_case *c, const uint8_t *msg,
    size_t len, uint32_t now, unsigned budget, struct val_verdict *vd)
{
	struct dns_query_info qi;
	struct val_need nd;
	const struct vv_answer *a;
	int needs;

	qi_of(c, &qi);
	if (dnsmsg_check_answer(msg, len, &qi) != 0) {
		fprintf(stderr, "%s: answer does not check\n", c->id);
		return -1;
	}
	for (needs = 0; needs <= VALIDATOR_MAX_NEEDS; needs++) {
		if (validator_check(v, &qi, msg, len, now, &budget, vd, &nd) ==
		    VAL_DONE)
			return needs;
		CHECK(nd.type == DNS_TYPE_DS || nd.type == DNS_TYPE_DNSKEY);
		if ((a = find_answer(&nd)) == NULL)
			return -1;
		validator_learn(v, &nd, a->msg, a->len, now, &budget);
	}
	fprintf(stderr, "%s: no verdict after %d needs\n", c->id, needs);
	return -1;
}

static int
drive(struct validator *v, const struct vv_case *c, uint32_t now,
    struct val_verdict *vd)
{
	return drive_msg(v, c, c->msg, c->len, now, VALIDATOR_BUDGET, vd);
}

static void
test_cases(void)
{
	struct validator *v, *warm;
	struct val_verdict vd;
	size_t i;
	int needs, n;

	warm = mk(1000, NULL);
	CHECK(warm != NULL);
	for (i = 0; i < sizeof(vv_cases) / sizeof(vv_cases[0]); i++) {
		const struct vv_case *c = &vv_cases[i];

		v = mk(1000, NULL);
		needs = drive(v, c, VV_NOW, &vd);
		CHECK(needs > 0);
		if (strcmp(val_state_names[vd.state], c->verdict) != 0 ||
		    vd.ede != c->ede)
			fprintf(stderr, "case %s: %s ede %d (%s), want %s ede "
			    "%d\n", c->id, val_state_names[vd.state], vd.ede,
			    vd.why, c->verdict, c->ede);
		CHECK_STR(val_state_names[vd.state], c->verdict);
		CHECK_EQ(vd.ede, c->ede);
		/* every verdict says why: a reason, or what was verified */
		CHECK(vd.why != NULL && vd.why[0] != '\0');
		if (vd.state == VAL_SECURE) {
			CHECK(vd.ttl > 0 && vd.ttl <= 300);
			CHECK(vd.zone_len > 0);
		}
		if (vd.state == VAL_BOGUS)
			CHECK(vd.ttl <= VALIDATOR_BOGUS_TTL);
		/* the same answer again: the store holds the chain */
		n = drive(v, c, VV_NOW, &vd);
		CHECK_EQ(n, 0);
		CHECK_STR(val_state_names[vd.state], c->verdict);
		validator_free(v);
		/* one validator for all: later cases reuse the chain */
		needs = drive(warm, c, VV_NOW, &vd);
		CHECK(needs >= 0);
		CHECK_STR(val_state_names[vd.state], c->verdict);
		CHECK_EQ(vd.ede, c->ede);
	}
	/* every case once more: nothing asked at all */
	for (i = 0; i < sizeof(vv_cases) / sizeof(vv_cases[0]); i++) {
		CHECK_EQ(drive(warm, &vv_cases[i], VV_NOW + 10, &vd), 0);
		CHECK_STR(val_state_names[vd.state], vv_cases[i].verdict);
	}
	validator_free(warm);
}

/* A warm chain: a second answer of the same zone is judged at once. */
static void
test_warm(void)
{
	struct validator *v = mk(100, NULL);
	struct dns_query_info qi;
	struct val_verdict vd;
	struct val_need nd;
	const struct vv_case *c;
	unsigned budget = VALIDATOR_BUDGET;
	uint64_t before;

	CHECK(drive(v, find_case("nsec"), VV_NOW, &vd) == 5);
	CHECK_EQ(vd.state, VAL_SECURE);
	c = find_case("nsec-nodata");
	qi_of(c, &qi);
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget,
	    &vd, &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_SECURE);
	c = find_case("nsec-wildcard");
	qi_of(c, &qi);
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget,
	    &vd, &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_SECURE);
	/* past the keys' TTL (300 s) the chain is fetched again */
	CHECK(drive(v, find_case("nsec"), VV_NOW + 301, &vd) > 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	/*
	 * A CNAME from nsec.test. to ed25519.test., whose chain is still
	 * to learn: two learns of one check each, and the CNAME and the A
	 * checked once each, not again on each re-check after a learn.
	 */
	before = validator_stats(v)->sig_checks;
	CHECK_EQ(drive(v, find_case("cname-cross"), VV_NOW + 301, &vd), 2);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK_EQ(validator_stats(v)->sig_checks - before, 4);
	CHECK(validator_stats(v)->memo_hits >= 2);
	/* the same answer again: nothing to check */
	before = validator_stats(v)->sig_checks;
	CHECK_EQ(drive(v, find_case("cname-cross"), VV_NOW + 302, &vd), 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK_EQ(validator_stats(v)->sig_checks, before);
	/* flush: everything again */
	validator_flush(v);
	CHECK_EQ(validator_stats(v)->entries, 0);
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 5);
	validator_free(v);
}

/* No answer to a need: bogus for VALIDATOR_NOANSWER_TTL, then asked. */
static void
test_no_answer(void)
{
	struct validator *v = mk(100, NULL);
	const struct vv_case *c = find_case("nsec");
	struct dns_query_info qi;
	struct val_verdict vd;
	struct val_need nd;
	unsigned budget = VALIDATOR_BUDGET;

	qi_of(c, &qi);
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget, &vd,
	    &nd), VAL_NEED);
	CHECK_EQ(nd.type, DNS_TYPE_DNSKEY);
	CHECK_EQ(nd.name_len, 1);
	validator_learn(v, &nd, NULL, 0, VV_NOW, &budget);
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW + 1, &budget,
	    &vd, &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, DNS_EDE_NO_REACHABLE);
	CHECK(vd.ttl <= VALIDATOR_BOGUS_TTL);
	CHECK_EQ(validator_stats(v)->learned[VAL_BOGUS], 1);
	/* after the short TTL the need comes back */
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len,
	    VV_NOW + VALIDATOR_NOANSWER_TTL, &budget, &vd, &nd), VAL_NEED);
	CHECK_EQ(nd.type, DNS_TYPE_DNSKEY);
	/* an answer to another question teaches nothing */
	validator_learn(v, &nd, c->msg, c->len, VV_NOW, &budget);
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len,
	    VV_NOW + VALIDATOR_NOANSWER_TTL, &budget, &vd, &nd), VAL_NEED);
	budget = VALIDATOR_BUDGET;
	CHECK_EQ(drive(v, c, VV_NOW + VALIDATOR_NOANSWER_TTL, &vd), 5);
	CHECK_EQ(vd.state, VAL_SECURE);
	validator_free(v);
}

/*
 * Offset of the last RDATA byte of the first record of type t in sec,
 * and with flip != 0, that byte of every such record XORed with flip.
 */
static size_t
last_rdata_byte(uint8_t *msg, size_t len, int sec, uint16_t t, int flip)
{
	size_t first = 0;
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	int s, i;

	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) != 0 || dnsmsg_rd_name(&r, NULL,
	    NULL) != 0 || dnsmsg_rd_skip(&r, 4) != 0)
		return 0;
	for (s = DNS_SEC_ANSWER; s < DNS_SEC_MAX; s++)
		for (i = 0; i < h.count[s]; i++) {
			if (dnsmsg_rd_rr(&r, NULL, &rr) != 0)
				return 0;
			if (s != sec || rr.type != t || rr.rdlen == 0)
				continue;
			if (first == 0)
				first = rr.rdata.off + rr.rdlen - 1;
			msg[rr.rdata.off + rr.rdlen - 1] ^= flip;
		}
	return first;
}

static void
test_tampered(void)
{
	static uint8_t buf[DNS_MAX_MSG];
	const struct vv_case *c = find_case("nsec");
	struct validator *v;
	struct val_verdict vd;
	size_t off;

	/* the RRSIG's last byte */
	memcpy(buf, c->msg, c->len);
	off = last_rdata_byte(buf, c->len, DNS_SEC_ANSWER, DNS_TYPE_RRSIG,
	    0x01);
	CHECK(off > 0);
	v = mk(100, NULL);
	CHECK(drive_msg(v, c, buf, c->len, VV_NOW, VALIDATOR_BUDGET, &vd) > 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	/* the address */
	memcpy(buf, c->msg, c->len);
	off = last_rdata_byte(buf, c->len, DNS_SEC_ANSWER, DNS_TYPE_A, 0x40);
	CHECK(off > 0);
	CHECK_EQ(drive_msg(v, c, buf, c->len, VV_NOW, VALIDATOR_BUDGET, &vd),
	    0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	/* the untouched answer is still secure */
	CHECK_EQ(drive(v, c, VV_NOW, &vd), 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	validator_free(v);
}

/*
 * Insert a record (owner as text, type, TTL 300, rdata) at the end of
 * section sec of msg (*len bytes, DNS_MAX_MSG of room): 0, or -1.
 */
static int
add_rr(uint8_t *msg, size_t *len, int sec, const char *owner, uint16_t t,
    const uint8_t *rd, uint16_t rdlen)
{
	uint8_t rec[DNS_MAX_NAME + 10 + 512];
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	size_t at, n;
	int s, i;

	n = dnsmsg_name_from_text(owner, rec, DNS_MAX_NAME);
	if (n == 0 || rdlen > 512)
		return -1;
	rec[n] = t >> 8;
	rec[n + 1] = t & 0xff;
	rec[n + 2] = 0;
	rec[n + 3] = DNS_CLASS_IN;
	rec[n + 4] = rec[n + 5] = 0;
	rec[n + 6] = 300 >> 8;
	rec[n + 7] = 300 & 0xff;
	rec[n + 8] = rdlen >> 8;
	rec[n + 9] = rdlen & 0xff;
	memcpy(rec + n + 10, rd, rdlen);
	n += 10 + rdlen;
	dnsmsg_rd_init(&r, msg, *len);
	if (dnsmsg_rd_header(&r, &h) != 0 || dnsmsg_rd_name(&r, NULL,
	    NULL) != 0 || dnsmsg_rd_skip(&r, 4) != 0)
		return -1;
	for (s = DNS_SEC_ANSWER; s <= sec; s++)
		for (i = 0; i < h.count[s]; i++)
			if (dnsmsg_rd_rr(&r, NULL, &rr) != 0)
				return -1;
	at = *len - dnsmsg_rd_left(&r);
	if (*len + n > DNS_MAX_MSG)
		return -1;
	memmove(msg + at + n, msg + at, *len - at);
	memcpy(msg + at, rec, n);
	*len += n;
	i = (msg[4 + 2 * sec] << 8 | msg[5 + 2 * sec]) + 1;
	msg[4 + 2 * sec] = (uint8_t)(i >> 8);
	msg[5 + 2 * sec] = (uint8_t)i;
	return 0;
}

static const uint8_t evil_a[4] = { 6, 6, 6, 6 };

/* A name as wire-form RDATA (CNAME, DNAME targets) into rd: its length. */
static uint16_t
name_rd(const char *text, uint8_t *rd)
{
	return (uint16_t)dnsmsg_name_from_text(text, rd, DNS_MAX_NAME);
}

/*
 * Finding 1: RRsets off the chain from the question's name beside a
 * real signed answer make it bogus, whatever the chain says.
 */
static void
test_extra_rrsets(void)
{
	static uint8_t buf[DNS_MAX_MSG];
	const struct vv_case *c = find_case("nsec");
	struct validator *v = mk(100, NULL);
	struct val_verdict vd;
	uint8_t rd[DNS_MAX_NAME];
	size_t len;

	CHECK_EQ(drive(v, c, VV_NOW, &vd), 5);
	CHECK_EQ(vd.state, VAL_SECURE);
	/* an unsigned CNAME at the name to evil.example and its address */
	memcpy(buf, c->msg, c->len);
	len = c->len;
	CHECK_EQ(add_rr(buf, &len, DNS_SEC_ANSWER, "www.nsec.test",
	    DNS_TYPE_CNAME, rd, name_rd("evil.example", rd)), 0);
	CHECK_EQ(add_rr(buf, &len, DNS_SEC_ANSWER, "evil.example",
	    DNS_TYPE_A, evil_a, 4), 0);
	CHECK_EQ(drive_msg(v, c, buf, len, VV_NOW, VALIDATOR_BUDGET, &vd), 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	CHECK(strstr(vd.why, "www.nsec.test. CNAME") != NULL);
	/* an unsigned address for another name */
	memcpy(buf, c->msg, c->len);
	len = c->len;
	CHECK_EQ(add_rr(buf, &len, DNS_SEC_ANSWER, "mail.nsec.test",
	    DNS_TYPE_A, evil_a, 4), 0);
	CHECK_EQ(drive_msg(v, c, buf, len, VV_NOW, VALIDATOR_BUDGET, &vd), 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	CHECK(strstr(vd.why, "mail.nsec.test. A") != NULL);
	/* a second, unsigned set at the name */
	memcpy(buf, c->msg, c->len);
	len = c->len;
	CHECK_EQ(add_rr(buf, &len, DNS_SEC_ANSWER, "www.nsec.test",
	    28, rd, 16), 0);	/* AAAA */
	CHECK_EQ(drive_msg(v, c, buf, len, VV_NOW, VALIDATOR_BUDGET, &vd), 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK(strstr(vd.why, "www.nsec.test. AAAA") != NULL);
	/* the same beside a signed negative answer */
	c = find_case("nsec-nxdomain");
	memcpy(buf, c->msg, c->len);
	len = c->len;
	CHECK_EQ(add_rr(buf, &len, DNS_SEC_ANSWER, "evil.example",
	    DNS_TYPE_A, evil_a, 4), 0);
	CHECK(drive_msg(v, c, buf, len, VV_NOW, VALIDATOR_BUDGET, &vd) >= 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	/* the untouched answers are still secure */
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK(drive(v, c, VV_NOW, &vd) >= 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	validator_free(v);
}

/*
 * Finding 1: the CNAME a DNAME synthesizes must be the substitution
 * (RFC 6672 5.3.1): a real signed DNAME with the CNAME pointed
 * elsewhere is bogus.
 */
static void
test_dname_synth(void)
{
	static uint8_t buf[DNS_MAX_MSG];
	const struct vv_case *c = find_case("dname");
	struct validator *v = mk(100, NULL);
	struct val_verdict vd;
	uint8_t rd[DNS_MAX_NAME];
	size_t len;
	int i, n = 0;

	CHECK(drive(v, c, VV_NOW, &vd) > 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	/* www.ed25519.test. in the CNAME's RDATA made wwx.ed25519.test. */
	memcpy(buf, c->msg, c->len);
	len = name_rd("www.ed25519.test", rd);
	for (i = 0; (size_t)i + len <= c->len; i++)
		if (memcmp(buf + i, rd, len) == 0 && i >= 2 &&
		    (size_t)(buf[i - 2] << 8 | buf[i - 1]) == len) {
			buf[i + 3] = 'x';	/* the CNAME's RDATA */
			n++;
		}
	CHECK_EQ(n, 1);
	CHECK_EQ(drive_msg(v, c, buf, c->len, VV_NOW, VALIDATOR_BUDGET,
	    &vd), 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	CHECK(strstr(vd.why, "RFC 6672") != NULL);
	validator_free(v);
}

/*
 * A zone signed here, for what the lab does not show: "example." with
 * one Ed25519 key (its DNSKEY the anchor), NSEC3 without salt, 0
 * iterations (unless a test asks for more).  hz_* build messages record
 * by record; every set signed here is a single record.
 */
#define HZ_INCEPTION	(VV_NOW - 3600)
#define HZ_EXPIRATION	(VV_NOW + 86400)

static uint32_t hz_inception = HZ_INCEPTION;	/* of what is signed */
static uint32_t hz_keys_inception = HZ_INCEPTION;	/* the DNSKEY set's */
static uint32_t hz_keys_expiration = HZ_EXPIRATION;
static EVP_PKEY *hz_key;
static uint8_t hz_dnskey[4 + 32];
static uint16_t hz_tag;
static struct dnssec_anchor hz_anchor;

static void
hz_init(void)
{
	EVP_PKEY_CTX *ctx;
	size_t publen = 32;

	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	CHECK(ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1 &&
	    EVP_PKEY_keygen(ctx, &hz_key) == 1);
	EVP_PKEY_CTX_free(ctx);
	hz_dnskey[0] = 1;	/* 257: zone, SEP */
	hz_dnskey[1] = 1;
	hz_dnskey[2] = 3;
	hz_dnskey[3] = DNSSEC_ALG_ED25519;
	CHECK(EVP_PKEY_get_raw_public_key(hz_key, hz_dnskey + 4, &publen) ==
	    1 && publen == 32);
	hz_tag = dnssec_key_tag(hz_dnskey, sizeof(hz_dnskey));
	memset(&hz_anchor, 0, sizeof(hz_anchor));
	hz_anchor.owner_len = dnsmsg_name_from_text("example.",
	    hz_anchor.owner, sizeof(hz_anchor.owner));
	hz_anchor.type = DNS_TYPE_DNSKEY;
	hz_anchor.tag = hz_tag;
	hz_anchor.algorithm = DNSSEC_ALG_ED25519;
	hz_anchor.rdlen = sizeof(hz_dnskey);
	memcpy(hz_anchor.rdata, hz_dnskey, sizeof(hz_dnskey));
}

struct hz_msg {
	uint8_t	buf[DNS_MAX_MSG];
	size_t	len;
	int	sec;		/* the section records go to now */
};

/* A message answering name/type (rcode), no records yet. */
static void
hz_start(struct hz_msg *m, const char *name, uint16_t type, int rcode)
{
	size_t n;

	memset(m, 0, sizeof(*m));
	m->buf[2] = 0x81;	/* QR, RD */
	m->buf[3] = 0x80 | (uint8_t)rcode;
	m->buf[5] = 1;
	n = dnsmsg_name_from_text(name, m->buf + 12, DNS_MAX_NAME);
	m->len = 12 + n;
	m->buf[m->len++] = type >> 8;
	m->buf[m->len++] = type & 0xff;
	m->buf[m->len++] = 0;
	m->buf[m->len++] = DNS_CLASS_IN;
	m->sec = DNS_SEC_ANSWER;
}

/* One record (owner wire form) into m's current section. */
static void
hz_rr(struct hz_msg *m, const uint8_t *owner, size_t olen, uint16_t type,
    uint32_t ttl, const uint8_t *rd, size_t rdlen)
{
	uint8_t *p = m->buf + m->len;
	int c;

	CHECK(m->len + olen + 10 + rdlen <= sizeof(m->buf));
	memcpy(p, owner, olen);
	p += olen;
	p[0] = type >> 8;
	p[1] = type & 0xff;
	p[2] = 0;
	p[3] = DNS_CLASS_IN;
	p[4] = ttl >> 24;
	p[5] = (ttl >> 16) & 0xff;
	p[6] = (ttl >> 8) & 0xff;
	p[7] = ttl & 0xff;
	p[8] = (uint8_t)(rdlen >> 8);
	p[9] = rdlen & 0xff;
	memcpy(p + 10, rd, rdlen);
	m->len += olen + 10 + rdlen;
	c = (m->buf[4 + 2 * m->sec] << 8 | m->buf[5 + 2 * m->sec]) + 1;
	m->buf[4 + 2 * m->sec] = (uint8_t)(c >> 8);
	m->buf[5 + 2 * m->sec] = (uint8_t)c;
}

/*
 * The record and, with sign, its RRSIG by the zone's key (original TTL
 * ottl, the window hz_inception..expiration).
 */
static void
hz_signed(struct hz_msg *m, const uint8_t *owner, size_t olen,
    uint16_t type, uint32_t ttl, const uint8_t *rd, size_t rdlen,
    uint32_t ottl, uint32_t expiration)
{
	uint8_t sig[18 + DNS_MAX_NAME + 64], data[2048], lo[DNS_MAX_NAME];
	uint8_t zone[DNS_MAX_NAME];
	size_t zlen, n, dlen, slen = 64;
	EVP_MD_CTX *md;

	hz_rr(m, owner, olen, type, ttl, rd, rdlen);
	zlen = dnsmsg_name_from_text("example.", zone, sizeof(zone));
	sig[0] = type >> 8;
	sig[1] = type & 0xff;
	sig[2] = DNSSEC_ALG_ED25519;
	sig[3] = (uint8_t)dnssec_name_labels(owner, olen);
	sig[4] = ottl >> 24;
	sig[5] = (ottl >> 16) & 0xff;
	sig[6] = (ottl >> 8) & 0xff;
	sig[7] = ottl & 0xff;
	sig[8] = expiration >> 24;
	sig[9] = (expiration >> 16) & 0xff;
	sig[10] = (expiration >> 8) & 0xff;
	sig[11] = expiration & 0xff;
	sig[12] = hz_inception >> 24;
	sig[13] = (hz_inception >> 16) & 0xff;
	sig[14] = (hz_inception >> 8) & 0xff;
	sig[15] = hz_inception & 0xff;
	sig[16] = hz_tag >> 8;
	sig[17] = hz_tag & 0xff;
	memcpy(sig + 18, zone, zlen);
	n = 18 + zlen;
	/* signed data: the RRSIG's fields, then the record canonical */
	memcpy(lo, owner, olen);
	dnsmsg_name_lower(lo, olen);
	memcpy(data, sig, n);
	dlen = n;
	memcpy(data + dlen, lo, olen);
	dlen += olen;
	data[dlen++] = type >> 8;
	data[dlen++] = type & 0xff;
	data[dlen++] = 0;
	data[dlen++] = DNS_CLASS_IN;
	memcpy(data + dlen, sig + 4, 4);
	dlen += 4;
	data[dlen++] = (uint8_t)(rdlen >> 8);
	data[dlen++] = rdlen & 0xff;
	memcpy(data + dlen, rd, rdlen);
	dlen += rdlen;
	md = EVP_MD_CTX_new();
	CHECK(md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL,
	    hz_key) == 1 && EVP_DigestSign(md, sig + n, &slen, data,
	    dlen) == 1 && slen == 64);
	EVP_MD_CTX_free(md);
	hz_rr(m, owner, olen, DNS_TYPE_RRSIG, ttl, sig, n + 64);
}

static void
hz_text(struct hz_msg *m, const char *owner, uint16_t type, uint32_t ttl,
    const uint8_t *rd, size_t rdlen, int sign)
{
	uint8_t o[DNS_MAX_NAME];
	size_t olen = dnsmsg_name_from_text(owner, o, sizeof(o));

	if (sign)
		hz_signed(m, o, olen, type, ttl, rd, rdlen, ttl,
		    HZ_EXPIRATION);
	else
		hz_rr(m, o, olen, type, ttl, rd, rdlen);
}

/* The answer to "example. DNSKEY": the key, signed by itself. */
static void
hz_dnskey_answer(struct hz_msg *m)
{
	uint32_t inception = hz_inception;
	uint8_t o[DNS_MAX_NAME];
	size_t olen = dnsmsg_name_from_text("example.", o, sizeof(o));

	hz_inception = hz_keys_inception;
	hz_start(m, "example.", DNS_TYPE_DNSKEY, DNS_RCODE_NOERROR);
	hz_signed(m, o, olen, DNS_TYPE_DNSKEY, 300, hz_dnskey,
	    sizeof(hz_dnskey), 300, hz_keys_expiration);
	hz_inception = inception;
}

/*
 * The NSEC3 chain of names[0..n-1] (text) with their bitmaps, flags
 * and iterations, each signed with TTL ttl, into m's current section.
 */
struct hz_name {
	const char	*name;
	uint8_t		 bm[12];
	size_t		 bmlen;
};

static uint32_t hz_ottl;	/* not 0: the NSEC3 RRSIGs' original TTL */

static void
hz_nsec3(struct hz_msg *m, const struct hz_name *names, size_t n,
    uint8_t flags, uint16_t iter, uint32_t ttl)
{
	uint8_t h[8][NSEC3_SHA1_LEN], wire[DNS_MAX_NAME], rd[64];
	uint8_t owner[DNS_MAX_NAME];
	char b32[40];
	size_t i, j, wl, next, rl, ol;
	long best;

	CHECK(n <= 8);
	for (i = 0; i < n; i++) {
		wl = dnsmsg_name_from_text(names[i].name, wire, sizeof(wire));
		CHECK(nsec3_hash(NSEC3_HASH_SHA1, NULL, 0, iter, wire, wl,
		    h[i]) == 0);
	}
	for (i = 0; i < n; i++) {
		/* next: the least hash above h[i], else the least of all */
		best = -1;
		for (j = 0; j < n; j++)
			if (memcmp(h[j], h[i], NSEC3_SHA1_LEN) > 0 &&
			    (best == -1 || memcmp(h[j], h[best],
			    NSEC3_SHA1_LEN) < 0))
				best = (long)j;
		if (best == -1)
			for (j = 0, best = 0; j < n; j++)
				if (memcmp(h[j], h[best], NSEC3_SHA1_LEN) < 0)
					best = (long)j;
		next = (size_t)best;
		rl = 0;
		rd[rl++] = NSEC3_HASH_SHA1;
		rd[rl++] = flags;
		rd[rl++] = iter >> 8;
		rd[rl++] = iter & 0xff;
		rd[rl++] = 0;		/* no salt */
		rd[rl++] = NSEC3_SHA1_LEN;
		memcpy(rd + rl, h[next], NSEC3_SHA1_LEN);
		rl += NSEC3_SHA1_LEN;
		memcpy(rd + rl, names[i].bm, names[i].bmlen);
		rl += names[i].bmlen;
		nsec3_b32hex_encode(h[i], NSEC3_SHA1_LEN, b32, sizeof(b32));
		owner[0] = 32;
		memcpy(owner + 1, b32, 32);
		wl = dnsmsg_name_from_text("example.", wire, sizeof(wire));
		memcpy(owner + 33, wire, wl);
		ol = 33 + wl;
		hz_signed(m, owner, ol, DNS_TYPE_NSEC3, ttl, rd, rl,
		    hz_ottl != 0 ? hz_ottl : ttl, HZ_EXPIRATION);
	}
}

/* Bitmaps (window 0) of the hand zone's names. */
#define HZ_BM_APEX	{ 0, 7, 0x22, 0x00, 0x00, 0x00, 0x00, 0x02, 0x90 }
#define HZ_BM_A		{ 0, 6, 0x40, 0x00, 0x00, 0x00, 0x00, 0x02 }
#define HZ_BM_NS	{ 0, 1, 0x20 }

static const struct hz_name hz_wild[] = {
	{ "example.", HZ_BM_APEX, 9 },	/* NS SOA RRSIG DNSKEY NSEC3PARAM */
	{ "*.example.", HZ_BM_A, 8 },	/* A RRSIG */
	{ "sub.example.", HZ_BM_NS, 3 },	/* NS: an unsigned delegation */
};

/*
 * Drive the question name/type with answer m through the hand zone:
 * DNSKEY from hz_dnskey_answer(), a DS need from ds (NULL: a need of
 * another DS is a test failure).  The verdict in *vd.
 */
static int
hz_drive_at(struct validator *v, const char *name, uint16_t type,
    const struct hz_msg *m, const struct hz_msg *ds, uint32_t now,
    struct val_verdict *vd)
{
	static struct hz_msg keys;
	struct dns_query_info qi;
	struct val_need nd;
	unsigned budget = VALIDATOR_BUDGET;
	int i, nds = 0;

	memset(&qi, 0, sizeof(qi));
	qi.qname_len = dnsmsg_name_from_text(name, qi.qname,
	    sizeof(qi.qname));
	qi.qtype = type;
	qi.qclass = DNS_CLASS_IN;
	CHECK_EQ(dnsmsg_check_answer(m->buf, m->len, &qi), 0);
	hz_dnskey_answer(&keys);
	for (i = 0; i < 8; i++) {
		if (validator_check(v, &qi, m->buf, m->len, now, &budget,
		    vd, &nd) == VAL_DONE)
			return nds;
		if (nd.type == DNS_TYPE_DNSKEY)
			validator_learn(v, &nd, keys.buf, keys.len, now,
			    &budget);
		else {
			CHECK(ds != NULL);
			nds++;
			validator_learn(v, &nd, ds != NULL ? ds->buf : NULL,
			    ds != NULL ? ds->len : 0, now, &budget);
		}
	}
	CHECK(0);
	return -1;
}

static void
hz_drive(struct validator *v, const char *name, uint16_t type,
    const struct hz_msg *m, const struct hz_msg *ds, unsigned budget,
    struct val_verdict *vd)
{
	CHECK(budget == VALIDATOR_BUDGET);
	CHECK(hz_drive_at(v, name, type, m, ds, VV_NOW, vd) >= 0);
}

/*
 * Finding 2: "foo.example. DS" answered (honestly) with the wildcard
 * NODATA of RFC 5155 8.7: the closest encloser is the apex, whose
 * NSEC3 has NS (and SOA).  That is no proof that foo.example. is an
 * insecure delegation: an unsigned "foo.example. A" stays bogus.  The
 * NSEC3 of sub.example. itself (NS, no DS) does make sub insecure.
 */
/* The zone's SOA RDATA, minimum min: its length (64 bytes of room). */
static size_t
hz_soa(uint8_t *soa, uint32_t min)
{
	uint8_t n[DNS_MAX_NAME];
	size_t sl, l;

	l = dnsmsg_name_from_text("ns.example.", n, sizeof(n));
	memcpy(soa, n, l);
	sl = l;
	l = dnsmsg_name_from_text("host.example.", n, sizeof(n));
	memcpy(soa + sl, n, l);
	sl += l;
	memset(soa + sl, 0, 20);
	soa[sl + 16] = min >> 24;
	soa[sl + 17] = (min >> 16) & 0xff;
	soa[sl + 18] = (min >> 8) & 0xff;
	soa[sl + 19] = min & 0xff;
	return sl + 20;
}

static void
hz_trace(const char *line, void *arg)
{
	(void)arg;
	printf("hz: %s\n", line);
}

static void
test_nsec3_ds_wildcard(void)
{
	static struct hz_msg ds, ans;
	struct validator *v;
	struct val_verdict vd;
	uint8_t soa[64];
	size_t sl;

	sl = hz_soa(soa, 60);
	hz_start(&ds, "foo.example.", DNS_TYPE_DS, DNS_RCODE_NOERROR);
	ds.sec = DNS_SEC_AUTHORITY;
	hz_text(&ds, "example.", DNS_TYPE_SOA, 300, soa, sl, 1);
	hz_nsec3(&ds, hz_wild, 2, 0, 0, 300);
	hz_start(&ans, "foo.example.", DNS_TYPE_A, DNS_RCODE_NOERROR);
	hz_text(&ans, "foo.example.", DNS_TYPE_A, 300, evil_a, 4, 0);
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	validator_set_trace(v, hz_trace, NULL);
	hz_drive(v, "foo.example.", DNS_TYPE_A, &ans, &ds, VALIDATOR_BUDGET,
	    &vd);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 10);
	validator_free(v);
	/* sub.example.: its own NSEC3, NS and no DS: insecure */
	hz_start(&ds, "sub.example.", DNS_TYPE_DS, DNS_RCODE_NOERROR);
	ds.sec = DNS_SEC_AUTHORITY;
	hz_text(&ds, "example.", DNS_TYPE_SOA, 300, soa, sl, 1);
	hz_nsec3(&ds, hz_wild, 3, 0, 0, 300);
	hz_start(&ans, "www.sub.example.", DNS_TYPE_A, DNS_RCODE_NOERROR);
	hz_text(&ans, "www.sub.example.", DNS_TYPE_A, 300, evil_a, 4, 0);
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	hz_drive(v, "www.sub.example.", DNS_TYPE_A, &ans, &ds,
	    VALIDATOR_BUDGET, &vd);
	CHECK_EQ(vd.state, VAL_INSECURE);
	validator_free(v);
}


/*
 * Finding 3: what a DS denial teaches lives no longer than its signed
 * records say: not the unsigned SOA's TTL beside it, not an NSEC3 TTL
 * above its RRSIG's original TTL.
 */
static void
test_learned_ttl(void)
{
	static struct hz_msg ds, ans;
	struct validator *v;
	struct val_verdict vd;
	uint8_t soa[64];
	size_t sl = hz_soa(soa, 1000000);

	/* DS needs counted: the keys' own TTL does not matter here */
	hz_start(&ans, "foo.example.", DNS_TYPE_A, DNS_RCODE_NOERROR);
	hz_text(&ans, "foo.example.", DNS_TYPE_A, 300, evil_a, 4, 0);
	/* an unsigned SOA of TTL 1000000 beside NSEC3 of TTL 300 */
	hz_start(&ds, "foo.example.", DNS_TYPE_DS, DNS_RCODE_NOERROR);
	ds.sec = DNS_SEC_AUTHORITY;
	hz_text(&ds, "example.", DNS_TYPE_SOA, 1000000, soa, sl, 0);
	hz_nsec3(&ds, hz_wild, 2, 0, 0, 300);
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	CHECK_EQ(hz_drive_at(v, "foo.example.", DNS_TYPE_A, &ans, &ds, VV_NOW,
	    &vd), 1);
	CHECK_EQ(hz_drive_at(v, "foo.example.", DNS_TYPE_A, &ans, &ds,
	    VV_NOW + 299, &vd), 0);
	CHECK_EQ(hz_drive_at(v, "foo.example.", DNS_TYPE_A, &ans, &ds,
	    VV_NOW + 301, &vd), 1);
	validator_free(v);
	/* NSEC3 of TTL 100000 whose RRSIGs say 600 */
	hz_start(&ds, "foo.example.", DNS_TYPE_DS, DNS_RCODE_NOERROR);
	ds.sec = DNS_SEC_AUTHORITY;
	hz_ottl = 600;
	hz_nsec3(&ds, hz_wild, 2, 0, 0, 100000);
	hz_ottl = 0;
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	CHECK_EQ(hz_drive_at(v, "foo.example.", DNS_TYPE_A, &ans, &ds, VV_NOW,
	    &vd), 1);
	CHECK_EQ(hz_drive_at(v, "foo.example.", DNS_TYPE_A, &ans, &ds,
	    VV_NOW + 601, &vd), 1);
	validator_free(v);
}

/*
 * Finding 11: a DS set with a SHA-1 digest that matches the key and a
 * SHA-256 one that does not: the SHA-1 one is ignored (RFC 4509 3), so
 * the keys are not proved (EDE 9); it was secure.  The SHA-1 digest
 * alone still proves them (RFC 8624 3.3).
 */
static void
test_sha1_ds_ignored(void)
{
	static struct hz_msg ans;
	struct dnssec_anchor ds[2];
	struct validator *v;
	struct val_verdict vd;
	uint8_t data[DNS_MAX_NAME + sizeof(hz_dnskey)];
	unsigned int dl;
	size_t n, i;

	n = hz_anchor.owner_len;
	memcpy(data, hz_anchor.owner, n);
	memcpy(data + n, hz_dnskey, sizeof(hz_dnskey));
	n += sizeof(hz_dnskey);
	for (i = 0; i < 2; i++) {
		memset(&ds[i], 0, sizeof(ds[i]));
		memcpy(ds[i].owner, hz_anchor.owner, hz_anchor.owner_len);
		ds[i].owner_len = hz_anchor.owner_len;
		ds[i].type = DNS_TYPE_DS;
		ds[i].tag = hz_tag;
		ds[i].algorithm = DNSSEC_ALG_ED25519;
		ds[i].rdata[0] = hz_tag >> 8;
		ds[i].rdata[1] = hz_tag & 0xff;
		ds[i].rdata[2] = DNSSEC_ALG_ED25519;
		ds[i].rdata[3] = i == 0 ? DNSSEC_DIGEST_SHA1 :
		    DNSSEC_DIGEST_SHA256;
		CHECK(EVP_Digest(data, n, ds[i].rdata + 4, &dl, i == 0 ?
		    EVP_sha1() : EVP_sha256(), NULL) == 1);
		ds[i].rdlen = (uint16_t)(4 + dl);
	}
	ds[1].rdata[ds[1].rdlen - 1] ^= 0x01;	/* SHA-256: another key */
	hz_start(&ans, "www.example.", DNS_TYPE_A, DNS_RCODE_NOERROR);
	hz_text(&ans, "www.example.", DNS_TYPE_A, 300, evil_a, 4, 1);
	v = validator_new(ds, 2, NULL, NULL, 0, 100);
	hz_drive(v, "www.example.", DNS_TYPE_A, &ans, NULL, VALIDATOR_BUDGET,
	    &vd);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 9);
	validator_free(v);
	v = validator_new(ds, 1, NULL, NULL, 0, 100);
	hz_drive(v, "www.example.", DNS_TYPE_A, &ans, NULL, VALIDATOR_BUDGET,
	    &vd);
	CHECK_EQ(vd.state, VAL_SECURE);
	validator_free(v);
}

/*
 * Finding 6: NSEC3 iterations above 50 are insecure (RFC 9276, BIND
 * after CVE-2023-50868; the limit was 150), and the hashing of a proof
 * is charged to the answer's budget.
 */
static void
test_nsec3_cost(void)
{
	static const struct hz_name zn[] = {
		{ "example.", HZ_BM_APEX, 9 },
		{ "a.example.", HZ_BM_A, 8 },
	};
	static struct hz_msg ans;
	const char *q = "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.x."
	    "example.";
	const struct validator_stats *st;
	struct validator *v;
	struct val_verdict vd;
	uint8_t soa[64];
	size_t sl = hz_soa(soa, 300);
	uint16_t it;

	for (it = 50; it <= 51; it++) {
		hz_start(&ans, q, DNS_TYPE_A, DNS_RCODE_NXDOMAIN);
		ans.sec = DNS_SEC_AUTHORITY;
		hz_text(&ans, "example.", DNS_TYPE_SOA, 300, soa, sl, 1);
		hz_nsec3(&ans, zn, 2, 0, it, 300);
		v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
		st = validator_stats(v);
		CHECK_EQ(hz_drive_at(v, q, DNS_TYPE_A, &ans, NULL, VV_NOW,
		    &vd), 0);
		if (it == 50) {
			CHECK_EQ(vd.state, VAL_SECURE);
			/* 20 names, the zone, the wildcard: 51 runs each */
			CHECK_EQ(st->nsec3_hashes, 22 * 51);
		} else {
			CHECK_EQ(vd.state, VAL_INSECURE);
			CHECK_EQ(st->nsec3_hashes, 0);
		}
		validator_free(v);
	}
	/* 22 * 51 SHA-1 runs are charged as 9 checks */
	hz_start(&ans, q, DNS_TYPE_A, DNS_RCODE_NXDOMAIN);
	ans.sec = DNS_SEC_AUTHORITY;
	hz_text(&ans, "example.", DNS_TYPE_SOA, 300, soa, sl, 1);
	hz_nsec3(&ans, zn, 2, 0, 50, 300);
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	{
		struct dns_query_info qi;
		struct val_need nd;
		static struct hz_msg keys;
		unsigned b = VALIDATOR_BUDGET;

		memset(&qi, 0, sizeof(qi));
		qi.qname_len = dnsmsg_name_from_text(q, qi.qname,
		    sizeof(qi.qname));
		qi.qtype = DNS_TYPE_A;
		qi.qclass = DNS_CLASS_IN;
		hz_dnskey_answer(&keys);
		CHECK_EQ(validator_check(v, &qi, ans.buf, ans.len, VV_NOW, &b,
		    &vd, &nd), VAL_NEED);
		validator_learn(v, &nd, keys.buf, keys.len, VV_NOW, &b);
		b = VALIDATOR_BUDGET;
		CHECK_EQ(validator_check(v, &qi, ans.buf, ans.len, VV_NOW, &b,
		    &vd, &nd), VAL_DONE);
		CHECK_EQ(vd.state, VAL_SECURE);
		/* SOA and two NSEC3 sets: 3 checks, and 9 for hashing */
		CHECK_EQ(b, VALIDATOR_BUDGET - 3 - 9);
	}
	validator_free(v);
}

/*
 * A parent-side record used for a name below the cut: the NSEC or
 * NSEC3 of sub.example. (NS, no SOA) in example. cannot deny
 * www.sub.example. (RFC 6840 4.1, RFC 5155 8.3): a forged NXDOMAIN made
 * of example.'s real signed records is bogus.
 */
static void
test_parent_side_denial(void)
{
	static struct hz_msg ans;
	static const uint8_t bm_ns[] = { 0, 6, 0x20, 0, 0, 0, 0, 0x03 };
	struct validator *v;
	struct val_verdict vd;
	uint8_t soa[64], rd[DNS_MAX_NAME + 8], n[DNS_MAX_NAME];
	size_t sl = hz_soa(soa, 300), l;

	/* NSEC3: sub.example.'s record is the closest encloser */
	hz_start(&ans, "www.sub.example.", DNS_TYPE_A, DNS_RCODE_NXDOMAIN);
	ans.sec = DNS_SEC_AUTHORITY;
	hz_text(&ans, "example.", DNS_TYPE_SOA, 300, soa, sl, 1);
	hz_nsec3(&ans, hz_wild + 1, 2, 0, 0, 300);	/* *.example, sub */
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	CHECK_EQ(hz_drive_at(v, "www.sub.example.", DNS_TYPE_A, &ans, NULL,
	    VV_NOW, &vd), 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 12);
	validator_free(v);
	/* NSEC: "sub.example. NSEC zz.example. NS RRSIG NSEC" covers it */
	l = dnsmsg_name_from_text("zz.example.", n, sizeof(n));
	memcpy(rd, n, l);
	memcpy(rd + l, bm_ns, sizeof(bm_ns));
	hz_start(&ans, "www.sub.example.", DNS_TYPE_A, DNS_RCODE_NXDOMAIN);
	ans.sec = DNS_SEC_AUTHORITY;
	hz_text(&ans, "example.", DNS_TYPE_SOA, 300, soa, sl, 1);
	hz_text(&ans, "sub.example.", DNS_TYPE_NSEC, 300, rd,
	    l + sizeof(bm_ns), 1);
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	CHECK_EQ(hz_drive_at(v, "www.sub.example.", DNS_TYPE_A, &ans, NULL,
	    VV_NOW, &vd), 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 12);
	validator_free(v);
}

/* msg's question type set to t (the answer's records unchanged). */
static void
set_qtype(uint8_t *msg, size_t len, uint16_t t)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	size_t off;

	dnsmsg_rd_init(&r, msg, len);
	CHECK(dnsmsg_rd_header(&r, &h) == 0 && dnsmsg_rd_name(&r, NULL,
	    NULL) == 0);
	off = len - dnsmsg_rd_left(&r);
	msg[off] = t >> 8;
	msg[off + 1] = t & 0xff;
}

/*
 * Finding 7: an ANY question judges every RRset at the name (it was
 * bogus: no set of type ANY, no denial); an RRSIG question is insecure.
 */
static void
test_any_rrsig(void)
{
	static uint8_t buf[DNS_MAX_MSG];
	struct vv_case c = *find_case("nsec");
	struct validator *v = mk(100, NULL);
	struct val_verdict vd;
	uint8_t rd[16];
	size_t len;

	memset(rd, 0, sizeof(rd));
	memcpy(buf, c.msg, c.len);
	len = c.len;
	set_qtype(buf, len, DNS_TYPE_ANY);
	c.qtype = DNS_TYPE_ANY;
	CHECK_EQ(drive_msg(v, &c, buf, len, VV_NOW, VALIDATOR_BUDGET, &vd), 5);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK_EQ(vd.ede, -1);
	/* a second set at the name, unsigned: all must verify */
	CHECK_EQ(add_rr(buf, &len, DNS_SEC_ANSWER, "www.nsec.test", 28, rd,
	    16), 0);
	CHECK(drive_msg(v, &c, buf, len, VV_NOW, VALIDATOR_BUDGET, &vd) >= 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 10);
	/* the A changed */
	memcpy(buf, c.msg, c.len);
	set_qtype(buf, c.len, DNS_TYPE_ANY);
	CHECK(last_rdata_byte(buf, c.len, DNS_SEC_ANSWER, DNS_TYPE_A, 0x40) >
	    0);
	CHECK_EQ(drive_msg(v, &c, buf, c.len, VV_NOW, VALIDATOR_BUDGET, &vd),
	    0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	/* an RRSIG question: insecure, no EDE, nothing checked */
	memcpy(buf, c.msg, c.len);
	set_qtype(buf, c.len, DNS_TYPE_RRSIG);
	c.qtype = DNS_TYPE_RRSIG;
	CHECK_EQ(drive_msg(v, &c, buf, c.len, VV_NOW, VALIDATOR_BUDGET, &vd),
	    0);
	CHECK_EQ(vd.state, VAL_INSECURE);
	CHECK_EQ(vd.ede, -1);
	validator_free(v);
}

/* Every record of type t in msg's answer section made type 65280. */
static int
retype(uint8_t *msg, size_t len, uint16_t t)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	int i, n = 0;

	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) != 0 || dnsmsg_rd_name(&r, NULL,
	    NULL) != 0 || dnsmsg_rd_skip(&r, 4) != 0)
		return 0;
	for (i = 0; i < h.count[DNS_SEC_ANSWER]; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) != 0)
			return n;
		if (rr.type == t) {
			msg[rr.rdata.off - 10] = 0xff;
			msg[rr.rdata.off - 9] = 0x00;
			n++;
		}
	}
	return n;
}

/*
 * An upstream that strips RRSIGs: the root's DNSKEY set comes unsigned,
 * bogus with EDE 10 and a why that names the upstream.
 */
static void
test_stripping_upstream(void)
{
	static uint8_t buf[DNS_MAX_MSG];
	const struct vv_case *c = find_case("nsec");
	struct validator *v = mk(100, NULL);
	struct dns_query_info qi;
	struct val_verdict vd;
	struct val_need nd;
	const struct vv_answer *a;
	unsigned budget = VALIDATOR_BUDGET;

	qi_of(c, &qi);
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget, &vd,
	    &nd), VAL_NEED);
	CHECK((a = find_answer(&nd)) != NULL);
	memcpy(buf, a->msg, a->len);
	CHECK(retype(buf, a->len, DNS_TYPE_RRSIG) > 0);
	validator_learn(v, &nd, buf, a->len, VV_NOW, &budget);
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget, &vd,
	    &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 10);
	CHECK(strstr(vd.why, "strip") != NULL);
	CHECK_EQ(vd.zone_len, 1);
	validator_free(v);
}

/* A tampered chain answer: the DNSKEY set of nsec.test. */
static void
test_tampered_chain(void)
{
	static uint8_t buf[DNS_MAX_MSG];
	const struct vv_case *c = find_case("nsec");
	struct validator *v = mk(100, NULL);
	struct dns_query_info qi;
	struct val_verdict vd;
	struct val_need nd;
	const struct vv_answer *a;
	unsigned budget = VALIDATOR_BUDGET;
	size_t off;
	int i;

	qi_of(c, &qi);
	for (i = 0; i < VALIDATOR_MAX_NEEDS; i++) {
		if (validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget,
		    &vd, &nd) == VAL_DONE)
			break;
		if ((a = find_answer(&nd)) == NULL)
			break;
		memcpy(buf, a->msg, a->len);
		if (nd.type == DNS_TYPE_DNSKEY && nd.name_len > 6) {
			/* every RRSIG: the KSK's and the ZSK's */
			off = last_rdata_byte(buf, a->len, DNS_SEC_ANSWER,
			    DNS_TYPE_RRSIG, 0x01);
			CHECK(off > 0);
		}
		validator_learn(v, &nd, buf, a->len, VV_NOW, &budget);
	}
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	validator_free(v);
}

/* The store holds max_entries, the least recently used out. */
static void
test_store_bound(void)
{
	struct validator *v = mk(3, NULL);
	struct val_verdict vd;
	const struct validator_stats *st = validator_stats(v);
	size_t i;

	/* ., test., nsec.test. */
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 5);
	CHECK_EQ(st->entries, 3);
	CHECK_EQ(st->evictions, 0);
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 0);
	/* ed25519.test. pushes out the least recently used: the root */
	CHECK_EQ(drive(v, find_case("ed25519"), VV_NOW, &vd), 2);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK_EQ(st->entries, 3);
	CHECK_EQ(st->evictions, 1);
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 0);
	CHECK_EQ(drive(v, find_case("ed25519"), VV_NOW, &vd), 0);
	CHECK_EQ(drive(v, find_case("root-dnskey"), VV_NOW, &vd), 1);
	CHECK_EQ(vd.state, VAL_SECURE);
	/* many cases through a small store: never over the bound */
	for (i = 0; i < sizeof(vv_cases) / sizeof(vv_cases[0]); i++) {
		drive(v, &vv_cases[i], VV_NOW, &vd);
		CHECK(st->entries <= 3);
	}
	CHECK(st->evictions > 5);
	validator_free(v);
	CHECK(mk(0, NULL) == NULL);
}

/* The budget of signature checks, and many broken RRSIGs (KeyTrap). */
static void
test_budget(void)
{
	const struct vv_case *c = find_case("nsec");
	struct validator *v = mk(100, NULL);
	const struct validator_stats *st = validator_stats(v);
	struct dns_query_info qi;
	struct val_verdict vd;
	struct val_need nd;
	const struct vv_answer *a;
	unsigned budget;
	uint64_t before;
	int i;

	/* one check: enough for the root's keys, not for the rest */
	CHECK(drive_msg(v, c, c->msg, c->len, VV_NOW, 1, &vd) > 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK(strstr(vd.why, "budget") != NULL);
	CHECK_EQ(st->sig_checks, 1);
	validator_free(v);

	/*
	 * A query whose budget is spent when its need's answer comes: the
	 * learn checks with its own allowance, so what it stores is not
	 * bogus for the next query (it was, VALIDATOR_NOANSWER_TTL long).
	 */
	v = mk(100, NULL);
	st = validator_stats(v);
	qi_of(c, &qi);
	budget = VALIDATOR_BUDGET;
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget, &vd,
	    &nd), VAL_NEED);
	CHECK_EQ(nd.type, DNS_TYPE_DNSKEY);
	CHECK((a = find_answer(&nd)) != NULL);
	budget = 0;
	validator_learn(v, &nd, a->msg, a->len, VV_NOW, &budget);
	CHECK_EQ(budget, 0);
	CHECK_EQ(st->learned[VAL_BOGUS], 0);
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget, &vd,
	    &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_BOGUS);		/* that query's own */
	CHECK_EQ(drive(v, find_case("nsec3"), VV_NOW, &vd), 4);
	CHECK_EQ(vd.state, VAL_SECURE);
	/* a learn's cost is charged to the caller */
	budget = 5;
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget, &vd,
	    &nd), VAL_NEED);
	CHECK((a = find_answer(&nd)) != NULL);
	before = st->sig_checks;
	validator_learn(v, &nd, a->msg, a->len, VV_NOW, &budget);
	CHECK(st->sig_checks > before);
	CHECK_EQ(budget, 5 - (st->sig_checks - before));
	validator_free(v);

	/* nsec.test.'s DNSKEY answer with 8 broken RRSIGs by its KSK */
	for (budget = 3; budget <= VALIDATOR_BUDGET; budget += 61) {
		unsigned b = VALIDATOR_BUDGET;

		v = mk(100, NULL);
		st = validator_stats(v);
		qi_of(c, &qi);
		for (i = 0; i < VALIDATOR_MAX_NEEDS; i++) {
			CHECK_EQ(validator_check(v, &qi, c->msg, c->len,
			    VV_NOW, &b, &vd, &nd), VAL_NEED);
			if (nd.type == DNS_TYPE_DNSKEY && nd.name_len > 6)
				break;
			a = find_answer(&nd);
			validator_learn(v, &nd, a->msg, a->len, VV_NOW, &b);
		}
		before = st->sig_checks;
		b = budget;
		validator_learn(v, &nd, vv_keytrap, sizeof(vv_keytrap),
		    VV_NOW, &b);
		/* the learn's own allowance, charged to the caller */
		CHECK(st->sig_checks - before <= VALIDATOR_LEARN_BUDGET);
		CHECK(st->sig_checks - before <= DNSSEC_MAX_SIGS);
		CHECK(st->sig_checks - before >= 3);
		CHECK_EQ(b, st->sig_checks - before < budget ?
		    budget - (st->sig_checks - before) : 0);
		b = VALIDATOR_BUDGET;
		CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &b,
		    &vd, &nd), VAL_DONE);
		CHECK_EQ(vd.state, VAL_BOGUS);
		CHECK_EQ(vd.ede, 6);
		validator_free(v);
	}
}

static void
test_nta(void)
{
	struct validator *v;
	struct val_verdict vd;

	v = mk(100, "changed.test");
	CHECK(v != NULL);
	CHECK(drive(v, find_case("changed"), VV_NOW, &vd) >= 0);
	CHECK_EQ(vd.state, VAL_INSECURE);
	CHECK_EQ(vd.ede, -1);
	CHECK(strstr(vd.why, "negative trust anchor") != NULL);
	CHECK(drive(v, find_case("nsec"), VV_NOW, &vd) > 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	validator_free(v);
	/* above the whole lab: nothing is asked */
	v = mk(100, "TEST.");
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 0);
	CHECK_EQ(vd.state, VAL_INSECURE);
	CHECK_EQ(drive(v, find_case("forged-nxdomain"), VV_NOW, &vd), 0);
	CHECK_EQ(vd.state, VAL_INSECURE);
	validator_free(v);
	/* no anchor at all: insecure */
	v = validator_new(NULL, 0, NULL, NULL, 0, 10);
	CHECK(v != NULL);
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 0);
	CHECK_EQ(vd.state, VAL_INSECURE);
	validator_free(v);
}

/* A clock 60 years ahead: every signature expired, the why says so. */
static void
test_clock(void)
{
	struct validator *v = mk(100, NULL);
	const struct validator_stats *st = validator_stats(v);
	struct val_verdict vd;
	uint32_t now = VV_NOW + 60u * 366 * 86400;
	int i;

	for (i = 0; i < 12; i++) {
		validator_flush(v);
		CHECK(drive(v, find_case("nsec"), now + (uint32_t)i, &vd) > 0);
		CHECK_EQ(vd.state, VAL_BOGUS);
		CHECK_EQ(vd.ede, 7);
	}
	CHECK_EQ(st->clock_suspect, 1);
	CHECK(strstr(vd.why, "clock may be wrong") != NULL);
	fprintf(stderr, "wrong clock: %s\n", vd.why);
	/* a good clock later: no suspicion in the why */
	validator_flush(v);
	CHECK(drive(v, find_case("expired"), VV_NOW, &vd) > 0);
	CHECK_EQ(vd.ede, 7);
	CHECK(strstr(vd.why, "clock") == NULL);
	validator_free(v);
}

/* m: name's A record signed by the zone's key, the window from..to. */
static void
hz_a_signed(struct hz_msg *m, const char *name, uint32_t from, uint32_t to)
{
	static const uint8_t a[4] = { 192, 0, 2, 1 };
	uint8_t o[DNS_MAX_NAME];
	size_t olen = dnsmsg_name_from_text(name, o, sizeof(o));
	uint32_t inception = hz_inception;

	hz_inception = from;
	hz_start(m, name, DNS_TYPE_A, DNS_RCODE_NOERROR);
	hz_signed(m, o, olen, DNS_TYPE_A, 300, a, 4, 300, to);
	hz_inception = inception;
}

/*
 * A clock a year behind: the anchor's DNSKEY set signed after it puts
 * the clock in doubt, and the zone's other signatures (its key here
 * signs all) say the time, which signatures are then checked at.  One
 * that expired before it is bogus, and so is one whose window is upside
 * down.  With the clock right, a DNSKEY set signed a month ahead (as key
 * ceremonies do) passes, and the zone's next set, signed as it goes,
 * ends the doubt: after it, one signed tomorrow is not yet valid and
 * moves nothing.  A forged signature moves nothing either.
 */
static void
test_clock_behind(void)
{
	struct validator *v = validator_new(&hz_anchor, 1, NULL, NULL, 0,
	    100);
	const struct validator_stats *st = validator_stats(v);
	uint32_t behind = VV_NOW - 366u * 86400;
	struct hz_msg www, old, upside, soon, forged;
	struct val_verdict vd;

	hz_a_signed(&www, "www.example.", HZ_INCEPTION, HZ_EXPIRATION);
	hz_a_signed(&old, "old.example.", HZ_INCEPTION - 30 * 86400,
	    HZ_INCEPTION - 1);
	hz_a_signed(&upside, "upside.example.", VV_NOW + 10 * 86400,
	    VV_NOW + 5 * 86400);
	hz_a_signed(&soon, "soon.example.", VV_NOW + 86400,
	    VV_NOW + 40 * 86400);
	forged = www;
	forged.buf[forged.len - 1] ^= 0x01;	/* the RRSIG's last byte */

	CHECK(hz_drive_at(v, "www.example.", DNS_TYPE_A, &www, NULL, behind,
	    &vd) >= 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK_EQ(st->clock_behind, 1);
	CHECK_EQ(st->anchor_time, HZ_INCEPTION);
	CHECK_EQ(st->early_sigs, 2);
	CHECK_EQ(st->clock_suspect, 0);
	/* expired a second before the anchor's zone signed */
	CHECK(hz_drive_at(v, "old.example.", DNS_TYPE_A, &old, NULL, behind,
	    &vd) >= 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 7);
	CHECK(hz_drive_at(v, "upside.example.", DNS_TYPE_A, &upside, NULL,
	    behind, &vd) >= 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(st->anchor_time, HZ_INCEPTION);
	/* the clock set */
	CHECK(hz_drive_at(v, "www.example.", DNS_TYPE_A, &www, NULL, VV_NOW,
	    &vd) >= 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK_EQ(st->clock_behind, 0);
	CHECK_EQ(st->early_sigs, 2);
	validator_free(v);

	/* The clock right, the DNSKEY set signed a month ahead */
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	st = validator_stats(v);
	hz_keys_inception = VV_NOW + 30 * 86400;
	hz_keys_expiration = VV_NOW + 60 * 86400;
	CHECK(hz_drive_at(v, "www.example.", DNS_TYPE_A, &www, NULL, VV_NOW,
	    &vd) >= 0);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK_EQ(st->anchor_time, HZ_INCEPTION);
	CHECK(hz_drive_at(v, "soon.example.", DNS_TYPE_A, &soon, NULL,
	    VV_NOW, &vd) >= 0);
	hz_keys_inception = HZ_INCEPTION;
	hz_keys_expiration = HZ_EXPIRATION;
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 8);
	CHECK_EQ(st->clock_behind, 0);
	CHECK_EQ(st->anchor_time, HZ_INCEPTION);
	CHECK_EQ(st->early_sigs, 1);
	validator_free(v);

	/* Behind, a forged signature of the zone's moves nothing */
	v = validator_new(&hz_anchor, 1, NULL, NULL, 0, 100);
	st = validator_stats(v);
	CHECK(hz_drive_at(v, "www.example.", DNS_TYPE_A, &forged, NULL,
	    behind, &vd) >= 0);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 6);
	CHECK_EQ(st->clock_behind, 0);
	CHECK_EQ(st->anchor_time, 0);
	validator_free(v);
}

static int trace_lines, trace_dnskey;

static void
trace_cb(const char *line, void *arg)
{
	CHECK(arg == &trace_lines);
	printf("trace: %s\n", line);
	trace_lines++;
	if (strstr(line, "nsec.test. DNSKEY") != NULL)
		trace_dnskey++;
}

static void
test_trace(void)
{
	struct validator *v = mk(100, NULL);
	struct val_verdict vd;

	validator_set_trace(v, trace_cb, &trace_lines);
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 5);
	CHECK(trace_lines >= 6);
	CHECK(trace_dnskey >= 1);
	validator_set_trace(v, NULL, NULL);
	trace_lines = 0;
	drive(v, find_case("nsec"), VV_NOW, &vd);
	CHECK_EQ(trace_lines, 0);
	validator_free(v);
}

/* The anchor as a DNSKEY; a wrong one; one nobody can check. */
static void
test_anchor_forms(void)
{
	struct dnssec_anchor key[2];
	struct validator *v;
	struct val_verdict vd;
	size_t n;

	CHECK_EQ(dnssec_anchor_parse(vv_anchor_key, strlen(vv_anchor_key),
	    key, 2, &n, NULL, 0), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(key[0].type, DNS_TYPE_DNSKEY);
	v = validator_new(key, 1, NULL, NULL, 0, 100);
	CHECK_EQ(drive(v, find_case("nsec3-nxdomain"), VV_NOW, &vd), 5);
	CHECK_EQ(vd.state, VAL_SECURE);
	validator_free(v);
	/* another key: the root's DNSKEY set matches nothing */
	key[0].rdata[key[0].rdlen - 1] ^= 0x01;
	v = validator_new(key, 1, NULL, NULL, 0, 100);
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 1);
	CHECK_EQ(vd.state, VAL_BOGUS);
	CHECK_EQ(vd.ede, 9);
	validator_free(v);
	/* a DS anchor of RSA/SHA-1 (5): nothing can be checked, insecure */
	memcpy(&key[0], &anchors[0], sizeof(key[0]));
	key[0].rdata[2] = 5;
	key[0].algorithm = 5;
	v = validator_new(key, 1, NULL, NULL, 0, 100);
	CHECK_EQ(drive(v, find_case("nsec"), VV_NOW, &vd), 1);
	CHECK_EQ(vd.state, VAL_INSECURE);
	CHECK_EQ(vd.ede, 1);
	validator_free(v);
}

/* Other classes and error rcodes are not judged. */
static void
test_not_judged(void)
{
	static uint8_t buf[DNS_MAX_MSG];
	const struct vv_case *c = find_case("nsec");
	struct validator *v = mk(10, NULL);
	struct dns_query_info qi;
	struct val_verdict vd;
	struct val_need nd;
	unsigned budget = VALIDATOR_BUDGET;
	size_t len;

	qi_of(c, &qi);
	memcpy(buf, c->msg, c->len);
	buf[3] = (buf[3] & 0xf0) | DNS_RCODE_SERVFAIL;
	CHECK_EQ(validator_check(v, &qi, buf, c->len, VV_NOW, &budget, &vd,
	    &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_INSECURE);
	CHECK_EQ(vd.ede, -1);
	CHECK(vd.flags & VAL_F_BARE);
	/* a REFUSED answer with records of its own: to be sent bare */
	len = c->len;
	buf[3] = (buf[3] & 0xf0) | 5;	/* REFUSED */
	CHECK_EQ(add_rr(buf, &len, DNS_SEC_ANSWER, "evil.example",
	    DNS_TYPE_A, evil_a, 4), 0);
	CHECK_EQ(validator_check(v, &qi, buf, len, VV_NOW, &budget, &vd,
	    &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_INSECURE);
	CHECK(vd.flags & VAL_F_BARE);
	/* answers judged never carry it */
	CHECK_EQ(drive(v, c, VV_NOW, &vd), 5);
	CHECK_EQ(vd.state, VAL_SECURE);
	CHECK_EQ(vd.flags, 0);
	CHECK(drive(v, find_case("unsigned"), VV_NOW, &vd) >= 0);
	CHECK_EQ(vd.state, VAL_INSECURE);
	CHECK_EQ(vd.flags, 0);
	validator_free(v);
	v = mk(10, NULL);
	qi.qclass = 3;
	CHECK_EQ(validator_check(v, &qi, c->msg, c->len, VV_NOW, &budget,
	    &vd, &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_INSECURE);
	CHECK_EQ(validator_stats(v)->sig_checks, 0);
	validator_free(v);
}

int
main(void)
{
	char err[256];

	if (dnssec_anchor_parse(vv_anchor, strlen(vv_anchor), anchors,
	    sizeof(anchors) / sizeof(anchors[0]), &nanchors, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "anchor: %s\n", err);
		return 1;
	}
	CHECK_EQ(nanchors, 1);
	CHECK_STR(val_state_names[VAL_BOGUS], "bogus");
	hz_init();
	test_cases();
	test_warm();
	test_no_answer();
	test_tampered();
	test_extra_rrsets();
	test_dname_synth();
	test_nsec3_ds_wildcard();
	test_learned_ttl();
	test_any_rrsig();
	test_sha1_ds_ignored();
	test_nsec3_cost();
	test_parent_side_denial();
	test_tampered_chain();
	test_stripping_upstream();
	test_store_bound();
	test_budget();
	test_nta();
	test_clock();
	test_clock_behind();
	test_trace();
	test_not_judged();
	test_anchor_forms();
	return check_summary();
}
