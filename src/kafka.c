/* kafka.c: librdkafka configuration shared by every command, and one-shot questions.
 *
 * Every client is configured in three layers: pingpong's tuning, the broker list, then
 * the user's -X properties, so that anything we choose can be overridden the kcat way.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "util.h"

/* queued.min.messages: a small local queue, which whoever uses this tuning keeps flowing
 * with kafka_flow (below): 50,000 events hold some 25 MiB, and a consumer catching up
 * went as fast as with a million (250 MiB) in make bench (bench/README.md). Without the
 * nudge a full queue pauses the fetcher for up to a second (see
 * shared/librdkafka-notes.md), which is why librdkafka's default of 100000 stalls.
 * fetch.error.backoff.ms: a partition assigned at a logical offset (a new store starts
 * at the beginning) waits this long before its first fetch; 500 ms by default.
 * max.partition.fetch.bytes: a queued message keeps alive the whole fetched batch it came
 * in, and a Kafka broker (unlike the mock) answers with up to 1 MiB per partition: active
 * catching up on Kafka 4.4 peaked at 97 to 115 MiB anonymous with 1 MiB, 35 MiB with
 * 256 KiB, at the same rate, as was tail --null's (bench/README.md). */
const char *const kafka_consumer_tuning[] = {
	"queued.min.messages", "50000",
	"max.partition.fetch.bytes", "262144",
	"fetch.error.backoff.ms", "50",
	"fetch.wait.max.ms", "100",
	"enable.auto.commit", "false",
	"enable.auto.offset.store", "false",
	NULL,
};

/*
 * Flow control. librdkafka 2.0.2 stops fetching once the consumer's queue holds
 * queued.min.messages, and decides again only when the broker thread wakes up, which with
 * nothing to do it does once a second (rd_kafka_max_block_ms, rdkafka_broker.c): a
 * consumer that empties the queue faster than that waits out the rest of the second. Any
 * request sent from another thread is an operation for the broker thread, which wakes
 * it (rd_kafka_broker_buf_enq_replyq), and a woken broker thread decides again for every
 * partition it serves (rdkafka_fetcher.c). So when the queue runs low after a stop, the
 * leaders of the partitions being fetched are asked for their log ends: one ListOffsets
 * per broker (rd_kafka_offsets_for_times), sent without waiting for the answer, which
 * nothing needs. A queue that was never nearly full (a consumer at the live end, or one
 * that keeps up with its fetcher) never stopped the fetcher and is left alone.
 *
 * Why not a seek, as before (to where the application stands, one partition per broker):
 * a seek wakes the broker thread too, but drops what the queue holds of that partition (a
 * new fetch version), which is then fetched and decompressed again; and when the other
 * partitions are at their ends, the fetch in flight is one the broker holds for
 * fetch.wait.max.ms. In a traced run of active on Kafka 4.4, a seek near the end dropped
 * 4,259 queued messages, which came back 94 ms later. Measured (bench/README.md): three
 * mock brokers, a queue of 5,000, tail --null over 300,000 events in 0.175 s (median of
 * 12) against 0.26 s with the seeks; one broker, active --no-sync 1.04 times as fast on
 * Kafka 4.4 and 1.09 on the mock (10 interleaved rounds each).
 *
 * The queue's size, measured with the seeks, on the mock, 1,000,000 events of 12
 * partitions, medians: tail --null read 1.54 M events/s, as with a queue of a million
 * (1.51 M); active --no-sync 596 k events/s against 514 k, at 60 MiB peak RSS.
 */
void kafka_flow_init(struct kafka_flow *f, rd_kafka_t *rk)
{
	char v[32];
	size_t n = sizeof(v);

	memset(f, 0, sizeof(*f));
	if (rd_kafka_conf_get(rd_kafka_conf(rk), "queued.min.messages", v, &n) == RD_KAFKA_CONF_OK)
		f->min = atoll(v);
	f->queue = rd_kafka_queue_get_consumer(rk);
	if (!f->queue)
		f->min = 0;
	/* A stop must be seen at 7/8 of min: often enough that a sixteenth of min cannot
	 * pass unseen, and not more often than a kafka_poll() can return (a lock each time). */
	f->every = f->min / 32 > KAFKA_POLL_MAX ? KAFKA_POLL_MAX : f->min / 32 > 0 ? (size_t)(f->min / 32) : 1;
	if (f->min <= 0)
		f->every = KAFKA_POLL_MAX;
}

