/*
 * Tests for resolvconf: which lines of a resolv.conf give a nameserver,
 * duplicates, the cap, servers left out by the caller, and a NUL byte.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dohstub/addr.h"
#include "dohstub/resolvconf.h"

static struct addr out[8];

/* out[i] as text (one buffer: one call per CHECK). */
static const char *
server(size_t i)
{
	static char buf[ADDR_STRLEN];

	return addr_str(&out[i], buf, sizeof(buf));
}

static size_t
servers(const char *text, size_t max)
{
	memset(out, 0, sizeof(out));
	return resolvconf_nameservers(text, strlen(text), out, max, NULL,
	    NULL);
}

/* Leave out 192.0.2.53 (as config leaves out our own listeners). */
static int
skip_one(const struct addr *a, const void *arg)
{
	return addr_same_ip(a, arg);
}

static void
test_lines(void)
{
	static const char text[] =
	    "# generated\n"
	    "search example.com\n"
	    "nameserver 192.0.2.1\n"
	    "  nameserver\t2001:db8::1 # comment\n"
	    "nameserver 192.0.2.2;junk\n"
	    "nameservers 192.0.2.3\n"
	    "nameserver\n"
	    "nameserver not-an-address\n"
	    "nameserver 192.0.2.4:53\n"
	    "options edns0\n"
	    ";nameserver 192.0.2.5\n"
	    "nameserver 192.0.2.6\r\n"
	    "nameserver 192.0.2.7";

	CHECK_EQ(servers(text, 8), 5);
	CHECK_STR(server(0), "192.0.2.1:53");
	CHECK_STR(server(1), "[2001:db8::1]:53");
	CHECK_STR(server(2), "192.0.2.2:53");
	CHECK_STR(server(3), "192.0.2.6:53");
	CHECK_STR(server(4), "192.0.2.7:53");
	CHECK_EQ(servers("", 8), 0);
	CHECK_EQ(servers("nameserver", 8), 0);
}

static void
test_dup_cap_skip(void)
{
	struct addr skip;
	const char *text = "nameserver 192.0.2.1\nnameserver 192.0.2.53\n"
	    "nameserver 192.0.2.1\nnameserver 192.0.2.2\n"
	    "nameserver 192.0.2.3\n";

	CHECK_EQ(servers(text, 8), 4);
	CHECK_STR(server(1), "192.0.2.53:53");
	CHECK_EQ(servers(text, 2), 2);
	CHECK_STR(server(1), "192.0.2.53:53");
	CHECK_EQ(out[2].len, 0);	/* nothing past the cap */
	/* Left out before the cap counts, so the cap holds other servers. */
	CHECK_EQ(addr_parse("192.0.2.53", 53, &skip, NULL, 0), 0);
	memset(out, 0, sizeof(out));
	CHECK_EQ(resolvconf_nameservers(text, strlen(text), out, 2, skip_one,
	    &skip), 2);
	CHECK_STR(server(0), "192.0.2.1:53");
	CHECK_STR(server(1), "192.0.2.2:53");
}

static void
test_nul(void)
{
	static const char text[] = "nameserver 192.0.2.1\n\0"
	    "nameserver 192.0.2.2\n";

	/* The text ends at a NUL byte: nothing after it is read. */
	memset(out, 0, sizeof(out));
	CHECK_EQ(resolvconf_nameservers(text, sizeof(text) - 1, out, 8, NULL,
	    NULL), 1);
	CHECK_EQ(resolvconf_nameservers(text, 10, out, 8, NULL, NULL), 0);
}

int
main(void)
{
	test_lines();
	test_dup_cap_skip();
	test_nul();
	return check_summary();
}
