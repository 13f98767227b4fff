/*
 * dohq: ask a DNS-over-HTTPS server, as dig asks a DNS server.  No TLS,
 * HTTP/2 or wire code of its own: config takes the daemon's settings
 * (file and --key flags, through the one settings table), tls makes the
 * SSL_CTX, upstream gets the server its addresses as for the daemon (IP,
 * pin or bootstrap lookup through plain) and doh carries the queries over
 * one connection; dnsmsg checks the answers and dnsprint shows them.
 *
 * Queries ("jobs") go out at most --parallel at a time; results are kept
 * until every earlier job has been printed, so the output follows the
 * order of the command line whatever order the answers come in.
 *
 * --validate judges the one answer with the daemon's validator engine,
 * fetching the chain of trust it asks for over the same connection.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <netdb.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dohstub/addr.h"
#include "dohstub/clock.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/dnsprint.h"
#include "dohstub/doh.h"
#include "dohstub/dohq_out.h"
#include "dohstub/dohq_val.h"
#include "dohstub/discovery.h"
#include "dohstub/known.h"
#include "dohstub/log.h"
#include "dohstub/plain.h"
#include "dohstub/tls.h"
#include "dohstub/upstream.h"
#include "dohstub/validator.h"

#define DOHQ_VERSION		"0.1.0"
#define DOHQ_DEFAULT_CONF	DOHSTUB_SYSCONFDIR "/dohstub.conf"
#define DOHQ_EDNS_SIZE		1232
#define DOHQ_PAD_BLOCK		128	/* RFC 8467 4.1: queries */
#define DOHQ_MAX_QUERY		512	/* header, name, OPT, padding */
#define DOHQ_MAX_REPEAT		100000
#define DOHQ_MAX_PARALLEL	1000
#define DOHQ_DAEMON_USER	"dohstub"	/* dohstub.c DEFAULT_USER */

/* One query as asked on the command line or in -f FILE. */
struct dohq_spec {
	char			*name;
	uint16_t		 type;
	uint16_t		 class;
	int			 type_set;
	int			 class_set;
	uint8_t			 wire[DOHQ_MAX_QUERY];
	size_t			 len;
	struct dns_query_info	 qi;	/* to check answers against */
};

enum dohq_job_state {
	JOB_NEW,
	JOB_SENT,	/* given to doh, answer outstanding */
	JOB_DONE,	/* result kept until printed */
	JOB_PRINTED,
};

/* One query sent; --repeat makes many jobs of one spec. */
struct dohq_job {
	struct dohq		*d;
	struct dohq_spec	*spec;
	enum dohq_job_state	 state;
	struct doh_req		*req;
	struct event		*timer;
	uint64_t		 start_us;
	uint64_t		 latency_us;
	int			 ex;
	int			 conn_fail;	/* failed with the connection */
	int			 quiet;		/* ... which was said already */
	char			*err;
	uint8_t			*body;	/* not kept with --repeat */
	size_t			 len;
	unsigned		 rcode;
	int			 http_status;
	char			*headers;
	int64_t			 query_ms;
	uint64_t		 first_byte_ms;
	uint64_t		 done_ms;
};

struct dohq {
	/* options */
	enum dnsprint_format	 fmt;
	int			 verbose;
	int			 timing;
	int			 dnssec;
	int			 cd;
	int			 no_rd;
	int			 padding;
	int			 insecure;
	int			 family;
	unsigned		 edns_size;	/* 0: no EDNS */
	unsigned		 repeat;	/* 0: not --repeat */
	unsigned		 parallel;
	const char		*url;
	const char		*conf;
	int			 conf_given;
	int			 known;		/* --known: print the table */
	int			 portal;	/* --captive-portal */
	const char		*discover;	/* --discover ADDR */
	int			 validate;	/* --validate */
	struct dohq_val		*val;
	/* An address server to upgrade first (@ADDR, --discover), as
	 * the daemon does (discovery.h). */
	int			 is_addr;
	struct addr		 addr;
	struct discovery	*disc;
	struct dohq_spec	*specs;
	size_t			 nspecs;

	/*
	 * The daemon's settings (--key flags, and the file without @URL),
	 * reduced to the one upstream.  up is a copy of cfg.upstream[0]
	 * whose strings belong to cfg.
	 */
	struct config		 cfg;
	struct config_upstream	 up;
	size_t			 naddrs;	/* as upstream gave them */
	int			 addrs_said;	/* the first report came */
	char			 server_addr[ADDR_STRLEN];

	/* the run */
	struct event_base	*base;
	SSL_CTX			*ctx;
	struct plain		*plain;		/* bootstrap servers */
	struct upstreams	*ups;
	struct doh_client	*doh;		/* owned by ups */
	struct dohq_job		*jobs;
	size_t			 njobs;
	size_t			 next_submit;
	size_t			 next_print;
	size_t			 inflight;
	size_t			 ndone;
	size_t			 nprinted;
	int			 stopping;	/* no more callbacks wanted */
	int			 fatal;		/* the connection failed */
	int			 ex;		/* first failure, by job */
	int			 failure_said;	/* --repeat */
	int			 done;		/* nothing left to wait for */
	int			 conn_said;	/* its failure, once */
	uint64_t		 start_ms;
	uint64_t		 bootstrap_ms;
	uint64_t		 connect_ms;
	uint64_t		 handshake_ms;
	unsigned		 nconnections;
	uint64_t		 run_start_us;
	uint64_t		 run_end_us;
	int			 tls_printed;
	int			 have_tls;
	struct dohq_out_tls	 tls;
	char			 tls_version[32];
	char			 tls_cipher[64];
	char			 tls_alpn[32];
	char			 tls_subject[256];
	char			 tls_issuer[256];
	char			 tls_not_before[32];
	char			 tls_not_after[32];
};

static void	dohq_pump(struct dohq *);
static void	dohq_stop(struct dohq *);
static void	connected_cb(struct doh_client *,
		    const struct doh_conn_info *, void *);

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: dohq [options] [@URL] NAME [TYPE] [CLASS] [NAME ...]\n"
	    "  -c, --config FILE     take the server from a dohstub.conf\n"
	    "  -f, --file FILE       read \"NAME [TYPE [CLASS]]\" lines\n"
	    "  dohstub's settings:\n"
	    "      --ca-file FILE    CA certificates to verify the server\n"
	    "      --resolve HOST:PORT:ADDR[,ADDR...]\n"
	    "      --bootstrap ADDR  look the server's name up here\n"
	    "      --bootstrap-min-ttl DURATION\n"
	    "      --tls-min-version 1.2|1.3  --timeout DURATION\n"
	    "      --method post|get (--post, --get)\n"
	    "      --known-server \"ADDR URL\"\n"
	    "  -4, -6                IPv4 or IPv6 addresses only\n"
	    "      --insecure --dnssec --cd --no-rd --padding\n"
	    "      --edns-size N     0 for no EDNS\n"
	    "      --short --json -v --timing\n"
	    "      --validate        check the answer's DNSSEC chain, as "
	    "delv\n"
	    "      --trust-anchor FILE  --dnssec-insecure ZONE\n"
	    "      --repeat N [--parallel M]\n"
	    "      --known           the DoH servers known by address\n"
	    "      --discover ADDR   how dohstub would upgrade ADDR (DDR)\n"
	    "      --ddr yes|no  --ddr-opportunistic yes|no\n"
	    "      --captive-portal [--pidfile FILE]\n"
	    "                        ask the running dohstub for a lease\n"
	    "  -h, --help  -V, --version\n"
	    "default configuration: %s; see dohq(1)\n", DOHQ_DEFAULT_CONF);
}

/*
 * Sub-millisecond latencies for --repeat: clock_ms() is too coarse on a
 * LAN, let alone loopback.  Only durations are taken from it.
 */
