#include <sys/queue.h>

#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "dohstub/clock.h"

/* Virtual time (clock_test_begin()): the clock and the timers waiting. */
static int clock_virtual;
static uint64_t clock_now;
static TAILQ_HEAD(clock_timer_head, clock_timer) clock_timers =
    TAILQ_HEAD_INITIALIZER(clock_timers);

uint64_t
clock_ms(void)
{
	struct timespec ts;

	if (clock_virtual)
		return clock_now;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
clock_event_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct clock_timer *t = arg;

	(void)fd;
	(void)ev;
	t->cb(t->arg);
}

void
clock_timer_init(struct clock_timer *t, struct event_base *base,
    clock_timer_cb *cb, void *arg)
{
	evtimer_assign(&t->ev, base, clock_event_cb, t);
	t->queued = 0;
	t->deadline = 0;
	t->cb = cb;
	t->arg = arg;
}

void
clock_timer_add(struct clock_timer *t, unsigned ms)
{
	struct clock_timer *after;
	struct timeval tv;

	if (!clock_virtual) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(&t->ev, &tv);	/* cannot fail on a timer */
		return;
	}
	clock_timer_del(t);
	t->deadline = clock_now + ms;
	/* After every timer due at or before it: ties fire in arming order. */
	TAILQ_FOREACH_REVERSE(after, &clock_timers, clock_timer_head, entry)
		if (after->deadline <= t->deadline)
			break;
	if (after != NULL)
		TAILQ_INSERT_AFTER(&clock_timers, after, t, entry);
	else
		TAILQ_INSERT_HEAD(&clock_timers, t, entry);
	t->queued = 1;
}

void
clock_timer_del(struct clock_timer *t)
{
	if (!clock_virtual) {
		evtimer_del(&t->ev);
		return;
	}
	if (t->queued) {
		TAILQ_REMOVE(&clock_timers, t, entry);
		t->queued = 0;
	}
}

int
clock_timer_pending(const struct clock_timer *t)
{
	if (!clock_virtual)
		return evtimer_pending(&t->ev, NULL) != 0;
	return t->queued;
}

void
clock_test_begin(uint64_t start_ms)
{
	struct clock_timer *t;

	while ((t = TAILQ_FIRST(&clock_timers)) != NULL) {
		TAILQ_REMOVE(&clock_timers, t, entry);
		t->queued = 0;
	}
	clock_virtual = 1;
	clock_now = start_ms;
}

size_t
clock_step(uint64_t ms)
{
	struct clock_timer *t;
	uint64_t end = clock_now + ms;
	size_t fired = 0;

	/* The head is read afresh each time: callbacks change the list. */
	while ((t = TAILQ_FIRST(&clock_timers)) != NULL &&
	    t->deadline <= end) {
		TAILQ_REMOVE(&clock_timers, t, entry);
		t->queued = 0;
		clock_now = t->deadline;
		fired++;
		t->cb(t->arg);	/* may free t */
	}
	clock_now = end;
	return fired;
}
