/*
 * Tests for config: every key's good and bad values with the exact message
 * a user sees, the file syntax, the environment, precedence, finalize's
 * defaults and checks, and config_print round-tripping.  Addresses and
 * names are from the documentation ranges (RFC 5737, 3849, 2606).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/tls1.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"

#include "check.h"
#include "dohstub/config.h"
#include "dohstub/known.h"
#include "dohstub/log.h"

#define SHIPPED_CONF	"../conf/dohstub.conf"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

static char errbuf[CONFIG_ERRLEN];

/* A temporary file holding text; the caller unlinks and frees path. */
static char *
tmpfile_with(const char *text)
{
	char *path;
	FILE *fp;
	int fd;

	if ((path = strdup("/tmp/test_config.XXXXXX")) == NULL)
		return NULL;
	if ((fd = mkstemp(path)) == -1) {
		free(path);
		return NULL;
	}
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(path);
		free(path);
		return NULL;
	}
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void
tmpfile_done(char *path)
{
	if (path != NULL)
		unlink(path);
	free(path);
}

/* The message for a file "t.conf" holding text, or "(ok)". */
static const char *
file_err(const char *text)
{
	struct config cfg;

	config_defaults(&cfg);
	if (config_parse_buf(&cfg, "t.conf", text, strlen(text), errbuf,
	    sizeof(errbuf)) == 0)
		snprintf(errbuf, sizeof(errbuf), "(ok)");
	config_free(&cfg);
	return errbuf;
}

/* The message for --key value, or "(ok)". */
static const char *
flag_err(const char *key, const char *value)
{
	struct config cfg;

	config_defaults(&cfg);
	if (config_set_flag(&cfg, key, value, errbuf, sizeof(errbuf)) == 0)
		snprintf(errbuf, sizeof(errbuf), "(ok)");
	config_free(&cfg);
	return errbuf;
}

/* The message for one environment variable, or "(ok)". */
static const char *
env_err(const char *var)
{
	struct config cfg;
	char *envp[2];

	envp[0] = (char *)var;
	envp[1] = NULL;
	config_defaults(&cfg);
	if (config_parse_env(&cfg, envp, errbuf, sizeof(errbuf)) == 0)
		snprintf(errbuf, sizeof(errbuf), "(ok)");
	config_free(&cfg);
	return errbuf;
}

static int
parse(struct config *cfg, const char *text)
{
	return config_parse_buf(cfg, "t.conf", text, strlen(text), errbuf,
	    sizeof(errbuf));
}

/* config_print into a string the caller frees. */
static char *
print_str(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	config_print(cfg, fp);
	fclose(fp);
	return buf;
}

static const char *
astr(const struct addr *a)
{
	static char buf[4][ADDR_STRLEN];
	static int i;

	i = (i + 1) % 4;
	return addr_str(a, buf[i], sizeof(buf[i]));
}

static void
test_defaults(void)
{
	struct config cfg;

	config_defaults(&cfg);
	CHECK_EQ(cfg.nlisten, 0);
	CHECK_EQ(cfg.nupstream, 0);
	CHECK_EQ(cfg.nresolve, 0);
	CHECK_EQ(cfg.nbootstrap, 0);
	CHECK_EQ(cfg.nfallback, 0);
	CHECK_EQ(cfg.nknown, 0);
	CHECK_EQ(cfg.ddr, 1);
	CHECK_EQ(cfg.ddr_opportunistic, 0);
	CHECK_EQ(cfg.upstream_from_resolv, 0);
	CHECK_EQ(cfg.mode, MODE_ENCRYPTED_ONLY);
	CHECK_EQ(cfg.method, METHOD_POST);
	CHECK_EQ(cfg.tls_min_version, TLS1_3_VERSION);
	CHECK_EQ(cfg.timeout_ms, 2000);
	CHECK_EQ(cfg.keepalive_ms, 15000);
	CHECK_EQ(cfg.watch_network, 1);
	CHECK(cfg.resolv_conf == NULL);
	CHECK_EQ(cfg.bootstrap_min_ttl_ms, 30000);
	CHECK_EQ(cfg.tcp_idle_timeout_ms, 10000);
	CHECK_EQ(cfg.max_pending, 1024);
	CHECK_EQ(cfg.max_tcp_clients, 256);
	CHECK_EQ(cfg.max_tcp_client, CONFIG_PER_CLIENT_AUTO);
	CHECK_EQ(cfg.edns_udp_size, 1232);
	CHECK_EQ(cfg.padding_block, 128);
	CHECK_EQ(cfg.udp_rcvbuf, 1024 * 1024);
	CHECK_EQ(cfg.cache_size, 4 * 1024 * 1024);
	CHECK_EQ(cfg.cache_min_ttl_ms, 0);
	CHECK_EQ(cfg.cache_max_ttl_ms, 86400 * 1000);
	CHECK_EQ(cfg.cache_max_negative_ttl_ms, 3600 * 1000);
	CHECK_EQ(cfg.cache_servfail_ttl_ms, 5000);
	CHECK_EQ(cfg.log_level, LOG_LEVEL_INFO);
	CHECK_EQ(cfg.syslog, 0);
	CHECK_EQ(cfg.log_json, 0);
	CHECK_EQ(cfg.metrics.len, 0);
	CHECK(cfg.ca_file == NULL);
	CHECK(cfg.user == NULL);
	CHECK_STR(config_mode_names[MODE_ENCRYPTED_ONLY], "encrypted-only");
	CHECK_STR(config_mode_names[MODE_ENCRYPTED_PREFERRED],
	    "encrypted-preferred");
	CHECK_STR(config_mode_names[MODE_PLAINTEXT], "plaintext");
	CHECK_STR(config_method_names[METHOD_POST], "post");
	CHECK_STR(config_method_names[METHOD_GET], "get");
	config_free(&cfg);
}

static const char full_text[] =
    "# every setting\n"
    "listen 127.0.0.1:5353\n"
    "listen [::1]:5353\n"
    "listen 0.0.0.0:5454\n"
    "mode encrypted-preferred\n"
    "upstream https://doh.example/dns-query\n"
    "upstream https://192.0.2.10:8443/q\n"
    "upstream https://[2001:db8::10]/\n"
    "resolve doh.example:443:192.0.2.1,2001:db8::1\n"
    "bootstrap 192.0.2.53\n"
    "bootstrap [2001:db8::53]:5300\n"
    "fallback 198.51.100.53\n"
    "ca-file CAFILE\n"
    "method get\n"
    "tls-min-version 1.2\n"
    "timeout 1500ms\n"
    "keepalive 0\n"
    "tcp-idle-timeout 30s\n"
    "max-pending 5000\n"
    "max-pending-per-client 100\n"
    "ratelimit 20\n"
    "ratelimit-size 500\n"
    "ratelimit-action drop\n"
    "max-tcp-clients 100\n"
    "max-tcp-per-client 10\n"
    "edns-udp-size 1400\n"
    "user _dohstub\n"
    "log-level debug\n"
    "log-format json\n"
    "syslog yes\n"
    "metrics [::1]:9153\n";

