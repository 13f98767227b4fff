/*
 * Allocation failure: malloc, calloc, realloc, strdup and strndup are
 * replaced in this program by versions that forward to glibc's
 * __libc_* functions and can be armed to fail the Nth request since
 * arming with ENOMEM (only that one, or that one and every later one).
 * Each configuration operation is run with N = 1, 2, 3... until it
 * completes without reaching N: every run must either succeed with the
 * same configuration as an undisturbed run, or fail with -1 and a message
 * that says memory ran out, and leave nothing allocated.  dnsmsg must not
 * allocate at all.
 *
 * Under AddressSanitizer the allocator belongs to ASan and cannot be
 * replaced here, so only the undisturbed runs and the dnsmsg results are
 * checked; the plain build is the one that injects failures.  Run it under
 * valgrind --leak-check=full too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"

#include "check.h"

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_ASAN 1
#endif
#endif

enum fail_mode {
	FAIL_ONE,	/* only the Nth request fails */
	FAIL_FROM,	/* the Nth and every later one */
};

static unsigned long alloc_calls;	/* every request, armed or not */
static unsigned long armed_calls;	/* requests since arming */
static unsigned long fail_at;		/* 0: disarmed */
static enum fail_mode fail_mode;
static int injected;			/* a request was failed */
static long live;			/* blocks handed out, not freed */

#ifndef ALLOC_ASAN
#define ALLOC_INTERPOSED 1

void	*__libc_malloc(size_t);
void	*__libc_calloc(size_t, size_t);
void	*__libc_realloc(void *, size_t);
void	 __libc_free(void *);

static int
alloc_fails(void)
{
	alloc_calls++;
	if (fail_at == 0)
		return 0;
	armed_calls++;
	if (armed_calls < fail_at ||
	    (fail_mode == FAIL_ONE && armed_calls > fail_at))
		return 0;
	injected = 1;
	errno = ENOMEM;
	return 1;
}

void *
malloc(size_t n)
{
	void *p;

	if (alloc_fails())
		return NULL;
	if ((p = __libc_malloc(n)) != NULL)
		live++;
	return p;
}

void *
calloc(size_t n, size_t size)
{
	void *p;

	if (alloc_fails())
		return NULL;
	if ((p = __libc_calloc(n, size)) != NULL)
		live++;
	return p;
}

void *
realloc(void *old, size_t n)
{
	void *p;

	if (old != NULL && n == 0) {	/* glibc: frees, returns NULL */
		live--;
		return __libc_realloc(old, 0);
	}
	if (alloc_fails())
		return NULL;
	if ((p = __libc_realloc(old, n)) != NULL && old == NULL)
		live++;
	return p;
}

void
free(void *p)
{
	if (p != NULL)
		live--;
	__libc_free(p);
}

char *
strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if ((p = malloc(n)) != NULL)
		memcpy(p, s, n);
	return p;
}

char *
strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p;

	if ((p = malloc(n + 1)) != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}
#endif

/*
 * Whether our malloc really is the one called: valgrind replaces malloc
 * and free in the main program too, unless run with
 * --soname-synonyms=somalloc=nouserintercepts (then ours forwards to
 * __libc_malloc, which valgrind tracks).
 */
static int interposed;

static int
interposer_active(void)
{
#ifdef ALLOC_INTERPOSED
	void *(*volatile m)(size_t) = malloc;
	void (*volatile f)(void *) = free;
	unsigned long calls = alloc_calls;
	long blocks = live;
	void *p;

	p = m(16);
	if (alloc_calls != calls + 1 || live != blocks + 1) {
		f(p);
		return 0;
	}
	f(p);
	return live == blocks;
#else
	return 0;
#endif
}

static void
arm(unsigned long n, enum fail_mode mode)
{
	armed_calls = 0;
	injected = 0;
	fail_mode = mode;
	fail_at = n;
}

static void
disarm(void)
{
	fail_at = 0;
}

/* ------------------------------------------------------------ config */

