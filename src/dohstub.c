/*
 * dohstub: the daemon.  Reads the configuration (file < environment <
 * flags), binds, drops privileges, and runs the event loop until SIGTERM
 * or SIGINT.
 */
#define _GNU_SOURCE		/* setresuid, setresgid */

#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dohstub/config.h"
#include "dohstub/log.h"
#include "dohstub/proxy.h"

#define DOHSTUB_VERSION		"0.1.0"
#define DOHSTUB_DEFAULT_CONF	"/etc/dohstub.conf"
#define DOHSTUB_RESOLV_CONF	"/etc/resolv.conf"

extern char **environ;

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

static void
drop_privileges(const char *user)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		fatalx("user %s: %s", user, errno ? strerror(errno) :
		    "no such user");
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", user);
	/* Refuse to go on as root if the drop did not take. */
	if (pw->pw_uid != 0 && (getuid() == 0 || geteuid() == 0 ||
	    setuid(0) != -1))
		fatalx("still root after dropping privileges to %s", user);
	log_info("running as %s (uid %u)", user, (unsigned)pw->pw_uid);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct event_base *base = arg;

	(void)ev;
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(base, NULL);
}

static void
stats_cb(evutil_socket_t sig, short ev, void *arg)
{
	(void)sig;
	(void)ev;
	proxy_log_stats(arg);
}

int
main(int argc, char *argv[])
{
	struct config cfg;
	struct event_base *base;
	struct event *ev_term, *ev_int, *ev_usr1;
	struct proxy *px;
	const char *conffile = NULL, *flag, *eq;
	char err[CONFIG_ERRLEN], key[64];
	int check = 0, verbose = 0, i, must_exist = 1;
	size_t j;

	/* Pass 1: our own options, and the file to read. */
	for (i = 1; i < argc; i++) {
		flag = argv[i];
		if (strncmp(flag, "--", 2) == 0) {
			if (strcmp(flag, "--help") == 0)
				usage();
			if (strcmp(flag, "--version") == 0) {
				printf("dohstub %s\n", DOHSTUB_VERSION);
				return 0;
			}
			if (strchr(flag, '=') == NULL && ++i >= argc)
				badflag("needs a value", flag);
			continue;
		}
		if (flag[0] != '-' || flag[1] == '\0')
			badflag("unexpected argument", flag);
		for (j = 1; flag[j] != '\0'; j++) {
			switch (flag[j]) {
			case 'c':
				if (flag[j + 1] != '\0')
					conffile = flag + j + 1;
				else if (++i < argc)
					conffile = argv[i];
				else
					badflag("needs a file", "-c");
				j = strlen(flag) - 1;
				break;
			case 'd':
				break;	/* always in the foreground */
			case 'n':
				check = 1;
				break;
			case 'v':
				verbose++;
				break;
			case 'V':
				printf("dohstub %s\n", DOHSTUB_VERSION);
				return 0;
			case 'h':
			default:
				usage();
			}
		}
	}
	if (conffile == NULL && (conffile = getenv("DOHSTUB_CONFIG")) == NULL) {
		conffile = DOHSTUB_DEFAULT_CONF;
		must_exist = 0;
	}

	log_init("dohstub", verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, 0);
	config_defaults(&cfg);
	if (config_parse_file(&cfg, conffile, must_exist, err,
	    sizeof(err)) == -1 ||
	    config_parse_env(&cfg, environ, err, sizeof(err)) == -1)
		goto bad;

	/* Pass 2: --key value and --key=value, above file and environment. */
	for (i = 1; i < argc; i++) {
		flag = argv[i];
		if (strncmp(flag, "--", 2) != 0) {
			if (flag[0] == '-' && strchr(flag, 'c') != NULL &&
			    flag[strlen(flag) - 1] == 'c')
				i++;	/* skip -c's file */
			continue;
		}
		if ((eq = strchr(flag, '=')) != NULL) {
			if ((size_t)(eq - flag) >= sizeof(key))
				badflag("unknown setting", flag);
			memcpy(key, flag, (size_t)(eq - flag));
			key[eq - flag] = '\0';
			if (config_set(&cfg, key + 2, eq + 1, key,
			    CONFIG_SRC_FLAG, err, sizeof(err)) == -1)
				goto bad;
		} else {
			if (config_set(&cfg, flag + 2, argv[i + 1], flag,
			    CONFIG_SRC_FLAG, err, sizeof(err)) == -1)
				goto bad;
			i++;
		}
	}
	if (config_finalize(&cfg, DOHSTUB_RESOLV_CONF, err, sizeof(err)) == -1)
		goto bad;
	if (check) {
		if (verbose)
			config_print(&cfg, stdout);
		fprintf(stderr, "configuration OK\n");
		config_free(&cfg);
		return 0;
	}

	log_init("dohstub", verbose ? LOG_LEVEL_DEBUG :
	    (enum log_level)cfg.log_level, cfg.syslog);
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	if ((px = proxy_new(base, &cfg)) == NULL)
		fatalx("cannot start");
	if (cfg.user != NULL)
		drop_privileges(cfg.user);
	else if (geteuid() == 0)
		log_info("running as root: set 'user' to drop privileges");

	ev_term = evsignal_new(base, SIGTERM, signal_cb, base);
	ev_int = evsignal_new(base, SIGINT, signal_cb, base);
	ev_usr1 = evsignal_new(base, SIGUSR1, stats_cb, px);
	if (ev_term == NULL || ev_int == NULL || ev_usr1 == NULL ||
	    evsignal_add(ev_term, NULL) == -1 ||
	    evsignal_add(ev_int, NULL) == -1 ||
	    evsignal_add(ev_usr1, NULL) == -1)
		fatalx("cannot set up signal handling");

	log_info("dohstub %s started, mode %s, %zu upstream(s)",
	    DOHSTUB_VERSION, config_mode_names[cfg.mode], cfg.nupstream);
	proxy_start(px);
	event_base_dispatch(base);

	proxy_stop(px);
	proxy_log_stats(px);
	proxy_free(px);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_usr1);
	event_base_free(base);
	config_free(&cfg);
	return 0;
 bad:
	fprintf(stderr, "dohstub: %s\n", err);
	config_free(&cfg);
	return 1;
}
