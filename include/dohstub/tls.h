/*
 * tls: the client SSL_CTX (TLS 1.3 minimum by default, ALPN "h2", CA store
 * or ca-file, peer verification) and per-connection SSL objects with SNI,
 * host or IP verification and session resumption.
 */
#ifndef DOHSTUB_TLS_H
#define DOHSTUB_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct tls_opts {
	const char	*ca_file;	/* NULL: the system store */
	int		 min_version;	/* TLS1_3_VERSION, TLS1_2_VERSION */
	int		 insecure;	/* skip verification (dohq only) */
	int		 early_data;	/* TLS 1.3 early data (0-RTT) on
					   resumed sessions; never insecure */
};

#define TLS_RESUME_MAX	4

/*
 * Saved sessions for resumption, owned by whoever keeps the connection
 * (one per upstream) and valid for as long as any SSL made with it.  Each
 * is used once (RFC 8446 C.4): a server may take a ticket as single-use.
 */
struct tls_resume {
	SSL_SESSION	*sess[TLS_RESUME_MAX];	/* oldest first */
	size_t		 n;
};

/* Returns a new context, or NULL with a reason in err. */
SSL_CTX	*tls_ctx_new(const struct tls_opts *opts, char *err, size_t errlen);

/*
 * A client SSL for host: SNI (unless host_is_ip), name or IP verification,
 * ALPN h2; tickets the server sends are added to *resume (NULL: none are
 * kept).  NULL on failure.
 */
SSL	*tls_ssl_new(SSL_CTX *ctx, const char *host, int host_is_ip,
	    struct tls_resume *resume);

/*
 * Offer the newest session in *resume on ssl, once every check of ssl is
 * set: the session's certificate chain is verified again against ssl's
 * host name or IP, its CA store, its security level and the time now, as
 * a full handshake would, and the session must be within its lifetime
 * (OpenSSL does not check; a session that fails is dropped, so a full
 * handshake follows and fails or passes on its own).  Sessions tried are
 * taken out of *resume.  1 if a session is offered, 0 if none.
 */
int	tls_ssl_resume(SSL *ssl, struct tls_resume *resume);

/*
 * How many bytes of early data ssl may send before its handshake ends:
 * the offered session's max_early_data if the context allows early data,
 * the session negotiated h2 and is within its lifetime, else 0.
 */
size_t	tls_early_budget(SSL *ssl);

/* 1 if the handshake negotiated ALPN "h2". */
int	tls_alpn_is_h2(SSL *ssl);

/*
 * Why a handshake failed, for a log line: the certificate verification
 * error if there was one, else the OpenSSL error queue.  Clears the queue.
 */
const char *tls_error_str(SSL *ssl, char *buf, size_t size);

void	tls_resume_clear(struct tls_resume *resume);

#endif
