/*
 * doh: one DoH upstream as a long-lived HTTP/2 client (RFC 8484, 9113).
 *
 * A client owns at most one current session (one TLS connection) plus the
 * sessions it is done with: draining after GOAWAY, closing, or dead and
 * waiting to be freed outside any nghttp2 callback.  Requests wait on the
 * client until the current session can take another stream; every submit
 * only queues and activates the "kick" event, so all requests that arrive
 * in one pass of the event loop leave in one write.
 *
 * A session does its own TLS I/O on a non-blocking socket instead of going
 * through bufferevent_openssl: the read event stays armed for the life of
 * the connection and the write event is armed only while a write is
 * blocked, so a query costs one SSL_write (one write(2)) and its answer
 * one read(2) with read-ahead, and no epoll_ctl at all.  The session's
 * lifecycle is one enum, changed only by session_set_state(); a failed
 * TLS call is told by its kind (enum sess_fail), never by its text.
 *
 * A connection that resumes a session whose server takes early data
 * (RFC 8446 2.3) starts HTTP/2 before its handshake: the preface, the
 * SETTINGS and the requests that wait go out with the ClientHello, so the
 * first answer comes one round trip after the connect instead of two.
 * A DNS query changes nothing on the server, so it is safe to replay,
 * as RFC 8470 asks of what a client sends early.  A server that rejects
 * the early data has seen nothing: the HTTP/2 session is made again
 * after the handshake and the same requests go out in it.  The socket
 * asks for TCP Fast Open (TCP_FASTOPEN_CONNECT) too, so with a cookie
 * for the server the ClientHello rides in the SYN.
 *
 * Whether a connection is still there is liveness.c's to say, from the
 * times doh tells it (opened, read, written, request sent, answered,
 * PING sent and acked): the client keeps the answer and round-trip
 * estimates across sessions, each session its clocks.  doh acts on the
 * verdicts: it sends the PINGs, runs each session's two timers (the
 * tick, a few times a timeout; the probe, the probe delay then the PING
 * bound) and kills a connection found dead or silent.
 */
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "dohstub/clock.h"
#include "dohstub/doh.h"
#include "dohstub/liveness.h"
#include "dohstub/log.h"
#include "dohstub/tls.h"

#define DOH_CTYPE		"application/dns-message"
#define DOH_BODY_INITIAL	512
#define DOH_LOCAL_STREAMS	100	/* assumed until the server says */
/* A session that dies younger than this without one answer was a failure. */
#define DOH_MIN_HEALTHY_MS	1000
/* Stop taking nghttp2 output while this much waits for the socket. */
#define DOH_OUT_HIGH		(64 * 1024)
#define DOH_OUT_INITIAL		4096
/* How long a closing session may take to flush its goodbye. */
#define DOH_CLOSE_MS		500
/* Requests kept for reuse per client, and the message room they keep. */
#define DOH_REQ_POOL		256
#define DOH_REQ_ROOM		512
#define DOH_BODY_KEEP		4096	/* a pooled request keeps this much */
/*
 * A server that closes idle connections (GOAWAY or EOF after some
 * seconds) is reconnected at once so that the next query finds a warm
 * connection; after this long without a request it is left closed, so a
 * quiet host does not make a handshake every idle timeout for hours.
 */
#define DOH_WARM_MS		(10 * 60 * 1000)

const char *const doh_state_names[] = {
	"noaddr", "idle", "connecting", "ready", "backoff",
};

const char *const doh_result_names[] = {
	"ok", "connect", "tls", "http-status", "content-type", "body",
	"reset", "protocol", "timeout", "shutdown",
};

/*
 * One connection.  It only ever moves forward through these states, in
 * session_set_state(); DEAD is where the socket and the TLS object go.
 */
enum sess_state {
	SESS_TCP,	/* TCP connect under way */
	SESS_TLS,	/* TLS handshake under way */
	SESS_EARLY,	/* handshake under way on a resumed session, HTTP/2
			   already talking in early data */
	SESS_OPEN,	/* HTTP/2 up, taking streams */
	SESS_DRAINING,	/* GOAWAY (either way) or out of stream IDs: no new
			   streams, those open finish */
	SESS_CLOSING,	/* our GOAWAY and close_notify are being flushed */
	SESS_DEAD,	/* over; freed from the kick event */
};
static const char *const sess_state_names[] = {
	"tcp", "tls", "early", "open", "draining", "closing", "dead",
};

/* What a failed TLS call came to (session_tls_error()). */
enum sess_fail {
	SESS_FAIL_VERIFY,	/* the server's certificate did not verify */
	SESS_FAIL_TLS,		/* OpenSSL has a reason: an alert, a bad
				   record, a protocol version */
	SESS_FAIL_CLOSED,	/* the server closed (close_notify or EOF) */
	SESS_FAIL_SOCKET,	/* the socket failed: errno */
};
static const char *const sess_fail_names[] = {
	"verify", "tls", "closed", "socket",
};

struct doh_session;

struct doh_req {
	TAILQ_ENTRY(doh_req)	 entry;	/* client->waiting, s->streams or
					   client->pool */
	struct doh_client	*c;
	struct doh_session	*s;	/* NULL while waiting */
	int32_t			 stream_id;
	doh_done_cb		*cb;	/* NULL once cancelled */
	void			*arg;
	int			 retried;	/* once, after GOAWAY */
	int			 early;		/* sent in early data */
	int			 status;	/* :status */
	int			 ctype_ok;
	size_t			 hdrbytes;	/* of the response */
	char			*hdrtext;	/* with keep_headers */
	size_t			 hdrlen;
	uint64_t		 submit_ms, sent_ms, first_byte_ms;
	enum doh_result		 fail;	/* set while receiving */
	uint8_t			*body;
	size_t			 bodylen, bodycap;
	size_t			 sent;	/* POST body bytes given to nghttp2 */
	size_t			 len;
	size_t			 room;	/* of msg */
	uint8_t			 msg[];
};
TAILQ_HEAD(doh_req_list, doh_req);

struct doh_session {
	TAILQ_ENTRY(doh_session) entry;	/* client->old */
	struct doh_client	*c;
	enum sess_state		 state;
	nghttp2_session		*h2;
	int			 fd;	/* -1: none (doh_test_client) */
	SSL			*ssl;
	struct event		*rev;	/* armed from the handshake on */
	struct event		*wev;	/* armed while a write is blocked */
	int			 wev_on;
	int			 read_wants_write;	/* SSL_read said so */
	int			 tfo;	/* connect() deferred to the first
					   write: TCP Fast Open, SYN + data */
	int			 tcp_wait;	/* tfo: the server not yet
						   heard, TCP unconfirmed */
	size_t			 early_left;	/* early data bytes allowed;
						   0 once the handshake
						   goes on */
	size_t			 early_try;	/* an SSL_write_early_data to
						   retry with this length */
	struct clock_timer	 tick;
	unsigned		 tick_ms;	/* its period */
	uint8_t			*out;	/* TLS plaintext not yet written */
	size_t			 outlen, outcap;
	struct doh_req_list	 streams;
	size_t			 nstreams;
	unsigned		 answered;	/* responses received */
	uint64_t		 started_ms, tcp_ms, ready_ms, closing_ms;
	struct liveness_conn	 live;	/* from SESS_OPEN on */
	struct clock_timer	 probe;	/* probe delay, then PING bound */
};
TAILQ_HEAD(doh_session_list, doh_session);

struct doh_client {
	struct event_base	*base;
	char			*host, *path, *authority, *name;
	char			*verify_ip;	/* NULL: none */
	uint16_t		 port;
	int			 host_is_ip, use_get, keep_headers;
	int			 no_verify;
	SSL_CTX			*ctx;
	doh_state_cb		*state_cb;
	void			*arg;

	enum doh_state		 state;
	struct sockaddr_storage	 addrs[ADDR_MAX_PER_NAME];
	socklen_t		 lens[ADDR_MAX_PER_NAME];
	size_t			 naddrs;
	size_t			 addr_idx;	/* where the next attempt starts */
	size_t			 addr_tries;	/* left in this attempt */
	unsigned		 backoff_ms;
	int			 backoff_logged;
	unsigned		 early_goaways;	/* since the last answer */

	struct doh_session	*cur;
	struct doh_session_list	 old;	/* draining, closing or dead */
	struct doh_req_list	 waiting;
	size_t			 nwaiting;
	size_t			 ninflight;	/* on any session */
	struct doh_req_list	 pool;		/* free requests for reuse */
	size_t			 npool;
	struct event		*kick;
	struct clock_timer	 retry;
	struct tls_resume	 resume;
	doh_connected_cb	*connected_cb;
	void			*connected_arg;
	/* The timeout, keepalive and probe delay; answer and round-trip
	 * times, kept across sessions. */
	struct liveness_server	 live;
	struct doh_stats	 stats;
	uint64_t		 last_submit_ms;	/* or creation */
	char			 last_error[160];
};

