/* cmd-lag.c: `pingpong lag`, how far behind a consumer is (kafka-consumer-groups --describe).
 *
 * For each partition: the offset in the store, the offset the group committed in Kafka
 * (the consumers mirror their store offsets there after their commits, asynchronously and
 * at most every --mirror-interval), the log start and end, and the lag: end less the
 * stored offset (less the committed one without a store). The store is read in one
 * read-only txn, so lag runs beside a live consumer and never blocks it. The store is
 * read first, then Kafka: the log end only grows, so a running consumer never shows a
 * negative lag.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "json-out.h"
#include "kafka.h"
#include "store.h"
#include "util.h"

static const char lag_usage[] =
	"usage: pingpong lag --store DIR [-g GROUP] [--max-lag N] [--json] [-b BROKERS]\n"
	"                    [-X KEY=VALUE]... [--broker-timeout D] [-q] [-v]\n"
	"       pingpong lag -g GROUP [-t TOPIC] [--max-lag N] [--json] [-b BROKERS]\n"
	"                    [-X KEY=VALUE]... [--broker-timeout D] [-q] [-v]\n";

static const char lag_description[] =
	"Prints, per partition, the offset in the store, the offset the group committed in\n"
	"Kafka, the log start and end, and the lag (end less stored, or less committed\n"
	"without a store); then the total. Exit 1 when the total is above --max-lag.\n";

struct lag_opts {
	struct common_opts co;
	const char *store_dir;
	const char *group;
	int64_t max_lag;           /* -1: none */
	int64_t broker_timeout_ms;
};

#define OFF(field) offsetof(struct lag_opts, field)

static const struct option_spec lag_options[] = {
	OPTION_STRING(0, "store", "DIR", OFF(store_dir), "the consumer's store: its topic, group and offsets"),
	OPTION_STRING('g', "group", "G", OFF(group),
		      "the consumer group whose committed offsets to show (default: the store's)"),
	OPTION_INT(0, "max-lag", "N", OFF(max_lag), 0, INT64_MAX,
		   "exit 1 when the total lag is above N, or a position lies outside the log"),
	OPTION_DURATION(0, "broker-timeout", OFF(broker_timeout_ms),
			"exit 69 when the brokers have not answered within D (default 10s)"),
	OPTION_GROUP(COMMON_HEADING, common_kafka_options, OFF(co)),
	OPTION_GROUP(COMMON_HEADING, common_json_options, OFF(co)),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

/* One partition's figures; -1 where unknown. */
struct lag_row {
	int64_t stored, committed, start, end, lag;
	int out_of_range; /* the position lies outside [start, end] */
	int64_t cl_next, cl_end, cl_behind; /* the changelog's partition (changelog_view) */
};

/* A store's offsets, by partition: -1 where none. */
struct offsets {
	int64_t *v;
	int32_t n;
};

/* active --changelog: the changelog topic a store notes in its meta, and where each
 * partition's records stand in it (store_changelog_get: the offset after the last
 * marker it reflects; -1: none). topic[0] == 0: the store has no changelog. */
struct changelog_view {
	char topic[512];
	struct offsets next;
};

/* The store's topic (which must be want_topic, if given), group and offsets, in one
 * read-only txn. Returns an exit code. */
/* The changelog positions of partitions [0, n) (struct changelog_view). */
static int read_changelog_positions(struct store_txn *t, int32_t n, struct offsets *next, char *err,
				    size_t errlen)
{
	int32_t p;

	next->v = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(*next->v));
	next->n = n;
	for (p = 0; p < n; p++) {
		int rc = store_changelog_get(t, p, &next->v[p], err, errlen);
		if (rc == STORE_NOTFOUND)
			next->v[p] = -1;
		else if (rc != 0)
			return -1;
	}
	return 0;
}

