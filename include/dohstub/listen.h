/*
 * listen: the UDP and TCP sockets clients send queries to.  Every query,
 * whatever its transport, reaches the core as a listen_peer with a small
 * table of operations, so the core never branches on transport except to
 * size a UDP answer.
 *
 * TCP follows RFC 7766: 2-byte length framing, pipelined queries handed
 * on as they arrive and answered as they complete (in any order), an idle
 * timeout, a cap on concurrent clients, and back-pressure (a client that
 * does not read its answers stops being read).  A client that half-closes
 * still gets the answers to the queries it sent before its FIN.
 *
 * Idle connections make way (RFC 7766 6.2.3), so that clients that hold
 * connections without asking cannot lock the others out:
 *
 *	- a connection is idle while no query of its is in the core and no
 *	  answer is waiting to be written;
 *	- the idle timeout is tcp-idle-timeout while the table is at most
 *	  half full, a tenth of it past half, a hundredth past three
 *	  quarters, never below LISTEN_TCP_IDLE_MIN_MS (nor above the
 *	  setting); it is chosen when the connection turns idle;
 *	- a source (an IPv4 address, an IPv6 /64) holds at most
 *	  max-tcp-per-client connections: a new one past that closes the
 *	  source's own connection idle longest, or is refused if none is;
 *	- with max-tcp-clients open, a new connection closes the connection
 *	  idle longest of any source, or is refused if none is idle.
 *
 * The accept loop always drains the backlog: a new connection is
 * accepted and then kept or closed, never left waiting in the kernel.
 *
 * The process must ignore SIGPIPE: a TCP client may go away while its
 * answers are being written.
 */
#ifndef DOHSTUB_LISTEN_H
#define DOHSTUB_LISTEN_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "dohstub/config.h"

/* Back-pressure: past either, a TCP connection is not read. */
#define LISTEN_MAX_SOCKETS	(CONFIG_MAX_LISTEN * 2)
#define LISTEN_TCP_MAX_INFLIGHT	64		/* queries not yet released */
#define LISTEN_TCP_MAX_UNSENT	(64 * 1024)	/* bytes of unsent answers */
#define LISTEN_TCP_IDLE_MIN_MS	200	/* shortest idle timeout when full */

enum listen_transport {
	LISTEN_UDP,
	LISTEN_TCP,
};
extern const char *const listen_transport_names[];	/* "udp", "tcp" */

struct listen_peer;

/* Counters since listen_new(). */
struct listen_stats {
	uint64_t	tcp_evicted;	/* idle connections closed for room */
	uint64_t	tcp_refused;	/* new connections closed: no room */
};

struct listen_peer_ops {
	/* Send msg (len bytes, copied) to the client; a no-op if gone. */
	void	(*respond)(struct listen_peer *peer, const uint8_t *msg,
		    size_t len);
	/* Done with this query: frees peer. */
	void	(*release)(struct listen_peer *peer);
};

/*
 * Owned by the core from the query callback until it calls release
 * (after at most one respond).
 */
struct listen_peer {
	const struct listen_peer_ops	*ops;
	enum listen_transport		 transport;
	struct sockaddr_storage		 addr;	/* the client */
	socklen_t			 addrlen;
};

/* A query arrived; msg/len are valid only during the call. */
typedef void listen_query_cb(struct listen_peer *peer, const uint8_t *msg,
	    size_t len, void *arg);

struct listener;

/*
 * Bind UDP and TCP on every cfg->listen address (cfg must outlive the
 * listener) and start serving.  NULL on failure, logged with the address.
 */
struct listener *listen_new(struct event_base *base, const struct config *cfg,
	    listen_query_cb *cb, void *arg);

/*
 * Make the sockets those of cfg (which must outlive the listener): keep
 * every socket whose address is still listed, with its clients and the
 * peers they hold; open the new addresses; close the others.  Sockets
 * from the service manager stay.  Limits (max-tcp-clients, idle timeout)
 * are read from cfg from now on.  Returns 0, or -1 with nothing changed
 * (logged).
 */
int	listen_update(struct listener *l, const struct config *cfg);

/*
 * Socket activation: hand over fd, a bound UDP or listening TCP socket,
 * before listen_new().  listen_new() uses it for a listen address of the
 * same type and address, and serves it anyway if none matches.  Returns
 * 0, or -1 (logged) if fd is not such a socket.
 */
int	listen_inherit(int fd);

/* Open TCP client connections. */
size_t	listen_tcp_clients(const struct listener *l);

/* The listener's counters; valid until listen_free(). */
const struct listen_stats *listen_stats(const struct listener *l);

/*
 * The cap on one source's TCP connections under cfg (max-tcp-per-client
 * with auto resolved); 0: no cap.
 */
unsigned listen_tcp_per_client(const struct config *cfg);

/*
 * Close every socket.  Peers still held stay valid until released, and
 * their respond does nothing.
 */
void	listen_free(struct listener *l);

#endif
