/*
 * querylog: the query log (querylog.h says how it never blocks).
 *
 * Why a process and not a thread: the core has no threads, and a child
 * that only copies a pipe to a file shares nothing with the loop (the
 * daemon execs itself as the writer: querylog_writer_exec()); when
 * the file blocks (a full disk on NFS, a FIFO nobody reads, a stopped
 * writer) only the child waits, the pipe and then the buffer fill, and
 * lines are dropped and counted.  O_NONBLOCK means nothing to a regular
 * file, so the daemon cannot write the file itself and stay unblocked.
 *
 * The writer's exit status says why it ended: 0 the pipe closed, 1..127
 * the file could not be opened (errno), 128 + errno a read or write
 * failed.
 */
#define _GNU_SOURCE		/* pipe2, F_SETPIPE_SZ, memrchr */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/clock.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"
#include "dohstub/log.h"
#include "dohstub/querylog.h"

#define QUERYLOG_PIPE_SIZE	(256 * 1024)	/* asked for; may not be */
#define QUERYLOG_BACKOFF_MIN	1000		/* ms, doubled ... */
#define QUERYLOG_BACKOFF_MAX	30000		/* ... up to this */
#define QUERYLOG_STABLE_MS	30000	/* lived this long: backoff reset */
#define QUERYLOG_FREE_WAIT_MS	250	/* for room in the pipe at exit */
#define QUERYLOG_POLL_S		1	/* no pidfd: waitpid() each s */
#define QUERYLOG_CHUNK		65536	/* the writer's reads */
#define QUERYLOG_STDERR		"stderr"

#if QUERYLOG_LINE_MAX > PIPE_BUF
#error "a line must fit one atomic pipe write"
#endif

/* A writer process, the current one or one draining an old pipe. */
struct writer {
	struct querylog		*ql;
	pid_t			 pid;
	int			 pidfd;		/* -1: polled by ev */
	struct event		*ev;		/* it exited (or poll) */
	int			 pipe_r;	/* an old pipe's read end, kept
						   to count what it leaves */
	uint64_t		 started_ms;
	LIST_ENTRY(writer)	 entry;
};

struct querylog {
	struct event_base	*base;
	char			*path;		/* NULL: off; or "stderr" */
	char			*exe;		/* the writer's; NULL: fork */
	int			 to_stderr;
	enum querylog_format	 fmt;
	int			 client;	/* query-log-client yes */
	int			 pipe_r, pipe_w; /* the current pipe, or -1 */
	struct writer		*cur;		/* reads it; NULL: none */
	LIST_HEAD(, writer)	 writers;	/* every one alive */
	struct event		*write_ev;	/* room in the pipe again */
	struct event		*flush_ev;	/* QUERYLOG_FLUSH_MS */
	struct event		*restart_ev;	/* after backoff_ms */
	unsigned		 backoff_ms;
	char			*buf;		/* a ring, QUERYLOG_BUFFER */
	size_t			 head, len;	/* waiting: len bytes at head */
	struct querylog_stats	 stats;
};

static int	writer_start(struct querylog *ql);
static void	write_cb(evutil_socket_t, short, void *);

/* Line formatting: pure. */

/*
 * The time to the millisecond.  The second's text is kept for the next
 * line (the same output, a third of the cost at a few thousand lines a
 * second): the core is single-threaded.
 */
static void
fmt_time(struct dnsprint_out *o, const struct timespec *when)
{
	static char ts[sizeof("2026-12-07T04:05:06.")];
	static time_t ts_sec = -1;
	char ms[sizeof("789Z")];
	struct tm tm;
	long m = when->tv_nsec / 1000000L;

	if (when->tv_sec != ts_sec) {
		if (gmtime_r(&when->tv_sec, &tm) == NULL ||
		    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.", &tm) == 0)
			snprintf(ts, sizeof(ts), "1970-01-01T00:00:00.");
		ts_sec = when->tv_sec;
	}
	ms[0] = (char)('0' + m / 100 % 10);
	ms[1] = (char)('0' + m / 10 % 10);
	ms[2] = (char)('0' + m % 10);
	ms[3] = 'Z';
	dnsprint_write(o, ts, sizeof(ts) - 1);
	dnsprint_write(o, ms, sizeof(ms) - 1);
}

/* us as milliseconds with three decimals ("12.345") into buf. */
static void
fmt_ms(char *buf, size_t size, uint64_t us)
{
	char tmp[24];
	size_t i = sizeof(tmp), n;
	uint64_t v = us;
	int digits = 0;

	/* Right to left: three decimals, the point, at least one digit. */
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
		if (++digits == 3)
			tmp[--i] = '.';
	} while (v > 0 || digits < 4);
	n = sizeof(tmp) - i;
	if (n >= size)
		n = size - 1;
	memcpy(buf, tmp + i, n);
	buf[n] = '\0';
}

