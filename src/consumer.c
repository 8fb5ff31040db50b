/* consumer.c: the command line the consumer commands share, and the consumer it opens.
 *
 * active, messages and notify take the same consumer options (one table, below), open
 * their store and gate the same way, and run the engine with the same signal handling
 * and closing summary. The engine itself (engine.c) sees none of this: it gets a
 * prepared struct engine_config.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "crash.h"
#include "gate.h"
#include "metrics.h"
#include "util.h"

static const char *const start_choices[] = { "earliest", "latest", NULL };
static const char *const on_gap_choices[] = { "fail", "skip", NULL };

#define CONS(field) offsetof(struct consumer_opts, field)

const struct option_spec consumer_options[] = {
	OPTION_STRING('g', "group", "G", CONS(group), "consumer group"),
	OPTION_STRING(0, "store", "DIR", CONS(store_dir), "the LMDB store that holds the state and the offsets"),
	OPTION_INT(0, "batch", "N", CONS(batch), 1, 1000000, "messages per transaction (default 1000)"),
	OPTION_DURATION(0, "linger", CONS(linger_ms), "or what arrived within D (default 100ms)"),
	OPTION_DURATION(0, "mirror-interval", CONS(mirror_interval_ms),
			"mirror the stored offsets to Kafka at most every D (default 100ms; 0: after "
			"every batch)"),
	OPTION_CHOICE(0, "start", CONS(start_latest), start_choices,
		      "where a partition with no stored offset starts (default earliest)"),
	OPTION_FLAG(0, "exit-at-end", CONS(exit_at_end), "stop once every assigned partition is read to its end"),
	OPTION_DURATION(0, "broker-timeout", CONS(broker_timeout_ms),
			"exit 69 when no broker has answered for D (default: 30s with --exit-at-end, "
			"else never; 0 is never)"),
	OPTION_CHOICE(0, "on-gap", CONS(on_gap_skip), on_gap_choices,
		      "when stored offsets fall outside the log: stop (default), or go on from the log "
		      "start and record the gap"),
	OPTION_STRING(0, "instance-id", "ID", CONS(instance_id), "static group membership (group.instance.id)"),
	OPTION_FLAG(0, "no-sync", CONS(no_sync), "do not fsync each commit (MDB_NOSYNC); see pingpong-store(1)"),
	OPTION_LIST(0, "after", "GROUP", CONS(after_groups), "process an offset only once GROUP has committed past it"),
	OPTION_LIST(0, "after-store", "DIR", CONS(after_stores), "the same, reading the dependency's store on this host"),
	OPTION_DURATION(0, "after-poll", CONS(after_poll_ms),
			"how often to re-read dependencies' offsets (default 200ms)"),
	OPTION_STRING(0, "metrics", "ADDR:PORT", CONS(metrics_addr),
		      "serve Prometheus metrics at http://ADDR:PORT/metrics while it runs"),
	OPTION_END
};

void consumer_opts_init(struct consumer_opts *o, const char *default_group)
{
	memset(o, 0, sizeof(*o));
	o->group = default_group;
	o->batch = 1000;
	o->linger_ms = 100;
	o->mirror_interval_ms = 100;
	o->after_poll_ms = 200;
	o->broker_timeout_ms = -1; /* not given */
}

/* The store's gauges: its map and the part in use. */
static void store_gauges(struct consumer *c)
{
	struct store_txn *t;
	struct store_stat st;
	char err[512];

	c->last_store_ms = clock_mono_ms();
	if (!c->store || !c->registry || store_txn_begin(c->store, 0, &t, err, sizeof(err)) != 0)
		return;
	if (store_stat(t, &st, err, sizeof(err)) == 0)
		consumer_metrics_store(&c->metrics, st.map_size, st.used_bytes);
	store_txn_abort(t);
}

/* --metrics: the consumers' families in a registry of their own, served from a thread
 * of libmicrohttpd's. Returns 0, or an exit code after saying why. */