static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One line on stderr; returns ex, for "return complain(...)". */
static int __attribute__((format(printf, 2, 3)))
complain(int ex, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("dohq: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return ex;
}

/* --- options --- */

static int
parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static struct dohq_spec *
spec_add(struct dohq *d, const char *name)
{
	struct dohq_spec *s, *n;

	n = reallocarray(d->specs, d->nspecs + 1, sizeof(*n));
	if (n == NULL)
		return NULL;
	d->specs = n;
	s = &d->specs[d->nspecs];
	memset(s, 0, sizeof(*s));
	if ((s->name = strdup(name)) == NULL)
		return NULL;
	s->type = 1;		/* A */
	s->class = DNS_CLASS_IN;
	d->nspecs++;
	return s;
}

/*
 * One word of "NAME [TYPE] [CLASS]": a type or a class right after a
 * name belongs to it, anything else starts the next name (as dig reads
 * its arguments).
 */
static int
spec_word(struct dohq *d, const char *w)
{
	struct dohq_spec *s = d->nspecs > 0 ? &d->specs[d->nspecs - 1] : NULL;
	uint16_t v;

	if (s != NULL && !s->type_set && dnsmsg_type_parse(w, &v) == 0) {
		s->type = v;
		s->type_set = 1;
		return 0;
	}
	if (s != NULL && !s->class_set && dnsmsg_class_parse(w, &v) == 0) {
		s->class = v;
		s->class_set = 1;
		return 0;
	}
	if (spec_add(d, w) == NULL)
		return complain(DOHQ_INTERNAL, "out of memory");
	return 0;
}

static int
read_file(struct dohq *d, const char *path)
{
	FILE *fp;
	char *line = NULL, *p, *w, *save;
	char where[512];
	size_t cap = 0, lineno = 0, before;
	int ex = 0, words;

	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "r")) == NULL)
		return complain(DOHQ_NOINPUT, "%s: %s", path,
		    strerror(errno));
	while (ex == 0 && getline(&line, &cap, fp) != -1) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		snprintf(where, sizeof(where), "%s:%zu", path, lineno);
		before = d->nspecs;
		words = 0;
		for (w = strtok_r(line, " \t\r\n", &save); w != NULL && ex == 0;
		    w = strtok_r(NULL, " \t\r\n", &save)) {
			/* The first word of a line is always a name. */
			if (words++ == 0) {
				if (spec_add(d, w) == NULL)
					ex = complain(DOHQ_INTERNAL,
					    "out of memory");
				continue;
			}
			if ((ex = spec_word(d, w)) != 0)
				break;
			if (d->nspecs != before + 1)
				ex = complain(DOHQ_USAGE, "%s: \"%s\" is "
				    "not a type or class", where, w);
		}
	}
	if (ex == 0 && ferror(fp))
		ex = complain(DOHQ_NOINPUT, "%s: %s", path, strerror(errno));
	free(line);
	if (fp != stdin)
		fclose(fp);
	return ex;
}

enum {
	OPT_SETTING = 256,	/* one of dohstub's: the long name is the key */
	OPT_TLS_MIN,
	OPT_INSECURE,
	OPT_POST,
	OPT_GET,
	OPT_DNSSEC,
	OPT_CD,
	OPT_NO_RD,
	OPT_PADDING,
	OPT_EDNS_SIZE,
	OPT_SHORT,
	OPT_JSON,
	OPT_TIMING,
	OPT_REPEAT,
	OPT_PARALLEL,
	OPT_KNOWN,
	OPT_DISCOVER,
	OPT_PORTAL,
	OPT_VALIDATE,
};