static void
test_full_file(void)
{
	struct config cfg, cfg2;
	char *path, *text, *p1, *p2;
	const char *mark;
	size_t n;

	/* The file names itself as ca-file: a file sure to be readable. */
	path = tmpfile_with("");
	CHECK(path != NULL);
	if (path == NULL)
		return;
	mark = strstr(full_text, "CAFILE");
	n = (size_t)(mark - full_text);
	if ((text = malloc(sizeof(full_text) + strlen(path))) == NULL)
		return;
	memcpy(text, full_text, n);
	strcpy(text + n, path);
	strcat(text, mark + strlen("CAFILE"));
	{
		FILE *fp = fopen(path, "w");

		CHECK(fp != NULL);
		if (fp != NULL) {
			fputs(text, fp);
			fclose(fp);
		}
	}

	config_defaults(&cfg);
	CHECK_EQ(config_parse_file(&cfg, path, 1, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.nlisten, 3);
	CHECK_STR(astr(&cfg.listen[0]), "127.0.0.1:5353");
	CHECK_STR(astr(&cfg.listen[1]), "[::1]:5353");
	CHECK_STR(astr(&cfg.listen[2]), "0.0.0.0:5454");
	CHECK_EQ(cfg.mode, MODE_ENCRYPTED_PREFERRED);
	CHECK_EQ(cfg.nupstream, 3);
	CHECK_STR(cfg.upstream[0].host, "doh.example");
	CHECK_EQ(cfg.upstream[0].host_is_ip, 0);
	CHECK_STR(cfg.upstream[1].host, "192.0.2.10");
	CHECK_EQ(cfg.upstream[1].port, 8443);
	CHECK_STR(cfg.upstream[1].path, "/q");
	CHECK_STR(cfg.upstream[2].host, "2001:db8::10");
	CHECK_STR(cfg.upstream[2].path, "/");
	CHECK_EQ(cfg.nresolve, 1);
	CHECK_EQ(cfg.resolve[0].naddrs, 2);
	CHECK_EQ(cfg.nbootstrap, 2);
	CHECK_STR(astr(&cfg.bootstrap[0]), "192.0.2.53:53");
	CHECK_STR(astr(&cfg.bootstrap[1]), "[2001:db8::53]:5300");
	CHECK_EQ(cfg.nfallback, 1);
	CHECK_STR(astr(&cfg.fallback[0]), "198.51.100.53:53");
	CHECK_STR(cfg.ca_file, path);
	CHECK_EQ(cfg.method, METHOD_GET);
	CHECK_EQ(cfg.tls_min_version, TLS1_2_VERSION);
	CHECK_EQ(cfg.timeout_ms, 1500);
	CHECK_EQ(cfg.keepalive_ms, 0);
	CHECK_EQ(cfg.tcp_idle_timeout_ms, 30000);
	CHECK_EQ(cfg.max_pending, 5000);
	CHECK_EQ(cfg.max_pending_client, 100);
	CHECK_EQ(cfg.ratelimit, 20);
	CHECK_EQ(cfg.ratelimit_size, 500);
	CHECK_EQ(cfg.ratelimit_drop, 1);
	CHECK_EQ(cfg.max_tcp_clients, 100);
	CHECK_EQ(cfg.max_tcp_client, 10);
	CHECK_EQ(cfg.edns_udp_size, 1400);
	CHECK_STR(cfg.user, "_dohstub");
	CHECK_EQ(cfg.log_level, LOG_LEVEL_DEBUG);
	CHECK_EQ(cfg.syslog, 1);
	CHECK_EQ(cfg.log_json, 1);
	CHECK_STR(astr(&cfg.metrics), "[::1]:9153");
	CHECK_EQ(config_finalize(&cfg, "/nonexistent", errbuf,
	    sizeof(errbuf)), 0);

	/* What -nv prints reads back as the same configuration. */
	p1 = print_str(&cfg);
	config_defaults(&cfg2);
	CHECK(p1 != NULL);
	if (p1 != NULL) {
		CHECK_EQ(config_parse_buf(&cfg2, "printed", p1, strlen(p1),
		    errbuf, sizeof(errbuf)), 0);
		CHECK_EQ(config_finalize(&cfg2, "/nonexistent", errbuf,
		    sizeof(errbuf)), 0);
		p2 = print_str(&cfg2);
		CHECK_STR(p1, p2);
		free(p2);
	}
	free(p1);
	config_free(&cfg2);
	config_free(&cfg);
	/* Twice, and on a zeroed struct. */
	config_free(&cfg);
	memset(&cfg2, 0, sizeof(cfg2));
	config_free(&cfg2);

	/* A file error names the file and the line. */
	{
		char *bad = tmpfile_with("mode plaintext\n\ntimeout abc\n");
		char want[CONFIG_ERRLEN];

		config_defaults(&cfg);
		CHECK_EQ(config_parse_file(&cfg, bad, 1, errbuf,
		    sizeof(errbuf)), -1);
		snprintf(want, sizeof(want), "%s:3: timeout: \"abc\" is not a "
		    "duration (N, Nms, Ns, Nm, Nh or Nd)", bad);
		CHECK_STR(errbuf, want);
		config_free(&cfg);
		tmpfile_done(bad);
	}
	free(text);
	tmpfile_done(path);

	/* Missing: fine unless it must exist. */
	config_defaults(&cfg);
	CHECK_EQ(config_parse_file(&cfg, "/nonexistent/dohstub.conf", 0,
	    errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(config_parse_file(&cfg, "/nonexistent/dohstub.conf", 1,
	    errbuf, sizeof(errbuf)), -1);
	CHECK_STR(errbuf, "/nonexistent/dohstub.conf: No such file or "
	    "directory");
	CHECK_EQ(config_parse_file(&cfg, "/", 0, errbuf, sizeof(errbuf)), -1);
	CHECK_STR(errbuf, "/: Is a directory");
	config_free(&cfg);
}

static void
test_syntax(void)
{
	struct config cfg;
	char line[1100];

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "# comment\n\n   \t\n  mode plaintext   # why\n"
	    "\tuser \"a b # c\"  # quoted\n"), 0);
	CHECK_EQ(cfg.mode, MODE_PLAINTEXT);
	CHECK_STR(cfg.user, "a b # c");
	CHECK_EQ(parse(&cfg, "user foo#bar"), 0);	/* no newline at end */
	CHECK_STR(cfg.user, "foo#bar");
	CHECK_EQ(parse(&cfg, "user \"x\"# comment\r\nmode encrypted-only\r\n"),
	    0);
	CHECK_STR(cfg.user, "x");
	CHECK_EQ(cfg.mode, MODE_ENCRYPTED_ONLY);
	CHECK_EQ(parse(&cfg, ""), 0);
	config_free(&cfg);

	CHECK_STR(file_err("frobnicate 1\n"),
	    "t.conf:1: frobnicate: unknown setting");
	CHECK_STR(file_err("\n# x\nfrobnicate\n"),
	    "t.conf:3: frobnicate: unknown setting");
	CHECK_STR(file_err("mode\n"), "t.conf:1: mode: missing value");
	CHECK_STR(file_err("mode   # none\n"), "t.conf:1: mode: missing value");
	CHECK_STR(file_err("user \"abc\n"),
	    "t.conf:1: user: unterminated quote");
	CHECK_STR(file_err("user \"\"\n"), "t.conf:1: user: empty value");
	CHECK_STR(file_err("user a b\n"), "t.conf:1: user: unexpected text "
	    "after the value (quote a value that contains spaces)");
	CHECK_STR(file_err("user \"a\"b\n"), "t.conf:1: user: unexpected text "
	    "after the value (quote a value that contains spaces)");
	CHECK_STR(file_err("user \"a\tb\"\n"),
	    "t.conf:1: user: the value contains a control character");
	CHECK_STR(file_err("user a\"b\n"),
	    "t.conf:1: user: the value contains a double quote");
	CHECK_STR(file_err("mode plaintext\nuser x\0y\n"),
	    "(ok)");	/* strlen stops at the NUL */
	{
		static const char nul[] = "mode plaintext\nuser x\0y\n";
		struct config c;

		config_defaults(&c);
		CHECK_EQ(config_parse_buf(&c, "t.conf", nul, sizeof(nul) - 1,
		    errbuf, sizeof(errbuf)), -1);
		CHECK_STR(errbuf, "t.conf:2: line contains a NUL byte");
		config_free(&c);
	}

	/* 1024 bytes is the most a line may hold. */
	memset(line, ' ', sizeof(line));
	line[0] = '#';
	line[1024] = '\n';
	line[1025] = '\0';
	CHECK_STR(file_err(line), "(ok)");
	line[1024] = ' ';
	line[1025] = '\n';
	line[1026] = '\0';
	CHECK_STR(file_err(line), "t.conf:1: line is longer than 1024 bytes");
	/* Line numbers count blank and comment lines. */
	CHECK_STR(file_err("mode plaintext\n\n# x\n  edns-udp-size 1\n"),
	    "t.conf:4: edns-udp-size: \"1\" is out of range (512..4096)");
}

static void
test_bad_values(void)
{
	/* listen, bootstrap, fallback */
	CHECK_STR(file_err("listen 1.2.3\n"),
	    "t.conf:1: listen: \"1.2.3\" is not an IP address");
	CHECK_STR(file_err("listen localhost\n"),
	    "t.conf:1: listen: \"localhost\" is not an IP address");
	CHECK_STR(file_err("listen [::1\n"),
	    "t.conf:1: listen: \"[::1\" is not an IP address");
	CHECK_STR(file_err("listen 127.0.0.1:0\n"),
	    "t.conf:1: listen: \"127.0.0.1:0\": port must be 1..65535");
	CHECK_STR(file_err("listen [::1]:65536\n"),
	    "t.conf:1: listen: \"[::1]:65536\": port must be 1..65535");
	CHECK_STR(file_err("listen [::1]:\n"),
	    "t.conf:1: listen: \"[::1]:\": port must be 1..65535");
	CHECK_STR(file_err("listen 127.0.0.1:+53\n"),
	    "t.conf:1: listen: \"127.0.0.1:+53\": port must be 1..65535");
	CHECK_STR(file_err("bootstrap 192.0.2.1:x\n"),
	    "t.conf:1: bootstrap: \"192.0.2.1:x\": port must be 1..65535");
	CHECK_STR(file_err("fallback 0.0.0.0\n"), "t.conf:1: fallback: "
	    "\"0.0.0.0\" is a wildcard, not a server address");
	CHECK_STR(file_err("bootstrap [::]:53\n"), "t.conf:1: bootstrap: "
	    "\"[::]:53\" is a wildcard, not a server address");
	CHECK_STR(file_err("fallback [192.0.2.1]\n"),
	    "t.conf:1: fallback: \"[192.0.2.1]\" is not an IP address");
	/* enumerations */
	CHECK_STR(file_err("mode fast\n"), "t.conf:1: mode: \"fast\" is not "
	    "one of encrypted-only, encrypted-preferred, plaintext");
	CHECK_STR(file_err("method put\n"),
	    "t.conf:1: method: \"put\" is not one of post, get");
	CHECK_STR(file_err("method POST\n"),
	    "t.conf:1: method: \"POST\" is not one of post, get");
	CHECK_STR(file_err("upstream-policy random\n"),
	    "t.conf:1: upstream-policy: \"random\" is not one of ordered, "
	    "fastest, round-robin");
	CHECK_STR(file_err("hedge-delay 2m\n"),
	    "t.conf:1: hedge-delay: \"2m\" is out of range (0s..60s)");
	CHECK_STR(file_err("hedge-delay soon\n"), "t.conf:1: hedge-delay: "
	    "\"soon\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(file_err("tls-min-version 1.1\n"),
	    "t.conf:1: tls-min-version: \"1.1\" is not one of 1.2, 1.3");
	CHECK_STR(file_err("log-level trace\n"), "t.conf:1: log-level: "
	    "\"trace\" is not one of error, warn, info, debug");
	CHECK_STR(file_err("syslog true\n"),
	    "t.conf:1: syslog: \"true\" is not one of no, yes");
	/* upstream and resolve: more in test_url and test_resolve */
	CHECK_STR(file_err("upstream http://doh.example/\n"), "t.conf:1: "
	    "upstream: \"http://doh.example/\" is not an https:// URL");
	CHECK_STR(file_err("resolve doh.example:443\n"), "t.conf:1: resolve: "
	    "\"doh.example:443\" is not HOST:PORT:ADDR[,ADDR...]");
	/* durations */
	CHECK_STR(file_err("timeout abc\n"),
	    "t.conf:1: timeout: \"abc\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(file_err("timeout 99ms\n"),
	    "t.conf:1: timeout: \"99ms\" is out of range (100ms..60s)");
	CHECK_STR(file_err("timeout 61\n"),
	    "t.conf:1: timeout: \"61\" is out of range (100ms..60s)");
	CHECK_STR(file_err("resolv-conf etc/resolv.conf\n"),
	    "t.conf:1: resolv-conf: \"etc/resolv.conf\": an absolute path "
	    "is required");
	CHECK_STR(file_err("control-socket run/ctl\n"),
	    "t.conf:1: control-socket: \"run/ctl\": an absolute path "
	    "is required");
	CHECK_STR(file_err("watch-network maybe\n"),
	    "t.conf:1: watch-network: \"maybe\" is not one of no, yes");
	CHECK_STR(file_err("keepalive 3601s\n"),
	    "t.conf:1: keepalive: \"3601s\" is out of range (0s..3600s)");
	CHECK_STR(file_err("tcp-idle-timeout 0\n"), "t.conf:1: "
	    "tcp-idle-timeout: \"0\" is out of range (100ms..3600s)");
	/* numbers */
	CHECK_STR(file_err("max-pending 0\n"),
	    "t.conf:1: max-pending: \"0\" is out of range (1..1000000)");
	CHECK_STR(file_err("max-pending 1000001\n"), "t.conf:1: max-pending: "
	    "\"1000001\" is out of range (1..1000000)");
	CHECK_STR(file_err("max-pending 12x\n"),
	    "t.conf:1: max-pending: \"12x\" is not a number");
	CHECK_STR(file_err("max-pending-per-client 1000001\n"), "t.conf:1: "
	    "max-pending-per-client: \"1000001\" is out of range "
	    "(0..1000000)");
	CHECK_STR(file_err("max-pending-per-client half\n"), "t.conf:1: "
	    "max-pending-per-client: \"half\" is not a number or auto");
	CHECK_STR(file_err("max-pending-per-client auto\n"), "(ok)");
	CHECK_STR(file_err("ratelimit -1\n"),
	    "t.conf:1: ratelimit: \"-1\" is not a number");
	CHECK_STR(file_err("ratelimit-size 15\n"), "t.conf:1: "
	    "ratelimit-size: \"15\" is out of range (16..10000000)");
	CHECK_STR(flag_err("ratelimit-action", "refuse"),
	    "--ratelimit-action: \"refuse\" is not one of truncate, drop");
	CHECK_STR(env_err("DOHSTUB_RATELIMIT=1x"),
	    "DOHSTUB_RATELIMIT: \"1x\" is not a number");
	CHECK_STR(file_err("max-tcp-clients 100001\n"), "t.conf:1: "
	    "max-tcp-clients: \"100001\" is out of range (1..100000)");
	CHECK_STR(file_err("max-tcp-clients -1\n"),
	    "t.conf:1: max-tcp-clients: \"-1\" is not a number");
	CHECK_STR(file_err("max-tcp-per-client 100001\n"), "t.conf:1: "
	    "max-tcp-per-client: \"100001\" is out of range (0..100000)");
	CHECK_STR(file_err("max-tcp-per-client many\n"), "t.conf:1: "
	    "max-tcp-per-client: \"many\" is not a number or auto");
	CHECK_STR(file_err("max-tcp-per-client auto\n"), "(ok)");
	CHECK_STR(file_err("max-tcp-per-client 0\n"), "(ok)");
	CHECK_STR(file_err("allow 0.0.0.0/0\nallow ::/0\ndeny 10.1.0.0/16\n"
	    "deny 2001:db8::1\n"), "(ok)");
	{
		char many[64 * 20 + 32];
		size_t used = 0;
		int i;

		for (i = 0; i <= CONFIG_MAX_ACL; i++)
			used += (size_t)snprintf(many + used,
			    sizeof(many) - used, "deny 10.0.%d.0/24\n", i);
		CHECK_STR(file_err(many), "t.conf:65: deny: too many (at most "
		    "64)");
	}
	CHECK_STR(file_err("allow 10.0.0.0/33\n"),
	    "t.conf:1: allow: \"10.0.0.0/33\": prefix length must be 0..32");
	CHECK_STR(file_err("deny example.com\n"),
	    "t.conf:1: deny: \"example.com\" is not an IP address");
	CHECK_STR(file_err("udp-rcvbuf 4m\nudp-rcvbuf 0\nudp-rcvbuf 65536\n"
	    "udp-rcvbuf 64k\nudp-rcvbuf 64M\n"), "(ok)");
	CHECK_STR(file_err("udp-rcvbuf 65m\n"),
	    "t.conf:1: udp-rcvbuf: \"65m\" is out of range (0..64m)");
	CHECK_STR(file_err("udp-rcvbuf 1g\n"),
	    "t.conf:1: udp-rcvbuf: \"1g\" is not a size (N, Nk or Nm)");
	CHECK_STR(file_err("udp-rcvbuf m\n"),
	    "t.conf:1: udp-rcvbuf: \"m\" is not a size (N, Nk or Nm)");
	CHECK_STR(file_err("udp-rcvbuf 99999999999999999999k\n"),
	    "t.conf:1: udp-rcvbuf: \"99999999999999999999k\" is out of "
	    "range (0..64m)");
	CHECK_STR(file_err("edns-udp-size 511\n"),
	    "t.conf:1: edns-udp-size: \"511\" is out of range (512..4096)");
	CHECK_STR(file_err("edns-udp-size 4097\n"),
	    "t.conf:1: edns-udp-size: \"4097\" is out of range (512..4096)");
	CHECK_STR(file_err("edns-udp-size 0x200\n"),
	    "t.conf:1: edns-udp-size: \"0x200\" is not a number");
	CHECK_STR(file_err("edns-udp-size 99999999999999999999999\n"),
	    "t.conf:1: edns-udp-size: \"99999999999999999999999\" is out "
	    "of range (512..4096)");
	/* strings */
	CHECK_STR(file_err("ca-file \"\"\n"), "t.conf:1: ca-file: empty value");
	/* lists overflow */
	CHECK_STR(file_err("upstream https://192.0.2.1/\n"
	    "upstream https://192.0.2.2/\nupstream https://192.0.2.3/\n"
	    "upstream https://192.0.2.4/\nupstream https://192.0.2.5/\n"
	    "upstream https://192.0.2.6/\nupstream https://192.0.2.7/\n"
	    "upstream https://192.0.2.8/\nupstream https://192.0.2.9/\n"),
	    "t.conf:9: upstream: too many (at most 8)");
	CHECK_STR(file_err("fallback 192.0.2.1\nfallback 192.0.2.2\n"
	    "fallback 192.0.2.3\nfallback 192.0.2.4\nfallback 192.0.2.5\n"
	    "fallback 192.0.2.6\nfallback 192.0.2.7\nfallback 192.0.2.8\n"
	    "fallback 192.0.2.9\n"),
	    "t.conf:9: fallback: too many (at most 8)");

	/* Flags and variables name the key already. */
	CHECK_STR(flag_err("mode", "fast"), "--mode: \"fast\" is not one of "
	    "encrypted-only, encrypted-preferred, plaintext");
	CHECK_STR(flag_err("timeout", "1.5s"),
	    "--timeout: \"1.5s\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "61s"),
	    "--timeout: \"61s\" is out of range (100ms..60s)");
	CHECK_STR(flag_err("bootstrap-min-ttl", "500ms"),
	    "--bootstrap-min-ttl: \"500ms\" is out of range (1s..3600s)");
	CHECK_STR(flag_err("bootstrap-min-ttl", "2s"), "(ok)");
	CHECK_STR(flag_err("tls-min-version", "1.1"),
	    "--tls-min-version: \"1.1\" is not one of 1.2, 1.3");
	/* Past CONFIG_KEYLEN: no setting, and no room needed to say so. */
	CHECK_STR(flag_err(
	    "a-key-longer-than-any-setting-could-ever-be-named-by-dohstub-oh",
	    "1"), "--a-key-longer-than-any-setting-could-ever-be-named-by-"
	    "dohstub-oh: unknown setting");
	CHECK_STR(flag_err(
	    "a-key-longer-than-any-setting-could-ever-be-named-by-dohstub-too",
	    "1"), "--a-key-longer-than-any-setting-could-ever-be-named-by-"
	    "dohstub-too: unknown setting");
	CHECK_STR(flag_err("user", "a\nb"),
	    "--user: the value contains a control character");
	CHECK_STR(flag_err("user", ""), "--user: empty value");
	CHECK_STR(flag_err("frobnicate", "1"), "--frobnicate: unknown setting");
	CHECK_STR(flag_err("user", "a b"), "(ok)");
	CHECK_STR(env_err("DOHSTUB_LISTEN=1.2.3"),
	    "DOHSTUB_LISTEN: \"1.2.3\" is not an IP address");
	/* Without a where, the key alone. */
	{
		struct config cfg;

		config_defaults(&cfg);
		CHECK_EQ(config_set(&cfg, "syslog", "maybe", NULL,
		    CONFIG_SRC_FLAG, errbuf, sizeof(errbuf)), -1);
		CHECK_STR(errbuf, "syslog: \"maybe\" is not one of no, yes");
		config_free(&cfg);
	}
}

static unsigned
duration(const char *key, const char *v)
{
	struct config cfg;
	unsigned ms = (unsigned)-1;

	config_defaults(&cfg);
	if (config_set(&cfg, key, v, "--x", CONFIG_SRC_FLAG, errbuf,
	    sizeof(errbuf)) == 0) {
		if (strcmp(key, "timeout") == 0)
			ms = cfg.timeout_ms;
		else if (strcmp(key, "keepalive") == 0)
			ms = cfg.keepalive_ms;
		else
			ms = cfg.tcp_idle_timeout_ms;
	}
	config_free(&cfg);
	return ms;
}

static void
test_durations(void)
{
	CHECK_EQ(duration("timeout", "2"), 2000);
	CHECK_EQ(duration("timeout", "2s"), 2000);
	CHECK_EQ(duration("timeout", "250ms"), 250);
	CHECK_EQ(duration("timeout", "100ms"), 100);
	CHECK_EQ(duration("timeout", "60s"), 60000);
	CHECK_EQ(duration("timeout", "60000ms"), 60000);
	CHECK_EQ(duration("timeout", "007"), 7000);
	CHECK_EQ(duration("timeout", "60001ms"), (unsigned)-1);
	CHECK_EQ(duration("timeout", "0"), (unsigned)-1);
	CHECK_EQ(duration("keepalive", "0"), 0);
	CHECK_EQ(duration("keepalive", "0ms"), 0);
	CHECK_EQ(duration("keepalive", "3600s"), 3600000);
	CHECK_EQ(duration("tcp-idle-timeout", "10"), 10000);
	CHECK_STR(flag_err("timeout", "-1"),
	    "--timeout: \"-1\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "+1"),
	    "--timeout: \"+1\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "1w"),
	    "--timeout: \"1w\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "1m"), "(ok)");
	CHECK_STR(flag_err("timeout", "2m"),
	    "--timeout: \"2m\" is out of range (100ms..60s)");
	CHECK_STR(flag_err("cache-max-ttl", "2d"), "(ok)");
	CHECK_STR(flag_err("cache-max-ttl", "1h"), "(ok)");
	CHECK_STR(flag_err("cache-max-ttl", "8d"),
	    "--cache-max-ttl: \"8d\" is out of range (1s..604800s)");
	CHECK_STR(flag_err("cache-max-ttl", "99999999999999999d"),
	    "--cache-max-ttl: \"99999999999999999d\" is out of range "
	    "(1s..604800s)");
	CHECK_STR(flag_err("cache-servfail-ttl", "31s"),
	    "--cache-servfail-ttl: \"31s\" is out of range (0s..30s)");
	CHECK_STR(flag_err("cache-size", "0"), "(ok)");
	CHECK_STR(flag_err("cache-size", "1025m"),
	    "--cache-size: \"1025m\" is out of range (0..1024m)");
	CHECK_STR(flag_err("timeout", "1 s"),
	    "--timeout: \"1 s\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "s"),
	    "--timeout: \"s\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "ms"),
	    "--timeout: \"ms\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "5sms"),
	    "--timeout: \"5sms\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "1s "),
	    "--timeout: \"1s \" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(flag_err("timeout", "18446744073709551616s"),
	    "--timeout: \"18446744073709551616s\" is out of range "
	    "(100ms..60s)");
	CHECK_STR(flag_err("keepalive", "18446744073709551s"),
	    "--keepalive: \"18446744073709551s\" is out of range (0s..3600s)");
	CHECK_STR(flag_err("keepalive", "4294967296ms"),
	    "--keepalive: \"4294967296ms\" is out of range (0s..3600s)");
}

static void
test_numbers(void)
{
	struct config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "max-pending 1\nmax-tcp-clients 100000\n"
	    "edns-udp-size 512\n"), 0);
	CHECK_EQ(cfg.max_pending, 1);
	CHECK_EQ(cfg.max_tcp_clients, 100000);
	CHECK_EQ(cfg.edns_udp_size, 512);
	CHECK_EQ(parse(&cfg, "max-pending 1000000\nedns-udp-size 04096\n"), 0);
	CHECK_EQ(cfg.max_pending, 1000000);
	CHECK_EQ(cfg.edns_udp_size, 4096);
	config_free(&cfg);
	CHECK_STR(flag_err("max-pending", "+5"),
	    "--max-pending: \"+5\" is not a number");
	CHECK_STR(flag_err("max-pending", " 5"),
	    "--max-pending: \" 5\" is not a number");
	CHECK_STR(flag_err("max-pending", "4294967297"),
	    "--max-pending: \"4294967297\" is out of range (1..1000000)");

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "padding-block 0\n"), 0);
	CHECK_EQ(cfg.padding_block, 0);
	CHECK_EQ(parse(&cfg, "padding-block 512\n"), 0);
	CHECK_EQ(cfg.padding_block, 512);
	config_free(&cfg);
	CHECK_STR(flag_err("padding-block", "513"),
	    "--padding-block: \"513\" is out of range (0..512)");
}