size_t
querylog_format(char *buf, size_t size, enum querylog_format fmt,
    const struct timespec *when, const struct dns_query_info *qi,
    const struct proxy_answer *a, const struct sockaddr *client)
{
	struct dnsprint_out o;
	struct addr ca;
	char name[DNS_MAX_NAME_TEXT], typebuf[16], rcodebuf[16];
	char ip[ADDR_STRLEN], ms[32];
	const char *src, *type, *rcode, *dnssec = NULL;
	unsigned rc = a->rcode >= 0 ? (unsigned)a->rcode : 0;
	int first = 1, has_name;

	has_name = qi->qname_len > 0 && dnsmsg_name_to_text(qi->qname,
	    qi->qname_len, name, sizeof(name), 0) == 0;
	/* No printf for what every line has: it is most of the cost. */
	if ((type = dnsmsg_type_name(qi->qtype)) == NULL)
		type = dnsmsg_type_str(qi->qtype, typebuf, sizeof(typebuf));
	if ((rcode = dnsmsg_rcode_name(rc)) == NULL)
		rcode = dnsmsg_rcode_str(rc, rcodebuf, sizeof(rcodebuf));
	src = (unsigned)a->source < PROXY_SRC_MAX ?
	    proxy_source_names[a->source] : "unknown";
	/* Only where validation ran (dnssec validate). */
	if (a->dnssec != PROXY_DNSSEC_NONE &&
	    (unsigned)a->dnssec < PROXY_DNSSEC_MAX)
		dnssec = proxy_dnssec_names[a->dnssec];
	fmt_ms(ms, sizeof(ms), a->elapsed_us);
	ip[0] = '\0';
	if (client != NULL && addr_set(&ca, client,
	    sizeof(struct sockaddr_storage)) == 0)
		addr_ip_str(&ca, ip, sizeof(ip));

	dnsprint_out_buf(&o, buf, size);
	if (fmt == QUERYLOG_JSON) {
		dnsprint_puts(&o, "{");
		dnsprint_json_key(&o, &first, "time");
		dnsprint_puts(&o, "\"");
		fmt_time(&o, when);
		dnsprint_puts(&o, "\"");
		dnsprint_json_key(&o, &first, "name");
		if (has_name)
			dnsprint_json_str(&o, name);
		else
			dnsprint_puts(&o, "null");
		dnsprint_json_key(&o, &first, "type");
		if (has_name)
			dnsprint_json_str(&o, type);
		else
			dnsprint_puts(&o, "null");
		dnsprint_json_kv_str(&o, &first, "rcode", rcode);
		dnsprint_json_kv_str(&o, &first, "source", src);
		dnsprint_json_key(&o, &first, "latency_ms");
		dnsprint_puts(&o, ms);
		if (a->upstream != NULL)
			dnsprint_json_kv_str(&o, &first, "upstream",
			    a->upstream);
		if (a->zone != NULL)
			dnsprint_json_kv_str(&o, &first, "zone", a->zone);
		if (a->ede >= 0)
			dnsprint_json_kv_num(&o, &first, "ede", a->ede);
		if (dnssec != NULL)
			dnsprint_json_kv_str(&o, &first, "dnssec", dnssec);
		if (ip[0] != '\0')
			dnsprint_json_kv_str(&o, &first, "client", ip);
		dnsprint_puts(&o, "}\n");
	} else {
		/* Names and zones escaped (dnsmsg.h) hold no space. */
		fmt_time(&o, when);
		/* dnsprint_printf() cuts at 255: a name may be longer. */
		dnsprint_puts(&o, " ");
		dnsprint_puts(&o, has_name ? name : "-");
		dnsprint_puts(&o, " ");
		dnsprint_puts(&o, has_name ? type : "-");
		dnsprint_puts(&o, " ");
		dnsprint_puts(&o, rcode);
		dnsprint_puts(&o, " ");
		dnsprint_puts(&o, src);
		dnsprint_puts(&o, " ");
		dnsprint_puts(&o, ms);
		if (a->upstream != NULL) {
			dnsprint_puts(&o, " upstream=");
			dnsprint_puts(&o, a->upstream);
		}
		if (a->zone != NULL) {
			dnsprint_puts(&o, " zone=");
			dnsprint_puts(&o, a->zone);
		}
		if (a->ede >= 0)
			dnsprint_printf(&o, " ede=%d", a->ede);
		if (dnssec != NULL) {
			dnsprint_puts(&o, " dnssec=");
			dnsprint_puts(&o, dnssec);
		}
		if (ip[0] != '\0')
			dnsprint_printf(&o, " client=%s", ip);
		dnsprint_puts(&o, "\n");
	}
	if (dnsprint_out_len(&o) >= size)
		return 0;
	return dnsprint_out_len(&o);
}

