/* changelog.c: the active store's records in a changelog topic, and restoring them.
 *
 * Producing. Each batch's txn lists the records it changed in the store's pending
 * database (store.h). After the commit, a produce pass reads, in one read txn, the
 * pending records of the partitions this member owns and produces each, as it is then,
 * to the changelog partition of the same number, then a commit marker per partition
 * with the partition's stored position. Once all of it is delivered (an idempotent
 * producer: nothing twice, nothing out of order), one write txn clears the entries
 * listed up to the read txn's count of writes (one changed since has a later number)
 * and records the offset after the marker as the partition's changelog position. A
 * crash anywhere leaves the entries, which are produced again: harmless, since records
 * are states, not increments. One pass is in flight at a time; what changes meanwhile
 * waits for the next, and a record changed twice goes once.
 *
 * Reading. A record counts only once a marker follows it: records after a partition's
 * last marker are a pass cut short by a crash, and may reflect events beyond that
 * marker's offset. So records wait in memory for their marker, and are then applied (the
 * last one of a user wins) in the same write txn as the position the marker gives and
 * the changelog offset after it: every commit holds a consistent (state, position), from
 * which the source can resume. A restore that ends with records after the last marker
 * lists their users as pending, so that the owner produces their restored state (or a
 * tombstone) and a marker after them: a later reader never takes them for current.
 *
 * Restoring, on assignment: the partition's changelog position C (how far the store
 * reflects the changelog) against the changelog's end H:
 *   C == H  the store is current: nothing to read;
 *   C >  H  the changelog lost records (recreated?): the store is kept, and all its
 *           records of the partition are produced again;
 *   C <  H  another member produced since. Without pending changes the store reflects
 *           [0, C), and reads [C, H) (a standby reads only what came since its last
 *           poll). With pending changes, [C, H) is scanned first: records without a
 *           marker are a pass of ours cut short, and the store is kept (they are produced
 *           again); a marker is another owner's batch, so the partition's state is
 *           dropped and the changelog read from its start.
 *   no C    with a non-empty changelog: drop, and read from the start.
 * The source then resumes at the stored position, never at its beginning.
 *
 * Standby (--standby): the same reading, kept running for the partitions this member
 * does not own, in short txns from the engine's loop.
 *
 * Everything here runs in the engine's main thread; the engine's writer thread commits
 * batches meanwhile, which LMDB serialises with the txns here.
 */
#include "config.h"

#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "changelog.h"
#include "crash.h"
#include "metrics.h"
#include "util.h"

#define CL_VERSION 1
/* Records a reading txn holds before it commits. LMDB copies a page on its first write
 * in a txn, and records of random users dirty a page each: small txns write the tree
 * again and again. A million records took 6.4 s in txns of 10,000 (2 s of it in the
 * kernel), 3.1 s in txns of 100,000, 2.0 s in one (bench/README.md). A txn must stay
 * under LMDB's dirty-page limit (MDB_TXN_FULL at 131,072 pages, 512 MiB): 500,000
 * records of at most 600 bytes each. The engine's writer waits meanwhile. */
#define TXN_RECORDS 500000
#define RECORD_BYTES 512  /* what a record may take in the store, to reserve the map */
#define STANDBY_EVERY_MS 100  /* how often the standby reads */
#define STANDBY_BATCH 20000   /* messages a standby turn takes at most */
#define READ_BATCH 1000       /* messages taken from the reader's queue at once */
#define RETRY_MS 1000         /* after a failed produce pass */

enum part_mode {
	P_IDLE,     /* neither owned nor followed */
	P_OWNED,    /* the engine consumes its source: its changes are produced */
	P_RESTORE,  /* being read up to target, before the engine positions it */
	P_STANDBY,  /* followed (--standby) */
};

/* A record read, waiting for the marker that makes it count: spans of the arena. */
struct cl_rec {
	size_t key, klen, val, vlen;
	int tombstone;
};

struct cl_part {
	enum part_mode mode;
	int64_t lo, target;   /* P_RESTORE: the log's start, and its end when the read began */
	int64_t next;         /* the reader's next offset */
	int64_t resume;       /* the offset after the last marker committed: read again from
			       * there after an aborted txn */
	int64_t applied_next; /* the offset after the last marker applied */
	int done, scan, marker_seen;
	struct cl_rec *recs;  /* since the last marker */
	size_t nrecs, caprecs;
	unsigned char *arena;
	size_t alen, acap;
	uint64_t applied;     /* records applied by this restore, committed */
	uint64_t txn_applied; /* records applied in the open txn */
	int reading;          /* in the reader's assignment */
	int seek;             /* reading, but next moved: the reader must seek there */
	int64_t marker_next;  /* P_OWNED: the position in the last marker delivered; -1 */
	int64_t flight_next;  /* the position in the marker in flight */
	int64_t flight_off;   /* its offset once delivered; -1 until then */
	int in_flight;
};

struct changelog {
	struct changelog_config cfg;
	rd_kafka_t *producer, *reader;
	rd_kafka_queue_t *queue;  /* the reader's */
	struct cl_part *parts;
	int nparts;               /* the changelog's partitions */
	struct store_txn *txn;    /* the reading's write txn, while open */
	size_t txn_records;
	int64_t floor;            /* the index floor as the txn began */
	int flying;               /* a produce pass is in flight */
	size_t outstanding;       /* its messages not yet delivered */
	int failed;               /* one of them failed */
	uint64_t upto;            /* its read txn's store_pending_upto() */
	int dirty;                /* something to produce may be pending */
	int64_t retry_at, last_standby;
	int rewound;              /* set by txn_rewind: what was taken from the queue is stale */
	struct changelog_stats stats;
	struct metric *m_restored, *m_restore_seconds;  /* changelog_metrics(); NULL: none */
	struct metric_series *m_standby, *m_produced;
	char err[1024];
};

/* ---- the messages --------------------------------------------------------------- */

