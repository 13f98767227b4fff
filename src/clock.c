#include <time.h>

#include "dohstub/clock.h"

static uint64_t clock_offset;

uint64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 +
	    clock_offset;
}

void
clock_advance(uint64_t delta_ms)
{
	clock_offset += delta_ms;
}
