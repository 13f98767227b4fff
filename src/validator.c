/*
 * The DNSSEC validator engine: a store of what the chain has proved and
 * the judgement of answers against it.  See validator.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"
#include "dohstub/nsec.h"
#include "dohstub/validator.h"

#define EDE_UNSUPPORTED_ALG	1
#define EDE_UNSUPPORTED_DIGEST	2
#define EDE_BOGUS		6
#define EDE_EXPIRED		7
#define EDE_NOT_YET_VALID	8
#define EDE_DNSKEY_MISSING	9
#define EDE_RRSIGS_MISSING	10
#define EDE_NSEC_MISSING	12

/* Sets verified remembered (direct-mapped by their SHA-256 key). */
#define VALIDATOR_MEMO		64
#define VALIDATOR_MEMO_KEY	32

/* Clock: over a minute, this many time failures, more than successes. */
#define CLOCK_WINDOW		60
#define CLOCK_BAD_MIN		10

const char *const val_state_names[] = { "secure", "insecure", "bogus" };

/*
 * What the store knows of one name.  DS: a secure DS set (its supported
 * records), the keys not yet fetched.  KEYS: the zone's secure DNSKEY
 * set.  INSECURE: a cut with no (usable) DS.  NOTCUT: inside its
 * parent's zone.  BOGUS: the chain broke here.
 */
enum ent_state { ENT_DS, ENT_KEYS, ENT_INSECURE, ENT_NOTCUT, ENT_BOGUS };
static const char *const ent_names[] = { "secure", "secure", "insecure",
    "not-a-cut", "bogus" };

struct ent {
	struct ent	*hnext;		/* hash chain */
	struct ent	*prev, *next;	/* LRU list, most recent first */
	uint8_t		 name[DNS_MAX_NAME];	/* lowercased */
	size_t		 name_len;
	uint32_t	 hash;
	enum ent_state	 state;
	int		 ede;
	const char	*why;		/* static */
	uint32_t	 expire;
	size_t		 n;		/* records in blob */
	uint8_t		*blob;		/* n x (u16 length, RDATA) */
	size_t		 bloblen;
};

/* A set verified: the memo's entry (see verify()). */
struct memo {
	uint8_t		key[VALIDATOR_MEMO_KEY];
	size_t		sig;		/* the RRSIG that verified */
	int		used;
};

struct validator {
	struct dnssec_anchor	*anchors;
	size_t			 na;
	uint8_t			(*nta)[DNS_MAX_NAME];
	size_t			*nta_len;
	size_t			 nnta;
	size_t			 max, count;
	struct ent		**buckets;
	size_t			 nbuckets;	/* a power of 2 */
	struct ent		*head, *tail;
	struct validator_stats	 st;
	validator_trace_cb	*trace;
	void			*trace_arg;
	uint16_t		 learning;	/* the need's type, for it */
	uint32_t		 win_start;
	unsigned		 win_ok, win_bad;
	int			 win_flagged;
	uint32_t		 anchor_time;	/* the latest inception of a
						   signature by an anchor's
						   zone: see sig_time() */
	int			 doubt;		/* an anchor's DNSKEY set
						   was signed after now */
	char			 why[DNS_MAX_NAME_TEXT + 384];
	char			 why2[DNS_MAX_NAME_TEXT + 640];
	char			 line[DNS_MAX_NAME_TEXT + 384];
	struct dnssec_rrset	 keys;		/* a KEYS entry as a set */
	struct dnssec_rrset	 one;		/* one key */
	struct nsec_rr		 nsec[DNSSEC_MAX_RRS];
	struct dnssec_sets	 an, ns;
	struct memo		 memo[VALIDATOR_MEMO];
	/* an's sets on the chain from the question's name */
	uint8_t			 judged[DNSSEC_MAX_SETS];
};

/* What a walk to a zone's keys found. */
enum walk { W_HAVE, W_NEED, W_INSECURE, W_BOGUS };

static int
nlabels(const uint8_t *n, size_t len)
{
	size_t off = 0;
	int c = 0;

	while (off < len && n[off] != 0) {
		off += 1 + (size_t)n[off];
		c++;
	}
	return c;
}

/* The suffix of n (len bytes) of keep labels: its offset. */
static size_t
suffix_off(const uint8_t *n, size_t len, int keep)
{
	int skip = nlabels(n, len) - keep;
	size_t off = 0;

	while (skip-- > 0 && off < len)
		off += 1 + (size_t)n[off];
	return off;
}

static void
name_text(const uint8_t *n, size_t len, char *buf, size_t size)
{
	if (dnsmsg_name_to_text(n, len, buf, size, 0) != 0 && size > 0 &&
	    buf[0] == '\0')
		snprintf(buf, size, "?");
}

static uint32_t
name_hash(const uint8_t *n, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ n[i]) * 16777619u;
	return h;
}