static void put64(unsigned char *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

size_t changelog_record_encode(unsigned char *buf, int64_t source_next, const struct store_user *u)
{
	uint16_t elen = htobe16((uint16_t)u->email_len);

	buf[0] = CL_VERSION;
	put64(buf + 1, (uint64_t)source_next);
	put64(buf + 9, (uint64_t)u->last_seen);
	put64(buf + 17, u->count);
	put64(buf + 25, (uint64_t)u->email_ts);
	memcpy(buf + 33, &elen, 2);
	if (u->email_len)
		memcpy(buf + CHANGELOG_RECORD_HEAD, u->email, u->email_len);
	return CHANGELOG_RECORD_HEAD + u->email_len;
}

int changelog_record_decode(const void *val, size_t len, int64_t *source_next, struct store_user *u)
{
	const unsigned char *b = val;
	uint16_t elen;

	if (!b || len < CHANGELOG_RECORD_HEAD || b[0] != CL_VERSION)
		return -1;
	memcpy(&elen, b + 33, 2);
	elen = be16toh(elen);
	if (len != CHANGELOG_RECORD_HEAD + (size_t)elen || elen > STORE_EMAIL_MAX)
		return -1;
	*source_next = (int64_t)get64(b + 1);
	u->last_seen = (int64_t)get64(b + 9);
	u->count = get64(b + 17);
	u->email_ts = (int64_t)get64(b + 25);
	u->email = elen ? (const char *)b + CHANGELOG_RECORD_HEAD : NULL;
	u->email_len = elen;
	if (u->count == 0 || *source_next < 0 ||
	    (u->email && (memchr(u->email, '\0', elen) || !utf8_valid(u->email, elen))))
		return -1;
	return 0;
}

size_t changelog_marker_encode(unsigned char *buf, const struct store_position *pos)
{
	buf[0] = CL_VERSION;
	put64(buf + 1, (uint64_t)pos->next);
	put64(buf + 9, (uint64_t)pos->last_ts);
	put64(buf + 17, pos->last_hash);
	return CHANGELOG_MARKER_SIZE;
}

int changelog_marker_decode(const void *val, size_t len, struct store_position *pos)
{
	const unsigned char *b = val;

	if (!b || len != CHANGELOG_MARKER_SIZE || b[0] != CL_VERSION)
		return -1;
	pos->next = (int64_t)get64(b + 1);
	pos->last_ts = (int64_t)get64(b + 9);
	pos->last_hash = get64(b + 17);
	return pos->next >= 0 ? 0 : -1;
}

int changelog_is_marker(const void *key, size_t len)
{
	return len == 1 && *(const char *)key == '\0';
}

/* A user name as the store takes it: 1 to 255 bytes of UTF-8, no NUL. */
static int user_valid(const void *key, size_t len)
{
	return key && len > 0 && len <= STORE_USER_KEY_MAX && !memchr(key, '\0', len) && utf8_valid(key, len);
}

/* ---- the records waiting for their marker ----------------------------------------- */

static size_t arena_put(struct cl_part *pt, const void *p, size_t n)
{
	size_t at = pt->alen;

	if (pt->alen + n > pt->acap) {
		pt->acap = (pt->alen + n) * 2 + 4096;
		pt->arena = xrealloc(pt->arena, pt->acap);
	}
	if (n)
		memcpy(pt->arena + at, p, n);
	pt->alen += n;
	return at;
}

static void rec_keep(struct cl_part *pt, const rd_kafka_message_t *m)
{
	struct cl_rec *r;

	if (pt->nrecs == pt->caprecs) {
		pt->caprecs = pt->caprecs ? pt->caprecs * 2 : 256;
		pt->recs = xrealloc(pt->recs, pt->caprecs * sizeof(*pt->recs));
	}
	r = &pt->recs[pt->nrecs++];
	r->klen = m->key_len;
	r->key = arena_put(pt, m->key, m->key_len);
	r->tombstone = m->payload == NULL;
	r->vlen = r->tombstone ? 0 : m->len;
	r->val = arena_put(pt, m->payload, r->vlen);
}

static void recs_clear(struct cl_part *pt)
{
	pt->nrecs = 0;
	pt->alen = 0;
}

static void part_reset(struct cl_part *pt)
{
	recs_clear(pt);
	pt->done = pt->scan = pt->marker_seen = 0;
	pt->applied = 0;
}

/* Reads the partition from offset on (the reader seeks there if it reads it already). */
static void part_start(struct cl_part *pt, int64_t offset)
{
	pt->next = pt->resume = pt->applied_next = offset;
	pt->seek = pt->reading;
}

/* ---- the reader's txn ------------------------------------------------------------- */

static int txn_open(struct changelog *cl)
{
	int rc;

	if (cl->txn)
		return 0;
	if ((rc = store_txn_begin(cl->cfg.store, 1, &cl->txn, cl->err, sizeof(cl->err))) != 0)
		return rc;
	cl->txn_records = 0;
	if ((rc = store_index_floor_get(cl->txn, &cl->floor, cl->err, sizeof(cl->err))) != 0) {
		store_txn_abort(cl->txn);
		cl->txn = NULL;
	}
	return rc;
}

static int reader_assign(struct changelog *cl);

/* After an aborted txn: what it held is read again, from each partition's last commit. */
static void txn_rewind(struct changelog *cl)
{
	int p;

	for (p = 0; p < cl->nparts; p++) {
		struct cl_part *pt = &cl->parts[p];
		if (pt->mode != P_RESTORE && pt->mode != P_STANDBY)
			continue;
		recs_clear(pt);
		part_start(pt, pt->resume);
		pt->done = 0;
		pt->txn_applied = 0;
	}
	cl->rewound = 1;
	log_verbose("store map grown to %" PRIu64 " MiB; the changelog's records since the last commit are "
		    "read again", store_map_size(cl->cfg.store) >> 20);
	reader_assign(cl);
}

/* Commits the reading's txn. A full map is grown and the txn's records read again.
 * Returns 0, or EX_IOERR after logging why. */
static int txn_finish(struct changelog *cl, int rc)
{
	int p;

	if (!cl->txn)
		return 0;
	if (rc == 0)
		rc = store_txn_commit(cl->txn, cl->err, sizeof(cl->err));
	else
		store_txn_abort(cl->txn);
	cl->txn = NULL;
	if (rc == STORE_FULL && store_grow(cl->cfg.store, cl->err, sizeof(cl->err)) == 0) {
		txn_rewind(cl);
		return 0;
	}
	if (rc != 0) {
		log_error("store '%s': %s; the changelog's records were not applied",
			  store_dir(cl->cfg.store), cl->err);
		return EX_IOERR;
	}
	for (p = 0; p < cl->nparts; p++) {
		struct cl_part *pt = &cl->parts[p];
		pt->resume = pt->applied_next;
		pt->applied += pt->txn_applied;
		if (pt->mode == P_STANDBY) {
			cl->stats.standby_records += pt->txn_applied;
			if (cl->m_standby)
				metric_add(cl->m_standby, (double)pt->txn_applied);
		}
		pt->txn_applied = 0;
	}
	return 0;
}

/* Applies the records of p waiting for the marker at offset, with its position. */
static int apply_group(struct changelog *cl, int32_t p, const struct store_position *pos, int64_t offset)
{
	struct cl_part *pt = &cl->parts[p];
	struct store_user u;
	int64_t src;
	size_t i;
	int rc;

	if ((rc = txn_open(cl)) != 0)
		return rc;
	for (i = 0; i < pt->nrecs; i++) {
		const struct cl_rec *r = &pt->recs[i];
		int gone = r->tombstone;

		/* Checked when read. Forgotten (--retain-users): as good as gone. */
		if (!gone && (changelog_record_decode(pt->arena + r->val, r->vlen, &src, &u) != 0 ||
			      (cl->cfg.retain_users && u.last_seen < cl->floor)))
			gone = 1;
		if ((rc = store_record_put(cl->txn, p, (const char *)pt->arena + r->key, r->klen, gone ? NULL : &u,
					   cl->floor, cl->err, sizeof(cl->err))) != 0)
			return rc;
	}
	if ((rc = store_position_put(cl->txn, p, pos, cl->err, sizeof(cl->err))) != 0 ||
	    (rc = store_changelog_put(cl->txn, p, offset + 1, cl->err, sizeof(cl->err))) != 0)
		return rc;
	cl->txn_records += pt->nrecs;
	pt->txn_applied += pt->nrecs;
	pt->applied_next = offset + 1;
	recs_clear(pt);
	return 0;
}

/* ---- the reader ------------------------------------------------------------------- */

/* Makes the reader's assignment what the partitions' modes say: a partition to read is
 * added at its next offset, one no longer to read removed, one whose next moved sought
 * there (librdkafka drops what it fetched before). Incremental, never the whole
 * assignment at once: librdkafka 2.0.2 can assert (rktp_started, in
 * rd_kafka_assignment_partition_stopped) when assignments that stop the same
 * partitions follow each other before the stops are done. */
static int reader_assign(struct changelog *cl)
{
	rd_kafka_topic_partition_list_t *add = rd_kafka_topic_partition_list_new(cl->nparts),
					*del = rd_kafka_topic_partition_list_new(cl->nparts),
					*seek = rd_kafka_topic_partition_list_new(cl->nparts);
	rd_kafka_error_t *error = NULL;
	int p;

	for (p = 0; p < cl->nparts; p++) {
		struct cl_part *pt = &cl->parts[p];
		int want = (pt->mode == P_RESTORE && !pt->done) || pt->mode == P_STANDBY;
		if (want && !pt->reading)
			rd_kafka_topic_partition_list_add(add, cl->cfg.topic, p)->offset = pt->next;
		else if (!want && pt->reading)
			rd_kafka_topic_partition_list_add(del, cl->cfg.topic, p);
		else if (want && pt->seek)
			rd_kafka_topic_partition_list_add(seek, cl->cfg.topic, p)->offset = pt->next;
		pt->reading = want;
		pt->seek = 0;
	}
	if (del->cnt)
		error = rd_kafka_incremental_unassign(cl->reader, del);
	if (!error && add->cnt)
		error = rd_kafka_incremental_assign(cl->reader, add);
	if (!error && seek->cnt)
		error = rd_kafka_seek_partitions(cl->reader, seek, (int)cl->cfg.timeout_ms);
	rd_kafka_topic_partition_list_destroy(add);
	rd_kafka_topic_partition_list_destroy(del);
	rd_kafka_topic_partition_list_destroy(seek);
	if (error) {
		log_error("changelog '%s': %s", cl->cfg.topic, rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		return EX_SOFTWARE;
	}
	return 0;
}

/* A message that is no message of ours: the topic is not a changelog of pingpong's. */
static int not_ours(struct changelog *cl, const rd_kafka_message_t *m, const char *what)
{
	log_error("changelog '%s'[%d] offset %" PRId64 ": %s: is the topic written by anything but "
		  "pingpong active --changelog?", cl->cfg.topic, (int)m->partition, m->offset, what);
	return EX_DATAERR;
}

/* Takes one message of a partition being read. Returns 0 or an exit code. */
static int take_message(struct changelog *cl, struct cl_part *pt, const rd_kafka_message_t *m)
{
	struct store_position pos;
	struct store_user u;
	int64_t src;
	int rc;

	pt->next = m->offset + 1;
	if (changelog_is_marker(m->key, m->key_len)) {
		if (changelog_marker_decode(m->payload, m->len, &pos) != 0)
			return not_ours(cl, m, "a malformed commit marker");
		pt->marker_seen = 1;
		if (pt->scan) {
			recs_clear(pt);
			return 0;
		}
		/* A failure aborts the txn: a full map is grown and the txn's records read again. */
		if ((rc = apply_group(cl, m->partition, &pos, m->offset)) != 0)
			return txn_finish(cl, rc);
		return 0;
	}
	if (!user_valid(m->key, m->key_len))
		return not_ours(cl, m, "a key that is no user name");
	if (m->payload && changelog_record_decode(m->payload, m->len, &src, &u) != 0)
		return not_ours(cl, m, "a malformed record");
	rec_keep(pt, m);
	return 0;
}

static int reader_take(struct changelog *cl, const rd_kafka_message_t *m);

/* Takes up to READ_BATCH messages of the reader, waiting at most timeout_ms for the
 * first: a batch costs the queue's lock once, where a poll per message costs it each
 * time (a restore takes a million). *n gets how many came. Returns 0 or an exit code. */
static int reader_batch(struct changelog *cl, int timeout_ms, ssize_t *n)
{
	rd_kafka_message_t *msgs[READ_BATCH];
	ssize_t i;
	int rc = 0;

	cl->rewound = 0;
	*n = rd_kafka_consume_batch_queue(cl->queue, timeout_ms, msgs, READ_BATCH);
	for (i = 0; i < *n; i++) {
		/* After a rewind the reader has sought back: the rest of the batch was
		 * fetched before, and librdkafka only drops such messages as it hands them
		 * out, not from a batch handed out already. */
		if (rc == 0 && !cl->rewound)
			rc = reader_take(cl, msgs[i]);
		rd_kafka_message_destroy(msgs[i]);
	}
	if (*n < 0)
		*n = 0;
	return rc;
}

/* Takes what one poll of the reader returned. Returns 0 or an exit code. */
static int reader_take(struct changelog *cl, const rd_kafka_message_t *m)
{
	struct cl_part *pt;

	if (m->partition < 0 || m->partition >= cl->nparts)
		return 0;
	pt = &cl->parts[m->partition];
	if (pt->mode != P_RESTORE && pt->mode != P_STANDBY)
		return 0; /* fetched before it was taken off the reader */
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		if (m->offset >= pt->next)
			pt->next = m->offset;
	} else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
		log_error("changelog '%s'[%d]: offset %" PRId64 " is out of range: its records were deleted "
			  "(is the topic compacted, cleanup.policy=compact, rather than deleted by retention?)",
			  cl->cfg.topic, (int)m->partition, pt->next);
		return EX_DATAERR;
	} else if (m->err) {
		log_warn("changelog '%s': %s", cl->cfg.topic, rd_kafka_message_errstr(m));
		return 0;
	} else if (m->offset >= pt->next) {
		int rc = take_message(cl, pt, m);
		if (rc)
			return rc;
	}
	if (pt->mode == P_RESTORE && pt->next >= pt->target)
		pt->done = 1;
	return 0;
}

