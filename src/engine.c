/* engine.c: the consumer loop shared by every consumer command.
 *
 * The path of an event: kafka_poll() hands the engine messages, up to 256 at a time; the
 * engine decodes each (event.c) into the current batch; when the batch is full or has
 * lingered long enough, it opens ONE store txn, drops messages whose offset is below the
 * stored next offset (a replay, or another member sharing the store got there first),
 * records undecodable ones in rejects, hands the rest to the command's apply hook, writes
 * each partition's next offset, and commits. Only then does it run the command's committed
 * hook and mirror the offsets to Kafka (asynchronously and at most every
 * mirror_interval_ms: LMDB is the truth, Kafka's copy is for lag tools and dependent
 * consumers).
 *
 * Invariants: offsets are never committed without the state they describe; a failed
 * store write ends the process without advancing anything; a partition's stored offset
 * is never silently reset (see --on-gap). Without a store (the messages consumer's
 * plain mode) offsets go to Kafka only after the committed hook ran: at least once.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "changelog.h"
#include "consumer-metrics.h"
#include "crash.h"
#include "engine.h"
#include "gate.h"
#include "kafka.h"
#include "util.h"

struct partition_state {
	char assigned;
	char at_end;
	char paused;               /* by the gate */
	char verify;               /* the next message must be the one before vpos.next */
	struct store_position vpos; /* the stored position, when verify */
	rd_kafka_message_t *held;  /* the message the gate holds back; owned here */
	int64_t next;              /* the committed next offset, for the lag; -1: unknown */
	int64_t mirrored;          /* the next offset last sent to Kafka (or found there) */
	int64_t polled;            /* the offset after the last message polled since it was
				    * assigned or sought; -1: none (see kafka_poll) */
};

/* The writer commits batches in a thread of its own while the main thread polls and
 * decodes the next: two cores, two halves of the work. The main thread hands it full
 * batches in order and takes each back once committed, to run what follows a commit (the
 * committed hook, the offset mirror) in batch order and in the thread of every other
 * callback.
 *
 * Why a queue of ENGINE_BATCHES - 1 and not a single slot: waking a sleeping thread on
 * this kind of machine (a VM whose idle vCPU halts) takes 0.1-1 ms, as long as a batch's
 * commit. With one slot, every batch paid two such wake-ups on its critical path (the
 * writer's for the job, the main thread's for the result); with the next batch already
 * queued, the writer goes from one commit to the next without sleeping. The queue stays
 * bounded: the main thread waits when every batch but the one it fills is in flight.
 *
 * After a failed commit the writer takes no more jobs: a later batch's offsets must never
 * be committed past messages that were not. */
#define ENGINE_BATCHES 3

struct writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct engine *e;
	/* Counts since the start; job i is jobs[i % ENGINE_BATCHES]. handed >= done >=
	 * collected; the jobs in [collected, handed) are in flight. */
	uint64_t handed, done, collected;
	struct writer_job {
		struct batch *b;
		int64_t now; /* its wall-clock time */
		int rc;      /* batch_commit()'s result */
	} jobs[ENGINE_BATCHES];
	int failed;          /* a commit failed: no more */
	int quit;
	int running;
	char err[1024];      /* the failed commit's */
};

struct engine {
	const struct engine_config *cfg;
	const struct engine_hooks *hooks;
	void *ctx;
	rd_kafka_t *rk;
	struct batch batches[ENGINE_BATCHES]; /* each owns the rd_kafka_message_t of its messages */
	struct batch *fill;               /* the batch the main thread fills */
	struct writer w;                  /* commits the others, with a store */
	int64_t batch_started;
	struct partition_state *parts;
	int nparts;
	int fatal;                        /* an exit code once something went wrong for good */
	int mirror_failed;
	int64_t last_mirror_retry;
	int64_t last_mirror;              /* monotonic ms: the last mirror sent */
	int unmirrored;                   /* a committed offset is not mirrored yet */
	int64_t started;
	struct kafka_watch watch;        /* does any broker answer? (--broker-timeout) */
	rd_kafka_topic_t *rkt;            /* held from the start: see engine_run */
	int assigned;                     /* an assignment is in place (none during a rebalance) */
	int64_t last_observe;             /* monotonic ms */
	int64_t observed_consumed;        /* stats->consumed when the lag was computed */
	struct kafka_flow flow;           /* keeps the small local queue flowing */
	int idle_ends;                    /* idle upkeep steps that ended the hook's work, since
					   * the last batch that applied anything */
	struct engine_stats *stats;
	char err[1024];
};

static void parts_grow(struct engine *e, int32_t partition)
{
	if (partition < e->nparts)
		return;
	e->parts = xrealloc(e->parts, (size_t)(partition + 1) * sizeof(*e->parts));
	memset(e->parts + e->nparts, 0, (size_t)(partition + 1 - e->nparts) * sizeof(*e->parts));
	e->nparts = partition + 1;
}

/* Mirrors offsets to the group's Kafka offsets, asynchronously; the result arrives in
 * on_offset_commit() and a failure is retried by retry_mirror(). */
static void mirror_offsets(struct engine *e, rd_kafka_topic_partition_list_t *offsets, int async)
{
	rd_kafka_resp_err_t err;

	if (!offsets->cnt)
		return;
	err = rd_kafka_commit(e->rk, offsets, async);
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		log_verbose("offset mirror failed: %s", rd_kafka_err2str(err));
		e->mirror_failed = 1;
	}
}

