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
#include <time.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"

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

static const char *const section_names[] = {
	"question", "answer", "authority", "additional",
};
static const char *const section_titles[] = {
	"QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL",
};

const char *const dnsprint_format_names[] = {
	"text", "short", "json",
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

void
dnsprint_write(struct dnsprint_out *o, const char *s, size_t n)
{
	out_write(o, s, n);
}

/* Short formatted pieces only: numbers, names of things. */
void
dnsprint_printf(struct dnsprint_out *o, const char *fmt, ...)
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
dnsprint_json_strn(struct dnsprint_out *o, const char *s, size_t n)
{
	int was = o->json;

	out_raw(o, "\"", 1);
	o->json = 1;
	out_write(o, s, n);
	o->json = was;
	out_raw(o, "\"", 1);
}

void
dnsprint_json_str(struct dnsprint_out *o, const char *s)
{
	dnsprint_json_strn(o, s, strlen(s));
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

void
dnsprint_json_key(struct dnsprint_out *o, int *first, const char *key)
{
	if (!*first)
		out_raw(o, ",", 1);
	*first = 0;
	dnsprint_json_str(o, key);
	out_raw(o, ":", 1);
}

void
dnsprint_json_kv_str(struct dnsprint_out *o, int *first, const char *key,
    const char *v)
{
	dnsprint_json_key(o, first, key);
	dnsprint_json_str(o, v);
}

void
dnsprint_json_kv_num(struct dnsprint_out *o, int *first, const char *key,
    long long v)
{
	dnsprint_json_key(o, first, key);
	dnsprint_printf(o, "%lld", v);
}

/* --- names --- */

/*
 * Read the name at the cursor into out (DNS_MAX_NAME_TEXT bytes) in zone
 * form: dnsmsg's reader (its own bytes before the cursor's end, pointers
 * only to earlier, finished parts), then dnsmsg's zone escaping.
 */
static int
cur_name(struct dnsmsg_rd *c, char *out)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t n;

	if (dnsmsg_rd_name(c, wire, &n) == -1)
		return -1;
	return dnsmsg_name_to_text(wire, n, out, DNS_MAX_NAME_TEXT,
	    DNSMSG_NAME_ZONE);
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

	dnsprint_puts(o, dnsmsg_type_str((uint16_t)type, t, sizeof(t)));
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
		dnsprint_printf(o, "%u", v);
	else
		dnsprint_puts(o, buf);
}

/* --- typed rdata; each returns -1 if the rdata does not fit its type --- */

/* The rest of the cursor's bytes (maybe none); NULL if nothing is left. */
static const uint8_t *
cur_rest(struct dnsmsg_rd *c, size_t *n)
{
	const uint8_t *p;

	*n = dnsmsg_rd_left(c);
	if (*n == 0 || dnsmsg_rd_bytes(c, *n, &p) == -1)
		return NULL;
	return p;
}

static int
rd_name(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	char name[DNS_MAX_NAME_TEXT];

	if (cur_name(c, name) == -1)
		return -1;
	dnsprint_puts(o, name);
	return 0;
}

static int
rd_soa(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	uint32_t v;
	int i;

	if (rd_name(o, c) == -1)
		return -1;
	out_c(o, ' ');
	if (rd_name(o, c) == -1)
		return -1;
	for (i = 0; i < 5; i++) {
		if (dnsmsg_rd_u32(c, &v) == -1)
			return -1;
		dnsprint_printf(o, " %u", v);
	}
	return 0;
}

/* MX, AFSDB, KX: a 16-bit number and a name. */
static int
rd_u16_name(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	uint16_t v;

	if (dnsmsg_rd_u16(c, &v) == -1)
		return -1;
	dnsprint_printf(o, "%u ", v);
	return rd_name(o, c);
}

/* TXT and SPF: one or more strings; HINFO: exactly two. */
static int
rd_strings(struct dnsprint_out *o, struct dnsmsg_rd *c, int want)
{
	const uint8_t *p;
	uint8_t n;
	int i;

	for (i = 0; dnsmsg_rd_left(c) > 0; i++) {
		if (dnsmsg_rd_u8(c, &n) == -1 ||
		    dnsmsg_rd_bytes(c, n, &p) == -1)
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
rd_srv(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	uint16_t prio, weight, port;

	if (dnsmsg_rd_u16(c, &prio) == -1 ||
	    dnsmsg_rd_u16(c, &weight) == -1 ||
	    dnsmsg_rd_u16(c, &port) == -1)
		return -1;
	dnsprint_printf(o, "%u %u %u ", prio, weight, port);
	return rd_name(o, c);
}

/*
 * DS and CDS (key tag, algorithm, digest type, hex digest); DNSKEY and
 * CDNSKEY (flags, protocol, algorithm, base64 key).
 */
static int
rd_ds_dnskey(struct dnsprint_out *o, struct dnsmsg_rd *c, int key)
{
	const uint8_t *p;
	uint16_t v;
	uint8_t a, b;
	size_t n;

	if (dnsmsg_rd_u16(c, &v) == -1 || dnsmsg_rd_u8(c, &a) == -1 ||
	    dnsmsg_rd_u8(c, &b) == -1 || (p = cur_rest(c, &n)) == NULL)
		return -1;
	dnsprint_printf(o, "%u %u %u ", v, a, b);
	if (key)
		put_base64(o, p, n);
	else
		put_hex(o, p, n);
	return 0;
}

static int
rd_rrsig(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	const uint8_t *p;
	uint16_t covered, tag;
	uint8_t alg, labels;
	uint32_t ttl, exp, inc;
	size_t n;

	if (dnsmsg_rd_u16(c, &covered) == -1 ||
	    dnsmsg_rd_u8(c, &alg) == -1 || dnsmsg_rd_u8(c, &labels) == -1 ||
	    dnsmsg_rd_u32(c, &ttl) == -1 || dnsmsg_rd_u32(c, &exp) == -1 ||
	    dnsmsg_rd_u32(c, &inc) == -1 || dnsmsg_rd_u16(c, &tag) == -1)
		return -1;
	put_type(o, covered);
	dnsprint_printf(o, " %u %u %u ", alg, labels, ttl);
	put_time(o, exp);
	out_c(o, ' ');
	put_time(o, inc);
	dnsprint_printf(o, " %u ", tag);
	if (rd_name(o, c) == -1 || (p = cur_rest(c, &n)) == NULL)
		return -1;
	out_c(o, ' ');
	put_base64(o, p, n);
	return 0;
}

/* An RFC 4034 4.1.2 type bitmap: windows in rising order, 1..32 bytes. */
static int
rd_bitmap(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	const uint8_t *p;
	uint8_t win, n;
	unsigned i, b;
	int last = -1;

	while (dnsmsg_rd_left(c) > 0) {
		if (dnsmsg_rd_u8(c, &win) == -1 || dnsmsg_rd_u8(c, &n) == -1 ||
		    (int)win <= last || n == 0 || n > 32 ||
		    dnsmsg_rd_bytes(c, n, &p) == -1)
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
rd_nsec(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	if (rd_name(o, c) == -1)
		return -1;
	return rd_bitmap(o, c);
}

static int
rd_caa(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	const uint8_t *tag, *v;
	uint8_t flags, n;
	unsigned i;
	size_t vlen;

	if (dnsmsg_rd_u8(c, &flags) == -1 || dnsmsg_rd_u8(c, &n) == -1 ||
	    n == 0 || dnsmsg_rd_bytes(c, n, &tag) == -1)
		return -1;
	/* RFC 8659 4.1: the tag is letters and digits. */
	for (i = 0; i < n; i++)
		if (!((tag[i] >= 'a' && tag[i] <= 'z') ||
		    (tag[i] >= 'A' && tag[i] <= 'Z') ||
		    (tag[i] >= '0' && tag[i] <= '9')))
			return -1;
	dnsprint_printf(o, "%u ", flags);
	out_write(o, (const char *)tag, n);
	out_c(o, ' ');
	v = cur_rest(c, &vlen);
	put_quoted(o, v, vlen);
	return 0;
}

/* SSHFP (two numbers) and TLSA (three), then hex. */
static int
rd_nums_hex(struct dnsprint_out *o, struct dnsmsg_rd *c, int nums)
{
	const uint8_t *p;
	uint8_t v;
	size_t n;
	int i;

	for (i = 0; i < nums; i++) {
		if (dnsmsg_rd_u8(c, &v) == -1)
			return -1;
		dnsprint_printf(o, "%u ", v);
	}
	if ((p = cur_rest(c, &n)) == NULL)
		return -1;
	put_hex(o, p, n);
	return 0;
}

const char *
dnsprint_svc_key_str(uint16_t key, char *buf, size_t size)
{
	if (key < nitems(svc_key_names))
		snprintf(buf, size, "%s", svc_key_names[key]);
	else
		snprintf(buf, size, "key%u", key);
	return buf;
}

static void
put_svc_key(struct dnsprint_out *o, uint16_t key)
{
	char k[16];

	dnsprint_puts(o, dnsprint_svc_key_str(key, k, sizeof(k)));
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
			dnsprint_printf(o, "\\%03u", p[i]);
		else
			out_c(o, (char)p[i]);
	}
}

/* The value of one SvcParam, the cursor over exactly its bytes. */
static int
svc_value(struct dnsprint_out *o, uint16_t key, struct dnsmsg_rd *c)
{
	const uint8_t *p;
	size_t n = dnsmsg_rd_left(c), i, alen;
	uint16_t k;
	uint8_t x;

	switch (key) {
	case 0:		/* mandatory */
		if (n == 0 || n % 2 != 0)
			return -1;
		out_c(o, '=');
		for (i = 0; dnsmsg_rd_u16(c, &k) == 0; i++) {
			if (i > 0)
				out_c(o, ',');
			put_svc_key(o, k);
		}
		return 0;
	case 1:		/* alpn */
		if (n == 0)
			return -1;
		dnsprint_puts(o, "=\"");
		for (i = 0; dnsmsg_rd_left(c) > 0; i++) {
			if (dnsmsg_rd_u8(c, &x) == -1 || x == 0 ||
			    dnsmsg_rd_bytes(c, x, &p) == -1)
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
		if (n != 2 || dnsmsg_rd_u16(c, &k) == -1)
			return -1;
		dnsprint_printf(o, "=%u", k);
		return 0;
	case 4:		/* ipv4hint */
	case 6:		/* ipv6hint */
		alen = key == 4 ? 4 : 16;
		if (n == 0 || n % alen != 0)
			return -1;
		out_c(o, '=');
		for (i = 0; dnsmsg_rd_bytes(c, alen, &p) == 0; i++) {
			if (i > 0)
				out_c(o, ',');
			put_addr(o, key == 4 ? AF_INET : AF_INET6, p);
		}
		return 0;
	case 5:		/* ech */
		if ((p = cur_rest(c, &n)) == NULL)
			return -1;
		out_c(o, '=');
		put_base64(o, p, n);
		return 0;
	default:	/* dohpath (RFC 9461) and unknown keys */
		if ((p = cur_rest(c, &n)) == NULL)
			return key == 7 ? -1 : 0;
		out_c(o, '=');
		put_quoted(o, p, n);
		return 0;
	}
}

static int
rd_svcb(struct dnsprint_out *o, struct dnsmsg_rd *c)
{
	struct dnsmsg_rd v;
	uint16_t prio, key, n;

	if (dnsmsg_rd_u16(c, &prio) == -1)
		return -1;
	dnsprint_printf(o, "%u ", prio);
	if (rd_name(o, c) == -1)
		return -1;
	while (dnsmsg_rd_left(c) > 0) {
		if (dnsmsg_rd_u16(c, &key) == -1 ||
		    dnsmsg_rd_u16(c, &n) == -1 ||
		    dnsmsg_rd_sub(c, n, &v) == -1 || key == 65535)
			return -1;
		out_c(o, ' ');
		put_svc_key(o, key);
		if (svc_value(o, key, &v) == -1)
			return -1;
	}
	return 0;
}

static int
rdata_typed(struct dnsprint_out *o, struct dnsmsg_rd *c, uint16_t type)
{
	const uint8_t *p;
	int r;

	switch (type) {
	case T_A:
	case T_AAAA:
		if (dnsmsg_rd_bytes(c, type == T_A ? 4 : 16, &p) == -1)
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
		r = rd_ds_dnskey(o, c, 0);
		break;
	case T_DNSKEY:
	case T_CDNSKEY:
		r = rd_ds_dnskey(o, c, 1);
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
	return r == 0 && dnsmsg_rd_left(c) == 0 ? 0 : -1;
}

/* RFC 3597 5: "\# LEN HEX". */
static void
rdata_generic(struct dnsprint_out *o, const uint8_t *p, size_t n)
{
	dnsprint_printf(o, "\\# %zu", n);
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
	struct dnsmsg_rd m, c, again;

	dnsmsg_rd_init(&m, msg, len);
	if (dnsmsg_rd_skip(&m, off) == -1 ||
	    dnsmsg_rd_sub(&m, rdlen, &c) == -1) {
		/* Not the caller's to get wrong, but never read past. */
		rdata_generic(o, NULL, 0);
		return -1;
	}
	again = c;
	dnsprint_out_buf(&count, NULL, 0);
	if (rdata_typed(&count, &c, type) == 0) {
		(void)rdata_typed(o, &again, type);
		return 0;
	}
	rdata_generic(o, msg + off, rdlen);
	return -1;
}

/* --- the message --- */

struct rr {
	char		owner[DNS_MAX_NAME_TEXT];
	uint16_t	type;
	uint16_t	class;
	uint32_t	ttl;
	uint16_t	rdlen;
	size_t		rdoff;
};

struct view {
	const uint8_t		*msg;
	size_t			 len;
	struct dns_header	 h;
	int			 edns;		/* an OPT record was found */
	size_t			 opt_index;	/* its place in additional */
	struct rr		 opt;
	unsigned		 rcode;		/* with the extended bits */
	const char		*bad;		/* why it is malformed */
	char			 badbuf[96];
};

/* One question (rr->ttl, rdlen unused) or one record at the cursor. */
static int
read_rr(struct dnsmsg_rd *c, int question, struct rr *rr, const char **why)
{
	struct dnsmsg_rd rdata;

	if (cur_name(c, rr->owner) == -1) {
		*why = "bad owner name";
		return -1;
	}
	if (dnsmsg_rd_left(c) < (question ? 4u : 10u)) {
		*why = question ? "question past the end" :
		    "record past the end";
		return -1;
	}
	(void)dnsmsg_rd_u16(c, &rr->type);
	(void)dnsmsg_rd_u16(c, &rr->class);
	rr->ttl = 0;
	rr->rdlen = 0;
	if (!question) {
		(void)dnsmsg_rd_u32(c, &rr->ttl);
		(void)dnsmsg_rd_u16(c, &rr->rdlen);
	}
	rr->rdoff = c->off;
	if (dnsmsg_rd_sub(c, rr->rdlen, &rdata) == -1) {
		*why = "record data past the end";
		return -1;
	}
	return 0;
}

/*
 * First pass: check every record and find the first OPT.  Returns 0, or
 * -1 with v->bad set.  The second pass stops at the same place.
 */
static int
view_scan(struct view *v, const uint8_t *msg, size_t len)
{
	struct dnsmsg_rd c;
	struct rr rr;
	size_t i;
	int s;

	memset(v, 0, sizeof(*v));
	v->msg = msg;
	v->len = len;
	dnsmsg_rd_init(&c, msg, len);
	if (dnsmsg_rd_header(&c, &v->h) == -1) {
		v->bad = "shorter than a DNS header";
		return -1;
	}
	v->rcode = v->h.flags & DNS_FLAG_RCODE;
	for (s = 0; s < DNS_SEC_MAX; s++)
		for (i = 0; i < v->h.count[s]; i++) {
			if (read_rr(&c, s == DNS_SEC_QUESTION, &rr,
			    &v->bad) == -1) {
				snprintf(v->badbuf, sizeof(v->badbuf),
				    "%s (%s section, record %zu of %u)",
				    v->bad, section_names[s], i + 1,
				    v->h.count[s]);
				v->bad = v->badbuf;
				return -1;
			}
			if (s == DNS_SEC_ADDITIONAL && rr.type == T_OPT &&
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
put_opt_value(struct dnsprint_out *o, uint16_t code, struct dnsmsg_rd *c)
{
	const uint8_t *p, *a;
	uint8_t addr[16], src, scope;
	uint16_t fam, info;
	size_t n, alen;

	n = dnsmsg_rd_left(c);
	p = c->msg + c->off;
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
		if (dnsmsg_rd_u16(c, &fam) == -1 ||
		    dnsmsg_rd_u8(c, &src) == -1 ||
		    dnsmsg_rd_u8(c, &scope) == -1 || (fam != 1 && fam != 2))
			break;
		alen = dnsmsg_rd_left(c);
		if (alen > (fam == 1 ? 4u : 16u) || src > (fam == 1 ? 32u :
		    128u) || alen != (src + 7u) / 8 ||
		    dnsmsg_rd_bytes(c, alen, &a) == -1)
			break;
		memset(addr, 0, sizeof(addr));
		memcpy(addr, a, alen);
		put_addr(o, fam == 1 ? AF_INET : AF_INET6, addr);
		dnsprint_printf(o, "/%u/%u", src, scope);
		return;
	case OPT_PADDING:
		dnsprint_printf(o, "%zu bytes", n);
		return;
	case OPT_EDE:
		if (dnsmsg_rd_u16(c, &info) == -1)
			break;
		dnsprint_printf(o, "%u", info);
		if (info < nitems(ede_names))
			dnsprint_printf(o, " (%s)", ede_names[info]);
		if (dnsmsg_rd_left(c) > 0) {
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
	struct dnsmsg_rd m, c, val;
	uint16_t code, n;
	char nb[16];
	int first, firstopt = 1;

	dnsmsg_rd_init(&m, v->msg, v->len);
	if (dnsmsg_rd_skip(&m, v->opt.rdoff) == -1 ||
	    dnsmsg_rd_sub(&m, v->opt.rdlen, &c) == -1)
		return;		/* view_scan() saw it fit */
	while (dnsmsg_rd_left(&c) > 0) {
		if (dnsmsg_rd_u16(&c, &code) == -1 ||
		    dnsmsg_rd_u16(&c, &n) == -1 ||
		    dnsmsg_rd_sub(&c, n, &val) == -1) {
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
			dnsprint_json_kv_num(o, &first, "code", code);
			dnsprint_json_kv_str(o, &first, "name",
			    opt_name(code, nb, sizeof(nb)));
			dnsprint_json_kv_num(o, &first, "length", n);
			dnsprint_json_key(o, &first, "data");
			json_open(o);
			put_opt_value(o, code, &val);
			json_close(o);
			out_raw(o, "}", 1);
		} else {
			dnsprint_printf(o, "; %s: ", opt_name(code, nb,
			    sizeof(nb)));
			put_opt_value(o, code, &val);
			out_c(o, '\n');
		}
		firstopt = 0;
	}
}

static const char *
opcode_str(unsigned opcode, char *buf, size_t size)
{
	if (opcode < nitems(opcode_names) && opcode_names[opcode] != NULL)
		return opcode_names[opcode];
	snprintf(buf, size, "OPCODE%u", opcode);
	return buf;
}

static void
text_header(struct dnsprint_out *o, const struct view *v)
{
	char rc[16], op[16];
	size_t i;

	dnsprint_printf(o, ";; ->>HEADER<<- opcode: %s, status: %s, id: %u\n"
	    ";; flags:",
	    opcode_str((v->h.flags & DNS_FLAG_OPCODE) >> 11, op, sizeof(op)),
	    dnsmsg_rcode_str(v->rcode, rc, sizeof(rc)), v->h.id);
	for (i = 0; i < nitems(flag_names); i++)
		if (v->h.flags & flag_names[i].bit)
			dnsprint_printf(o, " %s", flag_names[i].name);
	dnsprint_printf(o, "; QUERY: %u, ANSWER: %u, AUTHORITY: %u, "
	    "ADDITIONAL: %u\n",
	    v->h.count[0], v->h.count[1], v->h.count[2], v->h.count[3]);
	if (v->edns) {
		dnsprint_puts(o, "\n;; OPT PSEUDOSECTION:\n");
		dnsprint_printf(o, "; EDNS: version: %u, flags:",
		    (v->opt.ttl >> 16) & 0xff);
		if (v->opt.ttl & DNS_EDNS_DO)
			dnsprint_puts(o, " do");
		if (v->opt.ttl & 0x7fff)
			dnsprint_printf(o, " MBZ: 0x%04x", v->opt.ttl & 0x7fff);
		dnsprint_printf(o, "; udp: %u\n", v->opt.class);
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
		dnsprint_printf(o, "\t%s\t%s\n", dnsmsg_class_str(rr->class, cl,
		    sizeof(cl)), dnsmsg_type_str(rr->type, t, sizeof(t)));
		return;
	}
	dnsprint_puts(o, rr->owner);
	put_owner_pad(o, rr->owner, 0);
	dnsprint_printf(o, "%u\t%s\t%s\t", rr->ttl, dnsmsg_class_str(rr->class,
	    cl, sizeof(cl)), dnsmsg_type_str(rr->type, t, sizeof(t)));
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
	dnsprint_json_kv_str(o, &first, "name", rr->owner);
	if (!question)
		dnsprint_json_kv_num(o, &first, "ttl", rr->ttl);
	dnsprint_json_kv_str(o, &first, "class", dnsmsg_class_str(rr->class,
	    cl, sizeof(cl)));
	dnsprint_json_kv_str(o, &first, "type", dnsmsg_type_str(rr->type, t,
	    sizeof(t)));
	if (!question) {
		dnsprint_json_key(o, &first, "data");
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
	struct dnsmsg_rd c;
	struct dns_header h;
	struct rr rr;
	const char *why;
	size_t i, shown;
	int s, stop = 0;

	dnsmsg_rd_init(&c, v->msg, v->len);
	if (dnsmsg_rd_header(&c, &h) == -1)
		return;
	/* JSON keeps every key, empty after a malformed record. */
	for (s = 0; s < DNS_SEC_MAX; s++) {
		if (fmt == DNSPRINT_JSON)
			dnsprint_printf(o, ",\"%s\":[", section_names[s]);
		shown = 0;
		for (i = 0; i < h.count[s] && !stop; i++) {
			if (read_rr(&c, s == DNS_SEC_QUESTION, &rr,
			    &why) == -1) {
				stop = 1;
				break;
			}
			if (s == DNS_SEC_ADDITIONAL && v->edns &&
			    i == v->opt_index)
				continue;
			if (fmt == DNSPRINT_SHORT) {
				if (s != DNS_SEC_ANSWER)
					continue;
				dnsprint_rdata(o, v->msg, v->len, rr.rdoff,
				    rr.rdlen, rr.type);
				out_c(o, '\n');
			} else if (fmt == DNSPRINT_JSON) {
				if (shown > 0)
					out_raw(o, ",", 1);
				json_rr(o, v, &rr, s == DNS_SEC_QUESTION);
			} else {
				if (shown == 0)
					dnsprint_printf(o, "\n;; %s SECTION:\n",
					    section_titles[s]);
				text_rr(o, v, &rr, s == DNS_SEC_QUESTION);
			}
			shown++;
		}
		if (fmt == DNSPRINT_JSON)
			out_raw(o, "]", 1);
	}
}

static void
json_members(struct dnsprint_out *o, int *first, struct view *v, int ok)
{
	char buf[16];
	size_t i;
	int f;

	dnsprint_json_kv_num(o, first, "msg_size", (long long)v->len);
	if (v->len >= DNS_HDR_LEN) {
		dnsprint_json_kv_num(o, first, "id", v->h.id);
		dnsprint_json_kv_str(o, first, "opcode",
		    opcode_str((v->h.flags & DNS_FLAG_OPCODE) >> 11, buf,
		    sizeof(buf)));
		dnsprint_json_kv_str(o, first, "status",
		    dnsmsg_rcode_str(v->rcode, buf, sizeof(buf)));
		dnsprint_json_kv_num(o, first, "rcode", v->rcode);
		dnsprint_json_key(o, first, "flags");
		out_raw(o, "[", 1);
		for (f = 1, i = 0; i < nitems(flag_names); i++)
			if (v->h.flags & flag_names[i].bit) {
				if (!f)
					out_raw(o, ",", 1);
				f = 0;
				dnsprint_json_str(o, flag_names[i].name);
			}
		out_raw(o, "]", 1);
		put_sections(o, v, DNSPRINT_JSON);
		if (v->edns) {
			dnsprint_json_key(o, first, "edns");
			f = 1;
			out_raw(o, "{", 1);
			dnsprint_json_kv_num(o, &f, "version",
			    (v->opt.ttl >> 16) & 0xff);
			dnsprint_json_kv_num(o, &f, "udp_size", v->opt.class);
			dnsprint_json_key(o, &f, "flags");
			dnsprint_puts(o, v->opt.ttl & DNS_EDNS_DO ?
			    "[\"do\"]" : "[]");
			dnsprint_json_kv_num(o, &f, "extended_rcode",
			    v->opt.ttl >> 24);
			dnsprint_json_key(o, &f, "options");
			out_raw(o, "[", 1);
			put_opt_options(o, v, 1);
			out_raw(o, "]}", 2);
		}
	}
	if (!ok)
		dnsprint_json_kv_str(o, first, "malformed", v->bad);
}

/* The first pass, and the reason into err if it failed. */
static int
scan(struct view *v, const uint8_t *msg, size_t len, char *err,
    size_t errlen)
{
	if (view_scan(v, msg, len) == 0)
		return 0;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", v->bad);
	return -1;
}

int
dnsprint_section(struct dnsprint_out *o, const uint8_t *msg, size_t len,
    int sec)
{
	struct view v;
	struct dnsmsg_rd c;
	struct dns_header h;
	struct rr rr;
	const char *why;
	size_t i;
	int s, n = 0;

	if (sec <= DNS_SEC_QUESTION || sec >= DNS_SEC_MAX)
		return -1;
	/* for the OPT record; a later malformed record is no matter */
	(void)view_scan(&v, msg, len);
	dnsmsg_rd_init(&c, msg, len);
	if (dnsmsg_rd_header(&c, &h) == -1)
		return -1;
	for (s = 0; s <= sec; s++)
		for (i = 0; i < h.count[s]; i++) {
			if (read_rr(&c, s == DNS_SEC_QUESTION, &rr,
			    &why) == -1)
				return -1;
			if (s != sec || (s == DNS_SEC_ADDITIONAL && v.edns &&
			    i == v.opt_index))
				continue;
			text_rr(o, &v, &rr, 0);
			n++;
		}
	return n;
}

const char *
dnsprint_ede_name(int code)
{
	if (code < 0 || (size_t)code >= nitems(ede_names))
		return NULL;
	return ede_names[code];
}

int
dnsprint_json_members(struct dnsprint_out *o, int *first,
    const uint8_t *msg, size_t len, char *err, size_t errlen)
{
	struct view v;
	int r;

	r = scan(&v, msg, len, err, errlen);
	json_members(o, first, &v, r == 0);
	return r;
}

int
dnsprint_msg(struct dnsprint_out *o, enum dnsprint_format fmt,
    const uint8_t *msg, size_t len, char *err, size_t errlen)
{
	struct view v;
	int r, first = 1;

	r = scan(&v, msg, len, err, errlen);
	switch (fmt) {
	case DNSPRINT_JSON:
		out_raw(o, "{", 1);
		json_members(o, &first, &v, r == 0);
		out_raw(o, "}\n", 2);
		break;
	case DNSPRINT_SHORT:
		put_sections(o, &v, fmt);
		break;
	case DNSPRINT_TEXT:
		if (len >= DNS_HDR_LEN) {
			text_header(o, &v);
			put_sections(o, &v, fmt);
		}
		if (r != 0)
			dnsprint_printf(o, "\n;; MALFORMED MESSAGE: %s\n",
			    v.bad);
		break;
	}
	return r;
}
