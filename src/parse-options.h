/* parse-options.h: one declarative option table per command, and what is derived from it.
 *
 * A command describes each of its options once, in a table of struct option_spec: its
 * names, the name of its value, one line of help, its kind and where its value goes.
 * From that table options_parse() builds getopt_long()'s short string and long options
 * and converts every value, so that every value error reads the same way
 * ("pingpong CMD: --batch takes a number in [1, 1000000], not 'x'", then the usage);
 * options_usage() writes `--help`; options_complete() gives bash completion its words.
 * Options that several commands share (the common and the consumer options) are tables
 * too, included by reference with OPTION_GROUP, so they are written once. As in git's
 * parse-options, the usage lines themselves stay hand-written in struct command: they
 * say which options go together, which no table knows.
 *
 * Targets are offsets into the options struct handed to options_parse(), so tables are
 * static const; a group's offsets are relative to the member its group entry names.
 * Every command also takes -h/--help, --version and -V; they need no entry.
 */
#ifndef PP_PARSE_OPTIONS_H
#define PP_PARSE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct command;

enum option_kind {
	OPT_END = 0,   /* ends a table */
	OPT_FLAG,      /* int, set to 1 */
	OPT_SET,       /* int, set to .value */
	OPT_INCR,      /* int, incremented */
	OPT_STRING,    /* const char *: the argument itself (it lives in argv) */
	OPT_INT,       /* int64_t, a whole number in [.min, .max] */
	OPT_DURATION,  /* int64_t milliseconds, from a duration with a unit (parse_duration_ms) */
	OPT_TIME,      /* int64_t milliseconds since the epoch, or an ISO 8601 time */
	OPT_CHOICE,    /* int: the index of the argument in .choices */
	OPT_LIST,      /* struct option_list: every argument, in order (a repeatable option) */
	OPT_CALLBACK,  /* .parse converts the argument into the target */
	OPT_GROUP,     /* the options of the table .group, their offsets relative to .offset */
	OPT_HELP,      /* built in: -h, --help */
	OPT_VERSION,   /* built in: --version, and -V with .value 1 */
};

struct option_spec {
	enum option_kind kind;
	int short_name;             /* 'g', or 0 */
	const char *long_name;      /* "group", or NULL */
	const char *argname;        /* the value's name in the usage ("N", "DIR"); NULL for
				     * options without a value; a DIR, FILE or PATH value
				     * completes as a directory or a file */
	const char *help;           /* one line of --help, wrapped to fit; for OPTION_GROUP,
				     * the heading its options go under (NULL: the current one) */
	size_t offset;              /* of the target in the options struct */
	int value;                  /* OPT_SET, OPT_VERSION */
	int64_t min, max;           /* OPT_INT */
	const char *const *choices; /* OPT_CHOICE: NULL-terminated */
	/* OPT_CALLBACK: converts arg into *target. OPT_STRING, OPT_LIST: refuses an arg
	 * (target is then the option's own target, untouched). 0, or -1 to refuse arg. */
	int (*parse)(const char *arg, void *target);
	const char *expects;        /* what an error says the option takes, when .parse refuses */
	int secret;                 /* KEY=VALUE whose VALUE may be a password: an error shows
				     * the key only */
	const struct option_spec *group; /* OPT_GROUP */
	const char *only;           /* OPT_GROUP: its options go only with this first operand
				     * (a subcommand, such as "stat"); NULL: with any */
};

/* The target of OPT_LIST. The strings live in argv; options_release() frees v. */
struct option_list {
	const char **v;
	size_t n;
};

#define OPTION_FLAG(s, l, off, h) \
	{ .kind = OPT_FLAG, .short_name = (s), .long_name = (l), .offset = (off), .help = (h) }
#define OPTION_SET(s, l, off, val, h) \
	{ .kind = OPT_SET, .short_name = (s), .long_name = (l), .offset = (off), .value = (val), .help = (h) }
#define OPTION_INCR(s, l, off, h) \
	{ .kind = OPT_INCR, .short_name = (s), .long_name = (l), .offset = (off), .help = (h) }
#define OPTION_STRING(s, l, arg, off, h) \
	{ .kind = OPT_STRING, .short_name = (s), .long_name = (l), .argname = (arg), .offset = (off), .help = (h) }
#define OPTION_INT(s, l, arg, off, lo, hi, h)                                                         \
	{ .kind = OPT_INT, .short_name = (s), .long_name = (l), .argname = (arg), .offset = (off), \
	  .min = (lo), .max = (hi), .help = (h) }
#define OPTION_DURATION(s, l, off, h) \
	{ .kind = OPT_DURATION, .short_name = (s), .long_name = (l), .argname = "D", .offset = (off), .help = (h) }
#define OPTION_TIME(s, l, off, h) \
	{ .kind = OPT_TIME, .short_name = (s), .long_name = (l), .argname = "TS", .offset = (off), .help = (h) }
#define OPTION_CHOICE(s, l, off, ch, h) \
	{ .kind = OPT_CHOICE, .short_name = (s), .long_name = (l), .offset = (off), .choices = (ch), .help = (h) }
#define OPTION_LIST(s, l, arg, off, h) \
	{ .kind = OPT_LIST, .short_name = (s), .long_name = (l), .argname = (arg), .offset = (off), .help = (h) }
#define OPTION_GROUP(heading, tbl, off) \
	{ .kind = OPT_GROUP, .help = (heading), .group = (tbl), .offset = (off) }
#define OPTION_GROUP_ONLY(heading, tbl, off, operand) \
	{ .kind = OPT_GROUP, .help = (heading), .group = (tbl), .offset = (off), .only = (operand) }
#define OPTION_END { .kind = OPT_END }

/* What options_parse() returns when the command should go on. */
#define OPTIONS_CONTINUE (-1)

/* Parses argv (argv[0] is the command's name) against cmd->options into opts, which the
 * caller initialised with the defaults. GNU getopt permutes: operands may stand between
 * options; a command without subcommands takes none. --help and --version are honoured
 * before any value is checked. Returns OPTIONS_CONTINUE, with *argi (if argi is not
 * NULL) the index of the first operand; or an exit code for the command to return at
 * once: 0 after --help or --version, EX_USAGE after an error, which it printed with the
 * usage (it then released opts' lists itself). */
int options_parse(const struct command *cmd, int argc, char **argv, void *opts, int *argi);

/* Frees the lists that options_parse() filled in opts. */
void options_release(const struct command *cmd, void *opts);

/* Writes cmd's usage: its usage lines, its description, and every option of its table
 * under the headings of their groups. */
void options_usage(const struct command *cmd, FILE *out);

/* Writes the help lines of one table (and its groups), for pingpong --help. */
void options_print(const struct option_spec *specs, FILE *out);

/* Bash completion's words, one per line. Without word: cmd's options (long names, and
 * short names where there is no long one) and its subcommands. With word: if it names an
 * option of cmd that takes a value, ":file", ":dir" or ":word", and then the value's
 * choices; else nothing. Returns 0. */
int options_complete(const struct command *cmd, const char *word, FILE *out);

/* Parses a time: whole milliseconds since the epoch, or an ISO 8601 date and time with
 * a zone ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00.250+01:00"). Returns 0, or -1
 * on a malformed or out-of-range time (before the epoch, or after the year 9999). */
int parse_time_ms(const char *s, int64_t *ms);

#endif
