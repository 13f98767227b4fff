/*
 * Fuzz netwatch's parsers: byte 0 picks the buffer's kind (even: what
 * the rtnetlink socket reads, odd: what inotify reads) and the rest is
 * the buffer, at whatever alignment it lands.
 */
#include <linux/netlink.h>

#include <stdint.h>
#include <stdlib.h>

#include "dohstub/netwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct netwatch_file files[] = {
		{ 1, "resolv.conf" }, { 2, "stub-resolv.conf" }, { -1, "x" },
	};
	static struct netwatch_addrs known;
	int m;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		/* Every change counted is a whole message of its own. */
		known.n = 0;
		if (netwatch_netlink_changes(data + 1, size - 1, NULL) >
		    (size - 1) / NLMSG_HDRLEN ||
		    netwatch_netlink_changes(data + 1, size - 1, &known) >
		    (size - 1) / NLMSG_HDRLEN || known.n > NETWATCH_MAX_ADDRS)
			abort();
	} else {
		m = netwatch_inotify_match(data + 1, size - 1, files, 3);
		if (m != 0 && m != 1)
			abort();
	}
	return 0;
}
