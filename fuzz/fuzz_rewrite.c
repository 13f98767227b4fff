/*
 * Fuzz dnsmsg_make_upstream_query(), dnsmsg_rewrite_answer() and
 * dnsmsg_add_ede().
 * Input: one byte n, n bytes of client query, then an upstream answer
 * (the answer target's format, so its seeds serve here too).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/dnsmsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The built query: ID 0, RD/CD only (CD as asked), one question, one
 * OPT (DO as asked), padded.  dnssec 0 relays the client's DO and CD,
 * 1 sets both (validate), 2 clears both.
 */
static void
fuzz_build(const struct dns_query_info *qi, unsigned block, int dnssec)
{
	struct dns_query_info bq;
	uint8_t out[1024];
	size_t n;
	int do_bit = dnssec == 0 ? qi->edns_do : dnssec == 1;
	int cd_bit = dnssec == 0 ? (qi->flags & DNS_FLAG_CD) != 0 :
	    dnssec == 1;

	n = dnsmsg_make_upstream_query(out, sizeof(out), qi, 1232, block,
	    do_bit, cd_bit);
	if (qi->qname_len == 0) {
		if (n != 0)
			abort();
		return;
	}
	if (n == 0 || (block != 0 && n % block != 0) ||
	    dnsmsg_parse_query(out, n, &bq) != DNS_VERDICT_OK ||
	    bq.id != 0 || bq.msg_len != n ||
	    bq.flags != ((qi->flags & DNS_FLAG_RD) |
	    (cd_bit ? DNS_FLAG_CD : 0)) ||
	    !bq.has_edns || bq.edns_size != 1232 ||
	    bq.edns_do != do_bit || bq.qname_len != qi->qname_len ||
	    memcmp(bq.qname, qi->qname, qi->qname_len) != 0 ||
	    bq.qtype != qi->qtype || bq.qclass != qi->qclass)
		abort();
	if (dnsmsg_make_upstream_query(out, n - 1, qi, 1232, block, do_bit,
	    cd_bit) != 0)
		abort();
}

static void
fuzz_rewrite(const uint8_t *ans, size_t len, const struct dns_query_info *qi,
    int usable, int ede, const char *text)
{
	uint8_t *out;
	size_t n, cap = len + 64;

	if ((out = malloc(cap)) == NULL)
		abort();
	n = dnsmsg_rewrite_answer(ans, len, out, cap, qi, 1232, ede, text);
	if (n != 0) {
		if (n < DNS_HDR_LEN || dnsmsg_get_id(out) != qi->id ||
		    memcmp(out + DNS_HDR_LEN, qi->qname, qi->qname_len) != 0)
			abort();
		/* A usable answer stays usable. */
		if (usable && dnsmsg_check_answer(out, n, qi) != 0)
			abort();
		/* One byte less does not fit (and leaves out spoilt),
		 * exactly fitting does. */
		if (dnsmsg_rewrite_answer(ans, len, out, n - 1, qi, 1232, ede,
		    text) != 0 || dnsmsg_rewrite_answer(ans, len, out, n, qi,
		    1232, ede, text) != n)
			abort();
		/* Our OPT is last: an EDE can always be added to it. */
		if (qi->has_edns && (dnsmsg_add_ede(out, n, cap, 3, NULL) !=
		    n + 6 || (usable && dnsmsg_check_answer(out, n + 6,
		    qi) != 0)))
			abort();
	}
	/* On the upstream's own bytes: never past cap, never shorter. */
	if (len <= cap) {
		memcpy(out, ans, len);
		n = dnsmsg_add_ede(out, len, cap, 0, "x");
		if (n != 0 && n != len + 7)
			abort();
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query_info qi;
	uint8_t *ans;
	size_t qlen, alen;
	int usable;

	if (size < 1)
		return 0;
	qlen = data[0];
	if (size - 1 < qlen)
		return 0;
	(void)dnsmsg_parse_query(data + 1, qlen, &qi);
	fuzz_build(&qi, 128, 0);
	fuzz_build(&qi, 0, 0);
	fuzz_build(&qi, 1 + qlen % 512, 0);
	fuzz_build(&qi, 128, 1);
	fuzz_build(&qi, 128, 2);
	alen = size - 1 - qlen;
	if ((ans = malloc(alen ? alen : 1)) == NULL)
		abort();
	memcpy(ans, data + 1 + qlen, alen);
	usable = dnsmsg_check_answer(ans, alen, &qi) == 0;
	fuzz_rewrite(ans, alen, &qi, usable, -1, NULL);
	fuzz_rewrite(ans, alen, &qi, usable, DNS_EDE_OTHER, "plain");
	qi.has_edns = !qi.has_edns;
	fuzz_rewrite(ans, alen, &qi, usable, DNS_EDE_NO_REACHABLE, NULL);
	free(ans);
	return 0;
}
