/*
 * Fuzz the value parsers shared with dohq: upstream URLs, upstreams (a URL
 * or an address server) and resolve pins, each on a NUL-terminated copy of
 * the input.  What parses must hold up to
 * its contract, and a pin's addresses must format (fuzz_addr does the
 * addresses themselves).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_upstream u;
	struct config_resolve r;
	char err[CONFIG_ERRLEN], buf[ADDR_STRLEN], *s;
	size_t i;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (config_parse_url(s, &u, err, sizeof(err)) == 0) {
		if (u.url == NULL || u.host == NULL || u.path == NULL ||
		    u.path[0] != '/' || u.port == 0 || u.host[0] == '\0')
			abort();
		config_upstream_free(&u);
	} else if (u.url != NULL || u.host != NULL || u.path != NULL)
		abort();

	/* A URL as above, or an address with a port and nothing else. */
	if (config_parse_upstream(s, &u, err, sizeof(err)) == 0) {
		if (u.url == NULL || strcmp(u.url, s) != 0)
			abort();
		if (u.is_addr && (u.host != NULL || u.path != NULL ||
		    u.addr.len == 0 || addr_port(&u.addr) == 0 ||
		    addr_is_wildcard(&u.addr) || u.npins != 0))
			abort();
		if (!u.is_addr && (u.host == NULL || u.path == NULL))
			abort();
		config_upstream_free(&u);
	} else if (u.url != NULL || u.host != NULL || u.path != NULL)
		abort();

	if (config_parse_resolve(s, &r, err, sizeof(err)) == 0) {
		if (r.host == NULL || r.naddrs == 0 ||
		    r.naddrs > ADDR_MAX_PER_NAME || r.port == 0)
			abort();
		for (i = 0; i < r.naddrs; i++)
			addr_str(&r.addrs[i], buf, sizeof(buf));
		free(r.host);
	} else if (r.host != NULL)
		abort();

	free(s);
	return 0;
}
