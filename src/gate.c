/* gate.c: a consumer's dependencies, and the rule that holds it behind them.
 *
 * A message at (partition p, offset o) may be processed only once every dependency has
 * committed an offset greater than o on p. Progress comes from two sources:
 *   --after GROUP      the group's committed Kafka offsets (ListConsumerGroupOffsets with
 *                      an explicit partition list); pingpong's consumers mirror their
 *                      store offsets there after their commits (at most every
 *                      --mirror-interval), so this works across hosts;
 *   --after-store DIR  the dependency's own LMDB store, in a read-only txn: exact, and
 *                      cheap on one host.
 * Requests to Kafka are asynchronous: gate_refresh() sends one and picks up the answer on
 * a later call, so the consumer loop never blocks here and keeps polling its group.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "consumer-metrics.h"
#include "gate.h"
#include "kafka.h"
#include "store.h"
#include "util.h"

#define GATE_LOG_EVERY_MS 5000
#define GATE_MAX_BACKOFF 8

struct gate_dep {
	const char *name;          /* the group, or the store's directory */
	struct store *store;       /* for --after-store; NULL for --after */
	int64_t *committed;        /* per partition; -1 while unknown */
	int in_flight;             /* a Kafka request is outstanding */
};

struct gate {
	struct gate_dep *deps;
	size_t ndeps;
	const char *topic;
	int nparts;
	rd_kafka_t *admin;         /* for --after; NULL when only stores */
	rd_kafka_queue_t *queue;
	int64_t poll_ms, interval_ms, next_refresh;
	int64_t *wait_since, *last_log; /* per partition, monotonic ms; 0 when not waiting */
	struct consumer_metrics *metrics;
	char err[512];
};

static void dep_grow(struct gate *g, int nparts)
{
	size_t d;
	int p;

	if (nparts <= g->nparts)
		return;
	for (d = 0; d < g->ndeps; d++) {
		g->deps[d].committed = xrealloc(g->deps[d].committed, (size_t)nparts * sizeof(int64_t));
		for (p = g->nparts; p < nparts; p++)
			g->deps[d].committed[p] = -1;
	}
	g->wait_since = xrealloc(g->wait_since, (size_t)nparts * sizeof(int64_t));
	g->last_log = xrealloc(g->last_log, (size_t)nparts * sizeof(int64_t));
	for (p = g->nparts; p < nparts; p++)
		g->wait_since[p] = g->last_log[p] = 0;
	g->nparts = nparts;
}

int gate_open(struct gate **out, const struct gate_config *gc, char *err, size_t errlen)
{
	struct gate *g;
	size_t i;
	int n;

	*out = NULL;
	if (gc->ngroups + gc->nstores == 0)
		return 0;
	g = xcalloc(1, sizeof(*g));
	g->topic = gc->topic;
	g->metrics = gc->metrics;
	g->poll_ms = g->interval_ms = gc->poll_ms > 0 ? gc->poll_ms : 1;
	g->deps = xcalloc(gc->ngroups + gc->nstores, sizeof(*g->deps));
	for (i = 0; i < gc->nstores; i++) {
		struct store_options so = { .read_only = 1 };
		struct gate_dep *d = &g->deps[g->ndeps];

		d->name = gc->stores[i];
		if (store_open(&d->store, d->name, &so, err, errlen) != 0 ||
		    store_bind(d->store, gc->topic, NULL, err, errlen) != 0) {
			if (d->store)
				store_close(d->store);
			gate_close(g);
			return GATE_ESTORE;
		}
		g->ndeps++;
	}
	if (gc->ngroups) {
		rd_kafka_conf_t *conf = kafka_conf_new(gc->kafka, NULL, err, errlen);
		char errstr[512];

		if (!conf)
			goto gate_close;
		g->admin = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
		if (!g->admin) {
			set_err(-1, err, errlen, "rd_kafka_new: %s", errstr);
			goto gate_close;
		}
		g->queue = rd_kafka_queue_new(g->admin);
		for (i = 0; i < gc->ngroups; i++)
			g->deps[g->ndeps++].name = gc->groups[i];
		n = kafka_partition_count(g->admin, gc->topic, 10000, err, errlen);
		if (n < 0)
			goto gate_close;
		dep_grow(g, n);
	}
	dep_grow(g, 1);
	gate_refresh(g, 1);
	*out = g;
	return 0;

gate_close:
	gate_close(g);
	return -1;
}

void gate_close(struct gate *g)
{
	size_t i;

	if (!g)
		return;
	for (i = 0; i < g->ndeps; i++) {
		store_close(g->deps[i].store);
		free(g->deps[i].committed);
	}
	free(g->deps);
	if (g->queue)
		rd_kafka_queue_destroy(g->queue);
	if (g->admin)
		rd_kafka_destroy(g->admin);
	free(g->wait_since);
	free(g->last_log);
	free(g);
}

int64_t gate_committed(struct gate *g, int32_t partition)
{
	int64_t least = INT64_MAX;
	size_t i;

	if (partition >= g->nparts)
		return -1;
	for (i = 0; i < g->ndeps; i++)
		if (g->deps[i].committed[partition] < least)
			least = g->deps[i].committed[partition];
	return least;
}

int gate_allows(struct gate *g, int32_t partition, int64_t offset)
{
	if (partition >= g->nparts)
		dep_grow(g, partition + 1);
	if (gate_committed(g, partition) > offset) {
		if (g->wait_since[partition]) {
			consumer_metrics_gate_wait(g->metrics, partition,
						   (double)(clock_mono_ms() - g->wait_since[partition]) / 1000);
			consumer_metrics_gate_waiting(g->metrics, partition, 0);
		}
		g->wait_since[partition] = 0;
		return 1;
	}
	if (!g->wait_since[partition]) {
		g->wait_since[partition] = g->last_log[partition] = clock_mono_ms();
		consumer_metrics_gate_waiting(g->metrics, partition, clock_now_ms());
		/* Something waits: look again soon rather than at the backed-off pace. */
		g->interval_ms = g->poll_ms;
	}
	return 0;
}

