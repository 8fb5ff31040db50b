/* batch.c: a batch of messages applied to a store in one write transaction.
 *
 * What is in the one txn, and why: the state a command derives from the batch, the
 * rejects of the batch, and the next offset of every partition in it. LMDB commits all
 * of it or none of it, so after a crash at any instant the stored offsets say exactly
 * which messages the state holds, and a restart resumes there: nothing lost, nothing
 * applied twice. The stored offsets are read inside the same txn, because another
 * process sharing the store may have moved them since this one last looked.
 *
 * A failed txn leaves nothing behind; only MDB_MAP_FULL is worth a retry, after the map
 * has grown. The hook then sees the whole batch again, so the live[] it gets is rebuilt
 * from msgs[] on every attempt and its rejections land on those copies only.
 */
#include "config.h"

#include <string.h>

#include "batch.h"
#include "crash.h"
#include "util.h"

void batch_init(struct batch *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
	b->msgs = xcalloc(cap, sizeof(*b->msgs));
	b->live = xcalloc(cap, sizeof(*b->live));
	b->reasons = xmalloc(cap * BATCH_REASON_LEN);
	event_decoder_init(&b->dec);
}

void batch_release(struct batch *b)
{
	event_decoder_release(&b->dec);
	free(b->msgs);
	free(b->live);
	free(b->reasons);
	free(b->parts);
	memset(b, 0, sizeof(*b));
}

static void parts_grow(struct batch *b, int32_t partition)
{
	if (partition < b->nparts)
		return;
	b->parts = xrealloc(b->parts, ((size_t)partition + 1) * sizeof(*b->parts));
	memset(b->parts + b->nparts, 0, ((size_t)partition + 1 - (size_t)b->nparts) * sizeof(*b->parts));
	b->nparts = partition + 1;
}

struct batch_msg *batch_add(struct batch *b, int32_t partition, int64_t offset, const void *payload,
			    size_t len, void *opaque)
{
	struct batch_msg *m = &b->msgs[b->n];

	m->partition = partition;
	m->offset = offset;
	m->payload = payload;
	m->len = len;
	m->opaque = opaque;
	m->key = NULL;
	m->key_len = 0;
	m->kafka_ts = -1;
	m->reject = NULL;
	m->reason = b->reasons + b->n * BATCH_REASON_LEN;
	if (event_decode(&b->dec, payload, len, &m->ev, m->reason, BATCH_REASON_LEN) != 0)
		m->reject = m->reason;
	parts_grow(b, partition);
	b->n++;
	return m;
}

void batch_clear(struct batch *b)
{
	b->n = 0;
	b->nlive = 0;
}

/* Runs the hook in two halves, so that the mid-batch crash point falls between. The
 * hook runs even when nothing in the batch is live (all replays or all undecodable): a
 * batch is applied at its time whatever it holds, so active's index floor and pruning
 * move with every batch, not only with those that carry a new event. */
static int apply_halves(struct batch *b, struct store_txn *t, batch_apply_fn apply, void *ctx, int64_t now,
			char *err, size_t errlen)
{
	size_t half = b->nlive / 2;
	int rc;

	if (!apply)
		return 0;
	rc = apply(ctx, t, b->live, half, now, err, errlen);
	if (rc == 0) {
		crash_point("mid-batch");
		rc = apply(ctx, t, b->live + half, b->nlive - half, now, err, errlen);
	}
	return rc;
}

/* Records (with a txn) the messages the hook rejected, and drops them from live[]. */
static int take_hook_rejects(struct batch *b, struct store_txn *t, char *err, size_t errlen)
{
	size_t i, kept = 0;
	int rc;

	for (i = 0; i < b->nlive; i++) {
		struct batch_msg *m = &b->live[i];

		if (!m->reject) {
			b->ignored += (uint64_t)m->ignored;
			b->parts[m->partition].applied++;
			if (kept != i) /* nothing moves until a reject leaves a hole */
				b->live[kept] = *m;
			kept++;
			continue;
		}
		if (t && (rc = store_reject_put(t, m->partition, m->offset, m->reject, m->payload, m->len, err,
						errlen)) != 0)
			return rc;
		b->rejected++;
		b->parts[m->partition].rejected++;
	}
	b->nlive = kept;
	return 0;
}

/* Sorts the batch into live[] and the decoder's rejects; with t, skips what the stored
 * offsets say was applied and records the rejects. */
