/*
 * listen: UDP and TCP sockets for clients.
 *
 * Peers outlive what they came from.  A UDP peer holds a reference on a
 * small socket holder whose fd becomes -1 when the listener goes; a TCP
 * peer holds a reference on its connection, which stays allocated (closed)
 * until the last peer is released.  So respond on a peer whose socket is
 * gone is a no-op, never a use-after-free.
 */
#define _GNU_SOURCE		/* struct in6_pktinfo */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "dohstub/addr.h"
#include "dohstub/clock.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/listen.h"
#include "dohstub/log.h"
#include "dohstub/ratelimit.h"

/*
 * recvmmsg and sendmmsg move up to UDP_BATCH datagrams a call.  Each
 * receive slot takes the largest datagram (only the pages a datagram
 * touches become resident); answers up to UDP_SLOT bytes, which is every
 * answer the core sends (edns-udp-size is at most 4096), are queued for
 * sendmmsg, longer ones sent at once.
 */
#define UDP_BUFSIZE		65535	/* largest datagram we take */
#define UDP_SLOT		4096
#define UDP_BATCH		16
#define UDP_READS_PER_EVENT	64	/* then let other events run */
#define UDP_PEER_POOL		1024	/* released peers kept for reuse */
/*
 * A burst of connections waits in the kernel's queue until the loop
 * drains it (each is then kept, or closed, or makes an idle one go): a
 * queue too short drops the SYN of a client that comes amid a flood,
 * which then retries a second later.  Linux caps it at somaxconn.
 */
#define TCP_BACKLOG		1024
#define TCP_FRAME_MAX		(2 + 65535)
#define ACCEPT_PAUSE_MS		1000	/* after accept fails (EMFILE...) */
#define ADDRSTRLEN		(INET6_ADDRSTRLEN + sizeof("[]:65535"))

const char *const listen_transport_names[] = {
	"udp", "tcp",
};

/* A UDP socket shared by the listener and the peers still held. */
struct udp_sock {
	int		 fd;	/* -1 once the listener is freed */
	unsigned	 refs;
	struct listener	*l;	/* valid while fd != -1 */
};

union udp_pktinfo {
	struct in_pktinfo	v4;
	struct in6_pktinfo	v6;
};

union udp_cmsg {
	struct cmsghdr	hdr;
	uint8_t		buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			    CMSG_SPACE(sizeof(struct in_pktinfo))];
};

struct udp_listener {
	struct listener		*l;
	struct udp_sock		*sock;
	struct event		*ev;
	struct addr	 addr;
	int			 wildcard;	/* answer from query's dst */
	int			 inherited;	/* socket activation */
	char			 name[ADDRSTRLEN];
};

struct udp_peer {
	struct listen_peer	 peer;		/* first: peer is cast back */
	struct udp_sock		*sock;
	struct udp_peer		*next;		/* in the pool */
	int			 has_pktinfo;
	union udp_pktinfo	 pi;
};

/*
 * Answers wait here until the end of this pass of the event loop, then
 * leave in one sendmmsg per socket: answers that one DoH read brings
 * back together cost one system call, a lone answer still one.
 */
struct udp_out {
	struct udp_sock		*sock;		/* referenced */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 has_pktinfo;
	union udp_pktinfo	 pi;
	size_t			 len;
	uint8_t			 data[UDP_SLOT];
};

struct udp_io {
	struct mmsghdr		 msg[UDP_BATCH];
	struct iovec		 iov[UDP_BATCH];
	struct sockaddr_storage	 addr[UDP_BATCH];
	union udp_cmsg		 cmsg[UDP_BATCH];
	uint8_t			 buf[UDP_BATCH][UDP_BUFSIZE];
	/* Apart from the above: a flush may run amid a received batch. */
	struct mmsghdr		 txmsg[UDP_BATCH];
	struct iovec		 txiov[UDP_BATCH];
	union udp_cmsg		 txcmsg[UDP_BATCH];
	struct udp_out		 out[UDP_BATCH];
	size_t			 nout;
	struct event		*flush;
};

struct tcp_listener {
	struct listener		*l;
	struct evconnlistener	*lev;
	struct clock_timer	 pause;		/* re-enables lev */
	struct addr		 addr;
	int			 inherited;	/* socket activation */
	char			 name[ADDRSTRLEN];
};

enum tcp_state {
	TCP_OPEN,	/* reading queries */
	TCP_DRAINING,	/* client sent FIN: answer what it asked, then close */
	TCP_CLOSED,	/* socket gone; kept for the peers still held */
};

static const char *const tcp_state_names[] = {
	"open", "draining", "closed",
};

struct tcp_conn {
	TAILQ_ENTRY(tcp_conn)	 entry;
	TAILQ_ENTRY(tcp_conn)	 idle_entry;	/* while idle_listed */
	struct listener		*l;		/* NULL once closed */
	struct bufferevent	*bev;
	struct clock_timer	 idle;
	int			 idle_listed;	/* on l->idle */
	int			 slot;		/* in l->sources, or -1 */
	struct ratelimit_key	 key;		/* the source */
	struct event		*kick;		/* resume reading, deferred */
	enum tcp_state		 state;
	unsigned		 refs;		/* open + one per peer */
	unsigned		 inflight;	/* peers not released */
	int			 paused;	/* EV_READ off: back-pressure */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			 name[ADDRSTRLEN];
};

struct tcp_peer {
	struct listen_peer	 peer;		/* first: peer is cast back */
	struct tcp_conn		*conn;
};