static const struct option long_opts[] = {
	/* dohstub's settings, applied with its names and checks */
	{ "ca-file", required_argument, NULL, OPT_SETTING },
	{ "resolve", required_argument, NULL, OPT_SETTING },
	{ "bootstrap", required_argument, NULL, OPT_SETTING },
	{ "bootstrap-min-ttl", required_argument, NULL, OPT_SETTING },
	{ "tls-min-version", required_argument, NULL, OPT_SETTING },
	{ "timeout", required_argument, NULL, OPT_SETTING },
	{ "method", required_argument, NULL, OPT_SETTING },
	{ "known-server", required_argument, NULL, OPT_SETTING },
	{ "ddr", required_argument, NULL, OPT_SETTING },
	{ "ddr-opportunistic", required_argument, NULL, OPT_SETTING },
	{ "pidfile", required_argument, NULL, OPT_SETTING },
	{ "trust-anchor", required_argument, NULL, OPT_SETTING },
	{ "dnssec-insecure", required_argument, NULL, OPT_SETTING },
	/* older names for some of them */
	{ "tls-min", required_argument, NULL, OPT_TLS_MIN },
	{ "post", no_argument, NULL, OPT_POST },
	{ "get", no_argument, NULL, OPT_GET },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "dnssec", no_argument, NULL, OPT_DNSSEC },
	{ "cd", no_argument, NULL, OPT_CD },
	{ "no-rd", no_argument, NULL, OPT_NO_RD },
	{ "padding", no_argument, NULL, OPT_PADDING },
	{ "edns-size", required_argument, NULL, OPT_EDNS_SIZE },
	{ "short", no_argument, NULL, OPT_SHORT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "timing", no_argument, NULL, OPT_TIMING },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "parallel", required_argument, NULL, OPT_PARALLEL },
	{ "known", no_argument, NULL, OPT_KNOWN },
	{ "captive-portal", no_argument, NULL, OPT_PORTAL },
	{ "discover", required_argument, NULL, OPT_DISCOVER },
	{ "validate", no_argument, NULL, OPT_VALIDATE },
	{ "config", required_argument, NULL, 'c' },
	{ "file", required_argument, NULL, 'f' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Returns 0 to go on, -1 to exit 0 (--help), or an exit status. */
static int
parse_options(struct dohq *d, int argc, char *argv[])
{
	char err[CONFIG_ERRLEN];
	const char *file = NULL;
	int ch, ex, i, li;

	opterr = 0;	/* our own one-line messages */
	while ((ch = getopt_long(argc, argv, ":46c:f:hVv", long_opts,
	    &li)) != -1) {
		switch (ch) {
		case '4':
			d->family = AF_INET;
			break;
		case '6':
			d->family = AF_INET6;
			break;
		case 'c':
			d->conf = optarg;
			d->conf_given = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case 'V':
			printf("dohq %s\n", DOHQ_VERSION);
			return -1;
		case 'v':
			d->verbose++;
			break;
		case OPT_SETTING:
			if (config_set_flag(&d->cfg, long_opts[li].name, optarg,
			    err, sizeof(err)) == -1)
				return complain(DOHQ_USAGE, "%s", err);
			break;
		case OPT_TLS_MIN:
			if (config_set_flag(&d->cfg, "tls-min-version", optarg,
			    err, sizeof(err)) == -1)
				return complain(DOHQ_USAGE, "%s", err);
			break;
		case OPT_INSECURE:
			d->insecure = 1;
			break;
		case OPT_POST:
		case OPT_GET:
			config_set_flag(&d->cfg, "method", ch == OPT_POST ?
			    "post" : "get", NULL, 0);
			break;
		case OPT_DNSSEC:
			d->dnssec = 1;
			break;
		case OPT_CD:
			d->cd = 1;
			break;
		case OPT_NO_RD:
			d->no_rd = 1;
			break;
		case OPT_PADDING:
			d->padding = 1;
			break;
		case OPT_EDNS_SIZE:
			if (parse_uint(optarg, 0, 65535, &d->edns_size) == -1)
				return complain(DOHQ_USAGE, "--edns-size: "
				    "\"%s\" is not 0..65535", optarg);
			break;
		case OPT_SHORT:
			d->fmt = DNSPRINT_SHORT;
			break;
		case OPT_JSON:
			d->fmt = DNSPRINT_JSON;
			break;
		case OPT_TIMING:
			d->timing = 1;
			break;
		case OPT_DISCOVER:
			d->discover = optarg;
			break;
		case OPT_KNOWN:
			d->known = 1;
			break;
		case OPT_PORTAL:
			d->portal = 1;
			break;
		case OPT_VALIDATE:
			d->validate = 1;
			break;
		case OPT_REPEAT:
			if (parse_uint(optarg, 1, DOHQ_MAX_REPEAT,
			    &d->repeat) == -1)
				return complain(DOHQ_USAGE, "--repeat: "
				    "\"%s\" is not 1..%d", optarg,
				    DOHQ_MAX_REPEAT);
			break;
		case OPT_PARALLEL:
			if (parse_uint(optarg, 1, DOHQ_MAX_PARALLEL,
			    &d->parallel) == -1)
				return complain(DOHQ_USAGE, "--parallel: "
				    "\"%s\" is not 1..%d", optarg,
				    DOHQ_MAX_PARALLEL);
			break;
		case ':':
			if (optopt > 0 && optopt < OPT_SETTING)
				return complain(DOHQ_USAGE, "-%c: needs an "
				    "argument (see dohq --help)", optopt);
			return complain(DOHQ_USAGE, "%s: needs an argument "
			    "(see dohq --help)", argv[optind - 1]);
		default:
			if (optopt > 0 && optopt < OPT_SETTING)
				return complain(DOHQ_USAGE, "-%c: unknown "
				    "option (see dohq --help)", optopt);
			return complain(DOHQ_USAGE, "%s: unknown option (see "
			    "dohq --help)", argv[optind - 1]);
		}
	}
	for (i = optind; i < argc; i++) {
		if (argv[i][0] == '@') {
			if (d->url != NULL)
				return complain(DOHQ_USAGE, "%s: one server "
				    "only (already %s)", argv[i], d->url);
			d->url = argv[i] + 1;
			continue;
		}
		if ((ex = spec_word(d, argv[i])) != 0)
			return ex;
	}
	if (d->validate && (d->discover != NULL || d->portal || d->known))
		return complain(DOHQ_USAGE, "--validate: a NAME to look up "
		    "goes with it");
	if (d->discover != NULL) {
		if (d->known || d->url != NULL || d->nspecs > 0 ||
		    file != NULL)
			return complain(DOHQ_USAGE, "--discover: no server or "
			    "NAME with it");
		if (addr_parse(d->discover, 53, &d->addr, err,
		    sizeof(err)) == -1)
			return complain(DOHQ_USAGE, "--discover: %s", err);
		d->is_addr = 1;
		return 0;
	}
	if (d->portal) {
		if (d->known || d->url != NULL || d->nspecs > 0 ||
		    file != NULL)
			return complain(DOHQ_USAGE, "--captive-portal: no "
			    "server or NAME with it");
		return 0;
	}
	if (d->known) {
		if (d->url != NULL || d->nspecs > 0 || file != NULL)
			return complain(DOHQ_USAGE, "--known: no server or "
			    "NAME with it");
		return 0;
	}
	if (file != NULL && (ex = read_file(d, file)) != 0)
		return ex;
	if (d->nspecs == 0)
		return complain(DOHQ_USAGE, "no NAME to look up (see dohq "
		    "--help)");
	if (d->edns_size == 0 && (d->dnssec || d->padding))
		return complain(DOHQ_USAGE, "--edns-size 0: --dnssec and "
		    "--padding need EDNS");
	if (d->parallel > 1 && d->repeat == 0 && d->nspecs == 1)
		return complain(DOHQ_USAGE, "--parallel: needs --repeat or "
		    "several names");
	if (d->validate) {
		/* One answer and its chain, as delv judges one. */
		if (d->nspecs > 1 || d->repeat != 0)
			return complain(DOHQ_USAGE, "--validate: one NAME, "
			    "without --repeat");
		if (d->edns_size == 0)
			return complain(DOHQ_USAGE, "--validate: needs EDNS "
			    "(--edns-size 0) for the DO bit");
		/* The signatures, unchecked by the server: ours to check. */
		d->dnssec = 1;
		d->cd = 1;
	}
	return 0;
}

/* --- the server --- */

/*
 * --known: the built-in table with the configuration's known-server
 * entries (and --known-server's), in the file syntax.  The default
 * configuration may be missing; one named by -c may not.
 */
static int
print_known(struct dohq *d)
{
	char err[CONFIG_ERRLEN];

	if (config_parse_file(&d->cfg, d->conf, d->conf_given, err,
	    sizeof(err)) == -1)
		return complain(DOHQ_NOINPUT, "%s", err);
	known_print(&d->cfg, stdout);
	return fflush(stdout) == 0 ? -1 : complain(1, "stdout: %s",
	    strerror(errno));
}

/*
 * The uid a daemon started as root runs as: the configuration's user,
 * else the one it drops to.  -1 if there is no such user.
 */
static long
portal_uid(const struct config *cfg)
{
	struct passwd *pw;

	if ((pw = getpwnam(cfg->user != NULL ? cfg->user :
	    DOHQ_DAEMON_USER)) == NULL)
		return -1;
	return (long)pw->pw_uid;
}

/*
 * pid is named dohstub and runs with real, effective and saved uid all
 * uid.  The name only guards against a stale pidfile (anyone may set
 * it with prctl); the uid, from /proc/PID/status, is the check: only
 * root and that user can make a process of it.  Not the executable:
 * anyone may run a dohstub binary, and its path differs from install
 * to install ("(deleted)" after an upgrade).
 */
static int
portal_pid_uid(long pid, long uid)
{
	char path[64], line[256];
	long r, e, sv;
	FILE *fp;
	int ok = 0;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	if (strcmp(line, "dohstub\n") != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "Uid: %ld %ld %ld", &r, &e, &sv) == 3) {
			ok = r == uid && e == uid && sv == uid;
			break;
		}
	fclose(fp);
	return ok;
}

/*
 * --captive-portal: SIGUSR2 to the dohstub whose pid is in its pidfile
 * (--pidfile, or the configuration's).  The kernel lets only root and
 * dohstub's own user signal it.  The pidfile must be a regular file of
 * root's (or the daemon's uid) that no one else may write, and the pid
 * a process of the daemon's uid: a stale pidfile, or one someone else
 * wrote, never signals another process (SIGUSR2 would end most).  A
 * pidfd pins the process between the check and the signal.
 */
