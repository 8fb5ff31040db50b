/* kafka.h: librdkafka configuration and client creation shared by every command. */
#ifndef PP_KAFKA_H
#define PP_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* Where the brokers are, and what the user set with -X: every client's configuration
 * starts from this. The strings belong to the caller. */
struct kafka_opts {
	const char *brokers;      /* bootstrap.servers */
	const char *const *props; /* "key=value", in order */
	size_t nprops;
};

/* Builds a configuration: first the NULL-terminated key/value pairs in `defaults`
 * (pingpong's tuning), then bootstrap.servers, then the user's -X properties, so the
 * user has the last word. Returns NULL with librdkafka's own message in err. */
rd_kafka_conf_t *kafka_conf_new(const struct kafka_opts *ko, const char *const *defaults, char *err,
				size_t errlen);

/* Applies the user's -X properties (again), after a command set its own: the user has the
 * last word. Returns 0 or -1 with librdkafka's message in err, prefixed with the key; the
 * value never appears in err (it may be a password). */
int kafka_conf_user_props(rd_kafka_conf_t *conf, const struct kafka_opts *ko, char *err, size_t errlen);

/* Sets one property; returns 0 or -1 with librdkafka's message in err. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen);

/* Formats a partition list as "chat[0,2]" (one topic) into buf; returns buf. */
const char *kafka_format_partitions(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t len);

/* Number of partitions of topic, from metadata (waits up to timeout_ms). Returns >0,
 * or -1 with the reason in err. */
int kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err, size_t errlen);

/* Whether any broker answers, for --broker-timeout: a client that has heard from no
 * broker since it started, or since librdkafka said all of them were down, gives up once
 * that has lasted timeout_ms. Pair init with the client's life; no release needed. */
struct kafka_watch {
	int64_t timeout_ms; /* 0: never give up */
	int64_t since;      /* monotonic ms since no broker has answered; 0 while one does */
	int contacted;      /* a broker answered since init */
	unsigned long seq;  /* the count of librdkafka's errors at the last look */
};

void kafka_watch_init(struct kafka_watch *w, int64_t timeout_ms);

/* A broker answered: a message, an end of partition, an assignment, a commit. */
void kafka_watch_contact(struct kafka_watch *w);

/* Call after each poll. Returns 1 once no broker has answered for the timeout, with a
 * message naming the brokers and librdkafka's last error in err; else 0. */
int kafka_watch_expired(struct kafka_watch *w, rd_kafka_t *rk, const char *brokers, char *err,
			size_t errlen);

/* Consumer tuning that every pingpong consumer uses (librdkafka's defaults stall). */
extern const char *const kafka_consumer_tuning[];
/* Producer defaults: batching and compression. */
extern const char *const kafka_producer_tuning[];

#endif
