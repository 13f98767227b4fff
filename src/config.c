/*
 * config: one table of settings serves the file, the environment and the
 * flags, so a key means the same thing wherever it is written.  A row of
 * config_settings[] is the whole description of a setting: its kind (how
 * it is parsed, emptied and printed), the field it fills (type-checked),
 * its range and its default as the file would write it.  config_defaults,
 * config_set, config_free and config_print are loops over the table; a
 * new setting is one row.  Only kinds with a syntax of their own (forward
 * rules, an entry of upstream or resolve) have code of their own.
 *
 * The parsers do no I/O (config_parse_buf) so they can be fuzzed; only
 * config_parse_file here and config_finalize (config_check.c) read files.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/tls1.h>

#include "dohstub/addr.h"
#include "dohstub/config.h"
#include "dohstub/dnsmsg.h"
#include "dohstub/dnssec.h"
#include "dohstub/known.h"
#include "dohstub/log.h"

#include "config_int.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define CONFIG_LINE_MAX		1024	/* bytes, without the newline */
#define CONFIG_FILE_MAX		(1024 * 1024)
#define CONFIG_DURSTRLEN	32
#define CONFIG_NLOGLEVELS	4	/* log_level_names */

const char *const config_mode_names[] = {
	"encrypted-only", "encrypted-preferred", "plaintext",
};
const char *const config_portal_names[] = { "off", "ask", "auto" };
const char *const config_method_names[] = { "post", "get" };
const char *const config_policy_names[] = {
	"ordered", "fastest", "round-robin",
};
const char *const config_dnssec_names[] = { "off", "process", "validate" };

/*
 * RFC 6303's private reverse zones (10/8, 172.16/12, 192.168/16,
 * 100.64/10 of RFC 6598, fd00::/8), RFC 8375's home.arpa, RFC 6762's
 * local, and what private networks use without a registry behind it.
 */
const char *const config_insecure_defaults[] = {
	"10.in-addr.arpa", "16-31.172.in-addr.arpa", "168.192.in-addr.arpa",
	"64-127.100.in-addr.arpa", "d.f.ip6.arpa", "home.arpa", "local",
	"internal", "lan", "intranet", "corp", "private", NULL,
};

const char *config_trust_anchor_default = CONFIG_TRUST_ANCHOR;

static const char *const config_tls_names[] = { "1.2", "1.3" };
static const int config_tls_versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
static const char *const config_bool_names[] = { "no", "yes" };
static const char *const config_log_format_names[] = { "text", "json" };
static const char *const config_ratelimit_action_names[] = { "truncate",
    "drop" };

struct config_setting;

/* A suffix of a number and what it multiplies by ("" for none). */
struct config_suffix {
	const char	*s;
	unsigned	 mult;
};

/* How one kind of setting is parsed, emptied and printed. */
struct config_kind {
	/* Parse v into cfg; a reason without source or key on error. */
	int	(*set)(const struct config_setting *st, struct config *cfg,
		    const char *v, char *reason, size_t len);
	/* Free and forget the value; NULL where nothing can be owned. */
	void	(*clear)(const struct config_setting *st, struct config *cfg);
	/* The value in the file syntax, or a comment saying it is unset. */
	void	(*print)(const struct config_setting *st,
		    const struct config *cfg, FILE *fp);
	/*
	 * A list: repeating the key appends, a higher source replaces
	 * (clear), the environment separates values with commas.
	 */
	int	list;
	/* The value is words to the end of the line, quoted or not. */
	int	words;
	/* Unsigned kinds: the suffixes, "is not WHAT" and the printer. */
	const struct config_suffix *suffixes;
	const char *what;
	int	say_word;	/* "is not WHAT or WORD" */
	void	(*fmt)(unsigned v, char *buf, size_t size);
	/* Lists (set_list): one entry parsed, printed, freed (or NULL). */
	int	(*parse)(const struct config_setting *st, void *entry,
		    const char *v, char *reason, size_t len);
	void	(*print_entry)(const struct config_setting *st,
		    const void *entry, FILE *fp);
	void	(*free)(void *entry);
};

#define CONFIG_F_SERVER		0x01	/* addresses: no wildcard */
#define CONFIG_F_ABSPATH	0x02	/* strings: an absolute path */
#define CONFIG_F_LOGDEST	0x04	/* strings: off (NULL), stderr or an
					   absolute path */

struct config_setting {
	const char		*name;
	const struct config_kind *kind;
	size_t			 off;	/* the field in struct config */
	size_t			 noff;	/* lists: the count's field */
	unsigned		 min, max; /* range; lists: max is the room */
	size_t			 size;	/* lists: an entry's size */
	const char		*def;	/* default, as written; or NULL */
	const char *const	*names;	/* choices, in value order */
	size_t			 nnames;
	const int		*values; /* stored for names[i]; NULL: i */
	const char		*word;	/* a word besides numbers ("auto") */
	unsigned		 wordval; /* ... and what it stores */
	const char		*none;	/* unset: printed "# key: none" */
	int			 flags;	/* CONFIG_F_* */
};

void
config_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Not isspace(3): the locale must not change what a file means. */
static int
config_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int
config_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

/*
 * Strict decimal: s[0..n) digits only, no sign or space.  Returns 0, -1
 * if it is not a number, -2 if it exceeds max.
 */
static int
config_decimal(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0, d;
	size_t i;
	int over = 0;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!config_isdigit((unsigned char)s[i]))
			return -1;
		d = (uint64_t)(s[i] - '0');
		if (over || v > max / 10 || (v == max / 10 && d > max % 10))
			over = 1;
		else
			v = v * 10 + d;
	}
	if (over)
		return -2;
	*out = v;
	return 0;
}

/* A size as it is written: "1m", "64k", "1000". */
static void
config_fmt_size(unsigned v, char *buf, size_t size)
{
	if (v != 0 && v % (1024 * 1024) == 0)
		snprintf(buf, size, "%um", v / (1024 * 1024));
	else if (v != 0 && v % 1024 == 0)
		snprintf(buf, size, "%uk", v / 1024);
	else
		snprintf(buf, size, "%u", v);
}

static void
config_fmt_duration(unsigned ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%us", ms / 1000);
	else
		snprintf(buf, size, "%ums", ms);
}

/* Values, whatever the setting. */