static void txn_abort(struct changelog *cl)
{
	int p;

	if (cl->txn)
		store_txn_abort(cl->txn);
	cl->txn = NULL;
	for (p = 0; p < cl->nparts; p++)
		cl->parts[p].txn_applied = 0;
}

/* ---- the store, outside the reading's txn --------------------------------------------- */

static int note_pending(void *arg, int32_t partition, const char *user, size_t len, uint64_t write)
{
	(void)partition;
	(void)user;
	(void)len;
	(void)write;
	*(int *)arg = 1;
	return 1;
}

/* Partition p's changelog position (-1: none) and whether it has changes not produced. */
static int store_view(struct changelog *cl, int32_t p, int64_t *c, int *pending)
{
	struct store_txn *t;
	int rc;

	*c = -1;
	*pending = 0;
	if ((rc = store_txn_begin(cl->cfg.store, 0, &t, cl->err, sizeof(cl->err))) != 0)
		goto fail;
	rc = store_changelog_get(t, p, c, cl->err, sizeof(cl->err));
	if (rc == STORE_NOTFOUND) {
		*c = -1;
		rc = 0;
	}
	if (rc == 0)
		rc = store_pending_each(t, p, note_pending, pending, cl->err, sizeof(cl->err));
	store_txn_abort(t);
	if (rc == 0)
		return 0;
fail:
	log_error("store '%s': %s", store_dir(cl->cfg.store), cl->err);
	return EX_IOERR;
}