/* The writer process. */

/* Close every descriptor but a and b. */
static void
close_others(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a, fd, max;

#ifdef SYS_close_range
	if ((lo == 0 || syscall(SYS_close_range, 0, lo - 1, 0) == 0) &&
	    (hi - lo <= 1 || syscall(SYS_close_range, lo + 1, hi - 1,
	    0) == 0) &&
	    syscall(SYS_close_range, hi + 1, ~0U, 0) == 0)
		return;
#endif
	if ((max = (int)sysconf(_SC_OPEN_MAX)) < 0 || max > 65536)
		max = 65536;
	for (fd = 0; fd < max; fd++)
		if (fd != a && fd != b)
			(void)close(fd);
}

/*
 * Write whole lines of buf (len bytes), at most max bytes a write, cut
 * after a newline; the rest is moved to the front and its length
 * returned.  Exits on an error.
 */
static size_t
writer_put(int out, char *buf, size_t len, int all, size_t max)
{
	const char *nl;
	size_t n, done = 0, k;
	ssize_t w;

	if (all)
		n = len;
	else if ((nl = memrchr(buf, '\n', len)) != NULL)
		n = (size_t)(nl - buf) + 1;
	else if (len < QUERYLOG_CHUNK)
		return len;
	else
		n = len;	/* never: lines are shorter */
	while (done < n) {
		k = n - done;
		if (k > max && (nl = memrchr(buf + done, '\n', max)) != NULL)
			k = (size_t)(nl - (buf + done)) + 1;
		else if (k > max)
			k = max;
		if ((w = write(out, buf + done, k)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(128 + (errno & 127));
		}
		done += (size_t)w;
	}
	memmove(buf, buf + n, len - n);
	return len - n;
}

/*
 * Not the daemon's handlers, then nothing blocked (writer_start()
 * forks with every signal blocked, so that none reaches the daemon's
 * handlers in the child).  SIGTERM and the like to the process group
 * (a service stop) must not lose what the pipe holds: the writer ends
 * when the daemon closes the pipe.
 */
static void
writer_signals(void)
{
	sigset_t none;
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		(void)signal(sig, SIG_DFL);
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGTERM, SIG_IGN);
	(void)signal(SIGINT, SIG_IGN);
	(void)signal(SIGHUP, SIG_IGN);
	(void)signal(SIGUSR1, SIG_IGN);
	(void)signal(SIGUSR2, SIG_IGN);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * The child: copy the pipe (in) to path or stderr until the pipe
 * closes, writing whole lines.  To anything but a regular file (stderr
 * on a pipe, as journald's is, or a FIFO) at most PIPE_BUF bytes a
 * write: atomic, so that a line of the daemon's own log on a shared
 * stderr falls between query log lines, never inside one.
 */
static void __attribute__((noreturn))
writer_main(int in, const char *path, int to_stderr)
{
	static char buf[QUERYLOG_CHUNK * 2];
	struct stat st;
	size_t len = 0, max = sizeof(buf);
	ssize_t n;
	int out = STDERR_FILENO;

	writer_signals();
	(void)prctl(PR_SET_NAME, "dohstub-qlog", 0, 0, 0);
	/* Before the open, which may block (a FIFO): no socket of the
	 * daemon's may stay bound in here. */
	close_others(in, STDERR_FILENO);
	if (!to_stderr) {
		if ((out = open(path, O_WRONLY | O_APPEND | O_CREAT |
		    O_NOCTTY | O_CLOEXEC, 0640)) == -1)
			_exit(errno > 0 && errno < 128 ? errno : 127);
		if (in != STDERR_FILENO)	/* started with 2 closed */
			(void)close(STDERR_FILENO);
	}
	if (fstat(out, &st) == -1 || !S_ISREG(st.st_mode))
		max = PIPE_BUF;
	for (;;) {
		if ((n = read(in, buf + len, sizeof(buf) - len)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(128 + (errno & 127));
		}
		if (n == 0)
			break;
		len = writer_put(out, buf, len + (size_t)n, 0, max);
	}
	(void)writer_put(out, buf, len, 1, max);
	_exit(0);
}

void
querylog_writer_main(const char *path)
{
	writer_main(STDIN_FILENO, path, strcmp(path, QUERYLOG_STDERR) == 0);
}

/*
 * The forked child: exec exe as a writer of its own, the pipe on its
 * standard input, so that none of the daemon's memory (its TLS keys
 * among it) stays in a long-lived process; if that fails, the same
 * loop in this copy of the daemon.
 */
static void __attribute__((noreturn))
writer_child(int in, const char *path, int to_stderr, const char *exe)
{
	char *argv[] = { "dohstub-qlog", QUERYLOG_WRITER_ARG, NULL, NULL };

	writer_signals();
	if (exe != NULL && (in == STDIN_FILENO ||
	    dup2(in, STDIN_FILENO) == STDIN_FILENO)) {
		in = STDIN_FILENO;
		/* Descriptors the daemon did not mark close-on-exec
		 * (inherited sockets) are not the writer's. */
		close_others(STDIN_FILENO, STDERR_FILENO);
		argv[2] = (char *)path;
		(void)execv(exe, argv);
	}
	writer_main(in, path, to_stderr);
}

/* The daemon's side. */

/* Newlines in n bytes at p. */
static uint64_t
count_lines(const char *p, size_t n)
{
	const char *end = p + n;
	uint64_t c = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		c++;
		p++;
	}
	return c;
}

static void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	if (w->ql != NULL) {
		LIST_REMOVE(w, entry);
		if (w->ql->cur == w)
			w->ql->cur = NULL;
	}
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->pidfd != -1)
		close(w->pidfd);
	if (w->pipe_r != -1)
		close(w->pipe_r);
	free(w);
}

