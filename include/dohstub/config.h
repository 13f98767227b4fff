/*
 * config: the settings table (config.c): defaults, parsing (file,
 * environment, command line) and printing, all driven by one row per
 * setting; the URL and resolve-pin syntaxes (config_url.c); and
 * config_finalize's fill-in and cross-checks (config_check.c).  The
 * servers found in resolv.conf come from resolvconf.h; the run-time
 * lookups on a loaded configuration (allow/deny, forward rules) are
 * policy.h's.  One name per setting everywhere:
 *
 *	file		key value		(# starts a comment)
 *	flag		--key value | --key=value
 *	environment	DOHSTUB_KEY=value	(dashes become underscores;
 *						 a list is comma-separated)
 *
 * A forward value is several words (ZONE TARGET...), and so is a
 * known-server's (ADDR URL): in the file it runs to the end of the line,
 * quoted or not; in the environment the values are comma-separated like
 * any list ("corp.example 10.1.1.53, ...").
 *
 * Precedence: flag > environment > file > default.  For a list setting
 * (listen, upstream, known-server, resolve, bootstrap, fallback, allow,
 * deny, local-zone-exempt, forward, dnssec-insecure) a source that sets
 * it replaces what lower sources set; repeating it within a source
 * appends.
 *
 * A struct config is filled once at start-up and read-only after that;
 * it owns its strings, its forward rules and its private record of
 * sources, which config_free() releases.  Every error message names where
 * the value came from ("FILE:LINE", "--key" or "DOHSTUB_KEY"), the key,
 * and what is wrong.
 */
#ifndef DOHSTUB_CONFIG_H
#define DOHSTUB_CONFIG_H

#include <sys/socket.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "dohstub/addr.h"

struct config_sources;

#define CONFIG_MAX_LISTEN	16
#define CONFIG_MAX_UPSTREAM	8
#define CONFIG_MAX_RESOLVE	8
#define CONFIG_MAX_SERVERS	8	/* bootstrap, fallback */
#define CONFIG_MAX_KNOWN	32	/* known-server */
#define CONFIG_MAX_EXEMPT	16	/* local-zone-exempt */
#define CONFIG_MAX_ACL		64	/* allow, deny: each */
#define CONFIG_MAX_FORWARD	32	/* forward rules */
#define CONFIG_MAX_FORWARD_TARGETS 8	/* per rule; <= CONFIG_MAX_UPSTREAM */
#define CONFIG_MAX_INSECURE	64	/* dnssec-insecure, as configured */
#define CONFIG_MAX_ANCHORS	32	/* records of a trust-anchor file */
#define CONFIG_ERRLEN		512
/*
 * max-pending-per-client auto, until config_finalize() resolves it;
 * max-tcp-per-client auto, which listen.c resolves.
 */
#define CONFIG_PER_CLIENT_AUTO	(~0u)
#define CONFIG_KEYLEN		63	/* longer is no setting's name */
#define CONFIG_RESOLV_CONF	"/etc/resolv.conf"	/* resolv-conf */
/* trust-anchor when unset, if it exists: Debian's dns-root-data. */
#define CONFIG_TRUST_ANCHOR	"/usr/share/dns/root.ds"

enum config_mode {
	MODE_ENCRYPTED_ONLY,
	MODE_ENCRYPTED_PREFERRED,
	MODE_PLAINTEXT,
};
/* "encrypted-only", "encrypted-preferred", "plaintext" */
extern const char *const config_mode_names[];

/* captive-portal: the portal lease of encrypted-only (proxy.h). */
enum config_portal {
	PORTAL_OFF,	/* nothing ever leaves in plaintext */
	PORTAL_ASK,	/* nothing plain until the user opens a lease */
	PORTAL_AUTO,	/* a probe; then the check names get a lease */
};
extern const char *const config_portal_names[];	/* "off", "ask", "auto" */

enum config_method {
	METHOD_POST,
	METHOD_GET,
};
extern const char *const config_method_names[];	/* "post", "get" */

