/*
 * resolvconf: the nameservers of a resolv.conf(5).  The parser reads a
 * buffer and does no I/O, so it can be tested and fuzzed; config_finalize()
 * reads the file and takes what this finds as the default fallback and
 * bootstrap servers.
 */
#ifndef DOHSTUB_RESOLVCONF_H
#define DOHSTUB_RESOLVCONF_H

#include <stddef.h>
#include <stdint.h>

#include "dohstub/addr.h"

#define RESOLVCONF_PORT	53

/* Should a server be left out (1) or kept (0)? */
typedef int resolvconf_skip_fn(const struct addr *a, const void *arg);

/*
 * The addresses of buf's "nameserver" lines (len bytes; a NUL byte ends
 * the text), port RESOLVCONF_PORT, in file order, each once, leaving out
 * those skip (unless NULL) returns 1 for: at most max of them, written to
 * out.  A line that is not a nameserver line or whose address does not
 * parse is passed over.  Returns how many were written.
 */
size_t	resolvconf_nameservers(const char *buf, size_t len, struct addr *out,
	    size_t max, resolvconf_skip_fn *skip, const void *arg);

#endif