/*
 * The lines left in a pipe that no writer will read (r, its read end,
 * closed here) are dropped: count them.  Only the daemon's lines are in
 * it, whole, but for one a dead writer took the start of.
 */
static void
pipe_drop(struct querylog *ql, int r)
{
	char buf[QUERYLOG_CHUNK];
	ssize_t n;
	int avail;

	/* FIONREAD: the read end blocks, and no reader shares it now. */
	while (ioctl(r, FIONREAD, &avail) == 0 && avail > 0 &&
	    (n = read(r, buf, (size_t)avail < sizeof(buf) ? (size_t)avail :
	    sizeof(buf))) > 0)
		ql->stats.dropped += count_lines(buf, (size_t)n);
	close(r);
}

/* Why a writer ended, for the log. */
static void
writer_status(const struct querylog *ql, int status, char *buf,
    size_t size)
{
	int code;

	if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else if (!WIFEXITED(status))
		snprintf(buf, size, "status %d", status);
	else if ((code = WEXITSTATUS(status)) == 0)
		snprintf(buf, size, "exited");
	else if (code < 128)
		snprintf(buf, size, "cannot open %s: %s", ql->path != NULL ?
		    ql->path : "the file", strerror(code));
	else
		snprintf(buf, size, "cannot write: %s", strerror(code - 128));
}

static void
restart_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct querylog *ql = arg;

	(void)fd;
	(void)ev;
	if (ql->path == NULL || ql->cur != NULL)
		return;
	ql->stats.restarts++;
	(void)writer_start(ql);
}

