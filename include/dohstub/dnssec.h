/*
 * dnssec: the pure core of DNSSEC validation (RFC 4033-4035, 6840):
 * RRsets in canonical form, RRSIG checks and signature verification
 * through OpenSSL's EVP, key tags, DS digests, and trust anchors from
 * zone-file text.  No I/O and no state: each function is given bytes and
 * a time and returns a verdict, so the validator that fetches DNSKEY and
 * DS records (next) can be tested with fixed vectors and every parser
 * here can be fuzzed (fuzz/fuzz_dnssec.c).  Nothing is sized by a count
 * from the wire: sets, signatures and copies live in fixed arrays and a
 * fixed arena; what does not fit is DNSSEC_TOO_BIG, which the caller
 * turns into bogus (or insecure), never a crash.
 *
 * Names are in uncompressed wire form throughout (at most DNS_MAX_NAME
 * bytes, ending in the root label).  RDATA handed to these functions is
 * in canonical form (RFC 4034 6.2): no compression, and for the types
 * that RFC 4034 6.2 lists, as amended by RFC 6840 5.1 (NSEC's next name
 * keeps its case; RRSIG's signer is lowercased), the names inside in
 * lower case.  dnssec_collect() produces exactly that from a message;
 * dnssec_rdata_canonical() does it for one record.
 *
 * OpenSSL: signature checks leave nothing on the thread's error queue
 * (a TLS connection on the same thread reads that queue).
 */
#ifndef DOHSTUB_DNSSEC_H
#define DOHSTUB_DNSSEC_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/dnsmsg.h"

/* DNSKEY flags (RFC 4034 2.1.1, RFC 5011 7). */
#define DNSSEC_FLAG_ZONE	0x0100
#define DNSSEC_FLAG_REVOKE	0x0080
#define DNSSEC_FLAG_SEP		0x0001
#define DNSSEC_PROTOCOL		3

/* Algorithms (IANA "DNS Security Algorithm Numbers"). */
#define DNSSEC_ALG_RSAMD5		1
#define DNSSEC_ALG_RSASHA256		8
#define DNSSEC_ALG_RSASHA512		10
#define DNSSEC_ALG_ECDSAP256SHA256	13
#define DNSSEC_ALG_ECDSAP384SHA384	14
#define DNSSEC_ALG_ED25519		15
#define DNSSEC_ALG_ED448		16

/* DS digest types. */
#define DNSSEC_DIGEST_SHA1	1
#define DNSSEC_DIGEST_SHA256	2
#define DNSSEC_DIGEST_SHA384	4

#define DNSSEC_MAX_RRS		128	/* records in one RRset */
#define DNSSEC_MAX_SIGS		8	/* RRSIGs kept for one RRset */
#define DNSSEC_MAX_SETS		64	/* RRsets in one section */
#define DNSSEC_ARENA		(96 * 1024)	/* canonical RDATA copies */
/*
 * The most bytes of signed data (RFC 4034 3.1.8.1) one verification
 * builds; a larger RRset is DNSSEC_TOO_BIG.
 */
#define DNSSEC_SIGNED_MAX	(128 * 1024)
/* RSA modulus sizes accepted (RFC 8624 3.1: below 1024 is not safe). */
#define DNSSEC_RSA_MIN_BITS	1024
#define DNSSEC_RSA_MAX_BITS	4096

