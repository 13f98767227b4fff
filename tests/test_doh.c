/*
 * doh's pure parts.  The connection behaviour is tested against real
 * servers in tests/integration/.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "check.h"
#include "dohstub/clock.h"
#include "dohstub/doh.h"
#include "dohstub/log.h"
#include "dohstub/tls.h"

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
	/* A path with a query of its own (dohpath "/q?x=1{&dns}"). */
	CHECK_EQ(doh_get_path("/q?x=1", one, 1, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/q?x=1&dns=-w");
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

struct outcome {
	int			calls;
	enum doh_result		res;
};

static void
note_done(enum doh_result res, const struct doh_response *resp, void *arg)
{
	struct outcome *o = arg;

	(void)resp;
	o->calls++;
	o->res = res;
}

/* A test client on a new base, time at 1 s, the server's SETTINGS in. */
static struct doh_client *
settled_client(struct event_base **base, const struct doh_params *p)
{
	static const uint8_t settings[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	struct doh_client *c;

	clock_test_begin(1000);
	if ((*base = event_base_new()) == NULL ||
	    (c = doh_test_client(*base, p)) == NULL) {
		CHECK(!"doh_test_client");
		return NULL;
	}
	CHECK_EQ(doh_test_input(c, settings, sizeof(settings)), 0);
	return c;
}

/*
 * A request unanswered past the probe delay on a connection that has
 * heard nothing since it was sent makes a PING; with no answer within
 * the PING bound (at least 300 ms) the connection is dead and the
 * request fails at once, long before the 2 s timeout.  A PING ACK, or
 * any frame, keeps it alive; doh_suspect() PINGs an idle one.
 */
static void
test_dead_connection(void)
{
	static const uint8_t ping_ack[] = {	/* PING, ACK, 8 zero bytes */
		0, 0, 8, 6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct doh_params p = {
		.host = "doh.test", .port = 443, .path = "/dns-query",
		.timeout_ms = 2000,
	};
	struct event_base *base;
	struct doh_client *c;
	struct doh_stats st;
	struct outcome o = { 0, DOH_OK };

	if ((c = settled_client(&base, &p)) == NULL)
		return;

	/* Silence: PING at 10 ms, dead 300 ms later. */
	clock_step(1);
	CHECK(doh_submit(c, rfc8484_query, sizeof(rfc8484_query), note_done,
	    &o) != NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(doh_pending(c), 1);
	clock_step(309);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(o.calls, 0);
	clock_step(2);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(o.calls, 1);
	CHECK_EQ(o.res, DOH_ERR_TIMEOUT);
	doh_get_stats(c, &st);
	CHECK_EQ(st.dead, 1);
	CHECK_EQ(st.errors, 1);
	doh_free(c);
	event_base_free(base);

	/* The PING is answered: the request waits on, for its timeout. */
	o.calls = 0;
	if ((c = settled_client(&base, &p)) == NULL)
		return;
	clock_step(1);
	CHECK(doh_submit(c, rfc8484_query, sizeof(rfc8484_query), note_done,
	    &o) != NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	clock_step(50);
	CHECK_EQ(doh_test_input(c, ping_ack, sizeof(ping_ack)), 0);
	clock_step(600);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(o.calls, 0);
	CHECK_EQ(doh_pending(c), 1);
	doh_get_stats(c, &st);
	CHECK_EQ(st.dead, 0);
	CHECK(st.has_rtt);
	CHECK_EQ(st.rtt_ms, 40);	/* the PING went out at 10 ms */

	/* Suspected (a network change): a PING now; silence kills it. */
	doh_suspect(c);
	clock_step(299);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(o.calls, 0);
	clock_step(2);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(o.calls, 1);
	CHECK_EQ(o.res, DOH_ERR_TIMEOUT);
	doh_get_stats(c, &st);
	CHECK_EQ(st.dead, 1);
	/* Unanswered: the round trip may be longer now (a slower path). */
	CHECK_EQ(st.rtt_ms, 81);
	doh_free(c);
	event_base_free(base);
}

/*
 * A server's idle close (GOAWAY) of a healthy connection: reconnect at
 * once, unless no request came for 10 minutes; then the client goes
 * idle and waits for one.  (A test client has no address: "reconnect"
 * leaves it as it was, READY, where the quiet one goes IDLE.)
 */
static void
test_idle_close(void)
{
	static const uint8_t goaway[] = {	/* GOAWAY, last 0, NO_ERROR */
		0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct doh_params p = {
		.host = "doh.test", .port = 443, .path = "/dns-query",
		.timeout_ms = 2000,
	};
	/* The answer on stream 1: :status 200, content-type, 12 bytes. */
	static const uint8_t answer[] = {
		0, 0, 26, 1, 4, 0, 0, 0, 1, 0x88, 0x5f, 23,
		'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/',
		'd', 'n', 's', '-', 'm', 'e', 's', 's', 'a', 'g', 'e',
		0, 0, 12, 0, 1, 0, 0, 0, 1,
		0, 0, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct event_base *base;
	struct doh_client *c;
	struct outcome o = { 0, DOH_OK };
	/* quiet before the GOAWAY (ms), a request 5 min in, idle after */
	static const struct {
		uint64_t	quiet;
		int		ask;
		int		idle;
	} cases[] = {
		{ 60 * 1000, 0, 0 },
		{ 9 * 60 * 1000, 0, 0 },
		{ 11 * 60 * 1000, 0, 1 },
		{ 11 * 60 * 1000, 1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if ((c = settled_client(&base, &p)) == NULL)
			return;
		if (cases[i].ask) {
			clock_step(5 * 60 * 1000);
			CHECK(doh_submit(c, rfc8484_query,
			    sizeof(rfc8484_query), note_done, &o) != NULL);
			event_base_loop(base, EVLOOP_NONBLOCK);
			CHECK_EQ(doh_test_input(c, answer, sizeof(answer)),
			    0);
			CHECK_EQ(o.res, DOH_OK);
			CHECK_EQ(doh_pending(c), 0);
			clock_step(cases[i].quiet - 5 * 60 * 1000);
		} else
			clock_step(cases[i].quiet);
		(void)doh_test_input(c, goaway, sizeof(goaway));
		event_base_loop(base, EVLOOP_NONBLOCK);
		CHECK_EQ(doh_get_state(c), cases[i].idle ? DOH_IDLE :
		    DOH_READY);
		doh_free(c);
		event_base_free(base);
	}
}

/*
 * A server that reads and sends but never acks a PING: the PING left
 * out since before its last frame proves nothing, so a later silence
 * gets a PING of its own and its bound, and the connection is found
 * dead, not probed every millisecond until the timeout.
 */
static void
test_stale_ping(void)
{
	static const uint8_t settings[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	struct doh_params p = {
		.host = "doh.test", .port = 443, .path = "/dns-query",
		.timeout_ms = 2000,
	};
	struct event_base *base;
	struct doh_client *c;
	struct doh_stats st;
	struct outcome o1 = { 0, DOH_OK }, o2 = { 0, DOH_OK };

	if ((c = settled_client(&base, &p)) == NULL)
		return;
	clock_step(1);
	CHECK(doh_submit(c, rfc8484_query, sizeof(rfc8484_query), note_done,
	    &o1) != NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	clock_step(40);				/* PING at 10 ms */
	CHECK_EQ(doh_test_input(c, settings, sizeof(settings)), 0);
	clock_step(400);			/* heard: alive */
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(o1.calls, 0);
	CHECK(doh_submit(c, rfc8484_query, sizeof(rfc8484_query), note_done,
	    &o2) != NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(clock_step(309) < 20);		/* a new PING at 10 ms */
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(o2.calls, 0);
	clock_step(2);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(o2.calls, 1);
	CHECK_EQ(o2.res, DOH_ERR_TIMEOUT);
	doh_get_stats(c, &st);
	CHECK_EQ(st.dead, 1);
	doh_free(c);
	event_base_free(base);
}

static void
note_state(struct doh_client *c, enum doh_state old, enum doh_state new,
    void *arg)
{
	int *changes = arg;

	(void)c;
	(void)old;
	(void)new;
	(*changes)++;
}

/*
 * A connect() that is done at once (a Fast Open cookie defers it to the
 * first write; a local stream socket connects in the call) goes on to
 * TLS from the event loop, never inside doh_connect(): the set-up, the
 * early data and any failure with its state callbacks run there.  An
 * AF_UNIX listener makes connect() return 0 every time.
 */
static void
test_connect_deferred(void)
{
	struct doh_params p = {
		.host = "doh.test", .port = 443, .path = "/dns-query",
		.timeout_ms = 2000,
	};
	struct tls_opts o;
	char err[256];
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	socklen_t len = sizeof(*sun);
	struct event_base *base;
	struct doh_client *c;
	uint8_t buf[16];
	int lfd, afd, changes = 0, before;

	memset(&ss, 0, sizeof(ss));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "/tmp/test_doh.%ld",
	    (long)getpid());
	(void)unlink(sun->sun_path);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)sun, len) == -1 ||
	    listen(lfd, 4) == -1) {
		CHECK(!"unix listener");
		return;
	}
	clock_test_begin(1000);
	memset(&o, 0, sizeof(o));
	o.min_version = TLS1_3_VERSION;
	p.ssl_ctx = tls_ctx_new(&o, err, sizeof(err));
	base = event_base_new();
	c = doh_new(base, &p, note_state, &changes);
	CHECK(p.ssl_ctx != NULL && base != NULL && c != NULL);
	doh_set_addrs(c, &ss, &len, 1);
	before = changes;
	doh_connect(c);
	CHECK_EQ(doh_get_state(c), DOH_CONNECTING);
	CHECK_EQ(changes, before + 1);
	CHECK((afd = accept(lfd, NULL, NULL)) != -1);
	/* Nothing was written inside doh_connect(). */
	CHECK_EQ(recv(afd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	/* The loop starts TLS: the ClientHello, a handshake record. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(recv(afd, buf, sizeof(buf), MSG_DONTWAIT) > 0 && buf[0] == 22);
	CHECK_EQ(doh_get_state(c), DOH_CONNECTING);
	doh_free(c);
	event_base_free(base);
	SSL_CTX_free(p.ssl_ctx);
	close(afd);
	close(lfd);
	(void)unlink(sun->sun_path);
}

int
main(void)
{
	log_setlevel(LOG_LEVEL_ERROR);
	test_get_path();
	test_names();
	test_cancel_then_refused();
	test_dead_connection();
	test_stale_ping();
	test_idle_close();
	test_connect_deferred();
	return check_summary();
}
