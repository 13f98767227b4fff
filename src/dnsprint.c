/*
 * dnsprint: DNS messages in presentation format.  Two passes over a
 * message: the first checks every record and finds the OPT record (its
 * extended rcode belongs in the header line, printed first); the second
 * prints.  Typed rdata is first printed into a counting sink, so rdata
 * that does not parse as its type falls back to RFC 3597 before anything
 * of it reached the output.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"

#define HDR_LEN		DNS_HDR_LEN
#define NAME_MAX_WIRE	255

#define T_A		1
#define T_NS		2
#define T_CNAME		5
#define T_SOA		6
#define T_PTR		12
#define T_HINFO		13
#define T_MX		15
#define T_TXT		16
#define T_AFSDB		18
#define T_AAAA		28
#define T_SRV		33
#define T_KX		36
#define T_DNAME		39
#define T_OPT		41
#define T_DS		43
#define T_SSHFP		44
#define T_RRSIG		46
#define T_NSEC		47
#define T_DNSKEY	48
#define T_TLSA		52
#define T_CDS		59
#define T_CDNSKEY	60
#define T_SVCB		64
#define T_HTTPS		65
#define T_SPF		99
#define T_CAA		257

#define OPT_NSID	3
#define OPT_ECS		8
#define OPT_COOKIE	10
#define OPT_PADDING	12
#define OPT_EDE		15

enum section {
	SEC_QUESTION,
	SEC_ANSWER,
	SEC_AUTHORITY,
	SEC_ADDITIONAL,
	SEC_MAX
};
static const char *const section_names[] = {
	"question", "answer", "authority", "additional",
};
static const char *const section_titles[] = {
	"QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL",
};

const char *const dnsprint_format_names[] = {
	"text", "short", "json",
};

struct code_name {
	unsigned	 code;
	const char	*name;
};

static const struct code_name type_names[] = {
	{ 1, "A" }, { 2, "NS" }, { 3, "MD" }, { 4, "MF" }, { 5, "CNAME" },
	{ 6, "SOA" }, { 7, "MB" }, { 8, "MG" }, { 9, "MR" }, { 10, "NULL" },
	{ 11, "WKS" }, { 12, "PTR" }, { 13, "HINFO" }, { 14, "MINFO" },
	{ 15, "MX" }, { 16, "TXT" }, { 17, "RP" }, { 18, "AFSDB" },
	{ 19, "X25" }, { 20, "ISDN" }, { 21, "RT" }, { 22, "NSAP" },
	{ 23, "NSAP-PTR" }, { 24, "SIG" }, { 25, "KEY" }, { 26, "PX" },
	{ 27, "GPOS" }, { 28, "AAAA" }, { 29, "LOC" }, { 30, "NXT" },
	{ 33, "SRV" }, { 35, "NAPTR" }, { 36, "KX" }, { 37, "CERT" },
	{ 38, "A6" }, { 39, "DNAME" }, { 41, "OPT" }, { 42, "APL" },
	{ 43, "DS" }, { 44, "SSHFP" }, { 45, "IPSECKEY" }, { 46, "RRSIG" },
	{ 47, "NSEC" }, { 48, "DNSKEY" }, { 49, "DHCID" }, { 50, "NSEC3" },
	{ 51, "NSEC3PARAM" }, { 52, "TLSA" }, { 53, "SMIMEA" }, { 55, "HIP" },
	{ 59, "CDS" }, { 60, "CDNSKEY" }, { 61, "OPENPGPKEY" },
	{ 62, "CSYNC" }, { 63, "ZONEMD" }, { 64, "SVCB" }, { 65, "HTTPS" },
	{ 99, "SPF" }, { 108, "EUI48" }, { 109, "EUI64" }, { 249, "TKEY" },
	{ 250, "TSIG" }, { 251, "IXFR" }, { 252, "AXFR" }, { 253, "MAILB" },
	{ 254, "MAILA" }, { 255, "ANY" }, { 256, "URI" }, { 257, "CAA" },
};

static const struct code_name class_names[] = {
	{ 1, "IN" }, { 3, "CH" }, { 4, "HS" }, { 254, "NONE" }, { 255, "ANY" },
};

static const char *const rcode_names[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI",
	NULL, NULL, NULL, NULL, "BADVERS", "BADKEY", "BADTIME", "BADMODE",
	"BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE",
};

static const char *const opcode_names[] = {
	"QUERY", "IQUERY", "STATUS", NULL, "NOTIFY", "UPDATE", "DSO",
};

/* RFC 8914 and its registry. */
static const char *const ede_names[] = {
	"Other", "Unsupported DNSKEY Algorithm", "Unsupported DS Digest Type",
	"Stale Answer", "Forged Answer", "DNSSEC Indeterminate",
	"DNSSEC Bogus", "Signature Expired", "Signature Not Yet Valid",
	"DNSKEY Missing", "RRSIGs Missing", "No Zone Key Bit Set",
	"NSEC Missing", "Cached Error", "Not Ready", "Blocked", "Censored",
	"Filtered", "Prohibited", "Stale NXDOMAIN Answer",
	"Not Authoritative", "Not Supported", "No Reachable Authority",
	"Network Error", "Invalid Data", "Signature Expired before Valid",
	"Too Early", "Unsupported NSEC3 Iterations Value",
	"Unable to conform to policy", "Synthesized",
};

/* RFC 9460 14.3.2 */
static const char *const svc_key_names[] = {
	"mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech",
	"ipv6hint", "dohpath", "ohttp",
};

static const struct {
	uint16_t	 bit;
	const char	*name;
} flag_names[] = {
	{ 0x8000, "qr" }, { 0x0400, "aa" }, { 0x0200, "tc" },
	{ 0x0100, "rd" }, { 0x0080, "ra" }, { 0x0040, "z" },
	{ 0x0020, "ad" }, { 0x0010, "cd" },
};

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* --- output --- */

void
dnsprint_out_file(struct dnsprint_out *o, FILE *fp)
{
	memset(o, 0, sizeof(*o));
	o->fp = fp;
}

void
dnsprint_out_buf(struct dnsprint_out *o, char *buf, size_t size)
{
	memset(o, 0, sizeof(*o));
	o->buf = buf;
	o->size = size;
	if (size > 0)
		buf[0] = '\0';
}

size_t
dnsprint_out_len(const struct dnsprint_out *o)
{
	return o->len;
}

static void
out_raw(struct dnsprint_out *o, const char *s, size_t n)
{
	size_t room;

	if (o->fp != NULL)
		fwrite(s, 1, n, o->fp);
	else if (o->size > 0 && o->len < o->size - 1) {
		room = o->size - 1 - o->len;
		if (room > n)
			room = n;
		memcpy(o->buf + o->len, s, room);
		o->buf[o->len + room] = '\0';
	}
	o->len += n;
}

