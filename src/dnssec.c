/*
 * dnssec: canonical form, RRSIG and DS checks, trust anchors.  Every
 * read from a message goes through dnsmsg's cursor; every buffer has a
 * fixed size but the one holding the signed data of a verification,
 * whose size is bounded by DNSSEC_SIGNED_MAX.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "dohstub/dnssec.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define RRSIG_FIXED	18	/* type covered .. key tag */
#define RSA_MAX_EXP	8	/* bytes of RSA exponent accepted */

const char *const dnssec_result_names[] = {
	"ok",
	"bogus signature",
	"signature expired",
	"signature not yet valid",
	"unsupported algorithm",
	"unsupported digest",
	"bad key",
	"key mismatch",
	"rrsig mismatch",
	"digest mismatch",
	"malformed",
	"no signature",
	"too big",
	"internal error",
};

/*
 * KSK-2017 and KSK-2024, from IANA's root-anchors.xml; the same as
 * Debian's dns-root-data 2024071801 (/usr/share/dns/root.ds).
 */
const char dnssec_root_anchors[] =
	"; The root zone's KSKs: KSK-2017, KSK-2024 (IANA root-anchors)\n"
	". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D084"
	"58E880409BBC683457104237C7F8EC8D\n"
	". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219"
	"298D0A450D612C483AF444A4C0FB2B16\n";

/* --- names --- */

/* Labels, the root not counted; -1 if not one well-formed name. */
static int
name_labels_all(const uint8_t *name, size_t len)
{
	size_t off = 0;
	int n = 0;

	while (off < len && name[off] != 0) {
		if (name[off] > 63)
			return -1;
		off += 1 + (size_t)name[off];
		n++;
	}
	return off + 1 == len ? n : -1;
}

int
dnssec_name_labels(const uint8_t *name, size_t len)
{
	int n;

	if ((n = name_labels_all(name, len)) <= 0)
		return n;
	return name[0] == 1 && name[1] == '*' ? n - 1 : n;
}

/* --- canonical RDATA --- */

/*
 * RFC 4034 6.2 item 3: the names inside the RDATA of the types it lists
 * decompressed and lowercased (dnsmsg_rdata_layout() has them), but for
 * NSEC, whose next name keeps its case (RFC 6840 5.1); RRSIG's signer is
 * lowercased (RFC 6840 5.1).  HINFO is on the list but holds no name.
 * -1: malformed; 0: w holds the form, or has err set if out of room.
 */
static int
canonical(uint16_t type, const struct dnsmsg_rd *rd, struct dnsmsg_wr *w)
{
	struct dnsmsg_rd r = *rd;
	const uint8_t *p;
	size_t n;

	if (type != DNS_TYPE_NSEC)
		return dnsmsg_rdata_copy(&r, type, 1, w);
	n = dnsmsg_rd_left(&r);
	if (dnsmsg_rd_bytes(&r, n, &p) == -1)
		return -1;
	dnsmsg_wr_bytes(w, p, n);
	return 0;
}

long
dnssec_rdata_canonical(uint16_t type, const struct dnsmsg_rd *rd,
    uint8_t *out, size_t cap)
{
	struct dnsmsg_wr w;

	dnsmsg_wr_init(&w, out, cap);
	if (canonical(type, rd, &w) == -1 || w.err || w.len > UINT16_MAX)
		return -1;
	return (long)w.len;
}

/* --- collecting RRsets --- */

static struct dnssec_rrset *
set_for(struct dnssec_sets *out, const uint8_t *owner, size_t owner_len,
    uint16_t type, uint16_t class, enum dnssec_result *res)
{
	struct dnssec_rrset *s;

	s = (struct dnssec_rrset *)dnssec_find(out, owner, owner_len, type,
	    class);
	if (s != NULL)
		return s;
	if (out->nsets == DNSSEC_MAX_SETS) {
		*res = DNSSEC_TOO_BIG;
		return NULL;
	}
	s = &out->set[out->nsets++];
	memcpy(s->owner, owner, owner_len);
	s->owner_len = owner_len;
	s->type = type;
	s->class = class;
	s->ttl = 0;
	s->n = 0;
	s->nsigs = 0;
	return s;
}

static enum dnssec_result
collect_rr(struct dnssec_sets *out, const uint8_t *owner,
    const struct dns_rr *rr)
{
	struct dnssec_rrset *s;
	struct dnssec_rrsig sig;
	enum dnssec_result res = DNSSEC_OK;
	struct dnsmsg_wr w;
	uint8_t *p = out->arena + out->used;
	size_t len;

	dnsmsg_wr_init(&w, p, DNSSEC_ARENA - out->used);
	if (canonical(rr->type, &rr->rdata, &w) == -1)
		return DNSSEC_MALFORMED;
	/* Decompressed names can take RDATA past what RDLENGTH holds. */
	if (w.err || w.len > UINT16_MAX)
		return DNSSEC_TOO_BIG;
	len = w.len;
	if (rr->type == DNS_TYPE_RRSIG) {
		if (dnssec_rrsig_parse(p, len, &sig) != DNSSEC_OK)
			return DNSSEC_MALFORMED;
		if ((s = set_for(out, owner, rr->owner_len, sig.type_covered,
		    rr->class, &res)) == NULL)
			return res;
		if (s->nsigs == DNSSEC_MAX_SIGS)
			return DNSSEC_TOO_BIG;
		s->sig[s->nsigs] = p;
		s->siglen[s->nsigs++] = (uint16_t)len;
	} else {
		if ((s = set_for(out, owner, rr->owner_len, rr->type,
		    rr->class, &res)) == NULL)
			return res;
		if (s->n == DNSSEC_MAX_RRS)
			return DNSSEC_TOO_BIG;
		if (s->n == 0 || rr->ttl < s->ttl)
			s->ttl = rr->ttl;
		s->rdata[s->n] = p;
		s->rdlen[s->n++] = (uint16_t)len;
	}
	out->used += len;
	return DNSSEC_OK;
}

