/*
 * Private to the files of the config module: config.c (the settings
 * table, reading and printing), config_url.c (URL and resolve-pin
 * syntaxes) and config_check.c (config_finalize).
 */
#ifndef DOHSTUB_CONFIG_INT_H
#define DOHSTUB_CONFIG_INT_H

#include <stddef.h>

#define CONFIG_DNS_PORT		53	/* listen and servers by default */

/* snprintf into err, unless err is NULL or errlen 0. */
void	config_errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Read a whole file, NUL-terminated (it may hold NULs of its own); at
 * most 1 MiB, or EFBIG.  On success *bufp is the caller's to free.
 * Returns 0, or -1 with errno set.
 */
int	config_slurp(const char *path, char **bufp, size_t *lenp);

#endif
