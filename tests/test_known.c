/*
 * test_known: the built-in table of DoH servers known by address, and
 * known-server entries that add to it or override it.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/known.h"

#include "check.h"

static struct addr
ip(const char *s)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	if (addr_parse(s, 53, &a, NULL, 0) == -1)
		fprintf(stderr, "bad address in test: %s\n", s);
	return a;
}

static const char *
lookup(const struct config *cfg, const char *s, const char **provider)
{
	struct addr a = ip(s);

	return known_lookup(cfg, &a, provider);
}

static void
test_builtin(void)
{
	const char *prov = NULL;
	struct addr a;
	size_t i;

	CHECK_STR(lookup(NULL, "9.9.9.9", &prov),
	    "https://dns.quad9.net/dns-query");
	CHECK_STR(prov, "Quad9");
	CHECK_STR(lookup(NULL, "1.0.0.1", &prov),
	    "https://cloudflare-dns.com/dns-query");
	CHECK_STR(prov, "Cloudflare");
	/* A filtering service keeps its filtering. */
	CHECK_STR(lookup(NULL, "1.1.1.3", &prov),
	    "https://family.cloudflare-dns.com/dns-query");
	CHECK_STR(prov, "Cloudflare, malware and adult content blocking");
	CHECK_STR(lookup(NULL, "2606:4700:4700::1002", NULL),
	    "https://security.cloudflare-dns.com/dns-query");
	CHECK_STR(lookup(NULL, "149.112.112.10", NULL),
	    "https://dns10.quad9.net/dns-query");
	CHECK_STR(lookup(NULL, "2620:fe::fe:11", NULL),
	    "https://dns11.quad9.net/dns-query");
	/* IPv6, written any way. */
	CHECK_STR(lookup(NULL, "[2001:4860:4860::8844]", &prov),
	    "https://dns.google/dns-query");
	CHECK_STR(prov, "Google");
	CHECK_STR(lookup(NULL, "2606:4700:4700:0:0:0:0:1111", NULL),
	    "https://cloudflare-dns.com/dns-query");
	/* The port is ignored. */
	CHECK_STR(lookup(NULL, "8.8.8.8:5353", &prov),
	    "https://dns.google/dns-query");
	CHECK_STR(lookup(NULL, "[2620:fe::9]:853", NULL),
	    "https://dns.quad9.net/dns-query");
	/* No match: a near address, another family's twin. */
	prov = "unchanged";
	CHECK(lookup(NULL, "9.9.9.8", &prov) == NULL);
	CHECK_STR(prov, "unchanged");
	CHECK(lookup(NULL, "192.0.2.53", NULL) == NULL);
	CHECK(lookup(NULL, "::ffff:9.9.9.9", NULL) == NULL);
	CHECK(lookup(NULL, "2620:fe::fd", NULL) == NULL);

	/*
	 * Every entry parses, has a name for its URL and finds itself (no
	 * address twice).
	 */
	CHECK(known_nbuiltin >= 12);
	for (i = 0; i < known_nbuiltin; i++) {
		struct config_upstream u;
		char err[CONFIG_ERRLEN];
		const char *p2 = NULL;

		CHECK_EQ(addr_parse_ip(known_builtin[i].addr,
		    strlen(known_builtin[i].addr), 0, 0, &a), 0);
		CHECK(known_lookup(NULL, &a, &p2) == known_builtin[i].url);
		CHECK(p2 == known_builtin[i].provider);
		CHECK_EQ(config_parse_url(known_builtin[i].url, &u, err,
		    sizeof(err)), 0);
		CHECK_EQ(u.host_is_ip, 0);
		config_upstream_free(&u);
	}
}

static int
parse(struct config *cfg, const char *text)
{
	char err[CONFIG_ERRLEN];
	int rc;

	config_defaults(cfg);
	rc = config_parse_buf(cfg, "t.conf", text, strlen(text), err,
	    sizeof(err));
	if (rc == -1)
		fprintf(stderr, "parse: %s\n", err);
	return rc;
}