/* Which upstream a query goes to first (upstream.h). */
enum config_policy {
	POLICY_ORDERED,		/* the first usable, in the order given */
	POLICY_FASTEST,		/* the lowest smoothed answer time */
	POLICY_ROUND_ROBIN,	/* each usable one in turn */
};
/* "ordered", "fastest", "round-robin" */
extern const char *const config_policy_names[];

/*
 * dnssec: what becomes of DNSSEC (issue 19).  off: DO is never sent
 * upstream and AD is cleared from every answer; process: DO, CD and AD
 * are passed through for the client to judge (what dohstub always did);
 * validate (the default): dohstub checks every answer itself
 * (validator.h, proxy.c) before it is cached or sent.
 */
enum config_dnssec {
	CONFIG_DNSSEC_OFF,
	CONFIG_DNSSEC_PROCESS,
	CONFIG_DNSSEC_VALIDATE,
};
/* "off", "process", "validate" */
extern const char *const config_dnssec_names[];

/*
 * The zones DNSSEC validation takes as insecure besides those of
 * dnssec-insecure (RFC 7646 negative trust anchors): the private-use
 * zones, RFC 6303's reverse zones ("A-B.rest" stands for A.rest to
 * B.rest) and names sold by no registry but used on private networks;
 * not "test" (RFC 6761), which signed test labs use.  NULL-terminated.
 */
extern const char *const config_insecure_defaults[];

/*
 * The file config_finalize() reads when trust-anchor is unset
 * (CONFIG_TRUST_ANCHOR) if it exists; tests point it elsewhere.
 */
extern const char *config_trust_anchor_default;

struct dnssec_anchor;

/* hedge_delay_ms: from the upstream's answer times. */
#define CONFIG_HEDGE_AUTO	UINT_MAX

/*
 * An upstream: a DoH URL "https://HOST[:PORT]/PATH" (IPv6 HOST in
 * brackets), or an address server "ADDR[:PORT]" ("[IPv6]:PORT"; a bare
 * IPv6 address is all address) that the engine upgrades (known.h, DDR)
 * or, in plaintext, uses as a plain DNS server.
 */
struct config_upstream {
	char		*url;		/* as written, an address too */
	char		*host;		/* without brackets; NULL if is_addr */
	uint16_t	 port;		/* default 443; if is_addr, addr's */
	char		*path;		/* starts with '/', default
					   "/dns-query"; NULL if is_addr */
	int		 host_is_ip;	/* verify an IP SAN, send no SNI */
	int		 is_addr;	/* an address server: addr set */
	struct addr	 addr;		/* its address, port 53 by default */
	/*
	 * A discovered or known endpoint (the engine's), never set from
	 * the file: owns nothing, so config_upstream_free is unchanged.
	 */
	struct addr	 pins[ADDR_MAX_PER_NAME];	/* connect here, no
							   lookup */
	size_t		 npins;
	char		 verify_ip[ADDR_STRLEN];	/* "" or an IP the
							   certificate must
							   also list */
	int		 no_verify;	/* opportunistic: TLS without
					   authentication */
};

/* "known-server ADDR URL": adds or overrides an entry of known.h's table. */
struct config_known {
	struct addr	 addr;		/* port 53 default, not compared */
	char		*url;		/* a DoH URL with a host name, owned */
};

/* curl's "HOST:PORT:ADDR[,ADDR...]": pin HOST:PORT to addresses. */
struct config_resolve {
	char			*host;
	uint16_t		 port;
	struct addr		 addrs[ADDR_MAX_PER_NAME];	/* port set */
	size_t			 naddrs;
};

/* A zone name in uncompressed wire form. */
struct config_zone {
	uint8_t			name[255];	/* DNS_MAX_NAME */
	size_t			len;
};

/*
 * "forward ZONE TARGET...": names at or below zone go to the rule's
 * targets only, either DoH URLs (doh set, upstream[]) or plain DNS
 * servers (servers[], port 53 default), never both.
 */