/*
 * TLS records are decrypted here, one buffer for all sessions, and that
 * is safe: there is one thread; session_read() is entered only from the
 * event loop, never from a callback it runs; and the bytes are consumed
 * before SSL_read_ex() is called again, since nghttp2_session_mem_recv()
 * copies what it keeps (header blocks into its inflater, DATA through
 * h2_on_data() into the request's body).  A buffer per session would
 * cost 17 KB a connection, draining ones too, and buy nothing.
 */
static uint8_t	doh_rbuf[16384 + 512];

static void	client_set_state(struct doh_client *, enum doh_state);
static void	client_connect(struct doh_client *);
static void	session_kill(struct doh_session *, enum doh_result,
		    const char *);
static void	session_send(struct doh_session *);
static void	session_retire(struct doh_session *, enum doh_result);
static void	session_close(struct doh_session *);
static void	session_set_state(struct doh_session *, enum sess_state);
static void	session_read(struct doh_session *);

static void
kick(struct doh_client *c)
{
	event_active(c->kick, 0, 0);
}

/*
 * Requests come from a small per-client pool, so steady traffic does no
 * malloc: a pooled request keeps room for a usual query and its body
 * buffer.
 */
static struct doh_req *
req_get(struct doh_client *c, size_t len)
{
	struct doh_req *r;
	uint8_t *body;
	size_t bodycap, room;

	if (len <= DOH_REQ_ROOM && (r = TAILQ_FIRST(&c->pool)) != NULL) {
		TAILQ_REMOVE(&c->pool, r, entry);
		c->npool--;
		body = r->body;
		bodycap = r->bodycap;
		room = r->room;
		memset(r, 0, offsetof(struct doh_req, msg));
		r->body = body;
		r->bodycap = bodycap;
		r->room = room;
		return r;
	}
	room = len > DOH_REQ_ROOM ? len : DOH_REQ_ROOM;
	if ((r = calloc(1, sizeof(*r) + room)) == NULL)
		return NULL;
	r->room = room;
	return r;
}

static void
req_free(struct doh_req *r)
{
	struct doh_client *c = r->c;

	free(r->hdrtext);
	r->hdrtext = NULL;
	if (c != NULL && r->room == DOH_REQ_ROOM && c->npool < DOH_REQ_POOL) {
		if (r->bodycap > DOH_BODY_KEEP) {
			free(r->body);
			r->body = NULL;
			r->bodycap = 0;
		}
		TAILQ_INSERT_HEAD(&c->pool, r, entry);
		c->npool++;
		return;
	}
	free(r->body);
	free(r);
}

/* Detach r from wherever it is listed. */
static void
req_unlink(struct doh_req *r)
{
	struct doh_client *c = r->c;

	if (r->s != NULL) {
		TAILQ_REMOVE(&r->s->streams, r, entry);
		r->s->nstreams--;
		c->ninflight--;
		r->s = NULL;
	} else {
		TAILQ_REMOVE(&c->waiting, r, entry);
		c->nwaiting--;
	}
}

/* End r: unlink, call back (unless cancelled), free. */
static void
req_finish(struct doh_req *r, enum doh_result res)
{
	struct doh_response resp;

	req_unlink(r);
	if (r->cb != NULL) {
		if (res != DOH_OK && res != DOH_ERR_SHUTDOWN)
			r->c->stats.errors++;
		memset(&resp, 0, sizeof(resp));
		resp.status = r->status;
		if (res == DOH_OK) {
			resp.body = r->body;
			resp.len = r->bodylen;
		}
		resp.submit_ms = r->submit_ms;
		resp.sent_ms = r->sent_ms;
		resp.first_byte_ms = r->first_byte_ms;
		resp.headers = r->hdrtext;
		r->cb(res, &resp, r->arg);
	}
	req_free(r);
}

static void
fail_waiting(struct doh_client *c, enum doh_result res)
{
	struct doh_req *r;

	while ((r = TAILQ_FIRST(&c->waiting)) != NULL)
		req_finish(r, res);
}

static void
client_set_state(struct doh_client *c, enum doh_state st)
{
	enum doh_state old = c->state;

	if (old == st)
		return;
	c->state = st;
	log_debug("upstream %s: %s -> %s", c->name, doh_state_names[old],
	    doh_state_names[st]);
	if (c->state_cb != NULL)
		c->state_cb(c, old, st, c->arg);
}

/*
 * An attempt (every address tried) failed: back off, then try again,
 * waiting at most cap ms.
 */
static void
client_backoff_cap(struct doh_client *c, enum doh_result res,
    const char *why, unsigned cap)
{
	if (!c->backoff_logged)
		log_warnx("upstream %s: unreachable (%s); retrying in the "
		    "background", c->name, why);
	else
		log_debug("upstream %s: still unreachable (%s)", c->name, why);
	c->backoff_logged = 1;
	c->backoff_ms = c->backoff_ms == 0 ? DOH_BACKOFF_MIN_MS :
	    c->backoff_ms * 2;
	if (c->backoff_ms > cap)
		c->backoff_ms = cap;
	client_set_state(c, DOH_BACKOFF);
	fail_waiting(c, res);
	clock_timer_add(&c->retry, c->backoff_ms);
}

static void
client_backoff(struct doh_client *c, enum doh_result res, const char *why)
{
	client_backoff_cap(c, res, why, DOH_BACKOFF_MAX_MS);
}

static void
retry_cb(void *arg)
{
	struct doh_client *c = arg;

	if (c->state == DOH_BACKOFF && c->naddrs > 0) {
		c->addr_tries = c->naddrs;
		client_connect(c);
	}
}

/* --- nghttp2 callbacks: never free or kill a session from here. --- */

static ssize_t
h2_send_cb(nghttp2_session *h2, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	(void)h2;
	(void)data;
	(void)len;
	(void)flags;
	(void)arg;
	/* Unused: session_send() drives nghttp2_session_mem_send(). */
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static ssize_t
h2_read_body(nghttp2_session *h2, int32_t stream_id, uint8_t *buf,
    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
    void *arg)
{
	struct doh_req *r = source->ptr;
	size_t n;

	(void)h2;
	(void)stream_id;
	(void)arg;
	n = r->len - r->sent;
	if (n > length)
		n = length;
	memcpy(buf, r->msg + r->sent, n);
	r->sent += n;
	if (r->sent == r->len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* The server answers r: progress, so the liveness clock starts again. */
static void
req_first_byte(struct doh_req *r)
{
	struct doh_session *s = r->s;

	r->first_byte_ms = clock_ms();
	if (s != NULL)
		liveness_answered(&s->live, r->first_byte_ms,
		    s->nstreams > 1 || r->c->nwaiting > 0);
}

/* "name: value\n" for dohq -v; bounded by DOH_MAX_HEADER_BYTES above. */
static void
req_keep_header(struct doh_req *r, const uint8_t *name, size_t namelen,
    const uint8_t *value, size_t valuelen)
{
	size_t need = r->hdrlen + namelen + valuelen + 4;
	char *p;

	if ((p = realloc(r->hdrtext, need)) == NULL)
		return;
	r->hdrtext = p;
	memcpy(p + r->hdrlen, name, namelen);
	memcpy(p + r->hdrlen + namelen, ": ", 2);
	memcpy(p + r->hdrlen + namelen + 2, value, valuelen);
	r->hdrlen += namelen + valuelen + 3;
	p[r->hdrlen - 1] = '\n';
	p[r->hdrlen] = '\0';
}

static int
h2_on_header(nghttp2_session *h2, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *arg)
{
	struct doh_req *r;
	size_t i;
	int status = 0;

	(void)flags;
	(void)arg;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_RESPONSE)
		return 0;
	r = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
	if (r == NULL || r->fail != DOH_OK)
		return 0;
	if (r->first_byte_ms == 0)
		req_first_byte(r);
	r->hdrbytes += namelen + valuelen + 32;	/* RFC 9113 6.5.2 */
	if (r->hdrbytes > DOH_MAX_HEADER_BYTES) {
		r->fail = DOH_ERR_PROTOCOL;
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE,
		    frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	if (r->c->keep_headers)
		req_keep_header(r, name, namelen, value, valuelen);
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		/* nghttp2 has checked it is three digits. */
		for (i = 0; i < valuelen; i++)
			status = status * 10 + (value[i] - '0');
		r->status = status;
	} else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
		/* The media type, ignoring parameters (RFC 9110 8.3.1). */
		for (i = 0; i < valuelen && value[i] != ';' &&
		    value[i] != ' ' && value[i] != '\t'; i++)
			;
		r->ctype_ok = i == sizeof(DOH_CTYPE) - 1 &&
		    strncasecmp((const char *)value, DOH_CTYPE, i) == 0;
	}
	return 0;
}

static int
h2_on_data(nghttp2_session *h2, uint8_t flags, int32_t stream_id,
    const uint8_t *data, size_t len, void *arg)
{
	struct doh_req *r;
	size_t cap;
	uint8_t *p;

	(void)flags;
	(void)arg;
	r = nghttp2_session_get_stream_user_data(h2, stream_id);
	if (r == NULL || r->fail != DOH_OK)
		return 0;
	if (r->first_byte_ms == 0)
		req_first_byte(r);
	if (len > DOH_MAX_BODY - r->bodylen) {
		r->fail = DOH_ERR_BODY;
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, stream_id,
		    NGHTTP2_CANCEL);
		return 0;
	}
	if (r->bodylen + len > r->bodycap) {
		cap = r->bodycap ? r->bodycap : DOH_BODY_INITIAL;
		while (cap < r->bodylen + len)
			cap *= 2;
		if (cap > DOH_MAX_BODY)
			cap = DOH_MAX_BODY;
		if ((p = realloc(r->body, cap)) == NULL) {
			r->fail = DOH_ERR_BODY;
			nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE,
			    stream_id, NGHTTP2_INTERNAL_ERROR);
			return 0;
		}
		r->body = p;
		r->bodycap = cap;
	}
	memcpy(r->body + r->bodylen, data, len);
	r->bodylen += len;
	return 0;
}

