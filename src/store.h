/* store.h: the LMDB store where a consumer keeps its state and its offsets together. */
#ifndef PP_STORE_H
#define PP_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Return codes besides 0 and -1 (an error, with its reason in err). */
#define STORE_NOTFOUND 1   /* no such record */
#define STORE_FULL (-2)    /* MDB_MAP_FULL: abort the txn, store_grow(), redo the batch */

/* 2: users records carry email_ts; meta holds index_floor; offsets carry a fingerprint.
 * 3: gaps records carry when, what (a skipped gap or a reset) and who.
 * 4: a users record per (source partition, user), by_time keys carry the partition,
 *    and the pending and changelog databases. A store of schema 2 or 3 without users
 *    (notify's, messages', or an active store never fed) is read as it is, and a writer
 *    marks it 4; one with users cannot tell their partitions and is refused.
 * 5: by_time is append-only: a touch adds an entry at the new last_seen and leaves the
 *    old one (stale) for pruning. Every entry at or above the floor belongs to a record
 *    whose last_seen is at or after it, so a record's last_seen is its latest entry.
 *    A store of schema 4 (an exact index: no stale entry) is read as it is, and a
 *    writer marks it 5; so are the stores schema 4 read.
 * 6: by_time in segments: the entries one write adds in one second of event time are one
 *    LMDB value (store.c, seg_write), a batch's one put. A writer rebuilds the index of a
 *    store of schema 4 or 5 from its records and marks it 6; a reader refuses one whose
 *    index is not empty until then. */
#define STORE_SCHEMA_VERSION "6"

#define STORE_USER_KEY_MAX 255 /* a user name's bytes (EVENT_USER_MAX) */
#define STORE_EMAIL_MAX 255

struct store;     /* one LMDB environment (a directory) and its named databases */
struct store_txn; /* one LMDB transaction over them */
struct MDB_val;

/* The users and by_time trees' comparator: LMDB's default order (the bytes, then a
 * prefix first), only faster. Exposed for tests/check_store.c, which holds it to that. */
int store_key_cmp(const struct MDB_val *a, const struct MDB_val *b);

struct store_options {
	int read_only;     /* MDB_RDONLY: for queries; never blocks a writer */
	int no_sync;       /* MDB_NOSYNC: see pingpong-store(1) for what it risks */
	uint64_t map_size; /* initial map size in bytes; 0 for the default (64 MiB) */
	const char *kind;  /* the consumer that makes the store ("active", "notify", ...): a
			    * new store records it, an existing one must match; NULL: any */
	int exclusive;     /* a writer that shares the store with no other (store reset): see
			    * store_open */
	int changelog;     /* a writer that produces a changelog: from now on, every change
			    * of a users record is listed in pending (store_pending_each), by
			    * this and every later writer of the store */
};

/* Opens (creating it 0700 unless read-only) the store in dir. Caller closes. Refused,
 * with the reason and the fix: a directory that is a symbolic link or can be written by
 * group or others; for a writer, one that belongs to another user, or files that do; an
 * LMDB environment another program made; a store of another schema or kind; a store
 * whose lock file was replaced under a live writer; a truncated file; a disk that cannot
 * hold the map. From then on, a fault while a txn is open (a damaged store) ends the
 * process with a message and exit status 74 instead of a signal. */
int store_open(struct store **out, const char *dir, const struct store_options *opts, char *err,
	       size_t errlen);
void store_close(struct store *s);

/* Writers and the exclusive writer. A process that has a store open for writing holds a
 * shared lock on it until it closes it or ends, however it ends; an exclusive writer
 * holds that lock alone. So store_open refuses a writer while an exclusive one has the
 * store, and an exclusive writer while any other writer has it, naming the process:
 *   store '/var/lib/pp' is open for writing by process 4242 (pingpong active --store
 *   /var/lib/pp): stop it first
 * Readers (read-only opens) take no lock and are never refused. */

/* Whether a process other than this one has the store in dir open for writing, without
 * opening the store: 1 with its pid in *pid (one of them, when members of a group share
 * the store), 0 when none does (or there is no store), -1 with the reason. */
int store_writer_pid(const char *dir, long *pid, char *err, size_t errlen);

/* Whether this writer writes through LMDB's map (MDB_WRITEMAP): a --no-sync writer does,
 * a syncing one does not, and a writer joining others takes their way (store.c,
 * choose_way()). 0 for a reader. */
