/*
 * clock: the one place the core reads time from, so tests can move it.
 */
#ifndef DOHSTUB_CLOCK_H
#define DOHSTUB_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds plus the test offset. */
uint64_t clock_ms(void);

/* Tests only: shift every later clock_ms() by delta_ms. */
void	clock_advance(uint64_t delta_ms);

#endif
