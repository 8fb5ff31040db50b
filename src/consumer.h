/* consumer.h: the consumer commands' shared command line, and what it opens for them. */
#ifndef PP_CONSUMER_H
#define PP_CONSUMER_H

#include <stdint.h>

#include "cmd.h"
#include "consumer-metrics.h"
#include "engine.h"
#include "progress.h"

/* The options every consumer command takes, parsed by the table consumer_options. */
struct consumer_opts {
	const char *group;
	const char *store_dir;
	const char *instance_id;
	int64_t batch, linger_ms, mirror_interval_ms;
	int start_latest, exit_at_end, on_gap_skip, no_sync;
	int64_t broker_timeout_ms;        /* -1 until given: then 30s with --exit-at-end, else 0 */
	struct option_list after_groups;  /* --after GROUP */
	struct option_list after_stores;  /* --after-store DIR */
	int64_t after_poll_ms;
	const char *metrics_addr;         /* --metrics ADDR:PORT */
	int changelog;                    /* not an option: the command's, for the store */
};

#define CONSUMER_HEADING "Consumer options"

extern const struct option_spec consumer_options[];

/* The defaults, and the command's own group. */
void consumer_opts_init(struct consumer_opts *o, const char *default_group);

/* What a consumer command runs on: its store, its gate and the engine's configuration;
 * what it shows while it runs: its metrics (--metrics) and its progress. */
struct consumer {
	struct engine_config cfg;
	struct store *store;
	struct gate *gate;
	const char *brokers;
	struct engine_stats stats;      /* the engine's, during the run: a hook may read them */
	struct metrics *registry;       /* with --metrics, else NULL */
	struct metrics_server *server;
	struct consumer_metrics metrics;
	int64_t last_store_ms;          /* the store's gauges, last set (monotonic ms) */
	struct progress progress;       /* on while more than a batch behind */
	const char *name;               /* the command's */
	int verbosity;
	int behind;
};

/* Opens the store of o->store_dir (bound to the topic and group; `required` makes a
 * missing --store a usage error) and the gate, and fills c->cfg. Returns 0, or an exit
 * code after printing why. */
int consumer_open(struct consumer *c, const struct command *cmd, const struct common_opts *co,
		  const struct consumer_opts *o, int required);
void consumer_close(struct consumer *c);

/* Runs the engine until a signal (or the end with --exit-at-end) and logs the closing
 * summary. While the consumer is more than a batch behind, its progress shows on
 * stderr (progress.h), and a log line says when it has caught up. Returns the engine's
 * exit code. */
int consumer_run(struct consumer *c, const struct engine_hooks *hooks, void *ctx);

#endif