/* Everything goes through here, escaped when inside a JSON string. */
static void
out_write(struct dnsprint_out *o, const char *s, size_t n)
{
	char esc[8];
	size_t i, start = 0;
	unsigned char c;

	if (!o->json) {
		out_raw(o, s, n);
		return;
	}
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			continue;
		out_raw(o, s + start, i - start);
		start = i + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			out_raw(o, esc, 2);
		} else {
			/*
			 * Bytes above 0x7e as Latin-1: the output stays
			 * valid UTF-8 whatever the server sent.
			 */
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			out_raw(o, esc, 6);
		}
	}
	out_raw(o, s + start, n - start);
}

void
dnsprint_puts(struct dnsprint_out *o, const char *s)
{
	out_write(o, s, strlen(s));
}

static void
out_c(struct dnsprint_out *o, char c)
{
	out_write(o, &c, 1);
}

/* Short formatted pieces only: numbers, names of things. */
static void __attribute__((format(printf, 2, 3)))
out_f(struct dnsprint_out *o, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	out_write(o, buf, (size_t)n);
}

void
dnsprint_json_str(struct dnsprint_out *o, const char *s)
{
	int was = o->json;

	out_raw(o, "\"", 1);
	o->json = 1;
	dnsprint_puts(o, s);
	o->json = was;
	out_raw(o, "\"", 1);
}

/* A JSON string made of whatever print(o, ...) writes. */
static void
json_open(struct dnsprint_out *o)
{
	out_raw(o, "\"", 1);
	o->json = 1;
}

static void
json_close(struct dnsprint_out *o)
{
	o->json = 0;
	out_raw(o, "\"", 1);
}

static void
json_key(struct dnsprint_out *o, int *first, const char *key)
{
	if (!*first)
		out_raw(o, ",", 1);
	*first = 0;
	dnsprint_json_str(o, key);
	out_raw(o, ":", 1);
}

static void
json_kv_str(struct dnsprint_out *o, int *first, const char *key,
    const char *v)
{
	json_key(o, first, key);
	dnsprint_json_str(o, v);
}

static void
json_kv_num(struct dnsprint_out *o, int *first, const char *key,
    long long v)
{
	json_key(o, first, key);
	out_f(o, "%lld", v);
}

/* --- names of numbers --- */

static const char *
table_name(const struct code_name *t, size_t n, unsigned code)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].name;
	return NULL;
}

const char *
dnsprint_type_str(uint16_t type, char *buf, size_t size)
{
	const char *s = table_name(type_names, nitems(type_names), type);

	if (s != NULL)
		snprintf(buf, size, "%s", s);
	else
		snprintf(buf, size, "TYPE%u", type);
	return buf;
}

const char *
dnsprint_class_str(uint16_t class, char *buf, size_t size)
{
	const char *s = table_name(class_names, nitems(class_names), class);

	if (s != NULL)
		snprintf(buf, size, "%s", s);
	else
		snprintf(buf, size, "CLASS%u", class);
	return buf;
}

const char *
dnsprint_rcode_str(unsigned rcode, char *buf, size_t size)
{
	if (rcode < nitems(rcode_names) && rcode_names[rcode] != NULL)
		snprintf(buf, size, "%s", rcode_names[rcode]);
	else
		snprintf(buf, size, "RCODE%u", rcode);
	return buf;
}

static int
generic_parse(const char *s, const char *prefix, uint16_t *out)
{
	size_t plen = strlen(prefix);
	unsigned long v = 0;
	const char *p;

	if (strncasecmp(s, prefix, plen) != 0 || s[plen] == '\0')
		return -1;
	for (p = s + plen; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -1;
	}
	*out = (uint16_t)v;
	return 0;
}

static int
table_parse(const struct code_name *t, size_t n, const char *s,
    const char *prefix, uint16_t *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(s, t[i].name) == 0) {
			*out = (uint16_t)t[i].code;
			return 0;
		}
	return generic_parse(s, prefix, out);
}

int
dnsprint_type_parse(const char *s, uint16_t *type)
{
	return table_parse(type_names, nitems(type_names), s, "TYPE", type);
}

int
dnsprint_class_parse(const char *s, uint16_t *class)
{
	return table_parse(class_names, nitems(class_names), s, "CLASS",
	    class);
}

/* --- names --- */

static int
name_special(unsigned char c)
{
	return c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' ||
	    c == ';' || c == '@' || c == '$';
}

/* One label byte in presentation form into p (room for 4). */
static size_t
label_char(unsigned char c, char *p)
{
	if (c < 0x21 || c > 0x7e) {
		p[0] = '\\';
		p[1] = (char)('0' + c / 100);
		p[2] = (char)('0' + c / 10 % 10);
		p[3] = (char)('0' + c % 10);
		return 4;
	}
	if (name_special(c)) {
		p[0] = '\\';
		p[1] = (char)c;
		return 2;
	}
	p[0] = (char)c;
	return 1;
}

/*
 * Read the name at *off into out (DNSPRINT_NAMELEN bytes, presentation
 * form): dnsmsg's reader (its own bytes before end, pointers only to
 * earlier, finished parts), then our escaping.  *off moves past the
 * name as it sits in the message.
 */
static int
read_name(const uint8_t *msg, size_t len, size_t *off, size_t end,
    char *out)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t pos = 0, o = 0, i;
	uint8_t lab;

	if (dnsmsg_read_name(msg, len, end, off, wire, NULL) == -1)
		return -1;
	/* 4 bytes a label byte, a dot: within DNSPRINT_NAMELEN for any
	 * name of at most 255 wire bytes. */
	while ((lab = wire[pos]) != 0) {
		for (i = 0; i < lab; i++)
			o += label_char(wire[pos + 1 + i], out + o);
		out[o++] = '.';
		pos += 1 + (size_t)lab;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return 0;
}

int
dnsprint_name_str(const uint8_t *name, size_t name_len, char *buf,
    size_t size)
{
	char tmp[DNSPRINT_NAMELEN];
	size_t off = 0;

	/* No pointers here: nothing lies before the name to point to. */
	if (name_len == 0 || read_name(name, name_len, &off, name_len,
	    tmp) == -1 || off != name_len || strlen(tmp) >= size) {
		if (size > 0)
			buf[0] = '\0';
		return -1;
	}
	memcpy(buf, tmp, strlen(tmp) + 1);
	return 0;
}

