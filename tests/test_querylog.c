/*
 * Tests for querylog: the line formats (text's fixed field order, JSON
 * escaping, odd names, the client address on and off, every source).
 * Then the buffer, with a real writer blocked opening a FIFO: once the
 * pipe is full no write is tried for each answer (write() and writev()
 * are counted through ld --wrap); then the test reads the FIFO from the
 * loop and gets every line whole, the ring wrapped, from a writer whose
 * exec failed.  Nothing sleeps:
 * the loop waits for its events.
 *
 * The writer's progress, which can only be waited for, is tested end
 * to end in tests/integration/test_querylog.py: lines reach
 * the file (test_text_lines), a rename and SIGHUP lose nothing
 * (test_rotation), a FIFO nobody reads costs the loop nothing and its
 * drops are counted (test_blocked_writer).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "check.h"
#include "dohstub/clock.h"
#include "dohstub/config.h"
#include "dohstub/querylog.h"

static char line[QUERYLOG_LINE_MAX];

/* 2026-12-07T04:05:06.789Z */
static const struct timespec when = { 1796616306, 789123456 };

static void
set_qi(struct dns_query_info *qi, const char *wire, size_t len,
    uint16_t qtype)
{
	memset(qi, 0, sizeof(*qi));
	memcpy(qi->qname, wire, len);
	qi->qname_len = len;
	qi->qtype = qtype;
	qi->qclass = 1;
}

static struct proxy_answer
answer(enum proxy_source src, int rcode, uint64_t us)
{
	struct proxy_answer a;

	memset(&a, 0, sizeof(a));
	a.source = src;
	a.rcode = rcode;
	a.ede = -1;
	a.elapsed_us = us;
	return a;
}

static const char *
fmt(enum querylog_format f, const struct dns_query_info *qi,
    const struct proxy_answer *a, const struct sockaddr *client)
{
	if (querylog_format(line, sizeof(line), f, &when, qi, a, client) == 0)
		return "(none)";
	return line;
}

static void
test_time(void)
{
	struct tm tm;
	char buf[32];

	gmtime_r(&when.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	CHECK_STR(buf, "2026-12-07T04:05:06");
}

static void
test_text(void)
{
	struct dns_query_info qi;
	struct proxy_answer a;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	set_qi(&qi, "\3www\7example\0", 13, 1);
	a = answer(PROXY_SRC_DOH, 0, 12345);
	a.upstream = "https://doh.test:8443/dns-query";
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, NULL),
	    "2026-12-07T04:05:06.789Z www.example. A NOERROR doh 12.345 "
	    "upstream=https://doh.test:8443/dns-query\n");
	CHECK_EQ(querylog_format(line, sizeof(line), QUERYLOG_TEXT, &when,
	    &qi, &a, NULL), strlen(line));

	/* A forward rule's plain servers, an EDE, the client. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	set_qi(&qi, "\4host\4corp\7example\0", 19, 28);
	a = answer(PROXY_SRC_FORWARD_PLAIN, 2, 0);
	a.zone = "corp.example.";
	a.ede = 22;
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, (struct sockaddr *)&sin),
	    "2026-12-07T04:05:06.789Z host.corp.example. AAAA SERVFAIL "
	    "forward-plain 0.000 zone=corp.example. ede=22 "
	    "client=192.0.2.7\n");
	/* The validation, between the EDE and the client. */
	a.dnssec = PROXY_DNSSEC_BOGUS;
	a.ede = 7;
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, (struct sockaddr *)&sin),
	    "2026-12-07T04:05:06.789Z host.corp.example. AAAA SERVFAIL "
	    "forward-plain 0.000 zone=corp.example. ede=7 dnssec=bogus "
	    "client=192.0.2.7\n");
	a.dnssec = PROXY_DNSSEC_NONE;
	a.ede = 22;
	/* The same, the client not asked for. */
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, NULL),
	    "2026-12-07T04:05:06.789Z host.corp.example. AAAA SERVFAIL "
	    "forward-plain 0.000 zone=corp.example. ede=22\n");

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::53", &sin6.sin6_addr);
	set_qi(&qi, "\0", 1, 2);
	a = answer(PROXY_SRC_CACHE, 3, 1234567);
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, (struct sockaddr *)&sin6),
	    "2026-12-07T04:05:06.789Z . NS NXDOMAIN cache 1234.567 "
	    "client=2001:db8::53\n");

	/* Unknown type, BADVERS (an extended rcode). */
	set_qi(&qi, "\1x\0", 3, 65280);
	a = answer(PROXY_SRC_ERROR, 16, 7);
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, NULL),
	    "2026-12-07T04:05:06.789Z x. TYPE65280 BADVERS error 0.007\n");

	/* A malformed query: no question read. */
	memset(&qi, 0, sizeof(qi));
	a = answer(PROXY_SRC_ERROR, 1, 10);
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, NULL),
	    "2026-12-07T04:05:06.789Z - - FORMERR error 0.010\n");
}

