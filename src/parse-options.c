/* parse-options.c: the option parser, --help and the completion words, from a table.
 *
 * Every function here starts by flattening the command's table and the groups it
 * includes into one list (struct option_set), in table order, with each option's base
 * offset, help heading and the subcommand it is limited to. options_parse() builds
 * getopt_long()'s arguments from that list and reads argv twice: the first pass only
 * recognises options, so that --help and --version win over any bad value and an
 * unknown option is reported once, in our words (getopt's own messages are off); the
 * second pass converts each value with the parser its kind names.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "parse-options.h"
#include "util.h"

#define HELP_WIDTH 79      /* --help wraps its lines to this width */
#define HELP_MAX_COLUMN 24 /* where the help text starts, at most */
#define OPTION_ID(i) (256 + (int)(i)) /* getopt_long's value for a long option: past any char */

/* What every command takes without saying so. */
static const struct option_spec builtin_options[] = {
	{ .kind = OPT_HELP, .short_name = 'h', .long_name = "help", .help = "print this help and exit" },
	{ .kind = OPT_VERSION, .long_name = "version", .help = "print pingpong's version and exit" },
	{ .kind = OPT_VERSION, .short_name = 'V', .value = 1,
	  .help = "print the versions of pingpong and of the libraries it runs with, and exit" },
	OPTION_END
};

/* One option of a command, with what its groups said about it. */
struct flat_option {
	const struct option_spec *spec;
	size_t base;         /* what spec->offset is relative to */
	const char *heading; /* the --help heading it goes under, or NULL */
	const char *only;    /* the only first operand it goes with, or NULL */
	int given;           /* seen by options_parse()'s second pass */
};

struct option_set {
	struct flat_option *v;
	size_t n;
};

static void flatten(struct option_set *os, const struct option_spec *specs, size_t base,
		    const char *heading, const char *only)
{
	const struct option_spec *s;

	for (s = specs; s->kind != OPT_END; s++) {
		if (s->kind == OPT_GROUP) {
			flatten(os, s->group, base + s->offset, s->help ? s->help : heading,
				s->only ? s->only : only);
			continue;
		}
		os->v = xrealloc(os->v, (os->n + 1) * sizeof(*os->v));
		os->v[os->n++] = (struct flat_option){ s, base, heading, only, 0 };
	}
}

/* specs, then the built-in options. The caller frees os->v. */
static void option_set_init(struct option_set *os, const struct option_spec *specs)
{
	os->v = NULL;
	os->n = 0;
	flatten(os, specs, 0, NULL, NULL);
	flatten(os, builtin_options, 0, COMMON_HEADING, NULL);
}

static int takes_value(const struct option_spec *s)
{
	switch (s->kind) {
	case OPT_STRING:
	case OPT_INT:
	case OPT_DURATION:
	case OPT_TIME:
	case OPT_CHOICE:
	case OPT_LIST:
	case OPT_CALLBACK:
		return 1;
	default:
		return 0;
	}
}

/* Appends to buf like snprintf, never past len. */
static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n < len ? *off + (size_t)n : len - 1;
}

/* "--batch", or "-X" for an option with no long name. */
static const char *option_name(const struct option_spec *s, char *buf, size_t len)
{
	if (s->long_name)
		snprintf(buf, len, "--%s", s->long_name);
	else
		snprintf(buf, len, "-%c", s->short_name);
	return buf;
}

/* The value's name in the usage: argname, or a choice's "earliest|latest". */
static const char *value_name(const struct option_spec *s, char *buf, size_t len)
{
	size_t off = 0, i;

	if (s->kind != OPT_CHOICE)
		return s->argname;
	buf[0] = '\0';
	for (i = 0; s->choices[i]; i++)
		append(buf, len, &off, "%s%s", i ? "|" : "", s->choices[i]);
	return buf;
}

/* What an error says the option takes: "a number in [1, 1000000]". */
static const char *value_expected(const struct option_spec *s, char *buf, size_t len)
{
	size_t off = 0, i;

	if (s->expects)
		return s->expects;
	switch (s->kind) {
	case OPT_INT:
		if (s->max == INT64_MAX)
			snprintf(buf, len, "a number of at least %" PRId64, s->min);
		else
			snprintf(buf, len, "a number in [%" PRId64 ", %" PRId64 "]", s->min, s->max);
		return buf;
	case OPT_DURATION:
		return "a duration with a unit (250ms, 30s, 1m30s, 2d)";
	case OPT_TIME:
		return "milliseconds since the epoch or an ISO 8601 time (2026-11-22T10:00:00Z)";
	case OPT_CHOICE:
		buf[0] = '\0';
		for (i = 0; s->choices[i]; i++)
			append(buf, len, &off, "%s%s", i == 0 ? "" : s->choices[i + 1] ? ", " : " or ",
			       s->choices[i]);
		return buf;
	default:
		return s->argname;
	}
}