static int
config_choice(const char *v, const char *const names[], size_t n,
    size_t *out, char *reason, size_t len)
{
	char list[128];
	size_t i, used = 0;

	for (i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	list[0] = '\0';
	for (i = 0; i < n && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%s%s", i > 0 ? ", " : "", names[i]);
	config_errf(reason, len, "\"%s\" is not one of %s", v, list);
	return -1;
}

static int
config_strdup_to(char **dst, const char *v, char *reason, size_t len)
{
	char *s;

	if ((s = strdup(v)) == NULL) {
		config_errf(reason, len, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

/* An address, port 53 by default; a server's is not a wildcard. */
static int
config_addr(const char *v, int server, struct addr *out, char *reason,
    size_t len)
{
	struct addr a;

	if (addr_parse(v, CONFIG_DNS_PORT, &a, reason, len) == -1)
		return -1;
	if (server && addr_is_wildcard(&a)) {
		config_errf(reason, len, "\"%s\" is a wildcard, not a server "
		    "address", v);
		return -1;
	}
	*out = a;
	return 0;
}

static int
config_zone(const char *v, struct config_zone *z, char *reason, size_t len)
{
	if ((z->len = dnsmsg_name_from_text(v, z->name, sizeof(z->name))) ==
	    0) {
		config_errf(reason, len, "\"%s\" is not a domain name", v);
		return -1;
	}
	return 0;
}

/* The kinds of settings. */

static void *
config_field(struct config *cfg, const struct config_setting *st)
{
	return (char *)cfg + st->off;
}

static const void *
config_cfield(const struct config *cfg, const struct config_setting *st)
{
	return (const char *)cfg + st->off;
}

/* A list's count. */
static size_t *
config_count(struct config *cfg, const struct config_setting *st)
{
	return (size_t *)(void *)((char *)cfg + st->noff);
}

static size_t
config_ccount(const struct config *cfg, const struct config_setting *st)
{
	return *(const size_t *)(const void *)((const char *)cfg + st->noff);
}

/* Is there room in list st, holding n, for one more? */
static int
config_room(const struct config_setting *st, size_t n, char *reason,
    size_t len)
{
	if (n < st->max)
		return 0;
	config_errf(reason, len, "too many (at most %u)", st->max);
	return -1;
}

static void
config_print_none(const struct config_setting *st, FILE *fp)
{
	fprintf(fp, "# %s: %s\n", st->name, st->none);
}

static void
config_print_value(FILE *fp, const char *key, const char *v)
{
	if (strpbrk(v, " \t#") != NULL)
		fprintf(fp, "%s \"%s\"\n", key, v);
	else
		fprintf(fp, "%s %s\n", key, v);
}

/* A choice, a boolean among them: one of st->names, stored as an int. */
static int
set_choice(const struct config_setting *st, struct config *cfg,
    const char *v, char *reason, size_t len)
{
	size_t i;

	if (config_choice(v, st->names, st->nnames, &i, reason, len) == -1)
		return -1;
	*(int *)config_field(cfg, st) = st->values != NULL ? st->values[i] :
	    (int)i;
	return 0;
}

static void
print_choice(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	const char *name = "?";
	size_t i;
	int v = *(const int *)config_cfield(cfg, st);

	for (i = 0; i < st->nnames; i++)
		if ((st->values != NULL ? st->values[i] : (int)i) == v)
			name = st->names[i];
	fprintf(fp, "%s %s\n", st->name, name);
}

static const struct config_kind kind_choice = {
	.set = set_choice, .print = print_choice,
};

/*
 * Numbers, durations (stored in ms) and sizes (bytes): digits and one of
 * the kind's suffixes, in st->min..st->max; or st->word.
 */
static int
set_unsigned(const struct config_setting *st, struct config *cfg,
    const char *v, char *reason, size_t len)
{
	const struct config_kind *k = st->kind;
	const struct config_suffix *sf;
	char lo[CONFIG_DURSTRLEN], hi[CONFIG_DURSTRLEN];
	unsigned *out = config_field(cfg, st);
	size_t n = strspn(v, "0123456789");
	uint64_t x;
	int rc;

	if (st->word != NULL && strcmp(v, st->word) == 0) {
		*out = st->wordval;
		return 0;
	}
	for (sf = k->suffixes; sf->s != NULL && strcmp(v + n, sf->s) != 0;
	    sf++)
		;
	/* The cap keeps x * mult within 64 bits for every suffix. */
	if (sf->s == NULL || (rc = config_decimal(v, n,
	    UINT64_MAX / (86400 * 1000), &x)) == -1) {
		config_errf(reason, len, "\"%s\" is not %s%s%s", v, k->what,
		    k->say_word && st->word != NULL ? " or " : "",
		    k->say_word && st->word != NULL ? st->word : "");
		return -1;
	}
	if (rc == -2 || x * sf->mult < st->min || x * sf->mult > st->max) {
		k->fmt(st->min, lo, sizeof(lo));
		k->fmt(st->max, hi, sizeof(hi));
		config_errf(reason, len, "\"%s\" is out of range (%s..%s)", v,
		    lo, hi);
		return -1;
	}
	*out = (unsigned)(x * sf->mult);
	return 0;
}

static void
print_unsigned(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	char buf[CONFIG_DURSTRLEN];
	unsigned v = *(const unsigned *)config_cfield(cfg, st);

	if (st->word != NULL && v == st->wordval) {
		fprintf(fp, "%s %s\n", st->name, st->word);
		return;
	}
	st->kind->fmt(v, buf, sizeof(buf));
	fprintf(fp, "%s %s\n", st->name, buf);
}

static void
config_fmt_number(unsigned v, char *buf, size_t size)
{
	snprintf(buf, size, "%u", v);
}

static const struct config_suffix config_plain[] = { { "", 1 }, { NULL, 0 } };
static const struct config_suffix config_ms[] = {
	{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60 * 1000 },
	{ "h", 3600 * 1000 }, { "d", 86400 * 1000 }, { NULL, 0 },
};
static const struct config_suffix config_bytes[] = {
	{ "", 1 }, { "k", 1024 }, { "K", 1024 }, { "m", 1024 * 1024 },
	{ "M", 1024 * 1024 }, { NULL, 0 },
};

static const struct config_kind kind_number = {
	.set = set_unsigned, .print = print_unsigned, .suffixes = config_plain,
	.what = "a number", .say_word = 1, .fmt = config_fmt_number,
};
static const struct config_kind kind_duration = {
	.set = set_unsigned, .print = print_unsigned, .suffixes = config_ms,
	.what = "a duration (N, Nms, Ns, Nm, Nh or Nd)",
	.fmt = config_fmt_duration,
};
static const struct config_kind kind_size = {
	.set = set_unsigned, .print = print_unsigned, .suffixes = config_bytes,
	.what = "a size (N, Nk or Nm)", .fmt = config_fmt_size,
};

/* A string, owned; NULL when unset. */
static int
set_string(const struct config_setting *st, struct config *cfg,
    const char *v, char *reason, size_t len)
{
	if ((st->flags & CONFIG_F_ABSPATH) && *v != '/') {
		config_errf(reason, len, "\"%s\": an absolute path is "
		    "required", v);
		return -1;
	}
	if (st->flags & CONFIG_F_LOGDEST) {
		if (strcmp(v, "off") == 0) {
			st->kind->clear(st, cfg);
			return 0;
		}
		if (strcmp(v, "stderr") != 0 && *v != '/') {
			config_errf(reason, len, "\"%s\": off, stderr or an "
			    "absolute path is required", v);
			return -1;
		}
	}
	return config_strdup_to(config_field(cfg, st), v, reason, len);
}

static void
clear_string(const struct config_setting *st, struct config *cfg)
{
	char **p = config_field(cfg, st);

	free(*p);
	*p = NULL;
}

static void
print_string(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	const char *v = *(char *const *)config_cfield(cfg, st);

	if (v != NULL)
		config_print_value(fp, st->name, v);
	else
		config_print_none(st, fp);
}

static const struct config_kind kind_string = {
	.set = set_string, .clear = clear_string, .print = print_string,
};

/* An address with a port, no default: what a scraper is told. */
static int
set_addr_port(const struct config_setting *st, struct config *cfg,
    const char *v, char *reason, size_t len)
{
	struct addr a;

	if (addr_parse(v, 0, &a, reason, len) == -1)
		return -1;
	if (addr_port(&a) == 0) {
		config_errf(reason, len, "\"%s\": a port is required "
		    "(ADDR:PORT, [IPv6]:PORT)", v);
		return -1;
	}
	*(struct addr *)config_field(cfg, st) = a;
	return 0;
}

static void
print_addr(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	const struct addr *a = config_cfield(cfg, st);
	char buf[ADDR_STRLEN];

	if (a->len != 0)
		fprintf(fp, "%s %s\n", st->name, addr_str(a, buf,
		    sizeof(buf)));
	else
		config_print_none(st, fp);
}

static const struct config_kind kind_addr_port = {
	.set = set_addr_port, .print = print_addr,
};

/*
 * Lists held in an array of st->max entries of st->size bytes, counted
 * by the field at st->noff: the kind parses, prints and frees one entry.
 */
static int
set_list(const struct config_setting *st, struct config *cfg,
    const char *v, char *reason, size_t len)
{
	char *list = config_field(cfg, st);
	size_t *n = config_count(cfg, st);

	if (config_room(st, *n, reason, len) == -1 ||
	    st->kind->parse(st, list + *n * st->size, v, reason, len) == -1)
		return -1;
	(*n)++;
	return 0;
}

/* Every entry, not just the counted ones: cfg may be half-filled. */
static void
clear_list(const struct config_setting *st, struct config *cfg)
{
	char *list = config_field(cfg, st);
	size_t i;

	for (i = 0; st->kind->free != NULL && i < st->max; i++)
		st->kind->free(list + i * st->size);
	memset(list, 0, st->max * st->size);
	*config_count(cfg, st) = 0;
}

static void
print_list(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	const char *list = config_cfield(cfg, st);
	size_t i, n = config_ccount(cfg, st);

	if (n == 0 && st->none != NULL)
		config_print_none(st, fp);
	for (i = 0; i < n; i++)
		st->kind->print_entry(st, list + i * st->size, fp);
}

/* Addresses; a server's (CONFIG_F_SERVER) is not a wildcard. */
static int
parse_addr(const struct config_setting *st, void *entry, const char *v,
    char *reason, size_t len)
{
	return config_addr(v, (st->flags & CONFIG_F_SERVER) != 0, entry,
	    reason, len);
}

static void
print_addr_entry(const struct config_setting *st, const void *entry,
    FILE *fp)
{
	char a[ADDR_STRLEN];

	fprintf(fp, "%s %s\n", st->name, addr_str(entry, a, sizeof(a)));
}

static const struct config_kind kind_addrs = {
	.set = set_list, .clear = clear_list, .print = print_list, .list = 1,
	.parse = parse_addr, .print_entry = print_addr_entry,
};

/* Prefixes, for allow and deny. */
static int
parse_prefix(const struct config_setting *st, void *entry, const char *v,
    char *reason, size_t len)
{
	(void)st;
	return addr_prefix_parse(v, entry, reason, len);
}

static void
print_prefix(const struct config_setting *st, const void *entry, FILE *fp)
{
	char a[ADDR_STRLEN];

	fprintf(fp, "%s %s\n", st->name, addr_prefix_str(entry, a,
	    sizeof(a)));
}

static const struct config_kind kind_prefixes = {
	.set = set_list, .clear = clear_list, .print = print_list, .list = 1,
	.parse = parse_prefix, .print_entry = print_prefix,
};

/* As dnsdist's default ACL: the host and the private networks. */
const char *const config_acl_defaults[] = {
	"127.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16",
	"172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7",
	"fe80::/10", NULL,
};

/* deny, then what holds where neither allow nor deny does. */
static void
print_deny(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	size_t i;

	print_list(st, cfg, fp);
	fprintf(fp, "# allowed where no allow or deny holds:");
	for (i = 0; config_acl_defaults[i] != NULL; i++)
		fprintf(fp, " %s", config_acl_defaults[i]);
	fprintf(fp, "\n");
}

static const struct config_kind kind_deny = {
	.set = set_list, .clear = clear_list, .print = print_deny, .list = 1,
	.parse = parse_prefix, .print_entry = print_prefix,
};

/* Zones (local-zone-exempt), in wire form. */
static int
parse_zone(const struct config_setting *st, void *entry, const char *v,
    char *reason, size_t len)
{
	(void)st;
	return config_zone(v, entry, reason, len);
}

static void
print_zone(const struct config_setting *st, const void *entry, FILE *fp)
{
	const struct config_zone *z = entry;
	char name[DNS_MAX_NAME_TEXT];

	dnsmsg_name_to_text(z->name, z->len, name, sizeof(name),
	    DNSMSG_NAME_ZONE | DNSMSG_NAME_CONF);
	fprintf(fp, "%s %s\n", st->name, name);
}

static const struct config_kind kind_zones = {
	.set = set_list, .clear = clear_list, .print = print_list, .list = 1,
	.parse = parse_zone, .print_entry = print_zone,
};

/* dnssec-insecure: zones, not the root (that is dnssec process). */
static int
parse_insecure(const struct config_setting *st, void *entry, const char *v,
    char *reason, size_t len)
{
	struct config_zone *z = entry;

	(void)st;
	if (config_zone(v, z, reason, len) == -1)
		return -1;
	if (z->len == 1) {
		config_errf(reason, len, "the root cannot be insecure (dnssec "
		    "process leaves every answer unchecked)");
		return -1;
	}
	return 0;
}

/* The zones, then what is insecure besides. */
static void
print_insecure(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	size_t i;

	print_list(st, cfg, fp);
	fprintf(fp, "# insecure besides:");
	for (i = 0; config_insecure_defaults[i] != NULL; i++)
		fprintf(fp, " %s", config_insecure_defaults[i]);
	fprintf(fp, ", the local zones and every forward rule's zone\n");
}

static const struct config_kind kind_insecure = {
	.set = set_list, .clear = clear_list, .print = print_insecure,
	.list = 1, .parse = parse_insecure, .print_entry = print_zone,
};

/*
 * trust-anchor: a path; printed with the anchors config_finalize() read
 * and where from, as comments.
 */
static void
print_anchor(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	const struct dnssec_anchor *a;
	char name[DNS_MAX_NAME_TEXT];
	size_t i;

	if (cfg->trust_anchor != NULL)
		config_print_value(fp, st->name, cfg->trust_anchor);
	else
		fprintf(fp, "# %s: none: %s, or the root's keys built in\n",
		    st->name, config_trust_anchor_default);
	if (cfg->nanchors == 0)
		return;
	fprintf(fp, "# trust anchors (%s):", cfg->anchors_from);
	for (i = 0; i < cfg->nanchors; i++) {
		a = &cfg->anchors[i];
		(void)dnsmsg_name_to_text(a->owner, a->owner_len, name,
		    sizeof(name), DNSMSG_NAME_ZONE | DNSMSG_NAME_CONF);
		fprintf(fp, "%s %s %s %u %u", i > 0 ? "," : "", name,
		    a->type == DNS_TYPE_DS ? "DS" : "DNSKEY", a->tag,
		    a->algorithm);
	}
	fprintf(fp, "\n");
}

static const struct config_kind kind_anchor = {
	.set = set_string, .clear = clear_string, .print = print_anchor,
};

/* DoH URLs and address servers, each printed as written. */
static int
parse_upstream(const struct config_setting *st, void *entry, const char *v,
    char *reason, size_t len)
{
	(void)st;
	return config_parse_upstream(v, entry, reason, len);
}

static void
print_upstream(const struct config_setting *st, const void *entry,
    FILE *fp)
{
	const struct config_upstream *u = entry;

	config_print_value(fp, st->name, u->url);
}

static void
free_upstream(void *entry)
{
	config_upstream_free(entry);
}

static const struct config_kind kind_upstream = {
	.set = set_list, .clear = clear_list, .print = print_list, .list = 1,
	.parse = parse_upstream, .print_entry = print_upstream,
	.free = free_upstream,
};

/*
 * "known-server ADDR URL": the URL's host must be a name, the one the
 * server's certificate is checked for when it is reached at ADDR.
 */
static int
parse_known(const struct config_setting *st, void *entry, const char *v,
    char *reason, size_t len)
{
	struct config_known *k = entry;
	struct config_upstream u;
	char word[CONFIG_LINE_MAX + 1];
	const char *url;
	size_t n;

	(void)st;
	n = strcspn(v, " ");
	for (url = v + n; *url == ' '; url++)
		;
	if (*url == '\0' || strchr(url, ' ') != NULL) {
		config_errf(reason, len, "\"%s\": ADDR URL (an address, then "
		    "the DoH URL of the server there)", v);
		return -1;
	}
	/* config_set() bounds a value by the longest line. */
	if (n >= sizeof(word))
		n = sizeof(word) - 1;
	memcpy(word, v, n);
	word[n] = '\0';
	if (config_addr(word, 1, &k->addr, reason, len) == -1 ||
	    config_parse_url(url, &u, reason, len) == -1)
		return -1;
	if (u.host_is_ip) {
		config_errf(reason, len, "\"%s\": the URL's host must be a "
		    "name, which the certificate is checked for", url);
		config_upstream_free(&u);
		return -1;
	}
	k->url = u.url;
	u.url = NULL;
	config_upstream_free(&u);
	return 0;
}

static void
free_known(void *entry)
{
	struct config_known *k = entry;

	free(k->url);
}

/* known.c prints the entries, then the built-in table as comments. */
static void
print_known(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	if (cfg->nknown == 0)
		config_print_none(st, fp);
	known_print(cfg, fp);
}

static const struct config_kind kind_known = {
	.set = set_list, .clear = clear_list, .print = print_known, .list = 1,
	.words = 1, .parse = parse_known, .free = free_known,
};

/* Resolve pins, HOST:PORT:ADDR[,ADDR...]. */
static int
parse_resolve(const struct config_setting *st, void *entry, const char *v,
    char *reason, size_t len)
{
	(void)st;
	return config_parse_resolve(v, entry, reason, len);
}

static void
print_resolve(const struct config_setting *st, const void *entry,
    FILE *fp)
{
	const struct config_resolve *r = entry;
	char a[ADDR_STRLEN];
	size_t j;
	int v6;

	fprintf(fp, "%s %s:%u:", st->name, r->host, r->port);
	for (j = 0; j < r->naddrs; j++) {
		v6 = r->addrs[j].ss.ss_family == AF_INET6;
		fprintf(fp, "%s%s%s%s", j > 0 ? "," : "", v6 ? "[" : "",
		    addr_ip_str(&r->addrs[j], a, sizeof(a)), v6 ? "]" : "");
	}
	fprintf(fp, "\n");
}

static void
free_resolve(void *entry)
{
	struct config_resolve *r = entry;

	free(r->host);
}

static const struct config_kind kind_resolve = {
	.set = set_list, .clear = clear_list, .print = print_list, .list = 1,
	.parse = parse_resolve, .print_entry = print_resolve,
	.free = free_resolve,
};

static void
config_forward_free(struct config_forward *f)
{
	size_t i;

	for (i = 0; i < CONFIG_MAX_FORWARD_TARGETS; i++)
		config_upstream_free(&f->upstream[i]);
}

/* One target of rule f: a DoH URL or a plain DNS server, not both. */
static int
config_forward_target(struct config_forward *f, const char *t, char *reason,
    size_t len)
{
	int doh = strncasecmp(t, "https://", 8) == 0;

	if (f->nupstream + f->nservers > 0 && doh != f->doh) {
		config_errf(reason, len, "\"%s\": a rule's targets are all DoH "
		    "URLs or all plain DNS addresses", t);
		return -1;
	}
	if (f->nupstream + f->nservers >= CONFIG_MAX_FORWARD_TARGETS) {
		config_errf(reason, len, "too many targets (at most %d)",
		    CONFIG_MAX_FORWARD_TARGETS);
		return -1;
	}
	f->doh = doh;
	if (doh) {
		if (config_parse_url(t, &f->upstream[f->nupstream], reason,
		    len) == -1)
			return -1;
		f->nupstream++;
		return 0;
	}
	if (config_addr(t, 1, &f->servers[f->nservers], reason, len) == -1)
		return -1;
	f->nservers++;
	return 0;
}

/* "ZONE TARGET...", the words separated by spaces. */
static int
set_forward(const struct config_setting *st, struct config *cfg,
    const char *v, char *reason, size_t len)
{
	struct config_forward *f, *nf;
	char word[CONFIG_LINE_MAX + 1];
	const char *p = v;
	size_t i, n, nw;

	if (config_room(st, cfg->nforward, reason, len) == -1)
		return -1;
	if ((nf = realloc(cfg->forward, (cfg->nforward + 1) *
	    sizeof(*nf))) == NULL) {
		config_errf(reason, len, "out of memory");
		return -1;
	}
	cfg->forward = nf;
	f = &nf[cfg->nforward];
	memset(f, 0, sizeof(*f));
	for (nw = 0;; nw++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " ");
		/* config_set() bounds a value by the longest line. */
		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, p, n);
		word[n] = '\0';
		p += n;
		if (nw > 0) {
			if (config_forward_target(f, word, reason, len) == -1)
				goto fail;
			continue;
		}
		if (config_zone(word, &f->zone, reason, len) == -1)
			goto fail;
		/* The root would replace upstream and fallback. */
		if (f->zone.len == 1) {
			config_errf(reason, len, "the root zone cannot be "
			    "forwarded (upstream and fallback say where "
			    "everything else goes)");
			goto fail;
		}
		for (i = 0; i < cfg->nforward; i++)
			if (dnsmsg_name_equal(cfg->forward[i].zone.name,
			    cfg->forward[i].zone.len, f->zone.name,
			    f->zone.len)) {
				config_errf(reason, len, "zone \"%s\" is "
				    "forwarded twice", word);
				goto fail;
			}
	}
	if (nw < 2) {
		config_errf(reason, len, "\"%s\": ZONE TARGET... (a zone, then "
		    "DoH URLs or DNS server addresses, separated by spaces)",
		    v);
		goto fail;
	}
	cfg->nforward++;
	return 0;
 fail:
	config_forward_free(f);
	return -1;
}

static void
clear_forward(const struct config_setting *st, struct config *cfg)
{
	size_t i;

	(void)st;
	for (i = 0; i < cfg->nforward; i++)
		config_forward_free(&cfg->forward[i]);
	free(cfg->forward);
	cfg->forward = NULL;
	cfg->nforward = 0;
}

/* "forward ZONE TARGET...", plain targets with their port. */
static void
print_forward(const struct config_setting *st, const struct config *cfg,
    FILE *fp)
{
	const struct config_forward *f;
	char a[ADDR_STRLEN], name[DNS_MAX_NAME_TEXT];
	size_t i, j;

	if (cfg->nforward == 0)
		config_print_none(st, fp);
	for (i = 0; i < cfg->nforward; i++) {
		f = &cfg->forward[i];
		(void)dnsmsg_name_to_text(f->zone.name, f->zone.len, name,
		    sizeof(name), DNSMSG_NAME_ZONE | DNSMSG_NAME_CONF);
		fprintf(fp, "%s %s", st->name, name);
		for (j = 0; j < f->nupstream; j++)
			fprintf(fp, " %s", f->upstream[j].url);
		for (j = 0; j < f->nservers; j++)
			fprintf(fp, " %s", addr_str(&f->servers[j], a,
			    sizeof(a)));
		fprintf(fp, "%s\n", f->doh ? "" : "\t# plain DNS");
	}
}

static const struct config_kind kind_forward = {
	.set = set_forward, .clear = clear_forward, .print = print_forward,
	.list = 1, .words = 1,
};

/*
 * The settings, in the order config_print writes them.  The field is
 * checked against the kind's type: a choice is stored through an int,
 * whatever its enum.
 */
#define FIELD(f, type)	_Generic(((struct config *)0)->f,		\
			    type: offsetof(struct config, f))
#define INTFIELD(f)	(offsetof(struct config, f) + 0 * sizeof(char[	\
			    sizeof(((struct config *)0)->f) == sizeof(int) ? \
			    1 : -1]))
