/*
 * netwatch: rtnetlink and inotify on the event base, debounced (see
 * netwatch.h).  The parsers are pure and walk their buffers through
 * length checks, copying each header out (fuzz/fuzz_netwatch.c).
 */
#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dohstub/clock.h"
#include "dohstub/log.h"
#include "dohstub/netwatch.h"

/* One read: the kernel's netlink messages are far smaller. */
#define NETWATCH_BUF		16384
/* resolv.conf's directory, and the one its symbolic link points to. */
#define NETWATCH_NFILES		2
#define NETWATCH_IN_MASK	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | \
				 IN_DELETE | IN_MOVED_FROM)

struct netwatch {
	struct event_base	*base;
	netwatch_cb		*cb;
	void			*arg;
	int			 nl_fd, in_fd;	/* -1: not open */
	struct event		*nl_ev, *in_ev;
	char			*path;		/* resolv.conf as configured */
	char			*dir[NETWATCH_NFILES];
	char			*base_name[NETWATCH_NFILES];
	struct netwatch_file	 files[NETWATCH_NFILES];
	size_t			 nfiles;
	struct clock_timer	 timer;
	struct netwatch_addrs	 addrs;		/* seen on netlink */
	unsigned		 pending;	/* NETWATCH_* of the burst */
	uint64_t		 first_ms;	/* when the burst began */
};

/* Aligned for the headers, though the parsers do not rely on it. */
static union {
	struct nlmsghdr		nh;
	struct inotify_event	ie;
	uint8_t			bytes[NETWATCH_BUF];
} netwatch_buf;

/*
 * The key of an address message (body: len bytes after the header): its
 * interface, family, prefix and IFA_LOCAL (or IFA_ADDRESS) attribute.
 * Returns -1 if it has no address of its family's length.
 */
static int
addr_key(const struct ifaddrmsg *ifa, const uint8_t *body, size_t len,
    struct netwatch_addr *k)
{
	struct rtattr rta;
	size_t off = NLMSG_ALIGN(sizeof(*ifa)), alen, plen;
	int found = 0;

	alen = ifa->ifa_family == AF_INET ? 4 : 16;
	memset(k, 0, sizeof(*k));
	k->ifindex = (int)ifa->ifa_index;
	k->family = ifa->ifa_family;
	k->prefixlen = ifa->ifa_prefixlen;
	while (off <= len && len - off >= sizeof(rta)) {
		memcpy(&rta, body + off, sizeof(rta));
		if (rta.rta_len < sizeof(rta) || rta.rta_len > len - off)
			break;
		plen = rta.rta_len - RTA_LENGTH(0);
		if ((rta.rta_type == IFA_LOCAL ||
		    (rta.rta_type == IFA_ADDRESS && !found)) && plen == alen) {
			memcpy(k->addr, body + off + RTA_LENGTH(0), alen);
			found = 1;
		}
		off += RTA_ALIGN(rta.rta_len);
	}
	return found ? 0 : -1;
}

static struct netwatch_addr *
addr_find(struct netwatch_addrs *known, const struct netwatch_addr *k)
{
	size_t i;

	for (i = 0; i < known->n; i++)
		if (memcmp(&known->a[i], k, sizeof(*k)) == 0)
			return &known->a[i];
	return NULL;
}

/* Is an address message a change?  Updates known. */
static int
addr_changed(struct netwatch_addrs *known, int type,
    const struct ifaddrmsg *ifa, const uint8_t *body, size_t len)
{
	struct netwatch_addr k, *e;

	if (known == NULL || addr_key(ifa, body, len, &k) == -1)
		return 1;
	e = addr_find(known, &k);
	if (type == RTM_DELADDR) {
		if (e != NULL)
			*e = known->a[--known->n];
		return 1;
	}
	if (e != NULL)
		return 0;	/* a refresh: new lifetimes */
	if (known->n < NETWATCH_MAX_ADDRS)
		known->a[known->n++] = k;
	return 1;
}