struct listener {
	struct event_base	*base;
	const struct config	*cfg;
	listen_query_cb		*cb;
	void			*arg;
	/* Pointers, so that a reload can keep some and drop others. */
	struct udp_listener	*udp[LISTEN_MAX_SOCKETS];
	size_t			 nudp;
	struct tcp_listener	*tcp[LISTEN_MAX_SOCKETS];
	size_t			 ntcp;
	TAILQ_HEAD(, tcp_conn)	 conns;
	size_t			 nconns;
	/* Connections with no query in the core, idle longest first. */
	TAILQ_HEAD(, tcp_conn)	 idle;
	struct ratelimit_clients *sources;	/* connections per source */
	struct listen_stats	 stats;
	struct udp_io		 udp_io;
	uint8_t			 txbuf[TCP_FRAME_MAX];	/* one TCP answer */
};

/* Released UDP peers, shared by every listener: no malloc per query. */
static struct udp_peer	*udp_peer_pool;
static size_t		 udp_peer_npool;
static unsigned		 nlisteners;

static void	udp_respond(struct listen_peer *, const uint8_t *, size_t);
static void	udp_release(struct listen_peer *);
static void	tcp_respond(struct listen_peer *, const uint8_t *, size_t);
static void	tcp_release(struct listen_peer *);
static void	tcp_update(struct tcp_conn *);
static struct udp_listener *udp_open(struct listener *,
		    const struct addr *, int, const char *);
static struct tcp_listener *tcp_open(struct listener *,
		    const struct addr *, int, const char *);

static const struct listen_peer_ops udp_ops = { udp_respond, udp_release };
static const struct listen_peer_ops tcp_ops = { tcp_respond, tcp_release };

/*
 * A wildcard UDP socket must learn each query's destination, to answer
 * from it: ours and one the service manager hands over alike.
 */
static int
udp_want_pktinfo(int fd, const struct addr *a, const char *name)
{
	int rc, on = 1;

	if (!addr_is_wildcard(a))
		return 0;
	if (a->ss.ss_family == AF_INET)
		rc = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
	else
		rc = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on,
		    sizeof(on));
	if (rc == -1) {
		log_warn("udp %s: pktinfo", name);
		return -1;
	}
	return 0;
}

/*
 * A bound, non-blocking, close-on-exec socket of type on a (listening if
 * SOCK_STREAM).  -1 on failure, logged with name.
 */
/* Sockets handed over by the service manager (LISTEN_FDS). */
static struct inherited {
	int			fd;
	int			type;
	struct addr	addr;
} inherited_pool[LISTEN_MAX_SOCKETS];
static size_t ninherited;

int
listen_inherit(int fd)
{
	struct inherited *in;
	socklen_t len;
	int type, fl;

	if (ninherited == LISTEN_MAX_SOCKETS) {
		log_warnx("socket activation: more than %d sockets",
		    LISTEN_MAX_SOCKETS);
		return -1;
	}
	in = &inherited_pool[ninherited];
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1) {
		log_warn("socket activation: fd %d", fd);
		return -1;
	}
	in->addr.len = sizeof(in->addr.ss);
	if (getsockname(fd, (struct sockaddr *)&in->addr.ss,
	    &in->addr.len) == -1) {
		log_warn("socket activation: fd %d", fd);
		return -1;
	}
	if ((type != SOCK_DGRAM && type != SOCK_STREAM) ||
	    (in->addr.ss.ss_family != AF_INET &&
	    in->addr.ss.ss_family != AF_INET6)) {
		log_warnx("socket activation: fd %d is not a UDP or TCP "
		    "socket", fd);
		return -1;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		log_warn("socket activation: fd %d", fd);
		return -1;
	}
	in->fd = fd;
	in->type = type;
	ninherited++;
	return 0;
}

/* An inherited socket for a and type, taken out of the pool, or -1. */
static int
inherited_take(const struct addr *a, int type)
{
	size_t i;
	int fd;

	for (i = 0; i < ninherited; i++) {
		if (inherited_pool[i].type != type ||
		    inherited_pool[i].addr.len != a->len ||
		    memcmp(&inherited_pool[i].addr.ss, &a->ss, a->len) != 0)
			continue;
		fd = inherited_pool[i].fd;
		inherited_pool[i] = inherited_pool[--ninherited];
		return fd;
	}
	return -1;
}

/* Serve the inherited sockets no listen address asked for, too. */
static int
inherited_adopt(struct listener *l)
{
	struct inherited in;
	char name[ADDRSTRLEN];
	void *p;

	while (ninherited > 0) {
		in = inherited_pool[--ninherited];
		addr_str(&in.addr, name, sizeof(name));
		if (in.type == SOCK_DGRAM) {
			if (l->nudp == LISTEN_MAX_SOCKETS ||
			    (p = udp_open(l, &in.addr, in.fd, name)) == NULL)
				return -1;
			l->udp[l->nudp++] = p;
		} else {
			if (l->ntcp == LISTEN_MAX_SOCKETS ||
			    (p = tcp_open(l, &in.addr, in.fd, name)) == NULL)
				return -1;
			l->tcp[l->ntcp++] = p;
		}
		log_info("%s %s: socket from the service manager",
		    in.type == SOCK_DGRAM ? "udp" : "tcp", name);
	}
	return 0;
}

