/*
 * doh's pure parts.  The connection behaviour is tested against real
 * servers in tests/integration/.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

/* A unix stream listener at a fresh path; -1 on failure. */
static int
unix_listener(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	static int n;
	int fd;

	memset(ss, 0, sizeof(*ss));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "/tmp/test_doh.%ld.%d",
	    (long)getpid(), n++);
	*len = sizeof(*sun);
	(void)unlink(sun->sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)sun, *len) == -1 ||
	    listen(fd, 4) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The client's end of the connection to the listener at path. */
static int
client_end(const char *path)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	socklen_t len;
	int fd;

	for (fd = 3; fd < 256; fd++) {
		len = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
		    ss.ss_family == AF_UNIX && strcmp(sun->sun_path, path) == 0)
			return fd;
	}
	return -1;
}

static int
alpn_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h2[] = { 2, 'h', '2' };

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, h2,
	    sizeof(h2), in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/*
 * A TLS 1.3 server that takes early data, with a self-signed certificate
 * for doh.test written to ca_file for the client to trust.
 */
static SSL_CTX *
early_server(char *ca_file, size_t size)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *name;
	SSL_CTX *ctx;
	FILE *f;
	int fd;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"doh.test", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "DNS:doh.test");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, key, EVP_sha256());
	snprintf(ca_file, size, "/tmp/test_doh.XXXXXX");
	fd = mkstemp(ca_file);
	f = fdopen(fd, "w");
	PEM_write_X509(f, x);
	fclose(f);
	ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_use_certificate(ctx, x);
	SSL_CTX_use_PrivateKey(ctx, key);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_h2, NULL);
	SSL_CTX_set_max_early_data(ctx, 16384);
	SSL_CTX_set_options(ctx, SSL_OP_NO_ANTI_REPLAY);
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
}

/* Read and drop whatever fd has. */
static void
drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/*
 * A handshake on a resumed session with early data, whose Finished
 * cannot be written at once (the socket is full): the write event that
 * the handshake armed must survive a kick (a new query, a cancel), so
 * the handshake ends when the socket drains, not at the 2 s handshake
 * timeout.
 */
static void
test_early_handshake_kick(void)
{
	struct doh_params p = {
		.host = "doh.test", .port = 443, .path = "/dns-query",
		.timeout_ms = 2000,
	};
	struct tls_opts o;
	struct sockaddr_storage ss;
	socklen_t len;
	struct event_base *base;
	struct doh_client *c;
	SSL_CTX *sctx;
	SSL *sv;
	char ca_file[64], err[256], junk[4096];
	size_t n;
	int lfd, afd, cfd, i, r, called = 0;

	if ((lfd = unix_listener(&ss, &len)) == -1) {
		CHECK(!"unix listener");
		return;
	}
	clock_test_begin(1000);
	sctx = early_server(ca_file, sizeof(ca_file));
	memset(&o, 0, sizeof(o));
	o.ca_file = ca_file;
	o.min_version = TLS1_3_VERSION;
	o.early_data = 1;
	p.ssl_ctx = tls_ctx_new(&o, err, sizeof(err));
	base = event_base_new();
	c = doh_new(base, &p, NULL, NULL);
	CHECK(p.ssl_ctx != NULL && base != NULL && c != NULL);
	doh_set_addrs(c, &ss, &len, 1);

	/* A full handshake; the client keeps the server's tickets. */
	doh_connect(c);
	CHECK((afd = accept(lfd, NULL, NULL)) != -1);
	fcntl(afd, F_SETFL, O_NONBLOCK);
	sv = SSL_new(sctx);
	SSL_set_fd(sv, afd);
	SSL_set_accept_state(sv);
	for (i = 0, r = 0; i < 20 && r != 1; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		r = SSL_do_handshake(sv);
	}
	CHECK_EQ(r, 1);
	for (i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(doh_get_state(c), DOH_READY);
	/* Old enough to be reconnected at once when closed. */
	clock_step(5000);
	CHECK_EQ(doh_get_state(c), DOH_READY);
	SSL_free(sv);
	close(afd);
	for (i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(doh_get_state(c) != DOH_READY);

	/* Resumed: the ClientHello and HTTP/2 in early data. */
	for (i = 0; i < 40 && (afd = accept(lfd, NULL, NULL)) == -1; i++) {
		clock_step(100);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	CHECK(afd != -1);
	fcntl(afd, F_SETFL, O_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	sv = SSL_new(sctx);
	SSL_set_fd(sv, afd);
	SSL_set_accept_state(sv);
	/* The server takes the early data and sends its flight. */
	for (i = 0; i < 20; i++) {
		r = SSL_read_early_data(sv, junk, sizeof(junk), &n);
		if (r != SSL_READ_EARLY_DATA_SUCCESS)
			break;
	}
	CHECK_EQ(r, SSL_READ_EARLY_DATA_ERROR);
	CHECK_EQ(SSL_get_error(sv, r), SSL_ERROR_WANT_READ);
	CHECK_EQ(SSL_get_early_data_status(sv), SSL_EARLY_DATA_ACCEPTED);
	/* The client's socket full, so its Finished must wait. */
	CHECK((cfd = client_end(((struct sockaddr_un *)&ss)->sun_path)) !=
	    -1);
	memset(junk, 0, sizeof(junk));
	while (send(cfd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	while (send(cfd, junk, 1, MSG_DONTWAIT) > 0)
		;
	CHECK_EQ(errno, EAGAIN);
	event_base_loop(base, EVLOOP_NONBLOCK);	/* the server's flight */
	CHECK_EQ(doh_get_state(c), DOH_CONNECTING);
	/* A query comes: a kick while the handshake waits to write. */
	CHECK(doh_submit(c, rfc8484_query, sizeof(rfc8484_query), count_done,
	    &called) != NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(doh_get_state(c), DOH_CONNECTING);
	/* The socket drains: the handshake ends without waiting for time. */
	drain(afd);
	for (i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ(doh_get_state(c), DOH_READY);
	CHECK_EQ(called, 0);

	doh_free(c);
	CHECK_EQ(called, 1);
	SSL_free(sv);
	close(afd);
	event_base_free(base);
	SSL_CTX_free(p.ssl_ctx);
	SSL_CTX_free(sctx);
	close(lfd);
	(void)unlink(((struct sockaddr_un *)&ss)->sun_path);
	(void)unlink(ca_file);
	ERR_clear_error();
}

int
main(void)
{
	log_setlevel(getenv("TEST_DEBUG") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERROR);
	test_get_path();
	test_names();
	test_cancel_then_refused();
	test_dead_connection();
	test_stale_ping();
	test_idle_close();
	test_connect_deferred();
	test_early_handshake_kick();
	return check_summary();
}
