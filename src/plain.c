/*
 * plain: c-ares driven from the daemon's libevent loop.  c-ares says which
 * sockets to watch through its socket-state callback and when to wake it
 * through ares_timeout().  Every result reaches the user from an event of
 * its own, never from inside c-ares: c-ares may call back synchronously
 * (bad query, unreachable server, IP literal), and a user callback may then
 * forward, cancel or free without re-entering c-ares.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ares.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/clock.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"

enum plain_kind {
	PLAIN_FORWARD,
	PLAIN_RESOLVE,
};

enum plain_req_state {
	PLAIN_REQ_ARES,		/* c-ares holds it: its callback is due */
	PLAIN_REQ_DONE,		/* result kept, delivery event active */
	PLAIN_REQ_DELIVERING,	/* the user's callback is running */
};
static const char *const plain_req_state_names[] = {
	"ares", "done", "delivering",
};

struct plain_req {
	TAILQ_ENTRY(plain_req)	 entry;
	struct plain		*p;
	int			 linked;	/* on p->reqs */
	enum plain_kind		 kind;
	enum plain_req_state	 state;
	int			 cancelled;
	struct event		*deliver;
	void			*arg;
	int			 status;	/* 0 or -1 once done */
	union {
		struct {
			plain_answer_cb	*cb;
			uint16_t	 id;	/* on the wire */
			uint8_t		*ans;	/* owned */
			size_t		 len;
		} fwd;
		struct {
			plain_addr_cb		*cb;
			uint16_t		 port;
			struct addr		 addrs[ADDR_MAX_PER_NAME];
			size_t			 n;
			unsigned		 ttl;
		} res;
	} u;
};

/* One watched c-ares socket. */
struct plain_sock {
	LIST_ENTRY(plain_sock)	 entry;
	struct plain		*p;
	ares_socket_t		 fd;
	struct event		*ev;
};

/*
 * A TCP socket of c-ares, for counting the messages written to it: the
 * stream is 2-byte lengths and messages, cut anywhere by the writes.
 */
struct plain_tcp {
	LIST_ENTRY(plain_tcp)	 entry;
	ares_socket_t		 fd;
	unsigned		 hdr;		/* length bytes seen, 0-2 */
	unsigned		 len;		/* the length so far */
	size_t			 left;		/* of the message after it */
};

struct plain {
	struct event_base	*base;
	ares_channel		 channel;
	int			 have_channel;
	int			 lib_init;
	int			 destroying;	/* inside plain_free */
	struct clock_timer	 timer;	/* c-ares' next deadline */
	LIST_HEAD(, plain_sock)	 socks;
	TAILQ_HEAD(, plain_req)	 reqs;
	uint64_t		 sent;
	LIST_HEAD(, plain_tcp)	 tcps;
	uint64_t		 wire;		/* messages that left */
};

/* Rounds of the server list a query gets, by role (plain.h says why). */
static const int plain_role_tries[PLAIN_ROLE_MAX] = {
	[PLAIN_ROLE_FALLBACK] = 1,
	[PLAIN_ROLE_FORWARD] = 1,
	[PLAIN_ROLE_BOOTSTRAP] = 2,
	/* Rerun on failure anyway; the guard timer bounds a run. */
	[PLAIN_ROLE_DISCOVERY] = 2,
	[PLAIN_ROLE_PORTAL] = 1,
};

static uint16_t	plain_new_id(const struct plain *);
static int	plain_literal(struct plain_req *, const char *);
static void	plain_rearm(struct plain *);
static void	plain_timer_cb(void *);
static void	plain_sock_cb(evutil_socket_t, short, void *);
static void	plain_sock_state(void *, ares_socket_t, int, int);
static void	plain_sock_free(struct plain_sock *);
static struct plain_req *plain_req_new(struct plain *, enum plain_kind,
		    void *);
static void	plain_req_unlink(struct plain_req *);
static void	plain_req_free(struct plain_req *);
static void	plain_req_done(struct plain_req *);
static void	plain_deliver(evutil_socket_t, short, void *);
static void	plain_send_done(void *, int, int, unsigned char *, int);
static void	plain_addr_done(void *, int, int, struct ares_addrinfo *);

/*
 * c-ares' sockets go through these only to count what leaves the host
 * (plain_wire_sent): every UDP datagram, every TCP message, retries
 * included.  c-ares leaves the options of such sockets to us.
 */