static void
test_url(void)
{
	struct config_upstream u;

#define URL_OK(s) CHECK_EQ(config_parse_url((s), &u, errbuf, sizeof(errbuf)), 0)
#define URL_BAD(s, msg) do {						\
	CHECK_EQ(config_parse_url((s), &u, errbuf, sizeof(errbuf)), -1); \
	CHECK_STR(errbuf, (msg));					\
	CHECK(u.url == NULL && u.host == NULL && u.path == NULL);	\
} while (0)

	URL_OK("https://192.0.2.1/dns-query");
	CHECK_STR(u.url, "https://192.0.2.1/dns-query");
	CHECK_STR(u.host, "192.0.2.1");
	CHECK_EQ(u.port, 443);
	CHECK_STR(u.path, "/dns-query");
	CHECK_EQ(u.host_is_ip, 1);
	config_upstream_free(&u);
	CHECK(u.url == NULL);

	URL_OK("https://[2001:db8::1]:8443/q");
	CHECK_STR(u.host, "2001:db8::1");
	CHECK_EQ(u.port, 8443);
	CHECK_STR(u.path, "/q");
	CHECK_EQ(u.host_is_ip, 1);
	config_upstream_free(&u);

	URL_OK("https://[2001:db8::1]");
	CHECK_STR(u.host, "2001:db8::1");
	CHECK_EQ(u.port, 443);
	CHECK_STR(u.path, "/dns-query");
	config_upstream_free(&u);

	URL_OK("https://doh.example");
	CHECK_STR(u.host, "doh.example");
	CHECK_EQ(u.port, 443);
	CHECK_STR(u.path, "/dns-query");
	CHECK_EQ(u.host_is_ip, 0);
	config_upstream_free(&u);

	URL_OK("https://doh.example:8443");
	CHECK_EQ(u.port, 8443);
	CHECK_STR(u.path, "/dns-query");
	config_upstream_free(&u);

	URL_OK("HTTPS://Doh-1.example:65535/q?ct=1");
	CHECK_STR(u.host, "Doh-1.example");
	CHECK_EQ(u.port, 65535);
	CHECK_STR(u.path, "/q?ct=1");
	config_upstream_free(&u);

	URL_OK("https://doh.example/");
	CHECK_STR(u.path, "/");
	config_upstream_free(&u);

	URL_BAD("http://doh.example/",
	    "\"http://doh.example/\" is not an https:// URL");
	URL_BAD("ftp://doh.example/",
	    "\"ftp://doh.example/\" is not an https:// URL");
	URL_BAD("doh.example", "\"doh.example\" is not an https:// URL");
	URL_BAD("https:/doh.example", "\"https:/doh.example\" is not an "
	    "https:// URL");
	URL_BAD("https://user@doh.example/", "\"https://user@doh.example/\": "
	    "userinfo (user@) is not allowed");
	URL_BAD("https://user:pw@doh.example:443/",
	    "\"https://user:pw@doh.example:443/\": userinfo (user@) is not "
	    "allowed");
	URL_BAD("https://doh.example/dns-query#x",
	    "\"https://doh.example/dns-query#x\": a fragment (#) is not "
	    "allowed");
	URL_BAD("https:///dns-query", "\"https:///dns-query\": empty host");
	URL_BAD("https://", "\"https://\": empty host");
	URL_BAD("https://:443/", "\"https://:443/\": empty host");
	URL_BAD("https://doh.example:0/",
	    "\"https://doh.example:0/\": port must be 1..65535");
	URL_BAD("https://doh.example:65536/",
	    "\"https://doh.example:65536/\": port must be 1..65535");
	URL_BAD("https://doh.example:99999999999999999999999/",
	    "\"https://doh.example:99999999999999999999999/\": port must be "
	    "1..65535");
	URL_BAD("https://doh.example:/",
	    "\"https://doh.example:/\": port must be 1..65535");
	URL_BAD("https://doh.example:-1/",
	    "\"https://doh.example:-1/\": port must be 1..65535");
	URL_BAD("https://doh.example?x=1",
	    "\"https://doh.example?x=1\": the path must start with '/'");
	URL_BAD("https://1.2.3/", "\"1.2.3\" is not an IP address");
	URL_BAD("https://[::1/", "\"[::1\" is not an IP address");
	URL_BAD("https://[192.0.2.1]/", "\"[192.0.2.1]\" is not an IP address");
	URL_BAD("https://[::1]x/", "\"https://[::1]x/\": junk after the host");
	URL_BAD("https://doh..example/",
	    "\"doh..example\" is not a valid host name");
	URL_BAD("https://doh.example./",
	    "\"doh.example.\" is not a valid host name");
	URL_BAD("https://-doh.example/",
	    "\"-doh.example\" is not a valid host name");
	URL_BAD("https://doh-.example/",
	    "\"doh-.example\" is not a valid host name");
	URL_BAD("https://doh.example-:443/",
	    "\"doh.example-\" is not a valid host name");
	URL_BAD("https://doh.ex%41mple/",
	    "\"doh.ex%41mple\" is not a valid host name");
	URL_BAD("https://doh example/", "\"https://doh example/\" has a "
	    "character that must be percent-encoded");
	URL_BAD("https://doh.example/a\"b", "\"https://doh.example/a\"b\" has "
	    "a character that must be percent-encoded");
	{
		char big[600];

		memset(big, 'a', sizeof(big));
		memcpy(big, "https://", 8);
		strcpy(big + 8 + 64, ".example/");
		CHECK_EQ(config_parse_url(big, &u, errbuf, sizeof(errbuf)),
		    -1);
		CHECK(strstr(errbuf, "is not a valid host name") != NULL);
	}
#undef URL_OK
#undef URL_BAD
}

static void
test_resolve(void)
{
	struct config_resolve r;
	char buf[ADDR_STRLEN];

	CHECK_EQ(config_parse_resolve("doh.example:443:192.0.2.1,"
	    "2001:db8::1,[2001:db8::2]", &r, errbuf, sizeof(errbuf)), 0);
	CHECK_STR(r.host, "doh.example");
	CHECK_EQ(r.port, 443);
	CHECK_EQ(r.naddrs, 3);
	CHECK_EQ(r.addrs[0].ss.ss_family, AF_INET);
	CHECK_STR(addr_str(&r.addrs[0], buf, sizeof(buf)),
	    "192.0.2.1:443");
	CHECK_EQ(r.addrs[1].ss.ss_family, AF_INET6);
	CHECK_STR(addr_str(&r.addrs[1], buf, sizeof(buf)),
	    "[2001:db8::1]:443");
	CHECK_STR(addr_str(&r.addrs[2], buf, sizeof(buf)),
	    "[2001:db8::2]:443");
	free(r.host);

	CHECK_EQ(config_parse_resolve("DoH.Example:8443:[2001:db8::9]", &r,
	    errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(r.naddrs, 1);
	CHECK_STR(addr_str(&r.addrs[0], buf, sizeof(buf)),
	    "[2001:db8::9]:8443");
	free(r.host);

#define RES_BAD(s, msg) do {						\
	CHECK_EQ(config_parse_resolve((s), &r, errbuf, sizeof(errbuf)), -1); \
	CHECK_STR(errbuf, (msg));					\
	CHECK(r.host == NULL && r.naddrs == 0);				\
} while (0)
	RES_BAD(":443:192.0.2.1", "\":443:192.0.2.1\": empty host");
	RES_BAD("doh.example", "\"doh.example\" is not "
	    "HOST:PORT:ADDR[,ADDR...]");
	RES_BAD("doh.example:443", "\"doh.example:443\" is not "
	    "HOST:PORT:ADDR[,ADDR...]");
	RES_BAD("doh.example:0:192.0.2.1",
	    "\"doh.example:0:192.0.2.1\": port must be 1..65535");
	RES_BAD("doh.example::192.0.2.1",
	    "\"doh.example::192.0.2.1\": port must be 1..65535");
	RES_BAD("doh.example:443:", "\"doh.example:443:\": empty address");
	RES_BAD("doh.example:443:192.0.2.1,",
	    "\"doh.example:443:192.0.2.1,\": empty address");
	RES_BAD("doh.example:443:1.2.3", "\"1.2.3\" is not an IP address");
	RES_BAD("doh.example:443:192.0.2.1, 192.0.2.2",
	    "\" 192.0.2.2\" is not an IP address");
	RES_BAD("doh.example:443:[192.0.2.1]",
	    "\"[192.0.2.1]\" is not an IP address");
	RES_BAD("doh.example:443:doh.example",
	    "\"doh.example\" is not an IP address");
	RES_BAD("doh example:443:192.0.2.1",
	    "\"doh example\" is not a valid host name");
	RES_BAD("doh.example:443:192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,"
	    "192.0.2.5,192.0.2.6,192.0.2.7,192.0.2.8,192.0.2.9",
	    "\"doh.example:443:192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,"
	    "192.0.2.5,192.0.2.6,192.0.2.7,192.0.2.8,192.0.2.9\": too many "
	    "addresses (at most 8)");
#undef RES_BAD
}

static void
test_find_resolve(void)
{
	struct config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "resolve doh.example:443:192.0.2.1\n"
	    "resolve doh.example:8443:192.0.2.2\n"), 0);
	CHECK(config_find_resolve(&cfg, "doh.example", 443) ==
	    &cfg.resolve[0]);
	CHECK(config_find_resolve(&cfg, "DOH.EXAMPLE", 8443) ==
	    &cfg.resolve[1]);
	CHECK(config_find_resolve(&cfg, "doh.example", 853) == NULL);
	CHECK(config_find_resolve(&cfg, "other.example", 443) == NULL);
	config_free(&cfg);
}

