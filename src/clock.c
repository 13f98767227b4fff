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
static uint64_t clock_slept;		/* clock_test_sleep() */
/* The virtual wall clock in ms is this plus clock_boot_ms() (mod 2^64). */
static uint64_t clock_wall_base;

/* Pending expiry timers (real and virtual time), for clock_resumed(). */
static TAILQ_HEAD(clock_boot_head, clock_timer) clock_boot_timers =
    TAILQ_HEAD_INITIALIZER(clock_boot_timers);
/* clock_resumed(): the sleep seen so far, once there is a baseline. */
static uint64_t clock_slept_seen;
static int clock_slept_known;

static uint64_t
clock_read(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
clock_ms(void)
{
	if (clock_virtual)
		return clock_now;
	return clock_read(CLOCK_MONOTONIC);
}

uint64_t
clock_us(void)
{
	struct timespec ts;

	if (clock_virtual)
		return clock_now * 1000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
clock_boot_ms(void)
{
	if (clock_virtual)
		return clock_now + clock_slept;
	return clock_read(CLOCK_BOOTTIME) + clock_slept;
}

uint32_t
clock_wall(void)
{
	if (clock_virtual)
		return (uint32_t)((clock_wall_base + clock_boot_ms()) / 1000);
	return (uint32_t)time(NULL);
}

static void
clock_boot_unlink(struct clock_timer *t)
{
	if (t->bqueued) {
		TAILQ_REMOVE(&clock_boot_timers, t, bentry);
		t->bqueued = 0;
	}
}

static void
clock_event_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct clock_timer *t = arg;

	(void)fd;
	(void)ev;
	clock_boot_unlink(t);
	t->cb(t->arg);
}

void
clock_timer_init(struct clock_timer *t, struct event_base *base,
    clock_timer_cb *cb, void *arg)
{
	evtimer_assign(&t->ev, base, clock_event_cb, t);
	t->queued = 0;
	t->deadline = 0;
	t->bqueued = 0;
	t->boot_deadline = 0;
	t->boot = 0;
	t->cb = cb;
	t->arg = arg;
}

void
clock_timer_init_boot(struct clock_timer *t, struct event_base *base,
    clock_timer_cb *cb, void *arg)
{
	clock_timer_init(t, base, cb, arg);
	t->boot = 1;
}

void
clock_timer_add(struct clock_timer *t, unsigned ms)
{
	struct clock_timer *after;
	struct timeval tv;

	if (t->boot) {
		clock_boot_unlink(t);
		t->boot_deadline = clock_boot_ms() + ms;
		TAILQ_INSERT_TAIL(&clock_boot_timers, t, bentry);
		t->bqueued = 1;
	}
	if (!clock_virtual) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(&t->ev, &tv);	/* cannot fail on a timer */
		return;
	}
	if (t->queued) {		/* moved, not doubled */
		TAILQ_REMOVE(&clock_timers, t, entry);
		t->queued = 0;
	}
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
	clock_boot_unlink(t);
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
	while ((t = TAILQ_FIRST(&clock_boot_timers)) != NULL)
		clock_boot_unlink(t);
	clock_virtual = 1;
	clock_now = start_ms;
	clock_slept = 0;
	clock_slept_seen = 0;
	clock_slept_known = 1;
	clock_test_wall(CLOCK_TEST_WALL);
}

void
clock_test_wall(uint32_t sec)
{
	clock_wall_base = (uint64_t)sec * 1000 - clock_boot_ms();
}

void
clock_test_sleep(uint64_t ms)
{
	clock_slept += ms;
}

uint64_t
clock_resumed(void)
{
	struct clock_boot_head due = TAILQ_HEAD_INITIALIZER(due);
	struct clock_timer *t;
	uint64_t mono, boot, slept, grown, now;

	if (clock_virtual)
		slept = clock_slept;
	else {
		/* Live time first: the difference never comes out short. */
		mono = clock_read(CLOCK_MONOTONIC);
		boot = clock_read(CLOCK_BOOTTIME) + clock_slept;
		slept = boot > mono ? boot - mono : 0;
	}
	if (!clock_slept_known || slept < clock_slept_seen) {
		clock_slept_known = 1;
		clock_slept_seen = slept;
		return 0;
	}
	if ((grown = slept - clock_slept_seen) < CLOCK_RESUME_MIN_MS)
		return 0;
	clock_slept_seen = slept;

	/* Armed again from a list of their own: arming relinks them. */
	TAILQ_CONCAT(&due, &clock_boot_timers, bentry);
	now = clock_boot_ms();
	while ((t = TAILQ_FIRST(&due)) != NULL) {
		TAILQ_REMOVE(&due, t, bentry);
		t->bqueued = 0;
		clock_timer_add(t, t->boot_deadline > now ?
		    (unsigned)(t->boot_deadline - now) : 0);
	}
	return grown;
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
		clock_boot_unlink(t);
		clock_now = t->deadline;
		fired++;
		t->cb(t->arg);	/* may free t */
	}
	clock_now = end;
	return fired;
}