#define LIST(k, f, type, n)						\
	&(k), .off = FIELD(f, type), .noff = FIELD(n, size_t),		\
	.size = sizeof(*(type)0),					\
	.max = nitems(((struct config *)0)->f)
#define CHOICE(f, a)	\
	&kind_choice, .off = INTFIELD(f), .names = (a), .nnames = nitems(a)
#define BOOL(f)		CHOICE(f, config_bool_names)
#define NUMBER(f, lo, hi)	\
	&kind_number, .off = FIELD(f, unsigned), .min = (lo), .max = (hi)
#define DURATION(f, lo, hi)	\
	&kind_duration, .off = FIELD(f, unsigned), .min = (lo), .max = (hi)
#define SIZE(f, lo, hi)	\
	&kind_size, .off = FIELD(f, unsigned), .min = (lo), .max = (hi)
#define STRING(f)	&kind_string, .off = FIELD(f, char *)
#define SECONDS(n)	((n) * 1000)
#define HOURS(n)	((n) * 3600 * 1000)
#define DAYS(n)		((n) * 86400 * 1000)
#define KB		1024
#define MB		(1024 * 1024)

static const struct config_setting config_settings[] = {
	{ "listen", LIST(kind_addrs, listen, struct addr *, nlisten),
	    .none = "none" },
	{ "mode", CHOICE(mode, config_mode_names), .def = "encrypted-only" },
	{ "upstream", LIST(kind_upstream, upstream, struct config_upstream *,
	    nupstream), .none = "none" },
	{ "known-server", LIST(kind_known, known, struct config_known *,
	    nknown), .none = "none" },
	{ "ddr", BOOL(ddr), .def = "yes" },
	{ "ddr-opportunistic", BOOL(ddr_opportunistic), .def = "no" },
	{ "resolve", LIST(kind_resolve, resolve, struct config_resolve *,
	    nresolve), .none = "none" },
	{ "bootstrap", LIST(kind_addrs, bootstrap, struct addr *, nbootstrap),
	    .flags = CONFIG_F_SERVER, .none = "none" },
	/* At least a second: a TTL of 0 must not become a lookup loop. */
	{ "bootstrap-min-ttl", DURATION(bootstrap_min_ttl_ms, SECONDS(1),
	    HOURS(1)), .def = "30s" },
	{ "fallback", LIST(kind_addrs, fallback, struct addr *, nfallback),
	    .flags = CONFIG_F_SERVER, .none = "none" },
	{ "allow", LIST(kind_prefixes, allow, struct addr_prefix *, nallow) },
	{ "deny", LIST(kind_deny, deny, struct addr_prefix *, ndeny) },
	{ "local-zone-exempt", LIST(kind_zones, local_exempt,
	    struct config_zone *, nlocal_exempt), .none = "none" },
	/* Rules are few but large: an array that grows (set_forward). */
	{ "forward", &kind_forward, .off = FIELD(forward,
	    struct config_forward *), .noff = FIELD(nforward, size_t),
	    .max = CONFIG_MAX_FORWARD, .none = "none" },
	/* Readability is checked by config_finalize, after every source. */
	{ "ca-file", STRING(ca_file),
	    .none = "none, the system store is used" },
	{ "method", CHOICE(method, config_method_names), .def = "post" },
	{ "upstream-policy", CHOICE(upstream_policy, config_policy_names),
	    .def = "fastest" },
	{ "hedge-delay", DURATION(hedge_delay_ms, 0, SECONDS(60)),
	    .word = "auto", .wordval = CONFIG_HEDGE_AUTO, .def = "auto" },
	{ "tls-min-version", CHOICE(tls_min_version, config_tls_names),
	    .values = config_tls_versions, .def = "1.3" },
	/* Replay is harmless for DNS queries (RFC 8470); see the man page. */
	{ "tls-early-data", BOOL(tls_early_data), .def = "yes" },
	{ "timeout", DURATION(timeout_ms, 100, SECONDS(60)), .def = "2s" },
	{ "keepalive", DURATION(keepalive_ms, 0, HOURS(1)), .def = "15s" },
	{ "tcp-idle-timeout", DURATION(tcp_idle_timeout_ms, 100, HOURS(1)),
	    .def = "10s" },
	{ "max-pending", NUMBER(max_pending, 1, 1000000), .def = "1024" },
	/* auto: half of max-pending, once config_finalize knows it. */
	{ "max-pending-per-client", NUMBER(max_pending_client, 0, 1000000),
	    .word = "auto", .wordval = CONFIG_PER_CLIENT_AUTO, .def = "auto" },
	{ "ratelimit", NUMBER(ratelimit, 0, 1000000), .def = "0" },
	{ "ratelimit-size", NUMBER(ratelimit_size, 16, 10000000),
	    .def = "10000" },
	{ "ratelimit-action", CHOICE(ratelimit_drop,
	    config_ratelimit_action_names), .def = "truncate" },
	{ "max-tcp-clients", NUMBER(max_tcp_clients, 1, 100000),
	    .def = "256" },
	/* auto: a quarter of max-tcp-clients, resolved by listen.c. */
	{ "max-tcp-per-client", NUMBER(max_tcp_client, 0, 100000),
	    .word = "auto", .wordval = CONFIG_PER_CLIENT_AUTO, .def = "auto" },
	{ "edns-udp-size", NUMBER(edns_udp_size, 512, 4096), .def = "1232" },
	/*
	 * 512: a padded query always fits a pooled query object (proxy.c);
	 * 128: RFC 8467 4.1.
	 */
	{ "padding-block", NUMBER(padding_block, 0, 512), .def = "128" },
	{ "udp-rcvbuf", SIZE(udp_rcvbuf, 0, 64 * MB), .def = "1m" },
	{ "cache-size", SIZE(cache_size, 0, 1024 * MB), .def = "4m" },
	{ "cache-min-ttl", DURATION(cache_min_ttl_ms, 0, HOURS(1)),
	    .def = "0s" },
	{ "cache-max-ttl", DURATION(cache_max_ttl_ms, SECONDS(1), DAYS(7)),
	    .def = "1d" },
	{ "cache-max-negative-ttl", DURATION(cache_max_negative_ttl_ms, 0,
	    DAYS(1)), .def = "1h" },
	{ "cache-servfail-ttl", DURATION(cache_servfail_ttl_ms, 0,
	    SECONDS(30)), .def = "5s" },
	{ "serve-stale", DURATION(serve_stale_ms, 0, DAYS(7)), .def = "1h" },
	{ "serve-stale-timeout", DURATION(serve_stale_timeout_ms, 100,
	    SECONDS(60)), .def = "1800ms" },
	{ "prefetch", BOOL(prefetch), .def = "yes" },
	/*
	 * validate: an answer signed on the path cannot be forged by the
	 * provider or anyone holding its certificate (issue 19).  A wrong
	 * clock and upstreams that strip signatures are logged and
	 * answered SERVFAIL with an EDE, never silently let through.
	 */
	{ "dnssec", CHOICE(dnssec, config_dnssec_names), .def = "validate" },
	/* Read by config_finalize(), after every source. */
	{ "trust-anchor", &kind_anchor, .off = FIELD(trust_anchor, char *),
	    .flags = CONFIG_F_ABSPATH },
	{ "dnssec-insecure", LIST(kind_insecure, dnssec_insecure,
	    struct config_zone *, ndnssec_insecure), .none = "none" },
	{ "user", STRING(user),
	    .none = "none; root drops to dohstub or nobody" },
	{ "log-level", &kind_choice, .off = INTFIELD(log_level),
	    .names = log_level_names, .nnames = CONFIG_NLOGLEVELS,
	    .def = "info" },
	{ "log-format", CHOICE(log_json, config_log_format_names),
	    .def = "text" },
	{ "syslog", BOOL(syslog), .def = "no" },
	{ "metrics", &kind_addr_port, .off = FIELD(metrics, struct addr),
	    .none = "none" },
	{ "watch-network", BOOL(watch_network), .def = "yes" },
	{ "resolv-conf", STRING(resolv_conf), .flags = CONFIG_F_ABSPATH,
	    .none = CONFIG_RESOLV_CONF },
	/* The portal lease (proxy.h): encrypted-only's one exception. */
	{ "captive-portal", CHOICE(captive_portal, config_portal_names),
	    .def = "ask" },
	{ "captive-portal-lease", DURATION(captive_portal_lease_ms,
	    SECONDS(10), HOURS(1)), .def = "5m" },
	{ "pidfile", STRING(pidfile), .flags = CONFIG_F_ABSPATH,
	    .none = "none" },
	/* off, stderr or an absolute path; off is kept as NULL. */
	{ "query-log", STRING(query_log), .flags = CONFIG_F_LOGDEST,
	    .none = "off" },
	{ "query-log-format", CHOICE(query_log_json, config_log_format_names),
	    .def = "text" },
	{ "query-log-client", BOOL(query_log_client), .def = "no" },
	/* dohstub-control(8)'s socket (control.h). */
	{ "control-socket", STRING(control_socket),
	    .flags = CONFIG_F_ABSPATH, .none = "none" },
};

