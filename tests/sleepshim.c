/*
 * sleepshim: an LD_PRELOAD library for the integration tests, which need
 * clocks this machine cannot have.
 * - test_sleep.py needs a suspend: CLOCK_BOOTTIME is read through it
 *   with the milliseconds written in the file $SLEEPSHIM_FILE added, as
 *   if the machine had slept that long.  The file is read at every such
 *   call: the daemon reads that clock a few times per query, and this is
 *   a test.
 * - test_dnssec.py needs a wall clock behind, as a machine without a
 *   real-time clock has until NTP sets it: time(), gettimeofday() and
 *   CLOCK_REALTIME have $SLEEPSHIM_WALL seconds added (negative: behind),
 *   for the daemon and for OpenSSL alike.
 * The other clocks pass untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int clock_gettime_fn(clockid_t, struct timespec *);

int	clock_gettime(clockid_t, struct timespec *);
time_t	time(time_t *);
int	gettimeofday(struct timeval *restrict, void *restrict);

static clock_gettime_fn *
real_clock_gettime(void)
{
	static clock_gettime_fn *real;

	if (real == NULL &&
	    (real = (clock_gettime_fn *)dlsym(RTLD_NEXT, "clock_gettime")) ==
	    NULL)
		abort();
	return real;
}

/* $SLEEPSHIM_WALL, or 0. */
static long long
wall_offset(void)
{
	const char *s = getenv("SLEEPSHIM_WALL");

	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	const char *path;
	char buf[32];
	ssize_t n;
	long long ms;
	int fd, r;

	if ((r = real_clock_gettime()(id, ts)) != 0)
		return r;
	if (id == CLOCK_REALTIME) {
		ts->tv_sec += wall_offset();
		return r;
	}
	if (id != CLOCK_BOOTTIME ||
	    (path = getenv("SLEEPSHIM_FILE")) == NULL ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return r;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return r;
	buf[n] = '\0';
	if ((ms = strtoll(buf, NULL, 10)) <= 0)
		return r;
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
	return r;
}

time_t
time(time_t *t)
{
	struct timespec ts;
	time_t now;

	now = clock_gettime(CLOCK_REALTIME, &ts) == 0 ? ts.tv_sec :
	    (time_t)-1;
	if (t != NULL)
		*t = now;
	return now;
}

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	if (tz != NULL)		/* obsolete: UTC */
		memset(tz, 0, sizeof(struct timezone));
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}