static int
h2_on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *arg)
{
	struct doh_session *s = arg;

	(void)h2;
	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		if (s->state == SESS_OPEN)
			session_set_state(s, SESS_DRAINING);
		log_debug("upstream %s: GOAWAY, last stream %d, error %u",
		    s->c->name, frame->goaway.last_stream_id,
		    frame->goaway.error_code);
		break;
	case NGHTTP2_PING:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			(void)liveness_ping_acked(&s->live, &s->c->live,
			    clock_ms());
		break;
	}
	return 0;
}

static int
h2_on_stream_close(nghttp2_session *h2, int32_t stream_id,
    uint32_t error_code, void *arg)
{
	struct doh_session *s = arg;
	struct doh_client *c = s->c;
	struct doh_req *r;
	enum doh_result res;

	r = nghttp2_session_get_stream_user_data(h2, stream_id);
	if (r == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(h2, stream_id, NULL);
	if (r->fail != DOH_OK)
		res = r->fail;
	else if (((error_code == NGHTTP2_REFUSED_STREAM && r->status == 0) ||
	    (r->early && r->status == 425)) && !r->retried &&
	    r->cb != NULL && c->state != DOH_BACKOFF) {
		/* Not processed by the server (GOAWAY or refusal), or
		 * "425 Too Early" (RFC 8470 5.2): again, once, on the
		 * next session or this one, now that its handshake is
		 * done. */
		req_unlink(r);
		r->retried = 1;
		r->sent = 0;
		r->early = 0;
		r->status = 0;
		r->ctype_ok = 0;
		r->hdrbytes = 0;
		r->hdrlen = 0;
		if (r->hdrtext != NULL)
			r->hdrtext[0] = '\0';
		r->bodylen = 0;
		r->first_byte_ms = 0;
		TAILQ_INSERT_HEAD(&c->waiting, r, entry);
		c->nwaiting++;
		kick(c);
		return 0;
	} else if (error_code != NGHTTP2_NO_ERROR)
		res = DOH_ERR_RESET;
	else if (r->status != 200)
		res = DOH_ERR_HTTP;
	else if (!r->ctype_ok)
		res = DOH_ERR_CONTENT_TYPE;
	else if (r->bodylen == 0)
		res = DOH_ERR_BODY;
	else
		res = DOH_OK;
	if (res == DOH_OK) {
		s->answered++;
		c->stats.answers++;
		c->early_goaways = 0;
		c->backoff_ms = 0;	/* a handshake alone proves little */
		if (r->sent_ms != 0 && r->first_byte_ms >= r->sent_ms)
			liveness_answer_time(&c->live,
			    r->first_byte_ms - r->sent_ms);
	} else
		log_debug("upstream %s: stream %d failed: %s (status %d, "
		    "h2 error %u)", c->name, stream_id, doh_result_names[res],
		    r->status, error_code);
	req_finish(r, res);
	/* A stream slot is free for waiting requests, or a drained session
	 * can be freed. */
	if (c->nwaiting > 0 || s != c->cur)
		kick(c);
	return 0;
}

/* --- sessions --- */

/*
 * The one place a session changes state.  Entering DEAD releases the
 * connection: events, TLS object and socket; the session itself stays
 * until the kick event frees it, outside every callback that could still
 * hold it.
 */
static void
session_set_state(struct doh_session *s, enum sess_state st)
{
	if (s->state == st)
		return;
	log_debug("upstream %s: session %s -> %s", s->c->name,
	    sess_state_names[s->state], sess_state_names[st]);
	s->state = st;
	if (st != SESS_DEAD)
		return;
	if (s->rev != NULL)
		event_del(s->rev);
	if (s->wev != NULL)
		event_del(s->wev);
	s->wev_on = 0;
	clock_timer_del(&s->tick);
	clock_timer_del(&s->probe);
	if (s->ssl != NULL) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd != -1) {
		close(s->fd);
		s->fd = -1;
	}
	ERR_clear_error();
}

static int
session_is_live(const struct doh_session *s)
{
	return s->state >= SESS_OPEN && s->state <= SESS_CLOSING;
}

static void
session_free(struct doh_session *s)
{
	if (s == NULL)
		return;
	session_set_state(s, SESS_DEAD);
	if (s->h2 != NULL)
		nghttp2_session_del(s->h2);
	if (s->rev != NULL)
		event_free(s->rev);
	if (s->wev != NULL)
		event_free(s->wev);
	clock_timer_del(&s->tick);
	clock_timer_del(&s->probe);
	free(s->out);
	free(s);
}

static int
session_h2_init(struct doh_session *s)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, DOH_LOCAL_STREAMS },
	};
	int rv;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -1;
	nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
	    h2_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs,
	    h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
	    h2_on_stream_close);
	rv = nghttp2_session_client_new(&s->h2, cbs, s);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0)
		return -1;
	if (nghttp2_submit_settings(s->h2, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) != 0)
		return -1;
	return 0;
}

static void
session_want_write(struct doh_session *s, int on)
{
	if (on == s->wev_on || s->wev == NULL)
		return;
	if (on)
		event_add(s->wev, NULL);
	else
		event_del(s->wev);
	s->wev_on = on;
}

/*
 * Why the last TLS call (what, or "" for I/O) failed: its kind, and in
 * why the line for the log and last_error.
 */
static enum sess_fail
session_tls_error(struct doh_session *s, int rv, const char *what,
    char *why, size_t size)
{
	unsigned long e = ERR_peek_last_error();
	long vr;
	int err = SSL_get_error(s->ssl, rv), serr = errno;
	enum sess_fail kind;

	/* A server that refuses the ticket makes a full handshake, early
	 * data or not: its certificate is checked then. */
	if ((s->state == SESS_TLS || s->state == SESS_EARLY) &&
	    !s->c->no_verify &&
	    (vr = SSL_get_verify_result(s->ssl)) != X509_V_OK) {
		kind = SESS_FAIL_VERIFY;
		snprintf(why, size, "certificate verification failed: %s",
		    X509_verify_cert_error_string(vr));
	} else if (err == SSL_ERROR_SSL && e != 0 &&
	    ERR_reason_error_string(e) != NULL) {
		kind = SESS_FAIL_TLS;
		snprintf(why, size, "TLS: %s", ERR_reason_error_string(e));
	} else if (err == SSL_ERROR_ZERO_RETURN ||
	    (err == SSL_ERROR_SYSCALL && serr == 0) ||
	    (err == SSL_ERROR_SSL && e == 0)) {
		kind = SESS_FAIL_CLOSED;
		snprintf(why, size, "%s%sconnection closed by the server",
		    what, *what != '\0' ? ": " : "");
	} else {
		kind = SESS_FAIL_SOCKET;
		snprintf(why, size, "%s%s%s", what, *what != '\0' ? ": " : "",
		    strerror(serr));
	}
	log_debug("upstream %s: TLS %s failed (%s, SSL error %d)",
	    s->c->name, *what != '\0' ? what : "I/O", sess_fail_names[kind],
	    err);
	ERR_clear_error();
	return kind;
}

/* Out of the socket's way: the closing session is over. */
static void
session_closed(struct doh_session *s)
{
	if (s->ssl != NULL)
		(void)SSL_shutdown(s->ssl);	/* close_notify, best effort */
	session_set_state(s, SESS_DEAD);
	kick(s->c);
}

/*
 * Write what waits in s->out.  A blocked SSL_write is retried with the
 * same bytes (more may follow them: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 * Returns -1 if the session died.
 */