enum dnssec_result
dnssec_collect(const uint8_t *msg, size_t len, enum dns_section sec,
    struct dnssec_sets *out)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	enum dnssec_result res;
	uint8_t owner[DNS_MAX_NAME];
	size_t i, s;

	out->nsets = 0;
	out->used = 0;
	dnsmsg_rd_init(&r, msg, len);
	if (sec == DNS_SEC_QUESTION || sec >= DNS_SEC_MAX ||
	    dnsmsg_rd_header(&r, &h) == -1)
		return DNSSEC_MALFORMED;
	for (i = 0; i < h.count[DNS_SEC_QUESTION]; i++)
		if (dnsmsg_rd_name(&r, NULL, NULL) == -1 ||
		    dnsmsg_rd_skip(&r, 4) == -1)
			return DNSSEC_MALFORMED;
	for (s = DNS_SEC_ANSWER; s <= (size_t)sec; s++) {
		for (i = 0; i < h.count[s]; i++) {
			if (dnsmsg_rd_rr(&r, owner, &rr) == -1)
				return DNSSEC_MALFORMED;
			if (s != sec || rr.type == DNS_TYPE_OPT)
				continue;
			dnsmsg_name_lower(owner, rr.owner_len);
			if ((res = collect_rr(out, owner, &rr)) != DNSSEC_OK)
				return res;
		}
	}
	return DNSSEC_OK;
}

const struct dnssec_rrset *
dnssec_find(const struct dnssec_sets *sets, const uint8_t *owner,
    size_t owner_len, uint16_t type, uint16_t class)
{
	const struct dnssec_rrset *s;
	size_t i;

	for (i = 0; i < sets->nsets; i++) {
		s = &sets->set[i];
		if (s->type == type && s->class == class &&
		    dnsmsg_name_equal(s->owner, s->owner_len, owner,
		    owner_len))
			return s;
	}
	return NULL;
}

/* --- RRSIG, DNSKEY, DS fields --- */

enum dnssec_result
dnssec_rrsig_parse(const uint8_t *rdata, size_t len, struct dnssec_rrsig *sig)
{
	struct dnsmsg_rd r;
	size_t at;

	/*
	 * The signer is read as a name of its own: a cursor over the RDATA
	 * alone, so a compression pointer (RFC 4034 3.1.7 forbids them)
	 * cannot land anywhere.
	 */
	dnsmsg_rd_init(&r, rdata, len);
	if (dnsmsg_rd_u16(&r, &sig->type_covered) == -1 ||
	    dnsmsg_rd_u8(&r, &sig->algorithm) == -1 ||
	    dnsmsg_rd_u8(&r, &sig->labels) == -1 ||
	    dnsmsg_rd_u32(&r, &sig->original_ttl) == -1 ||
	    dnsmsg_rd_u32(&r, &sig->expiration) == -1 ||
	    dnsmsg_rd_u32(&r, &sig->inception) == -1 ||
	    dnsmsg_rd_u16(&r, &sig->key_tag) == -1)
		return DNSSEC_MALFORMED;
	at = r.off;
	/* A name in place: labels up to the root, no pointer. */
	while (at < len && rdata[at] != 0) {
		if (rdata[at] > 63)
			return DNSSEC_MALFORMED;
		at += 1 + (size_t)rdata[at];
	}
	if (at >= len || at + 1 - r.off > DNS_MAX_NAME)
		return DNSSEC_MALFORMED;
	sig->signer = rdata + r.off;
	sig->signer_len = at + 1 - r.off;
	sig->fixed_len = at + 1;
	sig->signature = rdata + sig->fixed_len;
	sig->signature_len = len - sig->fixed_len;
	return DNSSEC_OK;
}

uint16_t
dnssec_key_tag(const uint8_t *rdata, size_t len)
{
	uint32_t ac = 0;
	size_t i;

	if (len < 4)
		return 0;
	/* B.1: the modulus's bits 8 to 23, from its end. */
	if (rdata[3] == DNSSEC_ALG_RSAMD5)
		return len < 7 ? 0 :
		    (uint16_t)(rdata[len - 3] << 8 | rdata[len - 2]);
	for (i = 0; i < len; i++)
		ac += (i & 1) ? rdata[i] : (uint32_t)rdata[i] << 8;
	ac += ac >> 16 & 0xffff;
	return (uint16_t)(ac & 0xffff);
}

