/*
 * discovery: how each address server (an upstream written as an address,
 * config.h) is upgraded to DoH, asynchronously.  In order:
 *
 *	known		the address is in the known-server table (known.h):
 *			its URL's name verified at that address; no traffic
 *	DDR		otherwise, with ddr yes: "_dns.resolver.arpa IN SVCB"
 *			over plain DNS to the address (RFC 9462), the
 *			designated endpoint chosen by ddr_choose(), its
 *			address looked up at that same resolver when the
 *			record has no hints, then a verification handshake
 *			with a throw-away doh_client: valid for the target
 *			name and listing the resolver's IP (4.2, verified),
 *			or no check at all (4.3, opportunistic, only with
 *			ddr-opportunistic yes)
 *	none		none of those: the reason is kept
 *
 * Each entry moves through enum discovery_state; a result stands until
 * the next run of that entry replaces it, so a rerun does not disturb a
 * working upgrade.  A run that fails for a passing reason (no answer, the
 * lookup or the TLS connection failed: not an answer about the resolver)
 * does not replace a standing upgrade: it stays up to one more TTL while
 * the run is retried from 10 s, doubling; an answer (no record, no h2, no
 * dohpath, a certificate that does not verify, no usable address)
 * replaces it at once.  An entry runs again when its result expires (the
 * SVCB TTL, clamped by ddr.h; a failure is retried from a minute up to an
 * hour), and all do on discovery_rerun() (a network change, a
 * resolv.conf change).  A reload makes a new discovery seeded with the
 * old one's results.
 *
 * Hints and looked-up addresses that are no connect target (ddr.h's
 * ddr_usable_addr) or dohstub's own listen addresses are dropped; none
 * left: not upgraded, "hint not usable".  With ddr-opportunistic, a
 * verified failure that opportunistic cannot mend keeps its kind and
 * reason, opportunistic's reason following ("; opportunistic: ...").
 *
 * The plaintext it sends (the DDR query, and the target lookup when no
 * hint is given) goes through plain channels of role
 * PLAIN_ROLE_DISCOVERY, one per entry and run, and is counted as it
 * leaves (plain_wire_sent: A and AAAA, retries).
 */
#ifndef DOHSTUB_DISCOVERY_H
#define DOHSTUB_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"

struct discovery;

/* How an address server was upgraded. */
enum discovery_upgrade {
	DISCOVERY_PENDING,	/* no result yet */
	DISCOVERY_KNOWN,
	DISCOVERY_VERIFIED,	/* ddr-verified */
	DISCOVERY_OPPORTUNISTIC,	/* ddr-opportunistic */
	DISCOVERY_NONE,		/* not upgraded: see fail and reason */
	DISCOVERY_UPGRADE_MAX
};
/* "pending", "known", "ddr-verified", "ddr-opportunistic", "none" */
extern const char *const discovery_upgrade_names[];

/* Why DDR did not upgrade, for /metrics (a small fixed set). */
enum discovery_fail {
	DISCOVERY_FAIL_NONE,	/* no failure: upgraded, or DDR off */
	DISCOVERY_FAIL_NO_ANSWER,	/* no or a malformed answer */
	DISCOVERY_FAIL_NO_RECORD,	/* no usable SVCB record */
	DISCOVERY_FAIL_NO_H2,	/* only dot, h3, ... offered */
	DISCOVERY_FAIL_NO_DOHPATH,	/* no dohpath, or one without {?dns} */
	DISCOVERY_FAIL_LOOKUP,	/* the target's address lookup failed */
	DISCOVERY_FAIL_CERTIFICATE,	/* the certificate did not verify */
	DISCOVERY_FAIL_TLS,	/* no TLS or no h2 to the endpoint */
	DISCOVERY_FAIL_MAX
};
/* "", "no_answer", "no_record", "no_h2", "no_dohpath", "lookup",
 * "certificate", "tls" */
extern const char *const discovery_fail_names[];

/* Where one entry's run is. */
enum discovery_state {
	DISCOVERY_IDLE,		/* not running: its result stands */
	DISCOVERY_QUERY,	/* the DDR query is out */
	DISCOVERY_LOOKUP,	/* the target's address lookup is out */
	DISCOVERY_VERIFY,	/* the verification handshake is under way */
	DISCOVERY_STATE_MAX
};
extern const char *const discovery_state_names[];

