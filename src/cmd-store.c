/* cmd-store.c: `pingpong store`, maintenance of a store: check its invariants, show stats.
 *
 * Like mdb_stat, it opens the store read-only, so it can run beside a live consumer.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "json-out.h"
#include "store.h"
#include "util.h"

static const char store_usage[] =
	"usage: pingpong store check --store DIR [-q]\n"
	"       pingpong store stat --store DIR [--json]\n";

static const char store_description[] =
	"  check      verify every invariant of the store; exit 1 if one is broken\n"
	"  stat       print counts, sizes and the map size\n";

static const char *const store_subcommands[] = { "check", "stat", NULL };

struct store_opts {
	struct common_opts co;
	const char *dir;
};

#define OFF(field) offsetof(struct store_opts, field)

/* The store adopts its own topic, and reads no Kafka: -b, -t and -X would mean nothing. */
static const struct option_spec store_options[] = {
	OPTION_STRING(0, "store", "DIR", OFF(dir), "the store"),
	OPTION_GROUP_ONLY("With stat", common_json_options, OFF(co), "stat"),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

static void report_problem(void *arg, const char *problem)
{
	int *shown = arg;

	/* A problem may quote a user's name: escaped. */
	if ((*shown)++ < 100) {
		fput_escaped(problem, strlen(problem), stdout);
		putchar('\n');
	}
}

static int store_check_cmd(struct store_txn *t, int quiet)
{
	char err[512];
	int shown = 0, n;

	n = store_check(t, report_problem, &shown, err, sizeof(err));
	if (n < 0) {
		/* LMDB has no checksums: an unreadable page is all it can tell of damage. */
		log_error("store is damaged or unreadable: %s", err);
		return EX_IOERR;
	}
	if (n > shown)
		printf("... and %d more\n", n - shown);
	if (n) {
		printf("store check: %d problem(s)\n", n);
		return 1;
	}
	if (!quiet)
		printf("store check: ok\n");
	return 0;
}

static int store_stat_cmd(struct store_txn *t, int json)
{
	struct store_stat st;
	char err[512], topic[256] = "", group[256] = "";

	if (store_stat(t, &st, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return EX_IOERR;
	}
	store_meta_get(t, "topic", topic, sizeof(topic));
	store_meta_get(t, "group", group, sizeof(group));
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "topic", json_string(topic));
		json_object_set_new(o, "group", json_string(group));
		json_object_set_new(o, "users", json_integer((json_int_t)st.users));
		json_object_set_new(o, "index", json_integer((json_int_t)st.index));
		json_object_set_new(o, "offsets", json_integer((json_int_t)st.offsets));
		json_object_set_new(o, "rejects", json_integer((json_int_t)st.rejects));
		json_object_set_new(o, "gaps", json_integer((json_int_t)st.gaps));
		json_object_set_new(o, "outbox", json_integer((json_int_t)st.outbox));
		json_object_set_new(o, "map_size", json_integer((json_int_t)st.map_size));
		json_object_set_new(o, "used_bytes", json_integer((json_int_t)st.used_bytes));
		json_print_line(o, stdout);
	} else {
		fputs("topic:     ", stdout);
		fput_escaped(topic, strlen(topic), stdout);
		fputs("\ngroup:     ", stdout);
		fput_escaped(group, strlen(group), stdout);
		printf("\nusers:     %" PRIu64 "\nindex:     %" PRIu64
		       "\noffsets:   %" PRIu64 "\nrejects:   %" PRIu64 "\ngaps:      %" PRIu64
		       "\noutbox:    %" PRIu64 "\nmap size:  %" PRIu64 " MiB\nused:      %.1f MiB\n",
		       st.users, st.index, st.offsets, st.rejects, st.gaps, st.outbox,
		       st.map_size >> 20, (double)st.used_bytes / (1 << 20));
	}
	return 0;
}

/* Offsets are keyed by topic: binds s to the topic its meta names, if any, and begins
 * the read txn *t for the command. Returns 0, or -1 with the reason (no txn open). */
static int store_adopt_topic(struct store *s, struct store_txn **t, char *err, size_t errlen)
{
	char topic[256];

	if (store_txn_begin(s, 0, t, err, errlen) != 0)
		return -1;
	if (store_meta_get(*t, "topic", topic, sizeof(topic)) != 0)
		return 0;
	/* store_bind() begins a txn of its own, and a thread holds one at a time. */
	store_txn_abort(*t);
	if (store_bind(s, topic, NULL, err, errlen) != 0 || store_txn_begin(s, 0, t, err, errlen) != 0)
		return -1;
	return 0;
}

static int store_run(int argc, char **argv)
{
	struct store_options so = { .read_only = 1 };
	struct store_opts o = { .dir = NULL };
	const char *what;
	struct store *s;
	struct store_txn *t;
	char err[512];
	int argi, rc;

	common_opts_init(&o.co);
	if ((rc = options_parse(&cmd_store, argc, argv, &o, &argi)) != OPTIONS_CONTINUE)
		return rc;
	if (argi != argc - 1)
		return usage_error(&cmd_store, "give one of: check, stat");
	what = argv[argi];
	if (strcmp(what, "check") && strcmp(what, "stat"))
		return usage_error(&cmd_store, "unknown subcommand '%s'", what);
	if (!o.dir)
		return usage_error(&cmd_store, "--store DIR is required");
	log_init("store", o.co.verbosity);

	if (store_open(&s, o.dir, &so, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return EX_IOERR;
	}
	if (store_adopt_topic(s, &t, err, sizeof(err)) != 0) {
		log_error("%s", err);
		rc = EX_IOERR;
		goto store_close;
	}
	if (!strcmp(what, "check"))
		rc = store_check_cmd(t, o.co.verbosity < 0);
	else
		rc = store_stat_cmd(t, o.co.json);
	store_txn_abort(t);
store_close:
	store_close(s);
	return rc;
}

const struct command cmd_store = {
	"store", "check a store's invariants, or show its statistics",
	store_usage, store_description, store_options, store_subcommands, store_run,
};