enum dnssec_result
dnssec_dnskey_parse(const uint8_t *rdata, size_t len,
    struct dnssec_dnskey *key)
{
	if (len < 4)
		return DNSSEC_MALFORMED;
	key->flags = (uint16_t)(rdata[0] << 8 | rdata[1]);
	key->protocol = rdata[2];
	key->algorithm = rdata[3];
	key->key = rdata + 4;
	key->key_len = len - 4;
	key->tag = dnssec_key_tag(rdata, len);
	return DNSSEC_OK;
}

int
dnssec_algorithm_supported(uint8_t alg)
{
	switch (alg) {
	case DNSSEC_ALG_RSASHA256:
	case DNSSEC_ALG_RSASHA512:
	case DNSSEC_ALG_ECDSAP256SHA256:
	case DNSSEC_ALG_ECDSAP384SHA384:
	case DNSSEC_ALG_ED25519:
	case DNSSEC_ALG_ED448:
		return 1;
	}
	return 0;
}

static const EVP_MD *
digest_md(uint8_t digest_type, size_t *len)
{
	switch (digest_type) {
	case DNSSEC_DIGEST_SHA1:
		*len = 20;
		return EVP_sha1();
	case DNSSEC_DIGEST_SHA256:
		*len = 32;
		return EVP_sha256();
	case DNSSEC_DIGEST_SHA384:
		*len = 48;
		return EVP_sha384();
	}
	return NULL;
}

int
dnssec_digest_supported(uint8_t digest_type)
{
	size_t len;

	return digest_md(digest_type, &len) != NULL;
}

/* --- time --- */

/* a < b in serial arithmetic (RFC 1982 3.2). */
static int
serial_lt(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(b - a) < 0x80000000u;
}

enum dnssec_result
dnssec_check_time(const struct dnssec_rrsig *sig, uint32_t now)
{
	if (serial_lt(now, sig->inception))
		return DNSSEC_NOT_YET_VALID;
	if (serial_lt(sig->expiration, now))
		return DNSSEC_EXPIRED;
	return DNSSEC_OK;
}

int
dnssec_made_after(const struct dnssec_rrsig *sig, uint32_t now)
{
	return sig->inception > now && sig->expiration >= sig->inception;
}

/* --- keys and signatures in OpenSSL --- */

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;

	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/*
 * RFC 3110 2: exponent length in one byte, or 0 and two bytes; the
 * exponent; the modulus.  A long exponent makes each check as dear as a
 * signing, so more than RSA_MAX_EXP bytes (64 bits) is refused.
 */
static EVP_PKEY *
key_rsa(const uint8_t *k, size_t len, enum dnssec_result *res)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pkey = NULL;
	size_t elen, off;
	int bits;

	*res = DNSSEC_BAD_KEY;
	if (len < 1)
		return NULL;
	if (k[0] != 0) {
		elen = k[0];
		off = 1;
	} else {
		if (len < 3)
			return NULL;
		elen = (size_t)k[1] << 8 | k[2];
		off = 3;
	}
	if (elen == 0 || elen > RSA_MAX_EXP || len - off <= elen)
		return NULL;
	*res = DNSSEC_INTERNAL;
	if ((e = BN_bin2bn(k + off, (int)elen, NULL)) == NULL ||
	    (n = BN_bin2bn(k + off + elen, (int)(len - off - elen),
	    NULL)) == NULL)
		goto done;
	bits = BN_num_bits(n);
	if (bits < DNSSEC_RSA_MIN_BITS || bits > DNSSEC_RSA_MAX_BITS ||
	    BN_is_zero(e) || !BN_is_odd(e)) {
		*res = DNSSEC_BAD_KEY;
		goto done;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto done;
	if ((pkey = pkey_fromdata("RSA", params)) == NULL)
		*res = DNSSEC_BAD_KEY;
 done:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/*
 * RFC 6605 4: x || y, each of the curve's size; OpenSSL takes the
 * uncompressed point 04 || x || y and refuses one off the curve.
 */
static EVP_PKEY *
key_ec(const char *group, size_t clen, const uint8_t *k, size_t len,
    enum dnssec_result *res)
{
	OSSL_PARAM params[3];
	uint8_t point[1 + 2 * 48];

	*res = DNSSEC_BAD_KEY;
	if (len != 2 * clen)
		return NULL;
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(point + 1, k, len);
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_PKEY_PARAM_PUB_KEY, point, 1 + len);
	params[2] = OSSL_PARAM_construct_end();
	return pkey_fromdata("EC", params);
}

/* RFC 8080 3: the raw public key, 32 or 57 bytes. */
static EVP_PKEY *
key_ed(int type, size_t klen, const uint8_t *k, size_t len,
    enum dnssec_result *res)
{
	*res = DNSSEC_BAD_KEY;
	if (len != klen)
		return NULL;
	return EVP_PKEY_new_raw_public_key(type, NULL, k, len);
}

