/*
 * Unit tests for addr: parsing with and without port, formatting,
 * comparisons, the wildcard and loopback tests, and prefixes.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dohstub/addr.h"

#include "check.h"

static char errbuf[256];

/* The address as addr_str() prints it, or the parse error. */
static const char *
parsed(const char *s, uint16_t port)
{
	static char buf[4][ADDR_STRLEN];
	static int i;
	struct addr a;

	i = (i + 1) % 4;
	if (addr_parse(s, port, &a, errbuf, sizeof(errbuf)) == -1)
		return errbuf;
	return addr_str(&a, buf[i], sizeof(buf[i]));
}

static struct addr
A(const char *s)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	if (addr_parse(s, 53, &a, errbuf, sizeof(errbuf)) == -1)
		fprintf(stderr, "A(%s): %s\n", s, errbuf);
	return a;
}

/* The prefix as addr_prefix_str() prints it, or the parse error. */
static const char *
prefix(const char *s)
{
	static char buf[ADDR_STRLEN + 8];
	struct addr_prefix p;

	if (addr_prefix_parse(s, &p, errbuf, sizeof(errbuf)) == -1)
		return errbuf;
	return addr_prefix_str(&p, buf, sizeof(buf));
}

static int
in(const char *pfx, const char *a)
{
	struct addr_prefix p;
	struct addr x = A(a);

	if (addr_prefix_parse(pfx, &p, errbuf, sizeof(errbuf)) == -1) {
		fprintf(stderr, "in(%s): %s\n", pfx, errbuf);
		return -1;
	}
	return addr_prefix_match(&p, &x);
}

