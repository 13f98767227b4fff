/*
 * Building DNS messages in the unit tests.  Overflow is a bug in the
 * test itself, so it aborts.
 */
#ifndef DOHSTUB_TESTS_WIRE_H
#define DOHSTUB_TESTS_WIRE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct msg {
	uint8_t	buf[8192];
	size_t	len;
};

static inline void
put8(struct msg *m, unsigned v)
{
	if (m->len >= sizeof(m->buf))
		abort();
	m->buf[m->len++] = v & 0xff;
}

static inline void
put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v);
}

static inline void
put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

static inline void
putbytes(struct msg *m, const void *p, size_t n)
{
	if (sizeof(m->buf) - m->len < n)
		abort();
	memcpy(m->buf + m->len, p, n);
	m->len += n;
}

/* A name in wire form, uncompressed, from "www.example" (no escapes). */
static inline void
put_dname(struct msg *m, const char *name)
{
	const char *dot;
	size_t n;

	while (*name != '\0') {
		dot = strchr(name, '.');
		n = dot != NULL ? (size_t)(dot - name) : strlen(name);
		put8(m, (unsigned)n);
		putbytes(m, name, n);
		name += n;
		if (*name == '.')
			name++;
	}
	put8(m, 0);
}

/* Big-endian fields in place, for the tests' own small DNS servers. */
static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void
wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v & 0xffff);
}

#endif
