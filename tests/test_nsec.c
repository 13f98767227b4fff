/*
 * Unit tests for nsec: canonical order (RFC 4034 6.1's own list), type
 * bitmaps (RFC 4034 4.3's example record), base32hex (RFC 4648 10),
 * the NSEC3 hashes of RFC 5155 Appendix A, and the denial proofs on
 * the example zones of RFC 4035 Appendix A (NSEC) and RFC 5155
 * Appendix A (NSEC3), with the answers of their Appendix B and, for
 * each, the same proof with a record missing, which must fail.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/nsec.h"
#include "check.h"

#define T_A		1
#define T_NS		2
#define T_MX		15
#define T_AAAA		28

/* --- building records --- */

struct rec {
	uint8_t	owner[DNS_MAX_NAME];
	uint8_t	rd[1024];
};

struct set {
	struct rec	rec[16];
	struct nsec_rr	rr[16];
	size_t		n;
};

static size_t
nm(const char *text, uint8_t *out)
{
	size_t n = dnsmsg_name_from_text(text, out, DNS_MAX_NAME);

	if (n == 0) {
		fprintf(stderr, "bad name %s\n", text);
		abort();
	}
	return n;
}

/* A type bitmap (RFC 4034 4.1.2) of the types named in list. */
static size_t
bitmap(const char *list, uint8_t *out)
{
	uint8_t win[256][32];
	int wlen[256];
	char buf[512], *tok, *save;
	uint16_t t;
	size_t len = 0;
	int w;

	memset(win, 0, sizeof(win));
	memset(wlen, 0, sizeof(wlen));
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if (dnsmsg_type_parse(tok, &t) == -1)
			abort();
		win[t >> 8][(t & 0xff) >> 3] |= 0x80 >> (t & 7);
		if (wlen[t >> 8] < ((t & 0xff) >> 3) + 1)
			wlen[t >> 8] = ((t & 0xff) >> 3) + 1;
	}
	for (w = 0; w < 256; w++) {
		if (wlen[w] == 0)
			continue;
		out[len++] = (uint8_t)w;
		out[len++] = (uint8_t)wlen[w];
		memcpy(out + len, win[w], (size_t)wlen[w]);
		len += (size_t)wlen[w];
	}
	return len;
}

static struct rec *
slot(struct set *s)
{
	if (s->n >= sizeof(s->rec) / sizeof(s->rec[0]))
		abort();
	return &s->rec[s->n];
}

static size_t
add_nsec(struct set *s, const char *owner, const char *next,
    const char *types)
{
	struct rec *r = slot(s);
	struct nsec_rr *rr = &s->rr[s->n];
	size_t len;

	rr->owner = r->owner;
	rr->owner_len = nm(owner, r->owner);
	len = nm(next, r->rd);
	len += bitmap(types, r->rd + len);
	rr->rdata = r->rd;
	rr->rdlen = len;
	return s->n++;
}

/* An NSEC3 record, owner "<hash>.example." unless it has a dot. */
static size_t
add_nsec3_p(struct set *s, const char *owner, unsigned alg, unsigned flags,
    unsigned iter, const char *salt_hex, const char *next, const char *types)
{
	struct rec *r = slot(s);
	struct nsec_rr *rr = &s->rr[s->n];
	char name[300];
	size_t len = 0, i, slen = strlen(salt_hex) / 2;
	unsigned v;
	int hl;

	snprintf(name, sizeof(name), "%s%s", owner,
	    strchr(owner, '.') ? "" : ".example.");
	rr->owner = r->owner;
	rr->owner_len = nm(name, r->owner);
	r->rd[len++] = (uint8_t)alg;
	r->rd[len++] = (uint8_t)flags;
	r->rd[len++] = (uint8_t)(iter >> 8);
	r->rd[len++] = (uint8_t)iter;
	r->rd[len++] = (uint8_t)slen;
	for (i = 0; i < slen; i++) {
		if (sscanf(salt_hex + 2 * i, "%2x", &v) != 1)
			abort();
		r->rd[len++] = (uint8_t)v;
	}
	hl = nsec3_b32hex_decode(next, strlen(next), r->rd + len + 1, 64);
	if (hl <= 0)
		abort();
	r->rd[len] = (uint8_t)hl;
	len += 1 + (size_t)hl;
	len += bitmap(types, r->rd + len);
	rr->rdata = r->rd;
	rr->rdlen = len;
	return s->n++;
}

/* RFC 5155 Appendix A's parameters: SHA-1, 12 iterations, aabbccdd. */
static size_t
add_nsec3(struct set *s, const char *owner, unsigned flags, const char *next,
    const char *types)
{
	return add_nsec3_p(s, owner, 1, flags, 12, "aabbccdd", next, types);
}

static uint8_t zone_w[DNS_MAX_NAME], q_w[DNS_MAX_NAME];
static size_t zone_l, q_l;

static void
names(const char *zone, const char *q)
{
	zone_l = nm(zone, zone_w);
	q_l = nm(q, q_w);
}

static int
ce_is(const struct nsec_proof *p, const char *text)
{
	uint8_t w[DNS_MAX_NAME];
	size_t l = nm(text, w);

	return dnsmsg_name_equal(p->ce, p->ce_len, w, l);
}

