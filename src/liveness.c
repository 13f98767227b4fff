/*
 * liveness: round-trip estimates, PING probes and silent connections;
 * see liveness.h for the rules.  Pure: every time comes from the caller.
 */
#include <limits.h>
#include <string.h>

#include "dohstub/liveness.h"

const char *const liveness_verdict_names[] = {
	"ok", "ping", "keepalive", "dead", "silent",
};

static unsigned
at_most(unsigned v, unsigned max)
{
	return v < max ? v : max;
}

static uint64_t
later(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* One more sample (ms) of a smoothed time kept as 8 times its value. */
static void
smooth(unsigned *v8, int *has, uint64_t ms)
{
	if (ms > LIVENESS_SAMPLE_MAX_MS)
		ms = LIVENESS_SAMPLE_MAX_MS;
	if (!*has)
		*v8 = (unsigned)ms * 8;
	else
		*v8 = *v8 - *v8 / 8 + (unsigned)ms;
	*has = 1;
}

void
liveness_server_init(struct liveness_server *sv, unsigned timeout_ms,
    unsigned keepalive_ms, unsigned probe_ms)
{
	memset(sv, 0, sizeof(*sv));
	sv->timeout_ms = timeout_ms;
	sv->keepalive_ms = keepalive_ms;
	sv->probe_ms = probe_ms;
}

void
liveness_answer_time(struct liveness_server *sv, uint64_t ms)
{
	smooth(&sv->srtt8, &sv->has_srtt, ms);
}

void
liveness_given_up(struct liveness_server *sv, uint64_t ms)
{
	if (ms > sv->srtt8 / 8)
		smooth(&sv->srtt8, &sv->has_srtt, ms);
}

void
liveness_rtt_sample(struct liveness_server *sv, uint64_t ms)
{
	smooth(&sv->rtt8, &sv->has_rtt, ms);
}

void
liveness_rtt_missed(struct liveness_server *sv)
{
	if (sv->has_rtt)
		sv->rtt8 = at_most(sv->rtt8 * 2 + 8, sv->timeout_ms * 8);
}

int
liveness_srtt(const struct liveness_server *sv, unsigned *ms)
{
	*ms = sv->srtt8 / 8;
	return sv->has_srtt;
}

int
liveness_rtt(const struct liveness_server *sv, unsigned *ms)
{
	*ms = sv->rtt8 / 8;
	return sv->has_rtt;
}

unsigned
liveness_probe_delay(const struct liveness_server *sv)
{
	unsigned d = 3 * (sv->srtt8 / 8);

	/* A fixed delay may be longer, never shorter: a PING per request
	 * is what servers' PING-flood guards (CVE-2019-9512) punish. */
	if (d < sv->probe_ms)
		d = sv->probe_ms;
	if (d < LIVENESS_PROBE_MIN_MS)
		d = LIVENESS_PROBE_MIN_MS;
	d = at_most(d, sv->timeout_ms / 2);
	return d > 0 ? d : 1;
}

unsigned
liveness_ping_bound(const struct liveness_server *sv)
{
	unsigned d = 4 * (sv->rtt8 / 8);

	return at_most(d > LIVENESS_PING_MIN_MS ? d : LIVENESS_PING_MIN_MS,
	    sv->timeout_ms);
}

unsigned
liveness_connect_limit(const struct liveness_server *sv)
{
	unsigned d = 4 * (sv->rtt8 / 8);

	if (!sv->has_rtt)
		return sv->timeout_ms;
	return at_most(d > LIVENESS_CONNECT_MIN_MS ? d :
	    LIVENESS_CONNECT_MIN_MS, sv->timeout_ms);
}

void
liveness_open(struct liveness_conn *lc, uint64_t now)
{
	memset(lc, 0, sizeof(*lc));
	lc->last_read_ms = now;
}

int
liveness_heard(struct liveness_conn *lc, uint64_t now)
{
	lc->last_read_ms = now;
	if (lc->unheard_ms == 0)
		return 0;
	lc->unheard_ms = 0;
	/* A probe's PING keeps its bound. */
	return !lc->probing;
}

void
liveness_wrote(struct liveness_conn *lc, uint64_t now)
{
	lc->last_write_ms = now;
}

void
liveness_waiting(struct liveness_conn *lc, uint64_t now)
{
	if (lc->unanswered_ms == 0)
		lc->unanswered_ms = now;
}

unsigned
liveness_sent(struct liveness_conn *lc, const struct liveness_server *sv,
    uint64_t now)
{
	if (lc->unheard_ms != 0)
		return 0;
	lc->unheard_ms = now;
	return liveness_probe_delay(sv);
}

void
liveness_answered(struct liveness_conn *lc, uint64_t now, int more)
{
	lc->unanswered_ms = more ? now : 0;
}

int
liveness_ping_needed(const struct liveness_conn *lc)
{
	return !lc->ping_out || lc->last_read_ms > lc->ping_ms;
}

void
liveness_ping_sent(struct liveness_conn *lc, uint64_t now)
{
	lc->ping_out = 1;
	lc->ping_ms = now;
}

int
liveness_ping_acked(struct liveness_conn *lc, struct liveness_server *sv,
    uint64_t now)
{
	if (!lc->ping_out)
		return 0;
	lc->ping_out = 0;
	liveness_rtt_sample(sv, now - lc->ping_ms);
	return 1;
}

unsigned
liveness_probing(struct liveness_conn *lc, const struct liveness_server *sv,
    uint64_t now)
{
	unsigned bound = liveness_ping_bound(sv);
	uint64_t waited = now - lc->ping_ms;

	lc->probing = 1;
	return waited < bound ? bound - (unsigned)waited : 1;
}

enum liveness_verdict
liveness_probe(struct liveness_conn *lc, const struct liveness_server *sv,
    uint64_t now, unsigned *ms)
{
	uint64_t silence;
	unsigned bound, delay;

	*ms = 0;
	if (lc->probing) {
		if (lc->ping_out && lc->last_read_ms <= lc->ping_ms) {
			bound = liveness_ping_bound(sv);
			if (now - lc->ping_ms < bound) {
				*ms = bound - (unsigned)(now - lc->ping_ms);
				return LIVENESS_OK;
			}
			*ms = bound;
			return LIVENESS_DEAD;
		}
		/* Heard since the PING: the probe is over. */
		lc->probing = 0;
	}
	if (lc->unheard_ms == 0)
		return LIVENESS_OK;
	delay = liveness_probe_delay(sv);
	if (now - lc->unheard_ms < delay) {
		*ms = delay - (unsigned)(now - lc->unheard_ms);
		return LIVENESS_OK;
	}
	silence = now - lc->unheard_ms;
	*ms = silence < UINT_MAX ? (unsigned)silence : UINT_MAX;
	return LIVENESS_PING;
}

enum liveness_verdict
liveness_check(const struct liveness_conn *lc,
    const struct liveness_server *sv, uint64_t now, int idle)
{
	if (lc->unanswered_ms != 0 &&
	    now - lc->unanswered_ms >= sv->timeout_ms)
		return LIVENESS_SILENT;
	if (lc->ping_out &&
	    now - later(lc->last_read_ms, lc->ping_ms) >= sv->timeout_ms)
		return LIVENESS_DEAD;
	if (sv->keepalive_ms > 0 && idle && !lc->ping_out &&
	    now - later(lc->last_read_ms, lc->last_write_ms) >=
	    sv->keepalive_ms)
		return LIVENESS_KEEPALIVE;
	return LIVENESS_OK;
}
