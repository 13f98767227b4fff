/*
 * dohq_out: what dohq says about an exchange, around dnsprint's message.
 * Text follows dig (TLS first, then the message, then a trailer of
 * comment lines); JSON keeps one object per message, our members first.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"
#include "dohstub/dohq_out.h"

static void
text_tls(struct dnsprint_out *o, const struct dohq_out_tls *t)
{
	dnsprint_printf(o, ";; TLS: %s, cipher %s, ALPN %s%s\n",
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
		dnsprint_write(o, h, (size_t)(nl - h));
		dnsprint_puts(o, "\n");
		h = *nl != '\0' ? nl + 1 : nl;
	}
}

static void
text_timing(struct dnsprint_out *o, const struct dohq_out_timing *t)
{
	dnsprint_printf(o, ";; TIMING:\n"
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
text_trailer(struct dnsprint_out *o, const struct dohq_out_meta *m,
    size_t len)
{
	dnsprint_puts(o, "\n");
	if (m->query_time_ms >= 0)
		dnsprint_printf(o, ";; Query time: %lld msec\n",
		    (long long)m->query_time_ms);
	if (m->server != NULL) {
		dnsprint_puts(o, ";; SERVER: ");
		dnsprint_puts(o, m->server);
		if (m->server_addr != NULL) {
			dnsprint_puts(o, " (");
			dnsprint_puts(o, m->server_addr);
			dnsprint_puts(o, ")");
		}
		dnsprint_puts(o, "\n");
	}
	if (m->http_status != 0)
		dnsprint_printf(o, ";; HTTP status: %d\n", m->http_status);
	if (m->http_headers != NULL) {
		dnsprint_puts(o, ";; HTTP headers:\n");
		text_headers(o, m->http_headers);
	}
	dnsprint_printf(o, ";; MSG SIZE  rcvd: %zu\n", len);
	if (m->timing != NULL)
		text_timing(o, m->timing);
}

static void
json_meta(struct dnsprint_out *o, int *first, const struct dohq_out_meta *m)
{
	const struct dohq_out_tls *t = m->tls;
	const struct dohq_out_timing *tm = m->timing;
	const char *h, *nl, *colon;
	int f;

	if (m->server != NULL)
		dnsprint_json_kv_str(o, first, "server", m->server);
	if (m->server_addr != NULL)
		dnsprint_json_kv_str(o, first, "server_address",
		    m->server_addr);
	if (m->http_status != 0)
		dnsprint_json_kv_num(o, first, "http_status", m->http_status);
	if (m->query_time_ms >= 0)
		dnsprint_json_kv_num(o, first, "query_time_ms",
		    m->query_time_ms);
	if (m->http_headers != NULL) {
		dnsprint_json_key(o, first, "http_headers");
		dnsprint_puts(o, "[");
		for (h = m->http_headers; *h != '\0'; h = nl) {
			if ((nl = strchr(h, '\n')) == NULL)
				nl = h + strlen(h);
			colon = nl - h > 1 ? memchr(h + 1, ':',
			    (size_t)(nl - h - 1)) : NULL;
			if (h != m->http_headers)
				dnsprint_puts(o, ",");
			dnsprint_puts(o, "{\"name\":");
			dnsprint_json_strn(o, h, colon ? (size_t)(colon - h) :
			    (size_t)(nl - h));
			dnsprint_puts(o, ",\"value\":");
			if (colon != NULL) {
				colon++;
				if (colon < nl && *colon == ' ')
					colon++;
			} else
				colon = nl;
			dnsprint_json_strn(o, colon, (size_t)(nl - colon));
			dnsprint_puts(o, "}");
			if (*nl == '\n')
				nl++;
		}
		dnsprint_puts(o, "]");
	}
	if (t != NULL) {
		dnsprint_json_key(o, first, "tls");
		f = 1;
		dnsprint_puts(o, "{");
		if (t->version != NULL)
			dnsprint_json_kv_str(o, &f, "version", t->version);
		if (t->cipher != NULL)
			dnsprint_json_kv_str(o, &f, "cipher", t->cipher);
		if (t->alpn != NULL)
			dnsprint_json_kv_str(o, &f, "alpn", t->alpn);
		dnsprint_json_key(o, &f, "resumed");
		dnsprint_puts(o, t->resumed ? "true" : "false");
		if (t->subject != NULL)
			dnsprint_json_kv_str(o, &f, "subject", t->subject);
		if (t->issuer != NULL)
			dnsprint_json_kv_str(o, &f, "issuer", t->issuer);
		if (t->not_before != NULL)
			dnsprint_json_kv_str(o, &f, "not_before",
			    t->not_before);
		if (t->not_after != NULL)
			dnsprint_json_kv_str(o, &f, "not_after", t->not_after);
		dnsprint_puts(o, "}");
	}
	if (tm != NULL) {
		dnsprint_json_key(o, first, "timing");
		f = 1;
		dnsprint_puts(o, "{");
		dnsprint_json_kv_num(o, &f, "bootstrap_ms",
		    (long long)tm->bootstrap_ms);
		dnsprint_json_kv_num(o, &f, "connect_ms",
		    (long long)tm->connect_ms);
		dnsprint_json_kv_num(o, &f, "tls_handshake_ms",
		    (long long)tm->handshake_ms);
		dnsprint_json_kv_num(o, &f, "first_byte_ms",
		    (long long)tm->first_byte_ms);
		dnsprint_json_kv_num(o, &f, "total_ms",
		    (long long)tm->total_ms);
		dnsprint_puts(o, "}");
	}
}

/* "EDE 6 (DNSSEC Bogus)" */
static void
put_ede(struct dnsprint_out *o, int ede)
{
	const char *name = dnsprint_ede_name(ede);

	dnsprint_printf(o, "EDE %d", ede);
	if (name != NULL)
		dnsprint_printf(o, " (%s)", name);
}

