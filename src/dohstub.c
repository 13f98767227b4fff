/*
 * dohstub: the daemon.  Reads the configuration (file < environment <
 * flags), binds (or takes the service manager's sockets), drops
 * privileges (to `user`, or when started as root to the dohstub user or
 * nobody), and runs the event loop until SIGTERM or SIGINT; SIGHUP
 * reads the configuration again, SIGUSR1 logs the counters and SIGUSR2
 * opens a portal lease (proxy.h); the control socket (control.h), when
 * set, does all that and more for dohstub-control(8).
 */
#define _GNU_SOURCE		/* setresuid, setresgid, strndup */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <linux/capability.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/control.h"
#include "dohstub/discovery.h"
#include "dohstub/dnssec.h"
#include "dohstub/listen.h"
#include "dohstub/log.h"
#include "dohstub/metrics.h"
#include "dohstub/netwatch.h"
#include "dohstub/proxy.h"
#include "dohstub/querylog.h"

#define DOHSTUB_VERSION		"0.1.0"
/* Where the build installs it: /etc/dohstub as packaged. */
#define DOHSTUB_DEFAULT_CONF	DOHSTUB_SYSCONFDIR "/dohstub.conf"
#define SD_LISTEN_FDS_START	3
#define READY_MAX_MS		10000	/* give up waiting for an upstream */
#define DEFAULT_USER		"dohstub"	/* started as root, no `user` */
#define LAST_RESORT_USER	"nobody"
#define OVERFLOW_UID		65534	/* the kernel's nobody */
/* Kept after the drop: a reload may listen on port 53 again. */
#define KEPT_CAP		CAP_NET_BIND_SERVICE

extern char **environ;

/* A --key value from the command line. */
struct flag {
	char		*key;		/* without the dashes, owned */
	const char	*value;		/* in argv */
};

/* What a reload needs to read the configuration again. */
static struct {
	struct flag	*flags;		/* nflags of them, in argv's order */
	size_t		 nflags;
	const char	*conffile;
	int		 must_exist;
	int		 verbose;
} opts;

static struct event_base *base;
static struct proxy *px;
static const struct config *running;	/* owned by main, then by px */
static struct event *ev_ready;		/* READY=1 at the latest */
static struct control *ctl;		/* NULL: no control-socket */
static int ready_sent;
static int portal_shared;	/* a shared account: SIGUSR2 refused */
static struct netwatch *nw;		/* NULL: watch-network no */
static char *nw_path;			/* the resolv.conf nw watches */
static struct event *ev_resolv;		/* reload, outside nw's callback */
static struct querylog *ql;		/* the query log, on or off */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: dohstub [-dhnVv] [-c file] [--key value ...]\n"
	    "see dohstub(8) and dohstub.conf(5) for the settings\n");
	exit(2);
}

/* A bad flag: one line naming it, and a non-zero exit. */
static void __attribute__((noreturn))
badflag(const char *msg, const char *flag)
{
	fprintf(stderr, "dohstub: %s: %s\n", flag, msg);
	exit(2);
}

/*
 * Long options of our own; any other --key is a setting.  Their values
 * are no option letter's, so that optopt tells them apart.
 */