/* No writer now: try again after the backoff, doubled for next time. */
static void
restart_later(struct querylog *ql)
{
	struct timeval tv;

	tv.tv_sec = ql->backoff_ms / 1000;
	tv.tv_usec = (ql->backoff_ms % 1000) * 1000;
	evtimer_add(ql->restart_ev, &tv);
	log_warnx("query log: writer restarts in %u ms", ql->backoff_ms);
	ql->backoff_ms *= 2;
	if (ql->backoff_ms > QUERYLOG_BACKOFF_MAX)
		ql->backoff_ms = QUERYLOG_BACKOFF_MAX;
}

static void
writer_exit_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct writer *w = arg;
	struct querylog *ql = w->ql;
	char why[256];
	pid_t r;
	int status, cur;

	(void)fd;
	(void)ev;
	while ((r = waitpid(w->pid, &status, WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	if (r == 0) {
		if (w->pidfd != -1)
			event_add(w->ev, NULL);	/* not yet: again */
		return;
	}
	if (r == -1)	/* reaped elsewhere: gone all the same */
		status = 0;
	cur = ql->cur == w;
	/* An old pipe: what it holds is written by nobody now. */
	if (w->pipe_r != -1) {
		pipe_drop(ql, w->pipe_r);
		w->pipe_r = -1;
	}
	writer_status(ql, status, why, sizeof(why));
	if (!cur && status == 0)
		log_debug("query log: old writer %ld drained its pipe",
		    (long)w->pid);
	else
		log_warnx("query log: writer %ld %s", (long)w->pid, why);
	if (cur && clock_ms() - w->started_ms >= QUERYLOG_STABLE_MS)
		ql->backoff_ms = QUERYLOG_BACKOFF_MIN;
	writer_free(w);
	if (cur && ql->path != NULL)
		restart_later(ql);
}

/* The pipe, if none: non-blocking and close-on-exec on our side. */
static int
pipe_open(struct querylog *ql)
{
	int fds[2];

	if (ql->pipe_w != -1)
		return 0;
	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("query log: pipe");
		return -1;
	}
	(void)fcntl(fds[1], F_SETPIPE_SZ, QUERYLOG_PIPE_SIZE);
	if (fcntl(fds[1], F_SETFL, O_NONBLOCK) == -1) {
		log_warn("query log: pipe");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if ((ql->write_ev = event_new(ql->base, fds[1], EV_WRITE,
	    write_cb, ql)) == NULL) {
		log_warnx("query log: out of memory");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	ql->pipe_r = fds[0];
	ql->pipe_w = fds[1];
	return 0;
}

static void
pipe_close(struct querylog *ql)
{
	if (ql->write_ev != NULL)
		event_free(ql->write_ev);
	ql->write_ev = NULL;
	if (ql->pipe_w != -1)
		close(ql->pipe_w);
	if (ql->pipe_r != -1)
		close(ql->pipe_r);
	ql->pipe_r = ql->pipe_w = -1;
}

/* A writer for the current pipe (made if need be), as ql->cur. */
static int
writer_start(struct querylog *ql)
{
	struct timeval tv = { QUERYLOG_POLL_S, 0 };
	struct writer *w;
	sigset_t all, old;
	int saved;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_warn("query log");
		goto fail;
	}
	w->pidfd = w->pipe_r = -1;
	if (pipe_open(ql) == -1)
		goto fail;
	/* Blocked across the fork, so that none is caught in the child by
	 * the daemon's handlers (libevent's would write to its signal
	 * socket, shared with us: a signal we never had). */
	sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, &old);
	if ((w->pid = fork()) == 0)
		writer_child(ql->pipe_r, ql->path, ql->to_stderr, ql->exe);
	saved = errno;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	if (w->pid == -1) {
		errno = saved;
		log_warn("query log: fork");
		goto fail;
	}
	w->ql = ql;
	LIST_INSERT_HEAD(&ql->writers, w, entry);
	ql->cur = w;
	w->started_ms = clock_ms();
#ifdef SYS_pidfd_open
	w->pidfd = (int)syscall(SYS_pidfd_open, w->pid, 0);
#endif
	/* Without pidfd (an old kernel): waitpid once a second. */
	if (w->pidfd != -1)
		w->ev = event_new(ql->base, w->pidfd, EV_READ, writer_exit_cb,
		    w);
	else
		w->ev = event_new(ql->base, -1, EV_PERSIST, writer_exit_cb, w);
	if (w->ev == NULL || event_add(w->ev, w->pidfd != -1 ? NULL : &tv) ==
	    -1) {
		/* It runs, unwatched: its death goes unnoticed. */
		log_warnx("query log: cannot watch writer %ld", (long)w->pid);
		return 0;
	}
	log_debug("query log: writer %ld for %s", (long)w->pid, ql->path);
	return 0;
 fail:
	writer_free(w);
	restart_later(ql);
	return -1;
}

/*
 * The first whole lines of the ring, at most PIPE_BUF bytes, as one or
 * two (wrapped) iovecs: a write of them is atomic, so the pipe never
 * holds a cut line.  Returns the iovec count.
 */
static int
ring_chunk(const struct querylog *ql, struct iovec iov[2])
{
	const char *nl;
	size_t n = ql->len < PIPE_BUF ? ql->len : PIPE_BUF;
	size_t first = QUERYLOG_BUFFER - ql->head;

	if (first > n)
		first = n;
	/* Lines are shorter than PIPE_BUF: one ends in it. */
	if (n > first && (nl = memrchr(ql->buf, '\n', n - first)) != NULL)
		n = first + (size_t)(nl - ql->buf) + 1;
	else if (n < ql->len && (nl = memrchr(ql->buf + ql->head, '\n',
	    first)) != NULL)
		n = first = (size_t)(nl - (ql->buf + ql->head)) + 1;
	iov[0].iov_base = ql->buf + ql->head;
	iov[0].iov_len = first;
	iov[1].iov_base = ql->buf;
	iov[1].iov_len = n - first;
	return n > first ? 2 : 1;
}

/*
 * What waits, to the pipe.  When the pipe is full, write_ev waits for
 * room: no write is tried for every answer while the writer is stuck
 * (querylog_write() leaves the flush to it), only by the flush timer.
 */
static void
buf_flush(struct querylog *ql)
{
	struct timeval tv = { 0, QUERYLOG_FLUSH_MS * 1000 };
	struct iovec iov[2];
	ssize_t w;
	int niov;

	while (ql->len > 0 && ql->pipe_w != -1) {
		niov = ring_chunk(ql, iov);
		if ((w = writev(ql->pipe_w, iov, niov)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)	/* full */
				event_add(ql->write_ev, NULL);
			break;
		}
		ql->head = (ql->head + (size_t)w) % QUERYLOG_BUFFER;
		ql->len -= (size_t)w;
	}
	if (ql->len == 0)
		ql->head = 0;
	else if (!evtimer_pending(ql->flush_ev, NULL))
		evtimer_add(ql->flush_ev, &tv);
}

static void
flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	buf_flush(arg);
}