static void on_offset_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets,
			     void *opaque)
{
	struct engine *e = opaque;

	(void)rk;
	(void)offsets;
	if (!err)
		kafka_watch_contact(&e->watch);
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		if (!e->mirror_failed)
			log_warn("mirroring offsets to Kafka failed (will retry; the store is unaffected): %s",
				 rd_kafka_err2str(err));
		e->mirror_failed = 1;
	}
}

/*
 * Mirrors the committed offsets not mirrored yet, asynchronously or not: at once when
 * `now` is -1, else at most every mirror_interval_ms. Why not after every batch, as a
 * plain consumer commits: each mirror is an OffsetCommit that the group coordinator
 * appends to __consumer_offsets, and a consumer catching up commits hundreds of batches a
 * second. On Kafka 4.4 that cost the
 * broker 0.16 s of CPU per 1,000,000 events, three times what serving the fetches did, on
 * the cores the consumer runs on. Once every 100 ms, a dependant (--after, which re-reads
 * every 200 ms by default) and a lag tool see offsets at most that much older, as with a
 * consumer's own auto.commit.interval.ms.
 */
static void mirror_committed(struct engine *e, int64_t now, int async)
{
	rd_kafka_topic_partition_list_t *offsets;
	int p;

	if (!e->unmirrored || (now >= 0 && now - e->last_mirror < e->cfg->mirror_interval_ms))
		return;
	offsets = rd_kafka_topic_partition_list_new(e->nparts ? e->nparts : 1);
	for (p = 0; p < e->nparts; p++) {
		struct partition_state *ps = &e->parts[p];
		if (ps->assigned && ps->next >= 0 && ps->next != ps->mirrored) {
			rd_kafka_topic_partition_list_add(offsets, e->cfg->topic, p)->offset = ps->next;
			ps->mirrored = ps->next;
		}
	}
	mirror_offsets(e, offsets, async);
	rd_kafka_topic_partition_list_destroy(offsets);
	e->unmirrored = 0;
	e->last_mirror = now >= 0 ? now : clock_mono_ms();
}

struct collect_offsets {
	struct engine *e;
	rd_kafka_topic_partition_list_t *list;
};

static int collect_offset(void *arg, int32_t partition, int64_t next)
{
	struct collect_offsets *c = arg;

	if (partition < c->e->nparts && c->e->parts[partition].assigned)
		rd_kafka_topic_partition_list_add(c->list, c->e->cfg->topic, partition)->offset = next;
	return 0;
}

/* Sends every assigned partition's stored offset to Kafka: after a failed mirror (at most
 * once a second), and synchronously at shutdown, so that dependants see where we stopped. */
static void mirror_stored(struct engine *e, int async)
{
	struct collect_offsets c;
	struct store_txn *t;

	if (!e->cfg->store || store_txn_begin(e->cfg->store, 0, &t, e->err, sizeof(e->err)) != 0)
		return;
	c.e = e;
	c.list = rd_kafka_topic_partition_list_new(e->nparts ? e->nparts : 1);
	store_offsets_each(t, collect_offset, &c, e->err, sizeof(e->err));
	store_txn_abort(t);
	e->mirror_failed = 0;
	mirror_offsets(e, c.list, async);
	rd_kafka_topic_partition_list_destroy(c.list);
}

static void retry_mirror(struct engine *e)
{
	int64_t now = clock_mono_ms();

	if (!e->mirror_failed || now - e->last_mirror_retry < 1000)
		return;
	e->last_mirror_retry = now;
	mirror_stored(e, 1);
}

/* Destroys the messages of b and empties it. */
static void batch_drop(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->msgs[i].opaque);
	batch_clear(b);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct writer_job *j;

		while (!w->quit && (w->done == w->handed || w->failed))
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		j = &w->jobs[w->done % ENGINE_BATCHES];
		pthread_mutex_unlock(&w->mu);
		/* Only this thread writes err, and only before it sets failed. */
		j->rc = batch_commit(j->b, w->e->cfg->store, w->e->hooks->apply, w->e->ctx, j->now, w->err,
				     sizeof(w->err));
		pthread_mutex_lock(&w->mu);
		if (j->rc != 0)
			w->failed = 1;
		w->done++;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Starts the writer; without one (no store, or no thread) batches commit in place. */
static void writer_start(struct engine *e)
{
	struct writer *w = &e->w;

	w->e = e;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (e->cfg->store && pthread_create(&w->thread, NULL, writer_main, w) == 0)
		w->running = 1;
}

static void writer_stop(struct engine *e)
{
	struct writer *w = &e->w;

	if (w->running) {
		pthread_mutex_lock(&w->mu);
		w->quit = 1;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		w->running = 0;
	}
}

static void writer_free(struct engine *e)
{
	writer_stop(e);
	pthread_cond_destroy(&e->w.cv);
	pthread_mutex_destroy(&e->w.mu);
}

/* What follows a batch's commit, in the main thread: the counts, the committed hook, the
 * offset mirror; then the batch's messages go. Returns 0 or an exit code. */