struct config_forward {
	struct config_zone	zone;
	int			doh;
	struct config_upstream	upstream[CONFIG_MAX_FORWARD_TARGETS];
	size_t			nupstream;
	struct addr		servers[CONFIG_MAX_FORWARD_TARGETS];
	size_t			nservers;
};

struct config {
	struct addr		listen[CONFIG_MAX_LISTEN];
	size_t			nlisten;
	enum config_mode	mode;
	struct config_upstream	upstream[CONFIG_MAX_UPSTREAM];
	size_t			nupstream;
	struct config_resolve	resolve[CONFIG_MAX_RESOLVE];
	size_t			nresolve;
	struct addr		bootstrap[CONFIG_MAX_SERVERS];	/* port 53 default */
	size_t			nbootstrap;
	struct addr		fallback[CONFIG_MAX_SERVERS];	/* port 53 default */
	size_t			nfallback;
	struct config_known	known[CONFIG_MAX_KNOWN];	/* known-server */
	size_t			nknown;
	int			ddr;		/* discover by DDR, default 1 */
	int			ddr_opportunistic; /* RFC 9462 4.3, default 0 */
	/* Zones forwarded although local.c would answer them. */
	struct config_zone	local_exempt[CONFIG_MAX_EXEMPT];
	size_t			nlocal_exempt;
	struct config_forward	*forward;	/* nforward of them, owned */
	size_t			nforward;
	struct addr_prefix	allow[CONFIG_MAX_ACL];	/* above the defaults */
	size_t			nallow;
	struct addr_prefix	deny[CONFIG_MAX_ACL];
	size_t			ndeny;
	char			*ca_file;	/* NULL: system store */
	enum config_method	method;
	enum config_policy	upstream_policy;	/* default fastest */
	unsigned		hedge_delay_ms;	/* CONFIG_HEDGE_AUTO (default),
						   or fixed; 0: no hedging */
	int			tls_min_version; /* TLS1_3_VERSION or TLS1_2_VERSION */
	int			tls_early_data;	/* 0-RTT on resumption, default 1 */
	unsigned		timeout_ms;	/* per query, default 2000 */
	unsigned		keepalive_ms;	/* HTTP/2 PING when idle, default 15000 */
	unsigned		bootstrap_min_ttl_ms; /* lookup TTL floor, 30000 */
	unsigned		max_pending;	/* default 1024 */
	/* Fairness and the rate limit (ratelimit.h): per source. */
	unsigned		max_pending_client; /* 0: no cap; default (auto)
						   half of max_pending */
	unsigned		ratelimit;	/* UDP q/s, 0 (default): off */
	unsigned		ratelimit_size;	/* sources tracked, 10000 */
	int			ratelimit_drop;	/* ratelimit-action drop; else
						   truncate (TC=1) */
	unsigned		max_tcp_clients; /* default 256 */
	unsigned		max_tcp_client;	/* per source, 0: no cap;
						   default (auto) a quarter */
	unsigned		tcp_idle_timeout_ms; /* default 10000 */
	unsigned		edns_udp_size;	/* cap on UDP answers, default 1232 */
	unsigned		padding_block;	/* upstream query padding, 128 */
	unsigned		udp_rcvbuf;	/* SO_RCVBUF bytes, 0: the system's */
	unsigned		cache_size;	/* bytes, 0: no cache; default 4m */
	unsigned		cache_min_ttl_ms;	/* default 0 */
	unsigned		cache_max_ttl_ms;	/* default 1 day */
	unsigned		cache_max_negative_ttl_ms; /* default 1 hour */
	unsigned		cache_servfail_ttl_ms;	/* default 5 s */
	unsigned		serve_stale_ms;	/* window past expiry, 1 h; 0 off */
	unsigned		serve_stale_timeout_ms;	/* client's wait, 1800 */
	int			prefetch;	/* refresh hot entries, default 1 */
	char			*user;		/* NULL: root drops to dohstub */
	int			log_level;	/* enum log_level, default info */
	int			syslog;		/* 0: stderr */
	int			log_json;	/* log-format json */
	struct addr		metrics;	/* len 0: no endpoint */
	int			watch_network;	/* rtnetlink, inotify; default 1 */
	char			*resolv_conf;	/* NULL: CONFIG_RESOLV_CONF */
	enum config_portal	captive_portal;	/* default ask */
	unsigned		captive_portal_lease_ms; /* default 5 min */
	char			*pidfile;	/* NULL: none */
	/* DNSSEC (issue 19). */
	enum config_dnssec	dnssec;		/* default validate */
	char			*trust_anchor;	/* NULL: CONFIG_TRUST_ANCHOR
						   if it exists, else the
						   built-in root anchors */
	struct config_zone	dnssec_insecure[CONFIG_MAX_INSECURE];
	size_t			ndnssec_insecure; /* as configured */
	/* The query log (querylog.h): NULL (off), "stderr" or a path. */
	char			*query_log;
	int			query_log_json;	/* query-log-format json */
	int			query_log_client; /* with the client address */
	char			*control_socket; /* NULL: none */
	/* Set by config_finalize(): the list was not configured and came
	 * from resolv_conf, so a change of that file changes it. */
	int			fallback_from_resolv;
	int			bootstrap_from_resolv;
	/* Zero configuration: no upstream was configured in an encrypted
	 * mode, and the address servers came from resolv_conf. */
	int			upstream_from_resolv;
	/*
	 * Set by config_finalize(), owned: the trust anchors (nanchors >
	 * 0), read from anchors_from (trust_anchor, CONFIG_TRUST_ANCHOR or
	 * "built in"); and every zone validation takes as insecure, each
	 * once: dnssec-insecure's, config_insecure_defaults, the local
	 * zones dohstub answers (local.h, but those local-zone-exempt
	 * lets through) and every forward rule's zone.
	 */
	struct dnssec_anchor	*anchors;
	size_t			nanchors;
	const char		*anchors_from;
	struct config_zone	*insecure;
	size_t			ninsecure;
	/* Private to config.c: which source set each key (config_set);
	 * owned, NULL until the first config_set. */
	struct config_sources	*sources;
};