static void
test_env(void)
{
	struct config cfg;
	char *envp[] = {
		"PATH=/bin",
		"DOHSTUB_CONFIG=/nonexistent/x.conf",
		"DOHSTUB_MODE=plaintext",
		"DOHSTUB_LISTEN=127.0.0.1:5353, [::1]:5353 ,0.0.0.0:5454",
		"DOHSTUB_UPSTREAM=https://a.example/dns-query,"
		    "https://192.0.2.1/q",
		"DOHSTUB_RESOLVE=a.example:443:192.0.2.1,2001:db8::1, "
		    "b.example:8443:[2001:db8::2],192.0.2.3",
		"DOHSTUB_LOCAL_ZONE_EXEMPT=home.arpa, 10.in-addr.arpa.",
		"DOHSTUB_TCP_IDLE_TIMEOUT=5s",
		"DOHSTUB_TLS_MIN_VERSION=1.2",
		"DOHSTUB_USER=a,b",
		"DOHSTUBX=1",
		NULL,
	};
	char buf[ADDR_STRLEN];

	config_defaults(&cfg);
	CHECK_EQ(config_parse_env(&cfg, envp, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.mode, MODE_PLAINTEXT);
	CHECK_EQ(cfg.nlisten, 3);
	CHECK_STR(astr(&cfg.listen[1]), "[::1]:5353");
	CHECK_EQ(cfg.nupstream, 2);
	CHECK_STR(cfg.upstream[1].path, "/q");
	CHECK_EQ(cfg.nresolve, 2);
	CHECK_STR(cfg.resolve[0].host, "a.example");
	CHECK_EQ(cfg.resolve[0].naddrs, 2);
	CHECK_STR(cfg.resolve[1].host, "b.example");
	CHECK_EQ(cfg.resolve[1].naddrs, 2);
	CHECK_STR(addr_str(&cfg.resolve[1].addrs[1], buf, sizeof(buf)),
	    "192.0.2.3:8443");
	CHECK_EQ(cfg.nlocal_exempt, 2);
	CHECK_EQ(cfg.local_exempt[1].len, 17);	/* 10.in-addr.arpa. */
	CHECK_EQ(cfg.tcp_idle_timeout_ms, 5000);
	CHECK_EQ(cfg.tls_min_version, TLS1_2_VERSION);
	CHECK_STR(cfg.user, "a,b");	/* not a list: commas are kept */
	config_free(&cfg);

	CHECK_EQ(config_parse_env(&cfg, NULL, errbuf, sizeof(errbuf)), 0);
	CHECK_STR(env_err("DOHSTUB_FROBNICATE=1"),
	    "DOHSTUB_FROBNICATE: unknown setting");
	CHECK_STR(env_err("DOHSTUB_=1"), "DOHSTUB_: unknown setting");
	CHECK_STR(env_err("DOHSTUB_MODE="), "DOHSTUB_MODE: empty value");
	CHECK_STR(env_err("DOHSTUB_MODE"), "DOHSTUB_MODE: empty value");
	CHECK_STR(env_err("DOHSTUB_LISTEN=127.0.0.1,,::1"),
	    "DOHSTUB_LISTEN: empty value in the list");
	CHECK_STR(env_err("DOHSTUB_LISTEN=127.0.0.1, "),
	    "DOHSTUB_LISTEN: empty value in the list");
	CHECK_STR(env_err("DOHSTUB_MAX_PENDING=x"),
	    "DOHSTUB_MAX_PENDING: \"x\" is not a number");
	CHECK_STR(env_err("DOHSTUB_RESOLVE=a.example:443:192.0.2.1,"
	    "b.example:443"), "DOHSTUB_RESOLVE: \"b.example:443\" is not "
	    "HOST:PORT:ADDR[,ADDR...]");
	CHECK_STR(env_err("DOHSTUB_TIMEOUT=2 s"),
	    "DOHSTUB_TIMEOUT: \"2 s\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_STR(env_err("DOHSTUB_A_VERY_LONG_NAME_THAT_IS_NOT_A_SETTING_AT_"
	    "ALL_NOT_EVEN_CLOSE_TO_ONE=1"), "DOHSTUB_A_VERY_LONG_NAME_THAT_IS_"
	    "NOT_A_SETTING_AT_ALL_NOT_EVEN_CLOSE_TO_ONE: unknown setting");
}

static void
test_precedence(void)
{
	struct config cfg;
	char *envp[] = {
		"DOHSTUB_LISTEN=127.0.0.1:3",
		"DOHSTUB_TIMEOUT=3s",
		"DOHSTUB_MAX_PENDING=3",
		NULL,
	};

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "listen 127.0.0.1:1\nlisten 127.0.0.1:2\n"
	    "timeout 1s\nmax-pending 1\nedns-udp-size 1000\n"
	    "fallback 192.0.2.1\nfallback 192.0.2.2\n"), 0);
	/* Within a source a list appends. */
	CHECK_EQ(cfg.nlisten, 2);
	CHECK_EQ(cfg.nfallback, 2);
	CHECK_EQ(cfg.timeout_ms, 1000);

	CHECK_EQ(config_parse_env(&cfg, envp, errbuf, sizeof(errbuf)), 0);
	/* A higher source replaces the list and the scalars. */
	CHECK_EQ(cfg.nlisten, 1);
	CHECK_STR(astr(&cfg.listen[0]), "127.0.0.1:3");
	CHECK_EQ(cfg.timeout_ms, 3000);
	CHECK_EQ(cfg.max_pending, 3);
	/* What it does not set stays as the file had it. */
	CHECK_EQ(cfg.edns_udp_size, 1000);
	CHECK_EQ(cfg.nfallback, 2);

	CHECK_EQ(config_set(&cfg, "listen", "127.0.0.1:4", "--listen",
	    CONFIG_SRC_FLAG, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(config_set(&cfg, "listen", "127.0.0.1:5", "--listen",
	    CONFIG_SRC_FLAG, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(config_set(&cfg, "timeout", "4s", "--timeout",
	    CONFIG_SRC_FLAG, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.nlisten, 2);
	CHECK_STR(astr(&cfg.listen[0]), "127.0.0.1:4");
	CHECK_STR(astr(&cfg.listen[1]), "127.0.0.1:5");
	CHECK_EQ(cfg.timeout_ms, 4000);
	CHECK_EQ(cfg.max_pending, 3);

	/* A lower source afterwards is checked but does not win. */
	CHECK_EQ(parse(&cfg, "listen 127.0.0.1:6\ntimeout 6s\n"), 0);
	CHECK_EQ(cfg.nlisten, 2);
	CHECK_STR(astr(&cfg.listen[0]), "127.0.0.1:4");
	CHECK_EQ(cfg.timeout_ms, 4000);
	CHECK_STR(file_err("timeout 6x\n"),
	    "t.conf:1: timeout: \"6x\" is not a duration (N, Nms, Ns, Nm, Nh or Nd)");
	CHECK_EQ(parse(&cfg, "timeout 6x\n"), -1);
	CHECK_EQ(parse(&cfg, "upstream https://192.0.2.1/\n"
	    "resolve a.example:443:192.0.2.1\n"), 0);
	CHECK_EQ(cfg.nupstream, 1);
	config_free(&cfg);

	/* Env below flag, in either order. */
	config_defaults(&cfg);
	CHECK_EQ(config_set(&cfg, "mode", "plaintext", "--mode",
	    CONFIG_SRC_FLAG, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(config_set(&cfg, "mode", "encrypted-preferred",
	    "DOHSTUB_MODE", CONFIG_SRC_ENV, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.mode, MODE_PLAINTEXT);
	config_free(&cfg);
}

/* The printed form of rule i of cfg, without the newline. */
static const char *
forward_line(const struct config *cfg, size_t i)
{
	static char line[1024];
	char *all, *p, *e;
	size_t k = 0;

	line[0] = '\0';
	if ((all = print_str(cfg)) == NULL)
		return line;
	for (p = all; (p = strstr(p, "\nforward ")) != NULL; p++)
		if (k++ == i) {
			e = strchr(p + 1, '\n');
			snprintf(line, sizeof(line), "%.*s",
			    (int)(e != NULL ? e - p - 1 : (long)strlen(p + 1)),
			    p + 1);
			break;
		}
	free(all);
	return line;
}

/* forward ZONE TARGET...: file, flag and environment; errors; -nv. */
static void
test_forward(void)
{
	struct config cfg;
	const struct config_forward *f;
	char *envp[] = {
		"DOHSTUB_FORWARD=corp.example 10.1.1.53 10.1.1.54:5353, "
		    "lab.example  https://doh.lab.example/q",
		NULL,
	};
	char big[2048];
	size_t i, used;

	/* In the file: the rest of the line, quoted or not, tabs too. */
	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "forward corp.example\t10.1.1.53  "
	    "[2001:db8::53]:5353 # the office\n"
	    "forward \"168.192.in-addr.arpa 192.168.1.1\"\n"
	    "forward Lab.Example. https://doh.lab.example/dns-query "
	    "https://192.0.2.9:8443/q\n"), 0);
	CHECK_EQ(cfg.nforward, 3);
	f = &cfg.forward[0];
	CHECK(!f->doh && f->nservers == 2 && f->nupstream == 0);
	CHECK_STR(astr(&f->servers[0]), "10.1.1.53:53");
	CHECK_STR(astr(&f->servers[1]), "[2001:db8::53]:5353");
	CHECK_EQ(f->zone.len, 14);
	f = &cfg.forward[2];
	CHECK(f->doh && f->nupstream == 2 && f->nservers == 0);
	CHECK_STR(f->upstream[1].host, "192.0.2.9");
	CHECK_EQ(f->upstream[1].port, 8443);
	CHECK_STR(f->upstream[1].path, "/q");
	/* -nv prints each rule, which reads back the same. */
	CHECK_STR(forward_line(&cfg, 0), "forward corp.example. 10.1.1.53:53 "
	    "[2001:db8::53]:5353\t# plain DNS");
	CHECK_STR(forward_line(&cfg, 1), "forward 168.192.in-addr.arpa. "
	    "192.168.1.1:53\t# plain DNS");
	CHECK_STR(forward_line(&cfg, 2), "forward Lab.Example. "
	    "https://doh.lab.example/dns-query https://192.0.2.9:8443/q");

	config_free(&cfg);

	/* The environment: rules separated by commas, targets by spaces;
	 * it replaces the file's rules. */
	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "forward old.example 192.0.2.1\n"), 0);
	CHECK_EQ(config_parse_env(&cfg, envp, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.nforward, 2);
	CHECK_EQ(cfg.forward[0].nservers, 2);
	CHECK_STR(astr(&cfg.forward[0].servers[1]), "10.1.1.54:5353");
	CHECK(cfg.forward[1].doh && cfg.forward[1].nupstream == 1);
	CHECK_STR(cfg.forward[1].upstream[0].url, "https://doh.lab.example/q");
	config_free(&cfg);
	CHECK_STR(flag_err("forward", "corp.example 10.1.1.53"), "(ok)");

	/* Errors name the source and the key. */
	CHECK_STR(file_err("forward corp.example\n"), "t.conf:1: forward: "
	    "\"corp.example\": ZONE TARGET... (a zone, then DoH URLs or DNS "
	    "server addresses, separated by spaces)");
	CHECK_STR(file_err("\nforward corp.example 10.1.1.53 "
	    "https://doh.example/\n"), "t.conf:2: forward: "
	    "\"https://doh.example/\": a rule's targets are all DoH URLs or "
	    "all plain DNS addresses");
	CHECK_STR(file_err("forward corp.example 10.1.1.53\n"
	    "forward CORP.Example. 10.1.1.54\n"), "t.conf:2: forward: zone "
	    "\"CORP.Example.\" is forwarded twice");
	CHECK_STR(file_err("forward . 10.1.1.53\n"), "t.conf:1: forward: "
	    "the root zone cannot be forwarded (upstream and fallback say "
	    "where everything else goes)");
	CHECK_STR(file_err("forward bad..name 10.1.1.53\n"), "t.conf:1: "
	    "forward: \"bad..name\" is not a domain name");
	CHECK_STR(file_err("forward corp.example 0.0.0.0\n"), "t.conf:1: "
	    "forward: \"0.0.0.0\" is a wildcard, not a server address");
	CHECK_STR(file_err("forward corp.example http://doh.example/\n"),
	    "t.conf:1: forward: \"http://doh.example/\" is not an IP address");
	CHECK_STR(flag_err("forward", "corp.example https://a/#b"),
	    "--forward: \"https://a/#b\": a fragment (#) is not allowed");
	/* In the file too: only a '#' after white space is a comment. */
	CHECK_STR(file_err("forward corp.example https://a/#b\n"), "t.conf:1: "
	    "forward: \"https://a/#b\": a fragment (#) is not allowed");
	CHECK_STR(file_err("forward corp.example 10.1.1.53\t#c\n"), "(ok)");
	CHECK_STR(env_err("DOHSTUB_FORWARD=corp.example 10.1.1.53,"
	    "10.1.1.54"), "DOHSTUB_FORWARD: \"10.1.1.54\": ZONE TARGET... "
	    "(a zone, then DoH URLs or DNS server addresses, separated by "
	    "spaces)");
	/* Bounds: targets per rule, and rules. */
	used = (size_t)snprintf(big, sizeof(big), "forward corp.example");
	for (i = 0; i <= CONFIG_MAX_FORWARD_TARGETS; i++)
		used += (size_t)snprintf(big + used, sizeof(big) - used,
		    " 10.1.1.%zu", i + 1);
	CHECK_STR(file_err(big), "t.conf:1: forward: too many targets "
	    "(at most 8)");
	config_defaults(&cfg);
	for (i = 0; i < CONFIG_MAX_FORWARD; i++) {
		snprintf(big, sizeof(big), "forward z%zu.example 10.1.1.1\n", i);
		CHECK_EQ(parse(&cfg, big), 0);
	}
	CHECK_EQ(parse(&cfg, "forward one.more 10.1.1.1\n"), -1);
	CHECK_STR(errbuf, "t.conf:1: forward: too many (at most 32)");
	config_free(&cfg);
}

static int
finalize(struct config *cfg, const char *text, const char *resolv_conf)
{
	config_defaults(cfg);
	if (parse(cfg, text) == -1)
		return -2;
	return config_finalize(cfg, resolv_conf, errbuf, sizeof(errbuf));
}

static void
test_finalize(void)
{
	static const struct {
		const char	*text;
		unsigned	 want;
	} per_client[] = {
		{ "max-pending 9\n", 4 },
		{ "max-pending 1\n", 1 },
		{ "max-pending-per-client 0\nmax-pending 9\n", 0 },
		{ "max-pending-per-client 9\nmax-pending 9\n", 9 },
	};
	struct config cfg;
	char *resolv, *dir, want[CONFIG_ERRLEN], pc[128];
	size_t i;

	/* Defaults: listen on both loopbacks, no resolv.conf needed. */
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n",
	    "/nonexistent"), 0);
	CHECK_EQ(cfg.nlisten, 2);
	CHECK_STR(astr(&cfg.listen[0]), "127.0.0.1:53");
	CHECK_STR(astr(&cfg.listen[1]), "[::1]:53");
	CHECK_EQ(cfg.nfallback, 0);
	CHECK_EQ(cfg.nbootstrap, 0);
	/* Fairness: half of max-pending per client; no rate limit. */
	CHECK_EQ(cfg.max_pending_client, 512);
	CHECK_EQ(cfg.ratelimit, 0);
	CHECK_EQ(cfg.ratelimit_size, 10000);
	CHECK_EQ(cfg.ratelimit_drop, 0);
	config_free(&cfg);
	for (i = 0; i < sizeof(per_client) / sizeof(per_client[0]); i++) {
		snprintf(pc, sizeof(pc), "upstream https://192.0.2.1/\n%s",
		    per_client[i].text);
		CHECK_EQ(finalize(&cfg, pc, NULL), 0);
		CHECK_EQ(cfg.max_pending_client, per_client[i].want);
		config_free(&cfg);
	}
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "max-pending-per-client 10\nmax-pending 9\n", NULL), -1);
	CHECK_STR(errbuf, "max-pending-per-client: 10 is more than "
	    "max-pending (9); 0 turns the cap off");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n", NULL), 0);
	config_free(&cfg);

	resolv = tmpfile_with("# generated\ndomain example\n"
	    "nameserver 127.0.0.1\nnameserver\t192.0.2.1  # c\n"
	    "nameserver ::1\nnameserver 192.0.2.1\nnameserver bogus\n"
	    "options edns0\n");
	CHECK(resolv != NULL);

	/* Our own address drops out; the others become servers. */
	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:53\nmode plaintext\n",
	    resolv), 0);
	CHECK_EQ(cfg.nfallback, 2);
	CHECK_STR(astr(&cfg.fallback[0]), "192.0.2.1:53");
	CHECK_STR(astr(&cfg.fallback[1]), "[::1]:53");
	CHECK_EQ(cfg.nbootstrap, 2);
	CHECK_STR(astr(&cfg.bootstrap[0]), "192.0.2.1:53");
	CHECK_STR(astr(&cfg.bootstrap[1]), "[::1]:53");
	CHECK_EQ(cfg.fallback_from_resolv, 1);
	/* Noted only where used: plaintext looks nothing up. */
	CHECK_EQ(cfg.bootstrap_from_resolv, 0);
	config_free(&cfg);

	/* Configured lists are not from resolv.conf; resolv-conf names the
	 * file over the caller's, watch-network turns the watch off. */
	CHECK_EQ(finalize(&cfg, "mode plaintext\nfallback 192.0.2.9\n",
	    resolv), 0);
	CHECK_EQ(cfg.fallback_from_resolv, 0);
	CHECK_EQ(cfg.bootstrap_from_resolv, 0);
	config_free(&cfg);

	/* A name to look up uses the bootstrap list; encrypted-only never
	 * the fallback, and a pinned name needs no lookup. */
	CHECK_EQ(finalize(&cfg, "upstream https://doh.example/dns-query\n",
	    resolv), 0);
	CHECK_EQ(cfg.fallback_from_resolv, 0);
	CHECK_EQ(cfg.bootstrap_from_resolv, 1);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://doh.example/dns-query\n"
	    "resolve doh.example:443:192.0.2.7\nmode encrypted-preferred\n",
	    resolv), 0);
	CHECK_EQ(cfg.fallback_from_resolv, 1);
	CHECK_EQ(cfg.bootstrap_from_resolv, 0);
	config_free(&cfg);
	{
		char text[256];

		snprintf(text, sizeof(text), "mode plaintext\nresolv-conf %s\n"
		    "watch-network no\n", resolv);
		CHECK_EQ(finalize(&cfg, text, "/nonexistent"), 0);
		CHECK_EQ(cfg.nfallback, 1);	/* both loopbacks are ours */
		CHECK_EQ(cfg.fallback_from_resolv, 1);
		CHECK_EQ(cfg.watch_network, 0);
		CHECK_STR(cfg.resolv_conf, resolv);
		config_free(&cfg);
	}
	CHECK_EQ(finalize(&cfg, "mode plaintext\nresolv-conf "
	    "/nonexistent/resolv.conf\n", resolv), -1);
	CHECK_STR(errbuf, "fallback: none set and none found in "
	    "/nonexistent/resolv.conf");
	config_free(&cfg);

	/* With the default listen addresses both loopbacks drop out. */
	CHECK_EQ(finalize(&cfg, "mode plaintext\n", resolv), 0);
	CHECK_EQ(cfg.nfallback, 1);
	CHECK_STR(astr(&cfg.fallback[0]), "192.0.2.1:53");
	config_free(&cfg);

	/* A wildcard listener takes its family's loopback ... */
	CHECK_EQ(finalize(&cfg, "listen 0.0.0.0\nmode plaintext\n", resolv),
	    0);
	CHECK_EQ(cfg.nfallback, 2);
	CHECK_STR(astr(&cfg.fallback[1]), "[::1]:53");
	config_free(&cfg);
	/* ... and an IPv6 one, maybe dual-stack, both. */
	CHECK_EQ(finalize(&cfg, "listen [::]:53\nmode plaintext\n", resolv),
	    0);
	CHECK_EQ(cfg.nfallback, 1);
	config_free(&cfg);
	/* Another port is not a loop. */
	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:5353\nmode plaintext\n",
	    resolv), 0);
	CHECK_EQ(cfg.nfallback, 3);
	config_free(&cfg);
	/* Set explicitly: resolv.conf is not read for that list. */
	CHECK_EQ(finalize(&cfg, "mode plaintext\nfallback 198.51.100.1\n",
	    resolv), 0);
	CHECK_EQ(cfg.nfallback, 1);
	CHECK_STR(astr(&cfg.fallback[0]), "198.51.100.1:53");
	CHECK_EQ(cfg.nbootstrap, 1);
	CHECK_STR(astr(&cfg.bootstrap[0]), "192.0.2.1:53");
	config_free(&cfg);

	/* The bootstrap from resolv.conf lets a name go unpinned. */
	CHECK_EQ(finalize(&cfg, "upstream https://doh.example/\n", resolv), 0);
	config_free(&cfg);

	/* Loops. */
	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:53\nmode plaintext\n"
	    "fallback 127.0.0.1\n", resolv), -1);
	CHECK_STR(errbuf,
	    "fallback: 127.0.0.1:53 is one of our listen addresses (a loop)");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "listen [::1]:5300\n"
	    "upstream https://doh.example/\nbootstrap [::1]:5300\n", resolv),
	    -1);
	CHECK_STR(errbuf,
	    "bootstrap: [::1]:5300 is one of our listen addresses (a loop)");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "listen 0.0.0.0:53\nmode plaintext\n"
	    "fallback 127.0.0.53\n", resolv), -1);
	CHECK_STR(errbuf,
	    "fallback: 127.0.0.53:53 is one of our listen addresses (a loop)");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:53\nmode plaintext\n"
	    "fallback 127.0.0.53\n", resolv), 0);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:53\nmode plaintext\n"
	    "fallback 127.0.0.1:5353\n", resolv), 0);
	config_free(&cfg);

	/* What each mode needs.  No upstream in an encrypted mode: the
	 * nameservers of resolv.conf, as address servers (zero
	 * configuration); none there is an error. */
	CHECK_EQ(finalize(&cfg, "", resolv), 0);
	CHECK_EQ(cfg.nupstream, 1);
	CHECK_EQ(cfg.upstream[0].is_addr, 1);
	CHECK_STR(cfg.upstream[0].url, "192.0.2.1");
	CHECK_STR(astr(&cfg.upstream[0].addr), "192.0.2.1:53");
	CHECK_EQ(cfg.upstream_from_resolv, 1);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "", "/nonexistent"), -1);
	CHECK_STR(errbuf, "upstream: none set and none found in /nonexistent");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode encrypted-preferred\n", "/nonexistent"),
	    -1);
	CHECK_STR(errbuf, "upstream: none set and none found in /nonexistent");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode encrypted-preferred\n", resolv), 0);
	CHECK_EQ(cfg.nupstream, 1);
	CHECK_EQ(cfg.upstream_from_resolv, 1);
	CHECK_EQ(cfg.fallback_from_resolv, 1);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode plaintext\n", "/nonexistent"), -1);
	CHECK_STR(errbuf, "fallback: none set and none found in /nonexistent");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode encrypted-preferred\n"
	    "upstream https://192.0.2.1/\n", "/nonexistent"), -1);
	CHECK_STR(errbuf, "fallback: none set and none found in /nonexistent");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "upstream https://[2001:db8::1]/\n", "/nonexistent"), 0);
	config_free(&cfg);

	/* A name needs a pin or a bootstrap server. */
	CHECK_EQ(finalize(&cfg, "upstream https://doh.example/dns-query\n",
	    "/nonexistent"), -1);
	CHECK_STR(errbuf, "upstream: https://doh.example/dns-query: no "
	    "resolve pin for doh.example:443 and no bootstrap server");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://doh.example:8443/\n"
	    "resolve doh.example:443:192.0.2.1\n", "/nonexistent"), -1);
	CHECK_STR(errbuf, "upstream: https://doh.example:8443/: no "
	    "resolve pin for doh.example:8443 and no bootstrap server");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://DoH.example/dns-query\n"
	    "resolve doh.EXAMPLE:443:192.0.2.1\n", "/nonexistent"), 0);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://doh.example/dns-query\n"
	    "bootstrap 192.0.2.53\n", "/nonexistent"), 0);
	config_free(&cfg);
	/* plaintext never contacts an upstream */
	CHECK_EQ(finalize(&cfg, "mode plaintext\nfallback 192.0.2.53\n"
	    "upstream https://doh.example/dns-query\n", "/nonexistent"), 0);
	config_free(&cfg);

	/* GET adds ?dns=, so a path with a query needs POST. */
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/q?x=1\n"
	    "method get\n", "/nonexistent"), -1);
	CHECK_STR(errbuf, "upstream: https://192.0.2.1/q?x=1: method get adds "
	    "its own query; this path needs method post");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/q?x=1\n",
	    "/nonexistent"), 0);
	config_free(&cfg);
	/* The same for a known-server's URL: it is an upstream too. */
	CHECK_EQ(finalize(&cfg, "upstream 192.0.2.53\nmethod get\n"
	    "known-server 192.0.2.53 https://doh.example/q?x=1\n",
	    "/nonexistent"), -1);
	CHECK_STR(errbuf, "known-server 192.0.2.53: https://doh.example/q?x=1: "
	    "method get adds its own query; this path needs method post");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream 192.0.2.53\n"
	    "known-server 192.0.2.53 https://doh.example/q?x=1\n",
	    "/nonexistent"), 0);
	config_free(&cfg);

	/* Duplicates. */
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "listen 127.0.0.1:53\nlisten 127.0.0.1\n", "/nonexistent"), -1);
	CHECK_STR(errbuf, "listen: 127.0.0.1:53 is listed twice");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "resolve a.example:443:192.0.2.1\n"
	    "resolve A.example:443:192.0.2.2\n", "/nonexistent"), -1);
	CHECK_STR(errbuf, "resolve: A.example:443 is pinned twice");
	config_free(&cfg);

	/* ca-file must be readable now. */
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "ca-file /nonexistent/ca.pem\n", "/nonexistent"), -1);
	CHECK_STR(errbuf,
	    "ca-file: /nonexistent/ca.pem: No such file or directory");
	config_free(&cfg);
	dir = strdup("/tmp/test_config.d.XXXXXX");
	CHECK(dir != NULL && mkdtemp(dir) != NULL);
	{
		char text[256];

		snprintf(text, sizeof(text), "upstream https://192.0.2.1/\n"
		    "ca-file \"%s\"\n", dir);
		CHECK_EQ(finalize(&cfg, text, "/nonexistent"), -1);
		snprintf(want, sizeof(want), "ca-file: %s: Is a directory",
		    dir);
		CHECK_STR(errbuf, want);
		config_free(&cfg);
		snprintf(text, sizeof(text), "upstream https://192.0.2.1/\n"
		    "ca-file %s\n", resolv);
		CHECK_EQ(finalize(&cfg, text, "/nonexistent"), 0);
		config_free(&cfg);
	}
	rmdir(dir);
	free(dir);
	tmpfile_done(resolv);
}

