/*
 * dohstub-control: the control socket's client (control.h,
 * dohstub-control(8)).  Its own small program, as unbound-control or
 * rndc are: it needs none of dohq's TLS and HTTP/2 and no daemon
 * knowledge beyond the socket, and lives beside the daemon in sbin.
 *
 * It sends one request line, prints the answer, and exits 0 for an
 * answer, 1 for an error answer, 2 for a usage or connection error.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dohstub/config.h"
#include "dohstub/control.h"

#ifndef DOHSTUB_SYSCONFDIR
#define DOHSTUB_SYSCONFDIR	"/usr/local/etc"
#endif
#define CLIENT_DEFAULT_CONF	DOHSTUB_SYSCONFDIR "/dohstub.conf"
/* The daemon answers a lookup within CONTROL_TIMEOUT_S; some slack. */
#define CLIENT_TIMEOUT_MS	((CONTROL_TIMEOUT_S + 5) * 1000)

#define EXIT_ERROR_ANSWER	1
#define EXIT_USAGE		2

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: dohstub-control [-h] [-c file] [-s socket] "
	    "[--json] command [argument ...]\n"
	    "commands: status, stats, flush [name [type]], reload, "
	    "lookup name [type],\n"
	    "          captive-portal, help; see dohstub-control(8)\n");
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dohstub-control: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(EXIT_USAGE);
}

/* The configuration's control-socket, or the default. */
static char *
socket_from_config(const char *conf, int must_exist)
{
	struct config cfg;
	char err[CONFIG_ERRLEN], *path;

	config_defaults(&cfg);
	if (config_parse_file(&cfg, conf, must_exist, err, sizeof(err)) == -1)
		fail("%s", err);
	path = strdup(cfg.control_socket != NULL ? cfg.control_socket :
	    CONTROL_DEFAULT_SOCKET);
	config_free(&cfg);
	if (path == NULL)
		fail("out of memory");
	return path;
}

/* The request line: the words joined by spaces, and a newline. */
static size_t
make_request(char *buf, size_t size, int json, int argc, char *argv[])
{
	size_t len = 0, n;
	const char *p;
	int i;

	if (json) {
		memcpy(buf, "--json", 6);
		len = 6;
	}
	for (i = 0; i < argc; i++) {
		for (p = argv[i]; *p != '\0'; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				fail("%s: spaces and control characters "
				    "must be escaped (\\032)", argv[i]);
		if ((n = strlen(argv[i])) == 0)
			fail("an empty argument");
		if (len + (len > 0) + n > CONTROL_MAX_LINE)
			fail("the request is longer than %d bytes",
			    CONTROL_MAX_LINE);
		if (len > 0)
			buf[len++] = ' ';
		memcpy(buf + len, argv[i], n);
		len += n;
	}
	if (len >= size)
		fail("the request is too long");
	buf[len++] = '\n';
	return len;
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fail("%s: path too long", path);
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fail("cannot connect to %s: %s", path, strerror(errno));
	return fd;
}

/* The whole answer, until the daemon closes; NUL-terminated. */
static char *
read_answer(int fd, const char *path, size_t *lenp)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int r;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap * 2 + 8192;
			if ((nb = realloc(buf, cap)) == NULL)
				fail("out of memory");
			buf = nb;
		}
		if ((r = poll(&pfd, 1, CLIENT_TIMEOUT_MS)) == -1) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		if (r == 0)
			fail("%s: no answer within %d s", path,
			    CLIENT_TIMEOUT_MS / 1000);
		if ((n = read(fd, buf + len, cap - len - 1)) == -1) {
			if (errno == EINTR)
				continue;
			/* What came before a reset is the answer. */
			if (errno == ECONNRESET && len > 0)
				break;
			fail("%s: %s", path, strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

static const struct option long_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int
main(int argc, char *argv[])
{
	const char *conf = NULL, *sock = NULL;
	char req[CONTROL_MAX_LINE + 2], *path, *ans;
	size_t len, off = 0;
	ssize_t n;
	int ch, fd, json = 0, err;

	opterr = 0;	/* our own one-line messages */
	while ((ch = getopt_long(argc, argv, "+:c:hjs:", long_opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage();
		case ':':
			fail("%s: needs a value", argv[optind - 1]);
		case '?':
		default:
			if (optopt > 0 && optopt < 256)
				fail("-%c: unknown option", optopt);
			fail("%s: unknown option", argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	len = make_request(req, sizeof(req), json, argc, argv);
	if (sock != NULL) {
		if ((path = strdup(sock)) == NULL)
			fail("out of memory");
	} else
		path = socket_from_config(conf != NULL ? conf :
		    CLIENT_DEFAULT_CONF, conf != NULL);

	signal(SIGPIPE, SIG_IGN);
	fd = connect_to(path);
	/* A refusal may come before the request is taken: read it. */
	while (off < len) {
		if ((n = write(fd, req + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	ans = read_answer(fd, path, &len);
	close(fd);
	if (len == 0)
		fail("%s: closed without an answer", path);
	err = strncmp(ans, "error: ", 7) == 0 ||
	    strncmp(ans, "{\"error\":", 9) == 0;
	fwrite(ans, 1, len, err && !json ? stderr : stdout);
	free(ans);
	free(path);
	if (fflush(stdout) == EOF)
		return EXIT_USAGE;
	return err ? EXIT_ERROR_ANSWER : 0;
}