/*
 * Fill cfg with the defaults (no listen, upstream or server set yet),
 * each as its row in the settings table writes it.  cfg is overwritten,
 * not freed: config_free() what it held first.  Allocates nothing.
 */
void	config_defaults(struct config *cfg);

/*
 * Apply one setting.  where names the source for messages ("FILE:LINE",
 * "--key", "DOHSTUB_KEY").  source is a small number, one per source
 * (file, environment, flags) in rising precedence; the first time a list
 * key is set from a source above the one that last set it, the list is
 * emptied first.  A value from a source below the one that set the key is
 * checked but not applied, so the order of the calls does not matter.
 * Where a flag or variable already names the key ("--mode",
 * "DOHSTUB_MODE"), the message does not repeat it.  Returns 0, or -1 with
 * a message in err.
 */
int	config_set(struct config *cfg, const char *key, const char *value,
	    const char *where, int source, char *err, size_t errlen);

#define CONFIG_SRC_FILE	1
#define CONFIG_SRC_ENV	2
#define CONFIG_SRC_FLAG	3

/*
 * config_set() for "--key value" on a command line (key without the
 * dashes), so that dohstub and dohq take the same flags with the same
 * messages: "--timeout: \"61s\" is out of range (100ms..60s)".
 * Returns 0, or -1 with the message in err.
 */
int	config_set_flag(struct config *cfg, const char *key, const char *value,
	    char *err, size_t errlen);

/*
 * Read a configuration file.  A missing file is an error only if
 * must_exist.  Returns 0, or -1 with a message in err.
 */