void gate_forget(struct gate *g, int32_t partition)
{
	if (!g || partition >= g->nparts || !g->wait_since[partition])
		return;
	g->wait_since[partition] = 0;
	consumer_metrics_gate_waiting(g->metrics, partition, 0);
}

void gate_log_wait(struct gate *g, int32_t partition, int64_t offset)
{
	int64_t now = clock_mono_ms();
	size_t i;

	if (!g->wait_since[partition] || now - g->last_log[partition] < GATE_LOG_EVERY_MS)
		return;
	g->last_log[partition] = now;
	for (i = 0; i < g->ndeps; i++) {
		int64_t c = g->deps[i].committed[partition];
		if (c > offset)
			continue;
		if (c < 0)
			log_info("waiting for %s on %s[%d]: nothing committed, need > %" PRId64, g->deps[i].name,
				 g->topic, (int)partition, offset);
		else
			log_info("waiting for %s on %s[%d]: committed %" PRId64 ", need > %" PRId64,
				 g->deps[i].name, g->topic, (int)partition, c, offset);
	}
}

struct store_read {
	struct gate *g;
	struct gate_dep *d;
	int changed;
};

static int read_store_offset(void *arg, int32_t partition, int64_t next)
{
	struct store_read *r = arg;

	if (partition >= r->g->nparts)
		dep_grow(r->g, partition + 1);
	if (r->d->committed[partition] != next) {
		r->d->committed[partition] = next;
		r->changed = 1;
	}
	return 0;
}

/* Applies a finished ListConsumerGroupOffsets answer. Returns 1 if anything moved. */
static int take_group_answer(struct gate *g, rd_kafka_event_t *ev)
{
	const rd_kafka_ListConsumerGroupOffsets_result_t *res = rd_kafka_event_ListConsumerGroupOffsets_result(ev);
	const rd_kafka_group_result_t **groups;
	size_t ngroups, i, d;
	int changed = 0;

	if (rd_kafka_event_error(ev)) {
		log_verbose("ListConsumerGroupOffsets: %s", rd_kafka_event_error_string(ev));
		for (d = 0; d < g->ndeps; d++)
			g->deps[d].in_flight = 0;
		return 0;
	}
	groups = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &ngroups);
	for (i = 0; i < ngroups; i++) {
		const char *name = rd_kafka_group_result_name(groups[i]);
		const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(groups[i]);
		int k;

		for (d = 0; d < g->ndeps; d++) {
			struct gate_dep *dep = &g->deps[d];
			if (dep->store || strcmp(dep->name, name))
				continue;
			dep->in_flight = 0;
			if (rd_kafka_group_result_error(groups[i])) {
				log_verbose("dependency %s: %s", dep->name,
					    rd_kafka_error_string(rd_kafka_group_result_error(groups[i])));
				continue;
			}
			for (k = 0; parts && k < parts->cnt; k++) {
				int32_t p = parts->elems[k].partition;
				int64_t off = parts->elems[k].err || parts->elems[k].offset < 0 ? -1 : parts->elems[k].offset;
				if (p < g->nparts && dep->committed[p] != off) {
					log_verbose("dependency %s: %s[%d] committed %" PRId64, dep->name, g->topic,
						    (int)p, off);
					dep->committed[p] = off;
					changed = 1;
				}
			}
		}
	}
	return changed;
}

static void ask_group(struct gate *g, struct gate_dep *d)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(g->nparts);
	rd_kafka_ListConsumerGroupOffsets_t *req;
	int p;

	for (p = 0; p < g->nparts; p++)
		rd_kafka_topic_partition_list_add(parts, g->topic, p);
	req = rd_kafka_ListConsumerGroupOffsets_new(d->name, parts);
	rd_kafka_ListConsumerGroupOffsets(g->admin, &req, 1, NULL, g->queue);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	rd_kafka_topic_partition_list_destroy(parts);
	d->in_flight = 1;
}

void gate_refresh(struct gate *g, int force)
{
	int64_t now = clock_mono_ms();
	int changed = 0;
	size_t i;

	if (g->queue) {
		rd_kafka_event_t *ev;
		while ((ev = rd_kafka_queue_poll(g->queue, 0))) {
			changed |= take_group_answer(g, ev);
			rd_kafka_event_destroy(ev);
		}
	}
	if (!force && now < g->next_refresh) {
		if (changed)
			g->interval_ms = g->poll_ms;
		return;
	}
	for (i = 0; i < g->ndeps; i++) {
		struct gate_dep *d = &g->deps[i];

		if (d->store) {
			struct store_read r = { g, d, 0 };
			struct store_txn *t;
			if (store_txn_begin(d->store, 0, &t, g->err, sizeof(g->err)) != 0) {
				log_warn("dependency store '%s': %s", d->name, g->err);
				continue;
			}
			store_offsets_each(t, read_store_offset, &r, g->err, sizeof(g->err));
			store_txn_abort(t);
			changed |= r.changed;
		} else if (!d->in_flight) {
			ask_group(g, d);
		}
	}
	/* Back off while nothing moves; gate_allows() resets the pace when something waits. */
	if (changed)
		g->interval_ms = g->poll_ms;
	else if (g->interval_ms < g->poll_ms * GATE_MAX_BACKOFF)
		g->interval_ms *= 2;
	g->next_refresh = now + g->interval_ms;
}