enum {
	OPT_HELP = 256,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* --key value or --key=value (arg without the dashes), in order. */
static void
flag_add(const char *arg, const char *value)
{
	const char *eq;
	struct flag *f = &opts.flags[opts.nflags];

	if ((eq = strchr(arg, '=')) != NULL) {
		f->key = strndup(arg, (size_t)(eq - arg));
		f->value = eq + 1;
	} else {
		f->key = strdup(arg);
		f->value = value;
	}
	if (f->key == NULL)
		fatal("argv");
	opts.nflags++;
}

/*
 * Read argv once.  Our own options act now; each --key value (or
 * --key=value) is kept, in order, for load_config() to apply after the
 * file and the environment, at start-up and on every reload.  getopt
 * does not know the settings: an option it does not know is one, and
 * config_set_flag() checks its name.
 */
static void
parse_options(int argc, char *argv[], int *check)
{
	char letter[3] = "-?";
	const char *arg;
	int ch;

	if ((opts.flags = calloc((size_t)argc, sizeof(*opts.flags))) == NULL)
		fatal("argv");
	opterr = 0;	/* our own one-line messages */
	/* '+': no permutation, so that a setting's value is never taken
	 * for an argument of ours. */
	while ((ch = getopt_long(argc, argv, "+:c:dhnVv", long_opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts.conffile = optarg;
			break;
		case 'd':
			break;	/* always in the foreground */
		case 'n':
			*check = 1;
			break;
		case 'v':
			opts.verbose++;
			break;
		case 'V':
		case OPT_VERSION:
			printf("dohstub %s\n", DOHSTUB_VERSION);
			exit(0);
		case 'h':
		case OPT_HELP:
			usage();
		case ':':
			badflag("needs a file", "-c");	/* the only one */
		case '?':
		default:
			if (optopt > 0 && optopt < OPT_HELP) {
				letter[1] = (char)optopt;
				badflag("unknown option", letter);
			}
			/* A long option: optind is past it. */
			arg = argv[optind - 1];
			if (optopt != 0)
				badflag("takes no value", arg);
			if (strchr(arg, '=') == NULL && optind >= argc)
				badflag("needs a value", arg);
			flag_add(arg + 2, strchr(arg, '=') == NULL ?
			    argv[optind++] : NULL);
			break;
		}
	}
	if (optind < argc)
		badflag("unexpected argument", argv[optind]);
	opts.must_exist = 1;
	if (opts.conffile == NULL &&
	    (opts.conffile = getenv("DOHSTUB_CONFIG")) == NULL) {
		opts.conffile = DOHSTUB_DEFAULT_CONF;
		opts.must_exist = 0;
	}
}

/* Defaults, file, environment, flags, then the checks. */
static int
load_config(struct config *cfg, char *err, size_t errlen)
{
	size_t i;

	config_defaults(cfg);
	if (config_parse_file(cfg, opts.conffile, opts.must_exist, err,
	    errlen) == -1 ||
	    config_parse_env(cfg, environ, err, errlen) == -1)
		return -1;
	for (i = 0; i < opts.nflags; i++)
		if (config_set_flag(cfg, opts.flags[i].key, opts.flags[i].value,
		    err, errlen) == -1)
			return -1;
	return config_finalize(cfg, CONFIG_RESOLV_CONF, err, errlen);
}

/*
 * Tell the service manager (Type=notify) how we are, if it listens.
 * The protocol is one datagram to $NOTIFY_SOCKET; no libsystemd needed.
 */
static void
sd_notify_send(const char *state)
{
	struct sockaddr_un sun;
	const char *path;
	socklen_t len;
	int fd;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || path[0] == '\0' ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_debug("sd_notify: %s", strerror(errno));
	close(fd);
}

/* Sockets passed by systemd socket activation (sd_listen_fds(3)). */
static int
inherit_sockets(void)
{
	const char *pid, *fds;
	char *end;
	long n, i;

	if ((pid = getenv("LISTEN_PID")) == NULL ||
	    (fds = getenv("LISTEN_FDS")) == NULL)
		return 0;
	if (strtol(pid, &end, 10) != (long)getpid() || *end != '\0')
		return 0;	/* meant for another process */
	n = strtol(fds, &end, 10);
	if (*end != '\0' || n < 0 || n > LISTEN_MAX_SOCKETS) {
		log_warnx("LISTEN_FDS: \"%s\" is not a socket count", fds);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (listen_inherit(SD_LISTEN_FDS_START + (int)i) == -1)
			return -1;
	/* Not for our children, if ever there are any. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 0;
}

static const char *
resolv_path(const struct config *cfg)
{
	return cfg->resolv_conf != NULL ? cfg->resolv_conf : CONFIG_RESOLV_CONF;
}

/*
 * Become pw, keeping of root's powers only KEPT_CAP (when we have it):
 * a reload may listen on port 53 again.  Nothing else a reload or
 * netwatch does needs privilege (rtnetlink does not), only files the
 * user can read.  A change of credentials clears the parent-death
 * signal: it is set again.  why: what the failure message adds.
 */
static void
drop_to(const struct passwd *pw, const char *why)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	pid_t ppid = getppid();
	int keep, c, pdeathsig = 0;

	memset(&hdr, 0, sizeof(hdr));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, &hdr, caps) == -1)
		fatal("capget");
	keep = (caps[0].permitted & (1u << KEPT_CAP)) != 0;
	(void)prctl(PR_GET_PDEATHSIG, &pdeathsig);
	/* Out of the bounding set too, where we may (CAP_SETPCAP). */
	for (c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (c != KEPT_CAP && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == -1)
			break;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 ||
	    setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s%s", pw->pw_name, why);
	(void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	memset(caps, 0, sizeof(caps));
	if (keep)
		caps[0].effective = caps[0].permitted = 1u << KEPT_CAP;
	if (syscall(SYS_capset, &hdr, caps) == -1)
		fatal("cannot drop capabilities");
	/* Refuse to go on as root if the drop did not take. */
	if (getuid() == 0 || geteuid() == 0 || setuid(0) != -1)
		fatalx("still root after dropping privileges to %s",
		    pw->pw_name);
	if (pdeathsig != 0) {
		(void)prctl(PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0);
		if (getppid() != ppid)
			raise(pdeathsig);	/* it died meanwhile */
	}
	log_info("dropped privileges to %s (uid %u)%s", pw->pw_name,
	    (unsigned)pw->pw_uid, keep ? ", keeping CAP_NET_BIND_SERVICE" :
	    "");
}

/* Say so now if a file a reload reads is out of user's reach. */
static void
check_readable(const char *path, const char *user)
{
	if (path != NULL && access(path, R_OK) == -1 && errno != ENOENT)
		log_warnx("cannot read %s as %s (%s): a reload will fail",
		    path, user, strerror(errno));
}

/*
 * The account to drop to: cfg->user, or when started as root without
 * one, DEFAULT_USER, else LAST_RESORT_USER; NULL: none (not root, no
 * user).  getpwnam()'s: valid until the next getpw*() call.
 */
static struct passwd *
drop_account(const struct config *cfg)
{
	struct passwd *pw;
	const char *user = cfg->user;

	if (user == NULL) {
		if (geteuid() != 0)
			return NULL;
		if ((pw = getpwnam(DEFAULT_USER)) == NULL &&
		    (pw = getpwnam(LAST_RESORT_USER)) == NULL)
			fatalx("started as root and no user %s or %s to drop "
			    "privileges to: create one, or set 'user'",
			    DEFAULT_USER, LAST_RESORT_USER);
	} else {
		errno = 0;
		if ((pw = getpwnam(user)) == NULL)
			fatalx("user %s: %s", user, errno ? strerror(errno) :
			    "no such user");
	}
	return pw;
}

/*
 * After binding: to pw (drop_account()'s, NULL: none).  `user root`
 * keeps root.
 */
static void
drop_privileges(const struct config *cfg, const struct passwd *pw)
{
	const char *user = cfg->user;

	if (pw == NULL)
		return;
	if (pw->pw_uid == 0) {
		log_warnx("running as root, as 'user %s' asks", pw->pw_name);
		return;
	}
	drop_to(pw, user == NULL ? " (set 'user root' to keep them)" : "");
	check_readable(opts.conffile, pw->pw_name);
	check_readable(cfg->ca_file, pw->pw_name);
	if (cfg->fallback_from_resolv || cfg->bootstrap_from_resolv)
		check_readable(resolv_path(cfg), pw->pw_name);
}

/* READY=1 once, with how we are. */
static void
ready_send(void)
{
	const char *why;
	char msg[256];

	if (ready_sent)
		return;
	ready_sent = 1;
	evtimer_del(ev_ready);
	why = proxy_unhealthy(px);
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", why != NULL ? why :
	    "serving");
	sd_notify_send(msg);
}

/* The upstream side has settled: an upstream connected or none can be. */
static void
settled_cb(void *arg)
{
	(void)arg;
	ready_send();
}

/* Waiting any longer for an upstream is pointless. */
static void
ready_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	ready_send();
}

static void
network_cb(unsigned what, void *arg)
{
	(void)arg;
	if (what & NETWATCH_NETWORK)
		proxy_network_changed(px);
	if (what & NETWATCH_RESOLV)
		event_active(ev_resolv, 0, 0);
}

/* The watch cfg asks for; never called from netwatch's callback. */
static void
netwatch_update(const struct config *cfg)
{
	if (cfg->watch_network && nw != NULL &&
	    strcmp(nw_path, resolv_path(cfg)) == 0)
		return;
	netwatch_free(nw);
	nw = NULL;
	free(nw_path);
	nw_path = NULL;
	if (!cfg->watch_network)
		return;
	if ((nw_path = strdup(resolv_path(cfg))) == NULL ||
	    (nw = netwatch_new(base, NETWATCH_NETWORK | NETWATCH_RESOLV,
	    nw_path, network_cb, NULL)) == NULL)
		log_warnx("cannot watch the network and %s", resolv_path(cfg));
}

/*
 * The proxy's one observer (proxy_on_answer()): every answer a client
 * got.  The query log writes it; the control socket's lookups hear of
 * theirs.
 */
static void
answer_cb(const struct listen_peer *peer, const struct dns_query_info *qi,
    const uint8_t *msg, size_t len, const struct proxy_answer *a,
    void *arg)
{
	(void)arg;
	if (ctl != NULL)
		control_on_answer(peer, qi, msg, len, a, NULL);
	if (querylog_enabled(ql))
		querylog_write(ql, (const struct sockaddr *)&peer->addr, qi,
		    a);
}

/* The observer only while someone listens: answers are timed for it. */
static void
observe_answers(void)
{
	proxy_on_answer(px, querylog_enabled(ql) || ctl != NULL ?
	    answer_cb : NULL, NULL);
}

/* The running configuration's query log, its file opened afresh. */
static void
querylog_update(void)
{
	(void)querylog_reopen(ql, running);
	observe_answers();
}

/* Two optional strings, the same? */
static int
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The same query-log settings? */
static int
same_querylog(const struct config *a, const struct config *b)
{
	return same_str(a->query_log, b->query_log) &&
	    a->query_log_json == b->query_log_json &&
	    a->query_log_client == b->query_log_client;
}

/*
 * Switch to cfg, loaded and owned from here on (freed on failure).  0,
 * or -1 with why in err (errlen bytes), logged.
 */
static int
reload_apply(struct config *cfg, char *err, size_t errlen)
{
	const struct config *old = running;

	if (!same_str(cfg->user, old->user) ||
	    cfg->metrics.len != old->metrics.len ||
	    memcmp(&cfg->metrics.ss, &old->metrics.ss, cfg->metrics.len) ||
	    cfg->syslog != old->syslog || cfg->log_json != old->log_json ||
	    !same_str(cfg->control_socket, old->control_socket))
		log_warnx("reload: user, metrics, syslog, log-format and "
		    "control-socket change only on restart");
	if (proxy_reload(px, cfg) == -1) {
		snprintf(err, errlen, "the new configuration cannot be "
		    "applied (see the log); keeping the running one");
		log_warnx("reload failed; keeping the running configuration");
		config_free(cfg);
		free(cfg);
		return -1;
	}
	running = cfg;
	if (!opts.verbose)
		log_setlevel((enum log_level)cfg->log_level);
	log_info("configuration reloaded: mode %s, %zu upstream(s)",
	    config_mode_names[cfg->mode], cfg->nupstream);
	netwatch_update(cfg);
	return 0;
}

/*
 * Read the configuration again and switch to it: SIGHUP, and the
 * control socket's reload (control_reload_cb).  0, or -1 with why in
 * err (errlen bytes: file:line: key: reason), logged.
 */
static int
reload(char *err, size_t errlen, void *arg)
{
	struct config *cfg;
	int rc = -1;

	(void)arg;
	sd_notify_send("RELOADING=1");
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		log_warn("reload");
		snprintf(err, errlen, "out of memory");
	} else if (load_config(cfg, err, errlen) == -1) {
		log_warnx("reload: %s; keeping the running configuration",
		    err);
		config_free(cfg);
		free(cfg);
	} else
		rc = reload_apply(cfg, err, errlen);
	/* The query log is reopened even if the reload failed: logrotate
	 * sent SIGHUP for it. */
	querylog_update();
	sd_notify_send("READY=1");
	return rc;
}