#define CONFIG_NSETTINGS	nitems(config_settings)

/* The highest source that set each key: config_set()'s precedence. */
struct config_sources {
	int			 set_by[CONFIG_NSETTINGS];
};


static const struct config_setting *
config_lookup(const char *key)
{
	size_t i;

	for (i = 0; i < nitems(config_settings); i++)
		if (strcmp(config_settings[i].name, key) == 0)
			return &config_settings[i];
	return NULL;
}

/* Does where ("--mode", "DOHSTUB_MODE") already name key? */
static int
config_names_key(const char *where, const char *key)
{
	int c;

	if (strncmp(where, "--", 2) == 0)
		where += 2;
	else if (strncmp(where, "DOHSTUB_", 8) == 0)
		where += 8;
	else
		return 0;
	for (; *where != '\0' && *key != '\0'; where++, key++) {
		c = (unsigned char)*where;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		else if (c == '_')
			c = '-';
		if (c != *key)
			return 0;
	}
	return *where == '\0' && *key == '\0';
}

static int
config_fail(char *err, size_t errlen, const char *where, const char *key,
    const char *reason)
{
	if (where == NULL || *where == '\0')
		config_errf(err, errlen, "%s: %s", key, reason);
	else if (config_names_key(where, key))
		config_errf(err, errlen, "%s: %s", where, reason);
	else
		config_errf(err, errlen, "%s: %s: %s", where, key, reason);
	return -1;
}