typedef int (*change_fn)(struct store_txn *t, int32_t p, void *arg, char *err, size_t errlen);

/* One change of partition p's state in a write txn of its own (the map grown if it has
 * to). Returns 0 or EX_IOERR after logging why. */
static int store_change(struct changelog *cl, int32_t p, change_fn fn, void *arg)
{
	struct store_txn *t;
	int rc;

	for (;;) {
		if ((rc = store_txn_begin(cl->cfg.store, 1, &t, cl->err, sizeof(cl->err))) != 0)
			break;
		if ((rc = fn(t, p, arg, cl->err, sizeof(cl->err))) != 0)
			store_txn_abort(t);
		else
			rc = store_txn_commit(t, cl->err, sizeof(cl->err));
		if (rc != STORE_FULL || store_grow(cl->cfg.store, cl->err, sizeof(cl->err)) != 0)
			break;
	}
	if (rc == 0)
		return 0;
	log_error("store '%s': %s", store_dir(cl->cfg.store), cl->err);
	return EX_IOERR;
}

static int drop(struct store_txn *t, int32_t p, void *arg, char *err, size_t errlen)
{
	(void)arg;
	return store_partition_drop(t, p, err, errlen);
}

static int pending_all(struct store_txn *t, int32_t p, void *arg, char *err, size_t errlen)
{
	(void)arg;
	return store_pending_add_all(t, p, err, errlen);
}

/* The users of the records read after the last marker, as pending: the owner produces
 * their state as it stands, and a marker after them. */
static int pending_tail(struct store_txn *t, int32_t p, void *arg, char *err, size_t errlen)
{
	const struct cl_part *pt = arg;
	size_t i;
	int rc = 0;

	for (i = 0; i < pt->nrecs && rc == 0; i++)
		rc = store_pending_add(t, p, (const char *)pt->arena + pt->recs[i].key, pt->recs[i].klen, err,
				       errlen);
	return rc;
}

/* ---- restoring --------------------------------------------------------------------- */

/* Reads p from the changelog's start, after dropping what the store holds of it. */
static int restore_from_start(struct changelog *cl, int32_t p)
{
	struct cl_part *pt = &cl->parts[p];
	int rc;

	if (pt->lo > 0) {
		log_error("changelog '%s'[%d] starts at offset %" PRId64 ": the records before it were deleted, "
			  "and a restore needs them all (is the topic compacted, cleanup.policy=compact?); to "
			  "rebuild the partition from the source topic instead, run without --changelog on a new "
			  "store", cl->cfg.topic, (int)p, pt->lo);
		return EX_DATAERR;
	}
	if ((rc = store_change(cl, p, drop, NULL)) != 0)
		return rc;
	part_reset(pt);
	part_start(pt, pt->lo);
	pt->mode = P_RESTORE;
	pt->done = pt->next >= pt->target;
	return 0;
}

/* Decides what newly assigned partition p needs (see the top of this file) and sets it
 * to be read if it needs anything. Returns 0 or an exit code. The changelog's ends are
 * asked through the producer: the reader's connection may be waiting on a fetch, which
 * the broker answers first (on the mock, up to fetch.wait.max.ms per question). */
