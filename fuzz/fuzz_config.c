/*
 * Fuzz the configuration file parser as dohstub -nv drives it: parse,
 * finalize (without a resolv.conf or a trust-anchor file) and print.
 * What parses must also print back to text that parses to the same
 * configuration, or -nv would lie.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dohstub/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
fuzz_print(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	config_print(cfg, fp);
	fclose(fp);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct config cfg, again;
	char err[CONFIG_ERRLEN], *p1 = NULL, *p2 = NULL;
	int ok;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		return 0;
	config_defaults(&cfg);
	ok = config_parse_buf(&cfg, "fuzz", (const char *)data, size, err,
	    sizeof(err)) == 0;
	/* resolv-conf could name /dev/stdin: never read what it names. */
	if (cfg.resolv_conf != NULL) {
		free(cfg.resolv_conf);
		if ((cfg.resolv_conf = strdup("/nonexistent")) == NULL)
			ok = 0;
	}
	/* Nor trust-anchor's: the anchors built in, as on any machine. */
	free(cfg.trust_anchor);
	cfg.trust_anchor = NULL;
	config_trust_anchor_default = "/nonexistent";
	ok = ok && config_finalize(&cfg, "/nonexistent", err,
	    sizeof(err)) == 0;
	config_print(&cfg, devnull);
	if (ok && (p1 = fuzz_print(&cfg)) != NULL) {
		config_defaults(&again);
		if (config_parse_buf(&again, "printed", p1, strlen(p1), err,
		    sizeof(err)) == -1 ||
		    config_finalize(&again, "/nonexistent", err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "printed config rejected: %s\n%s", err,
			    p1);
			abort();
		}
		if ((p2 = fuzz_print(&again)) != NULL && strcmp(p1, p2) != 0) {
			fprintf(stderr, "print is not stable:\n%s---\n%s", p1,
			    p2);
			abort();
		}
		config_free(&again);
	}
	free(p1);
	free(p2);
	config_free(&cfg);
	return 0;
}
