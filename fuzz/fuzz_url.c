/*
 * Fuzz the value parsers shared with dohq: upstream URLs, resolve pins and
 * addresses, each on a NUL-terminated copy of the input.  What parses must
 * hold up to its contract, and an address must survive config_addr_str.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_upstream u;
	struct config_resolve r;
	struct addr a, b;
	char err[CONFIG_ERRLEN], buf[CONFIG_ADDRSTRLEN], *s;
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

	if (config_parse_resolve(s, &r, err, sizeof(err)) == 0) {
		if (r.host == NULL || r.naddrs == 0 ||
		    r.naddrs > CONFIG_MAX_ADDRS || r.port == 0)
			abort();
		for (i = 0; i < r.naddrs; i++)
			config_addr_str(&r.addrs[i], buf, sizeof(buf));
		free(r.host);
	} else if (r.host != NULL)
		abort();

	if (config_parse_addr(s, 53, &a, err, sizeof(err)) == 0) {
		config_addr_str(&a, buf, sizeof(buf));
		if (config_parse_addr(buf, 1, &b, err, sizeof(err)) == -1 ||
		    a.len != b.len || memcmp(&a.ss, &b.ss, a.len) != 0) {
			fprintf(stderr, "\"%s\" -> \"%s\" does not read back\n",
			    s, buf);
			abort();
		}
	}
	free(s);
	return 0;
}
