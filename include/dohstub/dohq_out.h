/*
 * dohq_out: dohq's report of an exchange around the DNS message that
 * dnsprint prints: the TLS connection (-v), the server and HTTP status
 * and headers, the times (--timing), and the JSON object of a query
 * that got no answer.  Part of the dohq executable only: the core
 * library's dnsprint knows nothing of TLS or HTTP.
 */
#ifndef DOHSTUB_DOHQ_OUT_H
#define DOHSTUB_DOHQ_OUT_H

#include <stdint.h>

#include "dohstub/dnsprint.h"

/*
 * dohq's exit statuses, documented in dohq(1), mostly those of
 * sysexits(3); the JSON object of a failed query names one.
 */
enum dohq_exit {
	DOHQ_OK = 0,
	DOHQ_BOGUS = 1,		/* --validate: the answer is bogus */
	DOHQ_USAGE = 64,	/* bad option, argument, URL or name */
	DOHQ_MALFORMED = 65,	/* the response is not a usable answer */
	DOHQ_NOINPUT = 66,	/* -f, -c or --ca-file unreadable */
	DOHQ_NOHOST = 68,	/* the server's name did not resolve */
	DOHQ_CONNECT = 69,	/* no TCP connection, or it broke */
	DOHQ_INTERNAL = 70,
	DOHQ_TIMEOUT = 75,	/* no answer in time */
	DOHQ_HTTP = 76,		/* HTTP status or HTTP/2 failure */
	DOHQ_TLS = 77,		/* handshake or certificate */
};

/* The TLS connection, for -v.  Strings are borrowed for the call. */
struct dohq_out_tls {
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
struct dohq_out_timing {
	uint64_t	bootstrap_ms;	/* name of the server to addresses */
	uint64_t	connect_ms;	/* TCP */
	uint64_t	handshake_ms;	/* TLS */
	uint64_t	first_byte_ms;	/* request sent to first byte back */
	uint64_t	total_ms;	/* from start to this response */
};

/*
 * dohq --validate: the verdict on the answer and the chain of trust it
 * was reached by.  Strings are borrowed for the call.
 */
struct dohq_out_validation {
	const char		*verdict;	/* "secure", "insecure",
						   "bogus" */
	int			 ede;		/* RFC 8914 code; -1 none */
	const char		*why;		/* "" or NULL: nothing */
	const char		*zone;		/* signer or cut; NULL none */
	const char *const	*chain;		/* lines, from the anchor */
	size_t			 nchain;
	unsigned		 chain_queries;	/* DS, DNSKEY queries sent */
};

/*
 * About the exchange.  Every pointer may be NULL, and strings are
 * borrowed for the call.
 */
struct dohq_out_meta {
	const char			*server;	/* the URL */
	const char			*server_addr;	/* "127.0.0.1#443" */
	int				 http_status;	/* 0: none */
	const char			*http_headers;	/* "name: value\n"... */
	int64_t				 query_time_ms;	/* -1: unknown */
	const struct dohq_out_tls	*tls;
	const struct dohq_out_timing	*timing;
	const struct dohq_out_validation *validation;
};

/*
 * Print the response msg (len bytes) in fmt with what meta (may be NULL)
 * says of the exchange: text puts TLS before the message and the query
 * time, server, HTTP status and headers, size and times after it, as
 * dig does; JSON puts them first in the message's one object; the short
 * form adds only the times.  With meta->validation, text is as delv's:
 * the verdict, the answer's records (a negative answer's authority
 * records, its proof) and the chain of trust instead of the message's
 * header and sections; the short form puts the verdict line first; JSON
 * adds the members verdict, ede, ede_name, why, zone, chain (an array
 * of strings) and chain_queries.  Returns as dnsprint_msg().
 */
int	dohq_out_msg(struct dnsprint_out *o, enum dnsprint_format fmt,
	    const uint8_t *msg, size_t len, const struct dohq_out_meta *meta);

/*
 * The JSON object for a query that got no answer: the server, its
 * address and HTTP status from meta (may be NULL), the question as asked
 * (name as typed, qtype, qclass), dohq's exit status and the error.
 */
void	dohq_out_error_json(struct dnsprint_out *o,
	    const struct dohq_out_meta *meta, const char *name, uint16_t qtype,
	    uint16_t qclass, int exit_status, const char *error);

#endif
