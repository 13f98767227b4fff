/*
 * liveness: is an HTTP/2 connection to a DoH server still there?  The
 * round-trip estimates, the PING probe and the silent-connection rules
 * of doh, as pure arithmetic on times the caller gives (clock_ms()):
 * no I/O, no timers, no allocation.  doh sends the PINGs, arms the
 * timers and kills the connections; this module says when.
 *
 * Two objects.  A liveness_server is what is known of one server across
 * its connections: the limits from the configuration and two smoothed
 * times (RFC 6298's fixed point, 8 times the ms), the answer time (a
 * request's HEADERS sent to its first response frame) and the network
 * round trip (TCP connect, PING to its ACK).  A liveness_conn is one
 * connection's clocks: when it was last read and written, the PING out,
 * the first request sent since the server was last heard, and the
 * oldest request waiting with no answer since.
 *
 * The rules:
 * - A request that waits past the probe delay (3 x srtt, at least
 *   probe_ms and LIVENESS_PROBE_MIN_MS, at most timeout_ms / 2) on a
 *   connection that has heard nothing since it was sent gets a PING.
 *   No frame within the PING bound (4 x rtt, at least
 *   LIVENESS_PING_MIN_MS, at most timeout_ms) and the connection is
 *   dead.  A PING out since before the last frame read proves nothing
 *   and is sent again.
 * - A request that waits timeout_ms with no answer on the connection
 *   after it (not any byte: a server that acks PINGs but answers no
 *   request is as useless as a dead one) makes the connection silent.
 * - A PING out for timeout_ms with nothing read since is lost.
 * - An idle connection (no stream) that has neither read nor written
 *   for keepalive_ms gets a keepalive PING.
 * - A round trip not seen (a connect or a PING unanswered) doubles the
 *   network estimate (RFC 6298 5.5), at most timeout_ms.
 *
 * The structs are embedded by their owner (doh's client and session).
 * A server's limits may be read; every other field is private, use the
 * functions.  Nothing here keeps a pointer or allocates.
 */
#ifndef DOHSTUB_LIVENESS_H
#define DOHSTUB_LIVENESS_H

#include <stdint.h>

#define LIVENESS_PROBE_MIN_MS	10
#define LIVENESS_PING_MIN_MS	300
/* A reconnect knows the round trip: its TCP connect is given this long
 * at least (4 round trips above it), a fresh SYN instead of the
 * kernel's 1 s retransmit. */
#define LIVENESS_CONNECT_MIN_MS	500
/* Samples are capped at this, so the fixed point cannot overflow. */
#define LIVENESS_SAMPLE_MAX_MS	60000

/* What a check found; the name table is for logs and tests. */
enum liveness_verdict {
	LIVENESS_OK,		/* nothing to do (see the wait given back) */
	LIVENESS_PING,		/* silent past the probe delay: PING it */
	LIVENESS_KEEPALIVE,	/* idle past keepalive_ms: PING it */
	LIVENESS_DEAD,		/* a PING unanswered past its bound, or
				   (liveness_check) for timeout_ms */
	LIVENESS_SILENT,	/* a request unanswered for timeout_ms */
	LIVENESS_VERDICT_MAX
};
extern const char *const liveness_verdict_names[];

struct liveness_server {
	/* Read-only after liveness_server_init(). */
	unsigned	timeout_ms;	/* no answer this long: silent */
	unsigned	keepalive_ms;	/* 0: no keepalive PING */
	unsigned	probe_ms;	/* fixed probe delay floor; 0: none */
	unsigned	srtt8, rtt8;	/* 8 x ms; valid once has_ */
	int		has_srtt, has_rtt;
};

struct liveness_conn {
	uint64_t	last_read_ms, last_write_ms;
	uint64_t	ping_ms;	/* the PING out was sent then */
	int		ping_out;
	int		probing;	/* the PING bound runs */
	/* The first request sent since the server was last heard (a
	 * cancelled one too: silence is silence); 0: none. */
	uint64_t	unheard_ms;
	/* A request has waited since then with no answer on this
	 * connection after it; 0: none waits. */
	uint64_t	unanswered_ms;
};

/* --- the server: limits and estimates --- */

/* No samples yet.  probe_ms: see doh_params. */
void	liveness_server_init(struct liveness_server *sv, unsigned timeout_ms,
	    unsigned keepalive_ms, unsigned probe_ms);