static void
reload_cb(evutil_socket_t sig, short ev, void *arg)
{
	char err[CONFIG_ERRLEN];

	(void)sig;
	(void)ev;
	(void)arg;
	log_info("SIGHUP: reading the configuration again");
	(void)reload(err, sizeof(err), NULL);
}

/* The same address servers (zero configuration), in the same order? */
static int
same_addr_servers(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->upstream_from_resolv != b->upstream_from_resolv ||
	    a->nupstream != b->nupstream)
		return 0;
	for (i = 0; i < a->nupstream; i++)
		if (!addr_eq(&a->upstream[i].addr, &b->upstream[i].addr))
			return 0;
	return 1;
}

/*
 * resolv.conf changed but dohstub does not reload: discovery runs again
 * for the address servers all the same (cheap: one query each), since a
 * change there often means a new network whose resolvers may designate
 * other endpoints.
 */
static void
resolv_rediscover(const struct config *cfg)
{
	if (discovery_count(proxy_discovery(px)) == 0)
		return;
	log_info("%s changed: discovering the address servers' DoH again",
	    resolv_path(cfg));
	proxy_rediscover(px);
}

/*
 * resolv.conf changed.  Only the servers taken from it matter, and
 * resolvconf rewrites it on every DHCP renewal: reload (as SIGHUP does)
 * only when they are other servers now; otherwise rerun discovery.
 */
