/* cmd-active.c: `pingpong active`, the active-users consumer.
 *
 * Each event moves its user's last_seen to max(last_seen, ts) in the store, inside the
 * engine's batch txn, and every --every the command prints who was seen in the last
 * --window of wall-clock time. Event time decides, never processing time: a stale event
 * replayed after downtime updates the user's history but cannot make anyone active.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "active.h"
#include "changelog.h"
#include "cmd.h"
#include "consumer.h"
#include "store.h"
#include "util.h"

static const char active_usage[] =
	"usage: pingpong active --store DIR [-g GROUP] [--window D] [--every D] [--json]\n"
	"                       [--max-skew D] [--retain D] [--retain-users D]\n"
	"                       [--changelog [--changelog-topic NAME] [--standby]]\n"
	"                       [consumer options] [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]...\n";

static const char active_description[] =
	"Keeps every user's last-seen time in an LMDB store, with the offsets in the same\n"
	"transaction, and every --every prints the users seen in the last --window.\n"
	"The default group is pingpong-active.\n";

struct active_opts {
	struct common_opts co;
	struct consumer_opts cons;
	int64_t window_ms, every_ms, max_skew_ms, retain_ms, retain_users_ms;
	int changelog, standby;
	const char *changelog_topic;
};

#define OFF(field) offsetof(struct active_opts, field)

static const struct option_spec active_options[] = {
	OPTION_DURATION(0, "window", OFF(window_ms), "the active window (default 30s)"),
	OPTION_DURATION(0, "every", OFF(every_ms), "report interval (default 3s; 0 for no reports)"),
	OPTION_DURATION(0, "max-skew", OFF(max_skew_ms),
			"reject events stamped more than D in the future (default 5m)"),
	OPTION_DURATION(0, "retain", OFF(retain_ms), "keep the time index for D (default: the window)"),
	OPTION_DURATION(0, "retain-users", OFF(retain_users_ms),
			"forget users not seen for D (default: keep them); events older than D when "
			"processed are then ignored"),
	OPTION_FLAG(0, "changelog", OFF(changelog),
		    "produce the store's changes to a changelog topic; restore a partition from it when "
		    "assigned one the store is behind on"),
	OPTION_STRING(0, "changelog-topic", "NAME", OFF(changelog_topic),
		      "the changelog topic (default: GROUP-active-changelog)"),
	OPTION_FLAG(0, "standby", OFF(standby),
		    "with --changelog, also follow the changelog of the partitions not owned, so that a "
		    "takeover restores nothing"),
	OPTION_GROUP(CONSUMER_HEADING, consumer_options, OFF(cons)),
	OPTION_GROUP(NULL, common_options, OFF(co)),
	OPTION_END
};

struct active_ctx {
	struct store *store;
	const struct engine_stats *stats; /* the engine's, for its lag */
	int64_t batch;
	int64_t window_ms, every_ms;
	int json;
	struct active_apply apply;
	struct active_set set;
};

static int active_apply_hook(void *arg, struct store_txn *t, struct batch_msg *msgs, size_t n, int64_t now, char *err,
			     size_t errlen)
{
	struct active_ctx *a = arg;
	return active_apply(&a->apply, t, msgs, n, now, err, errlen);
}

static int active_upkeep_hook(void *arg, struct store_txn *t, size_t nlive, char *err, size_t errlen)
{
	struct active_ctx *a = arg;
	return active_upkeep(&a->apply, t, nlive, err, errlen);
}

static void active_tick(void *arg)
{
	struct active_ctx *a = arg;
	struct store_txn *t;
	int64_t now = clock_now_ms();
	/* More than a batch behind, the report is not the room's as it is now: it says so. */
	struct active_lag lag = { a->stats->lag >= 0 && a->stats->lag <= a->batch, a->stats->lag };
	char err[512];

	if (store_txn_begin(a->store, 0, &t, err, sizeof(err)) != 0 ||
	    active_collect(t, now, a->window_ms, &a->set, err, sizeof(err)) != 0) {
		log_error("active users query: %s", err);
		return;
	}
	store_txn_abort(t);
	active_print(&a->set, now, a->window_ms, &lag, a->json, stdout);
}