static int
sock_open(const struct addr *a, int type, const char *name)
{
	const char *proto = type == SOCK_DGRAM ? "udp" : "tcp";
	int fd, on = 1;

	fd = socket(a->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("%s %s: socket", proto, name);
		return -1;
	}
	/* Each IPv6 address is listed on its own; never take IPv4 too. */
	if (a->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) {
		log_warn("%s %s: IPV6_V6ONLY", proto, name);
		goto fail;
	}
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &on, sizeof(on)) == -1) {
		log_warn("%s %s: SO_REUSEADDR", proto, name);
		goto fail;
	}
	if (type == SOCK_DGRAM && udp_want_pktinfo(fd, a, name) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		log_warn("%s %s: bind", proto, name);
		goto fail;
	}
	if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) == -1) {
		log_warn("%s %s: listen", proto, name);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* UDP */

static void
udp_sock_unref(struct udp_sock *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	if (s->fd != -1)
		close(s->fd);
	free(s);
}

/* Fill a msghdr's control data with the source address to answer from. */
static void
udp_put_pktinfo(struct msghdr *mh, union udp_cmsg *cbuf, int family,
    const union udp_pktinfo *pi)
{
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(*cbuf));
	mh->msg_control = cbuf->buf;
	cm = (struct cmsghdr *)cbuf->buf;
	if (family == AF_INET) {
		mh->msg_controllen = CMSG_SPACE(sizeof(pi->v4));
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi->v4));
		memcpy(CMSG_DATA(cm), &pi->v4, sizeof(pi->v4));
	} else {
		mh->msg_controllen = CMSG_SPACE(sizeof(pi->v6));
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi->v6));
		memcpy(CMSG_DATA(cm), &pi->v6, sizeof(pi->v6));
	}
}

/* Send every queued answer: one sendmmsg per run of the same socket. */
static void
udp_flush(struct listener *l)
{
	struct udp_io *io = &l->udp_io;
	struct udp_out *o;
	size_t i, j, n;
	char name[ADDRSTRLEN];
	int fd, sent;

	for (i = 0; i < io->nout; i = j) {
		fd = io->out[i].sock->fd;
		for (j = i; j < io->nout && io->out[j].sock->fd == fd; j++) {
			o = &io->out[j];
			n = j - i;
			memset(&io->txmsg[n], 0, sizeof(io->txmsg[n]));
			io->txiov[n].iov_base = o->data;
			io->txiov[n].iov_len = o->len;
			io->txmsg[n].msg_hdr.msg_name = &o->addr;
			io->txmsg[n].msg_hdr.msg_namelen = o->addrlen;
			io->txmsg[n].msg_hdr.msg_iov = &io->txiov[n];
			io->txmsg[n].msg_hdr.msg_iovlen = 1;
			if (o->has_pktinfo)
				udp_put_pktinfo(&io->txmsg[n].msg_hdr,
				    &io->txcmsg[n], o->addr.ss_family, &o->pi);
		}
		/*
		 * UDP is lossy anyway: a failed send is the client's
		 * timeout.  sendmmsg stops at a datagram that fails and
		 * reports the error only when it is the first, so a short
		 * count is followed by a call that starts there.
		 */
		for (n = 0; fd != -1 && n < j - i; n += (size_t)sent) {
			sent = sendmmsg(fd, &io->txmsg[n], (unsigned)(j - i - n),
			    MSG_DONTWAIT);
			if (sent > 0)
				continue;
			if (sent == -1 && errno == EINTR) {
				sent = 0;
				continue;
			}
			log_debug("udp %s: sendmmsg %zu bytes: %s",
			    addr_sa_str((struct sockaddr *)&io->out[i + n].addr,
			    name, sizeof(name)), io->out[i + n].len,
			    sent == -1 ? strerror(errno) : "not sent");
			sent = 1;	/* past it */
		}
	}
	for (i = 0; i < io->nout; i++)
		udp_sock_unref(io->out[i].sock);
	io->nout = 0;
}

static void
udp_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	udp_flush(arg);
}

/* A datagram too long for the queue. */
static void
udp_send_now(struct udp_peer *p, const uint8_t *msg, size_t len)
{
	union udp_cmsg cbuf;
	struct msghdr mh;
	struct iovec iov;
	char name[ADDRSTRLEN];

	iov.iov_base = (void *)msg;
	iov.iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &p->peer.addr;
	mh.msg_namelen = p->peer.addrlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (p->has_pktinfo)
		udp_put_pktinfo(&mh, &cbuf, p->peer.addr.ss_family, &p->pi);
	if (sendmsg(p->sock->fd, &mh, MSG_DONTWAIT) == -1)
		log_debug("udp %s: sendmsg %zu bytes: %s",
		    addr_sa_str((struct sockaddr *)&p->peer.addr, name,
		    sizeof(name)), len, strerror(errno));
}

static void
udp_respond(struct listen_peer *peer, const uint8_t *msg, size_t len)
{
	struct udp_peer *p = (struct udp_peer *)peer;
	struct udp_io *io;
	struct udp_out *o;

	if (p->sock->fd == -1)
		return;
	if (len > UDP_SLOT) {
		udp_send_now(p, msg, len);
		return;
	}
	io = &p->sock->l->udp_io;
	if (io->nout == UDP_BATCH)
		udp_flush(p->sock->l);
	if (io->nout == 0)
		event_active(io->flush, 0, 0);
	o = &io->out[io->nout++];
	o->sock = p->sock;
	o->sock->refs++;
	memcpy(&o->addr, &peer->addr, peer->addrlen);
	o->addrlen = peer->addrlen;
	o->has_pktinfo = p->has_pktinfo;
	o->pi = p->pi;
	o->len = len;
	memcpy(o->data, msg, len);
}

static void
udp_release(struct listen_peer *peer)
{
	struct udp_peer *p = (struct udp_peer *)peer;

	udp_sock_unref(p->sock);
	if (nlisteners == 0 || udp_peer_npool >= UDP_PEER_POOL) {
		free(p);
		return;
	}
	p->next = udp_peer_pool;
	udp_peer_pool = p;
	udp_peer_npool++;
}

