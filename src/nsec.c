/*
 * nsec: denial of existence with NSEC and NSEC3; see nsec.h.  Records
 * are parsed again each time a proof looks at them rather than copied
 * into a table, so nothing here is sized by how many the caller gives.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/nsec.h"

#define MAX_LABELS	128	/* 127 one-byte labels and the root */

const char *const nsec_result_names[] = {
	[NSEC_PROVEN] = "proven",
	[NSEC_OPTOUT] = "optout",
	[NSEC_UNSUPPORTED] = "unsupported",
	[NSEC_NO_PROOF] = "no_proof",
	[NSEC_MALFORMED] = "malformed",
	[NSEC_ERROR] = "error",
	[NSEC_RESULT_MAX] = NULL,
};

/* --- names --- */

static uint8_t
lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * The offsets of name's labels, leftmost first, and of its root byte
 * after them (off[count]).  The count of labels but the root, or -1 if
 * len bytes are not exactly one uncompressed name.
 */
static int
labels(const uint8_t *name, size_t len, uint8_t off[MAX_LABELS])
{
	size_t pos = 0;
	int n = 0;

	if (name == NULL || len == 0 || len > DNS_MAX_NAME)
		return -1;
	for (;;) {
		if (pos >= len || n >= MAX_LABELS)
			return -1;
		off[n] = (uint8_t)pos;
		if (name[pos] == 0)
			return pos + 1 == len ? n : -1;
		if (name[pos] > 63 || len - pos - 1 < name[pos])
			return -1;
		pos += 1 + (size_t)name[pos];
		n++;
	}
}

int
nsec_name_valid(const uint8_t *name, size_t len)
{
	uint8_t off[MAX_LABELS];

	return labels(name, len, off) >= 0;
}

static int
label_cmp(const uint8_t *a, const uint8_t *b)
{
	size_t i, n = a[0] < b[0] ? a[0] : b[0];

	for (i = 1; i <= n; i++)
		if (lower(a[i]) != lower(b[i]))
			return lower(a[i]) < lower(b[i]) ? -1 : 1;
	return (a[0] > b[0]) - (a[0] < b[0]);
}

static int
raw_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c;

	if ((c = memcmp(a, b, alen < blen ? alen : blen)) != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

int
nsec_name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	uint8_t oa[MAX_LABELS], ob[MAX_LABELS];
	int na, nb, i, j, c;

	na = labels(a, alen, oa);
	nb = labels(b, blen, ob);
	/* Some fixed order for what is not a name: below every name. */
	if (na < 0 || nb < 0) {
		if (na >= 0 || nb >= 0)
			return na < 0 ? -1 : 1;
		if (a == NULL || b == NULL)
			return (a != NULL) - (b != NULL);
		return raw_cmp(a, alen, b, blen);
	}
	for (i = na, j = nb; i > 0 && j > 0; )
		if ((c = label_cmp(a + oa[--i], b + ob[--j])) != 0)
			return c;
	return (na > nb) - (na < nb);
}

static int
name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return dnsmsg_name_equal(a, alen, b, blen);
}

/* Is name strictly below anc (both well formed)? */
static int
name_under(const uint8_t *name, size_t len, const uint8_t *anc,
    size_t anclen)
{
	return len > anclen && dnsmsg_name_below(name, len, anc, anclen);
}

/*
 * The offset in name (nlab labels at noff[]) where its deepest common
 * ancestor with other begins.
 */
static size_t
common_off(const uint8_t *name, const uint8_t *noff, int nlab,
    const uint8_t *other, size_t olen)
{
	uint8_t ooff[MAX_LABELS];
	int i, j;

	if ((j = labels(other, olen, ooff)) < 0)
		return noff[nlab];
	for (i = nlab; i > 0 && j > 0; i--, j--)
		if (label_cmp(name + noff[i - 1], other + ooff[j - 1]) != 0)
			break;
	return noff[i];
}

/* "*." and name into out (DNS_MAX_NAME); its length, or 0 if too long. */
static size_t
wildcard_of(const uint8_t *name, size_t len, uint8_t *out)
{
	if (len + 2 > DNS_MAX_NAME)
		return 0;
	out[0] = 1;
	out[1] = '*';
	memcpy(out + 2, name, len);
	return len + 2;
}

static int
is_wildcard_of(const uint8_t *name, size_t len, const uint8_t *parent,
    size_t plen)
{
	return len == plen + 2 && name[0] == 1 && name[1] == '*' &&
	    name_eq(name + 2, len - 2, parent, plen);
}

/* --- type bitmaps --- */

/*
 * Walk the windows of bm; for window win, point *win_bm at its bytes and
 * *win_len at their count.  1 while there is one, 0 at the end, -1 if
 * malformed.  *pos and *last carry the walk (start: 0 and -1).
 */
static int
bitmap_window(const uint8_t *bm, size_t len, size_t *pos, int *last,
    int *win, const uint8_t **win_bm, size_t *win_len)
{
	size_t p = *pos, wl;

	if (p == len)
		return 0;
	if (len - p < 2)
		return -1;
	wl = bm[p + 1];
	if ((int)bm[p] <= *last || wl < 1 || wl > 32 || len - p - 2 < wl)
		return -1;
	*win = bm[p];
	*last = bm[p];
	*win_bm = bm + p + 2;
	*win_len = wl;
	*pos = p + 2 + wl;
	return 1;
}