static int
session_flush(struct doh_session *s)
{
	char why[256];
	size_t n, len;
	int rv, wrote = 0;

	while (s->outlen > 0) {
		ERR_clear_error();
		errno = 0;
		if (s->state == SESS_EARLY) {
			/* As much as the session allows; the rest after the
			 * handshake.  A blocked write is retried as it was. */
			if (s->early_try == 0)
				s->early_try = s->outlen < s->early_left ?
				    s->outlen : s->early_left;
			if ((len = s->early_try) == 0)
				return 0;
			rv = SSL_write_early_data(s->ssl, s->out, len, &n);
			if (rv == 1) {
				s->early_try = 0;
				s->early_left -= n;
			}
		} else
			rv = SSL_write_ex(s->ssl, s->out, s->outlen, &n);
		if (rv == 1) {
			memmove(s->out, s->out + n, s->outlen - n);
			s->outlen -= n;
			wrote = 1;
			continue;
		}
		switch (SSL_get_error(s->ssl, rv)) {
		case SSL_ERROR_WANT_WRITE:
			session_want_write(s, 1);
			return 0;
		case SSL_ERROR_WANT_READ:
			/* The read event retries; a writable socket must
			 * not wake us meanwhile. */
			session_want_write(s, 0);
			return 0;
		default:
			(void)session_tls_error(s, rv, "", why, sizeof(why));
			session_kill(s, DOH_ERR_CONNECT, why);
			return -1;
		}
	}
	/* In SESS_EARLY past its early data the handshake owns the write
	 * event (it may want it): a kick must not take it away. */
	if (!s->read_wants_write &&
	    !(s->state == SESS_EARLY && s->early_left == 0))
		session_want_write(s, 0);
	if (wrote && s->state != SESS_EARLY)
		liveness_wrote(&s->live, clock_ms());
	return 0;
}

/*
 * Everything nghttp2 wants to send, gathered so that a request's HEADERS
 * and DATA (and every request of this pass of the loop) leave in one TLS
 * record and one TCP segment.
 */
static void
session_send(struct doh_session *s)
{
	const uint8_t *data;
	size_t cap;
	ssize_t n;
	int full;
	uint8_t *p;

	if (!session_is_live(s) && s->state != SESS_EARLY)
		return;
 more:
	for (full = 0;;) {
		if (s->outlen >= DOH_OUT_HIGH) {
			full = 1;
			break;
		}
		n = nghttp2_session_mem_send(s->h2, &data);
		if (n < 0) {
			session_kill(s, DOH_ERR_PROTOCOL, nghttp2_strerror(
			    (int)n));
			return;
		}
		if (n == 0)
			break;
		if (s->fd == -1)
			continue;	/* doh_test_client(): discarded */
		if (s->outlen + (size_t)n > s->outcap) {
			cap = s->outcap != 0 ? s->outcap : DOH_OUT_INITIAL;
			while (cap < s->outlen + (size_t)n)
				cap *= 2;
			if ((p = realloc(s->out, cap)) == NULL) {
				session_kill(s, DOH_ERR_CONNECT,
				    "out of memory");
				return;
			}
			s->out = p;
			s->outcap = cap;
		}
		memcpy(s->out + s->outlen, data, (size_t)n);
		s->outlen += (size_t)n;
	}
	if (s->fd != -1 && session_flush(s) == -1)
		return;
	/* All written: take what was left with nghttp2 past DOH_OUT_HIGH. */
	if (full && s->outlen == 0)
		goto more;
	/* The goodbye is out once nghttp2 has nothing more either. */
	if (s->state == SESS_CLOSING && s->outlen == 0)
		session_closed(s);
}

/* Bring waiting requests onto s, as far as the server allows. */
static void
session_start_streams(struct doh_session *s)
{
	struct doh_client *c = s->c;
	struct doh_req *r;
	nghttp2_data_provider prov;
	nghttp2_nv nv[7];
	char clen[8];
	char *getpath = NULL;
	size_t nnv, getcap;
	uint32_t maxstreams;
	int32_t id;
	unsigned delay;
	int sent = 0;

#define NV(n, v, fl) do {						\
	nv[nnv].name = (uint8_t *)(n);					\
	nv[nnv].namelen = strlen(n);					\
	nv[nnv].value = (uint8_t *)(v);					\
	nv[nnv].valuelen = strlen(v);					\
	nv[nnv].flags = (fl);						\
	nnv++;								\
} while (0)
#define NVS(n, v) NV(n, v, NGHTTP2_NV_FLAG_NO_COPY_NAME |		\
	    NGHTTP2_NV_FLAG_NO_COPY_VALUE)

	if (s->state == SESS_EARLY) {
		/* Until the server says, what nghttp2 assumes of it; early
		 * data only while it can still be written. */
		if (s->early_left == 0)
			return;
		maxstreams = DOH_LOCAL_STREAMS;
	} else if (s->state != SESS_OPEN)
		return;
	else
		maxstreams = nghttp2_session_get_remote_settings(s->h2,
		    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	while ((r = TAILQ_FIRST(&c->waiting)) != NULL &&
	    s->nstreams < maxstreams &&
	    (s->state == SESS_OPEN || s->state == SESS_EARLY)) {
		nnv = 0;
		NVS(":method", c->use_get ? "GET" : "POST");
		NVS(":scheme", "https");
		NV(":authority", c->authority, NGHTTP2_NV_FLAG_NO_COPY_NAME);
		if (c->use_get) {
			getcap = strlen(c->path) + 6 + (r->len * 4) / 3 + 4;
			if ((getpath = malloc(getcap)) == NULL ||
			    doh_get_path(c->path, r->msg, r->len, getpath,
			    getcap) == -1) {
				free(getpath);
				getpath = NULL;
				req_finish(r, DOH_ERR_PROTOCOL);
				continue;
			}
			NV(":path", getpath, NGHTTP2_NV_FLAG_NO_COPY_NAME);
		} else {
			NV(":path", c->path, NGHTTP2_NV_FLAG_NO_COPY_NAME);
			NVS("content-type", DOH_CTYPE);
			snprintf(clen, sizeof(clen), "%zu", r->len);
			NV("content-length", clen,
			    NGHTTP2_NV_FLAG_NO_COPY_NAME);
		}
		NVS("accept", DOH_CTYPE);
		prov.source.ptr = r;
		prov.read_callback = h2_read_body;
		id = nghttp2_submit_request(s->h2, NULL, nv, nnv,
		    c->use_get ? NULL : &prov, r);
		free(getpath);
		getpath = NULL;
		if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
			/* Out of stream IDs: this session drains. */
			session_set_state(s, SESS_DRAINING);
			break;
		}
		if (id < 0) {
			req_finish(r, DOH_ERR_PROTOCOL);
			continue;
		}
		TAILQ_REMOVE(&c->waiting, r, entry);
		c->nwaiting--;
		r->s = s;
		r->stream_id = id;
		r->sent_ms = clock_ms();
		r->early = s->state == SESS_EARLY;
		TAILQ_INSERT_TAIL(&s->streams, r, entry);
		s->nstreams++;
		c->ninflight++;
		/* Early: liveness starts with the session (session_open). */
		if (r->early)
			continue;
		liveness_waiting(&s->live, r->sent_ms);
		sent = 1;
	}
#undef NV
#undef NVS
	if (s->state == SESS_EARLY)
		return;
	if (sent && (delay = liveness_sent(&s->live, &c->live,
	    clock_ms())) != 0 && !clock_timer_pending(&s->probe))
		clock_timer_add(&s->probe, delay);
	/* Requests the server has no stream for wait on it all the same. */
	if (c->nwaiting > 0)
		liveness_waiting(&s->live, clock_ms());
	/* Out of stream IDs (above): the next requests need a new session. */
	if (s->state == SESS_DRAINING && s == c->cur)
		session_retire(s, DOH_OK);
}

/*
 * A healthy session ended: reconnect now, unless no request came for
 * DOH_WARM_MS.  Then the client goes idle and the next request connects.
 */
static void
client_rewarm(struct doh_client *c)
{
	if (c->nwaiting == 0 && c->ninflight == 0 &&
	    clock_ms() - c->last_submit_ms >= DOH_WARM_MS) {
		log_debug("upstream %s: closed after %llu s without a "
		    "request: not reconnecting until one comes", c->name,
		    (unsigned long long)((clock_ms() - c->last_submit_ms) /
		    1000));
		client_set_state(c, DOH_IDLE);
		return;
	}
	c->addr_tries = c->naddrs;
	client_connect(c);
}

/*
 * The session stops taking requests; the client moves on.  why is the
 * reason it ended, DOH_OK for a GOAWAY or running out of stream IDs.
 */
static void
session_retire(struct doh_session *s, enum doh_result why)
{
	struct doh_client *c = s->c;
	int healthy, was_open = s->ready_ms != 0;

	if (c->cur != s)
		return;
	c->cur = NULL;
	TAILQ_INSERT_TAIL(&c->old, s, entry);
	if (s->state == SESS_OPEN)
		session_set_state(s, SESS_DRAINING);
	/* One that stopped answering requests is backed off, however old. */
	healthy = was_open && why != DOH_ERR_TIMEOUT && (s->answered > 0 ||
	    clock_ms() - s->ready_ms >= DOH_MIN_HEALTHY_MS);
	/*
	 * A GOAWAY is a graceful goodbye, even on a young connection: once,
	 * reconnect at once so the refused requests are sent again.  A
	 * server that says it on every new connection gets backed off.
	 */
	if (!healthy && was_open && why == DOH_OK && c->early_goaways++ == 0)
		healthy = 1;
	if (healthy)
		/* It worked: reconnect at once to stay warm. */
		client_rewarm(c);
	else if (was_open)
		client_backoff(c, DOH_ERR_CONNECT, why == DOH_ERR_TIMEOUT ?
		    "server stopped answering" : "connection closed early");
}

