/* consumer.c: the command line the consumer commands share, and the consumer it opens.
 *
 * active, messages and notify take the same consumer options, open their store and gate
 * the same way, and run the engine with the same signal handling and closing summary.
 * The engine itself (engine.c) sees none of this: it gets a prepared struct
 * engine_config.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "crash.h"
#include "gate.h"
#include "util.h"

void consumer_opts_init(struct consumer_opts *o, const char *default_group)
{
	memset(o, 0, sizeof(*o));
	o->group = default_group;
	o->batch = 1000;
	o->linger_ms = 100;
	o->after_poll_ms = 200;
}

void consumer_opts_release(struct consumer_opts *o)
{
	free(o->after_groups);
	free(o->after_stores);
}

int consumer_option(const struct command *cmd, struct consumer_opts *o, int c, const char *arg)
{
	switch (c) {
	case OPT_GROUP:
		o->group = arg;
		return 1;
	case OPT_STORE:
		o->store_dir = arg;
		return 1;
	case OPT_BATCH:
		return opt_int(cmd, "--batch", arg, 1, 1000000, &o->batch) < 0 ? -1 : 1;
	case OPT_LINGER:
		return opt_duration(cmd, "--linger", arg, &o->linger_ms) < 0 ? -1 : 1;
	case OPT_AFTER_POLL:
		return opt_duration(cmd, "--after-poll", arg, &o->after_poll_ms) < 0 ? -1 : 1;
	case OPT_START:
		if (!strcmp(arg, "earliest"))
			o->start_latest = 0;
		else if (!strcmp(arg, "latest"))
			o->start_latest = 1;
		else {
			usage_error(cmd, "--start takes earliest or latest, not '%s'", arg);
			return -1;
		}
		return 1;
	case OPT_ON_GAP:
		if (!strcmp(arg, "fail"))
			o->on_gap_skip = 0;
		else if (!strcmp(arg, "skip"))
			o->on_gap_skip = 1;
		else {
			usage_error(cmd, "--on-gap takes fail or skip, not '%s'", arg);
			return -1;
		}
		return 1;
	case OPT_EXIT_AT_END:
		o->exit_at_end = 1;
		return 1;
	case OPT_INSTANCE_ID:
		o->instance_id = arg;
		return 1;
	case OPT_NO_SYNC:
		o->no_sync = 1;
		return 1;
	case OPT_AFTER:
		o->after_groups = xrealloc(o->after_groups, (o->nafter_groups + 1) * sizeof(char *));
		o->after_groups[o->nafter_groups++] = arg;
		return 1;
	case OPT_AFTER_STORE:
		o->after_stores = xrealloc(o->after_stores, (o->nafter_stores + 1) * sizeof(char *));
		o->after_stores[o->nafter_stores++] = arg;
		return 1;
	}
	return 0;
}

int consumer_open(struct consumer *c, const struct command *cmd, const struct common_opts *co,
		  const struct consumer_opts *o, int required)
{
	char err[1024];
	int rc;

	memset(c, 0, sizeof(*c));
	if (required && !o->store_dir)
		return usage_error(cmd, "--store DIR is required");
	if (!(c->brokers = common_brokers(co)))
		return EX_USAGE;
	if (o->store_dir) {
		struct store_options so = { .no_sync = o->no_sync };
		if (store_open(&c->store, o->store_dir, &so, err, sizeof(err)) != 0 ||
		    store_bind(c->store, co->topic, o->group, err, sizeof(err)) != 0) {
			log_error("%s", err);
			consumer_close(c);
			return EX_IOERR;
		}
	}
	if ((rc = gate_open(&c->gate, co, c->brokers, o, err, sizeof(err))) != 0) {
		log_error("%s", err);
		consumer_close(c);
		return rc == GATE_ESTORE ? EX_IOERR : EX_UNAVAILABLE;
	}
	c->cfg.co = co;
	c->cfg.brokers = c->brokers;
	c->cfg.group = o->group;
	c->cfg.instance_id = o->instance_id;
	c->cfg.store = c->store;
	c->cfg.batch = o->batch;
	c->cfg.linger_ms = o->linger_ms;
	c->cfg.start_latest = o->start_latest;
	c->cfg.exit_at_end = o->exit_at_end;
	c->cfg.on_gap_skip = o->on_gap_skip;
	c->cfg.gate = c->gate;
	if (crash_init() < 0) {
		consumer_close(c);
		return EX_USAGE;
	}
	return 0;
}

void consumer_close(struct consumer *c)
{
	gate_close(c->gate);
	store_close(c->store);
	c->gate = NULL;
	c->store = NULL;
}

int consumer_run(struct consumer *c, const struct engine_hooks *hooks, void *ctx)
{
	struct engine_stats stats;
	const struct engine_stats *st = &stats;
	int64_t t0 = clock_mono_ms(), elapsed_ms, busy_ms;
	int rc;

	signals_install();
	rc = engine_run(&c->cfg, hooks, ctx, &stats);
	elapsed_ms = clock_mono_ms() - t0;
	/* The rate counts from the first event: joining the group is not processing. */
	busy_ms = st->first_ms ? st->last_ms - st->first_ms : 0;
	log_info("%" PRId64 " events consumed in %.2fs, %.2fs from the first (%.0f events/s): %" PRId64
		 " applied, %" PRId64 " rejected, %" PRId64 " already applied, in %" PRId64 " batches",
		 st->consumed, (double)elapsed_ms / 1000, (double)busy_ms / 1000,
		 busy_ms > 0 ? (double)st->consumed * 1000 / (double)busy_ms : 0.0, st->applied,
		 st->rejected, st->skipped, st->batches);
	return rc;
}
