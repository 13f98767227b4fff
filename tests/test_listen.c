/*
 * listen: real sockets on loopback, served by the real event loop in this
 * process.  Clients are non-blocking sockets polled between short turns of
 * the loop.  The query callback echoes, and a query's first byte tells it
 * how: 'E' at once, 'D' after msg[1] * 10 ms, 'H' held for the test to
 * answer.  The shrinking idle timeout is tested last, on virtual time
 * (clock_test_begin), which stays on once begun.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/clock.h"
#include "dohstub/listen.h"
#include "dohstub/log.h"

#include "check.h"

/*
 * valgrind keeps descriptors of its own under a limit it applies itself,
 * closing what accept returns past it: the test out of descriptors
 * cannot run there.
 */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND	0
#endif

#define MAX_HELD	128
#define BIG_ANSWER	8192

struct held {
	struct listen_peer	*peer;
	uint8_t			*msg;
	size_t			 len;
};

struct deferred {
	struct event		*ev;
	struct listen_peer	*peer;
	uint8_t			*msg;
	size_t			 len;
};

struct tcpc {
	int		fd;
	int		eof;
	size_t		len;
	uint8_t		buf[1 << 17];
};

static struct event_base *base;
static int have_ipv6;

/* What the callback saw. */
static unsigned ncalls;
static struct {
	enum listen_transport	transport;
	struct sockaddr_storage	addr;
	socklen_t		addrlen;
	size_t			len;
} last;
static struct held held[MAX_HELD];
static size_t nheld, peak_held;
static unsigned ndeferred;
static int big_answers;		/* answer everything at once, BIG_ANSWER long */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
run_for(unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Turn the loop until pred(arg) holds; -1 after timeout_ms. */
static int
wait_until(int (*pred)(void *), void *arg, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (!pred(arg)) {
		if (now_ms() >= end)
			return -1;
		run_for(5);
	}
	return 0;
}

static void
deferred_cb(evutil_socket_t fd, short events, void *arg)
{
	struct deferred *d = arg;

	(void)fd;
	(void)events;
	d->peer->ops->respond(d->peer, d->msg, d->len);
	d->peer->ops->release(d->peer);
	event_free(d->ev);
	free(d->msg);
	free(d);
	ndeferred--;
}

static void
on_query(struct listen_peer *peer, const uint8_t *msg, size_t len, void *arg)
{
	static uint8_t big[BIG_ANSWER];
	struct deferred *d;
	struct timeval tv;

	(void)arg;
	ncalls++;
	last.transport = peer->transport;
	memcpy(&last.addr, &peer->addr, peer->addrlen);
	last.addrlen = peer->addrlen;
	last.len = len;
	if (big_answers) {
		peer->ops->respond(peer, big, sizeof(big));
		peer->ops->release(peer);
		return;
	}
	if (len >= 2 && msg[0] == 'D') {
		if ((d = calloc(1, sizeof(*d))) == NULL ||
		    (d->msg = malloc(len)) == NULL)
			abort();
		memcpy(d->msg, msg, len);
		d->len = len;
		d->peer = peer;
		d->ev = evtimer_new(base, deferred_cb, d);
		tv.tv_sec = msg[1] / 100;
		tv.tv_usec = (msg[1] % 100) * 10000;
		evtimer_add(d->ev, &tv);
		ndeferred++;
		return;
	}
	if (len >= 1 && msg[0] == 'H' && nheld < MAX_HELD) {
		if ((held[nheld].msg = malloc(len)) == NULL)
			abort();
		memcpy(held[nheld].msg, msg, len);
		held[nheld].len = len;
		held[nheld].peer = peer;
		if (++nheld > peak_held)
			peak_held = nheld;
		return;
	}
	peer->ops->respond(peer, msg, len);
	peer->ops->release(peer);
}

/* Answer (if answer) and release every held peer. */
static void
release_held(int answer)
{
	size_t i;

	for (i = 0; i < nheld; i++) {
		if (answer)
			held[i].peer->ops->respond(held[i].peer, held[i].msg,
			    held[i].len);
		held[i].peer->ops->release(held[i].peer);
		free(held[i].msg);
	}
	nheld = 0;
}

static int
count_fds(void)
{
	DIR *d;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* How many descriptors could still be opened (up to 64). */
static int
free_fds(void)
{
	int fds[64], n, i;

	for (n = 0; n < 64 && (fds[n] = dup(0)) != -1; n++)
		;
	for (i = 0; i < n; i++)
		close(fds[i]);
	return n;
}

static void
make_addr(struct addr *a, const char *ip, uint16_t port)
{
	if (addr_parse_ip(ip, strlen(ip), 0, port, a) == -1)
		abort();
}

/* The port of a socket address, through the addr module. */
static uint16_t
ss_port(const struct sockaddr_storage *ss)
{
	struct addr a;

	addr_set(&a, (const struct sockaddr *)ss, sizeof(*ss));
	return addr_port(&a);
}

/* Same family, address and port. */
static int
ss_eq(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
	struct addr a, b;

	return addr_set(&a, (const struct sockaddr *)x, sizeof(*x)) == 0 &&
	    addr_set(&b, (const struct sockaddr *)y, sizeof(*y)) == 0 &&
	    addr_eq(&a, &b);
}

/* A port free for both UDP and TCP on ip. */
static uint16_t
free_port(const char *ip)
{
	struct addr a;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint16_t port = 0;
	int t, u, tries;

	for (tries = 0; tries < 20 && port == 0; tries++) {
		make_addr(&a, ip, 0);
		t = socket(a.ss.ss_family, SOCK_STREAM, 0);
		u = socket(a.ss.ss_family, SOCK_DGRAM, 0);
		sl = sizeof(ss);
		if (t != -1 && u != -1 &&
		    bind(t, (struct sockaddr *)&a.ss, a.len) == 0 &&
		    getsockname(t, (struct sockaddr *)&ss, &sl) == 0) {
			make_addr(&a, ip, ss_port(&ss));
			if (bind(u, (struct sockaddr *)&a.ss, a.len) == 0)
				port = ss_port(&ss);
		}
		if (t != -1)
			close(t);
		if (u != -1)
			close(u);
	}
	return port;
}

static void
cfg_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_tcp_clients = 16;
	cfg->tcp_idle_timeout_ms = 5000;
}

/* A listener on ip at a free port, written to *a. */
static struct listener *
start(struct config *cfg, const char *ip, struct addr *a)
{
	struct listener *l;
	int tries;

	for (tries = 0; tries < 5; tries++) {
		make_addr(&cfg->listen[0], ip, free_port(ip));
		cfg->nlisten = 1;
		if ((l = listen_new(base, cfg, on_query, NULL)) != NULL) {
			*a = cfg->listen[0];
			return l;
		}
	}
	return NULL;
}

static int
udp_client(int family)
{
	int fd;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd == -1)
		abort();
	return fd;
}