void kafka_flow_release(struct kafka_flow *f)
{
	if (f->queue)
		rd_kafka_queue_destroy(f->queue);
	f->queue = NULL;
}

int kafka_flow_due(struct kafka_flow *f)
{
	int64_t n;

	if (f->min <= 0)
		return 0;
	n = (int64_t)rd_kafka_queue_length(f->queue);
	/* The fetcher stops at min: a queue that reached it is seen from 7/8 on, however
	 * often the caller looks. At half, what is left lasts while the fetcher starts. */
	if (n >= f->min - f->min / 8)
		f->stopped = 1;
	return f->stopped && n <= f->min / 2;
}

void kafka_flow_nudge(struct kafka_flow *f, rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *l)
{
	rd_kafka_topic_partition_list_t *ask;
	rd_kafka_resp_err_t err;
	int i;

	f->stopped = 0;
	if (!l->cnt)
		return;
	ask = rd_kafka_topic_partition_list_copy(l);
	for (i = 0; i < ask->cnt; i++)
		ask->elems[i].offset = RD_KAFKA_OFFSET_END; /* as a time: the log end */
	/* Sent, not waited for: with no time to wait, the call sends a request to each
	 * leader it knows (its metadata cache) and returns __TIMED_OUT; librdkafka drops the
	 * answers that come after (rd_kafka_get_offsets_for_times_resp_cb, ERR__DESTROY). */
	err = rd_kafka_offsets_for_times(rk, ask, 0);
	if (err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_verbose("flow control: asking for the log ends: %s", rd_kafka_err2str(err));
	f->nudges++;
	rd_kafka_topic_partition_list_destroy(ask);
}

/*
 * Polling. rd_kafka_consumer_poll() costs more per message than the message itself when
 * a stream flows: each call reads the clock three times, takes the queue's lock and the
 * partition's, and marks the application as having polled. perf of active over 1,000,000
 * events put the clock alone at 16 % of the polling thread (bench/README.md).
 * rd_kafka_consume_batch_queue() pays the per-call part once for up to KAFKA_POLL_MAX
 * messages. It is asked with no timeout: with one, librdkafka 2.0.2 waits until the array
 * is full or the timeout has passed, however long the messages it holds have waited. Only
 * when nothing is waiting does kafka_poll() block, in rd_kafka_consumer_poll(), for one.
 *
 * Two things differ from polling one at a time, both from librdkafka 2.0.2's batch call
 * (rdkafka_queue.c, rd_kafka_q_serve_rkmessages):
 *  - Callbacks run in the middle of a call. A rebalance callback that calls
 *    rd_kafka_yield() ends the call right after it, so that the messages it returns were
 *    all polled before the rebalance: the caller sees which partitions are still its own.
 *  - A seek, pause or resume that takes effect in the middle of a call drops from the
 *    array the messages of that partition polled before it (a version barrier), although
 *    librdkafka has already moved its position past them (librdkafka #4208, fixed in
 *    2.1.0). So rd_kafka_position() may stand past messages never returned. Every seek
 *    pingpong makes goes to an offset of its own count (the engine's stored offsets),
 *    never to rd_kafka_position(), and a resume always comes with such a seek.
 */
size_t kafka_poll(rd_kafka_t *rk, rd_kafka_queue_t *queue, int timeout_ms, rd_kafka_message_t **msgs,
		  size_t max)
{
	ssize_t n = 0;

	if (max > KAFKA_POLL_MAX)
		max = KAFKA_POLL_MAX;
	if (max > 1 && queue)
		n = rd_kafka_consume_batch_queue(queue, 0, msgs, max);
	if (n > 0)
		return (size_t)n;
	if (max == 0)
		return 0;
	msgs[0] = rd_kafka_consumer_poll(rk, timeout_ms);
	return msgs[0] != NULL;
}

const char *const kafka_producer_tuning[] = {
	"linger.ms", "5",
	"compression.type", "lz4",
	"batch.num.messages", "10000",
	"queue.buffering.max.messages", "1000000",
	NULL,
};

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		return set_err(-1, err, errlen, "%s", errstr);
	return 0;
}

