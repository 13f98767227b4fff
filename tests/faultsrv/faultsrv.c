/*
 * faultsrv: a DNS-over-HTTPS server for tests that does, on request, what
 * real DoH servers never do (README.md lists the faults).
 *
 * One process, one libevent loop, real TLS (OpenSSL) and real HTTP/2
 * (nghttp2's server API); the few frames nghttp2 will not send are written
 * raw by h2raw.c between whole frames of nghttp2's output.  Every event is
 * one line "EVENT CONN key=value ... t=MS" on stderr or --log, flushed at
 * once, so that tests can assert what crossed the wire.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/log.h"
#include "faultsrv.h"

#define DOH_CTYPE		"application/dns-message"
#define FS_ANSWER_CAP		512	/* room for any answer we build */
#define FS_MAX_PATH		16384
#define FS_STREAMS		100	/* MAX_CONCURRENT_STREAMS we announce */
#define FS_HOLD_MS		100	/* max-streams:N: answer delay */
#define FS_LINGER_MS		200	/* after GOAWAY, before closing */
#define FS_CLOSE_DEADLINE_MS	2000	/* to flush output when closing */
#define FS_LOG_VALUE		512	/* longest value logged */
#define FS_BODY_LOGGED		1024	/* request bytes logged, in hex */

enum conn_state {
	CONN_TCP,		/* refuse, reset: no I/O at all */
	CONN_STALL,		/* stall-handshake: read, never write */
	CONN_HANDSHAKE,
	CONN_H2,
	CONN_HTTP1,		/* ALPN did not pick h2 */
};

static const char *const conn_state_names[] = {
	"tcp", "stall", "handshake", "h2", "http1",
};

enum close_mode {
	CLOSE_NOW,		/* drop pending output */
	CLOSE_FLUSH,		/* write pending output, no close_notify */
	CLOSE_GRACEFUL,		/* write pending output, then close_notify */
};

enum fault_arg {
	ARG_NONE,
	ARG_OPTIONAL,
	ARG_REQUIRED,
};

struct fault_def {
	const char	*name;
	enum fault	 fault;
	enum fault_arg	 arg;
	long		 min, max, def;
};

static const struct fault_def faults[] = {
	/* name, fault, argument, its minimum, maximum and default */
	{ "none", FAULT_NONE, ARG_NONE, 0, 0, 0 },
	{ "refuse", FAULT_REFUSE, ARG_NONE, 0, 0, 0 },
	{ "reset", FAULT_RESET, ARG_NONE, 0, 0, 0 },
	{ "tls-fail", FAULT_TLS_FAIL, ARG_NONE, 0, 0, 0 },
	{ "tls12-only", FAULT_TLS12_ONLY, ARG_NONE, 0, 0, 0 },
	{ "no-h2", FAULT_NO_H2, ARG_NONE, 0, 0, 0 },
	{ "status", FAULT_STATUS, ARG_REQUIRED, 200, 599, 0 },
	{ "ctype", FAULT_CTYPE, ARG_NONE, 0, 0, 0 },
	{ "empty-body", FAULT_EMPTY_BODY, ARG_NONE, 0, 0, 0 },
	{ "huge-body", FAULT_HUGE_BODY, ARG_OPTIONAL, 1, 1 << 24, 70000 },
	{ "wrong-question", FAULT_WRONG_QUESTION, ARG_NONE, 0, 0, 0 },
	{ "qr0", FAULT_QR0, ARG_NONE, 0, 0, 0 },
	{ "short-answer", FAULT_SHORT_ANSWER, ARG_NONE, 0, 0, 0 },
	{ "goaway", FAULT_GOAWAY, ARG_OPTIONAL, 1, 1000000, 1 },
	{ "goaway-after", FAULT_GOAWAY_AFTER, ARG_REQUIRED, 0, 1000000, 0 },
	{ "rst-stream", FAULT_RST_STREAM, ARG_NONE, 0, 0, 0 },
	{ "refuse-stream", FAULT_REFUSE_STREAM, ARG_NONE, 0, 0, 0 },
	{ "max-streams", FAULT_MAX_STREAMS, ARG_REQUIRED, 0, 1000000, 0 },
	{ "stall-handshake", FAULT_STALL_HANDSHAKE, ARG_NONE, 0, 0, 0 },
	{ "stall-after-handshake", FAULT_STALL_AFTER_HANDSHAKE, ARG_NONE,
	    0, 0, 0 },
	{ "stall-mid-body", FAULT_STALL_MID_BODY, ARG_NONE, 0, 0, 0 },
	{ "no-settings", FAULT_NO_SETTINGS, ARG_NONE, 0, 0, 0 },
	{ "close-after", FAULT_CLOSE_AFTER, ARG_REQUIRED, 0, 1000000, 0 },
	{ "push-promise", FAULT_PUSH_PROMISE, ARG_NONE, 0, 0, 0 },
	{ "continuation-flood", FAULT_CONTINUATION_FLOOD, ARG_OPTIONAL,
	    1, 1000000, 10000 },
	{ "ping-flood", FAULT_PING_FLOOD, ARG_OPTIONAL, 1, 1000000, 10000 },
	{ "settings-flood", FAULT_SETTINGS_FLOOD, ARG_OPTIONAL,
	    1, 1000000, 10000 },
	{ "huge-header", FAULT_HUGE_HEADER, ARG_OPTIONAL, 1, 1 << 20, 70000 },
	{ "slow", FAULT_SLOW, ARG_REQUIRED, 0, 600000, 0 },
	{ "idle-goaway", FAULT_IDLE_GOAWAY, ARG_REQUIRED, 1, 600000, 0 },
	{ "idle-close", FAULT_IDLE_CLOSE, ARG_REQUIRED, 1, 600000, 0 },
};

struct conn;

