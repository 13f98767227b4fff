/*
 * h2raw: HTTP/2 frames written by hand, for what nghttp2's server API
 * refuses to send (PUSH_PROMISE to a client that disabled push, endless
 * CONTINUATION).
 *
 * Header blocks use only indexed fields and literals without indexing, no
 * Huffman (RFC 7541 6.1, 6.2.2): neither touches the peer's dynamic
 * table, so the blocks nghttp2 encodes before and after stay valid.
 */
#include <stdio.h>
#include <string.h>

#include "faultsrv.h"

/* HPACK static table indices (RFC 7541 appendix A). */
#define HPACK_AUTHORITY		1
#define HPACK_METHOD_GET	2
#define HPACK_PATH		4
#define HPACK_SCHEME_HTTPS	7
#define HPACK_STATUS_200	8
#define HPACK_CONTENT_TYPE	31

#define FLOOD_NAME	"x-flood"

/* An HPACK integer with an n-bit prefix (RFC 7541 5.1). */
static size_t
hpack_int(uint8_t *out, size_t cap, uint8_t first, int n, size_t v)
{
	size_t max = (1u << n) - 1, len = 0;

	if (cap == 0)
		return 0;
	if (v < max) {
		out[0] = first | (uint8_t)v;
		return 1;
	}
	out[len++] = first | (uint8_t)max;
	v -= max;
	while (v >= 128) {
		if (len == cap)
			return 0;
		out[len++] = (v & 0x7f) | 0x80;
		v >>= 7;
	}
	if (len == cap)
		return 0;
	out[len++] = (uint8_t)v;
	return len;
}

/* A string literal without Huffman coding. */
static size_t
hpack_str(uint8_t *out, size_t cap, const char *s, size_t slen)
{
	size_t n;

	if ((n = hpack_int(out, cap, 0x00, 7, slen)) == 0 || cap - n < slen)
		return 0;
	memcpy(out + n, s, slen);
	return n + slen;
}

/*
 * A literal field without indexing: with the static table's name idx, or
 * with a new name when idx is 0.  Returns the length, 0 if cap is short.
 */
static size_t
hpack_literal(uint8_t *out, size_t cap, unsigned idx, const char *name,
    const char *value)
{
	size_t n, m;

	if ((n = hpack_int(out, cap, 0x00, 4, idx)) == 0)
		return 0;
	if (idx == 0) {
		if ((m = hpack_str(out + n, cap - n, name, strlen(name))) == 0)
			return 0;
		n += m;
	}
	if ((m = hpack_str(out + n, cap - n, value, strlen(value))) == 0)
		return 0;
	return n + m;
}

int
h2raw_frame(struct evbuffer *out, uint8_t type, uint8_t flags, uint32_t sid,
    const uint8_t *payload, size_t len)
{
	uint8_t hd[9];

	if (len > 0xffffff)
		return -1;
	hd[0] = (len >> 16) & 0xff;
	hd[1] = (len >> 8) & 0xff;
	hd[2] = len & 0xff;
	hd[3] = type;
	hd[4] = flags;
	sid &= 0x7fffffff;
	hd[5] = sid >> 24;
	hd[6] = (sid >> 16) & 0xff;
	hd[7] = (sid >> 8) & 0xff;
	hd[8] = sid & 0xff;
	if (evbuffer_add(out, hd, sizeof(hd)) == -1)
		return -1;
	if (len > 0 && evbuffer_add(out, payload, len) == -1)
		return -1;
	return 0;
}

int
h2raw_push_promise(struct evbuffer *out, uint32_t sid, uint32_t promised,
    const char *authority, const char *path)
{
	uint8_t p[1024];
	size_t n = 4, m;

	promised &= 0x7fffffff;
	p[0] = promised >> 24;
	p[1] = (promised >> 16) & 0xff;
	p[2] = (promised >> 8) & 0xff;
	p[3] = promised & 0xff;
	p[n++] = 0x80 | HPACK_METHOD_GET;
	p[n++] = 0x80 | HPACK_SCHEME_HTTPS;
	if ((m = hpack_literal(p + n, sizeof(p) - n, HPACK_AUTHORITY, NULL,
	    authority)) == 0)
		return -1;
	n += m;
	if ((m = hpack_literal(p + n, sizeof(p) - n, HPACK_PATH, NULL,
	    path)) == 0)
		return -1;
	n += m;
	return h2raw_frame(out, H2RAW_PUSH_PROMISE, H2RAW_END_HEADERS, sid, p,
	    n);
}

int
h2raw_continuation_flood(struct evbuffer *out, uint32_t sid, long count,
    const uint8_t *msg, size_t len)
{
	uint8_t p[128];
	char value[32];
	size_t n = 0, m;
	long i;

	p[n++] = 0x80 | HPACK_STATUS_200;
	if ((m = hpack_literal(p + n, sizeof(p) - n, HPACK_CONTENT_TYPE, NULL,
	    "application/dns-message")) == 0)
		return -1;
	n += m;
	if (h2raw_frame(out, H2RAW_HEADERS, 0, sid, p, n) == -1)
		return -1;
	for (i = 0; i < count; i++) {
		snprintf(value, sizeof(value), "%08ld", i);
		if ((n = hpack_literal(p, sizeof(p), 0, FLOOD_NAME,
		    value)) == 0)
			return -1;
		if (h2raw_frame(out, H2RAW_CONTINUATION, 0, sid, p, n) == -1)
			return -1;
	}
	/* A client that survives gets a complete, valid answer. */
	if (h2raw_frame(out, H2RAW_CONTINUATION, H2RAW_END_HEADERS, sid, NULL,
	    0) == -1)
		return -1;
	return h2raw_frame(out, H2RAW_DATA, H2RAW_END_STREAM, sid, msg, len);
}
