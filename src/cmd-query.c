/* cmd-query.c: `pingpong query`, read-only questions to a store.
 *
 * Every query runs in an MDB_RDONLY txn: it sees the last committed batch, works while a
 * consumer writes, and never blocks it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "active.h"
#include "cmd.h"
#include "json-out.h"
#include "store.h"
#include "util.h"

static const char query_usage[] =
	"usage: pingpong query --store DIR [--json] active [--at TS] [--window D]\n"
	"                                               [--repeat N] [--timing]\n"
	"       pingpong query --store DIR [--json] user NAME\n"
	"       pingpong query --store DIR [--json] users\n"
	"       pingpong query --store DIR [--json] offsets\n"
	"       pingpong query --store DIR [--json] rejects\n"
	"       pingpong query --store DIR [--json] gaps\n"
	"       pingpong query --store DIR [--json] outbox [--recipient NAME]\n";

static const char query_description[] = "Reads a store without blocking the consumer that writes it.\n";

static const char *const query_subcommands[] = {
	"active", "user", "users", "offsets", "rejects", "gaps", "outbox", NULL,
};

struct query_opts {
	struct common_opts co;
	const char *store_dir;
	int json, timing;
	int64_t at, window_ms, repeat;
	const char *recipient;
};

#define OFF(field) offsetof(struct query_opts, field)

static const struct option_spec query_active_options[] = {
	OPTION_TIME(0, "at", OFF(at), "the end of the window: ms since the epoch, or ISO 8601 (default: now)"),
	OPTION_DURATION(0, "window", OFF(window_ms), "the active window (default 30s)"),
	OPTION_INT(0, "repeat", "N", OFF(repeat), 1, 100000000, "run the active query N times in one txn (for timing)"),
	OPTION_FLAG(0, "timing", OFF(timing), "print the p50 and p99 latency of the queries to stderr"),
	OPTION_END
};

static const struct option_spec query_outbox_options[] = {
	OPTION_STRING(0, "recipient", "NAME", OFF(recipient), "only this recipient's notifications"),
	OPTION_END
};

/* A query reads a store: -b and -X would mean nothing, and -t names the store's topic. */
static const struct option_spec query_options[] = {
	OPTION_STRING(0, "store", "DIR", OFF(store_dir), "the store to read"),
	OPTION_GROUP_ONLY("With active", query_active_options, 0, "active"),
	OPTION_GROUP_ONLY("With outbox", query_outbox_options, 0, "outbox"),
	OPTION_GROUP(COMMON_HEADING, common_topic_options, OFF(co)),
	OPTION_GROUP(COMMON_HEADING, common_json_options, OFF(co)),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int query_active(struct store_txn *t, const struct query_opts *q, char *err, size_t errlen)
{
	struct active_set a;
	int64_t at = q->at ? q->at : clock_now_ms(), i, floor;
	int64_t *lat = q->timing ? xmalloc((size_t)q->repeat * sizeof(*lat)) : NULL;
	int rc = 0;

	/* The index holds every user seen at or after its floor, which the consumer keeps
	 * (store.h); before it, only what was not pruned yet. The window (at - window, at]
	 * is whole if it starts no earlier than that. */
	if ((rc = store_index_floor_get(t, &floor, err, errlen)) != 0)
		goto lat_free;
	if (floor != INT64_MIN && at - q->window_ms < floor - 1)
		log_warn("the window starts at %" PRId64 ", before the index floor %" PRId64 " (--retain of "
			 "pingpong active): users last seen before %" PRId64 " may be missing", at - q->window_ms + 1,
			 floor, floor);
	active_set_init(&a);
	for (i = 0; i < q->repeat && rc == 0; i++) {
		int64_t t0 = clock_mono_ns();
		rc = active_collect(t, at, q->window_ms, &a, err, errlen);
		if (lat)
			lat[i] = clock_mono_ns() - t0;
	}
	if (rc == 0)
		active_print(&a, at, q->window_ms, NULL, q->json, stdout);
	if (rc == 0 && lat) {
		qsort(lat, (size_t)q->repeat, sizeof(*lat), cmp_i64);
		fprintf(stderr, "active query: %" PRId64 " runs, %zu users: p50 %.1f us, p99 %.1f us\n",
			q->repeat, a.n, (double)lat[q->repeat / 2] / 1000,
			(double)lat[(q->repeat * 99) / 100] / 1000);
	}
	active_set_release(&a);
lat_free:
	free(lat);
	return rc;
}

static int query_user(struct store_txn *t, const struct query_opts *q, const char *name, char *err, size_t errlen)
{
	struct store_user u;
	int rc = store_user_get(t, name, strlen(name), &u, err, errlen);

	if (rc == STORE_NOTFOUND) {
		fputs("pingpong query: no user '", stderr);
		fput_escaped(name, strlen(name), stderr);
		fputs("'\n", stderr);
		return 1;
	}
	if (rc != 0)
		return rc;
	if (q->json) {
		json_t *o = json_object();
		json_object_set_new(o, "user", json_string(name));
		json_object_set_new(o, "last_seen", json_integer(u.last_seen));
		json_object_set_new(o, "count", json_integer((json_int_t)u.count));
		json_object_set_new(o, "email", u.email ? json_stringn(u.email, u.email_len) : json_null());
		json_print_line(o, stdout);
	} else {
		/* Names and emails escaped: they may hold newlines and terminal controls. */
		fputs("user: ", stdout);
		fput_escaped(name, strlen(name), stdout);
		fputs("\nemail: ", stdout);
		fput_escaped(u.email ? u.email : "", u.email_len, stdout);
		printf("\nlast_seen: %" PRId64 "\nevents: %" PRIu64 "\n", u.last_seen, u.count);
	}
	return 0;
}

static int print_user(void *arg, const char *user, size_t len, const struct store_user *u)
{
	const struct query_opts *q = arg;

	if (q->json) {
		json_t *o = json_object();
		json_object_set_new(o, "user", json_stringn(user, len));
		json_object_set_new(o, "last_seen", json_integer(u->last_seen));
		json_object_set_new(o, "count", json_integer((json_int_t)u->count));
		json_object_set_new(o, "email", u->email ? json_stringn(u->email, u->email_len) : json_null());
		json_print_line(o, stdout);
	} else {
		/* Escaped, so that a tab or a newline in a name cannot shift the columns. */
		fput_escaped(user, len, stdout);
		printf("\t%" PRId64 "\t%" PRIu64 "\t", u->last_seen, u->count);
		fput_escaped(u->email ? u->email : "", u->email_len, stdout);
		putchar('\n');
	}
	return 0;
}

static int print_offset(void *arg, int32_t partition, int64_t next)
{
	const struct query_opts *q = arg;

	if (q->json) {
		json_t *o = json_object();
		json_object_set_new(o, "partition", json_integer(partition));
		json_object_set_new(o, "next_offset", json_integer(next));
		json_print_line(o, stdout);
	} else {
		printf("%d\t%" PRId64 "\n", (int)partition, next);
	}
	return 0;
}

static int print_reject(void *arg, int32_t partition, int64_t offset, const char *reason, const void *payload,
			size_t len)
{
	const struct query_opts *q = arg;
	char hex[2 * STORE_REJECT_PAYLOAD_MAX + 1];

	hex_encode(payload, len < STORE_REJECT_PAYLOAD_MAX ? len : STORE_REJECT_PAYLOAD_MAX, hex);
	if (q->json) {
		json_t *o = json_object();
		json_object_set_new(o, "partition", json_integer(partition));
		json_object_set_new(o, "offset", json_integer(offset));
		json_object_set_new(o, "reason", json_string(reason));
		json_object_set_new(o, "payload_hex", json_string(hex));
		json_print_line(o, stdout);
	} else {
		printf("%d\t%" PRId64 "\t", (int)partition, offset);
		fput_escaped(reason, strlen(reason), stdout);
		printf("\t%s\n", hex);
	}
	return 0;
}

/* A skipped gap or a reset (store.h), with when and who where the record knows. */
static int print_gap(void *arg, const struct store_gap *g)
{
	const struct query_opts *q = arg;
	const char *kind = g->kind == STORE_GAP_RESET ? "reset" : "skipped";

	if (q->json) {
		json_t *o = json_object();
		json_object_set_new(o, "partition", json_integer(g->partition));
		json_object_set_new(o, "from", g->from < 0 ? json_null() : json_integer(g->from));
		json_object_set_new(o, "to", json_integer(g->to));
		json_object_set_new(o, "kind", json_string(kind));
		json_object_set_new(o, "at", g->at_ms < 0 ? json_null() : json_integer(g->at_ms));
		json_object_set_new(o, "who", g->who_len ? json_stringn(g->who, g->who_len) : json_null());
		json_print_line(o, stdout);
	} else {
		if (g->from < 0)
			printf("%d\t-\t%" PRId64 "\t%s\t", (int)g->partition, g->to, kind);
		else
			printf("%d\t%" PRId64 "\t%" PRId64 "\t%s\t", (int)g->partition, g->from, g->to, kind);
		if (g->at_ms < 0)
			printf("-\t");
		else
			printf("%" PRId64 "\t", g->at_ms);
		if (g->who_len)
			fput_escaped(g->who, g->who_len, stdout);
		else
			putchar('-');
		putchar('\n');
	}
	return 0;
}

static int print_outbox(void *arg, int32_t partition, int64_t offset, const char *recipient, size_t rlen,
			const char *text, size_t tlen)
{
	const struct query_opts *q = arg;

	if (q->recipient && (strlen(q->recipient) != rlen || memcmp(q->recipient, recipient, rlen)))
		return 0;
	notification_print(partition, offset, recipient, rlen, text, tlen, q->json, stdout);
	return 0;
}

static int query_run(int argc, char **argv)
{
	struct query_opts q = { .window_ms = 30000, .repeat = 1 };
	struct store_options so = { .read_only = 1 };
	struct store *s;
	struct store_txn *t;
	const char *what;
	char err[512];
	int argi, rc;
	size_t i;

	common_opts_init(&q.co);
	/* GNU getopt permutes: options may come before or after the query's name. */
	if ((rc = options_parse(&cmd_query, argc, argv, &q, &argi)) != OPTIONS_CONTINUE)
		return rc;
	q.json = q.co.json;
	if (!q.store_dir)
		return usage_error(&cmd_query, "--store DIR is required");
	if (argi >= argc)
		return usage_error(&cmd_query, "which query? active, user, users, offsets, rejects, gaps or outbox");
	what = argv[argi++];
	if (strcmp(what, "user") ? argi != argc : argi != argc - 1)
		return usage_error(&cmd_query, "wrong arguments for '%s'", what);
	for (i = 0; query_subcommands[i] && strcmp(what, query_subcommands[i]); i++)
		;
	if (!query_subcommands[i])
		return usage_error(&cmd_query, "unknown query '%s'", what);
	log_init("query", q.co.verbosity);
	sigpipe_install(); /* `query users | head` ends quietly, as the consumers do */

	if (store_open(&s, q.store_dir, &so, err, sizeof(err)) != 0 ||
	    (store_bind(s, q.co.topic, NULL, err, sizeof(err)) != 0 && (store_close(s), 1))) {
		log_error("%s", err);
		return EX_IOERR;
	}
	if ((rc = store_txn_begin(s, 0, &t, err, sizeof(err))) != 0) {
		log_error("%s", err);
		store_close(s);
		return EX_IOERR;
	}
	if (!strcmp(what, "active"))
		rc = query_active(t, &q, err, sizeof(err));
	else if (!strcmp(what, "user"))
		rc = query_user(t, &q, argv[argi], err, sizeof(err));
	else if (!strcmp(what, "users"))
		rc = store_users_each(t, print_user, &q, err, sizeof(err));
	else if (!strcmp(what, "offsets"))
		rc = store_offsets_each(t, print_offset, &q, err, sizeof(err));
	else if (!strcmp(what, "rejects"))
		rc = store_rejects_each(t, print_reject, &q, err, sizeof(err));
	else if (!strcmp(what, "gaps"))
		rc = store_gap_records_each(t, print_gap, &q, err, sizeof(err));
	else
		rc = store_outbox_each(t, print_outbox, &q, err, sizeof(err));
	store_txn_abort(t);
	store_close(s);
	options_release(&cmd_query, &q);
	if (rc < 0) {
		log_error("%s", err);
		return EX_IOERR;
	}
	/* A closed pipe ended the query already (sigpipe_install); a full disk ends here. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("cannot write to standard output");
		return EX_IOERR;
	}
	return rc;
}

const struct command cmd_query = {
	"query", "read a store: active users, a user, offsets, rejects, gaps, outbox",
	query_usage, query_description, query_options, query_subcommands, query_run,
};