static int serve_metrics(struct consumer *c, const struct command *cmd, const char *addr)
{
	char err[512];
	int rc;

	c->registry = metrics_new();
	if (consumer_metrics_init(&c->metrics, c->registry, cmd->name, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return EX_SOFTWARE;
	}
	if ((rc = metrics_serve(c->registry, addr, &c->server, err, sizeof(err))) != 0) {
		if (rc == METRICS_EADDR)
			return usage_error(cmd, "--metrics: %s", err);
		log_error("%s", err);
		return EX_OSERR;
	}
	/* The port it got, for --metrics HOST:0. */
	log_info("serving metrics on %.*s:%d: GET /metrics", (int)(strrchr(addr, ':') - addr), addr,
		 metrics_server_port(c->server));
	c->cfg.metrics = &c->metrics;
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
	c->name = cmd->name;
	c->verbosity = co->verbosity;
	/* Before the store: a bad address is a usage error, and makes nothing. */
	if (o->metrics_addr && (rc = serve_metrics(c, cmd, o->metrics_addr)) != 0) {
		consumer_close(c);
		return rc;
	}
	if (o->store_dir) {
		struct store_options so = { .no_sync = o->no_sync, .kind = cmd->name, .changelog = o->changelog };
		if (store_open(&c->store, o->store_dir, &so, err, sizeof(err)) != 0 ||
		    store_bind(c->store, co->topic, o->group, err, sizeof(err)) != 0) {
			log_error("%s", err);
			consumer_close(c);
			return EX_IOERR;
		}
	}
	store_gauges(c);
	c->cfg.kafka = common_kafka_opts(co, c->brokers);
	{
		struct gate_config gc = { co->topic, &c->cfg.kafka, o->after_groups.v, o->after_groups.n,
					  o->after_stores.v, o->after_stores.n, o->after_poll_ms, c->cfg.metrics };
		rc = gate_open(&c->gate, &gc, err, sizeof(err));
	}
	if (rc != 0) {
		log_error("%s", err);
		consumer_close(c);
		return rc == GATE_ESTORE ? EX_IOERR : EX_UNAVAILABLE;
	}
	c->cfg.topic = co->topic;
	c->cfg.group = o->group;
	c->cfg.stop = &stop_requested;
	c->cfg.instance_id = o->instance_id;
	c->cfg.store = c->store;
	c->cfg.batch = o->batch;
	c->cfg.linger_ms = o->linger_ms;
	c->cfg.mirror_interval_ms = o->mirror_interval_ms;
	c->cfg.start_latest = o->start_latest;
	c->cfg.exit_at_end = o->exit_at_end;
	/* A consumer that runs for ever waits for its brokers for ever, unless told; one that
	 * is to stop at the end must not hang when there is no broker to tell it the end. */
	c->cfg.broker_timeout_ms = o->broker_timeout_ms >= 0 ? o->broker_timeout_ms :
				   o->exit_at_end ? 30000 : 0;
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
	metrics_server_stop(c->server);
	metrics_free(c->registry);
	store_close(c->store);
	c->gate = NULL;
	c->server = NULL;
	c->registry = NULL;
	c->cfg.metrics = NULL;
	c->store = NULL;
}

/* The engine's observer: the progress while the consumer is more than a batch behind,
 * and one log line once it has caught up, if a progress line was shown; the store's
 * gauges once a second. */
static void consumer_observe(void *arg, const struct engine_stats *st)
{
	struct consumer *c = arg;
	char n[32];

	if (c->registry && clock_mono_ms() - c->last_store_ms >= 1000)
		store_gauges(c);
	if (st->lag > c->cfg.batch) {
		if (!c->behind)
			progress_init(&c->progress, c->name, "applied", "events", c->verbosity);
		c->behind = 1;
		progress_update(&c->progress, st->applied, st->lag);
	} else if (c->behind && st->lag >= 0) {
		progress_done(&c->progress);
		if (c->progress.last_ms > c->progress.start_ms)
			log_info("caught up: %s events applied, %" PRId64 " behind", progress_count(st->applied, n,
				 sizeof(n)), st->lag);
		c->behind = 0;
	}
}

int consumer_run(struct consumer *c, const struct engine_hooks *hooks, void *ctx)
{
	const struct engine_stats *st = &c->stats;
	int64_t t0 = clock_mono_ms(), elapsed_ms, busy_ms;
	int rc;

	signals_install();
	c->cfg.observe = consumer_observe;
	c->cfg.observe_arg = c;
	rc = engine_run(&c->cfg, hooks, ctx, &c->stats);
	if (c->behind)
		progress_done(&c->progress);
	elapsed_ms = clock_mono_ms() - t0;
	/* The rate counts from the first event: joining the group is not processing. */
	/* With no batch committed there is no span (last_ms is 0). */
	busy_ms = st->first_ms && st->last_ms > st->first_ms ? st->last_ms - st->first_ms : 0;
	log_info("%" PRId64 " events consumed in %.2fs, %.2fs from the first (%.0f events/s): %" PRId64
		 " applied, %" PRId64 " rejected, %" PRId64 " already applied, in %" PRId64 " batches",
		 st->consumed, (double)elapsed_ms / 1000, (double)busy_ms / 1000,
		 busy_ms > 0 ? (double)st->consumed * 1000 / (double)busy_ms : 0.0, st->applied,
		 st->rejected, st->skipped, st->batches);
	if (st->ignored)
		log_info("%" PRId64 " of the applied events were older than --retain-users and ignored",
			 st->ignored);
	return rc;
}
