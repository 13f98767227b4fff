/*
 * Tests for log: the JSON line format a log collector parses (one object
 * per line, the message escaped so that no byte can break the object) and
 * the text format it replaces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "dohstub/log.h"

static char path[] = "/tmp/test_log.XXXXXX";
static char out[16384];
static int filefd = -1, savedfd = -1;

/* Send stderr to the file, empty, until logged(); CHECK output stays. */
static void
capture(void)
{
	fflush(stderr);
	if (ftruncate(filefd, 0) == -1 || lseek(filefd, 0, SEEK_SET) == -1 ||
	    dup2(filefd, STDERR_FILENO) == -1)
		printf("cannot capture stderr\n");
}

/* Everything logged to stderr since capture(). */
static const char *
logged(void)
{
	ssize_t n;

	fflush(stderr);
	dup2(savedfd, STDERR_FILENO);
	if ((n = pread(filefd, out, sizeof(out) - 1, 0)) < 0)
		n = 0;
	out[n] = '\0';
	return out;
}

/* The line minus its timestamp, which must be ISO 8601 UTC with ms. */
static const char *
untimed(const char *line)
{
	static char buf[sizeof(out)];
	static const char head[] = "{\"ts\":\"";
	static const char shape[] = "9999-99-99T99:99:99.999Z";
	const char *ts = line + sizeof(head) - 1;
	size_t i;

	if (strncmp(line, head, sizeof(head) - 1) != 0)
		return line;
	/* 2026-11-22T21:00:00.123Z; 9 stands for any digit. */
	for (i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == '9' ? ts[i] < '0' || ts[i] > '9' :
		    ts[i] != shape[i])
			return line;
	}
	if (ts[24] != '"')
		return line;
	snprintf(buf, sizeof(buf), "{\"ts\":T%s", ts + 25);
	return buf;
}

int
main(void)
{
	if ((filefd = mkstemp(path)) == -1 ||
	    (savedfd = dup(STDERR_FILENO)) == -1) {
		printf("cannot redirect stderr\n");
		return 1;
	}
	unlink(path);
	log_init("test", LOG_LEVEL_DEBUG, 0);

	capture();
	log_info("plain %d", 1);
	CHECK_STR(logged(), "test[info]: plain 1\n");

	log_set_json(1);
	capture();
	log_info("hello %s", "world");
	CHECK_STR(untimed(logged()),
	    "{\"ts\":T,\"level\":\"info\",\"msg\":\"hello world\"}\n");
	capture();
	log_warnx("warn");
	CHECK_STR(untimed(logged()),
	    "{\"ts\":T,\"level\":\"warn\",\"msg\":\"warn\"}\n");
	capture();
	log_debug("dbg");
	CHECK_STR(untimed(logged()),
	    "{\"ts\":T,\"level\":\"debug\",\"msg\":\"dbg\"}\n");

	/* Quotes, backslashes and every control character escaped. */
	capture();
	log_info("a \"q\" b\\c\nd\te\r\x01\x1f\x7f");
	CHECK_STR(untimed(logged()), "{\"ts\":T,\"level\":\"info\",\"msg\":"
	    "\"a \\\"q\\\" b\\\\c\\u000ad\\u0009e\\u000d\\u0001"
	    "\\u001f\x7f\"}\n");

	/* Well-formed UTF-8 kept; anything else becomes U+FFFD. */
	capture();
	log_info("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	CHECK_STR(untimed(logged()), "{\"ts\":T,\"level\":\"info\",\"msg\":"
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}\n");
	capture();
	log_info("x\xff\xc3(\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82");
	CHECK_STR(untimed(logged()), "{\"ts\":T,\"level\":\"info\",\"msg\":"
	    "\"x\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
	    "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"}\n");

	/* The longest message, all escapes: still one whole object. */
	{
		char big[1100];
		const char *l;

		memset(big, '\x01', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		capture();
		log_info("%s", big);
		l = logged();
		CHECK(strlen(l) > 1023 * 6);
		CHECK(strcmp(l + strlen(l) - 9, "\\u0001\"}\n") == 0);
		CHECK(strchr(l, '\n') == l + strlen(l) - 1);
	}

	log_set_json(0);
	capture();
	log_info("back");
	CHECK_STR(logged(), "test[info]: back\n");

	close(filefd);
	close(savedfd);
	return check_summary();
}