static int
ask_portal(struct dohq *d)
{
	char err[CONFIG_ERRLEN];
	const char *pf;
	struct stat sb;
	FILE *fp;
	long pid, uid;
	int e, fd, ok, pidfd, r;

	if (config_parse_file(&d->cfg, d->conf, d->conf_given, err,
	    sizeof(err)) == -1)
		return complain(DOHQ_NOINPUT, "%s", err);
	if ((pf = d->cfg.pidfile) == NULL)
		return complain(DOHQ_USAGE, "--captive-portal: no pidfile "
		    "(set pidfile in %s, or give --pidfile)", d->conf);
	/* Non-blocking: a FIFO there must not hang us. */
	if ((fd = open(pf, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return complain(DOHQ_NOINPUT, "%s: %s", pf, strerror(errno));
	if (fstat(fd, &sb) == -1 || (fp = fdopen(fd, "r")) == NULL) {
		complain(DOHQ_NOINPUT, "%s: %s", pf, strerror(errno));
		close(fd);
		return DOHQ_NOINPUT;
	}
	uid = portal_uid(&d->cfg);
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (sb.st_uid != 0 && sb.st_uid != getuid() &&
	    (long)sb.st_uid != uid)) {
		fclose(fp);
		return complain(DOHQ_NOINPUT, "%s: not trusted: not a regular "
		    "file of root's, dohstub's or yours that group and "
		    "others cannot write", pf);
	}
	ok = fscanf(fp, "%ld", &pid) == 1 && pid > 1 && pid <= INT32_MAX;
	fclose(fp);
	if (!ok)
		return complain(DOHQ_NOINPUT, "%s: no pid in it", pf);
	/* Written by the daemon before it dropped root, or as itself. */
	if (sb.st_uid != 0)
		uid = (long)sb.st_uid;
	if (uid == -1)
		return complain(DOHQ_CONNECT, "%s: no user %s, whom dohstub "
		    "would run as", pf, d->cfg.user != NULL ? d->cfg.user :
		    DOHQ_DAEMON_USER);
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#else
	pidfd = -1;
	errno = ENOSYS;
#endif
	if (pidfd == -1 && errno != ENOSYS)
		return complain(DOHQ_CONNECT, "%s: pid %ld is not running",
		    pf, pid);
	if (!portal_pid_uid(pid, uid)) {
		if (pidfd != -1)
			close(pidfd);
		return complain(DOHQ_CONNECT, "%s: pid %ld is not a dohstub "
		    "running as uid %ld", pf, pid, uid);
	}
#ifdef SYS_pidfd_send_signal
	if (pidfd != -1) {
		r = (int)syscall(SYS_pidfd_send_signal, pidfd, SIGUSR2, NULL,
		    0);
		e = errno;
		close(pidfd);
		errno = e;
	} else
#endif
		r = kill((pid_t)pid, SIGUSR2);
	if (r == -1)
		return complain(DOHQ_CONNECT, "dohstub (pid %ld): %s%s", pid,
		    strerror(errno), errno == EPERM ? " (only root and "
		    "dohstub's user may ask)" : "");
	printf("asked dohstub (pid %ld) for a captive portal lease: its "
	    "log and /health say whether it opened\n", pid);
	return fflush(stdout) == 0 ? -1 : complain(1, "stdout: %s",
	    strerror(errno));
}

/*
 * The one upstream: @URL, or the first of the dohstub configuration,
 * whose settings then count below the flags, as for the daemon.
 */
static int
setup_server(struct dohq *d)
{
	char err[CONFIG_ERRLEN];
	size_t i;

	if (d->url == NULL) {
		if (config_parse_file(&d->cfg, d->conf, 1, err,
		    sizeof(err)) == -1)
			return complain(d->conf_given ? DOHQ_NOINPUT :
			    DOHQ_USAGE, "%s%s", err, d->conf_given ? "" :
			    " (give the server as @URL)");
		/* The first URL: an address server needs upgrading. */
		for (i = 0; i < d->cfg.nupstream &&
		    d->cfg.upstream[i].is_addr; i++)
			;
		if (i == d->cfg.nupstream)
			return complain(DOHQ_USAGE, "%s: no upstream URL (give "
			    "the server as @URL)", d->conf);
		if (i > 0) {
			config_upstream_free(&d->cfg.upstream[0]);
			d->cfg.upstream[0] = d->cfg.upstream[i];
			memset(&d->cfg.upstream[i], 0,
			    sizeof(d->cfg.upstream[i]));
		}
	} else {
		config_upstream_free(&d->cfg.upstream[0]);
		if (config_parse_upstream(d->url, &d->cfg.upstream[0], err,
		    sizeof(err)) == -1)
			return complain(DOHQ_USAGE, "%s", err);
		/* @ADDR: upgraded first (discover_server()). */
		if (d->cfg.upstream[0].is_addr) {
			d->is_addr = 1;
			d->addr = d->cfg.upstream[0].addr;
		}
	}
	for (i = 1; i < CONFIG_MAX_UPSTREAM; i++)
		config_upstream_free(&d->cfg.upstream[i]);
	d->cfg.nupstream = 1;
	/* A run is short: no PINGs to keep the connection. */
	d->cfg.keepalive_ms = 0;
	d->up = d->cfg.upstream[0];
	if (d->is_addr)
		return 0;	/* the path comes with the upgrade */
	if (d->cfg.method == METHOD_GET && strchr(d->up.path, '?') != NULL)
		return complain(DOHQ_USAGE, "%s: --get adds its own query; "
		    "this path needs --post", d->up.url);
	return 0;
}

/* --- an address server: discovery, as the daemon's --- */

static void
discovered_cb(struct discovery *disc, size_t i, void *arg)
{
	struct dohq *d = arg;

	(void)disc;
	(void)i;
	event_base_loopbreak(d->base);
}

/*
 * Upgrade d->addr as the daemon would (known table, then DDR with its
 * verification handshake); the result, or NULL (said) on failure.
 */
static const struct discovery_result *
discover(struct dohq *d)
{
	const struct discovery_result *r;

	if ((d->disc = discovery_new(d->base, &d->cfg, &d->addr, 1, NULL,
	    discovered_cb, d)) == NULL) {
		complain(DOHQ_INTERNAL, "cannot start discovery");
		return NULL;
	}
	discovery_start(d->disc);
	/* The guard timer of a run keeps the loop busy until it ends. */
	while (discovery_pending(d->disc))
		if (event_base_dispatch(d->base) != 0) {
			complain(DOHQ_INTERNAL, "event loop failed");
			return NULL;
		}
	r = discovery_result(d->disc, 0);
	return r;
}

/* The exit status for a result that is not an upgrade. */
static int
discover_status(const struct discovery_result *r)
{
	switch (r->fail) {
	case DISCOVERY_FAIL_CERTIFICATE:
	case DISCOVERY_FAIL_TLS:
		return DOHQ_TLS;
	default:
		return DOHQ_NOHOST;
	}
}

/* Each line of text, prefixed. */
static void
print_lines(const char *prefix, const char *text)
{
	const char *nl;

	while (*text != '\0') {
		nl = strchr(text, '\n');
		printf("%s%.*s\n", prefix, nl != NULL ? (int)(nl - text) :
		    (int)strlen(text), text);
		if (nl == NULL)
			break;
		text = nl + 1;
	}
}

/*
 * --discover ADDR: the SVCB records, what was skipped and why, the names
 * the certificate was checked for, and the verdict.  0 when upgraded.
 */
static int
run_discover(struct dohq *d)
{
	const struct discovery_result *r;
	char a[ADDR_STRLEN], pin[ADDR_STRLEN];
	size_t i;

	if ((r = discover(d)) == NULL)
		return DOHQ_INTERNAL;
	addr_str(&r->addr, a, sizeof(a));
	printf(";; %s: _dns.resolver.arpa SVCB\n", a);
	if (r->upgrade == DISCOVERY_KNOWN)
		printf(";; a known server%s%s%s: nothing asked\n",
		    r->provider[0] != '\0' ? " (" : "", r->provider,
		    r->provider[0] != '\0' ? ")" : "");
	else if (r->records[0] != '\0')
		print_lines("", r->records);
	else
		printf(";; no SVCB record\n");
	if (r->skipped[0] != '\0')
		print_lines(";; skipped: ", r->skipped);
	if (r->url[0] != '\0') {
		printf(";; endpoint: %s at", r->url);
		for (i = 0; i < r->npins; i++)
			printf(" %s", addr_str(&r->pins[i], pin, sizeof(pin)));
		printf("\n");
	}
	if (r->checked[0] != '\0')
		printf(";; certificate checked for: %s\n", r->checked);
	if (r->cert_names[0] != '\0')
		printf(";; certificate lists: %s\n", r->cert_names);
	if (r->upgrade == DISCOVERY_NONE) {
		printf(";; verdict: none: %s\n", r->reason);
		return discover_status(r);
	}
	printf(";; verdict: %s\n", discovery_upgrade_names[r->upgrade]);
	return -1;
}

/*
 * @ADDR: the address upgraded as the daemon would, said on stderr, and
 * its endpoint becomes the server; never plain DNS.
 */
static int
discover_server(struct dohq *d)
{
	const struct discovery_result *r;
	struct config_upstream *u = &d->cfg.upstream[0];
	char a[ADDR_STRLEN];

	if ((r = discover(d)) == NULL)
		return DOHQ_INTERNAL;
	addr_str(&r->addr, a, sizeof(a));
	if (r->upgrade == DISCOVERY_NONE)
		return complain(discover_status(r), "%s: not upgraded to DoH: "
		    "%s", a, r->reason);
	fprintf(stderr, ";; %s: upgraded (%s%s%s) to %s%s%s\n", a,
	    discovery_upgrade_names[r->upgrade], r->provider[0] != '\0' ?
	    ", " : "", r->provider, r->url, r->checked[0] != '\0' ?
	    "; certificate checked for " : "", r->checked);
	config_upstream_free(u);
	if (discovery_upstream(r, u) == -1)
		return complain(DOHQ_INTERNAL, "out of memory");
	d->up = *u;
	return 0;
}

/*
 * A name with neither a pin nor a bootstrap server: unlike the daemon,
 * dohq may ask the system's resolver, and pins what it says.
 */
static int
system_pin(struct dohq *d)
{
	struct config_resolve *r;
	struct addrinfo hints, *res, *ai;
	char port[8];
	size_t i;
	int rv;

	if (d->up.host_is_ip || d->up.npins > 0 || d->cfg.nbootstrap > 0 ||
	    config_find_resolve(&d->cfg, d->up.host, d->up.port) != NULL)
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = d->family;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", d->up.port);
	if ((rv = getaddrinfo(d->up.host, port, &hints, &res)) != 0)
		return complain(DOHQ_NOHOST, "%s: cannot resolve: %s",
		    d->up.host, gai_strerror(rv));
	/* The other pins are for servers this run does not ask. */
	for (i = 0; i < d->cfg.nresolve; i++)
		free(d->cfg.resolve[i].host);
	memset(d->cfg.resolve, 0, sizeof(d->cfg.resolve));
	r = &d->cfg.resolve[0];
	for (ai = res; ai != NULL && r->naddrs < ADDR_MAX_PER_NAME;
	    ai = ai->ai_next)
		if (addr_set(&r->addrs[r->naddrs], ai->ai_addr,
		    ai->ai_addrlen) == 0)
			r->naddrs++;
	freeaddrinfo(res);
	if ((r->host = strdup(d->up.host)) == NULL)
		return complain(DOHQ_INTERNAL, "out of memory");
	r->port = d->up.port;
	d->cfg.nresolve = 1;
	d->bootstrap_ms = clock_ms() - d->start_ms;
	return 0;
}

static void
pump_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	dohq_pump(arg);
}

/*
 * upstream's report of the server's addresses.  The first one decides:
 * none means no run; some start the queries, from the loop, as upstream
 * is still handing them to the client.
 */
static void
addrs_cb(size_t i, enum upstream_source src, const struct addr *addrs,
    size_t n, void *arg)
{
	struct dohq *d = arg;
	struct timeval now = { 0, 0 };
	const char *fam;

	(void)i;
	if (n > 0) {
		d->naddrs = n;
		/* Named in messages until a connection says which one. */
		addr_str(&addrs[0], d->server_addr, sizeof(d->server_addr));
	}
	if (d->addrs_said++ > 0)
		return;
	if (src == UPSTREAM_SRC_BOOTSTRAP)
		d->bootstrap_ms = clock_ms() - d->start_ms;
	if (n > 0) {
		if (event_base_once(d->base, -1, EV_TIMEOUT, pump_cb, d,
		    &now) == -1) {
			d->ex = complain(DOHQ_INTERNAL, "out of memory");
			dohq_stop(d);
		}
		return;
	}
	fam = d->family == AF_INET ? "IPv4 " : d->family == AF_INET6 ?
	    "IPv6 " : "";
	if (src == UPSTREAM_SRC_BOOTSTRAP)
		d->ex = complain(DOHQ_NOHOST, "%s: no %saddress from the "
		    "bootstrap servers", d->up.host, fam);
	else
		d->ex = complain(DOHQ_NOHOST, "%s: no %saddress to connect "
		    "to", d->up.host, fam);
	dohq_stop(d);
}

/*
 * Reach the server as the daemon does: upstream gives it its addresses
 * (the URL's IP, a pin, or a lookup through the bootstrap servers) and
 * opens the connection.  Returns 0 (the queries start from the loop) or
 * an exit status.
 */
static int
start_server(struct dohq *d)
{
	struct upstream_opts uo;
	int ex;

	if ((ex = system_pin(d)) != 0)
		return ex;
	if (d->cfg.nbootstrap > 0 && (d->plain = plain_new(d->base,
	    d->cfg.bootstrap, d->cfg.nbootstrap, d->cfg.timeout_ms / 2 + 1,
	    PLAIN_ROLE_BOOTSTRAP)) == NULL)
		return complain(DOHQ_INTERNAL, "cannot start the bootstrap "
		    "lookup");
	memset(&uo, 0, sizeof(uo));
	uo.family = d->family;
	uo.keep_headers = d->verbose > 0;
	uo.addrs_cb = addrs_cb;
	uo.addrs_arg = d;
	if ((d->ups = upstream_new_opts(d->base, &d->cfg, d->ctx, d->plain,
	    &uo, NULL, NULL)) == NULL ||
	    (d->doh = upstream_get(d->ups, 0)) == NULL)
		return complain(DOHQ_INTERNAL, "out of memory");
	doh_set_connected_cb(d->doh, connected_cb, d);
	upstream_start(d->ups);
	return 0;
}

/* --- queries --- */

/*
 * The query of s: ID 0 (RFC 8484 4.1), RD unless --no-rd, CD with --cd,
 * and an OPT record with our size, DO for --dnssec and, for --padding,
 * a padding option filling the message to a multiple of 128 bytes.
 */
static int
build_query(const struct dohq *d, struct dohq_spec *s)
{
	uint8_t name[DNS_MAX_NAME];
	size_t nlen;

	if ((nlen = dnsmsg_name_from_text(s->name, name, sizeof(name))) == 0)
		return complain(DOHQ_USAGE, "\"%s\" is not a domain name",
		    s->name);
	s->len = dnsmsg_make_query(s->wire, sizeof(s->wire), name, nlen,
	    s->type, s->class, (d->no_rd ? 0 : DNS_FLAG_RD) |
	    (d->cd ? DNS_FLAG_CD : 0), (uint16_t)d->edns_size, d->dnssec,
	    d->padding ? DOHQ_PAD_BLOCK : 0);
	/* The same check the daemon makes of a client's query. */
	if (s->len == 0 || dnsmsg_parse_query(s->wire, s->len, &s->qi) !=
	    DNS_VERDICT_OK)
		return complain(DOHQ_INTERNAL, "%s: built a bad query",
		    s->name);
	return 0;
}

static const char *
spec_str(const struct dohq_spec *s, char *buf, size_t size)
{
	char t[16], c[16];

	snprintf(buf, size, "%s %s%s%s", s->name,
	    dnsmsg_type_str(s->type, t, sizeof(t)),
	    s->class != DNS_CLASS_IN ? " " : "",
	    s->class != DNS_CLASS_IN ? dnsmsg_class_str(s->class, c,
	    sizeof(c)) : "");
	return buf;
}

static void
job_set_error(struct dohq_job *j, int ex, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
job_set_error(struct dohq_job *j, int ex, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	j->ex = ex;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(j->err);
	j->err = strdup(buf);
}

/* The job is over: no timer, no request; the pump prints and goes on. */
static void
job_finish(struct dohq_job *j)
{
	struct dohq *d = j->d;

	if (j->timer != NULL) {
		event_free(j->timer);
		j->timer = NULL;
	}
	if (j->state == JOB_SENT)
		d->inflight--;
	j->state = JOB_DONE;
	j->done_ms = clock_ms();
	d->ndone++;
	d->run_end_us = now_us();
}

/* What went wrong with the connection, as one line. */
static int
conn_error(struct dohq *d, enum doh_result res, char *buf, size_t size)
{
	const char *why = doh_last_error(d->doh);

	if (*why == '\0')
		why = doh_result_names[res];
	switch (res) {
	case DOH_ERR_CONNECT:
		if (d->naddrs == 1)
			snprintf(buf, size, "%s: cannot connect to %s: %s",
			    d->up.url, d->server_addr, why);
		else
			snprintf(buf, size, "%s: cannot connect (%zu "
			    "addresses): %s", d->up.url, d->naddrs, why);
		return DOHQ_CONNECT;
	case DOH_ERR_TLS:
		/* doh's reason already says "TLS" or "certificate". */
		snprintf(buf, size, "%s: %s", d->up.url, why);
		return DOHQ_TLS;
	default:
		snprintf(buf, size, "%s: %s", d->up.url, why);
		return DOHQ_TIMEOUT;
	}
}

/* Is the response an answer to what was asked?  Why not, if not. */
static int
check_response(struct dohq_job *j, const uint8_t *body, size_t len)
{
	struct dnsprint_out count;
	char why[160];

	if (dnsmsg_check_answer(body, len, &j->spec->qi) == 0)
		return 0;
	dnsprint_out_buf(&count, NULL, 0);
	if (dnsprint_msg(&count, DNSPRINT_TEXT, body, len, why,
	    sizeof(why)) == 0)
		snprintf(why, sizeof(why), "not an answer to the query (QR, "
		    "opcode or question differ)");
	job_set_error(j, DOHQ_MALFORMED, "malformed response: %s", why);
	return -1;
}

/* A request that failed (not DOH_OK): the exit status, why in buf. */
static int
result_error(struct dohq *d, enum doh_result res, int status, char *buf,
    size_t size)
{
	switch (res) {
	case DOH_ERR_HTTP:
		snprintf(buf, size, "HTTP status %d", status);
		return DOHQ_HTTP;
	case DOH_ERR_CONTENT_TYPE:
		snprintf(buf, size, "HTTP status %d but the content type is "
		    "not application/dns-message", status);
		return DOHQ_HTTP;
	case DOH_ERR_BODY:
		snprintf(buf, size, "HTTP response body empty or over %d "
		    "bytes", DOH_MAX_BODY);
		return DOHQ_HTTP;
	case DOH_ERR_RESET:
		snprintf(buf, size, "HTTP/2 stream reset by the server");
		return DOHQ_HTTP;
	case DOH_ERR_PROTOCOL:
		snprintf(buf, size, "HTTP/2 protocol error: %s",
		    doh_last_error(d->doh));
		return DOHQ_HTTP;
	case DOH_ERR_CONNECT:
	case DOH_ERR_TLS:
	case DOH_ERR_TIMEOUT:
		return conn_error(d, res, buf, size);
	default:
		snprintf(buf, size, "%s", doh_result_names[res]);
		return DOHQ_INTERNAL;
	}
}

static void	val_start(struct dohq *, struct dohq_job *);

static void
job_done_cb(enum doh_result res, const struct doh_response *resp, void *arg)
{
	struct dohq_job *j = arg;
	struct dohq *d = j->d;
	uint64_t sent;
	char why[512];
	int ex;

	j->req = NULL;
	if (d->stopping)
		return;
	j->latency_us = now_us() - j->start_us;
	j->http_status = resp->status;
	sent = resp->sent_ms != 0 ? resp->sent_ms : resp->submit_ms;
	j->query_ms = (int64_t)(clock_ms() - sent);
	if (resp->first_byte_ms != 0 && resp->sent_ms != 0)
		j->first_byte_ms = resp->first_byte_ms - resp->sent_ms;
	if (resp->headers != NULL && d->verbose)
		j->headers = strdup(resp->headers);
	switch (res) {
	case DOH_OK:
		if (check_response(j, resp->body, resp->len) == -1 &&
		    resp->len < DNS_HDR_LEN)
			break;
		j->rcode = (unsigned)dnsmsg_rcode(resp->body);
		/* --repeat counts answers; it does not print them. */
		if (d->repeat != 0)
			break;
		if ((j->body = malloc(resp->len)) == NULL) {
			job_set_error(j, DOHQ_INTERNAL, "out of memory");
			break;
		}
		memcpy(j->body, resp->body, resp->len);
		j->len = resp->len;
		/* Judged first; the job is over with the verdict. */
		if (d->validate && j->ex == 0) {
			val_start(d, j);
			return;
		}
		break;
	default:
		ex = result_error(d, res, resp->status, why, sizeof(why));
		/*
		 * With the connection gone for good (doh backs off), every
		 * other query fails the same way: say it once, stop.
		 */
		if ((res == DOH_ERR_CONNECT || res == DOH_ERR_TLS ||
		    res == DOH_ERR_TIMEOUT) &&
		    doh_get_state(d->doh) == DOH_BACKOFF) {
			j->conn_fail = 1;
			d->fatal = 1;
		}
		job_set_error(j, ex, "%s", why);
		break;
	}
	job_finish(j);
	dohq_pump(d);
}

static void
job_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct dohq_job *j = arg;
	struct dohq *d = j->d;

	(void)fd;
	(void)ev;
	doh_cancel(j->req);
	j->req = NULL;
	j->latency_us = now_us() - j->start_us;
	job_set_error(j, DOHQ_TIMEOUT, "%s: timed out (no %s within %u ms)",
	    d->up.url, d->nconnections == 0 ? "connection" : "response",
	    d->cfg.timeout_ms);
	/* Never connected: the others wait for the same connection. */
	if (d->nconnections == 0) {
		j->conn_fail = 1;
		d->fatal = 1;
	}
	job_finish(j);
	dohq_pump(d);
}

static void
job_arm(struct dohq_job *j)
{
	struct timeval tv;

	tv.tv_sec = j->d->cfg.timeout_ms / 1000;
	tv.tv_usec = (j->d->cfg.timeout_ms % 1000) * 1000;
	evtimer_add(j->timer, &tv);
}

static void
job_submit(struct dohq *d, struct dohq_job *j)
{
	char why[512];

	j->state = JOB_SENT;
	d->inflight++;
	j->start_us = now_us();
	if ((j->timer = evtimer_new(d->base, job_timeout_cb, j)) == NULL) {
		job_set_error(j, DOHQ_INTERNAL, "out of memory");
		job_finish(j);
		return;
	}
	job_arm(j);
	j->req = doh_submit(d->doh, j->spec->wire, j->spec->len, job_done_cb,
	    j);
	if (j->req == NULL) {
		if (doh_get_state(d->doh) == DOH_BACKOFF) {
			job_set_error(j, conn_error(d, DOH_ERR_CONNECT, why,
			    sizeof(why)), "%s", why);
			j->conn_fail = 1;
			d->fatal = 1;
		} else
			job_set_error(j, DOHQ_INTERNAL, "out of memory");
		job_finish(j);
	}
}

/* --- --validate (dohq_val.h) --- */

/* The verdict is in: the job is over, with it. */
static void
val_done(struct dohq_val *val, void *arg)
{
	struct dohq_job *j = arg;
	const char *why;
	int ex;

	/* A chain that could not be had is the connection's failure. */
	if ((ex = dohq_val_failure(val, &why)) != 0)
		job_set_error(j, ex, "%s", why);
	job_finish(j);
	dohq_pump(j->d);
}

static int
val_error(enum doh_result res, int http_status, char *buf, size_t size,
    void *arg)
{
	struct dohq_job *j = arg;

	return result_error(j->d, res, http_status, buf, size);
}

/* The answer came: judge it before the job is over. */
static void
val_start(struct dohq *d, struct dohq_job *j)
{
	/* Its timer was for the answer, which came. */
	if (j->timer != NULL)
		evtimer_del(j->timer);
	dohq_val_start(d->val, d->doh, &j->spec->qi, j->body, j->len);
}

/* The validator and its anchors, before anything is asked. */
static int
val_setup(struct dohq *d)
{
	struct dohq_val_params p;
	char err[CONFIG_ERRLEN];
	int ex;

	memset(&p, 0, sizeof(p));
	p.base = d->base;
	p.timeout_ms = d->cfg.timeout_ms;
	p.edns_size = (uint16_t)d->edns_size;
	p.pad_block = d->padding ? DOHQ_PAD_BLOCK : 0;
	p.error = val_error;
	p.done = val_done;
	p.arg = &d->jobs[0];	/* --validate: one job */
	if ((ex = dohq_val_new(&d->cfg, &p, &d->val, err, sizeof(err))) != 0)
		return complain(ex, "%s", err);
	return 0;
}

/* --- -v --- */

static void
x509_name(X509_NAME *name, char *buf, size_t size)
{
	BIO *b;
	int n;

	buf[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_read(b, buf, (int)size - 1)) > 0)
		buf[n] = '\0';
	BIO_free(b);
}

