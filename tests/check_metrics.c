/* check_metrics.c: the Check suite for metrics.c and consumer-metrics.c: the text format
 * exactly, names, escaping, numbers, histograms, updates from several threads, and the
 * parser of librdkafka's statistics on a sample that librdkafka 2.0.2 wrote.
 *
 * Every expected text is written out by hand from the exposition format's rules, not
 * produced by the renderer.
 */
#include "config.h"

#include <check.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "consumer-metrics.h"
#include "event.h"
#include "metrics.h"
#include "store.h"

static char err[512];

static char *render(struct metrics *m)
{
	size_t len;
	char *text = metrics_render(m, &len);

	ck_assert_uint_eq(strlen(text), len);
	return text;
}

static void assert_renders(struct metrics *m, const char *want)
{
	char *got = render(m);

	ck_assert_msg(!strcmp(got, want), "rendered:\n%s\nwanted:\n%s", got, want);
	free(got);
}

/* Each of want[0..n) is somewhere in text. */
static void assert_contains(const char *text, const char *const *want, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_assert_msg(strstr(text, want[i]), "missing:\n%s\nin:\n%s", want[i], text);
}

START_TEST(test_counter_and_gauge)
{
	struct metrics *m = metrics_new();
	struct metric *c = metrics_counter(m, "pp_requests_total", "Requests.", NULL, err, sizeof(err));
	struct metric *g = metrics_gauge(m, "pp_temperature_celsius", "A gauge.", "room", err, sizeof(err));

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(g);
	/* the counter without labels is there at 0; the gauge with one has no series yet */
	assert_renders(m, "# HELP pp_requests_total Requests.\n"
			  "# TYPE pp_requests_total counter\n"
			  "pp_requests_total 0\n"
			  "# HELP pp_temperature_celsius A gauge.\n"
			  "# TYPE pp_temperature_celsius gauge\n");
	metric_inc(metric_series(c, NULL));
	metric_add(metric_series(c, NULL), 2.5);
	metric_add(metric_series(c, NULL), -1); /* a counter never goes down */
	metric_add(metric_series(c, NULL), NAN);
	metric_set(metric_with(g, "kitchen"), 21.5);
	metric_set(metric_with(g, "cellar"), -4);
	metric_add(metric_with(g, "kitchen"), -0.5); /* a gauge does */
	ck_assert(metric_with(g, "kitchen") == metric_with(g, "kitchen"));
	assert_renders(m, "# HELP pp_requests_total Requests.\n"
			  "# TYPE pp_requests_total counter\n"
			  "pp_requests_total 3.5\n"
			  "# HELP pp_temperature_celsius A gauge.\n"
			  "# TYPE pp_temperature_celsius gauge\n"
			  "pp_temperature_celsius{room=\"kitchen\"} 21\n"
			  "pp_temperature_celsius{room=\"cellar\"} -4\n");
	ck_assert(metric_value(metric_series(c, NULL)) == 3.5);
	metrics_free(m);
}
END_TEST

/* HELP escapes backslash and newline; label values also the double quote. */
START_TEST(test_escaping)
{
	struct metrics *m = metrics_new();
	struct metric *c = metrics_counter(m, "pp_odd_total", "Back\\slash and\nnewline \"quoted\".", "user,path",
					   err, sizeof(err));

	ck_assert_ptr_nonnull(c);
	metric_inc(metric_with(c, "a\"b", "C:\\dir\nnext"));
	metric_inc(metric_with(c, "", "Zoë"));
	assert_renders(m, "# HELP pp_odd_total Back\\\\slash and\\nnewline \"quoted\".\n"
			  "# TYPE pp_odd_total counter\n"
			  "pp_odd_total{user=\"a\\\"b\",path=\"C:\\\\dir\\nnext\"} 1\n"
			  "pp_odd_total{user=\"\",path=\"Zoë\"} 1\n");
	metrics_free(m);
}
END_TEST