static struct udp_peer *
udp_peer_get(void)
{
	struct udp_peer *p;

	if ((p = udp_peer_pool) == NULL)
		return calloc(1, sizeof(*p));
	udp_peer_pool = p->next;
	udp_peer_npool--;
	memset(p, 0, sizeof(*p));
	return p;
}

static void
udp_peer_pool_free(void)
{
	struct udp_peer *p;

	while ((p = udp_peer_pool) != NULL) {
		udp_peer_pool = p->next;
		free(p);
	}
	udp_peer_npool = 0;
}

/* Keep where the query was sent, so the answer comes from there. */
static void
udp_get_pktinfo(struct udp_peer *p, struct msghdr *mh)
{
	struct cmsghdr *cm;
	struct in_pktinfo pi4;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(pi4))) {
			memcpy(&pi4, CMSG_DATA(cm), sizeof(pi4));
			/* Let routing pick the interface. */
			memset(&p->pi.v4, 0, sizeof(p->pi.v4));
			p->pi.v4.ipi_spec_dst = pi4.ipi_spec_dst;
			p->has_pktinfo = 1;
		} else if (cm->cmsg_level == IPPROTO_IPV6 &&
		    cm->cmsg_type == IPV6_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(p->pi.v6))) {
			/* The ifindex stays: link-local needs its scope. */
			memcpy(&p->pi.v6, CMSG_DATA(cm), sizeof(p->pi.v6));
			p->has_pktinfo = 1;
		}
	}
}

/* One received datagram to the core. */
static void
udp_query(struct udp_listener *u, struct msghdr *mh, size_t n)
{
	struct listener *l = u->l;
	struct udp_peer *p;
	char name[ADDRSTRLEN];

	if (mh->msg_flags & MSG_TRUNC) {
		log_debug("udp %s: datagram from %s too long, dropped",
		    u->name, addr_sa_str(mh->msg_name, name, sizeof(name)));
		return;
	}
	if ((p = udp_peer_get()) == NULL) {
		log_warn("udp %s: query dropped", u->name);
		return;
	}
	p->peer.ops = &udp_ops;
	p->peer.transport = LISTEN_UDP;
	memcpy(&p->peer.addr, mh->msg_name, mh->msg_namelen);
	p->peer.addrlen = mh->msg_namelen;
	p->sock = u->sock;
	p->sock->refs++;
	if (u->wildcard)
		udp_get_pktinfo(p, mh);
	l->cb(&p->peer, mh->msg_iov[0].iov_base, n, l->arg);
}

/*
 * Every datagram waiting, UDP_BATCH a call.  A short batch means the
 * queue is empty, so there is no read(2) that only says EAGAIN.
 */
static void
udp_readcb(evutil_socket_t fd, short events, void *arg)
{
	struct udp_listener *u = arg;
	struct udp_io *io = &u->l->udp_io;
	struct msghdr *mh;
	int i, n, total;

	(void)events;
	for (total = 0; total < UDP_READS_PER_EVENT; total += n) {
		for (i = 0; i < UDP_BATCH; i++) {
			mh = &io->msg[i].msg_hdr;
			memset(mh, 0, sizeof(*mh));
			io->iov[i].iov_base = io->buf[i];
			io->iov[i].iov_len = sizeof(io->buf[i]);
			mh->msg_name = &io->addr[i];
			mh->msg_namelen = sizeof(io->addr[i]);
			mh->msg_iov = &io->iov[i];
			mh->msg_iovlen = 1;
			mh->msg_control = io->cmsg[i].buf;
			mh->msg_controllen = sizeof(io->cmsg[i].buf);
		}
		n = recvmmsg(fd, io->msg, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			/* ICMP errors from earlier sends land here too. */
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("udp %s: recvmmsg: %s", u->name,
				    strerror(errno));
			return;
		}
		for (i = 0; i < n; i++)
			udp_query(u, &io->msg[i].msg_hdr, io->msg[i].msg_len);
		if (n < UDP_BATCH)
			return;
	}
}

static void
udp_listener_free(struct udp_listener *u)
{
	if (u == NULL)
		return;
	if (u->ev != NULL)
		event_free(u->ev);
	if (u->sock != NULL) {
		/* Held peers keep the holder; their respond sees -1. */
		udp_flush(u->l);
		close(u->sock->fd);
		u->sock->fd = -1;
		udp_sock_unref(u->sock);
	}
	free(u);
}

/*
 * A burst larger than the receive buffer is dropped by the kernel
 * (RcvbufErrors in /proc/net/snmp).  SO_RCVBUFFORCE passes rmem_max when
 * we still have CAP_NET_ADMIN (before dropping root); otherwise the
 * kernel caps the size, which is said at debug level.
 */
static void
udp_set_rcvbuf(int fd, unsigned size, const char *name)
{
	socklen_t len = sizeof(int);
	int want = (int)size, got = 0;

	if (size == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want,
	    sizeof(want)) == -1 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want)) == -1) {
		log_warn("udp %s: udp-rcvbuf %u", name, size);
		return;
	}
	/* Linux reports twice what it was given, for its bookkeeping. */
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 &&
	    got / 2 < want)
		log_debug("udp %s: receive buffer %d bytes, not %u (see "
		    "net.core.rmem_max)", name, got / 2, size);
}

