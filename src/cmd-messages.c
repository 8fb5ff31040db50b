/* cmd-messages.c: `pingpong messages`, the original messages consumer.
 *
 * It prints "user: message" for every send-message event and skips heart-beats. Lines
 * are printed (and flushed) inside the apply step, before the batch's offsets are
 * committed: to LMDB with --store, to Kafka without. Either way a crash between printing
 * and committing prints those lines again on restart: at least once, never lost.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "consumer.h"
#include "util.h"

static const char messages_usage[] =
	"usage: pingpong messages [--store DIR] [-g GROUP] [--json] [consumer options]\n"
	"                         [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]...\n"
	"\n"
	"Prints 'user: message' for every chat message (heart-beats are skipped).\n"
	"\n"
	"  --json               one JSON object per message\n"
	CONSUMER_USAGE
	"  -b, --brokers LIST, -t, --topic NAME, -X KEY=VALUE, -q, -v: see pingpong(1)\n"
	"\n"
	"(default group: pingpong-messages)\n";

struct messages_ctx {
	int json;
};

/* The state is only the offsets, which the engine writes; printing is the effect. */
static int messages_apply(void *arg, struct store_txn *t, struct engine_msg *msgs, size_t n, char *err,
			  size_t errlen)
{
	struct messages_ctx *m = arg;
	size_t i;

	(void)t;

	for (i = 0; i < n; i++) {
		const struct event *ev = &msgs[i].ev;

		if (ev->activity != EVENT_SEND_MESSAGE)
			continue;
		if (m->json) {
			json_t *o = json_object();
			char *line;
			json_object_set_new(o, "partition", json_integer(msgs[i].partition));
			json_object_set_new(o, "offset", json_integer(msgs[i].offset));
			event_to_json(ev, o);
			line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
			puts(line);
			free(line);
			json_decref(o);
		} else {
			printf("%.*s: %.*s\n", (int)ev->user_len, ev->user, (int)ev->message_len, ev->message);
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return set_err(-1, err, errlen, "cannot write to standard output");
	return 0;
}

static int messages_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		CONSUMER_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const struct engine_hooks hooks = { messages_apply, NULL, NULL };
	struct messages_ctx m = { 0 };
	struct common_opts co;
	struct consumer_opts o;
	struct consumer c;
	int ch, rc;

	common_opts_init(&co);
	consumer_opts_init(&o, "pingpong-messages");
	while ((ch = getopt_long(argc, argv, COMMON_SHORTOPTS CONSUMER_SHORTOPTS, longopts, NULL)) != -1) {
		if ((rc = consumer_option(&cmd_messages, &o, ch, optarg)) == 0)
			rc = common_option(&co, ch, optarg);
		if (rc == 0)
			return usage_error(&cmd_messages, "unknown option");
		if (rc < 0)
			return EX_USAGE;
	}
	if (co.help)
		return usage_help(&cmd_messages);
	if (optind < argc)
		return usage_error(&cmd_messages, "unexpected argument '%s'", argv[optind]);
	m.json = co.json;
	log_init("messages", co.verbosity);
	if ((rc = consumer_open(&c, &cmd_messages, &co, &o, 0)) != 0)
		return rc;
	rc = consumer_run(&c, &hooks, &m);
	consumer_close(&c);
	consumer_opts_release(&o);
	common_opts_release(&co);
	return rc;
}

const struct command cmd_messages = {
	"messages", "the messages consumer: print 'user: message' for every chat message",
	messages_usage, messages_run,
};
