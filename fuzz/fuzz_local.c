/*
 * Fuzz local_answer() on any client query: what it answers must be a
 * well-formed answer to that query (dnsmsg_check_answer), within 512
 * bytes, with the client's ID and an OPT exactly when the client sent
 * EDNS; one byte less room gives nothing rather than a cut answer.
 * Exempt zones are set so that their matching is exercised too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/local.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static int cfg_ready;

static void
cfg_init(void)
{
	static const char *const zones[] = {
		"lab.local", "10.in-addr.arpa", "Home.Arpa.",
	};
	char err[CONFIG_ERRLEN];
	size_t i;

	config_defaults(&cfg);
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (config_set(&cfg, "local-zone-exempt", zones[i], "fuzz", 1,
		    err, sizeof(err)) == -1)
			abort();
	/* A rule overrides the local zones below it, not the policy. */
	if (config_set(&cfg, "forward", "168.192.in-addr.arpa 192.0.2.53",
	    "fuzz", 1, err, sizeof(err)) == -1)
		abort();
	cfg_ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query_info qi;
	enum local_verdict v;
	uint8_t out[1024], again[1024];
	size_t n, m;

	if (!cfg_ready)
		cfg_init();
	if (dnsmsg_parse_query(data, size, &qi) != DNS_VERDICT_OK)
		return 0;
	v = local_answer(&qi, &cfg, out, sizeof(out), &n);
	if (v == LOCAL_FORWARD) {
		if (n != 0)
			abort();
		return 0;
	}
	if (n < DNS_HDR_LEN || n > DNS_UDP_PLAIN_MAX)
		abort();
	if (dnsmsg_check_answer(out, n, &qi) != 0)
		abort();
	if (dnsmsg_get_id(out) != qi.id || out[11] != (qi.has_edns != 0) ||
	    ((out[2] & 0x04) != 0) != (v == LOCAL_ZONE))	/* AA */
		abort();
	/* The question's bytes, case and all. */
	if (memcmp(out + DNS_HDR_LEN, data + DNS_HDR_LEN,
	    qi.question_end - DNS_HDR_LEN) != 0)
		abort();
	if (local_answer(&qi, &cfg, again, n - 1, &m) != v || m != 0)
		abort();
	if (local_answer(&qi, &cfg, again, n, &m) != v || m != n ||
	    memcmp(again, out, n) != 0)
		abort();
	return 0;
}
