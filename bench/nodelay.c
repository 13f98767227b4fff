/*
 * nodelay.so: an LD_PRELOAD shim whose connect() sets TCP_NODELAY on every
 * TCP socket before connecting it.  bench/run builds it at run time.
 *
 * Why: dnsdist 1.7's outgoing DoH does not set TCP_NODELAY, so on a warm
 * connection each small write waits for the peer's delayed ACK (~40 ms on
 * Linux) and the benchmark would measure the kernel's timer, not the
 * proxy.  With the shim, dnsdist is compared on what it does per query.
 *
 * Build: cc -O2 -shared -fPIC -o nodelay.so nodelay.c -ldl
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

typedef int connect_fn(int, const struct sockaddr *, socklen_t);

int	connect(int, const struct sockaddr *, socklen_t);

int
connect(int fd, const struct sockaddr *sa, socklen_t salen)
{
	static connect_fn *real;
	connect_fn *fn;
	socklen_t len;
	int type, one = 1, saved;

	/* Threads may race here; they all store the same pointer. */
	fn = __atomic_load_n(&real, __ATOMIC_RELAXED);
	if (fn == NULL) {
		fn = (connect_fn *)dlsym(RTLD_NEXT, "connect");
		if (fn == NULL) {
			errno = ENOSYS;
			return -1;
		}
		__atomic_store_n(&real, fn, __ATOMIC_RELAXED);
	}
	if (sa != NULL && (sa->sa_family == AF_INET ||
	    sa->sa_family == AF_INET6)) {
		/* errno is the caller's: these calls must not change it. */
		saved = errno;
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
		    type == SOCK_STREAM)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
		errno = saved;
	}
	return fn(fd, sa, salen);
}