/* --- canonical order, bitmaps, base32hex, hashes --- */

static void
test_order(void)
{
	/* RFC 4034 6.1, in its order. */
	static const char *const list[] = {
		"example.", "a.example.", "yljkjljk.a.example.",
		"Z.a.example.", "zABC.a.EXAMPLE.", "z.example.",
		"\\001.z.example.", "*.z.example.", "\\200.z.example.",
	};
	uint8_t a[DNS_MAX_NAME], b[DNS_MAX_NAME];
	size_t i, j, al, bl, n = sizeof(list) / sizeof(list[0]);

	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			al = nm(list[i], a);
			bl = nm(list[j], b);
			if (i < j)
				CHECK(nsec_name_cmp(a, al, b, bl) < 0);
			else if (i > j)
				CHECK(nsec_name_cmp(a, al, b, bl) > 0);
			else
				CHECK_EQ(nsec_name_cmp(a, al, b, bl), 0);
		}
	al = nm("WWW.Example.", a);
	bl = nm("www.example.", b);
	CHECK_EQ(nsec_name_cmp(a, al, b, bl), 0);
	al = nm(".", a);
	CHECK(nsec_name_cmp(a, al, b, bl) < 0);
	/* A label that is a prefix of the other sorts first. */
	al = nm("ab.example.", a);
	bl = nm("abc.example.", b);
	CHECK(nsec_name_cmp(a, al, b, bl) < 0);
	CHECK(nsec_name_valid(a, al));
	CHECK(!nsec_name_valid(a, al - 1));
	CHECK(!nsec_name_valid((const uint8_t *)"\xc0\x0c", 2));
	CHECK(!nsec_name_valid(a, 0));
}

static void
test_bitmap(void)
{
	/* RFC 4034 4.3: "host.example.com. A MX RRSIG NSEC TYPE1234". */
	static const uint8_t rd[] = {
		0x04, 'h', 'o', 's', 't', 0x07, 'e', 'x', 'a', 'm', 'p',
		'l', 'e', 0x03, 'c', 'o', 'm', 0x00,
		0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03,
		0x04, 0x1b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
	};
	static const long want[] = { 1, 15, 46, 47, 1234, -1 };
	struct nsec_rdata nr;
	uint8_t bm[64], bad[8], host[DNS_MAX_NAME];
	size_t i, hl;
	long t;

	CHECK_EQ(nsec_parse(rd, sizeof(rd), &nr), 0);
	hl = nm("host.example.com.", host);
	CHECK(dnsmsg_name_equal(nr.next, nr.next_len, host, hl));
	CHECK_EQ(nr.bitmap_len, sizeof(rd) - 18);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, T_A), 1);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, T_MX), 1);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, 46), 1);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, 47), 1);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, 1234), 1);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, T_AAAA), 0);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, T_NS), 0);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, 1235), 0);
	CHECK_EQ(nsec_bitmap_has(nr.bitmap, nr.bitmap_len, 65535), 0);
	for (i = 0, t = -1; i < sizeof(want) / sizeof(want[0]); i++) {
		t = nsec_bitmap_next(nr.bitmap, nr.bitmap_len, t);
		CHECK_EQ(t, want[i]);
	}
	/* Our builder writes the same bytes. */
	CHECK_EQ(bitmap("A MX RRSIG NSEC TYPE1234", bm), nr.bitmap_len);
	CHECK(memcmp(bm, nr.bitmap, nr.bitmap_len) == 0);
	CHECK(nsec_bitmap_valid(bm, 0));
	/* Windows out of order, empty, too long, cut short. */
	memcpy(bad, "\x01\x01\x40\x00\x01\x40", 6);
	CHECK(!nsec_bitmap_valid(bad, 6));
	CHECK_EQ(nsec_bitmap_has(bad, 6, T_A), -1);
	CHECK_EQ(nsec_bitmap_next(bad, 6, -1), -1);
	memcpy(bad, "\x00\x00", 2);
	CHECK(!nsec_bitmap_valid(bad, 2));
	memcpy(bad, "\x00\x21", 2);
	CHECK(!nsec_bitmap_valid(bad, 2));
	memcpy(bad, "\x00\x02\x40", 3);
	CHECK(!nsec_bitmap_valid(bad, 3));
	CHECK(!nsec_bitmap_valid(bad, 1));
	/* Same window twice. */
	memcpy(bad, "\x00\x01\x40\x00\x01\x40", 6);
	CHECK(!nsec_bitmap_valid(bad, 6));
	/* The next name must not be compressed, nor run past the RDATA. */
	CHECK_EQ(nsec_parse((const uint8_t *)"\xc0\x0c\x00\x01\x40", 5, &nr),
	    -1);
	CHECK_EQ(nsec_parse(rd, 10, &nr), -1);
	CHECK_EQ(nsec_parse(rd, 19, &nr), -1);	/* a cut bitmap */
	CHECK_EQ(nsec_parse(rd, 18, &nr), 0);	/* no bitmap at all */
}