/*
 * The requests s sent in early data were not taken (rejected, or the
 * handshake failed): back to the front of the queue, in order, as if
 * never sent.  Their HTTP/2 session is s's to drop.
 */
static void
session_unsend(struct doh_session *s)
{
	struct doh_client *c = s->c;
	struct doh_req *r;

	while ((r = TAILQ_LAST(&s->streams, doh_req_list)) != NULL) {
		if (s->h2 != NULL)
			nghttp2_session_set_stream_user_data(s->h2,
			    r->stream_id, NULL);
		req_unlink(r);
		if (r->cb == NULL) {	/* cancelled meanwhile */
			req_free(r);
			continue;
		}
		r->stream_id = -1;
		r->sent = 0;
		r->sent_ms = 0;
		r->early = 0;
		TAILQ_INSERT_HEAD(&c->waiting, r, entry);
		c->nwaiting++;
	}
	s->outlen = 0;
	s->early_left = 0;
	s->early_try = 0;
}

/*
 * The session is over: fail what it carried, release the connection and
 * leave the freeing to the kick event.  Never called from inside an
 * nghttp2 callback.
 */
static void
session_kill(struct doh_session *s, enum doh_result res, const char *why)
{
	struct doh_client *c = s->c;
	struct doh_req *r;
	int was_cur = c->cur == s, was_open = s->ready_ms != 0;
	int in_tcp = s->state == SESS_TCP || s->tcp_wait;
	unsigned rtt;

	if (s->state == SESS_DEAD)
		return;
	snprintf(c->last_error, sizeof(c->last_error), "%s", why);
	session_set_state(s, SESS_DEAD);
	if (was_cur && !was_open) {
		/* A failed attempt: the next address, or back off; what
		 * went as early data goes again, or fails with the rest. */
		session_unsend(s);
		c->cur = NULL;
		TAILQ_INSERT_TAIL(&c->old, s, entry);
		log_debug("upstream %s: connection failed: %s", c->name, why);
		if (c->addr_tries > 1) {
			c->addr_tries--;
			c->addr_idx = (c->addr_idx + 1) % c->naddrs;
			client_connect(c);
		} else if (in_tcp && res == DOH_ERR_TIMEOUT &&
		    liveness_rtt(&c->live, &rtt))
			/* A SYN unanswered on a path known to work: cheap
			 * to send again, and the path may be back any
			 * moment.  A refusal backs off as ever. */
			client_backoff_cap(c, res, why, DOH_BACKOFF_MIN_MS);
		else
			client_backoff(c, res, why);
	} else {
		if (s->nstreams > 0 || res != DOH_ERR_CONNECT)
			log_info("upstream %s: connection lost: %s", c->name,
			    why);
		while ((r = TAILQ_FIRST(&s->streams)) != NULL)
			req_finish(r, res);
		session_retire(s, res);
	}
	kick(c);
}

/*
 * Our goodbye, as RFC 9113 6.8 asks: GOAWAY (NO_ERROR), then TLS
 * close_notify, both through the session's own output.  The session is
 * freed once they are written, or after DOH_CLOSE_MS if the socket will
 * not take them.
 */
static void
session_close(struct doh_session *s)
{
	if (s->state != SESS_OPEN && s->state != SESS_DRAINING) {
		if (s->state != SESS_CLOSING)
			session_kill(s, DOH_ERR_SHUTDOWN, "closed");
		return;
	}
	if (nghttp2_session_terminate_session(s->h2, NGHTTP2_NO_ERROR) != 0) {
		session_kill(s, DOH_ERR_SHUTDOWN, "closed");
		return;
	}
	s->closing_ms = clock_ms();
	session_set_state(s, SESS_CLOSING);
	if (s->tick_ms > 0)
		clock_timer_add(&s->tick, DOH_CLOSE_MS);
	session_send(s);
}

/* Bytes from the server.  Returns -1 if the session died of them. */
static int
session_input(struct doh_session *s, const uint8_t *data, size_t len)
{
	ssize_t n;

	/* Heard: nothing to probe (a probe's PING keeps its bound). */
	if (liveness_heard(&s->live, clock_ms()))
		clock_timer_del(&s->probe);
	n = nghttp2_session_mem_recv(s->h2, data, len);
	if (n < 0) {
		session_kill(s, DOH_ERR_PROTOCOL, nghttp2_strerror((int)n));
		return -1;
	}
	return 0;
}

/* After input: follow GOAWAY, start what waits, send, end if done. */
static void
session_after_input(struct doh_session *s)
{
	if (!session_is_live(s))
		return;
	if (s->state == SESS_DRAINING)
		session_retire(s, DOH_OK);
	session_start_streams(s);
	session_send(s);
	if (session_is_live(s) && s->state != SESS_CLOSING &&
	    !nghttp2_session_want_read(s->h2) &&
	    !nghttp2_session_want_write(s->h2) && s->outlen == 0)
		session_kill(s, DOH_ERR_CONNECT, "session finished");
}

/* HTTP/2 is up: tell the client, start the streams that wait. */
static void
session_open(struct doh_session *s)
{
	struct doh_client *c = s->c;
	struct doh_conn_info info;
	struct doh_req *r;
	int early = s->state == SESS_EARLY, status;

	if (!tls_alpn_is_h2(s->ssl)) {
		session_kill(s, DOH_ERR_TLS, "server did not negotiate "
		    "HTTP/2 (ALPN h2)");
		return;
	}
	if (early && (status = SSL_get_early_data_status(s->ssl)) !=
	    SSL_EARLY_DATA_ACCEPTED) {
		/* The server saw none of it: start again, same requests. */
		if (status == SSL_EARLY_DATA_REJECTED)
			c->stats.early_rejected++;
		log_debug("upstream %s: early data %s: %zu requests sent "
		    "again", c->name, status == SSL_EARLY_DATA_REJECTED ?
		    "rejected" : "not sent", s->nstreams);
		session_unsend(s);
		nghttp2_session_del(s->h2);
		s->h2 = NULL;
		early = 0;
	} else if (early) {
		c->stats.early_accepted++;
		log_debug("upstream %s: early data accepted (%zu requests)",
		    c->name, s->nstreams);
	}
	s->early_left = 0;
	if (!early && session_h2_init(s) == -1) {
		session_kill(s, DOH_ERR_PROTOCOL, "nghttp2 set-up failed");
		return;
	}
	s->ready_ms = clock_ms();
	liveness_open(&s->live, s->ready_ms);
	session_set_state(s, SESS_OPEN);
	/* Requests out in early data wait from when they were sent. */
	if ((r = TAILQ_FIRST(&s->streams)) != NULL) {
		liveness_waiting(&s->live, r->sent_ms);
		clock_timer_add(&s->probe, liveness_sent(&s->live, &c->live,
		    r->sent_ms));
	}
	if (c->backoff_logged)
		log_info("upstream %s: reachable again", c->name);
	c->backoff_logged = 0;
	log_debug("upstream %s: connected (%s, %s%s)", c->name,
	    SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl),
	    SSL_session_reused(s->ssl) ? ", resumed" : "");
	if (c->connected_cb != NULL) {
		info.peer = (struct sockaddr *)&c->addrs[c->addr_idx];
		info.connect_ms = s->tcp_ms - s->started_ms;
		info.handshake_ms = s->ready_ms - s->tcp_ms;
		info.ssl = s->ssl;
		c->connected_cb(c, &info, c->connected_arg);
	}
	client_set_state(c, DOH_READY);
	session_start_streams(s);
	session_send(s);
}

static void
session_handshake(struct doh_session *s)
{
	char why[256];
	int rv;

	ERR_clear_error();
	errno = 0;
	/* From here on, no more early data (OpenSSL's rule too). */
	s->early_left = 0;
	if ((rv = SSL_do_handshake(s->ssl)) == 1) {
		session_want_write(s, 0);
		session_open(s);
		/* Records that came with the server's Finished (SETTINGS,
		 * say) sit in OpenSSL's buffer: epoll will not tell. */
		if (session_is_live(s) && SSL_has_pending(s->ssl))
			session_read(s);
		return;
	}
	switch (SSL_get_error(s->ssl, rv)) {
	case SSL_ERROR_WANT_READ:
		session_want_write(s, 0);
		return;
	case SSL_ERROR_WANT_WRITE:
		session_want_write(s, 1);
		return;
	}
	/* With Fast Open the connect itself fails here. */
	if (session_tls_error(s, rv, "TLS handshake", why, sizeof(why)) ==
	    SESS_FAIL_SOCKET && s->tcp_wait)
		session_kill(s, DOH_ERR_CONNECT, why);
	else
		session_kill(s, DOH_ERR_TLS, why);
}