void
config_defaults(struct config *cfg)
{
	const struct config_setting *st;
	char reason[CONFIG_ERRLEN];

	memset(cfg, 0, sizeof(*cfg));
	for (st = config_settings; st < config_settings + CONFIG_NSETTINGS;
	    st++)
		if (st->def != NULL && st->kind->set(st, cfg, st->def, reason,
		    sizeof(reason)) == -1)
			fatalx("config: the default of %s: %s", st->name,
			    reason);
}

void
config_free(struct config *cfg)
{
	const struct config_setting *st;

	if (cfg == NULL)
		return;
	for (st = config_settings; st < config_settings + CONFIG_NSETTINGS;
	    st++)
		if (st->kind->clear != NULL)
			st->kind->clear(st, cfg);
	free(cfg->anchors);
	free(cfg->insecure);
	free(cfg->sources);
	memset(cfg, 0, sizeof(*cfg));
}

int
config_set(struct config *cfg, const char *key, const char *value,
    const char *where, int source, char *err, size_t errlen)
{
	const struct config_setting *st;
	struct config scratch;
	char reason[CONFIG_ERRLEN];
	const char *p;
	int c, rc, *set_by;

	if ((st = config_lookup(key)) == NULL)
		return config_fail(err, errlen, where, key, "unknown setting");
	if (value == NULL || *value == '\0')
		return config_fail(err, errlen, where, key, "empty value");
	/* Whatever is accepted must print back in the file syntax. */
	for (p = value; *p != '\0'; p++) {
		c = (unsigned char)*p;
		if (c < ' ' || c == 0x7f)
			return config_fail(err, errlen, where, key,
			    "the value contains a control character");
		if (c == '"')
			return config_fail(err, errlen, where, key,
			    "the value contains a double quote");
	}
	if (cfg->sources == NULL &&
	    (cfg->sources = calloc(1, sizeof(*cfg->sources))) == NULL)
		return config_fail(err, errlen, where, key, "out of memory");
	set_by = &cfg->sources->set_by[st - config_settings];
	if (source < *set_by) {
		/* A higher source has the last word; still report errors. */
		config_defaults(&scratch);
		rc = st->kind->set(st, &scratch, value, reason,
		    sizeof(reason));
		config_free(&scratch);
	} else {
		if (source > *set_by) {
			if (st->kind->list)
				st->kind->clear(st, cfg);
			*set_by = source;
		}
		rc = st->kind->set(st, cfg, value, reason, sizeof(reason));
	}
	if (rc == -1)
		return config_fail(err, errlen, where, key, reason);
	return 0;
}