static void
test_b32hex(void)
{
	/* RFC 4648 10, without the padding NSEC3 leaves out. */
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "co" }, { "fo", "cpng" },
		{ "foo", "cpnmu" }, { "foob", "cpnmuog" },
		{ "fooba", "cpnmuoj1" }, { "foobar", "cpnmuoj1e8" },
	};
	uint8_t out[16];
	char txt[32], small[4];
	size_t i, n;
	int d;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		n = strlen(vec[i][0]);
		CHECK_EQ(nsec3_b32hex_encode((const uint8_t *)vec[i][0], n,
		    txt, sizeof(txt)), strlen(vec[i][1]));
		CHECK_STR(txt, vec[i][1]);
		d = nsec3_b32hex_decode(vec[i][1], strlen(vec[i][1]), out,
		    sizeof(out));
		CHECK_EQ(d, n);
		CHECK(memcmp(out, vec[i][0], n) == 0);
	}
	CHECK_EQ(nsec3_b32hex_decode("CPNMUOJ1E8", 10, out, sizeof(out)), 6);
	CHECK_EQ(nsec3_b32hex_decode("cpnmuoj1e8", 10, out, 5), -1);
	CHECK_EQ(nsec3_b32hex_decode("w0", 2, out, sizeof(out)), -1);
	CHECK_EQ(nsec3_b32hex_decode("c", 1, out, sizeof(out)), -1);
	CHECK_EQ(nsec3_b32hex_decode("cp", 2, out, sizeof(out)), -1);
	CHECK_EQ(nsec3_b32hex_decode("cpn", 3, out, sizeof(out)), -1);
	CHECK_EQ(nsec3_b32hex_encode((const uint8_t *)"foo", 3, small,
	    sizeof(small)), 0);
	CHECK_STR(small, "");
}