struct udp_wait {
	int			fd;
	uint8_t			*buf;
	size_t			cap;
	ssize_t			n;
	struct sockaddr_storage	from;
};

static int
udp_ready(void *arg)
{
	struct udp_wait *w = arg;
	socklen_t sl = sizeof(w->from);

	w->n = recvfrom(w->fd, w->buf, w->cap, 0,
	    (struct sockaddr *)&w->from, &sl);
	return w->n >= 0;
}

/* Send msg to a, wait for the answer into buf; its length or -1. */
static ssize_t
udp_ask(int fd, const struct addr *a, const void *msg, size_t len,
    uint8_t *buf, size_t cap, struct sockaddr_storage *from)
{
	struct udp_wait w = { fd, buf, cap, -1, { 0 } };

	if (sendto(fd, msg, len, 0, (const struct sockaddr *)&a->ss,
	    a->len) != (ssize_t)len)
		return -1;
	if (wait_until(udp_ready, &w, 2000) == -1)
		return -1;
	if (from != NULL)
		*from = w.from;
	return w.n;
}

/* A client socket for a, bound to from (an address) if not NULL. */
static struct tcpc *
tcpc_new(const struct addr *a, const char *from)
{
	struct tcpc *c;
	struct addr src;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->fd = socket(a->ss.ss_family, SOCK_STREAM, 0);
	if (c->fd == -1)
		abort();
	if (from != NULL) {
		make_addr(&src, from, 0);
		if (bind(c->fd, (struct sockaddr *)&src.ss, src.len) == -1)
			abort();
	}
	return c;
}