static EVP_PKEY *
key_build(uint8_t alg, const uint8_t *k, size_t len, const EVP_MD **md,
    size_t *clen, enum dnssec_result *res)
{
	*clen = 0;
	switch (alg) {
	case DNSSEC_ALG_RSASHA256:
		*md = EVP_sha256();
		return key_rsa(k, len, res);
	case DNSSEC_ALG_RSASHA512:
		*md = EVP_sha512();
		return key_rsa(k, len, res);
	case DNSSEC_ALG_ECDSAP256SHA256:
		*md = EVP_sha256();
		*clen = 32;
		return key_ec("prime256v1", 32, k, len, res);
	case DNSSEC_ALG_ECDSAP384SHA384:
		*md = EVP_sha384();
		*clen = 48;
		return key_ec("secp384r1", 48, k, len, res);
	case DNSSEC_ALG_ED25519:
		*md = NULL;
		return key_ed(EVP_PKEY_ED25519, 32, k, len, res);
	case DNSSEC_ALG_ED448:
		*md = NULL;
		return key_ed(EVP_PKEY_ED448, 57, k, len, res);
	}
	*res = DNSSEC_UNSUPPORTED_ALGORITHM;
	return NULL;
}

/*
 * Keys made into EVP_PKEYs are kept: building one costs a fifth of a
 * P-256 check (EVP_PKEY_fromdata checks the point), and the same few
 * keys (the root's, a TLD's, a busy zone's) sign answer after answer.
 * Direct-mapped by a hash of the algorithm and the key, compared whole;
 * only keys that built are kept, each slot holding a reference.
 */
#define KEY_CACHE	32

static struct key_kept {
	uint8_t		*key;		/* a copy; NULL: the slot is free */
	size_t		 len, clen;
	uint8_t		 alg;
	const EVP_MD	*md;
	EVP_PKEY	*pkey;
} key_cache[KEY_CACHE];
static uint64_t key_cache_hits;

static void
key_drop(struct key_kept *c)
{
	free(c->key);
	EVP_PKEY_free(c->pkey);
	memset(c, 0, sizeof(*c));
}

/* key_build(), or the kept key: a reference the caller frees. */
static EVP_PKEY *
key_pkey(uint8_t alg, const uint8_t *k, size_t len, const EVP_MD **md,
    size_t *clen, enum dnssec_result *res)
{
	struct key_kept *c;
	EVP_PKEY *pkey;
	uint32_t h = 2166136261u ^ alg;	/* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ k[i]) * 16777619u;
	c = &key_cache[h % KEY_CACHE];
	if (c->key != NULL && c->alg == alg && c->len == len &&
	    memcmp(c->key, k, len) == 0 && EVP_PKEY_up_ref(c->pkey) == 1) {
		key_cache_hits++;
		*md = c->md;
		*clen = c->clen;
		return c->pkey;
	}
	if ((pkey = key_build(alg, k, len, md, clen, res)) == NULL)
		return pkey;
	key_drop(c);
	if ((c->key = malloc(len)) == NULL)
		return pkey;
	if (EVP_PKEY_up_ref(pkey) != 1) {
		key_drop(c);
		return pkey;
	}
	memcpy(c->key, k, len);
	c->len = len;
	c->clen = *clen;
	c->alg = alg;
	c->md = *md;
	c->pkey = pkey;
	return pkey;
}

uint64_t
dnssec_key_cache_hits(void)
{
	return key_cache_hits;
}

void
dnssec_key_cache_free(void)
{
	size_t i;

	for (i = 0; i < KEY_CACHE; i++)
		key_drop(&key_cache[i]);
}

/*
 * RFC 6605 4: the signature is r || s; EVP wants DER.  Returns the DER
 * length, 0 if sig is not of the curve's size, -1 on failure.
 */
static int
ecdsa_der(const uint8_t *sig, size_t len, size_t clen, uint8_t **der)
{
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	int n;

	if (len != 2 * clen)
		return 0;
	if ((es = ECDSA_SIG_new()) == NULL)
		return -1;
	r = BN_bin2bn(sig, (int)clen, NULL);
	s = BN_bin2bn(sig + clen, (int)clen, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -1;
	}
	*der = NULL;
	n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	return n > 0 ? n : -1;
}

static enum dnssec_result
verify_crypto(uint8_t alg, const uint8_t *key, size_t key_len,
    const uint8_t *sig, size_t sig_len, const uint8_t *data, size_t len)
{
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pkey;
	const EVP_MD *md = NULL;
	enum dnssec_result res;
	uint8_t *der = NULL;
	size_t clen;
	int n;

	if ((pkey = key_pkey(alg, key, key_len, &md, &clen, &res)) == NULL)
		goto done;
	if (clen != 0) {
		if ((n = ecdsa_der(sig, sig_len, clen, &der)) <= 0) {
			res = n == 0 ? DNSSEC_BOGUS_SIGNATURE :
			    DNSSEC_INTERNAL;
			goto done;
		}
		sig = der;
		sig_len = (size_t)n;
	}
	res = DNSSEC_INTERNAL;
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(mctx, NULL, md, NULL, pkey) != 1)
		goto done;
	/* One call for all: EdDSA (RFC 8032) cannot take the data in parts. */
	res = EVP_DigestVerify(mctx, sig, sig_len, data, len) == 1 ?
	    DNSSEC_OK : DNSSEC_BOGUS_SIGNATURE;
 done:
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return res;
}

