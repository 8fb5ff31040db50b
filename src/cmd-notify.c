/* cmd-notify.c: `pingpong notify`, a consumer that runs behind the active consumer.
 *
 * For each chat message, once the gate says every dependency has processed it, notify
 * looks up who was active at the message's time in the active consumer's store (read
 * only) and records one notification per recipient in its own store's outbox, keyed by
 * (partition, offset, recipient), in the same txn as its offsets: exactly once, however
 * often it crashes. Printing happens after the commit, from the outbox.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "active.h"
#include "cmd.h"
#include "consumer.h"
#include "store.h"
#include "util.h"

static const char notify_usage[] =
	"usage: pingpong notify --store DIR --active-store DIR [--after GROUP]...\n"
	"                       [--after-store DIR]... [--window D] [--json]\n"
	"                       [consumer options] [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]...\n";

static const char notify_description[] =
	"For each chat message, once its dependencies have processed it, records and prints\n"
	"one notification per user active at the message's time (the sender left out).\n"
	"The default group is pingpong-notify.\n";

struct notify_opts {
	struct common_opts co;
	struct consumer_opts cons;
	const char *active_dir;
	int64_t window_ms;
};

#define OFF(field) offsetof(struct notify_opts, field)

static const struct option_spec notify_options[] = {
	OPTION_STRING(0, "active-store", "DIR", OFF(active_dir), "the active consumer's store, read-only"),
	OPTION_DURATION(0, "window", OFF(window_ms), "who counts as active: last seen in (ts - D, ts] (default 30s)"),
	OPTION_GROUP(CONSUMER_HEADING, consumer_options, OFF(cons)),
	OPTION_GROUP(NULL, common_options, OFF(co)),
	OPTION_END
};

struct notify_ctx {
	struct store *own;
	struct store *active;
	int64_t window_ms;
	int json;
	struct active_set set;
	char text[EVENT_USER_MAX + 2 + EVENT_MAX_SIZE];
};

static int notify_apply(void *arg, struct store_txn *t, struct batch_msg *msgs, size_t n, int64_t now, char *err,
			size_t errlen)
{
	struct notify_ctx *nc = arg;
	struct store_txn *at;
	size_t i, k;
	int rc;

	if ((rc = store_txn_begin(nc->active, 0, &at, err, errlen)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		const struct event *ev = &msgs[i].ev;
		size_t tlen;

		if (ev->activity != EVENT_SEND_MESSAGE)
			continue;
		if ((rc = active_collect(at, ev->ts, nc->window_ms, &nc->set, err, errlen)) != 0)
			break;
		/* By length, not printf's %.*s: a message may hold a NUL, which would end it. */
		memcpy(nc->text, ev->user, ev->user_len);
		memcpy(nc->text + ev->user_len, ": ", 2);
		memcpy(nc->text + ev->user_len + 2, ev->message, ev->message_len);
		tlen = ev->user_len + 2 + ev->message_len;
		for (k = 0; k < nc->set.n && rc == 0; k++) {
			const char *who = nc->set.names + nc->set.offs[k];
			size_t wlen = strlen(who);
			if (wlen == ev->user_len && !memcmp(who, ev->user, wlen))
				continue; /* not to the sender */
			rc = store_outbox_put(t, msgs[i].partition, msgs[i].offset, who, wlen, nc->text, tlen,
					      err, errlen);
		}
	}
	store_txn_abort(at);
	return rc;
}

static int print_notification(void *arg, int32_t partition, int64_t offset, const char *recipient, size_t rlen,
			      const char *text, size_t tlen)
{
	const struct notify_ctx *nc = arg;

	/* notify_committed flushes, and checks. */
	notification_print(partition, offset, recipient, rlen, text, tlen, nc->json, stdout);
	return 0;
}

static void notify_committed(void *arg, const struct batch_msg *msgs, size_t n)
{
	struct notify_ctx *nc = arg;
	struct store_txn *t;
	char err[512];
	size_t i;
	int rc = 0;

	/* The notifications are committed: a failure here loses none, only their printing. */
	if (store_txn_begin(nc->own, 0, &t, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return;
	}
	for (i = 0; i < n && rc == 0; i++)
		if (msgs[i].ev.activity == EVENT_SEND_MESSAGE)
			rc = store_outbox_at(t, msgs[i].partition, msgs[i].offset, print_notification, nc, err,
					     sizeof(err));
	store_txn_abort(t);
	if (rc != 0)
		log_error("cannot read the outbox to print it: %s", err);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("cannot write to standard output; the notifications are in the outbox "
			  "(pingpong query outbox)");
		clearerr(stdout);
	}
}

static int notify_run(int argc, char **argv)
{
	const struct engine_hooks hooks = { notify_apply, notify_committed, NULL, NULL };
	struct notify_opts o = { .window_ms = 30000 };
	struct notify_ctx nc = { 0 };
	struct store_options so = { .read_only = 1, .kind = "active" };
	struct consumer c;
	char err[512];
	int rc;

	common_opts_init(&o.co);
	consumer_opts_init(&o.cons, "pingpong-notify");
	if ((rc = options_parse(&cmd_notify, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	nc.window_ms = o.window_ms;
	if (!o.active_dir) {
		rc = usage_error(&cmd_notify, "--active-store DIR is required");
		goto options_release;
	}
	nc.json = o.co.json;
	log_init("notify", o.co.verbosity);
	if ((rc = consumer_open(&c, &cmd_notify, &o.co, &o.cons, 1)) != 0)
		goto options_release;
	if (store_open(&nc.active, o.active_dir, &so, err, sizeof(err)) != 0 ||
	    store_bind(nc.active, o.co.topic, NULL, err, sizeof(err)) != 0) {
		log_error("%s", err);
		store_close(nc.active);
		consumer_close(&c);
		rc = EX_IOERR;
		goto options_release;
	}
	if (!o.cons.after_groups.n && !o.cons.after_stores.n)
		log_warn("no --after or --after-store: notifications may run ahead of the active consumer");
	nc.own = c.store;
	active_set_init(&nc.set);
	rc = consumer_run(&c, &hooks, &nc);
	active_set_release(&nc.set);
	store_close(nc.active);
	consumer_close(&c);
options_release:
	options_release(&cmd_notify, &o);
	return rc;
}

const struct command cmd_notify = {
	"notify", "notify active users of each message, after the consumers it depends on",
	notify_usage, notify_description, notify_options, NULL, notify_run,
};
