/*
 * test_tls: the client context against an in-memory TLS 1.3 server (a
 * CA and leaves made here, memory BIOs, no sockets): sessions are saved
 * and resumed, and a saved session is offered only while its server's
 * certificate would pass a full handshake now (name, CA store, time).
 * OpenSSL alone resumes all three failing cases below.  Early data: the
 * budget is the ticket's, only with tls_opts.early_data, and it really
 * goes out and is taken by a server that reads it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "dohstub/log.h"
#include "dohstub/tls.h"

#define DAY	(24 * 60 * 60)

struct pki {
	EVP_PKEY	*ca_key, *leaf_key;
	X509		*ca, *leaf;
	char		 ca_file[64];
};

static X509 *
make_cert(EVP_PKEY *key, const char *cn, EVP_PKEY *signer, X509 *issuer,
    const char *san, long days)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *name;
	static long serial = 1;

	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), days * DAY);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(
	    issuer) : name);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if (san == NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
		    "critical,CA:TRUE");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
		    "critical,keyCertSign");
	} else
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
		    san);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, signer, EVP_sha256());
	return x;
}

static void
pki_make(struct pki *p, const char *cn)
{
	FILE *f;
	int fd;

	p->ca_key = EVP_EC_gen("P-256");
	p->leaf_key = EVP_EC_gen("P-256");
	p->ca = make_cert(p->ca_key, cn, p->ca_key, NULL, NULL, 30);
	/* The leaf expires in 10 days: a verify time past that is "later". */
	p->leaf = make_cert(p->leaf_key, "doh.test", p->ca_key, p->ca,
	    "DNS:doh.test,IP:127.0.0.1", 10);
	snprintf(p->ca_file, sizeof(p->ca_file), "/tmp/test_tls.XXXXXX");
	fd = mkstemp(p->ca_file);
	f = fdopen(fd, "w");
	PEM_write_X509(f, p->ca);
	fclose(f);
}

static void
pki_free(struct pki *p)
{
	unlink(p->ca_file);
	X509_free(p->ca);
	X509_free(p->leaf);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->leaf_key);
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h2[] = { 2, 'h', '2' };

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, h2,
	    sizeof(h2), in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
server_ctx(struct pki *p, int early)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	SSL_CTX_use_certificate(ctx, p->leaf);
	SSL_CTX_use_PrivateKey(ctx, p->leaf_key);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	if (early) {
		SSL_CTX_set_max_early_data(ctx, 16384);
		SSL_CTX_set_options(ctx, SSL_OP_NO_ANTI_REPLAY);
	}
	return ctx;
}

static SSL_CTX *
client_ctx(const struct pki *p, int early)
{
	struct tls_opts o;
	char err[256];
	SSL_CTX *ctx;

	memset(&o, 0, sizeof(o));
	o.ca_file = p->ca_file;
	o.min_version = TLS1_3_VERSION;
	o.early_data = early;
	if ((ctx = tls_ctx_new(&o, err, sizeof(err))) == NULL)
		fprintf(stderr, "tls_ctx_new: %s\n", err);
	return ctx;
}

/*
 * Client cl against a new server SSL from sctx, over memory BIOs: the
 * handshake (with early, if not NULL, written as early data first and
 * read by the server), then one byte each way so the client takes the
 * server's tickets.  1 if the handshake completed.  *got_early: the
 * server read the early data.
 */
static int
run(SSL *cl, SSL_CTX *sctx, const char *early, int *got_early)
{
	BIO *cb, *sb;
	SSL *sv = SSL_new(sctx);
	char buf[64];
	size_t n, have = 0;
	int i, cdone = 0, sdone = 0, r, ok = 0, sreading = early != NULL;

	*got_early = 0;
	BIO_new_bio_pair(&cb, 0, &sb, 0);
	SSL_set_bio(cl, cb, cb);
	SSL_set_bio(sv, sb, sb);
	SSL_set_connect_state(cl);
	SSL_set_accept_state(sv);
	if (early != NULL && SSL_write_early_data(cl, early, strlen(early),
	    &n) != 1)
		goto out;
	for (i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone) {
			if ((r = SSL_do_handshake(cl)) == 1)
				cdone = 1;
			else if (SSL_get_error(cl, r) != SSL_ERROR_WANT_READ)
				goto out;
		}
		if (sreading) {
			r = SSL_read_early_data(sv, buf + have,
			    sizeof(buf) - have, &n);
			if (r == SSL_READ_EARLY_DATA_SUCCESS)
				have += n;
			else if (r == SSL_READ_EARLY_DATA_FINISH)
				sreading = 0;
			else if (SSL_get_error(sv, 0) != SSL_ERROR_WANT_READ)
				goto out;
			continue;
		}
		if (!sdone) {
			if ((r = SSL_do_handshake(sv)) == 1)
				sdone = 1;
			else if (SSL_get_error(sv, r) != SSL_ERROR_WANT_READ)
				goto out;
		}
	}
	if (!(cdone && sdone))
		goto out;
	*got_early = early != NULL && have == strlen(early) &&
	    memcmp(buf, early, have) == 0;
	if (SSL_write_ex(sv, "x", 1, &n) != 1 ||
	    SSL_read_ex(cl, buf, 1, &n) != 1)
		goto out;
	ok = 1;
 out:
	ERR_clear_error();
	SSL_free(sv);
	return ok;
}