static void
write_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	buf_flush(arg);
}

/* Lines waiting in the ring. */
static uint64_t
buf_lines(const struct querylog *ql)
{
	size_t first = QUERYLOG_BUFFER - ql->head;

	if (first >= ql->len)
		return count_lines(ql->buf + ql->head, ql->len);
	return count_lines(ql->buf + ql->head, first) +
	    count_lines(ql->buf, ql->len - first);
}

struct querylog *
querylog_new(struct event_base *base)
{
	struct querylog *ql;

	if ((ql = calloc(1, sizeof(*ql))) == NULL) {
		log_warn("query log");
		return NULL;
	}
	ql->base = base;
	ql->pipe_r = ql->pipe_w = -1;
	LIST_INIT(&ql->writers);
	ql->backoff_ms = QUERYLOG_BACKOFF_MIN;
	if ((ql->buf = malloc(QUERYLOG_BUFFER)) == NULL ||
	    (ql->flush_ev = evtimer_new(base, flush_cb, ql)) == NULL ||
	    (ql->restart_ev = evtimer_new(base, restart_cb, ql)) == NULL) {
		log_warnx("query log: out of memory");
		querylog_free(ql);
		return NULL;
	}
	return ql;
}

int
querylog_reopen(struct querylog *ql, const struct config *cfg)
{
	char *path = NULL;

	if (cfg->query_log != NULL && (path = strdup(cfg->query_log)) ==
	    NULL) {
		log_warn("query log");
		return -1;
	}
	/* What the old writer is to write goes to its pipe first. */
	buf_flush(ql);
	if (ql->cur != NULL) {
		/* It drains the old pipe and exits: our write end is
		 * closed, the read end kept to count what it leaves if it
		 * dies first. */
		ql->cur->pipe_r = ql->pipe_r;
		ql->pipe_r = -1;
		ql->cur = NULL;
		pipe_close(ql);
	}
	/* With no writer alive, the pipe is kept for the next. */
	evtimer_del(ql->restart_ev);
	free(ql->path);
	ql->path = path;
	ql->to_stderr = path != NULL && strcmp(path, QUERYLOG_STDERR) == 0;
	ql->fmt = cfg->query_log_json ? QUERYLOG_JSON : QUERYLOG_TEXT;
	ql->client = cfg->query_log_client;
	ql->backoff_ms = QUERYLOG_BACKOFF_MIN;
	if (path == NULL) {
		ql->stats.dropped += buf_lines(ql);
		ql->head = ql->len = 0;
		evtimer_del(ql->flush_ev);
		/* No writer alive (in its backoff): no reader either. */
		if (ql->pipe_r != -1) {
			pipe_drop(ql, ql->pipe_r);
			ql->pipe_r = -1;
		}
		pipe_close(ql);
		return 0;
	}
	log_info("query log: to %s, %s%s", path, ql->fmt == QUERYLOG_JSON ?
	    "json" : "text", ql->client ? ", with client addresses" : "");
	return writer_start(ql);
}

