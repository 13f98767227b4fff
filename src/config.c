/*
 * config: one table of settings serves the file, the environment and the
 * flags, so a key means the same thing wherever it is written.  The
 * parsers do no I/O (config_parse_buf) so they can be fuzzed; only
 * config_parse_file and config_finalize read files.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/tls1.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/log.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define CONFIG_LINE_MAX		1024	/* bytes, without the newline */
#define CONFIG_FILE_MAX		(1024 * 1024)
#define CONFIG_DNS_PORT		53
#define CONFIG_HTTPS_PORT	443
#define CONFIG_DEFAULT_PATH	"/dns-query"
#define CONFIG_DURSTRLEN	32

const char *const config_mode_names[] = {
	"encrypted-only", "encrypted-preferred", "plaintext",
};
const char *const config_method_names[] = { "post", "get" };
const char *const config_policy_names[] = {
	"ordered", "fastest", "round-robin",
};

static const char *const config_tls_names[] = { "1.2", "1.3" };
static const int config_tls_versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
static const char *const config_bool_names[] = { "no", "yes" };
static const char *const config_log_format_names[] = { "text", "json" };
static const char *const config_ratelimit_action_names[] = { "truncate",
    "drop" };
#define CONFIG_NMODES		3
#define CONFIG_NMETHODS		2
#define CONFIG_NLOGLEVELS	4	/* log_level_names */

struct config_setting {
	const char	*name;
	/* Parse value into cfg; a reason without source or key on error. */
	int		(*set)(struct config *cfg, const char *value,
			    char *reason, size_t len);
	/* Lists only: forget what a lower source set. */
	void		(*clear)(struct config *cfg);
};

static void	config_errf(char *err, size_t errlen, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

static void
config_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Not isspace(3): the locale must not change what a file means. */
static int
config_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int
config_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static const char *
config_name(const char *const names[], size_t n, size_t i)
{
	return i < n ? names[i] : "?";
}

/*
 * Strict decimal: s[0..n) digits only, no sign or space.  Returns 0, -1
 * if it is not a number, -2 if it exceeds max.
 */
static int
config_decimal(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0, d;
	size_t i;
	int over = 0;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!config_isdigit((unsigned char)s[i]))
			return -1;
		d = (uint64_t)(s[i] - '0');
		if (over || v > max / 10 || (v == max / 10 && d > max % 10))
			over = 1;
		else
			v = v * 10 + d;
	}
	if (over)
		return -2;
	*out = v;
	return 0;
}

/* A size as config_size() reads it: "1m", "64k", "1000". */
static void
config_fmt_size(unsigned v, char *buf, size_t size)
{
	if (v != 0 && v % (1024 * 1024) == 0)
		snprintf(buf, size, "%um", v / (1024 * 1024));
	else if (v != 0 && v % 1024 == 0)
		snprintf(buf, size, "%uk", v / 1024);
	else
		snprintf(buf, size, "%u", v);
}

static void
config_fmt_duration(unsigned ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%us", ms / 1000);
	else
		snprintf(buf, size, "%ums", ms);
}

/*
 * Would a query sent to a reach dohstub itself?  A wildcard listener takes
 * the loopback addresses too; an IPv6 one may be dual-stack.
 */