/* known_print's built-in table, as -nv prints it: the caller frees. */
static char *
known_block(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	known_print(NULL, fp);
	fclose(fp);
	return buf;
}

/*
 * Check that p prints the built-in table once, right after after, and
 * take it out of p, so that the rest can be compared whole.
 */
static void
cut_known_block(char *p, const char *after)
{
	char *block = known_block(), *at;
	size_t n;

	CHECK(p != NULL && block != NULL && (at = strstr(p, after)) != NULL);
	if (p == NULL || block == NULL || (at = strstr(p, after)) == NULL) {
		free(block);
		return;
	}
	at += strlen(after);
	n = strlen(block);
	CHECK(strncmp(at, block, n) == 0);
	if (strncmp(at, block, n) == 0)
		memmove(at, at + n, strlen(at + n) + 1);
	CHECK(strstr(p, "# known-server 9.9.9.9 ") == NULL);
	free(block);
}

static void
test_print(void)
{
	static const char head[] = "listen 127.0.0.1:53\nlisten [::1]:53\n"
	    "mode plaintext\n# upstream: none\n";
	struct config cfg, cfg2;
	char *p1, *p2;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "upstream https://[2001:db8::1]:8443/q\n"
	    "upstream https://doh.example\n"
	    "resolve doh.example:443:192.0.2.1,[2001:db8::2]\n"
	    "fallback 192.0.2.53:5353\nuser \"we ird#\"\n"
	    "ca-file \"/nonexistent/my ca.pem\"\ntimeout 15\n"
	    "keepalive 250ms\n"), 0);
	p1 = print_str(&cfg);
	cut_known_block(p1, "\n# known-server: none\n");
	CHECK_STR(p1,
	    "# listen: none\n"
	    "mode encrypted-only\n"
	    "upstream https://[2001:db8::1]:8443/q\n"
	    "upstream https://doh.example\n"
	    "# known-server: none\n"
	    "ddr yes\n"
	    "ddr-opportunistic no\n"
	    "resolve doh.example:443:192.0.2.1,[2001:db8::2]\n"
	    "# bootstrap: none\n"
	    "bootstrap-min-ttl 30s\n"
	    "fallback 192.0.2.53:5353\n"
	    "# allowed where no allow or deny holds: 127.0.0.0/8 10.0.0.0/8 "
	    "100.64.0.0/10 169.254.0.0/16 172.16.0.0/12 192.168.0.0/16 ::1/128 "
	    "fc00::/7 fe80::/10\n"
	    "# local-zone-exempt: none\n"
	    "# forward: none\n"
	    "ca-file \"/nonexistent/my ca.pem\"\n"
	    "method post\n"
	    "upstream-policy fastest\n"
	    "hedge-delay auto\n"
	    "tls-min-version 1.3\n"
	    "tls-early-data yes\n"
	    "timeout 15s\n"
	    "keepalive 250ms\n"
	    "tcp-idle-timeout 10s\n"
	    "max-pending 1024\n"
	    "max-pending-per-client auto\n"
	    "ratelimit 0\n"
	    "ratelimit-size 10000\n"
	    "ratelimit-action truncate\n"
	    "max-tcp-clients 256\n"
	    "max-tcp-per-client auto\n"
	    "edns-udp-size 1232\n"
	    "padding-block 128\n"
	    "udp-rcvbuf 1m\n"
	    "cache-size 4m\n"
	    "cache-min-ttl 0s\n"
	    "cache-max-ttl 86400s\n"
	    "cache-max-negative-ttl 3600s\n"
	    "cache-servfail-ttl 5s\n"
	    "serve-stale 3600s\n"
	    "serve-stale-timeout 1800ms\n"
	    "prefetch yes\n"
	    "dnssec validate\n"
	    "# trust-anchor: none: /usr/share/dns/root.ds, or the root's keys "
	    "built in\n"
	    "# dnssec-insecure: none\n"
	    "# insecure besides: 10.in-addr.arpa 16-31.172.in-addr.arpa "
	    "168.192.in-addr.arpa 64-127.100.in-addr.arpa d.f.ip6.arpa "
	    "home.arpa local internal lan intranet corp private, the local "
	    "zones and every forward rule's zone\n"
	    "user \"we ird#\"\n"
	    "log-level info\n"
	    "log-format text\n"
	    "syslog no\n"
	    "# metrics: none\n"
	    "watch-network yes\n"
	    "# resolv-conf: /etc/resolv.conf\n"
	    "captive-portal ask\n"
	    "captive-portal-lease 300s\n"
	    "# pidfile: none\n"
	    "# query-log: off\n"
	    "query-log-format text\n"
	    "query-log-client no\n"
	    "# control-socket: none\n");
	config_free(&cfg);
	free(p1);

	/* Zones whose text would read as a comment, or as a quote. */
	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "forward \\035x.example 192.0.2.53\n"
	    "local-zone-exempt \\035y.example\n"
	    "dnssec-insecure \\034z.example\n"), 0);
	p1 = print_str(&cfg);
	CHECK(strstr(p1, "forward \\035x.example. 192.0.2.53:53") != NULL);
	CHECK(strstr(p1, "local-zone-exempt \\035y.example.\n") != NULL);
	CHECK(strstr(p1, "dnssec-insecure \\034z.example.\n") != NULL);
	config_defaults(&cfg2);
	CHECK_EQ(config_parse_buf(&cfg2, "p", p1, strlen(p1), errbuf,
	    sizeof(errbuf)), 0);
	p2 = print_str(&cfg2);
	CHECK_STR(p1, p2);
	free(p1);
	free(p2);
	config_free(&cfg2);
	config_free(&cfg);

	/* Round trip, also of a finalized configuration. */
	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "upstream https://[2001:db8::1]:8443/q\n"
	    "upstream https://doh.example\n"
	    "resolve doh.example:443:192.0.2.1,[2001:db8::2]\n"
	    "fallback 192.0.2.53:5353\nuser \"we ird#\"\n"
	    "ca-file \"/nonexistent/my ca.pem\"\ntimeout 1500ms\n"
	    "keepalive 250ms\nmethod get\nmode encrypted-preferred\n"
	    "upstream-policy round-robin\nhedge-delay 0\n"
	    "log-level warn\nsyslog yes\n"), 0);
	CHECK_EQ(cfg.upstream_policy, POLICY_ROUND_ROBIN);
	CHECK_EQ(cfg.hedge_delay_ms, 0);
	p1 = print_str(&cfg);
	config_defaults(&cfg2);
	CHECK_EQ(config_parse_buf(&cfg2, "p", p1, strlen(p1), errbuf,
	    sizeof(errbuf)), 0);
	p2 = print_str(&cfg2);
	CHECK_STR(p1, p2);
	CHECK(strstr(p1, "timeout 1500ms\n") != NULL);
	CHECK(strstr(p1, "upstream-policy round-robin\nhedge-delay 0s\n") !=
	    NULL);
	free(p1);
	free(p2);
	config_free(&cfg2);
	config_free(&cfg);

	CHECK_EQ(finalize(&cfg, "mode plaintext\nfallback 192.0.2.53\n",
	    "/nonexistent"), 0);
	p1 = print_str(&cfg);
	CHECK(strncmp(p1, head, strlen(head)) == 0);
	config_defaults(&cfg2);
	CHECK_EQ(config_parse_buf(&cfg2, "p", p1, strlen(p1), errbuf,
	    sizeof(errbuf)), 0);
	CHECK_EQ(config_finalize(&cfg2, "/nonexistent", errbuf,
	    sizeof(errbuf)), 0);
	p2 = print_str(&cfg2);
	CHECK_STR(p1, p2);
	free(p1);
	free(p2);
	config_free(&cfg2);
	config_free(&cfg);
}

