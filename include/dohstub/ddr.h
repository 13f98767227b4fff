/*
 * ddr: Discovery of Designated Resolvers (RFC 9462), the pure part.  The
 * query for "_dns.resolver.arpa IN SVCB", the parser of its answer (SVCB,
 * RFC 9460, with the DNS keys of RFC 9461) and the rules that pick the
 * DoH endpoint a plain resolver designates.  No I/O, no allocation: every
 * read goes through dnsmsg's bounded reader, so ddr_parse() takes any
 * bytes (fuzz/fuzz_ddr.c).  The asynchronous engine (discovery.c) sends
 * the query, runs the verification handshake and keeps the results.
 *
 * Parsing (ddr_parse):
 * - the answer must be a response (QR, opcode QUERY) to exactly the
 *   question _dns.resolver.arpa IN SVCB, every record inside the
 *   message, TC clear (a truncated answer is retried over TCP by the
 *   caller), rcode NOERROR; NXDOMAIN counts as no record.
 * - records kept: answer section, owner _dns.resolver.arpa (any case),
 *   class IN, type SVCB, ServiceMode (priority > 0).  Other owners and
 *   types (a CNAME: DDR names no alias) are passed over.  An AliasMode
 *   record voids the ServiceMode ones (RFC 9460 2.4.2); dohstub does not
 *   follow it, so such an answer holds none.
 *   More than max records: the max of lowest priority are kept; the
 *   output is sorted by priority, answer order within a priority.
 * - malformed, so the whole answer is rejected (RFC 9460 2.2: any
 *   malformed record rejects the RRset): RDATA cut short, a compressed
 *   TargetName (RFC 9460 2.2, RFC 3597 4: it MUST NOT be compressed, and
 *   a server that carried SVCB as an unknown type never expanded it),
 *   SvcParamKeys not strictly increasing, a known key's value not of its
 *   wire form (alpn: one or more non-empty length-prefixed ids;
 *   no-default-alpn: empty; port: 2 bytes; ipv4hint: non-empty multiple
 *   of 4; ipv6hint: non-empty multiple of 16; mandatory: non-empty,
 *   strictly increasing, not listing key 0; dohpath: non-empty).
 * - parsed but unusable (ddr_record.unusable says why, ddr_choose skips
 *   it, RFC 9460 8): mandatory lists a key dohstub does not know (known:
 *   alpn, no-default-alpn, port, ipv4hint, ipv6hint, dohpath; ech is
 *   not), or a key absent from the record (not self-consistent, 2.4.3);
 *   no-default-alpn without alpn; port 0; a dohpath that does not fit
 *   or holds bytes outside printable ASCII.
 *
 * Choosing (ddr_choose, ddr_choose_kinds): the first record usable
 * verified, in priority order; only when none is, the first usable
 * opportunistically, in priority order (a better-priority record usable
 * only opportunistically never beats a verifiable one).  Every record
 * must have:
 * - h2 in its alpn, listed explicitly (RFC 9461 4.1: the default alpn of
 *   the "dns" scheme is dot; a record of only dot or h3 offers no DoH
 *   over HTTP/2);
 * - a dohpath (RFC 9461 5): a relative URI template starting with '/'
 *   whose one expression is "{?dns}" or "{&dns}"; the POST path is the
 *   template without that expression ("/dns-query{?dns}" gives
 *   "/dns-query", "/q?x=1{&dns}" gives "/q?x=1");
 * - a target that is "." or a host name (letters, digits, '-', '_';
 *   the last label not all digits, so never an IP literal).
 * Verified (RFC 9462 4.2): a target other than "." (the certificate must
 * be valid for a name).  The engine then requires of the designated
 * resolver's certificate, in one TLS handshake: a chain to a trust
 * anchor, valid for the target name, and the unencrypted resolver's IP
 * address in an iPAddress subjectAltName.  Only then may it be used.
 * Addresses: every usable hint (ddr_usable_addr; the port set); no
 * hint: look the target up; hints but none usable: skipped.
 * Opportunistic (RFC 9462 4.3, only when asked for): the resolver's
 * address is private or local (ddr_private_addr: for public addresses a
 * certificate with the IP can be had, so verified is the way), and the
 * designated resolver's address must not differ from it: one hint equal
 * to the resolver's address (then that address only), or no hints and
 * target "." (the resolver itself).  TLS without authentication: it
 * protects against passive observers only.
 * TTL: the chosen record's, clamped to [DDR_TTL_MIN, DDR_TTL_MAX].
 */