int
nsec_bitmap_valid(const uint8_t *bm, size_t len)
{
	const uint8_t *wb;
	size_t pos = 0, wl;
	int last = -1, win, r;

	if (bm == NULL)
		return len == 0;
	while ((r = bitmap_window(bm, len, &pos, &last, &win, &wb, &wl)) == 1)
		;
	return r == 0;
}

int
nsec_bitmap_has(const uint8_t *bm, size_t len, uint16_t type)
{
	const uint8_t *wb;
	size_t pos = 0, wl, byte = (type & 0xff) >> 3;
	int last = -1, win, r, found = 0;

	if (!nsec_bitmap_valid(bm, len))
		return -1;
	while ((r = bitmap_window(bm, len, &pos, &last, &win, &wb, &wl)) == 1)
		if (win == type >> 8 && byte < wl &&
		    (wb[byte] & (0x80 >> (type & 7))) != 0)
			found = 1;
	return found;
}

long
nsec_bitmap_next(const uint8_t *bm, size_t len, long after)
{
	const uint8_t *wb;
	size_t pos = 0, wl, i;
	int last = -1, win, r, bit;
	long t;

	if (!nsec_bitmap_valid(bm, len) || after >= 65535)
		return -1;
	while ((r = bitmap_window(bm, len, &pos, &last, &win, &wb, &wl)) == 1)
		for (i = 0; i < wl; i++)
			for (bit = 0; bit < 8; bit++) {
				t = (long)win << 8 | (long)(i << 3) | bit;
				if (t > after && (wb[i] & (0x80 >> bit)))
					return t;
			}
	return -1;
}

/* A type known present in a bitmap already checked. */
static int
has(const uint8_t *bm, size_t len, uint16_t type)
{
	return nsec_bitmap_has(bm, len, type) == 1;
}

/* --- RDATA --- */

int
nsec_parse(const uint8_t *rdata, size_t rdlen, struct nsec_rdata *out)
{
	size_t pos = 0;

	if (rdata == NULL)
		return -1;
	/* Labels up to the root; a pointer (0xc0) or 0x40/0x80 fails. */
	for (;;) {
		if (pos >= rdlen || pos >= DNS_MAX_NAME)
			return -1;
		if (rdata[pos] == 0)
			break;
		if (rdata[pos] > 63)
			return -1;
		pos += 1 + (size_t)rdata[pos];
	}
	pos++;
	if (!nsec_name_valid(rdata, pos) ||
	    !nsec_bitmap_valid(rdata + pos, rdlen - pos))
		return -1;
	out->next = rdata;
	out->next_len = pos;
	out->bitmap = rdata + pos;
	out->bitmap_len = rdlen - pos;
	return 0;
}

int
nsec3_parse(const uint8_t *rdata, size_t rdlen, struct nsec3_rdata *out)
{
	struct dnsmsg_rd r;
	uint8_t slen, hlen;

	if (rdata == NULL)
		return -1;
	dnsmsg_rd_init(&r, rdata, rdlen);
	if (dnsmsg_rd_u8(&r, &out->alg) == -1 ||
	    dnsmsg_rd_u8(&r, &out->flags) == -1 ||
	    dnsmsg_rd_u16(&r, &out->iterations) == -1 ||
	    dnsmsg_rd_u8(&r, &slen) == -1 ||
	    dnsmsg_rd_bytes(&r, slen, &out->salt) == -1 ||
	    dnsmsg_rd_u8(&r, &hlen) == -1 || hlen == 0 ||
	    dnsmsg_rd_bytes(&r, hlen, &out->next) == -1)
		return -1;
	out->salt_len = slen;
	out->next_len = hlen;
	out->bitmap = rdata + r.off;
	out->bitmap_len = dnsmsg_rd_left(&r);
	return nsec_bitmap_valid(out->bitmap, out->bitmap_len) ? 0 : -1;
}

/* --- NSEC3 hash and base32hex --- */

int
nsec3_hash(uint8_t alg, const uint8_t *salt, size_t salt_len,
    uint16_t iterations, const uint8_t *name, size_t len,
    uint8_t out[NSEC3_SHA1_LEN])
{
	uint8_t canon[DNS_MAX_NAME];
	EVP_MD_CTX *ctx = NULL;
	EVP_MD *md = NULL;
	unsigned k;
	size_t i;
	int ret = -1;

	if (alg != NSEC3_HASH_SHA1 || !nsec_name_valid(name, len) ||
	    salt_len > 255 || (salt == NULL && salt_len != 0))
		return -1;
	for (i = 0; i < len; i++)
		canon[i] = lower(name[i]);
	/* Fetched once per hash, not once per iteration (OpenSSL 3). */
	if ((md = EVP_MD_fetch(NULL, "SHA1", NULL)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL)
		goto done;
	for (k = 0; k <= iterations; k++) {
		if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
		    EVP_DigestUpdate(ctx, k == 0 ? canon : out,
		    k == 0 ? len : NSEC3_SHA1_LEN) != 1 ||
		    (salt_len > 0 &&
		    EVP_DigestUpdate(ctx, salt, salt_len) != 1) ||
		    EVP_DigestFinal_ex(ctx, out, NULL) != 1)
			goto done;
	}
	ret = 0;
done:
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	return ret;
}

static const char b32hex[] = "0123456789abcdefghijklmnopqrstuv";