static void
test_hash(void)
{
	/* RFC 5155 Appendix A, and two of Appendix B's comments. */
	static const char *const vec[][2] = {
		{ "example", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom" },
		{ "a.example", "35mthgpgcu1qg68fab165klnsnk3dpvl" },
		{ "ai.example", "gjeqe526plbf1g8mklp59enfd789njgi" },
		{ "ns1.example", "2t7b4g4vsa5smi47k61mv5bv1a22bojr" },
		{ "ns2.example", "q04jkcevqvmu85r014c7dkba38o0ji5r" },
		{ "w.example", "k8udemvp1j2f7eg6jebps17vp3n8i58h" },
		{ "*.w.example", "r53bq7cc2uvmubfu5ocmm6pers9tk9en" },
		{ "x.w.example", "b4um86eghhds6nea196smvmlo4ors995" },
		{ "y.w.example", "ji6neoaepv8b5o6k4ev33abha8ht9fgc" },
		{ "x.y.w.example", "2vptu5timamqttgl4luu9kg21e0aor3s" },
		{ "xx.example", "t644ebqk9bibcna874givr6joj62mlhv" },
		{ "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example",
		    "kohar7mbb8dc2ce8a9qvl8hon4k53uhi" },
		{ "c.x.w.example", "0va5bpr2ou0vk0lbqeeljri88laipsfh" },
		{ "*.x.w.example", "92pqneegtaue7pjatc3l3qnk738c6v5m" },
		{ "X.W.Example", "b4um86eghhds6nea196smvmlo4ors995" },
	};
	static const uint8_t salt[] = { 0xaa, 0xbb, 0xcc, 0xdd };
	uint8_t w[DNS_MAX_NAME], h[NSEC3_SHA1_LEN];
	char txt[64];
	size_t i, l;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		l = nm(vec[i][0], w);
		CHECK_EQ(nsec3_hash(NSEC3_HASH_SHA1, salt, sizeof(salt), 12,
		    w, l, h), 0);
		nsec3_b32hex_encode(h, sizeof(h), txt, sizeof(txt));
		CHECK_STR(txt, vec[i][1]);
	}
	l = nm("example.", w);
	CHECK_EQ(nsec3_hash(2, salt, sizeof(salt), 12, w, l, h), -1);
	CHECK_EQ(nsec3_hash(NSEC3_HASH_SHA1, salt, sizeof(salt), 12, w,
	    l - 1, h), -1);
	/* No salt, no iteration: SHA-1 of the name alone. */
	CHECK_EQ(nsec3_hash(NSEC3_HASH_SHA1, NULL, 0, 0, w, l, h), 0);
	CHECK_EQ(nsec3_hash(NSEC3_HASH_SHA1, salt, sizeof(salt), 11, w, l,
	    h), 0);
	nsec3_b32hex_encode(h, sizeof(h), txt, sizeof(txt));
	CHECK(strcmp(txt, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom") != 0);
}

/* --- NSEC: RFC 4035 Appendix A's zone --- */

/* The whole NSEC chain of RFC 4035 Appendix A, by owner. */
static size_t
chain4035(struct set *s, const char *owner)
{
	static const char *const z[][3] = {
		{ "example.", "a.example.",
		    "NS SOA MX RRSIG NSEC DNSKEY" },
		{ "a.example.", "ai.example.", "NS DS RRSIG NSEC" },
		{ "ai.example.", "b.example.", "A HINFO AAAA RRSIG NSEC" },
		{ "b.example.", "ns1.example.", "NS RRSIG NSEC" },
		{ "ns1.example.", "ns2.example.", "A RRSIG NSEC" },
		{ "ns2.example.", "*.w.example.", "A RRSIG NSEC" },
		{ "*.w.example.", "x.w.example.", "MX RRSIG NSEC" },
		{ "x.w.example.", "x.y.w.example.", "MX RRSIG NSEC" },
		{ "x.y.w.example.", "xx.example.", "MX RRSIG NSEC" },
		{ "xx.example.", "example.", "A HINFO AAAA RRSIG NSEC" },
	};
	size_t i;

	for (i = 0; i < sizeof(z) / sizeof(z[0]); i++)
		if (strcmp(z[i][0], owner) == 0)
			return add_nsec(s, z[i][0], z[i][1], z[i][2]);
	abort();
}

static void
test_nsec_nxdomain(void)
{
	struct nsec_proof p;
	struct set s;
	size_t i, j;

	/* RFC 4035 B.2: ml.example. */
	names("example.", "ml.example.");
	memset(&s, 0, sizeof(s));
	i = chain4035(&s, "b.example.");
	j = chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_PROVEN);
	CHECK(ce_is(&p, "example."));
	CHECK_EQ(p.nused, 2);
	CHECK_EQ(p.used[0], i);
	CHECK_EQ(p.used[1], j);
	/* Order does not matter, nor a proof struct. */
	memset(&s, 0, sizeof(s));
	chain4035(&s, "example.");
	chain4035(&s, "b.example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    NULL), NSEC_PROVEN);
	/* A gap: the wildcard *.example is not denied. */
	memset(&s, 0, sizeof(s));
	chain4035(&s, "b.example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "no NSEC denies the wildcard");
	/* A gap: the name itself is not denied. */
	memset(&s, 0, sizeof(s));
	chain4035(&s, "example.");
	chain4035(&s, "ns1.example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec_prove_nxdomain(NULL, 0, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);

	/* The last NSEC wraps round to the apex: zz.example. */
	names("example.", "zz.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "xx.example.");
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_PROVEN);

	/* A name that exists. */
	names("example.", "ns1.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "ns1.example.");
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);

	/* An empty non-terminal exists too: w.example. */
	names("example.", "w.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "ns2.example.");
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);

	/*
	 * b.example, with only x.b.example below it, is an empty
	 * non-terminal: the NSEC from a.example covers it and the
	 * wildcard *.b.example, but its next name shows that it exists.
	 */
	names("example.", "b.example.");
	memset(&s, 0, sizeof(s));
	add_nsec(&s, "a.example.", "x.b.example.", "A RRSIG NSEC");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_A,
	    &p), NSEC_PROVEN);

	/*
	 * Below a wildcard's parent the wildcard matches: a.z.w.example
	 * is answered from *.w.example, never NXDOMAIN.
	 */
	names("example.", "a.z.w.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "x.y.w.example.");
	chain4035(&s, "*.w.example.");
	chain4035(&s, "ns2.example.");
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "the wildcard at the closest encloser exists");

	/*
	 * RFC 6840 4.1: the parent's NSEC at a delegation (b.example: NS,
	 * no SOA) covers mc.b.example in canonical order, but the child
	 * owns that name.  The same for a DNAME owner.
	 */
	names("example.", "mc.b.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "b.example.");
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);
	memset(&s, 0, sizeof(s));
	add_nsec(&s, "b.example.", "ns1.example.", "DNAME RRSIG NSEC");
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);
	/* The apex's NSEC (NS with SOA) may deny names below it. */
	names("example.", "0.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_PROVEN);

	/* Outside the zone; malformed names and records. */
	names("example.", "ml.example.org.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "b.example.");
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "name outside the zone");
	names("example.", "ml.example.");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w,
	    q_l - 1, &p), NSEC_MALFORMED);
	s.rr[0].rdlen = 5;
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_MALFORMED);
	/* Records of another zone are passed over. */
	memset(&s, 0, sizeof(s));
	add_nsec(&s, "a.org.", "z.org.", "A RRSIG NSEC");
	CHECK_EQ(nsec_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    &p), NSEC_NO_PROOF);
}