static int batch_finish(struct engine *e, struct batch *b, int rc, const char *err)
{
	struct store *s = e->cfg->store;
	size_t i;
	int p;

	if (rc != 0) {
		if (s)
			log_error("store '%s': %s; the batch was not committed and no offset advanced",
				  store_dir(s), err);
		else
			log_error("%s", err);
		batch_drop(b);
		return s ? EX_IOERR : EX_SOFTWARE;
	}
	if (b->grows)
		log_verbose("store map grown to %" PRIu64 " MiB", store_map_size(s) >> 20);
	if (!s) {
		/* Nowhere to record them: say so. */
		for (i = 0; i < b->n; i++)
			if (b->msgs[i].reject)
				log_warn("%s[%d] offset %" PRId64 ": skipped: %s", e->cfg->topic,
					 (int)b->msgs[i].partition, b->msgs[i].offset, b->msgs[i].reject);
	}
	if (b->nlive)
		e->idle_ends = 0;
	e->stats->applied += (int64_t)b->nlive;
	e->stats->rejected += (int64_t)b->rejected;
	e->stats->skipped += (int64_t)b->skipped;
	e->stats->ignored += (int64_t)b->ignored;
	e->stats->last_ms = clock_mono_ms();
	if (e->stats->batches++ == 0)
		log_verbose("first batch committed %" PRId64 " ms after start", clock_mono_ms() - e->started);
	if (e->hooks->committed)
		e->hooks->committed(e->ctx, b->live, b->nlive);
	consumer_metrics_batch_done(e->cfg->metrics, b);
	if (e->cfg->changelog)
		changelog_committed(e->cfg->changelog);

	for (p = 0; p < b->nparts; p++)
		if (b->parts[p].touched && b->parts[p].pos.next >= 0) {
			e->parts[p].next = b->parts[p].pos.next;
			e->unmirrored = 1;
		}
	/* With a store, Kafka holds a mirror, sent asynchronously when due; without one,
	 * Kafka's offsets are the truth and the commit must be done before we go on. */
	if (s)
		mirror_committed(e, e->cfg->mirror_interval_ms ? clock_mono_ms() : -1, 1);
	else
		mirror_committed(e, -1, 0);
	batch_drop(b);
	return 0;
}

/* Batches handed to the writer and not yet taken back. */
static uint64_t in_flight(const struct writer *w)
{
	return w->handed - w->collected;
}

/* Takes back, in order, the batches the writer has committed, and finishes each; waits
 * until no more than `most` are in flight (ENGINE_BATCHES: never waits). Returns 0 or an
 * exit code: the first failed commit's once (batch_finish says why), then EX_IOERR for
 * as long as the batches after it wait in vain, so that none is handed over on top. */
