/*
 * dnsmsg: pure DNS wire code.  No I/O and no allocation: every function
 * works on buffers the caller owns.  Every read goes through the bounded
 * reader (struct dnsmsg_rd), so each parser can be fed arbitrary bytes
 * (see fuzz/), and every write through the bounded writer (struct
 * dnsmsg_wr), so no message is ever returned cut short.  The names of
 * types, classes and rcodes and the text form of names live here too,
 * so that the daemon's logs and dohq say the same.
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

#define DNS_TYPE_A		1
#define DNS_TYPE_NS		2
#define DNS_TYPE_CNAME		5
#define DNS_TYPE_SOA		6
#define DNS_TYPE_DNAME		39
#define DNS_TYPE_OPT		41
#define DNS_TYPE_DS		43
#define DNS_TYPE_RRSIG		46
#define DNS_TYPE_NSEC		47
#define DNS_TYPE_DNSKEY		48
#define DNS_TYPE_NSEC3		50
#define DNS_TYPE_IXFR		251
#define DNS_TYPE_ANY		255
#define DNS_CLASS_IN		1

/* Header flag bits (the second 16-bit word of the header). */
#define DNS_FLAG_QR		0x8000
#define DNS_FLAG_OPCODE		0x7800
#define DNS_FLAG_AA		0x0400
#define DNS_FLAG_TC		0x0200
#define DNS_FLAG_RD		0x0100
#define DNS_FLAG_RA		0x0080
#define DNS_FLAG_AD		0x0020
#define DNS_FLAG_CD		0x0010
#define DNS_FLAG_RCODE		0x000f

#define DNS_EDNS_DO		0x8000	/* in the OPT record's TTL */
#define DNS_OPT_PADDING		12	/* EDNS(0) Padding, RFC 7830 */
#define DNS_OPT_EDE		15	/* Extended DNS Error, RFC 8914 */
#define DNS_OPT_LEN		11	/* OPT record without options */

/* The Extended DNS Error codes dohstub sets (RFC 8914 4). */
#define DNS_EDE_OTHER		0
#define DNS_EDE_STALE		3
#define DNS_EDE_NOT_READY	14
#define DNS_EDE_PROHIBITED	18
#define DNS_EDE_NO_REACHABLE	22	/* No Reachable Authority */
#define DNS_EDE_NETWORK		23	/* Network Error */
#define DNS_EDE_MAX		32	/* codes counted one by one */

/*
 * Room for any name in text form, NUL included: 255 wire bytes hold at
 * most 253 label bytes of 4 characters ("\DDD") and their dots.
 */
#define DNS_MAX_NAME_TEXT	1024

enum dns_rcode {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
	/* Extended (RFC 6891 6.1.3): header rcode 0, OPT's upper bits 1. */
	DNS_RCODE_BADVERS = 16,
};

/*
 * The reader: a bounded cursor over a message.  msg and len are the whole
 * message (compression pointers may reach anywhere before the name that
 * holds them); off is the next byte; end bounds this read (the message's
 * end, or an RDATA's end for a cursor from dnsmsg_rd_sub()).  The fields
 * may be read; move them only through the functions.  Every read checks
 * the bound and returns -1, leaving the cursor where it was, if the item
 * does not fit before end.
 */
struct dnsmsg_rd {
	const uint8_t	*msg;
	size_t		 len;
	size_t		 off;
	size_t		 end;
};

/* A cursor at the start of msg (len bytes; msg is borrowed). */
void	dnsmsg_rd_init(struct dnsmsg_rd *r, const uint8_t *msg, size_t len);
size_t	dnsmsg_rd_left(const struct dnsmsg_rd *r);
int	dnsmsg_rd_u8(struct dnsmsg_rd *r, uint8_t *v);
int	dnsmsg_rd_u16(struct dnsmsg_rd *r, uint16_t *v);
int	dnsmsg_rd_u32(struct dnsmsg_rd *r, uint32_t *v);
int	dnsmsg_rd_skip(struct dnsmsg_rd *r, size_t n);
/* Point *p at the next n bytes (inside the message) and move past them. */
int	dnsmsg_rd_bytes(struct dnsmsg_rd *r, size_t n, const uint8_t **p);
/*
 * Make *sub a cursor over the next n bytes (an RDATA, an option) and
 * move r past them.  sub keeps the whole message for pointers.
 */
