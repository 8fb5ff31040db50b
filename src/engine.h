/* engine.h: the consumer loop every consumer command shares. */
#ifndef PP_ENGINE_H
#define PP_ENGINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "kafka.h"
#include "store.h"

struct consumer_metrics;
struct engine_stats;
struct gate;
struct changelog;

/* What the engine runs on, prepared by the command (consumer.c). */
struct engine_config {
	const char *topic;
	struct kafka_opts kafka; /* the brokers and the user's -X */
	const char *group;
	const char *instance_id; /* static membership, or NULL */
	struct store *store;     /* NULL: offsets are committed to Kafka after each batch */
	int64_t batch;           /* at most this many messages per transaction */
	int64_t linger_ms;       /* ... or what arrived within this time */
	int64_t mirror_interval_ms; /* with a store: mirror offsets to Kafka at most this often;
				     * 0 after every batch */
	int start_latest;        /* where a partition with no stored offset starts */
	int exit_at_end;         /* stop once every assigned partition is at its end */
	int64_t broker_timeout_ms; /* give up (EX_UNAVAILABLE) when no broker answers this
				    * long; 0 for never */
	int on_gap_skip;         /* accept lost offsets and record them, instead of stopping */
	int64_t tick_ms;         /* how often hooks->tick runs; 0 for never */
	struct gate *gate;       /* dependencies to wait for, or NULL */
	struct changelog *changelog; /* the store's changelog (changelog.h), or NULL */
	volatile sig_atomic_t *stop; /* the run ends once it is set (a signal handler's) */
	struct consumer_metrics *metrics; /* what the run counts (--metrics), or NULL */
	/* Called about every ENGINE_OBSERVE_MS in the polling thread, outside any txn, with
	 * the stats so far, the lag included (consumer.c shows progress). May be NULL. */
	void (*observe)(void *arg, const struct engine_stats *st);
	void *observe_arg;
};

#define ENGINE_OBSERVE_MS 250

struct engine_hooks {
	/* Applies events inside the batch's txn: see batch_apply_fn (batch.h). NULL: none. */
	batch_apply_fn apply;
	/* Called after the batch is durably committed with the messages applied, e.g. to
	 * print them. May be NULL. */
	void (*committed)(void *ctx, const struct batch_msg *msgs, size_t n);
	/* Called every tick_ms, outside any txn. May be NULL. */
	void (*tick)(void *ctx);
	/* Work that can wait while the consumer catches up: runs in a batch's txn after apply,
	 * only for a batch handed over while the lag was known and at most one batch
	 * (batch_upkeep_fn); and, while no message comes and the lag is 0, in batches of
	 * nothing, until it has twice come to the end of its work (engine.c, idle_upkeep).
	 * May be NULL. */
	batch_upkeep_fn upkeep;
};

/* Counters, for the closing summary; kept up to date in the polling thread during the
 * run, where the hooks and observe may read them. */
struct engine_stats {
	int64_t consumed, applied, skipped, rejected, ignored, batches;
	int64_t first_ms, last_ms; /* monotonic: the first message polled, the last commit */
	/* Events between what is committed and the log ends of the assigned partitions: each
	 * one's high watermark as of its last fetch (rd_kafka_get_watermark_offsets, which
	 * asks no broker) less its committed next offset. -1 while unknown: before the first
	 * assignment, during a rebalance, and until every partition has been fetched once. */
	int64_t lag;
};

/* Runs the consumer until SIGINT/SIGTERM, or the end with exit_at_end. Returns an exit
 * code: 0, EX_UNAVAILABLE, EX_IOERR (store), EX_DATAERR (a gap), EX_SOFTWARE. */
int engine_run(const struct engine_config *cfg, const struct engine_hooks *hooks, void *ctx,
	       struct engine_stats *stats);

#endif