struct stream {
	TAILQ_ENTRY(stream)	 entry;
	struct conn		*c;
	int32_t			 id;
	char			 method[16];
	char			 ctype[128];
	char			 authority[256];
	char			*path;		/* NULL until :path arrives */
	int			 too_big;	/* body or path over limits */
	uint8_t			*body;		/* the query */
	size_t			 bodylen, bodycap;
	struct event		*hold;		/* delayed answer, or NULL */
	int			 status;
	struct dns_query_info	 qi;
	uint8_t			*resp;		/* response body */
	size_t			 resplen, respoff;
	size_t			 limit;		/* body bytes we will send */
	int			 stalled;
	int			 push;		/* PUSH_PROMISE still to send */
	int			 early_hdr;	/* "early-data: 1" (RFC 8470) */
};
TAILQ_HEAD(stream_list, stream);

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	unsigned		 id;
	evutil_socket_t		 fd;
	enum conn_state		 state;
	struct bufferevent	*bev;
	SSL			*ssl;		/* owned by bev */
	nghttp2_session		*h2;
	struct stream_list	 streams;
	struct event		*kill;		/* deferred destroy */
	struct event		*timer;		/* GOAWAY linger or close */
	struct event		*idle;		/* idle-goaway, idle-close */
	char			 offered[128];	/* client's ALPN list */
	unsigned long		 raw_bytes;	/* CONN_STALL: bytes read */
	int			 raw_logged;
	size_t			 app_bytes;
	char			 h1buf[4096];
	size_t			 h1len;
	long			 requests, answered;
	int			 open, max_open;
	int32_t			 goaway_last;	/* -1: no GOAWAY sent */
	int			 linger;	/* the timer closes, not h2 */
	uint32_t		 next_push;
	int			 push;		/* some stream has push set */
	unsigned long		 ping_acks, settings_acks;
	int			 linger0;	/* RST at close */
	enum close_mode		 close_mode;
	const char		*close_reason;	/* non-NULL: closing */
	char			 detail[160];
};
TAILQ_HEAD(conn_list, conn);

static struct {
	int			 port;
	const char		*cert, *key, *logpath;
	const struct fault_def	*fault;
	long			 arg;
	int			 tls12_only;
	int			 early_data;	/* advertise it, reject it */
	int			 no_alpn;
	uint8_t			 alpn[256];	/* wire format */
	size_t			 alpn_len;
} opt;

static struct {
	struct event_base	*base;
	SSL_CTX			*ctx;
	struct evconnlistener	*listener;
	FILE			*log;
	struct conn_list	 conns;
	unsigned		 next_id;
	struct timespec		 start;
	unsigned long		 tls_ok, tls_fail, requests, answers;
} srv;

static void	conn_close(struct conn *, enum close_mode, const char *);
static void	conn_send(struct conn *);
static void	respond(struct conn *, struct stream *);

static long long
ms_since_start(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - srv.start.tv_sec) * 1000LL +
	    (now.tv_nsec - srv.start.tv_nsec) / 1000000;
}

/* One event line; the timestamp lets tests check delays. */
static void __attribute__((format(printf, 1, 2)))
evlog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(srv.log, fmt, ap);
	va_end(ap);
	fprintf(srv.log, " t=%lld\n", ms_since_start());
	fflush(srv.log);
}

/*
 * Make bytes from the wire safe as one key=value token: %XX for anything
 * that is not printable, and for space, quotes, backslash and '%'.
 */
static const char *
esc(const char *s, size_t len, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, n = 0;
	unsigned char ch;

	if (len == 0)
		return "-";
	for (i = 0; i < len; i++) {
		if (n + 4 + 3 >= size) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		ch = (unsigned char)s[i];
		if (ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '\'' ||
		    ch == '\\' || ch == '%') {
			buf[n++] = '%';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 15];
		} else
			buf[n++] = (char)ch;
	}
	buf[n] = '\0';
	return buf;
}

/* Free text (error strings) for a double-quoted value. */
static void
quote_safe(char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < ' ')
			*s = '?';
}

/* ---------------------------------------------------------------- streams */

static struct stream *
stream_new(struct conn *c, int32_t id)
{
	struct stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->c = c;
	s->id = id;
	TAILQ_INSERT_TAIL(&c->streams, s, entry);
	if (++c->open > c->max_open) {
		c->max_open = c->open;
		evlog("max-concurrent %u n=%d", c->id, c->max_open);
	}
	return s;
}

static void
stream_free(struct stream *s)
{
	TAILQ_REMOVE(&s->c->streams, s, entry);
	s->c->open--;
	if (s->hold != NULL)
		event_free(s->hold);
	free(s->path);
	free(s->body);
	free(s->resp);
	free(s);
}

/* The value of parameter name in the query string of path, or NULL. */
static const char *
query_param(const char *path, const char *name, size_t *len)
{
	const char *p, *end;
	size_t nlen = strlen(name);

	if ((p = strchr(path, '?')) == NULL)
		return NULL;
	for (p++; *p != '\0'; p = *end == '\0' ? end : end + 1) {
		end = p + strcspn(p, "&");
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			*len = end - p - nlen - 1;
			return p + nlen + 1;
		}
	}
	return NULL;
}

/* Find the query in s; returns the HTTP status RFC 8484 calls for. */
static int
stream_decode(struct stream *s)
{
	const char *dns;
	size_t len;
	long n;

	if (s->too_big)
		return 413;
	if (s->path == NULL || s->method[0] == '\0')
		return 400;
	if (strcmp(s->method, "POST") == 0)
		return strcasecmp(s->ctype, DOH_CTYPE) == 0 ? 200 : 415;
	if (strcmp(s->method, "GET") != 0)
		return 405;
	if ((dns = query_param(s->path, "dns", &len)) == NULL || len == 0)
		return 400;
	free(s->body);
	s->bodylen = s->bodycap = 0;
	if ((s->body = malloc(len)) == NULL)
		return 500;
	s->bodycap = len;
	if ((n = answer_b64url_decode(dns, len, s->body, len)) < 0)
		return 400;
	s->bodylen = (size_t)n;
	return 200;
}

static int
stream_text(struct stream *s, const char *text)
{
	free(s->resp);
	s->resplen = strlen(text);
	if ((s->resp = malloc(s->resplen + 1)) == NULL) {
		s->resplen = 0;
		return -1;
	}
	memcpy(s->resp, text, s->resplen + 1);
	return 0;
}

static void
hold_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	struct conn *c = s->c;

	(void)fd;
	(void)what;
	if (c->close_reason != NULL)
		return;
	respond(c, s);
	conn_send(c);
}

/* Answer s after ms milliseconds. */
static void
hold(struct stream *s, long ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (s->hold == NULL &&
	    (s->hold = evtimer_new(srv.base, hold_cb, s)) == NULL) {
		respond(s->c, s);
		return;
	}
	evtimer_add(s->hold, &tv);
}

