/*
 * doh's pure parts.  The connection behaviour is tested against real
 * servers in tests/integration/.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "dohstub/doh.h"

/* RFC 8484 section 4.1.1: the www.example.com A query with ID 0. */
static const uint8_t rfc8484_query[] = {
	0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x03, 'w', 'w', 'w', 0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
	0x03, 'c', 'o', 'm', 0x00, 0x00, 0x01, 0x00, 0x01,
};

static void
test_get_path(void)
{
	char buf[256];
	uint8_t one[1] = { 0xfb }, two[2] = { 0xff, 0xef };

	CHECK_EQ(doh_get_path("/dns-query", rfc8484_query,
	    sizeof(rfc8484_query), buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/dns-query?dns="
	    "AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB");
	/* Padding is never written; '-' and '_' replace '+' and '/'. */
	CHECK_EQ(doh_get_path("/q", one, 1, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/q?dns=-w");
	CHECK_EQ(doh_get_path("/q", two, 2, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/q?dns=_-8");
	/* Exactly enough room, then one byte short. */
	CHECK_EQ(doh_get_path("/q", two, 2, buf, 11), 0);
	CHECK_EQ(doh_get_path("/q", two, 2, buf, 10), -1);
	CHECK_EQ(doh_get_path("/q", NULL, 0, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/q?dns=");
}

static void
test_names(void)
{
	CHECK_STR(doh_state_names[DOH_BACKOFF], "backoff");
	CHECK_STR(doh_result_names[DOH_RESULT_MAX - 1], "shutdown");
}

int
main(void)
{
	test_get_path();
	test_names();
	return check_summary();
}
