/*
 * The clock seam: virtual time and its timers (ordering, re-arming and
 * deleting from a callback, pending), the two clocks apart across a
 * sleep and the resume check, and real-time timers through libevent to
 * show the production path fires too.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "dohstub/clock.h"

#include "check.h"

static struct event_base *base;

/* What fired, in order, and when. */
#define LOG_MAX	32
static struct {
	int		 id[LOG_MAX];
	uint64_t	 at[LOG_MAX];
	size_t		 n;
} log_;

/* The i-th timer to fire was id, at time at. */
#define CHECK_FIRED(i, id_, at_) do {					\
	CHECK_EQ(log_.id[i], id_);					\
	CHECK_EQ(log_.at[i], at_);					\
} while (0)

struct tt {
	struct clock_timer	 t;
	int			 id;
	/* What the callback does besides logging. */
	struct clock_timer	*del;		/* delete this one */
	struct clock_timer	*arm;		/* arm this one ... */
	unsigned		 arm_ms;	/* ... this far ahead */
	int			 rearm;		/* times left to re-arm itself */
	unsigned		 rearm_ms;
	int			 pending_in_cb;	/* clock_timer_pending(self) */
};

static void
tt_cb(void *arg)
{
	struct tt *x = arg;

	if (log_.n < LOG_MAX) {
		log_.id[log_.n] = x->id;
		log_.at[log_.n] = clock_ms();
		log_.n++;
	}
	x->pending_in_cb = clock_timer_pending(&x->t);
	if (x->del != NULL)
		clock_timer_del(x->del);
	if (x->arm != NULL)
		clock_timer_add(x->arm, x->arm_ms);
	if (x->rearm > 0) {
		x->rearm--;
		clock_timer_add(&x->t, x->rearm_ms);
	}
}

static void
tt_init(struct tt *x, int id)
{
	memset(x, 0, sizeof(*x));
	x->id = id;
	clock_timer_init(&x->t, base, tt_cb, x);
}

/* The same on expiry time. */
static void
tt_init_boot(struct tt *x, int id)
{
	memset(x, 0, sizeof(*x));
	x->id = id;
	clock_timer_init_boot(&x->t, base, tt_cb, x);
}

static void
reset(uint64_t start)
{
	clock_test_begin(start);
	memset(&log_, 0, sizeof(log_));
}

static void
test_ordering(void)
{
	struct tt a, b, c, d;

	reset(1000);
	CHECK_EQ(clock_ms(), 1000);
	tt_init(&a, 1);
	tt_init(&b, 2);
	tt_init(&c, 3);
	tt_init(&d, 4);
	CHECK(!clock_timer_pending(&a.t));
	clock_timer_add(&a.t, 30);
	clock_timer_add(&b.t, 10);
	clock_timer_add(&c.t, 20);
	clock_timer_add(&d.t, 10);	/* same deadline as b, armed later */
	CHECK(clock_timer_pending(&a.t));

	/* Nothing is due a millisecond early; time stands still otherwise. */
	CHECK_EQ(clock_step(9), 0);
	CHECK_EQ(clock_ms(), 1009);
	CHECK_EQ(log_.n, 0);
	CHECK(clock_timer_pending(&b.t));

	/* One step over several deadlines fires them in order, each at
	 * its own time, and ends at the step's end. */
	CHECK_EQ(clock_step(16), 3);
	CHECK_EQ(clock_ms(), 1025);
	CHECK_EQ(log_.n, 3);
	CHECK_FIRED(0, 2, 1010);
	CHECK_FIRED(1, 4, 1010);
	CHECK_FIRED(2, 3, 1020);
	CHECK(!b.pending_in_cb);
	CHECK(!clock_timer_pending(&b.t));
	CHECK(clock_timer_pending(&a.t));

	/* Re-arming a pending timer moves it (it fires once, later). */
	clock_timer_add(&a.t, 100);	/* now due at 1125, not 1030 */
	CHECK_EQ(clock_step(99), 0);
	CHECK_EQ(clock_step(1), 1);
	CHECK_FIRED(3, 1, 1125);
	CHECK_EQ(clock_step(10000), 0);

	/* A zero delay fires on the next step, even a zero one. */
	clock_timer_add(&a.t, 0);
	CHECK_EQ(clock_step(0), 1);
	CHECK_EQ(log_.at[4], 11125);
}