size_t
nsec3_b32hex_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t i, o = 0, need;
	unsigned acc = 0, bits = 0;

	if (cap > 0)
		out[0] = '\0';
	if (n > (SIZE_MAX - 5) / 8)
		return 0;
	need = (n * 8 + 4) / 5;
	if (cap <= need)
		return 0;
	for (i = 0; i < n; i++) {
		acc = (acc << 8 | in[i]) & 0xfff;
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32hex[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[o++] = b32hex[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return o;
}

static int
b32hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'v')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'V')
		return c - 'A' + 10;
	return -1;
}

int
nsec3_b32hex_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t i, o = 0;
	unsigned acc = 0, bits = 0;
	int v;

	if (len > (size_t)INT32_MAX / 5 || len * 5 / 8 > cap)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = b32hex_value(in[i])) < 0)
			return -1;
		acc = (acc << 5 | (unsigned)v) & 0xfff;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Canonical only: fewer than 5 bits left over, and all zero. */
	if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (int)o;
}

/* --- proofs: common parts --- */

static enum nsec_result
done(struct nsec_proof *p, enum nsec_result r, const char *why)
{
	if (p != NULL)
		p->why = why;
	return r;
}

static void
use(struct nsec_proof *p, size_t i)
{
	if (p != NULL && p->nused < NSEC_PROOF_USED)
		p->used[p->nused++] = i;
}

/* Record i is the name's own (its owner, or its owner hash). */
static void
use_match(struct nsec_proof *p, size_t i)
{
	use(p, i);
	if (p != NULL && p->nused == 1)
		p->matched = 1;
}

static void
set_ce(struct nsec_proof *p, const uint8_t *ce, size_t len)
{
	if (p != NULL && len <= sizeof(p->ce)) {
		memcpy(p->ce, ce, len);
		p->ce_len = len;
	}
}

/*
 * The checks every proof starts with: zone and qname well formed
 * (MALFORMED), qname at or below zone (NO_PROOF).  -1 to go on.
 */
static int
start(struct nsec_proof *p, const uint8_t *zone, size_t zone_len,
    const uint8_t *qname, size_t qname_len, enum nsec_result *r)
{
	if (p != NULL) {
		p->why = "";
		p->ce_len = 0;
		p->nused = 0;
		p->matched = 0;
		p->hashes = 0;
	}
	if (!nsec_name_valid(zone, zone_len) ||
	    !nsec_name_valid(qname, qname_len)) {
		*r = done(p, NSEC_MALFORMED, "name malformed");
		return 0;
	}
	if (!dnsmsg_name_below(qname, qname_len, zone, zone_len)) {
		*r = done(p, NSEC_NO_PROOF, "name outside the zone");
		return 0;
	}
	return -1;
}

/*
 * Why types at a name with bitmap bm do not prove qtype absent there,
 * or NULL if they do.  A CNAME would have been the answer (RFC 6840
 * 4.3).  The parent's side of a delegation (NS without SOA) speaks
 * only for DS, and the child's apex (SOA) never for DS but at the root
 * (RFC 6840 4.1, RFC 5155 8.5 and 8.6).
 */
static const char *
nodata_types(const uint8_t *bm, size_t len, uint16_t qtype, int root)
{
	if (has(bm, len, qtype))
		return "the type exists at the name";
	if (has(bm, len, DNS_TYPE_CNAME))
		return "the name has a CNAME";
	if (qtype == DNS_TYPE_DS) {
		if (has(bm, len, DNS_TYPE_SOA) && !root)
			return "the child zone's apex cannot deny its DS";
	} else if (has(bm, len, DNS_TYPE_NS) && !has(bm, len, DNS_TYPE_SOA))
		return "the parent side of a delegation speaks only for DS";
	return NULL;
}

/* Why a delegation's types do not make it insecure, or NULL. */
static const char *
delegation_types(const uint8_t *bm, size_t len)
{
	if (!has(bm, len, DNS_TYPE_NS))
		return "the name is not a delegation";
	if (has(bm, len, DNS_TYPE_SOA))
		return "the name is a zone apex, not a delegation";
	if (has(bm, len, DNS_TYPE_DS))
		return "the delegation has a DS";
	return NULL;
}

/* The rightmost `labels` labels of qname, and the next closer name. */
static int
wildcard_parent(const uint8_t *qname, size_t qlen, unsigned lab,
    size_t *parent_off, size_t *nc_off)
{
	uint8_t off[MAX_LABELS];
	int n;

	if ((n = labels(qname, qlen, off)) < 0 || lab >= (unsigned)n)
		return -1;
	*parent_off = off[n - lab];
	*nc_off = off[n - lab - 1];
	return 0;
}

/*
 * What both wildcard proofs check first: the labels field leaves a
 * parent in the zone (else NO_PROOF), and the name may be the wildcard
 * itself, which needs no denial at all (PROVEN, whatever records come
 * with it).  NSEC_ERROR to go on.
 */
static enum nsec_result
wildcard_start(const uint8_t *zone, size_t zone_len, const uint8_t *qname,
    size_t qname_len, unsigned lab, size_t *parent, size_t *nc,
    struct nsec_proof *p)
{
	if (wildcard_parent(qname, qname_len, lab, parent, nc) == -1)
		return done(p, NSEC_NO_PROOF,
		    "the labels field makes no wildcard of the name");
	if (!dnsmsg_name_below(qname + *parent, qname_len - *parent, zone,
	    zone_len))
		return done(p, NSEC_NO_PROOF,
		    "the wildcard is outside the zone");
	if (is_wildcard_of(qname, qname_len, qname + *parent,
	    qname_len - *parent)) {
		set_ce(p, qname + *parent, qname_len - *parent);
		return done(p, NSEC_PROVEN, "the name is the wildcard");
	}
	return NSEC_ERROR;
}