static void
asn1_time(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "?");
}

static void
keep_tls_info(struct dohq *d, SSL *ssl)
{
	const unsigned char *alpn;
	unsigned int alen;
	X509 *cert;

	memset(&d->tls, 0, sizeof(d->tls));
	snprintf(d->tls_version, sizeof(d->tls_version), "%s",
	    SSL_get_version(ssl));
	snprintf(d->tls_cipher, sizeof(d->tls_cipher), "%s",
	    SSL_get_cipher_name(ssl));
	SSL_get0_alpn_selected(ssl, &alpn, &alen);
	snprintf(d->tls_alpn, sizeof(d->tls_alpn), "%.*s", (int)alen, alpn);
	d->tls.version = d->tls_version;
	d->tls.cipher = d->tls_cipher;
	d->tls.alpn = d->tls_alpn;
	d->tls.resumed = SSL_session_reused(ssl);
	if ((cert = SSL_get0_peer_certificate(ssl)) != NULL) {
		x509_name(X509_get_subject_name(cert), d->tls_subject,
		    sizeof(d->tls_subject));
		x509_name(X509_get_issuer_name(cert), d->tls_issuer,
		    sizeof(d->tls_issuer));
		asn1_time(X509_get0_notBefore(cert), d->tls_not_before,
		    sizeof(d->tls_not_before));
		asn1_time(X509_get0_notAfter(cert), d->tls_not_after,
		    sizeof(d->tls_not_after));
		d->tls.subject = d->tls_subject;
		d->tls.issuer = d->tls_issuer;
		d->tls.not_before = d->tls_not_before;
		d->tls.not_after = d->tls_not_after;
	}
	d->have_tls = 1;
}