#define DISCOVERY_TEXT	1024

/* What is known of one address server. */
struct discovery_result {
	struct addr		 addr;		/* as configured, port set */
	enum discovery_upgrade	 upgrade;
	enum discovery_fail	 fail;		/* DISCOVERY_NONE only */
	char			 reason[256];	/* DISCOVERY_NONE: why */
	char			 provider[64];	/* known: "" for known-server */
	/* The DoH endpoint of an upgraded server. */
	char			 url[DNS_MAX_NAME_TEXT + 300];
	char			 host[DNS_MAX_NAME_TEXT];	/* TLS name */
	uint16_t		 port;
	char			 path[256];
	int			 host_is_ip;
	struct addr		 pins[ADDR_MAX_PER_NAME];	/* port set */
	size_t			 npins;
	char			 verify_ip[ADDR_STRLEN];	/* or "" */
	int			 no_verify;
	uint32_t		 ttl;		/* seconds; 0: for good */
	/* What the last DDR run saw, for dohq --discover and logs. */
	char			 records[DISCOVERY_TEXT];	/* one a line */
	char			 skipped[DISCOVERY_TEXT];	/* one a line */
	char			 checked[DNS_MAX_NAME_TEXT + 100];
	char			 cert_names[DISCOVERY_TEXT];	/* SANs seen */
};

/* Counters, kept across reloads (seeded from the discovery before). */
struct discovery_stats {
	uint64_t	results[DISCOVERY_UPGRADE_MAX];	/* runs ended so
					   (a passing failure that kept an
					   upgrade: not counted here) */
	uint64_t	failures[DISCOVERY_FAIL_MAX];	/* runs that failed,
					   by reason; [0] unused */
	uint64_t	queries;	/* plaintext messages that left:
					   DDR queries, target lookups (A
					   and AAAA), retries */
};

/*
 * Entry i's result changed (it is discovery_result(d, i) now).  Called
 * from the event loop, never from inside a call into d; the callee may
 * read d but not free it.
 */
typedef void discovery_cb(struct discovery *d, size_t i, void *arg);

/*
 * One entry per addrs[0..n) (copied), with cfg's known-server table, ddr,
 * ddr-opportunistic, ca-file, tls-min-version and timeout; cfg must
 * outlive d.  prev (may be NULL): a discovery being replaced, whose
 * results for the same addresses (and counters) are taken over, so that a
 * reload keeps working upgrades while it reruns.  Known servers get their
 * result here; nothing is sent until discovery_start().  NULL on failure,
 * logged.
 */
struct discovery *discovery_new(struct event_base *base,
	    const struct config *cfg, const struct addr *addrs, size_t n,
	    const struct discovery *prev, discovery_cb *cb, void *arg);

/* Run every entry that is not known (DDR), or settle those that cannot. */
void	discovery_start(struct discovery *d);

/* The network changed: every DDR entry runs again (its result stands
 * meanwhile).  A no-op before discovery_start(). */
void	discovery_rerun(struct discovery *d);

size_t	discovery_count(const struct discovery *d);
/* Entry i's result, valid until d's next callback or free; NULL past
 * the end. */
const struct discovery_result *discovery_result(const struct discovery *d,
	    size_t i);
/* Entry i's state. */
enum discovery_state discovery_state(const struct discovery *d, size_t i);
/* 1 while some entry has no result yet. */
int	discovery_pending(const struct discovery *d);
const struct discovery_stats *discovery_stats(const struct discovery *d);

/*
 * An upgraded result's endpoint as a DoH upstream: *u (zeroed first) gets
 * the URL, host, port and path, the pinned addresses and the checks the
 * handshake makes (verify_ip, no_verify).  -1 out of memory, *u then
 * empty; free it with config_upstream_free().
 */
int	discovery_upstream(const struct discovery_result *r,
	    struct config_upstream *u);

/* Cancel everything (no callback after) and free.  NULL: nothing. */
void	discovery_free(struct discovery *d);

#endif
