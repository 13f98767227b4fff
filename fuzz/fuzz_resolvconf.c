/*
 * Fuzz the resolv.conf reader (resolvconf_nameservers) as config_finalize
 * drives it, leaving out loopback servers as it leaves out its own: never
 * more than the room, each server once, port 53, none left out kept, and
 * a smaller room gives the first servers of a larger one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/addr.h"
#include "dohstub/resolvconf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
skip_loopback(const struct addr *a, const void *arg)
{
	(void)arg;
	return addr_is_loopback(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr all[8], few[3];
	size_t n, m, i, j;

	n = resolvconf_nameservers((const char *)data, size, all, 8,
	    skip_loopback, NULL);
	m = resolvconf_nameservers((const char *)data, size, few, 3,
	    skip_loopback, NULL);
	if (n > 8 || m > 3 || m != (n < 3 ? n : 3))
		abort();
	for (i = 0; i < n; i++) {
		if (addr_port(&all[i]) != RESOLVCONF_PORT ||
		    addr_is_loopback(&all[i]))
			abort();
		for (j = 0; j < i; j++)
			if (addr_same_ip(&all[i], &all[j]))
				abort();
		if (i < m && !addr_eq(&all[i], &few[i]))
			abort();
	}
	return 0;
}
