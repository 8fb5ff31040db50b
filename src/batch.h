/* batch.h: a batch of messages applied to a store in one write transaction.
 *
 * This is pingpong's guarantee in one place, on plain messages (partition, offset,
 * payload) and without Kafka: the engine feeds it what it polls, the store benchmark
 * and the model test (tests/check_model.c) feed it what they generate.
 */
#ifndef PP_BATCH_H
#define PP_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "store.h"

#define BATCH_REASON_LEN 160

/* One message of a batch. The event's strings point into the payload, which the caller
 * owns and keeps valid until batch_clear(). */
struct batch_msg {
	int32_t partition;
	int64_t offset;
	const void *payload;
	size_t len;
	void *opaque;       /* the caller's (the engine keeps its rd_kafka_message_t here) */
	const void *key;    /* the message's key and Kafka timestamp, for the position's */
	size_t key_len;     /* fingerprint: set them after batch_add (NULL and -1 there) */
	int64_t kafka_ts;
	const char *reject; /* why it is rejected, or NULL; points at reason or a constant */
	char ignored;       /* set by a hook for an event it applied as nothing (counted) */
	char *reason;       /* BATCH_REASON_LEN bytes where the decoder or a hook says why */
	struct event ev;    /* decoded; meaningful only while reject is NULL */
};

/* A command's apply hook: applies msgs[0..n) (none rejected, none applied before) inside
 * the batch's txn, as of the batch's wall-clock time now; t is NULL for a consumer
 * without a store. To reject an event it writes why into its reason buffer and sets
 * reject = reason: batch_commit records it in the same txn. An event it applies as
 * nothing (too old to keep, say) it marks ignored, for the count. It may run more than
 * once per batch: in two halves (so that the mid-batch crash point falls between them),
 * and again from the start after STORE_FULL, always with the same now, so it must keep
 * no state across calls that the store does not hold. Returns 0, STORE_FULL or -1 with
 * the reason in err. */
typedef int (*batch_apply_fn)(void *ctx, struct store_txn *t, struct batch_msg *msgs, size_t n,
			      int64_t now, char *err, size_t errlen);

/* Work a consumer does only when it has time to spare, such as compacting active's index
 * (engine.h, upkeep): runs in the batch's txn, after the apply hook's last call, with the
 * number of messages applied. Returns 0, 1 when it came to the end of its work (for
 * active, of a pass over the index: batch.upkeep_ended), STORE_FULL or -1 with the
 * reason in err. */
typedef int (*batch_upkeep_fn)(void *ctx, struct store_txn *t, size_t nlive, char *err, size_t errlen);

/* Per partition of the last batch_commit(): touched, and if so its position. */
struct batch_part {
	struct store_position pos; /* next -1: unknown (no stored offset, nothing applied) */
	const struct batch_msg *last; /* the message that moved next last, if any */
	char touched;
	uint64_t applied, rejected, skipped; /* this partition's share of the counts below */
};

struct batch {
	struct batch_msg *msgs; /* cap slots, n used */
	size_t n, cap;
	struct batch_msg *live; /* after batch_commit: copies of the messages applied */
	/* Set by the caller before batch_commit() (given its ctx), or NULL: kept until changed. */
	batch_upkeep_fn upkeep;
	size_t nlive;
	char *reasons;          /* BATCH_REASON_LEN per slot */
	struct event_decoder dec;
	struct batch_part *parts;
	int nparts;
	/* What the last batch_commit() did. */
	uint64_t skipped;       /* below the stored next offset: applied before */
	uint64_t rejected;      /* undecodable, or rejected by the hook */
	uint64_t ignored;       /* applied as nothing by the hook (in live[] all the same) */
	uint64_t grows;         /* times the map was grown and the txn redone */
	char upkeep_ended;      /* the upkeep hook returned 1 */
	int64_t commit_ns;      /* how long batch_commit() took: apply, txn commit (and fsync) */
};

/* Pair init with release. cap is the most messages a batch holds (> 0). */
void batch_init(struct batch *b, size_t cap);
void batch_release(struct batch *b);

/* Appends a message (the batch must not be full) and decodes its payload, which must
 * stay valid until batch_clear(). Returns its slot. */
struct batch_msg *batch_add(struct batch *b, int32_t partition, int64_t offset, const void *payload,
			    size_t len, void *opaque);

static inline int batch_full(const struct batch *b)
{
	return b->n >= b->cap;
}

/* Applies the batch to store s in ONE write txn, which holds all of this or none of it:
 *  - a message below its partition's stored next offset is skipped (applied before:
 *    a replay, or another member sharing the store got there first);
 *  - an undecodable message, or one the hook rejects, is recorded in rejects;
 *  - the rest go to apply(), in batch order;
 *  - every partition's next offset becomes its last message's offset + 1, stored with
 *    that message's fingerprint (Kafka timestamp, fingerprint64 of key and payload).
 * now is the batch's wall-clock time, which the hook gets on every call.
 * On STORE_FULL the txn is aborted, the map grown and the whole batch redone. With s NULL
 * there is no txn and nothing is skipped; rejected messages keep their reason for the
 * caller to report. Afterwards live[0..nlive) are the messages applied, parts[] the
 * offsets and each partition's counts, and commit_ns the time it all took. b->upkeep,
 * when set, runs in the txn after the hook. Returns 0, or -1 with the reason in err: then
 * nothing was committed. */
int batch_commit(struct batch *b, struct store *s, batch_apply_fn apply, void *ctx, int64_t now, char *err,
		 size_t errlen);

/* Empties the batch; the caller may then release the payloads. */
void batch_clear(struct batch *b);

/* Records that offsets [from, to) of a partition will never be processed, and moves its
 * next offset to `to`, in one txn of their own (--on-gap skip). Returns 0 or -1. */
int batch_record_gap(struct store *s, int32_t partition, int64_t from, int64_t to, char *err,
		     size_t errlen);

#endif
