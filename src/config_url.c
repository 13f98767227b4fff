/*
 * config_url: the syntaxes of an upstream (a URL "https://HOST[:PORT]/PATH"
 * or a server's address) and of a resolve pin ("HOST:PORT:ADDR[,ADDR...]"),
 * which dohq reads too, and the pins' lookup.  Part of the config module
 * (config.h); parsers only, no I/O, fuzzed by fuzz_url.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"

#include "config_int.h"

#define CONFIG_HTTPS_PORT	443
#define CONFIG_DEFAULT_PATH	"/dns-query"

static int
url_isdigit(int c)
{
	return c >= '0' && c <= '9';
}


/*
 * A host name as a TLS client sends it in SNI: LDH labels (underscores
 * tolerated) of 1..63 bytes, no hyphen at either end, at most 253 bytes in
 * all, no trailing dot.
 */
static int
config_valid_name(const char *s, size_t n)
{
	size_t i, label = 0;
	int c;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!url_isdigit(c) && !(c >= 'a' && c <= 'z') &&
		    !(c >= 'A' && c <= 'Z') && c != '-' && c != '_')
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-';
}

/* Only digits and dots: meant as an IPv4 address, not a name. */
static int
config_looks_ipv4(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!url_isdigit((unsigned char)s[i]) && s[i] != '.')
			return 0;
	return 1;
}

void
config_upstream_free(struct config_upstream *u)
{
	if (u == NULL)
		return;
	free(u->url);
	free(u->host);
	free(u->path);
	memset(u, 0, sizeof(*u));
}

int
config_parse_url(const char *s, struct config_upstream *out, char *err,
    size_t errlen)
{
	static const char scheme[] = "https://";
	struct addr a;
	const char *auth, *end, *he, *hs, *portp = NULL;
	size_t i, hlen;
	uint16_t port = CONFIG_HTTPS_PORT;
	int c, is_ip = 0;

	memset(out, 0, sizeof(*out));
	if (strncasecmp(s, scheme, sizeof(scheme) - 1) != 0) {
		config_errf(err, errlen, "\"%s\" is not an https:// URL", s);
		return -1;
	}
	if (strchr(s, '#') != NULL) {
		config_errf(err, errlen, "\"%s\": a fragment (#) is not "
		    "allowed", s);
		return -1;
	}
	for (i = 0; s[i] != '\0'; i++) {
		c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL) {
			config_errf(err, errlen, "\"%s\" has a character that "
			    "must be percent-encoded", s);
			return -1;
		}
	}
	auth = s + sizeof(scheme) - 1;
	end = auth + strcspn(auth, "/?");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
		config_errf(err, errlen, "\"%s\": userinfo (user@) is not "
		    "allowed", s);
		return -1;
	}
	if (auth[0] == '[') {
		if ((he = memchr(auth, ']', (size_t)(end - auth))) == NULL) {
			config_errf(err, errlen, "\"%.*s\" is not an IP "
			    "address", (int)(end - auth), auth);
			return -1;
		}
		he++;
		if (addr_parse_ip(auth, (size_t)(he - auth), 1, 0, &a) == -1 ||
		    a.ss.ss_family != AF_INET6) {
			config_errf(err, errlen, "\"%.*s\" is not an IP "
			    "address", (int)(he - auth), auth);
			return -1;
		}
		if (he < end && *he != ':') {
			config_errf(err, errlen, "\"%s\": junk after the host",
			    s);
			return -1;
		}
		hs = auth + 1;
		hlen = (size_t)(he - auth) - 2;
		is_ip = 1;
	} else {
		if ((he = memchr(auth, ':', (size_t)(end - auth))) == NULL)
			he = end;
		hs = auth;
		hlen = (size_t)(he - auth);
		if (hlen == 0) {
			config_errf(err, errlen, "\"%s\": empty host", s);
			return -1;
		}
		if (config_looks_ipv4(hs, hlen)) {
			if (addr_parse_ip(hs, hlen, 0, 0, &a) == -1) {
				config_errf(err, errlen, "\"%.*s\" is not an "
				    "IP address", (int)hlen, hs);
				return -1;
			}
			is_ip = 1;
		} else if (!config_valid_name(hs, hlen)) {
			config_errf(err, errlen, "\"%.*s\" is not a valid host "
			    "name", (int)hlen, hs);
			return -1;
		}
	}
	if (he < end)
		portp = he + 1;
	if (portp != NULL &&
	    addr_parse_port(portp, (size_t)(end - portp), &port) == -1) {
		config_errf(err, errlen, "\"%s\": port must be 1..65535", s);
		return -1;
	}
	if (*end != '\0' && *end != '/') {
		config_errf(err, errlen, "\"%s\": the path must start with '/'",
		    s);
		return -1;
	}
	out->url = strdup(s);
	out->host = strndup(hs, hlen);
	out->path = strdup(*end != '\0' ? end : CONFIG_DEFAULT_PATH);
	if (out->url == NULL || out->host == NULL || out->path == NULL) {
		config_upstream_free(out);
		config_errf(err, errlen, "out of memory");
		return -1;
	}
	out->port = port;
	out->host_is_ip = is_ip;
	return 0;
}

