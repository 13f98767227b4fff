/*
 * doh's pure parts.  The connection behaviour is tested against real
 * servers in tests/integration/.
 */
#include <stdint.h>
#include <string.h>

#include <event2/event.h>

#include "check.h"
#include "dohstub/doh.h"
#include "dohstub/log.h"

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

static void
count_done(enum doh_result res, const struct doh_response *resp, void *arg)
{
	int *n = arg;

	(void)res;
	(void)resp;
	(*n)++;
}

/*
 * A request given up on (doh_cancel) whose stream the server then
 * refuses, as it does for streams past a GOAWAY, is not sent again on the
 * next connection for nobody: it is gone, not waiting.
 */
static void
test_cancel_then_refused(void)
{
	static const uint8_t settings[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	static const uint8_t refused[] = {	/* RST_STREAM 1 REFUSED_STREAM */
		0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 7,
	};
	struct doh_params p = {
		.host = "doh.test", .port = 443, .path = "/dns-query",
		.timeout_ms = 2000,
	};
	struct event_base *base;
	struct doh_client *c;
	struct doh_req *r;
	int called = 0;

	if ((base = event_base_new()) == NULL ||
	    (c = doh_test_client(base, &p)) == NULL) {
		CHECK(!"doh_test_client");
		return;
	}
	CHECK_EQ(doh_test_input(c, settings, sizeof(settings)), 0);
	r = doh_submit(c, rfc8484_query, sizeof(rfc8484_query), count_done,
	    &called);
	CHECK(r != NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);	/* the stream starts */
	CHECK_EQ(doh_pending(c), 1);
	doh_cancel(r);
	CHECK_EQ(doh_test_input(c, refused, sizeof(refused)), 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(doh_pending(c), 0);
	CHECK_EQ(called, 0);
	doh_free(c);
	CHECK_EQ(called, 0);
	event_base_free(base);
}

int
main(void)
{
	log_setlevel(LOG_LEVEL_ERROR);
	test_get_path();
	test_names();
	test_cancel_then_refused();
	return check_summary();
}