static void
test_nsec_nodata(void)
{
	struct nsec_proof p;
	struct set s;

	/* RFC 4035 B.3: ns1.example MX. */
	names("example.", "ns1.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "ns1.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_MX,
	    &p), NSEC_PROVEN);
	CHECK_EQ(p.nused, 1);
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_A,
	    &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "the type exists at the name");
	/* Nothing at all, or only the NSEC of another name. */
	CHECK_EQ(nsec_prove_nodata(NULL, 0, zone_w, zone_l, q_w, q_l, T_MX,
	    &p), NSEC_NO_PROOF);
	memset(&s, 0, sizeof(s));
	chain4035(&s, "ns2.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_MX,
	    &p), NSEC_NO_PROOF);
	/* A CNAME at the name: the answer should have been the CNAME. */
	memset(&s, 0, sizeof(s));
	add_nsec(&s, "ns1.example.", "ns2.example.", "CNAME RRSIG NSEC");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_A,
	    &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "the name has a CNAME");

	/* Empty non-terminals: w.example, y.w.example. */
	names("example.", "w.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "ns2.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_A,
	    &p), NSEC_PROVEN);
	CHECK_STR(p.why, "the name is an empty non-terminal");
	names("example.", "y.w.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "x.w.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_A,
	    &p), NSEC_PROVEN);
	/* An NSEC covering a name is not one for an ENT. */
	names("example.", "ml.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "b.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_A,
	    &p), NSEC_NO_PROOF);

	/* RFC 4035 B.7: wildcard no data, a.z.w.example AAAA. */
	names("example.", "a.z.w.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "x.y.w.example.");
	chain4035(&s, "*.w.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_AAAA, &p), NSEC_PROVEN);
	CHECK(ce_is(&p, "w.example."));
	CHECK_EQ(p.nused, 2);
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_MX,
	    &p), NSEC_NO_PROOF);
	/* Gaps: either record alone. */
	memset(&s, 0, sizeof(s));
	chain4035(&s, "*.w.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_AAAA, &p), NSEC_NO_PROOF);
	memset(&s, 0, sizeof(s));
	chain4035(&s, "x.y.w.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_AAAA, &p), NSEC_NO_PROOF);

	/*
	 * The parent's side of a delegation speaks for DS only (RFC 6840
	 * 4.1); the child's apex never for DS.
	 */
	names("example.", "b.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "b.example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l, T_A,
	    &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    DNS_TYPE_DS, &p), NSEC_PROVEN);
	names("example.", "example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    DNS_TYPE_DS, &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_AAAA, &p), NSEC_PROVEN);
	/* At the root there is no parent: its own NSEC denies DS. */
	names(".", ".");
	memset(&s, 0, sizeof(s));
	add_nsec(&s, ".", "aaa.", "NS SOA RRSIG NSEC DNSKEY");
	CHECK_EQ(nsec_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    DNS_TYPE_DS, &p), NSEC_PROVEN);
}

