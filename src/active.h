/* active.h: the active-users report, shared by `active`, `query active` and `notify`. */
#ifndef PP_ACTIVE_H
#define PP_ACTIVE_H

#include <stdint.h>
#include <stdio.h>

#include "batch.h"
#include "store.h"

/* How `pingpong active` applies a batch: its settings and a reusable scratch array. */
struct active_apply {
	int64_t max_skew_ms;     /* reject events stamped further in the future */
	int64_t retain_ms;       /* the time index keeps this much */
	int64_t retain_users_ms; /* forget users not seen for this long; 0 keeps them. When
				  * set, retain_ms must equal it: one floor serves both */
	size_t upkeep_chunk;     /* active_upkeep()'s least step; 0: UPKEEP_CHUNK */
	struct active_fold *fold, *spare; /* active_apply()'s sort, and its other half */
	struct store_touch *touches;      /* active_apply()'s, one per user */
	size_t cap;
};

/* Applies a batch of events to the store inside txn, as of wall-clock time now (a
 * batch_apply_fn's work; pingpong-store(1) states the rules): the index floor moves up to
 * now - retain_ms; events too far in the future are marked rejected (batch_commit
 * records them); with retain_users_ms, events older than the floor are marked ignored; the
 * events of one user are folded into one touch, all of them applied by one
 * store_users_touch(); the time index is pruned by
 * a bounded chunk. Returns 0, STORE_FULL or -1 with the reason. */
int active_apply(struct active_apply *a, struct store_txn *t, struct batch_msg *msgs, size_t n,
		 int64_t now, char *err, size_t errlen);
void active_apply_release(struct active_apply *a);

/* The order in which active_apply() folds and touches the users of msgs[0..n): order[k]
 * is the index in msgs of the k-th event by its user's LMDB key (partition, then name;
 * store.h). For tests/check_model.c, which compares it with a sort of its own. */
void active_fold_order(struct active_apply *a, const struct batch_msg *msgs, size_t n, uint32_t *order);

/* Compacts the time index by a bounded step (store_index_compact() from the floor, at
 * most max(upkeep_chunk, 4 x nlive) entries examined), in the txn of a batch of nlive
 * events: what `pingpong active` does while caught up, so that a window's report reads
 * about one entry per user. Returns 0, 1 when the step reached the index's end (a pass
 * is over: batch_upkeep_fn), STORE_FULL or -1 with the reason. */
int active_upkeep(const struct active_apply *a, struct store_txn *t, size_t nlive, char *err, size_t errlen);

/* Records the time index's retention in the store's meta, in a txn of its own, so that
 * `store check` judges the index by it. */
int active_record_retention(struct store *s, int64_t retain_ms, char *err, size_t errlen);

/* The users whose last_seen in some partition the store holds is in (at - window, at],
 * each once with the latest such time, oldest first (then by name). Names are copied
 * into one reused buffer, so a set can outlive its txn; pair init with release. */
struct active_set {
	char *names;      /* NUL-separated */
	size_t len, cap;
	size_t *offs;     /* start of each name in names */
	int64_t *ts;
	int32_t *part;    /* each entry's partition, while collecting */
	size_t n, ncap;
	int32_t partition; /* of the first record found */
	int partitions;    /* 1: every record found is of that partition */
	size_t *slots, nslots; /* resolve_users()'s hash sets */
};

void active_set_init(struct active_set *a);
void active_set_release(struct active_set *a);

/* Fills a (emptied first) from the store. Returns 0 or -1 with the reason. */
int active_collect(struct store_txn *t, int64_t at, int64_t window, struct active_set *a, char *err,
		   size_t errlen);

/* How far behind the consumer that prints a report is (cmd-active.c). */
struct active_lag {
	int caught_up; /* within one batch of the log end */
	int64_t lag;   /* events behind; -1: not known yet */
};

/* Prints the original report ("Active Users: a, b" or "No Active Users...", the names
 * escaped by fput_escaped) or, with json, one object {"at":..,"window_ms":..,"count":..,"users":[{"user":..,"last_seen":..}]},
 * and flushes out. With lag (a consumer's report; NULL for a query), a report printed
 * while catching up says so: "Active Users (catching up, 12,345 events behind): a, b",
 * and the object gets "caught_up" and "lag" (null while unknown). Returns 0, or -1 if
 * out could not take it. */
int active_print(const struct active_set *a, int64_t at, int64_t window, const struct active_lag *lag, int json,
		 FILE *out);

/* Prints one notification of notify's outbox (notify itself, and query outbox):
 * "-> recipient: text", escaped by fput_escaped, or with json one object
 * {"partition":..,"offset":..,"recipient":..,"text":..}. out's errors stay in out. */
void notification_print(int32_t partition, int64_t offset, const char *recipient, size_t rlen, const char *text,
			size_t tlen, int json, FILE *out);

#endif