size_t
dnsprint_name_parse(const char *s, uint8_t *out, size_t size)
{
	size_t o = 0, lenpos, lab;
	unsigned v;
	int c;

	if (size < NAME_MAX_WIRE)
		return 0;
	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	for (;;) {
		lenpos = o++;
		for (lab = 0; *s != '\0' && *s != '.'; lab++) {
			c = (unsigned char)*s++;
			if (c == '\\') {
				c = (unsigned char)*s++;
				if (c == '\0')
					return 0;
				if (c >= '0' && c <= '9') {
					if (s[0] < '0' || s[0] > '9' ||
					    s[1] < '0' || s[1] > '9')
						return 0;
					v = (unsigned)(c - '0') * 100 +
					    (unsigned)(s[0] - '0') * 10 +
					    (unsigned)(s[1] - '0');
					if (v > 255)
						return 0;
					c = (int)v;
					s += 2;
				}
			}
			/* Room is kept for the root label. */
			if (lab == 63 || o >= NAME_MAX_WIRE - 1)
				return 0;
			out[o++] = (uint8_t)c;
		}
		if (lab == 0)
			return 0;
		out[lenpos] = (uint8_t)lab;
		if (*s == '\0' || *++s == '\0')
			break;
	}
	out[o++] = 0;
	return o;
}

/* --- a cursor over one record's rdata --- */

struct cur {
	const uint8_t	*msg;
	size_t		 len;	/* of the whole message, for pointers */
	size_t		 off;
	size_t		 end;	/* of the rdata */
};

static size_t
cur_left(const struct cur *c)
{
	return c->end - c->off;
}

static int
cur_u8(struct cur *c, unsigned *v)
{
	if (cur_left(c) < 1)
		return -1;
	*v = c->msg[c->off++];
	return 0;
}

static int
cur_u16(struct cur *c, unsigned *v)
{
	if (cur_left(c) < 2)
		return -1;
	*v = (unsigned)c->msg[c->off] << 8 | c->msg[c->off + 1];
	c->off += 2;
	return 0;
}

static int
cur_u32(struct cur *c, uint32_t *v)
{
	if (cur_left(c) < 4)
		return -1;
	*v = (uint32_t)c->msg[c->off] << 24 |
	    (uint32_t)c->msg[c->off + 1] << 16 |
	    (uint32_t)c->msg[c->off + 2] << 8 | c->msg[c->off + 3];
	c->off += 4;
	return 0;
}

static const uint8_t *
cur_bytes(struct cur *c, size_t n)
{
	const uint8_t *p;

	if (cur_left(c) < n)
		return NULL;
	p = c->msg + c->off;
	c->off += n;
	return p;
}

static int
cur_name(struct cur *c, char *out)
{
	return read_name(c->msg, c->len, &c->off, c->end, out);
}

/* --- pieces of rdata --- */

static void
put_hex(struct dnsprint_out *o, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char buf[64];
	size_t i, b = 0;

	for (i = 0; i < n; i++) {
		buf[b++] = hex[p[i] >> 4];
		buf[b++] = hex[p[i] & 15];
		if (b == sizeof(buf)) {
			out_write(o, buf, b);
			b = 0;
		}
	}
	out_write(o, buf, b);
}

static void
put_base64(struct dnsprint_out *o, const uint8_t *p, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char buf[64];
	size_t i, b = 0;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		buf[b++] = b64[v >> 18];
		buf[b++] = b64[(v >> 12) & 63];
		buf[b++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		buf[b++] = i + 2 < n ? b64[v & 63] : '=';
		if (b == sizeof(buf)) {
			out_write(o, buf, b);
			b = 0;
		}
	}
	out_write(o, buf, b);
}

/* Bytes of a <character-string> between quotes (RFC 1035 5.1). */
static void
put_quoted(struct dnsprint_out *o, const uint8_t *p, size_t n)
{
	char buf[64];
	size_t i, b = 0;

	out_c(o, '"');
	for (i = 0; i < n; i++) {
		if (b > sizeof(buf) - 5) {
			out_write(o, buf, b);
			b = 0;
		}
		if (p[i] == '"' || p[i] == '\\') {
			buf[b++] = '\\';
			buf[b++] = (char)p[i];
		} else if (p[i] < 0x20 || p[i] > 0x7e)
			b += (size_t)snprintf(buf + b, 5, "\\%03u", p[i]);
		else
			buf[b++] = (char)p[i];
	}
	out_write(o, buf, b);
	out_c(o, '"');
}

static void
put_addr(struct dnsprint_out *o, int af, const uint8_t *p)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(af, p, a, sizeof(a)) != NULL)
		dnsprint_puts(o, a);
}

static void
put_type(struct dnsprint_out *o, unsigned type)
{
	char t[16];

	dnsprint_puts(o, dnsprint_type_str((uint16_t)type, t, sizeof(t)));
}

/* RRSIG times: YYYYMMDDHHmmSS (RFC 4034 3.2). */
static void
put_time(struct dnsprint_out *o, uint32_t v)
{
	time_t t = (time_t)v;
	struct tm tm;
	char buf[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm) == 0)
		out_f(o, "%u", v);
	else
		dnsprint_puts(o, buf);
}

/* --- typed rdata; each returns -1 if the rdata does not fit its type --- */

static int
rd_name(struct dnsprint_out *o, struct cur *c)
{
	char name[DNSPRINT_NAMELEN];

	if (cur_name(c, name) == -1)
		return -1;
	dnsprint_puts(o, name);
	return 0;
}

static int
rd_soa(struct dnsprint_out *o, struct cur *c)
{
	uint32_t v;
	int i;

	if (rd_name(o, c) == -1)
		return -1;
	out_c(o, ' ');
	if (rd_name(o, c) == -1)
		return -1;
	for (i = 0; i < 5; i++) {
		if (cur_u32(c, &v) == -1)
			return -1;
		out_f(o, " %u", v);
	}
	return 0;
}

/* MX, AFSDB, KX: a 16-bit number and a name. */
static int
rd_u16_name(struct dnsprint_out *o, struct cur *c)
{
	unsigned v;

	if (cur_u16(c, &v) == -1)
		return -1;
	out_f(o, "%u ", v);
	return rd_name(o, c);
}

/* TXT and SPF: one or more strings; HINFO: exactly two. */
static int
rd_strings(struct dnsprint_out *o, struct cur *c, int want)
{
	const uint8_t *p;
	unsigned n;
	int i;

	for (i = 0; cur_left(c) > 0; i++) {
		if (cur_u8(c, &n) == -1 || (p = cur_bytes(c, n)) == NULL)
			return -1;
		if (i > 0)
			out_c(o, ' ');
		put_quoted(o, p, n);
	}
	if (i == 0 || (want != 0 && i != want))
		return -1;
	return 0;
}

static int
rd_srv(struct dnsprint_out *o, struct cur *c)
{
	unsigned prio, weight, port;

	if (cur_u16(c, &prio) == -1 || cur_u16(c, &weight) == -1 ||
	    cur_u16(c, &port) == -1)
		return -1;
	out_f(o, "%u %u %u ", prio, weight, port);
	return rd_name(o, c);
}