static void
resolv_cb(evutil_socket_t fd, short ev, void *arg)
{
	const struct config *old = running;
	struct config *cfg;
	char err[CONFIG_ERRLEN];
	int relog;

	(void)fd;
	(void)ev;
	(void)arg;
	if (!old->fallback_from_resolv && !old->bootstrap_from_resolv &&
	    !old->upstream_from_resolv) {
		log_debug("%s changed; no server is taken from it",
		    resolv_path(old));
		resolv_rediscover(old);
		return;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		log_warn("reload");
		return;
	}
	if (load_config(cfg, err, sizeof(err)) == -1) {
		log_warnx("%s changed: %s; keeping the running configuration",
		    resolv_path(old), err);
		goto fail;
	}
	/* Only the lists taken from it and in use count. */
	if ((!old->fallback_from_resolv || addr_list_eq(cfg->fallback,
	    cfg->nfallback, old->fallback, old->nfallback)) &&
	    (!old->bootstrap_from_resolv || addr_list_eq(cfg->bootstrap,
	    cfg->nbootstrap, old->bootstrap, old->nbootstrap)) &&
	    (!old->upstream_from_resolv || same_addr_servers(cfg, old))) {
		log_debug("%s changed, its nameservers did not",
		    resolv_path(old));
		resolv_rediscover(old);
		goto fail;
	}
	log_info("%s changed: other nameservers, reloading",
	    resolv_path(old));
	/* Not a rotation: the log is reopened only for other settings
	 * (old may be freed by the reload). */
	relog = !same_querylog(cfg, old);
	sd_notify_send("RELOADING=1");
	if (reload_apply(cfg, err, sizeof(err)) == 0 && relog)
		querylog_update();
	sd_notify_send("READY=1");
	return;
 fail:
	config_free(cfg);
	free(cfg);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev;
	(void)arg;
	log_info("signal %d: shutting down", (int)sig);
	sd_notify_send("STOPPING=1");
	event_base_loopexit(base, NULL);
}