static void
test_rearm_in_callback(void)
{
	struct tt a, b;

	reset(0);
	tt_init(&a, 1);
	tt_init(&b, 2);
	/* a re-arms itself twice at 5 ms, and arms b 3 ms on: every one
	 * of them due within the step fires in the same step. */
	a.rearm = 2;
	a.rearm_ms = 5;
	a.arm = &b.t;
	a.arm_ms = 3;
	clock_timer_add(&a.t, 5);
	CHECK_EQ(clock_step(12), 3);	/* a@5, b@8, a@10; b@13 not yet */
	CHECK_EQ(log_.n, 3);
	CHECK_FIRED(0, 1, 5);
	CHECK_FIRED(1, 2, 8);
	CHECK_FIRED(2, 1, 10);
	CHECK(a.pending_in_cb == 0);	/* it fired: no longer pending */
	CHECK(clock_timer_pending(&a.t));	/* re-armed for 15 */
	CHECK(clock_timer_pending(&b.t));	/* re-armed for 13 */
	CHECK_EQ(clock_step(3), 2);	/* b@13, a@15 (no more re-arms) */
	CHECK_FIRED(3, 2, 13);
	CHECK_FIRED(4, 1, 15);
	CHECK_EQ(clock_step(2), 0);	/* b, armed at 15 for 18 */
	CHECK_EQ(clock_step(1), 1);
	CHECK_EQ(log_.at[5], 18);
	CHECK_EQ(clock_step(1000), 0);
}

static void
test_delete_in_callback(void)
{
	struct tt a, b, c;

	reset(50);
	tt_init(&a, 1);
	tt_init(&b, 2);
	tt_init(&c, 3);
	a.del = &b.t;		/* a deletes b, due in the same step */
	c.del = &c.t;		/* c deletes itself: a no-op */
	clock_timer_add(&a.t, 1);
	clock_timer_add(&b.t, 2);
	clock_timer_add(&c.t, 3);
	CHECK_EQ(clock_step(10), 2);
	CHECK_EQ(log_.n, 2);
	CHECK_EQ(log_.id[0], 1);
	CHECK_EQ(log_.id[1], 3);
	CHECK(!clock_timer_pending(&b.t));
	CHECK(!clock_timer_pending(&c.t));

	/* Deleting what is not pending, twice, is harmless. */
	clock_timer_del(&b.t);
	clock_timer_del(&b.t);
	clock_timer_add(&b.t, 1);
	clock_timer_del(&b.t);
	CHECK(!clock_timer_pending(&b.t));
	CHECK_EQ(clock_step(100), 0);
}

static void
test_restart(void)
{
	struct tt a;

	reset(0);
	tt_init(&a, 1);
	clock_timer_add(&a.t, 10);
	reset(500);		/* forgets a */
	CHECK(!clock_timer_pending(&a.t));
	CHECK_EQ(clock_ms(), 500);
	CHECK_EQ(clock_step(1000), 0);
	CHECK_EQ(log_.n, 0);
}

#define HOUR_MS	(3600ull * 1000)

/*
 * A night's sleep: live time stands still and nothing fires until the
 * resume check sees it; then the expiry timers whose time passed fire at
 * once, the others keep what is left, and the live ones keep their live
 * time as if nothing happened.
 */
