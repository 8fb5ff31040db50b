/* main.c: the command table, dispatch, and what pingpong does without a command. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "util.h"

/* The command table. See cmd.h for the checklist to add one. */
static const struct command *const commands[] = {
	&cmd_broker, &cmd_produce, &cmd_tail, &cmd_active, &cmd_messages,
	&cmd_notify, &cmd_query, &cmd_lag, &cmd_store, &cmd_demo,
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
	"'pingpong COMMAND --help' shows the options a command takes; man pingpong-COMMAND\n"
	"has more.\n";

static void main_usage(FILE *out)
{
	size_t i;

	fputs(main_usage_head, out);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "   %-10s  %s\n", commands[i]->name, commands[i]->summary);
	options_print(common_options, out);
	fputs(main_usage_tail, out);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(name, commands[i]->name))
			return commands[i];
	return NULL;
}

static int not_a_command(const char *name)
{
	if (name[0] == '-')
		fprintf(stderr, "pingpong: unknown option '%s'\n\n", name);
	else
		fprintf(stderr, "pingpong: '%s' is not a pingpong command\n\n", name);
	main_usage(stderr);
	return EX_USAGE;
}

/* `pingpong --completion-words [COMMAND [WORD]]`, for the bash completion script: the
 * commands, or a command's options, or what may follow the option WORD. */
static int completion_words(int argc, char **argv)
{
	const struct command *cmd;
	size_t i;

	if (argc == 0) {
		for (i = 0; i < NCOMMANDS; i++)
			printf("%s\n", commands[i]->name);
		printf("help\n");
		return 0;
	}
	if (argc > 2 || !(cmd = find_command(argv[0])))
		return EX_USAGE;
	return options_complete(cmd, argc == 2 ? argv[1] : NULL, stdout);
}

int main(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		main_usage(stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "help") && argc > 2) {
		if (argc > 3) {
			fprintf(stderr, "pingpong: help takes one command, not %d\n\n", argc - 2);
			main_usage(stderr);
			return EX_USAGE;
		}
		if (!(cmd = find_command(argv[2])))
			return not_a_command(argv[2]);
		return usage_help(cmd);
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		main_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version") || !strcmp(argv[1], "-V")) {
		version_print(!strcmp(argv[1], "-V"));
		return 0;
	}
	if (!strcmp(argv[1], "--completion-words"))
		return completion_words(argc - 2, argv + 2);
	if (!(cmd = find_command(argv[1])))
		return not_a_command(argv[1]);
	log_init(cmd->name, 0);
	return cmd->run(argc - 1, argv + 1);
}
