/* consumer-metrics.c: the consumers' metrics and librdkafka's statistics (see the header).
 *
 * librdkafka's statistics are one JSON object per statistics.interval.ms (its
 * STATISTICS.md): topics.<name>.partitions.<id> holds each partition's offsets and
 * consumer_lag. The parser reads only those, with jansson, and leaves the rest.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "batch.h"
#include "consumer-metrics.h"
#include "util.h"

int consumer_metrics_init(struct consumer_metrics *cm, struct metrics *reg, const char *command, char *err,
			  size_t errlen)
{
	memset(cm, 0, sizeof(*cm));
	cm->reg = reg;
	if (!(cm->info = metrics_gauge(reg, "pingpong_info", "The pingpong command serving these metrics, and its "
				       "version; always 1.", "command,version", err, errlen)) ||
	    !(cm->events = metrics_counter(reg, "pingpong_events_total", "Events by outcome and partition: applied "
					   "to the store, rejected (recorded in rejects), or already applied (below "
					   "the stored offset: skipped).", "result,partition", err, errlen)) ||
	    !(cm->batches = metrics_counter(reg, "pingpong_batches_total", "Batches committed to the store.", NULL,
					    err, errlen)) ||
	    !(cm->commit_seconds = metrics_histogram(reg, "pingpong_batch_commit_seconds", "Time to commit a "
						     "batch's store transaction.", NULL, metrics_seconds_buckets,
						     metrics_seconds_nbuckets, err, errlen)) ||
	    !(cm->lag = metrics_gauge(reg, "pingpong_consumer_lag", "Messages between the log end and the group's "
				      "committed offset, from librdkafka's statistics.", "partition", err, errlen)) ||
	    !(cm->log_end = metrics_gauge(reg, "pingpong_log_end_offset", "The partition's log end (high "
					  "watermark), from librdkafka's statistics.", "partition", err, errlen)) ||
	    !(cm->map_size = metrics_gauge(reg, "pingpong_store_map_size_bytes", "The store's LMDB map size.",
					   NULL, err, errlen)) ||
	    !(cm->map_used = metrics_gauge(reg, "pingpong_store_used_bytes", "Bytes of the store's map in use.",
					   NULL, err, errlen)) ||
	    !(cm->rebalances = metrics_counter(reg, "pingpong_rebalances_total", "Rebalances of the consumer group "
					       "seen by this member, by kind: assign, revoke, lost.", "kind", err,
					       errlen)) ||
	    !(cm->gate_waits = metrics_counter(reg, "pingpong_gate_waits_total", "Messages held back until the "
					       "dependencies (--after, --after-store) had processed them.", "partition",
					       err, errlen)) ||
	    !(cm->gate_wait_seconds = metrics_counter(reg, "pingpong_gate_wait_seconds_total", "Time messages were "
						      "held back for the dependencies.", "partition", err, errlen)) ||
	    !(cm->gate_waiting_since = metrics_gauge(reg, "pingpong_gate_waiting_since_seconds", "Since when (Unix "
						     "time) the gate has held the partition's next message back for the "
						     "dependencies; 0 while it holds none.", "partition", err, errlen)) ||
	    !(cm->stats_errors = metrics_counter(reg, "pingpong_kafka_stats_errors_total", "librdkafka statistics "
						 "that could not be read.", NULL, err, errlen)))
		return -1;
	metric_set(metric_with(cm->info, command, PACKAGE_VERSION), 1);
	return 0;
}

static struct metric_series *by_partition(struct metric *f, int32_t partition)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", (int)partition);
	return metric_with(f, p);
}

void consumer_metrics_events(struct consumer_metrics *cm, int32_t partition, uint64_t applied,
			     uint64_t rejected, uint64_t already_applied)
{
	char p[16];

	if (!cm)
		return;
	snprintf(p, sizeof(p), "%d", (int)partition);
	/* Made even at 0, so that every outcome of a partition is there once it is seen. */
	metric_add(metric_with(cm->events, "applied", p), (double)applied);
	metric_add(metric_with(cm->events, "rejected", p), (double)rejected);
	metric_add(metric_with(cm->events, "already_applied", p), (double)already_applied);
}

void consumer_metrics_batch(struct consumer_metrics *cm, double commit_seconds)
{
	if (!cm)
		return;
	metric_inc(metric_series(cm->batches, NULL));
	metric_observe(metric_series(cm->commit_seconds, NULL), commit_seconds);
}

void consumer_metrics_batch_done(struct consumer_metrics *cm, const struct batch *b)
{
	int p;

	if (!cm)
		return;
	for (p = 0; p < b->nparts; p++)
		if (b->parts[p].touched)
			consumer_metrics_events(cm, p, b->parts[p].applied, b->parts[p].rejected, b->parts[p].skipped);
	consumer_metrics_batch(cm, (double)b->commit_ns / 1e9);
}

