/*
 * Unit tests for dnssec: RRsets signed by bind9-utils for algorithms 8,
 * 10, 13, 14, 15 and 16 (tests/dnssec_vectors.h, made by
 * tests/make_dnssec_vectors.py) verified from a message as a server sends
 * it, then broken one way at a time; key tags against dnssec-keygen's,
 * DS digests against dnssec-dsfromkey's and RFC 4034 5.4's example; the
 * examples of RFC 5702, 6605 and 8080; the root's built-in anchors
 * against the root's KSKs; canonical RDATA, the time window across the
 * 32-bit wrap, the collector's limits and the trust-anchor parser's
 * errors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"
#include "check.h"
#include "wire.h"
#include "dnssec_vectors.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define T_A	1
#define T_MX	15
#define T_TXT	16
#define T_SRV	33

/* 2027-01-15: inside every vector's window (2020 to 2085). */
#define NOW	1800000000u

static struct dnssec_sets sets;

static size_t
wire(const char *text, uint8_t *out)
{
	size_t n = dnsmsg_name_from_text(text, out, DNS_MAX_NAME);

	if (n == 0)
		abort();
	return n;
}

/* The DNSKEY of the set keys whose tag is tag, or -1. */
static int
key_by_tag(const struct dnssec_rrset *keys, uint16_t tag)
{
	size_t i;

	for (i = 0; i < keys->n; i++)
		if (dnssec_key_tag(keys->rdata[i], keys->rdlen[i]) == tag)
			return (int)i;
	return -1;
}

/* Verify signature i of set with the key of its tag from keys. */
static enum dnssec_result
verify_with(const struct dnssec_rrset *set, size_t i,
    const struct dnssec_rrset *keys, uint32_t now)
{
	struct dnssec_rrsig rs;
	int k;

	if (dnssec_rrsig_parse(set->sig[i], set->siglen[i], &rs) !=
	    DNSSEC_OK || (k = key_by_tag(keys, rs.key_tag)) == -1)
		return DNSSEC_RESULT_MAX;
	return dnssec_verify(set, set->sig[i], set->siglen[i], keys->owner,
	    keys->owner_len, keys->rdata[k], keys->rdlen[k], now);
}

