/* cmd.h: the command table and the options every command shares.
 *
 * Adding a command (as git's builtin.h asks):
 *  1. write src/cmd-foo.c, which exports one `const struct command cmd_foo`, with its
 *     option table (parse-options.h);
 *  2. add it to the table in main.c;
 *  3. add it to Makefile.am;
 *  4. write man/pingpong-foo.1, whose SYNOPSIS matches `pingpong foo --help` and whose
 *     OPTIONS has every option of the table (tests/t0002-man-pages.sh checks both);
 *  5. add tests/tNNNN-foo-*.sh.
 */
#ifndef PP_CMD_H
#define PP_CMD_H

#include <signal.h>
#include <stddef.h>
#include <sysexits.h>

#include "kafka.h"
#include "parse-options.h"

struct command {
	const char *name;
	const char *summary;     /* one line for `pingpong --help` */
	const char *usage;       /* the usage lines, "usage: pingpong NAME ...", as in the
				  * man page's SYNOPSIS */
	const char *description; /* what it does, a paragraph of --help */
	const struct option_spec *options; /* its option table */
	const char *const *subcommands;    /* the words its first operand may be, for completion;
					    * NULL: it takes no operand */
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

extern const struct command cmd_broker;
extern const struct command cmd_produce;
extern const struct command cmd_tail;
extern const struct command cmd_active;
extern const struct command cmd_messages;
extern const struct command cmd_notify;
extern const struct command cmd_query;
extern const struct command cmd_lag;
extern const struct command cmd_store;
extern const struct command cmd_demo;

/* Options that mean the same on every command that takes them (kcat's and git's
 * conventions). A command includes the groups below that it uses, and no other: an
 * option it would ignore is an unknown option. */
struct common_opts {
	const char *brokers;       /* -b, else $PINGPONG_BROKERS */
	const char *topic;         /* -t, default "chat" */
	struct option_list props;  /* -X key=value, in order */
	int verbosity;             /* -q: -1, -v: +1 each */
	int json;                  /* --json */
};

extern const struct option_spec common_kafka_options[]; /* -b, -X */
extern const struct option_spec common_topic_options[]; /* -t */
extern const struct option_spec common_json_options[];  /* --json */
extern const struct option_spec common_log_options[];   /* -q, -v */
extern const struct option_spec common_options[];       /* all of them, for pingpong --help */

#define COMMON_HEADING "Common options"

void common_opts_init(struct common_opts *co);

/* The broker list from -b or $PINGPONG_BROKERS; NULL (and an error printed that says how
 * to start `pingpong broker`) when neither is set. */
const char *common_brokers(const struct common_opts *co);

/* What the lower modules get of -b and -X (kafka.h): valid while co is. */
struct kafka_opts common_kafka_opts(const struct common_opts *co, const char *brokers);

/* Prints "pingpong CMD: MESSAGE" and the command's usage to stderr; returns EX_USAGE. */
int usage_error(const struct command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the usage to stdout; returns 0. */
int usage_help(const struct command *cmd);

/* Prints "pingpong VERSION" and, with libraries, the versions of librdkafka, LMDB,
 * msgpack-c and jansson that it runs with, one a line, as kcat -V does. */
void version_print(int libraries);

/* A signal flag set by SIGINT, SIGTERM or SIGHUP once signals_install() ran (SIGHUP
 * not if it was ignored at start, as under nohup). */
extern volatile sig_atomic_t stop_requested;
void signals_install(void);

/* A closed standard output ends the command quietly with status 0 (see options.c).
 * signals_install() installs it too. Not for `store check`: a checker that found
 * problems must not end with 0 because its reader went away. */
void sigpipe_install(void);

#endif
