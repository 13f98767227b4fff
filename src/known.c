/*
 * known: the built-in table of public DoH servers and its lookup.
 *
 * Only addresses a provider documents as the same service as its DoH URL
 * are listed, so the URL's name holds for a connection made to that very
 * address and no lookup is needed.  The first three blocks are Windows'
 * own built-in list (conf/dohstub.conf pins the same names to the same
 * addresses); the filtering variants keep a host configured with one of
 * them on the same filtering.  Sources: Cloudflare's 1.1.1.1 documentation
 * ("IP addresses", "Set up": 1.1.1.1 for Families), Quad9's DNS stamps
 * (github.com/Quad9DNS/dnscrypt-settings, quad9-resolvers-doh.md), Google
 * Public DNS's documentation.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/known.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define CLOUDFLARE	"https://cloudflare-dns.com/dns-query"
#define CF_SECURITY	"https://security.cloudflare-dns.com/dns-query"
#define CF_FAMILY	"https://family.cloudflare-dns.com/dns-query"
#define GOOGLE		"https://dns.google/dns-query"
#define QUAD9		"https://dns.quad9.net/dns-query"
#define QUAD9_10	"https://dns10.quad9.net/dns-query"
#define QUAD9_11	"https://dns11.quad9.net/dns-query"

const struct known_entry known_builtin[] = {
	{ "Cloudflare", "1.1.1.1", CLOUDFLARE },
	{ "Cloudflare", "1.0.0.1", CLOUDFLARE },
	{ "Cloudflare", "2606:4700:4700::1111", CLOUDFLARE },
	{ "Cloudflare", "2606:4700:4700::1001", CLOUDFLARE },
	{ "Google", "8.8.8.8", GOOGLE },
	{ "Google", "8.8.4.4", GOOGLE },
	{ "Google", "2001:4860:4860::8888", GOOGLE },
	{ "Google", "2001:4860:4860::8844", GOOGLE },
	{ "Quad9", "9.9.9.9", QUAD9 },
	{ "Quad9", "149.112.112.112", QUAD9 },
	{ "Quad9", "2620:fe::fe", QUAD9 },
	{ "Quad9", "2620:fe::9", QUAD9 },
	{ "Cloudflare, malware blocking", "1.1.1.2", CF_SECURITY },
	{ "Cloudflare, malware blocking", "1.0.0.2", CF_SECURITY },
	{ "Cloudflare, malware blocking", "2606:4700:4700::1112", CF_SECURITY },
	{ "Cloudflare, malware blocking", "2606:4700:4700::1002", CF_SECURITY },
	{ "Cloudflare, malware and adult content blocking", "1.1.1.3",
	    CF_FAMILY },
	{ "Cloudflare, malware and adult content blocking", "1.0.0.3",
	    CF_FAMILY },
	{ "Cloudflare, malware and adult content blocking",
	    "2606:4700:4700::1113", CF_FAMILY },
	{ "Cloudflare, malware and adult content blocking",
	    "2606:4700:4700::1003", CF_FAMILY },
	{ "Quad9, unfiltered", "9.9.9.10", QUAD9_10 },
	{ "Quad9, unfiltered", "149.112.112.10", QUAD9_10 },
	{ "Quad9, unfiltered", "2620:fe::10", QUAD9_10 },
	{ "Quad9, unfiltered", "2620:fe::fe:10", QUAD9_10 },
	{ "Quad9, with ECS", "9.9.9.11", QUAD9_11 },
	{ "Quad9, with ECS", "149.112.112.11", QUAD9_11 },
	{ "Quad9, with ECS", "2620:fe::11", QUAD9_11 },
	{ "Quad9, with ECS", "2620:fe::fe:11", QUAD9_11 },
};
const size_t known_nbuiltin = nitems(known_builtin);

static int
known_same(const struct known_entry *e, const struct addr *a)
{
	struct addr b;

	return addr_parse_ip(e->addr, strlen(e->addr), 0, 0, &b) == 0 &&
	    addr_same_ip(&b, a);
}

/* cfg's entry for a, or NULL. */
static const struct config_known *
known_configured(const struct config *cfg, const struct addr *a)
{
	size_t i;

	for (i = 0; cfg != NULL && i < cfg->nknown; i++)
		if (addr_same_ip(&cfg->known[i].addr, a))
			return &cfg->known[i];
	return NULL;
}

const char *
known_lookup(const struct config *cfg, const struct addr *a,
    const char **provider)
{
	const struct config_known *k;
	size_t i;

	if ((k = known_configured(cfg, a)) != NULL) {
		if (provider != NULL)
			*provider = "";
		return k->url;
	}
	for (i = 0; i < known_nbuiltin; i++)
		if (known_same(&known_builtin[i], a)) {
			if (provider != NULL)
				*provider = known_builtin[i].provider;
			return known_builtin[i].url;
		}
	return NULL;
}

void
known_print(const struct config *cfg, FILE *fp)
{
	const struct known_entry *e;
	struct addr b;
	char ip[ADDR_STRLEN];
	size_t i;

	for (i = 0; cfg != NULL && i < cfg->nknown; i++)
		fprintf(fp, "known-server %s %s\n", addr_ip_str(
		    &cfg->known[i].addr, ip, sizeof(ip)), cfg->known[i].url);
	for (i = 0; i < known_nbuiltin; i++) {
		e = &known_builtin[i];
		if (addr_parse_ip(e->addr, strlen(e->addr), 0, 0, &b) == 0 &&
		    known_configured(cfg, &b) != NULL)
			fprintf(fp, "# known-server %s %s\t(%s, overridden)\n",
			    e->addr, e->url, e->provider);
		else
			fprintf(fp, "# known-server %s %s\t(%s)\n", e->addr,
			    e->url, e->provider);
	}
}