/* Every verdict but none has its name, last but the client. */
static void
test_dnssec(void)
{
	struct dns_query_info qi;
	struct proxy_answer a;
	char want[256];
	int i;

	set_qi(&qi, "\1a\0", 3, 1);
	for (i = 0; i < PROXY_DNSSEC_MAX; i++) {
		a = answer(PROXY_SRC_DOH, 0, 1000);
		a.dnssec = (enum proxy_dnssec)i;
		fmt(QUERYLOG_TEXT, &qi, &a, NULL);
		if (i == PROXY_DNSSEC_NONE)
			snprintf(want, sizeof(want), " doh 1.000\n");
		else
			snprintf(want, sizeof(want), " doh 1.000 dnssec=%s\n",
			    proxy_dnssec_names[i]);
		CHECK(strstr(line, want) != NULL);
		fmt(QUERYLOG_JSON, &qi, &a, NULL);
		if (i == PROXY_DNSSEC_NONE)
			CHECK(strstr(line, "dnssec") == NULL);
		else {
			snprintf(want, sizeof(want),
			    "\"latency_ms\":1.000,\"dnssec\":\"%s\"}\n",
			    proxy_dnssec_names[i]);
			CHECK(strstr(line, want) != NULL);
		}
	}
	CHECK_STR(proxy_dnssec_names[PROXY_DNSSEC_UNCHECKED], "unchecked");
	CHECK_STR(proxy_dnssec_names[PROXY_DNSSEC_SECURE], "secure");
	CHECK_STR(proxy_dnssec_names[PROXY_DNSSEC_INSECURE], "insecure");
	CHECK_STR(proxy_dnssec_names[PROXY_DNSSEC_BOGUS], "bogus");
}

/* Every source has its name, in the fifth field. */
static void
test_sources(void)
{
	struct dns_query_info qi;
	struct proxy_answer a;
	char want[256], *p;
	int i, field;

	set_qi(&qi, "\1a\0", 3, 1);
	for (i = 0; i < PROXY_SRC_MAX; i++) {
		a = answer((enum proxy_source)i, 0, 1000);
		fmt(QUERYLOG_TEXT, &qi, &a, NULL);
		for (p = line, field = 1; field < 5 && p != NULL; field++)
			if ((p = strchr(p, ' ')) != NULL)
				p++;
		snprintf(want, sizeof(want), "%s 1.000\n",
		    proxy_source_names[i]);
		CHECK(p != NULL && strcmp(p, want) == 0);
		fmt(QUERYLOG_JSON, &qi, &a, NULL);
		snprintf(want, sizeof(want), "\"source\":\"%s\"",
		    proxy_source_names[i]);
		CHECK(strstr(line, want) != NULL);
	}
}

static void
test_json(void)
{
	struct dns_query_info qi;
	struct proxy_answer a;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	set_qi(&qi, "\3www\7example\0", 13, 1);
	a = answer(PROXY_SRC_FORWARD_DOH, 0, 2500);
	a.upstream = "https://doh.test/dns-query?x=\"y\"";
	a.zone = "example.";
	a.ede = 3;
	CHECK_STR(fmt(QUERYLOG_JSON, &qi, &a, (struct sockaddr *)&sin),
	    "{\"time\":\"2026-12-07T04:05:06.789Z\",\"name\":\"www.example.\","
	    "\"type\":\"A\",\"rcode\":\"NOERROR\",\"source\":\"forward-doh\","
	    "\"latency_ms\":2.500,\"upstream\":"
	    "\"https://doh.test/dns-query?x=\\\"y\\\"\",\"zone\":\"example.\","
	    "\"ede\":3,\"client\":\"127.0.0.1\"}\n");
	CHECK_STR(fmt(QUERYLOG_JSON, &qi, &a, NULL),
	    "{\"time\":\"2026-12-07T04:05:06.789Z\",\"name\":\"www.example.\","
	    "\"type\":\"A\",\"rcode\":\"NOERROR\",\"source\":\"forward-doh\","
	    "\"latency_ms\":2.500,\"upstream\":"
	    "\"https://doh.test/dns-query?x=\\\"y\\\"\",\"zone\":\"example.\","
	    "\"ede\":3}\n");

	memset(&qi, 0, sizeof(qi));
	a = answer(PROXY_SRC_ERROR, 1, 0);
	CHECK_STR(fmt(QUERYLOG_JSON, &qi, &a, NULL),
	    "{\"time\":\"2026-12-07T04:05:06.789Z\",\"name\":null,"
	    "\"type\":null,\"rcode\":\"FORMERR\",\"source\":\"error\","
	    "\"latency_ms\":0.000}\n");
}

