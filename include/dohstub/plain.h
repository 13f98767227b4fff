/*
 * plain: c-ares on the daemon's event base, for the two uses of plain DNS:
 * forwarding a client query to the fallback servers, and the bootstrap
 * lookup of an upstream's host name.  One struct plain per server set.
 */
#ifndef DOHSTUB_PLAIN_H
#define DOHSTUB_PLAIN_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "dohstub/addr.h"

struct plain;
struct plain_req;

/*
 * What a channel is for; it decides how hard a query is tried.  A client
 * query (fallback, forward rule) goes once to each server in turn: the
 * proxy has its own deadline and the client asks again.  A bootstrap
 * lookup goes round the servers twice: an upstream connection waits on
 * it, and a failure backs that connection off.
 */
enum plain_role {
	PLAIN_ROLE_FALLBACK,	/* the default plain servers (fallback) */
	PLAIN_ROLE_FORWARD,	/* a plain forward rule's servers */
	PLAIN_ROLE_BOOTSTRAP,	/* upstream host names (bootstrap) */
	PLAIN_ROLE_DISCOVERY,	/* DDR's query and target lookup, to the
				   address server itself (discovery.h) */
	PLAIN_ROLE_PORTAL,	/* encrypted-only's portal lease and its
				   probe, to the network's resolvers */
	PLAIN_ROLE_MAX,
};

/*
 * A channel for role that sends to servers (tried in order), with
 * timeout_ms per try.  Never reads /etc/resolv.conf itself.  NULL on
 * failure.
 */
struct plain *plain_new(struct event_base *base,
	    const struct addr *servers, size_t nservers,
	    unsigned timeout_ms, enum plain_role role);

/*
 * Called once unless cancelled.  status 0: ans/len is the answer (valid
 * during the call only), matched by c-ares on a random ID and the
 * question; its ID is that random one (put in by plain_forward), not the
 * query's.  status -1: no answer.
 */
typedef void plain_answer_cb(int status, const uint8_t *ans, size_t len,
	    void *arg);

/*
 * Forward query (len bytes, copied) over UDP, retried over TCP on TC.
 * Answers with any rcode are passed through.  NULL on failure (the
 * callback is then never called).  Never calls back from inside.
 */
struct plain_req *plain_forward(struct plain *p, const uint8_t *query,
	    size_t len, plain_answer_cb *cb, void *arg);

/*
 * Called once unless cancelled.  status 0: n >= 1 addresses (port set to
 * the port asked for), IPv4 and IPv6, and the smallest TTL among them;
 * addrs is valid during the call only.
 */
typedef void plain_addr_cb(int status, const struct addr *addrs, size_t n,
	    unsigned ttl, void *arg);

/*
 * Look up host's A and AAAA records (at most ADDR_MAX_PER_NAME kept).  An IP
 * literal is returned as it is, with TTL 0, without a query.  NULL on
 * failure (the callback is then never called).  Never calls back from
 * inside.
 */
struct plain_req *plain_resolve(struct plain *p, const char *host,
	    uint16_t port, plain_addr_cb *cb, void *arg);

/* The callback of req will not be called.  req must not be used again. */
void	plain_cancel(struct plain_req *req);

/*
 * Queries sent so far (for tests and metrics): one per plain_forward() and
 * one per plain_resolve() of a name (its A and AAAA lookups count once).
 */
uint64_t plain_sent(const struct plain *p);

/*
 * DNS messages that left the host so far: each UDP datagram and each TCP
 * message, retries and A plus AAAA included.  What discovery counts.
 */
uint64_t plain_wire_sent(const struct plain *p);

/*
 * Cancel everything (callbacks are not called) and free.  Callbacks run
 * from the event loop, never inside c-ares, so this may be called from
 * one of them.
 */
void	plain_free(struct plain *p);

#endif
