/*
 * Raw server bytes into dohstub's HTTP/2 client session: frames, HPACK,
 * flow control, GOAWAY and resets, and the DoH response checks (status,
 * content type, body size) behind them.  Byte 0 picks the read size and
 * the method; the rest is what "the server" sends after the handshake.
 */
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/doh.h"
#include "dohstub/log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* www.lab.test A, ID 0, RD. */
static const uint8_t query[] = {
	0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x03, 'w', 'w', 'w', 0x03, 'l', 'a', 'b', 0x04, 't', 'e', 's',
	't', 0x00, 0x00, 0x01, 0x00, 0x01,
};

static struct dns_query_info qi;

static void
done(enum doh_result res, const struct doh_response *resp, void *arg)
{
	int *pending = arg;

	if (res == DOH_OK) {
		/* What the proxy would do with it next. */
		if (resp->body == NULL || resp->len == 0 ||
		    resp->len > DOH_MAX_BODY || resp->status != 200)
			abort();
		(void)dnsmsg_check_answer(resp->body, resp->len, &qi);
	}
	(*pending)--;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_base *base;
	struct doh_params p = {
		.host = "doh.test", .port = 443, .path = "/dns-query",
		.timeout_ms = 2000,
	};
	struct doh_client *c;
	size_t chunk, off, n;
	int i, pending = 0;

	if (size < 1)
		return 0;
	if (base == NULL) {
		log_setlevel(LOG_LEVEL_ERROR);
		if ((base = event_base_new()) == NULL)
			abort();
		if (dnsmsg_parse_query(query, sizeof(query), &qi) !=
		    DNS_VERDICT_OK)
			abort();
	}
	p.use_get = data[0] & 1;
	chunk = (size_t)(data[0] >> 1) + 1;
	data++;
	size--;
	if ((c = doh_test_client(base, &p)) == NULL)
		return 0;
	for (i = 0; i < 3; i++)
		if (doh_submit(c, query, sizeof(query), done, &pending) != NULL)
			pending++;
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (off = 0; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		if (doh_test_input(c, data + off, n) == -1)
			break;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	doh_free(c);	/* fails what is left with DOH_ERR_SHUTDOWN */
	if (pending != 0)
		abort();	/* every callback exactly once */
	return 0;
}