/* A UDP listener on a, from fd if not -1 (an inherited socket). */
static struct udp_listener *
udp_open(struct listener *l, const struct addr *a, int fd,
    const char *name)
{
	struct udp_listener *u;
	int inherited = fd != -1;

	if (fd == -1 && (fd = inherited_take(a, SOCK_DGRAM)) != -1)
		inherited = 1;
	if (fd == -1 && (fd = sock_open(a, SOCK_DGRAM, name)) == -1)
		return NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->sock = calloc(1, sizeof(*u->sock))) == NULL) {
		log_warn("udp %s", name);
		free(u);
		close(fd);
		return NULL;
	}
	udp_set_rcvbuf(fd, l->cfg->udp_rcvbuf, name);
	/* Ours has it already; a handed-over one may not. */
	if (inherited)
		(void)udp_want_pktinfo(fd, a, name);
	u->sock->fd = fd;
	u->sock->refs = 1;
	u->sock->l = l;
	u->l = l;
	u->addr = *a;
	u->inherited = inherited;
	u->wildcard = addr_is_wildcard(a);
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->ev = event_new(l->base, fd, EV_READ | EV_PERSIST, udp_readcb, u);
	if (u->ev == NULL || event_add(u->ev, NULL) == -1) {
		log_warnx("udp %s: cannot add read event", name);
		udp_listener_free(u);
		return NULL;
	}
	return u;
}

/* TCP */

static void
tcp_unref(struct tcp_conn *c)
{
	if (--c->refs == 0)
		free(c);
}

/* Not idle: a query went to the core (or the connection goes). */
static void
tcp_busy(struct tcp_conn *c)
{
	clock_timer_del(&c->idle);
	if (c->idle_listed) {
		TAILQ_REMOVE(&c->l->idle, c, idle_entry);
		c->idle_listed = 0;
	}
}

/*
 * Close the socket.  The struct stays while peers hold it; their respond
 * sees TCP_CLOSED.  Safe from the connection's own callbacks: libevent
 * defers freeing a bufferevent whose callback is running.
 */
static void
tcp_close(struct tcp_conn *c, const char *why)
{
	if (c->state == TCP_CLOSED)
		return;
	log_debug("tcp %s: closed (%s, %s, %u in flight)", c->name, why,
	    tcp_state_names[c->state], c->inflight);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	tcp_busy(c);
	if (c->kick != NULL)
		event_free(c->kick);
	c->kick = NULL;
	if (c->l != NULL) {
		TAILQ_REMOVE(&c->l->conns, c, entry);
		c->l->nconns--;
		ratelimit_clients_release(c->l->sources, c->slot);
	}
	c->l = NULL;
	c->state = TCP_CLOSED;
	tcp_unref(c);
}

/*
 * The idle timeout for a connection that turns idle now: shorter as the
 * table fills, as unbound does, so that idle clients make way for the
 * next ones before any has to be closed at accept.
 */
static unsigned
tcp_idle_ms(const struct listener *l)
{
	unsigned ms = l->cfg->tcp_idle_timeout_ms;
	unsigned max = l->cfg->max_tcp_clients;
	size_t fill;

	if (ms == 0 || max == 0)
		return ms;
	fill = l->nconns * 100 / max;
	if (fill > 75)
		ms /= 100;
	else if (fill > 50)
		ms /= 10;
	if (ms < LISTEN_TCP_IDLE_MIN_MS)
		ms = l->cfg->tcp_idle_timeout_ms < LISTEN_TCP_IDLE_MIN_MS ?
		    l->cfg->tcp_idle_timeout_ms : LISTEN_TCP_IDLE_MIN_MS;
	return ms;
}

/* Idle from now: last in the eviction order, and the timer (re)armed. */
static void
tcp_idle_arm(struct tcp_conn *c)
{
	unsigned ms = tcp_idle_ms(c->l);

	if (c->idle_listed)
		TAILQ_REMOVE(&c->l->idle, c, idle_entry);
	TAILQ_INSERT_TAIL(&c->l->idle, c, idle_entry);
	c->idle_listed = 1;
	if (ms != 0)
		clock_timer_add(&c->idle, ms);
}

static void
tcp_idlecb(void *arg)
{
	tcp_close(arg, "idle");
}

/* Hand every complete message to the core while there is room. */
static void
tcp_process(struct tcp_conn *c)
{
	struct listener *l = c->l;
	struct evbuffer *in;
	struct tcp_peer *p;
	struct dnsmsg_rd rd;
	uint8_t hdr[2], *buf;
	size_t avail, need, msglen;
	uint16_t prefix;
	long used;

	c->refs++;	/* the core's callback may release peers */
	while (c->state == TCP_OPEN && !c->paused) {
		in = bufferevent_get_input(c->bev);
		avail = evbuffer_get_length(in);
		/*
		 * Peek at the prefix first: making the buffer contiguous
		 * before the whole message is there costs a copy per read,
		 * quadratic for a client that trickles bytes.
		 */
		if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ev_ssize_t)2)
			break;
		dnsmsg_rd_init(&rd, hdr, sizeof(hdr));
		(void)dnsmsg_rd_u16(&rd, &prefix);
		need = 2 + (size_t)prefix;
		if (avail < need)
			break;
		if ((buf = evbuffer_pullup(in, need)) == NULL) {
			tcp_close(c, "out of memory");
			break;
		}
		used = dnsmsg_tcp_frame(buf, need, &msglen);
		if (used == 0)
			break;
		if (used < 0) {
			/* The stream is broken from here on, but the queries
			 * before it were fine: answer them, then close. */
			log_debug("tcp %s: zero length prefix", c->name);
			c->state = TCP_DRAINING;
			bufferevent_disable(c->bev, EV_READ);
			tcp_update(c);
			break;
		}
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			log_warn("tcp %s: query dropped", c->name);
			tcp_close(c, "out of memory");
			break;
		}
		p->peer.ops = &tcp_ops;
		p->peer.transport = LISTEN_TCP;
		memcpy(&p->peer.addr, &c->addr, c->addrlen);
		p->peer.addrlen = c->addrlen;
		p->conn = c;
		c->refs++;
		c->inflight++;
		tcp_busy(c);	/* not idle while answers are due */
		l->cb(&p->peer, buf + 2, msglen, l->arg);
		if (c->state == TCP_CLOSED)
			break;
		evbuffer_drain(in, (size_t)used);
		tcp_update(c);
	}
	tcp_unref(c);
}

