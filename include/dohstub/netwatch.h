/*
 * netwatch: tells the daemon that the network or resolv.conf changed.
 *
 * Two sources on the event base: an rtnetlink socket (IPv4 and IPv6
 * address changes, default routes) and an inotify watch on the directory
 * of resolv.conf (editors and resolvconf replace the file by a rename,
 * which a watch on the file itself would miss).  A burst of events (DHCP
 * brings an address, a route and a second address within milliseconds)
 * becomes one callback: NETWATCH_QUIET_MS after the last event, at most
 * NETWATCH_MAX_WAIT_MS after the first.  Time comes from the clock seam,
 * so tests step through the debounce.
 *
 * A source that cannot be opened (no netlink in some containers, no
 * inotify instance left) is logged once at info level and left out: the
 * daemon runs as before, and a dead connection is still found by the
 * liveness probes of doh.c.
 */
#ifndef DOHSTUB_NETWATCH_H
#define DOHSTUB_NETWATCH_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

/* What changed: a mask of these. */
#define NETWATCH_NETWORK	0x1	/* an address or a default route */
#define NETWATCH_RESOLV		0x2	/* resolv.conf written or replaced */

#define NETWATCH_QUIET_MS	100	/* a burst ends after this much quiet */
#define NETWATCH_MAX_WAIT_MS	1000	/* or this long after it began */

struct netwatch;

/*
 * what: the NETWATCH_* bits seen in the burst.  The callback must not
 * free nw (defer it).
 */
typedef void netwatch_cb(unsigned what, void *arg);

/*
 * Watch what the mask watch names: NETWATCH_NETWORK opens rtnetlink,
 * NETWATCH_RESOLV watches resolv_conf (copied; also the file a symbolic
 * link there points to, as /etc/resolv.conf often is).  watch 0 opens
 * nothing (tests feed netwatch_input_*()).  A source that cannot be
 * opened is logged and left out; NULL only when out of memory.
 */
struct netwatch *netwatch_new(struct event_base *base, unsigned watch,
	    const char *resolv_conf, netwatch_cb *cb, void *arg);

/* The sources actually open (NETWATCH_* mask). */
unsigned netwatch_active(const struct netwatch *nw);

/* Cancels a pending callback.  NULL is a no-op. */
void	netwatch_free(struct netwatch *nw);

/*
 * The addresses seen so far.  The kernel repeats RTM_NEWADDR for an
 * address that only got new lifetimes (every DHCP renewal, every IPv6
 * router advertisement): a known one is no change.  When the table is
 * full, a new address counts and is not remembered.
 */
#define NETWATCH_MAX_ADDRS	64
struct netwatch_addr {
	int		ifindex;
	uint8_t		family, prefixlen;
	uint8_t		addr[16];
};
struct netwatch_addrs {
	struct netwatch_addr	a[NETWATCH_MAX_ADDRS];
	size_t			n;
};

/*
 * Count the messages of a buffer read from the rtnetlink socket that
 * are a change we act on: an IPv4 or IPv6 address of global or site
 * scope added (not while it is tentative, not one in known already) or
 * removed, a default unicast route added or removed (not a cached
 * clone, not in the local table).  Link and host scope addresses (every
 * new veth's fe80::, 127.x on lo) change no path to a server.  known
 * (NULL: none kept) is updated.  Pure: walks buf (len bytes, any
 * alignment) with length checks, stops at the first malformed header.
 */
size_t	netwatch_netlink_changes(const uint8_t *buf, size_t len,
	    struct netwatch_addrs *known);

/* A file netwatch cares about: inotify watch descriptor and name. */
struct netwatch_file {
	int		 wd;		/* -1: none */
	const char	*name;		/* the base name in its directory */
};

/*
 * 1 if a buffer read from inotify (len bytes, any alignment) holds an
 * event on one of files[0..n) by name (or a queue overflow: something
 * may have been missed), else 0.  Pure, length-checked.
 */
int	netwatch_inotify_match(const uint8_t *buf, size_t len,
	    const struct netwatch_file *files, size_t n);

/*
 * What the rtnetlink read callback does with what it read: parse, then
 * feed the debounce; and the debounce itself (what: NETWATCH_* bits).
 * For tests, on a netwatch made with watch 0.
 */
void	netwatch_input_netlink(struct netwatch *nw, const uint8_t *buf,
	    size_t len);
void	netwatch_note(struct netwatch *nw, unsigned what);

#endif