/*
 * Verdicts, with dnssec_result_names[] for logs and metrics.  What the
 * caller makes of them (RFC 4035 5, RFC 6840 5.2, RFC 8914 codes):
 * OK: this signature (digest) proves the data.
 * BOGUS_SIGNATURE, DIGEST_MISMATCH: bogus (EDE 6) unless another
 *   signature (DS) proves it.
 * EXPIRED, NOT_YET_VALID: bogus (EDE 7, 8); many at once suggest a wrong
 *   clock.
 * UNSUPPORTED_ALGORITHM, UNSUPPORTED_DIGEST: this RRSIG, key or DS does
 *   not count; a zone with nothing else is insecure (EDE 1, 2).
 * BAD_KEY: the DNSKEY cannot be used (RSA modulus out of range, a point
 *   not on the curve, wrong length): like a missing key.
 * KEY_MISMATCH: key and RRSIG (or DS) do not belong together (owner is
 *   not the signer, tag, algorithm, protocol, zone flag, revoked): try
 *   the next key.
 * RRSIG_MISMATCH: the RRSIG cannot cover this RRset (type covered,
 *   labels over the owner's, signer not the owner or an ancestor).
 * MALFORMED: bytes that do not parse.
 * NO_SIGNATURE: an RRset without RRSIGs (EDE 10) from
 *   dnssec_verify_rrset().
 * TOO_BIG: over one of the fixed limits above, or the budget of
 *   signature checks spent.
 * INTERNAL: OpenSSL failed (out of memory): SERVFAIL, not cached as
 *   bogus.
 */
enum dnssec_result {
	DNSSEC_OK,
	DNSSEC_BOGUS_SIGNATURE,
	DNSSEC_EXPIRED,
	DNSSEC_NOT_YET_VALID,
	DNSSEC_UNSUPPORTED_ALGORITHM,
	DNSSEC_UNSUPPORTED_DIGEST,
	DNSSEC_BAD_KEY,
	DNSSEC_KEY_MISMATCH,
	DNSSEC_RRSIG_MISMATCH,
	DNSSEC_DIGEST_MISMATCH,
	DNSSEC_MALFORMED,
	DNSSEC_NO_SIGNATURE,
	DNSSEC_TOO_BIG,
	DNSSEC_INTERNAL,
	DNSSEC_RESULT_MAX
};

extern const char *const dnssec_result_names[];

/*
 * An RRset: owner (lowercased), type, class, the smallest TTL seen, and
 * n records whose canonical RDATA is rdata[i] (rdlen[i] bytes), with the
 * RRSIGs that cover it (canonical RDATA too).  The RDATA pointers are
 * borrowed: into a struct dnssec_sets arena when dnssec_collect() made
 * the set, or wherever the caller put them; they must outlive the set.
 * Records may be in any order and repeat: verification sorts and drops
 * duplicates (RFC 4034 6.3) on its own.
 */
struct dnssec_rrset {
	uint8_t		 owner[DNS_MAX_NAME];
	size_t		 owner_len;
	uint16_t	 type, class;
	uint32_t	 ttl;
	size_t		 n;
	const uint8_t	*rdata[DNSSEC_MAX_RRS];
	uint16_t	 rdlen[DNSSEC_MAX_RRS];
	size_t		 nsigs;
	const uint8_t	*sig[DNSSEC_MAX_SIGS];
	uint16_t	 siglen[DNSSEC_MAX_SIGS];
};

/*
 * The RRsets of one section of a message, in the order their first
 * record (or RRSIG) appears, and the arena holding their RDATA.  Large
 * (about 200 KiB): allocate it once.  sets[i] is valid until the next
 * dnssec_collect() into the same struct; nothing points into the
 * message, which may go once dnssec_collect() returns.
 */
struct dnssec_sets {
	size_t			nsets;
	struct dnssec_rrset	set[DNSSEC_MAX_SETS];
	size_t			used;
	uint8_t			arena[DNSSEC_ARENA];
};

/*
 * Collect section sec of the message msg (len bytes) into *out: records
 * of the same owner (any case), class and type form a set; an RRSIG
 * joins the set of its owner, class and type covered (a set of n == 0
 * if only RRSIGs name that type).  RDATA is decompressed and put in
 * canonical form.  OPT records are skipped.  An RRSIG whose RDATA is too
 * short to hold its fixed fields and signer is MALFORMED.
 * DNSSEC_OK, MALFORMED (the message or a record does not parse; RDATA
 * of a type with names inside that does not hold them is malformed too),
 * or TOO_BIG (more sets, records per set, RRSIGs per set or RDATA bytes
 * than the limits).  *out is filled as far as it got in every case.
 */