int
config_set_flag(struct config *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	char where[CONFIG_KEYLEN + 3];

	if (strlen(key) > CONFIG_KEYLEN) {
		config_errf(err, errlen, "--%s: unknown setting", key);
		return -1;
	}
	snprintf(where, sizeof(where), "--%s", key);
	return config_set(cfg, key, value, where, CONFIG_SRC_FLAG, err,
	    errlen);
}

/*
 * Read a whole file, NUL-terminated (it may hold NULs of its own).
 * Returns 0, or -1 with errno set.
 */
int
config_slurp(const char *path, char **bufp, size_t *lenp)
{
	FILE *fp;
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;
	int saved;

	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	for (;;) {
		if (len == cap) {
			if (cap >= CONFIG_FILE_MAX) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if ((nbuf = realloc(buf, cap + 1)) == NULL)
				goto fail;
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0) {
			if (ferror(fp)) {
				if (errno == 0)
					errno = EIO;
				goto fail;
			}
			break;
		}
	}
	fclose(fp);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
 fail:
	saved = errno;
	free(buf);
	fclose(fp);
	errno = saved;
	return -1;
}

int
config_parse_file(struct config *cfg, const char *path, int must_exist,
    char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	errno = 0;
	if (config_slurp(path, &buf, &len) == -1) {
		if (errno == ENOENT && !must_exist)
			return 0;
		config_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = config_parse_buf(cfg, path, buf, len, err, errlen);
	free(buf);
	return rc;
}

/* One line, NUL-terminated, modified in place. */
static int
config_parse_line(struct config *cfg, char *line, const char *where,
    char *err, size_t errlen)
{
	const struct config_setting *st;
	char *p = line, *key, *val, *end, *w;

	while (config_isspace(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	key = p;
	while (*p != '\0' && !config_isspace(*p))
		p++;
	if (*p != '\0')
		*p++ = '\0';
	if ((st = config_lookup(key)) == NULL)
		return config_fail(err, errlen, where, key, "unknown setting");
	while (config_isspace(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return config_fail(err, errlen, where, key, "missing value");
	if (st->kind->words && *p != '"') {
		/*
		 * Words to the end of the line, one space between them; a
		 * '#' after white space starts a comment, one inside a word
		 * is the value's (and a URL's fragment, refused).
		 */
		for (val = w = p; *p != '\0' && (*p != '#' ||
		    !config_isspace(p[-1])); p++)
			if (!config_isspace(*p))
				*w++ = *p;
			else if (w > val && w[-1] != ' ')
				*w++ = ' ';
		if (w > val && w[-1] == ' ')
			w--;
		*w = '\0';
		return config_set(cfg, key, val, where, CONFIG_SRC_FILE, err,
		    errlen);
	}
	if (*p == '"') {
		val = ++p;
		if ((end = strchr(p, '"')) == NULL)
			return config_fail(err, errlen, where, key,
			    "unterminated quote");
		*end = '\0';
		p = end + 1;
	} else {
		val = p;
		while (*p != '\0' && !config_isspace(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	while (config_isspace(*p))
		p++;
	if (*p != '\0' && *p != '#')
		return config_fail(err, errlen, where, key, "unexpected text "
		    "after the value (quote a value that contains spaces)");
	return config_set(cfg, key, val, where, CONFIG_SRC_FILE, err, errlen);
}

int
config_parse_buf(struct config *cfg, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	char line[CONFIG_LINE_MAX + 1], where[CONFIG_ERRLEN];
	const char *nl;
	size_t pos = 0, n, lineno = 0;

	if (name == NULL)
		name = "(config)";
	while (pos < len) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%zu", name, lineno);
		nl = memchr(buf + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
		if (n > CONFIG_LINE_MAX) {
			config_errf(err, errlen, "%s: line is longer than %d "
			    "bytes", where, CONFIG_LINE_MAX);
			return -1;
		}
		if (memchr(buf + pos, '\0', n) != NULL) {
			config_errf(err, errlen, "%s: line contains a NUL byte",
			    where);
			return -1;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + (nl != NULL);
		if (config_parse_line(cfg, line, where, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/*
 * A comma-separated list from the environment.  A resolve value has
 * commas of its own, so an item that is a bare address continues the
 * resolve entry before it.
 */
static int
config_env_list(struct config *cfg, const char *key, const char *val,
    const char *where, char *err, size_t errlen)
{
	struct addr ip;
	const char *p, *q, *s, *e;
	char *entry;
	size_t elen = 0;
	int rc = 0, resolve = strcmp(key, "resolve") == 0;

	if ((entry = malloc(strlen(val) + 1)) == NULL)
		return config_fail(err, errlen, where, key, "out of memory");
	for (p = val;; p = q + 1) {
		if ((q = strchr(p, ',')) == NULL)
			q = p + strlen(p);
		for (s = p; s < q && config_isspace(*s); s++)
			;
		for (e = q; e > s && config_isspace(e[-1]); e--)
			;
		if (s == e) {
			rc = config_fail(err, errlen, where, key,
			    "empty value in the list");
			break;
		}
		if (resolve && elen > 0 &&
		    addr_parse_ip(s, (size_t)(e - s), 1, 0, &ip) == 0)
			entry[elen++] = ',';
		else if (elen > 0) {
			entry[elen] = '\0';
			if ((rc = config_set(cfg, key, entry, where,
			    CONFIG_SRC_ENV, err, errlen)) == -1)
				break;
			elen = 0;
		}
		memcpy(entry + elen, s, (size_t)(e - s));
		elen += (size_t)(e - s);
		if (*q == '\0')
			break;
	}
	if (rc == 0 && elen > 0) {
		entry[elen] = '\0';
		rc = config_set(cfg, key, entry, where, CONFIG_SRC_ENV, err,
		    errlen);
	}
	free(entry);
	return rc;
}

int
config_parse_env(struct config *cfg, char *const envp[], char *err,
    size_t errlen)
{
	/* DOHSTUB_CONFIG names the file, not a setting. */
	static const char *const skip[] = { "CONFIG" };
	static const char prefix[] = "DOHSTUB_";
	const struct config_setting *st;
	const char *e, *eq, *val, *suffix;
	char key[64], name[sizeof(prefix) + sizeof(key)];
	size_t i, j, n, slen;
	int c, rc, skipped;

	if (envp == NULL)
		return 0;
	for (i = 0; envp[i] != NULL; i++) {
		e = envp[i];
		if (strncmp(e, prefix, sizeof(prefix) - 1) != 0)
			continue;
		eq = strchr(e, '=');
		n = eq != NULL ? (size_t)(eq - e) : strlen(e);
		val = eq != NULL ? eq + 1 : "";
		suffix = e + sizeof(prefix) - 1;
		slen = n - (sizeof(prefix) - 1);
		skipped = 0;
		for (j = 0; j < nitems(skip); j++)
			if (slen == strlen(skip[j]) &&
			    memcmp(suffix, skip[j], slen) == 0)
				skipped = 1;
		if (skipped)
			continue;
		if (slen >= sizeof(key)) {
			config_errf(err, errlen, "%.*s: unknown setting",
			    (int)n, e);
			return -1;
		}
		for (j = 0; j < slen; j++) {
			c = (unsigned char)suffix[j];
			if (c >= 'A' && c <= 'Z')
				c += 'a' - 'A';
			else if (c == '_')
				c = '-';
			key[j] = (char)c;
		}
		key[slen] = '\0';
		if ((st = config_lookup(key)) == NULL) {
			config_errf(err, errlen, "%.*s: unknown setting",
			    (int)n, e);
			return -1;
		}
		/* A known key: the name is short enough for the buffer. */
		snprintf(name, sizeof(name), "%.*s", (int)n, e);
		if (*val == '\0') {
			config_errf(err, errlen, "%s: empty value", name);
			return -1;
		}
		if (st->kind->list)
			rc = config_env_list(cfg, key, val, name, err, errlen);
		else
			rc = config_set(cfg, key, val, name, CONFIG_SRC_ENV,
			    err, errlen);
		if (rc == -1)
			return -1;
	}
	return 0;
}

void
config_print(const struct config *cfg, FILE *fp)
{
	const struct config_setting *st;

	for (st = config_settings; st < config_settings + CONFIG_NSETTINGS;
	    st++)
		st->kind->print(st, cfg, fp);
}