static int writer_collect(struct engine *e, uint64_t most)
{
	struct writer *w = &e->w;
	int rc = 0;

	pthread_mutex_lock(&w->mu);
	while (rc == 0) {
		struct writer_job *j;

		if (w->collected == w->done) {
			/* Nothing committed to take: wait, unless no commit is coming. */
			if (in_flight(w) <= most)
				break;
			if (w->failed) {
				rc = EX_IOERR;
				break;
			}
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		j = &w->jobs[w->collected++ % ENGINE_BATCHES];
		pthread_mutex_unlock(&w->mu);
		rc = batch_finish(e, j->b, j->rc, w->err);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* Is the consumer caught up, so that the hook's upkeep may ride along with this batch
 * (never while catching up, which it would only slow)? The lag is ENGINE_OBSERVE_MS old
 * at most: less what was polled since, no more than a batch is left behind this one. */
static int caught_up(const struct engine *e)
{
	const struct engine_stats *st = e->stats;

	return st->lag >= 0 && st->lag - (st->consumed - e->observed_consumed) <= e->cfg->batch;
}

/* Commits the batch being filled: hands it to the writer, once there is room in its queue,
 * and fills the next free one; or, without a writer, commits it here. Returns 0 or an exit
 * code (of this batch or of one before). */
static int flush_batch(struct engine *e)
{
	struct writer *w = &e->w;
	int rc;

	if (e->fill->n == 0)
		return 0;
	e->fill->upkeep = caught_up(e) ? e->hooks->upkeep : NULL;
	if (!w->running) {
		rc = batch_commit(e->fill, e->cfg->store, e->hooks->apply, e->ctx, clock_now_ms(), e->err,
				  sizeof(e->err));
		return batch_finish(e, e->fill, rc, e->err);
	}
	/* Room for this batch and a free one to fill next. */
	if ((rc = writer_collect(e, ENGINE_BATCHES - 2)) != 0)
		return rc;
	pthread_mutex_lock(&w->mu);
	w->jobs[w->handed % ENGINE_BATCHES] = (struct writer_job){ e->fill, clock_now_ms(), 0 };
	w->handed++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	/* Batches go round in order, so the one after the last handed is free. */
	e->fill = &e->batches[w->handed % ENGINE_BATCHES];
	return 0;
}

/* Commits everything polled so far and waits for it: before letting partitions go,
 * writing to the store from this thread, or stopping. */
static int drain(struct engine *e)
{
	int rc = flush_batch(e);

	if (rc == 0 && e->w.running)
		rc = writer_collect(e, 0);
	return rc;
}

/* Adds a polled message to the batch, decoding it; the batch now owns rkm. */
static void engine_take(struct engine *e, rd_kafka_message_t *rkm)
{
	if (e->fill->n == 0) {
		e->batch_started = clock_mono_ms();
		if (!e->stats->first_ms)
			e->stats->first_ms = e->batch_started;
	}
	struct batch_msg *m = batch_add(e->fill, rkm->partition, rkm->offset, rkm->payload, rkm->len, rkm);

	m->key = rkm->key;
	m->key_len = rkm->key_len;
	m->kafka_ts = rd_kafka_message_timestamp(rkm, NULL);
	e->stats->consumed++;
}

/* Positions newly assigned partitions at their stored positions. A stored position
 * with a fingerprint is read from one message earlier: that message must be the one the
 * store applied last, or the log is not the one the store was built from (see
 * verify_position). It costs one message fetched per assignment. */
static void position_partitions(struct engine *e, rd_kafka_topic_partition_list_t *parts)
{
	struct store_txn *t = NULL;
	int i;

	if (e->cfg->store && store_txn_begin(e->cfg->store, 0, &t, e->err, sizeof(e->err)) != 0) {
		log_error("store '%s': %s", store_dir(e->cfg->store), e->err);
		e->fatal = EX_IOERR;
	}
	for (i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		struct partition_state *ps = &e->parts[tp->partition];
		struct store_position pos;

		ps->verify = 0;
		ps->next = ps->mirrored = -1;
		ps->polled = -1;
		if (t && store_position_get(t, tp->partition, &pos, e->err, sizeof(e->err)) == 0) {
			/* Mirrored by whoever stored it: a batch mirrors what it moves. */
			tp->offset = ps->next = ps->mirrored = pos.next;
			if (pos.next > 0 && pos.last_hash) {
				tp->offset = pos.next - 1;
				ps->verify = 1;
				ps->vpos = pos;
			}
		} else if (t) {
			tp->offset = e->cfg->start_latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
		}
		/* Without a store, RD_KAFKA_OFFSET_INVALID resumes from the committed offset. */
	}
	if (t)
		store_txn_abort(t);
}

static void set_paused(struct engine *e, int32_t partition, int pause);

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			 void *opaque)
{
	struct engine *e = opaque;
	char buf[2048], reason[512];
	int i, rc;

	/* Ends the kafka_poll() that runs this: what it returns was polled before. */
	rd_kafka_yield(rk);
	kafka_watch_contact(&e->watch); /* the group's coordinator answered */
	consumer_metrics_rebalance(e->cfg->metrics, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assign" :
				   rd_kafka_assignment_lost(rk) ? "lost" : "revoke");
	e->assigned = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		log_info("assigned: %s", kafka_format_partitions(parts, buf, sizeof(buf)));
		crash_point("in-assign");
		for (i = 0; i < parts->cnt; i++) {
			parts_grow(e, parts->elems[i].partition);
			e->parts[parts->elems[i].partition].assigned = 1;
			e->parts[parts->elems[i].partition].at_end = 0;
		}
		/* A partition's state may come from its changelog: before its position. */
		if (e->cfg->changelog && (rc = changelog_assigned(e->cfg->changelog, parts)) != 0)
			e->fatal = rc;
		position_partitions(e, parts);
		if (kafka_rebalance_apply(rk, parts, 1, reason, sizeof(reason)) != 0) {
			/* Nothing would ever arrive: stop rather than wait for it. */
			log_error("cannot take %s: %s", buf, reason);
			e->fatal = EX_SOFTWARE;
			return;
		}
		return;
	}

	/* Revoked (or lost): finish and commit the batch in flight before letting go, so the
	 * next owner starts exactly where we stopped. */
	log_info("revoked: %s", kafka_format_partitions(parts, buf, sizeof(buf)));
	if ((rc = drain(e)) != 0)
		e->fatal = rc;
	mirror_committed(e, -1, 1);
	if (e->cfg->changelog && (rc = changelog_revoked(e->cfg->changelog, parts)) != 0)
		e->fatal = rc;
	for (i = 0; i < parts->cnt; i++) {
		struct partition_state *ps;
		parts_grow(e, parts->elems[i].partition);
		ps = &e->parts[parts->elems[i].partition];
		ps->assigned = 0;
		ps->at_end = 0;
		ps->polled = -1;
		/* librdkafka remembers a pause across assignments: a partition the gate paused
		 * would come back silent. Resumed here, not when it comes back: a resume then
		 * makes librdkafka drop the answer to the query of its first offset, which it
		 * asks again 500 ms later. */
		if (ps->paused)
			set_paused(e, parts->elems[i].partition, 0);
		if (ps->held) {
			/* Not ours any more: the next owner processes it. */
			rd_kafka_message_destroy(ps->held);
			ps->held = NULL;
			gate_forget(e->cfg->gate, parts->elems[i].partition);
		}
	}
	if (kafka_rebalance_apply(rk, parts, 0, reason, sizeof(reason)) != 0)
		log_error("cannot give up %s: %s", buf, reason);
}

/* Restarts fetching a partition at offset. A partition that hit an out-of-range error
 * with auto.offset.reset=error stops fetching, and a seek does not revive it: assign it
 * again instead, incrementally or eagerly as the group's protocol wants. */
static int reposition(struct engine *e, int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t err = 0;

	e->parts[partition].polled = -1;
	if (!strcmp(rd_kafka_rebalance_protocol(e->rk), "COOPERATIVE")) {
		l = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(l, e->cfg->topic, partition)->offset = offset;
		error = rd_kafka_incremental_unassign(e->rk, l);
		if (!error)
			error = rd_kafka_incremental_assign(e->rk, l);
	} else {
		int i;
		if ((err = rd_kafka_assignment(e->rk, &l)) == 0) {
			for (i = 0; i < l->cnt; i++)
				if (l->elems[i].partition == partition)
					l->elems[i].offset = offset;
			err = rd_kafka_assign(e->rk, l);
		} else {
			l = NULL;
		}
	}
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	if (error) {
		log_error("cannot reposition %s[%d]: %s", e->cfg->topic, (int)partition, rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		return EX_SOFTWARE;
	}
	if (err) {
		log_error("cannot reposition %s[%d]: %s", e->cfg->topic, (int)partition, rd_kafka_err2str(err));
		return EX_SOFTWARE;
	}
	return 0;
}

/* --on-gap skip: records that [stored, to) will never be processed and goes on from to,
 * after what is in flight. */
static int skip_to(struct engine *e, int32_t partition, int64_t stored, int64_t to)
{
	int rc;

	if ((rc = drain(e)) != 0)
		return rc;
	if (batch_record_gap(e->cfg->store, partition, stored, to, e->err, sizeof(e->err)) != 0) {
		log_error("store '%s': %s", store_dir(e->cfg->store), e->err);
		return EX_IOERR;
	}
	log_warn("%s[%d]: skipped the gap from offset %" PRId64 " to %" PRId64 " (recorded in the store)",
		 e->cfg->topic, (int)partition, stored, to);
	e->parts[partition].verify = 0;
	e->parts[partition].next = to;
	return reposition(e, partition, to);
}

/* The first message of a partition positioned one before its stored offset: is it the
 * message the store applied last? Returns 0 to go on with rkm, 1 when rkm is consumed
 * here (destroyed), or an exit code. */
static int verify_position(struct engine *e, rd_kafka_message_t *rkm)
{
	struct partition_state *ps = &e->parts[rkm->partition];
	const struct store_position pos = ps->vpos;
	const char *topic = e->cfg->topic;
	int64_t ts, lo = -1, hi = -1;
	int32_t partition = rkm->partition;
	int rc;

	ps->verify = 0;
	if (rkm->offset != pos.next - 1) {
		/* Deleted by retention or compaction since: nothing to compare with. */
		log_verbose("%s[%d]: the message before the stored offset %" PRId64 " is gone; position not "
			    "verified", topic, (int)partition, pos.next);
		return 0;
	}
	ts = rd_kafka_message_timestamp(rkm, NULL);
	if (fingerprint64(rkm->key, rkm->key_len, rkm->payload, rkm->len) == pos.last_hash &&
	    (pos.last_ts < 0 || ts == pos.last_ts)) {
		rd_kafka_message_destroy(rkm);
		return 1;
	}
	rd_kafka_query_watermark_offsets(e->rk, topic, partition, &lo, &hi, 5000);
	if (!e->cfg->on_gap_skip)
		log_error("%s[%d]: the message at offset %" PRId64 " is not the one this store applied there "
			  "(its fingerprint differs): the broker's log was replaced or rewritten (log %" PRId64
			  "..%" PRId64 "); rerun with --on-gap skip to read it again from its start, or use a "
			  "new store", topic, (int)partition, rkm->offset, lo, hi);
	rd_kafka_message_destroy(rkm);
	if (!e->cfg->on_gap_skip)
		return EX_DATAERR;
	rc = skip_to(e, partition, pos.next, lo < 0 ? 0 : lo);
	return rc ? rc : 1;
}

/* The stored offset of a partition lies outside the broker's log. Either stop (the
 * default) or record the gap and go on from the log start (--on-gap skip). Only the
 * message before it being gone is no gap: go on from the stored offset, unverified. */
static int handle_out_of_range(struct engine *e, const rd_kafka_message_t *m)
{
	const char *topic = e->cfg->topic;
	int64_t lo = -1, hi = -1, stored = m->offset;
	rd_kafka_resp_err_t err;
	struct store_txn *t;

	if (e->cfg->store && store_txn_begin(e->cfg->store, 0, &t, e->err, sizeof(e->err)) == 0) {
		store_offset_get(t, m->partition, &stored, e->err, sizeof(e->err));
		store_txn_abort(t);
	}
	err = rd_kafka_query_watermark_offsets(e->rk, topic, m->partition, &lo, &hi, 5000);
	if (err) {
		log_error("%s[%d]: offset %" PRId64 " is out of range, and the broker's range is unknown: %s",
			  topic, (int)m->partition, stored, rd_kafka_err2str(err));
		return EX_UNAVAILABLE;
	}
	if (e->cfg->store && lo <= stored && stored <= hi) {
		e->parts[m->partition].verify = 0;
		log_verbose("%s[%d]: the message before the stored offset %" PRId64 " is gone; position not "
			    "verified", topic, (int)m->partition, stored);
		return reposition(e, m->partition, stored);
	}
	if (!e->cfg->on_gap_skip) {
		if (stored < lo)
			log_error("%s[%d]: stored offset %" PRId64 " is below the log start %" PRId64
				  " (log %" PRId64 "..%" PRId64 "): %" PRId64 " events were deleted before "
				  "they were processed; rerun with --on-gap skip to accept the loss",
				  topic, (int)m->partition, stored, lo, lo, hi, lo - stored);
		else
			log_error("%s[%d]: stored offset %" PRId64 " is beyond the log end %" PRId64
				  " (log %" PRId64 "..%" PRId64 "): the broker lost its log; rerun with "
				  "--on-gap skip to read it again from its start, or use a new store",
				  topic, (int)m->partition, stored, hi, lo, hi);
		return EX_DATAERR;
	}
	if (!e->cfg->store) {
		log_error("%s[%d]: offset %" PRId64 " is out of range (log %" PRId64 "..%" PRId64 ")",
			  topic, (int)m->partition, stored, lo, hi);
		return EX_DATAERR;
	}
	return skip_to(e, m->partition, stored, lo);
}

static int all_at_end(const struct engine *e)
{
	int p, any = 0;

	for (p = 0; p < e->nparts; p++) {
		if (!e->parts[p].assigned)
			continue;
		any = 1;
		if (!e->parts[p].at_end || e->parts[p].held)
			return 0;
	}
	return any;
}

/* Pauses or resumes one partition for the gate. */
static void set_paused(struct engine *e, int32_t partition, int pause)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, e->cfg->topic, partition);
	if (pause)
		rd_kafka_pause_partitions(e->rk, l);
	else
		rd_kafka_resume_partitions(e->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	e->parts[partition].paused = (char)pause;
}

/* Takes one message in: into the batch if the gate lets it through, else held back with
 * its partition paused. */
static void admit(struct engine *e, rd_kafka_message_t *rkm)
{
	if (e->cfg->gate && !gate_allows(e->cfg->gate, rkm->partition, rkm->offset)) {
		struct partition_state *ps = &e->parts[rkm->partition];
		/* Kafka hands out what was fetched before the pause: the held message stays
		 * first in line, and later ones are sought back to it on release. */
		if (ps->held) {
			rd_kafka_message_destroy(rkm);
			return;
		}
		ps->held = rkm;
		set_paused(e, rkm->partition, 1);
		return;
	}
	engine_take(e, rkm);
}

/* Releases held messages whose dependencies have moved past them. */
static void release_held(struct engine *e)
{
	int p;

	for (p = 0; p < e->nparts; p++) {
		struct partition_state *ps = &e->parts[p];
		rd_kafka_message_t *rkm = ps->held;
		int64_t resume_at;

		if (!rkm)
			continue;
		if (!gate_allows(e->cfg->gate, p, rkm->offset)) {
			gate_log_wait(e->cfg->gate, p, rkm->offset);
			continue;
		}
		if (batch_full(e->fill) && flush_batch(e) != 0)
			return;
		resume_at = rkm->offset + 1;
		ps->held = NULL;
		ps->polled = -1;
		engine_take(e, rkm);
		/* Messages fetched after the held one were dropped: read them again. */
		{
			rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
			rd_kafka_error_t *error;
			rd_kafka_topic_partition_list_add(l, e->cfg->topic, p)->offset = resume_at;
			set_paused(e, p, 0);
			error = rd_kafka_seek_partitions(e->rk, l, 5000);
			if (error) {
				log_warn("rd_kafka_seek_partitions: %s", rd_kafka_error_string(error));
				rd_kafka_error_destroy(error);
			}
			rd_kafka_topic_partition_list_destroy(l);
		}
	}
}

/*
 * What an operator sees. The lag is computed here, from what librdkafka holds already:
 * the high watermark each fetch response carries (rd_kafka_get_watermark_offsets asks no
 * broker) less the next offset this process committed; it costs a lock per partition
 * every ENGINE_OBSERVE_MS and lags the log by at most one fetch. librdkafka's statistics,
 * whose lag is the log end less the offsets mirrored to Kafka, feed the metrics instead
 * (consumer-metrics.c).
 */

/* Where a partition whose committed offset is not known yet is read from: after the
 * last message polled, else where it starts. -1 when neither is known. */
static int64_t start_of(struct engine *e, int32_t partition, int64_t lo, int64_t hi)
{
	int64_t next = e->parts[partition].polled;

	/* With a store, a partition with no stored offset starts at --start. */
	if (next < 0 && e->cfg->store)
		next = e->cfg->start_latest ? hi : lo;
	return next;
}

/* The lag of engine_stats: -1 while any assigned partition's is unknown. */
static int64_t engine_lag(struct engine *e)
{
	int64_t lag = 0, lo, hi, next;
	int p;

	if (!e->assigned)
		return -1;
	for (p = 0; p < e->nparts; p++) {
		if (!e->parts[p].assigned)
			continue;
		if (rd_kafka_get_watermark_offsets(e->rk, e->cfg->topic, p, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		    hi < 0)
			return -1;
		if ((next = e->parts[p].next) < 0 && (next = start_of(e, p, lo, hi)) < 0)
			return -1;
		lag += hi > next ? hi - next : 0;
	}
	return lag;
}

static void engine_observe(struct engine *e, int64_t now)
{
	if (now - e->last_observe < ENGINE_OBSERVE_MS)
		return;
	e->last_observe = now;
	e->stats->lag = engine_lag(e);
	e->observed_consumed = e->stats->consumed;
	if (e->cfg->observe)
		e->cfg->observe(e->cfg->observe_arg, e->stats);
}

/* librdkafka's statistics (statistics.interval.ms), in the polling thread: the lag
 * gauges with --metrics; without, a log line, so that -X statistics.interval.ms is
 * never ignored. librdkafka frees json (we return 0). */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct engine *e = opaque;
	char err[256];

	(void)rk;
	if (consumer_metrics_stats(e->cfg->metrics, json, len, e->cfg->topic, err, sizeof(err)) < 0)
		log_verbose("%s", err);
	return 0;
}

static rd_kafka_t *engine_consumer_new(struct engine *e)
{
	const struct engine_config *cfg = e->cfg;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512];

	conf = kafka_conf_new(&cfg->kafka, kafka_consumer_tuning, err, sizeof(err));
	if (!conf)
		goto fail;
	/* Pingpong positions partitions itself; a reset would paper over lost events. */
	if (kafka_conf_set(conf, "group.id", cfg->group, err, sizeof(err)) < 0 ||
	    (cfg->metrics && kafka_conf_set(conf, "statistics.interval.ms", "1000", err, sizeof(err)) < 0) ||
	    kafka_conf_set(conf, "auto.offset.reset", cfg->store ? "error" :
			   cfg->start_latest ? "latest" : "earliest", err, sizeof(err)) < 0 ||
	    kafka_conf_set(conf, "enable.partition.eof", cfg->exit_at_end ? "true" : "false", err, sizeof(err)) < 0 ||
	    (cfg->instance_id && kafka_conf_set(conf, "group.instance.id", cfg->instance_id, err, sizeof(err)) < 0)) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	/* -X may still override all of the above, kcat's way. */
	if (kafka_conf_user_props(conf, &cfg->kafka, err, sizeof(err)) < 0) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	rd_kafka_conf_set_opaque(conf, e);
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_offset_commit_cb(conf, on_offset_commit);
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		log_error("rd_kafka_new: %s", err);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	kafka_flow_init(&e->flow, rk);
	kafka_watch_init(&e->watch, cfg->broker_timeout_ms);
	return rk;
fail:
	log_error("%s", err);
	return NULL;
}