/* DS and CDS: key tag, algorithm, digest type, digest. */
static int
rd_ds(struct dnsprint_out *o, struct cur *c)
{
	unsigned tag, alg, dtype;
	size_t n;

	if (cur_u16(c, &tag) == -1 || cur_u8(c, &alg) == -1 ||
	    cur_u8(c, &dtype) == -1 || (n = cur_left(c)) == 0)
		return -1;
	out_f(o, "%u %u %u ", tag, alg, dtype);
	put_hex(o, cur_bytes(c, n), n);
	return 0;
}

/* DNSKEY and CDNSKEY: flags, protocol, algorithm, key. */
static int
rd_dnskey(struct dnsprint_out *o, struct cur *c)
{
	unsigned flags, proto, alg;
	size_t n;

	if (cur_u16(c, &flags) == -1 || cur_u8(c, &proto) == -1 ||
	    cur_u8(c, &alg) == -1 || (n = cur_left(c)) == 0)
		return -1;
	out_f(o, "%u %u %u ", flags, proto, alg);
	put_base64(o, cur_bytes(c, n), n);
	return 0;
}

static int
rd_rrsig(struct dnsprint_out *o, struct cur *c)
{
	unsigned covered, alg, labels, tag;
	uint32_t ttl, exp, inc;
	size_t n;

	if (cur_u16(c, &covered) == -1 || cur_u8(c, &alg) == -1 ||
	    cur_u8(c, &labels) == -1 || cur_u32(c, &ttl) == -1 ||
	    cur_u32(c, &exp) == -1 || cur_u32(c, &inc) == -1 ||
	    cur_u16(c, &tag) == -1)
		return -1;
	put_type(o, covered);
	out_f(o, " %u %u %u ", alg, labels, ttl);
	put_time(o, exp);
	out_c(o, ' ');
	put_time(o, inc);
	out_f(o, " %u ", tag);
	if (rd_name(o, c) == -1 || (n = cur_left(c)) == 0)
		return -1;
	out_c(o, ' ');
	put_base64(o, cur_bytes(c, n), n);
	return 0;
}

/* An RFC 4034 4.1.2 type bitmap: windows in rising order, 1..32 bytes. */
static int
rd_bitmap(struct dnsprint_out *o, struct cur *c)
{
	const uint8_t *p;
	unsigned win, n, i, b;
	int last = -1;

	while (cur_left(c) > 0) {
		if (cur_u8(c, &win) == -1 || cur_u8(c, &n) == -1 ||
		    (int)win <= last || n == 0 || n > 32 ||
		    (p = cur_bytes(c, n)) == NULL)
			return -1;
		last = (int)win;
		for (i = 0; i < n; i++)
			for (b = 0; b < 8; b++)
				if (p[i] & (0x80 >> b)) {
					out_c(o, ' ');
					put_type(o, win * 256 + i * 8 + b);
				}
	}
	return 0;
}

static int
rd_nsec(struct dnsprint_out *o, struct cur *c)
{
	if (rd_name(o, c) == -1)
		return -1;
	return rd_bitmap(o, c);
}

static int
rd_caa(struct dnsprint_out *o, struct cur *c)
{
	const uint8_t *tag;
	unsigned flags, n, i;
	size_t vlen;

	if (cur_u8(c, &flags) == -1 || cur_u8(c, &n) == -1 || n == 0 ||
	    (tag = cur_bytes(c, n)) == NULL)
		return -1;
	/* RFC 8659 4.1: the tag is letters and digits. */
	for (i = 0; i < n; i++)
		if (!((tag[i] >= 'a' && tag[i] <= 'z') ||
		    (tag[i] >= 'A' && tag[i] <= 'Z') ||
		    (tag[i] >= '0' && tag[i] <= '9')))
			return -1;
	out_f(o, "%u ", flags);
	out_write(o, (const char *)tag, n);
	out_c(o, ' ');
	vlen = cur_left(c);
	put_quoted(o, cur_bytes(c, vlen), vlen);
	return 0;
}

/* SSHFP (two numbers) and TLSA (three), then hex. */
static int
rd_nums_hex(struct dnsprint_out *o, struct cur *c, int nums)
{
	unsigned v;
	size_t n;
	int i;

	for (i = 0; i < nums; i++) {
		if (cur_u8(c, &v) == -1)
			return -1;
		out_f(o, "%u ", v);
	}
	if ((n = cur_left(c)) == 0)
		return -1;
	put_hex(o, cur_bytes(c, n), n);
	return 0;
}

static void
put_svc_key(struct dnsprint_out *o, unsigned key)
{
	if (key < nitems(svc_key_names))
		dnsprint_puts(o, svc_key_names[key]);
	else
		out_f(o, "key%u", key);
}

/*
 * An alpn-id inside alpn="...": the list separator and the quoting
 * characters are escaped (RFC 9460 A.1), other bytes as \DDD.
 */
static void
put_alpn_id(struct dnsprint_out *o, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == ',')
			dnsprint_puts(o, "\\\\,");
		else if (p[i] == '\\')
			dnsprint_puts(o, "\\\\\\\\");
		else if (p[i] == '"')
			dnsprint_puts(o, "\\\"");
		else if (p[i] < 0x21 || p[i] > 0x7e)
			out_f(o, "\\%03u", p[i]);
		else
			out_c(o, (char)p[i]);
	}
}

static int
svc_value(struct dnsprint_out *o, unsigned key, const uint8_t *v, size_t n)
{
	struct cur c;
	const uint8_t *p;
	unsigned x;
	size_t i;

	c.msg = v;
	c.len = n;
	c.off = 0;
	c.end = n;
	switch (key) {
	case 0:		/* mandatory */
		if (n == 0 || n % 2 != 0)
			return -1;
		out_c(o, '=');
		for (i = 0; cur_u16(&c, &x) == 0; i++) {
			if (i > 0)
				out_c(o, ',');
			put_svc_key(o, x);
		}
		return 0;
	case 1:		/* alpn */
		if (n == 0)
			return -1;
		dnsprint_puts(o, "=\"");
		for (i = 0; cur_left(&c) > 0; i++) {
			if (cur_u8(&c, &x) == -1 || x == 0 ||
			    (p = cur_bytes(&c, x)) == NULL)
				return -1;
			if (i > 0)
				out_c(o, ',');
			put_alpn_id(o, p, x);
		}
		out_c(o, '"');
		return 0;
	case 2:		/* no-default-alpn */
	case 8:		/* ohttp (RFC 9540) */
		return n == 0 ? 0 : -1;
	case 3:		/* port */
		if (n != 2 || cur_u16(&c, &x) == -1)
			return -1;
		out_f(o, "=%u", x);
		return 0;
	case 4:		/* ipv4hint */
	case 6:		/* ipv6hint */
		x = key == 4 ? 4 : 16;
		if (n == 0 || n % x != 0)
			return -1;
		out_c(o, '=');
		for (i = 0; i < n; i += x) {
			if (i > 0)
				out_c(o, ',');
			put_addr(o, key == 4 ? AF_INET : AF_INET6, v + i);
		}
		return 0;
	case 5:		/* ech */
		if (n == 0)
			return -1;
		out_c(o, '=');
		put_base64(o, v, n);
		return 0;
	default:	/* dohpath (RFC 9461) and unknown keys */
		if (n == 0)
			return key == 7 ? -1 : 0;
		out_c(o, '=');
		put_quoted(o, v, n);
		return 0;
	}
}