static void
test_parse(void)
{
	struct addr a, keep;

	CHECK_EQ(addr_parse("127.0.0.1", 53, &a, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(a.ss.ss_family, AF_INET);
	CHECK_EQ(a.len, sizeof(struct sockaddr_in));
	CHECK_EQ(addr_port(&a), 53);
	CHECK_STR(parsed("127.0.0.1", 53), "127.0.0.1:53");
	CHECK_STR(parsed("127.0.0.1:5353", 53), "127.0.0.1:5353");
	CHECK_STR(parsed("0.0.0.0", 53), "0.0.0.0:53");
	CHECK_STR(parsed("192.0.2.1:065535", 53), "192.0.2.1:65535");
	CHECK_EQ(addr_parse("::1", 53, &a, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(a.ss.ss_family, AF_INET6);
	CHECK_EQ(a.len, sizeof(struct sockaddr_in6));
	CHECK_STR(parsed("::1", 53), "[::1]:53");
	CHECK_STR(parsed("[::1]", 53), "[::1]:53");
	CHECK_STR(parsed("[::1]:5353", 53), "[::1]:5353");
	CHECK_STR(parsed("[2001:db8::1]", 853), "[2001:db8::1]:853");
	CHECK_STR(parsed("2001:DB8:0:0::1", 853), "[2001:db8::1]:853");
	CHECK_STR(parsed("::ffff:192.0.2.1", 53), "[::ffff:192.0.2.1]:53");
	/* A bare IPv6 address takes no port: this is all address. */
	CHECK_STR(parsed("2001:db8::53", 53), "[2001:db8::53]:53");
	/* No port written, none given: port 0, for the caller to refuse. */
	CHECK_EQ(addr_parse("192.0.2.1", 0, &a, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(addr_port(&a), 0);

	CHECK_STR(parsed("1.2.3", 53), "\"1.2.3\" is not an IP address");
	CHECK_STR(parsed("", 53), "\"\" is not an IP address");
	CHECK_STR(parsed("[::1]x", 53), "\"[::1]x\" is not an IP address");
	CHECK_STR(parsed("[::1", 53), "\"[::1\" is not an IP address");
	CHECK_STR(parsed("[]:53", 53), "\"[]:53\" is not an IP address");
	CHECK_STR(parsed("1.2.3.4:5:6", 53),
	    "\"1.2.3.4:5:6\" is not an IP address");
	/* IPv4 in brackets is not how anyone writes it. */
	CHECK_STR(parsed("[192.0.2.1]:53", 53),
	    "\"[192.0.2.1]:53\" is not an IP address");
	CHECK_STR(parsed(" 192.0.2.1", 53),
	    "\" 192.0.2.1\" is not an IP address");
	CHECK_STR(parsed("doh.example:53", 53),
	    "\"doh.example:53\" is not an IP address");
	/* Scoped addresses need an interface lookup: not supported. */
	CHECK_STR(parsed("fe80::1%eth0", 53),
	    "\"fe80::1%eth0\" is not an IP address");
	CHECK_STR(parsed("[fe80::1%2]:53", 53),
	    "\"[fe80::1%2]:53\" is not an IP address");
	CHECK_STR(parsed("192.0.2.1:65536", 53),
	    "\"192.0.2.1:65536\": port must be 1..65535");
	CHECK_STR(parsed("192.0.2.1:0", 53),
	    "\"192.0.2.1:0\": port must be 1..65535");
	CHECK_STR(parsed("192.0.2.1:", 53),
	    "\"192.0.2.1:\": port must be 1..65535");
	CHECK_STR(parsed("[::1]:+53", 53),
	    "\"[::1]:+53\": port must be 1..65535");
	CHECK_STR(parsed("[::1]:99999999999999999999", 53),
	    "\"[::1]:99999999999999999999\": port must be 1..65535");

	/* Failure leaves out alone; err may be NULL. */
	memset(&keep, 0x5a, sizeof(keep));
	a = keep;
	CHECK_EQ(addr_parse("nope", 53, &a, NULL, 0), -1);
	CHECK(memcmp(&a, &keep, sizeof(a)) == 0);
}

static void
test_parse_ip(void)
{
	struct addr a;
	char buf[ADDR_STRLEN];

	/* Not NUL-terminated: only s[0..n) counts. */
	CHECK_EQ(addr_parse_ip("192.0.2.1,192.0.2.2", 9, 0, 443, &a), 0);
	CHECK_STR(addr_str(&a, buf, sizeof(buf)), "192.0.2.1:443");
	CHECK_EQ(addr_parse_ip("[2001:db8::2]", 13, 1, 8443, &a), 0);
	CHECK_STR(addr_str(&a, buf, sizeof(buf)), "[2001:db8::2]:8443");
	CHECK_EQ(addr_parse_ip("[2001:db8::2]", 13, 0, 8443, &a), -1);
	CHECK_EQ(a.len, 0);
	CHECK_EQ(addr_parse_ip("192.0.2.1:53", 12, 1, 0, &a), -1);
	CHECK_EQ(addr_parse_ip("192.0.2.1", 0, 1, 0, &a), -1);
	CHECK_EQ(addr_parse_ip("192.0.2.1\0", 10, 1, 0, &a), -1);
	CHECK_EQ(addr_parse_ip("[]", 2, 1, 0, &a), -1);
	CHECK_EQ(addr_parse_ip("1111:2222:3333:4444:5555:6666:7777:8888:9999",
	    44, 1, 0, &a), -1);
}

static void
test_format(void)
{
	struct sockaddr_in6 sin6;
	struct addr a;
	char buf[ADDR_STRLEN], small[8];

	a = A("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535");
	CHECK_STR(addr_str(&a, buf, sizeof(buf)),
	    "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535");
	CHECK_STR(addr_ip_str(&a, buf, sizeof(buf)),
	    "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff");
	a = A("192.0.2.1:53");
	CHECK_STR(addr_ip_str(&a, buf, sizeof(buf)), "192.0.2.1");
	/* Truncated, always terminated. */
	CHECK_STR(addr_str(&a, small, sizeof(small)), "192.0.2");
	memset(&a, 0, sizeof(a));
	CHECK_STR(addr_str(&a, buf, sizeof(buf)), "(none)");
	CHECK_STR(addr_ip_str(&a, buf, sizeof(buf)), "(none)");
	a.len = sizeof(a.ss);
	a.ss.ss_family = AF_UNIX;
	CHECK_STR(addr_str(&a, buf, sizeof(buf)), "(unknown)");

	/* A socket address as the kernel gives it. */
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(853);
	sin6.sin6_addr.s6_addr[15] = 1;
	CHECK_STR(addr_sa_str((struct sockaddr *)&sin6, buf, sizeof(buf)),
	    "[::1]:853");
	CHECK_EQ(addr_set(&a, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	CHECK_EQ(a.len, sizeof(sin6));
	CHECK_EQ(addr_port(&a), 853);
	CHECK_EQ(addr_set(&a, (struct sockaddr *)&sin6, sizeof(sin6) - 1), -1);
	CHECK_EQ(a.len, 0);
	sin6.sin6_family = AF_UNIX;
	CHECK_EQ(addr_set(&a, (struct sockaddr *)&sin6, sizeof(sin6)), -1);
	CHECK_STR(addr_sa_str((struct sockaddr *)&sin6, buf, sizeof(buf)),
	    "(unknown)");
}

static void
test_compare(void)
{
	struct addr a, b;

	a = A("192.0.2.1:53");
	b = A("192.0.2.1:5353");
	CHECK(addr_same_ip(&a, &b));
	CHECK(!addr_eq(&a, &b));
	addr_set_port(&b, 53);
	CHECK_EQ(addr_port(&b), 53);
	CHECK(addr_eq(&a, &b));
	b = A("192.0.2.2:53");
	CHECK(!addr_same_ip(&a, &b));
	/* IPv4 and its IPv4-mapped IPv6 form are different sockets. */
	b = A("[::ffff:192.0.2.1]:53");
	CHECK(!addr_same_ip(&a, &b));
	a = A("[2001:db8::1]:53");
	b = A("[2001:db8:0::1]:53");
	CHECK(addr_eq(&a, &b));
	/* The same link-local address on two links is two addresses. */
	a = A("[fe80::1]:53");
	b = a;
	((struct sockaddr_in6 *)&b.ss)->sin6_scope_id = 2;
	CHECK(!addr_same_ip(&a, &b));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CHECK(!addr_eq(&a, &b));
	CHECK_EQ(addr_port(&a), 0);

	/* Lists: the same addresses in the same order. */
	{
		struct addr l1[2], l2[2];

		l1[0] = l2[1] = A("192.0.2.1");
		l1[1] = l2[0] = A("[2001:db8::1]");
		CHECK(addr_list_eq(l1, 2, l1, 2));
		CHECK(addr_list_eq(l1, 0, l2, 0));
		CHECK(!addr_list_eq(l1, 2, l2, 2));	/* order */
		CHECK(!addr_list_eq(l1, 1, l1, 2));
		l2[0] = l1[0];
		l2[1] = l1[1];
		CHECK(addr_list_eq(l1, 2, l2, 2));
	}
}

static void
test_kinds(void)
{
	struct addr a;

	a = A("0.0.0.0");
	CHECK(addr_is_wildcard(&a) && !addr_is_loopback(&a));
	a = A("::");
	CHECK(addr_is_wildcard(&a) && !addr_is_loopback(&a));
	a = A("0.0.0.1");
	CHECK(!addr_is_wildcard(&a));
	a = A("127.0.0.1");
	CHECK(addr_is_loopback(&a) && !addr_is_wildcard(&a));
	a = A("127.255.255.254");
	CHECK(addr_is_loopback(&a));
	a = A("128.0.0.1");
	CHECK(!addr_is_loopback(&a));
	a = A("::1");
	CHECK(addr_is_loopback(&a));
	a = A("::2");
	CHECK(!addr_is_loopback(&a));
	a = A("::ffff:127.0.0.53");
	CHECK(addr_is_loopback(&a));
	a = A("::ffff:10.0.0.1");
	CHECK(!addr_is_loopback(&a));
	memset(&a, 0, sizeof(a));
	CHECK(!addr_is_wildcard(&a) && !addr_is_loopback(&a));
}

static void
test_prefix(void)
{
	struct addr_prefix p;
	struct addr a;

	CHECK_STR(prefix("10.0.0.0/8"), "10.0.0.0/8");
	CHECK_STR(prefix("fd00::/8"), "fd00::/8");
	CHECK_STR(prefix("[fd00::]/8"), "fd00::/8");
	CHECK_STR(prefix("192.0.2.1"), "192.0.2.1/32");
	CHECK_STR(prefix("2001:db8::1"), "2001:db8::1/128");
	CHECK_STR(prefix("0.0.0.0/0"), "0.0.0.0/0");
	CHECK_STR(prefix("::/0"), "::/0");
	CHECK_STR(prefix("10.0.0.0/032"), "10.0.0.0/32");
	/* Non-canonical: the host bits go. */
	CHECK_STR(prefix("10.1.2.3/8"), "10.0.0.0/8");
	CHECK_STR(prefix("192.0.2.255/25"), "192.0.2.128/25");
	CHECK_STR(prefix("192.0.2.255/0"), "0.0.0.0/0");
	CHECK_STR(prefix("2001:db8:ffff::1/33"), "2001:db8:8000::/33");
	CHECK_STR(prefix("fdff:ffff::/7"), "fc00::/7");

	CHECK_STR(prefix("10.0.0.0/33"),
	    "\"10.0.0.0/33\": prefix length must be 0..32");
	CHECK_STR(prefix("fd00::/129"),
	    "\"fd00::/129\": prefix length must be 0..128");
	CHECK_STR(prefix("10.0.0.0/"),
	    "\"10.0.0.0/\": prefix length must be 0..32");
	CHECK_STR(prefix("10.0.0.0/-1"),
	    "\"10.0.0.0/-1\": prefix length must be 0..32");
	CHECK_STR(prefix("10.0.0.0/ 8"),
	    "\"10.0.0.0/ 8\": prefix length must be 0..32");
	CHECK_STR(prefix("10.0.0.0/0008"),
	    "\"10.0.0.0/0008\": prefix length must be 0..32");
	CHECK_STR(prefix("10.0.0.0/8/8"),
	    "\"10.0.0.0/8/8\": prefix length must be 0..32");
	CHECK_STR(prefix("10.0.0/8"), "\"10.0.0/8\" is not an IP address");
	CHECK_STR(prefix("10.0.0.0:53/8"),
	    "\"10.0.0.0:53/8\" is not an IP address");
	CHECK_STR(prefix("/8"), "\"/8\" is not an IP address");
	CHECK_STR(prefix(""), "\"\" is not an IP address");

	/* /0 takes everything of its family, and only that. */
	CHECK_EQ(in("0.0.0.0/0", "255.255.255.255"), 1);
	CHECK_EQ(in("0.0.0.0/0", "0.0.0.0"), 1);
	CHECK_EQ(in("0.0.0.0/0", "::1"), 0);
	CHECK_EQ(in("::/0", "2001:db8::1"), 1);
	CHECK_EQ(in("::/0", "192.0.2.1"), 0);
	/* /32 and /128: the one address, whatever the port. */
	CHECK_EQ(in("192.0.2.1/32", "192.0.2.1:5353"), 1);
	CHECK_EQ(in("192.0.2.1/32", "192.0.2.0"), 0);
	CHECK_EQ(in("192.0.2.1/32", "192.0.2.3"), 0);
	CHECK_EQ(in("2001:db8::1/128", "[2001:db8::1]:53"), 1);
	CHECK_EQ(in("2001:db8::1/128", "2001:db8::"), 0);
	CHECK_EQ(in("2001:db8::1/128", "2001:db8::3"), 0);
	/* The edges of a network, and a bit boundary inside a byte. */
	CHECK_EQ(in("10.0.0.0/8", "10.0.0.0"), 1);
	CHECK_EQ(in("10.0.0.0/8", "10.255.255.255"), 1);
	CHECK_EQ(in("10.0.0.0/8", "9.255.255.255"), 0);
	CHECK_EQ(in("10.0.0.0/8", "11.0.0.0"), 0);
	CHECK_EQ(in("192.0.2.128/25", "192.0.2.128"), 1);
	CHECK_EQ(in("192.0.2.128/25", "192.0.2.127"), 0);
	CHECK_EQ(in("fd00::/8", "fdff:ffff::1"), 1);
	CHECK_EQ(in("fd00::/8", "fc00::1"), 0);
	CHECK_EQ(in("2001:db8::/127", "2001:db8::1"), 1);
	CHECK_EQ(in("2001:db8::/127", "2001:db8::2"), 0);
	/* A non-canonical prefix matches as its network. */
	CHECK_EQ(in("10.1.2.3/8", "10.200.0.1"), 1);
	/* A dual-stack socket's IPv4 client matches IPv4 prefixes... */
	CHECK_EQ(in("10.0.0.0/8", "::ffff:10.1.2.3"), 1);
	CHECK_EQ(in("10.0.0.0/8", "::ffff:11.1.2.3"), 0);
	/* ... and IPv6 prefixes that name it so. */
	CHECK_EQ(in("::ffff:10.0.0.0/104", "::ffff:10.1.2.3"), 1);
	CHECK_EQ(in("::ffff:10.0.0.0/104", "10.1.2.3"), 0);
	/* An IPv4 address is not in the IPv4-compatible ::/96 either. */
	CHECK_EQ(in("::/96", "10.1.2.3"), 0);

	CHECK_EQ(addr_prefix_parse("10.0.0.0/8", &p, NULL, 0), 0);
	memset(&a, 0, sizeof(a));
	CHECK_EQ(addr_prefix_match(&p, &a), 0);
	CHECK_EQ(p.bits, 8);
	CHECK_EQ(addr_port(&p.addr), 0);
}

int
main(void)
{
	test_parse();
	test_parse_ip();
	test_format();
	test_compare();
	test_kinds();
	test_prefix();
	return check_summary();
}
