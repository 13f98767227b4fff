/*
 * tls: client-side TLS for DoH.  Peer verification is always on unless
 * the caller asks for insecure (dohq --insecure only).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dohstub/tls.h"

static const unsigned char tls_alpn[] = { 2, 'h', '2' };

/* ex_data slots: the struct tls_resume of an SSL; the tls_opts' early
 * data choice of an SSL_CTX (non-NULL: yes). */
static int tls_resume_idx = -1;
static int tls_early_idx = -1;

/*
 * A new session (TLS 1.3 sends tickets after the handshake): keep a copy.
 * Not the object itself: it is also the connection's current session,
 * and SSL_free() marks that not resumable when the connection did not
 * end with a clean shutdown, which is how DoH connections mostly end.
 */
static int
tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_resume *resume;
	SSL_SESSION *copy;

	resume = SSL_get_ex_data(ssl, tls_resume_idx);
	if (resume == NULL || !SSL_SESSION_is_resumable(sess) ||
	    (copy = SSL_SESSION_dup(sess)) == NULL)
		return 0;
	if (resume->n == TLS_RESUME_MAX) {
		SSL_SESSION_free(resume->sess[0]);
		memmove(&resume->sess[0], &resume->sess[1],
		    (TLS_RESUME_MAX - 1) * sizeof(resume->sess[0]));
		resume->n--;
	}
	resume->sess[resume->n++] = copy;
	return 0;	/* OpenSSL keeps its reference to sess */
}

SSL_CTX *
tls_ctx_new(const struct tls_opts *opts, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	unsigned long e;

	if (tls_resume_idx == -1)
		tls_resume_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    NULL);
	if (tls_early_idx == -1)
		tls_early_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    NULL);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	if (opts->early_data && !opts->insecure &&
	    !SSL_CTX_set_ex_data(ctx, tls_early_idx, ctx))
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, opts->min_version))
		goto fail;
	/*
	 * A server that closes without close_notify has closed: HTTP/2
	 * frames carry their own lengths, so a cut is seen by nghttp2, and
	 * "unexpected eof" would only hide the plain story in the logs.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/*
	 * doh does its own non-blocking I/O: a blocked write is retried
	 * from a buffer that may have grown (and moved) meanwhile, and
	 * read-ahead lets one read(2) take every record that has arrived.
	 * Buffers are kept: RELEASE_BUFFERS would free and reallocate them
	 * around every record.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	if (opts->ca_file != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, opts->ca_file, NULL)) {
			e = ERR_peek_last_error();
			snprintf(err, errlen, "%s: cannot load CA file: %s",
			    opts->ca_file, ERR_reason_error_string(e) ?
			    ERR_reason_error_string(e) : "unknown error");
			ERR_clear_error();
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (!SSL_CTX_set_default_verify_paths(ctx))
		goto fail;
	SSL_CTX_set_verify(ctx, opts->insecure ? SSL_VERIFY_NONE :
	    SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_alpn_protos(ctx, tls_alpn, sizeof(tls_alpn)) != 0)
		goto fail;
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_new_session);
	return ctx;
 fail:
	e = ERR_peek_last_error();
	snprintf(err, errlen, "TLS set-up failed: %s",
	    e ? ERR_error_string(e, NULL) : "unknown error");
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

SSL *
tls_ssl_new(SSL_CTX *ctx, const char *host, int host_is_ip,
    struct tls_resume *resume)
{
	X509_VERIFY_PARAM *param;
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	param = SSL_get0_param(ssl);
	if (host_is_ip) {
		/* RFC 6066: no SNI for a literal address; check an IP SAN. */
		if (!X509_VERIFY_PARAM_set1_ip_asc(param, host))
			goto fail;
	} else {
		if (!SSL_set_tlsext_host_name(ssl, host))
			goto fail;
		X509_VERIFY_PARAM_set_hostflags(param,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (!X509_VERIFY_PARAM_set1_host(param, host, 0))
			goto fail;
	}
	if (resume != NULL && !SSL_set_ex_data(ssl, tls_resume_idx, resume))
		goto fail;
	return ssl;
 fail:
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

/*
 * Would the server of the session now set on ssl pass the checks of a
 * full handshake?  OpenSSL checks nothing when it resumes: it restores
 * the verify result of the handshake that made the session, however long
 * ago and against whatever settings were in force then.  So the saved
 * chain is verified again, against the store, the time and the host name
 * or address (and DDR's IP) that ssl would check now.
 */
static int
tls_session_verifies(SSL *ssl)
{
	X509_STORE_CTX *xs;
	X509 *leaf;
	int ok = 0;

	if (SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE)
		return 1;
	if ((leaf = SSL_get0_peer_certificate(ssl)) == NULL ||
	    (xs = X509_STORE_CTX_new()) == NULL)
		return 0;
	if (X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(
	    ssl)), leaf, SSL_get_peer_cert_chain(ssl)) == 1 &&
	    X509_STORE_CTX_set_default(xs, "ssl_server") == 1 &&
	    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(xs),
	    SSL_get0_param(ssl)) == 1) {
		/* What ssl_verify_cert_chain() adds on a full handshake: the
		 * security level's minimum key and signature strength. */
		X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(xs),
		    SSL_get_security_level(ssl));
		ok = X509_verify_cert(xs) == 1;
	}
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	return ok;
}