static void
tcp_kickcb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	tcp_process(arg);
}

/*
 * Re-evaluate after anything moved: back-pressure on or off, the idle
 * timer, and closing a draining connection once all is written.
 */
static void
tcp_update(struct tcp_conn *c)
{
	size_t unsent;
	int busy;

	if (c->state == TCP_CLOSED)
		return;
	unsent = evbuffer_get_length(bufferevent_get_output(c->bev));
	if (c->inflight == 0 && !c->idle_listed)
		tcp_idle_arm(c);
	if (c->state == TCP_DRAINING) {
		if (c->inflight == 0 && unsent == 0)
			tcp_close(c, "client done");
		return;
	}
	busy = c->inflight >= LISTEN_TCP_MAX_INFLIGHT ||
	    unsent >= LISTEN_TCP_MAX_UNSENT;
	if (busy && !c->paused) {
		log_debug("tcp %s: paused (%u in flight, %zu unsent)",
		    c->name, c->inflight, unsent);
		c->paused = 1;
		bufferevent_disable(c->bev, EV_READ);
	} else if (!busy && c->paused) {
		c->paused = 0;
		bufferevent_enable(c->bev, EV_READ);
		/*
		 * Messages already buffered get no read event.  Deferred,
		 * because we may be inside the core's release.
		 */
		event_active(c->kick, EV_TIMEOUT, 0);
	}
}

static void
tcp_respond(struct listen_peer *peer, const uint8_t *msg, size_t len)
{
	struct tcp_peer *p = (struct tcp_peer *)peer;
	struct tcp_conn *c = p->conn;
	struct dnsmsg_wr w;

	if (c->state == TCP_CLOSED)
		return;
	if (len == 0 || len > TCP_FRAME_MAX - 2) {
		log_warnx("tcp %s: answer of %zu bytes dropped", c->name, len);
		return;
	}
	/* One add so prefix and message leave in one segment. */
	dnsmsg_wr_init(&w, c->l->txbuf, sizeof(c->l->txbuf));
	dnsmsg_wr_u16(&w, (uint16_t)len);
	dnsmsg_wr_bytes(&w, msg, len);
	if (bufferevent_write(c->bev, c->l->txbuf, dnsmsg_wr_finish(&w)) ==
	    -1) {
		log_warnx("tcp %s: cannot queue answer", c->name);
		tcp_close(c, "out of memory");
		return;
	}
	tcp_update(c);
}

static void
tcp_release(struct listen_peer *peer)
{
	struct tcp_peer *p = (struct tcp_peer *)peer;
	struct tcp_conn *c = p->conn;

	c->inflight--;
	tcp_update(c);
	free(p);
	tcp_unref(c);
}

static void
tcp_readcb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	/*
	 * Bytes alone do not restart the idle timer, only whole queries
	 * and answers do: a client trickling a byte at a time (slowloris)
	 * is idle.
	 */
	(void)bev;
	tcp_process(c);
}

static void
tcp_writecb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	/* Everything written: the client is reading, so not idle. */
	(void)bev;
	if (c->inflight == 0)
		tcp_idle_arm(c);
	tcp_update(c);
}

static void
tcp_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		/* RFC 7766 allows a half-close: answer what was asked. */
		c->state = TCP_DRAINING;
		bufferevent_disable(c->bev, EV_READ);
		tcp_update(c);
	} else if (what & BEV_EVENT_ERROR) {
		log_debug("tcp %s: %s", c->name,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		tcp_close(c, "error");
	}
}

unsigned
listen_tcp_per_client(const struct config *cfg)
{
	if (cfg->max_tcp_client != CONFIG_PER_CLIENT_AUTO)
		return cfg->max_tcp_client;
	return cfg->max_tcp_clients >= 4 ? cfg->max_tcp_clients / 4 : 1;
}

/*
 * The connection idle longest (of source k if not NULL) that can go:
 * no query in the core and nothing left to write.  NULL if none.
 */
static struct tcp_conn *
tcp_idlest(struct listener *l, const struct ratelimit_key *k)
{
	struct tcp_conn *c;

	TAILQ_FOREACH(c, &l->idle, idle_entry) {
		if (c->inflight > 0 || evbuffer_get_length(
		    bufferevent_get_output(c->bev)) > 0)
			continue;
		if (k == NULL || (c->key.family == k->family &&
		    memcmp(c->key.addr, k->addr, sizeof(k->addr)) == 0))
			return c;
	}
	return NULL;
}

/*
 * Room for one more connection from k (NULL: a source we cannot key):
 * under the source's cap and the table's, closing the connection idle
 * longest where either is reached.  Returns 0, or -1 if no connection
 * can make way.
 */