static void
test_nsec_wildcard(void)
{
	struct nsec_proof p;
	struct set s;

	/* RFC 4035 B.6: a.z.w.example MX from *.w.example (labels 2). */
	names("example.", "a.z.w.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "x.y.w.example.");
	CHECK_EQ(nsec_prove_wildcard(s.rr, s.n, zone_w, zone_l, q_w, q_l, 2,
	    &p), NSEC_PROVEN);
	CHECK(ce_is(&p, "w.example."));
	/* A wrong labels field: the NSEC shows w.example, not example. */
	CHECK_EQ(nsec_prove_wildcard(s.rr, s.n, zone_w, zone_l, q_w, q_l, 1,
	    &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec_prove_wildcard(s.rr, s.n, zone_w, zone_l, q_w, q_l, 4,
	    &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec_prove_wildcard(NULL, 0, zone_w, zone_l, q_w, q_l, 2,
	    &p), NSEC_NO_PROOF);
	/*
	 * A closer match exists: b.x.w.example would come from x.w.example
	 * (or be NXDOMAIN), not from *.w.example.
	 */
	names("example.", "b.x.w.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "x.w.example.");
	CHECK_EQ(nsec_prove_wildcard(s.rr, s.n, zone_w, zone_l, q_w, q_l, 2,
	    &p), NSEC_NO_PROOF);
	/* The wildcard itself asked for: nothing to prove. */
	names("example.", "*.w.example.");
	CHECK_EQ(nsec_prove_wildcard(NULL, 0, zone_w, zone_l, q_w, q_l, 2,
	    &p), NSEC_PROVEN);
}

static void
test_nsec_delegation(void)
{
	struct nsec_proof p;
	struct set s;

	/* RFC 4035 B.5: the unsigned b.example. */
	names("example.", "b.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "b.example.");
	CHECK_EQ(nsec_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, &p), NSEC_PROVEN);
	/* The signed a.example has a DS. */
	names("example.", "a.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "a.example.");
	CHECK_EQ(nsec_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "the delegation has a DS");
	/* Not a delegation; the apex; no record. */
	names("example.", "ns1.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "ns1.example.");
	CHECK_EQ(nsec_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, &p), NSEC_NO_PROOF);
	names("example.", "example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "example.");
	CHECK_EQ(nsec_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, &p), NSEC_NO_PROOF);
	names("example.", "b.example.");
	memset(&s, 0, sizeof(s));
	chain4035(&s, "ai.example.");
	CHECK_EQ(nsec_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, &p), NSEC_NO_PROOF);
}

/* --- NSEC3: RFC 5155 Appendix A's zone --- */

/*
 * The NSEC3 chain of RFC 5155 Appendix A, by hashed owner, with the
 * flags given (the RFC's records all have Opt-Out, 1).
 */
static size_t
chain5155(struct set *s, const char *owner, unsigned flags)
{
	static const char *const z[][3] = {
		{ "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
		    "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
		    "MX DNSKEY NS SOA NSEC3PARAM RRSIG" },
		{ "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
		    "2vptu5timamqttgl4luu9kg21e0aor3s", "A RRSIG" },
		{ "2vptu5timamqttgl4luu9kg21e0aor3s",
		    "35mthgpgcu1qg68fab165klnsnk3dpvl", "MX RRSIG" },
		{ "35mthgpgcu1qg68fab165klnsnk3dpvl",
		    "b4um86eghhds6nea196smvmlo4ors995", "NS DS RRSIG" },
		{ "b4um86eghhds6nea196smvmlo4ors995",
		    "gjeqe526plbf1g8mklp59enfd789njgi", "MX RRSIG" },
		{ "gjeqe526plbf1g8mklp59enfd789njgi",
		    "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
		    "HINFO A AAAA RRSIG" },
		{ "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
		    "k8udemvp1j2f7eg6jebps17vp3n8i58h", "" },
		{ "k8udemvp1j2f7eg6jebps17vp3n8i58h",
		    "kohar7mbb8dc2ce8a9qvl8hon4k53uhi", "" },
		{ "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
		    "q04jkcevqvmu85r014c7dkba38o0ji5r", "A RRSIG" },
		{ "q04jkcevqvmu85r014c7dkba38o0ji5r",
		    "r53bq7cc2uvmubfu5ocmm6pers9tk9en", "A RRSIG" },
		{ "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
		    "t644ebqk9bibcna874givr6joj62mlhv", "MX RRSIG" },
		{ "t644ebqk9bibcna874givr6joj62mlhv",
		    "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
		    "A HINFO AAAA RRSIG" },
	};
	size_t i;

	for (i = 0; i < sizeof(z) / sizeof(z[0]); i++)
		if (strncmp(z[i][0], owner, 4) == 0)
			return add_nsec3(s, z[i][0], flags, z[i][1], z[i][2]);
	abort();
}

#define MAXIT	NSEC3_MAX_ITERATIONS

static void
test_nsec3_nxdomain(void)
{
	struct nsec_proof p;
	struct set s;
	unsigned f;

	/*
	 * RFC 5155 B.1: a.c.x.w.example.  0p9m covers the next closer
	 * c.x.w.example, b4um matches the closest encloser x.w.example,
	 * 35mt covers the wildcard *.x.w.example.  The RFC's records have
	 * Opt-Out, which leaves room for an unsigned delegation at the
	 * next closer name: insecure.  Without Opt-Out: proven.
	 */
	names("example.", "a.c.x.w.example.");
	for (f = 0; f <= 1; f++) {
		memset(&s, 0, sizeof(s));
		chain5155(&s, "0p9m", f);
		chain5155(&s, "b4um", f);
		chain5155(&s, "35mt", f);
		CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w,
		    q_l, MAXIT, &p), f ? NSEC_OPTOUT : NSEC_PROVEN);
		CHECK(ce_is(&p, "x.w.example."));
		/* a.c.x.w, c.x.w, x.w and the wildcard, 12 iterations */
		CHECK_EQ(p.hashes, 4 * 13);
		CHECK_EQ(p.matched, 0);
		CHECK_EQ(p.nused, 3);
		CHECK_EQ(p.used[0], 1);		/* matches the encloser */
		CHECK_EQ(p.used[1], 0);		/* covers the next closer */
		CHECK_EQ(p.used[2], 2);		/* covers the wildcard */
	}
	/* Each record left out in turn: a gap, no proof. */
	memset(&s, 0, sizeof(s));
	chain5155(&s, "b4um", 0);
	chain5155(&s, "35mt", 0);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);
	memset(&s, 0, sizeof(s));
	chain5155(&s, "0p9m", 0);
	chain5155(&s, "35mt", 0);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);
	memset(&s, 0, sizeof(s));
	chain5155(&s, "0p9m", 0);
	chain5155(&s, "b4um", 0);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "no NSEC3 covers the wildcard");
	CHECK_EQ(nsec3_prove_nxdomain(NULL, 0, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);

	/* The closest encloser may not be a delegation (RFC 5155 8.3). */
	memset(&s, 0, sizeof(s));
	chain5155(&s, "0p9m", 0);
	add_nsec3(&s, "b4um86eghhds6nea196smvmlo4ors995", 0,
	    "gjeqe526plbf1g8mklp59enfd789njgi", "NS RRSIG");
	chain5155(&s, "35mt", 0);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "the closest encloser is a delegation or a DNAME");

	/*
	 * A name 40 labels below the zone: more names than one proof may
	 * hash (CVE-2023-50868), nothing hashed; 31 labels still are.
	 */
	names("example.", "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19."
	    "20.21.22.23.24.25.26.27.28.29.30.31.32.33.34.35.36.37.38.39."
	    "x.w.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "0p9m", 0);
	chain5155(&s, "b4um", 0);
	chain5155(&s, "35mt", 0);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "more names to hash than one proof may");
	CHECK_EQ(p.hashes, 0);
	CHECK_EQ(NSEC3_MAX_ITERATIONS, 50);
	CHECK_EQ(NSEC3_MAX_HASHED, 32);

	/* A name that exists: ns1.example. */
	names("example.", "ns1.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "2t7b", 0);
	chain5155(&s, "0p9m", 0);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "an NSEC3 matches the name");

	/*
	 * RFC 9276: over the iteration limit, insecure, and before any
	 * hashing; an unknown hash algorithm or flags: insecure too.
	 */
	names("example.", "a.c.x.w.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "0p9m", 0);
	chain5155(&s, "b4um", 0);
	chain5155(&s, "35mt", 0);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    11, &p), NSEC_UNSUPPORTED);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    12, &p), NSEC_PROVEN);
	memset(&s, 0, sizeof(s));
	add_nsec3_p(&s, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", 2, 0, 12,
	    "aabbccdd", "2t7b4g4vsa5smi47k61mv5bv1a22bojr", "A");
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_UNSUPPORTED);
	memset(&s, 0, sizeof(s));
	add_nsec3_p(&s, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", 1, 0x80, 12,
	    "aabbccdd", "2t7b4g4vsa5smi47k61mv5bv1a22bojr", "A");
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_UNSUPPORTED);
	/* ... but passed over beside a usable chain. */
	chain5155(&s, "0p9m", 0);
	chain5155(&s, "b4um", 0);
	chain5155(&s, "35mt", 0);
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_PROVEN);
	/*
	 * A record of other parameters (salt) is not of the chain the
	 * first record fixes: the proof misses it.
	 */
	memset(&s, 0, sizeof(s));
	chain5155(&s, "0p9m", 0);
	chain5155(&s, "b4um", 0);
	add_nsec3_p(&s, "35mthgpgcu1qg68fab165klnsnk3dpvl", 1, 0, 12,
	    "aabbccde", "b4um86eghhds6nea196smvmlo4ors995", "NS DS RRSIG");
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);
	/* Malformed: an owner that is no hash, RDATA cut short. */
	memset(&s, 0, sizeof(s));
	add_nsec3(&s, "0p9mhaveqvm6t7vbl5lop2u3t2rp3to", 0,
	    "2t7b4g4vsa5smi47k61mv5bv1a22bojr", "A");
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_MALFORMED);
	memset(&s, 0, sizeof(s));
	chain5155(&s, "0p9m", 0);
	s.rr[0].rdlen = 20;
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_MALFORMED);
	/* Records of another zone: no chain at all. */
	memset(&s, 0, sizeof(s));
	add_nsec3(&s, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.org.", 0,
	    "2t7b4g4vsa5smi47k61mv5bv1a22bojr", "A");
	CHECK_EQ(nsec3_prove_nxdomain(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    MAXIT, &p), NSEC_NO_PROOF);
}