static int restore_plan(struct changelog *cl, int32_t p)
{
	struct cl_part *pt = &cl->parts[p];
	int64_t c;
	int pending, rc;

	part_reset(pt);
	pt->mode = P_OWNED;
	pt->marker_next = -1;
	if (kafka_watermarks(cl->producer, cl->cfg.topic, p, &pt->lo, &pt->target, (int)cl->cfg.timeout_ms, cl->err,
			     sizeof(cl->err)) != 0) {
		log_error("changelog: %s", cl->err);
		return EX_UNAVAILABLE;
	}
	if ((rc = store_view(cl, p, &c, &pending)) != 0)
		return rc;
	if (c == pt->target || (c < 0 && pt->target == pt->lo))
		return 0;
	if (c > pt->target) {
		log_warn("changelog '%s'[%d] ends at offset %" PRId64 ", before %" PRId64 " where this store read "
			 "it last: it lost records (was it recreated?); the store's records of the partition are "
			 "all produced again", cl->cfg.topic, (int)p, pt->target, c);
		return store_change(cl, p, pending_all, NULL);
	}
	if (c < pt->lo)
		return restore_from_start(cl, p);
	part_start(pt, c);
	pt->mode = P_RESTORE;
	pt->scan = pending;
	return 0;
}

/* Room in the map for what the restores will read, so that no txn is redone for it. */
static int restore_reserve(struct changelog *cl)
{
	uint64_t messages = 0;
	int p;

	for (p = 0; p < cl->nparts; p++)
		if (cl->parts[p].mode == P_RESTORE && !cl->parts[p].scan && cl->parts[p].target > cl->parts[p].next)
			messages += (uint64_t)(cl->parts[p].target - cl->parts[p].next);
	if (!messages || store_reserve(cl->cfg.store, messages * RECORD_BYTES, cl->err, sizeof(cl->err)) == 0)
		return 0;
	log_error("store '%s': %s", store_dir(cl->cfg.store), cl->err);
	return EX_IOERR;
}

static int restoring(const struct changelog *cl)
{
	int p;

	for (p = 0; p < cl->nparts; p++)
		if (cl->parts[p].mode == P_RESTORE && !cl->parts[p].done)
			return 1;
	return 0;
}

/* Reads until every partition being restored has reached its end, applying as it goes
 * (and following the standby's partitions meanwhile). Returns 0 or an exit code. */
static int restore_read(struct changelog *cl)
{
	int64_t last = clock_mono_ms();
	char d[32];
	int rc;

	if ((rc = reader_assign(cl)) != 0 || (rc = restore_reserve(cl)) != 0)
		return rc;
	while (restoring(cl)) {
		ssize_t n;

		if ((rc = reader_batch(cl, 100, &n)) != 0) {
			txn_abort(cl);
			return rc;
		}
		if (n) {
			last = clock_mono_ms();
		} else if (clock_mono_ms() - last > cl->cfg.timeout_ms) {
			log_error("changelog '%s': nothing read for %s while restoring: is the broker up?",
				  cl->cfg.topic, format_duration(cl->cfg.timeout_ms, d, sizeof(d)));
			txn_abort(cl);
			return EX_UNAVAILABLE;
		}
		if (cl->txn_records >= TXN_RECORDS && (rc = txn_finish(cl, 0)) != 0)
			return rc;
	}
	return txn_finish(cl, 0);
}

/* After the read: a scan that met another owner's marker becomes a restore from the
 * start (*again), and the records after the last marker are listed as pending. */
static int restore_finish(struct changelog *cl, int32_t p, int *again)
{
	struct cl_part *pt = &cl->parts[p];
	int rc;

	if (pt->scan && pt->marker_seen) {
		log_info("changelog '%s'[%d] has batches of another member since this store's last one, and the "
			 "store has changes it never produced: the partition is restored from the start",
			 cl->cfg.topic, (int)p);
		*again = 1;
		return restore_from_start(cl, p);
	}
	if (pt->nrecs && (rc = store_change(cl, p, pending_tail, pt)) != 0)
		return rc;
	recs_clear(pt);
	pt->mode = P_OWNED;
	return 0;
}

/* Logs where partition p stands after its restore, and counts it. */
static void restore_report(struct changelog *cl, int32_t p, int64_t from, int64_t ms)
{
	const struct cl_part *pt = &cl->parts[p];
	struct store_position pos = { -1, -1, 0 };
	struct store_txn *t;
	char at[64];

	if (store_txn_begin(cl->cfg.store, 0, &t, cl->err, sizeof(cl->err)) == 0) {
		if (store_position_get(t, p, &pos, cl->err, sizeof(cl->err)) != 0)
			pos.next = -1;
		store_txn_abort(t);
	}
	if (pos.next >= 0)
		snprintf(at, sizeof(at), "resumes at offset %" PRId64, pos.next);
	else
		snprintf(at, sizeof(at), "starts where --start says");
	if (from < 0 || from >= pt->target) {
		log_info("%s[%d]: the store is up to date with changelog '%s'[%d] (offset %" PRId64 "); the source "
			 "%s", cl->cfg.source, (int)p, cl->cfg.topic, (int)p, pt->target, at);
		return;
	}
	cl->stats.restores++;
	cl->stats.restored_records += pt->applied;
	if (cl->m_restored) {
		char part[16];
		snprintf(part, sizeof(part), "%d", (int)p);
		metric_add(metric_with(cl->m_restored, part), (double)pt->applied);
		metric_observe(metric_series(cl->m_restore_seconds, NULL), (double)ms / 1000);
	}
	log_info("%s[%d]: restored %" PRIu64 " records from changelog '%s'[%d] (offsets %" PRId64 "..%" PRId64
		 ") in %.2fs; the source %s", cl->cfg.source, (int)p, pt->applied, cl->cfg.topic, (int)p, from,
		 pt->target, (double)ms / 1000, at);
}

/* ---- standing by ------------------------------------------------------------------- */

/* Sets partition p, neither owned nor followed, to be followed from where the store
 * reflects it, or from the start after a drop. Best effort: a partition that cannot be
 * followed is only said. Returns 0 or an exit code. */
