/*
 * Fuzz dnsmsg's names and codes as text: the input as a name in text
 * form (parsed, printed back in both forms, parsed again, and built
 * into a padded query), as a type or class name, and as a name in wire
 * form printed into a large and a small buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL	7	/* cuts most names, escapes included */

/* Text of the wire name into a big and a small buffer: they agree. */
static int
to_text(const uint8_t *wire, size_t n, int flags, char *text, size_t size)
{
	char small[SMALL];
	int r;

	r = dnsmsg_name_to_text(wire, n, text, size, flags);
	if (strlen(text) >= size || (r == 0 && text[0] == '\0'))
		abort();
	(void)dnsmsg_name_to_text(wire, n, small, sizeof(small), flags);
	if (strlen(small) >= sizeof(small) ||
	    strncmp(small, text, strlen(small)) != 0)
		abort();
	return r;
}

static void
fuzz_query(const uint8_t *wire, size_t n)
{
	struct dns_query_info qi;
	uint8_t q[DNS_HDR_LEN + DNS_MAX_NAME + 4 + DNS_OPT_LEN + 4 + 128];
	size_t len;

	len = dnsmsg_make_query(q, sizeof(q), wire, n, 1, DNS_CLASS_IN,
	    DNS_FLAG_RD, 1232, 1, 128);
	if (len == 0 || len % 128 != 0 ||
	    dnsmsg_parse_query(q, len, &qi) != DNS_VERDICT_OK ||
	    qi.qname_len != n || memcmp(qi.qname, wire, n) != 0 ||
	    !qi.has_edns || !qi.edns_do)
		abort();
	/* One byte short never gives a cut message. */
	if (dnsmsg_make_query(q, len - 1, wire, n, 1, DNS_CLASS_IN,
	    DNS_FLAG_RD, 1232, 1, 128) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t wire[DNS_MAX_NAME], wire2[DNS_MAX_NAME], *copy;
	char *s, text[DNS_MAX_NAME_TEXT];
	size_t n, n2;
	uint16_t v;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	(void)dnsmsg_type_parse(s, &v);
	(void)dnsmsg_class_parse(s, &v);
	if ((n = dnsmsg_name_from_text(s, wire, sizeof(wire))) != 0) {
		if (n > sizeof(wire) || wire[n - 1] != 0)
			abort();
		/* Zone form parses back to the same name. */
		if (to_text(wire, n, DNSMSG_NAME_ZONE, text,
		    sizeof(text)) != 0)
			abort();
		n2 = dnsmsg_name_from_text(text, wire2, sizeof(wire2));
		if (n2 != n || memcmp(wire, wire2, n) != 0)
			abort();
		if (to_text(wire, n, 0, text, sizeof(text)) != 0)
			abort();
		fuzz_query(wire, n);
	}
	free(s);

	/* An exact-size heap copy, so ASan sees a read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	(void)to_text(copy, size, DNSMSG_NAME_ZONE, text, sizeof(text));
	(void)to_text(copy, size, 0, text, sizeof(text));
	free(copy);
	return 0;
}