int	config_parse_file(struct config *cfg, const char *path, int must_exist,
	    char *err, size_t errlen);

/*
 * The same for a configuration held in memory; name is used in messages
 * as the file name.
 */
int	config_parse_buf(struct config *cfg, const char *name, const char *buf,
	    size_t len, char *err, size_t errlen);

/*
 * Apply every DOHSTUB_* variable of envp (NULL-terminated, as environ).
 * DOHSTUB_CONFIG is skipped (it names the file, see dohstub.c).  An
 * unknown DOHSTUB_ variable is an error.  Returns 0 or -1 with err.
 */
int	config_parse_env(struct config *cfg, char *const envp[], char *err,
	    size_t errlen);

/*
 * Fill what was left unset, then check the whole: the fallback servers
 * (and bootstrap servers) default to the nameservers of resolv_conf (or
 * of cfg->resolv_conf, when that is set) minus our own listen addresses,
 * noted in cfg->fallback_from_resolv and bootstrap_from_resolv; in an
 * encrypted mode with no upstream, those nameservers become the address
 * servers (zero configuration, noted in cfg->upstream_from_resolv), and
 * none is an error; listen defaults to 127.0.0.1:53 and [::1]:53;
 * max-pending-per-client auto becomes a number; encrypted-preferred and
 * plaintext need a fallback server unless an address server is given (it
 * is its own plain server); no address server, fallback or bootstrap
 * server is one of our listen addresses; an upstream whose host is a name
 * needs a resolve pin or a bootstrap server (an address server needs
 * neither); a known-server address is listed once; the trust anchors
 * are read (trust-anchor's file, an error naming its line; unset,
 * CONFIG_TRUST_ANCHOR if it exists, else dnssec_root_anchors) and the
 * insecure zones gathered (see struct config).  Reads resolv_conf and
 * the trust anchors' file, and opens ca-file.  Returns 0, or -1 with a
 * message in err.
 */
int	config_finalize(struct config *cfg, const char *resolv_conf, char *err,
	    size_t errlen);

/*
 * The part of config_finalize() that validation needs alone (dohq
 * --validate): cfg->anchors read and cfg->insecure gathered, as
 * config_finalize() describes.  Returns 0, or -1 with a message in err
 * and errno: EINVAL for a file that holds no usable anchor, ENOMEM, or
 * why the file could not be read.
 */
int	config_dnssec_load(struct config *cfg, char *err, size_t errlen);

/*
 * Print the effective configuration in the file syntax, every setting in
 * table order; an unset one as a comment.  What it prints parses back to
 * the same configuration (fuzz_config checks this).
 */
void	config_print(const struct config *cfg, FILE *fp);

/*
 * 1 if a query sent to a (address and port) would reach dohstub itself:
 * one of cfg's listen addresses, or loopback under a wildcard listener.
 */
int	config_is_ours(const struct config *cfg, const struct addr *a);

/* Free what cfg owns; cfg may be half-filled.  Leaves cfg zeroed. */
void	config_free(struct config *cfg);

/*
 * Helpers shared with dohq.  Each returns 0, or -1 with a reason (without
 * source or key) in err.  out is overwritten; on success its strings
 * belong to the caller (config_upstream_free, or free(out->host) for a
 * resolve), on failure nothing is left allocated.
 */
int	config_parse_url(const char *s, struct config_upstream *out, char *err,
	    size_t errlen);
/* An upstream: a URL as config_parse_url, or an address server. */
int	config_parse_upstream(const char *s, struct config_upstream *out,
	    char *err, size_t errlen);
int	config_parse_resolve(const char *s, struct config_resolve *out,
	    char *err, size_t errlen);
void	config_upstream_free(struct config_upstream *u);

/* The prefixes allowed where no allow or deny holds (policy.h). */
extern const char *const config_acl_defaults[];

/* The resolve pin for host:port, or NULL. */
const struct config_resolve *config_find_resolve(const struct config *cfg,
	    const char *host, uint16_t port);

#endif