static const char full_conf[] =
	"# every key, lists with several entries\n"
	"listen 127.0.0.1:5300\n"
	"listen [::1]:5300\n"
	"listen 127.0.0.2\n"
	"mode encrypted-preferred\n"
	"upstream https://doh.example/dns-query\n"
	"upstream https://doh2.example:8443/q?ct=1   # post only\n"
	"upstream https://192.0.2.10/dns-query\n"
	"upstream https://[2001:db8::10]:4443\n"
	"upstream 192.0.2.20\n"
	"upstream [2001:db8::20]:5353\n"
	"known-server 192.0.2.20 https://doh.example/dns-query\n"
	"known-server 2001:db8::21   https://doh3.example/q\n"
	"ddr no\n"
	"ddr-opportunistic yes\n"
	"resolve doh.example:443:192.0.2.1,2001:db8::1,192.0.2.11\n"
	"resolve doh2.example:8443:[2001:db8::2],192.0.2.2\n"
	"resolve other.example:443:192.0.2.3\n"
	"bootstrap 192.0.2.53\n"
	"bootstrap [2001:db8::53]:5353\n"
	"fallback 192.0.2.54\n"
	"fallback 2001:db8::54\n"
	"fallback 192.0.2.55:5353\n"
	"ca-file \"/dev/null\"\n"
	"method post\n"
	"tls-min-version 1.2\n"
	"timeout 1500ms\n"
	"keepalive 30s\n"
	"tcp-idle-timeout 5\n"
	"max-pending 100\n"
	"max-tcp-clients 50\n"
	"edns-udp-size 1400\n"
	"user nobody\n"
	"log-level debug\n"
	"syslog no\n";

static char *full_env[] = {
	"PATH=/bin",
	"DOHSTUB_LISTEN=127.0.0.1:5301, [::1]:5301 ,127.0.0.3",
	"DOHSTUB_MODE=encrypted-preferred",
	"DOHSTUB_UPSTREAM=https://doh.example/dns-query,"
	    "https://doh2.example:8443/x,https://192.0.2.10, 192.0.2.20",
	"DOHSTUB_KNOWN_SERVER=192.0.2.20 https://doh.example/, "
	    "2001:db8::21 https://doh3.example/q",
	"DOHSTUB_DDR=no",
	"DOHSTUB_RESOLVE=doh.example:443:192.0.2.1,2001:db8::1, "
	    "doh2.example:8443:[2001:db8::2],192.0.2.2",
	"DOHSTUB_BOOTSTRAP=192.0.2.53,[2001:db8::53]:5353",
	"DOHSTUB_FALLBACK=192.0.2.54, 2001:db8::54",
	"DOHSTUB_CA_FILE=/dev/null",
	"DOHSTUB_METHOD=get",
	"DOHSTUB_TLS_MIN_VERSION=1.3",
	"DOHSTUB_TIMEOUT=3s",
	"DOHSTUB_KEEPALIVE=0",
	"DOHSTUB_TCP_IDLE_TIMEOUT=500ms",
	"DOHSTUB_MAX_PENDING=10",
	"DOHSTUB_MAX_TCP_CLIENTS=5",
	"DOHSTUB_EDNS_UDP_SIZE=512",
	"DOHSTUB_USER=daemon",
	"DOHSTUB_LOG_LEVEL=warn",
	"DOHSTUB_SYSLOG=yes",
	NULL,
};

/* No upstream: zero configuration, address servers from resolv.conf. */
static const char zero_conf[] = "listen 127.0.0.1:5302\n";

/* encrypted-only, no bootstrap: the nameservers come from resolv.conf */
static const char resolv_conf_user[] =
	"listen 127.0.0.1:5302\n"
	"upstream https://doh.example/dns-query\n"
	"upstream https://192.0.2.10/dns-query\n"
	"resolve doh.example:443:192.0.2.1\n";

static const char resolv_conf[] =
	"# test\n"
	"search example\n"
	"nameserver 192.0.2.200\n"
	"nameserver 2001:db8::200\n"
	"nameserver 127.0.0.1\n"
	"options edns0\n";

enum op {
	OP_BUF,		/* config_parse_buf, finalize with no resolv.conf */
	OP_ENV,		/* config_parse_env over it all, the same */
	OP_FILE,	/* config_parse_file, finalize reading resolv.conf */
	OP_ZERO,	/* no upstream, finalize reading resolv.conf */
	OP_N
};
static const char *const op_names[] = { "parse_buf", "parse_env",
    "parse_file+resolv.conf", "zero configuration" };
/* What each one's undisturbed run prints, among the rest. */
static const char *const op_want[] = {
	"upstream https://doh.example/dns-query\n",
	"upstream https://doh.example/dns-query\n",
	"upstream https://doh.example/dns-query\n",
	"upstream 192.0.2.200\nupstream 2001:db8::200\n",
};

static char conf_path[64], resolv_path[64];
static char out_buf[8192];

struct run {
	int	rc;
	char	err[CONFIG_ERRLEN];
	char	printed[sizeof(out_buf)];
};

/*
 * The operation under test: defaults, parse, finalize, print, free.  out
 * gets the printed configuration when it worked (out is opened before and
 * read after, outside the armed part).
 */
