/* consumer-metrics.h: the metrics every pingpong consumer exposes, and the lag it reads
 * from librdkafka's statistics.
 *
 * The families (their HELP texts say what each means):
 *   pingpong_info{command,version}                       gauge, 1
 *   pingpong_events_total{result,partition}              counter; result: applied,
 *                                                        rejected, already_applied
 *   pingpong_batches_total                               counter
 *   pingpong_batch_commit_seconds                        histogram
 *   pingpong_consumer_lag{partition}                     gauge: log end less the group's
 *                                                        committed offset (librdkafka)
 *   pingpong_log_end_offset{partition}                   gauge (librdkafka)
 *   pingpong_store_map_size_bytes, pingpong_store_used_bytes   gauges
 *   pingpong_rebalances_total{kind}                      counter; kind: assign, revoke,
 *                                                        lost
 *   pingpong_gate_waits_total{partition}                 counter: messages held back
 *   pingpong_gate_wait_seconds_total{partition}          counter: time they waited
 *   pingpong_gate_waiting_since_seconds{partition}       gauge: since when (Unix time)
 *                                                        the gate holds the partition
 *                                                        back; 0 while it does not
 *   pingpong_kafka_stats_errors_total                    counter: statistics that did not
 *                                                        parse
 *
 * Every function may be called from any thread; the per-partition ones look their series
 * up under the registry's mutex, so call them per batch, not per event. A NULL cm does
 * nothing (but consumer_metrics_stats logs), so that a consumer without --metrics calls
 * them all the same.
 */
#ifndef PP_CONSUMER_METRICS_H
#define PP_CONSUMER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct batch;

struct consumer_metrics {
	struct metrics *reg;
	struct metric *info, *events, *batches, *commit_seconds, *lag, *log_end, *map_size, *map_used,
		*rebalances, *gate_waits, *gate_wait_seconds, *gate_waiting_since, *stats_errors;
};

/* Registers the families in reg (which the caller owns, and frees after the consumer's
 * metrics) for command ("active"). Returns 0, or -1 with the reason. No release: the
 * registry owns everything. */
int consumer_metrics_init(struct consumer_metrics *cm, struct metrics *reg, const char *command, char *err,
			  size_t errlen);

/* A committed batch's outcome on one partition (batch.h: what batch_commit counted). */
void consumer_metrics_events(struct consumer_metrics *cm, int32_t partition, uint64_t applied,
			     uint64_t rejected, uint64_t already_applied);

/* A committed batch, and how long its store commit took. */
void consumer_metrics_batch(struct consumer_metrics *cm, double commit_seconds);

/* Both of the above for a batch that batch_commit() committed: each partition's counts
 * and the time it took. */
void consumer_metrics_batch_done(struct consumer_metrics *cm, const struct batch *b);

/* The store's map and the bytes it uses (store_stat: map_size, used_bytes). */
void consumer_metrics_store(struct consumer_metrics *cm, uint64_t map_size, uint64_t used_bytes);

/* A rebalance: kind is "assign", "revoke" or "lost". */
void consumer_metrics_rebalance(struct consumer_metrics *cm, const char *kind);

/* A message the gate held back on partition, and then let through after seconds. */
void consumer_metrics_gate_wait(struct consumer_metrics *cm, int32_t partition, double seconds);

/* The gate began holding partition back at since_ms (Unix ms), or with 0 holds it no more. */
void consumer_metrics_gate_waiting(struct consumer_metrics *cm, int32_t partition, int64_t since_ms);

/* Sets the lag of a partition directly (lag -1: unknown, the gauge is left as it is). */
void consumer_metrics_lag(struct consumer_metrics *cm, int32_t partition, int64_t lag);

/* One partition of topic in librdkafka's statistics. Offsets are -1 where librdkafka has
 * none (it writes -1001, its invalid offset). */
struct kafka_stats_partition {
	int32_t partition;
	int64_t consumer_lag;        /* hi_offset (ls_offset when read_committed) less the
				      * committed offset: the group's view */
	int64_t consumer_lag_stored; /* the same less the stored offset */
	int64_t lo_offset, hi_offset, ls_offset;
	int64_t app_offset, stored_offset, committed_offset;
	int64_t fetchq_cnt;          /* messages fetched, not yet polled */
};

/* Parses the statistics JSON that librdkafka hands a stats_cb (statistics.interval.ms):
 * the partitions of topic, without librdkafka's internal partition -1, into a new array
 * *out of *n that the caller frees (NULL and 0 when the topic is not there yet, before the
 * first assignment). A field that is missing reads -1. Returns 0, or -1 with the reason
 * when json is not librdkafka's statistics. */
int kafka_stats_partitions(const char *json, size_t len, const char *topic, struct kafka_stats_partition **out,
			   size_t *n, char *err, size_t errlen);

/* For the engine's stats_cb: parses json with kafka_stats_partitions and sets
 * pingpong_consumer_lag and pingpong_log_end_offset of each partition that knows them; a
 * json that does not parse counts in pingpong_kafka_stats_errors_total. With cm NULL (a
 * consumer without --metrics whose -X asked for statistics) it logs the lags instead, in
 * one line: "librdkafka statistics: lag chat[0] 63, chat[1] 0 (total 63)". Returns 0 or
 * -1 with the reason. It does not take json: the stats_cb returns 0 and librdkafka frees
 * it. */
int consumer_metrics_stats(struct consumer_metrics *cm, const char *json, size_t len, const char *topic,
			   char *err, size_t errlen);

#endif
