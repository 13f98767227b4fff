/*
 * Building DNS messages in the unit tests, through dnsmsg's own reader
 * and writer so that there is one copy of the byte-order code.  Overflow
 * is a bug in the test itself, so it aborts.
 */
#ifndef DOHSTUB_TESTS_WIRE_H
#define DOHSTUB_TESTS_WIRE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"

struct msg {
	uint8_t	buf[8192];
	size_t	len;
};

/* A writer over m from its current end; msg_end() takes its length. */
static inline struct dnsmsg_wr
msg_wr(struct msg *m)
{
	struct dnsmsg_wr w;

	if (m->len > sizeof(m->buf))
		abort();
	dnsmsg_wr_init(&w, m->buf + m->len, sizeof(m->buf) - m->len);
	return w;
}

static inline void
msg_end(struct msg *m, const struct dnsmsg_wr *w)
{
	if (w->err)
		abort();
	m->len += w->len;
}

static inline void
put8(struct msg *m, unsigned v)
{
	struct dnsmsg_wr w = msg_wr(m);

	dnsmsg_wr_u8(&w, v & 0xff);
	msg_end(m, &w);
}

static inline void
put16(struct msg *m, unsigned v)
{
	struct dnsmsg_wr w = msg_wr(m);

	dnsmsg_wr_u16(&w, v & 0xffff);
	msg_end(m, &w);
}

static inline void
put32(struct msg *m, uint32_t v)
{
	struct dnsmsg_wr w = msg_wr(m);

	dnsmsg_wr_u32(&w, v);
	msg_end(m, &w);
}

static inline void
putbytes(struct msg *m, const void *p, size_t n)
{
	struct dnsmsg_wr w = msg_wr(m);

	dnsmsg_wr_bytes(&w, p, n);
	msg_end(m, &w);
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

/* An OPT record (RFC 6891) without options: UDP size, DO bit. */
static inline void
put_opt(struct msg *m, unsigned size, int do_bit)
{
	put8(m, 0);
	put16(m, DNS_TYPE_OPT);
	put16(m, size);
	put32(m, do_bit ? DNS_EDNS_DO : 0);
	put16(m, 0);
}

/* Big-endian fields in place, for the tests' own small DNS servers. */
static inline uint16_t
rd16(const uint8_t *p)
{
	struct dnsmsg_rd r;
	uint16_t v;

	dnsmsg_rd_init(&r, p, 2);
	if (dnsmsg_rd_u16(&r, &v) == -1)
		abort();
	return v;
}

static inline void
wr16(uint8_t *p, uint16_t v)
{
	struct dnsmsg_wr w;

	dnsmsg_wr_init(&w, p, 2);
	dnsmsg_wr_u16(&w, v);
}

static inline void
wr32(uint8_t *p, uint32_t v)
{
	struct dnsmsg_wr w;

	dnsmsg_wr_init(&w, p, 4);
	dnsmsg_wr_u32(&w, v);
}

#endif