enum dnssec_result dnssec_collect(const uint8_t *msg, size_t len,
	    enum dns_section sec, struct dnssec_sets *out);

/*
 * The set of owner (any case), type and class in *sets, or NULL.
 */
const struct dnssec_rrset *dnssec_find(const struct dnssec_sets *sets,
	    const uint8_t *owner, size_t owner_len, uint16_t type,
	    uint16_t class);

/*
 * One record's RDATA (type, at rd: a cursor over the RDATA inside its
 * message, for compression pointers) in canonical form into out (cap
 * bytes).  Returns the length written, or -1 if it is malformed, does
 * not fit, or is over 65535 bytes once decompressed.
 */
long	dnssec_rdata_canonical(uint16_t type, const struct dnsmsg_rd *rd,
	    uint8_t *out, size_t cap);

/* Labels of a wire name, the root and a leading "*" label not counted. */
int	dnssec_name_labels(const uint8_t *name, size_t len);

/*
 * The fields of an RRSIG (RFC 4034 3.1), pointing into its RDATA
 * (borrowed: valid as long as the RDATA).
 */
struct dnssec_rrsig {
	uint16_t	 type_covered;
	uint8_t		 algorithm;
	uint8_t		 labels;
	uint32_t	 original_ttl;
	uint32_t	 expiration, inception;
	uint16_t	 key_tag;
	const uint8_t	*signer;	/* as in the RDATA */
	size_t		 signer_len;
	const uint8_t	*signature;
	size_t		 signature_len;
	size_t		 fixed_len;	/* RDATA before the signature */
};

/* Parse RRSIG RDATA (len bytes): DNSSEC_OK or MALFORMED. */
enum dnssec_result dnssec_rrsig_parse(const uint8_t *rdata, size_t len,
	    struct dnssec_rrsig *sig);

/*
 * The fields of a DNSKEY (RFC 4034 2.1), pointing into its RDATA.  tag
 * is its key tag (RFC 4034 Appendix B).
 */
struct dnssec_dnskey {
	uint16_t	 flags;
	uint8_t		 protocol;
	uint8_t		 algorithm;
	const uint8_t	*key;
	size_t		 key_len;
	uint16_t	 tag;
};

/* Parse DNSKEY RDATA (len bytes): DNSSEC_OK or MALFORMED (under 4). */
enum dnssec_result dnssec_dnskey_parse(const uint8_t *rdata, size_t len,
	    struct dnssec_dnskey *key);

/*
 * The key tag of a DNSKEY RDATA (RFC 4034 Appendix B; for algorithm 1,
 * B.1's rule).  0 for RDATA under 4 bytes (not a key anyway).
 */
uint16_t dnssec_key_tag(const uint8_t *rdata, size_t len);

/*
 * Is the algorithm (the digest type) one this build verifies?  1 or 0.
 * Digests: SHA-1 (RFC 9904, ex-8624 3.3: validators MUST), SHA-256,
 * SHA-384.  Algorithms: 8, 10, 13, 14, 15, 16 (those of RFC 8624 3.1
 * that are MUST or RECOMMENDED to validate but the SHA-1 ones, 5 and 7,
 * which many systems no longer verify).
 */
int	dnssec_algorithm_supported(uint8_t alg);
int	dnssec_digest_supported(uint8_t digest_type);

/*
 * Is the RRSIG time window open at now (seconds since 1970, the low 32
 * bits)?  RFC 4034 3.1.5 compares with serial arithmetic (RFC 1982), so
 * this works across 2106: DNSSEC_OK, EXPIRED or NOT_YET_VALID.
 */
enum dnssec_result dnssec_check_time(const struct dnssec_rrsig *sig,
	    uint32_t now);

/*
 * Was the RRSIG made after now: its inception later as plain numbers,
 * its expiration not before its inception?  That is what a clock behind
 * sees, whatever serial arithmetic says (dnssec_check_time(): a clock
 * in 1970 reads an inception after 2038 as expired, a clock more than 68
 * years ahead reads an old one as not yet valid).  Until 2106, when the
 * 32-bit times wrap.  1 or 0.
 */
