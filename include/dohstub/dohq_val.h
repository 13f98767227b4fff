/*
 * dohq_val: dohq --validate, the DNSSEC chain of trust of one answer
 * judged by the daemon's validator (validator.h), as delv judges one.
 * The answer is asked (by dohq) with DO and CD; each DS or DNSKEY set
 * the validator lacks is fetched here over dohq's DoH connection with
 * DO and CD (as the daemon's own chain queries are), one at a time,
 * until a verdict or VALIDATOR_MAX_NEEDS queries.  An answer that stops
 * at a CNAME whose target holds none of the data (an authoritative
 * server's, at its zone's edge) has the target asked and joined to it,
 * as a resolver would.  Time is the wall clock (clock_wall()).
 *
 * What it says is for dohq_out: the verdict, the answer judged and the
 * chain of trust, from the anchor down (dohq_out.h).  Part of the dohq
 * executable only.
 */
#ifndef DOHSTUB_DOHQ_VAL_H
#define DOHSTUB_DOHQ_VAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "dohstub/dnsmsg.h"
#include "dohstub/doh.h"
#include "dohstub/dohq_out.h"
#include "dohstub/validator.h"

struct config;
struct dohq_val;

/*
 * A request that failed (not DOH_OK) as dohq's exit status, with why in
 * buf (size bytes); arg is the params' arg.
 */
typedef int dohq_val_error_cb(enum doh_result res, int http_status,
	    char *buf, size_t size, void *arg);
/* The verdict is in (dohq_val_result()); from a callback of the loop. */
typedef void dohq_val_done_cb(struct dohq_val *val, void *arg);

/* How the chain's queries go: dohq's settings.  Copied. */
struct dohq_val_params {
	struct event_base	*base;
	unsigned		 timeout_ms;	/* each query's */
	uint16_t		 edns_size;	/* > 0: DO needs EDNS */
	unsigned		 pad_block;	/* RFC 8467 padding; 0 none */
	dohq_val_error_cb	*error;
	dohq_val_done_cb	*done;
	void			*arg;
};

/*
 * A validator with the trust anchors and insecure zones as the daemon
 * takes them (config_dnssec_load(), which fills cfg->anchors and
 * cfg->insecure): cfg->trust_anchor's file (dohq's --trust-anchor, or
 * the configuration it read), else CONFIG_TRUST_ANCHOR if it exists,
 * else the root's built in.  cfg must outlive *out.
 * Returns 0 with *out, or an exit status of dohq(1) with the message in
 * err (errlen bytes): 66 (DOHQ_NOINPUT) for an unreadable file, 64
 * (DOHQ_USAGE) for one that holds no anchors, 70 when out of memory.
 */
int	dohq_val_new(struct config *cfg,
	    const struct dohq_val_params *p, struct dohq_val **out, char *err,
	    size_t errlen);

/*
 * Judge the answer msg (len bytes, copied) to the question qi (copied),
 * which passed dnsmsg_check_answer(), fetching over doh (which must
 * outlive val) what the chain needs; params' done is called once with
 * the verdict, from the loop or, when nothing could be fetched, before
 * this returns.  Once per dohq_val.
 */
void	dohq_val_start(struct dohq_val *val, struct doh_client *doh,
	    const struct dns_query_info *qi, const uint8_t *msg, size_t len);

/*
 * After done: the verdict, the chain of trust and the answer judged (the
 * server's, or joined to its CNAME target's); valid as long as val.
 */
const struct dohq_out_validation *dohq_val_result(const struct dohq_val *);
enum val_state dohq_val_state(const struct dohq_val *);
const uint8_t *dohq_val_answer(const struct dohq_val *, size_t *len);

/*
 * After done: the exit status of the first chain query that failed on
 * the connection or over HTTP (the verdict is then bogus, EDE 22), with
 * *why saying which and how (valid as long as val); 0 if none did.
 */
int	dohq_val_failure(const struct dohq_val *, const char **why);

/* Cancels a query in flight: call it before the doh client goes. */
void	dohq_val_free(struct dohq_val *);

#endif