/* --changelog: the changelog of c's store, for the engine. Returns 0 or an exit code. */
static int changelog_start(const struct active_opts *o, struct consumer *c, int64_t retain_users_ms)
{
	char topic[512], err[512];
	int rc;
	struct changelog_config cc = { o->changelog_topic, o->co.topic, o->cons.group, c->cfg.kafka, c->store,
				       o->standby, retain_users_ms > 0, 0 };

	if (!o->changelog)
		return 0;
	if (!cc.topic) {
		snprintf(topic, sizeof(topic), "%s-active-changelog", o->cons.group);
		cc.topic = topic;
	}
	if ((rc = changelog_open(&c->cfg.changelog, &cc)) != 0)
		return rc;
	/* Its figures beside the consumer's, under --metrics. */
	if (c->registry && changelog_metrics(c->cfg.changelog, c->registry, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return EX_SOFTWARE;
	}
	return 0;
}

/* Says what the changelog did, and closes it. */
static void changelog_stop(struct consumer *c)
{
	const struct changelog_stats *st;

	if (!c->cfg.changelog)
		return;
	st = changelog_stats(c->cfg.changelog);
	log_info("changelog: %" PRIu64 " partition(s) restored, %" PRIu64 " records in %.2fs; %" PRIu64
		 " records applied standing by; %" PRIu64 " messages produced", st->restores, st->restored_records,
		 (double)st->restore_ms / 1000, st->standby_records, st->produced);
	changelog_close(c->cfg.changelog);
	c->cfg.changelog = NULL;
}

static int active_run(int argc, char **argv)
{
	struct active_opts o = { .window_ms = 30000, .every_ms = 3000, .max_skew_ms = 300000, .retain_ms = -1 };
	struct active_ctx a = { 0 };
	const struct engine_hooks hooks = { active_apply_hook, NULL, active_tick, active_upkeep_hook };
	struct consumer c;
	char err[512];
	int rc;

	common_opts_init(&o.co);
	consumer_opts_init(&o.cons, "pingpong-active");
	if ((rc = options_parse(&cmd_active, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	a.window_ms = o.window_ms;
	a.every_ms = o.every_ms;
	a.apply.max_skew_ms = o.max_skew_ms;
	a.apply.retain_ms = o.retain_ms;
	a.apply.retain_users_ms = o.retain_users_ms;
	if (a.apply.retain_ms < 0)
		a.apply.retain_ms = a.window_ms;
	rc = 0;
	if (a.window_ms <= 0)
		rc = usage_error(&cmd_active, "--window must be longer than 0");
	else if (a.apply.retain_ms < a.window_ms)
		rc = usage_error(&cmd_active, "--retain must be at least the window");
	/* The index must outlive the users it leads to, or pruning could not find them. */
	else if (a.apply.retain_users_ms && a.apply.retain_users_ms < a.apply.retain_ms)
		rc = usage_error(&cmd_active, "--retain-users must be at least --retain");
	if (rc != 0)
		goto options_release;
	if (a.apply.retain_users_ms)
		a.apply.retain_ms = a.apply.retain_users_ms;
	if ((o.standby || o.changelog_topic) && !o.changelog)
		return usage_error(&cmd_active, "--%s needs --changelog", o.standby ? "standby" : "changelog-topic");
	o.cons.changelog = o.changelog;
	a.json = o.co.json;
	log_init("active", o.co.verbosity);

	if ((rc = consumer_open(&c, &cmd_active, &o.co, &o.cons, 1)) != 0)
		goto options_release;
	a.store = c.store;
	a.stats = &c.stats;
	a.batch = o.cons.batch;
	if (active_record_retention(c.store, a.apply.retain_ms, err, sizeof(err)) != 0) {
		log_error("store '%s': %s", o.cons.store_dir, err);
		consumer_close(&c);
		rc = EX_IOERR;
		goto options_release;
	}
	if ((rc = changelog_start(&o, &c, a.apply.retain_users_ms)) != 0) {
		consumer_close(&c);
		return rc;
	}
	c.cfg.tick_ms = a.every_ms;
	active_set_init(&a.set);
	rc = consumer_run(&c, &hooks, &a);
	changelog_stop(&c);
	active_apply_release(&a.apply);
	active_set_release(&a.set);
	consumer_close(&c);
options_release:
	options_release(&cmd_active, &o);
	return rc;
}

const struct command cmd_active = {
	"active", "the active-users consumer: last-seen times in LMDB, reports every 3 s",
	active_usage, active_description, active_options, NULL, active_run,
};
