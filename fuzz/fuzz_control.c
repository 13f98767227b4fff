/*
 * Fuzz control_parse() on a control socket request (without its
 * newline).  What parses has a known verb, the arguments that verb
 * takes, a well-formed name, and parses again the same when written
 * back (the name in zone form, the type as its mnemonic) or with a
 * final \r; an error answer with the reason is one line.  Input: the
 * request.
 */
#define _GNU_SOURCE		/* open_memstream */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/control.h"
#include "dohstub/dnsmsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same(const struct control_req *a, const struct control_req *b)
{
	if (a->verb != b->verb || a->json != b->json ||
	    a->qtype != b->qtype || a->name_len != b->name_len ||
	    memcmp(a->name, b->name, a->name_len) != 0)
		abort();
}

/* The reason, as the socket says it: one line. */
static void
check_error(const char *why)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return;
	control_write_error(fp, 0, why);
	fclose(fp);
	if (len < 8 || strncmp(buf, "error: ", 7) != 0 ||
	    strchr(buf, '\n') != buf + len - 1)
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_req req, again;
	char line[CONTROL_MAX_LINE * 4 + 64], name[DNS_MAX_NAME_TEXT];
	char t[16];
	const char *why = NULL;
	size_t n;

	if (control_parse((const char *)data, size, &req, &why) == -1) {
		if (why == NULL || *why == '\0')
			abort();
		check_error(why);
		return 0;
	}
	if (size > CONTROL_MAX_LINE + 1 ||
	    (unsigned)req.verb >= CONTROL_VERB_MAX ||
	    req.name_len > DNS_MAX_NAME || req.qtype < -1 ||
	    req.qtype > 65535)
		abort();
	if (req.verb == CONTROL_LOOKUP && (req.name_len == 0 ||
	    req.qtype == -1))
		abort();
	if (req.verb != CONTROL_LOOKUP && req.verb != CONTROL_FLUSH &&
	    (req.name_len != 0 || req.qtype != -1))
		abort();
	if (req.name_len == 0 && req.qtype != -1)
		abort();

	/* Written back, it reads the same. */
	n = (size_t)snprintf(line, sizeof(line), "%s%s",
	    req.json ? "--json " : "", control_verb_names[req.verb]);
	if (req.name_len > 0) {
		if (dnsmsg_name_to_text(req.name, req.name_len, name,
		    sizeof(name), DNSMSG_NAME_ZONE) == -1)
			abort();
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s",
		    name);
	}
	if (req.qtype != -1)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s",
		    dnsmsg_type_str((uint16_t)req.qtype, t, sizeof(t)));
	if (n <= CONTROL_MAX_LINE) {
		if (control_parse(line, n, &again, &why) == -1)
			abort();
		same(&req, &again);
	}
	/* A final \r is allowed, once. */
	if (size > 0 && size <= CONTROL_MAX_LINE && data[size - 1] != '\r') {
		memcpy(line, data, size);
		line[size] = '\r';
		if (control_parse(line, size + 1, &again, &why) == -1)
			abort();
		same(&req, &again);
	}
	return 0;
}
