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
#include "dohstub/dnssec.h"
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
		CHECK(vd.why != NULL);
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
		CHECK(st->sig_checks - before <= budget);
		CHECK(st->sig_checks - before <= DNSSEC_MAX_SIGS);
		CHECK(st->sig_checks - before >= 3);
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

	qi_of(c, &qi);
	memcpy(buf, c->msg, c->len);
	buf[3] = (buf[3] & 0xf0) | DNS_RCODE_SERVFAIL;
	CHECK_EQ(validator_check(v, &qi, buf, c->len, VV_NOW, &budget, &vd,
	    &nd), VAL_DONE);
	CHECK_EQ(vd.state, VAL_INSECURE);
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
	test_cases();
	test_warm();
	test_no_answer();
	test_tampered();
	test_extra_rrsets();
	test_dname_synth();
	test_tampered_chain();
	test_stripping_upstream();
	test_store_bound();
	test_budget();
	test_nta();
	test_clock();
	test_trace();
	test_not_judged();
	test_anchor_forms();
	return check_summary();
}