/* Parse text, finalize, print; the print must parse back to itself. */
static char *
round_trip(const char *text, const char *resolv_conf)
{
	struct config cfg, again;
	char *p1, *p2 = NULL;

	if (finalize(&cfg, text, resolv_conf) == -1) {
		fprintf(stderr, "round_trip: %s\n", errbuf);
		config_free(&cfg);
		return NULL;
	}
	p1 = print_str(&cfg);
	config_free(&cfg);
	if (p1 == NULL)
		return NULL;
	CHECK_EQ(finalize(&again, p1, resolv_conf), 0);
	p2 = print_str(&again);
	CHECK(p2 != NULL && strcmp(p1, p2) == 0);
	free(p2);
	config_free(&again);
	return p1;
}

/* upstream as an address: "9.9.9.9", "[2620:fe::fe]", "192.0.2.53:53". */
static void
test_addr_upstream(void)
{
	struct config cfg;
	char *p, *envp[2];

	CHECK_EQ(finalize(&cfg, "upstream 9.9.9.9\n"
	    "upstream [2620:fe::fe]\n"
	    "upstream 192.0.2.53:5353\n"
	    "upstream 2001:db8::53\n"
	    "upstream https://doh.example/dns-query\n"
	    "resolve doh.example:443:192.0.2.1\n", "/nonexistent"), 0);
	CHECK_EQ(cfg.nupstream, 5);
	CHECK_EQ(cfg.upstream[0].is_addr, 1);
	CHECK_STR(cfg.upstream[0].url, "9.9.9.9");
	CHECK_STR(astr(&cfg.upstream[0].addr), "9.9.9.9:53");
	CHECK(cfg.upstream[0].host == NULL && cfg.upstream[0].path == NULL);
	CHECK_EQ(cfg.upstream[0].npins, 0);
	CHECK_STR(cfg.upstream[0].verify_ip, "");
	CHECK_EQ(cfg.upstream[0].no_verify, 0);
	CHECK_STR(cfg.upstream[1].url, "[2620:fe::fe]");
	CHECK_STR(astr(&cfg.upstream[1].addr), "[2620:fe::fe]:53");
	CHECK_STR(astr(&cfg.upstream[2].addr), "192.0.2.53:5353");
	/* A bare IPv6 address is all address: port 53. */
	CHECK_EQ(cfg.upstream[3].is_addr, 1);
	CHECK_STR(astr(&cfg.upstream[3].addr), "[2001:db8::53]:53");
	/* URLs and addresses mix, in the order written. */
	CHECK_EQ(cfg.upstream[4].is_addr, 0);
	CHECK_STR(cfg.upstream[4].host, "doh.example");
	CHECK_EQ(cfg.upstream_from_resolv, 0);
	/* Address servers need no bootstrap; encrypted-only no fallback. */
	CHECK_EQ(cfg.nbootstrap, 0);
	CHECK_EQ(cfg.bootstrap_from_resolv, 0);
	config_free(&cfg);

	/* Printed as written, and read back the same. */
	p = round_trip("upstream 9.9.9.9\nupstream [2620:fe::fe]\n"
	    "upstream 192.0.2.53:53\nupstream 2001:db8::53\n"
	    "upstream https://192.0.2.1/\n", "/nonexistent");
	CHECK(p != NULL && strstr(p, "\nupstream 9.9.9.9\n"
	    "upstream [2620:fe::fe]\nupstream 192.0.2.53:53\n"
	    "upstream 2001:db8::53\nupstream https://192.0.2.1/\n") != NULL);
	free(p);

	/* Errors name the file, the line and the key. */
	CHECK_STR(file_err("\nupstream doh.example\n"), "t.conf:2: upstream: "
	    "\"doh.example\" is neither an https:// URL nor an IP address");
	CHECK_STR(file_err("upstream 9.9.9.9:0\n"), "t.conf:1: upstream: "
	    "\"9.9.9.9:0\": port must be 1..65535");
	CHECK_STR(file_err("upstream 9.9.9.999\n"), "t.conf:1: upstream: "
	    "\"9.9.9.999\" is not an IP address");
	CHECK_STR(file_err("upstream [2620:fe::fe\n"), "t.conf:1: upstream: "
	    "\"[2620:fe::fe\" is not an IP address");
	CHECK_STR(file_err("upstream 0.0.0.0\n"), "t.conf:1: upstream: "
	    "\"0.0.0.0\" is a wildcard, not a server address");
	CHECK_STR(file_err("upstream [::]:53\n"), "t.conf:1: upstream: "
	    "\"[::]:53\" is a wildcard, not a server address");
	CHECK_STR(file_err("upstream ftp://192.0.2.1/\n"), "t.conf:1: "
	    "upstream: \"ftp://192.0.2.1/\" is not an https:// URL");
	CHECK_STR(flag_err("upstream", "dns.google"), "--upstream: "
	    "\"dns.google\" is neither an https:// URL nor an IP address");
	CHECK_STR(flag_err("upstream", "[2620:fe::fe]:853"), "(ok)");
	CHECK_STR(env_err("DOHSTUB_UPSTREAM=9.9.9.9, 2620:fe::fe,"
	    "https://192.0.2.1/"), "(ok)");
	CHECK_STR(env_err("DOHSTUB_UPSTREAM=9.9.9.9,9.9.9.300"),
	    "DOHSTUB_UPSTREAM: \"9.9.9.300\" is not an IP address");
	envp[0] = "DOHSTUB_UPSTREAM=9.9.9.9, [2620:fe::9]:53";
	envp[1] = NULL;
	config_defaults(&cfg);
	CHECK_EQ(config_parse_env(&cfg, envp, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.nupstream, 2);
	CHECK_STR(cfg.upstream[1].url, "[2620:fe::9]:53");
	config_free(&cfg);

	/* Ourselves is a loop, as for fallback. */
	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:53\nupstream 127.0.0.1\n",
	    "/nonexistent"), -1);
	CHECK_STR(errbuf,
	    "upstream: 127.0.0.1:53 is one of our listen addresses (a loop)");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "listen [::]:5300\nmode plaintext\n"
	    "upstream [::1]:5300\n", "/nonexistent"), -1);
	CHECK_STR(errbuf,
	    "upstream: [::1]:5300 is one of our listen addresses (a loop)");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:53\n"
	    "upstream 127.0.0.1:5353\n", "/nonexistent"), 0);
	config_free(&cfg);

	/* An address server is its own plain server: no fallback needed. */
	CHECK_EQ(finalize(&cfg, "mode plaintext\nupstream 192.0.2.53\n",
	    "/nonexistent"), 0);
	CHECK_EQ(cfg.nfallback, 0);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode encrypted-preferred\n"
	    "upstream 192.0.2.53\n", "/nonexistent"), 0);
	config_free(&cfg);
	/* A URL upstream still needs one in encrypted-preferred... */
	CHECK_EQ(finalize(&cfg, "mode encrypted-preferred\n"
	    "upstream https://192.0.2.1/\n", "/nonexistent"), -1);
	CHECK_STR(errbuf, "fallback: none set and none found in /nonexistent");
	config_free(&cfg);
	/* ... and method get's check of a path skips address servers. */
	CHECK_EQ(finalize(&cfg, "method get\nupstream 192.0.2.53\n",
	    "/nonexistent"), 0);
	config_free(&cfg);
	/* A name beside an address server still needs its bootstrap. */
	CHECK_EQ(finalize(&cfg, "upstream 192.0.2.53\n"
	    "upstream https://doh.example/\n", "/nonexistent"), -1);
	CHECK_STR(errbuf, "upstream: https://doh.example/: no resolve pin "
	    "for doh.example:443 and no bootstrap server");
	config_free(&cfg);
	/* Too many, whatever their kind. */
	CHECK_STR(file_err("upstream 192.0.2.1\nupstream 192.0.2.2\n"
	    "upstream 192.0.2.3\nupstream 192.0.2.4\nupstream 192.0.2.5\n"
	    "upstream 192.0.2.6\nupstream 192.0.2.7\n"
	    "upstream https://192.0.2.8/\nupstream 192.0.2.9\n"),
	    "t.conf:9: upstream: too many (at most 8)");
}

/* Zero configuration: no upstream, an encrypted mode, resolv.conf's. */
static void
test_zero_config(void)
{
	struct config cfg;
	char *resolv, *only_us, *p, text[256];

	resolv = tmpfile_with("nameserver 127.0.0.1\nnameserver 192.0.2.53\n"
	    "nameserver 2001:db8::53\nnameserver 192.0.2.53\n");
	only_us = tmpfile_with("nameserver 127.0.0.1\nnameserver ::1\n");
	CHECK(resolv != NULL && only_us != NULL);

	CHECK_EQ(finalize(&cfg, "", resolv), 0);
	CHECK_EQ(cfg.upstream_from_resolv, 1);
	CHECK_EQ(cfg.nupstream, 2);
	CHECK_EQ(cfg.upstream[0].is_addr, 1);
	CHECK_STR(cfg.upstream[0].url, "192.0.2.53");
	CHECK_STR(astr(&cfg.upstream[0].addr), "192.0.2.53:53");
	CHECK_STR(cfg.upstream[1].url, "2001:db8::53");
	CHECK_STR(astr(&cfg.upstream[1].addr), "[2001:db8::53]:53");
	/* Nothing to look up; encrypted-only has no fallback in use. */
	CHECK_EQ(cfg.bootstrap_from_resolv, 0);
	CHECK_EQ(cfg.fallback_from_resolv, 0);
	config_free(&cfg);
	/* resolv-conf names the file over the caller's. */
	snprintf(text, sizeof(text), "mode encrypted-preferred\n"
	    "resolv-conf %s\n", resolv);
	CHECK_EQ(finalize(&cfg, text, "/nonexistent"), 0);
	CHECK_EQ(cfg.upstream_from_resolv, 1);
	CHECK_EQ(cfg.nupstream, 2);
	CHECK_EQ(cfg.fallback_from_resolv, 1);
	config_free(&cfg);
	/* -nv prints them as upstream lines, which read back. */
	p = round_trip("", resolv);
	CHECK(p != NULL && strstr(p, "\nupstream 192.0.2.53\n"
	    "upstream 2001:db8::53\n") != NULL);
	free(p);

	/* Only ourselves there, or no file: an error naming it. */
	CHECK_EQ(finalize(&cfg, "", only_us), -1);
	snprintf(text, sizeof(text), "upstream: none set and none found in %s",
	    only_us);
	CHECK_STR(errbuf, text);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode encrypted-preferred\n", only_us), -1);
	CHECK_STR(errbuf, text);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "", NULL), -1);
	CHECK_STR(errbuf, "upstream: none set and none found in resolv.conf");
	config_free(&cfg);
	/* Another listen port: 127.0.0.1:53 is not us then. */
	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:5300\n", only_us), 0);
	CHECK_EQ(cfg.nupstream, 2);
	CHECK_STR(cfg.upstream[0].url, "127.0.0.1");
	config_free(&cfg);

	/* Configured upstreams, or plaintext: resolv.conf gives none. */
	CHECK_EQ(finalize(&cfg, "upstream 9.9.9.9\n", resolv), 0);
	CHECK_EQ(cfg.upstream_from_resolv, 0);
	CHECK_EQ(cfg.nupstream, 1);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode plaintext\n", resolv), 0);
	CHECK_EQ(cfg.upstream_from_resolv, 0);
	CHECK_EQ(cfg.nupstream, 0);
	CHECK_EQ(cfg.nfallback, 2);
	config_free(&cfg);
	tmpfile_done(resolv);
	tmpfile_done(only_us);
}