#ifndef DOHSTUB_DDR_H
#define DOHSTUB_DDR_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/addr.h"
#include "dohstub/dnsmsg.h"

#define DNS_TYPE_SVCB		64

#define DDR_MAX_RECORDS	8
#define DDR_MAX_HINTS	8
/* Results live for the SVCB TTL, clamped to these (seconds). */
#define DDR_TTL_MIN	60
#define DDR_TTL_MAX	86400
#define DDR_PATH_MAX	256	/* dohpath and path, NUL included */
#define DDR_RDATA_MAX	512	/* RDATA kept for ddr_record_str() */

/* SvcParamKeys (RFC 9460 14.3.2, RFC 9461 5). */
#define DDR_KEY_MANDATORY	0
#define DDR_KEY_ALPN		1
#define DDR_KEY_NO_DEFAULT_ALPN	2
#define DDR_KEY_PORT		3
#define DDR_KEY_IPV4HINT	4
#define DDR_KEY_ECH		5
#define DDR_KEY_IPV6HINT	6
#define DDR_KEY_DOHPATH		7

enum ddr_alpn { DDR_ALPN_H2 = 1, DDR_ALPN_H3 = 2, DDR_ALPN_DOT = 4,
	DDR_ALPN_OTHER = 8 };

/* One ServiceMode SVCB record, as ddr_parse() read it. */
struct ddr_record {
	uint16_t	priority;
	/* No trailing dot; "" is the root ".". */
	char		target[DNS_MAX_NAME_TEXT];
	uint32_t	ttl;		/* as received */
	unsigned	alpn;		/* enum ddr_alpn bits, alpn key only */
	int		no_default_alpn;
	uint16_t	port;		/* 0: none given */
	int		has_dohpath;
	/* As given, e.g. "/dns-query{?dns}". */
	char		dohpath[DDR_PATH_MAX];
	/* ipv4hint, ipv6hint; port 0; past DDR_MAX_HINTS dropped. */
	struct addr	hints[DDR_MAX_HINTS];
	size_t		nhints;
	char		unusable[80];	/* "" or why no rule may use it */
	/*
	 * For ddr_record_str(): the RDATA, whole SvcParams only (an
	 * uncompressed TargetName always fits); rdata_cut: some were
	 * left out for want of room.
	 */
	uint8_t		rdata[DDR_RDATA_MAX];
	uint16_t	rdlen;
	int		rdata_cut;
};

/*
 * The query "_dns.resolver.arpa IN SVCB" into buf (cap bytes): ID id, RD
 * set, an OPT record of DNS_EDNS_DEFAULT_MAX bytes so a set of records
 * fits in UDP.  Length, or 0 if cap is short.
 */
size_t	ddr_make_query(uint8_t *buf, size_t cap, uint16_t id);

/*
 * The ServiceMode SVCB records of an answer to that query (msg, len bytes,
 * borrowed) into out[0..max): see the rules above.  Returns the count (0:
 * none, also for NXDOMAIN), or -1 with *why (a static string; why may be
 * NULL) if the message is malformed, truncated (TC), answers with another
 * rcode or another question.  *why is NULL on success but for an answer
 * voided by AliasMode (0, "AliasMode record (not followed)").  The ID is
 * not checked here.
 */
int	ddr_parse(const uint8_t *msg, size_t len, struct ddr_record *out,
	    size_t max, const char **why);

enum ddr_kind { DDR_VERIFIED, DDR_OPPORTUNISTIC };
/* "ddr-verified", "ddr-opportunistic" */
extern const char *const ddr_kind_names[];
#define DDR_KIND_BIT(k)	(1u << (k))

