/*
 * clock: the one place the core reads time and arms timers, so that tests
 * can move time (as unbound's testbound does with fake_event.c).
 *
 * In normal operation clock_ms() is the monotonic clock and a clock_timer
 * is a libevent timer on the event base.  After clock_test_begin() (tests
 * only) time is virtual: it stands still until clock_step() moves it, and
 * timers wait in a list ordered by deadline instead of in libevent, so a
 * test steps to the millisecond and never sleeps.  Either way the cost
 * is one branch per call.
 *
 * Two clocks, because Linux's CLOCK_MONOTONIC (libevent's, and
 * clock_ms()'s) stops while the machine is suspended and CLOCK_BOOTTIME
 * (clock_boot_ms()) does not:
 * - live time, clock_ms() and clock_timer_init(): what is about the
 *   connection or query in hand, which a suspend kills or which has no
 *   meaning across one: query, handshake and idle timeouts, hedge delays,
 *   PING bounds and RTT samples, reconnect backoff, rate-limit buckets,
 *   netwatch's debounce, c-ares' timeouts.  Not counting sleep keeps them
 *   from all firing at once on resume; the resume itself is handled as a
 *   network change (clock_resumed()).
 * - expiry time, clock_boot_ms() and clock_timer_init_boot(): what must
 *   age in wall time whether the machine slept or not: cache TTLs,
 *   negative and SERVFAIL times and the serve-stale window, bootstrap
 *   lookup TTLs and retries, DDR result TTLs and retries.  An answer with
 *   300 s left before a night's sleep is expired after it.
 * An expiry timer is a libevent timer too (libevent has no other clock):
 * it is armed for the live time left and, when clock_resumed() sees a
 * sleep, armed again for what is left of its expiry time, 0 if it passed.
 */
#ifndef DOHSTUB_CLOCK_H
#define DOHSTUB_CLOCK_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

/* Milliseconds, monotonic: live time (or virtual, see clock_test_begin()). */
uint64_t clock_ms(void);

/* The same clock in microseconds, for latencies reported finer. */
uint64_t clock_us(void);

/*
 * Milliseconds, counting suspended time: expiry time (or virtual: live
 * time plus every clock_test_sleep()).  Comparable only with itself.
 */
uint64_t clock_boot_ms(void);

/*
 * Wall-clock seconds since 1970, the low 32 bits (RFC 4034 3.1.5 compares
 * RRSIG times in serial arithmetic, so the wrap in 2106 does not matter):
 * time(2), which follows the system clock wherever it is set.  Only what
 * is about calendar time reads it (DNSSEC signature validity); durations
 * use the two clocks above.  Virtual in tests: clock_test_begin() sets it
 * to CLOCK_TEST_WALL, clock_test_wall() to any time, and it moves with
 * clock_boot_ms() (steps and sleeps alike), as the real one goes on while
 * the machine sleeps.
 */
uint32_t clock_wall(void);

/* A sleep shorter than this is not seen as one by clock_resumed(). */
#define CLOCK_RESUME_MIN_MS	1000

/* Called when the timer expires; the timer is no longer pending. */
typedef void clock_timer_cb(void *arg);

/*
 * A one-shot timer, embedded in its owner: no allocation, so arming and
 * disarming cannot fail.  Private fields; use the functions below.
 */
struct clock_timer {
	struct event			 ev;		/* real time */
	TAILQ_ENTRY(clock_timer)	 entry;		/* virtual time */
	uint64_t			 deadline;	/* virtual time */
	int				 queued;	/* virtual time */
	TAILQ_ENTRY(clock_timer)	 bentry;	/* expiry timers */
	uint64_t			 boot_deadline;	/* clock_boot_ms() */
	int				 boot;		/* an expiry timer */
	int				 bqueued;	/* pending, on bentry */
	clock_timer_cb			*cb;
	void				*arg;
};

/*
 * Make t a timer on base that calls cb(arg).  Not pending.  t must stay
 * where it is (and be deleted) until it is pending no more.
 */
void	clock_timer_init(struct clock_timer *t, struct event_base *base,
	    clock_timer_cb *cb, void *arg);

/*
 * The same, for a timer on expiry time: it fires ms from now counting any
 * sleep in between, once clock_resumed() has seen that sleep.
 */
void	clock_timer_init_boot(struct clock_timer *t, struct event_base *base,
	    clock_timer_cb *cb, void *arg);

/* (Re)arm t to fire ms from now; a pending t is moved, not doubled. */
void	clock_timer_add(struct clock_timer *t, unsigned ms);

/* Disarm t; a no-op if it is not pending.  Safe from any callback. */
void	clock_timer_del(struct clock_timer *t);

/* 1 if t is armed and has not fired yet. */
int	clock_timer_pending(const struct clock_timer *t);

/*
 * The resume check: how much sleep (clock_boot_ms() - clock_ms()) has
 * grown since the last call, if at least CLOCK_RESUME_MIN_MS, else 0.
 * When it returns non-zero it has armed every pending expiry timer again
 * for what is left of its time (due ones fire on the next loop pass, or
 * in virtual time on the next clock_step()), so exactly one caller sees a
 * given sleep.  The first call only takes the baseline.  Two clock reads,
 * both in the vDSO on Linux: no system call, cheap enough per query.
 */
uint64_t clock_resumed(void);

/*
 * Tests only.  From now on time is virtual and starts at start_ms, the
 * wall clock at CLOCK_TEST_WALL; timers armed from now on wait for
 * clock_step().  Call it before any timer is armed; calling it again
 * restarts time and forgets every pending virtual timer.
 */
void	clock_test_begin(uint64_t start_ms);

/* clock_wall() just after clock_test_begin(): 2026-01-01T00:00:00Z. */
#define CLOCK_TEST_WALL	1767225600u

/*
 * Tests only, in virtual time.  Set the wall clock to sec now (a test of
 * signatures made at a known time); it moves on from there as before.
 */
void	clock_test_wall(uint32_t sec);

/*
 * Tests only.  Move virtual time ms forward, firing every timer that
 * falls due on the way in deadline order (equal deadlines in the order
 * they were armed), with clock_ms() at each one's deadline while it
 * runs.  A timer that a callback arms or deletes counts as well: one due
 * within the step fires in the same step.  Returns how many fired.
 */
size_t	clock_step(uint64_t ms);

/*
 * Tests only.  The machine sleeps for ms: clock_boot_ms() moves, clock_ms()
 * does not and nothing fires, as on Linux, until clock_resumed() sees it.
 * On real time too (before clock_test_begin()), as an offset to
 * CLOCK_BOOTTIME, so the libevent path of a resume can be tested.
 */
void	clock_test_sleep(uint64_t ms);

#endif