/* Integers without exponent up to 2^53, the shortest decimal that reads back otherwise. */
START_TEST(test_numbers)
{
	static const struct { double v; const char *text; } cases[] = {
		{ 0, "0" }, { -0.0, "0" }, { 42, "42" }, { -7, "-7" }, { 0.1, "0.1" }, { 2.5e-7, "2.5e-07" },
		{ 1.0 / 3, "0.3333333333333333" }, { 9007199254740991.0, "9007199254740991" },
		{ 0.1 + 0.2, "0.30000000000000004" }, { 1e20, "1e+20" }, { 123456789.125, "123456789.125" },
		{ INFINITY, "+Inf" }, { -INFINITY, "-Inf" }, { NAN, "NaN" },
	};
	struct metrics *m = metrics_new();
	struct metric *g = metrics_gauge(m, "pp_x", "X.", "i", err, sizeof(err));
	char want[2048], i[8];
	size_t k, o;

	o = (size_t)snprintf(want, sizeof(want), "# HELP pp_x X.\n# TYPE pp_x gauge\n");
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		snprintf(i, sizeof(i), "%zu", k);
		metric_set(metric_with(g, i), cases[k].v);
		o += (size_t)snprintf(want + o, sizeof(want) - o, "pp_x{i=\"%zu\"} %s\n", k, cases[k].text);
	}
	assert_renders(m, want);
	metrics_free(m);
}
END_TEST

/* Buckets are cumulative and "le" is inclusive: 0.1 goes to le="0.1". */
START_TEST(test_histogram)
{
	static const double bounds[] = { 0.1, 0.5, 1 };
	struct metrics *m = metrics_new();
	struct metric *h = metrics_histogram(m, "pp_latency_seconds", "Latency.", NULL, bounds, 3, err, sizeof(err));
	struct metric *hl = metrics_histogram(m, "pp_size_bytes", "Size.", "kind", bounds + 2, 1, err, sizeof(err));
	struct metric_series *s;

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(hl);
	s = metric_series(h, NULL);
	metric_observe(s, 0.05);
	metric_observe(s, 0.1);
	metric_observe(s, 0.25);
	metric_observe(s, 0.75);
	metric_observe(s, 3);
	metric_observe(metric_with(hl, "big"), 2);
	ck_assert_uint_eq(metric_count(s), 5);
	assert_renders(m, "# HELP pp_latency_seconds Latency.\n"
			  "# TYPE pp_latency_seconds histogram\n"
			  "pp_latency_seconds_bucket{le=\"0.1\"} 2\n"
			  "pp_latency_seconds_bucket{le=\"0.5\"} 3\n"
			  "pp_latency_seconds_bucket{le=\"1\"} 4\n"
			  "pp_latency_seconds_bucket{le=\"+Inf\"} 5\n"
			  "pp_latency_seconds_sum 4.15\n"
			  "pp_latency_seconds_count 5\n"
			  "# HELP pp_size_bytes Size.\n"
			  "# TYPE pp_size_bytes histogram\n"
			  "pp_size_bytes_bucket{kind=\"big\",le=\"1\"} 0\n"
			  "pp_size_bytes_bucket{kind=\"big\",le=\"+Inf\"} 1\n"
			  "pp_size_bytes_sum{kind=\"big\"} 2\n"
			  "pp_size_bytes_count{kind=\"big\"} 1\n");
	metrics_free(m);
}
END_TEST

