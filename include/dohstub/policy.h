/*
 * policy: run-time decisions read from a loaded configuration (config.h):
 * may a client send queries (allow, deny), and which forward rule a query
 * name falls under.  Lookups only: cfg is read, never kept or changed,
 * and nothing is allocated.
 */
#ifndef DOHSTUB_POLICY_H
#define DOHSTUB_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"

/*
 * May a client at a send queries?  The longest prefix of cfg's allow and
 * deny lists that holds a wins (deny on a tie); if none does, the
 * defaults (config_acl_defaults: loopback, RFC 1918, RFC 6598, ULA and
 * link-local) are allowed and everything else refused.  Returns 1 or 0.
 */
int	policy_acl_allows(const struct config *cfg, const struct addr *a);

/*
 * The rule whose zone is the longest at or below which the wire name
 * (len bytes, uncompressed) lies, or NULL.  The rule belongs to cfg.
 */
const struct config_forward *policy_find_forward(const struct config *cfg,
	    const uint8_t *name, size_t len);

#endif