/* Converts arg into the option's target. Returns 0, or EX_USAGE after printing why. */
static int set_value(const struct command *cmd, const struct flat_option *f, const char *arg, void *opts)
{
	const struct option_spec *s = f->spec;
	void *target = (char *)opts + f->base + s->offset;
	struct option_list *l = target;
	char name[64], expected[256];
	size_t i;

	switch (s->kind) {
	case OPT_FLAG:
		*(int *)target = 1;
		return 0;
	case OPT_SET:
		*(int *)target = s->value;
		return 0;
	case OPT_INCR:
		++*(int *)target;
		return 0;
	case OPT_STRING:
		if (s->parse && s->parse(arg, target) < 0)
			break;
		*(const char **)target = arg;
		return 0;
	case OPT_INT:
		if (parse_int(arg, s->min, s->max, target) < 0)
			break;
		return 0;
	case OPT_DURATION:
		if (parse_duration_ms(arg, target) < 0)
			break;
		return 0;
	case OPT_TIME:
		if (parse_time_ms(arg, target) < 0)
			break;
		return 0;
	case OPT_CHOICE:
		for (i = 0; s->choices[i]; i++) {
			if (!strcmp(arg, s->choices[i])) {
				*(int *)target = (int)i;
				return 0;
			}
		}
		break;
	case OPT_LIST:
		if (s->parse && s->parse(arg, target) < 0)
			break;
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = arg;
		return 0;
	case OPT_CALLBACK:
		if (s->parse(arg, target) < 0)
			break;
		return 0;
	default:
		return 0;
	}
	if (s->secret) {
		size_t klen = strcspn(arg, "=");
		return usage_error(cmd, "%s takes %s, not '%.*s%s'", option_name(s, name, sizeof(name)),
				   value_expected(s, expected, sizeof(expected)), (int)klen, arg,
				   arg[klen] ? "=..." : "");
	}
	return usage_error(cmd, "%s takes %s, not '%s'", option_name(s, name, sizeof(name)),
			   value_expected(s, expected, sizeof(expected)), arg);
}

/* The option getopt_long() returned as c: a short name, or OPTION_ID() of a long one. */
static struct flat_option *find_option(struct option_set *os, int c)
{
	size_t i;

	if (c >= OPTION_ID(0) && (size_t)(c - OPTION_ID(0)) < os->n)
		return &os->v[c - OPTION_ID(0)];
	for (i = 0; i < os->n; i++)
		if (c && os->v[i].spec->short_name == c)
			return &os->v[i];
	return NULL;
}

/* The one line that says what is wrong when getopt_long() returned '?' or ':'. */
static void bad_option_message(struct option_set *os, int c, char **argv, char *msg, size_t len)
{
	const struct flat_option *f = find_option(os, optopt);
	const char *arg = argv[optind - 1];
	size_t arglen = strcspn(arg, "="), off, i, matches = 0;
	char name[64];

	if (c == ':' && f) {
		snprintf(msg, len, "%s needs a value", option_name(f->spec, name, sizeof(name)));
		return;
	}
	if (f) {
		snprintf(msg, len, "%s takes no value", option_name(f->spec, name, sizeof(name)));
		return;
	}
	if (optopt) {
		snprintf(msg, len, "unknown option '-%c'", optopt);
		return;
	}
	/* An unknown long option, or a prefix of more than one. */
	snprintf(msg, len, "ambiguous option '%.*s' (", (int)arglen, arg);
	off = strlen(msg);
	for (i = 0; arglen > 2 && i < os->n; i++) {
		const char *l = os->v[i].spec->long_name;
		if (l && !strncmp(l, arg + 2, arglen - 2))
			append(msg, len, &off, "%s--%s", matches++ ? ", " : "", l);
	}
	if (matches > 1)
		append(msg, len, &off, ")");
	else
		snprintf(msg, len, "unknown option '%.*s'", (int)arglen, arg);
}

/* The first option named twice in os, or NULL. */
static const char *duplicate_option(const struct option_set *os, char *buf, size_t len)
{
	size_t i, k;

	for (i = 0; i < os->n; i++) {
		const struct option_spec *a = os->v[i].spec;
		for (k = i + 1; k < os->n; k++) {
			const struct option_spec *b = os->v[k].spec;
			if ((a->short_name && a->short_name == b->short_name) ||
			    (a->long_name && b->long_name && !strcmp(a->long_name, b->long_name)))
				return option_name(b, buf, len);
		}
	}
	return NULL;
}