static int
tcp_make_room(struct listener *l, const struct ratelimit_key *k)
{
	struct tcp_conn *old;
	unsigned cap = listen_tcp_per_client(l->cfg);

	/* Loops: a reload may have lowered either limit below the count. */
	while (k != NULL && cap != 0 &&
	    ratelimit_clients_count(l->sources, k) >= cap) {
		if ((old = tcp_idlest(l, k)) == NULL)
			return -1;
		tcp_close(old, "evicted: its source is at max-tcp-per-client");
		l->stats.tcp_evicted++;
	}
	while (l->nconns >= l->cfg->max_tcp_clients) {
		if ((old = tcp_idlest(l, NULL)) == NULL)
			return -1;
		tcp_close(old, "evicted: max-tcp-clients reached");
		l->stats.tcp_evicted++;
	}
	return 0;
}

static void
tcp_acceptcb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct tcp_listener *t = arg;
	struct listener *l = t->l;
	struct tcp_conn *c;
	struct ratelimit_key key, *k = &key;
	int on = 1, slot = -1;
	char name[ADDRSTRLEN];

	(void)lev;
	if (ratelimit_key_set(&key, sa, (socklen_t)salen,
	    RATELIMIT_V6_BITS) == -1)
		k = NULL;
	if (tcp_make_room(l, k) == -1 || (k != NULL &&
	    (slot = ratelimit_clients_take(l->sources, k, 0)) == -1)) {
		log_debug("tcp %s: %s refused, %zu clients, none idle",
		    t->name, addr_sa_str(sa, name, sizeof(name)), l->nconns);
		l->stats.tcp_refused++;
		close(fd);
		return;
	}
	/* Answers are written whole; do not hold them for an ACK. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_debug("tcp %s: TCP_NODELAY: %s", t->name, strerror(errno));
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("tcp %s: accept", t->name);
		ratelimit_clients_release(l->sources, slot);
		close(fd);
		return;
	}
	clock_timer_init(&c->idle, l->base, tcp_idlecb, c);
	c->l = l;
	c->slot = slot;
	if (k != NULL)
		c->key = key;
	c->refs = 1;
	c->state = TCP_OPEN;
	memcpy(&c->addr, sa, (size_t)salen);
	c->addrlen = (socklen_t)salen;
	addr_sa_str(sa, c->name, sizeof(c->name));
	TAILQ_INSERT_TAIL(&l->conns, c, entry);
	l->nconns++;	/* from here tcp_close() cleans up */
	c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		goto fail;
	}
	c->kick = event_new(l->base, -1, 0, tcp_kickcb, c);
	if (c->kick == NULL)
		goto fail;
	bufferevent_setcb(c->bev, tcp_readcb, tcp_writecb, tcp_eventcb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1)
		goto fail;
	tcp_idle_arm(c);
	log_debug("tcp %s: client %s", t->name, c->name);
	return;
fail:
	log_warnx("tcp %s: cannot set up client %s", t->name, c->name);
	tcp_close(c, "setup failed");
}

static void
tcp_pausecb(void *arg)
{
	struct tcp_listener *t = arg;

	evconnlistener_enable(t->lev);
}

/*
 * accept failed.  Linux takes a descriptor before it looks at the
 * backlog, so when out of descriptors every accept loop that used the
 * last one ends here with nobody waiting: do nothing then.  With a
 * connection waiting, close the one idle longest and let the loop try
 * again (the listening socket is still readable), so that the newcomer
 * does not wait in the backlog.  With none idle, or out of memory,
 * stop accepting for a while rather than spin.
 */
static void
tcp_errorcb(struct evconnlistener *lev, void *arg)
{
	struct tcp_listener *t = arg;
	struct tcp_conn *old;
	struct pollfd pfd;
	int err = errno;

	if (err == EMFILE || err == ENFILE) {
		pfd.fd = evconnlistener_get_fd(lev);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) == 0)
			return;
		if ((old = tcp_idlest(t->l, NULL)) != NULL) {
			tcp_close(old, "evicted: out of descriptors");
			t->l->stats.tcp_evicted++;
			return;
		}
	}
	errno = err;
	log_warn("tcp %s: accept", t->name);
	evconnlistener_disable(lev);
	clock_timer_add(&t->pause, ACCEPT_PAUSE_MS);
}

static void
tcp_listener_free(struct tcp_listener *t)
{
	if (t == NULL)
		return;
	clock_timer_del(&t->pause);
	if (t->lev != NULL)
		evconnlistener_free(t->lev);
	free(t);
}

/* A TCP listener on a, from fd if not -1 (an inherited socket). */
static struct tcp_listener *
tcp_open(struct listener *l, const struct addr *a, int fd,
    const char *name)
{
	struct tcp_listener *t;
	int inherited = fd != -1;

	if (fd == -1 && (fd = inherited_take(a, SOCK_STREAM)) != -1)
		inherited = 1;
	if (fd == -1 && (fd = sock_open(a, SOCK_STREAM, name)) == -1)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		log_warn("tcp %s", name);
		close(fd);
		return NULL;
	}
	clock_timer_init(&t->pause, l->base, tcp_pausecb, t);
	t->l = l;
	t->addr = *a;
	t->inherited = inherited;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->lev = evconnlistener_new(l->base, tcp_acceptcb, t,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (t->lev == NULL) {
		log_warnx("tcp %s: cannot listen", name);
		close(fd);
		free(t);
		return NULL;
	}
	evconnlistener_set_error_cb(t->lev, tcp_errorcb);
	return t;
}

/* The listener */

/*
 * Make the listener's sockets those of cfg: keep the ones whose address
 * is still listed (with their clients and the peers they hold), open the
 * new ones, close the rest; inherited sockets always stay.  All or
 * nothing: on failure nothing has changed.
 */