/* Why no endpoint was chosen, for counters ("no_h2"). */
enum ddr_reason {
	DDR_OK,
	DDR_NO_RECORD,		/* no ServiceMode record */
	DDR_UNSUPPORTED,	/* ddr_record.unusable: mandatory key, port 0 */
	DDR_NO_H2,		/* alpn without h2 (dot, h3 only) */
	DDR_NO_DOHPATH,		/* no dohpath, or not a usable template */
	DDR_UNVERIFIABLE,	/* target "." or not a host name, or the
				   opportunistic rules not met (or off) */
	DDR_REASON_MAX
};
extern const char *const ddr_reason_names[];	/* "ok", "no_record", ... */

struct ddr_endpoint {
	enum ddr_kind	kind;
	/*
	 * The TLS name: the target, without its dot; opportunistic with
	 * target ".", the resolver's IP, without brackets.
	 */
	char		host[DNS_MAX_NAME_TEXT];
	uint16_t	port;		/* 443 when none given */
	char		path[DDR_PATH_MAX];	/* dohpath without "{?dns}" */
	/* Port set; none of them: look host up at the resolver. */
	struct addr	addrs[DDR_MAX_HINTS];
	size_t		naddrs;
	uint32_t	ttl;		/* clamped */
};

/*
 * Choose resolver's designated DoH endpoint among recs[0..n) (by the
 * rules above; opportunistic only if opportunistic is set).  Returns 0
 * with *out filled, or -1 with a reason in why ("no SVCB record", "alpn
 * dot only", "alpn h3 only", "no dohpath", "dohpath without {?dns}",
 * ...: that of the record that came nearest to usable, the first such
 * in priority order).  Each unusable record is described in skipped
 * ("1 doh.test.: alpn dot only", one line each, '\n'-terminated); why and
 * skipped may be NULL, are always NUL-terminated when their length is
 * not 0, and are cut to fit.
 */
int	ddr_choose(const struct ddr_record *recs, size_t n,
	    const struct addr *resolver, int opportunistic,
	    struct ddr_endpoint *out, char *why, size_t whylen,
	    char *skipped, size_t skippedlen);

/*
 * The same with the kinds allowed given as DDR_KIND_BIT() bits, and the
 * reason as a code (*reason may be NULL; DDR_OK on success).  The engine
 * asks for DDR_KIND_BIT(DDR_OPPORTUNISTIC) alone when a verification
 * handshake failed and ddr-opportunistic is on.
 */
int	ddr_choose_kinds(const struct ddr_record *recs, size_t n,
	    const struct addr *resolver, unsigned kinds,
	    struct ddr_endpoint *out, enum ddr_reason *reason, char *why,
	    size_t whylen, char *skipped, size_t skippedlen);

/*
 * 1 if a is RFC 1918, loopback, link-local (169.254/16, fe80::/10), ULA
 * (fc00::/7), also IPv4-mapped; else 0.  Not 100.64/10: a CGNAT address
 * is the ISP's network, which the user's does not end at, so TLS without
 * authentication to it would cross an unknown network.
 */
int	ddr_private_addr(const struct addr *a);

/*
 * 1 if a may be a connect target: not unspecified (0.0.0.0/8, ::),
 * multicast (224/4, ff00::/8) or broadcast (255.255.255.255), also
 * IPv4-mapped; else 0.  Verified hints that are not are dropped (none
 * left: the record is skipped, "hint not usable").
 */
int	ddr_usable_addr(const struct addr *a);

/*
 * One record in presentation form, printed by dnsprint_rdata() as dohq
 * prints SVCB: 1 doh.test. alpn="h2" port=8443 ipv4hint=127.0.0.1
 * dohpath="/dns-query{?dns}" (RFC 9460/9461 key names, where unbound
 * 1.17 and dig 9.18 say key7), every SvcParam in key order, then " ..."
 * if some did not fit in ddr_record.rdata; "\# LEN HEX" as dohq when a
 * key that ddr_parse() passes over is not in dnsprint's form of it (an
 * empty ech).  Returns 0, or -1 if cut to fit len (still NUL-terminated
 * if len > 0).
 */
int	ddr_record_str(const struct ddr_record *r, char *buf, size_t len);

/*
 * The endpoint as a URL, "https://doh.test:8443/dns-query" (":443"
 * left out, an IPv6 host in brackets).  Returns 0, or -1 if cut.
 */
int	ddr_endpoint_url(const struct ddr_endpoint *ep, char *buf, size_t len);

#endif