/* --- NSEC --- */

struct nsec_view {
	const uint8_t		*owner;
	size_t			 owner_len;
	struct nsec_rdata	 rd;
};

/*
 * Record i of the set as a view: 1 if it belongs to zone, 0 if it is
 * passed over, -1 if malformed.
 */
static int
nsec_get(const struct nsec_rr *set, size_t i, const uint8_t *zone,
    size_t zone_len, struct nsec_view *v)
{
	if (!nsec_name_valid(set[i].owner, set[i].owner_len) ||
	    nsec_parse(set[i].rdata, set[i].rdlen, &v->rd) == -1)
		return -1;
	v->owner = set[i].owner;
	v->owner_len = set[i].owner_len;
	return dnsmsg_name_below(v->owner, v->owner_len, zone, zone_len) &&
	    dnsmsg_name_below(v->rd.next, v->rd.next_len, zone, zone_len);
}

/* Every record parses: NO_PROOF-free start for the NSEC proofs. */
static int
nsec_check_set(const struct nsec_rr *set, size_t n, const uint8_t *zone,
    size_t zone_len)
{
	struct nsec_view v;
	size_t i;

	for (i = 0; i < n; i++)
		if (nsec_get(set, i, zone, zone_len, &v) == -1)
			return -1;
	return 0;
}

/*
 * Is name below v's owner where the owner is the parent's side of a
 * delegation or a DNAME, so v cannot speak for it (RFC 6840 4.1)?
 */
static int
nsec_beneath_cut(const struct nsec_view *v, const uint8_t *name, size_t len)
{
	const uint8_t *bm = v->rd.bitmap;
	size_t bl = v->rd.bitmap_len;

	return name_under(name, len, v->owner, v->owner_len) &&
	    (has(bm, bl, DNS_TYPE_DNAME) || (has(bm, bl, DNS_TYPE_NS) &&
	    !has(bm, bl, DNS_TYPE_SOA)));
}

/*
 * Does v deny name: name strictly between owner and next (the last
 * NSEC of the zone wraps round to the apex), next not below name (an
 * empty non-terminal exists), and not beneath a delegation or DNAME
 * at the owner (RFC 6840 4.1)?
 */
static int
nsec_denies(const struct nsec_view *v, const uint8_t *name, size_t len)
{
	if (nsec_name_cmp(v->owner, v->owner_len, name, len) >= 0)
		return 0;
	if (nsec_name_cmp(v->owner, v->owner_len, v->rd.next,
	    v->rd.next_len) < 0 &&
	    nsec_name_cmp(name, len, v->rd.next, v->rd.next_len) >= 0)
		return 0;
	if (name_under(v->rd.next, v->rd.next_len, name, len))
		return 0;
	return !nsec_beneath_cut(v, name, len);
}

/* The closest encloser an NSEC denying qname shows: its offset. */
static size_t
nsec_ce(const struct nsec_view *v, const uint8_t *qname, size_t qlen)
{
	uint8_t off[MAX_LABELS];
	size_t a, b;
	int n;

	n = labels(qname, qlen, off);
	a = common_off(qname, off, n, v->owner, v->owner_len);
	b = common_off(qname, off, n, v->rd.next, v->rd.next_len);
	return a < b ? a : b;	/* the deeper one starts earlier */
}

static int
nsec_find_match(const struct nsec_rr *set, size_t n, const uint8_t *zone,
    size_t zone_len, const uint8_t *name, size_t len, size_t from,
    struct nsec_view *v)
{
	size_t i;

	for (i = from; i < n; i++)
		if (nsec_get(set, i, zone, zone_len, v) == 1 &&
		    name_eq(v->owner, v->owner_len, name, len))
			return (int)i;
	return -1;
}

static int
nsec_find_denial(const struct nsec_rr *set, size_t n, const uint8_t *zone,
    size_t zone_len, const uint8_t *name, size_t len, size_t from,
    struct nsec_view *v)
{
	size_t i;

	for (i = from; i < n; i++)
		if (nsec_get(set, i, zone, zone_len, v) == 1 &&
		    nsec_denies(v, name, len))
			return (int)i;
	return -1;
}

enum nsec_result
nsec_prove_nxdomain(const struct nsec_rr *set, size_t n, const uint8_t *zone,
    size_t zone_len, const uint8_t *qname, size_t qname_len,
    struct nsec_proof *proof)
{
	struct nsec_view v, w;
	uint8_t wc[DNS_MAX_NAME];
	const char *why = "no NSEC denies the name";
	enum nsec_result r;
	size_t ce, wlen;
	int i, j;

