/*
 * local: what is answered on the host and never leaves it.  Pure: no
 * I/O, no allocation; the answer is written into the caller's buffer.
 *
 * Query policy (as unbound's worker applies it): a zone transfer (AXFR,
 * IXFR) is REFUSED; a meta type as QTYPE (OPT, TSIG, TKEY, MAILA, MAILB,
 * 128..248) is FORMERR; a class other than IN and ANY is REFUSED.
 *
 * Local zones, answered authoritatively (AA) as unbound's default local
 * zones are: localhost. and every name below it (RFC 6761 6.3) has
 * A 127.0.0.1 and AAAA ::1; 1.0.0.127.in-addr.arpa. and ::1's reverse
 * name have PTR localhost.; invalid., onion., local., home.arpa.,
 * resolver.arpa. and the reverse zones of RFC 1918, ULA and link-local
 * addresses (RFC 6303) have no names.  Every zone apex has a SOA
 * (localhost. nobody.invalid.) and NS localhost.; a name with no data of
 * the type asked is NODATA, one that does not exist NXDOMAIN, each with
 * the zone's SOA in the authority section.  Names at or below a
 * local-zone-exempt name or a forward rule's zone are forwarded (the
 * query policy still applies to them).
 */
#ifndef DOHSTUB_LOCAL_H
#define DOHSTUB_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"

enum local_verdict {
	LOCAL_FORWARD,	/* not ours: ask upstream */
	LOCAL_ZONE,	/* answered from a local zone */
	LOCAL_POLICY,	/* an error by query policy */
};

/*
 * Decide what becomes of the query qi (a DNS_VERDICT_OK one) under cfg
 * (for local-zone-exempt).  For LOCAL_ZONE and LOCAL_POLICY the answer
 * is written into out (cap bytes) and *len set to its length: the
 * query's ID, RD, CD and question (case kept), QR, RA, AA for a local
 * zone, and an OPT record (our EDNS size, DO copied) iff the client
 * sent one.  It is at most 512 bytes; *len is 0 if cap is smaller than
 * the answer (nothing to send).  For LOCAL_FORWARD nothing is written.
 */
enum local_verdict local_answer(const struct dns_query_info *qi,
	    const struct config *cfg, uint8_t *out, size_t cap, size_t *len);

/*
 * The name of the i-th local zone, in text without the final dot
 * ("localhost", "10.in-addr.arpa"), or NULL past the last: what
 * config_finalize() makes insecure for DNSSEC validation.
 */
const char *local_zone_name(size_t i);

#endif