/* Copies librdkafka's message about a refused -X value into err with every occurrence of
 * the value replaced by "...": the message may quote it ('Invalid value "x" for ...',
 * 'value x is outside allowed range'), and a value may be a password. */
static int refused_prop(const char *key, const char *value, const char *why, char *err,
			size_t errlen)
{
	char redacted[512];
	size_t o = 0, vlen = strlen(value);
	const char *p = why;

	while (*p && o + 4 < sizeof(redacted)) {
		if (vlen && !strncmp(p, value, vlen)) {
			memcpy(redacted + o, "...", 3);
			o += 3;
			p += vlen;
		} else {
			redacted[o++] = *p++;
		}
	}
	while (o > 0 && (redacted[o - 1] == '\n' || redacted[o - 1] == ' '))
		o--;
	redacted[o] = '\0';
	return set_err(-1, err, errlen, "-X %s: %s", key, redacted);
}

int kafka_conf_user_props(rd_kafka_conf_t *conf, const struct kafka_opts *ko, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; ko && i < ko->nprops; i++) {
		const char *prop = ko->props[i], *eq = strchr(prop, '=');
		char key[256], why[512];

		if (!eq)
			return set_err(-1, err, errlen, "-X takes key=value");
		/* The key only, never the value: it may be a password. */
		if ((size_t)(eq - prop) >= sizeof(key))
			return set_err(-1, err, errlen, "-X property name too long (%zu bytes, max %zu)",
				       (size_t)(eq - prop), sizeof(key) - 1);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - prop), prop);
		if (kafka_conf_set(conf, key, eq + 1, why, sizeof(why)) < 0)
			return refused_prop(key, eq + 1, why, err, errlen);
	}
	return 0;
}

/* librdkafka's own log lines ("%3|1700000000.123|FAIL|rdkafka#consumer-1| ...") are for
 * -v; what matters reaches the command as an error (the consumer's poll, or below). */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 3 || log_verbosity() > 1)
		log_verbose("librdkafka %s: %s", fac, buf);
}

/* The last error librdkafka reported outside any request, for kafka_watch_expired().
 * Error callbacks run in the thread that polls, which for every pingpong client is the
 * main thread. */
static struct {
	int err;
	char reason[512];
	unsigned long seq; /* how many were reported */
} last_error;

/* Errors outside any request, e.g. "1/1 brokers are down": said once, not every retry. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	static int last_err;

	(void)rk;
	(void)opaque;
	last_error.err = err;
	snprintf(last_error.reason, sizeof(last_error.reason), "%s", reason);
	last_error.seq++;
	if (err == last_err && err != RD_KAFKA_RESP_ERR__FATAL)
		return;
	last_err = err;
	log_warn("%s (still trying)", reason);
}

void kafka_watch_init(struct kafka_watch *w, int64_t timeout_ms)
{
	memset(w, 0, sizeof(*w));
	w->timeout_ms = timeout_ms;
	w->since = clock_mono_ms();
	w->seq = last_error.seq;
}

void kafka_watch_contact(struct kafka_watch *w)
{
	w->contacted = 1;
	w->since = 0;
}

int kafka_watch_expired(struct kafka_watch *w, rd_kafka_t *rk, const char *brokers, char *err,
			size_t errlen)
{
	char when[32];
	int64_t now;

	/* Metadata from any broker counts as a first answer: a group's first join may take
	 * long (a rebalance waits for a dead member's session to time out), and the broker
	 * is there all the same. It stays cached, so it cannot tell a later recovery. */
	if (!w->contacted && rd_kafka_controllerid(rk, 0) >= 0)
		kafka_watch_contact(w);
	if (w->seq != last_error.seq) {
		w->seq = last_error.seq;
		if (last_error.err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !w->since)
			w->since = clock_mono_ms();
	}
	if (!w->timeout_ms || !w->since)
		return 0;
	now = clock_mono_ms();
	if (now - w->since < w->timeout_ms)
		return 0;
	set_err(1, err, errlen, "no broker of '%s' %s %s (--broker-timeout); last error: %s",
		brokers, w->contacted ? "has answered for" : "answered within",
		format_duration(w->timeout_ms, when, sizeof(when)),
		last_error.seq ? last_error.reason : "none reported");
	return 1;
}