static int read_store(const char *dir, const char *want_topic, char *topic, size_t topiclen, char *group,
		      size_t grouplen, struct offsets *stored, struct changelog_view *cl)
{
	struct store_options so = { .read_only = 1 };
	struct store *s;
	struct store_txn *t;
	char err[512];
	int rc = EX_IOERR;

	if (store_open(&s, dir, &so, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return EX_IOERR;
	}
	if (store_txn_begin(s, 0, &t, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto store_close;
	}
	if (store_meta_get(t, "topic", topic, topiclen) != 0) {
		log_error("store '%s' has no topic: no consumer has used it yet", dir);
		goto txn_abort;
	}
	if (want_topic && strcmp(want_topic, topic)) {
		log_error("store '%s' belongs to topic '%s', not '%s'", dir, topic, want_topic);
		goto txn_abort;
	}
	if (store_meta_get(t, "group", group, grouplen) != 0)
		group[0] = '\0';
	/* Offsets are keyed by topic: read them as the store's. */
	store_txn_abort(t);
	if (store_bind(s, topic, NULL, err, sizeof(err)) != 0 || store_txn_begin(s, 0, &t, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto store_close;
	}
	if (store_offsets_load(t, &stored->v, &stored->n, err, sizeof(err)) < 0) {
		log_error("store '%s': %s", dir, err);
		goto txn_abort;
	}
	if (store_meta_get(t, "changelog_topic", cl->topic, sizeof(cl->topic)) != 0)
		cl->topic[0] = '\0';
	else if (read_changelog_positions(t, stored->n, &cl->next, err, sizeof(err)) != 0) {
		log_error("store '%s': %s", dir, err);
		goto txn_abort;
	}
	rc = 0;
txn_abort:
	store_txn_abort(t);
store_close:
	store_close(s);
	return rc;
}

static void print_cell(int64_t v, int width)
{
	if (v < 0)
		printf("  %-*s", width, "-");
	else
		printf("  %-*" PRId64, width, v);
}

static void print_text(const char *topic, const struct lag_row *rows, int n, int64_t total)
{
	char *shown = NULL;
	size_t shownlen = 0;
	FILE *mem = open_memstream(&shown, &shownlen);
	int w, p;

	/* The topic escaped as every name in text output; its width aligns the columns. */
	fput_escaped(topic, strlen(topic), mem);
	fclose(mem);
	w = shownlen < 9 ? 9 : (int)shownlen;
	printf("%-*s  %-9s  %-12s  %-12s  %-12s  %-12s  %s\n", w, "TOPIC", "PARTITION", "STORED", "COMMITTED",
	       "LOG-START", "LOG-END", "LAG");
	for (p = 0; p < n; p++) {
		const struct lag_row *r = &rows[p];
		printf("%s%*s  %-9d", shown, w - (int)shownlen, "", p);
		print_cell(r->stored, 12);
		print_cell(r->committed, 12);
		print_cell(r->start, 12);
		print_cell(r->end, 12);
		printf("  %" PRId64 "\n", r->lag);
	}
	printf("%-*s  %-9s  %-12s  %-12s  %-12s  %-12s  %" PRId64 "\n", w, "total", "", "", "", "", "", total);
	free(shown);
}

/* active --changelog: where the store's records stand in the changelog, and how many
 * records a restore of each partition would read. */
static void print_changelog_text(const char *changelog, const struct lag_row *rows, int n)
{
	int p;

	printf("\nCHANGELOG ");
	fput_escaped(changelog, strlen(changelog), stdout);
	printf("\n%-9s  %-12s  %-12s  %s\n", "PARTITION", "STORE-AT", "LOG-END", "BEHIND");
	for (p = 0; p < n; p++) {
		printf("%-9d", p);
		print_cell(rows[p].cl_next, 12);
		print_cell(rows[p].cl_end, 12);
		printf("  %" PRId64 "\n", rows[p].cl_behind);
	}
}

/* Fills the rows' changelog columns from the changelog's log ends. Returns 0, or -1
 * with the reason logged. */
static int changelog_rows(rd_kafka_t *rk, const struct changelog_view *cl, struct lag_row *rows, int n,
			  int timeout)
{
	char err[1024];
	int64_t lo;
	int p;

	for (p = 0; p < n; p++) {
		struct lag_row *r = &rows[p];
		if (kafka_watermarks(rk, cl->topic, p, &lo, &r->cl_end, timeout, err, sizeof(err)) < 0) {
			log_error("changelog: %s", err);
			return -1;
		}
		r->cl_next = p < cl->next.n ? cl->next.v[p] : -1;
		r->cl_behind = r->cl_end - (r->cl_next >= 0 ? r->cl_next : lo);
		if (r->cl_behind < 0)
			r->cl_behind = 0;
	}
	return 0;
}

static json_t *json_offset(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static void print_json(const char *topic, const char *group, const char *changelog, const struct lag_row *rows,
		       int n, int64_t total)
{
	int p;

	for (p = 0; p < n; p++) {
		json_t *o = json_object();
		json_object_set_new(o, "topic", json_string(topic));
		json_object_set_new(o, "group", group[0] ? json_string(group) : json_null());
		json_object_set_new(o, "partition", json_integer(p));
		json_object_set_new(o, "stored", json_offset(rows[p].stored));
		json_object_set_new(o, "committed", json_offset(rows[p].committed));
		json_object_set_new(o, "log_start", json_integer(rows[p].start));
		json_object_set_new(o, "log_end", json_integer(rows[p].end));
		json_object_set_new(o, "lag", json_integer(rows[p].lag));
		json_object_set_new(o, "out_of_range", json_boolean(rows[p].out_of_range));
		if (changelog[0]) {
			json_object_set_new(o, "changelog", json_string(changelog));
			json_object_set_new(o, "changelog_next", json_offset(rows[p].cl_next));
			json_object_set_new(o, "changelog_end", json_integer(rows[p].cl_end));
			json_object_set_new(o, "changelog_behind", json_integer(rows[p].cl_behind));
		}
		json_print_line(o, stdout);
	}
	{
		json_t *o = json_object();
		json_object_set_new(o, "topic", json_string(topic));
		json_object_set_new(o, "group", group[0] ? json_string(group) : json_null());
		json_object_set_new(o, "total", json_true());
		json_object_set_new(o, "partitions", json_integer(n));
		json_object_set_new(o, "lag", json_integer(total));
		json_print_line(o, stdout);
	}
}

/* Fills a row from its offsets: the lag counts from the position the consumer goes on
 * from, which is the log start when it has none (--start earliest, the default). */
static void row_finish(struct lag_row *r, int64_t position)
{
	int64_t from = position < 0 ? r->start : position;

	r->out_of_range = position >= 0 && (position < r->start || position > r->end);
	r->lag = from > r->end ? 0 : r->end - from;
}

/* Says why a position lies outside its partition's log: what the consumer will do there. */
static void warn_out_of_range(const char *topic, int p, const struct lag_row *r, int by_store)
{
	const char *what = by_store ? "stored" : "committed";
	int64_t pos = by_store ? r->stored : r->committed;

	if (pos < r->start)
		log_warn("%s[%d]: %s offset %" PRId64 " is below the log start %" PRId64 ": %" PRId64
			 " events were deleted unread; the consumer stops there (see --on-gap)", topic, p, what, pos,
			 r->start, r->start - pos);
	else
		log_warn("%s[%d]: %s offset %" PRId64 " is beyond the log end %" PRId64 ": the broker lost its log; "
			 "the consumer stops there (see --on-gap)", topic, p, what, pos, r->end);
}

/* Fills rows[0..n) from the group's committed offsets (when there is a group), the log
 * ends and the stored offsets; by_store: the lag is the store's, else the group's. Returns
 * how many positions lie outside their log, or -1 with the reason logged. */
static int lag_rows(rd_kafka_t *rk, const char *topic, const char *group, const struct offsets *stored,
		    int by_store, struct lag_row *rows, int n, int timeout)
{
	int64_t *committed = xmalloc((size_t)n * sizeof(*committed));
	char err[1024];
	int p, outside = 0;

	for (p = 0; p < n; p++)
		committed[p] = -1;
	if (group[0] && kafka_group_offsets(rk, group, topic, n, committed, timeout, err, sizeof(err)) < 0)
		goto fail;
	for (p = 0; p < n; p++) {
		struct lag_row *r = &rows[p];
		if (kafka_watermarks(rk, topic, p, &r->start, &r->end, timeout, err, sizeof(err)) < 0)
			goto fail;
		r->stored = p < stored->n ? stored->v[p] : -1;
		r->committed = committed[p];
		row_finish(r, by_store ? r->stored : r->committed);
		if (r->out_of_range) {
			warn_out_of_range(topic, p, r, by_store);
			outside++;
		}
	}
	free(committed);
	return outside;
fail:
	log_error("%s", err);
	free(committed);
	return -1;
}

static int lag_run(int argc, char **argv)
{
	struct lag_opts o = { .max_lag = -1, .broker_timeout_ms = 10000 };
	char topic[256], group[256] = "", err[1024];
	struct lag_row *rows = NULL;
	struct offsets stored = { NULL, 0 };
	struct changelog_view cl = { "", { NULL, 0 } };
	int64_t total = 0;
	const char *brokers;
	struct kafka_opts ko;
	rd_kafka_t *rk = NULL;
	int rc, n, p, outside, timeout;

	common_opts_init(&o.co);
	o.co.topic = NULL; /* with --store: the store's own, unless given */
	if ((rc = options_parse(&cmd_lag, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	rc = EX_USAGE;
	if (!o.store_dir && !o.group) {
		usage_error(&cmd_lag, "give --store DIR, or -g GROUP for a group without a store");
		goto opts_release;
	}
	log_init("lag", o.co.verbosity);
	if (!(brokers = common_brokers(&o.co)))
		goto opts_release;
	timeout = kafka_timeout_ms(o.broker_timeout_ms);

	/* First the store, then Kafka's copy of it, then the log ends: each read later than
	 * the one before, so that the lag of a consumer that is moving is never below zero. */
	if (o.store_dir) {
		if ((rc = read_store(o.store_dir, o.co.topic, topic, sizeof(topic), group, sizeof(group),
				     &stored, &cl)) != 0)
			goto opts_release;
	} else {
		snprintf(topic, sizeof(topic), "%s", o.co.topic ? o.co.topic : "chat");
	}
	if (o.group)
		snprintf(group, sizeof(group), "%s", o.group);

	rc = EX_UNAVAILABLE;
	ko = common_kafka_opts(&o.co, brokers);
	if (!(rk = kafka_query_client(&ko, err, sizeof(err)))) {
		log_error("%s", err);
		rc = EX_USAGE; /* a refused -X */
		goto opts_release;
	}
	if ((n = kafka_partition_count(rk, topic, timeout, err, sizeof(err))) < 0) {
		log_error("cannot read the partitions of '%s' from '%s': %s", topic, brokers, err);
		goto client_destroy;
	}
	rows = xcalloc((size_t)n, sizeof(*rows));
	if ((outside = lag_rows(rk, topic, group, &stored, o.store_dir != NULL, rows, n, timeout)) < 0)
		goto rows_free;
	if (cl.topic[0] && changelog_rows(rk, &cl, rows, n, timeout) != 0)
		goto rows_free;
	for (p = 0; p < n; p++)
		total += rows[p].lag;
	if (o.co.json) {
		print_json(topic, group, cl.topic, rows, n, total);
	} else {
		print_text(topic, rows, n, total);
		if (cl.topic[0])
			print_changelog_text(cl.topic, rows, n);
	}
	rc = 0;
	if (o.max_lag >= 0 && (total > o.max_lag || outside)) {
		if (total > o.max_lag)
			log_info("total lag %" PRId64 " is above --max-lag %" PRId64, total, o.max_lag);
		rc = 1;
	}
rows_free:
	free(rows);
client_destroy:
	rd_kafka_destroy(rk);
opts_release:
	free(stored.v);
	free(cl.next.v);
	options_release(&cmd_lag, &o);
	return rc;
}

const struct command cmd_lag = {
	"lag", "how far behind a consumer is: stored, committed and log end offsets",
	lag_usage, lag_description, lag_options, NULL, lag_run,
};