/*
 * Is sess within its lifetime: the ticket's lifetime hint (RFC 8446
 * 4.6.1, at most 7 days) and the session's own timeout?  OpenSSL leaves
 * an old ticket out of the ClientHello's PSK but would still let early
 * data be written for it.
 */
static int
tls_session_fresh(const SSL_SESSION *sess)
{
	time_t now = time(NULL), made = (time_t)SSL_SESSION_get_time(sess);
	unsigned long hint = SSL_SESSION_get_ticket_lifetime_hint(sess);
	long timeout = SSL_SESSION_get_timeout(sess);
	double age;

	if (now < made)
		return 0;	/* the wall clock went back: age unknown */
	age = difftime(now, made);
	if (timeout <= 0 || age >= (double)timeout)
		return 0;
	if (hint != 0 && age >= (double)hint)
		return 0;
	return 1;
}

int
tls_ssl_resume(SSL *ssl, struct tls_resume *resume)
{
	SSL_SESSION *sess;
	int ok;

	/* The newest ticket, used once: SSL_set_session takes a reference
	 * of its own.  One that fails the checks is dropped, and the full
	 * handshake that follows says why. */
	while (resume->n > 0) {
		sess = resume->sess[--resume->n];
		ok = SSL_SESSION_is_resumable(sess) &&
		    tls_session_fresh(sess) &&
		    SSL_set_session(ssl, sess) == 1;
		SSL_SESSION_free(sess);
		if (ok && tls_session_verifies(ssl))
			return 1;
		(void)SSL_set_session(ssl, NULL);
		ERR_clear_error();
	}
	return 0;
}

size_t
tls_early_budget(SSL *ssl)
{
	SSL_SESSION *sess = SSL_get_session(ssl);
	const unsigned char *alpn;
	size_t len;

	if (SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_early_idx) == NULL ||
	    sess == NULL || !SSL_SESSION_is_resumable(sess) ||
	    !tls_session_fresh(sess))
		return 0;
	/* RFC 8446 4.2.10: early data speaks the session's protocol. */
	SSL_SESSION_get0_alpn_selected(sess, &alpn, &len);
	if (len != 2 || memcmp(alpn, "h2", 2) != 0)
		return 0;
	return SSL_SESSION_get_max_early_data(sess);
}

int
tls_alpn_is_h2(SSL *ssl)
{
	const unsigned char *p;
	unsigned int len;

	SSL_get0_alpn_selected(ssl, &p, &len);
	return len == 2 && memcmp(p, "h2", 2) == 0;
}

const char *
tls_error_str(SSL *ssl, char *buf, size_t size)
{
	unsigned long e;
	long vr;

	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(buf, size, "certificate verification failed: %s",
		    X509_verify_cert_error_string(vr));
		ERR_clear_error();
		return buf;
	}
	if ((e = ERR_peek_last_error()) != 0)
		snprintf(buf, size, "TLS error: %s",
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
		    "unknown");
	else
		snprintf(buf, size, "TLS handshake failed");
	ERR_clear_error();
	return buf;
}

void
tls_resume_clear(struct tls_resume *resume)
{
	while (resume->n > 0)
		SSL_SESSION_free(resume->sess[--resume->n]);
}