static void
connected_cb(struct doh_client *c, const struct doh_conn_info *info,
    void *arg)
{
	struct dohq *d = arg;
	struct dohq_job *j;
	size_t i;

	(void)c;
	addr_sa_str(info->peer, d->server_addr, sizeof(d->server_addr));
	if (d->nconnections++ > 0)
		return;
	d->connect_ms = info->connect_ms;
	d->handshake_ms = info->handshake_ms;
	if (d->verbose)
		keep_tls_info(d, info->ssl);
	/*
	 * The waiting queries leave now: time them (and their timeouts)
	 * from here, so --repeat measures queries, not the handshake.
	 */
	d->run_start_us = now_us();
	for (i = 0; i < d->next_submit; i++) {
		j = &d->jobs[i];
		if (j->state != JOB_SENT)
			continue;
		j->start_us = d->run_start_us;
		job_arm(j);
	}
}

/* --- output --- */

static void
print_error_json(struct dohq *d, struct dohq_job *j)
{
	struct dnsprint_out o;
	struct dohq_out_meta meta;

	memset(&meta, 0, sizeof(meta));
	meta.server = d->up.url;
	meta.server_addr = d->server_addr[0] != '\0' ? d->server_addr : NULL;
	meta.http_status = j->http_status;
	dnsprint_out_file(&o, stdout);
	dohq_out_error_json(&o, &meta, j->spec->name, j->spec->type,
	    j->spec->class, j->ex, j->err != NULL ? j->err : "error");
}

