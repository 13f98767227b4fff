/*
 * Fuzz dnsmsg_parse_query() and what the daemon does next with a query:
 * synthesise an error answer, check it against the query, and truncate.
 * Invariants are checked with abort() so libFuzzer reports them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_name(const struct dns_query_info *qi)
{
	char buf[DNS_MAX_NAME_TEXT], small[7];
	int r;

	/* Any name read from a question fits, escapes and all. */
	r = dnsmsg_name_to_text(qi->qname, qi->qname_len, buf, sizeof(buf),
	    0);
	if (strlen(buf) >= sizeof(buf))
		abort();
	if (qi->qname_len != 0 && (r != 0 || buf[0] == '\0'))
		abort();
	(void)dnsmsg_name_to_text(qi->qname, qi->qname_len, small,
	    sizeof(small), 0);
	if (strlen(small) >= sizeof(small) ||
	    strncmp(small, buf, strlen(small)) != 0)
		abort();
}

/* Truncate a copy of msg to limit and check what came out. */
static void
fuzz_truncate(const uint8_t *msg, size_t len, size_t limit,
    const struct dns_query_info *qi)
{
	uint8_t *copy;
	size_t n;

	if ((copy = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(copy, msg, len);
	n = dnsmsg_truncate(copy, len, limit, qi);
	if (n > len || n > limit)
		abort();
	if (len <= limit && (n != len || memcmp(copy, msg, len) != 0))
		abort();
	if (len > limit && n != 0) {
		if (n < DNS_HDR_LEN || (copy[2] & 0x02) == 0 ||
		    copy[6] != 0 || copy[7] != 0 ||
		    copy[8] != 0 || copy[9] != 0 ||
		    copy[11] != (qi->has_edns != 0))
			abort();
		/* Everything past the result is untouched. */
		if (memcmp(copy + n, msg + n, len - n) != 0)
			abort();
		if (dnsmsg_check_answer(msg, len, qi) == 0 &&
		    dnsmsg_check_answer(copy, n, qi) != 0)
			abort();
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int rcodes[] = { DNS_RCODE_FORMERR, DNS_RCODE_SERVFAIL,
	    DNS_RCODE_NOTIMP, DNS_RCODE_REFUSED, DNS_RCODE_BADVERS };
	struct dns_query_info qi, back;
	enum dns_verdict v;
	uint8_t out[DNS_UDP_PLAIN_MAX], *copy;
	size_t n, limit;
	unsigned i;

	v = dnsmsg_parse_query(data, size, &qi);
	if ((unsigned)v > DNS_VERDICT_BADVERS || dns_verdict_names[v] == NULL)
		abort();
	if (v == DNS_VERDICT_DROP)
		return 0;
	if (qi.id != dnsmsg_get_id(data) || qi.qname_len > DNS_MAX_NAME ||
	    qi.question_end > size || qi.msg_len > size)
		abort();
	/* BADVERS is a query that would be OK but for its EDNS version
	 * (FORMERR may keep an OPT read before what broke). */
	if ((v == DNS_VERDICT_BADVERS || v == DNS_VERDICT_OK) &&
	    (v == DNS_VERDICT_BADVERS) != (qi.has_edns &&
	    qi.edns_version != 0))
		abort();
	if (v == DNS_VERDICT_OK || v == DNS_VERDICT_BADVERS) {
		if (qi.qname_len == 0 || qi.question_end <= DNS_HDR_LEN ||
		    qi.msg_len < qi.question_end)
			abort();
		/* No answer records; authority only IXFR's one SOA. */
		if (data[6] != 0 || data[7] != 0 || data[8] != 0 ||
		    (data[9] != 0 && (data[9] != 1 ||
		    qi.qtype != DNS_TYPE_IXFR)))
			abort();
		/* The query with QR set must pass as its own answer. */
		if ((copy = malloc(qi.msg_len)) == NULL)
			abort();
		memcpy(copy, data, qi.msg_len);
		copy[2] |= 0x80;
		if (dnsmsg_check_answer(copy, qi.msg_len, &qi) != 0)
			abort();
		free(copy);
		/* And parse the same without what followed it. */
		if (dnsmsg_parse_query(data, qi.msg_len, &back) != v ||
		    back.msg_len != qi.msg_len)
			abort();
	}
	limit = dnsmsg_udp_limit(&qi, DNS_EDNS_DEFAULT_MAX);
	if (limit < DNS_UDP_PLAIN_MAX || limit > DNS_EDNS_DEFAULT_MAX)
		abort();
	fuzz_name(&qi);

	for (i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		/* Header, the largest name, type and class, OPT: it fits;
		 * but an extended rcode needs an OPT to carry it. */
		n = dnsmsg_make_error(out, sizeof(out), &qi, rcodes[i]);
		if (rcodes[i] > 15 && !qi.has_edns) {
			if (n != 0)
				abort();
			continue;
		}
		if (n < DNS_HDR_LEN || n > 12 + DNS_MAX_NAME + 4 + 11 ||
		    dnsmsg_rcode(out) != (rcodes[i] & 0xf) ||
		    dnsmsg_get_id(out) != qi.id)
			abort();
		/* RA only for QUERY; the OPT last, version 0, extended
		 * rcode in its TTL's first byte. */
		if (((out[3] & 0x80) != 0) != ((qi.flags & 0x7800) == 0))
			abort();
		if (qi.has_edns && (n < DNS_HDR_LEN + 11 ||
		    out[n - 11 + 5] != rcodes[i] >> 4 || out[n - 11 + 6] != 0))
			abort();
		if (dnsmsg_make_error(out, n - 1, &qi, rcodes[i]) != 0)
			abort();
		if (v == DNS_VERDICT_OK || v == DNS_VERDICT_BADVERS ||
		    (qi.qname_len != 0 && (qi.flags & 0x7800) == 0)) {
			if (dnsmsg_check_answer(out, n, &qi) != 0)
				abort();
		}
		/* Back as a query (QR cleared), it says the same. */
		out[2] &= 0x7f;
		if (dnsmsg_parse_query(out, n, &back) == DNS_VERDICT_DROP ||
		    back.qname_len != qi.qname_len ||
		    memcmp(back.qname, qi.qname, qi.qname_len) != 0 ||
		    back.has_edns != qi.has_edns ||
		    back.edns_do != qi.edns_do || back.edns_version != 0)
			abort();
		fuzz_truncate(out, n, n - 1, &qi);
	}

	fuzz_truncate(data, size, DNS_HDR_LEN, &qi);
	fuzz_truncate(data, size, 64, &qi);
	fuzz_truncate(data, size, DNS_UDP_PLAIN_MAX, &qi);
	fuzz_truncate(data, size, size / 2, &qi);
	fuzz_truncate(data, size, size, &qi);
	return 0;
}