int	dnssec_made_after(const struct dnssec_rrsig *sig, uint32_t now);

/*
 * Verify that the RRSIG (canonical RDATA sig, siglen bytes) over set was
 * made by the DNSKEY (canonical RDATA dnskey, keylen bytes) of the zone
 * key_owner (wire form, key_owner_len bytes), at time now.  Checks, in
 * order (RFC 4035 5.3.1), each failing with the result named:
 * - the RRSIG parses (MALFORMED);
 * - type covered is set->type, labels <= the owner's labels, the signer
 *   is the owner or an ancestor (RRSIG_MISMATCH);
 * - the algorithm is supported (UNSUPPORTED_ALGORITHM);
 * - the DNSKEY parses (MALFORMED); its owner is the signer, protocol 3,
 *   zone flag set, REVOKE clear, same algorithm and key tag
 *   (KEY_MISMATCH);
 * - the time window is open at now (EXPIRED, NOT_YET_VALID);
 * - the key is usable (BAD_KEY) and the signature checks over the
 *   canonical RRset (RFC 4034 3.1.8.1, 6): records sorted and
 *   duplicates dropped, the RRSIG's original TTL, a wildcard owner
 *   rebuilt from the labels field (BOGUS_SIGNATURE; TOO_BIG if the
 *   signed data would pass DNSSEC_SIGNED_MAX; INTERNAL).
 * set->n must be above 0 and set->owner a name (MALFORMED otherwise).
 * Nothing is kept.
 */
enum dnssec_result dnssec_verify(const struct dnssec_rrset *set,
	    const uint8_t *sig, size_t siglen, const uint8_t *key_owner,
	    size_t key_owner_len, const uint8_t *dnskey, size_t keylen,
	    uint32_t now);

/*
 * The public keys dnssec_verify() made ready for OpenSSL are kept, a few
 * dozen, for the next signature they check: how many checks found theirs
 * kept; all freed (at exit, or to start afresh).
 */
uint64_t dnssec_key_cache_hits(void);
void	dnssec_key_cache_free(void);

/*
 * How many DNSKEYs of one key tag and algorithm dnssec_verify_rrset()
 * tries for one RRSIG.  Tags collide by chance (a zone rolling keys may
 * show two); a zone of many keys of one tag is an attack (KeyTrap,
 * CVE-2023-50387) that would make every answer cost keys x signatures
 * checks.
 */
#define DNSSEC_KEYS_PER_SIG	4

/*
 * dnssec_verify_rrset() flags.  DNSSEC_EARLY_OK: an RRSIG made after now
 * (dnssec_made_after()) passes the time check, for a caller whose clock
 * may be behind (validator.c: a trust anchor's DNSKEY set; its zone's
 * other sets while the clock is in doubt; all while the clock is behind);
 * the signature itself is checked as ever.
 */
#define DNSSEC_EARLY_OK		0x1

/*
 * Verify set with its own RRSIGs (set->sig) and the DNSKEY RRset keys of
 * the signer's zone, at time now and as flags say: DNSSEC_OK at the
 * first RRSIG and key that dnssec_verify() accepts, their indexes in
 * *sig_used and *key_used (either may be NULL); both are left alone
 * otherwise.  RRSIGs of another signer than keys->owner are passed
 * over; for each other, the keys of its tag and algorithm are tried, at
 * most DNSSEC_KEYS_PER_SIG.  Each try takes one from *budget, the
 * caller's allowance for a whole answer; at 0, DNSSEC_TOO_BIG before
 * any more work.
 * When nothing verifies: NO_SIGNATURE if set has no RRSIG, TOO_BIG or
 * INTERNAL at once when a try gives them, else the failure that got
 * furthest, in this order: BOGUS_SIGNATURE, BAD_KEY, EXPIRED,
 * NOT_YET_VALID, KEY_MISMATCH (no key of the tag: "DNSKEY missing"),
 * UNSUPPORTED_ALGORITHM, RRSIG_MISMATCH, MALFORMED.
 */