/* The one line on stderr for a failed query. */
static void
say_error(const struct dohq_job *j)
{
	char q[DNS_MAX_NAME_TEXT + 48];

	fflush(stdout);
	/*
	 * Trouble with the connection names the server; trouble with one
	 * query names the query.
	 */
	if (j->ex == DOHQ_CONNECT || j->ex == DOHQ_TLS ||
	    j->ex == DOHQ_TIMEOUT || j->ex == DOHQ_INTERNAL)
		fprintf(stderr, "dohq: %s\n", j->err);
	else
		fprintf(stderr, "dohq: %s: %s\n", spec_str(j->spec, q,
		    sizeof(q)), j->err);
}

static void
job_print(struct dohq *d, struct dohq_job *j)
{
	struct dnsprint_out o;
	struct dohq_out_meta meta;
	struct dohq_out_timing tm;
	const uint8_t *body = j->body;
	size_t len = j->len;

	if (d->fmt == DNSPRINT_TEXT && d->nprinted > 0)
		putchar('\n');
	d->nprinted++;
	if (j->body != NULL) {
		memset(&meta, 0, sizeof(meta));
		meta.server = d->up.url;
		meta.server_addr = d->server_addr[0] ? d->server_addr : NULL;
		meta.http_status = j->http_status;
		meta.http_headers = j->headers;
		meta.query_time_ms = j->query_ms;
		if (d->have_tls && (d->fmt == DNSPRINT_JSON ||
		    !d->tls_printed)) {
			meta.tls = &d->tls;
			d->tls_printed = 1;
		}
		if (d->val != NULL && dohq_val_result(d->val) != NULL) {
			meta.validation = dohq_val_result(d->val);
			/* The answer judged: maybe joined to a target's. */
			body = dohq_val_answer(d->val, &len);
		}
		if (d->timing) {
			tm.bootstrap_ms = d->bootstrap_ms;
			tm.connect_ms = d->connect_ms;
			tm.handshake_ms = d->handshake_ms;
			tm.first_byte_ms = j->first_byte_ms;
			tm.total_ms = j->done_ms - d->start_ms;
			meta.timing = &tm;
		}
		dnsprint_out_file(&o, stdout);
		dohq_out_msg(&o, d->fmt, body, len, &meta);
	} else if (d->fmt == DNSPRINT_JSON && !j->quiet)
		print_error_json(d, j);
	if (j->ex != 0 && !j->quiet)
		say_error(j);
	fflush(stdout);
}

/* The run is over; also before the loop runs, which loopbreak misses. */
static void
dohq_stop(struct dohq *d)
{
	d->done = 1;
	event_base_loopbreak(d->base);
}

/* Print what is done, in order. */
static void
print_done(struct dohq *d)
{
	struct dohq_job *j;

	while (d->next_print < d->njobs &&
	    d->jobs[d->next_print].state == JOB_DONE) {
		j = &d->jobs[d->next_print++];
		j->state = JOB_PRINTED;
		/* A lost connection fails every query: say it once. */
		j->quiet = j->conn_fail && d->conn_said;
		if (j->conn_fail)
			d->conn_said = 1;
		if (j->ex != 0 && d->ex == 0)
			d->ex = j->ex;
		if (d->repeat == 0)
			job_print(d, j);
		else if (j->ex != 0 && !j->quiet && !d->failure_said) {
			/* --repeat: the first failure only, counted later. */
			say_error(j);
			d->failure_said = 1;
		}
		free(j->body);
		j->body = NULL;
	}
}