static void
tracef(struct validator *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tracef(struct validator *v, const char *fmt, ...)
{
	va_list ap;

	if (v->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(v->line, sizeof(v->line), fmt, ap);
	va_end(ap);
	v->trace(v->line, v->trace_arg);
}

/* ------------------------------------------------------------ store */

static void
lru_unlink(struct validator *v, struct ent *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		v->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		v->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_front(struct validator *v, struct ent *e)
{
	e->prev = NULL;
	e->next = v->head;
	if (v->head != NULL)
		v->head->prev = e;
	v->head = e;
	if (v->tail == NULL)
		v->tail = e;
}

static void
ent_remove(struct validator *v, struct ent *e)
{
	struct ent **pp;

	for (pp = &v->buckets[e->hash & (v->nbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	lru_unlink(v, e);
	free(e->blob);
	free(e);
	v->count--;
	v->st.entries = v->count;
}

/* The live entry of name (lowercased), moved to the front; or NULL. */
static struct ent *
lookup(struct validator *v, const uint8_t *name, size_t len, uint32_t now)
{
	uint32_t h = name_hash(name, len);
	struct ent *e;

	for (e = v->buckets[h & (v->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->name_len == len &&
		    memcmp(e->name, name, len) == 0)
			break;
	if (e == NULL)
		return NULL;
	if ((int32_t)(e->expire - now) <= 0) {
		ent_remove(v, e);
		return NULL;
	}
	lru_unlink(v, e);
	lru_front(v, e);
	return e;
}

/*
 * Keep what name is (lowercased), for ttl seconds, with the records
 * rd[0..n-1] (copied).  A set over VALIDATOR_SET_BYTES is kept as bogus.
 * Out of memory: nothing is kept (the need comes again).
 */
static void
store(struct validator *v, const uint8_t *name, size_t len,
    enum ent_state state, int ede, const char *why, uint32_t ttl,
    uint32_t now, const uint8_t *const *rd, const uint16_t *rdlen,
    size_t n)
{
	struct ent *e;
	size_t i, total = 0;
	uint8_t *blob = NULL, *p;
	char text[DNS_MAX_NAME_TEXT], tags[160];
	size_t tl;

	for (i = 0; i < n; i++)
		total += 2 + (size_t)rdlen[i];
	if (total > VALIDATOR_SET_BYTES) {
		state = ENT_BOGUS;
		ede = EDE_BOGUS;
		why = "DS or DNSKEY set too large to keep";
		ttl = VALIDATOR_BOGUS_TTL;
		n = 0;
		total = 0;
	}
	if (total > 0) {
		if ((blob = malloc(total)) == NULL)
			return;
		for (i = 0, p = blob; i < n; i++) {
			p[0] = rdlen[i] >> 8;
			p[1] = rdlen[i] & 0xff;
			memcpy(p + 2, rd[i], rdlen[i]);
			p += 2 + rdlen[i];
		}
	}
	if (ttl > VALIDATOR_MAX_TTL)
		ttl = VALIDATOR_MAX_TTL;
	if (ttl == 0)
		ttl = 1;	/* usable for the answer that taught it */
	if ((e = lookup(v, name, len, now)) == NULL) {
		if (v->count >= v->max && v->tail != NULL) {
			ent_remove(v, v->tail);
			v->st.evictions++;
		}
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			free(blob);
			return;
		}
		memcpy(e->name, name, len);
		e->name_len = len;
		e->hash = name_hash(name, len);
		e->hnext = v->buckets[e->hash & (v->nbuckets - 1)];
		v->buckets[e->hash & (v->nbuckets - 1)] = e;
		lru_front(v, e);
		v->count++;
		v->st.entries = v->count;
	}
	free(e->blob);
	e->blob = blob;
	e->bloblen = total;
	e->n = n;
	e->state = state;
	e->ede = ede;
	e->why = why;
	e->expire = now + ttl;
	v->st.learned[state == ENT_BOGUS ? VAL_BOGUS : state == ENT_INSECURE ?
	    VAL_INSECURE : VAL_SECURE]++;
	if (v->trace == NULL)
		return;
	name_text(name, len, text, sizeof(text));
	/* a DS set's records as tag/algorithm/digest type, as delv does */
	tags[0] = '\0';
	for (i = 0, tl = 0; state == ENT_DS && i < n &&
	    tl < sizeof(tags) - 24; i++) {
		if (rdlen[i] >= 4)
			tl += (size_t)snprintf(tags + tl, sizeof(tags) - tl,
			    " %u/%u/%u", (unsigned)(rd[i][0] << 8 | rd[i][1]),
			    rd[i][2], rd[i][3]);
	}
	/* a bogus or insecure DNSKEY need is one too, not a DS */
	tracef(v, "%s %s %s%s ttl %u%s%s", text, state == ENT_KEYS ||
	    v->learning == DNS_TYPE_DNSKEY ? "DNSKEY" : "DS",
	    ent_names[state], tags, ttl,
	    why != NULL ? ": " : "", why != NULL ? why : "");
}

/*
 * A DS NODATA for nd proved by a record at nd itself whose type bitmap
 * is bm (bmlen bytes; NULL: no such record): NS there makes nd an
 * insecure cut (why), else nd is no zone cut.
 */
static void
store_cut(struct validator *v, const struct val_need *nd, const uint8_t *bm,
    size_t bmlen, const char *why, uint32_t ttl, uint32_t now)
{
	if (bm != NULL && nsec_bitmap_has(bm, bmlen, DNS_TYPE_NS) == 1)
		store(v, nd->name, nd->name_len, ENT_INSECURE, -1, why, ttl,
		    now, NULL, NULL, 0);
	else
		store(v, nd->name, nd->name_len, ENT_NOTCUT, -1, NULL, ttl,
		    now, NULL, NULL, 0);
}

/* A KEYS entry as an RRset in v->keys. */
static const struct dnssec_rrset *
ent_keys(struct validator *v, const struct ent *e)
{
	struct dnssec_rrset *k = &v->keys;
	const uint8_t *p = e->blob;
	size_t i;

	memcpy(k->owner, e->name, e->name_len);
	k->owner_len = e->name_len;
	k->type = DNS_TYPE_DNSKEY;
	k->class = DNS_CLASS_IN;
	k->ttl = 0;
	k->nsigs = 0;
	for (i = 0; i < e->n && i < DNSSEC_MAX_RRS; i++) {
		k->rdlen[i] = (uint16_t)(p[0] << 8 | p[1]);
		k->rdata[i] = p + 2;
		p += 2 + k->rdlen[i];
	}
	k->n = i;
	return k;
}

static int
anchor_at(const struct validator *v, const uint8_t *name, size_t len)
{
	size_t i;

	for (i = 0; i < v->na; i++)
		if (dnsmsg_name_equal(v->anchors[i].owner,
		    v->anchors[i].owner_len, name, len))
			return 1;
	return 0;
}

static const uint8_t *
nta_covering(const struct validator *v, const uint8_t *name, size_t len,
    size_t *nlen)
{
	size_t i;

	for (i = 0; i < v->nnta; i++)
		if (dnsmsg_name_below(name, len, v->nta[i], v->nta_len[i])) {
			*nlen = v->nta_len[i];
			return v->nta[i];
		}
	return NULL;
}

/* ------------------------------------------------------------ verdicts */

static void
verdict_set(struct val_verdict *vd, enum val_state state, int ede,
    const char *why, const uint8_t *zone, size_t zone_len)
{
	vd->state = state;
	vd->ede = ede;
	vd->why = why;
	if (state == VAL_BOGUS && vd->ttl > VALIDATOR_BOGUS_TTL)
		vd->ttl = VALIDATOR_BOGUS_TTL;
	if (zone != NULL && zone_len <= DNS_MAX_NAME) {
		memcpy(vd->zone, zone, zone_len);
		vd->zone_len = zone_len;
	}
}

/* The worse of what *vd says and this: bogus > insecure > secure. */
static void
merge(struct val_verdict *vd, enum val_state state, int ede,
    const char *why, const uint8_t *zone, size_t zone_len)
{
	if (state > vd->state || (state == vd->state &&
	    state == VAL_SECURE))
		verdict_set(vd, state, ede, why, zone, zone_len);
}

static int
ede_of(enum dnssec_result r)
{
	switch (r) {
	case DNSSEC_EXPIRED:
		return EDE_EXPIRED;
	case DNSSEC_NOT_YET_VALID:
		return EDE_NOT_YET_VALID;
	case DNSSEC_KEY_MISMATCH:
		return EDE_DNSKEY_MISSING;
	case DNSSEC_NO_SIGNATURE:
		return EDE_RRSIGS_MISSING;
	case DNSSEC_INTERNAL:
		return 0;
	default:
		return EDE_BOGUS;
	}
}

/*
 * Signature outcomes over a minute: a wrong clock shows as many EXPIRED
 * or NOT_YET_VALID and few successes, which is said (clock_suspect).
 */
static void
clock_note(struct validator *v, enum dnssec_result r, uint32_t now)
{
	if ((uint32_t)(now - v->win_start) >= CLOCK_WINDOW) {
		v->win_start = now;
		v->win_ok = v->win_bad = 0;
		v->win_flagged = 0;
	}
	if (r == DNSSEC_OK)
		v->win_ok++;
	else if (r == DNSSEC_EXPIRED || r == DNSSEC_NOT_YET_VALID)
		v->win_bad++;
	if (!v->win_flagged && v->win_bad >= CLOCK_BAD_MIN &&
	    v->win_bad > v->win_ok) {
		v->win_flagged = 1;
		v->st.clock_suspect++;
	}
}

/*
 * A clock behind, as a machine without a real-time clock starts (at
 * its last saved time, or in 1970) until NTP sets it, for which NTP
 * needs names, is the one wrong clock provided for.  A trust anchor's
 * zone is trusted for time as it is for names.  When its DNSKEY set was
 * signed after now (checked with DNSSEC_EARLY_OK), the clock is in
 * doubt: that alone proves little, since the root's key ceremonies
 * sign those sets months ahead, but it lets the zone's other sets,
 * whose keys sign as they go (the zone is trusted not to sign those
 * ahead), be checked so too, and the latest inception among those is
 * v->anchor_time: real time is at least that.  While the clock is before
 * it (behind), every signature is checked at anchor_time, and one made
 * after that passes too: the clock cannot tell it from one made since.
 * What expired before anchor_time cannot be replayed (but an upstream
 * may show older signatures of the zone first: with no clock, the
 * newest seen is all there is); no other zone can move it; the
 * signatures themselves are checked as ever; and with the clock right,
 * the first such set ends the doubt, and the anchor's zone is checked
 * as every other.  When the clock is set, it passes anchor_time and all
 * is as before.
 */
static int
clock_behind(const struct validator *v, uint32_t now)
{
	return v->anchor_time > now;
}

/* The time signatures are checked at. */
static uint32_t
sig_time(const struct validator *v, uint32_t now)
{
	return clock_behind(v, now) ? v->anchor_time : now;
}

/* How long what rs proved (a set of TTL ttl) may be kept: dnssec_ttl()
 * at sig_time(). */
static uint32_t
proof_ttl(const struct validator *v, uint32_t ttl,
    const struct dnssec_rrsig *rs, uint32_t now)
{
	return dnssec_ttl(ttl, rs, sig_time(v, now));
}

/* Is rs's window open at sig_time(), as the clock allows? */
static int
window_open(const struct validator *v, const struct dnssec_rrsig *rs,
    uint32_t now)
{
	uint32_t at = sig_time(v, now);
	enum dnssec_result r = dnssec_check_time(rs, at);

	return r == DNSSEC_OK || (clock_behind(v, now) &&
	    dnssec_made_after(rs, at));
}

/*
 * dnssec_verify_rrset() of set with keys (its zone's DNSKEY set) at
 * sig_time(), as the clock allows; the checks counted, the outcome
 * noted.
 */
static enum dnssec_result
check_set(struct validator *v, const struct dnssec_rrset *set,
    const struct dnssec_rrset *keys, uint32_t now, unsigned *budget,
    size_t *sig)
{
	struct dnssec_rrsig rs;
	unsigned before = *budget;
	enum dnssec_result r;
	int anchor = anchor_at(v, keys->owner, keys->owner_len);
	int keyset = anchor && set->type == DNS_TYPE_DNSKEY, early;

	r = dnssec_verify_rrset(set, keys, sig_time(v, now),
	    keyset || (anchor && v->doubt) || clock_behind(v, now) ?
	    DNSSEC_EARLY_OK : 0, budget, sig, NULL);
	v->st.sig_checks += before - *budget;
	clock_note(v, r, now);
	if (r != DNSSEC_OK || *sig >= set->nsigs ||
	    dnssec_rrsig_parse(set->sig[*sig], set->siglen[*sig], &rs) !=
	    DNSSEC_OK)
		return r;
	early = dnssec_check_time(&rs, now) != DNSSEC_OK;
	if (early)
		v->st.early_sigs++;
	if (keyset)
		v->doubt = early;
	else if (anchor && rs.inception > v->anchor_time)
		v->anchor_time = rs.inception;
	if (v->anchor_time != 0 && !clock_behind(v, now))
		v->doubt = 0;
	v->st.clock_behind = clock_behind(v, now);
	v->st.anchor_time = v->anchor_time;
	return r;
}

/*
 * The memo's key for set verified with the keys of e: SHA-256 of
 * everything the verification reads but the time (owner, type, class,
 * records, RRSIGs, the keys' owner and records).  0, or -1.
 */
static int
memo_key(const struct dnssec_rrset *set, const struct ent *e,
    uint8_t key[VALIDATOR_MEMO_KEY])
{
	EVP_MD_CTX *md;
	uint8_t b[8];
	size_t i;
	int ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	b[0] = set->type >> 8;
	b[1] = set->type & 0xff;
	b[2] = set->class >> 8;
	b[3] = set->class & 0xff;
	b[4] = (uint8_t)set->n;
	b[5] = (uint8_t)set->nsigs;
	b[6] = (uint8_t)set->owner_len;
	b[7] = (uint8_t)e->name_len;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, b, sizeof(b)) == 1 &&
	    EVP_DigestUpdate(md, set->owner, set->owner_len) == 1;
	for (i = 0; ok && i < set->n; i++) {
		b[0] = set->rdlen[i] >> 8;
		b[1] = set->rdlen[i] & 0xff;
		ok = EVP_DigestUpdate(md, b, 2) == 1 &&
		    EVP_DigestUpdate(md, set->rdata[i], set->rdlen[i]) == 1;
	}
	for (i = 0; ok && i < set->nsigs; i++) {
		b[0] = set->siglen[i] >> 8;
		b[1] = set->siglen[i] & 0xff;
		ok = EVP_DigestUpdate(md, b, 2) == 1 &&
		    EVP_DigestUpdate(md, set->sig[i], set->siglen[i]) == 1;
	}
	ok = ok && EVP_DigestUpdate(md, e->name, e->name_len) == 1 &&
	    (e->bloblen == 0 || EVP_DigestUpdate(md, e->blob,
	    e->bloblen) == 1) && EVP_DigestFinal_ex(md, key, NULL) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/*
 * dnssec_verify_rrset() with the keys of e, counted.  A set that
 * verified before with the same keys is not checked again while its
 * RRSIG's window is open (the memo): the re-checks of an answer after
 * each learn would otherwise verify its first links again and again.
 */
static enum dnssec_result
verify(struct validator *v, const struct dnssec_rrset *set,
    const struct ent *e, uint32_t now, unsigned *budget, size_t *sig_used)
{
	const struct dnssec_rrset *k;
	struct dnssec_rrsig rs;
	struct memo *m = NULL;
	enum dnssec_result r;
	uint8_t key[VALIDATOR_MEMO_KEY];
	size_t sig = 0;

	if (memo_key(set, e, key) == 0) {
		m = &v->memo[key[0] % VALIDATOR_MEMO];
		if (m->used && memcmp(m->key, key, sizeof(key)) == 0 &&
		    m->sig < set->nsigs && dnssec_rrsig_parse(
		    set->sig[m->sig], set->siglen[m->sig], &rs) ==
		    DNSSEC_OK && window_open(v, &rs, now)) {
			v->st.memo_hits++;
			if (sig_used != NULL)
				*sig_used = m->sig;
			return DNSSEC_OK;
		}
	}
	k = ent_keys(v, e);
	r = check_set(v, set, k, now, budget, &sig);
	if (r == DNSSEC_OK) {
		if (sig_used != NULL)
			*sig_used = sig;
		if (m != NULL) {
			memcpy(m->key, key, sizeof(key));
			m->sig = sig;
			m->used = 1;
		}
	}
	return r;
}

/* The why of a failed signature, in v->why. */
static const char *
sig_why(struct validator *v, const struct dnssec_rrset *set,
    enum dnssec_result r)
{
	char owner[DNS_MAX_NAME_TEXT], tb[16];

	name_text(set->owner, set->owner_len, owner, sizeof(owner));
	snprintf(v->why, sizeof(v->why), "%s %s: %s", owner,
	    dnsmsg_type_str(set->type, tb, sizeof(tb)), r == DNSSEC_TOO_BIG ?
	    "signature check budget spent (or set too large)" :
	    dnssec_result_names[r]);
	return v->why;
}

/* why, and that the clock may be wrong, in v->why2. */
static const char *
clock_why(struct validator *v, const char *why, uint32_t now)
{
	char when[32];
	time_t t = (time_t)now;
	struct tm tm;

	if (strstr(why, "clock may be wrong") != NULL)
		return why;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(when, sizeof(when), "%u", now);
	snprintf(v->why2, sizeof(v->why2), "%s; many signatures look "
	    "expired or not yet valid: the clock may be wrong (it says %s)",
	    why, when);
	return v->why2;
}

/* ------------------------------------------------------------ the walk */

/*
 * The keys of zone z: W_HAVE with *keys (z's own if z is a zone, else
 * the enclosing zone's), W_NEED with *need, or W_INSECURE / W_BOGUS
 * with vd set.
 */
static enum walk
walk(struct validator *v, const uint8_t *z, size_t zlen, uint32_t now,
    struct ent **keys, struct val_need *need, struct val_verdict *vd)
{
	const uint8_t *nta, *s;
	size_t ntalen, slen, off;
	struct ent *e = NULL, *k;
	int found = 0, np, nz = nlabels(z, zlen);

	if ((nta = nta_covering(v, z, zlen, &ntalen)) != NULL) {
		verdict_set(vd, VAL_INSECURE, -1, "negative trust anchor", nta,
		    ntalen);
		return W_INSECURE;
	}
	/* The deepest point the store or an anchor knows. */
	for (s = z, slen = zlen;; ) {
		e = lookup(v, s, slen, now);
		if (e != NULL && (e->state == ENT_KEYS ||
		    e->state == ENT_INSECURE || e->state == ENT_BOGUS)) {
			found = 1;
			break;
		}
		e = NULL;
		if (anchor_at(v, s, slen)) {
			found = 1;
			break;
		}
		if (slen <= 1)
			break;
		slen -= 1 + (size_t)s[0];
		s += 1 + (size_t)s[0];
	}
	if (!found) {
		verdict_set(vd, VAL_INSECURE, -1, "no trust anchor above",
		    NULL, 0);
		return W_INSECURE;
	}
	if (e == NULL) {
		memcpy(need->name, s, slen);
		need->name_len = slen;
		need->type = DNS_TYPE_DNSKEY;
		return W_NEED;
	}
	if (e->state == ENT_INSECURE || e->state == ENT_BOGUS) {
		verdict_set(vd, e->state == ENT_INSECURE ? VAL_INSECURE :
		    VAL_BOGUS, e->ede, e->why, e->name, e->name_len);
		return e->state == ENT_INSECURE ? W_INSECURE : W_BOGUS;
	}
	k = e;
	for (np = nlabels(s, slen); np < nz; np++) {
		off = suffix_off(z, zlen, np + 1);
		e = lookup(v, z + off, zlen - off, now);
		if (e == NULL || e->state == ENT_DS) {
			memcpy(need->name, z + off, zlen - off);
			need->name_len = zlen - off;
			need->type = e == NULL ? DNS_TYPE_DS : DNS_TYPE_DNSKEY;
			return W_NEED;
		}
		switch (e->state) {
		case ENT_NOTCUT:
			break;
		case ENT_KEYS:
			k = e;
			break;
		default:
			verdict_set(vd, e->state == ENT_INSECURE ?
			    VAL_INSECURE : VAL_BOGUS, e->ede, e->why, e->name,
			    e->name_len);
			return e->state == ENT_INSECURE ? W_INSECURE : W_BOGUS;
		}
	}
	/* lookup() may have moved k; it stays valid: nothing is freed here */
	*keys = k;
	return W_HAVE;
}

/* ------------------------------------------------------------ denial */

/*
 * The NSEC (or, if none, NSEC3) records of sets signed by k's zone,
 * each set verified, into v->nsec: their number, 0 if none, -1 bogus
 * (vd set).  *ttl: the least TTL the sets may be kept for (their TTL,
 * their RRSIG's original TTL and expiration: dnssec_ttl()), not above
 * what it was.
 */
static long
denial_records(struct validator *v, const struct dnssec_sets *sets,
    struct ent *k, uint32_t now, unsigned *budget, int *is3,
    struct val_verdict *vd, uint32_t *ttl)
{
	const struct dnssec_rrset *s;
	struct dnssec_rrsig rs;
	enum dnssec_result r;
	size_t i, j, n = 0, sig;
	int pass;

	for (pass = 0; pass < 2 && n == 0; pass++) {
		*is3 = pass;
		for (i = 0; i < sets->nsets; i++) {
			s = &sets->set[i];
			if (s->type != (pass ? DNS_TYPE_NSEC3 :
			    DNS_TYPE_NSEC) || s->n == 0 ||
			    !dnsmsg_name_below(s->owner, s->owner_len, k->name,
			    k->name_len))
				continue;
			sig = 0;
			r = verify(v, s, k, now, budget, &sig);
			if (r != DNSSEC_OK) {
				verdict_set(vd, VAL_BOGUS, ede_of(r),
				    sig_why(v, s, r), k->name,
				    k->name_len);
				return -1;
			}
			if (dnssec_rrsig_parse(s->sig[sig], s->siglen[sig],
			    &rs) == DNSSEC_OK && proof_ttl(v, s->ttl, &rs,
			    now) < *ttl)
				*ttl = proof_ttl(v, s->ttl, &rs, now);
			for (j = 0; j < s->n && n < DNSSEC_MAX_RRS; j++) {
				v->nsec[n].owner = s->owner;
				v->nsec[n].owner_len = s->owner_len;
				v->nsec[n].rdata = s->rdata[j];
				v->nsec[n].rdlen = s->rdlen[j];
				n++;
			}
		}
	}
	return (long)n;
}

/*
 * NSEC3 hashing is work an answer chose (CVE-2023-50868): charged to
 * the budget, VALIDATOR_HASHES_PER_CHECK SHA-1 runs a check.
 */
static void
charge_hashes(struct validator *v, const struct nsec_proof *p,
    unsigned *budget)
{
	unsigned units;

	units = (p->hashes + VALIDATOR_HASHES_PER_CHECK - 1) /
	    VALIDATOR_HASHES_PER_CHECK;
	v->st.nsec3_hashes += p->hashes;
	*budget -= units < *budget ? units : *budget;
}

static int
any_rrsig(const struct dnssec_sets *sets)
{
	size_t i;

	for (i = 0; i < sets->nsets; i++)
		if (sets->set[i].nsigs > 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ learning */

static void
learn_bogus(struct validator *v, const struct val_need *nd, int ede,
    const char *why, uint32_t ttl, uint32_t now)
{
	store(v, nd->name, nd->name_len, ENT_BOGUS, ede, why, ttl, now, NULL,
	    NULL, 0);
}

static void
learn_ds(struct validator *v, const struct val_need *nd, int rcode,
    uint32_t now, unsigned *budget)
{
	const struct dnssec_rrset *ds, *cn;
	struct val_verdict vd;
	struct val_need pn;
	struct nsec_proof proof;
	struct nsec_rdata nr;
	struct nsec3_rdata n3;
	struct ent *k;
	enum dnssec_result r;
	enum nsec_result pr;
	const uint8_t *keep[DNSSEC_MAX_RRS];
	uint16_t keeplen[DNSSEC_MAX_RRS];
	size_t i, nk = 0, sig = 0;
	const uint8_t *bm;
	size_t bmlen = 0;
	struct dnssec_rrsig rs;
	uint32_t ttl;
	long n;
	int is3, digest_ok = 0;

	if (nd->name_len <= 1)
		return;
	if (walk(v, nd->name + 1 + nd->name[0], nd->name_len - 1 -
	    nd->name[0], now, &k, &pn, &vd) != W_HAVE)
		return;
	ds = dnssec_find(&v->an, nd->name, nd->name_len, DNS_TYPE_DS,
	    DNS_CLASS_IN);
	if (ds != NULL && ds->n > 0) {
		r = verify(v, ds, k, now, budget, &sig);
		if (r != DNSSEC_OK) {
			learn_bogus(v, nd, r == DNSSEC_TOO_BIG ? EDE_BOGUS :
			    ede_of(r), dnssec_result_names[r],
			    r == DNSSEC_TOO_BIG ? VALIDATOR_NOANSWER_TTL :
			    VALIDATOR_BOGUS_TTL, now);
			return;
		}
		for (i = 0; i < ds->n; i++) {
			if (ds->rdlen[i] < 4 ||
			    !dnssec_digest_supported(ds->rdata[i][3]))
				continue;
			digest_ok = 1;
			if (!dnssec_algorithm_supported(ds->rdata[i][2]))
				continue;
			keep[nk] = ds->rdata[i];
			keeplen[nk++] = ds->rdlen[i];
		}
		ttl = ds->ttl;
		if (dnssec_rrsig_parse(ds->sig[sig], ds->siglen[sig], &rs) ==
		    DNSSEC_OK)
			ttl = proof_ttl(v, ds->ttl, &rs, now);
		if (nk == 0)
			store(v, nd->name, nd->name_len, ENT_INSECURE,
			    digest_ok ? EDE_UNSUPPORTED_ALG :
			    EDE_UNSUPPORTED_DIGEST, digest_ok ?
			    "no DS of a supported algorithm" :
			    "no DS of a supported digest type", ttl, now,
			    NULL, NULL, 0);
		else
			store(v, nd->name, nd->name_len, ENT_DS, -1, NULL, ttl,
			    now, keep, keeplen, nk);
		return;
	}
	cn = dnssec_find(&v->an, nd->name, nd->name_len, DNS_TYPE_CNAME,
	    DNS_CLASS_IN);
	if (cn != NULL && cn->n > 0) {
		r = verify(v, cn, k, now, budget, &sig);
		if (r != DNSSEC_OK)
			learn_bogus(v, nd, ede_of(r), dnssec_result_names[r],
			    VALIDATOR_BOGUS_TTL, now);
		else
			store(v, nd->name, nd->name_len, ENT_NOTCUT, -1,
			    "a CNAME", dnssec_rrsig_parse(cn->sig[sig],
			    cn->siglen[sig], &rs) == DNSSEC_OK ?
			    proof_ttl(v, cn->ttl, &rs, now) : 0, now, NULL,
			    NULL, 0);
		return;
	}
	vd.state = VAL_SECURE;
	/*
	 * The proof's lifetime is its records' (RFC 4035 5.3.3; an
	 * NSEC's TTL is the SOA's negative TTL, RFC 4034 4, RFC 9077); the
	 * SOA beside it is not verified here, so its TTL counts for
	 * nothing.
	 */
	ttl = VALIDATOR_MAX_TTL;
	if ((n = denial_records(v, &v->ns, k, now, budget, &is3, &vd,
	    &ttl)) < 0) {
		learn_bogus(v, nd, vd.ede, "DS denial does not verify",
		    VALIDATOR_BOGUS_TTL, now);
		return;
	}
	if (n == 0) {
		learn_bogus(v, nd, any_rrsig(&v->ns) ? EDE_NSEC_MISSING :
		    EDE_RRSIGS_MISSING, any_rrsig(&v->ns) ?
		    "no DS and no NSEC to say so" :
		    "no DS, and nothing signed to say so", VALIDATOR_BOGUS_TTL,
		    now);
		return;
	}
	if (!is3) {
		pr = nsec_prove_nodata(v->nsec, (size_t)n, k->name, k->name_len,
		    nd->name, nd->name_len, DNS_TYPE_DS, &proof);
		if (pr == NSEC_PROVEN) {
			bm = NULL;
			if (proof.matched && proof.nused > 0 &&
			    dnsmsg_name_equal(
			    v->nsec[proof.used[0]].owner,
			    v->nsec[proof.used[0]].owner_len, nd->name,
			    nd->name_len) && nsec_parse(
			    v->nsec[proof.used[0]].rdata,
			    v->nsec[proof.used[0]].rdlen, &nr) == 0)
				bm = nr.bitmap, bmlen = nr.bitmap_len;
			store_cut(v, nd, bm, bmlen, "NSEC proves no DS", ttl,
			    now);
			return;
		}
		if (rcode == DNS_RCODE_NXDOMAIN && nsec_prove_nxdomain(v->nsec,
		    (size_t)n, k->name, k->name_len, nd->name, nd->name_len,
		    &proof) == NSEC_PROVEN) {
			store(v, nd->name, nd->name_len, ENT_NOTCUT, -1,
			    "no such name", ttl, now, NULL, NULL, 0);
			return;
		}
	} else {
		pr = nsec3_prove_nodata(v->nsec, (size_t)n, k->name,
		    k->name_len, nd->name, nd->name_len, DNS_TYPE_DS,
		    NSEC3_MAX_ITERATIONS, &proof);
		charge_hashes(v, &proof, budget);
		if (pr == NSEC_NO_PROOF && rcode == DNS_RCODE_NXDOMAIN) {
			pr = nsec3_prove_nxdomain(v->nsec, (size_t)n, k->name,
			    k->name_len, nd->name, nd->name_len,
			    NSEC3_MAX_ITERATIONS, &proof);
			charge_hashes(v, &proof, budget);
			if (pr == NSEC_PROVEN) {
				store(v, nd->name, nd->name_len, ENT_NOTCUT,
				    -1, "no such name", ttl, now, NULL, NULL,
				    0);
				return;
			}
		}
		if (pr == NSEC_PROVEN) {
			/*
			 * Only the NSEC3 of the name itself (its owner hash
			 * H(name), RFC 5155 8.5, 8.6) says whether the name is
			 * a delegation; a wildcard NODATA (8.7) rests on the
			 * closest encloser's record, whose NS bit (the apex
			 * has one) says nothing of the name: not a cut.
			 */
			bm = NULL;
			if (proof.matched && proof.nused > 0 && nsec3_parse(
			    v->nsec[proof.used[0]].rdata,
			    v->nsec[proof.used[0]].rdlen, &n3) == 0)
				bm = n3.bitmap, bmlen = n3.bitmap_len;
			store_cut(v, nd, bm, bmlen, "NSEC3 proves no DS", ttl,
			    now);
			return;
		}
		if (pr == NSEC_OPTOUT || pr == NSEC_UNSUPPORTED) {
			store(v, nd->name, nd->name_len, ENT_INSECURE, -1,
			    pr == NSEC_OPTOUT ? "NSEC3 opt-out covers the DS" :
			    "NSEC3 beyond what is checked", ttl, now, NULL,
			    NULL, 0);
			return;
		}
	}
	learn_bogus(v, nd, pr == NSEC_ERROR ? 0 : EDE_NSEC_MISSING,
	    "no proof of no DS", pr == NSEC_ERROR ? VALIDATOR_NOANSWER_TTL :
	    VALIDATOR_BOGUS_TTL, now);
}

static void
learn_dnskey(struct validator *v, const struct val_need *nd, struct ent *e,
    uint32_t now, unsigned *budget)
{
	const struct dnssec_rrset *ks;
	const uint8_t *trust[DNSSEC_MAX_RRS + 16];
	uint16_t trustlen[DNSSEC_MAX_RRS + 16];
	uint16_t trusttype[DNSSEC_MAX_RRS + 16];
	struct dnssec_dnskey key;
	struct dnssec_rrsig rs;
	enum dnssec_result r, worst = DNSSEC_KEY_MISMATCH;
	size_t i, j, nt = 0, sig = 0;
	const uint8_t *p;
	int matched, any_alg = 0, strong;
	char text[DNS_MAX_NAME_TEXT];

	if (e != NULL && e->state == ENT_DS) {
		for (i = 0, p = e->blob; i < e->n; i++) {
			trustlen[nt] = (uint16_t)(p[0] << 8 | p[1]);
			trust[nt] = p + 2;
			trusttype[nt++] = DNS_TYPE_DS;
			p += 2 + trustlen[nt - 1];
		}
	} else {
		for (i = 0; i < v->na && nt < DNSSEC_MAX_RRS + 16; i++)
			if (dnsmsg_name_equal(v->anchors[i].owner,
			    v->anchors[i].owner_len, nd->name, nd->name_len)) {
				trust[nt] = v->anchors[i].rdata;
				trustlen[nt] = v->anchors[i].rdlen;
				trusttype[nt++] = v->anchors[i].type;
			}
	}
	if (nt == 0)
		return;
	/*
	 * RFC 4509 3: with a SHA-256 (or SHA-384) DS of an algorithm we
	 * verify, SHA-1 DS records are ignored, so a SHA-1 collision
	 * cannot stand in for the key the stronger digest names.
	 */
	for (i = 0, strong = 0; i < nt; i++)
		if (trusttype[i] == DNS_TYPE_DS && trustlen[i] >= 4 &&
		    trust[i][3] != DNSSEC_DIGEST_SHA1 &&
		    dnssec_digest_supported(trust[i][3]) &&
		    dnssec_algorithm_supported(trust[i][2]))
			strong = 1;
	for (i = j = 0; i < nt; i++) {
		if (strong && trusttype[i] == DNS_TYPE_DS &&
		    trustlen[i] >= 4 && trust[i][3] == DNSSEC_DIGEST_SHA1)
			continue;
		trust[j] = trust[i];
		trustlen[j] = trustlen[i];
		trusttype[j++] = trusttype[i];
	}
	nt = j;
	for (i = 0; i < nt; i++)
		if (trusttype[i] == DNS_TYPE_DS ? trustlen[i] >= 4 &&
		    dnssec_algorithm_supported(trust[i][2]) &&
		    dnssec_digest_supported(trust[i][3]) : trustlen[i] >= 4 &&
		    dnssec_algorithm_supported(trust[i][3]))
			any_alg = 1;
	if (!any_alg) {
		store(v, nd->name, nd->name_len, ENT_INSECURE,
		    EDE_UNSUPPORTED_ALG, "trust anchor of an unsupported "
		    "algorithm or digest", VALIDATOR_BOGUS_TTL, now, NULL,
		    NULL, 0);
		return;
	}
	ks = dnssec_find(&v->an, nd->name, nd->name_len, DNS_TYPE_DNSKEY,
	    DNS_CLASS_IN);
	if (ks == NULL || ks->n == 0) {
		learn_bogus(v, nd, EDE_DNSKEY_MISSING, "no DNSKEY set",
		    VALIDATOR_BOGUS_TTL, now);
		return;
	}
	if (ks->nsigs == 0) {
		learn_bogus(v, nd, EDE_RRSIGS_MISSING, "the DNSKEY set comes "
		    "unsigned: does the upstream strip DNSSEC data?",
		    VALIDATOR_BOGUS_TTL, now);
		return;
	}
	for (i = 0; i < ks->n; i++) {
		if (dnssec_dnskey_parse(ks->rdata[i], ks->rdlen[i], &key) !=
		    DNSSEC_OK || !dnssec_algorithm_supported(key.algorithm))
			continue;
		matched = 0;
		for (j = 0; j < nt && !matched; j++)
			matched = trusttype[j] == DNS_TYPE_DS ?
			    dnssec_ds_match(nd->name, nd->name_len, trust[j],
			    trustlen[j], ks->rdata[i], ks->rdlen[i]) ==
			    DNSSEC_OK : trustlen[j] == ks->rdlen[i] &&
			    memcmp(trust[j], ks->rdata[i], trustlen[j]) == 0;
		if (!matched)
			continue;
		memcpy(v->one.owner, nd->name, nd->name_len);
		v->one.owner_len = nd->name_len;
		v->one.type = DNS_TYPE_DNSKEY;
		v->one.class = DNS_CLASS_IN;
		v->one.n = 1;
		v->one.nsigs = 0;
		v->one.rdata[0] = ks->rdata[i];
		v->one.rdlen[0] = ks->rdlen[i];
		r = check_set(v, ks, &v->one, now, budget, &sig);
		name_text(nd->name, nd->name_len, text, sizeof(text));
		tracef(v, "%s DNSKEY key %u/%u %s", text, key.tag,
		    key.algorithm, dnssec_result_names[r]);
		if (r == DNSSEC_OK) {
			uint32_t ttl = ks->ttl;

			if (dnssec_rrsig_parse(ks->sig[sig], ks->siglen[sig],
			    &rs) == DNSSEC_OK)
				ttl = proof_ttl(v, ks->ttl, &rs, now);
			store(v, nd->name, nd->name_len, ENT_KEYS, -1, NULL,
			    ttl, now, ks->rdata, ks->rdlen, ks->n);
			return;
		}
		if (r == DNSSEC_TOO_BIG || r == DNSSEC_INTERNAL) {
			learn_bogus(v, nd, r == DNSSEC_INTERNAL ? 0 : EDE_BOGUS,
			    r == DNSSEC_INTERNAL ? "out of memory" :
			    "signature check budget spent",
			    VALIDATOR_NOANSWER_TTL, now);
			return;
		}
		if (worst == DNSSEC_KEY_MISMATCH || r == DNSSEC_BOGUS_SIGNATURE)
			worst = r;
	}
	learn_bogus(v, nd, ede_of(worst), worst == DNSSEC_KEY_MISMATCH ?
	    "no DNSKEY matches the DS set or anchor" :
	    dnssec_result_names[worst], VALIDATOR_BOGUS_TTL, now);
}

void
validator_learn(struct validator *v, const struct val_need *need,
    const uint8_t *msg, size_t len, uint32_t now, unsigned *budget)
{
	struct dns_query_info qi;
	struct val_need nd;
	struct ent *e;
	enum dnssec_result r;
	char text[DNS_MAX_NAME_TEXT];
	unsigned own, spent;
	int rcode;

	if (need->name_len == 0 || need->name_len > DNS_MAX_NAME ||
	    !nsec_name_valid(need->name, need->name_len) ||
	    (need->type != DNS_TYPE_DS && need->type != DNS_TYPE_DNSKEY))
		return;
	nd = *need;
	dnsmsg_name_lower(nd.name, nd.name_len);
	v->learning = nd.type;
	memset(&qi, 0, sizeof(qi));
	memcpy(qi.qname, nd.name, nd.name_len);
	qi.qname_len = nd.name_len;
	qi.qtype = nd.type;
	qi.qclass = DNS_CLASS_IN;
	/* an answer that is not one to need is as good as none */
	if (msg != NULL && dnsmsg_check_answer(msg, len, &qi) != 0)
		msg = NULL;
	if (msg == NULL) {
		name_text(nd.name, nd.name_len, text, sizeof(text));
		tracef(v, "%s %s no answer", text, nd.type == DNS_TYPE_DS ?
		    "DS" : "DNSKEY");
		learn_bogus(v, &nd, DNS_EDE_NO_REACHABLE,
		    "no answer to a chain query", VALIDATOR_NOANSWER_TTL, now);
		return;
	}
	rcode = dnsmsg_rcode(msg);
	if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN) {
		learn_bogus(v, &nd, DNS_EDE_NO_REACHABLE,
		    "the chain query failed", VALIDATOR_NOANSWER_TTL, now);
		return;
	}
	if ((r = dnssec_collect(msg, len, DNS_SEC_ANSWER, &v->an)) !=
	    DNSSEC_OK || (r = dnssec_collect(msg, len, DNS_SEC_AUTHORITY,
	    &v->ns)) != DNSSEC_OK) {
		learn_bogus(v, &nd, EDE_BOGUS, "a chain answer that does not "
		    "parse or is too large", VALIDATOR_BOGUS_TTL, now);
		return;
	}
	/*
	 * What a learn stores is shared by every answer, so it must not
	 * depend on one caller's spent budget: it has an allowance of its
	 * own, and the caller pays for what it used.
	 */
	own = VALIDATOR_LEARN_BUDGET;
	if (nd.type == DNS_TYPE_DS)
		learn_ds(v, &nd, rcode, now, &own);
	else {
		e = lookup(v, nd.name, nd.name_len, now);
		learn_dnskey(v, &nd, e, now, &own);
	}
	spent = VALIDATOR_LEARN_BUDGET - own;
	*budget -= spent < *budget ? spent : *budget;
}

/* ------------------------------------------------------------ checking */

/*
 * Judge one RRset of the answer: W_HAVE (secure or merged into vd),
 * W_NEED, or W_BOGUS (vd says why: stop).
 */
static enum walk
judge_set(struct validator *v, const struct dnssec_rrset *set,
    uint32_t now, unsigned *budget, struct val_verdict *vd,
    struct val_need *need)
{
	struct dnssec_rrsig rs;
	struct val_verdict w;
	struct nsec_proof proof;
	struct ent *k;
	enum dnssec_result r;
	enum nsec_result pr;
	enum walk wk;
	size_t i, sig = 0;
	long n;
	int is3, found = 0;
	char owner[DNS_MAX_NAME_TEXT], tb[16];

	memset(&w, 0, sizeof(w));
	for (i = 0; i < set->nsigs && !found; i++)
		if (dnssec_rrsig_parse(set->sig[i], set->siglen[i], &rs) ==
		    DNSSEC_OK && dnsmsg_name_below(set->owner,
		    set->owner_len, rs.signer, rs.signer_len))
			found = 1;
	if (!found) {
		/* unsigned: fine only below an insecure cut */
		wk = walk(v, set->owner, set->owner_len, now, &k, need, &w);
		if (wk == W_NEED)
			return W_NEED;
		if (wk == W_HAVE) {
			name_text(set->owner, set->owner_len, owner,
			    sizeof(owner));
			snprintf(v->why, sizeof(v->why), "%s %s: no RRSIG "
			    "in a signed zone", owner, dnsmsg_type_str(
			    set->type, tb, sizeof(tb)));
			verdict_set(vd, VAL_BOGUS, EDE_RRSIGS_MISSING, v->why,
			    k->name, k->name_len);
			return W_BOGUS;
		}
		merge(vd, w.state, w.ede, w.why, w.zone, w.zone_len);
		return wk == W_BOGUS ? W_BOGUS : W_HAVE;
	}
	{
		uint8_t signer[DNS_MAX_NAME];
		size_t slen = rs.signer_len;

		memcpy(signer, rs.signer, slen);
		dnsmsg_name_lower(signer, slen);
		wk = walk(v, signer, slen, now, &k, need, &w);
		if (wk == W_NEED)
			return W_NEED;
		if (wk != W_HAVE) {
			merge(vd, w.state, w.ede, w.why, w.zone, w.zone_len);
			return wk;
		}
		if (k->name_len != slen || memcmp(k->name, signer, slen) != 0) {
			verdict_set(vd, VAL_BOGUS, EDE_BOGUS,
			    "the signer is not a zone", signer, slen);
			return W_BOGUS;
		}
	}
	r = verify(v, set, k, now, budget, &sig);
	name_text(set->owner, set->owner_len, owner, sizeof(owner));
	if (r == DNSSEC_OK && dnssec_rrsig_parse(set->sig[sig],
	    set->siglen[sig], &rs) == DNSSEC_OK)
		tracef(v, "%s %s secure key %u/%u", owner, dnsmsg_type_str(
		    set->type, tb, sizeof(tb)), rs.key_tag, rs.algorithm);
	else
		tracef(v, "%s %s %s", owner, dnsmsg_type_str(set->type, tb,
		    sizeof(tb)), dnssec_result_names[r]);
	if (r != DNSSEC_OK) {
		verdict_set(vd, VAL_BOGUS, ede_of(r), sig_why(v, set, r),
		    k->name, k->name_len);
		if (r == DNSSEC_INTERNAL)
			vd->ttl = 0;
		return W_BOGUS;
	}
	if (dnssec_rrsig_parse(set->sig[sig], set->siglen[sig], &rs) !=
	    DNSSEC_OK)
		return W_BOGUS;	/* it verified: cannot be */
	if (proof_ttl(v, set->ttl, &rs, now) < vd->ttl)
		vd->ttl = proof_ttl(v, set->ttl, &rs, now);
	merge(vd, VAL_SECURE, -1, "", k->name, k->name_len);
	if (rs.labels >= dnssec_name_labels(set->owner, set->owner_len))
		return W_HAVE;
	/* a wildcard expansion: no closer name may exist */
	n = denial_records(v, &v->ns, k, now, budget, &is3, vd, &vd->ttl);
	if (n < 0)
		return W_BOGUS;
	pr = n == 0 ? NSEC_NO_PROOF : is3 ? nsec3_prove_wildcard(v->nsec,
	    (size_t)n, k->name, k->name_len, set->owner, set->owner_len,
	    rs.labels, NSEC3_MAX_ITERATIONS, &proof) :
	    nsec_prove_wildcard(v->nsec, (size_t)n, k->name, k->name_len,
	    set->owner, set->owner_len, rs.labels, &proof);
	if (n > 0)
		charge_hashes(v, &proof, budget);
	tracef(v, "%s wildcard %s", owner, nsec_result_names[pr]);
	if (pr == NSEC_PROVEN)
		return W_HAVE;
	if (pr == NSEC_OPTOUT || pr == NSEC_UNSUPPORTED) {
		merge(vd, VAL_INSECURE, -1, "wildcard under NSEC3 opt-out",
		    k->name, k->name_len);
		return W_HAVE;
	}
	verdict_set(vd, VAL_BOGUS, pr == NSEC_ERROR ? 0 : EDE_NSEC_MISSING,
	    "a wildcard expansion without proof that no closer name exists",
	    k->name, k->name_len);
	return W_BOGUS;
}

/* NXDOMAIN (nx) or NODATA for name, qtype: proved by the SOA's zone. */
static enum walk
judge_negative(struct validator *v, const uint8_t *name, size_t len,
    uint16_t qtype, int nx, uint32_t now, unsigned *budget,
    struct val_verdict *vd, struct val_need *need)
{
	const struct dnssec_rrset *soa = NULL, *s;
	struct dnssec_rrsig rs;
	struct nsec_proof proof;
	struct val_verdict w;
	struct ent *k;
	enum walk wk;
	enum nsec_result pr;
	uint8_t signer[DNS_MAX_NAME];
	size_t i, slen = 0;
	uint32_t min;
	long n;
	int is3;
	char text[DNS_MAX_NAME_TEXT];

	memset(&w, 0, sizeof(w));
	for (i = 0; i < v->ns.nsets; i++) {
		s = &v->ns.set[i];
		if (s->type == DNS_TYPE_SOA && s->n > 0 && soa == NULL &&
		    dnsmsg_name_below(name, len, s->owner, s->owner_len))
			soa = s;
	}
	for (i = 0; i < v->ns.nsets && slen == 0; i++) {
		s = soa != NULL ? soa : &v->ns.set[i];
		if (s->type != DNS_TYPE_SOA && s->type != DNS_TYPE_NSEC &&
		    s->type != DNS_TYPE_NSEC3)
			continue;
		if (s->nsigs > 0 && dnssec_rrsig_parse(s->sig[0],
		    s->siglen[0], &rs) == DNSSEC_OK) {
			memcpy(signer, rs.signer, rs.signer_len);
			slen = rs.signer_len;
			dnsmsg_name_lower(signer, slen);
		}
		if (soa != NULL)
			break;
	}
	if (slen == 0) {
		/* unsigned denial: fine only below an insecure cut */
		wk = walk(v, name, len, now, &k, need, &w);
		if (wk == W_NEED)
			return W_NEED;
		if (wk == W_HAVE) {
			name_text(name, len, text, sizeof(text));
			snprintf(v->why, sizeof(v->why), "%s: %s without a "
			    "signed SOA or NSEC in a signed zone", text,
			    nx ? "NXDOMAIN" : "NODATA");
			verdict_set(vd, VAL_BOGUS, EDE_RRSIGS_MISSING, v->why,
			    k->name, k->name_len);
			return W_BOGUS;
		}
		merge(vd, w.state, w.ede, w.why, w.zone, w.zone_len);
		return wk == W_BOGUS ? W_BOGUS : W_HAVE;
	}
	wk = walk(v, signer, slen, now, &k, need, &w);
	if (wk == W_NEED)
		return W_NEED;
	if (wk != W_HAVE) {
		merge(vd, w.state, w.ede, w.why, w.zone, w.zone_len);
		return wk;
	}
	if (k->name_len != slen || memcmp(k->name, signer, slen) != 0 ||
	    !dnsmsg_name_below(name, len, signer, slen)) {
		verdict_set(vd, VAL_BOGUS, EDE_BOGUS, "the denial's signer is "
		    "not the name's zone", signer, slen);
		return W_BOGUS;
	}
	if (soa != NULL && (wk = judge_set(v, soa, now, budget, vd, need)) !=
	    W_HAVE)
		return wk;
	if ((n = denial_records(v, &v->ns, k, now, budget, &is3, vd,
	    &vd->ttl)) < 0)
		return W_BOGUS;
	/* a verified SOA: its minimum bounds the negative TTL (RFC 2308) */
	if (soa != NULL && soa->rdlen[0] >= 4) {
		min = (uint32_t)soa->rdata[0][soa->rdlen[0] - 4] << 24 |
		    (uint32_t)soa->rdata[0][soa->rdlen[0] - 3] << 16 |
		    (uint32_t)soa->rdata[0][soa->rdlen[0] - 2] << 8 |
		    soa->rdata[0][soa->rdlen[0] - 1];
		if (min < vd->ttl)
			vd->ttl = min;
	}
	if (n == 0)
		pr = NSEC_NO_PROOF;
	else if (is3) {
		pr = nx ? nsec3_prove_nxdomain(v->nsec, (size_t)n, k->name,
		    k->name_len, name, len, NSEC3_MAX_ITERATIONS, &proof) :
		    nsec3_prove_nodata(v->nsec, (size_t)n, k->name,
		    k->name_len, name, len, qtype, NSEC3_MAX_ITERATIONS,
		    &proof);
		charge_hashes(v, &proof, budget);
	} else
		pr = nx ? nsec_prove_nxdomain(v->nsec, (size_t)n, k->name,
		    k->name_len, name, len, &proof) :
		    nsec_prove_nodata(v->nsec, (size_t)n, k->name,
		    k->name_len, name, len, qtype, &proof);
	name_text(name, len, text, sizeof(text));
	tracef(v, "%s %s %s %s", text, nx ? "NXDOMAIN" : "NODATA",
	    is3 ? "NSEC3" : "NSEC", nsec_result_names[pr]);
	if (pr == NSEC_PROVEN) {
		merge(vd, VAL_SECURE, -1, "", k->name, k->name_len);
		return W_HAVE;
	}
	if (pr == NSEC_OPTOUT || pr == NSEC_UNSUPPORTED) {
		merge(vd, VAL_INSECURE, -1, pr == NSEC_OPTOUT ?
		    "denial under NSEC3 opt-out" :
		    "NSEC3 beyond what is checked", k->name, k->name_len);
		return W_HAVE;
	}
	snprintf(v->why, sizeof(v->why), "%s: %s not proved (%s)", text,
	    nx ? "NXDOMAIN" : "NODATA", nsec_result_names[pr]);
	verdict_set(vd, VAL_BOGUS, pr == NSEC_ERROR ? 0 : EDE_NSEC_MISSING,
	    v->why, k->name, k->name_len);
	if (pr == NSEC_ERROR)
		vd->ttl = 0;
	return W_BOGUS;
}

/* The set of the answer at index i is on the judged chain. */
static void
on_chain(struct validator *v, const struct dnssec_rrset *set)
{
	size_t i = (size_t)(set - v->an.set);

	if (i < DNSSEC_MAX_SETS)
		v->judged[i] = 1;
}

/*
 * A CNAME set at name (nlen bytes) that a DNAME synthesized: if there
 * is one it must be one record equal to the substitution target
 * (RFC 6672 5.3.1), or a client following it goes where the DNAME does
 * not.  0, or -1 (bogus: vd set).
 */
static int
check_synth(struct validator *v, const uint8_t *name, size_t nlen,
    const uint8_t *target, size_t tlen, struct val_verdict *vd)
{
	const struct dnssec_rrset *cn;
	char text[DNS_MAX_NAME_TEXT];

	cn = dnssec_find(&v->an, name, nlen, DNS_TYPE_CNAME, DNS_CLASS_IN);
	if (cn == NULL || cn->n == 0)
		return 0;
	on_chain(v, cn);
	if (cn->n == 1 && dnsmsg_name_equal(cn->rdata[0], cn->rdlen[0],
	    target, tlen))
		return 0;
	name_text(name, nlen, text, sizeof(text));
	snprintf(v->why, sizeof(v->why), "%s CNAME: not the DNAME's "
	    "substitution (RFC 6672 5.3.1)", text);
	verdict_set(vd, VAL_BOGUS, EDE_BOGUS, v->why, NULL, 0);
	return -1;
}

/*
 * Every RRset of the answer section with records must be on the judged
 * chain: one that is not (a CNAME or an address for another name, a
 * second set at the name) would reach the client beside a secure
 * verdict.  0, or -1 (bogus: vd set).
 */
static int
check_extra(struct validator *v, struct val_verdict *vd)
{
	const struct dnssec_rrset *s;
	char text[DNS_MAX_NAME_TEXT], tb[16];
	size_t i;

	for (i = 0; i < v->an.nsets; i++) {
		s = &v->an.set[i];
		if (s->n == 0 || v->judged[i])
			continue;
		name_text(s->owner, s->owner_len, text, sizeof(text));
		snprintf(v->why, sizeof(v->why), "%s %s: an RRset off the "
		    "chain from the question's name", text,
		    dnsmsg_type_str(s->type, tb, sizeof(tb)));
		verdict_set(vd, VAL_BOGUS, EDE_BOGUS, v->why, NULL, 0);
		return -1;
	}
	return 0;
}

/*
 * An ANY question: every RRset at name (a CNAME and NSEC included),
 * each with its signer's keys; *any says whether there was one.
 */
static enum walk
judge_any(struct validator *v, const uint8_t *name, size_t nlen,
    uint32_t now, unsigned *budget, struct val_verdict *vd,
    struct val_need *need, int *any)
{
	const struct dnssec_rrset *s;
	enum walk wk;
	size_t i;

	*any = 0;
	for (i = 0; i < v->an.nsets; i++) {
		s = &v->an.set[i];
		if (s->n == 0 || !dnsmsg_name_equal(s->owner, s->owner_len,
		    name, nlen))
			continue;
		*any = 1;
		on_chain(v, s);
		if ((wk = judge_set(v, s, now, budget, vd, need)) != W_HAVE)
			return wk;
	}
	return W_HAVE;
}

enum val_step
validator_check(struct validator *v, const struct dns_query_info *qi,
    const uint8_t *msg, size_t len, uint32_t now, unsigned *budget,
    struct val_verdict *vd, struct val_need *need)
{
	const struct dnssec_rrset *set;
	uint8_t name[DNS_MAX_NAME], target[DNS_MAX_NAME];
	size_t nlen, tlen, i, pre;
	enum walk wk = W_HAVE;
	int rcode, link, any;

	memset(vd, 0, sizeof(*vd));
	vd->state = VAL_SECURE;
	vd->ede = -1;
	vd->why = "";
	vd->ttl = UINT32_MAX;
	v->st.clock_behind = clock_behind(v, now);
	if (qi->qclass != DNS_CLASS_IN || qi->qname_len == 0 ||
	    len < DNS_HDR_LEN) {
		vd->state = VAL_INSECURE;
		vd->why = "not a question of class IN";
		return VAL_DONE;
	}
	rcode = dnsmsg_rcode(msg);
	if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN) {
		vd->state = VAL_INSECURE;
		vd->flags |= VAL_F_BARE;
		vd->why = "an error answer: nothing to validate";
		return VAL_DONE;
	}
	if (qi->qtype == DNS_TYPE_RRSIG) {
		/* RRSIGs of many sets: no set to check them against */
		vd->state = VAL_INSECURE;
		vd->why = "an RRSIG question: signatures are not validated as "
		    "a set";
		return VAL_DONE;
	}
	if (*budget == 0) {
		verdict_set(vd, VAL_BOGUS, EDE_BOGUS, "signature check budget "
		    "spent", NULL, 0);
		return VAL_DONE;
	}
	if (dnssec_collect(msg, len, DNS_SEC_ANSWER, &v->an) != DNSSEC_OK ||
	    dnssec_collect(msg, len, DNS_SEC_AUTHORITY, &v->ns) !=
	    DNSSEC_OK) {
		verdict_set(vd, VAL_BOGUS, EDE_BOGUS, "an answer that does not "
		    "parse or is too large", NULL, 0);
		return VAL_DONE;
	}
	memset(v->judged, 0, sizeof(v->judged));
	memcpy(name, qi->qname, qi->qname_len);
	nlen = qi->qname_len;
	dnsmsg_name_lower(name, nlen);
	for (link = 0; link <= VALIDATOR_CNAME_MAX; link++) {
		/*
		 * A DNAME above name: the CNAME at name is synthesized from
		 * it and need not be signed (RFC 6672 5.3.1), so the DNAME
		 * goes first; nothing can exist below a DNAME's owner.
		 */
		for (i = 0, set = NULL; i < v->an.nsets; i++)
			if (v->an.set[i].type == DNS_TYPE_DNAME &&
			    v->an.set[i].n > 0 && v->an.set[i].owner_len <
			    nlen && dnsmsg_name_below(name, nlen,
			    v->an.set[i].owner, v->an.set[i].owner_len)) {
				set = &v->an.set[i];
				break;
			}
		if (set != NULL) {
			on_chain(v, set);
			if ((wk = judge_set(v, set, now, budget, vd, need)) !=
			    W_HAVE)
				break;
			pre = nlen - set->owner_len;
			if (set->n != 1 || pre + set->rdlen[0] > DNS_MAX_NAME ||
			    !nsec_name_valid(set->rdata[0], set->rdlen[0])) {
				verdict_set(vd, VAL_BOGUS, EDE_BOGUS, "a DNAME "
				    "set of more than one record, or that "
				    "makes too long a name", NULL, 0);
				wk = W_BOGUS;
				break;
			}
			memcpy(target, name, pre);
			memcpy(target + pre, set->rdata[0], set->rdlen[0]);
			tlen = pre + set->rdlen[0];
			dnsmsg_name_lower(target, tlen);
			if (check_synth(v, name, nlen, target, tlen, vd) != 0) {
				wk = W_BOGUS;
				break;
			}
			memcpy(name, target, tlen);
			nlen = tlen;
			/* a CNAME question ends at the synthesized CNAME */
			if (qi->qtype == DNS_TYPE_CNAME)
				break;
			continue;
		}
		if (qi->qtype == DNS_TYPE_ANY) {
			if ((wk = judge_any(v, name, nlen, now, budget, vd,
			    need, &any)) != W_HAVE || any)
				break;
		} else if ((set = dnssec_find(&v->an, name, nlen, qi->qtype,
		    DNS_CLASS_IN)) != NULL && set->n > 0) {
			on_chain(v, set);
			wk = judge_set(v, set, now, budget, vd, need);
			break;
		}
		if (qi->qtype != DNS_TYPE_CNAME && (set = dnssec_find(&v->an,
		    name, nlen, DNS_TYPE_CNAME, DNS_CLASS_IN)) != NULL &&
		    set->n > 0) {
			on_chain(v, set);
			if ((wk = judge_set(v, set, now, budget, vd, need)) !=
			    W_HAVE)
				break;
			if (set->n != 1 || set->rdlen[0] > DNS_MAX_NAME ||
			    !nsec_name_valid(set->rdata[0], set->rdlen[0])) {
				verdict_set(vd, VAL_BOGUS, EDE_BOGUS, "a CNAME "
				    "set of more than one record", NULL, 0);
				wk = W_BOGUS;
				break;
			}
			memcpy(name, set->rdata[0], set->rdlen[0]);
			nlen = set->rdlen[0];
			dnsmsg_name_lower(name, nlen);
			continue;
		}
		wk = judge_negative(v, name, nlen, qi->qtype,
		    rcode == DNS_RCODE_NXDOMAIN, now, budget, vd, need);
		break;
	}
	if (wk == W_NEED)
		return VAL_NEED;
	if (link > VALIDATOR_CNAME_MAX)
		verdict_set(vd, VAL_BOGUS, EDE_BOGUS, "a CNAME chain too long",
		    NULL, 0);
	if (vd->state != VAL_BOGUS)
		(void)check_extra(v, vd);
	if (vd->why == NULL || (vd->state == VAL_SECURE &&
	    vd->why[0] == '\0'))
		vd->why = vd->state == VAL_SECURE ?
		    "every RRset and denial verified from a trust anchor" : "";
	if (vd->state == VAL_BOGUS && v->win_flagged &&
	    (vd->ede == EDE_EXPIRED || vd->ede == EDE_NOT_YET_VALID))
		vd->why = clock_why(v, vd->why, now);
	tracef(v, "verdict %s ede %d%s%s", val_state_names[vd->state],
	    vd->ede, vd->why[0] != '\0' ? ": " : "", vd->why);
	return VAL_DONE;
}

/* ------------------------------------------------------------ lifetime */

struct validator *
validator_new(const struct dnssec_anchor *a, size_t na,
    const uint8_t *const *nta, const size_t *nta_len, size_t nnta,
    size_t max_entries)
{
	struct validator *v;
	size_t i;

	if (max_entries == 0 || (na > 0 && a == NULL) ||
	    (nnta > 0 && (nta == NULL || nta_len == NULL)))
		return NULL;
	for (i = 0; i < nnta; i++)
		if (nta_len[i] == 0 || nta_len[i] > DNS_MAX_NAME ||
		    !nsec_name_valid(nta[i], nta_len[i]))
			return NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->max = max_entries;
	for (v->nbuckets = 16; v->nbuckets < max_entries &&
	    v->nbuckets < 65536; v->nbuckets *= 2)
		;
	if ((v->buckets = calloc(v->nbuckets, sizeof(*v->buckets))) == NULL)
		goto fail;
	if (na > 0) {
		if ((v->anchors = calloc(na, sizeof(*a))) == NULL)
			goto fail;
		memcpy(v->anchors, a, na * sizeof(*a));
		for (i = 0; i < na; i++)
			dnsmsg_name_lower(v->anchors[i].owner,
			    v->anchors[i].owner_len);
		v->na = na;
	}
	if (nnta > 0) {
		if ((v->nta = calloc(nnta, sizeof(*v->nta))) == NULL ||
		    (v->nta_len = calloc(nnta, sizeof(size_t))) == NULL)
			goto fail;
		for (i = 0; i < nnta; i++) {
			memcpy(v->nta[i], nta[i], nta_len[i]);
			v->nta_len[i] = nta_len[i];
		}
		v->nnta = nnta;
	}
	return v;
fail:
	validator_free(v);
	return NULL;
}

void
validator_flush(struct validator *v)
{
	while (v->head != NULL)
		ent_remove(v, v->head);
	memset(v->memo, 0, sizeof(v->memo));
}

void
validator_free(struct validator *v)
{
	if (v == NULL)
		return;
	if (v->buckets != NULL)
		validator_flush(v);
	free(v->buckets);
	free(v->anchors);
	free(v->nta);
	free(v->nta_len);
	free(v);
}

const struct validator_stats *
validator_stats(const struct validator *v)
{
	return &v->st;
}

void
validator_set_trace(struct validator *v, validator_trace_cb *cb, void *arg)
{
	v->trace = cb;
	v->trace_arg = arg;
}