void consumer_metrics_store(struct consumer_metrics *cm, uint64_t map_size, uint64_t used_bytes)
{
	if (!cm)
		return;
	metric_set(metric_series(cm->map_size, NULL), (double)map_size);
	metric_set(metric_series(cm->map_used, NULL), (double)used_bytes);
}

void consumer_metrics_rebalance(struct consumer_metrics *cm, const char *kind)
{
	if (!cm)
		return;
	metric_inc(metric_with(cm->rebalances, kind));
}

void consumer_metrics_gate_wait(struct consumer_metrics *cm, int32_t partition, double seconds)
{
	if (!cm)
		return;
	metric_inc(by_partition(cm->gate_waits, partition));
	metric_add(by_partition(cm->gate_wait_seconds, partition), seconds);
}

void consumer_metrics_gate_waiting(struct consumer_metrics *cm, int32_t partition, int64_t since_ms)
{
	if (!cm)
		return;
	metric_set(by_partition(cm->gate_waiting_since, partition), (double)since_ms / 1000);
}

void consumer_metrics_lag(struct consumer_metrics *cm, int32_t partition, int64_t lag)
{
	if (!cm || lag < 0)
		return;
	metric_set(by_partition(cm->lag, partition), (double)lag);
}

/* An offset field: librdkafka writes -1001 (RD_KAFKA_OFFSET_INVALID) for none. */
static int64_t offset_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	json_int_t n;

	if (!json_is_integer(v))
		return -1;
	n = json_integer_value(v);
	return n < 0 ? -1 : (int64_t)n;
}

int kafka_stats_partitions(const char *json, size_t len, const char *topic, struct kafka_stats_partition **out,
			   size_t *n, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *topics, *t, *parts, *po;
	const char *key;
	size_t cap = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (!(root = json_loadb(json, len, 0, &jerr)))
		return set_err(-1, err, errlen, "librdkafka statistics: %s at %d:%d", jerr.text, jerr.line, jerr.column);
	topics = json_object_get(root, "topics");
	if (!json_is_object(root) || !json_is_object(topics)) {
		set_err(-1, err, errlen, "librdkafka statistics: no \"topics\" object");
		goto root_decref;
	}
	rc = 0;
	if (!(t = json_object_get(topics, topic)) || !json_is_object(parts = json_object_get(t, "partitions")))
		goto root_decref; /* not assigned yet */
	json_object_foreach(parts, key, po) {
		json_t *id = json_object_get(po, "partition");
		struct kafka_stats_partition *sp;

		if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX)
			continue; /* -1: librdkafka's internal partition of messages not yet routed */
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		sp = &(*out)[(*n)++];
		sp->partition = (int32_t)json_integer_value(id);
		sp->lo_offset = offset_field(po, "lo_offset");
		sp->hi_offset = offset_field(po, "hi_offset");
		sp->ls_offset = offset_field(po, "ls_offset");
		sp->app_offset = offset_field(po, "app_offset");
		sp->stored_offset = offset_field(po, "stored_offset");
		sp->committed_offset = offset_field(po, "committed_offset");
		sp->consumer_lag = offset_field(po, "consumer_lag");
		sp->consumer_lag_stored = offset_field(po, "consumer_lag_stored");
		sp->fetchq_cnt = offset_field(po, "fetchq_cnt");
	}
root_decref:
	json_decref(root);
	return rc;
}

/* The lags of the statistics in one log line, for a consumer without --metrics. */
static void stats_log(const char *topic, const struct kafka_stats_partition *parts, size_t n)
{
	char line[1024];
	size_t i, off = 0;
	int64_t total = 0;
	int w;

	for (i = 0; i < n; i++) {
		if (parts[i].consumer_lag < 0)
			continue;
		total += parts[i].consumer_lag;
		w = snprintf(line + off, sizeof(line) - off, "%s%s[%d] %" PRId64, off ? ", " : "", topic,
			     (int)parts[i].partition, parts[i].consumer_lag);
		if (w < 0 || (size_t)w >= sizeof(line) - off)
			break;
		off += (size_t)w;
	}
	if (off)
		log_info("librdkafka statistics: lag %s (total %" PRId64 ")", line, total);
}

int consumer_metrics_stats(struct consumer_metrics *cm, const char *json, size_t len, const char *topic,
			   char *err, size_t errlen)
{
	struct kafka_stats_partition *parts;
	size_t n, i;

	if (kafka_stats_partitions(json, len, topic, &parts, &n, err, errlen) < 0) {
		if (cm)
			metric_inc(metric_series(cm->stats_errors, NULL));
		return -1;
	}
	if (!cm) {
		stats_log(topic, parts, n);
		free(parts);
		return 0;
	}
	for (i = 0; i < n; i++) {
		consumer_metrics_lag(cm, parts[i].partition, parts[i].consumer_lag);
		if (parts[i].hi_offset >= 0)
			metric_set(by_partition(cm->log_end, parts[i].partition), (double)parts[i].hi_offset);
	}
	free(parts);
	return 0;
}