rd_kafka_conf_t *kafka_conf_new(const struct kafka_opts *ko, const char *const *defaults, char *err,
				size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	size_t i;

	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_error_cb(conf, on_error);
	for (i = 0; defaults && defaults[i]; i += 2) {
		/* A librdkafka built without lz4 still works, uncompressed. */
		if (kafka_conf_set(conf, defaults[i], defaults[i + 1], NULL, 0) < 0 &&
		    strcmp(defaults[i], "compression.type"))
			goto conf_destroy;
	}
	if (ko->brokers && kafka_conf_set(conf, "bootstrap.servers", ko->brokers, err, errlen) < 0)
		goto conf_destroy;
	if (kafka_conf_user_props(conf, ko, err, errlen) < 0)
		goto conf_destroy;
	return conf;

conf_destroy:
	if (err && errlen && !*err)
		set_err(-1, err, errlen, "cannot set %s", defaults ? defaults[i] : "property");
	rd_kafka_conf_destroy(conf);
	return NULL;
}

const char *kafka_format_partitions(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	if (!parts || parts->cnt == 0) {
		snprintf(buf, len, "(none)");
		return buf;
	}
	off += (size_t)snprintf(buf, len, "%s[", parts->elems[0].topic);
	for (i = 0; i < parts->cnt && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%d", i ? "," : "",
					(int)parts->elems[i].partition);
	if (off < len)
		snprintf(buf + off, len - off, "]");
	return buf;
}

int kafka_timeout_ms(int64_t ms)
{
	if (ms > 0 && ms < INT32_MAX)
		return (int)ms;
	return ms < 0 ? 10000 : INT32_MAX;
}

int kafka_rebalance_apply(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int assign, char *err,
			  size_t errlen)
{
	rd_kafka_error_t *error;
	rd_kafka_resp_err_t e;

	if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE")) {
		error = assign ? rd_kafka_incremental_assign(rk, parts) : rd_kafka_incremental_unassign(rk, parts);
		if (!error)
			return 0;
		snprintf(err, errlen, "%s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		return -1;
	}
	if ((e = rd_kafka_assign(rk, assign ? parts : NULL)) == 0)
		return 0;
	snprintf(err, errlen, "%s", rd_kafka_err2str(e));
	return -1;
}

int kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err, size_t errlen)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t e;
	int n = -1;

	e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
	if (e) {
		set_err(-1, err, errlen, "rd_kafka_metadata: %s", rd_kafka_err2str(e));
		goto topic_destroy;
	}
	if (md->topic_cnt != 1 || md->topics[0].err) {
		set_err(-1, err, errlen, "topic '%s': %s", topic,
			md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
		goto metadata_destroy;
	}
	n = md->topics[0].partition_cnt;

metadata_destroy:
	rd_kafka_metadata_destroy(md);
topic_destroy:
	rd_kafka_topic_destroy(rkt);
	return n;
}

/* A question about a topic must not create it: a producer's metadata request asks the
 * broker to, by default. */
static const char *const kafka_query_tuning[] = {
	"allow.auto.create.topics", "false",
	NULL,
};

rd_kafka_t *kafka_query_client(const struct kafka_opts *ko, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = kafka_conf_new(ko, kafka_query_tuning, err, errlen);
	char errstr[512];
	rd_kafka_t *rk;

	if (!conf)
		return NULL;
	if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
		set_err(-1, err, errlen, "rd_kafka_new: %s", errstr);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

int kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo, int64_t *hi,
		     int timeout_ms, char *err, size_t errlen)
{
	rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, partition, lo, hi, timeout_ms);

	if (e)
		return set_err(-1, err, errlen, "rd_kafka_query_watermark_offsets: %s[%d]: %s", topic,
			       (int)partition, rd_kafka_err2str(e));
	return 0;
}