/* getopt_long()'s arguments for os. The caller frees both. */
static void getopt_args(const struct option_set *os, char **shortopts, struct option **longopts)
{
	size_t i, k = 0, nlong = 0;

	*longopts = xcalloc(os->n + 1, sizeof(**longopts));
	*shortopts = xmalloc(2 * os->n + 2);
	(*shortopts)[k++] = ':'; /* getopt says nothing itself; ':' for a missing value */
	for (i = 0; i < os->n; i++) {
		const struct option_spec *s = os->v[i].spec;
		int has_arg = takes_value(s) ? required_argument : no_argument;

		if (s->short_name) {
			(*shortopts)[k++] = (char)s->short_name;
			if (has_arg)
				(*shortopts)[k++] = ':';
		}
		if (s->long_name)
			(*longopts)[nlong++] = (struct option){ s->long_name, has_arg, NULL, OPTION_ID(i) };
	}
	(*shortopts)[k] = '\0';
}

/* The first pass only recognises options. Returns 0 after --help or --version, EX_USAGE
 * after the first bad option, else OPTIONS_CONTINUE. */
static int recognise(const struct command *cmd, struct option_set *os, int argc, char **argv,
		     const char *shortopts, const struct option *longopts)
{
	const struct flat_option *f;
	char msg[512] = "";
	int c;

	opterr = 0;
	optind = 0; /* GNU getopt starts afresh */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			if (!msg[0])
				bad_option_message(os, c, argv, msg, sizeof(msg));
			continue;
		}
		f = find_option(os, c);
		if (f->spec->kind == OPT_HELP)
			return usage_help(cmd);
		if (f->spec->kind == OPT_VERSION) {
			version_print(f->spec->value);
			return 0;
		}
	}
	return msg[0] ? usage_error(cmd, "%s", msg) : OPTIONS_CONTINUE;
}

/* The second pass converts every value, then checks the operands. Returns
 * OPTIONS_CONTINUE, or EX_USAGE after printing why. */
static int convert(const struct command *cmd, struct option_set *os, int argc, char **argv,
		   const char *shortopts, const struct option *longopts, void *opts)
{
	struct flat_option *f;
	char name[64];
	size_t i;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		f = find_option(os, c);
		f->given = 1;
		if (set_value(cmd, f, optarg, opts) != 0)
			return EX_USAGE;
	}
	if (!cmd->subcommands && optind < argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	for (i = 0; i < os->n && optind < argc; i++)
		if (os->v[i].given && os->v[i].only && strcmp(argv[optind], os->v[i].only))
			return usage_error(cmd, "%s goes only with 'pingpong %s %s'",
					   option_name(os->v[i].spec, name, sizeof(name)), cmd->name, os->v[i].only);
	return OPTIONS_CONTINUE;
}

int options_parse(const struct command *cmd, int argc, char **argv, void *opts, int *argi)
{
	struct option_set os;
	struct option *longopts;
	char *shortopts, name[64];
	int rc;

	option_set_init(&os, cmd->options);
	if (duplicate_option(&os, name, sizeof(name))) {
		log_error("internal error: the option table names %s twice", name);
		free(os.v);
		return EX_SOFTWARE;
	}
	getopt_args(&os, &shortopts, &longopts);
	rc = recognise(cmd, &os, argc, argv, shortopts, longopts);
	if (rc == OPTIONS_CONTINUE)
		rc = convert(cmd, &os, argc, argv, shortopts, longopts, opts);
	if (rc == OPTIONS_CONTINUE && argi)
		*argi = optind;
	if (rc != OPTIONS_CONTINUE)
		options_release(cmd, opts);
	free(shortopts);
	free(longopts);
	free(os.v);
	return rc;
}

static void release_lists(const struct option_spec *specs, char *base)
{
	const struct option_spec *s;

	for (s = specs; s->kind != OPT_END; s++) {
		if (s->kind == OPT_GROUP) {
			release_lists(s->group, base + s->offset);
		} else if (s->kind == OPT_LIST) {
			struct option_list *l = (struct option_list *)(void *)(base + s->offset);
			free(l->v);
			l->v = NULL;
			l->n = 0;
		}
	}
}

void options_release(const struct command *cmd, void *opts)
{
	release_lists(cmd->options, opts);
}

/* "-g, --group G": the left column of --help. */
static const char *usage_left(const struct option_spec *s, char *buf, size_t len)
{
	char value[128];
	const char *v = value_name(s, value, sizeof(value));
	size_t off = 0;

	buf[0] = '\0';
	if (s->short_name)
		append(buf, len, &off, "-%c%s", s->short_name, s->long_name ? ", " : "");
	if (s->long_name)
		append(buf, len, &off, "--%s", s->long_name);
	if (v)
		append(buf, len, &off, " %s", v);
	return buf;
}