static int standby_plan(struct changelog *cl, int32_t p)
{
	struct cl_part *pt = &cl->parts[p];
	int64_t c, lo, hi;
	int pending, rc;

	if (kafka_watermarks(cl->producer, cl->cfg.topic, p, &lo, &hi, (int)cl->cfg.timeout_ms, cl->err,
			     sizeof(cl->err)) != 0) {
		log_warn("changelog (--standby): %s", cl->err);
		return 0;
	}
	if ((rc = store_view(cl, p, &c, &pending)) != 0)
		return rc;
	part_reset(pt);
	if (c < lo || c > hi || pending) {
		if (lo > 0) {
			log_warn("changelog '%s'[%d] starts at offset %" PRId64 ": it cannot be followed from its "
				 "start (--standby)", cl->cfg.topic, (int)p, lo);
			return 0;
		}
		if ((rc = store_change(cl, p, drop, NULL)) != 0)
			return rc;
		c = lo;
	}
	part_start(pt, c);
	pt->mode = P_STANDBY;
	return 0;
}

/* Follows every partition neither owned nor followed yet. */
static int standby_update(struct changelog *cl)
{
	int p, rc;

	for (p = 0; p < cl->nparts; p++)
		if (cl->parts[p].mode == P_IDLE && (rc = standby_plan(cl, p)) != 0)
			return rc;
	return reader_assign(cl);
}

/* Applies what the standby's partitions have brought, in one txn, every
 * STANDBY_EVERY_MS: the engine's writer waits for the LMDB writer lock meanwhile. */
static int standby_poll(struct changelog *cl)
{
	int64_t now = clock_mono_ms();
	ssize_t n = 1, taken;
	int rc = 0;

	if (now - cl->last_standby < STANDBY_EVERY_MS)
		return 0;
	cl->last_standby = now;
	for (taken = 0; taken < STANDBY_BATCH && n > 0 && rc == 0; taken += n)
		rc = reader_batch(cl, 0, &n);
	if (rc) {
		txn_abort(cl);
		return rc;
	}
	return txn_finish(cl, 0);
}

/* ---- producing --------------------------------------------------------------------- */

static const char marker_key[1] = { '\0' };

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct changelog *cl = opaque;

	(void)rk;
	if (cl->outstanding)
		cl->outstanding--;
	if (m->err) {
		if (!cl->failed)
			log_warn("changelog '%s'[%d]: %s (produced again later)", cl->cfg.topic, (int)m->partition,
				 rd_kafka_err2str(m->err));
		cl->failed = 1;
		return;
	}
	cl->stats.produced++;
	if (cl->m_produced)
		metric_inc(cl->m_produced);
	if (m->_private)
		((struct cl_part *)m->_private)->flight_off = m->offset;
}

/* Produces one message (a copy); val NULL is a tombstone. Returns 0 or -1. */
static int produce(struct changelog *cl, int32_t p, const void *key, size_t klen, const void *val, size_t vlen,
		   void *opaque)
{
	rd_kafka_resp_err_t err;

	if (!cl->outstanding && !cl->flying)
		crash_point("before-changelog"); /* a batch committed, none of its changes out */
	cl->flying = 1;
	for (;;) {
		err = rd_kafka_producev(cl->producer, RD_KAFKA_V_TOPIC(cl->cfg.topic), RD_KAFKA_V_PARTITION(p),
					RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque),
					RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(cl->producer, 10);
	}
	if (err) {
		if (!cl->failed)
			log_warn("changelog '%s'[%d]: rd_kafka_producev: %s (produced again later)", cl->cfg.topic,
				 (int)p, rd_kafka_err2str(err));
		cl->failed = 1;
		return -1;
	}
	cl->outstanding++;
	return 0;
}

struct pass {
	struct changelog *cl;
	struct store_txn *t;
	int64_t next;  /* the partition's position: what its records reflect */
	size_t n;
	int rc;
};

static int pass_record(void *arg, int32_t partition, const char *user, size_t len, uint64_t write)
{
	struct pass *ps = arg;
	unsigned char buf[CHANGELOG_VALUE_MAX];
	struct store_user u;
	size_t vlen = 0;
	int rc = store_record_get(ps->t, partition, user, len, &u, ps->cl->err, sizeof(ps->cl->err));

	(void)write;
	if (rc != 0 && rc != STORE_NOTFOUND) {
		ps->rc = EX_IOERR;
		return 1;
	}
	/* Gone (--retain-users forgot it): a tombstone. */
	if (rc == 0)
		vlen = changelog_record_encode(buf, ps->next, &u);
	if (produce(ps->cl, partition, user, len, rc == 0 ? buf : NULL, vlen, NULL) != 0) {
		ps->rc = -1;
		return 1;
	}
	ps->n++;
	return 0;
}

/* Produces partition p's pending records and, when they or its position changed, a
 * marker. Returns 0 or an exit code. */
static int produce_partition(struct changelog *cl, struct store_txn *t, int32_t p)
{
	struct cl_part *pt = &cl->parts[p];
	struct pass ps = { cl, t, -1, 0, 0 };
	unsigned char buf[CHANGELOG_MARKER_SIZE];
	struct store_position pos;
	int rc = store_position_get(t, p, &pos, cl->err, sizeof(cl->err));

	if (rc == STORE_NOTFOUND)
		return 0; /* nothing applied yet, nothing to say */
	if (rc != 0)
		return EX_IOERR;
	ps.next = pos.next;
	if (store_pending_each(t, p, pass_record, &ps, cl->err, sizeof(cl->err)) != 0 || ps.rc > 0)
		return EX_IOERR;
	if (ps.rc || (ps.n == 0 && pos.next == pt->marker_next))
		return 0;
	if (ps.n && crash_armed) {
		/* For the crash tests: the records out, their marker not. */
		rd_kafka_flush(cl->producer, (int)cl->cfg.timeout_ms);
		crash_point("in-changelog");
	}
	if (produce(cl, p, marker_key, sizeof(marker_key), buf, changelog_marker_encode(buf, &pos), pt) != 0)
		return 0;
	pt->in_flight = 1;
	pt->flight_next = pos.next;
	pt->flight_off = -1;
	return 0;
}