static ssize_t
body_read_cb(nghttp2_session *h2, int32_t sid, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct stream *s = src->ptr;
	size_t n;

	(void)h2;
	(void)arg;
	if (s->respoff == s->limit && s->limit < s->resplen) {
		if (!s->stalled)
			evlog("stall-mid-body %u stream=%d sent=%zu of=%zu",
			    s->c->id, sid, s->respoff, s->resplen);
		s->stalled = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	n = s->limit - s->respoff;
	if (n > len)
		n = len;
	memcpy(buf, s->resp + s->respoff, n);
	s->respoff += n;
	if (s->respoff == s->resplen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1,	\
	strlen(v), NGHTTP2_NV_FLAG_NONE }

/* Submit the response to s, with the HTTP-level faults applied. */
static void
respond(struct conn *c, struct stream *s)
{
	nghttp2_data_provider prd;
	nghttp2_nv nva[5];
	const char *ctype = DOH_CTYPE;
	char status[8], clen[24], text[64];
	char *huge = NULL;
	uint8_t *p;
	size_t n = 0;
	long hlen;
	int rv;

	if (s->status != 200) {
		snprintf(text, sizeof(text), "faultsrv: status %d\n",
		    s->status);
		stream_text(s, text);
		ctype = "text/plain";
	}
	switch (opt.fault->fault) {
	case FAULT_STATUS:
		s->status = (int)opt.arg;
		snprintf(text, sizeof(text), "faultsrv: status %d\n",
		    s->status);
		stream_text(s, text);
		ctype = "text/plain";
		break;
	case FAULT_CTYPE:
		ctype = "text/plain";
		break;
	case FAULT_EMPTY_BODY:
		s->resplen = 0;
		break;
	case FAULT_HUGE_BODY:
		/* The real answer, then zeros: only the length is wrong. */
		if ((size_t)opt.arg > s->resplen &&
		    (p = realloc(s->resp, opt.arg)) != NULL) {
			memset(p + s->resplen, 0, opt.arg - s->resplen);
			s->resp = p;
			s->resplen = opt.arg;
		}
		break;
	default:
		break;
	}
	s->limit = s->resplen;
	if (opt.fault->fault == FAULT_STALL_MID_BODY)
		s->limit = s->resplen / 2;

	snprintf(status, sizeof(status), "%d", s->status);
	snprintf(clen, sizeof(clen), "%zu", s->resplen);
	nva[n++] = (nghttp2_nv)NV(":status", status);
	nva[n++] = (nghttp2_nv)NV("content-type", ctype);
	nva[n++] = (nghttp2_nv)NV("content-length", clen);
	if (s->status >= 300 && s->status < 400)
		nva[n++] = (nghttp2_nv)NV("location", "/moved");
	hlen = opt.fault->fault == FAULT_HUGE_HEADER ? opt.arg : 0;
	if (hlen > 0 && (huge = malloc(hlen + 1)) != NULL) {
		/* 'X' is 8 bits in Huffman: the block stays as big. */
		memset(huge, 'X', hlen);
		huge[hlen] = '\0';
		nva[n++] = (nghttp2_nv)NV("x-huge", huge);
		evlog("huge-header %u stream=%d bytes=%ld", c->id, s->id,
		    hlen);
	}
	prd.source.ptr = s;
	prd.read_callback = body_read_cb;
	rv = nghttp2_submit_response(c->h2, s->id, nva, n,
	    s->resplen > 0 ? &prd : NULL);
	free(huge);	/* nghttp2 copied it */
	if (rv != 0) {
		evlog("error %u stream=%d submit=%s", c->id, s->id,
		    nghttp2_strerror(rv));
		return;
	}
	c->answered++;
	srv.answers++;
	evlog("answer %u stream=%d status=%d ctype=%s len=%zu", c->id, s->id,
	    s->status, ctype, s->resplen);
	if (opt.fault->fault == FAULT_GOAWAY_AFTER && c->answered == opt.arg &&
	    c->goaway_last < 0) {
		c->goaway_last = s->id;
		nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_NO_ERROR, NULL, 0);
	}
}

/* idle-goaway, idle-close: (re)start the idle clock of c. */
static void
idle_arm(struct conn *c)
{
	struct timeval tv = { opt.arg / 1000, (opt.arg % 1000) * 1000 };

	if (c->idle != NULL && c->close_reason == NULL &&
	    c->goaway_last < 0)
		evtimer_add(c->idle, &tv);
}

/* Idle for the fault's time with no stream open: say goodbye. */
static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->close_reason != NULL || c->goaway_last >= 0)
		return;
	if (c->open > 0) {
		idle_arm(c);
		return;
	}
	evlog("idle %u ms=%ld action=%s", c->id, opt.arg,
	    opt.fault->fault == FAULT_IDLE_GOAWAY ? "goaway" : "close");
	if (opt.fault->fault == FAULT_IDLE_CLOSE) {
		conn_close(c, CLOSE_FLUSH, "idle");
		return;
	}
	c->goaway_last = nghttp2_session_get_last_proc_stream_id(c->h2);
	nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, c->goaway_last,
	    NGHTTP2_NO_ERROR, NULL, 0);
	conn_send(c);
}

/* A request is complete: log it, then answer it or misbehave. */
static void
request_done(struct conn *c, struct stream *s)
{
	char path[FS_LOG_VALUE], ctype[160], auth[300], name[1024];
	char qname[FS_LOG_VALUE], body[2 * FS_BODY_LOGGED + 1];
	static const char hex[] = "0123456789abcdef";
	uint32_t code;
	size_t i;
	int rv;

	c->requests++;
	srv.requests++;
	idle_arm(c);
	s->status = stream_decode(s);
	if (s->status == 200) {
		if ((s->resp = malloc(FS_ANSWER_CAP)) == NULL)
			s->status = 500;
		else if ((s->resplen = answer_make(s->resp, FS_ANSWER_CAP,
		    s->body, s->bodylen, opt.fault->fault, &s->qi)) == 0)
			s->status = 400;
	}
	(void)dnsmsg_name_to_text(s->qi.qname, s->qi.qname_len, name,
	    sizeof(name), 0);
	/* The query's bytes, so tests can see exactly what dohstub sent. */
	for (i = 0; i < s->bodylen && i < FS_BODY_LOGGED; i++) {
		body[2 * i] = hex[s->body[i] >> 4];
		body[2 * i + 1] = hex[s->body[i] & 15];
	}
	body[2 * i] = '\0';
	evlog("request %u stream=%d method=%s path=%s authority=%s ctype=%s "
	    "len=%zu qname=%s qtype=%u early-data=%d body=%s", c->id, s->id,
	    s->method[0] != '\0' ? s->method : "-",
	    s->path != NULL ? esc(s->path, strlen(s->path), path,
	    sizeof(path)) : "-",
	    esc(s->authority, strlen(s->authority), auth, sizeof(auth)),
	    esc(s->ctype, strlen(s->ctype), ctype, sizeof(ctype)),
	    s->bodylen, esc(name, strlen(name), qname, sizeof(qname)),
	    s->qi.qtype, s->early_hdr, i > 0 ? body : "-");

	if (c->goaway_last >= 0 && s->id > c->goaway_last) {
		evlog("ignore %u stream=%d goaway-last=%d", c->id, s->id,
		    c->goaway_last);
		return;
	}
	switch (opt.fault->fault) {
	case FAULT_CLOSE_AFTER:
		if (c->requests > opt.arg) {
			conn_close(c, CLOSE_FLUSH, "close-after");
			return;
		}
		break;
	case FAULT_GOAWAY:
		if (c->requests == opt.arg) {
			c->goaway_last = s->id > 2 ? s->id - 2 : 0;
			nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
			    c->goaway_last, NGHTTP2_NO_ERROR, NULL, 0);
			return;
		}
		break;
	case FAULT_RST_STREAM:
	case FAULT_REFUSE_STREAM:
		code = opt.fault->fault == FAULT_RST_STREAM ?
		    NGHTTP2_INTERNAL_ERROR : NGHTTP2_REFUSED_STREAM;
		if ((rv = nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE,
		    s->id, code)) != 0)
			evlog("error %u stream=%d submit=%s", c->id, s->id,
			    nghttp2_strerror(rv));
		return;
	case FAULT_STALL_AFTER_HANDSHAKE:
	case FAULT_NO_SETTINGS:
		evlog("stall %u stream=%d", c->id, s->id);
		return;
	case FAULT_PUSH_PROMISE:
		/* Sent by conn_send(), after our ACK of ENABLE_PUSH 0. */
		s->push = 1;
		c->push = 1;
		return;
	case FAULT_CONTINUATION_FLOOD:
		if (s->status != 200 || s->resplen > H2RAW_MAX_PAYLOAD)
			break;
		if (h2raw_continuation_flood(bufferevent_get_output(c->bev),
		    (uint32_t)s->id, opt.arg, s->resp, s->resplen) == -1) {
			conn_close(c, CLOSE_NOW, "nomem");
			return;
		}
		evlog("continuation-flood %u stream=%d frames=%ld", c->id,
		    s->id, opt.arg);
		return;
	case FAULT_SLOW:
		hold(s, opt.arg);
		return;
	case FAULT_MAX_STREAMS:
		/* Held answers let a test see how many streams overlap. */
		if (opt.arg > 0) {
			hold(s, FS_HOLD_MS);
			return;
		}
		break;
	default:
		break;
	}
	respond(c, s);
}

