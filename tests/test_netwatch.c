/*
 * netwatch without root: which rtnetlink messages count (crafted
 * buffers), which inotify events match resolv.conf, and the debounce
 * with stepped time (a DHCP-like burst is one callback).
 */
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dohstub/clock.h"
#include "dohstub/log.h"
#include "dohstub/netwatch.h"

#include "check.h"

static uint8_t buf[4096];
static size_t used;

/* Append a netlink message of type with body (blen bytes). */
static void
put_msg(uint16_t type, const void *body, size_t blen)
{
	struct nlmsghdr nh;

	memset(&nh, 0, sizeof(nh));
	nh.nlmsg_len = (uint32_t)NLMSG_LENGTH(blen);
	nh.nlmsg_type = type;
	memcpy(buf + used, &nh, sizeof(nh));
	memcpy(buf + used + NLMSG_HDRLEN, body, blen);
	used += NLMSG_ALIGN(nh.nlmsg_len);
}

static void
put_addr(uint16_t type, uint8_t family, uint8_t flags)
{
	struct ifaddrmsg ifa;

	memset(&ifa, 0, sizeof(ifa));
	ifa.ifa_family = family;
	ifa.ifa_flags = flags;
	ifa.ifa_prefixlen = family == AF_INET ? 24 : 64;
	ifa.ifa_index = 1;
	put_msg(type, &ifa, sizeof(ifa));
}

/* An address message as the kernel sends it: IFA_ADDRESS, IFA_LOCAL. */
static void
put_addr_at(uint16_t type, uint8_t family, uint8_t scope, int ifindex,
    const uint8_t *a)
{
	uint8_t body[64];
	struct ifaddrmsg ifa;
	struct rtattr rta;
	size_t alen = family == AF_INET ? 4 : 16, off, k;

	memset(body, 0, sizeof(body));
	memset(&ifa, 0, sizeof(ifa));
	ifa.ifa_family = family;
	ifa.ifa_scope = scope;
	ifa.ifa_prefixlen = family == AF_INET ? 24 : 64;
	ifa.ifa_index = (unsigned)ifindex;
	memcpy(body, &ifa, sizeof(ifa));
	off = NLMSG_ALIGN(sizeof(ifa));
	for (k = 0; k < 2; k++) {
		rta.rta_len = (unsigned short)RTA_LENGTH(alen);
		rta.rta_type = k == 0 ? IFA_ADDRESS : IFA_LOCAL;
		memcpy(body + off, &rta, sizeof(rta));
		memcpy(body + off + RTA_LENGTH(0), a, alen);
		off += RTA_ALIGN(rta.rta_len);
	}
	put_msg(type, body, off);
}

/*
 * A refresh of a known address (new lifetimes, as on every DHCP renewal
 * or router advertisement) is no change; one removed and added again
 * is.  Link and host scope addresses never count.
 */
