/*
 * Tests for policy: the allow/deny decision (longest prefix, deny on a
 * tie, the defaults where nothing holds) and the forward-rule lookup
 * (longest zone, label boundaries, case), on configurations read through
 * config as dohstub reads them.  Addresses and names are from the
 * documentation ranges (RFC 5737, 3849, 2606).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/policy.h"

static char errbuf[CONFIG_ERRLEN];

static void
load(struct config *cfg, const char *text)
{
	config_defaults(cfg);
	if (config_parse_buf(cfg, "t.conf", text, strlen(text), errbuf,
	    sizeof(errbuf)) == -1) {
		fprintf(stderr, "%s\n", errbuf);
		CHECK(0);
	}
}

/* May a client at ip (no port) send queries under cfg? */
static int
allows(const struct config *cfg, const char *ip)
{
	struct addr a;

	if (addr_parse(ip, 53, &a, errbuf, sizeof(errbuf)) == -1) {
		fprintf(stderr, "%s: %s\n", ip, errbuf);
		CHECK(0);
		return -1;
	}
	return policy_acl_allows(cfg, &a);
}

static void
test_acl_defaults(void)
{
	struct config cfg;
	struct addr_prefix pfx;
	size_t i;

	load(&cfg, "");
	/* The host and the private networks, nothing else. */
	CHECK_EQ(allows(&cfg, "127.0.0.1"), 1);
	CHECK_EQ(allows(&cfg, "127.255.255.254"), 1);
	CHECK_EQ(allows(&cfg, "10.1.2.3"), 1);
	CHECK_EQ(allows(&cfg, "100.64.0.1"), 1);
	CHECK_EQ(allows(&cfg, "100.128.0.1"), 0);
	CHECK_EQ(allows(&cfg, "169.254.1.1"), 1);
	CHECK_EQ(allows(&cfg, "172.16.0.1"), 1);
	CHECK_EQ(allows(&cfg, "172.32.0.1"), 0);
	CHECK_EQ(allows(&cfg, "192.168.255.255"), 1);
	CHECK_EQ(allows(&cfg, "192.0.2.1"), 0);
	CHECK_EQ(allows(&cfg, "::1"), 1);
	CHECK_EQ(allows(&cfg, "::2"), 0);
	CHECK_EQ(allows(&cfg, "fd00::1"), 1);
	CHECK_EQ(allows(&cfg, "fe80::1"), 1);
	CHECK_EQ(allows(&cfg, "2001:db8::1"), 0);
	/* Every default parses (a typo there would allow nothing). */
	for (i = 0; config_acl_defaults[i] != NULL; i++)
		CHECK_EQ(addr_prefix_parse(config_acl_defaults[i], &pfx, NULL,
		    0), 0);
	CHECK_EQ(i, 9);
	config_free(&cfg);
}

static void
test_acl_longest(void)
{
	struct config cfg;

	/* Once a rule holds, the defaults no longer count. */
	load(&cfg, "allow 192.0.2.0/24\ndeny 192.0.2.128/25\n"
	    "allow 192.0.2.200/32\ndeny 10.0.0.0/8\nallow 2001:db8::/32\n");
	CHECK_EQ(allows(&cfg, "192.0.2.1"), 1);
	CHECK_EQ(allows(&cfg, "192.0.2.129"), 0);
	CHECK_EQ(allows(&cfg, "192.0.2.200"), 1);
	CHECK_EQ(allows(&cfg, "10.9.9.9"), 0);
	CHECK_EQ(allows(&cfg, "2001:db8::53"), 1);
	/* Where none holds, the defaults still do. */
	CHECK_EQ(allows(&cfg, "127.0.0.1"), 1);
	CHECK_EQ(allows(&cfg, "192.168.1.1"), 1);
	CHECK_EQ(allows(&cfg, "198.51.100.1"), 0);
	config_free(&cfg);

	/* A tie is a deny; an IPv4 rule says nothing of IPv6. */
	load(&cfg, "allow 192.0.2.0/24\ndeny 192.0.2.0/24\n"
	    "deny 0.0.0.0/0\n");
	CHECK_EQ(allows(&cfg, "192.0.2.1"), 0);
	CHECK_EQ(allows(&cfg, "127.0.0.1"), 0);
	CHECK_EQ(allows(&cfg, "::1"), 1);
	CHECK_EQ(allows(&cfg, "2001:db8::1"), 0);
	config_free(&cfg);

	/* Open to all, but for one network. */
	load(&cfg, "allow 0.0.0.0/0\nallow ::/0\ndeny 198.51.100.0/24\n");
	CHECK_EQ(allows(&cfg, "203.0.113.1"), 1);
	CHECK_EQ(allows(&cfg, "2001:db8::1"), 1);
	CHECK_EQ(allows(&cfg, "198.51.100.7"), 0);
	config_free(&cfg);
}

/* The index of the rule name falls under, or -1. */
static int
rule(const struct config *cfg, const char *text)
{
	const struct config_forward *f;
	uint8_t name[255];
	size_t n;

	n = dnsmsg_name_from_text(text, name, sizeof(name));
	CHECK(n > 0);
	if ((f = policy_find_forward(cfg, name, n)) == NULL)
		return -1;
	return (int)(f - cfg->forward);
}

static void
test_forward(void)
{
	struct config cfg;

	load(&cfg, "");
	CHECK_EQ(rule(&cfg, "corp.example"), -1);
	config_free(&cfg);

	load(&cfg, "forward corp.example 10.1.1.53\n"
	    "forward 168.192.in-addr.arpa 192.168.1.1\n"
	    "forward Lab.Example. https://doh.lab.example/dns-query\n"
	    "forward a.corp.example 10.9.9.9\n");
	/* At or below the zone, in any case. */
	CHECK_EQ(rule(&cfg, "fs.CORP.example"), 0);
	CHECK_EQ(rule(&cfg, "corp.example."), 0);
	CHECK_EQ(rule(&cfg, "lab.example"), 2);
	CHECK_EQ(rule(&cfg, "1.1.168.192.in-addr.arpa"), 1);
	/* Whole labels only, and not above the zone. */
	CHECK_EQ(rule(&cfg, "xcorp.example"), -1);
	CHECK_EQ(rule(&cfg, "example"), -1);
	CHECK_EQ(rule(&cfg, "."), -1);
	/* The longest zone wins, whatever the order of the rules. */
	CHECK_EQ(rule(&cfg, "b.a.corp.example"), 3);
	CHECK_EQ(rule(&cfg, "a.corp.example"), 3);
	CHECK_EQ(rule(&cfg, "b.corp.example"), 0);
	config_free(&cfg);
}

int
main(void)
{
	test_acl_defaults();
	test_acl_longest();
	test_forward();
	return check_summary();
}