static ares_socket_t
plain_socket(int domain, int type, int protocol, void *arg)
{
	struct plain *p = arg;
	struct plain_tcp *t;
	int fd, one = 1;

	if ((fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    protocol)) == -1)
		return ARES_SOCKET_BAD;
	if (type == SOCK_STREAM) {
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if ((t = calloc(1, sizeof(*t))) == NULL) {
			close(fd);
			return ARES_SOCKET_BAD;
		}
		t->fd = fd;
		LIST_INSERT_HEAD(&p->tcps, t, entry);
	}
	return fd;
}

static int
plain_close(ares_socket_t fd, void *arg)
{
	struct plain *p = arg;
	struct plain_tcp *t;

	LIST_FOREACH(t, &p->tcps, entry)
		if (t->fd == fd) {
			LIST_REMOVE(t, entry);
			free(t);
			break;
		}
	return close(fd);
}

static int
plain_connect(ares_socket_t fd, const struct sockaddr *sa,
    ares_socklen_t len, void *arg)
{
	(void)arg;
	return connect(fd, sa, len);
}

static ares_ssize_t
plain_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
    struct sockaddr *from, ares_socklen_t *fromlen, void *arg)
{
	(void)arg;
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

/* Count the messages that the n bytes written to TCP socket t began. */
static void
plain_tcp_count(struct plain *p, struct plain_tcp *t, const struct iovec *iov,
    int iovcnt, size_t n)
{
	const uint8_t *b;
	size_t i, take;
	int v;

	for (v = 0; v < iovcnt && n > 0; v++) {
		b = iov[v].iov_base;
		for (i = 0; i < iov[v].iov_len && n > 0; ) {
			if (t->hdr < 2) {
				t->len = (t->len << 8 | b[i]) & 0xffff;
				i++;
				n--;
				if (++t->hdr < 2)
					continue;
				p->wire++;	/* a length: a message */
				t->left = t->len;
				t->len = 0;
			} else {
				take = iov[v].iov_len - i;
				take = take < t->left ? take : t->left;
				take = take < n ? take : n;
				t->left -= take;
				i += take;
				n -= take;
			}
			if (t->left == 0)
				t->hdr = 0;
		}
	}
}

static ares_ssize_t
plain_sendv(ares_socket_t fd, const struct iovec *iov, int iovcnt, void *arg)
{
	struct plain *p = arg;
	struct plain_tcp *t;
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)(uintptr_t)iov;
	mh.msg_iovlen = (size_t)iovcnt;
	if ((n = sendmsg(fd, &mh, MSG_NOSIGNAL)) <= 0)
		return n;
	LIST_FOREACH(t, &p->tcps, entry)
		if (t->fd == fd)
			break;
	if (t == NULL)
		p->wire++;	/* a datagram */
	else
		plain_tcp_count(p, t, iov, iovcnt, (size_t)n);
	return n;
}

static const struct ares_socket_functions plain_sockfuncs = {
	plain_socket, plain_close, plain_connect, plain_recvfrom,
	plain_sendv,
};