/* Spaces, quotes, backslashes, dots in a label and bytes above 0x7e. */
static void
test_odd_names(void)
{
	struct dns_query_info qi;
	struct proxy_answer a;

	set_qi(&qi, "\7a b\"\\.\xff\4test\0", 14, 16);
	a = answer(PROXY_SRC_LOCAL, 0, 0);
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, NULL),
	    "2026-12-07T04:05:06.789Z a\\032b\"\\\\\\.\\255.test. TXT "
	    "NOERROR local 0.000\n");
	CHECK_STR(fmt(QUERYLOG_JSON, &qi, &a, NULL),
	    "{\"time\":\"2026-12-07T04:05:06.789Z\",\"name\":"
	    "\"a\\\\032b\\\"\\\\\\\\\\\\.\\\\255.test.\",\"type\":\"TXT\","
	    "\"rcode\":\"NOERROR\",\"source\":\"local\",\"latency_ms\":0.000}"
	    "\n");
	/* A newline byte is escaped too: one line per answer. */
	set_qi(&qi, "\2\n\r\0", 4, 1);
	CHECK_STR(fmt(QUERYLOG_TEXT, &qi, &a, NULL),
	    "2026-12-07T04:05:06.789Z \\010\\013. A NOERROR local 0.000\n");
}

/* The longest name, all escapes, fits; a small buffer does not. */
static void
test_sizes(void)
{
	struct dns_query_info qi;
	struct proxy_answer a;
	uint8_t wire[255];
	size_t i, n;

	for (i = 0; i < 4; i++) {
		wire[i * 63] = 62;
		memset(wire + i * 63 + 1, 0xff, 62);
	}
	wire[252] = 1;
	wire[253] = 0xff;
	wire[254] = 0;
	set_qi(&qi, (const char *)wire, sizeof(wire), 1);
	a = answer(PROXY_SRC_DOH, 0, 0);
	a.upstream = "https://doh.test/dns-query";
	a.zone = "example.";
	n = querylog_format(line, sizeof(line), QUERYLOG_JSON, &when, &qi, &a,
	    NULL);
	CHECK(n > 253 * 5 && n < sizeof(line));
	CHECK(line[n - 1] == '\n' && line[n] == '\0');
	CHECK_EQ(querylog_format(line, 40, QUERYLOG_TEXT, &when, &qi, &a,
	    NULL), 0);
}

/* The buffer, with a writer that never reads. */

ssize_t	__real_write(int, const void *, size_t);
ssize_t	__wrap_write(int, const void *, size_t);
ssize_t	__real_writev(int, const struct iovec *, int);
ssize_t	__wrap_writev(int, const struct iovec *, int);

static unsigned full_writes;	/* that found the pipe full */

ssize_t
__wrap_write(int fd, const void *buf, size_t n)
{
	ssize_t r = __real_write(fd, buf, n);

	if (r == -1 && errno == EAGAIN)
		full_writes++;
	return r;
}

ssize_t
__wrap_writev(int fd, const struct iovec *iov, int n)
{
	ssize_t r = __real_writev(fd, iov, n);

	if (r == -1 && errno == EAGAIN)
		full_writes++;
	return r;
}

static void
log_n(struct querylog *ql, int n)
{
	struct dns_query_info qi;
	struct proxy_answer a;

	set_qi(&qi, "\3www\7example\0", 13, 1);
	a = answer(PROXY_SRC_CACHE, 0, 100);
	while (n-- > 0)
		querylog_write(ql, NULL, &qi, &a);
}