/* One option's line: the left column, then its help from column col, wrapped. */
static void usage_line(FILE *out, const char *left, int col, const char *help)
{
	int pos = fprintf(out, "  %s", left);
	const char *w = help ? help : "";

	if (pos + 2 > col) {
		fputc('\n', out);
		pos = 0;
	}
	fprintf(out, "%*s", col - pos, "");
	pos = col;
	while (*w) {
		int n = (int)strcspn(w, " ");

		if (pos > col && pos + 1 + n > HELP_WIDTH) {
			fprintf(out, "\n%*s", col, "");
			pos = col;
		} else if (pos > col) {
			fputc(' ', out);
			pos++;
		}
		pos += fprintf(out, "%.*s", n, w);
		w += n;
		w += strspn(w, " ");
	}
	fputc('\n', out);
}

static void usage_options(const struct option_set *os, FILE *out)
{
	char left[160];
	const char *heading = NULL;
	int col = 0;
	size_t i;

	for (i = 0; i < os->n; i++) {
		int w = 2 + (int)strlen(usage_left(os->v[i].spec, left, sizeof(left))) + 2;
		if (w > col)
			col = w;
	}
	if (col > HELP_MAX_COLUMN)
		col = HELP_MAX_COLUMN;
	for (i = 0; i < os->n; i++) {
		const struct flat_option *f = &os->v[i];

		if (i == 0 || (f->heading != heading && (!f->heading || !heading || strcmp(f->heading, heading)))) {
			fputc('\n', out);
			if (f->heading)
				fprintf(out, "%s:\n", f->heading);
			heading = f->heading;
		}
		usage_line(out, usage_left(f->spec, left, sizeof(left)), col, f->spec->help);
	}
}

void options_usage(const struct command *cmd, FILE *out)
{
	struct option_set os;

	fputs(cmd->usage, out);
	if (cmd->description)
		fprintf(out, "\n%s", cmd->description);
	option_set_init(&os, cmd->options);
	usage_options(&os, out);
	free(os.v);
}

void options_print(const struct option_spec *specs, FILE *out)
{
	struct option_set os;

	option_set_init(&os, specs);
	usage_options(&os, out);
	free(os.v);
}

int options_complete(const struct command *cmd, const char *word, FILE *out)
{
	struct option_set os;
	char name[64];
	size_t i, k;

	option_set_init(&os, cmd->options);
	for (i = 0; i < os.n; i++) {
		const struct option_spec *s = os.v[i].spec;
		const char *a = s->argname;

		if (!word) {
			fprintf(out, "%s\n", option_name(s, name, sizeof(name)));
			continue;
		}
		if (!((s->long_name && !strncmp(word, "--", 2) && !strcmp(word + 2, s->long_name)) ||
		      (s->short_name && word[0] == '-' && word[1] == s->short_name && !word[2])) ||
		    !takes_value(s))
			continue;
		if (a && !strcmp(a, "DIR"))
			fputs(":dir\n", out);
		else if (a && (!strcmp(a, "FILE") || !strcmp(a, "PATH")))
			fputs(":file\n", out);
		else
			fputs(":word\n", out);
		for (k = 0; s->kind == OPT_CHOICE && s->choices[k]; k++)
			fprintf(out, "%s\n", s->choices[k]);
		break;
	}
	for (i = 0; !word && cmd->subcommands && cmd->subcommands[i]; i++)
		fprintf(out, "%s\n", cmd->subcommands[i]);
	free(os.v);
	return 0;
}

static int read_digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int parse_time_ms(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0, n = 0, leap;
	int64_t frac = 0, t;

	if (!s || !*s)
		return -1;
	if (strspn(s, "0123456789") == strlen(s))
		return parse_int(s, 1, INT64_MAX / 2, ms);
	if (read_digits(&p, 4, &y) < 0 || *p++ != '-' || read_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
	    read_digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't'))
		return -1;
	p++;
	if (read_digits(&p, 2, &h) < 0 || *p++ != ':' || read_digits(&p, 2, &mi) < 0)
		return -1;
	if (*p == ':') {
		p++;
		if (read_digits(&p, 2, &sec) < 0)
			return -1;
		if (*p == '.' || *p == ',') {
			for (p++; *p >= '0' && *p <= '9'; p++, n++)
				if (n < 3)
					frac = frac * 10 + (*p - '0');
			if (n == 0)
				return -1;
			for (; n < 3; n++)
				frac *= 10;
		}
	}
	/* A time without a zone would be read in whichever zone this host is in. */
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (read_digits(&p, 2, &oh) < 0)
			return -1;
		if (*p == ':')
			p++;
		if (*p && read_digits(&p, 2, &om) < 0)
			return -1;
	} else {
		return -1;
	}
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
	    sec > 59 || oh > 23 || om > 59)
		return -1;
	t = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000 + frac -
	    (int64_t)sign * (oh * 3600 + om * 60) * 1000;
	if (t < 1)
		return -1;
	*ms = t;
	return 0;
}
