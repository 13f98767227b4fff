/*
 * Fuzz dnsmsg_tcp_frame(): walk a stream buffer frame by frame and feed
 * each message to the query parser, as the TCP listener does.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dohstub/dnsmsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query_info qi;
	size_t off = 0, left, msglen, want;
	long n;

	while (off < size) {
		left = size - off;
		msglen = 0;
		n = dnsmsg_tcp_frame(data + off, left, &msglen);
		want = left >= 2 ? (size_t)data[off] << 8 | data[off + 1] : 0;
		if (n == -1) {
			if (left < 2 || want != 0)
				abort();
			break;
		}
		if (n == 0) {
			if (left >= 2 && (want == 0 || left - 2 >= want))
				abort();
			break;
		}
		if (n < 0 || (size_t)n > left || (size_t)n != want + 2 ||
		    msglen != want)
			abort();
		/* A frame one byte short needs more data. */
		if (dnsmsg_tcp_frame(data + off, (size_t)n - 1, &msglen) != 0)
			abort();
		(void)dnsmsg_parse_query(data + off + 2, (size_t)n - 2, &qi);
		off += (size_t)n;
	}
	if (off > size)
		abort();
	return 0;
}
