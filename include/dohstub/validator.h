/*
 * validator: the DNSSEC validator engine (RFC 4033-4035, 5155, 6840,
 * 7646, 8624).  Pure: no I/O, no event loop, no clock of its own (every
 * call is given now, seconds since 1970, low 32 bits).  It owns a
 * bounded store of what the chain of trust has proved (secure DNSKEY
 * sets, secure DS sets, insecure cuts, names that are not cuts, bogus
 * zones) and judges answers against it, asking for what it lacks one
 * record set at a time ("pull"): validator_check() says VAL_NEED and
 * names a DS or DNSKEY query; the caller fetches it (its own query, DO
 * and CD set), hands the answer to validator_learn() and calls
 * validator_check() again, until VAL_DONE.
 *
 * The chain is walked top-down from the trust anchors (unbound's way):
 * the zone of an RRset is its RRSIG's signer; its keys are proved by a
 * DS set its parent signed, proved by the parent's keys, up to an
 * anchor.  A DS query per label below the last known cut finds the
 * cuts; NSEC/NSEC3 proofs of no DS make a cut insecure.  SHA-1 DS
 * records (and anchors) are ignored when a SHA-256 or SHA-384 one of a
 * supported algorithm is in the same set (RFC 4509 3).  Overall, bogus
 * beats insecure beats secure.
 *
 * What the store learns lives at most as long as its proof: the least
 * of the proof records' TTLs, their RRSIGs' original TTLs and the
 * seconds to their expiration (RFC 4035 5.3.3), and VALIDATOR_MAX_TTL;
 * an unverified SOA beside a denial counts for nothing (a verified one's
 * minimum bounds a negative answer's ttl, RFC 2308).
 *
 * Time: signatures are checked at now, unless a trust anchor's zone
 * signed later (the clock is behind, as a machine without a real-time
 * clock starts): then at that inception, and one made after it passes
 * too, until now passes it (validator.c, sig_time()).
 *
 * Bounds: the store holds at most max_entries names, the least recently
 * used out first; a DNSKEY or DS set of more than VALIDATOR_SET_BYTES
 * bytes is not kept (bogus).  Signature checks are counted against the
 * caller's budget (KeyTrap, CVE-2023-50387): at 0, the answer is bogus,
 * that answer only: a learn (whose verdict the store keeps for every
 * answer) checks with an allowance of its own, VALIDATOR_LEARN_BUDGET,
 * whatever the caller has left, and then charges the caller what it
 * spent (down to 0), so one query's spent budget never makes a zone
 * bogus for the others, and one answer still costs at most
 * VALIDATOR_BUDGET + VALIDATOR_LEARN_BUDGET checks.  A set that verified
 * with the same keys is not checked again while its RRSIG is valid (a
 * small memo keyed by a digest of the set, its RRSIGs and the keys), so
 * the re-checks after each learn cost only the links not yet verified.
 * NSEC3 hashing (CVE-2023-50868) is charged to the same budget, one
 * check for every VALIDATOR_HASHES_PER_CHECK SHA-1 runs ((iterations +
 * 1) per name hashed, at most NSEC3_MAX_HASHED names a proof).  A zone
 * whose NSEC3 iterations exceed NSEC3_MAX_ITERATIONS (50) is treated as
 * insecure (RFC 9276 3.2): a documented downgrade, nothing is hashed
 * for it.
 * The number of NEEDs one answer may cost is the caller's to cap
 * (VALIDATOR_MAX_NEEDS): a learn that proves nothing new leaves the
 * same NEED, and only the caller can stop asking.
 */
#ifndef DOHSTUB_VALIDATOR_H
#define DOHSTUB_VALIDATOR_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"

#define VALIDATOR_BOGUS_TTL	60	/* seconds a bogus proof is kept */
#define VALIDATOR_NOANSWER_TTL	5	/* ... a need nobody answered */
#define VALIDATOR_MAX_TTL	86400	/* most seconds any proof is kept */
#define VALIDATOR_MAX_NEEDS	32	/* NEEDs per answer, caller's cap */
#define VALIDATOR_BUDGET	64	/* signature checks per answer */
#define VALIDATOR_LEARN_BUDGET	32	/* ... per learn, its own */
#define VALIDATOR_HASHES_PER_CHECK 128	/* NSEC3 SHA-1 runs a check costs */
#define VALIDATOR_SET_BYTES	16384	/* largest DS/DNSKEY set kept */
#define VALIDATOR_CNAME_MAX	16	/* CNAME/DNAME links followed */

struct validator;

/*
 * A validator with the trust anchors a[0..na-1] (copied) and the
 * negative trust anchors nta[i] (nta_len[i] bytes each, wire form, any
 * case; copied): everything at or below one is insecure (RFC 7646).
 * max_entries: the store's bound (at least 1).  NULL if out of memory,
 * max_entries is 0 or an NTA is not a name.
 */
struct validator *validator_new(const struct dnssec_anchor *a, size_t na,
	    const uint8_t *const *nta, const size_t *nta_len, size_t nnta,
	    size_t max_entries);
void	validator_free(struct validator *);
/* Forget everything learned (reload, network change); anchors stay. */
void	validator_flush(struct validator *);

enum val_state { VAL_SECURE, VAL_INSECURE, VAL_BOGUS, VAL_STATE_MAX };
/* "secure", "insecure", "bogus" */
extern const char *const val_state_names[];