/* ---------------------------------------------------------------- nghttp2 */

static int
on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame,
    void *arg)
{
	struct conn *c = arg;
	struct stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((s = stream_new(c, frame->hd.stream_id)) == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, s);
	return 0;
}

static void
copy_value(char *dst, size_t size, const uint8_t *v, size_t len)
{
	if (len >= size)
		len = size - 1;
	if (len > 0)	/* v may be NULL then (empty GOAWAY debug data) */
		memcpy(dst, v, len);
	dst[len] = '\0';
}

static int
on_header(nghttp2_session *h2, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *arg)
{
	struct stream *s;

	(void)flags;
	(void)arg;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
	    (s = nghttp2_session_get_stream_user_data(h2,
	    frame->hd.stream_id)) == NULL)
		return 0;
#define IS(n) (namelen == sizeof(n) - 1 && memcmp(name, n, namelen) == 0)
	if (IS(":method"))
		copy_value(s->method, sizeof(s->method), value, valuelen);
	else if (IS("content-type"))
		copy_value(s->ctype, sizeof(s->ctype), value, valuelen);
	else if (IS(":authority"))
		copy_value(s->authority, sizeof(s->authority), value,
		    valuelen);
	else if (IS("early-data"))
		s->early_hdr = valuelen == 1 && value[0] == '1';
	else if (IS(":path") && s->path == NULL) {
		if (valuelen > FS_MAX_PATH)
			s->too_big = 1;
		else if ((s->path = malloc(valuelen + 1)) == NULL)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		else
			copy_value(s->path, valuelen + 1, value, valuelen);
	}
#undef IS
	return 0;
}

static int
on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t sid,
    const uint8_t *data, size_t len, void *arg)
{
	struct stream *s;
	uint8_t *p;
	size_t cap;

	(void)flags;
	(void)arg;
	if ((s = nghttp2_session_get_stream_user_data(h2, sid)) == NULL ||
	    s->too_big)
		return 0;
	if (len > DNS_MAX_MSG - s->bodylen) {
		s->too_big = 1;
		return 0;
	}
	if (s->bodylen + len > s->bodycap) {
		cap = s->bodycap == 0 ? 512 : s->bodycap;
		while (cap < s->bodylen + len)
			cap *= 2;
		if ((p = realloc(s->body, cap)) == NULL)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		s->body = p;
		s->bodycap = cap;
	}
	memcpy(s->body + s->bodylen, data, len);
	s->bodylen += len;
	return 0;
}

static void
log_client_settings(struct conn *c, const nghttp2_settings *set)
{
	/* RFC 9113 6.5.2 and RFC 8441, 9218; others are logged as idN. */
	static const char *const names[] = {
		NULL, "header-table-size", "enable-push",
		"max-concurrent-streams", "initial-window-size",
		"max-frame-size", "max-header-list-size", NULL,
		"enable-connect-protocol", "no-rfc7540-priorities",
	};
	char buf[512], id[16];
	const char *name;
	size_t i, n = 0;
	int32_t sid;
	int len;

	buf[0] = '\0';
	for (i = 0; i < set->niv && n < sizeof(buf); i++) {
		sid = set->iv[i].settings_id;
		name = sid >= 0 && (size_t)sid < sizeof(names) /
		    sizeof(names[0]) ? names[sid] : NULL;
		if (name == NULL) {
			snprintf(id, sizeof(id), "id%d", sid);
			name = id;
		}
		len = snprintf(buf + n, sizeof(buf) - n, " %s=%u", name,
		    set->iv[i].value);
		if (len < 0)
			break;
		n += (size_t)len;
	}
	evlog("client-settings %u%s", c->id, buf);
}

static int
on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *arg)
{
	struct conn *c = arg;
	struct stream *s;
	char debug[128];

	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
		    (s = nghttp2_session_get_stream_user_data(h2,
		    frame->hd.stream_id)) != NULL && c->close_reason == NULL)
			request_done(c, s);
		break;
	case NGHTTP2_SETTINGS:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			c->settings_acks++;
		else
			log_client_settings(c, &frame->settings);
		break;
	case NGHTTP2_PING:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			c->ping_acks++;
		else
			evlog("client-ping %u", c->id);
		break;
	case NGHTTP2_RST_STREAM:
		evlog("client-rst %u stream=%d code=%s", c->id,
		    frame->hd.stream_id,
		    nghttp2_http2_strerror(frame->rst_stream.error_code));
		break;
	case NGHTTP2_GOAWAY:
		copy_value(debug, sizeof(debug), frame->goaway.opaque_data,
		    frame->goaway.opaque_data_len);
		quote_safe(debug);
		evlog("client-goaway %u last=%d code=%s debug=\"%s\"", c->id,
		    frame->goaway.last_stream_id,
		    nghttp2_http2_strerror(frame->goaway.error_code), debug);
		break;
	default:
		break;
	}
	return 0;
}