/*
 * The ClientHello and HTTP/2 in early data: the preface, SETTINGS and
 * every request that waits.  The handshake goes on when the server's
 * first flight comes (session_read_cb).
 */
static void
session_early(struct doh_session *s, size_t budget)
{
	if (session_h2_init(s) == -1) {
		session_kill(s, DOH_ERR_PROTOCOL, "nghttp2 set-up failed");
		return;
	}
	s->early_left = budget;
	session_set_state(s, SESS_EARLY);
	session_start_streams(s);
	session_send(s);
}

/*
 * Read what the socket has.  With read-ahead one read(2) takes every
 * record that has arrived; records already buffered by OpenSSL are
 * decrypted without another call, and there is no read(2) just to learn
 * that nothing more is there.
 */
static void
session_read(struct doh_session *s)
{
	char why[256];
	size_t n;
	int rv;

	do {
		ERR_clear_error();
		errno = 0;
		rv = SSL_read_ex(s->ssl, doh_rbuf, sizeof(doh_rbuf), &n);
		if (rv == 1) {
			if (session_input(s, doh_rbuf, n) == -1)
				return;
			continue;
		}
		switch (SSL_get_error(s->ssl, rv)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_WANT_WRITE:
			s->read_wants_write = 1;
			session_want_write(s, 1);
			break;
		default:
			/* "connection lost: closed by the server" */
			if (session_tls_error(s, rv, "", why, sizeof(why)) ==
			    SESS_FAIL_CLOSED)
				snprintf(why, sizeof(why), "closed by the "
				    "server");
			session_kill(s, DOH_ERR_CONNECT, why);
			return;
		}
		break;
	} while (s->ssl != NULL && SSL_has_pending(s->ssl));
	session_after_input(s);
}

/*
 * A deferred connect (Fast Open) is confirmed by the server's first
 * byte, or (late, from the tick, not timed) by the kernel's word that the
 * SYN was answered.  Until then it is timed as a connect: a lost SYN is
 * given up after liveness_connect_limit(), as without Fast Open.  1 if
 * confirmed.
 */
static int
session_tcp_heard(struct doh_session *s, int timed)
{
	uint64_t now = clock_ms();
	int avail = 0;
#ifdef TCP_INFO
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
#endif

	if (!s->tcp_wait)
		return 1;
	if (ioctl(s->fd, FIONREAD, &avail) == -1 || avail <= 0) {
#ifdef TCP_INFO
		if (timed || getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &ti,
		    &len) == -1 || ti.tcpi_state != TCP_ESTABLISHED)
			return 0;
#else
		return 0;
#endif
		timed = 0;
	}
	s->tcp_wait = 0;
	s->tcp_ms = now;
	/* SYN to the first byte: a round trip and the server's first
	 * flight, an upper bound of the connect time. */
	if (timed)
		liveness_rtt_sample(&s->c->live, now - s->started_ms);
	return 1;
}

static void
session_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct doh_session *s = arg;

	(void)fd;
	(void)ev;
	if (s->tcp_wait)
		(void)session_tcp_heard(s, 1);
	if (s->state == SESS_EARLY && s->early_try != 0) {
		/* A blocked early write must end before the handshake
		 * goes on: the write event finishes it. */
		if (session_flush(s) == -1 || s->early_try != 0)
			return;
	}
	if (s->state == SESS_TLS || s->state == SESS_EARLY)
		session_handshake(s);
	else if (session_is_live(s))
		session_read(s);
}

/*
 * What DDR adds to tls_ssl_new()'s checks: an IP the certificate must
 * list too (OpenSSL then requires both the name and the IP), or none at
 * all for opportunistic discovery, on this connection only.
 */
static int
session_tls_verify(struct doh_session *s)
{
	struct doh_client *c = s->c;

	if (c->no_verify) {
		SSL_set_verify(s->ssl, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	/*
	 * A verify param holds one IP: for an IP-literal host this would
	 * replace the host's check, so fail closed (discovery never asks).
	 */
	if (c->verify_ip != NULL && c->host_is_ip &&
	    strcmp(c->host, c->verify_ip) != 0)
		return -1;
	if (c->verify_ip != NULL && !X509_VERIFY_PARAM_set1_ip_asc(
	    SSL_get0_param(s->ssl), c->verify_ip))
		return -1;
	return 0;
}

/* The TCP connect finished, well or not: on to TLS. */
static void
session_tcp_done(struct doh_session *s)
{
	struct doh_client *c = s->c;
	socklen_t len = sizeof(int);
	size_t budget;
	int err = 0;

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		session_kill(s, DOH_ERR_CONNECT, strerror(err));
		return;
	}
	s->tcp_ms = clock_ms();
	/* A deferred connect (Fast Open) is timed from here on, by
	 * session_tcp_heard(): its SYN leaves with the ClientHello. */
	if (s->tfo)
		s->tcp_wait = 1;
	else
		liveness_rtt_sample(&c->live, s->tcp_ms - s->started_ms);
	if ((s->ssl = tls_ssl_new(c->ctx, c->host, c->host_is_ip,
	    &c->resume)) == NULL || session_tls_verify(s) == -1) {
		session_kill(s, DOH_ERR_TLS, "cannot set up TLS");
		return;
	}
	/* Every check is in place: the saved session must pass them. */
	(void)tls_ssl_resume(s->ssl, &c->resume);
	if (SSL_set_fd(s->ssl, s->fd) != 1 ||
	    (s->rev = event_new(c->base, s->fd, EV_READ | EV_PERSIST,
	    session_read_cb, s)) == NULL || event_add(s->rev, NULL) == -1) {
		session_kill(s, DOH_ERR_TLS, "cannot set up TLS");
		return;
	}
	SSL_set_connect_state(s->ssl);
	session_set_state(s, SESS_TLS);
	if ((budget = tls_early_budget(s->ssl)) > 0)
		session_early(s, budget);
	else
		session_handshake(s);
}

static void
session_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct doh_session *s = arg;

	(void)fd;
	(void)ev;
	switch (s->state) {
	case SESS_TCP:
		session_tcp_done(s);
		break;
	case SESS_TLS:
		session_handshake(s);
		break;
	case SESS_EARLY:
		if (s->early_try != 0 || s->early_left > 0) {
			if (session_flush(s) == 0 && s->early_try == 0 &&
			    s->early_left == 0)
				session_handshake(s);
		} else
			session_handshake(s);
		break;
	case SESS_OPEN:
	case SESS_DRAINING:
	case SESS_CLOSING:
		if (s->read_wants_write) {
			s->read_wants_write = 0;
			session_read(s);
			if (!session_is_live(s))
				break;
		}
		if (session_flush(s) == 0 && s->outlen == 0)
			session_send(s);	/* what nghttp2 still holds */
		break;
	case SESS_DEAD:
		break;
	}
}

/* d, or less if the deadline (ms of age) falls before age + d. */
static uint64_t
until_deadline(uint64_t age, uint64_t deadline, uint64_t d)
{
	return age < deadline && deadline - age < d ? deadline - age : d;
}

/*
 * The delay to a session's next tick: its period, or less, so that a
 * connect, handshake or goodbye deadline is checked when it falls rather
 * than up to a period late (a connect limit of 650 ms would become a second with
 * 500 ms ticks, and a timer firing a jiffy early would double one of 500
 * ms).
 */
static unsigned
session_tick_delay(const struct doh_session *s, uint64_t now)
{
	const struct liveness_server *lv = &s->c->live;
	uint64_t age = now - s->started_ms, d = s->tick_ms;

	switch (s->state) {
	case SESS_TCP:
		d = until_deadline(age, liveness_connect_limit(lv), d);
		break;
	case SESS_TLS:
	case SESS_EARLY:
		if (s->tcp_wait)
			d = until_deadline(age, liveness_connect_limit(lv), d);
		d = until_deadline(age, lv->timeout_ms, d);
		break;
	case SESS_CLOSING:
		d = until_deadline(now - s->closing_ms, DOH_CLOSE_MS, d);
		break;
	default:
		break;
	}
	return (unsigned)d;
}

/* A SYN (or Fast Open SYN) unanswered for the connect limit. */
static void
session_connect_timeout(struct doh_session *s, uint64_t now)
{
	struct doh_client *c = s->c;

	log_debug("upstream %s: no answer to the SYN in %llu ms (limit %u ms)",
	    c->name, (unsigned long long)(now - s->started_ms),
	    liveness_connect_limit(&c->live));
	liveness_rtt_missed(&c->live);
	session_kill(s, DOH_ERR_TIMEOUT, "connect timed out");
}

/*
 * Handshake timeout, liveness, keepalive and the end of a goodbye,
 * checked a few times a timeout, and connect and handshake deadlines
 * when they fall.
 */