/* --- the signed data (RFC 4034 3.1.8.1) --- */

/* RFC 4034 6.3: RDATA as left-justified octet strings, shorter first. */
static int
rdata_cmp(const struct dnssec_rrset *set, size_t a, size_t b)
{
	size_t la = set->rdlen[a], lb = set->rdlen[b];
	int c;

	c = memcmp(set->rdata[a], set->rdata[b], la < lb ? la : lb);
	if (c != 0)
		return c;
	return la < lb ? -1 : la > lb;
}

/* Sorted indexes of the distinct records of set into idx; how many. */
static size_t
canonical_order(const struct dnssec_rrset *set, size_t *idx)
{
	size_t i, j, n = 0;
	int c;

	for (i = 0; i < set->n; i++) {
		for (j = n; j > 0; j--) {
			if ((c = rdata_cmp(set, idx[j - 1], i)) <= 0)
				break;
		}
		if (j > 0 && c == 0)
			continue;	/* a duplicate */
		memmove(idx + j + 1, idx + j, (n - j) * sizeof(*idx));
		idx[j] = i;
		n++;
	}
	return n;
}

/*
 * The owner as signed: lowercased, and for a wildcard expansion (labels
 * below the owner's count) "*." and the rightmost labels (RFC 4035
 * 5.3.2).  Length into *len.
 */
static void
signed_owner(const struct dnssec_rrset *set, int labels, uint8_t *out,
    size_t *len)
{
	const uint8_t *p = set->owner;
	size_t off = 0;
	int n = name_labels_all(set->owner, set->owner_len);

	while (n > labels) {
		off += 1 + (size_t)p[off];
		n--;
	}
	if (off == 0) {
		memcpy(out, p, set->owner_len);
		*len = set->owner_len;
	} else {
		out[0] = 1;
		out[1] = '*';
		memcpy(out + 2, p + off, set->owner_len - off);
		*len = 2 + set->owner_len - off;
	}
	dnsmsg_name_lower(out, *len);
}

/* dnssec_verify(), with flags (DNSSEC_EARLY_OK). */
static enum dnssec_result
verify_sig(const struct dnssec_rrset *set, const uint8_t *sig,
    size_t siglen, const uint8_t *key_owner, size_t key_owner_len,
    const uint8_t *dnskey, size_t keylen, uint32_t now, unsigned flags)
{
	struct dnssec_rrsig rs;
	struct dnssec_dnskey key;
	enum dnssec_result res;
	size_t idx[DNSSEC_MAX_RRS];
	uint8_t owner[DNS_MAX_NAME + 2], *data;
	size_t owner_len, n, i, total, off;
	int labels;

	if (dnssec_rrsig_parse(sig, siglen, &rs) != DNSSEC_OK ||
	    set->n == 0 || set->n > DNSSEC_MAX_RRS ||
	    set->owner_len == 0 || set->owner_len > DNS_MAX_NAME ||
	    (labels = dnssec_name_labels(set->owner, set->owner_len)) < 0)
		return DNSSEC_MALFORMED;
	if (rs.type_covered != set->type || rs.labels > labels ||
	    !dnsmsg_name_below(set->owner, set->owner_len, rs.signer,
	    rs.signer_len))
		return DNSSEC_RRSIG_MISMATCH;
	if (!dnssec_algorithm_supported(rs.algorithm))
		return DNSSEC_UNSUPPORTED_ALGORITHM;
	if (dnssec_dnskey_parse(dnskey, keylen, &key) != DNSSEC_OK)
		return DNSSEC_MALFORMED;
	if (!dnsmsg_name_equal(key_owner, key_owner_len, rs.signer,
	    rs.signer_len) || key.protocol != DNSSEC_PROTOCOL ||
	    (key.flags & DNSSEC_FLAG_ZONE) == 0 ||
	    (key.flags & DNSSEC_FLAG_REVOKE) != 0 ||
	    key.algorithm != rs.algorithm || key.tag != rs.key_tag)
		return DNSSEC_KEY_MISMATCH;
	/* made after now: a clock in 1970 reads an inception after 2038 as
	 * expired (serial arithmetic), which it is not */
	if ((res = dnssec_check_time(&rs, now)) != DNSSEC_OK &&
	    ((flags & DNSSEC_EARLY_OK) == 0 || !dnssec_made_after(&rs, now)))
		return res;

	signed_owner(set, rs.labels, owner, &owner_len);
	n = canonical_order(set, idx);
	total = rs.fixed_len;
	for (i = 0; i < n; i++)
		total += owner_len + 10 + set->rdlen[idx[i]];
	if (total > DNSSEC_SIGNED_MAX)
		return DNSSEC_TOO_BIG;
	if ((data = malloc(total)) == NULL)
		return DNSSEC_INTERNAL;
	memcpy(data, sig, rs.fixed_len);
	dnsmsg_name_lower(data + RRSIG_FIXED, rs.signer_len);
	off = rs.fixed_len;
	for (i = 0; i < n; i++) {
		memcpy(data + off, owner, owner_len);
		off += owner_len;
		data[off++] = set->type >> 8;
		data[off++] = set->type & 0xff;
		data[off++] = set->class >> 8;
		data[off++] = set->class & 0xff;
		data[off++] = rs.original_ttl >> 24;
		data[off++] = rs.original_ttl >> 16 & 0xff;
		data[off++] = rs.original_ttl >> 8 & 0xff;
		data[off++] = rs.original_ttl & 0xff;
		data[off++] = set->rdlen[idx[i]] >> 8;
		data[off++] = set->rdlen[idx[i]] & 0xff;
		memcpy(data + off, set->rdata[idx[i]], set->rdlen[idx[i]]);
		off += set->rdlen[idx[i]];
	}
	res = verify_crypto(rs.algorithm, key.key, key.key_len, rs.signature,
	    rs.signature_len, data, total);
	free(data);
	return res;
}