/* known-server ADDR URL, ddr, ddr-opportunistic. */
static void
test_known_server(void)
{
	struct config cfg;
	char *p, *envp[2];

	CHECK_EQ(finalize(&cfg, "known-server 192.0.2.53 "
	    "https://doh.lab.example:8443/dns-query\n"
	    "known-server\t[2001:db8::53]:53   https://doh.lab.example/q  # c\n"
	    "known-server \"9.9.9.9 https://dns11.quad9.net/dns-query\"\n"
	    "ddr no\nddr-opportunistic yes\nupstream 192.0.2.53\n",
	    "/nonexistent"), 0);
	CHECK_EQ(cfg.nknown, 3);
	CHECK_STR(astr(&cfg.known[0].addr), "192.0.2.53:53");
	CHECK_STR(cfg.known[0].url, "https://doh.lab.example:8443/dns-query");
	CHECK_STR(astr(&cfg.known[1].addr), "[2001:db8::53]:53");
	CHECK_STR(cfg.known[1].url, "https://doh.lab.example/q");
	CHECK_STR(cfg.known[2].url, "https://dns11.quad9.net/dns-query");
	CHECK_EQ(cfg.ddr, 0);
	CHECK_EQ(cfg.ddr_opportunistic, 1);
	config_free(&cfg);

	p = round_trip("known-server 192.0.2.53 https://doh.lab.example/\n"
	    "known-server 2620:fe::fe https://dns11.quad9.net/dns-query\n"
	    "ddr no\nddr-opportunistic yes\nupstream 192.0.2.53\n",
	    "/nonexistent");
	CHECK(p != NULL && strstr(p, "\nknown-server 192.0.2.53 "
	    "https://doh.lab.example/\nknown-server 2620:fe::fe "
	    "https://dns11.quad9.net/dns-query\n") != NULL);
	CHECK(p != NULL && strstr(p, "\n# known-server 2620:fe::fe "
	    "https://dns.quad9.net/dns-query\t(Quad9, overridden)\n") != NULL);
	CHECK(p != NULL && strstr(p, "\nddr no\nddr-opportunistic yes\n") !=
	    NULL);
	free(p);

	/* From the environment, comma-separated; as a flag. */
	envp[0] = "DOHSTUB_KNOWN_SERVER=192.0.2.1 https://a.example/, "
	    "192.0.2.2 https://b.example/";
	envp[1] = NULL;
	config_defaults(&cfg);
	CHECK_EQ(config_parse_env(&cfg, envp, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.nknown, 2);
	CHECK_STR(cfg.known[1].url, "https://b.example/");
	config_free(&cfg);
	CHECK_STR(flag_err("known-server", "192.0.2.1 https://a.example/"),
	    "(ok)");
	CHECK_STR(env_err("DOHSTUB_DDR=no"), "(ok)");

	/* Errors. */
	CHECK_STR(file_err("known-server 192.0.2.1\n"), "t.conf:1: "
	    "known-server: \"192.0.2.1\": ADDR URL (an address, then the DoH "
	    "URL of the server there)");
	CHECK_STR(file_err("known-server 192.0.2.1 https://a.example/ x\n"),
	    "t.conf:1: known-server: \"192.0.2.1 https://a.example/ x\": "
	    "ADDR URL (an address, then the DoH URL of the server there)");
	CHECK_STR(file_err("known-server doh.example https://a.example/\n"),
	    "t.conf:1: known-server: \"doh.example\" is not an IP address");
	CHECK_STR(file_err("known-server 0.0.0.0 https://a.example/\n"),
	    "t.conf:1: known-server: \"0.0.0.0\" is a wildcard, not a server "
	    "address");
	CHECK_STR(file_err("known-server 192.0.2.1 http://a.example/\n"),
	    "t.conf:1: known-server: \"http://a.example/\" is not an https:// "
	    "URL");
	CHECK_STR(file_err("\nknown-server 192.0.2.1 https://192.0.2.1/\n"),
	    "t.conf:2: known-server: \"https://192.0.2.1/\": the URL's host "
	    "must be a name, which the certificate is checked for");
	CHECK_STR(file_err("known-server 192.0.2.1 https://[2001:db8::1]/\n"),
	    "t.conf:1: known-server: \"https://[2001:db8::1]/\": the URL's "
	    "host must be a name, which the certificate is checked for");
	CHECK_STR(file_err("known-server 192.0.2.1 https://a.example/#x\n"),
	    "t.conf:1: known-server: \"https://a.example/#x\": a fragment (#) "
	    "is not allowed");
	CHECK_STR(file_err("known-server 192.0.2.1 https://a.example/ #x\n"),
	    "(ok)");
	CHECK_STR(flag_err("known-server", "192.0.2.1"), "--known-server: "
	    "\"192.0.2.1\": ADDR URL (an address, then the DoH URL of the "
	    "server there)");
	CHECK_STR(file_err("ddr maybe\n"),
	    "t.conf:1: ddr: \"maybe\" is not one of no, yes");
	CHECK_STR(file_err("ddr-opportunistic 1\n"),
	    "t.conf:1: ddr-opportunistic: \"1\" is not one of no, yes");
	CHECK_STR(env_err("DOHSTUB_DDR_OPPORTUNISTIC=on"),
	    "DOHSTUB_DDR_OPPORTUNISTIC: \"on\" is not one of no, yes");
	CHECK_EQ(finalize(&cfg, "upstream 9.9.9.9\n"
	    "known-server 192.0.2.1 https://a.example/\n"
	    "known-server 192.0.2.1:5353 https://b.example/\n", "/nonexistent"),
	    -1);
	CHECK_STR(errbuf, "known-server: 192.0.2.1 is listed twice");
	config_free(&cfg);
}

/* metrics and log-format: what a sidecar is configured with. */
static void
test_sidecar(void)
{
	struct config cfg;
	char *envp[] = {
		"DOHSTUB_METRICS=0.0.0.0:9153",
		"DOHSTUB_LOG_FORMAT=json",
		NULL,
	};
	char *p;

	CHECK_STR(flag_err("metrics", "127.0.0.1:9153"), "(ok)");
	CHECK_STR(flag_err("metrics", "[::]:9153"), "(ok)");
	CHECK_STR(flag_err("metrics", "127.0.0.1"), "--metrics: "
	    "\"127.0.0.1\": a port is required (ADDR:PORT, [IPv6]:PORT)");
	CHECK_STR(flag_err("metrics", "::1"), "--metrics: \"::1\": a port is "
	    "required (ADDR:PORT, [IPv6]:PORT)");
	CHECK_STR(flag_err("metrics", "127.0.0.1:0"),
	    "--metrics: \"127.0.0.1:0\": port must be 1..65535");
	CHECK_STR(flag_err("metrics", "localhost:9153"),
	    "--metrics: \"localhost:9153\" is not an IP address");
	CHECK_STR(file_err("metrics :9153\n"),
	    "t.conf:1: metrics: \":9153\" is not an IP address");
	CHECK_STR(flag_err("log-format", "json"), "(ok)");
	CHECK_STR(file_err("log-format JSON\n"), "t.conf:1: log-format: "
	    "\"JSON\" is not one of text, json");
	CHECK_STR(env_err("DOHSTUB_LOG_FORMAT=logfmt"), "DOHSTUB_LOG_FORMAT: "
	    "\"logfmt\" is not one of text, json");
	CHECK_STR(env_err("DOHSTUB_METRICS=9153"),
	    "DOHSTUB_METRICS: \"9153\" is not an IP address");

	/* From the environment alone, as in a container. */
	config_defaults(&cfg);
	CHECK_EQ(config_parse_env(&cfg, envp, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.log_json, 1);
	CHECK_STR(astr(&cfg.metrics), "0.0.0.0:9153");
	/* A flag still wins, and "text" turns JSON off again. */
	CHECK_EQ(config_set(&cfg, "log-format", "text", "--log-format",
	    CONFIG_SRC_FLAG, errbuf, sizeof(errbuf)), 0);
	CHECK_EQ(cfg.log_json, 0);
	CHECK_EQ(config_set(&cfg, "metrics", "[::1]:1", "--metrics",
	    CONFIG_SRC_FLAG, errbuf, sizeof(errbuf)), 0);
	CHECK_STR(astr(&cfg.metrics), "[::1]:1");
	config_free(&cfg);

	/* Printed back, and read back the same. */
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "metrics 127.0.0.1:9153\nlog-format json\n", "/nonexistent"), 0);
	p = print_str(&cfg);
	CHECK(p != NULL && strstr(p, "\nlog-format json\n") != NULL);
	CHECK(p != NULL && strstr(p, "\nmetrics 127.0.0.1:9153\n") != NULL);
	config_free(&cfg);
	if (p != NULL) {
		config_defaults(&cfg);
		CHECK_EQ(parse(&cfg, p), 0);
		CHECK_EQ(cfg.log_json, 1);
		CHECK_STR(astr(&cfg.metrics), "127.0.0.1:9153");
		config_free(&cfg);
	}
	free(p);

	/* Both would bind the same TCP port. */
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "listen 127.0.0.1:9153\nmetrics 127.0.0.1:9153\n",
	    "/nonexistent"), -1);
	CHECK_STR(errbuf, "metrics: 127.0.0.1:9153 is also a listen address");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "listen 127.0.0.1:53\nmetrics 127.0.0.1:9153\n",
	    "/nonexistent"), 0);
	config_free(&cfg);
}

static void
test_free(void)
{
	struct config cfg;

	/* Half-filled: a parse that failed midway. */
	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "upstream https://doh.example/\n"
	    "resolve doh.example:443:192.0.2.1\nuser x\nca-file y\n"
	    "upstream https://\n"), -1);
	config_free(&cfg);
	CHECK(cfg.user == NULL && cfg.nupstream == 0);
	config_free(&cfg);
	config_free(NULL);
	config_upstream_free(NULL);
}

static void
test_shipped(void)
{
	struct config cfg;

	errbuf[0] = '\0';
	config_defaults(&cfg);
	CHECK_EQ(config_parse_file(&cfg, SHIPPED_CONF, 1, errbuf,
	    sizeof(errbuf)), 0);
	CHECK_EQ(config_finalize(&cfg, "/nonexistent", errbuf,
	    sizeof(errbuf)), 0);
	if (errbuf[0] != '\0')
		fprintf(stderr, "%s\n", errbuf);
	CHECK_EQ(cfg.mode, MODE_ENCRYPTED_ONLY);
	CHECK_EQ(cfg.nlisten, 2);
	CHECK_STR(astr(&cfg.listen[0]), "127.0.0.1:53");
	CHECK_STR(astr(&cfg.listen[1]), "[::1]:53");
	CHECK(cfg.nupstream >= 2);
	CHECK_EQ(cfg.nresolve, cfg.nupstream);
	/* Everything pinned: no bootstrap server needed. */
	CHECK_EQ(cfg.nbootstrap, 0);
	/* The shipped defaults are the compiled-in ones. */
	CHECK_EQ(cfg.timeout_ms, 2000);
	CHECK_EQ(cfg.tls_min_version, TLS1_3_VERSION);
	config_free(&cfg);
}

/* Rules are checked like fallback and upstream, in every mode. */
static void
test_forward_finalize(void)
{
	struct config cfg;

	CHECK_EQ(finalize(&cfg, "listen 127.0.0.1:5300\n"
	    "upstream https://192.0.2.1/\n"
	    "forward corp.example 10.1.1.53 127.0.0.1:5300\n", NULL), -1);
	CHECK_STR(errbuf, "forward corp.example.: 127.0.0.1:5300 is one of "
	    "our listen addresses (a loop)");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode plaintext\nfallback 192.0.2.53\n"
	    "forward corp.example https://doh.corp.example/\n", NULL), -1);
	CHECK_STR(errbuf, "forward corp.example.: https://doh.corp.example/: "
	    "no resolve pin for doh.corp.example:443 and no bootstrap server");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "mode plaintext\nfallback 192.0.2.53\n"
	    "forward corp.example https://doh.corp.example/\n"
	    "resolve doh.corp.example:443:10.1.1.5\n", NULL), 0);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\nmethod get\n"
	    "forward corp.example https://10.1.1.5/q?x=1\n", NULL), -1);
	CHECK_STR(errbuf, "forward corp.example.: https://10.1.1.5/q?x=1: "
	    "method get adds its own query; this path needs method post");
	config_free(&cfg);
}

/* query-log: off (kept as NULL), stderr or an absolute path. */
static void
test_query_log(void)
{
	struct config cfg;

	config_defaults(&cfg);
	CHECK(cfg.query_log == NULL && !cfg.query_log_json &&
	    !cfg.query_log_client);
	CHECK_EQ(parse(&cfg, "query-log /var/log/dohstub/query.log\n"
	    "query-log-format json\nquery-log-client yes\n"), 0);
	CHECK_STR(cfg.query_log, "/var/log/dohstub/query.log");
	CHECK(cfg.query_log_json && cfg.query_log_client);
	CHECK_EQ(parse(&cfg, "query-log stderr\n"), 0);
	CHECK_STR(cfg.query_log, "stderr");
	CHECK_EQ(parse(&cfg, "query-log off\n"), 0);
	CHECK(cfg.query_log == NULL);
	config_free(&cfg);
	CHECK_STR(file_err("query-log query.log\n"), "t.conf:1: query-log: "
	    "\"query.log\": off, stderr or an absolute path is required");
	CHECK_STR(flag_err("query-log-format", "csv"), "--query-log-format: "
	    "\"csv\" is not one of text, json");
	CHECK_STR(env_err("DOHSTUB_QUERY_LOG_CLIENT=maybe"),
	    "DOHSTUB_QUERY_LOG_CLIENT: \"maybe\" is not one of no, yes");
	config_defaults(&cfg);
	CHECK_EQ(finalize(&cfg, "query-log /tmp\nupstream "
	    "https://192.0.2.1/dns-query\n", NULL), -1);
	CHECK_STR(errbuf, "query-log: /tmp: Is a directory");
	config_free(&cfg);
}

/* Is the zone (text) among cfg->insecure?  Its index, or -1. */
static int
insecure_at(const struct config *cfg, const char *text)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t i, len;

	if ((len = dnsmsg_name_from_text(text, wire, sizeof(wire))) == 0)
		return -1;
	for (i = 0; i < cfg->ninsecure; i++)
		if (dnsmsg_name_equal(cfg->insecure[i].name,
		    cfg->insecure[i].len, wire, len))
			return (int)i;
	return -1;
}

#define ROOT_DS_20326	". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08" \
			"458E880409BBC683457104237C7F8EC8D\n"