static int
on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *arg)
{
	struct conn *c = arg;
	struct timeval tv = { 0, FS_LINGER_MS * 1000 };

	(void)h2;
	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		evlog("goaway %u last=%d code=%s", c->id,
		    frame->goaway.last_stream_id,
		    nghttp2_http2_strerror(frame->goaway.error_code));
		if (opt.fault->fault == FAULT_GOAWAY ||
		    opt.fault->fault == FAULT_GOAWAY_AFTER ||
		    opt.fault->fault == FAULT_IDLE_GOAWAY) {
			c->linger = 1;
			evtimer_add(c->timer, &tv);
		}
		break;
	case NGHTTP2_RST_STREAM:
		evlog("rst-stream %u stream=%d code=%s", c->id,
		    frame->hd.stream_id,
		    nghttp2_http2_strerror(frame->rst_stream.error_code));
		break;
	default:
		break;
	}
	return 0;
}

static int
on_frame_not_send(nghttp2_session *h2, const nghttp2_frame *frame,
    int error, void *arg)
{
	struct conn *c = arg;

	(void)h2;
	evlog("error %u stream=%d not-sent-type=%u error=\"%s\"", c->id,
	    frame->hd.stream_id, frame->hd.type, nghttp2_strerror(error));
	return 0;
}

static int
on_stream_close(nghttp2_session *h2, int32_t sid, uint32_t code, void *arg)
{
	struct stream *s;

	(void)code;
	(void)arg;
	if ((s = nghttp2_session_get_stream_user_data(h2, sid)) != NULL) {
		nghttp2_session_set_stream_user_data(h2, sid, NULL);
		stream_free(s);
	}
	return 0;
}

static int
on_h2_error(nghttp2_session *h2, int code, const char *msg, size_t len,
    void *arg)
{
	struct conn *c = arg;
	char buf[256];

	(void)h2;
	copy_value(buf, sizeof(buf), (const uint8_t *)msg, len);
	quote_safe(buf);
	evlog("h2-error %u code=%d msg=\"%s\"", c->id, code, buf);
	return 0;
}

/* ---------------------------------------------------------------- conns */

static void
conn_log_raw(struct conn *c)
{
	unsigned long n = c->raw_bytes;

	if (c->raw_logged)
		return;
	if (c->ssl != NULL && SSL_get_rbio(c->ssl) != NULL)
		n = (unsigned long)BIO_number_read(SSL_get_rbio(c->ssl));
	c->raw_logged = 1;
	evlog("bytes-before-tls %u bytes=%lu", c->id, n);
}

static void
conn_destroy(struct conn *c)
{
	struct stream *s;
	struct linger lg = { 1, 0 };

	conn_log_raw(c);
	if (c->h2 != NULL)
		evlog("h2-stats %u requests=%ld answered=%ld ping-acks=%lu "
		    "settings-acks=%lu max-concurrent=%d", c->id,
		    c->requests, c->answered, c->ping_acks, c->settings_acks,
		    c->max_open);
	evlog("app-bytes %u bytes=%zu", c->id, c->app_bytes);
	if (c->detail[0] != '\0')
		evlog("close %u reason=%s state=%s detail=\"%s\"", c->id,
		    c->close_reason, conn_state_names[c->state], c->detail);
	else
		evlog("close %u reason=%s state=%s", c->id, c->close_reason,
		    conn_state_names[c->state]);

	if (c->close_mode == CLOSE_GRACEFUL && c->ssl != NULL &&
	    (c->state == CONN_H2 || c->state == CONN_HTTP1)) {
		/* Output is flushed, so close_notify goes out last. */
		SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	if (c->linger0)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	/* nghttp2 calls no callback from here: free the streams ourselves. */
	if (c->h2 != NULL)
		nghttp2_session_del(c->h2);
	while ((s = TAILQ_FIRST(&c->streams)) != NULL)
		stream_free(s);
	if (c->bev != NULL)
		bufferevent_free(c->bev);	/* closes fd, frees ssl */
	else if (c->fd != -1)
		close(c->fd);
	event_free(c->kill);
	event_free(c->timer);
	if (c->idle != NULL)
		event_free(c->idle);
	TAILQ_REMOVE(&srv.conns, c, entry);
	free(c);
}

static void
conn_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_destroy(arg);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->close_reason != NULL)	/* output never drained */
		event_active(c->kill, 0, 0);
	else
		conn_close(c, CLOSE_GRACEFUL, "goaway");
}

/*
 * Close c once its output is written (unless mode is CLOSE_NOW).  The
 * object dies in conn_kill_cb, outside any nghttp2 or bufferevent
 * callback.
 */
static void
conn_close(struct conn *c, enum close_mode mode, const char *reason)
{
	struct timeval tv = { FS_CLOSE_DEADLINE_MS / 1000,
	    (FS_CLOSE_DEADLINE_MS % 1000) * 1000 };

	if (c->close_reason != NULL) {
		if (mode == CLOSE_NOW) {
			c->close_mode = CLOSE_NOW;
			event_active(c->kill, 0, 0);
		}
		return;
	}
	c->close_reason = reason;
	c->close_mode = mode;
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ);
	if (mode == CLOSE_NOW || c->bev == NULL ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		event_active(c->kill, 0, 0);
		return;
	}
	evtimer_add(c->timer, &tv);
}

/*
 * push-promise: nghttp2 refuses (the client said ENABLE_PUSH 0), so the
 * frame is written raw, once nghttp2's output (with the SETTINGS ACK that
 * makes the client's ENABLE_PUSH 0 binding) is out, and before the
 * response closes the stream.
 */
static void
conn_push(struct conn *c)
{
	struct stream *s;

	c->push = 0;
	TAILQ_FOREACH(s, &c->streams, entry) {
		if (!s->push)
			continue;
		s->push = 0;
		if (h2raw_push_promise(bufferevent_get_output(c->bev),
		    (uint32_t)s->id, c->next_push, s->authority[0] != '\0' ?
		    s->authority : "doh.test", "/pushed") == 0)
			evlog("push-promise %u stream=%d promised=%u", c->id,
			    s->id, c->next_push);
		c->next_push += 2;
		respond(c, s);
	}
}

