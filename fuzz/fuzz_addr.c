/*
 * Fuzz the addr module: addresses with and without port, and prefixes,
 * on a NUL-terminated copy of the input (and addr_parse_ip on the raw,
 * unterminated bytes).  What parses must format, and the text must parse
 * back to the same address; a prefix must contain its own network, and a
 * text that is both an address and a prefix must match itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/addr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_addr(const char *s)
{
	struct addr a, b, keep;
	char err[256], buf[ADDR_STRLEN], ip[ADDR_STRLEN];

	memset(&keep, 0x5a, sizeof(keep));
	a = keep;
	if (addr_parse(s, 53, &a, err, sizeof(err)) == -1) {
		/* Untouched on failure, and a message. */
		if (memcmp(&a, &keep, sizeof(a)) != 0 || err[0] != '"')
			abort();
		return;
	}
	if (addr_port(&a) == 0 || a.len == 0)
		abort();
	addr_str(&a, buf, sizeof(buf));
	if (strlen(buf) >= ADDR_STRLEN - 1 ||
	    addr_parse(buf, 1, &b, err, sizeof(err)) == -1 ||
	    !addr_eq(&a, &b) || a.len != b.len ||
	    memcmp(&a.ss, &b.ss, a.len) != 0) {
		fprintf(stderr, "\"%s\" -> \"%s\" does not read back\n", s,
		    buf);
		abort();
	}
	addr_ip_str(&a, ip, sizeof(ip));
	if (addr_parse_ip(ip, strlen(ip), 0, addr_port(&a), &b) == -1 ||
	    !addr_eq(&a, &b))
		abort();
	if (addr_is_wildcard(&a) && addr_is_loopback(&a))
		abort();
}

static void
check_prefix(const char *s)
{
	struct addr_prefix p, q;
	struct addr a;
	char err[256], buf[ADDR_STRLEN + 8];

	if (addr_prefix_parse(s, &p, err, sizeof(err)) == -1) {
		if (err[0] != '"')
			abort();
		return;
	}
	if (p.bits > (p.addr.ss.ss_family == AF_INET ? 32u : 128u) ||
	    addr_port(&p.addr) != 0 || !addr_prefix_match(&p, &p.addr))
		abort();
	addr_prefix_str(&p, buf, sizeof(buf));
	if (addr_prefix_parse(buf, &q, err, sizeof(err)) == -1 ||
	    q.bits != p.bits || !addr_eq(&q.addr, &p.addr)) {
		fprintf(stderr, "\"%s\" -> \"%s\" does not read back\n", s,
		    buf);
		abort();
	}
	if (addr_parse(s, 53, &a, err, sizeof(err)) == 0 &&
	    !addr_prefix_match(&p, &a))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr a;
	char *s;

	/* Raw bytes: the length bounds every read. */
	addr_parse_ip((const char *)data, size, 1, 7, &a);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_addr(s);
	check_prefix(s);
	free(s);
	return 0;
}