static void
session_tick_cb(void *arg)
{
	struct doh_session *s = arg;
	struct doh_client *c = s->c;
	uint64_t now = clock_ms();

	if (s->state != SESS_DEAD && s->tick_ms > 0)
		clock_timer_add(&s->tick, session_tick_delay(s, now));
	switch (s->state) {
	case SESS_TCP:
		if (now - s->started_ms >= liveness_connect_limit(&c->live))
			session_connect_timeout(s, now);
		return;
	case SESS_TLS:
	case SESS_EARLY:
		if (s->tcp_wait && now - s->started_ms >=
		    liveness_connect_limit(&c->live) &&
		    !session_tcp_heard(s, 0)) {
			session_connect_timeout(s, now);
			return;
		}
		if (now - s->started_ms >= c->live.timeout_ms)
			session_kill(s, DOH_ERR_TIMEOUT, "handshake timed out");
		return;
	case SESS_CLOSING:
		if (now - s->closing_ms >= DOH_CLOSE_MS)
			session_closed(s);
		return;
	case SESS_DEAD:
		return;
	case SESS_OPEN:
	case SESS_DRAINING:
		break;
	}
	switch (liveness_check(&s->live, &c->live, now,
	    s->state == SESS_OPEN && s->nstreams == 0)) {
	case LIVENESS_SILENT:
		session_kill(s, DOH_ERR_TIMEOUT, "server stopped answering");
		return;
	case LIVENESS_DEAD:
		c->stats.dead++;
		liveness_rtt_missed(&c->live);
		session_kill(s, DOH_ERR_TIMEOUT, "no answer to PING");
		return;
	case LIVENESS_KEEPALIVE:
		if (nghttp2_submit_ping(s->h2, NGHTTP2_FLAG_NONE, NULL) == 0) {
			liveness_ping_sent(&s->live, now);
			session_send(s);
		}
		return;
	default:
		return;
	}
}

/* PING s now (or count on the one out) and start the PING bound. */
static void
session_ping(struct doh_session *s)
{
	uint64_t now = clock_ms();

	if (liveness_ping_needed(&s->live)) {
		if (nghttp2_submit_ping(s->h2, NGHTTP2_FLAG_NONE, NULL) != 0)
			return;
		liveness_ping_sent(&s->live, now);
	}
	clock_timer_add(&s->probe, liveness_probing(&s->live, &s->c->live,
	    now));
	session_send(s);
}

/*
 * The probe timer: past the probe delay, the first request sent since
 * the server was last heard gets its session PINGed; past the PING
 * bound with nothing heard, the session is dead and its requests fail
 * with DOH_ERR_TIMEOUT at once, so their queries can go elsewhere.
 */
static void
session_probe_cb(void *arg)
{
	struct doh_session *s = arg;
	struct doh_client *c = s->c;
	unsigned ms;

	if (s->state != SESS_OPEN && s->state != SESS_DRAINING)
		return;
	switch (liveness_probe(&s->live, &c->live, clock_ms(), &ms)) {
	case LIVENESS_OK:
		if (ms > 0)
			clock_timer_add(&s->probe, ms);
		return;
	case LIVENESS_DEAD:
		c->stats.dead++;
		log_info("upstream %s: no answer to PING in %u ms: "
		    "connection dead", c->name, ms);
		liveness_rtt_missed(&c->live);
		session_kill(s, DOH_ERR_TIMEOUT,
		    "connection dead (no answer to PING)");
		return;
	case LIVENESS_PING:
		log_debug("upstream %s: nothing heard for %u ms: PING",
		    c->name, ms);
		session_ping(s);
		return;
	default:
		return;
	}
}

static struct doh_session *
session_new(struct doh_client *c)
{
	struct doh_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->c = c;
	s->fd = -1;
	s->state = SESS_TCP;
	clock_timer_init(&s->tick, c->base, session_tick_cb, s);
	clock_timer_init(&s->probe, c->base, session_probe_cb, s);
	TAILQ_INIT(&s->streams);
	s->started_ms = clock_ms();
	return s;
}

/*
 * Connect to the current address.  TCP first, so a refused connect is
 * told apart from a TLS failure and each is timed.
 */
static void
client_connect(struct doh_client *c)
{
	struct doh_session *s;
	struct sockaddr_storage *ss;
	unsigned tick;
	int one = 1, tfo = 0;

	if (c->cur != NULL || c->naddrs == 0)
		return;
	if (c->addr_tries == 0)
		c->addr_tries = c->naddrs;
	/*
	 * A probe after failures stays in DOH_BACKOFF until it succeeds, so
	 * queries never wait on a server that is probably still down.
	 */
	if (c->state != DOH_BACKOFF)
		client_set_state(c, DOH_CONNECTING);
	if ((s = session_new(c)) == NULL) {
		client_backoff(c, DOH_ERR_CONNECT, "out of memory");
		return;
	}
	c->cur = s;
	tick = c->live.timeout_ms / 4;
	if (tick < 50)
		tick = 50;
	if (tick > 1000)
		tick = 1000;
	s->tick_ms = tick;
	clock_timer_add(&s->tick, session_tick_delay(s, clock_ms()));
	ss = &c->addrs[c->addr_idx];
	log_debug("upstream %s: connecting (address %zu of %zu)", c->name,
	    c->addr_idx + 1, c->naddrs);
	if ((s->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		session_kill(s, DOH_ERR_CONNECT, strerror(errno));
		return;
	}
	/* Requests are small and latency is all: no Nagle. */
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#ifdef TCP_FASTOPEN_CONNECT
	/*
	 * With a Fast Open cookie for the server, connect() returns at once
	 * and the SYN leaves with the first write, the ClientHello (and
	 * early data).  Without one, or if the kernel says no (bit 1 of
	 * net.ipv4.tcp_fastopen), an ordinary connect: errors are moot.
	 */
	tfo = setsockopt(s->fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one,
	    sizeof(one)) == 0;
#endif
	if ((s->wev = event_new(c->base, s->fd, EV_WRITE | EV_PERSIST,
	    session_write_cb, s)) == NULL) {
		session_kill(s, DOH_ERR_CONNECT, "out of memory");
		return;
	}
	if (connect(s->fd, (struct sockaddr *)ss, c->lens[c->addr_idx]) ==
	    0) {
		/*
		 * Deferred (Fast Open) or done at once: on to TLS from the
		 * loop, not from inside doh_connect() and its callers.
		 */
		s->tfo = tfo;
		event_active(s->wev, EV_WRITE, 0);
		return;
	}
	if (errno != EINPROGRESS) {
		session_kill(s, DOH_ERR_CONNECT, strerror(errno));
		return;
	}
	session_want_write(s, 1);
}

static void
kick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct doh_client *c = arg;
	struct doh_session *s, *next;

	(void)fd;
	(void)ev;
	/*
	 * Free what is over, outside every callback that could use it; a
	 * drained session says goodbye first.
	 */
	for (s = TAILQ_FIRST(&c->old); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->state == SESS_DRAINING && s->nstreams == 0)
			session_close(s);
		if (s->state == SESS_DEAD) {
			TAILQ_REMOVE(&c->old, s, entry);
			session_free(s);
		}
	}
	/* Resets queued from inside callbacks go out now. */
	TAILQ_FOREACH(s, &c->old, entry)
		session_send(s);
	if (c->cur == NULL) {
		if (c->state == DOH_IDLE && c->nwaiting > 0)
			client_connect(c);
		return;
	}
	/* Starting streams may retire cur (out of stream IDs); while the
	 * handshake waits for the server, requests go as early data. */
	if ((s = c->cur)->state == SESS_OPEN || s->state == SESS_EARLY) {
		session_start_streams(s);
		session_send(s);
	}
}

/* --- the interface --- */

struct doh_client *
doh_new(struct event_base *base, const struct doh_params *p,
    doh_state_cb *state_cb, void *arg)
{
	struct doh_client *c;
	int v6 = strchr(p->host, ':') != NULL;
	size_t n;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->base = base;
	clock_timer_init(&c->retry, base, retry_cb, c);
	c->port = p->port;
	c->host_is_ip = p->host_is_ip;
	c->no_verify = p->no_verify;
	c->use_get = p->use_get;
	c->keep_headers = p->keep_headers;
	c->ctx = p->ssl_ctx;
	liveness_server_init(&c->live, p->timeout_ms, p->keepalive_ms,
	    p->probe_ms);
	c->last_submit_ms = clock_ms();
	c->state_cb = state_cb;
	c->arg = arg;
	c->state = DOH_NOADDR;
	TAILQ_INIT(&c->old);
	TAILQ_INIT(&c->waiting);
	TAILQ_INIT(&c->pool);
	n = strlen(p->host) + 16;
	if ((c->host = strdup(p->host)) == NULL ||
	    (c->path = strdup(p->path)) == NULL ||
	    (p->verify_ip != NULL && *p->verify_ip != '\0' &&
	    (c->verify_ip = strdup(p->verify_ip)) == NULL) ||
	    (c->authority = malloc(n)) == NULL ||
	    (c->name = malloc(n)) == NULL)
		goto fail;
	if (p->port == 443)
		snprintf(c->authority, n, v6 ? "[%s]" : "%s", p->host);
	else
		snprintf(c->authority, n, v6 ? "[%s]:%u" : "%s:%u", p->host,
		    p->port);
	snprintf(c->name, n, v6 ? "[%s]:%u" : "%s:%u", p->host, p->port);
	if ((c->kick = event_new(base, -1, 0, kick_cb, c)) == NULL)
		goto fail;
	return c;
 fail:
	doh_free(c);
	return NULL;
}

