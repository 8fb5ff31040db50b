/* options.c: the option tables every command shares, usage messages, versions, and stop
 * signals. */
#include "config.h"

#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <lmdb.h>
#include <msgpack.h>

#include "cmd.h"
#include "util.h"

volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* A write to a closed pipe or socket raises SIGPIPE in the thread that wrote. When it
 * is standard output that has gone (`pingpong messages | head -1`), that is an ordinary
 * end, as for any Unix filter: end at once, quietly, with status 0. Nothing that was not
 * printed is committed: the consumers print a batch before they commit it, and a
 * consumer killed at any instant restarts exactly where its store (or, without one, its
 * Kafka offsets) says, so this is as safe as the crash it resembles. The cost is that
 * the member does not leave its group: the others wait at most one session timeout.
 * Any other closed pipe leaves the write to fail with EPIPE, as if ignored. Only
 * async-signal-safe calls here: poll and _exit. */
static void on_sigpipe(int sig)
{
	struct pollfd out = { .fd = STDOUT_FILENO, .events = POLLOUT };

	(void)sig;
	if (poll(&out, 1, 0) == 1 && (out.revents & (POLLERR | POLLHUP)))
		_exit(0);
}

/* SIGHUP (the terminal went away, or a supervisor's polite stop) ends a command the way
 * SIGTERM does: a consumer finishes its batch, leaves its group and logs its summary.
 * Started under nohup, which ignores SIGHUP, it keeps ignoring it. */
void signals_install(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
		sigaction(SIGHUP, &sa, NULL);
	sigpipe_install();
}

void sigpipe_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

static int check_nonempty(const char *arg, void *target)
{
	(void)target;
	return *arg ? 0 : -1;
}

static int check_property(const char *arg, void *target)
{
	(void)target;
	return strchr(arg, '=') && arg[0] != '=' ? 0 : -1;
}

#define CO(field) offsetof(struct common_opts, field)

static const struct option_spec brokers_option[] = {
	OPTION_STRING('b', "brokers", "LIST", CO(brokers), "Kafka bootstrap servers (default: $PINGPONG_BROKERS)"),
	OPTION_END
};

const struct option_spec common_topic_options[] = {
	{ .kind = OPT_STRING, .short_name = 't', .long_name = "topic", .argname = "NAME", .offset = CO(topic),
	  .parse = check_nonempty, .expects = "a topic name", .help = "topic (default: chat)" },
	OPTION_END
};

static const struct option_spec property_option[] = {
	{ .kind = OPT_LIST, .short_name = 'X', .argname = "KEY=VALUE", .offset = CO(props),
	  .parse = check_property, .secret = 1, .help = "librdkafka property, repeatable; applied last" },
	OPTION_END
};

const struct option_spec common_kafka_options[] = {
	OPTION_GROUP(NULL, brokers_option, 0),
	OPTION_GROUP(NULL, common_topic_options, 0),
	OPTION_GROUP(NULL, property_option, 0),
	OPTION_END
};

const struct option_spec common_json_options[] = {
	OPTION_FLAG(0, "json", CO(json), "machine-readable output: JSON, one object per line"),
	OPTION_END
};

const struct option_spec common_log_options[] = {
	OPTION_SET('q', "quiet", CO(verbosity), -1, "log only errors"),
	OPTION_INCR('v', "verbose", CO(verbosity), "log more"),
	OPTION_END
};

const struct option_spec common_options[] = {
	OPTION_GROUP(COMMON_HEADING, common_kafka_options, 0),
	OPTION_GROUP(COMMON_HEADING, common_json_options, 0),
	OPTION_GROUP(COMMON_HEADING, common_log_options, 0),
	OPTION_END
};

void common_opts_init(struct common_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->topic = "chat";
}

const char *common_brokers(const struct common_opts *co)
{
	const char *b = co->brokers;

	if (!b || !*b)
		b = getenv("PINGPONG_BROKERS");
	if (!b || !*b) {
		log_error("no brokers: give --brokers HOST:PORT or set PINGPONG_BROKERS; for a local "
			  "development broker run 'pingpong broker' and use the list it prints");
		return NULL;
	}
	return b;
}

struct kafka_opts common_kafka_opts(const struct common_opts *co, const char *brokers)
{
	struct kafka_opts ko = { brokers, co->props.v, co->props.n };
	return ko;
}

int usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pingpong %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\n", stderr);
	options_usage(cmd, stderr);
	return EX_USAGE;
}

int usage_help(const struct command *cmd)
{
	options_usage(cmd, stdout);
	return 0;
}

void version_print(int libraries)
{
	printf("pingpong %s\n", PACKAGE_VERSION);
	if (!libraries)
		return;
	/* The versions of the libraries this process runs with, not those it was built on. */
	printf("librdkafka %s\n", rd_kafka_version_str());
	printf("%s\n", mdb_version(NULL, NULL, NULL));
	printf("msgpack-c %s\n", msgpack_version());
	printf("jansson %s\n", jansson_version_str());
}