/* Takes what one poll returned. Returns 0, or an exit code to stop with. */
static int engine_take_polled(struct engine *e, rd_kafka_message_t *rkm)
{
	struct partition_state *ps;
	int rc;

	if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		parts_grow(e, rkm->partition);
		e->parts[rkm->partition].at_end = 1;
		rd_kafka_message_destroy(rkm);
		return 0;
	}
	if (rkm->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
		rc = handle_out_of_range(e, rkm);
		rd_kafka_message_destroy(rkm);
		return rc;
	}
	if (rkm->err) {
		/* Refused for good: retrying cannot help (a session timeout outside the broker's
		 * group.min/max.session.timeout.ms is refused at every JoinGroup). */
		int fatal = rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
			    rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			    rkm->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
			    rkm->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
			    rkm->err == RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT;
		if (fatal)
			log_error("%s", rd_kafka_message_errstr(rkm));
		else
			log_warn("%s", rd_kafka_message_errstr(rkm));
		rd_kafka_message_destroy(rkm);
		return fatal ? EX_UNAVAILABLE : 0;
	}
	parts_grow(e, rkm->partition);
	ps = &e->parts[rkm->partition];
	if (!ps->assigned) {
		/* Fetched before a revoke: the new owner will read it. */
		rd_kafka_message_destroy(rkm);
		return 0;
	}
	ps->polled = rkm->offset + 1;
	ps->at_end = 0;
	if (ps->verify && (rc = verify_position(e, rkm)) != 0)
		return rc == 1 ? 0 : rc;
	admit(e, rkm);
	return 0;
}