	if (start(proof, zone, zone_len, qname, qname_len, &r) != -1)
		return r;
	if (nsec_check_set(set, n, zone, zone_len) == -1)
		return done(proof, NSEC_MALFORMED, "NSEC record malformed");
	if (nsec_find_match(set, n, zone, zone_len, qname, qname_len, 0,
	    &v) != -1)
		return done(proof, NSEC_NO_PROOF, "an NSEC shows the name");
	/* Try each denial: a replayed old NSEC must not hide a good one. */
	for (i = -1; (i = nsec_find_denial(set, n, zone, zone_len, qname,
	    qname_len, (size_t)(i + 1), &v)) != -1; ) {
		ce = nsec_ce(&v, qname, qname_len);
		if ((wlen = wildcard_of(qname + ce, qname_len - ce, wc)) == 0)
			continue;
		if (nsec_find_match(set, n, zone, zone_len, wc, wlen, 0,
		    &w) != -1) {
			why = "the wildcard at the closest encloser exists";
			continue;
		}
		j = nsec_find_denial(set, n, zone, zone_len, wc, wlen, 0, &w);
		if (j == -1) {
			why = "no NSEC denies the wildcard";
			continue;
		}
		set_ce(proof, qname + ce, qname_len - ce);
		use(proof, (size_t)i);
		use(proof, (size_t)j);
		return done(proof, NSEC_PROVEN,
		    "NSEC deny the name and the wildcard");
	}
	return done(proof, NSEC_NO_PROOF, why);
}

enum nsec_result
nsec_prove_nodata(const struct nsec_rr *set, size_t n, const uint8_t *zone,
    size_t zone_len, const uint8_t *qname, size_t qname_len, uint16_t qtype,
    struct nsec_proof *proof)
{
	struct nsec_view v, w;
	uint8_t wc[DNS_MAX_NAME];
	const char *why = NULL, *bad;
	enum nsec_result r;
	size_t ce, wlen;
	int i, j;

	if (start(proof, zone, zone_len, qname, qname_len, &r) != -1)
		return r;
	if (nsec_check_set(set, n, zone, zone_len) == -1)
		return done(proof, NSEC_MALFORMED, "NSEC record malformed");
	for (i = -1; (i = nsec_find_match(set, n, zone, zone_len, qname,
	    qname_len, (size_t)(i + 1), &v)) != -1; ) {
		bad = nodata_types(v.rd.bitmap, v.rd.bitmap_len, qtype,
		    qname_len == 1);
		if (bad == NULL) {
			use_match(proof, (size_t)i);
			return done(proof, NSEC_PROVEN,
			    "an NSEC at the name lacks the type");
		}
		why = bad;
	}
	if (why != NULL)
		return done(proof, NSEC_NO_PROOF, why);
	/* An empty non-terminal: an NSEC whose next name is below qname. */
	for (i = 0; (size_t)i < n; i++) {
		if (nsec_get(set, (size_t)i, zone, zone_len, &v) != 1 ||
		    !name_under(v.rd.next, v.rd.next_len, qname, qname_len) ||
		    nsec_name_cmp(v.owner, v.owner_len, qname,
		    qname_len) >= 0 || nsec_beneath_cut(&v, qname, qname_len))
			continue;
		use(proof, (size_t)i);
		return done(proof, NSEC_PROVEN,
		    "the name is an empty non-terminal");
	}
	why = "no NSEC matches or denies the name";
	for (i = -1; (i = nsec_find_denial(set, n, zone, zone_len, qname,
	    qname_len, (size_t)(i + 1), &v)) != -1; ) {
		ce = nsec_ce(&v, qname, qname_len);
		if ((wlen = wildcard_of(qname + ce, qname_len - ce, wc)) == 0)
			continue;
		why = "no NSEC at the wildcard of the closest encloser";
		for (j = -1; (j = nsec_find_match(set, n, zone, zone_len, wc,
		    wlen, (size_t)(j + 1), &w)) != -1; ) {
			bad = nodata_types(w.rd.bitmap, w.rd.bitmap_len, qtype,
			    0);
			if (bad != NULL) {
				why = bad;
				continue;
			}
			set_ce(proof, qname + ce, qname_len - ce);
			use(proof, (size_t)i);
			use(proof, (size_t)j);
			return done(proof, NSEC_PROVEN,
			    "the wildcard matching the name lacks the type");
		}
	}
	return done(proof, NSEC_NO_PROOF, why);
}

enum nsec_result
nsec_prove_wildcard(const struct nsec_rr *set, size_t n, const uint8_t *zone,
    size_t zone_len, const uint8_t *qname, size_t qname_len, unsigned lab,
    struct nsec_proof *proof)
{
	struct nsec_view v;
	enum nsec_result r;
	size_t parent, nc;
	int i;

	if (start(proof, zone, zone_len, qname, qname_len, &r) != -1)
		return r;
	if ((r = wildcard_start(zone, zone_len, qname, qname_len, lab,
	    &parent, &nc, proof)) != NSEC_ERROR)
		return r;
	if (nsec_check_set(set, n, zone, zone_len) == -1)
		return done(proof, NSEC_MALFORMED, "NSEC record malformed");
	set_ce(proof, qname + parent, qname_len - parent);
	for (i = -1; (i = nsec_find_denial(set, n, zone, zone_len, qname,
	    qname_len, (size_t)(i + 1), &v)) != -1; ) {
		if (nsec_ce(&v, qname, qname_len) != parent)
			continue;
		use(proof, (size_t)i);
		return done(proof, NSEC_PROVEN,
		    "an NSEC denies the name and any closer match");
	}
	return done(proof, NSEC_NO_PROOF,
	    "no NSEC denies the name below the wildcard's parent");
}