static void
test_configured(void)
{
	struct config cfg;
	const char *prov = NULL;

	CHECK_EQ(parse(&cfg, "known-server 9.9.9.9 "
	    "https://dns11.quad9.net/dns-query\n"
	    "known-server [2001:db8::53]:53 https://doh.lab.example/q\n"
	    "known-server 192.0.2.53 https://doh.lab.example:8443/dns-query\n"),
	    0);
	/* An override of a built-in entry. */
	CHECK_STR(lookup(&cfg, "9.9.9.9", &prov),
	    "https://dns11.quad9.net/dns-query");
	CHECK_STR(prov, "");
	/* The rest of the provider is untouched. */
	CHECK_STR(lookup(&cfg, "149.112.112.112", &prov),
	    "https://dns.quad9.net/dns-query");
	CHECK_STR(prov, "Quad9");
	/* Additions, port ignored. */
	CHECK_STR(lookup(&cfg, "2001:db8::53", &prov),
	    "https://doh.lab.example/q");
	CHECK_STR(prov, "");
	CHECK_STR(lookup(&cfg, "192.0.2.53:5300", NULL),
	    "https://doh.lab.example:8443/dns-query");
	CHECK(lookup(&cfg, "192.0.2.54", NULL) == NULL);
	config_free(&cfg);
}

static char *
print(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	known_print(cfg, fp);
	fclose(fp);
	return buf;
}

static void
test_print(void)
{
	static const char want[] = "known-server 8.8.8.8 https://dns.example/\n"
	    "known-server 2001:db8::1 https://doh.example/dns-query\n";
	struct config cfg, again;
	char *p, *p2;

	p = print(NULL);
	CHECK(p != NULL && strstr(p, "# known-server 9.9.9.9 "
	    "https://dns.quad9.net/dns-query\t(Quad9)\n") != NULL);
	CHECK(p != NULL && strstr(p, "# known-server 2606:4700:4700::1111 "
	    "https://cloudflare-dns.com/dns-query\t(Cloudflare)\n") != NULL);
	CHECK(p != NULL && strstr(p, "\nknown-server") == NULL &&
	    strncmp(p, "known-server", 12) != 0);
	free(p);

	CHECK_EQ(parse(&cfg, "known-server 8.8.8.8 https://dns.example/\n"
	    "known-server 2001:db8::1 https://doh.example/dns-query\n"), 0);
	p = print(&cfg);
	CHECK(p != NULL && strncmp(p, want, strlen(want)) == 0);
	CHECK(p != NULL && strstr(p, "# known-server 8.8.8.8 "
	    "https://dns.google/dns-query\t(Google, overridden)\n") != NULL);
	CHECK(p != NULL && strstr(p, "# known-server 8.8.4.4 "
	    "https://dns.google/dns-query\t(Google)\n") != NULL);
	/* It parses back to the same. */
	CHECK_EQ(parse(&again, p != NULL ? p : ""), 0);
	CHECK_EQ(again.nknown, 2);
	p2 = print(&again);
	CHECK(p != NULL && p2 != NULL && strcmp(p, p2) == 0);
	free(p);
	free(p2);
	config_free(&again);
	config_free(&cfg);
}

/*
 * conf/dohstub.conf pins its providers' names to addresses: each of those
 * is a known server whose URL has that name, and the reverse.
 */
static void
test_shipped(void)
{
	struct config cfg;
	struct config_upstream u;
	char err[CONFIG_ERRLEN];
	const char *url;
	size_t i, j, n = 0;

	config_defaults(&cfg);
	CHECK_EQ(config_parse_file(&cfg, "../conf/dohstub.conf", 1, err,
	    sizeof(err)), 0);
	CHECK(cfg.nresolve >= 3);
	for (i = 0; i < cfg.nresolve; i++)
		for (j = 0; j < cfg.resolve[i].naddrs; j++) {
			url = known_lookup(NULL, &cfg.resolve[i].addrs[j],
			    NULL);
			CHECK(url != NULL);
			if (url == NULL ||
			    config_parse_url(url, &u, err, sizeof(err)) == -1)
				continue;
			CHECK_STR(u.host, cfg.resolve[i].host);
			config_upstream_free(&u);
			n++;
		}
	/* The three providers Windows knows, four addresses each. */
	CHECK_EQ(n, 12);
	for (i = 0; i < 12; i++)
		CHECK(strcmp(known_builtin[i].url,
		    "https://cloudflare-dns.com/dns-query") == 0 ||
		    strcmp(known_builtin[i].url,
		    "https://dns.google/dns-query") == 0 ||
		    strcmp(known_builtin[i].url,
		    "https://dns.quad9.net/dns-query") == 0);
	config_free(&cfg);
}

int
main(void)
{
	test_builtin();
	test_configured();
	test_print();
	test_shipped();
	return check_summary();
}
