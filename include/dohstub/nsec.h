/*
 * nsec: DNSSEC denial of existence, the pure part.  Given NSEC (RFC 4034
 * 4, RFC 4035 5.4, RFC 6840 4.1) or NSEC3 (RFC 5155 8, RFC 9276) records
 * whose signatures the caller has already verified, and the zone that
 * signed them, decide whether they prove that a name or a type does not
 * exist, that an answer's wildcard expansion was legitimate, or that a
 * delegation is insecure.  No I/O and no allocation a count from the
 * wire could size: every record is read through bounds checks, so each
 * function takes any bytes (fuzz/fuzz_nsec.c).  NSEC3 hashing uses
 * OpenSSL's SHA-1 (EVP), which allocates a fixed-size context.
 *
 * Names are in uncompressed wire form, exactly one name each (a length
 * says where it ends); case does not matter anywhere.  Every pointer a
 * function takes is borrowed for the call only.
 *
 * Results (enum nsec_result), and what the validator makes of them:
 * - NSEC_PROVEN: the records prove what was asked: secure.
 * - NSEC_OPTOUT: an NSEC3 record with the Opt-Out flag covers the next
 *   closer name, so an unsigned delegation may hide there (RFC 5155 6,
 *   9.2): the answer is insecure, not bogus.
 * - NSEC_UNSUPPORTED: no NSEC3 record of a hash algorithm this code
 *   knows (RFC 5155 8.1), or iterations above the caller's limit (RFC
 *   9276 3.2, which also names EDE 27): treat the answer as insecure.
 * - NSEC_NO_PROOF: the records given do not prove it (one is missing,
 *   a gap, a record that says the opposite): bogus, EDE 12 "NSEC
 *   Missing" or 6 "DNSSEC Bogus".
 * - NSEC_MALFORMED: a name or a record does not parse: bogus.
 * - NSEC_ERROR: OpenSSL failed (memory): neither proven nor bogus;
 *   answer SERVFAIL and cache nothing.
 * The NSEC proofs give only PROVEN, NO_PROOF and MALFORMED.
 */
#ifndef DOHSTUB_NSEC_H
#define DOHSTUB_NSEC_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/dnsmsg.h"

#define NSEC3_HASH_SHA1		1	/* the one there is, RFC 5155 11 */
#define NSEC3_SHA1_LEN		20
#define NSEC3_MAX_HASH		64	/* room for any hash the code knows */
#define NSEC3_FLAG_OPTOUT	0x01
/*
 * The iteration limit to pass when there is no setting: above it the
 * answer is insecure (RFC 9276 3.2), a documented downgrade: a zone
 * signed with more iterations is treated as unsigned, and a DS query
 * below such a parent is "insecure" on any of its signed NSEC3 records.
 * 50 is BIND 9's limit since CVE-2023-50868 (150 before); 0 is what
 * RFC 9276 3.1 asks of signers.
 */
#define NSEC3_MAX_ITERATIONS	50
/*
 * The most names one NSEC3 proof hashes (each iterations + 1 SHA-1
 * runs): a name more labels below its zone than that is NO_PROOF
 * (CVE-2023-50868: a proof's cost bounded, 32 x 51 SHA-1 at most).
 */
#define NSEC3_MAX_HASHED	32

enum nsec_result {
	NSEC_PROVEN,
	NSEC_OPTOUT,
	NSEC_UNSUPPORTED,
	NSEC_NO_PROOF,
	NSEC_MALFORMED,
	NSEC_ERROR,
	NSEC_RESULT_MAX
};

/* "proven", "optout", "unsupported", "no_proof", "malformed", "error" */
extern const char *const nsec_result_names[];

/*
 * One NSEC or NSEC3 record as the caller holds it: its owner name and
 * its RDATA, uncompressed (the NSEC next name never is compressed on the
 * wire: RFC 4034 4.1.1, RFC 3597 4).  Both borrowed; the struct is the
 * caller's, one per record (an NSEC RRset holds one record).
 */