static void
test_netlink_known(void)
{
	static const uint8_t a4[4] = { 10, 0, 0, 1 }, b4[4] = { 10, 0, 0, 2 };
	static const uint8_t ll[16] = { 0xfe, 0x80, [15] = 1 };
	struct netwatch_addrs known;
	size_t i;

	memset(&known, 0, sizeof(known));
	put_addr_at(RTM_NEWADDR, AF_INET, RT_SCOPE_UNIVERSE, 2, a4);
	CHECK_EQ(netwatch_netlink_changes(buf, used, &known), 1);
	CHECK_EQ(netwatch_netlink_changes(buf, used, &known), 0);
	used = 0;
	/* Another interface or address is another one. */
	put_addr_at(RTM_NEWADDR, AF_INET, RT_SCOPE_UNIVERSE, 3, a4);
	put_addr_at(RTM_NEWADDR, AF_INET, RT_SCOPE_UNIVERSE, 2, b4);
	put_addr_at(RTM_NEWADDR, AF_INET, RT_SCOPE_UNIVERSE, 2, a4);
	CHECK_EQ(netwatch_netlink_changes(buf, used, &known), 2);
	used = 0;
	CHECK_EQ(known.n, 3);
	put_addr_at(RTM_DELADDR, AF_INET, RT_SCOPE_UNIVERSE, 2, a4);
	CHECK_EQ(netwatch_netlink_changes(buf, used, &known), 1);
	CHECK_EQ(known.n, 2);
	used = 0;
	put_addr_at(RTM_NEWADDR, AF_INET, RT_SCOPE_UNIVERSE, 2, a4);
	CHECK_EQ(netwatch_netlink_changes(buf, used, &known), 1);
	used = 0;
	put_addr_at(RTM_NEWADDR, AF_INET6, RT_SCOPE_LINK, 4, ll);
	put_addr_at(RTM_NEWADDR, AF_INET, RT_SCOPE_HOST, 1, a4);
	put_addr_at(RTM_DELADDR, AF_INET6, RT_SCOPE_LINK, 4, ll);
	CHECK_EQ(netwatch_netlink_changes(buf, used, &known), 0);
	used = 0;
	/* A full table still counts new addresses, and forgets them. */
	for (i = known.n; i < NETWATCH_MAX_ADDRS; i++)
		known.a[known.n++].ifindex = 1000 + (int)i;
	put_addr_at(RTM_NEWADDR, AF_INET, RT_SCOPE_UNIVERSE, 9, b4);
	CHECK_EQ(netwatch_netlink_changes(buf, used, &known), 1);
	CHECK_EQ(netwatch_netlink_changes(buf, used, &known), 1);
	CHECK_EQ(known.n, NETWATCH_MAX_ADDRS);
	used = 0;
}

static void
put_route(uint16_t type, uint8_t family, uint8_t dst_len, uint8_t table,
    uint8_t rtype, unsigned flags)
{
	struct rtmsg rtm;

	memset(&rtm, 0, sizeof(rtm));
	rtm.rtm_family = family;
	rtm.rtm_dst_len = dst_len;
	rtm.rtm_table = table;
	rtm.rtm_type = rtype;
	rtm.rtm_flags = flags;
	put_msg(type, &rtm, sizeof(rtm));
}

static size_t
changes(void)
{
	size_t n = netwatch_netlink_changes(buf, used, NULL);

	used = 0;
	return n;
}