/* Hand everything nghttp2 has queued to the bufferevent. */
static void
conn_send(struct conn *c)
{
	const uint8_t *data;
	ssize_t n;

	if (c->h2 == NULL || c->close_reason != NULL ||
	    opt.fault->fault == FAULT_NO_SETTINGS)
		return;
	for (;;) {
		if ((n = nghttp2_session_mem_send(c->h2, &data)) < 0) {
			snprintf(c->detail, sizeof(c->detail), "%s",
			    nghttp2_strerror((int)n));
			conn_close(c, CLOSE_NOW, "h2-error");
			return;
		}
		if (n == 0) {
			if (!c->push)
				break;
			conn_push(c);
			continue;
		}
		if (bufferevent_write(c->bev, data, (size_t)n) == -1) {
			conn_close(c, CLOSE_NOW, "nomem");
			return;
		}
	}
	if (!nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2) && !c->linger)
		conn_close(c, CLOSE_GRACEFUL, "h2-done");
}

static int
h2_start(struct conn *c)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_option *o;
	nghttp2_settings_entry iv[1];
	long i;
	int rv;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
	    on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs,
	    on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs,
	    on_frame_send);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs,
	    on_frame_not_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
	    on_stream_close);
	nghttp2_session_callbacks_set_error_callback2(cbs, on_h2_error);
	if (nghttp2_option_new(&o) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return -1;
	}
	/* huge-header goes over nghttp2's default limit of 64 KiB. */
	nghttp2_option_set_max_send_header_block_length(o, (1 << 20) + 4096);
	rv = nghttp2_session_server_new2(&c->h2, cbs, c, o);
	nghttp2_option_del(o);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0)
		return -1;
	c->state = CONN_H2;
	if (opt.fault->fault == FAULT_NO_SETTINGS)
		return 0;

	iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	iv[0].value = opt.fault->fault == FAULT_MAX_STREAMS ?
	    (uint32_t)opt.arg : FS_STREAMS;
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 1) != 0)
		return -1;
	switch (opt.fault->fault) {
	case FAULT_PING_FLOOD:
		for (i = 0; i < opt.arg; i++)
			if (nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE,
			    NULL) != 0)
				return -1;
		evlog("ping-flood %u count=%ld", c->id, opt.arg);
		break;
	case FAULT_SETTINGS_FLOOD:
		/* Through nghttp2, so that it expects every ACK. */
		for (i = 0; i < opt.arg; i++)
			if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE,
			    iv, 1) != 0)
				return -1;
		evlog("settings-flood %u count=%ld", c->id, opt.arg);
		break;
	case FAULT_GOAWAY_AFTER:
		if (opt.arg == 0) {
			c->goaway_last = 0;
			nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, 0,
			    NGHTTP2_NO_ERROR, NULL, 0);
		}
		break;
	case FAULT_IDLE_GOAWAY:
	case FAULT_IDLE_CLOSE:
		if ((c->idle = evtimer_new(srv.base, idle_cb, c)) == NULL)
			return -1;
		idle_arm(c);
		break;
	default:
		break;
	}
	return 0;
}

/* Called once the handshake is done (from either bufferevent callback). */
static void
conn_tls_done(struct conn *c)
{
	const unsigned char *alpn = NULL;
	const char *sni, *early;
	unsigned int alpnlen = 0;

	c->state = CONN_HTTP1;	/* until h2 is up; never twice here */
	srv.tls_ok++;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpnlen);
	sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
	switch (SSL_get_early_data_status(c->ssl)) {
	case SSL_EARLY_DATA_ACCEPTED:
		early = "accepted";
		break;
	case SSL_EARLY_DATA_REJECTED:
		early = "rejected";
		break;
	default:
		early = "not-sent";
		break;
	}
	evlog("tls-ok %u version=%s cipher=%s alpn=%.*s offered=%s sni=%s "
	    "resumed=%d early=%s",
	    c->id, SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
	    alpnlen > 0 ? (int)alpnlen : 1, alpnlen > 0 ? (const char *)alpn :
	    "-", c->offered[0] != '\0' ? c->offered : "-",
	    sni != NULL ? sni : "-", SSL_session_reused(c->ssl), early);
	conn_log_raw(c);
	if (alpnlen == 2 && memcmp(alpn, "h2", 2) == 0) {
		if (h2_start(c) == -1) {
			conn_close(c, CLOSE_NOW, "nomem");
			return;
		}
		conn_send(c);
	}
}

static void
h1_read(struct conn *c, struct evbuffer *in)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const char reply[] = "HTTP/1.1 505 HTTP Version Not Supported"
	    "\r\ncontent-type: text/plain\r\ncontent-length: 19\r\n"
	    "connection: close\r\n\r\nfaultsrv speaks h2\n";
	char method[32], path[FS_LOG_VALUE];
	size_t i, n, room, end = 0, sp1, sp2;

	room = sizeof(c->h1buf) - c->h1len;
	n = evbuffer_remove(in, c->h1buf + c->h1len, room);
	evbuffer_drain(in, evbuffer_get_length(in));
	c->h1len += n;
	if (c->h1len >= sizeof(preface) - 1 &&
	    memcmp(c->h1buf, preface, sizeof(preface) - 1) == 0) {
		conn_close(c, CLOSE_NOW, "h2-without-alpn");
		return;
	}
	for (i = 0; i + 4 <= c->h1len && end == 0; i++)
		if (memcmp(c->h1buf + i, "\r\n\r\n", 4) == 0)
			end = i;
	if (end == 0) {
		if (c->h1len == sizeof(c->h1buf))
			conn_close(c, CLOSE_NOW, "http1-too-long");
		return;
	}
	sp1 = strcspn(c->h1buf, " \r");
	sp2 = sp1 < end ? sp1 + 1 + strcspn(c->h1buf + sp1 + 1, " \r") : sp1;
	if (sp2 > end)
		sp2 = end;
	evlog("http1-request %u method=%s path=%s", c->id,
	    esc(c->h1buf, sp1, method, sizeof(method)),
	    sp1 < sp2 ? esc(c->h1buf + sp1 + 1, sp2 - sp1 - 1, path,
	    sizeof(path)) : "-");
	bufferevent_write(c->bev, reply, sizeof(reply) - 1);
	conn_close(c, CLOSE_GRACEFUL, "http1");
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const uint8_t *data;
	size_t len = evbuffer_get_length(in);
	ssize_t rv;

	if (c->state == CONN_STALL) {
		c->raw_bytes += len;
		evbuffer_drain(in, len);
		return;
	}
	/* Deferred callbacks may bring data before the connected event. */
	if (c->state == CONN_HANDSHAKE)
		conn_tls_done(c);
	if (c->close_reason != NULL) {
		evbuffer_drain(in, len);
		return;
	}
	c->app_bytes += len;
	if (c->state == CONN_HTTP1) {
		h1_read(c, in);
		return;
	}
	if ((data = evbuffer_pullup(in, -1)) == NULL && len > 0) {
		conn_close(c, CLOSE_NOW, "nomem");
		return;
	}
	rv = nghttp2_session_mem_recv(c->h2, data, len);
	evbuffer_drain(in, len);
	if (rv < 0) {
		snprintf(c->detail, sizeof(c->detail), "%s",
		    nghttp2_strerror((int)rv));
		conn_close(c, CLOSE_NOW, "h2-error");
		return;
	}
	conn_send(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->close_reason != NULL &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		event_active(c->kill, 0, 0);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	unsigned long e;
	const char *r;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CONN_HANDSHAKE)
			conn_tls_done(c);
		return;
	}
	if (c->detail[0] == '\0') {
		e = c->ssl != NULL ? bufferevent_get_openssl_error(bev) : 0;
		/* libevent reports SSL_ERROR_SYSCALL as a bare 5. */
		if (e == SSL_ERROR_SYSCALL)
			snprintf(c->detail, sizeof(c->detail), "%s",
			    err != 0 ? evutil_socket_error_to_string(err) :
			    "syscall");
		else if (e != 0 &&
		    (r = ERR_reason_error_string(e)) != NULL)
			snprintf(c->detail, sizeof(c->detail), "%s", r);
		else if (e != 0)
			ERR_error_string_n(e, c->detail, sizeof(c->detail));
		else if ((what & BEV_EVENT_ERROR) && err != 0)
			snprintf(c->detail, sizeof(c->detail), "%s",
			    evutil_socket_error_to_string(err));
		while (c->ssl != NULL && bufferevent_get_openssl_error(bev))
			;
		quote_safe(c->detail);
	}
	if (c->state == CONN_HANDSHAKE) {
		srv.tls_fail++;
		evlog("tls-fail %u reason=\"%s\"", c->id,
		    c->detail[0] != '\0' ? c->detail :
		    (what & BEV_EVENT_EOF) ? "eof" : "error");
	}
	conn_close(c, CLOSE_NOW, (what & BEV_EVENT_EOF) ? "eof" : "error");
}