/* The rcode of msg, -1 if it is shorter than a header. */
static int
msg_rcode(const uint8_t *msg, size_t len)
{
	return len >= DNS_HDR_LEN ? dnsmsg_rcode(msg) : -1;
}

/* NXDOMAIN, or NOERROR with no answer record: a denial. */
static int
msg_negative(const uint8_t *msg, size_t len)
{
	int rcode = msg_rcode(msg, len);

	return rcode == DNS_RCODE_NXDOMAIN || (rcode == DNS_RCODE_NOERROR &&
	    msg[6] == 0 && msg[7] == 0);
}

/*
 * Does the authority section hold NSEC or NSEC3 records (a wildcard
 * expansion's proof that no closer name exists)?
 */
static int
msg_has_proof(const uint8_t *msg, size_t len)
{
	struct dnsmsg_rd r;
	struct dns_header h;
	struct dns_rr rr;
	size_t i;

	dnsmsg_rd_init(&r, msg, len);
	if (dnsmsg_rd_header(&r, &h) == -1 || h.count[DNS_SEC_QUESTION] != 1 ||
	    dnsmsg_rd_name(&r, NULL, NULL) == -1 || dnsmsg_rd_skip(&r, 4) == -1)
		return 0;
	for (i = 0; i < (size_t)h.count[DNS_SEC_ANSWER] +
	    h.count[DNS_SEC_AUTHORITY]; i++) {
		if (dnsmsg_rd_rr(&r, NULL, &rr) == -1)
			return 0;
		if (i >= h.count[DNS_SEC_ANSWER] && (rr.type == DNS_TYPE_NSEC ||
		    rr.type == DNS_TYPE_NSEC3))
			return 1;
	}
	return 0;
}

