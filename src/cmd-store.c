/* cmd-store.c: `pingpong store`, maintenance of a store: check its invariants, show
 * stats, reset its offsets.
 *
 * Like mdb_stat, check and stat open the store read-only, so they can run beside a live
 * consumer. reset writes, and only to a store that no consumer has open: it opens the
 * store as its exclusive writer (store.h), which a consumer's open refuses while it
 * lasts, and which it cannot get while a consumer has the store open.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "json-out.h"
#include "kafka.h"
#include "progress.h"
#include "store.h"
#include "util.h"

static const char store_usage[] =
	"usage: pingpong store check --store DIR [-q]\n"
	"       pingpong store stat --store DIR [--json]\n"
	"       pingpong store reset --store DIR (--to-earliest | --to-latest | --to-offset P:N...\n"
	"                            | --shift-by N | --to-time TS) [--dry-run] [-b BROKERS]\n"
	"                            [-X KEY=VALUE]... [--broker-timeout D] [-q] [-v]\n";

static const char store_description[] =
	"  check      verify every invariant of the store; exit 1 if one is broken\n"
	"  stat       print counts, sizes and the map size\n"
	"  reset      move the stored offsets, on a store that no consumer has open\n";

static const char *const store_subcommands[] = { "check", "stat", "reset", NULL };

struct store_opts {
	struct common_opts co;
	const char *dir;
	/* reset */
	int to_earliest, to_latest, dry_run;
	struct option_list to_offsets; /* "P:N" */
	int64_t shift_by;              /* INT64_MIN: not given */
	int64_t to_time;               /* -1: not given */
	int64_t broker_timeout_ms;
};

#define OFF(field) offsetof(struct store_opts, field)

static int check_partition_offset(const char *arg, void *target)
{
	int64_t p, n;
	const char *colon = strchr(arg, ':');
	char part[32];

	(void)target;
	if (!colon || (size_t)(colon - arg) >= sizeof(part))
		return -1;
	snprintf(part, sizeof(part), "%.*s", (int)(colon - arg), arg);
	return parse_int(part, 0, INT32_MAX, &p) == 0 && parse_int(colon + 1, 0, INT64_MAX, &n) == 0 ? 0 : -1;
}

static const struct option_spec reset_options[] = {
	OPTION_FLAG(0, "to-earliest", OFF(to_earliest), "every partition to its log start"),
	OPTION_FLAG(0, "to-latest", OFF(to_latest), "every partition to its log end: skip what is unread"),
	{ .kind = OPT_LIST, .long_name = "to-offset", .argname = "P:N", .offset = OFF(to_offsets),
	  .parse = check_partition_offset, .expects = "PARTITION:OFFSET, such as 0:1200",
	  .help = "partition P to offset N, repeatable" },
	OPTION_INT(0, "shift-by", "N", OFF(shift_by), -INT64_MAX, INT64_MAX,
		   "every stored position by N (negative: back)"),
	OPTION_TIME(0, "to-time", OFF(to_time),
		    "every partition to its first message at or after TS (ms since the epoch, or ISO 8601)"),
	OPTION_FLAG(0, "dry-run", OFF(dry_run), "print the plan and change nothing"),
	OPTION_DURATION(0, "broker-timeout", OFF(broker_timeout_ms),
			"exit 69 when the brokers have not answered within D (default 10s)"),
	OPTION_GROUP(NULL, common_kafka_options, OFF(co)),
	OPTION_END
};

/* check and stat adopt the store's topic and read no Kafka: -b, -t and -X would mean
 * nothing to them; reset asks the brokers where the logs start and end. */
