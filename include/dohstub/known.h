/*
 * known: the DoH servers known by address, as Windows' "netsh dns show
 * encryption": a built-in table of public resolvers (provider, address,
 * URL template) that the configuration extends or overrides with
 * "known-server ADDR URL".  An address server (config.h) that is known is
 * reached at its own address with the URL's host name verified, so it
 * needs neither a bootstrap lookup nor DDR.  Pure: no I/O but printing.
 */
#ifndef DOHSTUB_KNOWN_H
#define DOHSTUB_KNOWN_H

#include <stddef.h>
#include <stdio.h>

#include "dohstub/addr.h"

struct config;

/* One address of a provider; static strings. */
struct known_entry {
	const char	*provider;	/* "Cloudflare" */
	const char	*addr;		/* an IP address, no port */
	const char	*url;		/* the DoH URL, its host a name */
};

extern const struct known_entry known_builtin[];
extern const size_t known_nbuiltin;

/*
 * The DoH URL for the address a (its port ignored): cfg's known-server
 * entries first (cfg may be NULL), then the built-in table.  *provider
 * (if provider is not NULL) is set to the provider's name, "" for a
 * known-server entry.  Returns NULL if a is not a known server.  The
 * strings live as long as cfg (or forever, for the built-in table).
 */
const char *known_lookup(const struct config *cfg, const struct addr *a,
	    const char **provider);

/*
 * The table in the file syntax, for -nv and dohq --known: cfg's
 * known-server lines (cfg may be NULL), then the built-in entries as
 * comments naming their provider ("# known-server 9.9.9.9 URL\t(Quad9)"),
 * those that cfg overrides said so.  What it prints parses back.
 */
void	known_print(const struct config *cfg, FILE *fp);

#endif