/* The writer blocks opening fifo, as long as nobody opens it to read. */
static struct querylog *
stuck_log(struct event_base *base, const char *fifo, const char *exe)
{
	struct querylog *ql;
	struct config cfg;

	config_defaults(&cfg);
	cfg.query_log = strdup(fifo);
	if ((ql = querylog_new(base)) != NULL &&
	    (querylog_writer_exec(ql, exe) == -1 ||
	    querylog_reopen(ql, &cfg) == -1)) {
		querylog_free(ql);
		ql = NULL;
	}
	config_free(&cfg);
	CHECK(ql != NULL);
	return ql;
}

/* query-log off: querylog_free() then has no pipe to wait for. */
static void
off(struct querylog *ql)
{
	struct config cfg;

	config_defaults(&cfg);
	CHECK_EQ(querylog_reopen(ql, &cfg), 0);
	config_free(&cfg);
}

/* The one live child of ours: the query log's writer; -1: none. */
static pid_t
writer_pid(void)
{
	char path[300], st[512], *p;
	struct dirent *de;
	DIR *d;
	ssize_t n;
	pid_t pid = -1;
	long ppid;
	int fd;
	char state;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY)) == -1)
			continue;
		n = read(fd, st, sizeof(st) - 1);
		close(fd);
		if (n <= 0)
			continue;
		st[n] = '\0';
		/* pid (comm) state ppid ... */
		if ((p = strrchr(st, ')')) != NULL &&
		    sscanf(p + 1, " %c %ld", &state, &ppid) == 2 &&
		    ppid == (long)getpid() && state != 'Z')
			pid = (pid_t)atol(de->d_name);
	}
	closedir(d);
	return pid;
}

/* The FIFO's reader, an event of the query log's loop. */
struct reader {
	int		 fd;
	char		 buf[65536 + QUERYLOG_LINE_MAX];
	size_t		 len;
	uint64_t	 got, bad;
	int		 eof;
};

/* Count the whole lines read; each must be log_n()'s. */
static void
reader_cb(evutil_socket_t fd, short ev, void *arg)
{
	static const char tail[] = " www.example. A NOERROR cache 0.100";
	const size_t want = sizeof("2026-12-07T04:05:06.789Z") - 1 +
	    sizeof(tail) - 1;
	struct reader *r = arg;
	char *p, *nl;
	ssize_t n;

	(void)ev;
	if ((n = read(fd, r->buf + r->len, sizeof(r->buf) - r->len)) <= 0) {
		r->eof = n == 0 || errno != EAGAIN;
		return;
	}
	r->len += (size_t)n;
	for (p = r->buf; (nl = memchr(p, '\n', r->len -
	    (size_t)(p - r->buf))) != NULL; p = nl + 1) {
		r->got++;
		if ((size_t)(nl - p) != want || memcmp(nl - (sizeof(tail) - 1),
		    tail, sizeof(tail) - 1) != 0)
			r->bad++;
	}
	r->len -= (size_t)(p - r->buf);
	memmove(r->buf, p, r->len);
}

/*
 * Read the FIFO (letting the writer out of open()) from the query log's
 * own loop while more lines are logged, until every line logged is
 * read: each one whole, though the ring wrapped.  The loop waits for
 * the FIFO, room in the pipe and the flush timer, never for a time of
 * its own.
 */
