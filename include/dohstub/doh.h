/*
 * doh: one DNS-over-HTTPS upstream (RFC 8484) as one long-lived client.
 * It keeps one TLS + HTTP/2 connection, multiplexes requests as streams
 * up to the server's SETTINGS_MAX_CONCURRENT_STREAMS and queues the rest,
 * keeps an idle connection alive with PING, detects a dead one (the rules
 * are liveness.h's), honours GOAWAY (requests the server did not process
 * are retried once on a new connection) and reconnects with exponential
 * backoff and TLS session resumption.  DNS messages are opaque bytes here.
 */
#ifndef DOHSTUB_DOH_H
#define DOHSTUB_DOH_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "dohstub/addr.h"

#define DOH_MAX_BODY		65535
#define DOH_MAX_HEADER_BYTES	16384	/* per response */
#define DOH_BACKOFF_MIN_MS	250
#define DOH_BACKOFF_MAX_MS	5000

enum doh_state {
	DOH_NOADDR,	/* no address yet: requests wait (bootstrap) */
	DOH_IDLE,	/* not connected: the next request connects */
	DOH_CONNECTING,	/* TCP or TLS handshake under way: requests wait */
	DOH_READY,	/* HTTP/2 session up */
	DOH_BACKOFF,	/* last attempt failed: requests are refused until
			   the retry timer fires and a new attempt starts */
};
extern const char *const doh_state_names[];

/* Why a request failed. */
enum doh_result {
	DOH_OK,
	DOH_ERR_CONNECT,	/* no TCP connection, or it broke */
	DOH_ERR_TLS,		/* handshake or certificate failure, no h2 */
	DOH_ERR_HTTP,		/* a status other than 200 */
	DOH_ERR_CONTENT_TYPE,	/* not application/dns-message */
	DOH_ERR_BODY,		/* empty or larger than DOH_MAX_BODY */
	DOH_ERR_RESET,		/* stream reset or refused */
	DOH_ERR_PROTOCOL,	/* HTTP/2 error */
	DOH_ERR_TIMEOUT,	/* no sign of life from the server */
	DOH_ERR_SHUTDOWN,	/* the client is being freed */
	DOH_RESULT_MAX
};
extern const char *const doh_result_names[];

struct doh_client;
struct doh_req;

struct doh_params {
	const char	*host;		/* for :authority, SNI, verification */
	uint16_t	 port;
	const char	*path;		/* "/dns-query" */
	int		 host_is_ip;
	int		 use_get;	/* GET ?dns= instead of POST */
	int		 keep_headers;	/* fill doh_response.headers */
	SSL_CTX		*ssl_ctx;	/* shared, not owned */
	unsigned	 timeout_ms;	/* connect/handshake and liveness */
	unsigned	 keepalive_ms;	/* PING after this much idle; 0 off */
	unsigned	 probe_ms;	/* PING a silent connection when a
					   request waits this long; 0: from
					   the answer times (3 x srtt, at
					   least 10 ms); at most half the
					   timeout either way */
	const char	*verify_ip;	/* NULL or "": none; else the
					   certificate must also list this
					   IP in its subjectAltName, beside
					   host (DDR's verified discovery,
					   RFC 9462 section 4.2) */
	int		 no_verify;	/* authenticate nothing, TLS for
					   privacy only (opportunistic
					   discovery, RFC 9462 4.3) */
};

/* What a client has seen, for selection, metrics and /health. */
struct doh_stats {
	uint64_t	answers;	/* requests answered (DOH_OK) */
	uint64_t	errors;		/* requests failed, shutdown aside */
	uint64_t	dead;		/* connections found dead by PING */
	uint64_t	early_accepted;	/* handshakes whose early data the
					   server took */
	uint64_t	early_rejected;	/* ... and refused (sent again) */
	unsigned	srtt_ms;	/* smoothed sent-to-first-byte time */
	unsigned	rtt_ms;		/* smoothed round trip (TCP, PING) */
	int		has_srtt, has_rtt;	/* 0: no sample yet */
};

/* How a request ended; everything is valid only during the callback. */
struct doh_response {
	int		 status;	/* :status, 0 if none came */
	const uint8_t	*body;		/* DOH_OK only, else NULL */
	size_t		 len;
	uint64_t	 submit_ms;	/* clock_ms() at doh_submit() */
	uint64_t	 sent_ms;	/* its HEADERS went out; 0 if never */
	uint64_t	 first_byte_ms;	/* its first response frame; 0 if none */
	const char	*headers;	/* "name: value\n"... with keep_headers,
					   else NULL */
};