struct val_verdict {
	enum val_state	state;
	/*
	 * RFC 8914 code, -1 for none.  BOGUS: 6, 7, 8, 9, 10, 12, 22 (a
	 * chain query nobody answered) or 0 (out of memory: answer
	 * SERVFAIL, cache nothing; ttl is then 0).  INSECURE: 1 or 2 when
	 * an unsupported algorithm or digest made it so.
	 */
	int		ede;
	/* Static, or in the validator: valid until its next call. */
	const char	*why;
	uint32_t	ttl;		/* most seconds to keep the answer */
	uint8_t		zone[DNS_MAX_NAME];	/* signer, or the cut */
	size_t		zone_len;	/* 0: none */
	unsigned	flags;		/* VAL_F_*, 0 for none */
};

/*
 * The answer's rcode is neither NOERROR nor NXDOMAIN (state INSECURE,
 * nothing judged): its records are unchecked, so the caller must not
 * pass them on; in validate mode it sends the error bare: header
 * (rcode, ID, flags) and question, its own OPT (EDE allowed), no answer,
 * authority or additional record of the upstream's, and caches it so.
 */
#define VAL_F_BARE	0x01

struct val_need {
	uint8_t		name[DNS_MAX_NAME];
	size_t		name_len;
	uint16_t	type;		/* DNS_TYPE_DS or DNS_TYPE_DNSKEY */
};

enum val_step { VAL_DONE, VAL_NEED };

/*
 * Judge msg (len bytes, borrowed for the call), an upstream answer to qi
 * that passed dnsmsg_check_answer(), at now.  DONE: *v filled.  NEED:
 * the store lacks *need: fetch it (a query of need->name/need->type
 * with DO and CD set), give the answer to validator_learn(), then call
 * validator_check() again.  *budget: signature checks this answer may
 * still spend (dnssec_verify_rrset()'s); start it at VALIDATOR_BUDGET
 * and carry it through the learns of the same answer.
 * An answer with an rcode other than NOERROR and NXDOMAIN is INSECURE
 * with VAL_F_BARE (nothing checked: send it bare).  A question of class
 * other than IN is INSECURE.
 * An ANY question: every RRset at the name is judged, each with its
 * signer's keys, and all must verify.  An RRSIG question (type 46) is
 * INSECURE, no EDE: signatures of many sets cannot be checked as one.
 * Every RRset of the answer section must be on the chain judged from
 * the question's name (the question's type, the CNAME and DNAME links,
 * a DNAME's synthesized CNAME, which must be its substitution: RFC 6672
 * 5.3.1); any other makes the answer BOGUS (EDE 6), RRSIGs of judged
 * sets aside.  The authority and additional sections are the caller's
 * to drop from a judged answer: only the denial in the authority
 * section is judged.
 */
enum val_step validator_check(struct validator *,
	    const struct dns_query_info *qi, const uint8_t *msg, size_t len,
	    uint32_t now, unsigned *budget, struct val_verdict *v,
	    struct val_need *need);

/*
 * The answer to need (msg, len bytes, borrowed; NULL: none came --
 * timeout, SERVFAIL, network): the store learns what it proves (secure
 * keys, a secure DS set, an insecure cut, "not a zone cut", or bogus
 * with its EDE, kept VALIDATOR_BOGUS_TTL seconds, or
 * VALIDATOR_NOANSWER_TTL when nothing came, or what came does not
 * pass dnsmsg_check_answer() for need's question, or its rcode is
 * neither NOERROR nor NXDOMAIN).  A need the store cannot judge (one
 * validator_check() did not ask for: its parent's keys unknown) teaches
 * nothing.  *budget: the caller's allowance (the answer that needed it);
 * the learn checks with VALIDATOR_LEARN_BUDGET of its own and takes
 * what it spent from *budget (never below 0): a spent *budget never
 * makes the learn fail.  Every need validator_check() gives is settled
 * by one learn, so the same need never comes twice in a row at one time;
 * a chain may still be longer than the caller will follow
 * (VALIDATOR_MAX_NEEDS).
 */
void	validator_learn(struct validator *, const struct val_need *,
	    const uint8_t *msg, size_t len, uint32_t now, unsigned *budget);

struct validator_stats {
	uint64_t	sig_checks;		/* signature checks spent */
	uint64_t	learned[VAL_STATE_MAX];	/* what learns kept: keys,
						   DS sets and "not a cut"
						   count as secure */
	uint64_t	entries;		/* in the store now */
	uint64_t	evictions;		/* pushed out by the bound */
	uint64_t	clock_suspect;		/* minutes the clock looked
						   wrong */
	uint64_t	nsec3_hashes;		/* SHA-1 runs spent */
	uint64_t	memo_hits;		/* sets not checked again:
						   verified before */
	uint64_t	clock_behind;		/* 1: the clock is behind
						   anchor_time (validator.c:
						   signatures are checked at
						   that) */
	uint64_t	anchor_time;		/* the latest inception of a
						   signature by a trust
						   anchor's zone */
	uint64_t	early_sigs;		/* signatures that passed
						   only so */
};
/* Valid as long as the validator; updated by every call. */
const struct validator_stats *validator_stats(const struct validator *);

/*
 * A trace for dohq --validate: each step learned or used, one text line
 * each, "ZONE TYPE VERDICT tags/algorithms [why]" (line borrowed for
 * the call).  NULL: none.
 */
typedef void validator_trace_cb(const char *line, void *arg);
void	validator_set_trace(struct validator *, validator_trace_cb *, void *);

#endif