/* Produces what is pending of the partitions owned, in one read txn. */
static int produce_pass(struct changelog *cl)
{
	struct store_txn *t;
	int p, rc = 0;

	cl->dirty = 0;
	cl->failed = 0;
	if (store_txn_begin(cl->cfg.store, 0, &t, cl->err, sizeof(cl->err)) != 0) {
		log_error("store '%s': %s", store_dir(cl->cfg.store), cl->err);
		return EX_IOERR;
	}
	if (store_pending_upto(t, &cl->upto, cl->err, sizeof(cl->err)) != 0) {
		log_error("store '%s': %s", store_dir(cl->cfg.store), cl->err);
		store_txn_abort(t);
		return EX_IOERR;
	}
	for (p = 0; p < cl->nparts && rc == 0; p++)
		if (cl->parts[p].mode == P_OWNED)
			rc = produce_partition(cl, t, p);
	store_txn_abort(t);
	if (rc)
		log_error("store '%s': %s; the changelog falls behind", store_dir(cl->cfg.store), cl->err);
	return rc;
}

/* Once the pass is delivered: its pending entries cleared, each partition's changelog
 * position after its marker. A failed pass is retried as a whole. */
static int flight_finish(struct changelog *cl)
{
	struct store_txn *t;
	int p, rc;

	cl->flying = 0;
	if (cl->failed) {
		cl->stats.failed++;
		cl->retry_at = clock_mono_ms() + RETRY_MS;
		cl->dirty = 1;
		for (p = 0; p < cl->nparts; p++)
			cl->parts[p].in_flight = 0;
		return 0;
	}
	for (;;) {
		if ((rc = store_txn_begin(cl->cfg.store, 1, &t, cl->err, sizeof(cl->err))) != 0)
			break;
		for (p = 0; p < cl->nparts && rc == 0; p++) {
			struct cl_part *pt = &cl->parts[p];
			if (!pt->in_flight)
				continue;
			rc = store_pending_clear(t, p, cl->upto, cl->err, sizeof(cl->err));
			if (rc == 0 && pt->flight_off >= 0)
				rc = store_changelog_put(t, p, pt->flight_off + 1, cl->err, sizeof(cl->err));
		}
		if (rc)
			store_txn_abort(t);
		else
			rc = store_txn_commit(t, cl->err, sizeof(cl->err));
		if (rc != STORE_FULL || store_grow(cl->cfg.store, cl->err, sizeof(cl->err)) != 0)
			break;
	}
	if (rc) {
		log_error("store '%s': %s", store_dir(cl->cfg.store), cl->err);
		return EX_IOERR;
	}
	for (p = 0; p < cl->nparts; p++) {
		if (cl->parts[p].in_flight)
			cl->parts[p].marker_next = cl->parts[p].flight_next;
		cl->parts[p].in_flight = 0;
	}
	return 0;
}

/* Delivers the pass in flight and one more for what is still pending, within the
 * timeout: before partitions go, and at the end. */
static int drain(struct changelog *cl)
{
	int64_t deadline = clock_mono_ms() + cl->cfg.timeout_ms;
	int round, rc;

	for (round = 0; round < 2; round++) {
		if (!cl->flying && (rc = produce_pass(cl)) != 0)
			return rc;
		while (cl->flying && cl->outstanding && clock_mono_ms() < deadline)
			rd_kafka_poll(cl->producer, 50);
		if (cl->flying && cl->outstanding) {
			log_warn("changelog '%s': %zu messages not delivered in time; the next owner of the "
				 "partitions restores an older state, and reads more of the source", cl->cfg.topic,
				 cl->outstanding);
			return 0;
		}
		if (cl->flying && (rc = flight_finish(cl)) != 0)
			return rc;
	}
	return 0;
}

/* ---- the engine's hooks ------------------------------------------------------------- */

int changelog_assigned(struct changelog *cl, const rd_kafka_topic_partition_list_t *parts)
{
	int64_t t0 = clock_mono_ms(), *from = xmalloc((size_t)(parts->cnt ? parts->cnt : 1) * sizeof(*from));
	int i, rc = 0, again;

	for (i = 0; i < parts->cnt && rc == 0; i++) {
		int32_t p = parts->elems[i].partition;
		if (p < 0 || p >= cl->nparts) {
			log_error("%s[%d] has no changelog partition: '%s' has %d; give it as many as the source",
				  cl->cfg.source, (int)p, cl->cfg.topic, cl->nparts);
			rc = EX_UNAVAILABLE;
			break;
		}
		rc = restore_plan(cl, p);
		from[i] = cl->parts[p].mode == P_RESTORE ? cl->parts[p].next : -1;
	}
	for (again = 1; rc == 0 && again;) {
		again = 0;
		if ((rc = restore_read(cl)) != 0)
			break;
		for (i = 0; i < parts->cnt && rc == 0; i++)
			if (cl->parts[parts->elems[i].partition].mode == P_RESTORE)
				rc = restore_finish(cl, parts->elems[i].partition, &again);
	}
	for (i = 0; i < parts->cnt && rc == 0; i++)
		restore_report(cl, parts->elems[i].partition, from[i], clock_mono_ms() - t0);
	free(from);
	cl->stats.restore_ms += clock_mono_ms() - t0;
	cl->dirty = 1;
	if (rc == 0)
		rc = cl->cfg.standby ? standby_update(cl) : reader_assign(cl);
	return rc;
}

int changelog_revoked(struct changelog *cl, const rd_kafka_topic_partition_list_t *parts)
{
	int i, rc = drain(cl);

	for (i = 0; i < parts->cnt; i++) {
		int32_t p = parts->elems[i].partition;
		if (p < 0 || p >= cl->nparts)
			continue;
		part_reset(&cl->parts[p]);
		cl->parts[p].mode = P_IDLE;
		cl->parts[p].marker_next = -1;
	}
	if (rc == 0 && cl->cfg.standby)
		rc = standby_update(cl);
	return rc;
}

void changelog_committed(struct changelog *cl)
{
	cl->dirty = 1;
}

int changelog_poll(struct changelog *cl)
{
	int rc;

	rd_kafka_poll(cl->producer, 0);
	if (cl->flying && !cl->outstanding && (rc = flight_finish(cl)) != 0)
		return rc;
	if (!cl->flying && cl->dirty && clock_mono_ms() >= cl->retry_at && (rc = produce_pass(cl)) != 0)
		return rc;
	if (cl->cfg.standby)
		return standby_poll(cl);
	return 0;
}

const struct changelog_stats *changelog_stats(const struct changelog *cl)
{
	return &cl->stats;
}