int
querylog_writer_exec(struct querylog *ql, const char *exe)
{
	char *e = NULL;

	if (exe != NULL && (e = strdup(exe)) == NULL) {
		log_warn("query log");
		return -1;
	}
	free(ql->exe);
	ql->exe = e;
	return 0;
}

int
querylog_enabled(const struct querylog *ql)
{
	return ql != NULL && ql->path != NULL;
}

void
querylog_write(struct querylog *ql, const struct sockaddr *client,
    const struct dns_query_info *qi, const struct proxy_answer *a)
{
	struct timeval tv = { 0, QUERYLOG_FLUSH_MS * 1000 };
	struct timespec now;
	char line[QUERYLOG_LINE_MAX];
	size_t n, end, first;

	if (ql->path == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if ((n = querylog_format(line, sizeof(line), ql->fmt, &now, qi, a,
	    ql->client ? client : NULL)) == 0) {
		ql->stats.dropped++;
		return;
	}
	if (ql->len + n > QUERYLOG_BUFFER) {
		ql->stats.dropped++;
		return;
	}
	/* Into the ring, wrapped at its end if need be: no memmove. */
	end = (ql->head + ql->len) % QUERYLOG_BUFFER;
	first = QUERYLOG_BUFFER - end < n ? QUERYLOG_BUFFER - end : n;
	memcpy(ql->buf + end, line, first);
	memcpy(ql->buf, line + first, n - first);
	ql->len += n;
	ql->stats.lines++;
	/* A full pipe: write_ev flushes once there is room. */
	if (ql->len >= QUERYLOG_FLUSH_BYTES && (ql->write_ev == NULL ||
	    !event_pending(ql->write_ev, EV_WRITE, NULL)))
		buf_flush(ql);
	else if (!evtimer_pending(ql->flush_ev, NULL))
		evtimer_add(ql->flush_ev, &tv);
}

const struct querylog_stats *
querylog_stats(const struct querylog *ql)
{
	return &ql->stats;
}

void
querylog_free(struct querylog *ql)
{
	struct writer *w;
	struct pollfd pfd;
	uint64_t end, now;

	if (ql == NULL)
		return;
	if (ql->buf != NULL && ql->pipe_w != -1) {
		end = clock_ms() + QUERYLOG_FREE_WAIT_MS;
		pfd.fd = ql->pipe_w;
		pfd.events = POLLOUT;
		for (;;) {
			buf_flush(ql);
			if (ql->len == 0 || (now = clock_ms()) >= end ||
			    poll(&pfd, 1, (int)(end - now)) <= 0)
				break;
		}
	}
	pipe_close(ql);
	/* The writers finish on their own: the pipe is closed. */
	while ((w = LIST_FIRST(&ql->writers)) != NULL)
		writer_free(w);
	if (ql->flush_ev != NULL)
		event_free(ql->flush_ev);
	if (ql->restart_ev != NULL)
		event_free(ql->restart_ev);
	free(ql->buf);
	free(ql->path);
	free(ql->exe);
	free(ql);
}
