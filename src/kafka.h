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

/* A --broker-timeout in librdkafka's int milliseconds: 0 (wait without end) and what
 * does not fit become INT32_MAX; a negative one (unset) 10 s. */
int kafka_timeout_ms(int64_t ms);

/* Takes (assign) or gives up (!assign) parts in a rebalance callback, incrementally
 * under the cooperative protocol, else eagerly (giving up everything). Returns 0, or -1
 * with librdkafka's reason. */
int kafka_rebalance_apply(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int assign, char *err,
			  size_t errlen);

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

/* One-shot questions to the brokers, for the commands that only look (lag, store reset).
 * Each waits at most timeout_ms and returns 0, or -1 with librdkafka's reason in err,
 * naming the call: a broker that does not answer is an error here, never a hang. */

/* A client for such questions: a producer that never produces, so that it joins no
 * group and commits nothing. Caller destroys it with rd_kafka_destroy(). */
rd_kafka_t *kafka_query_client(const struct kafka_opts *ko, char *err, size_t errlen);

/* The log start (*lo) and end (*hi) of a partition (query_watermark_offsets). */
int kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo, int64_t *hi,
		     int timeout_ms, char *err, size_t errlen);

/* The offsets that group has committed on partitions [0, n) of topic, into committed[]:
 * -1 where it has none. ListConsumerGroupOffsets with an explicit partition list, which
 * the mock broker answers (it does not answer a request for all topics). */
int kafka_group_offsets(rd_kafka_t *rk, const char *group, const char *topic, int n, int64_t *committed,
			int timeout_ms, char *err, size_t errlen);

/* For each partition [0, n) of topic, the first offset whose message timestamp is at or
 * after ts (ms since the epoch), into offsets[]: -1 where no message is that late
 * (offsets_for_times). A broker that cannot look offsets up by time (the mock) also
 * answers -1. */
int kafka_offsets_for_time(rd_kafka_t *rk, const char *topic, int n, int64_t ts, int64_t *offsets,
			   int timeout_ms, char *err, size_t errlen);

/* Consumer tuning that every pingpong consumer uses (librdkafka's defaults stall). Its
 * small local queue needs kafka_flow. */
extern const char *const kafka_consumer_tuning[];
/* Producer defaults: batching and compression. */
extern const char *const kafka_producer_tuning[];

/* Flow control for a consumer with a small local queue (kafka.c says why and how). */
struct kafka_flow {
	rd_kafka_queue_t *queue; /* the consumer's queue, for its length */
	int64_t min;             /* queued.min.messages as set; 0: no flow control */
	size_t every;            /* look at the queue at least every this many messages */
	int stopped;             /* the queue was nearly full: the fetcher has stopped */
	int64_t nudges;          /* times the fetchers were woken (-v) */
};

/* After rd_kafka_poll_set_consumer(rk). Pair with kafka_flow_release, before
 * rd_kafka_destroy(rk). */
void kafka_flow_init(struct kafka_flow *f, rd_kafka_t *rk);
void kafka_flow_release(struct kafka_flow *f);

/* Looks at the queue's length (a mutex, not a syscall): call it after every poll, and
 * poll no more than f->every messages at a time (kafka_poll's max). Returns 1 when the caller
 * should list the partitions it is fetching and hand them to kafka_flow_nudge. */
int kafka_flow_due(struct kafka_flow *f);

/* Wakes the fetchers of the partitions in l (those being fetched; offsets ignored): asks
 * their leaders for their log ends, without waiting for the answers. Nothing is sought,
 * so nothing fetched is dropped. */
void kafka_flow_nudge(struct kafka_flow *f, rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *l);

/* The most messages one kafka_poll() returns. */
#define KAFKA_POLL_MAX 256

/* Polls the consumer rk, whose queue (rd_kafka_queue_get_consumer) is queue: up to max
 * (at most KAFKA_POLL_MAX) messages already waiting, or else one, waiting up to
 * timeout_ms for it; queue NULL: one. Returns how many it put in msgs; 0 after the
 * timeout, or when a callback called rd_kafka_yield(). Callbacks (rebalance, commit,
 * statistics) run inside it, as in rd_kafka_consumer_poll(): one that changes what the
 * caller consumes must call rd_kafka_yield(rk), so that the messages returned with it
 * were all polled before it ran (kafka.c says why). Call it from one thread only. */
size_t kafka_poll(rd_kafka_t *rk, rd_kafka_queue_t *queue, int timeout_ms, rd_kafka_message_t **msgs,
		  size_t max);

#endif