struct plain *
plain_new(struct event_base *base, const struct addr *servers,
    size_t nservers, unsigned timeout_ms, enum plain_role role)
{
	static char lookups[] = "b";	/* DNS only, never /etc/hosts */
	static char resolvconf[] = "/dev/null";
	struct ares_options opts;
	struct ares_addr_port_node *nodes = NULL;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	struct plain *p;
	size_t i;
	int mask, rc;

	if (nservers == 0 || timeout_ms == 0 || (unsigned)role >=
	    PLAIN_ROLE_MAX) {
		log_warnx("plain: need a server, a timeout and a role");
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_warn("plain: calloc");
		return NULL;
	}
	p->base = base;
	LIST_INIT(&p->socks);
	LIST_INIT(&p->tcps);
	TAILQ_INIT(&p->reqs);
	clock_timer_init(&p->timer, base, plain_timer_cb, p);
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_warnx("plain: ares_library_init: %s", ares_strerror(rc));
		goto fail;
	}
	p->lib_init = 1;

	/*
	 * The daemon's own resolver must not leak in: an empty resolv.conf
	 * and empty server and search lists; ours, with ports, follow.
	 */
	memset(&opts, 0, sizeof(opts));
	opts.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH |
	    ARES_FLAG_NOALIASES;
	opts.timeout = timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;
	opts.tries = plain_role_tries[role];
	opts.lookups = lookups;
	opts.sock_state_cb = plain_sock_state;
	opts.sock_state_cb_data = p;
	opts.servers = NULL;
	opts.nservers = 0;
	opts.domains = NULL;
	opts.ndomains = 0;
	opts.resolvconf_path = resolvconf;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_SERVERS |
	    ARES_OPT_DOMAINS | ARES_OPT_NOROTATE | ARES_OPT_RESOLVCONF;
	if ((rc = ares_init_options(&p->channel, &opts, mask)) !=
	    ARES_SUCCESS) {
		log_warnx("plain: ares_init_options: %s", ares_strerror(rc));
		goto fail;
	}
	p->have_channel = 1;
	ares_set_socket_functions(p->channel, &plain_sockfuncs, p);

	if ((nodes = calloc(nservers, sizeof(*nodes))) == NULL) {
		log_warn("plain: calloc");
		goto fail;
	}
	for (i = 0; i < nservers; i++) {
		switch (servers[i].ss.ss_family) {
		case AF_INET:
			sin = (const struct sockaddr_in *)&servers[i].ss;
			nodes[i].family = AF_INET;
			nodes[i].addr.addr4 = sin->sin_addr;
			nodes[i].udp_port = ntohs(sin->sin_port);
			break;
		case AF_INET6:
			sin6 = (const struct sockaddr_in6 *)&servers[i].ss;
			nodes[i].family = AF_INET6;
			memcpy(&nodes[i].addr.addr6, &sin6->sin6_addr,
			    sizeof(nodes[i].addr.addr6));
			nodes[i].udp_port = ntohs(sin6->sin6_port);
			break;
		default:
			log_warnx("plain: server %zu: unsupported family %d",
			    i, servers[i].ss.ss_family);
			goto fail;
		}
		nodes[i].tcp_port = nodes[i].udp_port;
		nodes[i].next = i + 1 < nservers ? &nodes[i + 1] : NULL;
	}
	if ((rc = ares_set_servers_ports(p->channel, nodes)) != ARES_SUCCESS) {
		log_warnx("plain: ares_set_servers_ports: %s",
		    ares_strerror(rc));
		goto fail;
	}
	free(nodes);
	return p;

fail:
	free(nodes);
	plain_free(p);
	return NULL;
}

struct plain_req *
plain_forward(struct plain *p, const uint8_t *query, size_t len,
    plain_answer_cb *cb, void *arg)
{
	struct plain_req *req;
	uint8_t *copy;
	uint16_t id;

	if (len < 2 || len > INT_MAX)
		return NULL;
	/*
	 * c-ares 1.18 sends the ID it is given: put a random one in, so
	 * an off-path spoofer cannot guess it from the client's and two
	 * clients that chose the same ID cannot collide.
	 */
	if ((copy = malloc(len)) == NULL) {
		log_warn("plain: malloc");
		return NULL;
	}
	memcpy(copy, query, len);
	id = plain_new_id(p);
	dnsmsg_set_id(copy, id);
	if ((req = plain_req_new(p, PLAIN_FORWARD, arg)) == NULL) {
		free(copy);
		return NULL;
	}
	req->u.fwd.cb = cb;
	req->u.fwd.id = id;
	p->sent++;
	/* c-ares copies the query and matches the answer's ID and question. */
	ares_send(p->channel, copy, (int)len, plain_send_done, req);
	free(copy);
	plain_rearm(p);
	return req;
}