enum dnssec_result
dnssec_verify(const struct dnssec_rrset *set, const uint8_t *sig,
    size_t siglen, const uint8_t *key_owner, size_t key_owner_len,
    const uint8_t *dnskey, size_t keylen, uint32_t now)
{
	return verify_sig(set, sig, siglen, key_owner, key_owner_len, dnskey,
	    keylen, now, 0);
}

/* The failures of dnssec_verify_rrset(), worst last: the one reported. */
static int
failure_rank(enum dnssec_result r)
{
	static const enum dnssec_result order[] = {
		DNSSEC_MALFORMED, DNSSEC_RRSIG_MISMATCH,
		DNSSEC_UNSUPPORTED_ALGORITHM, DNSSEC_KEY_MISMATCH,
		DNSSEC_NOT_YET_VALID, DNSSEC_EXPIRED, DNSSEC_BAD_KEY,
		DNSSEC_BOGUS_SIGNATURE,
	};
	size_t i;

	for (i = 0; i < nitems(order); i++)
		if (order[i] == r)
			return (int)i;
	return 0;
}

static enum dnssec_result
worse(enum dnssec_result a, enum dnssec_result b)
{
	return failure_rank(b) > failure_rank(a) ? b : a;
}

enum dnssec_result
dnssec_verify_rrset(const struct dnssec_rrset *set,
    const struct dnssec_rrset *keys, uint32_t now, unsigned flags,
    unsigned *budget, size_t *sig_used, size_t *key_used)
{
	struct dnssec_rrsig rs;
	struct dnssec_dnskey key;
	enum dnssec_result res, best = DNSSEC_MALFORMED;
	size_t i, k, tried;

	if (set->nsigs == 0)
		return DNSSEC_NO_SIGNATURE;
	for (i = 0; i < set->nsigs && i < DNSSEC_MAX_SIGS; i++) {
		if (dnssec_rrsig_parse(set->sig[i], set->siglen[i], &rs) !=
		    DNSSEC_OK)
			continue;
		if (!dnssec_algorithm_supported(rs.algorithm)) {
			best = worse(best, DNSSEC_UNSUPPORTED_ALGORITHM);
			continue;
		}
		if (!dnsmsg_name_equal(rs.signer, rs.signer_len, keys->owner,
		    keys->owner_len)) {
			best = worse(best, DNSSEC_KEY_MISMATCH);
			continue;
		}
		tried = 0;
		for (k = 0; k < keys->n && k < DNSSEC_MAX_RRS &&
		    tried < DNSSEC_KEYS_PER_SIG; k++) {
			/* Only keys that can pass: each try costs. */
			if (dnssec_dnskey_parse(keys->rdata[k], keys->rdlen[k],
			    &key) != DNSSEC_OK || key.tag != rs.key_tag ||
			    key.algorithm != rs.algorithm)
				continue;
			if (*budget == 0)
				return DNSSEC_TOO_BIG;
			(*budget)--;
			tried++;
			res = verify_sig(set, set->sig[i], set->siglen[i],
			    keys->owner, keys->owner_len, keys->rdata[k],
			    keys->rdlen[k], now, flags);
			if (res == DNSSEC_OK) {
				if (sig_used != NULL)
					*sig_used = i;
				if (key_used != NULL)
					*key_used = k;
				return DNSSEC_OK;
			}
			if (res == DNSSEC_TOO_BIG || res == DNSSEC_INTERNAL)
				return res;
			best = worse(best, res);
		}
		if (tried == 0)
			best = worse(best, DNSSEC_KEY_MISMATCH);
	}
	return best;
}

uint32_t
dnssec_ttl(uint32_t ttl, const struct dnssec_rrsig *sig, uint32_t now)
{
	uint32_t left;

	if (sig->original_ttl < ttl)
		ttl = sig->original_ttl;
	if (serial_lt(sig->expiration, now))
		return 0;
	left = sig->expiration - now;
	return left < ttl ? left : ttl;
}

/* --- DS --- */