static const struct option_spec store_options[] = {
	OPTION_STRING(0, "store", "DIR", OFF(dir), "the store"),
	OPTION_GROUP_ONLY("With stat", common_json_options, OFF(co), "stat"),
	OPTION_GROUP_ONLY("With reset", reset_options, 0, "reset"),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

struct check_output {
	int shown;             /* problems printed (the first 100) */
	struct progress pr;    /* on stderr: a store may take minutes to check */
};

static void report_problem(void *arg, const char *problem)
{
	struct check_output *out = arg;

	/* A problem may quote a user's name: escaped. The progress line, on a terminal, makes
	 * way for it first. */
	if (out->shown < 100) {
		out->shown++;
		progress_done(&out->pr);
		fflush(stderr);
		fput_escaped(problem, strlen(problem), stdout);
		putchar('\n');
		fflush(stdout);
	}
}

static void check_progress(void *arg, uint64_t done, uint64_t total)
{
	struct check_output *out = arg;

	progress_update(&out->pr, (int64_t)done, done < total ? (int64_t)(total - done) : 0);
}

static int store_check_cmd(struct store_txn *t, int verbosity)
{
	struct check_output out = { 0 };
	char err[512];
	int n, quiet = verbosity < 0;

	progress_init(&out.pr, "store", "checked", "records", verbosity);
	n = store_check_progress(t, report_problem, &out, check_progress, &out, err, sizeof(err));
	progress_done(&out.pr);
	if (n < 0) {
		/* LMDB has no checksums: an unreadable page is all it can tell of damage. */
		log_error("store is damaged or unreadable: %s", err);
		return EX_IOERR;
	}
	if (n > out.shown)
		printf("... and %d more\n", n - out.shown);
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
		json_object_set_new(o, "records", json_integer((json_int_t)st.records));
		json_object_set_new(o, "index", json_integer((json_int_t)st.index));
		json_object_set_new(o, "segments", json_integer((json_int_t)st.segments));
		json_object_set_new(o, "offsets", json_integer((json_int_t)st.offsets));
		json_object_set_new(o, "rejects", json_integer((json_int_t)st.rejects));
		json_object_set_new(o, "gaps", json_integer((json_int_t)st.gaps));
		json_object_set_new(o, "outbox", json_integer((json_int_t)st.outbox));
		json_object_set_new(o, "pending", json_integer((json_int_t)st.pending));
		json_object_set_new(o, "map_size", json_integer((json_int_t)st.map_size));
		json_object_set_new(o, "used_bytes", json_integer((json_int_t)st.used_bytes));
		json_print_line(o, stdout);
	} else {
		fputs("topic:     ", stdout);
		fput_escaped(topic, strlen(topic), stdout);
		fputs("\ngroup:     ", stdout);
		fput_escaped(group, strlen(group), stdout);
		printf("\nusers:     %" PRIu64 "\nrecords:   %" PRIu64 "\nindex:     %" PRIu64
		       "\nsegments:  %" PRIu64 "\noffsets:   %" PRIu64 "\nrejects:   %" PRIu64 "\ngaps:      %" PRIu64
		       "\noutbox:    %" PRIu64 "\npending:   %" PRIu64 "\nmap size:  %" PRIu64
		       " MiB\nused:      %.1f MiB\n",
		       st.users, st.records, st.index, st.segments, st.offsets, st.rejects, st.gaps, st.outbox, st.pending,
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

/* ---- reset --------------------------------------------------------------------------- */

/* One partition's move. */
struct reset_move {
	int64_t from;       /* the stored position; -1: none */
	int64_t to;         /* -1: not moved */
	int64_t start, end; /* the log; -1: not asked (no broker) */
	int clamped;        /* the target lay outside the log and was brought to its edge */
};

struct reset {
	const struct store_opts *o;
	const char *brokers;   /* NULL: no broker to ask */
	char topic[256];
	int64_t *stored;
	int32_t nstored;
	int nparts;            /* the moves' count: the topic's partitions, or nstored */
	struct reset_move *m;
	int timeout_ms;
};

static int reset_modes(const struct store_opts *o)
{
	return !!o->to_earliest + !!o->to_latest + !!o->to_offsets.n + (o->shift_by != INT64_MIN) + (o->to_time >= 0);
}

static int64_t clamp_to_log(struct reset_move *mv, int64_t to)
{
	if (mv->start >= 0 && to < mv->start) {
		to = mv->start;
		mv->clamped = 1;
	} else if (mv->end >= 0 && to > mv->end) {
		to = mv->end;
		mv->clamped = 1;
	}
	return to < 0 ? 0 : to;
}

/* from + by, kept inside [0, INT64_MAX]. */
static int64_t shifted(int64_t from, int64_t by)
{
	if (by < 0)
		return from < -by ? 0 : from + by;
	return from > INT64_MAX - by ? INT64_MAX : from + by;
}

/* Where --to-time goes: each partition's first message at or after TS, or its end when
 * none is that late. A broker that cannot look offsets up by time answers -1 for every
 * partition: asked for time 0, it still does where a partition holds messages, which a
 * broker that can never does. Returns an exit code. */
static int reset_times(struct reset *r, rd_kafka_t *rk, int64_t *at)
{
	char err[512];
	int p, nonempty = -1;

	if (kafka_offsets_for_time(rk, r->topic, r->nparts, r->o->to_time, at, r->timeout_ms, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EX_UNAVAILABLE;
	}
	for (p = 0; p < r->nparts; p++) {
		if (at[p] >= 0)
			return 0;
		if (r->m[p].end > r->m[p].start)
			nonempty = p;
	}
	if (nonempty < 0)
		return 0;
	if (kafka_offsets_for_time(rk, r->topic, r->nparts, 0, at, r->timeout_ms, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EX_UNAVAILABLE;
	}
	if (at[nonempty] < 0) {
		log_error("the brokers of '%s' cannot look offsets up by time (librdkafka's mock broker "
			  "cannot): use --to-offset P:N, or --shift-by N", r->brokers);
		return EX_UNAVAILABLE;
	}
	return kafka_offsets_for_time(rk, r->topic, r->nparts, r->o->to_time, at, r->timeout_ms, err,
				      sizeof(err)) < 0 ? (log_error("%s", err), EX_UNAVAILABLE) : 0;
}

/* Asks the brokers for the topic's partitions and their logs, and for --to-time its
 * offsets. Returns an exit code. */
static int reset_ask_brokers(struct reset *r, int64_t **at)
{
	struct kafka_opts ko = common_kafka_opts(&r->o->co, r->brokers);
	rd_kafka_t *rk;
	char err[1024];
	int p, rc = EX_UNAVAILABLE;

	if (!(rk = kafka_query_client(&ko, err, sizeof(err)))) {
		log_error("%s", err);
		return EX_USAGE; /* a refused -X */
	}
	if ((r->nparts = kafka_partition_count(rk, r->topic, r->timeout_ms, err, sizeof(err))) < 0) {
		log_error("cannot read the partitions of '%s' from '%s': %s", r->topic, r->brokers, err);
		r->nparts = 0;
		goto client_destroy;
	}
	r->m = xcalloc((size_t)r->nparts, sizeof(*r->m));
	for (p = 0; p < r->nparts; p++) {
		if (kafka_watermarks(rk, r->topic, p, &r->m[p].start, &r->m[p].end, r->timeout_ms, err, sizeof(err)) < 0) {
			log_error("%s", err);
			goto client_destroy;
		}
	}
	rc = 0;
	if (r->o->to_time >= 0) {
		*at = xmalloc((size_t)r->nparts * sizeof(**at));
		rc = reset_times(r, rk, *at);
	}
client_destroy:
	rd_kafka_destroy(rk);
	return rc;
}

/* The plan: every move's target. Returns an exit code. */
static int reset_plan(struct reset *r)
{
	const struct store_opts *o = r->o;
	int64_t *at = NULL;
	size_t i;
	int p, rc;

	if (r->brokers) {
		if ((rc = reset_ask_brokers(r, &at)) != 0)
			goto at_free;
	} else {
		/* --to-offset and --shift-by need no broker: the partitions are the store's, and
		 * the targets are not brought inside logs nobody was asked about. */
		r->nparts = r->nstored;
		r->m = xcalloc((size_t)r->nparts, sizeof(*r->m));
		for (p = 0; p < r->nparts; p++)
			r->m[p].start = r->m[p].end = -1;
	}
	for (p = 0; p < r->nparts; p++) {
		r->m[p].from = p < r->nstored ? r->stored[p] : -1;
		r->m[p].to = -1;
	}
	rc = EX_USAGE;
	for (i = 0; i < o->to_offsets.n; i++) {
		long long part, off;
		sscanf(o->to_offsets.v[i], "%lld:%lld", &part, &off);
		if (part >= r->nparts && r->brokers) {
			log_error("--to-offset %s: topic '%s' has %d partitions", o->to_offsets.v[i], r->topic, r->nparts);
			goto at_free;
		}
		if (part >= r->nparts) {
			/* Without a broker, a partition the store has no position for yet. */
			r->m = xrealloc(r->m, ((size_t)part + 1) * sizeof(*r->m));
			for (p = r->nparts; p <= part; p++)
				r->m[p] = (struct reset_move){ -1, -1, -1, -1, 0 };
			r->nparts = (int)part + 1;
		}
		if (r->m[part].to >= 0) {
			log_error("--to-offset: partition %lld is given twice", part);
			goto at_free;
		}
		r->m[part].to = clamp_to_log(&r->m[part], off);
	}
	for (p = 0; p < r->nparts; p++) {
		struct reset_move *mv = &r->m[p];
		if (o->to_earliest)
			mv->to = mv->start;
		else if (o->to_latest)
			mv->to = mv->end;
		else if (o->to_time >= 0)
			mv->to = at[p] >= 0 ? at[p] : mv->end;
		else if (o->shift_by != INT64_MIN && mv->from >= 0)
			mv->to = clamp_to_log(mv, shifted(mv->from, o->shift_by));
	}
	rc = 0;
at_free:
	free(at);
	return rc;
}

/* "chat[0]: 4212 -> 0: 4212 events will be applied again (offsets 0 to 4211)". Offsets
 * at or beyond the log end were never applied: going back from there applies again only
 * what lies below it. */
static void reset_print(const struct reset *r, int p, int64_t *again, int64_t *skipped)
{
	const struct reset_move *mv = &r->m[p];
	int64_t applied_to = mv->end >= 0 && mv->from > mv->end ? mv->end : mv->from;

	fput_escaped(r->topic, strlen(r->topic), stdout);
	if (mv->from < 0)
		printf("[%d]: none -> %" PRId64 ": no position before; the consumer starts there", p, mv->to);
	else if (mv->to == mv->from)
		printf("[%d]: %" PRId64 " -> %" PRId64 ": unchanged", p, mv->from, mv->to);
	else if (mv->to < mv->from && mv->to >= applied_to)
		printf("[%d]: %" PRId64 " -> %" PRId64 ": back, but the old position lay beyond the log end %" PRId64
		       ": no event will be applied again", p, mv->from, mv->to, mv->end);
	else if (mv->to < mv->from)
		printf("[%d]: %" PRId64 " -> %" PRId64 ": %" PRId64 " events will be applied again (offsets %" PRId64
		       " to %" PRId64 ")", p, mv->from, mv->to, applied_to - mv->to, mv->to, applied_to - 1);
	else
		printf("[%d]: %" PRId64 " -> %" PRId64 ": %" PRId64 " events will be skipped, never processed "
		       "(offsets %" PRId64 " to %" PRId64 ")", p, mv->from, mv->to, mv->to - mv->from, mv->from,
		       mv->to - 1);
	if (mv->clamped)
		printf(" [brought inside the log %" PRId64 "..%" PRId64 "]", mv->start, mv->end);
	putchar('\n');
	if (mv->from >= 0 && mv->to < applied_to)
		*again += applied_to - mv->to;
	if (mv->from >= 0 && mv->to > mv->from)
		*skipped += mv->to - mv->from;
}

/* Writes every move and its gaps record in one txn: all of them or none. */
static int reset_write(struct store *s, const struct reset *r, char *err, size_t errlen)
{
	struct store_txn *t;
	int p, rc;

	for (;;) {
		if ((rc = store_txn_begin(s, 1, &t, err, errlen)) != 0)
			return rc;
		for (p = 0, rc = 0; p < r->nparts && rc == 0; p++) {
			const struct reset_move *mv = &r->m[p];
			if (mv->to < 0 || mv->to == mv->from)
				continue;
			/* An unknown fingerprint: the next start does not check the message before
			 * the new position against the one applied before the old. */
			if ((rc = store_offset_put(t, p, mv->to, err, errlen)) == 0)
				rc = store_reset_put(t, p, mv->from, mv->to, err, errlen);
		}
		if (rc == 0)
			rc = store_txn_commit(t, err, errlen);
		else
			store_txn_abort(t);
		if (rc != STORE_FULL)
			return rc;
		if (store_grow(s, err, errlen) != 0)
			return -1;
	}
}

/* Reads the store's topic and positions into r. Returns 0, or -1 with the reason. */
static int reset_load(struct store *s, struct reset *r, char *err, size_t errlen)
{
	struct store_txn *t;
	int rc;

	if (store_adopt_topic(s, &t, err, errlen) != 0)
		return -1;
	if (store_meta_get(t, "topic", r->topic, sizeof(r->topic)) != 0)
		rc = set_err(-1, err, errlen, "store '%s' has no topic: no consumer has used it yet", r->o->dir);
	else if (r->o->co.topic && strcmp(r->o->co.topic, r->topic))
		rc = set_err(-1, err, errlen, "store '%s' belongs to topic '%s', not '%s'", r->o->dir, r->topic,
			     r->o->co.topic);
	else
		rc = store_offsets_load(t, &r->stored, &r->nstored, err, errlen) != 0 ? -1 : 0;
	store_txn_abort(t);
	return rc;
}

/* store reset: reads the store's topic and positions (as its exclusive writer, unless
 * --dry-run), asks the brokers where the logs are, prints the plan and writes it. */
static int store_reset_cmd(const struct store_opts *o)
{
	struct store_options ro = { .read_only = 1 }, excl = { .exclusive = 1 };
	struct reset r = { .o = o };
	struct store *s = NULL;
	char err[1024];
	int64_t again = 0, skipped = 0;
	int p, moved = 0, rc = EX_IOERR;

	r.timeout_ms = kafka_timeout_ms(o->broker_timeout_ms);
	r.brokers = o->co.brokers && *o->co.brokers ? o->co.brokers : getenv("PINGPONG_BROKERS");
	if (r.brokers && !*r.brokers)
		r.brokers = NULL;
	if ((o->to_earliest || o->to_latest || o->to_time >= 0) && !(r.brokers = common_brokers(&o->co)))
		return EX_USAGE;

	/* A read-only look first: a store that does not exist must not be created. */
	if (store_open(&s, o->dir, &ro, err, sizeof(err)) != 0)
		goto fail;
	if (!o->dry_run) {
		store_close(s);
		if (store_open(&s, o->dir, &excl, err, sizeof(err)) != 0) {
			s = NULL;
			goto fail;
		}
	}
	if (reset_load(s, &r, err, sizeof(err)) != 0)
		goto fail;
	if ((rc = reset_plan(&r)) != 0)
		goto store_close;
	for (p = 0; p < r.nparts; p++) {
		if (r.m[p].to < 0)
			continue;
		reset_print(&r, p, &again, &skipped);
		moved += r.m[p].to != r.m[p].from;
	}
	if (again)
		log_warn("%" PRId64 " events will be applied again, and counted again: users' event counts "
			 "will include them twice (last_seen and emails stay exact)", again);
	if (o->dry_run) {
		long pid = 0;
		store_close(s);
		s = NULL;
		/* Only once the store is closed here: see store_writer_pid(). */
		if (store_writer_pid(o->dir, &pid, err, sizeof(err)) == 1)
			log_warn("process %ld has the store open for writing: stop it before the reset", pid);
		if (o->co.verbosity >= 0)
			printf("dry run: nothing changed\n");
		goto store_close;
	}
	if (moved && reset_write(s, &r, err, sizeof(err)) != 0) {
		log_error("store '%s': %s", o->dir, err); /* an open store's error (store.c) */
		rc = EX_IOERR;
		goto store_close;
	}
	if (o->co.verbosity >= 0)
		printf("store reset: %d partition(s) moved; see pingpong query --store %s gaps\n", moved, o->dir);
	goto store_close;

fail:
	log_error("%s", err);
store_close:
	store_close(s);
	free(r.stored);
	free(r.m);
	return rc;
}

static int store_run(int argc, char **argv)
{
	struct store_options so = { .read_only = 1 };
	struct store_opts o = { .dir = NULL, .shift_by = INT64_MIN, .to_time = -1, .broker_timeout_ms = 10000 };
	const char *what;
	struct store *s;
	struct store_txn *t;
	char err[512];
	int argi, rc;

	common_opts_init(&o.co);
	o.co.topic = NULL; /* reset: the store's own, unless given */
	if ((rc = options_parse(&cmd_store, argc, argv, &o, &argi)) != OPTIONS_CONTINUE)
		return rc;
	rc = EX_USAGE;
	if (argi != argc - 1) {
		usage_error(&cmd_store, "give one of: check, stat, reset");
		goto opts_release;
	}
	what = argv[argi];
	if (strcmp(what, "check") && strcmp(what, "stat") && strcmp(what, "reset")) {
		usage_error(&cmd_store, "unknown subcommand '%s'", what);
		goto opts_release;
	}
	if (!o.dir) {
		usage_error(&cmd_store, "--store DIR is required");
		goto opts_release;
	}
	if (!strcmp(what, "reset") && reset_modes(&o) != 1) {
		usage_error(&cmd_store, "reset takes one of --to-earliest, --to-latest, --to-offset, --shift-by, "
			    "--to-time");
		goto opts_release;
	}
	log_init("store", o.co.verbosity);
	if (!strcmp(what, "reset")) {
		rc = store_reset_cmd(&o);
		goto opts_release;
	}

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
		rc = store_check_cmd(t, o.co.verbosity);
	else
		rc = store_stat_cmd(t, o.co.json);
	store_txn_abort(t);
store_close:
	store_close(s);
opts_release:
	options_release(&cmd_store, &o);
	return rc;
}

const struct command cmd_store = {
	"store", "check a store's invariants, show its statistics, or reset its offsets",
	store_usage, store_description, store_options, store_subcommands, store_run,
};