int kafka_group_offsets(rd_kafka_t *rk, const char *group, const char *topic, int n, int64_t *committed,
			int timeout_ms, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
	rd_kafka_ListConsumerGroupOffsets_t *req;
	rd_kafka_AdminOptions_t *options;
	rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;
	const rd_kafka_group_result_t **groups;
	const rd_kafka_topic_partition_list_t *got;
	size_t ngroups;
	char errstr[256];
	int p, k, rc = -1;

	for (p = 0; p < n; p++) {
		committed[p] = -1;
		rd_kafka_topic_partition_list_add(parts, topic, p);
	}
	req = rd_kafka_ListConsumerGroupOffsets_new(group, parts);
	options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
	rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errstr, sizeof(errstr));
	rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, options, queue);
	/* The request's own timeout ends it; the extra second lets its answer arrive. */
	ev = rd_kafka_queue_poll(queue, timeout_ms + 1000);
	if (!ev) {
		set_err(-1, err, errlen, "rd_kafka_ListConsumerGroupOffsets: group '%s': no answer within %d ms",
			group, timeout_ms);
		goto request_destroy;
	}
	if (rd_kafka_event_error(ev)) {
		set_err(-1, err, errlen, "rd_kafka_ListConsumerGroupOffsets: group '%s': %s", group,
			rd_kafka_event_error_string(ev));
		goto event_destroy;
	}
	groups = rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev),
								 &ngroups);
	if (ngroups != 1) {
		set_err(-1, err, errlen, "rd_kafka_ListConsumerGroupOffsets: group '%s': %zu groups in the answer",
			group, ngroups);
		goto event_destroy;
	}
	if (rd_kafka_group_result_error(groups[0])) {
		set_err(-1, err, errlen, "rd_kafka_ListConsumerGroupOffsets: group '%s': %s", group,
			rd_kafka_error_string(rd_kafka_group_result_error(groups[0])));
		goto event_destroy;
	}
	got = rd_kafka_group_result_partitions(groups[0]);
	for (k = 0; got && k < got->cnt; k++) {
		const rd_kafka_topic_partition_t *tp = &got->elems[k];
		if (strcmp(tp->topic, topic) || tp->partition < 0 || tp->partition >= n)
			continue;
		if (tp->err && tp->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
			set_err(-1, err, errlen, "rd_kafka_ListConsumerGroupOffsets: group '%s', %s[%d]: %s", group,
				topic, (int)tp->partition, rd_kafka_err2str(tp->err));
			goto event_destroy;
		}
		committed[tp->partition] = tp->err || tp->offset < 0 ? -1 : tp->offset;
	}
	rc = 0;
event_destroy:
	rd_kafka_event_destroy(ev);
request_destroy:
	rd_kafka_AdminOptions_destroy(options);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_queue_destroy(queue);
	return rc;
}

int kafka_offsets_for_time(rd_kafka_t *rk, const char *topic, int n, int64_t ts, int64_t *offsets,
			   int timeout_ms, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
	rd_kafka_resp_err_t e;
	int p, k, rc = -1;

	for (p = 0; p < n; p++) {
		offsets[p] = -1;
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset = ts;
	}
	if ((e = rd_kafka_offsets_for_times(rk, parts, timeout_ms)) != 0) {
		set_err(-1, err, errlen, "rd_kafka_offsets_for_times: %s: %s", topic, rd_kafka_err2str(e));
		goto list_destroy;
	}
	for (k = 0; k < parts->cnt; k++) {
		const rd_kafka_topic_partition_t *tp = &parts->elems[k];
		if (tp->err) {
			set_err(-1, err, errlen, "rd_kafka_offsets_for_times: %s[%d]: %s", topic, (int)tp->partition,
				rd_kafka_err2str(tp->err));
			goto list_destroy;
		}
		if (tp->partition >= 0 && tp->partition < n)
			offsets[tp->partition] = tp->offset < 0 ? -1 : tp->offset;
	}
	rc = 0;
list_destroy:
	rd_kafka_topic_partition_list_destroy(parts);
	return rc;
}