START_TEST(test_names_refused)
{
	static const double down[] = { 1, 0.5 }, inf[] = { INFINITY };
	struct metrics *m = metrics_new();

	ck_assert_ptr_nonnull(metrics_counter(m, "pp_ok:sub_total", "", "a,_b,c9", err, sizeof(err)));
	ck_assert_ptr_null(metrics_counter(m, "pp_ok:sub_total", "", NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "registered already"), "%s", err);
	ck_assert_ptr_null(metrics_counter(m, "9pp", "", NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "'9pp'"), "%s", err);
	ck_assert_ptr_null(metrics_counter(m, "pp-dash", "", NULL, err, sizeof(err)));
	ck_assert_ptr_null(metrics_counter(m, "", "", NULL, err, sizeof(err)));
	ck_assert_ptr_null(metrics_gauge(m, "pp_a", "", "x:y", err, sizeof(err)));
	ck_assert_ptr_null(metrics_gauge(m, "pp_b", "", "__reserved", err, sizeof(err)));
	ck_assert_ptr_null(metrics_gauge(m, "pp_c", "", "a,b,c,d,e", err, sizeof(err)));
	ck_assert_ptr_null(metrics_histogram(m, "pp_d", "", "le", down, 1, err, sizeof(err)));
	ck_assert_ptr_null(metrics_histogram(m, "pp_e", "", NULL, down, 2, err, sizeof(err)));
	ck_assert_ptr_null(metrics_histogram(m, "pp_f", "", NULL, inf, 1, err, sizeof(err)));
	/* nothing refused was registered */
	assert_renders(m, "# HELP pp_ok:sub_total \n# TYPE pp_ok:sub_total counter\n");
	metrics_free(m);
}
END_TEST

/* Two threads update while a third renders: every render is well formed (the +Inf bucket
 * is _count), and nothing is lost. */
struct hammer {
	struct metric *c, *h;
	const char *label;
};

#define HAMMER_N 100000