/*
 * The verdict in delv's words, so that what reads delv's output reads
 * ours: "; fully validated", "; unsigned answer" (either after
 * "negative response, " for a denial), ";; resolution failed: ..." for
 * bogus.  An error answer has nothing to validate; the engine calls it
 * insecure, which the line says in its own words.
 */
static void
text_verdict(struct dnsprint_out *o, const struct dohq_out_validation *v,
    const uint8_t *msg, size_t len)
{
	const char *why = v->why != NULL ? v->why : "";
	char rc[16];
	int rcode = msg_rcode(msg, len);

	if (strcmp(v->verdict, "bogus") == 0) {
		dnsprint_puts(o, ";; resolution failed: ");
		if (v->ede >= 0) {
			put_ede(o, v->ede);
			if (*why != '\0')
				dnsprint_puts(o, ": ");
		}
		dnsprint_puts(o, why);
		dnsprint_puts(o, "\n");
		return;
	}
	if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN) {
		dnsprint_printf(o, "; no answer to validate: the server says "
		    "%s\n", rcode < 0 ? "nothing" : dnsmsg_rcode_str(
		    (unsigned)rcode, rc, sizeof(rc)));
		return;
	}
	dnsprint_printf(o, "; %s%s\n", msg_negative(msg, len) ?
	    "negative response, " : "", strcmp(v->verdict, "secure") == 0 ?
	    "fully validated" : "unsigned answer");
	if (v->ede >= 0) {
		dnsprint_puts(o, "; ");
		put_ede(o, v->ede);
		if (*why != '\0')
			dnsprint_puts(o, ": ");
		dnsprint_puts(o, why);
		dnsprint_puts(o, "\n");
	} else if (strcmp(v->verdict, "insecure") == 0 && *why != '\0') {
		dnsprint_puts(o, "; ");
		dnsprint_puts(o, why);
		dnsprint_puts(o, "\n");
	}
}

/*
 * delv's form: the verdict, the records (a denial's proof is in the
 * authority section), the chain of trust, then dig's trailer.
 */
static int
text_validated(struct dnsprint_out *o, const uint8_t *msg, size_t len,
    const struct dohq_out_meta *meta)
{
	const struct dohq_out_validation *v = meta->validation;
	size_t i;
	int r, rcode = msg_rcode(msg, len);

	text_verdict(o, v, msg, len);
	if (strcmp(v->verdict, "bogus") == 0)
		dnsprint_puts(o, "; the answer as received:\n");
	if (msg_negative(msg, len)) {
		dnsprint_printf(o, "; %s; the authority section:\n",
		    rcode == DNS_RCODE_NXDOMAIN ? "NXDOMAIN" : "NODATA");
		r = dnsprint_section(o, msg, len, DNS_SEC_AUTHORITY);
	} else if (rcode == DNS_RCODE_NOERROR) {
		r = dnsprint_section(o, msg, len, DNS_SEC_ANSWER);
		if (r >= 0 && msg_has_proof(msg, len)) {
			dnsprint_puts(o, "; the proof, in the authority "
			    "section:\n");
			r = dnsprint_section(o, msg, len, DNS_SEC_AUTHORITY);
		}
	} else
		r = rcode < 0 ? -1 : 0;
	if (r < 0)
		dnsprint_puts(o, ";; MALFORMED MESSAGE\n");
	dnsprint_puts(o, "\n;; CHAIN OF TRUST:\n");
	for (i = 0; i < v->nchain; i++) {
		dnsprint_puts(o, "; ");
		dnsprint_puts(o, v->chain[i]);
		dnsprint_puts(o, "\n");
	}
	if (v->nchain == 0)
		dnsprint_puts(o, "; (nothing checked)\n");
	if (meta->tls != NULL) {
		dnsprint_puts(o, "\n");
		text_tls(o, meta->tls);
	}
	text_trailer(o, meta, len);
	dnsprint_printf(o, ";; Chain queries: %u\n", v->chain_queries);
	return r < 0 ? -1 : 0;
}

