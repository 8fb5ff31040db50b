/* cmd.h: the command table and the options every command shares.
 *
 * Adding a command (as git's builtin.h asks):
 *  1. write src/cmd-foo.c, which exports one `const struct command cmd_foo`;
 *  2. add it to the table in main.c;
 *  3. add it to Makefile.am;
 *  4. write man/pingpong-foo.1, whose SYNOPSIS matches `pingpong foo --help`;
 *  5. add tests/tNNNN-foo-*.sh.
 */
#ifndef PP_CMD_H
#define PP_CMD_H

#include <getopt.h>
#include <stddef.h>
#include <sysexits.h>

struct command {
	const char *name;
	const char *summary; /* one line for `pingpong --help` */
	const char *usage;   /* the full option text for `pingpong NAME --help` */
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

extern const struct command cmd_broker;
extern const struct command cmd_produce;
extern const struct command cmd_tail;
extern const struct command cmd_active;
extern const struct command cmd_messages;
extern const struct command cmd_notify;
extern const struct command cmd_query;
extern const struct command cmd_store;
extern const struct command cmd_demo;

/* Options that mean the same on every command (kcat's and git's conventions). */
struct common_opts {
	const char *brokers; /* -b, else $PINGPONG_BROKERS */
	const char *topic;   /* -t, default "chat" */
	char **props;        /* -X key=value, in order */
	size_t nprops;
	int verbosity;       /* -q: -1, -v: +1 each */
	int json;            /* --json */
	int help;            /* --help */
};

/* getopt_long ids for the long-only common options. */
enum {
	OPT_JSON = 1000,
	OPT_HELP,
	OPT_FIRST_COMMAND_OPTION = 1100, /* commands number their own long options from here */
};

#define COMMON_SHORTOPTS "b:t:X:qvh"
#define COMMON_LONGOPTS                                                                    \
	{ "brokers", required_argument, NULL, 'b' }, { "topic", required_argument, NULL, 't' }, \
	{ "quiet", no_argument, NULL, 'q' }, { "verbose", no_argument, NULL, 'v' },              \
	{ "json", no_argument, NULL, OPT_JSON }, { "help", no_argument, NULL, 'h' }

void common_opts_init(struct common_opts *co);
void common_opts_release(struct common_opts *co);

/* Handles one getopt result if it is a common option: returns 1 if handled, 0 if not
 * a common option, -1 on a bad value (the message is already printed). */
int common_option(struct common_opts *co, int c, const char *arg);

/* The broker list from -b or $PINGPONG_BROKERS; NULL (and an error printed that says how
 * to start `pingpong broker`) when neither is set. */
const char *common_brokers(const struct common_opts *co);

/* Prints "pingpong CMD: MESSAGE" and the command's usage to stderr; returns EX_USAGE. */
int usage_error(const struct command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the usage to stdout; returns 0. */
int usage_help(const struct command *cmd);

/* Option value parsers that print a usage error naming the option. Return 0 or -1. */
int opt_duration(const struct command *cmd, const char *opt, const char *arg, int64_t *ms);
int opt_int(const struct command *cmd, const char *opt, const char *arg, int64_t min, int64_t max, int64_t *out);

/* A signal flag set by SIGINT/SIGTERM once signals_install() ran. */
extern volatile int stop_requested;
void signals_install(void);

#endif