enum dnssec_result dnssec_verify_rrset(const struct dnssec_rrset *set,
	    const struct dnssec_rrset *keys, uint32_t now, unsigned flags,
	    unsigned *budget, size_t *sig_used, size_t *key_used);

/*
 * The TTL a set of TTL ttl that sig proved may be kept for (RFC 4035
 * 5.3.3, RFC 4034 3.1.4): the least of ttl, the RRSIG's original TTL and
 * the seconds left until its expiration (0 if past).
 */
uint32_t dnssec_ttl(uint32_t ttl, const struct dnssec_rrsig *sig,
	    uint32_t now);

/*
 * Does the DS RDATA (ds, dslen bytes) match the DNSKEY RDATA (dnskey,
 * keylen bytes) of owner (wire form, any case)?  RFC 4034 5.1.4, RFC
 * 4035 5.2: same key tag and algorithm, the zone flag set and protocol
 * 3 (KEY_MISMATCH), a digest type supported (UNSUPPORTED_DIGEST) of the
 * right length (MALFORMED) equal to the digest of the lowercased owner
 * and the key's RDATA (DIGEST_MISMATCH otherwise); DNSSEC_OK.  The key's
 * algorithm is not looked at beyond equality: whether it is supported
 * is the caller's question (dnssec_algorithm_supported()).
 */
enum dnssec_result dnssec_ds_match(const uint8_t *owner, size_t owner_len,
	    const uint8_t *ds, size_t dslen, const uint8_t *dnskey,
	    size_t keylen);

/*
 * A trust anchor: one DS or DNSKEY record, owner lowercased, RDATA in
 * wire form; tag is the DS's key tag or the DNSKEY's computed one.
 */
/* The largest anchor RDATA: a DNSKEY of RSA-4096 and its exponent. */
#define DNSSEC_ANCHOR_RDATA_MAX	1100
struct dnssec_anchor {
	uint8_t		owner[DNS_MAX_NAME];
	size_t		owner_len;
	uint16_t	type;		/* DNS_TYPE_DS or DNS_TYPE_DNSKEY */
	uint16_t	tag;
	uint8_t		algorithm;
	uint16_t	rdlen;
	uint8_t		rdata[DNSSEC_ANCHOR_RDATA_MAX];
};

/*
 * The root's trust anchors built in: the DS records of KSK-2017 (20326)
 * and KSK-2024 (38696), SHA-256, as IANA publishes them
 * (root-anchors.xml) and Debian's dns-root-data ships them.  Zone-file
 * text for dnssec_anchor_parse(); the one place to change them.
 */
extern const char dnssec_root_anchors[];

/*
 * Parse trust anchors from zone-file text (text, len bytes; need not end
 * in NUL) into anchors[0..max-1], their number in *n.  One record per
 * line: owner, then TTL and class IN in either order, both optional,
 * then DS (key tag, algorithm, digest type, hex digest, which may hold
 * blanks) or DNSKEY (flags, protocol, algorithm, base64 key, which may
 * hold blanks), numbers in decimal (no algorithm mnemonics).  A digest
 * of a known type must have its length; the key's algorithm need not be
 * supported (dnssec_algorithm_supported() says).  Owner names are
 * absolute whether or not they end in a dot; a line starting with a
 * blank has the previous line's owner.
 * Parentheses continue a record over lines, ';' starts a comment,
 * "$TTL" lines are skipped; other directives, other types and classes,
 * and more than max records are errors.
 * Returns 0, or -1 with a message naming the line in err (errlen bytes,
 * may be NULL); *n is then the records read before it.
 */
int	dnssec_anchor_parse(const char *text, size_t len,
	    struct dnssec_anchor *anchors, size_t max, size_t *n, char *err,
	    size_t errlen);

#endif
