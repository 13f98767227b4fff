/*
 * doh: one DoH upstream as a long-lived HTTP/2 client (RFC 8484, 9113).
 *
 * A client owns at most one current session (one TLS connection) plus the
 * sessions it is done with: draining after GOAWAY, or dead and waiting to
 * be freed outside any nghttp2 or bufferevent callback.  Requests wait on
 * the client until the current session can take another stream; every
 * submit only queues and activates the "kick" event, so all requests that
 * arrive in one pass of the event loop leave in one write.
 */
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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "dohstub/clock.h"
#include "dohstub/doh.h"
#include "dohstub/log.h"
#include "dohstub/tls.h"

#define DOH_CTYPE		"application/dns-message"
#define DOH_BODY_INITIAL	512
#define DOH_SEND_CHUNK		16384
#define DOH_LOCAL_STREAMS	100	/* assumed until the server says */
/* A session that dies younger than this without one answer was a failure. */
#define DOH_MIN_HEALTHY_MS	1000

const char *const doh_state_names[] = {
	"noaddr", "idle", "connecting", "ready", "backoff",
};

const char *const doh_result_names[] = {
	"ok", "connect", "tls", "http-status", "content-type", "body",
	"reset", "protocol", "timeout", "shutdown",
};

struct doh_session;

struct doh_req {
	TAILQ_ENTRY(doh_req)	 entry;	/* client->waiting or s->streams */
	struct doh_client	*c;
	struct doh_session	*s;	/* NULL while waiting */
	int32_t			 stream_id;
	doh_done_cb		*cb;	/* NULL once cancelled */
	void			*arg;
	int			 retried;	/* once, after GOAWAY */
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
	uint8_t			 msg[];
};
TAILQ_HEAD(doh_req_list, doh_req);

struct doh_session {
	TAILQ_ENTRY(doh_session) entry;	/* client->old */
	struct doh_client	*c;
	nghttp2_session		*h2;
	int			 fd;	/* until bev owns it */
	struct event		*connev;	/* TCP connect */
	struct bufferevent	*bev;
	SSL			*ssl;	/* owned by bev once there is one */
	struct event		*tick;
	uint64_t		 tcp_ms;	/* TCP connected */
	struct doh_req_list	 streams;
	size_t			 nstreams;
	int			 ready;	/* handshake done, h2 up */
	int			 goaway;
	int			 dead;
	int			 answered;	/* any response received */
	int			 ping_out;
	uint64_t		 started_ms, ready_ms;
	uint64_t		 last_read_ms, last_write_ms;
	uint64_t		 wait_since_ms;	/* PING outstanding since */
	/*
	 * A request has waited since this time with no answer on this
	 * session after it; 0: none waits.  Liveness is judged by answers,
	 * not by any byte: a server that acks PINGs but answers no request
	 * is as useless as a dead one.
	 */
	uint64_t		 unanswered_ms;
};
TAILQ_HEAD(doh_session_list, doh_session);

struct doh_client {
	struct event_base	*base;
	char			*host, *path, *authority, *name;
	uint16_t		 port;
	int			 host_is_ip, use_get, keep_headers;
	SSL_CTX			*ctx;
	unsigned		 timeout_ms, keepalive_ms;
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
	struct doh_session_list	 old;	/* draining or dead */
	struct doh_req_list	 waiting;
	size_t			 nwaiting;
	size_t			 ninflight;	/* on any session */
	struct event		*kick;
	struct event		*retry;
	struct tls_resume	 resume;
	doh_connected_cb	*connected_cb;
	void			*connected_arg;
	char			 last_error[160];
};

static void	client_set_state(struct doh_client *, enum doh_state);
static void	client_connect(struct doh_client *);
static void	session_kill(struct doh_session *, enum doh_result,
		    const char *);
static void	session_send(struct doh_session *);
static void	session_retire(struct doh_session *, enum doh_result);

static void
kick(struct doh_client *c)
{
	event_active(c->kick, 0, 0);
}