int
config_parse_upstream(const char *s, struct config_upstream *out, char *err,
    size_t errlen)
{
	struct addr a;

	if (strncasecmp(s, "https://", 8) == 0 || strstr(s, "://") != NULL)
		return config_parse_url(s, out, err, errlen);
	memset(out, 0, sizeof(*out));
	/* What looks like an address gets addr_parse's reason. */
	if (strpbrk(s, "[:") == NULL &&
	    !config_looks_ipv4(s, strlen(s))) {
		config_errf(err, errlen, "\"%s\" is neither an https:// URL "
		    "nor an IP address", s);
		return -1;
	}
	if (addr_parse(s, CONFIG_DNS_PORT, &a, err, errlen) == -1)
		return -1;
	if (addr_is_wildcard(&a)) {
		config_errf(err, errlen, "\"%s\" is a wildcard, not a server "
		    "address", s);
		return -1;
	}
	if ((out->url = strdup(s)) == NULL) {
		config_errf(err, errlen, "out of memory");
		return -1;
	}
	out->is_addr = 1;
	out->addr = a;
	out->port = addr_port(&a);
	return 0;
}

int
config_parse_resolve(const char *s, struct config_resolve *out,
    char *err, size_t errlen)
{
	const char *c1, *c2, *p, *q;
	uint16_t port;

	memset(out, 0, sizeof(*out));
	if ((c1 = strchr(s, ':')) == NULL ||
	    (c2 = strchr(c1 + 1, ':')) == NULL) {
		config_errf(err, errlen, "\"%s\" is not "
		    "HOST:PORT:ADDR[,ADDR...]", s);
		return -1;
	}
	if (c1 == s) {
		config_errf(err, errlen, "\"%s\": empty host", s);
		return -1;
	}
	if (!config_valid_name(s, (size_t)(c1 - s))) {
		config_errf(err, errlen, "\"%.*s\" is not a valid host name",
		    (int)(c1 - s), s);
		return -1;
	}
	if (addr_parse_port(c1 + 1, (size_t)(c2 - c1 - 1), &port) == -1) {
		config_errf(err, errlen, "\"%s\": port must be 1..65535", s);
		return -1;
	}
	for (p = c2 + 1;; p = q + 1) {
		if ((q = strchr(p, ',')) == NULL)
			q = p + strlen(p);
		if (q == p) {
			config_errf(err, errlen, "\"%s\": empty address", s);
			goto fail;
		}
		if (out->naddrs == ADDR_MAX_PER_NAME) {
			config_errf(err, errlen, "\"%s\": too many addresses "
			    "(at most %d)", s, ADDR_MAX_PER_NAME);
			goto fail;
		}
		if (addr_parse_ip(p, (size_t)(q - p), 1, port,
		    &out->addrs[out->naddrs]) == -1) {
			config_errf(err, errlen, "\"%.*s\" is not an IP "
			    "address", (int)(q - p), p);
			goto fail;
		}
		out->naddrs++;
		if (*q == '\0')
			break;
	}
	if ((out->host = strndup(s, (size_t)(c1 - s))) == NULL) {
		config_errf(err, errlen, "out of memory");
		goto fail;
	}
	out->port = port;
	return 0;
 fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

const struct config_resolve *
config_find_resolve(const struct config *cfg, const char *host,
    uint16_t port)
{
	size_t i;

	for (i = 0; i < cfg->nresolve; i++)
		if (cfg->resolve[i].host != NULL &&
		    cfg->resolve[i].port == port &&
		    strcasecmp(cfg->resolve[i].host, host) == 0)
			return &cfg->resolve[i];
	return NULL;
}