struct plain_req *
plain_resolve(struct plain *p, const char *host, uint16_t port,
    plain_addr_cb *cb, void *arg)
{
	struct ares_addrinfo_hints hints;
	struct plain_req *req;

	if (host == NULL || *host == '\0')
		return NULL;
	if ((req = plain_req_new(p, PLAIN_RESOLVE, arg)) == NULL)
		return NULL;
	req->u.res.cb = cb;
	req->u.res.port = port;
	/* c-ares 1.18 also sends queries for an address literal. */
	if (plain_literal(req, host) == 0) {
		plain_req_done(req);
		return req;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	/* Sorting connects probe sockets; the order DNS gave is fine. */
	hints.ai_flags = ARES_AI_NOSORT;
	p->sent++;
	ares_getaddrinfo(p->channel, host, NULL, &hints, plain_addr_done, req);
	plain_rearm(p);
	return req;
}

void
plain_cancel(struct plain_req *req)
{
	if (req == NULL)
		return;
	log_debug("plain: cancel request (%s)",
	    plain_req_state_names[req->state]);
	switch (req->state) {
	case PLAIN_REQ_ARES:
		/* c-ares 1.18 cannot drop one query: its callback frees req. */
		req->cancelled = 1;
		break;
	case PLAIN_REQ_DONE:
		plain_req_free(req);
		break;
	case PLAIN_REQ_DELIVERING:
		/* Freed when the running callback returns. */
		break;
	}
}

uint64_t
plain_sent(const struct plain *p)
{
	return p->sent;
}

uint64_t
plain_wire_sent(const struct plain *p)
{
	return p->wire;
}

void
plain_free(struct plain *p)
{
	struct plain_req *req;
	struct plain_sock *s;
	struct plain_tcp *t;

	if (p == NULL)
		return;
	/* Pending callbacks see ARES_EDESTRUCTION and leave reqs to us. */
	p->destroying = 1;
	if (p->have_channel)
		ares_destroy(p->channel);
	while ((req = TAILQ_FIRST(&p->reqs)) != NULL)
		plain_req_free(req);
	while ((s = LIST_FIRST(&p->socks)) != NULL)
		plain_sock_free(s);
	while ((t = LIST_FIRST(&p->tcps)) != NULL) {	/* closed by c-ares */
		LIST_REMOVE(t, entry);
		free(t);
	}
	if (p->lib_init)
		ares_library_cleanup();
	clock_timer_del(&p->timer);
	free(p);
}

/* A random ID that no forwarded query in flight uses. */
static uint16_t
plain_new_id(const struct plain *p)
{
	struct plain_req *req;
	uint16_t id;
	int tries;

	for (tries = 0; tries < 16; tries++) {
		id = (uint16_t)arc4random_uniform(65536);
		TAILQ_FOREACH(req, &p->reqs, entry)
			if (req->kind == PLAIN_FORWARD &&
			    req->state == PLAIN_REQ_ARES &&
			    req->u.fwd.id == id)
				break;
		if (req == NULL)
			break;
	}
	return id;
}

/* If host is an IPv4 or IPv6 literal, make it req's result: 0, else -1. */
static int
plain_literal(struct plain_req *req, const char *host)
{
	if (addr_parse_ip(host, strlen(host), 0, req->u.res.port,
	    &req->u.res.addrs[0]) == -1)
		return -1;
	req->u.res.n = 1;
	req->u.res.ttl = 0;
	req->status = 0;
	return 0;
}

/* After every call into c-ares: its next deadline may have moved. */
static void
plain_rearm(struct plain *p)
{
	struct timeval tv, *tvp;

	/* c-ares keeps its own deadlines on real time; ms rounded up. */
	if ((tvp = ares_timeout(p->channel, NULL, &tv)) == NULL)
		clock_timer_del(&p->timer);
	else
		clock_timer_add(&p->timer, (unsigned)(tvp->tv_sec * 1000 +
		    (tvp->tv_usec + 999) / 1000));
}

static void
plain_timer_cb(void *arg)
{
	struct plain *p = arg;

	ares_process_fd(p->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	plain_rearm(p);
}

static void
plain_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct plain_sock *s = arg;
	struct plain *p = s->p;		/* s may be freed by c-ares below */

	ares_process_fd(p->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	plain_rearm(p);
}

static void
plain_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct plain *p = data;
	struct plain_sock *s;
	short what;

	LIST_FOREACH(s, &p->socks, entry)
		if (s->fd == fd)
			break;
	if (!readable && !writable) {
		if (s != NULL)
			plain_sock_free(s);
		return;
	}
	what = EV_PERSIST | (readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0);
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			goto fail;
		s->p = p;
		s->fd = fd;
		if ((s->ev = event_new(p->base, fd, what, plain_sock_cb,
		    s)) == NULL) {
			free(s);
			goto fail;
		}
		LIST_INSERT_HEAD(&p->socks, s, entry);
	} else {
		event_del(s->ev);
		event_assign(s->ev, p->base, fd, what, plain_sock_cb, s);
	}
	if (event_add(s->ev, NULL) == -1)
		goto fail;
	return;

fail:
	/* Nothing to tell c-ares; the query times out through the timer. */
	log_warnx("plain: cannot watch c-ares socket %d", (int)fd);
}