int changelog_metrics(struct changelog *cl, struct metrics *reg, char *err, size_t errlen)
{
	struct metric *standby, *produced;

	if (!(cl->m_restored = metrics_counter(reg, "pingpong_changelog_restored_records_total",
					       "Records applied from the changelog by restores of newly "
					       "assigned partitions.", "partition", err, errlen)) ||
	    !(cl->m_restore_seconds = metrics_histogram(reg, "pingpong_changelog_restore_seconds",
							"How long the restore of an assignment took.", NULL,
							metrics_seconds_buckets, metrics_seconds_nbuckets, err,
							errlen)) ||
	    !(standby = metrics_counter(reg, "pingpong_changelog_standby_records_total",
					"Records applied from the changelog of partitions not owned "
					"(--standby).", NULL, err, errlen)) ||
	    !(produced = metrics_counter(reg, "pingpong_changelog_produced_total",
					 "Changelog records, tombstones and markers delivered.", NULL, err,
					 errlen)))
		return -1;
	cl->m_standby = metric_series(standby, NULL);
	cl->m_produced = metric_series(produced, NULL);
	return 0;
}

/* ---- opening and closing ------------------------------------------------------------ */

/* The producer (idempotent) or the reader (a consumer that is given its partitions). */
static rd_kafka_t *client_new(struct changelog *cl, rd_kafka_type_t type)
{
	int producer = type == RD_KAFKA_PRODUCER;
	rd_kafka_conf_t *conf;
	char err[512], group[300];
	rd_kafka_t *rk;

	snprintf(group, sizeof(group), "%s-changelog-reader", cl->cfg.group);
	if (!(conf = kafka_conf_new(&cl->cfg.kafka, producer ? kafka_producer_tuning : kafka_consumer_tuning, err,
				    sizeof(err))))
		goto fail;
	/* The reader needs a group.id to be assigned partitions; it never joins the group. */
	if ((producer && (kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)) < 0 ||
			  kafka_conf_set(conf, "allow.auto.create.topics", "false", err, sizeof(err)) < 0)) ||
	    (!producer && (kafka_conf_set(conf, "group.id", group, err, sizeof(err)) < 0 ||
			   kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)) < 0 ||
			   kafka_conf_set(conf, "auto.offset.reset", "error", err, sizeof(err)) < 0)) ||
	    kafka_conf_user_props(conf, &cl->cfg.kafka, err, sizeof(err)) < 0) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	if (producer)
		rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, cl);
	if (!(rk = rd_kafka_new(type, conf, err, sizeof(err)))) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	if (!producer) {
		rd_kafka_poll_set_consumer(rk);
		cl->queue = rd_kafka_queue_get_consumer(rk);
	}
	return rk;
fail:
	log_error("changelog: %s", err);
	return NULL;
}

/* Notes the changelog's topic in the store's meta ("changelog_topic"), for pingpong lag. */
static int note_topic(struct changelog *cl)
{
	struct store_txn *t;
	char cur[512];
	int rc;

	for (;;) {
		if ((rc = store_txn_begin(cl->cfg.store, 1, &t, cl->err, sizeof(cl->err))) != 0)
			return rc;
		if (store_meta_get(t, "changelog_topic", cur, sizeof(cur)) == 0 && !strcmp(cur, cl->cfg.topic)) {
			store_txn_abort(t);
			return 0;
		}
		rc = store_meta_put(t, "changelog_topic", cl->cfg.topic, cl->err, sizeof(cl->err));
		if (rc == 0)
			rc = store_txn_commit(t, cl->err, sizeof(cl->err));
		else
			store_txn_abort(t);
		if (rc != STORE_FULL)
			return rc;
		if (store_grow(cl->cfg.store, cl->err, sizeof(cl->err)) != 0)
			return -1;
	}
}

int changelog_open(struct changelog **out, const struct changelog_config *cfg)
{
	struct changelog *cl = xcalloc(1, sizeof(*cl));
	int n, ns, p;

	*out = NULL;
	cl->cfg = *cfg;
	if (cl->cfg.timeout_ms <= 0)
		cl->cfg.timeout_ms = 30000;
	if (!(cl->producer = client_new(cl, RD_KAFKA_PRODUCER)) || !(cl->reader = client_new(cl, RD_KAFKA_CONSUMER))) {
		changelog_close(cl);
		return EX_USAGE;
	}
	n = kafka_partition_count(cl->reader, cfg->topic, (int)cl->cfg.timeout_ms, cl->err, sizeof(cl->err));
	if (n < 0) {
		log_error("changelog: %s; create it, compacted, with as many partitions as '%s' (see CHANGELOG in "
			  "pingpong-active(1))", cl->err, cfg->source);
		changelog_close(cl);
		return EX_UNAVAILABLE;
	}
	ns = kafka_partition_count(cl->reader, cfg->source, (int)cl->cfg.timeout_ms, cl->err, sizeof(cl->err));
	if (ns > n) {
		log_error("changelog '%s' has %d partitions, fewer than the %d of '%s': it needs one for each",
			  cfg->topic, n, ns, cfg->source);
		changelog_close(cl);
		return EX_UNAVAILABLE;
	}
	if (note_topic(cl) != 0) {
		log_error("changelog: %s", cl->err);
		changelog_close(cl);
		return EX_IOERR;
	}
	cl->nparts = n;
	cl->parts = xcalloc((size_t)n, sizeof(*cl->parts));
	for (p = 0; p < n; p++) {
		cl->parts[p].marker_next = -1;
		cl->parts[p].flight_off = -1;
	}
	*out = cl;
	return 0;
}

void changelog_close(struct changelog *cl)
{
	int p;

	if (!cl)
		return;
	txn_abort(cl);
	if (cl->producer) {
		rd_kafka_flush(cl->producer, (int)cl->cfg.timeout_ms);
		rd_kafka_destroy(cl->producer);
	}
	if (cl->queue)
		rd_kafka_queue_destroy(cl->queue);
	if (cl->reader) {
		rd_kafka_consumer_close(cl->reader);
		rd_kafka_destroy(cl->reader);
	}
	for (p = 0; p < cl->nparts; p++) {
		free(cl->parts[p].recs);
		free(cl->parts[p].arena);
	}
	free(cl->parts);
	free(cl);
}