static void *hammer(void *arg)
{
	struct hammer *w = arg;
	struct metric_series *c = metric_with(w->c, w->label), *shared = metric_with(w->c, "shared");
	struct metric_series *h = metric_series(w->h, NULL);
	int i;

	for (i = 0; i < HAMMER_N; i++) {
		metric_inc(c);
		metric_add(shared, 0.5);
		metric_observe(h, (i % 4) * 0.001);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct metrics *m = metrics_new();
	struct hammer a, b;
	pthread_t ta, tb;
	int renders = 0;

	a.c = b.c = metrics_counter(m, "pp_ops_total", "Ops.", "thread", err, sizeof(err));
	a.h = b.h = metrics_histogram(m, "pp_op_seconds", "Op time.", NULL, metrics_seconds_buckets,
				      metrics_seconds_nbuckets, err, sizeof(err));
	a.label = "a";
	b.label = "b";
	ck_assert_int_eq(pthread_create(&ta, NULL, hammer, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, hammer, &b), 0);
	while (renders < 200) {
		char *text = render(m), *inf, *count;
		unsigned long long n_inf = 0, n_count = 0;
		inf = strstr(text, "pp_op_seconds_bucket{le=\"+Inf\"} ");
		count = strstr(text, "pp_op_seconds_count ");
		ck_assert_ptr_nonnull(inf);
		ck_assert_ptr_nonnull(count);
		sscanf(inf + strlen("pp_op_seconds_bucket{le=\"+Inf\"} "), "%llu", &n_inf);
		sscanf(count + strlen("pp_op_seconds_count "), "%llu", &n_count);
		ck_assert_uint_eq(n_inf, n_count);
		free(text);
		renders++;
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert(metric_value(metric_with(a.c, "a")) == HAMMER_N);
	ck_assert(metric_value(metric_with(a.c, "b")) == HAMMER_N);
	ck_assert(metric_value(metric_with(a.c, "shared")) == HAMMER_N); /* 2 x N x 0.5, exact in binary */
	ck_assert_uint_eq(metric_count(metric_series(a.h, NULL)), 2 * HAMMER_N);
	ck_assert(fabs(metric_value(metric_series(a.h, NULL)) - 2 * (HAMMER_N / 4) * 0.006) < 1e-6);
	metrics_free(m);
}
END_TEST

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* A statistics object that librdkafka 2.0.2 wrote for a consumer of chat[0..2] on the mock
 * broker, after reading 263, 352 and 385 messages and committing 200, 352 and 100. */
START_TEST(test_stats_sample)
{
	struct kafka_stats_partition *p;
	size_t len, n, i;
	char *json = slurp(PP_TESTDIR "/rdkafka-stats-2.0.2.json", &len);
	static const int64_t hi[] = { 263, 352, 385 }, committed[] = { 200, 352, 100 };
	int seen[3] = { 0, 0, 0 };

	ck_assert_int_eq(kafka_stats_partitions(json, len, "chat", &p, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 3); /* without the internal partition -1 */
	for (i = 0; i < n; i++) {
		int32_t k = p[i].partition;
		ck_assert_int_ge(k, 0);
		ck_assert_int_le(k, 2);
		seen[k]++;
		ck_assert_int_eq(p[i].hi_offset, hi[k]);
		ck_assert_int_eq(p[i].lo_offset, 0);
		ck_assert_int_eq(p[i].committed_offset, committed[k]);
		ck_assert_int_eq(p[i].consumer_lag, hi[k] - committed[k]);
		ck_assert_int_eq(p[i].app_offset, hi[k]);
		ck_assert_int_eq(p[i].stored_offset, hi[k]);
		ck_assert_int_eq(p[i].consumer_lag_stored, 0);
	}
	ck_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
	free(p);
	/* a topic it does not hold yet: no partitions, no error */
	ck_assert_int_eq(kafka_stats_partitions(json, len, "other", &p, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(p);
	free(json);
}
END_TEST

START_TEST(test_stats_odd)
{
	struct kafka_stats_partition *p;
	size_t n;
	const char *invalid = "{\"topics\":{\"chat\":{\"partitions\":{\"0\":{\"partition\":0,\"hi_offset\":-1001,"
			      "\"committed_offset\":\"x\"},\"7\":{\"partition\":7}}}}}";

	ck_assert_int_eq(kafka_stats_partitions("{", 1, "chat", &p, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "librdkafka statistics"), "%s", err);
	ck_assert_int_eq(kafka_stats_partitions("[1]", 3, "chat", &p, &n, err, sizeof(err)), -1);
	ck_assert_int_eq(kafka_stats_partitions("{\"name\":1}", 10, "chat", &p, &n, err, sizeof(err)), -1);
	ck_assert_int_eq(kafka_stats_partitions(invalid, strlen(invalid), "chat", &p, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(p[0].partition, 0);
	ck_assert_int_eq(p[0].hi_offset, -1);       /* librdkafka's -1001 */
	ck_assert_int_eq(p[0].committed_offset, -1); /* not a number */
	ck_assert_int_eq(p[1].partition, 7);
	ck_assert_int_eq(p[1].consumer_lag, -1);     /* missing */
	free(p);
}
END_TEST

/* The consumers' registry, as it renders before anything happened, then after a batch,
 * statistics, a rebalance and a gate wait. */
START_TEST(test_consumer_metrics)
{
	struct metrics *m = metrics_new();
	struct consumer_metrics cm;
	size_t len;
	char *json = slurp(PP_TESTDIR "/rdkafka-stats-2.0.2.json", &len), *text;

	ck_assert_int_eq(consumer_metrics_init(&cm, m, "active", err, sizeof(err)), 0);
	text = render(m);
	ck_assert_msg(strstr(text, "# TYPE pingpong_info gauge\npingpong_info{command=\"active\",version=\""
				   PACKAGE_VERSION "\"} 1\n"), "%s", text);
	ck_assert_msg(strstr(text, "# TYPE pingpong_events_total counter\n# HELP"), "%s", text);
	ck_assert_msg(strstr(text, "# TYPE pingpong_batches_total counter\npingpong_batches_total 0\n"), "%s", text);
	ck_assert_msg(strstr(text, "pingpong_batch_commit_seconds_bucket{le=\"0.0005\"} 0\n"), "%s", text);
	ck_assert_msg(strstr(text, "pingpong_batch_commit_seconds_bucket{le=\"10\"} 0\n"
				   "pingpong_batch_commit_seconds_bucket{le=\"+Inf\"} 0\n"
				   "pingpong_batch_commit_seconds_sum 0\n"
				   "pingpong_batch_commit_seconds_count 0\n"), "%s", text);
	free(text);

	consumer_metrics_events(&cm, 2, 990, 3, 7);
	consumer_metrics_events(&cm, 2, 10, 0, 0);
	consumer_metrics_batch(&cm, 0.003);
	consumer_metrics_batch(&cm, 0.02);
	consumer_metrics_store(&cm, 64 << 20, 1253376);
	consumer_metrics_rebalance(&cm, "assign");
	consumer_metrics_gate_wait(&cm, 1, 0.25);
	consumer_metrics_gate_wait(&cm, 1, 0.5);
	ck_assert_int_eq(consumer_metrics_stats(&cm, json, len, "chat", err, sizeof(err)), 0);
	ck_assert_int_eq(consumer_metrics_stats(&cm, "nonsense", 8, "chat", err, sizeof(err)), -1);
	consumer_metrics_events(NULL, 0, 1, 1, 1); /* no --metrics: nothing, no crash */
	text = render(m);
	{
		static const char *const want[] = {
			"pingpong_events_total{result=\"applied\",partition=\"2\"} 1000\n"
			"pingpong_events_total{result=\"rejected\",partition=\"2\"} 3\n"
			"pingpong_events_total{result=\"already_applied\",partition=\"2\"} 7\n",
			"pingpong_batches_total 2\n",
			"pingpong_batch_commit_seconds_bucket{le=\"0.0025\"} 0\n"
			"pingpong_batch_commit_seconds_bucket{le=\"0.005\"} 1\n"
			"pingpong_batch_commit_seconds_bucket{le=\"0.01\"} 1\n"
			"pingpong_batch_commit_seconds_bucket{le=\"0.025\"} 2\n",
			"pingpong_batch_commit_seconds_sum 0.023\n"
			"pingpong_batch_commit_seconds_count 2\n",
			"pingpong_consumer_lag{partition=\"0\"} 63\n",
			"pingpong_consumer_lag{partition=\"1\"} 0\n",
			"pingpong_consumer_lag{partition=\"2\"} 285\n",
			"pingpong_log_end_offset{partition=\"2\"} 385\n",
			"pingpong_store_map_size_bytes 67108864\n",
			"pingpong_store_used_bytes 1253376\n",
			"pingpong_rebalances_total{kind=\"assign\"} 1\n",
			"pingpong_gate_waits_total{partition=\"1\"} 2\n",
			"pingpong_gate_wait_seconds_total{partition=\"1\"} 0.75\n",
			"pingpong_kafka_stats_errors_total 1\n",
		};
		assert_contains(text, want, sizeof(want) / sizeof(want[0]));
	}
	free(text);
	free(json);
	metrics_free(m);
}
END_TEST

/* ---- a committed batch's outcomes, per partition ----------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The hook rejects the events of user "late", as active rejects one from the future. */
static int reject_late(void *ctx, struct store_txn *t, struct batch_msg *msgs, size_t n, int64_t now, char *e,
		       size_t elen)
{
	size_t i;

	(void)ctx, (void)t, (void)now, (void)e, (void)elen;
	for (i = 0; i < n; i++)
		if (msgs[i].ev.user_len == 4 && !memcmp(msgs[i].ev.user, "late", 4)) {
			snprintf(msgs[i].reason, BATCH_REASON_LEN, "late");
			msgs[i].reject = msgs[i].reason;
		}
	return 0;
}

/* Adds (partition, offset) to b: an event of user, or 3 bytes that are no event. The
 * payload lives in pay (one per message) until the batch is cleared. */
static void add(struct batch *b, struct event_encoder *enc, char pay[][64], int32_t p, int64_t off,
		const char *user)
{
	struct event ev = { user, user ? strlen(user) : 0, NULL, 0, EVENT_HEART_BEAT, NULL, 0, 1000 + off };
	const void *out = "\xc1\xc1\xc1";
	size_t len = 3;

	if (user)
		event_encode(enc, &ev, &out, &len);
	ck_assert_uint_le(len, 64);
	memcpy(pay[b->n], out, len);
	batch_add(b, p, off, pay[b->n], len, NULL);
}

/* Two batches through batch_commit on a real store: the counts of each partition add up
 * to the batch's, and reach pingpong_events_total under their partition. */
START_TEST(test_batch_outcomes)
{
	char tmp[64] = "/tmp/check_metrics.XXXXXX", dir[96], pay[16][64];
	struct store_options so = { .no_sync = 1 };
	struct metrics *m = metrics_new();
	struct consumer_metrics cm;
	struct event_encoder enc;
	struct store *st;
	struct batch b;
	char *text;
	int64_t off;
	int p;

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/st", tmp);
	ck_assert_int_eq(store_open(&st, dir, &so, err, sizeof(err)), 0);
	ck_assert_int_eq(consumer_metrics_init(&cm, m, "active", err, sizeof(err)), 0);
	event_encoder_init(&enc);
	batch_init(&b, 16);
	/* 1: partition 0 offsets 0..4; partition 2 offsets 0..2, of which 1 is no event */
	for (off = 0; off < 5; off++)
		add(&b, &enc, pay, 0, off, "amy");
	add(&b, &enc, pay, 2, 0, "bob");
	add(&b, &enc, pay, 2, 1, NULL);
	add(&b, &enc, pay, 2, 2, "late");
	ck_assert_int_eq(batch_commit(&b, st, reject_late, NULL, 5000, err, sizeof(err)), 0);
	ck_assert_uint_eq(b.parts[0].applied, 5);
	ck_assert_uint_eq(b.parts[2].applied, 1);
	ck_assert_uint_eq(b.parts[2].rejected, 2); /* the decoder's and the hook's */
	ck_assert(!b.parts[1].touched);
	ck_assert_int_ge(b.commit_ns, 0);
	consumer_metrics_batch_done(&cm, &b);
	batch_clear(&b);
	/* 2: partition 0 offsets 3..6 (3 and 4 applied before), partition 1 offset 0 */
	for (off = 3; off < 7; off++)
		add(&b, &enc, pay, 0, off, "amy");
	add(&b, &enc, pay, 1, 0, "cy");
	ck_assert_int_eq(batch_commit(&b, st, reject_late, NULL, 6000, err, sizeof(err)), 0);
	ck_assert_uint_eq(b.parts[0].skipped, 2);
	ck_assert_uint_eq(b.parts[0].applied, 2);
	ck_assert(!b.parts[2].touched);
	{
		uint64_t applied = 0, rejected = 0, skipped = 0;
		for (p = 0; p < b.nparts; p++) {
			applied += b.parts[p].applied;
			rejected += b.parts[p].rejected;
			skipped += b.parts[p].skipped;
		}
		ck_assert_uint_eq(applied, b.nlive);
		ck_assert_uint_eq(rejected, b.rejected);
		ck_assert_uint_eq(skipped, b.skipped);
	}
	consumer_metrics_batch_done(&cm, &b);
	consumer_metrics_batch_done(NULL, &b); /* no --metrics */
	text = render(m);
	{
		static const char *const want[] = {
			"pingpong_events_total{result=\"applied\",partition=\"0\"} 7\n"
			"pingpong_events_total{result=\"rejected\",partition=\"0\"} 0\n"
			"pingpong_events_total{result=\"already_applied\",partition=\"0\"} 2\n"
			"pingpong_events_total{result=\"applied\",partition=\"2\"} 1\n"
			"pingpong_events_total{result=\"rejected\",partition=\"2\"} 2\n"
			"pingpong_events_total{result=\"already_applied\",partition=\"2\"} 0\n"
			"pingpong_events_total{result=\"applied\",partition=\"1\"} 1\n",
			"pingpong_batches_total 2\n",
			"pingpong_batch_commit_seconds_count 2\n",
		};
		assert_contains(text, want, sizeof(want) / sizeof(want[0]));
	}
	free(text);
	batch_release(&b);
	event_encoder_release(&enc);
	store_close(st);
	metrics_free(m);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("render");

	tcase_add_test(tc, test_counter_and_gauge);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_names_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("threads");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	tc = tcase_create("consumer");
	tcase_add_test(tc, test_stats_sample);
	tcase_add_test(tc, test_stats_odd);
	tcase_add_test(tc, test_consumer_metrics);
	tcase_add_test(tc, test_batch_outcomes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