enum dnssec_result
dnssec_ds_match(const uint8_t *owner, size_t owner_len, const uint8_t *ds,
    size_t dslen, const uint8_t *dnskey, size_t keylen)
{
	struct dnssec_dnskey key;
	EVP_MD_CTX *mctx;
	const EVP_MD *md;
	uint8_t name[DNS_MAX_NAME], digest[EVP_MAX_MD_SIZE];
	size_t dlen;
	unsigned int got;
	enum dnssec_result res;

	if (dslen < 4 || owner_len == 0 || owner_len > DNS_MAX_NAME ||
	    name_labels_all(owner, owner_len) < 0 ||
	    dnssec_dnskey_parse(dnskey, keylen, &key) != DNSSEC_OK)
		return DNSSEC_MALFORMED;
	if ((uint16_t)(ds[0] << 8 | ds[1]) != key.tag ||
	    ds[2] != key.algorithm || key.protocol != DNSSEC_PROTOCOL ||
	    (key.flags & DNSSEC_FLAG_ZONE) == 0)
		return DNSSEC_KEY_MISMATCH;
	if ((md = digest_md(ds[3], &dlen)) == NULL)
		return DNSSEC_UNSUPPORTED_DIGEST;
	if (dslen - 4 != dlen)
		return DNSSEC_MALFORMED;
	/* RFC 4034 5.1.4: digest = H(canonical owner | DNSKEY RDATA). */
	memcpy(name, owner, owner_len);
	dnsmsg_name_lower(name, owner_len);
	res = DNSSEC_INTERNAL;
	if ((mctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(mctx, md, NULL) == 1 &&
	    EVP_DigestUpdate(mctx, name, owner_len) == 1 &&
	    EVP_DigestUpdate(mctx, dnskey, keylen) == 1 &&
	    EVP_DigestFinal_ex(mctx, digest, &got) == 1 && got == dlen)
		res = CRYPTO_memcmp(digest, ds + 4, dlen) == 0 ? DNSSEC_OK :
		    DNSSEC_DIGEST_MISMATCH;
	EVP_MD_CTX_free(mctx);
	ERR_clear_error();
	return res;
}

/* --- trust anchors --- */

#define ANCHOR_MAX_TOKENS	128

struct token {
	const char	*p;
	size_t		 len;
};

static int
anchor_err(char *err, size_t errlen, size_t line, const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "line %zu: %s", line, what);
	return -1;
}

static int
tok_is(const struct token *t, const char *s)
{
	return t->len == strlen(s) && strncasecmp(t->p, s, t->len) == 0;
}