struct nsec_rr {
	const uint8_t	*owner;
	size_t		 owner_len;
	const uint8_t	*rdata;
	size_t		 rdlen;
};

/*
 * What a proof found, for logs, EDE text and dohq --validate; may be
 * NULL wherever a function takes it.  why is a static string, set by
 * every call: what made the proof or what was missing.  ce is the
 * closest encloser when the proof needed one (ce_len 0 otherwise);
 * used[] are indexes into the caller's set of the records the proof
 * rests on, in the order the RFC names them.  matched is 1 when used[0]
 * is the record of the name itself (an NSEC whose owner is the name, an
 * NSEC3 whose owner hash is the name's: RFC 5155 8.5, 8.6), 0 when the
 * proof went through the closest encloser (a wildcard, an empty
 * non-terminal's NSEC, an NXDOMAIN): only a matching record's bitmap
 * says what types the name has (its NS bit: a delegation).
 */
#define NSEC_PROOF_USED		3
struct nsec_proof {
	const char	*why;
	uint8_t		 ce[DNS_MAX_NAME];
	size_t		 ce_len;
	size_t		 used[NSEC_PROOF_USED];
	size_t		 nused;
	int		 matched;
	unsigned	 hashes;	/* SHA-1 runs the proof spent */
};

/*
 * RFC 4034 6.1 canonical order of two names: labels compared from the
 * rightmost, each as bytes with ASCII letters lowered, a label that is a
 * prefix of the other first, and a name before its descendants.  <0, 0
 * or >0.  Both must be well formed (nsec_name_valid); for one that is
 * not, the order is some fixed order and nothing is read out of bounds.
 */
int	nsec_name_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
	    size_t blen);

/* Exactly one name, uncompressed, in len bytes: 1, or 0. */
int	nsec_name_valid(const uint8_t *name, size_t len);

/*
 * The type bitmap of RFC 4034 4.1.2 (NSEC and NSEC3 share it): windows
 * in strictly increasing order, each 1 to 32 bytes, nothing left over.
 * Trailing zero bytes in a window, which a signer must not write, are
 * read as what they mean (no type).
 * nsec_bitmap_valid: 1 or 0.
 * nsec_bitmap_has: 1 if type is in the bitmap, 0 if not, -1 if the
 *   bitmap is malformed.
 * nsec_bitmap_next: the lowest type above after (-1 to start) in the
 *   bitmap, or -1 when there is none or the bitmap is malformed.
 */
int	nsec_bitmap_valid(const uint8_t *bm, size_t len);
int	nsec_bitmap_has(const uint8_t *bm, size_t len, uint16_t type);
long	nsec_bitmap_next(const uint8_t *bm, size_t len, long after);

/* An NSEC record's RDATA, pointers into it. */
struct nsec_rdata {
	const uint8_t	*next;		/* next owner name, wire form */
	size_t		 next_len;
	const uint8_t	*bitmap;
	size_t		 bitmap_len;
};

/*
 * Split an NSEC RDATA (rdata, rdlen bytes, borrowed: *out points into
 * it).  0, or -1 if the next name is malformed or compressed or the
 * bitmap is malformed.
 */
int	nsec_parse(const uint8_t *rdata, size_t rdlen, struct nsec_rdata *out);

/* An NSEC3 record's RDATA (RFC 5155 3.2), pointers into it. */
struct nsec3_rdata {
	uint8_t		 alg;
	uint8_t		 flags;
	uint16_t	 iterations;
	const uint8_t	*salt;
	size_t		 salt_len;
	const uint8_t	*next;		/* next hashed owner, binary */
	size_t		 next_len;
	const uint8_t	*bitmap;
	size_t		 bitmap_len;
};