static int
config_is_ours(const struct config *cfg, const struct addr *a)
{
	const struct addr *l;
	size_t i;

	for (i = 0; i < cfg->nlisten; i++) {
		l = &cfg->listen[i];
		if (addr_port(l) != addr_port(a))
			continue;
		if (addr_same_ip(l, a))
			return 1;
		if (addr_is_wildcard(l) && addr_is_loopback(a) &&
		    (l->ss.ss_family == a->ss.ss_family ||
		    l->ss.ss_family == AF_INET6))
			return 1;
	}
	return 0;
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
		if (!config_isdigit(c) && !(c >= 'a' && c <= 'z') &&
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
		if (!config_isdigit((unsigned char)s[i]) && s[i] != '.')
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

/* The settings' parsers. */

static int
config_choice(const char *v, const char *const names[], size_t n,
    size_t *out, char *reason, size_t len)
{
	char list[128];
	size_t i, used = 0;

	for (i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	list[0] = '\0';
	for (i = 0; i < n && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%s%s", i > 0 ? ", " : "", names[i]);
	config_errf(reason, len, "\"%s\" is not one of %s", v, list);
	return -1;
}

static int
config_number(const char *v, unsigned min, unsigned max, unsigned *out,
    char *reason, size_t len)
{
	uint64_t x;
	int rc;

	if ((rc = config_decimal(v, strlen(v), max, &x)) == -1) {
		config_errf(reason, len, "\"%s\" is not a number", v);
		return -1;
	}
	if (rc == -2 || x < min) {
		config_errf(reason, len, "\"%s\" is out of range (%u..%u)", v,
		    min, max);
		return -1;
	}
	*out = (unsigned)x;
	return 0;
}

static int
config_duration(const char *v, unsigned min_ms, unsigned max_ms,
    unsigned *out, char *reason, size_t len)
{
	char lo[CONFIG_DURSTRLEN], hi[CONFIG_DURSTRLEN];
	size_t n = strspn(v, "0123456789");
	uint64_t x = 0, mult;
	int rc;

	if (v[n] == '\0' || strcmp(v + n, "s") == 0)
		mult = 1000;
	else if (strcmp(v + n, "ms") == 0)
		mult = 1;
	else if (strcmp(v + n, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(v + n, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(v + n, "d") == 0)
		mult = 86400 * 1000;
	else
		goto notdur;
	if ((rc = config_decimal(v, n, UINT64_MAX / (86400 * 1000), &x)) ==
	    -1)
		goto notdur;
	if (rc == -2 || x * mult < min_ms || x * mult > max_ms) {
		config_fmt_duration(min_ms, lo, sizeof(lo));
		config_fmt_duration(max_ms, hi, sizeof(hi));
		config_errf(reason, len, "\"%s\" is out of range (%s..%s)", v,
		    lo, hi);
		return -1;
	}
	*out = (unsigned)(x * mult);
	return 0;
 notdur:
	config_errf(reason, len, "\"%s\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)", v);
	return -1;
}

/* Bytes: N, Nk or Nm (binary multiples), in min..max. */
static int
config_size(const char *v, unsigned min, unsigned max, unsigned *out,
    char *reason, size_t len)
{
	char lo[32], hi[32];
	size_t n = strspn(v, "0123456789");
	uint64_t x = 0, mult;
	int rc;

	if (v[n] == '\0')
		mult = 1;
	else if (strcmp(v + n, "k") == 0 || strcmp(v + n, "K") == 0)
		mult = 1024;
	else if (strcmp(v + n, "m") == 0 || strcmp(v + n, "M") == 0)
		mult = 1024 * 1024;
	else
		goto notsize;
	if ((rc = config_decimal(v, n, UINT32_MAX, &x)) == -1)
		goto notsize;
	if (rc == -2 || x * mult < min || x * mult > max) {
		config_fmt_size(min, lo, sizeof(lo));
		config_fmt_size(max, hi, sizeof(hi));
		config_errf(reason, len, "\"%s\" is out of range (%s..%s)", v,
		    lo, hi);
		return -1;
	}
	*out = (unsigned)(x * mult);
	return 0;
 notsize:
	config_errf(reason, len, "\"%s\" is not a size (N, Nk or Nm)", v);
	return -1;
}

static int
config_strdup_to(char **dst, const char *v, char *reason, size_t len)
{
	char *s;

	if ((s = strdup(v)) == NULL) {
		config_errf(reason, len, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

static int
config_add_addr(struct addr *list, size_t *n, size_t max,
    int server, const char *v, char *reason, size_t len)
{
	struct addr a;

	if (*n >= max) {
		config_errf(reason, len, "too many (at most %zu)", max);
		return -1;
	}
	if (addr_parse(v, CONFIG_DNS_PORT, &a, reason, len) == -1)
		return -1;
	if (server && addr_is_wildcard(&a)) {
		config_errf(reason, len, "\"%s\" is a wildcard, not a server "
		    "address", v);
		return -1;
	}
	list[(*n)++] = a;
	return 0;
}

static int
set_listen(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_add_addr(cfg->listen, &cfg->nlisten, CONFIG_MAX_LISTEN,
	    0, v, reason, len);
}

static void
clear_listen(struct config *cfg)
{
	memset(cfg->listen, 0, sizeof(cfg->listen));
	cfg->nlisten = 0;
}

static int
set_mode(struct config *cfg, const char *v, char *reason, size_t len)
{
	size_t i;

	if (config_choice(v, config_mode_names, CONFIG_NMODES, &i, reason,
	    len) == -1)
		return -1;
	cfg->mode = (enum config_mode)i;
	return 0;
}

static int
set_upstream(struct config *cfg, const char *v, char *reason, size_t len)
{
	if (cfg->nupstream >= CONFIG_MAX_UPSTREAM) {
		config_errf(reason, len, "too many (at most %d)",
		    CONFIG_MAX_UPSTREAM);
		return -1;
	}
	if (config_parse_url(v, &cfg->upstream[cfg->nupstream], reason,
	    len) == -1)
		return -1;
	cfg->nupstream++;
	return 0;
}

static void
clear_upstream(struct config *cfg)
{
	size_t i;

	for (i = 0; i < CONFIG_MAX_UPSTREAM; i++)
		config_upstream_free(&cfg->upstream[i]);
	cfg->nupstream = 0;
}

static int
set_local_zone_exempt(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	struct config_zone *z;

	if (cfg->nlocal_exempt >= CONFIG_MAX_EXEMPT) {
		config_errf(reason, len, "too many (at most %d)",
		    CONFIG_MAX_EXEMPT);
		return -1;
	}
	z = &cfg->local_exempt[cfg->nlocal_exempt];
	if ((z->len = dnsmsg_name_from_text(v, z->name, sizeof(z->name))) ==
	    0) {
		config_errf(reason, len, "\"%s\" is not a domain name", v);
		return -1;
	}
	cfg->nlocal_exempt++;
	return 0;
}

static void
clear_local_zone_exempt(struct config *cfg)
{
	cfg->nlocal_exempt = 0;
}

static void
config_forward_free(struct config_forward *f)
{
	size_t i;

	for (i = 0; i < CONFIG_MAX_FORWARD_TARGETS; i++)
		config_upstream_free(&f->upstream[i]);
}

/* One target of rule f: a DoH URL or a plain DNS server, not both. */
static int
config_forward_target(struct config_forward *f, const char *t, char *reason,
    size_t len)
{
	int doh = strncasecmp(t, "https://", 8) == 0;

	if (f->nupstream + f->nservers > 0 && doh != f->doh) {
		config_errf(reason, len, "\"%s\": a rule's targets are all DoH "
		    "URLs or all plain DNS addresses", t);
		return -1;
	}
	if (f->nupstream + f->nservers >= CONFIG_MAX_FORWARD_TARGETS) {
		config_errf(reason, len, "too many targets (at most %d)",
		    CONFIG_MAX_FORWARD_TARGETS);
		return -1;
	}
	f->doh = doh;
	if (doh) {
		if (config_parse_url(t, &f->upstream[f->nupstream], reason,
		    len) == -1)
			return -1;
		f->nupstream++;
		return 0;
	}
	return config_add_addr(f->servers, &f->nservers,
	    CONFIG_MAX_FORWARD_TARGETS, 1, t, reason, len);
}

/* "ZONE TARGET...", the words separated by spaces. */
static int
set_forward(struct config *cfg, const char *v, char *reason, size_t len)
{
	struct config_forward *f, *nf;
	char word[CONFIG_LINE_MAX + 1];
	const char *p = v;
	size_t i, n, nw;

	if (cfg->nforward >= CONFIG_MAX_FORWARD) {
		config_errf(reason, len, "too many (at most %d)",
		    CONFIG_MAX_FORWARD);
		return -1;
	}
	if ((nf = realloc(cfg->forward, (cfg->nforward + 1) *
	    sizeof(*nf))) == NULL) {
		config_errf(reason, len, "out of memory");
		return -1;
	}
	cfg->forward = nf;
	f = &nf[cfg->nforward];
	memset(f, 0, sizeof(*f));
	for (nw = 0;; nw++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " ");
		/* config_set() bounds a value by the longest line. */
		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, p, n);
		word[n] = '\0';
		p += n;
		if (nw > 0) {
			if (config_forward_target(f, word, reason, len) == -1)
				goto fail;
			continue;
		}
		if ((f->zone.len = dnsmsg_name_from_text(word, f->zone.name,
		    sizeof(f->zone.name))) == 0) {
			config_errf(reason, len, "\"%s\" is not a domain name",
			    word);
			goto fail;
		}
		/* The root would replace upstream and fallback. */
		if (f->zone.len == 1) {
			config_errf(reason, len, "the root zone cannot be "
			    "forwarded (upstream and fallback say where "
			    "everything else goes)");
			goto fail;
		}
		for (i = 0; i < cfg->nforward; i++)
			if (dnsmsg_name_equal(cfg->forward[i].zone.name,
			    cfg->forward[i].zone.len, f->zone.name,
			    f->zone.len)) {
				config_errf(reason, len, "zone \"%s\" is "
				    "forwarded twice", word);
				goto fail;
			}
	}
	if (nw < 2) {
		config_errf(reason, len, "\"%s\": ZONE TARGET... (a zone, then "
		    "DoH URLs or DNS server addresses, separated by spaces)",
		    v);
		goto fail;
	}
	cfg->nforward++;
	return 0;
 fail:
	config_forward_free(f);
	return -1;
}

static void
clear_forward(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nforward; i++)
		config_forward_free(&cfg->forward[i]);
	cfg->nforward = 0;
}

const struct config_forward *
config_find_forward(const struct config *cfg, const uint8_t *name,
    size_t len)
{
	const struct config_forward *f, *best = NULL;
	size_t i;

	for (i = 0; i < cfg->nforward; i++) {
		f = &cfg->forward[i];
		if ((best == NULL || f->zone.len > best->zone.len) &&
		    dnsmsg_name_below(name, len, f->zone.name, f->zone.len))
			best = f;
	}
	return best;
}

/* As dnsdist's default ACL: the host and the private networks. */
const char *const config_acl_defaults[] = {
	"127.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16",
	"172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7",
	"fe80::/10", NULL,
};

static int
config_add_prefix(struct addr_prefix *list, size_t *n, const char *v,
    char *reason, size_t len)
{
	if (*n >= CONFIG_MAX_ACL) {
		config_errf(reason, len, "too many (at most %d)",
		    CONFIG_MAX_ACL);
		return -1;
	}
	if (addr_prefix_parse(v, &list[*n], reason, len) == -1)
		return -1;
	(*n)++;
	return 0;
}

static int
set_allow(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_add_prefix(cfg->allow, &cfg->nallow, v, reason, len);
}

static void
clear_allow(struct config *cfg)
{
	cfg->nallow = 0;
}

static int
set_deny(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_add_prefix(cfg->deny, &cfg->ndeny, v, reason, len);
}

static void
clear_deny(struct config *cfg)
{
	cfg->ndeny = 0;
}

/* The longest prefix of list[n] holding a, or -1. */
static int
config_longest(const struct addr_prefix *list, size_t n, const struct addr *a)
{
	int best = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if ((int)list[i].bits > best && addr_prefix_match(&list[i], a))
			best = (int)list[i].bits;
	return best;
}

int
config_acl_allows(const struct config *cfg, const struct addr *a)
{
	static struct addr_prefix defaults[16];
	static size_t ndefaults;
	int allow, deny;
	size_t i;

	allow = config_longest(cfg->allow, cfg->nallow, a);
	deny = config_longest(cfg->deny, cfg->ndeny, a);
	if (allow >= 0 || deny >= 0)
		return allow > deny;
	if (ndefaults == 0)
		for (i = 0; config_acl_defaults[i] != NULL; i++)
			if (addr_prefix_parse(config_acl_defaults[i],
			    &defaults[ndefaults], NULL, 0) == 0)
				ndefaults++;
	return config_longest(defaults, ndefaults, a) >= 0;
}

static int
set_resolve(struct config *cfg, const char *v, char *reason, size_t len)
{
	if (cfg->nresolve >= CONFIG_MAX_RESOLVE) {
		config_errf(reason, len, "too many (at most %d)",
		    CONFIG_MAX_RESOLVE);
		return -1;
	}
	if (config_parse_resolve(v, &cfg->resolve[cfg->nresolve], reason,
	    len) == -1)
		return -1;
	cfg->nresolve++;
	return 0;
}

static void
clear_resolve(struct config *cfg)
{
	size_t i;

	for (i = 0; i < CONFIG_MAX_RESOLVE; i++)
		free(cfg->resolve[i].host);
	memset(cfg->resolve, 0, sizeof(cfg->resolve));
	cfg->nresolve = 0;
}

static int
set_bootstrap(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_add_addr(cfg->bootstrap, &cfg->nbootstrap,
	    CONFIG_MAX_SERVERS, 1, v, reason, len);
}

static void
clear_bootstrap(struct config *cfg)
{
	memset(cfg->bootstrap, 0, sizeof(cfg->bootstrap));
	cfg->nbootstrap = 0;
}

static int
set_fallback(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_add_addr(cfg->fallback, &cfg->nfallback,
	    CONFIG_MAX_SERVERS, 1, v, reason, len);
}

static void
clear_fallback(struct config *cfg)
{
	memset(cfg->fallback, 0, sizeof(cfg->fallback));
	cfg->nfallback = 0;
}

static int
set_ca_file(struct config *cfg, const char *v, char *reason, size_t len)
{
	/* Readability is checked by config_finalize, after every source. */
	return config_strdup_to(&cfg->ca_file, v, reason, len);
}

static int
set_method(struct config *cfg, const char *v, char *reason, size_t len)
{
	size_t i;

	if (config_choice(v, config_method_names, CONFIG_NMETHODS, &i,
	    reason, len) == -1)
		return -1;
	cfg->method = (enum config_method)i;
	return 0;
}

static int
set_upstream_policy(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	size_t i;

	if (config_choice(v, config_policy_names,
	    nitems(config_policy_names), &i, reason, len) == -1)
		return -1;
	cfg->upstream_policy = (enum config_policy)i;
	return 0;
}

static int
set_hedge_delay(struct config *cfg, const char *v, char *reason, size_t len)
{
	if (strcmp(v, "auto") == 0) {
		cfg->hedge_delay_ms = CONFIG_HEDGE_AUTO;
		return 0;
	}
	return config_duration(v, 0, 60 * 1000, &cfg->hedge_delay_ms, reason,
	    len);
}

static int
set_tls_min_version(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	size_t i;

	if (config_choice(v, config_tls_names, nitems(config_tls_names), &i,
	    reason, len) == -1)
		return -1;
	cfg->tls_min_version = config_tls_versions[i];
	return 0;
}

static int
set_timeout(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_duration(v, 100, 60 * 1000, &cfg->timeout_ms, reason,
	    len);
}

/* At least a second: a TTL of 0 must not become a lookup loop. */
static int
set_bootstrap_min_ttl(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_duration(v, 1000, 3600 * 1000, &cfg->bootstrap_min_ttl_ms,
	    reason, len);
}

static int
set_keepalive(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_duration(v, 0, 3600 * 1000, &cfg->keepalive_ms, reason,
	    len);
}

static int
set_tcp_idle_timeout(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_duration(v, 100, 3600 * 1000, &cfg->tcp_idle_timeout_ms,
	    reason, len);
}

static int
set_max_pending(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_number(v, 1, 1000000, &cfg->max_pending, reason, len);
}

/*
 * Fairness and the rate limit.  max-pending-per-client is "auto" (half
 * of max-pending, resolved by config_finalize once max-pending is known)
 * or a number, 0 for no cap.
 */
static int
set_max_pending_client(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	if (strcmp(v, "auto") == 0) {
		cfg->max_pending_client = CONFIG_PER_CLIENT_AUTO;
		return 0;
	}
	if (strspn(v, "0123456789") != strlen(v)) {
		config_errf(reason, len, "\"%s\" is not a number or auto", v);
		return -1;
	}
	return config_number(v, 0, 1000000, &cfg->max_pending_client, reason,
	    len);
}

static int
set_ratelimit(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_number(v, 0, 1000000, &cfg->ratelimit, reason, len);
}

static int
set_ratelimit_size(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_number(v, 16, 10000000, &cfg->ratelimit_size, reason,
	    len);
}

static int
set_ratelimit_action(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	size_t i;

	if (config_choice(v, config_ratelimit_action_names,
	    nitems(config_ratelimit_action_names), &i, reason, len) == -1)
		return -1;
	cfg->ratelimit_drop = (int)i;
	return 0;
}

static int
set_max_tcp_clients(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_number(v, 1, 100000, &cfg->max_tcp_clients, reason,
	    len);
}

static int
set_edns_udp_size(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_number(v, 512, 4096, &cfg->edns_udp_size, reason, len);
}

/* 512: a padded query always fits a pooled query object (proxy.c). */
static int
set_padding_block(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_number(v, 0, 512, &cfg->padding_block, reason, len);
}

static int
set_cache_size(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_size(v, 0, 1024 * 1024 * 1024, &cfg->cache_size, reason,
	    len);
}

static int
set_cache_min_ttl(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_duration(v, 0, 3600 * 1000, &cfg->cache_min_ttl_ms,
	    reason, len);
}

static int
set_cache_max_ttl(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_duration(v, 1000, 7 * 86400 * 1000,
	    &cfg->cache_max_ttl_ms, reason, len);
}

static int
set_cache_max_negative_ttl(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_duration(v, 0, 86400 * 1000,
	    &cfg->cache_max_negative_ttl_ms, reason, len);
}

static int
set_cache_servfail_ttl(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_duration(v, 0, 30 * 1000, &cfg->cache_servfail_ttl_ms,
	    reason, len);
}

static int
set_serve_stale(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_duration(v, 0, 7 * 86400 * 1000, &cfg->serve_stale_ms,
	    reason, len);
}

static int
set_serve_stale_timeout(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_duration(v, 100, 60 * 1000, &cfg->serve_stale_timeout_ms,
	    reason, len);
}

static int
config_bool(const char *v, int *out, char *reason, size_t len)
{
	size_t i;

	if (config_choice(v, config_bool_names, nitems(config_bool_names), &i,
	    reason, len) == -1)
		return -1;
	*out = (int)i;
	return 0;
}

static int
set_prefetch(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_bool(v, &cfg->prefetch, reason, len);
}

static int
set_udp_rcvbuf(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_size(v, 0, 64 * 1024 * 1024, &cfg->udp_rcvbuf, reason,
	    len);
}

static int
set_user(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_strdup_to(&cfg->user, v, reason, len);
}

static int
set_log_level(struct config *cfg, const char *v, char *reason, size_t len)
{
	size_t i;

	if (config_choice(v, log_level_names, CONFIG_NLOGLEVELS, &i, reason,
	    len) == -1)
		return -1;
	cfg->log_level = (int)i;
	return 0;
}

static int
set_syslog(struct config *cfg, const char *v, char *reason, size_t len)
{
	return config_bool(v, &cfg->syslog, reason, len);
}

static int
set_log_format(struct config *cfg, const char *v, char *reason, size_t len)
{
	size_t i;

	if (config_choice(v, config_log_format_names,
	    nitems(config_log_format_names), &i, reason, len) == -1)
		return -1;
	cfg->log_json = (int)i;
	return 0;
}

/* No default port: whatever a scraper is told must be written out. */
static int
set_metrics(struct config *cfg, const char *v, char *reason, size_t len)
{
	struct addr a;

	if (addr_parse(v, 0, &a, reason, len) == -1)
		return -1;
	if (addr_port(&a) == 0) {
		config_errf(reason, len, "\"%s\": a port is required "
		    "(ADDR:PORT, [IPv6]:PORT)", v);
		return -1;
	}
	cfg->metrics = a;
	return 0;
}

static int
set_watch_network(struct config *cfg, const char *v, char *reason,
    size_t len)
{
	return config_bool(v, &cfg->watch_network, reason, len);
}

static int
set_resolv_conf(struct config *cfg, const char *v, char *reason, size_t len)
{
	if (*v != '/') {
		config_errf(reason, len, "\"%s\": an absolute path is "
		    "required", v);
		return -1;
	}
	return config_strdup_to(&cfg->resolv_conf, v, reason, len);
}

/* In the order config_print writes them. */
static const struct config_setting config_settings[] = {
	{ "listen",		set_listen,		clear_listen },
	{ "mode",		set_mode,		NULL },
	{ "upstream",		set_upstream,		clear_upstream },
	{ "resolve",		set_resolve,		clear_resolve },
	{ "bootstrap",		set_bootstrap,		clear_bootstrap },
	{ "bootstrap-min-ttl",	set_bootstrap_min_ttl,	NULL },
	{ "fallback",		set_fallback,		clear_fallback },
	{ "allow",		set_allow,		clear_allow },
	{ "deny",		set_deny,		clear_deny },
	{ "local-zone-exempt",	set_local_zone_exempt,
				clear_local_zone_exempt },
	{ "forward",		set_forward,		clear_forward },
	{ "ca-file",		set_ca_file,		NULL },
	{ "method",		set_method,		NULL },
	{ "upstream-policy",	set_upstream_policy,	NULL },
	{ "hedge-delay",	set_hedge_delay,	NULL },
	{ "tls-min-version",	set_tls_min_version,	NULL },
	{ "timeout",		set_timeout,		NULL },
	{ "keepalive",		set_keepalive,		NULL },
	{ "tcp-idle-timeout",	set_tcp_idle_timeout,	NULL },
	{ "max-pending",	set_max_pending,	NULL },
	{ "max-pending-per-client", set_max_pending_client, NULL },
	{ "ratelimit",		set_ratelimit,		NULL },
	{ "ratelimit-size",	set_ratelimit_size,	NULL },
	{ "ratelimit-action",	set_ratelimit_action,	NULL },
	{ "max-tcp-clients",	set_max_tcp_clients,	NULL },
	{ "edns-udp-size",	set_edns_udp_size,	NULL },
	{ "padding-block",	set_padding_block,	NULL },
	{ "udp-rcvbuf",		set_udp_rcvbuf,		NULL },
	{ "cache-size",		set_cache_size,		NULL },
	{ "cache-min-ttl",	set_cache_min_ttl,	NULL },
	{ "cache-max-ttl",	set_cache_max_ttl,	NULL },
	{ "cache-max-negative-ttl", set_cache_max_negative_ttl, NULL },
	{ "cache-servfail-ttl",	set_cache_servfail_ttl,	NULL },
	{ "serve-stale",	set_serve_stale,	NULL },
	{ "serve-stale-timeout", set_serve_stale_timeout, NULL },
	{ "prefetch",		set_prefetch,		NULL },
	{ "user",		set_user,		NULL },
	{ "log-level",		set_log_level,		NULL },
	{ "log-format",		set_log_format,		NULL },
	{ "syslog",		set_syslog,		NULL },
	{ "metrics",		set_metrics,		NULL },
	{ "watch-network",	set_watch_network,	NULL },
	{ "resolv-conf",	set_resolv_conf,	NULL },
};
_Static_assert(nitems(config_settings) <= CONFIG_NKEYS,
    "CONFIG_NKEYS is too small");

static const struct config_setting *
config_lookup(const char *key)
{
	size_t i;

	for (i = 0; i < nitems(config_settings); i++)
		if (strcmp(config_settings[i].name, key) == 0)
			return &config_settings[i];
	return NULL;
}

/* Does where ("--mode", "DOHSTUB_MODE") already name key? */
static int
config_names_key(const char *where, const char *key)
{
	int c;

	if (strncmp(where, "--", 2) == 0)
		where += 2;
	else if (strncmp(where, "DOHSTUB_", 8) == 0)
		where += 8;
	else
		return 0;
	for (; *where != '\0' && *key != '\0'; where++, key++) {
		c = (unsigned char)*where;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		else if (c == '_')
			c = '-';
		if (c != *key)
			return 0;
	}
	return *where == '\0' && *key == '\0';
}

static int
config_fail(char *err, size_t errlen, const char *where, const char *key,
    const char *reason)
{
	if (where == NULL || *where == '\0')
		config_errf(err, errlen, "%s: %s", key, reason);
	else if (config_names_key(where, key))
		config_errf(err, errlen, "%s: %s", where, reason);
	else
		config_errf(err, errlen, "%s: %s: %s", where, key, reason);
	return -1;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = MODE_ENCRYPTED_ONLY;
	cfg->method = METHOD_POST;
	cfg->upstream_policy = POLICY_FASTEST;
	cfg->hedge_delay_ms = CONFIG_HEDGE_AUTO;
	cfg->tls_min_version = TLS1_3_VERSION;
	cfg->timeout_ms = 2000;
	cfg->keepalive_ms = 15000;
	cfg->bootstrap_min_ttl_ms = 30000;
	cfg->max_pending = 1024;
	cfg->max_pending_client = CONFIG_PER_CLIENT_AUTO;
	cfg->ratelimit = 0;
	cfg->ratelimit_size = 10000;
	cfg->max_tcp_clients = 256;
	cfg->tcp_idle_timeout_ms = 10000;
	cfg->edns_udp_size = 1232;
	cfg->padding_block = 128;	/* RFC 8467 4.1 */
	cfg->udp_rcvbuf = 1024 * 1024;
	cfg->cache_size = 4 * 1024 * 1024;
	cfg->cache_min_ttl_ms = 0;
	cfg->cache_max_ttl_ms = 86400 * 1000;
	cfg->cache_max_negative_ttl_ms = 3600 * 1000;
	cfg->cache_servfail_ttl_ms = 5 * 1000;
	cfg->serve_stale_ms = 3600 * 1000;
	cfg->serve_stale_timeout_ms = 1800;
	cfg->prefetch = 1;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->syslog = 0;
	cfg->watch_network = 1;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	/* Every slot, not just the counted ones: cfg may be half-filled. */
	for (i = 0; i < CONFIG_MAX_UPSTREAM; i++)
		config_upstream_free(&cfg->upstream[i]);
	for (i = 0; i < CONFIG_MAX_RESOLVE; i++)
		free(cfg->resolve[i].host);
	clear_forward(cfg);
	free(cfg->forward);
	free(cfg->ca_file);
	free(cfg->user);
	free(cfg->resolv_conf);
	memset(cfg, 0, sizeof(*cfg));
}

int
config_set(struct config *cfg, const char *key, const char *value,
    const char *where, int source, char *err, size_t errlen)
{
	const struct config_setting *st;
	struct config scratch;
	char reason[CONFIG_ERRLEN];
	const char *p;
	size_t idx;
	int c, rc;

	if ((st = config_lookup(key)) == NULL)
		return config_fail(err, errlen, where, key, "unknown setting");
	idx = (size_t)(st - config_settings);
	if (value == NULL || *value == '\0')
		return config_fail(err, errlen, where, key, "empty value");
	/* Whatever is accepted must print back in the file syntax. */
	for (p = value; *p != '\0'; p++) {
		c = (unsigned char)*p;
		if (c < ' ' || c == 0x7f)
			return config_fail(err, errlen, where, key,
			    "the value contains a control character");
		if (c == '"')
			return config_fail(err, errlen, where, key,
			    "the value contains a double quote");
	}
	if (source < cfg->set_by[idx]) {
		/* A higher source has the last word; still report errors. */
		config_defaults(&scratch);
		rc = st->set(&scratch, value, reason, sizeof(reason));
		config_free(&scratch);
	} else {
		if (source > cfg->set_by[idx]) {
			if (st->clear != NULL)
				st->clear(cfg);
			cfg->set_by[idx] = source;
		}
		rc = st->set(cfg, value, reason, sizeof(reason));
	}
	if (rc == -1)
		return config_fail(err, errlen, where, key, reason);
	return 0;
}

int
config_set_flag(struct config *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	char where[CONFIG_KEYLEN + 3];

	if (strlen(key) > CONFIG_KEYLEN) {
		config_errf(err, errlen, "--%s: unknown setting", key);
		return -1;
	}
	snprintf(where, sizeof(where), "--%s", key);
	return config_set(cfg, key, value, where, CONFIG_SRC_FLAG, err,
	    errlen);
}

/*
 * Read a whole file, NUL-terminated (it may hold NULs of its own).
 * Returns 0, or -1 with errno set.
 */
static int
config_slurp(const char *path, char **bufp, size_t *lenp)
{
	FILE *fp;
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;
	int saved;

	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	for (;;) {
		if (len == cap) {
			if (cap >= CONFIG_FILE_MAX) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if ((nbuf = realloc(buf, cap + 1)) == NULL)
				goto fail;
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0) {
			if (ferror(fp)) {
				if (errno == 0)
					errno = EIO;
				goto fail;
			}
			break;
		}
	}
	fclose(fp);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
 fail:
	saved = errno;
	free(buf);
	fclose(fp);
	errno = saved;
	return -1;
}

int
config_parse_file(struct config *cfg, const char *path, int must_exist,
    char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	errno = 0;
	if (config_slurp(path, &buf, &len) == -1) {
		if (errno == ENOENT && !must_exist)
			return 0;
		config_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = config_parse_buf(cfg, path, buf, len, err, errlen);
	free(buf);
	return rc;
}

/* One line, NUL-terminated, modified in place. */
static int
config_parse_line(struct config *cfg, char *line, const char *where,
    char *err, size_t errlen)
{
	const struct config_setting *st;
	char *p = line, *key, *val, *end, *w;

	while (config_isspace(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	key = p;
	while (*p != '\0' && !config_isspace(*p))
		p++;
	if (*p != '\0')
		*p++ = '\0';
	if ((st = config_lookup(key)) == NULL)
		return config_fail(err, errlen, where, key, "unknown setting");
	while (config_isspace(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return config_fail(err, errlen, where, key, "missing value");
	if (st->set == set_forward && *p != '"') {
		/* Words to the end of the line, one space between them. */
		for (val = w = p; *p != '\0' && *p != '#'; p++)
			if (!config_isspace(*p))
				*w++ = *p;
			else if (w > val && w[-1] != ' ')
				*w++ = ' ';
		if (w > val && w[-1] == ' ')
			w--;
		*w = '\0';
		return config_set(cfg, key, val, where, CONFIG_SRC_FILE, err,
		    errlen);
	}
	if (*p == '"') {
		val = ++p;
		if ((end = strchr(p, '"')) == NULL)
			return config_fail(err, errlen, where, key,
			    "unterminated quote");
		*end = '\0';
		p = end + 1;
	} else {
		val = p;
		while (*p != '\0' && !config_isspace(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	while (config_isspace(*p))
		p++;
	if (*p != '\0' && *p != '#')
		return config_fail(err, errlen, where, key, "unexpected text "
		    "after the value (quote a value that contains spaces)");
	return config_set(cfg, key, val, where, CONFIG_SRC_FILE, err, errlen);
}

int
config_parse_buf(struct config *cfg, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	char line[CONFIG_LINE_MAX + 1], where[CONFIG_ERRLEN];
	const char *nl;
	size_t pos = 0, n, lineno = 0;

	if (name == NULL)
		name = "(config)";
	while (pos < len) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%zu", name, lineno);
		nl = memchr(buf + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
		if (n > CONFIG_LINE_MAX) {
			config_errf(err, errlen, "%s: line is longer than %d "
			    "bytes", where, CONFIG_LINE_MAX);
			return -1;
		}
		if (memchr(buf + pos, '\0', n) != NULL) {
			config_errf(err, errlen, "%s: line contains a NUL byte",
			    where);
			return -1;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + (nl != NULL);
		if (config_parse_line(cfg, line, where, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/*
 * A comma-separated list from the environment.  A resolve value has
 * commas of its own, so an item that is a bare address continues the
 * resolve entry before it.
 */
static int
config_env_list(struct config *cfg, const char *key, const char *val,
    const char *where, char *err, size_t errlen)
{
	struct addr ip;
	const char *p, *q, *s, *e;
	char *entry;
	size_t elen = 0;
	int rc = 0, resolve = strcmp(key, "resolve") == 0;

	if ((entry = malloc(strlen(val) + 1)) == NULL)
		return config_fail(err, errlen, where, key, "out of memory");
	for (p = val;; p = q + 1) {
		if ((q = strchr(p, ',')) == NULL)
			q = p + strlen(p);
		for (s = p; s < q && config_isspace(*s); s++)
			;
		for (e = q; e > s && config_isspace(e[-1]); e--)
			;
		if (s == e) {
			rc = config_fail(err, errlen, where, key,
			    "empty value in the list");
			break;
		}
		if (resolve && elen > 0 &&
		    addr_parse_ip(s, (size_t)(e - s), 1, 0, &ip) == 0)
			entry[elen++] = ',';
		else if (elen > 0) {
			entry[elen] = '\0';
			if ((rc = config_set(cfg, key, entry, where,
			    CONFIG_SRC_ENV, err, errlen)) == -1)
				break;
			elen = 0;
		}
		memcpy(entry + elen, s, (size_t)(e - s));
		elen += (size_t)(e - s);
		if (*q == '\0')
			break;
	}
	if (rc == 0 && elen > 0) {
		entry[elen] = '\0';
		rc = config_set(cfg, key, entry, where, CONFIG_SRC_ENV, err,
		    errlen);
	}
	free(entry);
	return rc;
}

int
config_parse_env(struct config *cfg, char *const envp[], char *err,
    size_t errlen)
{
	/* DOHSTUB_CONFIG names the file, not a setting. */
	static const char *const skip[] = { "CONFIG" };
	static const char prefix[] = "DOHSTUB_";
	const struct config_setting *st;
	const char *e, *eq, *val, *suffix;
	char key[64], name[sizeof(prefix) + sizeof(key)];
	size_t i, j, n, slen;
	int c, rc, skipped;

	if (envp == NULL)
		return 0;
	for (i = 0; envp[i] != NULL; i++) {
		e = envp[i];
		if (strncmp(e, prefix, sizeof(prefix) - 1) != 0)
			continue;
		eq = strchr(e, '=');
		n = eq != NULL ? (size_t)(eq - e) : strlen(e);
		val = eq != NULL ? eq + 1 : "";
		suffix = e + sizeof(prefix) - 1;
		slen = n - (sizeof(prefix) - 1);
		skipped = 0;
		for (j = 0; j < nitems(skip); j++)
			if (slen == strlen(skip[j]) &&
			    memcmp(suffix, skip[j], slen) == 0)
				skipped = 1;
		if (skipped)
			continue;
		if (slen >= sizeof(key)) {
			config_errf(err, errlen, "%.*s: unknown setting",
			    (int)n, e);
			return -1;
		}
		for (j = 0; j < slen; j++) {
			c = (unsigned char)suffix[j];
			if (c >= 'A' && c <= 'Z')
				c += 'a' - 'A';
			else if (c == '_')
				c = '-';
			key[j] = (char)c;
		}
		key[slen] = '\0';
		if ((st = config_lookup(key)) == NULL) {
			config_errf(err, errlen, "%.*s: unknown setting",
			    (int)n, e);
			return -1;
		}
		/* A known key: the name is short enough for the buffer. */
		snprintf(name, sizeof(name), "%.*s", (int)n, e);
		if (*val == '\0') {
			config_errf(err, errlen, "%s: empty value", name);
			return -1;
		}
		if (st->clear != NULL)
			rc = config_env_list(cfg, key, val, name, err, errlen);
		else
			rc = config_set(cfg, key, val, name, CONFIG_SRC_ENV,
			    err, errlen);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/*
 * The nameservers of a resolv.conf (port 53) that are not dohstub itself,
 * without duplicates.  A missing file gives none; any other failure to
 * read it (out of memory, say) is -1 with errno set, not "none".
 */
static ssize_t
config_nameservers(const struct config *cfg, const char *path,
    struct addr *out, size_t max)
{
	struct addr a;
	char *buf, *line, *next, *p, *tok;
	size_t len, n = 0, i;
	int dup;

	if (config_slurp(path, &buf, &len) == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	for (line = buf; line != NULL && line < buf + len; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		for (p = line; config_isspace(*p); p++)
			;
		if (strncmp(p, "nameserver", 10) != 0 ||
		    !config_isspace(p[10]))
			continue;
		for (p += 10; config_isspace(*p); p++)
			;
		for (tok = p; *p != '\0' && !config_isspace(*p) && *p != '#' &&
		    *p != ';'; p++)
			;
		*p = '\0';
		if (addr_parse_ip(tok, strlen(tok), 0, CONFIG_DNS_PORT,
		    &a) == -1 || config_is_ours(cfg, &a))
			continue;
		for (dup = 0, i = 0; i < n; i++)
			dup |= addr_same_ip(&out[i], &a);
		if (!dup && n < max)
			out[n++] = a;
	}
	free(buf);
	return n;
}

static int
config_check_loops(const struct config *cfg, const char *key,
    const struct addr *list, size_t n, char *err, size_t errlen)
{
	char a[ADDR_STRLEN];
	size_t i;

	for (i = 0; i < n; i++)
		if (config_is_ours(cfg, &list[i])) {
			config_errf(err, errlen, "%s: %s is one of our listen "
			    "addresses (a loop)", key,
			    addr_str(&list[i], a, sizeof(a)));
			return -1;
		}
	return 0;
}

/*
 * An upstream (key names it for messages) must be reachable: an IP, a
 * resolve pin or a bootstrap server; and method get needs a path
 * without a query of its own.
 */
static int
config_check_upstream(const struct config *cfg, const char *key,
    const struct config_upstream *u, int need_addr, char *err, size_t errlen)
{
	if (need_addr && !u->host_is_ip && cfg->nbootstrap == 0 &&
	    config_find_resolve(cfg, u->host, u->port) == NULL) {
		config_errf(err, errlen, "%s: %s: no resolve pin for %s:%u and "
		    "no bootstrap server", key, u->url, u->host, u->port);
		return -1;
	}
	if (cfg->method == METHOD_GET && strchr(u->path, '?') != NULL) {
		config_errf(err, errlen, "%s: %s: method get adds its own "
		    "query; this path needs method post", key, u->url);
		return -1;
	}
	return 0;
}

/* Every forward rule is used in every mode, its DoH URLs included. */
static int
config_check_forward(const struct config *cfg, char *err, size_t errlen)
{
	const struct config_forward *f;
	char key[sizeof("forward ") + DNS_MAX_NAME_TEXT];
	char name[DNS_MAX_NAME_TEXT];
	size_t i, j;

	for (i = 0; i < cfg->nforward; i++) {
		f = &cfg->forward[i];
		(void)dnsmsg_name_to_text(f->zone.name, f->zone.len, name,
		    sizeof(name), 0);
		snprintf(key, sizeof(key), "forward %s", name);
		if (config_check_loops(cfg, key, f->servers, f->nservers, err,
		    errlen) == -1)
			return -1;
		for (j = 0; j < f->nupstream; j++)
			if (config_check_upstream(cfg, key, &f->upstream[j], 1,
			    err, errlen) == -1)
				return -1;
	}
	return 0;
}

/* Is an upstream (in an encrypted mode) or a DoH rule's server a name
 * with no resolve pin, to be looked up through the bootstrap servers? */
static int
config_needs_bootstrap(const struct config *cfg)
{
	const struct config_upstream *u;
	size_t i, j;

	for (i = 0; cfg->mode != MODE_PLAINTEXT && i < cfg->nupstream; i++) {
		u = &cfg->upstream[i];
		if (!u->host_is_ip &&
		    config_find_resolve(cfg, u->host, u->port) == NULL)
			return 1;
	}
	for (i = 0; i < cfg->nforward; i++)
		for (j = 0; j < cfg->forward[i].nupstream; j++) {
			u = &cfg->forward[i].upstream[j];
			if (!u->host_is_ip &&
			    config_find_resolve(cfg, u->host, u->port) == NULL)
				return 1;
		}
	return 0;
}

int
config_finalize(struct config *cfg, const char *resolv_conf, char *err,
    size_t errlen)
{
	struct addr ns[CONFIG_MAX_SERVERS];
	const struct config_resolve *r;
	char a[ADDR_STRLEN];
	const char *mode;
	struct stat st;
	size_t i, j, nns = 0;
	ssize_t got;
	int fd, encrypted, isdir;

	if (cfg->nlisten == 0) {
		addr_parse("127.0.0.1", CONFIG_DNS_PORT, &cfg->listen[0],
		    NULL, 0);
		addr_parse("::1", CONFIG_DNS_PORT, &cfg->listen[1], NULL,
		    0);
		cfg->nlisten = 2;
	}
	if (cfg->resolv_conf != NULL)
		resolv_conf = cfg->resolv_conf;
	if ((cfg->nfallback == 0 || cfg->nbootstrap == 0) &&
	    resolv_conf != NULL) {
		if ((got = config_nameservers(cfg, resolv_conf, ns,
		    nitems(ns))) == -1) {
			config_errf(err, errlen, "%s: cannot read: %s",
			    resolv_conf, strerror(errno));
			return -1;
		}
		nns = (size_t)got;
	}
	/* Noted only where the list is used: a change of resolv.conf
	 * then reloads (dohstub.c), which costs every connection. */
	if (cfg->nfallback == 0) {
		memcpy(cfg->fallback, ns, nns * sizeof(ns[0]));
		cfg->nfallback = nns;
		cfg->fallback_from_resolv = resolv_conf != NULL &&
		    cfg->mode != MODE_ENCRYPTED_ONLY;
	}
	if (cfg->nbootstrap == 0) {
		memcpy(cfg->bootstrap, ns, nns * sizeof(ns[0]));
		cfg->nbootstrap = nns;
		cfg->bootstrap_from_resolv = resolv_conf != NULL &&
		    config_needs_bootstrap(cfg);
	}

	mode = config_name(config_mode_names, CONFIG_NMODES, cfg->mode);
	encrypted = cfg->mode == MODE_ENCRYPTED_ONLY ||
	    cfg->mode == MODE_ENCRYPTED_PREFERRED;
	for (i = 0; i < cfg->nlisten; i++)
		for (j = 0; j < i; j++)
			if (addr_eq(&cfg->listen[i], &cfg->listen[j])) {
				config_errf(err, errlen, "listen: %s is listed "
				    "twice", addr_str(&cfg->listen[i],
				    a, sizeof(a)));
				return -1;
			}
	/* A lone client (the host itself) keeps half; others the rest. */
	if (cfg->max_pending_client == CONFIG_PER_CLIENT_AUTO)
		cfg->max_pending_client = cfg->max_pending > 1 ?
		    cfg->max_pending / 2 : 1;
	if (cfg->max_pending_client > cfg->max_pending) {
		config_errf(err, errlen, "max-pending-per-client: %u is more "
		    "than max-pending (%u); 0 turns the cap off",
		    cfg->max_pending_client, cfg->max_pending);
		return -1;
	}
	if (encrypted && cfg->nupstream == 0) {
		config_errf(err, errlen, "upstream: required in mode %s", mode);
		return -1;
	}
	if (cfg->mode != MODE_ENCRYPTED_ONLY && cfg->nfallback == 0) {
		config_errf(err, errlen, "fallback: none set and none found "
		    "in %s", resolv_conf != NULL ? resolv_conf : "resolv.conf");
		return -1;
	}
	for (i = 0; i < cfg->nlisten && cfg->metrics.len != 0; i++)
		if (addr_eq(&cfg->metrics, &cfg->listen[i])) {
			config_errf(err, errlen, "metrics: %s is also a listen "
			    "address", addr_str(&cfg->metrics, a,
			    sizeof(a)));
			return -1;
		}
	if (config_check_loops(cfg, "fallback", cfg->fallback,
	    cfg->nfallback, err, errlen) == -1 ||
	    config_check_loops(cfg, "bootstrap", cfg->bootstrap,
	    cfg->nbootstrap, err, errlen) == -1)
		return -1;
	if (config_check_forward(cfg, err, errlen) == -1)
		return -1;
	for (i = 0; i < cfg->nresolve; i++) {
		r = &cfg->resolve[i];
		if (config_find_resolve(cfg, r->host, r->port) != r) {
			config_errf(err, errlen, "resolve: %s:%u is pinned "
			    "twice", r->host, r->port);
			return -1;
		}
	}
	for (i = 0; i < cfg->nupstream; i++)
		if (config_check_upstream(cfg, "upstream", &cfg->upstream[i],
		    encrypted, err, errlen) == -1)
			return -1;
	if (cfg->ca_file != NULL) {
		if ((fd = open(cfg->ca_file, O_RDONLY | O_CLOEXEC)) == -1) {
			config_errf(err, errlen, "ca-file: %s: %s",
			    cfg->ca_file, strerror(errno));
			return -1;
		}
		/* open(2) reads a directory too; the TLS store would not. */
		isdir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
		close(fd);
		if (isdir) {
			config_errf(err, errlen, "ca-file: %s: %s",
			    cfg->ca_file, strerror(EISDIR));
			return -1;
		}
	}
	return 0;
}

static void
config_print_value(FILE *fp, const char *key, const char *v)
{
	if (strpbrk(v, " \t#") != NULL)
		fprintf(fp, "%s \"%s\"\n", key, v);
	else
		fprintf(fp, "%s %s\n", key, v);
}

static void
config_print_addrs(FILE *fp, const char *key, const struct addr *list,
    size_t n)
{
	char a[ADDR_STRLEN];
	size_t i;

	if (n == 0)
		fprintf(fp, "# %s: none\n", key);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s %s\n", key,
		    addr_str(&list[i], a, sizeof(a)));
}

/* "forward ZONE TARGET...", plain targets with their port. */
static void
config_print_forward(FILE *fp, const struct config_forward *f)
{
	char a[ADDR_STRLEN], name[DNS_MAX_NAME_TEXT];
	size_t i;

	(void)dnsmsg_name_to_text(f->zone.name, f->zone.len, name,
	    sizeof(name), DNSMSG_NAME_ZONE | DNSMSG_NAME_CONF);
	fprintf(fp, "forward %s", name);
	for (i = 0; i < f->nupstream; i++)
		fprintf(fp, " %s", f->upstream[i].url);
	for (i = 0; i < f->nservers; i++)
		fprintf(fp, " %s", addr_str(&f->servers[i], a, sizeof(a)));
	fprintf(fp, "%s\n", f->doh ? "" : "\t# plain DNS");
}

void
config_print(const struct config *cfg, FILE *fp)
{
	const struct config_resolve *r;
	char a[ADDR_STRLEN], d[CONFIG_DURSTRLEN], name[DNS_MAX_NAME_TEXT];
	const char *tls = "?";
	size_t i, j;
	int v6;

	config_print_addrs(fp, "listen", cfg->listen, cfg->nlisten);
	fprintf(fp, "mode %s\n", config_name(config_mode_names,
	    CONFIG_NMODES, cfg->mode));
	if (cfg->nupstream == 0)
		fprintf(fp, "# upstream: none\n");
	for (i = 0; i < cfg->nupstream; i++)
		config_print_value(fp, "upstream", cfg->upstream[i].url);
	if (cfg->nresolve == 0)
		fprintf(fp, "# resolve: none\n");
	for (i = 0; i < cfg->nresolve; i++) {
		r = &cfg->resolve[i];
		fprintf(fp, "resolve %s:%u:", r->host, r->port);
		for (j = 0; j < r->naddrs; j++) {
			v6 = r->addrs[j].ss.ss_family == AF_INET6;
			fprintf(fp, "%s%s%s%s", j > 0 ? "," : "", v6 ? "[" : "",
			    addr_ip_str(&r->addrs[j], a, sizeof(a)),
			    v6 ? "]" : "");
		}
		fprintf(fp, "\n");
	}
	config_print_addrs(fp, "bootstrap", cfg->bootstrap, cfg->nbootstrap);
	config_fmt_duration(cfg->bootstrap_min_ttl_ms, d, sizeof(d));
	fprintf(fp, "bootstrap-min-ttl %s\n", d);
	config_print_addrs(fp, "fallback", cfg->fallback, cfg->nfallback);
	for (i = 0; i < cfg->nallow; i++)
		fprintf(fp, "allow %s\n", addr_prefix_str(&cfg->allow[i], a,
		    sizeof(a)));
	for (i = 0; i < cfg->ndeny; i++)
		fprintf(fp, "deny %s\n", addr_prefix_str(&cfg->deny[i], a,
		    sizeof(a)));
	fprintf(fp, "# allowed where no allow or deny holds:");
	for (i = 0; config_acl_defaults[i] != NULL; i++)
		fprintf(fp, " %s", config_acl_defaults[i]);
	fprintf(fp, "\n");
	if (cfg->nlocal_exempt == 0)
		fprintf(fp, "# local-zone-exempt: none\n");
	for (i = 0; i < cfg->nlocal_exempt; i++) {
		dnsmsg_name_to_text(cfg->local_exempt[i].name,
		    cfg->local_exempt[i].len, name, sizeof(name),
		    DNSMSG_NAME_ZONE | DNSMSG_NAME_CONF);
		fprintf(fp, "local-zone-exempt %s\n", name);
	}
	if (cfg->nforward == 0)
		fprintf(fp, "# forward: none\n");
	for (i = 0; i < cfg->nforward; i++)
		config_print_forward(fp, &cfg->forward[i]);
	if (cfg->ca_file != NULL)
		config_print_value(fp, "ca-file", cfg->ca_file);
	else
		fprintf(fp, "# ca-file: none, the system store is used\n");
	fprintf(fp, "method %s\n", config_name(config_method_names,
	    CONFIG_NMETHODS, cfg->method));
	fprintf(fp, "upstream-policy %s\n", config_name(config_policy_names,
	    nitems(config_policy_names), cfg->upstream_policy));
	if (cfg->hedge_delay_ms == CONFIG_HEDGE_AUTO)
		fprintf(fp, "hedge-delay auto\n");
	else {
		config_fmt_duration(cfg->hedge_delay_ms, d, sizeof(d));
		fprintf(fp, "hedge-delay %s\n", d);
	}
	for (i = 0; i < nitems(config_tls_versions); i++)
		if (config_tls_versions[i] == cfg->tls_min_version)
			tls = config_tls_names[i];
	fprintf(fp, "tls-min-version %s\n", tls);
	config_fmt_duration(cfg->timeout_ms, d, sizeof(d));
	fprintf(fp, "timeout %s\n", d);
	config_fmt_duration(cfg->keepalive_ms, d, sizeof(d));
	fprintf(fp, "keepalive %s\n", d);
	config_fmt_duration(cfg->tcp_idle_timeout_ms, d, sizeof(d));
	fprintf(fp, "tcp-idle-timeout %s\n", d);
	fprintf(fp, "max-pending %u\n", cfg->max_pending);
	if (cfg->max_pending_client == CONFIG_PER_CLIENT_AUTO)
		fprintf(fp, "max-pending-per-client auto\n");
	else
		fprintf(fp, "max-pending-per-client %u\n",
		    cfg->max_pending_client);
	fprintf(fp, "ratelimit %u\n", cfg->ratelimit);
	fprintf(fp, "ratelimit-size %u\n", cfg->ratelimit_size);
	fprintf(fp, "ratelimit-action %s\n", config_name(
	    config_ratelimit_action_names,
	    nitems(config_ratelimit_action_names),
	    (size_t)cfg->ratelimit_drop));
	fprintf(fp, "max-tcp-clients %u\n", cfg->max_tcp_clients);
	fprintf(fp, "edns-udp-size %u\n", cfg->edns_udp_size);
	fprintf(fp, "padding-block %u\n", cfg->padding_block);
	config_fmt_size(cfg->udp_rcvbuf, d, sizeof(d));
	fprintf(fp, "udp-rcvbuf %s\n", d);
	config_fmt_size(cfg->cache_size, d, sizeof(d));
	fprintf(fp, "cache-size %s\n", d);
	config_fmt_duration(cfg->cache_min_ttl_ms, d, sizeof(d));
	fprintf(fp, "cache-min-ttl %s\n", d);
	config_fmt_duration(cfg->cache_max_ttl_ms, d, sizeof(d));
	fprintf(fp, "cache-max-ttl %s\n", d);
	config_fmt_duration(cfg->cache_max_negative_ttl_ms, d, sizeof(d));
	fprintf(fp, "cache-max-negative-ttl %s\n", d);
	config_fmt_duration(cfg->cache_servfail_ttl_ms, d, sizeof(d));
	fprintf(fp, "cache-servfail-ttl %s\n", d);
	config_fmt_duration(cfg->serve_stale_ms, d, sizeof(d));
	fprintf(fp, "serve-stale %s\n", d);
	config_fmt_duration(cfg->serve_stale_timeout_ms, d, sizeof(d));
	fprintf(fp, "serve-stale-timeout %s\n", d);
	fprintf(fp, "prefetch %s\n", config_name(config_bool_names,
	    nitems(config_bool_names), (size_t)cfg->prefetch));
	if (cfg->user != NULL)
		config_print_value(fp, "user", cfg->user);
	else
		fprintf(fp, "# user: none; root drops to dohstub or nobody\n");
	fprintf(fp, "log-level %s\n", config_name(log_level_names,
	    CONFIG_NLOGLEVELS, (size_t)cfg->log_level));
	fprintf(fp, "log-format %s\n", config_name(config_log_format_names,
	    nitems(config_log_format_names), (size_t)cfg->log_json));
	fprintf(fp, "syslog %s\n", config_name(config_bool_names,
	    nitems(config_bool_names), (size_t)cfg->syslog));
	if (cfg->metrics.len != 0)
		fprintf(fp, "metrics %s\n", addr_str(&cfg->metrics, a,
		    sizeof(a)));
	else
		fprintf(fp, "# metrics: none\n");
	fprintf(fp, "watch-network %s\n", config_name(config_bool_names,
	    nitems(config_bool_names), (size_t)cfg->watch_network));
	if (cfg->resolv_conf != NULL)
		config_print_value(fp, "resolv-conf", cfg->resolv_conf);
	else
		fprintf(fp, "# resolv-conf: %s\n", CONFIG_RESOLV_CONF);
}