size_t
netwatch_netlink_changes(const uint8_t *buf, size_t len,
    struct netwatch_addrs *known)
{
	struct nlmsghdr nh;
	struct ifaddrmsg ifa;
	struct rtmsg rtm;
	size_t off = 0, n = 0, step;
	const uint8_t *body;

	while (len - off >= sizeof(nh)) {
		memcpy(&nh, buf + off, sizeof(nh));
		if (nh.nlmsg_len < sizeof(nh) || nh.nlmsg_len > len - off)
			break;
		body = buf + off + NLMSG_HDRLEN;
		switch (nh.nlmsg_type) {
		case RTM_NEWADDR:
		case RTM_DELADDR:
			if (nh.nlmsg_len < NLMSG_LENGTH(sizeof(ifa)))
				break;
			memcpy(&ifa, body, sizeof(ifa));
			/* A tentative address is not usable yet: its
			 * second message, after DAD, counts. */
			if ((ifa.ifa_family == AF_INET ||
			    ifa.ifa_family == AF_INET6) &&
			    ifa.ifa_scope < RT_SCOPE_LINK &&
			    !(ifa.ifa_flags & IFA_F_TENTATIVE) &&
			    addr_changed(known, nh.nlmsg_type, &ifa, body,
			    nh.nlmsg_len - NLMSG_HDRLEN))
				n++;
			break;
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			if (nh.nlmsg_len < NLMSG_LENGTH(sizeof(rtm)))
				break;
			memcpy(&rtm, body, sizeof(rtm));
			/* Default routes of any table (VPNs use their own),
			 * not the kernel's cached clones. */
			if ((rtm.rtm_family == AF_INET ||
			    rtm.rtm_family == AF_INET6) &&
			    rtm.rtm_dst_len == 0 &&
			    rtm.rtm_type == RTN_UNICAST &&
			    rtm.rtm_table != RT_TABLE_LOCAL &&
			    !(rtm.rtm_flags & RTM_F_CLONED))
				n++;
			break;
		default:
			break;
		}
		step = NLMSG_ALIGN(nh.nlmsg_len);
		if (step > len - off)
			break;
		off += step;
	}
	return n;
}

int
netwatch_inotify_match(const uint8_t *buf, size_t len,
    const struct netwatch_file *files, size_t n)
{
	struct inotify_event ie;
	const char *name;
	size_t off = 0, i, nlen;

	while (len - off >= sizeof(ie)) {
		memcpy(&ie, buf + off, sizeof(ie));
		off += sizeof(ie);
		if (ie.len > len - off)
			break;
		name = (const char *)buf + off;
		off += ie.len;
		if (ie.mask & IN_Q_OVERFLOW)
			return 1;
		/* The name is NUL-padded within len; unterminated is bad. */
		if (ie.len == 0 || (nlen = strnlen(name, ie.len)) == ie.len)
			continue;
		for (i = 0; i < n; i++)
			if (files[i].wd != -1 && files[i].wd == ie.wd &&
			    strlen(files[i].name) == nlen &&
			    memcmp(files[i].name, name, nlen) == 0)
				return 1;
	}
	return 0;
}

static void
netwatch_timer_cb(void *arg)
{
	struct netwatch *nw = arg;
	unsigned what = nw->pending;

	nw->pending = 0;
	log_debug("netwatch: %s%s%s changed", what & NETWATCH_NETWORK ?
	    "the network" : "", what == (NETWATCH_NETWORK | NETWATCH_RESOLV) ?
	    " and " : "", what & NETWATCH_RESOLV ? "resolv.conf" : "");
	nw->cb(what, nw->arg);
}

void
netwatch_note(struct netwatch *nw, unsigned what)
{
	uint64_t now = clock_ms(), age;

	if (what == 0)
		return;
	if (nw->pending == 0)
		nw->first_ms = now;
	nw->pending |= what;
	/* Quiet ends a burst; a stream of events is cut at the cap. */
	age = now - nw->first_ms;
	if (age >= NETWATCH_MAX_WAIT_MS)
		clock_timer_add(&nw->timer, 0);
	else
		clock_timer_add(&nw->timer,
		    NETWATCH_MAX_WAIT_MS - age < NETWATCH_QUIET_MS ?
		    (unsigned)(NETWATCH_MAX_WAIT_MS - age) : NETWATCH_QUIET_MS);
}