static int
rd_svcb(struct dnsprint_out *o, struct cur *c)
{
	const uint8_t *v;
	unsigned prio, key, n;

	if (cur_u16(c, &prio) == -1)
		return -1;
	out_f(o, "%u ", prio);
	if (rd_name(o, c) == -1)
		return -1;
	while (cur_left(c) > 0) {
		if (cur_u16(c, &key) == -1 || cur_u16(c, &n) == -1 ||
		    (v = cur_bytes(c, n)) == NULL || key == 65535)
			return -1;
		out_c(o, ' ');
		put_svc_key(o, key);
		if (svc_value(o, key, v, n) == -1)
			return -1;
	}
	return 0;
}

static int
rdata_typed(struct dnsprint_out *o, struct cur *c, uint16_t type)
{
	const uint8_t *p;
	int r;

	switch (type) {
	case T_A:
	case T_AAAA:
		if ((p = cur_bytes(c, type == T_A ? 4 : 16)) == NULL)
			return -1;
		put_addr(o, type == T_A ? AF_INET : AF_INET6, p);
		r = 0;
		break;
	case T_NS:
	case T_CNAME:
	case T_PTR:
	case T_DNAME:
		r = rd_name(o, c);
		break;
	case T_SOA:
		r = rd_soa(o, c);
		break;
	case T_MX:
	case T_AFSDB:
	case T_KX:
		r = rd_u16_name(o, c);
		break;
	case T_TXT:
	case T_SPF:
		r = rd_strings(o, c, 0);
		break;
	case T_HINFO:
		r = rd_strings(o, c, 2);
		break;
	case T_SRV:
		r = rd_srv(o, c);
		break;
	case T_DS:
	case T_CDS:
		r = rd_ds(o, c);
		break;
	case T_DNSKEY:
	case T_CDNSKEY:
		r = rd_dnskey(o, c);
		break;
	case T_RRSIG:
		r = rd_rrsig(o, c);
		break;
	case T_NSEC:
		r = rd_nsec(o, c);
		break;
	case T_SSHFP:
		r = rd_nums_hex(o, c, 2);
		break;
	case T_TLSA:
		r = rd_nums_hex(o, c, 3);
		break;
	case T_CAA:
		r = rd_caa(o, c);
		break;
	case T_SVCB:
	case T_HTTPS:
		r = rd_svcb(o, c);
		break;
	default:
		return -1;
	}
	/* Every byte must be used: trailing bytes mean another format. */
	return r == 0 && cur_left(c) == 0 ? 0 : -1;
}

/* RFC 3597 5: "\# LEN HEX". */
static void
rdata_generic(struct dnsprint_out *o, const uint8_t *p, size_t n)
{
	out_f(o, "\\# %zu", n);
	if (n > 0) {
		out_c(o, ' ');
		put_hex(o, p, n);
	}
}

int
dnsprint_rdata(struct dnsprint_out *o, const uint8_t *msg, size_t len,
    size_t off, uint16_t rdlen, uint16_t type)
{
	struct dnsprint_out count;
	struct cur c;

	if (off > len || len - off < rdlen) {
		/* Not the caller's to get wrong, but never read past. */
		rdata_generic(o, NULL, 0);
		return -1;
	}
	c.msg = msg;
	c.len = len;
	c.off = off;
	c.end = off + rdlen;
	dnsprint_out_buf(&count, NULL, 0);
	if (rdata_typed(&count, &c, type) == 0) {
		c.off = off;
		(void)rdata_typed(o, &c, type);
		return 0;
	}
	rdata_generic(o, msg + off, rdlen);
	return -1;
}

/* --- the message --- */

struct rr {
	char		owner[DNSPRINT_NAMELEN];
	uint16_t	type;
	uint16_t	class;
	uint32_t	ttl;
	uint16_t	rdlen;
	size_t		rdoff;
};

struct view {
	const uint8_t	*msg;
	size_t		 len;
	uint16_t	 id;
	uint16_t	 flags;
	uint16_t	 count[SEC_MAX];
	int		 edns;		/* an OPT record was found */
	size_t		 opt_index;	/* its place among the additional */
	struct rr	 opt;
	unsigned	 rcode;		/* with the extended bits */
	const char	*bad;		/* why it is malformed, or NULL */
	char		 badbuf[96];
};

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* One question (rr->ttl, rdlen unused) or one record at *off. */
static int
read_rr(const struct view *v, size_t *off, int question, struct rr *rr,
    const char **why)
{
	const uint8_t *p;

	if (read_name(v->msg, v->len, off, v->len, rr->owner) == -1) {
		*why = "bad owner name";
		return -1;
	}
	if (v->len - *off < (question ? 4u : 10u)) {
		*why = question ? "question past the end" :
		    "record past the end";
		return -1;
	}
	p = v->msg + *off;
	rr->type = get16(p);
	rr->class = get16(p + 2);
	if (question) {
		rr->ttl = 0;
		rr->rdlen = 0;
		*off += 4;
		rr->rdoff = *off;
		return 0;
	}
	rr->ttl = (uint32_t)get16(p + 4) << 16 | get16(p + 6);
	rr->rdlen = get16(p + 8);
	*off += 10;
	rr->rdoff = *off;
	if (v->len - *off < rr->rdlen) {
		*why = "record data past the end";
		return -1;
	}
	*off += rr->rdlen;
	return 0;
}

/*
 * First pass: check every record and find the first OPT.  Returns 0, or
 * -1 with v->bad set.  The second pass stops at the same place.
 */