/* Flow control (kafka.c): the partitions that are fetching, when the queue runs low. */
static void flow_nudge(struct engine *e)
{
	rd_kafka_topic_partition_list_t *l;
	int p;

	if (!kafka_flow_due(&e->flow))
		return;
	l = rd_kafka_topic_partition_list_new(e->nparts ? e->nparts : 1);
	for (p = 0; p < e->nparts; p++) {
		const struct partition_state *ps = &e->parts[p];
		if (ps->assigned && !ps->at_end && !ps->paused && !ps->held && !ps->verify)
			rd_kafka_topic_partition_list_add(l, e->cfg->topic, p);
	}
	kafka_flow_nudge(&e->flow, e->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * Upkeep while idle. The upkeep rides along with the batches of a caught-up consumer, so
 * one that gets a burst and then silence would keep what the burst left (for active, the
 * stale index entries) until events come again. So while polls find nothing and the lag
 * is 0, the engine commits batches of nothing for the upkeep alone (and for the apply
 * hook's own bounded work: active's floor and pruning), until the hook has twice said it
 * came to the end of its work: the first end closes the pass that was under way, the
 * second a whole pass begun after the last batch that applied anything. One step per
 * poll that found nothing, which waits 100 ms: a room where events trickle in, each
 * batch resetting the count, costs at most a step (for active, 1,000 index entries, a
 * millisecond or two) every 100 ms. Not for a consumer that stops at the end
 * (--exit-at-end).
 */
#define ENGINE_IDLE_ENDS 2

static int idle_upkeep_due(const struct engine *e)
{
	const struct engine_config *cfg = e->cfg;

	return cfg->store && e->hooks->upkeep && !cfg->exit_at_end && e->idle_ends < ENGINE_IDLE_ENDS &&
	       e->assigned && e->stats->lag == 0 && e->fill->n == 0 && in_flight(&e->w) == 0 && !e->fatal;
}

/* One idle upkeep step, in this thread (the writer has nothing in flight). Returns 0 or
 * an exit code. */
static int idle_upkeep(struct engine *e)
{
	struct batch *b = e->fill;
	int rc;

	b->upkeep = e->hooks->upkeep;
	rc = batch_commit(b, e->cfg->store, e->hooks->apply, e->ctx, clock_now_ms(), e->err, sizeof(e->err));
	if (rc != 0) {
		log_error("store '%s': %s; the upkeep was not committed", store_dir(e->cfg->store), e->err);
		return EX_IOERR;
	}
	if (b->upkeep_ended)
		e->idle_ends++;
	if (e->cfg->changelog)
		changelog_committed(e->cfg->changelog);
	batch_clear(b);
	return 0;
}

/* What runs after every poll: the gate, the batch, the mirror, the tick. */
static int engine_housekeep(struct engine *e, int64_t now, int idle, int64_t *next_tick)
{
	const struct engine_config *cfg = e->cfg;
	int rc;

	if (cfg->gate) {
		gate_refresh(cfg->gate, 0);
		release_held(e);
	}
	if (batch_full(e->fill) ||
	    (e->fill->n && (now - e->batch_started >= cfg->linger_ms || (idle && cfg->exit_at_end)))) {
		if ((rc = flush_batch(e)) != 0)
			return rc;
	}
	if (e->w.running && (rc = writer_collect(e, idle && cfg->exit_at_end ? 0 : ENGINE_BATCHES)) != 0)
		return rc;
	if (idle && idle_upkeep_due(e) && (rc = idle_upkeep(e)) != 0)
		return rc;
	if (cfg->changelog && (rc = changelog_poll(cfg->changelog)) != 0)
		return rc;
	flow_nudge(e);
	engine_observe(e, now);
	mirror_committed(e, now, 1);
	if (e->mirror_failed)
		retry_mirror(e);
	if (now >= *next_tick) {
		if (e->hooks->tick)
			e->hooks->tick(e->ctx);
		*next_tick = now + cfg->tick_ms;
	}
	return 0;
}

/* Takes what one kafka_poll() returned, in order, committing each batch as it fills;
 * destroys them all, even after an error. Returns 0 or an exit code. */
static int engine_take_all(struct engine *e, rd_kafka_message_t **msgs, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (rc != 0) {
			rd_kafka_message_destroy(msgs[i]);
			continue;
		}
		if ((rc = engine_take_polled(e, msgs[i])) == 0 && batch_full(e->fill))
			rc = flush_batch(e);
	}
	return rc;
}

/* Does any of msgs come from a broker (a message or a partition's end, not an error)? */
static int broker_answered(rd_kafka_message_t *const *msgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!msgs[i]->err || msgs[i]->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			return 1;
	return 0;
}

/* Polls until a stop, the end (exit_at_end) or an error. Returns 0 or an exit code. */
static int engine_loop(struct engine *e)
{
	const struct engine_config *cfg = e->cfg;
	int64_t now = clock_mono_ms(), next_tick = cfg->tick_ms ? now + cfg->tick_ms : INT64_MAX;
	rd_kafka_message_t *msgs[KAFKA_POLL_MAX];
	int rc = 0;

	while (!*cfg->stop && !e->fatal) {
		int timeout = 100;
		size_t n;

		if (e->fill->n) {
			int64_t left = e->batch_started + cfg->linger_ms - now;
			timeout = left < 0 ? 0 : left < timeout ? (int)left : timeout;
		}
		if (e->unmirrored) {
			int64_t left = e->last_mirror + cfg->mirror_interval_ms - now;
			timeout = left < 0 ? 0 : left < timeout ? (int)left : timeout;
		}
		n = kafka_poll(e->rk, e->flow.queue, timeout, msgs, e->flow.every);
		now = clock_mono_ms();
		if (broker_answered(msgs, n)) {
			kafka_watch_contact(&e->watch);
		} else if (n == 0 && kafka_watch_expired(&e->watch, e->rk, cfg->kafka.brokers, e->err, sizeof(e->err))) {
			log_error("%s", e->err);
			return EX_UNAVAILABLE;
		}
		if ((rc = engine_take_all(e, msgs, n)) != 0 || (rc = engine_housekeep(e, now, n == 0, &next_tick)) != 0)
			return rc;
		if (cfg->exit_at_end && e->fill->n == 0 && in_flight(&e->w) == 0 && all_at_end(e))
			break;
	}
	return e->fatal;
}

int engine_run(const struct engine_config *cfg, const struct engine_hooks *hooks, void *ctx,
	       struct engine_stats *stats)
{
	struct engine e;
	rd_kafka_topic_partition_list_t *sub;
	rd_kafka_resp_err_t err;
	int i, p, rc = 0;

	memset(&e, 0, sizeof(e));
	memset(stats, 0, sizeof(*stats));
	stats->lag = -1;
	e.cfg = cfg;
	e.hooks = hooks;
	e.ctx = ctx;
	e.stats = stats;
	e.started = clock_mono_ms();
	e.last_mirror = INT64_MIN / 2; /* never: the first batch's offsets go at once */
	for (i = 0; i < ENGINE_BATCHES; i++)
		batch_init(&e.batches[i], (size_t)cfg->batch);
	e.fill = &e.batches[0];
	writer_start(&e);
	if (!(e.rk = engine_consumer_new(&e))) {
		rc = EX_USAGE;
		goto engine_free;
	}

	sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, cfg->topic, RD_KAFKA_PARTITION_UA);
	/* A topic handle held from before the assignment makes librdkafka create the
	 * topic's partitions, each with its leader, as soon as the topic's metadata comes.
	 * Without it, a partition assigned from the beginning (an empty store) could be
	 * created by the assignment itself, before it knows its leader: librdkafka then puts
	 * off the query of its first offset by 500 ms (rd_kafka_toppar_offset_request),
	 * and in the bench most runs began to fetch half a second late. */
	e.rkt = rd_kafka_topic_new(e.rk, cfg->topic, NULL);
	err = rd_kafka_subscribe(e.rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (err) {
		log_error("rd_kafka_subscribe '%s': %s", cfg->topic, rd_kafka_err2str(err));
		rc = EX_UNAVAILABLE;
		goto consumer_close;
	}
	rc = engine_loop(&e);
	log_verbose("flow control: %" PRId64 " nudges", e.flow.nudges);
	if (rc == 0)
		rc = drain(&e);
	if (rc == 0)
		mirror_stored(&e, 0);

consumer_close:
	/* Leaves the group; the revoke callback commits anything still in flight. */
	rd_kafka_consumer_close(e.rk);
	if (rc == 0 && e.fatal)
		rc = e.fatal;
	for (p = 0; p < e.nparts; p++)
		if (e.parts[p].held)
			rd_kafka_message_destroy(e.parts[p].held);
	writer_collect(&e, 0);
	writer_stop(&e); /* before the drops: after a failure, queued batches stay uncommitted */
	for (i = 0; i < ENGINE_BATCHES; i++)
		batch_drop(&e.batches[i]);
	kafka_flow_release(&e.flow);
	if (e.rkt)
		rd_kafka_topic_destroy(e.rkt);
	rd_kafka_destroy(e.rk);
engine_free:
	writer_free(&e);
	for (i = 0; i < ENGINE_BATCHES; i++)
		batch_release(&e.batches[i]);
	free(e.parts);
	return rc;
}