void
netwatch_input_netlink(struct netwatch *nw, const uint8_t *buf, size_t len)
{
	size_t n;

	if ((n = netwatch_netlink_changes(buf, len, &nw->addrs)) > 0) {
		log_debug("netwatch: %zu address or route change(s)", n);
		netwatch_note(nw, NETWATCH_NETWORK);
	}
}

static void
netwatch_nl_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct netwatch *nw = arg;
	struct sockaddr_nl sa;
	struct iovec iov;
	struct msghdr msg;
	ssize_t n;

	(void)ev;
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = netwatch_buf.bytes;
		iov.iov_len = sizeof(netwatch_buf.bytes);
		msg.msg_name = &sa;
		msg.msg_namelen = sizeof(sa);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if ((n = recvmsg(fd, &msg, 0)) == -1) {
			if (errno == ENOBUFS) {
				/* The kernel dropped some: assume a change. */
				log_debug("netwatch: netlink overrun");
				netwatch_note(nw, NETWATCH_NETWORK);
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				log_warn("netwatch: netlink");
			return;
		}
		/* Only the kernel speaks for the network. */
		if (msg.msg_namelen < sizeof(sa) || sa.nl_pid != 0)
			continue;
		if (msg.msg_flags & MSG_TRUNC)
			netwatch_note(nw, NETWATCH_NETWORK);
		netwatch_input_netlink(nw, netwatch_buf.bytes, (size_t)n);
	}
}

static int	netwatch_add_file(struct netwatch *, const char *);

/*
 * /etc/resolv.conf is often a link into /run (systemd-resolved,
 * resolvconf): the file that changes is there, and the link may be
 * repointed or its target appear later (early boot).  Watch where it
 * points now, as the second file.
 */
static void
netwatch_follow(struct netwatch *nw)
{
	char *real, cur[PATH_MAX];

	if ((real = realpath(nw->path, NULL)) == NULL)
		return;
	if (strcmp(real, nw->path) == 0)
		goto out;
	if (nw->nfiles == NETWATCH_NFILES) {
		snprintf(cur, sizeof(cur), "%s/%s",
		    strcmp(nw->dir[1], "/") == 0 ? "" : nw->dir[1],
		    nw->base_name[1]);
		if (strcmp(cur, real) == 0)
			goto out;
		/* One watch per directory: the first file's stays. */
		if (nw->files[1].wd != nw->files[0].wd)
			(void)inotify_rm_watch(nw->in_fd, nw->files[1].wd);
		free(nw->dir[1]);
		free(nw->base_name[1]);
		nw->dir[1] = nw->base_name[1] = NULL;
		nw->files[1].wd = -1;
		nw->nfiles = 1;
	}
	if (netwatch_add_file(nw, real) == -1)
		log_debug("netwatch: cannot watch %s", real);
	else
		log_debug("netwatch: %s is %s", nw->path, real);
 out:
	free(real);
}

static void
netwatch_in_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct netwatch *nw = arg;
	ssize_t n;

	(void)ev;
	while ((n = read(fd, netwatch_buf.bytes,
	    sizeof(netwatch_buf.bytes))) > 0)
		if (netwatch_inotify_match(netwatch_buf.bytes, (size_t)n,
		    nw->files, nw->nfiles)) {
			netwatch_follow(nw);
			netwatch_note(nw, NETWATCH_RESOLV);
		}
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)
		log_warn("netwatch: inotify");
}

static int
netwatch_open_netlink(struct netwatch *nw)
{
	struct sockaddr_nl sa;

	if ((nw->nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, NETLINK_ROUTE)) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
	    RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	if (bind(nw->nl_fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (nw->nl_ev = event_new(nw->base, nw->nl_fd, EV_READ | EV_PERSIST,
	    netwatch_nl_cb, nw)) == NULL || event_add(nw->nl_ev, NULL) == -1)
		return -1;
	return 0;
}

/* Split path into directory and base name, both allocated. */
static int
netwatch_split(const char *path, char **dir, char **name)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		*dir = strdup(".");
		*name = strdup(path);
	} else {
		*dir = slash == path ? strdup("/") :
		    strndup(path, (size_t)(slash - path));
		*name = strdup(slash + 1);
	}
	if (*dir == NULL || *name == NULL || **name == '\0') {
		free(*dir);
		free(*name);
		*dir = *name = NULL;
		return -1;
	}
	return 0;
}