int store_writes_through_map(const struct store *s);
const char *store_dir(const struct store *s);
uint64_t store_map_size(const struct store *s);

/* Ties the store to one topic and consumer group: a new store records them, an existing
 * one must match, or this fails naming what differs. */
int store_bind(struct store *s, const char *topic, const char *group, char *err, size_t errlen);

/* Doubles the map after STORE_FULL. No transaction of this process may be open. */
int store_grow(struct store *s, char *err, size_t errlen);
/* Grows the map (as store_grow does) until it has room for about `bytes` more: before
 * a large write, so that it need not be redone after STORE_FULL. */
int store_reserve(struct store *s, uint64_t bytes, char *err, size_t errlen);

/* Transactions. A write txn serialises with every other writer of the same store, in this
 * process or another. Commit and abort free the txn. Commit may return STORE_FULL. */
int store_txn_begin(struct store *s, int write, struct store_txn **out, char *err, size_t errlen);
int store_txn_commit(struct store_txn *t, char *err, size_t errlen);
void store_txn_abort(struct store_txn *t);

/* meta: small string settings (schema, topic, group, retain_ms). */
int store_meta_get(struct store_txn *t, const char *key, char *buf, size_t len);
int store_meta_put(struct store_txn *t, const char *key, const char *value, char *err, size_t errlen);

/* offsets: partition of the bound topic -> the next offset to read, and the fingerprint
 * of the message just before it (the last one applied), which tells the broker's log
 * apart from another one that merely has as many messages. */
struct store_position {
	int64_t next;
	int64_t last_ts;    /* its Kafka timestamp; -1: unknown */
	uint64_t last_hash; /* fingerprint64() of its key and payload; 0: unknown */
};
int store_position_get(struct store_txn *t, int32_t partition, struct store_position *pos, char *err,
		       size_t errlen);
int store_position_put(struct store_txn *t, int32_t partition, const struct store_position *pos, char *err,
		       size_t errlen);
/* The same, without the fingerprint (put records it as unknown). */
int store_offset_get(struct store_txn *t, int32_t partition, int64_t *next, char *err, size_t errlen);
int store_offset_put(struct store_txn *t, int32_t partition, int64_t next, char *err, size_t errlen);
typedef int (*store_offset_fn)(void *arg, int32_t partition, int64_t next);
int store_offsets_each(struct store_txn *t, store_offset_fn fn, void *arg, char *err, size_t errlen);
/* Every partition's next offset at once: next[p] for p in [0, *n), -1 where a partition
 * has none; *n is one more than the highest partition stored (0: none). Caller frees
 * *next. */
int store_offsets_load(struct store_txn *t, int64_t **next, int32_t *n, char *err, size_t errlen);

/* users: (source partition, user) -> last_seen, events applied, email: what the events
 * of one partition add up to for a user. A user's state is the merge of its records:
 * the latest last_seen, the summed count, the email of the greatest (email_ts, bytes).
 * The email points into the map and is valid until the next write or the end of the
 * txn. */
struct store_user {
	int64_t last_seen;
	uint64_t count;
	int64_t email_ts; /* the event time the email came with */
	const char *email; /* NULL: none */
	size_t email_len;
};
/* A user's merged state, over the partitions the store holds. */
int store_user_get(struct store_txn *t, const char *user, size_t len, struct store_user *u, char *err,
		   size_t errlen);
/* One partition's record of a user. */
int store_record_get(struct store_txn *t, int32_t partition, const char *user, size_t len, struct store_user *u,
		     char *err, size_t errlen);

/* What a batch's events of one user add up to. */
struct store_touch {
	int32_t partition; /* the source partition of the events */
	const char *user;
	size_t len;
	int64_t ts;        /* the latest event time */
	uint64_t events;   /* how many events */
	const char *email; /* of the event with the latest (ts, email) among those that carry
			    * one; NULL if none does */
	size_t email_len;
	int64_t email_ts;
};