static int
listen_apply(struct listener *l, const struct config *cfg)
{
	struct udp_listener *nu[LISTEN_MAX_SOCKETS], *newu[CONFIG_MAX_LISTEN];
	struct tcp_listener *nt[LISTEN_MAX_SOCKETS], *newt[CONFIG_MAX_LISTEN];
	int ukeep[LISTEN_MAX_SOCKETS] = { 0 }, tkeep[LISTEN_MAX_SOCKETS] = { 0 };
	size_t nnu = 0, nnt = 0, nnewu = 0, nnewt = 0, i, j;
	const struct addr *a;
	char name[ADDRSTRLEN];

	/* Every connection has a source entry: room for max-tcp-clients. */
	if (ratelimit_clients_grow(l->sources, cfg->max_tcp_clients) == -1) {
		log_warnx("listen: out of memory for %u TCP clients",
		    cfg->max_tcp_clients);
		return -1;
	}
	/* Inherited sockets stay whatever the configuration says. */
	for (j = 0; j < l->nudp; j++)
		if (l->udp[j]->inherited) {
			ukeep[j] = 1;
			nu[nnu++] = l->udp[j];
		}
	for (j = 0; j < l->ntcp; j++)
		if (l->tcp[j]->inherited) {
			tkeep[j] = 1;
			nt[nnt++] = l->tcp[j];
		}
	for (i = 0; i < cfg->nlisten && i < CONFIG_MAX_LISTEN; i++) {
		a = &cfg->listen[i];
		if (a->len == 0)
			continue;
		addr_str(a, name, sizeof(name));
		if (a->ss.ss_family != AF_INET &&
		    a->ss.ss_family != AF_INET6) {
			log_warnx("listen %s: not an IP address", name);
			goto fail;
		}
		if (nnu == LISTEN_MAX_SOCKETS || nnt == LISTEN_MAX_SOCKETS) {
			log_warnx("listen %s: too many sockets", name);
			goto fail;
		}
		for (j = 0; j < l->nudp && !addr_eq(&l->udp[j]->addr, a); j++)
			;
		if (j < l->nudp) {
			if (!ukeep[j]) {
				ukeep[j] = 1;
				nu[nnu++] = l->udp[j];
			}
		} else {
			if ((newu[nnewu] = udp_open(l, a, -1, name)) == NULL)
				goto fail;
			nu[nnu++] = newu[nnewu++];
		}
		for (j = 0; j < l->ntcp && !addr_eq(&l->tcp[j]->addr, a); j++)
			;
		if (j < l->ntcp) {
			if (!tkeep[j]) {
				tkeep[j] = 1;
				nt[nnt++] = l->tcp[j];
			}
		} else {
			if ((newt[nnewt] = tcp_open(l, a, -1, name)) == NULL)
				goto fail;
			nt[nnt++] = newt[nnewt++];
		}
		log_debug("listening on %s (udp, tcp)", name);
	}
	for (j = 0; j < l->nudp; j++)
		if (!ukeep[j]) {
			log_info("udp %s: closed", l->udp[j]->name);
			udp_listener_free(l->udp[j]);
		}
	for (j = 0; j < l->ntcp; j++)
		if (!tkeep[j]) {
			log_info("tcp %s: closed", l->tcp[j]->name);
			tcp_listener_free(l->tcp[j]);
		}
	memcpy(l->udp, nu, nnu * sizeof(nu[0]));
	l->nudp = nnu;
	memcpy(l->tcp, nt, nnt * sizeof(nt[0]));
	l->ntcp = nnt;
	l->cfg = cfg;
	return 0;
 fail:
	while (nnewu > 0)
		udp_listener_free(newu[--nnewu]);
	while (nnewt > 0)
		tcp_listener_free(newt[--nnewt]);
	return -1;
}

struct listener *
listen_new(struct event_base *base, const struct config *cfg,
    listen_query_cb *cb, void *arg)
{
	struct listener *l;
	uint64_t seed;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		log_warn("listen");
		return NULL;
	}
	l->base = base;
	l->cfg = cfg;
	l->cb = cb;
	l->arg = arg;
	TAILQ_INIT(&l->conns);
	TAILQ_INIT(&l->idle);
	arc4random_buf(&seed, sizeof(seed));
	nlisteners++;
	if ((l->sources = ratelimit_clients_new(cfg->max_tcp_clients,
	    seed)) == NULL ||
	    (l->udp_io.flush = event_new(base, -1, 0, udp_flush_cb, l)) ==
	    NULL || listen_apply(l, cfg) == -1 || inherited_adopt(l) == -1) {
		listen_free(l);
		return NULL;
	}
	return l;
}

int
listen_update(struct listener *l, const struct config *cfg)
{
	return listen_apply(l, cfg);
}

size_t
listen_tcp_clients(const struct listener *l)
{
	return l->nconns;
}

const struct listen_stats *
listen_stats(const struct listener *l)
{
	return &l->stats;
}

void
listen_free(struct listener *l)
{
	size_t i;

	if (l == NULL)
		return;
	while (!TAILQ_EMPTY(&l->conns))
		tcp_close(TAILQ_FIRST(&l->conns), "shutdown");
	for (i = 0; i < l->ntcp; i++)
		tcp_listener_free(l->tcp[i]);
	for (i = 0; i < l->nudp; i++)
		udp_listener_free(l->udp[i]);
	udp_flush(l);
	if (l->udp_io.flush != NULL)
		event_free(l->udp_io.flush);
	if (--nlisteners == 0)
		udp_peer_pool_free();
	if (l->sources != NULL)
		ratelimit_clients_free(l->sources);
	free(l);
}