static void
test_vector_ds(const struct vector *v, const struct dnssec_rrset *keys)
{
	struct dnssec_anchor an[8];
	char err[256];
	uint8_t ds[4 + 64];
	size_t n, i;
	int ksk, zsk;

	ksk = key_by_tag(keys, v->ksk_tag);
	zsk = key_by_tag(keys, v->zsk_tag);
	CHECK(ksk != -1 && zsk != -1);
	if (ksk == -1 || zsk == -1)
		return;
	CHECK_EQ(dnssec_anchor_parse(v->anchors, strlen(v->anchors), an,
	    nitems(an), &n, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(n, 4);
	for (i = 0; i < n; i++) {
		CHECK(dnsmsg_name_equal(an[i].owner, an[i].owner_len,
		    keys->owner, keys->owner_len));
		CHECK_EQ(an[i].tag, v->ksk_tag);
		CHECK_EQ(an[i].algorithm, v->alg);
	}
	/* dnssec-dsfromkey's SHA-1, SHA-256 and SHA-384 digests. */
	for (i = 0; i < 3 && i < n; i++) {
		CHECK_EQ(an[i].type, DNS_TYPE_DS);
		CHECK_EQ(dnssec_ds_match(keys->owner, keys->owner_len,
		    an[i].rdata, an[i].rdlen, keys->rdata[ksk],
		    keys->rdlen[ksk]), DNSSEC_OK);
		CHECK_EQ(dnssec_ds_match(keys->owner, keys->owner_len,
		    an[i].rdata, an[i].rdlen, keys->rdata[zsk],
		    keys->rdlen[zsk]), DNSSEC_KEY_MISMATCH);
		memcpy(ds, an[i].rdata, an[i].rdlen);
		ds[an[i].rdlen - 1] ^= 0x01;
		CHECK_EQ(dnssec_ds_match(keys->owner, keys->owner_len, ds,
		    an[i].rdlen, keys->rdata[ksk], keys->rdlen[ksk]),
		    DNSSEC_DIGEST_MISMATCH);
		/* Another owner, same key: another digest. */
		CHECK_EQ(dnssec_ds_match((const uint8_t *)"\0", 1,
		    an[i].rdata, an[i].rdlen, keys->rdata[ksk],
		    keys->rdlen[ksk]), DNSSEC_DIGEST_MISMATCH);
		ds[an[i].rdlen - 1] ^= 0x01;
		ds[3] = 3;	/* GOST R 34.11-94 */
		CHECK_EQ(dnssec_ds_match(keys->owner, keys->owner_len, ds,
		    an[i].rdlen, keys->rdata[ksk], keys->rdlen[ksk]),
		    DNSSEC_UNSUPPORTED_DIGEST);
		ds[3] = an[i].rdata[3];
		CHECK_EQ(dnssec_ds_match(keys->owner, keys->owner_len, ds,
		    an[i].rdlen - 1, keys->rdata[ksk], keys->rdlen[ksk]),
		    DNSSEC_MALFORMED);
	}
	CHECK_EQ(an[3].type, DNS_TYPE_DNSKEY);
	CHECK(an[3].rdlen == keys->rdlen[ksk] &&
	    memcmp(an[3].rdata, keys->rdata[ksk], an[3].rdlen) == 0);
}

/* Copy of set with record or signature bytes changed, for tampering. */
static struct dnssec_rrset tset;
static uint8_t tbuf[2][4096];

static void
tamper_copy(const struct dnssec_rrset *set)
{
	tset = *set;
	memcpy(tbuf[0], set->rdata[0], set->rdlen[0]);
	tset.rdata[0] = tbuf[0];
	memcpy(tbuf[1], set->sig[0], set->siglen[0]);
	tset.sig[0] = tbuf[1];
}

static void
test_vector_tamper(const struct vector *v, const struct dnssec_rrset *a,
    const struct dnssec_rrset *keys)
{
	struct dnssec_rrsig rs;
	uint8_t key[2048], owner[DNS_MAX_NAME];
	size_t owner_len;
	uint64_t hits;
	int ksk, zsk;
	uint16_t tag;

	CHECK_EQ(dnssec_rrsig_parse(a->sig[0], a->siglen[0], &rs), DNSSEC_OK);
	ksk = key_by_tag(keys, v->ksk_tag);
	zsk = key_by_tag(keys, v->zsk_tag);
	if (ksk == -1 || zsk == -1 || rs.key_tag != v->zsk_tag) {
		CHECK(0);
		return;
	}
	/* A changed address, signature, original TTL. */
	tamper_copy(a);
	tbuf[0][3] ^= 0x01;
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_BOGUS_SIGNATURE);
	tamper_copy(a);
	tbuf[1][a->siglen[0] - 5] ^= 0x40;
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_BOGUS_SIGNATURE);
	tamper_copy(a);
	tbuf[1][7] ^= 0x01;
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_BOGUS_SIGNATURE);
	/* One record less, or another owner, type, class. */
	tamper_copy(a);
	tset.n = 1;
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_BOGUS_SIGNATURE);
	tamper_copy(a);
	tset.owner[1] = 'v';
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_BOGUS_SIGNATURE);
	tamper_copy(a);
	tset.class = 3;
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_BOGUS_SIGNATURE);
	tamper_copy(a);
	tset.type = T_TXT;
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_RRSIG_MISMATCH);
	/* Labels over the owner's; a signer not above the owner. */
	tamper_copy(a);
	tbuf[1][3] = 4;
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_RRSIG_MISMATCH);
	tamper_copy(a);
	tset.owner_len = wire("www.other.test", tset.owner);
	CHECK_EQ(verify_with(&tset, 0, keys, NOW), DNSSEC_RRSIG_MISMATCH);

	/* The key is kept: the same check again finds it; after a free,
	 * it is built again. */
	hits = dnssec_key_cache_hits();
	CHECK_EQ(verify_with(a, 0, keys, NOW), DNSSEC_OK);
	CHECK_EQ(verify_with(a, 0, keys, NOW), DNSSEC_OK);
	CHECK(dnssec_key_cache_hits() > hits);
	dnssec_key_cache_free();
	hits = dnssec_key_cache_hits();
	CHECK_EQ(verify_with(a, 0, keys, NOW), DNSSEC_OK);
	CHECK_EQ(dnssec_key_cache_hits(), hits);

	/* The time window, each end and one second past it. */
	CHECK_EQ(verify_with(a, 0, keys, rs.expiration), DNSSEC_OK);
	CHECK_EQ(verify_with(a, 0, keys, rs.inception), DNSSEC_OK);
	CHECK_EQ(verify_with(a, 0, keys, rs.expiration + 1), DNSSEC_EXPIRED);
	CHECK_EQ(verify_with(a, 0, keys, rs.inception - 1),
	    DNSSEC_NOT_YET_VALID);

	/* The wrong key, a key of another owner, flags, algorithm. */
	CHECK_EQ(dnssec_verify(a, a->sig[0], a->siglen[0], keys->owner,
	    keys->owner_len, keys->rdata[ksk], keys->rdlen[ksk], NOW),
	    DNSSEC_KEY_MISMATCH);
	owner_len = wire("www.other.test", owner);
	CHECK_EQ(dnssec_verify(a, a->sig[0], a->siglen[0], owner, owner_len,
	    keys->rdata[zsk], keys->rdlen[zsk], NOW), DNSSEC_KEY_MISMATCH);
	memcpy(key, keys->rdata[zsk], keys->rdlen[zsk]);
	CHECK_EQ(dnssec_verify(a, a->sig[0], a->siglen[0], keys->owner,
	    keys->owner_len, key, keys->rdlen[zsk], NOW), DNSSEC_OK);
	key[2] = 2;	/* protocol */
	CHECK_EQ(dnssec_verify(a, a->sig[0], a->siglen[0], keys->owner,
	    keys->owner_len, key, keys->rdlen[zsk], NOW),
	    DNSSEC_KEY_MISMATCH);
	key[2] = 3;
	key[0] = 0;	/* zone flag */
	CHECK_EQ(dnssec_verify(a, a->sig[0], a->siglen[0], keys->owner,
	    keys->owner_len, key, keys->rdlen[zsk], NOW),
	    DNSSEC_KEY_MISMATCH);
	/* Revoked, with the signature's tag made to match. */
	key[0] = 1;
	key[1] |= DNSSEC_FLAG_REVOKE;
	tamper_copy(a);
	tag = dnssec_key_tag(key, keys->rdlen[zsk]);
	tbuf[1][16] = (uint8_t)(tag >> 8);
	tbuf[1][17] = (uint8_t)tag;
	CHECK_EQ(dnssec_verify(&tset, tset.sig[0], tset.siglen[0], keys->owner,
	    keys->owner_len, key, keys->rdlen[zsk], NOW),
	    DNSSEC_KEY_MISMATCH);
	/* An algorithm not supported (5, RSA/SHA-1), in RRSIG and key. */
	memcpy(key, keys->rdata[zsk], keys->rdlen[zsk]);
	tamper_copy(a);
	tbuf[1][2] = 5;
	key[3] = 5;
	CHECK_EQ(dnssec_verify(&tset, tset.sig[0], tset.siglen[0], keys->owner,
	    keys->owner_len, key, keys->rdlen[zsk], NOW),
	    DNSSEC_UNSUPPORTED_ALGORITHM);
}

/*
 * A key the algorithm cannot use, with the RRSIG's key tag made to
 * match it so that the check reaches the key: BAD_KEY.
 */
static enum dnssec_result
verify_bad_key(const struct dnssec_rrset *a, const struct dnssec_rrset *keys,
    const uint8_t *key, size_t keylen)
{
	uint16_t tag = dnssec_key_tag(key, keylen);

	tamper_copy(a);
	tbuf[1][16] = (uint8_t)(tag >> 8);
	tbuf[1][17] = (uint8_t)tag;
	return dnssec_verify(&tset, tset.sig[0], tset.siglen[0], keys->owner,
	    keys->owner_len, key, keylen, NOW);
}

static void
test_vector_bad_keys(const struct vector *v, const struct dnssec_rrset *a,
    const struct dnssec_rrset *keys)
{
	uint8_t key[2048];
	size_t len;
	int zsk = key_by_tag(keys, v->zsk_tag);

	if (zsk == -1)
		return;
	memset(key, 0, sizeof(key));
	len = keys->rdlen[zsk];
	memcpy(key, keys->rdata[zsk], len);
	switch (v->alg) {
	case DNSSEC_ALG_RSASHA256:
	case DNSSEC_ALG_RSASHA512:
		/* Modulus cut to 1016 bits; exponent of 9 bytes; none. */
		CHECK_EQ(verify_bad_key(a, keys, key, len - 1),
		    v->alg == DNSSEC_ALG_RSASHA256 ? DNSSEC_BAD_KEY :
		    DNSSEC_BOGUS_SIGNATURE);
		CHECK_EQ(verify_bad_key(a, keys, key,
		    (size_t)5 + key[4] + 125), DNSSEC_BAD_KEY);
		key[4] = 9;
		CHECK_EQ(verify_bad_key(a, keys, key, len), DNSSEC_BAD_KEY);
		key[4] = 0;
		key[5] = 0;
		key[6] = 0;
		CHECK_EQ(verify_bad_key(a, keys, key, len), DNSSEC_BAD_KEY);
		/* An even exponent. */
		memcpy(key, keys->rdata[zsk], len);
		key[4 + key[4]] &= 0xfe;
		CHECK_EQ(verify_bad_key(a, keys, key, len), DNSSEC_BAD_KEY);
		break;
	case DNSSEC_ALG_ECDSAP256SHA256:
	case DNSSEC_ALG_ECDSAP384SHA384:
		/* y changed: off the curve; a short key. */
		key[len - 1] ^= 0x01;
		CHECK_EQ(verify_bad_key(a, keys, key, len), DNSSEC_BAD_KEY);
		CHECK_EQ(verify_bad_key(a, keys, key, len - 1),
		    DNSSEC_BAD_KEY);
		break;
	default:
		CHECK_EQ(verify_bad_key(a, keys, key, len - 1),
		    DNSSEC_BAD_KEY);
		CHECK_EQ(verify_bad_key(a, keys, key, len + 1),
		    DNSSEC_BAD_KEY);
		break;
	}
}

