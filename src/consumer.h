/* consumer.h: the consumer commands' shared command line, and what it opens for them. */
#ifndef PP_CONSUMER_H
#define PP_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "cmd.h"
#include "engine.h"

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