static void
drain(struct event_base *base, struct querylog *ql, const char *fifo)
{
	static struct reader r;
	struct event *ev;
	int more = 40000;

	memset(&r, 0, sizeof(r));
	if ((r.fd = open(fifo, O_RDONLY | O_NONBLOCK)) == -1) {
		CHECK(!"open the FIFO");
		return;
	}
	ev = event_new(base, r.fd, EV_READ | EV_PERSIST, reader_cb, &r);
	CHECK(ev != NULL && event_add(ev, NULL) == 0);
	while (r.got < querylog_stats(ql)->lines && !r.eof) {
		if (more > 0) {
			log_n(ql, 400);
			more -= 400;
		}
		(void)event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(ev);
	close(r.fd);
	CHECK_EQ(r.got, querylog_stats(ql)->lines);
	CHECK_EQ(r.bad, 0);
	CHECK_EQ(r.len, 0);
}

static void
test_full_pipe(struct event_base *base, const char *dir)
{
	struct querylog *ql;
	char fifo[512];
	unsigned before;
	pid_t pid;
	int i;

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CHECK_EQ(mkfifo(fifo, 0600), 0);
	/* An exec that fails: the forked child writes itself. */
	if ((ql = stuck_log(base, fifo, "/nonexistent/dohstub")) == NULL)
		return;
	pid = writer_pid();
	/* Until the pipe is full. */
	for (i = 0; i < 100000 && full_writes == 0; i++)
		log_n(ql, 1);
	CHECK_EQ(full_writes, 1);
	CHECK_EQ(querylog_stats(ql)->dropped, 0);
	/* Then lines wait in the buffer, and no write is tried for any
	 * of them: the pipe has no room. */
	before = full_writes;
	log_n(ql, 5000);
	CHECK_EQ(full_writes, before);
	CHECK_EQ(querylog_stats(ql)->dropped, 0);
	/* Past the buffer's end (the ring wraps): dropped and counted. */
	log_n(ql, 20000);
	CHECK_EQ(full_writes, before);
	CHECK(querylog_stats(ql)->dropped > 0);
	CHECK_EQ(querylog_stats(ql)->lines + querylog_stats(ql)->dropped,
	    (uint64_t)i + 25000);
	drain(base, ql, fifo);
	off(ql);
	querylog_free(ql);
	/* Its pipe closed, it exits: the next test's writer is alone. */
	CHECK(pid > 0 && waitpid(pid, NULL, 0) == pid);
	unlink(fifo);
}

/* Kill it and let the loop hear of it (its pidfd), not reaped here. */
static void
kill_writer(struct event_base *base)
{
	siginfo_t si;
	pid_t pid = writer_pid();

	CHECK(pid > 0);
	if (pid <= 0)
		return;
	CHECK_EQ(kill(pid, SIGKILL), 0);
	memset(&si, 0, sizeof(si));
	CHECK_EQ(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Lines logged until the pipe is full (the writer never reads). */
static uint64_t
fill_pipe(struct querylog *ql)
{
	unsigned before = full_writes;
	uint64_t n;

	for (n = 0; n < 100000 && full_writes == before; n++)
		log_n(ql, 1);
	CHECK_EQ(full_writes, before + 1);
	return n;
}

/*
 * Lines in a pipe whose writer died are dropped and counted, when the
 * log is turned off with none alive (the writer in its backoff), or when
 * an old writer (stuck opening a FIFO since a reopen) dies.
 */
static void
test_pipe_dropped(struct event_base *base, const char *dir)
{
	struct querylog *ql;
	char fifo[512];
	uint64_t n;
	long fd;

	/* The loop hears of a death through a pidfd at once; without one
	 * (valgrind knows no pidfd_open) only at the next second's
	 * waitpid(), which this test, stepping the loop once, cannot
	 * wait for. */
#ifdef SYS_pidfd_open
	fd = syscall(SYS_pidfd_open, getpid(), 0);
#else
	fd = -1;
#endif
	if (fd == -1) {
		fprintf(stderr, "no pidfd_open: dropped-pipe test skipped\n");
		return;
	}
	close((int)fd);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CHECK_EQ(mkfifo(fifo, 0600), 0);

	/* Dead, in its backoff: off. */
	if ((ql = stuck_log(base, fifo, NULL)) == NULL)
		return;
	n = fill_pipe(ql);
	kill_writer(base);
	CHECK_EQ(querylog_stats(ql)->restarts, 0);
	off(ql);
	CHECK_EQ(querylog_stats(ql)->dropped, n);
	querylog_free(ql);

	/* Off while it is stuck: what it holds is counted once it dies. */
	if ((ql = stuck_log(base, fifo, NULL)) == NULL)
		return;
	n = fill_pipe(ql);
	off(ql);
	CHECK(querylog_stats(ql)->dropped < n);
	kill_writer(base);
	CHECK_EQ(querylog_stats(ql)->dropped, n);
	querylog_free(ql);
	unlink(fifo);
}

int
main(void)
{
	struct event_base *base;
	char dir[] = "/tmp/test_querylog.XXXXXX";

	signal(SIGPIPE, SIG_IGN);
	test_time();
	test_text();
	test_sources();
	test_dnssec();
	test_json();
	test_odd_names();
	test_sizes();
	if (mkdtemp(dir) == NULL || (base = event_base_new()) == NULL) {
		printf("cannot set up the buffer tests\n");
		return 1;
	}
	test_full_pipe(base, dir);
	test_pipe_dropped(base, dir);
	event_base_free(base);
	rmdir(dir);
	return check_summary();
}