/*
 * Split an NSEC3 RDATA (borrowed, as nsec_parse).  0, or -1 if it is cut
 * short, has bytes left over, an empty next hash, or a malformed bitmap.
 * An unknown algorithm or flag parses; the proofs pass such records over.
 */
int	nsec3_parse(const uint8_t *rdata, size_t rdlen,
	    struct nsec3_rdata *out);

/*
 * The NSEC3 hash of name (RFC 5155 5): SHA-1 of the name in canonical
 * form (lowercase) and salt, iterated.  Writes NSEC3_SHA1_LEN bytes to
 * out.  0; -1 if alg is not NSEC3_HASH_SHA1, the name is malformed or
 * OpenSSL fails.  Costs iterations + 1 SHA-1 runs: callers check the
 * iterations against their limit first.
 */
int	nsec3_hash(uint8_t alg, const uint8_t *salt, size_t salt_len,
	    uint16_t iterations, const uint8_t *name, size_t len,
	    uint8_t out[NSEC3_SHA1_LEN]);

/*
 * Base32 with the extended hex alphabet (RFC 4648 7), no padding, as
 * in NSEC3 owner names.  encode: n bytes into out (cap bytes, NUL
 * written), lowercase; the length written, or 0 if cap is short (out
 * is then "" when cap > 0).  decode: len characters, either case,
 * into out (cap bytes); the length decoded, or -1 on a character not
 * in the alphabet, a length no whole number of bytes gives, non-zero
 * bits left over, or cap short.
 */
size_t	nsec3_b32hex_encode(const uint8_t *in, size_t n, char *out,
	    size_t cap);
int	nsec3_b32hex_decode(const char *in, size_t len, uint8_t *out,
	    size_t cap);

/*
 * NSEC proofs.  set: the n NSEC records of the answer (owner + RDATA)
 * signed by zone, each one already verified.  Records whose owner is
 * not in zone are passed over; one whose RDATA does not parse makes
 * the result NSEC_MALFORMED.  qname must be zone or below it.
 * An NSEC can deny names below its owner only if the owner is not the
 * parent's side of a delegation (NS without SOA) nor a DNAME (RFC 6840
 * 4.1).
 *
 * nsec_prove_nxdomain: qname does not exist, nor does the wildcard at
 *   its closest encloser (RFC 4035 3.1.3.2, 5.4).
 * nsec_prove_nodata: qname exists but has no qtype RRset nor a CNAME:
 *   an NSEC at qname without them; or qname is an empty non-terminal
 *   (an NSEC whose next name is below qname covers it); or qname does
 *   not exist and the wildcard at its closest encloser lacks qtype
 *   (RFC 4035 3.1.3.1, 3.1.3.4).  For qtype DS the NSEC must be the
 *   parent's (no SOA, but at the root); for other types it must not be
 *   the parent side of a delegation.
 * nsec_prove_wildcard: a positive answer for qname expanded from a
 *   wildcard whose RRSIG Labels field is labels (the wildcard's parent is
 *   then qname's rightmost labels labels): qname does not exist and no
 *   name between it and that parent does (RFC 4035 5.3.4).  qname being
 *   that wildcard itself needs no proof: PROVEN with any records, none
 *   included (the same for nsec3_prove_wildcard).
 * nsec_prove_insecure_delegation: name (the NS owner of a referral, not
 *   the query name) is a delegation with no DS: an NSEC at name with NS
 *   and neither DS nor SOA (RFC 4035 5.2).  NSEC_PROVEN then means the
 *   child zone is insecure.
 */
enum nsec_result nsec_prove_nxdomain(const struct nsec_rr *set, size_t n,
	    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
	    size_t qname_len, struct nsec_proof *proof);
enum nsec_result nsec_prove_nodata(const struct nsec_rr *set, size_t n,
	    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
	    size_t qname_len, uint16_t qtype, struct nsec_proof *proof);
enum nsec_result nsec_prove_wildcard(const struct nsec_rr *set, size_t n,
	    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
	    size_t qname_len, unsigned labels, struct nsec_proof *proof);