static void
run_op(enum op op, struct run *r, unsigned long n, enum fail_mode mode)
{
	struct config cfg;
	FILE *devnull, *out;
	const char *resolv = "/nonexistent";

	memset(r, 0, sizeof(*r));
	memset(out_buf, 0, sizeof(out_buf));
	if ((devnull = fopen("/dev/null", "w")) == NULL ||
	    (out = fmemopen(out_buf, sizeof(out_buf) - 1, "w")) == NULL) {
		perror("fopen");
		exit(1);
	}
	arm(n, mode);
	config_defaults(&cfg);
	switch (op) {
	case OP_BUF:
		r->rc = config_parse_buf(&cfg, "full.conf", full_conf,
		    sizeof(full_conf) - 1, r->err, sizeof(r->err));
		break;
	case OP_ENV:
		r->rc = config_parse_env(&cfg, full_env, r->err,
		    sizeof(r->err));
		break;
	case OP_FILE:
		r->rc = config_parse_file(&cfg, conf_path, 1, r->err,
		    sizeof(r->err));
		resolv = resolv_path;
		break;
	case OP_ZERO:
		r->rc = config_parse_buf(&cfg, "zero.conf", zero_conf,
		    sizeof(zero_conf) - 1, r->err, sizeof(r->err));
		resolv = resolv_path;
		break;
	default:
		abort();
	}
	if (r->rc == 0)
		r->rc = config_finalize(&cfg, resolv, r->err, sizeof(r->err));
	if (r->rc == 0)
		config_print(&cfg, devnull);
	disarm();
	if (r->rc == 0) {
		config_print(&cfg, out);
		fflush(out);
		memcpy(r->printed, out_buf, sizeof(r->printed));
	}
	config_free(&cfg);
	fclose(out);
	fclose(devnull);
}