static void
req_free(struct doh_req *r)
{
	free(r->body);
	free(r->hdrtext);
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

/* An attempt (every address tried) failed: back off, then try again. */
static void
client_backoff(struct doh_client *c, enum doh_result res, const char *why)
{
	struct timeval tv;

	if (!c->backoff_logged)
		log_warnx("upstream %s: unreachable (%s); retrying in the "
		    "background", c->name, why);
	else
		log_debug("upstream %s: still unreachable (%s)", c->name, why);
	c->backoff_logged = 1;
	c->backoff_ms = c->backoff_ms == 0 ? DOH_BACKOFF_MIN_MS :
	    c->backoff_ms * 2;
	if (c->backoff_ms > DOH_BACKOFF_MAX_MS)
		c->backoff_ms = DOH_BACKOFF_MAX_MS;
	client_set_state(c, DOH_BACKOFF);
	fail_waiting(c, res);
	tv.tv_sec = c->backoff_ms / 1000;
	tv.tv_usec = (c->backoff_ms % 1000) * 1000;
	evtimer_add(c->retry, &tv);
}

static void
retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct doh_client *c = arg;

	(void)fd;
	(void)ev;
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
		s->unanswered_ms = s->nstreams > 1 || r->c->nwaiting > 0 ?
		    r->first_byte_ms : 0;
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
		s->goaway = 1;
		log_debug("upstream %s: GOAWAY, last stream %d, error %u",
		    s->c->name, frame->goaway.last_stream_id,
		    frame->goaway.error_code);
		break;
	case NGHTTP2_PING:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			s->ping_out = 0;
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
	else if (error_code == NGHTTP2_REFUSED_STREAM && !r->retried &&
	    r->status == 0 && c->state != DOH_BACKOFF) {
		/* Not processed by the server (GOAWAY or refusal): again,
		 * once, on the next session. */
		req_unlink(r);
		r->retried = 1;
		r->sent = 0;
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
		s->answered = 1;
		c->early_goaways = 0;
		c->backoff_ms = 0;	/* a handshake alone proves little */
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
 * A connection we close ourselves gets a goodbye, as RFC 9113 6.8 asks:
 * GOAWAY, then TLS close_notify.  They are written straight to the TLS
 * object, which is safe only when the bufferevent has nothing of its own
 * waiting; a few dozen bytes into an idle socket, they go at once, and
 * are dropped if the socket will not take them.
 */
static void
session_goodbye(struct doh_session *s)
{
	const uint8_t *data;
	ssize_t n;

	if (s->dead || !s->ready || s->bev == NULL ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;
	if (nghttp2_session_terminate_session(s->h2, NGHTTP2_NO_ERROR) != 0)
		return;
	while ((n = nghttp2_session_mem_send(s->h2, &data)) > 0)
		if (SSL_write(s->ssl, data, (int)n) != (int)n)
			goto out;
	(void)SSL_shutdown(s->ssl);
out:
	ERR_clear_error();
}

static void
session_free(struct doh_session *s)
{
	if (s == NULL)
		return;
	session_goodbye(s);
	if (s->h2 != NULL)
		nghttp2_session_del(s->h2);
	if (s->bev != NULL)
		bufferevent_free(s->bev);	/* frees ssl, closes fd */
	else {
		if (s->ssl != NULL)
			SSL_free(s->ssl);
		if (s->fd != -1)
			close(s->fd);
	}
	if (s->connev != NULL)
		event_free(s->connev);
	if (s->tick != NULL)
		event_free(s->tick);
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

/*
 * Everything nghttp2 wants to send, gathered into contiguous chunks so
 * that a request's HEADERS and DATA leave in one TLS record and one TCP
 * segment.
 */
static void
session_send(struct doh_session *s)
{
	uint8_t buf[DOH_SEND_CHUNK];
	const uint8_t *data;
	size_t used = 0;
	ssize_t n;

	if (s->dead || !s->ready)
		return;
	for (;;) {
		n = nghttp2_session_mem_send(s->h2, &data);
		if (n < 0) {
			session_kill(s, DOH_ERR_PROTOCOL, nghttp2_strerror(
			    (int)n));
			return;
		}
		if (n == 0)
			break;
		if (s->bev == NULL)
			continue;	/* doh_test_client(): discarded */
		if (used + (size_t)n > sizeof(buf) && used > 0) {
			bufferevent_write(s->bev, buf, used);
			used = 0;
		}
		if ((size_t)n > sizeof(buf))
			bufferevent_write(s->bev, data, (size_t)n);
		else {
			memcpy(buf + used, data, (size_t)n);
			used += (size_t)n;
		}
	}
	if (used > 0) {
		bufferevent_write(s->bev, buf, used);
		s->last_write_ms = clock_ms();
	}
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

	maxstreams = nghttp2_session_get_remote_settings(s->h2,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	while ((r = TAILQ_FIRST(&c->waiting)) != NULL &&
	    s->nstreams < maxstreams && !s->goaway) {
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
			s->goaway = 1;
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
		if (s->unanswered_ms == 0)
			s->unanswered_ms = r->sent_ms;
		TAILQ_INSERT_TAIL(&s->streams, r, entry);
		s->nstreams++;
		c->ninflight++;
	}
#undef NV
#undef NVS
	/* Requests the server has no stream for wait on it all the same. */
	if (c->nwaiting > 0 && s->unanswered_ms == 0)
		s->unanswered_ms = clock_ms();
	/* Out of stream IDs (above): the next requests need a new session. */
	if (s->goaway && s == c->cur)
		session_retire(s, DOH_OK);
}

/*
 * The session stops taking requests; the client moves on.  why is the
 * reason it ended, DOH_OK for a GOAWAY or running out of stream IDs.
 */
static void
session_retire(struct doh_session *s, enum doh_result why)
{
	struct doh_client *c = s->c;
	int healthy;

	if (c->cur != s)
		return;
	c->cur = NULL;
	TAILQ_INSERT_TAIL(&c->old, s, entry);
	/* One that stopped answering requests is backed off, however old. */
	healthy = s->ready && why != DOH_ERR_TIMEOUT && (s->answered ||
	    clock_ms() - s->ready_ms >= DOH_MIN_HEALTHY_MS);
	/*
	 * A GOAWAY is a graceful goodbye, even on a young connection: once,
	 * reconnect at once so the refused requests are sent again.  A
	 * server that says it on every new connection gets backed off.
	 */
	if (!healthy && s->ready && s->goaway && c->early_goaways++ == 0)
		healthy = 1;
	if (healthy) {
		/* It worked: reconnect at once to stay warm. */
		c->addr_tries = c->naddrs;
		client_connect(c);
	} else if (s->ready)
		client_backoff(c, DOH_ERR_CONNECT, why == DOH_ERR_TIMEOUT ?
		    "server stopped answering" : "connection closed early");
}

/*
 * The session is over: fail what it carried and leave the freeing to
 * the kick event.  Never called from inside an nghttp2 callback.
 */
static void
session_kill(struct doh_session *s, enum doh_result res, const char *why)
{
	struct doh_client *c = s->c;
	struct doh_req *r;
	int was_cur = c->cur == s;

	if (s->dead)
		return;
	s->dead = 1;
	snprintf(c->last_error, sizeof(c->last_error), "%s", why);
	if (s->connev != NULL)
		event_del(s->connev);
	if (s->bev != NULL) {
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	}
	if (s->tick != NULL)
		evtimer_del(s->tick);
	if (was_cur && !s->ready) {
		/* A failed attempt: the next address, or back off. */
		c->cur = NULL;
		TAILQ_INSERT_TAIL(&c->old, s, entry);
		log_debug("upstream %s: connection failed: %s", c->name, why);
		if (c->addr_tries > 1) {
			c->addr_tries--;
			c->addr_idx = (c->addr_idx + 1) % c->naddrs;
			client_connect(c);
		} else
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

/* Bytes from the server.  Returns -1 if the session died of them. */
static int
session_input(struct doh_session *s, const uint8_t *data, size_t len)
{
	ssize_t n;

	s->last_read_ms = clock_ms();
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
	if (s->dead)
		return;
	if (s->goaway)
		session_retire(s, DOH_OK);
	session_start_streams(s);
	session_send(s);
	if (!s->dead && !nghttp2_session_want_read(s->h2) &&
	    !nghttp2_session_want_write(s->h2) && (s->bev == NULL ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0))
		session_kill(s, DOH_ERR_CONNECT, "session finished");
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	struct doh_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;

	while ((len = evbuffer_get_contiguous_space(in)) > 0) {
		if (session_input(s, evbuffer_pullup(in, (ssize_t)len),
		    len) == -1)
			return;
		evbuffer_drain(in, len);
	}
	session_after_input(s);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct doh_session *s = arg;

	(void)bev;
	/* nghttp2 may hold data it could not give us (flow control). */
	if (nghttp2_session_want_write(s->h2))
		session_send(s);
}

static void
session_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct doh_session *s = arg;
	struct doh_client *c = s->c;
	struct doh_conn_info info;
	unsigned long e;
	long vr;
	char why[256];
	int serr;

	if (events & BEV_EVENT_CONNECTED) {
		if (!tls_alpn_is_h2(s->ssl)) {
			session_kill(s, DOH_ERR_TLS, "server did not "
			    "negotiate HTTP/2 (ALPN h2)");
			return;
		}
		if (session_h2_init(s) == -1) {
			session_kill(s, DOH_ERR_PROTOCOL, "nghttp2 set-up "
			    "failed");
			return;
		}
		s->ready = 1;
		s->ready_ms = s->last_read_ms = clock_ms();
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
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	/* TCP is up by now (session_tcp_cb): what fails here is TLS or h2. */
	serr = EVUTIL_SOCKET_ERROR();
	vr = SSL_get_verify_result(s->ssl);
	e = bufferevent_get_openssl_error(bev);
	if (!s->ready && vr != X509_V_OK) {
		snprintf(why, sizeof(why), "certificate verification failed: "
		    "%s", X509_verify_cert_error_string(vr));
		session_kill(s, DOH_ERR_TLS, why);
	} else if (e != 0 && ERR_reason_error_string(e) != NULL) {
		snprintf(why, sizeof(why), "TLS: %s",
		    ERR_reason_error_string(e));
		session_kill(s, s->ready ? DOH_ERR_CONNECT : DOH_ERR_TLS, why);
	} else if (!s->ready) {
		snprintf(why, sizeof(why), "TLS handshake: %s",
		    (events & BEV_EVENT_EOF) || serr == 0 || serr == EAGAIN ?
		    "connection closed by the server" :
		    evutil_socket_error_to_string(serr));
		session_kill(s, DOH_ERR_TLS, why);
	} else if (events & BEV_EVENT_EOF)
		session_kill(s, DOH_ERR_CONNECT, "closed by the server");
	else
		session_kill(s, DOH_ERR_CONNECT,
		    evutil_socket_error_to_string(serr));
	ERR_clear_error();
}

/* Handshake timeout, liveness and keepalive, checked a few times a timeout. */
static void
session_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct doh_session *s = arg;
	struct doh_client *c = s->c;
	uint64_t now = clock_ms(), heard, quiet;

	(void)fd;
	(void)ev;
	if (!s->ready) {
		if (now - s->started_ms >= c->timeout_ms)
			session_kill(s, DOH_ERR_TIMEOUT, "connect timed out");
		return;
	}
	if (s->unanswered_ms != 0 && now - s->unanswered_ms >= c->timeout_ms) {
		session_kill(s, DOH_ERR_TIMEOUT, "server stopped answering");
		return;
	}
	heard = s->last_read_ms > s->wait_since_ms ? s->last_read_ms :
	    s->wait_since_ms;
	if (s->ping_out && now - heard >= c->timeout_ms) {
		session_kill(s, DOH_ERR_TIMEOUT, "no answer to PING");
		return;
	}
	quiet = s->last_read_ms > s->last_write_ms ? s->last_read_ms :
	    s->last_write_ms;
	if (c->keepalive_ms > 0 && s->nstreams == 0 && !s->ping_out &&
	    !s->goaway && now - quiet >= c->keepalive_ms) {
		if (nghttp2_submit_ping(s->h2, NGHTTP2_FLAG_NONE, NULL) == 0) {
			s->ping_out = 1;
			s->wait_since_ms = now;
			session_send(s);
		}
	}
}

/* The TCP connect finished, well or not: on to TLS. */
static void
session_tcp_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct doh_session *s = arg;
	struct doh_client *c = s->c;
	socklen_t len = sizeof(int);
	int err = 0;

	(void)ev;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		session_kill(s, DOH_ERR_CONNECT, strerror(err));
		return;
	}
	s->tcp_ms = clock_ms();
	if ((s->ssl = tls_ssl_new(c->ctx, c->host, c->host_is_ip,
	    &c->resume)) == NULL) {
		session_kill(s, DOH_ERR_TLS, "cannot set up TLS");
		return;
	}
	s->bev = bufferevent_openssl_socket_new(c->base, s->fd, s->ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (s->bev == NULL) {
		session_kill(s, DOH_ERR_TLS, "cannot set up TLS");
		return;
	}
	s->fd = -1;	/* the bufferevent owns it, and the SSL */
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/*
 * Connect to the current address.  TCP first, on our own socket, so a
 * refused connect is told apart from a TLS failure and each is timed.
 */
static void
client_connect(struct doh_client *c)
{
	struct doh_session *s;
	struct sockaddr_storage *ss;
	struct timeval tv;
	unsigned tick;
	int one = 1;

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
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		client_backoff(c, DOH_ERR_CONNECT, "out of memory");
		return;
	}
	s->c = c;
	s->fd = -1;
	TAILQ_INIT(&s->streams);
	s->started_ms = clock_ms();
	c->cur = s;
	tick = c->timeout_ms / 4;
	if (tick < 50)
		tick = 50;
	if (tick > 1000)
		tick = 1000;
	tv.tv_sec = tick / 1000;
	tv.tv_usec = (tick % 1000) * 1000;
	if ((s->tick = event_new(c->base, -1, EV_PERSIST, session_tick_cb,
	    s)) == NULL || evtimer_add(s->tick, &tv) == -1) {
		session_kill(s, DOH_ERR_CONNECT, "out of memory");
		return;
	}
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
	if (connect(s->fd, (struct sockaddr *)ss, c->lens[c->addr_idx]) ==
	    -1 && errno != EINPROGRESS) {
		session_kill(s, DOH_ERR_CONNECT, strerror(errno));
		return;
	}
	if ((s->connev = event_new(c->base, s->fd, EV_WRITE, session_tcp_cb,
	    s)) == NULL || event_add(s->connev, NULL) == -1)
		session_kill(s, DOH_ERR_CONNECT, "out of memory");
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
	 * drained session says goodbye as it goes.
	 */
	for (s = TAILQ_FIRST(&c->old); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->dead || (s->nstreams == 0 &&
		    !nghttp2_session_want_write(s->h2))) {
			TAILQ_REMOVE(&c->old, s, entry);
			session_free(s);
		}
	}
	/* Resets and GOAWAYs queued from inside callbacks go out now. */
	TAILQ_FOREACH(s, &c->old, entry)
		session_send(s);
	if (c->cur == NULL) {
		if (c->state == DOH_IDLE && c->nwaiting > 0)
			client_connect(c);
		return;
	}
	if (c->cur->ready) {
		session_start_streams(c->cur);
		session_send(c->cur);
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
	c->port = p->port;
	c->host_is_ip = p->host_is_ip;
	c->use_get = p->use_get;
	c->keep_headers = p->keep_headers;
	c->ctx = p->ssl_ctx;
	c->timeout_ms = p->timeout_ms;
	c->keepalive_ms = p->keepalive_ms;
	c->state_cb = state_cb;
	c->arg = arg;
	c->state = DOH_NOADDR;
	TAILQ_INIT(&c->old);
	TAILQ_INIT(&c->waiting);
	n = strlen(p->host) + 16;
	if ((c->host = strdup(p->host)) == NULL ||
	    (c->path = strdup(p->path)) == NULL ||
	    (c->authority = malloc(n)) == NULL ||
	    (c->name = malloc(n)) == NULL)
		goto fail;
	if (p->port == 443)
		snprintf(c->authority, n, v6 ? "[%s]" : "%s", p->host);
	else
		snprintf(c->authority, n, v6 ? "[%s]:%u" : "%s:%u", p->host,
		    p->port);
	snprintf(c->name, n, v6 ? "[%s]:%u" : "%s:%u", p->host, p->port);
	if ((c->kick = event_new(base, -1, 0, kick_cb, c)) == NULL ||
	    (c->retry = evtimer_new(base, retry_cb, c)) == NULL)
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
	    !evtimer_pending(c->retry, NULL)) {
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
	if ((r = calloc(1, sizeof(*r) + len)) == NULL)
		return NULL;
	r->c = c;
	r->cb = cb;
	r->arg = arg;
	r->stream_id = -1;
	r->submit_ms = clock_ms();
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
	if (s != NULL && !s->dead) {
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
		session_free(s);
	}
	fail_waiting(c, DOH_ERR_SHUTDOWN);
	if (c->kick != NULL)
		event_free(c->kick);
	if (c->retry != NULL)
		event_free(c->retry);
	tls_resume_clear(&c->resume);
	free(c->host);
	free(c->path);
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
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		doh_free(c);
		return NULL;
	}
	s->c = c;
	s->fd = -1;
	TAILQ_INIT(&s->streams);
	c->cur = s;
	if (session_h2_init(s) == -1) {
		doh_free(c);
		return NULL;
	}
	s->ready = 1;
	s->started_ms = s->ready_ms = s->last_read_ms = clock_ms();
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
			if (!s->dead)
				break;
	if (s == NULL || s->dead)
		return -1;
	if (session_input(s, data, len) == -1)
		return -1;
	session_after_input(s);
	return s->dead ? -1 : 0;
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
	memcpy(buf + plen, "?dns=", 5);
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