/*
 * dnssec, trust-anchor and dnssec-insecure (issue 19): values and
 * their messages, every source; the anchors read at finalize (a file
 * named, the default file, the built-in ones) with errors naming the
 * file and its line; the insecure zones gathered, each once; -nv.
 */
static void
test_dnssec(void)
{
	static const char *const want_insecure[] = {
		"10.in-addr.arpa", "16.172.in-addr.arpa",
		"31.172.in-addr.arpa", "168.192.in-addr.arpa",
		"64.100.in-addr.arpa", "127.100.in-addr.arpa",
		"d.f.ip6.arpa", "home.arpa", "local", "internal", "lan",
		"intranet", "corp", "private", "localhost", "invalid",
		"onion", "resolver.arpa", "127.in-addr.arpa",
		"254.169.in-addr.arpa", "b.e.f.ip6.arpa",
		("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
		"0.0.ip6.arpa"),
	};
	static const char *const not_insecure[] = {
		"test", "example", "15.172.in-addr.arpa",
		"32.172.in-addr.arpa", "63.100.in-addr.arpa",
		"128.100.in-addr.arpa", "c.f.ip6.arpa", "arpa", "in-addr.arpa",
	};
	const char *saved = config_trust_anchor_default;
	struct config cfg;
	char *path, *bad, *p, text[512];
	size_t i;

	config_defaults(&cfg);
	CHECK_EQ(cfg.dnssec, CONFIG_DNSSEC_VALIDATE);
	CHECK(cfg.trust_anchor == NULL);
	CHECK_EQ(cfg.ndnssec_insecure, 0);
	CHECK(cfg.anchors == NULL && cfg.insecure == NULL);
	CHECK_STR(config_dnssec_names[CONFIG_DNSSEC_OFF], "off");
	CHECK_STR(config_dnssec_names[CONFIG_DNSSEC_VALIDATE], "validate");
	CHECK_EQ(parse(&cfg, "dnssec off\ntrust-anchor /etc/my.ds\n"
	    "dnssec-insecure broken.example\n"
	    "dnssec-insecure Lab.Example.\n"), 0);
	CHECK_EQ(cfg.dnssec, CONFIG_DNSSEC_OFF);
	CHECK_STR(cfg.trust_anchor, "/etc/my.ds");
	CHECK_EQ(cfg.ndnssec_insecure, 2);
	config_free(&cfg);

	CHECK_STR(file_err("dnssec yes\n"), "t.conf:1: dnssec: \"yes\" is "
	    "not one of off, process, validate");
	CHECK_STR(file_err("trust-anchor root.ds\n"), "t.conf:1: "
	    "trust-anchor: \"root.ds\": an absolute path is required");
	CHECK_STR(file_err("dnssec-insecure .\n"), "t.conf:1: "
	    "dnssec-insecure: the root cannot be insecure (dnssec process "
	    "leaves every answer unchecked)");
	CHECK_STR(file_err("dnssec-insecure a..b\n"), "t.conf:1: "
	    "dnssec-insecure: \"a..b\" is not a domain name");
	CHECK_STR(flag_err("dnssec", "on"), "--dnssec: \"on\" is not one of "
	    "off, process, validate");
	CHECK_STR(flag_err("trust-anchor", "x"), "--trust-anchor: \"x\": an "
	    "absolute path is required");
	CHECK_STR(env_err("DOHSTUB_DNSSEC_INSECURE=a.example,."),
	    "DOHSTUB_DNSSEC_INSECURE: the root cannot be insecure (dnssec "
	    "process leaves every answer unchecked)");
	CHECK_STR(env_err("DOHSTUB_DNSSEC_INSECURE=a.example, b.example"),
	    "(ok)");
	for (i = 0, p = text; i < CONFIG_MAX_INSECURE + 1; i++)
		p += sprintf(p, "%s%zu", i > 0 ? "," : "DOHSTUB_DNSSEC_"
		    "INSECURE=", i);
	CHECK_STR(env_err(text), "DOHSTUB_DNSSEC_INSECURE: too many (at "
	    "most 64)");

	/* validate: accepted, with its anchors. */
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "dnssec validate\n", NULL), 0);
	CHECK_EQ(cfg.dnssec, CONFIG_DNSSEC_VALIDATE);
	CHECK(cfg.nanchors > 0);
	config_free(&cfg);

	/* No file anywhere: the root's keys built in. */
	config_trust_anchor_default = "/nonexistent/root.ds";
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n", NULL), 0);
	CHECK_EQ(cfg.nanchors, 2);
	CHECK_STR(cfg.anchors_from, "built in");
	CHECK_EQ(cfg.anchors[0].tag, 20326);
	CHECK_EQ(cfg.anchors[1].tag, 38696);
	CHECK_EQ(cfg.anchors[0].type, DNS_TYPE_DS);
	CHECK_EQ(cfg.anchors[0].owner_len, 1);
	p = print_str(&cfg);
	CHECK(strstr(p, "\n# trust-anchor: none: /nonexistent/root.ds, or "
	    "the root's keys built in\n# trust anchors (built in): . DS 20326 "
	    "8, . DS 38696 8\n") != NULL);
	free(p);

	/*
	 * The insecure zones: the built-in ones (ranges spelt out), the
	 * local zones, each once, not "test" nor anything above or beside
	 * them.
	 */
	CHECK_EQ(cfg.ninsecure, 101);
	for (i = 0; i < nitems(want_insecure); i++) {
		if (insecure_at(&cfg, want_insecure[i]) < 0)
			fprintf(stderr, "not insecure: %s\n",
			    want_insecure[i]);
		CHECK(insecure_at(&cfg, want_insecure[i]) >= 0);
	}
	for (i = 0; i < nitems(not_insecure); i++)
		CHECK(insecure_at(&cfg, not_insecure[i]) < 0);
	config_free(&cfg);

	/* Configured ones first, a forward rule's zone, an exempt local
	 * zone left out (it is forwarded), none twice. */
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "dnssec-insecure broken.example\ndnssec-insecure LOCAL\n"
	    "forward corp.example 10.1.1.53\nforward lan 10.1.1.53\n"
	    "local-zone-exempt onion\n", NULL), 0);
	CHECK_EQ(insecure_at(&cfg, "broken.example"), 0);
	CHECK_EQ(insecure_at(&cfg, "local"), 1);
	CHECK(insecure_at(&cfg, "corp.example") >= 0);
	CHECK(insecure_at(&cfg, "lan") >= 0);
	CHECK(insecure_at(&cfg, "onion") < 0);
	CHECK_EQ(cfg.ninsecure, 101 + 1 + 1 - 1);
	p = print_str(&cfg);
	CHECK(strstr(p, "\ndnssec-insecure broken.example.\n"
	    "dnssec-insecure LOCAL.\n# insecure besides: 10.in-addr.arpa ")
	    != NULL);
	free(p);
	config_free(&cfg);
	p = round_trip("upstream https://192.0.2.1/\ndnssec off\n"
	    "dnssec-insecure broken.example\n", NULL);
	CHECK(p != NULL && strstr(p, "\ndnssec off\n") != NULL);
	free(p);

	/* A file named: read, errors naming it and its line. */
	path = tmpfile_with("; two anchors\n" ROOT_DS_20326
	    "test. 3600 IN DS 12345 13 2 ("
	    "0000000000000000000000000000000000000000000000000000000000000000"
	    " )\n");
	snprintf(text, sizeof(text), "upstream https://192.0.2.1/\n"
	    "trust-anchor %s\n", path);
	CHECK_EQ(finalize(&cfg, text, NULL), 0);
	CHECK_EQ(cfg.nanchors, 2);
	CHECK_STR(cfg.anchors_from, path);
	CHECK_EQ(cfg.anchors[1].tag, 12345);
	CHECK_EQ(cfg.anchors[1].algorithm, 13);
	CHECK_EQ(cfg.anchors[1].owner_len, 6);
	config_free(&cfg);
	free(round_trip(text, NULL));
	bad = tmpfile_with(ROOT_DS_20326 "\n. IN DS 1 8 2 ABCD\n");
	snprintf(text, sizeof(text), "upstream https://192.0.2.1/\n"
	    "trust-anchor %s\n", bad);
	CHECK_EQ(finalize(&cfg, text, NULL), -1);
	snprintf(text, sizeof(text), "trust-anchor: %s: line 3: digest of "
	    "the wrong length", bad);
	CHECK_STR(errbuf, text);
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "trust-anchor /nonexistent/my.ds\n", NULL), -1);
	CHECK_STR(errbuf, "trust-anchor: /nonexistent/my.ds: No such file or "
	    "directory");
	config_free(&cfg);
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n"
	    "trust-anchor /tmp\n", NULL), -1);
	CHECK_STR(errbuf, "trust-anchor: /tmp: Is a directory");
	config_free(&cfg);

	/* The default file when it exists, its errors too; empty is one. */
	config_trust_anchor_default = path;
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n", NULL), 0);
	CHECK_EQ(cfg.nanchors, 2);
	CHECK_STR(cfg.anchors_from, path);
	p = print_str(&cfg);
	snprintf(text, sizeof(text), "# trust anchors (%s): . DS 20326 8, "
	    "test. DS 12345 13\n", path);
	CHECK(strstr(p, text) != NULL);
	free(p);
	config_free(&cfg);
	config_trust_anchor_default = bad;
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n", NULL), -1);
	snprintf(text, sizeof(text), "trust-anchor: %s: line 3: digest of "
	    "the wrong length", bad);
	CHECK_STR(errbuf, text);
	config_free(&cfg);
	tmpfile_done(bad);
	bad = tmpfile_with("; nothing\n$TTL 3600\n");
	config_trust_anchor_default = bad;
	CHECK_EQ(finalize(&cfg, "upstream https://192.0.2.1/\n", NULL), -1);
	snprintf(text, sizeof(text), "trust-anchor: %s: no DS or DNSKEY "
	    "record", bad);
	CHECK_STR(errbuf, text);
	config_free(&cfg);
	tmpfile_done(bad);
	tmpfile_done(path);
	config_trust_anchor_default = saved;
}

#define ZERO_DIGEST	"0000000000000000000000000000000000000000000000000000" \
			"000000000000"

/* finalize() with what it logs (stderr) into logged. */
static int
finalize_logged(struct config *cfg, const char *text, char *logged,
    size_t cap)
{
	FILE *f;
	size_t n;
	int saved, rc;

	fflush(stderr);
	if ((f = tmpfile()) == NULL || (saved = dup(2)) == -1 ||
	    dup2(fileno(f), 2) == -1)
		abort();
	rc = finalize(cfg, text, NULL);
	fflush(stderr);
	if (dup2(saved, 2) == -1 || close(saved) == -1)
		abort();
	rewind(f);
	n = fread(logged, 1, cap - 1, f);
	logged[n] = '\0';
	fclose(f);
	return rc;
}

/*
 * No negative trust anchor at or above a trust anchor's owner (RFC 7646:
 * it never overrides a configured anchor): a built-in default (corp,
 * above ad.corp's anchor; home.arpa, at its own) or a forward rule's
 * zone that would be is left out, logged;
 * a dnssec-insecure written for one is an error naming the key.  Below
 * an anchor, as beside one, they stay.
 */
static void
test_dnssec_nta_anchor(void)
{
	struct config cfg;
	char *path, text[1024], logged[2048];

	path = tmpfile_with(ROOT_DS_20326
	    "corp.example. 3600 IN DS 12345 13 2 " ZERO_DIGEST "\n"
	    "home.arpa. IN DS 23456 13 2 " ZERO_DIGEST "\n"
	    "ad.corp. IN DS 34567 13 2 " ZERO_DIGEST "\n");
	snprintf(text, sizeof(text), "upstream https://192.0.2.1/\n"
	    "trust-anchor %s\n"
	    "forward corp.example 10.1.1.53\n"
	    "forward sub.corp.example 10.1.1.53\n"
	    "forward lab.example 10.1.1.53\n"
	    "dnssec-insecure broken.corp.example\n", path);
	CHECK_EQ(finalize_logged(&cfg, text, logged, sizeof(logged)), 0);
	CHECK_EQ(cfg.nanchors, 4);
	CHECK(insecure_at(&cfg, "corp.example") < 0);
	CHECK(insecure_at(&cfg, "home.arpa") < 0);
	CHECK(insecure_at(&cfg, "sub.corp.example") >= 0);
	CHECK(insecure_at(&cfg, "broken.corp.example") >= 0);
	CHECK(insecure_at(&cfg, "lab.example") >= 0);
	/* corp (a default) is above ad.corp's anchor. */
	CHECK(insecure_at(&cfg, "corp") < 0);
	CHECK(insecure_at(&cfg, "lan") >= 0);
	/* 101 defaults, less corp and home.arpa, and three of ours. */
	CHECK_EQ(cfg.ninsecure, 101 - 2 + 3);
	CHECK(strstr(logged, "corp.example. is validated, not taken as "
	    "insecure: a trust anchor (corp.example., key tag 12345) is at or "
	    "below it\n") != NULL);
	CHECK(strstr(logged, " corp. is validated, not taken as insecure: a "
	    "trust anchor (ad.corp., key tag 34567)") != NULL);
	CHECK(strstr(logged, "home.arpa. is validated, not taken as "
	    "insecure: a trust anchor (home.arpa., key tag 23456)") != NULL);
	config_free(&cfg);

	/* Written by the user: at the anchor, or above it, an error. */
	snprintf(text, sizeof(text), "upstream https://192.0.2.1/\n"
	    "trust-anchor %s\ndnssec-insecure lab.example\n"
	    "dnssec-insecure Corp.Example\n", path);
	CHECK_EQ(finalize(&cfg, text, NULL), -1);
	CHECK_STR(errbuf, "dnssec-insecure Corp.Example.: the trust anchor "
	    "for corp.example. (key tag 12345) is at or below it; a negative "
	    "trust anchor cannot override it");
	config_free(&cfg);
	snprintf(text, sizeof(text), "upstream https://192.0.2.1/\n"
	    "trust-anchor %s\ndnssec-insecure example\n", path);
	CHECK_EQ(finalize(&cfg, text, NULL), -1);
	CHECK_STR(errbuf, "dnssec-insecure example.: the trust anchor for "
	    "corp.example. (key tag 12345) is at or below it; a negative "
	    "trust anchor cannot override it");
	config_free(&cfg);
	tmpfile_done(path);
}

int
main(void)
{
	test_defaults();
	test_full_file();
	test_syntax();
	test_bad_values();
	test_durations();
	test_numbers();
	test_url();
	test_resolve();
	test_find_resolve();
	test_env();
	test_forward();
	test_precedence();
	test_finalize();
	test_forward_finalize();
	test_print();
	test_addr_upstream();
	test_zero_config();
	test_known_server();
	test_sidecar();
	test_free();
	test_shipped();
	test_query_log();
	test_dnssec();
	test_dnssec_nta_anchor();
	return check_summary();
}
