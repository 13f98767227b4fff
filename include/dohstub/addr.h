/*
 * addr: socket addresses and prefixes.  Below config in the dependency
 * order: it includes nothing of ours but log.
 */
#ifndef DOHSTUB_ADDR_H
#define DOHSTUB_ADDR_H

#include <sys/socket.h>

/* An IP address and port.  len is 0 for an unused slot. */
struct addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
};

#endif