/* An answer took ms from its request sent to its first frame. */
void	liveness_answer_time(struct liveness_server *sv, uint64_t ms);

/*
 * A request given up on unanswered after waiting ms: a sample too if
 * longer than srtt, so that answers which never come are not forgotten.
 */
void	liveness_given_up(struct liveness_server *sv, uint64_t ms);

/* A network round trip (TCP connect, PING to ACK) took ms. */
void	liveness_rtt_sample(struct liveness_server *sv, uint64_t ms);

/*
 * A round trip was not seen (a connect timed out, a PING went
 * unanswered): it may be longer than thought, as on a move to a slower
 * path; the estimate doubles (no-op without one).
 */
void	liveness_rtt_missed(struct liveness_server *sv);

/* 1 and the smoothed ms if there is a sample, else 0 and *ms = 0. */
int	liveness_srtt(const struct liveness_server *sv, unsigned *ms);
int	liveness_rtt(const struct liveness_server *sv, unsigned *ms);

/* How long a request may wait unheard before its connection is PINGed. */
unsigned liveness_probe_delay(const struct liveness_server *sv);

/* How long a PING may go unanswered on a live connection. */
unsigned liveness_ping_bound(const struct liveness_server *sv);

/* How long a TCP connect may take: timeout_ms until a round trip is
 * known. */
unsigned liveness_connect_limit(const struct liveness_server *sv);

/* --- one connection: events --- */

/* HTTP/2 is up at now: nothing out, read "now". */
void	liveness_open(struct liveness_conn *lc, uint64_t now);

/*
 * Bytes came from the server.  Returns 1 if the probe timer should be
 * stopped: a silence it timed is over and no PING bound runs.
 */
int	liveness_heard(struct liveness_conn *lc, uint64_t now);

/* Bytes went to the server. */
void	liveness_wrote(struct liveness_conn *lc, uint64_t now);

/*
 * A request waits on the connection from now (sent, or queued with no
 * stream for it yet): the unanswered clock starts if it is not running.
 */
void	liveness_waiting(struct liveness_conn *lc, uint64_t now);

/*
 * Requests went out at now.  If the server has been heard since the
 * last ones, the silence starts now and the probe delay is returned,
 * for the probe timer unless it already runs; else 0.
 */
unsigned liveness_sent(struct liveness_conn *lc,
	    const struct liveness_server *sv, uint64_t now);

/*
 * A request's first response frame came at now: the unanswered clock
 * restarts if others still wait (more), else stops.
 */
void	liveness_answered(struct liveness_conn *lc, uint64_t now, int more);

/* 1 if a probe needs a new PING: none is out, or the one out was sent
 * before the last frame read (a server that reads but never acks would
 * have it stand for ever). */
int	liveness_ping_needed(const struct liveness_conn *lc);

/* A PING went out at now (probe or keepalive). */
void	liveness_ping_sent(struct liveness_conn *lc, uint64_t now);

/*
 * The PING ACK came at now: a round-trip sample.  Returns 1, or 0 if no
 * PING was out (an ACK of nothing is ignored).
 */
int	liveness_ping_acked(struct liveness_conn *lc,
	    struct liveness_server *sv, uint64_t now);

/*
 * A probe starts (its PING out, see above): the PING bound runs.
 * Returns the ms left of it, for the probe timer (at least 1).
 */
unsigned liveness_probing(struct liveness_conn *lc,
	    const struct liveness_server *sv, uint64_t now);

/* --- one connection: checks --- */

/*
 * The probe timer fired at now.  LIVENESS_OK: look again in *ms (0: the
 * timer is not needed); LIVENESS_PING: silent for *ms, past the probe
 * delay (PING through liveness_ping_needed/_sent, then
 * liveness_probing); LIVENESS_DEAD: no frame within the PING bound,
 * *ms.
 */
enum liveness_verdict liveness_probe(struct liveness_conn *lc,
	    const struct liveness_server *sv, uint64_t now, unsigned *ms);

/*
 * The periodic check at now; idle: the connection takes streams and has
 * none.  LIVENESS_SILENT, LIVENESS_DEAD (a PING out for timeout_ms with
 * nothing read since), LIVENESS_KEEPALIVE or LIVENESS_OK, first that
 * holds.
 */
enum liveness_verdict liveness_check(const struct liveness_conn *lc,
	    const struct liveness_server *sv, uint64_t now, int idle);

#endif
