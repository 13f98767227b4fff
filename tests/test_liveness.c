/*
 * liveness: the estimates and the rules, with time stepped through the
 * clock seam.  Each scenario is what doh does on a connection (open, send,
 * hear, PING) and what it is told at each step.
 */
#include <stdint.h>

#include "check.h"
#include "dohstub/clock.h"
#include "dohstub/liveness.h"

#define T0	1000	/* virtual start */
#define TIMEOUT	2000

static uint64_t
now(void)
{
	return clock_ms();
}

/* Step to T0 + at. */
static void
at(uint64_t ms)
{
	if (T0 + ms > clock_ms())
		clock_step(T0 + ms - clock_ms());
	CHECK_EQ(clock_ms(), T0 + ms);
}

static void
fresh(struct liveness_server *sv, struct liveness_conn *lc,
    unsigned keepalive_ms)
{
	clock_test_begin(T0);
	liveness_server_init(sv, TIMEOUT, keepalive_ms, 0);
	liveness_open(lc, now());
}

static void
test_names(void)
{
	CHECK_STR(liveness_verdict_names[LIVENESS_OK], "ok");
	CHECK_STR(liveness_verdict_names[LIVENESS_DEAD], "dead");
	CHECK_STR(liveness_verdict_names[LIVENESS_VERDICT_MAX - 1], "silent");
}

/* Smoothing (RFC 6298, gain 1/8), the floors, the caps. */
static void
test_estimates(void)
{
	struct liveness_server sv;
	unsigned ms;

	liveness_server_init(&sv, TIMEOUT, 0, 0);
	CHECK_EQ(liveness_srtt(&sv, &ms), 0);
	CHECK_EQ(ms, 0);
	CHECK_EQ(liveness_rtt(&sv, &ms), 0);
	/* No sample: the floors, the connect gets the whole timeout. */
	CHECK_EQ(liveness_probe_delay(&sv), LIVENESS_PROBE_MIN_MS);
	CHECK_EQ(liveness_ping_bound(&sv), LIVENESS_PING_MIN_MS);
	CHECK_EQ(liveness_connect_limit(&sv), TIMEOUT);
	/* Unseen round trip with no estimate: nothing to double. */
	liveness_rtt_missed(&sv);
	CHECK_EQ(liveness_rtt(&sv, &ms), 0);

	/* The first answer time is taken whole, then 7/8 old + 1/8 new. */
	liveness_answer_time(&sv, 100);
	CHECK_EQ(liveness_srtt(&sv, &ms), 1);
	CHECK_EQ(ms, 100);
	liveness_answer_time(&sv, 20);
	liveness_srtt(&sv, &ms);
	CHECK_EQ(ms, 90);		/* (800 - 100 + 20) / 8 */
	CHECK_EQ(liveness_probe_delay(&sv), 270);	/* 3 x srtt */
	/* Given up on before srtt: no news.  After: a sample. */
	liveness_given_up(&sv, 80);
	liveness_srtt(&sv, &ms);
	CHECK_EQ(ms, 90);
	liveness_given_up(&sv, 810);
	liveness_srtt(&sv, &ms);
	CHECK_EQ(ms, 180);		/* (720 - 90 + 810) / 8 */
	/* The probe delay stays under half the timeout. */
	liveness_answer_time(&sv, 60 * 60 * 1000);	/* capped at 60 s */
	liveness_srtt(&sv, &ms);
	CHECK_EQ(ms, (1440 - 180 + LIVENESS_SAMPLE_MAX_MS) / 8);
	CHECK_EQ(liveness_probe_delay(&sv), TIMEOUT / 2);

	/* The round trip: PING bound 4 x rtt over its floor. */
	liveness_rtt_sample(&sv, 40);
	CHECK_EQ(liveness_rtt(&sv, &ms), 1);
	CHECK_EQ(ms, 40);
	CHECK_EQ(liveness_ping_bound(&sv), LIVENESS_PING_MIN_MS);
	CHECK_EQ(liveness_connect_limit(&sv), LIVENESS_CONNECT_MIN_MS);
	/* Not seen: the estimate doubles (and a little). */
	liveness_rtt_missed(&sv);
	liveness_rtt(&sv, &ms);
	CHECK_EQ(ms, 81);		/* (320 x 2 + 8) / 8 */
	CHECK_EQ(liveness_ping_bound(&sv), 324);
	liveness_rtt_missed(&sv);
	liveness_rtt(&sv, &ms);
	CHECK_EQ(ms, 163);
	CHECK_EQ(liveness_connect_limit(&sv), 652);
	/* ... up to the timeout, and the bounds with it. */
	liveness_rtt_missed(&sv);
	liveness_rtt_missed(&sv);
	liveness_rtt_missed(&sv);
	liveness_rtt(&sv, &ms);
	CHECK_EQ(ms, 1311);
	liveness_rtt_missed(&sv);
	liveness_rtt(&sv, &ms);
	CHECK_EQ(ms, TIMEOUT);
	CHECK_EQ(liveness_ping_bound(&sv), TIMEOUT);
	CHECK_EQ(liveness_connect_limit(&sv), TIMEOUT);

	/* A fixed probe delay is a floor above 3 x srtt, under the cap. */
	liveness_server_init(&sv, TIMEOUT, 0, 500);
	CHECK_EQ(liveness_probe_delay(&sv), 500);
	liveness_answer_time(&sv, 200);
	CHECK_EQ(liveness_probe_delay(&sv), 600);
	liveness_server_init(&sv, TIMEOUT, 0, 5000);
	CHECK_EQ(liveness_probe_delay(&sv), TIMEOUT / 2);
	/* A tiny timeout still gives a delay a timer can wait. */
	liveness_server_init(&sv, 1, 0, 0);
	CHECK_EQ(liveness_probe_delay(&sv), 1);
	CHECK_EQ(liveness_ping_bound(&sv), 1);
}

