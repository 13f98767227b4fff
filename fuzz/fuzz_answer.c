/*
 * Fuzz dnsmsg_check_answer() and dnsmsg_truncate() on an upstream answer.
 * Input: one byte n, n bytes of query, then the answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_truncate(const uint8_t *ans, size_t len, size_t limit, int usable,
    const struct dns_query_info *qi)
{
	uint8_t *copy;
	size_t n;

	/* An exact-size heap copy, so ASan sees writes past len. */
	if ((copy = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(copy, ans, len);
	n = dnsmsg_truncate(copy, len, limit, qi);
	if (n > len || n > limit)
		abort();
	if (len <= limit) {
		if (n != len || memcmp(copy, ans, len) != 0)
			abort();
	} else if (n != 0) {
		if (n < DNS_HDR_LEN || (copy[2] & 0x02) == 0 ||
		    memcmp(copy, ans, 2) != 0 ||
		    copy[6] != 0 || copy[7] != 0 ||
		    copy[8] != 0 || copy[9] != 0 ||
		    copy[11] != (qi->has_edns != 0) ||
		    memcmp(copy + n, ans + n, len - n) != 0)
			abort();
		if (usable && dnsmsg_check_answer(copy, n, qi) != 0)
			abort();
	} else if (usable && limit >= DNS_UDP_PLAIN_MAX) {
		/* A usable answer always cuts to fit 512. */
		abort();
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query_info qi;
	uint8_t *ans;
	size_t qlen, alen;
	int usable;

	if (size < 1)
		return 0;
	qlen = data[0];
	if (size - 1 < qlen)
		return 0;
	(void)dnsmsg_parse_query(data + 1, qlen, &qi);
	alen = size - 1 - qlen;
	if ((ans = malloc(alen ? alen : 1)) == NULL)
		abort();
	memcpy(ans, data + 1 + qlen, alen);

	usable = dnsmsg_check_answer(ans, alen, &qi) == 0;
	if (usable && (alen < DNS_HDR_LEN || qi.qname_len == 0))
		abort();
	if (alen >= DNS_HDR_LEN)
		(void)dnsmsg_rcode(ans);

	fuzz_truncate(ans, alen, 0, usable, &qi);
	fuzz_truncate(ans, alen, DNS_HDR_LEN, usable, &qi);
	fuzz_truncate(ans, alen, 100, usable, &qi);
	fuzz_truncate(ans, alen, DNS_UDP_PLAIN_MAX, usable, &qi);
	fuzz_truncate(ans, alen, dnsmsg_udp_limit(&qi, DNS_EDNS_DEFAULT_MAX),
	    usable, &qi);
	fuzz_truncate(ans, alen, alen / 2, usable, &qi);
	if (alen > 0)
		fuzz_truncate(ans, alen, alen - 1, usable, &qi);
	/* The portal lease's TTL cap: in place, never past alen; a usable
	 * answer stays usable. */
	if (dnsmsg_cap_ttl(ans, alen, 10) == 0 && usable &&
	    dnsmsg_check_answer(ans, alen, &qi) != 0)
		abort();
	free(ans);
	return 0;
}