static int
view_scan(struct view *v, const uint8_t *msg, size_t len)
{
	struct rr rr;
	size_t off = HDR_LEN, i;
	int s;

	memset(v, 0, sizeof(*v));
	v->msg = msg;
	v->len = len;
	if (len < HDR_LEN) {
		v->bad = "shorter than a DNS header";
		return -1;
	}
	v->id = get16(msg);
	v->flags = get16(msg + 2);
	for (s = 0; s < SEC_MAX; s++)
		v->count[s] = get16(msg + 4 + 2 * s);
	v->rcode = v->flags & 0x000f;
	for (s = 0; s < SEC_MAX; s++)
		for (i = 0; i < v->count[s]; i++) {
			if (read_rr(v, &off, s == SEC_QUESTION, &rr,
			    &v->bad) == -1) {
				snprintf(v->badbuf, sizeof(v->badbuf),
				    "%s (%s section, record %zu of %u)",
				    v->bad, section_names[s], i + 1,
				    v->count[s]);
				v->bad = v->badbuf;
				return -1;
			}
			if (s == SEC_ADDITIONAL && rr.type == T_OPT &&
			    !v->edns) {
				v->edns = 1;
				v->opt_index = i;
				v->opt = rr;
				v->rcode |= (rr.ttl >> 24) << 4;
			}
		}
	return 0;
}

/* Tabs up to column 24 after an owner name, as dig lines records up. */
static void
put_owner_pad(struct dnsprint_out *o, const char *owner, size_t col)
{
	col += strlen(owner);
	do {
		out_c(o, '\t');
		col = (col + 8) & ~(size_t)7;
	} while (col < 24);
}

/* The value of one EDNS option in presentation form. */
static void
put_opt_value(struct dnsprint_out *o, unsigned code, const uint8_t *p,
    size_t n)
{
	struct cur c;
	uint8_t addr[16];
	unsigned fam, src, scope, info;
	size_t alen;

	c.msg = p;
	c.len = n;
	c.off = 0;
	c.end = n;
	switch (code) {
	case OPT_NSID:
		put_hex(o, p, n);
		if (n > 0) {
			out_c(o, ' ');
			put_quoted(o, p, n);
		}
		return;
	case OPT_ECS:
		/* RFC 7871 6: address cut to the source prefix length. */
		if (cur_u16(&c, &fam) == -1 || cur_u8(&c, &src) == -1 ||
		    cur_u8(&c, &scope) == -1 || (fam != 1 && fam != 2))
			break;
		alen = cur_left(&c);
		if (alen > (fam == 1 ? 4u : 16u) || src > (fam == 1 ? 32u :
		    128u) || alen != (src + 7) / 8)
			break;
		memset(addr, 0, sizeof(addr));
		memcpy(addr, cur_bytes(&c, alen), alen);
		put_addr(o, fam == 1 ? AF_INET : AF_INET6, addr);
		out_f(o, "/%u/%u", src, scope);
		return;
	case OPT_PADDING:
		out_f(o, "%zu bytes", n);
		return;
	case OPT_EDE:
		if (cur_u16(&c, &info) == -1)
			break;
		out_f(o, "%u", info);
		if (info < nitems(ede_names))
			out_f(o, " (%s)", ede_names[info]);
		if (cur_left(&c) > 0) {
			dnsprint_puts(o, ": ");
			put_quoted(o, p + 2, n - 2);
		}
		return;
	}
	put_hex(o, p, n);
}

static const char *
opt_name(unsigned code, char *buf, size_t size)
{
	switch (code) {
	case OPT_NSID:
		return "NSID";
	case OPT_ECS:
		return "CLIENT-SUBNET";
	case OPT_COOKIE:
		return "COOKIE";
	case OPT_PADDING:
		return "PADDING";
	case OPT_EDE:
		return "EDE";
	}
	snprintf(buf, size, "OPT%u", code);
	return buf;
}

/*
 * Walk the options of the OPT record: text lines or JSON objects.  A
 * broken option list is shown, not fatal: the answer is still usable.
 */
static void
put_opt_options(struct dnsprint_out *o, const struct view *v, int json)
{
	struct cur c;
	const uint8_t *p;
	unsigned code, n;
	char nb[16];
	int first, firstopt = 1;

	c.msg = v->msg;
	c.len = v->len;
	c.off = v->opt.rdoff;
	c.end = v->opt.rdoff + v->opt.rdlen;
	while (cur_left(&c) > 0) {
		if (cur_u16(&c, &code) == -1 || cur_u16(&c, &n) == -1 ||
		    (p = cur_bytes(&c, n)) == NULL) {
			if (!json)
				dnsprint_puts(o, "; malformed option data\n");
			else if (firstopt)
				dnsprint_puts(o, "{\"malformed\":true}");
			else
				dnsprint_puts(o, ",{\"malformed\":true}");
			return;
		}
		if (json) {
			if (!firstopt)
				out_raw(o, ",", 1);
			first = 1;
			out_raw(o, "{", 1);
			json_kv_num(o, &first, "code", code);
			json_kv_str(o, &first, "name",
			    opt_name(code, nb, sizeof(nb)));
			json_kv_num(o, &first, "length", n);
			json_key(o, &first, "data");
			json_open(o);
			put_opt_value(o, code, p, n);
			json_close(o);
			out_raw(o, "}", 1);
		} else {
			out_f(o, "; %s: ", opt_name(code, nb, sizeof(nb)));
			put_opt_value(o, code, p, n);
			out_c(o, '\n');
		}
		firstopt = 0;
	}
}

static void
text_header(struct dnsprint_out *o, const struct view *v)
{
	unsigned opcode = (v->flags >> 11) & 15;
	char rc[16];
	size_t i;

	dnsprint_puts(o, ";; ->>HEADER<<- opcode: ");
	if (opcode < nitems(opcode_names) && opcode_names[opcode] != NULL)
		dnsprint_puts(o, opcode_names[opcode]);
	else
		out_f(o, "OPCODE%u", opcode);
	out_f(o, ", status: %s, id: %u\n;; flags:",
	    dnsprint_rcode_str(v->rcode, rc, sizeof(rc)), v->id);
	for (i = 0; i < nitems(flag_names); i++)
		if (v->flags & flag_names[i].bit)
			out_f(o, " %s", flag_names[i].name);
	out_f(o, "; QUERY: %u, ANSWER: %u, AUTHORITY: %u, ADDITIONAL: %u\n",
	    v->count[0], v->count[1], v->count[2], v->count[3]);
	if (v->edns) {
		dnsprint_puts(o, "\n;; OPT PSEUDOSECTION:\n");
		out_f(o, "; EDNS: version: %u, flags:",
		    (v->opt.ttl >> 16) & 0xff);
		if (v->opt.ttl & 0x8000)
			dnsprint_puts(o, " do");
		if (v->opt.ttl & 0x7fff)
			out_f(o, " MBZ: 0x%04x", v->opt.ttl & 0x7fff);
		out_f(o, "; udp: %u\n", v->opt.class);
		put_opt_options(o, v, 0);
	}
}