/* dnssec_verify_rrset() and dnssec_ttl() on the vectors' sets. */
static void
test_vector_rrset(const struct vector *v, const struct dnssec_rrset *a,
    const struct dnssec_rrset *keys)
{
	static struct dnssec_rrset many;
	struct dnssec_rrsig rs, late;
	unsigned budget;
	size_t si = 99, ki = 99, i;
	int zsk = key_by_tag(keys, v->zsk_tag);

	if (zsk == -1)
		return;
	budget = 10;
	CHECK_EQ(dnssec_verify_rrset(a, keys, NOW, 0, &budget, &si, &ki),
	    DNSSEC_OK);
	CHECK_EQ(budget, 9);
	CHECK_EQ(si, 0);
	CHECK_EQ(ki, zsk);
	budget = 0;
	CHECK_EQ(dnssec_verify_rrset(a, keys, NOW, 0, &budget, NULL, NULL),
	    DNSSEC_TOO_BIG);
	CHECK_EQ(dnssec_rrsig_parse(a->sig[0], a->siglen[0], &rs), DNSSEC_OK);
	budget = 10;
	CHECK_EQ(dnssec_verify_rrset(a, keys, rs.expiration + 1, 0, &budget,
	    NULL, NULL), DNSSEC_EXPIRED);
	CHECK_EQ(dnssec_verify_rrset(a, keys, rs.inception - 1, 0, &budget,
	    NULL, NULL), DNSSEC_NOT_YET_VALID);
	/* A clock behind: the inception passes, nothing else does. */
	CHECK_EQ(dnssec_verify_rrset(a, keys, rs.inception - 1,
	    DNSSEC_EARLY_OK, &budget, NULL, NULL), DNSSEC_OK);
	CHECK_EQ(dnssec_verify_rrset(a, keys, rs.expiration + 1,
	    DNSSEC_EARLY_OK, &budget, NULL, NULL), DNSSEC_EXPIRED);
	tamper_copy(a);
	tbuf[0][3] ^= 0x01;
	CHECK_EQ(dnssec_verify_rrset(&tset, keys, rs.inception - 1,
	    DNSSEC_EARLY_OK, &budget, NULL, NULL), DNSSEC_BOGUS_SIGNATURE);
	/* Made after: a later inception as plain numbers, whatever serial
	 * arithmetic says, and a window the right way up. */
	memset(&late, 0, sizeof(late));
	late.inception = 200;
	late.expiration = 300;
	CHECK(dnssec_made_after(&late, 199));
	CHECK(!dnssec_made_after(&late, 200));
	late.expiration = 199;
	CHECK(!dnssec_made_after(&late, 100));
	late.inception = 0x90000000u;	/* 2046, seen from 1970 */
	late.expiration = 0x90100000u;
	CHECK_EQ(dnssec_check_time(&late, 0), DNSSEC_EXPIRED);
	CHECK(dnssec_made_after(&late, 0));
	/* A clock 68 years on reads the inception as later (serial
	 * arithmetic), but the signature was not made after it. */
	CHECK_EQ(dnssec_verify_rrset(a, keys, rs.inception + 0x80000001u,
	    DNSSEC_EARLY_OK, &budget, NULL, NULL), DNSSEC_NOT_YET_VALID);
	budget = 10;
	CHECK_EQ(dnssec_verify_rrset(&tset, keys, NOW, 0, &budget, NULL, NULL),
	    DNSSEC_BOGUS_SIGNATURE);
	tset.nsigs = 0;
	CHECK_EQ(dnssec_verify_rrset(&tset, keys, NOW, 0, &budget, NULL, NULL),
	    DNSSEC_NO_SIGNATURE);
	/* Keys without the ZSK; keys of another zone. */
	many = *keys;
	many.n = 1;
	many.rdata[0] = keys->rdata[1 - zsk];
	many.rdlen[0] = keys->rdlen[1 - zsk];
	CHECK_EQ(dnssec_verify_rrset(a, &many, NOW, 0, &budget, NULL, NULL),
	    DNSSEC_KEY_MISMATCH);
	many = *keys;
	many.owner_len = wire("other.test", many.owner);
	CHECK_EQ(dnssec_verify_rrset(a, &many, NOW, 0, &budget, NULL, NULL),
	    DNSSEC_KEY_MISMATCH);
	/* Many keys of the tag: only DNSSEC_KEYS_PER_SIG are tried. */
	many = *keys;
	for (i = 0; i < 3 * DNSSEC_KEYS_PER_SIG; i++) {
		many.rdata[i] = keys->rdata[zsk];
		many.rdlen[i] = keys->rdlen[zsk];
	}
	many.n = i;
	tamper_copy(a);
	tbuf[0][3] ^= 0x01;
	budget = 100;
	CHECK_EQ(dnssec_verify_rrset(&tset, &many, NOW, 0, &budget, NULL,
	    NULL), DNSSEC_BOGUS_SIGNATURE);
	CHECK_EQ(budget, 100 - DNSSEC_KEYS_PER_SIG);

	/* The TTL to keep: set, original TTL, time left. */
	CHECK_EQ(rs.original_ttl, 3600);
	CHECK_EQ(dnssec_ttl(a->ttl, &rs, NOW), 1234);
	CHECK_EQ(dnssec_ttl(5000, &rs, NOW), 3600);
	CHECK_EQ(dnssec_ttl(5000, &rs, rs.expiration - 10), 10);
	CHECK_EQ(dnssec_ttl(5000, &rs, rs.expiration), 0);
	CHECK_EQ(dnssec_ttl(5000, &rs, rs.expiration + 1), 0);
}