/*
 * A request sent into silence: the PING at the probe delay, the
 * connection dead at the end of the PING bound.
 */
static void
test_silence_dead(void)
{
	struct liveness_server sv;
	struct liveness_conn lc;
	unsigned ms;

	fresh(&sv, &lc, 0);
	/* Nothing sent: nothing to probe. */
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	CHECK_EQ(ms, 0);

	at(1);
	liveness_waiting(&lc, now());
	CHECK_EQ(liveness_sent(&lc, &sv, now()), 10);	/* the timer */
	/* More requests before anything is heard: the timer runs already. */
	at(3);
	liveness_waiting(&lc, now());
	CHECK_EQ(liveness_sent(&lc, &sv, now()), 0);
	/* Early: look again when the delay is up, counted from the first. */
	at(5);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	CHECK_EQ(ms, 6);
	at(11);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_PING);
	CHECK_EQ(ms, 10);			/* silent that long */
	CHECK(liveness_ping_needed(&lc));
	liveness_ping_sent(&lc, now());
	CHECK_EQ(liveness_probing(&lc, &sv, now()), LIVENESS_PING_MIN_MS);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_OK);
	/* The bound, to the millisecond. */
	at(310);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	CHECK_EQ(ms, 1);
	at(311);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_DEAD);
	CHECK_EQ(ms, LIVENESS_PING_MIN_MS);
}

/*
 * Anything heard ends a silence; a PING ACK is also a round-trip sample.
 * A probe's PING keeps its bound even when other frames come.
 */
