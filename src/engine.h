/* engine.h: the consumer loop every consumer command shares. */
#ifndef PP_ENGINE_H
#define PP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "cmd.h"
#include "store.h"

struct gate;

struct engine_config {
	const struct common_opts *co;
	const char *brokers;
	const char *group;
	const char *instance_id; /* static membership, or NULL */
	struct store *store;     /* NULL: offsets are committed to Kafka after each batch */
	int64_t batch;           /* at most this many messages per transaction */
	int64_t linger_ms;       /* ... or what arrived within this time */
	int start_latest;        /* where a partition with no stored offset starts */
	int exit_at_end;         /* stop once every assigned partition is at its end */
	int on_gap_skip;         /* accept lost offsets and record them, instead of stopping */
	int64_t tick_ms;         /* how often hooks->tick runs; 0 for never */
	struct gate *gate;       /* dependencies to wait for, or NULL */
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
	int64_t consumed, applied, skipped, rejected, batches;
	int64_t first_ms, last_ms; /* monotonic: the first message polled, the last commit */
};

/* Runs the consumer until SIGINT/SIGTERM, or the end with exit_at_end. Returns an exit
 * code: 0, EX_UNAVAILABLE, EX_IOERR (store), EX_DATAERR (a gap), EX_SOFTWARE. */
int engine_run(const struct engine_config *cfg, const struct engine_hooks *hooks, void *ctx,
	       struct engine_stats *stats);

/* Common consumer options, parsed the same way by every consumer command. */
struct consumer_opts {
	const char *group;
	const char *store_dir;
	const char *instance_id;
	int64_t batch, linger_ms;
	int start_latest, exit_at_end, on_gap_skip, no_sync;
	const char **after_groups;  /* --after GROUP */
	size_t nafter_groups;
	const char **after_stores;  /* --after-store DIR */
	size_t nafter_stores;
	int64_t after_poll_ms;
};

enum {
	OPT_GROUP = 'g',
	OPT_STORE = 1200, OPT_BATCH, OPT_LINGER, OPT_START, OPT_EXIT_AT_END, OPT_ON_GAP,
	OPT_INSTANCE_ID, OPT_NO_SYNC, OPT_AFTER, OPT_AFTER_STORE, OPT_AFTER_POLL,
	OPT_FIRST_CONSUMER_COMMAND_OPTION = 1300,
};

#define CONSUMER_SHORTOPTS "g:"
#define CONSUMER_LONGOPTS                                                                       \
	{ "group", required_argument, NULL, OPT_GROUP }, { "store", required_argument, NULL, OPT_STORE }, \
	{ "batch", required_argument, NULL, OPT_BATCH }, { "linger", required_argument, NULL, OPT_LINGER }, \
	{ "start", required_argument, NULL, OPT_START },                                        \
	{ "exit-at-end", no_argument, NULL, OPT_EXIT_AT_END },                                  \
	{ "on-gap", required_argument, NULL, OPT_ON_GAP },                                      \
	{ "instance-id", required_argument, NULL, OPT_INSTANCE_ID },                            \
	{ "no-sync", no_argument, NULL, OPT_NO_SYNC },                                          \
	{ "after", required_argument, NULL, OPT_AFTER },                                        \
	{ "after-store", required_argument, NULL, OPT_AFTER_STORE },                            \
	{ "after-poll", required_argument, NULL, OPT_AFTER_POLL }

#define CONSUMER_USAGE                                                                          \
	"  -g, --group G        consumer group\n"                                                \
	"  --store DIR          the LMDB store that holds the state and the offsets\n"           \
	"  --batch N            messages per transaction (default 1000)\n"                      \
	"  --linger D           or what arrived within D (default 100ms)\n"                     \
	"  --start WHERE        earliest (default) or latest: where a partition with no stored\n" \
	"                       offset starts\n"                                                 \
	"  --exit-at-end        stop once every assigned partition is read to its end\n"         \
	"  --on-gap fail|skip   when stored offsets fall outside the log: stop (default), or\n"  \
	"                       go on from the log start and record the gap\n"                  \
	"  --instance-id ID     static group membership (group.instance.id)\n"                  \
	"  --no-sync            do not fsync each commit (MDB_NOSYNC); see pingpong-store(1)\n"  \
	"  --after GROUP        process an offset only once GROUP has committed past it\n"      \
	"  --after-store DIR    the same, reading the dependency's store on this host\n"        \
	"  --after-poll D       how often to re-read dependencies' offsets (default 200ms)\n"

/* What a consumer command runs on: its store, its gate and the engine's configuration. */
struct consumer {
	struct engine_config cfg;
	struct store *store;
	struct gate *gate;
	const char *brokers;
};

/* Opens the store of o->store_dir (bound to the topic and group; `required` makes a
 * missing --store a usage error) and the gate, and fills c->cfg. Returns 0, or an exit
 * code after printing why. */
int consumer_open(struct consumer *c, const struct command *cmd, const struct common_opts *co,
		  const struct consumer_opts *o, int required);
void consumer_close(struct consumer *c);

/* Runs the engine until a signal (or the end with --exit-at-end) and logs the closing
 * summary. Returns the engine's exit code. */
int consumer_run(struct consumer *c, const struct engine_hooks *hooks, void *ctx);

void consumer_opts_init(struct consumer_opts *o, const char *default_group);
void consumer_opts_release(struct consumer_opts *o);
/* Handles a consumer option: returns 1 if handled, 0 if not one, -1 on a bad value
 * (a usage error was printed). */
int consumer_option(const struct command *cmd, struct consumer_opts *o, int c, const char *arg);

#endif