int	dnsmsg_rd_sub(struct dnsmsg_rd *r, size_t n, struct dnsmsg_rd *sub);
/*
 * Read the name at the cursor, following compression pointers, into out
 * (DNS_MAX_NAME bytes, uncompressed wire form; may be NULL) and its wire
 * length into *outlen (may be NULL); move past the name as it sits in
 * the message.  The name's own bytes must lie before end; a pointer must
 * land after the header and reach a part that ends before the part
 * holding the pointer, which rules out loops.  -1 if malformed.
 */
int	dnsmsg_rd_name(struct dnsmsg_rd *r, uint8_t *out, size_t *outlen);

/*
 * A resource record read by dnsmsg_rd_rr(): where its owner sits in the
 * message (owner_off, owner_wlen bytes, pointers and all) and its
 * uncompressed length (1 for the root), the fixed fields, and a cursor
 * over its RDATA (rdlen bytes from rdata.off).
 */
struct dns_rr {
	size_t			owner_off, owner_wlen, owner_len;
	uint16_t		type, class;
	uint32_t		ttl;
	uint16_t		rdlen;
	struct dnsmsg_rd	rdata;
};

/*
 * Read the record at the cursor into *rr and its owner into owner
 * (DNS_MAX_NAME bytes, uncompressed; may be NULL), and move past it.
 * -1, the cursor unmoved, if it is malformed or does not fit.
 */
int	dnsmsg_rd_rr(struct dnsmsg_rd *r, uint8_t *owner, struct dns_rr *rr);

/*
 * Lower every TTL above max in msg (len bytes, one question) to max, in
 * place; the OPT record's (flags, not a TTL) is left alone.  0, or -1
 * if the message is malformed (it may be half done then).
 */
int	dnsmsg_cap_ttl(uint8_t *msg, size_t len, uint32_t max);

/* The header, counts in section order. */
enum dns_section {
	DNS_SEC_QUESTION,
	DNS_SEC_ANSWER,
	DNS_SEC_AUTHORITY,
	DNS_SEC_ADDITIONAL,
	DNS_SEC_MAX
};

struct dns_header {
	uint16_t	id;
	uint16_t	flags;
	uint16_t	count[DNS_SEC_MAX];
};

int	dnsmsg_rd_header(struct dnsmsg_rd *r, struct dns_header *h);

/*
 * The writer: a bounded buffer the caller owns (buf, cap bytes).  Every
 * write is checked: one that does not fit writes nothing and sets err,
 * and every later write is then a no-op, so a message is complete or
 * not returned at all: dnsmsg_wr_finish() gives its length, or 0 once
 * err is set.  The fields may be read.
 */
struct dnsmsg_wr {
	uint8_t	*buf;
	size_t	 cap;
	size_t	 len;		/* bytes written */
	int	 err;		/* a write did not fit (or was invalid) */
};

void	dnsmsg_wr_init(struct dnsmsg_wr *w, uint8_t *buf, size_t cap);
void	dnsmsg_wr_u8(struct dnsmsg_wr *w, uint8_t v);
void	dnsmsg_wr_u16(struct dnsmsg_wr *w, uint16_t v);
void	dnsmsg_wr_u32(struct dnsmsg_wr *w, uint32_t v);
void	dnsmsg_wr_bytes(struct dnsmsg_wr *w, const void *p, size_t n);
void	dnsmsg_wr_zero(struct dnsmsg_wr *w, size_t n);
/* Overwrite 16 bits already written at off (a count, an RDLENGTH). */
void	dnsmsg_wr_set16(struct dnsmsg_wr *w, size_t off, uint16_t v);
/*
 * A name in uncompressed wire form, len bytes; err is also set if it is
 * not exactly one well-formed name.
 */
void	dnsmsg_wr_name(struct dnsmsg_wr *w, const uint8_t *name, size_t len);
void	dnsmsg_wr_header(struct dnsmsg_wr *w, const struct dns_header *h);
/*
 * An OPT record (RFC 6891): UDP payload size udp_size, extended rcode and
 * version 0, DO if do_bit.  With pad_block != 0, an EDNS(0) Padding
 * option (RFC 7830) makes the message, if the OPT record is the last
 * thing written, a multiple of pad_block bytes long (RFC 8467).
 */
void	dnsmsg_wr_opt(struct dnsmsg_wr *w, uint16_t udp_size, int do_bit,
	    unsigned pad_block);
