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
#include "cmd.h"
#include "consumer.h"
#include "store.h"
#include "util.h"

static const char active_usage[] =
	"usage: pingpong active --store DIR [-g GROUP] [--window D] [--every D] [--json]\n"
	"                       [--max-skew D] [--retain D] [--retain-users D]\n"
	"                       [consumer options] [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]...\n"
	"\n"
	"Keeps every user's last-seen time in an LMDB store, with the offsets in the same\n"
	"transaction, and every --every prints the users seen in the last --window.\n"
	"\n"
	"  --window D           the active window (default 30s)\n"
	"  --every D            report interval (default 3s; 0 for no reports)\n"
	"  --json               one JSON object per report\n"
	"  --max-skew D         reject events stamped more than D in the future (default 5m)\n"
	"  --retain D           keep the time index for D (default: the window)\n"
	"  --retain-users D     forget users not seen for D (default: keep them); events older\n"
	"                       than D when processed are then ignored\n"
	CONSUMER_USAGE
	"  -b, --brokers LIST, -t, --topic NAME, -X KEY=VALUE, -q, -v: see pingpong(1)\n"
	"\n"
	"(default group: pingpong-active)\n";

enum {
	OPT_WINDOW = OPT_FIRST_CONSUMER_COMMAND_OPTION, OPT_EVERY, OPT_MAX_SKEW, OPT_RETAIN,
	OPT_RETAIN_USERS,
};

struct active_ctx {
	struct store *store;
	int64_t window_ms, every_ms;
	int json;
	struct active_apply apply;
	struct active_set set;
};

static int active_apply_hook(void *arg, struct store_txn *t, struct engine_msg *msgs, size_t n, char *err,
			     size_t errlen)
{
	struct active_ctx *a = arg;
	return active_apply(&a->apply, t, msgs, n, clock_now_ms(), err, errlen);
}

static void active_tick(void *arg)
{
	struct active_ctx *a = arg;
	struct store_txn *t;
	int64_t now = clock_now_ms();
	char err[512];

	if (store_txn_begin(a->store, 0, &t, err, sizeof(err)) != 0 ||
	    active_collect(t, now, a->window_ms, &a->set, err, sizeof(err)) != 0) {
		log_error("active users query: %s", err);
		return;
	}
	store_txn_abort(t);
	active_print(&a->set, now, a->window_ms, a->json, stdout);
}

static int active_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		CONSUMER_LONGOPTS,
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "every", required_argument, NULL, OPT_EVERY },
		{ "max-skew", required_argument, NULL, OPT_MAX_SKEW },
		{ "retain", required_argument, NULL, OPT_RETAIN },
		{ "retain-users", required_argument, NULL, OPT_RETAIN_USERS },
		{ NULL, 0, NULL, 0 },
	};
	struct active_ctx a = { .window_ms = 30000, .every_ms = 3000, .apply = { .max_skew_ms = 300000, .retain_ms = -1 } };
	const struct engine_hooks hooks = { active_apply_hook, NULL, active_tick };
	struct common_opts co;
	struct consumer_opts o;
	struct consumer c;
	char err[512];
	int ch, rc;

	common_opts_init(&co);
	consumer_opts_init(&o, "pingpong-active");
	while ((ch = getopt_long(argc, argv, COMMON_SHORTOPTS CONSUMER_SHORTOPTS, longopts, NULL)) != -1) {
		int bad = 0;
		switch (ch) {
		case OPT_WINDOW: bad = opt_duration(&cmd_active, "--window", optarg, &a.window_ms); break;
		case OPT_EVERY: bad = opt_duration(&cmd_active, "--every", optarg, &a.every_ms); break;
		case OPT_MAX_SKEW: bad = opt_duration(&cmd_active, "--max-skew", optarg, &a.apply.max_skew_ms); break;
		case OPT_RETAIN: bad = opt_duration(&cmd_active, "--retain", optarg, &a.apply.retain_ms); break;
		case OPT_RETAIN_USERS:
			bad = opt_duration(&cmd_active, "--retain-users", optarg, &a.apply.retain_users_ms);
			break;
		default:
			if ((rc = consumer_option(&cmd_active, &o, ch, optarg)) == 0)
				rc = common_option(&co, ch, optarg);
			if (rc == 0)
				return usage_error(&cmd_active, "unknown option");
			bad = rc < 0;
		}
		if (bad)
			return EX_USAGE;
	}
	if (co.help)
		return usage_help(&cmd_active);
	if (optind < argc)
		return usage_error(&cmd_active, "unexpected argument '%s'", argv[optind]);
	if (a.window_ms <= 0)
		return usage_error(&cmd_active, "--window must be longer than 0");
	if (a.apply.retain_ms < 0)
		a.apply.retain_ms = a.window_ms;
	if (a.apply.retain_ms < a.window_ms)
		return usage_error(&cmd_active, "--retain must be at least the window");
	/* The index must outlive the users it leads to, or pruning could not find them. */
	if (a.apply.retain_users_ms && a.apply.retain_users_ms < a.apply.retain_ms)
		return usage_error(&cmd_active, "--retain-users must be at least --retain");
	if (a.apply.retain_users_ms)
		a.apply.retain_ms = a.apply.retain_users_ms;
	a.json = co.json;
	log_init("active", co.verbosity);

	if ((rc = consumer_open(&c, &cmd_active, &co, &o, 1)) != 0)
		return rc;
	a.store = c.store;
	if (active_record_retention(c.store, a.apply.retain_ms, err, sizeof(err)) != 0) {
		log_error("store '%s': %s", o.store_dir, err);
		consumer_close(&c);
		return EX_IOERR;
	}
	c.cfg.tick_ms = a.every_ms;
	active_set_init(&a.set);
	rc = consumer_run(&c, &hooks, &a);
	if (a.apply.expired)
		log_info("%" PRId64 " events older than --retain-users were ignored", a.apply.expired);
	active_apply_release(&a.apply);
	active_set_release(&a.set);
	consumer_close(&c);
	consumer_opts_release(&o);
	common_opts_release(&co);
	return rc;
}

const struct command cmd_active = {
	"active", "the active-users consumer: last-seen times in LMDB, reports every 3 s",
	active_usage, active_run,
};
