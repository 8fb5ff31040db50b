/* options.c: the options every command shares, usage messages, and stop signals. */
#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "util.h"

volatile int stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void common_opts_init(struct common_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->topic = "chat";
}

void common_opts_release(struct common_opts *co)
{
	free(co->props);
	co->props = NULL;
	co->nprops = 0;
}

int common_option(struct common_opts *co, int c, const char *arg)
{
	switch (c) {
	case 'b':
		co->brokers = arg;
		return 1;
	case 't':
		if (!*arg) {
			fprintf(stderr, "pingpong: the topic name is empty\n");
			return -1;
		}
		co->topic = arg;
		return 1;
	case 'X':
		if (!strchr(arg, '=') || arg[0] == '=') {
			fprintf(stderr, "pingpong: -X takes KEY=VALUE, not '%s'\n", arg);
			return -1;
		}
		co->props = xrealloc(co->props, (co->nprops + 1) * sizeof(*co->props));
		co->props[co->nprops++] = (char *)arg;
		return 1;
	case 'q':
		co->verbosity = -1;
		return 1;
	case 'v':
		co->verbosity++;
		return 1;
	case OPT_JSON:
		co->json = 1;
		return 1;
	case 'h':
		co->help = 1;
		return 1;
	}
	return 0;
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

int usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pingpong %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", cmd->usage);
	return EX_USAGE;
}

int usage_help(const struct command *cmd)
{
	fputs(cmd->usage, stdout);
	return 0;
}

int opt_duration(const struct command *cmd, const char *opt, const char *arg, int64_t *ms)
{
	if (parse_duration_ms(arg, ms) < 0) {
		usage_error(cmd, "%s takes a duration with a unit (250ms, 30s, 5m, 1h), not '%s'", opt, arg);
		return -1;
	}
	return 0;
}

int opt_int(const struct command *cmd, const char *opt, const char *arg, int64_t min, int64_t max,
	    int64_t *out)
{
	if (parse_int(arg, min, max, out) < 0) {
		usage_error(cmd, "%s takes a whole number from %lld to %lld, not '%s'", opt,
			    (long long)min, (long long)max, arg);
		return -1;
	}
	return 0;
}