static void
text_rr(struct dnsprint_out *o, const struct view *v, const struct rr *rr,
    int question)
{
	char t[16], cl[16];

	if (question) {
		out_c(o, ';');
		dnsprint_puts(o, rr->owner);
		put_owner_pad(o, rr->owner, 1);
		out_f(o, "\t%s\t%s\n", dnsprint_class_str(rr->class, cl,
		    sizeof(cl)), dnsprint_type_str(rr->type, t, sizeof(t)));
		return;
	}
	dnsprint_puts(o, rr->owner);
	put_owner_pad(o, rr->owner, 0);
	out_f(o, "%u\t%s\t%s\t", rr->ttl, dnsprint_class_str(rr->class, cl,
	    sizeof(cl)), dnsprint_type_str(rr->type, t, sizeof(t)));
	dnsprint_rdata(o, v->msg, v->len, rr->rdoff, rr->rdlen, rr->type);
	out_c(o, '\n');
}

static void
json_rr(struct dnsprint_out *o, const struct view *v, const struct rr *rr,
    int question)
{
	char t[16], cl[16];
	int first = 1;

	out_raw(o, "{", 1);
	json_kv_str(o, &first, "name", rr->owner);
	if (!question)
		json_kv_num(o, &first, "ttl", rr->ttl);
	json_kv_str(o, &first, "class", dnsprint_class_str(rr->class, cl,
	    sizeof(cl)));
	json_kv_str(o, &first, "type", dnsprint_type_str(rr->type, t,
	    sizeof(t)));
	if (!question) {
		json_key(o, &first, "data");
		json_open(o);
		dnsprint_rdata(o, v->msg, v->len, rr->rdoff, rr->rdlen,
		    rr->type);
		json_close(o);
	}
	out_raw(o, "}", 1);
}

/*
 * Second pass: the sections.  Text prints a section's title only if it
 * has a record to show (the OPT record is in the pseudosection).  Stops
 * where the first pass did.
 */
static void
put_sections(struct dnsprint_out *o, struct view *v,
    enum dnsprint_format fmt)
{
	struct rr rr;
	const char *why;
	size_t off = HDR_LEN, i, shown;
	int s, stop = 0;

	/* JSON keeps every key, empty after a malformed record. */
	for (s = 0; s < SEC_MAX; s++) {
		if (fmt == DNSPRINT_JSON)
			out_f(o, ",\"%s\":[", section_names[s]);
		shown = 0;
		for (i = 0; i < v->count[s] && !stop; i++) {
			if (read_rr(v, &off, s == SEC_QUESTION, &rr,
			    &why) == -1) {
				stop = 1;
				break;
			}
			if (s == SEC_ADDITIONAL && v->edns &&
			    i == v->opt_index)
				continue;
			if (fmt == DNSPRINT_SHORT) {
				if (s != SEC_ANSWER)
					continue;
				dnsprint_rdata(o, v->msg, v->len, rr.rdoff,
				    rr.rdlen, rr.type);
				out_c(o, '\n');
			} else if (fmt == DNSPRINT_JSON) {
				if (shown > 0)
					out_raw(o, ",", 1);
				json_rr(o, v, &rr, s == SEC_QUESTION);
			} else {
				if (shown == 0)
					out_f(o, "\n;; %s SECTION:\n",
					    section_titles[s]);
				text_rr(o, v, &rr, s == SEC_QUESTION);
			}
			shown++;
		}
		if (fmt == DNSPRINT_JSON)
			out_raw(o, "]", 1);
	}
}

static void
text_tls(struct dnsprint_out *o, const struct dnsprint_tls *t)
{
	out_f(o, ";; TLS: %s, cipher %s, ALPN %s%s\n",
	    t->version ? t->version : "?", t->cipher ? t->cipher : "?",
	    t->alpn ? t->alpn : "none", t->resumed ? ", resumed" : "");
	if (t->subject != NULL) {
		dnsprint_puts(o, ";; Certificate subject: ");
		dnsprint_puts(o, t->subject);
		dnsprint_puts(o, "\n");
	}
	if (t->issuer != NULL) {
		dnsprint_puts(o, ";; Certificate issuer: ");
		dnsprint_puts(o, t->issuer);
		dnsprint_puts(o, "\n");
	}
	if (t->not_before != NULL && t->not_after != NULL) {
		dnsprint_puts(o, ";; Certificate valid: ");
		dnsprint_puts(o, t->not_before);
		dnsprint_puts(o, " to ");
		dnsprint_puts(o, t->not_after);
		dnsprint_puts(o, "\n");
	}
}

/* "name: value\n"... as comment lines; a last line without \n too. */
static void
text_headers(struct dnsprint_out *o, const char *h)
{
	const char *nl;

	while (*h != '\0') {
		if ((nl = strchr(h, '\n')) == NULL)
			nl = h + strlen(h);
		dnsprint_puts(o, ";\t");
		out_write(o, h, (size_t)(nl - h));
		out_c(o, '\n');
		h = *nl != '\0' ? nl + 1 : nl;
	}
}

static void
text_timing(struct dnsprint_out *o, const struct dnsprint_timing *t)
{
	out_f(o, ";; TIMING:\n"
	    ";\tbootstrap resolution:   %llu ms\n"
	    ";\tTCP connect:            %llu ms\n"
	    ";\tTLS handshake:          %llu ms\n"
	    ";\trequest to first byte:  %llu ms\n"
	    ";\ttotal:                  %llu ms\n",
	    (unsigned long long)t->bootstrap_ms,
	    (unsigned long long)t->connect_ms,
	    (unsigned long long)t->handshake_ms,
	    (unsigned long long)t->first_byte_ms,
	    (unsigned long long)t->total_ms);
}

static void
text_trailer(struct dnsprint_out *o, const struct dnsprint_meta *m,
    size_t len)
{
	out_c(o, '\n');
	if (m->query_time_ms >= 0)
		out_f(o, ";; Query time: %lld msec\n",
		    (long long)m->query_time_ms);
	if (m->server != NULL) {
		dnsprint_puts(o, ";; SERVER: ");
		dnsprint_puts(o, m->server);
		if (m->server_addr != NULL) {
			dnsprint_puts(o, " (");
			dnsprint_puts(o, m->server_addr);
			out_c(o, ')');
		}
		out_c(o, '\n');
	}
	if (m->http_status != 0)
		out_f(o, ";; HTTP status: %d\n", m->http_status);
	if (m->http_headers != NULL) {
		dnsprint_puts(o, ";; HTTP headers:\n");
		text_headers(o, m->http_headers);
	}
	out_f(o, ";; MSG SIZE  rcvd: %zu\n", len);
	if (m->timing != NULL)
		text_timing(o, m->timing);
}

