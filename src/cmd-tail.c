/* cmd-tail.c: `pingpong tail`, the raw reader (like kcat -C or kafka-console-consumer).
 *
 * Without --group it assigns every partition itself and commits nothing, so reading never
 * disturbs a consumer group. With --null it does not even decode: that is the ceiling of
 * raw consumption that the benchmarks compare the real consumers against.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "event.h"
#include "json-out.h"
#include "kafka.h"
#include "util.h"

static const char tail_usage[] =
	"usage: pingpong tail [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]... [--from-beginning]\n"
	"                     [--exit-at-end] [--count N] [-g GROUP] [--null] [-q] [-v]\n"
	"                     [--broker-timeout D]\n";

static const char tail_description[] =
	"Prints each event of the topic as one JSON line: partition, offset, key and fields.\n"
	"An event that does not decode is printed with its reason and its payload in hex.\n";

struct tail_opts {
	struct common_opts co;
	int from_beginning, exit_at_end, discard;
	int64_t count;
	int64_t broker_timeout_ms; /* -1 until given */
	const char *group;
};

#define OFF(field) offsetof(struct tail_opts, field)

/* tail prints JSON and nothing else: it takes no --json. */
static const struct option_spec tail_options[] = {
	OPTION_FLAG(0, "from-beginning", OFF(from_beginning), "start at the beginning of each partition, not at its end"),
	OPTION_FLAG(0, "exit-at-end", OFF(exit_at_end), "stop once every partition has been read to its end"),
	OPTION_INT(0, "count", "N", OFF(count), 1, INT64_MAX, "stop after N events"),
	OPTION_STRING('g', "group", "G", OFF(group),
		      "read as a member of consumer group G and commit what was printed; without it, tail "
		      "reads every partition and commits nothing"),
	OPTION_FLAG(0, "null", OFF(discard), "consume and discard: no decoding, no output but the summary"),
	OPTION_DURATION(0, "broker-timeout", OFF(broker_timeout_ms),
			"exit 69 when no broker has answered for D (default: 30s with --exit-at-end, "
			"else never; 0 is never)"),
	OPTION_GROUP(COMMON_HEADING, common_kafka_options, OFF(co)),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

struct tail_state {
	int exit_at_end;
	struct kafka_watch watch; /* does any broker answer? (--broker-timeout) */
	char *at_end;        /* per partition: reached its end since the last message */
	char *assigned;      /* per partition: currently ours */
	int nparts;
};

static void tail_grow(struct tail_state *t, int partition)
{
	if (partition < t->nparts)
		return;
	t->at_end = xrealloc(t->at_end, (size_t)partition + 1);
	t->assigned = xrealloc(t->assigned, (size_t)partition + 1);
	memset(t->at_end + t->nparts, 0, (size_t)(partition + 1 - t->nparts));
	memset(t->assigned + t->nparts, 0, (size_t)(partition + 1 - t->nparts));
	t->nparts = partition + 1;
}

static int tail_all_at_end(const struct tail_state *t)
{
	int p, any = 0;

	for (p = 0; p < t->nparts; p++) {
		if (!t->assigned[p])
			continue;
		any = 1;
		if (!t->at_end[p])
			return 0;
	}
	return any;
}

static void tail_mark(struct tail_state *t, const rd_kafka_topic_partition_list_t *parts, int on)
{
	int i;

	for (i = 0; i < parts->cnt; i++) {
		tail_grow(t, parts->elems[i].partition);
		t->assigned[parts->elems[i].partition] = (char)on;
		t->at_end[parts->elems[i].partition] = 0;
	}
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			 void *opaque)
{
	struct tail_state *t = opaque;
	char buf[1024];
	int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

	kafka_watch_contact(&t->watch); /* the group's coordinator answered */
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		log_verbose("assigned: %s", kafka_format_partitions(parts, buf, sizeof(buf)));
		tail_mark(t, parts, 1);
		if (cooperative)
			rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
	} else {
		log_verbose("revoked: %s", kafka_format_partitions(parts, buf, sizeof(buf)));
		tail_mark(t, parts, 0);
		if (cooperative)
			rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
	}
}

static void print_hex(json_t *obj, const char *key, const void *buf, size_t len)
{
	char *hex = xmalloc(len * 2 + 1);

	json_object_set_new(obj, key, json_stringn(hex_encode(buf, len, hex), len * 2));
	free(hex);
}

static void print_message(struct event_decoder *dec, const rd_kafka_message_t *m)
{
	json_t *obj = json_object();
	struct event ev;
	char err[256];

	json_object_set_new(obj, "partition", json_integer(m->partition));
	json_object_set_new(obj, "offset", json_integer(m->offset));
	json_object_set_new(obj, "key", m->key ? json_stringn(m->key, m->key_len) : json_null());
	if (event_decode(dec, m->payload, m->len, &ev, err, sizeof(err)) == 0) {
		event_to_json(&ev, obj);
	} else {
		json_object_set_new(obj, "error", json_string(err));
		print_hex(obj, "payload_hex", m->payload, m->len);
	}
	json_print_line(obj, stdout);
}

/* Assigns every partition of the topic at the beginning or the end, waiting up to
 * timeout_ms for the topic's metadata. Returns 0 or -1. */