/* Connect c to a; frees c and returns NULL on failure. */
static struct tcpc *
tcpc_connect(struct tcpc *c, const struct addr *a)
{
	/* Loopback: the kernel completes the handshake before accept. */
	if (connect(c->fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		close(c->fd);
		free(c);
		return NULL;
	}
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	return c;
}

static struct tcpc *
tcpc_open(const struct addr *a, int rcvbuf)
{
	struct tcpc *c = tcpc_new(a, NULL);

	if (rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
	return tcpc_connect(c, a);
}

struct accepted {
	struct listener	*l;
	size_t		 n;
	uint64_t	 gone;
};

/* The listener took the connection: one more, one evicted or refused. */
static int
accepted(void *arg)
{
	struct accepted *w = arg;
	const struct listen_stats *st = listen_stats(w->l);

	return listen_tcp_clients(w->l) != w->n ||
	    st->tcp_evicted + st->tcp_refused != w->gone;
}

/* A connection from from (an address; NULL: any), once l has taken it. */
static struct tcpc *
tcpc_open_from(struct listener *l, const struct addr *a, const char *from)
{
	const struct listen_stats *st = listen_stats(l);
	struct accepted w = { l, listen_tcp_clients(l),
	    st->tcp_evicted + st->tcp_refused };
	struct tcpc *c;

	if ((c = tcpc_connect(tcpc_new(a, from), a)) == NULL)
		return NULL;
	if (wait_until(accepted, &w, 2000) == -1)
		CHECK(!"connection taken");
	return c;
}

static void
tcpc_close(struct tcpc *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

/* Take what has arrived; note EOF or a reset. */
static void
tcpc_poll(struct tcpc *c)
{
	ssize_t n;

	while (!c->eof && c->len < sizeof(c->buf)) {
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n > 0)
			c->len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->eof = 1;
		else
			break;
	}
}

static int
tcpc_eof(void *arg)
{
	struct tcpc *c = arg;

	tcpc_poll(c);
	return c->eof;
}

static int
tcpc_has_msg(void *arg)
{
	struct tcpc *c = arg;

	tcpc_poll(c);
	return c->len >= 2 && c->len >= 2 + (size_t)(c->buf[0] << 8 |
	    c->buf[1]);
}

/* Wait for the next framed message; its length, or -1. */
static ssize_t
tcpc_read(struct tcpc *c, uint8_t *out, size_t cap)
{
	size_t n;

	if (wait_until(tcpc_has_msg, c, 2000) == -1)
		return -1;
	n = (size_t)(c->buf[0] << 8 | c->buf[1]);
	if (n > cap)
		return -1;
	memcpy(out, c->buf + 2, n);
	memmove(c->buf, c->buf + 2 + n, c->len - 2 - n);
	c->len -= 2 + n;
	return (ssize_t)n;
}

/* Send all of buf, letting the loop run while the socket is full. */
static size_t
tcpc_send(struct tcpc *c, const void *buf, size_t len, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	size_t off = 0;
	ssize_t n;

	while (off < len && now_ms() < end) {
		n = send(c->fd, (const uint8_t *)buf + off, len - off,
		    MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			break;
		else
			run_for(5);
	}
	return off;
}

/* Append a 2-byte length and msg to buf at *off. */
static void
frame(uint8_t *buf, size_t *off, const char *msg, size_t len)
{
	buf[(*off)++] = len >> 8;
	buf[(*off)++] = len & 0xff;
	memcpy(buf + *off, msg, len);
	*off += len;
}

struct clients_at {
	struct listener	*l;
	size_t		 n;
};

static int
clients_are(void *arg)
{
	struct clients_at *w = arg;

	return listen_tcp_clients(w->l) == w->n;
}

static int
wait_clients(struct listener *l, size_t n)
{
	struct clients_at w = { l, n };

	return wait_until(clients_are, &w, 2000);
}

static int
held_reaches(void *arg)
{
	return nheld >= *(size_t *)arg;
}

static void
test_names(void)
{
	CHECK_STR(listen_transport_names[LISTEN_UDP], "udp");
	CHECK_STR(listen_transport_names[LISTEN_TCP], "tcp");
}

static void
test_bind_fail(void)
{
	struct config cfg;
	struct addr busy;
	int fd, before;

	before = count_fds();
	cfg_init(&cfg);

	/* Second address already taken (UDP): nothing stays open. */
	make_addr(&busy, "127.0.0.1", free_port("127.0.0.1"));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(bind(fd, (struct sockaddr *)&busy.ss, busy.len) == 0);
	make_addr(&cfg.listen[0], "127.0.0.1", free_port("127.0.0.1"));
	cfg.listen[1] = busy;
	cfg.nlisten = 2;
	CHECK(listen_new(base, &cfg, on_query, NULL) == NULL);
	close(fd);

	/* An address that is not ours. */
	make_addr(&cfg.listen[0], "192.0.2.1", 5353);
	cfg.nlisten = 1;
	CHECK(listen_new(base, &cfg, on_query, NULL) == NULL);
	CHECK_EQ(count_fds(), before);
}

static void
test_udp(const char *ip)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct sockaddr_storage from, me;
	socklen_t sl = sizeof(me);
	uint8_t buf[512];
	const char q[] = "E udp query";
	unsigned calls = ncalls;
	int fd;

	cfg_init(&cfg);
	if ((l = start(&cfg, ip, &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	fd = udp_client(a.ss.ss_family);
	CHECK_EQ(udp_ask(fd, &a, q, sizeof(q), buf, sizeof(buf), &from),
	    sizeof(q));
	CHECK(memcmp(buf, q, sizeof(q)) == 0);
	CHECK(ss_eq(&from, &a.ss));
	CHECK_EQ(ncalls, calls + 1);
	CHECK_EQ(last.transport, LISTEN_UDP);
	CHECK_EQ(last.len, sizeof(q));
	getsockname(fd, (struct sockaddr *)&me, &sl);
	CHECK_EQ(ss_port(&last.addr), ss_port(&me));
	close(fd);
	listen_free(l);
}

/* A wildcard socket answers from the address each query went to. */
static void
test_udp_wildcard(const char *any, const char *const *dsts, size_t ndst)
{
	struct config cfg;
	struct addr a, dst;
	struct listener *l;
	struct sockaddr_storage from;
	uint8_t buf[512];
	const char q[] = "E to the wildcard";
	size_t i;
	int fd;

	cfg_init(&cfg);
	if ((l = start(&cfg, any, &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	for (i = 0; i < ndst; i++) {
		make_addr(&dst, dsts[i], ss_port(&a.ss));
		fd = udp_client(dst.ss.ss_family);
		CHECK_EQ(udp_ask(fd, &dst, q, sizeof(q), buf, sizeof(buf),
		    &from), sizeof(q));
		CHECK(ss_eq(&from, &dst.ss));
		close(fd);
	}
	listen_free(l);
}

#define BURST	200

struct burst {
	int	fd;
	int	seen[BURST];
	int	nseen, dup, bad;
};

static int
burst_ready(void *arg)
{
	struct burst *b = arg;
	uint8_t buf[64];
	ssize_t n;
	int i;

	while ((n = recv(b->fd, buf, sizeof(buf), 0)) > 0) {
		if (n != 8 || buf[0] != 'B' || (i = buf[1] << 8 | buf[2]) >=
		    BURST) {
			b->bad++;
			continue;
		}
		if (b->seen[i]++ > 0)
			b->dup++;
		else
			b->nseen++;
	}
	return b->nseen == BURST;
}

/*
 * More datagrams at once than one recvmmsg or sendmmsg batch takes, each
 * answered from inside the receive loop: every one is answered, once,
 * with its own bytes.
 */
static void
test_udp_burst(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct burst b;
	uint8_t q[8];
	int i, sz = 1 << 20;

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	memset(&b, 0, sizeof(b));
	b.fd = udp_client(AF_INET);
	setsockopt(b.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	ncalls = 0;
	for (i = 0; i < BURST; i++) {
		memcpy(q, "BxxQUERY", 8);
		q[1] = (uint8_t)(i >> 8);
		q[2] = (uint8_t)i;
		CHECK_EQ(sendto(b.fd, q, sizeof(q), 0,
		    (const struct sockaddr *)&a.ss, a.len), sizeof(q));
	}
	CHECK_EQ(wait_until(burst_ready, &b, 3000), 0);
	CHECK_EQ(b.nseen, BURST);
	CHECK_EQ(b.dup, 0);
	CHECK_EQ(b.bad, 0);
	CHECK_EQ(ncalls, BURST);
	close(b.fd);
	listen_free(l);
}

/* The largest datagram IPv4 can carry arrives whole and is echoed. */
static void
test_udp_large(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	uint8_t *q, *buf;
	size_t len = 65507;
	int fd, sz = 1 << 20;

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	q = malloc(len);
	buf = malloc(65536);
	memset(q, 'x', len);
	q[0] = 'E';
	q[len - 1] = 'z';
	fd = udp_client(AF_INET);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	CHECK_EQ(udp_ask(fd, &a, q, len, buf, 65536, NULL), len);
	CHECK_EQ(last.len, len);
	CHECK(memcmp(buf, q, len) == 0);
	close(fd);
	free(q);
	free(buf);
	listen_free(l);
}

static void
test_tcp_one(const char *ip)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c;
	struct sockaddr_storage me;
	socklen_t sl = sizeof(me);
	uint8_t buf[1024], out[512];
	size_t off = 0;
	const char q[] = "E tcp query";

	cfg_init(&cfg);
	if ((l = start(&cfg, ip, &a)) == NULL ||
	    (c = tcpc_open(&a, 0)) == NULL) {
		CHECK(!"listen_new/connect");
		listen_free(l);
		return;
	}
	frame(buf, &off, q, sizeof(q));
	CHECK_EQ(tcpc_send(c, buf, off, 1000), off);
	CHECK_EQ(tcpc_read(c, out, sizeof(out)), sizeof(q));
	CHECK(memcmp(out, q, sizeof(q)) == 0);
	CHECK_EQ(last.transport, LISTEN_TCP);
	getsockname(c->fd, (struct sockaddr *)&me, &sl);
	CHECK(ss_eq(&last.addr, &me));
	CHECK_EQ(listen_tcp_clients(l), 1);
	tcpc_close(c);
	CHECK_EQ(wait_clients(l, 0), 0);
	listen_free(l);
}

/* Two queries in one write; the second is answered first. */
static void
test_tcp_pipelined(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c;
	uint8_t buf[1024], out[512];
	size_t off = 0;
	const char q1[] = "D\x0a first, answered after 100 ms";
	const char q2[] = "E second, answered at once";
	unsigned calls = ncalls;

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL ||
	    (c = tcpc_open(&a, 0)) == NULL) {
		CHECK(!"listen_new/connect");
		listen_free(l);
		return;
	}
	frame(buf, &off, q1, sizeof(q1));
	frame(buf, &off, q2, sizeof(q2));
	CHECK_EQ(tcpc_send(c, buf, off, 1000), off);
	CHECK_EQ(tcpc_read(c, out, sizeof(out)), sizeof(q2));
	CHECK(memcmp(out, q2, sizeof(q2)) == 0);
	CHECK_EQ(ncalls, calls + 2);	/* both handed on before answers */
	CHECK_EQ(ndeferred, 1);
	CHECK_EQ(tcpc_read(c, out, sizeof(out)), sizeof(q1));
	CHECK(memcmp(out, q1, sizeof(q1)) == 0);
	CHECK_EQ(c->len, 0);
	tcpc_close(c);
	listen_free(l);
}

/* Messages trickled one byte per write still frame correctly. */
static void
test_tcp_trickle(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c;
	uint8_t buf[1024], out[512];
	size_t i, off = 0;
	const char q1[] = "E one byte at a time";
	const char q2[] = "E and another";
	unsigned calls = ncalls;

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL ||
	    (c = tcpc_open(&a, 0)) == NULL) {
		CHECK(!"listen_new/connect");
		listen_free(l);
		return;
	}
	frame(buf, &off, q1, sizeof(q1));
	frame(buf, &off, q2, sizeof(q2));
	for (i = 0; i < off; i++) {
		CHECK_EQ(send(c->fd, buf + i, 1, 0), 1);
		run_for(1);
		if (i < sizeof(q1) + 1)
			CHECK_EQ(ncalls, calls);
	}
	CHECK_EQ(tcpc_read(c, out, sizeof(out)), sizeof(q1));
	CHECK(memcmp(out, q1, sizeof(q1)) == 0);
	CHECK_EQ(tcpc_read(c, out, sizeof(out)), sizeof(q2));
	CHECK(memcmp(out, q2, sizeof(q2)) == 0);
	CHECK_EQ(ncalls, calls + 2);
	tcpc_close(c);
	listen_free(l);
}

static void
test_tcp_zero_length(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c;
	uint8_t buf[64];
	size_t off = 0;
	const char q[] = "E before the zero";
	unsigned calls = ncalls;

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL ||
	    (c = tcpc_open(&a, 0)) == NULL) {
		CHECK(!"listen_new/connect");
		listen_free(l);
		return;
	}
	frame(buf, &off, q, sizeof(q));
	buf[off++] = 0;
	buf[off++] = 0;
	buf[off++] = 'x';	/* never looked at */
	CHECK_EQ(tcpc_send(c, buf, off, 1000), off);
	CHECK_EQ(wait_until(tcpc_eof, c, 2000), 0);
	CHECK_EQ(ncalls, calls + 1);
	CHECK_EQ(listen_tcp_clients(l), 0);
	tcpc_close(c);
	listen_free(l);
}

/* The client goes before its answer: respond is harmless. */
static void
test_tcp_client_gone(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c;
	struct linger lg = { 1, 0 };
	uint8_t buf[64];
	size_t off = 0, one = 1;
	const char q[] = "H held";

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	frame(buf, &off, q, sizeof(q));

	/* Closed (FIN): the answer is written into the void, then closed. */
	c = tcpc_open(&a, 0);
	CHECK_EQ(tcpc_send(c, buf, off, 1000), off);
	CHECK_EQ(wait_until(held_reaches, &one, 2000), 0);
	tcpc_close(c);
	run_for(20);
	release_held(1);
	CHECK_EQ(wait_clients(l, 0), 0);

	/* Reset: the server drops the connection while the peer is held. */
	c = tcpc_open(&a, 0);
	CHECK_EQ(tcpc_send(c, buf, off, 1000), off);
	CHECK_EQ(wait_until(held_reaches, &one, 2000), 0);
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	tcpc_close(c);
	CHECK_EQ(wait_clients(l, 0), 0);
	release_held(1);
	run_for(10);
	listen_free(l);
}

/* After a half-close the client still gets its answer, then EOF. */
static void
test_tcp_half_close(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c;
	uint8_t buf[64], out[64];
	size_t off = 0;
	const char q[] = "D\x0a answered after the FIN";

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL ||
	    (c = tcpc_open(&a, 0)) == NULL) {
		CHECK(!"listen_new/connect");
		listen_free(l);
		return;
	}
	frame(buf, &off, q, sizeof(q));
	CHECK_EQ(tcpc_send(c, buf, off, 1000), off);
	shutdown(c->fd, SHUT_WR);
	run_for(30);
	CHECK_EQ(listen_tcp_clients(l), 1);
	CHECK_EQ(tcpc_read(c, out, sizeof(out)), sizeof(q));
	CHECK(memcmp(out, q, sizeof(q)) == 0);
	CHECK_EQ(wait_until(tcpc_eof, c, 2000), 0);
	CHECK_EQ(listen_tcp_clients(l), 0);
	tcpc_close(c);
	listen_free(l);
}

/* Send q framed; 1 if its echo comes back. */
static int
tcpc_ask(struct tcpc *c, const char *q)
{
	uint8_t buf[256], out[256];
	size_t off = 0, len = strlen(q);

	frame(buf, &off, q, len);
	return tcpc_send(c, buf, off, 1000) == off &&
	    tcpc_read(c, out, sizeof(out)) == (ssize_t)len &&
	    memcmp(out, q, len) == 0;
}

/* Send a query the core holds, and wait until it has it. */
static int
tcpc_hold(struct tcpc *c)
{
	uint8_t buf[64];
	size_t off = 0, want = nheld + 1;

	frame(buf, &off, "H busy", 6);
	return tcpc_send(c, buf, off, 1000) == off &&
	    wait_until(held_reaches, &want, 2000) == 0;
}

/* The answer to a held query, released. */
static int
tcpc_held_answer(struct tcpc *c)
{
	uint8_t out[64];

	return tcpc_read(c, out, sizeof(out)) == 6 &&
	    memcmp(out, "H busy", 6) == 0;
}

/* Still open: no EOF within a short turn of the loop. */
static int
tcpc_alive(struct tcpc *c)
{
	run_for(10);
	tcpc_poll(c);
	return !c->eof;
}

/*
 * A full table (max-tcp-clients 3): each newcomer closes the connection
 * idle longest, where idle counts from the last answer; a connection
 * with a query in the core is never closed; with none idle the newcomer
 * is refused.  No idle timeout, so that only eviction closes.
 */
static void
test_tcp_evict(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *ca, *cb, *cc, *cd, *ce, *cf, *cg;
	const struct listen_stats *st;

	cfg_init(&cfg);
	cfg.max_tcp_clients = 3;
	cfg.tcp_idle_timeout_ms = 0;
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	st = listen_stats(l);
	ca = tcpc_open_from(l, &a, NULL);
	cb = tcpc_open_from(l, &a, NULL);
	cc = tcpc_open_from(l, &a, NULL);
	CHECK_EQ(listen_tcp_clients(l), 3);
	CHECK(tcpc_ask(ca, "E a is busy, then idle again"));

	/* Idle longest: b (a answered since, c opened after b). */
	cd = tcpc_open_from(l, &a, NULL);
	CHECK_EQ(wait_until(tcpc_eof, cb, 2000), 0);
	CHECK(tcpc_alive(ca) && tcpc_alive(cc) && tcpc_alive(cd));
	CHECK_EQ(listen_tcp_clients(l), 3);
	CHECK_EQ(st->tcp_evicted, 1);

	/* c waits for an answer: a goes, the idle one longest. */
	CHECK(tcpc_hold(cc));
	ce = tcpc_open_from(l, &a, NULL);
	CHECK_EQ(wait_until(tcpc_eof, ca, 2000), 0);
	CHECK(tcpc_alive(cc) && tcpc_alive(cd) && tcpc_alive(ce));
	CHECK_EQ(st->tcp_evicted, 2);

	/* All waiting: the newcomer is the one refused. */
	CHECK(tcpc_hold(cd));
	CHECK(tcpc_hold(ce));
	cf = tcpc_open_from(l, &a, NULL);
	CHECK_EQ(wait_until(tcpc_eof, cf, 2000), 0);
	CHECK(tcpc_alive(cc) && tcpc_alive(cd) && tcpc_alive(ce));
	CHECK_EQ(st->tcp_refused, 1);
	CHECK_EQ(st->tcp_evicted, 2);
	CHECK_EQ(nheld, 3);
	release_held(1);
	CHECK(tcpc_held_answer(cc) && tcpc_held_answer(cd) &&
	    tcpc_held_answer(ce));
	CHECK(tcpc_ask(cc, "E c still served") &&
	    tcpc_ask(cd, "E d still served") &&
	    tcpc_ask(ce, "E e still served"));

	/* A slot freed is a slot taken, with nobody evicted. */
	tcpc_close(cc);
	CHECK_EQ(wait_clients(l, 2), 0);
	cg = tcpc_open_from(l, &a, NULL);
	CHECK(tcpc_ask(cg, "E g served"));
	CHECK_EQ(listen_tcp_clients(l), 3);
	CHECK_EQ(st->tcp_evicted, 2);
	CHECK_EQ(st->tcp_refused, 1);
	tcpc_close(ca);
	tcpc_close(cb);
	tcpc_close(cd);
	tcpc_close(ce);
	tcpc_close(cf);
	tcpc_close(cg);
	listen_free(l);
}

/*
 * A client that asks and does not read its answers is idle (nothing in
 * the core) but not evictable: its answers are still being written.  In
 * a table of 2, newcomers close the other connection each time.
 */
static void
test_tcp_evict_unsent(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *slow, *cb, *cc, *cd;
	uint8_t *buf;
	size_t i, off = 0;
	const char q[] = "E big answer 12";

	cfg_init(&cfg);
	cfg.max_tcp_clients = 2;
	cfg.tcp_idle_timeout_ms = 0;
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	slow = tcpc_open(&a, 4096);
	buf = malloc(5000 * (sizeof(q) + 2));
	for (i = 0; i < 5000; i++)
		frame(buf, &off, q, sizeof(q));
	big_answers = 1;
	(void)tcpc_send(slow, buf, off, 300);
	run_for(100);
	big_answers = 0;
	cb = tcpc_open_from(l, &a, NULL);
	CHECK_EQ(listen_tcp_clients(l), 2);
	cc = tcpc_open_from(l, &a, NULL);
	CHECK_EQ(wait_until(tcpc_eof, cb, 2000), 0);
	cd = tcpc_open_from(l, &a, NULL);
	CHECK_EQ(wait_until(tcpc_eof, cc, 2000), 0);
	CHECK(tcpc_alive(cd));
	CHECK_EQ(listen_tcp_clients(l), 2);	/* slow and d */
	CHECK_EQ(listen_stats(l)->tcp_evicted, 2);
	tcpc_close(slow);
	tcpc_close(cb);
	tcpc_close(cc);
	tcpc_close(cd);
	free(buf);
	listen_free(l);
}

/*
 * max-tcp-per-client 2 in a table of 16: a source past its cap closes
 * its own connection idle longest, not another source's that has been
 * idle longer, and is refused if its connections are all busy; another
 * source is served all along.
 */
static void
test_tcp_per_client(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *y1, *y2, *x1, *x2, *x3, *x4;
	const struct listen_stats *st;

	cfg_init(&cfg);
	cfg.max_tcp_client = CONFIG_PER_CLIENT_AUTO;
	cfg.max_tcp_clients = 256;
	CHECK_EQ(listen_tcp_per_client(&cfg), 64);
	cfg.max_tcp_clients = 3;
	CHECK_EQ(listen_tcp_per_client(&cfg), 1);
	cfg.max_tcp_client = 0;
	CHECK_EQ(listen_tcp_per_client(&cfg), 0);

	cfg_init(&cfg);
	cfg.max_tcp_client = 2;
	cfg.tcp_idle_timeout_ms = 0;
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	st = listen_stats(l);
	y1 = tcpc_open_from(l, &a, "127.0.0.2");
	x1 = tcpc_open_from(l, &a, "127.0.0.1");
	x2 = tcpc_open_from(l, &a, "127.0.0.1");
	CHECK_EQ(listen_tcp_clients(l), 3);
	x3 = tcpc_open_from(l, &a, "127.0.0.1");
	CHECK_EQ(wait_until(tcpc_eof, x1, 2000), 0);
	CHECK(tcpc_alive(y1) && tcpc_alive(x2) && tcpc_alive(x3));
	CHECK_EQ(listen_tcp_clients(l), 3);
	CHECK_EQ(st->tcp_evicted, 1);

	/* Both of 127.0.0.1's busy: its next is refused. */
	CHECK(tcpc_hold(x2));
	CHECK(tcpc_hold(x3));
	x4 = tcpc_open_from(l, &a, "127.0.0.1");
	CHECK_EQ(wait_until(tcpc_eof, x4, 2000), 0);
	CHECK_EQ(st->tcp_refused, 1);
	CHECK(tcpc_alive(x2) && tcpc_alive(x3));

	/* 127.0.0.2 is under its own cap. */
	y2 = tcpc_open_from(l, &a, "127.0.0.2");
	CHECK(tcpc_ask(y1, "E y1 served") && tcpc_ask(y2, "E y2 served"));
	CHECK_EQ(listen_tcp_clients(l), 4);
	CHECK_EQ(st->tcp_evicted, 1);
	CHECK_EQ(st->tcp_refused, 1);
	release_held(1);
	CHECK(tcpc_held_answer(x2) && tcpc_held_answer(x3));
	CHECK(tcpc_ask(x2, "E x2 served") && tcpc_ask(x3, "E x3 served"));
	tcpc_close(y1);
	tcpc_close(y2);
	tcpc_close(x1);
	tcpc_close(x2);
	tcpc_close(x3);
	tcpc_close(x4);
	listen_free(l);
}

/*
 * Out of descriptors at accept: the connection idle longest is closed
 * and the newcomer accepted at once, not left in the backlog for the
 * pause after a failed accept.
 */
static void
test_tcp_emfile(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c[3];
	struct rlimit old, rl;
	uint64_t t0;
	size_t i;
	int n;

	cfg_init(&cfg);
	cfg.tcp_idle_timeout_ms = 0;
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	run_for(20);	/* descriptors closed late by libevent: closed */
	/* The client sockets first; then room for two accepted only. */
	for (i = 0; i < 3; i++)
		c[i] = tcpc_new(&a, NULL);
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	/* Less ".", ".." and the directory's own descriptor. */
	rl.rlim_cur = (rlim_t)count_fds() - 3 + 2;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	/* Descriptors are numbers below the limit: holes count as room. */
	while ((n = free_fds()) > 2) {
		rl.rlim_cur -= (rlim_t)(n - 2);
		CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	CHECK_EQ(free_fds(), 2);
	c[0] = tcpc_connect(c[0], &a);
	c[1] = tcpc_connect(c[1], &a);
	CHECK_EQ(wait_clients(l, 2), 0);
	t0 = now_ms();
	c[2] = tcpc_connect(c[2], &a);
	CHECK(c[2] != NULL);
	CHECK_EQ(wait_until(tcpc_eof, c[0], 2000), 0);
	CHECK(tcpc_ask(c[2], "E accepted in place of the idle one"));
	CHECK(now_ms() - t0 < 500);
	CHECK(tcpc_alive(c[1]));
	CHECK_EQ(listen_stats(l)->tcp_evicted, 1);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (i = 0; i < 3; i++)
		tcpc_close(c[i]);
	listen_free(l);
}

/*
 * Idle 200 ms: a silent client is closed; one waiting 500 ms for an answer
 * is not, and is closed 200 ms after it got it.
 */
static void
test_tcp_idle(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *silent, *waiting;
	uint8_t buf[64], out[64];
	size_t off = 0;
	uint64_t t0, t;
	const char q[] = "D\x32 answered after 500 ms";

	cfg_init(&cfg);
	cfg.tcp_idle_timeout_ms = 200;
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	frame(buf, &off, q, sizeof(q));
	t0 = now_ms();
	silent = tcpc_open(&a, 0);
	waiting = tcpc_open(&a, 0);
	CHECK_EQ(tcpc_send(waiting, buf, off, 1000), off);

	CHECK_EQ(wait_until(tcpc_eof, silent, 2000), 0);
	t = now_ms() - t0;
	CHECK(t >= 180 && t < 450);

	run_for(200);		/* 400 ms in: past idle, still waiting */
	tcpc_poll(waiting);
	CHECK(!waiting->eof);
	CHECK_EQ(listen_tcp_clients(l), 1);

	CHECK_EQ(tcpc_read(waiting, out, sizeof(out)), sizeof(q));
	t0 = now_ms();
	CHECK_EQ(wait_until(tcpc_eof, waiting, 2000), 0);
	t = now_ms() - t0;
	CHECK(t >= 150 && t < 450);
	CHECK_EQ(listen_tcp_clients(l), 0);
	tcpc_close(silent);
	tcpc_close(waiting);
	listen_free(l);
}

/*
 * A client that pipelines 5000 queries and never reads.  First the
 * answers are held: no more than LISTEN_TCP_MAX_INFLIGHT reach the core.
 * Then big answers are given at once: when the socket buffers are full the
 * server stops reading and the count stops moving.
 */
static void
test_tcp_backpressure(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c;
	uint8_t *buf;
	size_t i, off = 0, sent, want = LISTEN_TCP_MAX_INFLIGHT;
	unsigned calls = ncalls, n1, n2;
	const char q[] = "H never read 123";

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL ||
	    (c = tcpc_open(&a, 4096)) == NULL) {
		CHECK(!"listen_new/connect");
		listen_free(l);
		return;
	}
	buf = malloc(5000 * (sizeof(q) + 2));
	for (i = 0; i < 5000; i++)
		frame(buf, &off, q, sizeof(q));
	peak_held = 0;
	sent = tcpc_send(c, buf, off, 1000);
	CHECK(sent > 64 * (sizeof(q) + 2));
	CHECK_EQ(wait_until(held_reaches, &want, 2000), 0);
	run_for(200);
	CHECK_EQ(ncalls - calls, LISTEN_TCP_MAX_INFLIGHT);
	CHECK_EQ(peak_held, LISTEN_TCP_MAX_INFLIGHT);

	big_answers = 1;
	release_held(1);
	sent += tcpc_send(c, buf + sent, off - sent, 1000);
	n1 = ncalls;
	for (i = 0; i < 40; i++) {	/* until it stops moving */
		run_for(100);
		n2 = ncalls;
		if (n2 == n1)
			break;
		n1 = n2;
	}
	CHECK(i < 40);
	CHECK(ncalls - calls > LISTEN_TCP_MAX_INFLIGHT);
	CHECK(ncalls - calls < 5000);
	CHECK_EQ(listen_tcp_clients(l), 1);
	CHECK(peak_held <= LISTEN_TCP_MAX_INFLIGHT);
	big_answers = 0;

	/* Gone with answers unread: a reset, and the server lets go. */
	tcpc_close(c);
	CHECK_EQ(wait_clients(l, 0), 0);
	free(buf);
	listen_free(l);
}

/*
 * 100 queries in one write: 64 reach the core, the rest wait in the input
 * buffer and follow once answers are released, with no more data coming.
 */
static void
test_tcp_resume(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c;
	uint8_t buf[100 * 32], out[64];
	size_t i, off = 0, want = LISTEN_TCP_MAX_INFLIGHT, rest = 100 - want;
	unsigned calls = ncalls, answers = 0;
	const char q[] = "H waits its turn";

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL ||
	    (c = tcpc_open(&a, 0)) == NULL) {
		CHECK(!"listen_new/connect");
		listen_free(l);
		return;
	}
	for (i = 0; i < 100; i++)
		frame(buf, &off, q, sizeof(q));
	CHECK_EQ(tcpc_send(c, buf, off, 1000), off);
	CHECK_EQ(wait_until(held_reaches, &want, 2000), 0);
	run_for(50);
	CHECK_EQ(ncalls - calls, LISTEN_TCP_MAX_INFLIGHT);
	release_held(1);
	CHECK_EQ(wait_until(held_reaches, &rest, 2000), 0);
	CHECK_EQ(ncalls - calls, 100);
	release_held(1);
	for (i = 0; i < 100; i++)
		if (tcpc_read(c, out, sizeof(out)) == sizeof(q))
			answers++;
	CHECK_EQ(answers, 100);
	tcpc_close(c);
	listen_free(l);
}

/* listen_free with peers held: they stay usable and do nothing. */
static void
test_free_held(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c, *c2;
	uint8_t buf[64], out[64];
	size_t off = 0, three = 3;
	const char q[] = "H held over free";
	int fd, reuse;

	cfg_init(&cfg);
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL ||
	    (c = tcpc_open(&a, 0)) == NULL) {
		CHECK(!"listen_new/connect");
		listen_free(l);
		return;
	}
	fd = udp_client(AF_INET);
	CHECK_EQ(sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&a.ss, a.len),
	    sizeof(q));
	frame(buf, &off, q, sizeof(q));
	frame(buf, &off, q, sizeof(q));
	CHECK_EQ(tcpc_send(c, buf, off, 1000), off);
	CHECK_EQ(wait_until(held_reaches, &three, 2000), 0);
	CHECK_EQ(listen_tcp_clients(l), 1);

	listen_free(l);
	CHECK_EQ(wait_until(tcpc_eof, c, 1000), 0);
	c2 = tcpc_open(&a, 0);
	CHECK(c2 == NULL);	/* refused: nothing listens */
	tcpc_close(c2);

	/* Likely reuses a closed descriptor number: must not be written. */
	reuse = udp_client(AF_INET);
	release_held(1);
	run_for(20);
	CHECK_EQ(recv(fd, out, sizeof(out), MSG_DONTWAIT), -1);
	close(reuse);
	close(fd);
	tcpc_close(c);
}

/*
 * Virtual time (so last: the clock stays virtual).  With tcp-idle-timeout
 * 10 s and a table of 10, a connection that turns idle with the table at
 * most half full waits 10 s; past half 1 s; past three quarters 200 ms
 * (a hundredth, 100 ms, is below the floor).  A connection that turns
 * idle again later takes the timeout of that moment.
 */
static void
test_tcp_idle_shrink(void)
{
	struct config cfg;
	struct addr a;
	struct listener *l;
	struct tcpc *c[10];
	size_t i, closed;
	const unsigned steps[][2] = {
		/* ms to step, connections open after it */
		{ 199, 10 }, { 1, 7 }, { 799, 7 }, { 1, 5 },
		{ 8999, 5 }, { 1, 0 },
	};

	clock_test_begin(1000);
	cfg_init(&cfg);
	cfg.max_tcp_clients = 10;
	cfg.tcp_idle_timeout_ms = 10000;
	if ((l = start(&cfg, "127.0.0.1", &a)) == NULL) {
		CHECK(!"listen_new");
		return;
	}
	for (i = 0; i < 10; i++)
		c[i] = tcpc_open_from(l, &a, NULL);
	CHECK_EQ(listen_tcp_clients(l), 10);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		clock_step(steps[i][0]);
		CHECK_EQ(wait_clients(l, steps[i][1]), 0);
	}
	for (closed = 0, i = 0; i < 10; i++)
		if (wait_until(tcpc_eof, c[i], 100) == 0)
			closed++;
	CHECK_EQ(closed, 10);
	for (i = 0; i < 10; i++)
		tcpc_close(c[i]);

	/* The first of 9 takes 1 s when it is idle again at 70%. */
	for (i = 0; i < 9; i++)
		c[i] = tcpc_open_from(l, &a, NULL);
	clock_step(200);
	CHECK_EQ(wait_clients(l, 7), 0);	/* the 8th and 9th */
	CHECK(tcpc_ask(c[0], "E idle again at 70%"));
	clock_step(1000);
	CHECK_EQ(wait_clients(l, 4), 0);	/* it, the 6th and 7th */
	CHECK_EQ(wait_until(tcpc_eof, c[0], 100), 0);
	clock_step(8799);
	CHECK_EQ(wait_clients(l, 4), 0);
	clock_step(1);
	CHECK_EQ(wait_clients(l, 0), 0);
	for (i = 0; i < 9; i++)
		tcpc_close(c[i]);
	listen_free(l);
}

