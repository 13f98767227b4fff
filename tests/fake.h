/*
 * Link-time fakes of listen, tls, upstream, doh and plain for test_proxy:
 * the real proxy.c runs on top of them.  Every call is recorded, nothing
 * touches the network, and nothing calls back until the test says so
 * (fake_doh_reply(), fake_plain_reply(), fake_doh_set_state()), as the
 * real modules never call back from inside a call.  Per-query paths
 * allocate nothing, so the test can count the proxy's own allocations.
 */
#ifndef DOHSTUB_TESTS_FAKE_H
#define DOHSTUB_TESTS_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/config.h"
#include "dohstub/discovery.h"
#include "dohstub/doh.h"
#include "dohstub/listen.h"
#include "dohstub/plain.h"
#include "dohstub/upstream.h"

#define FAKE_MAX_REQS	64	/* per reset: doh_submit and plain_forward */
#define FAKE_MAX_MSG	1024	/* recorded bytes of a request */
#define FAKE_MAX_ANSWER	8192	/* recorded bytes of an answer */

/* One upstream server.  state is what doh_get_state() says. */
struct doh_client {
	struct upstreams	*set;
	size_t			 index;
	enum doh_state		 state;
	char			 name[32];
	unsigned		 submits;
	doh_connected_cb	*connected_cb;	/* told going DOH_READY */
	void			*connected_arg;
};

/*
 * One upstream_new() or upstream_new_opts(): gen counts them from 1.
 * list is the opts' list (a forward rule's), NULL for cfg->upstream.
 */
struct upstreams {
	int			 gen;
	const struct config	*cfg;
	const struct config_upstream *list;
	struct plain		*bootstrap;
	upstream_health_cb	*cb;
	void			*arg;
	int			 started;
	int			 network_changes;	/* told of */
	size_t			 n;
	struct doh_client	 client[CONFIG_MAX_UPSTREAM];
};

/*
 * One plain_new(): role says which set it is (plain.h); servers[] its
 * servers.
 */
struct plain {
	int			 gen;
	enum plain_role		 role;
	unsigned		 timeout_ms;
	size_t			 nservers;
	struct addr		 servers[CONFIG_MAX_SERVERS];
	uint64_t		 sent;
	int			 refuse;	/* plain_forward() fails */
};

/* A doh_submit() or plain_forward(), in the order they happened. */
/* The discovery: results the test sets, told with fake_disc_set(). */
struct discovery {
	const struct config	*cfg;
	discovery_cb		*cb;
	void			*arg;
	int			 started;
	int			 reruns;		/* discovery_rerun() */
	size_t			 n;
	struct discovery_result	 res[CONFIG_MAX_UPSTREAM];
	struct discovery_stats	 stats;
};

struct fake_req {
	int			 live;		/* not answered nor cancelled */
	int			 cancelled;
	struct doh_client	*client;	/* doh */
	struct plain		*plain;		/* plain */
	uint8_t			 msg[FAKE_MAX_MSG];
	size_t			 len;
	uint64_t		 submit_ms;
	doh_done_cb		*doh_cb;
	plain_answer_cb		*plain_cb;
	void			*arg;
};

/* A client of the fake listener: what it was sent, and whether freed. */
struct fake_peer {
	struct listen_peer	 peer;
	uint8_t			 answer[FAKE_MAX_ANSWER];
	size_t			 len;
	int			 responses;
	int			 releases;
};

struct fake {
	/* listen */
	listen_query_cb		*query_cb;
	void			*query_arg;
	const struct config	*listen_cfg;
	int			 listen_update_fail;	/* next update -1 */
	int			 listeners;		/* alive */
	/* tls */
	int			 tls_ctxs;		/* made */
	/* upstream: sets alive, made, freed, and the newest */
	int			 upstream_sets;
	int			 upstream_made;
	int			 upstream_freed_gen;	/* last one freed */
	struct upstreams	*upstreams;		/* newest default set */
	struct upstreams	*forward_upstreams;	/* newest rule's set */
	unsigned		 hedge_delay_ms;	/* with 2+ upstreams */
	unsigned		 hedges, hedge_wins;	/* upstream_hedged() */
	/* plain */
	int			 plain_sets;		/* alive */
	int			 plain_made;
	/* the newest PLAIN_ROLE_FALLBACK channel */
	struct plain		*fallback;
	/* the newest PLAIN_ROLE_PORTAL channel */
	struct plain		*portal;
	/* discovery: alive, and the newest */
	int			 discoveries;
	struct discovery	*disc;
	/* requests since fake_reset() */
	struct fake_req		 doh[FAKE_MAX_REQS];
	size_t			 ndoh;
	struct fake_req		 plainq[FAKE_MAX_REQS];
	size_t			 nplain;
};
extern struct fake fake;

/* Forget the requests recorded so far (every one must be over). */
void	fake_reset_reqs(void);

/* A client query arriving through the listener. */
void	fake_peer_init(struct fake_peer *p, enum listen_transport t);
void	fake_query(struct fake_peer *p, const uint8_t *msg, size_t len);
/* After fake_peer_init(): the client's address (127.0.0.1 by default). */
void	fake_peer_from(struct fake_peer *p, const char *ip);

/* End DoH request r: body is used for DOH_OK only. */
void	fake_doh_reply(struct fake_req *r, enum doh_result res,
	    const uint8_t *body, size_t len);

/* End plain request r: status 0 with an answer, -1 without. */
void	fake_plain_reply(struct fake_req *r, int status, const uint8_t *ans,
	    size_t len);

/*
 * Move upstream i of set u to state, calling the set's health callback
 * when the set becomes usable or unusable, as upstream.c does.
 */
/*
 * Entry i of the newest discovery becomes upgrade (pending, none with
 * reason, or an endpoint at url's host:port pinned to pin, verify_ip
 * set), and the proxy is told.
 */
void	fake_disc_set(size_t i, enum discovery_upgrade upgrade,
	    const char *reason, const char *host, uint16_t port,
	    const char *pin);

void	fake_doh_set_state(struct upstreams *u, size_t i,
	    enum doh_state state);

/* DoH requests alive on c. */
size_t	fake_doh_live(const struct doh_client *c);

#endif