static void
test_heard(void)
{
	struct liveness_server sv;
	struct liveness_conn lc;
	unsigned ms;

	/* Heard before the probe delay: the timer can stop, no PING. */
	fresh(&sv, &lc, 0);
	at(1);
	liveness_waiting(&lc, now());
	CHECK(liveness_sent(&lc, &sv, now()) > 0);
	at(5);
	CHECK_EQ(liveness_heard(&lc, now()), 1);
	at(11);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	CHECK_EQ(ms, 0);
	/* Heard twice: the second has no silence to end. */
	CHECK_EQ(liveness_heard(&lc, now()), 0);

	/* The PING is acked 50 ms after it left: alive, rtt 50. */
	fresh(&sv, &lc, 0);
	at(1);
	liveness_waiting(&lc, now());
	liveness_sent(&lc, &sv, now());
	at(11);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_PING);
	liveness_ping_sent(&lc, now());
	liveness_probing(&lc, &sv, now());
	at(61);
	/* The silence is over but the bound's timer stays: the probe
	 * decides at its end. */
	CHECK_EQ(liveness_heard(&lc, now()), 0);
	CHECK_EQ(liveness_ping_acked(&lc, &sv, now()), 1);
	CHECK_EQ(liveness_rtt(&sv, &ms), 1);
	CHECK_EQ(ms, 50);
	at(311);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	CHECK_EQ(ms, 0);
	/* An ACK of nothing is no sample. */
	CHECK_EQ(liveness_ping_acked(&lc, &sv, now()), 0);
	liveness_rtt(&sv, &ms);
	CHECK_EQ(ms, 50);

	/* A frame other than the ACK also proves the connection alive. */
	fresh(&sv, &lc, 0);
	at(1);
	liveness_waiting(&lc, now());
	liveness_sent(&lc, &sv, now());
	at(11);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_PING);
	liveness_ping_sent(&lc, now());
	liveness_probing(&lc, &sv, now());
	at(100);
	liveness_heard(&lc, now());
	at(311);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
}

/*
 * A server that reads and sends but never acks a PING: the PING out
 * since before its last frame proves nothing, so the next silence gets
 * a PING of its own and a whole bound, not 1 ms.
 */
static void
test_stale_ping(void)
{
	struct liveness_server sv;
	struct liveness_conn lc;
	unsigned ms;

	fresh(&sv, &lc, 0);
	at(1);
	liveness_waiting(&lc, now());
	liveness_sent(&lc, &sv, now());
	at(11);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_PING);
	liveness_ping_sent(&lc, now());
	liveness_probing(&lc, &sv, now());
	at(41);
	liveness_heard(&lc, now());		/* a frame, no ACK */
	at(311);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	/* A new request into silence, the stale PING still out... */
	at(441);
	CHECK_EQ(liveness_sent(&lc, &sv, now()), 10);
	at(451);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_PING);
	/* ... but it went out before the last frame: a new one. */
	CHECK(liveness_ping_needed(&lc));
	liveness_ping_sent(&lc, now());
	CHECK_EQ(liveness_probing(&lc, &sv, now()), LIVENESS_PING_MIN_MS);
	at(750);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	CHECK_EQ(ms, 1);
	at(751);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_DEAD);
}

/*
 * Probing at once (a network change): a PING out with nothing heard
 * since is counted on, the bound running from when it left.
 */
static void
test_suspect(void)
{
	struct liveness_server sv;
	struct liveness_conn lc;
	unsigned ms;

	fresh(&sv, &lc, 30000);
	at(30000);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_KEEPALIVE);
	liveness_ping_sent(&lc, now());
	at(30100);
	CHECK(!liveness_ping_needed(&lc));
	CHECK_EQ(liveness_probing(&lc, &sv, now()),
	    LIVENESS_PING_MIN_MS - 100);
	at(30299);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	CHECK_EQ(ms, 1);
	at(30300);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_DEAD);

	/* A PING out for longer than the bound: 1 ms, dead at once. */
	fresh(&sv, &lc, 30000);
	at(30000);
	liveness_ping_sent(&lc, now());
	at(30500);
	CHECK(!liveness_ping_needed(&lc));
	CHECK_EQ(liveness_probing(&lc, &sv, now()), 1);
	at(30501);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_DEAD);

	/* Probing an idle connection that answers: over, nothing more. */
	fresh(&sv, &lc, 0);
	at(100);
	CHECK(liveness_ping_needed(&lc));
	liveness_ping_sent(&lc, now());
	liveness_probing(&lc, &sv, now());
	at(120);
	liveness_heard(&lc, now());
	liveness_ping_acked(&lc, &sv, now());
	at(400);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_OK);
	CHECK_EQ(ms, 0);
}