static void
plain_sock_free(struct plain_sock *s)
{
	LIST_REMOVE(s, entry);
	event_free(s->ev);
	free(s);
}

static struct plain_req *
plain_req_new(struct plain *p, enum plain_kind kind, void *arg)
{
	struct plain_req *req;

	if ((req = calloc(1, sizeof(*req))) == NULL) {
		log_warn("plain: calloc");
		return NULL;
	}
	if ((req->deliver = event_new(p->base, -1, 0, plain_deliver,
	    req)) == NULL) {
		log_warnx("plain: event_new failed");
		free(req);
		return NULL;
	}
	req->p = p;
	req->kind = kind;
	req->state = PLAIN_REQ_ARES;
	req->arg = arg;
	req->status = -1;
	TAILQ_INSERT_TAIL(&p->reqs, req, entry);
	req->linked = 1;
	return req;
}

static void
plain_req_unlink(struct plain_req *req)
{
	if (req->linked) {
		TAILQ_REMOVE(&req->p->reqs, req, entry);
		req->linked = 0;
	}
}

static void
plain_req_free(struct plain_req *req)
{
	if (req == NULL)
		return;
	plain_req_unlink(req);
	if (req->deliver != NULL)
		event_free(req->deliver);
	if (req->kind == PLAIN_FORWARD)
		free(req->u.fwd.ans);
	free(req);
}

/* c-ares is done with req: hand the result over from the event loop. */
static void
plain_req_done(struct plain_req *req)
{
	req->state = PLAIN_REQ_DONE;
	event_active(req->deliver, EV_TIMEOUT, 1);
}

static void
plain_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct plain_req *req = arg;

	(void)fd;
	(void)what;
	/* Off the list, so plain_free() from the callback leaves it be. */
	plain_req_unlink(req);
	req->state = PLAIN_REQ_DELIVERING;
	if (req->kind == PLAIN_FORWARD)
		req->u.fwd.cb(req->status, req->u.fwd.ans, req->u.fwd.len,
		    req->arg);
	else
		req->u.res.cb(req->status, req->u.res.addrs, req->u.res.n,
		    req->u.res.ttl, req->arg);
	plain_req_free(req);
}

static void
plain_send_done(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct plain_req *req = arg;

	(void)timeouts;
	if (req->p->destroying)
		return;
	if (req->cancelled) {
		plain_req_free(req);
		return;
	}
	/* Any rcode arrives as ARES_SUCCESS thanks to NOCHECKRESP. */
	if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
		if ((req->u.fwd.ans = malloc((size_t)alen)) == NULL)
			log_warn("plain: malloc");
		else {
			memcpy(req->u.fwd.ans, abuf, (size_t)alen);
			req->u.fwd.len = (size_t)alen;
			req->status = 0;
		}
	} else
		log_debug("plain: forward failed: %s", ares_strerror(status));
	plain_req_done(req);
}

static void
plain_addr_done(void *arg, int status, int timeouts,
    struct ares_addrinfo *res)
{
	struct plain_req *req = arg;
	struct ares_addrinfo_node *node;
	size_t n = 0;
	unsigned ttl = 0, t;

	(void)timeouts;
	if (req->p->destroying || req->cancelled) {
		if (res != NULL)
			ares_freeaddrinfo(res);
		if (!req->p->destroying)
			plain_req_free(req);
		return;
	}
	if (status == ARES_SUCCESS && res != NULL) {
		for (node = res->nodes; node != NULL && n < ADDR_MAX_PER_NAME;
		    node = node->ai_next) {
			if (addr_set(&req->u.res.addrs[n], node->ai_addr,
			    node->ai_addrlen) == -1)
				continue;
			addr_set_port(&req->u.res.addrs[n], req->u.res.port);
			t = node->ai_ttl > 0 ? (unsigned)node->ai_ttl : 0;
			if (n == 0 || t < ttl)
				ttl = t;
			n++;
		}
	} else
		log_debug("plain: lookup failed: %s", ares_strerror(status));
	if (res != NULL)
		ares_freeaddrinfo(res);
	req->u.res.n = n;
	req->u.res.ttl = ttl;
	req->status = n > 0 ? 0 : -1;
	plain_req_done(req);
}
