/*
 * Fuzz dnsprint: the input as a whole message in all three forms, into
 * a bounded buffer and into a counting sink, and as JSON members in a
 * caller's object; each section's records alone; and the input as one
 * record's rdata (the first two bytes its type).  Names as text are
 * fuzz_name's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL	97	/* an odd size, to cut output anywhere */

static char big[1 << 20];

static void
fuzz_msg(const uint8_t *msg, size_t len, enum dnsprint_format fmt, int *ok)
{
	struct dnsprint_out o;
	char *small;
	size_t need;
	int r;

	/* Count only: the length of the whole output. */
	dnsprint_out_buf(&o, NULL, 0);
	r = dnsprint_msg(&o, fmt, msg, len, NULL, 0);
	need = dnsprint_out_len(&o);
	/* All forms agree on whether the message is malformed. */
	if (*ok == 2)
		*ok = r;
	else if (*ok != r)
		abort();

	/* An exact-size heap buffer, so ASan sees a write past it. */
	if ((small = malloc(SMALL)) == NULL)
		abort();
	dnsprint_out_buf(&o, small, SMALL);
	if (dnsprint_msg(&o, fmt, msg, len, NULL, 0) != r ||
	    dnsprint_out_len(&o) != need ||
	    strlen(small) != (need < SMALL ? need : SMALL - 1))
		abort();

	if (need < sizeof(big)) {
		dnsprint_out_buf(&o, big, sizeof(big));
		dnsprint_msg(&o, fmt, msg, len, NULL, 0);
		if (strlen(big) != need || strncmp(big, small, strlen(small)))
			abort();
		/* One JSON object a line, whatever came in. */
		if (fmt == DNSPRINT_JSON && (need < 3 || big[0] != '{' ||
		    strcmp(big + need - 2, "}\n") != 0 ||
		    strchr(big, '\n') != big + need - 1))
			abort();
	}
	free(small);
}

/* The members in our own braces are the JSON form, byte for byte. */
static void
fuzz_members(const uint8_t *msg, size_t len)
{
	static char whole[1 << 16], parts[1 << 16];
	struct dnsprint_out o;
	int first = 1, r;

	dnsprint_out_buf(&o, whole, sizeof(whole));
	r = dnsprint_msg(&o, DNSPRINT_JSON, msg, len, NULL, 0);
	dnsprint_out_buf(&o, parts, sizeof(parts));
	dnsprint_puts(&o, "{");
	if (dnsprint_json_members(&o, &first, msg, len, NULL, 0) != r ||
	    first != 0)
		abort();
	dnsprint_puts(&o, "}\n");
	if (strcmp(whole, parts) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsprint_out o;
	struct dnsmsg_rd r;
	uint8_t *copy;
	size_t rdlen;
	uint16_t type;
	int ok = 2, sec, n;

	if ((copy = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	fuzz_msg(copy, size, DNSPRINT_TEXT, &ok);
	fuzz_msg(copy, size, DNSPRINT_SHORT, &ok);
	fuzz_msg(copy, size, DNSPRINT_JSON, &ok);
	fuzz_members(copy, size);
	for (sec = DNS_SEC_ANSWER; sec < DNS_SEC_MAX; sec++) {
		dnsprint_out_buf(&o, big, sizeof(big));
		n = dnsprint_section(&o, copy, size, sec);
		if (strlen(big) != dnsprint_out_len(&o) ||
		    (n <= 0 && ok == 0 && big[0] != '\0'))
			abort();
	}
	dnsmsg_rd_init(&r, copy, size);
	if (dnsmsg_rd_u16(&r, &type) == 0) {
		rdlen = size - 2 > 65535 ? 65535 : size - 2;
		dnsprint_out_buf(&o, big, sizeof(big));
		dnsprint_rdata(&o, copy, size, 2, (uint16_t)rdlen, type);
		if (strlen(big) != dnsprint_out_len(&o))
			abort();
	}
	free(copy);
	return 0;
}
