/* kafka.c: librdkafka configuration shared by every command.
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

/* queued.min.messages: with librdkafka's default of 100000 a full local queue pauses the
 * partition's fetcher for up to a second (see shared/librdkafka-notes.md).
 * fetch.error.backoff.ms: a partition assigned at a logical offset (a new store starts
 * at the beginning) waits this long before its first fetch; 500 ms by default. */
const char *const kafka_consumer_tuning[] = {
	"queued.min.messages", "1000000",
	"fetch.error.backoff.ms", "50",
	"fetch.wait.max.ms", "100",
	"enable.auto.commit", "false",
	"enable.auto.offset.store", "false",
	NULL,
};

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
