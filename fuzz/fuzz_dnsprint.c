/*
 * Fuzz dnsprint: the input as a whole message in all three forms, into
 * a bounded buffer and into a counting sink; the input as one record's
 * rdata (the first two bytes its type); and the input as a name in
 * presentation form, parsed and printed back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	r = dnsprint_msg(&o, fmt, msg, len, NULL, NULL, 0);
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
	if (dnsprint_msg(&o, fmt, msg, len, NULL, NULL, 0) != r ||
	    dnsprint_out_len(&o) != need ||
	    strlen(small) != (need < SMALL ? need : SMALL - 1))
		abort();

	if (need < sizeof(big)) {
		dnsprint_out_buf(&o, big, sizeof(big));
		dnsprint_msg(&o, fmt, msg, len, NULL, NULL, 0);
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

static void
fuzz_name(const uint8_t *data, size_t size)
{
	uint8_t wire[255], wire2[255];
	char *s, text[DNSPRINT_NAMELEN];
	size_t n, n2;
	uint16_t v;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	(void)dnsprint_type_parse(s, &v);
	(void)dnsprint_class_parse(s, &v);
	if ((n = dnsprint_name_parse(s, wire, sizeof(wire))) != 0) {
		if (n > sizeof(wire) || wire[n - 1] != 0)
			abort();
		/* Printed and parsed again, the same name. */
		if (dnsprint_name_str(wire, n, text, sizeof(text)) != 0)
			abort();
		n2 = dnsprint_name_parse(text, wire2, sizeof(wire2));
		if (n2 != n || memcmp(wire, wire2, n) != 0)
			abort();
	}
	free(s);
	(void)dnsprint_name_str(data, size, text, sizeof(text));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsprint_out o;
	uint8_t *copy;
	size_t rdlen;
	int ok = 2;

	if ((copy = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	fuzz_msg(copy, size, DNSPRINT_TEXT, &ok);
	fuzz_msg(copy, size, DNSPRINT_SHORT, &ok);
	fuzz_msg(copy, size, DNSPRINT_JSON, &ok);
	if (size >= 2) {
		rdlen = size - 2 > 65535 ? 65535 : size - 2;
		dnsprint_out_buf(&o, big, sizeof(big));
		dnsprint_rdata(&o, copy, size, 2, (uint16_t)rdlen,
		    (uint16_t)(copy[0] << 8 | copy[1]));
		if (strlen(big) != dnsprint_out_len(&o))
			abort();
	}
	fuzz_name(copy, size);
	free(copy);
	return 0;
}
