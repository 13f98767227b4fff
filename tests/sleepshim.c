/*
 * sleepshim: an LD_PRELOAD library for tests/integration/test_sleep.py,
 * which needs a suspend this machine cannot do.  CLOCK_BOOTTIME is read
 * through it with the milliseconds written in the file $SLEEPSHIM_FILE
 * added, as if the machine had slept that long; CLOCK_MONOTONIC and the
 * others pass untouched.  The file is read at every such call: the
 * daemon reads that clock a few times per query, and this is a test.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int clock_gettime_fn(clockid_t, struct timespec *);

int	clock_gettime(clockid_t, struct timespec *);

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static clock_gettime_fn *real;
	const char *path;
	char buf[32];
	ssize_t n;
	long long ms;
	int fd, r;

	if (real == NULL &&
	    (real = (clock_gettime_fn *)dlsym(RTLD_NEXT, "clock_gettime")) ==
	    NULL)
		abort();
	if ((r = real(id, ts)) != 0 || id != CLOCK_BOOTTIME ||
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
