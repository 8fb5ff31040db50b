/* gate.h: dependency progress for --after GROUP and --after-store DIR. */
#ifndef PP_GATE_H
#define PP_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "kafka.h"

struct consumer_metrics;
struct gate;

/* A consumer's dependencies: Kafka groups (--after) and stores on this host
 * (--after-store), and how often to look at them. */
struct gate_config {
	const char *topic;
	const struct kafka_opts *kafka;
	const char *const *groups;
	size_t ngroups;
	const char *const *stores;
	size_t nstores;
	int64_t poll_ms;
	struct consumer_metrics *metrics; /* counts the waits (--metrics), or NULL */
};

#define GATE_ESTORE (-2) /* a dependency's store could not be opened */

/* Opens every dependency of gc (Kafka groups through the admin API, stores read-only).
 * Returns 0 and *out (NULL when there are none), or -1 (Kafka) or GATE_ESTORE with the
 * reason. */
int gate_open(struct gate **out, const struct gate_config *gc, char *err, size_t errlen);
void gate_close(struct gate *g);

/* 1 when every dependency has committed an offset greater than offset on partition:
 * Kafka's committed offset is the next one to read, so "equal" still means "wait". The
 * first 1 after a 0 on a partition ends a wait, which counts in the metrics. */
int gate_allows(struct gate *g, int32_t partition, int64_t offset);

/* Re-reads the dependencies' offsets when due: every --after-poll, backing off up to
 * 8 times that while nothing changes. force re-reads now. Never blocks. */
void gate_refresh(struct gate *g, int force);

/* The partition was revoked while the gate held it back: that wait is over, uncounted
 * (the next owner's gate counts it). */
void gate_forget(struct gate *g, int32_t partition);

/* Logs "waiting for G on chat[1]: committed 120, need > 130" after 5 s of waiting on
 * this partition, and every 5 s after that. */
void gate_log_wait(struct gate *g, int32_t partition, int64_t offset);

/* The least committed offset of any dependency on partition (-1 when one has none). */
int64_t gate_committed(struct gate *g, int32_t partition);

#endif