static void
json_meta(struct dnsprint_out *o, int *first, const struct dnsprint_meta *m)
{
	const struct dnsprint_tls *t = m->tls;
	const struct dnsprint_timing *tm = m->timing;
	const char *h, *nl, *colon;
	int f;

	if (m->server != NULL)
		json_kv_str(o, first, "server", m->server);
	if (m->server_addr != NULL)
		json_kv_str(o, first, "server_address", m->server_addr);
	if (m->http_status != 0)
		json_kv_num(o, first, "http_status", m->http_status);
	if (m->query_time_ms >= 0)
		json_kv_num(o, first, "query_time_ms", m->query_time_ms);
	if (m->http_headers != NULL) {
		json_key(o, first, "http_headers");
		out_raw(o, "[", 1);
		for (h = m->http_headers; *h != '\0'; h = nl) {
			if ((nl = strchr(h, '\n')) == NULL)
				nl = h + strlen(h);
			colon = memchr(h + 1, ':', (size_t)(nl - h - 1));
			if (h != m->http_headers)
				out_raw(o, ",", 1);
			out_raw(o, "{\"name\":", 8);
			json_open(o);
			out_write(o, h, colon ? (size_t)(colon - h) :
			    (size_t)(nl - h));
			json_close(o);
			out_raw(o, ",\"value\":", 9);
			json_open(o);
			if (colon != NULL) {
				colon++;
				if (colon < nl && *colon == ' ')
					colon++;
				out_write(o, colon, (size_t)(nl - colon));
			}
			json_close(o);
			out_raw(o, "}", 1);
			if (*nl == '\n')
				nl++;
		}
		out_raw(o, "]", 1);
	}
	if (t != NULL) {
		json_key(o, first, "tls");
		f = 1;
		out_raw(o, "{", 1);
		if (t->version != NULL)
			json_kv_str(o, &f, "version", t->version);
		if (t->cipher != NULL)
			json_kv_str(o, &f, "cipher", t->cipher);
		if (t->alpn != NULL)
			json_kv_str(o, &f, "alpn", t->alpn);
		json_key(o, &f, "resumed");
		dnsprint_puts(o, t->resumed ? "true" : "false");
		if (t->subject != NULL)
			json_kv_str(o, &f, "subject", t->subject);
		if (t->issuer != NULL)
			json_kv_str(o, &f, "issuer", t->issuer);
		if (t->not_before != NULL)
			json_kv_str(o, &f, "not_before", t->not_before);
		if (t->not_after != NULL)
			json_kv_str(o, &f, "not_after", t->not_after);
		out_raw(o, "}", 1);
	}
	if (tm != NULL) {
		json_key(o, first, "timing");
		f = 1;
		out_raw(o, "{", 1);
		json_kv_num(o, &f, "bootstrap_ms", (long long)tm->bootstrap_ms);
		json_kv_num(o, &f, "connect_ms", (long long)tm->connect_ms);
		json_kv_num(o, &f, "tls_handshake_ms",
		    (long long)tm->handshake_ms);
		json_kv_num(o, &f, "first_byte_ms",
		    (long long)tm->first_byte_ms);
		json_kv_num(o, &f, "total_ms", (long long)tm->total_ms);
		out_raw(o, "}", 1);
	}
}

static void
json_msg(struct dnsprint_out *o, struct view *v,
    const struct dnsprint_meta *m, int ok)
{
	unsigned opcode = (v->flags >> 11) & 15;
	char buf[16];
	size_t i;
	int first = 1, f;

	out_raw(o, "{", 1);
	json_meta(o, &first, m);
	json_kv_num(o, &first, "msg_size", (long long)v->len);
	if (v->len >= HDR_LEN) {
		json_kv_num(o, &first, "id", v->id);
		if (opcode < nitems(opcode_names) &&
		    opcode_names[opcode] != NULL)
			json_kv_str(o, &first, "opcode", opcode_names[opcode]);
		else {
			snprintf(buf, sizeof(buf), "OPCODE%u", opcode);
			json_kv_str(o, &first, "opcode", buf);
		}
		json_kv_str(o, &first, "status",
		    dnsprint_rcode_str(v->rcode, buf, sizeof(buf)));
		json_kv_num(o, &first, "rcode", v->rcode);
		json_key(o, &first, "flags");
		out_raw(o, "[", 1);
		for (f = 1, i = 0; i < nitems(flag_names); i++)
			if (v->flags & flag_names[i].bit) {
				if (!f)
					out_raw(o, ",", 1);
				f = 0;
				dnsprint_json_str(o, flag_names[i].name);
			}
		out_raw(o, "]", 1);
		put_sections(o, v, DNSPRINT_JSON);
		if (v->edns) {
			json_key(o, &first, "edns");
			f = 1;
			out_raw(o, "{", 1);
			json_kv_num(o, &f, "version",
			    (v->opt.ttl >> 16) & 0xff);
			json_kv_num(o, &f, "udp_size", v->opt.class);
			json_key(o, &f, "flags");
			dnsprint_puts(o, v->opt.ttl & 0x8000 ? "[\"do\"]" :
			    "[]");
			json_kv_num(o, &f, "extended_rcode", v->opt.ttl >> 24);
			json_key(o, &f, "options");
			out_raw(o, "[", 1);
			put_opt_options(o, v, 1);
			out_raw(o, "]}", 2);
		}
	}
	if (!ok)
		json_kv_str(o, &first, "malformed", v->bad);
	out_raw(o, "}\n", 2);
}

int
dnsprint_msg(struct dnsprint_out *o, enum dnsprint_format fmt,
    const uint8_t *msg, size_t len, const struct dnsprint_meta *meta,
    char *err, size_t errlen)
{
	static const struct dnsprint_meta none = { .query_time_ms = -1 };
	struct view v;
	int ok;

	if (meta == NULL)
		meta = &none;
	ok = view_scan(&v, msg, len) == 0;
	if (!ok && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", v.bad);
	switch (fmt) {
	case DNSPRINT_JSON:
		json_msg(o, &v, meta, ok);
		break;
	case DNSPRINT_SHORT:
		if (len >= HDR_LEN)
			put_sections(o, &v, fmt);
		if (meta->timing != NULL)
			text_timing(o, meta->timing);
		break;
	case DNSPRINT_TEXT:
		if (meta->tls != NULL)
			text_tls(o, meta->tls);
		if (len >= HDR_LEN) {
			text_header(o, &v);
			put_sections(o, &v, fmt);
		}
		if (!ok)
			out_f(o, "\n;; MALFORMED MESSAGE: %s\n", v.bad);
		text_trailer(o, meta, len);
		break;
	}
	return ok ? 0 : -1;
}