static void
stats_cb(evutil_socket_t sig, short ev, void *arg)
{
	(void)sig;
	(void)ev;
	(void)arg;
	proxy_log_stats(px);
}

/*
 * We run as an account other daemons share (LAST_RESORT_USER, or its
 * uid under another name, or the kernel's overflow uid): any of them
 * may signal us, so a signal says nothing of who asked.
 */
static int
shared_account(void)
{
	struct passwd *pw;
	uid_t uid = geteuid();

	if (uid == OVERFLOW_UID)
		return 1;
	if ((pw = getpwnam(LAST_RESORT_USER)) != NULL && pw->pw_uid == uid)
		return 1;
	return (pw = getpwuid(uid)) != NULL &&
	    strcmp(pw->pw_name, LAST_RESORT_USER) == 0;
}

/*
 * SIGUSR2: the user opens a portal lease (dohq --captive-portal sends
 * it).  A signal, not a socket: only root and dohstub's own user may
 * send one, and it carries nothing to parse.  Under a shared account
 * every other daemon of that account could, so it is refused.
 */
static void
portal_cb(evutil_socket_t sig, short ev, void *arg)
{
	const char *why;

	(void)sig;
	(void)ev;
	(void)arg;
	if (portal_shared)
		log_warnx("SIGUSR2: no captive portal lease: dohstub runs as "
		    "a shared account (%s), whose other processes may send "
		    "it too: create a %s user or set 'user'",
		    LAST_RESORT_USER, DEFAULT_USER);
	else if (proxy_portal_open(px, &why) == -1)
		log_warnx("SIGUSR2: no captive portal lease: %s", why);
}