static int
write_temp(char *path, size_t size, const char *text)
{
	int fd;

	snprintf(path, size, "/tmp/test_alloc.XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void
test_config_op(enum op op)
{
	struct run base, r;
	unsigned long n, failed_ok;
	long live0;
	int m, bad_rc, bad_msg, changed, leaked;

	live0 = live;
	run_op(op, &base, 0, FAIL_ONE);
	CHECK_EQ(base.rc, 0);
	if (base.rc != 0)
		fprintf(stderr, "%s: %s\n", op_names[op], base.err);
	CHECK(strstr(base.printed, op_want[op]) != NULL);
	if (!interposed)
		return;
	CHECK_EQ(live, live0);
	for (m = FAIL_ONE; m <= FAIL_FROM; m++) {
		failed_ok = bad_rc = bad_msg = changed = leaked = 0;
		for (n = 1; n < 100000; n++) {
			live0 = live;
			run_op(op, &r, n, (enum fail_mode)m);
			if (!injected)
				break;
			if (live != live0 && leaked++ == 0)
				fprintf(stderr, "%s: failing allocation %lu "
				    "leaks %ld blocks\n", op_names[op], n,
				    live - live0);
			if (r.rc == 0) {
				if (strcmp(r.printed, base.printed) == 0)
					continue;
				if (changed++ == 0)
					fprintf(stderr, "%s: failing "
					    "allocation %lu: success, but a "
					    "different configuration:\n%s",
					    op_names[op], n, r.printed);
				continue;
			}
			if (r.rc != -1 || r.err[0] == '\0') {
				if (bad_rc++ == 0)
					fprintf(stderr, "%s: failing "
					    "allocation %lu: rc %d, err "
					    "\"%s\"\n", op_names[op], n, r.rc,
					    r.err);
				continue;
			}
			failed_ok++;
			if (strstr(r.err, "memory") == NULL && bad_msg++ == 0)
				fprintf(stderr, "%s: failing allocation %lu: "
				    "\"%s\" does not say memory ran out\n",
				    op_names[op], n, r.err);
		}
		printf("%s, %s: %lu allocations, %lu failed cleanly\n",
		    op_names[op], m == FAIL_ONE ? "one failure" :
		    "every allocation from N", n - 1, failed_ok);
		CHECK(n > 1);
		CHECK(!injected);	/* stopped because it got through */
		CHECK(failed_ok > 0);
		CHECK_EQ(bad_rc, 0);
		CHECK_EQ(bad_msg, 0);
		CHECK_EQ(changed, 0);
		CHECK_EQ(leaked, 0);
	}
}

/* ------------------------------------------------------------ dnsmsg */

static void
test_dnsmsg_no_alloc(void)
{
	static uint8_t query[512], answer[8192], err[512];
	static const uint8_t qname[] = "\3www\7example";
	struct dns_query_info qi;
	struct dnsmsg_wr w;
	char name[DNS_MAX_NAME_TEXT];
	uint8_t txt[100];
	size_t qlen, alen, n, i, qend;
	unsigned long before;
	enum dns_verdict v;
	long tcp;

	before = alloc_calls;
	/* www.example. TXT with an OPT (size 4096, DO) */
	qlen = dnsmsg_make_query(query, sizeof(query), qname, sizeof(qname),
	    16, DNS_CLASS_IN, DNS_FLAG_RD, 4096, 1, 0);
	CHECK_EQ(qlen, 12 + 13 + 4 + DNS_OPT_LEN);
	dnsmsg_set_id(query, 0x1234);
	qend = qlen - DNS_OPT_LEN;

	/* the answer: the question, then 40 TXT records of 100 bytes */
	dnsmsg_wr_init(&w, answer, sizeof(answer));
	dnsmsg_wr_bytes(&w, query, qend);
	dnsmsg_wr_set16(&w, 2, 0x8180);
	dnsmsg_wr_set16(&w, 6, 40);
	dnsmsg_wr_set16(&w, 10, 0);
	for (i = 0; i < 40; i++) {
		dnsmsg_wr_u16(&w, 0xc00c);
		dnsmsg_wr_u16(&w, 16);
		dnsmsg_wr_u16(&w, DNS_CLASS_IN);
		dnsmsg_wr_u32(&w, 300);
		dnsmsg_wr_u16(&w, 101);
		dnsmsg_wr_u8(&w, 100);
		memset(txt, 'a' + (int)(i % 26), sizeof(txt));
		dnsmsg_wr_bytes(&w, txt, sizeof(txt));
	}
	alen = dnsmsg_wr_finish(&w);
	CHECK_EQ(alen, qend + 40 * (12 + 101));

	v = dnsmsg_parse_query(query, qlen, &qi);
	CHECK_EQ(v, DNS_VERDICT_OK);
	CHECK(qi.has_edns && qi.edns_do && qi.edns_size == 4096);
	CHECK_EQ(dnsmsg_check_answer(answer, alen, &qi), 0);
	CHECK_EQ(dnsmsg_check_answer(answer, alen - 1, &qi), -1);
	n = dnsmsg_make_error(err, sizeof(err), &qi, DNS_RCODE_SERVFAIL);
	CHECK_EQ(n, qlen);
	CHECK_EQ(dnsmsg_rcode(err), DNS_RCODE_SERVFAIL);
	CHECK_EQ(dnsmsg_get_id(err), 0x1234);
	CHECK_EQ(dnsmsg_udp_limit(&qi, 1232), 1232);
	n = dnsmsg_truncate(answer, alen, dnsmsg_udp_limit(&qi, 1232), &qi);
	CHECK(n > 0 && n <= 1232);
	CHECK(answer[2] & 0x02);	/* TC */
	dnsmsg_set_id(answer, 0x4321);
	CHECK_EQ(dnsmsg_get_id(answer), 0x4321);
	CHECK_EQ(dnsmsg_name_to_text(qi.qname, qi.qname_len, name, sizeof(name),
	    0), 0);
	CHECK_STR(name, "www.example.");
	/* a broken query: a pointer loop, then two OPT records */
	query[12] = 0xc0;
	query[13] = 0x0c;
	CHECK_EQ(dnsmsg_parse_query(query, qlen, &qi), DNS_VERDICT_FORMERR);
	CHECK(dnsmsg_make_error(err, sizeof(err), &qi, DNS_RCODE_FORMERR) >=
	    DNS_HDR_LEN);
	memset(err, 0, 2);
	err[1] = 40;
	tcp = dnsmsg_tcp_frame(err, 42, &n);
	CHECK_EQ(tcp, 42);
	CHECK_EQ(n, 40);
	CHECK_EQ(alloc_calls, before);
	if (interposed) {
		/* the counter works: it does move for an allocation */
		CHECK(interposer_active());
		CHECK_EQ(alloc_calls, before + 1);
	}
}

int
main(void)
{
	enum op op;

	setvbuf(stdout, NULL, _IONBF, 0);	/* no lazy stdio buffer */
	interposed = interposer_active();
#ifdef ALLOC_ASAN
	printf("AddressSanitizer owns the allocator: no failures injected, "
	    "undisturbed runs only\n");
#else
	if (!interposed)
		printf("malloc is replaced by the environment (valgrind "
		    "without --soname-synonyms=somalloc=nouserintercepts?): "
		    "no failures injected, undisturbed runs only\n");
#endif
	if (write_temp(conf_path, sizeof(conf_path), resolv_conf_user) == -1 ||
	    write_temp(resolv_path, sizeof(resolv_path), resolv_conf) == -1) {
		perror("temporary file");
		return 1;
	}
	for (op = 0; op < OP_N; op++)
		test_config_op(op);
	test_dnsmsg_no_alloc();
	unlink(conf_path);
	unlink(resolv_path);
	return check_summary();
}
