/*
 * addr: socket addresses and prefixes.  Parse, format, compare and match
 * IPv4 and IPv6 addresses, with no I/O (so no interface names: no scoped
 * link-local addresses) and no allocation, so every function can be
 * fuzzed.  Below config in the dependency order: it includes nothing of
 * ours.
 */
#ifndef DOHSTUB_ADDR_H
#define DOHSTUB_ADDR_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/*
 * Addresses kept per name: a resolve pin, a bootstrap lookup, the
 * addresses one DoH client tries.
 */
#define ADDR_MAX_PER_NAME	8
/* Room for addr_str(): "[" INET6 "]:65535" and the NUL. */
#define ADDR_STRLEN		64

/* An IP address and port.  len is 0 for an unused slot. */
struct addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
};

/* A network: the address with its host bits clear, and a length. */
struct addr_prefix {
	struct addr	addr;	/* port 0 */
	unsigned	bits;	/* 0..32 for IPv4, 0..128 for IPv6 */
};

/*
 * "192.0.2.1", "192.0.2.1:53", "2001:db8::1", "[2001:db8::1]" or
 * "[2001:db8::1]:53".  A bare IPv6 address is all address (no port);
 * default_port is used when none is written (0 is allowed here, and
 * addr_port() then tells that none was).  Returns 0, or -1 with
 * "\"S\" is not an IP address" or "\"S\": port must be 1..65535" in err
 * (err may be NULL).  out is untouched on failure.
 */
int	addr_parse(const char *s, uint16_t default_port, struct addr *out,
	    char *err, size_t errlen);

/*
 * Only an address, in s[0..n) (not NUL-terminated): IPv4, IPv6, or IPv6
 * in brackets if brackets is set.  The port of out is port.  Returns 0,
 * or -1 (out zeroed) with no message: callers name the text themselves.
 */
int	addr_parse_ip(const char *s, size_t n, int brackets, uint16_t port,
	    struct addr *out);

/*
 * A port in s[0..n): decimal digits only, 1..65535.  Returns 0, or -1
 * without touching port.
 */
int	addr_parse_port(const char *s, size_t n, uint16_t *port);

/*
 * A copy of a socket address as the kernel or a resolver gave it (port,
 * scope and all).  Returns 0, or -1 (out zeroed) if sa is not a whole
 * IPv4 or IPv6 address.
 */
int	addr_set(struct addr *out, const struct sockaddr *sa, socklen_t len);

/*
 * "192.0.2.1:53" or "[2001:db8::1]:53" into buf, which is returned;
 * "(none)" for an unused slot, "(unknown)" for another family.
 * ADDR_STRLEN is always enough.
 */
const char *addr_str(const struct addr *a, char *buf, size_t size);

/*
 * The same for a socket address of any source (a peer from recvmsg or
 * accept); sa must hold a whole address of its family.
 */
const char *addr_sa_str(const struct sockaddr *sa, char *buf, size_t size);

/* The address alone, "192.0.2.1" or "2001:db8::1" (no brackets). */
const char *addr_ip_str(const struct addr *a, char *buf, size_t size);

/* Port in host order, 0 if none or not an IP address. */
uint16_t addr_port(const struct addr *a);
void	addr_set_port(struct addr *a, uint16_t port);

/* 1 if a and b are the same address and port (scope included), else 0. */
int	addr_eq(const struct addr *a, const struct addr *b);
/* 1 if a[0..na) and b[0..nb) are the same addresses in the same order. */
int	addr_list_eq(const struct addr *a, size_t na, const struct addr *b,
	    size_t nb);
/* 1 if a and b are the same address, whatever their ports, else 0. */
int	addr_same_ip(const struct addr *a, const struct addr *b);

/* 0.0.0.0 or ::, the "any address" of a listener. */
int	addr_is_wildcard(const struct addr *a);
/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
int	addr_is_loopback(const struct addr *a);

/*
 * "10.0.0.0/8", "fd00::/8", "[fd00::]/8"; a bare address is a host
 * prefix (/32, /128).  Host bits set in the address are cleared
 * ("10.1.2.3/8" is 10.0.0.0/8).  Returns 0, or -1 with
 * "\"S\" is not an IP address" or
 * "\"S\": prefix length must be 0..32" (0..128 for IPv6) in err.
 */
int	addr_prefix_parse(const char *s, struct addr_prefix *out, char *err,
	    size_t errlen);

/*
 * 1 if a is in p, else 0.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * as a dual-stack socket reports an IPv4 client) matches IPv4 prefixes.
 */
int	addr_prefix_match(const struct addr_prefix *p, const struct addr *a);

/* "10.0.0.0/8", "fd00::/8" into buf, which is returned. */
const char *addr_prefix_str(const struct addr_prefix *p, char *buf,
	    size_t size);

#endif