static void
test_vectors(void)
{
	const struct dnssec_rrset *s, *keys, *a, *txt;
	const struct vector *v;
	struct dnssec_rrset wild;
	uint8_t zone[DNS_MAX_NAME], name[DNS_MAX_NAME];
	size_t zlen, nlen, i, j, verified;
	char text[DNS_MAX_NAME_TEXT];

	for (v = vectors; v < vectors + nitems(vectors); v++) {
		fprintf(stderr, "algorithm %d, %s\n", v->alg, v->zone);
		CHECK(dnssec_algorithm_supported((uint8_t)v->alg));
		CHECK_EQ(dnssec_collect(v->msg, v->len, DNS_SEC_ANSWER, &sets),
		    DNSSEC_OK);
		zlen = wire(v->zone, zone);
		keys = dnssec_find(&sets, zone, zlen, DNS_TYPE_DNSKEY,
		    DNS_CLASS_IN);
		snprintf(text, sizeof(text), "www.%s", v->zone);
		nlen = wire(text, name);
		a = dnssec_find(&sets, name, nlen, T_A, DNS_CLASS_IN);
		snprintf(text, sizeof(text), "foo.wild.%s", v->zone);
		nlen = wire(text, name);
		txt = dnssec_find(&sets, name, nlen, T_TXT, DNS_CLASS_IN);
		CHECK(keys != NULL && a != NULL && txt != NULL);
		if (keys == NULL || a == NULL || txt == NULL)
			continue;
		/* The owner is lowercased; the duplicate is kept here. */
		CHECK(memcmp(a->owner, "\3www", 4) == 0);
		CHECK_EQ(a->n, 3);
		CHECK_EQ(a->ttl, 1234);
		CHECK_EQ(keys->n, 2);
		CHECK(key_by_tag(keys, v->ksk_tag) != -1);
		CHECK(key_by_tag(keys, v->zsk_tag) != -1);

		/* Every signature of every set checks. */
		verified = 0;
		for (i = 0; i < sets.nsets; i++) {
			s = &sets.set[i];
			CHECK(s->nsigs > 0);
			for (j = 0; j < s->nsigs; j++) {
				CHECK_EQ(verify_with(s, j, keys, NOW),
				    DNSSEC_OK);
				verified++;
			}
		}
		/* A, MX, SOA, NS, DNSKEY, NSEC, TXT. */
		CHECK(verified >= 7);
		CHECK_EQ(sets.nsets, 7);

		/* The wildcard: any name below *.wild, none elsewhere. */
		wild = *txt;
		snprintf(text, sizeof(text), "a.b.wild.%s", v->zone);
		wild.owner_len = wire(text, wild.owner);
		CHECK_EQ(verify_with(&wild, 0, keys, NOW), DNSSEC_OK);
		snprintf(text, sizeof(text), "foo.mild.%s", v->zone);
		wild.owner_len = wire(text, wild.owner);
		CHECK_EQ(verify_with(&wild, 0, keys, NOW),
		    DNSSEC_BOGUS_SIGNATURE);
		snprintf(text, sizeof(text), "wild.%s", v->zone);
		wild.owner_len = wire(text, wild.owner);
		CHECK_EQ(verify_with(&wild, 0, keys, NOW),
		    DNSSEC_BOGUS_SIGNATURE);

		test_vector_ds(v, keys);
		test_vector_tamper(v, a, keys);
		test_vector_bad_keys(v, a, keys);
		test_vector_rrset(v, a, keys);
	}
}

/*
 * The root's KSKs as the root zone publishes them (Debian dns-root-data
 * 2024071801, /usr/share/dns/root.key), with parentheses and comments.
 */
static const char root_keys[] =
	"$TTL 172800\n"
	". 172800 IN DNSKEY 257 3 8 ( AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvk"
	"MgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5x"
	"QlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWe"
	"zF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrD"
	"K6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm"
	"\n  +2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU= )"
	" ; KSK-2017\n"
	"\t172800 IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rL"
	"GXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICM"
	"QMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+si"
	"FUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB"
	"+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZy"
	"vaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc= ; KSK-2024\n";

