/*
 * Fuzz ddr_parse() on an answer to the DDR query, then ddr_choose() on
 * what it found, verified only and with opportunistic discovery, for a
 * private, a loopback and a public resolver, and ddr_record_str() on
 * each record.  Input: the answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/addr.h"
#include "dohstub/ddr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const resolvers[] = {
	"192.168.1.1", "127.0.0.1", "9.9.9.9", "fd00::53", "2620:fe::fe",
};

static void
check_str(const char *s, size_t len)
{
	if (memchr(s, '\0', len) == NULL)
		abort();
}

static void
check_record(const struct ddr_record *r)
{
	char buf[4096], small[16];
	size_t i;

	if (r->priority == 0 || r->nhints > DDR_MAX_HINTS)
		abort();
	check_str(r->target, sizeof(r->target));
	check_str(r->dohpath, sizeof(r->dohpath));
	/* At least the priority and the root, whole SvcParams after it. */
	if (r->rdlen < 3 || r->rdlen > sizeof(r->rdata))
		abort();
	check_str(r->unusable, sizeof(r->unusable));
	if (r->has_dohpath == 0 && r->dohpath[0] != '\0')
		abort();
	/* No final dot but an escaped one: a\. is the label "a.". */
	i = strlen(r->target);
	if (i > 0 && r->target[i - 1] == '.' &&
	    (i < 2 || r->target[i - 2] != '\\'))
		abort();
	for (i = 0; i < r->nhints; i++)
		if (r->hints[i].len == 0 || addr_port(&r->hints[i]) != 0)
			abort();
	if (ddr_record_str(r, buf, sizeof(buf)) != 0)
		abort();	/* always fits 4096 */
	check_str(buf, sizeof(buf));
	i = strlen(buf);
	if (r->rdata_cut && (i < 4 || strcmp(buf + i - 4, " ...") != 0))
		abort();
	(void)ddr_record_str(r, small, sizeof(small));
	check_str(small, sizeof(small));
	if (strncmp(buf, small, strlen(small)) != 0)
		abort();
}

static void
check_choice(const struct ddr_record *recs, size_t n, const struct addr *res,
    int opportunistic)
{
	struct ddr_endpoint ep;
	enum ddr_reason reason;
	char why[128], skipped[1024], url[2048];
	size_t i;
	int r;

	memset(why, 'x', sizeof(why));
	memset(skipped, 'x', sizeof(skipped));
	r = ddr_choose(recs, n, res, opportunistic, &ep, why, sizeof(why),
	    skipped, sizeof(skipped));
	check_str(why, sizeof(why));
	check_str(skipped, sizeof(skipped));
	if (r == 0) {
		if (ep.path[0] != '/' || strchr(ep.path, '{') != NULL ||
		    ep.host[0] == '\0' || ep.port == 0 ||
		    ep.naddrs > DDR_MAX_HINTS ||
		    ep.ttl < DDR_TTL_MIN || ep.ttl > DDR_TTL_MAX)
			abort();
		check_str(ep.host, sizeof(ep.host));
		check_str(ep.path, sizeof(ep.path));
		if (ep.kind == DDR_OPPORTUNISTIC) {
			if (!opportunistic || !ddr_private_addr(res) ||
			    ep.naddrs != 1 || !addr_same_ip(&ep.addrs[0], res))
				abort();
		} else if (ep.kind != DDR_VERIFIED)
			abort();
		for (i = 0; i < ep.naddrs; i++)
			if (addr_port(&ep.addrs[i]) != ep.port)
				abort();
		if (ddr_endpoint_url(&ep, url, sizeof(url)) != 0 ||
		    strncmp(url, "https://", 8) != 0)
			abort();
	} else if (r != -1 || why[0] == '\0')
		abort();
	/* Opportunistic alone never gives a verified endpoint. */
	r = ddr_choose_kinds(recs, n, res, DDR_KIND_BIT(DDR_OPPORTUNISTIC),
	    &ep, &reason, NULL, 0, NULL, 0);
	if (r == 0 && (ep.kind != DDR_OPPORTUNISTIC || reason != DDR_OK))
		abort();
	if (r == -1 && (reason == DDR_OK || reason >= DDR_REASON_MAX))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ddr_record recs[DDR_MAX_RECORDS], one;
	struct addr res;
	const char *why;
	size_t i;
	int n, m;

	n = ddr_parse(data, size, recs, DDR_MAX_RECORDS, &why);
	if (n == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (n < 0 || n > DDR_MAX_RECORDS || (why != NULL && n != 0))
		abort();
	for (i = 0; i < (size_t)n; i++) {
		check_record(&recs[i]);
		if (i > 0 && recs[i - 1].priority > recs[i].priority)
			abort();
	}
	/* A smaller room keeps the records of lowest priority. */
	if (n > 0) {
		m = ddr_parse(data, size, &one, 1, NULL);
		if (m != 1 || one.priority != recs[0].priority)
			abort();
	}
	for (i = 0; i < sizeof(resolvers) / sizeof(resolvers[0]); i++) {
		if (addr_parse(resolvers[i], 53, &res, NULL, 0) == -1)
			abort();
		check_choice(recs, (size_t)n, &res, 0);
		check_choice(recs, (size_t)n, &res, 1);
	}
	return 0;
}
