/* engine.h: the consumer loop every consumer command shares. */
#ifndef PP_ENGINE_H
#define PP_ENGINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "kafka.h"
#include "store.h"

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
	int start_latest;        /* where a partition with no stored offset starts */
	int exit_at_end;         /* stop once every assigned partition is at its end */
	int64_t broker_timeout_ms; /* give up (EX_UNAVAILABLE) when no broker answers this
				    * long; 0 for never */
	int on_gap_skip;         /* accept lost offsets and record them, instead of stopping */
	int64_t tick_ms;         /* how often hooks->tick runs; 0 for never */
	struct gate *gate;       /* dependencies to wait for, or NULL */
	struct changelog *changelog; /* the store's changelog (changelog.h), or NULL */
	volatile sig_atomic_t *stop; /* the run ends once it is set (a signal handler's) */
};

struct engine_hooks {
	/* Applies events inside the batch's txn: see batch_apply_fn (batch.h). NULL: none. */
	batch_apply_fn apply;
	/* Called after the batch is durably committed with the messages applied, e.g. to
	 * print them. May be NULL. */
	void (*committed)(void *ctx, const struct batch_msg *msgs, size_t n);
	/* Called every tick_ms, outside any txn. May be NULL. */
	void (*tick)(void *ctx);
};

/* Counters, for the closing summary. */
struct engine_stats {
	int64_t consumed, applied, skipped, rejected, ignored, batches;
	int64_t first_ms, last_ms; /* monotonic: the first message polled, the last commit */
};

/* Runs the consumer until SIGINT/SIGTERM, or the end with exit_at_end. Returns an exit
 * code: 0, EX_UNAVAILABLE, EX_IOERR (store), EX_DATAERR (a gap), EX_SOFTWARE. */
int engine_run(const struct engine_config *cfg, const struct engine_hooks *hooks, void *ctx,
	       struct engine_stats *stats);

#endif
