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
 */
#ifndef DOHSTUB_CLOCK_H
#define DOHSTUB_CLOCK_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

/* Milliseconds, monotonic (or virtual, see clock_test_begin()). */
uint64_t clock_ms(void);

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
	clock_timer_cb			*cb;
	void				*arg;
};

/*
 * Make t a timer on base that calls cb(arg).  Not pending.  t must stay
 * where it is (and be deleted) until it is pending no more.
 */
void	clock_timer_init(struct clock_timer *t, struct event_base *base,
	    clock_timer_cb *cb, void *arg);

/* (Re)arm t to fire ms from now; a pending t is moved, not doubled. */
void	clock_timer_add(struct clock_timer *t, unsigned ms);

/* Disarm t; a no-op if it is not pending.  Safe from any callback. */
void	clock_timer_del(struct clock_timer *t);

/* 1 if t is armed and has not fired yet. */
int	clock_timer_pending(const struct clock_timer *t);

/*
 * Tests only.  From now on time is virtual and starts at start_ms;
 * timers armed from now on wait for clock_step().  Call it before any
 * timer is armed; calling it again restarts time and forgets every
 * pending virtual timer.
 */
void	clock_test_begin(uint64_t start_ms);

/*
 * Tests only.  Move virtual time ms forward, firing every timer that
 * falls due on the way in deadline order (equal deadlines in the order
 * they were armed), with clock_ms() at each one's deadline while it
 * runs.  A timer that a callback arms or deletes counts as well: one due
 * within the step fires in the same step.  Returns how many fired.
 */
size_t	clock_step(uint64_t ms);

#endif