/* Watch the directory of path for its base name: file i. */
static int
netwatch_add_file(struct netwatch *nw, const char *path)
{
	size_t i = nw->nfiles;

	if (i >= NETWATCH_NFILES ||
	    netwatch_split(path, &nw->dir[i], &nw->base_name[i]) == -1)
		return -1;
	nw->files[i].name = nw->base_name[i];
	if ((nw->files[i].wd = inotify_add_watch(nw->in_fd, nw->dir[i],
	    NETWATCH_IN_MASK)) == -1) {
		free(nw->dir[i]);
		free(nw->base_name[i]);
		nw->dir[i] = nw->base_name[i] = NULL;
		return -1;
	}
	nw->nfiles++;
	return 0;
}

static int
netwatch_open_inotify(struct netwatch *nw)
{
	if ((nw->in_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    netwatch_add_file(nw, nw->path) == -1)
		return -1;
	netwatch_follow(nw);
	if ((nw->in_ev = event_new(nw->base, nw->in_fd, EV_READ | EV_PERSIST,
	    netwatch_in_cb, nw)) == NULL || event_add(nw->in_ev, NULL) == -1)
		return -1;
	return 0;
}

static void
netwatch_close(int *fd, struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

struct netwatch *
netwatch_new(struct event_base *base, unsigned watch, const char *resolv_conf,
    netwatch_cb *cb, void *arg)
{
	struct netwatch *nw;

	if ((nw = calloc(1, sizeof(*nw))) == NULL) {
		log_warn("netwatch");
		return NULL;
	}
	nw->base = base;
	nw->cb = cb;
	nw->arg = arg;
	nw->nl_fd = nw->in_fd = -1;
	clock_timer_init(&nw->timer, base, netwatch_timer_cb, nw);
	if ((watch & NETWATCH_NETWORK) && netwatch_open_netlink(nw) == -1) {
		log_info("netwatch: no rtnetlink (%s): network changes are "
		    "noticed only when a connection goes silent",
		    strerror(errno));
		netwatch_close(&nw->nl_fd, &nw->nl_ev);
	}
	if ((watch & NETWATCH_RESOLV) && resolv_conf != NULL) {
		if ((nw->path = strdup(resolv_conf)) == NULL) {
			log_warn("netwatch");
			netwatch_free(nw);
			return NULL;
		}
		if (netwatch_open_inotify(nw) == -1) {
			log_info("netwatch: cannot watch %s (%s): its changes "
			    "are read on SIGHUP only", resolv_conf,
			    strerror(errno));
			netwatch_close(&nw->in_fd, &nw->in_ev);
		}
	}
	if (watch != 0)
		log_debug("netwatch: watching%s%s%s",
		    nw->nl_fd != -1 ? " rtnetlink" : "",
		    nw->in_fd != -1 ? " " : "",
		    nw->in_fd != -1 ? nw->path : "");
	return nw;
}

unsigned
netwatch_active(const struct netwatch *nw)
{
	return (nw->nl_fd != -1 ? NETWATCH_NETWORK : 0) |
	    (nw->in_fd != -1 ? NETWATCH_RESOLV : 0);
}

void
netwatch_free(struct netwatch *nw)
{
	size_t i;

	if (nw == NULL)
		return;
	clock_timer_del(&nw->timer);
	netwatch_close(&nw->nl_fd, &nw->nl_ev);
	netwatch_close(&nw->in_fd, &nw->in_ev);	/* drops the watches */
	for (i = 0; i < NETWATCH_NFILES; i++) {
		free(nw->dir[i]);
		free(nw->base_name[i]);
	}
	free(nw->path);
	free(nw);
}
