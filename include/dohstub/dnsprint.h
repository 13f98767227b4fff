/*
 * dnsprint: DNS messages in presentation format, for dohq(1).  Three
 * forms: dig-like text, "short" (the answer's rdata, one record a line,
 * as dig +short) and one JSON object per message.  Every read from the
 * message goes through a length-checked cursor; there is no allocation
 * and no I/O beyond the output sink, so any bytes can be fed to it
 * (fuzz/fuzz_dnsprint.c).
 *
 * Record data is printed as in a zone file (RFC 1035 5.1) for A, NS,
 * CNAME, SOA, PTR, MX, TXT, AAAA, SRV, DNAME, DS, RRSIG, NSEC, DNSKEY,
 * CDS, CDNSKEY, SVCB, HTTPS (RFC 9460) and CAA; every other type, and
 * rdata that does not parse as its type, as RFC 3597 "\# LEN HEX".
 */
#ifndef DOHSTUB_DNSPRINT_H
#define DOHSTUB_DNSPRINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Room for any name in presentation form (255 wire bytes, \DDD escapes). */
#define DNSPRINT_NAMELEN	1024

enum dnsprint_format {
	DNSPRINT_TEXT,		/* dig-like sections */
	DNSPRINT_SHORT,		/* answer rdata only */
	DNSPRINT_JSON,		/* one object, one line */
};
extern const char *const dnsprint_format_names[];

/*
 * Where output goes: a FILE, or a caller's buffer that is never overrun
 * and is always NUL-terminated (when size > 0).  Set up with
 * dnsprint_out_file() or dnsprint_out_buf(); the fields are private.
 */
struct dnsprint_out {
	FILE	*fp;
	char	*buf;
	size_t	 size;
	size_t	 len;		/* bytes produced, also those cut off */
	int	 json;		/* escape for a JSON string */
};

void	dnsprint_out_file(struct dnsprint_out *o, FILE *fp);
void	dnsprint_out_buf(struct dnsprint_out *o, char *buf, size_t size);

/* Bytes produced so far; more than fit when the buffer was too small. */
size_t	dnsprint_out_len(const struct dnsprint_out *o);

/* Append s (as it is, or JSON-escaped between quotes). */
void	dnsprint_puts(struct dnsprint_out *o, const char *s);
void	dnsprint_json_str(struct dnsprint_out *o, const char *s);

/* The TLS connection, for -v.  Strings are borrowed for the call. */
struct dnsprint_tls {
	const char	*version;	/* "TLSv1.3" */
	const char	*cipher;
	const char	*alpn;
	const char	*subject;	/* peer certificate, RFC 2253 */
	const char	*issuer;
	const char	*not_before;	/* "2026-11-22T10:00:00Z" */
	const char	*not_after;
	int		 resumed;
};

/* --timing, in milliseconds. */
struct dnsprint_timing {
	uint64_t	bootstrap_ms;	/* name of the server to addresses */
	uint64_t	connect_ms;	/* TCP */
	uint64_t	handshake_ms;	/* TLS */
	uint64_t	first_byte_ms;	/* request sent to first byte back */
	uint64_t	total_ms;	/* from start to this response */
};

/*
 * About the exchange, printed after the message (text) or in its object
 * (JSON); ignored by the short form.  Every pointer may be NULL, and
 * strings are borrowed for the call.
 */
struct dnsprint_meta {
	const char			*server;	/* the URL */
	const char			*server_addr;	/* "127.0.0.1#443" */
	int				 http_status;	/* 0: none */
	const char			*http_headers;	/* "name: value\n"... */
	int64_t				 query_time_ms;	/* -1: unknown */
	const struct dnsprint_tls	*tls;
	const struct dnsprint_timing	*timing;
};

/*
 * Print the message msg (len bytes) in fmt to o.  As much as parses is
 * printed; JSON output stays one well-formed object even then, with the
 * reason under "malformed".  Returns 0 if every record parsed, -1 if the
 * message is malformed (shorter than a header, a bad name, a record past
 * the end), with the reason in err (errlen bytes; err may be NULL).
 * Bytes after the last record are not an error.
 */
int	dnsprint_msg(struct dnsprint_out *o, enum dnsprint_format fmt,
	    const uint8_t *msg, size_t len, const struct dnsprint_meta *meta,
	    char *err, size_t errlen);

/*
 * Print the rdata of one record of type type, rdlen bytes at msg + off,
 * in presentation format.  Names in it may point back into msg (len
 * bytes).  Never fails: what does not parse is printed as "\# LEN HEX".
 * Returns 0 if it was printed in its type's format, -1 if generically.
 */
int	dnsprint_rdata(struct dnsprint_out *o, const uint8_t *msg,
	    size_t len, size_t off, uint16_t rdlen, uint16_t type);

/*
 * A name in wire form (name_len bytes, uncompressed, as the question of a
 * query is written) into presentation form: "www.example." or "." for the
 * root, with '.', '\\', '"', '(', ')', ';', '@', '$' inside labels
 * escaped with a backslash and other bytes outside 0x21..0x7e as \DDD.
 * Returns 0, or -1 if it is not a well-formed name.
 */
int	dnsprint_name_str(const uint8_t *name, size_t name_len, char *buf,
	    size_t size);

/*
 * The reverse: a name in presentation form (a final dot optional, the
 * escapes above understood) into wire form in out (at least 255 bytes).
 * Returns the wire length, or 0 if it is not a valid name (empty label,
 * label over 63 bytes, name over 255 bytes, bad escape).
 */
size_t	dnsprint_name_parse(const char *s, uint8_t *out, size_t size);

/* "A", "TYPE65280"; "IN", "CLASS7"; "NOERROR", "RCODE12" (into buf). */
const char *dnsprint_type_str(uint16_t type, char *buf, size_t size);
const char *dnsprint_class_str(uint16_t class, char *buf, size_t size);
const char *dnsprint_rcode_str(unsigned rcode, char *buf, size_t size);

/*
 * Parse a type ("aaaa", "TYPE28") or a class ("IN", "CLASS1"), ignoring
 * case.  Returns 0, or -1 if s is neither a known name nor the generic
 * form.
 */
int	dnsprint_type_parse(const char *s, uint16_t *type);
int	dnsprint_class_parse(const char *s, uint16_t *class);

#endif