static void
test_root(void)
{
	struct dnssec_anchor ds[4], keys[4];
	char err[256];
	size_t nds, nkeys, i;

	CHECK_EQ(dnssec_anchor_parse(dnssec_root_anchors,
	    strlen(dnssec_root_anchors), ds, nitems(ds), &nds, err,
	    sizeof(err)), 0);
	CHECK_EQ(nds, 2);
	CHECK_EQ(dnssec_anchor_parse(root_keys, strlen(root_keys), keys,
	    nitems(keys), &nkeys, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(nkeys, 2);
	if (nds != 2 || nkeys != 2)
		return;
	CHECK_EQ(ds[0].tag, 20326);
	CHECK_EQ(ds[1].tag, 38696);
	CHECK_EQ(keys[0].tag, 20326);
	CHECK_EQ(keys[1].tag, 38696);
	for (i = 0; i < 2; i++) {
		CHECK_EQ(ds[i].type, DNS_TYPE_DS);
		CHECK_EQ(ds[i].algorithm, DNSSEC_ALG_RSASHA256);
		CHECK_EQ(ds[i].rdata[3], DNSSEC_DIGEST_SHA256);
		CHECK_EQ(ds[i].owner_len, 1);
		CHECK_EQ(keys[i].type, DNS_TYPE_DNSKEY);
		CHECK_EQ(keys[i].owner_len, 1);
		CHECK_EQ(keys[i].rdlen, 4 + 260);
		CHECK_EQ(dnssec_ds_match(ds[i].owner, ds[i].owner_len,
		    ds[i].rdata, ds[i].rdlen, keys[i].rdata, keys[i].rdlen),
		    DNSSEC_OK);
		CHECK_EQ(dnssec_ds_match(ds[i].owner, ds[i].owner_len,
		    ds[i].rdata, ds[i].rdlen, keys[1 - i].rdata,
		    keys[1 - i].rdlen), DNSSEC_KEY_MISMATCH);
	}
}

/* RFC 4034 5.4: a DS (SHA-1) of an RSA/SHA-1 zone key. */
static const char rfc4034_example[] =
	"dskey.example.com. 86400 IN DNSKEY 256 3 5 (\n"
	"                                   AQOeiiR0GOMYkDshWoSKz9Xz\n"
	"                                   fwJr1AYtsmx3TGkJaNXVbfi/\n"
	"                                   2pHm822aJ5iI9BMzNXxeYCmZ\n"
	"                                   DRD99WYwYqUSdjMmmAphXdvx\n"
	"                                   egXd/M5+X7OrzKBaMbCVdFLU\n"
	"                                   Uh6DhweJBjEVv5f2wwjM9Xzc\n"
	"                                   nOf+EPbtG9DMBmADjFDc2w/r\n"
	"                                   ljwvFw==\n"
	"                                   ) ;  key id = 60485\n"
	"\n"
	"dskey.example.com. 86400 IN DS 60485 5 1 ( 2BB183AF5F22588179A53B0A\n"
	"                                           98631FAD1A292118 )\n";

static void
test_rfc4034(void)
{
	struct dnssec_anchor an[2];
	char err[256];
	size_t n;

	CHECK_EQ(dnssec_anchor_parse(rfc4034_example,
	    strlen(rfc4034_example), an, nitems(an), &n, err, sizeof(err)),
	    0);
	CHECK_STR(err, "");
	CHECK_EQ(n, 2);
	if (n != 2)
		return;
	CHECK_EQ(an[0].tag, 60485);
	CHECK_EQ(an[1].tag, 60485);
	CHECK_EQ(an[1].rdlen, 4 + 20);
	CHECK_EQ(dnssec_ds_match(an[1].owner, an[1].owner_len, an[1].rdata,
	    an[1].rdlen, an[0].rdata, an[0].rdlen), DNSSEC_OK);
	/* Algorithm 5 is not verified here, but its DS digest is. */
	CHECK(!dnssec_algorithm_supported(5));
	CHECK(dnssec_digest_supported(DNSSEC_DIGEST_SHA1));
	CHECK(dnssec_digest_supported(DNSSEC_DIGEST_SHA256));
	CHECK(dnssec_digest_supported(DNSSEC_DIGEST_SHA384));
	CHECK(!dnssec_digest_supported(3));
	CHECK(!dnssec_digest_supported(0));
}

/*
 * The examples of RFC 5702 6 (RSA/SHA-256 with a 512-bit key, refused
 * here; RSA/SHA-512), RFC 6605 6 (P-256, P-384) and RFC 8080 6.1
 * (Ed25519, with the signatures of erratum 4935: those printed in the
 * RFC do not verify).  Each: the zone's key, one record, its RRSIG, the
 * time to check at, what that gives, and the DS the RFC gives (or NULL).
 */
static const uint8_t rr_a91[] = { 192, 0, 2, 91 };
static const uint8_t rr_a1[] = { 192, 0, 2, 1 };
static const uint8_t rr_mx[] = "\0\12\4mail\7example\3com";

static const struct rfc_example {
	const char		*what;
	const char		*key;		/* DNSKEY line */
	const char		*owner;
	uint16_t		 type;
	const uint8_t		*rdata;
	size_t			 rdlen;
	uint8_t			 labels;
	uint32_t		 expiration, inception;
	const char		*sig;
	uint32_t		 now;
	enum dnssec_result	 expect;
	const char		*ds;
} rfc_examples[] = {
	{ "RFC 5702 6.1", "example.net. DNSKEY 256 3 8 AwEAAcFcGsaxxdgiuuGm"
	    "CkVImy4h99CqT7jwY3pexPGcnUFtR2Fh36BponcwtkZ4cAgtvd4Qs8PkxUdp6p/"
	    "DlUmObdk=", "www.example.net", T_A, rr_a91, 4, 3,
	    1893456000u, 946684800u, "kRCOH6u7l0QGy9qpC9l1sLncJcOKFLJ7GhiU"
	    "Oibu4teYp5VE9RncriShZNz85mwlMgNEacFYK/lPtPiVYP4bwg==",
	    NOW, DNSSEC_BAD_KEY, NULL },
	{ "RFC 5702 6.2", "example.net. DNSKEY 256 3 10 AwEAAdHoNTOW+et86KuJ"
	    "OWRDp1pndvwb6Y83nSVXXyLA3DLroROUkN6X0O6pnWnjJQujX/AyhqFDxj13tOn"
	    "D9u/1kTg7cV6rklMrZDtJCQ5PCl/D7QNPsgVsMu1J2Q8gpMpztNFLpPBz1bWXjD"
	    "taR7ZQBlZ3PFY12ZTSncorffcGmhOL", "www.example.net", T_A, rr_a91,
	    4, 3, 1893456000u, 946684800u, "tsb4wnjRUDnB1BUi+t6TMTXThjVnG+e"
	    "CkWqjvvjhzQL1d0YRoOe0CbxrVDYd0xDtsuJRaeUw1ep94PzEWzr0iGYgZBWm/z"
	    "pq+9fOuagYJRfDqfReKBzMweOLDiNa8iP5g9vMhpuv6OPlvpXwm9Sa9ZXIbNl1M"
	    "BGk0fthPgxdDLw=", NOW, DNSSEC_OK, NULL },
	{ "RFC 6605 6.1", "example.net. DNSKEY 257 3 13 GojIhhXUN/u4v54ZQqGS"
	    "nyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8"
	    "NAA==", "www.example.net", T_A, rr_a1, 4, 3, 1284026679u,
	    1281607479u, "qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+"
	    "3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==", 1283000000u, DNSSEC_OK,
	    "example.net. DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f4"
	    "24625bf5c1e2770ce6d6e37df61d17" },
	{ "RFC 6605 6.2", "example.net. DNSKEY 257 3 14 xKYaNhWdGOfJ+nPrL8/a"
	    "rkwf2EY3MDJ+SErKivBVSum1w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+"
	    "OB+v8/uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40", "www.example.net",
	    T_A, rr_a1, 4, 3, 1284027625u, 1281608425u, "/L5hDKIvGDyI1fcARX3"
	    "z65qrmPsVz73QD1Mr5CEqOiLP95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJN"
	    "uydCuzWTSSPdz7wnqXL5bdcJzusdnI0RSMROxxwGipWcJm", 1283000000u,
	    DNSSEC_OK, "example.net. DS 10771 14 4 72d7b62976ce06438e9c0bf3"
	    "19013cf801f09ecc84b8d7e9495f27e305c6a9b0563a9b5f4d288405c3008a9"
	    "46df983d6" },
	{ "RFC 8080 6.1 key 1", "example.com. DNSKEY 257 3 15 l02Woi0iS8Aa2"
	    "5FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=", "example.com", T_MX, rr_mx,
	    sizeof(rr_mx), 2, 1440021600u, 1438207200u, "oL9krJun7xfBOIWcGH"
	    "i7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwc"
	    "rqNAg==", 1439000000u, DNSSEC_OK, "example.com. DS 3613 15 2 "
	    "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a"
	    "304b" },
	{ "RFC 8080 6.1 key 2", "example.com. DNSKEY 257 3 15 zPnZ/QwEe7S8C"
	    "5SPz2OfS5RR40ATk2/rYnE9xHIEijs=", "example.com", T_MX, rr_mx,
	    sizeof(rr_mx), 2, 1440021600u, 1438207200u, "zXQ0bkYgQTEFyfLyi9"
	    "QoiY6D8ZdYo4wyUhVioYZXFdT410QPRITQSqJSnzQoSm5poJ7gD7AQR0O7KuI5k"
	    "2pcBg==", 1439000000u, DNSSEC_OK, "example.com. DS 35217 15 2 "
	    "401781b934e392de492ec77ae2e15d70f6575a1c0bc59c5275c04ebe80c6"
	    "614c" },
};

/* Base64 through the anchor parser, as a key. */
static size_t
b64(const char *text, uint8_t *out, size_t cap)
{
	struct dnssec_anchor an;
	char line[1024];
	size_t n;

	snprintf(line, sizeof(line), ". DNSKEY 0 0 0 %s", text);
	if (dnssec_anchor_parse(line, strlen(line), &an, 1, &n, NULL, 0) ==
	    -1 || n != 1 || (size_t)an.rdlen - 4 > cap)
		abort();
	memcpy(out, an.rdata + 4, (size_t)an.rdlen - 4);
	return (size_t)an.rdlen - 4;
}

/*
 * More keys than the key cache holds (40 Ed25519 keys of key's tag:
 * two high bytes moved by d either way keep the sum): each fails the
 * check, none stands in for another, and key still checks after.
 */
static void
key_cache_evictions(const struct dnssec_rrset *set, const struct msg *sig,
    const struct dnssec_anchor *key, uint32_t now)
{
	uint8_t k[4 + 32];
	int d;

	CHECK_EQ(key->rdlen, sizeof(k));
	for (d = 1; d <= 40 && key->rdlen == sizeof(k); d++) {
		memcpy(k, key->rdata, sizeof(k));
		if (k[4] + d <= 255 && k[6] >= d) {
			k[4] = (uint8_t)(k[4] + d);
			k[6] = (uint8_t)(k[6] - d);
		} else if (k[4] >= d && k[6] + d <= 255) {
			k[4] = (uint8_t)(k[4] - d);
			k[6] = (uint8_t)(k[6] + d);
		} else
			continue;
		CHECK_EQ(dnssec_key_tag(k, sizeof(k)), key->tag);
		CHECK_EQ(dnssec_verify(set, sig->buf, sig->len, key->owner,
		    key->owner_len, k, sizeof(k), now),
		    DNSSEC_BOGUS_SIGNATURE);
		CHECK_EQ(dnssec_verify(set, sig->buf, sig->len, key->owner,
		    key->owner_len, k, sizeof(k), now),
		    DNSSEC_BOGUS_SIGNATURE);
	}
	CHECK_EQ(dnssec_verify(set, sig->buf, sig->len, key->owner,
	    key->owner_len, key->rdata, key->rdlen, now), DNSSEC_OK);
}

static void
test_rfc_examples(void)
{
	const struct rfc_example *e;
	struct dnssec_anchor key, ds;
	struct dnssec_rrset set;
	struct msg sig;
	uint8_t signer[DNS_MAX_NAME], raw[512];
	size_t n, signer_len, raw_len;

	for (e = rfc_examples; e < rfc_examples + nitems(rfc_examples); e++) {
		fprintf(stderr, "%s\n", e->what);
		CHECK_EQ(dnssec_anchor_parse(e->key, strlen(e->key), &key, 1,
		    &n, NULL, 0), 0);
		memset(&set, 0, sizeof(set));
		set.owner_len = wire(e->owner, set.owner);
		set.type = e->type;
		set.class = DNS_CLASS_IN;
		set.n = 1;
		set.rdata[0] = e->rdata;
		set.rdlen[0] = (uint16_t)e->rdlen;
		/* The RRSIG's RDATA, signed by the key of that tag. */
		memset(&sig, 0, sizeof(sig));
		put16(&sig, e->type);
		put8(&sig, key.algorithm);
		put8(&sig, e->labels);
		put32(&sig, 3600);
		put32(&sig, e->expiration);
		put32(&sig, e->inception);
		put16(&sig, key.tag);
		signer_len = key.owner_len;
		memcpy(signer, key.owner, signer_len);
		putbytes(&sig, signer, signer_len);
		raw_len = b64(e->sig, raw, sizeof(raw));
		putbytes(&sig, raw, raw_len);
		CHECK_EQ(dnssec_verify(&set, sig.buf, sig.len, key.owner,
		    key.owner_len, key.rdata, key.rdlen, e->now), e->expect);
		if (e->expect != DNSSEC_OK)
			continue;
		/* Long past, long ago; a changed record. */
		CHECK_EQ(dnssec_verify(&set, sig.buf, sig.len, key.owner,
		    key.owner_len, key.rdata, key.rdlen, e->expiration + 1),
		    DNSSEC_EXPIRED);
		CHECK_EQ(dnssec_verify(&set, sig.buf, sig.len, key.owner,
		    key.owner_len, key.rdata, key.rdlen, e->inception - 1),
		    DNSSEC_NOT_YET_VALID);
		memcpy(raw, e->rdata, e->rdlen);
		raw[0] ^= 0x20;
		set.rdata[0] = raw;
		CHECK_EQ(dnssec_verify(&set, sig.buf, sig.len, key.owner,
		    key.owner_len, key.rdata, key.rdlen, e->now),
		    DNSSEC_BOGUS_SIGNATURE);
		set.rdata[0] = e->rdata;
		if (key.algorithm == DNSSEC_ALG_ED25519)
			key_cache_evictions(&set, &sig, &key, e->now);
		if (e->ds == NULL)
			continue;
		CHECK_EQ(dnssec_anchor_parse(e->ds, strlen(e->ds), &ds, 1, &n,
		    NULL, 0), 0);
		CHECK_EQ(ds.tag, key.tag);
		CHECK_EQ(dnssec_ds_match(ds.owner, ds.owner_len, ds.rdata,
		    ds.rdlen, key.rdata, key.rdlen), DNSSEC_OK);
	}
}

static void
test_key_tag(void)
{
	/* B.1: algorithm 1 takes bits 8-23 of the modulus's end. */
	static const uint8_t md5[] = {
		0x01, 0x00, 0x03, 0x01, 0x03, 0x01, 0x00, 0x01,
		0xaa, 0xbb, 0xcc, 0xde, 0xad, 0x42,
	};
	static const uint8_t tiny[] = { 0x01, 0x00, 0x03 };

	CHECK_EQ(dnssec_key_tag(md5, sizeof(md5)), 0xdead);
	CHECK_EQ(dnssec_key_tag(tiny, sizeof(tiny)), 0);
}

static void
test_time(void)
{
	struct dnssec_rrsig rs;

	memset(&rs, 0, sizeof(rs));
	/* A window across the 32-bit wrap (2106). */
	rs.inception = 0xfffffff0u;
	rs.expiration = 0x10;
	CHECK_EQ(dnssec_check_time(&rs, 0), DNSSEC_OK);
	CHECK_EQ(dnssec_check_time(&rs, 0xfffffff0u), DNSSEC_OK);
	CHECK_EQ(dnssec_check_time(&rs, 0x10), DNSSEC_OK);
	CHECK_EQ(dnssec_check_time(&rs, 0x11), DNSSEC_EXPIRED);
	CHECK_EQ(dnssec_check_time(&rs, 0xffffffefu), DNSSEC_NOT_YET_VALID);
	/* Over 68 years away reads as the other side (RFC 1982). */
	rs.inception = 1577836800u;	/* 2020 */
	rs.expiration = 4102358400u;	/* 2099-12-31 */
	CHECK_EQ(dnssec_check_time(&rs, NOW), DNSSEC_EXPIRED);
}

/* RDATA of type at the end of m (after a header), in canonical form. */
static long
canon(struct msg *m, size_t at, uint16_t type, uint8_t *out, size_t cap)
{
	struct dnsmsg_rd r, sub;

	dnsmsg_rd_init(&r, m->buf, m->len);
	if (dnsmsg_rd_skip(&r, at) == -1 ||
	    dnsmsg_rd_sub(&r, m->len - at, &sub) == -1)
		return -2;
	return dnssec_rdata_canonical(type, &sub, out, cap);
}

static void
test_canonical(void)
{
	struct msg m;
	uint8_t out[512];
	size_t at;
	long n;

	/* A header, then "Example.COM." at 12 for pointers. */
	memset(&m, 0, sizeof(m));
	m.len = DNS_HDR_LEN;
	put_dname(&m, "Example.COM");
	/* MX 10 MAIL.<pointer>: decompressed and lowercased. */
	at = m.len;
	put16(&m, 10);
	putbytes(&m, "\4MAIL\xc0\x0c", 7);
	n = canon(&m, at, T_MX, out, sizeof(out));
	CHECK_EQ(n, 2 + 18);
	CHECK(n == 20 && memcmp(out, "\0\12\4mail\7example\3com\0", 20) == 0);
	CHECK_EQ(canon(&m, at, T_MX, out, 19), -1);
	CHECK_EQ(canon(&m, at, T_MX, out, 20), 20);
	/* NSEC: kept as it is (RFC 6840 5.1). */
	n = canon(&m, at, DNS_TYPE_NSEC, out, sizeof(out));
	CHECK(n == 9 && memcmp(out, "\0\12\4MAIL\xc0\x0c", 9) == 0);
	/* An unknown type, A: copied. */
	n = canon(&m, at, T_A, out, sizeof(out));
	CHECK_EQ(n, 9);
	/* SRV: three numbers, then the target. */
	at = m.len;
	put16(&m, 1);
	put16(&m, 2);
	put16(&m, 443);
	putbytes(&m, "\3WWW\xc0\x0c", 6);
	n = canon(&m, at, T_SRV, out, sizeof(out));
	CHECK(n == 23 &&
	    memcmp(out + 6, "\3www\7example\3com\0", 17) == 0);
	/* MX cut inside its name; MX without a name. */
	at = m.len;
	put16(&m, 10);
	putbytes(&m, "\4MA", 3);
	CHECK_EQ(canon(&m, at, T_MX, out, sizeof(out)), -1);
	at = m.len;
	put16(&m, 10);
	CHECK_EQ(canon(&m, at, T_MX, out, sizeof(out)), -1);

	CHECK_EQ(dnssec_name_labels((const uint8_t *)"\1*\3com", 7), 1);
	CHECK_EQ(dnssec_name_labels((const uint8_t *)"\1a\3com", 7), 2);
	CHECK_EQ(dnssec_name_labels((const uint8_t *)"", 1), 0);
	CHECK_EQ(dnssec_name_labels((const uint8_t *)"\5a", 3), -1);
}

/* A header answering "a.test A" with an answer count of an. */
static void
put_answer_header(struct msg *m, unsigned an)
{
	m->len = 0;
	put16(m, 0x4242);
	put16(m, 0x8400);
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	put_dname(m, "a.test");
	put16(m, T_A);
	put16(m, DNS_CLASS_IN);
}

static void
put_a(struct msg *m, unsigned i)
{
	putbytes(m, "\xc0\x0c", 2);
	put16(m, T_A);
	put16(m, DNS_CLASS_IN);
	put32(m, 300 - i);
	put16(m, 4);
	put32(m, 0xc0000200u + i);
}

static void
test_collect(void)
{
	static struct msg m;
	unsigned i;

	/* The most records one set holds, then one more. */
	put_answer_header(&m, DNSSEC_MAX_RRS);
	for (i = 0; i < DNSSEC_MAX_RRS; i++)
		put_a(&m, i);
	CHECK_EQ(dnssec_collect(m.buf, m.len, DNS_SEC_ANSWER, &sets),
	    DNSSEC_OK);
	CHECK_EQ(sets.nsets, 1);
	CHECK_EQ(sets.set[0].n, DNSSEC_MAX_RRS);
	CHECK_EQ(sets.set[0].ttl, 300 - (DNSSEC_MAX_RRS - 1));
	CHECK_EQ(sets.set[0].nsigs, 0);
	put_answer_header(&m, DNSSEC_MAX_RRS + 1);
	for (i = 0; i < DNSSEC_MAX_RRS + 1; i++)
		put_a(&m, i);
	CHECK_EQ(dnssec_collect(m.buf, m.len, DNS_SEC_ANSWER, &sets),
	    DNSSEC_TOO_BIG);

	/* More sets than DNSSEC_MAX_SETS: each its own type. */
	put_answer_header(&m, DNSSEC_MAX_SETS + 1);
	for (i = 0; i < DNSSEC_MAX_SETS + 1; i++) {
		putbytes(&m, "\xc0\x0c", 2);
		put16(&m, 1000 + i);
		put16(&m, DNS_CLASS_IN);
		put32(&m, 300);
		put16(&m, 0);
	}
	CHECK_EQ(dnssec_collect(m.buf, m.len, DNS_SEC_ANSWER, &sets),
	    DNSSEC_TOO_BIG);
	CHECK_EQ(sets.nsets, DNSSEC_MAX_SETS);

	/* An RRSIG too short for its signer; a count past the end. */
	put_answer_header(&m, 1);
	putbytes(&m, "\xc0\x0c", 2);
	put16(&m, DNS_TYPE_RRSIG);
	put16(&m, DNS_CLASS_IN);
	put32(&m, 300);
	put16(&m, 18);
	putbytes(&m, "\0\1\10\2\0\0\1\54\0\0\0\0\0\0\0\0\0\1", 18);
	CHECK_EQ(dnssec_collect(m.buf, m.len, DNS_SEC_ANSWER, &sets),
	    DNSSEC_MALFORMED);
	put_answer_header(&m, 2);
	put_a(&m, 1);
	CHECK_EQ(dnssec_collect(m.buf, m.len, DNS_SEC_ANSWER, &sets),
	    DNSSEC_MALFORMED);
	CHECK_EQ(dnssec_collect(m.buf, 5, DNS_SEC_ANSWER, &sets),
	    DNSSEC_MALFORMED);
	CHECK_EQ(dnssec_collect(m.buf, m.len, DNS_SEC_QUESTION, &sets),
	    DNSSEC_MALFORMED);
	/* Another section: empty, fine. */
	put_answer_header(&m, 1);
	put_a(&m, 1);
	CHECK_EQ(dnssec_collect(m.buf, m.len, DNS_SEC_AUTHORITY, &sets),
	    DNSSEC_OK);
	CHECK_EQ(sets.nsets, 0);

	/* An RRSIG alone makes a set of no records; verify says so. */
	CHECK_EQ(dnssec_collect(vectors[0].msg, vectors[0].len,
	    DNS_SEC_ANSWER, &sets), DNSSEC_OK);
	tset = sets.set[0];
	tset.n = 0;
	CHECK_EQ(dnssec_verify(&tset, tset.sig[0], tset.siglen[0],
	    tset.owner, tset.owner_len, tset.sig[0], tset.siglen[0], NOW),
	    DNSSEC_MALFORMED);
}

static const struct {
	const char	*text;
	const char	*err;
	size_t		 n;
} anchor_cases[] = {
	{ "; nothing\n\n   \n", "", 0 },
	{ "$TTL 3600\nExample. 60 IN DS 1 8 2 "
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "", 1 },
	{ "example IN 60 DS 1 8 2 00000000000000000000000000000000 "
	    "00000000000000000000000000000000\n   DS 2 8 1 "
	    "00000000000000000000 00000000000000000000\n", "", 2 },
	{ "example DS 1 8 7 00\n", "", 1 },
	{ "example. IN A 192.0.2.1\n", "line 1: not a DS or DNSKEY record "
	    "of class IN", 0 },
	{ "example. CH DS 1 8 2 00\n", "line 1: not a DS or DNSKEY record "
	    "of class IN", 0 },
	{ "\n$ORIGIN example.\n", "line 2: directive not supported", 0 },
	{ "example. DS 1 8 2 00\n", "line 1: digest of the wrong length", 0 },
	{ "example. DS 1 8 2 0\n", "line 1: bad digest", 0 },
	{ "example. DS 1 8 2 xy\n", "line 1: bad digest", 0 },
	{ "example. DS 65536 8 2 00\n", "line 1: bad number", 0 },
	{ "example. DS 1 8 2\n", "line 1: fields missing", 0 },
	{ "example. DNSKEY 257 3 8 AwE=A\n", "line 1: bad key", 0 },
	{ "example. DNSKEY 257 3 8 AwE\n", "line 1: bad key", 0 },
	{ "example. DNSKEY 257 3 8 AwEAAQ==\n", "", 1 },
	{ "example. DNSKEY ( 257 3 8\nAwEAAQ==\n", "line 1: unbalanced "
	    "parenthesis", 0 },
	{ "example. DNSKEY 257 3 8 AwEAAQ== )\n", "line 1: unbalanced "
	    "parenthesis", 0 },
	{ " DS 1 8 7 00\n", "line 1: no owner name", 0 },
	{ "@ DS 1 8 7 00\n", "line 1: bad owner name", 0 },
	{ "a..b DS 1 8 7 00\n", "line 1: bad owner name", 0 },
	{ "example.\n", "line 1: no type", 0 },
	{ "a DS 1 8 7 00\nb DS 1 8 7 00\nc DS 1 8 7 00\n"
	    "d DS 1 8 7 00\nbad\n", "line 5: too many trust anchors", 4 },
};

static void
test_anchor_parse(void)
{
	struct dnssec_anchor an[4];
	char err[128];
	size_t i, n;
	int rc;

	for (i = 0; i < nitems(anchor_cases); i++) {
		memset(err, 'x', sizeof(err));
		rc = dnssec_anchor_parse(anchor_cases[i].text,
		    strlen(anchor_cases[i].text), an, nitems(an), &n, err,
		    sizeof(err));
		CHECK_EQ(rc, anchor_cases[i].err[0] == '\0' ? 0 : -1);
		CHECK_STR(err, anchor_cases[i].err);
		CHECK_EQ(n, anchor_cases[i].n);
	}
	/* The owner inherited, lowercased; a class-and-TTL line. */
	rc = dnssec_anchor_parse(anchor_cases[2].text,
	    strlen(anchor_cases[2].text), an, nitems(an), &n, NULL, 0);
	CHECK(rc == 0 && n == 2 && an[1].owner_len == 9 &&
	    memcmp(an[1].owner, "\7example", 9) == 0);
	CHECK(rc == 0 && n == 2 && an[1].tag == 2 && an[1].rdlen == 24);
	rc = dnssec_anchor_parse(anchor_cases[1].text,
	    strlen(anchor_cases[1].text), an, nitems(an), &n, NULL, 0);
	CHECK(rc == 0 && n == 1 && memcmp(an[0].owner, "\7example", 9) == 0);
	/* Any blank separates; a NUL makes no name. */
	rc = dnssec_anchor_parse("example.\vDS 1 8 7 00\f", 21, an,
	    nitems(an), &n, err, sizeof(err));
	CHECK(rc == 0 && n == 1 && an[0].tag == 1);
	rc = dnssec_anchor_parse("exa\0mple DS 1 8 7 00", 20, an,
	    nitems(an), &n, err, sizeof(err));
	CHECK_EQ(rc, -1);
	CHECK_STR(err, "line 1: bad owner name");
	/* Not NUL-terminated: the length bounds the text. */
	rc = dnssec_anchor_parse("example DS 1 8 7 00 junk", 19, an,
	    nitems(an), &n, NULL, 0);
	CHECK(rc == 0 && n == 1 && an[0].rdlen == 5);
}

static void
test_names(void)
{
	size_t i;

	for (i = 0; i < DNSSEC_RESULT_MAX; i++)
		CHECK(dnssec_result_names[i] != NULL);
	CHECK_STR(dnssec_result_names[DNSSEC_OK], "ok");
	CHECK_STR(dnssec_result_names[DNSSEC_INTERNAL], "internal error");
}

int
main(void)
{
	test_vectors();
	test_root();
	test_rfc4034();
	test_rfc_examples();
	test_key_tag();
	test_time();
	test_canonical();
	test_collect();
	test_anchor_parse();
	test_names();
	return check_summary();
}