/* Print, send what may go (it may fail at once), stop when all is over. */
static void
dohq_pump(struct dohq *d)
{
	do {
		print_done(d);
		while (!d->fatal && d->next_submit < d->njobs &&
		    d->inflight < d->parallel)
			job_submit(d, &d->jobs[d->next_submit++]);
	} while (d->next_print < d->njobs &&
	    d->jobs[d->next_print].state == JOB_DONE);
	if (d->inflight == 0 && (d->fatal || d->next_submit == d->njobs) &&
	    d->next_print == d->next_submit)
		dohq_stop(d);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with p% of them at or below it. */
static double
percentile(const uint64_t *v, size_t n, unsigned p)
{
	size_t rank = (n * p + 99) / 100;

	return (double)v[rank > 0 ? rank - 1 : 0] / 1000.0;
}

/* --repeat: min/median/p95/p99 latency and queries per second. */
static void
print_stats(struct dohq *d)
{
	struct dnsprint_out o;
	uint64_t *lat, elapsed;
	size_t rc[16], i, n = 0, failed = 0, sent = 0;
	double secs, qps;
	char name[16];
	int first = 1;

	memset(rc, 0, sizeof(rc));
	if ((lat = calloc(d->njobs, sizeof(*lat))) == NULL)
		return;
	for (i = 0; i < d->njobs; i++) {
		if (d->jobs[i].state == JOB_NEW)
			continue;
		sent++;
		if (d->jobs[i].ex != 0 && d->jobs[i].ex != DOHQ_MALFORMED) {
			failed++;
			continue;
		}
		if (d->jobs[i].ex != 0)
			failed++;
		else
			lat[n++] = d->jobs[i].latency_us;
		rc[d->jobs[i].rcode & 15]++;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	elapsed = d->run_end_us > d->run_start_us && d->run_start_us != 0 ?
	    d->run_end_us - d->run_start_us : 0;
	secs = (double)elapsed / 1e6;
	qps = secs > 0 ? (double)n / secs : 0;
	dnsprint_out_file(&o, stdout);
	if (d->fmt == DNSPRINT_JSON) {
		dnsprint_puts(&o, "{\"server\":");
		dnsprint_json_str(&o, d->up.url);
		if (d->server_addr[0] != '\0') {
			dnsprint_puts(&o, ",\"server_address\":");
			dnsprint_json_str(&o, d->server_addr);
		}
		printf(",\"queries\":%zu,\"answered\":%zu,\"failed\":%zu,"
		    "\"connections\":%u,\"parallel\":%u,\"elapsed_ms\":%.3f,"
		    "\"qps\":%.1f", sent, n, failed, d->nconnections,
		    d->parallel, (double)elapsed / 1000.0, qps);
		if (n > 0)
			printf(",\"latency_ms\":{\"min\":%.3f,\"median\":%.3f,"
			    "\"p95\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
			    percentile(lat, n, 0), percentile(lat, n, 50),
			    percentile(lat, n, 95), percentile(lat, n, 99),
			    percentile(lat, n, 100));
		printf(",\"rcodes\":{");
		for (i = 0; i < sizeof(rc) / sizeof(rc[0]); i++)
			if (rc[i] > 0) {
				printf("%s\"%s\":%zu", first ? "" : ",",
				    dnsmsg_rcode_str((unsigned)i, name,
				    sizeof(name)), rc[i]);
				first = 0;
			}
		printf("}}\n");
	} else {
		printf(";; %zu queries to %s (%s) over %u connection%s, %u in "
		    "parallel: %zu answered, %zu failed\n", sent, d->up.url,
		    d->server_addr[0] ? d->server_addr : "-",
		    d->nconnections, d->nconnections == 1 ? "" : "s",
		    d->parallel, n, failed);
		if (n > 0) {
			printf(";; rcodes:");
			for (i = 0; i < sizeof(rc) / sizeof(rc[0]); i++)
				if (rc[i] > 0)
					printf(" %s %zu", dnsmsg_rcode_str(
					    (unsigned)i, name, sizeof(name)),
					    rc[i]);
			printf("\n;; latency: min %.3f ms, median %.3f ms, "
			    "p95 %.3f ms, p99 %.3f ms, max %.3f ms\n",
			    percentile(lat, n, 0), percentile(lat, n, 50),
			    percentile(lat, n, 95), percentile(lat, n, 99),
			    percentile(lat, n, 100));
			printf(";; %.1f queries per second (%.3f ms in all)\n",
			    qps, (double)elapsed / 1000.0);
		}
	}
	fflush(stdout);
	free(lat);
}

/* --- set-up and teardown --- */

static int
setup_run(struct dohq *d)
{
	struct tls_opts topts;
	char err[512];
	FILE *fp;
	size_t i;
	int ex;

	for (i = 0; i < d->nspecs; i++)
		if ((ex = build_query(d, &d->specs[i])) != 0)
			return ex;
	d->njobs = d->repeat != 0 ? d->repeat : d->nspecs;
	if (d->njobs > 0 &&
	    (d->jobs = calloc(d->njobs, sizeof(*d->jobs))) == NULL)
		return complain(DOHQ_INTERNAL, "out of memory");
	for (i = 0; i < d->njobs; i++) {
		d->jobs[i].d = d;
		d->jobs[i].spec = &d->specs[i % d->nspecs];
	}
	if (d->parallel == 0)
		d->parallel = 1;
	/* OpenSSL's reason for a missing file is only "system lib". */
	if (d->cfg.ca_file != NULL) {
		if ((fp = fopen(d->cfg.ca_file, "r")) == NULL)
			return complain(DOHQ_NOINPUT, "%s: %s", d->cfg.ca_file,
			    strerror(errno));
		fclose(fp);
	}
	memset(&topts, 0, sizeof(topts));
	topts.ca_file = d->cfg.ca_file;
	topts.min_version = d->cfg.tls_min_version;
	topts.insecure = d->insecure;
	if ((d->ctx = tls_ctx_new(&topts, err, sizeof(err))) == NULL)
		return complain(d->cfg.ca_file != NULL ? DOHQ_NOINPUT :
		    DOHQ_INTERNAL, "%s", err);
	if (d->insecure)
		fprintf(stderr, "dohq: warning: --insecure: the server's "
		    "certificate is not verified\n");
	if ((d->base = event_base_new()) == NULL)
		return complain(DOHQ_INTERNAL, "cannot set up libevent");
	return 0;
}

/* One destructor for everything, whatever got built. */
static void
dohq_free(struct dohq *d)
{
	size_t i;

	d->stopping = 1;
	for (i = 0; d->jobs != NULL && i < d->njobs; i++) {
		if (d->jobs[i].req != NULL)
			doh_cancel(d->jobs[i].req);
		if (d->jobs[i].timer != NULL)
			event_free(d->jobs[i].timer);
		free(d->jobs[i].err);
		free(d->jobs[i].body);
		free(d->jobs[i].headers);
	}
	/* Its request is on the upstream's client. */
	dohq_val_free(d->val);
	/* Its lookups are on d->plain: the upstreams go first. */
	upstream_free(d->ups);
	discovery_free(d->disc);
	plain_free(d->plain);
	free(d->jobs);
	if (d->ctx != NULL)
		SSL_CTX_free(d->ctx);
	if (d->base != NULL)
		event_base_free(d->base);
	for (i = 0; i < d->nspecs; i++)
		free(d->specs[i].name);
	free(d->specs);
	config_free(&d->cfg);
}

int
main(int argc, char *argv[])
{
	struct dohq d;
	int ex;

	memset(&d, 0, sizeof(d));
	config_defaults(&d.cfg);
	d.fmt = DNSPRINT_TEXT;
	d.family = AF_UNSPEC;
	d.edns_size = DOHQ_EDNS_SIZE;
	d.conf = DOHQ_DEFAULT_CONF;
	/* doh and plain log; only their errors are for a command's user. */
	log_init("dohq", LOG_LEVEL_ERROR, 0);
	signal(SIGPIPE, SIG_IGN);

	if ((ex = parse_options(&d, argc, argv)) != 0)
		goto done;
	if (d.known) {
		ex = print_known(&d);
		goto done;
	}
	if (d.portal) {
		ex = ask_portal(&d);
		goto done;
	}
	if (d.verbose > 1)
		log_setlevel(LOG_LEVEL_DEBUG);
	d.start_ms = clock_ms();
	if (d.discover != NULL) {
		if ((ex = setup_run(&d)) == 0)
			ex = run_discover(&d);
		goto done;
	}
	if ((ex = setup_server(&d)) != 0 || (ex = setup_run(&d)) != 0 ||
	    (d.validate && (ex = val_setup(&d)) != 0) ||
	    (d.is_addr && (ex = discover_server(&d)) != 0))
		goto done;
	if ((ex = start_server(&d)) != 0)
		goto done;
	if (!d.done)
		event_base_dispatch(d.base);
	if (d.repeat != 0)
		print_stats(&d);
	ex = d.ex;
	/* As delv's: a bogus answer is a failure. */
	if (ex == 0 && d.val != NULL && dohq_val_result(d.val) != NULL &&
	    dohq_val_state(d.val) == VAL_BOGUS)
		ex = DOHQ_BOGUS;
 done:
	dohq_free(&d);
	return ex == -1 ? 0 : ex;
}