enum nsec_result
nsec_prove_insecure_delegation(const struct nsec_rr *set, size_t n,
    const uint8_t *zone, size_t zone_len, const uint8_t *name,
    size_t name_len, struct nsec_proof *proof)
{
	struct nsec_view v;
	const char *why = "no NSEC at the delegation", *bad;
	enum nsec_result r;
	int i;

	if (start(proof, zone, zone_len, name, name_len, &r) != -1)
		return r;
	if (nsec_check_set(set, n, zone, zone_len) == -1)
		return done(proof, NSEC_MALFORMED, "NSEC record malformed");
	for (i = -1; (i = nsec_find_match(set, n, zone, zone_len, name,
	    name_len, (size_t)(i + 1), &v)) != -1; ) {
		if ((bad = delegation_types(v.rd.bitmap,
		    v.rd.bitmap_len)) != NULL) {
			why = bad;
			continue;
		}
		use_match(proof, (size_t)i);
		return done(proof, NSEC_PROVEN,
		    "an NSEC shows a delegation without DS");
	}
	return done(proof, NSEC_NO_PROOF, why);
}

/* --- NSEC3 --- */

/* The chain a proof uses: the zone and the parameters of its records. */
struct n3 {
	const struct nsec_rr	*set;
	size_t			 n;
	const uint8_t		*zone;
	size_t			 zone_len;
	uint8_t			 alg;
	uint16_t		 iterations;
	const uint8_t		*salt;
	size_t			 salt_len;
	unsigned		 names;		/* hashed so far */
	struct nsec_proof	*p;		/* counts the hashes */
};

/* One record of the chain: the hash its owner carries, its RDATA. */
struct n3_view {
	uint8_t			 owner[NSEC3_MAX_HASH];
	struct nsec3_rdata	 rd;
};

/*
 * Record i as a view: 1 if it is of the chain's zone, algorithm and
 * parameters; 0 if passed over; -1 if its owner or RDATA is malformed.
 * With c->alg 0 (no chain yet), any supported record of the zone is 1.
 */
static int
n3_get(const struct n3 *c, size_t i, struct n3_view *v)
{
	const struct nsec_rr *rr = &c->set[i];
	size_t lab;
	int len;

	if (!nsec_name_valid(rr->owner, rr->owner_len) ||
	    nsec3_parse(rr->rdata, rr->rdlen, &v->rd) == -1)
		return -1;
	if (v->rd.alg != NSEC3_HASH_SHA1 || v->rd.flags > 1)
		return 0;	/* RFC 5155 8.1, 8.2 */
	lab = rr->owner[0];
	if (lab == 0 || !name_eq(rr->owner + 1 + lab,
	    rr->owner_len - 1 - lab, c->zone, c->zone_len))
		return 0;
	len = nsec3_b32hex_decode((const char *)rr->owner + 1, lab,
	    v->owner, sizeof(v->owner));
	if (len != NSEC3_SHA1_LEN || v->rd.next_len != NSEC3_SHA1_LEN)
		return -1;
	if (c->alg != 0 && (v->rd.iterations != c->iterations ||
	    v->rd.salt_len != c->salt_len ||
	    memcmp(v->rd.salt, c->salt, c->salt_len) != 0))
		return 0;
	return 1;
}

/*
 * Check the set and fix the chain's parameters: -1 to go on, else the
 * result to give (*r).
 */
static int
n3_start(struct n3 *c, const struct nsec_rr *set, size_t n,
    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
    size_t qname_len, unsigned max_iter, struct nsec_proof *p,
    enum nsec_result *r)
{
	struct n3_view v;
	size_t i;
	int got, unknown = 0;

	if (start(p, zone, zone_len, qname, qname_len, r) != -1)
		return 0;
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->set = set;
	c->n = n;
	c->zone = zone;
	c->zone_len = zone_len;
	for (i = 0; i < n; i++) {
		if ((got = n3_get(c, i, &v)) == -1) {
			*r = done(p, NSEC_MALFORMED, "NSEC3 record malformed");
			return 0;
		}
		if (got == 0 && (v.rd.alg != NSEC3_HASH_SHA1 ||
		    v.rd.flags > 1))
			unknown = 1;
		if (got == 1 && c->alg == 0) {
			c->alg = v.rd.alg;
			c->iterations = v.rd.iterations;
			c->salt = v.rd.salt;
			c->salt_len = v.rd.salt_len;
		}
	}
	if (c->alg == 0) {
		*r = unknown ? done(p, NSEC_UNSUPPORTED,
		    "no NSEC3 record of a known hash algorithm and flags") :
		    done(p, NSEC_NO_PROOF, "no NSEC3 record of the zone");
		return 0;
	}
	/*
	 * Above the limit nothing is hashed and the proof is UNSUPPORTED
	 * (insecure, RFC 9276 3.2) before any record is matched: the
	 * documented downgrade of a zone that chose too many iterations.
	 */
	if (c->iterations > max_iter) {
		*r = done(p, NSEC_UNSUPPORTED, "NSEC3 iterations above limit");
		return 0;
	}
	return -1;
}

/*
 * H(name) with the chain's parameters, counted: 0, -1 (OpenSSL failed),
 * or -2 past NSEC3_MAX_HASHED names in one proof (CVE-2023-50868).
 */
static int
n3_hash(struct n3 *c, const uint8_t *name, size_t len,
    uint8_t h[NSEC3_SHA1_LEN])
{
	if (c->names >= NSEC3_MAX_HASHED)
		return -2;
	c->names++;
	if (c->p != NULL)
		c->p->hashes += (unsigned)c->iterations + 1;
	return nsec3_hash(c->alg, c->salt, c->salt_len, c->iterations, name,
	    len, h);
}