/*
 * Judged by answers, not bytes: a request unanswered for the timeout
 * makes the connection silent even if PINGs are acked meanwhile; an
 * answer restarts the clock for those still waiting, or stops it.
 */
static void
test_unanswered(void)
{
	struct liveness_server sv;
	struct liveness_conn lc;
	unsigned ms;

	fresh(&sv, &lc, 0);
	at(1);
	liveness_waiting(&lc, now());
	liveness_sent(&lc, &sv, now());
	at(11);
	CHECK_EQ(liveness_probe(&lc, &sv, now(), &ms), LIVENESS_PING);
	liveness_ping_sent(&lc, now());
	liveness_probing(&lc, &sv, now());
	at(20);
	liveness_heard(&lc, now());
	liveness_ping_acked(&lc, &sv, now());
	at(TIMEOUT);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_OK);
	at(TIMEOUT + 1);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_SILENT);

	/* An answer with others waiting: from the answer on. */
	fresh(&sv, &lc, 0);
	at(1);
	liveness_waiting(&lc, now());
	at(500);
	liveness_waiting(&lc, now());		/* still from 1 */
	liveness_answered(&lc, now(), 1);
	at(TIMEOUT + 1);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_OK);
	at(TIMEOUT + 499);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_OK);
	at(TIMEOUT + 500);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_SILENT);

	/* The last one answered: no clock, however long. */
	fresh(&sv, &lc, 0);
	at(1);
	liveness_waiting(&lc, now());
	at(30);
	liveness_answered(&lc, now(), 0);
	at(10 * TIMEOUT);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_OK);
	/* The next request starts it afresh. */
	liveness_waiting(&lc, now());
	at(11 * TIMEOUT);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_SILENT);
}

/*
 * The periodic check: keepalive PINGs on an idle connection, and a PING
 * out for the timeout with nothing read since is lost.
 */
static void
test_idle(void)
{
	struct liveness_server sv;
	struct liveness_conn lc;

	fresh(&sv, &lc, 30000);
	at(29999);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_OK);
	/* Streams open, or draining: no keepalive. */
	at(30000);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_OK);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_KEEPALIVE);
	/* Written to lately: quiet counts from the later of read, write. */
	liveness_wrote(&lc, now());
	at(59999);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_OK);
	at(60000);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_KEEPALIVE);
	liveness_ping_sent(&lc, now());
	/* One out: no second, and it is lost after the timeout... */
	at(60000 + TIMEOUT - 1);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_OK);
	at(60000 + TIMEOUT);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_DEAD);

	/* ... counted from the last frame read if one came after it. */
	fresh(&sv, &lc, 30000);
	at(30000);
	liveness_ping_sent(&lc, now());
	at(31000);
	liveness_heard(&lc, now());
	at(30000 + TIMEOUT);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_OK);
	at(31000 + TIMEOUT);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_DEAD);

	/* Acked: the next keepalive a keepalive interval after the ACK. */
	fresh(&sv, &lc, 30000);
	at(30000);
	liveness_ping_sent(&lc, now());
	liveness_wrote(&lc, now());
	at(30005);
	liveness_heard(&lc, now());
	CHECK_EQ(liveness_ping_acked(&lc, &sv, now()), 1);
	at(60004);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_OK);
	at(60005);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_KEEPALIVE);

	/* keepalive 0: never. */
	fresh(&sv, &lc, 0);
	at(10 * 60 * 1000);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 1), LIVENESS_OK);

	/* A new connection starts clean. */
	liveness_ping_sent(&lc, now());
	liveness_waiting(&lc, now());
	liveness_open(&lc, now());
	at(11 * 60 * 1000);
	CHECK_EQ(liveness_check(&lc, &sv, now(), 0), LIVENESS_OK);
	CHECK(liveness_ping_needed(&lc));
}

int
main(void)
{
	test_names();
	test_estimates();
	test_silence_dead();
	test_heard();
	test_stale_ping();
	test_suspect();
	test_unanswered();
	test_idle();
	return check_summary();
}