/* Applies tc to its user's record of tc->partition: count + events, last_seen =
 * max(last_seen, ts), and the email replaced when (email_ts, email) is later than the
 * stored one's, so that the result does not depend on the order of events. When
 * last_seen changes, a by_time entry is added at the new one, unless it is older than
 * index_floor (it would be pruned at once); the entry at the old one stays, stale, until
 * compaction or pruning reaches it (schema 5: no delete per touch). A stored record
 * whose last_seen is older than forget_below counts as absent (--retain-users;
 * INT64_MIN keeps every user). With a changelog, the record is listed in pending. */
int store_user_touch(struct store_txn *t, const struct store_touch *tc, int64_t index_floor,
		     int64_t forget_below, char *err, size_t errlen);

/* store_user_touch() of tcs[0..n) in turn, to the same result, but with the by_time
 * entries added after all the records, in time order, one segment per second they fall
 * in (schema 6): a batch's index is one put per second, appended at the index's end for
 * fresh events. Records go fastest in their keys' order (active.c folds a user's events
 * into one touch, in that order). */
int store_users_touch(struct store_txn *t, const struct store_touch *tcs, size_t n, int64_t index_floor,
		      int64_t forget_below, char *err, size_t errlen);

/* The index floor: no by_time entry older than it need exist, every user seen at it
 * or later has one, and every entry at it or later is at or before its record's
 * last_seen. It only moves forward, and lives in meta so that `store check` judges
 * the index by what the consumer did, not by the clock. raise sets *floor to
 * max(stored, candidate) and stores it; get gives INT64_MIN when none was stored. */
int store_index_floor_raise(struct store_txn *t, int64_t candidate, int64_t *floor, char *err,
			    size_t errlen);
int store_index_floor_get(struct store_txn *t, int64_t *floor, char *err, size_t errlen);

/* Every user once, merged over its partitions (store_user_get), in the byte order of
 * the names; fn returns non-zero to stop. */
typedef int (*store_user_fn)(void *arg, const char *user, size_t len, const struct store_user *u);
int store_users_each(struct store_txn *t, store_user_fn fn, void *arg, char *err, size_t errlen);
/* Every record as stored: by partition, then name. */
typedef int (*store_record_fn)(void *arg, int32_t partition, const char *user, size_t len,
			       const struct store_user *u);
int store_records_each(struct store_txn *t, store_record_fn fn, void *arg, char *err, size_t errlen);

/* Replaces the record of (partition, user) with u, moving its by_time entry (written only
 * at index_floor or later, in a segment of its own; none when last_seen is unchanged), or
 * with u NULL deletes it with its entry. A record that goes back in time (or away) also
 * loses its stale entries from the floor on (a scan of the index from there: rare, and
 * only then). For a restore from the changelog: nothing is added to pending. */
int store_record_put(struct store_txn *t, int32_t partition, const char *user, size_t len,
		     const struct store_user *u, int64_t index_floor, char *err, size_t errlen);

/* Drops everything the store holds of one source partition: its users records and their
 * by_time entries (those at or above the floor: one scan of the index from there; older
 * ones are pruning's), its position, its rejects, its pending list and its changelog
 * position. Its gaps records stay: they are history. */
int store_partition_drop(struct store_txn *t, int32_t partition, char *err, size_t errlen);

/* by_time: calls fn for each entry in (from, to], by the second (within a second, in
 * the order they were written); fn returns non-zero to stop. The raw index: a record may
 * come more than once, at stale times too, and always in its own time order, so that its
 * last entry (at or above the floor) is its last_seen, which is what active_collect()
 * reads. */
typedef int (*store_index_fn)(void *arg, int32_t partition, const char *user, size_t len, int64_t ts);
int store_index_range(struct store_txn *t, int64_t from, int64_t to, store_index_fn fn, void *arg,
		      char *err, size_t errlen);

/* Deletes the by_time segments of the seconds that end at or before index_before, oldest
 * first (stale entries with the rest), until max entries or more are gone, and with
 * users_before > INT64_MIN also the record of each deleted entry that is its last_seen,
 * when older than that (listed in pending, with a changelog). Whole segments: an entry
 * older than index_before in the second it falls in waits for that second to pass.
 * Users are found through the index only: one whose entry is already gone (pruned
 * earlier, or never written for being older than index_floor) is kept. Bounded, so that
 * it can run inside every batch txn. *pruned gets the number of entries removed. */
int store_prune(struct store_txn *t, int64_t index_before, int64_t users_before, size_t max,
		size_t *pruned, char *err, size_t errlen);

