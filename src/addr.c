/*
 * addr: one parser and one formatter for the addresses of the whole tree
 * (configuration, listeners, upstreams, bootstrap and fallback servers,
 * dohq), so that an address reads and prints the same everywhere.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dohstub/addr.h"

int
addr_parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
addr_parse_ip(const char *s, size_t n, int brackets, uint16_t port,
    struct addr *out)
{
	char buf[INET6_ADDRSTRLEN];
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
	int bracketed = 0;

	memset(out, 0, sizeof(*out));
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (!brackets)
			return -1;
		s++;
		n -= 2;
		bracketed = 1;
	}
	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!bracketed && inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		out->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		out->len = sizeof(*sin6);
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return -1;
}

int
addr_parse(const char *s, uint16_t default_port, struct addr *out,
    char *err, size_t errlen)
{
	struct addr a;
	const char *colon, *rb, *portstr = NULL;
	size_t hlen;
	uint16_t port = default_port;

	if (s[0] == '[') {
		if ((rb = strchr(s, ']')) == NULL)
			goto notip;
		hlen = (size_t)(rb - s) + 1;
		if (rb[1] == ':')
			portstr = rb + 2;
		else if (rb[1] != '\0')
			goto notip;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		/* One colon: IPv4:PORT.  More: a bare IPv6 address. */
		hlen = (size_t)(colon - s);
		portstr = colon + 1;
	} else
		hlen = strlen(s);
	if (addr_parse_ip(s, hlen, 1, 0, &a) == -1)
		goto notip;
	if (portstr != NULL &&
	    addr_parse_port(portstr, strlen(portstr), &port) == -1) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "\"%s\": port must be 1..65535",
			    s);
		return -1;
	}
	addr_set_port(&a, port);
	*out = a;
	return 0;
 notip:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "\"%s\" is not an IP address", s);
	return -1;
}

int
addr_set(struct addr *out, const struct sockaddr *sa, socklen_t len)
{
	memset(out, 0, sizeof(*out));
	if (sa == NULL ||
	    (sa->sa_family == AF_INET && len < sizeof(struct sockaddr_in)) ||
	    (sa->sa_family == AF_INET6 && len < sizeof(struct sockaddr_in6)) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return -1;
	out->len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	memcpy(&out->ss, sa, out->len);
	return 0;
}

/* The address bytes of a and their length, or NULL. */
static const uint8_t *
addr_bytes(const struct addr *a, size_t *n)
{
	if (a->len != 0 && a->ss.ss_family == AF_INET) {
		*n = 4;
		return (const uint8_t *)
		    &((const struct sockaddr_in *)&a->ss)->sin_addr;
	}
	if (a->len != 0 && a->ss.ss_family == AF_INET6) {
		*n = 16;
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
	}
	*n = 0;
	return NULL;
}

const char *
addr_ip_str(const struct addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	const uint8_t *b;
	size_t n;

	if (size == 0)
		return buf;
	if (a->len == 0)
		snprintf(buf, size, "(none)");
	else if ((b = addr_bytes(a, &n)) == NULL ||
	    inet_ntop(a->ss.ss_family, b, ip, sizeof(ip)) == NULL)
		snprintf(buf, size, "(unknown)");
	else
		snprintf(buf, size, "%s", ip);
	return buf;
}

const char *
addr_sa_str(const struct sockaddr *sa, char *buf, size_t size)
{
	struct addr a;

	if (addr_set(&a, sa, sizeof(struct sockaddr_storage)) == -1) {
		if (size > 0)
			snprintf(buf, size, "(unknown)");
		return buf;
	}
	return addr_str(&a, buf, size);
}

const char *
addr_str(const struct addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	size_t n;

	if (size == 0)
		return buf;
	if (addr_bytes(a, &n) == NULL)
		return addr_ip_str(a, buf, size);
	addr_ip_str(a, ip, sizeof(ip));
	if (n == 16)
		snprintf(buf, size, "[%s]:%u", ip, addr_port(a));
	else
		snprintf(buf, size, "%s:%u", ip, addr_port(a));
	return buf;
}

uint16_t
addr_port(const struct addr *a)
{
	if (a->len == 0)
		return 0;
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

void
addr_set_port(struct addr *a, uint16_t port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

int
addr_same_ip(const struct addr *a, const struct addr *b)
{
	const uint8_t *x, *y;
	size_t nx, ny;

	if ((x = addr_bytes(a, &nx)) == NULL ||
	    (y = addr_bytes(b, &ny)) == NULL || nx != ny ||
	    memcmp(x, y, nx) != 0)
		return 0;
	/* fe80::1 on one link is not fe80::1 on another. */
	return a->ss.ss_family != AF_INET6 ||
	    ((const struct sockaddr_in6 *)&a->ss)->sin6_scope_id ==
	    ((const struct sockaddr_in6 *)&b->ss)->sin6_scope_id;
}

int
addr_eq(const struct addr *a, const struct addr *b)
{
	return addr_same_ip(a, b) && addr_port(a) == addr_port(b);
}

int
addr_list_eq(const struct addr *a, size_t na, const struct addr *b,
    size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (!addr_eq(&a[i], &b[i]))
			return 0;
	return 1;
}

int
addr_is_wildcard(const struct addr *a)
{
	static const uint8_t zero[16];
	const uint8_t *b;
	size_t n;

	return (b = addr_bytes(a, &n)) != NULL && memcmp(b, zero, n) == 0;
}

/* The IPv4 address inside ::ffff:a.b.c.d, or NULL. */
static const uint8_t *
addr_v4mapped(const uint8_t *b, size_t n)
{
	static const uint8_t mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
	};

	return n == 16 && memcmp(b, mapped, sizeof(mapped)) == 0 ? b + 12 :
	    NULL;
}

int
addr_is_loopback(const struct addr *a)
{
	static const uint8_t one[16] = { [15] = 1 };
	const uint8_t *b, *v4;
	size_t n;

	if ((b = addr_bytes(a, &n)) == NULL)
		return 0;
	if (n == 4)
		return b[0] == 127;
	if ((v4 = addr_v4mapped(b, n)) != NULL)
		return v4[0] == 127;
	return memcmp(b, one, n) == 0;
}

/* Clear the bits of b[0..n) after the first bits. */
static void
addr_mask(uint8_t *b, size_t n, unsigned bits)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			b[i] &= (uint8_t)(0xff00 >> bits);
			bits = 0;
		}
	}
}