/*
 * Append an Extended DNS Error option (RFC 8914) with INFO-CODE code and
 * EXTRA-TEXT text (NULL or a UTF-8 string, no NUL sent) to the OPT
 * record written at offset opt, which must be the last thing written;
 * its RDLENGTH grows to match.
 */
void	dnsmsg_wr_ede(struct dnsmsg_wr *w, size_t opt, int code,
	    const char *text);
/* The length written, or 0 if any write failed. */
size_t	dnsmsg_wr_finish(const struct dnsmsg_wr *w);

/* What to do with a client message. */
enum dns_verdict {
	DNS_VERDICT_OK,		/* a valid query: forward it */
	DNS_VERDICT_DROP,	/* not a query (short, QR set): say nothing */
	DNS_VERDICT_FORMERR,	/* answer FORMERR */
	DNS_VERDICT_NOTIMP,	/* answer NOTIMP (opcode other than QUERY) */
	DNS_VERDICT_BADVERS,	/* answer BADVERS (EDNS version above 0) */
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
 * FORMERR: QDCOUNT != 1, any record in the answer section, any record
 * in the authority section but the one SOA record of an IXFR query (RFC
 * 1995 3: owned by the question's name, in its class, well formed), a
 * malformed or compressed-loop name, a truncated question, a broken,
 * misplaced or duplicated OPT record, or records that run past the end.
 * BADVERS: a query valid but for its OPT record's version, above 0 (RFC
 * 6891 6.1.3); qi is filled as for OK, edns_version says which.
 */
enum dns_verdict dnsmsg_parse_query(const uint8_t *msg, size_t len,
	    struct dns_query_info *qi);

/* Two names in wire form, equal but for ASCII case. */
int	dnsmsg_name_equal(const uint8_t *a, size_t alen, const uint8_t *b,
	    size_t blen);

/*
 * Is the wire name (len bytes, uncompressed, as dnsmsg_parse_query()
 * leaves it) zone or below it, at a label boundary and but for ASCII
 * case?  "xcorp.example." is not below "corp.example.".  1 or 0.
 */
int	dnsmsg_name_below(const uint8_t *name, size_t len, const uint8_t *zone,
	    size_t zlen);

/*
 * A hash of the key an answer serves: the question's name without case,
 * its type and class, and the query's DO and CD bits.  The cache and
 * the table of queries in flight both file by it.
 */
uint32_t dnsmsg_key_hash(const struct dns_query_info *qi);

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
 * qi: the query's ID, opcode, RD and CD copied, QR set, RA set for opcode
 * QUERY only (it means nothing for the others), the question echoed if
 * qi->qname_len != 0, and an OPT record (version 0, our EDNS size, DO
 * copied) if qi->has_edns.  An extended rcode (DNS_RCODE_BADVERS) puts
 * its low 4 bits in the header and the rest in the OPT record.  Returns
 * the length written, or 0 if cap is too small, or rcode is extended
 * (over 15) and the query had no OPT record, or rcode is over 4095.
 */
size_t	dnsmsg_make_error(uint8_t *out, size_t cap,
	    const struct dns_query_info *qi, int rcode);

/*
 * The same with an Extended DNS Error (RFC 8914): when qi->has_edns and
 * ede_code >= 0, the OPT record carries INFO-CODE ede_code and, unless
 * ede_text is NULL, that EXTRA-TEXT.  dnsmsg_make_error() is this with
 * ede_code -1.
 */
size_t	dnsmsg_make_error_ede(uint8_t *out, size_t cap,
	    const struct dns_query_info *qi, int rcode, int ede_code,
	    const char *ede_text);

/*
 * The query dohstub sends upstream for the client query qi, into out
 * (cap bytes): ID 0, RD from the client, CD if cd_bit and every other
 * header bit clear, the question as the client wrote it (its case kept),
 * and our own OPT record whether or not the client sent one: UDP size
 * edns_size, DO if do_bit, no option of the client's (no Client Subnet,
 * no cookie), and with pad_block != 0 EDNS(0) Padding to a multiple of
 * pad_block bytes (RFC 7830, RFC 8467).  Passing the client's bits
 * (qi->edns_do, qi->flags & DNS_FLAG_CD) relays its choice (dnssec
 * process); a validator asks DO and CD whatever the client sent (RFC
 * 4035 3.2.1, 3.2.2: it checks the data itself).  Returns the length, or
 * 0 if qi has no question, edns_size is 0 or cap is short.
 */
size_t	dnsmsg_make_upstream_query(uint8_t *out, size_t cap,
	    const struct dns_query_info *qi, uint16_t edns_size,
	    unsigned pad_block, int do_bit, int cd_bit);

/*
 * The layout of the names inside the RDATA of type, for the types whose
 * names a sender may have compressed (RFC 1035, RFC 3597 4, RFC 4034
 * 6.2's list): one letter a field, n a name, 1 2 4 fixed bytes, c a
 * character-string, a A6's prefix, suffix and name (RFC 2874 3.1); what
 * follows is opaque.  "" for any other type.  Static storage.
 */
const char *dnsmsg_rdata_layout(uint16_t type);

/*
 * Copy the RDATA at rd (all that is left of it) of type into w, the
 * names its layout (dnsmsg_rdata_layout()) holds decompressed, and
 * lowercased if lower (DNSSEC's canonical form).  -1 if the RDATA does
 * not hold its layout; w->err is set if w is out of room.
 */
int	dnsmsg_rdata_copy(struct dnsmsg_rd *rd, uint16_t type, int lower,
	    struct dnsmsg_wr *w);

/* A name in wire form (len bytes) lowercased in place (ASCII only). */
void	dnsmsg_name_lower(uint8_t *name, size_t len);

/*
 * Set (ad != 0) or clear the AD bit of the message msg (len bytes), in
 * place.  0, or -1 if len is shorter than a header.
 */
int	dnsmsg_set_ad(uint8_t *msg, size_t len, int ad);

/*
 * The answer msg (len bytes) for a client that did not set DO, into out
 * (cap bytes, not overlapping msg): every RRSIG, NSEC and NSEC3 record
 * of the answer, authority and additional sections taken out, but those
 * of the type the query asked for, qtype, and in the answer section
 * anything for a query of type ANY (RFC 4035 3.2.1: authenticating
 * DNSSEC records are stripped, never a type that was asked for; DS and
 * DNSKEY are data).  The header's counts follow; everything else,
 * flags included, is kept.  The bytes up to the first record taken out
 * are kept as they are; after it every name, owners and the names in
 * the RDATA of the types a sender may compress (RFC 3597 4), is written
 * whole, so no compression pointer can reach what is gone.  Nothing to
 * take out: the message as it is, without any bytes after its last
 * record.  Returns the length, or 0 if msg does not parse (a header,
 * its questions, every record within len; a name inside such RDATA
 * where its type has one) or does not fit in cap.
 */
size_t	dnsmsg_strip_dnssec(const uint8_t *msg, size_t len, uint8_t *out,
	    size_t cap, uint16_t qtype);

/*
 * A validated answer msg (len bytes) as dnsmsg_strip_dnssec() writes it
 * (same rules for the bytes kept, the counts and a message that does not
 * parse), but without what validation did not judge: in the authority
 * section everything but SOA, NSEC, NSEC3 and the RRSIGs covering one of
 * those, in the additional section everything but the OPT record.  The
 * answer section is left as it is (the validator judges every RRset of
 * it).  With strip != 0 what dnsmsg_strip_dnssec() takes out for qtype
 * goes too, in the same pass.  Returns the length, or 0.
 */
size_t	dnsmsg_clean_validated(const uint8_t *msg, size_t len, uint8_t *out,
	    size_t cap, uint16_t qtype, int strip);

/*
 * An upstream answer (msg, len bytes, already checked against qi with
 * dnsmsg_check_answer()) rewritten for the client of qi into out (cap
 * bytes; not overlapping msg): the client's ID, RD and CD, its question
 * case; the upstream's OPT record (and its options: Padding, whatever
 * else) and any record after it removed; and, only if the client sent
 * EDNS, our own OPT at the end: UDP size edns_size, the client's DO,
 * and with ede_code >= 0 an Extended DNS Error (ede_text may be NULL).
 * Returns the length, or 0 if the answer does not parse, its OPT holds
 * an extended rcode (it answers our EDNS, not the client's), or cap is
 * too small.
 */
size_t	dnsmsg_rewrite_answer(const uint8_t *msg, size_t len, uint8_t *out,
	    size_t cap, const struct dns_query_info *qi, uint16_t edns_size,
	    int ede_code, const char *ede_text);

/*
 * Append an Extended DNS Error (code, text as for dnsmsg_wr_ede()) to
 * the answer in msg (len bytes, cap bytes of room), whose last record
 * must be its OPT.  Returns the new length, or 0 (msg unchanged) if
 * the message does not parse, does not end with an OPT, or cap is short.
 */
size_t	dnsmsg_add_ede(uint8_t *msg, size_t len, size_t cap, int code,
	    const char *text);

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

/* Read/write the ID of a message of at least DNS_HDR_LEN bytes. */
uint16_t dnsmsg_get_id(const uint8_t *msg);
void	dnsmsg_set_id(uint8_t *msg, uint16_t id);

/* The rcode (low 4 bits of the header) of a message of >= DNS_HDR_LEN. */
int	dnsmsg_rcode(const uint8_t *msg);

/*
 * Split a TCP stream buffer (RFC 1035 4.2.2, RFC 7766): if buf holds a
 * complete 2-byte length prefix and message, set *msglen to the message
 * length and return the bytes to consume (2 + msglen); return 0 if more
 * data is needed.  A zero length prefix returns -1 (the stream is broken).
 */
long	dnsmsg_tcp_frame(const uint8_t *buf, size_t len, size_t *msglen);

/*
 * Build a query into out (cap bytes): ID 0 (the caller sets its own, or
 * keeps 0 for DoH, RFC 8484 4.1), one question (qname in uncompressed
 * wire form, qname_len bytes), header flags taken from flags for RD, AD
 * and CD only; with edns_size != 0 an OPT record of that size, DO if
 * do_bit, and with pad_block != 0 a Padding option bringing the whole
 * query to a multiple of pad_block bytes (RFC 8467 4.1 recommends 128).
 * Returns the length, or 0 if the name is malformed or cap is too small.
 */
size_t	dnsmsg_make_query(uint8_t *out, size_t cap, const uint8_t *qname,
	    size_t qname_len, uint16_t qtype, uint16_t qclass, uint16_t flags,
	    uint16_t edns_size, int do_bit, unsigned pad_block);

/*
 * Names of types, classes and rcodes.  dnsmsg_*_name() return the
 * mnemonic ("AAAA", "IN", "NXDOMAIN") or NULL if there is none;
 * dnsmsg_*_str() write it or the generic form ("TYPE65280", "CLASS7",
 * "RCODE12") into buf and return buf.
 */
const char *dnsmsg_type_name(uint16_t type);
const char *dnsmsg_class_name(uint16_t class);
const char *dnsmsg_rcode_name(unsigned rcode);
const char *dnsmsg_type_str(uint16_t type, char *buf, size_t size);
const char *dnsmsg_class_str(uint16_t class, char *buf, size_t size);
const char *dnsmsg_rcode_str(unsigned rcode, char *buf, size_t size);

/*
 * Parse a type ("aaaa", "TYPE28") or a class ("IN", "CLASS1"), ignoring
 * case.  Returns 0, or -1 if s is neither a known name nor the generic
 * form.
 */
int	dnsmsg_type_parse(const char *s, uint16_t *type);
int	dnsmsg_class_parse(const char *s, uint16_t *class);

/* dnsmsg_name_to_text() flags. */
#define DNSMSG_NAME_ZONE	0x01	/* zone-file escaping (RFC 1035 5.1) */
#define DNSMSG_NAME_CONF	0x02	/* '#' and '"' as \035 and \034 too:
					   neither a comment nor a quote in
					   dohstub.conf(5), which refuses a
					   quote inside a value */

/*
 * A name in uncompressed wire form (wire_len bytes, exactly one name)
 * into text: "www.example." or "." for the root.  Bytes outside
 * 0x21..0x7e become \DDD; '.' and '\' inside a label are escaped with a
 * backslash, and with DNSMSG_NAME_ZONE so are '"', '(', ')', ';', '@'
 * and '$', so that dnsmsg_name_from_text() reads it back.  Always
 * NUL-terminates when size > 0 (DNS_MAX_NAME_TEXT always fits).
 * Returns 0; -1 with "" in buf if the name is malformed, or -1 with as
 * much as fits, cut between characters, if buf is too small.
 */
int	dnsmsg_name_to_text(const uint8_t *wire, size_t wire_len, char *buf,
	    size_t size, int flags);

/*
 * The reverse: a name in text form (a final dot optional, the escapes
 * above understood) into wire form in out (size >= DNS_MAX_NAME).
 * Returns the wire length, or 0 if it is not a valid name (empty label,
 * label over 63 bytes, name over 255 bytes, bad escape).
 */
size_t	dnsmsg_name_from_text(const char *s, uint8_t *out, size_t size);

#endif