/* Deletes stale by_time entries, those older than their record's last_seen, so that a
 * window holds about one entry per user again (the index is append-only: each touch that
 * moves last_seen leaves one behind). It walks the segments in key order, from where the
 * last call stopped (meta, in the same txn) or from the second of `from` (the floor) if
 * that is later, examines whole segments until max entries or more, and writes each that
 * held a stale entry again without it (or deletes it); at the index's end the next call
 * starts again from `from`. Only an entry at or after `from` is ever looked at, and
 * a record's latest entry is never stale, so every invariant of the index holds. For a
 * consumer that has time to spare: active runs it while caught up (engine.h, upkeep).
 * *ended is 1 when this call reached the index's end (a pass is over), else 0. */
int store_index_compact(struct store_txn *t, int64_t from, size_t max, size_t *examined, size_t *deleted,
			int *ended, char *err, size_t errlen);
/* Where the next store_index_compact() goes on: calls fn once with that segment's key
 * (its second, and its number among the store's segment writes) and returns 1, or
 * returns 0 when it starts from `from` (or -1 with the reason). */
typedef void (*store_segment_fn)(void *arg, int64_t second, uint64_t write);
int store_index_compact_at(struct store_txn *t, store_segment_fn fn, void *arg, char *err, size_t errlen);

/* rejects: (partition, offset) -> reason and the payload's first bytes. */
#define STORE_REJECT_PAYLOAD_MAX 64
int store_reject_put(struct store_txn *t, int32_t partition, int64_t offset, const char *reason,
		     const void *payload, size_t len, char *err, size_t errlen);
typedef int (*store_reject_fn)(void *arg, int32_t partition, int64_t offset, const char *reason,
			       const void *payload, size_t len);
int store_rejects_each(struct store_txn *t, store_reject_fn fn, void *arg, char *err, size_t errlen);

/* gaps: where a partition's position moved other than by reading, so that what was
 * applied and what was not can always be told, with when and who:
 *  - skipped: offsets [from, to) that were never processed (--on-gap skip; from > to
 *    when the broker lost its log and the consumer went on from its new start);
 *  - reset: `pingpong store reset` moved the position from `from` (-1: it had none) to
 *    `to`: backwards, events [to, from) are applied again; forwards, [from, to) are
 *    never processed. */
enum store_gap_kind { STORE_GAP_SKIPPED = 0, STORE_GAP_RESET = 1 };
struct store_gap {
	int32_t partition;
	int64_t from, to;
	int kind;           /* enum store_gap_kind */
	int64_t at_ms;      /* when, in ms since the epoch; -1: unknown (a record of schema 2) */
	const char *who;    /* the process: "user@host pid N: its command line"; points into
			     * the map, valid until the txn ends; who_len 0: unknown */
	size_t who_len;
};
#define STORE_GAP_WHO_MAX 255

/* Records a skipped gap, now, by this process. */
int store_gap_put(struct store_txn *t, int32_t partition, int64_t from, int64_t to, char *err,
		  size_t errlen);
/* Records a reset of partition's position from `from` (-1: none) to `to`, now, by this
 * process. It does not move the position: store_offset_put() does, in the same txn. */
int store_reset_put(struct store_txn *t, int32_t partition, int64_t from, int64_t to, char *err,
		    size_t errlen);
/* Every record, skipped gaps and resets alike, by partition, then from, then time. */
typedef int (*store_gap_fn)(void *arg, int32_t partition, int64_t from, int64_t to);
int store_gaps_each(struct store_txn *t, store_gap_fn fn, void *arg, char *err, size_t errlen);
typedef int (*store_gap_record_fn)(void *arg, const struct store_gap *g);
int store_gap_records_each(struct store_txn *t, store_gap_record_fn fn, void *arg, char *err, size_t errlen);

/* outbox: (partition, offset, recipient) -> notification text, for `pingpong notify`. */
int store_outbox_put(struct store_txn *t, int32_t partition, int64_t offset, const char *recipient,
		     size_t rlen, const char *text, size_t tlen, char *err, size_t errlen);
typedef int (*store_outbox_fn)(void *arg, int32_t partition, int64_t offset, const char *recipient,
			       size_t rlen, const char *text, size_t tlen);