int
addr_prefix_parse(const char *s, struct addr_prefix *out, char *err,
    size_t errlen)
{
	struct addr_prefix p;
	const char *slash;
	uint8_t *b;
	size_t i, n, len;
	unsigned bits = 0, max;

	memset(&p, 0, sizeof(p));
	slash = strchr(s, '/');
	len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (addr_parse_ip(s, len, 1, 0, &p.addr) == -1) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "\"%s\" is not an IP address", s);
		return -1;
	}
	max = p.addr.ss.ss_family == AF_INET ? 32 : 128;
	if (slash == NULL)
		bits = max;
	else {
		/* Digits only: no sign or space, and short enough to add up. */
		n = strlen(slash + 1);
		if (n == 0 || n > 3 || strspn(slash + 1, "0123456789") != n)
			bits = max + 1;
		for (i = 0; i < n && bits <= max; i++)
			bits = bits * 10 + (unsigned)(slash[1 + i] - '0');
		if (bits > max) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "\"%s\": prefix length "
				    "must be 0..%u", s, max);
			return -1;
		}
	}
	b = (uint8_t *)addr_bytes(&p.addr, &n);
	addr_mask(b, n, bits);
	p.bits = bits;
	*out = p;
	return 0;
}

int
addr_prefix_match(const struct addr_prefix *p, const struct addr *a)
{
	uint8_t net[16];
	const uint8_t *pb, *ab, *v4;
	size_t pn, an;

	if ((pb = addr_bytes(&p->addr, &pn)) == NULL ||
	    (ab = addr_bytes(a, &an)) == NULL)
		return 0;
	if (pn == 4 && (v4 = addr_v4mapped(ab, an)) != NULL) {
		ab = v4;
		an = 4;
	}
	if (pn != an || p->bits > pn * 8)
		return 0;
	/* a with p's host bits cleared must be p's network. */
	memcpy(net, ab, an);
	addr_mask(net, an, p->bits);
	return memcmp(net, pb, pn) == 0;
}

const char *
addr_prefix_str(const struct addr_prefix *p, char *buf, size_t size)
{
	size_t n;

	if (size == 0)
		return buf;
	addr_ip_str(&p->addr, buf, size);
	if (addr_bytes(&p->addr, &n) != NULL && (n = strlen(buf)) < size)
		snprintf(buf + n, size - n, "/%u", p->bits);
	return buf;
}
