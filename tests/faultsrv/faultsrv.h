/*
 * faultsrv: a DoH server for tests that misbehaves on request.
 *
 * faultsrv.c owns the network (listener, TLS, HTTP/2, the faults);
 * answer.c the DNS answers (pure, no I/O); h2raw.c the HTTP/2 frames that
 * nghttp2's server API will not produce.
 */
#ifndef FAULTSRV_H
#define FAULTSRV_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "dohstub/dnsmsg.h"

enum fault {
	FAULT_NONE,
	FAULT_REFUSE,
	FAULT_RESET,
	FAULT_TLS_FAIL,
	FAULT_TLS12_ONLY,
	FAULT_NO_H2,
	FAULT_STATUS,
	FAULT_CTYPE,
	FAULT_EMPTY_BODY,
	FAULT_HUGE_BODY,
	FAULT_WRONG_QUESTION,
	FAULT_QR0,
	FAULT_SHORT_ANSWER,
	FAULT_GOAWAY,
	FAULT_GOAWAY_AFTER,
	FAULT_RST_STREAM,
	FAULT_REFUSE_STREAM,
	FAULT_MAX_STREAMS,
	FAULT_STALL_HANDSHAKE,
	FAULT_STALL_AFTER_HANDSHAKE,
	FAULT_STALL_MID_BODY,
	FAULT_NO_SETTINGS,
	FAULT_CLOSE_AFTER,
	FAULT_PUSH_PROMISE,
	FAULT_CONTINUATION_FLOOD,
	FAULT_PING_FLOOD,
	FAULT_SETTINGS_FLOOD,
	FAULT_HUGE_HEADER,
	FAULT_SLOW,
	FAULT_IDLE_GOAWAY,
	FAULT_IDLE_CLOSE,
};

/* The address every A answer carries, so tests can tell us apart. */
#define ANSWER_A_ADDR	{ 192, 0, 2, 42 }
#define ANSWER_A_TTL	60
/* The name wrong-question answers for instead of the one asked. */
#define ANSWER_WRONG_NAME	"\005wrong\010faultsrv\004test"

/*
 * Parse the query q (qlen bytes, owned by the caller) into *qi and write
 * faultsrv's answer into out (cap bytes): one A record for an A/IN
 * question, NOERROR with no records for any other question,
 * FORMERR/NOTIMP as dnsmsg_parse_query() decides.  The DNS-level faults
 * (wrong-question, qr0, short-answer) are applied here; any other f is
 * ignored.  Returns the answer's length, or 0 if the query deserves no
 * answer (DNS_VERDICT_DROP) or cap is too small.
 */
size_t	answer_make(uint8_t *out, size_t cap, const uint8_t *q, size_t qlen,
	    enum fault f, struct dns_query_info *qi);

/*
 * Decode unpadded base64url (RFC 4648 section 5, as RFC 8484 GET uses it)
 * of inlen bytes into out (cap bytes).  Returns the decoded length, or -1
 * on a bad character, a bad length or too small a buffer.
 */
long	answer_b64url_decode(const char *in, size_t inlen, uint8_t *out,
	    size_t cap);

/* Frame types and flags written raw (RFC 9113 section 6). */
#define H2RAW_DATA		0x0
#define H2RAW_HEADERS		0x1
#define H2RAW_PUSH_PROMISE	0x5
#define H2RAW_CONTINUATION	0x9
#define H2RAW_END_STREAM	0x1
#define H2RAW_END_HEADERS	0x4
/* Largest frame payload a peer must accept before its SETTINGS say more. */
#define H2RAW_MAX_PAYLOAD	16384

/*
 * Append one frame to out.  Only call this between whole frames of
 * nghttp2's output, i.e. after nghttp2_session_mem_send() returned 0.
 * Returns 0, or -1 if len is too big or out cannot grow.
 */
int	h2raw_frame(struct evbuffer *out, uint8_t type, uint8_t flags,
	    uint32_t sid, const uint8_t *payload, size_t len);

/*
 * Append a PUSH_PROMISE on stream sid promising stream promised, for a GET
 * of https://authority/path.  Returns 0 or -1.
 */
int	h2raw_push_promise(struct evbuffer *out, uint32_t sid,
	    uint32_t promised, const char *authority, const char *path);

/*
 * Append a response on stream sid whose header block is spread over one
 * HEADERS and count CONTINUATION frames (each carrying one more header
 * field), then the DNS answer msg (len bytes) as DATA with END_STREAM.
 * Returns 0 or -1.
 */
int	h2raw_continuation_flood(struct evbuffer *out, uint32_t sid,
	    long count, const uint8_t *msg, size_t len);

#endif