static void
test_nsec3_nodata(void)
{
	struct nsec_proof p;
	struct set s;
	unsigned f;

	/* RFC 5155 B.2: ns1.example MX. */
	names("example.", "ns1.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "2t7b", 1);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_MX, MAXIT, &p), NSEC_PROVEN);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_A, MAXIT, &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "the type exists at the name");
	/* The wrong record: no proof. */
	memset(&s, 0, sizeof(s));
	chain5155(&s, "2vpt", 0);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_MX, MAXIT, &p), NSEC_NO_PROOF);

	/* RFC 5155 B.2.1: the empty non-terminal y.w.example A. */
	names("example.", "y.w.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "ji6n", 1);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_A, MAXIT, &p), NSEC_PROVEN);

	/*
	 * RFC 5155 B.5: wildcard no data, a.z.w.example AAAA: k8ud matches
	 * the closest encloser w.example, q04j covers the next closer
	 * z.w.example, r53b matches *.w.example, which has no AAAA.
	 */
	names("example.", "a.z.w.example.");
	for (f = 0; f <= 1; f++) {
		memset(&s, 0, sizeof(s));
		chain5155(&s, "k8ud", f);
		chain5155(&s, "q04j", f);
		chain5155(&s, "r53b", f);
		CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w,
		    q_l, T_AAAA, MAXIT, &p), NSEC_PROVEN);
		CHECK(ce_is(&p, "w.example."));
		CHECK_EQ(p.nused, 3);
		CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w,
		    q_l, T_MX, MAXIT, &p), NSEC_NO_PROOF);
	}
	/* Without the wildcard's record: Opt-Out or nothing. */
	for (f = 0; f <= 1; f++) {
		memset(&s, 0, sizeof(s));
		chain5155(&s, "k8ud", f);
		chain5155(&s, "q04j", f);
		CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w,
		    q_l, T_AAAA, MAXIT, &p), f ? NSEC_OPTOUT : NSEC_NO_PROOF);
	}
	memset(&s, 0, sizeof(s));
	chain5155(&s, "k8ud", 0);
	chain5155(&s, "r53b", 0);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_AAAA, MAXIT, &p), NSEC_NO_PROOF);

	/*
	 * RFC 5155 B.6: example DS answered from the child's own apex.
	 * A validator must not take the child's word on DS (the record
	 * has SOA); Unbound calls this bogus too.
	 */
	names("example.", "example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "0p9m", 1);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    DNS_TYPE_DS, MAXIT, &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_A, MAXIT, &p), NSEC_PROVEN);

	/* The parent's side of the delegation a.example: DS only. */
	names("example.", "a.example.");
	memset(&s, 0, sizeof(s));
	add_nsec3(&s, "35mthgpgcu1qg68fab165klnsnk3dpvl", 0,
	    "b4um86eghhds6nea196smvmlo4ors995", "NS RRSIG");
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    T_A, MAXIT, &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    DNS_TYPE_DS, MAXIT, &p), NSEC_PROVEN);

	/* RFC 5155 B.3's records for c.example DS: Opt-Out. */
	names("example.", "c.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "35mt", 1);
	chain5155(&s, "0p9m", 1);
	CHECK_EQ(nsec3_prove_nodata(s.rr, s.n, zone_w, zone_l, q_w, q_l,
	    DNS_TYPE_DS, MAXIT, &p), NSEC_OPTOUT);
}