/* The result of a failed n3_hash(). */
static enum nsec_result
hash_fail(struct nsec_proof *p, int rc)
{
	return rc == -2 ? done(p, NSEC_NO_PROOF,
	    "more names to hash than one proof may") :
	    done(p, NSEC_ERROR, "NSEC3 hash failed");
}

/* The first record whose owner hash is h, or -1. */
static int
n3_match(const struct n3 *c, const uint8_t *h, struct n3_view *v)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (n3_get(c, i, v) == 1 &&
		    memcmp(v->owner, h, NSEC3_SHA1_LEN) == 0)
			return (int)i;
	return -1;
}

/*
 * The first record covering h, or -1: owner < h < next, or the last
 * of the chain (next <= owner), which covers past the end and wraps.
 */
static int
n3_cover(const struct n3 *c, const uint8_t *h, struct n3_view *v)
{
	size_t i;
	int lo, hi;

	for (i = 0; i < c->n; i++) {
		if (n3_get(c, i, v) != 1)
			continue;
		lo = memcmp(v->owner, h, NSEC3_SHA1_LEN) < 0;
		hi = memcmp(h, v->rd.next, NSEC3_SHA1_LEN) < 0;
		if (memcmp(v->owner, v->rd.next, NSEC3_SHA1_LEN) < 0 ?
		    lo && hi : lo || hi)
			return (int)i;
	}
	return -1;
}

/* What a closest encloser proof found. */
struct n3_ce {
	size_t	off;		/* where the closest encloser starts */
	size_t	nc_off;		/* where the next closer name starts */
	int	match;		/* record matching the closest encloser */
	int	cover;		/* record covering the next closer name */
	int	optout;		/* that record has Opt-Out */
};

/*
 * RFC 5155 8.3, walking up from qname to the zone.  A record matching
 * qname itself fails the proof (the name exists): the callers that
 * accept that look for it first.
 */
static enum nsec_result
n3_ce_proof(struct n3 *c, const uint8_t *qname, size_t qlen,
    struct n3_ce *ce, struct nsec_proof *p)
{
	struct n3_view v;
	uint8_t off[MAX_LABELS], h[NSEC3_SHA1_LEN];
	const uint8_t *bm;
	uint8_t zoff[MAX_LABELS];
	int nq, nz, d, m, rc, cover = -1, optout = 0;
	size_t bl;

	nq = labels(qname, qlen, off);
	nz = labels(c->zone, c->zone_len, zoff);
	if (nq - nz + 1 > NSEC3_MAX_HASHED)
		return hash_fail(p, -2);
	for (d = 0; d <= nq - nz; d++) {
		if ((rc = n3_hash(c, qname + off[d], qlen - off[d], h)) != 0)
			return hash_fail(p, rc);
		if ((m = n3_match(c, h, &v)) != -1) {
			if (d == 0)
				return done(p, NSEC_NO_PROOF,
				    "an NSEC3 matches the name");
			if (cover == -1)
				return done(p, NSEC_NO_PROOF, "no NSEC3 covers "
				    "the next closer name");
			bm = v.rd.bitmap;
			bl = v.rd.bitmap_len;
			if (has(bm, bl, DNS_TYPE_DNAME) ||
			    (has(bm, bl, DNS_TYPE_NS) &&
			    !has(bm, bl, DNS_TYPE_SOA)))
				return done(p, NSEC_NO_PROOF, "the closest "
				    "encloser is a delegation or a DNAME");
			ce->off = off[d];
			ce->nc_off = off[d - 1];
			ce->match = m;
			ce->cover = cover;
			ce->optout = optout;
			set_ce(p, qname + off[d], qlen - off[d]);
			use(p, (size_t)m);
			use(p, (size_t)cover);
			return NSEC_PROVEN;
		}
		if ((cover = n3_cover(c, h, &v)) != -1)
			optout = (v.rd.flags & NSEC3_FLAG_OPTOUT) != 0;
	}
	return done(p, NSEC_NO_PROOF, "no NSEC3 matches an ancestor");
}

enum nsec_result
nsec3_prove_nxdomain(const struct nsec_rr *set, size_t n,
    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
    size_t qname_len, unsigned max_iter, struct nsec_proof *proof)
{
	struct n3 c;
	struct n3_ce ce;
	struct n3_view v;
	uint8_t wc[DNS_MAX_NAME], h[NSEC3_SHA1_LEN];
	enum nsec_result r;
	size_t wlen;
	int w, rc;

	if (n3_start(&c, set, n, zone, zone_len, qname, qname_len, max_iter,
	    proof, &r) != -1)
		return r;
	if ((r = n3_ce_proof(&c, qname, qname_len, &ce, proof)) !=
	    NSEC_PROVEN)
		return r;
	if ((wlen = wildcard_of(qname + ce.off, qname_len - ce.off, wc)) == 0)
		return done(proof, NSEC_ERROR, "NSEC3 hash failed");
	if ((rc = n3_hash(&c, wc, wlen, h)) != 0)
		return hash_fail(proof, rc);
	if (n3_match(&c, h, &v) != -1)
		return done(proof, NSEC_NO_PROOF,
		    "the wildcard at the closest encloser exists");
	if ((w = n3_cover(&c, h, &v)) == -1)
		return done(proof, NSEC_NO_PROOF,
		    "no NSEC3 covers the wildcard");
	use(proof, (size_t)w);
	if (ce.optout)
		return done(proof, NSEC_OPTOUT,
		    "an Opt-Out NSEC3 covers the next closer name");
	return done(proof, NSEC_PROVEN,
	    "closest encloser proven, the wildcard covered");
}