static void
test_resume_checks(void)
{
	struct pki p, other;
	struct tls_resume res, spare;
	SSL_CTX *sctx, *cctx, *octx;
	SSL *cl;
	size_t i;
	int early;

	pki_make(&p, "test CA");
	pki_make(&other, "another CA");
	memset(&res, 0, sizeof(res));
	memset(&spare, 0, sizeof(spare));
	sctx = server_ctx(&p, 0);
	cctx = client_ctx(&p, 0);
	octx = client_ctx(&other, 0);

	/* A full handshake keeps the server's tickets. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(tls_ssl_resume(cl, &res), 0);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	CHECK_EQ(SSL_session_reused(cl), 0);
	SSL_free(cl);
	CHECK(res.n >= 2);

	/* The same host now: resumed. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(tls_ssl_resume(cl, &res), 1);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	CHECK_EQ(SSL_session_reused(cl), 1);
	SSL_free(cl);

	/* OpenSSL alone resumes a session on an SSL that checks another
	 * name: what tls_ssl_resume() is for. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);
	CHECK(spare.n >= 1);
	cl = tls_ssl_new(cctx, "other.test", 0, NULL);
	CHECK_EQ(SSL_set_session(cl, spare.sess[spare.n - 1]), 1);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	CHECK_EQ(SSL_session_reused(cl), 1);
	SSL_free(cl);

	/* Another name: the session is not offered and the full handshake
	 * fails on the name. */
	CHECK(res.n >= 1);
	cl = tls_ssl_new(cctx, "other.test", 0, &res);
	CHECK_EQ(tls_ssl_resume(cl, &res), 0);
	CHECK_EQ(run(cl, sctx, NULL, &early), 0);
	CHECK_EQ(SSL_get_verify_result(cl), X509_V_ERR_HOSTNAME_MISMATCH);
	SSL_free(cl);

	/* Later than the leaf's notAfter: not offered; expired. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	X509_VERIFY_PARAM_set_time(SSL_get0_param(cl), time(NULL) + 20 * DAY);
	CHECK_EQ(tls_ssl_resume(cl, &spare), 0);
	CHECK_EQ(run(cl, sctx, NULL, &early), 0);
	CHECK_EQ(SSL_get_verify_result(cl), X509_V_ERR_CERT_HAS_EXPIRED);
	SSL_free(cl);

	/* A context that trusts another CA: not offered; unknown CA. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);
	cl = tls_ssl_new(octx, "doh.test", 0, &spare);
	CHECK_EQ(tls_ssl_resume(cl, &spare), 0);
	CHECK_EQ(run(cl, sctx, NULL, &early), 0);
	CHECK(SSL_get_verify_result(cl) != X509_V_OK);
	SSL_free(cl);

	/* An IP the certificate lists, and one it does not (DDR). */
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(cl), "127.0.0.1");
	CHECK_EQ(tls_ssl_resume(cl, &spare), 1);
	SSL_free(cl);
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(cl), "127.0.0.3");
	CHECK_EQ(tls_ssl_resume(cl, &spare), 0);
	SSL_free(cl);

	/* A session older than its ticket's lifetime: not offered. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);
	CHECK(spare.n >= 1);
	for (i = 0; i < spare.n; i++) {
		CHECK(SSL_SESSION_get_ticket_lifetime_hint(spare.sess[i]) > 0);
		SSL_SESSION_set_time(spare.sess[i], (long)time(NULL) -
		    (long)SSL_SESSION_get_ticket_lifetime_hint(
		    spare.sess[i]) - 60);
	}
	cl = tls_ssl_new(cctx, "doh.test", 0, &spare);
	CHECK_EQ(tls_ssl_resume(cl, &spare), 0);
	SSL_free(cl);

	tls_resume_clear(&res);
	tls_resume_clear(&spare);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	SSL_CTX_free(octx);
	pki_free(&p);
	pki_free(&other);
}

/*
 * A saved session is checked at the security level of the SSL that
 * would resume it, as a full handshake is: an RSA-2048 leaf (112 bits)
 * passes level 2 and fails level 3.
 */