/*
 * The pidfile, for dohq --captive-portal: written once at start-up,
 * before privileges are dropped, readable by all (the pid is no secret;
 * the kernel decides who may signal it).
 */
static void
write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	if (path == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	/*
	 * A new file of ours, never one found there: whoever made that
	 * keeps its ownership (and could rewrite the pid), and a FIFO
	 * would block us.  If someone makes one between the two calls,
	 * O_EXCL fails and there is no pidfile.
	 */
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("pidfile %s: cannot remove the old one", path);
		return;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1) {
		log_warn("pidfile %s: cannot create it", path);
		return;
	}
	/* 0644 whatever the umask: dohq checks nobody else may write. */
	if (fchmod(fd, 0644) == -1 || write(fd, buf, (size_t)n) != n)
		log_warn("pidfile %s: cannot write it", path);
	close(fd);
}

/*
 * Descriptors 0-2 open, on /dev/null if they were closed (dohstub
 * 2>&-), as OpenBSD daemons do: else the event loop or a socket takes
 * one, and the log or query-log stderr writes into it.
 */
static void
std_fds(void)
{
	int fd;

	for (fd = 0; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* The lowest free descriptor: fd itself. */
		if (open("/dev/null", O_RDWR) != fd)
			_exit(1);	/* nowhere to say so */
	}
}

