/*
 * policy: the allow/deny decision and the forward-rule lookup, apart from
 * config.c, which only reads and checks the lists these walk.
 */
#include <stddef.h>
#include <stdint.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/policy.h"

/* The longest prefix of list[n] holding a, or -1. */
static int
policy_longest(const struct addr_prefix *list, size_t n,
    const struct addr *a)
{
	int best = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if ((int)list[i].bits > best && addr_prefix_match(&list[i], a))
			best = (int)list[i].bits;
	return best;
}

int
policy_acl_allows(const struct config *cfg, const struct addr *a)
{
	static struct addr_prefix defaults[16];
	static size_t ndefaults;
	int allow, deny;
	size_t i;

	allow = policy_longest(cfg->allow, cfg->nallow, a);
	deny = policy_longest(cfg->deny, cfg->ndeny, a);
	if (allow >= 0 || deny >= 0)
		return allow > deny;
	if (ndefaults == 0)
		for (i = 0; config_acl_defaults[i] != NULL &&
		    ndefaults < sizeof(defaults) / sizeof(defaults[0]); i++)
			if (addr_prefix_parse(config_acl_defaults[i],
			    &defaults[ndefaults], NULL, 0) == 0)
				ndefaults++;
	return policy_longest(defaults, ndefaults, a) >= 0;
}

const struct config_forward *
policy_find_forward(const struct config *cfg, const uint8_t *name,
    size_t len)
{
	const struct config_forward *f, *best = NULL;
	size_t i;

	for (i = 0; i < cfg->nforward; i++) {
		f = &cfg->forward[i];
		if ((best == NULL || f->zone.len > best->zone.len) &&
		    dnsmsg_name_below(name, len, f->zone.name, f->zone.len))
			best = f;
	}
	return best;
}