static void
test_sleep(void)
{
	struct tt live, soon, later, gone;

	reset(10000);
	CHECK_EQ(clock_boot_ms(), 10000);
	tt_init(&live, 1);		/* a query timeout */
	tt_init_boot(&soon, 2);		/* a TTL with 300 s left */
	tt_init_boot(&later, 3);	/* one with 10 h left */
	tt_init_boot(&gone, 4);		/* deleted before the sleep */
	clock_timer_add(&live.t, 5000);
	clock_timer_add(&soon.t, 300 * 1000);
	clock_timer_add(&later.t, 10 * HOUR_MS);
	clock_timer_add(&gone.t, 1000);
	clock_timer_del(&gone.t);
	CHECK_EQ(clock_step(1000), 0);
	CHECK_EQ(clock_resumed(), 0);	/* no sleep yet */

	clock_test_sleep(8 * HOUR_MS);
	CHECK_EQ(clock_ms(), 11000);
	CHECK_EQ(clock_boot_ms(), 11000 + 8 * HOUR_MS);
	CHECK_EQ(clock_step(0), 0);	/* unseen: nothing moves yet */

	/* Seen once, by one caller. */
	CHECK_EQ(clock_resumed(), 8 * HOUR_MS);
	CHECK_EQ(clock_resumed(), 0);
	CHECK_EQ(clock_step(0), 1);	/* the 300 s TTL, at once */
	CHECK_FIRED(0, 2, 11000);
	CHECK(!clock_timer_pending(&gone.t));
	CHECK(clock_timer_pending(&live.t));
	CHECK(clock_timer_pending(&later.t));

	/* The live timer: 4 s of its 5 left, in live time. */
	CHECK_EQ(clock_step(3999), 0);
	CHECK_EQ(clock_step(1), 1);
	CHECK_FIRED(1, 1, 15000);

	/* The 10 h one has 2 h left, less the 4 s since. */
	CHECK_EQ(clock_step(2 * HOUR_MS - 1000 - 4001), 0);
	CHECK_EQ(clock_step(1), 1);
	CHECK_FIRED(2, 3, 2 * HOUR_MS + 10000);
	CHECK_EQ(log_.n, 3);
	CHECK_EQ(clock_step(24 * HOUR_MS), 0);

	/* A timer armed after the sleep counts from then on. */
	clock_timer_add(&soon.t, 1000);
	CHECK_EQ(clock_resumed(), 0);
	CHECK_EQ(clock_step(999), 0);
	CHECK_EQ(clock_step(1), 1);
}

/*
 * Sleeps under a second are not a resume, nor do they move timers; they
 * add up until they reach one.  clock_test_begin() starts over.
 */
static void
test_short_sleeps(void)
{
	struct tt a;

	reset(0);
	tt_init_boot(&a, 1);
	clock_timer_add(&a.t, 2000);
	clock_test_sleep(CLOCK_RESUME_MIN_MS - 1);
	CHECK_EQ(clock_resumed(), 0);
	CHECK_EQ(clock_step(1000), 0);	/* not re-armed: due at 2000 */
	clock_test_sleep(1);
	CHECK_EQ(clock_resumed(), CLOCK_RESUME_MIN_MS);
	CHECK_EQ(clock_step(0), 1);	/* 1000 live + 1000 slept */
	CHECK_EQ(clock_resumed(), 0);

	clock_test_sleep(5000);
	clock_timer_add(&a.t, 2000);
	reset(0);			/* forgets the sleep and a */
	CHECK_EQ(clock_boot_ms(), 0);
	CHECK_EQ(clock_resumed(), 0);
	CHECK(!clock_timer_pending(&a.t));
	CHECK_EQ(clock_step(10000), 0);
}

/*
 * The wall clock: time(2) on real time; virtual from clock_test_begin(),
 * moving with steps and sleeps (expiry time), whole seconds only, and
 * set anywhere by clock_test_wall(), the 2106 wrap included.
 */
/* Run before clock_test_begin(). */
static void
test_wall(void)
{
	uint32_t before, w, after;

	before = (uint32_t)time(NULL);
	w = clock_wall();
	after = (uint32_t)time(NULL);
	CHECK(w >= before && w <= after);
	CHECK(w > CLOCK_TEST_WALL);	/* written after 2026 */
}

static void
test_wall_virtual(void)
{
	reset(123456);
	CHECK_EQ(clock_wall(), CLOCK_TEST_WALL);
	CHECK_EQ(clock_step(999), 0);
	CHECK_EQ(clock_wall(), CLOCK_TEST_WALL);
	clock_step(1);
	CHECK_EQ(clock_wall(), CLOCK_TEST_WALL + 1);
	clock_step(3600 * 1000);
	CHECK_EQ(clock_wall(), CLOCK_TEST_WALL + 3601);
	/* A sleep moves it, before any resume check sees the sleep. */
	clock_test_sleep(HOUR_MS);
	CHECK_EQ(clock_wall(), CLOCK_TEST_WALL + 7201);
	CHECK_EQ(clock_ms(), 123456 + 1000 + 3600 * 1000);

	clock_test_wall(1000000000);
	CHECK_EQ(clock_wall(), 1000000000);
	clock_step(1500);
	CHECK_EQ(clock_wall(), 1000000001);
	/* Seconds since 1970, the low 32 bits: past 2106 it wraps. */
	clock_test_wall(0xffffffffu);
	clock_step(1000);
	CHECK_EQ(clock_wall(), 0);
	clock_step(1000);
	CHECK_EQ(clock_wall(), 1);

	/* Starting over starts the wall clock over too. */
	reset(0);
	CHECK_EQ(clock_wall(), CLOCK_TEST_WALL);
}