static struct conn *
conn_new(evutil_socket_t fd)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->id = ++srv.next_id;
	c->fd = fd;
	c->goaway_last = -1;
	c->next_push = 2;
	TAILQ_INIT(&c->streams);
	if ((c->kill = event_new(srv.base, -1, 0, conn_kill_cb, c)) == NULL ||
	    (c->timer = evtimer_new(srv.base, conn_timer_cb, c)) == NULL) {
		if (c->kill != NULL)
			event_free(c->kill);
		free(c);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&srv.conns, c, entry);
	return c;
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;
	struct conn *c;
	char addr[INET_ADDRSTRLEN];
	int one = 1;

	(void)l;
	(void)arg;
	if ((c = conn_new(fd)) == NULL) {
		evlog("error 0 accept=nomem");
		close(fd);
		return;
	}
	if (salen >= (int)sizeof(*sin) && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
	else
		snprintf(addr, sizeof(addr), "?");
	evlog("conn %u peer=%s:%u", c->id, addr, ntohs(sin->sin_port));

	switch (opt.fault->fault) {
	case FAULT_REFUSE:
		conn_close(c, CLOSE_NOW, "refuse");
		return;
	case FAULT_RESET:
		c->linger0 = 1;
		conn_close(c, CLOSE_NOW, "reset");
		return;
	case FAULT_STALL_HANDSHAKE:
		c->state = CONN_STALL;
		c->bev = bufferevent_socket_new(srv.base, fd,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		break;
	default:
		c->state = CONN_HANDSHAKE;
		if ((c->ssl = SSL_new(srv.ctx)) == NULL)
			break;
		SSL_set_app_data(c->ssl, c);
		c->bev = bufferevent_openssl_socket_new(srv.base, fd, c->ssl,
		    BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (c->bev == NULL) {
			SSL_free(c->ssl);
			c->ssl = NULL;
		}
		break;
	}
	if (c->bev == NULL) {
		conn_close(c, CLOSE_NOW, "nomem");
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	evlog("error 0 accept=\"%s\"", evutil_socket_error_to_string(err));
}

/* ---------------------------------------------------------------- TLS */

/* Server preference order; no common protocol means no ALPN at all. */
static int
alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct conn *c = SSL_get_app_data(ssl);
	const unsigned char *p, *q, *end = in + inlen;
	size_t n = 0;

	(void)arg;
	for (q = in; q < end && q + 1 + q[0] <= end; q += 1 + q[0]) {
		if (c == NULL || n + q[0] + 2 > sizeof(c->offered))
			break;
		if (n > 0)
			c->offered[n++] = ',';
		memcpy(c->offered + n, q + 1, q[0]);
		n += q[0];
		c->offered[n] = '\0';
	}
	for (p = opt.alpn; p < opt.alpn + opt.alpn_len; p += 1 + p[0])
		for (q = in; q < end && q + 1 + q[0] <= end; q += 1 + q[0])
			if (p[0] == q[0] && memcmp(p + 1, q + 1, p[0]) == 0) {
				*out = q + 1;
				*outlen = q[0];
				return SSL_TLSEXT_ERR_OK;
			}
	return SSL_TLSEXT_ERR_NOACK;
}

static int
hello_fail_cb(SSL *ssl, int *al, void *arg)
{
	(void)ssl;
	(void)arg;
	*al = SSL_AD_HANDSHAKE_FAILURE;
	return SSL_CLIENT_HELLO_ERROR;
}

static SSL_CTX *
tls_ctx(void)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (opt.tls12_only)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, opt.cert) != 1)
		fatalx("%s: cannot load certificate chain", opt.cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, opt.key, SSL_FILETYPE_PEM) != 1)
		fatalx("%s: cannot load private key", opt.key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		fatalx("%s: key does not match %s", opt.key, opt.cert);
	if (!opt.no_alpn)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, NULL);
	if (opt.fault->fault == FAULT_TLS_FAIL)
		SSL_CTX_set_client_hello_cb(ctx, hello_fail_cb, NULL);
	/*
	 * Tickets promise early data; bufferevent_openssl never calls
	 * SSL_read_early_data, so OpenSSL rejects (skips) what comes.  No
	 * anti-replay: it would keep every ticket in a cache this server
	 * does not keep, and refuse to resume at all.
	 */
	if (opt.early_data) {
		if (SSL_CTX_set_max_early_data(ctx, 16384) != 1)
			fatalx("SSL_CTX_set_max_early_data failed");
		SSL_CTX_set_options(ctx, SSL_OP_NO_ANTI_REPLAY);
	}
	return ctx;
}

/* ---------------------------------------------------------------- main */