int
main(void)
{
	static const char *const any4[] = { "127.0.0.1", "127.0.0.2" };
	static const char *const any6[] = { "::1" };
	int fd;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_listen", getenv("TEST_DEBUG") != NULL ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, 0);
	if ((base = event_base_new()) == NULL)
		return 1;
	if ((fd = socket(AF_INET6, SOCK_DGRAM, 0)) != -1) {
		have_ipv6 = free_port("::1") != 0;
		close(fd);
	}

	test_names();
	test_bind_fail();
	test_udp("127.0.0.1");
	test_udp_wildcard("0.0.0.0", any4, 2);
	test_udp_large();
	test_udp_burst();
	test_tcp_one("127.0.0.1");
	if (have_ipv6) {
		test_udp("::1");
		test_udp_wildcard("::", any6, 1);
		test_tcp_one("::1");
	} else
		fprintf(stderr, "no IPv6 loopback: IPv6 tests skipped\n");
	test_tcp_pipelined();
	test_tcp_trickle();
	test_tcp_zero_length();
	test_tcp_client_gone();
	test_tcp_half_close();
	test_tcp_evict();
	test_tcp_evict_unsent();
	test_tcp_per_client();
	if (!RUNNING_ON_VALGRIND)
		test_tcp_emfile();
	else
		fprintf(stderr, "valgrind: out-of-descriptors test skipped\n");
	test_tcp_idle();
	test_tcp_backpressure();
	test_tcp_resume();
	test_free_held();
	test_tcp_idle_shrink();

	CHECK_EQ(nheld, 0);
	CHECK_EQ(ndeferred, 0);
	event_base_free(base);
	libevent_global_shutdown();
	return check_summary();
}