void
doh_set_addrs(struct doh_client *c, const struct sockaddr_storage *ss,
    const socklen_t *lens, size_t n)
{
	size_t i;

	if (n > ADDR_MAX_PER_NAME)
		n = ADDR_MAX_PER_NAME;
	for (i = 0; i < n; i++) {
		c->addrs[i] = ss[i];
		c->lens[i] = lens[i];
	}
	c->naddrs = n;
	c->addr_idx = 0;
	c->addr_tries = n;
	if (n == 0)
		return;
	if (c->state == DOH_NOADDR)
		client_set_state(c, DOH_IDLE);
	else if (c->state == DOH_BACKOFF && c->cur == NULL &&
	    !clock_timer_pending(&c->retry)) {
		/* Backing off for want of an address: a fresh start. */
		client_set_state(c, DOH_IDLE);
		client_connect(c);
	} else if (c->state == DOH_IDLE && c->nwaiting > 0)
		client_connect(c);
}

void
doh_addrs_failed(struct doh_client *c)
{
	if (c->cur != NULL || c->state == DOH_BACKOFF)
		return;
	if (c->naddrs > 0) {
		/* Keep using the addresses we had. */
		return;
	}
	log_debug("upstream %s: no address", c->name);
	client_set_state(c, DOH_BACKOFF);
	fail_waiting(c, DOH_ERR_CONNECT);
}

void
doh_connect(struct doh_client *c)
{
	if (c->state == DOH_IDLE)
		client_connect(c);
}

struct doh_req *
doh_submit(struct doh_client *c, const uint8_t *msg, size_t len,
    doh_done_cb *cb, void *arg)
{
	struct doh_req *r;

	if (c->state == DOH_BACKOFF || len == 0 || len > DOH_MAX_BODY)
		return NULL;
	if ((r = req_get(c, len)) == NULL)
		return NULL;
	r->c = c;
	r->cb = cb;
	r->arg = arg;
	r->stream_id = -1;
	r->submit_ms = c->last_submit_ms = clock_ms();
	r->len = len;
	memcpy(r->msg, msg, len);
	TAILQ_INSERT_TAIL(&c->waiting, r, entry);
	c->nwaiting++;
	kick(c);
	return r;
}

void
doh_cancel(struct doh_req *r)
{
	struct doh_session *s;

	if (r == NULL)
		return;
	s = r->s;
	/* Given up on unanswered (a hedge won, a timeout): it took at least
	 * this long, which the answer times should not forget. */
	if (r->sent_ms != 0 && r->first_byte_ms == 0)
		liveness_given_up(&r->c->live, clock_ms() - r->sent_ms);
	if (s != NULL && s->state != SESS_DEAD) {
		/*
		 * The stream closes later and the request is freed then.  We
		 * may be inside an nghttp2 callback: the kick sends the reset.
		 */
		r->cb = NULL;
		nghttp2_submit_rst_stream(s->h2, NGHTTP2_FLAG_NONE,
		    r->stream_id, NGHTTP2_CANCEL);
		/* A request given up on unanswered leaves the session's
		 * unanswered clock running: see session_tick_cb(). */
		kick(r->c);
		return;
	}
	req_unlink(r);
	req_free(r);
}

void
doh_suspect(struct doh_client *c)
{
	struct doh_session *s = c->cur;

	if (s != NULL && s->state == SESS_OPEN) {
		session_ping(s);
		return;
	}
	/* Backing off after failures on the old network: try the new one
	 * now rather than after up to DOH_BACKOFF_MAX_MS. */
	if (s == NULL && c->state == DOH_BACKOFF && c->naddrs > 0) {
		clock_timer_del(&c->retry);
		c->backoff_ms = 0;
		c->addr_tries = c->naddrs;
		client_connect(c);
	}
}

void
doh_get_stats(const struct doh_client *c, struct doh_stats *st)
{
	*st = c->stats;
	st->has_srtt = liveness_srtt(&c->live, &st->srtt_ms);
	st->has_rtt = liveness_rtt(&c->live, &st->rtt_ms);
}

enum doh_state
doh_get_state(const struct doh_client *c)
{
	return c->state;
}

size_t
doh_pending(const struct doh_client *c)
{
	return c->nwaiting + c->ninflight;
}

const char *
doh_name(const struct doh_client *c)
{
	return c->name;
}

const char *
doh_last_error(const struct doh_client *c)
{
	return c->last_error;
}

void
doh_set_connected_cb(struct doh_client *c, doh_connected_cb *cb, void *arg)
{
	c->connected_cb = cb;
	c->connected_arg = arg;
}

void
doh_free(struct doh_client *c)
{
	struct doh_session *s;
	struct doh_req *r;

	if (c == NULL)
		return;
	if (c->cur != NULL) {
		TAILQ_INSERT_TAIL(&c->old, c->cur, entry);
		c->cur = NULL;
	}
	while ((s = TAILQ_FIRST(&c->old)) != NULL) {
		TAILQ_REMOVE(&c->old, s, entry);
		while ((r = TAILQ_FIRST(&s->streams)) != NULL) {
			if (s->h2 != NULL)
				nghttp2_session_set_stream_user_data(s->h2,
				    r->stream_id, NULL);
			req_finish(r, DOH_ERR_SHUTDOWN);
		}
		/* The goodbye, as far as the socket takes it at once. */
		if (s->state == SESS_OPEN || s->state == SESS_DRAINING)
			session_close(s);
		session_free(s);
	}
	fail_waiting(c, DOH_ERR_SHUTDOWN);
	while ((r = TAILQ_FIRST(&c->pool)) != NULL) {
		TAILQ_REMOVE(&c->pool, r, entry);
		free(r->body);
		free(r);
	}
	if (c->kick != NULL)
		event_free(c->kick);
	clock_timer_del(&c->retry);
	tls_resume_clear(&c->resume);
	free(c->host);
	free(c->path);
	free(c->verify_ip);
	free(c->authority);
	free(c->name);
	free(c);
}

struct doh_client *
doh_test_client(struct event_base *base, const struct doh_params *p)
{
	struct doh_client *c;
	struct doh_session *s;

	if ((c = doh_new(base, p, NULL, NULL)) == NULL)
		return NULL;
	if ((s = session_new(c)) == NULL) {
		doh_free(c);
		return NULL;
	}
	c->cur = s;
	if (session_h2_init(s) == -1) {
		doh_free(c);
		return NULL;
	}
	s->ready_ms = s->started_ms;
	liveness_open(&s->live, s->ready_ms);
	session_set_state(s, SESS_OPEN);
	/* No address: a lost session is never replaced by a real one. */
	c->state = DOH_READY;
	return c;
}

int
doh_test_input(struct doh_client *c, const uint8_t *data, size_t len)
{
	struct doh_session *s = c->cur;

	/* After GOAWAY the session drains among the old ones. */
	if (s == NULL)
		TAILQ_FOREACH(s, &c->old, entry)
			if (session_is_live(s))
				break;
	if (s == NULL || !session_is_live(s))
		return -1;
	if (session_input(s, data, len) == -1)
		return -1;
	session_after_input(s);
	return session_is_live(s) ? 0 : -1;
}

int
doh_get_path(const char *path, const uint8_t *msg, size_t len, char *buf,
    size_t size)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t plen = strlen(path), o, i;
	uint32_t v;

	/* path, "?dns=", ceil(len * 4 / 3) characters, NUL */
	if (size < plen + 5 + (len * 4 + 2) / 3 + 1)
		return -1;
	memcpy(buf, path, plen);
	/* A dohpath such as "/q?x=1{&dns}" leaves a query of its own. */
	memcpy(buf + plen, strchr(path, '?') != NULL ? "&dns=" : "?dns=", 5);
	o = plen + 5;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)msg[i] << 16 | (uint32_t)msg[i + 1] << 8 |
		    msg[i + 2];
		buf[o++] = b64[v >> 18];
		buf[o++] = b64[(v >> 12) & 63];
		buf[o++] = b64[(v >> 6) & 63];
		buf[o++] = b64[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)msg[i] << 16;
		buf[o++] = b64[v >> 18];
		buf[o++] = b64[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (uint32_t)msg[i] << 16 | (uint32_t)msg[i + 1] << 8;
		buf[o++] = b64[v >> 18];
		buf[o++] = b64[(v >> 12) & 63];
		buf[o++] = b64[(v >> 6) & 63];
	}
	buf[o] = '\0';
	return 0;
}
