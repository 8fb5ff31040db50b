/* main.c: options common to all commands, the command table, and dispatch. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "util.h"

/* The command table. See cmd.h for the checklist to add one. */
static const struct command *const commands[] = {
	&cmd_broker, &cmd_produce, &cmd_tail, &cmd_active, &cmd_messages,
	&cmd_notify, &cmd_query, &cmd_store, &cmd_demo,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char main_usage_head[] =
	"usage: pingpong [--version] [--help] COMMAND [OPTIONS]\n"
	"\n"
	"Kafka consumers that keep their offsets in the same LMDB transaction as their state.\n"
	"\n"
	"Commands:\n";

static const char main_usage_tail[] =
	"\n"
	"Options every command takes:\n"
	"  -b, --brokers LIST   Kafka bootstrap servers (default: $PINGPONG_BROKERS)\n"
	"  -t, --topic NAME     topic (default: chat)\n"
	"  -X KEY=VALUE         librdkafka property, repeatable\n"
	"  -q, --quiet          log only errors\n"
	"  -v, --verbose        log more\n"
	"\n"
	"'pingpong COMMAND --help' shows a command's options; man pingpong-COMMAND has more.\n";

static void main_usage(FILE *out)
{
	size_t i;

	fputs(main_usage_head, out);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "   %-10s  %s\n", commands[i]->name, commands[i]->summary);
	fputs(main_usage_tail, out);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		main_usage(stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			for (i = 0; i < NCOMMANDS; i++)
				if (!strcmp(argv[2], commands[i]->name))
					return usage_help(commands[i]);
		}
		main_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("pingpong %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (i = 0; i < NCOMMANDS; i++) {
		if (!strcmp(argv[1], commands[i]->name)) {
			log_init(commands[i]->name, 0);
			return commands[i]->run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "pingpong: '%s' is not a pingpong command\n\n", argv[1]);
	main_usage(stderr);
	return EX_USAGE;
}