static void
json_validation(struct dnsprint_out *o, int *first,
    const struct dohq_out_validation *v)
{
	const char *name;
	size_t i;

	dnsprint_json_kv_str(o, first, "verdict", v->verdict);
	dnsprint_json_key(o, first, "ede");
	if (v->ede >= 0) {
		dnsprint_printf(o, "%d", v->ede);
		if ((name = dnsprint_ede_name(v->ede)) != NULL)
			dnsprint_json_kv_str(o, first, "ede_name", name);
	} else
		dnsprint_puts(o, "null");
	dnsprint_json_kv_str(o, first, "why", v->why != NULL ? v->why : "");
	if (v->zone != NULL)
		dnsprint_json_kv_str(o, first, "zone", v->zone);
	dnsprint_json_key(o, first, "chain");
	dnsprint_puts(o, "[");
	for (i = 0; i < v->nchain; i++) {
		if (i > 0)
			dnsprint_puts(o, ",");
		dnsprint_json_str(o, v->chain[i]);
	}
	dnsprint_puts(o, "]");
	dnsprint_json_kv_num(o, first, "chain_queries", v->chain_queries);
}

int
dohq_out_msg(struct dnsprint_out *o, enum dnsprint_format fmt,
    const uint8_t *msg, size_t len, const struct dohq_out_meta *meta)
{
	static const struct dohq_out_meta none = { .query_time_ms = -1 };
	int r, first = 1;

	if (meta == NULL)
		meta = &none;
	switch (fmt) {
	case DNSPRINT_JSON:
		dnsprint_puts(o, "{");
		if (meta->validation != NULL)
			json_validation(o, &first, meta->validation);
		json_meta(o, &first, meta);
		r = dnsprint_json_members(o, &first, msg, len, NULL, 0);
		dnsprint_puts(o, "}\n");
		return r;
	case DNSPRINT_SHORT:
		if (meta->validation != NULL)
			text_verdict(o, meta->validation, msg, len);
		r = dnsprint_msg(o, fmt, msg, len, NULL, 0);
		if (meta->timing != NULL)
			text_timing(o, meta->timing);
		return r;
	case DNSPRINT_TEXT:
	default:
		if (meta->validation != NULL)
			return text_validated(o, msg, len, meta);
		if (meta->tls != NULL)
			text_tls(o, meta->tls);
		r = dnsprint_msg(o, fmt, msg, len, NULL, 0);
		text_trailer(o, meta, len);
		return r;
	}
}

void
dohq_out_error_json(struct dnsprint_out *o, const struct dohq_out_meta *meta,
    const char *name, uint16_t qtype, uint16_t qclass, int exit_status,
    const char *error)
{
	char t[16], c[16];
	int first = 1;

	dnsprint_puts(o, "{");
	if (meta != NULL && meta->server != NULL)
		dnsprint_json_kv_str(o, &first, "server", meta->server);
	if (meta != NULL && meta->server_addr != NULL)
		dnsprint_json_kv_str(o, &first, "server_address",
		    meta->server_addr);
	if (meta != NULL && meta->http_status != 0)
		dnsprint_json_kv_num(o, &first, "http_status",
		    meta->http_status);
	dnsprint_json_key(o, &first, "question");
	dnsprint_puts(o, "[{\"name\":");
	dnsprint_json_str(o, name);
	dnsprint_puts(o, ",\"class\":");
	dnsprint_json_str(o, dnsmsg_class_str(qclass, c, sizeof(c)));
	dnsprint_puts(o, ",\"type\":");
	dnsprint_json_str(o, dnsmsg_type_str(qtype, t, sizeof(t)));
	dnsprint_puts(o, "}]");
	dnsprint_json_kv_num(o, &first, "exit_status", exit_status);
	dnsprint_json_kv_str(o, &first, "error", error);
	dnsprint_puts(o, "}\n");
}