static int filter(struct batch *b, struct store_txn *t, char *err, size_t errlen)
{
	size_t i;
	int p, rc;

	b->nlive = 0;
	b->skipped = b->rejected = b->ignored = 0;
	for (p = 0; p < b->nparts; p++) {
		b->parts[p].touched = 0;
		b->parts[p].last = NULL;
		b->parts[p].applied = b->parts[p].rejected = b->parts[p].skipped = 0;
	}
	for (i = 0; i < b->n; i++) {
		struct batch_msg *m = &b->msgs[i];
		struct batch_part *bp = &b->parts[m->partition];

		if (!bp->touched) {
			bp->pos.next = -1;
			if (t) {
				rc = store_position_get(t, m->partition, &bp->pos, err, errlen);
				if (rc == STORE_NOTFOUND)
					bp->pos.next = -1;
				else if (rc != 0)
					return rc;
			}
			bp->touched = 1;
		}
		if (m->offset < bp->pos.next) {
			b->skipped++;
			bp->skipped++;
			continue;
		}
		bp->pos.next = m->offset + 1;
		bp->last = m;
		if (m->reject) {
			if (t && (rc = store_reject_put(t, m->partition, m->offset, m->reject, m->payload, m->len,
							err, errlen)) != 0)
				return rc;
			b->rejected++;
			bp->rejected++;
			continue;
		}
		b->live[b->nlive] = *m;
		b->live[b->nlive++].ignored = 0;
	}
	/* Only the last message of a partition needs its fingerprint. */
	for (p = 0; p < b->nparts; p++) {
		struct batch_part *bp = &b->parts[p];
		if (bp->touched && bp->last) {
			bp->pos.last_ts = bp->last->kafka_ts;
			bp->pos.last_hash = fingerprint64(bp->last->key, bp->last->key_len, bp->last->payload,
							  bp->last->len);
		}
	}
	return 0;
}

/* One attempt at the batch's txn. Returns 0, STORE_FULL or -1. */
static int commit_once(struct batch *b, struct store *s, batch_apply_fn apply, void *ctx, int64_t now,
		       char *err, size_t errlen)
{
	struct store_txn *t;
	int p, rc;

	if ((rc = store_txn_begin(s, 1, &t, err, errlen)) != 0)
		return rc;
	b->upkeep_ended = 0;
	if ((rc = filter(b, t, err, errlen)) != 0 ||
	    (rc = apply_halves(b, t, apply, ctx, now, err, errlen)) != 0 ||
	    (b->upkeep && (rc = b->upkeep(ctx, t, b->nlive, err, errlen)) < 0))
		goto txn_abort;
	b->upkeep_ended = rc == 1;
	if ((rc = take_hook_rejects(b, t, err, errlen)) != 0)
		goto txn_abort;
	for (p = 0; p < b->nparts; p++) {
		if (b->parts[p].touched && b->parts[p].pos.next >= 0 &&
		    (rc = store_position_put(t, p, &b->parts[p].pos, err, errlen)) != 0)
			goto txn_abort;
	}
	crash_point("before-commit");
	if (crash_fail("before-commit")) {
		rc = set_err(-1, err, errlen, "the commit failed on purpose (PINGPONG_CRASH)");
		goto txn_abort;
	}
	return store_txn_commit(t, err, errlen);

txn_abort:
	store_txn_abort(t);
	return rc;
}

/* batch_commit() without a store: no txn, nothing skipped. */
static int commit_unstored(struct batch *b, batch_apply_fn apply, void *ctx, int64_t now, char *err,
			   size_t errlen)
{
	if (filter(b, NULL, err, errlen) != 0 || apply_halves(b, NULL, apply, ctx, now, err, errlen) != 0)
		return -1;
	return take_hook_rejects(b, NULL, err, errlen) == 0 ? 0 : -1;
}

int batch_commit(struct batch *b, struct store *s, batch_apply_fn apply, void *ctx, int64_t now, char *err,
		 size_t errlen)
{
	int64_t t0 = clock_mono_ns();
	int rc;

	b->grows = 0;
	if (!s) {
		rc = commit_unstored(b, apply, ctx, now, err, errlen);
		b->commit_ns = clock_mono_ns() - t0;
		return rc;
	}
	while ((rc = commit_once(b, s, apply, ctx, now, err, errlen)) == STORE_FULL) {
		/* Nothing was committed: grow the map and redo the whole batch. */
		if (store_grow(s, err, errlen) != 0)
			return -1;
		b->grows++;
	}
	if (rc != 0) {
		b->nlive = 0;
		return -1;
	}
	b->commit_ns = clock_mono_ns() - t0;
	crash_point("after-commit");
	return 0;
}

int batch_record_gap(struct store *s, int32_t partition, int64_t from, int64_t to, char *err,
		     size_t errlen)
{
	struct store_txn *t;
	int rc;

	for (;;) {
		if ((rc = store_txn_begin(s, 1, &t, err, errlen)) != 0)
			return -1;
		if ((rc = store_gap_put(t, partition, from, to, err, errlen)) != 0 ||
		    (rc = store_offset_put(t, partition, to, err, errlen)) != 0) {
			store_txn_abort(t);
		} else {
			rc = store_txn_commit(t, err, errlen);
		}
		if (rc != STORE_FULL)
			return rc == 0 ? 0 : -1;
		if (store_grow(s, err, errlen) != 0)
			return -1;
	}
}