int
main(int argc, char *argv[])
{
	struct config cfg;
	struct event *ev_term, *ev_int, *ev_usr1, *ev_usr2, *ev_hup;
	struct metrics *metrics = NULL;
	struct passwd *pw;
	struct timeval tv = { READY_MAX_MS / 1000, 0 };
	char err[CONFIG_ERRLEN];
	int check = 0;

	/* The query log's writer (querylog_writer_exec()): nothing of
	 * the daemon's. */
	if (argc == 3 && strcmp(argv[1], QUERYLOG_WRITER_ARG) == 0)
		querylog_writer_main(argv[2]);
	std_fds();
	parse_options(argc, argv, &check);
	log_init("dohstub", opts.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
	    0);
	if (load_config(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "dohstub: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (check) {
		if (opts.verbose)
			config_print(&cfg, stdout);
		fprintf(stderr, "configuration OK\n");
		config_free(&cfg);
		return 0;
	}

	log_init("dohstub", opts.verbose ? LOG_LEVEL_DEBUG :
	    (enum log_level)cfg.log_level, cfg.syslog);
	log_set_json(cfg.log_json);
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");

	/*
	 * Signals are caught before the sockets are bound: whoever sees
	 * them bound may send SIGHUP at once, and must not kill us.  The
	 * callbacks run only once the loop does.
	 */
	ev_term = evsignal_new(base, SIGTERM, signal_cb, NULL);
	ev_int = evsignal_new(base, SIGINT, signal_cb, NULL);
	ev_usr1 = evsignal_new(base, SIGUSR1, stats_cb, NULL);
	ev_usr2 = evsignal_new(base, SIGUSR2, portal_cb, NULL);
	running = &cfg;
	ev_hup = evsignal_new(base, SIGHUP, reload_cb, NULL);
	ev_ready = evtimer_new(base, ready_timeout_cb, NULL);
	ev_resolv = event_new(base, -1, 0, resolv_cb, NULL);
	if (ev_term == NULL || ev_int == NULL || ev_usr1 == NULL ||
	    ev_usr2 == NULL || evsignal_add(ev_usr2, NULL) == -1 ||
	    ev_hup == NULL || ev_ready == NULL || ev_resolv == NULL ||
	    evsignal_add(ev_term, NULL) == -1 ||
	    evsignal_add(ev_int, NULL) == -1 ||
	    evsignal_add(ev_usr1, NULL) == -1 ||
	    evsignal_add(ev_hup, NULL) == -1)
		fatalx("cannot set up signal handling");

	if (inherit_sockets() == -1)
		fatalx("cannot use the sockets passed by the service manager");
	if ((px = proxy_new(base, &cfg)) == NULL)
		fatalx("cannot start");
	if (cfg.metrics.len != 0 &&
	    (metrics = metrics_new(base, &cfg.metrics, px)) == NULL)
		fatalx("cannot open the metrics endpoint");
	write_pidfile(cfg.pidfile);
	pw = drop_account(&cfg);
	/* Made as root, where it may be (/run), for the account we drop
	 * to. */
	if (cfg.control_socket != NULL) {
		if ((ctl = control_new(base, cfg.control_socket,
		    pw != NULL ? pw->pw_uid : (uid_t)-1,
		    pw != NULL ? pw->pw_gid : (gid_t)-1, px, reload,
		    NULL)) == NULL)
			fatalx("cannot open the control socket");
	}
	/* Bound: from here on as we will be for a reload. */
	drop_privileges(&cfg, pw);
	if ((portal_shared = shared_account()) &&
	    cfg.captive_portal != PORTAL_OFF)
		log_warnx("running as %s, an account other daemons share: "
		    "SIGUSR2 (dohq --captive-portal) will not open a captive "
		    "portal lease", LAST_RESORT_USER);
	if (portal_shared && ctl != NULL) {
		log_warnx("running as %s: only root may use the control "
		    "socket", LAST_RESORT_USER);
		control_root_only(ctl);
	}
	/* Its writer, forked and exec'd, runs as we do now and opens the
	 * file so. */
	if ((ql = querylog_new(base)) == NULL ||
	    querylog_writer_exec(ql, "/proc/self/exe") == -1)
		fatalx("cannot start the query log");
	querylog_update();
	if (metrics != NULL)
		metrics_set_querylog(metrics, ql);
	if (ctl != NULL)
		control_set_querylog(ctl, ql);

	log_info("dohstub %s started, mode %s, %zu upstream(s)",
	    DOHSTUB_VERSION, config_mode_names[cfg.mode], cfg.nupstream);
	if (proxy_on_settled(px, settled_cb, NULL) == -1)
		log_warnx("READY=1 after %d s, not on the upstreams' news",
		    READY_MAX_MS / 1000);
	proxy_start(px);
	netwatch_update(&cfg);
	evtimer_add(ev_ready, &tv);
	event_base_dispatch(base);

	netwatch_free(nw);
	free(nw_path);
	/* Its lookups still in the proxy are released by proxy_stop(). */
	control_free(ctl);
	ctl = NULL;
	proxy_stop(px);
	proxy_log_stats(px);
	metrics_free(metrics);
	proxy_free(px);
	dnssec_key_cache_free();
	querylog_free(ql);	/* after the last answer, proxy_stop()'s */
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_usr1);
	event_free(ev_usr2);
	event_free(ev_hup);
	event_free(ev_ready);
	event_free(ev_resolv);
	event_base_free(base);
	config_free(&cfg);
	while (opts.nflags > 0)
		free(opts.flags[--opts.nflags].key);
	free(opts.flags);
	return 0;
}