enum nsec_result
nsec3_prove_nodata(const struct nsec_rr *set, size_t n, const uint8_t *zone,
    size_t zone_len, const uint8_t *qname, size_t qname_len, uint16_t qtype,
    unsigned max_iter, struct nsec_proof *proof)
{
	struct n3 c;
	struct n3_ce ce;
	struct n3_view v;
	uint8_t wc[DNS_MAX_NAME], h[NSEC3_SHA1_LEN];
	const char *bad;
	enum nsec_result r;
	size_t wlen;
	int m, rc;

	if (n3_start(&c, set, n, zone, zone_len, qname, qname_len, max_iter,
	    proof, &r) != -1)
		return r;
	if ((rc = n3_hash(&c, qname, qname_len, h)) != 0)
		return hash_fail(proof, rc);
	if ((m = n3_match(&c, h, &v)) != -1) {
		if ((bad = nodata_types(v.rd.bitmap, v.rd.bitmap_len, qtype,
		    qname_len == 1)) != NULL)
			return done(proof, NSEC_NO_PROOF, bad);
		use_match(proof, (size_t)m);
		return done(proof, NSEC_PROVEN,
		    "an NSEC3 at the name lacks the type");
	}
	if ((r = n3_ce_proof(&c, qname, qname_len, &ce, proof)) !=
	    NSEC_PROVEN)
		return r;
	if ((wlen = wildcard_of(qname + ce.off, qname_len - ce.off, wc)) == 0)
		return done(proof, NSEC_ERROR, "NSEC3 hash failed");
	if ((rc = n3_hash(&c, wc, wlen, h)) != 0)
		return hash_fail(proof, rc);
	if ((m = n3_match(&c, h, &v)) != -1) {
		if ((bad = nodata_types(v.rd.bitmap, v.rd.bitmap_len, qtype,
		    0)) != NULL)
			return done(proof, NSEC_NO_PROOF, bad);
		use(proof, (size_t)m);
		return done(proof, NSEC_PROVEN,
		    "the wildcard matching the name lacks the type");
	}
	if (ce.optout)
		return done(proof, NSEC_OPTOUT,
		    "an Opt-Out NSEC3 covers the next closer name");
	return done(proof, NSEC_NO_PROOF,
	    "no NSEC3 matches the name or the wildcard");
}

enum nsec_result
nsec3_prove_wildcard(const struct nsec_rr *set, size_t n,
    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
    size_t qname_len, unsigned lab, unsigned max_iter,
    struct nsec_proof *proof)
{
	struct n3 c;
	struct n3_view v;
	uint8_t h[NSEC3_SHA1_LEN];
	enum nsec_result r;
	size_t parent, nc;
	int w, rc;

	if (start(proof, zone, zone_len, qname, qname_len, &r) != -1)
		return r;
	if ((r = wildcard_start(zone, zone_len, qname, qname_len, lab,
	    &parent, &nc, proof)) != NSEC_ERROR)
		return r;
	if (n3_start(&c, set, n, zone, zone_len, qname, qname_len, max_iter,
	    proof, &r) != -1)
		return r;
	set_ce(proof, qname + parent, qname_len - parent);
	if ((rc = n3_hash(&c, qname + nc, qname_len - nc, h)) != 0)
		return hash_fail(proof, rc);
	if ((w = n3_cover(&c, h, &v)) == -1)
		return done(proof, NSEC_NO_PROOF,
		    "no NSEC3 covers the next closer name");
	use(proof, (size_t)w);
	if (v.rd.flags & NSEC3_FLAG_OPTOUT)
		return done(proof, NSEC_OPTOUT,
		    "an Opt-Out NSEC3 covers the next closer name");
	return done(proof, NSEC_PROVEN,
	    "an NSEC3 covers the next closer name");
}

enum nsec_result
nsec3_prove_insecure_delegation(const struct nsec_rr *set, size_t n,
    const uint8_t *zone, size_t zone_len, const uint8_t *name,
    size_t name_len, unsigned max_iter, struct nsec_proof *proof)
{
	struct n3 c;
	struct n3_ce ce;
	struct n3_view v;
	uint8_t h[NSEC3_SHA1_LEN];
	const char *bad;
	enum nsec_result r;
	int m, rc;

	if (n3_start(&c, set, n, zone, zone_len, name, name_len, max_iter,
	    proof, &r) != -1)
		return r;
	if ((rc = n3_hash(&c, name, name_len, h)) != 0)
		return hash_fail(proof, rc);
	if ((m = n3_match(&c, h, &v)) != -1) {
		if ((bad = delegation_types(v.rd.bitmap,
		    v.rd.bitmap_len)) != NULL)
			return done(proof, NSEC_NO_PROOF, bad);
		use_match(proof, (size_t)m);
		return done(proof, NSEC_PROVEN,
		    "an NSEC3 shows a delegation without DS");
	}
	if ((r = n3_ce_proof(&c, name, name_len, &ce, proof)) != NSEC_PROVEN)
		return r;
	if (!ce.optout)
		return done(proof, NSEC_NO_PROOF,
		    "the NSEC3 covering the next closer name lacks Opt-Out");
	return done(proof, NSEC_OPTOUT,
	    "an Opt-Out NSEC3 covers the delegation");
}
