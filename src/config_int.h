/*
 * Private to the files of the config module (config.c, config_url.c).
 */
#ifndef DOHSTUB_CONFIG_INT_H
#define DOHSTUB_CONFIG_INT_H

#include <stddef.h>

/* snprintf into err, unless err is NULL or errlen 0. */
void	config_errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
