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

#include "cmd.h"
#include "consumer.h"
#include "json-out.h"
#include "util.h"

static const char messages_usage[] =
	"usage: pingpong messages [--store DIR] [-g GROUP] [--json] [consumer options]\n"
	"                         [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]...\n";

static const char messages_description[] =
	"Prints 'user: message' for every chat message (heart-beats are skipped).\n"
	"The default group is pingpong-messages.\n";

struct messages_opts {
	struct common_opts co;
	struct consumer_opts cons;
};

static const struct option_spec messages_options[] = {
	OPTION_GROUP(CONSUMER_HEADING, consumer_options, offsetof(struct messages_opts, cons)),
	OPTION_GROUP(NULL, common_options, offsetof(struct messages_opts, co)),
	OPTION_END
};

struct messages_ctx {
	int json;
};

/* The state is only the offsets, which the engine writes; printing is the effect. */
static int messages_apply(void *arg, struct store_txn *t, struct batch_msg *msgs, size_t n, int64_t now, char *err,
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
			json_object_set_new(o, "partition", json_integer(msgs[i].partition));
			json_object_set_new(o, "offset", json_integer(msgs[i].offset));
			event_to_json(ev, o);
			if (json_print_line(o, stdout) != 0)
				break; /* reported below */
		} else {
			/* Escaped: a name or a message may hold newlines and terminal controls. */
			fput_escaped(ev->user, ev->user_len, stdout);
			fputs(": ", stdout);
			fput_escaped(ev->message, ev->message_len, stdout);
			putchar('\n');
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return set_err(-1, err, errlen, "cannot write to standard output");
	return 0;
}

static int messages_run(int argc, char **argv)
{
	const struct engine_hooks hooks = { messages_apply, NULL, NULL, NULL };
	struct messages_ctx m = { 0 };
	struct messages_opts o;
	struct consumer c;
	int rc;

	common_opts_init(&o.co);
	consumer_opts_init(&o.cons, "pingpong-messages");
	if ((rc = options_parse(&cmd_messages, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	m.json = o.co.json;
	log_init("messages", o.co.verbosity);
	if ((rc = consumer_open(&c, &cmd_messages, &o.co, &o.cons, 0)) != 0)
		goto options_release;
	rc = consumer_run(&c, &hooks, &m);
	consumer_close(&c);
options_release:
	options_release(&cmd_messages, &o);
	return rc;
}

const struct command cmd_messages = {
	"messages", "the messages consumer: print 'user: message' for every chat message",
	messages_usage, messages_description, messages_options, NULL, messages_run,
};