static void
test_resume_seclevel(void)
{
	struct pki p;
	struct tls_resume res;
	SSL_CTX *sctx, *cctx;
	SSL *cl;
	int early;

	pki_make(&p, "test CA");
	EVP_PKEY_free(p.leaf_key);
	X509_free(p.leaf);
	p.leaf_key = EVP_RSA_gen(2048);
	p.leaf = make_cert(p.leaf_key, "doh.test", p.ca_key, p.ca,
	    "DNS:doh.test", 10);
	memset(&res, 0, sizeof(res));
	sctx = server_ctx(&p, 0);
	SSL_CTX_set_security_level(sctx, 2);
	cctx = client_ctx(&p, 0);
	SSL_CTX_set_security_level(cctx, 2);

	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);
	CHECK(res.n >= 2);

	/* Level 2: offered. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(tls_ssl_resume(cl, &res), 1);
	SSL_free(cl);

	/* Level 3: not offered, and a full handshake fails the same way. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	SSL_set_security_level(cl, 3);
	CHECK_EQ(tls_ssl_resume(cl, &res), 0);
	CHECK_EQ(run(cl, sctx, NULL, &early), 0);
	CHECK_EQ(SSL_get_verify_result(cl), X509_V_ERR_EE_KEY_TOO_SMALL);
	SSL_free(cl);

	tls_resume_clear(&res);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_free(&p);
}

static void
test_early(void)
{
	struct pki p;
	struct tls_resume res;
	SSL_CTX *sctx, *plain_sctx, *cctx, *noctx;
	SSL *cl;
	int early;

	pki_make(&p, "test CA");
	memset(&res, 0, sizeof(res));
	sctx = server_ctx(&p, 1);
	plain_sctx = server_ctx(&p, 0);
	cctx = client_ctx(&p, 1);
	noctx = client_ctx(&p, 0);

	/* No session, no budget. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(tls_early_budget(cl), 0);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);

	/* The ticket's budget; the early data is taken. */
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(tls_ssl_resume(cl, &res), 1);
	CHECK_EQ(tls_early_budget(cl), 16384);
	CHECK_EQ(run(cl, sctx, "PRI * HTTP/2.0", &early), 1);
	CHECK_EQ(early, 1);
	CHECK_EQ(SSL_get_early_data_status(cl), SSL_EARLY_DATA_ACCEPTED);
	SSL_free(cl);

	/* A ticket past its lifetime: no early data for it. */
	CHECK(res.n >= 1);
	cl = tls_ssl_new(cctx, "doh.test", 0, NULL);
	CHECK_EQ(SSL_set_session(cl, res.sess[res.n - 1]), 1);
	CHECK_EQ(tls_early_budget(cl), 16384);
	SSL_SESSION_set_time(SSL_get_session(cl), (long)time(NULL) -
	    (long)SSL_SESSION_get_ticket_lifetime_hint(SSL_get_session(cl)) -
	    60);
	CHECK_EQ(tls_early_budget(cl), 0);
	SSL_free(cl);
	tls_resume_clear(&res);
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(run(cl, sctx, NULL, &early), 1);
	SSL_free(cl);

	/* tls_opts.early_data off: none, whatever the ticket says. */
	cl = tls_ssl_new(noctx, "doh.test", 0, &res);
	CHECK_EQ(tls_ssl_resume(cl, &res), 1);
	CHECK_EQ(tls_early_budget(cl), 0);
	SSL_free(cl);

	/* A server that does not take early data gives tickets without. */
	tls_resume_clear(&res);
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(run(cl, plain_sctx, NULL, &early), 1);
	SSL_free(cl);
	cl = tls_ssl_new(cctx, "doh.test", 0, &res);
	CHECK_EQ(tls_ssl_resume(cl, &res), 1);
	CHECK_EQ(tls_early_budget(cl), 0);
	SSL_free(cl);

	tls_resume_clear(&res);
	SSL_CTX_free(sctx);
	SSL_CTX_free(plain_sctx);
	SSL_CTX_free(cctx);
	SSL_CTX_free(noctx);
	pki_free(&p);
}

int
main(void)
{
	log_setlevel(LOG_LEVEL_ERROR);
	test_resume_checks();
	test_resume_seclevel();
	test_early();
	return check_summary();
}