static int assign_all(rd_kafka_t *rk, struct tail_state *t, const char *topic, const char *brokers,
		      int from_beginning, int64_t timeout_ms)
{
	rd_kafka_topic_partition_list_t *parts;
	char err[512];
	int n, p;

	n = kafka_partition_count(rk, topic, (int)timeout_ms, err, sizeof(err));
	if (n < 0) {
		log_error("cannot read the partitions of '%s' from '%s': %s", topic, brokers, err);
		return -1;
	}
	kafka_watch_contact(&t->watch);
	parts = rd_kafka_topic_partition_list_new(n);
	for (p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
			from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
	tail_mark(t, parts, 1);
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}

static int tail_run(int argc, char **argv)
{
	struct tail_opts o = { .count = 0, .broker_timeout_ms = -1 };
	struct tail_state t;
	struct event_decoder dec;
	int from_beginning, discard, rc = EX_OK;
	int64_t count, seen = 0, t0, elapsed;
	const char *group, *brokers;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512];

	memset(&t, 0, sizeof(t));
	common_opts_init(&o.co);
	if ((rc = options_parse(&cmd_tail, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	rc = EX_OK;
	from_beginning = o.from_beginning;
	t.exit_at_end = o.exit_at_end;
	discard = o.discard;
	count = o.count;
	group = o.group;
	log_init("tail", o.co.verbosity);
	if (!(brokers = common_brokers(&o.co))) {
		rc = EX_USAGE;
		goto opts_release;
	}

	conf = kafka_conf_new(&o.co, brokers, kafka_consumer_tuning, err, sizeof(err));
	if (!conf ||
	    kafka_conf_set(conf, "enable.partition.eof", t.exit_at_end ? "true" : "false", err, sizeof(err)) < 0 ||
	    kafka_conf_set(conf, "auto.offset.reset", from_beginning ? "earliest" : "latest", err, sizeof(err)) < 0 ||
	    (group && (kafka_conf_set(conf, "group.id", group, err, sizeof(err)) < 0 ||
		       /* tail commits what it returned, the console consumer's way */
		       kafka_conf_set(conf, "enable.auto.commit", "true", err, sizeof(err)) < 0 ||
		       kafka_conf_set(conf, "enable.auto.offset.store", "true", err, sizeof(err)) < 0))) {
		log_error("%s", err);
		if (conf)
			rd_kafka_conf_destroy(conf);
		rc = EX_USAGE;
		goto opts_release;
	}
	if (!group) {
		/* librdkafka's consumer API wants a group.id even for assign(); this one never
		 * joins a group (assign, not subscribe) and never commits. */
		char anon[64];
		snprintf(anon, sizeof(anon), "pingpong-tail-%ld", (long)getpid());
		if (kafka_conf_set(conf, "group.id", anon, err, sizeof(err)) < 0) {
			log_error("%s", err);
			rd_kafka_conf_destroy(conf);
			rc = EX_USAGE;
			goto opts_release;
		}
	}
	rd_kafka_conf_set_opaque(conf, &t);
	if (group)
		rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		log_error("rd_kafka_new: %s", err);
		rc = EX_SOFTWARE;
		goto opts_release;
	}
	rd_kafka_poll_set_consumer(rk);
	signals_install();
	event_decoder_init(&dec);
	/* As for the consumers: only a tail that is to stop at the end gives up by default. */
	if (o.broker_timeout_ms < 0)
		o.broker_timeout_ms = t.exit_at_end ? 30000 : 0;
	kafka_watch_init(&t.watch, o.broker_timeout_ms);

	if (group) {
		rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
		rd_kafka_resp_err_t e;
		rd_kafka_topic_partition_list_add(sub, o.co.topic, RD_KAFKA_PARTITION_UA);
		e = rd_kafka_subscribe(rk, sub);
		rd_kafka_topic_partition_list_destroy(sub);
		if (e) {
			log_error("rd_kafka_subscribe: %s", rd_kafka_err2str(e));
			rc = EX_UNAVAILABLE;
			goto consumer_close;
		}
	} else if (assign_all(rk, &t, o.co.topic, brokers, from_beginning,
			      o.broker_timeout_ms ? o.broker_timeout_ms : 10000) < 0) {
		rc = EX_UNAVAILABLE;
		goto consumer_close;
	}

	t0 = clock_mono_ms();
	while (!stop_requested && (count == 0 || seen < count)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (!m) {
			if (t.exit_at_end && tail_all_at_end(&t))
				break;
			if (kafka_watch_expired(&t.watch, rk, brokers, err, sizeof(err))) {
				log_error("%s", err);
				rc = EX_UNAVAILABLE;
				break;
			}
			continue;
		}
		if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			kafka_watch_contact(&t.watch);
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			tail_grow(&t, m->partition);
			t.at_end[m->partition] = 1;
			rd_kafka_message_destroy(m);
			if (t.exit_at_end && tail_all_at_end(&t))
				break;
			continue;
		}
		if (m->err) {
			log_error("%s", rd_kafka_message_errstr(m));
			if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
			    m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
				rc = EX_UNAVAILABLE;
				rd_kafka_message_destroy(m);
				break;
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		tail_grow(&t, m->partition);
		t.at_end[m->partition] = 0;
		seen++;
		if (!discard)
			print_message(&dec, m);
		rd_kafka_message_destroy(m);
	}
	elapsed = clock_mono_ms() - t0;
	fflush(stdout);
	log_info("%" PRId64 " events in %.2fs (%.0f events/s)", seen, (double)elapsed / 1000,
		 elapsed > 0 ? (double)seen * 1000 / (double)elapsed : 0.0);

consumer_close:
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	event_decoder_release(&dec);
opts_release:
	free(t.at_end);
	free(t.assigned);
	options_release(&cmd_tail, &o);
	return rc;
}

const struct command cmd_tail = {
	"tail", "print the topic's events as JSON lines (the raw reader)",
	tail_usage, tail_description, tail_options, NULL, tail_run,
};
