/*
 * dnsmsg: pure DNS wire code.  No I/O and no allocation: every function
 * works on buffers the caller owns, and every read is length-checked, so
 * each parser can be fed arbitrary bytes (see fuzz/).
 */
#ifndef DOHSTUB_DNSMSG_H
#define DOHSTUB_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN		12
#define DNS_MAX_MSG		65535	/* largest message on any transport */
#define DNS_MAX_NAME		255	/* wire length of a name */
#define DNS_UDP_PLAIN_MAX	512	/* UDP answer limit without EDNS */
#define DNS_EDNS_DEFAULT_MAX	1232	/* default cap on EDNS UDP size */

#define DNS_TYPE_OPT		41
#define DNS_CLASS_IN		1

enum dns_rcode {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
};

/* What to do with a client message. */
enum dns_verdict {
	DNS_VERDICT_OK,		/* a valid query: forward it */
	DNS_VERDICT_DROP,	/* not a query (short, QR set): say nothing */
	DNS_VERDICT_FORMERR,	/* answer FORMERR */
	DNS_VERDICT_NOTIMP,	/* answer NOTIMP (opcode other than QUERY) */
};

extern const char *const dns_verdict_names[];

/*
 * What dnsmsg_parse_query() learned of a query.  Filled as far as parsing
 * got, so an error answer can echo the ID and, when it was read, the
 * question.
 */
struct dns_query_info {
	uint16_t	id;
	uint16_t	flags;		/* header flags word of the query */
	uint16_t	qtype;
	uint16_t	qclass;
	uint8_t		qname[DNS_MAX_NAME];	/* uncompressed wire form */
	size_t		qname_len;	/* 0: question not read */
	size_t		question_end;	/* offset just past the question */
	size_t		msg_len;	/* header + records; bytes after them
					   are ignored and not forwarded */
	int		has_edns;	/* query carried one valid OPT */
	uint16_t	edns_size;	/* its UDP payload size, as sent */
	uint8_t		edns_version;
	int		edns_do;	/* DO bit */
};

/*
 * Validate a client query of len bytes and fill *qi.
 * DROP: shorter than a header or QR set.  NOTIMP: opcode is not QUERY
 * (id, flags and, when they parse, question and OPT are still filled).
 * FORMERR: QDCOUNT != 1, any record in the answer or authority section,
 * a malformed or compressed-loop name, a truncated question, a broken,
 * misplaced or duplicated OPT record, or records that run past the end.
 */
enum dns_verdict dnsmsg_parse_query(const uint8_t *msg, size_t len,
	    struct dns_query_info *qi);

/*
 * Check an upstream answer of len bytes against the query it answers:
 * at least a header, QR set, opcode QUERY, QDCOUNT 1 and the same question
 * (name compared case-insensitively, type, class), and every record of
 * every section within len.  The ID is not checked (DoH uses ID 0).
 * Returns 0 if usable, -1 if not (also if qi has no question).
 */
int	dnsmsg_check_answer(const uint8_t *msg, size_t len,
	    const struct dns_query_info *qi);

/*
 * Write into out (cap bytes) an answer with rcode to the query described by
 * qi: the query's ID, RD and CD copied, QR and RA set, the question echoed
 * if qi->qname_len != 0, and an OPT record (our EDNS size, DO copied) if
 * qi->has_edns.  Returns the length written, or 0 if cap is too small.
 */
size_t	dnsmsg_make_error(uint8_t *out, size_t cap,
	    const struct dns_query_info *qi, int rcode);

/*
 * The largest UDP answer the client of qi can take: 512 without EDNS,
 * otherwise its EDNS size clamped to [512, edns_max].
 */
size_t	dnsmsg_udp_limit(const struct dns_query_info *qi, size_t edns_max);

/*
 * Make the answer in msg (len bytes, cap bytes of room) fit in limit bytes
 * for UDP.  If it already fits it is left alone.  Otherwise it is rewritten
 * in place to the header and question with TC=1 and empty sections, plus
 * an OPT record if the query had one.  Returns the new length (never more
 * than len or limit), or 0 if the answer is too broken to cut or limit
 * cannot hold even that (never the case for limit >= 512).
 */
size_t	dnsmsg_truncate(uint8_t *msg, size_t len, size_t limit,
	    const struct dns_query_info *qi);

/*
 * Read the name at *off of msg (len bytes), following compression
 * pointers, into out (DNS_MAX_NAME bytes, uncompressed wire form; may be
 * NULL) and its wire length into *outlen (may be NULL); move *off past
 * the name as it sits in the message.  The name's own bytes must lie
 * before limit (an RDATA's end, say); a pointer must land after the
 * header and reach a part that ends before the part holding the
 * pointer, which rules out loops.  Returns 0, or -1 if malformed.
 */
int	dnsmsg_read_name(const uint8_t *msg, size_t len, size_t limit,
	    size_t *off, uint8_t *out, size_t *outlen);

/* Read/write the ID of a message of at least DNS_HDR_LEN bytes. */
uint16_t dnsmsg_get_id(const uint8_t *msg);
void	dnsmsg_set_id(uint8_t *msg, uint16_t id);

/* The rcode (low 4 bits of the header) of a message of >= DNS_HDR_LEN. */
int	dnsmsg_rcode(const uint8_t *msg);

/*
 * Write the query's name in presentation form ("www.example.", "." for
 * the root) into buf, escaping non-printable bytes as \DDD and '.' and
 * '\' inside labels with a backslash; "" if no question was read.  Always
 * NUL-terminates when size > 0, cutting only between characters.  For logs.
 */
void	dnsmsg_name_str(const struct dns_query_info *qi, char *buf,
	    size_t size);

/*
 * Split a TCP stream buffer (RFC 1035 4.2.2, RFC 7766): if buf holds a
 * complete 2-byte length prefix and message, set *msglen to the message
 * length and return the bytes to consume (2 + msglen); return 0 if more
 * data is needed.  A zero length prefix returns -1 (the stream is broken).
 */
long	dnsmsg_tcp_frame(const uint8_t *buf, size_t len, size_t *msglen);

#endif