static void
test_nsec3_wildcard(void)
{
	struct nsec_proof p;
	struct set s;

	/*
	 * RFC 5155 B.4: a.z.w.example MX from *.w.example (labels 2):
	 * q04j covers the next closer name z.w.example.
	 */
	names("example.", "a.z.w.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "q04j", 0);
	CHECK_EQ(nsec3_prove_wildcard(s.rr, s.n, zone_w, zone_l, q_w, q_l, 2,
	    MAXIT, &p), NSEC_PROVEN);
	CHECK(ce_is(&p, "w.example."));
	CHECK_EQ(p.nused, 1);
	memset(&s, 0, sizeof(s));
	chain5155(&s, "q04j", 1);
	CHECK_EQ(nsec3_prove_wildcard(s.rr, s.n, zone_w, zone_l, q_w, q_l, 2,
	    MAXIT, &p), NSEC_OPTOUT);
	/* The wrong labels field: the next closer w.example exists. */
	CHECK_EQ(nsec3_prove_wildcard(s.rr, s.n, zone_w, zone_l, q_w, q_l, 1,
	    MAXIT, &p), NSEC_NO_PROOF);
	/* The wrong record. */
	memset(&s, 0, sizeof(s));
	chain5155(&s, "r53b", 0);
	CHECK_EQ(nsec3_prove_wildcard(s.rr, s.n, zone_w, zone_l, q_w, q_l, 2,
	    MAXIT, &p), NSEC_NO_PROOF);
	CHECK_EQ(nsec3_prove_wildcard(NULL, 0, zone_w, zone_l, q_w, q_l, 2,
	    MAXIT, &p), NSEC_NO_PROOF);
	/* The wildcard itself asked for, with no NSEC3 at all. */
	names("example.", "*.w.example.");
	CHECK_EQ(nsec3_prove_wildcard(NULL, 0, zone_w, zone_l, q_w, q_l, 2,
	    MAXIT, &p), NSEC_PROVEN);
}

static void
test_nsec3_delegation(void)
{
	static const uint8_t salt[] = { 0xaa, 0xbb, 0xcc, 0xdd };
	struct nsec_proof p;
	struct set s;
	uint8_t h[NSEC3_SHA1_LEN];
	char owner[64];

	/*
	 * RFC 5155 B.3: the referral to c.example, unsigned, under
	 * Opt-Out: 35mt covers c.example, 0p9m matches the closest
	 * encloser example.
	 */
	names("example.", "c.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "35mt", 1);
	chain5155(&s, "0p9m", 1);
	CHECK_EQ(nsec3_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, MAXIT, &p), NSEC_OPTOUT);
	CHECK(ce_is(&p, "example."));
	/* Without Opt-Out the covering record proves nothing here. */
	memset(&s, 0, sizeof(s));
	chain5155(&s, "35mt", 0);
	chain5155(&s, "0p9m", 0);
	CHECK_EQ(nsec3_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, MAXIT, &p), NSEC_NO_PROOF);
	/* Without the encloser's record: a gap. */
	memset(&s, 0, sizeof(s));
	chain5155(&s, "35mt", 1);
	CHECK_EQ(nsec3_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, MAXIT, &p), NSEC_NO_PROOF);

	/* A matching NSEC3 with NS and no DS, made here for c.example. */
	CHECK_EQ(nsec3_hash(1, salt, sizeof(salt), 12, q_w, q_l, h), 0);
	nsec3_b32hex_encode(h, sizeof(h), owner, sizeof(owner));
	memset(&s, 0, sizeof(s));
	add_nsec3(&s, owner, 0, "b4um86eghhds6nea196smvmlo4ors995",
	    "NS RRSIG");
	CHECK_EQ(nsec3_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, MAXIT, &p), NSEC_PROVEN);
	/* The signed a.example of the RFC has a DS. */
	names("example.", "a.example.");
	memset(&s, 0, sizeof(s));
	chain5155(&s, "35mt", 1);
	CHECK_EQ(nsec3_prove_insecure_delegation(s.rr, s.n, zone_w, zone_l,
	    q_w, q_l, MAXIT, &p), NSEC_NO_PROOF);
	CHECK_STR(p.why, "the delegation has a DS");
}

static void
test_names(void)
{
	int i;

	for (i = 0; i < NSEC_RESULT_MAX; i++)
		CHECK(nsec_result_names[i] != NULL);
	CHECK_STR(nsec_result_names[NSEC_PROVEN], "proven");
	CHECK_STR(nsec_result_names[NSEC_OPTOUT], "optout");
	CHECK(nsec_result_names[NSEC_RESULT_MAX] == NULL);
}

int
main(void)
{
	test_order();
	test_bitmap();
	test_b32hex();
	test_hash();
	test_nsec_nxdomain();
	test_nsec_nodata();
	test_nsec_wildcard();
	test_nsec_delegation();
	test_nsec3_nxdomain();
	test_nsec3_nodata();
	test_nsec3_wildcard();
	test_nsec3_delegation();
	test_names();
	return check_summary();
}