/* Before clock_test_begin(): the libevent path, on real time. */
static void
test_real_time(void)
{
	struct tt a;
	uint64_t t0, t1;

	memset(&log_, 0, sizeof(log_));
	tt_init(&a, 7);
	t0 = clock_ms();
	clock_timer_add(&a.t, 20);
	CHECK(clock_timer_pending(&a.t));
	event_base_dispatch(base);	/* returns once no event is left */
	t1 = clock_ms();
	CHECK_EQ(log_.n, 1);
	CHECK_EQ(log_.id[0], 7);
	CHECK(t1 - t0 >= 19);
	CHECK(!clock_timer_pending(&a.t));
	CHECK(!a.pending_in_cb);

	clock_timer_add(&a.t, 10);
	clock_timer_del(&a.t);
	CHECK(!clock_timer_pending(&a.t));
	event_base_dispatch(base);
	CHECK_EQ(log_.n, 1);
}

/*
 * Real time: an expiry timer fires through libevent as well; the
 * machine's two clocks differ by its past sleep, which the first check
 * takes as the baseline and the test does not add to.
 */
static void
test_real_boot(void)
{
	struct tt a;
	uint64_t m, b;

	memset(&log_, 0, sizeof(log_));
	m = clock_ms();
	b = clock_boot_ms();
	CHECK(b >= m);
	CHECK_EQ(clock_resumed(), 0);	/* the baseline */
	tt_init_boot(&a, 8);
	clock_timer_add(&a.t, 20);
	CHECK(clock_timer_pending(&a.t));
	event_base_dispatch(base);
	CHECK_EQ(log_.n, 1);
	CHECK_EQ(log_.id[0], 8);
	CHECK(clock_boot_ms() - b >= 19);
	CHECK(!clock_timer_pending(&a.t));
	CHECK_EQ(clock_resumed(), 0);

	/* Deleted, it is forgotten by the resume check as well. */
	clock_timer_add(&a.t, 10);
	clock_timer_del(&a.t);
	event_base_dispatch(base);
	CHECK_EQ(log_.n, 1);
}

/*
 * Real time, a resume: libevent holds an expiry timer 60 s away and a
 * live one 300 ms away; a (pretended) 2 min sleep seen by the resume
 * check has the expiry timer fire at once, before the live one, which
 * keeps its time.
 */
static void
test_real_resume(void)
{
	struct tt a, b;
	uint64_t t0, t1;

	memset(&log_, 0, sizeof(log_));
	CHECK_EQ(clock_resumed(), 0);
	tt_init_boot(&a, 9);
	tt_init(&b, 10);
	clock_timer_add(&a.t, 60 * 1000);
	clock_timer_add(&b.t, 300);
	t0 = clock_ms();
	clock_test_sleep(120 * 1000);
	CHECK(clock_resumed() >= 120 * 1000);
	CHECK_EQ(clock_resumed(), 0);
	event_base_loop(base, EVLOOP_ONCE);
	t1 = clock_ms();
	CHECK_EQ(log_.n, 1);
	CHECK_EQ(log_.id[0], 9);
	CHECK(t1 - t0 < 250);
	CHECK(clock_timer_pending(&b.t));
	event_base_dispatch(base);
	CHECK_EQ(log_.n, 2);
	CHECK_EQ(log_.id[1], 10);
	/* libevent keeps time of its own (cached, possibly the coarse
	 * clock): the live timer keeps its time within a tick of ours. */
	CHECK(clock_ms() - t0 >= 300 - 10);
}

int
main(void)
{
	if ((base = event_base_new()) == NULL)
		return 1;
	test_real_time();
	test_real_boot();
	test_real_resume();
	test_wall();
	test_ordering();
	test_rearm_in_callback();
	test_delete_in_callback();
	test_restart();
	test_sleep();
	test_short_sleeps();
	test_wall_virtual();
	event_base_free(base);
	return check_summary();
}