/*
 * Called when a request ends, exactly once unless cancelled.  The
 * request is freed after the call.
 */
typedef void doh_done_cb(enum doh_result res, const struct doh_response *resp,
	    void *arg);

/* A connection is up (TLS done, ALPN h2): for dohq's -v and --timing. */
struct doh_conn_info {
	const struct sockaddr	*peer;
	uint64_t		 connect_ms;	/* TCP connect took */
	uint64_t		 handshake_ms;	/* TLS handshake took */
	SSL			*ssl;		/* valid during the call */
};
typedef void doh_connected_cb(struct doh_client *c,
	    const struct doh_conn_info *info, void *arg);

/* Called on every state change (from outside nghttp2 callbacks). */
typedef void doh_state_cb(struct doh_client *c, enum doh_state old,
	    enum doh_state new, void *arg);

/* params' strings are copied.  Starts in DOH_NOADDR.  NULL on failure. */
struct doh_client *doh_new(struct event_base *base,
	    const struct doh_params *params, doh_state_cb *state_cb,
	    void *arg);

/*
 * Set the server addresses (port included), tried in order.  From
 * DOH_NOADDR, starts connecting.  Does not disturb a live connection.
 */
void	doh_set_addrs(struct doh_client *c, const struct sockaddr_storage *ss,
	    const socklen_t *lens, size_t n);

/*
 * No address can be had (bootstrap failed): fail the waiting requests
 * with DOH_ERR_CONNECT and go to DOH_BACKOFF until doh_set_addrs().
 */
void	doh_addrs_failed(struct doh_client *c);

/* Open the connection now if it is idle (start-up, background probe). */
void	doh_connect(struct doh_client *c);

/*
 * Send msg (len bytes, copied) as one request.  Returns a handle, or NULL
 * at once if the client is in DOH_BACKOFF or out of memory; the callback
 * is never called from inside doh_submit.
 */
struct doh_req *doh_submit(struct doh_client *c, const uint8_t *msg,
	    size_t len, doh_done_cb *cb, void *arg);

/* Forget a request: its callback will not be called.  Resets its stream. */
void	doh_cancel(struct doh_req *req);

/*
 * The network may have changed under c: PING its connection now; no
 * answer within the PING bound (4 round trips, at least 300 ms) and it
 * is dead, its requests fail with DOH_ERR_TIMEOUT and a new one is made.
 * The same happens by itself when a request waits past the probe delay
 * on a connection that has heard nothing since it was sent.  A client
 * backing off tries again at once, its back-off reset.
 */
void	doh_suspect(struct doh_client *c);

void	doh_get_stats(const struct doh_client *c, struct doh_stats *st);

enum doh_state doh_get_state(const struct doh_client *c);

/* Requests waiting or in flight. */
size_t	doh_pending(const struct doh_client *c);

/* "host:port" for logs. */
const char *doh_name(const struct doh_client *c);

/* Why the last connection failed or ended, or "" if none has. */
const char *doh_last_error(const struct doh_client *c);

/* Be told of every connection that comes up (NULL to stop). */
void	doh_set_connected_cb(struct doh_client *c, doh_connected_cb *cb,
	    void *arg);

/* Fail everything with DOH_ERR_SHUTDOWN (callbacks run) and free. */
void	doh_free(struct doh_client *c);

/*
 * Tests and fuzzing: a client whose one session has no socket, as if the
 * TLS handshake had just completed.  Requests submitted to it become
 * frames that are discarded; doh_test_input() feeds raw server bytes to
 * its HTTP/2 session (as the read callback would) and returns -1 once the
 * session is dead.  Free with doh_free().
 */
struct doh_client *doh_test_client(struct event_base *base,
	    const struct doh_params *params);
int	doh_test_input(struct doh_client *c, const uint8_t *data, size_t len);

/*
 * Build the GET path "path?dns=BASE64URL" (no padding) for msg into buf,
 * or "path&dns=..." when path has a query already (a DDR dohpath
 * "/q?x=1{&dns}" gives "/q?x=1").  Returns 0, or -1 if size is too small.
 * Exposed for tests and dohq.
 */
int	doh_get_path(const char *path, const uint8_t *msg, size_t len,
	    char *buf, size_t size);

#endif