/* A decimal number up to max; -1 if it is not one. */
static long
tok_num(const struct token *t, unsigned long max)
{
	unsigned long v = 0;
	size_t i;

	if (t->len == 0 || t->len > 10)
		return -1;
	for (i = 0; i < t->len; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(t->p[i] - '0');
	}
	return v <= max ? (long)v : -1;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The hex of tokens t[0..n-1] joined, into out; bytes or -1. */
static long
tok_hex(const struct token *t, size_t n, uint8_t *out, size_t cap)
{
	size_t i, j, len = 0;
	int hi = -1, v;

	for (i = 0; i < n; i++) {
		for (j = 0; j < t[i].len; j++) {
			if ((v = hexval(t[i].p[j])) == -1)
				return -1;
			if (hi == -1) {
				hi = v;
				continue;
			}
			if (len == cap)
				return -1;
			out[len++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return hi == -1 && len > 0 ? (long)len : -1;
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* The base64 of tokens t[0..n-1] joined, into out; bytes or -1. */
static long
tok_b64(const struct token *t, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t i, j, len = 0, chars = 0, pad = 0;
	int bits = 0, v;

	for (i = 0; i < n; i++) {
		for (j = 0; j < t[i].len; j++, chars++) {
			if (t[i].p[j] == '=') {
				pad++;
				continue;
			}
			if (pad > 0 || (v = b64val(t[i].p[j])) == -1)
				return -1;
			acc = (acc << 6 | (uint32_t)v) & 0xffffff;
			if ((bits += 6) >= 8) {
				bits -= 8;
				if (len == cap)
					return -1;
				out[len++] = (uint8_t)(acc >> bits);
			}
		}
	}
	if (chars % 4 != 0 || pad > 2 || len == 0)
		return -1;
	return (long)len;
}

/* One record's tokens, owner first (NULL: the previous owner). */
static int
anchor_record(const struct token *t, size_t nt, int inherit, size_t line,
    struct dnssec_anchor *a, const struct dnssec_anchor *prev, char *err,
    size_t errlen)
{
	char name[DNS_MAX_NAME_TEXT];
	size_t i = 0;
	long v[3], len;
	int ttl = 0, class = 0;

	if (inherit) {
		if (prev == NULL)
			return anchor_err(err, errlen, line, "no owner name");
		memcpy(a->owner, prev->owner, prev->owner_len);
		a->owner_len = prev->owner_len;
	} else {
		if (t[0].len >= sizeof(name) || tok_is(&t[0], "@") ||
		    memchr(t[0].p, '\0', t[0].len) != NULL)
			return anchor_err(err, errlen, line,
			    "bad owner name");
		memcpy(name, t[0].p, t[0].len);
		name[t[0].len] = '\0';
		if ((a->owner_len = dnsmsg_name_from_text(name, a->owner,
		    sizeof(a->owner))) == 0)
			return anchor_err(err, errlen, line,
			    "bad owner name");
		i = 1;
	}
	dnsmsg_name_lower(a->owner, a->owner_len);
	/* TTL and class, either order, each at most once. */
	for (; i < nt; i++) {
		if (!ttl && tok_num(&t[i], 0x7fffffff) != -1)
			ttl = 1;
		else if (!class && tok_is(&t[i], "IN"))
			class = 1;
		else
			break;
	}
	if (i == nt)
		return anchor_err(err, errlen, line, "no type");
	if (tok_is(&t[i], "DS"))
		a->type = DNS_TYPE_DS;
	else if (tok_is(&t[i], "DNSKEY"))
		a->type = DNS_TYPE_DNSKEY;
	else
		return anchor_err(err, errlen, line,
		    "not a DS or DNSKEY record of class IN");
	i++;
	if (nt - i < 4)
		return anchor_err(err, errlen, line, "fields missing");
	v[0] = tok_num(&t[i], 0xffff);
	v[1] = tok_num(&t[i + 1], 0xff);
	v[2] = tok_num(&t[i + 2], 0xff);
	if (v[0] == -1 || v[1] == -1 || v[2] == -1)
		return anchor_err(err, errlen, line, "bad number");
	a->rdata[0] = (uint8_t)(v[0] >> 8);
	a->rdata[1] = (uint8_t)v[0];
	a->rdata[2] = (uint8_t)v[1];
	a->rdata[3] = (uint8_t)v[2];
	if (a->type == DNS_TYPE_DS) {
		len = tok_hex(&t[i + 3], nt - i - 3, a->rdata + 4,
		    sizeof(a->rdata) - 4);
		if (len == -1)
			return anchor_err(err, errlen, line, "bad digest");
		if (dnssec_digest_supported((uint8_t)v[2]) &&
		    (size_t)len != (v[2] == DNSSEC_DIGEST_SHA1 ? 20u :
		    v[2] == DNSSEC_DIGEST_SHA256 ? 32u : 48u))
			return anchor_err(err, errlen, line,
			    "digest of the wrong length");
		a->tag = (uint16_t)v[0];
		a->algorithm = (uint8_t)v[1];
	} else {
		len = tok_b64(&t[i + 3], nt - i - 3, a->rdata + 4,
		    sizeof(a->rdata) - 4);
		if (len == -1)
			return anchor_err(err, errlen, line, "bad key");
		a->algorithm = (uint8_t)v[2];
	}
	a->rdlen = (uint16_t)(4 + len);
	if (a->type == DNS_TYPE_DNSKEY)
		a->tag = dnssec_key_tag(a->rdata, a->rdlen);
	return 0;
}

int
dnssec_anchor_parse(const char *text, size_t len,
    struct dnssec_anchor *anchors, size_t max, size_t *n, char *err,
    size_t errlen)
{
	struct token t[ANCHOR_MAX_TOKENS];
	size_t pos = 0, line = 1, start, nt;
	int depth, inherit;
	char c;

	*n = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	while (pos < len) {
		/* One record: up to a newline outside parentheses. */
		start = line;
		inherit = text[pos] == ' ' || text[pos] == '\t';
		nt = 0;
		depth = 0;
		while (pos < len) {
			c = text[pos];
			if (c == '\n') {
				pos++;
				line++;
				if (depth == 0)
					break;
			} else if (c == ';') {
				while (pos < len && text[pos] != '\n')
					pos++;
			} else if (c == '(') {
				depth++;
				pos++;
			} else if (c == ')') {
				if (--depth < 0)
					return anchor_err(err, errlen, line,
					    "unbalanced parenthesis");
				pos++;
			} else if (isspace((unsigned char)c)) {
				pos++;
			} else {
				if (nt == ANCHOR_MAX_TOKENS)
					return anchor_err(err, errlen, start,
					    "too many fields");
				t[nt].p = text + pos;
				while (pos < len && !isspace((unsigned char)
				    text[pos]) && text[pos] != ';' &&
				    text[pos] != '(' && text[pos] != ')')
					pos++;
				t[nt].len = (size_t)(text + pos - t[nt].p);
				nt++;
			}
		}
		if (depth > 0)
			return anchor_err(err, errlen, start,
			    "unbalanced parenthesis");
		if (nt == 0)
			continue;
		if (!inherit && t[0].p[0] == '$') {
			if (tok_is(&t[0], "$TTL"))
				continue;
			return anchor_err(err, errlen, start,
			    "directive not supported");
		}
		if (*n == max)
			return anchor_err(err, errlen, start,
			    "too many trust anchors");
		if (anchor_record(t, nt, inherit, start, &anchors[*n],
		    *n > 0 ? &anchors[*n - 1] : NULL, err, errlen) == -1)
			return -1;
		(*n)++;
	}
	return 0;
}
