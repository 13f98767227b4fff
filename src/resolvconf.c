/*
 * resolvconf: "nameserver ADDR" lines, as the C library reads them; every
 * other line (search, options, comments) is passed over.
 */
#include <stddef.h>
#include <string.h>

#include "dohstub/addr.h"
#include "dohstub/resolvconf.h"

/* Not isspace(3): the locale must not change what a file means. */
static int
resolvconf_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

size_t
resolvconf_nameservers(const char *buf, size_t len, struct addr *out,
    size_t max, resolvconf_skip_fn *skip, const void *arg)
{
	static const char kw[] = "nameserver";
	struct addr a;
	const char *line, *end, *nl, *p, *tok;
	size_t n = 0, i;
	int dup;

	len = strnlen(buf, len);
	for (line = buf; line < buf + len; line = end + (nl != NULL)) {
		nl = memchr(line, '\n', (size_t)(buf + len - line));
		end = nl != NULL ? nl : buf + len;
		for (p = line; p < end && resolvconf_isspace(*p); p++)
			;
		if ((size_t)(end - p) <= sizeof(kw) - 1 ||
		    memcmp(p, kw, sizeof(kw) - 1) != 0 ||
		    !resolvconf_isspace(p[sizeof(kw) - 1]))
			continue;
		for (p += sizeof(kw) - 1; p < end && resolvconf_isspace(*p);
		    p++)
			;
		for (tok = p; p < end && !resolvconf_isspace(*p) &&
		    *p != '#' && *p != ';'; p++)
			;
		if (addr_parse_ip(tok, (size_t)(p - tok), 0, RESOLVCONF_PORT,
		    &a) == -1 || (skip != NULL && skip(&a, arg)))
			continue;
		for (dup = 0, i = 0; i < n; i++)
			dup |= addr_same_ip(&out[i], &a);
		if (!dup && n < max)
			out[n++] = a;
	}
	return n;
}
