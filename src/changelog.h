/* changelog.h: the active store's records in a compacted changelog topic: produced after
 * each batch, restored by the new owner of a partition, followed by standbys. */
#ifndef PP_CHANGELOG_H
#define PP_CHANGELOG_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "store.h"

struct changelog;

struct changelog_config {
	const char *topic;   /* the changelog topic: as many partitions as the source */
	const char *source;  /* the source topic */
	const char *group;   /* the consumer group, which names the reader's own */
	struct kafka_opts kafka;
	struct store *store; /* opened with store_options.changelog */
	int standby;         /* also follow the changelog of the partitions not owned */
	int retain_users;    /* --retain-users: a record older than the index floor is
			      * forgotten, not restored */
	int64_t timeout_ms;  /* how long a broker may leave a restore or a flush waiting */
};

/* What the changelog has done, for the closing summary and the metrics. */
struct changelog_stats {
	uint64_t restores;         /* partitions that read records from the changelog when assigned */
	uint64_t restored_records; /* the records those restores applied */
	int64_t restore_ms;        /* the time they took */
	uint64_t standby_records;  /* records applied while following partitions not owned */
	uint64_t produced;         /* records, tombstones and markers delivered */
	uint64_t failed;           /* produce passes that failed and were retried */
};

/* The changelog's messages (pingpong-active(1), CHANGELOG), all integers big-endian:
 *  - a record: key the user, value u8 version (1), i64 source next offset (the position
 *    of its partition when the record was read), i64 last_seen, u64 count, i64 email_ts,
 *    u16 email length, the email;
 *  - a tombstone (a record deleted by --retain-users): key the user, no value;
 *  - a commit marker: key one NUL byte (no user name can be that), value u8 version (1),
 *    i64 source next offset, i64 Kafka timestamp and u64 fingerprint of the message
 *    before it (the store's position, store.h): the records before it in the partition
 *    are the partition's state at that offset. */
#define CHANGELOG_RECORD_HEAD 35
#define CHANGELOG_MARKER_SIZE 25
#define CHANGELOG_VALUE_MAX (CHANGELOG_RECORD_HEAD + STORE_EMAIL_MAX)
size_t changelog_record_encode(unsigned char *buf, int64_t source_next, const struct store_user *u);
/* Returns 0, or -1 for a value that is not a record; u->email points into val. */
int changelog_record_decode(const void *val, size_t len, int64_t *source_next, struct store_user *u);
size_t changelog_marker_encode(unsigned char *buf, const struct store_position *pos);
int changelog_marker_decode(const void *val, size_t len, struct store_position *pos);
int changelog_is_marker(const void *key, size_t len);

/* Opens the producer (idempotent) and the reader, and checks the topic: it must exist
 * with at least as many partitions as the source. Returns 0, or an exit code after
 * logging why. Caller closes. */
int changelog_open(struct changelog **out, const struct changelog_config *cfg);
/* Delivers what is in flight (bounded by timeout_ms) and frees everything. */
void changelog_close(struct changelog *cl);

/* The engine's hooks, all in its main thread:
 *  - assigned: before the partitions are positioned; restores each one whose store is
 *    behind the changelog, so that the stored position is where the source resumes;
 *  - revoked: after the batches in flight are committed; delivers the partitions'
 *    changes and markers before they go;
 *  - committed: after each batch's commit; starts producing its changes;
 *  - poll: every turn of the loop; delivery reports, the pending list, the standby.
 * Each returns 0 or an exit code (EX_UNAVAILABLE, EX_IOERR, EX_DATAERR). */
int changelog_assigned(struct changelog *cl, const rd_kafka_topic_partition_list_t *parts);
int changelog_revoked(struct changelog *cl, const rd_kafka_topic_partition_list_t *parts);
void changelog_committed(struct changelog *cl);
int changelog_poll(struct changelog *cl);

const struct changelog_stats *changelog_stats(const struct changelog *cl);

/* Registers the changelog's families in reg (owned by the caller, freed after the
 * changelog) and keeps them up to date from then on:
 *   pingpong_changelog_restored_records_total{partition}  counter
 *   pingpong_changelog_restore_seconds                     histogram, per partition restored
 *   pingpong_changelog_standby_records_total               counter
 *   pingpong_changelog_produced_total                      counter: messages delivered
 * Returns 0, or -1 with the reason in err. */
struct metrics;
int changelog_metrics(struct changelog *cl, struct metrics *reg, char *err, size_t errlen);

#endif
