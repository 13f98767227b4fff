/*
 * dnsprint: DNS messages in presentation format, for dohq(1).  Three
 * forms: dig-like text, "short" (the answer's rdata, one record a line,
 * as dig +short) and one JSON object per message.  Only the message:
 * how it travelled (TLS, HTTP, timing) is dohq's to show (dohq_out.h).
 * Every read from the message goes through dnsmsg's bounded reader;
 * there is no allocation and no I/O beyond the output sink, so any
 * bytes can be fed to it (fuzz/fuzz_dnsprint.c).
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

/*
 * Append s (strlen or n bytes) as it is, or escaped when inside a JSON
 * string; printf() is for short pieces (numbers, names), cut at 255.
 */
void	dnsprint_puts(struct dnsprint_out *o, const char *s);
void	dnsprint_write(struct dnsprint_out *o, const char *s, size_t n);
void	dnsprint_printf(struct dnsprint_out *o, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * JSON pieces for the members of an object: a string between quotes,
 * escaped; a key, preceded by a comma unless *first (which it clears);
 * a key and its string or number value.
 */
void	dnsprint_json_str(struct dnsprint_out *o, const char *s);
void	dnsprint_json_strn(struct dnsprint_out *o, const char *s, size_t n);
void	dnsprint_json_key(struct dnsprint_out *o, int *first, const char *key);
void	dnsprint_json_kv_str(struct dnsprint_out *o, int *first,
	    const char *key, const char *v);
void	dnsprint_json_kv_num(struct dnsprint_out *o, int *first,
	    const char *key, long long v);

/*
 * Print the message msg (len bytes) in fmt to o: text is the header
 * line, the EDNS pseudosection and the sections, as dig shows them; JSON
 * one object on one line.  As much as parses is printed; JSON output
 * stays one well-formed object even then, with the reason under
 * "malformed".  Returns 0 if every record parsed, -1 if the message is
 * malformed (shorter than a header, a bad name, a record past the end),
 * with the reason in err (errlen bytes; err may be NULL).  Bytes after
 * the last record are not an error.
 */
int	dnsprint_msg(struct dnsprint_out *o, enum dnsprint_format fmt,
	    const uint8_t *msg, size_t len, char *err, size_t errlen);

/*
 * The members of the message's JSON object without its braces, for a
 * caller that opens the object with members of its own (see
 * dnsprint_json_key() for *first).  Returns as dnsprint_msg().
 */
int	dnsprint_json_members(struct dnsprint_out *o, int *first,
	    const uint8_t *msg, size_t len, char *err, size_t errlen);

/*
 * Print the rdata of one record of type type, rdlen bytes at msg + off,
 * in presentation format.  Names in it may point back into msg (len
 * bytes).  Never fails: what does not parse is printed as "\# LEN HEX".
 * Returns 0 if it was printed in its type's format, -1 if generically.
 */
int	dnsprint_rdata(struct dnsprint_out *o, const uint8_t *msg,
	    size_t len, size_t off, uint16_t rdlen, uint16_t type);

/*
 * The records of one section (DNS_SEC_ANSWER, _AUTHORITY or
 * _ADDITIONAL, the OPT record left out) of msg (len bytes) as text
 * lines, one a record, as dnsprint_msg() prints them but without the
 * header and the section's title (dohq --validate's answer, as delv
 * shows one).  Returns the records printed, or -1 if sec is not one of
 * those or the message is malformed before the section's end (what
 * parsed is printed).
 */
int	dnsprint_section(struct dnsprint_out *o, const uint8_t *msg,
	    size_t len, int sec);

/*
 * The name of Extended DNS Error info code (RFC 8914 and its registry:
 * "DNSSEC Bogus"), or NULL for one without a name.
 */
const char *dnsprint_ede_name(int code);

/*
 * The presentation name of SvcParamKey key (RFC 9460 14.3.2, 9461 5:
 * "alpn", "dohpath"; "key65000" for one without a name) in buf (size
 * bytes, 16 always fit).  Returns buf.
 */
const char *dnsprint_svc_key_str(uint16_t key, char *buf, size_t size);

#endif