enum nsec_result nsec_prove_insecure_delegation(const struct nsec_rr *set,
	    size_t n, const uint8_t *zone, size_t zone_len,
	    const uint8_t *name, size_t name_len, struct nsec_proof *proof);

/*
 * NSEC3 proofs (RFC 5155 8), the same four.  set: the n NSEC3 records
 * of the answer signed by zone, each verified; owners are
 * <base32hex hash>.zone.  Records of an unknown hash algorithm or with
 * flags other than 0 and 1 are passed over (RFC 5155 8.1, 8.2); the
 * first record left fixes the parameters (algorithm, iterations, salt)
 * and records with others are passed over too, since a zone answers
 * from one chain (8.2 lets a validator call a mix bogus).  No record
 * left, or iterations above max_iterations (NSEC3_MAX_ITERATIONS
 * unless configured), gives NSEC_UNSUPPORTED before any hashing, so a
 * costly chain costs nothing.  One whose RDATA or owner does not parse
 * gives NSEC_MALFORMED.  Hashing costs (iterations + 1) SHA-1 runs per
 * label of qname below zone, plus one or two names, and at most
 * NSEC3_MAX_HASHED names (more: NO_PROOF); proof->hashes says what was
 * spent, for the caller's budget (CVE-2023-50868).
 *
 * The closest encloser proof (8.3) finds the deepest ancestor of qname
 * with a matching NSEC3 whose child towards qname (the next closer
 * name) is covered by one; that NSEC3 must have no DNAME, and NS only
 * with SOA.
 *
 * nsec3_prove_nxdomain: closest encloser proof and the wildcard at the
 *   closest encloser covered (8.4); OPTOUT if the record covering the
 *   next closer name has Opt-Out.
 * nsec3_prove_nodata: an NSEC3 matching qname without qtype and CNAME
 *   (8.5; for DS: the parent's, no SOA but at the root, 8.6; for other
 *   types not NS without SOA); else a closest encloser proof and an
 *   NSEC3 matching the wildcard at it without qtype and CNAME (8.7);
 *   else OPTOUT if the next closer name's cover has Opt-Out (8.6 for
 *   DS; for other types an empty non-terminal with only unsigned
 *   delegations below has no NSEC3 of its own: RFC 5155 erratum 3441,
 *   as Unbound reads it).
 * nsec3_prove_wildcard: the next closer name of the wildcard's parent
 *   (labels as for nsec_prove_wildcard) is covered (8.8); OPTOUT if
 *   that record has Opt-Out.
 * nsec3_prove_insecure_delegation: an NSEC3 matching name with NS and
 *   neither DS nor SOA (PROVEN); else a closest encloser proof whose
 *   next closer cover has Opt-Out (OPTOUT, RFC 5155 8.6, RFC 6840 4.4).
 *   Both mean the child zone is insecure.
 */
enum nsec_result nsec3_prove_nxdomain(const struct nsec_rr *set, size_t n,
	    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
	    size_t qname_len, unsigned max_iterations,
	    struct nsec_proof *proof);
enum nsec_result nsec3_prove_nodata(const struct nsec_rr *set, size_t n,
	    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
	    size_t qname_len, uint16_t qtype, unsigned max_iterations,
	    struct nsec_proof *proof);
enum nsec_result nsec3_prove_wildcard(const struct nsec_rr *set, size_t n,
	    const uint8_t *zone, size_t zone_len, const uint8_t *qname,
	    size_t qname_len, unsigned labels, unsigned max_iterations,
	    struct nsec_proof *proof);
enum nsec_result nsec3_prove_insecure_delegation(const struct nsec_rr *set,
	    size_t n, const uint8_t *zone, size_t zone_len,
	    const uint8_t *name, size_t name_len, unsigned max_iterations,
	    struct nsec_proof *proof);

#endif