int store_outbox_each(struct store_txn *t, store_outbox_fn fn, void *arg, char *err, size_t errlen);
/* Only the notifications of the message at (partition, offset). */
int store_outbox_at(struct store_txn *t, int32_t partition, int64_t offset, store_outbox_fn fn, void *arg,
		    char *err, size_t errlen);

/* pending: (partition, user) -> the number of the write txn that last changed that record
 * (a count the store keeps, which grows with every write txn that lists a record), for a
 * store with a changelog (store_options.changelog). The changelog producer lists them in a
 * read txn, produces each record as it is then (or a tombstone for one that is gone), and
 * once that is delivered clears the entries up to the read txn's store_pending_upto(): a
 * record changed again since keeps its entry. Written in the batch's own txn, so a crash
 * between the commit and the produce loses nothing. */
typedef int (*store_pending_fn)(void *arg, int32_t partition, const char *user, size_t len, uint64_t write);
/* The entries of partition (-1: all), in key order; fn returns non-zero to stop. */
int store_pending_each(struct store_txn *t, int32_t partition, store_pending_fn fn, void *arg, char *err,
		       size_t errlen);
int store_pending_add(struct store_txn *t, int32_t partition, const char *user, size_t len, char *err,
		      size_t errlen);
/* Lists every record of partition (-1: all) in pending. */
int store_pending_add_all(struct store_txn *t, int32_t partition, char *err, size_t errlen);
/* Deletes partition's entries whose write is at most upto. */
int store_pending_clear(struct store_txn *t, int32_t partition, uint64_t upto, char *err, size_t errlen);
/* The last write that listed records in pending, as the txn sees it: no entry it sees has
 * a later one, and every write after it has. It survives a compacting copy (mdb_copy -c),
 * which starts LMDB's own txn ids again. */
int store_pending_upto(struct store_txn *t, uint64_t *upto, char *err, size_t errlen);
/* Whether the store lists changes for a changelog. */
int store_has_changelog(const struct store *s);

/* changelog: partition -> the changelog offset up to which the partition's records
 * reflect that partition of the changelog topic (the offset after its last marker read
 * or produced). */
int store_changelog_get(struct store_txn *t, int32_t partition, int64_t *next, char *err, size_t errlen);
int store_changelog_put(struct store_txn *t, int32_t partition, int64_t next, char *err, size_t errlen);

struct store_stat {
	uint64_t users;   /* distinct users, over all partitions */
	uint64_t records; /* users records: one per (partition, user) */
	uint64_t index;   /* by_time's entries */
	uint64_t segments; /* and the LMDB records that hold them (store.c, seg_write) */
	uint64_t offsets, rejects, gaps, outbox, pending;
	uint64_t map_size, used_bytes, page_size;
};
int store_stat(struct store_txn *t, struct store_stat *st, char *err, size_t errlen);

/* Verifies every invariant of the store, judging by_time by the stored index floor:
 *  - every key and record of every database has its layout; user names are valid UTF-8
 *    without NUL, emails too;
 *  - by_time at and above the floor: each entry belongs to a record whose last_seen is
 *    at or after it (after it: stale, left for pruning), and each record seen there has
 *    its entry at its last_seen; below the floor entries wait for pruning, and need only
 *    be well formed;
 *  - a record's count is > 0 and its email_ts <= last_seen; its partition has a stored
 *    position (records come with their offsets);
 *  - pending entries name a valid user and a write no later than meta pending_writes (in a
 *    store from before that count, the check's txn id);
 *  - offsets: one entry per partition, all of the bound topic, each >= 0;
 *  - every reject lies below its partition's stored offset.
 * Calls report for each violation. Returns the number of violations, or -1 on error. */
typedef void (*store_report_fn)(void *arg, const char *problem);
int store_check(struct store_txn *t, store_report_fn report, void *arg, char *err, size_t errlen);
/* store_check, calling progress(parg, done, total) every few thousand records read, for
 * a progress line: total is the number of records the check reads. */
typedef void (*store_progress_fn)(void *parg, uint64_t done, uint64_t total);
int store_check_progress(struct store_txn *t, store_report_fn report, void *arg, store_progress_fn progress,
			 void *parg, char *err, size_t errlen);
/* The same, with by_time judged by index_floor instead: for tests that know better. */
int store_check_at(struct store_txn *t, int64_t index_floor, store_report_fn report, void *arg, char *err,
		   size_t errlen);

#endif