static void __attribute__((noreturn))
usage(void)
{
	size_t i, col = 80;
	int n;

	fprintf(stderr, "usage: faultsrv --port N --cert FILE --key FILE "
	    "[--fault NAME[:ARG]]\n\t[--tls12-only] [--early-data] "
	    "[--alpn LIST|none] [--log FILE]\nfaults:");
	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		n = (int)strlen(faults[i].name) + 1 +
		    (faults[i].arg == ARG_REQUIRED ? 2 :
		    faults[i].arg == ARG_OPTIONAL ? 4 : 0);
		if (col + (size_t)n > 72) {
			fprintf(stderr, "\n\t");
			col = 0;
		}
		fprintf(stderr, "%s%s ", faults[i].name,
		    faults[i].arg == ARG_REQUIRED ? ":N" :
		    faults[i].arg == ARG_OPTIONAL ? "[:N]" : "");
		col += (size_t)n;
	}
	fprintf(stderr, "\n");
	exit(2);
}

static long
parse_num(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		fatalx("%s: \"%s\" is not a number in [%ld, %ld]", what, s,
		    min, max);
	return v;
}

static void
parse_fault(const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t i, len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);

	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		if (strlen(faults[i].name) == len &&
		    strncmp(faults[i].name, spec, len) == 0)
			break;
	if (i == sizeof(faults) / sizeof(faults[0]))
		fatalx("--fault: unknown fault \"%.*s\"", (int)len, spec);
	opt.fault = &faults[i];
	opt.arg = opt.fault->def;
	if (colon != NULL && opt.fault->arg == ARG_NONE)
		fatalx("--fault: %s takes no argument", opt.fault->name);
	if (colon == NULL && opt.fault->arg == ARG_REQUIRED)
		fatalx("--fault: %s needs an argument (%s:N)",
		    opt.fault->name, opt.fault->name);
	if (colon != NULL)
		opt.arg = parse_num(colon + 1, opt.fault->min, opt.fault->max,
		    opt.fault->name);
}

static void
parse_alpn(const char *list)
{
	const char *p = list;
	size_t len;

	opt.alpn_len = 0;
	opt.no_alpn = strcmp(list, "none") == 0;
	if (opt.no_alpn)
		return;
	for (;;) {
		len = strcspn(p, ",");
		if (len == 0 || len > 255 ||
		    opt.alpn_len + 1 + len > sizeof(opt.alpn))
			fatalx("--alpn: bad list \"%s\"", list);
		opt.alpn[opt.alpn_len++] = (uint8_t)len;
		memcpy(opt.alpn + opt.alpn_len, p, len);
		opt.alpn_len += len;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	evlog("signal 0 sig=%d", (int)sig);
	event_base_loopbreak(srv.base);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "port",	required_argument,	NULL, 'p' },
		{ "cert",	required_argument,	NULL, 'c' },
		{ "key",	required_argument,	NULL, 'k' },
		{ "fault",	required_argument,	NULL, 'f' },
		{ "tls12-only",	no_argument,		NULL, '2' },
		{ "early-data",	no_argument,		NULL, 'e' },
		{ "alpn",	required_argument,	NULL, 'a' },
		{ "log",	required_argument,	NULL, 'l' },
		{ NULL,		0,			NULL, 0 },
	};
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct event *sigterm, *sigint;
	struct conn *c;
	const char *alpn = "h2";
	int ch, have_port = 0;

	log_init("faultsrv", LOG_LEVEL_INFO, 0);
	opt.fault = &faults[0];
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			opt.port = (int)parse_num(optarg, 0, 65535, "--port");
			have_port = 1;
			break;
		case 'c':
			opt.cert = optarg;
			break;
		case 'k':
			opt.key = optarg;
			break;
		case 'f':
			parse_fault(optarg);
			break;
		case '2':
			opt.tls12_only = 1;
			break;
		case 'e':
			opt.early_data = 1;
			break;
		case 'a':
			alpn = optarg;
			break;
		case 'l':
			opt.logpath = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !have_port || opt.cert == NULL ||
	    opt.key == NULL)
		usage();
	if (opt.fault->fault == FAULT_TLS12_ONLY)
		opt.tls12_only = 1;
	/* The fault wins over --alpn: it is what the run is about. */
	parse_alpn(opt.fault->fault == FAULT_NO_H2 ? "http/1.1" : alpn);

	srv.log = stderr;
	if (opt.logpath != NULL && (srv.log = fopen(opt.logpath, "w")) == NULL)
		fatal("%s", opt.logpath);
	clock_gettime(CLOCK_MONOTONIC, &srv.start);
	TAILQ_INIT(&srv.conns);
	signal(SIGPIPE, SIG_IGN);
	srv.ctx = tls_ctx();
	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)opt.port);
	srv.listener = evconnlistener_new_bind(srv.base, accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (srv.listener == NULL)
		fatal("listen on 127.0.0.1:%d", opt.port);
	evconnlistener_set_error_cb(srv.listener, accept_error_cb);
	if (getsockname(evconnlistener_get_fd(srv.listener),
	    (struct sockaddr *)&sin, &slen) == -1)
		fatal("getsockname");

	sigterm = evsignal_new(srv.base, SIGTERM, signal_cb, NULL);
	sigint = evsignal_new(srv.base, SIGINT, signal_cb, NULL);
	if (sigterm == NULL || sigint == NULL ||
	    evsignal_add(sigterm, NULL) == -1 ||
	    evsignal_add(sigint, NULL) == -1)
		fatalx("cannot catch signals");

	evlog("listen 0 port=%u fault=%s arg=%ld tls12-only=%d alpn=%s",
	    ntohs(sin.sin_port), opt.fault->name, opt.arg, opt.tls12_only,
	    opt.fault->fault == FAULT_NO_H2 ? "http/1.1" : alpn);
	printf("ready %u\n", ntohs(sin.sin_port));
	fflush(stdout);

	event_base_dispatch(srv.base);

	while ((c = TAILQ_FIRST(&srv.conns)) != NULL) {
		if (c->close_reason == NULL)
			c->close_reason = "shutdown";
		conn_destroy(c);
	}
	/* Let deferred bufferevent callbacks and finalizers run. */
	event_base_loop(srv.base, EVLOOP_NONBLOCK);
	evlog("exit 0 conns=%u tls-ok=%lu tls-fail=%lu requests=%lu "
	    "answers=%lu", srv.next_id, srv.tls_ok, srv.tls_fail,
	    srv.requests, srv.answers);
	event_free(sigterm);
	event_free(sigint);
	evconnlistener_free(srv.listener);
	event_base_free(srv.base);
	SSL_CTX_free(srv.ctx);
	if (srv.log != stderr)
		fclose(srv.log);
	return 0;
}