static void
test_netlink_filter(void)
{
	struct ifaddrmsg ifa;

	/* Addresses of both families count, tentative ones do not. */
	put_addr(RTM_NEWADDR, AF_INET, 0);
	CHECK_EQ(changes(), 1);
	put_addr(RTM_DELADDR, AF_INET6, IFA_F_PERMANENT);
	CHECK_EQ(changes(), 1);
	put_addr(RTM_NEWADDR, AF_INET6, IFA_F_TENTATIVE);
	CHECK_EQ(changes(), 0);
	put_addr(RTM_NEWADDR, AF_PACKET, 0);
	CHECK_EQ(changes(), 0);

	/* Default routes count, in any table but local; others do not. */
	put_route(RTM_NEWROUTE, AF_INET, 0, RT_TABLE_MAIN, RTN_UNICAST, 0);
	CHECK_EQ(changes(), 1);
	put_route(RTM_DELROUTE, AF_INET6, 0, 200, RTN_UNICAST, 0);
	CHECK_EQ(changes(), 1);
	put_route(RTM_NEWROUTE, AF_INET, 24, RT_TABLE_MAIN, RTN_UNICAST, 0);
	CHECK_EQ(changes(), 0);
	put_route(RTM_NEWROUTE, AF_INET, 0, RT_TABLE_LOCAL, RTN_UNICAST, 0);
	CHECK_EQ(changes(), 0);
	put_route(RTM_NEWROUTE, AF_INET6, 0, RT_TABLE_MAIN, RTN_UNREACHABLE,
	    0);
	CHECK_EQ(changes(), 0);
	put_route(RTM_NEWROUTE, AF_INET6, 0, RT_TABLE_MAIN, RTN_UNICAST,
	    RTM_F_CLONED);
	CHECK_EQ(changes(), 0);

	/* A burst in one read: every change is counted, the rest not. */
	put_addr(RTM_NEWADDR, AF_INET, 0);
	put_msg(RTM_NEWLINK, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	put_route(RTM_NEWROUTE, AF_INET, 0, RT_TABLE_MAIN, RTN_UNICAST, 0);
	put_msg(NLMSG_DONE, "\0\0\0\0", 4);
	put_addr(RTM_NEWADDR, AF_INET6, 0);
	CHECK_EQ(changes(), 3);

	/* A message too short for its body is skipped, not read past. */
	memset(&ifa, 0, sizeof(ifa));
	ifa.ifa_family = AF_INET;
	put_msg(RTM_NEWADDR, &ifa, 2);
	put_addr(RTM_NEWADDR, AF_INET, 0);
	CHECK_EQ(changes(), 1);

	/* A header claiming more than there is ends the walk. */
	put_addr(RTM_NEWADDR, AF_INET, 0);
	put_addr(RTM_NEWADDR, AF_INET, 0);
	buf[NLMSG_ALIGN(NLMSG_LENGTH(sizeof(ifa)))] = 0xff;	/* len */
	CHECK_EQ(changes(), 1);
	/* As does a length below the header's own, and a cut buffer. */
	put_addr(RTM_NEWADDR, AF_INET, 0);
	memset(buf, 0, 4);
	CHECK_EQ(changes(), 0);
	put_addr(RTM_NEWADDR, AF_INET, 0);
	CHECK_EQ(netwatch_netlink_changes(buf, NLMSG_HDRLEN + 3, NULL), 0);
	CHECK_EQ(netwatch_netlink_changes(buf, 3, NULL), 0);
	used = 0;
}

/* Append an inotify event on wd with name (padded, as the kernel does). */
static void
put_event(int wd, uint32_t mask, const char *name, size_t padded)
{
	struct inotify_event ie;

	memset(&ie, 0, sizeof(ie));
	ie.wd = wd;
	ie.mask = mask;
	ie.len = (uint32_t)padded;
	memcpy(buf + used, &ie, sizeof(ie));
	memset(buf + used + sizeof(ie), 0, padded);
	if (name != NULL)
		memcpy(buf + used + sizeof(ie), name, strlen(name));
	used += sizeof(ie) + padded;
}

static int
matched(const struct netwatch_file *files, size_t n)
{
	int m = netwatch_inotify_match(buf, used, files, n);

	used = 0;
	return m;
}

static void
test_inotify_match(void)
{
	const struct netwatch_file files[] = {
		{ 1, "resolv.conf" }, { 2, "stub-resolv.conf" },
	};

	put_event(1, IN_MOVED_TO, "resolv.conf", 16);
	CHECK_EQ(matched(files, 2), 1);
	put_event(2, IN_CLOSE_WRITE, "stub-resolv.conf", 20);
	CHECK_EQ(matched(files, 2), 1);
	/* The editor's temporary file, then its rename over the file. */
	put_event(1, IN_CREATE, "resolv.conf.tmp", 16);
	CHECK_EQ(matched(files, 2), 0);
	put_event(1, IN_CREATE, "resolv.conf.tmp", 16);
	put_event(1, IN_MOVED_TO, "resolv.conf", 12);
	CHECK_EQ(matched(files, 2), 1);
	/* The right name in the other directory is another file. */
	put_event(2, IN_MOVED_TO, "resolv.conf", 12);
	CHECK_EQ(matched(files, 2), 0);
	put_event(1, IN_DELETE, "resolv.con", 12);
	CHECK_EQ(matched(files, 2), 0);
	/* Missed events may have been ours. */
	put_event(-1, IN_Q_OVERFLOW, NULL, 0);
	CHECK_EQ(matched(files, 2), 1);
	/* A name with no NUL within its length, and a cut event. */
	put_event(1, IN_MOVED_TO, "resolv.conf", 11);
	CHECK_EQ(matched(files, 2), 0);
	put_event(1, IN_MOVED_TO, "resolv.conf", 16);
	CHECK_EQ(netwatch_inotify_match(buf, used - 1, files, 2), 0);
	used = 0;
}

static struct {
	int		calls;
	unsigned	what;
	uint64_t	at;
} seen;

static void
note_cb(unsigned what, void *arg)
{
	(void)arg;
	seen.calls++;
	seen.what = what;
	seen.at = clock_ms();
}

static void
test_debounce(void)
{
	struct event_base *base;
	struct netwatch *nw;
	int i;

	clock_test_begin(5000);
	if ((base = event_base_new()) == NULL ||
	    (nw = netwatch_new(base, 0, NULL, note_cb, NULL)) == NULL) {
		CHECK(!"netwatch_new");
		return;
	}
	CHECK_EQ(netwatch_active(nw), 0);

	/* A DHCP-like burst: address, route, address within 60 ms. */
	put_addr(RTM_NEWADDR, AF_INET, 0);
	netwatch_input_netlink(nw, buf, used);
	clock_step(30);
	netwatch_input_netlink(nw, buf, used);
	clock_step(30);
	netwatch_input_netlink(nw, buf, used);
	used = 0;
	clock_step(99);
	CHECK_EQ(seen.calls, 0);
	clock_step(1);
	CHECK_EQ(seen.calls, 1);
	CHECK_EQ(seen.what, NETWATCH_NETWORK);
	CHECK_EQ(seen.at, 5160);	/* 100 ms after the last */
	clock_step(10000);
	CHECK_EQ(seen.calls, 1);

	/* Messages that are no change do not call at all. */
	put_route(RTM_NEWROUTE, AF_INET, 32, RT_TABLE_MAIN, RTN_UNICAST, 0);
	netwatch_input_netlink(nw, buf, used);
	used = 0;
	clock_step(1000);
	CHECK_EQ(seen.calls, 1);

	/* Both kinds in one burst: one call with both bits. */
	netwatch_note(nw, NETWATCH_RESOLV);
	clock_step(50);
	netwatch_note(nw, NETWATCH_NETWORK);
	clock_step(100);
	CHECK_EQ(seen.calls, 2);
	CHECK_EQ(seen.what, NETWATCH_NETWORK | NETWATCH_RESOLV);

	/* An endless stream is cut at the cap: a call per second. */
	seen.calls = 0;
	for (i = 0; i < 40; i++) {
		netwatch_note(nw, NETWATCH_NETWORK);
		clock_step(50);
	}
	CHECK_EQ(seen.calls, 2);	/* at 1 s and 2 s */
	clock_step(1000);
	CHECK_EQ(seen.calls, 2);

	/* Freed with a call pending: it never comes. */
	netwatch_note(nw, NETWATCH_NETWORK);
	netwatch_free(nw);
	clock_step(1000);
	CHECK_EQ(seen.calls, 2);
	event_base_free(base);
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp;

	if ((fp = fopen(path, "w")) == NULL) {
		CHECK(!"fopen");
		return;
	}
	fputs(text, fp);
	fclose(fp);
}

/*
 * The real inotify watch on a directory of our own: a rename over the
 * file (as editors and resolvconf do) and a write through a symbolic
 * link's target are changes; another file in the directory is not.
 * The kernel queues the events before the calls return, so one
 * non-blocking pass of the loop reads them: no sleeping.
 */
static void
test_inotify_real(void)
{
	char dir[] = "/tmp/test_netwatch.XXXXXX", path[128], tmp[128];
	char other[128], target[128], link[160], target2[128], link2[160];
	struct event_base *base;
	struct netwatch *nw;

	clock_test_begin(1000);
	memset(&seen, 0, sizeof(seen));
	if (mkdtemp(dir) == NULL || (base = event_base_new()) == NULL) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	snprintf(tmp, sizeof(tmp), "%s/resolv.conf.new", dir);
	snprintf(other, sizeof(other), "%s/hosts", dir);
	snprintf(target, sizeof(target), "%s/run", dir);
	snprintf(target2, sizeof(target2), "%s/run2", dir);
	write_file(path, "nameserver 192.0.2.1\n");
	if ((nw = netwatch_new(base, NETWATCH_RESOLV, path, note_cb,
	    NULL)) == NULL) {
		CHECK(!"netwatch_new");
		return;
	}
	CHECK_EQ(netwatch_active(nw), NETWATCH_RESOLV);

	write_file(other, "127.0.0.1 localhost\n");
	event_base_loop(base, EVLOOP_NONBLOCK);
	clock_step(1000);
	CHECK_EQ(seen.calls, 0);

	write_file(tmp, "nameserver 192.0.2.2\n");
	CHECK_EQ(rename(tmp, path), 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	clock_step(99);
	CHECK_EQ(seen.calls, 0);
	clock_step(1);
	CHECK_EQ(seen.calls, 1);
	CHECK_EQ(seen.what, NETWATCH_RESOLV);
	netwatch_free(nw);

	/* resolv.conf a link to run/stub.conf: the target's writes count. */
	CHECK_EQ(mkdir(target, 0700), 0);
	snprintf(link, sizeof(link), "%s/stub.conf", target);
	write_file(link, "nameserver 192.0.2.3\n");
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(symlink(link, path), 0);
	if ((nw = netwatch_new(base, NETWATCH_RESOLV, path, note_cb,
	    NULL)) == NULL) {
		CHECK(!"netwatch_new");
		return;
	}
	write_file(link, "nameserver 192.0.2.4\n");
	event_base_loop(base, EVLOOP_NONBLOCK);
	clock_step(100);
	CHECK_EQ(seen.calls, 2);

	/* The link repointed (resolvconf to systemd-resolved): a change,
	 * and from then on the new target's writes count. */
	CHECK_EQ(mkdir(target2, 0700), 0);
	snprintf(link2, sizeof(link2), "%s/resolv.conf", target2);
	write_file(link2, "nameserver 192.0.2.5\n");
	CHECK_EQ(symlink(link2, tmp), 0);
	CHECK_EQ(rename(tmp, path), 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	clock_step(100);
	CHECK_EQ(seen.calls, 3);
	write_file(link2, "nameserver 192.0.2.6\n");
	event_base_loop(base, EVLOOP_NONBLOCK);
	clock_step(100);
	CHECK_EQ(seen.calls, 4);
	/* The old target is watched no more. */
	write_file(link, "nameserver 192.0.2.7\n");
	event_base_loop(base, EVLOOP_NONBLOCK);
	clock_step(100);
	CHECK_EQ(seen.calls, 4);
	netwatch_free(nw);

	/* A directory that is not there: logged, left out, no failure. */
	CHECK((nw = netwatch_new(base, NETWATCH_RESOLV, "/nonexistent/x",
	    note_cb, NULL)) != NULL);
	if (nw != NULL)
		CHECK_EQ(netwatch_active(nw), 0);
	netwatch_free(nw);

	unlink(link);
	unlink(link2);
	unlink(path);
	unlink(other);
	rmdir(target);
	rmdir(target2);
	rmdir(dir);
	event_base_free(base);
}

int
main(void)
{
	log_init("test_netwatch", LOG_LEVEL_WARN, 0);
	test_netlink_filter();
	test_netlink_known();
	test_inotify_match();
	test_debounce();
	test_inotify_real();
	return check_summary();
}
